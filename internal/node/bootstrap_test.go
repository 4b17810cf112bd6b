package node

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	"k8s.io/kube-aggregator/pkg/client/clientset_generated/clientset/fake"

	"github.com/gureum/gureum/internal/api"
)

func TestBootstrapAPIServices(t *testing.T) {
	ctx := context.Background()
	gvs := []schema.GroupVersion{{Version: "v1"}, {Group: "apps", Version: "v1"}, {Group: "apiregistration.k8s.io", Version: "v1"}}
	stale := api.LocalAPIServices([]schema.GroupVersion{{Group: "old.example.com", Version: "v1"}}, metav1.Now())[0]
	port := int32(443)
	someoneElses := &apiregistrationv1.APIService{ObjectMeta: metav1.ObjectMeta{Name: "v1beta1.metrics.k8s.io"},
		Spec: apiregistrationv1.APIServiceSpec{Group: "metrics.k8s.io", Version: "v1beta1", GroupPriorityMinimum: 100, VersionPriority: 100,
			Service: &apiregistrationv1.ServiceReference{Namespace: "kube-system", Name: "metrics-server", Port: &port}}}
	c := fake.NewSimpleClientset(stale, someoneElses)

	if err := bootstrapAPIServices(ctx, c.ApiregistrationV1(), gvs); err != nil {
		t.Fatal(err)
	}
	list, err := c.ApiregistrationV1().APIServices().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]apiregistrationv1.APIService{}
	for _, a := range list.Items {
		got[a.Name] = a
	}
	if len(got) != 3 {
		t.Errorf("APIServices = %v", got)
	}
	for _, name := range []string{"v1.", "v1.apps"} {
		if a, ok := got[name]; !ok || !localAPIServiceAvailable(&a) {
			t.Errorf("%s = %+v", name, a)
		}
	}
	if _, ok := got["v1.old.example.com"]; ok {
		t.Error("the APIService of a group no longer served was kept")
	}
	if _, ok := got["v1beta1.metrics.k8s.io"]; !ok {
		t.Error("someone else's APIService was deleted")
	}

	// A second start changes nothing.
	c.ClearActions()
	if err := bootstrapAPIServices(ctx, c.ApiregistrationV1(), gvs); err != nil {
		t.Fatal(err)
	}
	for _, a := range c.Actions() {
		if a.GetVerb() != "list" {
			t.Errorf("second bootstrap wrote: %v", a)
		}
	}
}
