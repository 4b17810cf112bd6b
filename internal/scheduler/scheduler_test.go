package scheduler_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/gureum/gureum/internal/scheduler"
	"github.com/gureum/gureum/internal/testenv"
)

// startScheduler runs the scheduler against the test server until the
// test ends. (Once the server runs the scheduler itself, this becomes a
// no-op.)
func startScheduler(t *testing.T, s *testenv.Server) {
	t.Helper()
	factory := informers.NewSharedInformerFactory(s.Client, 0)
	level := slog.LevelWarn
	if os.Getenv("GUREUM_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	sched := scheduler.New(s.Client, factory, clock.RealClock{}, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sched.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("scheduler Run: %v", err)
		}
	})
}

// createNode registers a Ready node the way an agent would, without one.
func createNode(t *testing.T, c kubernetes.Interface, name, cpu, memory string, mutate ...func(*corev1.Node)) {
	t.Helper()
	ctx := context.Background()
	rl := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse(cpu),
		corev1.ResourceMemory: resource.MustParse(memory),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}},
		Status: corev1.NodeStatus{
			Capacity: rl, Allocatable: rl,
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
				LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}},
		},
	}
	for _, m := range mutate {
		m(n)
	}
	created, err := c.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create node %s: %v", name, err)
	}
	if created.Status.Allocatable.Cpu().IsZero() {
		created.Status = n.Status
		if _, err := c.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("set node %s status: %v", name, err)
		}
	}
}

func createPod(t *testing.T, c kubernetes.Interface, name, cpu string, mutate ...func(*corev1.Pod)) {
	t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}}}}},
	}
	for _, m := range mutate {
		m(p)
	}
	if _, err := c.CoreV1().Pods("default").Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod %s: %v", name, err)
	}
}

// waitFor polls cond every 25ms until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; last state: %s", what, last)
}

func waitBound(t *testing.T, c kubernetes.Interface, name string, allowed ...string) string {
	t.Helper()
	var node string
	waitFor(t, 10*time.Second, "pod "+name+" bound", func() (bool, string) {
		p, err := c.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		node = p.Spec.NodeName
		return node != "", fmt.Sprintf("conditions %+v", p.Status.Conditions)
	})
	if len(allowed) > 0 && !slices.Contains(allowed, node) {
		t.Fatalf("pod %s bound to %s, want one of %v", name, node, allowed)
	}
	return node
}

func waitUnschedulable(t *testing.T, c kubernetes.Interface, name, msg string) {
	t.Helper()
	waitFor(t, 10*time.Second, "pod "+name+" unschedulable", func() (bool, string) {
		p, err := c.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodScheduled && cond.Status == corev1.ConditionFalse && cond.Reason == corev1.PodReasonUnschedulable && cond.Message == msg {
				return p.Spec.NodeName == "", "node " + p.Spec.NodeName
			}
		}
		return false, fmt.Sprintf("node %q conditions %+v", p.Spec.NodeName, p.Status.Conditions)
	})
}

func eventsFor(t *testing.T, c kubernetes.Interface, pod, reason string) []corev1.Event {
	t.Helper()
	list, err := c.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{
		FieldSelector: fields.Set{"involvedObject.name": pod, "reason": reason}.String()})
	if err != nil {
		t.Fatalf("list events: %v", err)
	}
	return list.Items
}

func TestSchedulerIntegration(t *testing.T) {
	s := testenv.Start(t)
	startScheduler(t, s)
	c := s.Client
	createNode(t, c, "n1", "2", "4Gi")
	createNode(t, c, "n2", "2", "4Gi")

	createPod(t, c, "small", "500m")
	node := waitBound(t, c, "small", "n1", "n2")
	waitFor(t, 5*time.Second, "Scheduled event", func() (bool, string) {
		evs := eventsFor(t, c, "small", "Scheduled")
		if len(evs) == 0 {
			return false, "no event"
		}
		want := "Successfully assigned default/small to " + node
		return evs[0].Message == want && evs[0].Type == corev1.EventTypeNormal && evs[0].Source.Component == "default-scheduler", evs[0].Message
	})

	// Too big for either node: the condition and the event say why, in
	// the words kubectl users know.
	const msg = "0/2 nodes are available: 2 Insufficient cpu."
	createPod(t, c, "big", "3")
	waitUnschedulable(t, c, "big", msg)
	waitFor(t, 5*time.Second, "FailedScheduling event", func() (bool, string) {
		evs := eventsFor(t, c, "big", "FailedScheduling")
		return len(evs) == 1 && evs[0].Message == msg && evs[0].Type == corev1.EventTypeWarning, fmt.Sprint(len(evs))
	})
	out := s.MustKubectl(t, "", "describe", "pod", "big")
	for _, want := range []string{"FailedScheduling", msg, "default-scheduler"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl describe pod big lacks %q:\n%s", want, out)
		}
	}

	// A node that fits arrives: the pod is placed without any polling.
	createNode(t, c, "n3", "4", "8Gi")
	waitBound(t, c, "big", "n3")
	if evs := eventsFor(t, c, "big", "FailedScheduling"); len(evs) != 1 || evs[0].Count > 1 {
		t.Errorf("FailedScheduling events flooded: %d events, %+v", len(evs), evs)
	}

	// Cordoned and tainted nodes are avoided.
	s.MustKubectl(t, "", "cordon", "n1")
	s.MustKubectl(t, "", "taint", "nodes", "n2", "dedicated=infra:NoSchedule")
	waitFor(t, 5*time.Second, "node changes", func() (bool, string) {
		n1, err1 := c.CoreV1().Nodes().Get(context.Background(), "n1", metav1.GetOptions{})
		n2, err2 := c.CoreV1().Nodes().Get(context.Background(), "n2", metav1.GetOptions{})
		return err1 == nil && err2 == nil && n1.Spec.Unschedulable && len(n2.Spec.Taints) == 1, ""
	})
	for i := range 3 {
		name := fmt.Sprintf("web-%d", i)
		createPod(t, c, name, "100m")
		waitBound(t, c, name, "n3")
	}
	createPod(t, c, "tolerant", "100m", func(p *corev1.Pod) {
		p.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "infra", Effect: corev1.TaintEffectNoSchedule}}
		p.Spec.NodeSelector = map[string]string{"kubernetes.io/hostname": "n2"}
	})
	waitBound(t, c, "tolerant", "n2")
	createPod(t, c, "huge", "1500m")
	waitUnschedulable(t, c, "huge", "0/3 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint {dedicated: infra}, 1 node(s) were unschedulable.")

	// Deleting a pod frees room: "huge" takes the place "big" had.
	if err := c.CoreV1().Pods("default").Delete(context.Background(), "big", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatalf("delete big: %v", err)
	}
	waitBound(t, c, "huge", "n3")

	// Pods for another scheduler are left alone.
	createPod(t, c, "other", "100m", func(p *corev1.Pod) { p.Spec.SchedulerName = "my-scheduler" })
	createPod(t, c, "after-other", "100m")
	waitBound(t, c, "after-other")
	if p, err := c.CoreV1().Pods("default").Get(context.Background(), "other", metav1.GetOptions{}); err != nil || p.Spec.NodeName != "" {
		t.Errorf("pod for another scheduler: node %q, err %v", p.Spec.NodeName, err)
	}
}

// TestSchedulerManyPods binds a burst of pods from several owners with
// many binds in flight, and checks they spread and nothing overcommits.
func TestSchedulerManyPods(t *testing.T) {
	s := testenv.Start(t)
	startScheduler(t, s)
	c := s.Client
	for i := range 5 {
		createNode(t, c, fmt.Sprintf("n%d", i), "4", "8Gi")
	}
	yes := true
	for i := range 100 {
		owner := fmt.Sprintf("rs-%d", i%4)
		createPod(t, c, fmt.Sprintf("p%d", i), "150m", func(p *corev1.Pod) {
			p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: owner, UID: types.UID("uid-" + owner), Controller: &yes}}
		})
	}
	var pods []corev1.Pod
	waitFor(t, 20*time.Second, "100 pods bound", func() (bool, string) {
		list, err := c.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		bound := 0
		for _, p := range list.Items {
			if p.Spec.NodeName != "" {
				bound++
			}
		}
		pods = list.Items
		return bound == 100, fmt.Sprintf("%d bound", bound)
	})
	perNode := map[string]int64{}
	perOwnerNode := map[string]int{}
	for _, p := range pods {
		perNode[p.Spec.NodeName] += p.Spec.Containers[0].Resources.Requests.Cpu().MilliValue()
		perOwnerNode[string(p.OwnerReferences[0].UID)+"/"+p.Spec.NodeName]++
	}
	for n, m := range perNode {
		if m > 4000 {
			t.Errorf("node %s overcommitted: %dm", n, m)
		}
	}
	for k, v := range perOwnerNode {
		if v < 4 || v > 6 {
			t.Errorf("owner/node %s has %d pods, want 5±1 (25 pods over 5 nodes)", k, v)
		}
	}
}
