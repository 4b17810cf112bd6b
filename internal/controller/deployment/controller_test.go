package deployment_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"github.com/gureum/gureum/internal/controller/deployment"
	"github.com/gureum/gureum/internal/controller/replicaset"
	"github.com/gureum/gureum/internal/testenv"
	"github.com/gureum/gureum/internal/testenv/fakekubelet"
)

// startController runs the Deployment controller, and the ReplicaSet
// controller it depends on, against s until the test ends.
func startController(t *testing.T, s *testenv.Server) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := informers.NewSharedInformerFactory(s.Client, 0)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	dc := deployment.New(s.Client, f, clock.RealClock{}, log)
	rc := replicaset.New(s.Client, f, clock.RealClock{}, log)
	done := make(chan struct{}, 2)
	go func() { _ = dc.Run(ctx); done <- struct{}{} }()
	go func() { _ = rc.Run(ctx); done <- struct{}{} }()
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

const webManifest = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "web:1"}]
`

func getDeploy(t *testing.T, s *testenv.Server, name string) *appsv1.Deployment {
	t.Helper()
	d, err := s.Client.AppsV1().Deployments("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get deployment %s: %v", name, err)
	}
	return d
}

func ownedReplicaSets(t *testing.T, s *testenv.Server, d *appsv1.Deployment) []appsv1.ReplicaSet {
	t.Helper()
	l, err := s.Client.AppsV1().ReplicaSets("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []appsv1.ReplicaSet
	for _, rs := range l.Items {
		if ref := metav1.GetControllerOf(&rs); ref != nil && ref.UID == d.UID {
			out = append(out, rs)
		}
	}
	return out
}

func rolloutStatus(t *testing.T, s *testenv.Server, name string) string {
	t.Helper()
	out := s.MustKubectl(t, "", "rollout", "status", "deployment/"+name, "--timeout=30s")
	if !strings.Contains(out, fmt.Sprintf("deployment %q successfully rolled out", name)) {
		t.Fatalf("rollout status:\n%s", out)
	}
	return out
}

func activePodImages(t *testing.T, s *testenv.Server, selector string) map[string]int {
	t.Helper()
	l, err := s.Client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, p := range l.Items {
		if p.DeletionTimestamp == nil {
			out[p.Spec.Containers[0].Image]++
		}
	}
	return out
}

func hasFields(out string, want ...string) bool {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < len(want) {
			continue
		}
		ok := true
		for i, w := range want {
			ok = ok && f[i] == w
		}
		if ok {
			return true
		}
	}
	return false
}

func TestDeploymentCreatesHashedReplicaSetAndRollsOut(t *testing.T) {
	s := testenv.Start(t)
	startController(t, s)
	fakekubelet.Start(t, s.Client)

	s.MustKubectl(t, webManifest, "apply", "-f", "-")
	rolloutStatus(t, s, "web")

	d := getDeploy(t, s, "web")
	st := d.Status
	if st.ObservedGeneration != d.Generation || st.Replicas != 3 || st.UpdatedReplicas != 3 || st.ReadyReplicas != 3 || st.AvailableReplicas != 3 || st.UnavailableReplicas != 0 {
		t.Errorf("status = %+v", st)
	}
	if c := deployment.GetCondition(st, appsv1.DeploymentAvailable); c == nil || c.Status != corev1.ConditionTrue || c.Reason != "MinimumReplicasAvailable" {
		t.Errorf("Available condition = %+v", c)
	}
	if c := deployment.GetCondition(st, appsv1.DeploymentProgressing); c == nil || c.Status != corev1.ConditionTrue || c.Reason != "NewReplicaSetAvailable" {
		t.Errorf("Progressing condition = %+v", c)
	}
	if d.Annotations[deployment.RevisionAnnotation] != "1" {
		t.Errorf("deployment revision annotation = %q", d.Annotations[deployment.RevisionAnnotation])
	}

	rss := ownedReplicaSets(t, s, d)
	if len(rss) != 1 {
		t.Fatalf("replicasets = %d, want 1", len(rss))
	}
	rs := rss[0]
	hash := deployment.ComputeHash(&d.Spec.Template, nil)
	if rs.Name != "web-"+hash || rs.Labels["pod-template-hash"] != hash || rs.Spec.Selector.MatchLabels["pod-template-hash"] != hash ||
		rs.Spec.Template.Labels["pod-template-hash"] != hash {
		t.Errorf("replicaset %s labels %v selector %v: want hash %s everywhere", rs.Name, rs.Labels, rs.Spec.Selector, hash)
	}
	for k, want := range map[string]string{deployment.RevisionAnnotation: "1", deployment.DesiredReplicasAnnotation: "3", deployment.MaxReplicasAnnotation: "4"} {
		if rs.Annotations[k] != want {
			t.Errorf("replicaset annotation %s = %q, want %q", k, rs.Annotations[k], want)
		}
	}
	if ref := metav1.GetControllerOf(&rs); ref == nil || ref.Kind != "Deployment" || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
		t.Errorf("replicaset owner = %+v", rs.OwnerReferences)
	}

	out := s.MustKubectl(t, "", "get", "deploy", "web")
	if !hasFields(out, "web", "3/3", "3", "3") {
		t.Errorf("kubectl get deploy:\n%s", out)
	}
	out = s.MustKubectl(t, "", "get", "rs", "-l", "app=web")
	if !hasFields(out, "web-"+hash, "3", "3", "3") {
		t.Errorf("kubectl get rs:\n%s", out)
	}
	pods, err := s.Client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: "pod-template-hash=" + hash})
	if err != nil || len(pods.Items) != 3 {
		t.Fatalf("pods with hash label: %v %v", len(pods.Items), err)
	}
}

func TestDeploymentRollingUpdateHistoryAndUndo(t *testing.T) {
	s := testenv.Start(t)
	startController(t, s)
	fakekubelet.Start(t, s.Client)

	s.MustKubectl(t, webManifest, "apply", "-f", "-")
	s.MustKubectl(t, "", "annotate", "deployment/web", "kubernetes.io/change-cause=first")
	rolloutStatus(t, s, "web")

	// Watch the pods during the update to check the surge and
	// unavailability limits (25% of 3: surge 1, unavailable 0).
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	violations := make(chan string, 100)
	go watchLimits(ctx, t, s, "app=web", 3+1, 3-0, violations)
	go watchSurge(ctx, s, "app=web", 3+1, violations)

	s.MustKubectl(t, "", "set", "image", "deployment/web", "web=web:2")
	s.MustKubectl(t, "", "annotate", "deployment/web", "kubernetes.io/change-cause=bump to 2", "--overwrite")
	rolloutStatus(t, s, "web")
	if got := activePodImages(t, s, "app=web"); got["web:2"] != 3 || len(got) != 1 {
		t.Errorf("pod images after update = %v", got)
	}
	cancel()
	for len(violations) > 0 {
		t.Error(<-violations)
	}

	out := s.MustKubectl(t, "", "rollout", "history", "deployment/web")
	if !hasFields(out, "1", "first") || !hasFields(out, "2", "bump", "to", "2") {
		t.Errorf("rollout history:\n%s", out)
	}

	out = s.MustKubectl(t, "", "rollout", "undo", "deployment/web")
	if !strings.Contains(out, "rolled back") {
		t.Errorf("rollout undo: %s", out)
	}
	rolloutStatus(t, s, "web")
	if got := activePodImages(t, s, "app=web"); got["web:1"] != 3 || len(got) != 1 {
		t.Errorf("pod images after undo = %v", got)
	}
	d := getDeploy(t, s, "web")
	if d.Annotations[deployment.RevisionAnnotation] != "3" {
		t.Errorf("deployment revision after undo = %q, want 3", d.Annotations[deployment.RevisionAnnotation])
	}
	var reused *appsv1.ReplicaSet
	for _, rs := range ownedReplicaSets(t, s, d) {
		if rs.Spec.Template.Spec.Containers[0].Image == "web:1" {
			reused = &rs
		}
	}
	if reused == nil || reused.Annotations[deployment.RevisionAnnotation] != "3" || reused.Annotations[deployment.RevisionHistoryAnnotation] != "1" {
		t.Fatalf("rolled-back replicaset annotations = %v", reused)
	}
	out = s.MustKubectl(t, "", "rollout", "history", "deployment/web")
	if !hasFields(out, "2") || !hasFields(out, "3", "first") || hasFields(out, "1", "first") {
		t.Errorf("rollout history after undo:\n%s", out)
	}
	out = s.MustKubectl(t, "", "rollout", "history", "deployment/web", "--revision=3")
	if !strings.Contains(out, "web:1") {
		t.Errorf("rollout history --revision=3:\n%s", out)
	}
	out = s.MustKubectl(t, "", "rollout", "undo", "deployment/web", "--to-revision=2")
	rolloutStatus(t, s, "web")
	if got := activePodImages(t, s, "app=web"); got["web:2"] != 3 || len(got) != 1 {
		t.Errorf("pod images after undo to 2 = %v (%s)", got, out)
	}
}

// watchLimits reports moments when more than maxTotal pods exist or fewer
// than minAvailable of them are ready.
// watchSurge checks maxSurge where the controller applies it, as
// Kubernetes does: the ReplicaSets' sizes together never exceed
// maxTotal. (Pods can for a moment: a scaled-down ReplicaSet's pod is
// deleted by its own controller while the new one already creates.)
func watchSurge(ctx context.Context, s *testenv.Server, selector string, maxTotal int32, violations chan<- string) {
	w, err := s.Client.AppsV1().ReplicaSets("default").Watch(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		violations <- fmt.Sprintf("watch replicasets: %v", err)
		return
	}
	defer w.Stop()
	sizes := map[string]int32{}
	for ev := range w.ResultChan() {
		rs, ok := ev.Object.(*appsv1.ReplicaSet)
		if !ok {
			continue
		}
		if ev.Type == watch.Deleted {
			delete(sizes, rs.Name)
		} else {
			sizes[rs.Name] = ptr.Deref(rs.Spec.Replicas, 1)
		}
		var total int32
		for _, n := range sizes {
			total += n
		}
		if total > maxTotal {
			violations <- fmt.Sprintf("replicasets sized %v, %d in all, more than %d", sizes, total, maxTotal)
		}
	}
}

// watchLimits checks the pods: never fewer than minAvailable ready, and
// never more than maxTotal plus the one a scaled-down ReplicaSet may not
// have deleted yet (watchSurge checks the sizes themselves).
func watchLimits(ctx context.Context, t *testing.T, s *testenv.Server, selector string, maxTotal, minAvailable int, violations chan<- string) {
	w, err := s.Client.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		violations <- fmt.Sprintf("watch pods: %v", err)
		return
	}
	defer w.Stop()
	pods := map[string]*corev1.Pod{}
	for ev := range w.ResultChan() {
		p, ok := ev.Object.(*corev1.Pod)
		if !ok {
			continue
		}
		if ev.Type == watch.Deleted {
			delete(pods, p.Name)
		} else {
			pods[p.Name] = p
		}
		total, ready := 0, 0
		for _, p := range pods {
			if p.DeletionTimestamp != nil {
				continue
			}
			total++
			if replicaset.IsPodReady(p) {
				ready++
			}
		}
		if total > maxTotal+1 {
			violations <- fmt.Sprintf("%d pods exist, more than %d+1", total, maxTotal)
		}
		// Only judge availability once the initial pods are all listed.
		if len(pods) >= minAvailable && ready < minAvailable {
			violations <- fmt.Sprintf("%d pods ready, fewer than %d", ready, minAvailable)
		}
	}
}

func TestDeploymentRestartPauseResumeScaleAndHistoryLimit(t *testing.T) {
	s := testenv.Start(t)
	startController(t, s)
	fakekubelet.Start(t, s.Client)

	s.MustKubectl(t, webManifest, "apply", "-f", "-")
	rolloutStatus(t, s, "web")

	s.MustKubectl(t, "", "rollout", "restart", "deployment/web")
	rolloutStatus(t, s, "web")
	d := getDeploy(t, s, "web")
	if d.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"] == "" {
		t.Fatalf("restart did not annotate the template: %v", d.Spec.Template.Annotations)
	}
	if d.Annotations[deployment.RevisionAnnotation] != "2" {
		t.Errorf("revision after restart = %q", d.Annotations[deployment.RevisionAnnotation])
	}
	l, _ := s.Client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: "app=web"})
	for _, p := range l.Items {
		if p.DeletionTimestamp == nil && p.Annotations["kubectl.kubernetes.io/restartedAt"] == "" {
			t.Errorf("pod %s survived the restart", p.Name)
		}
	}

	s.MustKubectl(t, "", "rollout", "pause", "deployment/web")
	s.MustKubectl(t, "", "set", "image", "deployment/web", "web=web:3")
	eventually(t, "paused condition", func() error {
		d := getDeploy(t, s, "web")
		c := deployment.GetCondition(d.Status, appsv1.DeploymentProgressing)
		if c == nil || c.Reason != "DeploymentPaused" || c.Status != corev1.ConditionUnknown || d.Status.ObservedGeneration != d.Generation {
			return fmt.Errorf("progressing %+v, observed %d of %d", c, d.Status.ObservedGeneration, d.Generation)
		}
		return nil
	})
	// Scaling still works while paused; the rollout does not.
	s.MustKubectl(t, "", "scale", "deployment/web", "--replicas=4")
	eventually(t, "scale while paused", func() error {
		if got := activePodImages(t, s, "app=web"); got["web:1"] != 4 || len(got) != 1 {
			return fmt.Errorf("images %v", got)
		}
		return nil
	})
	if out, err := s.Kubectl(t, "", "rollout", "undo", "deployment/web"); err == nil || !strings.Contains(out, "paused") {
		t.Errorf("undo of a paused deployment: err=%v out=%s", err, out)
	}

	s.MustKubectl(t, "", "rollout", "resume", "deployment/web")
	rolloutStatus(t, s, "web")
	if got := activePodImages(t, s, "app=web"); got["web:3"] != 4 || len(got) != 1 {
		t.Errorf("images after resume = %v", got)
	}

	// With the limit set only now, the undo above found history to refuse
	// on (as on Kubernetes, a limit of 1 while paused would already have
	// trimmed revision 1 and kubectl would report no history instead).
	s.MustKubectl(t, "", "patch", "deployment/web", "-p", `{"spec":{"revisionHistoryLimit":1}}`)
	s.MustKubectl(t, "", "scale", "deployment/web", "--replicas=6")
	rolloutStatus(t, s, "web")
	s.MustKubectl(t, "", "scale", "deployment/web", "--replicas=1")
	rolloutStatus(t, s, "web")
	if got := activePodImages(t, s, "app=web"); got["web:3"] != 1 || len(got) != 1 {
		t.Errorf("images after scale to 1 = %v", got)
	}
	// revisionHistoryLimit 1: the current ReplicaSet and one old one.
	eventually(t, "history trimmed", func() error {
		if n := len(ownedReplicaSets(t, s, getDeploy(t, s, "web"))); n != 2 {
			return fmt.Errorf("%d replicasets", n)
		}
		return nil
	})
}

func TestDeploymentRecreateStopsOldPodsFirst(t *testing.T) {
	s := testenv.Start(t)
	startController(t, s)
	fakekubelet.Start(t, s.Client)

	s.MustKubectl(t, strings.Replace(webManifest, "replicas: 3", "replicas: 3\n  strategy: {type: Recreate}", 1), "apply", "-f", "-")
	rolloutStatus(t, s, "web")
	oldHash := getDeploy(t, s, "web").Spec.Template.Labels // no hash on the deployment itself
	_ = oldHash

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := s.Client.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	s.MustKubectl(t, "", "set", "image", "deployment/web", "web=web:2")
	rolloutStatus(t, s, "web")
	cancel()

	oldLeft := 3
	for ev := range w.ResultChan() {
		p, ok := ev.Object.(*corev1.Pod)
		if !ok {
			continue
		}
		img := p.Spec.Containers[0].Image
		switch {
		case ev.Type == watch.Deleted && img == "web:1":
			oldLeft--
		case ev.Type == watch.Added && img == "web:2" && oldLeft > 0:
			t.Fatalf("new pod %s created while %d old pods still existed", p.Name, oldLeft)
		}
	}
	if got := activePodImages(t, s, "app=web"); got["web:2"] != 3 || len(got) != 1 {
		t.Errorf("images after recreate = %v", got)
	}
}

func TestDeploymentProgressDeadlineExceeded(t *testing.T) {
	s := testenv.Start(t)
	startController(t, s)
	k := fakekubelet.Start(t, s.Client)
	k.Hold(true)

	s.MustKubectl(t, strings.Replace(webManifest, "replicas: 3", "replicas: 2\n  progressDeadlineSeconds: 1", 1), "apply", "-f", "-")
	out, err := s.Kubectl(t, "", "rollout", "status", "deployment/web", "--timeout=20s")
	if err == nil || !strings.Contains(out, `deployment "web" exceeded its progress deadline`) {
		t.Fatalf("rollout status with unready pods: err=%v\n%s", err, out)
	}
	d := getDeploy(t, s, "web")
	if c := deployment.GetCondition(d.Status, appsv1.DeploymentProgressing); c == nil || c.Status != corev1.ConditionFalse || c.Reason != "ProgressDeadlineExceeded" {
		t.Errorf("Progressing = %+v", c)
	}
	if c := deployment.GetCondition(d.Status, appsv1.DeploymentAvailable); c == nil || c.Status != corev1.ConditionFalse || c.Reason != "MinimumReplicasUnavailable" {
		t.Errorf("Available = %+v", c)
	}
	// Once pods become ready the rollout completes after all.
	k.Hold(false)
	rolloutStatus(t, s, "web")
}

func TestDeploymentAdoptsAndReleasesReplicaSets(t *testing.T) {
	s := testenv.Start(t)
	startController(t, s)
	s.RunGarbageCollector(t) // finishes the orphaning delete
	fakekubelet.Start(t, s.Client)
	ctx := context.Background()

	s.MustKubectl(t, webManifest, "apply", "-f", "-")
	rolloutStatus(t, s, "web")
	d := getDeploy(t, s, "web")
	rs := ownedReplicaSets(t, s, d)[0]

	// Orphan the ReplicaSet by deleting the Deployment with
	// propagationPolicy=Orphan, then recreate it: it adopts the
	// ReplicaSet instead of making a second one.
	s.MustKubectl(t, "", "delete", "deployment", "web", "--cascade=orphan")
	eventually(t, "replicaset orphaned", func() error {
		got, err := s.Client.AppsV1().ReplicaSets("default").Get(ctx, rs.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(got.OwnerReferences) != 0 {
			return fmt.Errorf("owners %v", got.OwnerReferences)
		}
		return nil
	})
	s.MustKubectl(t, webManifest, "apply", "-f", "-")
	rolloutStatus(t, s, "web")
	d = getDeploy(t, s, "web")
	rss := ownedReplicaSets(t, s, d)
	if len(rss) != 1 || rss[0].Name != rs.Name {
		t.Fatalf("after recreate: replicasets %d (want the adopted %s)", len(rss), rs.Name)
	}

	// Relabelling the ReplicaSet out of the selector releases it.
	s.MustKubectl(t, "", "label", "rs", rs.Name, "app=other", "--overwrite")
	eventually(t, "replicaset released", func() error {
		got, err := s.Client.AppsV1().ReplicaSets("default").Get(ctx, rs.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if metav1.GetControllerOf(got) != nil {
			return fmt.Errorf("still owned: %v", got.OwnerReferences)
		}
		return nil
	})
	_ = labels.Everything
}
