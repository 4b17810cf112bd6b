package api

// batch/v1: Jobs and CronJobs.

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Labels Kubernetes still puts on a Job's pods beside the
// batch.kubernetes.io/ ones, for selectors written before 1.27.
const (
	legacyJobNameLabel       = "job-name"
	legacyControllerUIDLabel = "controller-uid"
)

// Limits Kubernetes puts on indexed Jobs and on the policies' lists.
const (
	maxParallelismForIndexedJob = 100000
	maxCompletionsWithPerIndex  = 100000
	maxPodFailurePolicyRules    = 20
	maxSuccessPolicyRules       = 20
	maxManagedByLength          = 63
	// A CronJob's name plus the 11 characters of "-<minutes since epoch>"
	// must still fit the job-name label (63 characters).
	maxCronJobNameLength = 52
)

// --- Job -----------------------------------------------------------------------

func jobStrategy() Strategy {
	return Strategy{
		Default: func(obj runtime.Object) { defaultJob(obj.(*batchv1.Job)) },
		Validate: func(obj runtime.Object) field.ErrorList {
			return validateJob(obj.(*batchv1.Job))
		},
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
			return validateJobUpdate(obj.(*batchv1.Job), old.(*batchv1.Job))
		},
		Columns: append([]metav1.TableColumnDefinition{
			wlNameColumn(),
			wlColumn("Status", "string", "Status of the job."),
			wlColumn("Completions", "string", batchv1.JobStatus{}.SwaggerDoc()["succeeded"]),
			wlColumn("Duration", "string", "Time required to complete the job."),
			wlAgeColumn(),
		}, append(wlTemplateColumns(), wlWideColumn("Selector", "string", batchv1.JobSpec{}.SwaggerDoc()["selector"]))...),
		Row: func(obj runtime.Object, now time.Time) []interface{} {
			j := obj.(*batchv1.Job)
			names, images := ContainerCells(j.Spec.Template.Spec.Containers)
			return []interface{}{j.Name, jobStatusCell(j), jobCompletionsCell(j), jobDurationCell(j, now),
				ageOf(j.CreationTimestamp, now), names, images, metav1.FormatLabelSelector(j.Spec.Selector)}
		},
		Fields: func(obj runtime.Object) fields.Set {
			return fields.Set{"status.successful": strconv.Itoa(int(obj.(*batchv1.Job).Status.Succeeded))}
		},
	}
}

func jobHasCondition(j *batchv1.Job, t batchv1.JobConditionType) bool {
	for _, c := range j.Status.Conditions {
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// jobStatusCell is the STATUS column kubectl 1.31+ shows: the most telling
// condition, in Kubernetes' order of precedence.
func jobStatusCell(j *batchv1.Job) string {
	switch {
	case jobHasCondition(j, batchv1.JobComplete):
		return "Complete"
	case jobHasCondition(j, batchv1.JobFailed):
		return "Failed"
	case j.DeletionTimestamp != nil:
		return "Terminating"
	case jobHasCondition(j, batchv1.JobSuspended):
		return "Suspended"
	case jobHasCondition(j, batchv1.JobFailureTarget):
		return "FailureTarget"
	case jobHasCondition(j, batchv1.JobSuccessCriteriaMet):
		return "SuccessCriteriaMet"
	}
	return "Running"
}

// jobCompletionsCell is "succeeded/completions"; a job without completions
// finishes after one success, shown "n/1" (or "n/1 of <parallelism>").
func jobCompletionsCell(j *batchv1.Job) string {
	if j.Spec.Completions != nil {
		return fmt.Sprintf("%d/%d", j.Status.Succeeded, *j.Spec.Completions)
	}
	if p := wlInt32(j.Spec.Parallelism); p > 1 {
		return fmt.Sprintf("%d/1 of %d", j.Status.Succeeded, p)
	}
	return fmt.Sprintf("%d/1", j.Status.Succeeded)
}

func jobDurationCell(j *batchv1.Job, now time.Time) string {
	switch {
	case j.Status.StartTime == nil:
		return ""
	case j.Status.CompletionTime == nil:
		return HumanDuration(now.Sub(j.Status.StartTime.Time))
	}
	return HumanDuration(j.Status.CompletionTime.Sub(j.Status.StartTime.Time))
}

func defaultJob(j *batchv1.Job) {
	s := &j.Spec
	// A job with neither set runs one pod to one success.
	if s.Completions == nil && s.Parallelism == nil {
		s.Completions = wlInt32Ptr(1)
		s.Parallelism = wlInt32Ptr(1)
	}
	if s.Parallelism == nil {
		s.Parallelism = wlInt32Ptr(1)
	}
	if s.BackoffLimit == nil {
		if s.BackoffLimitPerIndex != nil {
			// Per-index limits take over; the global one must not interfere.
			s.BackoffLimit = wlInt32Ptr(math.MaxInt32)
		} else {
			s.BackoffLimit = wlInt32Ptr(6)
		}
	}
	if s.CompletionMode == nil {
		m := batchv1.NonIndexedCompletion
		s.CompletionMode = &m
	}
	if s.Suspend == nil {
		f := false
		s.Suspend = &f
	}
	if s.PodReplacementPolicy == nil {
		// A pod failure policy needs to see pods fully terminated.
		p := batchv1.TerminatingOrFailed
		if s.PodFailurePolicy != nil {
			p = batchv1.Failed
		}
		s.PodReplacementPolicy = &p
	}
	defaultPodFailurePolicy(s.PodFailurePolicy)
	// The uid is set by the server before defaulting on create; without it
	// (a dry run of a bare object) there is nothing to generate from, and
	// validation reports the missing selector.
	if !wlBool(s.ManualSelector) && j.UID != "" {
		generateJobSelector(j)
	}
	// Like Kubernetes, a job without labels of its own shows its pods'.
	if len(j.Labels) == 0 && s.Template.Labels != nil {
		j.Labels = make(map[string]string, len(s.Template.Labels))
		for k, v := range s.Template.Labels {
			j.Labels[k] = v
		}
	}
	DefaultPodSpec(&s.Template.Spec)
}

func defaultPodFailurePolicy(p *batchv1.PodFailurePolicy) {
	if p == nil {
		return
	}
	for i := range p.Rules {
		for k := range p.Rules[i].OnPodConditions {
			if p.Rules[i].OnPodConditions[k].Status == "" {
				p.Rules[i].OnPodConditions[k].Status = corev1.ConditionTrue
			}
		}
	}
}

// generateJobSelector labels the pod template with the job's uid and name
// and selects on the uid, so that a job's pods are its own. Labels the
// client already set are kept: validation rejects them if they conflict.
func generateJobSelector(j *batchv1.Job) {
	t := &j.Spec.Template
	if t.Labels == nil {
		t.Labels = map[string]string{}
	}
	for k, v := range map[string]string{
		legacyJobNameLabel:         j.Name,
		batchv1.JobNameLabel:       j.Name,
		legacyControllerUIDLabel:   string(j.UID),
		batchv1.ControllerUidLabel: string(j.UID),
	} {
		if _, ok := t.Labels[k]; !ok {
			t.Labels[k] = v
		}
	}
	if j.Spec.Selector == nil {
		j.Spec.Selector = &metav1.LabelSelector{}
	}
	if j.Spec.Selector.MatchLabels == nil {
		j.Spec.Selector.MatchLabels = map[string]string{}
	}
	if _, ok := j.Spec.Selector.MatchLabels[batchv1.ControllerUidLabel]; !ok {
		j.Spec.Selector.MatchLabels[batchv1.ControllerUidLabel] = string(j.UID)
	}
}

func validateJob(j *batchv1.Job) field.ErrorList {
	errs := wlValidateMeta(&j.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	errs = append(errs, validateGeneratedJobSelector(j)...)
	return append(errs, validateJobSpec(&j.Spec, field.NewPath("spec"))...)
}

// validateGeneratedJobSelector checks that, unless the client manages the
// selector itself, the generated labels and selector are intact.
func validateGeneratedJobSelector(j *batchv1.Job) field.ErrorList {
	var errs field.ErrorList
	if wlBool(j.Spec.ManualSelector) || j.Spec.Selector == nil {
		return nil // a missing selector is reported by validateJobSpec
	}
	if j.UID == "" {
		errs = append(errs, field.Required(field.NewPath("metadata", "uid"), ""))
	}
	meta := field.NewPath("spec", "template", "metadata", "labels")
	for _, l := range []struct{ key, want string }{
		{legacyControllerUIDLabel, string(j.UID)},
		{legacyJobNameLabel, j.Name},
		{batchv1.ControllerUidLabel, string(j.UID)},
		{batchv1.JobNameLabel, j.Name},
	} {
		got, ok := j.Spec.Template.Labels[l.key]
		switch {
		case !ok:
			errs = append(errs, field.Required(meta.Key(l.key), l.want))
		case got != l.want:
			errs = append(errs, field.Invalid(meta.Key(l.key), got, fmt.Sprintf("must be '%s'", l.want)))
		}
	}
	s, err := metav1.LabelSelectorAsSelector(j.Spec.Selector)
	if err != nil {
		return append(errs, field.Invalid(field.NewPath("spec", "selector"), j.Spec.Selector, "invalid label selector"))
	}
	if !s.Matches(labels.Set{legacyControllerUIDLabel: string(j.UID), batchv1.ControllerUidLabel: string(j.UID)}) {
		errs = append(errs, field.Invalid(field.NewPath("spec", "selector"), j.Spec.Selector, "`selector` not auto-generated"))
	}
	return errs
}

// validateJobSpec checks a Job's spec: the common rules plus a selector that
// selects the template's labels.
func validateJobSpec(s *batchv1.JobSpec, fld *field.Path) field.ErrorList {
	errs := validateJobSpecCommon(s, fld)
	if s.Selector == nil {
		return append(errs, field.Required(fld.Child("selector"), ""))
	}
	errs = append(errs, metav1validation.ValidateLabelSelector(s.Selector, metav1validation.LabelSelectorValidationOptions{}, fld.Child("selector"))...)
	if sel, err := metav1.LabelSelectorAsSelector(s.Selector); err == nil && !sel.Matches(labels.Set(s.Template.Labels)) {
		errs = append(errs, field.Invalid(fld.Child("template", "metadata", "labels"), s.Template.Labels,
			"`selector` does not match template `labels`"))
	}
	return errs
}

// validateJobSpecCommon holds the rules a Job and a CronJob's job template
// share.
func validateJobSpecCommon(s *batchv1.JobSpec, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, wlNonNegativePtr(s.Parallelism, fld.Child("parallelism"))...)
	errs = append(errs, wlNonNegativePtr(s.Completions, fld.Child("completions"))...)
	if s.ActiveDeadlineSeconds != nil {
		errs = append(errs, wlNonNegative(*s.ActiveDeadlineSeconds, fld.Child("activeDeadlineSeconds"))...)
	}
	errs = append(errs, wlNonNegativePtr(s.BackoffLimit, fld.Child("backoffLimit"))...)
	errs = append(errs, wlNonNegativePtr(s.TTLSecondsAfterFinished, fld.Child("ttlSecondsAfterFinished"))...)
	errs = append(errs, wlNonNegativePtr(s.BackoffLimitPerIndex, fld.Child("backoffLimitPerIndex"))...)
	if s.MaxFailedIndexes != nil {
		errs = append(errs, wlNonNegative(int64(*s.MaxFailedIndexes), fld.Child("maxFailedIndexes"))...)
		if s.BackoffLimitPerIndex == nil {
			errs = append(errs, field.Required(fld.Child("backoffLimitPerIndex"), "when maxFailedIndexes is specified"))
		}
	}
	if s.ManagedBy != nil {
		if len(*s.ManagedBy) > maxManagedByLength {
			errs = append(errs, field.TooLong(fld.Child("managedBy"), "", maxManagedByLength))
		}
		errs = append(errs, validation.IsDomainPrefixedPath(fld.Child("managedBy"), *s.ManagedBy)...)
	}

	indexed := s.CompletionMode != nil && *s.CompletionMode == batchv1.IndexedCompletion
	if m := s.CompletionMode; m != nil && *m != batchv1.NonIndexedCompletion && *m != batchv1.IndexedCompletion {
		errs = append(errs, field.NotSupported(fld.Child("completionMode"), *m,
			[]string{string(batchv1.NonIndexedCompletion), string(batchv1.IndexedCompletion)}))
	}
	if indexed {
		// Indexes run from 0 to completions-1: without completions there
		// is no index range.
		if s.Completions == nil {
			errs = append(errs, field.Required(fld.Child("completions"), "when completion mode is Indexed"))
		}
		if p := s.Parallelism; p != nil && *p > maxParallelismForIndexedJob {
			errs = append(errs, field.Invalid(fld.Child("parallelism"), *p,
				fmt.Sprintf("must be less than or equal to %d when completion mode is Indexed", maxParallelismForIndexedJob)))
		}
		if s.Completions != nil && s.MaxFailedIndexes != nil && *s.MaxFailedIndexes > *s.Completions {
			errs = append(errs, field.Invalid(fld.Child("maxFailedIndexes"), *s.MaxFailedIndexes, "must be less than or equal to completions"))
		}
		if s.Completions != nil && s.BackoffLimitPerIndex != nil && *s.Completions > maxCompletionsWithPerIndex {
			errs = append(errs, field.Invalid(fld.Child("completions"), *s.Completions,
				fmt.Sprintf("must be less than or equal to %d when backoffLimitPerIndex is specified", maxCompletionsWithPerIndex)))
		}
	} else {
		if s.BackoffLimitPerIndex != nil {
			errs = append(errs, field.Invalid(fld.Child("backoffLimitPerIndex"), *s.BackoffLimitPerIndex, "requires indexed completion mode"))
		}
		if s.MaxFailedIndexes != nil {
			errs = append(errs, field.Invalid(fld.Child("maxFailedIndexes"), *s.MaxFailedIndexes, "requires indexed completion mode"))
		}
	}

	if s.PodFailurePolicy != nil {
		errs = append(errs, validatePodFailurePolicy(s, fld.Child("podFailurePolicy"))...)
	}
	if s.SuccessPolicy != nil {
		errs = append(errs, validateSuccessPolicy(s, fld.Child("successPolicy"))...)
	}
	if p := s.PodReplacementPolicy; p != nil {
		pp := fld.Child("podReplacementPolicy")
		switch {
		case s.PodFailurePolicy != nil && *p != batchv1.Failed:
			errs = append(errs, field.NotSupported(pp, *p, []string{string(batchv1.Failed)}))
		case *p != batchv1.Failed && *p != batchv1.TerminatingOrFailed:
			errs = append(errs, field.NotSupported(pp, *p, []string{string(batchv1.Failed), string(batchv1.TerminatingOrFailed)}))
		}
	}

	tmpl := fld.Child("template")
	errs = append(errs, ValidatePodTemplateSpec(&s.Template, tmpl)...)
	// Pods of a job run to completion: "Always" (the pod default) would
	// restart them forever.
	switch rp := s.Template.Spec.RestartPolicy; {
	case rp != corev1.RestartPolicyOnFailure && rp != corev1.RestartPolicyNever:
		errs = append(errs, field.NotSupported(tmpl.Child("spec", "restartPolicy"), rp,
			[]string{string(corev1.RestartPolicyOnFailure), string(corev1.RestartPolicyNever)}))
	case rp == corev1.RestartPolicyOnFailure && s.PodFailurePolicy != nil:
		errs = append(errs, field.Invalid(tmpl.Child("spec", "restartPolicy"), rp,
			fmt.Sprintf("only %q is supported when podFailurePolicy is specified", corev1.RestartPolicyNever)))
	}
	return errs
}

func validatePodFailurePolicy(s *batchv1.JobSpec, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	rules := s.PodFailurePolicy.Rules
	rulesPath := fld.Child("rules")
	if len(rules) > maxPodFailurePolicyRules {
		errs = append(errs, field.TooMany(rulesPath, len(rules), maxPodFailurePolicyRules))
	}
	containers := map[string]bool{}
	for _, c := range s.Template.Spec.InitContainers {
		containers[c.Name] = true
	}
	for _, c := range s.Template.Spec.Containers {
		containers[c.Name] = true
	}
	actions := []string{string(batchv1.PodFailurePolicyActionCount), string(batchv1.PodFailurePolicyActionFailIndex),
		string(batchv1.PodFailurePolicyActionFailJob), string(batchv1.PodFailurePolicyActionIgnore)}
	for i, r := range rules {
		rp := rulesPath.Index(i)
		ap := rp.Child("action")
		switch r.Action {
		case "":
			errs = append(errs, field.Required(ap, fmt.Sprintf("valid values: %q", actions)))
		case batchv1.PodFailurePolicyActionFailIndex:
			if s.BackoffLimitPerIndex == nil {
				errs = append(errs, field.Invalid(ap, r.Action, "requires the backoffLimitPerIndex to be set"))
			}
		case batchv1.PodFailurePolicyActionCount, batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyActionIgnore:
		default:
			errs = append(errs, field.NotSupported(ap, r.Action, actions))
		}
		switch {
		case r.OnExitCodes == nil && len(r.OnPodConditions) == 0:
			errs = append(errs, field.Invalid(rp, field.OmitValueType{}, "specifying one of OnExitCodes and OnPodConditions is required"))
		case r.OnExitCodes != nil && len(r.OnPodConditions) > 0:
			errs = append(errs, field.Invalid(rp, field.OmitValueType{}, "specifying both OnExitCodes and OnPodConditions is not supported"))
		}
		if ec := r.OnExitCodes; ec != nil {
			ep := rp.Child("onExitCodes")
			if ec.ContainerName != nil && !containers[*ec.ContainerName] {
				errs = append(errs, field.Invalid(ep.Child("containerName"), *ec.ContainerName,
					"must be one of the container or initContainer names in the pod template"))
			}
			if ec.Operator != batchv1.PodFailurePolicyOnExitCodesOpIn && ec.Operator != batchv1.PodFailurePolicyOnExitCodesOpNotIn {
				errs = append(errs, field.NotSupported(ep.Child("operator"), ec.Operator, []string{
					string(batchv1.PodFailurePolicyOnExitCodesOpIn), string(batchv1.PodFailurePolicyOnExitCodesOpNotIn)}))
			}
			vp := ep.Child("values")
			if len(ec.Values) == 0 {
				errs = append(errs, field.Invalid(vp, ec.Values, "at least one value is required"))
			}
			for k, v := range ec.Values {
				// 0 is success: "In [0]" would treat successes as failures.
				if ec.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn && v == 0 {
					errs = append(errs, field.Invalid(vp.Index(k), v, "must not be 0 for the In operator"))
				}
				if k > 0 && ec.Values[k-1] >= v {
					errs = append(errs, field.Invalid(vp.Index(k), v, "must be ordered"))
				}
			}
		}
		for k, c := range r.OnPodConditions {
			cp := rp.Child("onPodConditions").Index(k)
			if c.Type == "" {
				errs = append(errs, field.Required(cp.Child("type"), ""))
			} else {
				for _, msg := range validation.IsQualifiedName(string(c.Type)) {
					errs = append(errs, field.Invalid(cp.Child("type"), c.Type, msg))
				}
			}
			switch c.Status {
			case corev1.ConditionTrue, corev1.ConditionFalse, corev1.ConditionUnknown:
			default:
				errs = append(errs, field.NotSupported(cp.Child("status"), c.Status, []string{
					string(corev1.ConditionFalse), string(corev1.ConditionTrue), string(corev1.ConditionUnknown)}))
			}
		}
	}
	return errs
}

func validateSuccessPolicy(s *batchv1.JobSpec, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.CompletionMode == nil || *s.CompletionMode != batchv1.IndexedCompletion {
		errs = append(errs, field.Invalid(fld, field.OmitValueType{}, "requires indexed completion mode"))
	}
	rulesPath := fld.Child("rules")
	rules := s.SuccessPolicy.Rules
	if len(rules) == 0 {
		errs = append(errs, field.Required(rulesPath, "at least one rules must be specified when the successPolicy is specified"))
	}
	if len(rules) > maxSuccessPolicyRules {
		errs = append(errs, field.TooMany(rulesPath, len(rules), maxSuccessPolicyRules))
	}
	completions := wlInt32(s.Completions)
	for i, r := range rules {
		rp := rulesPath.Index(i)
		if r.SucceededIndexes == nil && r.SucceededCount == nil {
			errs = append(errs, field.Required(rp, fmt.Sprintf("at least one of %s or %s must be specified",
				rp.Child("succeededIndexes"), rp.Child("succeededCount"))))
		}
		indexes := int32(-1)
		if r.SucceededIndexes != nil {
			n, err := countIndexes(*r.SucceededIndexes, completions)
			if err != nil {
				errs = append(errs, field.Invalid(rp.Child("succeededIndexes"), *r.SucceededIndexes,
					fmt.Sprintf("error parsing succeededIndexes: %s", err)))
			}
			indexes = n
		}
		if c := r.SucceededCount; c != nil {
			cp := rp.Child("succeededCount")
			switch {
			case *c < 0:
				errs = append(errs, field.Invalid(cp, *c, apivalidation.IsNegativeErrorMsg))
			case s.Completions != nil && *c > completions:
				errs = append(errs, field.Invalid(cp, *c, fmt.Sprintf("must be less than or equal to %d (the number of specified completions)", completions)))
			case indexes >= 0 && *c > indexes:
				errs = append(errs, field.Invalid(cp, *c, fmt.Sprintf("must be less than or equal to %d (the number of indexes in the specified succeededIndexes field)", indexes)))
			}
		}
	}
	return errs
}

// countIndexes parses an index list such as "0,2-5,7" (ascending,
// non-overlapping, each below completions) and counts the indexes in it.
func countIndexes(s string, completions int32) (int32, error) {
	var n int64
	last := int64(-1)
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		first, err := strconv.ParseInt(lo, 10, 32)
		if err != nil {
			return 0, fmt.Errorf("cannot convert string to integer for index: %q", lo)
		}
		end := first
		if isRange {
			if end, err = strconv.ParseInt(hi, 10, 32); err != nil {
				return 0, fmt.Errorf("cannot convert string to integer for index: %q", hi)
			}
			if end <= first {
				return 0, fmt.Errorf("non-increasing order, previous: %d, current: %d", first, end)
			}
		}
		switch {
		case first < 0:
			return 0, fmt.Errorf("index %d must be non-negative", first)
		case first <= last:
			return 0, fmt.Errorf("overlapping indexes or non-increasing order, previous: %d, current: %d", last, first)
		case end >= int64(completions):
			return 0, fmt.Errorf("too large index: %d", end)
		}
		n += end - first + 1
		last = end
	}
	return int32(n), nil
}

func validateJobUpdate(j, old *batchv1.Job) field.ErrorList {
	errs := validateJob(j)
	spec := field.NewPath("spec")
	s, o := &j.Spec, &old.Spec
	errs = append(errs, wlImmutable(s.Selector, o.Selector, spec.Child("selector"))...)
	errs = append(errs, wlImmutable(s.CompletionMode, o.CompletionMode, spec.Child("completionMode"))...)
	errs = append(errs, wlImmutable(s.PodFailurePolicy, o.PodFailurePolicy, spec.Child("podFailurePolicy"))...)
	errs = append(errs, wlImmutable(s.BackoffLimitPerIndex, o.BackoffLimitPerIndex, spec.Child("backoffLimitPerIndex"))...)
	errs = append(errs, wlImmutable(s.ManagedBy, o.ManagedBy, spec.Child("managedBy"))...)
	errs = append(errs, wlImmutable(s.SuccessPolicy, o.SuccessPolicy, spec.Child("successPolicy"))...)
	errs = append(errs, validateJobCompletionsUpdate(s, o, spec.Child("completions"))...)
	errs = append(errs, validateJobTemplateUpdate(j, old, spec.Child("template"))...)
	return errs
}

// validateJobCompletionsUpdate keeps completions fixed, except that an
// indexed job may be scaled by changing completions and parallelism
// together (elastic indexed jobs).
func validateJobCompletionsUpdate(s, o *batchv1.JobSpec, fld *field.Path) field.ErrorList {
	indexed := s.CompletionMode != nil && *s.CompletionMode == batchv1.IndexedCompletion
	if !indexed {
		return wlImmutable(s.Completions, o.Completions, fld)
	}
	if apiequality.Semantic.DeepEqual(s.Completions, o.Completions) || s.Completions == nil {
		return nil // a nil completions is reported by validateJobSpec
	}
	if s.Parallelism == nil || *s.Completions != *s.Parallelism {
		return field.ErrorList{field.Invalid(fld, *s.Completions, "can only be modified in tandem with spec.parallelism")}
	}
	return nil
}

// validateJobTemplateUpdate keeps the pod template fixed: pods already
// created would not match it. A suspended job that never started may still
// change where its pods go (node affinity, node selector, tolerations,
// labels, annotations, scheduling gates), so queueing systems can place it.
func validateJobTemplateUpdate(j, old *batchv1.Job, fld *field.Path) field.ErrorList {
	oldT := &old.Spec.Template
	if wlBool(old.Spec.Suspend) && old.Status.StartTime == nil {
		t := &j.Spec.Template
		oldT = oldT.DeepCopy()
		switch {
		case t.Spec.Affinity == nil && oldT.Spec.Affinity != nil:
			oldT.Spec.Affinity.NodeAffinity = nil
			if apiequality.Semantic.DeepEqual(*oldT.Spec.Affinity, corev1.Affinity{}) {
				oldT.Spec.Affinity = nil
			}
		case t.Spec.Affinity != nil && oldT.Spec.Affinity == nil:
			oldT.Spec.Affinity = &corev1.Affinity{NodeAffinity: t.Spec.Affinity.NodeAffinity}
		case t.Spec.Affinity != nil:
			oldT.Spec.Affinity.NodeAffinity = t.Spec.Affinity.NodeAffinity
		}
		oldT.Spec.NodeSelector = t.Spec.NodeSelector
		oldT.Spec.Tolerations = t.Spec.Tolerations
		oldT.Spec.SchedulingGates = t.Spec.SchedulingGates
		oldT.Labels = t.Labels
		oldT.Annotations = t.Annotations
	}
	if wlTemplatesEqual(&j.Spec.Template, oldT) {
		return nil
	}
	// The template is too big to echo back usefully.
	return field.ErrorList{field.Invalid(fld, field.OmitValueType{}, apivalidation.FieldImmutableErrorMsg)}
}

// --- CronJob -------------------------------------------------------------------

func cronJobStrategy() Strategy {
	return Strategy{
		Default: func(obj runtime.Object) { defaultCronJob(obj.(*batchv1.CronJob)) },
		Validate: func(obj runtime.Object) field.ErrorList {
			cj := obj.(*batchv1.CronJob)
			errs := validateCronJob(cj, nil)
			if len(cj.Name) > maxCronJobNameLength {
				errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), cj.Name,
					fmt.Sprintf("must be no more than %d characters", maxCronJobNameLength)))
			}
			return errs
		},
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
			// The name length limit is not checked on update, so that
			// CronJobs created before it existed can still be changed.
			return validateCronJob(obj.(*batchv1.CronJob), old.(*batchv1.CronJob))
		},
		Columns: append([]metav1.TableColumnDefinition{
			wlNameColumn(),
			wlColumn("Schedule", "string", batchv1.CronJobSpec{}.SwaggerDoc()["schedule"]),
			wlColumn("Timezone", "string", batchv1.CronJobSpec{}.SwaggerDoc()["timeZone"]),
			wlColumn("Suspend", "boolean", batchv1.CronJobSpec{}.SwaggerDoc()["suspend"]),
			wlColumn("Active", "integer", batchv1.CronJobStatus{}.SwaggerDoc()["active"]),
			wlColumn("Last Schedule", "string", batchv1.CronJobStatus{}.SwaggerDoc()["lastScheduleTime"]),
			wlAgeColumn(),
		}, append(wlTemplateColumns(), wlWideColumn("Selector", "string", batchv1.JobSpec{}.SwaggerDoc()["selector"]))...),
		Row: func(obj runtime.Object, now time.Time) []interface{} {
			cj := obj.(*batchv1.CronJob)
			tz := "<none>"
			if cj.Spec.TimeZone != nil {
				tz = *cj.Spec.TimeZone
			}
			suspend := "<unset>"
			if cj.Spec.Suspend != nil {
				suspend = "False"
				if *cj.Spec.Suspend {
					suspend = "True"
				}
			}
			last := "<none>"
			if cj.Status.LastScheduleTime != nil {
				last = ageOf(*cj.Status.LastScheduleTime, now)
			}
			names, images := ContainerCells(cj.Spec.JobTemplate.Spec.Template.Spec.Containers)
			return []interface{}{cj.Name, cj.Spec.Schedule, tz, suspend, int64(len(cj.Status.Active)), last,
				ageOf(cj.CreationTimestamp, now), names, images, metav1.FormatLabelSelector(cj.Spec.JobTemplate.Spec.Selector)}
		},
	}
}

// defaultCronJob fills the CronJob's own defaults and the pod template's;
// the job template's job-level defaults (backoffLimit, ...) are filled when
// the Job is created from it, as in Kubernetes.
func defaultCronJob(cj *batchv1.CronJob) {
	s := &cj.Spec
	if s.ConcurrencyPolicy == "" {
		s.ConcurrencyPolicy = batchv1.AllowConcurrent
	}
	if s.Suspend == nil {
		f := false
		s.Suspend = &f
	}
	if s.SuccessfulJobsHistoryLimit == nil {
		s.SuccessfulJobsHistoryLimit = wlInt32Ptr(3)
	}
	if s.FailedJobsHistoryLimit == nil {
		s.FailedJobsHistoryLimit = wlInt32Ptr(1)
	}
	defaultPodFailurePolicy(s.JobTemplate.Spec.PodFailurePolicy)
	DefaultPodSpec(&s.JobTemplate.Spec.Template.Spec)
}

// validateCronJob checks a CronJob; old is nil on create.
func validateCronJob(cj, old *batchv1.CronJob) field.ErrorList {
	errs := wlValidateMeta(&cj.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	spec := field.NewPath("spec")
	s := &cj.Spec
	if s.Schedule == "" {
		errs = append(errs, field.Required(spec.Child("schedule"), ""))
	} else {
		// Since Kubernetes 1.29 a time zone belongs in spec.timeZone; a
		// CronJob that already had one in its schedule may keep it.
		allowTZ := old != nil && strings.Contains(old.Spec.Schedule, "TZ")
		errs = append(errs, validateSchedule(s.Schedule, allowTZ, s.TimeZone, spec.Child("schedule"))...)
	}
	if s.StartingDeadlineSeconds != nil {
		errs = append(errs, wlNonNegative(*s.StartingDeadlineSeconds, spec.Child("startingDeadlineSeconds"))...)
	}
	// An unchanged zone is not rechecked: the zone database may have
	// dropped it since, and the CronJob must stay editable.
	if old == nil || !apiequality.Semantic.DeepEqual(s.TimeZone, old.Spec.TimeZone) {
		errs = append(errs, validateTimeZone(s.TimeZone, spec.Child("timeZone"))...)
	}
	switch s.ConcurrencyPolicy {
	case batchv1.AllowConcurrent, batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent:
	case "":
		errs = append(errs, field.Required(spec.Child("concurrencyPolicy"), ""))
	default:
		errs = append(errs, field.NotSupported(spec.Child("concurrencyPolicy"), s.ConcurrencyPolicy, []string{
			string(batchv1.AllowConcurrent), string(batchv1.ForbidConcurrent), string(batchv1.ReplaceConcurrent)}))
	}
	errs = append(errs, validateJobTemplateSpec(&s.JobTemplate, spec.Child("jobTemplate"))...)
	errs = append(errs, wlNonNegativePtr(s.SuccessfulJobsHistoryLimit, spec.Child("successfulJobsHistoryLimit"))...)
	errs = append(errs, wlNonNegativePtr(s.FailedJobsHistoryLimit, spec.Child("failedJobsHistoryLimit"))...)
	return errs
}

func validateJobTemplateSpec(t *batchv1.JobTemplateSpec, fld *field.Path) field.ErrorList {
	meta := fld.Child("metadata")
	errs := metav1validation.ValidateLabels(t.Labels, meta.Child("labels"))
	errs = append(errs, apivalidation.ValidateAnnotations(t.Annotations, meta.Child("annotations"))...)
	errs = append(errs, validateJobSpecCommon(&t.Spec, fld.Child("spec"))...)
	// Each Job created from the template gets its own generated selector.
	if t.Spec.Selector != nil {
		errs = append(errs, field.Invalid(fld.Child("spec", "selector"), t.Spec.Selector, "`selector` will be auto-generated"))
	}
	if wlBool(t.Spec.ManualSelector) {
		errs = append(errs, field.NotSupported(fld.Child("spec", "manualSelector"), *t.Spec.ManualSelector, []string{"nil", "false"}))
	}
	return errs
}

func validateSchedule(schedule string, allowTZ bool, timeZone *string, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if _, err := ParseCronSchedule(schedule); err != nil {
		errs = append(errs, field.Invalid(fld, schedule, err.Error()))
	}
	switch hasTZ := strings.Contains(schedule, "TZ"); {
	case allowTZ && hasTZ && timeZone != nil:
		errs = append(errs, field.Invalid(fld, schedule, "cannot use both timeZone field and TZ or CRON_TZ in schedule"))
	case !allowTZ && hasTZ:
		errs = append(errs, field.Invalid(fld, schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"))
	}
	return errs
}

// validTimeZonePart is what one "/"-separated part of an IANA zone name may
// look like; it keeps path tricks away from the zone database lookup.
func validTimeZonePart(p string) bool {
	if p == "" || len(p) > 14 || p == "." || p == ".." || p[0] == '-' {
		return false
	}
	for _, c := range p {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '.', c == '-', c == '_', c == '+':
		default:
			return false
		}
	}
	return true
}

func validateTimeZone(tz *string, fld *field.Path) field.ErrorList {
	if tz == nil {
		return nil
	}
	if *tz == "" {
		return field.ErrorList{field.Invalid(fld, *tz, "timeZone must be nil or non-empty string")}
	}
	var errs field.ErrorList
	// "Local" would mean whatever zone the server runs in.
	if strings.EqualFold(*tz, "Local") {
		errs = append(errs, field.Invalid(fld, *tz, "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones"))
	}
	for _, part := range strings.Split(*tz, "/") {
		if !validTimeZonePart(part) {
			return append(errs, field.Invalid(fld, *tz, fmt.Sprintf("unknown time zone %s", *tz)))
		}
	}
	if _, err := time.LoadLocation(*tz); err != nil {
		errs = append(errs, field.Invalid(fld, *tz, err.Error()))
	}
	return errs
}
