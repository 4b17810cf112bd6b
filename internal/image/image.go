// Package image owns the client side of Gureum's images: packing a
// directory into an OCI image, reading OCI-layout and `docker save`
// tarballs, and pushing to and listing the cluster's built-in registry
// (internal/imageregistry) with the credentials of a kubeconfig.
package image

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"k8s.io/client-go/rest"
)

// Repository maps an image reference as a pod spells it ("web:1",
// "team/web:1", "docker.io/library/web:1") to the repository and tag it has
// in Gureum's registry. Container runtimes expand short names to docker.io
// and ask the mirror for "library/web", so the registry stores them there.
func Repository(ref string) (repo, tag string, err error) {
	r, err := name.ParseReference(ref, name.WithDefaultTag("latest"))
	if err != nil {
		return "", "", fmt.Errorf("parse image reference %q: %w", ref, err)
	}
	t, ok := r.(name.Tag)
	if !ok {
		return "", "", fmt.Errorf("image reference %q must name a tag (NAME:TAG), not a digest", ref)
	}
	return t.RepositoryStr(), t.TagStr(), nil
}

// BuildOptions describe an image packed from a directory.
type BuildOptions struct {
	RootFS     string
	Entrypoint []string
	Cmd        []string
	Env        []string
	WorkingDir string
}

// epoch is the timestamp every built image carries, so the same directory
// always yields the same digest.
var epoch = time.Unix(0, 0).UTC()

// Build packs opts.RootFS as a single-layer image.
func Build(opts BuildOptions) (v1.Image, error) {
	st, err := os.Stat(opts.RootFS)
	if err != nil {
		return nil, fmt.Errorf("read rootfs: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("rootfs %s is not a directory", opts.RootFS)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(writeTar(pw, opts.RootFS)) }()
		return pr, nil
	})
	if err != nil {
		return nil, fmt.Errorf("pack %s: %w", opts.RootFS, err)
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{Layer: layer, History: v1.History{CreatedBy: "gureum image build", Created: v1.Time{Time: epoch}}})
	if err != nil {
		return nil, fmt.Errorf("assemble image: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Created = v1.Time{Time: epoch}
	env := opts.Env
	if !hasEnv(env, "PATH") {
		env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, env...)
	}
	cf.Config.Env = env
	cf.Config.Entrypoint = opts.Entrypoint
	cf.Config.Cmd = opts.Cmd
	cf.Config.WorkingDir = opts.WorkingDir
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("set image config: %w", err)
	}
	return img, nil
}

func hasEnv(env []string, key string) bool {
	for _, e := range env {
		if strings.HasPrefix(e, key+"=") {
			return true
		}
	}
	return false
}

// writeTar writes dir as a layer: entries sorted, owned by root, with fixed
// timestamps, so identical trees give identical layers.
func writeTar(w io.Writer, dir string) error {
	tw := tar.NewWriter(w)
	var paths []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path != dir {
			paths = append(paths, path)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("walk %s: %w", dir, err)
	}
	sort.Strings(paths)
	for _, path := range paths {
		fi, err := os.Lstat(path)
		if err != nil {
			return fmt.Errorf("stat %s: %w", path, err)
		}
		rel, _ := filepath.Rel(dir, path)
		hdr := &tar.Header{Name: filepath.ToSlash(rel), Mode: int64(fi.Mode().Perm()), ModTime: epoch, Format: tar.FormatPAX}
		switch {
		case fi.Mode().IsRegular():
			hdr.Typeflag, hdr.Size = tar.TypeReg, fi.Size()
		case fi.IsDir():
			hdr.Typeflag, hdr.Name = tar.TypeDir, hdr.Name+"/"
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return fmt.Errorf("read link %s: %w", path, err)
			}
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
		default:
			continue // devices, sockets and pipes are the runtime's business
		}
		if fi.Mode()&fs.ModeSetuid != 0 {
			hdr.Mode |= 0o4000
		}
		if fi.Mode()&fs.ModeSetgid != 0 {
			hdr.Mode |= 0o2000
		}
		if fi.Mode()&fs.ModeSticky != 0 {
			hdr.Mode |= 0o1000
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("write %s: %w", rel, err)
		}
		if hdr.Typeflag == tar.TypeReg {
			f, err := os.Open(path)
			if err != nil {
				return fmt.Errorf("open %s: %w", path, err)
			}
			_, err = io.Copy(tw, f)
			f.Close()
			if err != nil {
				return fmt.Errorf("pack %s: %w", path, err)
			}
		}
	}
	return tw.Close()
}

// Client talks to the cluster's registry with a kubeconfig's credentials.
type Client struct {
	host      string
	transport http.RoundTripper
}

// NewClient builds a client for the API server cfg points at; the registry
// is served on the same address.
func NewClient(cfg *rest.Config) (*Client, error) {
	u, err := url.Parse(cfg.Host)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("kubeconfig server %q is not a URL", cfg.Host)
	}
	rt, err := rest.TransportFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("build registry transport: %w", err)
	}
	return &Client{host: u.Host, transport: rt}, nil
}

func (c *Client) opts(ctx context.Context) []remote.Option {
	return []remote.Option{remote.WithTransport(c.transport), remote.WithContext(ctx)}
}

// Push uploads img as ref (as a pod spells it) and returns the reference
// with its digest.
func (c *Client) Push(ctx context.Context, ref string, img v1.Image) (string, error) {
	repo, tag, err := Repository(ref)
	if err != nil {
		return "", err
	}
	dst, err := name.NewTag(c.host + "/" + repo + ":" + tag)
	if err != nil {
		return "", fmt.Errorf("registry reference: %w", err)
	}
	if err := remote.Write(dst, img, c.opts(ctx)...); err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		return "", fmt.Errorf("image digest: %w", err)
	}
	return repo + ":" + tag + "@" + d.String(), nil
}

// PushIndex uploads a multi-platform index as ref.
func (c *Client) PushIndex(ctx context.Context, ref string, idx v1.ImageIndex) (string, error) {
	repo, tag, err := Repository(ref)
	if err != nil {
		return "", err
	}
	dst, err := name.NewTag(c.host + "/" + repo + ":" + tag)
	if err != nil {
		return "", fmt.Errorf("registry reference: %w", err)
	}
	if err := remote.WriteIndex(dst, idx, c.opts(ctx)...); err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	d, err := idx.Digest()
	if err != nil {
		return "", fmt.Errorf("index digest: %w", err)
	}
	return repo + ":" + tag + "@" + d.String(), nil
}

// Entry is one tag in the registry.
type Entry struct {
	Repository string
	Tag        string
	Digest     string
}

// List returns every tag of every repository.
func (c *Client) List(ctx context.Context) ([]Entry, error) {
	reg, err := name.NewRegistry(c.host)
	if err != nil {
		return nil, fmt.Errorf("registry address: %w", err)
	}
	repos, err := remote.Catalog(ctx, reg, remote.WithTransport(c.transport))
	if err != nil {
		return nil, fmt.Errorf("list repositories: %w", err)
	}
	var out []Entry
	for _, r := range repos {
		repo, err := name.NewRepository(c.host + "/" + r)
		if err != nil {
			return nil, fmt.Errorf("repository %q: %w", r, err)
		}
		tags, err := remote.List(repo, c.opts(ctx)...)
		if err != nil {
			return nil, fmt.Errorf("list tags of %s: %w", r, err)
		}
		for _, t := range tags {
			desc, err := remote.Head(repo.Tag(t), c.opts(ctx)...)
			if err != nil {
				return nil, fmt.Errorf("read %s:%s: %w", r, t, err)
			}
			out = append(out, Entry{Repository: r, Tag: t, Digest: desc.Digest.String()})
		}
	}
	return out, nil
}
