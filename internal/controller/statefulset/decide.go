package statefulset

import (
	"slices"

	appsv1 "k8s.io/api/apps/v1"
)

// PodState is what the plan needs to know about the pod at one ordinal.
type PodState struct {
	Revision    string // controller-revision-hash label: the revision name
	Failed      bool   // phase Failed or Succeeded: it will not run again
	Terminating bool
	// Healthy means Running, Ready and available (ready for at least
	// minReadySeconds).
	Healthy bool
}

// Input is the StatefulSet and its pods as one reconcile sees them.
type Input struct {
	Start    int // spec.ordinals.start
	Replicas int
	// Ordered is podManagementPolicy OrderedReady (as opposed to Parallel).
	Ordered       bool
	RollingUpdate bool
	// Partition is spec.updateStrategy.rollingUpdate.partition; without a
	// rollingUpdate block (PartitionSet false), pods below the number of
	// current replicas are recreated at the current revision instead, as
	// in Kubernetes.
	Partition       int
	PartitionSet    bool
	CurrentReplicas int
	MaxUnavailable  int
	CurrentRevision string
	UpdateRevision  string
	// Pods holds the pods that exist, by ordinal (any ordinal, also
	// outside [Start, Start+Replicas): those are condemned).
	Pods map[int]PodState
}

// Kind is what an Action does.
type Kind string

const (
	// Create creates the pod at Ordinal at Revision (its claims first).
	Create Kind = "create"
	// Delete deletes the pod at Ordinal.
	Delete Kind = "delete"
)

// Action is one step of a plan.
type Action struct {
	Kind     Kind
	Ordinal  int
	Revision string // for Create
	Reason   string // "missing", "failed", "scale-down", "update"
}

// Decide plans the next steps for a StatefulSet, as Kubernetes does:
//   - every missing ordinal in range is created (its revision is the
//     current one below the partition, the update revision otherwise);
//     failed pods are deleted, to be recreated next time;
//   - OrderedReady takes one step at a time and waits until every pod
//     below is Running and Ready before creating the next one;
//   - pods above the range go highest ordinal first, one at a time and
//     only when all others are healthy under OrderedReady, all at once
//     under Parallel;
//   - RollingUpdate then replaces pods whose revision is not the update
//     revision, from the highest ordinal down to the partition, keeping at
//     most maxUnavailable of them unavailable (one under OrderedReady).
//
// It is pure, so reconciling twice in the same state plans the same.
func Decide(in Input) []Action {
	var plan []Action
	end := in.Start + in.Replicas
	for o := in.Start; o < end; o++ {
		p, ok := in.Pods[o]
		switch {
		case !ok:
			plan = append(plan, Action{Kind: Create, Ordinal: o, Revision: in.revisionFor(o), Reason: "missing"})
			if in.Ordered {
				return plan
			}
		case p.Terminating:
			if in.Ordered {
				return plan
			}
		case p.Failed:
			plan = append(plan, Action{Kind: Delete, Ordinal: o, Reason: "failed"})
			if in.Ordered {
				return plan
			}
		case !p.Healthy:
			if in.Ordered {
				return plan
			}
		}
	}

	var condemned []int
	for o := range in.Pods {
		if o < in.Start || o >= end {
			condemned = append(condemned, o)
		}
	}
	slices.Sort(condemned)
	slices.Reverse(condemned)
	for _, o := range condemned {
		p := in.Pods[o]
		if p.Terminating {
			if in.Ordered {
				return plan
			}
			continue
		}
		if in.Ordered && in.unhealthyExcept(o) {
			return plan
		}
		plan = append(plan, Action{Kind: Delete, Ordinal: o, Reason: "scale-down"})
		if in.Ordered {
			return plan
		}
	}

	if !in.RollingUpdate {
		return plan
	}
	planned := map[int]bool{}
	for _, a := range plan {
		planned[a.Ordinal] = true
	}
	updateMin := in.Start
	if in.PartitionSet {
		updateMin = in.Start + in.Partition
	}
	maxUnavailable := max(in.MaxUnavailable, 1)
	if in.Ordered {
		// OrderedReady promises one pod at a time, top down; maxUnavailable
		// (alpha in Kubernetes 1.33) only widens Parallel updates here.
		maxUnavailable = 1
	}
	unavailable := 0
	for o := max(updateMin, in.Start); o < end; o++ {
		p, ok := in.Pods[o]
		if !ok || p.Terminating || p.Failed || !p.Healthy || planned[o] {
			unavailable++
		}
	}
	for o := end - 1; o >= max(updateMin, in.Start); o-- {
		p, ok := in.Pods[o]
		if !ok || planned[o] || p.Terminating || p.Revision == in.UpdateRevision {
			continue
		}
		if !p.Healthy {
			// Already unavailable: replacing it costs nothing.
			plan = append(plan, Action{Kind: Delete, Ordinal: o, Reason: "update"})
			continue
		}
		if unavailable >= maxUnavailable {
			break
		}
		unavailable++
		plan = append(plan, Action{Kind: Delete, Ordinal: o, Reason: "update"})
	}
	return plan
}

// revisionFor is the revision a missing pod is created at.
func (in Input) revisionFor(o int) string {
	if !in.RollingUpdate {
		return in.UpdateRevision
	}
	limit := in.Start + in.CurrentReplicas
	if in.PartitionSet {
		limit = in.Start + in.Partition
	}
	if o < limit {
		return in.CurrentRevision
	}
	return in.UpdateRevision
}

// unhealthyExcept reports whether any pod other than ordinal o is not
// healthy (missing pods in range count as unhealthy), which holds up an
// ordered scale-down.
func (in Input) unhealthyExcept(o int) bool {
	for i := in.Start; i < in.Start+in.Replicas; i++ {
		if p, ok := in.Pods[i]; !ok || !p.Healthy || p.Terminating {
			return true
		}
	}
	for i, p := range in.Pods {
		// A failed pod above the range is going anyway: it must not hold
		// up the scale-down that removes it.
		if i != o && (i < in.Start || i >= in.Start+in.Replicas) && !p.Terminating && !p.Healthy && !p.Failed {
			return true
		}
	}
	return false
}

// PodStatus is the per-pod input of Status.
type PodStatus struct {
	PodState
	Ready bool // Running and Ready, whether or not yet available
}

// Status computes the replica counts and revisions of a StatefulSet's
// status from its pods. When a rolling update has reached every pod and
// all are ready, the update revision becomes the current one.
func Status(pods []PodStatus, currentRevision, updateRevision string, rollingUpdate bool) appsv1.StatefulSetStatus {
	st := appsv1.StatefulSetStatus{CurrentRevision: currentRevision, UpdateRevision: updateRevision}
	for _, p := range pods {
		st.Replicas++
		if p.Ready && !p.Terminating {
			st.ReadyReplicas++
			if p.Healthy {
				st.AvailableReplicas++
			}
		}
		if p.Terminating {
			continue
		}
		if p.Revision == currentRevision {
			st.CurrentReplicas++
		}
		if p.Revision == updateRevision {
			st.UpdatedReplicas++
		}
	}
	if rollingUpdate && st.UpdatedReplicas == st.Replicas && st.ReadyReplicas == st.Replicas {
		st.CurrentRevision = updateRevision
		st.CurrentReplicas = st.UpdatedReplicas
	}
	return st
}

// ClaimOwners says which owner references a claim of the pod at a given
// ordinal carries under the retention policy: the StatefulSet (so that
// deleting it deletes the claim) and/or the pod (so that scaling down
// deletes it with the pod).
func ClaimOwners(policy *appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy, condemned bool) (set, pod bool) {
	whenDeleted, whenScaled := appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	if policy != nil {
		if policy.WhenDeleted != "" {
			whenDeleted = policy.WhenDeleted
		}
		if policy.WhenScaled != "" {
			whenScaled = policy.WhenScaled
		}
	}
	const del = appsv1.DeletePersistentVolumeClaimRetentionPolicyType
	if whenScaled == del && condemned {
		return false, true
	}
	return whenDeleted == del, false
}
