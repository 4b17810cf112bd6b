package namespace

import (
	"errors"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/diff"
)

func res(name string, namespaced bool, verbs ...string) metav1.APIResource {
	return metav1.APIResource{Name: name, Namespaced: namespaced, Verbs: verbs}
}

var all = []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}

func TestDeletionTargets(t *testing.T) {
	gvr := func(g, v, r string) schema.GroupVersionResource {
		return schema.GroupVersionResource{Group: g, Version: v, Resource: r}
	}
	tests := []struct {
		name    string
		lists   []*metav1.APIResourceList
		want    []target
		wantErr int
	}{
		{name: "nothing", lists: nil, want: nil},
		{
			name: "collection, single deletes, subresources and cluster-scoped",
			lists: []*metav1.APIResourceList{
				{GroupVersion: "v1", APIResources: []metav1.APIResource{
					res("pods", true, all...),
					res("pods/status", true, "get", "update"),
					res("namespaces", false, all...),
					res("services", true, "create", "delete", "get", "list", "patch", "update", "watch"),
					res("bindings", true, "create"),
					res("events", true, all...),
				}},
				{GroupVersion: "apps/v1", APIResources: []metav1.APIResource{
					res("deployments", true, all...),
					res("deployments/scale", true, "get", "update"),
				}},
			},
			want: []target{
				{Resource: gvr("", "v1", "events"), Collection: true},
				{Resource: gvr("", "v1", "pods"), Collection: true},
				{Resource: gvr("", "v1", "services")},
				{Resource: gvr("apps", "v1", "deployments"), Collection: true},
			},
		},
		{
			name: "no list or no delete verb is skipped",
			lists: []*metav1.APIResourceList{{GroupVersion: "authorization.k8s.io/v1", APIResources: []metav1.APIResource{
				res("localsubjectaccessreviews", true, "create"),
				res("readonly", true, "get", "list", "watch"),
				res("deleteonly", true, "delete", "deletecollection"),
			}}},
			want: nil,
		},
		{
			name: "unparseable group version is an error, the rest still counts",
			lists: []*metav1.APIResourceList{
				{GroupVersion: "a/b/c", APIResources: []metav1.APIResource{res("things", true, all...)}},
				{GroupVersion: "batch/v1", APIResources: []metav1.APIResource{res("jobs", true, all...)}},
			},
			want:    []target{{Resource: gvr("batch", "v1", "jobs"), Collection: true}},
			wantErr: 1,
		},
		{
			name: "duplicates and nil lists are ignored",
			lists: []*metav1.APIResourceList{
				nil,
				{GroupVersion: "v1", APIResources: []metav1.APIResource{res("configmaps", true, all...)}},
				{GroupVersion: "v1", APIResources: []metav1.APIResource{res("configmaps", true, all...)}},
			},
			want: []target{{Resource: gvr("", "v1", "configmaps"), Collection: true}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := deletionTargets(tt.lists)
			if !reflect.DeepEqual(tt.want, got) {
				t.Errorf("targets want (left) vs got (right):\n%s", diff.ObjectGoPrintSideBySide(tt.want, got))
			}
			if len(errs) != tt.wantErr {
				t.Errorf("errors = %v, want %d", errs, tt.wantErr)
			}
		})
	}
}

func TestNamespaceConditions(t *testing.T) {
	earlier := metav1.NewTime(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	now := metav1.NewTime(time.Date(2025, 1, 1, 0, 1, 0, 0, time.UTC))
	cond := func(typ corev1.NamespaceConditionType, status corev1.ConditionStatus, reason, msg string, at metav1.Time) corev1.NamespaceCondition {
		return corev1.NamespaceCondition{Type: typ, Status: status, Reason: reason, Message: msg, LastTransitionTime: at}
	}
	allClear := func(at metav1.Time) []corev1.NamespaceCondition {
		return []corev1.NamespaceCondition{
			cond(corev1.NamespaceDeletionDiscoveryFailure, corev1.ConditionFalse, "ResourcesDiscovered", "All resources successfully discovered", at),
			cond(corev1.NamespaceDeletionGVParsingFailure, corev1.ConditionFalse, "ParsedGroupVersions", "All legacy kube types successfully parsed", at),
			cond(corev1.NamespaceDeletionContentFailure, corev1.ConditionFalse, "ContentDeleted", "All content successfully deleted, may be waiting on finalization", at),
			cond(corev1.NamespaceContentRemaining, corev1.ConditionFalse, "ContentRemoved", "All content successfully removed", at),
			cond(corev1.NamespaceFinalizersRemaining, corev1.ConditionFalse, "ContentHasNoFinalizers", "All content-preserving finalizers finished", at),
		}
	}
	remaining := deletionStatus{
		Remaining:  map[schema.GroupResource]int{{Resource: "pods"}: 2, {Group: "apps", Resource: "deployments"}: 1},
		Finalizers: map[string]int{"example.com/hold": 2},
	}
	remainingConds := func(at, changedAt metav1.Time) []corev1.NamespaceCondition {
		c := allClear(at)
		c[3] = cond(corev1.NamespaceContentRemaining, corev1.ConditionTrue, "SomeResourcesRemain", "Some resources are remaining: deployments.apps has 1 resource instances, pods. has 2 resource instances", changedAt)
		c[4] = cond(corev1.NamespaceFinalizersRemaining, corev1.ConditionTrue, "SomeFinalizersRemain", "Some content in the namespace has finalizers remaining: example.com/hold in 2 resource instances", changedAt)
		return c
	}
	foreign := corev1.NamespaceCondition{Type: "example.com/Other", Status: corev1.ConditionTrue, Reason: "X", LastTransitionTime: earlier}

	tests := []struct {
		name string
		old  []corev1.NamespaceCondition
		st   deletionStatus
		want []corev1.NamespaceCondition
	}{
		{name: "first pass, all clear", st: deletionStatus{}, want: allClear(now)},
		{name: "unchanged status keeps transition times", old: allClear(earlier), st: deletionStatus{}, want: allClear(earlier)},
		{name: "content remaining flips two conditions", old: allClear(earlier), st: remaining, want: remainingConds(earlier, now)},
		{name: "content gone flips them back", old: remainingConds(earlier, earlier), st: deletionStatus{}, want: append(allClear(earlier)[:3:3], allClear(now)[3:]...)},
		{
			name: "failures",
			st: deletionStatus{
				DiscoveryErr:     errors.New("unable to retrieve the complete list of server APIs: metrics.k8s.io/v1beta1: 503"),
				GroupVersionErrs: []error{errors.New("bad gv")},
				ContentErrs:      []error{errors.New("pods: forbidden")},
			},
			want: func() []corev1.NamespaceCondition {
				c := allClear(now)
				c[0] = cond(corev1.NamespaceDeletionDiscoveryFailure, corev1.ConditionTrue, "DiscoveryFailed", "Discovery failed for some groups: unable to retrieve the complete list of server APIs: metrics.k8s.io/v1beta1: 503", now)
				c[1] = cond(corev1.NamespaceDeletionGVParsingFailure, corev1.ConditionTrue, "GroupVersionParsingFailed", "Failed to parse some group versions, 1 failing: bad gv", now)
				c[2] = cond(corev1.NamespaceDeletionContentFailure, corev1.ConditionTrue, "ContentDeletionFailed", "Failed to delete all resource types, 1 remaining: pods: forbidden", now)
				return c
			}(),
		},
		{name: "foreign conditions are kept first", old: append([]corev1.NamespaceCondition{foreign}, allClear(earlier)...), st: deletionStatus{}, want: append([]corev1.NamespaceCondition{foreign}, allClear(earlier)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := namespaceConditions(tt.old, tt.st, now)
			if !reflect.DeepEqual(tt.want, got) {
				t.Errorf("conditions want (left) vs got (right):\n%s", diff.ObjectGoPrintSideBySide(tt.want, got))
			}
		})
	}
}

func TestDeletionStatusDone(t *testing.T) {
	tests := []struct {
		name string
		st   deletionStatus
		want bool
	}{
		{"empty", deletionStatus{}, true},
		{"remaining", deletionStatus{Remaining: map[schema.GroupResource]int{{Resource: "pods"}: 1}}, false},
		{"discovery failed", deletionStatus{DiscoveryErr: errors.New("x")}, false},
		{"content failed", deletionStatus{ContentErrs: []error{errors.New("x")}}, false},
		{"gv failed", deletionStatus{GroupVersionErrs: []error{errors.New("x")}}, false},
		{"finalizers alone only describe remaining objects", deletionStatus{Finalizers: map[string]int{"a/b": 1}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.st.done(); got != tt.want {
				t.Errorf("done() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWithoutFinalizer(t *testing.T) {
	got := withoutFinalizer([]corev1.FinalizerName{"kubernetes", "example.com/x"}, corev1.FinalizerKubernetes)
	if want := []corev1.FinalizerName{"example.com/x"}; !reflect.DeepEqual(want, got) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got := withoutFinalizer([]corev1.FinalizerName{"kubernetes"}, corev1.FinalizerKubernetes); len(got) != 0 {
		t.Errorf("got %v, want empty", got)
	}
}
