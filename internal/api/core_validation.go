package api

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Validation helpers shared by the core strategies. Messages and field paths
// follow Kubernetes' so that `kubectl` users see the errors they know.

const (
	isNegativeErrorMsg   = "must be greater than or equal to 0"
	isNotIntegerErrorMsg = "must be an integer"
	fileModeErrorMsg     = "must be a number between 0 and 0777 (octal), both inclusive"
)

var metadataPath = field.NewPath("metadata")

// validateNamespacedMeta checks metadata of a namespaced object whose name
// must satisfy nameFn.
func validateNamespacedMeta(m *metav1.ObjectMeta, nameFn apivalidation.ValidateNameFunc) field.ErrorList {
	return validateMeta(m, true, nameFn)
}

// validateClusterMeta checks metadata of a cluster-scoped object: a
// namespace is forbidden.
func validateClusterMeta(m *metav1.ObjectMeta, nameFn apivalidation.ValidateNameFunc) field.ErrorList {
	return validateMeta(m, false, nameFn)
}

// validateMeta is apimachinery's ValidateObjectMeta with labels and
// annotations checked in key order: apimachinery walks those maps in Go's
// random order, and the same object must always get the same errors.
func validateMeta(m *metav1.ObjectMeta, requiresNamespace bool, nameFn apivalidation.ValidateNameFunc) field.ErrorList {
	rest := *m
	rest.Labels, rest.Annotations = nil, nil
	errs := apivalidation.ValidateObjectMeta(&rest, requiresNamespace, nameFn, metadataPath)
	errs = append(errs, validateLabels(m.Labels, metadataPath.Child("labels"))...)
	errs = append(errs, validateAnnotations(m.Annotations, metadataPath.Child("annotations"))...)
	return errs
}

// validateAnnotations checks annotation keys in order, then the total size.
func validateAnnotations(annotations map[string]string, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, k := range sortedKeys(annotations) {
		errs = append(errs, apivalidation.ValidateAnnotations(map[string]string{k: ""}, fld)...)
	}
	if err := apivalidation.ValidateAnnotationsSize(annotations); err != nil {
		errs = append(errs, field.TooLong(fld, "", apivalidation.TotalAnnotationSizeLimitB))
	}
	return errs
}

func validateDNS1123Label(value string, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Label(value) {
		errs = append(errs, field.Invalid(fld, value, msg))
	}
	return errs
}

func validateDNS1123Subdomain(value string, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Subdomain(value) {
		errs = append(errs, field.Invalid(fld, value, msg))
	}
	return errs
}

func validateQualifiedName(value string, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsQualifiedName(value) {
		errs = append(errs, field.Invalid(fld, value, msg))
	}
	return errs
}

func validateNonnegative(value int64, fld *field.Path) field.ErrorList {
	return apivalidation.ValidateNonnegativeField(value, fld)
}

// validatePortNumOrName checks an IntOrString port: a number in 1-65535 or
// an IANA_SVC_NAME.
func validatePortNumOrName(port intstr.IntOrString, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch port.Type {
	case intstr.Int:
		for _, msg := range validation.IsValidPortNum(port.IntValue()) {
			errs = append(errs, field.Invalid(fld, port.IntValue(), msg))
		}
	case intstr.String:
		for _, msg := range validation.IsValidPortName(port.StrVal) {
			errs = append(errs, field.Invalid(fld, port.StrVal, msg))
		}
	default:
		errs = append(errs, field.InternalError(fld, fmt.Errorf("unknown type: %v", port.Type)))
	}
	return errs
}

func validatePortNum(port int32, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsValidPortNum(int(port)) {
		errs = append(errs, field.Invalid(fld, port, msg))
	}
	return errs
}

var supportedPortProtocols = []corev1.Protocol{corev1.ProtocolSCTP, corev1.ProtocolTCP, corev1.ProtocolUDP}

func validateProtocol(p corev1.Protocol, fld *field.Path) field.ErrorList {
	if p == "" {
		return field.ErrorList{field.Required(fld, "")}
	}
	for _, s := range supportedPortProtocols {
		if p == s {
			return nil
		}
	}
	return field.ErrorList{field.NotSupported(fld, p, supportedPortProtocols)}
}

// validateEnum reports Required for an empty value and NotSupported for a
// value outside valid.
func validateEnum[T ~string](value T, valid []T, fld *field.Path) field.ErrorList {
	if value == "" {
		return field.ErrorList{field.Required(fld, "")}
	}
	for _, v := range valid {
		if v == value {
			return nil
		}
	}
	return field.ErrorList{field.NotSupported(fld, value, valid)}
}

// validateOptionalEnum is validateEnum where empty means "unset".
func validateOptionalEnum[T ~string](value T, valid []T, fld *field.Path) field.ErrorList {
	if value == "" {
		return nil
	}
	return validateEnum(value, valid, fld)
}

// validateLabels checks label keys and values in key order (see
// validateMeta).
func validateLabels(labels map[string]string, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, k := range sortedKeys(labels) {
		errs = append(errs, metav1validation.ValidateLabels(map[string]string{k: labels[k]}, fld)...)
	}
	return errs
}

// sortedKeys returns a map's keys in order: Go randomises map iteration and
// validation must report errors in a stable order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sortedResourceNames(list corev1.ResourceList) []corev1.ResourceName {
	names := make([]corev1.ResourceName, 0, len(list))
	for k := range list {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool { return names[i] < names[j] })
	return names
}

// isNativeResource is a resource defined by Kubernetes: no domain, or a
// kubernetes.io domain.
func isNativeResource(name corev1.ResourceName) bool {
	return !strings.Contains(string(name), "/") || strings.Contains(string(name), corev1.ResourceDefaultNamespacePrefix)
}

func isHugePageResource(name corev1.ResourceName) bool {
	return strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix)
}

// isOvercommitAllowed: requests may be below limits only for native,
// non-hugepage resources; extended resources need requests == limits.
func isOvercommitAllowed(name corev1.ResourceName) bool {
	return isNativeResource(name) && !isHugePageResource(name)
}

// integerResources are counted resources that cannot be fractional.
var integerResources = map[corev1.ResourceName]bool{
	corev1.ResourcePods: true, corev1.ResourceServices: true, corev1.ResourceReplicationControllers: true,
	corev1.ResourceQuotas: true, corev1.ResourceSecrets: true, corev1.ResourceConfigMaps: true,
	corev1.ResourcePersistentVolumeClaims: true, corev1.ResourceServicesNodePorts: true,
	corev1.ResourceServicesLoadBalancers: true,
}

func isIntegerResourceName(name corev1.ResourceName) bool {
	return integerResources[name] || strings.HasPrefix(string(name), "count/") || !isNativeResource(name)
}

// validateQuantity checks a resource quantity is non-negative and, for
// counted or extended resources, whole.
func validateQuantity(name corev1.ResourceName, q resource.Quantity, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if q.Sign() < 0 {
		errs = append(errs, field.Invalid(fld, q.String(), isNegativeErrorMsg))
	}
	if isIntegerResourceName(name) && q.MilliValue()%1000 != 0 {
		errs = append(errs, field.Invalid(fld, q.String(), isNotIntegerErrorMsg))
	}
	return errs
}

// validatePositiveQuantity is for sizes that must be above zero (PV
// capacity, PVC storage requests).
func validatePositiveQuantity(q resource.Quantity, fld *field.Path) field.ErrorList {
	if q.Sign() <= 0 {
		return field.ErrorList{field.Invalid(fld, q.String(), "must be greater than zero")}
	}
	return nil
}

// validateFileMode checks a volume file mode (0-0777).
func validateFileMode(mode *int32, fld *field.Path) field.ErrorList {
	if mode != nil && (*mode < 0 || *mode > 0777) {
		return field.ErrorList{field.Invalid(fld, *mode, fileModeErrorMsg)}
	}
	return nil
}

// validateRelativePath checks a path inside a volume: relative and without
// ".." segments, so it cannot escape the volume.
func validateRelativePath(p string, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if strings.HasPrefix(p, "/") {
		errs = append(errs, field.Invalid(fld, p, "must be a relative path"))
	}
	errs = append(errs, validateNoBacksteps(p, fld)...)
	return errs
}

func validateNoBacksteps(p string, fld *field.Path) field.ErrorList {
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return field.ErrorList{field.Invalid(fld, p, "must not contain '..'")}
		}
	}
	return nil
}

func validateIP(ip string, fld *field.Path) field.ErrorList {
	return validation.IsValidIP(fld, ip)
}

var supportedTaintEffects = []corev1.TaintEffect{corev1.TaintEffectNoExecute, corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule}

func validateTaintEffect(effect corev1.TaintEffect, allowEmpty bool, fld *field.Path) field.ErrorList {
	if effect == "" && allowEmpty {
		return nil
	}
	return validateEnum(effect, supportedTaintEffects, fld)
}

// validateTolerations checks pod tolerations as Kubernetes does.
func validateTolerations(tolerations []corev1.Toleration, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, t := range tolerations {
		p := fld.Index(i)
		if t.Key != "" {
			errs = append(errs, metav1validation.ValidateLabelName(t.Key, p.Child("key"))...)
		}
		// An empty key with operator Exists matches every taint; with any
		// other operator it matches nothing, which is surely a mistake.
		if t.Key == "" && t.Operator != corev1.TolerationOpExists {
			errs = append(errs, field.Invalid(p.Child("operator"), t.Operator,
				"operator must be Exists when `key` is empty, which means \"match all values and all keys\""))
		}
		if t.TolerationSeconds != nil && t.Effect != corev1.TaintEffectNoExecute {
			errs = append(errs, field.Invalid(p.Child("effect"), t.Effect, "effect must be 'NoExecute' when `tolerationSeconds` is set"))
		}
		switch t.Operator {
		case corev1.TolerationOpEqual, "":
			if msgs := validation.IsValidLabelValue(t.Value); len(msgs) != 0 {
				errs = append(errs, field.Invalid(p.Child("operator"), t.Value, strings.Join(msgs, ";")))
			}
		case corev1.TolerationOpExists:
			if t.Value != "" {
				errs = append(errs, field.Invalid(p.Child("operator"), t.Value, "value must be empty when `operator` is 'Exists'"))
			}
		default:
			errs = append(errs, field.NotSupported(p.Child("operator"), t.Operator,
				[]corev1.TolerationOperator{corev1.TolerationOpEqual, corev1.TolerationOpExists}))
		}
		errs = append(errs, validateTaintEffect(t.Effect, true, p.Child("effect"))...)
	}
	return errs
}

// validateTaints checks node taints: key/effect required, unique by
// key+effect.
func validateTaints(taints []corev1.Taint, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := map[string]bool{}
	for i, t := range taints {
		p := fld.Index(i)
		errs = append(errs, metav1validation.ValidateLabelName(t.Key, p.Child("key"))...)
		if msgs := validation.IsValidLabelValue(t.Value); len(msgs) != 0 {
			errs = append(errs, field.Invalid(p.Child("value"), t.Value, strings.Join(msgs, ";")))
		}
		errs = append(errs, validateTaintEffect(t.Effect, false, p.Child("effect"))...)
		key := string(t.Effect) + "\x00" + t.Key
		if seen[key] {
			e := field.Duplicate(p, t.Key)
			e.Detail = "taints must be unique by key and effect pair"
			errs = append(errs, e)
			continue
		}
		seen[key] = true
	}
	return errs
}

// validateLabelSelector checks a metav1 label selector.
func validateLabelSelector(sel *metav1.LabelSelector, fld *field.Path) field.ErrorList {
	if sel == nil {
		return nil
	}
	errs := validateLabels(sel.MatchLabels, fld.Child("matchLabels"))
	for i, r := range sel.MatchExpressions {
		errs = append(errs, metav1validation.ValidateLabelSelectorRequirement(r, metav1validation.LabelSelectorValidationOptions{},
			fld.Child("matchExpressions").Index(i))...)
	}
	return errs
}
