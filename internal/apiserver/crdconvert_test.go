package apiserver

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gureum/gureum/internal/pki"
)

func TestConversionReviewVersion(t *testing.T) {
	tests := []struct {
		in      []string
		want    string
		wantErr bool
	}{
		{[]string{"v1"}, "v1", false},
		{[]string{"v1beta1", "v1"}, "v1beta1", false},
		{[]string{"v2", "v1"}, "v1", false},
		{[]string{"v2"}, "", true},
		{nil, "", true},
	}
	for _, tt := range tests {
		got, err := conversionReviewVersion(tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("conversionReviewVersion(%v) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestConversionResponseIsChecked(t *testing.T) {
	const uid = types.UID("u-1")
	obj := `{"apiVersion":"conv.example.com/v2","kind":"Backend","metadata":{"name":"a"}}`
	review := func(apiVersion, uid, result string) string {
		return `{"apiVersion":"` + apiVersion + `","kind":"ConversionReview","response":{"uid":"` + uid +
			`","convertedObjects":[` + obj + `],"result":` + result + `}}`
	}
	ok := `{"status":"Success"}`
	tests := []struct {
		name    string
		version string
		body    string
		wantErr string // "" for success
	}{
		{"v1 success", "v1", review("apiextensions.k8s.io/v1", "u-1", ok), ""},
		{"v1beta1 success", "v1beta1", review("apiextensions.k8s.io/v1beta1", "u-1", ok), ""},
		{"v1beta1 without uid", "v1beta1", review("apiextensions.k8s.io/v1beta1", "", ok), ""},
		{"v1beta1 with another uid", "v1beta1", review("apiextensions.k8s.io/v1beta1", "u-2", ok), `expected response.uid="u-1", got "u-2"`},
		{"v1 without uid", "v1", review("apiextensions.k8s.io/v1", "", ok), `expected response.uid="u-1", got ""`},
		{"v1 answered as v1beta1", "v1", review("apiextensions.k8s.io/v1beta1", "u-1", ok), "expected webhook response of apiextensions.k8s.io/v1"},
		{"failure with message", "v1", review("apiextensions.k8s.io/v1", "u-1", `{"status":"Failure","message":"cannot convert a"}`), "cannot convert a"},
		{"failure without message", "v1", review("apiextensions.k8s.io/v1", "u-1", `{"status":"Failure"}`), "response.result.status was 'Failure', not 'Success'"},
		{"no status", "v1", review("apiextensions.k8s.io/v1", "u-1", `{}`), "not 'Success'"},
		{"no response", "v1", `{"apiVersion":"apiextensions.k8s.io/v1","kind":"ConversionReview"}`, "no response provided"},
		{"not JSON", "v1", `<html>`, "decode ConversionReview"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := conversionResponse(tt.version, uid, []byte(tt.body))
			if tt.wantErr == "" {
				if err != nil || len(objs) != 1 {
					t.Fatalf("conversionResponse = %d objects, %v", len(objs), err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestConversionRequestShape(t *testing.T) {
	body, err := conversionRequest("v1beta1", "u-9", "conv.example.com/v2", []runtime.RawExtension{{Raw: []byte(`{"kind":"Backend"}`)}})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"kind":"ConversionReview","apiVersion":"apiextensions.k8s.io/v1beta1","request":{"uid":"u-9","desiredAPIVersion":"conv.example.com/v2","objects":[{"kind":"Backend"}]}}`
	if string(body) != want {
		t.Errorf("request =\n%s\nwant\n%s", body, want)
	}
}

func TestConvertedObjectsAreHeldToKubernetesRules(t *testing.T) {
	original := &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "conv.example.com/v1", "kind": "Backend",
		"metadata": map[string]interface{}{"name": "a", "namespace": "ns", "uid": "1", "generation": int64(3),
			"labels": map[string]interface{}{"old": "x"}},
		"spec": map[string]interface{}{"hostPort": "h:1"},
	}}
	converted := func(change func(m map[string]interface{})) runtime.RawExtension {
		m := map[string]interface{}{
			"apiVersion": "conv.example.com/v2", "kind": "Backend",
			"metadata": map[string]interface{}{"name": "a", "namespace": "ns", "uid": "1", "generation": int64(3),
				"labels": map[string]interface{}{"old": "x"}},
			"spec": map[string]interface{}{"host": "h", "port": int64(1)},
		}
		change(m)
		b, _ := json.Marshal(m)
		return runtime.RawExtension{Raw: b}
	}
	md := func(m map[string]interface{}) map[string]interface{} { return m["metadata"].(map[string]interface{}) }
	tests := []struct {
		name    string
		change  func(m map[string]interface{})
		wantErr string
		check   func(t *testing.T, u *unstructured.Unstructured)
	}{
		{name: "as sent", change: func(map[string]interface{}) {}},
		{name: "wrong apiVersion", change: func(m map[string]interface{}) { m["apiVersion"] = "conv.example.com/v1" },
			wantErr: "invalid groupVersion (expected conv.example.com/v2, received conv.example.com/v1)"},
		{name: "wrong kind", change: func(m map[string]interface{}) { m["kind"] = "Other" }, wantErr: "invalid kind"},
		{name: "renamed", change: func(m map[string]interface{}) { md(m)["name"] = "b" }, wantErr: "must have the same name"},
		{name: "moved", change: func(m map[string]interface{}) { md(m)["namespace"] = "other" }, wantErr: "must have the same namespace"},
		{name: "new uid", change: func(m map[string]interface{}) { md(m)["uid"] = "2" }, wantErr: "must have the same UID"},
		{name: "no metadata", change: func(m map[string]interface{}) {
			delete(m, "metadata")
		}, wantErr: "must have the same name"},
		{name: "labels and annotations may change", change: func(m map[string]interface{}) {
			md(m)["labels"] = map[string]interface{}{"new": "y"}
			md(m)["annotations"] = map[string]interface{}{"note": "z"}
		}, check: func(t *testing.T, u *unstructured.Unstructured) {
			if u.GetLabels()["new"] != "y" || u.GetLabels()["old"] != "" || u.GetAnnotations()["note"] != "z" {
				t.Errorf("labels %v annotations %v", u.GetLabels(), u.GetAnnotations())
			}
		}},
		{name: "labels dropped", change: func(m map[string]interface{}) { delete(md(m), "labels") },
			check: func(t *testing.T, u *unstructured.Unstructured) {
				if len(u.GetLabels()) != 0 {
					t.Errorf("labels %v", u.GetLabels())
				}
			}},
		{name: "other metadata is restored", change: func(m map[string]interface{}) {
			md(m)["generation"] = int64(9)
			md(m)["finalizers"] = []interface{}{"x/y"}
		}, check: func(t *testing.T, u *unstructured.Unstructured) {
			if u.GetGeneration() != 3 || len(u.GetFinalizers()) != 0 {
				t.Errorf("generation %d finalizers %v", u.GetGeneration(), u.GetFinalizers())
			}
		}},
		{name: "invalid label", change: func(m map[string]interface{}) { md(m)["labels"] = map[string]interface{}{"bad key!": "v"} },
			wantErr: "metadata.labels"},
		{name: "label not a string", change: func(m map[string]interface{}) { md(m)["labels"] = map[string]interface{}{"k": int64(1)} },
			wantErr: "must be a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := checkConverted(original, converted(tt.change), "conv.example.com/v2")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if h, _, _ := unstructured.NestedString(u.Object, "spec", "host"); h != "h" {
				t.Errorf("spec lost: %v", u.Object)
			}
			if tt.check != nil {
				tt.check(t, u)
			}
		})
	}
}

func TestServiceClusterIP(t *testing.T) {
	svc := func(ip string) *corev1.Service { return &corev1.Service{Spec: corev1.ServiceSpec{ClusterIP: ip}} }
	tests := []struct {
		name    string
		svc     *corev1.Service
		want    string
		wantErr string
	}{
		{"cluster IP", svc("10.43.0.7"), "10.43.0.7", ""},
		{"missing", nil, "", "does not exist"},
		{"headless", svc("None"), "", "has no cluster IP"},
		{"unallocated", svc(""), "", "has no cluster IP"},
	}
	for _, tt := range tests {
		got, err := serviceClusterIP("ns", "conv", tt.svc)
		if got != tt.want || (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s: serviceClusterIP = %q, %v; want %q, %q", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestRelistBackoff(t *testing.T) {
	for _, tt := range []struct {
		failures int
		want     time.Duration
	}{{0, 100 * time.Millisecond}, {1, 200 * time.Millisecond}, {3, 800 * time.Millisecond}, {7, 10 * time.Second}, {100, 10 * time.Second}} {
		if got := relistBackoff(tt.failures); got != tt.want {
			t.Errorf("relistBackoff(%d) = %v, want %v", tt.failures, got, tt.want)
		}
	}
}

// hostPortWebhook converts Backends between v1 (spec.hostPort "h:p") and
// v2 (spec.host, spec.port), recording the reviews it gets.
type hostPortWebhook struct {
	mu      sync.Mutex
	reviews [][]string // names of the objects of each review
	mode    string     // "", "down", "fail", "short", "rename", "hang"
}

func (h *hostPortWebhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	mode := h.mode
	h.mu.Unlock()
	switch mode {
	case "down":
		http.Error(w, "webhook is down", http.StatusServiceUnavailable)
		return
	case "hang":
		select {
		case <-r.Context().Done():
		case <-time.After(time.Second):
		}
		return
	}
	body, _ := io.ReadAll(r.Body)
	var review conversionReview
	if err := json.Unmarshal(body, &review); err != nil || review.Request == nil {
		http.Error(w, "bad review", http.StatusBadRequest)
		return
	}
	req := review.Request
	resp := &apiextensionsv1.ConversionResponse{UID: req.UID, Result: metav1.Status{Status: metav1.StatusSuccess}}
	var names []string
	for _, raw := range req.Objects {
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(raw.Raw); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		names = append(names, u.GetName())
		spec, _, _ := unstructured.NestedMap(u.Object, "spec")
		if spec == nil {
			spec = map[string]interface{}{}
		}
		switch req.DesiredAPIVersion {
		case "conv.example.com/v2":
			host, port, _ := net.SplitHostPort(spec["hostPort"].(string))
			p, _ := strconv.ParseInt(port, 10, 64)
			delete(spec, "hostPort")
			spec["host"], spec["port"] = host, p
			spec["extra"] = "pruned by the server"
		case "conv.example.com/v1":
			spec["hostPort"] = net.JoinHostPort(spec["host"].(string), strconv.FormatInt(spec["port"].(int64), 10))
			delete(spec, "host")
			delete(spec, "port")
		}
		_ = unstructured.SetNestedMap(u.Object, spec, "spec")
		u.SetAPIVersion(req.DesiredAPIVersion)
		u.SetGeneration(u.GetGeneration() + 100) // not the webhook's to change
		if mode == "rename" {
			u.SetName(u.GetName() + "-renamed")
		}
		data, _ := u.MarshalJSON()
		resp.ConvertedObjects = append(resp.ConvertedObjects, runtime.RawExtension{Raw: data})
	}
	h.mu.Lock()
	h.reviews = append(h.reviews, names)
	h.mu.Unlock()
	switch mode {
	case "fail":
		resp.Result = metav1.Status{Status: metav1.StatusFailure, Message: "cannot convert today"}
	case "short":
		resp.ConvertedObjects = resp.ConvertedObjects[:len(resp.ConvertedObjects)-1]
	}
	review.Request, review.Response = nil, resp
	_ = json.NewEncoder(w).Encode(review)
}

func (h *hostPortWebhook) setMode(m string) {
	h.mu.Lock()
	h.mode = m
	h.mu.Unlock()
}

func (h *hostPortWebhook) takeReviews() [][]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.reviews
	h.reviews = nil
	return r
}

const backendSchemas = `{"v1": {"type":"object","properties":{"spec":{"type":"object","properties":{"hostPort":{"type":"string"}}}}},
 "v2": {"type":"object","properties":{"spec":{"type":"object","properties":{"host":{"type":"string"},"port":{"type":"integer","default":80}}}}}}`

// testConverter builds the converter of a Backend CRD with v1 and v2
// calling the webhook at cc, with resolver for Services.
func testConverter(t *testing.T, cc apiextensionsv1.WebhookClientConfig, resolver serviceResolverFunc) *webhookConverter {
	t.Helper()
	var schemas map[string]apiextensionsv1.JSONSchemaProps
	if err := json.Unmarshal([]byte(backendSchemas), &schemas); err != nil {
		t.Fatal(err)
	}
	crd := &apiextensionsv1.CustomResourceDefinition{Spec: apiextensionsv1.CustomResourceDefinitionSpec{Group: "conv.example.com"}}
	for _, v := range []string{"v1", "v2"} {
		s := schemas[v]
		crd.Spec.Versions = append(crd.Spec.Versions, apiextensionsv1.CustomResourceDefinitionVersion{
			Name: v, Served: true, Storage: v == "v1", Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &s}})
	}
	in := &apiextensions.CustomResourceDefinition{}
	if err := apiextensionsv1.Convert_v1_CustomResourceDefinition_To_apiextensions_CustomResourceDefinition(crd, in, nil); err != nil {
		t.Fatal(err)
	}
	c := &webhookConverter{group: "conv.example.com", reviewVersion: "v1", timeout: conversionTimeout, schemas: map[string]*crSchema{}}
	for _, v := range []string{"v1", "v2"} {
		sch, err := structuralFor(in, v)
		if err != nil {
			t.Fatal(err)
		}
		c.schemas[v] = sch
	}
	var err error
	if c.client, err = newConversionClient(cc, resolver); err != nil {
		t.Fatal(err)
	}
	return c
}

type serviceResolverFunc func(namespace, name string, port int32) (*url.URL, error)

func (f serviceResolverFunc) ResolveEndpoint(namespace, name string, port int32) (*url.URL, error) {
	return f(namespace, name, port)
}

func backend(version, name string, spec map[string]interface{}) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "conv.example.com/" + version, "kind": "Backend",
		"metadata": map[string]interface{}{"name": name, "namespace": "ns", "uid": name + "-uid", "generation": int64(1)},
		"spec":     spec,
	}}
}

func TestWebhookConverterConvertsInOneReview(t *testing.T) {
	hook := &hostPortWebhook{}
	srv := httptest.NewTLSServer(hook)
	defer srv.Close()
	u := srv.URL + "/convert"
	c := testConverter(t, apiextensionsv1.WebhookClientConfig{URL: &u, CABundle: caBundleOf(srv)}, nil)
	in := []*unstructured.Unstructured{
		backend("v1", "a", map[string]interface{}{"hostPort": "db:5432"}),
		backend("v2", "b", map[string]interface{}{"host": "cache", "port": int64(6379)}),
		backend("v1", "c", map[string]interface{}{"hostPort": "web:80"}),
	}
	before := in[0].DeepCopy()
	out, err := c.Convert(context.Background(), in, "v2")
	if err != nil {
		t.Fatal(err)
	}
	if got := hook.takeReviews(); len(got) != 1 || strings.Join(got[0], ",") != "a,c" {
		t.Fatalf("reviews = %v, want one with a and c (b is in v2 already)", got)
	}
	if out[1] != in[1] {
		t.Errorf("an object already in v2 was not returned as is")
	}
	for i, want := range []string{"db", "cache", "web"} {
		if h, _, _ := unstructured.NestedString(out[i].Object, "spec", "host"); h != want || out[i].GetAPIVersion() != "conv.example.com/v2" {
			t.Errorf("out[%d] = %v", i, out[i].Object)
		}
	}
	if _, found, _ := unstructured.NestedFieldNoCopy(out[0].Object, "spec", "extra"); found {
		t.Errorf("a field v2 does not declare was kept: %v", out[0].Object)
	}
	if out[0].GetGeneration() != 1 {
		t.Errorf("generation = %d: metadata other than labels and annotations must not change", out[0].GetGeneration())
	}
	if !apiequality.Semantic.DeepEqual(in[0], before) {
		t.Errorf("the input was changed: %v", in[0].Object)
	}
	// Back to v1; an empty list or one already converted calls nobody.
	back, err := c.Convert(context.Background(), out, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if hp, _, _ := unstructured.NestedString(back[1].Object, "spec", "hostPort"); hp != "cache:6379" {
		t.Errorf("b in v1 = %v", back[1].Object)
	}
	if _, err := c.Convert(context.Background(), back, "v1"); err != nil {
		t.Fatal(err)
	}
	if got := hook.takeReviews(); len(got) != 1 {
		t.Errorf("reviews = %v, want only the one to v1", got)
	}
}

func TestWebhookConverterFailures(t *testing.T) {
	hook := &hostPortWebhook{}
	srv := httptest.NewTLSServer(hook)
	defer srv.Close()
	u := srv.URL + "/convert"
	c := testConverter(t, apiextensionsv1.WebhookClientConfig{URL: &u, CABundle: caBundleOf(srv)}, nil)
	c.timeout = 300 * time.Millisecond
	in := []*unstructured.Unstructured{backend("v1", "a", map[string]interface{}{"hostPort": "db:5432"})}
	tests := []struct{ mode, want string }{
		{"down", "the server is currently unable to handle the request"},
		{"fail", "cannot convert today"},
		{"short", "returned 0 objects, expected 1"},
		{"rename", "invalid converted object at index 0: must have the same name"},
		{"hang", "context deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			hook.setMode(tt.mode)
			_, err := c.Convert(context.Background(), in, "v2")
			if !apierrors.IsInternalError(err) {
				t.Fatalf("error = %v, want an InternalError", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, "conversion webhook for conv.example.com/v1, Kind=Backend failed: ") || !strings.Contains(msg, tt.want) {
				t.Fatalf("error = %q, want the webhook named and %q", msg, tt.want)
			}
		})
	}
	// A CA that did not sign the webhook's certificate.
	hook.setMode("")
	ca, err := pki.LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	bad := testConverter(t, apiextensionsv1.WebhookClientConfig{URL: &u, CABundle: ca.CertPEM}, nil)
	if _, err := bad.Convert(context.Background(), in, "v2"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a webhook with an untrusted certificate: %v", err)
	}
}

// TestWebhookConverterCallsAService reaches a webhook Service at the
// address the resolver gives, verifying its certificate as
// <name>.<namespace>.svc, on port 443 unless the CRD names another.
func TestWebhookConverterCallsAService(t *testing.T) {
	ca, err := pki.LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.Issue("conv", nil, []string{"conv.hooks.svc"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	hook := &hostPortWebhook{}
	paths := make(chan string, 4)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths <- r.URL.Path
		hook.ServeHTTP(w, r)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	ports := make(chan int32, 4)
	resolver := serviceResolverFunc(func(ns, name string, port int32) (*url.URL, error) {
		if ns != "hooks" || name != "conv" {
			t.Errorf("resolved %s/%s", ns, name)
		}
		ports <- port
		return &url.URL{Scheme: "https", Host: addr}, nil
	})
	path := "/convert"
	in := []*unstructured.Unstructured{backend("v1", "a", map[string]interface{}{"hostPort": "db:5432"})}
	for _, port := range []*int32{nil, ptrTo(int32(8443))} {
		c := testConverter(t, apiextensionsv1.WebhookClientConfig{
			Service:  &apiextensionsv1.ServiceReference{Namespace: "hooks", Name: "conv", Path: &path, Port: port},
			CABundle: ca.CertPEM}, resolver)
		out, err := c.Convert(context.Background(), in, "v2")
		if err != nil {
			t.Fatal(err)
		}
		if h, _, _ := unstructured.NestedString(out[0].Object, "spec", "host"); h != "db" {
			t.Fatalf("converted = %v", out[0].Object)
		}
		want := int32(443)
		if port != nil {
			want = *port
		}
		if got := <-ports; got != want {
			t.Errorf("service port = %d, want %d", got, want)
		}
		if got := <-paths; got != "/convert" {
			t.Errorf("path = %q", got)
		}
	}
}

func ptrTo[T any](v T) *T { return &v }

func caBundleOf(srv *httptest.Server) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
}
