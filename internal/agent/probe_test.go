package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/record"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	testingclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/gureum/gureum/internal/cri/crifake"
)

func TestProbeCounter(t *testing.T) {
	S, F := resultSuccess, resultFailure
	cases := []struct {
		name       string
		typ        probeType
		succ, fail int32
		in         []probeResult
		// want is the published result after each input; changed marks
		// the inputs that flip it.
		want    []probeResult
		changed []bool
	}{
		{name: "readiness starts failed and flips on first success", typ: probeReadiness, succ: 1, fail: 3,
			in: []probeResult{S, S}, want: []probeResult{S, S}, changed: []bool{true, false}},
		{name: "readiness needs failureThreshold failures", typ: probeReadiness, succ: 1, fail: 3,
			in: []probeResult{S, F, F, F, F}, want: []probeResult{S, S, S, F, F}, changed: []bool{true, false, false, true, false}},
		{name: "a success resets the failure run", typ: probeReadiness, succ: 1, fail: 2,
			in: []probeResult{S, F, S, F, F}, want: []probeResult{S, S, S, S, F}, changed: []bool{true, false, false, false, true}},
		{name: "readiness successThreshold", typ: probeReadiness, succ: 3, fail: 1,
			in: []probeResult{S, S, F, S, S, S}, want: []probeResult{F, F, F, F, F, S}, changed: []bool{false, false, false, false, false, true}},
		{name: "liveness starts alive", typ: probeLiveness, succ: 1, fail: 3,
			in: []probeResult{F, F, F}, want: []probeResult{S, S, F}, changed: []bool{false, false, true}},
		{name: "liveness failureThreshold 1", typ: probeLiveness, succ: 1, fail: 1,
			in: []probeResult{S, F}, want: []probeResult{S, F}, changed: []bool{false, true}},
		{name: "startup starts unknown", typ: probeStartup, succ: 1, fail: 2,
			in: []probeResult{F, S}, want: []probeResult{resultUnknown, S}, changed: []bool{false, true}},
		{name: "startup fails after threshold", typ: probeStartup, succ: 1, fail: 2,
			in: []probeResult{F, F}, want: []probeResult{resultUnknown, F}, changed: []bool{false, true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newProbeCounter(tc.typ)
			p := probeParams{SuccessThreshold: tc.succ, FailureThreshold: tc.fail}
			for i, r := range tc.in {
				var changed bool
				c, _, changed = c.observe(r, p)
				if c.Published != tc.want[i] || changed != tc.changed[i] {
					t.Fatalf("after input %d (%s): published %s changed %v, want %s %v", i, r, c.Published, changed, tc.want[i], tc.changed[i])
				}
			}
		})
	}
}

func TestParamsFor(t *testing.T) {
	got := paramsFor(&v1.Probe{}, probeReadiness)
	want := probeParams{Period: 10 * time.Second, Timeout: time.Second, SuccessThreshold: 1, FailureThreshold: 3}
	if got != want {
		t.Errorf("defaults = %+v, want %+v", got, want)
	}
	p := &v1.Probe{InitialDelaySeconds: 5, PeriodSeconds: 2, TimeoutSeconds: 3, SuccessThreshold: 4, FailureThreshold: 6}
	if got := paramsFor(p, probeReadiness); got != (probeParams{5 * time.Second, 2 * time.Second, 3 * time.Second, 4, 6}) {
		t.Errorf("readiness = %+v", got)
	}
	if got := paramsFor(p, probeLiveness); got.SuccessThreshold != 1 {
		t.Errorf("liveness successThreshold = %d, want 1", got.SuccessThreshold)
	}
}

func probeContainer(startup, liveness, readiness bool) *v1.Container {
	c := &v1.Container{Name: "a", Image: "a:1"}
	exec := func(cmd string) *v1.Probe {
		return &v1.Probe{ProbeHandler: v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{cmd}}}}
	}
	if startup {
		c.StartupProbe = exec("started")
	}
	if liveness {
		c.LivenessProbe = exec("alive")
	}
	if readiness {
		c.ReadinessProbe = exec("ready")
	}
	return c
}

func TestContainerProbeStatus(t *testing.T) {
	const id = "a-0"
	res := func(kv ...any) probeResults {
		out := probeResults{}
		for i := 0; i < len(kv); i += 2 {
			out[probeKey{id, kv[i].(probeType)}] = kv[i+1].(probeResult)
		}
		return out
	}
	cases := []struct {
		name                 string
		c                    *v1.Container
		res                  probeResults
		started, ready, kill bool
		killType             probeType
	}{
		{name: "no probes: running is started and ready", c: probeContainer(false, false, false), started: true, ready: true},
		{name: "liveness only is ready", c: probeContainer(false, true, false), started: true, ready: true},
		{name: "readiness not yet run", c: probeContainer(false, false, true), started: true},
		{name: "readiness succeeded", c: probeContainer(false, false, true), res: res(probeReadiness, resultSuccess), started: true, ready: true},
		{name: "readiness failed", c: probeContainer(false, false, true), res: res(probeReadiness, resultFailure), started: true},
		{name: "startup pending gates readiness", c: probeContainer(true, false, true), res: res(probeReadiness, resultSuccess)},
		{name: "startup pending without readiness", c: probeContainer(true, false, false)},
		{name: "startup done, no readiness", c: probeContainer(true, false, false), res: res(probeStartup, resultSuccess), started: true, ready: true},
		{name: "startup done, readiness pending", c: probeContainer(true, false, true), res: res(probeStartup, resultSuccess), started: true},
		{name: "liveness failed kills", c: probeContainer(false, true, true), res: res(probeLiveness, resultFailure, probeReadiness, resultSuccess), started: true, ready: true, kill: true, killType: probeLiveness},
		{name: "startup failed kills", c: probeContainer(true, true, false), res: res(probeStartup, resultFailure), kill: true, killType: probeStartup},
		{name: "results of another instance do not count", c: probeContainer(false, true, true), res: probeResults{{"a-1", probeReadiness}: resultSuccess, {"a-1", probeLiveness}: resultFailure}, started: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			started, ready := containerProbeStatus(tc.c, id, tc.res)
			if started != tc.started || ready != tc.ready {
				t.Errorf("started, ready = %v, %v; want %v, %v", started, ready, tc.started, tc.ready)
			}
			kt, kill := probeKill(tc.c, id, tc.res)
			if kill != tc.kill || (kill && kt != tc.killType) {
				t.Errorf("kill = %v %s; want %v %s", kill, kt, tc.kill, tc.killType)
			}
		})
	}
}

func TestComputeActionsProbeKill(t *testing.T) {
	for _, tc := range []struct {
		policy  v1.RestartPolicy
		typ     probeType
		wantMsg string
	}{
		{"", probeLiveness, "Container a failed liveness probe, will be restarted"},
		{v1.RestartPolicyNever, probeLiveness, "Container a failed liveness probe"},
		{v1.RestartPolicyOnFailure, probeStartup, "Container a failed startup probe, will be restarted"},
	} {
		pod := testPod(tc.policy, nil, "a")
		c := probeContainer(true, true, false)
		c.LivenessProbe.TerminationGracePeriodSeconds = ptr.To(int64(7))
		pod.Spec.Containers[0] = *c
		rt := podRuntime{Sandboxes: ready("sb1"), Containers: []containerInfo{ctr("a", 0, running, 0)},
			Probes: probeResults{{"a-0", probeStartup}: resultSuccess, {"a-0", tc.typ}: resultFailure}}
		act := computeActions(pod, rt, nil, defaultBackoff, t0)
		if len(act.Kill) != 1 || act.Kill[0].ID != "a-0" || act.Kill[0].Message != tc.wantMsg || len(act.Start) != 0 {
			t.Errorf("%s/%s: actions = %+v", tc.policy, tc.typ, act)
			continue
		}
		if g := act.Kill[0].GracePeriod; tc.typ == probeLiveness && (g == nil || *g != 7) {
			t.Errorf("liveness kill grace = %v, want 7", g)
		}
	}
	// Without a failure nothing is killed.
	pod := testPod("", nil, "a")
	pod.Spec.Containers[0] = *probeContainer(false, true, true)
	act := computeActions(pod, podRuntime{Sandboxes: ready("sb1"), Containers: []containerInfo{ctr("a", 0, running, 0)}}, nil, defaultBackoff, t0)
	if len(act.Kill) != 0 {
		t.Errorf("healthy container killed: %+v", act.Kill)
	}
}

func TestPodStatusFollowsProbes(t *testing.T) {
	mk := func(c *v1.Container, res probeResults, deleting bool) v1.PodStatus {
		pod := testPod("", nil, "a")
		pod.Spec.Containers[0] = *c
		if deleting {
			pod.DeletionTimestamp = &metav1.Time{Time: t0}
		}
		rt := podRuntime{Sandboxes: ready("sb1"), Containers: []containerInfo{ctr("a", 0, running, 0)}, Probes: res}
		return computePodStatus(statusInput{Pod: pod, Runtime: rt, Now: t0})
	}
	check := func(name string, st v1.PodStatus, started, ready bool) {
		t.Helper()
		cs := st.ContainerStatuses[0]
		want := v1.ConditionFalse
		if ready {
			want = v1.ConditionTrue
		}
		if *cs.Started != started || cs.Ready != ready || cs.State.Running == nil {
			t.Errorf("%s: started=%v ready=%v running=%v", name, *cs.Started, cs.Ready, cs.State.Running != nil)
		}
		for _, ct := range []v1.PodConditionType{v1.ContainersReady, v1.PodReady} {
			if got, _ := condStatus(st, ct); got != want {
				t.Errorf("%s: %s = %s, want %s", name, ct, got, want)
			}
		}
		if st.Phase != v1.PodRunning {
			t.Errorf("%s: phase %s", name, st.Phase)
		}
	}
	check("no probes", mk(probeContainer(false, false, false), nil, false), true, true)
	check("readiness pending", mk(probeContainer(false, false, true), nil, false), true, false)
	check("readiness ok", mk(probeContainer(false, false, true), probeResults{{"a-0", probeReadiness}: resultSuccess}, false), true, true)
	check("startup pending", mk(probeContainer(true, true, false), nil, false), false, false)
	check("startup done", mk(probeContainer(true, true, false), probeResults{{"a-0", probeStartup}: resultSuccess}, false), true, true)
	check("terminating", mk(probeContainer(false, false, false), nil, true), true, false)
	st := mk(probeContainer(false, false, true), nil, false)
	for _, c := range st.Conditions {
		if c.Type == v1.PodReady && (c.Reason != "ContainersNotReady" || c.Message != "containers with unready status: [a]") {
			t.Errorf("Ready condition = %+v", c)
		}
	}
}

func TestHTTPProbe(t *testing.T) {
	var mu sync.Mutex
	var lastHeaders http.Header
	var lastHost string
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		lastHeaders, lastHost = r.Header.Clone(), r.Host
		mu.Unlock()
		fmt.Fprint(w, "fine")
	})
	mux.HandleFunc("/query", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("x") != "1" {
			w.WriteHeader(http.StatusBadRequest)
		}
	})
	mux.HandleFunc("/bad", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	mux.HandleFunc("/same", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/bad", http.StatusFound) })
	mux.HandleFunc("/other", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://elsewhere.invalid/bad", http.StatusFound)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	tlsSrv := httptest.NewTLSServer(mux)
	defer tlsSrv.Close()
	port := func(s *httptest.Server) int {
		_, p, _ := net.SplitHostPort(s.Listener.Addr().String())
		n, _ := strconv.Atoi(p)
		return n
	}
	cases := []struct {
		name    string
		g       v1.HTTPGetAction
		srv     *httptest.Server
		want    probeResult
		outHas  string
		timeout time.Duration
	}{
		{name: "200", g: v1.HTTPGetAction{Path: "/ok"}, srv: srv, want: resultSuccess, outHas: "fine"},
		{name: "path with query", g: v1.HTTPGetAction{Path: "/query?x=1"}, srv: srv, want: resultSuccess},
		{name: "503", g: v1.HTTPGetAction{Path: "/bad"}, srv: srv, want: resultFailure, outHas: "HTTP probe failed with statuscode: 503"},
		{name: "404", g: v1.HTTPGetAction{Path: "/nosuch"}, srv: srv, want: resultFailure, outHas: "statuscode: 404"},
		{name: "redirect on the same host is followed", g: v1.HTTPGetAction{Path: "/same"}, srv: srv, want: resultFailure, outHas: "statuscode: 503"},
		{name: "redirect to another host is not followed", g: v1.HTTPGetAction{Path: "/other"}, srv: srv, want: resultSuccess, outHas: "Probe terminated redirects"},
		{name: "https is not verified", g: v1.HTTPGetAction{Path: "/ok", Scheme: v1.URISchemeHTTPS}, srv: tlsSrv, want: resultSuccess},
		{name: "timeout fails", g: v1.HTTPGetAction{Path: "/slow"}, srv: srv, want: resultFailure, timeout: 200 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 5 * time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			res, out, err := httpProbe(ctx, &tc.g, "127.0.0.1", port(tc.srv), timeout)
			if err != nil || res != tc.want || !strings.Contains(out, tc.outHas) {
				t.Errorf("= %s %q %v; want %s containing %q", res, out, err, tc.want, tc.outHas)
			}
		})
	}
	// Headers, the Host header and the probe's user agent; a named port.
	c := &v1.Container{Name: "web", Ports: []v1.ContainerPort{{Name: "http", ContainerPort: int32(port(srv))}}}
	p := &v1.Probe{ProbeHandler: v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Path: "/ok", Port: intstr.FromString("http"),
		HTTPHeaders: []v1.HTTPHeader{{Name: "X-Probe", Value: "yes"}, {Name: "Host", Value: "app.example"}}}}}
	res, _, err := runProbe(context.Background(), nil, p, c, "", "127.0.0.1", 5*time.Second)
	if err != nil || res != resultSuccess {
		t.Fatalf("named port probe = %s, %v", res, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if lastHeaders.Get("X-Probe") != "yes" || lastHost != "app.example" || lastHeaders.Get("User-Agent") != "kube-probe/1.33" || lastHeaders.Get("Accept") != "*/*" {
		t.Errorf("headers %v host %q", lastHeaders, lastHost)
	}
	p.HTTPGet.Port = intstr.FromString("nosuch")
	if _, _, err := runProbe(context.Background(), nil, p, c, "", "127.0.0.1", time.Second); err == nil {
		t.Errorf("unknown named port: no error")
	}
}

func TestTCPProbe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, ps, _ := net.SplitHostPort(ln.Addr().String())
	port, _ := strconv.Atoi(ps)
	c := &v1.Container{Name: "db"}
	p := &v1.Probe{ProbeHandler: v1.ProbeHandler{TCPSocket: &v1.TCPSocketAction{Port: intstr.FromInt32(int32(port))}}}
	if res, out, err := runProbe(context.Background(), nil, p, c, "", "127.0.0.1", time.Second); err != nil || res != resultSuccess {
		t.Errorf("open port = %s %q %v", res, out, err)
	}
	ln.Close()
	res, out, err := runProbe(context.Background(), nil, p, c, "", "127.0.0.1", time.Second)
	if err != nil || res != resultFailure || !strings.Contains(out, "refused") {
		t.Errorf("closed port = %s %q %v", res, out, err)
	}
}

func TestGRPCProbe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	go func() { _ = srv.Serve(ln) }()
	defer srv.Stop()
	_, ps, _ := net.SplitHostPort(ln.Addr().String())
	port, _ := strconv.Atoi(ps)
	p := &v1.Probe{ProbeHandler: v1.ProbeHandler{GRPC: &v1.GRPCAction{Port: int32(port)}}}
	if res, out, err := runProbe(context.Background(), nil, p, &v1.Container{}, "", "127.0.0.1", 5*time.Second); err != nil || res != resultSuccess {
		t.Errorf("serving = %s %q %v", res, out, err)
	}
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	if res, out, _ := runProbe(context.Background(), nil, p, &v1.Container{}, "", "127.0.0.1", 5*time.Second); res != resultFailure || !strings.Contains(out, "NOT_SERVING") {
		t.Errorf("not serving = %s %q", res, out)
	}
}

// fakeContainer starts a running container in the fake runtime.
func fakeContainer(t *testing.T, rt *crifake.Fake, name string) (sandboxID, containerID string) {
	t.Helper()
	ctx := context.Background()
	sb, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: &runtimeapi.PodSandboxConfig{Metadata: &runtimeapi.PodSandboxMetadata{Name: "p", Uid: "uid1"}}})
	if err != nil {
		t.Fatal(err)
	}
	rt.AddImage("a:1")
	c, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: sb.PodSandboxId, Config: &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: name}, Image: &runtimeapi.ImageSpec{Image: "a:1"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c.ContainerId}); err != nil {
		t.Fatal(err)
	}
	return sb.PodSandboxId, c.ContainerId
}

func TestExecProbe(t *testing.T) {
	rt := crifake.New(nil)
	_, id := fakeContainer(t, rt, "a")
	rt.SetExecResult([]string{"check"}, crifake.ExecResult{ExitCode: 1, Stdout: "not yet\n"})
	p := &v1.Probe{ProbeHandler: v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"check"}}}}
	if res, out, err := runProbe(context.Background(), rt, p, &v1.Container{}, id, "", 3*time.Second); err != nil || res != resultFailure || out != "not yet\n" {
		t.Errorf("exit 1 = %s %q %v", res, out, err)
	}
	rt.SetExecResult([]string{"check"}, crifake.ExecResult{})
	if res, _, err := runProbe(context.Background(), rt, p, &v1.Container{}, id, "", 3*time.Second); err != nil || res != resultSuccess {
		t.Errorf("exit 0 = %s %v", res, err)
	}
	var req *runtimeapi.ExecSyncRequest
	for _, c := range rt.Calls() {
		if r, ok := c.Request.(*runtimeapi.ExecSyncRequest); ok {
			req = r
		}
	}
	if req == nil || req.Timeout != 3 || req.ContainerId != id {
		t.Errorf("exec request = %+v", req)
	}
	if _, _, err := runProbe(context.Background(), rt, p, &v1.Container{}, "nosuch", "", time.Second); err == nil {
		t.Errorf("exec in a missing container: no error")
	}
}

// probeHarness runs a probe manager on a fake clock against the fake
// runtime, for one pod with one container.
type probeHarness struct {
	t     *testing.T
	clk   *testingclock.FakeClock
	rt    *crifake.Fake
	m     *probeManager
	rec   *record.FakeRecorder
	pod   *v1.Pod
	prt   podRuntime
	id    string
	mu    sync.Mutex
	wakes int
}

// newProbeHarness scripts the exec results (command -> result) before
// any worker starts.
func newProbeHarness(t *testing.T, c *v1.Container, execs map[string]crifake.ExecResult) *probeHarness {
	h := &probeHarness{t: t, clk: testingclock.NewFakeClock(t0), rec: record.NewFakeRecorder(1000)}
	h.rt = crifake.New(h.clk)
	for cmd, r := range execs {
		h.rt.SetExecResult([]string{cmd}, r)
	}
	sb, id := fakeContainer(t, h.rt, c.Name)
	h.id = id
	h.pod = testPod("", nil)
	h.pod.Spec.Containers = []v1.Container{*c}
	h.prt = podRuntime{Sandboxes: []sandboxInfo{{ID: sb, Ready: true, IP: "10.0.0.5"}},
		Containers: []containerInfo{{ID: id, SandboxID: sb, Name: c.Name, State: running, StartedAt: t0}}}
	h.m = newProbeManager(h.rt, h.rec, h.clk, slog.New(slog.DiscardHandler), func(types.UID) {
		h.mu.Lock()
		h.wakes++
		h.mu.Unlock()
	})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		done := make(chan struct{})
		go func() { h.m.wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("probe workers did not stop")
		}
	})
	h.m.sync(ctx, h.pod, h.prt, "10.0.0.5")
	return h
}

// execs counts ExecSync calls of cmd.
func (h *probeHarness) execs(cmd string) int {
	n := 0
	for _, c := range h.rt.Calls() {
		if r, ok := c.Request.(*runtimeapi.ExecSyncRequest); ok && strings.Join(r.Cmd, " ") == cmd {
			n++
		}
	}
	return n
}

// waitFor polls (in real time) until cond holds.
func (h *probeHarness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s; results %v", what, h.m.results("uid1"))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (h *probeHarness) result(t probeType) (probeResult, bool) {
	r, ok := h.m.results("uid1")[probeKey{h.id, t}]
	return r, ok
}

func (h *probeHarness) workers() int {
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	return len(h.m.workers)
}

func (h *probeHarness) events() []string {
	var out []string
	for {
		select {
		case e := <-h.rec.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func TestProbeWorkerReadiness(t *testing.T) {
	c := probeContainer(false, false, true)
	c.ReadinessProbe.InitialDelaySeconds = 5
	c.ReadinessProbe.PeriodSeconds = 2
	c.ReadinessProbe.FailureThreshold = 2
	h := newProbeHarness(t, c, map[string]crifake.ExecResult{"ready": {ExitCode: 1, Stdout: "warming up"}})
	h.waitFor("initial delay timer", h.clk.HasWaiters)
	time.Sleep(20 * time.Millisecond)
	if n := h.execs("ready"); n != 0 {
		t.Fatalf("probed %d times before the initial delay", n)
	}
	h.clk.Step(5 * time.Second)
	h.waitFor("first probe", func() bool { return h.execs("ready") == 1 })
	if _, ok := h.result(probeReadiness); ok {
		t.Errorf("one failure published before failureThreshold")
	}
	h.clk.Step(2 * time.Second)
	h.waitFor("second probe publishes failure", func() bool { r, ok := h.result(probeReadiness); return ok && r == resultFailure })
	h.rt.SetExecResult([]string{"ready"}, crifake.ExecResult{})
	h.clk.Step(2 * time.Second)
	h.waitFor("success", func() bool { r, _ := h.result(probeReadiness); return r == resultSuccess })
	h.mu.Lock()
	wakes := h.wakes
	h.mu.Unlock()
	if wakes != 1 {
		t.Errorf("wakes = %d, want 1 (failure is no change from the initial value)", wakes)
	}
	evs := h.events()
	if len(evs) != 2 || evs[0] != "Warning Unhealthy Readiness probe failed: warming up" {
		t.Errorf("events = %q", evs)
	}
	// The container stops: its worker goes, and so does its result.
	h.prt.Containers[0].State = exited
	h.m.sync(context.Background(), h.pod, h.prt, "10.0.0.5")
	if h.workers() != 0 || len(h.m.results("uid1")) != 0 {
		t.Errorf("worker or result left for a stopped container")
	}
}

func TestProbeWorkerLivenessStopsAfterFailure(t *testing.T) {
	c := probeContainer(false, true, false)
	c.LivenessProbe.PeriodSeconds = 1
	c.LivenessProbe.FailureThreshold = 2
	h := newProbeHarness(t, c, map[string]crifake.ExecResult{"alive": {ExitCode: 3, Stderr: "dead"}})
	h.waitFor("first probe", func() bool { return h.execs("alive") == 1 })
	if r, ok := h.result(probeLiveness); ok {
		t.Errorf("published %s after one failure", r)
	}
	h.clk.Step(time.Second)
	h.waitFor("liveness failure", func() bool { r, _ := h.result(probeLiveness); return r == resultFailure })
	// On hold: no more probes of this instance.
	h.clk.Step(time.Second)
	h.clk.Step(time.Second)
	time.Sleep(20 * time.Millisecond)
	if n := h.execs("alive"); n != 2 {
		t.Errorf("probed %d times, want 2", n)
	}
	if evs := h.events(); len(evs) != 2 || evs[1] != "Warning Unhealthy Liveness probe failed: dead" {
		t.Errorf("events = %q", evs)
	}
	// A new instance starts over with fresh workers.
	sb := h.prt.Sandboxes[0].ID
	h.prt.Containers = []containerInfo{{ID: "new", SandboxID: sb, Name: "a", State: running, StartedAt: t0}, h.prt.Containers[0]}
	h.prt.Containers[1].State = exited
	h.m.sync(context.Background(), h.pod, h.prt, "10.0.0.5")
	if _, ok := h.m.results("uid1")[probeKey{h.id, probeLiveness}]; ok {
		t.Errorf("old instance's result kept")
	}
	h.m.mu.Lock()
	_, ok := h.m.workers[probeKey{"new", probeLiveness}]
	h.m.mu.Unlock()
	if !ok {
		t.Errorf("no worker for the new instance")
	}
	h.m.removePod("uid1")
	if h.workers() != 0 {
		t.Errorf("workers left after removePod")
	}
}

func TestProbeWorkerStartupGates(t *testing.T) {
	c := probeContainer(true, true, true)
	c.StartupProbe.PeriodSeconds = 1
	c.StartupProbe.FailureThreshold = 30
	c.ReadinessProbe.PeriodSeconds = 10
	c.LivenessProbe.PeriodSeconds = 10
	h := newProbeHarness(t, c, map[string]crifake.ExecResult{"started": {ExitCode: 1}})
	h.waitFor("startup probe", func() bool { return h.execs("started") == 1 })
	for range 3 {
		n := h.execs("started")
		h.clk.Step(time.Second)
		h.waitFor("next startup probe", func() bool { return h.execs("started") == n+1 })
	}
	if h.execs("ready")+h.execs("alive") != 0 {
		t.Fatalf("liveness or readiness ran before startup succeeded")
	}
	h.rt.SetExecResult([]string{"started"}, crifake.ExecResult{})
	h.clk.Step(time.Second)
	// Startup success triggers the other probes at once, not a period later.
	h.waitFor("readiness and liveness after startup", func() bool { return h.execs("ready") == 1 && h.execs("alive") == 1 })
	h.waitFor("ready", func() bool { r, _ := h.result(probeReadiness); return r == resultSuccess })
	if r, _ := h.result(probeStartup); r != resultSuccess {
		t.Errorf("startup = %s", r)
	}
	n := h.execs("started")
	h.clk.Step(time.Second)
	time.Sleep(20 * time.Millisecond)
	if h.execs("started") != n {
		t.Errorf("startup probe ran after it succeeded")
	}
}

func TestProbeWorkerStartupFailure(t *testing.T) {
	c := probeContainer(true, false, false)
	c.StartupProbe.PeriodSeconds = 1
	c.StartupProbe.FailureThreshold = 2
	h := newProbeHarness(t, c, map[string]crifake.ExecResult{"started": {ExitCode: 1, Stdout: "no"}})
	h.waitFor("startup probe", func() bool { return h.execs("started") == 1 })
	h.clk.Step(time.Second)
	h.waitFor("startup failure", func() bool { r, _ := h.result(probeStartup); return r == resultFailure })
	if kt, kill := probeKill(c, h.id, h.m.results("uid1")); !kill || kt != probeStartup {
		t.Errorf("kill = %v %s", kill, kt)
	}
}

func TestProbeSyncSkipsTerminatingPods(t *testing.T) {
	c := probeContainer(false, true, true)
	h := newProbeHarness(t, c, nil)
	if h.workers() != 2 {
		t.Fatalf("workers = %d, want 2", h.workers())
	}
	h.pod.DeletionTimestamp = &metav1.Time{Time: t0}
	h.m.sync(context.Background(), h.pod, h.prt, "10.0.0.5")
	if h.workers() != 0 {
		t.Errorf("workers = %d for a terminating pod", h.workers())
	}
}
