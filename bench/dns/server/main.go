// Command server runs Gureum's cluster DNS server (internal/dns) over a
// fake API client preloaded with a synthetic cluster, for bench/dns/run.sh.
// It prints "ADDR host:port" once ready, then "MEM {json}" with the heap
// after a GC, and serves until interrupted. With -mode floor it instead
// runs a bare miekg/dns server answering one fixed A record: the floor the
// real server is compared with.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/gureum/gureum/internal/dns"
)

func main() {
	services := flag.Int("services", 1000, "ClusterIP services (plus services/10 headless ones with 3 endpoints)")
	addr := flag.String("addr", "127.0.0.1:0", "listen address (UDP and TCP)")
	mode := flag.String("mode", "gureum", "gureum: the real server; floor: bare miekg/dns fixed answer")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if *mode == "floor" {
		err = runFloor(ctx, *addr)
	} else {
		err = runGureum(ctx, *addr, *services)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

type memReport struct {
	Services       int    `json:"services"`
	HeapInuseBytes uint64 `json:"heap_inuse_bytes"`
	HeapAllocBytes uint64 `json:"heap_alloc_bytes"`
	// IndexBytes is the heap one more Records index takes.
	IndexBytes int64 `json:"index_bytes"`
}

func runGureum(ctx context.Context, addr string, n int) error {
	svcs, slices := cluster(n)
	objs := make([]k8sruntime.Object, 0, len(svcs)+len(slices))
	for _, s := range svcs {
		objs = append(objs, s)
	}
	for _, s := range slices {
		objs = append(objs, s)
	}
	s, err := dns.New(dns.Config{Client: fake.NewClientset(objs...), Addr: addr, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx) }()
	select {
	case <-s.Ready():
	case err := <-errc:
		return err
	}
	fmt.Printf("ADDR %s\n", s.Addr())

	// The objects were passed to the fake client; drop our references
	// so only the tracker, informer caches and index remain.
	svcs, slices, objs = nil, nil, nil
	debug.FreeOSMemory()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	a, b := cluster(n)
	keep := dns.Build(dns.Options{}, a, b)
	a, b = nil, nil
	debug.FreeOSMemory()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(keep)
	rep := memReport{Services: n, HeapInuseBytes: before.HeapInuse, HeapAllocBytes: before.HeapAlloc, IndexBytes: int64(after.HeapAlloc) - int64(before.HeapAlloc)}
	keep = nil
	debug.FreeOSMemory()
	line, _ := json.Marshal(rep)
	fmt.Printf("MEM %s\n", line)
	return <-errc
}

func runFloor(ctx context.Context, addr string) error {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	a := &mdns.A{Hdr: mdns.RR_Header{Name: "svc1.ns1.svc.cluster.local.", Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 5}, A: net.IPv4(10, 43, 0, 1)}
	srv := &mdns.Server{PacketConn: pc, Handler: mdns.HandlerFunc(func(w mdns.ResponseWriter, req *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(req)
		m.Answer = []mdns.RR{a}
		_ = w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	errc := make(chan error, 1)
	go func() { errc <- srv.ActivateAndServe() }()
	select {
	case <-started:
	case err := <-errc:
		return err
	}
	fmt.Printf("ADDR %s\n", pc.LocalAddr())
	fmt.Printf("MEM {}\n")
	select {
	case <-ctx.Done():
		return srv.Shutdown()
	case err := <-errc:
		return err
	}
}

// cluster returns n ClusterIP services with two named ports over 10
// namespaces, and n/10 headless services with three endpoints each.
func cluster(n int) ([]*corev1.Service, []*discoveryv1.EndpointSlice) {
	var svcs []*corev1.Service
	var slices []*discoveryv1.EndpointSlice
	tcp := corev1.ProtocolTCP
	for i := 0; i < n; i++ {
		ip := fmt.Sprintf("10.43.%d.%d", i/250, i%250+1)
		svcs = append(svcs, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: fmt.Sprintf("ns%d", i%10), Name: fmt.Sprintf("svc%d", i)},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: ip, ClusterIPs: []string{ip},
				Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: tcp}, {Name: "metrics", Port: 9090, Protocol: tcp}}},
		})
	}
	for i := 0; i < n/10; i++ {
		ns, name := fmt.Sprintf("ns%d", i%10), fmt.Sprintf("hl%d", i)
		svcs = append(svcs, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: corev1.ClusterIPNone, ClusterIPs: []string{corev1.ClusterIPNone}},
		})
		es := &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name + "-x", Labels: map[string]string{discoveryv1.LabelServiceName: name}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: ptr("pg"), Port: ptr(int32(5432)), Protocol: &tcp}},
		}
		for j := 0; j < 3; j++ {
			es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{
				Addresses: []string{fmt.Sprintf("10.1.%d.%d", i%250, j+1)},
				Hostname:  ptr(fmt.Sprintf("%s-%d", name, j)),
			})
		}
		slices = append(slices, es)
	}
	return svcs, slices
}

func ptr[T any](v T) *T { return &v }
