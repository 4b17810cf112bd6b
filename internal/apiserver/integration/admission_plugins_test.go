package integration

// ValidatingAdmissionPolicies and admission webhooks acting on real
// writes: the server runs Kubernetes' own admission plugins.

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/gureum/gureum/internal/testenv"
)

func TestValidatingAdmissionPolicyDenies(t *testing.T) {
	s := testenv.Start(t)
	ctx := context.Background()
	ns := mkNamespace(t, s, "vap")
	fail := admissionregistrationv1.Fail
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "few-keys"},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: &fail,
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}},
				}}}},
			Variables:   []admissionregistrationv1.Variable{{Name: "keys", Expression: "has(object.data) ? size(object.data) : 0"}},
			Validations: []admissionregistrationv1.Validation{{Expression: "variables.keys <= 2", Message: "at most two keys"}},
		},
	}
	if _, err := s.Client.AdmissionregistrationV1().ValidatingAdmissionPolicies().Create(ctx, policy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "few-keys"},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        "few-keys",
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
			MatchResources: &admissionregistrationv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}}},
		},
	}
	if _, err := s.Client.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	big := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "big"}, Data: map[string]string{"a": "1", "b": "2", "c": "3"}}
	// The plugin sees new policies through its informers: wait for the
	// first denial, as Kubernetes' own conformance test does.
	var err error
	werr := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err = s.Client.CoreV1().ConfigMaps(ns).Create(ctx, big, metav1.CreateOptions{})
		if err == nil {
			_ = s.Client.CoreV1().ConfigMaps(ns).Delete(ctx, "big", metav1.DeleteOptions{})
			return false, nil
		}
		return true, nil
	})
	if werr != nil {
		t.Fatalf("the policy never denied a ConfigMap with three keys: %v", werr)
	}
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "at most two keys") ||
		!strings.Contains(err.Error(), "ValidatingAdmissionPolicy 'few-keys' with binding 'few-keys' denied request") {
		t.Fatalf("denial: %v (want 422 Invalid naming the policy and its message)", err)
	}
	small := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "small"}, Data: map[string]string{"a": "1"}}
	if _, err := s.Client.CoreV1().ConfigMaps(ns).Create(ctx, small, metav1.CreateOptions{}); err != nil {
		t.Fatalf("a ConfigMap within the policy: %v", err)
	}
	small.Data["b"], small.Data["c"] = "2", "3"
	if _, err := s.Client.CoreV1().ConfigMaps(ns).Update(ctx, small, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) {
		t.Fatalf("an update past the policy: %v", err)
	}
	// A Warn binding lets the write through and tells the client why.
	warnPolicy := policy.DeepCopy()
	warnPolicy.Name = "has-data"
	warnPolicy.Spec.Variables = nil
	warnPolicy.Spec.Validations = []admissionregistrationv1.Validation{{Expression: "has(object.data)", Message: "a ConfigMap without data"}}
	if _, err := s.Client.AdmissionregistrationV1().ValidatingAdmissionPolicies().Create(ctx, warnPolicy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	warnBinding := binding.DeepCopy()
	warnBinding.Name, warnBinding.Spec.PolicyName = "has-data", "has-data"
	warnBinding.Spec.ValidationActions = []admissionregistrationv1.ValidationAction{admissionregistrationv1.Warn}
	if _, err := s.Client.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Create(ctx, warnBinding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	warnings := &collectWarnings{}
	cfg := rest.CopyConfig(s.Config)
	cfg.WarningHandler = warnings
	warned := kubernetes.NewForConfigOrDie(cfg)
	werr = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		if _, err := warned.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "empty-"}}, metav1.CreateOptions{}); err != nil {
			return false, err
		}
		return warnings.has("a ConfigMap without data"), nil
	})
	if werr != nil {
		t.Fatalf("no warning from the Warn binding: %v (warnings %v)", werr, warnings.all())
	}

	// The binding's namespace selector keeps other namespaces out of it.
	if _, err := s.Client.CoreV1().ConfigMaps("default").Create(ctx, big, metav1.CreateOptions{}); err != nil {
		t.Fatalf("a namespace the binding does not select: %v", err)
	}
}

// TestAdmissionWebhooks calls a mutating and a validating webhook served
// by the test over TLS at a URL (a Service's ClusterIP needs a node's
// service proxy, which test/e2e covers).
func TestAdmissionWebhooks(t *testing.T) {
	s := testenv.Start(t)
	ctx := context.Background()
	ns := mkNamespace(t, s, "webhooks")
	calls := make(chan string, 100)
	hook := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		review := &admissionv1.AdmissionReview{}
		if err := json.Unmarshal(body, review); err != nil || review.Request == nil {
			http.Error(w, "bad review", http.StatusBadRequest)
			return
		}
		calls <- r.URL.Path + " " + string(review.Request.Operation) + " " + review.Request.Name
		resp := &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}
		cm := &corev1.ConfigMap{}
		_ = json.Unmarshal(review.Request.Object.Raw, cm)
		switch r.URL.Path {
		case "/mutate":
			patch := `[{"op":"add","path":"/metadata/labels","value":{"stamped":"yes"}}]`
			pt := admissionv1.PatchTypeJSONPatch
			resp.Patch, resp.PatchType = []byte(patch), &pt
		case "/validate":
			if cm.Data["forbidden"] != "" {
				resp.Allowed = false
				resp.Result = &metav1.Status{Code: http.StatusForbidden, Message: "the key forbidden is not allowed"}
			}
			if cm.Labels["stamped"] != "yes" {
				resp.Allowed = false
				resp.Result = &metav1.Status{Code: http.StatusForbidden, Message: "validating webhook ran before the mutating one"}
			}
		}
		review.Response = resp
		review.Request = nil
		_ = json.NewEncoder(w).Encode(review)
	}))
	defer hook.Close()
	caBundle := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: hook.Certificate().Raw})
	none := admissionregistrationv1.SideEffectClassNone
	rules := []admissionregistrationv1.RuleWithOperations{{
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
		Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}},
	}}
	selector := &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}}
	url := func(path string) *string { u := hook.URL + path; return &u }
	if _, err := s.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "stamp"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{Name: "stamp.test.gureum.io", Rules: rules, NamespaceSelector: selector,
			ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: url("/mutate"), CABundle: caBundle},
			SideEffects:  &none, AdmissionReviewVersions: []string{"v1"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "check"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{Name: "check.test.gureum.io", Rules: rules, NamespaceSelector: selector,
			ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: url("/validate"), CABundle: caBundle},
			SideEffects:  &none, AdmissionReviewVersions: []string{"v1"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	var denied error
	werr := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		_, denied = s.Client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "probe-"}, Data: map[string]string{"forbidden": "x"}}, metav1.CreateOptions{})
		return denied != nil, nil
	})
	if werr != nil {
		t.Fatalf("the validating webhook never denied: %v", werr)
	}
	if !apierrors.IsForbidden(denied) || !strings.Contains(denied.Error(), `admission webhook "check.test.gureum.io" denied the request: the key forbidden is not allowed`) {
		t.Fatalf("denial: %v", denied)
	}
	cm, err := s.Client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "fine"}, Data: map[string]string{"a": "b"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create through both webhooks: %v", err)
	}
	if cm.Labels["stamped"] != "yes" {
		t.Fatalf("the mutating webhook's patch is missing: labels %v", cm.Labels)
	}
	seen := map[string]bool{}
	for len(calls) > 0 {
		seen[<-calls] = true
	}
	if !seen["/mutate CREATE fine"] || !seen["/validate CREATE fine"] {
		t.Fatalf("webhook calls for fine: %v", seen)
	}
	// Namespaces the selector leaves out are not sent to the webhooks.
	if _, err := s.Client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "elsewhere"}, Data: map[string]string{"forbidden": "x"}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create outside the webhooks' namespaces: %v", err)
	}
}

// collectWarnings records the Warning headers client-go receives.
type collectWarnings struct {
	mu   sync.Mutex
	msgs []string
}

func (c *collectWarnings) HandleWarningHeader(_ int, _ string, text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs = append(c.msgs, text)
}

func (c *collectWarnings) has(sub string) bool {
	for _, m := range c.all() {
		if strings.Contains(m, sub) {
			return true
		}
	}
	return false
}

func (c *collectWarnings) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string{}, c.msgs...)
}

// TestAdmissionOnConnect: exec, attach and port-forward pass through
// admission as CONNECT with their options, so a policy can refuse them.
func TestAdmissionOnConnect(t *testing.T) {
	s := testenv.Start(t)
	ctx := context.Background()
	ns := mkNamespace(t, s, "connect")
	fail := admissionregistrationv1.Fail
	if _, err := s.Client.AdmissionregistrationV1().ValidatingAdmissionPolicies().Create(ctx, &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "no-tty-exec"},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: &fail,
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Connect},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods/exec"}},
				}}}},
			Validations: []admissionregistrationv1.Validation{{Expression: "!object.tty", Message: "no interactive exec here"}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Create(ctx, &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "no-tty-exec"},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: "no-tty-exec",
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Bound to a node that has no agent: admission decides before the
	// server looks for one.
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{NodeName: "nowhere",
		Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	if _, err := s.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	exec := func(tty bool) error {
		req := s.Client.CoreV1().RESTClient().Post().Namespace(ns).Resource("pods").Name("p").SubResource("exec").
			Param("container", "c").Param("command", "sh").Param("stdin", "true")
		if tty {
			req = req.Param("tty", "true")
		}
		return req.Do(ctx).Error()
	}
	var err error
	werr := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		err = exec(true)
		return err != nil && strings.Contains(err.Error(), "no interactive exec here"), nil
	})
	if werr != nil {
		t.Fatalf("an exec with a TTY was not refused by the policy: %v", err)
	}
	if !apierrors.IsInvalid(err) {
		t.Fatalf("refusal: %v, want 422", err)
	}
	// Without a TTY the policy allows it; the request then fails only for
	// want of the node's agent.
	if err := exec(false); err == nil || strings.Contains(err.Error(), "no interactive exec here") {
		t.Fatalf("exec without a TTY: %v", err)
	}
}
