package image_test

import (
	"archive/tar"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"k8s.io/client-go/rest"

	"github.com/gureum/gureum/internal/image"
	"github.com/gureum/gureum/internal/image/pause"
	"github.com/gureum/gureum/internal/testenv"
)

func TestRepository(t *testing.T) {
	cases := []struct{ in, repo, tag string }{
		{"web:1", "library/web", "1"},
		{"web", "library/web", "latest"},
		{"team/web:2", "team/web", "2"},
		{"docker.io/library/web:1", "library/web", "1"},
	}
	for _, c := range cases {
		repo, tag, err := image.Repository(c.in)
		if err != nil || repo != c.repo || tag != c.tag {
			t.Errorf("Repository(%q) = %q %q %v, want %q %q", c.in, repo, tag, err, c.repo, c.tag)
		}
	}
	if _, _, err := image.Repository("web@sha256:" + strings.Repeat("a", 64)); err == nil {
		t.Error("a digest reference must be refused: images are pushed by tag")
	}
}

func writeRootFS(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "bin"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "bin", "app"), []byte("#!/bin/sh\necho hi\n"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "config.txt"), []byte("x=1\n"), 0o644))
	must(os.Symlink("app", filepath.Join(dir, "bin", "run")))
	return dir
}

func layerEntries(t *testing.T, img v1.Image) map[string]*tar.Header {
	t.Helper()
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %v %d", err, len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	out := map[string]*tar.Header{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = h
	}
}

func TestBuildIsDeterministicAndComplete(t *testing.T) {
	dir := writeRootFS(t)
	opts := image.BuildOptions{RootFS: dir, Entrypoint: []string{"/bin/app"}, Env: []string{"MODE=prod"}}
	a, err := image.Build(opts)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := image.Build(opts)
	da, _ := a.Digest()
	db, _ := b.Digest()
	if da != db {
		t.Fatalf("two builds of the same tree differ: %s %s", da, db)
	}
	entries := layerEntries(t, a)
	var names []string
	for n := range entries {
		names = append(names, n)
	}
	sort.Strings(names)
	if strings.Join(names, ",") != "bin/,bin/app,bin/run,config.txt" {
		t.Fatalf("layer entries %v", names)
	}
	if h := entries["bin/app"]; h.Mode&0o111 == 0 || h.Uid != 0 {
		t.Fatalf("bin/app mode %o uid %d: executable bit and root ownership must survive", h.Mode, h.Uid)
	}
	if h := entries["bin/run"]; h.Typeflag != tar.TypeSymlink || h.Linkname != "app" {
		t.Fatalf("bin/run is not the symlink to app: %+v", h)
	}
	cf, _ := a.ConfigFile()
	if cf.Config.Entrypoint[0] != "/bin/app" || cf.OS != "linux" || !strings.HasPrefix(cf.Config.Env[0], "PATH=") || cf.Config.Env[1] != "MODE=prod" {
		t.Fatalf("config %+v", cf.Config)
	}
}

func TestPushListAndPullThroughTheAPIServer(t *testing.T) {
	s := testenv.Start(t)
	c, err := image.NewClient(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	img, err := image.Build(image.BuildOptions{RootFS: writeRootFS(t), Entrypoint: []string{"/bin/app"}})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := c.Push(t.Context(), "web:1", img)
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	want, _ := img.Digest()
	if ref != "library/web:1@"+want.String() {
		t.Fatalf("push returned %q", ref)
	}
	entries, err := c.List(t.Context())
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	// The server stores the project's sandbox image itself; besides it,
	// exactly what was pushed.
	sandboxRepo, sandboxTag, err := image.Repository(pause.Reference)
	if err != nil {
		t.Fatal(err)
	}
	var pushed []image.Entry
	sandbox := false
	for _, e := range entries {
		if e.Repository == sandboxRepo && e.Tag == sandboxTag {
			sandbox = true
			continue
		}
		pushed = append(pushed, e)
	}
	if !sandbox || len(pushed) != 1 || pushed[0].Repository != "library/web" || pushed[0].Tag != "1" || pushed[0].Digest != want.String() {
		t.Fatalf("list %+v (want the sandbox image and library/web:1)", entries)
	}

	// A node pulls with its bearer token, as containerd does through the
	// mirror, but may not push.
	token, err := os.ReadFile(filepath.Join(s.DataDir, "token"))
	if err != nil {
		t.Fatal(err)
	}
	nodeCfg := rest.AnonymousClientConfig(s.Config)
	nodeCfg.BearerToken = strings.TrimSpace(string(token))
	rt, err := rest.TransportFor(nodeCfg)
	if err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(s.Config.Host, "https://")
	tag, _ := name.NewTag(host + "/library/web:1")
	got, err := remote.Image(tag, remote.WithTransport(rt))
	if err != nil {
		t.Fatalf("node pull: %v", err)
	}
	if d, _ := got.Digest(); d != want {
		t.Fatalf("node pulled %s, want %s", d, want)
	}
	if _, ok := layerEntries(t, got)["bin/app"]; !ok {
		t.Fatal("pulled layer lacks bin/app")
	}
	other, _ := name.NewTag(host + "/library/evil:1")
	err = remote.Write(other, img, remote.WithTransport(rt))
	if err == nil || !strings.Contains(err.Error(), "DENIED") {
		t.Fatalf("node push: %v, want DENIED", err)
	}

	// Without credentials the registry challenges.
	anon, err := rest.TransportFor(rest.AnonymousClientConfig(s.Config))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := remote.Image(tag, remote.WithTransport(anon)); err == nil || !strings.Contains(err.Error(), "UNAUTHORIZED") {
		t.Fatalf("anonymous pull: %v, want UNAUTHORIZED", err)
	}
}

func TestLoadDockerSaveAndOCILayout(t *testing.T) {
	img, err := random.Image(256, 2)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	dir := t.TempDir()

	docker := filepath.Join(dir, "docker.tar")
	tag, _ := name.NewTag("team/app:3")
	if err := tarball.WriteToFile(docker, tag, img); err != nil {
		t.Fatal(err)
	}
	loaded, err := image.Load(docker, "", dir)
	if err != nil {
		t.Fatalf("load docker tarball: %v", err)
	}
	if len(loaded) != 1 || loaded[0].Ref != "index.docker.io/team/app:3" && loaded[0].Ref != "team/app:3" {
		t.Fatalf("loaded %+v", loaded)
	}
	if d, _ := loaded[0].Image.Digest(); d != want {
		t.Fatalf("docker tarball image digest %s, want %s", d, want)
	}

	// An OCI layout, tarred as `docker buildx --output type=oci` writes it.
	lp := filepath.Join(dir, "layout")
	l, err := layout.Write(lp, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "team/app:4"})); err != nil {
		t.Fatal(err)
	}
	ociTar := filepath.Join(dir, "oci.tar")
	tarDir(t, lp, ociTar)
	loaded, err = image.Load(ociTar, "", dir)
	if err != nil {
		t.Fatalf("load OCI layout: %v", err)
	}
	if len(loaded) != 1 || loaded[0].Ref != "team/app:4" {
		t.Fatalf("loaded %+v", loaded)
	}
	if d, _ := loaded[0].Image.Digest(); d != want {
		t.Fatalf("OCI layout image digest %s, want %s", d, want)
	}
	// --tag renames; a file with no name needs it.
	if loaded, err = image.Load(ociTar, "renamed:1", dir); err != nil || loaded[0].Ref != "renamed:1" {
		t.Fatalf("load with --tag: %+v %v", loaded, err)
	}
	notImage := filepath.Join(dir, "x.tar")
	tarDir(t, writeRootFS(t), notImage)
	if _, err := image.Load(notImage, "", dir); err == nil || !strings.Contains(err.Error(), "neither an OCI layout") {
		t.Fatalf("load of a plain tarball: %v", err)
	}
}

func tarDir(t *testing.T, dir, out string) {
	t.Helper()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	err = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		h, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			h.Linkname, _ = os.Readlink(p)
		}
		h.Name = rel
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			_, err = tw.Write(b)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}
