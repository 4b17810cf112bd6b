package servicelb_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/utils/clock"

	"github.com/gureum/gureum/internal/controller/servicelb"
	"github.com/gureum/gureum/internal/testenv"
)

// startController runs the controller until the returned stop is called
// (or the test ends).
func startController(t *testing.T, s *testenv.Server, pool []string) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := informers.NewSharedInformerFactory(s.Client, 0)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c := servicelb.New(s.Client, f, clock.RealClock{}, log, pool)
	done := make(chan struct{})
	go func() { _ = c.Run(ctx); close(done) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	return stop
}

func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func createLB(t *testing.T, s *testenv.Server, name, requested string) {
	t.Helper()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{
			Type:           corev1.ServiceTypeLoadBalancer,
			LoadBalancerIP: requested,
			Selector:       map[string]string{"app": name},
			Ports:          []corev1.ServicePort{{Port: 80}},
		},
	}
	if _, err := s.Client.CoreV1().Services("default").Create(context.Background(), svc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create service %s: %v", name, err)
	}
}

func ingressOf(t *testing.T, s *testenv.Server, name string) string {
	t.Helper()
	svc, err := s.Client.CoreV1().Services("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get service %s: %v", name, err)
	}
	var ips []string
	for _, in := range svc.Status.LoadBalancer.Ingress {
		ips = append(ips, in.IP)
	}
	return strings.Join(ips, ",")
}

func waitIngress(t *testing.T, s *testenv.Server, name, want string) {
	t.Helper()
	eventually(t, "ingress of "+name, func() error {
		if got := ingressOf(t, s, name); got != want {
			return fmt.Errorf("ingress %q, want %q", got, want)
		}
		return nil
	})
}

func createReadyNode(t *testing.T, s *testenv.Server, name, ip string) {
	t.Helper()
	ctx := context.Background()
	n, err := s.Client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue,
		LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}}
	if _, err := s.Client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestPoolAllocationReleaseAndRestart(t *testing.T) {
	s := testenv.Start(t)
	ctx := context.Background()
	svcs := s.Client.CoreV1().Services("default")
	createReadyNode(t, s, "node-a", "192.168.77.5")
	pool := []string{"10.200.0.0/30"} // 10.200.0.1 and 10.200.0.2
	stop := startController(t, s, pool)

	createLB(t, s, "one", "")
	waitIngress(t, s, "one", "10.200.0.1")
	createLB(t, s, "two", "")
	waitIngress(t, s, "two", "10.200.0.2")

	// The pool is exhausted: the third gets the node's address and a
	// warning says why.
	createLB(t, s, "three", "")
	waitIngress(t, s, "three", "192.168.77.5")
	eventually(t, "AllocationFailed event", func() error {
		evs, err := s.Client.CoreV1().Events("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		for _, e := range evs.Items {
			if e.InvolvedObject.Name == "three" && e.Reason == servicelb.ReasonAllocationFailed && e.Type == corev1.EventTypeWarning {
				return nil
			}
		}
		return fmt.Errorf("no warning event for three among %d events", len(evs.Items))
	})

	// Deleting one frees its address for three.
	if err := svcs.Delete(ctx, "one", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitIngress(t, s, "three", "10.200.0.1")

	// two stops being a LoadBalancer: status cleared, address freed for a
	// Service that asks for it by spec.loadBalancerIP.
	cur, err := svcs.Get(ctx, "two", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cur.Spec.Type = corev1.ServiceTypeClusterIP
	for i := range cur.Spec.Ports {
		cur.Spec.Ports[i].NodePort = 0
	}
	cur.Spec.ExternalTrafficPolicy = ""
	cur.Spec.AllocateLoadBalancerNodePorts = nil
	if _, err := svcs.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitIngress(t, s, "two", "")
	createLB(t, s, "four", "10.200.0.2")
	waitIngress(t, s, "four", "10.200.0.2")

	// A requested address outside the pool falls back to the nodes.
	createLB(t, s, "outside", "10.9.9.9")
	waitIngress(t, s, "outside", "192.168.77.5")

	// After a restart the table is rebuilt from the statuses: nobody
	// moves, and a new Service does not get a held address.
	stop()
	before := map[string]string{}
	for _, n := range []string{"three", "four"} {
		svc, err := svcs.Get(ctx, n, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		before[n] = svc.ResourceVersion
	}
	startController(t, s, pool)
	createLB(t, s, "five", "")
	waitIngress(t, s, "five", "192.168.77.5")
	for n, rv := range before {
		svc, err := svcs.Get(ctx, n, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if svc.ResourceVersion != rv {
			t.Errorf("%s rewritten after restart: ingress now %v", n, svc.Status.LoadBalancer.Ingress)
		}
	}
	waitIngress(t, s, "three", "10.200.0.1")
	waitIngress(t, s, "four", "10.200.0.2")
}

func TestNoPoolUsesReadyNodeAddresses(t *testing.T) {
	s := testenv.Start(t)
	ctx := context.Background()
	startController(t, s, nil)
	createLB(t, s, "web", "")
	createReadyNode(t, s, "node-b", "192.168.77.7")
	createReadyNode(t, s, "node-a", "192.168.77.6")
	waitIngress(t, s, "web", "192.168.77.6,192.168.77.7")

	// A node that stops being Ready drops out.
	n, err := s.Client.CoreV1().Nodes().Get(ctx, "node-b", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Status.Conditions[0].Status = corev1.ConditionFalse
	if _, err := s.Client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitIngress(t, s, "web", "192.168.77.6")

	out := s.MustKubectl(t, "", "get", "service", "web")
	if !strings.Contains(out, "192.168.77.6") {
		t.Errorf("kubectl get service web shows no EXTERNAL-IP:\n%s", out)
	}
}
