package deployment

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Condition reasons, with Kubernetes' names (kubectl rollout status and
// users match on them).
const (
	ReasonNewRSCreated        = "NewReplicaSetCreated"
	ReasonFoundNewRS          = "FoundNewReplicaSet"
	ReasonRSUpdated           = "ReplicaSetUpdated"
	ReasonNewRSAvailable      = "NewReplicaSetAvailable"
	ReasonTimedOut            = "ProgressDeadlineExceeded"
	ReasonPaused              = "DeploymentPaused"
	ReasonResumed             = "DeploymentResumed"
	ReasonRSCreateError       = "ReplicaSetCreateError"
	ReasonMinimumAvailable    = "MinimumReplicasAvailable"
	ReasonMinimumUnavailable  = "MinimumReplicasUnavailable"
	ReasonFailedRSCreate      = "FailedCreate"
	ReasonScalingReplicaSet   = "ScalingReplicaSet"
	ReasonSelectingAll        = "SelectingAll"
	ReasonDeploymentRollback  = "DeploymentRollback"
	replicaFailureCondition   = appsv1.DeploymentReplicaFailure
	progressingCondition      = appsv1.DeploymentProgressing
	availableCondition        = appsv1.DeploymentAvailable
	defaultProgressDeadlineS  = 600
	unlimitedProgressDeadline = 2147483647
)

// Surge and unavailability of a Deployment, resolved; zero for Recreate.
func fenceposts(d *appsv1.Deployment) (surge, unavailable int32) {
	if d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || d.Spec.Strategy.RollingUpdate == nil {
		return 0, 0
	}
	ru := d.Spec.Strategy.RollingUpdate
	s, u, err := ResolveFenceposts(ru.MaxSurge, ru.MaxUnavailable, replicasOfDeployment(d))
	if err != nil {
		return 0, 1
	}
	return s, u
}

// MaxUnavailable is how many pods may be unavailable while the
// Deployment still counts as Available.
func MaxUnavailable(d *appsv1.Deployment) int32 {
	r := replicasOfDeployment(d)
	if d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || r == 0 {
		return 0
	}
	_, u := fenceposts(d)
	return min(u, r)
}

// MaxSurge is how many pods above spec.replicas a rolling update may run.
func MaxSurge(d *appsv1.Deployment) int32 {
	s, _ := fenceposts(d)
	return s
}

// hasProgressDeadline: the deadline is "unlimited" when unset or at the
// int32 maximum, as in Kubernetes.
func hasProgressDeadline(d *appsv1.Deployment) bool {
	return d.Spec.ProgressDeadlineSeconds != nil && *d.Spec.ProgressDeadlineSeconds != unlimitedProgressDeadline
}

// GetCondition returns the condition of type t, or nil.
func GetCondition(st appsv1.DeploymentStatus, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			return &st.Conditions[i]
		}
	}
	return nil
}

func newCondition(t appsv1.DeploymentConditionType, s corev1.ConditionStatus, reason, msg string, now time.Time) appsv1.DeploymentCondition {
	ts := metav1.NewTime(now)
	return appsv1.DeploymentCondition{Type: t, Status: s, Reason: reason, Message: msg, LastUpdateTime: ts, LastTransitionTime: ts}
}

// SetCondition replaces the condition of its type. An unchanged
// status and reason keep the old condition entirely; a changed reason with
// the same status keeps the transition time.
func SetCondition(st *appsv1.DeploymentStatus, c appsv1.DeploymentCondition) {
	cur := GetCondition(*st, c.Type)
	if cur != nil && cur.Status == c.Status && cur.Reason == c.Reason {
		return
	}
	if cur != nil && cur.Status == c.Status {
		c.LastTransitionTime = cur.LastTransitionTime
	}
	RemoveCondition(st, c.Type)
	st.Conditions = append(st.Conditions, c)
}

// RemoveCondition drops the condition of type t.
func RemoveCondition(st *appsv1.DeploymentStatus, t appsv1.DeploymentConditionType) {
	var out []appsv1.DeploymentCondition
	for _, c := range st.Conditions {
		if c.Type != t {
			out = append(out, c)
		}
	}
	st.Conditions = out
}

// CalculateStatus is the Deployment status its ReplicaSets imply, with
// the Available condition.
func CalculateStatus(d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, now time.Time) appsv1.DeploymentStatus {
	var specReplicas, replicas, ready, available int32
	for _, rs := range all {
		if rs == nil {
			continue
		}
		if rs.Spec.Replicas != nil {
			specReplicas += *rs.Spec.Replicas
		}
		replicas += rs.Status.Replicas
		ready += rs.Status.ReadyReplicas
		available += rs.Status.AvailableReplicas
	}
	st := appsv1.DeploymentStatus{
		ObservedGeneration:  d.Generation,
		Replicas:            replicas,
		ReadyReplicas:       ready,
		AvailableReplicas:   available,
		UnavailableReplicas: max(specReplicas-available, 0),
		CollisionCount:      d.Status.CollisionCount,
	}
	if newRS != nil {
		st.UpdatedReplicas = newRS.Status.Replicas
	}
	for _, c := range d.Status.Conditions {
		st.Conditions = append(st.Conditions, *c.DeepCopy())
	}
	if available >= replicasOfDeployment(d)-MaxUnavailable(d) {
		SetCondition(&st, newCondition(availableCondition, corev1.ConditionTrue, ReasonMinimumAvailable, "Deployment has minimum availability.", now))
	} else {
		SetCondition(&st, newCondition(availableCondition, corev1.ConditionFalse, ReasonMinimumUnavailable, "Deployment does not have minimum availability.", now))
	}
	return st
}

// Complete: every replica is updated and available and the latest spec
// has been observed.
func Complete(d *appsv1.Deployment, st *appsv1.DeploymentStatus) bool {
	r := replicasOfDeployment(d)
	return st.UpdatedReplicas == r && st.Replicas == r && st.AvailableReplicas == r && st.ObservedGeneration >= d.Generation
}

// Progressing: the new status moved the rollout forward compared with
// the Deployment's current status.
func Progressing(d *appsv1.Deployment, st *appsv1.DeploymentStatus) bool {
	old := d.Status
	return st.UpdatedReplicas > old.UpdatedReplicas ||
		st.Replicas-st.UpdatedReplicas < old.Replicas-old.UpdatedReplicas ||
		st.ReadyReplicas > old.ReadyReplicas ||
		st.AvailableReplicas > old.AvailableReplicas
}

// TimedOut: the Progressing condition has not been refreshed within
// progressDeadlineSeconds.
func TimedOut(d *appsv1.Deployment, st *appsv1.DeploymentStatus, now time.Time) bool {
	if !hasProgressDeadline(d) {
		return false
	}
	c := GetCondition(*st, progressingCondition)
	if c == nil || c.Reason == ReasonNewRSAvailable {
		return false
	}
	if c.Reason == ReasonTimedOut {
		return true
	}
	deadline := c.LastUpdateTime.Add(time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second)
	return deadline.Before(now)
}

// RolloutStatus is the status after a rollout step: counts from the
// ReplicaSets, Progressing updated against the deadline, and the new
// ReplicaSet's ReplicaFailure copied up.
func RolloutStatus(d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, now time.Time) appsv1.DeploymentStatus {
	st := CalculateStatus(d, all, newRS, now)
	if !hasProgressDeadline(d) {
		RemoveCondition(&st, progressingCondition)
	}
	cur := GetCondition(d.Status, progressingCondition)
	complete := st.Replicas == st.UpdatedReplicas && cur != nil && cur.Reason == ReasonNewRSAvailable
	if hasProgressDeadline(d) && !complete {
		switch {
		case Complete(d, &st):
			msg := fmt.Sprintf("Deployment %q has successfully progressed.", d.Name)
			if newRS != nil {
				msg = fmt.Sprintf("ReplicaSet %q has successfully progressed.", newRS.Name)
			}
			SetCondition(&st, newCondition(progressingCondition, corev1.ConditionTrue, ReasonNewRSAvailable, msg, now))
		case Progressing(d, &st):
			msg := fmt.Sprintf("Deployment %q is progressing.", d.Name)
			if newRS != nil {
				msg = fmt.Sprintf("ReplicaSet %q is progressing.", newRS.Name)
			}
			c := newCondition(progressingCondition, corev1.ConditionTrue, ReasonRSUpdated, msg, now)
			// Progress refreshes lastUpdateTime (the deadline clock) but
			// is not a transition.
			if cur != nil && cur.Status == corev1.ConditionTrue {
				c.LastTransitionTime = cur.LastTransitionTime
			}
			RemoveCondition(&st, progressingCondition)
			st.Conditions = append(st.Conditions, c)
		case TimedOut(d, &st, now):
			msg := fmt.Sprintf("Deployment %q has timed out progressing.", d.Name)
			if newRS != nil {
				msg = fmt.Sprintf("ReplicaSet %q has timed out progressing.", newRS.Name)
			}
			SetCondition(&st, newCondition(progressingCondition, corev1.ConditionFalse, ReasonTimedOut, msg, now))
		}
	}
	var failure *appsv1.ReplicaSetCondition
	for _, rs := range all {
		if rs == nil {
			continue
		}
		for i := range rs.Status.Conditions {
			if rs.Status.Conditions[i].Type == appsv1.ReplicaSetReplicaFailure && rs.Status.Conditions[i].Status == corev1.ConditionTrue {
				failure = &rs.Status.Conditions[i]
			}
		}
	}
	if failure != nil {
		SetCondition(&st, newCondition(replicaFailureCondition, failure.Status, failure.Reason, failure.Message, failure.LastTransitionTime.Time))
	} else {
		RemoveCondition(&st, replicaFailureCondition)
	}
	return st
}

// StuckRecheckAfter is when a rollout that is still in progress must be
// looked at again to notice its deadline passing (negative: no need).
func StuckRecheckAfter(d *appsv1.Deployment, st appsv1.DeploymentStatus, now time.Time) time.Duration {
	c := GetCondition(st, progressingCondition)
	if !hasProgressDeadline(d) || c == nil || Complete(d, &st) || c.Reason == ReasonTimedOut {
		return -1
	}
	after := c.LastUpdateTime.Add(time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second).Sub(now)
	if after < time.Second {
		return 0
	}
	return after + time.Second
}

// statusEqual compares statuses ignoring condition timestamps' sub-second
// noise: any field or condition change means a write.
func statusEqual(a, b appsv1.DeploymentStatus) bool {
	if a.ObservedGeneration != b.ObservedGeneration || a.Replicas != b.Replicas || a.UpdatedReplicas != b.UpdatedReplicas ||
		a.ReadyReplicas != b.ReadyReplicas || a.AvailableReplicas != b.AvailableReplicas || a.UnavailableReplicas != b.UnavailableReplicas ||
		len(a.Conditions) != len(b.Conditions) {
		return false
	}
	if (a.CollisionCount == nil) != (b.CollisionCount == nil) || (a.CollisionCount != nil && *a.CollisionCount != *b.CollisionCount) {
		return false
	}
	for _, c := range a.Conditions {
		o := GetCondition(b, c.Type)
		if o == nil || o.Status != c.Status || o.Reason != c.Reason || o.Message != c.Message ||
			!o.LastUpdateTime.Equal(&c.LastUpdateTime) || !o.LastTransitionTime.Equal(&c.LastTransitionTime) {
			return false
		}
	}
	return true
}
