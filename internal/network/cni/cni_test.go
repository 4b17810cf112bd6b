package cni

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/containernetworking/cni/libcni"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestRenderGolden(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
	}{
		{"ipv4-defaults", Config{PodCIDR: netip.MustParsePrefix("10.244.1.0/24")}},
		{"ipv4-custom", Config{
			NetworkName: "team-a", Bridge: "gureum1", PodCIDR: netip.MustParsePrefix("172.30.0.0/16"),
			MTU: 1400, IPAMDataDir: "/var/lib/gureum/cni/networks", IPMasq: true,
		}},
		{"ipv6", Config{PodCIDR: netip.MustParsePrefix("fd00:10:244:1::/64")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Render(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			list, err := libcni.ConfListFromBytes(got)
			if err != nil {
				t.Fatalf("libcni rejects the conflist: %v\n%s", err, got)
			}
			if list.CNIVersion != CNIVersion || len(list.Plugins) != 2 ||
				list.Plugins[0].Network.Type != "bridge" || list.Plugins[1].Network.Type != "portmap" {
				t.Fatalf("parsed conflist = %+v", list)
			}
			if !list.Plugins[1].Network.Capabilities["portMappings"] {
				t.Fatal("portmap lacks the portMappings capability")
			}
			golden := filepath.Join("testdata", tc.name+".conflist")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if string(got) != string(want) {
				t.Errorf("conflist differs from %s (run with -update if intended)\ngot:\n%s", golden, got)
			}
		})
	}
}

func TestRenderRejects(t *testing.T) {
	cases := map[string]Config{
		"no cidr":      {},
		"host bits":    {PodCIDR: netip.MustParsePrefix("10.244.1.7/24")},
		"too small v4": {PodCIDR: netip.MustParsePrefix("10.244.1.0/31")},
		"too small v6": {PodCIDR: netip.MustParsePrefix("fd00::/127")},
		"long bridge":  {PodCIDR: netip.MustParsePrefix("10.0.0.0/24"), Bridge: "a-very-long-bridge"},
	}
	for name, cfg := range cases {
		t.Run(name, func(t *testing.T) {
			if b, err := Render(cfg); err == nil {
				t.Fatalf("Render succeeded:\n%s", b)
			}
		})
	}
}

func TestInstall(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "net.d")
	first, err := Render(Config{PodCIDR: netip.MustParsePrefix("10.1.0.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	second, err := Render(Config{PodCIDR: netip.MustParsePrefix("10.2.0.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range [][]byte{first, first, second} {
		if err := Install(dir, want); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dir, ConfFileName))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("installed:\n%s\nwant:\n%s", got, want)
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 {
			t.Fatalf("conf dir holds %d entries, want only %s", len(entries), ConfFileName)
		}
		if fi, _ := entries[0].Info(); fi.Mode().Perm() != 0o644 {
			t.Fatalf("mode = %v", fi.Mode())
		}
	}
	// libcni finds it the way containerd does.
	files, err := libcni.ConfFiles(dir, []string{".conf", ".conflist", ".json"})
	if err != nil || len(files) != 1 {
		t.Fatalf("libcni.ConfFiles = %v, %v", files, err)
	}
}
