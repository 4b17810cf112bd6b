package integration

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"github.com/gureum/gureum/internal/testenv"
)

const (
	mediaProtobuf = "application/vnd.kubernetes.protobuf"
	acceptTable   = "application/json;as=Table;v=v1;g=meta.k8s.io"
)

// TestWireEncodings checks YAML and protobuf request bodies, protobuf
// responses, Table output and PartialObjectMetadata lists.
func TestWireEncodings(t *testing.T) {
	t.Parallel()
	s := testenv.Start(t)
	ctx := wireCtx(t)
	ns := mkNamespace(t, s, "wire-enc")
	hc := httpClientFor(t, s)

	do := func(t *testing.T, method, path, contentType, accept string, body []byte) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, s.Config.Host+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp, out
	}

	t.Run("YAMLRequestBody", func(t *testing.T) {
		body := []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\n  labels:\n    fmt: yaml\ndata:\n  key: |\n    line one\n    line two\n")
		resp, out := do(t, http.MethodPost, "/api/v1/namespaces/"+ns+"/configmaps", "application/yaml", "application/json", body)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("YAML create: %d %s", resp.StatusCode, out)
		}
		got, err := s.Client.CoreV1().ConfigMaps(ns).Get(ctx, "from-yaml", metav1.GetOptions{})
		if err != nil || got.Data["key"] != "line one\nline two\n" || got.Labels["fmt"] != "yaml" {
			t.Fatalf("object created from YAML: %+v %v", got, err)
		}
		resp, out = do(t, http.MethodGet, "/api/v1/namespaces/"+ns+"/configmaps/from-yaml", "", "application/yaml", nil)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/yaml" || !bytes.Contains(out, []byte("name: from-yaml")) {
			t.Fatalf("YAML response: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), out)
		}
	})

	t.Run("ProtobufRequestsAndResponses", func(t *testing.T) {
		cfg := rest.CopyConfig(s.Config)
		cfg.ContentType = mediaProtobuf
		cfg.AcceptContentTypes = mediaProtobuf + ",application/json"
		pc, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		cm, err := pc.CoreV1().ConfigMaps(ns).Create(ctx, configMap("from-proto", map[string]string{"k": "v"}), metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("protobuf create: %v", err)
		}
		if cm.Data["k"] != "v" || cm.UID == "" {
			t.Fatalf("protobuf create answered %+v", cm)
		}
		pod, err := pc.CoreV1().Pods(ns).Create(ctx, simplePod("proto-pod"), metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("protobuf pod create: %v", err)
		}
		if pod.Spec.Containers[0].TerminationMessagePath == "" {
			t.Fatal("protobuf-created pod was not defaulted")
		}
		list, err := pc.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
		if err != nil || len(list.Items) == 0 {
			t.Fatalf("protobuf list: %v", err)
		}
		w, err := pc.CoreV1().ConfigMaps(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
		if err != nil {
			t.Fatalf("protobuf watch: %v", err)
		}
		defer w.Stop()
		cm.Data["k"] = "v2"
		if _, err := pc.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("protobuf update: %v", err)
		}
		if ev := nextNonBookmark(t, w); ev.Type != "MODIFIED" || ev.Object.(*corev1.ConfigMap).Data["k"] != "v2" {
			t.Fatalf("protobuf client's watch event %s %+v", ev.Type, ev.Object)
		}
		// The wire really is protobuf.
		resp, out := do(t, http.MethodGet, "/api/v1/namespaces/"+ns+"/configmaps/from-proto", "", mediaProtobuf, nil)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != mediaProtobuf {
			t.Fatalf("protobuf get: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if !bytes.HasPrefix(out, []byte{0x6b, 0x38, 0x73, 0x00}) {
			t.Fatalf("protobuf body lacks the k8s\\x00 envelope: %q", out[:min(len(out), 16)])
		}
		decoded, _, err := scheme.Codecs.UniversalDeserializer().Decode(out, nil, nil)
		if err != nil {
			t.Fatalf("decode protobuf body: %v", err)
		}
		if got := decoded.(*corev1.ConfigMap); got.Data["k"] != "v2" {
			t.Fatalf("protobuf body data %v", got.Data)
		}
		// Errors come back as a protobuf Status too, and the client
		// understands them.
		_, err = pc.CoreV1().ConfigMaps(ns).Get(ctx, "missing", metav1.GetOptions{})
		wantReason(t, err, http.StatusNotFound, metav1.StatusReasonNotFound)
	})

	t.Run("TableOutputHasColumnsAndMetadataRows", func(t *testing.T) {
		if _, err := s.Client.CoreV1().Pods(ns).Create(ctx, simplePod("table-pod"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		resp, out := do(t, http.MethodGet, "/api/v1/namespaces/"+ns+"/pods", "", acceptTable, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("table list: %d %s", resp.StatusCode, out)
		}
		var table metav1.Table
		if err := json.Unmarshal(out, &table); err != nil {
			t.Fatal(err)
		}
		if table.Kind != "Table" || table.APIVersion != "meta.k8s.io/v1" {
			t.Fatalf("table kind %s/%s", table.APIVersion, table.Kind)
		}
		if len(table.ColumnDefinitions) == 0 || table.ColumnDefinitions[0].Name != "Name" {
			t.Fatalf("column definitions %+v", table.ColumnDefinitions)
		}
		if table.ResourceVersion == "" {
			t.Fatal("table has no list resourceVersion")
		}
		var found bool
		for _, row := range table.Rows {
			if len(row.Cells) != len(table.ColumnDefinitions) {
				t.Fatalf("row has %d cells for %d columns", len(row.Cells), len(table.ColumnDefinitions))
			}
			var pm metav1.PartialObjectMetadata
			if err := json.Unmarshal(row.Object.Raw, &pm); err != nil {
				t.Fatalf("row object: %v", err)
			}
			if pm.Kind != "PartialObjectMetadata" || pm.APIVersion != "meta.k8s.io/v1" {
				t.Fatalf("row object kind %s/%s, want meta.k8s.io/v1 PartialObjectMetadata", pm.APIVersion, pm.Kind)
			}
			if pm.Name == "proto-pod" || pm.Name == "table-pod" {
				found = true
				if row.Cells[0] != pm.Name {
					t.Fatalf("first cell %v, want the name %s", row.Cells[0], pm.Name)
				}
			}
		}
		if !found {
			t.Fatal("table rows do not include the pods")
		}
		resp, out = do(t, http.MethodGet, "/api/v1/namespaces/"+ns+"/pods/table-pod", "", acceptTable, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("table get: %d %s", resp.StatusCode, out)
		}
		var one metav1.Table
		if err := json.Unmarshal(out, &one); err != nil || len(one.Rows) != 1 {
			t.Fatalf("single-object table: %v, %d rows", err, len(one.Rows))
		}
		// Tables for resources without their own columns still print
		// name and age.
		resp, out = do(t, http.MethodGet, "/api/v1/namespaces/"+ns+"/configmaps", "", acceptTable, nil)
		if resp.StatusCode != http.StatusOK || !bytes.Contains(out, []byte(`"columnDefinitions"`)) {
			t.Fatalf("configmap table: %d %s", resp.StatusCode, out)
		}
	})

	t.Run("PartialObjectMetadataListViaMetadataClient", func(t *testing.T) {
		mc, err := metadata.NewForConfig(s.Config)
		if err != nil {
			t.Fatal(err)
		}
		gvr := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
		list, err := mc.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatalf("metadata list: %v", err)
		}
		names := map[string]bool{}
		for _, item := range list.Items {
			names[item.Name] = true
			if item.Namespace != ns || item.UID == "" || item.ResourceVersion == "" {
				t.Fatalf("partial item metadata incomplete: %+v", item.ObjectMeta)
			}
		}
		if !names["from-yaml"] || !names["from-proto"] {
			t.Fatalf("metadata list names %v", names)
		}
		if list.ResourceVersion == "" {
			t.Fatal("PartialObjectMetadataList has no resourceVersion")
		}
		one, err := mc.Resource(gvr).Namespace(ns).Get(ctx, "from-yaml", metav1.GetOptions{})
		if err != nil || one.Labels["fmt"] != "yaml" {
			t.Fatalf("metadata get: %+v %v", one, err)
		}
		// The raw response carries no data, only metadata.
		resp, out := do(t, http.MethodGet, "/api/v1/namespaces/"+ns+"/configmaps", "",
			"application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io", nil)
		if resp.StatusCode != http.StatusOK || bytes.Contains(out, []byte("line one")) || !bytes.Contains(out, []byte(`"kind":"PartialObjectMetadataList"`)) {
			t.Fatalf("raw PartialObjectMetadataList: %d %s", resp.StatusCode, out)
		}
		w, err := mc.Resource(gvr).Namespace(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
		if err != nil {
			t.Fatalf("metadata watch: %v", err)
		}
		defer w.Stop()
		if _, err := s.Client.CoreV1().ConfigMaps(ns).Create(ctx, configMap("watched-meta", map[string]string{"x": "y"}), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// Controllers may still be writing the namespace's own objects
		// (kube-root-ca.crt): every event is metadata, ours among them.
		for {
			ev := nextNonBookmark(t, w)
			pm, ok := ev.Object.(*metav1.PartialObjectMetadata)
			if !ok {
				t.Fatalf("metadata watch event %T %+v", ev.Object, ev.Object)
			}
			if pm.Name == "watched-meta" {
				break
			}
		}
	})
}

var _ runtime.Object = (*metav1.Table)(nil)
