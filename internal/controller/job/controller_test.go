package job_test

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

	"github.com/gureum/gureum/internal/controller/job"
	"github.com/gureum/gureum/internal/controller/job/jobtest"
	"github.com/gureum/gureum/internal/testenv"
)

// startController runs the Job controller against s until the test ends.
func startController(t *testing.T, s *testenv.Server) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	factory := informers.NewSharedInformerFactory(s.Client, 0)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c := job.New(s.Client, factory, clock.RealClock{}, log, job.WithBackoff(50*time.Millisecond, time.Second))
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("job controller: %v", err)
		}
	})
}

func setup(t *testing.T) (*testenv.Server, string) {
	t.Helper()
	s := testenv.Start(t)
	startController(t, s)
	ns := strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
	if len(ns) > 50 {
		ns = ns[:50]
	}
	_, err := s.Client.CoreV1().Namespaces().Create(context.Background(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return s, ns
}

func jobManifest(name, outcome, spec string) string {
	return fmt.Sprintf(`apiVersion: batch/v1
kind: Job
metadata:
  name: %s
spec:
%s
  template:
    metadata:
      annotations:
        %s: %q
    spec:
      restartPolicy: Never
      containers:
      - name: main
        image: busybox
        command: ["sh", "-c", "true"]
`, name, spec, jobtest.OutcomeAnnotation, outcome)
}

func getJob(t *testing.T, s *testenv.Server, ns, name string) *batchv1.Job {
	t.Helper()
	j, err := s.Client.BatchV1().Jobs(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get job %s: %v", name, err)
	}
	return j
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		ok, err := cond()
		if ok {
			return
		}
		lastErr = err
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s (last error: %v)", what, lastErr)
}

func jobCondition(j *batchv1.Job, typ batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range j.Status.Conditions {
		if j.Status.Conditions[i].Type == typ && j.Status.Conditions[i].Status == corev1.ConditionTrue {
			return &j.Status.Conditions[i]
		}
	}
	return nil
}

func waitCondition(t *testing.T, s *testenv.Server, ns, name string, typ batchv1.JobConditionType) *batchv1.Job {
	t.Helper()
	var j *batchv1.Job
	waitFor(t, fmt.Sprintf("job %s condition %s", name, typ), 20*time.Second, func() (bool, error) {
		var err error
		j, err = s.Client.BatchV1().Jobs(ns).Get(context.Background(), name, metav1.GetOptions{})
		return err == nil && jobCondition(j, typ) != nil, err
	})
	return j
}

func listPods(t *testing.T, s *testenv.Server, ns string) []corev1.Pod {
	t.Helper()
	pods, err := s.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list pods: %v", err)
	}
	return pods.Items
}

func countActive(pods []corev1.Pod) int {
	n := 0
	for _, p := range pods {
		if p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			n++
		}
	}
	return n
}

// TestJobParallelismAndCompletions holds every pod running until the test
// has seen the controller stop at parallelism, then lets them succeed one
// poll at a time and checks the job completes with the right counts, the
// conditions kubectl waits on, its pods' metadata and kubectl's columns.
func TestJobParallelismAndCompletions(t *testing.T) {
	s, ns := setup(t)
	var release atomic.Bool
	jobtest.RunFakeKubelet(t, s.Client, ns, func(p *corev1.Pod) corev1.PodPhase {
		if release.Load() {
			return corev1.PodSucceeded
		}
		return corev1.PodRunning
	})
	s.MustKubectl(t, jobManifest("work", "", "  completions: 5\n  parallelism: 2"), "apply", "-n", ns, "-f", "-")

	waitFor(t, "two running pods", 10*time.Second, func() (bool, error) {
		j := getJob(t, s, ns, "work")
		return j.Status.Active == 2 && j.Status.Ready != nil && *j.Status.Ready == 2, nil
	})
	// Give the controller time to overshoot, if it would.
	for range 10 {
		if n := countActive(listPods(t, s, ns)); n > 2 {
			t.Fatalf("%d active pods, parallelism is 2", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	pods := listPods(t, s, ns)
	j := getJob(t, s, ns, "work")
	for _, p := range pods {
		if p.Labels[batchv1.JobNameLabel] != "work" || p.Labels["job-name"] != "work" ||
			p.Labels[batchv1.ControllerUidLabel] != string(j.UID) || p.Labels["controller-uid"] != string(j.UID) {
			t.Errorf("pod %s labels = %v", p.Name, p.Labels)
		}
		if ref := metav1.GetControllerOf(&p); ref == nil || ref.UID != j.UID || ref.Kind != "Job" {
			t.Errorf("pod %s owner = %+v", p.Name, ref)
		}
		if len(p.Finalizers) != 1 || p.Finalizers[0] != batchv1.JobTrackingFinalizer {
			t.Errorf("pod %s finalizers = %v", p.Name, p.Finalizers)
		}
	}

	// Watch the active count while the pods complete.
	stop := make(chan struct{})
	overshoot := make(chan int, 1)
	go func() {
		for {
			select {
			case <-stop:
				close(overshoot)
				return
			default:
			}
			list, err := s.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
			if err == nil {
				if n := countActive(list.Items); n > 2 {
					overshoot <- n
					close(overshoot)
					return
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	release.Store(true)
	out := s.MustKubectl(t, "", "wait", "-n", ns, "--for=condition=complete", "--timeout=30s", "job/work")
	if !strings.Contains(out, "condition met") {
		t.Errorf("kubectl wait: %s", out)
	}
	close(stop)
	if n, ok := <-overshoot; ok {
		t.Fatalf("saw %d active pods, parallelism is 2", n)
	}

	j = getJob(t, s, ns, "work")
	if j.Status.Succeeded != 5 || j.Status.Failed != 0 || j.Status.Active != 0 {
		t.Errorf("status succeeded/failed/active = %d/%d/%d, want 5/0/0", j.Status.Succeeded, j.Status.Failed, j.Status.Active)
	}
	if j.Status.StartTime == nil || j.Status.CompletionTime == nil {
		t.Errorf("startTime %v completionTime %v", j.Status.StartTime, j.Status.CompletionTime)
	}
	if jobCondition(j, batchv1.JobSuccessCriteriaMet) == nil {
		t.Errorf("no SuccessCriteriaMet condition: %+v", j.Status.Conditions)
	}
	if u := j.Status.UncountedTerminatedPods; u != nil && len(u.Succeeded)+len(u.Failed) > 0 {
		t.Errorf("uncounted pods left: %+v", u)
	}
	pods = listPods(t, s, ns)
	if len(pods) != 5 {
		t.Errorf("%d pods, want 5", len(pods))
	}
	for _, p := range pods {
		if len(p.Finalizers) != 0 {
			t.Errorf("pod %s still has finalizers %v", p.Name, p.Finalizers)
		}
	}

	// Counts survive the pods.
	for _, p := range pods {
		if err := s.Client.CoreV1().Pods(ns).Delete(context.Background(), p.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatalf("delete pod: %v", err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if j := getJob(t, s, ns, "work"); j.Status.Succeeded != 5 {
		t.Errorf("succeeded after pods deleted = %d, want 5", j.Status.Succeeded)
	}

	out = s.MustKubectl(t, "", "get", "jobs", "-n", ns)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(strings.Join(strings.Fields(lines[0]), " "), "NAME STATUS COMPLETIONS DURATION AGE") {
		t.Fatalf("kubectl get jobs:\n%s", out)
	}
	if f := strings.Fields(lines[1]); len(f) < 3 || f[0] != "work" || f[1] != "Complete" || f[2] != "5/5" {
		t.Errorf("kubectl get jobs row: %q", lines[1])
	}
	events := s.MustKubectl(t, "", "get", "events", "-n", ns, "--field-selector", "involvedObject.name=work")
	for _, reason := range []string{"SuccessfulCreate", "Completed"} {
		if !strings.Contains(events, reason) {
			t.Errorf("no %s event:\n%s", reason, events)
		}
	}
}

// TestJobWorkQueue: without completions the job is done when one pod
// succeeded and none still runs.
func TestJobWorkQueue(t *testing.T) {
	s, ns := setup(t)
	jobtest.RunFakeKubelet(t, s.Client, ns, jobtest.ByAnnotation)
	s.MustKubectl(t, jobManifest("queue", "Succeeded", "  parallelism: 3"), "apply", "-n", ns, "-f", "-")
	j := waitCondition(t, s, ns, "queue", batchv1.JobComplete)
	if j.Status.Succeeded != 3 {
		t.Errorf("succeeded = %d, want 3", j.Status.Succeeded)
	}
	if n := len(listPods(t, s, ns)); n != 3 {
		t.Errorf("%d pods, want 3", n)
	}
	if out := s.MustKubectl(t, "", "get", "job", "queue", "-n", ns, "--no-headers"); !strings.Contains(out, "3/1 of 3") {
		t.Errorf("completions column: %s", out)
	}
}

func TestJobIndexed(t *testing.T) {
	s, ns := setup(t)
	// Index 1 fails once, then its replacement succeeds.
	var failedOnce atomic.Bool
	jobtest.RunFakeKubelet(t, s.Client, ns, func(p *corev1.Pod) corev1.PodPhase {
		if p.Annotations[batchv1.JobCompletionIndexAnnotation] == "1" && failedOnce.CompareAndSwap(false, true) {
			return corev1.PodFailed
		}
		return corev1.PodSucceeded
	})
	s.MustKubectl(t, jobManifest("idx", "", "  completions: 4\n  parallelism: 2\n  completionMode: Indexed"), "apply", "-n", ns, "-f", "-")
	j := waitCondition(t, s, ns, "idx", batchv1.JobComplete)
	if j.Status.CompletedIndexes != "0-3" || j.Status.Succeeded != 4 || j.Status.Failed != 1 {
		t.Errorf("completedIndexes %q succeeded %d failed %d", j.Status.CompletedIndexes, j.Status.Succeeded, j.Status.Failed)
	}
	seen := map[string]int{}
	for _, p := range listPods(t, s, ns) {
		idx := p.Annotations[batchv1.JobCompletionIndexAnnotation]
		seen[idx]++
		if p.Labels[batchv1.JobCompletionIndexAnnotation] != idx {
			t.Errorf("pod %s index label %q annotation %q", p.Name, p.Labels[batchv1.JobCompletionIndexAnnotation], idx)
		}
		if p.Spec.Hostname != "idx-"+idx || !strings.HasPrefix(p.Name, "idx-"+idx+"-") {
			t.Errorf("pod %s hostname %q", p.Name, p.Spec.Hostname)
		}
		env := p.Spec.Containers[0].Env
		if len(env) != 1 || env[0].Name != "JOB_COMPLETION_INDEX" || env[0].ValueFrom == nil || env[0].ValueFrom.FieldRef == nil ||
			env[0].ValueFrom.FieldRef.FieldPath != "metadata.annotations['batch.kubernetes.io/job-completion-index']" {
			t.Errorf("pod %s env = %+v", p.Name, env)
		}
	}
	if seen["0"] != 1 || seen["1"] != 2 || seen["2"] != 1 || seen["3"] != 1 {
		t.Errorf("pods per index = %v", seen)
	}
}

func TestJobBackoffLimitExceeded(t *testing.T) {
	s, ns := setup(t)
	jobtest.RunFakeKubelet(t, s.Client, ns, jobtest.ByAnnotation)
	s.MustKubectl(t, jobManifest("fails", "Failed", "  completions: 3\n  parallelism: 3\n  backoffLimit: 2"), "apply", "-n", ns, "-f", "-")
	out := s.MustKubectl(t, "", "wait", "-n", ns, "--for=condition=failed", "--timeout=30s", "job/fails")
	if !strings.Contains(out, "condition met") {
		t.Errorf("kubectl wait: %s", out)
	}
	j := getJob(t, s, ns, "fails")
	c := jobCondition(j, batchv1.JobFailed)
	if c.Reason != "BackoffLimitExceeded" || c.Message != "Job has reached the specified backoff limit" {
		t.Errorf("Failed condition = %+v", c)
	}
	if ft := jobCondition(j, batchv1.JobFailureTarget); ft == nil || ft.Reason != "BackoffLimitExceeded" {
		t.Errorf("FailureTarget condition = %+v", ft)
	}
	// Pods failing in separate kubelet updates may get a replacement in
	// between (the back-off is short here); when the job fails that one is
	// stopped, deleted and counted as failed too.
	if n := int32(len(listPods(t, s, ns))); j.Status.Failed < 3 || j.Status.Failed < n || j.Status.Active != 0 || j.Status.CompletionTime != nil {
		t.Errorf("failed %d (pods %d) active %d completionTime %v", j.Status.Failed, n, j.Status.Active, j.Status.CompletionTime)
	}
	if out := s.MustKubectl(t, "", "get", "job", "fails", "-n", ns, "--no-headers"); !strings.Contains(out, "Failed") {
		t.Errorf("status column: %s", out)
	}
	events := s.MustKubectl(t, "", "get", "events", "-n", ns, "--field-selector", "involvedObject.name=fails")
	if !strings.Contains(events, "BackoffLimitExceeded") {
		t.Errorf("no BackoffLimitExceeded event:\n%s", events)
	}
}

// TestJobBackoffReplacesFailedPods: failed pods are replaced (after the
// back-off) until the limit is reached.
func TestJobBackoffReplacesFailedPods(t *testing.T) {
	s, ns := setup(t)
	jobtest.RunFakeKubelet(t, s.Client, ns, jobtest.ByAnnotation)
	s.MustKubectl(t, jobManifest("retry", "Failed", "  backoffLimit: 2"), "apply", "-n", ns, "-f", "-")
	j := waitCondition(t, s, ns, "retry", batchv1.JobFailed)
	if j.Status.Failed != 3 {
		t.Errorf("failed = %d, want 3", j.Status.Failed)
	}
	if n := len(listPods(t, s, ns)); n != 3 {
		t.Errorf("%d pods, want 3 (one try plus two retries)", n)
	}
}

func TestJobActiveDeadline(t *testing.T) {
	s, ns := setup(t)
	jobtest.RunFakeKubelet(t, s.Client, ns, jobtest.ByAnnotation)
	s.MustKubectl(t, jobManifest("slow", "Running", "  parallelism: 2\n  completions: 2\n  activeDeadlineSeconds: 1"), "apply", "-n", ns, "-f", "-")
	j := waitCondition(t, s, ns, "slow", batchv1.JobFailed)
	if c := jobCondition(j, batchv1.JobFailed); c.Reason != "DeadlineExceeded" || c.Message != "Job was active longer than specified deadline" {
		t.Errorf("Failed condition = %+v", c)
	}
	if d := j.Status.Conditions[0].LastTransitionTime.Sub(j.Status.StartTime.Time); d < time.Second {
		t.Errorf("failed %v after start, deadline is 1s", d)
	}
	if n := countActive(listPods(t, s, ns)); n != 0 {
		t.Errorf("%d pods still active", n)
	}
	if j.Status.Failed != 2 {
		t.Errorf("failed = %d, want 2 (the stopped pods)", j.Status.Failed)
	}
}

func TestJobSuspendResume(t *testing.T) {
	s, ns := setup(t)
	jobtest.RunFakeKubelet(t, s.Client, ns, jobtest.ByAnnotation)
	s.MustKubectl(t, jobManifest("sus", "Running", "  parallelism: 2\n  completions: 4\n  suspend: true"), "apply", "-n", ns, "-f", "-")
	j := waitCondition(t, s, ns, "sus", batchv1.JobSuspended)
	if c := jobCondition(j, batchv1.JobSuspended); c.Reason != "JobSuspended" {
		t.Errorf("Suspended condition = %+v", c)
	}
	if n := len(listPods(t, s, ns)); n != 0 || j.Status.StartTime != nil {
		t.Errorf("suspended job has %d pods, startTime %v", n, j.Status.StartTime)
	}
	if out := s.MustKubectl(t, "", "get", "job", "sus", "-n", ns, "--no-headers"); !strings.Contains(out, "Suspended") {
		t.Errorf("status column: %s", out)
	}

	s.MustKubectl(t, "", "patch", "job", "sus", "-n", ns, "--type=merge", "-p", `{"spec":{"suspend":false}}`)
	waitFor(t, "two running pods after resume", 10*time.Second, func() (bool, error) {
		j := getJob(t, s, ns, "sus")
		return j.Status.Active == 2 && countActive(listPods(t, s, ns)) == 2 && jobCondition(j, batchv1.JobSuspended) == nil, nil
	})
	j = getJob(t, s, ns, "sus")
	var resumed *batchv1.JobCondition
	for i := range j.Status.Conditions {
		if j.Status.Conditions[i].Type == batchv1.JobSuspended {
			resumed = &j.Status.Conditions[i]
		}
	}
	if resumed == nil || resumed.Status != corev1.ConditionFalse || resumed.Reason != "JobResumed" || j.Status.StartTime == nil {
		t.Errorf("after resume: condition %+v startTime %v", resumed, j.Status.StartTime)
	}

	s.MustKubectl(t, "", "patch", "job", "sus", "-n", ns, "--type=merge", "-p", `{"spec":{"suspend":true}}`)
	waitFor(t, "pods gone after suspend", 10*time.Second, func() (bool, error) {
		j := getJob(t, s, ns, "sus")
		return len(listPods(t, s, ns)) == 0 && j.Status.Active == 0 && jobCondition(j, batchv1.JobSuspended) != nil, nil
	})
	if j := getJob(t, s, ns, "sus"); j.Status.Failed != 0 {
		t.Errorf("suspension counted %d failures", j.Status.Failed)
	}
}

func TestJobTTLAfterFinished(t *testing.T) {
	s, ns := setup(t)
	jobtest.RunFakeKubelet(t, s.Client, ns, jobtest.ByAnnotation)
	s.MustKubectl(t, jobManifest("short", "Succeeded", "  ttlSecondsAfterFinished: 1"), "apply", "-n", ns, "-f", "-")
	waitCondition(t, s, ns, "short", batchv1.JobComplete)
	// Foreground deletion: the job lingers with deletionTimestamp until the
	// garbage collector has removed its pods, then goes.
	waitFor(t, "job deleted after its TTL", 10*time.Second, func() (bool, error) {
		j, err := s.Client.BatchV1().Jobs(ns).Get(context.Background(), "short", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		if j.DeletionTimestamp != nil {
			for _, f := range j.Finalizers {
				if f == metav1.FinalizerDeleteDependents {
					return true, nil
				}
			}
		}
		return false, nil
	})
}
