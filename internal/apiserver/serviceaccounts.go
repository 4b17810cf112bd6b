package apiserver

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"github.com/gureum/gureum/internal/api"
	"github.com/gureum/gureum/internal/serviceaccount"
	"github.com/gureum/gureum/internal/store"
)

var (
	serviceAccountsGVR = schemaGVR("", "v1", "serviceaccounts")
	podsGVR            = schemaGVR("", "v1", "pods")
	secretsGVR         = schemaGVR("", "v1", "secrets")
	nodesGVR           = schemaGVR("", "v1", "nodes")
)

// currentObject returns a built-in object from the watch cache, or from
// etcd when the cache has not caught up with it yet (an object created a
// moment ago). The result is shared: callers must not change it.
func (s *Server) currentObject(ctx context.Context, gvr schema.GroupVersionResource, ns, name string) (runtime.Object, error) {
	res, c, ok := s.lookup(gvr)
	if !ok {
		return nil, fmt.Errorf("look up %s: not served", gvr)
	}
	key := name
	if res.Namespaced {
		key = ns + "/" + name
	}
	if e, ok := c.get(key); ok {
		return e.object()
	}
	kv, err := s.store.Get(ctx, res.StorageKey()+"/"+key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, apierrors.NewNotFound(gvr.GroupResource(), name)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", gvr.Resource, key, err)
	}
	obj, err := decodeStored(res, kv.Value)
	if err != nil {
		return nil, fmt.Errorf("decode stored %s %s: %w", gvr.Resource, key, err)
	}
	return obj, nil
}

// authenticateServiceAccount verifies a service account token and that
// what it names still exists: a token dies with its service account and
// with the pod, secret or node it is bound to.
func (s *Server) authenticateServiceAccount(ctx context.Context, token string, audiences []string) (UserInfo, []string, error) {
	if s.cfg.ServiceAccounts == nil {
		return UserInfo{}, nil, serviceaccount.ErrInvalid
	}
	id, err := s.cfg.ServiceAccounts.Verify(token, audiences)
	if err != nil {
		return UserInfo{}, nil, err
	}
	obj, err := s.currentObject(ctx, serviceAccountsGVR, id.Namespace, id.ServiceAccount.Name)
	if err != nil {
		return UserInfo{}, nil, fmt.Errorf("%w: service account %s/%s: %v", serviceaccount.ErrInvalid, id.Namespace, id.ServiceAccount.Name, err)
	}
	sa := obj.(*corev1.ServiceAccount)
	if id.ServiceAccount.UID != "" && string(sa.UID) != id.ServiceAccount.UID {
		return UserInfo{}, nil, fmt.Errorf("%w: service account %s/%s was recreated", serviceaccount.ErrInvalid, id.Namespace, sa.Name)
	}
	if id.Secret != nil {
		obj, err := s.currentObject(ctx, secretsGVR, id.Namespace, id.Secret.Name)
		if err != nil {
			return UserInfo{}, nil, fmt.Errorf("%w: secret %s/%s: %v", serviceaccount.ErrInvalid, id.Namespace, id.Secret.Name, err)
		}
		sec := obj.(*corev1.Secret)
		if (id.Secret.UID != "" && string(sec.UID) != id.Secret.UID) ||
			(id.Legacy && (sec.Type != corev1.SecretTypeServiceAccountToken || subtle.ConstantTimeCompare(sec.Data[corev1.ServiceAccountTokenKey], []byte(token)) != 1)) {
			return UserInfo{}, nil, fmt.Errorf("%w: secret %s/%s no longer holds this token", serviceaccount.ErrInvalid, id.Namespace, id.Secret.Name)
		}
	}
	if id.Pod != nil {
		obj, err := s.currentObject(ctx, podsGVR, id.Namespace, id.Pod.Name)
		if err != nil {
			return UserInfo{}, nil, fmt.Errorf("%w: pod %s/%s: %v", serviceaccount.ErrInvalid, id.Namespace, id.Pod.Name, err)
		}
		if pod := obj.(*corev1.Pod); string(pod.UID) != id.Pod.UID {
			return UserInfo{}, nil, fmt.Errorf("%w: pod %s/%s was recreated", serviceaccount.ErrInvalid, id.Namespace, id.Pod.Name)
		}
	} else if id.Node != nil && id.Secret == nil {
		obj, err := s.currentObject(ctx, nodesGVR, "", id.Node.Name)
		if err != nil {
			return UserInfo{}, nil, fmt.Errorf("%w: node %s: %v", serviceaccount.ErrInvalid, id.Node.Name, err)
		}
		if node := obj.(*corev1.Node); id.Node.UID != "" && string(node.UID) != id.Node.UID {
			return UserInfo{}, nil, fmt.Errorf("%w: node %s was recreated", serviceaccount.ErrInvalid, id.Node.Name)
		}
	}
	return UserInfo{Name: id.UserName(), UID: string(sa.UID), Groups: id.Groups(), Extra: id.Extra()}, id.Audiences, nil
}

// serveTokenRequest issues a token for a service account (the
// serviceaccounts/token subresource), optionally bound to a pod, secret
// or node so that it dies with that object.
func (q *request) serveTokenRequest() {
	s := q.s
	if s.cfg.ServiceAccounts == nil {
		q.fail(apierrors.NewMethodNotSupported(q.gr, "create"))
		return
	}
	body, err := readBody(q.r)
	if err != nil {
		q.fail(err)
		return
	}
	tr := &authenticationv1.TokenRequest{}
	if _, err := decodeInto(q.r, body, authenticationv1.SchemeGroupVersion.WithKind("TokenRequest"), tr); err != nil {
		q.fail(err)
		return
	}
	if tr.Name != "" && tr.Name != q.info.Name {
		q.fail(apierrors.NewBadRequest(fmt.Sprintf("the name of the TokenRequest (%s) does not match the service account on the URL (%s)", tr.Name, q.info.Name)))
		return
	}
	if tr.Spec.ExpirationSeconds == nil {
		tr.Spec.ExpirationSeconds = ptr.To[int64](3600)
	}
	if errs := validateTokenRequest(tr); len(errs) > 0 {
		q.fail(apierrors.NewInvalid(authenticationv1.SchemeGroupVersion.WithKind("TokenRequest").GroupKind(), q.info.Name, errs))
		return
	}
	ctx := q.r.Context()
	ns := q.info.Namespace
	obj, err := s.currentObject(ctx, serviceAccountsGVR, ns, q.info.Name)
	if err != nil {
		q.fail(err)
		return
	}
	sa := obj.(*corev1.ServiceAccount)
	req := serviceaccount.Request{Namespace: ns, ServiceAccount: serviceaccount.Ref{Name: sa.Name, UID: string(sa.UID)},
		Audiences: tr.Spec.Audiences, Expiration: time.Duration(*tr.Spec.ExpirationSeconds) * time.Second}
	if ref := tr.Spec.BoundObjectRef; ref != nil {
		if err := s.bindToken(ctx, ns, sa, ref, &req); err != nil {
			q.fail(err)
			return
		}
	}
	if len(req.Audiences) == 0 {
		req.Audiences = s.cfg.ServiceAccounts.APIAudiences()
	}
	out := tr.DeepCopy()
	out.Name, out.Namespace = sa.Name, ns
	out.CreationTimestamp = metav1.NewTime(s.clock.Now().UTC().Truncate(1e9))
	out.Spec.Audiences = req.Audiences
	if !q.dryRun() {
		tok, exp, err := s.cfg.ServiceAccounts.Issue(req)
		if err != nil {
			q.fail(err)
			return
		}
		out.Status = authenticationv1.TokenRequestStatus{Token: tok, ExpirationTimestamp: metav1.NewTime(exp)}
	}
	q.respond(http.StatusCreated, out)
}

// bindToken checks the object a token is to be bound to and records it in
// the request; a pod's node is recorded too, as Kubernetes does.
func (s *Server) bindToken(ctx context.Context, ns string, sa *corev1.ServiceAccount, ref *authenticationv1.BoundObjectReference, req *serviceaccount.Request) error {
	gk := authenticationv1.SchemeGroupVersion.WithKind("TokenRequest").GroupKind()
	path := field.NewPath("spec", "boundObjectRef")
	if ref.APIVersion != "" && ref.APIVersion != "v1" {
		return apierrors.NewInvalid(gk, sa.Name, field.ErrorList{field.NotSupported(path.Child("apiVersion"), ref.APIVersion, []string{"v1"})})
	}
	var gvr schema.GroupVersionResource
	objNS := ns
	switch ref.Kind {
	case "Pod":
		gvr = podsGVR
	case "Secret":
		gvr = secretsGVR
	case "Node":
		gvr, objNS = nodesGVR, ""
	default:
		return apierrors.NewInvalid(gk, sa.Name, field.ErrorList{field.NotSupported(path.Child("kind"), ref.Kind, []string{"Pod", "Secret", "Node"})})
	}
	obj, err := s.currentObject(ctx, gvr, objNS, ref.Name)
	if err != nil {
		return fmt.Errorf("cannot bind token to %s %q: %w", ref.Kind, ref.Name, err)
	}
	uid := objUID(obj)
	if ref.UID != "" && string(ref.UID) != uid {
		return apierrors.NewConflict(gvr.GroupResource(), ref.Name,
			fmt.Errorf("the UID in the bound object reference (%s) does not match the object's (%s): it was probably deleted and created again", ref.UID, uid))
	}
	bound := &serviceaccount.Ref{Name: ref.Name, UID: uid}
	switch o := obj.(type) {
	case *corev1.Pod:
		if o.Spec.ServiceAccountName != sa.Name {
			return apierrors.NewBadRequest(fmt.Sprintf("cannot bind a token of service account %q to pod %q, which runs as %q", sa.Name, o.Name, o.Spec.ServiceAccountName))
		}
		req.Pod = bound
		if o.Spec.NodeName != "" {
			req.Node = &serviceaccount.Ref{Name: o.Spec.NodeName}
			if n, err := s.currentObject(ctx, nodesGVR, "", o.Spec.NodeName); err == nil {
				req.Node.UID = objUID(n)
			}
		}
	case *corev1.Secret:
		req.Secret = bound
	case *corev1.Node:
		req.Node = bound
	}
	return nil
}

func objUID(obj runtime.Object) string {
	if a, ok := obj.(metav1.Object); ok {
		return string(a.GetUID())
	}
	return ""
}

func validateTokenRequest(tr *authenticationv1.TokenRequest) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("spec", "expirationSeconds")
	switch exp := *tr.Spec.ExpirationSeconds; {
	case exp < 600:
		errs = append(errs, field.Invalid(p, exp, "may not specify a duration less than 10 minutes"))
	case exp > 1<<32:
		errs = append(errs, field.Invalid(p, exp, "may not specify a duration larger than 2^32 seconds"))
	}
	return errs
}

// admitServiceAccount does what Kubernetes' ServiceAccount admission does
// to new pods: run as "default" unless told otherwise, refuse service
// accounts that do not exist, take the account's image pull secrets, and
// mount API credentials unless automounting is turned off.
func (s *Server) admitServiceAccount(ctx context.Context, q *request, obj runtime.Object) error {
	pod, ok := obj.(*corev1.Pod)
	if !ok || q.res.GroupVersionResource != podsGVR || q.info.Subresource != "" {
		return nil
	}
	if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
		return nil
	}
	if pod.Spec.ServiceAccountName == "" {
		pod.Spec.ServiceAccountName = serviceaccount.DefaultName
	}
	o, err := s.currentObject(ctx, serviceAccountsGVR, q.info.Namespace, pod.Spec.ServiceAccountName)
	if err != nil {
		return apierrors.NewForbidden(q.gr, pod.Name, fmt.Errorf("error looking up service account %s/%s: %w (the namespace's default account appears a moment after the namespace; retry, or create the account)",
			q.info.Namespace, pod.Spec.ServiceAccountName, err))
	}
	sa := o.(*corev1.ServiceAccount)
	if len(pod.Spec.ImagePullSecrets) == 0 && len(sa.ImagePullSecrets) > 0 {
		pod.Spec.ImagePullSecrets = append([]corev1.LocalObjectReference{}, sa.ImagePullSecrets...)
	}
	if s.cfg.ServiceAccounts != nil && serviceaccount.Automount(pod, sa) {
		serviceaccount.AddAPIAccessVolume(pod, utilrand.String(5))
	}
	return nil
}

// serveOIDC answers the OpenID discovery documents that let others (a
// cloud's IAM, Vault) verify service account tokens.
func (s *Server) serveOIDC(w http.ResponseWriter, r *http.Request) {
	if s.cfg.ServiceAccounts == nil {
		http.NotFound(w, r)
		return
	}
	var body []byte
	if r.URL.Path == oidcJWKSPath {
		body = s.cfg.ServiceAccounts.JWKS()
		w.Header().Set("Content-Type", "application/jwk-set+json")
	} else {
		body = s.cfg.ServiceAccounts.OpenIDConfiguration(s.cfg.ServiceAccounts.URL() + oidcJWKSPath)
		w.Header().Set("Content-Type", "application/json")
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(body)
}

const (
	oidcConfigPath = "/.well-known/openid-configuration"
	oidcJWKSPath   = "/openid/v1/jwks"
)

// defaultServiceAccountFor writes a new namespace's "default" service
// account in the namespace's own transaction. Kubernetes leaves it to a
// controller, so a pod created right after its namespace can be refused
// for want of the account; here the account exists as soon as the
// namespace does. The controller still recreates it when it is deleted.
func (s *Server) defaultServiceAccountFor(res *api.Resource, obj runtime.Object) (store.Op, bool, error) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok || res.GroupVersionResource != schemaGVR("", "v1", "namespaces") {
		return store.Op{}, false, nil
	}
	saRes, _, ok := s.lookup(serviceAccountsGVR)
	if !ok {
		return store.Op{}, false, nil
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: serviceaccount.DefaultName, Namespace: ns.Name,
		UID: types.UID(uuid.NewUUID()), CreationTimestamp: ns.CreationTimestamp}}
	data, err := encodeForStorage(saRes, sa)
	if err != nil {
		return store.Op{}, false, fmt.Errorf("encode default service account of %s: %w", ns.Name, err)
	}
	return store.Op{Key: saRes.StorageKey() + "/" + ns.Name + "/" + serviceaccount.DefaultName, Value: data}, true, nil
}
