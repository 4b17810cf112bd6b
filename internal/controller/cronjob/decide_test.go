package cronjob

import (
	"fmt"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gureum/gureum/internal/api"
)

var created = time.Date(2026, 3, 1, 10, 0, 30, 0, time.UTC)

func at(hhmm string) time.Time {
	t, err := time.Parse("2006-01-02 15:04:05", "2026-03-01 "+hhmm)
	if err != nil {
		panic(err)
	}
	return t
}

func mustParse(t *testing.T, spec string) *api.CronSchedule {
	t.Helper()
	s, err := api.ParseCronSchedule(spec)
	if err != nil {
		t.Fatalf("parse %q: %v", spec, err)
	}
	return s
}

func TestUnmetScheduleTimes(t *testing.T) {
	for _, tc := range []struct {
		name       string
		spec       string
		earliest   time.Time
		deadline   *int64
		now        time.Time
		mostRecent time.Time
		missed     int
		next       time.Time
	}{
		{name: "nothing due yet", spec: "*/5 * * * *", earliest: at("10:00:30"), now: at("10:04:59"),
			next: at("10:05:00")},
		{name: "one due", spec: "*/5 * * * *", earliest: at("10:00:30"), now: at("10:05:01"),
			mostRecent: at("10:05:00"), missed: 1, next: at("10:10:00")},
		{name: "exactly at the time", spec: "*/5 * * * *", earliest: at("10:00:30"), now: at("10:05:00"),
			mostRecent: at("10:05:00"), missed: 1, next: at("10:10:00")},
		{name: "several missed: most recent only", spec: "*/5 * * * *", earliest: at("10:00:30"), now: at("10:23:00"),
			mostRecent: at("10:20:00"), missed: 4, next: at("10:25:00")},
		{name: "last schedule time is met", spec: "*/5 * * * *", earliest: at("10:20:00"), now: at("10:23:00"),
			next: at("10:25:00")},
		{name: "starting deadline narrows the window", spec: "* * * * *", earliest: at("10:00:30"), deadline: ptrTo(int64(90)), now: at("10:10:10"),
			mostRecent: at("10:10:00"), missed: 2, next: at("10:11:00")},
		{name: "more than 100 missed", spec: "* * * * *", earliest: at("10:00:30"), now: at("10:00:30").Add(1000 * time.Hour).Add(15 * time.Second),
			mostRecent: at("10:00:00").Add(1000 * time.Hour), missed: 101, next: at("10:01:00").Add(1000 * time.Hour)},
		{name: "more than 100 missed, sparse", spec: "0 3 * * 1", earliest: at("10:00:30").AddDate(-3, 0, 0), now: at("10:00:30"),
			// 2026-02-23 was the last Monday before 2026-03-01 (a Sunday).
			mostRecent: time.Date(2026, 2, 23, 3, 0, 0, 0, time.UTC), missed: 101, next: time.Date(2026, 3, 2, 3, 0, 0, 0, time.UTC)},
		{name: "clock behind creation", spec: "* * * * *", earliest: at("10:00:30"), now: at("09:00:00"),
			next: at("09:01:00")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := unmetScheduleTimes(mustParse(t, tc.spec), tc.earliest, tc.deadline, tc.now)
			if !got.mostRecent.Equal(tc.mostRecent) || got.missed != tc.missed || !got.next.Equal(tc.next) {
				t.Errorf("got mostRecent %v missed %d next %v; want %v %d %v", got.mostRecent, got.missed, got.next, tc.mostRecent, tc.missed, tc.next)
			}
		})
	}
}

func newCronJob(opts ...func(*batchv1.CronJob)) *batchv1.CronJob {
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "backup", Namespace: "ns", UID: "cj-uid", CreationTimestamp: metav1.NewTime(created)},
		Spec: batchv1.CronJobSpec{
			Schedule:                   "*/5 * * * *",
			TimeZone:                   ptrTo("Etc/UTC"),
			ConcurrencyPolicy:          batchv1.AllowConcurrent,
			Suspend:                    ptrTo(false),
			SuccessfulJobsHistoryLimit: ptrTo(int32(3)),
			FailedJobsHistoryLimit:     ptrTo(int32(1)),
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "backup"}, Annotations: map[string]string{"note": "x"}},
			},
		},
	}
	for _, o := range opts {
		o(cj)
	}
	return cj
}

func newJob(name string, state string, start time.Time) *batchv1.Job {
	j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name)}}
	j.Status.StartTime = ptrTo(metav1.NewTime(start))
	switch state {
	case "Complete":
		j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}
		j.Status.CompletionTime = ptrTo(metav1.NewTime(start.Add(time.Minute)))
	case "Failed":
		j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue}}
	}
	return j
}

func activeRefs(jobs ...*batchv1.Job) func(*batchv1.CronJob) {
	return func(cj *batchv1.CronJob) {
		for _, j := range jobs {
			cj.Status.Active = append(cj.Status.Active, jobRef(j))
		}
	}
}

func lastScheduled(t time.Time) func(*batchv1.CronJob) {
	return func(cj *batchv1.CronJob) { cj.Status.LastScheduleTime = ptrTo(metav1.NewTime(t)) }
}

func jobNames(jobs []*batchv1.Job) string {
	var s []string
	for _, j := range jobs {
		s = append(s, j.Name)
	}
	return strings.Join(s, ",")
}

func reasons(evs []event) string {
	var s []string
	for _, e := range evs {
		s = append(s, e.reason)
	}
	return strings.Join(s, ",")
}

func TestDecide(t *testing.T) {
	min1005 := fmt.Sprint(at("10:05:00").Unix() / 60)
	running := newJob("backup-old", "", at("10:00:00"))
	for _, tc := range []struct {
		name      string
		cj        *batchv1.CronJob
		jobs      []*batchv1.Job
		now       time.Time
		createFor time.Time
		replace   string
		prune     string
		active    string
		events    string
		requeue   time.Duration
	}{
		{name: "not yet", cj: newCronJob(), now: at("10:03:00"), requeue: 2*time.Minute + nextScheduleDelta},
		{name: "due: create", cj: newCronJob(), now: at("10:05:02"), createFor: at("10:05:00"),
			requeue: 5*time.Minute - 2*time.Second + nextScheduleDelta},
		{name: "suspended", cj: newCronJob(func(cj *batchv1.CronJob) { cj.Spec.Suspend = ptrTo(true) }), now: at("10:05:02")},
		{name: "already created (status lost)", cj: newCronJob(), now: at("10:05:02"),
			jobs: []*batchv1.Job{newJob("backup-"+min1005, "", at("10:05:00"))}, active: "backup-" + min1005,
			requeue: 5*time.Minute - 2*time.Second + nextScheduleDelta},
		{name: "forbid while active", cj: newCronJob(activeRefs(running), func(cj *batchv1.CronJob) {
			cj.Spec.ConcurrencyPolicy = batchv1.ForbidConcurrent
		}), jobs: []*batchv1.Job{running}, now: at("10:05:02"), active: "backup-old", events: "JobAlreadyActive",
			requeue: 5*time.Minute - 2*time.Second + nextScheduleDelta},
		{name: "replace active", cj: newCronJob(activeRefs(running), func(cj *batchv1.CronJob) {
			cj.Spec.ConcurrencyPolicy = batchv1.ReplaceConcurrent
		}), jobs: []*batchv1.Job{running}, now: at("10:05:02"), createFor: at("10:05:00"), replace: "backup-old",
			requeue: 5*time.Minute - 2*time.Second + nextScheduleDelta},
		{name: "allow beside active", cj: newCronJob(activeRefs(running)), jobs: []*batchv1.Job{running},
			now: at("10:05:02"), createFor: at("10:05:00"), active: "backup-old",
			requeue: 5*time.Minute - 2*time.Second + nextScheduleDelta},
		{name: "finished job leaves active", cj: newCronJob(activeRefs(newJob("backup-done", "Complete", at("10:00:00"))), lastScheduled(at("10:00:00"))),
			jobs: []*batchv1.Job{newJob("backup-done", "Complete", at("10:00:00"))}, now: at("10:03:00"), events: "SawCompletedJob",
			requeue: 2*time.Minute + nextScheduleDelta},
		{name: "vanished job leaves active", cj: newCronJob(activeRefs(running), lastScheduled(at("10:00:00"))),
			now: at("10:03:00"), events: "SawCompletedJob", requeue: 2*time.Minute + nextScheduleDelta},
		{name: "missed beyond starting deadline", cj: newCronJob(func(cj *batchv1.CronJob) { cj.Spec.StartingDeadlineSeconds = ptrTo(int64(10)) }),
			now: at("10:05:30"), events: "MissSchedule", requeue: 4*time.Minute + 30*time.Second + nextScheduleDelta},
		{name: "within starting deadline", cj: newCronJob(func(cj *batchv1.CronJob) { cj.Spec.StartingDeadlineSeconds = ptrTo(int64(60)) }),
			now: at("10:05:30"), createFor: at("10:05:00"), requeue: 4*time.Minute + 30*time.Second + nextScheduleDelta},
		{name: "too many missed", cj: newCronJob(func(cj *batchv1.CronJob) { cj.Spec.Schedule = "* * * * *" }),
			now: at("13:00:10"), createFor: at("13:00:00"), events: "TooManyMissedTimes", requeue: 50*time.Second + nextScheduleDelta},
		{name: "history limits", cj: newCronJob(lastScheduled(at("10:00:00"))), now: at("10:03:00"), jobs: []*batchv1.Job{
			newJob("s1", "Complete", at("09:01:00")), newJob("s2", "Complete", at("09:02:00")), newJob("s3", "Complete", at("09:03:00")),
			newJob("s4", "Complete", at("09:04:00")), newJob("s0", "Complete", at("09:00:00")),
			newJob("f1", "Failed", at("09:01:00")), newJob("f2", "Failed", at("09:02:00")),
		}, prune: "s0,s1,f1", requeue: 2*time.Minute + nextScheduleDelta},
		{name: "bad schedule", cj: newCronJob(func(cj *batchv1.CronJob) { cj.Spec.Schedule = "nope" }), now: at("10:05:02"),
			events: "UnparseableSchedule"},
		{name: "time zone", cj: newCronJob(func(cj *batchv1.CronJob) {
			cj.Spec.Schedule = "0 19 * * *"
			cj.Spec.TimeZone = ptrTo("Asia/Seoul")
		}), now: at("10:00:45").AddDate(0, 0, 1), createFor: at("10:00:00").AddDate(0, 0, 1), requeue: 24*time.Hour - 45*time.Second + nextScheduleDelta},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cj.Status.LastScheduleTime = tc.cj.Status.LastScheduleTime.DeepCopy()
			p := decide(cronInput{cj: tc.cj, jobs: tc.jobs, now: tc.now})
			if !p.createFor.Equal(tc.createFor) {
				t.Errorf("createFor = %v, want %v", p.createFor, tc.createFor)
			}
			if got := jobNames(p.replace); got != tc.replace {
				t.Errorf("replace = %q, want %q", got, tc.replace)
			}
			if got := jobNames(p.prune); got != tc.prune {
				t.Errorf("prune = %q, want %q", got, tc.prune)
			}
			var active []string
			for _, r := range p.status.Active {
				active = append(active, r.Name)
			}
			if got := strings.Join(active, ","); got != tc.active {
				t.Errorf("active = %q, want %q", got, tc.active)
			}
			if got := reasons(p.events); got != tc.events {
				t.Errorf("events = %q, want %q (%+v)", got, tc.events, p.events)
			}
			if p.requeueAfter != tc.requeue {
				t.Errorf("requeueAfter = %v, want %v", p.requeueAfter, tc.requeue)
			}
		})
	}
}

func TestLastSuccessfulTime(t *testing.T) {
	cj := newCronJob(lastScheduled(at("10:00:00")))
	p := decide(cronInput{cj: cj, now: at("10:01:00"), jobs: []*batchv1.Job{
		newJob("a", "Complete", at("09:00:00")), newJob("b", "Complete", at("09:30:00")), newJob("c", "Failed", at("09:45:00")),
	}})
	if got := p.status.LastSuccessfulTime; got == nil || !got.Time.Equal(at("09:31:00")) {
		t.Errorf("lastSuccessfulTime = %v, want 09:31", got)
	}
}

func TestJobFromTemplate(t *testing.T) {
	cj := newCronJob()
	seoul, _ := time.LoadLocation("Asia/Seoul")
	j := jobFromTemplate(cj, at("10:05:00"), seoul)
	if want := fmt.Sprintf("backup-%d", at("10:05:00").Unix()/60); j.Name != want {
		t.Errorf("name = %q, want %q", j.Name, want)
	}
	if got := j.Annotations[batchv1.CronJobScheduledTimestampAnnotation]; got != "2026-03-01T19:05:00+09:00" {
		t.Errorf("scheduled timestamp = %q", got)
	}
	if j.Labels["app"] != "backup" || j.Annotations["note"] != "x" {
		t.Errorf("template metadata not copied: %v %v", j.Labels, j.Annotations)
	}
	if ref := metav1.GetControllerOf(j); ref == nil || ref.Kind != "CronJob" || ref.UID != cj.UID || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
		t.Errorf("owner = %+v", ref)
	}
	if cj.Spec.JobTemplate.Annotations[batchv1.CronJobScheduledTimestampAnnotation] != "" {
		t.Errorf("template modified")
	}
}
