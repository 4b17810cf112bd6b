package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The health endpoints answer without credentials; everything else needs
// them.
func TestHealthEndpointsAreOpenAndTheAPIIsNot(t *testing.T) {
	s := startServer(t, serverOpts{})
	c := s.httpClient()
	for _, path := range []string{"/readyz", "/livez", "/healthz"} {
		code, body, err := get(c, s.url(path))
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		if code != http.StatusOK || body != "ok" {
			t.Errorf("GET %s = %d %q, want 200 \"ok\"", path, code, body)
		}
	}
	code, body, err := get(c, s.url("/api/v1/pods"))
	if err != nil {
		t.Fatalf("GET /api/v1/pods: %v", err)
	}
	if code != http.StatusUnauthorized {
		t.Errorf("GET /api/v1/pods without credentials = %d %s, want 401", code, body)
	}
	if !strings.Contains(body, `"kind":"Status"`) {
		t.Errorf("401 body is not a metav1.Status: %s", body)
	}
}

// kubectl works with the written kubeconfig and finds what a fresh
// cluster holds; --write-kubeconfig writes a working copy elsewhere.
func TestKubectlSeesTheBootstrappedCluster(t *testing.T) {
	extra := filepath.Join(t.TempDir(), "nested", "admin.yaml")
	s := startServer(t, serverOpts{Extra: []string{"--write-kubeconfig", extra}})

	for _, kc := range []string{s.Kubeconfig, extra} {
		out := mustKubectl(t, kc, "get", "namespaces", "-o", "name")
		for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
			if !strings.Contains(out, "namespace/"+ns+"\n") {
				t.Errorf("kubectl get ns with %s lacks %s:\n%s", kc, ns, out)
			}
		}
	}
	if fi, err := os.Stat(extra); err != nil {
		t.Fatalf("--write-kubeconfig: %v", err)
	} else if fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("--write-kubeconfig wrote %s with mode %v; admin credentials must not be readable by others", extra, fi.Mode().Perm())
	}

	out := mustKubectl(t, s.Kubeconfig, "get", "service", "kubernetes", "-n", "default", "-o", "jsonpath={.spec.ports[0].port} {.spec.clusterIP}")
	if !strings.HasPrefix(out, "443 10.") {
		t.Errorf("kubernetes Service = %q, want port 443 and a ClusterIP", out)
	}

	// Every namespace has its default ServiceAccount, a new one within a
	// few seconds.
	mustKubectl(t, s.Kubeconfig, "create", "namespace", "e2e-fresh")
	eventually(t, 5*time.Second, "every namespace has a default ServiceAccount", func() error {
		nss, err := kubectl(t, s.Kubeconfig, "get", "namespaces", "-o", "jsonpath={.items[*].metadata.name}")
		if err != nil {
			return fmt.Errorf("list namespaces: %v: %s", err, nss)
		}
		sas, err := kubectl(t, s.Kubeconfig, "get", "serviceaccounts", "-A", "--field-selector", "metadata.name=default", "-o", "jsonpath={.items[*].metadata.namespace}")
		if err != nil {
			return fmt.Errorf("list service accounts: %v: %s", err, sas)
		}
		have := strings.Fields(sas)
		var missing []string
		for _, ns := range strings.Fields(nss) {
			if !slices.Contains(have, ns) {
				missing = append(missing, ns)
			}
		}
		if !slices.Contains(strings.Fields(nss), "e2e-fresh") {
			return fmt.Errorf("namespace e2e-fresh not listed: %s", nss)
		}
		if len(missing) > 0 {
			return fmt.Errorf("no default ServiceAccount in %v", missing)
		}
		return nil
	})

	// Deleting a namespace with content completes.
	mustKubectl(t, s.Kubeconfig, "create", "configmap", "c", "-n", "e2e-fresh", "--from-literal=a=b")
	mustKubectl(t, s.Kubeconfig, "delete", "namespace", "e2e-fresh", "--timeout=15s")
	if out, err := kubectl(t, s.Kubeconfig, "get", "namespace", "e2e-fresh"); err == nil || !strings.Contains(out, "NotFound") {
		t.Errorf("namespace e2e-fresh after delete: %v %s", err, out)
	}
}

// Objects, their resourceVersions and the CA survive a restart on the same
// data dir; SIGTERM stops the server cleanly and quickly.
func TestRestartKeepsStateAndCA(t *testing.T) {
	s := startServer(t, serverOpts{})
	mustKubectl(t, s.Kubeconfig, "create", "configmap", "survivor", "-n", "default", "--from-literal=k=v")
	before := mustKubectl(t, s.Kubeconfig, "get", "configmap", "survivor", "-n", "default", "-o", "jsonpath={.metadata.uid} {.metadata.resourceVersion} {.data.k}")
	oldKubeconfig := filepath.Join(t.TempDir(), "old-kubeconfig.yaml")
	copyFile(t, s.Kubeconfig, oldKubeconfig)
	caPath := filepath.Join(s.DataDir, "tls", "ca.crt")
	caBefore := readFile(t, caPath)

	code, took := s.terminate()
	if code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0", code)
	}
	if took > 5*time.Second {
		t.Errorf("SIGTERM took %v to stop the server, want under 5s", took)
	}

	s2 := startServer(t, serverOpts{DataDir: s.DataDir, Ports: &s.Ports})
	if !bytes.Equal(readFile(t, caPath), caBefore) {
		t.Errorf("the CA at %s changed across a restart", caPath)
	}
	// The kubeconfig written before the restart still works: same CA, same
	// address.
	after := mustKubectl(t, oldKubeconfig, "get", "configmap", "survivor", "-n", "default", "-o", "jsonpath={.metadata.uid} {.metadata.resourceVersion} {.data.k}")
	if after != before {
		t.Errorf("configmap after restart = %q, want %q (uid, resourceVersion, data)", after, before)
	}
	mustKubectl(t, s2.Kubeconfig, "get", "configmap", "survivor", "-n", "default")

	code, took = s2.terminate()
	if code != 0 || took > 5*time.Second {
		t.Errorf("second SIGTERM: exit code %d after %v, want 0 within 5s", code, took)
	}
}

// A second server on ports already in use fails at once and says why.
func TestSecondServerOnSamePortsFailsClearly(t *testing.T) {
	first := startServer(t, serverOpts{})
	second := launchServer(t, serverOpts{Ports: &first.Ports})
	code := second.exitCode(15 * time.Second)
	if code == 0 {
		t.Fatalf("second server on the same ports exited 0, want a failure")
	}
	msg := second.stderr.String()
	for _, want := range []string{"address already in use", fmt.Sprint(first.Ports.HTTPS), "--https-port"} {
		if !strings.Contains(msg, want) {
			t.Errorf("second server's error lacks %q:\n%s", want, tail(msg, 2000))
		}
	}
	// The first one is unharmed.
	if code, body, err := get(first.httpClient(), first.url("/readyz")); err != nil || code != http.StatusOK || body != "ok" {
		t.Errorf("first server after the clash: /readyz = %d %q %v", code, body, err)
	}
}

// `gureum up` takes the server's flags, prints the kubeconfig path and the
// next steps, and that kubeconfig works.
func TestUpPrintsKubeconfigAndNextSteps(t *testing.T) {
	s := launchServer(t, serverOpts{Command: "up"})
	out := waitForOutput(t, s.stdout, s.exited, "Stop it with", 30*time.Second)
	for _, want := range []string{
		"Kubeconfig: " + s.Kubeconfig,
		"export KUBECONFIG=" + s.Kubeconfig,
		"kubectl get namespaces",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("gureum up output lacks %q:\n%s", want, out)
		}
	}
	mustKubectl(t, s.Kubeconfig, "get", "namespace", "default")
	if code, took := s.terminate(); code != 0 || took > 5*time.Second {
		t.Errorf("gureum up after SIGTERM: exit code %d after %v, want 0 within 5s", code, took)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	if err := os.WriteFile(to, readFile(t, from), 0o600); err != nil {
		t.Fatal(err)
	}
}
