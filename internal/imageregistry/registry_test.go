package imageregistry

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func newServer(t *testing.T) (*Registry, *httptest.Server, string) {
	t.Helper()
	reg, err := New(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(reg)
	t.Cleanup(srv.Close)
	return reg, srv, strings.TrimPrefix(srv.URL, "http://")
}

func TestPushPullRoundTrip(t *testing.T) {
	_, _, host := newServer(t)
	img, err := random.Image(3<<20, 3)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.NewTag(host+"/library/web:1", name.Insecure)
	if err := remote.Write(ref, img); err != nil {
		t.Fatalf("push: %v", err)
	}
	got, err := remote.Image(ref)
	if err != nil {
		t.Fatalf("pull: %v", err)
	}
	want, _ := img.Digest()
	if d, _ := got.Digest(); d != want {
		t.Fatalf("pulled digest %s, pushed %s", d, want)
	}
	// Every layer's content must come back byte for byte.
	layers, _ := got.Layers()
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			t.Fatalf("read layer: %v", err)
		}
		rc.Close()
	}
	// By digest too.
	byDigest, _ := name.NewDigest(host+"/library/web@"+want.String(), name.Insecure)
	if _, err := remote.Image(byDigest); err != nil {
		t.Fatalf("pull by digest: %v", err)
	}
}

func TestIndexAndCrossRepositoryMount(t *testing.T) {
	_, _, host := newServer(t)
	idx, err := random.Index(1024, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := name.NewTag(host+"/team/a:v1", name.Insecure)
	if err := remote.WriteIndex(a, idx); err != nil {
		t.Fatalf("push index: %v", err)
	}
	got, err := remote.Index(a)
	if err != nil {
		t.Fatalf("pull index: %v", err)
	}
	if d1, d2 := mustDigest(t, got), mustDigest(t, idx); d1 != d2 {
		t.Fatalf("index digest %s, want %s", d1, d2)
	}
	// The same image pushed to another repository mounts its blobs.
	b, _ := name.NewTag(host+"/team/b:v1", name.Insecure)
	if err := remote.WriteIndex(b, idx); err != nil {
		t.Fatalf("push index to second repository: %v", err)
	}
	repos, err := remote.Catalog(t.Context(), mustRegistry(t, host))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(repos, ",") != "team/a,team/b" {
		t.Fatalf("catalog %v", repos)
	}
}

func mustDigest(t *testing.T, x interface{ Digest() (v1.Hash, error) }) v1.Hash {
	t.Helper()
	d, err := x.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func mustRegistry(t *testing.T, host string) name.Registry {
	r, err := name.NewRegistry(host, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestTagsListPagingAndDelete(t *testing.T) {
	_, _, host := newServer(t)
	img, _ := random.Image(100, 1)
	for _, tag := range []string{"c", "a", "b"} {
		ref, _ := name.NewTag(host+"/xy:"+tag, name.Insecure)
		if err := remote.Write(ref, img); err != nil {
			t.Fatal(err)
		}
	}
	repo, _ := name.NewRepository(host+"/xy", name.Insecure)
	tags, err := remote.List(repo)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(tags, ",") != "a,b,c" {
		t.Fatalf("tags %v", tags)
	}
	resp, err := http.Get("http://" + host + "/v2/xy/tags/list?n=1&last=a")
	if err != nil {
		t.Fatal(err)
	}
	var page struct{ Tags []string }
	_ = json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	if strings.Join(page.Tags, ",") != "b" {
		t.Fatalf("page after a with n=1: %v", page.Tags)
	}
	ref, _ := name.NewTag(host+"/xy:b", name.Insecure)
	if err := remote.Delete(ref); err != nil {
		t.Fatalf("delete tag: %v", err)
	}
	if _, err := remote.Image(ref); err == nil || !strings.Contains(err.Error(), "MANIFEST_UNKNOWN") {
		t.Fatalf("pull of deleted tag: %v", err)
	}
	// Deleting by digest removes the tags that pointed at it.
	d, _ := img.Digest()
	dref, _ := name.NewDigest(host+"/xy@"+d.String(), name.Insecure)
	if err := remote.Delete(dref); err != nil {
		t.Fatalf("delete manifest: %v", err)
	}
	if tags, _ := remote.List(repo); len(tags) != 0 {
		t.Fatalf("tags left after deleting their manifest: %v", tags)
	}
}

func TestRejectsBadInput(t *testing.T) {
	_, srv, _ := newServer(t)
	do := func(method, path, ctype string, body []byte) (int, string) {
		req, _ := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	missing := "sha256:" + strings.Repeat("a", 64)
	manifest := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"digest":"` + missing + `","size":1},"layers":[]}`)
	cases := []struct {
		name, method, path, ctype string
		body                      []byte
		status                    int
		code                      string
	}{
		{"manifest referencing an unpushed blob", "PUT", "/v2/x/manifests/1", "application/vnd.oci.image.manifest.v1+json", manifest, 400, "MANIFEST_BLOB_UNKNOWN"},
		{"manifest that is not JSON", "PUT", "/v2/x/manifests/1", "application/vnd.oci.image.manifest.v1+json", []byte("nope"), 400, "MANIFEST_INVALID"},
		{"upper-case repository", "GET", "/v2/Bad/manifests/1", "", nil, 400, "NAME_INVALID"},
		{"unknown repository", "GET", "/v2/none/manifests/1", "", nil, 404, "NAME_UNKNOWN"},
		{"unknown blob", "GET", "/v2/x/blobs/" + missing, "", nil, 404, "BLOB_UNKNOWN"},
		{"monolithic upload with the wrong digest", "POST", "/v2/x/blobs/uploads/?digest=" + missing, "", []byte("data"), 400, "DIGEST_INVALID"},
		{"unknown upload", "PATCH", "/v2/x/blobs/uploads/" + strings.Repeat("0", 32), "", []byte("data"), 404, "BLOB_UPLOAD_UNKNOWN"},
		{"path traversal as an upload id", "PATCH", "/v2/x/blobs/uploads/..%2f..%2fetc", "", nil, 404, "BLOB_UPLOAD_UNKNOWN"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body := do(c.method, c.path, c.ctype, c.body)
			if status != c.status || !strings.Contains(body, c.code) {
				t.Fatalf("got %d %s, want %d %s", status, body, c.status, c.code)
			}
		})
	}
}

func TestPutImageInProcessIsPullable(t *testing.T) {
	reg, _, host := newServer(t)
	img, err := mutate.AppendLayers(empty.Image, mustLayer(t))
	if err != nil {
		t.Fatal(err)
	}
	digest, err := reg.PutImage("gureum/pause", "1", img)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.NewTag(host+"/gureum/pause:1", name.Insecure)
	got, err := remote.Image(ref)
	if err != nil {
		t.Fatalf("pull: %v", err)
	}
	if d := mustDigest(t, got); d.String() != digest {
		t.Fatalf("digest %s, PutImage said %s", d, digest)
	}
}

func mustLayer(t *testing.T) v1.Layer {
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	ls, _ := img.Layers()
	return ls[0]
}

func TestSplitPath(t *testing.T) {
	cases := []struct{ in, name, kind, rest string }{
		{"library/web/manifests/1", "library/web", "manifests", "1"},
		{"a/b/c/blobs/uploads/", "a/b/c", "blobs", "uploads/"},
		{"x/tags/list", "x", "tags", "list"},
		{"blobs/manifests/1", "blobs", "manifests", "1"},
	}
	for _, c := range cases {
		n, k, r, ok := splitPath(c.in)
		if !ok || n != c.name || k != c.kind || r != c.rest {
			t.Errorf("splitPath(%q) = %q %q %q %v", c.in, n, k, r, ok)
		}
	}
	if _, _, _, ok := splitPath("manifests/1"); ok {
		t.Error("a path without a repository name must not split")
	}
}
