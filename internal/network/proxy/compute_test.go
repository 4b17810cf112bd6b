package proxy

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

type svcOpt func(*corev1.Service)

func service(ns, name, clusterIP string, opts ...svcOpt) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{
			Type:       corev1.ServiceTypeClusterIP,
			ClusterIP:  clusterIP,
			ClusterIPs: []string{clusterIP},
			Ports:      []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80}},
		},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

func nodePort(port int32) svcOpt {
	return func(s *corev1.Service) {
		s.Spec.Type = corev1.ServiceTypeNodePort
		s.Spec.Ports[0].NodePort = port
	}
}

type ep struct {
	ip                          string
	node                        string
	ready, serving, terminating *bool
}

func slice(ns, svc, name string, port int32, proto corev1.Protocol, portName string, eps ...ep) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To(portName), Protocol: ptr.To(proto), Port: ptr.To(port)}},
	}
	for _, e := range eps {
		var node *string
		if e.node != "" {
			node = ptr.To(e.node)
		}
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{e.ip},
			NodeName:   node,
			Conditions: discoveryv1.EndpointConditions{Ready: e.ready, Serving: e.serving, Terminating: e.terminating},
		})
	}
	return s
}

var node1 = NodeInfo{
	Name:                "node-1",
	IPs:                 []netip.Addr{netip.MustParseAddr("192.168.1.10")},
	ClusterCIDR:         netip.MustParsePrefix("10.42.0.0/16"),
	MasqueradePodEgress: true,
	PodBridge:           "gureum0",
}

type computeCase struct {
	name     string
	services []*corev1.Service
	slices   []*discoveryv1.EndpointSlice
	node     NodeInfo
}

func computeCases() []computeCase {
	return []computeCase{
		{name: "empty", node: node1},
		{
			name:     "clusterip",
			services: []*corev1.Service{service("default", "web", "10.43.0.10")},
			slices: []*discoveryv1.EndpointSlice{slice("default", "web", "web-abc", 8080, corev1.ProtocolTCP, "http",
				ep{ip: "10.42.0.5", node: "node-1"},
				ep{ip: "10.42.1.7", node: "node-2", ready: ptr.To(true)},
				ep{ip: "10.42.1.8", node: "node-2", ready: ptr.To(false)},
			)},
			node: node1,
		},
		{
			name:     "no-endpoints-reject",
			services: []*corev1.Service{service("default", "empty", "10.43.0.11", nodePort(30080))},
			node:     node1,
		},
		{
			name:     "terminating-fallback",
			services: []*corev1.Service{service("default", "draining", "10.43.0.12")},
			slices: []*discoveryv1.EndpointSlice{slice("default", "draining", "draining-1", 8080, corev1.ProtocolTCP, "http",
				ep{ip: "10.42.0.5", ready: ptr.To(false), serving: ptr.To(true), terminating: ptr.To(true)},
				ep{ip: "10.42.0.6", ready: ptr.To(false), serving: ptr.To(false), terminating: ptr.To(true)},
			)},
			node: node1,
		},
		{
			name: "nodeport-lb-external-cluster-policy",
			services: []*corev1.Service{service("shop", "front", "10.43.0.20", nodePort(30443), func(s *corev1.Service) {
				s.Spec.Type = corev1.ServiceTypeLoadBalancer
				s.Spec.ExternalIPs = []string{"203.0.113.5"}
				s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "198.51.100.7"}, {Hostname: "lb.example.com"}}
			})},
			slices: []*discoveryv1.EndpointSlice{slice("shop", "front", "front-1", 8443, corev1.ProtocolTCP, "http",
				ep{ip: "10.42.0.5", node: "node-1"}, ep{ip: "10.42.1.5", node: "node-2"})},
			node: node1,
		},
		{
			name: "external-traffic-policy-local",
			services: []*corev1.Service{
				service("shop", "local-here", "10.43.0.21", nodePort(30001), func(s *corev1.Service) {
					s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
				}),
				service("shop", "local-elsewhere", "10.43.0.22", nodePort(30002), func(s *corev1.Service) {
					s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
				}),
			},
			slices: []*discoveryv1.EndpointSlice{
				slice("shop", "local-here", "lh-1", 8080, corev1.ProtocolTCP, "http",
					ep{ip: "10.42.0.5", node: "node-1"}, ep{ip: "10.42.1.5", node: "node-2"}),
				slice("shop", "local-elsewhere", "le-1", 8080, corev1.ProtocolTCP, "http",
					ep{ip: "10.42.1.6", node: "node-2"}),
			},
			node: node1,
		},
		{
			name: "internal-traffic-policy-local",
			services: []*corev1.Service{
				service("kube-system", "node-local-dns", "10.43.0.53", func(s *corev1.Service) {
					s.Spec.InternalTrafficPolicy = ptr.To(corev1.ServiceInternalTrafficPolicyLocal)
					s.Spec.Ports = []corev1.ServicePort{{Name: "dns", Protocol: corev1.ProtocolUDP, Port: 53}}
				}),
				service("kube-system", "remote-only", "10.43.0.54", func(s *corev1.Service) {
					s.Spec.InternalTrafficPolicy = ptr.To(corev1.ServiceInternalTrafficPolicyLocal)
				}),
			},
			slices: []*discoveryv1.EndpointSlice{
				slice("kube-system", "node-local-dns", "nld-1", 53, corev1.ProtocolUDP, "dns",
					ep{ip: "10.42.0.9", node: "node-1"}, ep{ip: "10.42.1.9", node: "node-2"}),
				slice("kube-system", "remote-only", "ro-1", 8080, corev1.ProtocolTCP, "http",
					ep{ip: "10.42.1.10", node: "node-2"}),
			},
			node: node1,
		},
		{
			name: "session-affinity",
			services: []*corev1.Service{
				service("default", "sticky", "10.43.0.30", func(s *corev1.Service) {
					s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
				}),
				service("default", "sticky-short", "10.43.0.31", func(s *corev1.Service) {
					s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
					s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr.To(int32(60))}}
				}),
			},
			slices: []*discoveryv1.EndpointSlice{
				slice("default", "sticky", "sticky-1", 8080, corev1.ProtocolTCP, "http", ep{ip: "10.42.0.5"}, ep{ip: "10.42.0.6"}),
				slice("default", "sticky-short", "sticky-short-1", 8080, corev1.ProtocolTCP, "http", ep{ip: "10.42.0.7"}),
			},
			node: node1,
		},
		{
			name: "no-rules-for-headless-externalname-foreign",
			services: []*corev1.Service{
				service("default", "headless", "None"),
				service("default", "ext", "", func(s *corev1.Service) {
					s.Spec.Type = corev1.ServiceTypeExternalName
					s.Spec.ExternalName = "example.com"
				}),
				service("default", "other-proxy", "10.43.0.40", func(s *corev1.Service) {
					s.Labels = map[string]string{labelServiceProxyName: "someone-else"}
				}),
			},
			slices: []*discoveryv1.EndpointSlice{slice("default", "headless", "h-1", 80, corev1.ProtocolTCP, "http", ep{ip: "10.42.0.5"})},
			node:   node1,
		},
		{
			name: "multi-port-protocols-and-split-slices",
			services: []*corev1.Service{service("default", "mixed", "10.43.0.50", func(s *corev1.Service) {
				s.Spec.Ports = []corev1.ServicePort{
					{Name: "dns-tcp", Protocol: corev1.ProtocolTCP, Port: 53},
					{Name: "dns-udp", Protocol: corev1.ProtocolUDP, Port: 53},
					{Name: "sig", Protocol: corev1.ProtocolSCTP, Port: 3868},
				}
			})},
			slices: []*discoveryv1.EndpointSlice{
				slice("default", "mixed", "mixed-a", 5353, corev1.ProtocolTCP, "dns-tcp", ep{ip: "10.42.0.5"}),
				slice("default", "mixed", "mixed-b", 5353, corev1.ProtocolUDP, "dns-udp", ep{ip: "10.42.0.5"}, ep{ip: "10.42.2.5"}),
				slice("default", "mixed", "mixed-c", 3868, corev1.ProtocolSCTP, "sig", ep{ip: "10.42.0.6"}),
				// Same endpoint twice (slices overlap during updates): programmed once.
				slice("default", "mixed", "mixed-d", 5353, corev1.ProtocolUDP, "dns-udp", ep{ip: "10.42.2.5"}),
			},
			node: node1,
		},
		{
			name:     "no-node-ips-uses-fib",
			services: []*corev1.Service{service("default", "np", "10.43.0.60", nodePort(30600))},
			slices:   []*discoveryv1.EndpointSlice{slice("default", "np", "np-1", 80, corev1.ProtocolTCP, "http", ep{ip: "10.42.0.5"})},
			node:     NodeInfo{Name: "node-1"},
		},
		{
			// kube-proxy's nftables mode never serves NodePorts on
			// 127.0.0.1: a loopback node address is left out of the set...
			name:     "nodeport-ips-skip-loopback",
			services: []*corev1.Service{service("default", "np", "10.43.0.61", nodePort(30601))},
			slices:   []*discoveryv1.EndpointSlice{slice("default", "np", "np-1", 80, corev1.ProtocolTCP, "http", ep{ip: "10.42.0.5"})},
			node: NodeInfo{Name: "node-1", IPs: []netip.Addr{
				netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("192.168.1.10"),
				netip.MustParseAddr("::ffff:192.168.1.10"), netip.MustParseAddr("0.0.0.0"), netip.MustParseAddr("fd00::1"),
			}},
		},
		{
			// ...and when it is the only one, NodePorts answer on every
			// local address but loopback, as without node addresses.
			name:     "nodeport-only-loopback-node-ip-uses-fib",
			services: []*corev1.Service{service("default", "np", "10.43.0.62", nodePort(30602))},
			slices:   []*discoveryv1.EndpointSlice{slice("default", "np", "np-1", 80, corev1.ProtocolTCP, "http", ep{ip: "10.42.0.5"})},
			node:     NodeInfo{Name: "node-1", IPs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}},
		},
		{
			// An ingress address with ipMode Proxy belongs to a load
			// balancer that forwards to the NodePort: no rules for it.
			name: "loadbalancer-ipmode-proxy",
			services: []*corev1.Service{service("default", "lb", "10.43.0.63", nodePort(30603), func(s *corev1.Service) {
				s.Spec.Type = corev1.ServiceTypeLoadBalancer
				s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{
					{IP: "203.0.113.17", IPMode: ptr.To(corev1.LoadBalancerIPModeVIP)},
					{IP: "203.0.113.18", IPMode: ptr.To(corev1.LoadBalancerIPModeProxy)},
				}
			})},
			slices: []*discoveryv1.EndpointSlice{slice("default", "lb", "lb-1", 8080, corev1.ProtocolTCP, "http", ep{ip: "10.42.0.5"})},
			node:   node1,
		},
	}
}

func TestComputeGolden(t *testing.T) {
	for _, tc := range computeCases() {
		t.Run(tc.name, func(t *testing.T) {
			got := Compute(tc.services, tc.slices, tc.node).String()
			again := Compute(tc.services, tc.slices, tc.node).String()
			if got != again {
				t.Fatalf("Compute is not deterministic")
			}
			golden := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden (run with -update to create): %v", err)
			}
			if got != string(want) {
				t.Errorf("ruleset differs from %s (run with -update to accept):\n%s", golden, diffLines(string(want), got))
			}
		})
	}
}

// diffLines is a minimal line diff, enough to spot a changed rule.
func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			b.WriteString("line " + strconv.Itoa(i+1) + ":\n- " + wl + "\n+ " + gl + "\n")
		}
	}
	return b.String()
}
