package nodelifecycle_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/utils/clock"

	"github.com/gureum/gureum/internal/controller/nodelifecycle"
	"github.com/gureum/gureum/internal/testenv"
)

// startController runs the node lifecycle controller with a short grace
// period.
func startController(t *testing.T, s *testenv.Server, grace time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	factory := informers.NewSharedInformerFactory(s.Client, 0)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c := nodelifecycle.New(s.Client, factory, clock.RealClock{}, log, nodelifecycle.Options{GracePeriod: grace})
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
}

func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after 10s (%s)", what, detail)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func ready(status corev1.ConditionStatus) []corev1.NodeCondition {
	now := metav1.Now()
	return []corev1.NodeCondition{{Type: corev1.NodeReady, Status: status, Reason: "Test", LastHeartbeatTime: now, LastTransitionTime: now}}
}

func taintSet(n *corev1.Node) map[string]bool {
	m := map[string]bool{}
	for _, t := range n.Spec.Taints {
		m[t.Key+":"+string(t.Effect)] = true
	}
	return m
}

func podCond(p *corev1.Pod, t corev1.PodConditionType) corev1.ConditionStatus {
	for _, c := range p.Status.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}

func TestNotReadyTaintsAndEviction(t *testing.T) {
	s := testenv.Start(t)
	// A long grace period: this test is about what nodes report, not silence.
	startController(t, s, time.Hour)
	ctx := context.Background()
	nodes := s.Client.CoreV1().Nodes()
	pods := s.Client.CoreV1().Pods("default")

	if _, err := nodes.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Status: corev1.NodeStatus{Conditions: ready(corev1.ConditionTrue)}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	plain, err := pods.Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "plain"},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "x"}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// DefaultTolerationSeconds: the API server gave it 300s tolerations.
	defaults := 0
	for _, tol := range plain.Spec.Tolerations {
		if (tol.Key == corev1.TaintNodeNotReady || tol.Key == corev1.TaintNodeUnreachable) && tol.TolerationSeconds != nil && *tol.TolerationSeconds == 300 {
			defaults++
		}
	}
	if defaults != 2 {
		t.Errorf("pod tolerations = %+v, want the two 300s defaults", plain.Spec.Tolerations)
	}
	// Make it look running and ready, as a kubelet would.
	plain.Status.Phase = corev1.PodRunning
	plain.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	if _, err := pods.UpdateStatus(ctx, plain, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	// The kubelet reports NotReady: not-ready taints, pod marked not Ready,
	// but not evicted (it tolerates for 300s).
	n, _ := nodes.Get(ctx, "n1", metav1.GetOptions{})
	n.Status.Conditions = ready(corev1.ConditionFalse)
	if _, err := nodes.UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "not-ready taints", func() (bool, string) {
		n, _ := nodes.Get(ctx, "n1", metav1.GetOptions{})
		ts := taintSet(n)
		return ts["node.kubernetes.io/not-ready:NoExecute"] && ts["node.kubernetes.io/not-ready:NoSchedule"] && len(ts) == 2, fmt.Sprint(ts)
	})
	eventually(t, "pod marked not ready", func() (bool, string) {
		p, err := pods.Get(ctx, "plain", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return podCond(p, corev1.PodReady) == corev1.ConditionFalse, string(podCond(p, corev1.PodReady))
	})
	if p, _ := pods.Get(ctx, "plain", metav1.GetOptions{}); p.DeletionTimestamp != nil {
		t.Fatal("pod evicted despite its 300s toleration")
	}

	// Ready again: taints go.
	n, _ = nodes.Get(ctx, "n1", metav1.GetOptions{})
	n.Status.Conditions = ready(corev1.ConditionTrue)
	if _, err := nodes.UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "taints removed", func() (bool, string) {
		n, _ := nodes.Get(ctx, "n1", metav1.GetOptions{})
		return len(n.Spec.Taints) == 0, fmt.Sprint(taintSet(n))
	})

	// A user's NoExecute taint the pod does not tolerate evicts it now.
	s.MustKubectl(t, "", "taint", "node", "n1", "drain=yes:NoExecute")
	eventually(t, "pod evicted", func() (bool, string) {
		p, err := pods.Get(ctx, "plain", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, ""
		}
		if err != nil {
			return false, err.Error()
		}
		return p.DeletionTimestamp != nil && podCond(p, corev1.DisruptionTarget) == corev1.ConditionTrue, "still there"
	})
}

func TestSilentNodeBecomesUnknown(t *testing.T) {
	s := testenv.Start(t)
	startController(t, s, time.Second)
	ctx := context.Background()
	nodes := s.Client.CoreV1().Nodes()
	leases := s.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease)

	if _, err := nodes.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n2"}, Status: corev1.NodeStatus{Conditions: ready(corev1.ConditionTrue)}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	holder, dur, now := "n2", int32(1), metav1.NowMicro()
	lease, err := leases.Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "n2"},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &dur, RenewTime: &now}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// Renew for a while: longer than the grace period, still healthy.
	for range 6 {
		time.Sleep(300 * time.Millisecond)
		now := metav1.NowMicro()
		lease.Spec.RenewTime = &now
		if lease, err = leases.Update(ctx, lease, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := nodes.Get(ctx, "n2", metav1.GetOptions{}); len(n.Spec.Taints) != 0 {
		t.Fatalf("renewing node tainted: %v", n.Spec.Taints)
	}

	// Stop renewing: Unknown, unreachable taints, NodeNotReady event.
	eventually(t, "node unknown", func() (bool, string) {
		n, err := nodes.Get(ctx, "n2", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		ts := taintSet(n)
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				return c.Status == corev1.ConditionUnknown && c.Reason == "NodeStatusUnknown" &&
					ts["node.kubernetes.io/unreachable:NoExecute"] && ts["node.kubernetes.io/unreachable:NoSchedule"], fmt.Sprint(c.Status, ts)
			}
		}
		return false, "no Ready condition"
	})
	n, _ := nodes.Get(ctx, "n2", metav1.GetOptions{})
	if len(n.Status.Conditions) != 4 {
		t.Errorf("conditions = %+v, want Ready plus the three pressure conditions (never posted)", n.Status.Conditions)
	}
	for _, tt := range n.Spec.Taints {
		if tt.Effect == corev1.TaintEffectNoExecute && tt.TimeAdded == nil {
			t.Error("NoExecute taint without timeAdded")
		}
	}
	eventually(t, "NodeNotReady event", func() (bool, string) {
		evs, _ := s.Client.CoreV1().Events("").List(ctx, metav1.ListOptions{})
		for _, e := range evs.Items {
			if e.Reason == "NodeNotReady" && e.InvolvedObject.Name == "n2" {
				return true, ""
			}
		}
		return false, ""
	})
}
