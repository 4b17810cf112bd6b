package garbagecollector

import (
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// resourceInfo is one served resource as discovery describes it.
type resourceInfo struct {
	Resource   schema.GroupVersionResource
	Kind       string
	Namespaced bool
}

// resourceMap resolves ownerReferences (apiVersion, kind) to resources
// and lists what the collector watches.
type resourceMap struct {
	byGVK map[schema.GroupVersionKind]resourceInfo
	// byGK holds the group's preferred version: references may name a
	// version the server no longer serves.
	byGK map[schema.GroupKind]resourceInfo
	// collectable are the resources to watch: every listable, watchable
	// and deletable resource once, at its group's preferred version.
	collectable map[schema.GroupVersionResource]resourceInfo
}

// ignoredResources are never watched: Events are many and short-lived,
// and Kubernetes' collector ignores them too.
var ignoredResources = map[schema.GroupResource]bool{
	{Group: "", Resource: "events"}:              true,
	{Group: "events.k8s.io", Resource: "events"}: true,
}

// buildResourceMap indexes what discovery returned. Groups or versions
// that failed discovery are simply missing.
func buildResourceMap(groups []*metav1.APIGroup, lists []*metav1.APIResourceList) *resourceMap {
	preferred := map[string]string{}
	for _, g := range groups {
		if g != nil {
			preferred[g.Name] = g.PreferredVersion.Version
		}
	}
	m := &resourceMap{
		byGVK:       map[schema.GroupVersionKind]resourceInfo{},
		byGK:        map[schema.GroupKind]resourceInfo{},
		collectable: map[schema.GroupVersionResource]resourceInfo{},
	}
	collectableGR := map[schema.GroupResource]schema.GroupVersionResource{}
	for _, list := range lists {
		if list == nil {
			continue
		}
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		if err != nil {
			continue
		}
		isPreferred := preferred[gv.Group] == gv.Version
		for _, r := range list.APIResources {
			if r.Name == "" || strings.Contains(r.Name, "/") {
				continue
			}
			info := resourceInfo{Resource: gv.WithResource(r.Name), Kind: r.Kind, Namespaced: r.Namespaced}
			m.byGVK[gv.WithKind(r.Kind)] = info
			gk := schema.GroupKind{Group: gv.Group, Kind: r.Kind}
			if _, ok := m.byGK[gk]; !ok || isPreferred {
				m.byGK[gk] = info
			}
			gr := info.Resource.GroupResource()
			if ignoredResources[gr] || !hasVerbs(r.Verbs, "list", "watch", "delete") {
				continue
			}
			if prev, ok := collectableGR[gr]; ok {
				if !isPreferred {
					continue
				}
				delete(m.collectable, prev)
			}
			collectableGR[gr] = info.Resource
			m.collectable[info.Resource] = info
		}
	}
	return m
}

// lookup resolves an ownerReference's apiVersion and kind.
func (m *resourceMap) lookup(apiVersion, kind string) (resourceInfo, error) {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return resourceInfo{}, fmt.Errorf("parse apiVersion %q: %w", apiVersion, err)
	}
	if info, ok := m.byGVK[gv.WithKind(kind)]; ok {
		return info, nil
	}
	if info, ok := m.byGK[schema.GroupKind{Group: gv.Group, Kind: kind}]; ok {
		return info, nil
	}
	return resourceInfo{}, &unknownKindError{APIVersion: apiVersion, Kind: kind}
}

// unknownKindError: discovery does not (yet) know the kind an
// ownerReference names.
type unknownKindError struct{ APIVersion, Kind string }

func (e *unknownKindError) Error() string {
	return fmt.Sprintf("no resource serves kind %s in %s", e.Kind, e.APIVersion)
}

func hasVerbs(have metav1.Verbs, want ...string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}
