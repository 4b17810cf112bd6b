package apiserver

import (
	"reflect"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"sigs.k8s.io/structured-merge-diff/v4/typed"

	"github.com/gureum/gureum/internal/api"
)

// The structured-merge-diff field manager finds what an update changed by
// walking the live object and the new one side by side, through
// reflection, field by field: for a pod's status report most of that walk
// is the unchanged spec and metadata, and it was the largest part of the
// API server's CPU in a burst of pods. The walk reports nothing for a
// subtree that is equal on both sides, so the field manager is handed
// views of the two objects in which every such subtree is zeroed on both
// sides: the same changes come out of a much shorter walk.
//
// The field manager reads the two objects only to compare them (its
// Update returns the new object itself, with managedFields set); the
// views are handed to it where it converts an object to its typed form,
// keyed by the object it was given.

// compareViews returns copies of live and obj with every struct field
// that is equal in both zeroed in both, descending into struct-valued
// fields that differ. managedFields, which the field manager removes from
// the new object and never tracks, are dropped from both. ok is false for
// objects it cannot view (not both pointers to the same struct type).
//
// Why zeroing keeps the comparison: equal subtrees report nothing; a
// struct value is present in the typed form whatever its content (only
// empty strings, numbers, lists, maps and nil pointers are omitted), so
// zeroing inside one never makes its parent appear or disappear; and
// reflect.DeepEqual is stricter than the walk's own equality (two values
// it calls equal encode alike).
func compareViews(live, obj runtime.Object) (runtime.Object, runtime.Object, bool) {
	if _, u := obj.(runtime.Unstructured); u {
		return nil, nil, false
	}
	lv, ov := reflect.ValueOf(live), reflect.ValueOf(obj)
	if lv.Type() != ov.Type() || lv.Kind() != reflect.Pointer || lv.IsNil() || ov.IsNil() || lv.Elem().Kind() != reflect.Struct {
		return nil, nil, false
	}
	lc, oc := reflect.New(lv.Elem().Type()), reflect.New(ov.Elem().Type())
	lc.Elem().Set(lv.Elem())
	oc.Elem().Set(ov.Elem())
	zeroEqualFields(lc.Elem(), oc.Elem(), true)
	lo, ok1 := lc.Interface().(runtime.Object)
	oo, ok2 := oc.Interface().(runtime.Object)
	return lo, oo, ok1 && ok2
}

var objectMetaType = reflect.TypeFor[metav1.ObjectMeta]()

// zeroEqualFields zeroes, in a and b (addressable copies of one struct
// type), each exported field equal in both, and descends into struct
// fields that differ. Inline fields (apiVersion and kind) stay as they
// are: the field manager reads the kind.
func zeroEqualFields(a, b reflect.Value, root bool) {
	for _, f := range typeInfoOf(a.Type()).fields {
		if f.inline {
			continue
		}
		fa, fb := a.Field(f.index), b.Field(f.index)
		ft := fa.Type()
		if root && ft == objectMetaType {
			// Only the object's own: a pod template's are fields like any other.
			fa.FieldByName("ManagedFields").SetZero()
			fb.FieldByName("ManagedFields").SetZero()
		}
		// Through pointers: boxing the values themselves would copy each.
		if reflect.DeepEqual(fa.Addr().Interface(), fb.Addr().Interface()) {
			fa.SetZero()
			fb.SetZero()
			continue
		}
		if ft.Kind() == reflect.Struct && !typeInfoOf(ft).marshaler {
			zeroEqualFields(fa, fb, false)
		}
	}
}

// viewingConverter is the type converter the field managers of built-in
// kinds use: for an object registered in views it converts the view.
type viewingConverter struct {
	managedfields.TypeConverter
	views *sync.Map // runtime.Object -> runtime.Object
}

func (c viewingConverter) ObjectToTyped(obj runtime.Object, opts ...typed.ValidationOptions) (*typed.TypedValue, error) {
	if v, ok := c.views.Load(obj); ok {
		obj = v.(runtime.Object)
	}
	return c.TypeConverter.ObjectToTyped(obj, opts...)
}

// viewsFor returns the views of live and obj, or live and obj themselves
// when views are off, do not pay or cannot be used. They pay for kinds
// with a status subresource, whose status writes leave a large spec as it
// was; for the others building them costs more than the walks they
// shorten (a Lease renewal, BenchmarkLeaseRenewalManagedFields/update:
// 12 µs and 2.2 KB with views, 6 µs and 1 KB without; in a running
// server at 1,000 nodes the views were 5% of the idle CPU). They cannot
// be used when a manager tracks fields in a version other than gv: the
// field manager then compares after a conversion, which could combine a
// zeroed field with one that changed.
func (f *fieldManagers) viewsFor(res *api.Resource, gv string, live, obj runtime.Object) (runtime.Object, runtime.Object, bool) {
	if f.views == nil || !res.HasSubresource("status") || !sameVersionManagers(gv, live) || !sameVersionManagers(gv, obj) {
		return live, obj, false
	}
	lview, oview, ok := compareViews(live, obj)
	if !ok {
		return live, obj, false
	}
	return lview, oview, true
}

// withViews registers lview and oview as the views of live and obj for
// the duration of update.
func (f *fieldManagers) withViews(live, obj, lview, oview runtime.Object, update func() error) error {
	if _, taken := f.views.LoadOrStore(live, lview); taken {
		return update()
	}
	defer f.views.Delete(live)
	if _, taken := f.views.LoadOrStore(obj, oview); taken {
		return update()
	}
	defer f.views.Delete(obj)
	return update()
}

func sameVersionManagers(gv string, obj runtime.Object) bool {
	a, err := meta.Accessor(obj)
	if err != nil {
		return false
	}
	for _, e := range a.GetManagedFields() {
		if e.APIVersion != gv {
			return false
		}
	}
	return true
}

// sameVersionConvertor is the scheme, except that an object already of
// the version asked for is returned as it is: the field manager converts
// both objects of every write to its version only to read them, and the
// scheme's copy of each was a deep copy of a pod per write. It also lets
// the views above be found by the object the field manager was given.
type sameVersionConvertor struct{ runtime.ObjectConvertor }

func (c sameVersionConvertor) ConvertToVersion(in runtime.Object, target runtime.GroupVersioner) (runtime.Object, error) {
	if _, u := in.(runtime.Unstructured); !u {
		if gvk := in.GetObjectKind().GroupVersionKind(); !gvk.Empty() {
			if want, ok := target.KindForGroupVersionKinds([]schema.GroupVersionKind{gvk}); ok && want == gvk {
				return in, nil
			}
		}
	}
	return c.ObjectConvertor.ConvertToVersion(in, target)
}
