package api

// Helpers shared by the workload strategies (strategy_apps.go) and the other
// group strategies (strategy_other.go, other_*.go).

import (
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ageOf renders an AGE cell the way kubectl does ("5m", "3d2h"); a zero
// timestamp, which only objects not yet stored have, shows as "<unknown>".
func ageOf(ts metav1.Time, now time.Time) string {
	if ts.IsZero() {
		return "<unknown>"
	}
	return HumanDuration(now.Sub(ts.Time))
}

// Column constructors keep the column tables short. Names use Kubernetes'
// own casing ("Up-to-date"); kubectl upper-cases them when printing.
func wlNameColumn() metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]}
}

func wlAgeColumn() metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]}
}

func wlColumn(name, typ, desc string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: typ, Description: desc}
}

// wideColumn is shown only by `kubectl get -o wide`.
func wlWideColumn(name, typ, desc string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: typ, Priority: 1, Description: desc}
}

// templateColumns are the CONTAINERS and IMAGES wide columns every workload
// shows.
func wlTemplateColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		wlWideColumn("Containers", "string", "Names of each container in the template."),
		wlWideColumn("Images", "string", "Images referenced by each container in the template."),
	}
}

// wlInt32 reads an optional count; nil means the field was never set.
func wlInt32(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

func wlBool(p *bool) bool { return p != nil && *p }

// --- validation helpers ----------------------------------------------------

// validateMeta checks metadata the way Kubernetes does for the kind: name
// format from nameFn, namespace required or forbidden by scope.
func wlValidateMeta(meta *metav1.ObjectMeta, namespaced bool, nameFn apivalidation.ValidateNameFunc) field.ErrorList {
	return apivalidation.ValidateObjectMeta(meta, namespaced, nameFn, field.NewPath("metadata"))
}

func wlNonNegative(v int64, fld *field.Path) field.ErrorList {
	return apivalidation.ValidateNonnegativeField(v, fld)
}

func wlNonNegativePtr(v *int32, fld *field.Path) field.ErrorList {
	if v == nil {
		return nil
	}
	return apivalidation.ValidateNonnegativeField(int64(*v), fld)
}

func wlImmutable(newVal, oldVal interface{}, fld *field.Path) field.ErrorList {
	return apivalidation.ValidateImmutableField(newVal, oldVal, fld)
}

// validateWorkloadSelector checks a required, non-empty selector that must
// select the pod template's labels: the rules Deployments, ReplicaSets,
// DaemonSets and StatefulSets share. kind ends the "empty selector" message
// as Kubernetes words it for each kind.
func wlValidateSelector(sel *metav1.LabelSelector, templateLabels map[string]string, kind string, spec *field.Path) field.ErrorList {
	var errs field.ErrorList
	selPath := spec.Child("selector")
	if sel == nil {
		return append(errs, field.Required(selPath, ""))
	}
	errs = append(errs, metav1validation.ValidateLabelSelector(sel, metav1validation.LabelSelectorValidationOptions{}, selPath)...)
	if len(sel.MatchLabels)+len(sel.MatchExpressions) == 0 {
		errs = append(errs, field.Invalid(selPath, sel, "empty selector is invalid for "+kind))
		return errs
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return append(errs, field.Invalid(selPath, sel, "invalid label selector"))
	}
	if !s.Matches(labels.Set(templateLabels)) {
		errs = append(errs, field.Invalid(spec.Child("template", "metadata", "labels"), templateLabels,
			"`selector` does not match template `labels`"))
	}
	return errs
}

// validateAlwaysRestart holds the template rules of controllers whose pods
// run forever: restartPolicy Always and no activeDeadlineSeconds.
func wlValidateAlwaysRestart(t *corev1.PodTemplateSpec, tmpl *field.Path, kind string) field.ErrorList {
	var errs field.ErrorList
	if t.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		errs = append(errs, field.NotSupported(tmpl.Child("spec", "restartPolicy"), t.Spec.RestartPolicy,
			[]string{string(corev1.RestartPolicyAlways)}))
	}
	if t.Spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, field.Forbidden(tmpl.Child("spec", "activeDeadlineSeconds"),
			"activeDeadlineSeconds in "+kind+" is not Supported"))
	}
	return errs
}

// percentValue returns the number in "25%" and whether v is such a string.
func wlPercentValue(v intstr.IntOrString) (int, bool) {
	if v.Type != intstr.String || len(validation.IsValidPercent(v.StrVal)) != 0 {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSuffix(v.StrVal, "%"))
	if err != nil {
		return 0, false
	}
	return n, true
}

// intOrPercentValue reads an optional maxSurge/maxUnavailable; nil counts as
// zero, like an unset value would be treated by the controllers.
func wlIntOrPercentValue(v *intstr.IntOrString) int {
	if v == nil {
		return 0
	}
	if n, ok := wlPercentValue(*v); ok {
		return n
	}
	if v.Type == intstr.Int {
		return int(v.IntVal)
	}
	return 0
}

// validateIntOrPercent accepts a non-negative integer or a "N%" string, and
// with max100 rejects percentages above 100%.
func wlValidateIntOrPercent(v *intstr.IntOrString, fld *field.Path, max100 bool) field.ErrorList {
	if v == nil {
		return nil
	}
	var errs field.ErrorList
	switch v.Type {
	case intstr.String:
		for _, msg := range validation.IsValidPercent(v.StrVal) {
			errs = append(errs, field.Invalid(fld, v.StrVal, msg))
		}
	case intstr.Int:
		errs = append(errs, wlNonNegative(int64(v.IntVal), fld)...)
	default:
		errs = append(errs, field.Invalid(fld, v, "must be an integer or percentage (e.g '5%')"))
	}
	if n, ok := wlPercentValue(*v); ok && max100 && n > 100 {
		errs = append(errs, field.Invalid(fld, v.StrVal, "must not be greater than 100%"))
	}
	return errs
}

// templatesEqual reports whether two pod templates are the same once both
// are defaulted, so that a client omitting defaulted fields does not count as
// a change.
func wlTemplatesEqual(a, b *corev1.PodTemplateSpec) bool {
	a, b = a.DeepCopy(), b.DeepCopy()
	DefaultPodSpec(&a.Spec)
	DefaultPodSpec(&b.Spec)
	return apiequality.Semantic.DeepEqual(a, b)
}
