package disruption_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/gureum/gureum/internal/controller/disruption"
	"github.com/gureum/gureum/internal/testenv"
	"github.com/gureum/gureum/internal/testenv/fakekubelet"
)

func startController(t *testing.T, s *testenv.Server, clk clock.WithTicker) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := informers.NewSharedInformerFactory(s.Client, 0)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c := disruption.New(s.Client, f, clk, log)
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func mkNamespace(t *testing.T, s *testenv.Server, name string) {
	t.Helper()
	if _, err := s.Client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func ownedPod(name string, labels map[string]string, owner *metav1.OwnerReference) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "busybox:1"}}},
	}
	if owner != nil {
		p.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	return p
}

func controllerRef(apiVersion, kind, name string, uid types.UID) *metav1.OwnerReference {
	yes := true
	return &metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: uid, Controller: &yes}
}

func budget(name string, minAvailable, maxUnavailable *intstr.IntOrString, labels map[string]string) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: minAvailable, MaxUnavailable: maxUnavailable,
			Selector: &metav1.LabelSelector{MatchLabels: labels}},
	}
}

func ptr[T any](v T) *T { return &v }

// waitStatus waits until the budget's status, for its current generation,
// shows the given counts.
func waitStatus(t *testing.T, s *testenv.Server, ns, name string, healthy, desired, expected, allowed int32) *policyv1.PodDisruptionBudget {
	t.Helper()
	var pdb *policyv1.PodDisruptionBudget
	eventually(t, "status of "+name, func() error {
		var err error
		pdb, err = s.Client.PolicyV1().PodDisruptionBudgets(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		st := pdb.Status
		if st.ObservedGeneration != pdb.Generation || st.CurrentHealthy != healthy || st.DesiredHealthy != desired ||
			st.ExpectedPods != expected || st.DisruptionsAllowed != allowed {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	return pdb
}

const widgetCRD = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {replicas: {type: integer}}}
          status: {type: object, properties: {replicas: {type: integer}}}
    subresources:
      status: {}
      scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas}
`

// Relative budgets count what the pods' controllers want: a Deployment
// through its ReplicaSet, and any kind with a /scale subresource.
func TestRelativeBudgetsCountControllersScale(t *testing.T) {
	t.Parallel()
	s := testenv.Start(t)
	startController(t, s, clock.RealClock{})
	fakekubelet.Start(t, s.Client)
	ctx := context.Background()
	const ns = "relative"
	mkNamespace(t, s, ns)

	web := map[string]string{"app": "web"}
	dep, err := s.Client.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr(int32(5)), Selector: &metav1.LabelSelector{MatchLabels: web},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: web},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "busybox:1"}}}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := s.Client.AppsV1().ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Labels: web,
			OwnerReferences: []metav1.OwnerReference{*controllerRef("apps/v1", "Deployment", "web", dep.UID)}},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr(int32(2)), Selector: &metav1.LabelSelector{MatchLabels: web},
			Template: dep.Spec.Template},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := s.Client.CoreV1().Pods(ns).Create(ctx, ownedPod(fmt.Sprintf("web-%d", i), web,
			controllerRef("apps/v1", "ReplicaSet", rs.Name, rs.UID)), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Client.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, budget("web", ptr(intstr.FromString("50%")), nil, web), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// 50% of the Deployment's 5 rounds up to 3, and only 2 pods run.
	waitStatus(t, s, ns, "web", 2, 3, 5, 0)
	dep.Spec.Replicas = ptr(int32(3))
	if _, err := s.Client.AppsV1().Deployments(ns).Update(ctx, dep, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, s, ns, "web", 2, 2, 3, 0)

	s.MustKubectl(t, widgetCRD, "apply", "-f", "-")
	widgets := schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}
	dyn := dynamic.NewForConfigOrDie(s.Config)
	var widget *unstructured.Unstructured
	eventually(t, "create a widget", func() error {
		widget, err = dyn.Resource(widgets).Namespace(ns).Create(ctx, &unstructured.Unstructured{Object: map[string]interface{}{
			"apiVersion": "example.com/v1", "kind": "Widget",
			"metadata": map[string]interface{}{"name": "w"},
			"spec":     map[string]interface{}{"replicas": int64(4)},
		}}, metav1.CreateOptions{})
		return err
	})
	gadget := map[string]string{"app": "gadget"}
	for i := range 3 {
		if _, err := s.Client.CoreV1().Pods(ns).Create(ctx, ownedPod(fmt.Sprintf("gadget-%d", i), gadget,
			controllerRef("example.com/v1", "Widget", "w", widget.GetUID())), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Client.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, budget("gadget", nil, ptr(intstr.FromString("25%")), gadget), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// 25% of the Widget's 4 is 1 unavailable: 3 must be healthy.
	waitStatus(t, s, ns, "gadget", 3, 3, 4, 0)
}

// An empty selector selects every pod of the namespace and a missing one
// none; a pod whose controller cannot be found makes a relative budget
// uncomputable: it allows nothing and says why.
func TestSelectionAndFailSafe(t *testing.T) {
	t.Parallel()
	s := testenv.Start(t)
	startController(t, s, clock.RealClock{})
	fakekubelet.Start(t, s.Client)
	ctx := context.Background()
	const ns = "failsafe"
	mkNamespace(t, s, ns)

	const other = "selectors"
	mkNamespace(t, s, other)
	for i := range 2 {
		if _, err := s.Client.CoreV1().Pods(other).Create(ctx, ownedPod(fmt.Sprintf("p-%d", i), map[string]string{"i": fmt.Sprint(i)}, nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	all := budget("all", ptr(intstr.FromInt32(1)), nil, nil)
	all.Spec.Selector = &metav1.LabelSelector{}
	none := budget("none", ptr(intstr.FromInt32(0)), nil, nil)
	none.Spec.Selector = nil
	for _, pdb := range []*policyv1.PodDisruptionBudget{all, none} {
		if _, err := s.Client.PolicyV1().PodDisruptionBudgets(other).Create(ctx, pdb, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitStatus(t, s, other, "all", 2, 1, 2, 1)
	waitStatus(t, s, other, "none", 0, 0, 0, 0)

	app := map[string]string{"app": "ghost"}
	if _, err := s.Client.CoreV1().Pods(ns).Create(ctx, ownedPod("ghost-0", app,
		controllerRef("apps/v1", "ReplicaSet", "gone", "0b5e3c8a-0000-4000-8000-000000000000")), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, budget("ghost", nil, ptr(intstr.FromInt32(1)), app), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "SyncFailed condition", func() error {
		pdb, err := s.Client.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "ghost", metav1.GetOptions{})
		if err != nil {
			return err
		}
		c := apimeta.FindStatusCondition(pdb.Status.Conditions, policyv1.DisruptionAllowedCondition)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != policyv1.SyncFailedReason ||
			!strings.Contains(c.Message, `found no controllers for pod "ghost-0"`) || pdb.Status.DisruptionsAllowed != 0 {
			return fmt.Errorf("status %+v", pdb.Status)
		}
		return nil
	})
}

// An eviction's disruptedPods entry keeps its pod out of currentHealthy
// for DeletionTimeout on the controller's clock, and a DisruptionTarget
// condition left on a pod that was never deleted is reset.
func TestEvictionLeftovers(t *testing.T) {
	t.Parallel()
	s := testenv.Start(t)
	clk := clocktesting.NewFakeClock(time.Now().Truncate(time.Second))
	startController(t, s, clk)
	fakekubelet.Start(t, s.Client)
	ctx := context.Background()
	const ns = "leftovers"
	mkNamespace(t, s, ns)
	app := map[string]string{"app": "api"}
	pods := s.Client.CoreV1().Pods(ns)
	for i := range 2 {
		if _, err := pods.Create(ctx, ownedPod(fmt.Sprintf("api-%d", i), app, nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	pdbs := s.Client.PolicyV1().PodDisruptionBudgets(ns)
	if _, err := pdbs.Create(ctx, budget("api", ptr(intstr.FromInt32(1)), nil, app), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, s, ns, "api", 2, 1, 2, 1)

	// What an eviction of api-0 writes, a minute ago, without the delete.
	evictedAt := metav1.NewTime(clk.Now().Add(-time.Minute))
	eventually(t, "record a disruption", func() error {
		pdb, err := pdbs.Get(ctx, "api", metav1.GetOptions{})
		if err != nil {
			return err
		}
		pdb.Status.DisruptionsAllowed = 0
		pdb.Status.DisruptedPods = map[string]metav1.Time{"api-0": evictedAt}
		_, err = pdbs.UpdateStatus(ctx, pdb, metav1.UpdateOptions{})
		return err
	})
	eventually(t, "mark api-0 as a disruption target", func() error {
		p, err := pods.Get(ctx, "api-0", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Status.Phase != corev1.PodRunning {
			return fmt.Errorf("phase %q", p.Status.Phase)
		}
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.DisruptionTarget,
			Status: corev1.ConditionTrue, Reason: "EvictionByEvictionAPI", Message: "Eviction API: evicting", LastTransitionTime: evictedAt})
		_, err = pods.UpdateStatus(ctx, p, metav1.UpdateOptions{})
		return err
	})
	pdb := waitStatus(t, s, ns, "api", 1, 1, 2, 0)
	if _, ok := pdb.Status.DisruptedPods["api-0"]; !ok {
		t.Fatalf("disruptedPods lost a live entry: %v", pdb.Status.DisruptedPods)
	}

	clk.Step(disruption.DeletionTimeout)
	pdb = waitStatus(t, s, ns, "api", 2, 1, 2, 1)
	if len(pdb.Status.DisruptedPods) != 0 {
		t.Errorf("expired entry kept: %v", pdb.Status.DisruptedPods)
	}
	eventually(t, "DisruptionTarget reset", func() error {
		p, err := pods.Get(ctx, "api-0", metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.DisruptionTarget {
				if c.Status != corev1.ConditionFalse {
					return fmt.Errorf("condition %+v", c)
				}
				return nil
			}
		}
		return apierrors.NewNotFound(schema.GroupResource{Resource: "conditions"}, "DisruptionTarget")
	})
}
