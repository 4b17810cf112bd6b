package agent_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	coordv1 "k8s.io/api/coordination/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"github.com/gureum/gureum/internal/agent"
	"github.com/gureum/gureum/internal/cri/crifake"
	"github.com/gureum/gureum/internal/testenv"
)

const testNode = "node-a"

// fakeHost answers fixed machine facts.
type fakeHost struct{}

func (fakeHost) CPUMillis() int64                { return 4000 }
func (fakeHost) MemoryBytes() (int64, error)     { return 8 << 30, nil }
func (fakeHost) DiskBytes(string) (int64, error) { return 100 << 30, nil }
func (fakeHost) KernelVersion() string           { return "6.1.0-test" }
func (fakeHost) OSImage() string                 { return "Debian GNU/Linux 12 (bookworm)" }
func (fakeHost) MachineID() string               { return "machine-1" }
func (fakeHost) BootID() string                  { return "boot-1" }
func (fakeHost) Hostname() string                { return "host-a" }

type fakeMounter struct{}

func (fakeMounter) MountTmpfs(string, int64) error { return nil }
func (fakeMounter) Unmount(string) error           { return nil }

type testAgent struct {
	*agent.Agent
	rt      *crifake.Fake
	dataDir string
	cancel  context.CancelFunc
	done    chan error
}

// stop ends the agent and waits for it.
func (ta *testAgent) stop(t *testing.T) {
	t.Helper()
	ta.cancel()
	select {
	case <-ta.done:
	case <-time.After(15 * time.Second):
		t.Fatal("agent did not stop")
	}
}

// startAgent runs an agent for testNode against the test server with a
// fake runtime (rt nil: a new one) and fast timings.
func startAgent(t *testing.T, s *testenv.Server, rt *crifake.Fake, dataDir string) *testAgent {
	t.Helper()
	return startAgentWith(t, s, rt, dataDir, nil)
}

// startAgentWith is startAgent with the configuration changed by edit.
func startAgentWith(t *testing.T, s *testenv.Server, rt *crifake.Fake, dataDir string, edit func(*agent.Config)) *testAgent {
	t.Helper()
	if rt == nil {
		rt = crifake.New(nil)
	}
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	level := slog.LevelWarn
	if os.Getenv("GUREUM_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	resolv := filepath.Join(dataDir, "resolv.conf")
	if err := os.WriteFile(resolv, []byte("nameserver 10.0.0.10\nsearch example.org\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := agent.Config{
		Client: s.Client, Runtime: rt, NodeName: testNode, DataDir: dataDir, NodeIP: "192.0.2.10",
		Clock: clock.RealClock{}, Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
		Host: fakeHost{}, Mounter: fakeMounter{}, ResolvConf: resolv,
		LeaseRenewPeriod: 200 * time.Millisecond, NodeStatusUpdatePeriod: 200 * time.Millisecond,
		RelistPeriod: 50 * time.Millisecond, BackoffBase: 300 * time.Millisecond, BackoffMax: 2 * time.Second,
		MinimumGracePeriod: time.Second,
	}
	if edit != nil {
		edit(&cfg)
	}
	a := agent.New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	ta := &testAgent{Agent: a, rt: rt, dataDir: dataDir, cancel: cancel, done: make(chan error, 1)}
	go func() { ta.done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-ta.done:
		case <-time.After(15 * time.Second):
		}
	})
	return ta
}

// eventually polls cond every 25ms until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		ok, msg := cond()
		if ok {
			return
		}
		last = msg
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; last: %s", what, last)
}

func createPod(t *testing.T, s *testenv.Server, pod *v1.Pod) *v1.Pod {
	t.Helper()
	if pod.Namespace == "" {
		pod.Namespace = "default"
	}
	pod.Spec.NodeName = testNode
	if pod.Spec.TerminationGracePeriodSeconds == nil {
		pod.Spec.TerminationGracePeriodSeconds = ptr.To(int64(1))
	}
	p, err := s.Client.CoreV1().Pods(pod.Namespace).Create(context.Background(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod: %v", err)
	}
	return p
}

func getPod(t *testing.T, s *testenv.Server, ns, name string) *v1.Pod {
	t.Helper()
	p, err := s.Client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get pod: %v", err)
	}
	return p
}

func podCondition(p *v1.Pod, ct v1.PodConditionType) v1.ConditionStatus {
	for _, c := range p.Status.Conditions {
		if c.Type == ct {
			return c.Status
		}
	}
	return ""
}

func simplePod(name string, containers ...v1.Container) *v1.Pod {
	return &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": name}}, Spec: v1.PodSpec{Containers: containers}}
}

func TestNodeRegistersAndRenewsLease(t *testing.T) {
	s := testenv.Start(t)
	cidrs := make(chan []string, 4)
	_ = cidrs
	ta := startAgent(t, s, nil, "")
	ctx := context.Background()
	var node *v1.Node
	eventually(t, 10*time.Second, "node Ready", func() (bool, string) {
		n, err := s.Client.CoreV1().Nodes().Get(ctx, testNode, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		node = n
		for _, c := range n.Status.Conditions {
			if c.Type == v1.NodeReady && c.Status == v1.ConditionTrue {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", n.Status.Conditions)
	})
	if got := node.Status.Capacity.Cpu().String(); got != "4" {
		t.Errorf("cpu capacity = %s, want 4", got)
	}
	if got := node.Status.Capacity.Pods().Value(); got != 110 {
		t.Errorf("pods capacity = %d, want 110", got)
	}
	if got := node.Status.Allocatable.Memory().Value(); got != 8<<30 {
		t.Errorf("allocatable memory = %d", got)
	}
	ni := node.Status.NodeInfo
	if ni.ContainerRuntimeVersion != "containerd://1.6.20" || ni.KubeletVersion != "v1.33.13" || ni.OSImage != "Debian GNU/Linux 12 (bookworm)" || ni.KernelVersion != "6.1.0-test" || ni.BootID != "boot-1" {
		t.Errorf("nodeInfo = %+v", ni)
	}
	if node.Labels["kubernetes.io/hostname"] != testNode || node.Labels["kubernetes.io/os"] != "linux" {
		t.Errorf("labels = %v", node.Labels)
	}
	var ready v1.NodeCondition
	for _, c := range node.Status.Conditions {
		if c.Type == v1.NodeReady {
			ready = c
		}
	}
	if ready.Reason != "KubeletReady" || ready.Message != "kubelet is posting ready status" {
		t.Errorf("Ready condition = %+v", ready)
	}
	// As kubelet does, the agent tells of the node's readiness.
	eventually(t, 10*time.Second, "NodeReady event", func() (bool, string) {
		ev, err := s.Client.CoreV1().Events("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, e := range ev.Items {
			if e.InvolvedObject.Kind == "Node" && e.InvolvedObject.Name == testNode {
				if e.Reason == "NodeReady" && e.Source.Component == "kubelet" && e.Message == "Node "+testNode+" status is now: NodeReady" {
					return true, ""
				}
				seen = append(seen, e.Reason+": "+e.Message)
			}
		}
		return false, fmt.Sprint(seen)
	})
	wantAddr := []v1.NodeAddress{{Type: v1.NodeInternalIP, Address: "192.0.2.10"}, {Type: v1.NodeHostName, Address: "host-a"}}
	if fmt.Sprint(node.Status.Addresses) != fmt.Sprint(wantAddr) {
		t.Errorf("addresses = %v", node.Status.Addresses)
	}

	var first *coordv1.Lease
	eventually(t, 5*time.Second, "lease", func() (bool, string) {
		l, err := s.Client.CoordinationV1().Leases("kube-node-lease").Get(ctx, testNode, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		first = l
		return true, ""
	})
	if *first.Spec.LeaseDurationSeconds != 40 || *first.Spec.HolderIdentity != testNode {
		t.Errorf("lease spec = %+v", first.Spec)
	}
	eventually(t, 5*time.Second, "lease renewal", func() (bool, string) {
		l, err := s.Client.CoordinationV1().Leases("kube-node-lease").Get(ctx, testNode, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return l.Spec.RenewTime.After(first.Spec.RenewTime.Time), l.Spec.RenewTime.String()
	})

	// The server's IPAM sets the pod CIDR; the agent must not clear it and
	// must hand it to its caller.
	_ = ta
}

// Events go through the event client when there is one (kubelet's own
// rate limit for events), not the one that reports status.
func TestEventsGoThroughTheEventClient(t *testing.T) {
	s := testenv.Start(t)
	events := fake.NewSimpleClientset()
	startAgentWith(t, s, nil, "", func(c *agent.Config) { c.EventClient = events })
	ctx := context.Background()
	eventually(t, 10*time.Second, "NodeReady event through the event client", func() (bool, string) {
		ev, err := events.CoreV1().Events("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, e := range ev.Items {
			if e.Reason == "NodeReady" && e.InvolvedObject.Name == testNode {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d events", len(ev.Items))
	})
	ev, err := s.Client.CoreV1().Events("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ev.Items {
		if e.Source.Component == "kubelet" {
			t.Errorf("event %s %q went through the status client", e.Reason, e.Message)
		}
	}
}

func TestPodCIDRReachesCaller(t *testing.T) {
	s := testenv.Start(t)
	ctx := context.Background()
	_, err := s.Client.CoreV1().Nodes().Create(ctx, &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: testNode}, Spec: v1.NodeSpec{PodCIDR: "10.42.3.0/24", PodCIDRs: []string{"10.42.3.0/24"}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan []string, 4)
	rt := crifake.New(nil)
	a := agent.New(agent.Config{Client: s.Client, Runtime: rt, NodeName: testNode, DataDir: t.TempDir(), NodeIP: "192.0.2.10",
		Host: fakeHost{}, Mounter: fakeMounter{}, OnPodCIDR: func(c []string) { got <- c },
		Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(cctx) }()
	defer func() { cancel(); <-done }()
	select {
	case c := <-got:
		if len(c) != 1 || c[0] != "10.42.3.0/24" {
			t.Fatalf("pod CIDRs = %v", c)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("OnPodCIDR not called")
	}
	<-a.Registered()
	n, err := s.Client.CoreV1().Nodes().Get(ctx, testNode, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n.Spec.PodCIDR != "10.42.3.0/24" || n.Labels["kubernetes.io/hostname"] != testNode {
		t.Fatalf("node after registration: podCIDR=%q labels=%v", n.Spec.PodCIDR, n.Labels)
	}
}

func TestPodBecomesRunningAndReady(t *testing.T) {
	s := testenv.Start(t)
	ta := startAgent(t, s, nil, "")
	pod := createPod(t, s, simplePod("web", v1.Container{Name: "app", Image: "web:1", Command: []string{"serve"}, Args: []string{"--port=$(PORT)"},
		Env: []v1.EnvVar{{Name: "PORT", Value: "8080"}}}))
	var p *v1.Pod
	eventually(t, 10*time.Second, "pod Running and Ready", func() (bool, string) {
		p = getPod(t, s, "default", "web")
		return p.Status.Phase == v1.PodRunning && podCondition(p, v1.PodReady) == v1.ConditionTrue, fmt.Sprintf("%s %+v", p.Status.Phase, p.Status.Conditions)
	})
	if len(p.Status.ContainerStatuses) != 1 {
		t.Fatalf("containerStatuses = %+v", p.Status.ContainerStatuses)
	}
	cs := p.Status.ContainerStatuses[0]
	if !cs.Ready || cs.State.Running == nil || !strings.HasPrefix(cs.ContainerID, "containerd://") || cs.ImageID == "" || cs.Image != "web:1" || cs.Started == nil || !*cs.Started {
		t.Errorf("container status = %+v", cs)
	}
	if p.Status.PodIP == "" || p.Status.HostIP != "192.0.2.10" || p.Status.StartTime == nil || p.Status.QOSClass != v1.PodQOSBestEffort {
		t.Errorf("pod status = %+v", p.Status)
	}
	for _, ct := range []v1.PodConditionType{v1.PodReadyToStartContainers, v1.PodInitialized, v1.ContainersReady, v1.PodScheduled} {
		if podCondition(p, ct) != v1.ConditionTrue {
			t.Errorf("condition %s = %s", ct, podCondition(p, ct))
		}
	}
	var created *runtimeapi.CreateContainerRequest
	for _, c := range ta.rt.Calls() {
		if r, ok := c.Request.(*runtimeapi.CreateContainerRequest); ok {
			created = r
		}
	}
	if created == nil {
		t.Fatal("no CreateContainer call")
	}
	cfg := created.Config
	if cfg.Labels["io.kubernetes.pod.uid"] != string(pod.UID) || cfg.Labels["io.kubernetes.container.name"] != "app" || cfg.Annotations["io.kubernetes.container.restartCount"] != "0" {
		t.Errorf("labels %v annotations %v", cfg.Labels, cfg.Annotations)
	}
	if strings.Join(cfg.Args, " ") != "--port=8080" || cfg.LogPath != "app/0.log" {
		t.Errorf("args %v logPath %q", cfg.Args, cfg.LogPath)
	}
	sb := ta.rt.Sandboxes()
	if len(sb) != 1 || sb[0].Config.LogDirectory != filepath.Join(ta.dataDir, "pods", string(pod.UID)) || sb[0].Config.DnsConfig.Servers[0] != "10.0.0.10" {
		t.Errorf("sandboxes = %+v", sb)
	}
	// Status is written only when it changes: a quiet pod settles and
	// then causes no more writes. (Under load one late write can follow
	// Ready — a sync that read the pod from a lagging informer — so the
	// quiet window is looked for within a few seconds, not right away.)
	rv := p.ResourceVersion
	deadline := time.Now().Add(5 * time.Second)
	for {
		time.Sleep(300 * time.Millisecond)
		p2 := getPod(t, s, "default", "web")
		if p2.ResourceVersion == rv {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod status keeps being rewritten without change: rv %s -> %s", rv, p2.ResourceVersion)
		}
		rv = p2.ResourceVersion
	}
}

func TestCrashLoopBackOff(t *testing.T) {
	s := testenv.Start(t)
	rt := crifake.New(nil)
	rt.SetImageBehavior("crash:1", crifake.Behavior{Exit: true, ExitCode: 2})
	startAgent(t, s, rt, "")
	createPod(t, s, simplePod("crash", v1.Container{Name: "app", Image: "crash:1"}))
	var seenBackoff bool
	eventually(t, 15*time.Second, "restartCount >= 3 and CrashLoopBackOff", func() (bool, string) {
		p := getPod(t, s, "default", "crash")
		if len(p.Status.ContainerStatuses) == 0 {
			return false, "no statuses"
		}
		cs := p.Status.ContainerStatuses[0]
		if w := cs.State.Waiting; w != nil && w.Reason == "CrashLoopBackOff" {
			seenBackoff = true
			if !strings.Contains(w.Message, "restarting failed container=app pod=crash_default(") {
				t.Errorf("back-off message = %q", w.Message)
			}
			if cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.ExitCode != 2 || cs.LastTerminationState.Terminated.Reason != "Error" {
				t.Errorf("lastState = %+v", cs.LastTerminationState)
			}
			if p.Status.Phase != v1.PodRunning {
				t.Errorf("phase in crash loop = %s, want Running", p.Status.Phase)
			}
		}
		return seenBackoff && cs.RestartCount >= 3, fmt.Sprintf("restarts=%d state=%+v", cs.RestartCount, cs.State)
	})
	ev, err := s.Client.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]bool{}
	for _, e := range ev.Items {
		reasons[e.Reason] = true
	}
	for _, r := range []string{"Pulling", "Pulled", "Created", "Started", "BackOff"} {
		if !reasons[r] {
			t.Errorf("no %s event; have %v", r, reasons)
		}
	}
}

func TestRestartPolicyNeverSucceeds(t *testing.T) {
	s := testenv.Start(t)
	rt := crifake.New(nil)
	rt.SetImageBehavior("job:1", crifake.Behavior{Exit: true, ExitCode: 0})
	ta := startAgent(t, s, rt, "")
	p := simplePod("job", v1.Container{Name: "app", Image: "job:1"})
	p.Spec.RestartPolicy = v1.RestartPolicyNever
	createPod(t, s, p)
	eventually(t, 10*time.Second, "pod Succeeded", func() (bool, string) {
		p := getPod(t, s, "default", "job")
		return p.Status.Phase == v1.PodSucceeded, string(p.Status.Phase)
	})
	p = getPod(t, s, "default", "job")
	if cs := p.Status.ContainerStatuses[0]; cs.State.Terminated == nil || cs.State.Terminated.Reason != "Completed" {
		t.Errorf("container status = %+v", cs)
	}
	eventually(t, 5*time.Second, "sandbox stopped", func() (bool, string) {
		sb := ta.rt.Sandboxes()
		return len(sb) == 1 && sb[0].State == runtimeapi.PodSandboxState_SANDBOX_NOTREADY, fmt.Sprint(sb)
	})
}

func TestInitContainersRunInOrder(t *testing.T) {
	s := testenv.Start(t)
	rt := crifake.New(nil)
	rt.SetImageBehavior("init:1", crifake.Behavior{Exit: true})
	ta := startAgent(t, s, rt, "")
	p := simplePod("withinit", v1.Container{Name: "main", Image: "web:1"})
	p.Spec.InitContainers = []v1.Container{{Name: "first", Image: "init:1"}, {Name: "second", Image: "init:1"}}
	createPod(t, s, p)
	eventually(t, 10*time.Second, "pod Running", func() (bool, string) {
		p := getPod(t, s, "default", "withinit")
		return p.Status.Phase == v1.PodRunning && podCondition(p, v1.PodInitialized) == v1.ConditionTrue, string(p.Status.Phase)
	})
	var order []string
	for _, c := range ta.rt.Calls() {
		if r, ok := c.Request.(*runtimeapi.CreateContainerRequest); ok {
			order = append(order, r.Config.Metadata.Name)
		}
	}
	if strings.Join(order, ",") != "first,second,main" {
		t.Errorf("creation order = %v", order)
	}
	got := getPod(t, s, "default", "withinit")
	for _, ics := range got.Status.InitContainerStatuses {
		if ics.State.Terminated == nil || ics.State.Terminated.Reason != "Completed" {
			t.Errorf("init status %s = %+v", ics.Name, ics.State)
		}
	}
}

func TestImagePullFailure(t *testing.T) {
	s := testenv.Start(t)
	rt := crifake.New(nil)
	rt.SetPullError("missing:1", "not found")
	startAgent(t, s, rt, "")
	// ErrImagePull lasts only until the back-off starts: a watch sees
	// every status written, where polling could miss it.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	w, err := s.Client.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=nopull"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	createPod(t, s, simplePod("nopull", v1.Container{Name: "app", Image: "missing:1"}))
	seen := map[string]string{}
	for seen["ErrImagePull"] == "" || seen["ImagePullBackOff"] == "" {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatalf("watch ended; waiting reasons seen: %v", seen)
			}
			if p, isPod := ev.Object.(*v1.Pod); isPod && len(p.Status.ContainerStatuses) > 0 {
				if wt := p.Status.ContainerStatuses[0].State.Waiting; wt != nil {
					seen[wt.Reason] = wt.Message
				}
			}
		case <-ctx.Done():
			t.Fatalf("timed out waiting for ErrImagePull and ImagePullBackOff; seen: %v", seen)
		}
	}
	if !strings.Contains(seen["ErrImagePull"], "not found") || !strings.Contains(seen["ImagePullBackOff"], `Back-off pulling image "missing:1"`) {
		t.Errorf("messages = %v", seen)
	}
	if p := getPod(t, s, "default", "nopull"); p.Status.Phase != v1.PodPending {
		t.Errorf("phase = %s", p.Status.Phase)
	}
}

func TestEnvFromConfigMapSecretFieldRef(t *testing.T) {
	s := testenv.Start(t)
	ctx := context.Background()
	ta := startAgent(t, s, nil, "")
	if _, err := s.Client.CoreV1().ConfigMaps("default").Create(ctx, &v1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg"}, Data: map[string]string{"mode": "fast", "level": "3"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.CoreV1().Secrets("default").Create(ctx, &v1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sec"}, Data: map[string][]byte{"password": []byte("hunter2")}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := createPod(t, s, simplePod("envpod", v1.Container{Name: "app", Image: "web:1",
		EnvFrom: []v1.EnvFromSource{{Prefix: "CFG_", ConfigMapRef: &v1.ConfigMapEnvSource{LocalObjectReference: v1.LocalObjectReference{Name: "cfg"}}}},
		Env: []v1.EnvVar{
			{Name: "MODE", ValueFrom: &v1.EnvVarSource{ConfigMapKeyRef: &v1.ConfigMapKeySelector{LocalObjectReference: v1.LocalObjectReference{Name: "cfg"}, Key: "mode"}}},
			{Name: "PASSWORD", ValueFrom: &v1.EnvVarSource{SecretKeyRef: &v1.SecretKeySelector{LocalObjectReference: v1.LocalObjectReference{Name: "sec"}, Key: "password"}}},
			{Name: "MISSING", ValueFrom: &v1.EnvVarSource{SecretKeyRef: &v1.SecretKeySelector{LocalObjectReference: v1.LocalObjectReference{Name: "nosuch"}, Key: "k", Optional: ptr.To(true)}}},
			{Name: "POD_NAME", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "POD_UID", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.uid"}}},
			{Name: "APP", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}}},
			{Name: "NODE", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
			{Name: "HOST_IP", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "status.hostIP"}}},
			{Name: "POD_IP", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
			{Name: "GREETING", Value: "$(POD_NAME) in $(MODE) $$(MODE)"},
		}}))
	var cfg *runtimeapi.ContainerConfig
	eventually(t, 10*time.Second, "container created", func() (bool, string) {
		for _, c := range ta.rt.Calls() {
			if r, ok := c.Request.(*runtimeapi.CreateContainerRequest); ok {
				cfg = r.Config
				return true, ""
			}
		}
		return false, "no CreateContainer"
	})
	env := map[string]string{}
	for _, kv := range cfg.Envs {
		env[kv.Key] = kv.Value
	}
	sb := ta.rt.Sandboxes()[0]
	want := map[string]string{"CFG_mode": "fast", "CFG_level": "3", "MODE": "fast", "PASSWORD": "hunter2", "POD_NAME": "envpod",
		"POD_UID": string(pod.UID), "APP": "envpod", "NODE": testNode, "HOST_IP": "192.0.2.10", "POD_IP": sb.IP, "GREETING": "envpod in fast $(MODE)"}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("env %s = %q, want %q", k, env[k], v)
		}
	}
	if _, ok := env["MISSING"]; ok {
		t.Errorf("optional missing secret key produced a variable")
	}
}

func TestMissingConfigMapIsConfigError(t *testing.T) {
	s := testenv.Start(t)
	startAgent(t, s, nil, "")
	createPod(t, s, simplePod("badenv", v1.Container{Name: "app", Image: "web:1", Env: []v1.EnvVar{
		{Name: "X", ValueFrom: &v1.EnvVarSource{ConfigMapKeyRef: &v1.ConfigMapKeySelector{LocalObjectReference: v1.LocalObjectReference{Name: "absent"}, Key: "k"}}}}}))
	eventually(t, 10*time.Second, "CreateContainerConfigError", func() (bool, string) {
		p := getPod(t, s, "default", "badenv")
		if len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].State.Waiting == nil {
			return false, "no waiting state"
		}
		w := p.Status.ContainerStatuses[0].State.Waiting
		return w.Reason == "CreateContainerConfigError" && w.Message == `configmap "absent" not found`, fmt.Sprint(w)
	})
	// Creating the ConfigMap lets the pod start.
	if _, err := s.Client.CoreV1().ConfigMaps("default").Create(context.Background(), &v1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "absent"}, Data: map[string]string{"k": "v"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "pod Running", func() (bool, string) {
		p := getPod(t, s, "default", "badenv")
		return p.Status.Phase == v1.PodRunning, fmt.Sprintf("%s %+v", p.Status.Phase, p.Status.ContainerStatuses)
	})
}

func TestConfigMapVolumeWrittenAndUpdated(t *testing.T) {
	s := testenv.Start(t)
	ctx := context.Background()
	ta := startAgent(t, s, nil, "")
	cm, err := s.Client.CoreV1().ConfigMaps("default").Create(ctx, &v1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "site"}, Data: map[string]string{"index.html": "v1"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := simplePod("vol", v1.Container{Name: "app", Image: "web:1", VolumeMounts: []v1.VolumeMount{
		{Name: "site", MountPath: "/usr/share/html"}, {Name: "scratch", MountPath: "/tmp"}, {Name: "site", MountPath: "/index.html", SubPath: "index.html"}}})
	p.Spec.Volumes = []v1.Volume{
		{Name: "site", VolumeSource: v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{LocalObjectReference: v1.LocalObjectReference{Name: "site"}}}},
		{Name: "scratch", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{}}},
	}
	pod := createPod(t, s, p)
	dir := filepath.Join(ta.dataDir, "pods", string(pod.UID), "volumes", "kubernetes.io~configmap", "site")
	file := filepath.Join(dir, "index.html")
	eventually(t, 10*time.Second, "configMap file", func() (bool, string) {
		data, err := os.ReadFile(file)
		return err == nil && string(data) == "v1", fmt.Sprint(string(data), err)
	})
	if target, err := os.Readlink(file); err != nil || target != "..data/index.html" {
		t.Errorf("index.html link = %q, %v", target, err)
	}
	eventually(t, 10*time.Second, "pod Running", func() (bool, string) {
		p := getPod(t, s, "default", "vol")
		return p.Status.Phase == v1.PodRunning, fmt.Sprintf("%s %+v", p.Status.Phase, p.Status.ContainerStatuses)
	})
	var mounts []*runtimeapi.Mount
	for _, c := range ta.rt.Containers() {
		mounts = c.Config.Mounts
	}
	byPath := map[string]*runtimeapi.Mount{}
	for _, m := range mounts {
		byPath[m.ContainerPath] = m
	}
	if m := byPath["/usr/share/html"]; m == nil || m.HostPath != dir || !m.Readonly {
		t.Errorf("configMap mount = %+v", m)
	}
	if m := byPath["/tmp"]; m == nil || !strings.HasSuffix(m.HostPath, "kubernetes.io~empty-dir/scratch") {
		t.Errorf("emptyDir mount = %+v", m)
	}
	if m := byPath["/index.html"]; m == nil || !strings.Contains(m.HostPath, "/..") {
		t.Errorf("subPath mount = %+v", m)
	}
	if byPath["/etc/hosts"] == nil || byPath["/dev/termination-log"] == nil {
		t.Errorf("missing managed mounts: %v", mounts)
	}
	cm.Data["index.html"] = "v2"
	if _, err := s.Client.CoreV1().ConfigMaps("default").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "configMap file updated", func() (bool, string) {
		data, err := os.ReadFile(file)
		return err == nil && string(data) == "v2", fmt.Sprint(string(data), err)
	})
}

func TestKubectlDeletePod(t *testing.T) {
	s := testenv.Start(t)
	rt := crifake.New(nil)
	ta := startAgent(t, s, rt, "")
	p := simplePod("doomed", v1.Container{Name: "app", Image: "web:1", Lifecycle: &v1.Lifecycle{PreStop: &v1.LifecycleHandler{Exec: &v1.ExecAction{Command: []string{"/bin/drain"}}}}})
	pod := createPod(t, s, p)
	eventually(t, 10*time.Second, "pod Running", func() (bool, string) {
		p := getPod(t, s, "default", "doomed")
		return p.Status.Phase == v1.PodRunning, fmt.Sprintf("%s %+v", p.Status.Phase, p.Status.ContainerStatuses)
	})
	podDir := filepath.Join(ta.dataDir, "pods", string(pod.UID))
	if _, err := os.Stat(podDir); err != nil {
		t.Fatalf("pod dir: %v", err)
	}
	out := s.MustKubectl(t, "", "delete", "pod", "doomed", "--wait=true", "--timeout=20s")
	if !strings.Contains(out, `pod "doomed" deleted`) {
		t.Errorf("kubectl output: %s", out)
	}
	if _, err := s.Client.CoreV1().Pods("default").Get(context.Background(), "doomed", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("pod still there: %v", err)
	}
	if sb := rt.Sandboxes(); len(sb) != 0 {
		t.Errorf("sandboxes left: %+v", sb)
	}
	if rt.CallCount("ExecSync") == 0 {
		t.Errorf("preStop hook not run")
	}
	if _, err := os.Stat(podDir); !os.IsNotExist(err) {
		t.Errorf("pod dir not removed: %v", err)
	}
}

func TestRestartedAgentAdoptsContainers(t *testing.T) {
	s := testenv.Start(t)
	rt := crifake.New(nil)
	dataDir := t.TempDir()
	first := startAgent(t, s, rt, dataDir)
	createPod(t, s, simplePod("keep", v1.Container{Name: "app", Image: "web:1"}))
	eventually(t, 10*time.Second, "pod Running", func() (bool, string) {
		p := getPod(t, s, "default", "keep")
		return p.Status.Phase == v1.PodRunning, fmt.Sprintf("%s %+v", p.Status.Phase, p.Status.ContainerStatuses)
	})
	first.stop(t)
	// A sandbox of a pod deleted while the agent was down is collected.
	if _, err := rt.RunPodSandbox(context.Background(), &runtimeapi.RunPodSandboxRequest{Config: &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{Name: "gone", Namespace: "default", Uid: "gone-uid"},
		Labels:   map[string]string{"io.kubernetes.pod.uid": "gone-uid", "io.kubernetes.pod.name": "gone", "io.kubernetes.pod.namespace": "default"}}}); err != nil {
		t.Fatal(err)
	}
	created := rt.CallCount("CreateContainer")
	startAgent(t, s, rt, dataDir)
	eventually(t, 10*time.Second, "orphan sandbox removed", func() (bool, string) {
		return len(rt.Sandboxes()) == 1, fmt.Sprint(len(rt.Sandboxes()))
	})
	time.Sleep(500 * time.Millisecond) // several relists and syncs
	if n := rt.CallCount("CreateContainer"); n != created {
		t.Errorf("restarted agent created %d containers", n-created)
	}
	if n := rt.CallCount("StopContainer"); n != 0 {
		t.Errorf("restarted agent stopped %d containers", n)
	}
	p := getPod(t, s, "default", "keep")
	if p.Status.Phase != v1.PodRunning || p.Status.ContainerStatuses[0].RestartCount != 0 {
		t.Errorf("pod after restart: %s %+v", p.Status.Phase, p.Status.ContainerStatuses)
	}
}

func execProbe(cmd string, period, failures int32) *v1.Probe {
	return &v1.Probe{ProbeHandler: v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{cmd}}}, PeriodSeconds: period, FailureThreshold: failures}
}

// execCount counts the fake runtime's ExecSync calls of cmd.
func execCount(rt *crifake.Fake, cmd string) int {
	n := 0
	for _, c := range rt.Calls() {
		if r, ok := c.Request.(*runtimeapi.ExecSyncRequest); ok && strings.Join(r.Cmd, " ") == cmd {
			n++
		}
	}
	return n
}

// podEvents maps "Reason: message" of the namespace's events to true.
func podEvents(t *testing.T, s *testenv.Server, name string) map[string]bool {
	t.Helper()
	ev, err := s.Client.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, e := range ev.Items {
		if e.InvolvedObject.Name == name {
			out[e.Reason+": "+e.Message] = true
		}
	}
	return out
}

func containerStatus0(p *v1.Pod) (v1.ContainerStatus, bool) {
	if len(p.Status.ContainerStatuses) == 0 {
		return v1.ContainerStatus{}, false
	}
	return p.Status.ContainerStatuses[0], true
}

func TestReadinessProbe(t *testing.T) {
	s := testenv.Start(t)
	rt := crifake.New(nil)
	rt.SetExecResult([]string{"check-ready"}, crifake.ExecResult{ExitCode: 1, Stdout: "not ready"})
	startAgent(t, s, rt, "")
	createPod(t, s, simplePod("probed", v1.Container{Name: "app", Image: "web:1", ReadinessProbe: execProbe("check-ready", 1, 1)}))
	eventually(t, 10*time.Second, "running, probed and not ready", func() (bool, string) {
		p := getPod(t, s, "default", "probed")
		cs, ok := containerStatus0(p)
		return ok && cs.State.Running != nil && !cs.Ready && cs.Started != nil && *cs.Started && p.Status.Phase == v1.PodRunning &&
				podCondition(p, v1.PodReady) == v1.ConditionFalse && podCondition(p, v1.ContainersReady) == v1.ConditionFalse && execCount(rt, "check-ready") >= 2,
			fmt.Sprintf("%s %+v %+v", p.Status.Phase, p.Status.Conditions, p.Status.ContainerStatuses)
	})
	rt.SetExecResult([]string{"check-ready"}, crifake.ExecResult{})
	// One period (1s) for the probe plus the status write.
	eventually(t, 3*time.Second, "Ready after the probe succeeds", func() (bool, string) {
		p := getPod(t, s, "default", "probed")
		cs, _ := containerStatus0(p)
		return cs.Ready && podCondition(p, v1.PodReady) == v1.ConditionTrue && podCondition(p, v1.ContainersReady) == v1.ConditionTrue, fmt.Sprintf("%+v", p.Status.Conditions)
	})
	rt.SetExecResult([]string{"check-ready"}, crifake.ExecResult{ExitCode: 1, Stdout: "overloaded"})
	eventually(t, 3*time.Second, "NotReady after the probe fails", func() (bool, string) {
		p := getPod(t, s, "default", "probed")
		cs, _ := containerStatus0(p)
		return !cs.Ready && podCondition(p, v1.PodReady) == v1.ConditionFalse && cs.State.Running != nil && cs.RestartCount == 0, fmt.Sprintf("%+v", p.Status.ContainerStatuses)
	})
	eventually(t, 5*time.Second, "Unhealthy events", func() (bool, string) {
		ev := podEvents(t, s, "probed")
		return ev["Unhealthy: Readiness probe failed: not ready"] && ev["Unhealthy: Readiness probe failed: overloaded"], fmt.Sprint(ev)
	})
}

func TestLivenessProbeRestartsContainer(t *testing.T) {
	s := testenv.Start(t)
	rt := crifake.New(nil)
	rt.SetExecResult([]string{"alive"}, crifake.ExecResult{ExitCode: 1, Stdout: "deadlock"})
	startAgent(t, s, rt, "")
	createPod(t, s, simplePod("sick", v1.Container{Name: "app", Image: "web:1", LivenessProbe: execProbe("alive", 1, 2)}))
	eventually(t, 15*time.Second, "container restarted", func() (bool, string) {
		p := getPod(t, s, "default", "sick")
		cs, ok := containerStatus0(p)
		return ok && cs.RestartCount >= 1 && cs.LastTerminationState.Terminated != nil, fmt.Sprintf("%+v", p.Status.ContainerStatuses)
	})
	// The restarted instance is healthy and stays up.
	rt.SetExecResult([]string{"alive"}, crifake.ExecResult{})
	eventually(t, 10*time.Second, "running and ready after restart", func() (bool, string) {
		p := getPod(t, s, "default", "sick")
		cs, _ := containerStatus0(p)
		return cs.State.Running != nil && cs.Ready && podCondition(p, v1.PodReady) == v1.ConditionTrue, fmt.Sprintf("%+v", p.Status.ContainerStatuses)
	})
	ev := podEvents(t, s, "sick")
	for _, want := range []string{"Unhealthy: Liveness probe failed: deadlock", "Killing: Container app failed liveness probe, will be restarted"} {
		if !ev[want] {
			t.Errorf("no event %q; have %v", want, ev)
		}
	}
	var stops int
	for _, c := range rt.Calls() {
		if r, ok := c.Request.(*runtimeapi.StopContainerRequest); ok {
			stops++
			if r.Timeout != 1 {
				t.Errorf("stop timeout = %d, want the pod's grace period 1", r.Timeout)
			}
		}
	}
	if stops == 0 {
		t.Errorf("container never stopped")
	}
}

func TestStartupProbeGatesOtherProbes(t *testing.T) {
	s := testenv.Start(t)
	rt := crifake.New(nil)
	rt.SetExecResult([]string{"started"}, crifake.ExecResult{ExitCode: 1})
	rt.SetExecResult([]string{"alive"}, crifake.ExecResult{ExitCode: 1})
	startAgent(t, s, rt, "")
	createPod(t, s, simplePod("slow", v1.Container{Name: "app", Image: "web:1",
		StartupProbe: execProbe("started", 1, 60), LivenessProbe: execProbe("alive", 1, 1), ReadinessProbe: execProbe("ready", 1, 1)}))
	eventually(t, 10*time.Second, "running, not started", func() (bool, string) {
		p := getPod(t, s, "default", "slow")
		cs, ok := containerStatus0(p)
		return ok && cs.State.Running != nil && cs.Started != nil && !*cs.Started && !cs.Ready && execCount(rt, "started") >= 2,
			fmt.Sprintf("%+v", p.Status.ContainerStatuses)
	})
	if n := execCount(rt, "alive") + execCount(rt, "ready"); n != 0 {
		t.Fatalf("liveness/readiness ran %d times before startup succeeded", n)
	}
	rt.SetExecResult([]string{"alive"}, crifake.ExecResult{})
	rt.SetExecResult([]string{"started"}, crifake.ExecResult{})
	eventually(t, 5*time.Second, "started and ready", func() (bool, string) {
		p := getPod(t, s, "default", "slow")
		cs, _ := containerStatus0(p)
		return cs.Started != nil && *cs.Started && cs.Ready && podCondition(p, v1.PodReady) == v1.ConditionTrue, fmt.Sprintf("%+v", p.Status.ContainerStatuses)
	})
	if p := getPod(t, s, "default", "slow"); p.Status.ContainerStatuses[0].RestartCount != 0 {
		t.Errorf("restarted while starting: %+v", p.Status.ContainerStatuses[0])
	}
	if execCount(rt, "alive") == 0 {
		t.Errorf("liveness never ran after startup")
	}
}

func TestServiceEnvInContainers(t *testing.T) {
	s := testenv.Start(t)
	ctx := context.Background()
	// Pods need their namespace's default account where service account
	// admission runs.
	if _, err := s.Client.CoreV1().ServiceAccounts("default").Create(ctx, &v1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	services := map[string]*v1.Service{}
	for _, svc := range []*v1.Service{
		{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes"}, Spec: v1.ServiceSpec{Ports: []v1.ServicePort{{Name: "https", Port: 443}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "my-db"}, Spec: v1.ServiceSpec{Ports: []v1.ServicePort{{Port: 5432}}}},
	} {
		created, err := s.Client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		if err != nil {
			created, err = s.Client.CoreV1().Services("default").Get(ctx, svc.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
		}
		services[svc.Name] = created
	}
	// Started after the Services exist: the agent starts no pod before its
	// caches have synced, so the container cannot race the Service watch.
	ta := startAgent(t, s, nil, "")
	createPod(t, s, simplePod("svcenv", v1.Container{Name: "app", Image: "web:1",
		Env:  []v1.EnvVar{{Name: "DB", Value: "$(MY_DB_SERVICE_HOST):$(MY_DB_SERVICE_PORT)"}},
		Args: []string{"--api=$(KUBERNETES_PORT)"}}))
	eventually(t, 10*time.Second, "service variables", func() (bool, string) {
		for _, c := range ta.rt.Containers() {
			if c.Config.Labels["io.kubernetes.pod.name"] != "svcenv" {
				continue
			}
			env := map[string]string{}
			for _, kv := range c.Config.Envs {
				env[kv.Key] = kv.Value
			}
			api, db := services["kubernetes"].Spec.ClusterIP, services["my-db"].Spec.ClusterIP
			want := map[string]string{"KUBERNETES_SERVICE_HOST": api, "KUBERNETES_SERVICE_PORT": "443", "KUBERNETES_SERVICE_PORT_HTTPS": "443",
				"MY_DB_SERVICE_HOST": db, "MY_DB_PORT_5432_TCP_ADDR": db, "DB": db + ":5432"}
			for k, v := range want {
				if env[k] != v {
					return false, fmt.Sprintf("%s = %q, want %q", k, env[k], v)
				}
			}
			if fmt.Sprint(c.Config.Args) != "[--api=tcp://"+api+":443]" {
				return false, fmt.Sprint("args ", c.Config.Args)
			}
			return true, ""
		}
		return false, "container not created"
	})
}
