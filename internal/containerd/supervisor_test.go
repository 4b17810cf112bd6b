package containerd

import (
	"context"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// fakeModeEnv makes the test binary act as containerd: the supervisor
// execs os.Executable() with it set.
const fakeModeEnv = "GUREUM_FAKE_CONTAINERD"

// fakeSupervisorEnv makes the test binary act as a Gureum node that runs
// a Supervisor (over a fake containerd) on the data dir it names.
const fakeSupervisorEnv = "GUREUM_FAKE_SUPERVISOR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(fakeSupervisorEnv); dir != "" {
		os.Unsetenv(fakeSupervisorEnv)
		os.Setenv(fakeModeEnv, "graceful")
		os.Exit(fakeNode(dir))
	}
	if mode := os.Getenv(fakeModeEnv); mode != "" {
		os.Exit(fakeContainerd(mode, os.Args[1:]))
	}
	os.Exit(m.Run())
}

type readyRuntime struct {
	runtimeapi.UnimplementedRuntimeServiceServer
}

func (*readyRuntime) Status(context.Context, *runtimeapi.StatusRequest) (*runtimeapi.StatusResponse, error) {
	return &runtimeapi.StatusResponse{Status: &runtimeapi.RuntimeStatus{Conditions: []*runtimeapi.RuntimeCondition{
		{Type: runtimeapi.RuntimeReady, Status: true},
		{Type: runtimeapi.NetworkReady, Status: false, Reason: "NetworkPluginNotReady"},
	}}}, nil
}

// fakeContainerd serves a ready CRI on the socket named in the config.
// Modes: "graceful" exits 0 on SIGTERM, "stubborn" ignores it, "crash"
// exits 3 at once.
func fakeContainerd(mode string, args []string) int {
	if mode == "crash" {
		os.Stderr.WriteString("fake containerd: boom\n")
		return 3
	}
	if len(args) != 2 || args[0] != "--config" {
		os.Stderr.WriteString("fake containerd: want --config PATH\n")
		return 2
	}
	cfg, err := os.ReadFile(args[1])
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		return 2
	}
	m := regexp.MustCompile(`(?m)^\[grpc\]\n  address = "([^"]+)"`).FindSubmatch(cfg)
	if m == nil {
		os.Stderr.WriteString("fake containerd: no grpc address\n")
		return 2
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	l, err := net.Listen("unix", string(m[1]))
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		return 2
	}
	srv := grpc.NewServer()
	runtimeapi.RegisterRuntimeServiceServer(srv, &readyRuntime{})
	go func() { _ = srv.Serve(l) }()
	os.WriteFile(filepath.Join(filepath.Dir(string(m[1])), "fake.pid"), []byte(strconv.Itoa(os.Getpid())), 0o600)
	for range sigs {
		if mode == "graceful" {
			srv.Stop()
			return 0
		}
	}
	return 0
}

func fakeNode(dataDir string) int {
	self, err := os.Executable()
	if err != nil {
		return 2
	}
	s := New(Config{
		DataDir:        dataDir,
		Binary:         self,
		RegistryMirror: Mirror{URL: "http://127.0.0.1:1"},
		CNIBinDirs:     []string{filepath.Join(dataDir, "cni-bin")},
	})
	if err := s.Run(context.Background()); err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		return 1
	}
	return 0
}

// gone reports whether pid has exited (a zombie counts: nobody may reap
// an orphan in this sandbox).
func gone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && (f[0] == "Z" || f[0] == "X")
}

// If Gureum dies without stopping containerd (SIGKILL, crash), containerd
// must go too: an orphan would hold the data dir's metadata lock and the
// next start would hang.
func TestContainerdDiesWithGureum(t *testing.T) {
	dir := shortTempDir(t)
	cniBin := filepath.Join(dir, "cni-bin")
	if err := os.Mkdir(cniBin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range requiredCNIPlugins {
		if err := os.WriteFile(filepath.Join(cniBin, p), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	node := exec.Command(self)
	node.Env = append(os.Environ(), fakeSupervisorEnv+"="+dir)
	node.Stderr = os.Stderr
	if err := node.Start(); err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(dir, "containerd", "fake.pid")
	deadline := time.Now().Add(10 * time.Second)
	var pid int
	for pid == 0 {
		if b, err := os.ReadFile(pidFile); err == nil && len(b) > 0 {
			pid, _ = strconv.Atoi(string(b))
		}
		if time.Now().After(deadline) {
			node.Process.Kill()
			t.Fatal("fake containerd never started")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := node.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = node.Wait()
	for !gone(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("containerd %d outlived its supervisor", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func fakeCNIBinDir(t *testing.T) string {
	dir := t.TempDir()
	for _, p := range requiredCNIPlugins {
		if err := os.WriteFile(filepath.Join(dir, p), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func newFakeSupervisor(t *testing.T, mode string) *Supervisor {
	t.Helper()
	t.Setenv(fakeModeEnv, mode)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return New(Config{
		// Short path: unix socket paths are limited to 108 bytes.
		DataDir:        shortTempDir(t),
		Binary:         self,
		RegistryMirror: Mirror{URL: "http://127.0.0.1:1"},
		CNIBinDirs:     []string{"/nonexistent", fakeCNIBinDir(t)},
		StopTimeout:    300 * time.Millisecond,
		Log:            slog.New(slog.DiscardHandler),
	})
}

func shortTempDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "gct")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func runSupervisor(t *testing.T, s *Supervisor) (cancel func(), done <-chan error) {
	ctx, cancelCtx := context.WithCancel(context.Background())
	ch := make(chan error, 1)
	go func() { ch <- s.Run(ctx) }()
	t.Cleanup(cancelCtx)
	return cancelCtx, ch
}

func fakePID(t *testing.T, s *Supervisor) int {
	b, err := os.ReadFile(filepath.Join(s.Paths().Dir, "fake.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(string(b))
	return pid
}

func TestSupervisorReadyAndStop(t *testing.T) {
	for _, tc := range []struct {
		mode    string
		minStop time.Duration // stubborn children wait out StopTimeout
	}{{"graceful", 0}, {"stubborn", 300 * time.Millisecond}} {
		t.Run(tc.mode, func(t *testing.T) {
			s := newFakeSupervisor(t, tc.mode)
			cancel, done := runSupervisor(t, s)
			select {
			case <-s.Ready():
			case err := <-done:
				t.Fatalf("Run ended before ready: %v", err)
			case <-time.After(10 * time.Second):
				t.Fatal("never ready")
			}
			if s.StartupTime() <= 0 {
				t.Errorf("startup time = %v", s.StartupTime())
			}
			if h := s.Host(); h.Snapshotter == "" || !strings.HasPrefix(h.CNIBinDir, os.TempDir()) {
				t.Errorf("host = %+v", h)
			}
			// The generated files are in place.
			for _, f := range []string{s.Paths().Config, filepath.Join(s.Paths().CertsDir, "docker.io", "hosts.toml"),
				filepath.Join(s.Paths().CertsDir, "gureum.local", "hosts.toml")} {
				if _, err := os.Stat(f); err != nil {
					t.Error(err)
				}
			}
			pid := fakePID(t, s)
			start := time.Now()
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return after cancel")
			}
			d := time.Since(start)
			if d < tc.minStop {
				t.Errorf("stopped after %v, before the %v grace period", d, tc.minStop)
			}
			if tc.minStop == 0 && d >= s.cfg.StopTimeout {
				t.Errorf("a child that exits on SIGTERM took %v to stop", d)
			}
			if err := syscall.Kill(pid, 0); err == nil {
				t.Errorf("child %d still alive", pid)
			}
		})
	}
}

func TestSupervisorReportsCrash(t *testing.T) {
	s := newFakeSupervisor(t, "crash")
	_, done := runSupervisor(t, s)
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "boom") {
			t.Fatalf("Run = %v, want the crash with containerd's output", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not notice the crash")
	}
	select {
	case <-s.Ready():
		t.Fatal("ready despite the crash")
	default:
	}
}

func TestSupervisorFailsWithoutCNIPlugins(t *testing.T) {
	s := newFakeSupervisor(t, "graceful")
	s.cfg.CNIBinDirs = []string{t.TempDir()}
	_, done := runSupervisor(t, s)
	if err := <-done; err == nil || !strings.Contains(err.Error(), "containernetworking-plugins") {
		t.Fatalf("Run = %v, want a missing-plugins error naming the package", err)
	}
}
