package integration

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/gureum/gureum/internal/testenv"
)

func mustRV(t *testing.T, rv string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(rv, 10, 64)
	if err != nil || n <= 0 {
		t.Fatalf("resourceVersion %q is not a positive integer", rv)
	}
	return n
}

// TestWireResourceVersionSemantics checks that resourceVersions increase
// with every write, guard updates, and let a watch start where a list or an
// earlier write left off.
func TestWireResourceVersionSemantics(t *testing.T) {
	t.Parallel()
	s := testenv.Start(t)
	ctx := wireCtx(t)
	ns := mkNamespace(t, s, "wire-rv")
	cms := s.Client.CoreV1().ConfigMaps(ns)

	t.Run("ResourceVersionIncreasesWithEveryWrite", func(t *testing.T) {
		a, err := cms.Create(ctx, configMap("rv-a", map[string]string{"k": "1"}), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		a.Data["k"] = "2"
		a2, err := cms.Update(ctx, a, metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := cms.Create(ctx, configMap("rv-b", nil), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		r1, r2, r3 := mustRV(t, a.ResourceVersion), mustRV(t, a2.ResourceVersion), mustRV(t, b.ResourceVersion)
		if !(r1 < r2 && r2 < r3) {
			t.Fatalf("resourceVersions do not increase: %d, %d, %d", r1, r2, r3)
		}
		got, err := cms.Get(ctx, "rv-a", metav1.GetOptions{})
		if err != nil || got.ResourceVersion != a2.ResourceVersion {
			t.Fatalf("get returned rv %s, want %s (%v)", got.ResourceVersion, a2.ResourceVersion, err)
		}
	})

	t.Run("OptimisticConcurrencyGuardsUpdates", func(t *testing.T) {
		cm, err := cms.Create(ctx, configMap("occ", map[string]string{"n": "0"}), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		first := cm.DeepCopy()
		first.Data["n"] = "1"
		if _, err := cms.Update(ctx, first, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("update at the current rv: %v", err)
		}
		second := cm.DeepCopy()
		second.Data["n"] = "2"
		if _, err := cms.Update(ctx, second, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
			t.Fatalf("update at a stale rv: %v, want Conflict", err)
		}
		// Without a resourceVersion an update is unconditional.
		second.ResourceVersion = ""
		out, err := cms.Update(ctx, second, metav1.UpdateOptions{})
		if err != nil || out.Data["n"] != "2" {
			t.Fatalf("unconditional update: %v %v", out, err)
		}
	})

	t.Run("ListResourceVersionStartsAWatchAfterTheList", func(t *testing.T) {
		list, err := cms.List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		mustRV(t, list.ResourceVersion)
		w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		if _, err := cms.Create(ctx, configMap("after-list", nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		ev := nextNonBookmark(t, w)
		if ev.Type != watch.Added || objName(t, ev.Object) != "after-list" {
			t.Fatalf("first event = %s %s, want ADDED after-list (nothing listed before)", ev.Type, objName(t, ev.Object))
		}
	})

	t.Run("WatchFromResourceVersionReplaysLaterEvents", func(t *testing.T) {
		base, err := cms.Create(ctx, configMap("replay-a", map[string]string{"v": "1"}), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		base.Data["v"] = "2"
		upd, err := cms.Update(ctx, base, metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cms.Create(ctx, configMap("replay-b", nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := cms.Delete(ctx, "replay-a", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: base.ResourceVersion})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		want := []struct {
			typ  watch.EventType
			name string
		}{{watch.Modified, "replay-a"}, {watch.Added, "replay-b"}, {watch.Deleted, "replay-a"}}
		last := mustRV(t, base.ResourceVersion)
		for i, wnt := range want {
			ev := nextNonBookmark(t, w)
			cm := ev.Object.(*corev1.ConfigMap)
			if ev.Type != wnt.typ || cm.Name != wnt.name {
				t.Fatalf("event %d = %s %s, want %s %s", i, ev.Type, cm.Name, wnt.typ, wnt.name)
			}
			rv := mustRV(t, cm.ResourceVersion)
			if rv <= last {
				t.Fatalf("event %d rv %d is not after %d", i, rv, last)
			}
			last = rv
			if i == 0 && cm.ResourceVersion != upd.ResourceVersion {
				t.Fatalf("MODIFIED carries rv %s, want the update's %s", cm.ResourceVersion, upd.ResourceVersion)
			}
		}
	})

	t.Run("SendInitialEventsYieldsAddedThenAnnotatedBookmark", func(t *testing.T) {
		ns2 := mkNamespace(t, s, "wire-rv-initial")
		c2 := s.Client.CoreV1().ConfigMaps(ns2)
		names := map[string]bool{}
		for i := 0; i < 3; i++ {
			n := fmt.Sprintf("initial-%d", i)
			if _, err := c2.Create(ctx, configMap(n, nil), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			names[n] = true
		}
		w, err := c2.Watch(ctx, metav1.ListOptions{
			SendInitialEvents:    boolp(true),
			ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan,
			AllowWatchBookmarks:  true,
			LabelSelector:        "",
		})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		seen := map[string]bool{}
		for {
			ev := nextEvent(t, w)
			cm := ev.Object.(*corev1.ConfigMap)
			if ev.Type == watch.Bookmark {
				if cm.Annotations[metav1.InitialEventsAnnotationKey] != "true" {
					t.Fatalf("bookmark before the initial events ended without the %s annotation", metav1.InitialEventsAnnotationKey)
				}
				mustRV(t, cm.ResourceVersion)
				break
			}
			if ev.Type != watch.Added {
				t.Fatalf("initial event %s, want ADDED", ev.Type)
			}
			seen[cm.Name] = true
		}
		for n := range names {
			if !seen[n] {
				t.Errorf("no initial ADDED for %s", n)
			}
		}
		if _, err := c2.Create(ctx, configMap("after-initial", nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if ev := nextNonBookmark(t, w); ev.Type != watch.Added || objName(t, ev.Object) != "after-initial" {
			t.Fatalf("event after the initial ones = %s %s", ev.Type, objName(t, ev.Object))
		}
	})

	t.Run("SendInitialEventsWithoutBookmarksIs422", func(t *testing.T) {
		_, err := cms.Watch(ctx, metav1.ListOptions{
			SendInitialEvents:    boolp(true),
			ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan,
		})
		wantReason(t, err, http.StatusUnprocessableEntity, metav1.StatusReasonInvalid)
	})
}

// TestWireCompactedResourceVersionIsExpired compacts etcd's history and
// checks that continuing a list or watching from before the compaction
// answers 410 Expired.
func TestWireCompactedResourceVersionIsExpired(t *testing.T) {
	t.Parallel()
	s := testenv.Start(t)
	ctx := wireCtx(t)
	ns := mkNamespace(t, s, "wire-compact")
	cms := s.Client.CoreV1().ConfigMaps(ns)
	for i := 0; i < 6; i++ {
		if _, err := cms.Create(ctx, configMap(fmt.Sprintf("c-%d", i), nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	page, err := cms.List(ctx, metav1.ListOptions{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if page.Continue == "" {
		t.Fatal("first page has no continue token")
	}
	oldRV := page.ResourceVersion
	for i := 0; i < 20; i++ {
		if _, err := cms.Create(ctx, configMap(fmt.Sprintf("later-%d", i), nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	etcd, err := clientv3.New(clientv3.Config{Endpoints: []string{"http://127.0.0.1:" + strconv.Itoa(s.EtcdClientPort)}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer etcd.Close()
	st, err := etcd.Get(ctx, "/registry/health-check")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := etcd.Compact(ctx, st.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatalf("compact: %v", err)
	}

	t.Run("ContinueTokenFromBeforeCompactionIs410", func(t *testing.T) {
		_, err := cms.List(ctx, metav1.ListOptions{Limit: 2, Continue: page.Continue})
		wantReason(t, err, http.StatusGone, metav1.StatusReasonExpired)
		// The 410 carries a token that goes on from the same key at the
		// latest revision (an inconsistent list, as Kubernetes offers).
		status, ok := err.(apierrors.APIStatus)
		if !ok || status.Status().ListMeta.Continue == "" {
			t.Fatalf("the 410 carries no continue token: %v", err)
		}
		rest, err := cms.List(ctx, metav1.ListOptions{Limit: 100, Continue: status.Status().ListMeta.Continue})
		if err != nil {
			t.Fatalf("list with the inconsistent token: %v", err)
		}
		if rest.ResourceVersion == oldRV || len(rest.Items) == 0 || rest.Items[0].Name <= page.Items[len(page.Items)-1].Name {
			t.Fatalf("inconsistent continue: rv %s (first page %s), %d items starting at %q after %q", rest.ResourceVersion, oldRV,
				len(rest.Items), rest.Items[0].Name, page.Items[len(page.Items)-1].Name)
		}
	})

	t.Run("ExactListAtCompactedRevisionIs410", func(t *testing.T) {
		_, err := cms.List(ctx, metav1.ListOptions{ResourceVersion: oldRV, ResourceVersionMatch: metav1.ResourceVersionMatchExact})
		wantReason(t, err, http.StatusGone, metav1.StatusReasonExpired)
	})

	t.Run("WatchFromCompactedRevisionAfterRestartIs410", func(t *testing.T) {
		// A running server may still replay a compacted revision from its
		// watch cache (as Kubernetes does); once restarted its window
		// starts at the current revision and the old one is gone for good.
		s.Stop()
		s2 := testenv.Start(t, testenv.Options{DataDir: s.DataDir})
		c2 := s2.Client.CoreV1().ConfigMaps(ns)
		_, err := c2.Watch(ctx, metav1.ListOptions{ResourceVersion: oldRV})
		wantReason(t, err, http.StatusGone, metav1.StatusReasonExpired)
		list, err := c2.List(ctx, metav1.ListOptions{})
		if err != nil || len(list.Items) < 26 {
			t.Fatalf("after restart: %v objects, err %v", len(list.Items), err)
		}
		// The relist's resourceVersion is good for a new watch.
		w, err := c2.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
		if err != nil {
			t.Fatalf("watch from a fresh list rv: %v", err)
		}
		w.Stop()
	})
}

// TestWireWatchBookmarksArriveWhenAllowed waits for the server's periodic
// bookmark (every 10s), so it runs in parallel with the rest.
func TestWireWatchBookmarksArriveWhenAllowed(t *testing.T) {
	t.Parallel()
	s := testenv.Start(t)
	ctx := wireCtx(t)
	ns := mkNamespace(t, s, "wire-bookmarks")
	cms := s.Client.CoreV1().ConfigMaps(ns)
	cm, err := cms.Create(ctx, configMap("bm", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Only bm: the namespace's kube-root-ca.crt may be published meanwhile.
	withBM, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: cm.ResourceVersion, AllowWatchBookmarks: true, FieldSelector: "metadata.name=bm"})
	if err != nil {
		t.Fatal(err)
	}
	defer withBM.Stop()
	without, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: cm.ResourceVersion, FieldSelector: "metadata.name!=kube-root-ca.crt"})
	if err != nil {
		t.Fatal(err)
	}
	defer without.Stop()

	deadline := time.After(15 * time.Second)
	select {
	case ev := <-withBM.ResultChan():
		if ev.Type != watch.Bookmark {
			t.Fatalf("event %s, want BOOKMARK", ev.Type)
		}
		got := ev.Object.(*corev1.ConfigMap)
		if mustRV(t, got.ResourceVersion) < mustRV(t, cm.ResourceVersion) {
			t.Fatalf("bookmark rv %s is older than the watch's start %s", got.ResourceVersion, cm.ResourceVersion)
		}
		if got.Name != "" {
			t.Fatalf("bookmark carries an object (%s); it must carry only a resourceVersion", got.Name)
		}
	case <-deadline:
		t.Fatal("no bookmark within 15s on a watch that allowed them")
	}
	if _, err := cms.Create(ctx, configMap("after-bm", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, without); ev.Type != watch.Added || objName(t, ev.Object) != "after-bm" {
		t.Fatalf("watch without allowWatchBookmarks got %s first, want ADDED after-bm", ev.Type)
	}
}
