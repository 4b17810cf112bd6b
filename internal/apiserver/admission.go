package apiserver

import (
	"context"
	"fmt"
	"net/http"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/warning"

	"github.com/gureum/gureum/internal/api"
)

// Admission beyond what the server decides itself (namespaces, quotas) is
// Kubernetes' own plugins from k8s.io/apiserver: ValidatingAdmissionPolicy
// and the mutating and validating webhook dispatchers. They read their
// policies and webhook configurations through informers on a client of
// this same server, so internal/node builds them once the server serves
// and hands them over with SetAdmission; until then writes are admitted
// without them.

// AdmissionPlugins are the plugins SetAdmission installs, in Kubernetes'
// order: every mutating plugin, then every validating one.
type AdmissionPlugins struct {
	Mutating   []admission.MutationInterface
	Validating []admission.ValidationInterface
}

// SetAdmission installs the admission plugins; later writes go through them.
func (s *Server) SetAdmission(p AdmissionPlugins) { s.admission.Store(&p) }

// mutate runs the mutating plugins on a write (old is nil on create) and
// reports whether any ran.
func (s *Server) mutate(ctx context.Context, q *request, op admission.Operation, obj, old runtime.Object) (bool, error) {
	p := s.admission.Load()
	if p == nil || len(p.Mutating) == 0 || !s.anyCached(admissionGVR("mutatingwebhookconfigurations")) {
		return false, nil
	}
	attrs, oi := q.admissionAttributes(op, obj, old)
	ctx = warning.WithWarningRecorder(ctx, warningHeaders{q.w})
	ran := false
	for _, m := range p.Mutating {
		if !m.Handles(op) {
			continue
		}
		ran = true
		if err := m.Admit(ctx, attrs, oi); err != nil {
			return ran, err
		}
	}
	return ran, nil
}

// validate runs the validating plugins on a write or a delete (obj is nil
// on delete, old on create).
func (s *Server) validateAdmission(ctx context.Context, q *request, op admission.Operation, obj, old runtime.Object) error {
	p := s.admission.Load()
	if p == nil || len(p.Validating) == 0 || !s.anyCached(admissionGVR("validatingwebhookconfigurations"),
		admissionGVR("validatingadmissionpolicies"), admissionGVR("validatingadmissionpolicybindings")) {
		return nil
	}
	attrs, oi := q.admissionAttributes(op, obj, old)
	ctx = warning.WithWarningRecorder(ctx, warningHeaders{q.w})
	for _, v := range p.Validating {
		if !v.Handles(op) {
			continue
		}
		if err := v.Validate(ctx, attrs, oi); err != nil {
			return err
		}
	}
	return nil
}

// warningHeaders passes the plugins' warnings (a policy's Warn action, a
// webhook's warnings) to the client as Warning headers, which kubectl
// prints.
type warningHeaders struct{ w http.ResponseWriter }

func (h warningHeaders) AddWarning(_, text string) { writeWarnings(h.w, []string{text}) }

// admissionAttributes describes the request to the plugins.
func (q *request) admissionAttributes(op admission.Operation, obj, old runtime.Object) (admission.Attributes, admission.ObjectInterfaces) {
	ns, name := q.info.Namespace, q.info.Name
	subject := obj
	if subject == nil {
		subject = old
	}
	if a, err := meta.Accessor(subject); err == nil && a.GetName() != "" {
		name = a.GetName()
		if q.res.Namespaced && a.GetNamespace() != "" {
			ns = a.GetNamespace()
		}
	}
	var opts runtime.Object
	switch op {
	case admission.Create:
		opts = &metav1.CreateOptions{FieldManager: query(q.r).Get("fieldManager")}
	case admission.Update:
		opts = &metav1.UpdateOptions{FieldManager: query(q.r).Get("fieldManager")}
	case admission.Delete:
		opts = &metav1.DeleteOptions{}
	}
	u := &user.DefaultInfo{Name: q.user.Name, UID: q.user.UID, Groups: q.user.Groups, Extra: q.user.Extra}
	kind := q.res.GroupVersionKind()
	if op == admission.Connect {
		// The object of a connect is its options (PodExecOptions...).
		kind = obj.GetObjectKind().GroupVersionKind()
		name = q.info.Name
	}
	attrs := admission.NewAttributesRecord(obj, old, kind, ns, name, q.res.GroupVersionResource,
		q.info.Subresource, op, opts, q.dryRun(), u)
	if q.res.Unstructured {
		return attrs, customObjectInterfaces{res: q.res}
	}
	return attrs, builtinObjectInterfaces
}

var builtinObjectInterfaces = admission.NewObjectInterfacesFromScheme(api.Scheme)

// customObjectInterfaces lets the plugins create, convert and default
// custom resources, which the scheme does not know.
type customObjectInterfaces struct{ res *api.Resource }

func (c customObjectInterfaces) GetObjectCreater() runtime.ObjectCreater { return customObjects{} }
func (c customObjectInterfaces) GetObjectTyper() runtime.ObjectTyper     { return customTyper{} }
func (c customObjectInterfaces) GetObjectDefaulter() runtime.ObjectDefaulter {
	return strategyDefaulter{c.res}
}
func (c customObjectInterfaces) GetObjectConvertor() runtime.ObjectConvertor { return customObjects{} }
func (c customObjectInterfaces) GetEquivalentResourceMapper() runtime.EquivalentResourceMapper {
	return runtime.NewEquivalentResourceRegistry()
}

// customTyper reports a custom resource's kind from the object itself.
type customTyper struct{}

func (customTyper) ObjectKinds(obj runtime.Object) ([]schema.GroupVersionKind, bool, error) {
	gvk := obj.GetObjectKind().GroupVersionKind()
	if gvk.Empty() {
		return nil, false, fmt.Errorf("%T has no kind", obj)
	}
	return []schema.GroupVersionKind{gvk}, false, nil
}

func (customTyper) Recognizes(schema.GroupVersionKind) bool { return true }

// Authorizer answers the plugins' authorization checks (CEL's authorizer
// library in policies) with the server's RBAC decisions.
func (s *Server) Authorizer() authorizer.Authorizer { return rbacAuthorizer{s} }

type rbacAuthorizer struct{ s *Server }

func (a rbacAuthorizer) Authorize(_ context.Context, attrs authorizer.Attributes) (authorizer.Decision, string, error) {
	u := UserInfo{}
	if attrs.GetUser() != nil {
		u = UserInfo{Name: attrs.GetUser().GetName(), UID: attrs.GetUser().GetUID(), Groups: attrs.GetUser().GetGroups()}
	}
	ok, reason := a.s.decide(attributes{
		user: u, verb: attrs.GetVerb(), group: attrs.GetAPIGroup(), resource: attrs.GetResource(),
		subresource: attrs.GetSubresource(), namespace: attrs.GetNamespace(), name: attrs.GetName(),
		path: attrs.GetPath(), isResource: attrs.IsResourceRequest(),
	})
	if ok {
		return authorizer.DecisionAllow, reason, nil
	}
	return authorizer.DecisionNoOpinion, reason, nil
}

func admissionGVR(resource string) schema.GroupVersionResource {
	return schemaGVR("admissionregistration.k8s.io", "v1", resource)
}

// anyCached says whether any of the resources holds an object. With no
// webhook configuration, policy or binding stored, the admission plugins
// would decide nothing, and every write skips building their attributes.
// A resource not cached here counts as holding some.
func (s *Server) anyCached(gvrs ...schema.GroupVersionResource) bool {
	for _, gvr := range gvrs {
		c, ok := s.caches[gvr]
		if !ok {
			return true
		}
		c.mu.RLock()
		n := len(c.items)
		c.mu.RUnlock()
		if n > 0 {
			return true
		}
	}
	return false
}
