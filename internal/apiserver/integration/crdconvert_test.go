package integration

// CRD conversion webhooks end to end: a webhook served by the test over
// TLS converts Backends between v1 (spec.hostPort "host:port", the storage
// version) and v2 (spec.host and spec.port); client-go's dynamic client,
// the real kubectl and etcd itself check what is served and stored.

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"

	"github.com/gureum/gureum/internal/testenv"
)

var (
	backendsV1 = schema.GroupVersionResource{Group: "conv.example.com", Version: "v1", Resource: "backends"}
	backendsV2 = schema.GroupVersionResource{Group: "conv.example.com", Version: "v2", Resource: "backends"}
)

// convWebhook converts Backends between v1 and v2 and records the names
// in each review; down makes it answer 503.
type convWebhook struct {
	mu      sync.Mutex
	down    bool
	reviews []convCall
}

type convCall struct {
	desired string
	names   []string
}

func (h *convWebhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	down := h.down
	h.mu.Unlock()
	if down {
		http.Error(w, "webhook is down", http.StatusServiceUnavailable)
		return
	}
	body, _ := io.ReadAll(r.Body)
	review := &apiextensionsv1.ConversionReview{}
	if err := json.Unmarshal(body, review); err != nil || review.Request == nil {
		http.Error(w, "bad review", http.StatusBadRequest)
		return
	}
	req := review.Request
	resp := &apiextensionsv1.ConversionResponse{UID: req.UID, Result: metav1.Status{Status: metav1.StatusSuccess}}
	call := convCall{desired: req.DesiredAPIVersion}
	for _, raw := range req.Objects {
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(raw.Raw); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		call.names = append(call.names, u.GetName())
		spec, _, _ := unstructured.NestedMap(u.Object, "spec")
		if spec == nil {
			spec = map[string]interface{}{}
		}
		switch req.DesiredAPIVersion {
		case "conv.example.com/v2":
			hp, _ := spec["hostPort"].(string)
			host, port, _ := net.SplitHostPort(hp)
			p, _ := strconv.ParseInt(port, 10, 64)
			delete(spec, "hostPort")
			spec["host"], spec["port"] = host, p
		case "conv.example.com/v1":
			host, _ := spec["host"].(string)
			port, _ := spec["port"].(int64)
			spec["hostPort"] = net.JoinHostPort(host, strconv.FormatInt(port, 10))
			delete(spec, "host")
			delete(spec, "port")
		}
		_ = unstructured.SetNestedMap(u.Object, spec, "spec")
		u.SetAPIVersion(req.DesiredAPIVersion)
		data, _ := u.MarshalJSON()
		resp.ConvertedObjects = append(resp.ConvertedObjects, runtime.RawExtension{Raw: data})
	}
	h.mu.Lock()
	h.reviews = append(h.reviews, call)
	h.mu.Unlock()
	review.Request, review.Response = nil, resp
	_ = json.NewEncoder(w).Encode(review)
}

func (h *convWebhook) setDown(down bool) {
	h.mu.Lock()
	h.down = down
	h.mu.Unlock()
}

// calls returns and forgets the reviews so far.
func (h *convWebhook) calls() []convCall {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.reviews
	h.reviews = nil
	return c
}

func backendCRD(url string, caBundle []byte) *apiextensionsv1.CustomResourceDefinition {
	str := apiextensionsv1.JSONSchemaProps{Type: "string"}
	obj := func(props map[string]apiextensionsv1.JSONSchemaProps) *apiextensionsv1.CustomResourceValidation {
		return &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
			Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{"spec": {Type: "object", Properties: props}}}}
	}
	return &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "backends.conv.example.com"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "conv.example.com",
			Scope: apiextensionsv1.NamespaceScoped,
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "backends", Singular: "backend", Kind: "Backend", ListKind: "BackendList"},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{
				{Name: "v1", Served: true, Storage: true, Schema: obj(map[string]apiextensionsv1.JSONSchemaProps{"hostPort": str})},
				{Name: "v2", Served: true, Storage: false,
					Schema: obj(map[string]apiextensionsv1.JSONSchemaProps{"host": str, "port": {Type: "integer"}}),
					AdditionalPrinterColumns: []apiextensionsv1.CustomResourceColumnDefinition{
						{Name: "Host", Type: "string", JSONPath: ".spec.host"}, {Name: "Port", Type: "integer", JSONPath: ".spec.port"}}},
			},
			Conversion: &apiextensionsv1.CustomResourceConversion{
				Strategy: apiextensionsv1.WebhookConverter,
				Webhook: &apiextensionsv1.WebhookConversion{
					ConversionReviewVersions: []string{"v1", "v1beta1"},
					ClientConfig:             &apiextensionsv1.WebhookClientConfig{URL: &url, CABundle: caBundle},
				},
			},
		},
	}
}

func backendObj(version, name string, spec map[string]interface{}) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "conv.example.com/" + version, "kind": "Backend",
		"metadata": map[string]interface{}{"name": name}, "spec": spec,
	}}
}

// hostPort is an object's spec as "apiVersion host port" or
// "apiVersion hostPort", whichever its version has.
func hostPort(u *unstructured.Unstructured) string {
	if hp, ok, _ := unstructured.NestedString(u.Object, "spec", "hostPort"); ok {
		if _, found, _ := unstructured.NestedFieldNoCopy(u.Object, "spec", "host"); found {
			return u.GetAPIVersion() + " both hostPort and host"
		}
		return u.GetAPIVersion() + " " + hp
	}
	host, _, _ := unstructured.NestedString(u.Object, "spec", "host")
	port, _, _ := unstructured.NestedInt64(u.Object, "spec", "port")
	return u.GetAPIVersion() + " " + host + " " + strconv.FormatInt(port, 10)
}

func TestCRDConversionWebhook(t *testing.T) {
	s := testenv.Start(t)
	ctx := wireCtx(t)
	hook := &convWebhook{}
	srv := httptest.NewTLSServer(hook)
	defer srv.Close()
	caBundle := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	ext := apiextensionsclient.NewForConfigOrDie(s.Config)
	if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, backendCRD(srv.URL+"/convert", caBundle), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create CRD: %v", err)
	}
	waitEstablished(t, s, "backends.conv.example.com")
	ns := mkNamespace(t, s, "conv")
	dyn := dynamic.NewForConfigOrDie(s.Config)
	v1, v2 := dyn.Resource(backendsV1).Namespace(ns), dyn.Resource(backendsV2).Namespace(ns)
	etcd, err := clientv3.New(clientv3.Config{Endpoints: []string{"http://127.0.0.1:" + strconv.Itoa(s.EtcdClientPort)}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer etcd.Close()
	// stored is an object as etcd holds it, and its revision.
	stored := func(name string) (*unstructured.Unstructured, int64) {
		t.Helper()
		resp, err := etcd.Get(ctx, "/registry/conv.example.com/backends/"+ns+"/"+name)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Kvs) == 0 {
			return nil, 0
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(resp.Kvs[0].Value); err != nil {
			t.Fatal(err)
		}
		return u, resp.Kvs[0].ModRevision
	}
	want := func(what string, u *unstructured.Unstructured, spec string) {
		t.Helper()
		if got := hostPort(u); got != spec {
			t.Errorf("%s: %s, want %s", what, got, spec)
		}
	}

	// Created in the storage version, read in v2.
	if _, err := v1.Create(ctx, backendObj("v1", "db", map[string]interface{}{"hostPort": "db:5432"}), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create in v1: %v", err)
	}
	got, err := v2.Get(ctx, "db", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get in v2: %v", err)
	}
	want("db through v2", got, "conv.example.com/v2 db 5432")

	// Created in v2: validated in v2, stored in v1, answered in v2.
	created, err := v2.Create(ctx, backendObj("v2", "cache", map[string]interface{}{"host": "cache", "port": int64(6379)}), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create in v2: %v", err)
	}
	want("create response", created, "conv.example.com/v2 cache 6379")
	raw, _ := stored("cache")
	want("cache in etcd", raw, "conv.example.com/v1 cache:6379")
	if got, err := v1.Get(ctx, "cache", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	} else {
		want("cache through v1", got, "conv.example.com/v1 cache:6379")
	}

	// Lists: from the v2 watch cache, and from etcd (exact resourceVersion)
	// with every object in one review.
	list, err := v2.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list in v2: %v", err)
	}
	if list.GetAPIVersion() != "conv.example.com/v2" || len(list.Items) != 2 {
		t.Fatalf("list in v2: %s with %d items", list.GetAPIVersion(), len(list.Items))
	}
	want("list item cache", &list.Items[0], "conv.example.com/v2 cache 6379")
	want("list item db", &list.Items[1], "conv.example.com/v2 db 5432")
	hook.calls()
	exact, err := v2.List(ctx, metav1.ListOptions{ResourceVersion: list.GetResourceVersion(), ResourceVersionMatch: metav1.ResourceVersionMatchExact})
	if err != nil || len(exact.Items) != 2 {
		t.Fatalf("exact list in v2: %v", err)
	}
	want("exact list item db", &exact.Items[1], "conv.example.com/v2 db 5432")
	if !hasCall(hook.calls(), "conv.example.com/v2", "cache", "db") {
		t.Errorf("the list from etcd was not converted in one review")
	}
	// A continued list converts its own page only.
	page, err := v2.List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil || len(page.Items) != 1 || page.GetContinue() == "" {
		t.Fatalf("first page in v2: %v", err)
	}
	hook.calls()
	rest, err := v2.List(ctx, metav1.ListOptions{Limit: 1, Continue: page.GetContinue()})
	if err != nil || len(rest.Items) != 1 {
		t.Fatalf("second page in v2: %v", err)
	}
	want("second page", &rest.Items[0], "conv.example.com/v2 db 5432")
	if calls := hook.calls(); len(calls) != 1 || !slices.Equal(calls[0].names, []string{"db"}) {
		t.Errorf("reviews for the second page: %+v, want one with db", calls)
	}

	// Watch in v2 sees objects written in v1, converted.
	w, err := v2.Watch(ctx, metav1.ListOptions{ResourceVersion: list.GetResourceVersion()})
	if err != nil {
		t.Fatalf("watch in v2: %v", err)
	}
	defer w.Stop()
	if _, err := v1.Create(ctx, backendObj("v1", "web", map[string]interface{}{"hostPort": "web:80"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ev := nextEvent(t, w)
	if ev.Type != watch.Added {
		t.Fatalf("watch event %s", ev.Type)
	}
	want("watched web", ev.Object.(*unstructured.Unstructured), "conv.example.com/v2 web 80")
	if _, err := v1.Patch(ctx, "web", types.MergePatchType, []byte(`{"spec":{"hostPort":"web:8080"}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	ev = nextEvent(t, w)
	want("watched web after patch", ev.Object.(*unstructured.Unstructured), "conv.example.com/v2 web 8080")

	// Patch, update and apply through v2 read the current object in v2
	// and store v1.
	patched, err := v2.Patch(ctx, "cache", types.MergePatchType, []byte(`{"spec":{"port":6380}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatalf("patch in v2: %v", err)
	}
	want("patch response", patched, "conv.example.com/v2 cache 6380")
	raw, _ = stored("cache")
	want("cache in etcd after patch", raw, "conv.example.com/v1 cache:6380")
	db, err := v2.Get(ctx, "db", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_ = unstructured.SetNestedField(db.Object, "db2", "spec", "host")
	updated, err := v2.Update(ctx, db, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update in v2: %v", err)
	}
	want("update response", updated, "conv.example.com/v2 db2 5432")
	raw, _ = stored("db")
	want("db in etcd after update", raw, "conv.example.com/v1 db2:5432")
	applied, err := v2.Apply(ctx, "queue", backendObj("v2", "queue", map[string]interface{}{"host": "mq", "port": int64(5672)}),
		metav1.ApplyOptions{FieldManager: "conv-test"})
	if err != nil {
		t.Fatalf("apply in v2: %v", err)
	}
	want("apply response", applied, "conv.example.com/v2 mq 5672")
	raw, _ = stored("queue")
	want("queue in etcd", raw, "conv.example.com/v1 mq:5672")

	// kubectl reads v2 with its printer columns.
	out := kubectl(t, s, "get", "backends.v2.conv.example.com", "-n", ns)
	tab := parseTable(t, out)
	tab.wantHeader(t, "NAME", "HOST", "PORT") // the CRD's columns replace Age
	wantCells(t, tab.row(t, "cache"), map[string]string{"HOST": "cache", "PORT": "6380"})
	wantCells(t, tab.row(t, "queue"), map[string]string{"HOST": "mq", "PORT": "5672"})
	if out := kubectl(t, s, "get", "backends.v2.conv.example.com", "db", "-n", ns, "-o", "jsonpath={.apiVersion} {.spec.host}:{.spec.port}"); out != "conv.example.com/v2 db2:5432" {
		t.Errorf("kubectl get db in v2 = %q", out)
	}

	t.Run("WebhookDown", func(t *testing.T) {
		hook.setDown(true)
		defer hook.setDown(false)
		wantConversionError := func(what string, err error) {
			t.Helper()
			if !apierrors.IsInternalError(err) || !strings.Contains(err.Error(), "conversion webhook for conv.example.com/") {
				t.Errorf("%s with the webhook down: %v, want a 500 naming the conversion webhook", what, err)
			}
		}
		_, err := v2.Create(ctx, backendObj("v2", "lost", map[string]interface{}{"host": "x", "port": int64(1)}), metav1.CreateOptions{})
		wantConversionError("create in v2", err)
		if raw, _ := stored("lost"); raw != nil {
			t.Errorf("a create that failed conversion was stored: %v", raw.Object)
		}
		_, before := stored("cache")
		_, err = v2.Patch(ctx, "cache", types.MergePatchType, []byte(`{"spec":{"port":1}}`), metav1.PatchOptions{})
		wantConversionError("patch in v2", err)
		if _, after := stored("cache"); after != before {
			t.Errorf("a patch that failed conversion was stored (revision %d -> %d)", before, after)
		}
		_, err = v2.Get(ctx, "db", metav1.GetOptions{})
		wantConversionError("get in v2", err)
		// The storage version needs no webhook.
		if _, err := v1.Create(ctx, backendObj("v1", "late", map[string]interface{}{"hostPort": "late:1"}), metav1.CreateOptions{}); err != nil {
			t.Fatalf("create in v1 with the webhook down: %v", err)
		}
		if _, err := v1.Get(ctx, "late", metav1.GetOptions{}); err != nil {
			t.Fatalf("get in v1 with the webhook down: %v", err)
		}
		// v2's cache cannot convert late: its lists fail rather than
		// leave late out.
		var lerr error
		werr := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
			_, lerr = v2.List(ctx, metav1.ListOptions{})
			return lerr != nil, nil
		})
		if werr != nil {
			t.Fatalf("list in v2 kept working with an unconvertible object")
		}
		wantConversionError("list in v2", lerr)
		if out := kubectlFails(t, s, "get", "backends.v2.conv.example.com", "-n", ns); !strings.Contains(out, "conversion webhook for") {
			t.Errorf("kubectl get in v2 with the webhook down:\n%s", out)
		}

		// Back up: the cache catches up by itself.
		hook.setDown(false)
		var items []unstructured.Unstructured
		werr = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
			l, err := v2.List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, nil
			}
			items = l.Items
			return true, nil
		})
		if werr != nil {
			t.Fatalf("list in v2 never recovered after the webhook came back: %v", werr)
		}
		names := []string{}
		for i := range items {
			names = append(names, items[i].GetName())
			if items[i].GetName() == "late" {
				want("late in v2", &items[i], "conv.example.com/v2 late 1")
			}
		}
		if strings.Join(names, ",") != "cache,db,late,queue,web" {
			t.Errorf("list in v2 after recovery: %v", names)
		}
	})

	t.Run("MixedStoredVersions", func(t *testing.T) {
		// v2 becomes the storage version: new writes are stored in v2,
		// the old objects stay in v1, and each list converts only the
		// objects not in its version, in one review.
		crd, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, "backends.conv.example.com", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		crd.Spec.Versions[0].Storage, crd.Spec.Versions[1].Storage = false, true
		if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Update(ctx, crd, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("switch the storage version: %v", err)
		}
		werr := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
			if _, err := v1.Create(ctx, backendObj("v1", "fresh", map[string]interface{}{"hostPort": "fresh:7"}), metav1.CreateOptions{}); err != nil {
				return false, nil
			}
			raw, _ := stored("fresh")
			if raw.GetAPIVersion() == "conv.example.com/v2" {
				return true, nil
			}
			return false, v1.Delete(ctx, "fresh", metav1.DeleteOptions{})
		})
		if werr != nil {
			t.Fatalf("objects are not stored in v2 after the switch: %v", werr)
		}
		raw, _ := stored("fresh")
		want("fresh in etcd", raw, "conv.example.com/v2 fresh 7")
		for _, tc := range []struct {
			res   dynamic.ResourceInterface
			gv    string
			sent  []string
			fresh string
			db    string
		}{
			{v1, "conv.example.com/v1", []string{"fresh"}, "conv.example.com/v1 fresh:7", "conv.example.com/v1 db2:5432"},
			{v2, "conv.example.com/v2", []string{"cache", "db", "late", "queue", "web"}, "conv.example.com/v2 fresh 7", "conv.example.com/v2 db2 5432"},
		} {
			l, err := tc.res.List(ctx, metav1.ListOptions{})
			if err != nil {
				t.Fatalf("list in %s: %v", tc.gv, err)
			}
			hook.calls()
			l, err = tc.res.List(ctx, metav1.ListOptions{ResourceVersion: l.GetResourceVersion(), ResourceVersionMatch: metav1.ResourceVersionMatchExact})
			if err != nil {
				t.Fatalf("exact list in %s: %v", tc.gv, err)
			}
			if calls := hook.calls(); len(calls) != 1 || calls[0].desired != tc.gv || !slices.Equal(calls[0].names, tc.sent) {
				t.Errorf("reviews for the list in %s: %+v, want one with %v", tc.gv, calls, tc.sent)
			}
			for i := range l.Items {
				switch l.Items[i].GetName() {
				case "fresh":
					want("fresh listed in "+tc.gv, &l.Items[i], tc.fresh)
				case "db":
					want("db listed in "+tc.gv, &l.Items[i], tc.db)
				}
			}
		}
	})
}

// hasCall reports a review to desired with exactly names.
func hasCall(calls []convCall, desired string, names ...string) bool {
	for _, c := range calls {
		if c.desired == desired && slices.Equal(c.names, names) {
			return true
		}
	}
	return false
}

// TestCRDConversionWebhookValidation: the apiextensions rules for
// conversion, as kube-apiserver applies them.
func TestCRDConversionWebhookValidation(t *testing.T) {
	s := testenv.Start(t)
	ctx := wireCtx(t)
	ext := apiextensionsclient.NewForConfigOrDie(s.Config)
	tests := []struct {
		name   string
		change func(crd *apiextensionsv1.CustomResourceDefinition)
		want   string
	}{
		{"no webhook", func(crd *apiextensionsv1.CustomResourceDefinition) { crd.Spec.Conversion.Webhook = nil },
			"spec.conversion.webhookClientConfig: Required value: required when strategy is set to Webhook"},
		{"no client config", func(crd *apiextensionsv1.CustomResourceDefinition) { crd.Spec.Conversion.Webhook.ClientConfig = nil },
			"spec.conversion.webhookClientConfig: Required value"},
		{"unknown review version", func(crd *apiextensionsv1.CustomResourceDefinition) {
			crd.Spec.Conversion.Webhook.ConversionReviewVersions = []string{"v9"}
		}, "spec.conversion.conversionReviewVersions"},
		{"no review versions", func(crd *apiextensionsv1.CustomResourceDefinition) {
			crd.Spec.Conversion.Webhook.ConversionReviewVersions = nil
		}, "spec.conversion.conversionReviewVersions"},
		{"plain http", func(crd *apiextensionsv1.CustomResourceDefinition) {
			u := "http://127.0.0.1:1/convert"
			crd.Spec.Conversion.Webhook.ClientConfig.URL = &u
		}, "spec.conversion.webhookClientConfig.url"},
		{"preserveUnknownFields", func(crd *apiextensionsv1.CustomResourceDefinition) { crd.Spec.PreserveUnknownFields = true },
			"must be None if spec.preserveUnknownFields is true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			crd := backendCRD("https://127.0.0.1:1/convert", nil)
			tt.change(crd)
			_, err := ext.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, crd, metav1.CreateOptions{})
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("create: %v, want 422 with %q", err, tt.want)
			}
		})
	}
}
