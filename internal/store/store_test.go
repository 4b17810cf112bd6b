package store

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

func clientv3LeaseID(id int64) clientv3.LeaseID { return clientv3.LeaseID(id) }

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startStore(t *testing.T, dir string) *Store {
	t.Helper()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := StartEmbedded(context.Background(), EmbeddedConfig{DataDir: dir, ClientPort: freePort(t), PeerPort: freePort(t)}, log)
	if err != nil {
		t.Fatalf("start embedded etcd: %v", err)
	}
	return s
}

func TestCreateUpdateDeleteAreConditional(t *testing.T) {
	s := startStore(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	rev, err := s.Create(ctx, "/k", []byte("v1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "/k", []byte("again")); !errors.Is(err, ErrExists) {
		t.Errorf("second create: %v, want ErrExists", err)
	}
	if _, err := s.Update(ctx, "/k", []byte("v2"), rev-1); !errors.Is(err, ErrConflict) {
		t.Errorf("stale update: %v, want ErrConflict", err)
	}
	rev2, err := s.Update(ctx, "/k", []byte("v2"), rev)
	if err != nil || rev2 <= rev {
		t.Fatalf("update: rev %d err %v", rev2, err)
	}
	if _, err := s.Update(ctx, "/missing", []byte("x"), 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("update of missing key: %v, want ErrNotFound", err)
	}
	kv, err := s.Get(ctx, "/k")
	if err != nil || string(kv.Value) != "v2" || kv.ModRevision != rev2 {
		t.Errorf("get = %+v, %v", kv, err)
	}
	if _, err := s.Delete(ctx, "/k", rev); !errors.Is(err, ErrConflict) {
		t.Errorf("stale delete: %v, want ErrConflict", err)
	}
	if _, err := s.Delete(ctx, "/k", rev2); err != nil {
		t.Errorf("delete: %v", err)
	}
	if _, err := s.Get(ctx, "/k"); !errors.Is(err, ErrNotFound) {
		t.Errorf("get after delete: %v", err)
	}
}

func TestTxnReportsTheFailedCondition(t *testing.T) {
	s := startStore(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Create(ctx, "/reserved", []byte("x")); err != nil {
		t.Fatal(err)
	}
	_, err := s.Txn(ctx, []Cond{{Key: "/obj", MustNotExist: true}, {Key: "/reserved", MustNotExist: true}},
		[]Op{{Key: "/obj", Value: []byte("o")}, {Key: "/reserved", Value: []byte("o")}})
	var cf *ErrCondFailed
	if !errors.As(err, &cf) || cf.Key != "/reserved" || !cf.Exists {
		t.Fatalf("err = %v, want the /reserved condition to fail", err)
	}
	if _, err := s.Get(ctx, "/obj"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a failed transaction wrote /obj: %v", err)
	}
}

func TestWatchSeesChangesInOrderAndListAtRevision(t *testing.T) {
	s := startStore(t, t.TempDir())
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rev0, _ := s.CurrentRevision(ctx)
	batches, _ := s.Watch(ctx, "/p/", rev0)
	r1, _ := s.Create(ctx, "/p/a", []byte("1"))
	r2, _ := s.Update(ctx, "/p/a", []byte("2"), r1)
	r3, _ := s.Delete(ctx, "/p/a", r2)
	var got []Event
	deadline := time.After(5 * time.Second)
	for len(got) < 3 {
		select {
		case b := <-batches:
			got = append(got, b.Events...)
		case <-deadline:
			t.Fatalf("saw %d events, want 3", len(got))
		}
	}
	if got[0].Type != Put || !got[0].Created || got[1].Type != Put || got[1].Created || got[2].Type != Delete {
		t.Errorf("events = %+v", got)
	}
	if got[2].KV.Key != "/p/a" || got[2].KV.ModRevision != r3 {
		t.Errorf("delete event = %+v, want key /p/a at revision %d", got[2].KV, r3)
	}
	kvs, _, err := s.List(ctx, "/p/", r1)
	if err != nil || len(kvs) != 1 || string(kvs[0].Value) != "1" {
		t.Errorf("list at revision %d = %+v, %v", r1, kvs, err)
	}
}

func TestDataSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	s := startStore(t, dir)
	if _, err := s.Create(context.Background(), "/durable", []byte("yes")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = startStore(t, dir)
	defer s.Close()
	kv, err := s.Get(context.Background(), "/durable")
	if err != nil || string(kv.Value) != "yes" {
		t.Errorf("after restart: %+v, %v", kv, err)
	}
}

func TestTTLPutsTheKeyOnAnExpiringLease(t *testing.T) {
	s := startStore(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Txn(ctx, []Cond{{Key: "/ev/a", MustNotExist: true}}, []Op{{Key: "/ev/a", Value: []byte("a"), TTL: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Txn(ctx, []Cond{{Key: "/ev/b", MustNotExist: true}}, []Op{{Key: "/ev/b", Value: []byte("b"), TTL: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	ra, _ := s.client.Get(ctx, "/ev/a")
	rb, _ := s.client.Get(ctx, "/ev/b")
	la, lb := ra.Kvs[0].Lease, rb.Kvs[0].Lease
	if la == 0 {
		t.Fatal("a key written with a TTL has no lease")
	}
	if la != lb {
		t.Errorf("two writes within a minute got leases %x and %x; one lease should serve both", la, lb)
	}
	ttl, err := s.client.TimeToLive(ctx, clientv3LeaseID(la))
	if err != nil {
		t.Fatal(err)
	}
	if ttl.TTL < int64(time.Hour/time.Second) || ttl.TTL > int64((time.Hour+leaseReuse)/time.Second) {
		t.Errorf("lease TTL %ds, want between 1h and 1h+%s", ttl.TTL, leaseReuse)
	}
	plain, _ := s.Create(ctx, "/plain", []byte("x"))
	_ = plain
	rp, _ := s.client.Get(ctx, "/plain")
	if rp.Kvs[0].Lease != 0 {
		t.Error("a key written without a TTL is on a lease")
	}
}
