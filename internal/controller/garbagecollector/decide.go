package garbagecollector

import (
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// ownerState is what a live check found behind one ownerReference.
type ownerState int

const (
	// ownerSolid exists with the referenced UID and is not waiting for
	// its dependents.
	ownerSolid ownerState = iota
	// ownerAbsent does not exist, or exists under another UID.
	ownerAbsent
	// ownerWaiting exists and is being deleted in the foreground: it
	// waits for its dependents to go.
	ownerWaiting
	// ownerUnresolvable cannot be looked up at all: a cluster-scoped
	// dependent naming a namespaced kind (no namespace to look in).
	ownerUnresolvable
)

func (s ownerState) String() string {
	return [...]string{"solid", "absent", "waiting", "unresolvable"}[s]
}

// dependentFacts is what decideDependent looks at.
type dependentFacts struct {
	Owners     []metav1.OwnerReference
	States     []ownerState // one per owner, same order
	Finalizers []string
	// HasDependents: the object owns others itself.
	HasDependents bool
	// ForegroundDependent: one of its dependents is itself being deleted
	// in the foreground.
	ForegroundDependent bool
}

// dependentAction is what to do with an object given its owners' states.
type dependentAction struct {
	// Unresolvable: leave the object alone and report its invalid
	// reference (retrying cannot help).
	Unresolvable bool
	// RemoveRefs are owner UIDs whose references are dropped because
	// some other owner still holds the object.
	RemoveRefs []types.UID
	// UnblockRefs are owner UIDs whose references get
	// blockOwnerDeletion=false before the object is deleted.
	UnblockRefs []types.UID
	// Delete the object, with Policy.
	Delete bool
	Policy metav1.DeletionPropagation
}

// decideDependent applies Kubernetes' garbage-collection rules to one
// object with ownerReferences:
//   - an owner that still exists keeps the object, and references to
//     absent owners or to owners deleting their dependents are removed;
//   - with no such owner the object is deleted: in the foreground when an
//     owner waits for it and it has dependents of its own (so the owner
//     keeps waiting for the whole subtree), otherwise as its own
//     finalizers ask (orphan, foreground) or in the background.
func decideDependent(f dependentFacts) dependentAction {
	if len(f.Owners) == 0 {
		return dependentAction{}
	}
	var solid, absent, waiting []types.UID
	for i, ref := range f.Owners {
		switch f.States[i] {
		case ownerUnresolvable:
			return dependentAction{Unresolvable: true}
		case ownerSolid:
			solid = append(solid, ref.UID)
		case ownerAbsent:
			absent = append(absent, ref.UID)
		case ownerWaiting:
			waiting = append(waiting, ref.UID)
		}
	}
	switch {
	case len(solid) > 0:
		if len(absent)+len(waiting) == 0 {
			return dependentAction{}
		}
		return dependentAction{RemoveRefs: append(absent, waiting...)}
	case len(waiting) > 0 && f.HasDependents:
		var unblock []types.UID
		if f.ForegroundDependent {
			// A dependent already waits on this object while this
			// object's owner waits on it: keeping its blocking
			// references could make the owners wait on each other.
			for i, ref := range f.Owners {
				if f.States[i] == ownerWaiting && blocks(ref) {
					unblock = append(unblock, ref.UID)
				}
			}
		}
		return dependentAction{UnblockRefs: unblock, Delete: true, Policy: metav1.DeletePropagationForeground}
	}
	policy := metav1.DeletePropagationBackground
	switch {
	case slices.Contains(f.Finalizers, metav1.FinalizerOrphanDependents):
		policy = metav1.DeletePropagationOrphan
	case slices.Contains(f.Finalizers, metav1.FinalizerDeleteDependents):
		policy = metav1.DeletePropagationForeground
	}
	return dependentAction{Delete: true, Policy: policy}
}

// withoutRefs returns refs without those whose UID is in drop.
func withoutRefs(refs []metav1.OwnerReference, drop []types.UID) []metav1.OwnerReference {
	out := make([]metav1.OwnerReference, 0, len(refs))
	for _, r := range refs {
		if !slices.Contains(drop, r.UID) {
			out = append(out, r)
		}
	}
	return out
}

// unblocked returns a copy of refs where those with a UID in uids no
// longer block their owner's deletion.
func unblocked(refs []metav1.OwnerReference, uids []types.UID) []metav1.OwnerReference {
	out := make([]metav1.OwnerReference, len(refs))
	for i, r := range refs {
		r.DeepCopyInto(&out[i])
		if slices.Contains(uids, r.UID) && blocks(r) {
			f := false
			out[i].BlockOwnerDeletion = &f
		}
	}
	return out
}

// ownerStateOf classifies an owner as a live GET returned it: found is
// false when the GET answered NotFound.
func ownerStateOf(ref metav1.OwnerReference, found bool, uid types.UID, deleting bool, finalizers []string) ownerState {
	switch {
	case !found || uid != ref.UID:
		return ownerAbsent
	case deleting && slices.Contains(finalizers, metav1.FinalizerDeleteDependents):
		return ownerWaiting
	}
	return ownerSolid
}

// graphSaysSolid reports whether the graph alone shows that ref's owner
// exists and is not waiting for dependents, so no live check is needed
// to keep the dependent. Absence is never decided from the graph: an
// informer may lag behind a create.
func graphSaysSolid(ref metav1.OwnerReference, dependentNS string, owner nodeView, known bool) bool {
	if !known || !owner.Observed || owner.Foreground {
		return false
	}
	if ref.Kind != owner.ID.Kind || ref.Name != owner.ID.Name || apiGroup(ref.APIVersion) != apiGroup(owner.ID.APIVersion) {
		return false
	}
	if owner.ID.Namespace == "" {
		return true
	}
	return owner.ID.Namespace == dependentNS
}
