package apiserver

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"reflect"
	"strings"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"sigs.k8s.io/yaml"
)

// maxJSONPatchOperations bounds the work one JSON patch can ask for.
const maxJSONPatchOperations = 10000

func (q *request) patch() {
	body, err := readBody(q.r)
	if err != nil {
		q.fail(err)
		return
	}
	if err := q.validateFieldManager(); err != nil {
		q.fail(err)
		return
	}
	ct, _, _ := mime.ParseMediaType(q.r.Header.Get("Content-Type"))
	pt := types.PatchType(ct)
	var mutate mutateFunc
	isApply := false
	switch pt {
	case types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType:
		if pt == types.StrategicMergePatchType && (isGureumGroup(q.res.GroupVersionResource.Group) || q.res.Unstructured) {
			q.fail(apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "patch", q.gr, q.info.Name,
				"strategic merge patch is not supported for "+q.gr.String()+"; use a merge patch (--type=merge) or a JSON patch", 0, false))
			return
		}
		mutate = func(cur runtime.Object) (runtime.Object, error) {
			return q.applyPatch(pt, body, cur)
		}
	case types.ApplyYAMLPatchType, "application/apply-patch+json":
		isApply = true
		q.applied = true
		if query(q.r).Get("fieldManager") == "" {
			q.fail(apierrors.NewBadRequest("PATCH requests for server-side apply must set fieldManager"))
			return
		}
		force := query(q.r).Get("force") == "true"
		applied := &unstructured.Unstructured{}
		toJSON := yaml.YAMLToJSON
		if query(q.r).Get("fieldValidation") == "Strict" {
			toJSON = yaml.YAMLToJSONStrict // duplicate keys are errors
		}
		jsonBody, err := toJSON(body)
		if err != nil {
			q.fail(apierrors.NewBadRequest(fmt.Sprintf("decode apply body: %v", err)))
			return
		}
		if err := applied.UnmarshalJSON(jsonBody); err != nil {
			q.fail(apierrors.NewBadRequest(fmt.Sprintf("decode apply body: %v", err)))
			return
		}
		if applied.GetName() != "" && applied.GetName() != q.info.Name {
			q.fail(apierrors.NewBadRequest("the name of the applied object does not match the name on the URL"))
			return
		}
		if applied.GroupVersionKind() != q.res.GroupVersionKind() && q.info.Subresource == "" {
			q.fail(apierrors.NewBadRequest(fmt.Sprintf("the applied object is a %s, but this URL takes %s", applied.GroupVersionKind(), q.res.GroupVersionKind())))
			return
		}
		mutate = func(cur runtime.Object) (runtime.Object, error) {
			live := cur
			if live == nil {
				live = q.res.New()
				a, _ := meta.Accessor(live)
				a.SetName(q.info.Name)
				a.SetNamespace(q.info.Namespace)
				live.GetObjectKind().SetGroupVersionKind(q.res.GroupVersionKind())
			}
			return q.s.fieldMgr.apply(q.res, q.info.Subresource, live, applied.DeepCopy(), q.fieldManagerName(), force)
		}
	default:
		q.fail(apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "patch", q.gr, q.info.Name,
			fmt.Sprintf("the patch content type %q is not supported; use application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json or application/apply-patch+yaml", ct), 0, false))
		return
	}
	out, code, err := q.s.updateObject(q.r.Context(), q, mutate, isApply)
	if err != nil {
		q.fail(err)
		return
	}
	q.respond(code, out)
}

// applyPatch applies a JSON, merge or strategic merge patch to cur and
// decodes the result, honouring fieldValidation.
func (q *request) applyPatch(pt types.PatchType, patch []byte, cur runtime.Object) (runtime.Object, error) {
	if (pt == types.MergePatchType || pt == types.StrategicMergePatchType) && !q.res.Unstructured {
		if obj, ok := q.patchTyped(pt, patch, cur); ok {
			return obj, nil
		}
	}
	return q.applyPatchText(pt, patch, cur)
}

// applyPatchText applies a patch of any of the three kinds to cur's JSON
// text and decodes the result.
func (q *request) applyPatchText(pt types.PatchType, patch []byte, cur runtime.Object) (runtime.Object, error) {
	curJSON, err := json.Marshal(cur)
	if err != nil {
		return nil, fmt.Errorf("encode current object: %w", err)
	}
	var patched []byte
	switch pt {
	case types.JSONPatchType:
		p, err := jsonpatch.DecodePatch(patch)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("decode JSON patch: %v", err))
		}
		if len(p) > maxJSONPatchOperations {
			return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("the JSON patch has %d operations; the limit is %d", len(p), maxJSONPatchOperations))
		}
		patched, err = p.Apply(curJSON)
		if err != nil {
			return nil, apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "patch", q.gr, q.info.Name, err.Error(), 0, false)
		}
	case types.MergePatchType:
		if !json.Valid(patch) {
			return nil, apierrors.NewBadRequest("the merge patch is not valid JSON")
		}
		patched, err = jsonpatch.MergePatch(curJSON, patch)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("apply merge patch: %v", err))
		}
	case types.StrategicMergePatchType:
		var patchMap map[string]interface{}
		if err := json.Unmarshal(patch, &patchMap); err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("decode strategic merge patch: %v", err))
		}
		patched, err = strategicpatch.StrategicMergePatch(curJSON, patch, q.res.New())
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("apply strategic merge patch: %v", err))
		}
	}
	obj := q.res.New()
	r := q.r.Clone(q.r.Context())
	r.Header.Set("Content-Type", mediaJSON)
	warnings, err := decodeResource(r, patched, q.res, obj)
	if err != nil {
		return nil, err
	}
	writeWarnings(q.w, warnings)
	return obj, nil
}

// patchTyped applies a JSON merge patch (RFC 7386) or a strategic merge
// patch to a built-in kind's object through its unstructured form, when
// that gives exactly what the JSON text path gives: the patch is an object
// without non-integer numbers, and the result converts back without
// unknown fields or errors (whose messages, and fieldValidation's
// handling, are then the text path's). Going through JSON text (encode,
// the patch libraries' merge of text, a strict decode) cost twice as much
// for a pod status report, the busiest patch, and the scheduler's patch
// of an unschedulable pod took over a third of the handling of that pod's
// requests (create, patch, event).
func (q *request) patchTyped(pt types.PatchType, patch []byte, cur runtime.Object) (runtime.Object, bool) {
	var p map[string]any
	if err := utiljson.Unmarshal(patch, &p); err != nil || p == nil || hasFloat(p) {
		return nil, false
	}
	if m, ok := p["metadata"]; ok && m == nil {
		return nil, false
	}
	merge := mergeJSON
	if pt == types.StrategicMergePatchType {
		merge = mergeStrategic
		for k := range p {
			if strings.HasPrefix(k, "$") {
				// A directive on the whole object ($patch: replace) can
				// reach managedFields, which this path carries over.
				return nil, false
			}
		}
	}
	// managedFields are carried over as they are unless the patch sets
	// them: their conversion (FieldsV1 through JSON both ways) would be
	// most of the work.
	var managed []metav1.ManagedFieldsEntry
	patchMeta, _ := p["metadata"].(map[string]any)
	if _, touched := patchMeta["managedFields"]; !touched {
		a, err := meta.Accessor(cur)
		if err != nil {
			return nil, false
		}
		managed = a.GetManagedFields()
		cur = withoutManagedFields(cur)
	}
	gvk := q.res.GroupVersionKind()
	obj, ok := patchFieldsTyped(p, cur, gvk, merge)
	if !ok {
		doc, err := runtime.DefaultUnstructuredConverter.ToUnstructured(cur)
		if err != nil {
			return nil, false
		}
		if doc, err = merge(doc, p, cur); err != nil {
			return nil, false
		}
		if av, kind := doc["apiVersion"], doc["kind"]; (av != nil && av != gvk.GroupVersion().String()) || (kind != nil && kind != gvk.Kind) {
			return nil, false
		}
		obj = q.res.New()
		if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(doc, obj, true); err != nil {
			return nil, false
		}
	}
	obj.GetObjectKind().SetGroupVersionKind(gvk)
	if managed != nil {
		a, err := meta.Accessor(obj)
		if err != nil {
			return nil, false
		}
		// A copy: later steps change entries of the new object in place.
		a.SetManagedFields(append([]metav1.ManagedFieldsEntry(nil), managed...))
	}
	return obj, true
}

// fieldMerge merges patch into doc, the unstructured form of the Go value
// schema points to, and returns the result.
type fieldMerge func(doc, patch map[string]any, schema any) (map[string]any, error)

func mergeJSON(doc, patch map[string]any, _ any) (map[string]any, error) {
	mergeObjects(doc, patch)
	return doc, nil
}

// mergeStrategic merges as the strategic merge patch does, lists by their
// merge keys and directives ($patch, $setElementOrder, $retainKeys) as
// schema's type declares them.
func mergeStrategic(doc, patch map[string]any, schema any) (map[string]any, error) {
	lookup, err := strategicpatch.NewPatchMetaFromStruct(schema)
	if err != nil {
		return nil, err
	}
	return strategicpatch.StrategicMergeMapPatchUsingLookupPatchMeta(doc, patch, lookup)
}

// patchFieldsTyped applies the patch p to a copy of cur converting only
// the top-level fields p names (each a struct: metadata, spec, status) to
// unstructured form and back: a pod's status report names status alone,
// and converting its spec both ways was most of the patch. ok is false
// for a patch it leaves to the whole conversion: one naming a field that
// is not a struct, a directive of the whole object, no field at all, or
// another kind.
func patchFieldsTyped(p map[string]any, cur runtime.Object, gvk schema.GroupVersionKind, merge fieldMerge) (runtime.Object, bool) {
	v := reflect.ValueOf(cur)
	if _, u := cur.(runtime.Unstructured); u || v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return nil, false
	}
	t := v.Elem().Type()
	fields := make(map[string]int, len(p))
	for k, pv := range p {
		switch k {
		case "apiVersion":
			if pv != nil && pv != gvk.GroupVersion().String() {
				return nil, false
			}
			continue
		case "kind":
			if pv != nil && pv != gvk.Kind {
				return nil, false
			}
			continue
		}
		i, ok := structField(t, k)
		if !ok {
			return nil, false
		}
		fields[k] = i
		if _, isMap := pv.(map[string]any); !isMap && pv != nil {
			return nil, false
		}
	}
	out := cur.DeepCopyObject()
	ov := reflect.ValueOf(out).Elem()
	for k, pv := range p {
		i, ok := fields[k]
		if !ok {
			continue // apiVersion or kind
		}
		f := ov.Field(i)
		if pv == nil {
			f.SetZero()
			continue
		}
		doc, err := runtime.DefaultUnstructuredConverter.ToUnstructured(f.Addr().Interface())
		if err != nil {
			return nil, false
		}
		if doc, err = merge(doc, pv.(map[string]any), f.Addr().Interface()); err != nil {
			return nil, false
		}
		merged := reflect.New(f.Type())
		if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(doc, merged.Interface(), true); err != nil {
			return nil, false
		}
		f.Set(merged.Elem())
	}
	return out, true
}

// structField returns the index of t's field named name in JSON when it
// holds a struct (metadata, spec, status).
func structField(t reflect.Type, name string) (int, bool) {
	for _, f := range typeInfoOf(t).fields {
		if f.inline || f.name != name {
			continue
		}
		ft := t.Field(f.index).Type
		return f.index, ft.Kind() == reflect.Struct && !typeInfoOf(ft).marshaler
	}
	return 0, false
}

// hasFloat reports whether v holds a number that is not an integer: the
// text path refuses one for an integer field, the converter would not.
func hasFloat(v any) bool {
	switch x := v.(type) {
	case float64:
		return true
	case map[string]any:
		for _, e := range x {
			if hasFloat(e) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if hasFloat(e) {
				return true
			}
		}
	}
	return false
}

// mergeObjects merges patch into doc as RFC 7386 says: null removes a
// member, an object merges into an object, anything else replaces.
func mergeObjects(doc, patch map[string]any) {
	for k, v := range patch {
		switch pv := v.(type) {
		case nil:
			delete(doc, k)
		case map[string]any:
			dv, ok := doc[k].(map[string]any)
			if !ok {
				dv = map[string]any{}
			}
			mergeObjects(dv, pv)
			doc[k] = dv
		default:
			doc[k] = v
		}
	}
}

func isGureumGroup(group string) bool {
	return len(group) > len(".gureum.io") && group[len(group)-len(".gureum.io"):] == ".gureum.io"
}
