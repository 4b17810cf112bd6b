// Package cli owns Gureum's command line: it parses flags into the
// configurations internal/node runs, and nothing more.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	httppprof "net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/klog/v2"

	"github.com/gureum/gureum/internal/node"
)

// Main runs the command line and returns the process exit code.
func Main(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRoot(os.Stdout, os.Stderr)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "gureum:", err)
		return 1
	}
	return 0
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	var logLevel string
	root := &cobra.Command{
		Use:           "gureum",
		Short:         "Gureum turns the Linux machines you own into a private cloud",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	logger := func() *slog.Logger {
		var lvl slog.Level
		if err := lvl.UnmarshalText([]byte(strings.ToUpper(logLevel))); err != nil {
			lvl = slog.LevelInfo
		}
		l := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
		// client-go and the Kubernetes libraries log through klog: one
		// log format, one level setting.
		klog.SetSlogLogger(l.With("component", "k8s"))
		return l
	}
	root.AddCommand(newServerCmd(logger), newUpCmd(stdout, logger), newImageCmd(stdout), newAgentCmd(logger), newSimulateCmd(logger))
	root.SetOut(stdout)
	root.SetErr(stderr)
	return root
}

func serverFlags(cmd *cobra.Command, cfg *node.ServerConfig) {
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", node.DefaultDataDir(), "directory for etcd data, certificates and kubeconfig")
	f.StringVar(&cfg.BindAddress, "bind-address", "0.0.0.0", "address the API server listens on")
	f.IntVar(&cfg.HTTPSPort, "https-port", 6443, "port of the Kubernetes API (HTTPS)")
	f.IntVar(&cfg.EtcdClientPort, "etcd-client-port", 2379, "port of the embedded etcd's client listener (127.0.0.1 only)")
	f.IntVar(&cfg.EtcdPeerPort, "etcd-peer-port", 2380, "port of the embedded etcd's peer listener")
	f.StringSliceVar(&cfg.EtcdEndpoints, "etcd-endpoints", nil, "use this external etcd cluster (comma-separated URLs) instead of the embedded one")
	f.DurationVar(&cfg.EtcdCompactionInterval, "etcd-compaction-interval", 5*time.Minute, "how often to compact etcd's history (resourceVersions older than one to two intervals answer 410 Expired); 0 turns compaction off")
	f.BoolVar(&cfg.DisableAgent, "disable-agent", false, "run only the control plane, no node agent on this machine")
	f.BoolVar(&cfg.CoreControllersOnly, "disable-controllers", false, "run no scheduler and no workload controllers (only those every namespace needs), for an external scheduler or to measure the API server alone")
	f.StringVar(&cfg.WriteKubeconfig, "write-kubeconfig", "", "also write the admin kubeconfig here (default DATA_DIR/kubeconfig.yaml)")
	f.StringVar(&cfg.ServiceCIDR, "service-cidr", "10.43.0.0/16", "range ClusterIPs are allocated from")
	f.StringVar(&cfg.ClusterCIDR, "cluster-cidr", node.DefaultClusterCIDR, "range pod addresses come from; each node gets a /24 of it")
	f.IntVar(&cfg.AgentPort, "agent-port", node.DefaultAgentPort, "port the local agent serves logs, exec and port-forward on")
	f.StringVar(&cfg.NodeName, "node-name", "", "name of the local node (default: the host name)")
	f.IntVar(&cfg.ClusterDNSPort, "cluster-dns-port", node.DefaultClusterDNSPort, "port cluster DNS listens on at this machine's address, behind the kube-dns Service")
	f.StringVar(&cfg.ClusterDomain, "cluster-domain", node.DefaultClusterDomain, "DNS domain of Services and pods")
	f.StringSliceVar(&cfg.LoadBalancerPool, "service-lb-pool", nil, "addresses for LoadBalancer Services: CIDRs, ranges a-b or IPs, comma-separated (default: the nodes' addresses)")
}

func newServerCmd(logger func() *slog.Logger) *cobra.Command {
	var cfg node.ServerConfig
	var cpuProfile, memProfile, pprofAddr string
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the control plane (API server, store, controllers) and, unless --disable-agent, a node agent",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Log = logger()
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return fmt.Errorf("create CPU profile: %w", err)
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return fmt.Errorf("start CPU profile: %w", err)
				}
				defer pprof.StopCPUProfile()
			}
			if memProfile != "" {
				defer writeHeapProfile(memProfile, cfg.Log)
			}
			if pprofAddr != "" {
				stop, err := servePprof(pprofAddr, cfg.Log)
				if err != nil {
					return err
				}
				defer stop()
			}
			return node.RunServer(cmd.Context(), cfg)
		},
	}
	serverFlags(cmd, &cfg)
	cmd.Flags().StringVar(&cpuProfile, "cpu-profile", "", "write a Go CPU profile of the whole server here until it stops (for benchmarks)")
	cmd.Flags().StringVar(&memProfile, "mem-profile", "", "write a Go heap profile here when the server stops (for footprint work)")
	cmd.Flags().StringVar(&pprofAddr, "pprof-address", "", "serve Go's /debug/pprof/ profiles on this address without authentication, e.g. 127.0.0.1:6060 (for performance work; keep it on loopback)")
	return cmd
}

// servePprof answers /debug/pprof/ on addr until stop is called, so a
// profile can be taken of one phase of a long run (an idle cluster, say)
// rather than of the whole process lifetime.
func servePprof(addr string, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for pprof on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", httppprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", httppprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", httppprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", httppprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", httppprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("pprof server stopped", "address", addr, "err", err)
		}
	}()
	log.Info("serving pprof", "address", ln.Addr().String())
	return func() { _ = srv.Close() }, nil
}

// writeHeapProfile records what the heap holds at exit, after a GC so the
// profile shows live memory.
func writeHeapProfile(path string, log *slog.Logger) {
	f, err := os.Create(path)
	if err != nil {
		log.Error("create heap profile failed", "path", path, "err", err)
		return
	}
	defer f.Close()
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		log.Error("write heap profile failed", "path", path, "err", err)
	}
}

func newUpCmd(stdout io.Writer, logger func() *slog.Logger) *cobra.Command {
	var cfg node.ServerConfig
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start a single-machine cloud with defaults and print how to use it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Log = logger()
			cfg.Ready = func(kubeconfig string) {
				fmt.Fprintf(stdout, `Gureum is up.

  Kubeconfig: %s

Next steps:
  export KUBECONFIG=%s
  kubectl get namespaces
  gureum image build --rootfs DIR --tag web:1 --entrypoint /bin/app   # push an image to the cluster
  kubectl create deployment web --image=web:1

Stop it with Ctrl-C; state is kept in %s.
`, kubeconfig, kubeconfig, cfg.DataDir)
			}
			return node.RunServer(cmd.Context(), cfg)
		},
	}
	serverFlags(cmd, &cfg)
	return cmd
}
