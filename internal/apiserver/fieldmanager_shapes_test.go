package apiserver

import (
	"math/rand"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/apitesting/fuzzer"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metafuzzer "k8s.io/apimachinery/pkg/apis/meta/fuzzer"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"

	"github.com/gureum/gureum/internal/api"
	"github.com/gureum/gureum/internal/serviceaccount"
)

// A create answered from the shapes must get exactly the managedFields the
// field manager computes: random objects of many kinds, each created
// again with its scalars outside lists changed (the shape kept, so the
// second create is answered from the first), and with values zeroed or
// lists changed (a new shape, or one seen before).
func TestCreateShapesMatchFieldManager(t *testing.T) {
	reg, base := fastTestManagers(t)
	plain := &fieldManagers{tc: base.tc, m: map[fieldManagerKey]*managedfields.FieldManager{}}
	shaped := &fieldManagers{tc: base.tc, m: map[fieldManagerKey]*managedfields.FieldManager{}, shapes: newCreateShapes()}
	f := fuzzer.FuzzerFor(metafuzzer.Funcs, rand.NewSource(21), api.Codecs).NilChance(0.3).NumElements(0, 2)
	rnd := rand.New(rand.NewSource(22))
	compared, hits := 0, 0
	check := func(res *api.Resource, obj runtime.Object, what string) {
		t.Helper()
		shape, ok := createShapeKey(res, res.GroupVersionKind().GroupVersion().String(), obj)
		hit := false
		if ok {
			_, hit = shaped.shapes.fields(shape)
		}
		want, werr := trackedUpdate(plain, res, "", nil, obj, "creator")
		got, gerr := trackedUpdate(shaped, res, "", nil, obj, "creator")
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("%s %s: field manager: %v; shapes: %v", res.Kind, what, werr, gerr)
		}
		if werr != nil {
			return
		}
		if !apiequality.Semantic.DeepEqual(stripManaged(got), stripManaged(want)) {
			t.Fatalf("%s %s: the object itself differs", res.Kind, what)
		}
		g, w := createdFields(t, got), createdFields(t, want)
		if !apiequality.Semantic.DeepEqual(g, w) {
			t.Fatalf("%s %s (answered from the shapes: %v): managedFields differ:\n got %+v\nwant %+v", res.Kind, what, hit, g, w)
		}
		compared++
		if hit {
			hits++
		}
	}
	for _, gvk := range fieldTestKinds {
		res := resourceFor(t, reg, gvk)
		for i := 0; i < 30; i++ {
			obj := fuzzed(f, res)
			check(res, obj, "new")
			for j := 0; j < 3; j++ {
				same := obj.DeepCopyObject()
				changeScalars(rnd, reflect.ValueOf(same).Elem(), false)
				check(res, same, "with other values")
			}
			zeroed := obj.DeepCopyObject()
			zeroSome(rnd, reflect.ValueOf(zeroed).Elem())
			check(res, zeroed, "with some values zeroed")
			other := obj.DeepCopyObject()
			mix(rnd, reflect.ValueOf(other).Elem(), reflect.ValueOf(fuzzed(f, res)).Elem(), 0)
			check(res, other, "mixed with another")
		}
	}
	// Pods with the service account volume admission adds, its name
	// random: a pod like another but for that name is answered from the
	// other's shape; one with a second name of that prefix is written out
	// as it is.
	pods := resourceFor(t, reg, schema.GroupVersionKind{Version: "v1", Kind: "Pod"})
	podHits := 0
	for i := 0; i < 40; i++ {
		pod := fuzzed(f, pods).(*corev1.Pod)
		withToken := func(p *corev1.Pod) *corev1.Pod {
			p = p.DeepCopy()
			name := serviceaccount.VolumePrefix + randomSuffix(rnd)
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}}}}}})
			for i := range p.Spec.Containers {
				p.Spec.Containers[i].VolumeMounts = append(p.Spec.Containers[i].VolumeMounts, corev1.VolumeMount{Name: name, MountPath: serviceaccount.MountPath, ReadOnly: true})
			}
			return p
		}
		first := withToken(pod)
		check(pods, first, "with a service account volume")
		before := hits
		for j := 0; j < 3; j++ {
			again := withToken(pod)
			changeScalars(rnd, reflect.ValueOf(again).Elem(), false)
			check(pods, again, "with another service account volume")
		}
		podHits += hits - before
		second := withToken(first)
		if s, ok := createShapeKey(pods, "v1", second); ok && s.token != "" {
			t.Fatalf("a pod with two volumes named %s... has a shape with a placeholder", serviceaccount.VolumePrefix)
		}
		check(pods, second, "with two service account volumes")
	}
	t.Logf("compared %d creates, %d answered from the shapes (%d pods with a service account volume)", compared, hits, podHits)
	if compared < 1000 || hits < compared/2 || podHits < 60 {
		t.Fatalf("only %d creates compared, %d answered from the shapes (%d pods with a service account volume)", compared, hits, podHits)
	}
}

func randomSuffix(rnd *rand.Rand) string {
	const chars = "bcdfghjklmnpqrstvwxz2456789"
	b := make([]byte, 5)
	for i := range b {
		b[i] = chars[rnd.Intn(len(chars))]
	}
	return string(b)
}

// fieldTestKinds are the built-in kinds the field manager tests fuzz.
var fieldTestKinds = []schema.GroupVersionKind{
	{Version: "v1", Kind: "Pod"},
	{Version: "v1", Kind: "Node"},
	{Version: "v1", Kind: "Service"},
	{Version: "v1", Kind: "ConfigMap"},
	{Version: "v1", Kind: "Secret"},
	{Version: "v1", Kind: "Event"},
	{Version: "v1", Kind: "Endpoints"},
	{Version: "v1", Kind: "PersistentVolumeClaim"},
	{Group: "apps", Version: "v1", Kind: "Deployment"},
	{Group: "apps", Version: "v1", Kind: "ReplicaSet"},
	{Group: "apps", Version: "v1", Kind: "DaemonSet"},
	{Group: "apps", Version: "v1", Kind: "StatefulSet"},
	{Group: "apps", Version: "v1", Kind: "ControllerRevision"},
	{Group: "batch", Version: "v1", Kind: "Job"},
	{Group: "batch", Version: "v1", Kind: "CronJob"},
	{Group: "coordination.k8s.io", Version: "v1", Kind: "Lease"},
	{Group: "discovery.k8s.io", Version: "v1", Kind: "EndpointSlice"},
	{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"},
}

// Objects that bring managedFields of their own or kubectl's last-applied
// annotation, and custom objects, always go through the field manager.
func TestCreateShapesLeaveSpecialCreates(t *testing.T) {
	reg, _ := fastTestManagers(t)
	res := resourceFor(t, reg, schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"})
	key := res
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c"}, Data: map[string]string{"a": "b"}}
	if _, ok := createShapeKey(key, "v1", cm); !ok {
		t.Fatal("a plain ConfigMap has no shape key")
	}
	withFields := cm.DeepCopy()
	withFields.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "someone"}}
	applied := cm.DeepCopy()
	applied.Annotations = map[string]string{corev1.LastAppliedConfigAnnotation: "{}"}
	for name, obj := range map[string]runtime.Object{"managedFields": withFields, "last-applied": applied} {
		if _, ok := createShapeKey(key, "v1", obj); ok {
			t.Errorf("a ConfigMap with %s has a shape key", name)
		}
	}
}

// Scalars outside lists do not change a shape; a list item's, a map key
// and a value's presence do.
func TestCreateShapeKeys(t *testing.T) {
	reg, _ := fastTestManagers(t)
	res := resourceFor(t, reg, schema.GroupVersionKind{Version: "v1", Kind: "Pod"})
	key := res
	pod := func(mut func(*corev1.Pod)) string {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "a", Labels: map[string]string{"app": "x"}},
			Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "i"}}},
		}
		if mut != nil {
			mut(p)
		}
		k, ok := createShapeKey(key, "v1", p)
		if !ok {
			t.Fatal("no shape key for a pod")
		}
		return string(k.key)
	}
	base := pod(nil)
	for name, mut := range map[string]func(*corev1.Pod){
		"name":  func(p *corev1.Pod) { p.Name = "b" },
		"label": func(p *corev1.Pod) { p.Labels["app"] = "y" },
		"node":  func(p *corev1.Pod) { p.Spec.NodeName = "n2" },
	} {
		if k := pod(mut); k != base {
			t.Errorf("changing the %s changed the shape", name)
		}
	}
	created := pod(func(p *corev1.Pod) { p.CreationTimestamp = metav1.Time{Time: time.Unix(1, 0)} })
	for name, mut := range map[string]func(*corev1.Pod){
		"container name": func(p *corev1.Pod) { p.Spec.Containers[0].Name = "d" },
		"image":          func(p *corev1.Pod) { p.Spec.Containers[0].Image = "j" },
		"label key":      func(p *corev1.Pod) { p.Labels = map[string]string{"other": "x"} },
		"empty node":     func(p *corev1.Pod) { p.Spec.NodeName = "" },
		"hostname":       func(p *corev1.Pod) { p.Spec.Hostname = "h" },
		"no labels":      func(p *corev1.Pod) { p.Labels = nil },
	} {
		if k := pod(mut); k == base {
			t.Errorf("changing the %s left the shape as it was", name)
		}
	}
	if created == base {
		// A time set where none was is a null turned into a value.
		t.Errorf("setting creationTimestamp left the shape as it was")
	}
}

// createdFields is the one entry of a create, its time left out.
func createdFields(t *testing.T, obj runtime.Object) []metav1.ManagedFieldsEntry {
	t.Helper()
	out := accessor(t, obj).GetManagedFields()
	for i := range out {
		if out[i].Time == nil {
			t.Fatalf("entry %q has no time", out[i].Manager)
		}
		out[i].Time = nil
	}
	return out
}

// changeScalars gives non-empty strings, non-zero numbers and the keys'
// values of maps outside lists other non-empty, non-zero values.
func changeScalars(rnd *rand.Rand, v reflect.Value, inList bool) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			changeScalars(rnd, v.Elem(), inList)
		}
	case reflect.Struct:
		if typeInfoOf(v.Type()).marshaler || v.Type() == rawExtensionType {
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				changeScalars(rnd, v.Field(i), inList)
			}
		}
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String || inList {
			return
		}
		for iter := v.MapRange(); iter.Next(); {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(iter.Value())
			changeScalars(rnd, e, inList)
			v.SetMapIndex(iter.Key(), e)
		}
	case reflect.Slice:
		for i := range v.Len() {
			changeScalars(rnd, v.Index(i), true)
		}
	case reflect.String:
		if !inList && v.Len() > 0 && v.CanSet() && rnd.Intn(2) == 0 {
			v.SetString(v.String() + "x")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if !inList && v.Int() != 0 && v.CanSet() && rnd.Intn(2) == 0 {
			v.SetInt(v.Int()/2 + 1)
		}
	}
}

// zeroSome sets fields at random to their zero value.
func zeroSome(rnd *rand.Rand, v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			zeroSome(rnd, v.Elem())
		}
	case reflect.Struct:
		if typeInfoOf(v.Type()).marshaler {
			return
		}
		for i := range v.NumField() {
			if !v.Type().Field(i).IsExported() || v.Type().Field(i).Type == objectMetaType {
				continue
			}
			if rnd.Intn(6) == 0 {
				v.Field(i).SetZero()
			} else {
				zeroSome(rnd, v.Field(i))
			}
		}
	}
}

// BenchmarkPodCreateManagedFields is the field manager's part of a pod
// create: the full comparison with an empty pod, and the server's way
// (the shape key, then the remembered field set).
func BenchmarkPodCreateManagedFields(b *testing.B) {
	t := &testing.T{}
	reg, base := fastTestManagers(t)
	pods := resourceFor(t, reg, schema.GroupVersionKind{Version: "v1", Kind: "Pod"})
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "web-7d4b9c-x2k", Namespace: "default", GenerateName: "web-7d4b9c-",
			Labels:          map[string]string{"app": "web", "pod-template-hash": "7d4b9c"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-7d4b9c", UID: "u1", Controller: ptrTo(true)}},
		},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: "registry.k8s.io/pause:3.10",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
			Env:   []corev1.EnvVar{{Name: "MODE", Value: "bench"}},
		}}},
	}
	pods.Strategy.Default(pod)
	for _, c := range []struct {
		name string
		fm   *fieldManagers
	}{
		{"full", &fieldManagers{tc: base.tc, m: map[fieldManagerKey]*managedfields.FieldManager{}}},
		{"shapes", &fieldManagers{tc: base.tc, m: map[fieldManagerKey]*managedfields.FieldManager{}, shapes: newCreateShapes()}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if err := c.fm.update(pods, "", nil, pod.DeepCopy(), "kube-controller-manager"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// The service account volume's name stands as a placeholder only when no
// other string of the pod shares its prefix, whose order against the
// name would then depend on the random part.
func TestCreateShapeServiceAccountToken(t *testing.T) {
	reg, _ := fastTestManagers(t)
	key := resourceFor(t, reg, schema.GroupVersionKind{Version: "v1", Kind: "Pod"})
	pod := func(suffix string, env ...corev1.EnvVar) *corev1.Pod {
		name := serviceaccount.VolumePrefix + suffix
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "a"},
			Spec: corev1.PodSpec{
				Volumes: []corev1.Volume{{Name: name, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{}}}},
				Containers: []corev1.Container{{Name: "c", Image: "i", Env: env,
					VolumeMounts: []corev1.VolumeMount{{Name: name, MountPath: serviceaccount.MountPath}}}},
			},
		}
	}
	a, okA := createShapeKey(key, "v1", pod("abcde"))
	b, okB := createShapeKey(key, "v1", pod("zyxwv"))
	if !okA || !okB || a.token != serviceaccount.VolumePrefix+"abcde" || string(a.key) != string(b.key) {
		t.Fatalf("pods differing only in their service account volume's name: shapes %v %v, token %q, same key %v", okA, okB, a.token, string(a.key) == string(b.key))
	}
	if _, ok := createShapeKey(key, "v1", pod("abcde", corev1.EnvVar{Name: serviceaccount.VolumePrefix + "m"})); ok {
		t.Error("a pod with another string sharing the volume's prefix has a shape")
	}
}
