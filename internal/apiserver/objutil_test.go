package apiserver

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func deployment(replicas int32, ready int32, label string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "d", Labels: map[string]string{"l": label},
			OwnerReferences: []metav1.OwnerReference{{Name: "owner-" + label}}},
		Spec:   appsv1.DeploymentSpec{Replicas: ptr.To(replicas)},
		Status: appsv1.DeploymentStatus{ReadyReplicas: ready},
	}
}

func TestSpecAndStatusSeparation(t *testing.T) {
	t.Run("main resource write keeps stored status", func(t *testing.T) {
		obj, cur := deployment(3, 9, "new"), deployment(1, 1, "old")
		if err := copyStatus(obj, cur); err != nil {
			t.Fatal(err)
		}
		if *obj.Spec.Replicas != 3 || obj.Status.ReadyReplicas != 1 || obj.Labels["l"] != "new" {
			t.Errorf("got replicas=%d ready=%d label=%s", *obj.Spec.Replicas, obj.Status.ReadyReplicas, obj.Labels["l"])
		}
	})
	t.Run("status write keeps stored spec and owners", func(t *testing.T) {
		obj, cur := deployment(3, 9, "new"), deployment(1, 1, "old")
		if err := keepAllButStatus(obj, cur); err != nil {
			t.Fatal(err)
		}
		if *obj.Spec.Replicas != 1 || obj.Status.ReadyReplicas != 9 || obj.Labels["l"] != "new" || obj.OwnerReferences[0].Name != "owner-old" {
			t.Errorf("got replicas=%d ready=%d label=%s owner=%s", *obj.Spec.Replicas, obj.Status.ReadyReplicas, obj.Labels["l"], obj.OwnerReferences[0].Name)
		}
		*cur.Spec.Replicas = 7
		if *obj.Spec.Replicas != 1 {
			t.Error("the result shares memory with the stored object")
		}
	})
	t.Run("finalize changes only spec", func(t *testing.T) {
		obj := &corev1.Namespace{Spec: corev1.NamespaceSpec{}, Status: corev1.NamespaceStatus{Phase: "Active"}}
		cur := &corev1.Namespace{Spec: corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{"kubernetes"}}, Status: corev1.NamespaceStatus{Phase: "Terminating"}}
		if err := keepAllBut(obj, cur, "Spec"); err != nil {
			t.Fatal(err)
		}
		if len(obj.Spec.Finalizers) != 0 || obj.Status.Phase != "Terminating" {
			t.Errorf("got %+v", obj)
		}
	})
	t.Run("clearStatus", func(t *testing.T) {
		d := deployment(2, 2, "x")
		clearStatus(d)
		if d.Status.ReadyReplicas != 0 || *d.Spec.Replicas != 2 {
			t.Errorf("got %+v", d)
		}
	})
}

func TestSpecChanged(t *testing.T) {
	tests := []struct {
		name     string
		obj, cur *appsv1.Deployment
		want     bool
	}{
		{"same", deployment(1, 1, "a"), deployment(1, 1, "a"), false},
		{"spec differs", deployment(2, 1, "a"), deployment(1, 1, "a"), true},
		{"only status differs", deployment(1, 5, "a"), deployment(1, 1, "a"), false},
		{"only metadata differs", deployment(1, 1, "b"), deployment(1, 1, "a"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := specChanged(tt.obj, tt.cur); got != tt.want {
				t.Errorf("specChanged = %v, want %v", got, tt.want)
			}
		})
	}
	cm := &corev1.ConfigMap{Data: map[string]string{"a": "1"}}
	cm2 := &corev1.ConfigMap{Data: map[string]string{"a": "2"}}
	if !specChanged(cm, cm2) {
		t.Error("a ConfigMap's data change is a spec change")
	}
}
