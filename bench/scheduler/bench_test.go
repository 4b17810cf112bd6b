// Package scheduler benchmarks Gureum's scheduler: the pure placement
// decision (Snapshot + Algorithm) and, end to end, the scheduler loop
// binding pods through a real in-process API server. bench/scheduler/run.sh
// runs both and prints a markdown report.
package scheduler

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"

	"github.com/gureum/gureum/internal/scheduler"
	"github.com/gureum/gureum/internal/testenv"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func benchNode(i int, mixed bool) *corev1.Node {
	rl := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("32"),
		corev1.ResourceMemory: resource.MustParse("128Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	name := fmt.Sprintf("node-%04d", i)
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			"kubernetes.io/hostname":      name,
			"topology.kubernetes.io/zone": fmt.Sprintf("zone-%d", i%3),
		}},
		Status: corev1.NodeStatus{Capacity: rl, Allocatable: rl,
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}},
	}
	if mixed {
		if i%2 == 0 {
			n.Labels["disk"] = "ssd"
		}
		if i%10 == 0 {
			n.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "infra", Effect: corev1.TaintEffectNoSchedule}}
		}
	}
	return n
}

// benchPod is pod i of owner i%owners: 100-400m cpu, 128-512Mi memory.
// Mixed workloads add node selectors, tolerations and, for one owner in
// fifty, hostname anti-affinity.
func benchPod(i, owners int, mixed bool) *corev1.Pod {
	owner := i % owners
	yes := true
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("pod-%05d", i), Namespace: "bench",
			Labels:          map[string]string{"app": fmt.Sprintf("app-%d", owner)},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: fmt.Sprintf("rs-%d", owner), UID: types.UID(fmt.Sprintf("rs-uid-%d", owner)), Controller: &yes}},
		},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU:    *resource.NewMilliQuantity(int64(100*(1+owner%4)), resource.DecimalSI),
			corev1.ResourceMemory: *resource.NewQuantity(int64(128*(1+owner%4))<<20, resource.BinarySI),
		}}}}},
	}
	if mixed {
		switch owner % 10 {
		case 1:
			p.Spec.NodeSelector = map[string]string{"disk": "ssd"}
		case 2:
			p.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpExists}}
		case 3:
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "topology.kubernetes.io/zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"zone-0", "zone-1"}}}}}}}}
		}
		if owner%50 == 7 {
			p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				TopologyKey: "kubernetes.io/hostname", LabelSelector: &metav1.LabelSelector{MatchLabels: p.Labels}}}}}
		}
	}
	return p
}

// BenchmarkSchedule is the pure decision: 1,000 nodes, 10,000 pods from
// 100 owners placed one after another into an incrementally updated
// snapshot. It reports pods/s.
func BenchmarkSchedule(b *testing.B) {
	nodes, pods, owners := envInt("BENCH_NODES", 1000), envInt("BENCH_PODS", 10000), envInt("BENCH_OWNERS", 100)
	for _, mixed := range []bool{false, true} {
		name := "plain"
		if mixed {
			name = "mixed"
		}
		b.Run(fmt.Sprintf("%s/nodes=%d/pods=%d", name, nodes, pods), func(b *testing.B) {
			podObjs := make([]*corev1.Pod, pods)
			for i := range podObjs {
				podObjs[i] = benchPod(i, owners, mixed)
			}
			var elapsed time.Duration
			for range b.N {
				b.StopTimer()
				snap := scheduler.NewSnapshot()
				for i := range nodes {
					snap.SetNode(benchNode(i, mixed))
				}
				var algo scheduler.Algorithm
				b.StartTimer()
				start := time.Now()
				for _, p := range podObjs {
					node, err := algo.Schedule(snap, p)
					if err != nil {
						b.Fatalf("schedule %s: %v", p.Name, err)
					}
					snap.AddPod(p, node)
				}
				elapsed += time.Since(start)
			}
			b.ReportMetric(float64(pods*b.N)/elapsed.Seconds(), "pods/s")
			b.ReportMetric(float64(elapsed.Microseconds())/float64(pods*b.N), "µs/pod")
		})
	}
}

// BenchmarkEndToEnd runs the scheduler loop against a real in-process API
// server (embedded etcd) with Node objects created directly (no agents).
//
//   - backlog: the pods are created first (32 concurrent clients), then the
//     scheduler starts; timed from its start until a watch has seen every
//     pod bound. This is the scheduler's own throughput: decisions, binds
//     through pods/binding and events, all through the API.
//   - stream: the scheduler runs while the pods are created; timed from the
//     first create until every pod is bound (bounded by the create rate).
//   - floor: no scheduler; the backlog is bound by as many concurrent
//     clients as the scheduler has bind workers, round-robin over the
//     nodes, with no decisions and no events: what the API allows.
func BenchmarkEndToEnd(b *testing.B) {
	for _, mode := range []string{"backlog", "floor", "stream"} {
		b.Run(mode, func(b *testing.B) {
			for range b.N {
				endToEnd(b, mode)
			}
		})
	}
}

func endToEnd(b *testing.B, mode string) {
	backlog := mode != "stream"
	nodes, pods, owners := envInt("BENCH_NODES", 1000), envInt("BENCH_PODS", 10000), envInt("BENCH_OWNERS", 100)
	b.StopTimer()
	s := testenv.Start(b)
	defer s.Stop()
	// The scheduler's client as the server should give it: protobuf and no
	// client-side rate limit (binds and events are two writes per pod).
	rc := rest.CopyConfig(s.Config)
	rc.QPS, rc.Burst = -1, 0
	rc.ContentType = "application/vnd.kubernetes.protobuf"
	rc.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	c, err := kubernetes.NewForConfig(rc)
	if err != nil {
		b.Fatalf("client: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench"}}, metav1.CreateOptions{}); err != nil {
		b.Fatalf("create namespace: %v", err)
	}
	if err := parallel(nodes, 32, func(i int) error {
		_, err := c.CoreV1().Nodes().Create(ctx, benchNode(i, false), metav1.CreateOptions{})
		return err
	}); err != nil {
		b.Fatalf("create nodes: %v", err)
	}
	createPods := func() time.Duration {
		start := time.Now()
		if err := parallel(pods, 32, func(i int) error {
			_, err := c.CoreV1().Pods("bench").Create(ctx, benchPod(i, owners, false), metav1.CreateOptions{})
			return err
		}); err != nil {
			b.Errorf("create pods: %v", err)
		}
		return time.Since(start)
	}
	var created time.Duration
	if backlog {
		created = createPods()
	}
	w, err := c.CoreV1().Pods("bench").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		b.Fatalf("watch pods: %v", err)
	}
	defer w.Stop()
	var bound atomic.Int64
	allBound := make(chan struct{})
	go func() {
		seen := map[string]bool{}
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok || ev.Type == watch.Deleted || p.Spec.NodeName == "" || seen[p.Name] {
				continue
			}
			seen[p.Name] = true
			if bound.Add(1) == int64(pods) {
				close(allBound)
				return
			}
		}
	}()
	factory := informers.NewSharedInformerFactory(c, 0)
	level := slog.LevelWarn
	if os.Getenv("BENCH_LOG") != "" {
		level = slog.LevelDebug
	}
	sched := scheduler.New(c, factory, clock.RealClock{}, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
	sched.BindWorkers = envInt("BENCH_BIND_WORKERS", sched.BindWorkers)
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	b.StartTimer()
	start := time.Now()
	if level == slog.LevelDebug {
		fmt.Fprintf(os.Stderr, "time=%s msg=\"bench start\"\n", start.Format(time.RFC3339Nano))
	}
	if mode == "floor" {
		go func() {
			done <- parallel(pods, sched.BindWorkers, func(i int) error {
				p := benchPod(i, owners, false)
				return c.CoreV1().Pods("bench").Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: p.Name},
					Target: corev1.ObjectReference{Kind: "Node", Name: benchNode(i%nodes, false).Name}}, metav1.CreateOptions{})
			})
		}()
	} else {
		go func() { done <- sched.Run(sctx) }()
	}
	if !backlog {
		created = createPods()
	}
	select {
	case <-allBound:
	case <-time.After(10 * time.Minute):
		b.Fatalf("only %d of %d pods bound after 10 minutes", bound.Load(), pods)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(pods)/elapsed.Seconds(), "pods/s")
	b.ReportMetric(elapsed.Seconds(), "s-all-bound")
	b.ReportMetric(float64(pods)/created.Seconds(), "creates/s")
	stop()
	if err := <-done; err != nil {
		b.Errorf("%s: %v", mode, err)
	}
}

// parallel runs f(0..n-1) on workers goroutines and returns the first
// failure, if any.
func parallel(n, workers int, f func(i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []string
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					mu.Lock()
					errs = append(errs, err.Error())
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		sort.Strings(errs)
		return fmt.Errorf("%d failures, first: %s", len(errs), errs[0])
	}
	return nil
}
