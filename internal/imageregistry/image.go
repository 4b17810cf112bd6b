package imageregistry

import (
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// PutImage stores an image built in process (the sandbox image, for
// example) under name:tag without going through HTTP.
func (r *Registry) PutImage(name, tag string, img v1.Image) (string, error) {
	layers, err := img.Layers()
	if err != nil {
		return "", fmt.Errorf("image layers: %w", err)
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			return "", fmt.Errorf("read layer: %w", err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return "", fmt.Errorf("read layer: %w", err)
		}
		if _, err := r.putBlob(data); err != nil {
			return "", err
		}
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return "", fmt.Errorf("image config: %w", err)
	}
	if _, err := r.putBlob(cfg); err != nil {
		return "", err
	}
	manifest, err := img.RawManifest()
	if err != nil {
		return "", fmt.Errorf("image manifest: %w", err)
	}
	mt, err := img.MediaType()
	if err != nil {
		return "", fmt.Errorf("image media type: %w", err)
	}
	return r.PutManifest(name, tag, string(mt), manifest)
}
