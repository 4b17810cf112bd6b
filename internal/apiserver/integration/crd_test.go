package integration

// CustomResourceDefinitions end to end: the real kubectl and client-go's
// dynamic and apiextensions clients against the in-process server.

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"

	"github.com/gureum/gureum/internal/testenv"
)

const crontabCRD = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: crontabs.stable.example.com
spec:
  group: stable.example.com
  scope: Namespaced
  names: {plural: crontabs, singular: crontab, kind: CronTab, shortNames: [ct], categories: [all]}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            description: What the cron tab runs.
            properties:
              cronSpec: {type: string, description: The schedule., pattern: '^(\d+|\*)(/\d+)?(\s+(\d+|\*)(/\d+)?){4}$'}
              image: {type: string}
              replicas: {type: integer, minimum: 1, maximum: 10, default: 1}
            x-kubernetes-validations:
            - rule: "self.image != 'forbidden'"
              message: image must not be forbidden
          status:
            type: object
            properties:
              replicas: {type: integer}
              selector: {type: string}
    subresources:
      status: {}
      scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas, labelSelectorPath: .status.selector}
    additionalPrinterColumns:
    - {name: Spec, type: string, jsonPath: .spec.cronSpec}
    - {name: Replicas, type: integer, jsonPath: .spec.replicas}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
  - name: v1beta1
    served: true
    storage: false
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
`

var crontabs = schema.GroupVersionResource{Group: "stable.example.com", Version: "v1", Resource: "crontabs"}

func waitEstablished(t *testing.T, s *testenv.Server, name string) {
	t.Helper()
	ext := apiextensionsclient.NewForConfigOrDie(s.Config)
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		crd, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range crd.Status.Conditions {
			if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("CRD %s never became Established: %v", name, err)
	}
}

func TestCustomResourcesWithKubectl(t *testing.T) {
	s := testenv.Start(t)
	kubectlIn(t, s, crontabCRD, "apply", "-f", "-")
	out := kubectl(t, s, "wait", "--for=condition=Established", "crd/crontabs.stable.example.com", "--timeout=20s")
	if !strings.Contains(out, "condition met") {
		t.Fatalf("kubectl wait: %s", out)
	}

	out = kubectl(t, s, "api-resources", "--api-group=stable.example.com")
	if !regexpMatch(`crontabs\s+ct\s+stable.example.com/v1\s+true\s+CronTab`, out) {
		t.Fatalf("api-resources does not list crontabs with its short name:\n%s", out)
	}

	kubectlIn(t, s, `
apiVersion: stable.example.com/v1
kind: CronTab
metadata: {name: nightly}
spec: {cronSpec: "0 3 * * *", image: backup:1}
`, "apply", "-f", "-")

	// Defaults from the schema, printer columns and short names.
	out = kubectl(t, s, "get", "ct")
	if !regexpMatch(`(?m)^NAME\s+SPEC\s+REPLICAS\s+AGE$`, out) || !regexpMatch(`(?m)^nightly\s+0 3 \* \* \*\s+1\s+\d+s$`, out) {
		t.Fatalf("kubectl get ct:\n%s", out)
	}
	if out := kubectl(t, s, "get", "all"); !strings.Contains(out, "crontab.stable.example.com/nightly") {
		t.Fatalf("kubectl get all misses the CRD's category all:\n%s", out)
	}

	// Schema, pattern and CEL validation, with field paths.
	cases := []struct{ patch, want string }{
		{`{"spec":{"replicas":50}}`, "spec.replicas: Invalid value: 50: spec.replicas in body should be less than or equal to 10"},
		{`{"spec":{"cronSpec":"often"}}`, `spec.cronSpec: Invalid value: "often"`},
		{`{"spec":{"image":"forbidden"}}`, "image must not be forbidden"},
	}
	for _, c := range cases {
		out := kubectlFails(t, s, "patch", "ct", "nightly", "--type=merge", "-p", c.patch)
		if !strings.Contains(out, c.want) {
			t.Errorf("patch %s: want %q in:\n%s", c.patch, c.want, out)
		}
	}

	// kubectl validates strictly by default: undeclared fields are refused;
	// with --validate=false they are pruned.
	unknown := `
apiVersion: stable.example.com/v1
kind: CronTab
metadata: {name: extra}
spec: {cronSpec: "* * * * *", image: x, color: blue}
`
	if out, err := s.Kubectl(t, unknown, "apply", "-f", "-"); err == nil || !strings.Contains(out, `unknown field "spec.color"`) {
		t.Fatalf("apply with an undeclared field: err=%v\n%s", err, out)
	}
	kubectlIn(t, s, unknown, "apply", "--validate=false", "-f", "-")
	if out := kubectl(t, s, "get", "ct", "extra", "-o", "jsonpath={.spec}"); strings.Contains(out, "color") {
		t.Fatalf("undeclared field was stored: %s", out)
	}

	// The scale subresource follows the CRD's paths.
	kubectl(t, s, "scale", "ct", "nightly", "--replicas=3")
	if out := kubectl(t, s, "get", "ct", "nightly", "-o", "jsonpath={.spec.replicas}"); out != "3" {
		t.Fatalf("spec.replicas after scale = %q, want 3", out)
	}

	// kubectl explain reads the published schema.
	out = kubectl(t, s, "explain", "crontab.spec")
	if !strings.Contains(out, "What the cron tab runs.") || !strings.Contains(out, "cronSpec\t<string>") {
		t.Fatalf("kubectl explain crontab.spec:\n%s", out)
	}

	// Server-side apply tracks managers on custom resources too.
	ssa := `
apiVersion: stable.example.com/v1
kind: CronTab
metadata: {name: nightly}
spec: {cronSpec: "0 3 * * *", image: backup:2}
`
	if out, err := s.Kubectl(t, ssa, "apply", "--server-side", "--field-manager=other", "-f", "-"); err == nil || !strings.Contains(out, "conflict") {
		t.Fatalf("server-side apply over kubectl's image: err=%v\n%s", err, out)
	}
	kubectlIn(t, s, ssa, "apply", "--server-side", "--field-manager=other", "--force-conflicts", "-f", "-")
	if out := kubectl(t, s, "get", "ct", "nightly", "-o", "jsonpath={.spec.image}"); out != "backup:2" {
		t.Fatalf("image after forced apply = %q", out)
	}

	// Served in another version (v1 stays preferred: kube-aware version
	// order): the same object, another apiVersion.
	out = kubectl(t, s, "get", "crontabs.v1beta1.stable.example.com", "nightly", "-o", "jsonpath={.apiVersion} {.spec.image}")
	if out != "stable.example.com/v1beta1 backup:2" {
		t.Fatalf("nightly through v1beta1 = %q", out)
	}

	// Deleting the CRD deletes its objects and then the CRD.
	kubectl(t, s, "delete", "crd", "crontabs.stable.example.com", "--timeout=30s")
	if out := kubectlFails(t, s, "get", "crontabs.stable.example.com"); !strings.Contains(out, "the server doesn't have a resource type") && !strings.Contains(out, "NotFound") && !strings.Contains(out, "not found") {
		t.Fatalf("crontabs still served after the CRD was deleted:\n%s", out)
	}
	kubectlIn(t, s, crontabCRD, "apply", "-f", "-")
	waitEstablished(t, s, "crontabs.stable.example.com")
	if out := kubectl(t, s, "get", "ct", "-A"); !strings.Contains(out, "No resources found") {
		t.Fatalf("objects of a deleted CRD came back with it:\n%s", out)
	}
}

func TestCustomResourcesWithClientGo(t *testing.T) {
	s := testenv.Start(t)
	ctx := context.Background()
	kubectlIn(t, s, crontabCRD, "apply", "-f", "-")
	waitEstablished(t, s, "crontabs.stable.example.com")
	dyn := dynamic.NewForConfigOrDie(s.Config)
	cts := dyn.Resource(crontabs).Namespace("default")

	w, err := cts.Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	obj := &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "stable.example.com/v1", "kind": "CronTab",
		"metadata": map[string]interface{}{"generateName": "job-", "labels": map[string]interface{}{"team": "a"}},
		"spec":     map[string]interface{}{"cronSpec": "* * * * *", "image": "x"},
		"status":   map[string]interface{}{"replicas": int64(7)},
	}}
	created, err := cts.Create(ctx, obj, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	name := created.GetName()
	if !strings.HasPrefix(name, "job-") || created.GetGeneration() != 1 || created.GetUID() == "" {
		t.Fatalf("created %s generation %d uid %q", name, created.GetGeneration(), created.GetUID())
	}
	if _, found, _ := unstructured.NestedFieldNoCopy(created.Object, "status"); found {
		t.Fatalf("status was kept on create although the CRD has a status subresource: %v", created.Object["status"])
	}
	select {
	case ev := <-w.ResultChan():
		if ev.Type != watch.Added || ev.Object.(*unstructured.Unstructured).GetName() != name {
			t.Fatalf("first watch event %s %v", ev.Type, ev.Object)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no watch event for the created object")
	}

	// Status through /status only; spec through the main resource only.
	created.Object["status"] = map[string]interface{}{"replicas": int64(2), "selector": "team=a"}
	_ = unstructured.SetNestedField(created.Object, "y", "spec", "image")
	st, err := cts.UpdateStatus(ctx, created, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img, _, _ := unstructured.NestedString(st.Object, "spec", "image"); img != "x" {
		t.Fatalf("a /status write changed spec.image to %q", img)
	}
	if r, _, _ := unstructured.NestedInt64(st.Object, "status", "replicas"); r != 2 {
		t.Fatalf("status.replicas = %d after UpdateStatus", r)
	}
	if st.GetGeneration() != 1 {
		t.Fatalf("a status write bumped generation to %d", st.GetGeneration())
	}
	patched, err := cts.Patch(ctx, name, types.MergePatchType, []byte(`{"spec":{"image":"z"}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if patched.GetGeneration() != 2 {
		t.Fatalf("generation after a spec change = %d, want 2", patched.GetGeneration())
	}

	// Scale reads the CRD's status paths.
	sc, err := dyn.Resource(crontabs).Namespace("default").Get(ctx, name, metav1.GetOptions{}, "scale")
	if err != nil {
		t.Fatal(err)
	}
	if r, _, _ := unstructured.NestedInt64(sc.Object, "status", "replicas"); r != 2 {
		t.Fatalf("scale status.replicas = %d, want 2", r)
	}
	if sel, _, _ := unstructured.NestedString(sc.Object, "status", "selector"); sel != "team=a" {
		t.Fatalf("scale status.selector = %q, want team=a", sel)
	}

	// Label selectors, lists, a stale update, deletion.
	list, err := cts.List(ctx, metav1.ListOptions{LabelSelector: "team=a"})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("list team=a: %v, %d items", err, len(list.Items))
	}
	if list.GetKind() != "CronTabList" {
		t.Fatalf("list kind %q", list.GetKind())
	}
	if _, err := cts.Update(ctx, created, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Fatalf("update with a stale resourceVersion: %v, want a conflict", err)
	}
	if err := cts.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cts.Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("get after delete: %v", err)
	}

	// A CRD change reaches what is served: a new defaulted field shows on
	// objects already stored (defaulting on read) and in /openapi/v2.
	keep, err := cts.Create(ctx, &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": map[string]interface{}{"name": "kept"},
		"spec": map[string]interface{}{"cronSpec": "* * * * *", "image": "x"},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Served once before the change, so a stale cached document would show.
	if raw, err := s.Client.Discovery().RESTClient().Get().AbsPath("/openapi/v2").DoRaw(ctx); err != nil || !strings.Contains(string(raw), "com.example.stable.v1.CronTab") {
		t.Fatalf("/openapi/v2 before the change: %v (CronTab present: %v)", err, strings.Contains(string(raw), "com.example.stable.v1.CronTab"))
	}
	ext := apiextensionsclient.NewForConfigOrDie(s.Config)
	if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Patch(ctx, "crontabs.stable.example.com", types.JSONPatchType, []byte(`[
		{"op":"add","path":"/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/timezone",
		 "value":{"type":"string","default":"UTC","description":"Zone the schedule is read in."}}]`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		got, err := cts.Get(ctx, keep.GetName(), metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		tz, _, _ := unstructured.NestedString(got.Object, "spec", "timezone")
		return tz == "UTC", nil
	})
	if err != nil {
		t.Fatalf("stored object not defaulted on read after the CRD gained a default: %v", err)
	}
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		raw, err := s.Client.Discovery().RESTClient().Get().AbsPath("/openapi/v2").DoRaw(ctx)
		if err != nil {
			return false, err
		}
		return strings.Contains(string(raw), "Zone the schedule is read in."), nil
	})
	if err != nil {
		t.Fatalf("/openapi/v2 does not show the CRD's new field: %v", err)
	}

	// Names another CRD holds are not accepted and not served.
	clash := &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "crontabz.stable.example.com"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "stable.example.com", Scope: apiextensionsv1.NamespaceScoped,
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "crontabz", Kind: "CronTab"},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{Type: "object"}}}},
		},
	}
	if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, clash, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		crd, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, clash.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range crd.Status.Conditions {
			if c.Type == apiextensionsv1.NamesAccepted && c.Status == apiextensionsv1.ConditionFalse {
				return strings.Contains(c.Message, "already in use"), nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("a CRD reusing kind CronTab was not refused its names: %v", err)
	}
	if _, err := dyn.Resource(schema.GroupVersionResource{Group: "stable.example.com", Version: "v1", Resource: "crontabz"}).
		Namespace("default").List(ctx, metav1.ListOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("a CRD without accepted names is served: %v", err)
	}

	// Invalid CRDs are refused with the apiextensions rules.
	bad := clash.DeepCopy()
	bad.Name = "wrong.stable.example.com"
	if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, bad, metav1.CreateOptions{}); !apierrors.IsInvalid(err) ||
		!strings.Contains(err.Error(), "must be spec.names.plural+\".\"+spec.group") {
		t.Fatalf("CRD named unlike plural.group: %v", err)
	}

	// Deleting a CRD waits for its objects' own finalizers.
	held, err := cts.Create(ctx, &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "stable.example.com/v1", "kind": "CronTab",
		"metadata": map[string]interface{}{"name": "held", "finalizers": []interface{}{"example.com/hold"}},
		"spec":     map[string]interface{}{"cronSpec": "* * * * *", "image": "x"},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	crds := ext.ApiextensionsV1().CustomResourceDefinitions()
	if err := crds.Delete(ctx, "crontabs.stable.example.com", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		got, err := cts.Get(ctx, held.GetName(), metav1.GetOptions{})
		return err == nil && got.GetDeletionTimestamp() != nil, nil
	})
	if err != nil {
		t.Fatalf("the held object was not marked for deletion: %v", err)
	}
	crd, err := crds.Get(ctx, "crontabs.stable.example.com", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the CRD went before its object: %v", err)
	}
	terminating := false
	for _, c := range crd.Status.Conditions {
		terminating = terminating || (c.Type == apiextensionsv1.Terminating && c.Status == apiextensionsv1.ConditionTrue)
	}
	if !terminating {
		t.Fatalf("CRD conditions while deleting: %+v", crd.Status.Conditions)
	}
	if _, err := cts.Patch(ctx, "held", types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := crds.Get(ctx, "crontabs.stable.example.com", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		t.Fatalf("the CRD stayed after its last object's finalizer was removed: %v", err)
	}
}

func regexpMatch(pattern, s string) bool { return regexp.MustCompile(pattern).MatchString(s) }
