package integration

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"

	"github.com/gureum/gureum/internal/testenv"
)

func managers(fields []metav1.ManagedFieldsEntry) map[string]metav1.ManagedFieldsOperationType {
	out := map[string]metav1.ManagedFieldsOperationType{}
	for _, f := range fields {
		out[f.Manager] = f.Operation
	}
	return out
}

// TestWirePatchTypes checks JSON patch, merge patch, strategic merge patch
// and server-side apply with its managedFields and conflicts.
func TestWirePatchTypes(t *testing.T) {
	t.Parallel()
	s := testenv.Start(t)
	ctx := wireCtx(t)
	ns := mkNamespace(t, s, "wire-patch")
	cms := s.Client.CoreV1().ConfigMaps(ns)
	deps := s.Client.AppsV1().Deployments(ns)

	t.Run("JSONPatch", func(t *testing.T) {
		if _, err := cms.Create(ctx, configMap("jp", map[string]string{"a": "1", "b": "2"}), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		out, err := cms.Patch(ctx, "jp", types.JSONPatchType,
			[]byte(`[{"op":"replace","path":"/data/a","value":"10"},{"op":"remove","path":"/data/b"},{"op":"add","path":"/data/c","value":"3"}]`), metav1.PatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if out.Data["a"] != "10" || out.Data["c"] != "3" || len(out.Data) != 2 {
			t.Fatalf("after JSON patch: %v", out.Data)
		}
		_, err = cms.Patch(ctx, "jp", types.JSONPatchType, []byte(`[{"op":"test","path":"/data/a","value":"nope"}]`), metav1.PatchOptions{})
		if statusCode(t, err) != http.StatusUnprocessableEntity {
			t.Fatalf("failed JSON patch test op: %v, want 422", err)
		}
		_, err = cms.Patch(ctx, "jp", types.JSONPatchType, []byte(`{"not":"a patch"}`), metav1.PatchOptions{})
		wantReason(t, err, http.StatusBadRequest, metav1.StatusReasonBadRequest)
	})

	t.Run("MergePatch", func(t *testing.T) {
		if _, err := cms.Create(ctx, configMap("mp", map[string]string{"a": "1", "b": "2"}), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		out, err := cms.Patch(ctx, "mp", types.MergePatchType, []byte(`{"data":{"a":"x","b":null},"metadata":{"labels":{"l":"v"}}}`), metav1.PatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if out.Data["a"] != "x" || len(out.Data) != 1 || out.Labels["l"] != "v" {
			t.Fatalf("after merge patch: data %v labels %v", out.Data, out.Labels)
		}
		_, err = cms.Patch(ctx, "missing", types.MergePatchType, []byte(`{"data":{"a":"x"}}`), metav1.PatchOptions{})
		wantReason(t, err, http.StatusNotFound, metav1.StatusReasonNotFound)
		// A patch with a stale resourceVersion is a conflict.
		_, err = cms.Patch(ctx, "mp", types.MergePatchType, []byte(`{"metadata":{"resourceVersion":"1"},"data":{"a":"y"}}`), metav1.PatchOptions{})
		wantReason(t, err, http.StatusConflict, metav1.StatusReasonConflict)
	})

	t.Run("StrategicMergePatchMergesContainersByName", func(t *testing.T) {
		d := deployment("smp", 1)
		d.Spec.Template.Spec.Containers = []corev1.Container{
			{Name: "app", Image: "app:1"},
			{Name: "sidecar", Image: "sidecar:1"},
		}
		if _, err := deps.Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		patch := `{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"sidecar:2"},{"name":"extra","image":"extra:1"}]}}}}`
		out, err := deps.Patch(ctx, "smp", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		images := map[string]string{}
		for _, c := range out.Spec.Template.Spec.Containers {
			images[c.Name] = c.Image
		}
		if len(images) != 3 || images["app"] != "app:1" || images["sidecar"] != "sidecar:2" || images["extra"] != "extra:1" {
			t.Fatalf("containers after strategic merge: %v", images)
		}
		// The same patch as a merge patch replaces the list.
		out, err = deps.Patch(ctx, "smp", types.MergePatchType, []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"only","image":"only:1"}]}}}}`), metav1.PatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Spec.Template.Spec.Containers) != 1 {
			t.Fatalf("merge patch did not replace the container list: %d containers", len(out.Spec.Template.Spec.Containers))
		}
		// $patch: delete removes one element by its merge key.
		out, err = deps.Patch(ctx, "smp", types.StrategicMergePatchType,
			[]byte(`{"spec":{"template":{"spec":{"containers":[{"name":"second","image":"second:1"}]}}}}`), metav1.PatchOptions{})
		if err != nil || len(out.Spec.Template.Spec.Containers) != 2 {
			t.Fatalf("add second container: %v", err)
		}
		out, err = deps.Patch(ctx, "smp", types.StrategicMergePatchType,
			[]byte(`{"spec":{"template":{"spec":{"containers":[{"name":"only","$patch":"delete"}]}}}}`), metav1.PatchOptions{})
		if err != nil || len(out.Spec.Template.Spec.Containers) != 1 || out.Spec.Template.Spec.Containers[0].Name != "second" {
			t.Fatalf("$patch delete: %v %+v", err, out.Spec.Template.Spec.Containers)
		}
	})

	t.Run("ServerSideApplyRecordsManagedFields", func(t *testing.T) {
		ac := corev1ac.ConfigMap("ssa", ns).WithData(map[string]string{"owned-by-a": "1"})
		out, err := cms.Apply(ctx, ac, metav1.ApplyOptions{FieldManager: "manager-a"})
		if err != nil {
			t.Fatalf("apply create: %v", err)
		}
		if m := managers(out.ManagedFields); len(out.ManagedFields) != 1 || m["manager-a"] != metav1.ManagedFieldsOperationApply {
			t.Fatalf("managedFields after apply: %d entries %v, want one Apply by manager-a", len(out.ManagedFields), m)
		}
		// An apply that sends the same thing again changes nothing.
		again, err := cms.Apply(ctx, ac, metav1.ApplyOptions{FieldManager: "manager-a"})
		if err != nil || again.ResourceVersion != out.ResourceVersion {
			t.Fatalf("idempotent apply: rv %s -> %s, %v", out.ResourceVersion, again.ResourceVersion, err)
		}
		// An ordinary update is recorded as an Update by its manager.
		out.Data["by-update"] = "u"
		upd, err := cms.Update(ctx, out, metav1.UpdateOptions{FieldManager: "updater"})
		if err != nil {
			t.Fatal(err)
		}
		if m := managers(upd.ManagedFields); m["updater"] != metav1.ManagedFieldsOperationUpdate || m["manager-a"] != metav1.ManagedFieldsOperationApply {
			t.Fatalf("managedFields after update: %v", m)
		}
	})

	t.Run("ServerSideApplyConflictIs409UnlessForced", func(t *testing.T) {
		if _, err := cms.Apply(ctx, corev1ac.ConfigMap("ssa-conflict", ns).WithData(map[string]string{"shared": "a"}),
			metav1.ApplyOptions{FieldManager: "owner"}); err != nil {
			t.Fatal(err)
		}
		_, err := cms.Apply(ctx, corev1ac.ConfigMap("ssa-conflict", ns).WithData(map[string]string{"shared": "b"}),
			metav1.ApplyOptions{FieldManager: "intruder"})
		wantReason(t, err, http.StatusConflict, metav1.StatusReasonConflict)
		if !hasCause(err, ".data.shared") && !hasCause(err, "data.shared") {
			t.Logf("conflict causes: %+v", causes(err))
		}
		got, _ := cms.Get(ctx, "ssa-conflict", metav1.GetOptions{})
		if got.Data["shared"] != "a" {
			t.Fatalf("conflicting apply changed the value to %q", got.Data["shared"])
		}
		out, err := cms.Apply(ctx, corev1ac.ConfigMap("ssa-conflict", ns).WithData(map[string]string{"shared": "b"}),
			metav1.ApplyOptions{FieldManager: "intruder", Force: true})
		if err != nil {
			t.Fatalf("forced apply: %v", err)
		}
		if out.Data["shared"] != "b" {
			t.Fatalf("forced apply value %q", out.Data["shared"])
		}
		if _, ok := managers(out.ManagedFields)["owner"]; ok {
			t.Fatalf("the forced-out manager still owns fields: %v", managers(out.ManagedFields))
		}
		// Applying with the same value as another manager shares the field.
		if _, err := cms.Apply(ctx, corev1ac.ConfigMap("ssa-conflict", ns).WithData(map[string]string{"shared": "b"}),
			metav1.ApplyOptions{FieldManager: "agreeing"}); err != nil {
			t.Fatalf("apply of the same value by a second manager: %v", err)
		}
	})

	t.Run("ServerSideApplyOnDeploymentAndFieldManagerRequired", func(t *testing.T) {
		ac := appsv1ac.Deployment("ssa-dep", ns).WithSpec(appsv1ac.DeploymentSpec().
			WithReplicas(2).
			WithSelector(metav1ApplySelector("ssa-dep")).
			WithTemplate(corev1ac.PodTemplateSpec().WithLabels(map[string]string{"app": "ssa-dep"}).
				WithSpec(corev1ac.PodSpec().WithContainers(corev1ac.Container().WithName("app").WithImage("app:1")))))
		out, err := deps.Apply(ctx, ac, metav1.ApplyOptions{FieldManager: "deployer"})
		if err != nil {
			t.Fatalf("apply deployment: %v", err)
		}
		if *out.Spec.Replicas != 2 || out.Spec.Template.Spec.Containers[0].Image != "app:1" {
			t.Fatalf("applied deployment: %+v", out.Spec)
		}
		err = s.Client.AppsV1().RESTClient().Patch(types.ApplyPatchType).Namespace(ns).Resource("deployments").Name("ssa-dep").
			Body([]byte(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"ssa-dep"}}`)).Do(ctx).Error()
		wantReason(t, err, http.StatusBadRequest, metav1.StatusReasonBadRequest)
	})

	t.Run("UnsupportedPatchContentTypeIs415", func(t *testing.T) {
		err := s.Client.CoreV1().RESTClient().Patch(types.PatchType("text/plain")).Namespace(ns).Resource("configmaps").Name("mp").
			Body([]byte(`{}`)).Do(ctx).Error()
		if statusCode(t, err) != http.StatusUnsupportedMediaType {
			t.Fatalf("text/plain patch: %v, want 415", err)
		}
	})

	t.Run("ApplyOnScaleConflictsWithTheReplicasOwner", func(t *testing.T) {
		applyScale := func(replicas int, force bool) error {
			req := s.Client.AppsV1().RESTClient().Patch(types.ApplyPatchType).Namespace(ns).Resource("deployments").Name("ssa-dep").
				SubResource("scale").Param("fieldManager", "scaler")
			if force {
				req = req.Param("force", "true")
			}
			return req.Body([]byte(fmt.Sprintf(`{"apiVersion":"autoscaling/v1","kind":"Scale","metadata":{"name":"ssa-dep"},"spec":{"replicas":%d}}`, replicas))).Do(ctx).Error()
		}
		// "deployer" applied spec.replicas=2 above and owns it.
		if err := applyScale(5, false); !apierrors.IsConflict(err) {
			t.Fatalf("apply on scale over the deployer's replicas: %v, want 409 Conflict", err)
		}
		d, _ := deps.Get(ctx, "ssa-dep", metav1.GetOptions{})
		if *d.Spec.Replicas != 2 {
			t.Fatalf("conflicting scale apply changed replicas to %d", *d.Spec.Replicas)
		}
		if err := applyScale(5, true); err != nil {
			t.Fatalf("forced apply on scale: %v", err)
		}
		d, _ = deps.Get(ctx, "ssa-dep", metav1.GetOptions{})
		if *d.Spec.Replicas != 5 {
			t.Fatalf("forced scale apply: replicas = %d, want 5", *d.Spec.Replicas)
		}
		var scalerOwns bool
		for _, mf := range d.ManagedFields {
			owns := mf.FieldsV1 != nil && strings.Contains(string(mf.FieldsV1.Raw), `"f:replicas"`)
			if mf.Manager == "scaler" && mf.Subresource == "scale" && owns {
				scalerOwns = true
			}
			if mf.Manager == "deployer" && owns {
				t.Errorf("deployer still owns spec.replicas after the forced scale apply: %s", mf.FieldsV1.Raw)
			}
		}
		if !scalerOwns {
			t.Errorf("scaler does not own spec.replicas through /scale: %+v", d.ManagedFields)
		}
		// Now the deployer's apply of replicas conflicts with the scaler.
		_, err := deps.Apply(ctx, appsv1ac.Deployment("ssa-dep", ns).WithSpec(appsv1ac.DeploymentSpec().WithReplicas(2).
			WithSelector(metav1ApplySelector("ssa-dep")).
			WithTemplate(corev1ac.PodTemplateSpec().WithLabels(map[string]string{"app": "ssa-dep"}).
				WithSpec(corev1ac.PodSpec().WithContainers(corev1ac.Container().WithName("app").WithImage("app:1"))))),
			metav1.ApplyOptions{FieldManager: "deployer"})
		if !apierrors.IsConflict(err) {
			t.Fatalf("deployer apply of replicas after scaler took them: %v, want 409 Conflict", err)
		}
	})
}

func metav1ApplySelector(app string) *metav1ac.LabelSelectorApplyConfiguration {
	return metav1ac.LabelSelector().WithMatchLabels(map[string]string{"app": app})
}
