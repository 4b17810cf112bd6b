package daemonset_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	"github.com/gureum/gureum/internal/controller/daemonset"
	"github.com/gureum/gureum/internal/testenv"
)

func testLogger() *slog.Logger {
	if os.Getenv("GUREUM_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startController runs the DaemonSet controller against s until the test
// ends. (Once the server runs it itself, this becomes a no-op.)
func startController(t *testing.T, s *testenv.Server) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := informers.NewSharedInformerFactory(s.Client, 0)
	c := daemonset.New(s.Client, f, clock.RealClock{}, testLogger())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// startFakeNodes stands in for the scheduler and the kubelets, test only:
// it binds a pod pinned to a node by the daemon node affinity to that
// node, reports bound pods Running and Ready, and finishes graceful
// deletions at once.
func startFakeNodes(t *testing.T, client kubernetes.Interface) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := informers.NewSharedInformerFactory(client, 0)
	inf := f.Core().V1().Pods().Informer()
	work := make(chan *corev1.Pod, 1024)
	push := func(obj interface{}) {
		if p, ok := obj.(*corev1.Pod); ok {
			work <- p
		}
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: push, UpdateFunc: func(_, o interface{}) { push(o) }})
	f.Start(ctx.Done())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case p := <-work:
				fakeNodeStep(ctx, client, p)
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		f.Shutdown()
	})
}

func fakeNodeStep(ctx context.Context, client kubernetes.Interface, p *corev1.Pod) {
	pods := client.CoreV1().Pods(p.Namespace)
	switch {
	case p.DeletionTimestamp != nil:
		zero := int64(0)
		_ = pods.Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &p.UID}})
	case p.Spec.NodeName == "":
		node := daemonset.PodNode(p)
		if node == "" {
			return
		}
		_ = pods.Bind(ctx, &corev1.Binding{
			ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, UID: p.UID},
			Target:     corev1.ObjectReference{Kind: "Node", Name: node},
		}, metav1.CreateOptions{})
	case p.Status.Phase == "" || p.Status.Phase == corev1.PodPending:
		now := metav1.Now()
		q := p.DeepCopy()
		q.Status.Phase = corev1.PodRunning
		q.Status.Conditions = []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
		}
		_, _ = pods.UpdateStatus(ctx, q, metav1.UpdateOptions{})
	}
}

func createNode(t *testing.T, client kubernetes.Interface, name string, lbls map[string]string, taints ...corev1.Taint) {
	t.Helper()
	_, err := client.CoreV1().Nodes().Create(context.Background(), &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls},
		Spec:       corev1.NodeSpec{Taints: taints},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create node %s: %v", name, err)
	}
}

// eventually polls cond every 25ms until it holds or 20s pass.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
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

// livePods returns the non-terminating pods of the daemonset by node.
func livePods(t *testing.T, client kubernetes.Interface, ns, app string) map[string][]corev1.Pod {
	t.Helper()
	list, err := client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		t.Fatalf("list pods: %v", err)
	}
	out := map[string][]corev1.Pod{}
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			out[daemonset.PodNode(&p)] = append(out[daemonset.PodNode(&p)], p)
		}
	}
	return out
}

func describe(m map[string][]corev1.Pod) string {
	var b strings.Builder
	for n, ps := range m {
		for _, p := range ps {
			fmt.Fprintf(&b, "%s:%s(%s,%s,%s) ", n, p.Name, p.Labels["controller-revision-hash"], p.Spec.Containers[0].Image, p.Status.Phase)
		}
	}
	return b.String()
}

const agentDS = `apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      nodeSelector: {role: worker}
      terminationGracePeriodSeconds: 1
      containers: [{name: agent, image: agent:1}]
`

func TestDaemonSetPlacementRolloutHistoryUndo(t *testing.T) {
	s := testenv.Start(t)
	startFakeNodes(t, s.Client)
	startController(t, s)
	ctx := context.Background()

	createNode(t, s.Client, "n1", map[string]string{"role": "worker"})
	createNode(t, s.Client, "n2", map[string]string{"role": "worker"}, corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule})
	createNode(t, s.Client, "n3", map[string]string{"role": "db"})
	s.MustKubectl(t, agentDS, "apply", "-f", "-")

	waitPods := func(what string, want map[string]string) {
		t.Helper()
		eventually(t, what, func() (bool, string) {
			got := livePods(t, s.Client, "default", "agent")
			if len(got) != len(want) {
				return false, describe(got)
			}
			for node, image := range want {
				ps := got[node]
				if len(ps) != 1 || ps[0].Spec.Containers[0].Image != image || ps[0].Status.Phase != corev1.PodRunning {
					return false, describe(got)
				}
			}
			return true, ""
		})
	}
	waitPods("one pod on n1 only", map[string]string{"n1": "agent:1"})
	out := s.MustKubectl(t, "", "rollout", "status", "ds/agent", "--timeout=20s")
	if !strings.Contains(out, `daemon set "agent" successfully rolled out`) {
		t.Fatalf("rollout status: %s", out)
	}

	// The pod carries what Kubernetes gives daemon pods.
	pod := livePods(t, s.Client, "default", "agent")["n1"][0]
	if pod.Labels["controller-revision-hash"] == "" || pod.Labels["pod-template-generation"] != "1" {
		t.Errorf("pod labels = %v, want controller-revision-hash and pod-template-generation=1", pod.Labels)
	}
	aff := pod.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	if len(aff) != 1 || aff[0].MatchFields[0].Key != "metadata.name" || aff[0].MatchFields[0].Values[0] != "n1" {
		t.Errorf("pod node affinity = %+v, want matchFields metadata.name In [n1]", aff)
	}
	tolerates := map[string]bool{}
	for _, tol := range pod.Spec.Tolerations {
		tolerates[tol.Key+":"+string(tol.Effect)] = tol.TolerationSeconds == nil
	}
	for _, k := range []string{"node.kubernetes.io/not-ready:NoExecute", "node.kubernetes.io/unreachable:NoExecute",
		"node.kubernetes.io/disk-pressure:NoSchedule", "node.kubernetes.io/memory-pressure:NoSchedule",
		"node.kubernetes.io/pid-pressure:NoSchedule", "node.kubernetes.io/unschedulable:NoSchedule"} {
		if !tolerates[k] {
			t.Errorf("pod lacks default toleration %s (without tolerationSeconds); has %v", k, pod.Spec.Tolerations)
		}
	}
	if owner := metav1.GetControllerOf(&pod); owner == nil || owner.Kind != "DaemonSet" || owner.Name != "agent" {
		t.Errorf("pod controller = %+v", owner)
	}

	// A new eligible node gets a pod.
	createNode(t, s.Client, "n4", map[string]string{"role": "worker"})
	waitPods("a pod on the new node n4", map[string]string{"n1": "agent:1", "n4": "agent:1"})

	// Rolling update.
	s.MustKubectl(t, "", "set", "image", "ds/agent", "agent=agent:2")
	out = s.MustKubectl(t, "", "rollout", "status", "ds/agent", "--timeout=30s")
	if !strings.Contains(out, "successfully rolled out") {
		t.Fatalf("rollout status after update: %s", out)
	}
	waitPods("updated pods", map[string]string{"n1": "agent:2", "n4": "agent:2"})
	ds, err := s.Client.AppsV1().DaemonSets("default").Get(ctx, "agent", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st := ds.Status
	if st.DesiredNumberScheduled != 2 || st.CurrentNumberScheduled != 2 || st.UpdatedNumberScheduled != 2 ||
		st.NumberReady != 2 || st.NumberAvailable != 2 || st.NumberUnavailable != 0 || st.NumberMisscheduled != 0 || st.ObservedGeneration != ds.Generation {
		t.Errorf("status = %+v", st)
	}

	// History lists both revisions; undo goes back to agent:1 as revision 3.
	out = s.MustKubectl(t, "", "rollout", "history", "ds/agent")
	if !strings.Contains(out, "REVISION") || !containsRow(out, "1") || !containsRow(out, "2") {
		t.Fatalf("rollout history:\n%s", out)
	}
	out = s.MustKubectl(t, "", "rollout", "history", "ds/agent", "--revision=1")
	if !strings.Contains(out, "agent:1") {
		t.Fatalf("rollout history --revision=1:\n%s", out)
	}
	out = s.MustKubectl(t, "", "rollout", "undo", "ds/agent")
	if !strings.Contains(out, "rolled back") {
		t.Fatalf("rollout undo: %s", out)
	}
	s.MustKubectl(t, "", "rollout", "status", "ds/agent", "--timeout=30s")
	waitPods("rolled back pods", map[string]string{"n1": "agent:1", "n4": "agent:1"})
	eventually(t, "revision 3 in history", func() (bool, string) {
		out := s.MustKubectl(t, "", "rollout", "history", "ds/agent")
		return containsRow(out, "2") && containsRow(out, "3") && !containsRow(out, "1"), out
	})

	// A node that stops matching loses its pod; a failed pod is replaced.
	n4, err := s.Client.CoreV1().Nodes().Get(ctx, "n4", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n4.Labels["role"] = "db"
	if _, err := s.Client.CoreV1().Nodes().Update(ctx, n4, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPods("pod gone from relabelled n4", map[string]string{"n1": "agent:1"})

	failed := livePods(t, s.Client, "default", "agent")["n1"][0]
	failed.Status.Phase = corev1.PodFailed
	if _, err := s.Client.CoreV1().Pods("default").UpdateStatus(ctx, &failed, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "failed pod replaced", func() (bool, string) {
		got := livePods(t, s.Client, "default", "agent")
		ps := got["n1"]
		_, err := s.Client.CoreV1().Pods("default").Get(ctx, failed.Name, metav1.GetOptions{})
		return len(ps) == 1 && ps[0].Name != failed.Name && ps[0].Status.Phase == corev1.PodRunning && apierrors.IsNotFound(err), describe(got)
	})
	events := s.MustKubectl(t, "", "get", "events", "--field-selector", "involvedObject.name=agent")
	for _, reason := range []string{"SuccessfulCreate", "SuccessfulDelete", "FailedDaemonPod"} {
		if !strings.Contains(events, reason) {
			t.Errorf("events lack %s:\n%s", reason, events)
		}
	}
}

func containsRow(table, first string) bool {
	for _, line := range strings.Split(table, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && f[0] == first {
			return true
		}
	}
	return false
}

func TestDaemonSetMaxSurgeAndOnDelete(t *testing.T) {
	s := testenv.Start(t)
	startFakeNodes(t, s.Client)
	startController(t, s)
	ctx := context.Background()
	for _, n := range []string{"a", "b", "c"} {
		createNode(t, s.Client, n, nil)
	}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "surge"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "surge"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "surge"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "v:1"}}},
			},
		},
	}
	surge := intstrPtr("50%")
	zero := intstrPtr("0")
	ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxSurge: surge, MaxUnavailable: zero}}
	if _, err := s.Client.AppsV1().DaemonSets("default").Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	s.MustKubectl(t, "", "rollout", "status", "ds/surge", "--timeout=20s")
	s.MustKubectl(t, "", "set", "image", "ds/surge", "c=v:2")
	s.MustKubectl(t, "", "rollout", "status", "ds/surge", "--timeout=30s")
	eventually(t, "all pods at v:2", func() (bool, string) {
		got := livePods(t, s.Client, "default", "surge")
		for _, n := range []string{"a", "b", "c"} {
			if len(got[n]) != 1 || got[n][0].Spec.Containers[0].Image != "v:2" {
				return false, describe(got)
			}
		}
		return len(got) == 3, describe(got)
	})

	// OnDelete: a template change replaces nothing until a pod is deleted.
	s.MustKubectl(t, "", "patch", "ds/surge", "--type=merge", "-p", `{"spec":{"updateStrategy":{"type":"OnDelete","rollingUpdate":null}}}`)
	s.MustKubectl(t, "", "set", "image", "ds/surge", "c=v:3")
	eventually(t, "status observes generation", func() (bool, string) {
		d, _ := s.Client.AppsV1().DaemonSets("default").Get(ctx, "surge", metav1.GetOptions{})
		return d.Status.ObservedGeneration == d.Generation && d.Status.UpdatedNumberScheduled == 0, fmt.Sprintf("%+v", d.Status)
	})
	got := livePods(t, s.Client, "default", "surge")
	if len(got["a"]) != 1 || got["a"][0].Spec.Containers[0].Image != "v:2" {
		t.Fatalf("OnDelete replaced a pod before it was deleted: %s", describe(got))
	}
	if err := s.Client.CoreV1().Pods("default").Delete(ctx, got["a"][0].Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "deleted pod comes back at v:3", func() (bool, string) {
		got := livePods(t, s.Client, "default", "surge")
		return len(got["a"]) == 1 && got["a"][0].Spec.Containers[0].Image == "v:3" &&
			got["b"][0].Spec.Containers[0].Image == "v:2", describe(got)
	})
}

func intstrPtr(s string) *intstr.IntOrString {
	v := intstr.Parse(s)
	return &v
}

func TestDaemonSetAdoptsOrphanPod(t *testing.T) {
	s := testenv.Start(t)
	startFakeNodes(t, s.Client)
	startController(t, s)
	ctx := context.Background()
	createNode(t, s.Client, "n1", nil)
	createNode(t, s.Client, "n2", nil)
	orphan, err := s.Client.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "orphan", Labels: map[string]string{"app": "adopt"}},
		Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "v:1"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.MustKubectl(t, `apiVersion: apps/v1
kind: DaemonSet
metadata: {name: adopt}
spec:
  selector: {matchLabels: {app: adopt}}
  updateStrategy: {type: OnDelete}
  template:
    metadata: {labels: {app: adopt}}
    spec:
      containers: [{name: c, image: v:1}]
`, "apply", "-f", "-")
	eventually(t, "orphan adopted, n2 gets a pod, n1 no second one", func() (bool, string) {
		p, err := s.Client.CoreV1().Pods("default").Get(ctx, "orphan", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		got := livePods(t, s.Client, "default", "adopt")
		owner := metav1.GetControllerOf(p)
		return owner != nil && owner.Name == "adopt" && p.UID == orphan.UID && len(got["n1"]) == 1 && len(got["n2"]) == 1, describe(got)
	})
	// Stays that way: nothing more is created.
	time.Sleep(200 * time.Millisecond)
	if got := livePods(t, s.Client, "default", "adopt"); len(got["n1"]) != 1 || len(got["n2"]) != 1 || len(got) != 2 {
		t.Fatalf("pods after adoption: %s", describe(got))
	}
}
