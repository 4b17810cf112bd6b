package main

// In-process benchmarks for profiling what the standalone benchmark
// measures; the server has no pprof endpoint. They only run with -bench:
//
//	go test ./bench/api -run '^$' -bench 'PodCreate|EtcdPut' -benchtime 5s -cpuprofile /tmp/cpu.out
//	go tool pprof -top -focus 'gureum/internal' bench/api.test /tmp/cpu.out
//	go test ./bench/api -run '^$' -bench 'Start' -benchtime 5x
//	BENCH_HEAP_PROFILE=/tmp/heap.out go test ./bench/api -run '^$' -bench ListPods -benchtime 1x -v
//
// The client runs in the same process, so profiles include client-go;
// focus on internal/apiserver and etcd to see the server's share.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/gureum/gureum/internal/node"
	"github.com/gureum/gureum/internal/store"
)

type inProcess struct {
	client   kubernetes.Interface
	etcd     *clientv3.Client
	etcdPort int
	stop     func()
}

func freePort(tb testing.TB) int {
	p, err := freePorts(1)
	if err != nil {
		tb.Fatal(err)
	}
	return p[0]
}

// startInProcess runs node.RunServer in this process on dir and returns
// once it is ready, with the time that took.
func startInProcess(tb testing.TB, dir string) (*inProcess, time.Duration) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	etcdPort := freePort(tb)
	cfg := node.ServerConfig{
		DataDir:        dir,
		BindAddress:    "127.0.0.1",
		EtcdClientPort: etcdPort,
		EtcdPeerPort:   freePort(tb),
		DisableAgent:   true,
		ServiceCIDR:    "10.43.0.0/16",
		Ready:          func(kc string) { ready <- kc },
		Log:            slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if os.Getenv("BENCH_SERVER_LOG") != "" {
		cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	start := time.Now()
	go func() { done <- node.RunServer(ctx, cfg) }()
	var kc string
	select {
	case kc = <-ready:
	case err := <-done:
		cancel()
		tb.Fatalf("server exited: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		tb.Fatal("server not ready after 60s")
	}
	took := time.Since(start)
	stop := func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
		}
	}
	rc, err := clientcmd.BuildConfigFromFlags("", kc)
	if err != nil {
		stop()
		tb.Fatal(err)
	}
	rc.QPS, rc.Burst = 1e6, 1e6
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		stop()
		tb.Fatal(err)
	}
	return &inProcess{client: cs, etcdPort: etcdPort, stop: stop}, took
}

func (s *inProcess) etcdClient(tb testing.TB) *clientv3.Client {
	if s.etcd == nil {
		c, err := clientv3.New(clientv3.Config{Endpoints: []string{"127.0.0.1:" + strconv.Itoa(s.etcdPort)}, Logger: zap.NewNop(), DialTimeout: 5 * time.Second})
		if err != nil {
			tb.Fatal(err)
		}
		s.etcd = c
		prev := s.stop
		s.stop = func() { c.Close(); prev() }
	}
	return s.etcd
}

// BenchmarkPodCreate creates pods from 16 concurrent goroutines sharing
// one client.
func BenchmarkPodCreate(b *testing.B) {
	s, _ := startInProcess(b, b.TempDir())
	defer s.stop()
	ctx := context.Background()
	if err := createNS(ctx, s.client, "bench"); err != nil {
		b.Fatal(err)
	}
	var seq atomic.Int64
	b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			name := fmt.Sprintf("p-%d", seq.Add(1))
			if _, err := s.client.CoreV1().Pods("bench").Create(ctx, benchPod(name), metav1.CreateOptions{}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkPodStatusPatch reports pods Running as a node agent does: one
// merge patch of the whole status per pod (Pending to Running, the shape
// of the status changes), from 16 concurrent goroutines. The pods are
// created before the timer starts.
func BenchmarkPodStatusPatch(b *testing.B) {
	s, _ := startInProcess(b, b.TempDir())
	defer s.stop()
	ctx := context.Background()
	if err := createNS(ctx, s.client, "bench"); err != nil {
		b.Fatal(err)
	}
	pods := make([]*corev1.Pod, b.N)
	var next atomic.Int64
	if _, err := fill(ctx, 16, b.N, func(ctx context.Context, _, i int) error {
		pod := benchPod(fmt.Sprintf("p-%d", i))
		pod.Spec.NodeName = "bench-node" // placed: the scheduler leaves it alone
		p, err := s.client.CoreV1().Pods("bench").Create(ctx, pod, metav1.CreateOptions{})
		pods[i] = p
		return err
	}); err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			pod := pods[next.Add(1)-1]
			now := metav1.Now()
			patch, err := json.Marshal(map[string]any{
				"metadata": map[string]any{"uid": pod.UID},
				"status": corev1.PodStatus{
					Phase: corev1.PodRunning, PodIP: "10.42.0.5", PodIPs: []corev1.PodIP{{IP: "10.42.0.5"}},
					HostIP: "192.168.0.1", HostIPs: []corev1.HostIP{{IP: "192.168.0.1"}}, StartTime: &now, QOSClass: corev1.PodQOSBurstable,
					Conditions: []corev1.PodCondition{
						{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionTrue, LastTransitionTime: now},
						{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
						{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
						{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
						{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
					},
					ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true, Started: ptr.To(true),
						Image: "registry.k8s.io/pause:3.10", ImageID: "sha256:0", ContainerID: "containerd://0",
						State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}}},
				},
			})
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := s.client.CoreV1().Pods("bench").Patch(ctx, pod.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "bench-kubelet"}, "status"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkEtcdPut is the floor of BenchmarkPodCreate: puts of the same
// stored bytes on the same embedded etcd over its client port.
func BenchmarkEtcdPut(b *testing.B) {
	s, _ := startInProcess(b, b.TempDir())
	defer s.stop()
	ctx := context.Background()
	if err := createNS(ctx, s.client, "bench"); err != nil {
		b.Fatal(err)
	}
	if _, err := s.client.CoreV1().Pods("bench").Create(ctx, benchPod("sample"), metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	ec := s.etcdClient(b)
	// The floor puts what the server stored for the sample.
	stored, err := ec.Get(ctx, "/registry/pods/bench/sample")
	if err != nil || len(stored.Kvs) != 1 {
		b.Fatalf("read the sample pod from etcd: %v", err)
	}
	val := string(stored.Kvs[0].Value)
	var seq atomic.Int64
	b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := ec.Put(ctx, fmt.Sprintf("/bench-floor/pods/bench/p-%d", seq.Add(1)), val); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkListPods lists BENCH_LIST_PODS (default 10000) pods from the
// cache.
func BenchmarkListPods(b *testing.B) {
	n := 10000
	if v, err := strconv.Atoi(os.Getenv("BENCH_LIST_PODS")); err == nil {
		n = v
	}
	s, _ := startInProcess(b, b.TempDir())
	defer s.stop()
	ctx := context.Background()
	if err := createNS(ctx, s.client, "bench"); err != nil {
		b.Fatal(err)
	}
	sem := make(chan struct{}, 32)
	errc := make(chan error, n)
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		go func(i int) {
			defer func() { <-sem }()
			_, err := s.client.CoreV1().Pods("bench").Create(ctx, benchPod(fmt.Sprintf("p-%d", i)), metav1.CreateOptions{})
			errc <- err
		}(i)
	}
	for i := 0; i < n; i++ {
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
	}
	if path := os.Getenv("BENCH_HEAP_PROFILE"); path != "" {
		// What the server keeps live for n pods.
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.Logf("%d pods: heap in use %d MB, heap objects %d, sys %d MB", n, ms.HeapInuse>>20, ms.HeapObjects, ms.Sys>>20)
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.WriteHeapProfile(f); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
	for _, rv := range []string{"0", ""} {
		b.Run("rv="+strconv.Quote(rv), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				l, err := s.client.CoreV1().Pods("bench").List(ctx, metav1.ListOptions{ResourceVersion: rv})
				if err != nil || len(l.Items) != n {
					b.Fatalf("list: %v (%d items)", err, len(l.Items))
				}
			}
		})
	}
}

// BenchmarkStart times node.RunServer to ready on a fresh data dir and on
// an existing one, and, for comparison, the embedded etcd alone.
func BenchmarkStart(b *testing.B) {
	b.Run("server/fresh", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			s, _ := startInProcess(b, b.TempDir())
			s.stop()
		}
	})
	b.Run("server/restart", func(b *testing.B) {
		dir := b.TempDir()
		s, _ := startInProcess(b, dir)
		time.Sleep(time.Second)
		s.stop()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			s, _ := startInProcess(b, dir)
			b.StopTimer()
			s.stop()
			b.StartTimer()
		}
	})
	etcdStart := func(b *testing.B, dir string) {
		st, err := store.StartEmbedded(context.Background(), store.EmbeddedConfig{DataDir: dir, ClientPort: freePort(b), PeerPort: freePort(b)}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		st.Close()
		b.StartTimer()
	}
	b.Run("etcd/fresh", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			etcdStart(b, filepath.Join(b.TempDir(), "d"))
		}
	})
	b.Run("etcd/restart", func(b *testing.B) {
		dir := filepath.Join(b.TempDir(), "d")
		b.StopTimer()
		etcdStart(b, dir)
		b.StartTimer()
		for i := 0; i < b.N; i++ {
			etcdStart(b, dir)
		}
	})
}

func createNS(ctx context.Context, c kubernetes.Interface, name string) error {
	_, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	return err
}
