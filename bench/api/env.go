package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// env holds the clients of one running server. Client i has its own
// connection (HTTP/2 for the API, gRPC for etcd), as separate processes
// would.
type env struct {
	srv   *server
	cfg   *rest.Config
	admin kubernetes.Interface

	mu      sync.Mutex
	clients []kubernetes.Interface
	etcds   []*clientv3.Client
}

func newEnv(ctx context.Context, srv *server) (*env, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", srv.kubeconfig())
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", srv.kubeconfig(), err)
	}
	cfg.QPS = 1e6
	cfg.Burst = 1e6
	cfg.UserAgent = "gureum-bench"
	e := &env{srv: srv, cfg: cfg}
	e.admin, err = kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	// The server answers /readyz once its caches are loaded; its bootstrap
	// objects (the default namespace) follow shortly after.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := e.admin.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("namespace default never appeared: %w", err)
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// restConfig is a copy of the admin config whose transport is not shared
// with any other client (client-go caches transports by config; a Proxy
// func makes the config uncacheable).
func (e *env) restConfig() *rest.Config {
	c := rest.CopyConfig(e.cfg)
	c.Proxy = func(*http.Request) (*url.URL, error) { return nil, nil }
	return c
}

// client returns API client i, creating clients up to i.
func (e *env) client(i int) (kubernetes.Interface, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for len(e.clients) <= i {
		cs, err := kubernetes.NewForConfig(e.restConfig())
		if err != nil {
			return nil, err
		}
		e.clients = append(e.clients, cs)
	}
	return e.clients[i], nil
}

// etcd returns raw etcd client i on the embedded member's client port.
func (e *env) etcd(i int) (*clientv3.Client, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for len(e.etcds) <= i {
		c, err := clientv3.New(clientv3.Config{
			Endpoints:          []string{"127.0.0.1:" + strconv.Itoa(e.srv.etcdPort)},
			DialTimeout:        5 * time.Second,
			Logger:             zap.NewNop(),
			MaxCallSendMsgSize: 4 << 20,
			MaxCallRecvMsgSize: 256 << 20,
		})
		if err != nil {
			return nil, fmt.Errorf("etcd client: %w", err)
		}
		e.etcds = append(e.etcds, c)
	}
	return e.etcds[i], nil
}

// warm makes sure clients 0..n-1 exist and have connected.
func (e *env) warm(ctx context.Context, n int) error {
	errc := make(chan error, 2*n)
	for i := 0; i < n; i++ {
		go func(i int) {
			cs, err := e.client(i)
			if err == nil {
				_, err = cs.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{})
			}
			errc <- err
		}(i)
		go func(i int) {
			ec, err := e.etcd(i)
			if err == nil {
				_, err = ec.Get(ctx, "/bench-floor/warm")
			}
			errc <- err
		}(i)
	}
	for i := 0; i < 2*n; i++ {
		if err := <-errc; err != nil {
			return err
		}
	}
	return nil
}

func (e *env) ensureNamespace(ctx context.Context, name string) error {
	_, err := e.admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	return nil
}

// countPods counts the pods in etcd.
func (e *env) countPods(ctx context.Context) (int64, error) {
	ec, err := e.etcd(0)
	if err != nil {
		return 0, err
	}
	resp, err := ec.Get(ctx, "/registry/pods/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return 0, err
	}
	return resp.Count, nil
}

func (e *env) close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range e.etcds {
		c.Close()
	}
	e.etcds = nil
	e.clients = nil
}

// benchPod is a small, realistic pod: one container with an image, a
// port, an env var, resources, a probe and a few labels.
func benchPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:   name,
			Labels: map[string]string{"app": "bench", "tier": "web", "release": "stable"},
			Annotations: map[string]string{
				"bench.gureum.io/owner": "bench-api",
			},
		},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name:  "app",
				Image: "registry.k8s.io/pause:3.10",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
				Env:   []corev1.EnvVar{{Name: "MODE", Value: "bench"}},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("32Mi")},
				},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}},
					PeriodSeconds: 10,
				},
			}},
			RestartPolicy: corev1.RestartPolicyAlways,
		},
	}
}
