package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestInClusterClient runs client-go's in-cluster configuration in a pod:
// the agent gives it KUBERNETES_SERVICE_HOST/PORT and service links, the
// API server's admission mounts the service account volume, the agent
// fills it with a pod-bound token from the TokenRequest API, and the pod
// reaches the API server at the kubernetes Service's ClusterIP with TLS
// verified against the mounted CA.
func TestInClusterClient(t *testing.T) {
	// Pods reach the API server at a host address, not loopback.
	n := startNodeWith(t, serverOpts{BindAddress: "0.0.0.0"})
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-ldflags=-s -w", "-o", filepath.Join(root, "bin", "incluster"), "./testdata/incluster")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the in-cluster client: %v\n%s", err, out)
	}
	if out, err := exec.Command(gureumBin, "image", "build", "--rootfs", root, "--tag", "e2e-incluster:1",
		"--entrypoint", "/bin/incluster", "--kubeconfig", n.Kubeconfig).CombinedOutput(); err != nil {
		t.Fatalf("gureum image build: %v\n%s", err, out)
	}
	n.apply(t, `apiVersion: v1
kind: Service
metadata: {name: e2e-links}
spec:
  ports: [{port: 80}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: default-view}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{kind: ServiceAccount, name: default, namespace: default}]
---
apiVersion: v1
kind: Pod
metadata: {name: incluster}
spec:
  restartPolicy: Never
  containers: [{name: client, image: e2e-incluster:1}]
---
apiVersion: v1
kind: Pod
metadata: {name: no-token}
spec:
  restartPolicy: Never
  automountServiceAccountToken: false
  enableServiceLinks: false
  containers: [{name: client, image: e2e-incluster:1}]
`)
	phase := func(pod string) string {
		out, _ := kubectl(t, n.Kubeconfig, "get", "pod", pod, "-o", "jsonpath={.status.phase}")
		return out
	}
	eventually(t, 90*time.Second, "both pods to finish", func() error {
		for _, p := range []string{"incluster", "no-token"} {
			if ph := phase(p); ph != "Succeeded" && ph != "Failed" {
				return fmt.Errorf("pod %s is %q", p, ph)
			}
		}
		return nil
	})
	logs := n.kubectl(t, "logs", "incluster")
	if phase("incluster") != "Succeeded" {
		t.Fatalf("the in-cluster client failed:\n%s\n%s", logs, n.kubectl(t, "describe", "pod", "incluster"))
	}
	for _, want := range []string{"host=https://10.43.0.1:443", "user=system:serviceaccount:default:default", "pod=incluster",
		"KUBERNETES_SERVICE_HOST", "E2E_LINKS_SERVICE_HOST"} {
		if !strings.Contains(logs, want) {
			t.Errorf("in-cluster client output lacks %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "pods=0") {
		t.Errorf("the client listed no pods in its namespace:\n%s", logs)
	}
	// Without the volume there is nothing to authenticate with.
	if phase("no-token") != "Failed" {
		t.Errorf("a pod without automounted credentials is %s", phase("no-token"))
	}
	out := n.kubectl(t, "logs", "no-token")
	if !strings.Contains(out, "serviceaccount/token: no such file or directory") {
		t.Errorf("pod without credentials says:\n%s", out)
	}
}
