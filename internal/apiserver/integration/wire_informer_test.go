package integration

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/gureum/gureum/internal/testenv"
)

// recorder collects informer notifications.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	r.events = append(r.events, s)
	r.mu.Unlock()
}

func (r *recorder) has(s string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e == s {
			return true
		}
	}
	return false
}

func (r *recorder) handler() cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) { r.add("add " + obj.(*corev1.ConfigMap).Name) },
		UpdateFunc: func(old, cur interface{}) {
			o, c := old.(*corev1.ConfigMap), cur.(*corev1.ConfigMap)
			if o.ResourceVersion != c.ResourceVersion {
				r.add(fmt.Sprintf("update %s %s", c.Name, c.Data["v"]))
			}
		},
		DeleteFunc: func(obj interface{}) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			r.add("delete " + obj.(*corev1.ConfigMap).Name)
		},
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWireInformersFollowChangesAndServerRestart runs a SharedInformerFactory
// against the server, restarts the server on the same data directory and
// checks that the informer catches up.
func TestWireInformersFollowChangesAndServerRestart(t *testing.T) {
	t.Parallel()
	s := testenv.Start(t)
	ctx := wireCtx(t)
	ns := mkNamespace(t, s, "wire-informer")

	// The restarted server listens on a new port; the informer's client
	// dials whichever server is current, as a load balancer would.
	var target atomic.Value
	setTarget := func(srv *testenv.Server) {
		u, err := url.Parse(srv.Config.Host)
		if err != nil {
			t.Fatal(err)
		}
		target.Store(u.Host)
	}
	setTarget(s)
	cfg := rest.CopyConfig(s.Config)
	var d net.Dialer
	cfg.Dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, target.Load().(string))
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(ns))
	inf := factory.Core().V1().ConfigMaps()
	rec := &recorder{}
	if _, err := inf.Informer().AddEventHandler(rec.handler()); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer factory.Shutdown() // after close(stop): Shutdown waits for the informers
	defer close(stop)
	factory.Start(stop)
	if !cache.WaitForCacheSync(ctx.Done(), inf.Informer().HasSynced) {
		t.Fatal("informer did not sync")
	}
	cms := s.Client.CoreV1().ConfigMaps(ns)

	t.Run("SeesAddsUpdatesAndDeletes", func(t *testing.T) {
		cm, err := cms.Create(ctx, configMap("inf-a", map[string]string{"v": "1"}), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "add inf-a", func() bool { return rec.has("add inf-a") })
		cm.Data["v"] = "2"
		if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "update inf-a 2", func() bool { return rec.has("update inf-a 2") })
		if _, err := cms.Create(ctx, configMap("inf-b", nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := cms.Delete(ctx, "inf-b", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "delete inf-b", func() bool { return rec.has("delete inf-b") })
		got, err := inf.Lister().ConfigMaps(ns).Get("inf-a")
		if err != nil || got.Data["v"] != "2" {
			t.Fatalf("lister: %v %v", got, err)
		}
	})

	t.Run("ResyncsAfterServerRestartOnSameDataDir", func(t *testing.T) {
		s.Stop()
		s2 := testenv.Start(t, testenv.Options{DataDir: s.DataDir})
		setTarget(s2)
		cms2 := s2.Client.CoreV1().ConfigMaps(ns)
		got, err := cms2.Get(ctx, "inf-a", metav1.GetOptions{})
		if err != nil || got.Data["v"] != "2" {
			t.Fatalf("inf-a did not survive the restart: %v %v", got, err)
		}
		got.Data["v"] = "3"
		if _, err := cms2.Update(ctx, got, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := cms2.Create(ctx, configMap("inf-c", nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := cms2.Delete(ctx, "inf-a", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "add inf-c after restart", func() bool { return rec.has("add inf-c") })
		waitFor(t, "delete inf-a after restart", func() bool { return rec.has("delete inf-a") })
		// The informer's store matches the server.
		list, err := cms2.List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "informer store to match the server", func() bool {
			cached, _ := inf.Lister().ConfigMaps(ns).List(labels.Everything())
			if len(cached) != len(list.Items) {
				return false
			}
			for _, c := range cached {
				if _, err := cms2.Get(ctx, c.Name, metav1.GetOptions{}); err != nil {
					return false
				}
			}
			return true
		})
	})
}
