package api

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// wlTestNow is the clock rows are rendered with; wlCreated is five minutes
// earlier.
var (
	wlTestNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	wlCreated = metav1.NewTime(wlTestNow.Add(-5 * time.Minute))
)

// wlStrategy is the strategy the registry serves for a resource (with nil
// functions filled in), so tests see what the API server sees.
func wlStrategy(t *testing.T, gv schema.GroupVersion, resource string) Strategy {
	t.Helper()
	res, ok := NewRegistry(DefaultResources()).Lookup(gv.WithResource(resource))
	if !ok {
		t.Fatalf("%s/%s is not served", gv, resource)
	}
	return res.Strategy
}

// wlWantError asserts that errs holds an error of type typ at path fld whose
// detail contains detail (when detail is not empty).
func wlWantError(t *testing.T, errs field.ErrorList, typ field.ErrorType, fld, detail string) {
	t.Helper()
	for _, e := range errs {
		if e.Type == typ && e.Field == fld && strings.Contains(e.Detail, detail) {
			return
		}
	}
	t.Errorf("want %s error at %s (%q), got %v", typ, fld, detail, errs)
}

func wlWantNoErrors(t *testing.T, errs field.ErrorList) {
	t.Helper()
	if len(errs) != 0 {
		t.Errorf("want no errors, got %v", errs)
	}
}

func wlPodTemplate(labels map[string]string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "web", Image: "nginx:1.27"},
			{Name: "sidecar", Image: "envoy:1.30"},
		}},
	}
}

var wlAppLabels = map[string]string{"app": "web"}

func wlDeployment(mutate func(*appsv1.Deployment)) *appsv1.Deployment {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", CreationTimestamp: wlCreated},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: wlAppLabels},
			Template: wlPodTemplate(map[string]string{"app": "web", "tier": "front"}),
		},
	}
	if mutate != nil {
		mutate(d)
	}
	return d
}

// wlDefaulted runs the strategy's Default on obj and returns it.
func wlDefaulted[T runtime.Object](s Strategy, obj T) T {
	s.Default(obj)
	return obj
}

func TestDeploymentDefaults(t *testing.T) {
	s := wlStrategy(t, appsv1.SchemeGroupVersion, "deployments")
	t.Run("empty spec", func(t *testing.T) {
		d := wlDefaulted(s, wlDeployment(nil))
		if *d.Spec.Replicas != 1 || *d.Spec.RevisionHistoryLimit != 10 || *d.Spec.ProgressDeadlineSeconds != 600 {
			t.Errorf("replicas/revisionHistoryLimit/progressDeadlineSeconds = %d/%d/%d", *d.Spec.Replicas,
				*d.Spec.RevisionHistoryLimit, *d.Spec.ProgressDeadlineSeconds)
		}
		st := d.Spec.Strategy
		if st.Type != appsv1.RollingUpdateDeploymentStrategyType || st.RollingUpdate == nil ||
			st.RollingUpdate.MaxSurge.String() != "25%" || st.RollingUpdate.MaxUnavailable.String() != "25%" {
			t.Errorf("strategy = %+v", st)
		}
		if d.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyAlways {
			t.Errorf("template not defaulted: restartPolicy %q", d.Spec.Template.Spec.RestartPolicy)
		}
	})
	t.Run("explicit values kept", func(t *testing.T) {
		d := wlDefaulted(s, wlDeployment(func(d *appsv1.Deployment) {
			d.Spec.Replicas = wlInt32Ptr(0)
			one := intstr.FromInt32(1)
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: &one}
		}))
		if *d.Spec.Replicas != 0 || d.Spec.Strategy.RollingUpdate.MaxSurge.String() != "1" ||
			d.Spec.Strategy.RollingUpdate.MaxUnavailable.String() != "25%" {
			t.Errorf("got replicas %d strategy %+v", *d.Spec.Replicas, d.Spec.Strategy.RollingUpdate)
		}
	})
	t.Run("recreate gets no rollingUpdate", func(t *testing.T) {
		d := wlDefaulted(s, wlDeployment(func(d *appsv1.Deployment) { d.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType }))
		if d.Spec.Strategy.RollingUpdate != nil {
			t.Errorf("rollingUpdate = %+v", d.Spec.Strategy.RollingUpdate)
		}
	})
}

func TestDeploymentValidate(t *testing.T) {
	s := wlStrategy(t, appsv1.SchemeGroupVersion, "deployments")
	pct := func(v string) *intstr.IntOrString { x := intstr.FromString(v); return &x }
	num := func(v int32) *intstr.IntOrString { x := intstr.FromInt32(v); return &x }
	for _, tc := range []struct {
		name   string
		mutate func(*appsv1.Deployment)
		typ    field.ErrorType
		field  string
		detail string
	}{
		{"bad name", func(d *appsv1.Deployment) { d.Name = "Web_1" }, field.ErrorTypeInvalid, "metadata.name", "RFC 1123"},
		{"no namespace", func(d *appsv1.Deployment) { d.Namespace = "" }, field.ErrorTypeRequired, "metadata.namespace", ""},
		{"no selector", func(d *appsv1.Deployment) { d.Spec.Selector = nil }, field.ErrorTypeRequired, "spec.selector", ""},
		{"empty selector", func(d *appsv1.Deployment) { d.Spec.Selector = &metav1.LabelSelector{} },
			field.ErrorTypeInvalid, "spec.selector", "empty selector is invalid for deployment"},
		{"selector mismatch", func(d *appsv1.Deployment) { d.Spec.Template.Labels = map[string]string{"app": "api"} },
			field.ErrorTypeInvalid, "spec.template.metadata.labels", "`selector` does not match template `labels`"},
		{"negative replicas", func(d *appsv1.Deployment) { d.Spec.Replicas = wlInt32Ptr(-1) },
			field.ErrorTypeInvalid, "spec.replicas", "must be greater than or equal to 0"},
		{"restartPolicy Never", func(d *appsv1.Deployment) { d.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever },
			field.ErrorTypeNotSupported, "spec.template.spec.restartPolicy", `"Always"`},
		{"activeDeadlineSeconds", func(d *appsv1.Deployment) { d.Spec.Template.Spec.ActiveDeadlineSeconds = new(int64) },
			field.ErrorTypeForbidden, "spec.template.spec.activeDeadlineSeconds", "activeDeadlineSeconds in ReplicaSet is not Supported"},
		{"surge and unavailable both 0", func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: num(0), MaxUnavailable: pct("0%")}
		}, field.ErrorTypeInvalid, "spec.strategy.rollingUpdate.maxUnavailable", "may not be 0 when `maxSurge` is 0"},
		{"maxUnavailable over 100%", func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxUnavailable: pct("120%")}
		}, field.ErrorTypeInvalid, "spec.strategy.rollingUpdate.maxUnavailable", "must not be greater than 100%"},
		{"maxSurge not a percentage", func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: pct("many")}
		}, field.ErrorTypeInvalid, "spec.strategy.rollingUpdate.maxSurge", "a valid percent string"},
		{"negative maxSurge", func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: num(-2)}
		}, field.ErrorTypeInvalid, "spec.strategy.rollingUpdate.maxSurge", "must be greater than or equal to 0"},
		{"recreate with rollingUpdate", func(d *appsv1.Deployment) {
			d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{}}
		}, field.ErrorTypeForbidden, "spec.strategy.rollingUpdate", "'Recreate'"},
		{"unknown strategy", func(d *appsv1.Deployment) { d.Spec.Strategy.Type = "BlueGreen" },
			field.ErrorTypeNotSupported, "spec.strategy", `"Recreate", "RollingUpdate"`},
		{"deadline within minReadySeconds", func(d *appsv1.Deployment) {
			d.Spec.MinReadySeconds = 600
		}, field.ErrorTypeInvalid, "spec.progressDeadlineSeconds", "must be greater than minReadySeconds"},
		{"negative revisionHistoryLimit", func(d *appsv1.Deployment) { d.Spec.RevisionHistoryLimit = wlInt32Ptr(-1) },
			field.ErrorTypeInvalid, "spec.revisionHistoryLimit", ""},
		{"template validated", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers = nil },
			field.ErrorTypeRequired, "spec.template.spec.containers", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := wlDeployment(tc.mutate)
			s.Default(d)
			wlWantError(t, s.Validate(d), tc.typ, tc.field, tc.detail)
		})
	}
	t.Run("valid", func(t *testing.T) {
		wlWantNoErrors(t, s.Validate(wlDefaulted(s, wlDeployment(nil))))
	})
	t.Run("maxSurge may exceed 100%", func(t *testing.T) {
		d := wlDefaulted(s, wlDeployment(func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: pct("200%"), MaxUnavailable: num(0)}
		}))
		wlWantNoErrors(t, s.Validate(d))
	})
}

func TestDeploymentValidateUpdate(t *testing.T) {
	s := wlStrategy(t, appsv1.SchemeGroupVersion, "deployments")
	old := wlDefaulted(s, wlDeployment(nil))
	t.Run("scale and new image", func(t *testing.T) {
		d := old.DeepCopy()
		d.Spec.Replicas = wlInt32Ptr(5)
		d.Spec.Template.Spec.Containers[0].Image = "nginx:1.28"
		wlWantNoErrors(t, s.ValidateUpdate(d, old))
	})
	t.Run("selector is immutable", func(t *testing.T) {
		d := old.DeepCopy()
		d.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "front"}}
		wlWantError(t, s.ValidateUpdate(d, old), field.ErrorTypeInvalid, "spec.selector", "field is immutable")
	})
	t.Run("update is fully validated", func(t *testing.T) {
		d := old.DeepCopy()
		d.Spec.Replicas = wlInt32Ptr(-3)
		wlWantError(t, s.ValidateUpdate(d, old), field.ErrorTypeInvalid, "spec.replicas", "")
	})
}

func TestReplicaSet(t *testing.T) {
	s := wlStrategy(t, appsv1.SchemeGroupVersion, "replicasets")
	rs := func(mutate func(*appsv1.ReplicaSet)) *appsv1.ReplicaSet {
		r := &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{Name: "web-5d9f", Namespace: "default"},
			Spec:       appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: wlAppLabels}, Template: wlPodTemplate(wlAppLabels)},
		}
		if mutate != nil {
			mutate(r)
		}
		s.Default(r)
		return r
	}
	t.Run("defaults", func(t *testing.T) {
		r := rs(nil)
		if *r.Spec.Replicas != 1 || r.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyAlways {
			t.Errorf("replicas %d restartPolicy %q", *r.Spec.Replicas, r.Spec.Template.Spec.RestartPolicy)
		}
		wlWantNoErrors(t, s.Validate(r))
	})
	for _, tc := range []struct {
		name          string
		mutate        func(*appsv1.ReplicaSet)
		typ           field.ErrorType
		field, detail string
	}{
		{"no selector", func(r *appsv1.ReplicaSet) { r.Spec.Selector = nil }, field.ErrorTypeRequired, "spec.selector", ""},
		{"empty selector", func(r *appsv1.ReplicaSet) { r.Spec.Selector = &metav1.LabelSelector{} },
			field.ErrorTypeInvalid, "spec.selector", "empty selector is invalid for deployment"},
		{"mismatch", func(r *appsv1.ReplicaSet) {
			r.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "env", Operator: metav1.LabelSelectorOpExists}}
		}, field.ErrorTypeInvalid, "spec.template.metadata.labels", "`selector` does not match template `labels`"},
		{"negative replicas", func(r *appsv1.ReplicaSet) { r.Spec.Replicas = wlInt32Ptr(-1) }, field.ErrorTypeInvalid, "spec.replicas", ""},
		{"negative minReadySeconds", func(r *appsv1.ReplicaSet) { r.Spec.MinReadySeconds = -1 }, field.ErrorTypeInvalid, "spec.minReadySeconds", ""},
		{"OnFailure", func(r *appsv1.ReplicaSet) { r.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure },
			field.ErrorTypeNotSupported, "spec.template.spec.restartPolicy", ""},
	} {
		t.Run(tc.name, func(t *testing.T) { wlWantError(t, s.Validate(rs(tc.mutate)), tc.typ, tc.field, tc.detail) })
	}
	t.Run("selector immutable", func(t *testing.T) {
		old := rs(nil)
		n := old.DeepCopy()
		n.Spec.Selector.MatchLabels = map[string]string{"app": "web", "pod-template-hash": "5d9f"}
		n.Spec.Template.Labels = n.Spec.Selector.MatchLabels
		wlWantError(t, s.ValidateUpdate(n, old), field.ErrorTypeInvalid, "spec.selector", "field is immutable")
	})
}

func wlDaemonSet(mutate func(*appsv1.DaemonSet)) *appsv1.DaemonSet {
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "kube-system", CreationTimestamp: wlCreated},
		Spec:       appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: wlAppLabels}, Template: wlPodTemplate(wlAppLabels)},
	}
	if mutate != nil {
		mutate(ds)
	}
	return ds
}

func TestDaemonSet(t *testing.T) {
	s := wlStrategy(t, appsv1.SchemeGroupVersion, "daemonsets")
	t.Run("defaults", func(t *testing.T) {
		ds := wlDefaulted(s, wlDaemonSet(nil))
		ru := ds.Spec.UpdateStrategy.RollingUpdate
		if ds.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType || ru == nil ||
			ru.MaxUnavailable.String() != "1" || ru.MaxSurge.String() != "0" || *ds.Spec.RevisionHistoryLimit != 10 {
			t.Errorf("updateStrategy %+v revisionHistoryLimit %v", ds.Spec.UpdateStrategy, ds.Spec.RevisionHistoryLimit)
		}
		wlWantNoErrors(t, s.Validate(ds))
	})
	t.Run("OnDelete has no rollingUpdate", func(t *testing.T) {
		ds := wlDefaulted(s, wlDaemonSet(func(ds *appsv1.DaemonSet) { ds.Spec.UpdateStrategy.Type = appsv1.OnDeleteDaemonSetStrategyType }))
		if ds.Spec.UpdateStrategy.RollingUpdate != nil {
			t.Errorf("rollingUpdate %+v", ds.Spec.UpdateStrategy.RollingUpdate)
		}
		wlWantNoErrors(t, s.Validate(ds))
	})
	surge := func(unavailable, surge int32) func(*appsv1.DaemonSet) {
		return func(ds *appsv1.DaemonSet) {
			u, s := intstr.FromInt32(unavailable), intstr.FromInt32(surge)
			ds.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{MaxUnavailable: &u, MaxSurge: &s}
		}
	}
	for _, tc := range []struct {
		name          string
		mutate        func(*appsv1.DaemonSet)
		typ           field.ErrorType
		field, detail string
	}{
		{"surge and unavailable", surge(1, 1), field.ErrorTypeInvalid, "spec.updateStrategy.rollingUpdate.maxSurge", "may not be set when maxUnavailable is non-zero"},
		{"neither", surge(0, 0), field.ErrorTypeRequired, "spec.updateStrategy.rollingUpdate.maxUnavailable", "cannot be 0 when maxSurge is 0"},
		{"unknown type", func(ds *appsv1.DaemonSet) { ds.Spec.UpdateStrategy.Type = "Rolling" },
			field.ErrorTypeNotSupported, "spec.updateStrategy", `"RollingUpdate", "OnDelete"`},
		{"empty selector", func(ds *appsv1.DaemonSet) { ds.Spec.Selector = &metav1.LabelSelector{} },
			field.ErrorTypeInvalid, "spec.selector", "empty selector is invalid for daemonset"},
		{"mismatch", func(ds *appsv1.DaemonSet) { ds.Spec.Template.Labels = nil },
			field.ErrorTypeInvalid, "spec.template.metadata.labels", "`selector` does not match template `labels`"},
		{"Never", func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever },
			field.ErrorTypeNotSupported, "spec.template.spec.restartPolicy", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wlWantError(t, s.Validate(wlDefaulted(s, wlDaemonSet(tc.mutate))), tc.typ, tc.field, tc.detail)
		})
	}
	t.Run("surge only is fine", func(t *testing.T) {
		wlWantNoErrors(t, s.Validate(wlDefaulted(s, wlDaemonSet(surge(0, 1)))))
	})
	t.Run("template generation", func(t *testing.T) {
		ds := wlDefaulted(s, wlDaemonSet(nil))
		s.PrepareForCreate(ds)
		if got := ds.Annotations[daemonSetTemplateGenerationAnnotation]; got != "1" {
			t.Fatalf("on create: %q", got)
		}
		// A client that sends the object back without the annotation and
		// without defaulted fields changes nothing.
		same := wlDaemonSet(nil)
		s.PrepareForUpdate(same, ds)
		if got := same.Annotations[daemonSetTemplateGenerationAnnotation]; got != "1" {
			t.Errorf("unchanged template: %q", got)
		}
		changed := ds.DeepCopy()
		changed.Annotations[daemonSetTemplateGenerationAnnotation] = "7" // clients cannot set it
		changed.Spec.Template.Spec.Containers[0].Image = "nginx:1.28"
		s.PrepareForUpdate(changed, ds)
		if got := changed.Annotations[daemonSetTemplateGenerationAnnotation]; got != "2" {
			t.Errorf("changed template: %q", got)
		}
	})
	t.Run("selector immutable", func(t *testing.T) {
		old := wlDefaulted(s, wlDaemonSet(nil))
		n := old.DeepCopy()
		n.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "x": "y"}}
		n.Spec.Template.Labels = n.Spec.Selector.MatchLabels
		wlWantError(t, s.ValidateUpdate(n, old), field.ErrorTypeInvalid, "spec.selector", "field is immutable")
	})
}

func wlStatefulSet(mutate func(*appsv1.StatefulSet)) *appsv1.StatefulSet {
	ss := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default", CreationTimestamp: wlCreated},
		Spec: appsv1.StatefulSetSpec{
			ServiceName: "db",
			Selector:    &metav1.LabelSelector{MatchLabels: wlAppLabels},
			Template:    wlPodTemplate(wlAppLabels),
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
						corev1.ResourceStorage: resource.MustParse("1Gi")}},
				},
			}},
		},
	}
	// The claim template is mounted by name, without a pod volume.
	ss.Spec.Template.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/var/lib/db"}}
	if mutate != nil {
		mutate(ss)
	}
	return ss
}

func TestStatefulSet(t *testing.T) {
	s := wlStrategy(t, appsv1.SchemeGroupVersion, "statefulsets")
	t.Run("defaults", func(t *testing.T) {
		ss := wlDefaulted(s, wlStatefulSet(nil))
		sp := ss.Spec
		if *sp.Replicas != 1 || sp.PodManagementPolicy != appsv1.OrderedReadyPodManagement || *sp.RevisionHistoryLimit != 10 {
			t.Errorf("replicas %d policy %q revisionHistoryLimit %d", *sp.Replicas, sp.PodManagementPolicy, *sp.RevisionHistoryLimit)
		}
		if sp.UpdateStrategy.Type != appsv1.RollingUpdateStatefulSetStrategyType || sp.UpdateStrategy.RollingUpdate == nil ||
			*sp.UpdateStrategy.RollingUpdate.Partition != 0 {
			t.Errorf("updateStrategy %+v", sp.UpdateStrategy)
		}
		if rp := sp.PersistentVolumeClaimRetentionPolicy; rp == nil || rp.WhenDeleted != "Retain" || rp.WhenScaled != "Retain" {
			t.Errorf("retention policy %+v", rp)
		}
		c := sp.VolumeClaimTemplates[0]
		if c.APIVersion != "v1" || c.Kind != "PersistentVolumeClaim" || c.Spec.VolumeMode == nil ||
			*c.Spec.VolumeMode != corev1.PersistentVolumeFilesystem || c.Status.Phase != corev1.ClaimPending {
			t.Errorf("claim template %+v", c)
		}
		wlWantNoErrors(t, s.Validate(ss))
	})
	t.Run("explicit RollingUpdate keeps no rollingUpdate", func(t *testing.T) {
		ss := wlDefaulted(s, wlStatefulSet(func(ss *appsv1.StatefulSet) {
			ss.Spec.UpdateStrategy.Type = appsv1.RollingUpdateStatefulSetStrategyType
		}))
		if ss.Spec.UpdateStrategy.RollingUpdate != nil {
			t.Errorf("rollingUpdate %+v", ss.Spec.UpdateStrategy.RollingUpdate)
		}
	})
	for _, tc := range []struct {
		name          string
		mutate        func(*appsv1.StatefulSet)
		typ           field.ErrorType
		field, detail string
	}{
		{"name must be a DNS label", func(ss *appsv1.StatefulSet) { ss.Name = "db.v2" }, field.ErrorTypeInvalid, "metadata.name", "must not contain dots"},
		{"bad pod management policy", func(ss *appsv1.StatefulSet) { ss.Spec.PodManagementPolicy = "Random" },
			field.ErrorTypeInvalid, "spec.podManagementPolicy", "must be 'OrderedReady' or 'Parallel'"},
		{"OnDelete with rollingUpdate", func(ss *appsv1.StatefulSet) {
			ss.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{}}
		}, field.ErrorTypeInvalid, "spec.updateStrategy.rollingUpdate", "only allowed for updateStrategy 'RollingUpdate'"},
		{"negative partition", func(ss *appsv1.StatefulSet) {
			ss.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{Partition: wlInt32Ptr(-1)}
		}, field.ErrorTypeInvalid, "spec.updateStrategy.rollingUpdate.partition", ""},
		{"unknown update strategy", func(ss *appsv1.StatefulSet) { ss.Spec.UpdateStrategy.Type = "Canary" },
			field.ErrorTypeInvalid, "spec.updateStrategy", "must be 'RollingUpdate' or 'OnDelete'"},
		{"bad retention", func(ss *appsv1.StatefulSet) {
			ss.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{WhenDeleted: "Keep"}
		}, field.ErrorTypeNotSupported, "spec.persistentVolumeClaimRetentionPolicy.whenDeleted", ""},
		{"negative ordinal start", func(ss *appsv1.StatefulSet) { ss.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: -1} },
			field.ErrorTypeInvalid, "spec.ordinals.start", ""},
		{"empty selector", func(ss *appsv1.StatefulSet) { ss.Spec.Selector = &metav1.LabelSelector{} },
			field.ErrorTypeInvalid, "spec.selector", "empty selector is invalid for statefulset"},
		{"mismatch", func(ss *appsv1.StatefulSet) { ss.Spec.Template.Labels = map[string]string{"app": "db"} },
			field.ErrorTypeInvalid, "spec.template.metadata.labels", "`selector` does not match template `labels`"},
		{"claim without access modes", func(ss *appsv1.StatefulSet) { ss.Spec.VolumeClaimTemplates[0].Spec.AccessModes = nil },
			field.ErrorTypeRequired, "spec.volumeClaimTemplates[0].spec.accessModes", ""},
		{"claim without size", func(ss *appsv1.StatefulSet) {
			ss.Spec.VolumeClaimTemplates[0].Spec.Resources = corev1.VolumeResourceRequirements{}
		},
			field.ErrorTypeRequired, "spec.volumeClaimTemplates[0].spec.resources[storage]", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wlWantError(t, s.Validate(wlDefaulted(s, wlStatefulSet(tc.mutate))), tc.typ, tc.field, tc.detail)
		})
	}
	t.Run("update", func(t *testing.T) {
		old := wlDefaulted(s, wlStatefulSet(nil))
		ok := old.DeepCopy()
		ok.Spec.Replicas = wlInt32Ptr(3)
		ok.Spec.Template.Spec.Containers[0].Image = "postgres:17"
		ok.Spec.MinReadySeconds = 5
		ok.Spec.RevisionHistoryLimit = wlInt32Ptr(2)
		wlWantNoErrors(t, s.ValidateUpdate(ok, old))

		bad := old.DeepCopy()
		bad.Spec.ServiceName = "db-headless"
		wlWantError(t, s.ValidateUpdate(bad, old), field.ErrorTypeForbidden, "spec",
			"updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', "+
				"'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden")

		bigger := old.DeepCopy()
		bigger.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("2Gi")
		wlWantError(t, s.ValidateUpdate(bigger, old), field.ErrorTypeForbidden, "spec", "")
	})
}

func TestControllerRevision(t *testing.T) {
	s := wlStrategy(t, appsv1.SchemeGroupVersion, "controllerrevisions")
	yes := true
	cr := func() *appsv1.ControllerRevision {
		return &appsv1.ControllerRevision{
			ObjectMeta: metav1.ObjectMeta{Name: "web-7b9c", Namespace: "default", CreationTimestamp: wlCreated,
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "web", UID: "5f0c", Controller: &yes}}},
			Data:     runtime.RawExtension{Raw: []byte(`{"spec":{"template":{"metadata":{"labels":{"app":"web"}}}}}`)},
			Revision: 3,
		}
	}
	wlWantNoErrors(t, s.Validate(cr()))
	t.Run("data required", func(t *testing.T) {
		c := cr()
		c.Data = runtime.RawExtension{}
		wlWantError(t, s.Validate(c), field.ErrorTypeRequired, "data", "data is mandatory")
	})
	t.Run("negative revision", func(t *testing.T) {
		c := cr()
		c.Revision = -1
		wlWantError(t, s.Validate(c), field.ErrorTypeInvalid, "revision", "")
	})
	t.Run("data immutable", func(t *testing.T) {
		n := cr()
		n.Data.Raw = []byte(`{"spec":{}}`)
		wlWantError(t, s.ValidateUpdate(n, cr()), field.ErrorTypeInvalid, "data", "field is immutable")
	})
	t.Run("same data reformatted, new revision", func(t *testing.T) {
		n := cr()
		n.Data.Raw = []byte(`{ "spec": {"template": {"metadata": {"labels": {"app": "web"}}}} }`)
		n.Revision = 5
		wlWantNoErrors(t, s.ValidateUpdate(n, cr()))
	})
	t.Run("row", func(t *testing.T) {
		wlWantRow(t, s, cr(), []interface{}{"web-7b9c", "statefulset.apps/web", int64(3), "5m"})
		orphan := cr()
		orphan.OwnerReferences = nil
		wlWantRow(t, s, orphan, []interface{}{"web-7b9c", "<none>", int64(3), "5m"})
	})
}

// wlWantRow checks the whole row and that it fits the columns.
func wlWantRow(t *testing.T, s Strategy, obj runtime.Object, want []interface{}) {
	t.Helper()
	got := s.Row(obj, wlTestNow)
	if len(got) != len(s.Columns) {
		t.Errorf("row has %d cells for %d columns", len(got), len(s.Columns))
	}
	if len(got) != len(want) {
		t.Fatalf("row = %#v, want %#v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("cell %d (%s) = %#v, want %#v", i, s.Columns[i].Name, got[i], want[i])
		}
	}
}

func TestAppsRows(t *testing.T) {
	t.Run("deployment", func(t *testing.T) {
		s := wlStrategy(t, appsv1.SchemeGroupVersion, "deployments")
		d := wlDefaulted(s, wlDeployment(func(d *appsv1.Deployment) { d.Spec.Replicas = wlInt32Ptr(3) }))
		d.Status = appsv1.DeploymentStatus{ReadyReplicas: 2, UpdatedReplicas: 3, AvailableReplicas: 2}
		wlWantRow(t, s, d, []interface{}{"web", "2/3", int64(3), int64(2), "5m", "web,sidecar", "nginx:1.27,envoy:1.30", "app=web"})
	})
	t.Run("replicaset", func(t *testing.T) {
		s := wlStrategy(t, appsv1.SchemeGroupVersion, "replicasets")
		rs := &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{Name: "web-5d9f", CreationTimestamp: wlCreated},
			Spec:       appsv1.ReplicaSetSpec{Replicas: wlInt32Ptr(4), Selector: &metav1.LabelSelector{MatchLabels: wlAppLabels}, Template: wlPodTemplate(wlAppLabels)},
			Status:     appsv1.ReplicaSetStatus{Replicas: 4, ReadyReplicas: 1},
		}
		wlWantRow(t, s, rs, []interface{}{"web-5d9f", int64(4), int64(4), int64(1), "5m", "web,sidecar", "nginx:1.27,envoy:1.30", "app=web"})
	})
	t.Run("daemonset", func(t *testing.T) {
		s := wlStrategy(t, appsv1.SchemeGroupVersion, "daemonsets")
		ds := wlDaemonSet(func(ds *appsv1.DaemonSet) {
			ds.Spec.Template.Spec.NodeSelector = map[string]string{"kubernetes.io/os": "linux", "disk": "ssd"}
			ds.Status = appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, CurrentNumberScheduled: 3, NumberReady: 2,
				UpdatedNumberScheduled: 1, NumberAvailable: 2}
		})
		wlWantRow(t, s, ds, []interface{}{"agent", int64(3), int64(3), int64(2), int64(1), int64(2),
			"disk=ssd,kubernetes.io/os=linux", "5m", "web,sidecar", "nginx:1.27,envoy:1.30", "app=web"})
		ds.Spec.Template.Spec.NodeSelector = nil
		ds.Spec.Selector = nil
		if got := s.Row(ds, wlTestNow); got[6] != "<none>" || got[10] != "<none>" {
			t.Errorf("empty node selector / selector cells: %q %q", got[6], got[10])
		}
	})
	t.Run("statefulset", func(t *testing.T) {
		s := wlStrategy(t, appsv1.SchemeGroupVersion, "statefulsets")
		ss := wlDefaulted(s, wlStatefulSet(nil))
		ss.Status.ReadyReplicas = 1
		ss.CreationTimestamp = metav1.NewTime(wlTestNow.Add(-49 * time.Hour))
		wlWantRow(t, s, ss, []interface{}{"db", "1/1", "2d1h", "web,sidecar", "nginx:1.27,envoy:1.30"})
	})
}

// TestAppsColumns pins the column names and their -o wide split to what
// kubectl shows for each kind.
func TestAppsColumns(t *testing.T) {
	for _, tc := range []struct {
		resource string
		normal   string
		wide     string
	}{
		{"deployments", "Name Ready Up-to-date Available Age", "Containers Images Selector"},
		{"replicasets", "Name Desired Current Ready Age", "Containers Images Selector"},
		{"daemonsets", "Name Desired Current Ready Up-to-date Available Node Selector Age", "Containers Images Selector"},
		{"statefulsets", "Name Ready Age", "Containers Images"},
		{"controllerrevisions", "Name Controller Revision Age", ""},
	} {
		t.Run(tc.resource, func(t *testing.T) {
			wlCheckColumns(t, wlStrategy(t, appsv1.SchemeGroupVersion, tc.resource), tc.normal, tc.wide)
		})
	}
}

func wlCheckColumns(t *testing.T, s Strategy, normal, wide string) {
	t.Helper()
	var n, w []string
	for _, c := range s.Columns {
		if c.Priority == 0 {
			n = append(n, c.Name)
		} else {
			w = append(w, c.Name)
		}
		if c.Type == "" || c.Description == "" {
			t.Errorf("column %q lacks type or description", c.Name)
		}
	}
	if got := strings.Join(n, " "); got != normal {
		t.Errorf("columns = %q, want %q", got, normal)
	}
	if got := strings.Join(w, " "); got != wide {
		t.Errorf("wide columns = %q, want %q", got, wide)
	}
	if s.Columns[0].Format != "name" {
		t.Errorf("first column format %q", s.Columns[0].Format)
	}
}
