package deployment

import (
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
)

// Annotations kubectl and users read, with Kubernetes' names.
const (
	RevisionAnnotation        = "deployment.kubernetes.io/revision"
	RevisionHistoryAnnotation = "deployment.kubernetes.io/revision-history"
	DesiredReplicasAnnotation = "deployment.kubernetes.io/desired-replicas"
	MaxReplicasAnnotation     = "deployment.kubernetes.io/max-replicas"
	ChangeCauseAnnotation     = "kubernetes.io/change-cause"
	lastAppliedAnnotation     = "kubectl.kubernetes.io/last-applied-configuration"
	rollbackToAnnotation      = "deprecated.deployment.rollback.to"
	// maxRevisionHistoryChars bounds revision-history so a ReplicaSet
	// reused many times does not grow without limit.
	maxRevisionHistoryChars = 2000
)

// notCopied are the Deployment annotations that describe the Deployment
// itself, not its ReplicaSets.
var notCopied = map[string]bool{
	lastAppliedAnnotation: true, RevisionAnnotation: true, RevisionHistoryAnnotation: true,
	DesiredReplicasAnnotation: true, MaxReplicasAnnotation: true, rollbackToAnnotation: true,
}

// Revision parses a ReplicaSet's revision annotation (0 when absent or
// malformed).
func Revision(annotations map[string]string) int64 {
	v, err := strconv.ParseInt(annotations[RevisionAnnotation], 10, 64)
	if err != nil {
		return 0
	}
	return v
}

// MaxRevision is the highest revision among rss.
func MaxRevision(rss []*appsv1.ReplicaSet) int64 {
	var m int64
	for _, rs := range rss {
		m = max(m, Revision(rs.Annotations))
	}
	return m
}

// copyDeploymentAnnotations copies the user's Deployment annotations
// (change-cause among them) onto the ReplicaSet; it reports a change.
func copyDeploymentAnnotations(d *appsv1.Deployment, rs *appsv1.ReplicaSet) bool {
	changed := false
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	for k, v := range d.Annotations {
		if notCopied[k] {
			continue
		}
		if cur, ok := rs.Annotations[k]; ok && cur == v {
			continue
		}
		rs.Annotations[k] = v
		changed = true
	}
	return changed
}

// SetNewRSAnnotations brings the new ReplicaSet's annotations up to date
// with its Deployment and revision: copied Deployment annotations, the
// revision (raised, never lowered), and when a ReplicaSet is reused for a
// newer revision (a rollback) its earlier revision appended to
// revision-history. A ReplicaSet being created also gets desired- and
// max-replicas. It reports whether anything changed.
func SetNewRSAnnotations(d *appsv1.Deployment, rs *appsv1.ReplicaSet, newRevision string, exists bool, surge int32) bool {
	changed := copyDeploymentAnnotations(d, rs)
	oldRevision := rs.Annotations[RevisionAnnotation]
	oldN, errOld := strconv.ParseInt(oldRevision, 10, 64)
	if errOld != nil && oldRevision != "" {
		return false
	}
	newN, err := strconv.ParseInt(newRevision, 10, 64)
	if err != nil {
		return false
	}
	if oldRevision == "" || oldN < newN {
		rs.Annotations[RevisionAnnotation] = newRevision
		changed = true
	}
	if changed && oldRevision != "" && oldRevision != rs.Annotations[RevisionAnnotation] {
		history := rs.Annotations[RevisionHistoryAnnotation]
		if history == "" {
			history = oldRevision
		} else {
			history += "," + oldRevision
			for len(history) > maxRevisionHistoryChars {
				i := strings.Index(history, ",")
				if i < 0 {
					break
				}
				history = history[i+1:]
			}
		}
		rs.Annotations[RevisionHistoryAnnotation] = history
	}
	if !exists && setReplicasAnnotations(rs, replicasOfDeployment(d), replicasOfDeployment(d)+surge) {
		changed = true
	}
	return changed
}

// setReplicasAnnotations records the Deployment size a ReplicaSet was
// last sized for; proportional scaling reads it back.
func setReplicasAnnotations(rs *appsv1.ReplicaSet, desired, maxReplicas int32) bool {
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	d, m := strconv.Itoa(int(desired)), strconv.Itoa(int(maxReplicas))
	if rs.Annotations[DesiredReplicasAnnotation] == d && rs.Annotations[MaxReplicasAnnotation] == m {
		return false
	}
	rs.Annotations[DesiredReplicasAnnotation] = d
	rs.Annotations[MaxReplicasAnnotation] = m
	return true
}

func intAnnotation(annotations map[string]string, key string) (int32, bool) {
	v, ok := annotations[key]
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0, false
	}
	return int32(n), true
}

func replicasOfDeployment(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}
