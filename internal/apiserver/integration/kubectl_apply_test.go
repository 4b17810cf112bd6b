package integration

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gureum/gureum/internal/testenv"
)

// TestKubectlApply covers the ways users write objects declaratively:
// client-side apply (a three-way strategic merge patch), server-side apply
// with field managers, kubectl diff, server dry-run and kubectl edit.
func TestKubectlApply(t *testing.T) {
	t.Parallel()
	s := testenv.Start(t)

	t.Run("ClientSideApplyUsesStrategicMergePatch", func(t *testing.T) {
		ns := kubectlNamespace(t, s, "kubectl-apply")
		two, one := testdataFile(t, "deployment-two-containers.yaml"), testdataFile(t, "deployment-one-container.yaml")
		wantOutput(t, kubectl(t, s, "apply", "-n", ns, "-f", two), "deployment.apps/web created")
		wantOutput(t, kubectl(t, s, "apply", "-n", ns, "-f", two), "deployment.apps/web unchanged")
		containers := func() string {
			return kubectl(t, s, "get", "deployment", "web", "-n", ns, "-o", "jsonpath={.spec.template.spec.containers[*].name}")
		}
		wantOutput(t, containers(), "nginx sidecar")

		// Removing a container from the file removes it from the object:
		// kubectl computes a strategic merge patch from the
		// last-applied-configuration annotation, with a $patch: delete
		// directive for the container that disappeared.
		out := kubectl(t, s, "apply", "-n", ns, "-f", one, "-v=8")
		wantContains(t, out,
			`"Request" verb="PATCH"`,
			"/apis/apps/v1/namespaces/"+ns+"/deployments/web?fieldManager=kubectl-client-side-apply",
			"Content-Type: application/strategic-merge-patch+json",
			`\"$patch\":\"delete\"`,
			"deployment.apps/web configured")
		wantOutput(t, containers(), "nginx")
		ann := kubectl(t, s, "get", "deployment", "web", "-n", ns, "-o",
			`jsonpath={.metadata.annotations.kubectl\.kubernetes\.io/last-applied-configuration}`)
		wantContains(t, ann, `"kind":"Deployment"`)
		wantNotContains(t, ann, "sidecar")

		// Putting it back is another configured apply.
		wantOutput(t, kubectl(t, s, "apply", "-n", ns, "-f", two), "deployment.apps/web configured")
		wantOutput(t, containers(), "nginx sidecar")
	})

	t.Run("ClientSideApplyOfGureumKindUsesMergePatch", func(t *testing.T) {
		// networking.gureum.io kinds take no strategic merge patch, like
		// custom resources; the OpenAPI document tells kubectl so, and it
		// falls back to a JSON merge patch.
		vpc := testdataFile(t, "vpc.yaml")
		wantOutput(t, kubectl(t, s, "apply", "-f", vpc), "vpc.networking.gureum.io/kubectl-team-a created")
		wantOutput(t, kubectl(t, s, "apply", "-f", vpc), "vpc.networking.gureum.io/kubectl-team-a unchanged")
		data, err := os.ReadFile(vpc)
		if err != nil {
			t.Fatal(err)
		}
		changed := strings.Replace(string(data), "team: a", "team: b", 1)
		out := kubectlIn(t, s, changed, "apply", "-f", "-", "-v=8")
		wantContains(t, out, "Content-Type: application/merge-patch+json", "vpc.networking.gureum.io/kubectl-team-a configured")
		wantNotContains(t, out, "strategic-merge-patch")
		wantOutput(t, kubectl(t, s, "get", "vpc", "kubectl-team-a", "-o", "jsonpath={.spec.namespaceSelector.matchLabels.team} {.metadata.generation}"), "b 2")
		// kubectl patch defaults to a strategic merge patch, which a
		// Gureum kind refuses, with a hint.
		wantContains(t, kubectlFails(t, s, "patch", "vpc", "kubectl-team-a", "-p", `{"spec":{"enableNATGateway":true}}`),
			"strategic merge patch is not supported for vpcs.networking.gureum.io; use a merge patch (--type=merge)")
		wantOutput(t, kubectl(t, s, "patch", "vpc", "kubectl-team-a", "--type=merge", "-p", `{"spec":{"enableNATGateway":true}}`),
			"vpc.networking.gureum.io/kubectl-team-a patched")
	})

	t.Run("ServerSideApply", func(t *testing.T) {
		ns := kubectlNamespace(t, s, "kubectl-ssa")
		data, err := os.ReadFile(testdataFile(t, "configmap-ssa.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		manifest := string(data)
		wantOutput(t, kubectlIn(t, s, manifest, "apply", "--server-side", "-n", ns, "-f", "-"), "configmap/settings serverside-applied")
		blue := strings.Replace(manifest, "red", "blue", 1)
		wantOutput(t, kubectlIn(t, s, blue, "apply", "--server-side", "-n", ns, "-f", "-"), "configmap/settings serverside-applied")
		wantOutput(t, kubectl(t, s, "get", "cm", "settings", "-n", ns, "-o", "jsonpath={.data.color}"), "blue")

		// Another manager that sets the same field differently conflicts.
		green := strings.Replace(manifest, "red", "green", 1)
		out, err := s.Kubectl(t, green, "apply", "--server-side", "--field-manager=other", "-n", ns, "-f", "-")
		if err == nil {
			t.Fatalf("conflicting apply succeeded:\n%s", out)
		}
		wantContains(t, out, `Apply failed with 1 conflict: conflict with "kubectl": .data.color`, "--force-conflicts")
		wantOutput(t, kubectl(t, s, "get", "cm", "settings", "-n", ns, "-o", "jsonpath={.data.color}"), "blue")

		wantOutput(t, kubectlIn(t, s, green, "apply", "--server-side", "--field-manager=other", "--force-conflicts", "-n", ns, "-f", "-"),
			"configmap/settings serverside-applied")
		cm := getConfigMapJSON(t, s, ns, "settings")
		if cm.Data["color"] != "green" || cm.Data["size"] != "L" {
			t.Errorf("data after forced apply = %v", cm.Data)
		}
		owners := map[string]string{}
		for _, mf := range cm.ManagedFields {
			owners[mf.Manager] = string(mf.Operation)
			raw := string(mf.FieldsV1.Raw)
			switch mf.Manager {
			case "other":
				if !strings.Contains(raw, `"f:color"`) {
					t.Errorf("manager other does not own data.color after --force-conflicts: %s", raw)
				}
			case "kubectl":
				if strings.Contains(raw, `"f:color"`) || !strings.Contains(raw, `"f:size"`) {
					t.Errorf("manager kubectl should keep data.size and lose data.color: %s", raw)
				}
			}
		}
		if len(owners) != 2 || owners["kubectl"] != "Apply" || owners["other"] != "Apply" {
			t.Errorf("managedFields managers = %v, want kubectl and other, both Apply", owners)
		}
		// managedFields are hidden unless asked for.
		wantNotContains(t, kubectl(t, s, "get", "cm", "settings", "-n", ns, "-o", "yaml"), "managedFields")
		wantContains(t, kubectl(t, s, "get", "cm", "settings", "-n", ns, "-o", "yaml", "--show-managed-fields"),
			"managedFields:", "manager: other", "operation: Apply")
	})

	t.Run("Diff", func(t *testing.T) {
		ns := kubectlNamespace(t, s, "kubectl-diff")
		manifest := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dc\ndata:\n  a: \"1\"\n"
		// kubectl diff runs a server-side dry-run apply and exits 1 when
		// something would change.
		out, code := kubectlExitCode(t, s, manifest, "diff", "-n", ns, "-f", "-")
		if code != 1 {
			t.Fatalf("diff of a new object exited %d, want 1:\n%s", code, out)
		}
		wantContains(t, out, "+  name: dc", `+  a: "1"`)
		if _, err := s.Client.CoreV1().ConfigMaps(ns).Get(context.Background(), "dc", metav1.GetOptions{}); err == nil {
			t.Fatal("kubectl diff created the object")
		}
		kubectlIn(t, s, manifest, "apply", "-n", ns, "-f", "-")
		out, code = kubectlExitCode(t, s, manifest, "diff", "-n", ns, "-f", "-")
		if code != 0 || strings.TrimSpace(out) != "" {
			t.Fatalf("diff against the applied object exited %d, want 0 and no output:\n%s", code, out)
		}
		changed := strings.Replace(manifest, `"1"`, `"2"`, 1)
		out, code = kubectlExitCode(t, s, changed, "diff", "-n", ns, "-f", "-")
		if code != 1 {
			t.Fatalf("diff of a change exited %d, want 1:\n%s", code, out)
		}
		wantContains(t, out, `-  a: "1"`, `+  a: "2"`)
		// A ConfigMap has no generation, so nothing else changes.
		wantNotContains(t, out, "generation")
		out, code = kubectlExitCode(t, s, changed, "diff", "--server-side", "-n", ns, "-f", "-")
		if code != 1 {
			t.Fatalf("server-side diff exited %d, want 1:\n%s", code, out)
		}
		wantContains(t, out, `-  a: "1"`, `+  a: "2"`)
		wantOutput(t, kubectl(t, s, "get", "cm", "dc", "-n", ns, "-o", "jsonpath={.data.a}"), "1")
	})

	t.Run("RunWithServerDryRun", func(t *testing.T) {
		ns := kubectlNamespace(t, s, "kubectl-run")
		wantOutput(t, kubectl(t, s, "run", "r1", "--image=nginx", "-n", ns, "--dry-run=server"), "pod/r1 created (server dry run)")
		// The server's answer carries its defaults.
		out := kubectl(t, s, "run", "r1", "--image=nginx", "-n", ns, "--dry-run=server", "-o", "yaml")
		wantContains(t, out, "name: r1", "run: r1", "terminationMessagePolicy: File", "dnsPolicy: ClusterFirst", "phase: Pending")
		wantContains(t, kubectlFails(t, s, "get", "pod", "r1", "-n", ns), `pods "r1" not found`)
		wantOutput(t, kubectl(t, s, "run", "r2", "--image=nginx", "-n", ns, "--labels=app=r2"), "pod/r2 created")
		wantOutput(t, kubectl(t, s, "get", "pod", "r2", "-n", ns, "-o", "jsonpath={.metadata.labels.app} {.spec.containers[0].image}"), "r2 nginx")
	})

	t.Run("EditWithKubeEditor", func(t *testing.T) {
		ns := kubectlNamespace(t, s, "kubectl-edit")
		kubectl(t, s, "create", "deployment", "ed", "--image=nginx:1.25", "-n", ns)
		dir := t.TempDir()
		editor := filepath.Join(dir, "editor.sh")
		script := "#!/bin/sh\nsed -i -e 's/image: nginx:1.25/image: nginx:1.27/' -e 's/replicas: 1/replicas: 3/' \"$1\"\n"
		if err := os.WriteFile(editor, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		out, err := kubectlEnv(t, s, []string{"KUBE_EDITOR=" + editor}, "edit", "deployment", "ed", "-n", ns)
		if err != nil {
			t.Fatalf("kubectl edit: %v\n%s", err, out)
		}
		wantOutput(t, out, "deployment.apps/ed edited")
		wantOutput(t, kubectl(t, s, "get", "deployment", "ed", "-n", ns, "-o", "jsonpath={.spec.template.spec.containers[0].image} {.spec.replicas} {.metadata.generation}"),
			"nginx:1.27 3 2")
		// An editor that changes nothing cancels the edit.
		out, err = kubectlEnv(t, s, []string{"KUBE_EDITOR=true"}, "edit", "deployment", "ed", "-n", ns)
		if err != nil {
			t.Fatalf("kubectl edit: %v\n%s", err, out)
		}
		wantOutput(t, out, "Edit cancelled, no changes made.")
	})
}

func getConfigMapJSON(t *testing.T, s *testenv.Server, ns, name string) *corev1.ConfigMap {
	t.Helper()
	out := kubectl(t, s, "get", "configmap", name, "-n", ns, "-o", "json", "--show-managed-fields")
	cm := &corev1.ConfigMap{}
	if err := json.Unmarshal([]byte(out), cm); err != nil {
		t.Fatalf("decode kubectl -o json: %v\n%s", err, out)
	}
	return cm
}
