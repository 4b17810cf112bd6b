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
