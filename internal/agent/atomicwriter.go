package agent

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// fileProjection is one file of a configMap/secret/downwardAPI volume.
type fileProjection struct {
	Data []byte
	Mode int32
}

const dataDirName = "..data"

// writeAtomic publishes payload in dir the way the kubelet does, so a
// reader never sees half an update: the files go into a fresh
// "..<timestamp>" directory, the "..data" symlink is swapped to it with a
// rename, and each top-level name is a symlink through "..data". It
// reports whether anything changed.
func writeAtomic(dir string, payload map[string]fileProjection, now time.Time) (bool, error) {
	for p := range payload {
		if p == "" || filepath.IsAbs(p) || strings.HasPrefix(p, "..") || slices.Contains(strings.Split(p, "/"), "..") {
			return false, fmt.Errorf("invalid file path %q in volume", p)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, fmt.Errorf("create volume dir: %w", err)
	}
	oldTarget, _ := os.Readlink(filepath.Join(dir, dataDirName))
	if oldTarget != "" && payloadMatches(filepath.Join(dir, oldTarget), payload) {
		return false, nil
	}
	tsDir, err := os.MkdirTemp(dir, now.UTC().Format("..2006_01_02_15_04_05."))
	if err != nil {
		return false, fmt.Errorf("create timestamped dir: %w", err)
	}
	if err := os.Chmod(tsDir, 0o755); err != nil {
		return false, fmt.Errorf("chmod timestamped dir: %w", err)
	}
	for p, f := range payload {
		full := filepath.Join(tsDir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return false, fmt.Errorf("create dir for %s: %w", p, err)
		}
		if err := os.WriteFile(full, f.Data, os.FileMode(f.Mode)&0o777); err != nil {
			return false, fmt.Errorf("write %s: %w", p, err)
		}
		if err := os.Chmod(full, os.FileMode(f.Mode)&0o777); err != nil {
			return false, fmt.Errorf("chmod %s: %w", p, err)
		}
	}
	tmpLink := filepath.Join(dir, "..data_tmp")
	_ = os.Remove(tmpLink)
	if err := os.Symlink(filepath.Base(tsDir), tmpLink); err != nil {
		return false, fmt.Errorf("create data link: %w", err)
	}
	if err := os.Rename(tmpLink, filepath.Join(dir, dataDirName)); err != nil {
		return false, fmt.Errorf("swap data link: %w", err)
	}
	top := map[string]bool{}
	for p := range payload {
		top[strings.SplitN(p, "/", 2)[0]] = true
	}
	for name := range top {
		link := filepath.Join(dir, name)
		target := filepath.Join(dataDirName, name)
		if cur, err := os.Readlink(link); err == nil && cur == target {
			continue
		}
		_ = os.Remove(link)
		if err := os.Symlink(target, link); err != nil {
			return false, fmt.Errorf("link %s: %w", name, err)
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		name := e.Name()
		switch {
		case name == dataDirName || name == filepath.Base(tsDir):
		case strings.HasPrefix(name, ".."):
			_ = os.RemoveAll(filepath.Join(dir, name))
		case !top[name] && e.Type()&os.ModeSymlink != 0:
			_ = os.Remove(filepath.Join(dir, name))
		}
	}
	return true, nil
}

func payloadMatches(dir string, payload map[string]fileProjection) bool {
	n := 0
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, path)
		f, ok := payload[rel]
		if !ok {
			return fmt.Errorf("extra")
		}
		info, err := d.Info()
		if err != nil || info.Mode().Perm() != os.FileMode(f.Mode)&0o777 {
			return fmt.Errorf("mode")
		}
		data, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(data, f.Data) {
			return fmt.Errorf("data")
		}
		n++
		return nil
	})
	return err == nil && n == len(payload)
}
