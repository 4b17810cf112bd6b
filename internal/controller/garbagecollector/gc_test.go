package garbagecollector_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/utils/clock"

	"github.com/gureum/gureum/internal/controller/garbagecollector"
	"github.com/gureum/gureum/internal/testenv"
)

// startController runs the garbage collector against s until the test
// ends.
func startController(t *testing.T, s *testenv.Server) {
	t.Helper()
	meta, err := metadata.NewForConfig(s.Config)
	if err != nil {
		t.Fatalf("metadata client: %v", err)
	}
	level := slog.LevelWarn
	if os.Getenv("GUREUM_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("component", "garbage-collector")
	gc := garbagecollector.New(meta, s.Client.Discovery(), clock.RealClock{}, log, garbagecollector.WithEvents(s.Client))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("garbage collector: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("garbage collector did not stop")
		}
	})
}

var ctx = context.Background()

func ownerRef(apiVersion, kind string, obj metav1.Object, block bool) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: obj.GetName(), UID: obj.GetUID(), BlockOwnerDeletion: &block}
}

func newNamespace(t *testing.T, s *testenv.Server, name string) string {
	t.Helper()
	if _, err := s.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return name
}

func mkConfigMap(t *testing.T, c kubernetes.Interface, ns, name string, owners ...metav1.OwnerReference) *corev1.ConfigMap {
	t.Helper()
	cm, err := c.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, OwnerReferences: owners}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create configmap %s: %v", name, err)
	}
	return cm
}

func mkSecret(t *testing.T, c kubernetes.Interface, ns, name string, finalizers []string, owners ...metav1.OwnerReference) *corev1.Secret {
	t.Helper()
	sec, err := c.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, OwnerReferences: owners, Finalizers: finalizers}, StringData: map[string]string{"k": "v"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create secret %s: %v", name, err)
	}
	return sec
}

func podTemplate(app string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "web:1"}}},
	}
}

func mkDeployment(t *testing.T, c kubernetes.Interface, ns, name string, owners ...metav1.OwnerReference) *appsv1.Deployment {
	t.Helper()
	d, err := c.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, OwnerReferences: owners},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: podTemplate(name),
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create deployment %s: %v", name, err)
	}
	return d
}

func mkReplicaSet(t *testing.T, c kubernetes.Interface, ns, name string, finalizers []string, owners ...metav1.OwnerReference) *appsv1.ReplicaSet {
	t.Helper()
	rs, err := c.AppsV1().ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, OwnerReferences: owners, Finalizers: finalizers},
		Spec: appsv1.ReplicaSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: podTemplate(name),
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create replicaset %s: %v", name, err)
	}
	return rs
}

func mkRC(t *testing.T, c kubernetes.Interface, ns, name string) *corev1.ReplicationController {
	t.Helper()
	zero := int32(0)
	tpl := podTemplate(name)
	rc, err := c.CoreV1().ReplicationControllers(ns).Create(ctx, &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.ReplicationControllerSpec{Replicas: &zero, Selector: map[string]string{"app": name}, Template: &tpl},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create rc %s: %v", name, err)
	}
	return rc
}

func mkPod(t *testing.T, c kubernetes.Interface, ns, name string, finalizers []string, owners ...metav1.OwnerReference) *corev1.Pod {
	t.Helper()
	p, err := c.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, OwnerReferences: owners, Finalizers: finalizers},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "web:1"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s: %v", name, err)
	}
	return p
}

// eventually polls cond every 25ms until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		ok, detail := cond()
		if ok {
			return
		}
		last = detail
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %v: %s", what, timeout, last)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// never checks that cond stays false for d.
func never(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if ok, detail := cond(); ok {
			t.Fatalf("%s: %s", what, detail)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// gone reports whether the object of a kind (as kubectl names it) is
// deleted.
func gone(t *testing.T, s *testenv.Server, ns, kind, name string) func() (bool, string) {
	return func() (bool, string) {
		var err error
		switch kind {
		case "configmap":
			_, err = s.Client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
		case "secret":
			_, err = s.Client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		case "deployment":
			_, err = s.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		case "replicaset":
			_, err = s.Client.AppsV1().ReplicaSets(ns).Get(ctx, name, metav1.GetOptions{})
		case "pod":
			_, err = s.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		case "rc":
			_, err = s.Client.CoreV1().ReplicationControllers(ns).Get(ctx, name, metav1.GetOptions{})
		default:
			t.Fatalf("unknown kind %s", kind)
		}
		if apierrors.IsNotFound(err) {
			return true, ""
		}
		return false, fmt.Sprintf("%s %s/%s still exists (err %v)", kind, ns, name, err)
	}
}

func allGone(t *testing.T, s *testenv.Server, ns string, objs ...string) func() (bool, string) {
	return func() (bool, string) {
		for _, o := range objs {
			kind, name, _ := strings.Cut(o, "/")
			if ok, detail := gone(t, s, ns, kind, name)(); !ok {
				return false, detail
			}
		}
		return true, ""
	}
}

// TestGarbageCollector runs every scenario against one server and one
// collector, each in its own namespace, in parallel: as in a cluster,
// they must not disturb each other.
func TestGarbageCollector(t *testing.T) {
	s := testenv.Start(t)
	startController(t, s)
	for _, tc := range []struct {
		name string
		run  func(*testing.T, *testenv.Server)
	}{
		{"KubectlDeleteCascadeBackground", testKubectlDeleteCascadeBackground},
		{"KubectlDeleteCascadeForegroundKeepsOwnerUntilDependentsGo", testKubectlDeleteCascadeForegroundKeepsOwnerUntilDependentsGo},
		{"KubectlDeleteCascadeOrphan", testKubectlDeleteCascadeOrphan},
		{"DanglingOwnerAtCreation", testDanglingOwnerAtCreation},
		{"TwoOwnersOneDeletedRemovesOnlyThatReference", testTwoOwnersOneDeletedRemovesOnlyThatReference},
		{"ConformanceDeletePodsCreatedByRCWhenNotOrphaning", testConformanceDeletePodsCreatedByRCWhenNotOrphaning},
		{"ConformanceOrphanPodsCreatedByRC", testConformanceOrphanPodsCreatedByRC},
		{"ConformanceKeepRCUntilAllPodsDeleted", testConformanceKeepRCUntilAllPodsDeleted},
		{"ConformanceNotBlockedByDependencyCircle", testConformanceNotBlockedByDependencyCircle},
		{"ConformanceKeepDependentsWithValidOwnerAndWaitingOwner", testConformanceKeepDependentsWithValidOwnerAndWaitingOwner},
		{"InvalidOwnerReferences", testInvalidOwnerReferences},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, s)
		})
	}
}

// family creates a ConfigMap "owner" with dependents of several kinds: a
// ConfigMap, a Secret, a Deployment, and a ReplicaSet owned by the
// Deployment, as a Deployment controller would make it.
func family(t *testing.T, s *testenv.Server, ns string, rsFinalizers []string) *corev1.ConfigMap {
	t.Helper()
	c := s.Client
	owner := mkConfigMap(t, c, ns, "owner")
	ref := ownerRef("v1", "ConfigMap", owner, true)
	mkConfigMap(t, c, ns, "dep-cm", ref)
	mkSecret(t, c, ns, "dep-secret", nil, ref)
	d := mkDeployment(t, c, ns, "dep-deploy", ref)
	ctrl := true
	rsRef := ownerRef("apps/v1", "Deployment", d, true)
	rsRef.Controller = &ctrl
	mkReplicaSet(t, c, ns, "dep-rs", rsFinalizers, rsRef)
	return owner
}

var familyMembers = []string{"configmap/dep-cm", "secret/dep-secret", "deployment/dep-deploy", "replicaset/dep-rs"}

func testKubectlDeleteCascadeBackground(t *testing.T, s *testenv.Server) {
	ns := newNamespace(t, s, "bg")
	family(t, s, ns, nil)
	out := s.MustKubectl(t, "", "delete", "configmap", "owner", "-n", ns, "--cascade=background")
	if !strings.Contains(out, `configmap "owner" deleted`) {
		t.Fatalf("kubectl delete: %s", out)
	}
	eventually(t, 10*time.Second, "dependents deleted", allGone(t, s, ns, familyMembers...))
}

func testKubectlDeleteCascadeForegroundKeepsOwnerUntilDependentsGo(t *testing.T, s *testenv.Server) {
	ns := newNamespace(t, s, "fg")
	// The grandchild ReplicaSet lingers on a finalizer, as pods linger
	// on their grace period in a real cluster.
	family(t, s, ns, []string{"example.com/hold"})
	s.MustKubectl(t, "", "delete", "configmap", "owner", "-n", ns, "--cascade=foreground", "--wait=false")

	eventually(t, 10*time.Second, "direct dependents without dependents deleted", allGone(t, s, ns, "configmap/dep-cm", "secret/dep-secret"))
	eventually(t, 10*time.Second, "replicaset being deleted", func() (bool, string) {
		rs, err := s.Client.AppsV1().ReplicaSets(ns).Get(ctx, "dep-rs", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return rs.DeletionTimestamp != nil, "no deletionTimestamp"
	})
	// The Deployment has a dependent of its own, so it goes in the
	// foreground too, and both it and the owner wait for the ReplicaSet.
	never(t, 500*time.Millisecond, "owner or deployment went before the replicaset", func() (bool, string) {
		owner, err := s.Client.CoreV1().ConfigMaps(ns).Get(ctx, "owner", metav1.GetOptions{})
		if err != nil {
			return true, "owner: " + err.Error()
		}
		if owner.DeletionTimestamp == nil || !slices.Contains(owner.Finalizers, metav1.FinalizerDeleteDependents) {
			return true, fmt.Sprintf("owner not waiting for dependents: %+v", owner.ObjectMeta)
		}
		d, err := s.Client.AppsV1().Deployments(ns).Get(ctx, "dep-deploy", metav1.GetOptions{})
		if err != nil {
			return true, "deployment: " + err.Error()
		}
		if d.DeletionTimestamp == nil || !slices.Contains(d.Finalizers, metav1.FinalizerDeleteDependents) {
			return true, fmt.Sprintf("deployment not deleted in the foreground: %+v", d.ObjectMeta)
		}
		return false, ""
	})
	out := s.MustKubectl(t, "", "get", "configmap", "owner", "-n", ns, "-o", "jsonpath={.metadata.finalizers}")
	if !strings.Contains(out, "foregroundDeletion") {
		t.Fatalf("kubectl get owner finalizers: %s", out)
	}

	s.MustKubectl(t, `{"metadata":{"finalizers":null}}`, "patch", "replicaset", "dep-rs", "-n", ns, "--type=merge", "--patch-file=/dev/stdin")
	eventually(t, 10*time.Second, "owner deleted after its dependents", allGone(t, s, ns, append(familyMembers, "configmap/owner")...))
}

func testKubectlDeleteCascadeOrphan(t *testing.T, s *testenv.Server) {
	ns := newNamespace(t, s, "orphan")
	owner := family(t, s, ns, nil)
	s.MustKubectl(t, "", "delete", "configmap", "owner", "-n", ns, "--cascade=orphan")
	eventually(t, 10*time.Second, "owner deleted", gone(t, s, ns, "configmap", "owner"))

	check := func() (bool, string) {
		refs := map[string][]metav1.OwnerReference{}
		cm, err := s.Client.CoreV1().ConfigMaps(ns).Get(ctx, "dep-cm", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		refs["configmap"] = cm.OwnerReferences
		sec, err := s.Client.CoreV1().Secrets(ns).Get(ctx, "dep-secret", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		refs["secret"] = sec.OwnerReferences
		d, err := s.Client.AppsV1().Deployments(ns).Get(ctx, "dep-deploy", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		refs["deployment"] = d.OwnerReferences
		for k, r := range refs {
			if len(r) != 0 {
				return false, fmt.Sprintf("%s still has ownerReferences %v", k, r)
			}
		}
		rs, err := s.Client.AppsV1().ReplicaSets(ns).Get(ctx, "dep-rs", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		if len(rs.OwnerReferences) != 1 || rs.OwnerReferences[0].Kind != "Deployment" {
			return false, fmt.Sprintf("replicaset lost its Deployment owner: %v", rs.OwnerReferences)
		}
		return true, ""
	}
	eventually(t, 10*time.Second, "dependents kept without the reference", check)
	// And the collector leaves them alone afterwards.
	never(t, 300*time.Millisecond, "orphans collected", func() (bool, string) {
		ok, detail := check()
		return !ok, detail
	})
	_ = owner
}

func testDanglingOwnerAtCreation(t *testing.T, s *testenv.Server) {
	ns := newNamespace(t, s, "dangling")
	// An owner that never existed.
	mkConfigMap(t, s.Client, ns, "orphaned", metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "nobody", UID: "00000000-0000-0000-0000-000000000001"})
	// An owner of that name exists, but under another UID: it is not
	// the owner referred to.
	mkConfigMap(t, s.Client, ns, "impostor")
	mkSecret(t, s.Client, ns, "wrong-uid", nil, metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "impostor", UID: "00000000-0000-0000-0000-000000000002"})
	// A live owner keeps its dependent.
	live := mkConfigMap(t, s.Client, ns, "live")
	mkSecret(t, s.Client, ns, "kept", nil, ownerRef("v1", "ConfigMap", live, false))

	eventually(t, 10*time.Second, "dependents of absent owners deleted", allGone(t, s, ns, "configmap/orphaned", "secret/wrong-uid"))
	never(t, 300*time.Millisecond, "dependent of a live owner deleted", gone(t, s, ns, "secret", "kept"))
	never(t, 10*time.Millisecond, "impostor deleted", gone(t, s, ns, "configmap", "impostor"))
}

func testTwoOwnersOneDeletedRemovesOnlyThatReference(t *testing.T, s *testenv.Server) {
	ns := newNamespace(t, s, "two")
	a := mkConfigMap(t, s.Client, ns, "a")
	b := mkConfigMap(t, s.Client, ns, "b")
	mkSecret(t, s.Client, ns, "shared", nil, ownerRef("v1", "ConfigMap", a, true), ownerRef("v1", "ConfigMap", b, true))
	s.MustKubectl(t, "", "delete", "configmap", "a", "-n", ns)
	eventually(t, 10*time.Second, "reference to the deleted owner removed", func() (bool, string) {
		sec, err := s.Client.CoreV1().Secrets(ns).Get(ctx, "shared", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		if len(sec.OwnerReferences) != 1 || sec.OwnerReferences[0].UID != b.UID {
			return false, fmt.Sprintf("ownerReferences %v", sec.OwnerReferences)
		}
		return true, ""
	})
	// Deleting the last owner deletes it.
	s.MustKubectl(t, "", "delete", "configmap", "b", "-n", ns)
	eventually(t, 10*time.Second, "dependent deleted with its last owner", gone(t, s, ns, "secret", "shared"))
}

// The tests below follow the upstream conformance tests
// "[sig-api-machinery] Garbage collector ...", with pods created directly
// instead of by a ReplicationController controller.

func rcWithPods(t *testing.T, s *testenv.Server, ns, name string, n int, finalizers []string) (*corev1.ReplicationController, []string) {
	t.Helper()
	rc := mkRC(t, s.Client, ns, name)
	ctrl := true
	ref := ownerRef("v1", "ReplicationController", rc, true)
	ref.Controller = &ctrl
	var pods []string
	for i := range n {
		p := mkPod(t, s.Client, ns, fmt.Sprintf("%s-%d", name, i), finalizers, ref)
		pods = append(pods, "pod/"+p.Name)
	}
	return rc, pods
}

func deleteRC(t *testing.T, s *testenv.Server, ns, name string, policy metav1.DeletionPropagation) {
	t.Helper()
	if err := s.Client.CoreV1().ReplicationControllers(ns).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &policy}); err != nil {
		t.Fatalf("delete rc %s: %v", name, err)
	}
}

func testConformanceDeletePodsCreatedByRCWhenNotOrphaning(t *testing.T, s *testenv.Server) {
	ns := newNamespace(t, s, "gc-bg")
	_, pods := rcWithPods(t, s, ns, "simpletest", 5, nil)
	deleteRC(t, s, ns, "simpletest", metav1.DeletePropagationBackground)
	eventually(t, 10*time.Second, "rc and pods deleted", allGone(t, s, ns, append(pods, "rc/simpletest")...))
}

func testConformanceOrphanPodsCreatedByRC(t *testing.T, s *testenv.Server) {
	ns := newNamespace(t, s, "gc-orphan")
	rc, pods := rcWithPods(t, s, ns, "simpletest", 5, nil)
	deleteRC(t, s, ns, "simpletest", metav1.DeletePropagationOrphan)
	eventually(t, 10*time.Second, "rc deleted", gone(t, s, ns, "rc", "simpletest"))
	eventually(t, 10*time.Second, "pods orphaned", func() (bool, string) {
		list, err := s.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		if len(list.Items) != len(pods) {
			return false, fmt.Sprintf("%d pods, want %d", len(list.Items), len(pods))
		}
		for _, p := range list.Items {
			if findRef(p.OwnerReferences, rc.UID) {
				return false, fmt.Sprintf("pod %s still refers to the rc", p.Name)
			}
		}
		return true, ""
	})
	never(t, 300*time.Millisecond, "orphaned pods deleted", func() (bool, string) {
		list, err := s.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return true, err.Error()
		}
		return len(list.Items) != len(pods), fmt.Sprintf("%d pods left", len(list.Items))
	})
}

func findRef(refs []metav1.OwnerReference, uid types.UID) bool {
	for _, r := range refs {
		if r.UID == uid {
			return true
		}
	}
	return false
}

func testConformanceKeepRCUntilAllPodsDeleted(t *testing.T, s *testenv.Server) {
	ns := newNamespace(t, s, "gc-fg")
	_, pods := rcWithPods(t, s, ns, "simpletest", 3, []string{"example.com/hold"})
	deleteRC(t, s, ns, "simpletest", metav1.DeletePropagationForeground)
	eventually(t, 10*time.Second, "pods being deleted", func() (bool, string) {
		list, err := s.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, p := range list.Items {
			if p.DeletionTimestamp == nil {
				return false, "pod " + p.Name + " not being deleted"
			}
		}
		return len(list.Items) == len(pods), fmt.Sprintf("%d pods", len(list.Items))
	})
	never(t, 300*time.Millisecond, "rc deleted while its pods remain", gone(t, s, ns, "rc", "simpletest"))
	for i, p := range pods {
		_, name, _ := strings.Cut(p, "/")
		if _, err := s.Client.CoreV1().Pods(ns).Patch(ctx, name, types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
			t.Fatalf("release pod %s: %v", name, err)
		}
		if i < len(pods)-1 {
			if ok, _ := gone(t, s, ns, "rc", "simpletest")(); ok {
				t.Fatalf("rc deleted while %d pods remain", len(pods)-1-i)
			}
		}
	}
	eventually(t, 10*time.Second, "rc deleted after its pods", gone(t, s, ns, "rc", "simpletest"))
}

func testConformanceNotBlockedByDependencyCircle(t *testing.T, s *testenv.Server) {
	ns := newNamespace(t, s, "gc-circle")
	c := s.Client
	p1 := mkPod(t, c, ns, "pod1", nil)
	p2 := mkPod(t, c, ns, "pod2", nil, ownerRef("v1", "Pod", p1, true))
	p3 := mkPod(t, c, ns, "pod3", nil, ownerRef("v1", "Pod", p2, true))
	patch := fmt.Sprintf(`{"metadata":{"ownerReferences":[{"apiVersion":"v1","kind":"Pod","name":"pod3","uid":%q,"blockOwnerDeletion":true}]}}`, p3.UID)
	if _, err := c.CoreV1().Pods(ns).Patch(ctx, "pod1", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatalf("close the circle: %v", err)
	}
	fg := metav1.DeletePropagationForeground
	if err := c.CoreV1().Pods(ns).Delete(ctx, "pod1", metav1.DeleteOptions{PropagationPolicy: &fg}); err != nil {
		t.Fatalf("delete pod1: %v", err)
	}
	eventually(t, 10*time.Second, "circle deleted", allGone(t, s, ns, "pod/pod1", "pod/pod2", "pod/pod3"))
}

func testConformanceKeepDependentsWithValidOwnerAndWaitingOwner(t *testing.T, s *testenv.Server) {
	ns := newNamespace(t, s, "gc-mixed")
	c := s.Client
	rc1 := mkRC(t, c, ns, "simpletest-rc-to-be-deleted")
	rc2 := mkRC(t, c, ns, "simpletest-rc-to-stay")
	ref1 := ownerRef("v1", "ReplicationController", rc1, true)
	ref2 := ownerRef("v1", "ReplicationController", rc2, true)
	var both, only []string
	for i := range 4 {
		name := fmt.Sprintf("only-%d", i)
		// A finalizer keeps rc1 waiting a while, as pods' graceful
		// deletion does upstream.
		mkPod(t, c, ns, name, []string{"example.com/hold"}, ref1)
		only = append(only, name)
		name = fmt.Sprintf("both-%d", i)
		mkPod(t, c, ns, name, nil, ref1, ref2)
		both = append(both, name)
	}
	deleteRC(t, s, ns, rc1.Name, metav1.DeletePropagationForeground)
	eventually(t, 10*time.Second, "shared pods keep only the valid owner", func() (bool, string) {
		for _, name := range both {
			p, err := c.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			if p.DeletionTimestamp != nil || len(p.OwnerReferences) != 1 || p.OwnerReferences[0].UID != rc2.UID {
				return false, fmt.Sprintf("pod %s: deleting %v, owners %v", name, p.DeletionTimestamp != nil, p.OwnerReferences)
			}
		}
		return true, ""
	})
	never(t, 200*time.Millisecond, "rc1 deleted while its pods remain", gone(t, s, ns, "rc", rc1.Name))
	for _, name := range only {
		if _, err := c.CoreV1().Pods(ns).Patch(ctx, name, types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
			t.Fatalf("release pod %s: %v", name, err)
		}
	}
	var onlyObjs []string
	for _, n := range only {
		onlyObjs = append(onlyObjs, "pod/"+n)
	}
	eventually(t, 10*time.Second, "rc1 and its own pods deleted", allGone(t, s, ns, append(onlyObjs, "rc/"+rc1.Name)...))
	never(t, 200*time.Millisecond, "rc2 deleted", gone(t, s, ns, "rc", rc2.Name))
	list, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil || len(list.Items) != len(both) {
		t.Fatalf("pods left: %d (err %v), want %d", len(list.Items), err, len(both))
	}
}

func testInvalidOwnerReferences(t *testing.T, s *testenv.Server) {
	nsA := newNamespace(t, s, "inv-a")
	nsB := newNamespace(t, s, "inv-b")
	c := s.Client
	owner := mkConfigMap(t, c, nsA, "owner")
	// A namespaced owner in another namespace does not count: the
	// dependent is collected.
	mkSecret(t, c, nsB, "cross-namespace", nil, ownerRef("v1", "ConfigMap", owner, false))
	// A cluster-scoped object cannot have a namespaced owner: it is left
	// alone and the reference is reported.
	_, err := c.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{
		Name: "gc-invalid-owner", OwnerReferences: []metav1.OwnerReference{ownerRef("v1", "ConfigMap", owner, false)},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create clusterrole: %v", err)
	}
	eventually(t, 10*time.Second, "cross-namespace dependent deleted", gone(t, s, nsB, "secret", "cross-namespace"))
	eventually(t, 10*time.Second, "OwnerRefInvalidNamespace event for the cluster-scoped dependent", func() (bool, string) {
		list, err := c.CoreV1().Events("").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, e := range list.Items {
			if e.Reason == "OwnerRefInvalidNamespace" && e.InvolvedObject.Kind == "ClusterRole" && e.InvolvedObject.Name == "gc-invalid-owner" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d events, none for the clusterrole", len(list.Items))
	})
	if _, err := c.RbacV1().ClusterRoles().Get(ctx, "gc-invalid-owner", metav1.GetOptions{}); err != nil {
		t.Fatalf("cluster-scoped dependent with an invalid owner: %v", err)
	}
	if _, err := c.CoreV1().ConfigMaps(nsA).Get(ctx, "owner", metav1.GetOptions{}); err != nil {
		t.Fatalf("owner: %v", err)
	}
}
