package api

import (
	"fmt"
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
)

// Resource describes one served resource: where it lives in the API and how
// objects of it are defaulted, validated and shown.
type Resource struct {
	GroupVersionResource schema.GroupVersionResource
	Kind                 string
	Singular             string
	Namespaced           bool
	ShortNames           []string
	Categories           []string
	// Verbs lists what the main resource supports, as discovery reports it.
	Verbs []string
	// Subresources maps a subresource name ("status", "scale", "log") to what
	// it serves.
	Subresources []Subresource
	Strategy     Strategy

	// Unstructured marks a custom resource: its objects are
	// *unstructured.Unstructured, shaped by the schema of the
	// CustomResourceDefinition that defines it.
	Unstructured bool
	// StorageVersion is the version objects are stored in when it differs
	// from the served one (custom resources with several versions).
	StorageVersion string
	// Converter converts objects between the versions of a custom
	// resource whose CRD names a conversion webhook; nil converts by
	// rewriting apiVersion (strategy None).
	Converter Converter
	// TypeConverter is the resource's own schema for server-side apply
	// (custom resources); nil uses the server's.
	TypeConverter managedfields.TypeConverter
	// ScalePaths says where a custom resource keeps what /scale reads and
	// writes; nil for built-in kinds.
	ScalePaths *ScalePaths
	// StoredAs is set for a resource that shares another's storage in
	// another shape (autoscaling/v1 HorizontalPodAutoscalers are kept as
	// autoscaling/v2 ones, events.k8s.io Events as core Events), so both
	// views always show the same objects.
	StoredAs *StoredAs
}

// StoredAs converts a resource's objects to and from the kind etcd holds.
type StoredAs struct {
	// Resource is where the objects live (its StorageKey).
	Resource schema.GroupVersionResource
	// Kind is the kind written to etcd.
	Kind schema.GroupVersionKind
	// ToStored converts a served object to the stored kind. What the
	// served version cannot express travels in annotations, as Kubernetes
	// does between versions.
	ToStored func(obj runtime.Object) (runtime.Object, error)
	// FromStored converts a stored object to the served kind.
	FromStored func(stored runtime.Object) (runtime.Object, error)
}

// ScalePaths are the JSON paths (".spec.replicas") behind a custom
// resource's scale subresource.
type ScalePaths struct {
	SpecReplicas, StatusReplicas, LabelSelector string
}

// Subresource describes one subresource of a Resource.
type Subresource struct {
	Name  string
	Kind  string // kind of the object it takes and returns
	Group string // group of that kind, when it differs from the parent's
	// Version of that kind, when it differs from the parent's.
	Version string
	Verbs   []string
}

// GroupVersionKind is the kind of the resource's objects.
func (r *Resource) GroupVersionKind() schema.GroupVersionKind {
	return r.GroupVersionResource.GroupVersion().WithKind(r.Kind)
}

// New returns an empty object of the resource's kind.
func (r *Resource) New() runtime.Object {
	if r.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]interface{}{}}
		u.SetGroupVersionKind(r.GroupVersionKind())
		return u
	}
	obj, err := Scheme.New(r.GroupVersionKind())
	if err != nil {
		panic(fmt.Sprintf("resource %s has no registered kind: %v", r.GroupVersionResource, err))
	}
	return obj
}

// NewList returns an empty list of the resource's kind.
func (r *Resource) NewList() runtime.Object {
	if r.Unstructured {
		l := &unstructured.UnstructuredList{Object: map[string]interface{}{}}
		l.SetGroupVersionKind(r.GroupVersionResource.GroupVersion().WithKind(r.Kind + "List"))
		return l
	}
	obj, err := Scheme.New(r.GroupVersionResource.GroupVersion().WithKind(r.Kind + "List"))
	if err != nil {
		panic(fmt.Sprintf("resource %s has no registered list kind: %v", r.GroupVersionResource, err))
	}
	return obj
}

// HasSubresource reports whether the resource serves the named subresource.
func (r *Resource) HasSubresource(name string) bool {
	_, ok := r.Subresource(name)
	return ok
}

// Subresource returns the named subresource.
func (r *Resource) Subresource(name string) (Subresource, bool) {
	for _, s := range r.Subresources {
		if s.Name == name {
			return s, true
		}
	}
	return Subresource{}, false
}

// StorageKey is the etcd key prefix for the resource, as Kubernetes lays it
// out: /registry/<group>/<resource> (core resources have no group segment).
func (r *Resource) StorageKey() string {
	if r.StoredAs != nil {
		gvr := r.StoredAs.Resource
		if gvr.Group == "" {
			return "/registry/" + gvr.Resource
		}
		return "/registry/" + gvr.Group + "/" + gvr.Resource
	}
	if r.GroupVersionResource.Group == "" {
		return "/registry/" + r.GroupVersionResource.Resource
	}
	return "/registry/" + r.GroupVersionResource.Group + "/" + r.GroupVersionResource.Resource
}

var (
	verbsAll        = []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
	verbsCreateOnly = []string{"create"}
	verbsGetUpdate  = []string{"get", "patch", "update"}
)

func status() Subresource { return Subresource{Name: "status", Verbs: verbsGetUpdate} }
func scale() Subresource {
	return Subresource{Name: "scale", Kind: "Scale", Group: "autoscaling", Version: "v1", Verbs: verbsGetUpdate}
}

// Registry holds the served resources, looked up by group/version/resource.
type Registry struct {
	list  []*Resource
	byGVR map[schema.GroupVersionResource]*Resource
	byGVK map[schema.GroupVersionKind]*Resource
}

// NewRegistry indexes resources.
func NewRegistry(resources []*Resource) *Registry {
	r := &Registry{byGVR: map[schema.GroupVersionResource]*Resource{}, byGVK: map[schema.GroupVersionKind]*Resource{}}
	for _, res := range resources {
		r.list = append(r.list, res)
		r.byGVR[res.GroupVersionResource] = res
		r.byGVK[res.GroupVersionKind()] = res
	}
	return r
}

// All returns every resource in registration order.
func (r *Registry) All() []*Resource { return r.list }

// Lookup finds a resource by group, version and plural name.
func (r *Registry) Lookup(gvr schema.GroupVersionResource) (*Resource, bool) {
	res, ok := r.byGVR[gvr]
	return res, ok
}

// ForKind finds a resource by the kind of its objects.
func (r *Registry) ForKind(gvk schema.GroupVersionKind) (*Resource, bool) {
	res, ok := r.byGVK[gvk]
	return res, ok
}

// GroupVersions returns the served group versions, core first, then sorted.
func (r *Registry) GroupVersions() []schema.GroupVersion {
	seen := map[schema.GroupVersion]bool{}
	var out []schema.GroupVersion
	for _, res := range r.list {
		gv := res.GroupVersionResource.GroupVersion()
		if !seen[gv] {
			seen[gv] = true
			out = append(out, gv)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		return groupOrder(out[i].Group) < groupOrder(out[j].Group)
	})
	return out
}

// groupOrder keeps the order kubectl users see from Kubernetes: core and the
// built-in groups first, Gureum's own groups last.
func groupOrder(group string) int {
	for i, g := range []string{"", "apiregistration.k8s.io", "apps", "events.k8s.io", "authentication.k8s.io",
		"authorization.k8s.io", "autoscaling", "batch", "certificates.k8s.io", "networking.k8s.io", "policy",
		"rbac.authorization.k8s.io", "storage.k8s.io", "admissionregistration.k8s.io", "apiextensions.k8s.io",
		"scheduling.k8s.io", "coordination.k8s.io", "node.k8s.io", "discovery.k8s.io",
		"flowcontrol.apiserver.k8s.io", "metrics.k8s.io"} {
		if g == group {
			return i
		}
	}
	return 100
}

// DefaultResources returns every resource Gureum serves.
func DefaultResources() []*Resource {
	gvr := func(g, v, r string) schema.GroupVersionResource {
		return schema.GroupVersionResource{Group: g, Version: v, Resource: r}
	}
	res := []*Resource{
		// core/v1
		{GroupVersionResource: gvr("", "v1", "namespaces"), Kind: "Namespace", ShortNames: []string{"ns"},
			Verbs:        []string{"create", "delete", "get", "list", "patch", "update", "watch"},
			Subresources: []Subresource{status(), {Name: "finalize", Verbs: []string{"update"}}}},
		{GroupVersionResource: gvr("", "v1", "pods"), Kind: "Pod", Namespaced: true, ShortNames: []string{"po"}, Categories: []string{"all"},
			Subresources: []Subresource{status(),
				{Name: "binding", Kind: "Binding", Verbs: verbsCreateOnly},
				{Name: "eviction", Kind: "Eviction", Group: "policy", Version: "v1", Verbs: verbsCreateOnly},
				{Name: "log", Kind: "Pod", Verbs: []string{"get"}},
				{Name: "exec", Kind: "PodExecOptions", Verbs: []string{"create", "get"}},
				{Name: "attach", Kind: "PodAttachOptions", Verbs: []string{"create", "get"}},
				{Name: "portforward", Kind: "PodPortForwardOptions", Verbs: []string{"create", "get"}},
			}},
		{GroupVersionResource: gvr("", "v1", "services"), Kind: "Service", Namespaced: true, ShortNames: []string{"svc"}, Categories: []string{"all"},
			Verbs:        []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"},
			Subresources: []Subresource{status()}},
		{GroupVersionResource: gvr("", "v1", "endpoints"), Kind: "Endpoints", Singular: "endpoints", Namespaced: true, ShortNames: []string{"ep"}},
		{GroupVersionResource: gvr("", "v1", "configmaps"), Kind: "ConfigMap", Namespaced: true, ShortNames: []string{"cm"}},
		{GroupVersionResource: gvr("", "v1", "secrets"), Kind: "Secret", Namespaced: true},
		{GroupVersionResource: gvr("", "v1", "events"), Kind: "Event", Namespaced: true, ShortNames: []string{"ev"}},
		{GroupVersionResource: gvr("", "v1", "nodes"), Kind: "Node", ShortNames: []string{"no"},
			Subresources: []Subresource{status()}},
		{GroupVersionResource: gvr("", "v1", "persistentvolumes"), Kind: "PersistentVolume", ShortNames: []string{"pv"},
			Subresources: []Subresource{status()}},
		{GroupVersionResource: gvr("", "v1", "persistentvolumeclaims"), Kind: "PersistentVolumeClaim", Namespaced: true, ShortNames: []string{"pvc"},
			Subresources: []Subresource{status()}},
		{GroupVersionResource: gvr("", "v1", "serviceaccounts"), Kind: "ServiceAccount", Namespaced: true, ShortNames: []string{"sa"},
			Subresources: []Subresource{{Name: "token", Kind: "TokenRequest", Group: "authentication.k8s.io", Version: "v1", Verbs: verbsCreateOnly}}},
		{GroupVersionResource: gvr("", "v1", "resourcequotas"), Kind: "ResourceQuota", Namespaced: true, ShortNames: []string{"quota"},
			Subresources: []Subresource{status()}},
		{GroupVersionResource: gvr("", "v1", "limitranges"), Kind: "LimitRange", Namespaced: true, ShortNames: []string{"limits"}},
		{GroupVersionResource: gvr("", "v1", "podtemplates"), Kind: "PodTemplate", Namespaced: true},
		{GroupVersionResource: gvr("", "v1", "replicationcontrollers"), Kind: "ReplicationController", Namespaced: true, ShortNames: []string{"rc"}, Categories: []string{"all"},
			Subresources: []Subresource{status(), scale()}},

		// apps/v1
		{GroupVersionResource: gvr("apps", "v1", "deployments"), Kind: "Deployment", Namespaced: true, ShortNames: []string{"deploy"}, Categories: []string{"all"},
			Subresources: []Subresource{status(), scale()}},
		{GroupVersionResource: gvr("apps", "v1", "replicasets"), Kind: "ReplicaSet", Namespaced: true, ShortNames: []string{"rs"}, Categories: []string{"all"},
			Subresources: []Subresource{status(), scale()}},
		{GroupVersionResource: gvr("apps", "v1", "daemonsets"), Kind: "DaemonSet", Namespaced: true, ShortNames: []string{"ds"}, Categories: []string{"all"},
			Subresources: []Subresource{status()}},
		{GroupVersionResource: gvr("apps", "v1", "statefulsets"), Kind: "StatefulSet", Namespaced: true, ShortNames: []string{"sts"}, Categories: []string{"all"},
			Subresources: []Subresource{status(), scale()}},
		{GroupVersionResource: gvr("apps", "v1", "controllerrevisions"), Kind: "ControllerRevision", Namespaced: true},

		// batch/v1
		{GroupVersionResource: gvr("batch", "v1", "jobs"), Kind: "Job", Namespaced: true, Categories: []string{"all"},
			Subresources: []Subresource{status()}},
		{GroupVersionResource: gvr("batch", "v1", "cronjobs"), Kind: "CronJob", Namespaced: true, ShortNames: []string{"cj"}, Categories: []string{"all"},
			Subresources: []Subresource{status()}},

		// autoscaling/v2
		{GroupVersionResource: gvr("autoscaling", "v2", "horizontalpodautoscalers"), Kind: "HorizontalPodAutoscaler", Namespaced: true, ShortNames: []string{"hpa"}, Categories: []string{"all"},
			Subresources: []Subresource{status()}},

		// networking.k8s.io/v1
		{GroupVersionResource: gvr("networking.k8s.io", "v1", "ingresses"), Kind: "Ingress", Namespaced: true, ShortNames: []string{"ing"},
			Subresources: []Subresource{status()}},
		{GroupVersionResource: gvr("networking.k8s.io", "v1", "ingressclasses"), Kind: "IngressClass"},
		{GroupVersionResource: gvr("networking.k8s.io", "v1", "networkpolicies"), Kind: "NetworkPolicy", Namespaced: true, ShortNames: []string{"netpol"}},

		// discovery.k8s.io/v1
		{GroupVersionResource: gvr("discovery.k8s.io", "v1", "endpointslices"), Kind: "EndpointSlice", Namespaced: true},

		// coordination.k8s.io/v1
		{GroupVersionResource: gvr("coordination.k8s.io", "v1", "leases"), Kind: "Lease", Namespaced: true},

		// storage.k8s.io/v1
		{GroupVersionResource: gvr("storage.k8s.io", "v1", "storageclasses"), Kind: "StorageClass", ShortNames: []string{"sc"}},

		// rbac.authorization.k8s.io/v1
		{GroupVersionResource: gvr("rbac.authorization.k8s.io", "v1", "roles"), Kind: "Role", Namespaced: true},
		{GroupVersionResource: gvr("rbac.authorization.k8s.io", "v1", "rolebindings"), Kind: "RoleBinding", Namespaced: true},
		{GroupVersionResource: gvr("rbac.authorization.k8s.io", "v1", "clusterroles"), Kind: "ClusterRole"},
		{GroupVersionResource: gvr("rbac.authorization.k8s.io", "v1", "clusterrolebindings"), Kind: "ClusterRoleBinding"},

		// authorization.k8s.io/v1 and authentication.k8s.io/v1: create-only reviews
		{GroupVersionResource: gvr("authorization.k8s.io", "v1", "selfsubjectaccessreviews"), Kind: "SelfSubjectAccessReview", Verbs: verbsCreateOnly},
		{GroupVersionResource: gvr("authorization.k8s.io", "v1", "selfsubjectrulesreviews"), Kind: "SelfSubjectRulesReview", Verbs: verbsCreateOnly},
		{GroupVersionResource: gvr("authorization.k8s.io", "v1", "subjectaccessreviews"), Kind: "SubjectAccessReview", Verbs: verbsCreateOnly},
		{GroupVersionResource: gvr("authentication.k8s.io", "v1", "selfsubjectreviews"), Kind: "SelfSubjectReview", Verbs: verbsCreateOnly},
		{GroupVersionResource: gvr("authentication.k8s.io", "v1", "tokenreviews"), Kind: "TokenReview", Verbs: verbsCreateOnly},
	}
	res = append(res, admissionResources()...)
	res = append(res, moreResources()...)
	res = append(res, extensionResources()...)
	res = append(res, gureumResources()...)
	strategies := allStrategies()
	for _, r := range res {
		if r.Verbs == nil {
			r.Verbs = verbsAll
		}
		if r.Singular == "" {
			r.Singular = lower(r.Kind)
		}
		if s, ok := strategies[r.GroupVersionResource]; ok {
			r.Strategy = s
		}
		r.Strategy.FillDefaults()
	}
	return res
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
