package endpoints_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/utils/clock"

	"github.com/gureum/gureum/internal/controller/endpoints"
	"github.com/gureum/gureum/internal/controller/endpointslice"
	"github.com/gureum/gureum/internal/testenv"
)

// startControllers runs the Endpoints and EndpointSlice controllers on one
// informer factory, as the server does.
func startControllers(t *testing.T, s *testenv.Server) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := informers.NewSharedInformerFactory(s.Client, 0)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ep := endpoints.New(s.Client, f, clock.RealClock{}, log)
	es := endpointslice.New(s.Client, f, clock.RealClock{}, log)
	done := make(chan struct{}, 2)
	go func() { _ = ep.Run(ctx); done <- struct{}{} }()
	go func() { _ = es.Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); <-done; <-done })
}

func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func makePod(t *testing.T, s *testenv.Server, name, ip string, httpPort int32, ready bool) {
	t.Helper()
	ctx := context.Background()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "web:1",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: httpPort}}}}},
	}
	if _, err := s.Client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod %s: %v", name, err)
	}
	setReady(t, s, name, ip, ready)
}

func setReady(t *testing.T, s *testenv.Server, name, ip string, ready bool) {
	t.Helper()
	cond := corev1.ConditionFalse
	if ready {
		cond = corev1.ConditionTrue
	}
	eventually(t, "pod status "+name, func() error {
		cur, err := s.Client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Status.Phase = corev1.PodRunning
		cur.Status.PodIP, cur.Status.PodIPs = ip, []corev1.PodIP{{IP: ip}}
		cur.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: cond}}
		_, err = s.Client.CoreV1().Pods("default").UpdateStatus(context.Background(), cur, metav1.UpdateOptions{})
		return err
	})
}

// render gives Endpoints subsets as "port,port{ready}{notready}" joined by " | ".
func render(ep *corev1.Endpoints) string {
	var out []string
	for _, ss := range ep.Subsets {
		var ports, ready, unready []string
		for _, p := range ss.Ports {
			ports = append(ports, fmt.Sprintf("%s=%d", p.Name, p.Port))
		}
		for _, a := range ss.Addresses {
			ready = append(ready, a.IP)
		}
		for _, a := range ss.NotReadyAddresses {
			unready = append(unready, a.IP)
		}
		sort.Strings(ports)
		out = append(out, fmt.Sprintf("%s{%s}{%s}", strings.Join(ports, ","), strings.Join(ready, ","), strings.Join(unready, ",")))
	}
	sort.Strings(out)
	return strings.Join(out, " | ")
}

func waitEndpoints(t *testing.T, s *testenv.Server, name, want string) *corev1.Endpoints {
	t.Helper()
	var ep *corev1.Endpoints
	eventually(t, "endpoints "+name, func() error {
		var err error
		ep, err = s.Client.CoreV1().Endpoints("default").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if got := render(ep); got != want {
			return fmt.Errorf("\n got %s\nwant %s", got, want)
		}
		return nil
	})
	return ep
}

func TestEndpointsFollowPodsAndKubectlShowsThem(t *testing.T) {
	s := testenv.Start(t)
	startControllers(t, s)
	ctx := context.Background()
	svcs := s.Client.CoreV1().Services("default")

	_, err := svcs.Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: map[string]string{"team": "blue"}},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ep := waitEndpoints(t, s, "web", "")
	if ep.Labels["team"] != "blue" {
		t.Errorf("endpoints labels %v, want the service's", ep.Labels)
	}
	if _, ok := ep.Labels["service.kubernetes.io/headless"]; ok {
		t.Errorf("non-headless service's endpoints labelled headless")
	}

	makePod(t, s, "web-1", "10.42.0.1", 8080, true)
	makePod(t, s, "web-2", "10.42.0.2", 8080, false)
	makePod(t, s, "web-3", "10.42.0.3", 8081, true)
	ep = waitEndpoints(t, s, "web", "http=8080{10.42.0.1}{10.42.0.2} | http=8081{10.42.0.3}{}")
	for _, ss := range ep.Subsets {
		for _, a := range append(append([]corev1.EndpointAddress{}, ss.Addresses...), ss.NotReadyAddresses...) {
			if a.TargetRef == nil || a.TargetRef.Kind != "Pod" || !strings.HasPrefix(a.TargetRef.Name, "web-") || a.TargetRef.UID == "" {
				t.Errorf("address %s targetRef %+v", a.IP, a.TargetRef)
			}
		}
	}

	// kubectl sees ip:port in the ENDPOINTS column and in describe.
	out := s.MustKubectl(t, "", "get", "endpoints", "web")
	if !strings.Contains(out, "ENDPOINTS") || !strings.Contains(out, "10.42.0.1:8080") || !strings.Contains(out, "10.42.0.3:8081") ||
		strings.Contains(out, "10.42.0.2:8080") {
		t.Errorf("kubectl get endpoints web:\n%s", out)
	}
	desc := s.MustKubectl(t, "", "describe", "service", "web")
	if !regexp.MustCompile(`(?m)^Endpoints:\s+.*10\.42\.0\.1:8080`).MatchString(desc) {
		t.Errorf("kubectl describe service web has no Endpoints line with 10.42.0.1:8080:\n%s", desc)
	}

	// Readiness flips and deletion.
	setReady(t, s, "web-2", "10.42.0.2", true)
	waitEndpoints(t, s, "web", "http=8080{10.42.0.1,10.42.0.2}{} | http=8081{10.42.0.3}{}")
	if err := s.Client.CoreV1().Pods("default").Delete(ctx, "web-3", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitEndpoints(t, s, "web", "http=8080{10.42.0.1,10.42.0.2}{}")

	// Deleting the Service deletes its Endpoints.
	if err := svcs.Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "endpoints deleted with the service", func() error {
		_, err := s.Client.CoreV1().Endpoints("default").Get(ctx, "web", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there (err %v)", err)
	})
}

func TestEndpointsHeadlessPublishNotReadyAndSelectorless(t *testing.T) {
	s := testenv.Start(t)
	ctx := context.Background()
	before, err := s.Client.CoreV1().Endpoints("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the API server's own endpoints: %v", err)
	}
	startControllers(t, s)
	svcs := s.Client.CoreV1().Services("default")

	// Hand-written Endpoints of a selector-less Service stay as written.
	manual := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: "manual"},
		Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "192.168.1.10"}},
			Ports: []corev1.EndpointPort{{Port: 5432, Protocol: corev1.ProtocolTCP}}}},
	}
	if _, err := s.Client.CoreV1().Endpoints("default").Create(ctx, manual, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := svcs.Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "manual"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 5432}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	makePod(t, s, "a", "10.42.0.1", 8080, false)
	if _, err := svcs.Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: corev1.ServiceSpec{
			ClusterIP:                corev1.ClusterIPNone,
			PublishNotReadyAddresses: true,
			Selector:                 map[string]string{"app": "web"},
			Ports:                    []corev1.ServicePort{{Name: "pg", Port: 5432, TargetPort: intstr.FromInt32(5432)}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ep := waitEndpoints(t, s, "db", "pg=5432{10.42.0.1}{}")
	if v, ok := ep.Labels["service.kubernetes.io/headless"]; !ok || v != "" {
		t.Errorf("headless service's endpoints labels %v", ep.Labels)
	}

	// Everything above has been reconciled; the selector-less ones are
	// untouched.
	got, err := s.Client.CoreV1().Endpoints("default").Get(ctx, "manual", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if render(got) != "=5432{192.168.1.10}{}" {
		t.Errorf("manual endpoints changed: %s", render(got))
	}
	after, err := s.Client.CoreV1().Endpoints("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if after.ResourceVersion != before.ResourceVersion {
		t.Errorf("kubernetes endpoints rewritten: %s -> %s", render(before), render(after))
	}
}
