package replicaset

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// ReplicaFailure is the condition type set when pods cannot be created or
// deleted (for example when a ResourceQuota is exhausted).
const ReplicaFailure = "ReplicaFailure"

type replicaSets struct {
	client kubernetes.Interface
	inf    cache.SharedIndexInformer
	lister appslisters.ReplicaSetLister
}

func (k *replicaSets) gvk() schema.GroupVersionKind {
	return appsv1.SchemeGroupVersion.WithKind("ReplicaSet")
}
func (k *replicaSets) informer() cache.SharedIndexInformer { return k.inf }

func rsWorkload(rs *appsv1.ReplicaSet) *workload {
	sel, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	if err != nil || rs.Spec.Selector == nil {
		// An invalid selector must match nothing, never everything.
		sel = labels.Nothing()
	}
	replicas := int32(1)
	if rs.Spec.Replicas != nil {
		replicas = *rs.Spec.Replicas
	}
	return &workload{obj: rs, meta: rs, selector: sel, replicas: replicas, minReady: rs.Spec.MinReadySeconds, template: &rs.Spec.Template}
}

func (k *replicaSets) get(ns, name string) (*workload, error) {
	rs, err := k.lister.ReplicaSets(ns).Get(name)
	if err != nil {
		return nil, err
	}
	return rsWorkload(rs), nil
}

func (k *replicaSets) fresh(ctx context.Context, ns, name string) (*workload, error) {
	rs, err := k.client.AppsV1().ReplicaSets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return rsWorkload(rs), nil
}

func (k *replicaSets) list(ns string) ([]*workload, error) {
	rss, err := k.lister.ReplicaSets(ns).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	out := make([]*workload, len(rss))
	for i, rs := range rss {
		out[i] = rsWorkload(rs)
	}
	return out, nil
}

func (k *replicaSets) writeStatus(ctx context.Context, w *workload, st Status) error {
	rs := w.obj.(*appsv1.ReplicaSet)
	next := NextStatus(&rs.Status, st, metav1.Now())
	if statusEqual(next, &rs.Status) {
		return nil
	}
	cp := rs.DeepCopy()
	cp.Status = *next
	if _, err := k.client.AppsV1().ReplicaSets(rs.Namespace).UpdateStatus(ctx, cp, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("update status of replicaset %s/%s: %w", rs.Namespace, rs.Name, err)
	}
	return nil
}

// NextStatus is the ReplicaSet status after a reconcile computed st:
// counts replaced, the ReplicaFailure condition set or cleared, keeping
// its transition time while it stays the same.
func NextStatus(cur *appsv1.ReplicaSetStatus, st Status, now metav1.Time) *appsv1.ReplicaSetStatus {
	next := cur.DeepCopy()
	next.Replicas, next.FullyLabeledReplicas = st.Replicas, st.FullyLabeledReplicas
	next.ReadyReplicas, next.AvailableReplicas = st.ReadyReplicas, st.AvailableReplicas
	next.ObservedGeneration = st.ObservedGeneration
	next.Conditions = nil
	var old *appsv1.ReplicaSetCondition
	for _, cond := range cur.Conditions {
		if cond.Type == ReplicaFailure {
			old = cond.DeepCopy()
			continue
		}
		next.Conditions = append(next.Conditions, cond)
	}
	if st.Failure != nil {
		cond := appsv1.ReplicaSetCondition{Type: ReplicaFailure, Status: corev1.ConditionTrue, Reason: st.Failure.Reason, Message: st.Failure.Message, LastTransitionTime: now}
		if old != nil && old.Status == cond.Status && old.Reason == cond.Reason && old.Message == cond.Message {
			cond.LastTransitionTime = old.LastTransitionTime
		}
		next.Conditions = append(next.Conditions, cond)
	}
	return next
}

func statusEqual(a, b *appsv1.ReplicaSetStatus) bool {
	if a.Replicas != b.Replicas || a.FullyLabeledReplicas != b.FullyLabeledReplicas || a.ReadyReplicas != b.ReadyReplicas ||
		a.AvailableReplicas != b.AvailableReplicas || a.ObservedGeneration != b.ObservedGeneration || len(a.Conditions) != len(b.Conditions) {
		return false
	}
	for i := range a.Conditions {
		x, y := a.Conditions[i], b.Conditions[i]
		if x.Type != y.Type || x.Status != y.Status || x.Reason != y.Reason || x.Message != y.Message {
			return false
		}
	}
	return true
}

type replicationControllers struct {
	client kubernetes.Interface
	inf    cache.SharedIndexInformer
	lister corelisters.ReplicationControllerLister
}

func (k *replicationControllers) gvk() schema.GroupVersionKind {
	return corev1.SchemeGroupVersion.WithKind("ReplicationController")
}
func (k *replicationControllers) informer() cache.SharedIndexInformer { return k.inf }

func rcWorkload(rc *corev1.ReplicationController) *workload {
	sel := labels.Nothing()
	if len(rc.Spec.Selector) > 0 {
		sel = labels.SelectorFromSet(rc.Spec.Selector)
	}
	replicas := int32(1)
	if rc.Spec.Replicas != nil {
		replicas = *rc.Spec.Replicas
	}
	tmpl := rc.Spec.Template
	if tmpl == nil {
		tmpl = &corev1.PodTemplateSpec{}
		replicas = 0
	}
	return &workload{obj: rc, meta: rc, selector: sel, replicas: replicas, minReady: rc.Spec.MinReadySeconds, template: tmpl}
}

func (k *replicationControllers) get(ns, name string) (*workload, error) {
	rc, err := k.lister.ReplicationControllers(ns).Get(name)
	if err != nil {
		return nil, err
	}
	return rcWorkload(rc), nil
}

func (k *replicationControllers) fresh(ctx context.Context, ns, name string) (*workload, error) {
	rc, err := k.client.CoreV1().ReplicationControllers(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return rcWorkload(rc), nil
}

func (k *replicationControllers) list(ns string) ([]*workload, error) {
	rcs, err := k.lister.ReplicationControllers(ns).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	out := make([]*workload, len(rcs))
	for i, rc := range rcs {
		out[i] = rcWorkload(rc)
	}
	return out, nil
}

func (k *replicationControllers) writeStatus(ctx context.Context, w *workload, st Status) error {
	rc := w.obj.(*corev1.ReplicationController)
	// Reuse the ReplicaSet comparison on an equivalent status.
	toRS := func(s *corev1.ReplicationControllerStatus) *appsv1.ReplicaSetStatus {
		out := &appsv1.ReplicaSetStatus{Replicas: s.Replicas, FullyLabeledReplicas: s.FullyLabeledReplicas, ReadyReplicas: s.ReadyReplicas,
			AvailableReplicas: s.AvailableReplicas, ObservedGeneration: s.ObservedGeneration}
		for _, c := range s.Conditions {
			out.Conditions = append(out.Conditions, appsv1.ReplicaSetCondition{Type: appsv1.ReplicaSetConditionType(c.Type), Status: c.Status,
				Reason: c.Reason, Message: c.Message, LastTransitionTime: c.LastTransitionTime})
		}
		return out
	}
	cur := toRS(&rc.Status)
	next := NextStatus(cur, st, metav1.Now())
	if statusEqual(next, cur) {
		return nil
	}
	cp := rc.DeepCopy()
	cp.Status = corev1.ReplicationControllerStatus{Replicas: next.Replicas, FullyLabeledReplicas: next.FullyLabeledReplicas,
		ReadyReplicas: next.ReadyReplicas, AvailableReplicas: next.AvailableReplicas, ObservedGeneration: next.ObservedGeneration}
	for _, c := range next.Conditions {
		cp.Status.Conditions = append(cp.Status.Conditions, corev1.ReplicationControllerCondition{Type: corev1.ReplicationControllerConditionType(c.Type),
			Status: c.Status, Reason: c.Reason, Message: c.Message, LastTransitionTime: c.LastTransitionTime})
	}
	if _, err := k.client.CoreV1().ReplicationControllers(rc.Namespace).UpdateStatus(ctx, cp, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update status of replicationcontroller %s/%s: %w", rc.Namespace, rc.Name, err)
	}
	return nil
}
