package nodelifecycle

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	reasonNodeStatusUnknown      = "NodeStatusUnknown"
	messageNodeStatusUnknown     = "Kubelet stopped posting node status."
	reasonNodeStatusNeverUpdated = "NodeStatusNeverUpdated"
	messageNeverUpdated          = "Kubelet never posted node status."
)

// probe is what the controller last saw of a node's liveness, and when by
// its own clock. Comparing our own clock readings (not the node's
// timestamps with ours) keeps skewed node clocks from faking death or life.
type probe struct {
	leaseRenew time.Time
	heartbeat  time.Time
	observedAt time.Time
}

// observe folds what the node and its lease say now into prev; a changed
// renew time or heartbeat counts as a sign of life at now.
func observe(prev probe, known bool, leaseRenew, heartbeat, now time.Time) probe {
	if !known || !leaseRenew.Equal(prev.leaseRenew) || !heartbeat.Equal(prev.heartbeat) {
		return probe{leaseRenew: leaseRenew, heartbeat: heartbeat, observedAt: now}
	}
	return prev
}

// staleIn is how long until the node counts as silent (<= 0: it already does).
func staleIn(p probe, now time.Time, grace time.Duration) time.Duration {
	return p.observedAt.Add(grace).Sub(now)
}

// watchedConditions are the kubelet-reported conditions that become
// Unknown when the kubelet goes silent.
var watchedConditions = []corev1.NodeConditionType{
	corev1.NodeReady, corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure,
}

// markUnknown returns conds with the watched conditions set to Unknown
// (added if the kubelet never reported them) and whether anything changed.
// Heartbeat times stay as the kubelet left them.
func markUnknown(conds []corev1.NodeCondition, now metav1.Time) ([]corev1.NodeCondition, bool) {
	out := make([]corev1.NodeCondition, len(conds))
	copy(out, conds)
	changed := false
	for _, t := range watchedConditions {
		i := -1
		for j := range out {
			if out[j].Type == t {
				i = j
			}
		}
		if i < 0 {
			out = append(out, corev1.NodeCondition{
				Type: t, Status: corev1.ConditionUnknown,
				Reason: reasonNodeStatusNeverUpdated, Message: messageNeverUpdated,
				LastHeartbeatTime: now, LastTransitionTime: now,
			})
			changed = true
			continue
		}
		if out[i].Status == corev1.ConditionUnknown {
			continue
		}
		out[i].Status = corev1.ConditionUnknown
		out[i].Reason = reasonNodeStatusUnknown
		out[i].Message = messageNodeStatusUnknown
		out[i].LastTransitionTime = now
		changed = true
	}
	return out, changed
}

// readyStatus is the node's Ready condition status ("" when absent).
func readyStatus(conds []corev1.NodeCondition) corev1.ConditionStatus {
	for _, c := range conds {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return ""
}

var (
	unreachableTaints = []corev1.Taint{
		{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute},
	}
	notReadyTaints = []corev1.Taint{
		{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute},
	}
)

// desiredTaints returns taints with the not-ready/unreachable taints set
// for the node's Ready status, and whether they changed. Other taints are
// left alone; taints already present keep their TimeAdded, which is what
// eviction deadlines count from.
func desiredTaints(taints []corev1.Taint, ready corev1.ConditionStatus, now metav1.Time) ([]corev1.Taint, bool) {
	var want []corev1.Taint
	switch ready {
	case corev1.ConditionFalse:
		want = notReadyTaints
	case corev1.ConditionUnknown:
		want = unreachableTaints
	}
	managed := func(t corev1.Taint) bool {
		return t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable
	}
	wanted := func(t corev1.Taint) bool {
		for _, w := range want {
			if w.MatchTaint(&t) {
				return true
			}
		}
		return false
	}
	var out []corev1.Taint
	changed := false
	for _, t := range taints {
		if managed(t) && !wanted(t) {
			changed = true
			continue
		}
		out = append(out, t)
	}
	for _, w := range want {
		have := false
		for _, t := range out {
			if w.MatchTaint(&t) {
				have = true
			}
		}
		if have {
			continue
		}
		if w.Effect == corev1.TaintEffectNoExecute {
			at := now
			w.TimeAdded = &at
		}
		out = append(out, w)
		changed = true
	}
	return out, changed
}

// eviction is the verdict for a pod on a node with NoExecute taints.
type eviction struct {
	now   bool          // delete it now
	after time.Duration // otherwise, look again after this (0: never)
}

// decideEviction applies taint-based eviction: a pod that does not
// tolerate some NoExecute taint goes now; one that tolerates them all for
// limited times goes when the earliest toleration runs out, counted from
// when its taint was added. addedAt supplies that time for taints
// without TimeAdded.
func decideEviction(tolerations []corev1.Toleration, taints []corev1.Taint, now time.Time, addedAt func(corev1.Taint) time.Time) eviction {
	var deadline time.Time
	for i := range taints {
		taint := &taints[i]
		if taint.Effect != corev1.TaintEffectNoExecute {
			continue
		}
		tolerated, forever := false, false
		minSeconds := int64(-1)
		for j := range tolerations {
			tol := &tolerations[j]
			if !tol.ToleratesTaint(taint) {
				continue
			}
			tolerated = true
			if tol.TolerationSeconds == nil {
				forever = true
				continue
			}
			if minSeconds < 0 || *tol.TolerationSeconds < minSeconds {
				minSeconds = *tol.TolerationSeconds
			}
		}
		if !tolerated {
			return eviction{now: true}
		}
		// A limited toleration wins over an unlimited one, as in Kubernetes.
		if minSeconds < 0 && forever {
			continue
		}
		added := now
		if taint.TimeAdded != nil {
			added = taint.TimeAdded.Time
		} else if addedAt != nil {
			added = addedAt(*taint)
		}
		d := added.Add(time.Duration(max(minSeconds, 0)) * time.Second)
		if deadline.IsZero() || d.Before(deadline) {
			deadline = d
		}
	}
	if deadline.IsZero() {
		return eviction{}
	}
	if !now.Before(deadline) {
		return eviction{now: true}
	}
	return eviction{after: deadline.Sub(now)}
}

// podNotReady returns the pod's conditions with Ready set False, and
// whether that changed anything (a pod that is not Ready stays as it is).
func podNotReady(conds []corev1.PodCondition, now metav1.Time) ([]corev1.PodCondition, bool) {
	for i, c := range conds {
		if c.Type != corev1.PodReady {
			continue
		}
		if c.Status == corev1.ConditionFalse {
			return conds, false
		}
		out := make([]corev1.PodCondition, len(conds))
		copy(out, conds)
		out[i].Status = corev1.ConditionFalse
		out[i].LastTransitionTime = now
		return out, true
	}
	return conds, false
}
