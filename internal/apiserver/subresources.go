package apiserver

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strings"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"

	"github.com/gureum/gureum/internal/api"
)

// scaleOf reads spec.replicas, status.replicas and the selector of any
// scalable workload through its unstructured form.
func scaleOf(res *api.Resource, obj runtime.Object) (*autoscalingv1.Scale, error) {
	m, err := toMap(obj)
	if err != nil {
		return nil, err
	}
	if p := res.ScalePaths; p != nil {
		return customScaleOf(p, m, obj)
	}
	a, _ := meta.Accessor(obj)
	sc := &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{
		Name: a.GetName(), Namespace: a.GetNamespace(), UID: a.GetUID(),
		ResourceVersion: a.GetResourceVersion(), CreationTimestamp: a.GetCreationTimestamp(),
	}}
	spec, _ := m["spec"].(map[string]interface{})
	status, _ := m["status"].(map[string]interface{})
	sc.Spec.Replicas = int32(toInt(spec["replicas"]))
	sc.Status.Replicas = int32(toInt(status["replicas"]))
	switch sel := spec["selector"].(type) {
	case map[string]interface{}:
		if _, isLabelSelector := sel["matchLabels"]; isLabelSelector || sel["matchExpressions"] != nil {
			ls := &metav1.LabelSelector{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(sel, ls); err == nil {
				if s, err := metav1.LabelSelectorAsSelector(ls); err == nil {
					sc.Status.Selector = s.String()
				}
			}
		} else {
			// ReplicationController: a plain label map.
			parts := []string{}
			for k, v := range sel {
				parts = append(parts, fmt.Sprintf("%s=%v", k, v))
			}
			sc.Status.Selector = joinSorted(parts)
		}
	}
	sc.SetGroupVersionKind(autoscalingv1.SchemeGroupVersion.WithKind("Scale"))
	return sc, nil
}

func toInt(v interface{}) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case int32:
		return int64(n)
	case float64:
		return int64(n)
	case int:
		return int64(n)
	}
	return 0
}

func joinSorted(parts []string) string {
	for i := 1; i < len(parts); i++ {
		for j := i; j > 0 && parts[j] < parts[j-1]; j-- {
			parts[j], parts[j-1] = parts[j-1], parts[j]
		}
	}
	out := ""
	for i, p := range parts {
		if i > 0 {
			out += ","
		}
		out += p
	}
	return out
}

// serveScale serves /scale: get, update and patch of an autoscaling/v1
// Scale that reads and writes the workload's spec.replicas.
func (q *request) serveScale() {
	ctx := q.r.Context()
	switch q.info.Verb {
	case "get":
		obj, _, err := q.readCurrent(ctx, q.info.Namespace, q.info.Name)
		if err != nil {
			q.fail(err)
			return
		}
		sc, err := scaleOf(q.res, obj)
		if err != nil {
			q.fail(err)
			return
		}
		q.respond(http.StatusOK, sc)
	case "update", "patch":
		body, err := readBody(q.r)
		if err != nil {
			q.fail(err)
			return
		}
		ct := mediaTypeOnly(q.r.Header.Get("Content-Type"))
		isApply := q.info.Verb == "patch" && (ct == string(types.ApplyYAMLPatchType) || ct == "application/apply-patch+json")
		if isApply && query(q.r).Get("fieldManager") == "" {
			q.fail(apierrors.NewBadRequest("PATCH requests for server-side apply must set fieldManager"))
			return
		}
		fm, err := q.s.fieldMgr.scaleManager()
		if err != nil {
			q.fail(err)
			return
		}
		if isApply && fm == nil {
			q.fail(apierrors.NewBadRequest("server-side apply is not available: the OpenAPI models are not loaded"))
			return
		}
		// The Scale's managed fields are translated to and from the
		// parent's below, so the parent update must not record them again.
		q.applied = fm != nil
		manager := q.fieldManagerName()
		force := query(q.r).Get("force") == "true"
		parentGV := q.res.GroupVersionResource.GroupVersion()
		out, _, err := q.s.updateObject(ctx, q, func(cur runtime.Object) (runtime.Object, error) {
			curScale, err := scaleOf(q.res, cur)
			if err != nil {
				return nil, err
			}
			ca, _ := meta.Accessor(cur)
			handler := managedfields.NewScaleHandler(ca.GetManagedFields(), parentGV, replicasPath(parentGV, q.res))
			if fm != nil {
				entries, err := handler.ToSubresource()
				if err != nil {
					return nil, fmt.Errorf("convert managed fields to scale: %w", err)
				}
				curScale.ManagedFields = entries
			}
			want := &autoscalingv1.Scale{}
			switch {
			case isApply:
				applied := &unstructured.Unstructured{}
				jsonBody, err := yaml.YAMLToJSON(body)
				if err == nil {
					err = applied.UnmarshalJSON(jsonBody)
				}
				if err != nil {
					return nil, apierrors.NewBadRequest(fmt.Sprintf("decode apply body: %v", err))
				}
				if applied.GroupVersionKind() != scaleKind {
					return nil, apierrors.NewBadRequest(fmt.Sprintf("the applied object is a %s; /scale takes autoscaling/v1 Scale", applied.GroupVersionKind()))
				}
				res, err := fm.Apply(curScale, applied, manager, force)
				if err != nil {
					return nil, err
				}
				want = res.(*autoscalingv1.Scale)
			case q.info.Verb == "update":
				if _, err := decodeInto(q.r, body, scaleKind, want); err != nil {
					return nil, err
				}
			default:
				if err := patchScale(q.r.Header.Get("Content-Type"), body, curScale, want); err != nil {
					return nil, err
				}
			}
			if want.Spec.Replicas < 0 {
				return nil, apierrors.NewInvalid(scaleKind.GroupKind(), q.info.Name, field.ErrorList{
					field.Invalid(field.NewPath("spec", "replicas"), want.Spec.Replicas, "must be greater than or equal to 0")})
			}
			if want.ResourceVersion != "" && want.ResourceVersion != curScale.ResourceVersion {
				return nil, apierrors.NewConflict(q.gr, q.info.Name, fmt.Errorf(errObjectModified))
			}
			var parentEntries []metav1.ManagedFieldsEntry
			if fm != nil {
				if !isApply {
					want.ManagedFields = nil
					res, err := fm.Update(curScale, want, manager)
					if err != nil {
						return nil, fmt.Errorf("track scale managed fields: %w", err)
					}
					want = res.(*autoscalingv1.Scale)
				}
				parentEntries, err = handler.ToParent(want.ManagedFields)
				if err != nil {
					return nil, fmt.Errorf("convert managed fields from scale: %w", err)
				}
			}
			m, err := toMap(cur)
			if err != nil {
				return nil, err
			}
			if err := unstructured.SetNestedField(m, int64(want.Spec.Replicas), specReplicasFields(q.res)...); err != nil {
				return nil, fmt.Errorf("set replicas: %w", err)
			}
			if md, ok := m["metadata"].(map[string]interface{}); ok {
				// The Scale's precondition was checked above.
				delete(md, "resourceVersion")
			}
			if err := fromMapInto(m, cur); err != nil {
				return nil, err
			}
			if fm != nil {
				ca, _ := meta.Accessor(cur)
				ca.SetManagedFields(parentEntries)
			}
			return cur, nil
		}, false)
		if err != nil {
			q.fail(err)
			return
		}
		sc, err := scaleOf(q.res, out)
		if err != nil {
			q.fail(err)
			return
		}
		q.respond(http.StatusOK, sc)
	default:
		q.fail(apierrors.NewMethodNotSupported(q.gr, q.info.Verb))
	}
}

func patchScale(contentType string, patch []byte, cur *autoscalingv1.Scale, out *autoscalingv1.Scale) error {
	curJSON, err := jsonMarshal(cur)
	if err != nil {
		return err
	}
	var patched []byte
	switch types.PatchType(mediaTypeOnly(contentType)) {
	case types.JSONPatchType:
		p, err := jsonpatch.DecodePatch(patch)
		if err != nil {
			return apierrors.NewBadRequest(err.Error())
		}
		patched, err = p.Apply(curJSON)
		if err != nil {
			return apierrors.NewBadRequest(err.Error())
		}
	case types.MergePatchType:
		patched, err = jsonpatch.MergePatch(curJSON, patch)
		if err != nil {
			return apierrors.NewBadRequest(err.Error())
		}
	case types.StrategicMergePatchType:
		patched, err = strategicpatch.StrategicMergePatch(curJSON, patch, &autoscalingv1.Scale{})
		if err != nil {
			return apierrors.NewBadRequest(err.Error())
		}
	default:
		return apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "patch", schema.GroupResource{}, "",
			"scale accepts JSON, merge and strategic merge patches", 0, false)
	}
	return jsonUnmarshal(patched, out)
}

// serveBinding assigns a pod to a node, once.
func (q *request) serveBinding() {
	body, err := readBody(q.r)
	if err != nil {
		q.fail(err)
		return
	}
	b := &corev1.Binding{}
	if _, err := decodeInto(q.r, body, corev1.SchemeGroupVersion.WithKind("Binding"), b); err != nil {
		q.fail(err)
		return
	}
	if b.Target.Kind != "" && b.Target.Kind != "Node" {
		q.fail(apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Binding").GroupKind(), b.Name, field.ErrorList{
			field.NotSupported(field.NewPath("target", "kind"), b.Target.Kind, []string{"Node"})}))
		return
	}
	if b.Target.Name == "" {
		q.fail(apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Binding").GroupKind(), b.Name, field.ErrorList{
			field.Required(field.NewPath("target", "name"), "")}))
		return
	}
	q.info.Subresource = "binding"
	_, _, err = q.s.updateObject(q.r.Context(), q, func(cur runtime.Object) (runtime.Object, error) {
		pod := cur.(*corev1.Pod)
		if pod.DeletionTimestamp != nil {
			return nil, apierrors.NewConflict(q.gr, pod.Name, fmt.Errorf("pod %s is being deleted, cannot be assigned to a host", pod.Name))
		}
		if pod.Spec.NodeName != "" {
			return nil, apierrors.NewConflict(q.gr, pod.Name, fmt.Errorf("pod %s is already assigned to node %q", pod.Name, pod.Spec.NodeName))
		}
		if b.UID != "" && b.UID != pod.UID {
			return nil, apierrors.NewConflict(q.gr, pod.Name, fmt.Errorf("the UID in the binding does not match the pod"))
		}
		pod.Spec.NodeName = b.Target.Name
		setPodCondition(pod, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(q.s.clock.Now().UTC().Truncate(1e9))})
		return pod, nil
	}, false)
	if err != nil {
		q.fail(err)
		return
	}
	q.respond(http.StatusCreated, &metav1.Status{Status: metav1.StatusSuccess, Code: http.StatusCreated})
}

func setPodCondition(pod *corev1.Pod, c corev1.PodCondition) {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == c.Type {
			pod.Status.Conditions[i] = c
			return
		}
	}
	pod.Status.Conditions = append(pod.Status.Conditions, c)
}

// serveEviction deletes a pod the way an Eviction asks, if the pod's
// PodDisruptionBudget allows it (see eviction.go).
func (q *request) serveEviction() {
	body, err := readBody(q.r)
	if err != nil {
		q.fail(err)
		return
	}
	ev := &policyv1.Eviction{}
	if _, err := decodeInto(q.r, body, policyv1.SchemeGroupVersion.WithKind("Eviction"), ev); err != nil {
		q.fail(err)
		return
	}
	if ev.Name != q.info.Name {
		q.fail(apierrors.NewBadRequest("name in URL does not match name in Eviction object"))
		return
	}
	opts := ev.DeleteOptions
	if opts == nil {
		opts = &metav1.DeleteOptions{}
	}
	if err := q.evictPod(q.r.Context(), opts); err != nil {
		q.fail(err)
		return
	}
	q.respond(http.StatusCreated, &metav1.Status{Status: metav1.StatusSuccess, Code: http.StatusCreated})
}

func jsonMarshal(v interface{}) ([]byte, error) { return json.Marshal(v) }

func jsonUnmarshal(b []byte, v interface{}) error {
	if err := json.Unmarshal(b, v); err != nil {
		return apierrors.NewBadRequest(fmt.Sprintf("decode patched object: %v", err))
	}
	return nil
}

func mediaTypeOnly(ct string) string {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return ct
	}
	return mt
}

// customScaleOf reads a custom resource's Scale from the paths its CRD
// names; the selector path holds a selector in string form.
func customScaleOf(p *api.ScalePaths, m map[string]interface{}, obj runtime.Object) (*autoscalingv1.Scale, error) {
	a, _ := meta.Accessor(obj)
	sc := &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{
		Name: a.GetName(), Namespace: a.GetNamespace(), UID: a.GetUID(),
		ResourceVersion: a.GetResourceVersion(), CreationTimestamp: a.GetCreationTimestamp(),
	}}
	if v, ok, _ := unstructured.NestedFieldNoCopy(m, pathFields(p.SpecReplicas)...); ok {
		sc.Spec.Replicas = int32(toInt(v))
	}
	if v, ok, _ := unstructured.NestedFieldNoCopy(m, pathFields(p.StatusReplicas)...); ok {
		sc.Status.Replicas = int32(toInt(v))
	}
	if p.LabelSelector != "" {
		if v, ok, _ := unstructured.NestedString(m, pathFields(p.LabelSelector)...); ok {
			sc.Status.Selector = v
		}
	}
	sc.SetGroupVersionKind(autoscalingv1.SchemeGroupVersion.WithKind("Scale"))
	return sc, nil
}

// specReplicasFields is where the resource keeps its desired replicas.
func specReplicasFields(res *api.Resource) []string {
	if res.ScalePaths != nil {
		return pathFields(res.ScalePaths.SpecReplicas)
	}
	return []string{"spec", "replicas"}
}

// pathFields splits a CRD's simple JSON path (".spec.replicas").
func pathFields(path string) []string {
	return strings.Split(strings.TrimPrefix(path, "."), ".")
}
