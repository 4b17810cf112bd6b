package containerd

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// DefaultCNIBinDirs are searched in order for the CNI plugins. containerd
// 1.6 takes a single bin_dir, so the first directory holding every plugin
// Gureum uses wins: Debian's package first, then the upstream location.
var DefaultCNIBinDirs = []string{"/usr/lib/cni", "/opt/cni/bin"}

// requiredCNIPlugins are the plugins the node's conflist names plus the
// loopback plugin containerd runs for every sandbox.
var requiredCNIPlugins = []string{"bridge", "host-local", "portmap", "loopback"}

// ProbeHost inspects the machine: cgroup layout, init system, whether
// overlayfs mounts work under workDir, and where the CNI plugins are.
func ProbeHost(workDir string, cniBinDirs []string) (Host, error) {
	var h Host
	// cgroup.controllers exists only at the root of a cgroup v2 hierarchy
	// mounted at /sys/fs/cgroup; hybrid v1 machines mount it elsewhere.
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		h.CgroupV2 = true
	}
	h.CgroupDriver = CgroupDriverCgroupfs
	// sd_booted(3): systemd is the init system iff this directory exists.
	if fi, err := os.Stat("/run/systemd/system"); err == nil && fi.IsDir() {
		h.CgroupDriver = CgroupDriverSystemd
	}
	ok, err := overlayWorks(workDir)
	if err != nil {
		return Host{}, err
	}
	h.Snapshotter = "native"
	if ok {
		h.Snapshotter = "overlayfs"
	}
	h.CNIBinDir, err = findCNIBinDir(cniBinDirs)
	if err != nil {
		return Host{}, err
	}
	return h, nil
}

func findCNIBinDir(dirs []string) (string, error) {
	for _, dir := range dirs {
		complete := true
		for _, p := range requiredCNIPlugins {
			fi, err := os.Stat(filepath.Join(dir, p))
			if err != nil || fi.Mode()&0o111 == 0 {
				complete = false
				break
			}
		}
		if complete {
			return dir, nil
		}
	}
	return "", fmt.Errorf("find CNI plugins %v in %v: not found; install containernetworking-plugins", requiredCNIPlugins, dirs)
}

// overlayWorks tries the mount containerd's overlayfs snapshotter would
// do, on the filesystem that will hold the snapshots: overlay on top of
// overlay or on some network filesystems fails, and containerd would then
// refuse to start the CRI plugin.
func overlayWorks(workDir string) (bool, error) {
	if err := os.MkdirAll(workDir, 0o711); err != nil {
		return false, fmt.Errorf("probe overlayfs: %w", err)
	}
	dir, err := os.MkdirTemp(workDir, "overlay-probe-")
	if err != nil {
		return false, fmt.Errorf("probe overlayfs: %w", err)
	}
	defer os.RemoveAll(dir)
	for _, d := range []string{"lower", "upper", "work", "merged"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			return false, fmt.Errorf("probe overlayfs: %w", err)
		}
	}
	merged := filepath.Join(dir, "merged")
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s",
		filepath.Join(dir, "lower"), filepath.Join(dir, "upper"), filepath.Join(dir, "work"))
	if err := syscall.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		if errors.Is(err, syscall.EPERM) {
			return false, fmt.Errorf("probe overlayfs: %w (containerd must run as root)", err)
		}
		return false, nil
	}
	if err := syscall.Unmount(merged, 0); err != nil {
		return true, fmt.Errorf("probe overlayfs: unmount: %w", err)
	}
	return true, nil
}
