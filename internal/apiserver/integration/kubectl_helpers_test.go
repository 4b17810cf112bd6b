package integration

// Helpers for the kubectl_*_test.go files: they drive the real kubectl
// (/usr/bin/kubectl, which runs kubectl 1.33 against our 1.33 server) and
// read its human-readable output the way a user would: table columns by
// header, describe lines by key.

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gureum/gureum/internal/testenv"
)

// kubectlTimeout bounds one kubectl run; none of ours waits longer.
const kubectlTimeout = 60 * time.Second

// kubectl runs kubectl and fails the test if it exits non-zero; it returns
// stdout and stderr combined.
func kubectl(t *testing.T, s *testenv.Server, args ...string) string {
	t.Helper()
	return s.MustKubectl(t, "", args...)
}

// kubectlIn is kubectl with stdin (for `-f -`).
func kubectlIn(t *testing.T, s *testenv.Server, stdin string, args ...string) string {
	t.Helper()
	return s.MustKubectl(t, stdin, args...)
}

// kubectlFails runs kubectl, expects it to exit non-zero and returns its
// combined output.
func kubectlFails(t *testing.T, s *testenv.Server, args ...string) string {
	t.Helper()
	out, err := s.Kubectl(t, "", args...)
	if err == nil {
		t.Fatalf("kubectl %s succeeded, want a failure:\n%s", strings.Join(args, " "), out)
	}
	return out
}

// kubectlCmd builds a kubectl command like testenv's, with extra
// environment (KUBE_EDITOR) and a deadline.
func kubectlCmd(ctx context.Context, t *testing.T, s *testenv.Server, env []string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(ctx, testenv.KubectlPath(t), append([]string{"--kubeconfig", s.Kubeconfig}, args...)...)
	cmd.Env = append(append(os.Environ(), "KUBECONFIG="+s.Kubeconfig, "HOME="+filepath.Join(s.DataDir, "home")), env...)
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// kubectlEnv runs kubectl with extra environment and returns its combined
// output and error.
func kubectlEnv(t *testing.T, s *testenv.Server, env []string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), kubectlTimeout)
	defer cancel()
	out, err := kubectlCmd(ctx, t, s, env, args...).CombinedOutput()
	return string(out), err
}

// kubectlExitCode runs kubectl and returns its combined output and exit
// code (kubectl diff and auth can-i report through it).
func kubectlExitCode(t *testing.T, s *testenv.Server, stdin string, args ...string) (string, int) {
	t.Helper()
	out, err := s.Kubectl(t, stdin, args...)
	if err == nil {
		return out, 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return out, ee.ExitCode()
	}
	t.Fatalf("kubectl %s: %v", strings.Join(args, " "), err)
	return "", -1
}

// testdataFile is the path of a file under testdata/kubectl.
func testdataFile(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join("testdata", "kubectl", name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("testdata: %v", err)
	}
	return p
}

// kubectlNamespace creates a namespace for one group of kubectl runs, so
// that independent checks never see each other's objects.
func kubectlNamespace(t *testing.T, s *testenv.Server, name string) string {
	t.Helper()
	_, err := s.Client.CoreV1().Namespaces().Create(context.Background(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	return name
}

func wantContains(t *testing.T, out string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}
}

func wantNotContains(t *testing.T, out string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if strings.Contains(out, s) {
			t.Errorf("output has %q, want it absent:\n%s", s, out)
		}
	}
}

// wantOutput compares trimmed output exactly.
func wantOutput(t *testing.T, out, want string) {
	t.Helper()
	if strings.TrimSpace(out) != strings.TrimSpace(want) {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
}

// kubectlTable is kubectl's table output, cut into cells by the columns of
// its header (cells may be empty; header names may hold one space, as in
// "NOMINATED NODE" or "LAST SEEN").
type kubectlTable struct {
	header []string
	rows   []map[string]string
	raw    string
}

var headerGap = regexp.MustCompile(`\S+( \S+)*`)

func parseTable(t *testing.T, out string) kubectlTable {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "Warning:") {
			continue
		}
		lines = append(lines, l)
	}
	if len(lines) == 0 {
		t.Fatalf("no table in output:\n%s", out)
	}
	tab := kubectlTable{raw: out}
	locs := headerGap.FindAllStringIndex(lines[0], -1)
	for _, loc := range locs {
		tab.header = append(tab.header, lines[0][loc[0]:loc[1]])
	}
	for _, l := range lines[1:] {
		row := map[string]string{}
		for i, loc := range locs {
			start, end := loc[0], len(l)
			if i+1 < len(locs) {
				end = locs[i+1][0]
			}
			if start > len(l) {
				start = len(l)
			}
			if end > len(l) {
				end = len(l)
			}
			row[tab.header[i]] = strings.TrimSpace(l[start:end])
		}
		tab.rows = append(tab.rows, row)
	}
	return tab
}

func (tab kubectlTable) wantHeader(t *testing.T, cols ...string) {
	t.Helper()
	if strings.Join(tab.header, "|") != strings.Join(cols, "|") {
		t.Errorf("table columns %q, want %q:\n%s", tab.header, cols, tab.raw)
	}
}

// row is the row whose first column is name.
func (tab kubectlTable) row(t *testing.T, name string) map[string]string {
	t.Helper()
	for _, r := range tab.rows {
		if r[tab.header[0]] == name {
			return r
		}
	}
	t.Fatalf("no row %q in:\n%s", name, tab.raw)
	return nil
}

// names lists the first column.
func (tab kubectlTable) names() []string {
	var out []string
	for _, r := range tab.rows {
		out = append(out, r[tab.header[0]])
	}
	return out
}

var ageCell = regexp.MustCompile(`^\d+s$`)

// wantCells checks cells of one row; the value "<age>" matches a fresh AGE
// ("0s" .. "59s").
func wantCells(t *testing.T, row map[string]string, want map[string]string) {
	t.Helper()
	for col, v := range want {
		got, ok := row[col]
		switch {
		case !ok:
			t.Errorf("row %v has no column %q", row, col)
		case v == "<age>":
			if !ageCell.MatchString(got) {
				t.Errorf("column %s = %q, want a fresh age", col, got)
			}
		case got != v:
			t.Errorf("column %s = %q, want %q (row %v)", col, got, v, row)
		}
	}
}

// describeValue is the value on the line "Key:   value" of kubectl
// describe output (the first such line).
func describeValue(t *testing.T, out, key string) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		trimmed := strings.TrimLeft(l, " ")
		if strings.HasPrefix(trimmed, key+":") {
			return strings.TrimSpace(strings.TrimPrefix(trimmed, key+":"))
		}
	}
	t.Errorf("describe output has no %q line:\n%s", key, out)
	return ""
}

func wantDescribe(t *testing.T, out string, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got := describeValue(t, out, k); got != v {
			t.Errorf("describe %s: %q, want %q", k, got, v)
		}
	}
}

// eventually retries check until it holds or five seconds pass (for what
// goes through the watch cache, such as RBAC decisions).
func eventually(t *testing.T, what string, check func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !check() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
