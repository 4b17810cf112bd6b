// Package streaming owns the node agent's HTTPS endpoint that the API server
// proxies `kubectl logs`, `exec`, `attach` and `port-forward` to. Logs are
// read from the CRI log files; exec, attach and port-forward are handed to
// the container runtime's own streaming server (CRI Exec/Attach/PortForward
// return its URL), with this endpoint relaying the upgraded connection.
// Only clients holding a certificate from the cluster CA (the API server)
// get in.
package streaming

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/clock"

	"github.com/gureum/gureum/internal/cri"
)

// The CRI labels the agent puts on sandboxes and containers (the kubelet's).
const (
	labelPodName       = "io.kubernetes.pod.name"
	labelPodNamespace  = "io.kubernetes.pod.namespace"
	labelPodUID        = "io.kubernetes.pod.uid"
	labelContainerName = "io.kubernetes.container.name"
)

// Config is what the endpoint needs.
type Config struct {
	Runtime cri.Runtime
	// ClientCAs verifies callers' certificates (the cluster CA).
	ClientCAs *x509.CertPool
	// NodeName and NodeIPs go into the self-signed serving certificate.
	NodeName string
	NodeIPs  []net.IP
	// PollInterval is how often a followed log is checked for new lines
	// (default 100ms).
	PollInterval time.Duration
	Clock        clock.WithTicker
	Log          *slog.Logger
}

// Server is the agent's streaming endpoint.
type Server struct {
	cfg Config
	log *slog.Logger
}

// New builds the endpoint; Run serves it.
func New(cfg Config) *Server {
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 100 * time.Millisecond
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Server{cfg: cfg, log: cfg.Log}
}

// Run serves HTTPS on ln until ctx ends.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	cert, err := selfSigned(s.cfg.NodeName, s.cfg.NodeIPs)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler: s,
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{cert},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    s.cfg.ClientCAs,
			// Upgraded streams (SPDY) need HTTP/1.1.
			NextProtos: []string{"http/1.1"},
			MinVersion: tls.VersionTLS12,
		},
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	select {
	case <-ctx.Done():
		shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
		_ = srv.Close()
		return nil
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("serve node streaming endpoint: %w", err)
	}
}

// selfSigned makes the endpoint's serving certificate. The API server does
// not verify it (as Kubernetes' default for kubelets); TLS still encrypts
// the stream and the client certificate authenticates the caller.
func selfSigned(nodeName string, ips []net.IP) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generate serving key: %w", err)
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: nodeName},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{nodeName},
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("sign serving certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// ServeHTTP routes the kubelet-compatible paths:
//
//	/containerLogs/{namespace}/{pod}/{container}
//	/exec/{namespace}/{pod}[/{uid}]/{container}
//	/attach/{namespace}/{pod}[/{uid}]/{container}
//	/portForward/{namespace}/{pod}[/{uid}]
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	uid := r.URL.Query().Get("podUID")
	var err error
	switch {
	case len(parts) == 4 && parts[0] == "containerLogs":
		err = s.serveLogs(w, r, parts[1], parts[2], uid, parts[3])
	case (len(parts) == 4 || len(parts) == 5) && (parts[0] == "exec" || parts[0] == "attach"):
		if len(parts) == 5 {
			uid = parts[3]
		}
		err = s.serveStream(w, r, parts[0], parts[1], parts[2], uid, parts[len(parts)-1])
	case (len(parts) == 3 || len(parts) == 4) && parts[0] == "portForward":
		if len(parts) == 4 {
			uid = parts[3]
		}
		err = s.servePortForward(w, r, parts[1], parts[2], uid)
	default:
		http.NotFound(w, r)
		return
	}
	if err != nil {
		var he *httpError
		if !errors.As(err, &he) {
			he = &httpError{status: http.StatusInternalServerError, msg: err.Error()}
		}
		http.Error(w, he.msg, he.status)
	}
}

type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func notFound(format string, args ...any) error {
	return &httpError{status: http.StatusNotFound, msg: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) error {
	return &httpError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// containers lists a pod's containers of one name, newest first.
func (s *Server) containers(ctx context.Context, ns, pod, uid, container string) ([]*runtimeapi.Container, error) {
	labels := map[string]string{labelPodNamespace: ns, labelPodName: pod, labelContainerName: container}
	if uid != "" {
		labels[labelPodUID] = uid
	}
	resp, err := s.cfg.Runtime.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{LabelSelector: labels}})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	cs := resp.Containers
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].GetMetadata().GetAttempt() != cs[j].GetMetadata().GetAttempt() {
			return cs[i].GetMetadata().GetAttempt() > cs[j].GetMetadata().GetAttempt()
		}
		return cs[i].CreatedAt > cs[j].CreatedAt
	})
	return cs, nil
}

func (s *Server) serveLogs(w http.ResponseWriter, r *http.Request, ns, pod, uid, container string) error {
	q := r.URL.Query()
	opts := LogOptions{TailLines: -1}
	if v := q.Get("tailLines"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return badRequest("tailLines must be a non-negative integer")
		}
		opts.TailLines = n
	}
	if v := q.Get("limitBytes"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return badRequest("limitBytes must be a positive integer")
		}
		opts.LimitBytes = n
	}
	if v := q.Get("sinceSeconds"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return badRequest("sinceSeconds must be a positive integer")
		}
		opts.Since = s.cfg.Clock.Now().Add(-time.Duration(n) * time.Second)
	}
	if v := q.Get("sinceTime"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return badRequest("sinceTime must be RFC3339")
		}
		opts.Since = t
	}
	opts.Timestamps = isTrue(q.Get("timestamps"))
	follow := isTrue(q.Get("follow"))
	previous := isTrue(q.Get("previous"))

	cs, err := s.containers(r.Context(), ns, pod, uid, container)
	if err != nil {
		return err
	}
	idx := 0
	if previous {
		idx = 1
	}
	if len(cs) <= idx {
		if previous {
			return badRequest("previous terminated container %q in pod %q not found", container, pod)
		}
		return notFound("container %q in pod %q is not running yet (waiting to start?)", container, pod)
	}
	st, err := s.cfg.Runtime.ContainerStatus(r.Context(), &runtimeapi.ContainerStatusRequest{ContainerId: cs[idx].Id})
	if err != nil {
		return fmt.Errorf("container status: %w", err)
	}
	path := st.GetStatus().GetLogPath()
	if path == "" {
		return notFound("container %q in pod %q has no log file", container, pod)
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return notFound("log of container %q in pod %q is gone (container removed?)", container, pod)
	}
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	defer f.Close()

	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Transfer-Encoding", "chunked")
	w.WriteHeader(http.StatusOK)
	out := &limitedWriter{w: w, left: opts.LimitBytes, limit: opts.LimitBytes > 0}
	flush := func() {
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
	}
	entries, pending, err := readEntries(f)
	if err != nil {
		return nil // headers are out; the client sees a short log
	}
	if err := writeEntries(out, selectEntries(entries, opts), opts.Timestamps); err != nil {
		return nil
	}
	flush()
	if !follow || previous {
		return nil
	}
	return s.followLog(r.Context(), f, pending, cs[idx].Id, out, opts, flush)
}

// followLog streams lines appended to f until the container stops and its
// log is drained, or the client goes away.
func (s *Server) followLog(ctx context.Context, f *os.File, pending []byte, id string, out io.Writer, opts LogOptions, flush func()) error {
	t := s.cfg.Clock.NewTicker(s.cfg.PollInterval)
	defer t.Stop()
	checks := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		}
		data, err := io.ReadAll(f)
		if err != nil {
			return nil
		}
		if len(data) > 0 {
			buf := append(pending, data...)
			entries, rest, _ := readEntries(strings.NewReader(string(buf)))
			pending = rest
			if !opts.Since.IsZero() {
				entries = selectEntries(entries, LogOptions{Since: opts.Since, TailLines: -1})
			}
			if err := writeEntries(out, entries, opts.Timestamps); err != nil {
				return nil
			}
			flush()
			continue
		}
		// Nothing new: every tenth idle tick, stop once the container
		// has exited (its log is complete).
		checks++
		if checks%10 != 0 {
			continue
		}
		st, err := s.cfg.Runtime.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id})
		if err != nil || st.GetStatus().GetState() == runtimeapi.ContainerState_CONTAINER_EXITED {
			return nil
		}
	}
}

func isTrue(v string) bool { return v == "true" || v == "1" }

// serveStream hands exec and attach to the runtime's streaming server.
func (s *Server) serveStream(w http.ResponseWriter, r *http.Request, kind, ns, pod, uid, container string) error {
	if err := refuseWebSocket(r); err != nil {
		return err
	}
	cs, err := s.containers(r.Context(), ns, pod, uid, container)
	if err != nil {
		return err
	}
	if len(cs) == 0 || cs[0].State != runtimeapi.ContainerState_CONTAINER_RUNNING {
		return badRequest("container %s is not running in pod %s/%s", container, ns, pod)
	}
	q := r.URL.Query()
	tty := isTrue(q.Get("tty"))
	stdin, stdout, stderr := isTrue(q.Get("stdin")), isTrue(q.Get("stdout")), isTrue(q.Get("stderr"))
	if tty {
		stderr = false // a terminal merges stderr into stdout
	}
	var streamURL string
	switch kind {
	case "exec":
		cmd := q["command"]
		if len(cmd) == 0 {
			return badRequest("exec needs a command")
		}
		resp, err := s.cfg.Runtime.Exec(r.Context(), &runtimeapi.ExecRequest{ContainerId: cs[0].Id, Cmd: cmd, Tty: tty, Stdin: stdin, Stdout: stdout, Stderr: stderr})
		if err != nil {
			return fmt.Errorf("exec in %s: %w", container, err)
		}
		streamURL = resp.Url
	case "attach":
		resp, err := s.cfg.Runtime.Attach(r.Context(), &runtimeapi.AttachRequest{ContainerId: cs[0].Id, Tty: tty, Stdin: stdin, Stdout: stdout, Stderr: stderr})
		if err != nil {
			return fmt.Errorf("attach to %s: %w", container, err)
		}
		streamURL = resp.Url
	}
	return relay(w, r, streamURL)
}

func (s *Server) servePortForward(w http.ResponseWriter, r *http.Request, ns, pod, uid string) error {
	if err := refuseWebSocket(r); err != nil {
		return err
	}
	labels := map[string]string{labelPodNamespace: ns, labelPodName: pod}
	if uid != "" {
		labels[labelPodUID] = uid
	}
	resp, err := s.cfg.Runtime.ListPodSandbox(r.Context(), &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{
		LabelSelector: labels,
		State:         &runtimeapi.PodSandboxStateValue{State: runtimeapi.PodSandboxState_SANDBOX_READY},
	}})
	if err != nil {
		return fmt.Errorf("list sandboxes: %w", err)
	}
	if len(resp.Items) == 0 {
		return notFound("pod %s/%s has no running sandbox on this node", ns, pod)
	}
	pf, err := s.cfg.Runtime.PortForward(r.Context(), &runtimeapi.PortForwardRequest{PodSandboxId: resp.Items[0].Id})
	if err != nil {
		return fmt.Errorf("port-forward to %s/%s: %w", ns, pod, err)
	}
	return relay(w, r, pf.Url)
}

// refuseWebSocket turns away WebSocket upgrades: the runtime's streaming
// server speaks SPDY, and kubectl falls back to SPDY when a WebSocket
// upgrade is refused.
func refuseWebSocket(r *http.Request) error {
	if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return badRequest("this node streams over SPDY; WebSocket upgrade refused")
	}
	return nil
}

// relay proxies the (upgrading) request to the runtime's streaming URL.
func relay(w http.ResponseWriter, r *http.Request, target string) error {
	u, err := url.Parse(target)
	if err != nil {
		return fmt.Errorf("runtime returned a bad streaming URL %q: %w", target, err)
	}
	if u.Scheme == "" {
		u.Scheme = "http"
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL = u
			pr.Out.Host = u.Host
		},
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, "relay to the container runtime's stream: "+err.Error(), http.StatusBadGateway)
		},
	}
	rp.ServeHTTP(w, r)
	return nil
}
