package integration

import (
	"fmt"
	"net/http"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gureum/gureum/internal/testenv"
)

// TestWirePagination checks limit/continue: every object exactly once,
// remainingItemCount, and a consistent snapshot across later writes.
func TestWirePagination(t *testing.T) {
	t.Parallel()
	s := testenv.Start(t)
	ctx := wireCtx(t)
	ns := mkNamespace(t, s, "wire-pages")
	cms := s.Client.CoreV1().ConfigMaps(ns)
	want := map[string]bool{}
	for i := 0; i < 25; i++ {
		n := fmt.Sprintf("page-%02d", i)
		if _, err := cms.Create(ctx, configMap(n, map[string]string{"i": fmt.Sprint(i)}), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		want[n] = true
	}
	// The namespace's kube-root-ca.crt may or may not exist yet; page over
	// a label-free list of our own objects only.
	sel := metav1.ListOptions{FieldSelector: "metadata.name!=kube-root-ca.crt"}
	cmPages := func(opts metav1.ListOptions) (listPage, error) {
		l, err := cms.List(ctx, opts)
		if err != nil {
			return listPage{}, err
		}
		p := listPage{meta: l.ListMeta}
		for _, cm := range l.Items {
			p.items = append(p.items, pageItem{name: cm.Name, value: cm.Data["i"]})
		}
		return p, nil
	}

	t.Run("LimitAndContinueReturnEveryObjectExactlyOnce", func(t *testing.T) {
		opts := sel
		opts.Limit = 10
		pages := walkPages(t, opts, 3, cmPages)
		seen := map[string]int{}
		var sizes []int
		var remaining []*int64
		for i, p := range pages {
			if p.meta.ResourceVersion != pages[0].meta.ResourceVersion {
				t.Fatalf("page %d rv %s differs from the first page's %s", i, p.meta.ResourceVersion, pages[0].meta.ResourceVersion)
			}
			sizes = append(sizes, len(p.items))
			remaining = append(remaining, p.meta.RemainingItemCount)
			for _, it := range p.items {
				seen[it.name]++
			}
		}
		if fmt.Sprint(sizes) != "[10 10 5]" {
			t.Fatalf("page sizes %v, want [10 10 5]", sizes)
		}
		// With a selector the count is unknown: Kubernetes leaves it unset.
		if fmtRemaining(remaining) != "[unset unset unset]" {
			t.Fatalf("remainingItemCount per page = %s, want unset with a field selector", fmtRemaining(remaining))
		}
		for n := range want {
			if seen[n] != 1 {
				t.Errorf("%s seen %d times", n, seen[n])
			}
		}
		if len(seen) != len(want) {
			t.Errorf("saw %d objects, want %d", len(seen), len(want))
		}
	})

	t.Run("ContinueTokenIsAConsistentSnapshotAcrossWrites", func(t *testing.T) {
		opts := sel
		opts.Limit = 10
		first, err := cms.List(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		// Writes after the first page: a new object that sorts into the
		// remaining pages, a deletion and an update there.
		if _, err := cms.Create(ctx, configMap("page-15a", nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := cms.Delete(ctx, "page-20", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		upd, _ := cms.Get(ctx, "page-22", metav1.GetOptions{})
		upd.Data["i"] = "changed"
		if _, err := cms.Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		seen := map[string]string{}
		for _, cm := range first.Items {
			seen[cm.Name] = cm.Data["i"]
		}
		opts.Continue = first.Continue
		for _, p := range walkPages(t, opts, 2, cmPages) {
			if p.meta.ResourceVersion != first.ResourceVersion {
				t.Fatalf("continued page rv %s, want the snapshot's %s", p.meta.ResourceVersion, first.ResourceVersion)
			}
			for _, it := range p.items {
				seen[it.name] = it.value
			}
		}
		if _, ok := seen["page-15a"]; ok {
			t.Error("an object created after the first page showed up")
		}
		if _, ok := seen["page-20"]; !ok {
			t.Error("an object deleted after the first page is missing from the snapshot")
		}
		if seen["page-22"] != "22" {
			t.Errorf("page-22 = %q, want its value at the snapshot (22)", seen["page-22"])
		}
		if len(seen) != 25 {
			t.Errorf("snapshot has %d objects, want 25", len(seen))
		}
	})

	t.Run("UnfilteredPagesCountWhatRemains", func(t *testing.T) {
		// Secrets: nothing else creates any in a new namespace.
		secrets := s.Client.CoreV1().Secrets(ns)
		for i := 0; i < 25; i++ {
			sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("s-%02d", i)}}
			if _, err := secrets.Create(ctx, sec, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		var names []string
		var remaining []*int64
		secretPages := func(opts metav1.ListOptions) (listPage, error) {
			l, err := secrets.List(ctx, opts)
			if err != nil {
				return listPage{}, err
			}
			p := listPage{meta: l.ListMeta}
			for _, sec := range l.Items {
				p.items = append(p.items, pageItem{name: sec.Name})
			}
			return p, nil
		}
		for _, p := range walkPages(t, metav1.ListOptions{Limit: 10}, 3, secretPages) {
			remaining = append(remaining, p.meta.RemainingItemCount)
			for _, it := range p.items {
				names = append(names, it.name)
			}
		}
		if fmtRemaining(remaining) != "[15 5 unset]" {
			t.Fatalf("remainingItemCount per page = %s, want [15 5 unset]", fmtRemaining(remaining))
		}
		if len(names) != 25 || names[0] != "s-00" || names[24] != "s-24" || !slices.IsSorted(names) {
			t.Fatalf("pages held %v, want s-00 … s-24 in order", names)
		}
	})

	t.Run("SparseSelectorPagesFindLaterMatches", func(t *testing.T) {
		// One match in seven: each continued page reads on through
		// non-matching objects until it has its item and the next one.
		for _, i := range []int{3, 10, 17, 24} {
			cm, err := cms.Get(ctx, fmt.Sprintf("page-%02d", i), metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			cm.Labels = map[string]string{"sparse": "yes"}
			if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		var pages [][]string
		for i, p := range walkPages(t, metav1.ListOptions{LabelSelector: "sparse=yes", Limit: 1}, 4, cmPages) {
			if p.meta.RemainingItemCount != nil {
				t.Errorf("page %d: remainingItemCount %d with a label selector, want unset", i, *p.meta.RemainingItemCount)
			}
			var names []string
			for _, it := range p.items {
				names = append(names, it.name)
			}
			pages = append(pages, names)
		}
		if fmt.Sprint(pages) != "[[page-03] [page-10] [page-17] [page-24]]" {
			t.Fatalf("pages %v, want one match each: page-03, page-10, page-17, page-24", pages)
		}
	})

	t.Run("MalformedContinueTokenIs400", func(t *testing.T) {
		_, err := cms.List(ctx, metav1.ListOptions{Limit: 10, Continue: "not-a-token"})
		wantReason(t, err, http.StatusBadRequest, metav1.StatusReasonBadRequest)
	})
}

// listPage is what the pagination tests read of one page of a list.
type listPage struct {
	meta  metav1.ListMeta
	items []pageItem
}

type pageItem struct{ name, value string }

// walkPages lists with opts and follows the continue tokens to the end,
// failing when that takes more than want pages.
func walkPages(t *testing.T, opts metav1.ListOptions, want int, list func(metav1.ListOptions) (listPage, error)) []listPage {
	t.Helper()
	var pages []listPage
	for {
		if len(pages) == want {
			t.Fatalf("more than the %d pages expected: continue token %q", want, opts.Continue)
		}
		p, err := list(opts)
		if err != nil {
			t.Fatalf("page %d: %v", len(pages), err)
		}
		pages = append(pages, p)
		if opts.Continue = p.meta.Continue; opts.Continue == "" {
			return pages
		}
	}
}

func fmtRemaining(r []*int64) string {
	out := "["
	for i, p := range r {
		if i > 0 {
			out += " "
		}
		if p == nil {
			out += "unset"
		} else {
			out += fmt.Sprint(*p)
		}
	}
	return out + "]"
}
