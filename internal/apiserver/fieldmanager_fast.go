package apiserver

import (
	"bytes"
	"reflect"
	"sort"
	"sync"
	"time"

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
	la, err := meta.Accessor(live)
	if err != nil {
		return false
	}
	oa, err := meta.Accessor(obj)
	if err != nil {
		return false
	}
	managed := la.GetManagedFields()
	if sent := oa.GetManagedFields(); subresource == "" && sent != nil && !sameEntries(sent, managed) {
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
	before, ok := fieldsOf(live)
	if !ok {
		return false
	}
	after, ok := fieldsOf(obj)
	if !ok {
		return false
	}
	var changed []fieldpath.Path
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
			if !ok1 || !ok2 || !changedLeaves(strip(bm), strip(am), fieldpath.Path{fieldName(k)}, &changed) {
				return false
			}
		default:
			bv, ok := before[k]
			if !ok || !changedLeaves(bv, v, fieldpath.Path{fieldName(k)}, &changed) {
				return false
			}
		}
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
