package replicaset

import (
	"sort"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// PodDeletionCostAnnotation lets users say which pods a scale-down should
// remove first (lower cost first), as in Kubernetes.
const PodDeletionCostAnnotation = "controller.kubernetes.io/pod-deletion-cost"

// IsPodActive reports whether a pod still counts toward its owner's
// replicas: it has not finished and is not on its way out.
func IsPodActive(p *corev1.Pod) bool {
	return p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed && p.DeletionTimestamp == nil
}

// readyCondition returns the pod's Ready condition, or nil.
func readyCondition(p *corev1.Pod) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodReady {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// IsPodReady reports whether the pod's Ready condition is True.
func IsPodReady(p *corev1.Pod) bool {
	c := readyCondition(p)
	return c != nil && c.Status == corev1.ConditionTrue
}

// IsPodAvailable reports whether the pod has been ready for at least
// minReadySeconds at now.
func IsPodAvailable(p *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	_, ok := availableIn(p, minReadySeconds, now)
	return ok
}

// availableIn says whether a pod is available at now and, if it is ready
// but not yet available, how long until it will be.
func availableIn(p *corev1.Pod, minReadySeconds int32, now time.Time) (time.Duration, bool) {
	c := readyCondition(p)
	if c == nil || c.Status != corev1.ConditionTrue {
		return 0, false
	}
	if minReadySeconds == 0 {
		return 0, true
	}
	if c.LastTransitionTime.IsZero() {
		return 0, false
	}
	at := c.LastTransitionTime.Add(time.Duration(minReadySeconds) * time.Second)
	if at.Before(now) {
		return 0, true
	}
	return at.Sub(now), false
}

// Counts is the pod-derived part of a ReplicaSet's status.
type Counts struct {
	Replicas             int32
	FullyLabeledReplicas int32
	ReadyReplicas        int32
	AvailableReplicas    int32
}

// CountPods computes the status counts of the active pods a ReplicaSet
// owns, and how long until the next ready pod becomes available (0 when
// none is waiting), so the controller can look again exactly then.
func CountPods(pods []*corev1.Pod, templateLabels map[string]string, minReadySeconds int32, now time.Time) (Counts, time.Duration) {
	var c Counts
	var next time.Duration
	tmpl := labels.SelectorFromSet(templateLabels)
	for _, p := range pods {
		c.Replicas++
		if tmpl.Matches(labels.Set(p.Labels)) {
			c.FullyLabeledReplicas++
		}
		if !IsPodReady(p) {
			continue
		}
		c.ReadyReplicas++
		wait, ok := availableIn(p, minReadySeconds, now)
		if ok {
			c.AvailableReplicas++
		} else if wait > 0 && (next == 0 || wait < next) {
			next = wait
		}
	}
	return c, next
}

// SlowStartBatches splits n creations into batches of 1, 2, 4, ...
// starting at initial, so that a failing create (quota, admission) costs
// one request rather than n.
func SlowStartBatches(n, initial int) []int {
	var out []int
	size := max(initial, 1)
	for n > 0 {
		b := min(size, n)
		out = append(out, b)
		n -= b
		size *= 2
	}
	return out
}

// ClaimAction is what a controller should do about one pod given its
// selector.
type ClaimAction int

// What a controller does with a pod it looks at.
const (
	// Ignore: owned by someone else, or not a candidate.
	Ignore ClaimAction = iota
	// Keep: already ours and still matching.
	Keep
	// Adopt: an orphan that matches; becomes ours.
	Adopt
	// Release: ours but no longer matching; give it up.
	Release
)

// DecideClaim decides adoption and release the way Kubernetes' controller
// ref manager does: a deleting owner neither adopts nor releases, and
// a deleting orphan is never adopted.
func DecideClaim(ownerUID types.UID, ownerDeleting bool, sel labels.Selector, obj metav1.Object) ClaimAction {
	matches := sel.Matches(labels.Set(obj.GetLabels()))
	if ref := metav1.GetControllerOfNoCopy(obj); ref != nil {
		if ref.UID != ownerUID {
			return Ignore
		}
		if matches {
			return Keep
		}
		if ownerDeleting {
			return Ignore
		}
		return Release
	}
	if ownerDeleting || !matches || obj.GetDeletionTimestamp() != nil {
		return Ignore
	}
	return Adopt
}

// RankForDeletion orders pods so that the ones to delete first come
// first, with Kubernetes' preferences: unassigned before assigned,
// Pending before Unknown before Running, not ready before ready, lower
// pod-deletion-cost first, pods doubled up on a node before lonely ones,
// ready for less time first, more restarts first, newer first.
func RankForDeletion(pods []*corev1.Pod) []*corev1.Pod {
	perNode := map[string]int{}
	for _, p := range pods {
		if p.Spec.NodeName != "" {
			perNode[p.Spec.NodeName]++
		}
	}
	out := append([]*corev1.Pod(nil), pods...)
	sort.SliceStable(out, func(i, j int) bool { return deleteBefore(out[i], out[j], perNode) })
	return out
}

func deleteBefore(a, b *corev1.Pod, perNode map[string]int) bool {
	if (a.Spec.NodeName == "") != (b.Spec.NodeName == "") {
		return a.Spec.NodeName == ""
	}
	if pa, pb := phaseRank(a.Status.Phase), phaseRank(b.Status.Phase); pa != pb {
		return pa < pb
	}
	if ra, rb := IsPodReady(a), IsPodReady(b); ra != rb {
		return !ra
	}
	if ca, cb := deletionCost(a), deletionCost(b); ca != cb {
		return ca < cb
	}
	if na, nb := perNode[a.Spec.NodeName], perNode[b.Spec.NodeName]; a.Spec.NodeName != "" && na != nb {
		return na > nb
	}
	if IsPodReady(a) && IsPodReady(b) {
		ta, tb := readyCondition(a).LastTransitionTime, readyCondition(b).LastTransitionTime
		if !ta.Equal(&tb) {
			return ta.After(tb.Time)
		}
	}
	if ra, rb := maxRestarts(a), maxRestarts(b); ra != rb {
		return ra > rb
	}
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		if a.CreationTimestamp.IsZero() || b.CreationTimestamp.IsZero() {
			return a.CreationTimestamp.IsZero()
		}
		return a.CreationTimestamp.After(b.CreationTimestamp.Time)
	}
	return false
}

func phaseRank(p corev1.PodPhase) int {
	switch p {
	case corev1.PodPending, "":
		return 0
	case corev1.PodUnknown:
		return 1
	case corev1.PodRunning:
		return 2
	}
	return 3
}

func deletionCost(p *corev1.Pod) int64 {
	v, err := strconv.ParseInt(p.Annotations[PodDeletionCostAnnotation], 10, 32)
	if err != nil {
		return 0
	}
	return v
}

func maxRestarts(p *corev1.Pod) int32 {
	var n int32
	for _, s := range p.Status.ContainerStatuses {
		n = max(n, s.RestartCount)
	}
	return n
}

// ControllerIndex indexes pods by namespace and the UID of their
// controller (or by namespace and "" for orphans).
const ControllerIndex = "gureum-controller-uid"

func controllerIndexKey(ns string, uid types.UID) string { return ns + "/" + string(uid) }

// AddControllerIndex adds ControllerIndex to a pod informer, once: the
// ReplicaSet and ReplicationController controllers share one.
func AddControllerIndex(inf cache.SharedIndexInformer) error {
	if _, ok := inf.GetIndexer().GetIndexers()[ControllerIndex]; ok {
		return nil
	}
	return inf.AddIndexers(cache.Indexers{ControllerIndex: func(obj interface{}) ([]string, error) {
		m, err := meta.Accessor(obj)
		if err != nil {
			return nil, nil
		}
		var uid types.UID
		if ref := metav1.GetControllerOfNoCopy(m); ref != nil {
			uid = ref.UID
		}
		return []string{controllerIndexKey(m.GetNamespace(), uid)}, nil
	}})
}

// ClaimCandidates are the pods of namespace ns that an owner with uid may
// keep, release or adopt: its own and the orphans. DecideClaim ignores
// every other pod.
func ClaimCandidates(idx cache.Indexer, ns string, uid types.UID) ([]*corev1.Pod, error) {
	var out []*corev1.Pod
	for _, key := range []string{controllerIndexKey(ns, uid), controllerIndexKey(ns, "")} {
		objs, err := idx.ByIndex(ControllerIndex, key)
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			if p, ok := o.(*corev1.Pod); ok {
				out = append(out, p)
			}
		}
	}
	return out, nil
}
