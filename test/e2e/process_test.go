package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
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
	"testing"
	"time"
)

// ports are the listening ports of one gureum server.
type ports struct {
	HTTPS, EtcdClient, EtcdPeer int
}

func freePorts(t *testing.T) ports {
	t.Helper()
	return ports{HTTPS: freePort(t), EtcdClient: freePort(t), EtcdPeer: freePort(t)}
}

var (
	portsMu sync.Mutex
	// handedOut are the ports this test binary has given out: a port
	// found free and closed again can come back from the kernel at the
	// next ask, and one node's agent and etcd once got the same port.
	handedOut = map[int]bool{}
)

// freePort returns a port that is free now and that no other call in this
// process has returned.
func freePort(t *testing.T) int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("find a free port: %v", err)
		}
		held = append(held, l) // held until we return, so the kernel offers another
		if p := l.Addr().(*net.TCPAddr).Port; !handedOut[p] {
			handedOut[p] = true
			return p
		}
	}
}

// syncBuffer collects a process's output for failure messages.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// proc is one gureum subprocess.
type proc struct {
	t       *testing.T
	cmd     *exec.Cmd
	stdout  *syncBuffer
	stderr  *syncBuffer
	exited  chan struct{}
	waitErr error
}

// startGureum runs `gureum args...` and stops it (SIGKILL if it has not
// exited) when the test ends, printing its output if the test failed.
func startGureum(t *testing.T, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(gureumBin, args...)
	p := &proc{t: t, cmd: cmd, stdout: &syncBuffer{}, stderr: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", gureumBin, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("gureum %s\n--- stdout ---\n%s\n--- stderr (last 4000 bytes) ---\n%s", strings.Join(args, " "), p.stdout, tail(p.stderr.String(), 4000))
		}
	})
	return p
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// exitCode waits up to within for the process to exit and returns its exit
// code; it fails the test if the process is still running.
func (p *proc) exitCode(within time.Duration) int {
	p.t.Helper()
	select {
	case <-p.exited:
	case <-time.After(within):
		p.t.Fatalf("gureum still running %v after it should have exited", within)
	}
	var ee *exec.ExitError
	switch {
	case p.waitErr == nil:
		return 0
	case errors.As(p.waitErr, &ee):
		return ee.ExitCode()
	default:
		p.t.Fatalf("wait for gureum: %v", p.waitErr)
		return -1
	}
}

// terminate sends SIGTERM and returns the exit code and how long the
// process took to exit; it fails the test after 10 s.
func (p *proc) terminate() (int, time.Duration) {
	p.t.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatalf("send SIGTERM: %v", err)
	}
	code := p.exitCode(10 * time.Second)
	return code, time.Since(start)
}

// server is `gureum server` on its own ports and data dir, without a node
// agent unless serverOpts.AgentPort says otherwise.
type server struct {
	*proc
	DataDir    string
	Ports      ports
	Kubeconfig string // the admin kubeconfig the server writes
}

type serverOpts struct {
	DataDir string // empty: a fresh temp dir
	Ports   *ports // nil: free ports
	Extra   []string
	Command string // "server" (default) or "up"
	// BindAddress defaults to 127.0.0.1; pods reach the API server only
	// when it listens on a host address.
	BindAddress string
	// AgentPort, when set, runs the server's own node agent on that port
	// (containerd, CNI, real pods) instead of --disable-agent.
	AgentPort int
}

func serverArgs(o serverOpts, dataDir string, p ports) []string {
	cmd := o.Command
	if cmd == "" {
		cmd = "server"
	}
	bind := o.BindAddress
	if bind == "" {
		bind = "127.0.0.1"
	}
	args := []string{cmd,
		"--data-dir", dataDir,
		"--bind-address", bind,
		"--https-port", strconv.Itoa(p.HTTPS),
		"--etcd-client-port", strconv.Itoa(p.EtcdClient),
		"--etcd-peer-port", strconv.Itoa(p.EtcdPeer),
	}
	if o.AgentPort == 0 {
		args = append(args, "--disable-agent")
	} else {
		args = append(args, "--agent-port", strconv.Itoa(o.AgentPort))
	}
	return append(args, o.Extra...)
}

// startServer starts a server and waits until /readyz answers ok.
func startServer(t *testing.T, o serverOpts) *server {
	t.Helper()
	s := launchServer(t, o)
	s.waitReady(30 * time.Second)
	return s
}

// launchServer starts a server without waiting for it.
func launchServer(t *testing.T, o serverOpts) *server {
	t.Helper()
	dir := o.DataDir
	if dir == "" {
		dir = t.TempDir()
	}
	var p ports
	if o.Ports != nil {
		p = *o.Ports
	} else {
		p = freePorts(t)
	}
	s := &server{DataDir: dir, Ports: p, Kubeconfig: filepath.Join(dir, "kubeconfig.yaml")}
	s.proc = startGureum(t, serverArgs(o, dir, p)...)
	return s
}

func (s *server) url(path string) string {
	return fmt.Sprintf("https://127.0.0.1:%d%s", s.Ports.HTTPS, path)
}

// httpClient trusts the server's CA and presents no credentials.
func (s *server) httpClient() *http.Client {
	s.t.Helper()
	pem, err := os.ReadFile(filepath.Join(s.DataDir, "tls", "ca.crt"))
	if err != nil {
		s.t.Fatalf("read the server's CA: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		s.t.Fatalf("no certificate in %s", filepath.Join(s.DataDir, "tls", "ca.crt"))
	}
	return &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}
}

// waitReady polls /readyz until it answers 200 ok, the process exits, or
// within passes.
func (s *server) waitReady(within time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(within)
	var last string
	for {
		select {
		case <-s.exited:
			s.t.Fatalf("gureum exited before it was ready: %v\n%s", s.waitErr, tail(s.stderr.String(), 4000))
		default:
		}
		if _, err := os.Stat(filepath.Join(s.DataDir, "tls", "ca.crt")); err == nil {
			code, body, err := get(s.httpClient(), s.url("/readyz"))
			if err == nil && code == http.StatusOK && body == "ok" {
				return
			}
			last = fmt.Sprintf("code=%d body=%q err=%v", code, body, err)
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("gureum not ready after %v (last /readyz: %s)", within, last)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not a readiness guess
	}
}

func get(c *http.Client, url string) (int, string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), err
}

// kubectl runs the real kubectl with kubeconfig and returns its output.
// A command that waits (rollout status, wait) gets its own --timeout and
// some more before it is killed, so that it fails with kubectl's own
// message rather than a kill signal.
func kubectl(t *testing.T, kubeconfig string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), kubectlDeadline(args))
	defer cancel()
	cmd := exec.CommandContext(ctx, kubectlPath(t), append([]string{"--kubeconfig", kubeconfig}, args...)...)
	// A private HOME keeps kubectl's discovery cache out of the user's.
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "KUBECONFIG="+kubeconfig)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// kubectlDeadline is how long kubectl may run with args: 30 s, or 15 s
// past a longer --timeout.
func kubectlDeadline(args []string) time.Duration {
	d := 30 * time.Second
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--timeout="); ok {
			if t, err := time.ParseDuration(v); err == nil && t+15*time.Second > d {
				d = t + 15*time.Second
			}
		}
	}
	return d
}

func mustKubectl(t *testing.T, kubeconfig string, args ...string) string {
	t.Helper()
	out, err := kubectl(t, kubeconfig, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// eventually polls cond every 50 ms until it returns nil or within passes,
// then fails with cond's last error.
func eventually(t *testing.T, within time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %v: %v", what, within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitForOutput waits until b contains want, the process exits, or within
// passes, and returns everything b holds.
func waitForOutput(t *testing.T, b *syncBuffer, exited <-chan struct{}, want string, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		s := b.String()
		if strings.Contains(s, want) {
			return s
		}
		select {
		case <-exited:
			t.Fatalf("gureum exited before printing %q; output:\n%s", want, s)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("gureum did not print %q within %v; output:\n%s", want, within, s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
