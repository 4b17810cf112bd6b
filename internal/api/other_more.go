package api

// The rest of the built-in API that users' manifests, Helm charts and the
// conformance suite expect to find: policy/v1 PodDisruptionBudgets,
// scheduling.k8s.io/v1 PriorityClasses, node.k8s.io/v1 RuntimeClasses,
// certificates.k8s.io/v1 CertificateSigningRequests, the CSI kinds of
// storage.k8s.io/v1 and apiregistration.k8s.io/v1 APIServices; and two
// second views of objects stored once: autoscaling/v1 HorizontalPodAutoscalers
// (kept as autoscaling/v2 ones) and events.k8s.io/v1 Events (kept as core
// Events), converted the way Kubernetes converts them so both views agree.
//
// Nothing here acts on these objects (PodDisruptionBudgets are computed by
// internal/controller/disruption and spent by the eviction subresource;
// there is no CSR signer or aggregation proxy). They are defaulted,
// validated and shown as Kubernetes does, so tools that create and read
// them get back what a real cluster would return.

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	nodev1 "k8s.io/api/node/v1"
	policyv1 "k8s.io/api/policy/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/conversion"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
)

var (
	podDisruptionBudgetsGVR = policyv1.SchemeGroupVersion.WithResource("poddisruptionbudgets")
	priorityClassesGVR      = schedulingv1.SchemeGroupVersion.WithResource("priorityclasses")
	runtimeClassesGVR       = nodev1.SchemeGroupVersion.WithResource("runtimeclasses")
	csrsGVR                 = certificatesv1.SchemeGroupVersion.WithResource("certificatesigningrequests")
	csiNodesGVR             = storagev1.SchemeGroupVersion.WithResource("csinodes")
	csiDriversGVR           = storagev1.SchemeGroupVersion.WithResource("csidrivers")
	volumeAttachmentsGVR    = storagev1.SchemeGroupVersion.WithResource("volumeattachments")
	csiStorageCapacitiesGVR = storagev1.SchemeGroupVersion.WithResource("csistoragecapacities")
	apiServicesGVR          = apiregistrationv1.SchemeGroupVersion.WithResource("apiservices")
	hpaV1GVR                = autoscalingv1.SchemeGroupVersion.WithResource("horizontalpodautoscalers")
	hpaV2GVR                = autoscalingv2.SchemeGroupVersion.WithResource("horizontalpodautoscalers")
	eventsV1GVR             = eventsv1.SchemeGroupVersion.WithResource("events")
	coreEventsGVR           = corev1.SchemeGroupVersion.WithResource("events")
)

// moreResources are the resources of this file. The autoscaling/v1 view is
// registered after autoscaling/v2 (DefaultResources lists v2 first), so v2
// stays the group's preferred version, as in Kubernetes.
func moreResources() []*Resource {
	return []*Resource{
		{GroupVersionResource: podDisruptionBudgetsGVR, Kind: "PodDisruptionBudget", Namespaced: true,
			ShortNames: []string{"pdb"}, Subresources: []Subresource{status()}},
		{GroupVersionResource: priorityClassesGVR, Kind: "PriorityClass", ShortNames: []string{"pc"}},
		{GroupVersionResource: runtimeClassesGVR, Kind: "RuntimeClass"},
		{GroupVersionResource: csrsGVR, Kind: "CertificateSigningRequest", ShortNames: []string{"csr"},
			Subresources: []Subresource{{Name: "approval", Verbs: verbsGetUpdate}, status()}},
		{GroupVersionResource: csiNodesGVR, Kind: "CSINode"},
		{GroupVersionResource: csiDriversGVR, Kind: "CSIDriver"},
		{GroupVersionResource: volumeAttachmentsGVR, Kind: "VolumeAttachment", Subresources: []Subresource{status()}},
		{GroupVersionResource: csiStorageCapacitiesGVR, Kind: "CSIStorageCapacity", Namespaced: true},
		{GroupVersionResource: apiServicesGVR, Kind: "APIService", Categories: []string{"api-extensions"},
			Subresources: []Subresource{status()}},
		{GroupVersionResource: hpaV1GVR, Kind: "HorizontalPodAutoscaler", Namespaced: true,
			ShortNames: []string{"hpa"}, Categories: []string{"all"}, Subresources: []Subresource{status()},
			StoredAs: &StoredAs{
				Resource: hpaV2GVR,
				Kind:     autoscalingv2.SchemeGroupVersion.WithKind("HorizontalPodAutoscaler"),
				ToStored: func(obj runtime.Object) (runtime.Object, error) {
					return HPAV1ToV2(obj.(*autoscalingv1.HorizontalPodAutoscaler)), nil
				},
				FromStored: func(obj runtime.Object) (runtime.Object, error) {
					return HPAV2ToV1(obj.(*autoscalingv2.HorizontalPodAutoscaler))
				},
			}},
		{GroupVersionResource: eventsV1GVR, Kind: "Event", Namespaced: true, ShortNames: []string{"ev"},
			StoredAs: &StoredAs{
				Resource:   coreEventsGVR,
				Kind:       corev1.SchemeGroupVersion.WithKind("Event"),
				ToStored:   func(obj runtime.Object) (runtime.Object, error) { return EventV1ToCore(obj.(*eventsv1.Event)), nil },
				FromStored: func(obj runtime.Object) (runtime.Object, error) { return CoreEventToV1(obj.(*corev1.Event)), nil },
			}},
	}
}

// addStoredAsConversions teaches the scheme the conversions behind the
// second views, for what converts objects between versions by the scheme:
// managedFields written through one view are carried to the other.
func addStoredAsConversions(s *runtime.Scheme) error {
	for _, c := range []struct {
		from, to interface{}
		convert  func(a, b interface{}) error
	}{
		{(*autoscalingv1.HorizontalPodAutoscaler)(nil), (*autoscalingv2.HorizontalPodAutoscaler)(nil), func(a, b interface{}) error {
			*b.(*autoscalingv2.HorizontalPodAutoscaler) = *HPAV1ToV2(a.(*autoscalingv1.HorizontalPodAutoscaler))
			return nil
		}},
		{(*autoscalingv2.HorizontalPodAutoscaler)(nil), (*autoscalingv1.HorizontalPodAutoscaler)(nil), func(a, b interface{}) error {
			out, err := HPAV2ToV1(a.(*autoscalingv2.HorizontalPodAutoscaler))
			if err != nil {
				return err
			}
			*b.(*autoscalingv1.HorizontalPodAutoscaler) = *out
			return nil
		}},
		{(*eventsv1.Event)(nil), (*corev1.Event)(nil), func(a, b interface{}) error {
			*b.(*corev1.Event) = *EventV1ToCore(a.(*eventsv1.Event))
			return nil
		}},
		{(*corev1.Event)(nil), (*eventsv1.Event)(nil), func(a, b interface{}) error {
			*b.(*eventsv1.Event) = *CoreEventToV1(a.(*corev1.Event))
			return nil
		}},
	} {
		convert := c.convert
		if err := s.AddConversionFunc(c.from, c.to, func(a, b interface{}, _ conversion.Scope) error { return convert(a, b) }); err != nil {
			return err
		}
	}
	return nil
}

func moreStrategies() map[schema.GroupVersionResource]Strategy {
	return map[schema.GroupVersionResource]Strategy{
		podDisruptionBudgetsGVR: podDisruptionBudgetStrategy(),
		priorityClassesGVR:      priorityClassStrategy(),
		runtimeClassesGVR:       runtimeClassStrategy(),
		csrsGVR:                 csrStrategy(),
		csiNodesGVR:             csiNodeStrategy(),
		csiDriversGVR:           csiDriverStrategy(),
		volumeAttachmentsGVR:    volumeAttachmentStrategy(),
		csiStorageCapacitiesGVR: csiStorageCapacityStrategy(),
		apiServicesGVR:          apiServiceStrategy(),
		hpaV1GVR:                hpaV1Strategy(),
		eventsV1GVR:             eventV1Strategy(),
	}
}

// --- PodDisruptionBudget ------------------------------------------------------------

var unhealthyPodEvictionPolicies = []string{string(policyv1.AlwaysAllow), string(policyv1.IfHealthyBudget)}

// podDisruptionBudgetStrategy has no defaults: policy/v1 defines none (an
// unset unhealthyPodEvictionPolicy already means IfHealthyBudget, and an
// unset selector selects nothing). The disruption controller compares
// status.observedGeneration with the generation, so changes to the spec
// count.
func podDisruptionBudgetStrategy() Strategy {
	validate := func(obj runtime.Object) field.ErrorList {
		return validatePodDisruptionBudget(obj.(*policyv1.PodDisruptionBudget))
	}
	s := Strategy{
		Validate:       validate,
		ValidateUpdate: func(obj, _ runtime.Object) field.ErrorList { return validate(obj) },
		Columns: []metav1.TableColumnDefinition{
			wlNameColumn(),
			wlColumn("Min Available", "string", "The minimum number of pods that must be available."),
			wlColumn("Max Unavailable", "string", "The maximum number of pods that may be unavailable."),
			wlColumn("Allowed Disruptions", "integer", "Calculated number of pods that may be disrupted at this time."),
			wlAgeColumn(),
		},
		Row: func(obj runtime.Object, now time.Time) []interface{} {
			p := obj.(*policyv1.PodDisruptionBudget)
			minAvailable, maxUnavailable := "N/A", "N/A"
			if p.Spec.MinAvailable != nil {
				minAvailable = p.Spec.MinAvailable.String()
			}
			if p.Spec.MaxUnavailable != nil {
				maxUnavailable = p.Spec.MaxUnavailable.String()
			}
			return []interface{}{p.Name, minAvailable, maxUnavailable, int64(p.Status.DisruptionsAllowed), ageOf(p.CreationTimestamp, now)}
		},
	}
	return admGenerationTracking(s, func(obj runtime.Object) interface{} {
		return obj.(*policyv1.PodDisruptionBudget).Spec
	})
}

func validatePodDisruptionBudget(p *policyv1.PodDisruptionBudget) field.ErrorList {
	errs := wlValidateMeta(&p.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	sp := field.NewPath("spec")
	// The two say the same thing from opposite ends; with both set the
	// disruption controller could not tell which one the owner meant.
	if p.Spec.MinAvailable != nil && p.Spec.MaxUnavailable != nil {
		errs = append(errs, field.Invalid(sp, p.Spec, "minAvailable and maxUnavailable cannot be both set"))
	}
	errs = append(errs, wlValidateIntOrPercent(p.Spec.MinAvailable, sp.Child("minAvailable"), true)...)
	errs = append(errs, wlValidateIntOrPercent(p.Spec.MaxUnavailable, sp.Child("maxUnavailable"), true)...)
	errs = append(errs, metav1validation.ValidateLabelSelector(p.Spec.Selector, metav1validation.LabelSelectorValidationOptions{}, sp.Child("selector"))...)
	if pol := p.Spec.UnhealthyPodEvictionPolicy; pol != nil && !admContains(unhealthyPodEvictionPolicies, string(*pol)) {
		errs = append(errs, field.NotSupported(sp.Child("unhealthyPodEvictionPolicy"), *pol, unhealthyPodEvictionPolicies))
	}
	st := field.NewPath("status")
	errs = append(errs, metav1validation.ValidateConditions(p.Status.Conditions, st.Child("conditions"))...)
	errs = append(errs, wlNonNegative(int64(p.Status.DisruptionsAllowed), st.Child("disruptionsAllowed"))...)
	errs = append(errs, wlNonNegative(int64(p.Status.CurrentHealthy), st.Child("currentHealthy"))...)
	errs = append(errs, wlNonNegative(int64(p.Status.DesiredHealthy), st.Child("desiredHealthy"))...)
	errs = append(errs, wlNonNegative(int64(p.Status.ExpectedPods), st.Child("expectedPods"))...)
	return errs
}

// --- PriorityClass ------------------------------------------------------------------

const (
	systemPriorityClassPrefix = "system-"
	// highestUserDefinablePriority keeps user classes below the system
	// ones, so no workload can preempt what keeps nodes and the cluster
	// running.
	highestUserDefinablePriority int32 = 1000000000
	systemCriticalPriority             = 2 * highestUserDefinablePriority
)

// SystemPriorityClasses are the two PriorityClasses every cluster has, with
// Kubernetes' names, values and descriptions: critical add-ons name them in
// priorityClassName and fail to schedule when they are missing.
func SystemPriorityClasses() []*schedulingv1.PriorityClass {
	class := func(name string, value int32, desc string) *schedulingv1.PriorityClass {
		preempt := corev1.PreemptLowerPriority
		return &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Value: value,
			Description: desc, PreemptionPolicy: &preempt}
	}
	return []*schedulingv1.PriorityClass{
		class("system-node-critical", systemCriticalPriority+1000,
			"Used for system critical pods that must not be moved from their current node."),
		class("system-cluster-critical", systemCriticalPriority,
			"Used for system critical pods that must run in the cluster, but can be moved to another node if necessary."),
	}
}

var preemptionPolicies = []corev1.PreemptionPolicy{corev1.PreemptLowerPriority, corev1.PreemptNever}

func priorityClassStrategy() Strategy {
	doc := schedulingv1.PriorityClass{}.SwaggerDoc()
	return Strategy{
		Default: func(obj runtime.Object) {
			pc := obj.(*schedulingv1.PriorityClass)
			if pc.PreemptionPolicy == nil {
				p := corev1.PreemptLowerPriority
				pc.PreemptionPolicy = &p
			}
		},
		Validate: func(obj runtime.Object) field.ErrorList {
			return validatePriorityClass(obj.(*schedulingv1.PriorityClass))
		},
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
			pc, oldPC := obj.(*schedulingv1.PriorityClass), old.(*schedulingv1.PriorityClass)
			errs := validatePriorityClass(pc)
			// Pods copy the value when they are created; changing it would
			// leave running pods with a priority their class no longer has.
			if pc.Value != oldPC.Value {
				errs = append(errs, field.Forbidden(field.NewPath("value"), "may not be changed in an update."))
			}
			return append(errs, wlImmutable(pc.PreemptionPolicy, oldPC.PreemptionPolicy, field.NewPath("preemptionPolicy"))...)
		},
		Columns: []metav1.TableColumnDefinition{
			wlNameColumn(),
			wlColumn("Value", "integer", doc["value"]),
			wlColumn("Global-Default", "boolean", doc["globalDefault"]),
			wlAgeColumn(),
			wlColumn("PreemptionPolicy", "string", doc["preemptionPolicy"]),
		},
		Row: func(obj runtime.Object, now time.Time) []interface{} {
			pc := obj.(*schedulingv1.PriorityClass)
			policy := ""
			if pc.PreemptionPolicy != nil {
				policy = string(*pc.PreemptionPolicy)
			}
			return []interface{}{pc.Name, int64(pc.Value), pc.GlobalDefault, ageOf(pc.CreationTimestamp, now), policy}
		},
	}
}

func validatePriorityClass(pc *schedulingv1.PriorityClass) field.ErrorList {
	errs := wlValidateMeta(&pc.ObjectMeta, false, apivalidation.NameIsDNSSubdomain)
	if strings.HasPrefix(pc.Name, systemPriorityClassPrefix) {
		if msg := systemPriorityClassMismatch(pc); msg != "" {
			errs = append(errs, field.Forbidden(field.NewPath("metadata", "name"),
				"priority class names with '"+systemPriorityClassPrefix+"' prefix are reserved for system use only. error: "+msg))
		}
	} else if pc.Value > highestUserDefinablePriority {
		errs = append(errs, field.Forbidden(field.NewPath("value"),
			fmt.Sprintf("maximum allowed value of a user defined priority is %v", highestUserDefinablePriority)))
	}
	if p := pc.PreemptionPolicy; p != nil {
		errs = append(errs, validateEnum(*p, preemptionPolicies, field.NewPath("preemptionPolicy"))...)
	}
	return errs
}

// systemPriorityClassMismatch says why pc is not exactly one of the
// built-in classes, or returns "".
func systemPriorityClassMismatch(pc *schedulingv1.PriorityClass) string {
	for _, sys := range SystemPriorityClasses() {
		if sys.Name != pc.Name {
			continue
		}
		if sys.Value != pc.Value {
			return fmt.Sprintf("value of %v PriorityClass must be %v", sys.Name, sys.Value)
		}
		if sys.GlobalDefault != pc.GlobalDefault {
			return fmt.Sprintf("globalDefault of %v PriorityClass must be %v", sys.Name, sys.GlobalDefault)
		}
		return ""
	}
	return pc.Name + " is not a known system priority class"
}

// --- RuntimeClass -------------------------------------------------------------------

func runtimeClassStrategy() Strategy {
	return Strategy{
		Validate: func(obj runtime.Object) field.ErrorList { return validateRuntimeClass(obj.(*nodev1.RuntimeClass)) },
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
			rc, oldRC := obj.(*nodev1.RuntimeClass), old.(*nodev1.RuntimeClass)
			// Pods already admitted run under the handler the class named.
			return append(validateRuntimeClass(rc), wlImmutable(rc.Handler, oldRC.Handler, field.NewPath("handler"))...)
		},
		Columns: []metav1.TableColumnDefinition{
			wlNameColumn(),
			wlColumn("Handler", "string", nodev1.RuntimeClass{}.SwaggerDoc()["handler"]),
			wlAgeColumn(),
		},
		Row: func(obj runtime.Object, now time.Time) []interface{} {
			rc := obj.(*nodev1.RuntimeClass)
			return []interface{}{rc.Name, rc.Handler, ageOf(rc.CreationTimestamp, now)}
		},
	}
}

func validateRuntimeClass(rc *nodev1.RuntimeClass) field.ErrorList {
	errs := wlValidateMeta(&rc.ObjectMeta, false, apivalidation.NameIsDNSSubdomain)
	hp := field.NewPath("handler")
	// The handler names a CRI runtime handler, which containerd and CRI-O
	// take from their configuration as a DNS label.
	if rc.Handler == "" {
		errs = append(errs, field.Required(hp, ""))
	} else {
		errs = append(errs, validateDNS1123Label(rc.Handler, hp)...)
	}
	if o := rc.Overhead; o != nil {
		op := field.NewPath("overhead", "podFixed")
		for _, name := range sortedResourceNames(o.PodFixed) {
			p := op.Key(string(name))
			errs = append(errs, validateContainerResourceName(name, p)...)
			errs = append(errs, validateQuantity(name, o.PodFixed[name], p)...)
		}
	}
	if s := rc.Scheduling; s != nil {
		sp := field.NewPath("scheduling")
		errs = append(errs, validateLabels(s.NodeSelector, sp.Child("nodeSelector"))...)
		tp := sp.Child("tolerations")
		errs = append(errs, validateTolerations(s.Tolerations, tp)...)
		// Pods get these tolerations merged into theirs; a repeat would
		// be merged twice.
		seen := map[corev1.Toleration]bool{}
		for i, t := range s.Tolerations {
			key := corev1.Toleration{Key: t.Key, Operator: t.Operator, Value: t.Value, Effect: t.Effect}
			if seen[key] {
				errs = append(errs, field.Duplicate(tp.Index(i), t))
			}
			seen[key] = true
		}
	}
	return errs
}

// --- CertificateSigningRequest -------------------------------------------------------

const legacyUnknownSignerName = "kubernetes.io/legacy-unknown"

var (
	csrKeyUsages = []string{
		string(certificatesv1.UsageSigning), string(certificatesv1.UsageDigitalSignature),
		string(certificatesv1.UsageContentCommitment), string(certificatesv1.UsageKeyEncipherment),
		string(certificatesv1.UsageKeyAgreement), string(certificatesv1.UsageDataEncipherment),
		string(certificatesv1.UsageCertSign), string(certificatesv1.UsageCRLSign),
		string(certificatesv1.UsageEncipherOnly), string(certificatesv1.UsageDecipherOnly),
		string(certificatesv1.UsageAny), string(certificatesv1.UsageServerAuth),
		string(certificatesv1.UsageClientAuth), string(certificatesv1.UsageCodeSigning),
		string(certificatesv1.UsageEmailProtection), string(certificatesv1.UsageSMIME),
		string(certificatesv1.UsageIPsecEndSystem), string(certificatesv1.UsageIPsecTunnel),
		string(certificatesv1.UsageIPsecUser), string(certificatesv1.UsageTimestamping),
		string(certificatesv1.UsageOCSPSigning), string(certificatesv1.UsageMicrosoftSGC),
		string(certificatesv1.UsageNetscapeSGC),
	}
	conditionStatuses = []string{string(corev1.ConditionTrue), string(corev1.ConditionFalse), string(corev1.ConditionUnknown)}
)

const (
	minCSRExpirationSeconds = 600
	// A signer name is <domain>/<path>; the path may hold
	// <namespace>.<name> of the object that configures the signer.
	maxSignerDomainLength = validation.DNS1123SubdomainMaxLength
	maxSignerPathLength   = validation.DNS1123SubdomainMaxLength + validation.DNS1123LabelMaxLength + 1
	maxSignerNameLength   = maxSignerDomainLength + maxSignerPathLength + 1
)

// csrStrategy: the spec is fixed at creation (a signer must sign what was
// requested and approved); status changes through /status (certificate)
// and /approval (Approved and Denied conditions) only.
func csrStrategy() Strategy {
	return Strategy{
		PrepareForCreate: func(obj runtime.Object) {
			// Who asked is what approvers decide on, so a client may not
			// claim it; the API server fills it from the authenticated
			// user (FillCSRRequestor).
			s := &obj.(*certificatesv1.CertificateSigningRequest).Spec
			s.Username, s.UID, s.Groups, s.Extra = "", "", nil, nil
		},
		PrepareForUpdate: func(obj, old runtime.Object) {
			obj.(*certificatesv1.CertificateSigningRequest).Spec = *old.(*certificatesv1.CertificateSigningRequest).Spec.DeepCopy()
		},
		Validate: func(obj runtime.Object) field.ErrorList {
			return validateCSR(obj.(*certificatesv1.CertificateSigningRequest), nil)
		},
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
			return validateCSR(obj.(*certificatesv1.CertificateSigningRequest), old.(*certificatesv1.CertificateSigningRequest))
		},
		Columns: []metav1.TableColumnDefinition{
			wlNameColumn(),
			wlAgeColumn(),
			wlColumn("SignerName", "string", certificatesv1.CertificateSigningRequestSpec{}.SwaggerDoc()["signerName"]),
			wlColumn("Requestor", "string", certificatesv1.CertificateSigningRequestSpec{}.SwaggerDoc()["request"]),
			wlColumn("RequestedDuration", "string", certificatesv1.CertificateSigningRequestSpec{}.SwaggerDoc()["expirationSeconds"]),
			wlColumn("Condition", "string", certificatesv1.CertificateSigningRequestStatus{}.SwaggerDoc()["conditions"]),
		},
		Row: func(obj runtime.Object, now time.Time) []interface{} {
			c := obj.(*certificatesv1.CertificateSigningRequest)
			signer, duration := "<none>", "<none>"
			if c.Spec.SignerName != "" {
				signer = c.Spec.SignerName
			}
			if e := c.Spec.ExpirationSeconds; e != nil {
				duration = HumanDuration(time.Duration(*e) * time.Second)
			}
			return []interface{}{c.Name, ageOf(c.CreationTimestamp, now), signer, c.Spec.Username, duration, csrConditionCell(c)}
		},
	}
}

// FillCSRRequestor records who created a CertificateSigningRequest. The
// API server calls it on create with the authenticated user, after the
// strategy cleared what the client claimed.
func FillCSRRequestor(obj runtime.Object, username, uid string, groups []string, extra map[string][]string) {
	c, ok := obj.(*certificatesv1.CertificateSigningRequest)
	if !ok {
		return
	}
	c.Spec.Username, c.Spec.UID = username, uid
	c.Spec.Groups = append([]string(nil), groups...)
	c.Spec.Extra = nil
	for k, v := range extra {
		if c.Spec.Extra == nil {
			c.Spec.Extra = map[string]certificatesv1.ExtraValue{}
		}
		c.Spec.Extra[k] = append(certificatesv1.ExtraValue(nil), v...)
	}
}

// PrepareCSRApproval narrows a write through the approval subresource to
// status.conditions: obj keeps cur's spec and certificate. The API server
// calls it where it handles /status, for /approval.
func PrepareCSRApproval(obj, cur runtime.Object) {
	c, old := obj.(*certificatesv1.CertificateSigningRequest), cur.(*certificatesv1.CertificateSigningRequest)
	c.Spec = *old.Spec.DeepCopy()
	c.Status.Certificate = append([]byte(nil), old.Status.Certificate...)
}

// ValidateCSRSubresourceUpdate holds the rules that depend on the path of a
// write, which Strategy.ValidateUpdate cannot see: only /approval may add
// or change Approved and Denied conditions (approving is its own RBAC
// permission), and only /status may set the certificate.
func ValidateCSRSubresourceUpdate(subresource string, obj, old runtime.Object) field.ErrorList {
	c, oldC := obj.(*certificatesv1.CertificateSigningRequest), old.(*certificatesv1.CertificateSigningRequest)
	var errs field.ErrorList
	cp := field.NewPath("status", "conditions")
	if subresource != "approval" {
		for _, t := range []certificatesv1.RequestConditionType{certificatesv1.CertificateApproved, certificatesv1.CertificateDenied} {
			was, is := csrConditionsOf(oldC, t), csrConditionsOf(c, t)
			switch {
			case len(is) < len(was):
				// Removal is reported by ValidateUpdate.
			case len(is) > len(was):
				errs = append(errs, field.Forbidden(cp, fmt.Sprintf("updates may not add a condition of type %q", t)))
			case !apiequality.Semantic.DeepEqual(was, is):
				errs = append(errs, field.Forbidden(cp, fmt.Sprintf("updates may not modify a condition of type %q", t)))
			}
		}
	}
	if subresource != "status" && !bytes.Equal(c.Status.Certificate, oldC.Status.Certificate) {
		errs = append(errs, field.Forbidden(field.NewPath("status", "certificate"), "updates may not set certificate content"))
	}
	return errs
}

func csrConditionsOf(c *certificatesv1.CertificateSigningRequest, t certificatesv1.RequestConditionType) []certificatesv1.CertificateSigningRequestCondition {
	var out []certificatesv1.CertificateSigningRequestCondition
	for _, cond := range c.Status.Conditions {
		if cond.Type == t {
			out = append(out, cond)
		}
	}
	return out
}

// csrConditionCell is "Pending", "Approved" or "Denied", then ",Failed"
// and ",Issued" as they apply.
func csrConditionCell(c *certificatesv1.CertificateSigningRequest) string {
	var approved, denied, failed bool
	for _, cond := range c.Status.Conditions {
		switch cond.Type {
		case certificatesv1.CertificateApproved:
			approved = true
		case certificatesv1.CertificateDenied:
			denied = true
		case certificatesv1.CertificateFailed:
			failed = true
		}
	}
	out := "Pending"
	switch {
	case denied:
		out = "Denied"
	case approved:
		out = "Approved"
	}
	if failed {
		out += ",Failed"
	}
	if len(c.Status.Certificate) > 0 {
		out += ",Issued"
	}
	return out
}

// validateCSR checks a new request (old == nil) or an update. The spec
// cannot change after creation, so updates only check the status, and
// tolerate a certificate that was stored before and is left alone.
func validateCSR(c, old *certificatesv1.CertificateSigningRequest) field.ErrorList {
	errs := wlValidateMeta(&c.ObjectMeta, false, path.ValidatePathSegmentName)
	if old == nil {
		errs = append(errs, validateCSRSpec(&c.Spec, field.NewPath("spec"))...)
	}
	errs = append(errs, validateCSRConditions(c.Status.Conditions, field.NewPath("status", "conditions"))...)
	certPath := field.NewPath("status", "certificate")
	if old == nil || !bytes.Equal(c.Status.Certificate, old.Status.Certificate) {
		if err := certificateChainProblem(c.Status.Certificate); err != nil {
			errs = append(errs, field.Invalid(certPath, "<certificate data>", err.Error()))
		}
	}
	if old == nil {
		return errs
	}
	// The outcome of a request is history its requester and auditors rely
	// on: conditions that decided it stay.
	for _, t := range []certificatesv1.RequestConditionType{certificatesv1.CertificateApproved, certificatesv1.CertificateDenied, certificatesv1.CertificateFailed} {
		if len(csrConditionsOf(c, t)) < len(csrConditionsOf(old, t)) {
			errs = append(errs, field.Forbidden(field.NewPath("status", "conditions"), fmt.Sprintf("updates may not remove a condition of type %q", t)))
		}
	}
	if len(old.Status.Certificate) > 0 && !bytes.Equal(c.Status.Certificate, old.Status.Certificate) {
		errs = append(errs, field.Forbidden(certPath, "updates may not modify existing certificate content"))
	}
	return errs
}

func validateCSRSpec(s *certificatesv1.CertificateSigningRequestSpec, sp *field.Path) field.ErrorList {
	var errs field.ErrorList
	if err := csrRequestProblem(s.Request); err != nil {
		errs = append(errs, field.Invalid(sp.Child("request"), s.Request, err.Error()))
	}
	up := sp.Child("usages")
	if len(s.Usages) == 0 {
		errs = append(errs, field.Required(up, ""))
	}
	seen := map[certificatesv1.KeyUsage]bool{}
	for i, u := range s.Usages {
		if !admContains(csrKeyUsages, string(u)) {
			errs = append(errs, field.NotSupported(up.Index(i), u, csrKeyUsages))
		}
		if seen[u] {
			errs = append(errs, field.Duplicate(up.Index(i), u))
		}
		seen[u] = true
	}
	np := sp.Child("signerName")
	if s.SignerName == legacyUnknownSignerName {
		errs = append(errs, field.Invalid(np, s.SignerName, "the legacy signerName is not allowed via this API version"))
	} else {
		errs = append(errs, validateSignerName(s.SignerName, np)...)
	}
	if e := s.ExpirationSeconds; e != nil && *e < minCSRExpirationSeconds {
		errs = append(errs, field.Invalid(sp.Child("expirationSeconds"), *e, "may not specify a duration less than 600 seconds (10 minutes)"))
	}
	return errs
}

// csrRequestProblem checks that data is a PEM PKCS#10 request signed by
// the key it names: a signer must be able to trust it came from that key.
func csrRequestProblem(data []byte) error {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return errors.New("PEM block type must be CERTIFICATE REQUEST")
	}
	req, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return err
	}
	return req.CheckSignature()
}

// certificateChainProblem accepts nothing or one or more plain CERTIFICATE
// PEM blocks that parse: clients hand status.certificate straight to TLS.
func certificateChainProblem(data []byte) error {
	if len(data) == 0 {
		return nil
	}
	blocks := 0
	for {
		block, rest := pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return fmt.Errorf("only CERTIFICATE PEM blocks are allowed, found %q", block.Type)
		}
		if len(block.Headers) != 0 {
			return errors.New("no PEM block headers are permitted")
		}
		certs, err := x509.ParseCertificates(block.Bytes)
		if err != nil {
			return err
		}
		if len(certs) == 0 {
			return errors.New("found CERTIFICATE PEM block containing 0 certificates")
		}
		blocks++
		data = rest
	}
	if blocks == 0 {
		return errors.New("must contain at least one CERTIFICATE PEM block")
	}
	return nil
}

// validateSignerName accepts <domain>/<path> such as
// kubernetes.io/kube-apiserver-client: the domain says who owns the signer.
func validateSignerName(name string, fld *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(fld, "")}
	}
	parts := strings.Split(name, "/")
	if len(parts) != 2 {
		return field.ErrorList{field.Invalid(fld, name, "must be a fully qualified domain and path of the form 'example.com/signer-name'")}
	}
	var errs field.ErrorList
	domain, signerPath := parts[0], parts[1]
	if len(domain) > maxSignerDomainLength {
		errs = append(errs, field.TooLong(fld, "", maxSignerDomainLength))
	}
	labels := strings.Split(domain, ".")
	for _, l := range labels {
		if msgs := validation.IsDNS1123Label(l); len(msgs) > 0 {
			for _, msg := range msgs {
				errs = append(errs, field.Invalid(fld, domain, fmt.Sprintf("validating label %q: %s", l, msg)))
			}
			break
		}
	}
	if len(labels) < 2 {
		errs = append(errs, field.Invalid(fld, domain, "should be a domain with at least two segments separated by dots"))
	}
	for _, l := range strings.Split(signerPath, ".") {
		if msgs := validation.IsDNS1123Subdomain(l); len(msgs) > 0 {
			for _, msg := range msgs {
				errs = append(errs, field.Invalid(fld, signerPath, fmt.Sprintf("validating label %q: %s", l, msg)))
			}
			break
		}
	}
	if len(name) > maxSignerNameLength {
		errs = append(errs, field.TooLong(fld, "", maxSignerNameLength))
	}
	return errs
}

// csrDecisions are the condition types whose status can only be True:
// a request is approved, denied or failed, never "not approved".
var csrDecisions = []string{string(certificatesv1.CertificateApproved), string(certificatesv1.CertificateDenied), string(certificatesv1.CertificateFailed)}

func validateCSRConditions(conds []certificatesv1.CertificateSigningRequestCondition, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := map[certificatesv1.RequestConditionType]bool{}
	var approved, denied bool
	for i, c := range conds {
		cp := fld.Index(i)
		if c.Type == "" {
			errs = append(errs, field.Required(cp.Child("type"), ""))
		}
		allowed := conditionStatuses
		if admContains(csrDecisions, string(c.Type)) {
			allowed = []string{string(corev1.ConditionTrue)}
		}
		switch {
		case c.Status == "":
			errs = append(errs, field.Required(cp.Child("status"), ""))
		case !admContains(allowed, string(c.Status)):
			errs = append(errs, field.NotSupported(cp.Child("status"), c.Status, allowed))
		}
		switch c.Type {
		case certificatesv1.CertificateApproved:
			approved = true
			if denied {
				errs = append(errs, field.Invalid(cp.Child("type"), c.Type, "Approved and Denied conditions are mutually exclusive"))
			}
		case certificatesv1.CertificateDenied:
			denied = true
			if approved {
				errs = append(errs, field.Invalid(cp.Child("type"), c.Type, "Approved and Denied conditions are mutually exclusive"))
			}
		}
		if seen[c.Type] {
			errs = append(errs, field.Duplicate(cp.Child("type"), c.Type))
		}
		seen[c.Type] = true
	}
	return errs
}

// --- CSINode, CSIDriver, VolumeAttachment, CSIStorageCapacity --------------------------

const (
	maxCSIDriverNameLength      = 63
	maxCSINodeIDLength          = 192
	maxAttachmentMetadataSize   = 256 * 1024
	maxVolumeErrorMessageLength = 1024
	minCSITokenExpirationSecs   = 10 * 60
	maxCSITokenExpirationSecs   = 1 << 32
	minNodeAllocatableUpdateSec = 10
)

// validateCSIDriverName holds a driver name to what the CSI spec allows
// (it becomes a socket directory and a plugin registration name).
func validateCSIDriverName(name string, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if name == "" {
		errs = append(errs, field.Required(fld, ""))
	}
	if len(name) > maxCSIDriverNameLength {
		errs = append(errs, field.TooLong(fld, "", maxCSIDriverNameLength))
	}
	for _, msg := range validation.IsDNS1123Subdomain(strings.ToLower(name)) {
		errs = append(errs, field.Invalid(fld, name, msg))
	}
	return errs
}

func csiNodeStrategy() Strategy {
	return Strategy{
		Validate: func(obj runtime.Object) field.ErrorList { return validateCSINode(obj.(*storagev1.CSINode)) },
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
			n, oldN := obj.(*storagev1.CSINode), old.(*storagev1.CSINode)
			errs := validateCSINode(n)
			// A registered driver's node ID and topology are what volumes
			// on the node were provisioned and attached against; a driver
			// re-registers by being removed and added again.
			for _, was := range oldN.Spec.Drivers {
				for _, is := range n.Spec.Drivers {
					if was.Name == is.Name {
						errs = append(errs, wlImmutable(is, was, field.NewPath("spec", "drivers"))...)
					}
				}
			}
			return errs
		},
		Columns: []metav1.TableColumnDefinition{
			wlNameColumn(),
			wlColumn("Drivers", "integer", "Drivers indicates the number of CSI drivers registered on the node"),
			wlAgeColumn(),
		},
		Row: func(obj runtime.Object, now time.Time) []interface{} {
			n := obj.(*storagev1.CSINode)
			return []interface{}{n.Name, int64(len(n.Spec.Drivers)), ageOf(n.CreationTimestamp, now)}
		},
	}
}

func validateCSINode(n *storagev1.CSINode) field.ErrorList {
	errs := wlValidateMeta(&n.ObjectMeta, false, apivalidation.NameIsDNSSubdomain)
	dp := field.NewPath("spec", "drivers")
	names := map[string]bool{}
	for i, d := range n.Spec.Drivers {
		p := dp.Index(i)
		errs = append(errs, validateCSIDriverName(d.Name, p.Child("name"))...)
		if names[d.Name] {
			errs = append(errs, field.Duplicate(p.Child("name"), d.Name))
		}
		names[d.Name] = true
		switch {
		case d.NodeID == "":
			errs = append(errs, field.Required(p.Child("nodeID"), ""))
		case len(d.NodeID) > maxCSINodeIDLength:
			errs = append(errs, field.Invalid(p.Child("nodeID"), d.NodeID, fmt.Sprintf("must be %d characters or less", maxCSINodeIDLength)))
		}
		if a := d.Allocatable; a != nil && a.Count != nil {
			errs = append(errs, wlNonNegative(int64(*a.Count), p.Child("allocatable", "count"))...)
		}
		keys := map[string]bool{}
		for _, k := range d.TopologyKeys {
			if k == "" {
				errs = append(errs, field.Required(p, k))
			}
			if keys[k] {
				errs = append(errs, field.Duplicate(p, k))
			}
			keys[k] = true
			errs = append(errs, validateQualifiedName(k, p)...)
		}
	}
	return errs
}

var (
	fsGroupPolicies = []string{string(storagev1.FileFSGroupPolicy), string(storagev1.NoneFSGroupPolicy),
		string(storagev1.ReadWriteOnceWithFSTypeFSGroupPolicy)}
	volumeLifecycleModes = []string{string(storagev1.VolumeLifecyclePersistent), string(storagev1.VolumeLifecycleEphemeral)}
)

func csiDriverStrategy() Strategy {
	doc := storagev1.CSIDriverSpec{}.SwaggerDoc()
	return Strategy{
		Default: func(obj runtime.Object) { defaultCSIDriver(&obj.(*storagev1.CSIDriver).Spec) },
		Validate: func(obj runtime.Object) field.ErrorList {
			return validateCSIDriver(obj.(*storagev1.CSIDriver))
		},
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
			d, oldD := obj.(*storagev1.CSIDriver), old.(*storagev1.CSIDriver)
			errs := validateCSIDriver(d)
			// Volumes already attached or mounted were handled under these.
			sp := field.NewPath("spec")
			errs = append(errs, wlImmutable(d.Spec.AttachRequired, oldD.Spec.AttachRequired, sp.Child("attachRequired"))...)
			return append(errs, wlImmutable(d.Spec.VolumeLifecycleModes, oldD.Spec.VolumeLifecycleModes, sp.Child("volumeLifecycleModes"))...)
		},
		Columns: []metav1.TableColumnDefinition{
			wlNameColumn(),
			wlColumn("AttachRequired", "boolean", doc["attachRequired"]),
			wlColumn("PodInfoOnMount", "boolean", doc["podInfoOnMount"]),
			wlColumn("StorageCapacity", "boolean", doc["storageCapacity"]),
			wlColumn("TokenRequests", "string", doc["tokenRequests"]),
			wlColumn("RequiresRepublish", "boolean", doc["requiresRepublish"]),
			wlColumn("Modes", "string", doc["volumeLifecycleModes"]),
			wlAgeColumn(),
		},
		Row: func(obj runtime.Object, now time.Time) []interface{} {
			d := obj.(*storagev1.CSIDriver)
			attach := d.Spec.AttachRequired == nil || *d.Spec.AttachRequired
			modes := make([]string, 0, len(d.Spec.VolumeLifecycleModes))
			for _, m := range d.Spec.VolumeLifecycleModes {
				modes = append(modes, string(m))
			}
			modesCell := strings.Join(modes, ",")
			if modesCell == "" {
				modesCell = "<none>"
			}
			tokens := "<unset>"
			if d.Spec.TokenRequests != nil {
				audiences := make([]string, 0, len(d.Spec.TokenRequests))
				for _, t := range d.Spec.TokenRequests {
					audiences = append(audiences, t.Audience)
				}
				tokens = strings.Join(audiences, ",")
			}
			return []interface{}{d.Name, attach, wlBool(d.Spec.PodInfoOnMount), wlBool(d.Spec.StorageCapacity),
				tokens, wlBool(d.Spec.RequiresRepublish), modesCell, ageOf(d.CreationTimestamp, now)}
		},
	}
}

func defaultCSIDriver(s *storagev1.CSIDriverSpec) {
	boolPtr := func(p **bool, v bool) {
		if *p == nil {
			*p = &v
		}
	}
	boolPtr(&s.AttachRequired, true)
	boolPtr(&s.PodInfoOnMount, false)
	boolPtr(&s.StorageCapacity, false)
	boolPtr(&s.RequiresRepublish, false)
	boolPtr(&s.SELinuxMount, false)
	if s.FSGroupPolicy == nil {
		p := storagev1.ReadWriteOnceWithFSTypeFSGroupPolicy
		s.FSGroupPolicy = &p
	}
	if len(s.VolumeLifecycleModes) == 0 {
		s.VolumeLifecycleModes = []storagev1.VolumeLifecycleMode{storagev1.VolumeLifecyclePersistent}
	}
}

func validateCSIDriver(d *storagev1.CSIDriver) field.ErrorList {
	errs := wlValidateMeta(&d.ObjectMeta, false, apivalidation.NameIsDNSSubdomain)
	sp := field.NewPath("spec")
	s := &d.Spec
	// Defaults fill these; a patch that nulls one would leave the kubelet
	// guessing how to treat the driver's volumes.
	for name, v := range map[string]*bool{"attachRequired": s.AttachRequired, "podInfoOnMount": s.PodInfoOnMount,
		"storageCapacity": s.StorageCapacity, "seLinuxMount": s.SELinuxMount} {
		if v == nil {
			errs = append(errs, field.Required(sp.Child(name), ""))
		}
	}
	if p := s.FSGroupPolicy; p != nil && !admContains(fsGroupPolicies, string(*p)) {
		errs = append(errs, field.NotSupported(sp.Child("fsGroupPolicy"), *p, fsGroupPolicies))
	}
	tp := sp.Child("tokenRequests")
	audiences := map[string]bool{}
	for i, t := range s.TokenRequests {
		p := tp.Index(i)
		if audiences[t.Audience] {
			errs = append(errs, field.Duplicate(p.Child("audience"), t.Audience))
			continue
		}
		audiences[t.Audience] = true
		if e := t.ExpirationSeconds; e != nil {
			if *e < minCSITokenExpirationSecs {
				errs = append(errs, field.Invalid(p.Child("expirationSeconds"), *e, "may not specify a duration less than 10 minutes"))
			}
			if *e > maxCSITokenExpirationSecs {
				errs = append(errs, field.Invalid(p.Child("expirationSeconds"), *e, "may not specify a duration larger than 2^32 seconds"))
			}
		}
	}
	for _, m := range s.VolumeLifecycleModes {
		if !admContains(volumeLifecycleModes, string(m)) {
			errs = append(errs, field.NotSupported(sp.Child("volumeLifecycleModes"), m, volumeLifecycleModes))
		}
	}
	if p := s.NodeAllocatableUpdatePeriodSeconds; p != nil && *p < minNodeAllocatableUpdateSec {
		errs = append(errs, field.Invalid(sp.Child("nodeAllocatableUpdatePeriodSeconds"), *p, "must be greater than or equal to 10 seconds"))
	}
	return errs
}

func volumeAttachmentStrategy() Strategy {
	doc := storagev1.VolumeAttachmentSpec{}.SwaggerDoc()
	return Strategy{
		Validate: func(obj runtime.Object) field.ErrorList {
			return validateVolumeAttachment(obj.(*storagev1.VolumeAttachment))
		},
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
			va, oldVA := obj.(*storagev1.VolumeAttachment), old.(*storagev1.VolumeAttachment)
			errs := validateVolumeAttachment(va)
			// An attachment is one volume on one node; another pairing is
			// another attachment.
			if !apiequality.Semantic.DeepEqual(va.Spec, oldVA.Spec) {
				errs = append(errs, field.Invalid(field.NewPath("spec"), va.Spec, "field is immutable"))
			}
			return errs
		},
		Columns: []metav1.TableColumnDefinition{
			wlNameColumn(),
			{Name: "Attacher", Type: "string", Format: "name", Description: doc["attacher"]},
			wlColumn("PV", "string", storagev1.VolumeAttachmentSource{}.SwaggerDoc()["persistentVolumeName"]),
			wlColumn("Node", "string", doc["nodeName"]),
			wlColumn("Attached", "boolean", storagev1.VolumeAttachmentStatus{}.SwaggerDoc()["attached"]),
			wlAgeColumn(),
		},
		Row: func(obj runtime.Object, now time.Time) []interface{} {
			va := obj.(*storagev1.VolumeAttachment)
			pv := ""
			if n := va.Spec.Source.PersistentVolumeName; n != nil {
				pv = *n
			}
			return []interface{}{va.Name, va.Spec.Attacher, pv, va.Spec.NodeName, va.Status.Attached, ageOf(va.CreationTimestamp, now)}
		},
	}
}

// validateVolumeAttachment checks the attachment itself. An inline volume
// spec (migrated in-tree volumes) is only required to name its CSI source:
// the full PersistentVolume rules belong to PersistentVolumes.
func validateVolumeAttachment(va *storagev1.VolumeAttachment) field.ErrorList {
	errs := wlValidateMeta(&va.ObjectMeta, false, apivalidation.NameIsDNSSubdomain)
	sp := field.NewPath("spec")
	errs = append(errs, validateCSIDriverName(va.Spec.Attacher, sp.Child("attacher"))...)
	src, srcPath := va.Spec.Source, sp.Child("source")
	switch {
	case src.PersistentVolumeName == nil && src.InlineVolumeSpec == nil:
		errs = append(errs, field.Required(srcPath, "must specify exactly one of inlineVolumeSpec and persistentVolumeName"))
	case src.PersistentVolumeName != nil && src.InlineVolumeSpec != nil:
		errs = append(errs, field.Forbidden(srcPath, "must specify exactly one of inlineVolumeSpec and persistentVolumeName"))
	case src.PersistentVolumeName != nil:
		pp := srcPath.Child("persistentVolumeName")
		if *src.PersistentVolumeName == "" {
			errs = append(errs, field.Required(pp, "must specify non empty persistentVolumeName"))
		} else {
			errs = append(errs, validateDNS1123Subdomain(*src.PersistentVolumeName, pp)...)
		}
	case src.InlineVolumeSpec.CSI == nil:
		errs = append(errs, field.Required(srcPath.Child("inlineVolumeSpec", "csi"), "an attached inline volume must be a CSI volume"))
	}
	errs = append(errs, validateDNS1123Subdomain(va.Spec.NodeName, sp.Child("nodeName"))...)
	st := field.NewPath("status")
	size := 0
	for k, v := range va.Status.AttachmentMetadata {
		size += len(k) + len(v)
	}
	if size > maxAttachmentMetadataSize {
		errs = append(errs, field.TooLong(st.Child("attachmentMetadata"), "", maxAttachmentMetadataSize))
	}
	for name, e := range map[string]*storagev1.VolumeError{"attachError": va.Status.AttachError, "detachError": va.Status.DetachError} {
		if e == nil {
			continue
		}
		if len(e.Message) > maxVolumeErrorMessageLength {
			errs = append(errs, field.TooLong(st.Child(name, "message"), "", maxVolumeErrorMessageLength))
		}
		if c := e.ErrorCode; c != nil && *c < 0 {
			errs = append(errs, field.Invalid(st.Child(name, "errorCode"), *c, "must be between 0 and 2147483647, inclusive"))
		}
	}
	return errs
}

func csiStorageCapacityStrategy() Strategy {
	doc := storagev1.CSIStorageCapacity{}.SwaggerDoc()
	return Strategy{
		Validate: func(obj runtime.Object) field.ErrorList {
			return validateCSIStorageCapacity(obj.(*storagev1.CSIStorageCapacity))
		},
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
			c, oldC := obj.(*storagev1.CSIStorageCapacity), old.(*storagev1.CSIStorageCapacity)
			errs := validateCSIStorageCapacity(c)
			// These are the inputs the capacity was measured for; other
			// inputs make another object.
			if !apiequality.Semantic.DeepEqual(c.NodeTopology, oldC.NodeTopology) {
				errs = append(errs, field.Invalid(field.NewPath("nodeTopology"), c.NodeTopology, "field is immutable"))
			}
			if c.StorageClassName != oldC.StorageClassName {
				errs = append(errs, field.Invalid(field.NewPath("storageClassName"), c.StorageClassName, "field is immutable"))
			}
			return errs
		},
		Columns: []metav1.TableColumnDefinition{
			wlNameColumn(),
			wlColumn("StorageClassName", "string", doc["storageClassName"]),
			wlColumn("Capacity", "string", doc["capacity"]),
		},
		Row: func(obj runtime.Object, _ time.Time) []interface{} {
			c := obj.(*storagev1.CSIStorageCapacity)
			return []interface{}{c.Name, c.StorageClassName, quantityString(c.Capacity)}
		},
	}
}

func validateCSIStorageCapacity(c *storagev1.CSIStorageCapacity) field.ErrorList {
	errs := wlValidateMeta(&c.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	errs = append(errs, metav1validation.ValidateLabelSelector(c.NodeTopology, metav1validation.LabelSelectorValidationOptions{}, field.NewPath("nodeTopology"))...)
	errs = append(errs, validateDNS1123Subdomain(c.StorageClassName, field.NewPath("storageClassName"))...)
	if q := c.Capacity; q != nil && q.Sign() < 0 {
		errs = append(errs, field.Invalid(field.NewPath("capacity"), q.String(), "must be greater than or equal to 0"))
	}
	return errs
}

// --- APIService ---------------------------------------------------------------------

const (
	maxGroupPriorityMinimum = 20000
	maxVersionPriority      = 1000
	defaultAPIServicePort   = 443
	// apiServiceAutomanagedLabel marks the APIServices the server keeps
	// for what it serves itself, as kube-apiserver marks them.
	apiServiceAutomanagedLabel = "kube-aggregator.kubernetes.io/automanaged"
)

func apiServiceStrategy() Strategy {
	validate := func(obj runtime.Object) field.ErrorList {
		return validateAPIService(obj.(*apiregistrationv1.APIService))
	}
	return Strategy{
		Default: func(obj runtime.Object) {
			if svc := obj.(*apiregistrationv1.APIService).Spec.Service; svc != nil && svc.Port == nil {
				p := int32(defaultAPIServicePort)
				svc.Port = &p
			}
		},
		Validate:       validate,
		ValidateUpdate: func(obj, _ runtime.Object) field.ErrorList { return validate(obj) },
		Columns: []metav1.TableColumnDefinition{
			wlNameColumn(),
			wlColumn("Service", "string", "The reference to the service that hosts this API endpoint."),
			wlColumn("Available", "string", "Whether this service is available."),
			wlAgeColumn(),
		},
		Row: func(obj runtime.Object, now time.Time) []interface{} {
			a := obj.(*apiregistrationv1.APIService)
			service := "Local"
			if s := a.Spec.Service; s != nil {
				service = s.Namespace + "/" + s.Name
			}
			available := string(apiregistrationv1.ConditionUnknown)
			for _, c := range a.Status.Conditions {
				if c.Type != apiregistrationv1.Available {
					continue
				}
				available = string(c.Status)
				if c.Status != apiregistrationv1.ConditionTrue && c.Reason != "" {
					available = fmt.Sprintf("%s (%s)", c.Status, c.Reason)
				}
				break
			}
			return []interface{}{a.Name, service, available, ageOf(a.CreationTimestamp, now)}
		},
	}
}

func validateAPIService(a *apiregistrationv1.APIService) field.ErrorList {
	s := &a.Spec
	// The name is how the aggregator finds the APIService for a request
	// path, so it must spell the group version it serves ("v1." for the
	// legacy core group).
	wantName := s.Version + "." + s.Group
	errs := wlValidateMeta(&a.ObjectMeta, false, func(name string, _ bool) []string {
		if msgs := path.IsValidPathSegmentName(name); len(msgs) > 0 {
			return msgs
		}
		if name != wantName {
			return []string{fmt.Sprintf("must be `spec.version+\".\"+spec.group`: %q", wantName)}
		}
		return nil
	})
	sp := field.NewPath("spec")
	if s.Group == "" && s.Version != "v1" {
		errs = append(errs, field.Required(sp.Child("group"), "only v1 may have an empty group and it better be legacy kube"))
	}
	if s.Group != "" {
		errs = append(errs, validateDNS1123Subdomain(s.Group, sp.Child("group"))...)
	}
	for _, msg := range validation.IsDNS1035Label(s.Version) {
		errs = append(errs, field.Invalid(sp.Child("version"), s.Version, msg))
	}
	if s.GroupPriorityMinimum <= 0 || s.GroupPriorityMinimum > maxGroupPriorityMinimum {
		errs = append(errs, field.Invalid(sp.Child("groupPriorityMinimum"), s.GroupPriorityMinimum, "must be positive and less than 20000"))
	}
	if s.VersionPriority <= 0 || s.VersionPriority > maxVersionPriority {
		errs = append(errs, field.Invalid(sp.Child("versionPriority"), s.VersionPriority, "must be positive and less than 1000"))
	}
	if svc := s.Service; svc == nil {
		// A local APIService is served in-process: there is no TLS hop
		// for these to configure.
		if len(s.CABundle) != 0 {
			errs = append(errs, field.Invalid(sp.Child("caBundle"), fmt.Sprintf("%d bytes", len(s.CABundle)), "local APIServices may not have a caBundle"))
		}
		if s.InsecureSkipTLSVerify {
			errs = append(errs, field.Invalid(sp.Child("insecureSkipTLSVerify"), s.InsecureSkipTLSVerify, "local APIServices may not have insecureSkipTLSVerify"))
		}
	} else {
		svp := sp.Child("service")
		if svc.Namespace == "" {
			errs = append(errs, field.Required(svp.Child("namespace"), ""))
		}
		if svc.Name == "" {
			errs = append(errs, field.Required(svp.Child("name"), ""))
		}
		if svc.Port != nil {
			if msgs := validation.IsValidPortNum(int(*svc.Port)); len(msgs) > 0 {
				errs = append(errs, field.Invalid(svp.Child("port"), *svc.Port, "port is not valid: "+strings.Join(msgs, ", ")))
			}
		}
		if s.InsecureSkipTLSVerify && len(s.CABundle) > 0 {
			errs = append(errs, field.Invalid(sp.Child("insecureSkipTLSVerify"), s.InsecureSkipTLSVerify, "may not be true if caBundle is present"))
		}
	}
	for i, c := range a.Status.Conditions {
		if !admContains(conditionStatuses, string(c.Status)) {
			errs = append(errs, field.NotSupported(field.NewPath("status", "conditions").Index(i).Child("status"), c.Status, conditionStatuses))
		}
	}
	return errs
}

// apiServicePriority orders groups and versions for clients that pick
// among APIServices; the built-in values are Kubernetes' own.
type apiServicePriority struct{ group, version int32 }

var builtinAPIServicePriorities = map[schema.GroupVersion]apiServicePriority{
	{Version: "v1"}:                                        {18000, 1},
	{Group: "apps", Version: "v1"}:                         {17800, 15},
	{Group: "events.k8s.io", Version: "v1"}:                {17750, 15},
	{Group: "authentication.k8s.io", Version: "v1"}:        {17700, 15},
	{Group: "authorization.k8s.io", Version: "v1"}:         {17600, 15},
	{Group: "autoscaling", Version: "v1"}:                  {17500, 15},
	{Group: "autoscaling", Version: "v2"}:                  {17500, 30},
	{Group: "batch", Version: "v1"}:                        {17400, 15},
	{Group: "certificates.k8s.io", Version: "v1"}:          {17300, 15},
	{Group: "networking.k8s.io", Version: "v1"}:            {17200, 15},
	{Group: "policy", Version: "v1"}:                       {17100, 15},
	{Group: "rbac.authorization.k8s.io", Version: "v1"}:    {17000, 15},
	{Group: "storage.k8s.io", Version: "v1"}:               {16800, 15},
	{Group: "admissionregistration.k8s.io", Version: "v1"}: {16700, 15},
	{Group: "apiextensions.k8s.io", Version: "v1"}:         {16700, 15},
	{Group: "scheduling.k8s.io", Version: "v1"}:            {16600, 15},
	{Group: "coordination.k8s.io", Version: "v1"}:          {16500, 15},
	{Group: "node.k8s.io", Version: "v1"}:                  {16300, 15},
	{Group: "discovery.k8s.io", Version: "v1"}:             {16200, 15},
	{Group: "flowcontrol.apiserver.k8s.io", Version: "v1"}: {16100, 21},
	{Group: "metrics.k8s.io", Version: "v1beta1"}:          {100, 100},
}

// LocalAPIServices are the APIServices Kubernetes lists for the group
// versions the API server serves itself: no service, always Available.
// apiregistration.k8s.io has none (the aggregator serves it, not a
// registered server); other groups, Gureum's own among them, get the
// priority Kubernetes gives custom resource groups.
func LocalAPIServices(gvs []schema.GroupVersion, now metav1.Time) []*apiregistrationv1.APIService {
	var out []*apiregistrationv1.APIService
	for _, gv := range gvs {
		if gv.Group == apiregistrationv1.GroupName {
			continue
		}
		prio, ok := builtinAPIServicePriorities[gv]
		if !ok {
			prio = apiServicePriority{1000, 100}
		}
		out = append(out, &apiregistrationv1.APIService{
			ObjectMeta: metav1.ObjectMeta{Name: gv.Version + "." + gv.Group,
				Labels: map[string]string{apiServiceAutomanagedLabel: "onstart"}},
			Spec: apiregistrationv1.APIServiceSpec{Group: gv.Group, Version: gv.Version,
				GroupPriorityMinimum: prio.group, VersionPriority: prio.version},
			Status: apiregistrationv1.APIServiceStatus{Conditions: []apiregistrationv1.APIServiceCondition{{
				Type: apiregistrationv1.Available, Status: apiregistrationv1.ConditionTrue, LastTransitionTime: now,
				Reason: "Local", Message: "Local APIServices are always available",
			}}},
		})
	}
	return out
}

// IsLocalAPIServiceAutomanaged reports an APIService LocalAPIServices made,
// which the server may delete once it no longer serves its group version.
func IsLocalAPIServiceAutomanaged(a *apiregistrationv1.APIService) bool {
	return a.Spec.Service == nil && a.Labels[apiServiceAutomanagedLabel] == "onstart"
}

// --- autoscaling/v1 HorizontalPodAutoscalers -----------------------------------------------

// Annotations that carry, on an autoscaling/v1 object, what only
// autoscaling/v2 can express. A v1 client that reads, changes and writes
// back an object keeps them, so nothing it cannot see is lost.
const (
	hpaMetricsAnnotation        = "autoscaling.alpha.kubernetes.io/metrics"
	hpaCurrentMetricsAnnotation = "autoscaling.alpha.kubernetes.io/current-metrics"
	hpaConditionsAnnotation     = "autoscaling.alpha.kubernetes.io/conditions"
	hpaBehaviorAnnotation       = "autoscaling.alpha.kubernetes.io/behavior"
	// The two tolerance annotations belong to the beta views Gureum does
	// not serve; they are dropped with the others so they never reach v2.
	hpaScaleUpToleranceAnnotation   = "autoscaling.alpha.kubernetes.io/scale-up-tolerance"
	hpaScaleDownToleranceAnnotation = "autoscaling.alpha.kubernetes.io/scale-down-tolerance"
)

func isHPARoundTripAnnotation(key string) bool {
	switch key {
	case hpaMetricsAnnotation, hpaCurrentMetricsAnnotation, hpaConditionsAnnotation, hpaBehaviorAnnotation,
		hpaScaleUpToleranceAnnotation, hpaScaleDownToleranceAnnotation:
		return true
	}
	return false
}

// withoutHPARoundTripAnnotations copies annotations minus the round-trip
// ones; nil when nothing is left.
func withoutHPARoundTripAnnotations(in map[string]string) map[string]string {
	var out map[string]string
	for k, v := range in {
		if isHPARoundTripAnnotation(k) {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[k] = v
	}
	return out
}

// hpaBehaviorJSON is the behavior annotation's shape. Kubernetes writes it
// from its internal types, which have no JSON tags, so the keys are Go
// field names ("ScaleUp", "StabilizationWindowSeconds"); reading is
// case-insensitive, so v2-style keys are accepted too.
type hpaBehaviorJSON struct {
	ScaleUp   *hpaScalingRulesJSON
	ScaleDown *hpaScalingRulesJSON
}

type hpaScalingRulesJSON struct {
	StabilizationWindowSeconds *int32
	SelectPolicy               *autoscalingv2.ScalingPolicySelect
	Policies                   []hpaScalingPolicyJSON
	Tolerance                  *resource.Quantity
}

type hpaScalingPolicyJSON struct {
	Type          autoscalingv2.HPAScalingPolicyType
	Value         int32
	PeriodSeconds int32
}

func scalingRulesToJSON(r *autoscalingv2.HPAScalingRules) *hpaScalingRulesJSON {
	if r == nil {
		return nil
	}
	out := &hpaScalingRulesJSON{StabilizationWindowSeconds: r.StabilizationWindowSeconds, SelectPolicy: r.SelectPolicy, Tolerance: r.Tolerance}
	if r.Policies != nil {
		out.Policies = make([]hpaScalingPolicyJSON, len(r.Policies))
		for i, p := range r.Policies {
			out.Policies[i] = hpaScalingPolicyJSON(p)
		}
	}
	return out
}

func scalingRulesFromJSON(r *hpaScalingRulesJSON) *autoscalingv2.HPAScalingRules {
	if r == nil {
		return nil
	}
	out := &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: r.StabilizationWindowSeconds, SelectPolicy: r.SelectPolicy, Tolerance: r.Tolerance}
	if r.Policies != nil {
		out.Policies = make([]autoscalingv2.HPAScalingPolicy, len(r.Policies))
		for i, p := range r.Policies {
			out.Policies[i] = autoscalingv2.HPAScalingPolicy(p)
		}
	}
	return out
}

// isCPUUtilizationTarget reports the one metric autoscaling/v1 has a field
// for: average CPU utilization across the pods.
func isCPUUtilizationTarget(m autoscalingv2.MetricSpec) bool {
	return m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil &&
		m.Resource.Name == corev1.ResourceCPU && m.Resource.Target.AverageUtilization != nil
}

func cpuUtilizationMetric(percent int32) autoscalingv2.MetricSpec {
	return autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
		Name:   corev1.ResourceCPU,
		Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &percent},
	}}
}

// HPAV2ToV1 shows a stored autoscaling/v2 HorizontalPodAutoscaler as an
// autoscaling/v1 one: the first CPU utilization target becomes
// targetCPUUtilizationPercentage, and the other metrics, the current
// metrics, the conditions and the behavior go into annotations.
func HPAV2ToV1(in *autoscalingv2.HorizontalPodAutoscaler) (*autoscalingv1.HorizontalPodAutoscaler, error) {
	in = in.DeepCopy()
	out := &autoscalingv1.HorizontalPodAutoscaler{
		TypeMeta:   metav1.TypeMeta{APIVersion: autoscalingv1.SchemeGroupVersion.String(), Kind: "HorizontalPodAutoscaler"},
		ObjectMeta: in.ObjectMeta,
		Spec: autoscalingv1.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv1.CrossVersionObjectReference{Kind: in.Spec.ScaleTargetRef.Kind,
				Name: in.Spec.ScaleTargetRef.Name, APIVersion: in.Spec.ScaleTargetRef.APIVersion},
			MinReplicas: in.Spec.MinReplicas,
			MaxReplicas: in.Spec.MaxReplicas,
		},
		Status: autoscalingv1.HorizontalPodAutoscalerStatus{
			ObservedGeneration: in.Status.ObservedGeneration,
			LastScaleTime:      in.Status.LastScaleTime,
			CurrentReplicas:    in.Status.CurrentReplicas,
			DesiredReplicas:    in.Status.DesiredReplicas,
		},
	}
	// Annotations a client copied from another object must not speak for
	// this one: only what this conversion writes is kept.
	out.Annotations = withoutHPARoundTripAnnotations(out.Annotations)
	annotate := func(key string, v interface{}) error {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode %s: %w", key, err)
		}
		if out.Annotations == nil {
			out.Annotations = map[string]string{}
		}
		out.Annotations[key] = string(b)
		return nil
	}

	var others []autoscalingv1.MetricSpec
	for _, m := range in.Spec.Metrics {
		if out.Spec.TargetCPUUtilizationPercentage == nil && isCPUUtilizationTarget(m) {
			u := *m.Resource.Target.AverageUtilization
			out.Spec.TargetCPUUtilizationPercentage = &u
			continue
		}
		others = append(others, metricSpecToV1(m))
	}
	for _, m := range in.Status.CurrentMetrics {
		if m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Name == corev1.ResourceCPU &&
			m.Resource.Current.AverageUtilization != nil {
			u := *m.Resource.Current.AverageUtilization
			out.Status.CurrentCPUUtilizationPercentage = &u
			break
		}
	}
	if len(others) > 0 {
		if err := annotate(hpaMetricsAnnotation, others); err != nil {
			return nil, err
		}
	}
	// All current metrics, the CPU one too: its raw value has no v1 field.
	if len(in.Status.CurrentMetrics) > 0 {
		current := make([]autoscalingv1.MetricStatus, len(in.Status.CurrentMetrics))
		for i, m := range in.Status.CurrentMetrics {
			current[i] = metricStatusToV1(m)
		}
		if err := annotate(hpaCurrentMetricsAnnotation, current); err != nil {
			return nil, err
		}
	}
	if b := in.Spec.Behavior; b != nil {
		if err := annotate(hpaBehaviorAnnotation, hpaBehaviorJSON{ScaleUp: scalingRulesToJSON(b.ScaleUp), ScaleDown: scalingRulesToJSON(b.ScaleDown)}); err != nil {
			return nil, err
		}
	}
	if len(in.Status.Conditions) > 0 {
		conds := make([]autoscalingv1.HorizontalPodAutoscalerCondition, len(in.Status.Conditions))
		for i, c := range in.Status.Conditions {
			conds[i] = autoscalingv1.HorizontalPodAutoscalerCondition{Type: autoscalingv1.HorizontalPodAutoscalerConditionType(c.Type),
				Status: c.Status, LastTransitionTime: c.LastTransitionTime, Reason: c.Reason, Message: c.Message}
		}
		if err := annotate(hpaConditionsAnnotation, conds); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// HPAV1ToV2 is the reverse of HPAV2ToV1. Annotations that do not parse are
// ignored, as Kubernetes ignores them; an object with no metric at all
// gets the 80% CPU target autoscaling/v1 always implied.
func HPAV1ToV2(in *autoscalingv1.HorizontalPodAutoscaler) *autoscalingv2.HorizontalPodAutoscaler {
	in = in.DeepCopy()
	out := &autoscalingv2.HorizontalPodAutoscaler{
		TypeMeta:   metav1.TypeMeta{APIVersion: autoscalingv2.SchemeGroupVersion.String(), Kind: "HorizontalPodAutoscaler"},
		ObjectMeta: in.ObjectMeta,
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: in.Spec.ScaleTargetRef.Kind,
				Name: in.Spec.ScaleTargetRef.Name, APIVersion: in.Spec.ScaleTargetRef.APIVersion},
			MinReplicas: in.Spec.MinReplicas,
			MaxReplicas: in.Spec.MaxReplicas,
		},
		Status: autoscalingv2.HorizontalPodAutoscalerStatus{
			ObservedGeneration: in.Status.ObservedGeneration,
			LastScaleTime:      in.Status.LastScaleTime,
			CurrentReplicas:    in.Status.CurrentReplicas,
			DesiredReplicas:    in.Status.DesiredReplicas,
		},
	}
	ann := in.Annotations
	if s, ok := ann[hpaMetricsAnnotation]; ok {
		var others []autoscalingv1.MetricSpec
		if json.Unmarshal([]byte(s), &others) == nil {
			for _, m := range others {
				out.Spec.Metrics = append(out.Spec.Metrics, metricSpecFromV1(m))
			}
		}
	}
	if u := in.Spec.TargetCPUUtilizationPercentage; u != nil {
		out.Spec.Metrics = append(out.Spec.Metrics, cpuUtilizationMetric(*u))
	}
	if len(out.Spec.Metrics) == 0 {
		out.Spec.Metrics = []autoscalingv2.MetricSpec{cpuUtilizationMetric(hpaDefaultCPUUtilization)}
	}
	if s, ok := ann[hpaBehaviorAnnotation]; ok {
		var b hpaBehaviorJSON
		if json.Unmarshal([]byte(s), &b) == nil && (b.ScaleUp != nil || b.ScaleDown != nil) {
			out.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: scalingRulesFromJSON(b.ScaleUp), ScaleDown: scalingRulesFromJSON(b.ScaleDown)}
		}
	}

	// The annotation has every current metric with raw values; the v1
	// field only a percentage.
	var current []autoscalingv1.MetricStatus
	if s, ok := ann[hpaCurrentMetricsAnnotation]; ok && json.Unmarshal([]byte(s), &current) == nil {
		out.Status.CurrentMetrics = make([]autoscalingv2.MetricStatus, len(current))
		for i, m := range current {
			out.Status.CurrentMetrics[i] = metricStatusFromV1(m)
		}
	} else if u := in.Status.CurrentCPUUtilizationPercentage; u != nil {
		out.Status.CurrentMetrics = []autoscalingv2.MetricStatus{{Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricStatus{Name: corev1.ResourceCPU, Current: autoscalingv2.MetricValueStatus{AverageUtilization: u}}}}
	}
	var conds []autoscalingv1.HorizontalPodAutoscalerCondition
	if s, ok := ann[hpaConditionsAnnotation]; ok && json.Unmarshal([]byte(s), &conds) == nil {
		out.Status.Conditions = make([]autoscalingv2.HorizontalPodAutoscalerCondition, len(conds))
		for i, c := range conds {
			out.Status.Conditions[i] = autoscalingv2.HorizontalPodAutoscalerCondition{Type: autoscalingv2.HorizontalPodAutoscalerConditionType(c.Type),
				Status: c.Status, LastTransitionTime: c.LastTransitionTime, Reason: c.Reason, Message: c.Message}
		}
	}
	out.Annotations = withoutHPARoundTripAnnotations(ann)
	return out
}

func crossVersionRefToV1(r autoscalingv2.CrossVersionObjectReference) autoscalingv1.CrossVersionObjectReference {
	return autoscalingv1.CrossVersionObjectReference{Kind: r.Kind, Name: r.Name, APIVersion: r.APIVersion}
}

func crossVersionRefFromV1(r autoscalingv1.CrossVersionObjectReference) autoscalingv2.CrossVersionObjectReference {
	return autoscalingv2.CrossVersionObjectReference{Kind: r.Kind, Name: r.Name, APIVersion: r.APIVersion}
}

// derefQuantity reads an optional quantity into one of v1's required
// quantity fields.
func derefQuantity(q *resource.Quantity) resource.Quantity {
	if q == nil {
		return resource.Quantity{}
	}
	return q.DeepCopy()
}

// quantityIfSet turns one of v1's required quantity fields back into an
// optional one: a zero stays unset unless the other form of the target is
// missing too, since one of them must be there.
func quantityIfSet(q resource.Quantity, otherSet bool) *resource.Quantity {
	if q.IsZero() && otherSet {
		return nil
	}
	q = q.DeepCopy()
	return &q
}

func metricSpecToV1(m autoscalingv2.MetricSpec) autoscalingv1.MetricSpec {
	out := autoscalingv1.MetricSpec{Type: autoscalingv1.MetricSourceType(m.Type)}
	switch {
	case m.Object != nil:
		out.Object = &autoscalingv1.ObjectMetricSource{Target: crossVersionRefToV1(m.Object.DescribedObject),
			MetricName: m.Object.Metric.Name, TargetValue: derefQuantity(m.Object.Target.Value),
			Selector: m.Object.Metric.Selector, AverageValue: m.Object.Target.AverageValue}
	case m.Pods != nil:
		out.Pods = &autoscalingv1.PodsMetricSource{MetricName: m.Pods.Metric.Name,
			TargetAverageValue: derefQuantity(m.Pods.Target.AverageValue), Selector: m.Pods.Metric.Selector}
	case m.Resource != nil:
		out.Resource = &autoscalingv1.ResourceMetricSource{Name: m.Resource.Name,
			TargetAverageUtilization: m.Resource.Target.AverageUtilization, TargetAverageValue: m.Resource.Target.AverageValue}
	case m.ContainerResource != nil:
		out.ContainerResource = &autoscalingv1.ContainerResourceMetricSource{Name: m.ContainerResource.Name,
			Container:                m.ContainerResource.Container,
			TargetAverageUtilization: m.ContainerResource.Target.AverageUtilization,
			TargetAverageValue:       m.ContainerResource.Target.AverageValue}
	case m.External != nil:
		out.External = &autoscalingv1.ExternalMetricSource{MetricName: m.External.Metric.Name,
			MetricSelector: m.External.Metric.Selector, TargetValue: m.External.Target.Value,
			TargetAverageValue: m.External.Target.AverageValue}
	}
	return out
}

// utilizationOrAverage is the target type v1's resource targets imply:
// a utilization when one is given, else an average value.
func utilizationOrAverage(utilization *int32) autoscalingv2.MetricTargetType {
	if utilization != nil {
		return autoscalingv2.UtilizationMetricType
	}
	return autoscalingv2.AverageValueMetricType
}

func metricSpecFromV1(m autoscalingv1.MetricSpec) autoscalingv2.MetricSpec {
	out := autoscalingv2.MetricSpec{Type: autoscalingv2.MetricSourceType(m.Type)}
	switch {
	case m.Object != nil:
		o := m.Object
		t := autoscalingv2.MetricTarget{Type: autoscalingv2.ValueMetricType, Value: quantityIfSet(o.TargetValue, false)}
		if o.AverageValue != nil {
			t = autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: o.AverageValue,
				Value: quantityIfSet(o.TargetValue, true)}
		}
		out.Object = &autoscalingv2.ObjectMetricSource{DescribedObject: crossVersionRefFromV1(o.Target),
			Metric: autoscalingv2.MetricIdentifier{Name: o.MetricName, Selector: o.Selector}, Target: t}
	case m.Pods != nil:
		avg := m.Pods.TargetAverageValue.DeepCopy()
		out.Pods = &autoscalingv2.PodsMetricSource{Metric: autoscalingv2.MetricIdentifier{Name: m.Pods.MetricName, Selector: m.Pods.Selector},
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: &avg}}
	case m.Resource != nil:
		r := m.Resource
		out.Resource = &autoscalingv2.ResourceMetricSource{Name: r.Name, Target: autoscalingv2.MetricTarget{
			Type: utilizationOrAverage(r.TargetAverageUtilization), AverageUtilization: r.TargetAverageUtilization, AverageValue: r.TargetAverageValue}}
	case m.ContainerResource != nil:
		r := m.ContainerResource
		out.ContainerResource = &autoscalingv2.ContainerResourceMetricSource{Name: r.Name, Container: r.Container, Target: autoscalingv2.MetricTarget{
			Type: utilizationOrAverage(r.TargetAverageUtilization), AverageUtilization: r.TargetAverageUtilization, AverageValue: r.TargetAverageValue}}
	case m.External != nil:
		e := m.External
		typ := autoscalingv2.AverageValueMetricType
		if e.TargetValue != nil {
			typ = autoscalingv2.ValueMetricType
		}
		out.External = &autoscalingv2.ExternalMetricSource{Metric: autoscalingv2.MetricIdentifier{Name: e.MetricName, Selector: e.MetricSelector},
			Target: autoscalingv2.MetricTarget{Type: typ, Value: e.TargetValue, AverageValue: e.TargetAverageValue}}
	}
	return out
}

func metricStatusToV1(m autoscalingv2.MetricStatus) autoscalingv1.MetricStatus {
	out := autoscalingv1.MetricStatus{Type: autoscalingv1.MetricSourceType(m.Type)}
	switch {
	case m.Object != nil:
		out.Object = &autoscalingv1.ObjectMetricStatus{Target: crossVersionRefToV1(m.Object.DescribedObject),
			MetricName: m.Object.Metric.Name, CurrentValue: derefQuantity(m.Object.Current.Value),
			Selector: m.Object.Metric.Selector, AverageValue: m.Object.Current.AverageValue}
	case m.Pods != nil:
		out.Pods = &autoscalingv1.PodsMetricStatus{MetricName: m.Pods.Metric.Name,
			CurrentAverageValue: derefQuantity(m.Pods.Current.AverageValue), Selector: m.Pods.Metric.Selector}
	case m.Resource != nil:
		out.Resource = &autoscalingv1.ResourceMetricStatus{Name: m.Resource.Name,
			CurrentAverageUtilization: m.Resource.Current.AverageUtilization,
			CurrentAverageValue:       derefQuantity(m.Resource.Current.AverageValue)}
	case m.ContainerResource != nil:
		out.ContainerResource = &autoscalingv1.ContainerResourceMetricStatus{Name: m.ContainerResource.Name,
			Container:                 m.ContainerResource.Container,
			CurrentAverageUtilization: m.ContainerResource.Current.AverageUtilization,
			CurrentAverageValue:       derefQuantity(m.ContainerResource.Current.AverageValue)}
	case m.External != nil:
		out.External = &autoscalingv1.ExternalMetricStatus{MetricName: m.External.Metric.Name,
			MetricSelector: m.External.Metric.Selector, CurrentValue: derefQuantity(m.External.Current.Value),
			CurrentAverageValue: m.External.Current.AverageValue}
	}
	return out
}

func metricStatusFromV1(m autoscalingv1.MetricStatus) autoscalingv2.MetricStatus {
	out := autoscalingv2.MetricStatus{Type: autoscalingv2.MetricSourceType(m.Type)}
	switch {
	case m.Object != nil:
		o := m.Object
		out.Object = &autoscalingv2.ObjectMetricStatus{DescribedObject: crossVersionRefFromV1(o.Target),
			Metric:  autoscalingv2.MetricIdentifier{Name: o.MetricName, Selector: o.Selector},
			Current: autoscalingv2.MetricValueStatus{Value: quantityIfSet(o.CurrentValue, o.AverageValue != nil), AverageValue: o.AverageValue}}
	case m.Pods != nil:
		avg := m.Pods.CurrentAverageValue.DeepCopy()
		out.Pods = &autoscalingv2.PodsMetricStatus{Metric: autoscalingv2.MetricIdentifier{Name: m.Pods.MetricName, Selector: m.Pods.Selector},
			Current: autoscalingv2.MetricValueStatus{AverageValue: &avg}}
	case m.Resource != nil:
		r := m.Resource
		out.Resource = &autoscalingv2.ResourceMetricStatus{Name: r.Name, Current: autoscalingv2.MetricValueStatus{
			AverageUtilization: r.CurrentAverageUtilization, AverageValue: quantityIfSet(r.CurrentAverageValue, r.CurrentAverageUtilization != nil)}}
	case m.ContainerResource != nil:
		r := m.ContainerResource
		out.ContainerResource = &autoscalingv2.ContainerResourceMetricStatus{Name: r.Name, Container: r.Container, Current: autoscalingv2.MetricValueStatus{
			AverageUtilization: r.CurrentAverageUtilization, AverageValue: quantityIfSet(r.CurrentAverageValue, r.CurrentAverageUtilization != nil)}}
	case m.External != nil:
		e := m.External
		out.External = &autoscalingv2.ExternalMetricStatus{Metric: autoscalingv2.MetricIdentifier{Name: e.MetricName, Selector: e.MetricSelector},
			Current: autoscalingv2.MetricValueStatus{Value: quantityIfSet(e.CurrentValue, e.CurrentAverageValue != nil), AverageValue: e.CurrentAverageValue}}
	}
	return out
}

// hpaV1Strategy runs autoscaling/v2's rules on the v2 object a v1 one
// stands for, so both views accept and reject the same objects and report
// errors at the same (v2) paths, as Kubernetes does.
func hpaV1Strategy() Strategy {
	v2 := hpaStrategy()
	asV2 := func(obj runtime.Object) *autoscalingv2.HorizontalPodAutoscaler {
		return HPAV1ToV2(obj.(*autoscalingv1.HorizontalPodAutoscaler))
	}
	return Strategy{
		// Defaulting through v2 shows a v1 client what it will read back:
		// the implied CPU target, minReplicas, a filled-in behavior.
		Default: func(obj runtime.Object) {
			h := obj.(*autoscalingv1.HorizontalPodAutoscaler)
			v := asV2(h)
			v2.Default(v)
			back, err := HPAV2ToV1(v)
			if err != nil {
				return
			}
			tm := h.TypeMeta
			*h = *back
			h.TypeMeta = tm
		},
		// Status comes from controllers: what a client wrote into the
		// status annotations goes the way of what it wrote into status.
		PrepareForCreate: func(obj runtime.Object) {
			h := obj.(*autoscalingv1.HorizontalPodAutoscaler)
			h.Status = autoscalingv1.HorizontalPodAutoscalerStatus{}
			setHPAStatusAnnotations(h, nil)
		},
		PrepareForUpdate: func(obj, old runtime.Object) {
			h, oldH := obj.(*autoscalingv1.HorizontalPodAutoscaler), old.(*autoscalingv1.HorizontalPodAutoscaler)
			h.Status = *oldH.Status.DeepCopy()
			setHPAStatusAnnotations(h, oldH.Annotations)
		},
		Validate:       func(obj runtime.Object) field.ErrorList { return v2.Validate(asV2(obj)) },
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList { return v2.ValidateUpdate(asV2(obj), asV2(old)) },
		Columns:        v2.Columns,
		Row:            func(obj runtime.Object, now time.Time) []interface{} { return v2.Row(asV2(obj), now) },
	}
}

// setHPAStatusAnnotations replaces h's status annotations with those in
// from (none when from has none).
func setHPAStatusAnnotations(h *autoscalingv1.HorizontalPodAutoscaler, from map[string]string) {
	for _, key := range []string{hpaCurrentMetricsAnnotation, hpaConditionsAnnotation} {
		v, ok := from[key]
		switch {
		case ok:
			if h.Annotations == nil {
				h.Annotations = map[string]string{}
			}
			h.Annotations[key] = v
		case h.Annotations != nil:
			delete(h.Annotations, key)
		}
	}
	if len(h.Annotations) == 0 {
		h.Annotations = nil
	}
}

// --- events.k8s.io/v1 Events ----------------------------------------------------------

// EventV1ToCore is the core Event an events.k8s.io/v1 Event is stored as.
// Only names differ: regarding is involvedObject, note is message, and the
// deprecated* fields are the core ones the newer API retired.
func EventV1ToCore(in *eventsv1.Event) *corev1.Event {
	in = in.DeepCopy()
	out := &corev1.Event{
		TypeMeta:            metav1.TypeMeta{APIVersion: corev1.SchemeGroupVersion.String(), Kind: "Event"},
		ObjectMeta:          in.ObjectMeta,
		InvolvedObject:      in.Regarding,
		Reason:              in.Reason,
		Message:             in.Note,
		Source:              in.DeprecatedSource,
		FirstTimestamp:      in.DeprecatedFirstTimestamp,
		LastTimestamp:       in.DeprecatedLastTimestamp,
		Count:               in.DeprecatedCount,
		Type:                in.Type,
		EventTime:           in.EventTime,
		Action:              in.Action,
		Related:             in.Related,
		ReportingController: in.ReportingController,
		ReportingInstance:   in.ReportingInstance,
	}
	if s := in.Series; s != nil {
		out.Series = &corev1.EventSeries{Count: s.Count, LastObservedTime: s.LastObservedTime}
	}
	return out
}

// CoreEventToV1 is the reverse of EventV1ToCore.
func CoreEventToV1(in *corev1.Event) *eventsv1.Event {
	in = in.DeepCopy()
	out := &eventsv1.Event{
		TypeMeta:                 metav1.TypeMeta{APIVersion: eventsv1.SchemeGroupVersion.String(), Kind: "Event"},
		ObjectMeta:               in.ObjectMeta,
		EventTime:                in.EventTime,
		ReportingController:      in.ReportingController,
		ReportingInstance:        in.ReportingInstance,
		Action:                   in.Action,
		Reason:                   in.Reason,
		Regarding:                in.InvolvedObject,
		Related:                  in.Related,
		Note:                     in.Message,
		Type:                     in.Type,
		DeprecatedSource:         in.Source,
		DeprecatedFirstTimestamp: in.FirstTimestamp,
		DeprecatedLastTimestamp:  in.LastTimestamp,
		DeprecatedCount:          in.Count,
	}
	if s := in.Series; s != nil {
		out.Series = &eventsv1.EventSeries{Count: s.Count, LastObservedTime: s.LastObservedTime}
	}
	return out
}

// eventV1Strategy holds events.k8s.io/v1 to the stricter rules Kubernetes
// applies to events written through it (the core API keeps accepting what
// old recorders send). Errors name the fields by their events.k8s.io/v1
// names, which is what the client sent.
func eventV1Strategy() Strategy {
	return Strategy{
		Validate: func(obj runtime.Object) field.ErrorList { return validateEventV1(obj.(*eventsv1.Event)) },
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
			return validateEventV1Update(obj.(*eventsv1.Event), old.(*eventsv1.Event))
		},
		Columns: eventColumns,
		Row: func(obj runtime.Object, now time.Time) []interface{} {
			return eventRow(EventV1ToCore(obj.(*eventsv1.Event)), now)
		},
		Fields: func(obj runtime.Object) fields.Set { return eventV1Fields(obj.(*eventsv1.Event)) },
	}
}

// eventV1Fields are the core event's field selectors under the
// events.k8s.io/v1 names.
func eventV1Fields(e *eventsv1.Event) fields.Set {
	r := e.Regarding
	return fields.Set{
		"regarding.kind":            r.Kind,
		"regarding.namespace":       r.Namespace,
		"regarding.name":            r.Name,
		"regarding.uid":             string(r.UID),
		"regarding.apiVersion":      r.APIVersion,
		"regarding.resourceVersion": r.ResourceVersion,
		"regarding.fieldPath":       r.FieldPath,
		"reason":                    e.Reason,
		"reportingController":       e.ReportingController,
		"type":                      e.Type,
	}
}

// validateEventV1Common are the rules for every event written through
// events.k8s.io/v1, old-style ones (no eventTime) included.
func validateEventV1Common(e *eventsv1.Event) field.ErrorList {
	var errs field.ErrorList
	nsPath := field.NewPath("regarding", "namespace")
	if e.EventTime.IsZero() {
		// Events about cluster-scoped objects go to "default".
		if e.Regarding.Namespace == "" {
			if e.Namespace != metav1.NamespaceNone && e.Namespace != metav1.NamespaceDefault {
				errs = append(errs, field.Invalid(nsPath, e.Regarding.Namespace, "does not match event.namespace"))
			}
		} else if e.Namespace != e.Regarding.Namespace {
			errs = append(errs, field.Invalid(nsPath, e.Regarding.Namespace, "does not match event.namespace"))
		}
		return errs
	}
	if e.Regarding.Namespace == "" && e.Namespace != metav1.NamespaceDefault && e.Namespace != metav1.NamespaceSystem {
		errs = append(errs, field.Invalid(nsPath, e.Regarding.Namespace, "does not match event.namespace"))
	}
	rc := field.NewPath("reportingController")
	if e.ReportingController == "" {
		errs = append(errs, field.Required(rc, ""))
	}
	errs = append(errs, validateQualifiedName(e.ReportingController, rc)...)
	limit := func(value string, max int, fld *field.Path, required bool) {
		if required && value == "" {
			errs = append(errs, field.Required(fld, ""))
		}
		if len(value) > max {
			errs = append(errs, field.Invalid(fld, "", fmt.Sprintf("can have at most %v characters", max)))
		}
	}
	limit(e.ReportingInstance, eventReportingInstanceMax, field.NewPath("reportingInstance"), true)
	limit(e.Action, eventActionMax, field.NewPath("action"), true)
	limit(e.Reason, eventReasonMax, field.NewPath("reason"), true)
	limit(e.Note, eventNoteMax, field.NewPath("note"), false)
	return errs
}

func validateEventV1Series(e *eventsv1.Event) field.ErrorList {
	var errs field.ErrorList
	if s := e.Series; s != nil {
		// A series is a repeat: it starts at the second occurrence.
		if s.Count < 2 {
			errs = append(errs, field.Invalid(field.NewPath("series", "count"), "", "should be at least 2"))
		}
		if s.LastObservedTime.IsZero() {
			errs = append(errs, field.Required(field.NewPath("series", "lastObservedTime"), ""))
		}
	}
	return errs
}

func validateEventV1(e *eventsv1.Event) field.ErrorList {
	errs := wlValidateMeta(&e.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	errs = append(errs, validateEventV1Common(e)...)
	errs = append(errs, validateEventV1Series(e)...)
	if e.EventTime.IsZero() {
		errs = append(errs, field.Required(field.NewPath("eventTime"), ""))
	}
	if e.Type != corev1.EventTypeNormal && e.Type != corev1.EventTypeWarning {
		errs = append(errs, field.Invalid(field.NewPath("type"), "", fmt.Sprintf("has invalid value: %v", e.Type)))
	}
	// The deprecated fields exist to show events old recorders wrote; new
	// events use eventTime and series instead.
	if !e.DeprecatedFirstTimestamp.IsZero() {
		errs = append(errs, field.Invalid(field.NewPath("deprecatedFirstTimestamp"), "", "needs to be unset"))
	}
	if !e.DeprecatedLastTimestamp.IsZero() {
		errs = append(errs, field.Invalid(field.NewPath("deprecatedLastTimestamp"), "", "needs to be unset"))
	}
	if e.DeprecatedCount != 0 {
		errs = append(errs, field.Invalid(field.NewPath("deprecatedCount"), "", "needs to be unset"))
	}
	if e.DeprecatedSource.Component != "" || e.DeprecatedSource.Host != "" {
		errs = append(errs, field.Invalid(field.NewPath("deprecatedSource"), "", "needs to be unset"))
	}
	return errs
}

// validateEventV1Update lets an event's series grow and nothing else
// change: an event records what happened.
func validateEventV1Update(e, old *eventsv1.Event) field.ErrorList {
	errs := wlValidateMeta(&e.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	errs = append(errs, validateEventV1Common(e)...)
	if !apiequality.Semantic.DeepEqual(e.Series, old.Series) {
		errs = append(errs, validateEventV1Series(e)...)
	}
	immutable := func(a, b interface{}, name string) {
		errs = append(errs, wlImmutable(a, b, field.NewPath(name))...)
	}
	immutable(e.Regarding, old.Regarding, "regarding")
	immutable(e.Reason, old.Reason, "reason")
	immutable(e.Note, old.Note, "note")
	immutable(e.DeprecatedSource, old.DeprecatedSource, "deprecatedSource")
	immutable(e.DeprecatedFirstTimestamp, old.DeprecatedFirstTimestamp, "deprecatedFirstTimestamp")
	immutable(e.DeprecatedLastTimestamp, old.DeprecatedLastTimestamp, "deprecatedLastTimestamp")
	immutable(e.DeprecatedCount, old.DeprecatedCount, "deprecatedCount")
	immutable(e.Type, old.Type, "type")
	// Clients that round eventTime to microseconds on the wire must be able
	// to write back what they read.
	if !e.EventTime.Truncate(time.Microsecond).Equal(old.EventTime.Truncate(time.Microsecond)) {
		immutable(e.EventTime, old.EventTime, "eventTime")
	}
	immutable(e.Action, old.Action, "action")
	immutable(e.Related, old.Related, "related")
	immutable(e.ReportingController, old.ReportingController, "reportingController")
	immutable(e.ReportingInstance, old.ReportingInstance, "reportingInstance")
	return errs
}
