package integration

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gureum/gureum/internal/api"
	"github.com/gureum/gureum/internal/testenv"
)

// designGroups is the API list of DESIGN.md ("The API"), group/version →
// resources it names. metrics.k8s.io is listed there but served only once
// metrics arrive; it is checked against what internal/api serves.
var designGroups = map[string][]string{
	"v1":                           {"namespaces", "pods", "services", "endpoints", "configmaps", "secrets", "events", "nodes", "persistentvolumes", "persistentvolumeclaims", "serviceaccounts", "resourcequotas", "limitranges"},
	"apps/v1":                      {"deployments", "replicasets", "daemonsets", "statefulsets"},
	"batch/v1":                     {"jobs", "cronjobs"},
	"networking.k8s.io/v1":         {"ingresses", "ingressclasses", "networkpolicies"},
	"discovery.k8s.io/v1":          {"endpointslices"},
	"autoscaling/v2":               {"horizontalpodautoscalers"},
	"coordination.k8s.io/v1":       {"leases"},
	"storage.k8s.io/v1":            {"storageclasses"},
	"rbac.authorization.k8s.io/v1": {"roles", "rolebindings", "clusterroles", "clusterrolebindings"},
	"authorization.k8s.io/v1":      {"selfsubjectaccessreviews"},
	"metrics.k8s.io/v1beta1":       {"pods", "nodes"},
}

// TestWireDiscovery checks that discovery lists every served group and
// resource, through client-go and in the aggregated v2 form.
func TestWireDiscovery(t *testing.T) {
	t.Parallel()
	s := testenv.Start(t)
	ctx := wireCtx(t)

	served := map[string]map[string]bool{}
	for _, res := range api.DefaultResources() {
		gv := res.GroupVersionResource.GroupVersion().String()
		if served[gv] == nil {
			served[gv] = map[string]bool{}
		}
		served[gv][res.GroupVersionResource.Resource] = true
	}

	t.Run("ServerGroupsAndResourcesListsEveryServedGroup", func(t *testing.T) {
		_, lists, err := s.Client.Discovery().ServerGroupsAndResources()
		if err != nil {
			t.Fatalf("discovery: %v", err)
		}
		found := map[string]map[string]bool{}
		for _, l := range lists {
			found[l.GroupVersion] = map[string]bool{}
			for _, r := range l.APIResources {
				found[l.GroupVersion][r.Name] = true
			}
		}
		for gv, resources := range designGroups {
			for _, r := range resources {
				if !served[gv][r] {
					t.Logf("DESIGN.md lists %s %s; internal/api does not serve it yet", gv, r)
					continue
				}
				if !found[gv][r] {
					t.Errorf("discovery lacks %s %s", gv, r)
				}
			}
		}
		for gv, resources := range served {
			for r := range resources {
				if !found[gv][r] {
					t.Errorf("internal/api serves %s %s but discovery does not list it", gv, r)
				}
			}
		}
		if !found["apps/v1"]["deployments/scale"] || !found["v1"]["pods/status"] || !found["v1"]["pods/binding"] {
			t.Errorf("discovery lacks subresources: apps/v1 %v", found["apps/v1"])
		}
	})

	t.Run("AggregatedDiscoveryContentTypeIsExact", func(t *testing.T) {
		hc := httpClientFor(t, s)
		const want = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
		groups := map[string]bool{}
		for _, path := range []string{"/api", "/apis"} {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.Config.Host+path, nil)
			// What client-go sends.
			req.Header.Set("Accept", want+",application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json")
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %d", path, resp.StatusCode)
			}
			if got := resp.Header.Get("Content-Type"); got != want {
				t.Fatalf("GET %s Content-Type %q, want exactly %q", path, got, want)
			}
			var list apidiscoveryv2.APIGroupDiscoveryList
			if err := json.Unmarshal(body, &list); err != nil {
				t.Fatal(err)
			}
			if list.Kind != "APIGroupDiscoveryList" || list.APIVersion != "apidiscovery.k8s.io/v2" {
				t.Fatalf("GET %s: %s/%s", path, list.APIVersion, list.Kind)
			}
			for _, g := range list.Items {
				for _, v := range g.Versions {
					groups[schema.GroupVersion{Group: g.Name, Version: v.Version}.String()] = true
				}
			}
		}
		for gv := range served {
			if !groups[gv] {
				t.Errorf("aggregated discovery lacks %s", gv)
			}
		}
		// Without the aggregated media type, /apis is a plain APIGroupList.
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.Config.Host+"/apis", nil)
		req.Header.Set("Accept", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var plain struct{ Kind string }
		if err := json.Unmarshal(body, &plain); err != nil || plain.Kind != "APIGroupList" {
			t.Fatalf("plain /apis: %v %s", err, body)
		}
	})
}
