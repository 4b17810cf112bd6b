package disruption

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// DeletionTimeout is how long an eviction's entry in status.disruptedPods
// keeps its pod out of currentHealthy while the pod is not yet seen
// terminating. The eviction handler records the entry before it deletes
// the pod, so the budget is not spent twice while the deletion travels to
// this controller's informer; an entry older than this means the delete
// never happened, and the pod counts again (Kubernetes' value).
const DeletionTimeout = 2 * time.Minute

// StalePodDisruptionTimeout is how long a DisruptionTarget=True condition
// set by an eviction may stay on a pod that is not terminating before the
// controller sets it to False: the eviction decided to delete the pod but
// the delete failed, and the condition would otherwise claim forever that
// the pod is about to go.
const StalePodDisruptionTimeout = 2 * time.Minute

// NeedsScale reports whether the budget's arithmetic needs the summed
// scale of the pods' controllers: a maxUnavailable, or a percentage
// minAvailable, is relative to how many pods there should be, not to how
// many exist right now.
func NeedsScale(spec policyv1.PodDisruptionBudgetSpec) bool {
	return spec.MaxUnavailable != nil || (spec.MinAvailable != nil && spec.MinAvailable.Type == intstr.String)
}

// ComputeStatus is a budget's status given the pods its selector matches
// and, when NeedsScale, the summed scale of their controllers; now decides
// which disruptedPods entries have expired. The second result, when not
// zero, is when the earliest remaining entry expires: the status must be
// computed again then. An error (an unparsable percentage) leaves the
// caller to fail safe.
func ComputeStatus(pdb *policyv1.PodDisruptionBudget, pods []*corev1.Pod, scale int32, now time.Time) (policyv1.PodDisruptionBudgetStatus, time.Time, error) {
	expected, desired, err := expectedAndDesired(pdb.Spec, pods, scale)
	if err != nil {
		return policyv1.PodDisruptionBudgetStatus{}, time.Time{}, err
	}
	disrupted, recheck := liveDisruptions(pdb.Status.DisruptedPods, pods, now)
	healthy := countHealthy(pods, disrupted)
	allowed := healthy - desired
	// A budget that expects no pods allows nothing, so that the first pods
	// to appear are protected before this controller has counted them.
	if expected <= 0 || allowed < 0 {
		allowed = 0
	}
	st := policyv1.PodDisruptionBudgetStatus{
		ObservedGeneration: pdb.Generation,
		DisruptedPods:      disrupted,
		DisruptionsAllowed: allowed,
		CurrentHealthy:     healthy,
		DesiredHealthy:     desired,
		ExpectedPods:       expected,
		Conditions:         copyConditions(pdb.Status.Conditions),
	}
	SetDisruptionAllowedCondition(&st, now)
	return st, recheck, nil
}

// FailSafeStatus is the status written when the real one cannot be
// computed: no disruptions allowed, and a SyncFailed condition saying why,
// so evictions stop rather than trust stale numbers.
func FailSafeStatus(pdb *policyv1.PodDisruptionBudget, cause error, now time.Time) policyv1.PodDisruptionBudgetStatus {
	st := *pdb.Status.DeepCopy()
	st.DisruptionsAllowed = 0
	apimeta.SetStatusCondition(&st.Conditions, metav1.Condition{
		Type:               policyv1.DisruptionAllowedCondition,
		Status:             metav1.ConditionFalse,
		Reason:             policyv1.SyncFailedReason,
		Message:            cause.Error(),
		ObservedGeneration: st.ObservedGeneration,
		LastTransitionTime: metav1.NewTime(now.Truncate(time.Second)),
	})
	return st
}

// SetDisruptionAllowedCondition makes the DisruptionAllowed condition agree
// with status.disruptionsAllowed, keeping its transition time while its
// status holds.
func SetDisruptionAllowedCondition(st *policyv1.PodDisruptionBudgetStatus, now time.Time) {
	c := metav1.Condition{
		Type:               policyv1.DisruptionAllowedCondition,
		Status:             metav1.ConditionFalse,
		Reason:             policyv1.InsufficientPodsReason,
		ObservedGeneration: st.ObservedGeneration,
		LastTransitionTime: metav1.NewTime(now.Truncate(time.Second)),
	}
	if st.DisruptionsAllowed > 0 {
		c.Status, c.Reason = metav1.ConditionTrue, policyv1.SufficientPodsReason
	}
	apimeta.SetStatusCondition(&st.Conditions, c)
}

// expectedAndDesired is Kubernetes' getExpectedPodCount: an integer
// minAvailable counts the pods that exist; anything relative counts the
// pods the controllers want. Percentages round up, for minAvailable and
// maxUnavailable alike, as Kubernetes does.
func expectedAndDesired(spec policyv1.PodDisruptionBudgetSpec, pods []*corev1.Pod, scale int32) (expected, desired int32, err error) {
	switch {
	case spec.MaxUnavailable != nil:
		maxUnavailable, err := intstr.GetScaledValueFromIntOrPercent(spec.MaxUnavailable, int(scale), true)
		if err != nil {
			return 0, 0, fmt.Errorf("scale maxUnavailable: %w", err)
		}
		return scale, max(scale-int32(maxUnavailable), 0), nil
	case spec.MinAvailable != nil && spec.MinAvailable.Type == intstr.Int:
		return int32(len(pods)), spec.MinAvailable.IntVal, nil
	case spec.MinAvailable != nil:
		minAvailable, err := intstr.GetScaledValueFromIntOrPercent(spec.MinAvailable, int(scale), true)
		if err != nil {
			return 0, 0, fmt.Errorf("scale minAvailable: %w", err)
		}
		return scale, int32(minAvailable), nil
	}
	return 0, 0, nil
}

// liveDisruptions keeps the disruptedPods entries whose pods still exist,
// are not yet terminating and were evicted less than DeletionTimeout ago,
// and says when the earliest of them expires.
func liveDisruptions(recorded map[string]metav1.Time, pods []*corev1.Pod, now time.Time) (map[string]metav1.Time, time.Time) {
	var live map[string]metav1.Time
	var recheck time.Time
	for _, pod := range pods {
		at, ok := recorded[pod.Name]
		if !ok || pod.DeletionTimestamp != nil {
			continue
		}
		expires := at.Add(DeletionTimeout)
		if !expires.After(now) {
			continue
		}
		if live == nil {
			live = map[string]metav1.Time{}
		}
		live[pod.Name] = at
		if recheck.IsZero() || expires.Before(recheck) {
			recheck = expires
		}
	}
	return live, recheck
}

// countHealthy counts the pods that are Ready, not terminating and not
// about to be deleted by an eviction already granted.
func countHealthy(pods []*corev1.Pod, disrupted map[string]metav1.Time) int32 {
	var n int32
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil {
			continue
		}
		if _, ok := disrupted[pod.Name]; ok {
			continue
		}
		if PodReady(pod) {
			n++
		}
	}
	return n
}

// PodReady is Kubernetes' notion of a healthy pod for budgets: its Ready
// condition is True.
func PodReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// StaleDisruption reports whether pod carries a DisruptionTarget=True
// condition that the controller must reset, and how long until it may:
// one set by an eviction (not by the kubelet, whose terminations take as
// long as they take) on a pod that is neither terminating nor finished.
func StaleDisruption(pod *corev1.Pod, now time.Time) (bool, time.Duration) {
	if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false, 0
	}
	for _, c := range pod.Status.Conditions {
		if c.Type != corev1.DisruptionTarget {
			continue
		}
		if c.Status != corev1.ConditionTrue || c.Reason == corev1.PodReasonTerminationByKubelet {
			return false, 0
		}
		return true, max(StalePodDisruptionTimeout-now.Sub(c.LastTransitionTime.Time), 0)
	}
	return false, 0
}

func copyConditions(in []metav1.Condition) []metav1.Condition {
	if len(in) == 0 {
		return nil
	}
	return append([]metav1.Condition(nil), in...)
}
