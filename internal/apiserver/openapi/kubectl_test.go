package openapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gureum/gureum/internal/api"
)

// kubectlBinary finds the real kubectl the design promises on every test
// machine; without it these tests cannot say anything, so they fail.
func kubectlBinary(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/kubectl"); err == nil {
		return "/usr/bin/kubectl"
	}
	path, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatalf("kubectl not found (expected at /usr/bin/kubectl): %v", err)
	}
	return path
}

// kubectlServer serves what kubectl needs besides OpenAPI: /version (the
// dispatcher at /usr/bin/kubectl picks the kubectl matching the server) and
// legacy discovery built from the registry, which kubectl falls back to when
// the answer to /api is not aggregated discovery. handlers serve the rest,
// by path pattern.
func kubectlServer(t *testing.T, reg *api.Registry, handlers map[string]http.Handler) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	writeJSON := func(w http.ResponseWriter, v interface{}) {
		w.Header().Set("Content-Type", "application/json")
		if err := json.NewEncoder(w).Encode(v); err != nil {
			t.Errorf("encode %T: %v", v, err)
		}
	}
	mux.HandleFunc("/version", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]string{"major": "1", "minor": "33", "gitVersion": "v1.33.13",
			"goVersion": "go1.26", "compiler": "gc", "platform": "linux/amd64"})
	})
	mux.HandleFunc("/api", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, &metav1.APIVersions{TypeMeta: metav1.TypeMeta{Kind: "APIVersions"}, Versions: []string{"v1"},
			ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{{ClientCIDR: "0.0.0.0/0", ServerAddress: r.Host}}})
	})
	groups := &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
	for _, gv := range reg.GroupVersions() {
		resources := &metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: gv.String()}
		for _, res := range reg.All() {
			if res.GroupVersionResource.GroupVersion() != gv {
				continue
			}
			resources.APIResources = append(resources.APIResources, metav1.APIResource{
				Name: res.GroupVersionResource.Resource, SingularName: res.Singular, Namespaced: res.Namespaced,
				Kind: res.Kind, Verbs: res.Verbs, ShortNames: res.ShortNames, Categories: res.Categories})
			for _, sub := range res.Subresources {
				gvk := subresourceKind(res, sub)
				resources.APIResources = append(resources.APIResources, metav1.APIResource{
					Name: res.GroupVersionResource.Resource + "/" + sub.Name, Namespaced: res.Namespaced,
					Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind, Verbs: sub.Verbs})
			}
		}
		mux.HandleFunc(gvPath(gv), func(w http.ResponseWriter, r *http.Request) { writeJSON(w, resources) })
		if gv.Group != "" {
			v := metav1.GroupVersionForDiscovery{GroupVersion: gv.String(), Version: gv.Version}
			groups.Groups = append(groups.Groups, metav1.APIGroup{Name: gv.Group, Versions: []metav1.GroupVersionForDiscovery{v}, PreferredVersion: v})
		}
	}
	mux.HandleFunc("/apis", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, groups) })
	for pattern, h := range handlers {
		mux.Handle(pattern, h)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// runKubectl runs kubectl against url with a throwaway home, so neither the
// user's configuration nor an old discovery cache leaks into the test.
func runKubectl(t *testing.T, url string, args ...string) (string, error) {
	t.Helper()
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	config := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: %s
users:
- name: test
  user: {}
contexts:
- name: test
  context:
    cluster: test
    user: test
current-context: test
`, url)
	if err := os.WriteFile(kubeconfig, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, kubectlBinary(t), append(args, "--kubeconfig", kubeconfig, "--cache-dir", filepath.Join(dir, "cache"))...)
	cmd.Env = append(os.Environ(), "HOME="+dir, "KUBECONFIG="+kubeconfig)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestKubectlExplain(t *testing.T) {
	reg := defaultRegistry()
	srv := kubectlServer(t, reg, map[string]http.Handler{"/openapi/": service(t)})

	for _, tc := range []struct {
		args []string
		want []string
	}{
		// The default output reads the OpenAPI v3 document of the group-version.
		{[]string{"explain", "pods.spec.containers"}, []string{
			"KIND:       Pod", "FIELD: containers <[]Container>",
			"List of containers belonging to the pod.", "image\t<string>"}},
		{[]string{"explain", "deployments.spec.strategy", "--api-version=apps/v1"}, []string{
			"GROUP:      apps", "KIND:       Deployment", "The deployment strategy to use to replace existing pods with new ones."}},
		// The older renderer reads /openapi/v2, which kubectl fetches as protobuf.
		{[]string{"explain", "pods.spec.containers", "--output=plaintext-openapiv2"}, []string{
			"List of containers belonging to the pod."}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, err := runKubectl(t, srv.URL, tc.args...)
			if err != nil {
				t.Fatalf("kubectl %v: %v\n%s", tc.args, err, out)
			}
			for _, want := range tc.want {
				if !strings.Contains(out, want) {
					t.Errorf("kubectl %v output lacks %q:\n%s", tc.args, want, out)
				}
			}
		})
	}

	// Gureum's own kinds are explained like built-in ones.
	for _, res := range reg.All() {
		if !strings.HasSuffix(res.GroupVersionResource.Group, ".gureum.io") {
			continue
		}
		gvr := res.GroupVersionResource
		t.Run("explain "+gvr.String(), func(t *testing.T) {
			out, err := runKubectl(t, srv.URL, "explain", gvr.Resource+"."+gvr.Group)
			if err != nil {
				t.Fatalf("kubectl explain %s: %v\n%s", gvr, err, out)
			}
			if !strings.Contains(out, "KIND:       "+res.Kind) || !strings.Contains(out, "DESCRIPTION:") {
				t.Errorf("kubectl explain %s:\n%s", gvr, out)
			}
		})
	}
}

// TestKubectlApply checks what kubectl apply learns from the documents:
// that the server validates fields itself (it then sends
// fieldValidation=Strict instead of validating client-side) and how to
// patch a Deployment (a strategic merge patch, merging containers by name).
func TestKubectlApply(t *testing.T) {
	const path = "/apis/apps/v1/namespaces/default/deployments/web"
	original := map[string]interface{}{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]interface{}{"name": "web", "namespace": "default"},
		"spec": map[string]interface{}{
			"selector": map[string]interface{}{"matchLabels": map[string]interface{}{"app": "web"}},
			"template": map[string]interface{}{
				"metadata": map[string]interface{}{"labels": map[string]interface{}{"app": "web"}},
				"spec": map[string]interface{}{"containers": []interface{}{
					map[string]interface{}{"name": "web", "image": "nginx:1"},
					map[string]interface{}{"name": "sidecar", "image": "envoy:1"},
				}},
			},
		},
	}
	lastApplied, _ := json.Marshal(original)
	current, _ := json.Marshal(map[string]interface{}{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]interface{}{"name": "web", "namespace": "default", "resourceVersion": "7",
			"annotations": map[string]interface{}{"kubectl.kubernetes.io/last-applied-configuration": string(lastApplied)}},
		"spec": original["spec"],
	})

	type patchRequest struct {
		contentType, query, body string
	}
	patches := make(chan patchRequest, 1)
	objects := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
		case http.MethodPatch:
			body, _ := io.ReadAll(r.Body)
			select {
			case patches <- patchRequest{r.Header.Get("Content-Type"), r.URL.RawQuery, string(body)}:
			default:
			}
		default:
			http.Error(w, "unexpected "+r.Method, http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(current)
	})
	srv := kubectlServer(t, defaultRegistry(), map[string]http.Handler{"/openapi/": service(t), path: objects})

	// The new manifest changes one container's image.
	containers := original["spec"].(map[string]interface{})["template"].(map[string]interface{})["spec"].(map[string]interface{})
	containers["containers"].([]interface{})[0].(map[string]interface{})["image"] = "nginx:2"
	manifest, _ := json.Marshal(original)
	file := filepath.Join(t.TempDir(), "web.json")
	if err := os.WriteFile(file, manifest, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runKubectl(t, srv.URL, "apply", "-f", file)
	if err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, out)
	}
	var got patchRequest
	select {
	case got = <-patches:
	default:
		t.Fatalf("kubectl sent no PATCH:\n%s", out)
	}
	if got.contentType != "application/strategic-merge-patch+json" {
		t.Errorf("PATCH Content-Type = %q, want a strategic merge patch", got.contentType)
	}
	if !strings.Contains(got.query, "fieldValidation=Strict") {
		t.Errorf("PATCH query %q: kubectl did not detect server-side field validation", got.query)
	}
	if !strings.Contains(got.body, "$setElementOrder/containers") {
		t.Errorf("patch does not merge containers by name: %s", got.body)
	}
}
