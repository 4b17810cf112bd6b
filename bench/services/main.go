// Command services measures the service proxy (internal/network/proxy) at
// scale, inside a private network namespace so the host's rules are never
// touched:
//
//  1. compute + apply: Compute and one NFTApplier transaction for N
//     services with M endpoints each (default 1,000 and 10,000): cold
//     (empty table), rebuild (a fresh applier flushing and recreating the
//     full table, as after an agent restart) and warm (Compute plus the
//     incremental diff when nothing changed);
//  2. endpoint change -> kernel: a running Proxy (fake clientset as the
//     API) with that table; each change adds one endpoint to one slice and
//     the clock stops when the transaction carrying it is acknowledged by
//     the kernel. p50/p99 over -changes changes.
//
// Run it as root through run.sh.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/gureum/gureum/internal/network/proxy"
)

func main() {
	services := flag.Int("services", 1000, "number of services")
	perService := flag.Int("endpoints-per-service", 10, "endpoints per service")
	rounds := flag.Int("rounds", 3, "warm re-applies to time")
	changes := flag.Int("changes", 20, "endpoint changes to time")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile here")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil && pprof.StartCPUProfile(f) == nil {
			defer pprof.StopCPUProfile()
		}
	}
	if err := run(*services, *perService, *rounds, *changes); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func privateNetNS() (netns.NsHandle, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return 0, err
	}
	defer orig.Close()
	ns, err := netns.New()
	if err != nil {
		return 0, fmt.Errorf("create netns (run as root): %w", err)
	}
	return ns, netns.Set(orig)
}

func objects(n, per int) ([]*corev1.Service, []*discoveryv1.EndpointSlice) {
	var svcs []*corev1.Service
	var slices []*discoveryv1.EndpointSlice
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("svc-%04d", i)
		s := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: name},
			Spec: corev1.ServiceSpec{
				Type:      corev1.ServiceTypeClusterIP,
				ClusterIP: fmt.Sprintf("10.43.%d.%d", i/250, i%250+1),
				Ports:     []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80}},
			},
		}
		if i%5 == 0 {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.Ports[0].NodePort = int32(30000 + i)
		}
		svcs = append(svcs, s)
		sl := &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Namespace: "bench", Name: name + "-1", Labels: map[string]string{discoveryv1.LabelServiceName: name}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(int32(8080))}},
		}
		for j := 0; j < per; j++ {
			k := i*per + j
			sl.Endpoints = append(sl.Endpoints, discoveryv1.Endpoint{
				Addresses: []string{fmt.Sprintf("10.42.%d.%d", k/250, k%250+1)},
				NodeName:  ptr.To(fmt.Sprintf("node-%d", k%10)),
			})
		}
		slices = append(slices, sl)
	}
	return svcs, slices
}

// timedApplier stamps when each ruleset holding a watched endpoint is
// committed by the kernel.
type timedApplier struct {
	inner proxy.Applier
	mu    sync.Mutex
	want  string
	done  chan time.Time
}

func (a *timedApplier) Apply(ctx context.Context, rs proxy.Ruleset) error {
	if err := a.inner.Apply(ctx, rs); err != nil {
		return err
	}
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.want == "" {
		return nil
	}
	for _, c := range rs.Chains {
		if strings.HasSuffix(c.Name, a.want) {
			a.want = ""
			a.done <- now
			break
		}
	}
	return nil
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(float64(len(s)-1)*p+0.5)]
}

func run(n, per, rounds, changes int) error {
	ns, err := privateNetNS()
	if err != nil {
		return err
	}
	defer ns.Close()
	applier := &proxy.NFTApplier{NetNSFd: int(ns)}
	svcs, slices := objects(n, per)
	node := proxy.NodeInfo{Name: "node-0", ClusterCIDR: netip.MustParsePrefix("10.42.0.0/16")}
	ctx := context.Background()

	start := time.Now()
	rs := proxy.Compute(svcs, slices, node)
	compute := time.Since(start)
	start = time.Now()
	if err := applier.Apply(ctx, rs); err != nil {
		return fmt.Errorf("cold apply: %w", err)
	}
	cold := time.Since(start)
	var warm []time.Duration
	for i := 0; i < rounds; i++ {
		start = time.Now()
		if err := applier.Apply(ctx, proxy.Compute(svcs, slices, node)); err != nil {
			return fmt.Errorf("warm apply: %w", err)
		}
		warm = append(warm, time.Since(start))
	}
	// A fresh applier knows nothing: it flushes, deletes and recreates the
	// populated table in one transaction (what an agent restart does).
	start = time.Now()
	if err := (&proxy.NFTApplier{NetNSFd: int(ns)}).Apply(ctx, rs); err != nil {
		return fmt.Errorf("rebuild: %w", err)
	}
	rebuild := time.Since(start)
	fmt.Printf("services=%d endpoints=%d chains=%d cpus=%d\n", n, n*per, len(rs.Chains), runtime.NumCPU())
	fmt.Printf("compute_ms=%.1f cold_apply_ms=%.1f rebuild_apply_ms=%.1f warm_compute_apply_ms_median=%.1f\n",
		ms(compute), ms(cold), ms(rebuild), ms(percentile(warm, 0.5)))

	// Endpoint change -> kernel, through a running Proxy.
	var objs []runtimeObject
	for _, s := range svcs {
		objs = append(objs, s)
	}
	for _, s := range slices {
		objs = append(objs, s)
	}
	client := fake.NewSimpleClientset(objs...)
	ta := &timedApplier{inner: applier, done: make(chan time.Time, 1)}
	_, cidr, _ := net.ParseCIDR("10.42.0.0/16")
	p := proxy.New(proxy.Config{Client: client, NodeName: "node-0", ClusterCIDR: cidr, Applier: ta,
		Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { _ = p.Run(pctx) }()
	<-p.Synced()
	var lat []time.Duration
	for i := 0; i < changes; i++ {
		sl := slices[(i*37)%len(slices)].DeepCopy()
		ip := fmt.Sprintf("10.42.250.%d", i+1)
		sl.Endpoints = append(sl.Endpoints, discoveryv1.Endpoint{Addresses: []string{ip}})
		slices[(i*37)%len(slices)] = sl
		ta.mu.Lock()
		ta.want = "__" + ip + "/8080"
		ta.mu.Unlock()
		start := time.Now()
		if _, err := client.DiscoveryV1().EndpointSlices("bench").Update(ctx, sl, metav1.UpdateOptions{}); err != nil {
			return err
		}
		select {
		case at := <-ta.done:
			lat = append(lat, at.Sub(start))
		case <-time.After(30 * time.Second):
			return fmt.Errorf("change %d never reached the kernel", i)
		}
		time.Sleep(50 * time.Millisecond) // let each change stand alone
	}
	fmt.Printf("endpoint_change_to_kernel_ms p50=%.1f p99=%.1f max=%.1f (n=%d)\n",
		ms(percentile(lat, 0.5)), ms(percentile(lat, 0.99)), ms(percentile(lat, 1)), len(lat))
	return nil
}

type runtimeObject = k8sruntime.Object

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
