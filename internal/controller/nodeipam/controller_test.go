package nodeipam_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/utils/clock"

	"github.com/gureum/gureum/internal/controller/nodeipam"
	"github.com/gureum/gureum/internal/testenv"
)

// startController runs the node IPAM controller over cidr.
func startController(t *testing.T, s *testenv.Server, cidr string, mask int) {
	t.Helper()
	_, n, err := net.ParseCIDR(cidr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	factory := informers.NewSharedInformerFactory(s.Client, 0)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c := nodeipam.New(s.Client, factory, clock.RealClock{}, log, n, mask)
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

func TestNodeIPAM(t *testing.T) {
	s := testenv.Start(t)
	ctx := context.Background()
	nodes := s.Client.CoreV1().Nodes()
	create := func(name, cidr string) {
		t.Helper()
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if cidr != "" {
			n.Spec.PodCIDR, n.Spec.PodCIDRs = cidr, []string{cidr}
		}
		if _, err := nodes.Create(ctx, n, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	cidrOf := func(name string) string {
		n, err := nodes.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return "error: " + err.Error()
		}
		if n.Spec.PodCIDR == "" && len(n.Spec.PodCIDRs) == 0 {
			return ""
		}
		if len(n.Spec.PodCIDRs) != 1 || n.Spec.PodCIDRs[0] != n.Spec.PodCIDR {
			return fmt.Sprintf("inconsistent %q %v", n.Spec.PodCIDR, n.Spec.PodCIDRs)
		}
		return n.Spec.PodCIDR
	}

	// A node that already holds a block before the controller starts:
	// the table is rebuilt from it, so nobody else gets it.
	create("pre", "10.99.0.0/24")
	startController(t, s, "10.99.0.0/23", 24)
	create("a", "")
	eventually(t, "a gets the free block", func() (bool, string) { c := cidrOf("a"); return c == "10.99.1.0/24", c })

	// Exhausted: b waits, with a warning event.
	create("b", "")
	eventually(t, "CIDRNotAvailable event", func() (bool, string) {
		evs, err := s.Client.CoreV1().Events("").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, e := range evs.Items {
			if e.Reason == "CIDRNotAvailable" && e.InvolvedObject.Name == "b" && e.Type == corev1.EventTypeWarning {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d events", len(evs.Items))
	})
	if c := cidrOf("b"); c != "" {
		t.Fatalf("b got %s from an exhausted range", c)
	}

	// Deleting a node releases its block to the waiting one.
	if err := nodes.Delete(ctx, "pre", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b gets the released block", func() (bool, string) { c := cidrOf("b"); return c == "10.99.0.0/24", c })
	if c := cidrOf("a"); c != "10.99.1.0/24" {
		t.Errorf("a's CIDR changed to %s", c)
	}
}
