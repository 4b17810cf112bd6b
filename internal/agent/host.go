package agent

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Host answers the facts about the machine the node reports. The real one
// reads /proc, cgroups and statfs; tests pass fixed answers.
type Host interface {
	// CPUMillis is the usable CPU: the cgroup quota if set, else all CPUs.
	CPUMillis() int64
	// MemoryBytes is the usable memory: the cgroup limit if lower than RAM.
	MemoryBytes() (int64, error)
	// DiskBytes is the size of the filesystem holding path.
	DiskBytes(path string) (int64, error)
	KernelVersion() string
	OSImage() string
	MachineID() string
	BootID() string
	Hostname() string
}

// RealHost reads the facts from this machine.
type RealHost struct{}

var _ Host = RealHost{}

func (RealHost) CPUMillis() int64 {
	n := int64(runtime.NumCPU()) * 1000
	if data, err := os.ReadFile("/sys/fs/cgroup/cpu.max"); err == nil {
		f := strings.Fields(string(data))
		if len(f) == 2 && f[0] != "max" {
			quota, err1 := strconv.ParseInt(f[0], 10, 64)
			period, err2 := strconv.ParseInt(f[1], 10, 64)
			if err1 == nil && err2 == nil && period > 0 {
				n = min(n, quota*1000/period)
			}
		}
	}
	return n
}

func (RealHost) MemoryBytes() (int64, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, fmt.Errorf("read meminfo: %w", err)
	}
	defer f.Close()
	var total int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse MemTotal: %w", err)
			}
			total = kb * 1024
		}
	}
	if data, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if lim, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64); err == nil && lim < total {
			total = lim
		}
	}
	return total, nil
}

func (RealHost) DiskBytes(path string) (int64, error) {
	for p := path; ; p = filepath.Dir(p) {
		var st syscall.Statfs_t
		if err := syscall.Statfs(p, &st); err == nil {
			return int64(st.Blocks) * int64(st.Bsize), nil
		} else if p == "/" || p == "." {
			return 0, fmt.Errorf("statfs %s: %w", path, err)
		}
	}
}

func (RealHost) KernelVersion() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return string(bytes.TrimRight(u.Release[:], "\x00"))
}

func (RealHost) OSImage() string {
	data, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return "Linux"
	}
	return osImage(string(data))
}

// osImage is PRETTY_NAME from an os-release file.
func osImage(osRelease string) string {
	for _, line := range strings.Split(osRelease, "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			if u, err := strconv.Unquote(v); err == nil {
				return u
			}
			return strings.Trim(v, `"'`)
		}
	}
	return "Linux"
}

func readTrim(path string) string {
	data, _ := os.ReadFile(path)
	return strings.TrimSpace(string(data))
}

func (RealHost) MachineID() string {
	if id := readTrim("/etc/machine-id"); id != "" {
		return id
	}
	return readTrim("/var/lib/dbus/machine-id")
}

func (RealHost) BootID() string { return readTrim("/proc/sys/kernel/random/boot_id") }

func (RealHost) Hostname() string {
	h, _ := os.Hostname()
	return strings.ToLower(h)
}

// RealMounter mounts tmpfs when running as root; otherwise memory-backed
// emptyDirs are plain directories (an unprivileged agent cannot mount).
type RealMounter struct{}

func (RealMounter) MountTmpfs(dir string, size int64) error {
	if os.Geteuid() != 0 || isMountPoint(dir) {
		return nil
	}
	opts := "mode=0777"
	if size > 0 {
		opts += ",size=" + strconv.FormatInt(size, 10)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, opts); err != nil {
		return fmt.Errorf("mount tmpfs on %s: %w", dir, err)
	}
	return nil
}

func (RealMounter) Unmount(dir string) error {
	if os.Geteuid() != 0 || !isMountPoint(dir) {
		return nil
	}
	if err := unix.Unmount(dir, 0); err != nil {
		return fmt.Errorf("unmount %s: %w", dir, err)
	}
	return nil
}

// isMountPoint compares devices of dir and its parent.
func isMountPoint(dir string) bool {
	var a, b unix.Stat_t
	if unix.Lstat(dir, &a) != nil || unix.Lstat(filepath.Dir(dir), &b) != nil {
		return false
	}
	return a.Dev != b.Dev
}
