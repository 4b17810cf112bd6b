package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
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

func TestEveryNamespaceGetsTheRootCAConfigMap(t *testing.T) {
	s := testenv.Start(t)
	ctx := context.Background()
	if _, err := s.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		cm, err := s.Client.CoreV1().ConfigMaps("team-a").Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		if err == nil {
			if !strings.Contains(cm.Data["ca.crt"], "BEGIN CERTIFICATE") {
				t.Fatalf("ca.crt = %q", cm.Data["ca.crt"])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("kube-root-ca.crt not published in team-a: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Deleting it brings it back.
	if err := s.Client.CoreV1().ConfigMaps("team-a").Delete(ctx, "kube-root-ca.crt", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		if _, err := s.Client.CoreV1().ConfigMaps("team-a").Get(ctx, "kube-root-ca.crt", metav1.GetOptions{}); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("kube-root-ca.crt was not recreated after deletion")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestEventsExpire checks that Events are stored on an etcd lease (they
// expire after an hour, as in Kubernetes) and other objects are not.
func TestEventsExpire(t *testing.T) {
	s := testenv.Start(t)
	ctx := context.Background()
	ev := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e1", Namespace: "default"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "p", Namespace: "default"}, Reason: "Test", Message: "m", Type: "Normal"}
	if _, err := s.Client.CoreV1().Events("default").Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{fmt.Sprintf("http://127.0.0.1:%d", s.EtcdClientPort)}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	resp, err := cli.Get(ctx, "/registry/events/default/e1")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("event not in etcd: %v", err)
	}
	ttl, err := cli.TimeToLive(ctx, clientv3.LeaseID(resp.Kvs[0].Lease))
	if err != nil || ttl.TTL < 3600 {
		t.Fatalf("event lease TTL = %v (%v), want at least 3600s", ttl, err)
	}
	resp, _ = cli.Get(ctx, "/registry/services/default/kubernetes")
	if len(resp.Kvs) != 1 || resp.Kvs[0].Lease != 0 {
		t.Errorf("the kubernetes Service is on a lease: %+v", resp.Kvs)
	}
}
