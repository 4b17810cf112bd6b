package proxy

import (
	"context"
	"os/exec"
	"sort"
	"strings"
	"testing"
)

// normalize makes two listings of the same table comparable: chain and
// element order depend on history, content does not.
func normalize(listing string) string {
	listing = strings.ReplaceAll(listing, "elements = {", "\n")
	var items []string
	for _, line := range strings.Split(listing, "\n") {
		for _, item := range strings.Split(line, ",") {
			item = strings.Trim(strings.TrimSpace(item), "{} ")
			if item != "" {
				items = append(items, item)
			}
		}
	}
	sort.Strings(items)
	return strings.Join(items, "\n")
}

// TestNFTApplierAcceptsEveryGoldenRuleset programs each golden ruleset into
// a scratch namespace, in sequence (each replacing the previous), and
// checks the kernel holds exactly it: every rule kind Compute can emit is
// accepted by nf_tables and readable by the nft CLI.
func TestNFTApplierAcceptsEveryGoldenRuleset(t *testing.T) {
	requireRoot(t)
	name, freshName := "gpt-applier", "gpt-applier-fresh"
	ns := newNamedNS(t, name)
	freshNS := newNamedNS(t, freshName)
	a := &NFTApplier{NetNSFd: int(ns)}
	listIn := func(netnsName string) string {
		out, err := exec.Command("ip", "netns", "exec", netnsName, "nft", "list", "table", "ip", TableName).CombinedOutput()
		if err != nil {
			t.Fatalf("nft list table: %v\n%s", err, out)
		}
		return string(out)
	}
	list := func() string { return listIn(name) }
	for _, tc := range computeCases() {
		rs := Compute(tc.services, tc.slices, tc.node)
		if err := a.Apply(context.Background(), rs); err != nil {
			t.Fatalf("%s: apply: %v", tc.name, err)
		}
		out := list()
		// The incremental update must leave what a rebuild would.
		fresh := &NFTApplier{NetNSFd: int(freshNS)}
		if err := fresh.Delete(TableName); err != nil {
			t.Fatal(err)
		}
		if err := fresh.Apply(context.Background(), rs); err != nil {
			t.Fatalf("%s: fresh apply: %v", tc.name, err)
		}
		if got, want := normalize(out), normalize(listIn(freshName)); got != want {
			t.Errorf("%s: incremental result differs from a rebuild:\nincremental:\n%s\nrebuild:\n%s", tc.name, got, want)
		}
		for _, c := range rs.Chains {
			if !strings.Contains(out, "chain "+c.Name+" {") {
				t.Errorf("%s: chain %s missing from the kernel:\n%s", tc.name, c.Name, out)
			}
		}
		if got, want := strings.Count(out, "\tchain "), len(rs.Chains); got != want {
			t.Errorf("%s: kernel has %d chains, want %d (stale chains left?)", tc.name, got, want)
		}
		if got, want := strings.Count(out, "\tmap ")+strings.Count(out, "\tset "), len(rs.Sets); got != want {
			t.Errorf("%s: kernel has %d sets/maps, want %d", tc.name, got, want)
		}
		if testing.Verbose() && tc.name == "session-affinity" {
			t.Logf("nft list table ip %s:\n%s", TableName, out)
		}
	}
	if n := a.Stats(); n != 1 {
		t.Errorf("%d full rebuilds; want only the first apply to rebuild", n)
	}
	if err := a.Delete(TableName); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("ip", "netns", "exec", name, "nft", "list", "tables").CombinedOutput(); err != nil || strings.Contains(string(out), TableName) {
		t.Fatalf("table not deleted: %v %s", err, out)
	}
}

// TestNFTApplierKeepsAffinityAcrossSyncs: a sync for an unrelated change
// must not forget which endpoint a client sticks to.
func TestNFTApplierKeepsAffinityAcrossSyncs(t *testing.T) {
	requireRoot(t)
	name := "gpt-affinity"
	ns := newNamedNS(t, name)
	a := &NFTApplier{NetNSFd: int(ns)}
	var tc computeCase
	for _, c := range computeCases() {
		if c.name == "session-affinity" {
			tc = c
		}
	}
	rs := Compute(tc.services, tc.slices, tc.node)
	must(t, a.Apply(context.Background(), rs))
	var set string
	for _, s := range rs.Sets {
		if s.Timeout > 0 {
			set = s.Name
			break
		}
	}
	nft := func(args ...string) string {
		out, err := exec.Command("ip", append([]string{"netns", "exec", name, "nft"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("nft %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	nft("add", "element", "ip", TableName, set, "{ 10.42.3.3 }")
	// An unrelated service appears.
	more := append(tc.services, service("default", "other", "10.43.7.7"))
	must(t, a.Apply(context.Background(), Compute(more, tc.slices, tc.node)))
	if out := nft("list", "set", "ip", TableName, set); !strings.Contains(out, "10.42.3.3") {
		t.Fatalf("affinity entry lost across a sync:\n%s", out)
	}
}
