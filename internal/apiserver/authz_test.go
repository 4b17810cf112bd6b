package apiserver

import (
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
)

func TestRulesAllow(t *testing.T) {
	podsRead := rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list"}}
	logs := rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods/log"}, Verbs: []string{"get"}}
	named := rbacv1.PolicyRule{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, ResourceNames: []string{"web"}, Verbs: []string{"*"}}
	anyStatus := rbacv1.PolicyRule{APIGroups: []string{"*"}, Resources: []string{"*/status"}, Verbs: []string{"update"}}
	discovery := rbacv1.PolicyRule{NonResourceURLs: []string{"/apis/*", "/version"}, Verbs: []string{"get"}}
	tests := []struct {
		name  string
		rules []rbacv1.PolicyRule
		attrs attributes
		want  bool
	}{
		{"verb and resource match", []rbacv1.PolicyRule{podsRead}, attributes{verb: "list", resource: "pods", isResource: true}, true},
		{"verb not granted", []rbacv1.PolicyRule{podsRead}, attributes{verb: "delete", resource: "pods", isResource: true}, false},
		{"other group", []rbacv1.PolicyRule{podsRead}, attributes{verb: "get", group: "apps", resource: "pods", isResource: true}, false},
		{"subresource needs its own rule", []rbacv1.PolicyRule{podsRead}, attributes{verb: "get", resource: "pods", subresource: "log", isResource: true}, false},
		{"subresource rule", []rbacv1.PolicyRule{logs}, attributes{verb: "get", resource: "pods", subresource: "log", isResource: true}, true},
		{"resource name matches", []rbacv1.PolicyRule{named}, attributes{verb: "patch", group: "apps", resource: "deployments", name: "web", isResource: true}, true},
		{"resource name differs", []rbacv1.PolicyRule{named}, attributes{verb: "patch", group: "apps", resource: "deployments", name: "api", isResource: true}, false},
		{"wildcard subresource", []rbacv1.PolicyRule{anyStatus}, attributes{verb: "update", group: "apps", resource: "deployments", subresource: "status", isResource: true}, true},
		{"non-resource prefix", []rbacv1.PolicyRule{discovery}, attributes{verb: "get", path: "/apis/apps/v1"}, true},
		{"non-resource exact", []rbacv1.PolicyRule{discovery}, attributes{verb: "get", path: "/version"}, true},
		{"non-resource other", []rbacv1.PolicyRule{discovery}, attributes{verb: "get", path: "/metrics"}, false},
		{"no rules", nil, attributes{verb: "get", resource: "pods", isResource: true}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rulesAllow(tt.rules, tt.attrs); got != tt.want {
				t.Errorf("rulesAllow = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSubjectsMatch(t *testing.T) {
	u := UserInfo{Name: "alice", Groups: []string{"devs", "system:authenticated"}}
	sa := UserInfo{Name: "system:serviceaccount:team:builder"}
	tests := []struct {
		name     string
		subjects []rbacv1.Subject
		user     UserInfo
		ns       string
		want     bool
	}{
		{"user", []rbacv1.Subject{{Kind: "User", Name: "alice"}}, u, "", true},
		{"other user", []rbacv1.Subject{{Kind: "User", Name: "bob"}}, u, "", false},
		{"group", []rbacv1.Subject{{Kind: "Group", Name: "devs"}}, u, "", true},
		{"service account with namespace", []rbacv1.Subject{{Kind: "ServiceAccount", Name: "builder", Namespace: "team"}}, sa, "", true},
		{"service account from binding namespace", []rbacv1.Subject{{Kind: "ServiceAccount", Name: "builder"}}, sa, "team", true},
		{"service account elsewhere", []rbacv1.Subject{{Kind: "ServiceAccount", Name: "builder", Namespace: "other"}}, sa, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := subjectsMatch(tt.subjects, tt.user, tt.ns); got != tt.want {
				t.Errorf("subjectsMatch = %v, want %v", got, tt.want)
			}
		})
	}
}
