package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	admv1 "k8s.io/api/admissionregistration/v1"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gureum/gureum/internal/testenv"
)

// admClient is what every typed client-go client of a cluster-scoped kind
// offers; one CRUD walk then covers all six kinds.
type admClient[T runtime.Object, L runtime.Object] interface {
	Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error)
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	List(ctx context.Context, opts metav1.ListOptions) (L, error)
	Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, subresources ...string) (T, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
}

// admCRUD creates obj, checks what the server defaulted, finds it in a
// list, merge-patches it and checks the result, then deletes it.
func admCRUD[T runtime.Object, L runtime.Object](t *testing.T, ctx context.Context, c admClient[T, L], obj T,
	checkCreated func(*testing.T, T), patch string, checkPatched func(*testing.T, T)) {
	t.Helper()
	created, err := c.Create(ctx, obj, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	m := any(created).(metav1.Object)
	name := m.GetName()
	if m.GetUID() == "" || m.GetResourceVersion() == "" || m.GetNamespace() != "" {
		t.Errorf("created metadata: uid %q rv %q namespace %q", m.GetUID(), m.GetResourceVersion(), m.GetNamespace())
	}
	if m.GetGeneration() != 1 {
		t.Errorf("generation on create = %d, want 1", m.GetGeneration())
	}
	checkCreated(t, created)

	list, err := c.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		t.Fatalf("extract list: %v", err)
	}
	found := false
	for _, it := range items {
		found = found || it.(metav1.Object).GetName() == name
	}
	if !found {
		t.Errorf("list of %d items lacks %s", len(items), name)
	}

	patched, err := c.Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	if err != nil {
		t.Fatalf("merge patch: %v", err)
	}
	pm := any(patched).(metav1.Object)
	if pm.GetLabels()["patched"] != "yes" {
		t.Errorf("labels after patch = %v", pm.GetLabels())
	}
	if pm.GetGeneration() != 2 {
		t.Errorf("generation after a spec patch = %d, want 2", pm.GetGeneration())
	}
	checkPatched(t, patched)
	got, err := c.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if any(got).(metav1.Object).GetResourceVersion() != pm.GetResourceVersion() {
		t.Errorf("get returned rv %s, patch %s", any(got).(metav1.Object).GetResourceVersion(), pm.GetResourceVersion())
	}

	if err := c.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := c.Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("get after delete: %v, want NotFound", err)
	}
}

// wantInvalidField checks a 422 whose causes name fieldPath.
func wantInvalidField(t *testing.T, err error, fieldPath string) {
	t.Helper()
	if !apierrors.IsInvalid(err) {
		t.Fatalf("err = %v, want Invalid", err)
	}
	var status apierrors.APIStatus
	status, _ = err.(apierrors.APIStatus)
	if d := status.Status().Details; d != nil {
		for _, c := range d.Causes {
			if c.Field == fieldPath {
				return
			}
		}
	}
	t.Fatalf("no cause at %s in %v", fieldPath, err)
}

func admTestValidatingWebhookConfig(name string) *admv1.ValidatingWebhookConfiguration {
	none := admv1.SideEffectClassNone
	path := "/validate"
	return &admv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks: []admv1.ValidatingWebhook{{
			Name:         "pods.policy.example.com",
			ClientConfig: admv1.WebhookClientConfig{Service: &admv1.ServiceReference{Namespace: "policy", Name: "webhook", Path: &path}},
			Rules: []admv1.RuleWithOperations{{
				Operations: []admv1.OperationType{admv1.Create},
				Rule:       admv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
			}},
			SideEffects:             &none,
			AdmissionReviewVersions: []string{"v1"},
		}},
	}
}

func admTestPolicy(name string) *admv1.ValidatingAdmissionPolicy {
	return &admv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admv1.ValidatingAdmissionPolicySpec{
			MatchConstraints: &admv1.MatchResources{ResourceRules: []admv1.NamedRuleWithOperations{{
				RuleWithOperations: admv1.RuleWithOperations{
					Operations: []admv1.OperationType{admv1.Create, admv1.Update},
					Rule:       admv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"v1"}, Resources: []string{"deployments"}},
				},
			}}},
			Validations: []admv1.Validation{{Expression: "object.spec.replicas <= 5"}},
		},
	}
}

func admTestFlowSchema(name string) *flowcontrolv1.FlowSchema {
	return &flowcontrolv1.FlowSchema{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: flowcontrolv1.FlowSchemaSpec{
			PriorityLevelConfiguration: flowcontrolv1.PriorityLevelConfigurationReference{Name: "batch"},
			DistinguisherMethod:        &flowcontrolv1.FlowDistinguisherMethod{Type: flowcontrolv1.FlowDistinguisherMethodByUserType},
			Rules: []flowcontrolv1.PolicyRulesWithSubjects{{
				Subjects: []flowcontrolv1.Subject{{Kind: flowcontrolv1.SubjectKindGroup, Group: &flowcontrolv1.GroupSubject{Name: "batch-operators"}}},
				ResourceRules: []flowcontrolv1.ResourcePolicyRule{{
					Verbs: []string{"*"}, APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Namespaces: []string{"*"},
				}},
			}},
		},
	}
}

func admTestPriorityLevel(name string) *flowcontrolv1.PriorityLevelConfiguration {
	return &flowcontrolv1.PriorityLevelConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: flowcontrolv1.PriorityLevelConfigurationSpec{
			Type: flowcontrolv1.PriorityLevelEnablementLimited,
			Limited: &flowcontrolv1.LimitedPriorityLevelConfiguration{
				LimitResponse: flowcontrolv1.LimitResponse{Type: flowcontrolv1.LimitResponseTypeQueue, Queuing: &flowcontrolv1.QueuingConfiguration{}},
			},
		},
	}
}

// TestAdmissionAndFlowControlCRUD drives every admissionregistration and
// flowcontrol kind through client-go's typed clients: create (with
// Kubernetes' defaults applied), list, merge patch, delete, and the 422 a
// broken object gets.
func TestAdmissionAndFlowControlCRUD(t *testing.T) {
	t.Parallel()
	s := testenv.Start(t)
	ctx := wireCtx(t)
	adm := s.Client.AdmissionregistrationV1()
	fc := s.Client.FlowcontrolV1()

	t.Run("ValidatingWebhookConfiguration", func(t *testing.T) {
		admCRUD[*admv1.ValidatingWebhookConfiguration, *admv1.ValidatingWebhookConfigurationList](t, ctx,
			adm.ValidatingWebhookConfigurations(), admTestValidatingWebhookConfig("policy.example.com"),
			func(t *testing.T, c *admv1.ValidatingWebhookConfiguration) {
				h := c.Webhooks[0]
				if *h.FailurePolicy != admv1.Fail || *h.MatchPolicy != admv1.Equivalent || *h.TimeoutSeconds != 10 ||
					h.NamespaceSelector == nil || h.ObjectSelector == nil || *h.Rules[0].Scope != admv1.AllScopes ||
					*h.ClientConfig.Service.Port != 443 {
					t.Errorf("webhook not defaulted: %+v", h)
				}
			},
			// A merge patch replaces the webhooks list whole.
			`{"metadata":{"labels":{"patched":"yes"}},"webhooks":[{"name":"pods.policy.example.com","clientConfig":{"url":"https://hook.example.com/v"},`+
				`"sideEffects":"NoneOnDryRun","admissionReviewVersions":["v1"],"timeoutSeconds":5}]}`,
			func(t *testing.T, c *admv1.ValidatingWebhookConfiguration) {
				h := c.Webhooks[0]
				if *h.TimeoutSeconds != 5 || *h.SideEffects != admv1.SideEffectClassNoneOnDryRun || h.ClientConfig.URL == nil ||
					*h.FailurePolicy != admv1.Fail {
					t.Errorf("webhook after patch: %+v", h)
				}
			})
		bad := admTestValidatingWebhookConfig("bad")
		bad.Webhooks[0].Name = "example.com"
		_, err := adm.ValidatingWebhookConfigurations().Create(ctx, bad, metav1.CreateOptions{})
		wantInvalidField(t, err, "webhooks[0].name")
	})

	t.Run("MutatingWebhookConfiguration", func(t *testing.T) {
		none := admv1.SideEffectClassNone
		url := "https://injector.example.com/mutate"
		obj := &admv1.MutatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: "injector"},
			Webhooks: []admv1.MutatingWebhook{{
				Name: "sidecar.injector.example.com", ClientConfig: admv1.WebhookClientConfig{URL: &url},
				SideEffects: &none, AdmissionReviewVersions: []string{"v1", "v1beta1"},
			}},
		}
		admCRUD[*admv1.MutatingWebhookConfiguration, *admv1.MutatingWebhookConfigurationList](t, ctx,
			adm.MutatingWebhookConfigurations(), obj,
			func(t *testing.T, c *admv1.MutatingWebhookConfiguration) {
				if p := c.Webhooks[0].ReinvocationPolicy; p == nil || *p != admv1.NeverReinvocationPolicy {
					t.Errorf("reinvocationPolicy = %v", p)
				}
			},
			`{"metadata":{"labels":{"patched":"yes"}},"webhooks":[{"name":"sidecar.injector.example.com","clientConfig":{"url":"https://injector.example.com/mutate"},`+
				`"sideEffects":"None","admissionReviewVersions":["v1"],"reinvocationPolicy":"IfNeeded"}]}`,
			func(t *testing.T, c *admv1.MutatingWebhookConfiguration) {
				if *c.Webhooks[0].ReinvocationPolicy != admv1.IfNeededReinvocationPolicy || len(c.Webhooks[0].AdmissionReviewVersions) != 1 {
					t.Errorf("webhook after patch: %+v", c.Webhooks[0])
				}
			})
		bad := obj.DeepCopy()
		bad.Name = "bad"
		bad.Webhooks[0].SideEffects = nil
		_, err := adm.MutatingWebhookConfigurations().Create(ctx, bad, metav1.CreateOptions{})
		wantInvalidField(t, err, "webhooks[0].sideEffects")
	})

	t.Run("ValidatingAdmissionPolicy", func(t *testing.T) {
		admCRUD[*admv1.ValidatingAdmissionPolicy, *admv1.ValidatingAdmissionPolicyList](t, ctx,
			adm.ValidatingAdmissionPolicies(), admTestPolicy("replica-limit"),
			func(t *testing.T, p *admv1.ValidatingAdmissionPolicy) {
				mc := p.Spec.MatchConstraints
				if *p.Spec.FailurePolicy != admv1.Fail || *mc.MatchPolicy != admv1.Equivalent || mc.NamespaceSelector == nil || mc.ObjectSelector == nil {
					t.Errorf("policy not defaulted: %+v", p.Spec)
				}
			},
			`{"metadata":{"labels":{"patched":"yes"}},"spec":{"failurePolicy":"Ignore"}}`,
			func(t *testing.T, p *admv1.ValidatingAdmissionPolicy) {
				if *p.Spec.FailurePolicy != admv1.Ignore || len(p.Spec.Validations) != 1 {
					t.Errorf("policy after patch: %+v", p.Spec)
				}
			})
		bad := admTestPolicy("bad")
		bad.Spec.Validations = nil
		_, err := adm.ValidatingAdmissionPolicies().Create(ctx, bad, metav1.CreateOptions{})
		wantInvalidField(t, err, "spec.validations")
	})

	t.Run("ValidatingAdmissionPolicyBinding", func(t *testing.T) {
		obj := &admv1.ValidatingAdmissionPolicyBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "replica-limit-prod"},
			Spec: admv1.ValidatingAdmissionPolicyBindingSpec{
				PolicyName:        "replica-limit",
				ValidationActions: []admv1.ValidationAction{admv1.Deny},
				MatchResources:    &admv1.MatchResources{},
			},
		}
		admCRUD[*admv1.ValidatingAdmissionPolicyBinding, *admv1.ValidatingAdmissionPolicyBindingList](t, ctx,
			adm.ValidatingAdmissionPolicyBindings(), obj,
			func(t *testing.T, b *admv1.ValidatingAdmissionPolicyBinding) {
				if m := b.Spec.MatchResources; *m.MatchPolicy != admv1.Equivalent || m.NamespaceSelector == nil {
					t.Errorf("matchResources not defaulted: %+v", m)
				}
			},
			`{"metadata":{"labels":{"patched":"yes"}},"spec":{"validationActions":["Warn","Audit"]}}`,
			func(t *testing.T, b *admv1.ValidatingAdmissionPolicyBinding) {
				if len(b.Spec.ValidationActions) != 2 || b.Spec.PolicyName != "replica-limit" {
					t.Errorf("binding after patch: %+v", b.Spec)
				}
			})
		bad := obj.DeepCopy()
		bad.Name = "bad"
		bad.Spec.ValidationActions = []admv1.ValidationAction{admv1.Deny, admv1.Deny}
		_, err := adm.ValidatingAdmissionPolicyBindings().Create(ctx, bad, metav1.CreateOptions{})
		wantInvalidField(t, err, "spec.validationActions[1]")
	})

	t.Run("FlowSchema", func(t *testing.T) {
		admCRUD[*flowcontrolv1.FlowSchema, *flowcontrolv1.FlowSchemaList](t, ctx,
			fc.FlowSchemas(), admTestFlowSchema("batch-jobs"),
			func(t *testing.T, fs *flowcontrolv1.FlowSchema) {
				if fs.Spec.MatchingPrecedence != 1000 {
					t.Errorf("matchingPrecedence = %d", fs.Spec.MatchingPrecedence)
				}
			},
			`{"metadata":{"labels":{"patched":"yes"}},"spec":{"matchingPrecedence":500}}`,
			func(t *testing.T, fs *flowcontrolv1.FlowSchema) {
				if fs.Spec.MatchingPrecedence != 500 || fs.Spec.PriorityLevelConfiguration.Name != "batch" {
					t.Errorf("flowschema after patch: %+v", fs.Spec)
				}
			})
		bad := admTestFlowSchema("bad")
		bad.Spec.MatchingPrecedence = 20000
		_, err := fc.FlowSchemas().Create(ctx, bad, metav1.CreateOptions{})
		wantInvalidField(t, err, "spec.matchingPrecedence")
	})

	t.Run("PriorityLevelConfiguration", func(t *testing.T) {
		admCRUD[*flowcontrolv1.PriorityLevelConfiguration, *flowcontrolv1.PriorityLevelConfigurationList](t, ctx,
			fc.PriorityLevelConfigurations(), admTestPriorityLevel("batch"),
			func(t *testing.T, pl *flowcontrolv1.PriorityLevelConfiguration) {
				l := pl.Spec.Limited
				q := l.LimitResponse.Queuing
				if *l.NominalConcurrencyShares != 30 || *l.LendablePercent != 0 || q.Queues != 64 || q.HandSize != 8 || q.QueueLengthLimit != 50 {
					t.Errorf("priority level not defaulted: %+v %+v", l, q)
				}
			},
			`{"metadata":{"labels":{"patched":"yes"}},"spec":{"limited":{"nominalConcurrencyShares":5,"limitResponse":{"type":"Reject","queuing":null}}}}`,
			func(t *testing.T, pl *flowcontrolv1.PriorityLevelConfiguration) {
				l := pl.Spec.Limited
				if *l.NominalConcurrencyShares != 5 || l.LimitResponse.Type != flowcontrolv1.LimitResponseTypeReject || l.LimitResponse.Queuing != nil {
					t.Errorf("priority level after patch: %+v", l)
				}
			})
		bad := admTestPriorityLevel("bad")
		bad.Spec.Limited = nil
		_, err := fc.PriorityLevelConfigurations().Create(ctx, bad, metav1.CreateOptions{})
		wantInvalidField(t, err, "spec.limited")
	})
}

// TestAdmissionAndFlowSchemaStatusSubresource checks that /status writes
// change status only: a controller reporting status cannot rewrite what
// the object asks for, and does not bump its generation.
func TestAdmissionAndFlowSchemaStatusSubresource(t *testing.T) {
	t.Parallel()
	s := testenv.Start(t)
	ctx := wireCtx(t)
	now := metav1.NewTime(time.Now().UTC().Truncate(time.Second))

	t.Run("FlowSchema", func(t *testing.T) {
		fss := s.Client.FlowcontrolV1().FlowSchemas()
		in := admTestFlowSchema("status-fs")
		in.Status.Conditions = []flowcontrolv1.FlowSchemaCondition{{Type: "Dangling", Status: "True"}}
		fs, err := fss.Create(ctx, in, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(fs.Status.Conditions) != 0 {
			t.Errorf("status set on create: %+v", fs.Status)
		}
		fs.Status.Conditions = []flowcontrolv1.FlowSchemaCondition{{
			Type: flowcontrolv1.FlowSchemaConditionDangling, Status: flowcontrolv1.ConditionFalse,
			Reason: "Found", Message: "This FlowSchema references the PriorityLevelConfiguration object named \"batch\" and it exists",
			LastTransitionTime: now,
		}}
		fs.Spec.MatchingPrecedence = 9
		out, err := fss.UpdateStatus(ctx, fs, metav1.UpdateOptions{})
		if err != nil {
			t.Fatalf("update status: %v", err)
		}
		if len(out.Status.Conditions) != 1 || out.Status.Conditions[0].Status != flowcontrolv1.ConditionFalse {
			t.Errorf("status after UpdateStatus: %+v", out.Status)
		}
		if out.Spec.MatchingPrecedence != 1000 || out.Generation != 1 {
			t.Errorf("spec changed through /status: precedence %d generation %d", out.Spec.MatchingPrecedence, out.Generation)
		}
		got, err := fss.Get(ctx, "status-fs", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Spec.MatchingPrecedence != 1000 || len(got.Status.Conditions) != 1 {
			t.Errorf("stored: spec %+v status %+v", got.Spec, got.Status)
		}
		// And a write to the main resource cannot change status.
		got.Status.Conditions = nil
		got.Spec.MatchingPrecedence = 9
		upd, err := fss.Update(ctx, got, metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(upd.Status.Conditions) != 1 || upd.Spec.MatchingPrecedence != 9 || upd.Generation != 2 {
			t.Errorf("after update: generation %d spec %+v status %+v", upd.Generation, upd.Spec, upd.Status)
		}
		bad := upd.DeepCopy()
		bad.Status.Conditions = append(bad.Status.Conditions, bad.Status.Conditions[0])
		_, err = fss.UpdateStatus(ctx, bad, metav1.UpdateOptions{})
		wantInvalidField(t, err, "status.conditions[1].type")
	})

	t.Run("ValidatingAdmissionPolicy", func(t *testing.T) {
		vaps := s.Client.AdmissionregistrationV1().ValidatingAdmissionPolicies()
		p, err := vaps.Create(ctx, admTestPolicy("status-policy"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Status = admv1.ValidatingAdmissionPolicyStatus{
			ObservedGeneration: p.Generation,
			TypeChecking:       &admv1.TypeChecking{},
			Conditions: []metav1.Condition{{Type: "TypeChecked", Status: metav1.ConditionTrue, Reason: "Checked",
				LastTransitionTime: now, ObservedGeneration: p.Generation}},
		}
		p.Spec.Validations[0].Expression = "false"
		p.Spec.FailurePolicy = nil
		out, err := vaps.UpdateStatus(ctx, p, metav1.UpdateOptions{})
		if err != nil {
			t.Fatalf("update status: %v", err)
		}
		if out.Status.ObservedGeneration != 1 || len(out.Status.Conditions) != 1 || out.Status.TypeChecking == nil {
			t.Errorf("status after UpdateStatus: %+v", out.Status)
		}
		if out.Spec.Validations[0].Expression != "object.spec.replicas <= 5" || *out.Spec.FailurePolicy != admv1.Fail || out.Generation != 1 {
			t.Errorf("spec changed through /status: %+v generation %d", out.Spec, out.Generation)
		}
		got, err := vaps.Get(ctx, "status-policy", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Spec.Validations[0].Expression != "object.spec.replicas <= 5" || got.Status.ObservedGeneration != 1 {
			t.Errorf("stored: spec %+v status %+v", got.Spec, got.Status)
		}
		bad := got.DeepCopy()
		bad.Status.Conditions[0].Status = "Maybe"
		_, err = vaps.UpdateStatus(ctx, bad, metav1.UpdateOptions{})
		wantInvalidField(t, err, "status.conditions[0].status")
	})
}

// TestAdmissionKubectlGetWebhooksAndFlowSchemas checks the resource names
// and the table columns kubectl prints for these kinds.
func TestAdmissionKubectlGetWebhooksAndFlowSchemas(t *testing.T) {
	t.Parallel()
	s := testenv.Start(t)
	ctx := wireCtx(t)
	if _, err := s.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx,
		admTestValidatingWebhookConfig("policy.example.com"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.FlowcontrolV1().FlowSchemas().Create(ctx, admTestFlowSchema("batch-jobs"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.FlowcontrolV1().PriorityLevelConfigurations().Create(ctx, admTestPriorityLevel("batch"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args   []string
		header string
		row    string // the fields of the row before AGE
	}{
		{[]string{"get", "validatingwebhookconfigurations"}, "NAME WEBHOOKS AGE", "policy.example.com 1"},
		{[]string{"get", "mutatingwebhookconfigurations"}, "", ""},
		{[]string{"get", "flowschemas"}, "NAME PRIORITYLEVEL MATCHINGPRECEDENCE DISTINGUISHERMETHOD AGE MISSINGPL", "batch-jobs batch 1000 ByUser"},
		{[]string{"get", "prioritylevelconfigurations"}, "NAME TYPE NOMINALCONCURRENCYSHARES QUEUES HANDSIZE QUEUELENGTHLIMIT AGE", "batch Limited 30 64 8 50"},
		{[]string{"get", "validatingadmissionpolicies"}, "", ""},
		{[]string{"get", "validatingadmissionpolicybindings"}, "", ""},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out := s.MustKubectl(t, "", tc.args...)
			if tc.header == "" {
				if !strings.Contains(out, "No resources found") {
					t.Errorf("kubectl %v:\n%s", tc.args, out)
				}
				return
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 2 {
				t.Fatalf("kubectl %v printed %d lines:\n%s", tc.args, len(lines), out)
			}
			if got := strings.Join(strings.Fields(lines[0]), " "); got != tc.header {
				t.Errorf("header = %q, want %q", got, tc.header)
			}
			if got := strings.Join(strings.Fields(lines[1]), " "); !strings.HasPrefix(got, tc.row+" ") {
				t.Errorf("row = %q, want it to start with %q", got, tc.row)
			}
		})
	}
	// The category brings the admission kinds up next to CRDs.
	out := s.MustKubectl(t, "", "get", "api-extensions", "-o", "name")
	if !strings.Contains(out, "validatingwebhookconfiguration.admissionregistration.k8s.io/policy.example.com") {
		t.Errorf("kubectl get api-extensions:\n%s", out)
	}
}
