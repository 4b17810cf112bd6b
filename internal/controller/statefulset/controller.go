// Package statefulset owns the StatefulSet controller, as in Kubernetes:
// pods with stable names "<set>-<ordinal>" (from spec.ordinals.start),
// hostname and subdomain for stable DNS, one PersistentVolumeClaim per
// volumeClaimTemplate and ordinal created before its pod and kept or
// deleted as persistentVolumeClaimRetentionPolicy says, ordered
// (OrderedReady) or Parallel pod management, and RollingUpdate (reverse
// ordinal order, partition, maxUnavailable) or OnDelete updates through
// ControllerRevisions. The decisions live in decide.go and do no I/O.
// Pods are scheduled by the scheduler, not here. Only internal/node
// imports it.
package statefulset

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/gureum/gureum/internal/controller/history"
	ctrlruntime "github.com/gureum/gureum/internal/controller/runtime"
)

const fieldManager = "gureum-statefulset-controller"

// Labels Kubernetes puts on StatefulSet pods.
const (
	PodNameLabel  = appsv1.StatefulSetPodNameLabel // statefulset.kubernetes.io/pod-name
	PodIndexLabel = appsv1.PodIndexLabel           // apps.kubernetes.io/pod-index
)

var (
	controllerKind = appsv1.SchemeGroupVersion.WithKind("StatefulSet")
	podKind        = corev1.SchemeGroupVersion.WithKind("Pod")
)

// Controller reconciles StatefulSets by namespace/name.
type Controller struct {
	client      kubernetes.Interface
	clock       clock.Clock
	log         *slog.Logger
	queue       workqueue.TypedRateLimitingInterface[string]
	factory     informers.SharedInformerFactory
	setLister   appslisters.StatefulSetLister
	podLister   corelisters.PodLister
	pvcLister   corelisters.PersistentVolumeClaimLister
	revLister   appslisters.ControllerRevisionLister
	synced      []cache.InformerSynced
	broadcaster record.EventBroadcaster
	recorder    record.EventRecorder
	revisions   history.Store
}

// New builds the controller and registers its informers on factory.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, clk clock.Clock, log *slog.Logger) *Controller {
	broadcaster := record.NewBroadcaster()
	cfg := workqueue.TypedRateLimitingQueueConfig[string]{Name: "statefulset"}
	if t, ok := clk.(clock.WithTicker); ok {
		cfg.Clock = t
	}
	c := &Controller{
		client:      client,
		clock:       clk,
		log:         log,
		queue:       workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](), cfg),
		factory:     factory,
		broadcaster: broadcaster,
		recorder:    broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "statefulset-controller"}),
		revisions:   history.Store{Client: client, FieldManager: fieldManager},
	}
	setInf := factory.Apps().V1().StatefulSets()
	podInf := factory.Core().V1().Pods()
	pvcInf := factory.Core().V1().PersistentVolumeClaims()
	revInf := factory.Apps().V1().ControllerRevisions()
	c.setLister, c.podLister, c.pvcLister, c.revLister = setInf.Lister(), podInf.Lister(), pvcInf.Lister(), revInf.Lister()
	c.synced = []cache.InformerSynced{setInf.Informer().HasSynced, podInf.Informer().HasSynced, pvcInf.Informer().HasSynced, revInf.Informer().HasSynced}

	_, _ = setInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, obj interface{}) { c.enqueue(obj) },
		DeleteFunc: c.enqueue,
	})
	onPod := func(obj interface{}) {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		pod, ok := obj.(*corev1.Pod)
		if !ok {
			return
		}
		ref := metav1.GetControllerOf(pod)
		if ref == nil {
			// An orphan may be adopted by the set it is named after.
			if i := strings.LastIndexByte(pod.Name, '-'); i > 0 {
				if _, err := c.setLister.StatefulSets(pod.Namespace).Get(pod.Name[:i]); err == nil {
					c.queue.Add(pod.Namespace + "/" + pod.Name[:i])
				}
			}
			return
		}
		if ref.Kind == controllerKind.Kind && ref.APIVersion == controllerKind.GroupVersion().String() {
			c.queue.Add(pod.Namespace + "/" + ref.Name)
		}
	}
	_, _ = podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    onPod,
		UpdateFunc: func(_, obj interface{}) { onPod(obj) },
		DeleteFunc: onPod,
	})
	return c
}

func (c *Controller) enqueue(obj interface{}) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err == nil {
		c.queue.Add(key)
	}
}

// Run reconciles until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	c.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.client.CoreV1().Events("")})
	defer c.broadcaster.Shutdown()
	return ctrlruntime.Loop{
		Factory:   c.factory,
		Queue:     c.queue,
		Synced:    c.synced,
		Reconcile: c.reconcile,
		Log:       c.log,
		Pending:   func(err error) bool { return errors.Is(err, history.ErrCollision) },
		Workers:   2,
	}.Run(ctx)
}

// PodName is the stable name of the pod at ordinal.
func PodName(set string, ordinal int) string { return set + "-" + strconv.Itoa(ordinal) }

// ClaimName is the stable name of the claim from template for ordinal.
func ClaimName(template, set string, ordinal int) string {
	return template + "-" + PodName(set, ordinal)
}

// ordinalOf parses "<set>-<ordinal>"; ok is false for any other name.
func ordinalOf(set, pod string) (int, bool) {
	rest, found := strings.CutPrefix(pod, set+"-")
	if !found || rest == "" || (len(rest) > 1 && rest[0] == '0') {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

func (c *Controller) reconcile(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	set, err := c.setLister.StatefulSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get statefulset %s: %w", key, err)
	}
	if set.DeletionTimestamp != nil {
		return nil
	}
	selector, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
	if err != nil || selector.Empty() {
		return nil
	}

	current, update, all, err := c.syncRevisions(ctx, set, selector)
	if err != nil {
		return err
	}

	allPods, err := c.claimPods(ctx, set, selector)
	if err != nil {
		return err
	}
	now := c.clock.Now()
	pods := map[int]*corev1.Pod{}
	states := map[int]PodState{}
	var statuses []PodStatus
	var wait time.Duration
	for _, p := range allPods {
		o, ok := ordinalOf(set.Name, p.Name)
		if !ok {
			continue
		}
		st, until := podStatus(p, set.Spec.MinReadySeconds, now)
		if until > 0 && (wait == 0 || until < wait) {
			wait = until
		}
		pods[o], states[o] = p, st.PodState
		statuses = append(statuses, st)
	}

	in := c.input(set, current, update, states)
	plan := Decide(in)
	errs := []error{c.syncClaims(ctx, set, pods)}
	for _, a := range plan {
		var err error
		switch a.Kind {
		case Create:
			rev := update
			if a.Revision == current.Name {
				rev = current
			}
			err = c.createPod(ctx, set, a.Ordinal, rev)
		case Delete:
			err = c.deletePod(ctx, set, pods[a.Ordinal], a.Reason)
		}
		if err != nil {
			errs = append(errs, err)
			if in.Ordered {
				break
			}
		}
	}
	if err := c.updateStatus(ctx, set, statuses, current.Name, update.Name); err != nil {
		errs = append(errs, err)
	}
	if wait > 0 {
		c.queue.AddAfter(key, wait)
	}
	if err := c.truncateHistory(ctx, set, all, current, update, allPods); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (c *Controller) input(set *appsv1.StatefulSet, current, update *appsv1.ControllerRevision, states map[int]PodState) Input {
	in := Input{
		Replicas:        1,
		Ordered:         set.Spec.PodManagementPolicy != appsv1.ParallelPodManagement,
		RollingUpdate:   set.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType,
		CurrentReplicas: int(set.Status.CurrentReplicas),
		MaxUnavailable:  1,
		CurrentRevision: current.Name,
		UpdateRevision:  update.Name,
		Pods:            states,
	}
	if set.Spec.Replicas != nil {
		in.Replicas = int(*set.Spec.Replicas)
	}
	if set.Spec.Ordinals != nil {
		in.Start = int(set.Spec.Ordinals.Start)
	}
	if ru := set.Spec.UpdateStrategy.RollingUpdate; ru != nil && in.RollingUpdate {
		if ru.Partition != nil {
			in.Partition, in.PartitionSet = int(*ru.Partition), true
		}
		if ru.MaxUnavailable != nil {
			if n, err := intstr.GetScaledValueFromIntOrPercent(ru.MaxUnavailable, in.Replicas, true); err == nil && n > 0 {
				in.MaxUnavailable = n
			}
		}
	}
	return in
}

// claimPods returns the pods set controls, adopting orphans that its
// selector matches and that are named like its members, and releasing
// pods it no longer matches, as Kubernetes does.
func (c *Controller) claimPods(ctx context.Context, set *appsv1.StatefulSet, selector labels.Selector) ([]*corev1.Pod, error) {
	all, err := c.podLister.Pods(set.Namespace).List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("list pods of statefulset %s: %w", set.Name, err)
	}
	claim := history.Classify(all, set, func(p *corev1.Pod) bool {
		_, member := ordinalOf(set.Name, p.Name)
		return member && selector.Matches(labels.Set(p.Labels))
	})
	pods, err := history.ApplyClaim(ctx, claim, *metav1.NewControllerRef(set, controllerKind), c.canAdopt(set),
		func(ctx context.Context, name string, patch []byte) error {
			_, err := c.client.CoreV1().Pods(set.Namespace).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{FieldManager: fieldManager})
			return err
		})
	if err != nil {
		return nil, fmt.Errorf("claim pods of statefulset %s: %w", set.Name, err)
	}
	return pods, nil
}

// canAdopt re-reads set from the API server: only the live, undeleted
// StatefulSet may adopt.
func (c *Controller) canAdopt(set *appsv1.StatefulSet) func(context.Context) error {
	return history.LiveOwner("statefulset", set, func(ctx context.Context) (metav1.Object, error) {
		return c.client.AppsV1().StatefulSets(set.Namespace).Get(ctx, set.Name, metav1.GetOptions{})
	})
}

// podStatus summarises a pod, and how long until a ready pod becomes
// available (0 if it is or is not ready at all).
func podStatus(p *corev1.Pod, minReadySeconds int32, now time.Time) (PodStatus, time.Duration) {
	st := PodStatus{PodState: PodState{
		Revision:    p.Labels[history.HashLabel],
		Failed:      p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded,
		Terminating: p.DeletionTimestamp != nil,
	}}
	var wait time.Duration
	if p.Status.Phase != corev1.PodRunning {
		return st, 0
	}
	for _, cond := range p.Status.Conditions {
		if cond.Type != corev1.PodReady || cond.Status != corev1.ConditionTrue {
			continue
		}
		st.Ready = true
		at := cond.LastTransitionTime.Add(time.Duration(minReadySeconds) * time.Second)
		if minReadySeconds == 0 || !at.After(now) {
			st.Healthy = !st.Terminating
		} else {
			wait = at.Sub(now)
		}
	}
	return st, wait
}

// syncRevisions makes the current template the newest revision (the
// update revision) and finds the current revision from status.
func (c *Controller) syncRevisions(ctx context.Context, set *appsv1.StatefulSet, selector labels.Selector) (current, update *appsv1.ControllerRevision, all []*appsv1.ControllerRevision, err error) {
	listed, err := c.revLister.ControllerRevisions(set.Namespace).List(labels.Everything())
	if err != nil {
		return nil, nil, nil, fmt.Errorf("list controller revisions of statefulset %s: %w", set.Name, err)
	}
	claim := history.Classify(listed, set, func(r *appsv1.ControllerRevision) bool { return selector.Matches(labels.Set(r.Labels)) })
	owned, err := history.ApplyClaim(ctx, claim, *metav1.NewControllerRef(set, controllerKind), c.canAdopt(set),
		func(ctx context.Context, name string, patch []byte) error {
			_, err := c.client.AppsV1().ControllerRevisions(set.Namespace).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{FieldManager: fieldManager})
			return err
		})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("claim controller revisions of statefulset %s: %w", set.Name, err)
	}
	data, err := history.Patch(&set.Spec.Template)
	if err != nil {
		return nil, nil, nil, err
	}
	collisions := int32(0)
	if set.Status.CollisionCount != nil {
		collisions = *set.Status.CollisionCount
	}
	update, old, err := c.revisions.Sync(ctx, set, controllerKind, set.Spec.Template.Labels, data, owned, &collisions)
	if errors.Is(err, history.ErrCollision) {
		next := set.DeepCopy()
		next.Status.CollisionCount = &collisions
		if _, uerr := c.client.AppsV1().StatefulSets(set.Namespace).UpdateStatus(ctx, next, metav1.UpdateOptions{FieldManager: fieldManager}); uerr != nil {
			return nil, nil, nil, fmt.Errorf("record collision count of statefulset %s: %w", set.Name, uerr)
		}
	}
	if err != nil {
		return nil, nil, nil, err
	}
	current = update
	for _, r := range old {
		if r.Name == set.Status.CurrentRevision {
			current = r
		}
	}
	return current, update, append(old, update), nil
}

// podFor builds the pod at ordinal from revision's template.
func podFor(set *appsv1.StatefulSet, ordinal int, rev *appsv1.ControllerRevision) (*corev1.Pod, error) {
	tmpl, err := history.Template(rev.Data.Raw)
	if err != nil {
		return nil, fmt.Errorf("template of revision %s: %w", rev.Name, err)
	}
	name := PodName(set.Name, ordinal)
	lbls := make(map[string]string, len(tmpl.Labels)+3)
	for k, v := range tmpl.Labels {
		lbls[k] = v
	}
	lbls[PodNameLabel] = name
	lbls[PodIndexLabel] = strconv.Itoa(ordinal)
	lbls[history.HashLabel] = rev.Name
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:            name,
			Namespace:       set.Namespace,
			Labels:          lbls,
			Annotations:     tmpl.Annotations,
			Finalizers:      tmpl.Finalizers,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(set, controllerKind)},
		},
		Spec: tmpl.Spec,
	}
	pod.Spec.Hostname = name
	pod.Spec.Subdomain = set.Spec.ServiceName
	// Claim volumes replace template volumes of the same name.
	var vols []corev1.Volume
	claimed := map[string]bool{}
	for _, ct := range set.Spec.VolumeClaimTemplates {
		claimed[ct.Name] = true
		vols = append(vols, corev1.Volume{Name: ct.Name, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: ClaimName(ct.Name, set.Name, ordinal)},
		}})
	}
	for _, v := range pod.Spec.Volumes {
		if !claimed[v.Name] {
			vols = append(vols, v)
		}
	}
	pod.Spec.Volumes = vols
	return pod, nil
}

func (c *Controller) createPod(ctx context.Context, set *appsv1.StatefulSet, ordinal int, rev *appsv1.ControllerRevision) error {
	pod, err := podFor(set, ordinal, rev)
	if err != nil {
		return err
	}
	// Storage first: a pod must never start without its claims.
	if err := c.ensureClaims(ctx, set, ordinal, nil); err != nil {
		c.recorder.Eventf(set, corev1.EventTypeWarning, "FailedCreate", "create Claim for Pod %s in StatefulSet %s failed error: %v", pod.Name, set.Name, err)
		return err
	}
	_, err = c.client.CoreV1().Pods(set.Namespace).Create(ctx, pod, metav1.CreateOptions{FieldManager: fieldManager})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	if err != nil {
		if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			return nil
		}
		c.recorder.Eventf(set, corev1.EventTypeWarning, "FailedCreate", "create Pod %s in StatefulSet %s failed error: %v", pod.Name, set.Name, err)
		return fmt.Errorf("create pod %s: %w", pod.Name, err)
	}
	c.log.Debug("created stateful pod", "statefulset", set.Namespace+"/"+set.Name, "pod", pod.Name, "revision", rev.Name)
	c.recorder.Eventf(set, corev1.EventTypeNormal, "SuccessfulCreate", "create Pod %s in StatefulSet %s successful", pod.Name, set.Name)
	return nil
}

func (c *Controller) deletePod(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod, reason string) error {
	if pod == nil {
		return nil
	}
	if reason == "failed" {
		c.recorder.Eventf(set, corev1.EventTypeWarning, "RecreatingFailedPod", "StatefulSet %s/%s is recreating failed Pod %s", set.Namespace, set.Name, pod.Name)
	}
	err := c.client.CoreV1().Pods(set.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pod.UID}})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	if err != nil {
		c.recorder.Eventf(set, corev1.EventTypeWarning, "FailedDelete", "delete Pod %s in StatefulSet %s failed error: %v", pod.Name, set.Name, err)
		return fmt.Errorf("delete pod %s: %w", pod.Name, err)
	}
	c.recorder.Eventf(set, corev1.EventTypeNormal, "SuccessfulDelete", "delete Pod %s in StatefulSet %s successful", pod.Name, set.Name)
	return nil
}

// syncClaims keeps the claims of existing pods present and their owner
// references as the retention policy says; a condemned pod's claims get
// their owner reference to it before the pod is deleted.
func (c *Controller) syncClaims(ctx context.Context, set *appsv1.StatefulSet, pods map[int]*corev1.Pod) error {
	if len(set.Spec.VolumeClaimTemplates) == 0 {
		return nil
	}
	var errs []error
	for o, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		if err := c.ensureClaims(ctx, set, o, p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ensureClaims creates the missing claims of ordinal and sets their owner
// references (pod may be nil before the pod exists).
func (c *Controller) ensureClaims(ctx context.Context, set *appsv1.StatefulSet, ordinal int, pod *corev1.Pod) error {
	start := 0
	if set.Spec.Ordinals != nil {
		start = int(set.Spec.Ordinals.Start)
	}
	replicas := 1
	if set.Spec.Replicas != nil {
		replicas = int(*set.Spec.Replicas)
	}
	condemned := ordinal < start || ordinal >= start+replicas
	wantSet, wantPod := ClaimOwners(set.Spec.PersistentVolumeClaimRetentionPolicy, condemned)
	var errs []error
	for i := range set.Spec.VolumeClaimTemplates {
		ct := &set.Spec.VolumeClaimTemplates[i]
		name := ClaimName(ct.Name, set.Name, ordinal)
		claim, err := c.pvcLister.PersistentVolumeClaims(set.Namespace).Get(name)
		if apierrors.IsNotFound(err) {
			claim, err = c.client.CoreV1().PersistentVolumeClaims(set.Namespace).Get(ctx, name, metav1.GetOptions{})
		}
		switch {
		case apierrors.IsNotFound(err):
			claim = newClaim(set, ct, name)
			claim.OwnerReferences = claimRefs(nil, set, PodName(set.Name, ordinal), pod, wantSet, wantPod)
			_, err := c.client.CoreV1().PersistentVolumeClaims(set.Namespace).Create(ctx, claim, metav1.CreateOptions{FieldManager: fieldManager})
			if err != nil && !apierrors.IsAlreadyExists(err) {
				errs = append(errs, fmt.Errorf("create claim %s: %w", name, err))
				continue
			}
			if err == nil {
				c.recorder.Eventf(set, corev1.EventTypeNormal, "SuccessfulCreate", "create Claim %s Pod %s in StatefulSet %s success", name, PodName(set.Name, ordinal), set.Name)
			}
		case err != nil:
			errs = append(errs, fmt.Errorf("get claim %s: %w", name, err))
		case claim.DeletionTimestamp == nil:
			refs := claimRefs(claim.OwnerReferences, set, PodName(set.Name, ordinal), pod, wantSet, wantPod)
			if apiequality.Semantic.DeepEqual(refs, claim.OwnerReferences) {
				continue
			}
			next := claim.DeepCopy()
			next.OwnerReferences = refs
			if _, err := c.client.CoreV1().PersistentVolumeClaims(set.Namespace).Update(ctx, next, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("update owner references of claim %s: %w", name, err))
			}
		}
	}
	return errors.Join(errs...)
}

func newClaim(set *appsv1.StatefulSet, ct *corev1.PersistentVolumeClaim, name string) *corev1.PersistentVolumeClaim {
	lbls := map[string]string{}
	for k, v := range ct.Labels {
		lbls[k] = v
	}
	if set.Spec.Selector != nil {
		for k, v := range set.Spec.Selector.MatchLabels {
			lbls[k] = v
		}
	}
	claim := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: set.Namespace, Labels: lbls, Annotations: ct.Annotations},
		Spec:       *ct.Spec.DeepCopy(),
	}
	return claim
}

// claimRefs rewrites refs: references to this set and pod are dropped and
// added back as the policy wants, others (someone else's) are kept.
func claimRefs(refs []metav1.OwnerReference, set *appsv1.StatefulSet, podName string, pod *corev1.Pod, wantSet, wantPod bool) []metav1.OwnerReference {
	var out []metav1.OwnerReference
	for _, r := range refs {
		if r.UID == set.UID || (pod != nil && r.UID == pod.UID) {
			continue
		}
		// A reference to an earlier pod of this ordinal would let the
		// garbage collector take the claim from the next one.
		if r.Kind == podKind.Kind && r.APIVersion == "v1" && r.Name == podName {
			continue
		}
		out = append(out, r)
	}
	if wantSet {
		out = append(out, *metav1.NewControllerRef(set, controllerKind))
	}
	if wantPod && pod != nil {
		out = append(out, *metav1.NewControllerRef(pod, podKind))
	}
	return out
}

func (c *Controller) updateStatus(ctx context.Context, set *appsv1.StatefulSet, pods []PodStatus, current, update string) error {
	rolling := set.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType
	st := Status(pods, current, update, rolling)
	st.ObservedGeneration = set.Generation
	st.CollisionCount = set.Status.CollisionCount
	if st.CollisionCount == nil {
		zero := int32(0)
		st.CollisionCount = &zero
	}
	st.Conditions = set.Status.Conditions
	if apiequality.Semantic.DeepEqual(st, set.Status) {
		return nil
	}
	next := set.DeepCopy()
	next.Status = st
	_, err := c.client.AppsV1().StatefulSets(set.Namespace).UpdateStatus(ctx, next, metav1.UpdateOptions{FieldManager: fieldManager})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("update status of statefulset %s: %w", set.Name, err)
	}
	return nil
}

// truncateHistory keeps revisionHistoryLimit revisions besides the
// current and update revisions and any a pod still runs.
func (c *Controller) truncateHistory(ctx context.Context, set *appsv1.StatefulSet, all []*appsv1.ControllerRevision, current, update *appsv1.ControllerRevision, pods []*corev1.Pod) error {
	limit := 10
	if set.Spec.RevisionHistoryLimit != nil {
		limit = int(*set.Spec.RevisionHistoryLimit)
	}
	live := map[string]bool{current.Name: true, update.Name: true}
	for _, p := range pods {
		live[p.Labels[history.HashLabel]] = true
	}
	for _, r := range history.ToTruncate(all, live, limit) {
		if err := c.revisions.Delete(ctx, r); err != nil {
			return err
		}
	}
	return nil
}
