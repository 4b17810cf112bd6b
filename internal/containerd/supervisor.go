// Package containerd owns the containerd that a Gureum node runs for
// itself: it renders containerd's config (CRI plugin, CNI dirs, the
// registry mirror that serves every pull) under the node's data dir,
// starts containerd as a child process, reports when its CRI runtime is
// ready and stops it cleanly. Containers outlive it: containerd's shims
// keep running across a restart of containerd (and of Gureum), and
// containerd picks them up again when it comes back.
//
// The system's own containerd configuration in /etc is never read or
// touched.
package containerd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/clock"

	"github.com/gureum/gureum/internal/cri"
	"github.com/gureum/gureum/internal/image/pause"
)

// Config configures a Supervisor.
type Config struct {
	// DataDir is the node's data dir; containerd's files go to
	// DATA_DIR/containerd and the CNI config dir is DATA_DIR/cni/net.d.
	DataDir string
	// Binary is the containerd executable; default "containerd" from PATH.
	Binary string
	// SandboxImage is the pod sandbox image; default pause.Reference.
	SandboxImage string
	// RegistryMirror serves all pulls of docker.io, of the sandbox image's
	// registry and of MirroredHosts.
	RegistryMirror Mirror
	// MirroredHosts are further registry hosts to serve from the mirror.
	MirroredHosts []string
	// CNIBinDirs are searched for the CNI plugins; default DefaultCNIBinDirs.
	CNIBinDirs []string
	// StopTimeout is how long containerd gets after SIGTERM before
	// SIGKILL; default 10s.
	StopTimeout time.Duration
	// ReadyPollInterval paces the CRI Status checks while containerd
	// starts; default 25ms (containerd itself boots in about 10ms).
	ReadyPollInterval time.Duration
	Clock             clock.WithTicker
	Log               *slog.Logger
}

// Supervisor runs one containerd.
type Supervisor struct {
	cfg       Config
	paths     Paths
	ready     chan struct{}
	readyOnce sync.Once

	mu          sync.Mutex
	host        Host
	startupTime time.Duration
}

// New returns a Supervisor for cfg, filling in defaults; nothing starts
// until Run.
func New(cfg Config) *Supervisor {
	if cfg.Binary == "" {
		cfg.Binary = "containerd"
	}
	if cfg.SandboxImage == "" {
		cfg.SandboxImage = pause.Reference
	}
	if len(cfg.CNIBinDirs) == 0 {
		cfg.CNIBinDirs = DefaultCNIBinDirs
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = 10 * time.Second
	}
	if cfg.ReadyPollInterval <= 0 {
		cfg.ReadyPollInterval = 25 * time.Millisecond
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Supervisor{cfg: cfg, paths: PathsFor(cfg.DataDir), ready: make(chan struct{})}
}

// Endpoint is the CRI endpoint for cri.Dial.
func (s *Supervisor) Endpoint() string { return "unix://" + s.paths.Socket }

// Paths returns where this containerd keeps its files; Paths().Socket is
// also the address for `ctr -a`.
func (s *Supervisor) Paths() Paths { return s.paths }

// Ready is closed once containerd's CRI Status reports RuntimeReady. It
// stays closed: a Supervisor reports the first start only, so run a new
// Supervisor to restart containerd with a fresh readiness signal.
func (s *Supervisor) Ready() <-chan struct{} { return s.ready }

// Host is what Run probed (cgroup driver, snapshotter, CNI bin dir); valid
// once Ready is closed.
func (s *Supervisor) Host() Host {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.host
}

// StartupTime is how long containerd took from exec to RuntimeReady;
// valid once Ready is closed.
func (s *Supervisor) StartupTime() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.startupTime
}

// Run writes the configuration, starts containerd and supervises it until
// ctx ends, then stops it: SIGTERM, up to StopTimeout, then SIGKILL. It
// returns an error if containerd cannot start or exits on its own, so the
// caller decides whether to run a new Supervisor.
func (s *Supervisor) Run(ctx context.Context) error {
	log := s.cfg.Log
	if err := s.prepare(); err != nil {
		return err
	}

	logFile, err := os.OpenFile(s.paths.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("open containerd log: %w", err)
	}
	defer logFile.Close()

	started := s.cfg.Clock.Now()
	proc, err := startChild(s.cfg.Binary, []string{"--config", s.paths.Config}, logFile)
	if err != nil {
		return fmt.Errorf("start containerd: %w", err)
	}
	log.Info("containerd started", "pid", proc.pid, "config", s.paths.Config, "log", s.paths.Log)

	readyCtx, cancelReady := context.WithCancel(ctx)
	readyErr := make(chan error, 1)
	go func() { readyErr <- s.waitReady(readyCtx, started) }()
	defer cancelReady()

	for {
		select {
		case err := <-readyErr:
			readyErr = nil
			if err != nil && ctx.Err() == nil {
				log.Warn("containerd readiness check stopped", "err", err)
			}
		case <-proc.exited:
			cancelReady()
			return fmt.Errorf("containerd exited unexpectedly (%v); last output:\n%s", proc.err, s.logTail())
		case <-ctx.Done():
			cancelReady()
			return s.stop(proc)
		}
	}
}

// prepare probes the host and writes config.toml and the certs.d tree.
func (s *Supervisor) prepare() error {
	p := s.paths
	// sun_path holds 108 bytes including the NUL, and containerd also
	// listens on the socket path + ".ttrpc".
	if n := len(p.Socket + ".ttrpc"); n > 107 {
		return fmt.Errorf("prepare containerd: socket path %s is %d bytes, over the 107 a unix socket allows; use a shorter data dir", p.Socket+".ttrpc", n)
	}
	for _, d := range []string{p.Dir, p.Root, p.State, p.CNIConfDir, p.IPAMDataDir} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return fmt.Errorf("prepare containerd dirs: %w", err)
		}
	}
	host, err := ProbeHost(p.Dir, s.cfg.CNIBinDirs)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.host = host
	s.mu.Unlock()
	config, err := RenderConfig(p, host, s.cfg.SandboxImage)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(p.Config, []byte(config), 0o600); err != nil {
		return fmt.Errorf("write containerd config: %w", err)
	}
	hosts, err := MirroredHosts(s.cfg.SandboxImage, s.cfg.MirroredHosts)
	if err != nil {
		return err
	}
	hostsTOML, err := RenderHostsTOML(s.cfg.RegistryMirror)
	if err != nil {
		return err
	}
	// containerd is not running yet, so the tree can simply be replaced;
	// hosts configured by an earlier start must not linger.
	if err := os.RemoveAll(p.CertsDir); err != nil {
		return fmt.Errorf("reset registry hosts: %w", err)
	}
	for _, h := range hosts {
		dir := filepath.Join(p.CertsDir, h)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("write registry hosts: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, "hosts.toml"), []byte(hostsTOML), 0o600); err != nil {
			return fmt.Errorf("write registry hosts: %w", err)
		}
	}
	s.cfg.Log.Info("containerd configured", "snapshotter", host.Snapshotter, "cgroupDriver", host.CgroupDriver,
		"cgroupV2", host.CgroupV2, "cniBinDir", host.CNIBinDir, "mirroredHosts", hosts)
	return nil
}

// waitReady polls CRI Status until the runtime reports RuntimeReady. The
// network condition is not waited for: it turns ready only once the CNI
// config is installed, which is the agent's job.
func (s *Supervisor) waitReady(ctx context.Context, started time.Time) error {
	client, err := cri.Dial(ctx, s.Endpoint())
	if err != nil {
		return err
	}
	defer client.Close()
	ticker := s.cfg.Clock.NewTicker(s.cfg.ReadyPollInterval)
	defer ticker.Stop()
	for {
		callCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := client.Status(callCtx, &runtimeapi.StatusRequest{})
		cancel()
		if err == nil && runtimeReady(st) {
			d := s.cfg.Clock.Since(started)
			s.mu.Lock()
			s.startupTime = d
			s.mu.Unlock()
			s.readyOnce.Do(func() { close(s.ready) })
			s.cfg.Log.Info("containerd ready", "startup", d.Round(time.Millisecond))
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C():
		}
	}
}

func runtimeReady(st *runtimeapi.StatusResponse) bool {
	for _, c := range st.GetStatus().GetConditions() {
		if c.Type == runtimeapi.RuntimeReady {
			return c.Status
		}
	}
	return false
}

// stop ends containerd politely. Its shims are in their own process
// groups and keep the containers running.
func (s *Supervisor) stop(proc *child) error {
	log := s.cfg.Log
	if err := proc.signal(syscall.SIGTERM); err != nil {
		log.Warn("signal containerd", "err", err)
	}
	timer := s.cfg.Clock.NewTimer(s.cfg.StopTimeout)
	defer timer.Stop()
	select {
	case <-proc.exited:
		log.Info("containerd stopped")
		return nil
	case <-timer.C():
	}
	log.Warn("containerd ignored SIGTERM; killing it", "timeout", s.cfg.StopTimeout)
	_ = proc.signal(syscall.SIGKILL)
	<-proc.exited
	return nil
}

// logTail returns the end of containerd's log for error messages.
func (s *Supervisor) logTail() string {
	b, err := os.ReadFile(s.paths.Log)
	if err != nil {
		return ""
	}
	const max = 2048
	if len(b) > max {
		b = b[len(b)-max:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}

// child is the running containerd process.
type child struct {
	pid    int
	exited chan struct{} // closed after err is set
	err    error
	sigs   chan syscall.Signal
}

func (c *child) signal(sig syscall.Signal) error {
	select {
	case c.sigs <- sig:
		return nil
	case <-c.exited:
		return errors.New("already exited")
	}
}

// startChild runs the binary from a goroutine locked to its OS thread for
// the child's whole life: Pdeathsig fires when the *thread* that forked
// the child exits, and this way that only happens when Gureum itself dies,
// taking containerd down with it (SIGTERM, so it still exits cleanly)
// instead of leaving an orphan holding the data dir's lock.
func startChild(binary string, args []string, out *os.File) (*child, error) {
	c := &child{exited: make(chan struct{}), sigs: make(chan syscall.Signal)}
	startErr := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// Never unlocked: the goroutine's thread is discarded when it
		// ends, which is exactly when the child is gone.
		cmd := exec.Command(binary, args...)
		cmd.Stdout = out
		cmd.Stderr = out
		cmd.SysProcAttr = &syscall.SysProcAttr{
			// Its own process group: a Ctrl-C to Gureum's terminal must
			// not reach containerd before Gureum stops it in order.
			Setpgid:   true,
			Pdeathsig: syscall.SIGTERM,
		}
		if err := cmd.Start(); err != nil {
			startErr <- err
			return
		}
		c.pid = cmd.Process.Pid
		startErr <- nil
		waitErr := make(chan error, 1)
		go func() { waitErr <- cmd.Wait() }()
		for {
			select {
			case sig := <-c.sigs:
				_ = cmd.Process.Signal(sig)
			case err := <-waitErr:
				c.err = err
				if c.err == nil {
					c.err = errors.New("exit status 0")
				}
				close(c.exited)
				return
			}
		}
	}()
	if err := <-startErr; err != nil {
		return nil, err
	}
	return c, nil
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
