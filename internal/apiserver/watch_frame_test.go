package apiserver

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/scheme"
)

// A watch reuses its frame buffers from event to event: each frame must
// still be the whole event and nothing else, whatever came before it
// (longer or shorter), in protobuf and in JSON.
func TestWatchFramesReuseBuffers(t *testing.T) {
	q := patchRequest(t, podsGVR, "application/merge-patch+json", "")
	sizes := []int{3000, 10, 500, 70000, 20, 2000, 1}
	events := make([]watchEvent, len(sizes))
	for i, n := range sizes {
		pod := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%d", i), Namespace: "ns", ResourceVersion: fmt.Sprint(i + 1),
				Annotations: map[string]string{"pad": strings.Repeat("x", n)}}}
		e, err := newEntry(q.res, "ns/"+pod.Name, pod, int64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		typ := watch.Modified
		if i%2 == 0 {
			typ = watch.Added
		}
		events[i] = watchEvent{typ: typ, entry: e, rev: int64(i + 1)}
	}

	proto := &watchEncoder{q: q, proto: true}
	text := &watchEncoder{q: q}
	for i, ev := range events {
		frame, err := proto.frame(ev)
		if err != nil {
			t.Fatal(err)
		}
		if got := int(binary.BigEndian.Uint32(frame)); got != len(frame)-4 {
			t.Fatalf("event %d: length prefix %d, frame carries %d", i, got, len(frame)-4)
		}
		var we metav1.WatchEvent
		if err := we.Unmarshal(frame[4:]); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if !bytes.HasPrefix(we.Object.Raw, protobufMagic) {
			t.Fatalf("event %d: object without the protobuf magic", i)
		}
		var unk runtime.Unknown
		if err := unk.Unmarshal(we.Object.Raw[len(protobufMagic):]); err != nil {
			t.Fatalf("event %d: envelope: %v", i, err)
		}
		var pod corev1.Pod
		if err := pod.Unmarshal(unk.Raw); err != nil {
			t.Fatalf("event %d: pod: %v", i, err)
		}
		if we.Type != string(ev.typ) || unk.Kind != "Pod" || pod.Name != fmt.Sprintf("p%d", i) || len(pod.Annotations["pad"]) != sizes[i] {
			t.Fatalf("event %d (protobuf): type %s kind %s pod %s pad %d", i, we.Type, unk.Kind, pod.Name, len(pod.Annotations["pad"]))
		}

		line, err := text.frame(ev)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Count(line, []byte("\n")) != 1 || line[len(line)-1] != '\n' {
			t.Fatalf("event %d: JSON frame is not one line", i)
		}
		var jev struct {
			Type   string          `json:"type"`
			Object json.RawMessage `json:"object"`
		}
		if err := json.Unmarshal(line, &jev); err != nil {
			t.Fatalf("event %d: %v in %q", i, err, line[:min(len(line), 80)])
		}
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(jev.Object, nil, nil)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if p := obj.(*corev1.Pod); jev.Type != string(ev.typ) || p.Name != fmt.Sprintf("p%d", i) || len(p.Annotations["pad"]) != sizes[i] {
			t.Fatalf("event %d (JSON): type %s pod %s pad %d", i, jev.Type, p.Name, len(p.Annotations["pad"]))
		}
	}
	if cap(proto.buf) > maxReusedFrame || cap(text.buf) > maxReusedFrame {
		t.Fatalf("a watch keeps %d / %d bytes after a big event", cap(proto.buf), cap(text.buf))
	}
}
