package apiserver

import (
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
