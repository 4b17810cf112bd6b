package node

import (
	"context"
	"log/slog"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/gureum/gureum/internal/store"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestServerUsesExternalEtcd runs the server against an etcd it did not
// start (--etcd-endpoints) and checks that objects land in that etcd.
func TestServerUsesExternalEtcd(t *testing.T) {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	etcdPort := freePort(t)
	ext, err := store.StartEmbedded(ctx, store.EmbeddedConfig{DataDir: t.TempDir(), ClientPort: etcdPort, PeerPort: freePort(t)}, log)
	if err != nil {
		t.Fatalf("start the external etcd: %v", err)
	}
	defer ext.Close()

	ready := make(chan string, 1)
	done := make(chan error, 1)
	dataDir := t.TempDir()
	go func() {
		done <- RunServer(ctx, ServerConfig{
			DataDir: dataDir, BindAddress: "127.0.0.1", HTTPSPort: 0, DisableAgent: true,
			EtcdEndpoints: []string{"http://127.0.0.1:" + strconv.Itoa(etcdPort)},
			ServiceCIDR:   "10.43.0.0/16", Ready: func(kc string) { ready <- kc }, Log: log,
		})
	}()
	var kubeconfig string
	select {
	case kubeconfig = <-ready:
	case err := <-done:
		t.Fatalf("server exited: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("server not ready after 30s")
	}
	if _, err := os.Stat(dataDir + "/etcd"); !os.IsNotExist(err) {
		t.Errorf("the server created an embedded etcd in %s/etcd although --etcd-endpoints was given", dataDir)
	}
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	client := kubernetes.NewForConfigOrDie(rc)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "ext", Namespace: "default"}, Data: map[string]string{"k": "v"}}
	if _, err := client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create configmap: %v", err)
	}
	kv, err := ext.Get(ctx, "/registry/configmaps/default/ext")
	if err != nil {
		t.Fatalf("the configmap is not in the external etcd: %v", err)
	}
	if len(kv.Value) == 0 {
		t.Fatal("the stored configmap is empty")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("server did not stop within 10s")
	}
}
