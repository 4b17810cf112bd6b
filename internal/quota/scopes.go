package quota

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Matches reports whether quota applies to obj, an object of gr, at
// admission: the quota must track something of gr in status.hard (what
// its controller has acknowledged; a quota it has not processed yet
// applies to nothing, as in Kubernetes) and every scope must match.
func Matches(q *corev1.ResourceQuota, gr schema.GroupResource, obj runtime.Object) bool {
	return len(MatchingResources(gr, names(q.Status.Hard))) > 0 && ScopesMatch(q, gr, obj)
}

// ScopesMatch reports whether obj falls within every scope of q, from
// spec.scopes and spec.scopeSelector alike. A quota without scopes takes
// everything. Scopes describe pods (and VolumeAttributesClass PVCs): any
// scope excludes every other kind.
func ScopesMatch(q *corev1.ResourceQuota, gr schema.GroupResource, obj runtime.Object) bool {
	for _, sel := range scopeSelectors(q) {
		if !scopeMatches(sel, gr, obj) {
			return false
		}
	}
	return true
}

// scopeSelectors lists spec.scopes as Exists requirements followed by
// spec.scopeSelector's expressions.
func scopeSelectors(q *corev1.ResourceQuota) []corev1.ScopedResourceSelectorRequirement {
	var out []corev1.ScopedResourceSelectorRequirement
	for _, s := range q.Spec.Scopes {
		out = append(out, corev1.ScopedResourceSelectorRequirement{ScopeName: s, Operator: corev1.ScopeSelectorOpExists})
	}
	if q.Spec.ScopeSelector != nil {
		out = append(out, q.Spec.ScopeSelector.MatchExpressions...)
	}
	return out
}

func scopeMatches(sel corev1.ScopedResourceSelectorRequirement, gr schema.GroupResource, obj runtime.Object) bool {
	switch gr {
	case Pods:
		pod, ok := obj.(*corev1.Pod)
		if !ok {
			return false
		}
		switch sel.ScopeName {
		case corev1.ResourceQuotaScopeTerminating:
			return isTerminating(pod)
		case corev1.ResourceQuotaScopeNotTerminating:
			return !isTerminating(pod)
		case corev1.ResourceQuotaScopeBestEffort:
			return isBestEffort(pod)
		case corev1.ResourceQuotaScopeNotBestEffort:
			return !isBestEffort(pod)
		case corev1.ResourceQuotaScopePriorityClass:
			var values []string
			if pod.Spec.PriorityClassName != "" {
				values = []string{pod.Spec.PriorityClassName}
			}
			return selectorMatches(sel, values)
		case corev1.ResourceQuotaScopeCrossNamespacePodAffinity:
			return usesCrossNamespaceAffinity(pod)
		}
	case PersistentVolumeClaims:
		pvc, ok := obj.(*corev1.PersistentVolumeClaim)
		if ok && sel.ScopeName == corev1.ResourceQuotaScopeVolumeAttributesClass {
			return selectorMatches(sel, volumeAttributesClasses(pvc))
		}
	}
	return false
}

// selectorMatches applies one scope selector requirement to the values an
// object has for that scope (none, one, or for PVCs up to three class
// names), with label selector semantics: NotIn and DoesNotExist match an
// object without a value; an object matches In/NotIn through any value.
func selectorMatches(sel corev1.ScopedResourceSelectorRequirement, values []string) bool {
	switch sel.Operator {
	case corev1.ScopeSelectorOpExists:
		return len(values) > 0
	case corev1.ScopeSelectorOpDoesNotExist:
		return len(values) == 0
	case corev1.ScopeSelectorOpIn:
		for _, v := range values {
			if containsString(sel.Values, v) {
				return true
			}
		}
		return false
	case corev1.ScopeSelectorOpNotIn:
		if len(values) == 0 {
			return true
		}
		for _, v := range values {
			if !containsString(sel.Values, v) {
				return true
			}
		}
		return false
	}
	return false
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// isTerminating: a pod with activeDeadlineSeconds ends on its own.
func isTerminating(pod *corev1.Pod) bool {
	return pod.Spec.ActiveDeadlineSeconds != nil && *pod.Spec.ActiveDeadlineSeconds >= 0
}

// isBestEffort reports the BestEffort QoS class: no container, init
// container or the pod itself requests or limits CPU or memory. A class
// already recorded in status wins (it never changes for a pod).
func isBestEffort(pod *corev1.Pod) bool {
	if pod.Status.QOSClass != "" {
		return pod.Status.QOSClass == corev1.PodQOSBestEffort
	}
	lists := make([]corev1.ResourceList, 0, 2*(len(pod.Spec.Containers)+len(pod.Spec.InitContainers)+1))
	for _, cs := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range cs {
			lists = append(lists, cs[i].Resources.Requests, cs[i].Resources.Limits)
		}
	}
	if pod.Spec.Resources != nil {
		lists = append(lists, pod.Spec.Resources.Requests, pod.Spec.Resources.Limits)
	}
	for _, l := range lists {
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if v, ok := l[name]; ok && v.Sign() > 0 {
				return false
			}
		}
	}
	return true
}

func usesCrossNamespaceAffinity(pod *corev1.Pod) bool {
	a := pod.Spec.Affinity
	if a == nil {
		return false
	}
	cross := func(t *corev1.PodAffinityTerm) bool { return len(t.Namespaces) > 0 || t.NamespaceSelector != nil }
	check := func(req []corev1.PodAffinityTerm, pref []corev1.WeightedPodAffinityTerm) bool {
		for i := range req {
			if cross(&req[i]) {
				return true
			}
		}
		for i := range pref {
			if cross(&pref[i].PodAffinityTerm) {
				return true
			}
		}
		return false
	}
	if a.PodAffinity != nil && check(a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution, a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution) {
		return true
	}
	return a.PodAntiAffinity != nil && check(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution, a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution)
}

// volumeAttributesClasses are the classes a PVC is, was or is becoming.
func volumeAttributesClasses(pvc *corev1.PersistentVolumeClaim) []string {
	set := map[string]bool{}
	if n := pvc.Spec.VolumeAttributesClassName; n != nil && *n != "" {
		set[*n] = true
	}
	if n := pvc.Status.CurrentVolumeAttributesClassName; n != nil && *n != "" {
		set[*n] = true
	}
	if m := pvc.Status.ModifyVolumeStatus; m != nil && m.TargetVolumeAttributesClassName != "" {
		set[m.TargetVolumeAttributesClassName] = true
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// scopeFingerprint summarises what scopes see of an object, so that an
// update that moves it in or out of a scope is noticed.
func scopeFingerprint(gr schema.GroupResource, obj runtime.Object) string {
	switch o := obj.(type) {
	case *corev1.Pod:
		if gr == Pods {
			return fmt.Sprintf("%t/%t/%s/%t", isTerminating(o), isBestEffort(o), o.Spec.PriorityClassName, usesCrossNamespaceAffinity(o))
		}
	case *corev1.PersistentVolumeClaim:
		if gr == PersistentVolumeClaims {
			return strings.Join(volumeAttributesClasses(o), ",")
		}
	}
	return ""
}
