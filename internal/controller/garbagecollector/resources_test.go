package garbagecollector

import (
	"errors"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestBuildResourceMap(t *testing.T) {
	all := metav1.Verbs{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
	groups := []*metav1.APIGroup{
		{Name: "", PreferredVersion: metav1.GroupVersionForDiscovery{Version: "v1"}},
		{Name: "apps", PreferredVersion: metav1.GroupVersionForDiscovery{Version: "v1"}},
		{Name: "events.k8s.io", PreferredVersion: metav1.GroupVersionForDiscovery{Version: "v1"}},
		{Name: "example.com", PreferredVersion: metav1.GroupVersionForDiscovery{Version: "v2"}},
	}
	lists := []*metav1.APIResourceList{
		{GroupVersion: "v1", APIResources: []metav1.APIResource{
			{Name: "configmaps", Kind: "ConfigMap", Namespaced: true, Verbs: all},
			{Name: "namespaces", Kind: "Namespace", Verbs: all},
			{Name: "pods", Kind: "Pod", Namespaced: true, Verbs: all},
			{Name: "pods/status", Kind: "Pod", Namespaced: true, Verbs: metav1.Verbs{"get", "patch", "update"}},
			{Name: "bindings", Kind: "Binding", Namespaced: true, Verbs: metav1.Verbs{"create"}},
			{Name: "events", Kind: "Event", Namespaced: true, Verbs: all},
		}},
		{GroupVersion: "apps/v1", APIResources: []metav1.APIResource{
			{Name: "deployments", Kind: "Deployment", Namespaced: true, Verbs: all},
		}},
		{GroupVersion: "events.k8s.io/v1", APIResources: []metav1.APIResource{
			{Name: "events", Kind: "Event", Namespaced: true, Verbs: all},
		}},
		// Two versions of one group: only the preferred one is watched,
		// and references to either resolve.
		{GroupVersion: "example.com/v1", APIResources: []metav1.APIResource{
			{Name: "widgets", Kind: "Widget", Namespaced: true, Verbs: all},
		}},
		{GroupVersion: "example.com/v2", APIResources: []metav1.APIResource{
			{Name: "widgets", Kind: "Widget", Namespaced: true, Verbs: all},
		}},
		nil,
	}
	m := buildResourceMap(groups, lists)

	var watched []string
	for gvr := range m.collectable {
		watched = append(watched, gvr.String())
	}
	slices.Sort(watched)
	want := []string{"/v1, Resource=configmaps", "/v1, Resource=namespaces", "/v1, Resource=pods", "apps/v1, Resource=deployments", "example.com/v2, Resource=widgets"}
	if !slices.Equal(watched, want) {
		t.Errorf("collectable = %v, want %v", watched, want)
	}

	for _, tc := range []struct {
		apiVersion, kind string
		want             schema.GroupVersionResource
		namespaced       bool
		unknown          bool
	}{
		{"v1", "ConfigMap", schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, true, false},
		{"v1", "Namespace", schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}, false, false},
		{"apps/v1", "Deployment", schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, true, false},
		// A version no longer served resolves through the group.
		{"apps/v1beta1", "Deployment", schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, true, false},
		{"example.com/v1", "Widget", schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}, true, false},
		{"example.com/v3", "Widget", schema.GroupVersionResource{Group: "example.com", Version: "v2", Resource: "widgets"}, true, false},
		{"example.com/v1", "Gadget", schema.GroupVersionResource{}, false, true},
	} {
		info, err := m.lookup(tc.apiVersion, tc.kind)
		var unknown *unknownKindError
		if tc.unknown {
			if !errors.As(err, &unknown) {
				t.Errorf("lookup(%s, %s) err = %v, want unknown kind", tc.apiVersion, tc.kind, err)
			}
			continue
		}
		if err != nil || info.Resource != tc.want || info.Namespaced != tc.namespaced {
			t.Errorf("lookup(%s, %s) = %+v, %v; want %v namespaced=%v", tc.apiVersion, tc.kind, info, err, tc.want, tc.namespaced)
		}
	}
	if _, err := m.lookup("a/b/c", "X"); err == nil {
		t.Error("lookup of a malformed apiVersion succeeded")
	}
}
