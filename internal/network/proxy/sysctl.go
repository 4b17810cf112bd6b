package proxy

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// EnableKernelSettings sets the sysctls service proxying needs in the
// caller's network namespace: IPv4 forwarding, and, when br_netfilter is
// loaded, passing bridged IPv4 traffic through netfilter so that replies
// between pods on one bridge are un-NATed. The agent calls it once before
// running the proxy.
func EnableKernelSettings() error { return enableSysctls("/proc/sys") }

func enableSysctls(root string) error {
	required := map[string]string{"net/ipv4/ip_forward": "1"}
	optional := map[string]string{"net/bridge/bridge-nf-call-iptables": "1"}
	for key, val := range required {
		if err := writeSysctl(root, key, val); err != nil {
			return err
		}
	}
	for key, val := range optional {
		// Absent until br_netfilter is loaded; loading modules is not ours.
		if err := writeSysctl(root, key, val); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

func writeSysctl(root, key, val string) error {
	path := filepath.Join(root, key)
	cur, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read sysctl %s: %w", strings.ReplaceAll(key, "/", "."), err)
	}
	if strings.TrimSpace(string(cur)) == val {
		return nil
	}
	if err := os.WriteFile(path, []byte(val), 0o644); err != nil {
		return fmt.Errorf("set sysctl %s=%s (run the agent as root): %w", strings.ReplaceAll(key, "/", "."), val, err)
	}
	return nil
}
