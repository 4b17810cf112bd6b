package namespace_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/gureum/gureum/internal/testenv"
)

const content = `apiVersion: v1
kind: ConfigMap
metadata: {name: cm1}
data: {a: "1"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cm2}
---
apiVersion: v1
kind: Secret
metadata: {name: s1}
stringData: {password: x}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: web:1}]
---
apiVersion: v1
kind: Pod
metadata: {name: lonely}
spec:
  containers: [{name: c, image: web:1}]
`

func createContent(t *testing.T, s *testenv.Server, ns string) {
	t.Helper()
	s.MustKubectl(t, "", "create", "namespace", ns)
	s.MustKubectl(t, content, "apply", "-n", ns, "-f", "-")
}

func TestKubectlDeleteNamespaceEmptiesAndRemovesIt(t *testing.T) {
	s := testenv.Start(t)
	createContent(t, s, "doomed")

	start := time.Now()
	out := s.MustKubectl(t, "", "delete", "namespace", "doomed", "--timeout=20s")
	if !strings.Contains(out, `namespace "doomed" deleted`) {
		t.Fatalf("kubectl delete ns: %s", out)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("kubectl delete ns took %v, want a few seconds at most", took)
	}
	if _, err := s.Client.CoreV1().Namespaces().Get(context.Background(), "doomed", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("namespace after delete: err = %v, want NotFound", err)
	}
	// Recreating it starts empty.
	s.MustKubectl(t, "", "create", "namespace", "doomed")
	if out := s.MustKubectl(t, "", "get", "configmaps,secrets,services,deployments,pods", "-n", "doomed", "-o", "name"); strings.Contains(out, "web") || strings.Contains(out, "cm1") {
		t.Fatalf("recreated namespace still holds old content:\n%s", out)
	}
	// Other namespaces are untouched.
	s.MustKubectl(t, "", "get", "service", "kubernetes", "-n", "default")
}

func TestKubectlWaitForNamespaceDelete(t *testing.T) {
	s := testenv.Start(t)
	createContent(t, s, "x")
	s.MustKubectl(t, "", "delete", "namespace", "x", "--wait=false")
	s.MustKubectl(t, "", "wait", "--for=delete", "namespace/x", "--timeout=10s")
	if _, err := s.Client.CoreV1().Namespaces().Get(context.Background(), "x", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("namespace after wait: err = %v, want NotFound", err)
	}
}

// An object with a finalizer holds the namespace in Terminating, with the
// conditions saying why, until the finalizer goes.
func TestNamespaceWaitsForFinalizedContent(t *testing.T) {
	s := testenv.Start(t)
	ctx := context.Background()
	c := s.Client
	s.MustKubectl(t, "", "create", "namespace", "held")
	if _, err := c.CoreV1().ConfigMaps("held").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
		Name: "held", Finalizers: []string{"example.com/hold"},
	}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.CoreV1().Namespaces().Delete(ctx, "held", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	ns := waitFor(t, c, "held", func(ns *corev1.Namespace) bool {
		return conditionTrue(ns, corev1.NamespaceContentRemaining) && conditionTrue(ns, corev1.NamespaceFinalizersRemaining)
	})
	if ns.Status.Phase != corev1.NamespaceTerminating {
		t.Errorf("phase = %q, want Terminating", ns.Status.Phase)
	}
	for _, cond := range ns.Status.Conditions {
		switch cond.Type {
		case corev1.NamespaceContentRemaining:
			if want := "Some resources are remaining: configmaps. has 1 resource instances"; cond.Message != want {
				t.Errorf("ContentRemaining message = %q, want %q", cond.Message, want)
			}
		case corev1.NamespaceFinalizersRemaining:
			if want := "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"; cond.Message != want {
				t.Errorf("FinalizersRemaining message = %q, want %q", cond.Message, want)
			}
		case corev1.NamespaceDeletionDiscoveryFailure, corev1.NamespaceDeletionContentFailure:
			if cond.Status != corev1.ConditionFalse {
				t.Errorf("condition %s = %s (%s), want False", cond.Type, cond.Status, cond.Message)
			}
		}
	}
	if !hasFinalizer(ns, corev1.FinalizerKubernetes) {
		t.Errorf("spec.finalizers = %v while content remains, want kubernetes kept", ns.Spec.Finalizers)
	}

	if _, err := c.CoreV1().ConfigMaps("held").Patch(ctx, "held", types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitGone(t, c, "held", 10*time.Second)
}

// A namespace that is not deleted keeps its content; one whose deletion
// is already finished (no kubernetes finalizer) is left to the server.
func TestLiveNamespaceIsLeftAlone(t *testing.T) {
	s := testenv.Start(t)
	createContent(t, s, "alive")
	s.MustKubectl(t, "", "label", "namespace", "alive", "touched=yes")
	out := s.MustKubectl(t, "", "get", "configmap", "cm1", "-n", "alive", "-o", "name")
	if strings.TrimSpace(out) != "configmap/cm1" {
		t.Fatalf("configmap in live namespace: %q", out)
	}
}

func conditionTrue(ns *corev1.Namespace, typ corev1.NamespaceConditionType) bool {
	for _, c := range ns.Status.Conditions {
		if c.Type == typ {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func hasFinalizer(ns *corev1.Namespace, f corev1.FinalizerName) bool {
	for _, x := range ns.Spec.Finalizers {
		if x == f {
			return true
		}
	}
	return false
}

func waitFor(t *testing.T, c kubernetes.Interface, name string, ok func(*corev1.Namespace) bool) *corev1.Namespace {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var last *corev1.Namespace
	for {
		ns, err := c.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			last = ns
			if ok(ns) {
				return ns
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("namespace %s never reached the expected state; last: %s", name, describe(last, err))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func waitGone(t *testing.T, c kubernetes.Interface, name string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ns, err := c.CoreV1().Namespaces().Get(context.Background(), name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("namespace %s still present after %v: %s", name, within, describe(ns, err))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func describe(ns *corev1.Namespace, err error) string {
	if ns == nil {
		return fmt.Sprintf("err=%v", err)
	}
	return fmt.Sprintf("phase=%s finalizers=%v conditions=%+v", ns.Status.Phase, ns.Spec.Finalizers, ns.Status.Conditions)
}
