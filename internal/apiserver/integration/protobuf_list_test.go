package integration

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/gureum/gureum/internal/testenv"
)

// TestProtobufListFromCacheMatchesJSON lists pods through a protobuf client
// (the list is assembled from cached per-object protobuf) and a JSON client
// and expects the same objects, pages included.
func TestProtobufListFromCacheMatchesJSON(t *testing.T) {
	s := testenv.Start(t)
	ctx := context.Background()
	for i := 0; i < 12; i++ {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%02d", i), Labels: map[string]string{"i": fmt.Sprint(i % 2)}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
		if _, err := s.Client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	pcfg := rest.CopyConfig(s.Config)
	pcfg.ContentType = "application/vnd.kubernetes.protobuf"
	pcfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf"
	pb := kubernetes.NewForConfigOrDie(pcfg)
	raw, err := pb.CoreV1().RESTClient().Get().Namespace("default").Resource("pods").
		SetHeader("Accept", "application/vnd.kubernetes.protobuf").DoRaw(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(raw, []byte("k8s\x00")) {
		t.Fatalf("a protobuf list did not come back as protobuf: %q", raw[:min(len(raw), 40)])
	}
	for _, opts := range []metav1.ListOptions{{}, {ResourceVersion: "0"}, {LabelSelector: "i=1"}, {Limit: 5}} {
		want, err := s.Client.CoreV1().Pods("default").List(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		got, err := pb.CoreV1().Pods("default").List(ctx, opts)
		if err != nil {
			t.Fatalf("protobuf list %+v: %v", opts, err)
		}
		if len(got.Items) != len(want.Items) || got.Continue != want.Continue && opts.Limit == 0 {
			t.Fatalf("protobuf list %+v: %d items, JSON %d", opts, len(got.Items), len(want.Items))
		}
		for i := range want.Items {
			if !reflect.DeepEqual(got.Items[i], want.Items[i]) {
				t.Errorf("item %d differs:\nprotobuf %+v\njson     %+v", i, got.Items[i], want.Items[i])
			}
		}
		if opts.Limit > 0 && (got.Continue == "" || got.RemainingItemCount == nil || *got.RemainingItemCount != 7) {
			t.Errorf("protobuf page: continue=%q remaining=%v", got.Continue, got.RemainingItemCount)
		}
	}
}

// TestProtobufWatchMatchesJSON watches pods through a protobuf client (the
// stream client-go's controllers get) beside a JSON one and expects the
// same events; initial events with their closing bookmark and partial
// object metadata come in protobuf too.
func TestProtobufWatchMatchesJSON(t *testing.T) {
	s := testenv.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pcfg := rest.CopyConfig(s.Config)
	pcfg.ContentType = "application/vnd.kubernetes.protobuf"
	pcfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf"
	pb := kubernetes.NewForConfigOrDie(pcfg)

	pods := s.Client.CoreV1().Pods("default")
	before, err := pods.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	first, err := pods.Create(ctx, testPod("w0"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// The wire form first: the media type client-go picks its decoder by,
	// and Kubernetes' framing (length, WatchEvent, enveloped object).
	hc, err := rest.HTTPClientFor(pcfg)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.Config.Host+"/api/v1/namespaces/default/pods?watch=1&timeoutSeconds=5&resourceVersion="+before.ResourceVersion, nil)
	req.Header.Set("Accept", "application/vnd.kubernetes.protobuf")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/vnd.kubernetes.protobuf;stream=watch" {
		t.Fatalf("protobuf watch Content-Type %q", ct)
	}
	var size [4]byte
	if _, err := io.ReadFull(resp.Body, size[:]); err != nil {
		t.Fatal(err)
	}
	frame := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(resp.Body, frame); err != nil {
		t.Fatal(err)
	}
	var we metav1.WatchEvent
	if err := we.Unmarshal(frame); err != nil {
		t.Fatalf("first frame is no WatchEvent: %v", err)
	}
	if we.Type != "ADDED" || !bytes.HasPrefix(we.Object.Raw, []byte("k8s\x00")) {
		t.Fatalf("first frame: type %q object %q", we.Type, we.Object.Raw[:min(len(we.Object.Raw), 40)])
	}
	resp.Body.Close()

	opts := metav1.ListOptions{ResourceVersion: first.ResourceVersion}
	jw, err := s.Client.CoreV1().Pods("default").Watch(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer jw.Stop()
	pw, err := pb.CoreV1().Pods("default").Watch(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Stop()

	p, err := pods.Create(ctx, testPod("w1"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Labels = map[string]string{"changed": "yes"}
	if _, err := pods.Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(ctx, "w1", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatal(err)
	}
	for i, want := range []watch.EventType{watch.Added, watch.Modified, watch.Deleted} {
		je, pe := nextEvent(t, jw), nextEvent(t, pw)
		if je.Type != want || pe.Type != want {
			t.Fatalf("event %d: JSON %s, protobuf %s, want %s", i, je.Type, pe.Type, want)
		}
		jp, pp := je.Object.(*corev1.Pod), pe.Object.(*corev1.Pod)
		if !reflect.DeepEqual(jp, pp) {
			t.Fatalf("event %d (%s) differs:\nprotobuf %+v\njson     %+v", i, want, pp, jp)
		}
	}

	// Initial events end with a bookmark carrying the annotation.
	iw, err := pb.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{SendInitialEvents: ptr.To(true), AllowWatchBookmarks: true,
		ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan})
	if err != nil {
		t.Fatal(err)
	}
	defer iw.Stop()
	if ev := nextEvent(t, iw); ev.Type != watch.Added || ev.Object.(*corev1.Pod).Name != "w0" {
		t.Fatalf("initial event: %s %+v", ev.Type, ev.Object)
	}
	bm := nextEvent(t, iw)
	if bm.Type != watch.Bookmark || bm.Object.(*corev1.Pod).Annotations[metav1.InitialEventsAnnotationKey] != "true" {
		t.Fatalf("after the initial events: %s %+v, want the initial-events-end bookmark", bm.Type, bm.Object)
	}

	// Partial object metadata, as the garbage collector watches.
	mc := metadata.NewForConfigOrDie(s.Config)
	mw, err := mc.Resource(corev1.SchemeGroupVersion.WithResource("pods")).Namespace("default").Watch(ctx, metav1.ListOptions{ResourceVersion: first.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer mw.Stop()
	if _, err := pods.Create(ctx, testPod("w2"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Bookmarks on a metadata watch are partial metadata too.
	imw, err := mc.Resource(corev1.SchemeGroupVersion.WithResource("pods")).Namespace("default").Watch(ctx, metav1.ListOptions{
		SendInitialEvents: ptr.To(true), AllowWatchBookmarks: true, ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan})
	if err != nil {
		t.Fatal(err)
	}
	defer imw.Stop()
	for _, name := range []string{"w0", "w2"} {
		if ev := nextEvent(t, imw); ev.Type != watch.Added || ev.Object.(*metav1.PartialObjectMetadata).Name != name {
			t.Fatalf("initial metadata event: %s %#v, want ADDED %s", ev.Type, ev.Object, name)
		}
	}
	if ev := nextEvent(t, imw); ev.Type != watch.Bookmark || ev.Object.(*metav1.PartialObjectMetadata).Annotations[metav1.InitialEventsAnnotationKey] != "true" {
		t.Fatalf("metadata bookmark: %s %#v", ev.Type, ev.Object)
	}
	// From w0's revision: w1's three events, then w2.
	for i, want := range []string{"ADDED w1", "MODIFIED w1", "DELETED w1", "ADDED w2"} {
		ev := nextEvent(t, mw)
		pm, ok := ev.Object.(*metav1.PartialObjectMetadata)
		if !ok || string(ev.Type)+" "+pm.Name != want || pm.UID == "" || len(pm.ManagedFields) == 0 {
			t.Fatalf("metadata watch event %d: %s %#v, want %s with uid and managed fields", i, ev.Type, ev.Object, want)
		}
	}
}

func testPod(name string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
}
