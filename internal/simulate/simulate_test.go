package simulate

import (
	"net"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func testPod(policy corev1.RestartPolicy, mut func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: "u1"},
		Spec: corev1.PodSpec{
			NodeName:      "sim-0",
			RestartPolicy: policy,
			Containers:    []corev1.Container{{Name: "app", Image: "web:1"}, {Name: "side", Image: "log:2"}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodPending, QOSClass: corev1.PodQOSBestEffort},
	}
	if mut != nil {
		mut(p)
	}
	return p
}

func TestDecidePod(t *testing.T) {
	started := metav1.NewTime(t0)
	running := func(p *corev1.Pod) { p.Status.Phase = corev1.PodRunning; p.Status.StartTime = &started }
	tests := []struct {
		name    string
		pod     *corev1.Pod
		now     time.Time
		succeed time.Duration
		want    podAction
		after   time.Duration
	}{
		{"pending always pod runs", testPod(corev1.RestartPolicyAlways, nil), t0, time.Second, podRun, 0},
		{"running always pod stays", testPod(corev1.RestartPolicyAlways, running), t0.Add(time.Hour), time.Second, podRun, 0},
		{"pending never pod runs, completes later", testPod(corev1.RestartPolicyNever, nil), t0, 5 * time.Second, podRun, 5 * time.Second},
		{"running never pod not yet due", testPod(corev1.RestartPolicyNever, running), t0.Add(2 * time.Second), 5 * time.Second, podRun, 3 * time.Second},
		{"running never pod due", testPod(corev1.RestartPolicyNever, running), t0.Add(5 * time.Second), 5 * time.Second, podSucceed, 0},
		{"onfailure pod due", testPod(corev1.RestartPolicyOnFailure, running), t0.Add(time.Minute), 5 * time.Second, podSucceed, 0},
		{"completion disabled", testPod(corev1.RestartPolicyNever, running), t0.Add(time.Hour), -1, podRun, 0},
		{"succeeded stays", testPod(corev1.RestartPolicyNever, func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }), t0, time.Second, podNothing, 0},
		{"failed stays", testPod(corev1.RestartPolicyAlways, func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }), t0, time.Second, podNothing, 0},
		{"terminating is deleted", testPod(corev1.RestartPolicyAlways, func(p *corev1.Pod) { p.DeletionTimestamp = &started }), t0, time.Second, podFinishDelete, 0},
		{"terminating succeeded is deleted", testPod(corev1.RestartPolicyNever, func(p *corev1.Pod) {
			p.DeletionTimestamp = &started
			p.Status.Phase = corev1.PodSucceeded
		}), t0, time.Second, podFinishDelete, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, after := decidePod(tc.pod, tc.now, tc.succeed)
			if got != tc.want || after != tc.after {
				t.Errorf("decidePod = %v, %v; want %v, %v", got, after, tc.want, tc.after)
			}
		})
	}
}

func condStatus(conds []corev1.PodCondition, t corev1.PodConditionType) corev1.ConditionStatus {
	for _, c := range conds {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}

func TestRunningStatus(t *testing.T) {
	now := metav1.NewTime(t0)
	pod := testPod(corev1.RestartPolicyAlways, func(p *corev1.Pod) {
		p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox"}}
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0.Add(-time.Minute))}}
	})
	st := runningStatus(pod, "10.42.0.5", "198.18.0.1", now)
	if st.Phase != corev1.PodRunning || st.PodIP != "10.42.0.5" || st.HostIP != "198.18.0.1" || len(st.PodIPs) != 1 || len(st.HostIPs) != 1 {
		t.Errorf("status = %+v", st)
	}
	if st.StartTime == nil || !st.StartTime.Equal(&now) || st.QOSClass != corev1.PodQOSBestEffort {
		t.Errorf("startTime %v qos %q", st.StartTime, st.QOSClass)
	}
	for _, ct := range []corev1.PodConditionType{corev1.PodScheduled, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady, corev1.PodReadyToStartContainers} {
		if condStatus(st.Conditions, ct) != corev1.ConditionTrue {
			t.Errorf("condition %s = %q", ct, condStatus(st.Conditions, ct))
		}
	}
	for _, c := range st.Conditions {
		if c.Type == corev1.PodScheduled && !c.LastTransitionTime.Time.Equal(t0.Add(-time.Minute)) {
			t.Errorf("PodScheduled transition time changed to %v", c.LastTransitionTime)
		}
	}
	if len(st.ContainerStatuses) != 2 {
		t.Fatalf("container statuses = %d", len(st.ContainerStatuses))
	}
	for i, cs := range st.ContainerStatuses {
		if !cs.Ready || cs.Started == nil || !*cs.Started || cs.State.Running == nil || cs.Image != pod.Spec.Containers[i].Image ||
			cs.ImageID == "" || len(cs.ContainerID) < len("sim://x") || cs.ContainerID[:6] != "sim://" {
			t.Errorf("container status %d = %+v", i, cs)
		}
	}
	if st.ContainerStatuses[0].ContainerID == st.ContainerStatuses[1].ContainerID {
		t.Error("containers share an ID")
	}
	if len(st.InitContainerStatuses) != 1 || st.InitContainerStatuses[0].State.Terminated == nil || st.InitContainerStatuses[0].State.Terminated.Reason != "Completed" {
		t.Errorf("init statuses = %+v", st.InitContainerStatuses)
	}
	// Running again later changes nothing: no write for a steady pod.
	again := pod.DeepCopy()
	again.Status = st
	if st2 := runningStatus(again, "10.42.0.5", "198.18.0.1", metav1.NewTime(t0.Add(time.Hour))); !apiequality.Semantic.DeepEqual(st, st2) {
		t.Errorf("steady pod status changed:\n%+v\n%+v", st, st2)
	}
	// A node controller marking it not Ready is undone.
	again.Status.Conditions[len(again.Status.Conditions)-1].Status = corev1.ConditionFalse
	for i := range again.Status.Conditions {
		if again.Status.Conditions[i].Type == corev1.PodReady {
			again.Status.Conditions[i].Status = corev1.ConditionFalse
		}
	}
	if st3 := runningStatus(again, "10.42.0.5", "198.18.0.1", now); condStatus(st3.Conditions, corev1.PodReady) != corev1.ConditionTrue {
		t.Error("Ready not restored")
	}
}

func TestSucceededStatus(t *testing.T) {
	start := metav1.NewTime(t0)
	pod := testPod(corev1.RestartPolicyNever, nil)
	pod.Status = runningStatus(pod, "10.42.0.9", "198.18.0.1", start)
	now := metav1.NewTime(t0.Add(10 * time.Second))
	st := succeededStatus(pod, now)
	if st.Phase != corev1.PodSucceeded || st.PodIP != "10.42.0.9" {
		t.Errorf("status = %+v", st)
	}
	if condStatus(st.Conditions, corev1.PodReady) != corev1.ConditionFalse || condStatus(st.Conditions, corev1.ContainersReady) != corev1.ConditionFalse {
		t.Errorf("conditions = %+v", st.Conditions)
	}
	for _, cs := range st.ContainerStatuses {
		term := cs.State.Terminated
		if term == nil || term.ExitCode != 0 || term.Reason != "Completed" || !term.StartedAt.Equal(&start) || !term.FinishedAt.Equal(&now) || cs.Ready {
			t.Errorf("container %s = %+v", cs.Name, cs)
		}
	}
}

func TestPodIPPool(t *testing.T) {
	_, block, _ := net.ParseCIDR("10.42.3.0/29") // 8 addresses: 5 usable (.2-.6)
	p := newPodIPPool(block)
	p.take("10.42.3.4", "ns/existing")
	got := map[string]bool{}
	for i := range 4 {
		ip, err := p.allocate("ns/p" + string(rune('a'+i)))
		if err != nil {
			t.Fatalf("allocate %d: %v", i, err)
		}
		if got[ip] || ip == "10.42.3.4" || ip == "10.42.3.0" || ip == "10.42.3.1" || ip == "10.42.3.7" {
			t.Fatalf("bad address %s (have %v)", ip, got)
		}
		got[ip] = true
	}
	if _, err := p.allocate("ns/full"); err == nil {
		t.Fatal("want full")
	}
	p.release("10.42.3.3")
	if ip, err := p.allocate("ns/again"); err != nil || ip != "10.42.3.3" {
		t.Errorf("after release: %s, %v", ip, err)
	}
}

func TestFakeAddresses(t *testing.T) {
	if got := fakeNodeIP(0).String(); got != "198.18.0.1" {
		t.Errorf("node 0 IP = %s", got)
	}
	if got := fakeNodeIP(999).String(); got != "198.18.3.232" {
		t.Errorf("node 999 IP = %s", got)
	}
	if got := fakePodBlock(0).String(); got != "100.64.0.0/24" {
		t.Errorf("node 0 pods = %s", got)
	}
	if got := fakePodBlock(maxNodes - 1).String(); got != "100.127.255.0/24" {
		t.Errorf("last node pods = %s", got)
	}
	if !fakeNodeNet.Contains(fakeNodeIP(maxNodes - 1)) {
		t.Error("last node IP outside range")
	}
}

func TestNewNode(t *testing.T) {
	res := nodeResources{cpu: resource.MustParse("4"), memory: resource.MustParse("8Gi"), pods: resource.MustParse("110"), storage: resource.MustParse("100Gi")}
	n := newNode("sim-7", fakeNodeIP(7), res, metav1.NewTime(t0))
	for k, v := range map[string]string{"kubernetes.io/hostname": "sim-7", "kubernetes.io/os": "linux", LabelSimulated: "true"} {
		if n.Labels[k] != v {
			t.Errorf("label %s = %q", k, n.Labels[k])
		}
	}
	if n.Labels["kubernetes.io/arch"] == "" {
		t.Error("no arch label")
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourcePods, corev1.ResourceEphemeralStorage} {
		if _, ok := n.Status.Capacity[r]; !ok {
			t.Errorf("capacity lacks %s", r)
		}
		if _, ok := n.Status.Allocatable[r]; !ok {
			t.Errorf("allocatable lacks %s", r)
		}
	}
	if !nodeIsHealthy(n.Status.Conditions) {
		t.Errorf("conditions not healthy: %+v", n.Status.Conditions)
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady && c.Reason != "KubeletReady" {
			t.Errorf("Ready reason %q", c.Reason)
		}
	}
	if n.Status.NodeInfo.KubeletVersion != "v1.33.13" || n.Status.Addresses[0].Address != "198.18.0.8" || n.Status.Addresses[1].Type != corev1.NodeHostName {
		t.Errorf("status = %+v", n.Status)
	}
}

func TestHealthyConditionsKeepTransitionTime(t *testing.T) {
	first := healthyConditions(nil, metav1.NewTime(t0))
	later := healthyConditions(first, metav1.NewTime(t0.Add(time.Minute)))
	for _, c := range later {
		if !c.LastTransitionTime.Time.Equal(t0) || !c.LastHeartbeatTime.Time.Equal(t0.Add(time.Minute)) {
			t.Errorf("%s: transition %v heartbeat %v", c.Type, c.LastTransitionTime, c.LastHeartbeatTime)
		}
	}
	unknown := append([]corev1.NodeCondition(nil), first...)
	for i := range unknown {
		unknown[i].Status = corev1.ConditionUnknown
	}
	if nodeIsHealthy(unknown) {
		t.Error("unknown node counted healthy")
	}
	for _, c := range healthyConditions(unknown, metav1.NewTime(t0.Add(time.Hour))) {
		if !c.LastTransitionTime.Time.Equal(t0.Add(time.Hour)) {
			t.Errorf("%s: recovered without a new transition time", c.Type)
		}
	}
}

func TestNewValidates(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no client", Config{Count: 1}},
		{"zero count", Config{Count: 0}},
		{"bad cpu", Config{Count: 1, CPU: "lots"}},
		{"bad memory", Config{Count: 1, Memory: "1 GB"}},
		{"negative pods", Config{Count: 1, MaxPods: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name != "no client" {
				tc.cfg.Client = fakeClient()
			}
			if _, err := New(tc.cfg); err == nil {
				t.Error("want error")
			}
		})
	}
	s, err := New(Config{Client: fakeClient(), Count: 3, NamePrefix: "x-"})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.NodeNames(); len(got) != 3 || got[0] != "x-0" || got[2] != "x-2" {
		t.Errorf("names = %v", got)
	}
}
