package api

// admissionregistration.k8s.io/v1 (webhook configurations, validating
// admission policies and their bindings) and flowcontrol.apiserver.k8s.io/v1
// (FlowSchemas, PriorityLevelConfigurations): stored and served like every
// other resource, with Kubernetes' defaults and validation, so a manifest
// that works here works on a real cluster and the objects read back the same.
// The API server enforces the webhooks and policies (internal/apiserver
// admission.go); priority levels do not queue requests yet.
//
// Match conditions are compiled as CEL at validation (admission_cel.go);
// other policy expressions are checked for presence, and the policy plugin
// reports the ones that do not compile when it evaluates them.

import (
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strings"
	"time"

	admv1 "k8s.io/api/admissionregistration/v1"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	validatingWebhookConfigurationsGVR   = admv1.SchemeGroupVersion.WithResource("validatingwebhookconfigurations")
	mutatingWebhookConfigurationsGVR     = admv1.SchemeGroupVersion.WithResource("mutatingwebhookconfigurations")
	validatingAdmissionPoliciesGVR       = admv1.SchemeGroupVersion.WithResource("validatingadmissionpolicies")
	validatingAdmissionPolicyBindingsGVR = admv1.SchemeGroupVersion.WithResource("validatingadmissionpolicybindings")
	flowSchemasGVR                       = flowcontrolv1.SchemeGroupVersion.WithResource("flowschemas")
	priorityLevelConfigurationsGVR       = flowcontrolv1.SchemeGroupVersion.WithResource("prioritylevelconfigurations")
)

// admissionResources are the admissionregistration and flowcontrol resources.
// The admission kinds are in the api-extensions category, as in Kubernetes,
// so `kubectl get api-extensions` lists them next to CRDs.
func admissionResources() []*Resource {
	ext := []string{"api-extensions"}
	return []*Resource{
		{GroupVersionResource: validatingWebhookConfigurationsGVR, Kind: "ValidatingWebhookConfiguration",
			Singular: "validatingwebhookconfiguration", Categories: ext},
		{GroupVersionResource: mutatingWebhookConfigurationsGVR, Kind: "MutatingWebhookConfiguration",
			Singular: "mutatingwebhookconfiguration", Categories: ext},
		{GroupVersionResource: validatingAdmissionPoliciesGVR, Kind: "ValidatingAdmissionPolicy",
			Singular: "validatingadmissionpolicy", Categories: ext, Subresources: []Subresource{status()}},
		{GroupVersionResource: validatingAdmissionPolicyBindingsGVR, Kind: "ValidatingAdmissionPolicyBinding",
			Singular: "validatingadmissionpolicybinding", Categories: ext},
		{GroupVersionResource: flowSchemasGVR, Kind: "FlowSchema",
			Singular: "flowschema", Subresources: []Subresource{status()}},
		{GroupVersionResource: priorityLevelConfigurationsGVR, Kind: "PriorityLevelConfiguration",
			Singular: "prioritylevelconfiguration", Subresources: []Subresource{status()}},
	}
}

func admissionStrategies() map[schema.GroupVersionResource]Strategy {
	return map[schema.GroupVersionResource]Strategy{
		validatingWebhookConfigurationsGVR:   validatingWebhookConfigurationStrategy(),
		mutatingWebhookConfigurationsGVR:     mutatingWebhookConfigurationStrategy(),
		validatingAdmissionPoliciesGVR:       validatingAdmissionPolicyStrategy(),
		validatingAdmissionPolicyBindingsGVR: validatingAdmissionPolicyBindingStrategy(),
		flowSchemasGVR:                       flowSchemaStrategy(),
		priorityLevelConfigurationsGVR:       priorityLevelConfigurationStrategy(),
	}
}

// --- generation ----------------------------------------------------------------

// admGenerationTracking makes metadata.generation count changes to what the
// object asks for, as Kubernetes does for every kind in this file: the
// policy type checker and the flowcontrol config consumer compare it with
// status.observedGeneration. desired returns that part of the object.
// Status writes never reach PrepareForUpdate, so they leave it alone.
func admGenerationTracking(s Strategy, desired func(runtime.Object) interface{}) Strategy {
	s.PrepareForCreate = func(obj runtime.Object) {
		obj.(metav1.Object).SetGeneration(1)
	}
	s.PrepareForUpdate = func(obj, old runtime.Object) {
		m, om := obj.(metav1.Object), old.(metav1.Object)
		m.SetGeneration(om.GetGeneration())
		if !apiequality.Semantic.DeepEqual(desired(obj), desired(old)) {
			m.SetGeneration(om.GetGeneration() + 1)
		}
	}
	return s
}

// --- webhook configurations ------------------------------------------------------

// webhookView points into a ValidatingWebhook or a MutatingWebhook. The two
// types differ only in reinvocationPolicy, and Kubernetes holds both to the
// same defaults and rules, so one view lets one implementation serve both.
type webhookView struct {
	name                    string
	clientConfig            *admv1.WebhookClientConfig
	rules                   []admv1.RuleWithOperations
	failurePolicy           **admv1.FailurePolicyType
	matchPolicy             **admv1.MatchPolicyType
	namespaceSelector       **metav1.LabelSelector
	objectSelector          **metav1.LabelSelector
	sideEffects             *admv1.SideEffectClass
	timeoutSeconds          **int32
	admissionReviewVersions []string
	matchConditions         []admv1.MatchCondition
	// reinvocationPolicy is nil for validating webhooks.
	reinvocationPolicy **admv1.ReinvocationPolicyType
}

func validatingWebhookViews(c *admv1.ValidatingWebhookConfiguration) []webhookView {
	views := make([]webhookView, len(c.Webhooks))
	for i := range c.Webhooks {
		h := &c.Webhooks[i]
		views[i] = webhookView{
			name: h.Name, clientConfig: &h.ClientConfig, rules: h.Rules,
			failurePolicy: &h.FailurePolicy, matchPolicy: &h.MatchPolicy,
			namespaceSelector: &h.NamespaceSelector, objectSelector: &h.ObjectSelector,
			sideEffects: h.SideEffects, timeoutSeconds: &h.TimeoutSeconds,
			admissionReviewVersions: h.AdmissionReviewVersions, matchConditions: h.MatchConditions,
		}
	}
	return views
}

func mutatingWebhookViews(c *admv1.MutatingWebhookConfiguration) []webhookView {
	views := make([]webhookView, len(c.Webhooks))
	for i := range c.Webhooks {
		h := &c.Webhooks[i]
		views[i] = webhookView{
			name: h.Name, clientConfig: &h.ClientConfig, rules: h.Rules,
			failurePolicy: &h.FailurePolicy, matchPolicy: &h.MatchPolicy,
			namespaceSelector: &h.NamespaceSelector, objectSelector: &h.ObjectSelector,
			sideEffects: h.SideEffects, timeoutSeconds: &h.TimeoutSeconds,
			admissionReviewVersions: h.AdmissionReviewVersions, matchConditions: h.MatchConditions,
			reinvocationPolicy: &h.ReinvocationPolicy,
		}
	}
	return views
}

const (
	defaultWebhookTimeoutSeconds int32 = 10
	defaultWebhookServicePort    int32 = 443
)

// defaultWebhook fills what Kubernetes' v1 defaults fill. sideEffects is
// left alone on purpose: v1 made it required (v1beta1 defaulted it to
// Unknown), so that every webhook author states whether dry-run is safe.
func defaultWebhook(h webhookView) {
	if *h.failurePolicy == nil {
		p := admv1.Fail
		*h.failurePolicy = &p
	}
	if *h.matchPolicy == nil {
		p := admv1.Equivalent
		*h.matchPolicy = &p
	}
	if *h.namespaceSelector == nil {
		*h.namespaceSelector = &metav1.LabelSelector{}
	}
	if *h.objectSelector == nil {
		*h.objectSelector = &metav1.LabelSelector{}
	}
	if *h.timeoutSeconds == nil {
		t := defaultWebhookTimeoutSeconds
		*h.timeoutSeconds = &t
	}
	if h.reinvocationPolicy != nil && *h.reinvocationPolicy == nil {
		p := admv1.NeverReinvocationPolicy
		*h.reinvocationPolicy = &p
	}
	if svc := h.clientConfig.Service; svc != nil && svc.Port == nil {
		p := defaultWebhookServicePort
		svc.Port = &p
	}
	for i := range h.rules {
		defaultRule(&h.rules[i].Rule)
	}
}

func defaultRule(r *admv1.Rule) {
	if r.Scope == nil {
		s := admv1.AllScopes
		r.Scope = &s
	}
}

func webhookConfigurationStrategy(views func(runtime.Object) []webhookView, kind string) Strategy {
	validate := func(obj runtime.Object) field.ErrorList {
		errs := wlValidateMeta(admObjectMeta(obj), false, apivalidation.NameIsDNSSubdomain)
		return append(errs, validateWebhooks(views(obj), field.NewPath("webhooks"))...)
	}
	s := Strategy{
		Default: func(obj runtime.Object) {
			for _, h := range views(obj) {
				defaultWebhook(h)
			}
		},
		Validate:       validate,
		ValidateUpdate: func(obj, _ runtime.Object) field.ErrorList { return validate(obj) },
		Columns: []metav1.TableColumnDefinition{
			wlNameColumn(),
			wlColumn("Webhooks", "integer", "Webhooks indicates the number of webhooks registered in this configuration"),
			wlAgeColumn(),
		},
		Row: func(obj runtime.Object, now time.Time) []interface{} {
			m := admObjectMeta(obj)
			return []interface{}{m.Name, int64(len(views(obj))), ageOf(m.CreationTimestamp, now)}
		},
	}
	// Webhook configurations have no spec: the webhooks are what they ask for.
	return admGenerationTracking(s, func(obj runtime.Object) interface{} {
		switch c := obj.(type) {
		case *admv1.ValidatingWebhookConfiguration:
			return c.Webhooks
		case *admv1.MutatingWebhookConfiguration:
			return c.Webhooks
		}
		panic(fmt.Sprintf("%s strategy got %T", kind, obj))
	})
}

func validatingWebhookConfigurationStrategy() Strategy {
	return webhookConfigurationStrategy(func(obj runtime.Object) []webhookView {
		return validatingWebhookViews(obj.(*admv1.ValidatingWebhookConfiguration))
	}, "ValidatingWebhookConfiguration")
}

func mutatingWebhookConfigurationStrategy() Strategy {
	return webhookConfigurationStrategy(func(obj runtime.Object) []webhookView {
		return mutatingWebhookViews(obj.(*admv1.MutatingWebhookConfiguration))
	}, "MutatingWebhookConfiguration")
}

func admObjectMeta(obj runtime.Object) *metav1.ObjectMeta {
	switch o := obj.(type) {
	case *admv1.ValidatingWebhookConfiguration:
		return &o.ObjectMeta
	case *admv1.MutatingWebhookConfiguration:
		return &o.ObjectMeta
	}
	panic(fmt.Sprintf("no webhook configuration: %T", obj))
}

// acceptedAdmissionReviewVersions are the AdmissionReview versions an API
// server can send; a webhook that speaks none of them could never be called.
var acceptedAdmissionReviewVersions = []string{"v1", "v1beta1"}

const (
	minWebhookTimeoutSeconds = 1
	maxWebhookTimeoutSeconds = 30
	maxMatchConditions       = 64
)

func validateWebhooks(hooks []webhookView, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := map[string]bool{}
	for i, h := range hooks {
		hp := fld.Index(i)
		errs = append(errs, validation.IsFullyQualifiedName(hp.Child("name"), h.name)...)
		if h.name != "" {
			// Webhooks are merged by name in strategic merge patches and
			// named in audit logs and metrics, so a name picks one.
			if names[h.name] {
				errs = append(errs, field.Duplicate(hp.Child("name"), h.name))
			}
			names[h.name] = true
		}
		errs = append(errs, validateClientConfig(h.clientConfig, hp.Child("clientConfig"))...)
		for j := range h.rules {
			errs = append(errs, validateRuleWithOperations(&h.rules[j], hp.Child("rules").Index(j))...)
		}
		if p := *h.failurePolicy; p != nil && *p != admv1.Fail && *p != admv1.Ignore {
			errs = append(errs, field.NotSupported(hp.Child("failurePolicy"), *p, []string{string(admv1.Fail), string(admv1.Ignore)}))
		}
		if p := *h.matchPolicy; p != nil && *p != admv1.Exact && *p != admv1.Equivalent {
			errs = append(errs, field.NotSupported(hp.Child("matchPolicy"), *p, []string{string(admv1.Equivalent), string(admv1.Exact)}))
		}
		// A webhook with side effects would act on dry-run requests too;
		// v1 only admits webhooks that are safe to call for them.
		noSideEffects := []string{string(admv1.SideEffectClassNone), string(admv1.SideEffectClassNoneOnDryRun)}
		switch se := h.sideEffects; {
		case se == nil:
			errs = append(errs, field.Required(hp.Child("sideEffects"), "must specify one of "+strings.Join(noSideEffects, ", ")))
		case *se != admv1.SideEffectClassNone && *se != admv1.SideEffectClassNoneOnDryRun:
			errs = append(errs, field.NotSupported(hp.Child("sideEffects"), *se, noSideEffects))
		}
		if t := *h.timeoutSeconds; t != nil && (*t < minWebhookTimeoutSeconds || *t > maxWebhookTimeoutSeconds) {
			errs = append(errs, field.Invalid(hp.Child("timeoutSeconds"), *t, "the timeout value must be between 1 and 30 seconds"))
		}
		if sel := *h.namespaceSelector; sel != nil {
			errs = append(errs, metav1validation.ValidateLabelSelector(sel, metav1validation.LabelSelectorValidationOptions{}, hp.Child("namespaceSelector"))...)
		}
		if sel := *h.objectSelector; sel != nil {
			errs = append(errs, metav1validation.ValidateLabelSelector(sel, metav1validation.LabelSelectorValidationOptions{}, hp.Child("objectSelector"))...)
		}
		if h.reinvocationPolicy != nil {
			if p := *h.reinvocationPolicy; p != nil && *p != admv1.NeverReinvocationPolicy && *p != admv1.IfNeededReinvocationPolicy {
				errs = append(errs, field.NotSupported(hp.Child("reinvocationPolicy"), *p, []string{
					string(admv1.IfNeededReinvocationPolicy), string(admv1.NeverReinvocationPolicy)}))
			}
		}
		errs = append(errs, validateAdmissionReviewVersions(h.admissionReviewVersions, hp.Child("admissionReviewVersions"))...)
		errs = append(errs, validateMatchConditions(h.matchConditions, false, hp.Child("matchConditions"))...)
	}
	return errs
}

func validateAdmissionReviewVersions(versions []string, fld *field.Path) field.ErrorList {
	if len(versions) == 0 {
		return field.ErrorList{field.Required(fld, "must specify one of "+strings.Join(acceptedAdmissionReviewVersions, ", "))}
	}
	var errs field.ErrorList
	seen := map[string]bool{}
	accepted := false
	for i, v := range versions {
		if seen[v] {
			errs = append(errs, field.Invalid(fld.Index(i), v, "duplicate version"))
			continue
		}
		seen[v] = true
		for _, msg := range validation.IsDNS1035Label(v) {
			errs = append(errs, field.Invalid(fld.Index(i), v, msg))
		}
		for _, a := range acceptedAdmissionReviewVersions {
			accepted = accepted || v == a
		}
	}
	if !accepted {
		errs = append(errs, field.Invalid(fld, versions, "must include at least one of "+strings.Join(acceptedAdmissionReviewVersions, ", ")))
	}
	return errs
}

// validateClientConfig checks where the API server would send the review:
// an https URL without credentials, query or fragment (it adds none and
// must not leak any), or an in-cluster Service.
func validateClientConfig(cc *admv1.WebhookClientConfig, fld *field.Path) field.ErrorList {
	switch {
	case (cc.URL == nil) == (cc.Service == nil):
		return field.ErrorList{field.Required(fld, "exactly one of url or service is required")}
	case cc.URL != nil:
		return validateWebhookURL(*cc.URL, fld.Child("url"))
	default:
		return validateWebhookService(cc.Service, fld.Child("service"))
	}
}

func validateWebhookURL(raw string, fld *field.Path) field.ErrorList {
	u, err := url.Parse(raw)
	if err != nil {
		return field.ErrorList{field.Invalid(fld, raw, "url must be a valid URL: "+err.Error())}
	}
	var errs field.ErrorList
	if u.Scheme != "https" {
		errs = append(errs, field.Invalid(fld, u.Scheme, "'https' is the only allowed URL scheme"))
	}
	if u.Host == "" {
		errs = append(errs, field.Invalid(fld, u.Host, "host must be specified"))
	}
	if u.User != nil {
		errs = append(errs, field.Invalid(fld, u.User.String(), "user information is not permitted in the URL"))
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		errs = append(errs, field.Invalid(fld, u.Fragment, "fragments are not permitted in the URL"))
	}
	if u.RawQuery != "" || u.ForceQuery {
		errs = append(errs, field.Invalid(fld, u.RawQuery, "query parameters are not permitted in the URL"))
	}
	return errs
}

func validateWebhookService(svc *admv1.ServiceReference, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if svc.Name == "" {
		errs = append(errs, field.Required(fld.Child("name"), "service name is required"))
	} else {
		for _, msg := range validation.IsDNS1123Label(svc.Name) {
			errs = append(errs, field.Invalid(fld.Child("name"), svc.Name, msg))
		}
	}
	if svc.Namespace == "" {
		errs = append(errs, field.Required(fld.Child("namespace"), "service namespace is required"))
	} else {
		for _, msg := range validation.IsDNS1123Label(svc.Namespace) {
			errs = append(errs, field.Invalid(fld.Child("namespace"), svc.Namespace, msg))
		}
	}
	if svc.Port != nil {
		for _, msg := range validation.IsValidPortNum(int(*svc.Port)) {
			errs = append(errs, field.Invalid(fld.Child("port"), *svc.Port, "port is not valid: "+msg))
		}
	}
	if p := svc.Path; p != nil && *p != "/" && *p != "" {
		pp := fld.Child("path")
		switch {
		case !strings.HasPrefix(*p, "/"):
			errs = append(errs, field.Invalid(pp, *p, "must start with a '/'"))
		case strings.Contains(*p, "//"):
			errs = append(errs, field.Invalid(pp, *p, "segment must not be empty ('//')"))
		case strings.ContainsAny(*p, " \t\r\n?#"):
			errs = append(errs, field.Invalid(pp, *p, "must be a plain URL path without whitespace, query or fragment"))
		}
	}
	return errs
}

// --- rules shared by webhooks and policies -------------------------------------------

var (
	webhookOperations = []string{string(admv1.OperationAll), string(admv1.Create), string(admv1.Update),
		string(admv1.Delete), string(admv1.Connect)}
	ruleScopes = []string{string(admv1.ClusterScope), string(admv1.NamespacedScope), string(admv1.AllScopes)}
)

func admContains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// admWildcardAlone rejects "*" next to other values: the other values would
// be dead, which usually means the author meant something else.
func admWildcardAlone(values []string, fld *field.Path, what string) field.ErrorList {
	if len(values) > 1 && admContains(values, "*") {
		return field.ErrorList{field.Invalid(fld, values, "if '*' is present, must not specify other "+what)}
	}
	return nil
}

func validateRuleWithOperations(r *admv1.RuleWithOperations, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	ops := make([]string, len(r.Operations))
	for i, op := range r.Operations {
		ops[i] = string(op)
	}
	if len(ops) == 0 {
		errs = append(errs, field.Required(fld.Child("operations"), ""))
	}
	errs = append(errs, admWildcardAlone(ops, fld.Child("operations"), "operations")...)
	for i, op := range ops {
		if !admContains(webhookOperations, op) {
			errs = append(errs, field.NotSupported(fld.Child("operations").Index(i), op, webhookOperations))
		}
	}
	return append(errs, validateRule(&r.Rule, fld)...)
}

func validateRule(r *admv1.Rule, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(r.APIGroups) == 0 {
		errs = append(errs, field.Required(fld.Child("apiGroups"), ""))
	}
	errs = append(errs, admWildcardAlone(r.APIGroups, fld.Child("apiGroups"), "API groups")...)
	if len(r.APIVersions) == 0 {
		errs = append(errs, field.Required(fld.Child("apiVersions"), ""))
	}
	errs = append(errs, admWildcardAlone(r.APIVersions, fld.Child("apiVersions"), "API versions")...)
	for i, v := range r.APIVersions {
		if v == "" {
			errs = append(errs, field.Required(fld.Child("apiVersions").Index(i), ""))
		}
	}
	errs = append(errs, validateRuleResources(r.Resources, fld.Child("resources"))...)
	if r.Scope != nil && !admContains(ruleScopes, string(*r.Scope)) {
		errs = append(errs, field.NotSupported(fld.Child("scope"), *r.Scope, ruleScopes))
	}
	return errs
}

// validateRuleResources accepts "pods", "pods/status", "pods/*", "*/scale",
// "*" and "*/*", but no entry another entry already covers.
func validateRuleResources(resources []string, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(resources) == 0 {
		errs = append(errs, field.Required(fld, ""))
	}
	anySub := map[string]bool{}      // "pods/*"
	anyResource := map[string]bool{} // "*/status"
	bare, bareWildcard, doubleWildcard := false, false, false
	for i, rs := range resources {
		if rs == "" {
			errs = append(errs, field.Required(fld.Index(i), ""))
			continue
		}
		res, sub, hasSub := strings.Cut(rs, "/")
		if !hasSub {
			if rs == "*" {
				bareWildcard = true
			} else {
				bare = true
			}
			continue
		}
		if rs == "*/*" {
			doubleWildcard = true
		}
		if anySub[res] {
			errs = append(errs, field.Invalid(fld.Index(i), rs, fmt.Sprintf("if '%s/*' is present, must not specify %s", res, rs)))
		}
		if anyResource[sub] {
			errs = append(errs, field.Invalid(fld.Index(i), rs, fmt.Sprintf("if '*/%s' is present, must not specify %s", sub, rs)))
		}
		if sub == "*" {
			anySub[res] = true
		}
		if res == "*" {
			anyResource[sub] = true
		}
	}
	if doubleWildcard && len(resources) > 1 {
		errs = append(errs, field.Invalid(fld, resources, "if '*/*' is present, must not specify other resources"))
	}
	if bareWildcard && bare {
		errs = append(errs, field.Invalid(fld, resources, "if '*' is present, must not specify other resources without subresources"))
	}
	return errs
}

func validateMatchConditions(conds []admv1.MatchCondition, params bool, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(conds) > maxMatchConditions {
		errs = append(errs, field.TooMany(fld, len(conds), maxMatchConditions))
	}
	names := map[string]bool{}
	for i, c := range conds {
		cp := fld.Index(i)
		if strings.TrimSpace(c.Expression) == "" {
			errs = append(errs, field.Required(cp.Child("expression"), ""))
		} else if err := compileMatchCondition(c, params, cp.Child("expression")); err != nil {
			errs = append(errs, err)
		}
		if c.Name == "" {
			errs = append(errs, field.Required(cp.Child("name"), ""))
			continue
		}
		for _, msg := range validation.IsQualifiedName(c.Name) {
			errs = append(errs, field.Invalid(cp.Child("name"), c.Name, msg))
		}
		// Names say which condition excluded a request; two with one name
		// would make that ambiguous.
		if names[c.Name] {
			errs = append(errs, field.Duplicate(cp.Child("name"), c.Name))
		}
		names[c.Name] = true
	}
	return errs
}

// defaultMatchResources fills what Kubernetes fills in a policy's
// matchConstraints and a binding's matchResources.
func defaultMatchResources(m *admv1.MatchResources) {
	if m == nil {
		return
	}
	if m.MatchPolicy == nil {
		p := admv1.Equivalent
		m.MatchPolicy = &p
	}
	if m.NamespaceSelector == nil {
		m.NamespaceSelector = &metav1.LabelSelector{}
	}
	if m.ObjectSelector == nil {
		m.ObjectSelector = &metav1.LabelSelector{}
	}
	for i := range m.ResourceRules {
		defaultRule(&m.ResourceRules[i].Rule)
	}
	for i := range m.ExcludeResourceRules {
		defaultRule(&m.ExcludeResourceRules[i].Rule)
	}
}

func validateMatchResources(m *admv1.MatchResources, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch p := m.MatchPolicy; {
	case p == nil:
		errs = append(errs, field.Required(fld.Child("matchPolicy"), ""))
	case *p != admv1.Exact && *p != admv1.Equivalent:
		errs = append(errs, field.NotSupported(fld.Child("matchPolicy"), *p, []string{string(admv1.Equivalent), string(admv1.Exact)}))
	}
	for _, sel := range []struct {
		name string
		s    *metav1.LabelSelector
	}{{"namespaceSelector", m.NamespaceSelector}, {"objectSelector", m.ObjectSelector}} {
		if sel.s == nil {
			errs = append(errs, field.Required(fld.Child(sel.name), ""))
			continue
		}
		errs = append(errs, metav1validation.ValidateLabelSelector(sel.s, metav1validation.LabelSelectorValidationOptions{}, fld.Child(sel.name))...)
	}
	for i := range m.ResourceRules {
		errs = append(errs, validateNamedRule(&m.ResourceRules[i], fld.Child("resourceRules").Index(i))...)
	}
	for i := range m.ExcludeResourceRules {
		errs = append(errs, validateNamedRule(&m.ExcludeResourceRules[i], fld.Child("excludeResourceRules").Index(i))...)
	}
	return errs
}

func validateNamedRule(r *admv1.NamedRuleWithOperations, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := map[string]bool{}
	for i, n := range r.ResourceNames {
		np := fld.Child("resourceNames").Index(i)
		for _, msg := range path.ValidatePathSegmentName(n, false) {
			errs = append(errs, field.Invalid(np, n, msg))
		}
		if seen[n] {
			errs = append(errs, field.Duplicate(np, n))
		}
		seen[n] = true
	}
	return append(errs, validateRuleWithOperations(&r.RuleWithOperations, fld)...)
}

// --- ValidatingAdmissionPolicy -------------------------------------------------------

const (
	maxAuditAnnotations                     = 20
	maxAuditAnnotationValueExpressionLength = 5 * 1024
)

var (
	celIdentifier            = regexp.MustCompile(`^[_a-zA-Z][_a-zA-Z0-9]*$`)
	validationFailureReasons = []string{string(metav1.StatusReasonForbidden), string(metav1.StatusReasonInvalid),
		string(metav1.StatusReasonRequestEntityTooLarge)}
)

func validatingAdmissionPolicyStrategy() Strategy {
	s := Strategy{
		Default: func(obj runtime.Object) {
			p := obj.(*admv1.ValidatingAdmissionPolicy)
			if p.Spec.FailurePolicy == nil {
				f := admv1.Fail
				p.Spec.FailurePolicy = &f
			}
			defaultMatchResources(p.Spec.MatchConstraints)
		},
		Validate: func(obj runtime.Object) field.ErrorList {
			return validateValidatingAdmissionPolicy(obj.(*admv1.ValidatingAdmissionPolicy))
		},
		ValidateUpdate: func(obj, _ runtime.Object) field.ErrorList {
			return validateValidatingAdmissionPolicy(obj.(*admv1.ValidatingAdmissionPolicy))
		},
		Columns: []metav1.TableColumnDefinition{
			wlNameColumn(),
			wlColumn("Validations", "integer", "Validations indicates the number of validation rules defined in this configuration"),
			wlColumn("ParamKind", "string", "ParamKind specifies the kind of resources used to parameterize this policy"),
			wlAgeColumn(),
		},
		Row: func(obj runtime.Object, now time.Time) []interface{} {
			p := obj.(*admv1.ValidatingAdmissionPolicy)
			paramKind := "<unset>"
			if pk := p.Spec.ParamKind; pk != nil {
				paramKind = pk.APIVersion + "/" + pk.Kind
			}
			return []interface{}{p.Name, int64(len(p.Spec.Validations)), paramKind, ageOf(p.CreationTimestamp, now)}
		},
	}
	return admGenerationTracking(s, func(obj runtime.Object) interface{} { return obj.(*admv1.ValidatingAdmissionPolicy).Spec })
}

func validateValidatingAdmissionPolicy(p *admv1.ValidatingAdmissionPolicy) field.ErrorList {
	errs := wlValidateMeta(&p.ObjectMeta, false, apivalidation.NameIsDNSSubdomain)
	spec := &p.Spec
	sp := field.NewPath("spec")
	switch f := spec.FailurePolicy; {
	case f == nil:
		errs = append(errs, field.Required(sp.Child("failurePolicy"), ""))
	case *f != admv1.Fail && *f != admv1.Ignore:
		errs = append(errs, field.NotSupported(sp.Child("failurePolicy"), *f, []string{string(admv1.Fail), string(admv1.Ignore)}))
	}
	if spec.ParamKind != nil {
		errs = append(errs, validateParamKind(spec.ParamKind, sp.Child("paramKind"))...)
	}
	// A policy that matches nothing would never run; Kubernetes requires
	// the author to say what it is for.
	if spec.MatchConstraints == nil {
		errs = append(errs, field.Required(sp.Child("matchConstraints"), ""))
	} else {
		mp := sp.Child("matchConstraints")
		errs = append(errs, validateMatchResources(spec.MatchConstraints, mp)...)
		if len(spec.MatchConstraints.ResourceRules) == 0 {
			errs = append(errs, field.Required(mp.Child("resourceRules"), ""))
		}
	}
	errs = append(errs, validateMatchConditions(spec.MatchConditions, true, sp.Child("matchConditions"))...)
	for i, v := range spec.Variables {
		vp := sp.Child("variables").Index(i)
		if strings.TrimSpace(v.Name) == "" {
			errs = append(errs, field.Required(vp.Child("name"), "name is not specified"))
		} else if !celIdentifier.MatchString(v.Name) {
			errs = append(errs, field.Invalid(vp.Child("name"), v.Name, "name is not a valid CEL identifier"))
		}
		if strings.TrimSpace(v.Expression) == "" {
			errs = append(errs, field.Required(vp.Child("expression"), "expression is not specified"))
		}
	}
	if len(spec.Validations) == 0 && len(spec.AuditAnnotations) == 0 {
		const msg = "validations or auditAnnotations must contain at least one item"
		errs = append(errs, field.Required(sp.Child("validations"), msg), field.Required(sp.Child("auditAnnotations"), msg))
	}
	for i, v := range spec.Validations {
		errs = append(errs, validatePolicyValidation(&v, sp.Child("validations").Index(i))...)
	}
	errs = append(errs, validateAuditAnnotations(p.Name, spec.AuditAnnotations, sp.Child("auditAnnotations"))...)
	stp := field.NewPath("status")
	errs = append(errs, metav1validation.ValidateConditions(p.Status.Conditions, stp.Child("conditions"))...)
	if tc := p.Status.TypeChecking; tc != nil {
		for i, w := range tc.ExpressionWarnings {
			if w.FieldRef == "" {
				errs = append(errs, field.Required(stp.Child("typeChecking", "expressionWarnings").Index(i).Child("fieldRef"), ""))
			}
		}
	}
	return errs
}

func validateParamKind(pk *admv1.ParamKind, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	ap := fld.Child("apiVersion")
	if pk.APIVersion == "" {
		errs = append(errs, field.Required(ap, ""))
	} else if strings.Count(pk.APIVersion, "/") > 1 {
		errs = append(errs, field.Invalid(ap, pk.APIVersion, "unexpected GroupVersion string: "+pk.APIVersion))
	} else {
		group, version, ok := strings.Cut(pk.APIVersion, "/")
		if !ok {
			group, version = "", pk.APIVersion
		}
		if group != "" {
			if msgs := validation.IsDNS1123Subdomain(group); len(msgs) > 0 {
				errs = append(errs, field.Invalid(ap, group, strings.Join(msgs, ",")))
			}
		}
		if version == "" {
			errs = append(errs, field.Invalid(ap, pk.APIVersion, "version must be specified"))
		} else if msgs := validation.IsDNS1035Label(version); len(msgs) > 0 {
			errs = append(errs, field.Invalid(ap, version, strings.Join(msgs, ",")))
		}
	}
	if pk.Kind == "" {
		errs = append(errs, field.Required(fld.Child("kind"), ""))
	} else if msgs := validation.IsDNS1035Label(strings.ToLower(pk.Kind)); len(msgs) > 0 {
		errs = append(errs, field.Invalid(fld.Child("kind"), pk.Kind, "may have mixed case, but should otherwise match: "+strings.Join(msgs, ",")))
	}
	return errs
}

func validatePolicyValidation(v *admv1.Validation, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if strings.TrimSpace(v.Expression) == "" {
		errs = append(errs, field.Required(fld.Child("expression"), "expression is not specified"))
	}
	if v.MessageExpression != "" && strings.TrimSpace(v.MessageExpression) == "" {
		errs = append(errs, field.Invalid(fld.Child("messageExpression"), v.MessageExpression, "must be non-empty if specified"))
	}
	// The message becomes an HTTP warning header and a Status message;
	// neither can carry a line break.
	msg := strings.TrimSpace(v.Message)
	switch {
	case v.Message != "" && msg == "":
		errs = append(errs, field.Invalid(fld.Child("message"), v.Message, "message must be non-empty if specified"))
	case strings.ContainsAny(msg, "\r\n"):
		errs = append(errs, field.Invalid(fld.Child("message"), v.Message, "message must not contain line breaks"))
	}
	if v.Reason != nil && !admContains(validationFailureReasons, string(*v.Reason)) {
		errs = append(errs, field.NotSupported(fld.Child("reason"), *v.Reason, validationFailureReasons))
	}
	return errs
}

func validateAuditAnnotations(policyName string, annotations []admv1.AuditAnnotation, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(annotations) > maxAuditAnnotations {
		errs = append(errs, field.Invalid(fld, annotations, fmt.Sprintf("must not have more than %d auditAnnotations", maxAuditAnnotations)))
	}
	keys := map[string]bool{}
	for i, a := range annotations {
		ap := fld.Index(i)
		// The audit event carries the annotation as "<policy>/<key>", so
		// that whole string must be a qualified name.
		if policyName == "" {
			errs = append(errs, field.Invalid(ap.Child("key"), a.Key, "requires metadata.name be non-empty"))
		} else {
			for _, msg := range validation.IsQualifiedName(policyName + "/" + a.Key) {
				errs = append(errs, field.Invalid(ap.Child("key"), policyName+"/"+a.Key, msg))
			}
		}
		if keys[a.Key] {
			errs = append(errs, field.Duplicate(ap.Child("key"), a.Key))
		}
		keys[a.Key] = true
		switch ve := strings.TrimSpace(a.ValueExpression); {
		case ve == "":
			errs = append(errs, field.Required(ap.Child("valueExpression"), "valueExpression is not specified"))
		case len(ve) > maxAuditAnnotationValueExpressionLength:
			errs = append(errs, field.Required(ap.Child("valueExpression"), fmt.Sprintf("must not exceed %d bytes in length", maxAuditAnnotationValueExpressionLength)))
		}
	}
	return errs
}

// --- ValidatingAdmissionPolicyBinding ----------------------------------------------

func validatingAdmissionPolicyBindingStrategy() Strategy {
	s := Strategy{
		Default: func(obj runtime.Object) {
			defaultMatchResources(obj.(*admv1.ValidatingAdmissionPolicyBinding).Spec.MatchResources)
		},
		Validate: func(obj runtime.Object) field.ErrorList {
			return validateValidatingAdmissionPolicyBinding(obj.(*admv1.ValidatingAdmissionPolicyBinding))
		},
		ValidateUpdate: func(obj, _ runtime.Object) field.ErrorList {
			return validateValidatingAdmissionPolicyBinding(obj.(*admv1.ValidatingAdmissionPolicyBinding))
		},
		Columns: []metav1.TableColumnDefinition{
			wlNameColumn(),
			wlColumn("PolicyName", "string", "PolicyName indicates the policy definition which the policy binding binded to"),
			wlColumn("ParamRef", "string", "ParamRef indicates the param resource which sets the configration param"),
			wlAgeColumn(),
		},
		Row: func(obj runtime.Object, now time.Time) []interface{} {
			b := obj.(*admv1.ValidatingAdmissionPolicyBinding)
			return []interface{}{b.Name, b.Spec.PolicyName, paramRefCell(b.Spec.ParamRef), ageOf(b.CreationTimestamp, now)}
		},
	}
	return admGenerationTracking(s, func(obj runtime.Object) interface{} { return obj.(*admv1.ValidatingAdmissionPolicyBinding).Spec })
}

// paramRefCell shows a binding's parameter as kubectl does. A name without
// a namespace shows as "*/name": the binding alone cannot tell whether the
// parameter kind is cluster-scoped or taken from each request's namespace.
func paramRefCell(pr *admv1.ParamRef) string {
	switch {
	case pr == nil:
		return "<unset>"
	case pr.Name != "" && pr.Namespace != "":
		return pr.Namespace + "/" + pr.Name
	case pr.Name != "":
		return "*/" + pr.Name
	case pr.Selector != nil:
		return pr.Selector.String()
	}
	return "<unset>"
}

func validateValidatingAdmissionPolicyBinding(b *admv1.ValidatingAdmissionPolicyBinding) field.ErrorList {
	errs := wlValidateMeta(&b.ObjectMeta, false, apivalidation.NameIsDNSSubdomain)
	sp := field.NewPath("spec")
	if b.Spec.PolicyName == "" {
		errs = append(errs, field.Required(sp.Child("policyName"), ""))
	} else {
		for _, msg := range apivalidation.NameIsDNSSubdomain(b.Spec.PolicyName, false) {
			errs = append(errs, field.Invalid(sp.Child("policyName"), b.Spec.PolicyName, msg))
		}
	}
	if pr := b.Spec.ParamRef; pr != nil {
		errs = append(errs, validateParamRef(pr, sp.Child("paramRef"))...)
	}
	if m := b.Spec.MatchResources; m != nil {
		errs = append(errs, validateMatchResources(m, sp.Child("matchResources"))...)
	}
	return append(errs, validateValidationActions(b.Spec.ValidationActions, sp.Child("validationActions"))...)
}

func validateParamRef(pr *admv1.ParamRef, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if pr.Name != "" {
		for _, msg := range path.ValidatePathSegmentName(pr.Name, false) {
			errs = append(errs, field.Invalid(fld.Child("name"), pr.Name, msg))
		}
	}
	if pr.Selector != nil {
		errs = append(errs, metav1validation.ValidateLabelSelector(pr.Selector, metav1validation.LabelSelectorValidationOptions{}, fld.Child("selector"))...)
	}
	switch {
	case pr.Name != "" && pr.Selector != nil:
		errs = append(errs, field.Forbidden(fld.Child("name"), "name and selector are mutually exclusive"),
			field.Forbidden(fld.Child("selector"), "name and selector are mutually exclusive"))
	case pr.Name == "" && pr.Selector == nil:
		errs = append(errs, field.Required(fld, "one of name or selector must be specified"))
	}
	actions := []string{string(admv1.DenyAction), string(admv1.AllowAction)}
	switch a := pr.ParameterNotFoundAction; {
	case a == nil || *a == "":
		errs = append(errs, field.Required(fld.Child("parameterNotFoundAction"), ""))
	case !admContains(actions, string(*a)):
		errs = append(errs, field.NotSupported(fld.Child("parameterNotFoundAction"), *a, actions))
	}
	return errs
}

var validationActions = []string{string(admv1.Audit), string(admv1.Deny), string(admv1.Warn)}

func validateValidationActions(actions []admv1.ValidationAction, fld *field.Path) field.ErrorList {
	if len(actions) == 0 {
		return field.ErrorList{field.Required(fld, "at least one validation action is required")}
	}
	var errs field.ErrorList
	seen := map[admv1.ValidationAction]bool{}
	for i, a := range actions {
		if !admContains(validationActions, string(a)) {
			errs = append(errs, field.NotSupported(fld.Index(i), a, validationActions))
		}
		if seen[a] {
			errs = append(errs, field.Duplicate(fld.Index(i), a))
		}
		seen[a] = true
	}
	// Deny already reports the failure in the response; a warning header
	// repeating it says nothing new.
	if seen[admv1.Deny] && seen[admv1.Warn] {
		errs = append(errs, field.Invalid(fld, actions, "must not contain both Deny and Warn (repeating the same validation failure information in the API response and headers serves no purpose)"))
	}
	return errs
}

// --- FlowSchema --------------------------------------------------------------------

const defaultMatchingPrecedence int32 = 1000

var (
	flowDistinguisherMethods = []string{string(flowcontrolv1.FlowDistinguisherMethodByNamespaceType),
		string(flowcontrolv1.FlowDistinguisherMethodByUserType)}
	flowSubjectKinds = []string{string(flowcontrolv1.SubjectKindGroup), string(flowcontrolv1.SubjectKindServiceAccount),
		string(flowcontrolv1.SubjectKindUser)}
	flowVerbs = []string{"create", "delete", "deletecollection", "get", "list", "patch", "proxy", "update", "watch"}
)

func flowSchemaStrategy() Strategy {
	s := Strategy{
		Default: func(obj runtime.Object) {
			fs := obj.(*flowcontrolv1.FlowSchema)
			if fs.Spec.MatchingPrecedence == 0 {
				fs.Spec.MatchingPrecedence = defaultMatchingPrecedence
			}
		},
		Validate: func(obj runtime.Object) field.ErrorList {
			return validateFlowSchema(obj.(*flowcontrolv1.FlowSchema))
		},
		ValidateUpdate: func(obj, _ runtime.Object) field.ErrorList {
			return validateFlowSchema(obj.(*flowcontrolv1.FlowSchema))
		},
		Columns: []metav1.TableColumnDefinition{
			wlNameColumn(),
			wlColumn("PriorityLevel", "string", flowcontrolv1.PriorityLevelConfigurationReference{}.SwaggerDoc()["name"]),
			wlColumn("MatchingPrecedence", "string", flowcontrolv1.FlowSchemaSpec{}.SwaggerDoc()["matchingPrecedence"]),
			wlColumn("DistinguisherMethod", "string", flowcontrolv1.FlowSchemaSpec{}.SwaggerDoc()["distinguisherMethod"]),
			wlAgeColumn(),
			wlColumn("MissingPL", "string", "references a broken or non-existent PriorityLevelConfiguration"),
		},
		Row: func(obj runtime.Object, now time.Time) []interface{} {
			fs := obj.(*flowcontrolv1.FlowSchema)
			method := "<none>"
			if m := fs.Spec.DistinguisherMethod; m != nil {
				method = string(m.Type)
			}
			// "?" until the flowcontrol controller has said whether the
			// priority level exists.
			missing := "?"
			for _, c := range fs.Status.Conditions {
				if c.Type == flowcontrolv1.FlowSchemaConditionDangling {
					missing = string(c.Status)
					break
				}
			}
			return []interface{}{fs.Name, fs.Spec.PriorityLevelConfiguration.Name, int64(fs.Spec.MatchingPrecedence),
				method, ageOf(fs.CreationTimestamp, now), missing}
		},
	}
	return admGenerationTracking(s, func(obj runtime.Object) interface{} { return obj.(*flowcontrolv1.FlowSchema).Spec })
}

func validateFlowSchema(fs *flowcontrolv1.FlowSchema) field.ErrorList {
	errs := wlValidateMeta(&fs.ObjectMeta, false, apivalidation.NameIsDNSSubdomain)
	sp := field.NewPath("spec")
	pp := sp.Child("matchingPrecedence")
	switch mp := fs.Spec.MatchingPrecedence; {
	case mp <= 0:
		errs = append(errs, field.Invalid(pp, mp, "must be a positive value"))
	case mp > flowcontrolv1.FlowSchemaMaxMatchingPrecedence:
		errs = append(errs, field.Invalid(pp, mp, fmt.Sprintf("must not be greater than %d", flowcontrolv1.FlowSchemaMaxMatchingPrecedence)))
	case mp == 1 && fs.Name != flowcontrolv1.FlowSchemaNameExempt:
		// Precedence 1 is reserved so that nothing can be matched before
		// the exempt schema that keeps the cluster's own traffic flowing.
		errs = append(errs, field.Invalid(pp, mp, "only the schema named 'exempt' may have matchingPrecedence 1"))
	}
	if m := fs.Spec.DistinguisherMethod; m != nil && !admContains(flowDistinguisherMethods, string(m.Type)) {
		errs = append(errs, field.NotSupported(sp.Child("distinguisherMethod", "type"), m.Type, flowDistinguisherMethods))
	}
	plp := sp.Child("priorityLevelConfiguration", "name")
	if pl := fs.Spec.PriorityLevelConfiguration.Name; pl == "" {
		errs = append(errs, field.Required(plp, "must reference a priority level"))
	} else {
		for _, msg := range apivalidation.NameIsDNSSubdomain(pl, false) {
			errs = append(errs, field.Invalid(plp, pl, msg))
		}
	}
	for i := range fs.Spec.Rules {
		errs = append(errs, validateFlowRules(&fs.Spec.Rules[i], sp.Child("rules").Index(i))...)
	}
	errs = append(errs, validateFlowConditionTypes(len(fs.Status.Conditions), func(i int) string {
		return string(fs.Status.Conditions[i].Type)
	})...)
	return errs
}

// validateFlowConditionTypes requires each status condition to have a type
// of its own: the conditions are merged by type in patches.
func validateFlowConditionTypes(n int, typeOf func(int) string) field.ErrorList {
	var errs field.ErrorList
	seen := map[string]bool{}
	for i := 0; i < n; i++ {
		tp := field.NewPath("status", "conditions").Index(i).Child("type")
		t := typeOf(i)
		if t == "" {
			errs = append(errs, field.Required(tp, "must not be empty"))
		}
		if seen[t] {
			errs = append(errs, field.Duplicate(tp, t))
		}
		seen[t] = true
	}
	return errs
}

func validateFlowRules(r *flowcontrolv1.PolicyRulesWithSubjects, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(r.Subjects) == 0 {
		errs = append(errs, field.Required(fld.Child("subjects"), "subjects must contain at least one value"))
	}
	for i := range r.Subjects {
		errs = append(errs, validateFlowSubject(&r.Subjects[i], fld.Child("subjects").Index(i))...)
	}
	if len(r.ResourceRules) == 0 && len(r.NonResourceRules) == 0 {
		errs = append(errs, field.Required(fld, "at least one of resourceRules and nonResourceRules has to be non-empty"))
	}
	for i, rr := range r.ResourceRules {
		errs = append(errs, validateFlowResourceRule(&rr, fld.Child("resourceRules").Index(i))...)
	}
	for i, nr := range r.NonResourceRules {
		errs = append(errs, validateFlowNonResourceRule(&nr, fld.Child("nonResourceRules").Index(i))...)
	}
	return errs
}

// validateFlowSubject requires the member that matches the kind and nothing
// else, so a subject cannot read as one kind and match as another.
func validateFlowSubject(s *flowcontrolv1.Subject, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	forbidOthers := func(keep string) {
		if keep != "user" && s.User != nil {
			errs = append(errs, field.Forbidden(fld.Child("user"), "user is forbidden when subject kind is not 'User'"))
		}
		if keep != "group" && s.Group != nil {
			errs = append(errs, field.Forbidden(fld.Child("group"), "group is forbidden when subject kind is not 'Group'"))
		}
		if keep != "serviceAccount" && s.ServiceAccount != nil {
			errs = append(errs, field.Forbidden(fld.Child("serviceAccount"), "serviceAccount is forbidden when subject kind is not 'ServiceAccount'"))
		}
	}
	switch s.Kind {
	case flowcontrolv1.SubjectKindUser:
		forbidOthers("user")
		if s.User == nil {
			errs = append(errs, field.Required(fld.Child("user"), "user is required when subject kind is 'User'"))
		} else if s.User.Name == "" {
			errs = append(errs, field.Required(fld.Child("user", "name"), ""))
		}
	case flowcontrolv1.SubjectKindGroup:
		forbidOthers("group")
		if s.Group == nil {
			errs = append(errs, field.Required(fld.Child("group"), "group is required when subject kind is 'Group'"))
		} else if s.Group.Name == "" {
			errs = append(errs, field.Required(fld.Child("group", "name"), ""))
		}
	case flowcontrolv1.SubjectKindServiceAccount:
		forbidOthers("serviceAccount")
		sa := s.ServiceAccount
		sap := fld.Child("serviceAccount")
		if sa == nil {
			errs = append(errs, field.Required(sap, "serviceAccount is required when subject kind is 'ServiceAccount'"))
			break
		}
		if sa.Name == "" {
			errs = append(errs, field.Required(sap.Child("name"), ""))
		} else if sa.Name != flowcontrolv1.NameAll {
			for _, msg := range apivalidation.ValidateServiceAccountName(sa.Name, false) {
				errs = append(errs, field.Invalid(sap.Child("name"), sa.Name, msg))
			}
		}
		if sa.Namespace == "" {
			errs = append(errs, field.Required(sap.Child("namespace"), "must specify namespace for service account"))
		} else {
			for _, msg := range apivalidation.ValidateNamespaceName(sa.Namespace, false) {
				errs = append(errs, field.Invalid(sap.Child("namespace"), sa.Namespace, msg))
			}
		}
	default:
		errs = append(errs, field.NotSupported(fld.Child("kind"), s.Kind, flowSubjectKinds))
	}
	return errs
}

func validateFlowVerbs(verbs []string, fld *field.Path) field.ErrorList {
	switch {
	case len(verbs) == 0:
		return field.ErrorList{field.Required(fld, "verbs must contain at least one value")}
	case admContains(verbs, flowcontrolv1.VerbAll):
		return admWildcardAlone(verbs, fld, "verbs")
	}
	for _, v := range verbs {
		if !admContains(flowVerbs, v) {
			return field.ErrorList{field.NotSupported(fld, verbs, flowVerbs)}
		}
	}
	return nil
}

func validateFlowResourceRule(r *flowcontrolv1.ResourcePolicyRule, fld *field.Path) field.ErrorList {
	errs := validateFlowVerbs(r.Verbs, fld.Child("verbs"))
	if len(r.APIGroups) == 0 {
		errs = append(errs, field.Required(fld.Child("apiGroups"), "resource rules must supply at least one api group"))
	}
	errs = append(errs, admWildcardAlone(r.APIGroups, fld.Child("apiGroups"), "api groups")...)
	if len(r.Resources) == 0 {
		errs = append(errs, field.Required(fld.Child("resources"), "resource rules must supply at least one resource"))
	}
	errs = append(errs, admWildcardAlone(r.Resources, fld.Child("resources"), "resources")...)
	np := fld.Child("namespaces")
	switch {
	case len(r.Namespaces) == 0 && !r.ClusterScope:
		errs = append(errs, field.Required(np, "resource rules that are not cluster scoped must supply at least one namespace"))
	case admContains(r.Namespaces, flowcontrolv1.NamespaceEvery):
		errs = append(errs, admWildcardAlone(r.Namespaces, np, "namespaces")...)
	default:
		for i, ns := range r.Namespaces {
			for _, msg := range apivalidation.ValidateNamespaceName(ns, false) {
				errs = append(errs, field.Invalid(np.Index(i), ns, "each member of this list must be '*' or a DNS-1123 label; "+msg))
			}
		}
	}
	return errs
}

func validateFlowNonResourceRule(r *flowcontrolv1.NonResourcePolicyRule, fld *field.Path) field.ErrorList {
	errs := validateFlowVerbs(r.Verbs, fld.Child("verbs"))
	up := fld.Child("nonResourceURLs")
	switch {
	case len(r.NonResourceURLs) == 0:
		errs = append(errs, field.Required(up, "nonResourceURLs must contain at least one value"))
	case admContains(r.NonResourceURLs, flowcontrolv1.NonResourceAll):
		errs = append(errs, admWildcardAlone(r.NonResourceURLs, up, "non-resource URLs")...)
	default:
		for i, u := range r.NonResourceURLs {
			if msg := nonResourceURLProblem(u); msg != "" {
				errs = append(errs, field.Invalid(up.Index(i), u, msg))
			}
		}
	}
	return errs
}

// nonResourceURLProblem explains why u cannot match a request path, or
// returns "". A trailing "/*" is the only wildcard flowcontrol matches.
func nonResourceURLProblem(u string) string {
	switch {
	case u == "":
		return "must not be empty"
	case u == "/":
		return ""
	case !strings.HasPrefix(u, "/"):
		return "must start with slash"
	case strings.Contains(u, " "):
		return "must not contain white-space"
	case strings.Contains(u, "//"):
		return "must not contain double slash"
	}
	if n := strings.Count(u, "*"); n > 1 || (n == 1 && !strings.HasSuffix(u, "/*")) {
		return "wildcard can only do suffix matching"
	}
	return ""
}

// --- PriorityLevelConfiguration -----------------------------------------------------

const (
	defaultNominalConcurrencyShares int32 = 30
	defaultQueues                   int32 = 64
	defaultHandSize                 int32 = 8
	defaultQueueLengthLimit         int32 = 50
	maxQueues                       int32 = 10 * 1000 * 1000
	// maxShuffleShardingBits is how much of a 64-bit flow hash shuffle
	// sharding may consume dealing a hand; more would repeat hands.
	maxShuffleShardingBits = 60
)

var (
	priorityLevelTypes = []string{string(flowcontrolv1.PriorityLevelEnablementExempt), string(flowcontrolv1.PriorityLevelEnablementLimited)}
	limitResponseTypes = []string{string(flowcontrolv1.LimitResponseTypeQueue), string(flowcontrolv1.LimitResponseTypeReject)}
)

func priorityLevelConfigurationStrategy() Strategy {
	s := Strategy{
		Default: func(obj runtime.Object) { defaultPriorityLevel(&obj.(*flowcontrolv1.PriorityLevelConfiguration).Spec) },
		Validate: func(obj runtime.Object) field.ErrorList {
			return validatePriorityLevel(obj.(*flowcontrolv1.PriorityLevelConfiguration))
		},
		ValidateUpdate: func(obj, _ runtime.Object) field.ErrorList {
			return validatePriorityLevel(obj.(*flowcontrolv1.PriorityLevelConfiguration))
		},
		Columns: []metav1.TableColumnDefinition{
			wlNameColumn(),
			wlColumn("Type", "string", flowcontrolv1.PriorityLevelConfigurationSpec{}.SwaggerDoc()["type"]),
			wlColumn("NominalConcurrencyShares", "string", flowcontrolv1.LimitedPriorityLevelConfiguration{}.SwaggerDoc()["nominalConcurrencyShares"]),
			wlColumn("Queues", "string", flowcontrolv1.QueuingConfiguration{}.SwaggerDoc()["queues"]),
			wlColumn("HandSize", "string", flowcontrolv1.QueuingConfiguration{}.SwaggerDoc()["handSize"]),
			wlColumn("QueueLengthLimit", "string", flowcontrolv1.QueuingConfiguration{}.SwaggerDoc()["queueLengthLimit"]),
			wlAgeColumn(),
		},
		Row: func(obj runtime.Object, now time.Time) []interface{} {
			pl := obj.(*flowcontrolv1.PriorityLevelConfiguration)
			var shares, queues, handSize, queueLength interface{} = "<none>", "<none>", "<none>", "<none>"
			if l := pl.Spec.Limited; l != nil {
				if l.NominalConcurrencyShares != nil {
					shares = int64(*l.NominalConcurrencyShares)
				}
				if q := l.LimitResponse.Queuing; q != nil {
					queues, handSize, queueLength = int64(q.Queues), int64(q.HandSize), int64(q.QueueLengthLimit)
				}
			}
			return []interface{}{pl.Name, string(pl.Spec.Type), shares, queues, handSize, queueLength, ageOf(pl.CreationTimestamp, now)}
		},
	}
	return admGenerationTracking(s, func(obj runtime.Object) interface{} {
		return obj.(*flowcontrolv1.PriorityLevelConfiguration).Spec
	})
}

// defaultPriorityLevel fills Kubernetes' v1 defaults. limitResponse.type
// has none: whether excess requests queue or fail at once is the author's
// call, and Kubernetes makes them make it.
func defaultPriorityLevel(spec *flowcontrolv1.PriorityLevelConfigurationSpec) {
	if l := spec.Limited; l != nil {
		if l.NominalConcurrencyShares == nil {
			n := defaultNominalConcurrencyShares
			l.NominalConcurrencyShares = &n
		}
		if l.LendablePercent == nil {
			l.LendablePercent = new(int32)
		}
		if q := l.LimitResponse.Queuing; q != nil {
			if q.Queues == 0 {
				q.Queues = defaultQueues
			}
			if q.HandSize == 0 {
				q.HandSize = defaultHandSize
			}
			if q.QueueLengthLimit == 0 {
				q.QueueLengthLimit = defaultQueueLengthLimit
			}
		}
	}
	if e := spec.Exempt; e != nil {
		if e.NominalConcurrencyShares == nil {
			e.NominalConcurrencyShares = new(int32)
		}
		if e.LendablePercent == nil {
			e.LendablePercent = new(int32)
		}
	}
}

func validatePriorityLevel(pl *flowcontrolv1.PriorityLevelConfiguration) field.ErrorList {
	errs := wlValidateMeta(&pl.ObjectMeta, false, apivalidation.NameIsDNSSubdomain)
	sp := field.NewPath("spec")
	spec := &pl.Spec
	// The exempt level is what keeps the cluster's own traffic unthrottled;
	// reserving the name for the type keeps the two from being confused.
	if (pl.Name == flowcontrolv1.PriorityLevelConfigurationNameExempt) != (spec.Type == flowcontrolv1.PriorityLevelEnablementExempt) {
		errs = append(errs, field.Invalid(sp.Child("type"), spec.Type, "type must be 'Exempt' if and only if name is 'exempt'"))
	}
	switch spec.Type {
	case flowcontrolv1.PriorityLevelEnablementExempt:
		if spec.Limited != nil {
			errs = append(errs, field.Forbidden(sp.Child("limited"), "must be nil if the type is not Limited"))
		}
		if e := spec.Exempt; e != nil {
			ep := sp.Child("exempt")
			errs = append(errs, wlNonNegativePtr(e.NominalConcurrencyShares, ep.Child("nominalConcurrencyShares"))...)
			errs = append(errs, validatePercent(e.LendablePercent, ep.Child("lendablePercent"))...)
		}
	case flowcontrolv1.PriorityLevelEnablementLimited:
		if spec.Exempt != nil {
			errs = append(errs, field.Forbidden(sp.Child("exempt"), "must be nil if the type is Limited"))
		}
		if spec.Limited == nil {
			errs = append(errs, field.Required(sp.Child("limited"), "must not be empty when type is Limited"))
		} else {
			errs = append(errs, validateLimitedPriorityLevel(spec.Limited, sp.Child("limited"))...)
		}
	default:
		errs = append(errs, field.NotSupported(sp.Child("type"), spec.Type, priorityLevelTypes))
	}
	errs = append(errs, validateFlowConditionTypes(len(pl.Status.Conditions), func(i int) string {
		return string(pl.Status.Conditions[i].Type)
	})...)
	return errs
}

func validatePercent(p *int32, fld *field.Path) field.ErrorList {
	if p != nil && (*p < 0 || *p > 100) {
		return field.ErrorList{field.Invalid(fld, *p, "must be between 0 and 100, inclusive")}
	}
	return nil
}

func validateLimitedPriorityLevel(l *flowcontrolv1.LimitedPriorityLevelConfiguration, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if n := l.NominalConcurrencyShares; n != nil && *n < 0 {
		errs = append(errs, field.Invalid(fld.Child("nominalConcurrencyShares"), *n, "must be a non-negative integer"))
	}
	errs = append(errs, validatePercent(l.LendablePercent, fld.Child("lendablePercent"))...)
	if b := l.BorrowingLimitPercent; b != nil && *b < 0 {
		errs = append(errs, field.Invalid(fld.Child("borrowingLimitPercent"), *b, "if specified, must be a non-negative integer"))
	}
	lp := fld.Child("limitResponse")
	lr := l.LimitResponse
	switch lr.Type {
	case flowcontrolv1.LimitResponseTypeReject:
		if lr.Queuing != nil {
			errs = append(errs, field.Forbidden(lp.Child("queuing"), "must be nil if limited.limitResponse.type is not Limited"))
		}
	case flowcontrolv1.LimitResponseTypeQueue:
		if lr.Queuing == nil {
			errs = append(errs, field.Required(lp.Child("queuing"), "must not be empty if limited.limitResponse.type is Limited"))
		} else {
			errs = append(errs, validateQueuing(lr.Queuing, lp.Child("queuing"))...)
		}
	default:
		errs = append(errs, field.NotSupported(lp.Child("type"), lr.Type, limitResponseTypes))
	}
	return errs
}

func validateQueuing(q *flowcontrolv1.QueuingConfiguration, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if q.QueueLengthLimit <= 0 {
		errs = append(errs, field.Invalid(fld.Child("queueLengthLimit"), q.QueueLengthLimit, "must be positive"))
	}
	switch {
	case q.Queues <= 0:
		errs = append(errs, field.Invalid(fld.Child("queues"), q.Queues, "must be positive"))
	case q.Queues > maxQueues:
		errs = append(errs, field.Invalid(fld.Child("queues"), q.Queues, fmt.Sprintf("must not be greater than %d", maxQueues)))
	}
	hp := fld.Child("handSize")
	switch {
	case q.HandSize <= 0:
		errs = append(errs, field.Invalid(hp, q.HandSize, "must be positive"))
	case q.HandSize > q.Queues:
		errs = append(errs, field.Invalid(hp, q.HandSize, fmt.Sprintf("should not be greater than queues (%d)", q.Queues)))
	case shuffleShardingBits(q.Queues, q.HandSize) > maxShuffleShardingBits:
		errs = append(errs, field.Invalid(hp, q.HandSize, fmt.Sprintf(
			"required entropy bits of deckSize %d and handSize %d should not be greater than %d", q.Queues, q.HandSize, maxShuffleShardingBits)))
	}
	return errs
}

// shuffleShardingBits is how many hash bits dealing handSize queues out of
// queues takes.
func shuffleShardingBits(queues, handSize int32) int {
	return int(math.Ceil(math.Log2(float64(queues)) * float64(handSize)))
}
