package cronjob_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/utils/clock"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/gureum/gureum/internal/controller/cronjob"
	"github.com/gureum/gureum/internal/controller/job"
	"github.com/gureum/gureum/internal/controller/job/jobtest"
	"github.com/gureum/gureum/internal/testenv"
)

func testLog() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func run(t *testing.T, name string, r interface{ Run(context.Context) error }) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s: %v", name, err)
		}
	})
}

// startJobController runs the Job controller (the CronJob's jobs need
// it) against s until the test ends.
func startJobController(t *testing.T, s *testenv.Server) {
	t.Helper()
	factory := informers.NewSharedInformerFactory(s.Client, 0)
	run(t, "job controller", job.New(s.Client, factory, clock.RealClock{}, testLog(), job.WithBackoff(50*time.Millisecond, time.Second)))
}

// startController runs the CronJob controller on the fake clock clk.
// These tests step clk to reach schedule times, so the controller under
// test must be this one, not one built into the server with a real clock.
func startController(t *testing.T, s *testenv.Server, clk *testingclock.FakeClock) {
	t.Helper()
	factory := informers.NewSharedInformerFactory(s.Client, 0)
	run(t, "cronjob controller", cronjob.New(s.Client, factory, clk, testLog()))
}

type env struct {
	s   *testenv.Server
	ns  string
	clk *testingclock.FakeClock
}

func setup(t *testing.T, outcome jobtest.Outcome) *env {
	t.Helper()
	s := testenv.Start(t)
	// The fake clock starts at the real time: CronJobs are created (and
	// get their creationTimestamp) just after it.
	clk := testingclock.NewFakeClock(time.Now())
	startJobController(t, s)
	startController(t, s, clk)
	ns := "cj"
	if _, err := s.Client.CoreV1().Namespaces().Create(context.Background(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	jobtest.RunFakeKubelet(t, s.Client, ns, outcome)
	return &env{s: s, ns: ns, clk: clk}
}

func cronManifest(name, extra string) string {
	return fmt.Sprintf(`apiVersion: batch/v1
kind: CronJob
metadata:
  name: %s
spec:
  schedule: "* * * * *"
  timeZone: Etc/UTC
%s
  jobTemplate:
    metadata:
      labels:
        app: %s
      annotations:
        team: data
    spec:
      backoffLimit: 0
      template:
        spec:
          restartPolicy: Never
          containers:
          - name: main
            image: busybox
            command: ["true"]
`, name, extra, name)
}

// apply creates objects with kubectl and, if the real time has passed the
// fake clock meanwhile, moves the fake clock up to the newest CronJob's
// creation: schedule times before a CronJob's creation never run, and
// tests count minutes from the fake clock.
func (e *env) apply(t *testing.T, manifest string) {
	t.Helper()
	e.s.MustKubectl(t, manifest, "apply", "-n", e.ns, "-f", "-")
	list, err := e.s.Client.BatchV1().CronJobs(e.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list cronjobs: %v", err)
	}
	for _, cj := range list.Items {
		if c := cj.CreationTimestamp.Time; c.After(e.clk.Now()) {
			e.clk.SetTime(c)
		}
	}
}

// nextMinute is the first whole minute after the fake clock's time.
func (e *env) nextMinute() time.Time {
	return e.clk.Now().Truncate(time.Minute).Add(time.Minute)
}

func jobNameFor(cj string, t time.Time) string { return fmt.Sprintf("%s-%d", cj, t.Unix()/60) }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func (e *env) job(name string) (*batchv1.Job, error) {
	return e.s.Client.BatchV1().Jobs(e.ns).Get(context.Background(), name, metav1.GetOptions{})
}

func (e *env) cronJob(t *testing.T, name string) *batchv1.CronJob {
	t.Helper()
	cj, err := e.s.Client.BatchV1().CronJobs(e.ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get cronjob: %v", err)
	}
	return cj
}

func (e *env) jobNames(t *testing.T) []string {
	t.Helper()
	list, err := e.s.Client.BatchV1().Jobs(e.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list jobs: %v", err)
	}
	var names []string
	for _, j := range list.Items {
		if j.DeletionTimestamp == nil {
			names = append(names, j.Name)
		}
	}
	return names
}

func finished(j *batchv1.Job, typ batchv1.JobConditionType) bool {
	for _, c := range j.Status.Conditions {
		if c.Type == typ && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func (e *env) events(t *testing.T, name string) string {
	t.Helper()
	return e.s.MustKubectl(t, "", "get", "events", "-n", e.ns, "--field-selector", "involvedObject.name="+name)
}

func (e *env) waitEvent(t *testing.T, name, reason string) {
	t.Helper()
	waitFor(t, "event "+reason, func() bool {
		list, err := e.s.Client.CoreV1().Events(e.ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false
		}
		for _, ev := range list.Items {
			if ev.InvolvedObject.Name == name && ev.Reason == reason {
				return true
			}
		}
		return false
	})
}

// runMinute steps the clock just past the next minute and waits for the
// CronJob's job for it to be created and to finish.
func (e *env) runMinute(t *testing.T, cj string, want batchv1.JobConditionType) time.Time {
	t.Helper()
	m := e.nextMinute()
	e.clk.SetTime(m.Add(2 * time.Second))
	name := jobNameFor(cj, m)
	waitFor(t, "job "+name+" "+string(want), func() bool {
		j, err := e.job(name)
		return err == nil && finished(j, want)
	})
	waitFor(t, "cronjob to see "+name+" finish", func() bool {
		c := e.cronJob(t, cj)
		return len(c.Status.Active) == 0 && c.Status.LastScheduleTime != nil && c.Status.LastScheduleTime.Time.Equal(m)
	})
	return m
}

func TestCronJobSchedulesJobsAndKeepsHistory(t *testing.T) {
	e := setup(t, jobtest.ByAnnotation)
	manifest := strings.Replace(cronManifest("tick", "  successfulJobsHistoryLimit: 2\n  failedJobsHistoryLimit: 1"),
		"      template:\n", fmt.Sprintf("      template:\n        metadata:\n          annotations:\n            %s: Succeeded\n", jobtest.OutcomeAnnotation), 1)
	e.apply(t, manifest)

	// Before the minute turns nothing runs.
	time.Sleep(200 * time.Millisecond)
	if names := e.jobNames(t); len(names) != 0 {
		t.Fatalf("jobs before the schedule time: %v", names)
	}

	m1 := e.runMinute(t, "tick", batchv1.JobComplete)
	j, err := e.job(jobNameFor("tick", m1))
	if err != nil {
		t.Fatal(err)
	}
	if got := j.Annotations[batchv1.CronJobScheduledTimestampAnnotation]; got != m1.UTC().Format(time.RFC3339) {
		t.Errorf("scheduled timestamp annotation = %q, want %q", got, m1.UTC().Format(time.RFC3339))
	}
	if j.Labels["app"] != "tick" || j.Annotations["team"] != "data" {
		t.Errorf("job metadata from template missing: %v %v", j.Labels, j.Annotations)
	}
	cj := e.cronJob(t, "tick")
	if ref := metav1.GetControllerOf(j); ref == nil || ref.Kind != "CronJob" || ref.UID != cj.UID {
		t.Errorf("job owner = %+v", ref)
	}
	if cj.Status.LastSuccessfulTime == nil {
		t.Errorf("lastSuccessfulTime not set")
	}

	m2 := e.runMinute(t, "tick", batchv1.JobComplete)
	m3 := e.runMinute(t, "tick", batchv1.JobComplete)
	want := []string{jobNameFor("tick", m2), jobNameFor("tick", m3)}
	waitFor(t, "history pruned to 2 jobs", func() bool {
		names := e.jobNames(t)
		return len(names) == 2 && names[0] == want[0] && names[1] == want[1]
	})
	events := e.events(t, "tick")
	for _, reason := range []string{"SuccessfulCreate", "SawCompletedJob", "SuccessfulDelete"} {
		if !strings.Contains(events, reason) {
			t.Errorf("no %s event:\n%s", reason, events)
		}
	}
	out := e.s.MustKubectl(t, "", "get", "cronjobs", "-n", e.ns)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(strings.Join(strings.Fields(lines[0]), " "), "NAME SCHEDULE TIMEZONE SUSPEND ACTIVE LAST SCHEDULE") {
		t.Fatalf("kubectl get cronjobs:\n%s", out)
	}
	if f := strings.Fields(lines[1]); len(f) < 6 || f[0] != "tick" || f[6] != "Etc/UTC" || f[7] != "False" || f[8] != "0" {
		t.Errorf("kubectl get cronjobs row: %q", lines[1])
	}
}

func TestCronJobFailedHistory(t *testing.T) {
	e := setup(t, func(*corev1.Pod) corev1.PodPhase { return corev1.PodFailed })
	e.apply(t, cronManifest("flaky", "  failedJobsHistoryLimit: 1"))
	e.runMinute(t, "flaky", batchv1.JobFailed)
	m2 := e.runMinute(t, "flaky", batchv1.JobFailed)
	waitFor(t, "failed history pruned to 1 job", func() bool {
		names := e.jobNames(t)
		return len(names) == 1 && names[0] == jobNameFor("flaky", m2)
	})
	if cj := e.cronJob(t, "flaky"); cj.Status.LastSuccessfulTime != nil {
		t.Errorf("lastSuccessfulTime set by failed jobs: %v", cj.Status.LastSuccessfulTime)
	}
}

func TestCronJobForbid(t *testing.T) {
	var done atomic.Bool
	e := setup(t, func(*corev1.Pod) corev1.PodPhase {
		if done.Load() {
			return corev1.PodSucceeded
		}
		return corev1.PodRunning
	})
	e.apply(t, cronManifest("once", "  concurrencyPolicy: Forbid"))
	m1 := e.nextMinute()
	e.clk.SetTime(m1.Add(2 * time.Second))
	first := jobNameFor("once", m1)
	waitFor(t, "first job active", func() bool {
		cj := e.cronJob(t, "once")
		return len(cj.Status.Active) == 1 && cj.Status.Active[0].Name == first
	})

	m2 := e.nextMinute()
	e.clk.SetTime(m2.Add(2 * time.Second))
	e.waitEvent(t, "once", "JobAlreadyActive")
	if names := e.jobNames(t); len(names) != 1 {
		t.Fatalf("jobs while Forbid and one active: %v", names)
	}

	// Once the first job finishes, the missed time runs (no starting
	// deadline is set), as in Kubernetes.
	done.Store(true)
	waitFor(t, "second job for the missed time", func() bool {
		_, err := e.job(jobNameFor("once", m2))
		return err == nil
	})
}

func TestCronJobReplace(t *testing.T) {
	e := setup(t, func(*corev1.Pod) corev1.PodPhase { return corev1.PodRunning })
	e.apply(t, cronManifest("swap", "  concurrencyPolicy: Replace"))
	m1 := e.nextMinute()
	e.clk.SetTime(m1.Add(2 * time.Second))
	first := jobNameFor("swap", m1)
	waitFor(t, "first job active", func() bool {
		cj := e.cronJob(t, "swap")
		return len(cj.Status.Active) == 1 && cj.Status.Active[0].Name == first
	})
	m2 := e.nextMinute()
	e.clk.SetTime(m2.Add(2 * time.Second))
	second := jobNameFor("swap", m2)
	waitFor(t, "second job replaces the first", func() bool {
		cj := e.cronJob(t, "swap")
		_, err := e.job(first)
		return len(cj.Status.Active) == 1 && cj.Status.Active[0].Name == second && apierrors.IsNotFound(err)
	})
	if !strings.Contains(e.events(t, "swap"), "Deleted job "+first) {
		t.Errorf("no SuccessfulDelete event for %s", first)
	}
}

func TestCronJobMissedSchedules(t *testing.T) {
	e := setup(t, jobtest.ByAnnotation)
	e.apply(t, cronManifest("late", ""))
	// The controller was "down" for three hours: 180 missed minutes, of
	// which only the latest runs.
	now := e.clk.Now().Add(3 * time.Hour)
	e.clk.SetTime(now)
	latest := jobNameFor("late", now.Truncate(time.Minute))
	waitFor(t, "job for the latest missed time", func() bool {
		_, err := e.job(latest)
		return err == nil
	})
	e.waitEvent(t, "late", "TooManyMissedTimes")
	time.Sleep(200 * time.Millisecond)
	if names := e.jobNames(t); len(names) != 1 {
		t.Errorf("jobs = %v, want only %s", names, latest)
	}
}

func TestCronJobStartingDeadline(t *testing.T) {
	e := setup(t, jobtest.ByAnnotation)
	e.apply(t, cronManifest("strict", "  startingDeadlineSeconds: 10"))
	m1 := e.nextMinute()
	e.clk.SetTime(m1.Add(30 * time.Second))
	e.waitEvent(t, "strict", "MissSchedule")
	if names := e.jobNames(t); len(names) != 0 {
		t.Fatalf("jobs after a missed deadline: %v", names)
	}
	// The next time, reached in time, runs.
	m2 := e.nextMinute()
	e.clk.SetTime(m2.Add(5 * time.Second))
	waitFor(t, "job for the next time", func() bool {
		_, err := e.job(jobNameFor("strict", m2))
		return err == nil
	})
}

func TestCronJobSuspend(t *testing.T) {
	e := setup(t, jobtest.ByAnnotation)
	e.apply(t, cronManifest("paused", "  suspend: true"))
	m1 := e.nextMinute()
	e.clk.SetTime(m1.Add(2 * time.Second))
	time.Sleep(300 * time.Millisecond)
	if names := e.jobNames(t); len(names) != 0 {
		t.Fatalf("suspended cronjob made jobs: %v", names)
	}
	if out := e.s.MustKubectl(t, "", "get", "cronjob", "paused", "-n", e.ns, "--no-headers"); !strings.Contains(out, "True") {
		t.Errorf("SUSPEND column: %s", out)
	}
	// Resuming runs the missed time (no starting deadline).
	e.s.MustKubectl(t, "", "patch", "cronjob", "paused", "-n", e.ns, "--type=merge", "-p", `{"spec":{"suspend":false}}`)
	waitFor(t, "job after resume", func() bool {
		_, err := e.job(jobNameFor("paused", m1))
		return err == nil
	})
}

func TestKubectlCreateJobFromCronJob(t *testing.T) {
	e := setup(t, func(*corev1.Pod) corev1.PodPhase { return corev1.PodSucceeded })
	e.apply(t, cronManifest("manual", ""))
	e.s.MustKubectl(t, "", "create", "job", "by-hand", "--from=cronjob/manual", "-n", e.ns)
	out := e.s.MustKubectl(t, "", "wait", "-n", e.ns, "--for=condition=complete", "--timeout=30s", "job/by-hand")
	if !strings.Contains(out, "condition met") {
		t.Errorf("kubectl wait: %s", out)
	}
	j, err := e.job("by-hand")
	if err != nil {
		t.Fatal(err)
	}
	if len(j.OwnerReferences) != 1 || j.OwnerReferences[0].Kind != "CronJob" || j.OwnerReferences[0].Name != "manual" {
		t.Errorf("owner references = %+v", j.OwnerReferences)
	}
	if j.Annotations["cronjob.kubernetes.io/instantiate"] != "manual" || j.Labels["app"] != "manual" {
		t.Errorf("metadata = %v %v", j.Annotations, j.Labels)
	}
	if cj := e.cronJob(t, "manual"); len(cj.Status.Active) != 0 || cj.Status.LastScheduleTime != nil {
		t.Errorf("a manual job changed the cronjob's schedule status: %+v", cj.Status)
	}
}
