package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// server is one `gureum server --disable-agent` child process.
type server struct {
	bin       string
	dir       string
	httpsPort int
	etcdPort  int
	peerPort  int
	cmd       *exec.Cmd
	log       *os.File
	done      chan struct{}
	waitErr   error
}

var (
	pidFileMu sync.Mutex
	pidFile   string // run.sh kills whatever is listed here on exit

	liveMu  sync.Mutex
	live    = map[*server]struct{}{}
	logSeqN int
)

// freePorts returns n distinct ports the kernel considers free right now.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// startServer launches a server on dataDir (created fresh or reused) and
// waits until GET /readyz answers ok. It returns the time from exec to the
// first ok.
func startServer(ctx context.Context, bin, workDir, dataDir string) (*server, time.Duration, error) {
	ports, err := freePorts(3)
	if err != nil {
		return nil, 0, err
	}
	liveMu.Lock()
	logSeqN++
	seq := logSeqN
	liveMu.Unlock()
	logf, err := os.Create(filepath.Join(workDir, fmt.Sprintf("server-%02d.log", seq)))
	if err != nil {
		return nil, 0, err
	}
	s := &server{bin: bin, dir: dataDir, httpsPort: ports[0], etcdPort: ports[1], peerPort: ports[2], log: logf, done: make(chan struct{})}
	// The API server alone, as the targets are stated: with the scheduler
	// running and no nodes, every created pod would also cost a status
	// patch and an event (figures for that are in bench/controllers).
	args := []string{"server", "--disable-agent", "--disable-controllers",
		"--data-dir", dataDir,
		"--bind-address", "127.0.0.1",
		"--https-port", strconv.Itoa(s.httpsPort),
		"--etcd-client-port", strconv.Itoa(s.etcdPort),
		"--etcd-peer-port", strconv.Itoa(s.peerPort),
		"--log-level", "info"}
	// BENCH_SERVER_ARGS adds flags to every server, for example
	// "--cpu-profile /tmp/server.prof" to see where a figure comes from.
	args = append(args, strings.Fields(os.Getenv("BENCH_SERVER_ARGS"))...)
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout = logf
	s.cmd.Stderr = logf
	// The server dies with this program even if it is killed outright.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	hc := &http.Client{
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: false},
		Timeout:   time.Second,
	}
	url := fmt.Sprintf("https://127.0.0.1:%d/readyz", s.httpsPort)
	start := time.Now()
	if err := s.cmd.Start(); err != nil {
		logf.Close()
		return nil, 0, fmt.Errorf("start %s: %w", bin, err)
	}
	s.track()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := hc.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && strings.TrimSpace(string(body)) == "ok" {
				took := time.Since(start)
				hc.CloseIdleConnections()
				return s, took, nil
			}
		}
		select {
		case <-s.done:
			return nil, 0, fmt.Errorf("server exited before ready (%v); see %s", s.waitErr, logf.Name())
		case <-ctx.Done():
			s.stop()
			return nil, 0, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, 0, fmt.Errorf("server not ready after 60s; see %s", logf.Name())
		}
	}
}

func recordPID(pid int) {
	pidFileMu.Lock()
	defer pidFileMu.Unlock()
	if pidFile == "" {
		return
	}
	f, err := os.OpenFile(pidFile, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return
	}
	fmt.Fprintln(f, pid)
	f.Close()
}

// stop sends SIGTERM, then SIGKILL after 10 s.
func (s *server) stop() error {
	select {
	case <-s.done:
	default:
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	}
	liveMu.Lock()
	delete(live, s)
	liveMu.Unlock()
	s.log.Close()
	var ee *exec.ExitError
	if s.waitErr != nil && !errors.As(s.waitErr, &ee) {
		return s.waitErr
	}
	return nil
}

// stopAll stops every server still running (on interrupt).
func stopAll() {
	liveMu.Lock()
	var ss []*server
	for s := range live {
		ss = append(ss, s)
	}
	liveMu.Unlock()
	for _, s := range ss {
		s.stop()
	}
}

// track records a started process for clean-up and reaps it when it exits.
func (s *server) track() {
	recordPID(s.cmd.Process.Pid)
	liveMu.Lock()
	live[s] = struct{}{}
	liveMu.Unlock()
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.done)
	}()
}

// rssBytes reads VmRSS of the server process.
func (s *server) rssBytes() (int64, error) { return s.statusBytes("VmRSS") }

// statusBytes reads a kB field of the server's /proc status (VmRSS,
// RssAnon: its private memory, RssFile: resident pages of mapped files,
// mostly the executable's).
func (s *server) statusBytes(field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field+":") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, err := strconv.ParseInt(f[1], 10, 64)
				return kb * 1024, err
			}
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, s.cmd.Process.Pid)
}

func (s *server) kubeconfig() string { return filepath.Join(s.dir, "kubeconfig.yaml") }

// cpuTime is the user+system CPU the server process has used so far.
func (s *server) cpuTime() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / clockTicks
}

// clockTicks is USER_HZ, 100 on every Linux this runs on.
const clockTicks = 100

// selfCPU is the CPU this benchmark process has used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
