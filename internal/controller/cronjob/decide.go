package cronjob

import (
	"fmt"
	"sort"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gureum/gureum/internal/api"
)

// maxMissedReported is how many missed start times Kubernetes tolerates
// before warning that the clock or the starting deadline looks wrong.
const maxMissedReported = 100

// nextScheduleDelta is added to a requeue at the next schedule time, so
// that the reconcile lands just after it rather than just before.
const nextScheduleDelta = 100 * time.Millisecond

// schedule is the part of a parsed cron schedule decide needs.
type schedule interface {
	Next(time.Time) time.Time
}

// event is an Event to record on the CronJob.
type event struct {
	warning         bool
	reason, message string
}

// scheduleTimes is what a CronJob's schedule says at now.
type scheduleTimes struct {
	// mostRecent is the latest unmet schedule time not after now, or zero.
	mostRecent time.Time
	// missed counts the unmet times, up to maxMissedReported+1.
	missed int
	// next is the first schedule time after now (zero if none).
	next time.Time
}

// unmetScheduleTimes finds the schedule times since the later of the last
// schedule (or the CronJob's creation) and now minus the starting deadline.
// Only the most recent one will be run; the count is for the warning.
func unmetScheduleTimes(sched schedule, earliest time.Time, startingDeadline *int64, now time.Time) scheduleTimes {
	if startingDeadline != nil {
		if d := now.Add(-time.Duration(*startingDeadline) * time.Second); d.After(earliest) {
			earliest = d
		}
	}
	st := scheduleTimes{next: sched.Next(now)}
	if earliest.After(now) {
		return st
	}
	t := sched.Next(earliest)
	for !t.IsZero() && !t.After(now) {
		st.mostRecent = t
		st.missed++
		if st.missed > maxMissedReported {
			st.mostRecent = lastTimeBefore(sched, earliest, now)
			return st
		}
		t = sched.Next(t)
	}
	return st
}

// lastTimeBefore finds the latest schedule time in (earliest, now] by
// looking back over doubling windows, so that a CronJob that missed a year
// of minutes costs a few hundred steps rather than half a million.
func lastTimeBefore(sched schedule, earliest, now time.Time) time.Time {
	for w := time.Minute; ; w *= 2 {
		from := now.Add(-w)
		if !from.After(earliest) {
			from = earliest
		}
		if t := sched.Next(from); !t.IsZero() && !t.After(now) {
			last := t
			for t = sched.Next(t); !t.IsZero() && !t.After(now); t = sched.Next(t) {
				last = t
			}
			return last
		}
		if from.Equal(earliest) {
			return time.Time{}
		}
	}
}

// jobName is the Job a CronJob creates for a schedule time: the CronJob's
// name and the time in minutes since the Unix epoch, as in Kubernetes (so
// that a time is never run twice).
func jobName(cronJobName string, scheduled time.Time) string {
	return fmt.Sprintf("%s-%d", cronJobName, scheduled.Unix()/60)
}

// location is the time zone a CronJob's schedule is read in: the schedule's
// own TZ= prefix, else spec.timeZone, else the controller's local zone, as
// Kubernetes does.
func location(cj *batchv1.CronJob, sched *api.CronSchedule) (*time.Location, error) {
	if sched.Location != nil {
		return sched.Location, nil
	}
	if cj.Spec.TimeZone != nil {
		loc, err := time.LoadLocation(*cj.Spec.TimeZone)
		if err != nil {
			return nil, fmt.Errorf("unknown time zone %s: %w", *cj.Spec.TimeZone, err)
		}
		return loc, nil
	}
	return time.Local, nil
}

func jobFinished(j *batchv1.Job) (batchv1.JobConditionType, bool) {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return c.Type, true
		}
	}
	return "", false
}

// cronInput is everything decide looks at.
type cronInput struct {
	cj   *batchv1.CronJob
	jobs []*batchv1.Job // jobs the CronJob controls, as stored now
	now  time.Time
}

// cronPlan is what the controller must do: delete jobs (Replace, then
// history), create the job for createFor (if set), write status, and
// requeue.
type cronPlan struct {
	status batchv1.CronJobStatus
	// replace: active jobs to delete before the new one starts.
	replace []*batchv1.Job
	// prune: finished jobs beyond the history limits.
	prune []*batchv1.Job
	// createFor is the schedule time to create a job for, or zero.
	createFor time.Time
	// loc is the schedule's time zone (for the scheduled-timestamp
	// annotation).
	loc          *time.Location
	events       []event
	requeueAfter time.Duration
}

// decide computes what a CronJob needs now. It does no I/O.
func decide(in cronInput) cronPlan {
	cj := in.cj
	p := cronPlan{status: *cj.Status.DeepCopy()}
	st := &p.status

	byUID := map[types.UID]*batchv1.Job{}
	for _, j := range in.jobs {
		byUID[j.UID] = j
	}
	active := st.Active[:0:0]
	for _, ref := range st.Active {
		j := byUID[ref.UID]
		switch {
		case j == nil:
			// Deleted (by hand, or by its TTL) before we saw it finish.
			p.events = append(p.events, event{reason: "SawCompletedJob", message: fmt.Sprintf("Saw completed job: %s", ref.Name)})
		default:
			if cond, done := jobFinished(j); done {
				p.events = append(p.events, event{reason: "SawCompletedJob",
					message: fmt.Sprintf("Saw completed job: %s, condition: %s", j.Name, cond)})
				continue
			}
			active = append(active, ref)
		}
	}
	st.Active = active
	for _, j := range in.jobs {
		cond, done := jobFinished(j)
		if done && cond == batchv1.JobComplete && j.Status.CompletionTime != nil {
			if st.LastSuccessfulTime == nil || j.Status.CompletionTime.After(st.LastSuccessfulTime.Time) {
				st.LastSuccessfulTime = j.Status.CompletionTime.DeepCopy()
			}
		}
	}
	p.prune = historyToPrune(in.jobs, cj.Spec.SuccessfulJobsHistoryLimit, cj.Spec.FailedJobsHistoryLimit)
	if cj.DeletionTimestamp == nil && (cj.Spec.Suspend == nil || !*cj.Spec.Suspend) {
		p.schedule(in)
	}

	// A running job of ours that is not in the active list was not made
	// by this controller (or its record was lost): say so, as Kubernetes
	// does, but leave it alone.
	tracked := map[types.UID]bool{}
	for _, ref := range p.status.Active {
		tracked[ref.UID] = true
	}
	for _, j := range p.replace {
		tracked[j.UID] = true
	}
	for _, j := range in.jobs {
		if _, done := jobFinished(j); !done && !tracked[j.UID] && j.DeletionTimestamp == nil {
			p.events = append(p.events, event{warning: true, reason: "UnexpectedJob",
				message: fmt.Sprintf("Saw a job that the controller did not create or forgot: %s", j.Name)})
		}
	}
	return p
}

// schedule decides whether a job is due now and how to start it.
func (p *cronPlan) schedule(in cronInput) {
	cj, now, st := in.cj, in.now, &p.status
	inActive := map[types.UID]bool{}
	byUID := map[types.UID]*batchv1.Job{}
	for _, j := range in.jobs {
		byUID[j.UID] = j
	}
	for _, ref := range st.Active {
		inActive[ref.UID] = true
	}
	sched, err := api.ParseCronSchedule(cj.Spec.Schedule)
	if err != nil {
		p.events = append(p.events, event{warning: true, reason: "UnparseableSchedule",
			message: fmt.Sprintf("unparseable schedule: %q : %s", cj.Spec.Schedule, err)})
		return
	}
	loc, err := location(cj, sched)
	if err != nil {
		p.events = append(p.events, event{warning: true, reason: "UnknownTimeZone", message: err.Error()})
		return
	}
	p.loc = loc
	earliest := cj.CreationTimestamp.Time
	if st.LastScheduleTime != nil {
		earliest = st.LastScheduleTime.Time
	}
	times := unmetScheduleTimes(sched, earliest.In(loc), cj.Spec.StartingDeadlineSeconds, now.In(loc))
	if !times.next.IsZero() {
		p.requeueAfter = times.next.Sub(now) + nextScheduleDelta
	}
	if times.missed > maxMissedReported {
		p.events = append(p.events, event{warning: true, reason: "TooManyMissedTimes",
			message: fmt.Sprintf("too many missed start times: > %d. Set or decrease .spec.startingDeadlineSeconds or check clock skew", maxMissedReported)})
	}
	scheduled := times.mostRecent
	if d := cj.Spec.StartingDeadlineSeconds; d != nil {
		// The window above already leaves out times older than the
		// deadline; look again without it to tell the user one was
		// skipped.
		missed := scheduled
		if missed.IsZero() {
			missed = unmetScheduleTimes(sched, earliest.In(loc), nil, now.In(loc)).mostRecent
		}
		if !missed.IsZero() && missed.Add(time.Duration(*d)*time.Second).Before(now) {
			p.events = append(p.events, event{warning: true, reason: "MissSchedule",
				message: fmt.Sprintf("Missed scheduled time to start a job: %s", missed.UTC().Format(time.RFC1123Z))})
			return
		}
	}
	if scheduled.IsZero() {
		return
	}
	name := jobName(cj.Name, scheduled)
	for _, j := range in.jobs {
		if j.Name == name {
			// Already run (the status write after creating it was lost).
			if _, done := jobFinished(j); !done && !inActive[j.UID] {
				st.Active = append(st.Active, jobRef(j))
			}
			st.LastScheduleTime = ptrTo(metav1.NewTime(scheduled))
			return
		}
	}
	policy := cj.Spec.ConcurrencyPolicy
	if len(st.Active) > 0 {
		switch policy {
		case batchv1.ForbidConcurrent:
			p.events = append(p.events, event{reason: "JobAlreadyActive",
				message: "Not starting job because prior execution is running and concurrency policy is Forbid"})
			return
		case batchv1.ReplaceConcurrent:
			for _, ref := range st.Active {
				if j := byUID[ref.UID]; j != nil {
					p.replace = append(p.replace, j)
				}
			}
			st.Active = nil
		}
	}
	p.createFor = scheduled
}

func jobRef(j *batchv1.Job) corev1.ObjectReference {
	return corev1.ObjectReference{
		Kind: "Job", APIVersion: batchv1.SchemeGroupVersion.String(), Namespace: j.Namespace,
		Name: j.Name, UID: j.UID, ResourceVersion: j.ResourceVersion,
	}
}

// historyToPrune picks the oldest finished jobs beyond the limits (nil
// keeps them all), oldest first.
func historyToPrune(jobs []*batchv1.Job, successLimit, failedLimit *int32) []*batchv1.Job {
	var succeeded, failed []*batchv1.Job
	for _, j := range jobs {
		if j.DeletionTimestamp != nil {
			continue
		}
		switch cond, _ := jobFinished(j); cond {
		case batchv1.JobComplete:
			succeeded = append(succeeded, j)
		case batchv1.JobFailed:
			failed = append(failed, j)
		}
	}
	var out []*batchv1.Job
	for _, g := range []struct {
		jobs  []*batchv1.Job
		limit *int32
	}{{succeeded, successLimit}, {failed, failedLimit}} {
		if g.limit == nil || len(g.jobs) <= int(*g.limit) {
			continue
		}
		sort.SliceStable(g.jobs, func(a, b int) bool { return jobOlder(g.jobs[a], g.jobs[b]) })
		out = append(out, g.jobs[:len(g.jobs)-int(*g.limit)]...)
	}
	return out
}

// jobOlder orders jobs by start time (jobs never started first), then name,
// which for a CronJob's jobs is the schedule time.
func jobOlder(a, b *batchv1.Job) bool {
	sa, sb := a.Status.StartTime, b.Status.StartTime
	switch {
	case sa == nil && sb != nil:
		return true
	case sa != nil && sb == nil:
		return false
	case sa != nil && !sa.Equal(sb):
		return sa.Before(sb)
	}
	return a.Name < b.Name
}

// jobFromTemplate builds the Job a CronJob runs for a schedule time.
func jobFromTemplate(cj *batchv1.CronJob, scheduled time.Time, loc *time.Location) *batchv1.Job {
	t := cj.Spec.JobTemplate.DeepCopy()
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:        jobName(cj.Name, scheduled),
			Namespace:   cj.Namespace,
			Labels:      t.Labels,
			Annotations: t.Annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(cj,
				batchv1.SchemeGroupVersion.WithKind("CronJob"))},
		},
		Spec: t.Spec,
	}
	if j.Annotations == nil {
		j.Annotations = map[string]string{}
	}
	j.Annotations[batchv1.CronJobScheduledTimestampAnnotation] = scheduled.In(loc).Format(time.RFC3339)
	return j
}

func ptrTo[T any](v T) *T { return &v }
