package apiserver

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/structured-merge-diff/v4/fieldpath"
)

// An update that only changes values its manager alone already owns
// leaves every field set as it was and moves that manager's timestamp to
// now: that is what the structured-merge-diff field manager computes for
// it, at a fraction of the cost. It is the shape of the busiest writes
// (each node's Lease renewal every 10 s), where the full computation was
// most of the API server's share of an idle cluster's CPU. updateOwned
// recognises such updates conservatively; anything else (a field added
// or removed, a list changed, a field someone else owns, a manager seen
// for the first time) goes the full way.

// maxUpdateManagers is how many Update entries the field manager keeps
// before folding the oldest together; an object at or over it goes the
// full way so the folding happens as it would.
const maxUpdateManagers = 10

// strippedMeta are the top-level metadata fields no manager ever owns.
var strippedMeta = map[string]bool{
	"name": true, "namespace": true, "creationTimestamp": true, "selfLink": true, "uid": true,
	"clusterName": true, "generation": true, "managedFields": true, "resourceVersion": true,
}

// updateOwned sets obj's managedFields as the full field manager would for
// manager's update of live to obj, and reports whether it could tell.
func updateOwned(gv, subresource string, live, obj runtime.Object, manager string, now time.Time) bool {
	return updateOwnedComparing(gv, subresource, live, obj, live, obj, manager, now)
}

// updateOwnedComparing is updateOwned finding the changes between clive
// and cobj: live and obj, or their compare views (which change the same
// leaves and are quicker to walk).
func updateOwnedComparing(gv, subresource string, live, obj, clive, cobj runtime.Object, manager string, now time.Time) bool {
	la, err := meta.Accessor(live)
	if err != nil {
		return false
	}
	oa, err := meta.Accessor(obj)
	if err != nil {
		return false
	}
	managed := la.GetManagedFields()
	if sent, present := sentManagedFields(obj, oa); subresource == "" && present && !sameEntries(sent, managed) {
		// The client replaces managedFields (or resets them).
		return false
	}
	if len(managed) == 0 {
		return false
	}
	own, updates := -1, 0
	for i, e := range managed {
		if e.APIVersion != gv || e.FieldsType != "FieldsV1" || e.FieldsV1 == nil {
			return false
		}
		if e.Operation == metav1.ManagedFieldsOperationUpdate {
			updates++
			if e.Manager == manager && e.Subresource == subresource {
				own = i
			}
		}
	}
	if updates >= maxUpdateManagers {
		return false
	}
	var changed []fieldpath.Path
	if lv, ov, ok := sameStructs(clive, cobj); ok {
		if !typedChangedLeaves(lv, ov, make(fieldpath.Path, 0, pathStack), &changed) {
			return false
		}
	} else if !unstructuredChangedLeaves(clive, cobj, &changed) {
		return false
	}
	out := append([]metav1.ManagedFieldsEntry(nil), managed...)
	if len(changed) > 0 {
		if own < 0 {
			return false
		}
		for i, e := range managed {
			set, ok := parsedFields(e.FieldsV1.Raw)
			if !ok {
				return false
			}
			for _, p := range changed {
				if set.Has(p) != (i == own) {
					return false
				}
			}
		}
		out[own].Time = &metav1.Time{Time: now.UTC()}
		sortManagedFields(out)
	}
	oa.SetManagedFields(out)
	return true
}

// unstructuredChangedLeaves is changedLeaves over the unstructured
// content of live and obj, without the fields no manager owns.
func unstructuredChangedLeaves(live, obj runtime.Object, changed *[]fieldpath.Path) bool {
	before, ok := fieldsOf(live)
	if !ok {
		return false
	}
	after, ok := fieldsOf(obj)
	if !ok {
		return false
	}
	for k := range before {
		if _, ok := after[k]; !ok && k != "apiVersion" && k != "kind" {
			return false
		}
	}
	for k, v := range after {
		switch k {
		case "apiVersion", "kind":
			continue
		case "metadata":
			bm, ok1 := before[k].(map[string]any)
			am, ok2 := v.(map[string]any)
			if !ok1 || !ok2 || !changedLeaves(strip(bm), strip(am), fieldpath.Path{fieldName(k)}, changed) {
				return false
			}
		default:
			bv, ok := before[k]
			if !ok || !changedLeaves(bv, v, fieldpath.Path{fieldName(k)}, changed) {
				return false
			}
		}
	}
	return true
}

// sentManagedFields returns the managedFields obj carries and whether it
// carries any at all: an empty list resets them, and an unstructured
// object's accessor returns an empty list as none.
func sentManagedFields(obj runtime.Object, a metav1.Object) ([]metav1.ManagedFieldsEntry, bool) {
	if u, ok := obj.(runtime.Unstructured); ok {
		m, _ := u.UnstructuredContent()["metadata"].(map[string]any)
		v, present := m["managedFields"]
		return a.GetManagedFields(), present && v != nil
	}
	entries := a.GetManagedFields()
	return entries, entries != nil
}

// sameStructs returns the structs two built-in objects of one Go type
// point to.
func sameStructs(a, b runtime.Object) (reflect.Value, reflect.Value, bool) {
	av, bv := reflect.ValueOf(a), reflect.ValueOf(b)
	if av.Type() != bv.Type() || av.Kind() != reflect.Pointer || av.IsNil() || bv.IsNil() || av.Elem().Kind() != reflect.Struct {
		return reflect.Value{}, reflect.Value{}, false
	}
	if _, ok := a.(runtime.Unstructured); ok {
		return reflect.Value{}, reflect.Value{}, false
	}
	return av.Elem(), bv.Elem(), true
}

var jsonMarshaler = reflect.TypeFor[json.Marshaler]()

// pathStack is deeper than any object's fields go: a walk's path stack
// never grows.
const pathStack = 32

// typedChangedLeaves is changedLeaves on the Go values themselves, by
// their JSON field names: converting both objects to unstructured form
// (times through JSON and back) cost more than the rest of a Lease
// renewal's check. It is stricter than the unstructured walk: a value
// that becomes or stops being its type's zero value (which JSON may omit)
// counts as a change of shape. path is a stack the walk pushes on (its
// backing array shared by siblings); a changed leaf's path is copied out.
func typedChangedLeaves(a, b reflect.Value, path fieldpath.Path, out *[]fieldpath.Path) bool {
	t := a.Type()
	leaf := func() bool {
		if equalLeaves(a, b) {
			return true
		}
		if a.IsZero() || b.IsZero() {
			return false
		}
		*out = append(*out, slices.Clone(path))
		return true
	}
	if t.Kind() == reflect.Pointer {
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return typedChangedLeaves(a.Elem(), b.Elem(), path, out)
	}
	info := typeInfoOf(t)
	if info.marshaler {
		return leaf()
	}
	switch t.Kind() {
	case reflect.Struct:
		if a.IsZero() && b.IsZero() {
			return true // as a compare view leaves what is equal
		}
		for _, f := range info.fields {
			if f.inline {
				if len(path) == 0 && f.typeMeta {
					continue // apiVersion and kind
				}
				if !typedChangedLeaves(a.Field(f.index), b.Field(f.index), path, out) {
					return false
				}
				continue
			}
			if len(path) == 1 && path[0].FieldName != nil && *path[0].FieldName == "metadata" && strippedMeta[f.name] {
				continue
			}
			if !typedChangedLeaves(a.Field(f.index), b.Field(f.index), append(path, f.elem), out) {
				return false
			}
		}
		return true
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return reflect.DeepEqual(a.Interface(), b.Interface())
		}
		if a.Len() != b.Len() || a.IsNil() != b.IsNil() {
			return false
		}
		for iter := a.MapRange(); iter.Next(); {
			bv := b.MapIndex(iter.Key())
			if !bv.IsValid() || !typedChangedLeaves(iter.Value(), bv, append(path, fieldName(iter.Key().String())), out) {
				return false
			}
		}
		return true
	case reflect.Slice, reflect.Array, reflect.Interface:
		return reflect.DeepEqual(a.Interface(), b.Interface())
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return leaf()
	}
	return false
}

// typeInfo is what the walks over Go values need of a type, worked out
// once: reading struct tags and asking about interfaces for every value
// of every update was most of a Lease renewal's check.
type typeInfo struct {
	// marshaler says the type encodes itself (a time, a quantity): one
	// scalar, not fields.
	marshaler bool
	// fields are a struct's exported fields with a JSON form.
	fields []fieldInfo
}

type fieldInfo struct {
	index int
	name  string // JSON name
	// elem is name as a path element, made once: a walk pushes it for
	// every field it visits.
	elem fieldpath.PathElement
	// inline fields (apiVersion and kind, inline structs) have no name
	// of their own: their fields are their parent's.
	inline   bool
	typeMeta bool
	// omitEmpty says the field is left out when its value is its type's
	// zero value (struct types never are).
	omitEmpty bool
}

var typeInfos sync.Map // reflect.Type -> *typeInfo

var typeMetaType = reflect.TypeFor[metav1.TypeMeta]()

func typeInfoOf(t reflect.Type) *typeInfo {
	if i, ok := typeInfos.Load(t); ok {
		return i.(*typeInfo)
	}
	info := &typeInfo{marshaler: t.Implements(jsonMarshaler) || reflect.PointerTo(t).Implements(jsonMarshaler)}
	if t.Kind() == reflect.Struct {
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			switch {
			case name == "-":
				continue
			case name == "" && (f.Anonymous || strings.Contains(opts, "inline")):
				info.fields = append(info.fields, fieldInfo{index: i, inline: true, typeMeta: f.Type == typeMetaType})
				continue
			case name == "":
				name = f.Name
			}
			info.fields = append(info.fields, fieldInfo{index: i, name: name, elem: fieldName(name), omitEmpty: slices.Contains(strings.Split(opts, ","), "omitempty")})
		}
	}
	typeInfos.Store(t, info)
	return info
}

// equalLeaves compares two values JSON writes as one scalar (times and
// quantities by their meaning, as the API does).
func equalLeaves(a, b reflect.Value) bool {
	if a.Kind() != reflect.Struct && a.Comparable() && b.Comparable() {
		return a.Equal(b)
	}
	if a.CanAddr() && b.CanAddr() {
		switch x := a.Addr().Interface().(type) {
		case *metav1.Time:
			return x.UTC() == b.Addr().Interface().(*metav1.Time).UTC()
		case *metav1.MicroTime:
			return x.UTC() == b.Addr().Interface().(*metav1.MicroTime).UTC()
		}
	}
	return apiequality.Semantic.DeepEqual(a.Interface(), b.Interface())
}

// fieldsOf is obj as unstructured content, without its managedFields
// (which nobody owns, and which cost most of the conversion).
func fieldsOf(obj runtime.Object) (map[string]any, bool) {
	if u, ok := obj.(runtime.Unstructured); ok {
		return u.UnstructuredContent(), true // only read
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(withoutManagedFields(obj))
	return m, err == nil
}

// withoutManagedFields returns a shallow copy of a built-in object (a
// pointer to a struct) without managedFields, leaving obj as it is.
func withoutManagedFields(obj runtime.Object) runtime.Object {
	out := shallowCopy(obj)
	if out == nil {
		return obj
	}
	a, err := meta.Accessor(out)
	if err != nil {
		return obj
	}
	a.SetManagedFields(nil)
	return out
}

// shallowCopy copies the struct a built-in object points to, sharing
// everything it references; nil for other objects (unstructured ones are
// maps all the way down). Only the copy's own top-level metadata fields
// may be set afterwards.
func shallowCopy(obj runtime.Object) runtime.Object {
	if _, ok := obj.(runtime.Unstructured); ok {
		return nil
	}
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return nil
	}
	cp := reflect.New(v.Elem().Type())
	cp.Elem().Set(v.Elem())
	out, _ := cp.Interface().(runtime.Object)
	return out
}

// sameEntries is managedFields equality without reflection.
func sameEntries(a, b []metav1.ManagedFieldsEntry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := &a[i], &b[i]
		if x.Manager != y.Manager || x.Operation != y.Operation || x.APIVersion != y.APIVersion ||
			x.Subresource != y.Subresource || x.FieldsType != y.FieldsType ||
			(x.Time == nil) != (y.Time == nil) || (x.Time != nil && !x.Time.Equal(y.Time)) ||
			(x.FieldsV1 == nil) != (y.FieldsV1 == nil) || (x.FieldsV1 != nil && !bytes.Equal(x.FieldsV1.Raw, y.FieldsV1.Raw)) {
			return false
		}
	}
	return true
}

func fieldName(s string) fieldpath.PathElement { return fieldpath.PathElement{FieldName: &s} }

// strip returns metadata without the fields no manager owns.
func strip(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if !strippedMeta[k] {
			out[k] = v
		}
	}
	return out
}

// changedLeaves appends the paths of scalar values that differ between a
// and b, and reports false if the two differ in shape: a key in one only,
// a list that changed, a value that changed type.
func changedLeaves(a, b any, path fieldpath.Path, out *[]fieldpath.Path) bool {
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok || len(av) != len(bv) {
			return false
		}
		for k, x := range av {
			y, ok := bv[k]
			if !ok || !changedLeaves(x, y, append(path[:len(path):len(path)], fieldName(k)), out) {
				return false
			}
		}
		return true
	case []any:
		return reflect.DeepEqual(a, b)
	default:
		switch b.(type) {
		case map[string]any, []any:
			return false
		}
		if a == nil || b == nil || reflect.TypeOf(a) != reflect.TypeOf(b) {
			return a == b
		}
		if a != b {
			*out = append(*out, path)
		}
		return true
	}
}

// sortManagedFields orders entries as the field manager encodes them.
func sortManagedFields(entries []metav1.ManagedFieldsEntry) {
	unix := func(t *metav1.Time) int64 {
		if t == nil {
			return 0
		}
		return t.Unix()
	}
	sort.Slice(entries, func(i, j int) bool {
		p, q := entries[i], entries[j]
		if p.Operation != q.Operation {
			return p.Operation < q.Operation
		}
		if unix(p.Time) != unix(q.Time) {
			return unix(p.Time) < unix(q.Time)
		}
		if p.Manager != q.Manager {
			return p.Manager < q.Manager
		}
		if p.APIVersion != q.APIVersion {
			return p.APIVersion < q.APIVersion
		}
		return p.Subresource < q.Subresource
	})
}

// fieldSets caches parsed FieldsV1 by their bytes: a thousand nodes'
// Leases carry the same few sets.
var fieldSets struct {
	sync.Mutex
	m map[string]*fieldpath.Set
}

const maxFieldSets = 4096

func parsedFields(raw []byte) (*fieldpath.Set, bool) {
	fieldSets.Lock()
	s, ok := fieldSets.m[string(raw)]
	fieldSets.Unlock()
	if ok {
		return s, true
	}
	s = &fieldpath.Set{}
	if err := s.FromJSON(bytes.NewReader(raw)); err != nil {
		return nil, false
	}
	fieldSets.Lock()
	if fieldSets.m == nil || len(fieldSets.m) >= maxFieldSets {
		fieldSets.m = map[string]*fieldpath.Set{}
	}
	fieldSets.m[string(raw)] = s
	fieldSets.Unlock()
	return s, true
}
