package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Loaded is one image read from a tarball, with the reference it should be
// pushed as. Exactly one of Image and Index is set.
type Loaded struct {
	Ref   string
	Image v1.Image
	Index v1.ImageIndex
}

// maxLayoutBytes bounds what an OCI-layout tarball may unpack to.
const maxLayoutBytes = 64 << 30

// Load reads an OCI-layout tarball or a `docker save` tarball. tag, when
// set, names the image (and is required when the file carries no name).
// Layout tarballs are unpacked into tmpDir.
func Load(path, tag, tmpDir string) ([]Loaded, error) {
	kind, err := sniff(path)
	if err != nil {
		return nil, err
	}
	switch kind {
	case "docker":
		return loadDocker(path, tag)
	case "oci":
		return loadLayout(path, tag, tmpDir)
	}
	return nil, fmt.Errorf("%s is neither an OCI layout nor a `docker save` tarball (no oci-layout or manifest.json inside)", path)
}

func sniff(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("open image file: %w", err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	kind := ""
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return kind, nil
		}
		if err != nil {
			return "", fmt.Errorf("read %s as a tarball: %w", path, err)
		}
		switch strings.TrimPrefix(h.Name, "./") {
		case "oci-layout":
			return "oci", nil // docker 25+ writes both; the layout is richer
		case "manifest.json":
			kind = "docker"
		}
	}
}

func loadDocker(path, tag string) ([]Loaded, error) {
	opener := func() (io.ReadCloser, error) { return os.Open(path) }
	m, err := tarball.LoadManifest(opener)
	if err != nil {
		return nil, fmt.Errorf("read docker manifest.json: %w", err)
	}
	var out []Loaded
	for i, desc := range m {
		refs := desc.RepoTags
		if tag != "" {
			if len(m) > 1 {
				return nil, fmt.Errorf("%s holds %d images; --tag can only name one", path, len(m))
			}
			refs = []string{tag}
		}
		if len(refs) == 0 {
			return nil, fmt.Errorf("image %d in %s has no name; pass --tag NAME:TAG", i, path)
		}
		// tarball.Image finds an image by one of its own names, or takes
		// the only image when given none.
		var lookup *name.Tag
		if len(desc.RepoTags) > 0 {
			t, err := name.NewTag(desc.RepoTags[0])
			if err != nil {
				return nil, fmt.Errorf("image name %q: %w", desc.RepoTags[0], err)
			}
			lookup = &t
		}
		img, err := tarball.Image(opener, lookup)
		if err != nil {
			return nil, fmt.Errorf("read image %d of %s: %w", i, path, err)
		}
		for _, ref := range refs {
			out = append(out, Loaded{Ref: ref, Image: img})
		}
	}
	return out, nil
}

func loadLayout(path, tag, tmpDir string) ([]Loaded, error) {
	dir, err := os.MkdirTemp(tmpDir, "gureum-import-")
	if err != nil {
		return nil, fmt.Errorf("make temp dir: %w", err)
	}
	if err := untar(path, dir); err != nil {
		return nil, err
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("read OCI layout: %w", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("read OCI index: %w", err)
	}
	if tag != "" && len(im.Manifests) != 1 {
		return nil, fmt.Errorf("%s holds %d images; --tag can only name one", path, len(im.Manifests))
	}
	var out []Loaded
	for _, d := range im.Manifests {
		ref := tag
		if ref == "" {
			ref = d.Annotations["io.containerd.image.name"]
		}
		if ref == "" {
			ref = d.Annotations["org.opencontainers.image.ref.name"]
			if ref != "" && !strings.ContainsAny(ref, ":/") {
				return nil, fmt.Errorf("image in %s is only named %q (a tag without a repository); pass --tag NAME:TAG", path, ref)
			}
		}
		if ref == "" {
			return nil, fmt.Errorf("image %s in %s has no name; pass --tag NAME:TAG", d.Digest, path)
		}
		l := Loaded{Ref: ref}
		if d.MediaType.IsIndex() {
			l.Index, err = idx.ImageIndex(d.Digest)
		} else {
			l.Image, err = idx.Image(d.Digest)
		}
		if err != nil {
			return nil, fmt.Errorf("read image %s: %w", ref, err)
		}
		out = append(out, l)
	}
	return out, nil
}

// untar unpacks regular files and directories of an OCI layout, refusing
// paths that escape dir.
func untar(path, dir string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open image file: %w", err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	var total int64
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
		clean := filepath.Clean(filepath.FromSlash(h.Name))
		if filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
			return fmt.Errorf("%s contains an unsafe path %q", path, h.Name)
		}
		target := filepath.Join(dir, clean)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return fmt.Errorf("unpack: %w", err)
			}
		case tar.TypeReg:
			total += h.Size
			if total > maxLayoutBytes {
				return fmt.Errorf("%s unpacks to more than %d bytes", path, int64(maxLayoutBytes))
			}
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return fmt.Errorf("unpack: %w", err)
			}
			out, err := os.OpenFile(target, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
			if err != nil {
				return fmt.Errorf("unpack: %w", err)
			}
			_, err = io.Copy(out, tr)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("unpack %s: %w", h.Name, err)
			}
		}
	}
}
