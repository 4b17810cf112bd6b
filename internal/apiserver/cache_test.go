package apiserver

import (
	"io"
	"log/slog"
	"testing"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"
)

func TestTranslateFollowsTheFilter(t *testing.T) {
	sel := labels.SelectorFromSet(labels.Set{"app": "web"})
	f := &filter{labels: sel}
	web := &entry{key: "ns/a", ns: "ns", name: "a", labels: labels.Set{"app": "web"}, rev: 5}
	other := &entry{key: "ns/a", ns: "ns", name: "a", labels: labels.Set{"app": "db"}, rev: 6}
	tests := []struct {
		name     string
		ev       cacheEvent
		wantType watch.EventType
		wantSent bool
	}{
		{"created matching", cacheEvent{typ: watch.Added, cur: web, rev: 5}, watch.Added, true},
		{"created not matching", cacheEvent{typ: watch.Added, cur: other, rev: 6}, "", false},
		{"modified within", cacheEvent{typ: watch.Modified, cur: web, prev: web, rev: 7}, watch.Modified, true},
		{"moved into the filter", cacheEvent{typ: watch.Modified, cur: web, prev: other, rev: 7}, watch.Added, true},
		{"moved out of the filter", cacheEvent{typ: watch.Modified, cur: other, prev: web, rev: 7}, watch.Deleted, true},
		{"deleted matching", cacheEvent{typ: watch.Deleted, prev: web, rev: 8}, watch.Deleted, true},
		{"deleted not matching", cacheEvent{typ: watch.Deleted, prev: other, rev: 8}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, sent := translate(f, tt.ev)
			if sent != tt.wantSent || got.typ != tt.wantType {
				t.Errorf("translate = (%v, %v), want (%v, %v)", got.typ, sent, tt.wantType, tt.wantSent)
			}
			if sent && got.rev != tt.ev.rev {
				t.Errorf("rev = %d, want %d", got.rev, tt.ev.rev)
			}
		})
	}
}

func TestContinueTokenRoundTrip(t *testing.T) {
	tok := encodeContinue(42, "ns/name-7")
	got, err := decodeContinue(tok)
	if err != nil {
		t.Fatal(err)
	}
	if got.ResourceVersion != 42 || got.StartKey != "ns/name-7" {
		t.Errorf("decoded %+v", got)
	}
	for _, bad := range []string{"", "!!", "e30", encodeContinue(0, "x")} {
		if _, err := decodeContinue(bad); err == nil {
			t.Errorf("decodeContinue(%q) accepted a bad token", bad)
		}
	}
}

// The event ring starts empty, grows as events come, keeps them oldest
// first across growth, and once full drops the oldest, moving the
// earliest revision a watch may resume from.
func TestHistoryRingGrowsThenWraps(t *testing.T) {
	c := &resourceCache{}
	for rev := int64(1); rev <= historySize+100; rev++ {
		c.record(cacheEvent{rev: rev})
		if rev == 100 && (len(c.history) != 128 || c.histLen != 100 || c.oldestRev != 0) {
			t.Fatalf("after 100 events: ring %d, len %d, oldest %d", len(c.history), c.histLen, c.oldestRev)
		}
	}
	if len(c.history) != historySize || c.histLen != historySize {
		t.Fatalf("ring %d holding %d, want %d full", len(c.history), c.histLen, historySize)
	}
	if c.oldestRev != 100 || c.rev != historySize+100 {
		t.Fatalf("oldest resumable %d, rev %d", c.oldestRev, c.rev)
	}
	start := (c.histNext - c.histLen + len(c.history)) % len(c.history)
	for i := 0; i < c.histLen; i++ {
		if got, want := c.history[(start+i)%len(c.history)].rev, int64(101+i); got != want {
			t.Fatalf("event %d has revision %d, want %d", i, got, want)
		}
	}
}

// Events outlive historyMarks bookmark ticks, then all but the newest
// minHistory are dropped and the ring shrinks; events newer than the
// cutoff tick stay whatever their number.
func TestHistoryAgesOutAfterQuietTicks(t *testing.T) {
	c := &resourceCache{}
	for rev := int64(1); rev <= 3000; rev++ {
		c.record(cacheEvent{rev: rev})
	}
	for tick := 0; tick < historyMarks; tick++ {
		c.ageHistory()
		if c.histLen != 3000 || c.oldestRev != 0 {
			t.Fatalf("tick %d: %d events, oldest resumable %d; nothing is old enough yet", tick, c.histLen, c.oldestRev)
		}
	}
	// Newer events than the first mark (3000) must survive the cut.
	for rev := int64(3001); rev <= 3150; rev++ {
		c.record(cacheEvent{rev: rev})
	}
	c.ageHistory()
	if c.histLen != 150 || c.oldestRev != 3000 {
		t.Fatalf("after the cut: %d events, oldest resumable %d; want the 150 after revision 3000", c.histLen, c.oldestRev)
	}
	if len(c.history) != 300 {
		t.Fatalf("ring of %d for 150 events, want it shrunk to 300", len(c.history))
	}
	for tick := 0; tick < historyMarks; tick++ {
		c.ageHistory()
	}
	if c.histLen != minHistory || c.oldestRev != 3050 || len(c.history) != 300 {
		t.Fatalf("quiet: %d events in a ring of %d, oldest resumable %d; want %d in the same 300 from 3050", c.histLen, len(c.history), c.oldestRev, minHistory)
	}
	start := (c.histNext - c.histLen + len(c.history)) % len(c.history)
	for i := 0; i < c.histLen; i++ {
		if got, want := c.history[(start+i)%len(c.history)].rev, int64(3051+i); got != want {
			t.Fatalf("event %d has revision %d, want %d", i, got, want)
		}
	}
}

// A watcher that falls more than its channel behind keeps every event, in
// order, and stays open; one that falls maxOverflow further behind is
// closed. Its consumer (drain, as the watch handler uses it) may run
// while events keep coming.
func TestSlowWatcherQueuesThenCloses(t *testing.T) {
	c := &resourceCache{watchers: map[*cacheWatcher]struct{}{}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	w := newCacheWatcher(filter{}, false)
	c.watchers[w] = struct{}{}
	rev := int64(0)
	add := func(n int) {
		for range n {
			rev++
			c.dispatch(cacheEvent{typ: watch.Added, cur: &entry{key: "k", rev: rev}, rev: rev})
		}
	}
	var got []int64
	send := func(ev watchEvent) bool { got = append(got, ev.rev); return true }

	add(watcherBuffer + 5000)
	if _, open := c.watchers[w]; !open {
		t.Fatal("a watcher 5,000 events past its channel was closed")
	}
	// Take some, then more arrive while the overflow is still queued
	// (they must come after it), then take the rest.
	for range 10 {
		send(<-w.ch)
	}
	add(3)
	if !w.drain(send) {
		t.Fatal("drain failed")
	}
	add(2)
	for len(w.ch) > 0 || len(w.overflow) > 0 {
		if !w.drain(send) {
			t.Fatal("drain failed")
		}
	}
	if len(got) != int(rev) {
		t.Fatalf("received %d of %d events", len(got), rev)
	}
	for i, r := range got {
		if r != int64(i+1) {
			t.Fatalf("event %d has revision %d: out of order", i, r)
		}
	}

	add(watcherBuffer + maxOverflow)
	if _, open := c.watchers[w]; !open {
		t.Fatal("closed before its bound")
	}
	add(1)
	if _, open := c.watchers[w]; open {
		t.Fatal("a watcher past its bound stays open")
	}
	select {
	case <-w.done:
	default:
		t.Fatal("the closed watcher was not stopped")
	}
}
