package apiserver

import (
	"fmt"
	"reflect"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gureum/gureum/internal/api"
)

func schemaGVR(g, v, r string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: g, Version: v, Resource: r}
}

// Spec and status are separated generically through the unstructured form:
// every top-level field other than apiVersion, kind, metadata and status is
// "spec" in this sense (Secrets' data, ConfigMaps' data, roles' rules...).

func toMap(obj runtime.Object) (map[string]interface{}, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("convert %T: %w", obj, err)
	}
	return m, nil
}

func fromMap(m map[string]interface{}, obj runtime.Object) error {
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, obj); err != nil {
		return fmt.Errorf("convert to %T: %w", obj, err)
	}
	return nil
}

// keepsStatusOnCreate reports kinds whose creator also reports their
// status: a node agent registers its Node with capacity and conditions.
func keepsStatusOnCreate(obj runtime.Object) bool {
	_, isNode := obj.(*corev1.Node)
	return isNode
}

// clearStatus empties status on create for resources with a status
// subresource; their status is written by controllers through /status.
func clearStatus(obj runtime.Object) {
	m, err := toMap(obj)
	if err != nil {
		return
	}
	if _, ok := m["status"]; !ok {
		return
	}
	delete(m, "status")
	_ = fromMapInto(m, obj)
}

// assign overwrites *dst with *src; both point to the same struct type.
func assign(dst, src runtime.Object) {
	reflect.ValueOf(dst).Elem().Set(reflect.ValueOf(src).Elem())
}

// copyStatus makes obj's status the one in cur: a write to the main
// resource cannot change status.
func copyStatus(obj, cur runtime.Object) error {
	om, err := toMap(obj)
	if err != nil {
		return err
	}
	cm, err := toMap(cur)
	if err != nil {
		return err
	}
	if st, ok := cm["status"]; ok {
		om["status"] = st
	} else {
		delete(om, "status")
	}
	return fromMapInto(om, obj)
}

// keepAllButStatus makes everything but status (and metadata labels,
// annotations and finalizers, which Kubernetes lets status writers change)
// the one in cur.
func keepAllButStatus(obj, cur runtime.Object) error {
	om, err := toMap(obj)
	if err != nil {
		return err
	}
	cm, err := toMap(cur)
	if err != nil {
		return err
	}
	out := map[string]interface{}{}
	for k, v := range cm {
		if k != "status" && k != "metadata" {
			out[k] = v
		}
	}
	if st, ok := om["status"]; ok {
		out["status"] = st
	}
	out["metadata"] = om["metadata"]
	if md, ok := out["metadata"].(map[string]interface{}); ok {
		if cmd, ok := cm["metadata"].(map[string]interface{}); ok {
			if refs, ok := cmd["ownerReferences"]; ok {
				md["ownerReferences"] = refs
			} else {
				delete(md, "ownerReferences")
			}
		}
	}
	return fromMapInto(out, obj)
}

// keepAllBut makes every top-level field except field (and metadata) the
// one in cur.
func keepAllBut(obj, cur runtime.Object, field string) error {
	om, err := toMap(obj)
	if err != nil {
		return err
	}
	cm, err := toMap(cur)
	if err != nil {
		return err
	}
	out := map[string]interface{}{}
	for k, v := range cm {
		if k != field && k != "metadata" {
			out[k] = v
		}
	}
	if v, ok := om[field]; ok {
		out[field] = v
	}
	out["metadata"] = om["metadata"]
	return fromMapInto(out, obj)
}

func fromMapInto(m map[string]interface{}, obj runtime.Object) error {
	gvk := obj.GetObjectKind().GroupVersionKind()
	fresh := reflect.New(reflect.TypeOf(obj).Elem()).Interface().(runtime.Object)
	if err := fromMap(m, fresh); err != nil {
		return err
	}
	fresh.GetObjectKind().SetGroupVersionKind(gvk)
	assign(obj, fresh)
	return nil
}

// specChanged reports whether anything but metadata and status changed;
// that is what bumps metadata.generation.
func specChanged(obj, cur runtime.Object) bool {
	om, err1 := toMap(obj)
	cm, err2 := toMap(cur)
	if err1 != nil || err2 != nil {
		return true
	}
	for _, m := range []map[string]interface{}{om, cm} {
		delete(m, "metadata")
		delete(m, "status")
		delete(m, "apiVersion")
		delete(m, "kind")
	}
	return !apiequality.Semantic.DeepEqual(om, cm)
}

// tracksGeneration reports resources whose metadata.generation counts
// changes to their desired state. Kubernetes sets it only where a
// controller reports status.observedGeneration back (its strategies set it
// on create), and on every custom resource; ConfigMaps, Secrets, Services,
// Namespaces, Nodes, RBAC objects and the like have none, and showing one
// would put noise in `kubectl get -o yaml` and `kubectl diff`.
func tracksGeneration(res *api.Resource) bool {
	gvr := res.GroupVersionResource
	if isGureumGroup(gvr.Group) {
		return true
	}
	switch gvr.GroupResource() {
	case schema.GroupResource{Resource: "pods"}, schema.GroupResource{Resource: "replicationcontrollers"},
		schema.GroupResource{Group: "apps", Resource: "deployments"}, schema.GroupResource{Group: "apps", Resource: "replicasets"},
		schema.GroupResource{Group: "apps", Resource: "statefulsets"}, schema.GroupResource{Group: "apps", Resource: "daemonsets"},
		schema.GroupResource{Group: "batch", Resource: "jobs"}, schema.GroupResource{Group: "batch", Resource: "cronjobs"},
		schema.GroupResource{Group: "networking.k8s.io", Resource: "ingresses"},
		schema.GroupResource{Group: "networking.k8s.io", Resource: "ingressclasses"},
		schema.GroupResource{Group: "networking.k8s.io", Resource: "networkpolicies"},
		schema.GroupResource{Group: "discovery.k8s.io", Resource: "endpointslices"}:
		return true
	}
	return false
}

// waitsForNode reports a pod whose deletion waits for its node's agent to
// stop its containers (graceful deletion).
func waitsForNode(res *api.Resource, obj runtime.Object) bool {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return false
	}
	if pod.Spec.NodeName == "" || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false
	}
	return pod.DeletionGracePeriodSeconds != nil && *pod.DeletionGracePeriodSeconds > 0
}

// namespaceFinalizing reports a namespace whose spec.finalizers still hold
// it (the namespace controller empties them through /finalize).
func namespaceFinalizing(res *api.Resource, obj runtime.Object) bool {
	ns, ok := obj.(*corev1.Namespace)
	return ok && len(ns.Spec.Finalizers) > 0
}

// toPartial returns obj's metadata as a PartialObjectMetadata.
func toPartial(obj runtime.Object, version string) (*metav1.PartialObjectMetadata, error) {
	acc, ok := obj.(metav1.ObjectMetaAccessor)
	if !ok {
		return nil, fmt.Errorf("%T has no ObjectMeta", obj)
	}
	om, ok := acc.GetObjectMeta().(*metav1.ObjectMeta)
	if !ok {
		return nil, fmt.Errorf("%T has no ObjectMeta", obj)
	}
	p := &metav1.PartialObjectMetadata{ObjectMeta: *om.DeepCopy()}
	p.SetGroupVersionKind(schema.GroupVersionKind{Group: "meta.k8s.io", Version: orDefault(version, "v1"), Kind: "PartialObjectMetadata"})
	return p, nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
