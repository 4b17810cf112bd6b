// Package e2e is the end-to-end tier: it builds the real gureum binary,
// runs it as a subprocess on free ports in a temporary data directory, and
// drives it with plain HTTPS and the real kubectl, as a user would. Tests
// that need root (containerd, CNI, network namespaces) say so with
// requireRoot and fail loudly without it.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// gureumBin is the binary TestMain built for this run.
var gureumBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "gureum-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: create temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	gureumBin, err = buildGureum(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	return m.Run()
}

// buildGureum builds ./cmd/gureum from the module root into dir, or uses
// $GUREUM_BIN when set (to test a binary built elsewhere).
func buildGureum(dir string) (string, error) {
	if p := os.Getenv("GUREUM_BIN"); p != "" {
		return p, nil
	}
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("find the module root (go env GOMOD): %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	if root == "." || root == "" {
		return "", fmt.Errorf("go env GOMOD found no go.mod; run the e2e tests from inside the repository")
	}
	bin := filepath.Join(dir, "gureum")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/gureum")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/gureum: %w\n%s", err, out)
	}
	return bin, nil
}

// requireRoot fails the test, saying what is missing, unless it runs as
// root: end-to-end tests of nodes need root and must not skip silently.
func requireRoot(t *testing.T, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("this test must run as root (%s); run it with sudo or as root in CI", why)
	}
}

// kubectlPath finds the real kubectl; tests fail loudly without it.
func kubectlPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("KUBECTL"); p != "" {
		return p
	}
	p, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatalf("kubectl is required for the e2e tests (install it or set KUBECTL): %v", err)
	}
	return p
}
