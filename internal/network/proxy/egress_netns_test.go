package proxy

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// bridgeNet is a node like a real one: pods on a bridge, another host on
// a second link, and a LAN host that sits on the bridge itself with an
// address outside the cluster:
//
//	ext 192.168.77.2 --- 192.168.77.1 node  gbr0 10.42.0.1/24, 172.30.0.1/24
//	                                             |-- 10.42.0.2 poda
//	                                             |-- 10.42.0.3 podb
//	                                             `-- 172.30.0.2 lan
type bridgeNet struct {
	prefix                     string
	node, poda, podb, lan, ext netns.NsHandle
}

// nodeInfo is what the proxy knows of the node in this topology.
func (n *bridgeNet) nodeInfo() NodeInfo {
	return NodeInfo{
		Name:                "node-1",
		IPs:                 []netip.Addr{netip.MustParseAddr("192.168.77.1")},
		ClusterCIDR:         netip.MustParsePrefix("10.42.0.0/16"),
		MasqueradePodEgress: true,
		PodBridge:           "gbr0",
	}
}

func setupBridgeNet(t *testing.T) *bridgeNet {
	requireRoot(t)
	p := fmt.Sprintf("gpe%d-", os.Getpid())
	n := &bridgeNet{prefix: p}
	n.node = newNamedNS(t, p+"node")
	n.poda = newNamedNS(t, p+"poda")
	n.podb = newNamedNS(t, p+"podb")
	n.lan = newNamedNS(t, p+"lan")
	n.ext = newNamedNS(t, p+"ext")

	nodeH, err := netlink.NewHandleAt(n.node)
	must(t, err)
	defer nodeH.Close()
	linkUp(t, nodeH, "lo")
	must(t, nodeH.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "gbr0"}}))
	br := linkUp(t, nodeH, "gbr0", "10.42.0.1/24", "172.30.0.1/24")
	attach := func(ns netns.NsHandle, nodeSide, cidr, gw string) {
		must(t, nodeH.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: nodeSide, MasterIndex: br.Attrs().Index}, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(ns))}))
		linkUp(t, nodeH, nodeSide)
		h, err := netlink.NewHandleAt(ns)
		must(t, err)
		defer h.Close()
		linkUp(t, h, "lo")
		l := linkUp(t, h, "eth0", cidr)
		must(t, h.RouteAdd(&netlink.Route{LinkIndex: l.Attrs().Index, Gw: net.ParseIP(gw)}))
	}
	attach(n.poda, "va", "10.42.0.2/24", "10.42.0.1")
	attach(n.podb, "vb", "10.42.0.3/24", "10.42.0.1")
	attach(n.lan, "vl", "172.30.0.2/24", "172.30.0.1")
	// The other host routes everything, pods and ClusterIPs included,
	// through the node.
	must(t, nodeH.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "vx"}, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(n.ext))}))
	vx := linkUp(t, nodeH, "vx", "192.168.77.1/24")
	extH, err := netlink.NewHandleAt(n.ext)
	must(t, err)
	defer extH.Close()
	linkUp(t, extH, "lo")
	extEth := linkUp(t, extH, "eth0", "192.168.77.2/24")
	must(t, extH.RouteAdd(&netlink.Route{LinkIndex: extEth.Attrs().Index, Gw: net.ParseIP("192.168.77.1")}))
	// The node's default route: its own connections to a ClusterIP leave
	// from 192.168.77.1, as a real node's do from its primary address.
	must(t, nodeH.RouteAdd(&netlink.Route{LinkIndex: vx.Attrs().Index, Gw: net.ParseIP("192.168.77.2")}))
	must(t, inNS(n.node, EnableKernelSettings))

	serve(t, n.node, "node")
	serve(t, n.podb, "podb")
	serve(t, n.lan, "lan")
	serve(t, n.ext, "ext")
	return n
}

// TestMasqueradeInNetworkNamespaces programs Compute's table into a node
// with a real bridge and checks the source address each server sees:
// pods' egress to other hosts is masqueraded, by the pod-egress rule,
// while pod-to-pod, pod-to-node and traffic back out the bridge keep the
// pod's address; the node's own connections to a ClusterIP keep the
// node's address when the endpoint is on this node and are masqueraded
// when it is on another; outside clients of a ClusterIP are masqueraded.
func TestMasqueradeInNetworkNamespaces(t *testing.T) {
	n := setupBridgeNet(t)
	svcs := []*corev1.Service{
		service("default", "here", "10.43.0.20"),
		service("default", "elsewhere", "10.43.0.21"),
		service("default", "outside", "10.43.0.22"),
	}
	slices := []*discoveryv1.EndpointSlice{
		slice("default", "here", "here-1", 8080, corev1.ProtocolTCP, "http", ep{ip: "10.42.0.3", node: "node-1"}),
		// podb again, but named as another node's pod: the proxy goes by
		// the slice's nodeName.
		slice("default", "elsewhere", "elsewhere-1", 8080, corev1.ProtocolTCP, "http", ep{ip: "10.42.0.3", node: "node-2"}),
		// An endpoint outside the cluster (a selector-less Service).
		slice("default", "outside", "outside-1", 8080, corev1.ProtocolTCP, "http", ep{ip: "192.168.77.2"}),
	}
	info := n.nodeInfo()
	a := &NFTApplier{NetNSFd: int(n.node)}
	must(t, a.Apply(context.Background(), Compute(svcs, slices, info)))

	cases := []struct {
		name     string
		from     netns.NsHandle
		addr     string
		wantFrom string // "server clientAddress"
	}{
		{"pod to another host is masqueraded", n.poda, "192.168.77.2:8080", "ext 192.168.77.1"},
		{"pod to a pod keeps its address", n.poda, "10.42.0.3:8080", "podb 10.42.0.2"},
		{"pod to the node keeps its address", n.poda, "192.168.77.1:8080", "node 10.42.0.2"},
		{"pod to the node's bridge address keeps its address", n.poda, "10.42.0.1:8080", "node 10.42.0.2"},
		{"pod to a host behind the bridge keeps its address", n.poda, "172.30.0.2:8080", "lan 10.42.0.2"},
		{"pod to a ClusterIP keeps its address", n.poda, "10.43.0.20:80", "podb 10.42.0.2"},
		{"pod to a ClusterIP with an endpoint outside the cluster is masqueraded", n.poda, "10.43.0.22:80", "ext 192.168.77.1"},
		{"node to a ClusterIP with an endpoint here keeps its address", n.node, "10.43.0.20:80", "podb 192.168.77.1"},
		{"node to a ClusterIP with an endpoint elsewhere is masqueraded", n.node, "10.43.0.21:80", "podb 10.42.0.1"},
		{"another host to a ClusterIP is masqueraded", n.ext, "10.43.0.20:80", "podb 10.42.0.1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// Several connections: each is a new conntrack entry.
			for i := 0; i < 3; i++ {
				got, err := dial(c.from, c.addr)
				if err != nil {
					t.Fatalf("connection %d to %s: %v", i, c.addr, err)
				}
				if got != c.wantFrom {
					t.Fatalf("connection %d to %s: answer %q, want %q", i, c.addr, got, c.wantFrom)
				}
			}
		})
	}

	// Without the pod-egress rule the other host sees the pod itself
	// (it routes the reply back through the node): the rule is what
	// masquerades.
	info.MasqueradePodEgress = false
	must(t, a.Apply(context.Background(), Compute(svcs, slices, info)))
	if got, err := dial(n.poda, "192.168.77.2:8080"); err != nil || got != "ext 10.42.0.2" {
		t.Fatalf("without pod egress masquerade, pod to another host: %q %v, want %q", got, err, "ext 10.42.0.2")
	}
}

// TestNodeClusterIPSustainedRate: 32,000 connections from the node to a
// ClusterIP whose endpoint is here, 16 at a time, as bench/services/vip.sh
// makes them. The client reuses its ports (the range is 28,232, half of
// it first) while the pod still holds the old connections in TIME_WAIT.
// Masqueraded, they reached the pod as unrelated connections on recycled
// bridge-address ports, and the pod refused their SYNs (PAWS) until the
// client retried 1 s later. Kept on the node's own 4-tuple, a reused
// tuple's sequence numbers and timestamps continue, and the pod accepts it.
func TestNodeClusterIPSustainedRate(t *testing.T) {
	n := setupBridgeNet(t)
	info := n.nodeInfo()
	svcs := []*corev1.Service{service("default", "here", "10.43.0.20")}
	slices := []*discoveryv1.EndpointSlice{
		slice("default", "here", "here-1", 8080, corev1.ProtocolTCP, "http", ep{ip: "10.42.0.3", node: "node-1"}),
	}
	must(t, (&NFTApplier{NetNSFd: int(n.node)}).Apply(context.Background(), Compute(svcs, slices, info)))

	const workers, each = 16, 2000
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		go func() {
			errs <- inNS(n.node, func() error {
				buf := make([]byte, 64)
				for i := 0; i < each; i++ {
					c, err := net.DialTimeout("tcp4", "10.43.0.20:80", 3*time.Second)
					if err != nil {
						return fmt.Errorf("connection %d: %w", i, err)
					}
					_ = c.SetDeadline(time.Now().Add(3 * time.Second))
					_, err = c.Read(buf)
					c.Close()
					if err != nil {
						return fmt.Errorf("connection %d: read: %w", i, err)
					}
				}
				return nil
			})
		}()
	}
	for w := 0; w < workers; w++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	var paws, tw int64
	must(t, inNS(n.podb, func() (err error) {
		paws, err = netstatCounter("TcpExt", "PAWSTimewait")
		if err != nil {
			return err
		}
		tw, err = netstatCounter("TcpExt", "TW")
		return err
	}))
	if tw < workers*each/2 {
		t.Fatalf("the pod closed only %d connections into TIME_WAIT; the test no longer exercises reuse", tw)
	}
	if paws != 0 {
		t.Fatalf("the pod refused %d SYNs that hit a TIME_WAIT (PAWS) in %d connections", paws, workers*each)
	}
}

// netstatCounter reads one counter of the calling thread's network
// namespace from /proc/thread-self/net/netstat.
func netstatCounter(group, name string) (int64, error) {
	b, err := os.ReadFile("/proc/thread-self/net/netstat")
	if err != nil {
		return 0, err
	}
	lines := strings.Split(string(b), "\n")
	for i := 0; i+1 < len(lines); i += 2 {
		names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(names) == 0 || names[0] != group+":" || len(values) != len(names) {
			continue
		}
		for j := range names {
			if names[j] == name {
				return strconv.ParseInt(values[j], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("no %s %s in /proc/net/netstat", group, name)
}
