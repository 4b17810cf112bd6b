package garbagecollector

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

var cmResource = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}

func cm(ns, name string, uid types.UID, owners ...metav1.OwnerReference) object {
	return object{
		ID:       identity{APIVersion: "v1", Kind: "ConfigMap", Namespace: ns, Name: name, UID: uid},
		Resource: cmResource,
		Owners:   owners,
	}
}

func deleting(o object, finalizers ...string) object {
	o.Deleting = true
	o.Finalizers = finalizers
	return o
}

func refTo(name string, uid types.UID, block bool) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: name, UID: uid, BlockOwnerDeletion: &block}
}

// step is one graph change and the UIDs it must wake.
type step struct {
	observe *object
	forget  types.UID
	absent  types.UID
	want    []types.UID
}

func obs(o object, want ...types.UID) step    { return step{observe: &o, want: want} }
func del(u types.UID, want ...types.UID) step { return step{forget: u, want: want} }
func gone(u types.UID, want ...types.UID) step {
	return step{absent: u, want: want}
}

func TestGraph(t *testing.T) {
	fg, orphan := metav1.FinalizerDeleteDependents, metav1.FinalizerOrphanDependents
	owner := cm("a", "owner", "O", nil...)
	dep := cm("a", "dep", "D", refTo("owner", "O", true))
	for _, tc := range []struct {
		name  string
		steps []step
		check func(t *testing.T, g *graph)
	}{
		{
			name:  "owner before dependent wakes nothing",
			steps: []step{obs(owner), obs(dep)},
			check: func(t *testing.T, g *graph) {
				o, _ := g.get("O")
				if !o.Observed || !slices.Equal(o.Dependents, []types.UID{"D"}) {
					t.Errorf("owner = %+v", o)
				}
			},
		},
		{
			name:  "unseen owner becomes a virtual node to verify",
			steps: []step{obs(dep, "O")},
			check: func(t *testing.T, g *graph) {
				o, ok := g.get("O")
				if !ok || o.Observed || o.Absent || o.ID.Namespace != "a" || o.ID.Name != "owner" {
					t.Errorf("virtual owner = %+v", o)
				}
			},
		},
		{
			name:  "virtual owner seen later is no longer virtual",
			steps: []step{obs(dep, "O"), obs(owner)},
			check: func(t *testing.T, g *graph) {
				if o, _ := g.get("O"); !o.Observed {
					t.Errorf("owner = %+v", o)
				}
			},
		},
		{
			name:  "owner deleted wakes its dependents and stays as absent",
			steps: []step{obs(owner), obs(dep), del("O", "D")},
			check: func(t *testing.T, g *graph) {
				o, ok := g.get("O")
				if !ok || o.Observed || !o.Absent {
					t.Errorf("owner = %+v", o)
				}
			},
		},
		{
			name:  "last dependent of an absent owner gone prunes both",
			steps: []step{obs(owner), obs(dep), del("O", "D"), del("D")},
			check: func(t *testing.T, g *graph) {
				if n := g.size(); n != 0 {
					t.Errorf("graph holds %d nodes, want 0", n)
				}
			},
		},
		{
			name:  "virtual owner verified absent wakes dependents, and later ones directly",
			steps: []step{obs(dep, "O"), gone("O", "D"), obs(cm("a", "dep2", "D2", refTo("owner", "O", false)), "D2")},
		},
		{
			name:  "dependent freed of its references prunes its virtual owner",
			steps: []step{obs(dep, "O"), obs(cm("a", "dep", "D"))},
			check: func(t *testing.T, g *graph) {
				if _, ok := g.get("O"); ok {
					t.Error("virtual owner kept")
				}
			},
		},
		{
			name:  "foreground deletion wakes the owner and every dependent",
			steps: []step{obs(owner), obs(dep), obs(cm("a", "dep2", "D2", refTo("owner", "O", false))), obs(deleting(owner, fg), "O", "D", "D2")},
			check: func(t *testing.T, g *graph) {
				if b := g.blockingDependents("O"); !slices.Equal(b, []types.UID{"D"}) {
					t.Errorf("blocking = %v, want [D]", b)
				}
			},
		},
		{
			name: "unblocking a reference wakes the waiting owner",
			steps: []step{obs(deleting(owner, fg), "O"), obs(dep, "D", "O"),
				obs(cm("a", "dep", "D", refTo("owner", "O", false)), "D", "O")},
			check: func(t *testing.T, g *graph) {
				if b := g.blockingDependents("O"); len(b) != 0 {
					t.Errorf("blocking = %v, want none", b)
				}
			},
		},
		{
			name:  "dependent deleted wakes a waiting owner",
			steps: []step{obs(owner), obs(dep), obs(deleting(owner, fg), "O", "D"), del("D", "O")},
		},
		{
			name:  "dependent dropping its reference wakes a waiting owner",
			steps: []step{obs(owner), obs(dep), obs(deleting(owner, fg), "O", "D"), obs(cm("a", "dep", "D"), "O")},
		},
		{
			name:  "orphan deletion wakes the owner only",
			steps: []step{obs(owner), obs(dep), obs(deleting(owner, orphan), "O")},
		},
		{
			name:  "plain deletion in progress wakes nothing",
			steps: []step{obs(owner), obs(dep), obs(deleting(owner, "example.com/x"))},
		},
		{
			name:  "reference to an owner in another namespace wakes the dependent",
			steps: []step{obs(owner), obs(cm("b", "dep", "D", refTo("owner", "O", false)), "D")},
		},
		{
			name:  "owner seen in another namespace after its dependent wakes the dependent",
			steps: []step{obs(cm("b", "dep", "D", refTo("owner", "O", false)), "O"), obs(owner, "D")},
		},
		{
			name:  "reference naming another kind than the UID's object wakes the dependent",
			steps: []step{obs(owner), obs(cm("a", "dep", "D", metav1.OwnerReference{APIVersion: "v1", Kind: "Secret", Name: "owner", UID: "O"}), "D")},
		},
		{
			name: "cluster-scoped owner of namespaced dependents is fine",
			steps: []step{
				obs(object{ID: identity{APIVersion: "v1", Kind: "Namespace", Name: "team", UID: "N"}, Resource: schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}}),
				obs(cm("a", "dep", "D", metav1.OwnerReference{APIVersion: "v1", Kind: "Namespace", Name: "team", UID: "N"})),
				obs(cm("b", "dep", "D2", metav1.OwnerReference{APIVersion: "v1", Kind: "Namespace", Name: "team", UID: "N"})),
			},
		},
		{
			name:  "a foreground dependent is visible to cycle detection",
			steps: []step{obs(owner), obs(dep), obs(deleting(dep, fg), "D")},
			check: func(t *testing.T, g *graph) {
				if !g.hasForegroundDependent("O") {
					t.Error("hasForegroundDependent(O) = false")
				}
				if g.hasForegroundDependent("D") {
					t.Error("hasForegroundDependent(D) = true")
				}
			},
		},
		{
			name:  "forgetting an unknown object does nothing",
			steps: []step{del("X")},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGraph()
			for i, s := range tc.steps {
				var got []types.UID
				switch {
				case s.observe != nil:
					got = g.observe(*s.observe)
				case s.forget != "":
					got = g.forget(s.forget)
				case s.absent != "":
					got = g.markAbsent(s.absent)
				}
				slices.Sort(got)
				want := slices.Clone(s.want)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Fatalf("step %d woke %v, want %v", i, got, want)
				}
			}
			if tc.check != nil {
				tc.check(t, g)
			}
		})
	}
}

func TestGraphDependentsAreCopies(t *testing.T) {
	g := newGraph()
	g.observe(cm("a", "owner", "O"))
	g.observe(cm("a", "dep", "D", refTo("owner", "O", true)))
	deps := g.dependents("O")
	if len(deps) != 1 || deps[0].ID.Name != "dep" {
		t.Fatalf("dependents = %+v", deps)
	}
	deps[0].Owners[0].Name = "changed"
	if again := g.dependents("O"); again[0].Owners[0].Name != "owner" {
		t.Fatal("dependents shares memory with the graph")
	}
}
