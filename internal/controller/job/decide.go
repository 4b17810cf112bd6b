package job

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Condition reasons and messages, in Kubernetes' wording: scripts and
// dashboards match on them.
const (
	msgCompletionsReached = "Reached expected number of succeeded pods"
	msgBackoffLimit       = "Job has reached the specified backoff limit"
	msgDeadline           = "Job was active longer than specified deadline"
	reasonSuspended       = "JobSuspended"
	msgSuspended          = "Job suspended"
	reasonResumed         = "JobResumed"
	msgResumed            = "Job resumed"
)

// Default pod-failure back-off, as in Kubernetes: 10s doubling per
// consecutive failure, at most six minutes.
const (
	DefaultBackoffBase = 10 * time.Second
	DefaultBackoffMax  = 6 * time.Minute
)

// event is an Event to record on the Job.
type event struct {
	warning         bool
	reason, message string
}

// backoffRecord remembers a job's consecutive pod failures, to delay
// replacement pods. Like Kubernetes, it lives in memory only.
type backoffRecord struct {
	failures int       // pod failures since the last success
	last     time.Time // when the latest of them failed
}

// decideInput is everything decide looks at.
type decideInput struct {
	job     *batchv1.Job
	pods    []*corev1.Pod // the job's own pods, as stored now
	now     time.Time
	backoff backoffRecord
	// backoffBase and backoffMax shape the replacement delay.
	backoffBase, backoffMax time.Duration
}

// plan is what the controller must do, in order: write status, release
// the pods in strip from the tracking finalizer, delete deletePods, create
// pods, then fold the released pods into the counters (flushUncounted) and
// write status again.
type plan struct {
	status batchv1.JobStatus
	// strip: pods whose tracking finalizer can go, because they are
	// recorded in status.uncountedTerminatedPods or must not be counted.
	strip      []*corev1.Pod
	deletePods []*corev1.Pod
	// create holds one entry per pod to create: its completion index, or
	// -1 for a non-indexed job.
	create       []int
	requeueAfter time.Duration
	events       []event
	backoff      backoffRecord
	// deleteJob: the finished job outlived ttlSecondsAfterFinished.
	deleteJob bool
}

type podClass int

const (
	podActive podClass = iota
	podTerminating
	podSucceeded
	podFailed
)

// classify sorts a pod as Kubernetes' job controller does. A pod being
// deleted counts as failed at once unless the job replaces only pods that
// reached phase Failed; an unscheduled pod being deleted never reaches any
// phase, so it counts as failed regardless.
func classify(p *corev1.Pod, onlyFailed bool) podClass {
	switch p.Status.Phase {
	case corev1.PodSucceeded:
		return podSucceeded
	case corev1.PodFailed:
		return podFailed
	}
	if p.DeletionTimestamp != nil {
		if !onlyFailed || p.Spec.NodeName == "" {
			return podFailed
		}
		return podTerminating
	}
	return podActive
}

func hasTrackingFinalizer(p *corev1.Pod) bool {
	return slices.Contains(p.Finalizers, batchv1.JobTrackingFinalizer)
}

func isIndexed(j *batchv1.Job) bool {
	return j.Spec.CompletionMode != nil && *j.Spec.CompletionMode == batchv1.IndexedCompletion
}

func onlyReplaceFailed(j *batchv1.Job) bool {
	return j.Spec.PodFailurePolicy != nil ||
		(j.Spec.PodReplacementPolicy != nil && *j.Spec.PodReplacementPolicy == batchv1.Failed)
}

// podIndex is a pod's completion index, or -1 if it has none.
func podIndex(p *corev1.Pod) int {
	v, ok := p.Annotations[batchv1.JobCompletionIndexAnnotation]
	if !ok {
		v, ok = p.Labels[batchv1.JobCompletionIndexAnnotation]
	}
	if !ok {
		return -1
	}
	i, err := strconv.Atoi(v)
	if err != nil || i < 0 {
		return -1
	}
	return i
}

func isPodReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// failureTime is when a failed pod stopped: its last container to
// terminate, else its deletion, else now.
func failureTime(p *corev1.Pod, now time.Time) time.Time {
	var t time.Time
	for _, cs := range append(slices.Clone(p.Status.InitContainerStatuses), p.Status.ContainerStatuses...) {
		if term := cs.State.Terminated; term != nil && term.FinishedAt.After(t) {
			t = term.FinishedAt.Time
		}
	}
	if t.IsZero() && p.DeletionTimestamp != nil {
		t = p.DeletionTimestamp.Time
	}
	if t.IsZero() || t.After(now) {
		t = now
	}
	return t
}

// backoffRemaining is how long to wait before creating a replacement pod
// after rec's failures: base doubled per further failure, capped at max,
// counted from the latest failure.
func backoffRemaining(rec backoffRecord, base, maxDelay time.Duration, now time.Time) time.Duration {
	if rec.failures <= 0 {
		return 0
	}
	delay := base
	for i := 1; i < rec.failures && delay < maxDelay; i++ {
		delay *= 2
	}
	delay = min(delay, maxDelay)
	return max(rec.last.Add(delay).Sub(now), 0)
}

func findCondition(st *batchv1.JobStatus, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			return &st.Conditions[i]
		}
	}
	return nil
}

func conditionTrue(st *batchv1.JobStatus, t batchv1.JobConditionType) bool {
	c := findCondition(st, t)
	return c != nil && c.Status == corev1.ConditionTrue
}

// setCondition adds or updates a condition; the transition time moves only
// when the status does.
func setCondition(st *batchv1.JobStatus, t batchv1.JobConditionType, status corev1.ConditionStatus, reason, msg string, now time.Time) {
	ts := metav1.NewTime(now)
	if c := findCondition(st, t); c != nil {
		if c.Status != status {
			c.LastTransitionTime = ts
		}
		c.Status, c.Reason, c.Message, c.LastProbeTime = status, reason, msg, ts
		return
	}
	st.Conditions = append(st.Conditions, batchv1.JobCondition{
		Type: t, Status: status, Reason: reason, Message: msg, LastProbeTime: ts, LastTransitionTime: ts,
	})
}

// finishedCondition is the job's Complete or Failed condition, if true.
func finishedCondition(st *batchv1.JobStatus) *batchv1.JobCondition {
	for _, t := range []batchv1.JobConditionType{batchv1.JobComplete, batchv1.JobFailed} {
		if conditionTrue(st, t) {
			return findCondition(st, t)
		}
	}
	return nil
}

// flushUncounted moves every pod recorded in uncountedTerminatedPods that
// no longer holds the tracking finalizer (released, or gone) into the
// succeeded and failed counters. An indexed job's succeeded count is its
// number of completed indexes instead, kept by decide.
func flushUncounted(st *batchv1.JobStatus, indexed bool, tracked func(types.UID) bool) {
	u := st.UncountedTerminatedPods
	if u == nil {
		st.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
		return
	}
	keep := u.Succeeded[:0:0]
	for _, uid := range u.Succeeded {
		switch {
		case tracked(uid):
			keep = append(keep, uid)
		case !indexed:
			st.Succeeded++
		}
	}
	u.Succeeded = keep
	keep = u.Failed[:0:0]
	for _, uid := range u.Failed {
		if tracked(uid) {
			keep = append(keep, uid)
		} else {
			st.Failed++
		}
	}
	u.Failed = keep
}

// decide computes what a job needs next. It does no I/O.
func decide(in decideInput) plan {
	job := in.job
	now := in.now
	st := *job.Status.DeepCopy()
	p := plan{backoff: in.backoff}
	indexed := isIndexed(job)
	onlyFailed := onlyReplaceFailed(job)
	completions := -1
	if job.Spec.Completions != nil {
		completions = int(*job.Spec.Completions)
	}
	parallelism := 1
	if job.Spec.Parallelism != nil {
		parallelism = int(*job.Spec.Parallelism)
	}

	var active, succeededPods, failedPods []*corev1.Pod
	terminating := 0
	tracked := map[types.UID]*corev1.Pod{}
	for _, pod := range in.pods {
		if hasTrackingFinalizer(pod) {
			tracked[pod.UID] = pod
		}
		if pod.DeletionTimestamp != nil && pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed {
			terminating++
		}
		switch classify(pod, onlyFailed) {
		case podActive:
			active = append(active, pod)
		case podSucceeded:
			succeededPods = append(succeededPods, pod)
		case podFailed:
			failedPods = append(failedPods, pod)
		}
	}
	isTracked := func(uid types.UID) bool { return tracked[uid] != nil }
	stripAll := func() {
		for _, pod := range in.pods {
			if hasTrackingFinalizer(pod) {
				p.strip = append(p.strip, pod)
			}
		}
	}
	// Pods released in an earlier pass (or deleted since) are counted now.
	flushUncounted(&st, indexed, isTracked)
	st.Terminating = ptrTo(int32(terminating))

	if job.DeletionTimestamp != nil {
		// The garbage collector deletes the pods; they must not be held.
		stripAll()
		p.status = st
		return p
	}
	if fin := finishedCondition(&st); fin != nil {
		stripAll()
		p.deletePods = active
		st.Active, st.Ready = 0, ptrTo(int32(0))
		p.status = st
		p.requeueAfter, p.deleteJob = ttlDecision(job, fin, now)
		return p
	}

	// Record newly finished pods before releasing them, so that a count
	// survives the pod's deletion and is never taken twice.
	recorded := map[types.UID]bool{}
	for _, uid := range st.UncountedTerminatedPods.Succeeded {
		recorded[uid] = true
	}
	for _, uid := range st.UncountedTerminatedPods.Failed {
		recorded[uid] = true
	}
	newSuccess := false
	for _, pod := range succeededPods {
		if isTracked(pod.UID) && !recorded[pod.UID] {
			st.UncountedTerminatedPods.Succeeded = append(st.UncountedTerminatedPods.Succeeded, pod.UID)
			recorded[pod.UID] = true
			newSuccess = true
		}
	}
	if newSuccess {
		p.backoff = backoffRecord{}
	}
	failJobMessage := ""
	for _, pod := range failedPods {
		if !isTracked(pod.UID) || recorded[pod.UID] {
			continue
		}
		action, msg := matchPodFailurePolicy(job.Spec.PodFailurePolicy, pod)
		if action == batchv1.PodFailurePolicyActionIgnore {
			p.strip = append(p.strip, pod)
			continue
		}
		if action == batchv1.PodFailurePolicyActionFailJob && failJobMessage == "" {
			failJobMessage = msg
		}
		st.UncountedTerminatedPods.Failed = append(st.UncountedTerminatedPods.Failed, pod.UID)
		recorded[pod.UID] = true
		p.backoff.failures++
		if t := failureTime(pod, now); t.After(p.backoff.last) {
			p.backoff.last = t
		}
	}

	succeeded := int(st.Succeeded) + len(st.UncountedTerminatedPods.Succeeded)
	failed := int(st.Failed) + len(st.UncountedTerminatedPods.Failed)
	var completed indexSet
	if indexed {
		completed = parseIndexes(st.CompletedIndexes, completions)
		for _, pod := range succeededPods {
			if i := podIndex(pod); i >= 0 && i < completions {
				completed[i] = true
			}
		}
		st.CompletedIndexes = completed.String()
		succeeded = len(completed)
		st.Succeeded = int32(succeeded)
	}

	suspended := job.Spec.Suspend != nil && *job.Spec.Suspend
	var failure, success *batchv1.JobCondition
	if conditionTrue(&st, batchv1.JobFailureTarget) {
		failure = findCondition(&st, batchv1.JobFailureTarget)
	} else if conditionTrue(&st, batchv1.JobSuccessCriteriaMet) {
		success = findCondition(&st, batchv1.JobSuccessCriteriaMet)
	} else {
		reason, msg := "", ""
		switch {
		case failJobMessage != "":
			reason, msg = batchv1.JobReasonPodFailurePolicy, failJobMessage
		case job.Spec.BackoffLimit != nil && failed > int(*job.Spec.BackoffLimit):
			reason, msg = batchv1.JobReasonBackoffLimitExceeded, msgBackoffLimit
		case !suspended && pastDeadline(job, st.StartTime, now):
			reason, msg = batchv1.JobReasonDeadlineExceeded, msgDeadline
		}
		if reason != "" {
			setCondition(&st, batchv1.JobFailureTarget, corev1.ConditionTrue, reason, msg, now)
			failure = findCondition(&st, batchv1.JobFailureTarget)
		} else if (completions >= 0 && succeeded >= completions) ||
			(completions < 0 && succeeded > 0 && len(active) == 0) {
			setCondition(&st, batchv1.JobSuccessCriteriaMet, corev1.ConditionTrue, batchv1.JobReasonCompletionsReached, msgCompletionsReached, now)
			success = findCondition(&st, batchv1.JobSuccessCriteriaMet)
		}
	}

	if failure != nil || success != nil {
		// The job is finishing: stop whatever still runs. On failure the
		// stopped pods count as failed, as in Kubernetes.
		for _, pod := range active {
			if failure != nil && isTracked(pod.UID) && !recorded[pod.UID] {
				st.UncountedTerminatedPods.Failed = append(st.UncountedTerminatedPods.Failed, pod.UID)
				recorded[pod.UID] = true
			} else if isTracked(pod.UID) {
				p.strip = append(p.strip, pod)
			}
		}
		p.deletePods = active
		settled := len(active) == 0 && terminating == 0 &&
			len(st.UncountedTerminatedPods.Succeeded)+len(st.UncountedTerminatedPods.Failed) == 0
		if settled {
			// Only now is the job over: every pod has stopped and been counted.
			if failure != nil {
				setCondition(&st, batchv1.JobFailed, corev1.ConditionTrue, failure.Reason, failure.Message, now)
				p.events = append(p.events, event{warning: true, reason: failure.Reason, message: failure.Message})
			} else {
				setCondition(&st, batchv1.JobComplete, corev1.ConditionTrue, success.Reason, success.Message, now)
				st.CompletionTime = ptrTo(metav1.NewTime(now))
				p.events = append(p.events, event{reason: "Completed", message: "Job completed"})
			}
			p.requeueAfter, p.deleteJob = ttlDecision(job, finishedCondition(&st), now)
		}
		p.addStrip(tracked, st.UncountedTerminatedPods)
		st.Active, st.Ready = 0, ptrTo(int32(0))
		p.status = st
		return p
	}

	if suspended {
		if !conditionTrue(&st, batchv1.JobSuspended) {
			setCondition(&st, batchv1.JobSuspended, corev1.ConditionTrue, reasonSuspended, msgSuspended, now)
			p.events = append(p.events, event{reason: "Suspended", message: msgSuspended})
		}
		// Pods stopped by a suspension are not failures.
		for _, pod := range active {
			if isTracked(pod.UID) {
				p.strip = append(p.strip, pod)
			}
		}
		p.deletePods = active
		p.addStrip(tracked, st.UncountedTerminatedPods)
		st.Active, st.Ready = 0, ptrTo(int32(0))
		p.status = st
		return p
	}
	if conditionTrue(&st, batchv1.JobSuspended) {
		setCondition(&st, batchv1.JobSuspended, corev1.ConditionFalse, reasonResumed, msgResumed, now)
		p.events = append(p.events, event{reason: "Resumed", message: msgResumed})
		// The active deadline counts from the resumption.
		st.StartTime = ptrTo(metav1.NewTime(now))
	}
	if st.StartTime == nil {
		st.StartTime = ptrTo(metav1.NewTime(now))
	}
	if ads := job.Spec.ActiveDeadlineSeconds; ads != nil {
		p.requeueAfter = st.StartTime.Add(time.Duration(*ads) * time.Second).Sub(now)
	}

	// Pods in the way of a replacement: with podReplacementPolicy Failed a
	// terminating pod still holds its place.
	var holding []*corev1.Pod
	if onlyFailed {
		for _, pod := range in.pods {
			if classify(pod, true) == podTerminating {
				holding = append(holding, pod)
			}
		}
	}
	var keep []*corev1.Pod
	if indexed {
		keep, p.deletePods, p.create = planIndexed(active, holding, completed, completions, parallelism)
	} else {
		keep, p.deletePods, p.create = planNonIndexed(active, len(holding), succeeded, completions, parallelism)
	}
	// Excess pods are stopped, not failed.
	for _, pod := range p.deletePods {
		if isTracked(pod.UID) {
			p.strip = append(p.strip, pod)
		}
	}
	if len(p.create) > 0 {
		if wait := backoffRemaining(p.backoff, in.backoffBase, in.backoffMax, now); wait > 0 {
			p.create = nil
			p.requeueAfter = minPositive(p.requeueAfter, wait)
		}
	}
	ready := 0
	for _, pod := range keep {
		if isPodReady(pod) {
			ready++
		}
	}
	st.Active = int32(len(keep) + len(p.create))
	st.Ready = ptrTo(int32(ready))
	p.addStrip(tracked, st.UncountedTerminatedPods)
	p.status = st
	return p
}

// addStrip releases every pod recorded as uncounted that still holds the
// finalizer (once, even if listed already).
func (p *plan) addStrip(tracked map[types.UID]*corev1.Pod, u *batchv1.UncountedTerminatedPods) {
	seen := map[types.UID]bool{}
	for _, pod := range p.strip {
		seen[pod.UID] = true
	}
	for _, uid := range append(slices.Clone(u.Succeeded), u.Failed...) {
		if pod := tracked[uid]; pod != nil && !seen[uid] {
			p.strip = append(p.strip, pod)
			seen[uid] = true
		}
	}
}

func pastDeadline(job *batchv1.Job, start *metav1.Time, now time.Time) bool {
	ads := job.Spec.ActiveDeadlineSeconds
	return ads != nil && start != nil && !now.Before(start.Add(time.Duration(*ads)*time.Second))
}

// ttlDecision says when a finished job is due for deletion.
func ttlDecision(job *batchv1.Job, fin *batchv1.JobCondition, now time.Time) (time.Duration, bool) {
	ttl := job.Spec.TTLSecondsAfterFinished
	if ttl == nil || fin == nil {
		return 0, false
	}
	finished := fin.LastTransitionTime.Time
	if fin.Type == batchv1.JobComplete && job.Status.CompletionTime != nil {
		finished = job.Status.CompletionTime.Time
	}
	left := finished.Add(time.Duration(*ttl) * time.Second).Sub(now)
	if left <= 0 {
		return 0, true
	}
	return left, false
}

// planNonIndexed keeps up to the wanted number of pods running. holding
// counts pods that are terminating but still occupy a slot.
func planNonIndexed(active []*corev1.Pod, holding, succeeded, completions, parallelism int) (keep, del []*corev1.Pod, create []int) {
	want := parallelism
	switch {
	case completions >= 0:
		want = max(min(parallelism, completions-succeeded), 0)
	case succeeded > 0:
		// A work queue has started to drain: let running pods finish,
		// start no more.
		want = min(len(active), parallelism)
	}
	sorted := slices.Clone(active)
	// Keep the pods furthest along: ready, then running, then oldest.
	sort.SliceStable(sorted, func(i, j int) bool { return podBefore(sorted[i], sorted[j]) })
	if len(sorted) > want {
		return sorted[:want], sorted[want:], nil
	}
	for range want - len(sorted) - holding {
		create = append(create, -1)
	}
	return sorted, nil, create
}

// planIndexed gives every pending index below completions one pod, up to
// parallelism at once, and stops duplicates, pods of completed indexes
// and pods with an index out of range.
func planIndexed(active, holding []*corev1.Pod, completed indexSet, completions, parallelism int) (keep, del []*corev1.Pod, create []int) {
	sorted := slices.Clone(active)
	sort.SliceStable(sorted, func(i, j int) bool { return podBefore(sorted[i], sorted[j]) })
	busy := map[int]bool{}
	for _, pod := range holding {
		busy[podIndex(pod)] = true
	}
	for _, pod := range sorted {
		i := podIndex(pod)
		if i < 0 || i >= completions || completed[i] || busy[i] {
			del = append(del, pod)
			continue
		}
		busy[i] = true
		keep = append(keep, pod)
	}
	want := max(min(parallelism, completions-len(completed)), 0)
	if len(keep) > want {
		// Stop the highest indexes first.
		sort.SliceStable(keep, func(a, b int) bool { return podIndex(keep[a]) < podIndex(keep[b]) })
		del = append(del, keep[want:]...)
		keep = keep[:want]
	}
	slots := want - len(keep) - len(holding)
	for i := 0; i < completions && slots > 0; i++ {
		if !completed[i] && !busy[i] {
			create = append(create, i)
			slots--
		}
	}
	return keep, del, create
}

// podBefore orders pods by how much would be lost stopping them.
func podBefore(a, b *corev1.Pod) bool {
	if ra, rb := isPodReady(a), isPodReady(b); ra != rb {
		return ra
	}
	if ra, rb := a.Status.Phase == corev1.PodRunning, b.Status.Phase == corev1.PodRunning; ra != rb {
		return ra
	}
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Name < b.Name
}

// matchPodFailurePolicy finds the first rule of policy matching a failed
// pod and returns its action ("" when none matches or there is no policy)
// and, for FailJob, the message Kubernetes puts in the condition.
func matchPodFailurePolicy(policy *batchv1.PodFailurePolicy, pod *corev1.Pod) (batchv1.PodFailurePolicyAction, string) {
	if policy == nil || pod.Status.Phase != corev1.PodFailed {
		return "", ""
	}
	for i, rule := range policy.Rules {
		if r := rule.OnExitCodes; r != nil {
			for _, cs := range append(slices.Clone(pod.Status.InitContainerStatuses), pod.Status.ContainerStatuses...) {
				term := cs.State.Terminated
				if term == nil || term.ExitCode == 0 || (r.ContainerName != nil && *r.ContainerName != cs.Name) {
					continue
				}
				in := slices.Contains(r.Values, term.ExitCode)
				if (r.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn) == in {
					return rule.Action, fmt.Sprintf("Container %s for pod %s/%s failed with exit code %d matching %s rule at index %d",
						cs.Name, pod.Namespace, pod.Name, term.ExitCode, rule.Action, i)
				}
			}
		}
		for _, pc := range rule.OnPodConditions {
			for _, c := range pod.Status.Conditions {
				if c.Type == pc.Type && c.Status == pc.Status {
					return rule.Action, fmt.Sprintf("Pod %s/%s has condition %s matching %s rule at index %d",
						pod.Namespace, pod.Name, c.Type, rule.Action, i)
				}
			}
		}
	}
	return "", ""
}

func minPositive(a, b time.Duration) time.Duration {
	if a <= 0 {
		return b
	}
	if b <= 0 {
		return a
	}
	return min(a, b)
}

func ptrTo[T any](v T) *T { return &v }
