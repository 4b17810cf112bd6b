package dns

import (
	"fmt"
	"testing"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// SyntheticCluster returns n ClusterIP services (two named ports each)
// spread over 10 namespaces, plus n/10 headless services with three
// endpoints each: the shape the benchmarks use.
func syntheticCluster(n int) ([]*corev1.Service, []*discoveryv1.EndpointSlice) {
	var svcs []*corev1.Service
	var eps []*discoveryv1.EndpointSlice
	for i := 0; i < n; i++ {
		ns := fmt.Sprintf("ns%d", i%10)
		ip := fmt.Sprintf("10.43.%d.%d", i/250, i%250+1)
		svcs = append(svcs, clusterIPService(ns, fmt.Sprintf("svc%d", i), []string{ip},
			port("http", 80, corev1.ProtocolTCP), port("metrics", 9090, corev1.ProtocolTCP)))
	}
	for i := 0; i < n/10; i++ {
		ns := fmt.Sprintf("ns%d", i%10)
		name := fmt.Sprintf("hl%d", i)
		svcs = append(svcs, headlessService(ns, name, false))
		var e []testEndpoint
		for j := 0; j < 3; j++ {
			e = append(e, testEndpoint{addr: fmt.Sprintf("10.1.%d.%d", i%250, j+1), hostname: fmt.Sprintf("%s-%d", name, j)})
		}
		eps = append(eps, slice(ns, name, name+"-x", discoveryv1.AddressTypeIPv4,
			[]discoveryv1.EndpointPort{epPort("pg", 5432, corev1.ProtocolTCP)}, e...))
	}
	return svcs, eps
}

func BenchmarkBuild1000(b *testing.B) {
	svcs, eps := syntheticCluster(1000)
	b.ReportAllocs()
	for b.Loop() {
		Build(Options{}, svcs, eps)
	}
}

func BenchmarkAnswer(b *testing.B) {
	svcs, eps := syntheticCluster(1000)
	recs := Build(Options{}, svcs, eps)
	for _, tc := range []struct{ name, q string }{
		{"A", "svc517.ns7.svc.cluster.local."},
		{"NXDOMAIN", "nope.ns7.svc.cluster.local."},
		{"pod", "10-1-2-3.ns7.pod.cluster.local."},
	} {
		b.Run(tc.name, func(b *testing.B) {
			m := new(mdns.Msg)
			m.SetQuestion(tc.q, mdns.TypeA)
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := recs.Answer(m); !ok {
					b.Fatal("not answered")
				}
			}
		})
	}
}
