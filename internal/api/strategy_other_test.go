package api

import (
	"fmt"
	"strings"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func wlStr(s string) *string { return &s }

// --- Job -------------------------------------------------------------------------

func wlJob(mutate func(*batchv1.Job)) *batchv1.Job {
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "pi", Namespace: "default", UID: "0b4e-uid", CreationTimestamp: wlCreated},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "pi", Image: "perl:5.34"}},
		}}},
	}
	if mutate != nil {
		mutate(j)
	}
	return j
}

func TestJobDefaults(t *testing.T) {
	s := wlStrategy(t, batchv1.SchemeGroupVersion, "jobs")
	t.Run("plain job", func(t *testing.T) {
		j := wlDefaulted(s, wlJob(nil))
		sp := j.Spec
		if *sp.Parallelism != 1 || *sp.Completions != 1 || *sp.BackoffLimit != 6 || *sp.CompletionMode != batchv1.NonIndexedCompletion ||
			*sp.Suspend || *sp.PodReplacementPolicy != batchv1.TerminatingOrFailed || sp.ManualSelector != nil {
			t.Errorf("spec = %+v", sp)
		}
		want := map[string]string{
			"batch.kubernetes.io/controller-uid": "0b4e-uid", "controller-uid": "0b4e-uid",
			"batch.kubernetes.io/job-name": "pi", "job-name": "pi",
		}
		if fmt.Sprint(sp.Template.Labels) != fmt.Sprint(want) || fmt.Sprint(j.Labels) != fmt.Sprint(want) {
			t.Errorf("template labels %v, job labels %v", sp.Template.Labels, j.Labels)
		}
		if fmt.Sprint(sp.Selector.MatchLabels) != fmt.Sprint(map[string]string{"batch.kubernetes.io/controller-uid": "0b4e-uid"}) {
			t.Errorf("selector %v", sp.Selector)
		}
		wlWantNoErrors(t, s.Validate(j))
		// Defaulting again (every write) changes nothing.
		again := wlDefaulted(s, j.DeepCopy())
		if !apiequality.Semantic.DeepEqual(again, j) {
			t.Errorf("not idempotent:\n%v\n%v", again, j)
		}
	})
	t.Run("parallel job keeps completions unset", func(t *testing.T) {
		j := wlDefaulted(s, wlJob(func(j *batchv1.Job) { j.Spec.Parallelism = wlInt32Ptr(3) }))
		if j.Spec.Completions != nil || *j.Spec.Parallelism != 3 {
			t.Errorf("completions %v parallelism %d", j.Spec.Completions, *j.Spec.Parallelism)
		}
	})
	t.Run("completions only", func(t *testing.T) {
		j := wlDefaulted(s, wlJob(func(j *batchv1.Job) { j.Spec.Completions = wlInt32Ptr(5) }))
		if *j.Spec.Completions != 5 || *j.Spec.Parallelism != 1 {
			t.Errorf("completions %d parallelism %d", *j.Spec.Completions, *j.Spec.Parallelism)
		}
	})
	t.Run("pod failure policy", func(t *testing.T) {
		j := wlDefaulted(s, wlJob(func(j *batchv1.Job) {
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
				Action: batchv1.PodFailurePolicyActionIgnore, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget}},
			}}}
		}))
		if *j.Spec.PodReplacementPolicy != batchv1.Failed || j.Spec.PodFailurePolicy.Rules[0].OnPodConditions[0].Status != corev1.ConditionTrue {
			t.Errorf("podReplacementPolicy %s rule %+v", *j.Spec.PodReplacementPolicy, j.Spec.PodFailurePolicy.Rules[0])
		}
		wlWantNoErrors(t, s.Validate(j))
	})
	t.Run("backoffLimitPerIndex", func(t *testing.T) {
		j := wlDefaulted(s, wlJob(func(j *batchv1.Job) { j.Spec.BackoffLimitPerIndex = wlInt32Ptr(1) }))
		if *j.Spec.BackoffLimit != 2147483647 {
			t.Errorf("backoffLimit %d", *j.Spec.BackoffLimit)
		}
	})
	t.Run("manual selector", func(t *testing.T) {
		j := wlDefaulted(s, wlJob(func(j *batchv1.Job) {
			yes := true
			j.Spec.ManualSelector = &yes
			j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "pi"}}
			j.Spec.Template.Labels = map[string]string{"app": "pi"}
			j.Labels = map[string]string{"team": "math"}
		}))
		if len(j.Spec.Template.Labels) != 1 || len(j.Spec.Selector.MatchLabels) != 1 || j.Labels["team"] != "math" || len(j.Labels) != 1 {
			t.Errorf("labels %v selector %v job labels %v", j.Spec.Template.Labels, j.Spec.Selector, j.Labels)
		}
		wlWantNoErrors(t, s.Validate(j))
	})
}

func TestJobValidate(t *testing.T) {
	s := wlStrategy(t, batchv1.SchemeGroupVersion, "jobs")
	indexed := batchv1.IndexedCompletion
	for _, tc := range []struct {
		name          string
		mutate        func(*batchv1.Job)
		typ           field.ErrorType
		field, detail string
	}{
		{"restartPolicy defaults to Always", func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = "" },
			field.ErrorTypeNotSupported, "spec.template.spec.restartPolicy", `"OnFailure", "Never"`},
		{"negative parallelism", func(j *batchv1.Job) { j.Spec.Parallelism = wlInt32Ptr(-1) }, field.ErrorTypeInvalid, "spec.parallelism", ""},
		{"negative backoffLimit", func(j *batchv1.Job) { j.Spec.BackoffLimit = wlInt32Ptr(-1) }, field.ErrorTypeInvalid, "spec.backoffLimit", ""},
		{"negative activeDeadlineSeconds", func(j *batchv1.Job) { d := int64(-5); j.Spec.ActiveDeadlineSeconds = &d },
			field.ErrorTypeInvalid, "spec.activeDeadlineSeconds", ""},
		{"template label conflicts with generated one", func(j *batchv1.Job) {
			j.Spec.Template.Labels = map[string]string{"job-name": "other"}
		}, field.ErrorTypeInvalid, "spec.template.metadata.labels[job-name]", "must be 'pi'"},
		{"selector not generated", func(j *batchv1.Job) {
			j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"batch.kubernetes.io/controller-uid": "another"}}
		}, field.ErrorTypeInvalid, "spec.selector", "`selector` not auto-generated"},
		{"manual selector must match", func(j *batchv1.Job) {
			yes := true
			j.Spec.ManualSelector = &yes
			j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "pi"}}
		}, field.ErrorTypeInvalid, "spec.template.metadata.labels", "`selector` does not match template `labels`"},
		{"manual without selector", func(j *batchv1.Job) { yes := true; j.Spec.ManualSelector = &yes },
			field.ErrorTypeRequired, "spec.selector", ""},
		{"indexed needs completions", func(j *batchv1.Job) { j.Spec.CompletionMode = &indexed; j.Spec.Parallelism = wlInt32Ptr(2) },
			field.ErrorTypeRequired, "spec.completions", "when completion mode is Indexed"},
		{"unknown completion mode", func(j *batchv1.Job) { m := batchv1.CompletionMode("Sometimes"); j.Spec.CompletionMode = &m },
			field.ErrorTypeNotSupported, "spec.completionMode", ""},
		{"per-index limit needs indexed", func(j *batchv1.Job) { j.Spec.BackoffLimitPerIndex = wlInt32Ptr(1) },
			field.ErrorTypeInvalid, "spec.backoffLimitPerIndex", "requires indexed completion mode"},
		{"maxFailedIndexes needs backoffLimitPerIndex", func(j *batchv1.Job) {
			j.Spec.CompletionMode = &indexed
			j.Spec.MaxFailedIndexes = wlInt32Ptr(1)
		}, field.ErrorTypeRequired, "spec.backoffLimitPerIndex", "when maxFailedIndexes is specified"},
		{"pod failure policy with OnFailure", func(j *batchv1.Job) {
			j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{Action: batchv1.PodFailurePolicyActionFailJob,
				OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{42}}}}}
		}, field.ErrorTypeInvalid, "spec.template.spec.restartPolicy", `only "Never" is supported when podFailurePolicy is specified`},
		{"pod failure rule without condition", func(j *batchv1.Job) {
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{Action: batchv1.PodFailurePolicyActionFailJob}}}
		}, field.ErrorTypeInvalid, "spec.podFailurePolicy.rules[0]", "specifying one of OnExitCodes and OnPodConditions is required"},
		{"FailIndex needs backoffLimitPerIndex", func(j *batchv1.Job) {
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{Action: batchv1.PodFailurePolicyActionFailIndex,
				OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{1}}}}}
		}, field.ErrorTypeInvalid, "spec.podFailurePolicy.rules[0].action", "requires the backoffLimitPerIndex to be set"},
		{"exit code 0 with In", func(j *batchv1.Job) {
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{Action: batchv1.PodFailurePolicyActionIgnore,
				OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{0}}}}}
		}, field.ErrorTypeInvalid, "spec.podFailurePolicy.rules[0].onExitCodes.values[0]", ""},
		{"podReplacementPolicy with pod failure policy", func(j *batchv1.Job) {
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{Action: batchv1.PodFailurePolicyActionIgnore,
				OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget}}}}}
			p := batchv1.TerminatingOrFailed
			j.Spec.PodReplacementPolicy = &p
		}, field.ErrorTypeNotSupported, "spec.podReplacementPolicy", `"Failed"`},
		{"success policy needs indexed", func(j *batchv1.Job) {
			j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{{SucceededCount: wlInt32Ptr(1)}}}
		}, field.ErrorTypeInvalid, "spec.successPolicy", "requires indexed completion mode"},
		{"success policy indexes out of range", func(j *batchv1.Job) {
			j.Spec.CompletionMode = &indexed
			j.Spec.Completions = wlInt32Ptr(3)
			j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{{SucceededIndexes: wlStr("0,2-3")}}}
		}, field.ErrorTypeInvalid, "spec.successPolicy.rules[0].succeededIndexes", "too large index: 3"},
		{"managedBy", func(j *batchv1.Job) { j.Spec.ManagedBy = wlStr("kueue") }, field.ErrorTypeInvalid, "spec.managedBy", "domain-prefixed path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wlWantError(t, s.Validate(wlDefaulted(s, wlJob(tc.mutate))), tc.typ, tc.field, tc.detail)
		})
	}
	t.Run("indexed job", func(t *testing.T) {
		j := wlDefaulted(s, wlJob(func(j *batchv1.Job) {
			j.Spec.CompletionMode = &indexed
			j.Spec.Completions = wlInt32Ptr(5)
			j.Spec.Parallelism = wlInt32Ptr(5)
			j.Spec.BackoffLimitPerIndex = wlInt32Ptr(1)
			j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{{SucceededIndexes: wlStr("0-2,4"), SucceededCount: wlInt32Ptr(3)}}}
			j.Spec.ManagedBy = wlStr("kueue.x-k8s.io/multikueue")
		}))
		wlWantNoErrors(t, s.Validate(j))
	})
}

func TestJobValidateUpdate(t *testing.T) {
	s := wlStrategy(t, batchv1.SchemeGroupVersion, "jobs")
	old := wlDefaulted(s, wlJob(nil))
	t.Run("template immutable", func(t *testing.T) {
		n := old.DeepCopy()
		n.Spec.Template.Spec.Containers[0].Image = "perl:5.40"
		wlWantError(t, s.ValidateUpdate(n, old), field.ErrorTypeInvalid, "spec.template", "field is immutable")
	})
	t.Run("suspend and resume", func(t *testing.T) {
		n := old.DeepCopy()
		yes := true
		n.Spec.Suspend = &yes
		n.Spec.ActiveDeadlineSeconds = new(int64)
		*n.Spec.ActiveDeadlineSeconds = 60
		wlWantNoErrors(t, s.ValidateUpdate(n, old))
	})
	t.Run("completions immutable", func(t *testing.T) {
		n := old.DeepCopy()
		n.Spec.Completions = wlInt32Ptr(2)
		wlWantError(t, s.ValidateUpdate(n, old), field.ErrorTypeInvalid, "spec.completions", "field is immutable")
	})
	t.Run("selector immutable", func(t *testing.T) {
		n := old.DeepCopy()
		n.Spec.Selector.MatchLabels["job-name"] = "pi"
		wlWantError(t, s.ValidateUpdate(n, old), field.ErrorTypeInvalid, "spec.selector", "field is immutable")
	})
	t.Run("elastic indexed job", func(t *testing.T) {
		indexed := batchv1.IndexedCompletion
		o := wlDefaulted(s, wlJob(func(j *batchv1.Job) {
			j.Spec.CompletionMode = &indexed
			j.Spec.Completions, j.Spec.Parallelism = wlInt32Ptr(3), wlInt32Ptr(3)
		}))
		n := o.DeepCopy()
		n.Spec.Completions, n.Spec.Parallelism = wlInt32Ptr(5), wlInt32Ptr(5)
		wlWantNoErrors(t, s.ValidateUpdate(n, o))
		n.Spec.Parallelism = wlInt32Ptr(4)
		wlWantError(t, s.ValidateUpdate(n, o), field.ErrorTypeInvalid, "spec.completions", "can only be modified in tandem with spec.parallelism")
	})
	t.Run("suspended job not started may move", func(t *testing.T) {
		yes := true
		o := wlDefaulted(s, wlJob(func(j *batchv1.Job) { j.Spec.Suspend = &yes }))
		n := o.DeepCopy()
		n.Spec.Template.Spec.NodeSelector = map[string]string{"zone": "b"}
		n.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Key: "gpu", Operator: corev1.TolerationOpExists}}
		n.Spec.Template.Annotations = map[string]string{"queue": "high"}
		wlWantNoErrors(t, s.ValidateUpdate(n, o))
		n.Spec.Template.Spec.Containers[0].Image = "perl:5.40"
		wlWantError(t, s.ValidateUpdate(n, o), field.ErrorTypeInvalid, "spec.template", "field is immutable")

		started := o.DeepCopy()
		started.Status.StartTime = &wlCreated
		m := started.DeepCopy()
		m.Spec.Template.Spec.NodeSelector = map[string]string{"zone": "b"}
		wlWantError(t, s.ValidateUpdate(m, started), field.ErrorTypeInvalid, "spec.template", "field is immutable")
	})
}

func TestJobRowAndFields(t *testing.T) {
	s := wlStrategy(t, batchv1.SchemeGroupVersion, "jobs")
	j := wlDefaulted(s, wlJob(nil))
	cond := func(typ batchv1.JobConditionType) batchv1.JobCondition {
		return batchv1.JobCondition{Type: typ, Status: corev1.ConditionTrue}
	}
	start := metav1.NewTime(wlTestNow.Add(-90 * time.Second))
	done := metav1.NewTime(wlTestNow.Add(-30 * time.Second))
	t.Run("running", func(t *testing.T) {
		r := j.DeepCopy()
		r.Status.StartTime = &start
		wlWantRow(t, s, r, []interface{}{"pi", "Running", "0/1", "90s", "5m", "pi", "perl:5.34", "batch.kubernetes.io/controller-uid=0b4e-uid"})
	})
	t.Run("complete", func(t *testing.T) {
		c := j.DeepCopy()
		c.Status = batchv1.JobStatus{StartTime: &start, CompletionTime: &done, Succeeded: 1,
			Conditions: []batchv1.JobCondition{cond(batchv1.JobSuccessCriteriaMet), cond(batchv1.JobComplete)}}
		wlWantRow(t, s, c, []interface{}{"pi", "Complete", "1/1", "60s", "5m", "pi", "perl:5.34", "batch.kubernetes.io/controller-uid=0b4e-uid"})
		if got := s.Fields(c); got["status.successful"] != "1" {
			t.Errorf("fields %v", got)
		}
	})
	for _, tc := range []struct {
		conds []batchv1.JobCondition
		want  string
	}{
		{[]batchv1.JobCondition{cond(batchv1.JobFailed)}, "Failed"},
		{[]batchv1.JobCondition{cond(batchv1.JobSuspended)}, "Suspended"},
		{[]batchv1.JobCondition{cond(batchv1.JobFailureTarget)}, "FailureTarget"},
		{[]batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionFalse}}, "Running"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			x := j.DeepCopy()
			x.Status.Conditions = tc.conds
			if got := s.Row(x, wlTestNow)[1]; got != tc.want {
				t.Errorf("status %v", got)
			}
		})
	}
	t.Run("terminating", func(t *testing.T) {
		x := j.DeepCopy()
		x.DeletionTimestamp = &done
		if got := s.Row(x, wlTestNow)[1]; got != "Terminating" {
			t.Errorf("status %v", got)
		}
	})
	t.Run("parallel completions", func(t *testing.T) {
		x := j.DeepCopy()
		x.Spec.Completions, x.Spec.Parallelism = nil, wlInt32Ptr(3)
		x.Status.Succeeded = 1
		if got := s.Row(x, wlTestNow)[2]; got != "1/1 of 3" {
			t.Errorf("completions %v", got)
		}
	})
}

// --- CronJob -----------------------------------------------------------------------

func wlCronJob(mutate func(*batchv1.CronJob)) *batchv1.CronJob {
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "backup", Namespace: "default", CreationTimestamp: wlCreated},
		Spec: batchv1.CronJobSpec{
			Schedule: "*/15 * * * *",
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyOnFailure,
				Containers:    []corev1.Container{{Name: "backup", Image: "restic:0.17"}},
			}}}},
		},
	}
	if mutate != nil {
		mutate(cj)
	}
	return cj
}

func TestCronJob(t *testing.T) {
	s := wlStrategy(t, batchv1.SchemeGroupVersion, "cronjobs")
	t.Run("defaults", func(t *testing.T) {
		cj := wlDefaulted(s, wlCronJob(nil))
		sp := cj.Spec
		if sp.ConcurrencyPolicy != batchv1.AllowConcurrent || *sp.Suspend || *sp.SuccessfulJobsHistoryLimit != 3 || *sp.FailedJobsHistoryLimit != 1 {
			t.Errorf("spec %+v", sp)
		}
		// Job-level defaults wait for the Job; the pod template is defaulted.
		if sp.JobTemplate.Spec.BackoffLimit != nil || sp.JobTemplate.Spec.Template.Spec.DNSPolicy != corev1.DNSClusterFirst {
			t.Errorf("job template %+v", sp.JobTemplate.Spec)
		}
		wlWantNoErrors(t, s.Validate(cj))
	})
	for _, tc := range []struct {
		name          string
		mutate        func(*batchv1.CronJob)
		typ           field.ErrorType
		field, detail string
	}{
		{"no schedule", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "" }, field.ErrorTypeRequired, "spec.schedule", ""},
		{"bad schedule", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "61 * * * *" },
			field.ErrorTypeInvalid, "spec.schedule", "end of range (61) above maximum (59): 61"},
		{"four fields", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "* * * *" },
			field.ErrorTypeInvalid, "spec.schedule", "expected exactly 5 fields, found 4: [* * * *]"},
		{"TZ in schedule", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "TZ=Europe/Paris 0 3 * * *" },
			field.ErrorTypeInvalid, "spec.schedule", "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"},
		{"unknown zone", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = wlStr("Mars/Olympus") },
			field.ErrorTypeInvalid, "spec.timeZone", "unknown time zone Mars/Olympus"},
		{"Local zone", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = wlStr("Local") },
			field.ErrorTypeInvalid, "spec.timeZone", "timeZone must be an explicit time zone"},
		{"empty zone", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = wlStr("") },
			field.ErrorTypeInvalid, "spec.timeZone", "timeZone must be nil or non-empty string"},
		{"path in zone", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = wlStr("../../etc/passwd") },
			field.ErrorTypeInvalid, "spec.timeZone", "unknown time zone ../../etc/passwd"},
		{"bad concurrency policy", func(cj *batchv1.CronJob) { cj.Spec.ConcurrencyPolicy = "Sometimes" },
			field.ErrorTypeNotSupported, "spec.concurrencyPolicy", `"Allow", "Forbid", "Replace"`},
		{"negative history", func(cj *batchv1.CronJob) { cj.Spec.FailedJobsHistoryLimit = wlInt32Ptr(-1) },
			field.ErrorTypeInvalid, "spec.failedJobsHistoryLimit", ""},
		{"negative deadline", func(cj *batchv1.CronJob) { d := int64(-1); cj.Spec.StartingDeadlineSeconds = &d },
			field.ErrorTypeInvalid, "spec.startingDeadlineSeconds", ""},
		{"selector in template", func(cj *batchv1.CronJob) { cj.Spec.JobTemplate.Spec.Selector = &metav1.LabelSelector{} },
			field.ErrorTypeInvalid, "spec.jobTemplate.spec.selector", "`selector` will be auto-generated"},
		{"restartPolicy Always", func(cj *batchv1.CronJob) {
			cj.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
		},
			field.ErrorTypeNotSupported, "spec.jobTemplate.spec.template.spec.restartPolicy", ""},
		{"long name", func(cj *batchv1.CronJob) { cj.Name = strings.Repeat("a", 53) },
			field.ErrorTypeInvalid, "metadata.name", "must be no more than 52 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wlWantError(t, s.Validate(wlDefaulted(s, wlCronJob(tc.mutate))), tc.typ, tc.field, tc.detail)
		})
	}
	t.Run("time zone and descriptors", func(t *testing.T) {
		for _, sched := range []string{"@hourly", "@daily", "0 3 * * mon-fri", "0 0 1 jan,jul ?", "@every 90m"} {
			cj := wlDefaulted(s, wlCronJob(func(cj *batchv1.CronJob) { cj.Spec.Schedule = sched; cj.Spec.TimeZone = wlStr("Asia/Seoul") }))
			wlWantNoErrors(t, s.Validate(cj))
		}
	})
	t.Run("update", func(t *testing.T) {
		old := wlDefaulted(s, wlCronJob(func(cj *batchv1.CronJob) { cj.Spec.Schedule = "CRON_TZ=Asia/Seoul 0 3 * * *" }))
		n := old.DeepCopy()
		n.Spec.Schedule = "CRON_TZ=Asia/Seoul 0 4 * * *"
		wlWantNoErrors(t, s.ValidateUpdate(n, old)) // kept from before 1.29
		n.Spec.TimeZone = wlStr("Asia/Seoul")
		wlWantError(t, s.ValidateUpdate(n, old), field.ErrorTypeInvalid, "spec.schedule", "cannot use both timeZone field and TZ or CRON_TZ in schedule")

		long := wlDefaulted(s, wlCronJob(func(cj *batchv1.CronJob) { cj.Name = strings.Repeat("a", 60) }))
		wlWantNoErrors(t, s.ValidateUpdate(long, long.DeepCopy()))
	})
	t.Run("row", func(t *testing.T) {
		cj := wlDefaulted(s, wlCronJob(nil))
		wlWantRow(t, s, cj, []interface{}{"backup", "*/15 * * * *", "<none>", "False", int64(0), "<none>", "5m", "backup", "restic:0.17", "<none>"})
		last := metav1.NewTime(wlTestNow.Add(-2 * time.Minute))
		cj.Status = batchv1.CronJobStatus{LastScheduleTime: &last, Active: []corev1.ObjectReference{{Name: "backup-1"}}}
		cj.Spec.TimeZone = wlStr("Asia/Seoul")
		yes := true
		cj.Spec.Suspend = &yes
		wlWantRow(t, s, cj, []interface{}{"backup", "*/15 * * * *", "Asia/Seoul", "True", int64(1), "2m", "5m", "backup", "restic:0.17", "<none>"})
	})
}

func TestParseCronSchedule(t *testing.T) {
	for _, tc := range []struct {
		spec, err string
	}{
		{"* * * * *", ""},
		{"0,30 9-17/2 * * MON-fri", ""},
		{"5/10 * ? * *", ""},
		{"@annually", ""},
		{"TZ=America/New_York 0 9 * * *", ""},
		{"", "empty spec string"},
		{"* * * * * *", "expected exactly 5 fields, found 6: [* * * * * *]"},
		{"@fortnightly", "unrecognized descriptor: @fortnightly"},
		{"@every 5x", "failed to parse duration @every 5x"},
		{"0 24 * * *", "end of range (24) above maximum (23): 24"},
		{"0 0 0 * *", "beginning of range (0) below minimum (1): 0"},
		{"0 0 * * 7", "end of range (7) above maximum (6): 7"},
		{"5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"},
		{"*/0 * * * *", "step of range should be a positive number: */0"},
		{"1-2-3 * * * *", "too many hyphens: 1-2-3"},
		{"1/2/3 * * * *", "too many slashes: 1/2/3"},
		{"x * * * *", "failed to parse int from x"},
		{"TZ=Nowhere/City * * * * *", "provided bad location Nowhere/City"},
		{"TZ=UTC", "missing schedule after time zone"},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			_, err := ParseCronSchedule(tc.spec)
			switch {
			case tc.err == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Errorf("error %v, want %q", err, tc.err)
			}
		})
	}
}

func TestCronScheduleNext(t *testing.T) {
	seoul, _ := time.LoadLocation("Asia/Seoul")
	from := time.Date(2025, 6, 1, 12, 7, 30, 0, time.UTC) // a Sunday
	for _, tc := range []struct {
		spec string
		want time.Time
	}{
		{"*/15 * * * *", time.Date(2025, 6, 1, 12, 15, 0, 0, time.UTC)},
		{"@hourly", time.Date(2025, 6, 1, 13, 0, 0, 0, time.UTC)},
		{"0 9 * * 1-5", time.Date(2025, 6, 2, 9, 0, 0, 0, time.UTC)},
		{"30 2 1 * *", time.Date(2025, 7, 1, 2, 30, 0, 0, time.UTC)},
		// Day of month OR day of week when both are restricted.
		{"0 0 15 * sat", time.Date(2025, 6, 7, 0, 0, 0, 0, time.UTC)},
		{"0 0 29 2 *", time.Date(2028, 2, 29, 0, 0, 0, 0, time.UTC)},
		{"CRON_TZ=Asia/Seoul 0 9 * * *", time.Date(2025, 6, 2, 9, 0, 0, 0, seoul)},
		{"@every 1h30m", from.Add(90 * time.Minute)},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			s, err := ParseCronSchedule(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Next(from); !got.Equal(tc.want) {
				t.Errorf("Next = %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("never", func(t *testing.T) {
		s, _ := ParseCronSchedule("0 0 30 2 *")
		if got := s.Next(from); !got.IsZero() {
			t.Errorf("Next = %v", got)
		}
	})
	t.Run("daylight saving", func(t *testing.T) {
		// 02:30 does not exist on 2025-03-09 in New York; the schedule must
		// still move on rather than loop.
		s, _ := ParseCronSchedule("TZ=America/New_York 30 2 * * *")
		ny, _ := time.LoadLocation("America/New_York")
		got := s.Next(time.Date(2025, 3, 9, 0, 0, 0, 0, ny))
		if got.IsZero() || !got.After(time.Date(2025, 3, 9, 0, 0, 0, 0, ny)) {
			t.Errorf("Next = %v", got)
		}
	})
}

// --- HorizontalPodAutoscaler -------------------------------------------------------

func wlHPA(mutate func(*autoscalingv2.HorizontalPodAutoscaler)) *autoscalingv2.HorizontalPodAutoscaler {
	h := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", CreationTimestamp: wlCreated},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MaxReplicas:    10,
		},
	}
	if mutate != nil {
		mutate(h)
	}
	return h
}

func TestHPA(t *testing.T) {
	s := wlStrategy(t, autoscalingv2.SchemeGroupVersion, "horizontalpodautoscalers")
	t.Run("defaults", func(t *testing.T) {
		h := wlDefaulted(s, wlHPA(nil))
		m := h.Spec.Metrics
		if *h.Spec.MinReplicas != 1 || len(m) != 1 || m[0].Resource.Name != corev1.ResourceCPU || *m[0].Resource.Target.AverageUtilization != 80 ||
			h.Spec.Behavior != nil {
			t.Errorf("spec %+v", h.Spec)
		}
		wlWantNoErrors(t, s.Validate(h))
	})
	t.Run("behavior defaults", func(t *testing.T) {
		h := wlDefaulted(s, wlHPA(func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: wlInt32Ptr(60)}}
		}))
		up, down := h.Spec.Behavior.ScaleUp, h.Spec.Behavior.ScaleDown
		if *up.StabilizationWindowSeconds != 0 || *up.SelectPolicy != autoscalingv2.MaxChangePolicySelect || len(up.Policies) != 2 ||
			up.Policies[0] != (autoscalingv2.HPAScalingPolicy{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 15}) {
			t.Errorf("scaleUp %+v", up)
		}
		if *down.StabilizationWindowSeconds != 60 || len(down.Policies) != 1 || down.Policies[0].Value != 100 {
			t.Errorf("scaleDown %+v", down)
		}
		wlWantNoErrors(t, s.Validate(h))
	})
	for _, tc := range []struct {
		name          string
		mutate        func(*autoscalingv2.HorizontalPodAutoscaler)
		typ           field.ErrorType
		field, detail string
	}{
		{"minReplicas 0", func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.MinReplicas = wlInt32Ptr(0) },
			field.ErrorTypeInvalid, "spec.minReplicas", "must be greater than or equal to 1"},
		{"max below min", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.MinReplicas = wlInt32Ptr(5)
			h.Spec.MaxReplicas = 3
		},
			field.ErrorTypeInvalid, "spec.maxReplicas", "must be greater than or equal to `minReplicas`"},
		{"no target", func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.ScaleTargetRef.Name = "" },
			field.ErrorTypeRequired, "spec.scaleTargetRef.name", ""},
		{"resource metric without target", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics = []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceMemory, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType}}}}
		}, field.ErrorTypeRequired, "spec.metrics[0].resource.target.averageUtilization", "must set either a target raw value or a target utilization"},
		{"type without source", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics = []autoscalingv2.MetricSpec{{Type: autoscalingv2.PodsMetricSourceType}}
		}, field.ErrorTypeRequired, "spec.metrics[0].pods", "must populate information for the given metric source"},
		{"wrong source", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics = []autoscalingv2.MetricSpec{{Type: autoscalingv2.PodsMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{Name: "cpu"}}}
		}, field.ErrorTypeForbidden, "spec.metrics[0].resource", "must populate the given metric source only"},
		{"unknown metric type", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics = []autoscalingv2.MetricSpec{{Type: "Magic"}}
		}, field.ErrorTypeNotSupported, "spec.metrics[0].type", ""},
		{"zero utilization", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics = []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: wlInt32Ptr(0)}}}}
		}, field.ErrorTypeInvalid, "spec.metrics[0].resource.target.averageUtilization", "must be greater than 0"},
		{"bad policy", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: &autoscalingv2.HPAScalingRules{
				Policies: []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PodsScalingPolicy, Value: 0, PeriodSeconds: 3600}}}}
		}, field.ErrorTypeInvalid, "spec.behavior.scaleUp.policies[0].periodSeconds", "must be less than or equal to 1800"},
		{"long window", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: wlInt32Ptr(4000)}}
		}, field.ErrorTypeInvalid, "spec.behavior.scaleDown.stabilizationWindowSeconds", "must be less than or equal to 3600"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wlWantError(t, s.Validate(wlDefaulted(s, wlHPA(tc.mutate))), tc.typ, tc.field, tc.detail)
		})
	}
	t.Run("row", func(t *testing.T) {
		h := wlDefaulted(s, wlHPA(nil))
		wlWantRow(t, s, h, []interface{}{"web", "Deployment/web", "cpu: <unknown>/80%", "1", int64(10), int64(0), "5m"})
		q := resource.MustParse("100Mi")
		h.Spec.Metrics = append(h.Spec.Metrics,
			autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceMemory, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: &q}}},
			autoscalingv2.MetricSpec{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{
				Metric: autoscalingv2.MetricIdentifier{Name: "rps"}, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: &q}}})
		h.Status.CurrentMetrics = []autoscalingv2.MetricStatus{{Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricStatus{Name: corev1.ResourceCPU, Current: autoscalingv2.MetricValueStatus{AverageUtilization: wlInt32Ptr(42)}}}}
		if got := s.Row(h, wlTestNow)[2]; got != "cpu: 42%/80%, memory: <unknown>/100Mi + 1 more..." {
			t.Errorf("targets %q", got)
		}
	})
}

// --- Networking ------------------------------------------------------------------

func wlIngress(mutate func(*networkingv1.Ingress)) *networkingv1.Ingress {
	prefix := networkingv1.PathTypePrefix
	ing := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", CreationTimestamp: wlCreated},
		Spec: networkingv1.IngressSpec{
			IngressClassName: wlStr("gureum"),
			Rules: []networkingv1.IngressRule{{Host: "shop.example.com", IngressRuleValue: networkingv1.IngressRuleValue{
				HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
					Path: "/", PathType: &prefix,
					Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
						Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}},
				}}}}}},
		},
	}
	if mutate != nil {
		mutate(ing)
	}
	return ing
}

func TestIngress(t *testing.T) {
	s := wlStrategy(t, networkingv1.SchemeGroupVersion, "ingresses")
	wlWantNoErrors(t, s.Validate(wlIngress(nil)))
	path0 := "spec.rules[0].http.paths[0]"
	for _, tc := range []struct {
		name          string
		mutate        func(*networkingv1.Ingress)
		typ           field.ErrorType
		field, detail string
	}{
		{"no pathType", func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths[0].PathType = nil },
			field.ErrorTypeRequired, path0 + ".pathType", "pathType must be specified"},
		{"bad pathType", func(i *networkingv1.Ingress) {
			p := networkingv1.PathType("Regex")
			i.Spec.Rules[0].HTTP.Paths[0].PathType = &p
		},
			field.ErrorTypeNotSupported, path0 + ".pathType", `"Exact", "ImplementationSpecific", "Prefix"`},
		{"relative path", func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths[0].Path = "api" },
			field.ErrorTypeInvalid, path0 + ".path", "must be an absolute path"},
		{"dot segment", func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths[0].Path = "/a/../b" },
			field.ErrorTypeInvalid, path0 + ".path", "must not contain '/../'"},
		{"no backend", func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths[0].Backend = networkingv1.IngressBackend{} },
			field.ErrorTypeInvalid, path0 + ".backend", "resource or service backend is required"},
		{"no port", func(i *networkingv1.Ingress) {
			i.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Port = networkingv1.ServiceBackendPort{}
		},
			field.ErrorTypeRequired, path0 + ".backend", "port name or number is required"},
		{"port name and number", func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Port.Name = "http" },
			field.ErrorTypeInvalid, path0 + ".backend", "cannot set both port name & port number"},
		{"port out of range", func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Port.Number = 70000 },
			field.ErrorTypeInvalid, path0 + ".backend.service.port.number", "between 1 and 65535"},
		{"service name", func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name = "1web" },
			field.ErrorTypeInvalid, path0 + ".backend.service.name", ""},
		{"no paths", func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths = nil },
			field.ErrorTypeRequired, "spec.rules[0].http.paths", ""},
		{"IP host", func(i *networkingv1.Ingress) { i.Spec.Rules[0].Host = "10.0.0.1" },
			field.ErrorTypeInvalid, "spec.rules[0].host", "must be a DNS name, not an IP address"},
		{"bad wildcard", func(i *networkingv1.Ingress) { i.Spec.Rules[0].Host = "shop.*.example.com" },
			field.ErrorTypeInvalid, "spec.rules[0].host", "wildcard"},
		{"nothing to route", func(i *networkingv1.Ingress) { i.Spec.Rules = nil },
			field.ErrorTypeInvalid, "spec", "either `defaultBackend` or `rules` must be specified"},
		{"tls host", func(i *networkingv1.Ingress) { i.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{"Shop!"}}} },
			field.ErrorTypeInvalid, "spec.tls[0].hosts[0]", ""},
		{"class annotation disagrees", func(i *networkingv1.Ingress) {
			i.Annotations = map[string]string{"kubernetes.io/ingress.class": "nginx"}
		},
			field.ErrorTypeInvalid, "annotations.kubernetes.io/ingress.class", "must match `ingressClassName` when both are specified"},
	} {
		t.Run(tc.name, func(t *testing.T) { wlWantError(t, s.Validate(wlIngress(tc.mutate)), tc.typ, tc.field, tc.detail) })
	}
	t.Run("wildcard host and resource backend", func(t *testing.T) {
		ing := wlIngress(func(i *networkingv1.Ingress) {
			i.Spec.Rules[0].Host = "*.example.com"
			i.Spec.DefaultBackend = &networkingv1.IngressBackend{Resource: &corev1.TypedLocalObjectReference{
				APIGroup: wlStr("k8s.example.com"), Kind: "StorageBucket", Name: "static"}}
		})
		wlWantNoErrors(t, s.Validate(ing))
	})
	t.Run("row", func(t *testing.T) {
		ing := wlIngress(nil)
		wlWantRow(t, s, ing, []interface{}{"web", "gureum", "shop.example.com", "", "80", "5m"})
		ing.Spec.IngressClassName = nil
		ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{"shop.example.com"}}}
		for _, h := range []string{"", "a.example.com", "b.example.com", "c.example.com"} {
			ing.Spec.Rules = append(ing.Spec.Rules, networkingv1.IngressRule{Host: h})
		}
		ing.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: "192.0.2.9"}, {Hostname: "lb.example.com"}, {IP: "192.0.2.9"}}
		wlWantRow(t, s, ing, []interface{}{"web", "<none>", "shop.example.com,a.example.com,b.example.com + 1 more...",
			"192.0.2.9,lb.example.com", "80, 443", "5m"})
	})
}

func TestIngressClass(t *testing.T) {
	s := wlStrategy(t, networkingv1.SchemeGroupVersion, "ingressclasses")
	ic := func(mutate func(*networkingv1.IngressClass)) *networkingv1.IngressClass {
		c := &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "gureum", CreationTimestamp: wlCreated},
			Spec: networkingv1.IngressClassSpec{Controller: "gureum.io/ingress"}}
		if mutate != nil {
			mutate(c)
		}
		s.Default(c)
		return c
	}
	wlWantNoErrors(t, s.Validate(ic(nil)))
	t.Run("controller required", func(t *testing.T) {
		wlWantError(t, s.Validate(ic(func(c *networkingv1.IngressClass) { c.Spec.Controller = "" })), field.ErrorTypeRequired, "spec.controller", "")
		wlWantError(t, s.Validate(ic(func(c *networkingv1.IngressClass) { c.Spec.Controller = "nginx" })), field.ErrorTypeInvalid, "spec.controller", "domain-prefixed path")
	})
	t.Run("namespace forbidden for cluster scope", func(t *testing.T) {
		c := ic(func(c *networkingv1.IngressClass) {
			c.Spec.Parameters = &networkingv1.IngressClassParametersReference{Kind: "Config", Name: "x", Namespace: wlStr("ops")}
		})
		if *c.Spec.Parameters.Scope != "Cluster" {
			t.Errorf("scope %q", *c.Spec.Parameters.Scope)
		}
		wlWantError(t, s.Validate(c), field.ErrorTypeForbidden, "spec.parameters.namespace", "`parameters.scope` is set to 'Cluster'")
	})
	t.Run("namespace required for namespace scope", func(t *testing.T) {
		c := ic(func(c *networkingv1.IngressClass) {
			c.Spec.Parameters = &networkingv1.IngressClassParametersReference{Kind: "Config", Name: "x", Scope: wlStr("Namespace")}
		})
		wlWantError(t, s.Validate(c), field.ErrorTypeRequired, "spec.parameters.namespace", "`parameters.scope` is set to 'Namespace'")
	})
	t.Run("controller immutable", func(t *testing.T) {
		old := ic(nil)
		n := ic(func(c *networkingv1.IngressClass) { c.Spec.Controller = "example.com/other" })
		wlWantError(t, s.ValidateUpdate(n, old), field.ErrorTypeInvalid, "spec.controller", "field is immutable")
	})
	t.Run("row", func(t *testing.T) {
		wlWantRow(t, s, ic(nil), []interface{}{"gureum", "gureum.io/ingress", "<none>", "5m"})
		c := ic(func(c *networkingv1.IngressClass) {
			c.Spec.Parameters = &networkingv1.IngressClassParametersReference{APIGroup: wlStr("gureum.io"), Kind: "IngressParameters", Name: "default"}
		})
		wlWantRow(t, s, c, []interface{}{"gureum", "gureum.io/ingress", "IngressParameters.gureum.io/default", "5m"})
	})
}

func TestNetworkPolicy(t *testing.T) {
	s := wlStrategy(t, networkingv1.SchemeGroupVersion, "networkpolicies")
	np := func(mutate func(*networkingv1.NetworkPolicy)) *networkingv1.NetworkPolicy {
		port := intstr.FromInt32(5432)
		p := &networkingv1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default", CreationTimestamp: wlCreated},
			Spec: networkingv1.NetworkPolicySpec{
				PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
				Ingress: []networkingv1.NetworkPolicyIngressRule{{
					Ports: []networkingv1.NetworkPolicyPort{{Port: &port}},
					From:  []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: wlAppLabels}}},
				}},
			},
		}
		if mutate != nil {
			mutate(p)
		}
		s.Default(p)
		return p
	}
	t.Run("defaults", func(t *testing.T) {
		p := np(nil)
		if fmt.Sprint(p.Spec.PolicyTypes) != "[Ingress]" || *p.Spec.Ingress[0].Ports[0].Protocol != corev1.ProtocolTCP {
			t.Errorf("policyTypes %v port %+v", p.Spec.PolicyTypes, p.Spec.Ingress[0].Ports[0])
		}
		wlWantNoErrors(t, s.Validate(p))
		e := np(func(p *networkingv1.NetworkPolicy) { p.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{{}} })
		if fmt.Sprint(e.Spec.PolicyTypes) != "[Ingress Egress]" {
			t.Errorf("policyTypes %v", e.Spec.PolicyTypes)
		}
	})
	for _, tc := range []struct {
		name          string
		mutate        func(*networkingv1.NetworkPolicy)
		typ           field.ErrorType
		field, detail string
	}{
		{"empty peer", func(p *networkingv1.NetworkPolicy) { p.Spec.Ingress[0].From = []networkingv1.NetworkPolicyPeer{{}} },
			field.ErrorTypeRequired, "spec.ingress[0].from[0]", "must specify a peer"},
		{"ipBlock with selector", func(p *networkingv1.NetworkPolicy) {
			p.Spec.Ingress[0].From[0].IPBlock = &networkingv1.IPBlock{CIDR: "10.0.0.0/8"}
		}, field.ErrorTypeForbidden, "spec.ingress[0].from[0]", "may not specify both ipBlock and another peer"},
		{"except outside cidr", func(p *networkingv1.NetworkPolicy) {
			p.Spec.Ingress[0].From = []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/16", Except: []string{"10.1.0.0/24"}}}}
		}, field.ErrorTypeInvalid, "spec.ingress[0].from[0].ipBlock.except[0]", "must be a strict subset of `cidr`"},
		{"bad cidr", func(p *networkingv1.NetworkPolicy) {
			p.Spec.Ingress[0].From = []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/33"}}}
		}, field.ErrorTypeInvalid, "spec.ingress[0].from[0].ipBlock.cidr", ""},
		{"endPort below port", func(p *networkingv1.NetworkPolicy) { p.Spec.Ingress[0].Ports[0].EndPort = wlInt32Ptr(80) },
			field.ErrorTypeInvalid, "spec.ingress[0].ports[0].endPort", "must be greater than or equal to `port`"},
		{"endPort with named port", func(p *networkingv1.NetworkPolicy) {
			named := intstr.FromString("postgres")
			p.Spec.Ingress[0].Ports[0].Port = &named
			p.Spec.Ingress[0].Ports[0].EndPort = wlInt32Ptr(6000)
		}, field.ErrorTypeInvalid, "spec.ingress[0].ports[0].endPort", "may not be specified when `port` is non-numeric"},
		{"bad protocol", func(p *networkingv1.NetworkPolicy) {
			icmp := corev1.Protocol("ICMP")
			p.Spec.Ingress[0].Ports[0].Protocol = &icmp
		},
			field.ErrorTypeNotSupported, "spec.ingress[0].ports[0].protocol", ""},
		{"bad policy type", func(p *networkingv1.NetworkPolicy) { p.Spec.PolicyTypes = []networkingv1.PolicyType{"Sideways"} },
			field.ErrorTypeNotSupported, "spec.policyTypes[0]", ""},
		{"three policy types", func(p *networkingv1.NetworkPolicy) {
			p.Spec.PolicyTypes = []networkingv1.PolicyType{"Ingress", "Egress", "Ingress"}
		}, field.ErrorTypeInvalid, "spec.policyTypes", "may not specify more than two policyTypes"},
	} {
		t.Run(tc.name, func(t *testing.T) { wlWantError(t, s.Validate(np(tc.mutate)), tc.typ, tc.field, tc.detail) })
	}
	t.Run("row", func(t *testing.T) {
		wlWantRow(t, s, np(nil), []interface{}{"db", "app=db", "5m"})
		wlWantRow(t, s, np(func(p *networkingv1.NetworkPolicy) { p.Spec.PodSelector = metav1.LabelSelector{} }),
			[]interface{}{"db", "<none>", "5m"})
	})
}

func wlEndpointSlice(mutate func(*discoveryv1.EndpointSlice)) *discoveryv1.EndpointSlice {
	port := int32(8080)
	es := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "web-abc12", Namespace: "default", CreationTimestamp: wlCreated},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.244.1.5"}, NodeName: wlStr("node-1")}},
		Ports:       []discoveryv1.EndpointPort{{Name: wlStr("http"), Port: &port}},
	}
	if mutate != nil {
		mutate(es)
	}
	return es
}

func TestEndpointSlice(t *testing.T) {
	s := wlStrategy(t, discoveryv1.SchemeGroupVersion, "endpointslices")
	t.Run("defaults", func(t *testing.T) {
		es := wlDefaulted(s, wlEndpointSlice(func(es *discoveryv1.EndpointSlice) { es.Ports[0].Name = nil }))
		if *es.Ports[0].Name != "" || *es.Ports[0].Protocol != corev1.ProtocolTCP {
			t.Errorf("port %+v", es.Ports[0])
		}
		wlWantNoErrors(t, s.Validate(es))
	})
	many := make([]discoveryv1.Endpoint, 1001)
	for i := range many {
		many[i] = discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("10.0.%d.%d", i/250, i%250+1)}}
	}
	for _, tc := range []struct {
		name          string
		mutate        func(*discoveryv1.EndpointSlice)
		typ           field.ErrorType
		field, detail string
	}{
		{"no address type", func(es *discoveryv1.EndpointSlice) { es.AddressType = "" }, field.ErrorTypeRequired, "addressType", ""},
		{"unknown address type", func(es *discoveryv1.EndpointSlice) { es.AddressType = "IPX" },
			field.ErrorTypeNotSupported, "addressType", `"FQDN", "IPv4", "IPv6"`},
		{"too many endpoints", func(es *discoveryv1.EndpointSlice) { es.Endpoints = many }, field.ErrorTypeTooMany, "endpoints", ""},
		{"no addresses", func(es *discoveryv1.EndpointSlice) { es.Endpoints[0].Addresses = nil },
			field.ErrorTypeRequired, "endpoints[0].addresses", "must contain at least 1 address"},
		{"IPv6 in IPv4 slice", func(es *discoveryv1.EndpointSlice) { es.Endpoints[0].Addresses = []string{"fd00::1"} },
			field.ErrorTypeInvalid, "endpoints[0].addresses[0]", "must be a valid IPv4 address"},
		{"loopback", func(es *discoveryv1.EndpointSlice) { es.Endpoints[0].Addresses = []string{"127.0.0.1"} },
			field.ErrorTypeInvalid, "endpoints[0].addresses[0]", "may not be in the loopback range"},
		{"duplicate port name", func(es *discoveryv1.EndpointSlice) { es.Ports = append(es.Ports, es.Ports[0]) },
			field.ErrorTypeDuplicate, "ports[1].name", ""},
		{"bad port name", func(es *discoveryv1.EndpointSlice) { es.Ports[0].Name = wlStr("HTTP") },
			field.ErrorTypeInvalid, "ports[0].name", ""},
		{"bad hostname", func(es *discoveryv1.EndpointSlice) { es.Endpoints[0].Hostname = wlStr("web.1") },
			field.ErrorTypeInvalid, "endpoints[0].hostname", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wlWantError(t, s.Validate(wlDefaulted(s, wlEndpointSlice(tc.mutate))), tc.typ, tc.field, tc.detail)
		})
	}
	t.Run("address type immutable", func(t *testing.T) {
		old := wlDefaulted(s, wlEndpointSlice(nil))
		n := old.DeepCopy()
		n.AddressType = discoveryv1.AddressTypeIPv6
		n.Endpoints[0].Addresses = []string{"fd00::5"}
		wlWantError(t, s.ValidateUpdate(n, old), field.ErrorTypeInvalid, "addressType", "field is immutable")
	})
	t.Run("row", func(t *testing.T) {
		es := wlDefaulted(s, wlEndpointSlice(nil))
		wlWantRow(t, s, es, []interface{}{"web-abc12", "IPv4", "8080", "10.244.1.5", "5m"})
		es.Endpoints = many[:5]
		es.Ports = nil
		wlWantRow(t, s, es, []interface{}{"web-abc12", "IPv4", "<unset>", "10.0.0.1,10.0.0.2,10.0.0.3 + 2 more...", "5m"})
	})
}

// --- Lease, StorageClass, RBAC --------------------------------------------------------

func TestLease(t *testing.T) {
	s := wlStrategy(t, coordinationv1.SchemeGroupVersion, "leases")
	l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "node-1", Namespace: "kube-node-lease", CreationTimestamp: wlCreated},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: wlStr("node-1"), LeaseDurationSeconds: wlInt32Ptr(40)}}
	wlWantNoErrors(t, s.Validate(l))
	wlWantRow(t, s, l, []interface{}{"node-1", "node-1", "5m"})
	bad := l.DeepCopy()
	bad.Spec.LeaseDurationSeconds = wlInt32Ptr(0)
	bad.Spec.LeaseTransitions = wlInt32Ptr(-1)
	errs := s.ValidateUpdate(bad, l)
	wlWantError(t, errs, field.ErrorTypeInvalid, "spec.leaseDurationSeconds", "must be greater than 0")
	wlWantError(t, errs, field.ErrorTypeInvalid, "spec.leaseTransitions", "")
	pref := l.DeepCopy()
	pref.Spec.PreferredHolder = wlStr("node-2")
	wlWantError(t, s.Validate(pref), field.ErrorTypeForbidden, "spec.preferredHolder", "may only be specified if `strategy` is defined")
	anon := l.DeepCopy()
	anon.Spec.HolderIdentity = nil
	if got := s.Row(anon, wlTestNow)[1]; got != "" {
		t.Errorf("holder %q", got)
	}
}

func TestStorageClass(t *testing.T) {
	s := wlStrategy(t, storagev1.SchemeGroupVersion, "storageclasses")
	sc := func(mutate func(*storagev1.StorageClass)) *storagev1.StorageClass {
		c := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "local", CreationTimestamp: wlCreated},
			Provisioner: "gureum.io/local-path", Parameters: map[string]string{"path": "/var/lib/gureum/volumes"}}
		if mutate != nil {
			mutate(c)
		}
		s.Default(c)
		return c
	}
	t.Run("defaults", func(t *testing.T) {
		c := sc(nil)
		if *c.ReclaimPolicy != corev1.PersistentVolumeReclaimDelete || *c.VolumeBindingMode != storagev1.VolumeBindingImmediate {
			t.Errorf("reclaimPolicy %v volumeBindingMode %v", *c.ReclaimPolicy, *c.VolumeBindingMode)
		}
		wlWantNoErrors(t, s.Validate(c))
	})
	t.Run("validation", func(t *testing.T) {
		wlWantError(t, s.Validate(sc(func(c *storagev1.StorageClass) { c.Provisioner = "" })), field.ErrorTypeRequired, "provisioner", "")
		wlWantError(t, s.Validate(sc(func(c *storagev1.StorageClass) { c.Provisioner = "not a name" })), field.ErrorTypeInvalid, "provisioner", "")
		wlWantError(t, s.Validate(sc(func(c *storagev1.StorageClass) { p := corev1.PersistentVolumeReclaimRecycle; c.ReclaimPolicy = &p })),
			field.ErrorTypeNotSupported, "reclaimPolicy", `"Delete", "Retain"`)
		wlWantError(t, s.Validate(sc(func(c *storagev1.StorageClass) { m := storagev1.VolumeBindingMode("Later"); c.VolumeBindingMode = &m })),
			field.ErrorTypeNotSupported, "volumeBindingMode", "")
		wlWantError(t, s.Validate(sc(func(c *storagev1.StorageClass) { c.Namespace = "default" })), field.ErrorTypeForbidden, "metadata.namespace", "")
	})
	t.Run("update", func(t *testing.T) {
		old := sc(nil)
		n := old.DeepCopy()
		n.Parameters["path"] = "/data"
		n.Provisioner = "example.com/nfs"
		retain := corev1.PersistentVolumeReclaimRetain
		n.ReclaimPolicy = &retain
		wait := storagev1.VolumeBindingWaitForFirstConsumer
		n.VolumeBindingMode = &wait
		errs := s.ValidateUpdate(n, old)
		wlWantError(t, errs, field.ErrorTypeForbidden, "parameters", "updates to parameters are forbidden.")
		wlWantError(t, errs, field.ErrorTypeForbidden, "provisioner", "updates to provisioner are forbidden.")
		wlWantError(t, errs, field.ErrorTypeForbidden, "reclaimPolicy", "updates to reclaimPolicy are forbidden.")
		wlWantError(t, errs, field.ErrorTypeInvalid, "volumeBindingMode", "field is immutable")
		ok := old.DeepCopy()
		yes := true
		ok.AllowVolumeExpansion = &yes
		ok.Annotations = map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}
		wlWantNoErrors(t, s.ValidateUpdate(ok, old))
	})
	t.Run("row", func(t *testing.T) {
		c := sc(nil)
		wlWantRow(t, s, c, []interface{}{"local", "gureum.io/local-path", "Delete", "Immediate", false, "5m"})
		c.Annotations = map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}
		if got := s.Row(c, wlTestNow)[0]; got != "local (default)" {
			t.Errorf("name %q", got)
		}
	})
}

func TestRBAC(t *testing.T) {
	gv := rbacv1.SchemeGroupVersion
	t.Run("role rules", func(t *testing.T) {
		s := wlStrategy(t, gv, "roles")
		r := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "pod-reader", Namespace: "default", CreationTimestamp: wlCreated},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list"}}}}
		wlWantNoErrors(t, s.Validate(r))
		noVerbs := r.DeepCopy()
		noVerbs.Rules[0].Verbs = nil
		wlWantError(t, s.Validate(noVerbs), field.ErrorTypeRequired, "rules[0].verbs", "verbs must contain at least one value")
		urls := r.DeepCopy()
		urls.Rules[0] = rbacv1.PolicyRule{NonResourceURLs: []string{"/healthz"}, Verbs: []string{"get"}}
		wlWantError(t, s.Validate(urls), field.ErrorTypeInvalid, "rules[0].nonResourceURLs", "namespaced rules cannot apply to non-resource URLs")
		noGroups := r.DeepCopy()
		noGroups.Rules[0].APIGroups = nil
		wlWantError(t, s.Validate(noGroups), field.ErrorTypeRequired, "rules[0].apiGroups", "")
		wlWantRow(t, s, r, []interface{}{"pod-reader", wlCreated.UTC().Format(time.RFC3339)})
	})
	t.Run("cluster role", func(t *testing.T) {
		s := wlStrategy(t, gv, "clusterroles")
		r := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "system:metrics"},
			Rules: []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}}
		wlWantNoErrors(t, s.Validate(r))
		mixed := r.DeepCopy()
		mixed.Rules[0].Resources = []string{"pods"}
		wlWantError(t, s.Validate(mixed), field.ErrorTypeInvalid, "rules[0].nonResourceURLs", "rules cannot apply to both regular resources and non-resource URLs")
		agg := r.DeepCopy()
		agg.AggregationRule = &rbacv1.AggregationRule{}
		wlWantError(t, s.Validate(agg), field.ErrorTypeRequired, "aggregationRule.clusterRoleSelectors", "")
		slash := r.DeepCopy()
		slash.Name = "a/b"
		wlWantError(t, s.Validate(slash), field.ErrorTypeInvalid, "metadata.name", "may not contain '/'")
	})
	t.Run("role binding", func(t *testing.T) {
		s := wlStrategy(t, gv, "rolebindings")
		b := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "read-pods", Namespace: "default", CreationTimestamp: wlCreated},
			RoleRef: rbacv1.RoleRef{Kind: "Role", Name: "pod-reader"},
			Subjects: []rbacv1.Subject{{Kind: "User", Name: "jane"}, {Kind: "Group", Name: "devs"},
				{Kind: "ServiceAccount", Name: "ci", Namespace: "tools"}, {Kind: "ServiceAccount", Name: "default"}}}
		s.Default(b)
		if b.RoleRef.APIGroup != rbacv1.GroupName || b.Subjects[0].APIGroup != rbacv1.GroupName || b.Subjects[2].APIGroup != "" {
			t.Errorf("defaults: %+v", b)
		}
		wlWantNoErrors(t, s.Validate(b))
		wlWantRow(t, s, b, []interface{}{"read-pods", "Role/pod-reader", "5m", "jane", "devs", "tools/ci, default"})

		badKind := b.DeepCopy()
		badKind.RoleRef.Kind = "Policy"
		wlWantError(t, s.Validate(badKind), field.ErrorTypeNotSupported, "roleRef.kind", `"Role", "ClusterRole"`)
		badSubject := b.DeepCopy()
		badSubject.Subjects[0].Kind = "Robot"
		wlWantError(t, s.Validate(badSubject), field.ErrorTypeNotSupported, "subjects[0].kind", "")

		moved := b.DeepCopy()
		moved.RoleRef.Name = "admin"
		wlWantError(t, s.ValidateUpdate(moved, b), field.ErrorTypeInvalid, "roleRef", "cannot change roleRef")
		more := b.DeepCopy()
		more.Subjects = append(more.Subjects, rbacv1.Subject{Kind: "User", APIGroup: rbacv1.GroupName, Name: "joe"})
		wlWantNoErrors(t, s.ValidateUpdate(more, b))
	})
	t.Run("cluster role binding", func(t *testing.T) {
		s := wlStrategy(t, gv, "clusterrolebindings")
		b := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "ci-admin"},
			RoleRef:  rbacv1.RoleRef{Kind: "Role", Name: "admin"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "ci"}}}
		s.Default(b)
		errs := s.Validate(b)
		wlWantError(t, errs, field.ErrorTypeNotSupported, "roleRef.kind", `"ClusterRole"`)
		wlWantError(t, errs, field.ErrorTypeRequired, "subjects[0].namespace", "")
	})
}

// TestOtherColumns pins the column names and their -o wide split to what
// kubectl shows.
func TestOtherColumns(t *testing.T) {
	for _, tc := range []struct {
		group, resource, normal, wide string
	}{
		{"batch/v1", "jobs", "Name Status Completions Duration Age", "Containers Images Selector"},
		{"batch/v1", "cronjobs", "Name Schedule Timezone Suspend Active Last Schedule Age", "Containers Images Selector"},
		{"autoscaling/v2", "horizontalpodautoscalers", "Name Reference Targets MinPods MaxPods Replicas Age", ""},
		{"networking.k8s.io/v1", "ingresses", "Name Class Hosts Address Ports Age", ""},
		{"networking.k8s.io/v1", "ingressclasses", "Name Controller Parameters Age", ""},
		{"networking.k8s.io/v1", "networkpolicies", "Name Pod-Selector Age", ""},
		{"discovery.k8s.io/v1", "endpointslices", "Name AddressType Ports Endpoints Age", ""},
		{"coordination.k8s.io/v1", "leases", "Name Holder Age", ""},
		{"storage.k8s.io/v1", "storageclasses", "Name Provisioner ReclaimPolicy VolumeBindingMode AllowVolumeExpansion Age", ""},
		{"rbac.authorization.k8s.io/v1", "roles", "Name Created At", ""},
		{"rbac.authorization.k8s.io/v1", "clusterroles", "Name Created At", ""},
		{"rbac.authorization.k8s.io/v1", "rolebindings", "Name Role Age", "Users Groups ServiceAccounts"},
		{"rbac.authorization.k8s.io/v1", "clusterrolebindings", "Name Role Age", "Users Groups ServiceAccounts"},
	} {
		t.Run(tc.resource, func(t *testing.T) {
			gv, err := schema.ParseGroupVersion(tc.group)
			if err != nil {
				t.Fatal(err)
			}
			wlCheckColumns(t, wlStrategy(t, gv, tc.resource), tc.normal, tc.wide)
		})
	}
}
