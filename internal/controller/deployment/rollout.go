package deployment

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"
)

// RSState is a ReplicaSet as the rollout math sees it.
type RSState struct {
	Name    string
	Created time.Time
	// Replicas is spec.replicas; Available is status.availableReplicas.
	Replicas  int32
	Available int32
	// MaxReplicas is the deployment.kubernetes.io/max-replicas annotation
	// (replicas + maxSurge when the ReplicaSet was last sized), if set.
	MaxReplicas    int32
	HasMaxReplicas bool
}

// ScaledValue resolves an int-or-percent against total; percentages round
// up or down as asked.
func ScaledValue(v *intstr.IntOrString, total int32, roundUp bool) (int32, error) {
	if v == nil {
		return 0, nil
	}
	if v.Type == intstr.Int {
		return v.IntVal, nil
	}
	s := v.StrVal
	if !strings.HasSuffix(s, "%") {
		return 0, fmt.Errorf("invalid value %q: must be an integer or a percentage", s)
	}
	pct, err := strconv.Atoi(strings.TrimSuffix(s, "%"))
	if err != nil {
		return 0, fmt.Errorf("invalid value %q: %w", s, err)
	}
	f := float64(pct) * float64(total) / 100
	if roundUp {
		return int32(math.Ceil(f)), nil
	}
	return int32(math.Floor(f)), nil
}

// ResolveFenceposts turns maxSurge and maxUnavailable into pod counts the
// way Kubernetes does: surge rounds up, unavailability rounds down, and
// if both come out zero one pod may be unavailable so the rollout can
// move at all.
func ResolveFenceposts(maxSurge, maxUnavailable *intstr.IntOrString, desired int32) (surge, unavailable int32, err error) {
	if surge, err = ScaledValue(maxSurge, desired, true); err != nil {
		return 0, 0, fmt.Errorf("maxSurge: %w", err)
	}
	if unavailable, err = ScaledValue(maxUnavailable, desired, false); err != nil {
		return 0, 0, fmt.Errorf("maxUnavailable: %w", err)
	}
	if surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	return surge, unavailable, nil
}

func sum(rss []RSState, f func(RSState) int32) int32 {
	var n int32
	for _, r := range rss {
		n += f(r)
	}
	return n
}

func replicasOf(r RSState) int32 { return r.Replicas }

// NewRSReplicas is the size a rolling update may give the new ReplicaSet
// now: as many more pods as maxSurge leaves room for over all
// ReplicaSets, never beyond desired.
func NewRSReplicas(desired, surge int32, newRS RSState, old []RSState) int32 {
	current := newRS.Replicas + sum(old, replicasOf)
	maxTotal := desired + surge
	if current >= maxTotal {
		return newRS.Replicas
	}
	up := min(maxTotal-current, desired-newRS.Replicas)
	return newRS.Replicas + max(up, 0)
}

// ScaleDownOld is the sizes of the old ReplicaSets (ordered oldest first)
// after one rolling-update step: first drop their unavailable pods, then
// as many available ones as keeps desired-unavailable pods available
// counting the new ReplicaSet's.
func ScaleDownOld(desired, unavailable int32, newRS RSState, old []RSState) []int32 {
	out := make([]int32, len(old))
	for i, r := range old {
		out[i] = r.Replicas
	}
	oldPods := sum(old, replicasOf)
	if oldPods == 0 {
		return out
	}
	minAvailable := desired - unavailable
	newUnavailable := newRS.Replicas - newRS.Available
	maxScaledDown := newRS.Replicas + oldPods - minAvailable - newUnavailable
	if maxScaledDown <= 0 {
		return out
	}
	// Unavailable old pods go first: they cost nothing in availability.
	var cleaned int32
	for i, r := range old {
		if cleaned >= maxScaledDown {
			break
		}
		unhealthy := r.Replicas - r.Available
		if r.Replicas == 0 || unhealthy <= 0 {
			continue
		}
		down := min(maxScaledDown-cleaned, unhealthy)
		out[i] -= down
		cleaned += down
	}
	// An old ReplicaSet's status lags its spec: right after it was scaled
	// down its status still counts the pods being deleted. Counting more
	// available pods than it is meant to keep would let the next sync scale
	// down again and exceed maxUnavailable, so its spec caps it.
	available := newRS.Available + sum(old, func(r RSState) int32 { return min(r.Available, r.Replicas) })
	if available <= minAvailable {
		return out
	}
	budget := available - minAvailable
	var scaled int32
	for i := range old {
		if scaled >= budget {
			break
		}
		if out[i] == 0 {
			continue
		}
		down := min(out[i], budget-scaled)
		out[i] -= down
		scaled += down
	}
	return out
}

// RollingStep is one reconcile of a rolling update: the new ReplicaSet's
// size and the old ones' (oldest first). Like Kubernetes it either grows
// (or trims) the new ReplicaSet or shrinks old ones, never both at once,
// so each change is observed before the next is decided.
func RollingStep(desired, surge, unavailable int32, newRS RSState, old []RSState) (int32, []int32) {
	keep := make([]int32, len(old))
	for i, r := range old {
		keep[i] = r.Replicas
	}
	if newRS.Replicas > desired {
		return desired, keep
	}
	if n := NewRSReplicas(desired, surge, newRS, old); n != newRS.Replicas {
		return n, keep
	}
	return newRS.Replicas, ScaleDownOld(desired, unavailable, newRS, old)
}

// ProportionalSizes spreads a change of spec.replicas in the middle of a
// rolling update over the active ReplicaSets in proportion to their
// sizes, as Kubernetes does: each gets its share of the new
// replicas+maxSurge relative to the max-replicas it was sized for
// (statusReplicas when unannotated), and rounding leftovers go to the
// largest. Sizes come back in the order of active.
func ProportionalSizes(desired, surge, statusReplicas int32, active []RSState) []int32 {
	allowed := int32(0)
	if desired > 0 {
		allowed = desired + surge
	}
	toAdd := allowed - sum(active, replicasOf)
	idx := make([]int, len(active))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		x, y := active[idx[a]], active[idx[b]]
		if x.Replicas != y.Replicas {
			return x.Replicas > y.Replicas
		}
		if toAdd > 0 {
			// Growing: on a tie the newer ReplicaSet gets the leftover.
			return x.Created.After(y.Created)
		}
		return x.Created.Before(y.Created)
	})
	sizes := make([]int32, len(active))
	var added int32
	for _, i := range idx {
		r := active[i]
		sizes[i] = r.Replicas
		if toAdd == 0 || r.Replicas == 0 || toAdd == added {
			continue
		}
		var fraction int32
		if desired == 0 {
			fraction = -r.Replicas
		} else {
			annotated := statusReplicas
			if r.HasMaxReplicas {
				annotated = r.MaxReplicas
			}
			if annotated > 0 {
				fraction = int32(math.Round(float64(r.Replicas)*float64(desired+surge)/float64(annotated))) - r.Replicas
			}
		}
		left := toAdd - added
		var p int32
		if toAdd > 0 {
			p = min(fraction, left)
		} else {
			p = max(fraction, left)
		}
		sizes[i] += p
		added += p
	}
	if len(idx) > 0 && toAdd != 0 {
		first := idx[0]
		sizes[first] = max(sizes[first]+toAdd-added, 0)
	}
	return sizes
}
