package apiserver

import (
	"bytes"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"

	"github.com/gureum/gureum/internal/api"
)

// encodeWith gives the serializer's own bytes, each result a slice of its
// own (no buffer shared between two encodings), for protobuf and JSON.
func TestEncodeWithGivesTheSerializersBytes(t *testing.T) {
	pod := func(name string) *corev1.Pod {
		return &corev1.Pod{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": name}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
		}
	}
	for name, enc := range map[string]runtime.Encoder{
		"protobuf": protobuf.NewSerializer(api.Scheme, api.Scheme),
		"json":     jsonOutput().serializer,
	} {
		a, err := encodeWith(enc, pod("a"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, err := encodeWith(enc, pod("bb"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var want bytes.Buffer
		if err := enc.Encode(pod("a"), &want); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, want.Bytes()) {
			t.Fatalf("%s: encodeWith gave\n%q\nthe serializer writes\n%q", name, a, want.Bytes())
		}
		if bytes.Equal(a, b) || !bytes.Contains(b, []byte("bb")) {
			t.Fatalf("%s: the second encoding changed the first (%q, %q)", name, a, b)
		}
	}
}
