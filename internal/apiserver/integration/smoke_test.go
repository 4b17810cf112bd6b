package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gureum/gureum/internal/testenv"
)

func TestServerBootstrapsDefaultObjects(t *testing.T) {
	s := testenv.Start(t)
	ctx := context.Background()
	for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		if _, err := s.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
			t.Errorf("namespace %s: %v", ns, err)
		}
	}
	svc, err := s.Client.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("kubernetes service: %v", err)
	}
	if svc.Spec.ClusterIP != "10.43.0.1" {
		t.Errorf("kubernetes service clusterIP = %s, want 10.43.0.1", svc.Spec.ClusterIP)
	}
	out := s.MustKubectl(t, "", "get", "namespaces")
	t0 := time.Now()
	defer func() { t.Logf("took %v", time.Since(t0)) }()
	if !strings.Contains(out, "kube-system") {
		t.Errorf("kubectl get namespaces did not list kube-system:\n%s", out)
	}
}
