package integration

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gureum/gureum/internal/testenv"
)

// TestKubectlModify covers the imperative commands that change objects:
// label, annotate, patch (all three types), set image, scale and delete.
func TestKubectlModify(t *testing.T) {
	t.Parallel()
	s := testenv.Start(t)

	t.Run("LabelAndAnnotate", func(t *testing.T) {
		ns := kubectlNamespace(t, s, "kubectl-label")
		kubectl(t, s, "create", "configmap", "c", "-n", ns)
		labels := func() string {
			return kubectl(t, s, "get", "configmap", "c", "-n", ns, "-o", "jsonpath={.metadata.labels}")
		}
		wantOutput(t, kubectl(t, s, "label", "configmap", "c", "-n", ns, "env=prod", "team=a"), "configmap/c labeled")
		wantOutput(t, labels(), `{"env":"prod","team":"a"}`)
		wantContains(t, kubectlFails(t, s, "label", "configmap", "c", "-n", ns, "env=dev"),
			"'env' already has a value (prod), and --overwrite is false")
		wantOutput(t, kubectl(t, s, "label", "configmap", "c", "-n", ns, "env=dev", "--overwrite"), "configmap/c labeled")
		wantOutput(t, kubectl(t, s, "label", "configmap", "c", "-n", ns, "env-"), "configmap/c unlabeled")
		wantOutput(t, labels(), `{"team":"a"}`)
		wantOutput(t, kubectl(t, s, "label", "configmap", "c", "-n", ns, "team=a"), "configmap/c not labeled")

		annotation := func() string {
			return kubectl(t, s, "get", "configmap", "c", "-n", ns, "-o", "jsonpath={.metadata.annotations.note}")
		}
		wantOutput(t, kubectl(t, s, "annotate", "configmap", "c", "-n", ns, "note=first"), "configmap/c annotated")
		wantContains(t, kubectlFails(t, s, "annotate", "configmap", "c", "-n", ns, "note=second"),
			"--overwrite is false but found the following declared annotation(s): 'note' already has a value (first)")
		wantOutput(t, annotation(), "first")
		wantOutput(t, kubectl(t, s, "annotate", "configmap", "c", "-n", ns, "note=second", "--overwrite"), "configmap/c annotated")
		wantOutput(t, annotation(), "second")
		wantOutput(t, kubectl(t, s, "annotate", "configmap", "c", "-n", ns, "note-"), "configmap/c annotated")
		wantOutput(t, kubectl(t, s, "get", "configmap", "c", "-n", ns, "-o", "jsonpath={.metadata.annotations}"), "")

		// Labelling by selector touches every match.
		kubectl(t, s, "create", "configmap", "d", "-n", ns)
		// --all includes the kube-root-ca.crt ConfigMap every namespace has.
		wantOutput(t, kubectl(t, s, "label", "configmap", "--all", "-n", ns, "batch=1"), "configmap/c labeled\nconfigmap/d labeled\nconfigmap/kube-root-ca.crt labeled")
		wantOutput(t, kubectl(t, s, "get", "configmap", "-n", ns, "-l", "batch=1", "-o", "name"), "configmap/c\nconfigmap/d\nconfigmap/kube-root-ca.crt")
	})

	t.Run("PatchTypes", func(t *testing.T) {
		ns := kubectlNamespace(t, s, "kubectl-patch")
		kubectl(t, s, "create", "deployment", "web", "--image=nginx:1.25", "-n", ns)
		get := func(path string) string {
			return kubectl(t, s, "get", "deployment", "web", "-n", ns, "-o", "jsonpath="+path)
		}
		// Strategic merge (kubectl's default): containers merge by name.
		wantOutput(t, kubectl(t, s, "patch", "deployment", "web", "-n", ns, "--type=strategic",
			"-p", `{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"busybox:1.36"}]}}}}`), "deployment.apps/web patched")
		wantOutput(t, get("{.spec.template.spec.containers[*].name}"), "sidecar nginx")
		wantOutput(t, kubectl(t, s, "patch", "deployment", "web", "-n", ns,
			"-p", `{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","$patch":"delete"}]}}}}`), "deployment.apps/web patched")
		wantOutput(t, get("{.spec.template.spec.containers[*].name}"), "nginx")
		// JSON merge patch: lists are replaced, null removes.
		wantOutput(t, kubectl(t, s, "patch", "deployment", "web", "-n", ns, "--type=merge",
			"-p", `{"metadata":{"labels":{"tier":"fe"}},"spec":{"replicas":3}}`), "deployment.apps/web patched")
		wantOutput(t, get("{.spec.replicas} {.metadata.labels.tier}"), "3 fe")
		wantOutput(t, kubectl(t, s, "patch", "deployment", "web", "-n", ns, "--type=merge",
			"-p", `{"metadata":{"labels":{"tier":null}}}`), "deployment.apps/web patched")
		wantOutput(t, get("{.metadata.labels}"), `{"app":"web"}`)
		// JSON patch: operations, including a failing test.
		wantOutput(t, kubectl(t, s, "patch", "deployment", "web", "-n", ns, "--type=json",
			"-p", `[{"op":"replace","path":"/spec/replicas","value":5},{"op":"add","path":"/spec/template/spec/containers/0/args","value":["-g","daemon off;"]}]`),
			"deployment.apps/web patched")
		wantOutput(t, get("{.spec.replicas} {.spec.template.spec.containers[0].args}"), `5 ["-g","daemon off;"]`)
		wantContains(t, kubectlFails(t, s, "patch", "deployment", "web", "-n", ns, "--type=json",
			"-p", `[{"op":"test","path":"/spec/replicas","value":4},{"op":"replace","path":"/spec/replicas","value":1}]`),
			"is invalid")
		wantOutput(t, get("{.spec.replicas}"), "5")
		// A patch that changes nothing says so.
		wantOutput(t, kubectl(t, s, "patch", "deployment", "web", "-n", ns, "-p", `{"spec":{"replicas":5}}`), "deployment.apps/web patched (no change)")
		// Invalid results are refused with the field.
		wantContains(t, kubectlFails(t, s, "patch", "deployment", "web", "-n", ns, "--type=merge", "-p", `{"spec":{"replicas":-1}}`),
			`The Deployment "web" is invalid`, "spec.replicas: Invalid value: -1")
		// set image is a strategic merge patch too.
		wantOutput(t, kubectl(t, s, "set", "image", "deployment/web", "nginx=nginx:1.27", "-n", ns), "deployment.apps/web image updated")
		wantOutput(t, get("{.spec.template.spec.containers[0].image}"), "nginx:1.27")
	})

	t.Run("Scale", func(t *testing.T) {
		ns := kubectlNamespace(t, s, "kubectl-scale")
		kubectl(t, s, "create", "deployment", "web", "--image=nginx", "--replicas=2", "-n", ns)
		wantOutput(t, kubectl(t, s, "scale", "deployment", "web", "-n", ns, "--replicas=4"), "deployment.apps/web scaled")
		wantOutput(t, kubectl(t, s, "get", "deployment", "web", "-n", ns, "-o", "jsonpath={.spec.replicas}"), "4")
		// --current-replicas is a precondition.
		wantContains(t, kubectlFails(t, s, "scale", "deployment", "web", "-n", ns, "--current-replicas=7", "--replicas=1"),
			"Expected replicas to be 7, was 4")
		wantOutput(t, kubectl(t, s, "get", "deployment", "web", "-n", ns, "-o", "jsonpath={.spec.replicas}"), "4")
		wantOutput(t, kubectl(t, s, "scale", "deployment/web", "-n", ns, "--current-replicas=4", "--replicas=1"), "deployment.apps/web scaled")
		wantOutput(t, kubectl(t, s, "get", "deployment", "web", "-n", ns, "-o", "jsonpath={.spec.replicas}"), "1")

		rs := `apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: rs1
spec:
  replicas: 1
  selector: {matchLabels: {app: rs1}}
  template:
    metadata: {labels: {app: rs1}}
    spec: {containers: [{name: c, image: nginx}]}
`
		kubectlIn(t, s, rs, "apply", "-n", ns, "-f", "-")
		wantOutput(t, kubectl(t, s, "scale", "replicaset", "rs1", "-n", ns, "--replicas=3"), "replicaset.apps/rs1 scaled")
		tab := parseTable(t, kubectl(t, s, "get", "rs", "-n", ns))
		tab.wantHeader(t, "NAME", "DESIRED", "CURRENT", "READY", "AGE")
		wantCells(t, tab.row(t, "rs1"), map[string]string{"DESIRED": "3", "CURRENT": "0", "READY": "0"})
		wantContains(t, kubectlFails(t, s, "scale", "rs", "rs1", "-n", ns, "--current-replicas=1", "--replicas=2"),
			"Expected replicas to be 1, was 3")
		// Several at once, by selector.
		wantOutput(t, kubectl(t, s, "scale", "deployment,replicaset", "--all", "-n", ns, "--replicas=0"),
			"deployment.apps/web scaled\nreplicaset.apps/rs1 scaled")
	})

	t.Run("Delete", func(t *testing.T) {
		ns := kubectlNamespace(t, s, "kubectl-delete")
		for _, n := range []string{"a", "b", "c", "d", "e"} {
			kubectl(t, s, "create", "configmap", n, "-n", ns)
		}
		kubectl(t, s, "label", "configmap", "b", "c", "-n", ns, "group=x")
		wantOutput(t, kubectl(t, s, "delete", "configmap", "a", "-n", ns), `configmap "a" deleted`)
		wantOutput(t, kubectl(t, s, "delete", "configmap", "-l", "group=x", "-n", ns), "configmap \"b\" deleted\nconfigmap \"c\" deleted")
		wantOutput(t, kubectl(t, s, "get", "configmap", "-n", ns, "-o", "name", "--field-selector=metadata.name!=kube-root-ca.crt"), "configmap/d\nconfigmap/e")
		wantContains(t, kubectlFails(t, s, "delete", "configmap", "a", "-n", ns), `Error from server (NotFound): configmaps "a" not found`)
		wantOutput(t, kubectl(t, s, "delete", "configmap", "a", "-n", ns, "--ignore-not-found"), "")
		wantOutput(t, kubectl(t, s, "delete", "configmap", "-n", ns, "--field-selector=metadata.name!=kube-root-ca.crt"), "configmap \"d\" deleted\nconfigmap \"e\" deleted")
		wantOutput(t, kubectl(t, s, "get", "configmap", "-n", ns, "--field-selector=metadata.name!=kube-root-ca.crt"), "No resources found in kubectl-delete namespace.")
		wantOutput(t, kubectl(t, s, "delete", "configmap", "x", "-n", ns, "--dry-run=server", "--ignore-not-found"), "")

		// --cascade=orphan and --cascade=foreground are accepted: the
		// server marks the object with the orphan / foregroundDeletion
		// finalizer and a deletionTimestamp, and the garbage collector
		// finishes the job. The test server runs no garbage collector, so
		// the object stays until its finalizer is removed; kubectl delete
		// waits for the object to go away by default, which is why these
		// run with --wait=false.
		ctx := context.Background()
		deps := s.Client.AppsV1().Deployments(ns)
		for _, c := range []struct{ cascade, finalizer string }{{"orphan", "orphan"}, {"foreground", "foregroundDeletion"}} {
			name := "d-" + c.cascade
			kubectl(t, s, "create", "deployment", name, "--image=nginx", "-n", ns)
			wantOutput(t, kubectl(t, s, "delete", "deployment", name, "-n", ns, "--cascade="+c.cascade, "--wait=false"),
				`deployment.apps "`+name+`" deleted`)
			d, err := deps.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if d.DeletionTimestamp == nil || strings.Join(d.Finalizers, ",") != c.finalizer {
				t.Errorf("--cascade=%s left deletionTimestamp %v and finalizers %v, want %s", c.cascade, d.DeletionTimestamp, d.Finalizers, c.finalizer)
			}
			// What the garbage collector would do: drop the finalizer, and
			// the object is gone.
			if _, err := deps.Patch(ctx, name, types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
				t.Fatal(err)
			}
			wantContains(t, kubectlFails(t, s, "get", "deployment", name, "-n", ns), `deployments.apps "`+name+`" not found`)
		}
		// Background (the default) needs no finalizer.
		kubectl(t, s, "create", "deployment", "d-bg", "--image=nginx", "-n", ns)
		wantOutput(t, kubectl(t, s, "delete", "deployment", "d-bg", "-n", ns, "--cascade=background"), `deployment.apps "d-bg" deleted`)
		wantOutput(t, kubectl(t, s, "get", "deployments", "-n", ns), "No resources found in kubectl-delete namespace.")
	})
}
