package apiserver

import (
	"fmt"
	"reflect"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gureum/gureum/internal/api"
)

func schemaGVR(g, v, r string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: g, Version: v, Resource: r}
}

// Spec and status are separated generically through reflection: every
// top-level field other than TypeMeta, ObjectMeta and Status is "spec" in
// this sense (Secrets' data, ConfigMaps' data, roles' rules...). Every
// Kubernetes kind is a struct with those embedded fields, so this avoids
// converting whole objects to maps on every write.

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

func structOf(obj runtime.Object) reflect.Value { return reflect.ValueOf(obj).Elem() }

// clearStatus empties status on create for resources with a status
// subresource; their status is written by controllers through /status.
func clearStatus(obj runtime.Object) {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		delete(u.Object, "status")
		return
	}
	if f := structOf(obj).FieldByName("Status"); f.IsValid() && f.CanSet() {
		f.Set(reflect.Zero(f.Type()))
	}
}

// assign overwrites *dst with *src; both point to the same struct type.
func assign(dst, src runtime.Object) {
	reflect.ValueOf(dst).Elem().Set(reflect.ValueOf(src).Elem())
}

// copyStatus makes obj's status the one in cur: a write to the main
// resource cannot change status.
func copyStatus(obj, cur runtime.Object) error {
	return copyFields(obj, cur.DeepCopyObject(), func(name string) bool { return name == "Status" })
}

// keepAllButStatus makes everything but status the one in cur. Metadata
// stays as sent (Kubernetes lets status writers change labels and
// annotations), except ownerReferences.
func keepAllButStatus(obj, cur runtime.Object) error {
	if err := keepAllBut(obj, cur, "Status"); err != nil {
		return err
	}
	a, err1 := meta.Accessor(obj)
	ca, err2 := meta.Accessor(cur)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("%T has no metadata", obj)
	}
	a.SetOwnerReferences(ca.GetOwnerReferences())
	return nil
}

// keepAllBut makes every top-level field except the named one (and
// metadata) the one in cur.
func keepAllBut(obj, cur runtime.Object, field string) error {
	return copyFields(obj, cur.DeepCopyObject(), func(name string) bool {
		return name != field && name != "TypeMeta" && name != "ObjectMeta"
	})
}

// copyFields sets the top-level fields of obj that pick selects from src.
func copyFields(obj, src runtime.Object, pick func(name string) bool) error {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		su, ok := src.(*unstructured.Unstructured)
		if !ok {
			return fmt.Errorf("copy fields from %T into %T", src, obj)
		}
		for _, k := range topLevelKeys(u, su) {
			if !pick(goFieldName(k)) {
				continue
			}
			if v, ok := su.Object[k]; ok {
				u.Object[k] = v
			} else {
				delete(u.Object, k)
			}
		}
		return nil
	}
	ov, sv := structOf(obj), structOf(src)
	if ov.Type() != sv.Type() {
		return fmt.Errorf("copy fields from %T into %T", src, obj)
	}
	for i := 0; i < ov.NumField(); i++ {
		if pick(ov.Type().Field(i).Name) && ov.Field(i).CanSet() {
			ov.Field(i).Set(sv.Field(i))
		}
	}
	return nil
}

// fromMapInto decodes m into obj, replacing all of obj.
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
	if u, ok := obj.(*unstructured.Unstructured); ok {
		cu, ok := cur.(*unstructured.Unstructured)
		if !ok {
			return true
		}
		for _, k := range topLevelKeys(u, cu) {
			switch goFieldName(k) {
			case "TypeMeta", "ObjectMeta", "Status":
				continue
			}
			if !apiequality.Semantic.DeepEqual(u.Object[k], cu.Object[k]) {
				return true
			}
		}
		return false
	}
	ov, cv := structOf(obj), structOf(cur)
	if ov.Type() != cv.Type() {
		return true
	}
	for i := 0; i < ov.NumField(); i++ {
		switch ov.Type().Field(i).Name {
		case "TypeMeta", "ObjectMeta", "Status":
			continue
		}
		if !apiequality.Semantic.DeepEqual(ov.Field(i).Interface(), cv.Field(i).Interface()) {
			return true
		}
	}
	return false
}

// tracksGeneration reports resources whose metadata.generation counts
// changes to their desired state. Kubernetes sets it only where a
// controller reports status.observedGeneration back (its strategies set it
// on create), and on every custom resource; ConfigMaps, Secrets, Services,
// Namespaces, Nodes, RBAC objects and the like have none, and showing one
// would put noise in `kubectl get -o yaml` and `kubectl diff`.
func tracksGeneration(res *api.Resource) bool {
	gvr := res.GroupVersionResource
	if isGureumGroup(gvr.Group) || res.Unstructured || gvr.Group == "apiextensions.k8s.io" {
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
	if u, ok := obj.(*unstructured.Unstructured); ok {
		p := &metav1.PartialObjectMetadata{}
		if m, ok := u.Object["metadata"].(map[string]interface{}); ok {
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, &p.ObjectMeta); err != nil {
				return nil, fmt.Errorf("metadata of %s: %w", u.GetName(), err)
			}
		}
		p.SetGroupVersionKind(schema.GroupVersionKind{Group: "meta.k8s.io", Version: orDefault(version, "v1"), Kind: "PartialObjectMetadata"})
		return p, nil
	}
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

// goFieldName maps a custom resource's top-level key to the field name of
// the typed structs the helpers above reason about: custom resources are
// separated into spec and status exactly like built-in kinds.
func goFieldName(key string) string {
	switch key {
	case "apiVersion", "kind":
		return "TypeMeta"
	case "metadata":
		return "ObjectMeta"
	case "status":
		return "Status"
	}
	return key
}

// topLevelKeys is the union of two objects' top-level keys.
func topLevelKeys(a, b *unstructured.Unstructured) []string {
	keys := make([]string, 0, len(a.Object)+len(b.Object))
	for k := range a.Object {
		keys = append(keys, k)
	}
	for k := range b.Object {
		if _, ok := a.Object[k]; !ok {
			keys = append(keys, k)
		}
	}
	return keys
}
