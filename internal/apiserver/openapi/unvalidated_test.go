package openapi

import (
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/structured-merge-diff/v4/typed"
)

// Update conversions skip validation for built-in kinds; they must give
// the field manager exactly what the validated conversion gives.
func TestUnvalidatedConversionMatchesValidated(t *testing.T) {
	tc := service(t).TypeConverter()
	pod := func(phase corev1.PodPhase, env string) *corev1.Pod {
		return &corev1.Pod{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", Labels: map[string]string{"app": "a"}, CreationTimestamp: metav1.Now()},
			Spec: corev1.PodSpec{
				Containers: []corev1.Container{{
					Name: "c", Image: "busybox",
					Env:            []corev1.EnvVar{{Name: "A", Value: env}, {Name: "B", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}}},
					Ports:          []corev1.ContainerPort{{ContainerPort: 80, Protocol: corev1.ProtocolTCP}},
					Resources:      corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}},
					ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromString("http")}}},
				}},
				Tolerations: []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists}},
			},
			Status: corev1.PodStatus{Phase: phase, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
		}
	}
	deploy := func(replicas int32) *appsv1.Deployment {
		return &appsv1.Deployment{
			TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
			ObjectMeta: metav1.ObjectMeta{Name: "d", Namespace: "ns"},
			Spec: appsv1.DeploymentSpec{
				Replicas: &replicas,
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "a"}},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "a"}}, Spec: pod("", "1").Spec},
			},
		}
	}
	for _, pair := range [][2]runtime.Object{
		{pod(corev1.PodPending, "1"), pod(corev1.PodRunning, "2")},
		{deploy(1), deploy(3)},
	} {
		var validated, unvalidated [2]*typed.TypedValue
		for i, obj := range pair {
			v, err := tc.ObjectToTyped(obj)
			if err != nil {
				t.Fatalf("validated %T: %v", obj, err)
			}
			validated[i] = v
			// Twice: the first call learns the type, the second skips
			// validation.
			for range 2 {
				if unvalidated[i], err = tc.ObjectToTyped(obj, typed.AllowDuplicates); err != nil {
					t.Fatalf("unvalidated %T: %v", obj, err)
				}
			}
			vs, err := validated[i].ToFieldSet()
			if err != nil {
				t.Fatal(err)
			}
			us, err := unvalidated[i].ToFieldSet()
			if err != nil {
				t.Fatal(err)
			}
			if !vs.Equals(us) {
				t.Errorf("%T field sets differ:\nvalidated   %v\nunvalidated %v", obj, vs, us)
			}
		}
		vc, err := validated[0].Compare(validated[1])
		if err != nil {
			t.Fatal(err)
		}
		uc, err := unvalidated[0].Compare(unvalidated[1])
		if err != nil {
			t.Fatal(err)
		}
		if !vc.Modified.Equals(uc.Modified) || !vc.Added.Equals(uc.Added) || !vc.Removed.Equals(uc.Removed) || vc.Modified.Empty() {
			t.Errorf("%T comparisons differ:\nvalidated   %v\nunvalidated %v", pair[0], vc, uc)
		}
	}
	if _, ok := service(t).tc.types.Load(typeKey{reflect.TypeOf(&corev1.Pod{}), corev1.SchemeGroupVersion.WithKind("Pod")}); !ok {
		t.Error("the converter did not learn the Pod type: the comparison above compared two validated conversions")
	}
	// A duplicate list key is still an error where validation is asked for.
	dup := pod(corev1.PodRunning, "1")
	dup.Spec.Containers = append(dup.Spec.Containers, dup.Spec.Containers[0])
	if _, err := tc.ObjectToTyped(dup); err == nil {
		t.Error("a pod with two containers named c converted without error when validated")
	}
}
