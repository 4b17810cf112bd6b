package pause

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

func TestBinaryRunsAndExitsCleanlyOnSignal(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Fatalf("the pause binary is linux/amd64; this test cannot run on %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	path := filepath.Join(t.TempDir(), "pause")
	if err := os.WriteFile(path, Binary(), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(path)
			if err := cmd.Start(); err != nil {
				t.Fatalf("start pause: %v", err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			// Alive after a while: it neither exits nor crashes on its own.
			select {
			case err := <-done:
				t.Fatalf("pause exited by itself: %v", err)
			case <-time.After(150 * time.Millisecond):
			}
			// Installing the handlers happens before the first pause(2), so
			// by now a signal must reach the handler.
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					t.Fatalf("pause after %v: %v (want exit 0)", sig, err)
				}
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(5 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatalf("pause ignored %v", sig)
			}
		})
	}
}

func TestBinaryIsSmallStaticELF(t *testing.T) {
	b := Binary()
	if string(b[:4]) != "\x7fELF" {
		t.Fatalf("no ELF magic: %x", b[:4])
	}
	if len(b) > 512 {
		t.Fatalf("pause binary is %d bytes; it should stay tiny", len(b))
	}
}

// wantDigest pins the image: a change here means every node pulls a new
// sandbox image, so it must be deliberate.
const wantDigest = "sha256:0ef16328cbc5060a47dcd0520552a93469bee03f6b1cff6de332622d6ce92501"

func TestImageDigestIsStable(t *testing.T) {
	img1, err := Image()
	if err != nil {
		t.Fatal(err)
	}
	img2, err := Image()
	if err != nil {
		t.Fatal(err)
	}
	d1, err := img1.Digest()
	if err != nil {
		t.Fatal(err)
	}
	d2, err := img2.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if d1 != d2 {
		t.Fatalf("two builds differ: %s vs %s", d1, d2)
	}
	if d1.String() != wantDigest {
		t.Errorf("digest = %s, want %s", d1, wantDigest)
	}
	cf, err := img1.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := cf.Config.Entrypoint; len(got) != 1 || got[0] != "/pause" {
		t.Errorf("entrypoint = %q", got)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("platform = %s/%s", cf.OS, cf.Architecture)
	}
	// The layer holds exactly /pause with the binary's bytes.
	rc := mutate.Extract(img1)
	defer rc.Close()
	files := readTar(t, rc)
	if len(files) != 1 || string(files["pause"]) != string(Binary()) {
		t.Errorf("layer files = %v", keys(files))
	}
}

func readTar(t *testing.T, r io.Reader) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = b
	}
}

func keys(m map[string][]byte) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	return k
}
