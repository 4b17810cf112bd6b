package agent

import (
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

const (
	running = runtimeapi.ContainerState_CONTAINER_RUNNING
	exited  = runtimeapi.ContainerState_CONTAINER_EXITED
	created = runtimeapi.ContainerState_CONTAINER_CREATED
)

func testPod(policy v1.RestartPolicy, init []string, containers ...string) *v1.Pod {
	p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "uid1"}, Spec: v1.PodSpec{RestartPolicy: policy}}
	for _, n := range init {
		p.Spec.InitContainers = append(p.Spec.InitContainers, v1.Container{Name: n, Image: n + ":1"})
	}
	for _, n := range containers {
		p.Spec.Containers = append(p.Spec.Containers, v1.Container{Name: n, Image: n + ":1"})
	}
	return p
}

func ready(id string) []sandboxInfo { return []sandboxInfo{{ID: id, Ready: true, IP: "10.0.0.5"}} }

func ctr(name string, rc int32, st runtimeapi.ContainerState, code int32) containerInfo {
	c := containerInfo{ID: name + "-" + string(rune('0'+rc)), SandboxID: "sb1", Name: name, RestartCount: rc, State: st, ExitCode: code,
		StartedAt: t0.Add(-time.Minute), CreatedAt: t0.Add(-time.Minute)}
	if st == exited {
		c.FinishedAt = t0.Add(-time.Second)
	}
	return c
}

func names(ss []startAction) string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Container.Name)
	}
	return strings.Join(out, ",")
}

func TestComputeActions(t *testing.T) {
	cases := []struct {
		name         string
		pod          *v1.Pod
		rt           podRuntime
		backoffs     map[string]backoffEntry
		wantSandbox  bool
		wantAttempt  uint32
		wantStart    string
		wantKill     int
		wantWaiting  string
		wantRequeue  time.Duration
		wantStopSB   bool
		wantRestarts int32
	}{
		{name: "new pod creates sandbox and starts containers", pod: testPod("", nil, "a", "b"), wantSandbox: true, wantStart: "a,b"},
		{name: "new pod with init starts only the first init", pod: testPod("", []string{"i1", "i2"}, "a"), wantSandbox: true, wantStart: "i1"},
		{name: "running containers need nothing", pod: testPod("", nil, "a"), rt: podRuntime{Sandboxes: ready("sb1"), Containers: []containerInfo{ctr("a", 0, running, 0)}}},
		{name: "missing container starts", pod: testPod("", nil, "a", "b"), rt: podRuntime{Sandboxes: ready("sb1"), Containers: []containerInfo{ctr("a", 0, running, 0)}}, wantStart: "b"},
		{name: "first init done starts second", pod: testPod("", []string{"i1", "i2"}, "a"), rt: podRuntime{Sandboxes: ready("sb1"), Containers: []containerInfo{ctr("i1", 0, exited, 0)}}, wantStart: "i2"},
		{name: "running init blocks", pod: testPod("", []string{"i1", "i2"}, "a"), rt: podRuntime{Sandboxes: ready("sb1"), Containers: []containerInfo{ctr("i1", 0, running, 0)}}},
		{name: "all init done starts containers", pod: testPod("", []string{"i1"}, "a"), rt: podRuntime{Sandboxes: ready("sb1"), Containers: []containerInfo{ctr("i1", 0, exited, 0)}}, wantStart: "a"},
		{name: "failed init under Never stops the pod", pod: testPod(v1.RestartPolicyNever, []string{"i1"}, "a"), rt: podRuntime{Sandboxes: ready("sb1"), Containers: []containerInfo{ctr("i1", 0, exited, 1)}}, wantStopSB: true},
		{name: "failed init restarts under OnFailure", pod: testPod(v1.RestartPolicyOnFailure, []string{"i1"}, "a"), rt: podRuntime{Sandboxes: ready("sb1"), Containers: []containerInfo{ctr("i1", 0, exited, 1)}}, wantStart: "i1", wantRestarts: 1},
		{name: "first crash restarts at once", pod: testPod("", nil, "a"), rt: podRuntime{Sandboxes: ready("sb1"), Containers: []containerInfo{ctr("a", 0, exited, 1)}}, wantStart: "a", wantRestarts: 1},
		{name: "second crash within back-off waits", pod: testPod("", nil, "a"), rt: podRuntime{Sandboxes: ready("sb1"), Containers: []containerInfo{ctr("a", 1, exited, 1)}},
			backoffs: map[string]backoffEntry{"uid1/a": {Delay: 10 * time.Second, LastExit: t0.Add(-time.Hour)}}, wantWaiting: "CrashLoopBackOff", wantRequeue: 9 * time.Second},
		{name: "back-off expired restarts", pod: testPod("", nil, "a"), rt: podRuntime{Sandboxes: ready("sb1"), Containers: []containerInfo{func() containerInfo {
			c := ctr("a", 1, exited, 1)
			c.FinishedAt = t0.Add(-11 * time.Second)
			return c
		}()}}, backoffs: map[string]backoffEntry{"uid1/a": {Delay: 10 * time.Second, LastExit: t0.Add(-time.Minute)}}, wantStart: "a", wantRestarts: 2},
		{name: "success under OnFailure is not restarted", pod: testPod(v1.RestartPolicyOnFailure, nil, "a", "b"), rt: podRuntime{Sandboxes: ready("sb1"), Containers: []containerInfo{ctr("a", 0, exited, 0), ctr("b", 0, running, 0)}}},
		{name: "Always restarts a success", pod: testPod(v1.RestartPolicyAlways, nil, "a"), rt: podRuntime{Sandboxes: ready("sb1"), Containers: []containerInfo{ctr("a", 0, exited, 0)}}, wantStart: "a", wantRestarts: 1},
		{name: "all done under Never stops the sandbox", pod: testPod(v1.RestartPolicyNever, nil, "a"), rt: podRuntime{Sandboxes: ready("sb1"), Containers: []containerInfo{ctr("a", 0, exited, 3)}}, wantStopSB: true},
		{name: "dead sandbox is recreated and its containers killed", pod: testPod("", nil, "a"),
			rt:          podRuntime{Sandboxes: []sandboxInfo{{ID: "sb1", Attempt: 2}}, Containers: []containerInfo{ctr("a", 4, running, 0)}},
			wantSandbox: true, wantAttempt: 3, wantStart: "a", wantKill: 1, wantRestarts: 5},
		{name: "created but not started is replaced", pod: testPod("", nil, "a"), rt: podRuntime{Sandboxes: ready("sb1"), Containers: []containerInfo{ctr("a", 0, created, 0)}}, wantStart: "a", wantKill: 1, wantRestarts: 1},
		{name: "terminal pod stops running containers", pod: func() *v1.Pod {
			p := testPod(v1.RestartPolicyNever, nil, "a")
			p.Status.Phase = v1.PodFailed
			return p
		}(), rt: podRuntime{Sandboxes: ready("sb1"), Containers: []containerInfo{ctr("a", 0, running, 0)}}, wantKill: 1, wantStopSB: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := computeActions(tc.pod, tc.rt, tc.backoffs, defaultBackoff, t0)
			if a.CreateSandbox != tc.wantSandbox || a.Attempt != tc.wantAttempt {
				t.Errorf("create sandbox = %v attempt %d, want %v %d", a.CreateSandbox, a.Attempt, tc.wantSandbox, tc.wantAttempt)
			}
			if got := names(a.Start); got != tc.wantStart {
				t.Errorf("start = %q, want %q", got, tc.wantStart)
			}
			if tc.wantRestarts != 0 && (len(a.Start) == 0 || a.Start[0].RestartCount != tc.wantRestarts) {
				t.Errorf("restart count = %+v, want %d", a.Start, tc.wantRestarts)
			}
			if len(a.Kill) != tc.wantKill {
				t.Errorf("kill = %+v, want %d", a.Kill, tc.wantKill)
			}
			w := ""
			for _, wi := range a.Waiting {
				w = wi.Reason
			}
			if w != tc.wantWaiting {
				t.Errorf("waiting = %v, want %q", a.Waiting, tc.wantWaiting)
			}
			if a.Requeue != tc.wantRequeue {
				t.Errorf("requeue = %v, want %v", a.Requeue, tc.wantRequeue)
			}
			if a.StopSandbox != tc.wantStopSB {
				t.Errorf("stop sandbox = %v, want %v", a.StopSandbox, tc.wantStopSB)
			}
		})
	}
}

func TestCrashLoopMessage(t *testing.T) {
	pod := testPod("", nil, "a")
	a := computeActions(pod, podRuntime{Sandboxes: ready("sb1"), Containers: []containerInfo{ctr("a", 1, exited, 1)}},
		map[string]backoffEntry{"uid1/a": {Delay: 20 * time.Second}}, defaultBackoff, t0)
	want := "back-off 20s restarting failed container=a pod=p_ns(uid1)"
	if got := a.Waiting["a"].Message; got != want {
		t.Fatalf("message = %q, want %q", got, want)
	}
}

// TestBackoffSequence checks delays double from the base to the cap and
// reset after a long run.
func TestBackoffSequence(t *testing.T) {
	p := defaultBackoff
	var e backoffEntry
	now := t0
	var waits []time.Duration
	for range 8 {
		started := now
		finished := now.Add(time.Second)
		now = finished
		restart, wait, next := p.checkBackoff(e, started, finished, now)
		if !restart {
			waits = append(waits, wait)
			now = now.Add(wait)
			restart, _, next = p.checkBackoff(e, started, finished, now)
			if !restart {
				t.Fatalf("still backing off after waiting %v", wait)
			}
		} else {
			waits = append(waits, 0)
		}
		e = next
	}
	want := []time.Duration{0, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second, 300 * time.Second, 300 * time.Second}
	for i := range want {
		if waits[i] != want[i] {
			t.Fatalf("waits = %v, want %v", waits, want)
		}
	}
	// A container that ran for ten minutes starts over.
	restart, _, next := p.checkBackoff(e, now, now.Add(10*time.Minute), now.Add(10*time.Minute))
	if !restart || next.Delay != p.Base {
		t.Fatalf("after a long run: restart=%v next=%+v", restart, next)
	}
}

func TestPullPolicy(t *testing.T) {
	cases := []struct {
		image  string
		policy v1.PullPolicy
		want   v1.PullPolicy
	}{
		{"nginx", "", v1.PullAlways},
		{"nginx:latest", "", v1.PullAlways},
		{"nginx:1.25", "", v1.PullIfNotPresent},
		{"registry:5000/team/app", "", v1.PullAlways},
		{"registry:5000/team/app:v2", "", v1.PullIfNotPresent},
		{"nginx@sha256:abcd", "", v1.PullIfNotPresent},
		{"nginx:1.25", v1.PullNever, v1.PullNever},
	}
	for _, tc := range cases {
		if got := pullPolicy(&v1.Container{Image: tc.image, ImagePullPolicy: tc.policy}); got != tc.want {
			t.Errorf("pullPolicy(%q, %q) = %q, want %q", tc.image, tc.policy, got, tc.want)
		}
	}
	decisions := []struct {
		policy          v1.PullPolicy
		present         bool
		wantPull, never bool
	}{
		{v1.PullAlways, true, true, false},
		{v1.PullIfNotPresent, true, false, false},
		{v1.PullIfNotPresent, false, true, false},
		{v1.PullNever, true, false, false},
		{v1.PullNever, false, false, true},
	}
	for _, d := range decisions {
		pull, never := pullDecision(d.policy, d.present)
		if pull != d.wantPull || never != d.never {
			t.Errorf("pullDecision(%s, %v) = %v, %v", d.policy, d.present, pull, never)
		}
	}
}
