package apiserver

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gureum/gureum/internal/api"
)

// Fuzz targets for what the API server decodes from untrusted input: request
// bodies, continue tokens, URLs and patches. Each must never panic, and a
// refusal must be a Status error of the class Kubernetes uses.

// wantClientError fails unless err is an API status error with one of the
// given codes.
func wantClientError(t *testing.T, what string, err error, codes ...int32) {
	t.Helper()
	var se *apierrors.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("%s: error %T %v is not a Status error", what, err, err)
	}
	for _, c := range codes {
		if se.Status().Code == c {
			return
		}
	}
	t.Fatalf("%s: code %d (%v), want one of %v", what, se.Status().Code, err, codes)
}

func FuzzDecodeInto(f *testing.F) {
	f.Add([]byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"i"}]}}`), "application/json", "")
	f.Add([]byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","name":"q"},"bogus":1}`), "application/json", "Strict")
	f.Add([]byte("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n"), "application/yaml", "Warn")
	f.Add([]byte("apiVersion: v1\nkind: ConfigMap\n"), "application/yaml;charset=utf-8", "Ignore")
	f.Add([]byte("k8s\x00\x0a\x04\x0a\x02v1\x12\x03Pod"), "application/vnd.kubernetes.protobuf", "")
	f.Add([]byte(`{"apiVersion":"v1","kind":"Pod"`), "application/json", "")
	f.Add([]byte(`[]`), "", "")
	f.Add([]byte(`   `), "application/json", "")
	f.Add([]byte(`{}`), "text/plain", "")
	f.Add([]byte(`{"kind":"Pod","apiVersion":"apps/v1"}`), "application/json; charset=utf-8", "")
	f.Add([]byte("- a\n- b\n"), "application/yaml", "Strict")
	want := corev1.SchemeGroupVersion.WithKind("Pod")
	f.Fuzz(func(t *testing.T, body []byte, contentType, validation string) {
		r := httptest.NewRequest(http.MethodPost, "/api/v1/namespaces/default/pods", nil)
		r.Header.Set("Content-Type", contentType)
		r.URL.RawQuery = url.Values{"fieldValidation": {validation}}.Encode()
		pod := &corev1.Pod{}
		_, err := decodeInto(r, body, want, pod)
		if err != nil {
			wantClientError(t, "decodeInto", err, http.StatusBadRequest, http.StatusUnsupportedMediaType)
		}
	})
}

func FuzzDecodeContinue(f *testing.F) {
	f.Add(encodeContinue(42, "default/a"))
	f.Add(encodeContinue(1, ""))
	f.Add("")
	f.Add("not-a-token")
	f.Add("eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6LTF9")               // rv -1: latest (after a 410)
	f.Add("eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6LTJ9")               // rv -2
	f.Add("eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MS41fQ")             // rv 1.5
	f.Add("eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MX0=")               // padded
	f.Add("eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MSwic3RhcnQiOltdfQ") // start is a list
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := decodeContinue(s)
		if err != nil {
			return
		}
		// Revisions are positive, or latestContinue for the inconsistent
		// token a 410 hands out.
		if (tok.ResourceVersion <= 0 && tok.ResourceVersion != latestContinue) || tok.APIVersion != "meta.k8s.io/v1" {
			t.Fatalf("accepted token %q with rv %d, version %q", s, tok.ResourceVersion, tok.APIVersion)
		}
		again, err := decodeContinue(encodeContinue(tok.ResourceVersion, tok.StartKey))
		if err != nil || again != tok {
			t.Fatalf("re-encoded token %+v decodes to %+v, %v", tok, again, err)
		}
	})
}

func FuzzParseRequestInfo(f *testing.F) {
	for _, seed := range []struct{ method, path, query string }{
		{"GET", "/api/v1/namespaces/default/pods/p/status", ""},
		{"GET", "/apis/apps/v1/namespaces/ns/deployments", "watch=true"},
		{"GET", "/api/v1/watch/namespaces/ns/pods/p", ""},
		{"DELETE", "/api/v1/namespaces/ns/configmaps", "labelSelector=a%3Db"},
		{"PUT", "/api/v1/namespaces/ns/finalize", ""},
		{"PATCH", "/apis/apps/v1/namespaces/ns/deployments/d/scale", ""},
		{"POST", "/apis", ""},
		{"GET", "/api/v1/namespaces", ""},
		{"GET", "/api/v1/namespaces/", ""},
		{"GET", "/apis/g", ""},
		{"GET", "/api/v1/watch", ""},
		{"GET", "//api//v1///", ""},
		{"OPTIONS", "/api/v1/pods", ""},
	} {
		f.Add(seed.method, seed.path, seed.query)
	}
	f.Fuzz(func(t *testing.T, method, path, query string) {
		u := &url.URL{Path: path, RawQuery: query}
		r := &http.Request{Method: method, URL: u, Header: http.Header{}}
		info := parseRequestInfo(r)
		if info.Path != path {
			t.Fatalf("Path %q, want %q", info.Path, path)
		}
		if info.APIPrefix != "" && info.APIPrefix != "api" && info.APIPrefix != "apis" {
			t.Fatalf("APIPrefix %q", info.APIPrefix)
		}
		if info.IsResource && info.APIPrefix == "" {
			t.Fatalf("resource request without an API prefix: %+v", info)
		}
		if info.Resource == "namespaces" && info.Namespace != "" {
			t.Fatalf("a namespace request carries namespace %q", info.Namespace)
		}
		if info.IsResource && info.Resource != "" {
			switch method {
			case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
				if info.Verb == "" {
					t.Fatalf("%s %s: no verb", method, path)
				}
			}
		}
		if again := parseRequestInfo(r); again.Verb != info.Verb || again.Name != info.Name || again.Namespace != info.Namespace {
			t.Fatalf("parsing is not deterministic: %+v then %+v", info, again)
		}
	})
}

// patchRequest builds the request applyPatch runs in, for a resource of
// the default registry.
func patchRequest(t *testing.T, gvr schema.GroupVersionResource, pt types.PatchType, validation string) *request {
	t.Helper()
	reg := api.NewRegistry(api.DefaultResources())
	res, ok := reg.Lookup(gvr)
	if !ok {
		t.Fatalf("no resource %s", gvr)
	}
	r := httptest.NewRequest(http.MethodPatch, "/x", nil)
	r.Header.Set("Content-Type", string(pt))
	r.URL.RawQuery = url.Values{"fieldValidation": {validation}}.Encode()
	return &request{w: httptest.NewRecorder(), r: r, res: res, gr: gvr.GroupResource(), info: requestInfo{Name: "obj", Verb: "patch"}}
}

var patchTypes = []types.PatchType{types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType}

func FuzzApplyPatch(f *testing.F) {
	f.Add(uint8(0), []byte(`[{"op":"replace","path":"/data/a","value":"b"}]`), "")
	f.Add(uint8(0), []byte(`[{"op":"move","from":"/data","path":"/data/x"}]`), "")
	f.Add(uint8(0), []byte(`[{"op":"add","path":"/metadata/labels/x","value":1}]`), "Strict")
	f.Add(uint8(0), []byte(`[{"op":"copy","from":"/spec","path":"/spec/template"}]`), "")
	f.Add(uint8(1), []byte(`{"data":{"a":null,"b":"c"}}`), "")
	f.Add(uint8(1), []byte(`{"spec":{"replicas":"three"}}`), "")
	f.Add(uint8(1), []byte(`null`), "")
	f.Add(uint8(2), []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"c","$patch":"delete"}]}}}}`), "")
	f.Add(uint8(2), []byte(`{"$patch":"replace","spec":{}}`), "")
	f.Add(uint8(2), []byte(`{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"z"}]}}}}`), "")
	f.Add(uint8(2), []byte(`{"metadata":{"$retainKeys":["name"]}}`), "Strict")
	f.Add(uint8(2), []byte(`[1,2]`), "")
	targets := []struct {
		gvr schema.GroupVersionResource
		obj runtime.Object
	}{
		{schemaGVR("", "v1", "configmaps"), &corev1.ConfigMap{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
			ObjectMeta: metav1.ObjectMeta{Name: "obj", Namespace: "ns", Labels: map[string]string{"a": "b"}},
			Data:       map[string]string{"a": "1"},
		}},
		{schemaGVR("apps", "v1", "deployments"), deploymentForFuzz(2)},
	}
	f.Fuzz(func(t *testing.T, kind uint8, patch []byte, validation string) {
		pt := patchTypes[int(kind)%len(patchTypes)]
		for _, target := range targets {
			q := patchRequest(t, target.gvr, pt, validation)
			out, err := q.applyPatch(pt, patch, target.obj.DeepCopyObject())
			if err != nil {
				wantClientError(t, string(pt), err, http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity)
				continue
			}
			if out == nil {
				t.Fatalf("%s: nil object without an error", pt)
			}
			if _, ok := out.(interface{ GetName() string }); !ok {
				t.Fatalf("%s: patched %T has no metadata", pt, out)
			}
		}
		// The scale subresource's own patch path.
		cur := &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: "obj", ResourceVersion: "5"}, Spec: autoscalingv1.ScaleSpec{Replicas: 2}}
		if err := patchScale(string(pt), patch, cur, &autoscalingv1.Scale{}); err != nil {
			wantClientError(t, "scale "+string(pt), err, http.StatusBadRequest, http.StatusUnprocessableEntity)
		}
	})
}

func deploymentForFuzz(replicas int32) runtime.Object {
	obj, _ := api.Scheme.New(schemaGVR("apps", "v1", "deployments").GroupVersion().WithKind("Deployment"))
	m := map[string]interface{}{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]interface{}{"name": "obj", "namespace": "ns"},
		"spec": map[string]interface{}{
			"replicas": int64(replicas),
			"selector": map[string]interface{}{"matchLabels": map[string]interface{}{"app": "x"}},
			"template": map[string]interface{}{
				"metadata": map[string]interface{}{"labels": map[string]interface{}{"app": "x"}},
				"spec": map[string]interface{}{"containers": []interface{}{
					map[string]interface{}{"name": "c", "image": "i"},
					map[string]interface{}{"name": "d", "image": "j", "ports": []interface{}{map[string]interface{}{"containerPort": int64(80)}}},
				}},
			},
		},
	}
	if err := fromMap(m, obj); err != nil {
		panic(err)
	}
	return obj
}
