package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Mounter does the mounts volumes need (tmpfs for memory-backed
// emptyDirs). The real one needs root; tests use a recording one.
type Mounter interface {
	MountTmpfs(dir string, sizeBytes int64) error
	Unmount(dir string) error
}

const defaultFileMode int32 = 0o644

// volumeInfo is one prepared volume.
type volumeInfo struct {
	Path     string
	ReadOnly bool // configMap, secret, downwardAPI and projected are read-only
}

// renderConfigMap is the payload of a configMap volume (or projection).
func renderConfigMap(ns, name string, items []v1.KeyToPath, defaultMode *int32, optional *bool, src objectSource) (map[string]fileProjection, error) {
	mode := defaultFileMode
	if defaultMode != nil {
		mode = *defaultMode
	}
	cm, err := src.ConfigMap(ns, name)
	if err != nil {
		if apierrors.IsNotFound(err) && isOptional(optional) {
			return map[string]fileProjection{}, nil
		}
		return nil, fmt.Errorf("configmap %q not found", name)
	}
	data := map[string][]byte{}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return projectKeys(data, items, mode, optional, "configmap", ns, name)
}

// renderSecret is the payload of a secret volume (or projection).
func renderSecret(ns, name string, items []v1.KeyToPath, defaultMode *int32, optional *bool, src objectSource) (map[string]fileProjection, error) {
	mode := defaultFileMode
	if defaultMode != nil {
		mode = *defaultMode
	}
	s, err := src.Secret(ns, name)
	if err != nil {
		if apierrors.IsNotFound(err) && isOptional(optional) {
			return map[string]fileProjection{}, nil
		}
		return nil, fmt.Errorf("secret %q not found", name)
	}
	data := map[string][]byte{}
	for k, v := range s.Data {
		data[k] = v
	}
	for k, v := range s.StringData {
		data[k] = []byte(v)
	}
	return projectKeys(data, items, mode, optional, "secret", ns, name)
}

func projectKeys(data map[string][]byte, items []v1.KeyToPath, mode int32, optional *bool, kind, ns, name string) (map[string]fileProjection, error) {
	out := map[string]fileProjection{}
	if len(items) == 0 {
		for k, v := range data {
			out[k] = fileProjection{Data: v, Mode: mode}
		}
		return out, nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if isOptional(optional) {
				continue
			}
			return nil, fmt.Errorf("configure volume: key %q not found in %s %s/%s", it.Key, kind, ns, name)
		}
		m := mode
		if it.Mode != nil {
			m = *it.Mode
		}
		out[it.Path] = fileProjection{Data: v, Mode: m}
	}
	return out, nil
}

// renderDownwardAPI is the payload of a downwardAPI volume (or projection).
func renderDownwardAPI(pod *v1.Pod, items []v1.DownwardAPIVolumeFile, defaultMode *int32, addrs podAddresses) (map[string]fileProjection, error) {
	mode := defaultFileMode
	if defaultMode != nil {
		mode = *defaultMode
	}
	out := map[string]fileProjection{}
	for _, it := range items {
		var v string
		var err error
		switch {
		case it.FieldRef != nil:
			v, err = podFieldValue(pod, it.FieldRef.FieldPath, addrs)
		case it.ResourceFieldRef != nil:
			v, err = resourceFieldValue(pod, nil, it.ResourceFieldRef)
		default:
			err = fmt.Errorf("downwardAPI item %q has no reference", it.Path)
		}
		if err != nil {
			return nil, err
		}
		m := mode
		if it.Mode != nil {
			m = *it.Mode
		}
		out[it.Path] = fileProjection{Data: []byte(v), Mode: m}
	}
	return out, nil
}

// renderProjected merges the sources of a projected volume. refreshAt is
// when its service account tokens are next due for refresh (zero without
// tokens).
func (v volumeSetup) renderProjected(ctx context.Context, pod *v1.Pod, p *v1.ProjectedVolumeSource, addrs podAddresses) (payload map[string]fileProjection, refreshAt time.Time, err error) {
	out := map[string]fileProjection{}
	for _, s := range p.Sources {
		var part map[string]fileProjection
		var err error
		switch {
		case s.ConfigMap != nil:
			part, err = renderConfigMap(pod.Namespace, s.ConfigMap.Name, s.ConfigMap.Items, p.DefaultMode, s.ConfigMap.Optional, v.src)
		case s.Secret != nil:
			part, err = renderSecret(pod.Namespace, s.Secret.Name, s.Secret.Items, p.DefaultMode, s.Secret.Optional, v.src)
		case s.DownwardAPI != nil:
			part, err = renderDownwardAPI(pod, s.DownwardAPI.Items, p.DefaultMode, addrs)
		case s.ServiceAccountToken != nil:
			var tok issuedToken
			tok, err = v.serviceAccountToken(ctx, pod, s.ServiceAccountToken)
			if err == nil {
				mode := defaultFileMode
				if p.DefaultMode != nil {
					mode = *p.DefaultMode
				}
				part = map[string]fileProjection{s.ServiceAccountToken.Path: {Data: []byte(tok.token), Mode: mode}}
				refreshAt = minTime(refreshAt, tok.refreshAt)
			}
		}
		if err != nil {
			return nil, time.Time{}, err
		}
		for k, v := range part {
			out[k] = v
		}
	}
	return out, refreshAt, nil
}

// serviceAccountToken fetches a projection's token. A pod whose token
// cannot be fetched does not start (FailedMount, as in Kubernetes): the
// token's absence would only surface later as a confusing
// authentication failure inside the container.
func (v volumeSetup) serviceAccountToken(ctx context.Context, pod *v1.Pod, p *v1.ServiceAccountTokenProjection) (issuedToken, error) {
	if v.tokens == nil {
		return issuedToken{}, errors.New("failed to fetch token: the agent has no token source")
	}
	tok, err := v.tokens.podToken(ctx, pod, p)
	if err != nil {
		return issuedToken{}, fmt.Errorf("failed to fetch token: %w", err)
	}
	return tok, nil
}

// checkHostPath applies a hostPath volume's type, creating what the
// *OrCreate types ask for.
func checkHostPath(path string, t *v1.HostPathType) error {
	if t == nil || *t == v1.HostPathUnset {
		return nil
	}
	fi, err := os.Stat(path)
	exists := err == nil
	switch *t {
	case v1.HostPathDirectoryOrCreate:
		if !exists {
			return os.MkdirAll(path, 0o755)
		}
		if !fi.IsDir() {
			return fmt.Errorf("hostPath %s exists and is not a directory", path)
		}
	case v1.HostPathFileOrCreate:
		if !exists {
			f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return fmt.Errorf("create hostPath file %s: %w", path, err)
			}
			return f.Close()
		}
		if fi.IsDir() {
			return fmt.Errorf("hostPath %s exists and is a directory", path)
		}
	case v1.HostPathDirectory:
		if !exists || !fi.IsDir() {
			return fmt.Errorf("hostPath type check failed: %s is not a directory", path)
		}
	case v1.HostPathFile:
		if !exists || !fi.Mode().IsRegular() {
			return fmt.Errorf("hostPath type check failed: %s is not a file", path)
		}
	case v1.HostPathSocket:
		if !exists || fi.Mode()&fs.ModeSocket == 0 {
			return fmt.Errorf("hostPath type check failed: %s is not a socket file", path)
		}
	case v1.HostPathCharDev:
		if !exists || fi.Mode()&fs.ModeCharDevice == 0 {
			return fmt.Errorf("hostPath type check failed: %s is not a character device", path)
		}
	case v1.HostPathBlockDev:
		if !exists || fi.Mode()&fs.ModeDevice == 0 || fi.Mode()&fs.ModeCharDevice != 0 {
			return fmt.Errorf("hostPath type check failed: %s is not a block device", path)
		}
	default:
		return fmt.Errorf("unknown hostPath type %q", *t)
	}
	return nil
}

// volumeSetup prepares a pod's volumes on the host.
type volumeSetup struct {
	paths   podPaths
	mounter Mounter
	src     objectSource
	tokens  *tokenManager
	now     time.Time
}

// setup prepares every volume. refreshAt is when a service account token
// in them is next due for refresh, so the caller can sync the pod again
// then (zero when there is none).
func (v volumeSetup) setup(ctx context.Context, pod *v1.Pod, addrs podAddresses) (vols map[string]volumeInfo, refreshAt time.Time, err error) {
	uid := string(pod.UID)
	vols = map[string]volumeInfo{}
	for _, vol := range pod.Spec.Volumes {
		var payload map[string]fileProjection
		var dir string
		switch {
		case vol.EmptyDir != nil:
			dir = v.paths.volume(uid, "kubernetes.io~empty-dir", vol.Name)
			if err := os.MkdirAll(dir, 0o777); err != nil {
				return nil, time.Time{}, fmt.Errorf("emptyDir %s: %w", vol.Name, err)
			}
			_ = os.Chmod(dir, 0o777) // any container user may write, as in Kubernetes
			if vol.EmptyDir.Medium == v1.StorageMediumMemory {
				var size int64
				if vol.EmptyDir.SizeLimit != nil {
					size = vol.EmptyDir.SizeLimit.Value()
				}
				if err := v.mounter.MountTmpfs(dir, size); err != nil {
					return nil, time.Time{}, fmt.Errorf("mount tmpfs for emptyDir %s: %w", vol.Name, err)
				}
			}
			vols[vol.Name] = volumeInfo{Path: dir}
			continue
		case vol.HostPath != nil:
			if err := checkHostPath(vol.HostPath.Path, vol.HostPath.Type); err != nil {
				return nil, time.Time{}, fmt.Errorf("hostPath %s: %w", vol.Name, err)
			}
			vols[vol.Name] = volumeInfo{Path: vol.HostPath.Path}
			continue
		case vol.ConfigMap != nil:
			dir = v.paths.volume(uid, "kubernetes.io~configmap", vol.Name)
			payload, err = renderConfigMap(pod.Namespace, vol.ConfigMap.Name, vol.ConfigMap.Items, vol.ConfigMap.DefaultMode, vol.ConfigMap.Optional, v.src)
		case vol.Secret != nil:
			dir = v.paths.volume(uid, "kubernetes.io~secret", vol.Name)
			payload, err = renderSecret(pod.Namespace, vol.Secret.SecretName, vol.Secret.Items, vol.Secret.DefaultMode, vol.Secret.Optional, v.src)
		case vol.DownwardAPI != nil:
			dir = v.paths.volume(uid, "kubernetes.io~downward-api", vol.Name)
			payload, err = renderDownwardAPI(pod, vol.DownwardAPI.Items, vol.DownwardAPI.DefaultMode, addrs)
		case vol.Projected != nil:
			dir = v.paths.volume(uid, "kubernetes.io~projected", vol.Name)
			var at time.Time
			payload, at, err = v.renderProjected(ctx, pod, vol.Projected, addrs)
			refreshAt = minTime(refreshAt, at)
		default:
			return nil, time.Time{}, fmt.Errorf("volume %q: this volume type is not supported by Gureum's agent yet", vol.Name)
		}
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("volume %q: %w", vol.Name, err)
		}
		if _, err := writeAtomic(dir, payload, v.now); err != nil {
			return nil, time.Time{}, fmt.Errorf("volume %q: %w", vol.Name, err)
		}
		vols[vol.Name] = volumeInfo{Path: dir, ReadOnly: true}
	}
	return vols, refreshAt, nil
}

// mounts turns a container's volumeMounts into CRI mounts, resolving
// subPath (and subPathExpr against the container's environment).
func containerMounts(c *v1.Container, vols map[string]volumeInfo, env []envVar) ([]*runtimeapi.Mount, error) {
	var out []*runtimeapi.Mount
	for _, m := range c.VolumeMounts {
		vol, ok := vols[m.Name]
		if !ok {
			return nil, fmt.Errorf("volumeMount %q: no volume of that name", m.Name)
		}
		host := vol.Path
		sub := m.SubPath
		if m.SubPathExpr != "" {
			_, exp := expandCommand(&v1.Container{Args: []string{m.SubPathExpr}}, env)
			sub = exp[0]
		}
		if sub != "" {
			if filepath.IsAbs(sub) || slices.Contains(strings.Split(filepath.ToSlash(sub), "/"), "..") {
				return nil, fmt.Errorf("volumeMount %q: subPath %q must be a relative path without '..'", m.Name, sub)
			}
			host = filepath.Join(vol.Path, sub)
			resolved, err := filepath.EvalSymlinks(host)
			switch {
			case errors.Is(err, fs.ErrNotExist):
				if vol.ReadOnly {
					return nil, fmt.Errorf("volumeMount %q: subPath %q does not exist", m.Name, sub)
				}
				if err := os.MkdirAll(host, 0o755); err != nil {
					return nil, fmt.Errorf("create subPath %s: %w", host, err)
				}
			case err != nil:
				return nil, fmt.Errorf("resolve subPath %s: %w", host, err)
			default:
				base, _ := filepath.EvalSymlinks(vol.Path)
				if rel, err := filepath.Rel(base, resolved); err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
					return nil, fmt.Errorf("volumeMount %q: subPath %q leaves the volume", m.Name, sub)
				}
				// Bind the resolved file: a mount follows no symlinks later.
				host = resolved
			}
		}
		out = append(out, &runtimeapi.Mount{ContainerPath: m.MountPath, HostPath: host, Readonly: m.ReadOnly || vol.ReadOnly})
	}
	return out, nil
}

// cleanupPodDir unmounts memory-backed volumes and removes the pod's files.
func (v volumeSetup) cleanup(pod *v1.Pod, uid string) error {
	dir := filepath.Join(v.paths.pod(uid), "volumes", "kubernetes.io~empty-dir")
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if err := v.mounter.Unmount(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("unmount %s: %w", e.Name(), err)
		}
	}
	if err := os.RemoveAll(v.paths.pod(uid)); err != nil {
		return fmt.Errorf("remove pod dir: %w", err)
	}
	return nil
}
