package history

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/kubernetes/fake"
)

func template(image string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image}}},
	}
}

// kubectlPatch is what kubectl computes to decide whether `rollout undo`
// would change anything (getDaemonSetPatch in kubectl).
func kubectlPatch(t *testing.T, ds *appsv1.DaemonSet) []byte {
	t.Helper()
	raw, _ := json.Marshal(ds)
	var m map[string]interface{}
	_ = json.Unmarshal(raw, &m)
	tmpl := m["spec"].(map[string]interface{})["template"].(map[string]interface{})
	tmpl["$patch"] = "replace"
	out, _ := json.Marshal(map[string]interface{}{"spec": map[string]interface{}{"template": tmpl}})
	return out
}

func TestPatchMatchesKubectlAndRestoresTemplate(t *testing.T) {
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "x"}, Spec: appsv1.DaemonSetSpec{Template: template("v:1")}}
	data, err := Patch(&ds.Spec.Template)
	if err != nil {
		t.Fatal(err)
	}
	if want := kubectlPatch(t, ds); !bytes.Equal(data, want) {
		t.Errorf("Patch =\n%s\nkubectl computes\n%s", data, want)
	}
	// Applying it the way `rollout undo` does restores the template.
	changed := ds.DeepCopy()
	changed.Spec.Template = template("v:2")
	changed.Spec.Template.Spec.Containers = append(changed.Spec.Template.Spec.Containers, corev1.Container{Name: "extra", Image: "e"})
	cur, _ := json.Marshal(changed)
	patched, err := strategicpatch.StrategicMergePatch(cur, data, &appsv1.DaemonSet{})
	if err != nil {
		t.Fatal(err)
	}
	var back appsv1.DaemonSet
	if err := json.Unmarshal(patched, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Spec.Template.Spec.Containers) != 1 || back.Spec.Template.Spec.Containers[0].Image != "v:1" {
		t.Errorf("undo gave %+v", back.Spec.Template.Spec.Containers)
	}
	got, err := Template(data)
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.Containers[0].Image != "v:1" || got.Labels["app"] != "web" {
		t.Errorf("Template = %+v", got)
	}
}

func TestHashAndName(t *testing.T) {
	a, _ := Patch(ptr(template("v:1")))
	b, _ := Patch(ptr(template("v:2")))
	one := int32(1)
	if Hash(a, nil) != Hash(a, nil) {
		t.Error("hash not stable")
	}
	if Hash(a, nil) == Hash(b, nil) || Hash(a, nil) == Hash(a, &one) {
		t.Error("hash must change with data and collision count")
	}
	if n := Name(strings.Repeat("x", 300), "abc"); len(n) > 253 || !strings.HasSuffix(n, "-abc") {
		t.Errorf("Name = %q (%d)", n, len(n))
	}
	if n := Name("web", "abc"); n != "web-abc" {
		t.Errorf("Name = %q", n)
	}
}

func ptr[T any](v T) *T { return &v }

func rev(name string, n int64) *appsv1.ControllerRevision {
	return &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: name}, Revision: n}
}

func names(revs []*appsv1.ControllerRevision) string {
	var s []string
	for _, r := range revs {
		s = append(s, r.Name)
	}
	return strings.Join(s, ",")
}

func TestToTruncate(t *testing.T) {
	revs := []*appsv1.ControllerRevision{rev("r3", 3), rev("r1", 1), rev("r5", 5), rev("r2", 2), rev("r4", 4)}
	tests := []struct {
		name  string
		live  map[string]bool
		limit int
		want  string
	}{
		{"within limit", map[string]bool{"r5": true}, 10, ""},
		{"oldest first", map[string]bool{"r5": true}, 2, "r1,r2"},
		{"live revisions kept", map[string]bool{"r5": true, "r1": true}, 1, "r2,r3"},
		{"limit zero keeps only live", map[string]bool{"r5": true}, 0, "r1,r2,r3,r4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := names(ToTruncate(revs, tt.live, tt.limit)); got != tt.want {
				t.Errorf("ToTruncate = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestEqualIsSemantic(t *testing.T) {
	a, _ := Patch(ptr(template("v:1")))
	var m map[string]interface{}
	_ = json.Unmarshal(a, &m)
	reencoded, _ := json.MarshalIndent(m, "", "  ")
	b, _ := Patch(ptr(template("v:2")))
	if !Equal(a, reencoded) || Equal(a, b) {
		t.Error("Equal must compare by value")
	}
}

func TestSyncCreatesRenumbersAndDetectsCollisions(t *testing.T) {
	ctx := context.Background()
	owner := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "u1",
		Annotations: map[string]string{"kubernetes.io/change-cause": "kubectl set image"}}}
	gvk := appsv1.SchemeGroupVersion.WithKind("StatefulSet")
	client := fake.NewClientset()
	s := Store{Client: client}
	lbls := map[string]string{"app": "web"}
	d1, _ := Patch(ptr(template("v:1")))
	d2, _ := Patch(ptr(template("v:2")))
	var cc int32

	r1, old, err := s.Sync(ctx, owner, gvk, lbls, d1, nil, &cc)
	if err != nil || r1.Revision != 1 || len(old) != 0 {
		t.Fatalf("first Sync = %+v, %v, %v", r1, old, err)
	}
	if r1.Name != "web-"+Hash(d1, &cc) || r1.Labels[HashLabel] != Hash(d1, &cc) || r1.Labels["app"] != "web" ||
		r1.Annotations["kubernetes.io/change-cause"] == "" || !metav1.IsControlledBy(r1, owner) {
		t.Errorf("revision = %+v", r1.ObjectMeta)
	}
	r2, old, err := s.Sync(ctx, owner, gvk, lbls, d2, []*appsv1.ControllerRevision{r1}, &cc)
	if err != nil || r2.Revision != 2 || names(old) != r1.Name {
		t.Fatalf("second Sync = %+v, %v, %v", r2, old, err)
	}
	// Going back to v:1 renumbers revision 1 as 3 instead of copying it.
	r3, _, err := s.Sync(ctx, owner, gvk, lbls, d1, []*appsv1.ControllerRevision{r1, r2}, &cc)
	if err != nil || r3.Name != r1.Name || r3.Revision != 3 {
		t.Fatalf("third Sync = %+v, %v", r3, err)
	}
	// Creating the same revision again (stale cache) returns the stored one.
	again, err := s.Create(ctx, New(owner, gvk, lbls, d2, 9, &cc), &cc)
	if err != nil || again.Name != r2.Name || cc != 0 {
		t.Fatalf("Create existing = %v, %v (collisions %d)", again, err, cc)
	}
	// Another owner's revision under our name is a collision.
	other := New(&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "u2"}}, gvk, lbls, d1, 1, ptr(int32(7)))
	other.Name = Name("web", Hash([]byte(`{"x":1}`), &cc))
	if _, err := client.AppsV1().ControllerRevisions("ns").Create(ctx, other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	mine := New(owner, gvk, lbls, []byte(`{"x":1}`), 4, &cc)
	if _, err := s.Create(ctx, mine, &cc); !errors.Is(err, ErrCollision) || cc != 1 {
		t.Fatalf("collision: err %v, count %d", err, cc)
	}
	if err := s.Delete(ctx, r2); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, r2); err != nil {
		t.Fatalf("deleting twice: %v", err)
	}
}

func TestClassify(t *testing.T) {
	owner := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "x", UID: "u1"}}
	gvk := appsv1.SchemeGroupVersion.WithKind("DaemonSet")
	mk := func(name, app string, controller metav1.Object, deleting bool) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("p-" + name), Labels: map[string]string{"app": app}}}
		if controller != nil {
			p.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(controller, gvk)}
		}
		if deleting {
			now := metav1.Now()
			p.DeletionTimestamp = &now
		}
		return p
	}
	other := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "y", UID: "u2"}}
	pods := []*corev1.Pod{
		mk("mine", "a", owner, false),
		mk("relabelled", "b", owner, false),
		mk("orphan", "a", nil, false),
		mk("dying-orphan", "a", nil, true),
		mk("unrelated-orphan", "b", nil, false),
		mk("theirs", "a", other, false),
	}
	c := Classify(pods, owner, func(p *corev1.Pod) bool { return p.Labels["app"] == "a" })
	podNames := func(ps []*corev1.Pod) string {
		var s []string
		for _, p := range ps {
			s = append(s, p.Name)
		}
		return strings.Join(s, ",")
	}
	if got := podNames(c.Mine); got != "mine" {
		t.Errorf("Mine = %s", got)
	}
	if got := podNames(c.Adopt); got != "orphan" {
		t.Errorf("Adopt = %s", got)
	}
	if got := podNames(c.Release); got != "relabelled" {
		t.Errorf("Release = %s", got)
	}

	// The patches do what they say when applied as the API server would.
	pod := mk("orphan", "a", nil, false)
	raw, _ := json.Marshal(pod)
	adopt, _ := AdoptPatch(*metav1.NewControllerRef(owner, gvk), pod.UID)
	adopted, err := strategicpatch.StrategicMergePatch(raw, adopt, &corev1.Pod{})
	if err != nil {
		t.Fatal(err)
	}
	var got corev1.Pod
	_ = json.Unmarshal(adopted, &got)
	if !metav1.IsControlledBy(&got, owner) {
		t.Fatalf("after adopt patch: %+v", got.OwnerReferences)
	}
	release, _ := ReleasePatch(owner.UID, pod.UID)
	released, err := strategicpatch.StrategicMergePatch(adopted, release, &corev1.Pod{})
	if err != nil {
		t.Fatal(err)
	}
	got = corev1.Pod{}
	_ = json.Unmarshal(released, &got)
	if len(got.OwnerReferences) != 0 {
		t.Fatalf("after release patch: %+v", got.OwnerReferences)
	}
}

func TestApplyClaim(t *testing.T) {
	owner := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "x", UID: "u1"}}
	ref := *metav1.NewControllerRef(owner, appsv1.SchemeGroupVersion.WithKind("DaemonSet"))
	pod := func(name string) *corev1.Pod { return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}} }
	c := Claim[*corev1.Pod]{Mine: []*corev1.Pod{pod("m")}, Adopt: []*corev1.Pod{pod("a"), pod("gone")}, Release: []*corev1.Pod{pod("r")}}
	var patched []string
	patch := func(_ context.Context, name string, _ []byte) error {
		patched = append(patched, name)
		if name == "gone" {
			return apierrors.NewNotFound(corev1.Resource("pods"), name)
		}
		return nil
	}
	mine, err := ApplyClaim(context.Background(), c, ref, func(context.Context) error { return nil }, patch)
	if err != nil || len(mine) != 2 || mine[1].Name != "a" || strings.Join(patched, ",") != "r,a,gone" {
		t.Fatalf("ApplyClaim = %v, %v; patched %v", mine, err, patched)
	}
	// A dying owner adopts nothing.
	patched = nil
	mine, err = ApplyClaim(context.Background(), c, ref, func(context.Context) error { return errors.New("being deleted") }, patch)
	if err == nil || len(mine) != 1 || strings.Join(patched, ",") != "r" {
		t.Fatalf("ApplyClaim with dying owner = %v, %v; patched %v", mine, err, patched)
	}
}
