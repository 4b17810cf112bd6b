package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	grpcstatus "google.golang.org/grpc/status"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/tools/reference"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/clock"

	"github.com/gureum/gureum/internal/cri"
)

// probeUserAgent is what HTTP and gRPC probes identify as, like the
// kubelet's "kube-probe/<major>.<minor>".
var probeUserAgent = "kube-probe/" + strings.Join(strings.SplitN(strings.TrimPrefix(KubeletVersion, "v"), ".", 3)[:2], ".")

// maxProbeBody bounds how much of an HTTP probe's response is read.
const maxProbeBody = 10 << 10

// probeManager runs one worker per (running container instance, probe
// type) and keeps what each has published. Workers are started and
// stopped by the pod worker's sync (sync, removePod); a result that
// changes wakes the pod so its status and restarts follow at once.
type probeManager struct {
	rt       cri.Runtime
	recorder record.EventRecorder
	clk      clock.WithTickerAndDelayedExecution
	log      *slog.Logger
	wake     func(types.UID)

	wg      sync.WaitGroup
	mu      sync.Mutex
	workers map[probeKey]*probeWorker
}

// probeWorker is one probe of one container instance.
type probeWorker struct {
	key     probeKey
	podUID  types.UID
	cancel  context.CancelFunc
	trigger chan struct{}

	// published and result are guarded by the manager's mutex.
	published bool
	result    probeResult
}

func newProbeManager(rt cri.Runtime, recorder record.EventRecorder, clk clock.WithTickerAndDelayedExecution, log *slog.Logger, wake func(types.UID)) *probeManager {
	return &probeManager{rt: rt, recorder: recorder, clk: clk, log: log, wake: wake, workers: map[probeKey]*probeWorker{}}
}

// results is a snapshot of what the pod's probe workers have published.
func (m *probeManager) results(uid types.UID) probeResults {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := probeResults{}
	for k, w := range m.workers {
		if w.podUID == uid && w.published {
			out[k] = w.result
		}
	}
	return out
}

// sync makes the pod's probe workers match its running containers: a
// worker for each probe of each running container of the current sandbox,
// none for anything else. A terminating pod is probed no more.
func (m *probeManager) sync(ctx context.Context, pod *v1.Pod, rt podRuntime, podIP string) {
	type wanted struct {
		c    *v1.Container
		inst containerInfo
	}
	want := map[probeKey]wanted{}
	if sb, ok := rt.currentSandbox(); ok && sb.Ready && pod.DeletionTimestamp == nil {
		for i := range pod.Spec.Containers {
			c := &pod.Spec.Containers[i]
			inst, ok := rt.latest(c.Name)
			if !ok || inst.State != runtimeapi.ContainerState_CONTAINER_RUNNING || inst.SandboxID != sb.ID {
				continue
			}
			for _, t := range probeTypes {
				if probeSpec(c, t) != nil {
					want[probeKey{inst.ID, t}] = wanted{c, inst}
				}
			}
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, w := range m.workers {
		if w.podUID != pod.UID {
			continue
		}
		if _, ok := want[k]; !ok {
			w.cancel()
			delete(m.workers, k)
		}
	}
	for k, wt := range want {
		if _, ok := m.workers[k]; ok {
			continue
		}
		wctx, cancel := context.WithCancel(ctx)
		w := &probeWorker{key: k, podUID: pod.UID, cancel: cancel, trigger: make(chan struct{}, 1)}
		m.workers[k] = w
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.runWorker(wctx, w, pod, wt.c, wt.inst, podIP)
		}()
	}
}

// removePod stops every probe worker of a pod and forgets its results.
func (m *probeManager) removePod(uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, w := range m.workers {
		if w.podUID == uid {
			w.cancel()
			delete(m.workers, k)
		}
	}
}

// wait blocks until every worker has returned; their contexts end with
// the agent's.
func (m *probeManager) wait() { m.wg.Wait() }

// startupSucceeded reports whether the container instance's startup probe
// has succeeded.
func (m *probeManager) startupSucceeded(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	w, ok := m.workers[probeKey{id, probeStartup}]
	return ok && w.published && w.result == resultSuccess
}

// publish stores a worker's result; a change wakes the pod, and a startup
// probe's success lets the container's other probes run at once.
func (m *probeManager) publish(w *probeWorker, r probeResult, changed bool) {
	m.mu.Lock()
	if m.workers[w.key] != w {
		m.mu.Unlock()
		return // stopped meanwhile: its container is gone
	}
	w.published, w.result = true, r
	if changed && w.key.Type == probeStartup && r == resultSuccess {
		for k, o := range m.workers {
			if k.ContainerID == w.key.ContainerID && o != w {
				select {
				case o.trigger <- struct{}{}:
				default:
				}
			}
		}
	}
	m.mu.Unlock()
	if changed {
		m.wake(w.podUID)
	}
}

// runWorker probes one container instance every period after its initial
// delay, counting results against the thresholds, until its context ends
// or its result ends its work (stopsProbing).
func (m *probeManager) runWorker(ctx context.Context, w *probeWorker, pod *v1.Pod, c *v1.Container, inst containerInfo, podIP string) {
	t := w.key.Type
	spec := probeSpec(c, t)
	params := paramsFor(spec, t)
	log := m.log.With("pod", pod.Namespace+"/"+pod.Name, "container", c.Name, "probe", t.String())
	if d := inst.StartedAt.Add(params.InitialDelay).Sub(m.clk.Now()); d > 0 {
		timer := m.clk.NewTimer(d)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C():
		}
	}
	tick := m.clk.NewTicker(params.Period)
	defer tick.Stop()
	counter := newProbeCounter(t)
	ref := containerRef(pod, c)
	for {
		// Liveness and readiness wait for the startup probe to succeed.
		if t == probeStartup || c.StartupProbe == nil || m.startupSucceeded(w.key.ContainerID) {
			res, out, err := runProbe(ctx, m.rt, spec, c, w.key.ContainerID, podIP, params.Timeout)
			if ctx.Err() != nil {
				return
			}
			switch {
			case err != nil:
				// Like the kubelet, a probe that could not run is not counted.
				log.Debug("probe errored", "err", err)
				m.recorder.Eventf(ref, v1.EventTypeWarning, "Unhealthy", "%s probe errored: %v", t, err)
			default:
				if res == resultFailure {
					m.recorder.Eventf(ref, v1.EventTypeWarning, "Unhealthy", "%s probe failed: %s", t, out)
				}
				var publish, changed bool
				counter, publish, changed = counter.observe(res, params)
				if changed {
					log.Info("probe result changed", "result", counter.Published.String(), "output", out)
				}
				if publish {
					m.publish(w, counter.Published, changed)
					if stopsProbing(t, counter.Published) {
						return
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C():
		case <-w.trigger:
		}
	}
}

// containerRef points events at the container, as the kubelet's do.
func containerRef(pod *v1.Pod, c *v1.Container) *v1.ObjectReference {
	ref, err := reference.GetReference(scheme.Scheme, pod)
	if err != nil {
		ref = &v1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID}
	}
	ref.FieldPath = fmt.Sprintf("spec.containers{%s}", c.Name)
	return ref
}

// runProbe runs one attempt of a probe. A failure carries its output; an
// error means the probe could not be run at all (a bad port name, an exec
// the runtime refused), which the worker does not count.
func runProbe(ctx context.Context, rt cri.Runtime, p *v1.Probe, c *v1.Container, containerID, podIP string, timeout time.Duration) (probeResult, string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch {
	case p.Exec != nil:
		return execProbe(ctx, rt, containerID, p.Exec.Command, timeout)
	case p.HTTPGet != nil:
		port, err := resolvePort(p.HTTPGet.Port, c)
		if err != nil {
			return resultUnknown, "", err
		}
		host := p.HTTPGet.Host
		if host == "" {
			host = podIP
		}
		return httpProbe(ctx, p.HTTPGet, host, port, timeout)
	case p.TCPSocket != nil:
		port, err := resolvePort(p.TCPSocket.Port, c)
		if err != nil {
			return resultUnknown, "", err
		}
		host := p.TCPSocket.Host
		if host == "" {
			host = podIP
		}
		return tcpProbe(ctx, host, port)
	case p.GRPC != nil:
		service := ""
		if p.GRPC.Service != nil {
			service = *p.GRPC.Service
		}
		return grpcProbe(ctx, podIP, int(p.GRPC.Port), service, timeout)
	}
	return resultUnknown, "", errors.New("probe has no handler")
}

// execProbe runs the command in the container: exit 0 is success.
func execProbe(ctx context.Context, rt cri.Runtime, containerID string, cmd []string, timeout time.Duration) (probeResult, string, error) {
	resp, err := rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: containerID, Cmd: cmd, Timeout: int64(max(timeout/time.Second, 1))})
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || grpcstatus.Code(err) == codes.DeadlineExceeded {
			return resultFailure, fmt.Sprintf("command %q timed out", strings.Join(cmd, " ")), nil
		}
		return resultUnknown, "", fmt.Errorf("exec %q: %w", strings.Join(cmd, " "), err)
	}
	out := string(resp.Stdout) + string(resp.Stderr)
	if resp.ExitCode != 0 {
		return resultFailure, out, nil
	}
	return resultSuccess, out, nil
}

// probeURL builds the URL the way the kubelet does: the path may carry a
// query.
func probeURL(scheme, host string, port int, path string) *url.URL {
	u, err := url.Parse(path)
	if err != nil {
		u = &url.URL{Path: path}
	}
	u.Scheme = scheme
	u.Host = net.JoinHostPort(host, strconv.Itoa(port))
	return u
}

// httpProbe GETs the URL: 200-399 is success. HTTPS is not verified, and
// redirects are followed only to the same host (another host's redirect
// ends the probe with the redirect's status), as in the kubelet.
func httpProbe(ctx context.Context, g *v1.HTTPGetAction, host string, port int, timeout time.Duration) (probeResult, string, error) {
	scheme := "http"
	if g.Scheme == v1.URISchemeHTTPS {
		scheme = "https"
	}
	u := probeURL(scheme, host, port, g.Path)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return resultUnknown, "", fmt.Errorf("http probe request: %w", err)
	}
	for _, h := range g.HTTPHeaders {
		if strings.EqualFold(h.Name, "Host") {
			req.Host = h.Value
			continue
		}
		req.Header.Add(h.Name, h.Value)
	}
	if _, ok := req.Header["User-Agent"]; !ok {
		req.Header.Set("User-Agent", probeUserAgent)
	}
	if _, ok := req.Header["Accept"]; !ok {
		req.Header.Set("Accept", "*/*")
	}
	client := &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // probes do not verify, like the kubelet's
			DisableKeepAlives: true,
			Proxy:             nil,
		},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Hostname() != via[0].URL.Hostname() {
				return http.ErrUseLastResponse
			}
			if len(via) >= 10 {
				return errors.New("stopped after 10 redirects")
			}
			return nil
		},
	}
	resp, err := client.Do(req)
	if err != nil {
		return resultFailure, err.Error(), nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxProbeBody))
	switch {
	case resp.StatusCode >= http.StatusOK && resp.StatusCode < http.StatusMultipleChoices:
		return resultSuccess, string(body), nil
	case resp.StatusCode >= http.StatusMultipleChoices && resp.StatusCode < http.StatusBadRequest:
		return resultSuccess, "Probe terminated redirects, Response body: " + string(body), nil
	}
	return resultFailure, fmt.Sprintf("HTTP probe failed with statuscode: %d", resp.StatusCode), nil
}

// tcpProbe succeeds when a connection opens.
func tcpProbe(ctx context.Context, host string, port int) (probeResult, string, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return resultFailure, err.Error(), nil
	}
	_ = conn.Close()
	return resultSuccess, "", nil
}

// grpcProbe calls grpc.health.v1.Health/Check: SERVING is success.
func grpcProbe(ctx context.Context, host string, port int, service string, timeout time.Duration) (probeResult, string, error) {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithUserAgent(probeUserAgent))
	if err != nil {
		return resultFailure, fmt.Sprintf("failed to connect service %q: %v", addr, err), nil
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		switch grpcstatus.Code(err) {
		case codes.Unimplemented:
			return resultFailure, fmt.Sprintf("this server does not implement the grpc health protocol (grpc.health.v1.Health): %s", grpcstatus.Convert(err).Message()), nil
		case codes.DeadlineExceeded:
			return resultFailure, fmt.Sprintf("timeout: health rpc did not complete within %v", timeout), nil
		}
		return resultFailure, fmt.Sprintf("error: health rpc probe failed: %v", err), nil
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return resultFailure, fmt.Sprintf("service unhealthy (responded with %q)", resp.GetStatus().String()), nil
	}
	return resultSuccess, "", nil
}
