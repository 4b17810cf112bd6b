package dns_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/gureum/gureum/internal/dns"
	"github.com/gureum/gureum/internal/testenv"
)

func TestServerAgainstAPIServer(t *testing.T) {
	env := testenv.Start(t)
	client := env.Client
	ctx := context.Background()
	upstream := dns.StartUpstream(t)

	const ns = "dns-it"
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	web, err := client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if web.Spec.ClusterIP == "" || web.Spec.ClusterIP == corev1.ClusterIPNone {
		t.Fatalf("no cluster IP allocated: %+v", web.Spec)
	}
	if _, err := client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec:       corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: []corev1.ServicePort{{Name: "pg", Port: 5432, Protocol: corev1.ProtocolTCP}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "ext"},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "www.example"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dbSlice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "db-1", Labels: map[string]string{discoveryv1.LabelServiceName: "db"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("pg"), Port: ptr.To(int32(5432)), Protocol: ptr.To(corev1.ProtocolTCP)}},
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"10.1.0.1"}, Hostname: ptr.To("db-0"), Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}},
			{Addresses: []string{"10.1.0.2"}, Hostname: ptr.To("db-1"), Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(false)}},
		},
	}
	created, err := client.DiscoveryV1().EndpointSlices(ns).Create(ctx, dbSlice, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// Everything created before Run is in the first index: no polling.
	s := dns.StartServer(t, dns.Config{Client: client, Upstreams: []string{upstream}})
	addr := s.Addr()
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			r := dns.Ask(t, network, addr, "web.dns-it.svc.cluster.local.", mdns.TypeA, 0)
			if got := dns.Values(r); !slices.Equal(got, []string{"A " + web.Spec.ClusterIP}) || !r.Authoritative {
				t.Errorf("web A = %v (aa=%v), want %s", got, r.Authoritative, web.Spec.ClusterIP)
			}
			r = dns.Ask(t, network, addr, "_http._tcp.web.dns-it.svc.cluster.local.", mdns.TypeSRV, 0)
			if got := dns.Values(r); !slices.Equal(got, []string{"SRV 0 100 80 web.dns-it.svc.cluster.local."}) {
				t.Errorf("web SRV = %v", got)
			}
			r = dns.Ask(t, network, addr, "db.dns-it.svc.cluster.local.", mdns.TypeA, 0)
			if got := dns.Values(r); !slices.Equal(got, []string{"A 10.1.0.1"}) {
				t.Errorf("db A = %v, want only the ready endpoint", got)
			}
			r = dns.Ask(t, network, addr, "_pg._tcp.db.dns-it.svc.cluster.local.", mdns.TypeSRV, 0)
			if got := dns.Values(r); !slices.Equal(got, []string{"SRV 0 100 5432 db-0.db.dns-it.svc.cluster.local."}) || len(r.Extra) != 1 {
				t.Errorf("db SRV = %v extra %v", got, r.Extra)
			}
			r = dns.Ask(t, network, addr, "ext.dns-it.svc.cluster.local.", mdns.TypeA, 0)
			if got := dns.Values(r); !slices.Equal(got, []string{"CNAME www.example.", "A 192.0.2.1"}) {
				t.Errorf("ext A = %v, want the CNAME chased through the upstream", got)
			}
			r = dns.Ask(t, network, addr, "missing.dns-it.svc.cluster.local.", mdns.TypeA, 0)
			if r.Rcode != mdns.RcodeNameError || len(r.Ns) != 1 {
				t.Errorf("missing: rcode %s ns %v, want NXDOMAIN with SOA", mdns.RcodeToString[r.Rcode], r.Ns)
			}
			r = dns.Ask(t, network, addr, "dns-version.cluster.local.", mdns.TypeTXT, 0)
			if got := dns.Values(r); !slices.Equal(got, []string{`TXT "1.1.0"`}) {
				t.Errorf("dns-version = %v", got)
			}
			r = dns.Ask(t, network, addr, "10-2-3-4.dns-it.pod.cluster.local.", mdns.TypeA, 0)
			if got := dns.Values(r); !slices.Equal(got, []string{"A 10.2.3.4"}) {
				t.Errorf("pod A = %v", got)
			}
			rev, _ := mdns.ReverseAddr(web.Spec.ClusterIP)
			r = dns.Ask(t, network, addr, rev, mdns.TypePTR, 0)
			if got := dns.Values(r); !slices.Equal(got, []string{"PTR web.dns-it.svc.cluster.local."}) {
				t.Errorf("PTR %s = %v", rev, got)
			}
			r = dns.Ask(t, network, addr, "www.example.", mdns.TypeA, 0)
			if got := dns.Values(r); !slices.Equal(got, []string{"A 192.0.2.1"}) {
				t.Errorf("forwarded www.example = %v", got)
			}
		})
	}

	// Changes reach the index through the informers.
	created.Endpoints[1].Conditions.Ready = ptr.To(true)
	if _, err := client.DiscoveryV1().EndpointSlices(ns).Update(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	dns.Eventually(t, "db A after the second endpoint became ready", func() (bool, string) {
		got := dns.Values(dns.Ask(t, "udp", addr, "db.dns-it.svc.cluster.local.", mdns.TypeA, 0))
		return slices.Equal(got, []string{"A 10.1.0.1", "A 10.1.0.2"}), fmt.Sprint(got)
	})
	if got := dns.Values(dns.Ask(t, "udp", addr, "db-1.db.dns-it.svc.cluster.local.", mdns.TypeA, 0)); !slices.Equal(got, []string{"A 10.1.0.2"}) {
		t.Errorf("db-1 A = %v", got)
	}
	if err := client.CoreV1().Services(ns).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	dns.Eventually(t, "web after deletion", func() (bool, string) {
		r := dns.Ask(t, "tcp", addr, "web.dns-it.svc.cluster.local.", mdns.TypeA, 0)
		return r.Rcode == mdns.RcodeNameError, r.String()
	})
}
