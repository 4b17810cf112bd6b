package simulate_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/utils/clock"

	"github.com/gureum/gureum/internal/controller/nodeipam"
	"github.com/gureum/gureum/internal/controller/nodelifecycle"
	"github.com/gureum/gureum/internal/simulate"
	"github.com/gureum/gureum/internal/testenv"
)

func testLog() *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("GUREUM_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// startControllers runs the controllers simulated nodes depend on: node
// IPAM and node lifecycle (with a grace period short enough for tests).
func startControllers(t *testing.T, s *testenv.Server, grace time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	factory := informers.NewSharedInformerFactory(s.Client, 0)
	_, cidr, _ := net.ParseCIDR(nodeipam.DefaultClusterCIDR)
	ipam := nodeipam.New(s.Client, factory, clock.RealClock{}, testLog(), cidr, nodeipam.DefaultNodeMaskSize)
	life := nodelifecycle.New(s.Client, factory, clock.RealClock{}, testLog(), nodelifecycle.Options{GracePeriod: grace})
	done := make(chan struct{}, 2)
	for _, run := range []func(context.Context) error{ipam.Run, life.Run} {
		go func() {
			if err := run(ctx); err != nil {
				t.Errorf("controller: %v", err)
			}
			done <- struct{}{}
		}()
	}
	t.Cleanup(func() {
		cancel()
		<-done
		<-done
	})
}

func startSimulator(t *testing.T, cfg simulate.Config) *simulate.Simulator {
	t.Helper()
	sim, err := simulate.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- sim.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("simulator: %v", err)
		}
	})
	select {
	case <-sim.Registered():
	case err := <-errc:
		t.Fatalf("simulator exited: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("nodes not registered after 30s")
	}
	return sim
}

// eventually polls cond every 25ms until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if detail != "" {
			last = detail
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %v (last: %s)", what, timeout, last)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func nodeReady(n *corev1.Node) (corev1.ConditionStatus, string) {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status, c.Reason
		}
	}
	return "", ""
}

func podCond(p *corev1.Pod, t corev1.PodConditionType) corev1.ConditionStatus {
	for _, c := range p.Status.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}

func hasTaint(n *corev1.Node, key string, effect corev1.TaintEffect) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == key && t.Effect == effect {
			return true
		}
	}
	return false
}

func TestSimulatedNodes(t *testing.T) {
	s := testenv.Start(t)
	startControllers(t, s, 3*time.Second)
	const count = 20
	sim := startSimulator(t, simulate.Config{
		Client:             s.Client,
		Count:              count,
		LeaseRenewInterval: 300 * time.Millisecond,
		LeaseDuration:      3 * time.Second,
		StatusInterval:     5 * time.Second,
		PodSucceedAfter:    300 * time.Millisecond,
		Log:                testLog(),
	})
	ctx := context.Background()
	nodes := s.Client.CoreV1().Nodes()
	pods := s.Client.CoreV1().Pods("default")

	t.Run("nodes ready with distinct pod CIDRs", func(t *testing.T) {
		eventually(t, 15*time.Second, "20 ready nodes with pod CIDRs", func() (bool, string) {
			list, err := nodes.List(ctx, metav1.ListOptions{LabelSelector: simulate.LabelSimulated + "=true"})
			if err != nil {
				return false, err.Error()
			}
			if len(list.Items) != count {
				return false, fmt.Sprintf("%d nodes", len(list.Items))
			}
			cidrs := map[string]string{}
			for _, n := range list.Items {
				if st, _ := nodeReady(&n); st != corev1.ConditionTrue {
					return false, n.Name + " not ready"
				}
				if n.Spec.PodCIDR == "" || len(n.Spec.PodCIDRs) != 1 || n.Spec.PodCIDRs[0] != n.Spec.PodCIDR {
					return false, n.Name + " has no pod CIDR"
				}
				if other, dup := cidrs[n.Spec.PodCIDR]; dup {
					t.Fatalf("nodes %s and %s share pod CIDR %s", other, n.Name, n.Spec.PodCIDR)
				}
				cidrs[n.Spec.PodCIDR] = n.Name
				if !strings.HasPrefix(n.Spec.PodCIDR, "10.42.") || !strings.HasSuffix(n.Spec.PodCIDR, "/24") {
					t.Errorf("node %s pod CIDR %s not a /24 of 10.42.0.0/16", n.Name, n.Spec.PodCIDR)
				}
				if n.Status.NodeInfo.KubeletVersion != "v1.33.13" || n.Labels["kubernetes.io/hostname"] != n.Name {
					t.Errorf("node %s: version %q labels %v", n.Name, n.Status.NodeInfo.KubeletVersion, n.Labels)
				}
			}
			return true, ""
		})
		out := s.MustKubectl(t, "", "get", "nodes", "-l", simulate.LabelSimulated+"=true", "--no-headers")
		if lines := strings.Count(strings.TrimSpace(out), "\n") + 1; lines != count || strings.Count(out, " Ready ") != count {
			t.Errorf("kubectl get nodes: want %d Ready rows:\n%s", count, out)
		}
	})

	t.Run("leases renew", func(t *testing.T) {
		leases := s.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
		first, err := leases.Get(ctx, "sim-0", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if *first.Spec.HolderIdentity != "sim-0" || *first.Spec.LeaseDurationSeconds != 3 || len(first.OwnerReferences) != 1 || first.OwnerReferences[0].Kind != "Node" {
			t.Errorf("lease = %+v", first.Spec)
		}
		eventually(t, 5*time.Second, "lease renewed", func() (bool, string) {
			l, err := leases.Get(ctx, "sim-0", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			return l.Spec.RenewTime.After(first.Spec.RenewTime.Time), ""
		})
		list, err := leases.List(ctx, metav1.ListOptions{})
		if err != nil || len(list.Items) < count {
			t.Errorf("leases: %d, %v", len(list.Items), err)
		}
	})

	t.Run("pod runs", func(t *testing.T) {
		node, err := nodes.Get(ctx, "sim-3", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, podNet, _ := net.ParseCIDR(node.Spec.PodCIDR)
		s.MustKubectl(t, `apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  nodeName: sim-3
  containers: [{name: web, image: "web:1"}]
`, "apply", "-f", "-")
		eventually(t, 10*time.Second, "pod web running and ready", func() (bool, string) {
			p, err := pods.Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			return p.Status.Phase == corev1.PodRunning && podCond(p, corev1.PodReady) == corev1.ConditionTrue, string(p.Status.Phase)
		})
		p, _ := pods.Get(ctx, "web", metav1.GetOptions{})
		if ip := net.ParseIP(p.Status.PodIP); ip == nil || !podNet.Contains(ip) {
			t.Errorf("pod IP %q not in node's pod CIDR %s", p.Status.PodIP, podNet)
		}
		if p.Status.HostIP == "" || p.Status.StartTime == nil || len(p.Status.ContainerStatuses) != 1 ||
			!strings.HasPrefix(p.Status.ContainerStatuses[0].ContainerID, "sim://") || p.Status.ContainerStatuses[0].State.Running == nil {
			t.Errorf("status = %+v", p.Status)
		}
		out := s.MustKubectl(t, "", "get", "pod", "web", "--no-headers")
		if f := strings.Fields(out); len(f) < 3 || f[1] != "1/1" || f[2] != "Running" {
			t.Errorf("kubectl get pod web: %q", out)
		}
	})

	t.Run("never-restart pod succeeds", func(t *testing.T) {
		_, err := pods.Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "job"},
			Spec: corev1.PodSpec{NodeName: "sim-4", RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{Name: "c", Image: "batch:1"}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "pod job succeeded", func() (bool, string) {
			p, err := pods.Get(ctx, "job", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			return p.Status.Phase == corev1.PodSucceeded, string(p.Status.Phase)
		})
		p, _ := pods.Get(ctx, "job", metav1.GetOptions{})
		if term := p.Status.ContainerStatuses[0].State.Terminated; term == nil || term.ExitCode != 0 || term.Reason != "Completed" {
			t.Errorf("container state = %+v", p.Status.ContainerStatuses[0].State)
		}
		out := s.MustKubectl(t, "", "get", "pod", "job", "--no-headers")
		if !strings.Contains(out, "Completed") {
			t.Errorf("kubectl get pod job: %q", out)
		}
	})

	t.Run("deleted pod goes away", func(t *testing.T) {
		s.MustKubectl(t, "", "delete", "pod", "web", "--wait=false")
		eventually(t, 10*time.Second, "pod web gone", func() (bool, string) {
			_, err := pods.Get(ctx, "web", metav1.GetOptions{})
			return apierrors.IsNotFound(err), fmt.Sprint(err)
		})
	})

	t.Run("lost node is tainted and its pods evicted", func(t *testing.T) {
		short, forever := int64(1), (*int64)(nil)
		for name, secs := range map[string]*int64{"victim": &short, "stayer": forever} {
			_, err := pods.Create(ctx, &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: name},
				Spec: corev1.PodSpec{NodeName: "sim-5", Containers: []corev1.Container{{Name: "c", Image: "web:1"}},
					Tolerations: []corev1.Toleration{
						{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: secs},
						{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: secs},
					}},
			}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
		}
		eventually(t, 10*time.Second, "pods on sim-5 running", func() (bool, string) {
			for _, name := range []string{"victim", "stayer"} {
				p, err := pods.Get(ctx, name, metav1.GetOptions{})
				if err != nil || podCond(p, corev1.PodReady) != corev1.ConditionTrue {
					return false, name + " not ready"
				}
			}
			return true, ""
		})

		if err := sim.SetNodeLost(ctx, "sim-5", true); err != nil {
			t.Fatal(err)
		}
		eventually(t, 15*time.Second, "sim-5 unknown and tainted", func() (bool, string) {
			n, err := nodes.Get(ctx, "sim-5", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			st, reason := nodeReady(n)
			return st == corev1.ConditionUnknown && reason == "NodeStatusUnknown" &&
				hasTaint(n, corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute) &&
				hasTaint(n, corev1.TaintNodeUnreachable, corev1.TaintEffectNoSchedule), fmt.Sprintf("ready=%s taints=%v", st, n.Spec.Taints)
		})
		n, _ := nodes.Get(ctx, "sim-5", metav1.GetOptions{})
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeMemoryPressure && c.Status != corev1.ConditionUnknown {
				t.Errorf("MemoryPressure = %s", c.Status)
			}
			if c.Type == corev1.NodeReady && c.Message != "Kubelet stopped posting node status." {
				t.Errorf("Ready message = %q", c.Message)
			}
		}
		if out := s.MustKubectl(t, "", "get", "node", "sim-5", "--no-headers"); !strings.Contains(out, "NotReady") {
			t.Errorf("kubectl get node sim-5: %q", out)
		}

		eventually(t, 10*time.Second, "victim evicted", func() (bool, string) {
			p, err := pods.Get(ctx, "victim", metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return true, ""
			}
			if err != nil {
				return false, err.Error()
			}
			return p.DeletionTimestamp != nil && podCond(p, corev1.DisruptionTarget) == corev1.ConditionTrue, "not deleted"
		})
		stayer, err := pods.Get(ctx, "stayer", metav1.GetOptions{})
		if err != nil || stayer.DeletionTimestamp != nil {
			t.Fatalf("stayer (tolerates forever) evicted: %v %+v", err, stayer.DeletionTimestamp)
		}
		if podCond(stayer, corev1.PodReady) != corev1.ConditionFalse {
			t.Errorf("stayer on a lost node still Ready")
		}
		eventually(t, 5*time.Second, "events recorded", func() (bool, string) {
			evs, err := s.Client.CoreV1().Events("").List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, err.Error()
			}
			seen := map[string]bool{}
			for _, e := range evs.Items {
				seen[e.Reason+"/"+e.InvolvedObject.Name] = true
			}
			return seen["NodeNotReady/sim-5"] && seen["TaintManagerEviction/victim"], fmt.Sprint(seen)
		})

		// Other nodes kept heartbeating.
		if n, err := nodes.Get(ctx, "sim-6", metav1.GetOptions{}); err != nil || hasTaint(n, corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute) {
			t.Errorf("sim-6 tainted too: %v %v", err, n.Spec.Taints)
		}

		// The node comes back: taints go, the evicted pod is finished off.
		if err := sim.SetNodeLost(ctx, "sim-5", false); err != nil {
			t.Fatal(err)
		}
		eventually(t, 15*time.Second, "sim-5 recovered", func() (bool, string) {
			n, err := nodes.Get(ctx, "sim-5", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			st, _ := nodeReady(n)
			return st == corev1.ConditionTrue && len(n.Spec.Taints) == 0, fmt.Sprintf("ready=%s taints=%v", st, n.Spec.Taints)
		})
		eventually(t, 10*time.Second, "victim removed, stayer ready", func() (bool, string) {
			_, err := pods.Get(ctx, "victim", metav1.GetOptions{})
			if !apierrors.IsNotFound(err) {
				return false, "victim still there"
			}
			p, err := pods.Get(ctx, "stayer", metav1.GetOptions{})
			return err == nil && podCond(p, corev1.PodReady) == corev1.ConditionTrue, "stayer not ready"
		})
	})
}
