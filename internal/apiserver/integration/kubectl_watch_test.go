package integration

import (
	"bufio"
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gureum/gureum/internal/testenv"
)

// TestKubectlWatchAndWait covers the commands that follow changes:
// kubectl get --watch and kubectl wait.
func TestKubectlWatchAndWait(t *testing.T) {
	t.Parallel()
	s := testenv.Start(t)
	ctx := context.Background()

	t.Run("GetWatch", func(t *testing.T) {
		ns := kubectlNamespace(t, s, "kubectl-watch")
		kubectl(t, s, "create", "configmap", "w0", "-n", ns)
		// Every namespace also holds kube-root-ca.crt, published by the
		// server as in Kubernetes; the watches leave it out.
		notCA := "--field-selector=metadata.name!=kube-root-ca.crt"
		plain := startWatch(t, s, "get", "configmaps", "-n", ns, "--watch", notCA)
		events := startWatch(t, s, "get", "configmaps", "-n", ns, "--watch", "--output-watch-events", notCA)
		// The initial list is printed first: once both show w0, both
		// watches follow from the list's resourceVersion.
		plain.next(t, "NAME", "DATA", "AGE")
		plain.next(t, "w0", "0")
		events.next(t, "EVENT", "NAME", "DATA", "AGE")
		events.next(t, "ADDED", "w0", "0")

		kubectl(t, s, "create", "configmap", "wc", "-n", ns, "--from-literal=a=1")
		kubectl(t, s, "patch", "configmap", "wc", "-n", ns, "-p", `{"data":{"b":"2"}}`)
		kubectl(t, s, "delete", "configmap", "wc", "-n", ns)

		plain.next(t, "wc", "1")
		plain.next(t, "wc", "2")
		plain.next(t, "wc", "2") // the deletion shows the last state
		events.next(t, "ADDED", "wc", "1")
		events.next(t, "MODIFIED", "wc", "2")
		events.next(t, "DELETED", "wc", "2")
		plain.stop(t)
		events.stop(t)
	})

	t.Run("WaitForDelete", func(t *testing.T) {
		ns := kubectlNamespace(t, s, "kubectl-wait-delete")
		cms := s.Client.CoreV1().ConfigMaps(ns)
		if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "held", Finalizers: []string{"example.com/hold"}}},
			metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		wantOutput(t, kubectl(t, s, "delete", "configmap", "held", "-n", ns, "--wait=false"), `configmap "held" deleted`)
		// The finalizer holds it: it is only marked for deletion.
		if ts := kubectl(t, s, "get", "configmap", "held", "-n", ns, "-o", "jsonpath={.metadata.deletionTimestamp}"); strings.TrimSpace(ts) == "" {
			t.Fatal("configmap held has no deletionTimestamp after kubectl delete")
		}

		const delay = time.Second
		released := make(chan error, 1)
		go func() {
			time.Sleep(delay)
			_, err := cms.Patch(ctx, "held", types.JSONPatchType, []byte(`[{"op":"remove","path":"/metadata/finalizers"}]`), metav1.PatchOptions{})
			released <- err
		}()
		start := time.Now()
		wantOutput(t, kubectl(t, s, "wait", "--for=delete", "configmap/held", "-n", ns, "--timeout=30s"), "configmap/held condition met")
		if took := time.Since(start); took < delay-100*time.Millisecond {
			t.Errorf("kubectl wait returned after %v, before the finalizer was removed", took)
		}
		if err := <-released; err != nil {
			t.Fatalf("remove finalizer: %v", err)
		}
		wantContains(t, kubectlFails(t, s, "get", "configmap", "held", "-n", ns), `configmaps "held" not found`)
	})

	t.Run("WaitForJSONPathAndCondition", func(t *testing.T) {
		ns := kubectlNamespace(t, s, "kubectl-wait-jsonpath")
		kubectl(t, s, "create", "configmap", "phase", "-n", ns, "--from-literal=phase=starting")
		go func() {
			time.Sleep(500 * time.Millisecond)
			_, _ = s.Client.CoreV1().ConfigMaps(ns).Patch(ctx, "phase", types.MergePatchType, []byte(`{"data":{"phase":"ready"}}`), metav1.PatchOptions{})
		}()
		wantOutput(t, kubectl(t, s, "wait", "--for=jsonpath={.data.phase}=ready", "configmap/phase", "-n", ns, "--timeout=30s"),
			"configmap/phase condition met")
		wantContains(t, kubectlFails(t, s, "wait", "--for=jsonpath={.data.phase}=never", "configmap/phase", "-n", ns, "--timeout=1s"),
			"timed out waiting for the condition on configmaps/phase")

		// The everyday form: wait for a Deployment to become Available
		// (its status is written here as the deployment controller would).
		kubectl(t, s, "create", "deployment", "web", "--image=nginx", "-n", ns)
		go func() {
			time.Sleep(500 * time.Millisecond)
			deps := s.Client.AppsV1().Deployments(ns)
			d, err := deps.Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return
			}
			d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 1, ReadyReplicas: 1, AvailableReplicas: 1, UpdatedReplicas: 1,
				Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable"}}}
			_, _ = deps.UpdateStatus(ctx, d, metav1.UpdateOptions{})
		}()
		wantOutput(t, kubectl(t, s, "wait", "--for=condition=Available", "deployment/web", "-n", ns, "--timeout=30s"),
			"deployment.apps/web condition met")
		tab := parseTable(t, kubectl(t, s, "get", "deployment", "web", "-n", ns))
		wantCells(t, tab.row(t, "web"), map[string]string{"READY": "1/1", "UP-TO-DATE": "1", "AVAILABLE": "1"})
	})
}

// kubectlWatch is a kubectl that keeps running and printing lines.
type kubectlWatch struct {
	cancel context.CancelFunc
	lines  chan string
	done   chan error
	stderr *bytes.Buffer
	args   []string
}

func startWatch(t *testing.T, s *testenv.Server, args ...string) *kubectlWatch {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), kubectlTimeout)
	cmd := kubectlCmd(ctx, t, s, nil, args...)
	w := &kubectlWatch{cancel: cancel, lines: make(chan string, 100), done: make(chan error, 1), stderr: &bytes.Buffer{}, args: args}
	cmd.Stderr = w.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			w.lines <- sc.Text()
		}
		close(w.lines)
		w.done <- cmd.Wait()
	}()
	t.Cleanup(cancel)
	return w
}

// next expects the next line's first fields to be want.
func (w *kubectlWatch) next(t *testing.T, want ...string) {
	t.Helper()
	select {
	case l, ok := <-w.lines:
		if !ok {
			t.Fatalf("kubectl %s ended before printing %q; stderr:\n%s", strings.Join(w.args, " "), want, w.stderr)
		}
		f := strings.Fields(l)
		if len(f) < len(want) || strings.Join(f[:len(want)], " ") != strings.Join(want, " ") {
			t.Fatalf("kubectl %s printed %q, want it to start with %q", strings.Join(w.args, " "), l, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("kubectl %s printed no line %q within 10s; stderr:\n%s", strings.Join(w.args, " "), want, w.stderr)
	}
}

// stop ends the watch and checks it printed nothing more.
func (w *kubectlWatch) stop(t *testing.T) {
	t.Helper()
	w.cancel()
	for l := range w.lines {
		t.Errorf("kubectl %s printed an unexpected line %q", strings.Join(w.args, " "), l)
	}
	<-w.done
}
