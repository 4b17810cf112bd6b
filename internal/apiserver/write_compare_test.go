package apiserver

import (
	"math/rand"
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/api/apitesting/fuzzer"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metafuzzer "k8s.io/apimachinery/pkg/apis/meta/fuzzer"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gureum/gureum/internal/api"
)

// The field-by-field no-op test agrees with comparing the whole objects
// without their resourceVersion: random objects of many kinds, against
// copies with another resourceVersion, with fields changed at random, and
// with a value changed deep inside.
func TestSameButRVMatchesWholeComparison(t *testing.T) {
	reg, _ := fastTestManagers(t)
	f := fuzzer.FuzzerFor(metafuzzer.Funcs, rand.NewSource(31), api.Codecs).NilChance(0.3).NumElements(0, 2)
	rnd := rand.New(rand.NewSource(32))
	same, differ := 0, 0
	check := func(a, b runtime.Object, what string) {
		t.Helper()
		want := apiequality.Semantic.DeepEqual(stripRV(a), stripRV(b))
		if got := sameButRV(a, b); got != want {
			t.Fatalf("%T %s: sameButRV %v, whole comparison %v", a, what, got, want)
		}
		if want {
			same++
		} else {
			differ++
		}
	}
	for _, gvk := range fieldTestKinds {
		res := resourceFor(t, reg, gvk)
		for range 30 {
			a := fuzzed(f, res)
			b := a.DeepCopyObject()
			accessor(t, b).SetResourceVersion("999")
			check(a, b, "with another resourceVersion")
			mixed := a.DeepCopyObject()
			mix(rnd, reflect.ValueOf(mixed).Elem(), reflect.ValueOf(fuzzed(f, res)).Elem(), 0)
			check(a, mixed, "mixed with another")
			touched := a.DeepCopyObject()
			touchStrings(rnd, reflect.ValueOf(touched).Elem())
			check(a, touched, "with strings changed")
		}
	}
	u := &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"name": "a", "resourceVersion": "1"}, "spec": map[string]any{"x": int64(1)}}}
	v := u.DeepCopy()
	v.SetResourceVersion("2")
	check(u, v, "unstructured, another resourceVersion")
	v.Object["spec"] = map[string]any{"x": int64(2)}
	check(u, v, "unstructured, another spec")
	t.Logf("%d pairs equal, %d differing", same, differ)
	if same < 500 || differ < 500 {
		t.Fatalf("only %d equal and %d differing pairs compared", same, differ)
	}
}
