// Package cni owns the CNI network configuration of a Gureum node: which
// plugins containerd's CRI plugin runs for every pod sandbox (a bridge with
// host-local IPAM over the node's pod CIDR, and portmap for hostPort), and
// installing that configuration into the conf dir containerd watches.
// containerd invokes the plugins; this package only chooses the config.
// Pods' egress masquerade is not here but in the service proxy's nftables
// table (one rule for the node instead of an iptables chain per pod).
package cni

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
)

// CNIVersion is the config version; containernetworking-plugins 1.1.1
// (Debian 12) and containerd 1.6's libcni both support it.
const CNIVersion = "1.0.0"

// ConfFileName is the name of the installed conflist. containerd loads
// only the first config in its conf dir in lexical order, so the prefix
// keeps ours first.
const ConfFileName = "10-gureum.conflist"

// Defaults of Config.NetworkName and Config.Bridge.
const (
	DefaultNetworkName = "gureum"
	DefaultBridge      = "gureum0"
)

// Config describes the node's pod network.
type Config struct {
	// NetworkName is the CNI network name; default DefaultNetworkName.
	NetworkName string
	// Bridge is the Linux bridge the pods attach to; default DefaultBridge.
	Bridge string
	// PodCIDR is the node's pod address range; the bridge takes its first
	// address as the pods' gateway.
	PodCIDR netip.Prefix
	// MTU of the bridge and veths; 0 lets the plugin choose (1500).
	MTU int
	// IPAMDataDir is where host-local records allocated addresses; empty
	// means the plugin's default, /var/lib/cni/networks.
	IPAMDataDir string
	// IPMasq has the bridge plugin masquerade pods' egress itself: an
	// iptables chain per pod, added under the xtables lock at every pod
	// start (about 1 s per 20 pods). Leave it false when the service
	// proxy masquerades pod egress (proxy.Config.MasqueradePodEgress),
	// as the agent does; set it only for a node without that proxy.
	IPMasq bool
}

type confList struct {
	CNIVersion string `json:"cniVersion"`
	Name       string `json:"name"`
	Plugins    []any  `json:"plugins"`
}

type bridgeConf struct {
	Type        string   `json:"type"`
	Bridge      string   `json:"bridge"`
	IsGateway   bool     `json:"isGateway"`
	IPMasq      bool     `json:"ipMasq"`
	HairpinMode bool     `json:"hairpinMode"`
	MTU         int      `json:"mtu,omitempty"`
	IPAM        ipamConf `json:"ipam"`
}

type ipamConf struct {
	Type    string        `json:"type"`
	Ranges  [][]rangeConf `json:"ranges"`
	Routes  []routeConf   `json:"routes"`
	DataDir string        `json:"dataDir,omitempty"`
}

type rangeConf struct {
	Subnet string `json:"subnet"`
}

type routeConf struct {
	Dst string `json:"dst"`
}

type portmapConf struct {
	Type         string          `json:"type"`
	Capabilities map[string]bool `json:"capabilities"`
}

// Render returns the conflist for cfg. It does no I/O.
func Render(cfg Config) ([]byte, error) {
	if !cfg.PodCIDR.IsValid() {
		return nil, fmt.Errorf("render CNI config: pod CIDR is not set")
	}
	prefix := cfg.PodCIDR.Masked()
	if prefix != cfg.PodCIDR {
		return nil, fmt.Errorf("render CNI config: pod CIDR %s has host bits set (did you mean %s?)", cfg.PodCIDR, prefix)
	}
	// host-local needs room for the gateway, at least one pod and, on
	// IPv4, the network and broadcast addresses.
	maxBits := prefix.Addr().BitLen() - 2
	if prefix.Bits() > maxBits {
		return nil, fmt.Errorf("render CNI config: pod CIDR %s is too small (want /%d or larger)", prefix, maxBits)
	}
	name := cfg.NetworkName
	if name == "" {
		name = DefaultNetworkName
	}
	bridge := cfg.Bridge
	if bridge == "" {
		bridge = DefaultBridge
	}
	if len(bridge) > 15 {
		return nil, fmt.Errorf("render CNI config: bridge name %q is longer than 15 bytes", bridge)
	}
	defaultRoute := "0.0.0.0/0"
	if prefix.Addr().Is6() {
		defaultRoute = "::/0"
	}
	list := confList{
		CNIVersion: CNIVersion,
		Name:       name,
		Plugins: []any{
			bridgeConf{
				Type:   "bridge",
				Bridge: bridge,
				// The bridge holds the gateway address so pods reach the
				// host and, through masquerading, everything beyond it.
				IsGateway: true,
				IPMasq:    cfg.IPMasq,
				// A pod reaching its own Service VIP is sent back out the
				// same veth after DNAT.
				HairpinMode: true,
				MTU:         cfg.MTU,
				IPAM: ipamConf{
					Type:    "host-local",
					Ranges:  [][]rangeConf{{{Subnet: prefix.String()}}},
					Routes:  []routeConf{{Dst: defaultRoute}},
					DataDir: cfg.IPAMDataDir,
				},
			},
			portmapConf{Type: "portmap", Capabilities: map[string]bool{"portMappings": true}},
		},
	}
	b, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("render CNI config: %w", err)
	}
	return append(b, '\n'), nil
}

// Install writes conflist into dir as ConfFileName atomically: containerd
// watches the directory and must never read a half-written file.
func Install(dir string, conflist []byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("install CNI config: %w", err)
	}
	final := filepath.Join(dir, ConfFileName)
	if cur, err := os.ReadFile(final); err == nil && string(cur) == string(conflist) {
		// Unchanged: a rewrite would only make containerd reload.
		return nil
	}
	// The temp name must not end in .conf/.conflist/.json, or containerd
	// could load it mid-write.
	tmp, err := os.CreateTemp(dir, ".gureum-cni-*.tmp")
	if err != nil {
		return fmt.Errorf("install CNI config: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(conflist); err != nil {
		tmp.Close()
		return fmt.Errorf("install CNI config: write: %w", err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("install CNI config: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("install CNI config: sync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("install CNI config: %w", err)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return fmt.Errorf("install CNI config: rename: %w", err)
	}
	return nil
}
