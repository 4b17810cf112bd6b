package integration

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/utils/clock"

	"github.com/gureum/gureum/internal/controller/disruption"
	"github.com/gureum/gureum/internal/controller/replicaset"
	"github.com/gureum/gureum/internal/testenv"
	"github.com/gureum/gureum/internal/testenv/fakekubelet"
)

// startDisruptionLoops runs what PDB tests need besides the API server:
// the disruption controller, the ReplicaSet controller (replacements for
// evicted pods) and a fake kubelet that binds pods, makes them Ready and
// finishes their graceful deletion.
func startDisruptionLoops(t *testing.T, s *testenv.Server) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := informers.NewSharedInformerFactory(s.Client, 0)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	dc := disruption.New(s.Client, f, clock.RealClock{}, log)
	rs := replicaset.New(s.Client, f, clock.RealClock{}, log)
	done := make(chan error, 2)
	go func() { done <- dc.Run(ctx) }()
	go func() { done <- rs.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		for range 2 {
			if err := <-done; err != nil {
				t.Errorf("controller Run: %v", err)
			}
		}
	})
	fakekubelet.Start(t, s.Client)
}

// waitUntil polls check until it returns nil or 30 seconds pass.
func waitUntil(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func labelledPod(name string, labels map[string]string) *corev1.Pod {
	p := simplePod(name)
	p.Labels = labels
	return p
}

func minAvailablePDB(name string, minAvailable intstr.IntOrString, labels map[string]string) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: &minAvailable,
			Selector: &metav1.LabelSelector{MatchLabels: labels}},
	}
}

// waitBudget waits for the controller to have computed the budget's
// current spec with the given healthy/desired/expected/allowed counts.
func waitBudget(t *testing.T, s *testenv.Server, ns, name string, healthy, desired, expected, allowed int32) *policyv1.PodDisruptionBudget {
	t.Helper()
	var pdb *policyv1.PodDisruptionBudget
	waitUntil(t, "status of pdb "+name, func() error {
		var err error
		pdb, err = s.Client.PolicyV1().PodDisruptionBudgets(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		st := pdb.Status
		if st.ObservedGeneration != pdb.Generation || st.CurrentHealthy != healthy || st.DesiredHealthy != desired ||
			st.ExpectedPods != expected || st.DisruptionsAllowed != allowed {
			return fmt.Errorf("generation %d, status %+v; want healthy %d desired %d expected %d allowed %d",
				pdb.Generation, st, healthy, desired, expected, allowed)
		}
		return nil
	})
	return pdb
}

// evict posts an Eviction and returns the HTTP status code and error.
func evict(ctx context.Context, s *testenv.Server, ns, name string, dryRun bool) (int, error) {
	ev := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	if dryRun {
		ev.DeleteOptions = &metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}}
	}
	var code int
	err := s.Client.CoreV1().RESTClient().Post().Namespace(ns).Resource("pods").Name(name).SubResource("eviction").
		Body(ev).Do(ctx).StatusCode(&code).Error()
	return code, err
}

func wantBudgetViolation(t *testing.T, code int, err error) {
	t.Helper()
	if code != http.StatusTooManyRequests || !apierrors.IsTooManyRequests(err) {
		t.Fatalf("eviction: code %d, err %v; want 429 TooManyRequests", code, err)
	}
	if !apierrors.HasStatusCause(err, policyv1.DisruptionBudgetCause) {
		t.Errorf("429 without a %s cause: %v", policyv1.DisruptionBudgetCause, err)
	}
	if !strings.Contains(err.Error(), "Cannot evict pod as it would violate the pod's disruption budget.") {
		t.Errorf("message: %v", err)
	}
}

// TestPodDisruptionBudgets checks that the disruption controller computes
// budgets and that the eviction subresource spends them, as Kubernetes
// does, with client-go and the real kubectl.
func TestPodDisruptionBudgets(t *testing.T) {
	t.Parallel()
	s := testenv.Start(t)
	startDisruptionLoops(t, s)
	ctx := wireCtx(t)

	t.Run("MinAvailableAllowsOneEvictionAtATime", func(t *testing.T) {
		ns := mkNamespace(t, s, "pdb-min")
		pods := s.Client.CoreV1().Pods(ns)
		web := map[string]string{"app": "web"}
		for i := range 3 {
			if _, err := pods.Create(ctx, labelledPod(fmt.Sprintf("web-%d", i), web), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Client.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, minAvailablePDB("web", intstr.FromInt32(2), web), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		pdb := waitBudget(t, s, ns, "web", 3, 2, 3, 1)
		if c := apimeta.FindStatusCondition(pdb.Status.Conditions, policyv1.DisruptionAllowedCondition); c == nil ||
			c.Status != metav1.ConditionTrue || c.Reason != policyv1.SufficientPodsReason {
			t.Errorf("DisruptionAllowed condition %+v, want True/SufficientPods", c)
		}
		tab := parseTable(t, kubectl(t, s, "get", "pdb", "-n", ns))
		tab.wantHeader(t, "NAME", "MIN AVAILABLE", "MAX UNAVAILABLE", "ALLOWED DISRUPTIONS", "AGE")
		wantCells(t, tab.row(t, "web"), map[string]string{"MIN AVAILABLE": "2", "MAX UNAVAILABLE": "N/A", "ALLOWED DISRUPTIONS": "1"})

		// A dry run answers as the eviction would and changes nothing.
		if code, err := evict(ctx, s, ns, "web-0", true); code != http.StatusCreated || err != nil {
			t.Fatalf("dry-run eviction: code %d, err %v", code, err)
		}
		if p, err := pods.Get(ctx, "web-0", metav1.GetOptions{}); err != nil || p.DeletionTimestamp != nil {
			t.Fatalf("dry run deleted the pod: %v %v", err, p.DeletionTimestamp)
		}
		waitBudget(t, s, ns, "web", 3, 2, 3, 1)

		w, err := pods.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=web-0"})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		if code, err := evict(ctx, s, ns, "web-0", false); code != http.StatusCreated || err != nil {
			t.Fatalf("first eviction: code %d, err %v; want 201", code, err)
		}
		wantDisruptionTarget(t, w)

		// The budget is spent until a replacement is Ready.
		code, err := evict(ctx, s, ns, "web-1", false)
		wantBudgetViolation(t, code, err)
		if p, err := pods.Get(ctx, "web-1", metav1.GetOptions{}); err != nil || p.DeletionTimestamp != nil {
			t.Fatalf("refused eviction deleted the pod: %v", err)
		}
		waitBudget(t, s, ns, "web", 2, 2, 2, 0)
		tab = parseTable(t, kubectl(t, s, "get", "pdb", "web", "-n", ns))
		wantCells(t, tab.row(t, "web"), map[string]string{"ALLOWED DISRUPTIONS": "0"})

		if _, err := pods.Create(ctx, labelledPod("web-3", web), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitBudget(t, s, ns, "web", 3, 2, 3, 1)
		if code, err := evict(ctx, s, ns, "web-1", false); code != http.StatusCreated || err != nil {
			t.Fatalf("eviction after recovery: code %d, err %v; want 201", code, err)
		}
	})

	t.Run("UnhealthyPodsFollowThePolicy", func(t *testing.T) {
		ns := mkNamespace(t, s, "pdb-unhealthy")
		pods := s.Client.CoreV1().Pods(ns)
		app := map[string]string{"app": "api"}
		for i := range 2 {
			if _, err := pods.Create(ctx, labelledPod(fmt.Sprintf("api-%d", i), app), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		pdb := minAvailablePDB("api", intstr.FromInt32(2), app)
		if _, err := s.Client.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, pdb, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitBudget(t, s, ns, "api", 2, 2, 2, 0)
		// A running pod that is not Ready (a crash loop, a failing probe).
		sick := labelledPod("api-sick", app)
		if _, err := pods.Create(ctx, sick, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "api-sick bound and running", func() error {
			p, err := pods.Get(ctx, "api-sick", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if p.Status.Phase != corev1.PodRunning {
				return fmt.Errorf("phase %q", p.Status.Phase)
			}
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: metav1.Now()}}
			_, err = pods.UpdateStatus(ctx, p, metav1.UpdateOptions{})
			return err
		})
		waitBudget(t, s, ns, "api", 2, 2, 3, 0)
		// IfHealthyBudget (the default): the budget is met, so the sick pod
		// goes without spending it.
		if code, err := evict(ctx, s, ns, "api-sick", false); code != http.StatusCreated || err != nil {
			t.Fatalf("evicting an unready pod of a healthy budget: code %d, err %v", code, err)
		}
		// A healthy pod still may not go.
		code, err := evict(ctx, s, ns, "api-0", false)
		wantBudgetViolation(t, code, err)
	})

	t.Run("TwoBudgetsRefuse", func(t *testing.T) {
		ns := mkNamespace(t, s, "pdb-two")
		app := map[string]string{"app": "db"}
		if _, err := s.Client.CoreV1().Pods(ns).Create(ctx, labelledPod("db-0", app), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"one", "two"} {
			if _, err := s.Client.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, minAvailablePDB(name, intstr.FromInt32(0), app), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			waitBudget(t, s, ns, name, 1, 0, 1, 1)
		}
		code, err := evict(ctx, s, ns, "db-0", false)
		if code != http.StatusInternalServerError || err == nil ||
			!strings.Contains(err.Error(), "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.") {
			t.Fatalf("eviction under two budgets: code %d, err %v; want 500", code, err)
		}
		if _, err := s.Client.CoreV1().Pods(ns).Get(ctx, "db-0", metav1.GetOptions{}); err != nil {
			t.Fatalf("refused eviction deleted the pod: %v", err)
		}
	})

	t.Run("KubectlDrainWaitsForTheBudget", func(t *testing.T) {
		ns := mkNamespace(t, s, "pdb-drain")
		if _, err := s.Client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "fake-node"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		rs := replicaSet("shop", 3)
		if _, err := s.Client.AppsV1().ReplicaSets(ns).Create(ctx, rs, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		one := intstr.FromInt32(1)
		pdb := &policyv1.PodDisruptionBudget{
			ObjectMeta: metav1.ObjectMeta{Name: "shop"},
			Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: &one,
				Selector: &metav1.LabelSelector{MatchLabels: rs.Spec.Selector.MatchLabels}},
		}
		if _, err := s.Client.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, pdb, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// maxUnavailable counts the ReplicaSet's replicas.
		waitBudget(t, s, ns, "shop", 3, 2, 3, 1)
		before, err := s.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=shop"})
		if err != nil {
			t.Fatal(err)
		}
		// drain evicts all three, retrying the refused ones every 5s
		// while the ReplicaSet replaces the evicted pods.
		out := kubectl(t, s, "drain", "fake-node", "--pod-selector=app=shop", "--timeout=90s")
		wantContains(t, out, "node/fake-node drained")
		if !strings.Contains(out, "Cannot evict pod as it would violate the pod's disruption budget.") {
			t.Errorf("drain was never held back by the budget:\n%s", out)
		}
		for _, p := range before.Items {
			if got, err := s.Client.CoreV1().Pods(ns).Get(ctx, p.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("drained pod %s still there: %v %v", p.Name, err, got.DeletionTimestamp)
			}
		}
		waitBudget(t, s, ns, "shop", 3, 2, 3, 1)
		kubectl(t, s, "uncordon", "fake-node")
	})
}

// wantDisruptionTarget waits on a watch of one pod for the condition an
// eviction sets before it deletes.
func wantDisruptionTarget(t *testing.T, w watch.Interface) {
	t.Helper()
	for {
		ev := nextNonBookmark(t, w)
		p, ok := ev.Object.(*corev1.Pod)
		if !ok {
			t.Fatalf("watch event %s with %T", ev.Type, ev.Object)
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.DisruptionTarget {
				if c.Status != corev1.ConditionTrue || c.Reason != "EvictionByEvictionAPI" || c.Message != "Eviction API: evicting" {
					t.Fatalf("DisruptionTarget condition %+v", c)
				}
				return
			}
		}
		if ev.Type == watch.Deleted {
			t.Fatalf("pod %s deleted without a DisruptionTarget condition", p.Name)
		}
	}
}
