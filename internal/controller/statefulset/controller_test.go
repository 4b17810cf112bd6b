package statefulset_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	"github.com/gureum/gureum/internal/controller/statefulset"
	"github.com/gureum/gureum/internal/testenv"
)

func testLogger() *slog.Logger {
	if os.Getenv("GUREUM_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startController runs the StatefulSet controller against s until the
// test ends. (Once the server runs it itself, this becomes a no-op.)
func startController(t *testing.T, s *testenv.Server) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := informers.NewSharedInformerFactory(s.Client, 0)
	c := statefulset.New(s.Client, f, clock.RealClock{}, testLogger())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// fakeKubelet stands in for the scheduler and a kubelet, test only: it
// binds new pods to node "node-1", reports them Running and Ready (unless
// held), finishes graceful deletions at once, and logs what it saw so
// tests can check the order of events.
type fakeKubelet struct {
	client kubernetes.Interface
	mu     sync.Mutex
	log    []string
	seen   map[string]bool
	held   bool
	work   chan *corev1.Pod
	inf    cache.SharedIndexInformer
}

func startFakeKubelet(t *testing.T, client kubernetes.Interface) *fakeKubelet {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := informers.NewSharedInformerFactory(client, 0)
	k := &fakeKubelet{client: client, seen: map[string]bool{}, work: make(chan *corev1.Pod, 4096)}
	k.inf = f.Core().V1().Pods().Informer()
	push := func(obj interface{}) {
		if p, ok := obj.(*corev1.Pod); ok {
			k.work <- p
		}
	}
	_, _ = k.inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    push,
		UpdateFunc: func(_, o interface{}) { push(o) },
		DeleteFunc: func(obj interface{}) {
			if p, ok := obj.(*corev1.Pod); ok {
				k.record("gone " + p.Name)
				k.mu.Lock()
				delete(k.seen, string(p.UID))
				k.mu.Unlock()
			}
		},
	})
	f.Start(ctx.Done())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case p := <-k.work:
				k.step(ctx, p)
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		f.Shutdown()
	})
	return k
}

func (k *fakeKubelet) record(s string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.log = append(k.log, s)
}

func (k *fakeKubelet) events() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.log)
}

// hold stops or resumes reporting pods Ready.
func (k *fakeKubelet) hold(h bool) {
	k.mu.Lock()
	k.held = h
	k.mu.Unlock()
	if !h {
		for _, obj := range k.inf.GetStore().List() {
			k.work <- obj.(*corev1.Pod)
		}
	}
}

func (k *fakeKubelet) step(ctx context.Context, p *corev1.Pod) {
	k.mu.Lock()
	first := !k.seen[string(p.UID)]
	k.seen[string(p.UID)] = true
	held := k.held
	k.mu.Unlock()
	if first {
		k.record("create " + p.Name)
	}
	pods := k.client.CoreV1().Pods(p.Namespace)
	switch {
	case p.DeletionTimestamp != nil:
		zero := int64(0)
		if err := pods.Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &p.UID}}); err == nil {
			k.record("delete " + p.Name)
		}
	case p.Spec.NodeName == "":
		_ = pods.Bind(ctx, &corev1.Binding{
			ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, UID: p.UID},
			Target:     corev1.ObjectReference{Kind: "Node", Name: "node-1"},
		}, metav1.CreateOptions{})
	case (p.Status.Phase == "" || p.Status.Phase == corev1.PodPending) && !held:
		now := metav1.Now()
		q := p.DeepCopy()
		q.Status.Phase = corev1.PodRunning
		q.Status.Conditions = []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
		}
		if _, err := pods.UpdateStatus(ctx, q, metav1.UpdateOptions{}); err == nil {
			k.record("ready " + p.Name)
		}
	}
}

// eventually polls cond every 25ms until it holds or 20s pass.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		ok, msg := cond()
		if ok {
			return
		}
		last = msg
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; last: %s", what, last)
}

func podImages(t *testing.T, client kubernetes.Interface, selector string) map[string]string {
	t.Helper()
	list, err := client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
			out[p.Name] = p.Spec.Containers[0].Image
		}
	}
	return out
}

// before asserts that a occurs in log before b.
func before(t *testing.T, log []string, a, b string) {
	t.Helper()
	ia, ib := slices.Index(log, a), slices.Index(log, b)
	if ia < 0 || ib < 0 || ia > ib {
		t.Errorf("want %q before %q in %v", a, b, log)
	}
}

const webSTS = `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  serviceName: web
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: web:1
        volumeMounts: [{name: data, mountPath: /data}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
`

func TestStatefulSetOrderedCreateScaleDownAndClaims(t *testing.T) {
	s := testenv.Start(t)
	k := startFakeKubelet(t, s.Client)
	startController(t, s)
	ctx := context.Background()

	// While web-0 is not Ready, web-1 must not be created.
	k.hold(true)
	s.MustKubectl(t, webSTS, "apply", "-f", "-")
	eventually(t, "web-0 created", func() (bool, string) {
		_, err := s.Client.CoreV1().Pods("default").Get(ctx, "web-0", metav1.GetOptions{})
		return err == nil, fmt.Sprint(err)
	})
	time.Sleep(300 * time.Millisecond) // give a wrong controller the chance to create web-1
	if _, err := s.Client.CoreV1().Pods("default").Get(ctx, "web-1", metav1.GetOptions{}); err == nil {
		t.Fatalf("web-1 created while web-0 is not Ready")
	}
	k.hold(false)

	out := s.MustKubectl(t, "", "rollout", "status", "sts/web", "--timeout=30s")
	if !strings.Contains(out, "3 new pods have been updated") {
		t.Fatalf("rollout status: %s", out)
	}
	log := k.events()
	before(t, log, "ready web-0", "create web-1")
	before(t, log, "ready web-1", "create web-2")

	for i := range 3 {
		name := fmt.Sprintf("web-%d", i)
		pod, err := s.Client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if pod.Spec.Hostname != name || pod.Spec.Subdomain != "web" {
			t.Errorf("%s hostname/subdomain = %q/%q", name, pod.Spec.Hostname, pod.Spec.Subdomain)
		}
		if pod.Labels["statefulset.kubernetes.io/pod-name"] != name || pod.Labels["apps.kubernetes.io/pod-index"] != fmt.Sprint(i) ||
			!strings.HasPrefix(pod.Labels["controller-revision-hash"], "web-") {
			t.Errorf("%s labels = %v", name, pod.Labels)
		}
		claim := "data-" + name
		if len(pod.Spec.Volumes) == 0 || pod.Spec.Volumes[0].Name != "data" || pod.Spec.Volumes[0].PersistentVolumeClaim == nil ||
			pod.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != claim {
			t.Errorf("%s volumes = %+v, want data -> claim %s", name, pod.Spec.Volumes, claim)
		}
		pvc, err := s.Client.CoreV1().PersistentVolumeClaims("default").Get(ctx, claim, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("claim %s: %v", claim, err)
		}
		if pvc.Labels["app"] != "web" || len(pvc.OwnerReferences) != 0 || pvc.CreationTimestamp.After(pod.CreationTimestamp.Time) {
			t.Errorf("claim %s: labels %v, owners %v, created %v (pod %v)", claim, pvc.Labels, pvc.OwnerReferences, pvc.CreationTimestamp, pod.CreationTimestamp)
		}
	}

	// Scale down: reverse order, one at a time; claims stay (Retain).
	s.MustKubectl(t, "", "scale", "sts/web", "--replicas=1")
	eventually(t, "scaled to 1", func() (bool, string) {
		imgs := podImages(t, s.Client, "app=web")
		ss, _ := s.Client.AppsV1().StatefulSets("default").Get(ctx, "web", metav1.GetOptions{})
		return len(imgs) == 1 && imgs["web-0"] != "" && ss.Status.Replicas == 1 && ss.Status.ReadyReplicas == 1, fmt.Sprint(imgs, ss.Status)
	})
	log = k.events()
	before(t, log, "gone web-2", "delete web-1")
	claims, err := s.Client.CoreV1().PersistentVolumeClaims("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil || len(claims.Items) != 3 {
		t.Fatalf("claims after scale-down: %v %v, want all 3 retained", claims, err)
	}
	out = s.MustKubectl(t, "", "get", "events", "--field-selector", "involvedObject.name=web")
	if !strings.Contains(out, "SuccessfulCreate") || !strings.Contains(out, "SuccessfulDelete") {
		t.Errorf("events:\n%s", out)
	}
}

const dbSTS = `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 3
  selector: {matchLabels: {app: db}}
  updateStrategy:
    type: RollingUpdate
    rollingUpdate: {partition: 2}
  template:
    metadata: {labels: {app: db}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{name: db, image: db:1}]
`

func TestStatefulSetRollingUpdatePartitionHistoryUndo(t *testing.T) {
	s := testenv.Start(t)
	k := startFakeKubelet(t, s.Client)
	startController(t, s)
	ctx := context.Background()

	s.MustKubectl(t, dbSTS, "apply", "-f", "-")
	s.MustKubectl(t, "", "rollout", "status", "sts/db", "--timeout=30s")
	s.MustKubectl(t, "", "set", "image", "sts/db", "db=db:2")
	out := s.MustKubectl(t, "", "rollout", "status", "sts/db", "--timeout=30s")
	if !strings.Contains(out, "partitioned roll out complete: 1 new pods have been updated") {
		t.Fatalf("rollout status with partition 2: %s", out)
	}
	eventually(t, "only db-2 updated", func() (bool, string) {
		imgs := podImages(t, s.Client, "app=db")
		return imgs["db-0"] == "db:1" && imgs["db-1"] == "db:1" && imgs["db-2"] == "db:2", fmt.Sprint(imgs)
	})
	ss, err := s.Client.AppsV1().StatefulSets("default").Get(ctx, "db", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ss.Status.CurrentRevision == ss.Status.UpdateRevision || ss.Status.UpdatedReplicas != 1 || ss.Status.CurrentReplicas != 2 {
		t.Errorf("status during partitioned rollout = %+v", ss.Status)
	}

	mark := len(k.events())
	s.MustKubectl(t, "", "patch", "sts/db", "-p", `{"spec":{"updateStrategy":{"rollingUpdate":{"partition":0}}}}`)
	s.MustKubectl(t, "", "rollout", "status", "sts/db", "--timeout=30s")
	eventually(t, "all updated and current revision advanced", func() (bool, string) {
		imgs := podImages(t, s.Client, "app=db")
		ss, _ := s.Client.AppsV1().StatefulSets("default").Get(ctx, "db", metav1.GetOptions{})
		return len(imgs) == 3 && imgs["db-0"] == "db:2" && imgs["db-1"] == "db:2" && imgs["db-2"] == "db:2" &&
			ss.Status.CurrentRevision == ss.Status.UpdateRevision && ss.Status.CurrentReplicas == 3, fmt.Sprint(imgs, ss.Status)
	})
	log := k.events()[mark:]
	before(t, log, "ready db-1", "delete db-0")

	out = s.MustKubectl(t, "", "rollout", "history", "sts/db")
	if !strings.Contains(out, "REVISION") || !strings.Contains(out, "\n1 ") || !strings.Contains(out, "\n2 ") {
		t.Fatalf("rollout history:\n%s", out)
	}
	out = s.MustKubectl(t, "", "rollout", "undo", "sts/db")
	if !strings.Contains(out, "rolled back") {
		t.Fatalf("rollout undo: %s", out)
	}
	s.MustKubectl(t, "", "rollout", "status", "sts/db", "--timeout=30s")
	eventually(t, "rolled back to db:1", func() (bool, string) {
		imgs := podImages(t, s.Client, "app=db")
		return len(imgs) == 3 && imgs["db-0"] == "db:1" && imgs["db-1"] == "db:1" && imgs["db-2"] == "db:1", fmt.Sprint(imgs)
	})
	out = s.MustKubectl(t, "", "rollout", "history", "sts/db")
	if !strings.Contains(out, "\n3 ") || strings.Contains(out, "\n1 ") {
		t.Errorf("history after undo should renumber revision 1 as 3:\n%s", out)
	}
}

const parSTS = `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: par}
spec:
  serviceName: par
  replicas: 3
  ordinals: {start: 5}
  podManagementPolicy: Parallel
  persistentVolumeClaimRetentionPolicy: {whenDeleted: Delete, whenScaled: Delete}
  selector: {matchLabels: {app: par}}
  template:
    metadata: {labels: {app: par}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{name: par, image: par:1}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
`

func TestStatefulSetParallelOrdinalsRetentionAndFailedPod(t *testing.T) {
	s := testenv.Start(t)
	k := startFakeKubelet(t, s.Client)
	startController(t, s)
	ctx := context.Background()

	// Parallel does not wait for readiness.
	k.hold(true)
	s.MustKubectl(t, parSTS, "apply", "-f", "-")
	eventually(t, "all three pods created without readiness", func() (bool, string) {
		list, _ := s.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=par"})
		var names []string
		for _, p := range list.Items {
			names = append(names, p.Name)
		}
		slices.Sort(names)
		return slices.Equal(names, []string{"par-5", "par-6", "par-7"}), fmt.Sprint(names)
	})
	k.hold(false)
	s.MustKubectl(t, "", "rollout", "status", "sts/par", "--timeout=30s")

	ss, err := s.Client.AppsV1().StatefulSets("default").Get(ctx, "par", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []int{5, 6, 7} {
		pvc, err := s.Client.CoreV1().PersistentVolumeClaims("default").Get(ctx, fmt.Sprintf("data-par-%d", o), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(pvc.OwnerReferences) != 1 || pvc.OwnerReferences[0].UID != ss.UID || pvc.OwnerReferences[0].Kind != "StatefulSet" {
			t.Errorf("claim %s owners = %+v, want the StatefulSet (whenDeleted: Delete)", pvc.Name, pvc.OwnerReferences)
		}
	}

	// A failed pod is recreated under the same name.
	failed, err := s.Client.CoreV1().Pods("default").Get(ctx, "par-6", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	failed.Status.Phase = corev1.PodFailed
	if _, err := s.Client.CoreV1().Pods("default").UpdateStatus(ctx, failed, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "par-6 recreated", func() (bool, string) {
		p, err := s.Client.CoreV1().Pods("default").Get(ctx, "par-6", metav1.GetOptions{})
		return err == nil && p.UID != failed.UID && p.Status.Phase == corev1.PodRunning, fmt.Sprint(err)
	})

	// Scaling down hands the condemned pods' claims to the pods
	// (whenScaled: Delete), so the garbage collector deletes them along.
	s.MustKubectl(t, "", "scale", "sts/par", "--replicas=1")
	eventually(t, "scaled to par-5 only", func() (bool, string) {
		imgs := podImages(t, s.Client, "app=par")
		return len(imgs) == 1 && imgs["par-5"] != "", fmt.Sprint(imgs)
	})
	for _, o := range []int{6, 7} {
		pvc, err := s.Client.CoreV1().PersistentVolumeClaims("default").Get(ctx, fmt.Sprintf("data-par-%d", o), metav1.GetOptions{})
		if err != nil {
			continue // already collected
		}
		if len(pvc.OwnerReferences) != 1 || pvc.OwnerReferences[0].Kind != "Pod" || pvc.OwnerReferences[0].Name != fmt.Sprintf("par-%d", o) {
			t.Errorf("claim %s owners = %+v, want its pod", pvc.Name, pvc.OwnerReferences)
		}
	}
}
