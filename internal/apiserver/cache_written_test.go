package apiserver

import (
	"io"
	"log/slog"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gureum/gureum/internal/api"
	"github.com/gureum/gureum/internal/store"
)

// An object the server wrote is taken into the cache as written when its
// watch event arrives; etcd's bytes are decoded only for changes made by
// others (here: bytes that do not decode at all, so a decode would drop
// the event).
func TestCacheTakesWrittenObjects(t *testing.T) {
	reg := api.NewRegistry(api.DefaultResources())
	res, ok := reg.Lookup(schemaGVR("", "v1", "pods"))
	if !ok {
		t.Fatal("pods not served")
	}
	c := newResourceCache(res, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	c.revCh = make(chan struct{})
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "ns", Labels: map[string]string{"app": "web"}}}
	key := c.prefix + "ns/a"
	garbage := []byte("not json")

	c.noteWritten(key, 10, pod)
	pod.Labels["app"] = "changed after the write" // the cache holds its own copy
	c.apply(store.WatchBatch{Revision: 10, Events: []store.Event{{Type: store.Put, KV: store.KV{Key: key, Value: garbage, ModRevision: 10}}}})
	e, ok := c.items["ns/a"]
	if !ok {
		t.Fatal("the written pod's event was decoded from etcd's bytes instead of taken as written")
	}
	cached, ok := entryAs[*corev1.Pod](e)
	if e.rev != 10 || e.labels["app"] != "web" || !ok || cached.ResourceVersion != "10" || cached.Labels["app"] != "web" {
		t.Fatalf("entry rev %d labels %v object %v", e.rev, e.labels, cached)
	}
	if data, err := e.jsonBytes(); err != nil || len(data) == 0 {
		t.Fatalf("entry JSON: %v", err)
	}

	// A write noted at another revision is not this event's object.
	c.noteWritten(key, 12, pod)
	c.apply(store.WatchBatch{Revision: 11, Events: []store.Event{{Type: store.Put, KV: store.KV{Key: key, Value: garbage, ModRevision: 11}}}})
	if c.items["ns/a"].rev != 10 {
		t.Fatal("an object noted at revision 12 was used for revision 11")
	}
	// Deleting a known object needs none of etcd's bytes either.
	c.apply(store.WatchBatch{Revision: 13, Events: []store.Event{{Type: store.Delete, KV: store.KV{Key: key, ModRevision: 13}}}})
	if _, ok := c.items["ns/a"]; ok || c.histLen != 2 {
		t.Fatalf("after the delete: item kept %v, %d events recorded", ok, c.histLen)
	}
	if _, ok := c.written["ns/a"]; ok {
		t.Fatal("the object noted at revision 12 outlived later events for its key")
	}

	// Noted objects whose events passed are swept once many are waiting.
	for i := 0; i < maxWritten+1; i++ {
		c.noteWritten(c.prefix+"ns/p"+string(rune('a'+i%26))+string(rune('a'+i/26%26))+string(rune('a'+i/676)), 5, pod)
	}
	if len(c.written) > maxWritten {
		t.Fatalf("%d noted objects kept, want at most %d", len(c.written), maxWritten)
	}
}
