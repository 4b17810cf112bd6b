package deployment

import (
	"math/rand"
	"testing"

	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestResolveFenceposts(t *testing.T) {
	pct := func(s string) *intstr.IntOrString { v := intstr.FromString(s); return &v }
	num := func(n int) *intstr.IntOrString { v := intstr.FromInt32(int32(n)); return &v }
	tests := []struct {
		name                   string
		surge, unavailable     *intstr.IntOrString
		desired                int32
		wantSurge, wantUnavail int32
	}{
		{"defaults 25% of 10 round surge up, unavailable down", pct("25%"), pct("25%"), 10, 3, 2},
		{"both zero becomes one unavailable", num(0), num(0), 5, 0, 1},
		{"percent of zero replicas", pct("25%"), pct("25%"), 0, 0, 1},
		{"absolute numbers", num(2), num(1), 10, 2, 1},
		{"100% surge", pct("100%"), num(0), 3, 3, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, u, err := ResolveFenceposts(tt.surge, tt.unavailable, tt.desired)
			if err != nil {
				t.Fatal(err)
			}
			if s != tt.wantSurge || u != tt.wantUnavail {
				t.Errorf("surge, unavailable = %d, %d; want %d, %d", s, u, tt.wantSurge, tt.wantUnavail)
			}
		})
	}
	bad := intstr.FromString("ten")
	if _, _, err := ResolveFenceposts(&bad, nil, 3); err == nil {
		t.Error("a non-percentage string was accepted")
	}
}

func TestRollingStep(t *testing.T) {
	rs := func(replicas, available int32) RSState { return RSState{Replicas: replicas, Available: available} }
	tests := []struct {
		name                        string
		desired, surge, unavailable int32
		newRS                       RSState
		old                         []RSState
		wantNew                     int32
		wantOld                     []int32
	}{
		{"first step surges the new set", 10, 3, 2, rs(0, 0), []RSState{rs(10, 10)}, 3, []int32{10}},
		{"at the surge limit old pods go down by the unavailable budget", 10, 3, 2, rs(3, 0), []RSState{rs(10, 10)}, 3, []int32{8}},
		{"new pods available free more old ones", 10, 3, 2, rs(5, 5), []RSState{rs(8, 8)}, 5, []int32{3}},
		{"unhealthy old pods go first", 10, 0, 1, rs(0, 0), []RSState{rs(10, 6)}, 0, []int32{9}},
		{"no budget left: only the unhealthy pod goes", 10, 1, 1, rs(1, 0), []RSState{rs(10, 9)}, 1, []int32{9}},
		{"all healthy: the unavailable budget goes", 10, 1, 1, rs(1, 0), []RSState{rs(10, 10)}, 1, []int32{9}},
		{"budget spent: nothing goes", 10, 1, 1, rs(2, 0), []RSState{rs(9, 9)}, 2, []int32{9}},
		// The old set was just scaled 10→8 and its status still counts the
		// two pods being deleted: they must not be spent twice.
		{"stale old status is capped by its spec", 10, 2, 2, rs(4, 2), []RSState{rs(8, 10)}, 4, []int32{6}},
		{"new set above desired is cut to desired", 5, 1, 1, rs(7, 7), []RSState{rs(0, 0)}, 5, []int32{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gotNew, gotOld := RollingStep(tt.desired, tt.surge, tt.unavailable, tt.newRS, tt.old)
			if gotNew != tt.wantNew {
				t.Errorf("new replicas = %d, want %d", gotNew, tt.wantNew)
			}
			for i := range tt.wantOld {
				if gotOld[i] != tt.wantOld[i] {
					t.Errorf("old replicas = %v, want %v", gotOld, tt.wantOld)
					break
				}
			}
		})
	}
}

// A rollout driven only by RollingStep, against a world where pods become
// available at random moments and ReplicaSet statuses lag their specs by a
// random number of steps, never exceeds maxSurge, never leaves fewer than
// desired-maxUnavailable pods available, and finishes.
func TestRollingUpdatePropertiesHoldWithLaggingStatus(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for trial := 0; trial < 2000; trial++ {
		desired := int32(1 + rng.Intn(40))
		surge := int32(rng.Intn(int(desired) + 1))
		unavailable := int32(rng.Intn(int(desired) + 1))
		if surge == 0 && unavailable == 0 {
			unavailable = 1
		}
		oldSets := 1 + rng.Intn(3)
		// The world: spec replicas and truly available pods per set; the
		// controller sees statuses that may be a few steps old.
		type set struct{ spec, avail int32 }
		newSet := set{}
		old := make([]set, oldSets)
		remaining := desired
		for i := range old {
			n := remaining / int32(oldSets-i)
			if i == oldSets-1 {
				n = remaining
			}
			old[i] = set{n, n}
			remaining -= n
		}
		type snapshot struct {
			newAvail int32
			oldAvail []int32
		}
		var history []snapshot
		record := func() {
			s := snapshot{newAvail: newSet.avail, oldAvail: make([]int32, len(old))}
			for i, o := range old {
				s.oldAvail[i] = o.avail
			}
			history = append(history, s)
		}
		record()
		minAvailable := desired - unavailable
		for step := 0; ; step++ {
			if step > 10000 {
				t.Fatalf("trial %d (desired %d surge %d unavailable %d): rollout did not finish", trial, desired, surge, unavailable)
			}
			lag := rng.Intn(3)
			seen := history[max(len(history)-1-lag, 0)]
			newState := RSState{Replicas: newSet.spec, Available: min(seen.newAvail, newSet.spec)}
			oldStates := make([]RSState, len(old))
			for i, o := range old {
				oldStates[i] = RSState{Replicas: o.spec, Available: seen.oldAvail[i]}
			}
			newSpec, oldSpecs := RollingStep(desired, surge, unavailable, newState, oldStates)
			newSet.spec = newSpec
			total := newSpec
			for i := range old {
				old[i].spec = oldSpecs[i]
				// Scaling down deletes pods at once; they stop being available.
				old[i].avail = min(old[i].avail, old[i].spec)
				total += old[i].spec
			}
			if total > desired+surge {
				t.Fatalf("trial %d step %d: %d pods specified, more than desired %d + surge %d", trial, step, total, desired, surge)
			}
			available := newSet.avail
			for _, o := range old {
				available += o.avail
			}
			if available < minAvailable {
				t.Fatalf("trial %d step %d (desired %d surge %d unavailable %d, lag %d): %d available, fewer than %d", trial, step, desired, surge, unavailable, lag, available, minAvailable)
			}
			// Some of the new set's pods become available.
			if pending := newSet.spec - newSet.avail; pending > 0 {
				newSet.avail += int32(rng.Intn(int(pending) + 1))
			}
			record()
			done := newSet.spec == desired && newSet.avail == desired
			for _, o := range old {
				done = done && o.spec == 0
			}
			if done {
				break
			}
		}
	}
}
