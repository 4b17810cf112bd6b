// Package quota owns the arithmetic of ResourceQuota, as Kubernetes
// defines it: what one object counts against a quota (Usage), which
// quotas and scopes apply to it (Matches), whether a request fits
// (Check, Constraints, Admit: the admission decision, with Kubernetes'
// exact refusal messages), and the status.used a quota should report
// given the objects of its namespace (Used). It does no I/O: the API
// server's admission and the resourcequota controller feed it objects.
//
// Any package may import it.
package quota

import (
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Tracked keeps the entries of usage that quota q limits in spec.hard.
func Tracked(q *corev1.ResourceQuota, usage corev1.ResourceList) corev1.ResourceList {
	return mask(usage, names(q.Spec.Hard))
}

// Used computes the status.used quota q should report at time now from
// objects, every object of its namespace of each kind the caller knows,
// by kind (a kind present with no objects counts zero). Each resource of
// spec.hard that one of those kinds uses gets its total over the objects
// within q's scopes; a resource none of them uses keeps its previous
// value, if any (someone else counts it: admission's charges). Resources
// not in spec.hard are dropped.
func Used(q *corev1.ResourceQuota, objects map[schema.GroupResource][]runtime.Object, now time.Time) corev1.ResourceList {
	hard := names(q.Spec.Hard)
	computed := corev1.ResourceList{}
	grs := make([]schema.GroupResource, 0, len(objects))
	for gr := range objects {
		grs = append(grs, gr)
	}
	sort.Slice(grs, func(i, j int) bool { return grs[i].String() < grs[j].String() })
	for _, gr := range grs {
		tracked := MatchingResources(gr, hard)
		if len(tracked) == 0 {
			continue
		}
		sum := corev1.ResourceList{}
		for _, name := range tracked {
			sum[name] = zero()
		}
		for _, obj := range objects[gr] {
			if ScopesMatch(q, gr, obj) {
				sum = add(sum, mask(UsageAt(gr, obj, now), tracked))
			}
		}
		computed = add(computed, sum)
	}
	out := mask(q.Status.Used, hard)
	for name, v := range computed {
		out[name] = v
	}
	return out
}

// UsageChanged reports whether an update of an object of gr from old to
// cur can change any quota's usage: what it uses, or which scopes it is
// in.
func UsageChanged(gr schema.GroupResource, old, cur runtime.Object, now time.Time) bool {
	return !Equal(UsageAt(gr, old, now), UsageAt(gr, cur, now)) || scopeFingerprint(gr, old) != scopeFingerprint(gr, cur)
}
