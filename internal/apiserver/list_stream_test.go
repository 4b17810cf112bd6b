package apiserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/utils/ptr"

	"github.com/gureum/gureum/internal/api"
)

// streamedListFixture is n cached pods (compact entries) and the list
// Kubernetes' own serializers would encode for them.
func streamedListFixture(t *testing.T, n int) (*request, *httptest.ResponseRecorder, []*entry, metav1.ListMeta, *corev1.PodList) {
	t.Helper()
	reg := api.NewRegistry(api.DefaultResources())
	res, ok := lookupGroupResource(reg, schema.GroupResource{Resource: "pods"})
	if !ok {
		t.Fatal("pods are not served")
	}
	listMeta := metav1.ListMeta{ResourceVersion: "900", Continue: "next-token", RemainingItemCount: ptr.To[int64](3)}
	want := &corev1.PodList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "PodList"}, ListMeta: listMeta}
	var entries []*entry
	for i := range n {
		pod := &corev1.Pod{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%d", i), Namespace: "default", ResourceVersion: strconv.Itoa(100 + i), Labels: map[string]string{"app": "x"}},
			// Big enough for multi-byte lengths and for the body to span
			// several writes of the stream's buffer.
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox", Command: []string{string(bytes.Repeat([]byte{'a'}, 200+i))}}}},
		}
		e, err := newEntry(res, "default/"+pod.Name, pod.DeepCopy(), int64(100+i))
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, e)
		want.Items = append(want.Items, *pod)
	}
	rec := httptest.NewRecorder()
	q := &request{w: rec, r: httptest.NewRequest("GET", "/api/v1/pods", nil), res: res}
	return q, rec, entries, listMeta, want
}

// A streamed protobuf list is byte for byte what Kubernetes' protobuf
// serializer writes for the same list, and says its length up front.
func TestProtobufListStreamsTheSerializersBytes(t *testing.T) {
	for _, n := range []int{0, 1, 700} {
		q, rec, entries, listMeta, want := streamedListFixture(t, n)
		if !q.protobufListFromEntries(entries, listMeta) {
			t.Fatalf("%d pods: not written", n)
		}
		var buf bytes.Buffer
		if err := protobuf.NewSerializer(api.Scheme, api.Scheme).Encode(want, &buf); err != nil {
			t.Fatal(err)
		}
		got := rec.Body.Bytes()
		if !bytes.Equal(got, buf.Bytes()) {
			t.Fatalf("%d pods: streamed %d bytes differ from the serializer's %d", n, len(got), buf.Len())
		}
		if cl := rec.Header().Get("Content-Length"); cl != strconv.Itoa(len(got)) {
			t.Fatalf("%d pods: Content-Length %s for %d bytes", n, cl, len(got))
		}
	}
}

// A streamed JSON list decodes to the list, and says its length up front.
func TestJSONListStreamsTheList(t *testing.T) {
	for _, n := range []int{0, 1, 700} {
		q, rec, entries, listMeta, want := streamedListFixture(t, n)
		q.jsonListFromEntries("application/json", entries, listMeta)
		got := &corev1.PodList{}
		if err := json.Unmarshal(rec.Body.Bytes(), got); err != nil {
			t.Fatalf("%d pods: %v", n, err)
		}
		if n == 0 {
			want.Items = nil
		}
		if !apiequality.Semantic.DeepEqual(got, want) {
			t.Fatalf("%d pods: got\n%+v\nwant\n%+v", n, got, want)
		}
		if cl := rec.Header().Get("Content-Length"); cl != strconv.Itoa(rec.Body.Len()) {
			t.Fatalf("%d pods: Content-Length %s for %d bytes", n, cl, rec.Body.Len())
		}
	}
}
