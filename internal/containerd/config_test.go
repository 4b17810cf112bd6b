package containerd

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run with -update if intended); got:\n%s", path, got)
	}
}

var testHosts = map[string]Host{
	"cgroupfs-overlay": {CgroupDriver: CgroupDriverCgroupfs, Snapshotter: "overlayfs", CNIBinDir: "/usr/lib/cni"},
	"systemd-native":   {CgroupV2: true, CgroupDriver: CgroupDriverSystemd, Snapshotter: "native", CNIBinDir: "/opt/cni/bin"},
}

func TestRenderConfigGolden(t *testing.T) {
	for name, h := range testHosts {
		t.Run(name, func(t *testing.T) {
			got, err := RenderConfig(PathsFor("/var/lib/gureum"), h, "gureum.local/pause:1")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "config-"+name+".toml", got)
		})
	}
}

// containerd itself must accept the file: `config dump` parses it the way
// the daemon does (and fails on unknown versions or bad TOML).
func TestConfigAcceptedByContainerd(t *testing.T) {
	bin, err := exec.LookPath("containerd")
	if err != nil {
		t.Fatalf("containerd is not installed (hack/install-deps.sh installs it): %v", err)
	}
	for name, h := range testHosts {
		t.Run(name, func(t *testing.T) {
			cfg, err := RenderConfig(PathsFor(t.TempDir()), h, "gureum.local/pause:1")
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "config.toml")
			if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(bin, "--config", path, "config", "dump").CombinedOutput()
			if err != nil {
				t.Fatalf("containerd config dump: %v\n%s", err, out)
			}
			for _, want := range []string{
				`sandbox_image = "gureum.local/pause:1"`,
				`restrict_oom_score_adj = true`,
				`snapshotter = "` + h.Snapshotter + `"`,
			} {
				if !strings.Contains(string(out), want) {
					t.Errorf("dumped config lacks %s", want)
				}
			}
		})
	}
}

func TestRenderConfigRejectsIncompleteInput(t *testing.T) {
	if _, err := RenderConfig(PathsFor("/d"), testHosts["cgroupfs-overlay"], ""); err == nil {
		t.Error("no sandbox image accepted")
	}
	if _, err := RenderConfig(PathsFor("/d"), Host{}, "x/pause:1"); err == nil {
		t.Error("unprobed host accepted")
	}
}

func TestRenderHostsTOML(t *testing.T) {
	cases := map[string]Mirror{
		"https-ca-auth": {URL: "https://10.0.0.1:5000/", CAFile: "/var/lib/gureum/pki/ca.crt", AuthHeader: `Bearer a"b`},
		"http-plain":    {URL: "http://127.0.0.1:5000"},
	}
	for name, m := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := RenderHostsTOML(m)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "hosts-"+name+".toml", got)
		})
	}
	for _, bad := range []string{"", "127.0.0.1:5000", "ftp://x", "https://"} {
		if _, err := RenderHostsTOML(Mirror{URL: bad}); err == nil {
			t.Errorf("mirror URL %q accepted", bad)
		}
	}
}

func TestMirroredHosts(t *testing.T) {
	cases := []struct {
		sandbox string
		extra   []string
		want    []string
	}{
		{"gureum.local/pause:1", nil, []string{"docker.io", "ghcr.io", "gureum.local", "quay.io", "registry.k8s.io"}},
		{"pause:1", nil, []string{"docker.io", "ghcr.io", "quay.io", "registry.k8s.io"}},
		{"registry.k8s.io/pause:3.9", []string{"quay.io", "docker.io"}, []string{"docker.io", "ghcr.io", "quay.io", "registry.k8s.io"}},
		{"10.0.0.1:5000/pause:1", []string{"index.docker.io", "example.com"}, []string{"10.0.0.1:5000", "docker.io", "example.com", "ghcr.io", "quay.io", "registry.k8s.io"}},
	}
	for _, tc := range cases {
		got, err := MirroredHosts(tc.sandbox, tc.extra)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("MirroredHosts(%q, %v) = %v, want %v", tc.sandbox, tc.extra, got, tc.want)
		}
	}
	if _, err := MirroredHosts("UPPER/Case::", nil); err == nil {
		t.Error("bad sandbox image accepted")
	}
}

func TestQuote(t *testing.T) {
	if got := quote("a\"b\\c\n"); got != `"a\"b\\c\u000A"` {
		t.Errorf("quote = %s", got)
	}
}
