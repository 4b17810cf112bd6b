package garbagecollector

import (
	"reflect"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestDecideDependent(t *testing.T) {
	a, b, c := refTo("a", "A", true), refTo("b", "B", false), refTo("c", "C", true)
	bg, fg, orphan := metav1.DeletePropagationBackground, metav1.DeletePropagationForeground, metav1.DeletePropagationOrphan
	for _, tc := range []struct {
		name  string
		facts dependentFacts
		want  dependentAction
	}{
		{"no owners", dependentFacts{}, dependentAction{}},
		{"one solid owner", dependentFacts{Owners: []metav1.OwnerReference{a}, States: []ownerState{ownerSolid}}, dependentAction{}},
		{"only owner absent: background", dependentFacts{Owners: []metav1.OwnerReference{a}, States: []ownerState{ownerAbsent}},
			dependentAction{Delete: true, Policy: bg}},
		{"all owners absent", dependentFacts{Owners: []metav1.OwnerReference{a, b}, States: []ownerState{ownerAbsent, ownerAbsent}},
			dependentAction{Delete: true, Policy: bg}},
		{"one of two owners absent: drop its reference", dependentFacts{Owners: []metav1.OwnerReference{a, b}, States: []ownerState{ownerAbsent, ownerSolid}},
			dependentAction{RemoveRefs: []types.UID{"A"}}},
		{"valid owner and waiting owner: drop the waiting one", dependentFacts{Owners: []metav1.OwnerReference{a, b, c}, States: []ownerState{ownerWaiting, ownerSolid, ownerAbsent}},
			dependentAction{RemoveRefs: []types.UID{"C", "A"}}},
		{"waiting owner, no dependents: background", dependentFacts{Owners: []metav1.OwnerReference{a}, States: []ownerState{ownerWaiting}},
			dependentAction{Delete: true, Policy: bg}},
		{"waiting owner and dependents: foreground", dependentFacts{Owners: []metav1.OwnerReference{a}, States: []ownerState{ownerWaiting}, HasDependents: true},
			dependentAction{Delete: true, Policy: fg}},
		{"waiting owner, dependents, one of them in foreground: unblock first", dependentFacts{
			Owners: []metav1.OwnerReference{a, b, c}, States: []ownerState{ownerWaiting, ownerWaiting, ownerAbsent},
			HasDependents: true, ForegroundDependent: true},
			dependentAction{UnblockRefs: []types.UID{"A"}, Delete: true, Policy: fg}},
		{"own orphan finalizer is honoured", dependentFacts{Owners: []metav1.OwnerReference{a}, States: []ownerState{ownerAbsent}, Finalizers: []string{metav1.FinalizerOrphanDependents}},
			dependentAction{Delete: true, Policy: orphan}},
		{"own foreground finalizer is honoured", dependentFacts{Owners: []metav1.OwnerReference{a}, States: []ownerState{ownerAbsent}, Finalizers: []string{"x", metav1.FinalizerDeleteDependents}},
			dependentAction{Delete: true, Policy: fg}},
		{"unresolvable reference blocks everything", dependentFacts{Owners: []metav1.OwnerReference{a, b}, States: []ownerState{ownerAbsent, ownerUnresolvable}},
			dependentAction{Unresolvable: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := decideDependent(tc.facts)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("decideDependent = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestOwnerStateOf(t *testing.T) {
	ref := refTo("o", "U", true)
	for _, tc := range []struct {
		name       string
		found      bool
		uid        types.UID
		deleting   bool
		finalizers []string
		want       ownerState
	}{
		{"not found", false, "", false, nil, ownerAbsent},
		{"same name, other uid", true, "V", false, nil, ownerAbsent},
		{"exists", true, "U", false, nil, ownerSolid},
		{"being deleted in the background", true, "U", true, []string{"x"}, ownerSolid},
		{"being deleted with orphaning", true, "U", true, []string{metav1.FinalizerOrphanDependents}, ownerSolid},
		{"waiting for dependents", true, "U", true, []string{metav1.FinalizerDeleteDependents}, ownerWaiting},
		{"foreground finalizer without deletion", true, "U", false, []string{metav1.FinalizerDeleteDependents}, ownerSolid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ownerStateOf(ref, tc.found, tc.uid, tc.deleting, tc.finalizers); got != tc.want {
				t.Errorf("ownerStateOf = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestGraphSaysSolid(t *testing.T) {
	ref := refTo("o", "U", false)
	owner := nodeView{ID: identity{APIVersion: "v1", Kind: "ConfigMap", Namespace: "a", Name: "o", UID: "U"}, Observed: true}
	clusterOwner := nodeView{ID: identity{APIVersion: "v1", Kind: "Namespace", Name: "o", UID: "U"}, Observed: true}
	nsRef := metav1.OwnerReference{APIVersion: "v1", Kind: "Namespace", Name: "o", UID: "U"}
	with := func(v nodeView, f func(*nodeView)) nodeView { f(&v); return v }
	for _, tc := range []struct {
		name  string
		ref   metav1.OwnerReference
		ns    string
		owner nodeView
		known bool
		want  bool
	}{
		{"observed, same namespace", ref, "a", owner, true, true},
		{"unknown", ref, "a", owner, false, false},
		{"virtual", ref, "a", with(owner, func(v *nodeView) { v.Observed = false }), true, false},
		{"waiting for dependents", ref, "a", with(owner, func(v *nodeView) { v.Foreground = true }), true, false},
		{"other namespace", ref, "b", owner, true, false},
		{"other name", refTo("p", "U", false), "a", owner, true, false},
		{"other version of the same group", metav1.OwnerReference{APIVersion: "v2", Kind: "ConfigMap", Name: "o", UID: "U"}, "a", owner, true, true},
		{"cluster-scoped owner", nsRef, "b", clusterOwner, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := graphSaysSolid(tc.ref, tc.ns, tc.owner, tc.known); got != tc.want {
				t.Errorf("graphSaysSolid = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRefEdits(t *testing.T) {
	a, b := refTo("a", "A", true), refTo("b", "B", true)
	if got := withoutRefs([]metav1.OwnerReference{a, b}, []types.UID{"A"}); len(got) != 1 || got[0].UID != "B" {
		t.Errorf("withoutRefs = %+v", got)
	}
	refs := []metav1.OwnerReference{a, b}
	got := unblocked(refs, []types.UID{"B"})
	if !blocks(got[0]) || blocks(got[1]) {
		t.Errorf("unblocked = %+v", got)
	}
	if !blocks(refs[1]) {
		t.Error("unblocked changed its input")
	}
	if refsOrNull(nil) != nil {
		t.Error("refsOrNull(empty) is not nil")
	}
}

func TestGCRelevantChange(t *testing.T) {
	base := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{UID: "U", ResourceVersion: "1", Labels: map[string]string{"a": "b"},
		OwnerReferences: []metav1.OwnerReference{refTo("o", "O", false)}}}
	now := metav1.Now()
	for _, tc := range []struct {
		name   string
		change func(*metav1.PartialObjectMetadata)
		want   bool
	}{
		{"status or label only", func(p *metav1.PartialObjectMetadata) { p.ResourceVersion = "2"; p.Labels = nil }, false},
		{"deletion starts", func(p *metav1.PartialObjectMetadata) { p.DeletionTimestamp = &now }, true},
		{"finalizer added", func(p *metav1.PartialObjectMetadata) { p.Finalizers = []string{"x"} }, true},
		{"owner removed", func(p *metav1.PartialObjectMetadata) { p.OwnerReferences = nil }, true},
		{"owner unblocked", func(p *metav1.PartialObjectMetadata) {
			p.OwnerReferences = []metav1.OwnerReference{refTo("o", "O", true)}
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cur := base.DeepCopy()
			tc.change(cur)
			if got := gcRelevantChange(base, cur); got != tc.want {
				t.Errorf("gcRelevantChange = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestStripForGC(t *testing.T) {
	p := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: "x", Labels: map[string]string{"a": "b"},
		Annotations: map[string]string{"big": "..."}, ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "m"}},
		OwnerReferences: []metav1.OwnerReference{refTo("o", "O", false)}, Finalizers: []string{"f"}}}
	out, _ := stripForGC(p)
	got := out.(*metav1.PartialObjectMetadata)
	if got.Labels != nil || got.Annotations != nil || got.ManagedFields != nil {
		t.Errorf("kept %+v", got.ObjectMeta)
	}
	if got.Name != "x" || len(got.OwnerReferences) != 1 || len(got.Finalizers) != 1 {
		t.Errorf("lost what collection needs: %+v", got.ObjectMeta)
	}
}
