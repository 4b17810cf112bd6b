package apiserver

import (
	"math/rand"
	"reflect"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/api/apitesting/fuzzer"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metafuzzer "k8s.io/apimachinery/pkg/apis/meta/fuzzer"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"sigs.k8s.io/randfill"
	"sigs.k8s.io/structured-merge-diff/v4/typed"

	"github.com/gureum/gureum/internal/api"
)

// Updates tracked through compare views must leave exactly the
// managedFields the field manager leaves when it compares the whole
// objects: random objects of several kinds, changed at random (subtrees
// replaced, removed, added) by a second manager, through the main
// resource and the status subresource.
func TestCompareViewsKeepManagedFields(t *testing.T) {
	reg, viewed := fastTestManagers(t)
	if viewed.views == nil {
		t.Fatal("the server's field managers compare whole objects: views are off")
	}
	whole := &fieldManagers{tc: viewed.tc, m: map[fieldManagerKey]*managedfields.FieldManager{}}
	f := fuzzer.FuzzerFor(metafuzzer.Funcs, rand.NewSource(11), api.Codecs).NilChance(0.3).NumElements(0, 2)
	rnd := rand.New(rand.NewSource(12))
	compared, viewedRuns, quick := 0, 0, 0
	for _, gvk := range fieldTestKinds {
		res := resourceFor(t, reg, gvk)
		subs := []string{""}
		if res.HasSubresource("status") {
			subs = append(subs, "status")
		}
		for i := 0; i < 40; i++ {
			sub := subs[i%len(subs)]
			created := fuzzed(f, res)
			live, err := trackedUpdate(whole, res, "", nil, created, "creator")
			if err != nil {
				continue // the fuzzer made something the field manager refuses
			}
			live = aged(t, live)
			changed := live.DeepCopyObject()
			mix(rnd, reflect.ValueOf(changed).Elem(), reflect.ValueOf(fuzzed(f, res)).Elem(), 0)
			setManagedFields(t, changed, accessor(t, live).GetManagedFields())

			want, werr := trackedUpdate(whole, res, sub, live, changed.DeepCopyObject(), "changer")
			got, gerr := trackedUpdate(viewed, res, sub, live, changed.DeepCopyObject(), "changer")
			if (werr == nil) != (gerr == nil) {
				t.Fatalf("%s %q #%d: whole objects: %v; views: %v", gvk.Kind, sub, i, werr, gerr)
			}
			if werr != nil {
				continue
			}
			if g, w := comparable(t, live, got), comparable(t, live, want); !apiequality.Semantic.DeepEqual(g, w) {
				t.Fatalf("%s %q #%d: managedFields through views differ from the whole comparison:\n got %+v\nwant %+v", gvk.Kind, sub, i, g, w)
			}
			if !apiequality.Semantic.DeepEqual(stripManaged(got), stripManaged(want)) {
				t.Fatalf("%s %q #%d: the object itself differs", gvk.Kind, sub, i)
			}
			compared++
			if _, _, ok := compareViews(live, changed); ok {
				viewedRuns++
			}

			// The same manager again, changing values but not shapes:
			// the kind of update the quick path answers.
			live2 := aged(t, want)
			again := live2.DeepCopyObject()
			touchStrings(rnd, reflect.ValueOf(again).Elem())
			want2, werr := trackedUpdate(whole, res, sub, live2, again, "changer")
			got2, gerr := trackedUpdate(viewed, res, sub, live2, again, "changer")
			if (werr == nil) != (gerr == nil) {
				t.Fatalf("%s %q #%d again: whole objects: %v; views: %v", gvk.Kind, sub, i, werr, gerr)
			}
			if werr != nil {
				continue
			}
			if g, w := comparable(t, live2, got2), comparable(t, live2, want2); !apiequality.Semantic.DeepEqual(g, w) {
				t.Fatalf("%s %q #%d again: managedFields through views differ from the whole comparison:\n got %+v\nwant %+v", gvk.Kind, sub, i, g, w)
			}
			lv, ov, _ := viewed.viewsFor(res, res.GroupVersionKind().GroupVersion().String(), live2, again)
			if updateOwnedComparing(res.GroupVersionKind().GroupVersion().String(), sub, live2, again.DeepCopyObject(), lv, ov, "changer", time.Now()) {
				quick++
			}
		}
	}
	t.Logf("compared %d, viewed %d, quick %d", compared, viewedRuns, quick)
	if compared < 200 || viewedRuns < compared || quick < 20 {
		t.Fatalf("only %d updates compared (%d through views, %d answered by the quick path); the fuzzer's objects were refused", compared, viewedRuns, quick)
	}
}

// While an update runs, the field manager's typed conversion of the two
// objects it was given is of their views; afterwards nothing is kept.
func TestCompareViewsReachTheFieldManager(t *testing.T) {
	reg, fm := fastTestManagers(t)
	res := resourceFor(t, reg, schema.GroupVersionKind{Version: "v1", Kind: "Service"})
	seen := &recordingConverter{TypeConverter: fm.tc}
	probe := &fieldManagers{tc: seen, m: map[fieldManagerKey]*managedfields.FieldManager{}, views: &sync.Map{}}
	live := fuzzed(fuzzer.FuzzerFor(metafuzzer.Funcs, rand.NewSource(3), api.Codecs), res)
	live, err := trackedUpdate(probe, res, "", nil, live, "creator")
	if err != nil {
		t.Fatal(err)
	}
	changed := live.DeepCopyObject()
	a := accessor(t, changed)
	a.SetLabels(map[string]string{"changed": "yes"})
	seen.objects = nil
	if _, err := trackedUpdate(probe, res, "", live, changed, "changer"); err != nil {
		t.Fatal(err)
	}
	if len(seen.objects) != 2 {
		t.Fatalf("the field manager converted %d objects, want 2", len(seen.objects))
	}
	for _, o := range seen.objects {
		if o == live || o == changed {
			t.Fatalf("the field manager compared a whole object, not its view")
		}
		if len(accessor(t, o).GetManagedFields()) != 0 {
			t.Fatalf("a view kept managedFields")
		}
	}
	n := 0
	probe.views.Range(func(any, any) bool { n++; return true })
	if n != 0 {
		t.Fatalf("%d views left registered after the update", n)
	}
}

// Views are made for kinds with a status subresource only: for the others
// (a Lease renewal) making them costs more than they save.
func TestCompareViewsOnlyForKindsWithStatus(t *testing.T) {
	reg, fm := fastTestManagers(t)
	for _, tc := range []struct {
		gvk    schema.GroupVersionKind
		viewed bool
	}{
		{schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, true},
		{schema.GroupVersionKind{Version: "v1", Kind: "Service"}, true},
		{schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, false},
		{coordinationv1.SchemeGroupVersion.WithKind("Lease"), false},
	} {
		res := resourceFor(t, reg, tc.gvk)
		live := res.New()
		obj := res.New()
		lv, ov, viewed := fm.viewsFor(res, tc.gvk.GroupVersion().String(), live, obj)
		if viewed != tc.viewed || (lv == live) == tc.viewed || (ov == obj) == tc.viewed {
			t.Errorf("%s: viewed %v, want %v", tc.gvk.Kind, viewed, tc.viewed)
		}
	}
}

type recordingConverter struct {
	managedfields.TypeConverter
	objects []runtime.Object
}

func (r *recordingConverter) ObjectToTyped(obj runtime.Object, opts ...typed.ValidationOptions) (*typed.TypedValue, error) {
	r.objects = append(r.objects, obj)
	return r.TypeConverter.ObjectToTyped(obj, opts...)
}

func fuzzed(f *randfill.Filler, res *api.Resource) runtime.Object {
	obj := res.New()
	f.Fill(obj)
	obj.GetObjectKind().SetGroupVersionKind(res.GroupVersionKind())
	a, _ := meta.Accessor(obj)
	a.SetManagedFields(nil)
	a.SetName("obj")
	a.SetNamespace("")
	return obj
}

// trackedUpdate is fieldManagers.update on a copy of obj.
func trackedUpdate(fm *fieldManagers, res *api.Resource, sub string, live, obj runtime.Object, manager string) (runtime.Object, error) {
	obj = obj.DeepCopyObject()
	if err := fm.update(res, sub, live, obj, manager); err != nil {
		return nil, err
	}
	return obj, nil
}

// mix replaces, removes or descends into each field of dst at random,
// taking replacements from src (of the same type).
func mix(rnd *rand.Rand, dst, src reflect.Value, depth int) {
	t := dst.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() || f.Type == reflect.TypeFor[metav1.TypeMeta]() {
			continue
		}
		if depth == 0 && f.Type == objectMetaType {
			// Keep the identity; labels and annotations may change.
			m := dst.Field(i)
			if rnd.Intn(3) == 0 {
				m.FieldByName("Labels").Set(src.Field(i).FieldByName("Labels"))
			}
			if rnd.Intn(3) == 0 {
				m.FieldByName("Annotations").Set(src.Field(i).FieldByName("Annotations"))
			}
			continue
		}
		switch r := rnd.Intn(10); {
		case r < 2:
			dst.Field(i).Set(src.Field(i))
		case r < 3:
			dst.Field(i).SetZero()
		case f.Type.Kind() == reflect.Struct && depth < 3 && !typeInfoOf(f.Type).marshaler:
			mix(rnd, dst.Field(i), src.Field(i), depth+1)
		}
	}
}

// touchStrings changes, at random, non-empty strings outside metadata:
// values change, shapes mostly do not.
func touchStrings(rnd *rand.Rand, v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			touchStrings(rnd, v.Elem())
		}
	case reflect.Slice:
		for i := range v.Len() {
			touchStrings(rnd, v.Index(i))
		}
	case reflect.Struct:
		if typeInfoOf(v.Type()).marshaler {
			return
		}
		for i := range v.NumField() {
			if f := v.Type().Field(i); f.IsExported() && f.Type != objectMetaType {
				touchStrings(rnd, v.Field(i))
			}
		}
	case reflect.String:
		if v.Len() > 0 && v.CanSet() && rnd.Intn(4) == 0 {
			v.SetString(v.String() + "x")
		}
	}
}

func setManagedFields(t *testing.T, obj runtime.Object, entries []metav1.ManagedFieldsEntry) {
	t.Helper()
	accessor(t, obj).SetManagedFields(entries)
}

func stripManaged(obj runtime.Object) runtime.Object {
	cp := obj.DeepCopyObject()
	if a, err := meta.Accessor(cp); err == nil {
		a.SetManagedFields(nil)
	}
	return cp
}
