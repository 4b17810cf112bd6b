package dns

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

var update = flag.Bool("update", false, "rewrite golden files")

func clusterIPService(ns, name string, ips []string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: ips[0], ClusterIPs: ips, Ports: ports},
	}
}

func headlessService(ns, name string, publishNotReady bool) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: corev1.ClusterIPNone, ClusterIPs: []string{corev1.ClusterIPNone}, PublishNotReadyAddresses: publishNotReady},
	}
}

type testEndpoint struct {
	addr     string
	hostname string
	ready    *bool
}

func slice(ns, svc, name string, family discoveryv1.AddressType, ports []discoveryv1.EndpointPort, eps ...testEndpoint) *discoveryv1.EndpointSlice {
	es := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: family,
		Ports:       ports,
	}
	for _, e := range eps {
		ep := discoveryv1.Endpoint{Addresses: []string{e.addr}, Conditions: discoveryv1.EndpointConditions{Ready: e.ready}}
		if e.hostname != "" {
			ep.Hostname = ptr.To(e.hostname)
		}
		es.Endpoints = append(es.Endpoints, ep)
	}
	return es
}

func port(name string, p int32, proto corev1.Protocol) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Port: p, Protocol: proto}
}

func epPort(name string, p int32, proto corev1.Protocol) discoveryv1.EndpointPort {
	return discoveryv1.EndpointPort{Name: ptr.To(name), Port: ptr.To(p), Protocol: ptr.To(proto)}
}

// fixture is a small cluster exercising every record kind.
func fixture() ([]*corev1.Service, []*discoveryv1.EndpointSlice) {
	svcs := []*corev1.Service{
		clusterIPService("default", "kubernetes", []string{"10.43.0.1"}, port("https", 443, corev1.ProtocolTCP)),
		clusterIPService("ns1", "web", []string{"10.43.0.10"}, port("http", 80, corev1.ProtocolTCP), port("dns", 53, corev1.ProtocolUDP)),
		clusterIPService("ns1", "dual", []string{"10.43.0.11", "fd00::11"}, port("http", 80, corev1.ProtocolTCP)),
		clusterIPService("ns1", "v6only", []string{"fd00::12"}),
		{ObjectMeta: metav1.ObjectMeta{Namespace: "ns1", Name: "np"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, ClusterIP: "10.43.0.13", ClusterIPs: []string{"10.43.0.13"}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "ns1", Name: "lb"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIP: "10.43.0.14", ClusterIPs: []string{"10.43.0.14"}}},
		headlessService("ns1", "db", false),
		headlessService("ns1", "pub", true),
		headlessService("ns1", "empty", false),
		headlessService("ns1", "db6", false),
		{ObjectMeta: metav1.ObjectMeta{Namespace: "ns1", Name: "ext"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "Example.COM"}},
		clusterIPService("ns2", "web", []string{"10.43.1.10"}),
	}
	slices := []*discoveryv1.EndpointSlice{
		slice("ns1", "db", "db-abc", discoveryv1.AddressTypeIPv4, []discoveryv1.EndpointPort{epPort("pg", 5432, corev1.ProtocolTCP), {Port: ptr.To(int32(9000))}},
			testEndpoint{addr: "10.1.0.1", hostname: "db-0"},
			testEndpoint{addr: "10.1.0.2", hostname: "db-1", ready: ptr.To(true)},
			testEndpoint{addr: "10.1.0.3", hostname: "db-2", ready: ptr.To(false)},
			testEndpoint{addr: "10.1.0.4"}),
		// A second slice repeating an address, as during a slice handover.
		slice("ns1", "db", "db-def", discoveryv1.AddressTypeIPv4, []discoveryv1.EndpointPort{epPort("pg", 5432, corev1.ProtocolTCP)},
			testEndpoint{addr: "10.1.0.4"}),
		slice("ns1", "pub", "pub-abc", discoveryv1.AddressTypeIPv4, nil,
			testEndpoint{addr: "10.1.1.1", ready: ptr.To(false)},
			testEndpoint{addr: "10.1.1.2"}),
		slice("ns1", "db6", "db6-abc", discoveryv1.AddressTypeIPv6, []discoveryv1.EndpointPort{epPort("pg", 5432, corev1.ProtocolTCP)},
			testEndpoint{addr: "fd00:1::1", hostname: "a"},
			testEndpoint{addr: "fd00:1::2"}),
		slice("ns1", "fqdn", "fqdn-abc", discoveryv1.AddressTypeFQDN, nil, testEndpoint{addr: "example.org"}),
		// A slice without the service-name label belongs to nobody.
		{ObjectMeta: metav1.ObjectMeta{Namespace: "ns1", Name: "stray"}, AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.9.9.9"}}}},
	}
	return svcs, slices
}

type query struct {
	name  string
	qtype uint16
	class uint16 // 0 means IN
	op    int
}

var goldenQueries = []query{
	{name: "web.ns1.svc.cluster.local.", qtype: mdns.TypeA},
	{name: "web.ns1.svc.cluster.local.", qtype: mdns.TypeAAAA},
	{name: "WeB.NS1.svc.Cluster.Local.", qtype: mdns.TypeA},
	{name: "web.ns2.svc.cluster.local.", qtype: mdns.TypeA},
	{name: "kubernetes.default.svc.cluster.local.", qtype: mdns.TypeA},
	{name: "_http._tcp.web.ns1.svc.cluster.local.", qtype: mdns.TypeSRV},
	{name: "_dns._udp.web.ns1.svc.cluster.local.", qtype: mdns.TypeSRV},
	{name: "_http._udp.web.ns1.svc.cluster.local.", qtype: mdns.TypeSRV},
	{name: "_tcp.web.ns1.svc.cluster.local.", qtype: mdns.TypeSRV},
	{name: "_http._tcp.web.ns1.svc.cluster.local.", qtype: mdns.TypeA},
	{name: "dual.ns1.svc.cluster.local.", qtype: mdns.TypeA},
	{name: "dual.ns1.svc.cluster.local.", qtype: mdns.TypeAAAA},
	{name: "_http._tcp.dual.ns1.svc.cluster.local.", qtype: mdns.TypeSRV},
	{name: "v6only.ns1.svc.cluster.local.", qtype: mdns.TypeAAAA},
	{name: "v6only.ns1.svc.cluster.local.", qtype: mdns.TypeA},
	{name: "np.ns1.svc.cluster.local.", qtype: mdns.TypeA},
	{name: "lb.ns1.svc.cluster.local.", qtype: mdns.TypeA},
	{name: "db.ns1.svc.cluster.local.", qtype: mdns.TypeA},
	{name: "db.ns1.svc.cluster.local.", qtype: mdns.TypeAAAA},
	{name: "db-0.db.ns1.svc.cluster.local.", qtype: mdns.TypeA},
	{name: "db-2.db.ns1.svc.cluster.local.", qtype: mdns.TypeA},
	{name: "10-1-0-4.db.ns1.svc.cluster.local.", qtype: mdns.TypeA},
	{name: "10-1-0-3.db.ns1.svc.cluster.local.", qtype: mdns.TypeA},
	{name: "_pg._tcp.db.ns1.svc.cluster.local.", qtype: mdns.TypeSRV},
	{name: "pub.ns1.svc.cluster.local.", qtype: mdns.TypeA},
	{name: "empty.ns1.svc.cluster.local.", qtype: mdns.TypeA},
	{name: "db6.ns1.svc.cluster.local.", qtype: mdns.TypeAAAA},
	{name: "a.db6.ns1.svc.cluster.local.", qtype: mdns.TypeAAAA},
	{name: "fd00-1--2.db6.ns1.svc.cluster.local.", qtype: mdns.TypeAAAA},
	{name: "_pg._tcp.db6.ns1.svc.cluster.local.", qtype: mdns.TypeSRV},
	{name: "fqdn.ns1.svc.cluster.local.", qtype: mdns.TypeA},
	{name: "ext.ns1.svc.cluster.local.", qtype: mdns.TypeA},
	{name: "ext.ns1.svc.cluster.local.", qtype: mdns.TypeCNAME},
	{name: "nope.ns1.svc.cluster.local.", qtype: mdns.TypeA},
	{name: "ns1.svc.cluster.local.", qtype: mdns.TypeA},
	{name: "ns9.svc.cluster.local.", qtype: mdns.TypeA},
	{name: "svc.cluster.local.", qtype: mdns.TypeA},
	{name: "cluster.local.", qtype: mdns.TypeSOA},
	{name: "cluster.local.", qtype: mdns.TypeNS},
	{name: "web.ns1.cluster.local.", qtype: mdns.TypeA},
	{name: "dns-version.cluster.local.", qtype: mdns.TypeTXT},
	{name: "10-1-2-3.ns1.pod.cluster.local.", qtype: mdns.TypeA},
	{name: "10-1-2-3.ns1.pod.cluster.local.", qtype: mdns.TypeAAAA},
	{name: "fd00--1.ns1.pod.cluster.local.", qtype: mdns.TypeAAAA},
	{name: "10-1-2.ns1.pod.cluster.local.", qtype: mdns.TypeA},
	{name: "x.10-1-2-3.ns1.pod.cluster.local.", qtype: mdns.TypeA},
	{name: "ns1.pod.cluster.local.", qtype: mdns.TypeA},
	{name: "10.0.43.10.in-addr.arpa.", qtype: mdns.TypePTR},
	{name: "1.0.1.10.in-addr.arpa.", qtype: mdns.TypePTR},
	{name: "4.0.1.10.in-addr.arpa.", qtype: mdns.TypePTR},
	{name: "1.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", qtype: mdns.TypePTR},
	{name: "example.com.", qtype: mdns.TypeA},
	{name: "local.", qtype: mdns.TypeA},
	{name: "web.ns1.svc.cluster.local.", qtype: mdns.TypeANY},
	{name: "web.ns1.svc.cluster.local.", qtype: mdns.TypeA, class: mdns.ClassCHAOS},
	{name: "web.ns1.svc.cluster.local.", qtype: mdns.TypeA, op: mdns.OpcodeNotify},
}

func newQuery(q query) *mdns.Msg {
	m := new(mdns.Msg)
	m.SetQuestion(q.name, q.qtype)
	m.Id = 4242
	if q.class != 0 {
		m.Question[0].Qclass = q.class
	}
	if q.op != 0 {
		m.Opcode = q.op
	}
	return m
}

func TestAnswerGolden(t *testing.T) {
	svcs, slices := fixture()
	recs := Build(Options{}, svcs, slices)
	var out strings.Builder
	for _, q := range goldenQueries {
		fmt.Fprintf(&out, "######## %s %s %s opcode=%s\n", q.name, mdns.TypeToString[q.qtype], mdns.ClassToString[max(q.class, mdns.ClassINET)], mdns.OpcodeToString[q.op])
		resp, ok := recs.Answer(newQuery(q))
		if !ok {
			out.WriteString("FORWARD\n\n")
			continue
		}
		// The wire form must round-trip.
		wire, err := resp.Pack()
		if err != nil {
			t.Fatalf("%s: pack: %v", q.name, err)
		}
		var back mdns.Msg
		if err := back.Unpack(wire); err != nil {
			t.Fatalf("%s: unpack: %v", q.name, err)
		}
		out.WriteString(back.String())
		out.WriteString("\n")
	}
	golden(t, "answers.golden", out.String())
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the golden file; run go test -run %s -update and review the diff\n--- got ---\n%s", path, t.Name(), got)
	}
}

// TestAnswerTable checks the properties the golden file shows, so a
// careless -update cannot silently bless a regression.
func TestAnswerTable(t *testing.T) {
	svcs, slices := fixture()
	recs := Build(Options{}, svcs, slices)
	tests := []struct {
		q       query
		forward bool
		rcode   int
		answers []string // RR strings without TTL/class noise: "type value"
		extra   int
	}{
		{q: query{name: "web.ns1.svc.cluster.local.", qtype: mdns.TypeA}, answers: []string{"A 10.43.0.10"}},
		{q: query{name: "WEB.ns1.SVC.cluster.local.", qtype: mdns.TypeA}, answers: []string{"A 10.43.0.10"}},
		{q: query{name: "web.ns1.svc.cluster.local.", qtype: mdns.TypeAAAA}},
		{q: query{name: "dual.ns1.svc.cluster.local.", qtype: mdns.TypeAAAA}, answers: []string{"AAAA fd00::11"}},
		{q: query{name: "v6only.ns1.svc.cluster.local.", qtype: mdns.TypeA}},
		{q: query{name: "_http._tcp.web.ns1.svc.cluster.local.", qtype: mdns.TypeSRV}, answers: []string{"SRV 0 100 80 web.ns1.svc.cluster.local."}, extra: 1},
		{q: query{name: "_http._udp.web.ns1.svc.cluster.local.", qtype: mdns.TypeSRV}, rcode: mdns.RcodeNameError},
		{q: query{name: "_tcp.web.ns1.svc.cluster.local.", qtype: mdns.TypeSRV}},
		{q: query{name: "db.ns1.svc.cluster.local.", qtype: mdns.TypeA}, answers: []string{"A 10.1.0.1", "A 10.1.0.2", "A 10.1.0.4"}},
		{q: query{name: "db-0.db.ns1.svc.cluster.local.", qtype: mdns.TypeA}, answers: []string{"A 10.1.0.1"}},
		{q: query{name: "db-2.db.ns1.svc.cluster.local.", qtype: mdns.TypeA}, rcode: mdns.RcodeNameError},
		{q: query{name: "_pg._tcp.db.ns1.svc.cluster.local.", qtype: mdns.TypeSRV}, answers: []string{
			"SRV 0 33 5432 10-1-0-4.db.ns1.svc.cluster.local.",
			"SRV 0 33 5432 db-0.db.ns1.svc.cluster.local.",
			"SRV 0 33 5432 db-1.db.ns1.svc.cluster.local.",
		}, extra: 3},
		{q: query{name: "pub.ns1.svc.cluster.local.", qtype: mdns.TypeA}, answers: []string{"A 10.1.1.1", "A 10.1.1.2"}},
		{q: query{name: "empty.ns1.svc.cluster.local.", qtype: mdns.TypeA}},
		{q: query{name: "ext.ns1.svc.cluster.local.", qtype: mdns.TypeA}, answers: []string{"CNAME example.com."}},
		{q: query{name: "nope.ns1.svc.cluster.local.", qtype: mdns.TypeA}, rcode: mdns.RcodeNameError},
		{q: query{name: "ns1.svc.cluster.local.", qtype: mdns.TypeA}},
		{q: query{name: "ns9.svc.cluster.local.", qtype: mdns.TypeA}, rcode: mdns.RcodeNameError},
		{q: query{name: "dns-version.cluster.local.", qtype: mdns.TypeTXT}, answers: []string{`TXT "1.1.0"`}},
		{q: query{name: "10-1-2-3.ns1.pod.cluster.local.", qtype: mdns.TypeA}, answers: []string{"A 10.1.2.3"}},
		{q: query{name: "10-1-2-3.ns1.pod.cluster.local.", qtype: mdns.TypeAAAA}},
		{q: query{name: "fd00--1.ns1.pod.cluster.local.", qtype: mdns.TypeAAAA}, answers: []string{"AAAA fd00::1"}},
		{q: query{name: "bad.ns1.pod.cluster.local.", qtype: mdns.TypeA}, rcode: mdns.RcodeNameError},
		{q: query{name: "10.0.43.10.in-addr.arpa.", qtype: mdns.TypePTR}, answers: []string{"PTR web.ns1.svc.cluster.local."}},
		{q: query{name: "2.0.1.10.in-addr.arpa.", qtype: mdns.TypePTR}, answers: []string{"PTR db-1.db.ns1.svc.cluster.local."}},
		{q: query{name: "4.0.1.10.in-addr.arpa.", qtype: mdns.TypePTR}, forward: true},
		{q: query{name: "example.com.", qtype: mdns.TypeA}, forward: true},
		{q: query{name: "web.ns1.svc.cluster.local.", qtype: mdns.TypeA, class: mdns.ClassCHAOS}, rcode: mdns.RcodeRefused},
		{q: query{name: "web.ns1.svc.cluster.local.", qtype: mdns.TypeA, op: mdns.OpcodeNotify}, rcode: mdns.RcodeNotImplemented},
	}
	for _, tt := range tests {
		t.Run(tt.q.name+"/"+mdns.TypeToString[tt.q.qtype], func(t *testing.T) {
			resp, ok := recs.Answer(newQuery(tt.q))
			if ok == tt.forward {
				t.Fatalf("answered=%v, want forward=%v", ok, tt.forward)
			}
			if tt.forward {
				return
			}
			if resp.Rcode != tt.rcode {
				t.Fatalf("rcode %s, want %s", mdns.RcodeToString[resp.Rcode], mdns.RcodeToString[tt.rcode])
			}
			var got []string
			for _, rr := range resp.Answer {
				if rr.Header().Name != tt.q.name {
					t.Errorf("owner %q, want the name as asked %q", rr.Header().Name, tt.q.name)
				}
				if rr.Header().Ttl != DefaultTTL {
					t.Errorf("ttl %d, want %d", rr.Header().Ttl, DefaultTTL)
				}
				got = append(got, strings.Join(strings.Fields(rr.String())[3:], " "))
			}
			if strings.Join(got, "|") != strings.Join(tt.answers, "|") {
				t.Errorf("answers %q, want %q", got, tt.answers)
			}
			if len(resp.Extra) != tt.extra {
				t.Errorf("%d additional records, want %d: %v", len(resp.Extra), tt.extra, resp.Extra)
			}
			wantSOA := len(tt.answers) == 0 && (tt.rcode == mdns.RcodeSuccess || tt.rcode == mdns.RcodeNameError)
			if gotSOA := len(resp.Ns) == 1 && resp.Ns[0].Header().Rrtype == mdns.TypeSOA; gotSOA != wantSOA {
				t.Errorf("SOA in authority: %v, want %v", gotSOA, wantSOA)
			}
			if (tt.rcode == mdns.RcodeSuccess || tt.rcode == mdns.RcodeNameError) && !resp.Authoritative {
				t.Errorf("answer not authoritative")
			}
		})
	}
}

func TestOptions(t *testing.T) {
	svcs, slices := fixture()
	recs := Build(Options{Domain: "Corp.Internal.", TTL: 30, Serial: 7}, svcs, slices)
	resp, ok := recs.Answer(newQuery(query{name: "web.ns1.svc.corp.internal.", qtype: mdns.TypeA}))
	if !ok || len(resp.Answer) != 1 || resp.Answer[0].Header().Ttl != 30 {
		t.Fatalf("custom domain answer: ok=%v %v", ok, resp)
	}
	resp, ok = recs.Answer(newQuery(query{name: "missing.corp.internal.", qtype: mdns.TypeA}))
	if !ok || resp.Rcode != mdns.RcodeNameError || resp.Ns[0].(*mdns.SOA).Serial != 7 || resp.Ns[0].(*mdns.SOA).Minttl != 30 {
		t.Fatalf("custom domain NXDOMAIN: %v", resp)
	}
	if _, ok := recs.Answer(newQuery(query{name: "web.ns1.svc.cluster.local.", qtype: mdns.TypeA})); ok {
		t.Fatalf("cluster.local is not the cluster domain here; it must be forwarded")
	}
}

// TestAnswerDoesNotAliasIndex checks that growing an answer (as the
// server does with OPT records and CNAME chasing) leaves the index alone.
func TestAnswerDoesNotAliasIndex(t *testing.T) {
	svcs, slices := fixture()
	recs := Build(Options{}, svcs, slices)
	q := newQuery(query{name: "_pg._tcp.db.ns1.svc.cluster.local.", qtype: mdns.TypeSRV})
	first, _ := recs.Answer(q)
	first.Extra = append(first.Extra, &mdns.OPT{Hdr: mdns.RR_Header{Name: ".", Rrtype: mdns.TypeOPT}})
	first.Answer = append(first.Answer, &mdns.A{Hdr: mdns.RR_Header{Name: "x.", Rrtype: mdns.TypeA, Class: mdns.ClassINET}})
	second, _ := recs.Answer(q)
	if len(second.Extra) != 3 || len(second.Answer) != 3 {
		t.Fatalf("index changed by a caller's append: %d answers, %d extra", len(second.Answer), len(second.Extra))
	}
}
