package integration

import (
	"net/http"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gureum/gureum/internal/testenv"
)

func deployment(name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "busybox:1"}}},
			},
		},
	}
}

func replicaSet(name string, replicas int32) *appsv1.ReplicaSet {
	labels := map[string]string{"app": name}
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "busybox:1"}}},
			},
		},
	}
}

// TestWireObjectLifecycle checks generateName, dry-run, finalizers, pods'
// graceful deletion, generation, and the status, scale, binding and
// eviction subresources.
func TestWireObjectLifecycle(t *testing.T) {
	t.Parallel()
	s := testenv.Start(t)
	ctx := wireCtx(t)
	ns := mkNamespace(t, s, "wire-life")
	cms := s.Client.CoreV1().ConfigMaps(ns)
	pods := s.Client.CoreV1().Pods(ns)
	deps := s.Client.AppsV1().Deployments(ns)
	rss := s.Client.AppsV1().ReplicaSets(ns)

	t.Run("GenerateNameAppendsARandomSuffix", func(t *testing.T) {
		names := map[string]bool{}
		for i := 0; i < 3; i++ {
			out, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "gen-"}}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(out.Name, "gen-") || len(out.Name) != len("gen-")+5 || out.GenerateName != "gen-" {
				t.Fatalf("generated name %q (generateName %q)", out.Name, out.GenerateName)
			}
			names[out.Name] = true
			if _, err := cms.Get(ctx, out.Name, metav1.GetOptions{}); err != nil {
				t.Fatalf("get generated object: %v", err)
			}
		}
		if len(names) != 3 {
			t.Fatalf("generated names collide: %v", names)
		}
	})

	t.Run("DryRunWritesNothing", func(t *testing.T) {
		dry := []string{metav1.DryRunAll}
		out, err := cms.Create(ctx, configMap("dry", map[string]string{"k": "v"}), metav1.CreateOptions{DryRun: dry})
		if err != nil || out.Name != "dry" || out.UID == "" {
			t.Fatalf("dry-run create: %v %v", out, err)
		}
		if _, err := cms.Get(ctx, "dry", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("dry-run create wrote the object: %v", err)
		}
		real, err := cms.Create(ctx, configMap("dry", map[string]string{"k": "v"}), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		changed := real.DeepCopy()
		changed.Data["k"] = "dry-value"
		out, err = cms.Update(ctx, changed, metav1.UpdateOptions{DryRun: dry})
		if err != nil || out.Data["k"] != "dry-value" {
			t.Fatalf("dry-run update: %v %v", out, err)
		}
		if err := cms.Delete(ctx, "dry", metav1.DeleteOptions{DryRun: dry}); err != nil {
			t.Fatalf("dry-run delete: %v", err)
		}
		got, err := cms.Get(ctx, "dry", metav1.GetOptions{})
		if err != nil || got.Data["k"] != "v" || got.ResourceVersion != real.ResourceVersion {
			t.Fatalf("after dry-run update and delete: %v %v (rv %s, was %s)", got.Data, err, got.ResourceVersion, real.ResourceVersion)
		}
		pod := simplePod("dry-pod")
		pod.Spec.NodeName = "n1"
		if _, err := pods.Create(ctx, pod, metav1.CreateOptions{DryRun: dry}); err != nil {
			t.Fatal(err)
		}
		if l, _ := pods.List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=dry-pod"}); len(l.Items) != 0 {
			t.Fatal("dry-run pod create wrote the pod")
		}
	})

	t.Run("FinalizersHoldDeletionUntilRemoved", func(t *testing.T) {
		cm := configMap("fin", nil)
		cm.Finalizers = []string{"example.com/hold"}
		if _, err := cms.Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := cms.Delete(ctx, "fin", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		got, err := cms.Get(ctx, "fin", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("object with a finalizer vanished on delete: %v", err)
		}
		if got.DeletionTimestamp == nil {
			t.Fatal("delete did not set deletionTimestamp")
		}
		got.Data = map[string]string{"still": "writable"}
		got, err = cms.Update(ctx, got, metav1.UpdateOptions{})
		if err != nil {
			t.Fatalf("update while terminating: %v", err)
		}
		withNew := got.DeepCopy()
		withNew.Finalizers = append(withNew.Finalizers, "example.com/another")
		if _, err := cms.Update(ctx, withNew, metav1.UpdateOptions{}); !apierrors.IsForbidden(err) && !apierrors.IsInvalid(err) {
			t.Fatalf("adding a finalizer while terminating: %v, want a refusal", err)
		}
		got.Finalizers = nil
		if _, err := cms.Update(ctx, got, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("remove finalizer: %v", err)
		}
		if _, err := cms.Get(ctx, "fin", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("object still there after its last finalizer went: %v", err)
		}
	})

	t.Run("PodOnANodeIsDeletedGracefully", func(t *testing.T) {
		pod := simplePod("graceful")
		pod.Spec.NodeName = "node-1"
		pod.Spec.TerminationGracePeriodSeconds = int64p(30)
		if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := pods.Delete(ctx, "graceful", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		got, err := pods.Get(ctx, "graceful", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("scheduled pod vanished at once: %v", err)
		}
		if got.DeletionTimestamp == nil || got.DeletionGracePeriodSeconds == nil || *got.DeletionGracePeriodSeconds != 30 {
			t.Fatalf("deletionTimestamp %v, deletionGracePeriodSeconds %v; want set and 30", got.DeletionTimestamp, got.DeletionGracePeriodSeconds)
		}
		if err := pods.Delete(ctx, "graceful", metav1.DeleteOptions{GracePeriodSeconds: int64p(0)}); err != nil {
			t.Fatal(err)
		}
		if _, err := pods.Get(ctx, "graceful", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("pod still there after a delete with grace 0: %v", err)
		}
	})

	t.Run("UnscheduledPodIsDeletedAtOnce", func(t *testing.T) {
		if _, err := pods.Create(ctx, simplePod("pending"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := pods.Delete(ctx, "pending", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := pods.Get(ctx, "pending", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("unscheduled pod not deleted at once: %v", err)
		}
	})

	t.Run("GenerationTracksSpecChangesOnly", func(t *testing.T) {
		d, err := deps.Create(ctx, deployment("gen", 1), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if d.Generation != 1 {
			t.Fatalf("generation on create = %d, want 1", d.Generation)
		}
		d.Labels = map[string]string{"touched": "yes"}
		d.Annotations = map[string]string{"note": "metadata only"}
		if d, err = deps.Update(ctx, d, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		if d.Generation != 1 {
			t.Fatalf("generation after a metadata change = %d, want 1", d.Generation)
		}
		d.Status.ObservedGeneration = 1
		d.Status.Replicas = 1
		if d, err = deps.UpdateStatus(ctx, d, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		if d.Generation != 1 {
			t.Fatalf("generation after a status change = %d, want 1", d.Generation)
		}
		d.Spec.Template.Spec.Containers[0].Image = "busybox:2"
		if d, err = deps.Update(ctx, d, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		if d.Generation != 2 {
			t.Fatalf("generation after a spec change = %d, want 2", d.Generation)
		}
		if d.Status.ObservedGeneration != 1 {
			t.Fatalf("a spec update changed status.observedGeneration to %d", d.Status.ObservedGeneration)
		}
	})

	t.Run("StatusSubresourceAndMainResourceWriteOnlyTheirPart", func(t *testing.T) {
		d, err := deps.Create(ctx, deployment("split", 2), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		d.Status.Replicas = 7
		d.Status.ReadyReplicas = 7
		d.Spec.Replicas = ptr32(9)
		out, err := deps.UpdateStatus(ctx, d, metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if *out.Spec.Replicas != 2 || out.Status.Replicas != 7 {
			t.Fatalf("status update: spec.replicas %d (want 2, unchanged), status.replicas %d (want 7)", *out.Spec.Replicas, out.Status.Replicas)
		}
		out.Spec.Replicas = ptr32(3)
		out.Status.Replicas = 0
		out.Status.ReadyReplicas = 0
		out, err = deps.Update(ctx, out, metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if *out.Spec.Replicas != 3 || out.Status.Replicas != 7 {
			t.Fatalf("main update: spec.replicas %d (want 3), status.replicas %d (want 7, unchanged)", *out.Spec.Replicas, out.Status.Replicas)
		}
		// A status set on create is dropped.
		created := deployment("born-with-status", 1)
		created.Status.Replicas = 5
		c, err := deps.Create(ctx, created, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if c.Status.Replicas != 0 {
			t.Fatalf("create kept status.replicas %d", c.Status.Replicas)
		}
	})

	t.Run("ScaleSubresourceOfDeployment", func(t *testing.T) {
		if _, err := deps.Create(ctx, deployment("scaled", 2), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		sc, err := deps.GetScale(ctx, "scaled", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if sc.Spec.Replicas != 2 || sc.Status.Selector != "app=scaled" || sc.Name != "scaled" {
			t.Fatalf("scale = %+v", sc)
		}
		stale := sc.DeepCopy()
		sc.Spec.Replicas = 4
		sc, err = deps.UpdateScale(ctx, "scaled", sc, metav1.UpdateOptions{})
		if err != nil || sc.Spec.Replicas != 4 {
			t.Fatalf("update scale: %v %v", sc, err)
		}
		stale.Spec.Replicas = 9
		_, err = deps.UpdateScale(ctx, "scaled", stale, metav1.UpdateOptions{})
		wantReason(t, err, http.StatusConflict, metav1.StatusReasonConflict)
		patched, err := s.Client.AppsV1().RESTClient().Patch(types.MergePatchType).Namespace(ns).Resource("deployments").
			Name("scaled").SubResource("scale").Body([]byte(`{"spec":{"replicas":6}}`)).Do(ctx).Get()
		if err != nil {
			t.Fatalf("merge-patch scale: %v", err)
		}
		if p := patched.(*autoscalingv1.Scale); p.Spec.Replicas != 6 {
			t.Fatalf("patched scale replicas %d, want 6", p.Spec.Replicas)
		}
		d, err := deps.Get(ctx, "scaled", metav1.GetOptions{})
		if err != nil || *d.Spec.Replicas != 6 {
			t.Fatalf("deployment spec.replicas after scale patch: %v %v", d, err)
		}
		if d.Generation != 3 {
			t.Fatalf("generation after two scale changes = %d, want 3", d.Generation)
		}
		sc.Spec.Replicas = -1
		sc.ResourceVersion = ""
		if _, err := deps.UpdateScale(ctx, "scaled", sc, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) {
			t.Fatalf("negative replicas: %v, want Invalid", err)
		}
		if _, err := deps.GetScale(ctx, "missing", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("scale of a missing deployment: %v, want NotFound", err)
		}
	})

	t.Run("ScaleSubresourceOfReplicaSet", func(t *testing.T) {
		if _, err := rss.Create(ctx, replicaSet("rs-scaled", 1), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		sc, err := rss.GetScale(ctx, "rs-scaled", metav1.GetOptions{})
		if err != nil || sc.Spec.Replicas != 1 {
			t.Fatalf("get scale: %v %v", sc, err)
		}
		stale := sc.DeepCopy()
		sc.Spec.Replicas = 3
		if sc, err = rss.UpdateScale(ctx, "rs-scaled", sc, metav1.UpdateOptions{}); err != nil || sc.Spec.Replicas != 3 {
			t.Fatalf("update scale: %v %v", sc, err)
		}
		stale.Spec.Replicas = 5
		_, err = rss.UpdateScale(ctx, "rs-scaled", stale, metav1.UpdateOptions{})
		wantReason(t, err, http.StatusConflict, metav1.StatusReasonConflict)
		if _, err := s.Client.AppsV1().RESTClient().Patch(types.StrategicMergePatchType).Namespace(ns).Resource("replicasets").
			Name("rs-scaled").SubResource("scale").Body([]byte(`{"spec":{"replicas":2}}`)).Do(ctx).Get(); err != nil {
			t.Fatalf("strategic-merge-patch scale: %v", err)
		}
		if _, err := s.Client.AppsV1().RESTClient().Patch(types.JSONPatchType).Namespace(ns).Resource("replicasets").
			Name("rs-scaled").SubResource("scale").Body([]byte(`[{"op":"replace","path":"/spec/replicas","value":8}]`)).Do(ctx).Get(); err != nil {
			t.Fatalf("json-patch scale: %v", err)
		}
		rs, err := rss.Get(ctx, "rs-scaled", metav1.GetOptions{})
		if err != nil || *rs.Spec.Replicas != 8 {
			t.Fatalf("replicaset spec.replicas after scale patches: %v %v", rs.Spec.Replicas, err)
		}
	})

	t.Run("BindingSetsNodeNameOnceThen409", func(t *testing.T) {
		created, err := pods.Create(ctx, simplePod("bind-me"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "bind-me"}, Target: corev1.ObjectReference{Kind: "Node", Name: "node-x"}}
		if err := pods.Bind(ctx, b, metav1.CreateOptions{}); err != nil {
			t.Fatalf("bind: %v", err)
		}
		got, err := pods.Get(ctx, "bind-me", metav1.GetOptions{})
		if err != nil || got.Spec.NodeName != "node-x" {
			t.Fatalf("nodeName after binding: %q %v", got.Spec.NodeName, err)
		}
		// As in Kubernetes, the binding records no field owner: the
		// creator's entry is the only one.
		if len(got.ManagedFields) != 1 || got.ManagedFields[0].Operation != metav1.ManagedFieldsOperationUpdate || got.ManagedFields[0].Subresource != "" {
			t.Fatalf("managedFields after binding: %+v, want only the creator's", got.ManagedFields)
		}
		// Nor is it an update of the pod's spec: Kubernetes' binding
		// storage leaves metadata.generation as it was.
		if got.Generation != created.Generation {
			t.Fatalf("generation after binding: %d, want %d as created", got.Generation, created.Generation)
		}
		b.Target.Name = "node-y"
		err = pods.Bind(ctx, b, metav1.CreateOptions{})
		wantReason(t, err, http.StatusConflict, metav1.StatusReasonConflict)
		got, _ = pods.Get(ctx, "bind-me", metav1.GetOptions{})
		if got.Spec.NodeName != "node-x" {
			t.Fatalf("second binding moved the pod to %q", got.Spec.NodeName)
		}
	})

	t.Run("EvictionDeletesThePod", func(t *testing.T) {
		if _, err := pods.Create(ctx, simplePod("evict-me"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		ev := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "evict-me", Namespace: ns}}
		if err := pods.EvictV1(ctx, ev); err != nil {
			t.Fatalf("evict: %v", err)
		}
		if _, err := pods.Get(ctx, "evict-me", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("evicted pod still there: %v", err)
		}
		ev.Name = "never-existed"
		if err := pods.EvictV1(ctx, ev); !apierrors.IsNotFound(err) {
			t.Fatalf("evicting a missing pod: %v, want NotFound", err)
		}
	})
}

func ptr32(v int32) *int32 { return &v }
