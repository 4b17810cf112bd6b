package apiserver

import (
	"fmt"
	"net/http"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gureum/gureum/internal/api"
)

// serveReview answers the create-only review resources: who am I, may I,
// may they.
func (s *Server) serveReview(w http.ResponseWriter, r *http.Request, res *api.Resource, info requestInfo, user UserInfo) {
	q := &request{s: s, w: w, r: r, res: res, info: info, gr: res.GroupVersionResource.GroupResource(), user: user}
	if as := negotiateOutput(r).as; as != "" {
		// A review is computed, not stored: it has no metadata to show as
		// a Table or PartialObjectMetadata, so Kubernetes answers 406.
		q.fail(apierrors.NewGenericServerResponse(http.StatusNotAcceptable, "create", q.gr, "",
			fmt.Sprintf("%s cannot be returned as %s; ask for the object itself", q.gr, as), 0, false))
		return
	}
	body, err := readBody(r)
	if err != nil {
		q.fail(err)
		return
	}
	obj := res.New()
	if _, err := decodeInto(r, body, res.GroupVersionKind(), obj); err != nil {
		q.fail(err)
		return
	}
	var out runtime.Object
	switch o := obj.(type) {
	case *authorizationv1.SelfSubjectAccessReview:
		o.Status = s.accessReview(user, o.Spec.ResourceAttributes, o.Spec.NonResourceAttributes)
		out = o
	case *authorizationv1.SubjectAccessReview:
		subject := UserInfo{Name: o.Spec.User, UID: o.Spec.UID, Groups: o.Spec.Groups}
		o.Status = s.accessReview(subject, o.Spec.ResourceAttributes, o.Spec.NonResourceAttributes)
		out = o
	case *authorizationv1.SelfSubjectRulesReview:
		o.Status = s.rulesReview(user, o.Spec.Namespace)
		out = o
	case *authenticationv1.SelfSubjectReview:
		o.Status.UserInfo = authenticationv1.UserInfo{Username: user.Name, UID: user.UID, Groups: user.Groups, Extra: extraValues(user.Extra)}
		out = o
	case *authenticationv1.TokenReview:
		if u, ok := s.cfg.Tokens[o.Spec.Token]; ok && len(o.Spec.Audiences) == 0 {
			o.Status.Authenticated = true
			o.Status.User = authenticationv1.UserInfo{Username: u.Name, UID: u.UID, Groups: append(append([]string{}, u.Groups...), "system:authenticated")}
		} else if u, aud, err := s.authenticateServiceAccount(r.Context(), o.Spec.Token, o.Spec.Audiences); err == nil {
			o.Status.Authenticated = true
			o.Status.Audiences = aud
			o.Status.User = authenticationv1.UserInfo{Username: u.Name, UID: u.UID, Groups: append(u.Groups, "system:authenticated"), Extra: extraValues(u.Extra)}
		} else {
			o.Status.Error = "the token is not valid: " + err.Error()
		}
		out = o
	default:
		q.fail(apierrors.NewMethodNotSupported(q.gr, "create"))
		return
	}
	q.respond(http.StatusCreated, out)
}

func (s *Server) accessReview(user UserInfo, ra *authorizationv1.ResourceAttributes, nra *authorizationv1.NonResourceAttributes) authorizationv1.SubjectAccessReviewStatus {
	var attrs attributes
	switch {
	case ra != nil:
		attrs = attributes{user: user, verb: ra.Verb, group: ra.Group, resource: ra.Resource, subresource: ra.Subresource,
			namespace: ra.Namespace, name: ra.Name, isResource: true}
	case nra != nil:
		attrs = attributes{user: user, verb: nra.Verb, path: nra.Path}
	default:
		return authorizationv1.SubjectAccessReviewStatus{EvaluationError: "set resourceAttributes or nonResourceAttributes"}
	}
	allowed, reason := s.decide(attrs)
	st := authorizationv1.SubjectAccessReviewStatus{Allowed: allowed}
	if allowed {
		st.Reason = "RBAC: allowed by " + reason
	}
	return st
}

// rulesReview lists what RBAC lets user do in namespace (kubectl auth
// can-i --list).
func (s *Server) rulesReview(user UserInfo, ns string) authorizationv1.SubjectRulesReviewStatus {
	var st authorizationv1.SubjectRulesReviewStatus
	add := func(rules []rbacv1.PolicyRule) {
		for _, r := range rules {
			if len(r.NonResourceURLs) > 0 {
				st.NonResourceRules = append(st.NonResourceRules, authorizationv1.NonResourceRule{Verbs: r.Verbs, NonResourceURLs: r.NonResourceURLs})
				continue
			}
			st.ResourceRules = append(st.ResourceRules, authorizationv1.ResourceRule{Verbs: r.Verbs, APIGroups: r.APIGroups, Resources: r.Resources, ResourceNames: r.ResourceNames})
		}
	}
	for _, g := range user.Groups {
		if g == "system:masters" {
			add([]rbacv1.PolicyRule{{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}}, {Verbs: []string{"*"}, NonResourceURLs: []string{"*"}}})
			return st
		}
	}
	for _, e := range s.cachedList("rbac.authorization.k8s.io", "clusterrolebindings") {
		if b, ok := entryAs[*rbacv1.ClusterRoleBinding](e); ok && subjectsMatch(b.Subjects, user, "") {
			if rules, ok := s.roleRules(b.RoleRef, ""); ok {
				add(rules)
			}
		}
	}
	for _, e := range s.cachedList("rbac.authorization.k8s.io", "rolebindings") {
		if b, ok := entryAs[*rbacv1.RoleBinding](e); ok && b.Namespace == ns && subjectsMatch(b.Subjects, user, ns) {
			if rules, ok := s.roleRules(b.RoleRef, ns); ok {
				add(rules)
			}
		}
	}
	return st
}

func extraValues(extra map[string][]string) map[string]authenticationv1.ExtraValue {
	if len(extra) == 0 {
		return nil
	}
	out := make(map[string]authenticationv1.ExtraValue, len(extra))
	for k, v := range extra {
		out[k] = v
	}
	return out
}
