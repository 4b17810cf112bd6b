package api

import (
	"encoding/json"
	"sort"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// wlFuzzSeeds are valid objects of every kind the apps and other strategies
// serve, in the order the fuzz target picks them.
func wlFuzzSeeds() []runtime.Object {
	yes := true
	return []runtime.Object{
		wlDeployment(nil),
		&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "default"},
			Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: wlAppLabels}, Template: wlPodTemplate(wlAppLabels)}},
		wlDaemonSet(nil),
		wlStatefulSet(nil),
		&appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "default",
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "web", UID: "u", Controller: &yes}}},
			Data: runtime.RawExtension{Raw: []byte(`{"spec":{}}`)}, Revision: 1},
		wlJob(nil),
		wlCronJob(func(cj *batchv1.CronJob) { cj.Spec.TimeZone = wlStr("Europe/Berlin") }),
		wlHPA(nil),
		wlIngress(nil),
		&networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "gureum"}, Spec: networkingv1.IngressClassSpec{Controller: "gureum.io/ingress"}},
		&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "deny", Namespace: "default"}},
		wlEndpointSlice(nil),
		&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "n1", Namespace: "kube-node-lease"}},
		&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "local"}, Provisioner: "gureum.io/local-path"},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "default"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get"}}}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "system:r"},
			Rules: []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "default"},
			RoleRef: rbacv1.RoleRef{Kind: "Role", Name: "r"}, Subjects: []rbacv1.Subject{{Kind: "User", Name: "jane"}}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "b"},
			RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "r"}, Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "ci", Namespace: "tools"}}},
	}
}

// wlSortedErrors renders errors order-independently: validation walks maps
// (labels, annotations), so only the set of errors is stable.
func wlSortedErrors(errs field.ErrorList) []string {
	out := make([]string, len(errs))
	for i, e := range errs {
		out[i] = e.Error()
	}
	sort.Strings(out)
	return out
}

// FuzzAppsAndOtherStrategies decodes arbitrary JSON as one of the served
// kinds and runs it through what the API server does on a write. Nothing may
// panic; defaulting must be idempotent (it runs on every write); validation
// must be deterministic and must not change the object; an update that
// changes nothing must not fail for immutability reasons; rows must fit the
// columns.
func FuzzAppsAndOtherStrategies(f *testing.F) {
	seeds := wlFuzzSeeds()
	for i, obj := range seeds {
		b, err := json.Marshal(obj)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), b)
	}
	f.Add(uint8(3), []byte(`{"metadata":{"name":"x"},"spec":{"updateStrategy":{"type":"OnDelete","rollingUpdate":{"maxUnavailable":"0%"}}}}`))
	f.Add(uint8(6), []byte(`{"spec":{"schedule":"TZ=UTC */5 1-3,7 ? JAN-mar *","timeZone":"Etc/UTC"}}`))
	f.Add(uint8(5), []byte(`{"spec":{"completionMode":"Indexed","successPolicy":{"rules":[{"succeededIndexes":"0-2,9"}]}}}`))
	f.Add(uint8(7), []byte(`{"spec":{"metrics":[{"type":"Pods"},{"type":"Object","resource":{}}],"behavior":{}}}`))

	reg := NewRegistry(DefaultResources())
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		seed := seeds[int(which)%len(seeds)]
		gvks, _, err := Scheme.ObjectKinds(seed)
		if err != nil {
			t.Fatal(err)
		}
		res, ok := reg.ForKind(gvks[0])
		if !ok {
			t.Fatalf("%v is not served", gvks[0])
		}
		s := res.Strategy
		obj := res.New()
		if json.Unmarshal(data, obj) != nil {
			return
		}
		// The server sets the uid before defaulting on create.
		if m, err := meta.Accessor(obj); err == nil && m.GetUID() == "" {
			m.SetUID("3f6c-fuzz")
		}
		s.PrepareForCreate(obj)
		s.Default(obj)
		once := obj.DeepCopyObject()
		s.Default(obj)
		if !apiequality.Semantic.DeepEqual(once, obj) {
			t.Fatalf("Default is not idempotent for %T", obj)
		}
		before := obj.DeepCopyObject()
		errs := wlSortedErrors(s.Validate(obj))
		if !apiequality.Semantic.DeepEqual(before, obj) {
			t.Fatalf("Validate changed the %T", obj)
		}
		if again := wlSortedErrors(s.Validate(obj.DeepCopyObject())); !apiequality.Semantic.DeepEqual(errs, again) {
			t.Fatalf("Validate is not deterministic:\n%v\n%v", errs, again)
		}

		updated := obj.DeepCopyObject()
		s.PrepareForUpdate(updated, obj)
		s.Default(updated)
		upd := s.ValidateUpdate(updated, obj)
		// CronJobs check schedules and names differently on update (legacy
		// TZ= prefixes, long names), so only the others are compared.
		if res.Kind != "CronJob" {
			want := map[string]bool{}
			for _, e := range errs {
				want[e] = true
			}
			for _, e := range wlSortedErrors(upd) {
				if !want[e] {
					t.Fatalf("a no-op update of %T fails with %q, which create did not report", obj, e)
				}
			}
		}

		if row := s.Row(obj, wlTestNow); len(row) != len(s.Columns) {
			t.Fatalf("row has %d cells for %d columns", len(row), len(s.Columns))
		}
		_ = s.Fields(obj)
	})
}
