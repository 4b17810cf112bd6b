package apiserver

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
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
		if q.r.URL.Query().Get("fieldManager") == "" {
			q.fail(apierrors.NewBadRequest("PATCH requests for server-side apply must set fieldManager"))
			return
		}
		force := q.r.URL.Query().Get("force") == "true"
		applied := &unstructured.Unstructured{}
		toJSON := yaml.YAMLToJSON
		if q.r.URL.Query().Get("fieldValidation") == "Strict" {
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

func isGureumGroup(group string) bool {
	return len(group) > len(".gureum.io") && group[len(group)-len(".gureum.io"):] == ".gureum.io"
}
