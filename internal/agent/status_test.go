package agent

import (
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func condStatus(st v1.PodStatus, t v1.PodConditionType) (v1.ConditionStatus, string) {
	for _, c := range st.Conditions {
		if c.Type == t {
			return c.Status, c.Reason
		}
	}
	return "", ""
}

func TestComputePodStatus(t *testing.T) {
	type check func(t *testing.T, st v1.PodStatus)
	waitingReason := func(i int, reason string) check {
		return func(t *testing.T, st v1.PodStatus) {
			t.Helper()
			if w := st.ContainerStatuses[i].State.Waiting; w == nil || w.Reason != reason {
				t.Errorf("container %d state = %+v, want waiting %s", i, st.ContainerStatuses[i].State, reason)
			}
		}
	}
	initWaiting := func(i int, reason string) check {
		return func(t *testing.T, st v1.PodStatus) {
			t.Helper()
			if w := st.InitContainerStatuses[i].State.Waiting; w == nil || w.Reason != reason {
				t.Errorf("init %d state = %+v, want waiting %s", i, st.InitContainerStatuses[i].State, reason)
			}
		}
	}
	cond := func(ct v1.PodConditionType, want v1.ConditionStatus, reason string) check {
		return func(t *testing.T, st v1.PodStatus) {
			t.Helper()
			if got, r := condStatus(st, ct); got != want || r != reason {
				t.Errorf("%s = %s/%s, want %s/%s", ct, got, r, want, reason)
			}
		}
	}
	cases := []struct {
		name    string
		pod     *v1.Pod
		rt      podRuntime
		waiting map[string]waitingInfo
		phase   v1.PodPhase
		checks  []check
	}{
		{name: "nothing yet", pod: testPod("", nil, "a"), phase: v1.PodPending,
			checks: []check{waitingReason(0, "ContainerCreating"), cond(v1.PodReadyToStartContainers, v1.ConditionFalse, ""), cond(v1.PodReady, v1.ConditionFalse, "ContainersNotReady")}},
		{name: "init pending", pod: testPod("", []string{"i"}, "a"), rt: podRuntime{Sandboxes: ready("sb1")}, phase: v1.PodPending,
			checks: []check{initWaiting(0, "PodInitializing"), waitingReason(0, "PodInitializing"), cond(v1.PodInitialized, v1.ConditionFalse, "ContainersNotInitialized")}},
		{name: "running", pod: testPod("", nil, "a"), rt: podRuntime{Sandboxes: ready("sb1"), Containers: []containerInfo{ctr("a", 0, running, 0)}}, phase: v1.PodRunning,
			checks: []check{cond(v1.PodReady, v1.ConditionTrue, ""), cond(v1.ContainersReady, v1.ConditionTrue, ""), cond(v1.PodInitialized, v1.ConditionTrue, ""),
				func(t *testing.T, st v1.PodStatus) {
					cs := st.ContainerStatuses[0]
					if !cs.Ready || cs.ContainerID != "containerd://a-0" || st.PodIP != "10.0.0.5" || st.HostIP != "192.0.2.1" {
						t.Errorf("status = %+v", st)
					}
				}}},
		{name: "pull error", pod: testPod("", nil, "a"), rt: podRuntime{Sandboxes: ready("sb1")}, waiting: map[string]waitingInfo{"a": {"ErrImagePull", "boom"}}, phase: v1.PodPending,
			checks: []check{waitingReason(0, "ErrImagePull")}},
		{name: "crash loop counts as running under Always", pod: testPod("", nil, "a"),
			rt:      podRuntime{Sandboxes: ready("sb1"), Containers: []containerInfo{ctr("a", 2, exited, 1), ctr("a", 1, exited, 1)}},
			waiting: map[string]waitingInfo{"a": {"CrashLoopBackOff", "back-off"}}, phase: v1.PodRunning,
			checks: []check{waitingReason(0, "CrashLoopBackOff"), func(t *testing.T, st v1.PodStatus) {
				cs := st.ContainerStatuses[0]
				if cs.RestartCount != 2 || cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.ExitCode != 1 || cs.LastTerminationState.Terminated.Reason != "Error" {
					t.Errorf("status = %+v", cs)
				}
			}}},
		{name: "succeeded", pod: testPod(v1.RestartPolicyNever, nil, "a"), rt: podRuntime{Sandboxes: ready("sb1"), Containers: []containerInfo{ctr("a", 0, exited, 0)}}, phase: v1.PodSucceeded,
			checks: []check{cond(v1.PodReady, v1.ConditionFalse, "PodCompleted"), func(t *testing.T, st v1.PodStatus) {
				if term := st.ContainerStatuses[0].State.Terminated; term == nil || term.Reason != "Completed" {
					t.Errorf("state = %+v", st.ContainerStatuses[0].State)
				}
			}}},
		{name: "failed under Never", pod: testPod(v1.RestartPolicyNever, nil, "a", "b"), rt: podRuntime{Sandboxes: ready("sb1"), Containers: []containerInfo{ctr("a", 0, exited, 0), ctr("b", 0, exited, 2)}}, phase: v1.PodFailed},
		{name: "OOMKilled reason kept", pod: testPod(v1.RestartPolicyNever, nil, "a"), rt: podRuntime{Sandboxes: ready("sb1"), Containers: []containerInfo{func() containerInfo {
			c := ctr("a", 0, exited, 137)
			c.Reason = "OOMKilled"
			return c
		}()}}, phase: v1.PodFailed, checks: []check{func(t *testing.T, st v1.PodStatus) {
			if r := st.ContainerStatuses[0].State.Terminated.Reason; r != "OOMKilled" {
				t.Errorf("reason = %s", r)
			}
		}}},
		{name: "OnFailure failing container keeps running phase", pod: testPod(v1.RestartPolicyOnFailure, nil, "a"), rt: podRuntime{Sandboxes: ready("sb1"), Containers: []containerInfo{ctr("a", 0, exited, 1)}}, phase: v1.PodRunning},
		{name: "init failed under Never", pod: testPod(v1.RestartPolicyNever, []string{"i"}, "a"), rt: podRuntime{Sandboxes: ready("sb1"), Containers: []containerInfo{ctr("i", 0, exited, 1)}}, phase: v1.PodFailed},
		{name: "terminal phase is kept", pod: func() *v1.Pod {
			p := testPod(v1.RestartPolicyNever, nil, "a")
			p.Status.Phase = v1.PodSucceeded
			return p
		}(), phase: v1.PodSucceeded},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := computePodStatus(statusInput{Pod: tc.pod, Runtime: tc.rt, Waiting: tc.waiting, HostIPs: []string{"192.0.2.1"}, Now: t0})
			if st.Phase != tc.phase {
				t.Errorf("phase = %s, want %s", st.Phase, tc.phase)
			}
			for _, c := range tc.checks {
				c(t, st)
			}
		})
	}
}

// A status computed again from the same runtime state, after the API
// stored the first one, must compare equal so nothing is rewritten.
func TestPodStatusStable(t *testing.T) {
	pod := testPod("", []string{"i"}, "a")
	rt := podRuntime{Sandboxes: ready("sb1"), Containers: []containerInfo{ctr("a", 0, running, 0), ctr("i", 0, exited, 0)}}
	rt.Containers[0].StartedAt = t0.Add(-1500 * time.Millisecond)
	st := computePodStatus(statusInput{Pod: pod, Runtime: rt, HostIPs: []string{"192.0.2.1"}, Now: t0})
	pod.Status = st
	again := computePodStatus(statusInput{Pod: pod, Runtime: rt, HostIPs: []string{"192.0.2.1"}, Now: t0.Add(time.Minute)})
	if statusChanged(st, again) {
		t.Fatalf("status changed on recompute:\n%+v\n%+v", st, again)
	}
	// A condition that flips gets a new transition time.
	rt.Containers[0] = ctr("a", 0, exited, 1)
	third := computePodStatus(statusInput{Pod: pod, Runtime: rt, HostIPs: []string{"192.0.2.1"}, Now: t0.Add(time.Minute)})
	for _, c := range third.Conditions {
		if c.Type == v1.PodReady && !c.LastTransitionTime.Time.Equal(t0.Add(time.Minute)) {
			t.Errorf("Ready transition time = %v", c.LastTransitionTime)
		}
		if c.Type == v1.PodScheduled && !c.LastTransitionTime.Time.Equal(t0) {
			t.Errorf("PodScheduled transition time moved: %v", c.LastTransitionTime)
		}
	}
}

func TestQOSClass(t *testing.T) {
	rl := func(cpu, mem string) v1.ResourceList {
		l := v1.ResourceList{}
		if cpu != "" {
			l[v1.ResourceCPU] = resource.MustParse(cpu)
		}
		if mem != "" {
			l[v1.ResourceMemory] = resource.MustParse(mem)
		}
		return l
	}
	cases := []struct {
		name     string
		req, lim v1.ResourceList
		want     v1.PodQOSClass
	}{
		{"none", nil, nil, v1.PodQOSBestEffort},
		{"equal", rl("1", "1Gi"), rl("1", "1Gi"), v1.PodQOSGuaranteed},
		{"limits only", nil, rl("1", "1Gi"), v1.PodQOSGuaranteed},
		{"requests only", rl("100m", ""), nil, v1.PodQOSBurstable},
		{"lower request", rl("500m", "1Gi"), rl("1", "1Gi"), v1.PodQOSBurstable},
		{"missing memory limit", rl("1", ""), rl("1", ""), v1.PodQOSBurstable},
	}
	for _, tc := range cases {
		p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: v1.PodSpec{Containers: []v1.Container{{Name: "a", Resources: v1.ResourceRequirements{Requests: tc.req, Limits: tc.lim}}}}}
		if got := qosClass(p); got != tc.want {
			t.Errorf("%s: qos = %s, want %s", tc.name, got, tc.want)
		}
	}
}
