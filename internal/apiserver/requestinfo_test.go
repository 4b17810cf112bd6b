package apiserver

import (
	"net/http/httptest"
	"testing"
)

func TestParseRequestInfo(t *testing.T) {
	tests := []struct {
		method, url string
		want        requestInfo
	}{
		{"GET", "/api/v1/pods", requestInfo{IsResource: true, Verb: "list", APIPrefix: "api", Version: "v1", Resource: "pods"}},
		{"GET", "/api/v1/namespaces/ns1/pods/p1", requestInfo{IsResource: true, Verb: "get", APIPrefix: "api", Version: "v1", Namespace: "ns1", Resource: "pods", Name: "p1"}},
		{"PUT", "/api/v1/namespaces/ns1/pods/p1/status", requestInfo{IsResource: true, Verb: "update", APIPrefix: "api", Version: "v1", Namespace: "ns1", Resource: "pods", Name: "p1", Subresource: "status"}},
		{"GET", "/api/v1/namespaces", requestInfo{IsResource: true, Verb: "list", APIPrefix: "api", Version: "v1", Resource: "namespaces"}},
		{"GET", "/api/v1/namespaces/ns1", requestInfo{IsResource: true, Verb: "get", APIPrefix: "api", Version: "v1", Resource: "namespaces", Name: "ns1"}},
		{"PUT", "/api/v1/namespaces/ns1/finalize", requestInfo{IsResource: true, Verb: "update", APIPrefix: "api", Version: "v1", Resource: "namespaces", Name: "ns1", Subresource: "finalize"}},
		{"GET", "/apis/apps/v1/namespaces/ns1/deployments?watch=true", requestInfo{IsResource: true, Verb: "watch", APIPrefix: "apis", Group: "apps", Version: "v1", Namespace: "ns1", Resource: "deployments"}},
		{"GET", "/apis/apps/v1/watch/namespaces/ns1/deployments", requestInfo{IsResource: true, Verb: "watch", APIPrefix: "apis", Group: "apps", Version: "v1", Namespace: "ns1", Resource: "deployments"}},
		{"DELETE", "/apis/apps/v1/namespaces/ns1/deployments", requestInfo{IsResource: true, Verb: "deletecollection", APIPrefix: "apis", Group: "apps", Version: "v1", Namespace: "ns1", Resource: "deployments"}},
		{"PATCH", "/apis/apps/v1/namespaces/ns1/deployments/d/scale", requestInfo{IsResource: true, Verb: "patch", APIPrefix: "apis", Group: "apps", Version: "v1", Namespace: "ns1", Resource: "deployments", Name: "d", Subresource: "scale"}},
		{"GET", "/apis/apps/v1", requestInfo{APIPrefix: "apis", Group: "apps", Version: "v1"}},
		{"GET", "/healthz", requestInfo{}},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.url, func(t *testing.T) {
			got := parseRequestInfo(httptest.NewRequest(tt.method, tt.url, nil))
			got.Path = ""
			if got.Verb == "" && !tt.want.IsResource {
				tt.want.Verb = ""
			}
			if got != tt.want {
				t.Errorf("parseRequestInfo(%s %s)\n got  %+v\n want %+v", tt.method, tt.url, got, tt.want)
			}
		})
	}
}
