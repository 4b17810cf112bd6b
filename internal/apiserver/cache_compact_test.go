package apiserver

import (
	"math/rand"
	"testing"

	"k8s.io/apimachinery/pkg/api/apitesting/fuzzer"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metafuzzer "k8s.io/apimachinery/pkg/apis/meta/fuzzer"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gureum/gureum/internal/api"
)

// A compact entry keeps only the object's protobuf bytes, so every kind
// cached that way must come back from them unchanged: random objects of
// each, through both ways an entry is made, equal what went in.
func TestCompactEntriesKeepWholeObjects(t *testing.T) {
	reg := api.NewRegistry(api.DefaultResources())
	f := fuzzer.FuzzerFor(metafuzzer.Funcs, rand.NewSource(7), api.Codecs).NilChance(0.2).NumElements(0, 2)
	served := 0
	for gr := range compactResources {
		res, ok := lookupGroupResource(reg, gr)
		if !ok {
			t.Errorf("compact resource %s is not served", gr)
			continue
		}
		if !compactResource(res) {
			t.Errorf("%s is listed as compact but its entries would not be", gr)
			continue
		}
		served++
		for i := 0; i < 50; i++ {
			want := res.New()
			f.Fill(want)
			want.GetObjectKind().SetGroupVersionKind(res.GroupVersionKind())
			a, err := meta.Accessor(want)
			if err != nil {
				t.Fatal(err)
			}
			a.SetResourceVersion("42")

			fromStore, err := newEntry(res, "k", want.DeepCopyObject(), 42)
			if err != nil {
				t.Fatalf("%s: %v", gr, err)
			}
			written, err := newWrittenEntry(res, "k", want, 42)
			if err != nil {
				t.Fatalf("%s: %v", gr, err)
			}
			for how, e := range map[string]*entry{"read from etcd": fromStore, "as written": written} {
				if e.obj != nil {
					t.Fatalf("%s entry %s holds its decoded object", gr, how)
				}
				got, err := e.object()
				if err != nil {
					t.Fatalf("%s %s: %v", gr, how, err)
				}
				if !apiequality.Semantic.DeepEqual(want, got) {
					t.Fatalf("%s entry %s lost something: want\n%#v\ngot\n%#v", gr, how, want, got)
				}
				if got.GetObjectKind().GroupVersionKind() != res.GroupVersionKind() {
					t.Fatalf("%s %s: kind %v", gr, how, got.GetObjectKind().GroupVersionKind())
				}
			}
		}
	}
	if served == 0 {
		t.Fatal("no compact resource checked")
	}
}

// A kind with nested objects that carry their own apiVersion and kind
// loses them in protobuf, so it must not be compact.
func TestStatefulSetsAreNotCompact(t *testing.T) {
	reg := api.NewRegistry(api.DefaultResources())
	res, ok := lookupGroupResource(reg, schema.GroupResource{Group: "apps", Resource: "statefulsets"})
	if !ok {
		t.Fatal("statefulsets not served")
	}
	if compactResource(res) {
		t.Fatal("statefulsets are cached compactly; their volumeClaimTemplates' apiVersion and kind would be lost")
	}
}

func lookupGroupResource(reg *api.Registry, gr schema.GroupResource) (*api.Resource, bool) {
	for _, res := range reg.All() {
		if res.GroupVersionResource.GroupResource() == gr {
			return res, true
		}
	}
	return nil, false
}

// Field selectors read the entry's sorted pairs as they read a map.
func TestFieldSetMatchesLikeMap(t *testing.T) {
	m := fields.Set{"metadata.name": "a", "metadata.namespace": "ns", "spec.nodeName": "", "status.phase": "Running"}
	fs := newFieldSet(m)
	for _, sel := range []string{
		"metadata.name=a", "metadata.name!=a", "spec.nodeName=", "spec.nodeName!=", "status.phase=Running,metadata.namespace=ns",
		"status.phase=Pending", "spec.missing=", "spec.missing!=x", "metadata.namespace=other", "a=b",
	} {
		s, err := fields.ParseSelector(sel)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := s.Matches(fs), s.Matches(m); got != want {
			t.Errorf("%q: fieldSet %v, map %v", sel, got, want)
		}
	}
	for k, v := range m {
		if !fs.Has(k) || fs.Get(k) != v {
			t.Errorf("%s: has %v get %q", k, fs.Has(k), fs.Get(k))
		}
	}
	if fs.Has("zzz") || fs.Has("") || fs.Get("metadata") != "" {
		t.Error("fieldSet finds fields it does not have")
	}
}
