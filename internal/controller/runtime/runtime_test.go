package runtime_test

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ctrlruntime "github.com/gureum/gureum/internal/controller/runtime"
	"github.com/gureum/gureum/internal/testenv"
)

// TestUpdateFromTrimmedObjectKeepsManagedFields is what makes
// DropManagedFields safe: a controller's update built from an informer
// object without managedFields leaves the stored entries in place and
// adds its own.
func TestUpdateFromTrimmedObjectKeepsManagedFields(t *testing.T) {
	s := testenv.Start(t)
	ctx := context.Background()
	cms := s.Client.CoreV1().ConfigMaps("default")
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c"}, Data: map[string]string{"a": "1"}},
		metav1.CreateOptions{FieldManager: "creator"}); err != nil {
		t.Fatal(err)
	}
	cm, err := cms.Get(ctx, "c", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	obj, _ := ctrlruntime.DropManagedFields(cm)
	cm = obj.(*corev1.ConfigMap)
	if cm.ManagedFields != nil {
		t.Fatalf("managedFields left: %+v", cm.ManagedFields)
	}
	cm.Data["b"] = "2"
	got, err := cms.Update(ctx, cm, metav1.UpdateOptions{FieldManager: "controller"})
	if err != nil {
		t.Fatal(err)
	}
	managers := map[string]bool{}
	for _, m := range got.ManagedFields {
		managers[m.Manager] = true
	}
	if !managers["creator"] || !managers["controller"] || len(got.ManagedFields) != 2 {
		t.Fatalf("managedFields after the update: %+v, want creator's and controller's", got.ManagedFields)
	}
}
