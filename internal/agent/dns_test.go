package agent

import (
	"slices"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"
)

func TestPodDNS(t *testing.T) {
	host := &runtimeapi.DNSConfig{Servers: []string{"192.0.2.53"}, Searches: []string{"corp.example"}, Options: []string{"edns0"}}
	cluster := dnsSettings{Host: host, ClusterServers: []string{"10.43.0.10"}, Domain: "cluster.local"}
	pod := func(mod func(*v1.Pod)) *v1.Pod {
		p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "shop"}}
		if mod != nil {
			mod(p)
		}
		return p
	}
	clusterFirst := &runtimeapi.DNSConfig{
		Servers:  []string{"10.43.0.10"},
		Searches: []string{"shop.svc.cluster.local", "svc.cluster.local", "cluster.local", "corp.example"},
		Options:  []string{"ndots:5"},
	}
	tests := []struct {
		name     string
		pod      *v1.Pod
		settings dnsSettings
		want     *runtimeapi.DNSConfig
	}{
		{"default policy is ClusterFirst", pod(nil), cluster, clusterFirst},
		{"ClusterFirst explicitly", pod(func(p *v1.Pod) { p.Spec.DNSPolicy = v1.DNSClusterFirst }), cluster, clusterFirst},
		{"Default uses the node's resolver", pod(func(p *v1.Pod) { p.Spec.DNSPolicy = v1.DNSDefault }), cluster, host},
		{"host network with ClusterFirst resolves like the node", pod(func(p *v1.Pod) { p.Spec.HostNetwork = true }), cluster, host},
		{"host network with ClusterFirstWithHostNet uses the cluster", pod(func(p *v1.Pod) {
			p.Spec.HostNetwork = true
			p.Spec.DNSPolicy = v1.DNSClusterFirstWithHostNet
		}), cluster, clusterFirst},
		{"no cluster DNS known: ClusterFirst falls back to the node", pod(nil), dnsSettings{Host: host}, host},
		{"None takes only dnsConfig", pod(func(p *v1.Pod) {
			p.Spec.DNSPolicy = v1.DNSNone
			p.Spec.DNSConfig = &v1.PodDNSConfig{Nameservers: []string{"1.2.3.4"}, Searches: []string{"a.example"}, Options: []v1.PodDNSConfigOption{{Name: "ndots", Value: ptr.To("2")}}}
		}), cluster, &runtimeapi.DNSConfig{Servers: []string{"1.2.3.4"}, Searches: []string{"a.example"}, Options: []string{"ndots:2"}}},
		{"dnsConfig merges: extra server, search, ndots overridden", pod(func(p *v1.Pod) {
			p.Spec.DNSConfig = &v1.PodDNSConfig{Nameservers: []string{"1.2.3.4", "10.43.0.10"}, Searches: []string{"cluster.local", "b.example"},
				Options: []v1.PodDNSConfigOption{{Name: "ndots", Value: ptr.To("1")}, {Name: "single-request"}}}
		}), cluster, &runtimeapi.DNSConfig{
			Servers:  []string{"10.43.0.10", "1.2.3.4"},
			Searches: []string{"shop.svc.cluster.local", "svc.cluster.local", "cluster.local", "corp.example", "b.example"},
			Options:  []string{"ndots:1", "single-request"},
		}},
		{"at most three nameservers", pod(func(p *v1.Pod) {
			p.Spec.DNSConfig = &v1.PodDNSConfig{Nameservers: []string{"1.1.1.1", "2.2.2.2", "3.3.3.3"}}
		}), cluster, &runtimeapi.DNSConfig{Servers: []string{"10.43.0.10", "1.1.1.1", "2.2.2.2"}, Searches: clusterFirst.Searches, Options: clusterFirst.Options}},
		{"custom cluster domain", pod(nil), dnsSettings{Host: &runtimeapi.DNSConfig{}, ClusterServers: []string{"10.43.0.10"}, Domain: "corp.internal"},
			&runtimeapi.DNSConfig{Servers: []string{"10.43.0.10"}, Searches: []string{"shop.svc.corp.internal", "svc.corp.internal", "corp.internal"}, Options: []string{"ndots:5"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := podDNS(tt.pod, tt.settings)
			if !slices.Equal(got.Servers, tt.want.Servers) || !slices.Equal(got.Searches, tt.want.Searches) || !slices.Equal(got.Options, tt.want.Options) {
				t.Errorf("podDNS =\n  servers %v searches %v options %v\nwant\n  servers %v searches %v options %v",
					got.Servers, got.Searches, got.Options, tt.want.Servers, tt.want.Searches, tt.want.Options)
			}
		})
	}
}
