// Package cronjob owns the CronJob controller, after Kubernetes' (1.33): it
// creates a Job from spec.jobTemplate at each schedule time (read in
// spec.timeZone), named "<cronjob>-<minutes since the epoch>", honouring
// suspend, concurrencyPolicy (Allow, Forbid, Replace) and
// startingDeadlineSeconds; only the most recent missed time is run. It
// keeps status.active, lastScheduleTime and lastSuccessfulTime, prunes
// finished jobs beyond the history limits, and requeues each CronJob for
// its next schedule time on the injected clock. What to do is decided by
// the pure function decide; this file does the I/O. Only internal/node
// imports it.
package cronjob

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	ctrlruntime "github.com/gureum/gureum/internal/controller/runtime"
)

const (
	fieldManager   = "gureum-cronjob-controller"
	component      = "cronjob-controller"
	requestTimeout = 15 * time.Second
)

// Controller reconciles CronJobs by namespace/name.
type Controller struct {
	client      kubernetes.Interface
	clock       clock.Clock
	log         *slog.Logger
	queue       *ctrlruntime.TimedQueue
	factory     informers.SharedInformerFactory
	cjLister    batchlisters.CronJobLister
	synced      []cache.InformerSynced
	broadcaster record.EventBroadcaster
	recorder    record.EventRecorder
}

// New builds the controller, registering its informers on factory. clk
// decides when schedules are due (tests pass a fake clock and step it).
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, clk clock.Clock, log *slog.Logger) *Controller {
	limiter := workqueue.NewTypedItemExponentialFailureRateLimiter[string](10*time.Millisecond, 10*time.Second)
	broadcaster := record.NewBroadcaster()
	c := &Controller{
		client: client,
		clock:  clk,
		log:    log,
		queue: ctrlruntime.NewTimedQueue(workqueue.NewTypedRateLimitingQueueWithConfig(limiter,
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "cronjob"}), clk),
		factory:     factory,
		broadcaster: broadcaster,
		recorder:    broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: component}),
	}
	cjInf := factory.Batch().V1().CronJobs()
	jobInf := factory.Batch().V1().Jobs()
	c.cjLister = cjInf.Lister()
	c.synced = []cache.InformerSynced{cjInf.Informer().HasSynced, jobInf.Informer().HasSynced}
	_, _ = cjInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, obj interface{}) { c.enqueue(obj) },
	})
	_, _ = jobInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueueJobOwner,
		UpdateFunc: func(_, obj interface{}) { c.enqueueJobOwner(obj) },
		DeleteFunc: c.enqueueJobOwner,
	})
	return c
}

func (c *Controller) enqueue(obj interface{}) {
	if cj, ok := obj.(*batchv1.CronJob); ok {
		c.queue.Add(cj.Namespace + "/" + cj.Name)
	}
}

func (c *Controller) enqueueJobOwner(obj interface{}) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	j, ok := obj.(*batchv1.Job)
	if !ok {
		return
	}
	if ref := metav1.GetControllerOf(j); ref != nil && ref.Kind == "CronJob" && ref.APIVersion == batchv1.SchemeGroupVersion.String() {
		c.queue.Add(j.Namespace + "/" + ref.Name)
	}
}

// Run reconciles until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	c.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.client.CoreV1().Events("")})
	defer c.broadcaster.Shutdown()
	return ctrlruntime.Loop{
		Factory:   c.factory,
		Queue:     c.queue,
		Synced:    c.synced,
		Reconcile: c.reconcile,
		Log:       c.log,
		Workers:   2,
		Pending:   apierrors.IsConflict,
	}.Run(ctx)
}

func (c *Controller) reconcile(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	if _, err := c.cjLister.CronJobs(ns).Get(name); apierrors.IsNotFound(err) {
		return nil
	}
	// Decide on what is stored, not on a cache that may lag this
	// controller's own writes (a stale lastScheduleTime would run a time
	// twice, a stale job list would miss the job just created).
	cctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	cj, err := c.client.BatchV1().CronJobs(ns).Get(cctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get cronjob %s: %w", key, err)
	}
	list, err := c.client.BatchV1().Jobs(ns).List(cctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list jobs of cronjob %s: %w", key, err)
	}
	var jobs []*batchv1.Job
	for i := range list.Items {
		if ref := metav1.GetControllerOf(&list.Items[i]); ref != nil && ref.UID == cj.UID {
			jobs = append(jobs, &list.Items[i])
		}
	}

	p := decide(cronInput{cj: cj, jobs: jobs, now: c.clock.Now()})
	for _, ev := range p.events {
		typ := corev1.EventTypeNormal
		if ev.warning {
			typ = corev1.EventTypeWarning
		}
		c.recorder.Event(cj, typ, ev.reason, ev.message)
	}
	var errs []error
	for _, j := range p.replace {
		if err := c.deleteJob(ctx, cj, j); err != nil {
			// The new job must not run beside the old one.
			return err
		}
	}
	if !p.createFor.IsZero() {
		j, err := c.createJob(ctx, cj, p.createFor, p.loc)
		if err != nil {
			return err
		}
		if _, done := jobFinished(j); !done {
			p.status.Active = append(p.status.Active, jobRef(j))
		}
		p.status.LastScheduleTime = ptrTo(metav1.NewTime(p.createFor))
	}
	if err := c.writeStatus(ctx, cj, p.status); err != nil {
		errs = append(errs, err)
	}
	for _, j := range p.prune {
		if err := c.deleteJob(ctx, cj, j); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if p.requeueAfter > 0 {
		c.queue.AddAfter(key, p.requeueAfter)
	}
	return nil
}

// createJob creates the job for a schedule time. If it exists already and
// is ours, an earlier pass created it and lost the status write: that job
// stands for the time.
func (c *Controller) createJob(ctx context.Context, cj *batchv1.CronJob, scheduled time.Time, loc *time.Location) (*batchv1.Job, error) {
	want := jobFromTemplate(cj, scheduled, loc)
	cctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	j, err := c.client.BatchV1().Jobs(cj.Namespace).Create(cctx, want, metav1.CreateOptions{FieldManager: fieldManager})
	if apierrors.IsAlreadyExists(err) {
		j, err = c.client.BatchV1().Jobs(cj.Namespace).Get(cctx, want.Name, metav1.GetOptions{})
		if err == nil {
			if ref := metav1.GetControllerOf(j); ref == nil || ref.UID != cj.UID {
				return nil, fmt.Errorf("create job %s/%s: a job of that name exists and is not this cronjob's", cj.Namespace, want.Name)
			}
			return j, nil
		}
	}
	if err != nil {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "FailedCreate", "Error creating job: %v", err)
		return nil, fmt.Errorf("create job %s/%s: %w", cj.Namespace, want.Name, err)
	}
	c.recorder.Eventf(cj, corev1.EventTypeNormal, "SuccessfulCreate", "Created job %s", j.Name)
	return j, nil
}

// deleteJob deletes a job and, in the background, its pods.
func (c *Controller) deleteJob(ctx context.Context, cj *batchv1.CronJob, j *batchv1.Job) error {
	policy := metav1.DeletePropagationBackground
	cctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	err := c.client.BatchV1().Jobs(j.Namespace).Delete(cctx, j.Name, metav1.DeleteOptions{
		PropagationPolicy: &policy,
		Preconditions:     &metav1.Preconditions{UID: &j.UID},
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "FailedDelete", "Deleted job: %v", err)
		return fmt.Errorf("delete job %s/%s: %w", j.Namespace, j.Name, err)
	}
	c.recorder.Eventf(cj, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted job %s", j.Name)
	return nil
}

func (c *Controller) writeStatus(ctx context.Context, cj *batchv1.CronJob, st batchv1.CronJobStatus) error {
	a, _ := json.Marshal(cj.Status)
	b, _ := json.Marshal(st)
	if string(a) == string(b) {
		return nil
	}
	next := cj.DeepCopy()
	next.Status = st
	cctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	if _, err := c.client.BatchV1().CronJobs(cj.Namespace).UpdateStatus(cctx, next, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
		return fmt.Errorf("update status of cronjob %s/%s: %w", cj.Namespace, cj.Name, err)
	}
	return nil
}
