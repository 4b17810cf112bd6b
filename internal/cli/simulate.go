package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/gureum/gureum/internal/node"
	"github.com/gureum/gureum/internal/simulate"
)

// newSimulateCmd is `gureum simulate`: hollow nodes for scale tests.
func newSimulateCmd(logger func() *slog.Logger) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "simulate",
		Short: "Simulate cluster members for scale tests (hollow nodes, like kwok)",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newSimulateNodesCmd(logger))
	return cmd
}

func newSimulateNodesCmd(logger func() *slog.Logger) *cobra.Command {
	var (
		cfg        simulate.Config
		kubeconfig string
		qps        float32
		burst      int
	)
	cmd := &cobra.Command{
		Use:   "nodes --count N",
		Short: "Register N simulated nodes that heartbeat and report their pods Running without running containers",
		Long: `Register N simulated nodes that heartbeat and report their pods Running without running containers.

The nodes carry the label node.gureum.io/simulated=true. Pods bound to them
become Running and Ready; pods with restartPolicy Never or OnFailure become
Succeeded after --pod-succeed-after. The nodes stay registered when this
command stops (as with kwok) unless --delete-on-exit is given; remove them
later with:  kubectl delete nodes -l node.gureum.io/simulated=true`,
		Example: `  gureum simulate nodes --count 100
  gureum simulate nodes --count 1000 --name-prefix big- --cpu 32 --memory 128Gi --kubeconfig ~/.kube/config`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.Count < 1 {
				return errors.New("--count is required: how many nodes to simulate, e.g. --count 100")
			}
			path, err := findKubeconfig(kubeconfig)
			if err != nil {
				return err
			}
			rc, err := clientcmd.BuildConfigFromFlags("", path)
			if err != nil {
				return fmt.Errorf("load kubeconfig %s (check the file, or pass another with --kubeconfig): %w", path, err)
			}
			// Thousands of nodes heartbeat through this one client.
			rc.QPS, rc.Burst = qps, burst
			rc.UserAgent = "gureum-simulate"
			rc.ContentConfig = node.ProtobufContent
			client, err := kubernetes.NewForConfig(rc)
			if err != nil {
				return fmt.Errorf("build client from %s: %w", path, err)
			}
			cfg.Client = client
			cfg.Log = logger().With("component", "simulate")
			sim, err := simulate.New(cfg)
			if err != nil {
				return err
			}
			if _, err := client.Discovery().ServerVersion(); err != nil {
				return fmt.Errorf("cannot reach the API server at %s (from %s): %w\nstart one with `gureum up`, or pass --kubeconfig for a running cluster", rc.Host, path, err)
			}
			out := cmd.OutOrStdout()
			go func() {
				select {
				case <-sim.Registered():
				case <-cmd.Context().Done():
					return
				}
				names := sim.NodeNames()
				fmt.Fprintf(out, "Simulating %d nodes (%s … %s) on %s.\n", len(names), names[0], names[len(names)-1], rc.Host)
				fmt.Fprintf(out, "  kubectl get nodes -l %s=true\n", simulate.LabelSimulated)
				if cfg.DeleteOnExit {
					fmt.Fprintln(out, "Stop with Ctrl-C; the nodes are deleted then.")
				} else {
					fmt.Fprintf(out, "Stop with Ctrl-C; the nodes stay registered (delete them with: kubectl delete nodes -l %s=true).\n", simulate.LabelSimulated)
				}
			}()
			err = sim.Run(cmd.Context())
			switch {
			case err == nil:
				return nil
			case cmd.Context().Err() != nil && errors.Is(err, context.Canceled):
				return nil // stopped by Ctrl-C while registering
			case apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err):
				return fmt.Errorf("simulate nodes: %w\nthe kubeconfig's user may not write nodes, leases or pod status: use the server's admin kubeconfig", err)
			default:
				return fmt.Errorf("simulate nodes: %w", err)
			}
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Count, "count", 0, "how many nodes to simulate (required)")
	f.StringVar(&cfg.NamePrefix, "name-prefix", simulate.DefaultNamePrefix, "node names are this prefix followed by 0, 1, 2, …")
	f.StringVar(&cfg.CPU, "cpu", simulate.DefaultCPU, "CPU capacity of each node (a quantity: 8, 500m)")
	f.StringVar(&cfg.Memory, "memory", simulate.DefaultMemory, "memory capacity of each node (a quantity: 32Gi)")
	f.IntVar(&cfg.MaxPods, "max-pods", simulate.DefaultMaxPods, "pods capacity of each node")
	f.DurationVar(&cfg.PodSucceedAfter, "pod-succeed-after", simulate.DefaultPodSucceedAfter, "how long pods with restartPolicy Never/OnFailure run before they succeed (negative: never)")
	f.BoolVar(&cfg.DeleteOnExit, "delete-on-exit", false, "delete the nodes and their leases when stopped")
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of the cluster (default $KUBECONFIG, then the local server's admin kubeconfig)")
	f.IntVar(&cfg.Concurrency, "concurrency", simulate.DefaultConcurrency, "API writes in flight at once, over all the nodes")
	f.Float32Var(&qps, "qps", 1000, "client-side limit on API requests per second")
	f.IntVar(&burst, "burst", 2000, "client-side burst of API requests")
	return cmd
}

// findKubeconfig picks --kubeconfig, then $KUBECONFIG, then the admin
// kubeconfig a local `gureum server` writes.
func findKubeconfig(flag string) (string, error) {
	if flag != "" {
		if _, err := os.Stat(flag); err != nil {
			return "", fmt.Errorf("kubeconfig %s: %w (pass the path of an existing file to --kubeconfig)", flag, err)
		}
		return flag, nil
	}
	if env := os.Getenv("KUBECONFIG"); env != "" {
		// KUBECONFIG may list several files; use the first that exists.
		for _, p := range filepath.SplitList(env) {
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
		}
		return "", fmt.Errorf("KUBECONFIG=%s names no existing file: fix it, or pass --kubeconfig", env)
	}
	local := filepath.Join(node.DefaultDataDir(), "kubeconfig.yaml")
	if _, err := os.Stat(local); err == nil {
		return local, nil
	}
	return "", fmt.Errorf("no kubeconfig found (looked at --kubeconfig, $KUBECONFIG and %s): start a local server with `gureum up`, or pass --kubeconfig", local)
}
