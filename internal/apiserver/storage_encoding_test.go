package apiserver

import (
	"bytes"
	"encoding/json"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gureum/gureum/internal/api"
	networkingv1 "github.com/gureum/gureum/pkg/apis/networking/v1"
)

// Built-in kinds are stored as Kubernetes stores them (protobuf behind
// "k8s\x00"); Gureum's own kinds as JSON; what earlier versions stored as
// JSON still reads back.
func TestStorageEncoding(t *testing.T) {
	reg := api.NewRegistry(api.DefaultResources())
	lookup := func(gvr schema.GroupVersionResource) *api.Resource {
		res, ok := reg.Lookup(gvr)
		if !ok {
			t.Fatalf("no resource %s", gvr)
		}
		return res
	}
	pods := lookup(schemaGVR("", "v1", "pods"))
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", ResourceVersion: "12", Labels: map[string]string{"a": "b"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
	pods.Strategy.Default(pod) // stored objects are defaulted
	data, err := encodeForStorage(pods, pod)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte("k8s\x00")) {
		t.Fatalf("a pod is stored as %q…, want Kubernetes' protobuf prefix", data[:min(len(data), 16)])
	}
	if pod.ResourceVersion != "12" {
		t.Errorf("encoding changed the object's resourceVersion to %q", pod.ResourceVersion)
	}
	back, err := decodeStored(pods, data)
	if err != nil {
		t.Fatal(err)
	}
	want := pod.DeepCopy()
	want.ResourceVersion = ""
	want.APIVersion, want.Kind = "v1", "Pod"
	if !apiequality.Semantic.DeepEqual(back, want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", back, want)
	}

	// A pod stored as JSON by an earlier version.
	old, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if back, err := decodeStored(pods, old); err != nil || !apiequality.Semantic.DeepEqual(back, want) {
		t.Errorf("a pod stored as JSON reads back as %+v, %v", back, err)
	}

	// What protobuf cannot hold (nested apiVersion and kind) comes back
	// by defaulting, so the stored object equals the written one.
	sets := lookup(schemaGVR("apps", "v1", "statefulsets"))
	set := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns"},
		Spec: appsv1.StatefulSetSpec{
			Selector:             &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template:             corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}}, Spec: pod.Spec},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"}}},
		},
	}
	sets.Strategy.Default(set)
	if set.Spec.VolumeClaimTemplates[0].Kind != "PersistentVolumeClaim" {
		t.Fatalf("defaulting did not set the claim template's kind: %+v", set.Spec.VolumeClaimTemplates[0].TypeMeta)
	}
	data, err = encodeForStorage(sets, set)
	if err != nil {
		t.Fatal(err)
	}
	backSet, err := decodeStored(sets, data)
	if err != nil {
		t.Fatal(err)
	}
	set.APIVersion, set.Kind = "apps/v1", "StatefulSet"
	if !apiequality.Semantic.DeepEqual(backSet, set) {
		t.Errorf("statefulset round trip:\n got %+v\nwant %+v", backSet, set)
	}

	vpcs := lookup(networkingv1.SchemeGroupVersion.WithResource("vpcs"))
	vpc := &networkingv1.VPC{ObjectMeta: metav1.ObjectMeta{Name: "v"}}
	data, err = encodeForStorage(vpcs, vpc)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(data) {
		t.Fatalf("a VPC is stored as %q, want JSON", data)
	}
}
