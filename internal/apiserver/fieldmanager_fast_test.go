package apiserver

import (
	"fmt"
	"math/rand"
	"sort"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/structured-merge-diff/v4/fieldpath"

	"github.com/gureum/gureum/internal/api"
	"github.com/gureum/gureum/internal/apiserver/openapi"
)

var (
	fastTestOnce sync.Once
	fastTestReg  *api.Registry
	fastTestFM   fieldManagers
	fastTestErr  error
)

func fastTestManagers(t *testing.T) (*api.Registry, *fieldManagers) {
	t.Helper()
	fastTestOnce.Do(func() {
		fastTestReg = api.NewRegistry(api.DefaultResources())
		svc, err := openapi.New(fastTestReg)
		if err != nil {
			fastTestErr = err
			return
		}
		fastTestFM = newFieldManagers(svc.TypeConverter())
	})
	if fastTestErr != nil {
		t.Fatalf("openapi: %v", fastTestErr)
	}
	return fastTestReg, &fastTestFM
}

func resourceFor(t *testing.T, reg *api.Registry, gvk schema.GroupVersionKind) *api.Resource {
	t.Helper()
	res, ok := reg.ForKind(gvk)
	if !ok {
		t.Fatalf("no resource for %v", gvk)
	}
	return res
}

// fullUpdate is what the structured-merge-diff field manager makes of
// manager's update of live to obj.
func fullUpdate(t *testing.T, fm *fieldManagers, res *api.Resource, sub string, live, obj runtime.Object, manager string) runtime.Object {
	t.Helper()
	m, err := fm.get(res, sub)
	if err != nil || m == nil {
		t.Fatalf("field manager: %v", err)
	}
	obj = obj.DeepCopyObject()
	obj.GetObjectKind().SetGroupVersionKind(res.GroupVersionKind())
	out, err := m.Update(live.DeepCopyObject(), obj, manager)
	if err != nil {
		t.Fatalf("full update: %v", err)
	}
	truncateManagedFieldTimes(out)
	return out
}

// comparable returns entries with each time that moved away from live's
// replaced by one marker, in the encoder's order: the fast path and the
// full one read the clock at different moments.
func comparable(t *testing.T, live, obj runtime.Object) []metav1.ManagedFieldsEntry {
	t.Helper()
	before := map[string]*metav1.Time{}
	for _, e := range accessor(t, live).GetManagedFields() {
		before[string(e.Operation)+"/"+e.Manager+"/"+e.Subresource] = e.Time
	}
	moved := &metav1.Time{Time: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)}
	var out []metav1.ManagedFieldsEntry
	for _, e := range accessor(t, obj).GetManagedFields() {
		if !apiequality.Semantic.DeepEqual(e.Time, before[string(e.Operation)+"/"+e.Manager+"/"+e.Subresource]) {
			e.Time = moved
		}
		out = append(out, e)
	}
	sortManagedFields(out)
	return out
}

func aged(t *testing.T, obj runtime.Object) runtime.Object {
	obj = obj.DeepCopyObject()
	a := accessor(t, obj)
	entries := a.GetManagedFields()
	for i := range entries {
		entries[i].Time = &metav1.Time{Time: time.Date(2020, 1, 1, 0, 0, i, 0, time.UTC)}
	}
	a.SetManagedFields(entries)
	return obj
}

func accessor(t *testing.T, obj runtime.Object) metav1.Object {
	t.Helper()
	a, ok := obj.(metav1.Object)
	if !ok {
		t.Fatalf("%T has no metadata", obj)
	}
	return a
}

// checkAgainstFull runs both paths and fails if the fast one answers
// differently; it returns whether the fast path answered.
func checkAgainstFull(t *testing.T, fm *fieldManagers, res *api.Resource, sub string, live, obj runtime.Object, manager string) bool {
	t.Helper()
	// Times in the past, so that a time either path moves differs from
	// live's whatever the clock's second; what the client sent is aged
	// alike so it still matches live where it did.
	live, obj = aged(t, live), aged(t, obj)
	want := fullUpdate(t, fm, res, sub, live, obj, manager)
	gv := res.GroupVersionKind().GroupVersion().String()

	// The same update as custom resources see it (unstructured objects,
	// the other walk): where it answers, it answers as the field manager.
	ulive, uobj := toUnstructured(t, live), toUnstructured(t, obj)
	uAnswered := updateOwned(gv, sub, ulive, uobj, manager, time.Now())
	if uAnswered {
		if g, w := comparable(t, ulive, uobj), comparable(t, live, want); !apiequality.Semantic.DeepEqual(g, w) {
			t.Fatalf("fast path (unstructured) managedFields differ from the field manager's:\n got %+v\nwant %+v", g, w)
		}
	}

	got := obj.DeepCopyObject()
	if !updateOwned(gv, sub, live, got, manager, time.Now()) {
		return false
	}
	if g, w := comparable(t, live, got), comparable(t, live, want); !apiequality.Semantic.DeepEqual(g, w) {
		t.Fatalf("fast path managedFields differ from the field manager's:\n got %+v\nwant %+v", g, w)
	}
	// The typed walk is the stricter one.
	if !uAnswered {
		t.Fatalf("the typed walk answered an update the unstructured walk did not")
	}
	return true
}

func toUnstructured(t *testing.T, obj runtime.Object) *unstructured.Unstructured {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	// An empty list (a reset) is what a client's JSON would carry;
	// the conversion omits it.
	if mf := accessor(t, obj).GetManagedFields(); mf != nil && len(mf) == 0 {
		m["metadata"].(map[string]any)["managedFields"] = []any{}
	}
	return &unstructured.Unstructured{Object: m}
}

func TestUpdateOwnedMatchesFieldManager(t *testing.T) {
	reg, fm := fastTestManagers(t)
	leases := resourceFor(t, reg, coordinationv1.SchemeGroupVersion.WithKind("Lease"))
	pods := resourceFor(t, reg, corev1.SchemeGroupVersion.WithKind("Pod"))

	created := func(res *api.Resource, obj runtime.Object, manager string) runtime.Object {
		obj = obj.DeepCopyObject()
		if err := fm.update(res, "", nil, obj, manager); err != nil {
			t.Fatal(err)
		}
		accessor(t, obj).SetResourceVersion("5")
		accessor(t, obj).SetUID("u1")
		return obj
	}
	lease := created(leases, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "n1", Namespace: "kube-node-lease"},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity:       ptr.To("n1"),
			LeaseDurationSeconds: ptr.To[int32](40),
			RenewTime:            &metav1.MicroTime{Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		},
	}, "kubelet").(*coordinationv1.Lease)
	// holderIdentity also taken over by another manager.
	shared := lease.DeepCopy()
	shared.Spec.HolderIdentity = ptr.To("n2")
	shared = fullUpdate(t, fm, leases, "", lease, shared, "other").(*coordinationv1.Lease)

	// holderIdentity owned by kubelet and, through an apply of the same
	// value, by an applier as well.
	co, err := fm.apply(leases, "", lease.DeepCopy(), &coordinationv1.Lease{
		TypeMeta:   metav1.TypeMeta{APIVersion: "coordination.k8s.io/v1", Kind: "Lease"},
		ObjectMeta: metav1.ObjectMeta{Name: "n1", Namespace: "kube-node-lease"},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To("n1")},
	}, "applier", false)
	if err != nil {
		t.Fatal(err)
	}
	coOwned := co.(*coordinationv1.Lease)

	pod := created(pods, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", Labels: map[string]string{"a": "1"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}, "kubectl").(*corev1.Pod)
	withStatus := pod.DeepCopy()
	withStatus.Status.Phase = corev1.PodPending
	withStatus.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}}
	withStatus = fullUpdate(t, fm, pods, "status", pod, withStatus, "kubelet").(*corev1.Pod)

	renew := func(l *coordinationv1.Lease) *coordinationv1.Lease {
		l = l.DeepCopy()
		l.Spec.RenewTime = &metav1.MicroTime{Time: l.Spec.RenewTime.Add(10 * time.Second)}
		return l
	}
	for _, tc := range []struct {
		name    string
		res     *api.Resource
		sub     string
		live    runtime.Object
		obj     runtime.Object
		manager string
		fast    bool
	}{
		{"lease renewal by its owner", leases, "", lease, renew(lease), "kubelet", true},
		{"renewal sent without managedFields", leases, "", lease, func() runtime.Object {
			l := renew(lease)
			l.ManagedFields = nil
			return l
		}(), "kubelet", true},
		{"renewal by a new manager", leases, "", lease, renew(lease), "someone", false},
		{"no change", leases, "", lease, lease.DeepCopy(), "someone", true},
		{"only stripped metadata changes", leases, "", lease, func() runtime.Object {
			l := lease.DeepCopy()
			l.ResourceVersion = "9"
			l.Generation = 3
			return l
		}(), "someone", true},
		{"a field removed", leases, "", lease, func() runtime.Object {
			l := renew(lease)
			l.Spec.LeaseDurationSeconds = nil
			return l
		}(), "kubelet", false},
		{"a label added", leases, "", lease, func() runtime.Object {
			l := renew(lease)
			l.Labels = map[string]string{"x": "y"}
			return l
		}(), "kubelet", false},
		{"a field another manager owns", leases, "", shared, func() runtime.Object {
			l := shared.DeepCopy()
			l.Spec.HolderIdentity = ptr.To("n3")
			return l
		}(), "kubelet", false},
		{"a field owned with another manager", leases, "", coOwned, func() runtime.Object {
			l := coOwned.DeepCopy()
			l.Spec.HolderIdentity = ptr.To("n3")
			return l
		}(), "kubelet", false},
		{"renewal beside a field owned with another manager", leases, "", coOwned, renew(coOwned), "kubelet", true},
		{"renewal beside a field another manager owns", leases, "", shared, renew(shared), "kubelet", true},
		{"client resets managedFields", leases, "", lease, func() runtime.Object {
			l := renew(lease)
			l.ManagedFields = []metav1.ManagedFieldsEntry{}
			return l
		}(), "kubelet", false},
		{"client rewrites managedFields", leases, "", lease, func() runtime.Object {
			l := renew(lease)
			l.ManagedFields = append([]metav1.ManagedFieldsEntry(nil), l.ManagedFields...)
			l.ManagedFields[0].Manager = "renamed"
			return l
		}(), "kubelet", false},
		{"label value changed by its owner", pods, "", pod, func() runtime.Object {
			p := pod.DeepCopy()
			p.Labels = map[string]string{"a": "2"}
			return p
		}(), "kubectl", true},
		{"status phase by its owner", pods, "status", withStatus, func() runtime.Object {
			p := withStatus.DeepCopy()
			p.Status.Phase = corev1.PodRunning
			p.ManagedFields = nil // a subresource ignores what the client sent
			return p
		}(), "kubelet", true},
		{"status list item changed", pods, "status", withStatus, func() runtime.Object {
			p := withStatus.DeepCopy()
			p.Status.Conditions[0].Status = corev1.ConditionTrue
			return p
		}(), "kubelet", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := checkAgainstFull(t, fm, tc.res, tc.sub, tc.live, tc.obj, tc.manager); got != tc.fast {
				t.Fatalf("fast path answered: %v, want %v", got, tc.fast)
			}
		})
	}
}

// A random walk of ConfigMap updates by three managers: wherever the fast
// path answers, it answers as the field manager does.
func TestUpdateOwnedRandomWalk(t *testing.T) {
	reg, fm := fastTestManagers(t)
	cms := resourceFor(t, reg, corev1.SchemeGroupVersion.WithKind("ConfigMap"))
	rng := rand.New(rand.NewSource(1))
	managers := []string{"a", "b", "c"}
	var live runtime.Object = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm", Namespace: "default"}, Data: map[string]string{"k0": "v"}}
	if err := fm.update(cms, "", nil, live, "a"); err != nil {
		t.Fatal(err)
	}
	fast := 0
	for step := 0; step < 400; step++ {
		obj := live.DeepCopyObject().(*corev1.ConfigMap)
		manager := managers[rng.Intn(len(managers))]
		key := fmt.Sprintf("k%d", rng.Intn(4))
		switch rng.Intn(6) {
		case 0: // add or remove a key
			if _, ok := obj.Data[key]; ok {
				delete(obj.Data, key)
			} else {
				obj.Data[key] = "v"
			}
		case 1:
			obj.Labels = map[string]string{"l": fmt.Sprint(rng.Intn(2))}
		case 2:
			obj.ManagedFields = nil
			fallthrough
		default: // change values of keys that exist
			for k := range obj.Data {
				if rng.Intn(2) == 0 {
					obj.Data[k] = fmt.Sprint(rng.Intn(3))
				}
			}
		}
		if checkAgainstFull(t, fm, cms, "", live, obj, manager) {
			fast++
		}
		live = fullUpdate(t, fm, cms, "", live, obj, manager)
		data := accessor(t, live)
		data.SetResourceVersion(fmt.Sprint(step + 10))
	}
	if fast < 50 {
		t.Fatalf("the fast path answered %d of 400 updates; the walk no longer exercises it", fast)
	}
	keys := make([]string, 0)
	for _, e := range accessor(t, live).GetManagedFields() {
		keys = append(keys, e.Manager)
	}
	sort.Strings(keys)
	t.Logf("fast path answered %d of 400 updates; final managers %v", fast, keys)
}

// BenchmarkLeaseRenewalManagedFields compares the two ways of tracking a
// node's Lease renewal.
func BenchmarkLeaseRenewalManagedFields(b *testing.B) {
	t := &testing.T{}
	reg, fm := fastTestManagers(t)
	leases := resourceFor(t, reg, coordinationv1.SchemeGroupVersion.WithKind("Lease"))
	live := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "n1", Namespace: "kube-node-lease", UID: "u"},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity:       ptr.To("n1"),
			LeaseDurationSeconds: ptr.To[int32](40),
			RenewTime:            &metav1.MicroTime{Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		},
	}
	if err := fm.update(leases, "", nil, live, "kubelet"); err != nil {
		b.Fatal(err)
	}
	next := live.DeepCopy()
	next.Spec.RenewTime = &metav1.MicroTime{Time: time.Date(2026, 1, 1, 0, 0, 10, 0, time.UTC)}
	m, _ := fm.get(leases, "")
	b.Run("full", func(b *testing.B) {
		for range b.N {
			if _, err := m.Update(live, next.DeepCopy(), "kubelet"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("owned", func(b *testing.B) {
		for range b.N {
			if !updateOwned("coordination.k8s.io/v1", "", live, next.DeepCopy(), "kubelet", time.Now()) {
				b.Fatal("not recognised")
			}
		}
	})
	// What a renewal costs the server's field managers, views and all.
	b.Run("update", func(b *testing.B) {
		for range b.N {
			if err := fm.update(leases, "", live, next.DeepCopy(), "kubelet"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// The walk reports each changed leaf by its own path, siblings and
// cousins alike (its path stack is shared between them).
func TestTypedChangedLeavesReportEveryPath(t *testing.T) {
	at := func(sec int) *metav1.MicroTime {
		return &metav1.MicroTime{Time: time.Date(2026, 1, 1, 0, 0, sec, 0, time.UTC)}
	}
	live := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{"a": "1", "b": "1"}},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity: ptr.To("n1"), LeaseDurationSeconds: ptr.To[int32](40),
			AcquireTime: at(0), RenewTime: at(0), LeaseTransitions: ptr.To[int32](1),
		},
	}
	obj := live.DeepCopy()
	obj.Labels["b"] = "2"
	obj.Spec.HolderIdentity = ptr.To("n2")
	obj.Spec.LeaseDurationSeconds = ptr.To[int32](30)
	obj.Spec.RenewTime = at(10)
	obj.Spec.LeaseTransitions = ptr.To[int32](2)
	lv, ov, ok := sameStructs(live, obj)
	if !ok {
		t.Fatal("a Lease and its copy are not the same struct type")
	}
	var changed []fieldpath.Path
	if !typedChangedLeaves(lv, ov, make(fieldpath.Path, 0, pathStack), &changed) {
		t.Fatal("values changed, shapes did not: want the walk to report leaves")
	}
	var got []string
	for _, p := range changed {
		got = append(got, p.String())
	}
	sort.Strings(got)
	want := []string{".metadata.labels.b", ".spec.holderIdentity", ".spec.leaseDurationSeconds", ".spec.leaseTransitions", ".spec.renewTime"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("changed leaves %v, want %v", got, want)
	}
}
