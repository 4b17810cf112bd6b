package integration

import (
	"os"
	"testing"
	"time"

	"github.com/gureum/gureum/internal/testenv"
)

func TestKubectlZZExplore(t *testing.T) {
	if os.Getenv("GX") == "" {
		t.Skip()
	}
	s := testenv.Start(t)
	os.WriteFile("/tmp/gx/kc", []byte(s.Kubeconfig), 0o644)
	time.Sleep(60 * time.Minute)
}
