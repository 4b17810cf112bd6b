package apiserver

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
)

// statusPod is a scheduled pod with the managedFields of its creator, as
// a node agent finds it before reporting it Running.
func statusPod(t testing.TB) *corev1.Pod {
	pod := &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "obj", Namespace: "ns", UID: "u", ResourceVersion: "7",
			Labels: map[string]string{"app": "x"}, CreationTimestamp: metav1.Unix(1700000000, 0),
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: "r"}}},
		Spec: corev1.PodSpec{
			NodeName: "n1",
			Containers: []corev1.Container{{Name: "c", Image: "busybox", Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}}},
	}
	_, fm := fastTestManagers(&testing.T{})
	reg := fastTestReg
	if err := fm.update(resourceFor(&testing.T{}, reg, corev1.SchemeGroupVersion.WithKind("Pod")), "", nil, pod, "controller"); err != nil {
		t.Fatal(err)
	}
	return pod
}

func runningPatch(t testing.TB) []byte {
	now := metav1.NewTime(time.Unix(1700000100, 0))
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"uid": "u"},
		"status": corev1.PodStatus{
			Phase: corev1.PodRunning, PodIP: "10.0.0.5", HostIP: "192.168.0.1", StartTime: &now,
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
				{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
			},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "c", Ready: true, Image: "busybox",
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return patch
}

// Where the typed path answers a merge or strategic merge patch, the JSON
// text path must give the same object and no warnings.
func checkPatchesAgree(t *testing.T, pt types.PatchType, target runtime.Object, patch []byte, validation string) (answered bool) {
	t.Helper()
	gvr := podsGVR
	if _, ok := target.(*corev1.ConfigMap); ok {
		gvr = schemaGVR("", "v1", "configmaps")
	} else if _, ok := target.(*corev1.Pod); !ok {
		gvr = schemaGVR("apps", "v1", "deployments")
	}
	qt := patchRequest(t, gvr, pt, validation)
	typed, ok := qt.patchTyped(pt, patch, target)
	if !ok {
		return false
	}
	qj := patchRequest(t, gvr, pt, validation)
	text, err := qj.applyPatchText(pt, patch, target.DeepCopyObject())
	if err != nil {
		t.Fatalf("patch %s: the typed path answered, the text path failed: %v", patch, err)
	}
	if !apiequality.Semantic.DeepEqual(typed, text) {
		t.Fatalf("patch %s:\ntyped %+v\ntext  %+v", patch, typed, text)
	}
	tw := qt.w.(*httptest.ResponseRecorder).Header().Values("Warning")
	jw := qj.w.(*httptest.ResponseRecorder).Header().Values("Warning")
	if !apiequality.Semantic.DeepEqual(tw, jw) {
		t.Fatalf("patch %s: typed warnings %q, text warnings %q", patch, tw, jw)
	}
	return true
}

func TestMergePatchTypedMatchesText(t *testing.T) {
	pod := statusPod(t)
	for _, tc := range []struct {
		patch      string
		validation string
		answered   bool
	}{
		{string(runningPatch(t)), "", true},
		{`{"metadata":{"labels":{"app":null,"b":"c"}}}`, "", true},
		{`{"metadata":{"managedFields":null}}`, "", true},
		{`{"spec":{"containers":[{"name":"c","image":"other"}]}}`, "Strict", true},
		{`{"spec":{"terminationGracePeriodSeconds":30}}`, "", true},
		{`{"metadata":{"managedFields":[{"manager":"x","operation":"Update","apiVersion":"v1","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{}}}]}}`, "", true},
		{`{"status":{"phase":"Failed","startTime":"2026-01-01T00:00:00Z"}}`, "", true},
		{`{"spec":{"containers":[{"name":"c","resources":{"requests":{"cpu":"2"}}}]}}`, "", true},
		// Left to the text path: its warnings, errors and refusals.
		{`{"spec":{"bogus":1,"containers":[{"name":"c","image":"i","alsoBogus":true}]}}`, "", false},
		{`{"spec":{"bogus":1}}`, "Strict", false},
		{`{"spec":{"bogus":1}}`, "Ignore", false},
		{`{"spec":{"nodeName":5}}`, "", false},
		{`{"kind":"Service"}`, "", false},
		{`{"spec":{"terminationGracePeriodSeconds":30.0}}`, "", false},
		{`{"spec":{"terminationGracePeriodSeconds":1.5}}`, "", false},
		{`{"metadata":null}`, "", false},
		{`[]`, "", false},
	} {
		if got := checkPatchesAgree(t, types.MergePatchType, pod, []byte(tc.patch), tc.validation); got != tc.answered {
			t.Errorf("patch %s: typed path answered %v, want %v", tc.patch, got, tc.answered)
		}
	}
}

func FuzzMergePatchTypedMatchesText(f *testing.F) {
	f.Add([]byte(`{"metadata":{"labels":{"a":null}}}`), "")
	f.Add([]byte(`{"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}`), "Strict")
	f.Add([]byte(`{"spec":{"replicas":3,"template":{"spec":{"containers":null}}}}`), "")
	f.Add([]byte(`{"data":{"a":null,"b":"c"},"binaryData":{"x":"AAEC"}}`), "Warn")
	fuzzPatchesAgree(f, types.MergePatchType)
}

// fuzzPatchesAgree runs checkPatchesAgree on patches of type pt against a
// pod, a Deployment and a ConfigMap.
func fuzzPatchesAgree(f *testing.F, pt types.PatchType) {
	f.Fuzz(func(t *testing.T, patch []byte, validation string) {
		if !json.Valid(patch) {
			return
		}
		for _, target := range []runtime.Object{
			statusPod(t),
			deploymentForFuzz(2),
			&corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
				ObjectMeta: metav1.ObjectMeta{Name: "obj", Namespace: "ns"}, Data: map[string]string{"a": "1"}},
		} {
			checkPatchesAgree(t, pt, target, patch, validation)
		}
	})
}

func BenchmarkPodStatusMergePatch(b *testing.B) {
	benchPatchPaths(b, types.MergePatchType, runningPatch(b))
}

// benchPatchPaths times a patch of a pod through the JSON text path and
// the typed one.
func benchPatchPaths(b *testing.B, pt types.PatchType, patch []byte) {
	pod := statusPod(b)
	q := patchRequest(&testing.T{}, podsGVR, pt, "")
	b.Run("text", func(b *testing.B) {
		for range b.N {
			if _, err := q.applyPatchText(pt, patch, pod); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("typed", func(b *testing.B) {
		for range b.N {
			if _, ok := q.patchTyped(pt, patch, pod); !ok {
				b.Fatal("not answered")
			}
		}
	})
}

// unschedulablePatch is the strategic merge patch the scheduler sends for
// a pod no node fits.
func unschedulablePatch(t testing.TB) []byte {
	patch, err := json.Marshal(map[string]any{
		"status": map[string]any{"conditions": []any{map[string]any{
			"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
			"message": "0/3 nodes are available: 3 Insufficient cpu.", "lastProbeTime": nil,
			"lastTransitionTime": "2026-01-01T00:00:00Z",
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return patch
}

func TestStrategicMergePatchTypedMatchesText(t *testing.T) {
	pod := statusPod(t)
	pod.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, Protocol: corev1.ProtocolTCP}}
	pod.Finalizers = []string{"a", "b"}
	for _, tc := range []struct {
		patch      string
		validation string
		answered   bool
	}{
		{string(unschedulablePatch(t)), "", true},
		{string(runningPatch(t)), "", true},
		// Lists merge by their keys; directives inside a field.
		{`{"status":{"conditions":[{"type":"Ready","status":"True"}]}}`, "", true},
		{`{"status":{"conditions":[{"type":"PodScheduled","$patch":"delete"}]}}`, "", true},
		{`{"status":{"$setElementOrder/conditions":[{"type":"Ready"},{"type":"PodScheduled"}],"conditions":[{"type":"Ready","status":"True"}]}}`, "", true},
		{`{"spec":{"containers":[{"name":"c","ports":[{"containerPort":80,"name":"http"}]}]}}`, "", true},
		{`{"spec":{"containers":[{"name":"d","image":"other"}]}}`, "Strict", true},
		{`{"metadata":{"finalizers":["c"],"labels":{"app":null}}}`, "", true},
		{`{"metadata":{"$deleteFromPrimitiveList/finalizers":["a"]}}`, "", true},
		{`{"spec":{"$retainKeys":["containers"],"containers":[{"name":"c","image":"i"}]}}`, "", true},
		{`{"metadata":{"managedFields":null}}`, "", true},
		// Left to the text path: directives of the whole object, its
		// warnings, errors and refusals.
		{`{"$patch":"replace","metadata":{"name":"obj"}}`, "", false},
		{`{"status":{"conditions":[{"type":"Ready","$patch":"bogus"}]}}`, "", false},
		{`{"spec":{"bogus":1}}`, "", false},
		{`{"spec":{"bogus":1}}`, "Strict", false},
		{`{"spec":{"nodeName":5}}`, "", false},
		{`{"kind":"Service"}`, "", false},
		{`{"spec":{"terminationGracePeriodSeconds":1.5}}`, "", false},
		{`{"metadata":null}`, "", false},
	} {
		if got := checkPatchesAgree(t, types.StrategicMergePatchType, pod, []byte(tc.patch), tc.validation); got != tc.answered {
			t.Errorf("patch %s: typed path answered %v, want %v", tc.patch, got, tc.answered)
		}
	}
}

func FuzzStrategicMergePatchTypedMatchesText(f *testing.F) {
	f.Add([]byte(`{"status":{"conditions":[{"type":"Ready","status":"True"}]}}`), "")
	f.Add([]byte(`{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"x"}]}}}}`), "Strict")
	f.Add([]byte(`{"metadata":{"$deleteFromPrimitiveList/finalizers":["a"],"labels":{"a":null}}}`), "")
	f.Add([]byte(`{"data":{"a":null,"b":"c"}}`), "Warn")
	fuzzPatchesAgree(f, types.StrategicMergePatchType)
}

func BenchmarkPodUnschedulableStrategicPatch(b *testing.B) {
	benchPatchPaths(b, types.StrategicMergePatchType, unschedulablePatch(b))
}
