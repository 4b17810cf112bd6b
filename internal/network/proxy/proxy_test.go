package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// flakyApplier fails the first n applies, then records.
type flakyApplier struct {
	FakeApplier
	mu    sync.Mutex
	fails int
}

func (f *flakyApplier) Apply(ctx context.Context, rs Ruleset) error {
	f.mu.Lock()
	if f.fails > 0 {
		f.fails--
		f.mu.Unlock()
		return errors.New("netlink: resource busy")
	}
	f.mu.Unlock()
	return f.FakeApplier.Apply(ctx, rs)
}

func runProxy(t *testing.T, client *fake.Clientset, a Applier) *Proxy {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	_, cidr, _ := net.ParseCIDR("10.42.0.0/16")
	p := New(Config{
		Client: client, NodeName: "node-1", NodeIPs: []net.IP{net.ParseIP("192.168.1.10")}, ClusterCIDR: cidr,
		Applier: a, RetryDelay: 50 * time.Millisecond,
		Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError + 1})),
	})
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-p.Synced():
	case <-time.After(10 * time.Second):
		t.Fatal("no first sync")
	}
	return p
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestProxyFollowsAPI(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1"}, Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{
		{Type: corev1.NodeInternalIP, Address: "192.168.1.11"}, {Type: corev1.NodeHostName, Address: "node-1"}}}}
	other := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-2"}, Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{
		{Type: corev1.NodeInternalIP, Address: "192.168.1.99"}}}}
	client := fake.NewSimpleClientset(node, other, service("default", "web", "10.43.0.10"),
		slice("default", "web", "web-1", 8080, corev1.ProtocolTCP, "http", ep{ip: "10.42.0.5"}))
	fa := &FakeApplier{}
	p := runProxy(t, client, fa)

	last, _ := fa.Last()
	text := last.String()
	for _, want := range []string{"10.43.0.10 . tcp . 80", "dnat to 10.42.0.5:8080", "192.168.1.10,", "192.168.1.11,"} {
		if !strings.Contains(text, want) {
			t.Errorf("first sync lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "192.168.1.99") {
		t.Error("another node's address answers NodePorts here")
	}

	// A burst of changes is coalesced into far fewer syncs.
	_, before := p.LastApplied()
	ctx := context.Background()
	for i := 0; i < 20; i++ {
		_, err := client.CoreV1().Services("default").Create(ctx, service("default", fmt.Sprintf("s%02d", i), fmt.Sprintf("10.43.1.%d", i)), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "all 20 services programmed", func() bool {
		rs, _ := fa.Last()
		return strings.Contains(rs.String(), "10.43.1.19 . tcp . 80")
	})
	if _, after := p.LastApplied(); after-before >= 20 {
		t.Errorf("20 quick changes caused %d syncs; want them coalesced", after-before)
	}

	// Endpoint removal and service deletion reach the rules.
	empty := slice("default", "web", "web-1", 8080, corev1.ProtocolTCP, "http")
	if _, err := client.DiscoveryV1().EndpointSlices("default").Update(ctx, empty, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "web rejected without endpoints", func() bool {
		rs, _ := fa.Last()
		return strings.Contains(rs.String(), "10.43.0.10 . tcp . 80 : goto reject-chain")
	})
	if err := client.CoreV1().Services("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "web gone", func() bool {
		rs, _ := fa.Last()
		return !strings.Contains(rs.String(), "10.43.0.10")
	})
}

func TestProxyRetriesFailedApply(t *testing.T) {
	client := fake.NewSimpleClientset(service("default", "web", "10.43.0.10"))
	fa := &flakyApplier{fails: 2}
	runProxy(t, client, fa) // Synced only closes after a successful apply
	if n := len(fa.Applied()); n < 1 {
		t.Fatalf("applied %d times", n)
	}
}

func TestProxyRequiresClientAndApplier(t *testing.T) {
	if err := New(Config{}).Run(context.Background()); err == nil {
		t.Fatal("Run without Client/Applier succeeded")
	}
}

func TestEnableSysctls(t *testing.T) {
	root := t.TempDir()
	write := func(key, val string) {
		p := filepath.Join(root, key)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(val), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	read := func(key string) string {
		b, err := os.ReadFile(filepath.Join(root, key))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	// Without br_netfilter only forwarding is set.
	write("net/ipv4/ip_forward", "0\n")
	if err := enableSysctls(root); err != nil {
		t.Fatal(err)
	}
	if read("net/ipv4/ip_forward") != "1" {
		t.Fatal("ip_forward not enabled")
	}
	write("net/bridge/bridge-nf-call-iptables", "0\n")
	if err := enableSysctls(root); err != nil {
		t.Fatal(err)
	}
	if read("net/bridge/bridge-nf-call-iptables") != "1" {
		t.Fatal("bridge-nf-call-iptables not enabled")
	}
	if err := enableSysctls(t.TempDir()); err == nil {
		t.Fatal("missing ip_forward went unnoticed")
	}
}
