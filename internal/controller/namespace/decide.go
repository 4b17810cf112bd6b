package namespace

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// target is one namespaced resource the controller empties.
type target struct {
	Resource schema.GroupVersionResource
	// Collection is true when the resource serves deletecollection; the
	// others are listed and deleted one object at a time.
	Collection bool
}

// deletionTargets picks, from the preferred namespaced resources discovery
// reports, those the controller can list and delete: subresources and
// resources without list, or without both delete and deletecollection, are
// left out. Group versions that do not parse are returned as errors. The
// result is sorted by group and resource so every pass runs in one order.
func deletionTargets(lists []*metav1.APIResourceList) ([]target, []error) {
	var out []target
	var errs []error
	seen := map[schema.GroupVersionResource]bool{}
	for _, l := range lists {
		if l == nil {
			continue
		}
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			errs = append(errs, fmt.Errorf("parse group version %q: %w", l.GroupVersion, err))
			continue
		}
		for _, r := range l.APIResources {
			if !r.Namespaced || strings.Contains(r.Name, "/") {
				continue
			}
			verbs := r.Verbs
			if !slices.Contains(verbs, "list") {
				continue
			}
			collection := slices.Contains(verbs, "deletecollection")
			if !collection && !slices.Contains(verbs, "delete") {
				continue
			}
			gvr := gv.WithResource(r.Name)
			// Discovery may name a resource's group and version on the
			// resource itself (aggregated discovery does not, but be exact).
			if r.Group != "" || r.Version != "" {
				gvr = schema.GroupVersionResource{Group: orDefault(r.Group, gv.Group), Version: orDefault(r.Version, gv.Version), Resource: r.Name}
			}
			if seen[gvr] {
				continue
			}
			seen[gvr] = true
			out = append(out, target{Resource: gvr, Collection: collection})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Resource, out[j].Resource
		if a.Group != b.Group {
			return a.Group < b.Group
		}
		return a.Resource < b.Resource
	})
	return out, errs
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// deletionStatus is what one pass over a namespace's content found.
type deletionStatus struct {
	DiscoveryErr     error
	GroupVersionErrs []error
	ContentErrs      []error
	// Remaining counts the objects still present, by resource.
	Remaining map[schema.GroupResource]int
	// Finalizers counts the remaining objects that carry each finalizer.
	Finalizers map[string]int
}

// done reports whether the namespace is empty and every step succeeded,
// so the "kubernetes" finalizer may go.
func (s deletionStatus) done() bool {
	return s.DiscoveryErr == nil && len(s.GroupVersionErrs) == 0 && len(s.ContentErrs) == 0 && len(s.Remaining) == 0
}

// managedConditions are the namespace conditions this controller owns, in
// the order Kubernetes' namespace controller writes them.
var managedConditions = []corev1.NamespaceConditionType{
	corev1.NamespaceDeletionDiscoveryFailure,
	corev1.NamespaceDeletionGVParsingFailure,
	corev1.NamespaceDeletionContentFailure,
	corev1.NamespaceContentRemaining,
	corev1.NamespaceFinalizersRemaining,
}

var okConditions = map[corev1.NamespaceConditionType][2]string{ // reason, message
	corev1.NamespaceDeletionDiscoveryFailure: {"ResourcesDiscovered", "All resources successfully discovered"},
	corev1.NamespaceDeletionGVParsingFailure: {"ParsedGroupVersions", "All legacy kube types successfully parsed"},
	corev1.NamespaceDeletionContentFailure:   {"ContentDeleted", "All content successfully deleted, may be waiting on finalization"},
	corev1.NamespaceContentRemaining:         {"ContentRemoved", "All content successfully removed"},
	corev1.NamespaceFinalizersRemaining:      {"ContentHasNoFinalizers", "All content-preserving finalizers finished"},
}

// namespaceConditions returns the namespace's conditions after a pass that
// found st: each managed condition is True with the failure's reason and
// message, or False with the all-clear one, as in Kubernetes. A condition's
// lastTransitionTime moves to now only when its status changes; conditions
// the controller does not own are kept, first, as they were.
func namespaceConditions(old []corev1.NamespaceCondition, st deletionStatus, now metav1.Time) []corev1.NamespaceCondition {
	failing := map[corev1.NamespaceConditionType][2]string{}
	if st.DiscoveryErr != nil {
		failing[corev1.NamespaceDeletionDiscoveryFailure] = [2]string{"DiscoveryFailed", fmt.Sprintf("Discovery failed for some groups: %v", st.DiscoveryErr)}
	}
	if len(st.GroupVersionErrs) > 0 {
		failing[corev1.NamespaceDeletionGVParsingFailure] = [2]string{"GroupVersionParsingFailed", fmt.Sprintf("Failed to parse some group versions, %d failing: %s", len(st.GroupVersionErrs), joinErrs(st.GroupVersionErrs))}
	}
	if len(st.ContentErrs) > 0 {
		failing[corev1.NamespaceDeletionContentFailure] = [2]string{"ContentDeletionFailed", fmt.Sprintf("Failed to delete all resource types, %d remaining: %s", len(st.ContentErrs), joinErrs(st.ContentErrs))}
	}
	if len(st.Remaining) > 0 {
		var parts []string
		for gr, n := range st.Remaining {
			parts = append(parts, fmt.Sprintf("%s.%s has %d resource instances", gr.Resource, gr.Group, n))
		}
		sort.Strings(parts)
		failing[corev1.NamespaceContentRemaining] = [2]string{"SomeResourcesRemain", "Some resources are remaining: " + strings.Join(parts, ", ")}
	}
	if len(st.Finalizers) > 0 {
		var parts []string
		for f, n := range st.Finalizers {
			parts = append(parts, fmt.Sprintf("%s in %d resource instances", f, n))
		}
		sort.Strings(parts)
		failing[corev1.NamespaceFinalizersRemaining] = [2]string{"SomeFinalizersRemain", "Some content in the namespace has finalizers remaining: " + strings.Join(parts, ", ")}
	}

	byType := map[corev1.NamespaceConditionType]corev1.NamespaceCondition{}
	var out []corev1.NamespaceCondition
	for _, c := range old {
		if slices.Contains(managedConditions, c.Type) {
			byType[c.Type] = c
			continue
		}
		out = append(out, c)
	}
	for _, t := range managedConditions {
		c := corev1.NamespaceCondition{Type: t, Status: corev1.ConditionFalse, Reason: okConditions[t][0], Message: okConditions[t][1]}
		if f, ok := failing[t]; ok {
			c.Status, c.Reason, c.Message = corev1.ConditionTrue, f[0], f[1]
		}
		c.LastTransitionTime = now
		if prev, ok := byType[t]; ok && prev.Status == c.Status {
			c.LastTransitionTime = prev.LastTransitionTime
		}
		out = append(out, c)
	}
	return out
}

func joinErrs(errs []error) string {
	s := make([]string, len(errs))
	for i, e := range errs {
		s[i] = e.Error()
	}
	sort.Strings(s)
	return strings.Join(s, "; ")
}

// withoutFinalizer returns list without f.
func withoutFinalizer(list []corev1.FinalizerName, f corev1.FinalizerName) []corev1.FinalizerName {
	var out []corev1.FinalizerName
	for _, x := range list {
		if x != f {
			out = append(out, x)
		}
	}
	return out
}
