package apiserver

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gureum/gureum/internal/api"
	"github.com/gureum/gureum/internal/serviceaccount"
)

// A create's managedFields hold one entry: its manager owns every field
// the new object sets. Which fields those are depends on the object's
// shape (the fields present, map keys, list items) and never on a scalar
// value outside a list: the pods of one ReplicaSet, the events of one
// kind, the Leases of a thousand nodes each get the same field set. The
// structured-merge-diff comparison of the new object with an empty one
// that works it out was about 60% of a pod create's API time, so the
// field set of each shape is remembered after the first create and
// reused. The shape is written out conservatively: list items keep every
// value (an associative list's keys are values in its items; a set's
// members are values), maps keep their keys, and a value that is null,
// absent or its type's zero value stays so; only which other value a
// scalar outside a list holds is left out.

// createShapes maps shape keys (resource, manager's API version, shape)
// to the FieldsV1 of the one entry a create of that shape got.
type createShapes struct {
	mu sync.Mutex
	m  map[string][]byte
}

// maxCreateShapes bounds the memory the shapes hold (a key writes out the
// object's lists in full, typically one or two KB for a pod): a cluster
// has far fewer shapes of object than this, and a workload that makes a
// new shape with every create only ever misses.
const maxCreateShapes = 1024

func newCreateShapes() *createShapes { return &createShapes{m: map[string][]byte{}} }

// createShape is one create's shape key. Pods get a service account
// volume whose name ends in random characters, and volumes is a list
// keyed by name, so the name is in the field set: the key and the
// remembered field set hold a placeholder in its place.
type createShape struct {
	key   []byte
	token string
}

// tokenPlaceholder stands for a shape's token; raw JSON (the field set)
// and the key (its strings quoted) never hold a NUL byte.
var tokenPlaceholder = []byte("\x00token\x00")

// fields returns the remembered field set of the shape, with its token.
func (c *createShapes) fields(s createShape) ([]byte, bool) {
	c.mu.Lock()
	tmpl, ok := c.m[string(s.key)]
	c.mu.Unlock()
	if !ok {
		return nil, false
	}
	if s.token == "" {
		return bytes.Clone(tmpl), true
	}
	return bytes.ReplaceAll(tmpl, tokenPlaceholder, []byte(s.token)), true
}

func (c *createShapes) remember(s createShape, fields []byte) {
	tmpl := bytes.Clone(fields)
	if s.token != "" {
		tmpl = bytes.ReplaceAll(fields, []byte(s.token), tokenPlaceholder)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxCreateShapes {
		clear(c.m)
	}
	c.m[string(s.key)] = tmpl
}

// createShapeKey is the shape of a create of a built-in object whose
// field set the shapes may answer: none if obj is unstructured, brings
// managedFields of its own, or carries kubectl's last-applied annotation
// (which the field manager treats specially).
func createShapeKey(res *api.Resource, gv string, obj runtime.Object) (createShape, bool) {
	if _, ok := obj.(runtime.Unstructured); ok {
		return createShape{}, false
	}
	a, err := meta.Accessor(obj)
	if err != nil || len(a.GetManagedFields()) > 0 {
		return createShape{}, false
	}
	if _, ok := a.GetAnnotations()[corev1.LastAppliedConfigAnnotation]; ok {
		return createShape{}, false
	}
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return createShape{}, false
	}
	w := shapeWriter{b: make([]byte, 0, 1024)}
	w.b = append(w.b, res.GroupVersionResource.String()...)
	w.b = append(w.b, '|')
	w.b = append(w.b, gv...)
	w.b = append(w.b, '|')
	if !w.value(v, false) {
		return createShape{}, false
	}
	s := createShape{key: w.b}
	if pod, ok := obj.(*corev1.Pod); ok {
		s.token = serviceAccountVolume(pod)
	}
	if s.token != "" {
		// Renaming one string everywhere renames it in the field set,
		// and keeps its order among the set's other keys unless another
		// string shares the prefix the random part follows.
		if bytes.Count(s.key, []byte(serviceaccount.VolumePrefix)) != bytes.Count(s.key, []byte(s.token)) {
			return createShape{}, false
		}
		s.key = bytes.ReplaceAll(s.key, []byte(s.token), tokenPlaceholder)
	}
	return s, true
}

// serviceAccountVolume is the name of the volume service account admission
// added to pod, if it has one such volume.
func serviceAccountVolume(pod *corev1.Pod) string {
	name := ""
	for _, v := range pod.Spec.Volumes {
		if strings.HasPrefix(v.Name, serviceaccount.VolumePrefix) {
			if name != "" {
				return ""
			}
			name = v.Name
		}
	}
	if len(name) == len(serviceaccount.VolumePrefix) {
		return ""
	}
	return name
}

// createdEntry is the managedFields entry a create by manager gets.
func createdEntry(manager, gv string, fields []byte, now time.Time) metav1.ManagedFieldsEntry {
	return metav1.ManagedFieldsEntry{
		Manager: manager, Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: gv,
		Time: &metav1.Time{Time: now.UTC()}, FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: fields},
	}
}

// shapeWriter writes a value's shape in a JSON-like form, following the
// structured-merge-diff reflection's rules for what is present (a field
// tagged omitempty with its type's zero value is not).
type shapeWriter struct{ b []byte }

var rawExtensionType = reflect.TypeFor[runtime.RawExtension]()

// value writes v; inList says v is in a list, where scalars are written
// as they are. It reports false for what it does not know how to write.
func (w *shapeWriter) value(v reflect.Value, inList bool) bool {
	if v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			w.b = append(w.b, "null"...)
			return true
		}
		if v.Kind() == reflect.Interface {
			return w.marshaled(v, true)
		}
		v = v.Elem()
	}
	t := v.Type()
	info := typeInfoOf(t)
	if info.marshaler || t == rawExtensionType {
		return w.marshaled(v, inList)
	}
	switch t.Kind() {
	case reflect.Struct:
		w.b = append(w.b, '{')
		if !w.fields(v, info, inList) {
			return false
		}
		w.b = append(w.b, '}')
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return false
		}
		if v.IsNil() {
			w.b = append(w.b, "null"...)
			return true
		}
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int {
			switch x, y := a.String(), b.String(); {
			case x < y:
				return -1
			case x > y:
				return 1
			}
			return 0
		})
		w.b = append(w.b, '{')
		for i, k := range keys {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			w.b = strconv.AppendQuote(w.b, k.String())
			w.b = append(w.b, ':')
			if !w.value(v.MapIndex(k), inList) {
				return false
			}
		}
		w.b = append(w.b, '}')
	case reflect.Slice:
		if v.IsNil() {
			w.b = append(w.b, "null"...)
			return true
		}
		if t.Elem().Kind() == reflect.Uint8 {
			return w.marshaled(v, inList) // bytes are one base64 string
		}
		w.b = append(w.b, '[')
		for i := range v.Len() {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			if !w.value(v.Index(i), true) {
				return false
			}
		}
		w.b = append(w.b, ']')
	case reflect.String:
		if !inList {
			w.b = appendPresence(w.b, v)
			return true
		}
		w.b = strconv.AppendQuote(w.b, v.String())
	case reflect.Bool:
		if !inList {
			w.b = appendPresence(w.b, v)
			return true
		}
		w.b = strconv.AppendBool(w.b, v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if !inList {
			w.b = appendPresence(w.b, v)
			return true
		}
		w.b = strconv.AppendInt(w.b, v.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if !inList {
			w.b = appendPresence(w.b, v)
			return true
		}
		w.b = strconv.AppendUint(w.b, v.Uint(), 10)
	case reflect.Float32, reflect.Float64:
		if !inList {
			w.b = appendPresence(w.b, v)
			return true
		}
		w.b = strconv.AppendFloat(w.b, v.Float(), 'g', -1, 64)
	default:
		return false
	}
	return true
}

// fields writes a struct's present fields, those of inline structs as its
// own.
func (w *shapeWriter) fields(v reflect.Value, info *typeInfo, inList bool) bool {
	for _, f := range info.fields {
		fv := v.Field(f.index)
		if f.inline {
			if fv.Kind() == reflect.Pointer {
				if fv.IsNil() {
					continue
				}
				fv = fv.Elem()
			}
			fi := typeInfoOf(fv.Type())
			if fv.Kind() != reflect.Struct || fi.marshaler || !w.fields(fv, fi, inList) {
				return false
			}
			continue
		}
		if f.omitEmpty && smdZero(fv) {
			continue
		}
		// JSON names are identifiers: nothing to quote.
		w.b = append(w.b, '"')
		w.b = append(w.b, f.name...)
		w.b = append(w.b, '"', ':')
		if !w.value(fv, inList) {
			return false
		}
		w.b = append(w.b, ',')
	}
	return true
}

// marshaled writes a value that encodes itself (a time, a quantity, raw
// JSON): as it is in a list; elsewhere null, its structure (an object or
// array, as raw JSON may be) or a scalar.
func (w *shapeWriter) marshaled(v reflect.Value, inList bool) bool {
	var x any
	if v.CanAddr() {
		x = v.Addr().Interface()
	} else {
		x = v.Interface()
	}
	out, err := json.Marshal(x)
	if err != nil {
		return false
	}
	switch {
	case inList, len(out) > 0 && (out[0] == '{' || out[0] == '[' || out[0] == 'n'):
		w.b = append(w.b, out...)
	default:
		w.b = appendPresence(w.b, v)
	}
	return true
}

// appendPresence writes a scalar outside a list by whether it is its
// type's zero value: the empty object a create is compared with holds the
// zero value in every field JSON does not leave out, so a field set to
// it is no change and not the manager's.
func appendPresence(b []byte, v reflect.Value) []byte {
	if v.IsZero() {
		return append(b, '0')
	}
	return append(b, '*')
}

// smdZero is structured-merge-diff's test for an omitempty field's value
// to be left out, as encoding/json's: a struct never is.
func smdZero(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool:
		return !v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int() == 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return v.Uint() == 0
	case reflect.Float32, reflect.Float64:
		return v.Float() == 0
	case reflect.Interface, reflect.Pointer:
		return v.IsNil()
	}
	return false
}
