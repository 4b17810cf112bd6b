package job

import (
	"fmt"
	"slices"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

type jobOpt func(*batchv1.Job)

func newJob(opts ...jobOpt) *batchv1.Job {
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "pi", Namespace: "ns", UID: "job-uid"},
		Spec: batchv1.JobSpec{
			Completions:          ptrTo(int32(1)),
			Parallelism:          ptrTo(int32(1)),
			BackoffLimit:         ptrTo(int32(6)),
			CompletionMode:       ptrTo(batchv1.NonIndexedCompletion),
			Suspend:              ptrTo(false),
			PodReplacementPolicy: ptrTo(batchv1.TerminatingOrFailed),
		},
	}
	for _, o := range opts {
		o(j)
	}
	return j
}

func completions(n int32) jobOpt { return func(j *batchv1.Job) { j.Spec.Completions = ptrTo(n) } }
func noCompletions() jobOpt      { return func(j *batchv1.Job) { j.Spec.Completions = nil } }
func parallelism(n int32) jobOpt { return func(j *batchv1.Job) { j.Spec.Parallelism = ptrTo(n) } }
func backoffLimit(n int32) jobOpt {
	return func(j *batchv1.Job) { j.Spec.BackoffLimit = ptrTo(n) }
}
func indexed() jobOpt {
	return func(j *batchv1.Job) { j.Spec.CompletionMode = ptrTo(batchv1.IndexedCompletion) }
}
func suspended() jobOpt { return func(j *batchv1.Job) { j.Spec.Suspend = ptrTo(true) } }
func started(at time.Time) jobOpt {
	return func(j *batchv1.Job) { j.Status.StartTime = ptrTo(metav1.NewTime(at)) }
}
func deadline(s int64) jobOpt {
	return func(j *batchv1.Job) { j.Spec.ActiveDeadlineSeconds = ptrTo(s) }
}
func counted(succeeded, failed int32) jobOpt {
	return func(j *batchv1.Job) { j.Status.Succeeded, j.Status.Failed = succeeded, failed }
}
func uncounted(succeeded, failed []types.UID) jobOpt {
	return func(j *batchv1.Job) {
		j.Status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{Succeeded: succeeded, Failed: failed}
	}
}
func withCondition(t batchv1.JobConditionType, reason string, at time.Time) jobOpt {
	return func(j *batchv1.Job) { setCondition(&j.Status, t, corev1.ConditionTrue, reason, "", at) }
}

type podOpt func(*corev1.Pod)

func newPod(name string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name),
			Finalizers: []string{batchv1.JobTrackingFinalizer}, CreationTimestamp: metav1.NewTime(t0)},
		Status: corev1.PodStatus{Phase: corev1.PodPending},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func phase(ph corev1.PodPhase) podOpt { return func(p *corev1.Pod) { p.Status.Phase = ph } }
func untracked() podOpt               { return func(p *corev1.Pod) { p.Finalizers = nil } }
func ready() podOpt {
	return func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	}
}
func index(i int) podOpt {
	return func(p *corev1.Pod) {
		p.Annotations = map[string]string{batchv1.JobCompletionIndexAnnotation: fmt.Sprint(i)}
	}
}
func deleting() podOpt {
	return func(p *corev1.Pod) { p.DeletionTimestamp = ptrTo(metav1.NewTime(t0)) }
}
func scheduled() podOpt { return func(p *corev1.Pod) { p.Spec.NodeName = "n1" } }
func exitCode(code int32, at time.Time) podOpt {
	return func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodFailed
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "main", State: corev1.ContainerState{
			Terminated: &corev1.ContainerStateTerminated{ExitCode: code, FinishedAt: metav1.NewTime(at)}}}}
	}
}

func names(pods []*corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	slices.Sort(out)
	return out
}

func condReason(st *batchv1.JobStatus, t batchv1.JobConditionType) string {
	if c := findCondition(st, t); c != nil && c.Status == corev1.ConditionTrue {
		return c.Reason
	}
	return ""
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name    string
		job     *batchv1.Job
		pods    []*corev1.Pod
		now     time.Time
		backoff backoffRecord

		create     []int
		deletePods []string
		strip      []string
		active     int32
		succeeded  int32 // after flushUncounted with every stripped pod released
		failed     int32
		conditions map[batchv1.JobConditionType]string // type -> reason of a true condition ("" = absent)
		requeue    time.Duration
		deleteJob  bool
		completed  string
	}{
		{
			name:   "new job starts one pod",
			job:    newJob(),
			create: []int{-1}, active: 1,
		},
		{
			name:   "parallelism bounded by remaining completions",
			job:    newJob(completions(5), parallelism(3), counted(3, 0), started(t0)),
			create: []int{-1, -1}, active: 2, succeeded: 3,
		},
		{
			name:       "never more than parallelism",
			job:        newJob(completions(10), parallelism(2), started(t0)),
			pods:       []*corev1.Pod{newPod("a", ready()), newPod("b"), newPod("c")},
			deletePods: []string{"c"}, strip: []string{"c"}, active: 2,
		},
		{
			name:   "succeeded pod recorded, released and counted; replacement created",
			job:    newJob(completions(3), parallelism(1), started(t0)),
			pods:   []*corev1.Pod{newPod("a", phase(corev1.PodSucceeded))},
			create: []int{-1}, strip: []string{"a"}, active: 1, succeeded: 1,
		},
		{
			name:   "released pods are not counted twice",
			job:    newJob(completions(3), counted(1, 0), started(t0)),
			pods:   []*corev1.Pod{newPod("a", phase(corev1.PodSucceeded), untracked()), newPod("b", ready())},
			active: 1, succeeded: 1,
		},
		{
			name:   "uncounted pod that is gone is counted",
			job:    newJob(completions(3), uncounted([]types.UID{"gone"}, []types.UID{"gone2"}), started(t0)),
			pods:   nil,
			create: []int{-1}, active: 1, succeeded: 1, failed: 1,
		},
		{
			name:  "completions reached: SuccessCriteriaMet first",
			job:   newJob(completions(2), counted(1, 0), started(t0)),
			pods:  []*corev1.Pod{newPod("a", phase(corev1.PodSucceeded))},
			strip: []string{"a"}, succeeded: 2,
			conditions: map[batchv1.JobConditionType]string{batchv1.JobSuccessCriteriaMet: "CompletionsReached", batchv1.JobComplete: ""},
		},
		{
			name: "then Complete once all is counted",
			job: newJob(completions(2), counted(2, 0), started(t0),
				withCondition(batchv1.JobSuccessCriteriaMet, "CompletionsReached", t0)),
			pods:       []*corev1.Pod{newPod("a", phase(corev1.PodSucceeded), untracked())},
			succeeded:  2,
			conditions: map[batchv1.JobConditionType]string{batchv1.JobSuccessCriteriaMet: "CompletionsReached", batchv1.JobComplete: "CompletionsReached"},
		},
		{
			name:  "work queue: done when one succeeded and none runs",
			job:   newJob(noCompletions(), parallelism(3), started(t0)),
			pods:  []*corev1.Pod{newPod("a", phase(corev1.PodSucceeded)), newPod("b", phase(corev1.PodSucceeded))},
			strip: []string{"a", "b"}, succeeded: 2,
			conditions: map[batchv1.JobConditionType]string{batchv1.JobSuccessCriteriaMet: "CompletionsReached"},
		},
		{
			name:  "work queue: after one success no new pods, running ones finish",
			job:   newJob(noCompletions(), parallelism(3), started(t0)),
			pods:  []*corev1.Pod{newPod("a", phase(corev1.PodSucceeded)), newPod("b", ready())},
			strip: []string{"a"}, succeeded: 1, active: 1,
		},
		{
			name:   "work queue: fills parallelism before any success",
			job:    newJob(noCompletions(), parallelism(3), started(t0)),
			pods:   []*corev1.Pod{newPod("b", ready())},
			create: []int{-1, -1}, active: 3,
		},
		{
			name:  "failed pod replaced after back-off",
			job:   newJob(completions(1), started(t0)),
			pods:  []*corev1.Pod{newPod("a", exitCode(1, t0))},
			now:   t0.Add(3 * time.Second),
			strip: []string{"a"}, failed: 1, requeue: 7 * time.Second,
		},
		{
			name:    "replacement created once the back-off has passed",
			job:     newJob(completions(1), counted(0, 1), started(t0)),
			pods:    []*corev1.Pod{newPod("a", exitCode(1, t0), untracked())},
			now:     t0.Add(10 * time.Second),
			backoff: backoffRecord{failures: 1, last: t0},
			create:  []int{-1}, active: 1, failed: 1,
		},
		{
			name:       "backoffLimit exceeded: FailureTarget, running pods stopped and counted",
			job:        newJob(completions(3), parallelism(2), backoffLimit(1), counted(0, 1), started(t0)),
			pods:       []*corev1.Pod{newPod("a", exitCode(1, t0)), newPod("b", ready())},
			deletePods: []string{"b"}, strip: []string{"a", "b"}, failed: 3,
			conditions: map[batchv1.JobConditionType]string{batchv1.JobFailureTarget: "BackoffLimitExceeded", batchv1.JobFailed: ""},
		},
		{
			name: "then Failed once nothing runs",
			job: newJob(backoffLimit(1), counted(0, 2), started(t0),
				withCondition(batchv1.JobFailureTarget, "BackoffLimitExceeded", t0)),
			pods:       []*corev1.Pod{newPod("a", exitCode(1, t0), untracked())},
			failed:     2,
			conditions: map[batchv1.JobConditionType]string{batchv1.JobFailureTarget: "BackoffLimitExceeded", batchv1.JobFailed: "BackoffLimitExceeded"},
		},
		{
			name:   "active deadline not yet reached requeues for the rest",
			job:    newJob(deadline(30), started(t0)),
			pods:   []*corev1.Pod{newPod("a", ready())},
			now:    t0.Add(10 * time.Second),
			active: 1, requeue: 20 * time.Second,
		},
		{
			name:       "active deadline exceeded",
			job:        newJob(deadline(30), started(t0)),
			pods:       []*corev1.Pod{newPod("a", ready())},
			now:        t0.Add(30 * time.Second),
			deletePods: []string{"a"}, strip: []string{"a"}, failed: 1,
			conditions: map[batchv1.JobConditionType]string{batchv1.JobFailureTarget: "DeadlineExceeded"},
		},
		{
			name:       "suspend stops pods without counting them",
			job:        newJob(completions(2), parallelism(2), suspended(), started(t0)),
			pods:       []*corev1.Pod{newPod("a", ready()), newPod("b")},
			deletePods: []string{"a", "b"}, strip: []string{"a", "b"},
			conditions: map[batchv1.JobConditionType]string{batchv1.JobSuspended: "JobSuspended"},
		},
		{
			name: "resume restarts pods",
			job: newJob(completions(2), parallelism(2), started(t0),
				withCondition(batchv1.JobSuspended, "JobSuspended", t0)),
			create: []int{-1, -1}, active: 2,
			conditions: map[batchv1.JobConditionType]string{batchv1.JobSuspended: ""},
		},
		{
			name:   "indexed: lowest pending indexes first",
			job:    newJob(indexed(), completions(5), parallelism(2), started(t0)),
			pods:   []*corev1.Pod{newPod("p0", index(0), phase(corev1.PodSucceeded)), newPod("p1", index(1), ready())},
			create: []int{2}, strip: []string{"p0"}, active: 2, succeeded: 1, completed: "0",
		},
		{
			name: "indexed: duplicates and completed indexes stopped",
			job: newJob(indexed(), completions(4), parallelism(4), started(t0),
				func(j *batchv1.Job) { j.Status.CompletedIndexes = "0,2" }),
			pods: []*corev1.Pod{newPod("p1a", index(1), ready()), newPod("p1b", index(1)),
				newPod("p2", index(2)), newPod("p9", index(9))},
			create: []int{3}, deletePods: []string{"p1b", "p2", "p9"}, strip: []string{"p1b", "p2", "p9"},
			active: 2, succeeded: 2, completed: "0,2",
		},
		{
			name:  "indexed: completed indexes as ranges, done",
			job:   newJob(indexed(), completions(3), parallelism(3), started(t0)),
			pods:  []*corev1.Pod{newPod("a", index(0), phase(corev1.PodSucceeded)), newPod("b", index(1), phase(corev1.PodSucceeded)), newPod("c", index(2), phase(corev1.PodSucceeded))},
			strip: []string{"a", "b", "c"}, succeeded: 3, completed: "0-2",
			conditions: map[batchv1.JobConditionType]string{batchv1.JobSuccessCriteriaMet: "CompletionsReached"},
		},
		{
			name:   "terminating pod counts as failed at once (TerminatingOrFailed)",
			job:    newJob(completions(1), backoffLimit(5), started(t0)),
			pods:   []*corev1.Pod{newPod("a", ready(), deleting(), scheduled())},
			now:    t0.Add(time.Minute),
			create: []int{-1}, strip: []string{"a"}, active: 1, failed: 1,
		},
		{
			name: "podReplacementPolicy Failed: terminating pod holds its slot",
			job: newJob(completions(2), parallelism(2), started(t0),
				func(j *batchv1.Job) { j.Spec.PodReplacementPolicy = ptrTo(batchv1.Failed) }),
			pods:   []*corev1.Pod{newPod("a", ready(), deleting(), scheduled())},
			create: []int{-1}, active: 1,
		},
		{
			name: "pod failure policy FailJob",
			job: newJob(completions(1), started(t0), func(j *batchv1.Job) {
				j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
					Action:      batchv1.PodFailurePolicyActionFailJob,
					OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{42}},
				}}}
			}),
			pods:  []*corev1.Pod{newPod("a", exitCode(42, t0))},
			strip: []string{"a"}, failed: 1,
			conditions: map[batchv1.JobConditionType]string{batchv1.JobFailureTarget: "PodFailurePolicy"},
		},
		{
			name: "pod failure policy Ignore: not counted, replaced without back-off",
			job: newJob(completions(1), started(t0), func(j *batchv1.Job) {
				j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
					Action:      batchv1.PodFailurePolicyActionIgnore,
					OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{137}},
				}}}
			}),
			pods:   []*corev1.Pod{newPod("a", exitCode(137, t0))},
			create: []int{-1}, strip: []string{"a"}, active: 1,
		},
		{
			name: "finished job: TTL pending",
			job: newJob(started(t0), counted(1, 0), func(j *batchv1.Job) {
				j.Spec.TTLSecondsAfterFinished = ptrTo(int32(60))
				j.Status.CompletionTime = ptrTo(metav1.NewTime(t0.Add(time.Second)))
			}, withCondition(batchv1.JobComplete, "CompletionsReached", t0.Add(time.Second))),
			now:        t0.Add(31 * time.Second),
			succeeded:  1,
			requeue:    30 * time.Second,
			conditions: map[batchv1.JobConditionType]string{batchv1.JobComplete: "CompletionsReached"},
		},
		{
			name: "finished job: TTL expired",
			job: newJob(started(t0), counted(0, 7), func(j *batchv1.Job) {
				j.Spec.TTLSecondsAfterFinished = ptrTo(int32(0))
			}, withCondition(batchv1.JobFailed, "BackoffLimitExceeded", t0)),
			now:       t0,
			failed:    7,
			deleteJob: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now := tc.now
			if now.IsZero() {
				now = t0
			}
			p := decide(decideInput{job: tc.job, pods: tc.pods, now: now, backoff: tc.backoff,
				backoffBase: DefaultBackoffBase, backoffMax: DefaultBackoffMax})
			if !slices.Equal(p.create, tc.create) {
				t.Errorf("create = %v, want %v", p.create, tc.create)
			}
			if got := names(p.deletePods); !slices.Equal(got, tc.deletePods) {
				t.Errorf("delete = %v, want %v", got, tc.deletePods)
			}
			if got := names(p.strip); !slices.Equal(got, tc.strip) {
				t.Errorf("strip = %v, want %v", got, tc.strip)
			}
			st := p.status
			released := map[types.UID]bool{}
			for _, pod := range p.strip {
				released[pod.UID] = true
			}
			flushUncounted(&st, isIndexed(tc.job), func(uid types.UID) bool { return !released[uid] && podByUID(tc.pods, uid) })
			if st.Active != tc.active || st.Succeeded != tc.succeeded || st.Failed != tc.failed {
				t.Errorf("active/succeeded/failed = %d/%d/%d, want %d/%d/%d", st.Active, st.Succeeded, st.Failed, tc.active, tc.succeeded, tc.failed)
			}
			if n := len(st.UncountedTerminatedPods.Succeeded) + len(st.UncountedTerminatedPods.Failed); n != 0 {
				t.Errorf("uncounted left after flush: %+v", st.UncountedTerminatedPods)
			}
			for typ, want := range tc.conditions {
				if got := condReason(&st, typ); got != want {
					t.Errorf("condition %s reason = %q, want %q", typ, got, want)
				}
			}
			if p.requeueAfter != tc.requeue {
				t.Errorf("requeueAfter = %v, want %v", p.requeueAfter, tc.requeue)
			}
			if p.deleteJob != tc.deleteJob {
				t.Errorf("deleteJob = %v, want %v", p.deleteJob, tc.deleteJob)
			}
			if st.CompletedIndexes != tc.completed {
				t.Errorf("completedIndexes = %q, want %q", st.CompletedIndexes, tc.completed)
			}
			if st.StartTime == nil && !(tc.job.Spec.Suspend != nil && *tc.job.Spec.Suspend) {
				t.Errorf("startTime not set")
			}
		})
	}
}

func podByUID(pods []*corev1.Pod, uid types.UID) bool {
	for _, p := range pods {
		if p.UID == uid {
			return hasTrackingFinalizer(p)
		}
	}
	return false
}

// TestDecideConverges runs decide against a simulated world until it
// settles, checking the invariants Kubernetes documents: never more than
// parallelism pods active, and the job ends Complete with exactly
// completions successes.
func TestDecideConverges(t *testing.T) {
	for _, mode := range []batchv1.CompletionMode{batchv1.NonIndexedCompletion, batchv1.IndexedCompletion} {
		for _, par := range []int32{1, 2, 5} {
			t.Run(fmt.Sprintf("%s/parallelism=%d", mode, par), func(t *testing.T) {
				job := newJob(completions(7), parallelism(par), func(j *batchv1.Job) { j.Spec.CompletionMode = ptrTo(mode) })
				var pods []*corev1.Pod
				now := t0
				for step := 0; step < 200; step++ {
					p := decide(decideInput{job: job, pods: pods, now: now, backoffBase: time.Second, backoffMax: time.Minute})
					job.Status = p.status
					released := map[types.UID]bool{}
					for _, pod := range p.strip {
						pod.Finalizers = nil
						released[pod.UID] = true
					}
					for _, pod := range p.deletePods {
						pods = slices.DeleteFunc(pods, func(q *corev1.Pod) bool { return q == pod })
					}
					for _, i := range p.create {
						pod := newPod(fmt.Sprintf("p%d", len(pods)+step*100), ready())
						if i >= 0 {
							index(i)(pod)
							pod.Status.Phase = corev1.PodRunning
						}
						pods = append(pods, pod)
					}
					flushUncounted(&job.Status, isIndexed(job), func(uid types.UID) bool { return podByUID(pods, uid) })
					if conditionTrue(&job.Status, batchv1.JobComplete) {
						if job.Status.Succeeded != 7 {
							t.Fatalf("complete with %d succeeded", job.Status.Succeeded)
						}
						return
					}
					active := 0
					for _, pod := range pods {
						if classify(pod, false) == podActive {
							active++
						}
					}
					if active > int(par) {
						t.Fatalf("step %d: %d active > parallelism %d", step, active, par)
					}
					// The world moves: the oldest running pod succeeds, and
					// every third step one fails instead.
					for _, pod := range pods {
						if classify(pod, false) == podActive {
							if step%3 == 2 {
								exitCode(1, now)(pod)
							} else {
								pod.Status.Phase = corev1.PodSucceeded
							}
							break
						}
					}
					now = now.Add(2 * time.Minute)
				}
				t.Fatalf("did not complete: %+v", job.Status)
			})
		}
	}
}

func TestBackoffRemaining(t *testing.T) {
	base, maxDelay := 10*time.Second, 6*time.Minute
	for _, tc := range []struct {
		failures int
		since    time.Duration
		want     time.Duration
	}{
		{0, 0, 0},
		{1, 0, 10 * time.Second},
		{1, 4 * time.Second, 6 * time.Second},
		{2, 0, 20 * time.Second},
		{3, 0, 40 * time.Second},
		{6, 0, 320 * time.Second},
		{7, 0, 6 * time.Minute},
		{50, 0, 6 * time.Minute},
		{3, time.Hour, 0},
	} {
		got := backoffRemaining(backoffRecord{failures: tc.failures, last: t0}, base, maxDelay, t0.Add(tc.since))
		if got != tc.want {
			t.Errorf("failures=%d since=%v: got %v, want %v", tc.failures, tc.since, got, tc.want)
		}
	}
}

func TestIndexes(t *testing.T) {
	for _, tc := range []struct {
		in          string
		completions int
		want        string
	}{
		{"", 5, ""},
		{"0", 5, "0"},
		{"1,3,4,5", 10, "1,3-5"},
		{"0-2,3,7-8", 10, "0-3,7-8"},
		{"3,1,2", 10, "1-3"},
		{"1-9", 5, "1-4"},
		{"x,2,4-y", 5, "2"},
	} {
		if got := parseIndexes(tc.in, tc.completions).String(); got != tc.want {
			t.Errorf("parseIndexes(%q, %d) = %q, want %q", tc.in, tc.completions, got, tc.want)
		}
	}
}

func TestPodFromTemplateIndexed(t *testing.T) {
	job := newJob(indexed())
	job.Spec.Template.Labels = map[string]string{"app": "x"}
	job.Spec.Template.Spec.Containers = []corev1.Container{{Name: "main", Image: "busybox"}}
	pod := podFromTemplate(job, 3)
	if pod.Annotations[batchv1.JobCompletionIndexAnnotation] != "3" || pod.Labels[batchv1.JobCompletionIndexAnnotation] != "3" {
		t.Errorf("index annotation/label missing: %v %v", pod.Annotations, pod.Labels)
	}
	if pod.Spec.Hostname != "pi-3" || pod.GenerateName != "pi-3-" {
		t.Errorf("hostname %q generateName %q", pod.Spec.Hostname, pod.GenerateName)
	}
	env := pod.Spec.Containers[0].Env
	if len(env) != 1 || env[0].Name != "JOB_COMPLETION_INDEX" || env[0].ValueFrom.FieldRef.FieldPath != "metadata.annotations['batch.kubernetes.io/job-completion-index']" {
		t.Errorf("env = %+v", env)
	}
	if ref := metav1.GetControllerOf(pod); ref == nil || ref.UID != job.UID || ref.Kind != "Job" {
		t.Errorf("owner = %+v", ref)
	}
	if !hasTrackingFinalizer(pod) || pod.Labels[batchv1.JobNameLabel] != "pi" || pod.Labels["controller-uid"] != "job-uid" {
		t.Errorf("pod meta = %+v", pod.ObjectMeta)
	}
}
