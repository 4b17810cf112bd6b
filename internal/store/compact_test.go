package store

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

func TestCompactionExpiresRevisionsOnAnIdleStore(t *testing.T) {
	s := startStore(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	old, err := s.Create(ctx, "/p/a", []byte("1"))
	if err != nil {
		t.Fatal(err)
	}
	c := NewCompactor(s, time.Minute, clocktesting.NewFakeClock(time.Now()), slog.New(slog.DiscardHandler))
	if rev, err := c.Step(ctx); err != nil || rev != 0 {
		t.Fatalf("first step compacted to %d (%v), want no compaction: it only marks the revision", rev, err)
	}
	if _, err := s.ListPage(ctx, "/p/", "", old, 0); err != nil {
		t.Fatalf("revision %d unreadable after one step: %v", old, err)
	}
	// Nothing but the compactor writes from here on.
	rev, err := c.Step(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rev <= old {
		t.Fatalf("second step compacted to %d, want past the last write's revision %d", rev, old)
	}
	if _, err := s.ListPage(ctx, "/p/", "", old, 0); !errors.Is(err, ErrCompacted) {
		t.Errorf("list at revision %d after compaction: %v, want ErrCompacted", old, err)
	}
	if p, err := s.ListPage(ctx, "/p/", "", rev, 0); err != nil || len(p.KVs) != 1 {
		t.Errorf("list at the compacted-to revision %d: %d keys, %v; want it kept", rev, len(p.KVs), err)
	}
}

func TestServersSharingAnEtcdCompactOnceAnInterval(t *testing.T) {
	s := startStore(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	a := NewCompactor(s, time.Minute, clocktesting.NewFakeClock(time.Now()), log)
	b := NewCompactor(s, time.Minute, clocktesting.NewFakeClock(time.Now()), log)
	var last int64
	for round := range 5 {
		if _, err := s.Create(ctx, "/p/"+string(rune('a'+round)), []byte("x")); err != nil {
			t.Fatal(err)
		}
		ra, err := a.Step(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rb, err := b.Step(ctx)
		if err != nil {
			t.Fatal(err)
		}
		compactions := 0
		for _, r := range []int64{ra, rb} {
			if r > 0 {
				compactions++
				if r <= last {
					t.Errorf("round %d compacted to %d, not past the previous compaction %d", round, r, last)
				}
				last = r
			}
		}
		want := 1
		if round == 0 {
			want = 0 // the first interval only marks
		}
		if compactions != want {
			t.Errorf("round %d: %d compactions (a %d, b %d), want %d", round, compactions, ra, rb, want)
		}
	}
}

func TestCompactorRunsEveryInterval(t *testing.T) {
	s := startStore(t, t.TempDir())
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	old, err := s.Create(ctx, "/p/a", []byte("1"))
	if err != nil {
		t.Fatal(err)
	}
	clk := clocktesting.NewFakeClock(time.Now())
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	done := make(chan error, 1)
	go func() { done <- NewCompactor(s, 5*time.Minute, clk, log).Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("the ticker", clk.HasWaiters)
	marked := func(version int64) func() bool {
		return func() bool {
			kv, err := s.client.Get(ctx, compactRevKey)
			return err == nil && len(kv.Kvs) == 1 && kv.Kvs[0].Version == version
		}
	}
	clk.Step(4 * time.Minute)
	if marked(1)() {
		t.Fatal("the compactor worked before its interval passed")
	}
	clk.Step(time.Minute)
	waitFor("the first mark", marked(1))
	if _, err := s.ListPage(ctx, "/p/", "", old, 0); err != nil {
		t.Fatalf("revision %d unreadable after one interval: %v", old, err)
	}
	clk.Step(5 * time.Minute)
	waitFor("the compaction", func() bool {
		_, err := s.ListPage(ctx, "/p/", "", old, 0)
		return errors.Is(err, ErrCompacted)
	})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run returned %v after its context ended, want nil", err)
	}
}
