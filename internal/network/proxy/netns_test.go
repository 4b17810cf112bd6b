package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// testNet is a node namespace routing to two pod namespaces and to an
// "external" client namespace:
//
//	ext 192.168.77.2 --- 192.168.77.1 node 10.42.0.1 --- 10.42.0.2 pod1
//	                                       10.42.0.5 --- 10.42.0.6 pod2
//
// Everything happens in namespaces created here; the host's rules are
// never touched.
type testNet struct {
	prefix                string
	node, pod1, pod2, ext netns.NsHandle
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test creates network namespaces and nftables rules: run it as root (CI does)")
	}
}

func newNamedNS(t *testing.T, name string) netns.NsHandle {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	_ = netns.DeleteNamed(name) // leftover of a killed run
	ns, err := netns.NewNamed(name)
	if err != nil {
		t.Fatalf("create netns %s: %v", name, err)
	}
	if err := netns.Set(orig); err != nil {
		t.Fatalf("return to original netns: %v", err)
	}
	t.Cleanup(func() {
		ns.Close()
		_ = netns.DeleteNamed(name)
	})
	return ns
}

// inNS runs f on a thread inside ns. Sockets created there stay in ns.
func inNS(ns netns.NsHandle, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			errc <- err
			return
		}
		ferr := f()
		if err := netns.Set(orig); err == nil {
			runtime.UnlockOSThread()
		} // else: the thread dies with the goroutine, still locked.
		errc <- ferr
	}()
	return <-errc
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// linkUp sets the link called name up in h's namespace, with cidrs.
func linkUp(t *testing.T, h *netlink.Handle, name string, cidrs ...string) netlink.Link {
	t.Helper()
	l, err := h.LinkByName(name)
	must(t, err)
	for _, c := range cidrs {
		a, err := netlink.ParseAddr(c)
		must(t, err)
		must(t, h.AddrAdd(l, a))
	}
	must(t, h.LinkSetUp(l))
	return l
}

func setupNet(t *testing.T) *testNet {
	requireRoot(t)
	p := fmt.Sprintf("gpt%d-", os.Getpid())
	n := &testNet{prefix: p}
	n.node = newNamedNS(t, p+"node")
	n.pod1 = newNamedNS(t, p+"pod1")
	n.pod2 = newNamedNS(t, p+"pod2")
	n.ext = newNamedNS(t, p+"ext")

	nodeH, err := netlink.NewHandleAt(n.node)
	must(t, err)
	defer nodeH.Close()
	peer := func(ns netns.NsHandle, nodeSide, nodeCIDR, peerCIDR, gw string) {
		must(t, nodeH.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: nodeSide}, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(ns))}))
		linkUp(t, nodeH, nodeSide, nodeCIDR)
		h, err := netlink.NewHandleAt(ns)
		must(t, err)
		defer h.Close()
		linkUp(t, h, "lo")
		l := linkUp(t, h, "eth0", peerCIDR)
		must(t, h.RouteAdd(&netlink.Route{LinkIndex: l.Attrs().Index, Gw: net.ParseIP(gw)}))
	}
	linkUp(t, nodeH, "lo")
	peer(n.pod1, "vp1", "10.42.0.1/30", "10.42.0.2/30", "10.42.0.1")
	peer(n.pod2, "vp2", "10.42.0.5/30", "10.42.0.6/30", "10.42.0.5")
	peer(n.ext, "vx", "192.168.77.1/24", "192.168.77.2/24", "192.168.77.1")
	vx, err := nodeH.LinkByName("vx")
	must(t, err)
	// A default route, as real nodes have: service IPs without endpoints
	// are routed (and then rejected), not unreachable.
	must(t, nodeH.RouteAdd(&netlink.Route{LinkIndex: vx.Attrs().Index, Gw: net.ParseIP("192.168.77.2")}))
	must(t, inNS(n.node, EnableKernelSettings))

	serve(t, n.pod1, "pod1")
	serve(t, n.pod2, "pod2")
	return n
}

// serve answers every connection on :8080 with "name clientIP".
func serve(t *testing.T, ns netns.NsHandle, name string) {
	var l net.Listener
	must(t, inNS(ns, func() (err error) {
		l, err = net.Listen("tcp4", "0.0.0.0:8080")
		return err
	}))
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
			fmt.Fprintf(c, "%s %s\n", name, host)
			c.Close()
		}
	}()
}

// dial connects from ns and returns the server's answer.
func dial(ns netns.NsHandle, addr string) (string, error) {
	var c net.Conn
	if err := inNS(ns, func() (err error) {
		c, err = net.DialTimeout("tcp4", addr, 3*time.Second)
		return err
	}); err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (n *testNet) nftList(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", n.prefix+"node", "nft", "list", "table", "ip", TableName).CombinedOutput()
	if err != nil {
		t.Fatalf("nft list table: %v\n%s", err, out)
	}
	return string(out)
}

func webSlice(ips ...string) *discoveryv1.EndpointSlice {
	var eps []ep
	for _, ip := range ips {
		eps = append(eps, ep{ip: ip, node: "node-1"})
	}
	return slice("default", "web", "web-1", 8080, corev1.ProtocolTCP, "http", eps...)
}

func startProxy(t *testing.T, ctx context.Context, n *testNet, client *fake.Clientset) (*Proxy, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	_, cidr, _ := net.ParseCIDR("10.42.0.0/16")
	p := New(Config{
		Client:   client,
		NodeName: "node-1",
		// The loopback address must be ignored (nodeport-on-loopback).
		NodeIPs:     []net.IP{net.ParseIP("192.168.77.1"), net.ParseIP("127.0.0.1")},
		ClusterCIDR: cidr,
		Applier:     &NFTApplier{NetNSFd: int(n.node)},
		Log:         slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("proxy Run: %v", err)
		}
	})
	select {
	case <-p.Synced():
	case err := <-done:
		t.Fatalf("proxy stopped before first sync: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("proxy did not sync within 10s")
	}
	return p, cancel
}

func TestProxyInNetworkNamespaces(t *testing.T) {
	n := setupNet(t)
	ctx := context.Background()

	// Stale rules from an "earlier run" must vanish on the first sync.
	stale := Compute([]*corev1.Service{service("old", "gone", "10.43.9.9")},
		[]*discoveryv1.EndpointSlice{slice("old", "gone", "gone-1", 8080, corev1.ProtocolTCP, "http", ep{ip: "10.42.0.2"})}, NodeInfo{})
	must(t, (&NFTApplier{NetNSFd: int(n.node)}).Apply(ctx, stale))
	if !strings.Contains(n.nftList(t), "10.43.9.9") {
		t.Fatal("stale ruleset was not applied")
	}

	web := service("default", "web", "10.43.0.10", nodePort(30080))
	empty := service("default", "empty", "10.43.0.11", nodePort(30081))
	self := service("default", "self", "10.43.0.12")
	sticky := service("default", "sticky", "10.43.0.13", func(s *corev1.Service) {
		s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
	})
	client := fake.NewSimpleClientset(web, empty, self, sticky,
		webSlice("10.42.0.2", "10.42.0.6"),
		slice("default", "self", "self-1", 8080, corev1.ProtocolTCP, "http", ep{ip: "10.42.0.2"}),
		slice("default", "sticky", "sticky-1", 8080, corev1.ProtocolTCP, "http", ep{ip: "10.42.0.2"}, ep{ip: "10.42.0.6"}),
	)
	startProxy(t, ctx, n, client)
	if strings.Contains(n.nftList(t), "10.43.9.9") {
		t.Fatal("first sync left the stale service's rules")
	}

	t.Run("clusterip-from-node-spreads", func(t *testing.T) {
		seen := map[string]int{}
		for i := 0; i < 60; i++ {
			got, err := dial(n.node, "10.43.0.10:80")
			if err != nil {
				t.Fatalf("connection %d to ClusterIP: %v", i, err)
			}
			seen[strings.Fields(got)[0]]++
		}
		if seen["pod1"] < 10 || seen["pod2"] < 10 {
			t.Fatalf("uneven spread over 60 connections: %v", seen)
		}
	})
	t.Run("clusterip-from-pod", func(t *testing.T) {
		for i := 0; i < 10; i++ {
			if _, err := dial(n.pod2, "10.43.0.10:80"); err != nil {
				t.Fatalf("pod2 -> ClusterIP: %v", err)
			}
		}
	})
	t.Run("nodeport-from-outside-is-masqueraded", func(t *testing.T) {
		for i := 0; i < 10; i++ {
			got, err := dial(n.ext, "192.168.77.1:30080")
			if err != nil {
				t.Fatalf("ext -> NodePort: %v", err)
			}
			if f := strings.Fields(got); len(f) != 2 || f[1] == "192.168.77.2" {
				t.Fatalf("pod saw %q: the outside client's address was not masqueraded", got)
			}
		}
	})
	t.Run("nodeport-on-loopback-refused", func(t *testing.T) {
		// kube-proxy's nftables mode never serves NodePorts on 127.0.0.1:
		// DNAT would leave a loopback source the kernel then drops, and
		// the client would hang. Nothing matches; the port is closed.
		start := time.Now()
		_, err := dial(n.node, "127.0.0.1:30080")
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("node -> 127.0.0.1:30080: got %v, want connection refused", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("refusal took %s", d)
		}
		if got, err := dial(n.node, "192.168.77.1:30080"); err != nil {
			t.Errorf("node -> its own address's NodePort: %q %v", got, err)
		}
	})
	t.Run("hairpin", func(t *testing.T) {
		got, err := dial(n.pod1, "10.43.0.12:80")
		if err != nil {
			t.Fatalf("pod1 -> its own service: %v", err)
		}
		if got != "pod1 10.42.0.1" {
			t.Fatalf("hairpin answer %q, want pod1 seeing the node address 10.42.0.1", got)
		}
	})
	t.Run("session-affinity", func(t *testing.T) {
		first := ""
		for i := 0; i < 20; i++ {
			got, err := dial(n.node, "10.43.0.13:80")
			if err != nil {
				t.Fatal(err)
			}
			pod := strings.Fields(got)[0]
			if first == "" {
				first = pod
			} else if pod != first {
				t.Fatalf("connection %d went to %s, earlier ones to %s despite ClientIP affinity", i, pod, first)
			}
		}
	})
	t.Run("no-endpoints-rejected-fast", func(t *testing.T) {
		for _, c := range []struct {
			from netns.NsHandle
			name string
			addr string
		}{{n.node, "node", "10.43.0.11:80"}, {n.pod2, "pod", "10.43.0.11:80"}, {n.ext, "outside", "192.168.77.1:30081"}} {
			start := time.Now()
			_, err := dial(c.from, c.addr)
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("%s -> %s: got %v, want connection refused", c.name, c.addr, err)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("%s -> %s: refusal took %s", c.name, c.addr, d)
			}
		}
	})
	t.Run("removed-endpoint-gets-no-traffic", func(t *testing.T) {
		_, err := client.DiscoveryV1().EndpointSlices("default").Update(ctx, webSlice("10.42.0.2"), metav1.UpdateOptions{})
		must(t, err)
		eventually(t, "traffic stops reaching pod2", func() error {
			for i := 0; i < 30; i++ {
				got, err := dial(n.node, "10.43.0.10:80")
				if err != nil {
					return err
				}
				if strings.HasPrefix(got, "pod2") {
					return fmt.Errorf("connection %d still reached pod2", i)
				}
			}
			return nil
		})
	})
	t.Run("deleted-services-leave-no-rules", func(t *testing.T) {
		for _, name := range []string{"web", "empty", "self", "sticky"} {
			must(t, client.CoreV1().Services("default").Delete(ctx, name, metav1.DeleteOptions{}))
		}
		eventually(t, "rules disappear", func() error {
			if out := n.nftList(t); strings.Contains(out, "10.43.0.") || strings.Contains(out, "default/") {
				return fmt.Errorf("table still mentions a deleted service:\n%s", out)
			}
			return nil
		})
		// The address is now simply routed away: nothing answers.
		if _, err := dial(n.node, "10.43.0.10:80"); err == nil {
			t.Fatal("deleted service still answers")
		}
	})
}
