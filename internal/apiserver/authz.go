package apiserver

import (
	"context"
	"fmt"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// attributes is what an authorization decision is about.
type attributes struct {
	user        UserInfo
	verb        string
	group       string
	resource    string
	subresource string
	namespace   string
	name        string
	path        string // non-resource requests
	isResource  bool
}

// authorize allows system:masters everything and decides the rest with
// RBAC from the cached Roles, ClusterRoles and their bindings.
func (s *Server) authorize(ctx context.Context, user UserInfo, info requestInfo) error {
	attrs := attributes{user: user, verb: info.Verb, group: info.Group, resource: info.Resource,
		subresource: info.Subresource, namespace: info.Namespace, name: info.Name, isResource: true}
	if attrs.resource == "namespaces" && attrs.name != "" {
		attrs.namespace = attrs.name
	}
	if allowed, _ := s.decide(attrs); allowed {
		return nil
	}
	gr := schema.GroupResource{Group: info.Group, Resource: info.Resource}
	what := info.Resource
	if info.Subresource != "" {
		what += "/" + info.Subresource
	}
	scope := "at the cluster scope"
	if info.Namespace != "" {
		scope = fmt.Sprintf("in the namespace %q", info.Namespace)
	}
	group := info.Group
	return apierrors.NewForbidden(gr, info.Name, fmt.Errorf("User %q cannot %s resource %q in API group %q %s", user.Name, info.Verb, what, group, scope))
}

// decide evaluates RBAC. The second result names the rule source that
// allowed the request, for access reviews.
func (s *Server) decide(attrs attributes) (bool, string) {
	if slices.Contains(attrs.user.Groups, "system:masters") {
		return true, "system:masters"
	}
	for _, e := range s.cachedList("rbac.authorization.k8s.io", "clusterrolebindings") {
		b, ok := entryAs[*rbacv1.ClusterRoleBinding](e)
		if !ok || !subjectsMatch(b.Subjects, attrs.user, "") {
			continue
		}
		if rules, ok := s.roleRules(b.RoleRef, ""); ok && rulesAllow(rules, attrs) {
			return true, "ClusterRoleBinding " + b.Name
		}
	}
	if attrs.namespace != "" {
		for _, e := range s.cachedList("rbac.authorization.k8s.io", "rolebindings") {
			b, ok := entryAs[*rbacv1.RoleBinding](e)
			if !ok || b.Namespace != attrs.namespace || !subjectsMatch(b.Subjects, attrs.user, b.Namespace) {
				continue
			}
			if rules, ok := s.roleRules(b.RoleRef, b.Namespace); ok && rulesAllow(rules, attrs) {
				return true, "RoleBinding " + b.Namespace + "/" + b.Name
			}
		}
	}
	return false, ""
}

func (s *Server) cachedList(group, resource string) []*entry {
	c, ok := s.caches[schemaGVR(group, "v1", resource)]
	if !ok {
		return nil
	}
	entries, _ := c.snapshot(&filter{})
	return entries
}

func (s *Server) roleRules(ref rbacv1.RoleRef, ns string) ([]rbacv1.PolicyRule, bool) {
	switch ref.Kind {
	case "ClusterRole":
		c := s.caches[schemaGVR("rbac.authorization.k8s.io", "v1", "clusterroles")]
		if e, ok := c.get(ref.Name); ok {
			if r, ok := entryAs[*rbacv1.ClusterRole](e); ok {
				return r.Rules, true
			}
		}
	case "Role":
		c := s.caches[schemaGVR("rbac.authorization.k8s.io", "v1", "roles")]
		if e, ok := c.get(ns + "/" + ref.Name); ok {
			if r, ok := entryAs[*rbacv1.Role](e); ok {
				return r.Rules, true
			}
		}
	}
	return nil, false
}

func subjectsMatch(subjects []rbacv1.Subject, u UserInfo, bindingNS string) bool {
	for _, sub := range subjects {
		switch sub.Kind {
		case rbacv1.UserKind:
			if sub.Name == u.Name {
				return true
			}
		case rbacv1.GroupKind:
			if slices.Contains(u.Groups, sub.Name) {
				return true
			}
		case rbacv1.ServiceAccountKind:
			ns := sub.Namespace
			if ns == "" {
				ns = bindingNS
			}
			if u.Name == "system:serviceaccount:"+ns+":"+sub.Name {
				return true
			}
		}
	}
	return false
}

// rulesAllow is RBAC's rule matching: any rule that covers verb, group,
// resource (with subresource as "res/sub") and name allows.
func rulesAllow(rules []rbacv1.PolicyRule, a attributes) bool {
	for _, r := range rules {
		if !matches(r.Verbs, a.verb) {
			continue
		}
		if !a.isResource {
			for _, u := range r.NonResourceURLs {
				if u == "*" || u == a.path || (strings.HasSuffix(u, "*") && strings.HasPrefix(a.path, strings.TrimSuffix(u, "*"))) {
					return true
				}
			}
			continue
		}
		if !matches(r.APIGroups, a.group) {
			continue
		}
		res := a.resource
		if a.subresource != "" {
			res += "/" + a.subresource
		}
		resOK := false
		for _, rr := range r.Resources {
			if rr == "*" || rr == res || (a.subresource != "" && rr == "*/"+a.subresource) {
				resOK = true
				break
			}
		}
		if !resOK {
			continue
		}
		if len(r.ResourceNames) > 0 && !slices.Contains(r.ResourceNames, a.name) {
			continue
		}
		return true
	}
	return false
}

func matches(list []string, v string) bool {
	return slices.Contains(list, "*") || slices.Contains(list, v)
}
