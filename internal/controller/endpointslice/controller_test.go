package endpointslice_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/utils/clock"

	"github.com/gureum/gureum/internal/controller/endpointslice"
	"github.com/gureum/gureum/internal/testenv"
)

func startController(t *testing.T, s *testenv.Server) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := informers.NewSharedInformerFactory(s.Client, 0)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c := endpointslice.New(s.Client, f, clock.RealClock{}, log)
	done := make(chan struct{})
	go func() { _ = c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// eventually polls cond every 25ms until it returns nil or 20s pass.
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

type podSpec struct {
	name, ip string
	labels   map[string]string
	httpPort int32
	ready    bool
	node     string
}

// makePod creates a pod and writes the status an agent would: Running,
// the IP, and the Ready condition.
func makePod(t *testing.T, s *testenv.Server, ns string, p podSpec) *corev1.Pod {
	t.Helper()
	ctx := context.Background()
	if p.labels == nil {
		p.labels = map[string]string{"app": "web"}
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: p.name, Labels: p.labels},
		Spec: corev1.PodSpec{
			NodeName: p.node,
			Containers: []corev1.Container{{Name: "c", Image: "web:1",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: p.httpPort}}}},
		},
	}
	created, err := s.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s: %v", p.name, err)
	}
	return setStatus(t, s, created, p.ip, p.ready)
}

func setStatus(t *testing.T, s *testenv.Server, pod *corev1.Pod, ip string, ready bool) *corev1.Pod {
	t.Helper()
	cond := corev1.ConditionFalse
	if ready {
		cond = corev1.ConditionTrue
	}
	var out *corev1.Pod
	eventually(t, "update pod status "+pod.Name, func() error {
		cur, err := s.Client.CoreV1().Pods(pod.Namespace).Get(context.Background(), pod.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Status.Phase = corev1.PodRunning
		cur.Status.PodIP = ip
		cur.Status.PodIPs = []corev1.PodIP{{IP: ip}}
		cur.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: cond}}
		out, err = s.Client.CoreV1().Pods(pod.Namespace).UpdateStatus(context.Background(), cur, metav1.UpdateOptions{})
		return err
	})
	return out
}

func createService(t *testing.T, s *testenv.Server, ns string, svc *corev1.Service) *corev1.Service {
	t.Helper()
	created, err := s.Client.CoreV1().Services(ns).Create(context.Background(), svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create service %s: %v", svc.Name, err)
	}
	return created
}

func webService(name string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"team": "blue"}},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, TargetPort: intstr.FromString("http")},
				{Name: "admin", Port: 81, TargetPort: intstr.FromInt32(9000)},
			},
		},
	}
}

func slicesOf(t *testing.T, s *testenv.Server, ns, svc string) []discoveryv1.EndpointSlice {
	t.Helper()
	l, err := s.Client.DiscoveryV1().EndpointSlices(ns).List(context.Background(),
		metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + svc})
	if err != nil {
		t.Fatalf("list slices: %v", err)
	}
	sort.Slice(l.Items, func(i, j int) bool { return l.Items[i].Name < l.Items[j].Name })
	return l.Items
}

// state renders slices as "http=8080:10.42.0.1(RST)..." per slice, sorted,
// where R/S/T are ready/serving/terminating and '-' means false.
func state(slices []discoveryv1.EndpointSlice) string {
	var out []string
	for _, sl := range slices {
		var ports []string
		for _, p := range sl.Ports {
			ports = append(ports, fmt.Sprintf("%s=%d", *p.Name, *p.Port))
		}
		sort.Strings(ports)
		var eps []string
		for _, e := range sl.Endpoints {
			flag := func(b *bool, c string) string {
				if b != nil && *b {
					return c
				}
				return "-"
			}
			eps = append(eps, e.Addresses[0]+"("+flag(e.Conditions.Ready, "R")+flag(e.Conditions.Serving, "S")+flag(e.Conditions.Terminating, "T")+")")
		}
		sort.Strings(eps)
		out = append(out, strings.Join(ports, ",")+":"+strings.Join(eps, ","))
	}
	sort.Strings(out)
	return strings.Join(out, " | ")
}

func waitState(t *testing.T, s *testenv.Server, ns, svc, want string) []discoveryv1.EndpointSlice {
	t.Helper()
	var got []discoveryv1.EndpointSlice
	eventually(t, "slices of "+svc, func() error {
		got = slicesOf(t, s, ns, svc)
		if st := state(got); st != want {
			return fmt.Errorf("slices\n got %s\nwant %s", st, want)
		}
		return nil
	})
	return got
}

func TestSlicesFollowPods(t *testing.T) {
	s := testenv.Start(t)
	startController(t, s)
	ctx := context.Background()
	pods := s.Client.CoreV1().Pods("default")

	svc := createService(t, s, "default", webService("web"))
	// A Service without pods has one empty placeholder slice.
	waitState(t, s, "default", "web", ":")

	for i := 1; i <= 3; i++ {
		makePod(t, s, "default", podSpec{name: fmt.Sprintf("web-%d", i), ip: fmt.Sprintf("10.42.0.%d", i), httpPort: 8080, ready: true})
	}
	makePod(t, s, "default", podSpec{name: "db", ip: "10.42.0.99", httpPort: 8080, ready: true, labels: map[string]string{"app": "db"}})
	got := waitState(t, s, "default", "web", "admin=9000,http=8080:10.42.0.1(RS-),10.42.0.2(RS-),10.42.0.3(RS-)")
	sl := got[0]
	if sl.AddressType != discoveryv1.AddressTypeIPv4 || !strings.HasPrefix(sl.Name, "web-") ||
		sl.Labels[discoveryv1.LabelManagedBy] != "endpointslice-controller.k8s.io" || sl.Labels["team"] != "blue" {
		t.Errorf("slice meta: name %s type %s labels %v", sl.Name, sl.AddressType, sl.Labels)
	}
	if ref := metav1.GetControllerOf(&sl); ref == nil || ref.UID != svc.UID || ref.Kind != "Service" || ref.APIVersion != "v1" {
		t.Errorf("slice owner %+v", sl.OwnerReferences)
	}
	for _, e := range sl.Endpoints {
		if e.TargetRef == nil || e.TargetRef.Kind != "Pod" || !strings.HasPrefix(e.TargetRef.Name, "web-") || e.TargetRef.UID == "" {
			t.Errorf("endpoint %s targetRef %+v", e.Addresses[0], e.TargetRef)
		}
	}

	// Readiness flips rewrite the same slice in place.
	p2, err := pods.Get(ctx, "web-2", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	setStatus(t, s, p2, "10.42.0.2", false)
	got = waitState(t, s, "default", "web", "admin=9000,http=8080:10.42.0.1(RS-),10.42.0.2(---),10.42.0.3(RS-)")
	if got[0].Name != sl.Name {
		t.Errorf("slice replaced (%s -> %s) instead of updated", sl.Name, got[0].Name)
	}
	setStatus(t, s, p2, "10.42.0.2", true)
	waitState(t, s, "default", "web", "admin=9000,http=8080:10.42.0.1(RS-),10.42.0.2(RS-),10.42.0.3(RS-)")

	// Scale up, then delete a pod.
	makePod(t, s, "default", podSpec{name: "web-4", ip: "10.42.0.4", httpPort: 8080, ready: true})
	waitState(t, s, "default", "web", "admin=9000,http=8080:10.42.0.1(RS-),10.42.0.2(RS-),10.42.0.3(RS-),10.42.0.4(RS-)")
	if err := pods.Delete(ctx, "web-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitState(t, s, "default", "web", "admin=9000,http=8080:10.42.0.2(RS-),10.42.0.3(RS-),10.42.0.4(RS-)")

	// A terminating pod (held by a finalizer) is serving but not ready.
	patch := []byte(`{"metadata":{"finalizers":["example.com/hold"]}}`)
	if _, err := pods.Patch(ctx, "web-3", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(ctx, "web-3", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitState(t, s, "default", "web", "admin=9000,http=8080:10.42.0.2(RS-),10.42.0.3(-ST),10.42.0.4(RS-)")
	if _, err := pods.Patch(ctx, "web-3", types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitState(t, s, "default", "web", "admin=9000,http=8080:10.42.0.2(RS-),10.42.0.4(RS-)")

	// A pod whose named port has another number lands in its own slice; a
	// failed pod drops out.
	makePod(t, s, "default", podSpec{name: "web-5", ip: "10.42.0.5", httpPort: 9090, ready: true})
	waitState(t, s, "default", "web",
		"admin=9000,http=8080:10.42.0.2(RS-),10.42.0.4(RS-) | admin=9000,http=9090:10.42.0.5(RS-)")
	p4, err := pods.Get(ctx, "web-4", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p4.Status.Phase = corev1.PodFailed
	if _, err := pods.UpdateStatus(ctx, p4, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitState(t, s, "default", "web", "admin=9000,http=8080:10.42.0.2(RS-) | admin=9000,http=9090:10.42.0.5(RS-)")

	// Selector change: the endpoints follow the new selector.
	cur, err := s.Client.CoreV1().Services("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cur.Spec.Selector = map[string]string{"app": "db"}
	if _, err := s.Client.CoreV1().Services("default").Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitState(t, s, "default", "web", "admin=9000,http=8080:10.42.0.99(RS-)")

	// Relabelling the pod out of the selector empties the Service.
	if _, err := pods.Patch(ctx, "db", types.MergePatchType, []byte(`{"metadata":{"labels":{"app":"gone"}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitState(t, s, "default", "web", ":")

	// A slice deleted behind the controller's back comes back.
	for _, sl := range slicesOf(t, s, "default", "web") {
		if err := s.Client.DiscoveryV1().EndpointSlices("default").Delete(ctx, sl.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitState(t, s, "default", "web", ":")
}

func TestSlicesSplitAtHundredEndpoints(t *testing.T) {
	s := testenv.Start(t)
	startController(t, s)
	ctx := context.Background()
	createService(t, s, "default", webService("big"))
	const n = 230
	for i := range n {
		makePod(t, s, "default", podSpec{name: fmt.Sprintf("big-%03d", i), ip: fmt.Sprintf("10.42.%d.%d", i/200, i%200+1), httpPort: 8080, ready: true})
	}
	count := func(want ...int) func() error {
		return func() error {
			var sizes []int
			total := 0
			seen := map[string]bool{}
			for _, sl := range slicesOf(t, s, "default", "big") {
				sizes = append(sizes, len(sl.Endpoints))
				for _, e := range sl.Endpoints {
					if seen[e.Addresses[0]] {
						return fmt.Errorf("%s in two slices", e.Addresses[0])
					}
					seen[e.Addresses[0]] = true
				}
				total += len(sl.Endpoints)
			}
			sort.Sort(sort.Reverse(sort.IntSlice(sizes)))
			if fmt.Sprint(sizes) != fmt.Sprint(want) {
				return fmt.Errorf("slice sizes %v, want %v", sizes, want)
			}
			return nil
		}
	}
	eventually(t, "230 endpoints in slices of at most 100", count(100, 100, 30))

	for i := range 150 {
		if err := s.Client.CoreV1().Pods("default").Delete(ctx, fmt.Sprintf("big-%03d", i), metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// 80 remain; the controller deletes emptied slices and keeps the rest
	// in place rather than repacking.
	eventually(t, "80 endpoints after scale-down", func() error {
		total := 0
		for _, sl := range slicesOf(t, s, "default", "big") {
			if len(sl.Endpoints) == 0 {
				return fmt.Errorf("empty slice %s left", sl.Name)
			}
			total += len(sl.Endpoints)
		}
		if total != 80 {
			return fmt.Errorf("%d endpoints", total)
		}
		return nil
	})
}

func TestPublishNotReadyAddressesAndHeadless(t *testing.T) {
	s := testenv.Start(t)
	startController(t, s)
	svc := webService("pub")
	svc.Spec.PublishNotReadyAddresses = true
	svc.Spec.ClusterIP = corev1.ClusterIPNone
	createService(t, s, "default", svc)
	makePod(t, s, "default", podSpec{name: "a", ip: "10.42.0.1", httpPort: 8080, ready: false})
	got := waitState(t, s, "default", "pub", "admin=9000,http=8080:10.42.0.1(R--)")
	if _, ok := got[0].Labels["service.kubernetes.io/headless"]; !ok {
		t.Errorf("headless service's slice lacks the headless label: %v", got[0].Labels)
	}
}

func TestSelectorlessAndExternalNameServices(t *testing.T) {
	s := testenv.Start(t)
	startController(t, s)
	ctx := context.Background()
	makePod(t, s, "default", podSpec{name: "a", ip: "10.42.0.1", httpPort: 8080, ready: true})

	// A hand-written slice of a selector-less Service is left alone.
	createService(t, s, "default", &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "manual"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}},
	})
	ready := true
	port, name := int32(80), ""
	manual := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "manual-1", Labels: map[string]string{
			discoveryv1.LabelServiceName: "manual", discoveryv1.LabelManagedBy: "someone-else"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"192.168.1.10"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Port: &port}},
	}
	if _, err := s.Client.DiscoveryV1().EndpointSlices("default").Create(ctx, manual, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// A selected Service turned into an ExternalName loses its slices.
	createService(t, s, "default", webService("alias"))
	waitState(t, s, "default", "alias", "admin=9000,http=8080:10.42.0.1(RS-)")
	cur, err := s.Client.CoreV1().Services("default").Get(ctx, "alias", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cur.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com", Selector: cur.Spec.Selector}
	if _, err := s.Client.CoreV1().Services("default").Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "external name service without slices", func() error {
		if n := len(slicesOf(t, s, "default", "alias")); n != 0 {
			return fmt.Errorf("%d slices", n)
		}
		return nil
	})

	// By now the controller has long seen the manual slice and the
	// selector-less Service; neither was touched.
	got, err := s.Client.DiscoveryV1().EndpointSlices("default").Get(ctx, "manual-1", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("manual slice: %v", err)
	}
	if got.Generation != 1 || got.Labels[discoveryv1.LabelManagedBy] != "someone-else" || len(got.OwnerReferences) != 0 {
		t.Errorf("manual slice was modified: generation %d labels %v owners %v", got.Generation, got.Labels, got.OwnerReferences)
	}
	if n := len(slicesOf(t, s, "default", "manual")); n != 1 {
		t.Errorf("selector-less service has %d slices, want the 1 manual one", n)
	}
}

func TestZoneAndNodeNameAndServiceDeletion(t *testing.T) {
	s := testenv.Start(t)
	startController(t, s)
	s.RunGarbageCollector(t)
	ctx := context.Background()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a", Labels: map[string]string{corev1.LabelTopologyZone: "zone-1"}}}
	if _, err := s.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := createService(t, s, "default", webService("zoned"))
	makePod(t, s, "default", podSpec{name: "a", ip: "10.42.0.1", httpPort: 8080, ready: true, node: "node-a"})
	eventually(t, "endpoint with node and zone", func() error {
		for _, sl := range slicesOf(t, s, "default", "zoned") {
			for _, e := range sl.Endpoints {
				if e.NodeName != nil && *e.NodeName == "node-a" && e.Zone != nil && *e.Zone == "zone-1" {
					return nil
				}
			}
		}
		return fmt.Errorf("no endpoint on node-a in zone-1: %s", state(slicesOf(t, s, "default", "zoned")))
	})

	// Slices are owned by the Service; the garbage collector
	// removes them when it goes.
	for _, sl := range slicesOf(t, s, "default", "zoned") {
		if ref := metav1.GetControllerOf(&sl); ref == nil || ref.UID != svc.UID {
			t.Fatalf("slice %s not owned by the service: %+v", sl.Name, sl.OwnerReferences)
		}
	}
	if err := s.Client.CoreV1().Services("default").Delete(ctx, "zoned", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "slices collected with their service", func() error {
		l := slicesOf(t, s, "default", "zoned")
		if len(l) != 0 {
			return fmt.Errorf("%d slices left", len(l))
		}
		return nil
	})
	if _, err := s.Client.CoreV1().Services("default").Get(ctx, "zoned", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("service still there: %v", err)
	}
}
