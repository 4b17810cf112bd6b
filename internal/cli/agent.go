package cli

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gureum/gureum/internal/node"
)

func newAgentCmd(logger func() *slog.Logger) *cobra.Command {
	var cfg node.AgentConfig
	var tokenFile string
	cmd := &cobra.Command{
		Use:   "agent --server URL --token-file FILE --ca-file CA",
		Short: "Join this machine to a Gureum cluster as a node that runs pods",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Log = logger()
			if cfg.Token == "" && tokenFile != "" {
				b, err := os.ReadFile(tokenFile)
				if err != nil {
					return fmt.Errorf("read the node token (copy the server's DATA_DIR/token): %w", err)
				}
				cfg.Token = strings.TrimSpace(string(b))
			}
			return node.RunAgent(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.ServerURL, "server", "", "URL of the Gureum server, e.g. https://10.0.0.1:6443")
	f.StringVar(&cfg.Token, "token", "", "node token (the server's DATA_DIR/token)")
	f.StringVar(&tokenFile, "token-file", "", "read the node token from this file instead of --token")
	f.StringVar(&cfg.CAFile, "ca-file", filepath.Join(node.DefaultDataDir(), "tls", "ca.crt"), "cluster CA certificate (the server's DATA_DIR/tls/ca.crt)")
	f.StringVar(&cfg.NodeName, "node-name", "", "name of this node (default: the host name)")
	f.StringVar(&cfg.NodeIP, "node-ip", "", "address other nodes and the server reach this node at (default: the default route's source address)")
	f.StringVar(&cfg.DataDir, "data-dir", filepath.Join(node.DefaultDataDir(), "agent"), "directory for containerd, pod volumes and logs")
	f.IntVar(&cfg.Port, "agent-port", node.DefaultAgentPort, "port serving logs, exec and port-forward to the API server")
	f.StringVar(&cfg.ClusterCIDR, "cluster-cidr", node.DefaultClusterCIDR, "the cluster's pod range (the server's --cluster-cidr); the service proxy masquerades traffic from outside it")
	f.StringSliceVar(&cfg.ClusterDNS, "cluster-dns", []string{"10.43.0.10"}, "cluster DNS addresses pods resolve through (the kube-dns Service's ClusterIP)")
	f.StringVar(&cfg.ClusterDomain, "cluster-domain", node.DefaultClusterDomain, "DNS domain of Services and pods")
	f.StringVar(&cfg.RuntimeEndpoint, "container-runtime-endpoint", "", "use this CRI runtime (unix socket) instead of starting Gureum's own containerd")
	return cmd
}
