// Package testenv starts a real Gureum control plane (embedded etcd and the
// API server) inside a test process, on free ports, for integration tests
// that drive it with client-go and the real kubectl. Only tests import it.
package testenv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/clock"

	"github.com/gureum/gureum/internal/controller/garbagecollector"

	"github.com/gureum/gureum/internal/node"
)

// Server is a running control plane.
type Server struct {
	DataDir    string
	Kubeconfig string
	Config     *rest.Config
	Client     kubernetes.Interface
	// EtcdClientPort is where the embedded etcd serves clients on
	// 127.0.0.1 (tests use it to compact history).
	EtcdClientPort int
	cancel         context.CancelFunc
	done           chan error
}

// Options tune Start.
type Options struct {
	// DataDir reuses a data directory (to test restarts); empty makes a
	// fresh one.
	DataDir string
	// WorkloadControllers runs the server's scheduler and workload
	// controllers too. Off by default: a test of one controller starts its
	// own copy, and a second copy in the server would race it.
	WorkloadControllers bool
}

// Start runs a server until the test ends.
func Start(t testing.TB, opts ...Options) *Server {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.DataDir == "" {
		o.DataDir = t.TempDir()
	}
	s, err := start(o)
	// A port freePort found free can be taken before etcd binds it (test
	// packages run in parallel): pick new ports and try again.
	for attempt := 0; err != nil && portTaken(err) && attempt < 3; attempt++ {
		s, err = start(o)
	}
	if err != nil {
		t.Fatalf("start gureum server: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

func portTaken(err error) bool {
	return errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use")
}

func start(o Options) (*Server, error) {
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	etcdPort := freePort()
	level := slog.LevelWarn
	if os.Getenv("GUREUM_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	cfg := node.ServerConfig{
		DataDir:             o.DataDir,
		BindAddress:         "127.0.0.1",
		HTTPSPort:           0,
		EtcdClientPort:      etcdPort,
		EtcdPeerPort:        freePort(),
		DisableAgent:        true,
		ServiceCIDR:         "10.43.0.0/16",
		CoreControllersOnly: !o.WorkloadControllers,
		Ready:               func(kc string) { ready <- kc },
		Log:                 slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
	}
	s := &Server{DataDir: o.DataDir, EtcdClientPort: etcdPort, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- node.RunServer(ctx, cfg) }()
	select {
	case kc := <-ready:
		s.Kubeconfig = kc
	case err := <-s.done:
		cancel()
		return nil, fmt.Errorf("server exited before ready: %w", err)
	case <-time.After(30 * time.Second):
		cancel()
		return nil, fmt.Errorf("server not ready after 30s")
	}
	rc, err := clientcmd.BuildConfigFromFlags("", s.Kubeconfig)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	rc.QPS, rc.Burst = 1000, 2000
	s.Config = rc
	s.Client, err = kubernetes.NewForConfig(rc)
	if err != nil {
		cancel()
		return nil, err
	}
	return s, nil
}

// Stop shuts the server down and waits for it.
func (s *Server) Stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
	}
	s.cancel = nil
}

// Kubectl runs the real kubectl against the server and returns its
// combined output. It fails the test if kubectl is missing.
func (s *Server) Kubectl(t testing.TB, stdin string, args ...string) (string, error) {
	t.Helper()
	path := KubectlPath(t)
	// A kubectl that waits forever (say, on a deletion nobody finishes)
	// must fail its test, not hang the whole suite.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, append([]string{"--kubeconfig", s.Kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+s.Kubeconfig, "HOME="+filepath.Join(s.DataDir, "home"))
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// MustKubectl is Kubectl that fails the test on error.
func (s *Server) MustKubectl(t testing.TB, stdin string, args ...string) string {
	t.Helper()
	out, err := s.Kubectl(t, stdin, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// KubectlPath finds the real kubectl; tests that need it fail loudly
// without it rather than skip.
func KubectlPath(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("KUBECTL"); p != "" {
		return p
	}
	p, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatalf("kubectl is required for this test (install it or set KUBECTL): %v", err)
	}
	return p
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("find a free port: %v", err))
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// RunGarbageCollector runs the garbage collector against s until the test
// ends, for tests that rely on ownerReferences being followed without
// running every workload controller.
func (s *Server) RunGarbageCollector(t testing.TB) {
	t.Helper()
	meta, err := metadata.NewForConfig(s.Config)
	if err != nil {
		t.Fatalf("metadata client: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	gc := garbagecollector.New(meta, s.Client.Discovery(), clock.RealClock{}, log)
	done := make(chan struct{})
	go func() { _ = gc.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}
