package statefulset

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
)

const (
	cur = "web-aaa"
	upd = "web-bbb"
)

func healthy(rev string) PodState { return PodState{Revision: rev, Healthy: true} }
func pending(rev string) PodState { return PodState{Revision: rev} }
func dying(rev string) PodState   { return PodState{Revision: rev, Terminating: true} }
func failedP(rev string) PodState { return PodState{Revision: rev, Failed: true} }
func create(o int, rev string) Action {
	return Action{Kind: Create, Ordinal: o, Revision: rev, Reason: "missing"}
}
func del(o int, reason string) Action { return Action{Kind: Delete, Ordinal: o, Reason: reason} }

func TestDecide(t *testing.T) {
	base := func(mod func(*Input)) Input {
		in := Input{Replicas: 3, Ordered: true, RollingUpdate: true, PartitionSet: true, MaxUnavailable: 1,
			CurrentRevision: upd, UpdateRevision: upd, Pods: map[int]PodState{}}
		mod(&in)
		return in
	}
	tests := []struct {
		name string
		in   Input
		want []Action
	}{
		{"ordered creates the first missing ordinal only", base(func(in *Input) {}), []Action{create(0, upd)}},
		{"ordered waits for pod 0 to be ready", base(func(in *Input) { in.Pods[0] = pending(upd) }), nil},
		{"ordered creates 1 once 0 is ready", base(func(in *Input) { in.Pods[0] = healthy(upd) }), []Action{create(1, upd)}},
		{"ordered fills a gap below before anything else", base(func(in *Input) {
			in.Pods[1], in.Pods[2] = healthy(upd), healthy(upd)
		}), []Action{create(0, upd)}},
		{"ordinals start", base(func(in *Input) { in.Start = 5; in.Pods[5] = healthy(upd) }), []Action{create(6, upd)}},
		{"parallel creates all at once", base(func(in *Input) { in.Ordered = false }), []Action{create(0, upd), create(1, upd), create(2, upd)}},
		{"failed pod deleted for recreation", base(func(in *Input) {
			in.Pods[0], in.Pods[1], in.Pods[2] = healthy(upd), failedP(upd), healthy(upd)
		}), []Action{del(1, "failed")}},
		{"ordered waits for a terminating pod", base(func(in *Input) {
			in.Pods[0], in.Pods[1] = dying(upd), healthy(upd)
		}), nil},
		{"ordered scale-down deletes the highest first", base(func(in *Input) {
			in.Replicas = 1
			in.Pods[0], in.Pods[1], in.Pods[2] = healthy(upd), healthy(upd), healthy(upd)
		}), []Action{del(2, "scale-down")}},
		{"ordered scale-down waits for the higher pod to go", base(func(in *Input) {
			in.Replicas = 1
			in.Pods[0], in.Pods[1], in.Pods[2] = healthy(upd), healthy(upd), dying(upd)
		}), nil},
		{"ordered scale-down waits while a pod is unhealthy", base(func(in *Input) {
			in.Replicas = 1
			in.Pods[0], in.Pods[1], in.Pods[2] = pending(upd), healthy(upd), healthy(upd)
		}), nil},
		{"parallel scale-down deletes all condemned", base(func(in *Input) {
			in.Ordered = false
			in.Replicas = 1
			in.Pods[0], in.Pods[1], in.Pods[2] = pending(upd), healthy(upd), healthy(upd)
		}), []Action{del(2, "scale-down"), del(1, "scale-down")}},
		{"rolling update replaces the highest old pod", base(func(in *Input) {
			in.CurrentRevision = cur
			in.Pods[0], in.Pods[1], in.Pods[2] = healthy(cur), healthy(cur), healthy(cur)
		}), []Action{del(2, "update")}},
		{"rolling update waits for the replaced pod", base(func(in *Input) {
			in.CurrentRevision = cur
			in.Pods[0], in.Pods[1], in.Pods[2] = healthy(cur), healthy(cur), pending(upd)
		}), nil},
		{"rolling update moves down once the replaced pod is ready", base(func(in *Input) {
			in.CurrentRevision = cur
			in.Pods[0], in.Pods[1], in.Pods[2] = healthy(cur), healthy(cur), healthy(upd)
		}), []Action{del(1, "update")}},
		{"partition keeps lower ordinals", base(func(in *Input) {
			in.CurrentRevision, in.Partition = cur, 2
			in.Pods[0], in.Pods[1], in.Pods[2] = healthy(cur), healthy(cur), healthy(upd)
		}), nil},
		{"below the partition a missing pod comes back at the current revision", base(func(in *Input) {
			in.CurrentRevision, in.Partition = cur, 2
			in.Pods[1], in.Pods[2] = healthy(cur), healthy(upd)
		}), []Action{create(0, cur)}},
		{"without a rollingUpdate block current replicas decide the revision", base(func(in *Input) {
			in.CurrentRevision, in.PartitionSet, in.CurrentReplicas = cur, false, 2
			in.Pods[0], in.Pods[1] = healthy(cur), healthy(cur)
		}), []Action{create(2, upd)}},
		{"maxUnavailable 2 replaces two at once", base(func(in *Input) {
			in.CurrentRevision, in.MaxUnavailable, in.Ordered = cur, 2, false
			in.Pods[0], in.Pods[1], in.Pods[2] = healthy(cur), healthy(cur), healthy(cur)
		}), []Action{del(2, "update"), del(1, "update")}},
		{"an unavailable old pod is replaced without using the budget", base(func(in *Input) {
			in.CurrentRevision, in.Ordered = cur, false
			in.Pods[0], in.Pods[1], in.Pods[2] = healthy(cur), healthy(cur), pending(cur)
		}), []Action{del(2, "update")}},
		{"an unavailable pod lower down still holds back the top one", base(func(in *Input) {
			in.CurrentRevision, in.Ordered = cur, false
			in.Pods[0], in.Pods[1], in.Pods[2] = healthy(cur), pending(cur), healthy(cur)
		}), nil},
		{"OnDelete never deletes for an update", base(func(in *Input) {
			in.CurrentRevision, in.RollingUpdate = cur, false
			in.Pods[0], in.Pods[1], in.Pods[2] = healthy(cur), healthy(cur), healthy(cur)
		}), nil},
		{"OnDelete recreates at the update revision", base(func(in *Input) {
			in.CurrentRevision, in.RollingUpdate = cur, false
			in.Pods[0], in.Pods[2] = healthy(cur), healthy(cur)
		}), []Action{create(1, upd)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Decide(tt.in)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Decide = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	ready := func(s PodState) PodStatus { return PodStatus{PodState: s, Ready: true} }
	tests := []struct {
		name    string
		pods    []PodStatus
		rolling bool
		want    appsv1.StatefulSetStatus
	}{
		{"mid rollout", []PodStatus{ready(healthy(cur)), ready(healthy(cur)), {PodState: pending(upd)}}, true,
			appsv1.StatefulSetStatus{Replicas: 3, ReadyReplicas: 2, AvailableReplicas: 2, CurrentReplicas: 2, UpdatedReplicas: 1, CurrentRevision: cur, UpdateRevision: upd}},
		{"rollout complete advances current revision", []PodStatus{ready(healthy(upd)), ready(healthy(upd))}, true,
			appsv1.StatefulSetStatus{Replicas: 2, ReadyReplicas: 2, AvailableReplicas: 2, CurrentReplicas: 2, UpdatedReplicas: 2, CurrentRevision: upd, UpdateRevision: upd}},
		{"OnDelete keeps current revision", []PodStatus{ready(healthy(upd))}, false,
			appsv1.StatefulSetStatus{Replicas: 1, ReadyReplicas: 1, AvailableReplicas: 1, UpdatedReplicas: 1, CurrentRevision: cur, UpdateRevision: upd}},
		{"ready but not yet available; terminating not counted in revisions", []PodStatus{ready(pending(upd)), {PodState: dying(cur)}}, true,
			appsv1.StatefulSetStatus{Replicas: 2, ReadyReplicas: 1, UpdatedReplicas: 1, CurrentRevision: cur, UpdateRevision: upd}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Status(tt.pods, cur, upd, tt.rolling); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Status = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestClaimOwners(t *testing.T) {
	const r, d = appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.DeletePersistentVolumeClaimRetentionPolicyType
	tests := []struct {
		deleted, scaled  appsv1.PersistentVolumeClaimRetentionPolicyType
		condemned        bool
		wantSet, wantPod bool
	}{
		{r, r, false, false, false},
		{r, r, true, false, false},
		{d, r, false, true, false},
		{d, r, true, true, false},
		{r, d, false, false, false},
		{r, d, true, false, true},
		{d, d, false, true, false},
		{d, d, true, false, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s-%s-%v", tt.deleted, tt.scaled, tt.condemned), func(t *testing.T) {
			p := &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{WhenDeleted: tt.deleted, WhenScaled: tt.scaled}
			set, pod := ClaimOwners(p, tt.condemned)
			if set != tt.wantSet || pod != tt.wantPod {
				t.Errorf("ClaimOwners = %v,%v want %v,%v", set, pod, tt.wantSet, tt.wantPod)
			}
		})
	}
	if s, p := ClaimOwners(nil, true); s || p {
		t.Errorf("nil policy must retain")
	}
}

func TestOrdinalOf(t *testing.T) {
	tests := []struct {
		pod  string
		want int
		ok   bool
	}{{"web-0", 0, true}, {"web-12", 12, true}, {"web-", 0, false}, {"web-01", 0, false}, {"web-x", 0, false}, {"webx-1", 0, false}, {"web-1-2", 0, false}}
	for _, tt := range tests {
		got, ok := ordinalOf("web", tt.pod)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ordinalOf(%q) = %d,%v want %d,%v", tt.pod, got, ok, tt.want, tt.ok)
		}
	}
}

// TestOrderedReadyProperties drives Decide through random histories (a
// kubelet that makes pods ready late, fails them, finishes deletions late;
// users that scale and change the template) and checks on every plan that
// OrderedReady never creates ordinal i+1 before i is Running and Ready,
// never deletes out of reverse ordinal order, takes one step at a time,
// and that a rolling update replaces pods from the top down. Once the
// world calms down, the set must converge (Parallel sets too, which a
// quarter of the seeds use).
func TestOrderedReadyProperties(t *testing.T) {
	for seed := range uint64(300) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 42))
			revs := []string{"r0"}
			in := Input{
				Start: rng.IntN(3), Replicas: rng.IntN(5), Ordered: seed%4 != 3, RollingUpdate: rng.IntN(4) != 0,
				PartitionSet: true, MaxUnavailable: 1 + rng.IntN(2), CurrentRevision: "r0", UpdateRevision: "r0", Pods: map[int]PodState{},
			}
			for step := range 400 {
				calm := step >= 300
				plan := Decide(in)
				if in.Ordered {
					checkOrderedPlan(t, in, plan)
				}
				for _, a := range plan {
					switch a.Kind {
					case Create:
						in.Pods[a.Ordinal] = PodState{Revision: a.Revision}
					case Delete:
						p := in.Pods[a.Ordinal]
						p.Terminating = true
						in.Pods[a.Ordinal] = p
					}
				}
				// The world moves.
				for o, p := range in.Pods {
					switch {
					case p.Terminating && rng.IntN(3) == 0:
						delete(in.Pods, o)
					case !p.Terminating && !p.Failed && !p.Healthy && rng.IntN(3) == 0:
						p.Healthy = true
						in.Pods[o] = p
					case !calm && !p.Terminating && rng.IntN(60) == 0:
						p.Failed, p.Healthy = true, false
						in.Pods[o] = p
					}
				}
				if !calm && rng.IntN(25) == 0 {
					in.Replicas = rng.IntN(6)
				}
				if !calm && rng.IntN(40) == 0 {
					revs = append(revs, fmt.Sprintf("r%d", len(revs)))
					in.UpdateRevision = revs[len(revs)-1]
				}
				if !calm && rng.IntN(40) == 0 {
					in.Partition = rng.IntN(4)
				}
				if calm {
					in.Partition = 0
				}
			}
			// Converged: every ordinal present and healthy, nothing else.
			if len(in.Pods) != in.Replicas {
				t.Fatalf("not converged: %d pods for %d replicas: %+v", len(in.Pods), in.Replicas, in.Pods)
			}
			for o := in.Start; o < in.Start+in.Replicas; o++ {
				p, ok := in.Pods[o]
				if !ok || !p.Healthy || p.Terminating || (in.RollingUpdate && p.Revision != in.UpdateRevision) {
					t.Fatalf("not converged at ordinal %d: %+v (update %s)", o, p, in.UpdateRevision)
				}
			}
		})
	}
}

func checkOrderedPlan(t *testing.T, in Input, plan []Action) {
	t.Helper()
	if len(plan) > 1 {
		t.Fatalf("OrderedReady planned %d steps at once: %+v", len(plan), plan)
	}
	end := in.Start + in.Replicas
	for _, a := range plan {
		switch {
		case a.Kind == Create:
			for o := in.Start; o < a.Ordinal; o++ {
				if p, ok := in.Pods[o]; !ok || !p.Healthy || p.Terminating {
					t.Fatalf("created ordinal %d while %d is not Running and Ready (%+v)", a.Ordinal, o, in.Pods)
				}
			}
		case a.Reason == "scale-down":
			for o := range in.Pods {
				if o > a.Ordinal {
					t.Fatalf("deleted ordinal %d while higher ordinal %d still exists (%+v)", a.Ordinal, o, in.Pods)
				}
			}
			for o := in.Start; o < end; o++ {
				if p, ok := in.Pods[o]; !ok || !p.Healthy {
					t.Fatalf("scaled down %d while %d is not healthy (%+v)", a.Ordinal, o, in.Pods)
				}
			}
		case a.Reason == "update":
			if !in.RollingUpdate {
				t.Fatalf("OnDelete deleted pod %d for an update", a.Ordinal)
			}
			if a.Ordinal < in.Start+in.Partition {
				t.Fatalf("updated ordinal %d below partition %d", a.Ordinal, in.Partition)
			}
			for o := a.Ordinal + 1; o < end; o++ {
				if p := in.Pods[o]; p.Revision != in.UpdateRevision || !p.Healthy {
					t.Fatalf("updated ordinal %d before %d was updated and ready (%+v)", a.Ordinal, o, in.Pods)
				}
			}
		}
	}
}
