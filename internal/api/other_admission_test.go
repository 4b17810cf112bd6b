package api

import (
	"strings"
	"testing"

	admv1 "k8s.io/api/admissionregistration/v1"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// admCase is one validation case: mutate breaks (or keeps) a valid object;
// an empty typ means the result must be valid.
type admCase[T any] struct {
	name   string
	mutate func(T)
	typ    field.ErrorType
	field  string
	detail string
}

func runAdmCases[T runtime.Object](t *testing.T, s Strategy, fresh func() T, cases []admCase[T]) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obj := fresh()
			if tc.mutate != nil {
				tc.mutate(obj)
			}
			s.Default(obj)
			errs := s.Validate(obj)
			if tc.typ == "" {
				wlWantNoErrors(t, errs)
				return
			}
			wlWantError(t, errs, tc.typ, tc.field, tc.detail)
		})
	}
}

func admPtr[T any](v T) *T { return &v }

// --- resources ---------------------------------------------------------------------

func TestAdmissionResourcesServed(t *testing.T) {
	reg := NewRegistry(DefaultResources())
	for _, tc := range []struct {
		gvr        string
		kind       string
		singular   string
		categories string
		status     bool
	}{
		{"admissionregistration.k8s.io/v1/validatingwebhookconfigurations", "ValidatingWebhookConfiguration", "validatingwebhookconfiguration", "api-extensions", false},
		{"admissionregistration.k8s.io/v1/mutatingwebhookconfigurations", "MutatingWebhookConfiguration", "mutatingwebhookconfiguration", "api-extensions", false},
		{"admissionregistration.k8s.io/v1/validatingadmissionpolicies", "ValidatingAdmissionPolicy", "validatingadmissionpolicy", "api-extensions", true},
		{"admissionregistration.k8s.io/v1/validatingadmissionpolicybindings", "ValidatingAdmissionPolicyBinding", "validatingadmissionpolicybinding", "api-extensions", false},
		{"flowcontrol.apiserver.k8s.io/v1/flowschemas", "FlowSchema", "flowschema", "", true},
		{"flowcontrol.apiserver.k8s.io/v1/prioritylevelconfigurations", "PriorityLevelConfiguration", "prioritylevelconfiguration", "", true},
	} {
		t.Run(tc.gvr, func(t *testing.T) {
			parts := strings.Split(tc.gvr, "/")
			gvr := admv1.SchemeGroupVersion.WithResource(parts[2])
			gvr.Group, gvr.Version = parts[0], parts[1]
			res, ok := reg.Lookup(gvr)
			if !ok {
				t.Fatalf("%s is not served", tc.gvr)
			}
			if res.Kind != tc.kind || res.Singular != tc.singular || res.Namespaced ||
				strings.Join(res.Categories, ",") != tc.categories || res.HasSubresource("status") != tc.status {
				t.Errorf("resource = %+v", res)
			}
			if len(res.Verbs) != len(verbsAll) {
				t.Errorf("verbs = %v", res.Verbs)
			}
			// The kind and its list must be in the scheme.
			_ = res.New()
			_ = res.NewList()
		})
	}
}

// --- webhook configurations --------------------------------------------------------

func admValidatingWebhookConfig() *admv1.ValidatingWebhookConfiguration {
	none := admv1.SideEffectClassNone
	return &admv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "policy.example.com", CreationTimestamp: wlCreated},
		Webhooks: []admv1.ValidatingWebhook{{
			Name: "pods.policy.example.com",
			ClientConfig: admv1.WebhookClientConfig{
				Service: &admv1.ServiceReference{Namespace: "policy", Name: "webhook", Path: admPtr("/validate")},
			},
			Rules: []admv1.RuleWithOperations{{
				Operations: []admv1.OperationType{admv1.Create, admv1.Update},
				Rule:       admv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods", "pods/status"}},
			}},
			SideEffects:             &none,
			AdmissionReviewVersions: []string{"v1"},
		}},
	}
}

func admMutatingWebhookConfig() *admv1.MutatingWebhookConfiguration {
	none := admv1.SideEffectClassNoneOnDryRun
	return &admv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "injector", CreationTimestamp: wlCreated},
		Webhooks: []admv1.MutatingWebhook{{
			Name:         "sidecar.injector.example.com",
			ClientConfig: admv1.WebhookClientConfig{URL: admPtr("https://injector.example.com:8443/mutate")},
			Rules: []admv1.RuleWithOperations{{
				Operations: []admv1.OperationType{admv1.OperationAll},
				Rule:       admv1.Rule{APIGroups: []string{"*"}, APIVersions: []string{"*"}, Resources: []string{"*/*"}},
			}},
			SideEffects:             &none,
			AdmissionReviewVersions: []string{"v1beta1", "v1"},
		}},
	}
}

func TestWebhookConfigurationDefaults(t *testing.T) {
	t.Run("validating", func(t *testing.T) {
		s := wlStrategy(t, admv1.SchemeGroupVersion, "validatingwebhookconfigurations")
		c := wlDefaulted(s, admValidatingWebhookConfig())
		h := c.Webhooks[0]
		if *h.FailurePolicy != admv1.Fail || *h.MatchPolicy != admv1.Equivalent || *h.TimeoutSeconds != 10 {
			t.Errorf("failurePolicy/matchPolicy/timeoutSeconds = %s/%s/%d", *h.FailurePolicy, *h.MatchPolicy, *h.TimeoutSeconds)
		}
		if h.NamespaceSelector == nil || h.ObjectSelector == nil ||
			len(h.NamespaceSelector.MatchLabels)+len(h.NamespaceSelector.MatchExpressions) != 0 {
			t.Errorf("selectors = %v / %v, want empty", h.NamespaceSelector, h.ObjectSelector)
		}
		if *h.ClientConfig.Service.Port != 443 {
			t.Errorf("service port = %d", *h.ClientConfig.Service.Port)
		}
		if *h.Rules[0].Scope != admv1.AllScopes {
			t.Errorf("rule scope = %q", *h.Rules[0].Scope)
		}
		if *h.SideEffects != admv1.SideEffectClassNone {
			t.Errorf("sideEffects = %q", *h.SideEffects)
		}
		wlWantNoErrors(t, s.Validate(c))
		again := wlDefaulted(s, c.DeepCopy())
		if !apiequality.Semantic.DeepEqual(again, c) {
			t.Errorf("not idempotent:\n%v\n%v", again, c)
		}
	})
	t.Run("mutating", func(t *testing.T) {
		s := wlStrategy(t, admv1.SchemeGroupVersion, "mutatingwebhookconfigurations")
		c := wlDefaulted(s, admMutatingWebhookConfig())
		h := c.Webhooks[0]
		if *h.ReinvocationPolicy != admv1.NeverReinvocationPolicy || *h.FailurePolicy != admv1.Fail ||
			*h.MatchPolicy != admv1.Equivalent || *h.TimeoutSeconds != 10 || *h.Rules[0].Scope != admv1.AllScopes ||
			h.NamespaceSelector == nil || h.ObjectSelector == nil {
			t.Errorf("webhook = %+v", h)
		}
		wlWantNoErrors(t, s.Validate(c))
	})
	t.Run("explicit values kept", func(t *testing.T) {
		s := wlStrategy(t, admv1.SchemeGroupVersion, "mutatingwebhookconfigurations")
		c := admMutatingWebhookConfig()
		h := &c.Webhooks[0]
		h.FailurePolicy = admPtr(admv1.Ignore)
		h.MatchPolicy = admPtr(admv1.Exact)
		h.TimeoutSeconds = admPtr(int32(3))
		h.ReinvocationPolicy = admPtr(admv1.IfNeededReinvocationPolicy)
		h.Rules[0].Scope = admPtr(admv1.NamespacedScope)
		wlDefaulted(s, c)
		if *h.FailurePolicy != admv1.Ignore || *h.MatchPolicy != admv1.Exact || *h.TimeoutSeconds != 3 ||
			*h.ReinvocationPolicy != admv1.IfNeededReinvocationPolicy || *h.Rules[0].Scope != admv1.NamespacedScope {
			t.Errorf("webhook = %+v", h)
		}
		// sideEffects is required in v1, never defaulted.
		h.SideEffects = nil
		wlDefaulted(s, c)
		if h.SideEffects != nil {
			t.Errorf("sideEffects defaulted to %q", *h.SideEffects)
		}
	})
}

func TestWebhookConfigurationValidation(t *testing.T) {
	s := wlStrategy(t, admv1.SchemeGroupVersion, "validatingwebhookconfigurations")
	hook := func(f func(*admv1.ValidatingWebhook)) func(*admv1.ValidatingWebhookConfiguration) {
		return func(c *admv1.ValidatingWebhookConfiguration) { f(&c.Webhooks[0]) }
	}
	runAdmCases(t, s, admValidatingWebhookConfig, []admCase[*admv1.ValidatingWebhookConfiguration]{
		{name: "valid"},
		{name: "no webhooks is valid", mutate: func(c *admv1.ValidatingWebhookConfiguration) { c.Webhooks = nil }},
		{name: "match condition that compiles", mutate: hook(func(h *admv1.ValidatingWebhook) {
			h.MatchConditions = []admv1.MatchCondition{{Name: "not-kube-system", Expression: "request.namespace != 'kube-system'"}}
		})},
		{name: "match condition that does not compile", mutate: hook(func(h *admv1.ValidatingWebhook) {
			h.MatchConditions = []admv1.MatchCondition{{Name: "broken", Expression: "object.metadata.name =="}}
		}), typ: field.ErrorTypeInvalid, field: "webhooks[0].matchConditions[0].expression", detail: "compilation failed"},
		{name: "match condition naming params, which webhooks lack", mutate: hook(func(h *admv1.ValidatingWebhook) {
			h.MatchConditions = []admv1.MatchCondition{{Name: "params", Expression: "params.x == 1"}}
		}), typ: field.ErrorTypeInvalid, field: "webhooks[0].matchConditions[0].expression", detail: "undeclared reference to 'params'"},
		{name: "empty service path is the root", mutate: hook(func(h *admv1.ValidatingWebhook) {
			empty := ""
			h.ClientConfig.Service.Path = &empty
		})},
		{name: "bad name", mutate: func(c *admv1.ValidatingWebhookConfiguration) { c.Name = "Policy_1" },
			typ: field.ErrorTypeInvalid, field: "metadata.name"},
		{name: "namespace forbidden", mutate: func(c *admv1.ValidatingWebhookConfiguration) { c.Namespace = "default" },
			typ: field.ErrorTypeForbidden, field: "metadata.namespace"},
		{name: "webhook name needs three segments", mutate: hook(func(h *admv1.ValidatingWebhook) { h.Name = "example.com" }),
			typ: field.ErrorTypeInvalid, field: "webhooks[0].name", detail: "at least three segments"},
		{name: "webhook name required", mutate: hook(func(h *admv1.ValidatingWebhook) { h.Name = "" }),
			typ: field.ErrorTypeRequired, field: "webhooks[0].name"},
		{name: "duplicate webhook names", mutate: func(c *admv1.ValidatingWebhookConfiguration) {
			c.Webhooks = append(c.Webhooks, *c.Webhooks[0].DeepCopy())
		}, typ: field.ErrorTypeDuplicate, field: "webhooks[1].name"},
		{name: "admissionReviewVersions required", mutate: hook(func(h *admv1.ValidatingWebhook) { h.AdmissionReviewVersions = nil }),
			typ: field.ErrorTypeRequired, field: "webhooks[0].admissionReviewVersions"},
		{name: "admissionReviewVersions must include a known one", mutate: hook(func(h *admv1.ValidatingWebhook) {
			h.AdmissionReviewVersions = []string{"v2"}
		}), typ: field.ErrorTypeInvalid, field: "webhooks[0].admissionReviewVersions", detail: "must include at least one of v1, v1beta1"},
		{name: "admissionReviewVersions unknown alongside v1 is fine", mutate: hook(func(h *admv1.ValidatingWebhook) {
			h.AdmissionReviewVersions = []string{"v2", "v1"}
		})},
		{name: "admissionReviewVersions duplicate", mutate: hook(func(h *admv1.ValidatingWebhook) {
			h.AdmissionReviewVersions = []string{"v1", "v1"}
		}), typ: field.ErrorTypeInvalid, field: "webhooks[0].admissionReviewVersions[1]", detail: "duplicate version"},
		{name: "sideEffects required", mutate: hook(func(h *admv1.ValidatingWebhook) { h.SideEffects = nil }),
			typ: field.ErrorTypeRequired, field: "webhooks[0].sideEffects", detail: "None, NoneOnDryRun"},
		{name: "sideEffects Some not allowed in v1", mutate: hook(func(h *admv1.ValidatingWebhook) {
			h.SideEffects = admPtr(admv1.SideEffectClassSome)
		}), typ: field.ErrorTypeNotSupported, field: "webhooks[0].sideEffects"},
		{name: "sideEffects NoneOnDryRun", mutate: hook(func(h *admv1.ValidatingWebhook) {
			h.SideEffects = admPtr(admv1.SideEffectClassNoneOnDryRun)
		})},
		{name: "clientConfig neither", mutate: hook(func(h *admv1.ValidatingWebhook) { h.ClientConfig.Service = nil }),
			typ: field.ErrorTypeRequired, field: "webhooks[0].clientConfig", detail: "exactly one of url or service"},
		{name: "clientConfig both", mutate: hook(func(h *admv1.ValidatingWebhook) { h.ClientConfig.URL = admPtr("https://a.example.com") }),
			typ: field.ErrorTypeRequired, field: "webhooks[0].clientConfig", detail: "exactly one of url or service"},
		{name: "url must be https", mutate: hook(func(h *admv1.ValidatingWebhook) {
			h.ClientConfig = admv1.WebhookClientConfig{URL: admPtr("http://hook.example.com/x")}
		}), typ: field.ErrorTypeInvalid, field: "webhooks[0].clientConfig.url", detail: "'https' is the only allowed URL scheme"},
		{name: "url without query", mutate: hook(func(h *admv1.ValidatingWebhook) {
			h.ClientConfig = admv1.WebhookClientConfig{URL: admPtr("https://hook.example.com/x?debug=1")}
		}), typ: field.ErrorTypeInvalid, field: "webhooks[0].clientConfig.url", detail: "query parameters"},
		{name: "url without user info", mutate: hook(func(h *admv1.ValidatingWebhook) {
			h.ClientConfig = admv1.WebhookClientConfig{URL: admPtr("https://me:secret@hook.example.com/")}
		}), typ: field.ErrorTypeInvalid, field: "webhooks[0].clientConfig.url", detail: "user information"},
		{name: "url needs a host", mutate: hook(func(h *admv1.ValidatingWebhook) {
			h.ClientConfig = admv1.WebhookClientConfig{URL: admPtr("https:///validate")}
		}), typ: field.ErrorTypeInvalid, field: "webhooks[0].clientConfig.url", detail: "host must be specified"},
		{name: "service name required", mutate: hook(func(h *admv1.ValidatingWebhook) { h.ClientConfig.Service.Name = "" }),
			typ: field.ErrorTypeRequired, field: "webhooks[0].clientConfig.service.name"},
		{name: "service namespace required", mutate: hook(func(h *admv1.ValidatingWebhook) { h.ClientConfig.Service.Namespace = "" }),
			typ: field.ErrorTypeRequired, field: "webhooks[0].clientConfig.service.namespace"},
		{name: "service port range", mutate: hook(func(h *admv1.ValidatingWebhook) { h.ClientConfig.Service.Port = admPtr(int32(70000)) }),
			typ: field.ErrorTypeInvalid, field: "webhooks[0].clientConfig.service.port"},
		{name: "service path must be absolute", mutate: hook(func(h *admv1.ValidatingWebhook) { h.ClientConfig.Service.Path = admPtr("validate") }),
			typ: field.ErrorTypeInvalid, field: "webhooks[0].clientConfig.service.path"},
		{name: "operations required", mutate: hook(func(h *admv1.ValidatingWebhook) { h.Rules[0].Operations = nil }),
			typ: field.ErrorTypeRequired, field: "webhooks[0].rules[0].operations"},
		{name: "unknown operation", mutate: hook(func(h *admv1.ValidatingWebhook) { h.Rules[0].Operations = []admv1.OperationType{"PATCH"} }),
			typ: field.ErrorTypeNotSupported, field: "webhooks[0].rules[0].operations[0]"},
		{name: "wildcard operation alone", mutate: hook(func(h *admv1.ValidatingWebhook) {
			h.Rules[0].Operations = []admv1.OperationType{admv1.OperationAll, admv1.Create}
		}), typ: field.ErrorTypeInvalid, field: "webhooks[0].rules[0].operations"},
		{name: "apiGroups required", mutate: hook(func(h *admv1.ValidatingWebhook) { h.Rules[0].APIGroups = nil }),
			typ: field.ErrorTypeRequired, field: "webhooks[0].rules[0].apiGroups"},
		{name: "apiVersions required", mutate: hook(func(h *admv1.ValidatingWebhook) { h.Rules[0].APIVersions = nil }),
			typ: field.ErrorTypeRequired, field: "webhooks[0].rules[0].apiVersions"},
		{name: "resources required", mutate: hook(func(h *admv1.ValidatingWebhook) { h.Rules[0].Resources = nil }),
			typ: field.ErrorTypeRequired, field: "webhooks[0].rules[0].resources"},
		{name: "resources */* alone", mutate: hook(func(h *admv1.ValidatingWebhook) { h.Rules[0].Resources = []string{"*/*", "pods"} }),
			typ: field.ErrorTypeInvalid, field: "webhooks[0].rules[0].resources", detail: "'*/*'"},
		{name: "resources covered by pods/*", mutate: hook(func(h *admv1.ValidatingWebhook) {
			h.Rules[0].Resources = []string{"pods/*", "pods/status"}
		}), typ: field.ErrorTypeInvalid, field: "webhooks[0].rules[0].resources[1]"},
		{name: "bad scope", mutate: hook(func(h *admv1.ValidatingWebhook) { h.Rules[0].Scope = admPtr(admv1.ScopeType("Global")) }),
			typ: field.ErrorTypeNotSupported, field: "webhooks[0].rules[0].scope"},
		{name: "scope Cluster", mutate: hook(func(h *admv1.ValidatingWebhook) { h.Rules[0].Scope = admPtr(admv1.ClusterScope) })},
		{name: "timeout too long", mutate: hook(func(h *admv1.ValidatingWebhook) { h.TimeoutSeconds = admPtr(int32(31)) }),
			typ: field.ErrorTypeInvalid, field: "webhooks[0].timeoutSeconds", detail: "between 1 and 30"},
		{name: "timeout zero", mutate: hook(func(h *admv1.ValidatingWebhook) { h.TimeoutSeconds = admPtr(int32(0)) }),
			typ: field.ErrorTypeInvalid, field: "webhooks[0].timeoutSeconds"},
		{name: "timeout 30", mutate: hook(func(h *admv1.ValidatingWebhook) { h.TimeoutSeconds = admPtr(int32(30)) })},
		{name: "bad failurePolicy", mutate: hook(func(h *admv1.ValidatingWebhook) { h.FailurePolicy = admPtr(admv1.FailurePolicyType("Retry")) }),
			typ: field.ErrorTypeNotSupported, field: "webhooks[0].failurePolicy"},
		{name: "bad matchPolicy", mutate: hook(func(h *admv1.ValidatingWebhook) { h.MatchPolicy = admPtr(admv1.MatchPolicyType("Loose")) }),
			typ: field.ErrorTypeNotSupported, field: "webhooks[0].matchPolicy"},
		{name: "bad namespaceSelector", mutate: hook(func(h *admv1.ValidatingWebhook) {
			h.NamespaceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "env", Operator: "Near"}}}
		}), typ: field.ErrorTypeInvalid, field: "webhooks[0].namespaceSelector.matchExpressions[0].operator"},
		{name: "matchConditions valid", mutate: hook(func(h *admv1.ValidatingWebhook) {
			h.MatchConditions = []admv1.MatchCondition{{Name: "not-system", Expression: "!request.userInfo.username.startsWith('system:')"}}
		})},
		{name: "matchConditions duplicate names", mutate: hook(func(h *admv1.ValidatingWebhook) {
			h.MatchConditions = []admv1.MatchCondition{{Name: "a", Expression: "true"}, {Name: "a", Expression: "false"}}
		}), typ: field.ErrorTypeDuplicate, field: "webhooks[0].matchConditions[1].name"},
		{name: "matchConditions expression required", mutate: hook(func(h *admv1.ValidatingWebhook) {
			h.MatchConditions = []admv1.MatchCondition{{Name: "a", Expression: "  "}}
		}), typ: field.ErrorTypeRequired, field: "webhooks[0].matchConditions[0].expression"},
		{name: "matchConditions name required", mutate: hook(func(h *admv1.ValidatingWebhook) {
			h.MatchConditions = []admv1.MatchCondition{{Expression: "true"}}
		}), typ: field.ErrorTypeRequired, field: "webhooks[0].matchConditions[0].name"},
	})
}

func TestMutatingWebhookConfigurationValidation(t *testing.T) {
	s := wlStrategy(t, admv1.SchemeGroupVersion, "mutatingwebhookconfigurations")
	runAdmCases(t, s, admMutatingWebhookConfig, []admCase[*admv1.MutatingWebhookConfiguration]{
		{name: "valid"},
		{name: "bad reinvocationPolicy", mutate: func(c *admv1.MutatingWebhookConfiguration) {
			c.Webhooks[0].ReinvocationPolicy = admPtr(admv1.ReinvocationPolicyType("Always"))
		}, typ: field.ErrorTypeNotSupported, field: "webhooks[0].reinvocationPolicy"},
		{name: "sideEffects required", mutate: func(c *admv1.MutatingWebhookConfiguration) { c.Webhooks[0].SideEffects = nil },
			typ: field.ErrorTypeRequired, field: "webhooks[0].sideEffects"},
		{name: "duplicate names", mutate: func(c *admv1.MutatingWebhookConfiguration) {
			c.Webhooks = append(c.Webhooks, *c.Webhooks[0].DeepCopy())
		}, typ: field.ErrorTypeDuplicate, field: "webhooks[1].name"},
		{name: "url fragment", mutate: func(c *admv1.MutatingWebhookConfiguration) {
			c.Webhooks[0].ClientConfig.URL = admPtr("https://injector.example.com/mutate#x")
		}, typ: field.ErrorTypeInvalid, field: "webhooks[0].clientConfig.url", detail: "fragments"},
	})
}

// --- ValidatingAdmissionPolicy ------------------------------------------------------

func admPolicy() *admv1.ValidatingAdmissionPolicy {
	return &admv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "replica-limit", CreationTimestamp: wlCreated},
		Spec: admv1.ValidatingAdmissionPolicySpec{
			MatchConstraints: &admv1.MatchResources{
				ResourceRules: []admv1.NamedRuleWithOperations{{RuleWithOperations: admv1.RuleWithOperations{
					Operations: []admv1.OperationType{admv1.Create, admv1.Update},
					Rule:       admv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"v1"}, Resources: []string{"deployments"}},
				}}},
			},
			Validations: []admv1.Validation{{Expression: "object.spec.replicas <= 5", Message: "at most 5 replicas"}},
		},
	}
}

func TestValidatingAdmissionPolicyDefaults(t *testing.T) {
	s := wlStrategy(t, admv1.SchemeGroupVersion, "validatingadmissionpolicies")
	p := wlDefaulted(s, admPolicy())
	mc := p.Spec.MatchConstraints
	if *p.Spec.FailurePolicy != admv1.Fail || *mc.MatchPolicy != admv1.Equivalent ||
		mc.NamespaceSelector == nil || mc.ObjectSelector == nil || *mc.ResourceRules[0].Scope != admv1.AllScopes {
		t.Errorf("spec = %+v, matchConstraints = %+v", p.Spec, mc)
	}
	wlWantNoErrors(t, s.Validate(p))
	again := wlDefaulted(s, p.DeepCopy())
	if !apiequality.Semantic.DeepEqual(again, p) {
		t.Errorf("not idempotent")
	}
	ignore := wlDefaulted(s, func() *admv1.ValidatingAdmissionPolicy {
		p := admPolicy()
		p.Spec.FailurePolicy = admPtr(admv1.Ignore)
		return p
	}())
	if *ignore.Spec.FailurePolicy != admv1.Ignore {
		t.Errorf("failurePolicy = %s", *ignore.Spec.FailurePolicy)
	}
}

func TestValidatingAdmissionPolicyValidation(t *testing.T) {
	s := wlStrategy(t, admv1.SchemeGroupVersion, "validatingadmissionpolicies")
	type P = *admv1.ValidatingAdmissionPolicy
	runAdmCases(t, s, admPolicy, []admCase[P]{
		{name: "valid"},
		{name: "audit annotations only", mutate: func(p P) {
			p.Spec.Validations = nil
			p.Spec.AuditAnnotations = []admv1.AuditAnnotation{{Key: "replicas", ValueExpression: "string(object.spec.replicas)"}}
		}},
		{name: "validations or auditAnnotations required", mutate: func(p P) { p.Spec.Validations = nil },
			typ: field.ErrorTypeRequired, field: "spec.validations", detail: "validations or auditAnnotations"},
		{name: "validation expression required", mutate: func(p P) { p.Spec.Validations[0].Expression = " " },
			typ: field.ErrorTypeRequired, field: "spec.validations[0].expression"},
		{name: "message without line breaks", mutate: func(p P) { p.Spec.Validations[0].Message = "too\nmany" },
			typ: field.ErrorTypeInvalid, field: "spec.validations[0].message", detail: "line breaks"},
		{name: "reason", mutate: func(p P) { p.Spec.Validations[0].Reason = admPtr(metav1.StatusReasonNotFound) },
			typ: field.ErrorTypeNotSupported, field: "spec.validations[0].reason"},
		{name: "matchConstraints required", mutate: func(p P) { p.Spec.MatchConstraints = nil },
			typ: field.ErrorTypeRequired, field: "spec.matchConstraints"},
		{name: "resourceRules required", mutate: func(p P) { p.Spec.MatchConstraints.ResourceRules = nil },
			typ: field.ErrorTypeRequired, field: "spec.matchConstraints.resourceRules"},
		{name: "resourceRules operations required", mutate: func(p P) { p.Spec.MatchConstraints.ResourceRules[0].Operations = nil },
			typ: field.ErrorTypeRequired, field: "spec.matchConstraints.resourceRules[0].operations"},
		{name: "excluded resource names duplicate", mutate: func(p P) {
			r := *p.Spec.MatchConstraints.ResourceRules[0].DeepCopy()
			r.ResourceNames = []string{"web", "web"}
			p.Spec.MatchConstraints.ExcludeResourceRules = []admv1.NamedRuleWithOperations{r}
		}, typ: field.ErrorTypeDuplicate, field: "spec.matchConstraints.excludeResourceRules[0].resourceNames[1]"},
		{name: "bad failurePolicy", mutate: func(p P) { p.Spec.FailurePolicy = admPtr(admv1.FailurePolicyType("Maybe")) },
			typ: field.ErrorTypeNotSupported, field: "spec.failurePolicy"},
		{name: "paramKind", mutate: func(p P) { p.Spec.ParamKind = &admv1.ParamKind{APIVersion: "v1", Kind: "ConfigMap"} }},
		{name: "paramKind kind required", mutate: func(p P) { p.Spec.ParamKind = &admv1.ParamKind{APIVersion: "example.com/v1"} },
			typ: field.ErrorTypeRequired, field: "spec.paramKind.kind"},
		{name: "paramKind apiVersion", mutate: func(p P) { p.Spec.ParamKind = &admv1.ParamKind{APIVersion: "a/b/c", Kind: "X"} },
			typ: field.ErrorTypeInvalid, field: "spec.paramKind.apiVersion"},
		{name: "matchConditions duplicate", mutate: func(p P) {
			p.Spec.MatchConditions = []admv1.MatchCondition{{Name: "x", Expression: "true"}, {Name: "x", Expression: "true"}}
		}, typ: field.ErrorTypeDuplicate, field: "spec.matchConditions[1].name"},
		{name: "variable name", mutate: func(p P) { p.Spec.Variables = []admv1.Variable{{Name: "1st", Expression: "1"}} },
			typ: field.ErrorTypeInvalid, field: "spec.variables[0].name", detail: "CEL identifier"},
		{name: "variable expression", mutate: func(p P) { p.Spec.Variables = []admv1.Variable{{Name: "replicas"}} },
			typ: field.ErrorTypeRequired, field: "spec.variables[0].expression"},
		{name: "audit annotation key", mutate: func(p P) {
			p.Spec.AuditAnnotations = []admv1.AuditAnnotation{{Key: "bad key", ValueExpression: "'x'"}}
		}, typ: field.ErrorTypeInvalid, field: "spec.auditAnnotations[0].key"},
		{name: "audit annotation value", mutate: func(p P) {
			p.Spec.AuditAnnotations = []admv1.AuditAnnotation{{Key: "k"}}
		}, typ: field.ErrorTypeRequired, field: "spec.auditAnnotations[0].valueExpression"},
		{name: "status condition", mutate: func(p P) {
			p.Status.Conditions = []metav1.Condition{{Type: "TypeChecked", Status: "Maybe"}}
		}, typ: field.ErrorTypeNotSupported, field: "status.conditions[0].status"},
	})
}

// --- ValidatingAdmissionPolicyBinding -----------------------------------------------

func admBinding() *admv1.ValidatingAdmissionPolicyBinding {
	return &admv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "replica-limit-prod", CreationTimestamp: wlCreated},
		Spec: admv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        "replica-limit",
			ValidationActions: []admv1.ValidationAction{admv1.Deny},
		},
	}
}

func TestValidatingAdmissionPolicyBindingValidation(t *testing.T) {
	s := wlStrategy(t, admv1.SchemeGroupVersion, "validatingadmissionpolicybindings")
	type B = *admv1.ValidatingAdmissionPolicyBinding
	runAdmCases(t, s, admBinding, []admCase[B]{
		{name: "valid"},
		{name: "policyName required", mutate: func(b B) { b.Spec.PolicyName = "" },
			typ: field.ErrorTypeRequired, field: "spec.policyName"},
		{name: "policyName format", mutate: func(b B) { b.Spec.PolicyName = "Replica Limit" },
			typ: field.ErrorTypeInvalid, field: "spec.policyName"},
		{name: "validationActions required", mutate: func(b B) { b.Spec.ValidationActions = nil },
			typ: field.ErrorTypeRequired, field: "spec.validationActions"},
		{name: "validationActions unique", mutate: func(b B) {
			b.Spec.ValidationActions = []admv1.ValidationAction{admv1.Audit, admv1.Audit}
		}, typ: field.ErrorTypeDuplicate, field: "spec.validationActions[1]"},
		{name: "validationActions known", mutate: func(b B) { b.Spec.ValidationActions = []admv1.ValidationAction{"Block"} },
			typ: field.ErrorTypeNotSupported, field: "spec.validationActions[0]"},
		{name: "validationActions Deny and Warn", mutate: func(b B) {
			b.Spec.ValidationActions = []admv1.ValidationAction{admv1.Deny, admv1.Warn}
		}, typ: field.ErrorTypeInvalid, field: "spec.validationActions"},
		{name: "Warn and Audit", mutate: func(b B) { b.Spec.ValidationActions = []admv1.ValidationAction{admv1.Warn, admv1.Audit} }},
		{name: "paramRef by name", mutate: func(b B) {
			b.Spec.ParamRef = &admv1.ParamRef{Name: "limits", Namespace: "prod", ParameterNotFoundAction: admPtr(admv1.DenyAction)}
		}},
		{name: "paramRef name or selector", mutate: func(b B) {
			b.Spec.ParamRef = &admv1.ParamRef{ParameterNotFoundAction: admPtr(admv1.DenyAction)}
		}, typ: field.ErrorTypeRequired, field: "spec.paramRef"},
		{name: "paramRef not both", mutate: func(b B) {
			b.Spec.ParamRef = &admv1.ParamRef{Name: "x", Selector: &metav1.LabelSelector{}, ParameterNotFoundAction: admPtr(admv1.AllowAction)}
		}, typ: field.ErrorTypeForbidden, field: "spec.paramRef.name"},
		{name: "paramRef parameterNotFoundAction", mutate: func(b B) { b.Spec.ParamRef = &admv1.ParamRef{Name: "x"} },
			typ: field.ErrorTypeRequired, field: "spec.paramRef.parameterNotFoundAction"},
		{name: "matchResources defaulted and checked", mutate: func(b B) {
			b.Spec.MatchResources = &admv1.MatchResources{ResourceRules: []admv1.NamedRuleWithOperations{{
				RuleWithOperations: admv1.RuleWithOperations{Operations: []admv1.OperationType{admv1.Create},
					Rule: admv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"v1"}}},
			}}}
		}, typ: field.ErrorTypeRequired, field: "spec.matchResources.resourceRules[0].resources"},
	})
	t.Run("matchResources defaults", func(t *testing.T) {
		b := admBinding()
		b.Spec.MatchResources = &admv1.MatchResources{}
		wlDefaulted(s, b)
		m := b.Spec.MatchResources
		if *m.MatchPolicy != admv1.Equivalent || m.NamespaceSelector == nil || m.ObjectSelector == nil {
			t.Errorf("matchResources = %+v", m)
		}
		wlWantNoErrors(t, s.Validate(b))
	})
}

// --- FlowSchema -----------------------------------------------------------------------

func admFlowSchema() *flowcontrolv1.FlowSchema {
	return &flowcontrolv1.FlowSchema{
		ObjectMeta: metav1.ObjectMeta{Name: "batch-jobs", CreationTimestamp: wlCreated},
		Spec: flowcontrolv1.FlowSchemaSpec{
			PriorityLevelConfiguration: flowcontrolv1.PriorityLevelConfigurationReference{Name: "batch"},
			DistinguisherMethod:        &flowcontrolv1.FlowDistinguisherMethod{Type: flowcontrolv1.FlowDistinguisherMethodByUserType},
			Rules: []flowcontrolv1.PolicyRulesWithSubjects{{
				Subjects: []flowcontrolv1.Subject{
					{Kind: flowcontrolv1.SubjectKindServiceAccount, ServiceAccount: &flowcontrolv1.ServiceAccountSubject{Namespace: "batch", Name: "*"}},
					{Kind: flowcontrolv1.SubjectKindGroup, Group: &flowcontrolv1.GroupSubject{Name: "batch-operators"}},
				},
				ResourceRules: []flowcontrolv1.ResourcePolicyRule{{
					Verbs: []string{"*"}, APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Namespaces: []string{"*"},
				}},
				NonResourceRules: []flowcontrolv1.NonResourcePolicyRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz", "/metrics/*"}}},
			}},
		},
	}
}

func TestFlowSchemaDefaults(t *testing.T) {
	s := wlStrategy(t, flowcontrolv1.SchemeGroupVersion, "flowschemas")
	fs := wlDefaulted(s, admFlowSchema())
	if fs.Spec.MatchingPrecedence != 1000 {
		t.Errorf("matchingPrecedence = %d", fs.Spec.MatchingPrecedence)
	}
	wlWantNoErrors(t, s.Validate(fs))
	set := admFlowSchema()
	set.Spec.MatchingPrecedence = 500
	if wlDefaulted(s, set).Spec.MatchingPrecedence != 500 {
		t.Errorf("explicit matchingPrecedence overwritten")
	}
}

func TestFlowSchemaValidation(t *testing.T) {
	s := wlStrategy(t, flowcontrolv1.SchemeGroupVersion, "flowschemas")
	type F = *flowcontrolv1.FlowSchema
	rule := func(f func(*flowcontrolv1.PolicyRulesWithSubjects)) func(F) {
		return func(fs F) { f(&fs.Spec.Rules[0]) }
	}
	runAdmCases(t, s, admFlowSchema, []admCase[F]{
		{name: "valid"},
		{name: "no rules is valid", mutate: func(fs F) { fs.Spec.Rules = nil }},
		{name: "bad name", mutate: func(fs F) { fs.Name = "Batch Jobs" }, typ: field.ErrorTypeInvalid, field: "metadata.name"},
		{name: "priority level required", mutate: func(fs F) { fs.Spec.PriorityLevelConfiguration.Name = "" },
			typ: field.ErrorTypeRequired, field: "spec.priorityLevelConfiguration.name"},
		{name: "priority level name format", mutate: func(fs F) { fs.Spec.PriorityLevelConfiguration.Name = "Batch_PL" },
			typ: field.ErrorTypeInvalid, field: "spec.priorityLevelConfiguration.name"},
		{name: "precedence too high", mutate: func(fs F) { fs.Spec.MatchingPrecedence = 10001 },
			typ: field.ErrorTypeInvalid, field: "spec.matchingPrecedence", detail: "10000"},
		{name: "precedence negative", mutate: func(fs F) { fs.Spec.MatchingPrecedence = -1 },
			typ: field.ErrorTypeInvalid, field: "spec.matchingPrecedence", detail: "positive"},
		{name: "precedence 1 is reserved", mutate: func(fs F) { fs.Spec.MatchingPrecedence = 1 },
			typ: field.ErrorTypeInvalid, field: "spec.matchingPrecedence", detail: "exempt"},
		{name: "precedence 1 for exempt", mutate: func(fs F) { fs.Name = "exempt"; fs.Spec.MatchingPrecedence = 1 }},
		{name: "precedence 10000", mutate: func(fs F) { fs.Spec.MatchingPrecedence = 10000 }},
		{name: "distinguisher", mutate: func(fs F) { fs.Spec.DistinguisherMethod.Type = "ByIP" },
			typ: field.ErrorTypeNotSupported, field: "spec.distinguisherMethod.type"},
		{name: "subjects required", mutate: rule(func(r *flowcontrolv1.PolicyRulesWithSubjects) { r.Subjects = nil }),
			typ: field.ErrorTypeRequired, field: "spec.rules[0].subjects"},
		{name: "subject kind", mutate: rule(func(r *flowcontrolv1.PolicyRulesWithSubjects) { r.Subjects[1].Kind = "Team" }),
			typ: field.ErrorTypeNotSupported, field: "spec.rules[0].subjects[1].kind"},
		{name: "subject member for another kind", mutate: rule(func(r *flowcontrolv1.PolicyRulesWithSubjects) {
			r.Subjects[1].User = &flowcontrolv1.UserSubject{Name: "alice"}
		}), typ: field.ErrorTypeForbidden, field: "spec.rules[0].subjects[1].user"},
		{name: "user subject needs user", mutate: rule(func(r *flowcontrolv1.PolicyRulesWithSubjects) {
			r.Subjects[1] = flowcontrolv1.Subject{Kind: flowcontrolv1.SubjectKindUser}
		}), typ: field.ErrorTypeRequired, field: "spec.rules[0].subjects[1].user"},
		{name: "service account namespace", mutate: rule(func(r *flowcontrolv1.PolicyRulesWithSubjects) {
			r.Subjects[0].ServiceAccount.Namespace = ""
		}), typ: field.ErrorTypeRequired, field: "spec.rules[0].subjects[0].serviceAccount.namespace"},
		{name: "rules needed", mutate: rule(func(r *flowcontrolv1.PolicyRulesWithSubjects) { r.ResourceRules, r.NonResourceRules = nil, nil }),
			typ: field.ErrorTypeRequired, field: "spec.rules[0]"},
		{name: "verbs", mutate: rule(func(r *flowcontrolv1.PolicyRulesWithSubjects) { r.ResourceRules[0].Verbs = []string{"eat"} }),
			typ: field.ErrorTypeNotSupported, field: "spec.rules[0].resourceRules[0].verbs"},
		{name: "namespaces or cluster scope", mutate: rule(func(r *flowcontrolv1.PolicyRulesWithSubjects) { r.ResourceRules[0].Namespaces = nil }),
			typ: field.ErrorTypeRequired, field: "spec.rules[0].resourceRules[0].namespaces"},
		{name: "cluster scope", mutate: rule(func(r *flowcontrolv1.PolicyRulesWithSubjects) {
			r.ResourceRules[0].Namespaces, r.ResourceRules[0].ClusterScope = nil, true
		})},
		{name: "apiGroups", mutate: rule(func(r *flowcontrolv1.PolicyRulesWithSubjects) { r.ResourceRules[0].APIGroups = nil }),
			typ: field.ErrorTypeRequired, field: "spec.rules[0].resourceRules[0].apiGroups"},
		{name: "non-resource URL", mutate: rule(func(r *flowcontrolv1.PolicyRulesWithSubjects) {
			r.NonResourceRules[0].NonResourceURLs = []string{"/metrics*"}
		}), typ: field.ErrorTypeInvalid, field: "spec.rules[0].nonResourceRules[0].nonResourceURLs[0]", detail: "suffix"},
		{name: "duplicate status condition", mutate: func(fs F) {
			fs.Status.Conditions = []flowcontrolv1.FlowSchemaCondition{{Type: "Dangling"}, {Type: "Dangling"}}
		}, typ: field.ErrorTypeDuplicate, field: "status.conditions[1].type"},
	})
}

// --- PriorityLevelConfiguration ----------------------------------------------------------

func admLimitedPL() *flowcontrolv1.PriorityLevelConfiguration {
	return &flowcontrolv1.PriorityLevelConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "batch", CreationTimestamp: wlCreated},
		Spec: flowcontrolv1.PriorityLevelConfigurationSpec{
			Type: flowcontrolv1.PriorityLevelEnablementLimited,
			Limited: &flowcontrolv1.LimitedPriorityLevelConfiguration{
				LimitResponse: flowcontrolv1.LimitResponse{Type: flowcontrolv1.LimitResponseTypeQueue, Queuing: &flowcontrolv1.QueuingConfiguration{}},
			},
		},
	}
}

func TestPriorityLevelConfigurationDefaults(t *testing.T) {
	s := wlStrategy(t, flowcontrolv1.SchemeGroupVersion, "prioritylevelconfigurations")
	t.Run("limited with queuing", func(t *testing.T) {
		pl := wlDefaulted(s, admLimitedPL())
		l := pl.Spec.Limited
		q := l.LimitResponse.Queuing
		if *l.NominalConcurrencyShares != 30 || *l.LendablePercent != 0 || l.BorrowingLimitPercent != nil {
			t.Errorf("limited = %+v", l)
		}
		if q.Queues != 64 || q.HandSize != 8 || q.QueueLengthLimit != 50 {
			t.Errorf("queuing = %+v", q)
		}
		wlWantNoErrors(t, s.Validate(pl))
		if again := wlDefaulted(s, pl.DeepCopy()); !apiequality.Semantic.DeepEqual(again, pl) {
			t.Errorf("not idempotent")
		}
	})
	t.Run("limited reject keeps explicit shares", func(t *testing.T) {
		pl := admLimitedPL()
		pl.Spec.Limited.NominalConcurrencyShares = admPtr(int32(0))
		pl.Spec.Limited.LimitResponse = flowcontrolv1.LimitResponse{Type: flowcontrolv1.LimitResponseTypeReject}
		wlDefaulted(s, pl)
		if *pl.Spec.Limited.NominalConcurrencyShares != 0 || pl.Spec.Limited.LimitResponse.Queuing != nil {
			t.Errorf("limited = %+v", pl.Spec.Limited)
		}
		wlWantNoErrors(t, s.Validate(pl))
	})
	t.Run("limitResponse type is not defaulted", func(t *testing.T) {
		pl := admLimitedPL()
		pl.Spec.Limited.LimitResponse = flowcontrolv1.LimitResponse{}
		wlDefaulted(s, pl)
		wlWantError(t, s.Validate(pl), field.ErrorTypeNotSupported, "spec.limited.limitResponse.type", "")
	})
	t.Run("exempt", func(t *testing.T) {
		pl := &flowcontrolv1.PriorityLevelConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: "exempt"},
			Spec: flowcontrolv1.PriorityLevelConfigurationSpec{Type: flowcontrolv1.PriorityLevelEnablementExempt,
				Exempt: &flowcontrolv1.ExemptPriorityLevelConfiguration{}},
		}
		wlDefaulted(s, pl)
		if *pl.Spec.Exempt.NominalConcurrencyShares != 0 || *pl.Spec.Exempt.LendablePercent != 0 {
			t.Errorf("exempt = %+v", pl.Spec.Exempt)
		}
		wlWantNoErrors(t, s.Validate(pl))
	})
}

func TestPriorityLevelConfigurationValidation(t *testing.T) {
	s := wlStrategy(t, flowcontrolv1.SchemeGroupVersion, "prioritylevelconfigurations")
	type PL = *flowcontrolv1.PriorityLevelConfiguration
	queuing := func(f func(*flowcontrolv1.QueuingConfiguration)) func(PL) {
		return func(pl PL) { f(pl.Spec.Limited.LimitResponse.Queuing) }
	}
	runAdmCases(t, s, admLimitedPL, []admCase[PL]{
		{name: "valid"},
		{name: "type required", mutate: func(pl PL) { pl.Spec.Type = "" },
			typ: field.ErrorTypeNotSupported, field: "spec.type"},
		{name: "exempt type needs exempt name", mutate: func(pl PL) {
			pl.Spec = flowcontrolv1.PriorityLevelConfigurationSpec{Type: flowcontrolv1.PriorityLevelEnablementExempt}
		}, typ: field.ErrorTypeInvalid, field: "spec.type", detail: "if and only if"},
		{name: "limited required", mutate: func(pl PL) { pl.Spec.Limited = nil },
			typ: field.ErrorTypeRequired, field: "spec.limited"},
		{name: "exempt forbidden when limited", mutate: func(pl PL) { pl.Spec.Exempt = &flowcontrolv1.ExemptPriorityLevelConfiguration{} },
			typ: field.ErrorTypeForbidden, field: "spec.exempt"},
		{name: "negative shares", mutate: func(pl PL) { pl.Spec.Limited.NominalConcurrencyShares = admPtr(int32(-1)) },
			typ: field.ErrorTypeInvalid, field: "spec.limited.nominalConcurrencyShares"},
		{name: "lendable percent", mutate: func(pl PL) { pl.Spec.Limited.LendablePercent = admPtr(int32(101)) },
			typ: field.ErrorTypeInvalid, field: "spec.limited.lendablePercent"},
		{name: "borrowing limit", mutate: func(pl PL) { pl.Spec.Limited.BorrowingLimitPercent = admPtr(int32(-5)) },
			typ: field.ErrorTypeInvalid, field: "spec.limited.borrowingLimitPercent"},
		{name: "queuing required for Queue", mutate: func(pl PL) { pl.Spec.Limited.LimitResponse.Queuing = nil },
			typ: field.ErrorTypeRequired, field: "spec.limited.limitResponse.queuing"},
		{name: "queuing forbidden for Reject", mutate: func(pl PL) { pl.Spec.Limited.LimitResponse.Type = flowcontrolv1.LimitResponseTypeReject },
			typ: field.ErrorTypeForbidden, field: "spec.limited.limitResponse.queuing"},
		{name: "hand larger than deck", mutate: queuing(func(q *flowcontrolv1.QueuingConfiguration) { q.Queues, q.HandSize = 4, 5 }),
			typ: field.ErrorTypeInvalid, field: "spec.limited.limitResponse.queuing.handSize", detail: "greater than queues"},
		{name: "too much entropy", mutate: queuing(func(q *flowcontrolv1.QueuingConfiguration) { q.Queues, q.HandSize = 1<<20, 20 }),
			typ: field.ErrorTypeInvalid, field: "spec.limited.limitResponse.queuing.handSize", detail: "entropy"},
		{name: "negative queue length", mutate: queuing(func(q *flowcontrolv1.QueuingConfiguration) { q.QueueLengthLimit = -1 }),
			typ: field.ErrorTypeInvalid, field: "spec.limited.limitResponse.queuing.queueLengthLimit"},
		{name: "too many queues", mutate: queuing(func(q *flowcontrolv1.QueuingConfiguration) { q.Queues = 20_000_000 }),
			typ: field.ErrorTypeInvalid, field: "spec.limited.limitResponse.queuing.queues"},
	})
}

// --- rows and generation ----------------------------------------------------------------

func TestAdmissionRows(t *testing.T) {
	t.Run("validatingwebhookconfigurations", func(t *testing.T) {
		s := wlStrategy(t, admv1.SchemeGroupVersion, "validatingwebhookconfigurations")
		wlCheckColumns(t, s, "Name Webhooks Age", "")
		wlWantRow(t, s, admValidatingWebhookConfig(), []interface{}{"policy.example.com", int64(1), "5m"})
	})
	t.Run("mutatingwebhookconfigurations", func(t *testing.T) {
		s := wlStrategy(t, admv1.SchemeGroupVersion, "mutatingwebhookconfigurations")
		wlCheckColumns(t, s, "Name Webhooks Age", "")
		c := admMutatingWebhookConfig()
		c.Webhooks = nil
		wlWantRow(t, s, c, []interface{}{"injector", int64(0), "5m"})
	})
	t.Run("validatingadmissionpolicies", func(t *testing.T) {
		s := wlStrategy(t, admv1.SchemeGroupVersion, "validatingadmissionpolicies")
		wlCheckColumns(t, s, "Name Validations ParamKind Age", "")
		p := admPolicy()
		wlWantRow(t, s, p, []interface{}{"replica-limit", int64(1), "<unset>", "5m"})
		p.Spec.ParamKind = &admv1.ParamKind{APIVersion: "rules.example.com/v1", Kind: "ReplicaLimit"}
		wlWantRow(t, s, p, []interface{}{"replica-limit", int64(1), "rules.example.com/v1/ReplicaLimit", "5m"})
	})
	t.Run("validatingadmissionpolicybindings", func(t *testing.T) {
		s := wlStrategy(t, admv1.SchemeGroupVersion, "validatingadmissionpolicybindings")
		wlCheckColumns(t, s, "Name PolicyName ParamRef Age", "")
		b := admBinding()
		wlWantRow(t, s, b, []interface{}{"replica-limit-prod", "replica-limit", "<unset>", "5m"})
		b.Spec.ParamRef = &admv1.ParamRef{Name: "limits"}
		wlWantRow(t, s, b, []interface{}{"replica-limit-prod", "replica-limit", "*/limits", "5m"})
		b.Spec.ParamRef.Namespace = "prod"
		wlWantRow(t, s, b, []interface{}{"replica-limit-prod", "replica-limit", "prod/limits", "5m"})
		b.Spec.ParamRef = &admv1.ParamRef{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "gold"}}}
		wlWantRow(t, s, b, []interface{}{"replica-limit-prod", "replica-limit", "&LabelSelector{MatchLabels:map[string]string{tier: gold,},MatchExpressions:[]LabelSelectorRequirement{},}", "5m"})
	})
	t.Run("flowschemas", func(t *testing.T) {
		s := wlStrategy(t, flowcontrolv1.SchemeGroupVersion, "flowschemas")
		wlCheckColumns(t, s, "Name PriorityLevel MatchingPrecedence DistinguisherMethod Age MissingPL", "")
		fs := wlDefaulted(s, admFlowSchema())
		wlWantRow(t, s, fs, []interface{}{"batch-jobs", "batch", int64(1000), "ByUser", "5m", "?"})
		fs.Spec.DistinguisherMethod = nil
		fs.Status.Conditions = []flowcontrolv1.FlowSchemaCondition{{Type: flowcontrolv1.FlowSchemaConditionDangling, Status: flowcontrolv1.ConditionFalse}}
		wlWantRow(t, s, fs, []interface{}{"batch-jobs", "batch", int64(1000), "<none>", "5m", "False"})
	})
	t.Run("prioritylevelconfigurations", func(t *testing.T) {
		s := wlStrategy(t, flowcontrolv1.SchemeGroupVersion, "prioritylevelconfigurations")
		wlCheckColumns(t, s, "Name Type NominalConcurrencyShares Queues HandSize QueueLengthLimit Age", "")
		pl := wlDefaulted(s, admLimitedPL())
		wlWantRow(t, s, pl, []interface{}{"batch", "Limited", int64(30), int64(64), int64(8), int64(50), "5m"})
		pl.Spec.Limited.LimitResponse = flowcontrolv1.LimitResponse{Type: flowcontrolv1.LimitResponseTypeReject}
		wlWantRow(t, s, pl, []interface{}{"batch", "Limited", int64(30), "<none>", "<none>", "<none>", "5m"})
		exempt := &flowcontrolv1.PriorityLevelConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "exempt", CreationTimestamp: wlCreated},
			Spec: flowcontrolv1.PriorityLevelConfigurationSpec{Type: flowcontrolv1.PriorityLevelEnablementExempt}}
		wlWantRow(t, s, exempt, []interface{}{"exempt", "Exempt", "<none>", "<none>", "<none>", "<none>", "5m"})
	})
}

func TestAdmissionGenerationCountsSpecChanges(t *testing.T) {
	for _, tc := range []struct {
		resource string
		gv       string
		obj      func() runtime.Object
		change   func(runtime.Object)
	}{
		{"validatingwebhookconfigurations", "admissionregistration", func() runtime.Object { return admValidatingWebhookConfig() },
			func(o runtime.Object) {
				o.(*admv1.ValidatingWebhookConfiguration).Webhooks[0].TimeoutSeconds = admPtr(int32(5))
			}},
		{"validatingadmissionpolicies", "admissionregistration", func() runtime.Object { return admPolicy() },
			func(o runtime.Object) {
				o.(*admv1.ValidatingAdmissionPolicy).Spec.Validations[0].Expression = "true"
			}},
		{"flowschemas", "flowcontrol", func() runtime.Object { return admFlowSchema() },
			func(o runtime.Object) { o.(*flowcontrolv1.FlowSchema).Spec.MatchingPrecedence = 200 }},
		{"prioritylevelconfigurations", "flowcontrol", func() runtime.Object { return admLimitedPL() },
			func(o runtime.Object) {
				o.(*flowcontrolv1.PriorityLevelConfiguration).Spec.Limited.LendablePercent = admPtr(int32(50))
			}},
	} {
		t.Run(tc.resource, func(t *testing.T) {
			gv := admv1.SchemeGroupVersion
			if tc.gv == "flowcontrol" {
				gv = flowcontrolv1.SchemeGroupVersion
			}
			s := wlStrategy(t, gv, tc.resource)
			old := tc.obj()
			s.Default(old)
			s.PrepareForCreate(old)
			if g := old.(metav1.Object).GetGeneration(); g != 1 {
				t.Fatalf("generation on create = %d", g)
			}
			// A label change is not a change of what the object asks for.
			same := old.DeepCopyObject()
			same.(metav1.Object).SetLabels(map[string]string{"team": "a"})
			s.Default(same)
			s.PrepareForUpdate(same, old)
			if g := same.(metav1.Object).GetGeneration(); g != 1 {
				t.Errorf("generation after metadata change = %d", g)
			}
			changed := old.DeepCopyObject()
			tc.change(changed)
			s.Default(changed)
			s.PrepareForUpdate(changed, old)
			if g := changed.(metav1.Object).GetGeneration(); g != 2 {
				t.Errorf("generation after spec change = %d", g)
			}
			wlWantNoErrors(t, s.ValidateUpdate(changed, old))
		})
	}
}
