package openapi

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	openapi_v3 "github.com/google/gnostic-models/openapiv3"
	"google.golang.org/protobuf/proto"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/kube-openapi/pkg/handler3"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"sigs.k8s.io/structured-merge-diff/v4/fieldpath"

	"github.com/gureum/gureum/internal/api"
)

func defaultRegistry() *api.Registry { return api.NewRegistry(api.DefaultResources()) }

// newService builds a Service of its own, for tests of lazy building.
func newService(t *testing.T) *Service {
	t.Helper()
	s, err := New(defaultRegistry())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// Most tests only read documents, so they share one build of each.
var (
	sharedService = sync.OnceValues(func() (*Service, error) { return New(defaultRegistry()) })
	sharedV2      = sync.OnceValues(func() (*spec.Swagger, error) { return BuildV2(defaultRegistry()) })
	sharedV3      = sync.OnceValues(func() (map[string]*spec3.OpenAPI, error) { return BuildV3(defaultRegistry()) })
)

func service(t *testing.T) *Service {
	t.Helper()
	s, err := sharedService()
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func buildV2(t *testing.T) *spec.Swagger {
	t.Helper()
	sw, err := sharedV2()
	if err != nil {
		t.Fatalf("BuildV2: %v", err)
	}
	return sw
}

func buildV3(t *testing.T) map[string]*spec3.OpenAPI {
	t.Helper()
	docs, err := sharedV3()
	if err != nil {
		t.Fatalf("BuildV3: %v", err)
	}
	return docs
}

func get(t *testing.T, h http.Handler, path, accept string, header ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// schemaGVKs reads x-kubernetes-group-version-kind off a definition.
func schemaGVKs(t *testing.T, s spec.Schema) []schema.GroupVersionKind {
	t.Helper()
	var gvks []schema.GroupVersionKind
	raw, _ := json.Marshal(s.Extensions[extensionGVK])
	if err := json.Unmarshal(raw, &gvks); err != nil {
		t.Fatalf("x-kubernetes-group-version-kind %s: %v", raw, err)
	}
	return gvks
}

func TestDefinitionsCarryKindAndDescriptions(t *testing.T) {
	sw := buildV2(t)
	v3 := buildV3(t)
	for _, tc := range []struct {
		definition string
		gvk        schema.GroupVersionKind
		field      string // a property that must be described
		v3doc      string
	}{
		{"io.k8s.api.core.v1.Pod", corev1.SchemeGroupVersion.WithKind("Pod"), "spec", "api/v1"},
		{"io.k8s.api.apps.v1.Deployment", appsv1.SchemeGroupVersion.WithKind("Deployment"), "spec", "apis/apps/v1"},
		{"io.k8s.api.core.v1.Container", schema.GroupVersionKind{}, "image", "api/v1"},
	} {
		t.Run(tc.definition, func(t *testing.T) {
			for version, def := range map[string]*spec.Schema{"v2": ptr(sw.Definitions[tc.definition]), "v3": v3[tc.v3doc].Components.Schemas[tc.definition]} {
				if def == nil || len(def.Properties) == 0 {
					t.Fatalf("%s: no definition %s", version, tc.definition)
				}
				if def.Description == "" {
					t.Errorf("%s: %s has no description", version, tc.definition)
				}
				if def.Properties[tc.field].Description == "" {
					t.Errorf("%s: %s.%s has no description", version, tc.definition, tc.field)
				}
				gvks := schemaGVKs(t, *def)
				if tc.gvk.Empty() {
					if len(gvks) != 0 {
						t.Errorf("%s: %s is not a kind but carries %v", version, tc.definition, gvks)
					}
					continue
				}
				if len(gvks) != 1 || gvks[0] != tc.gvk {
					t.Errorf("%s: %s carries %v, want [%v]", version, tc.definition, gvks, tc.gvk)
				}
			}
		})
	}
	// Shared meta types are kinds of every served group, not of the rest
	// of client-go's scheme.
	for _, gvk := range schemaGVKs(t, sw.Definitions["io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"]) {
		if gvk.Group == "resource.k8s.io" || gvk.Version == runtime.APIVersionInternal {
			t.Errorf("DeleteOptions claims unserved kind %v", gvk)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// operations indexes a v2 document's operations by operationId.
// Operation IDs must be unique: client generators name methods after them.
func operations(t *testing.T, sw *spec.Swagger) map[string]*spec.Operation {
	t.Helper()
	ops := map[string]*spec.Operation{}
	for path, item := range sw.Paths.Paths {
		for _, op := range []*spec.Operation{item.Get, item.Put, item.Post, item.Patch, item.Delete} {
			if op == nil {
				continue
			}
			if _, dup := ops[op.ID]; dup {
				t.Errorf("operation ID %s is used twice (again at %s)", op.ID, path)
			}
			ops[op.ID] = op
		}
	}
	return ops
}

func TestOperationsAreNamedAsKubernetesNamesThem(t *testing.T) {
	sw := buildV2(t)
	ops := operations(t, sw)
	for id, want := range map[string]struct {
		path, method, action string
		gvk                  schema.GroupVersionKind
	}{
		"listCoreV1NamespacedPod":                                  {"/api/v1/namespaces/{namespace}/pods", "GET", "list", corev1.SchemeGroupVersion.WithKind("Pod")},
		"listCoreV1PodForAllNamespaces":                            {"/api/v1/pods", "GET", "list", corev1.SchemeGroupVersion.WithKind("Pod")},
		"createCoreV1NamespacedPod":                                {"/api/v1/namespaces/{namespace}/pods", "POST", "post", corev1.SchemeGroupVersion.WithKind("Pod")},
		"deleteCoreV1CollectionNamespacedPod":                      {"/api/v1/namespaces/{namespace}/pods", "DELETE", "deletecollection", corev1.SchemeGroupVersion.WithKind("Pod")},
		"readCoreV1NamespacedPodStatus":                            {"/api/v1/namespaces/{namespace}/pods/{name}/status", "GET", "get", corev1.SchemeGroupVersion.WithKind("Pod")},
		"watchCoreV1NamespacedPodList":                             {"/api/v1/watch/namespaces/{namespace}/pods", "GET", "watchlist", corev1.SchemeGroupVersion.WithKind("Pod")},
		"replaceCoreV1Node":                                        {"/api/v1/nodes/{name}", "PUT", "put", corev1.SchemeGroupVersion.WithKind("Node")},
		"patchAppsV1NamespacedDeployment":                          {"/apis/apps/v1/namespaces/{namespace}/deployments/{name}", "PATCH", "patch", appsv1.SchemeGroupVersion.WithKind("Deployment")},
		"patchAppsV1NamespacedDeploymentScale":                     {"/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale", "PATCH", "patch", schema.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"}},
		"createCoreV1NamespacedPodEviction":                        {"/api/v1/namespaces/{namespace}/pods/{name}/eviction", "POST", "post", schema.GroupVersionKind{Group: "policy", Version: "v1", Kind: "Eviction"}},
		"listRbacAuthorizationV1ClusterRole":                       {"/apis/rbac.authorization.k8s.io/v1/clusterroles", "GET", "list", schema.GroupVersionKind{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole"}},
		"createAuthorizationV1SelfSubjectAccessReview":             {"/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", "POST", "post", schema.GroupVersionKind{Group: "authorization.k8s.io", Version: "v1", Kind: "SelfSubjectAccessReview"}},
		"readNetworkingV1NamespacedIngressStatus":                  {"/apis/networking.k8s.io/v1/namespaces/{namespace}/ingresses/{name}/status", "GET", "get", schema.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"}},
		"listAutoscalingV2HorizontalPodAutoscalerForAllNamespaces": {"/apis/autoscaling/v2/horizontalpodautoscalers", "GET", "list", schema.GroupVersionKind{Group: "autoscaling", Version: "v2", Kind: "HorizontalPodAutoscaler"}},
	} {
		op, ok := ops[id]
		if !ok {
			t.Errorf("no operation %s", id)
			continue
		}
		item := sw.Paths.Paths[want.path]
		if got := map[string]*spec.Operation{"GET": item.Get, "POST": item.Post, "PUT": item.Put, "PATCH": item.Patch, "DELETE": item.Delete}[want.method]; got != op {
			t.Errorf("%s is not %s %s", id, want.method, want.path)
		}
		if op.Extensions["x-kubernetes-action"] != want.action {
			t.Errorf("%s: x-kubernetes-action = %v, want %s", id, op.Extensions["x-kubernetes-action"], want.action)
		}
		if got := op.Extensions[extensionGVK]; got == nil || !equalJSON(got, gvkMap(want.gvk)) {
			t.Errorf("%s: %s = %v, want %v", id, extensionGVK, got, want.gvk)
		}
	}
}

func equalJSON(a, b interface{}) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func paramNames(params []spec.Parameter) map[string]string {
	names := map[string]string{}
	for _, p := range params {
		names[p.Name] = p.In
	}
	return names
}

func TestQueryParameters(t *testing.T) {
	sw := buildV2(t)
	writes := 0
	for path, item := range sw.Paths.Paths {
		for method, op := range map[string]*spec.Operation{"POST": item.Post, "PUT": item.Put, "PATCH": item.Patch, "GET": item.Get, "DELETE": item.Delete} {
			if op == nil || op.Extensions["x-kubernetes-action"] == "connect" {
				continue
			}
			params := paramNames(op.Parameters)
			var want []string
			switch {
			case method == "POST" || method == "PUT":
				want = []string{"dryRun", "fieldManager", "fieldValidation", "pretty", "body"}
			case method == "PATCH":
				want = []string{"dryRun", "fieldManager", "fieldValidation", "force", "pretty", "body"}
			case op.Extensions["x-kubernetes-action"] == "list":
				want = []string{"labelSelector", "fieldSelector", "limit", "continue", "resourceVersion", "resourceVersionMatch",
					"watch", "allowWatchBookmarks", "sendInitialEvents", "timeoutSeconds", "pretty"}
			case op.Extensions["x-kubernetes-action"] == "delete":
				want = []string{"gracePeriodSeconds", "propagationPolicy", "orphanDependents", "dryRun", "pretty", "body"}
			}
			if method != "GET" && method != "DELETE" {
				writes++
			}
			for _, name := range want {
				if _, ok := params[name]; !ok {
					t.Errorf("%s %s (%s) lacks parameter %s", method, path, op.ID, name)
				}
			}
			if in, ok := params["fieldValidation"]; ok && in != "query" {
				t.Errorf("%s: fieldValidation is in %s", op.ID, in)
			}
		}
	}
	if writes < 50 {
		t.Errorf("only %d write operations", writes)
	}

	// kubectl detects server-side field validation from the v3 PATCH
	// operation of the kind it sends.
	doc := buildV3(t)["apis/apps/v1"]
	patch := doc.Paths.Paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"].Patch
	found := false
	for _, p := range patch.Parameters {
		found = found || (p.Name == "fieldValidation" && p.In == "query")
	}
	if !found {
		t.Error("v3 patchAppsV1NamespacedDeployment has no fieldValidation query parameter")
	}
}

func TestDeploymentPatchAcceptsStrategicMergePatch(t *testing.T) {
	const smp = "application/strategic-merge-patch+json"
	sw := buildV2(t)
	op := sw.Paths.Paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"].Patch
	if !contains(op.Consumes, smp) || !contains(op.Consumes, "application/apply-patch+yaml") ||
		!contains(op.Consumes, "application/merge-patch+json") || !contains(op.Consumes, "application/json-patch+json") {
		t.Errorf("v2 patch consumes %v", op.Consumes)
	}
	v3 := buildV3(t)["apis/apps/v1"]
	op3 := v3.Paths.Paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"].Patch
	if op3.RequestBody == nil || op3.RequestBody.Content[smp] == nil {
		t.Fatalf("v3 patch request body lacks %s", smp)
	}
	if got := op3.RequestBody.Content[smp].Schema.Ref.String(); got != "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Patch" {
		t.Errorf("v3 patch body schema = %s", got)
	}

	// What kubectl apply does with the document: a three-way strategic merge
	// patch that merges containers by name instead of replacing the list.
	var deployment *spec.Schema
	for _, s := range v3.Components.Schemas {
		for _, gvk := range schemaGVKs(t, *s) {
			if gvk == appsv1.SchemeGroupVersion.WithKind("Deployment") {
				deployment = s
			}
		}
	}
	if deployment == nil {
		t.Fatal("no Deployment schema in apis/apps/v1")
	}
	meta := strategicpatch.PatchMetaFromOpenAPIV3{SchemaList: v3.Components.Schemas, Schema: deployment}
	original := `{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"a:1"},{"name":"b","image":"b:1"}]}}}}`
	modified := `{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"a:2"},{"name":"b","image":"b:1"}]}}}}`
	patch, err := strategicpatch.CreateThreeWayMergePatch([]byte(original), []byte(modified), []byte(original), meta, false)
	if err != nil {
		t.Fatalf("strategic merge patch from the v3 document: %v", err)
	}
	if !strings.Contains(string(patch), `"$setElementOrder/containers"`) || !strings.Contains(string(patch), `"name":"a"`) {
		t.Errorf("patch does not merge containers by name: %s", patch)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestV3IndexListsEveryGroupVersion(t *testing.T) {
	s := service(t)
	resp := get(t, s, "/openapi/v3", "application/json")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /openapi/v3: %s", resp.Status)
	}
	var index handler3.OpenAPIV3Discovery
	if err := json.Unmarshal(readAll(t, resp), &index); err != nil {
		t.Fatal(err)
	}
	gvs := defaultRegistry().GroupVersions()
	if len(index.Paths) != len(gvs) {
		t.Errorf("index has %d entries, registry serves %d group-versions", len(index.Paths), len(gvs))
	}
	for _, gv := range gvs {
		entry, ok := index.Paths[gvKey(gv)]
		if !ok {
			t.Errorf("index lacks %s", gvKey(gv))
			continue
		}
		if !strings.HasPrefix(entry.ServerRelativeURL, "/openapi/v3/"+gvKey(gv)+"?hash=") {
			t.Errorf("%s: serverRelativeURL %s", gv, entry.ServerRelativeURL)
		}
	}

	// A hashed URL is immutable; a stale hash redirects to the current one.
	url := index.Paths["apis/apps/v1"].ServerRelativeURL
	resp = get(t, s, url, "application/json")
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
		t.Errorf("GET %s: %s, Cache-Control %q", url, resp.Status, resp.Header.Get("Cache-Control"))
	}
	var doc spec3.OpenAPI
	if err := json.Unmarshal(readAll(t, resp), &doc); err != nil {
		t.Fatalf("apps/v1 document: %v", err)
	}
	if doc.Components.Schemas["io.k8s.api.apps.v1.Deployment"] == nil {
		t.Error("apps/v1 document lacks io.k8s.api.apps.v1.Deployment")
	}
	if resp := get(t, s, url, "application/json", "Accept-Encoding", "gzip"); resp.Header.Get("Content-Encoding") != "gzip" {
		t.Errorf("GET %s accepting gzip: Content-Encoding %q", url, resp.Header.Get("Content-Encoding"))
	}
	if resp := get(t, s, "/openapi/v3/apis/apps/v1?hash=stale", "application/json"); resp.StatusCode != http.StatusMovedPermanently {
		t.Errorf("stale hash: %s", resp.Status)
	}
	if resp := get(t, s, "/openapi/v3/apis/nothing/v1", "application/json"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown group-version: %s", resp.Status)
	}

	// kubectl may ask for protobuf.
	resp = get(t, s, "/openapi/v3/api/v1", "application/com.github.proto-openapi.spec.v3@v1.0+protobuf")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/com.github.proto-openapi.spec.v3.v1.0+protobuf" {
		t.Fatalf("v3 protobuf: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	var pb openapi_v3.Document
	if err := proto.Unmarshal(readAll(t, resp), &pb); err != nil {
		t.Fatalf("decode v3 protobuf: %v", err)
	}
	if pb.GetComponents().GetSchemas() == nil || len(pb.GetPaths().GetPath()) == 0 {
		t.Error("v3 protobuf document is empty")
	}
}

func TestV2ProtobufAndETag(t *testing.T) {
	s := service(t)
	for _, accept := range []string{
		"application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
		"application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
	} {
		resp := get(t, s, "/openapi/v2", accept)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /openapi/v2 (%s): %s", accept, resp.Status)
		}
		var doc openapi_v2.Document
		if err := proto.Unmarshal(readAll(t, resp), &doc); err != nil {
			t.Fatalf("decode v2 protobuf: %v", err)
		}
		found := false
		for _, def := range doc.GetDefinitions().GetAdditionalProperties() {
			found = found || def.GetName() == "io.k8s.api.core.v1.Pod"
		}
		if !found {
			t.Errorf("v2 protobuf lacks io.k8s.api.core.v1.Pod")
		}

		etag := resp.Header.Get("Etag")
		if etag == "" {
			t.Fatal("no ETag")
		}
		if resp := get(t, s, "/openapi/v2", accept, "If-None-Match", etag); resp.StatusCode != http.StatusNotModified {
			t.Errorf("If-None-Match: %s, want 304", resp.Status)
		}
	}

	resp := get(t, s, "/openapi/v2", "")
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "application/json" {
		t.Fatalf("GET /openapi/v2 without Accept: %s %s", resp.Status, ct)
	}
	var sw spec.Swagger
	if err := json.Unmarshal(readAll(t, resp), &sw); err != nil {
		t.Fatal(err)
	}
	if _, ok := sw.Definitions["io.k8s.api.apps.v1.Deployment"]; !ok {
		t.Error("v2 JSON lacks io.k8s.api.apps.v1.Deployment")
	}
}

func TestRegister(t *testing.T) {
	mux := http.NewServeMux()
	service(t).Register(mux)
	for _, path := range []string{"/openapi/v2", "/openapi/v3", "/openapi/v3/api/v1"} {
		if resp := get(t, mux, path, "application/json"); resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %s", path, resp.Status)
		}
	}
}

func TestTypeConverter(t *testing.T) {
	tc := service(t).TypeConverter()
	pod := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "web", Image: "nginx:1",
			Ports: []corev1.ContainerPort{{ContainerPort: 80, Protocol: corev1.ProtocolTCP}},
		}}},
	}
	typed, err := tc.ObjectToTyped(pod)
	if err != nil {
		t.Fatalf("ObjectToTyped(Pod): %v", err)
	}
	// Containers are a map keyed by name: that is what lets two managers own
	// different containers.
	set, err := typed.ToFieldSet()
	if err != nil {
		t.Fatal(err)
	}
	keyed := fieldpath.MakePathOrDie("spec", "containers", fieldpath.KeyByFields("name", "web"), "image")
	if !set.Has(keyed) {
		t.Errorf("field set lacks %s:\n%s", keyed, set.String())
	}
	obj, err := tc.TypedToObject(typed)
	if err != nil {
		t.Fatalf("TypedToObject: %v", err)
	}
	if obj.GetObjectKind().GroupVersionKind().Kind != "Pod" {
		t.Errorf("round trip gave %v", obj.GetObjectKind().GroupVersionKind())
	}

	deployment := &appsv1.Deployment{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "web"}}
	if _, err := tc.ObjectToTyped(deployment); err != nil {
		t.Errorf("ObjectToTyped(Deployment): %v", err)
	}
}

// TestEveryServedKindHasASchema guards zz_generated.openapi.go against new
// resources: each kind must be explainable from its group-version document.
func TestEveryServedKindHasASchema(t *testing.T) {
	docs := buildV3(t)
	for _, res := range defaultRegistry().All() {
		gv := res.GroupVersionResource.GroupVersion()
		doc := docs[gvKey(gv)]
		found := false
		for _, s := range doc.Components.Schemas {
			for _, gvk := range schemaGVKs(t, *s) {
				found = found || gvk == res.GroupVersionKind()
			}
		}
		if !found {
			t.Errorf("%s: no schema with kind %s in %s (run hack/update-openapi.sh)", res.GroupVersionResource, res.GroupVersionKind(), gvKey(gv))
		}
	}
}

// TestStreamingSubresources covers subresources DefaultResources may not
// serve yet: logs, exec and tokens are documented as kube-apiserver does.
func TestStreamingSubresources(t *testing.T) {
	reg := api.NewRegistry([]*api.Resource{
		{GroupVersionResource: corev1.SchemeGroupVersion.WithResource("pods"), Kind: "Pod", Namespaced: true,
			Verbs: []string{"get", "list"},
			Subresources: []api.Subresource{
				{Name: "log", Kind: "Pod", Verbs: []string{"get"}},
				{Name: "exec", Kind: "PodExecOptions", Verbs: []string{"create", "get"}},
				{Name: "ephemeralcontainers", Verbs: []string{"get", "patch", "update"}},
			}},
		{GroupVersionResource: corev1.SchemeGroupVersion.WithResource("serviceaccounts"), Kind: "ServiceAccount", Namespaced: true,
			Verbs: []string{"get"},
			Subresources: []api.Subresource{
				{Name: "token", Kind: "TokenRequest", Group: "authentication.k8s.io", Version: "v1", Verbs: []string{"create"}},
			}},
	})
	sw, err := BuildV2(reg)
	if err != nil {
		t.Fatal(err)
	}
	ops := operations(t, sw)
	for id, action := range map[string]string{
		"readCoreV1NamespacedPodLog":                  "get",
		"connectCoreV1GetNamespacedPodExec":           "connect",
		"connectCoreV1PostNamespacedPodExec":          "connect",
		"patchCoreV1NamespacedPodEphemeralcontainers": "patch",
		"createCoreV1NamespacedServiceAccountToken":   "post",
	} {
		op, ok := ops[id]
		if !ok {
			t.Errorf("no operation %s", id)
			continue
		}
		if op.Extensions["x-kubernetes-action"] != action {
			t.Errorf("%s: action %v", id, op.Extensions["x-kubernetes-action"])
		}
	}
	if p := paramNames(ops["connectCoreV1PostNamespacedPodExec"].Parameters); p["command"] != "query" || p["stdin"] != "query" {
		t.Errorf("exec parameters: %v", p)
	}
	if p := paramNames(ops["readCoreV1NamespacedPodLog"].Parameters); p["follow"] != "query" || p["tailLines"] != "query" {
		t.Errorf("log parameters: %v", p)
	}
	if _, ok := sw.Definitions["io.k8s.api.authentication.v1.TokenRequest"]; !ok {
		t.Error("no TokenRequest definition")
	}
	if _, err := New(reg); err != nil {
		t.Errorf("New: %v", err)
	}
}

func TestNewRejectsUnknownKind(t *testing.T) {
	reg := api.NewRegistry([]*api.Resource{{
		GroupVersionResource: schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"},
		Kind:                 "Widget", Verbs: []string{"get"},
	}})
	if _, err := New(reg); err == nil {
		t.Error("New accepted a kind the scheme does not know")
	}
}

// BenchmarkNew is what the server pays at startup.
func BenchmarkNew(b *testing.B) {
	reg := defaultRegistry()
	for b.Loop() {
		if _, err := New(reg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPrepare is what the first requests pay: every document in JSON
// and protobuf, and the type converter.
func BenchmarkPrepare(b *testing.B) {
	reg := defaultRegistry()
	for b.Loop() {
		s, err := New(reg)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Prepare(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestConcurrentFirstRequests is for -race: documents and the type
// converter are built lazily, by whichever requests come first.
func TestConcurrentFirstRequests(t *testing.T) {
	s := newService(t)
	pod := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}}
	paths := []string{"/openapi/v3", "/openapi/v3/api/v1", "/openapi/v3/apis/apps/v1", "/openapi/v2", "/openapi/v3"}
	done := make(chan string, len(paths)+1)
	for _, path := range paths {
		go func() {
			resp := get(t, s, path, "application/json")
			readAll(t, resp)
			done <- path + ": " + resp.Status
		}()
	}
	go func() {
		_, err := s.TypeConverter().ObjectToTyped(pod)
		done <- fmt.Sprintf("type converter: %v", err)
	}()
	for range len(paths) + 1 {
		if got := <-done; !strings.HasSuffix(got, "200 OK") && !strings.HasSuffix(got, "<nil>") {
			t.Error(got)
		}
	}
}

func TestPrepare(t *testing.T) {
	if err := newService(t).Prepare(); err != nil {
		t.Fatal(err)
	}
}
