// Package job owns the Job controller, after Kubernetes' (1.33): it runs a
// Job's pods from spec.template (parallelism, completions, NonIndexed and
// Indexed completion modes), counts their outcomes through the
// batch.kubernetes.io/job-tracking pod finalizer and
// status.uncountedTerminatedPods so that counts survive pod deletion,
// replaces failed pods with exponential back-off up to backoffLimit,
// enforces activeDeadlineSeconds, suspend and podFailurePolicy, sets the
// SuccessCriteriaMet/Complete and FailureTarget/Failed conditions, and
// deletes finished jobs after ttlSecondsAfterFinished (the TTL-after-
// finished controller's job, folded in here). What to do is decided by the
// pure function decide; this file does the I/O. Only internal/node imports
// it.
package job

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
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
	fieldManager = "gureum-job-controller"
	// component is the source name on Events, as in Kubernetes.
	component = "job-controller"
	// requestTimeout bounds each API call.
	requestTimeout = 15 * time.Second
)

// Option tunes the controller.
type Option func(*Controller)

// WithBackoff sets the delay before a failed pod is replaced (doubling per
// further failure, capped at maxDelay). Tests shorten it.
func WithBackoff(base, maxDelay time.Duration) Option {
	return func(c *Controller) { c.backoffBase, c.backoffMax = base, maxDelay }
}

// Controller reconciles Jobs by namespace/name.
type Controller struct {
	client      kubernetes.Interface
	clock       clock.Clock
	log         *slog.Logger
	queue       *ctrlruntime.TimedQueue
	factory     informers.SharedInformerFactory
	jobLister   batchlisters.JobLister
	synced      []cache.InformerSynced
	broadcaster record.EventBroadcaster
	recorder    record.EventRecorder

	backoffBase, backoffMax time.Duration

	mu       sync.Mutex
	backoffs map[string]backoffRecord
}

// New builds the controller, registering its informers on factory.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, clk clock.Clock, log *slog.Logger, opts ...Option) *Controller {
	limiter := workqueue.NewTypedItemExponentialFailureRateLimiter[string](10*time.Millisecond, 10*time.Second)
	broadcaster := record.NewBroadcaster()
	c := &Controller{
		client: client,
		clock:  clk,
		log:    log,
		queue: ctrlruntime.NewTimedQueue(workqueue.NewTypedRateLimitingQueueWithConfig(limiter,
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "job"}), clk),
		factory:     factory,
		broadcaster: broadcaster,
		recorder:    broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: component}),
		backoffBase: DefaultBackoffBase,
		backoffMax:  DefaultBackoffMax,
		backoffs:    map[string]backoffRecord{},
	}
	for _, o := range opts {
		o(c)
	}
	jobInf := factory.Batch().V1().Jobs()
	podInf := factory.Core().V1().Pods()
	c.jobLister = jobInf.Lister()
	c.synced = []cache.InformerSynced{jobInf.Informer().HasSynced, podInf.Informer().HasSynced}
	_, _ = jobInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueueJob,
		UpdateFunc: func(_, obj interface{}) { c.enqueueJob(obj) },
		DeleteFunc: c.enqueueJob,
	})
	_, _ = podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueuePodOwner,
		UpdateFunc: func(_, obj interface{}) { c.enqueuePodOwner(obj) },
		DeleteFunc: c.enqueuePodOwner,
	})
	return c
}

func (c *Controller) enqueueJob(obj interface{}) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	if j, ok := obj.(*batchv1.Job); ok {
		c.queue.Add(j.Namespace + "/" + j.Name)
	}
}

// enqueuePodOwner wakes the job a pod belongs to. Pods still carrying the
// tracking finalizer wake their job by name even when it is gone, so that
// the finalizer is released.
func (c *Controller) enqueuePodOwner(obj interface{}) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if ref := metav1.GetControllerOf(pod); ref != nil && ref.Kind == "Job" && ref.APIVersion == batchv1.SchemeGroupVersion.String() {
		c.queue.Add(pod.Namespace + "/" + ref.Name)
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
		Workers:   4,
		// A conflict means another writer got there first: decide again.
		Pending: apierrors.IsConflict,
	}.Run(ctx)
}

// reconcile brings one job's pods and status in line with its spec.
func (c *Controller) reconcile(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	if _, err := c.jobLister.Jobs(ns).Get(name); apierrors.IsNotFound(err) {
		c.forgetBackoff(key)
		return c.releaseOrphans(ctx, ns, name)
	}
	// Decide on the job as stored: the cache often lags this controller's
	// own status writes, and a decision on stale counts would only end in
	// a conflict.
	cctx, cancel := context.WithTimeout(ctx, requestTimeout)
	job, err := c.client.BatchV1().Jobs(ns).Get(cctx, name, metav1.GetOptions{})
	cancel()
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get job %s: %w", key, err)
	}
	if job.Spec.ManagedBy != nil && *job.Spec.ManagedBy != batchv1.JobControllerName {
		return nil // another controller owns this job
	}
	pods, err := c.listPods(ctx, job)
	if err != nil {
		return err
	}
	c.mu.Lock()
	rec := c.backoffs[key]
	c.mu.Unlock()
	p := decide(decideInput{
		job: job, pods: pods, now: c.clock.Now(), backoff: rec,
		backoffBase: c.backoffBase, backoffMax: c.backoffMax,
	})

	if job, err = c.writeStatus(ctx, job, p.status); err != nil {
		return err
	}
	c.mu.Lock()
	c.backoffs[key] = p.backoff
	c.mu.Unlock()
	for _, ev := range p.events {
		typ := corev1.EventTypeNormal
		if ev.warning {
			typ = corev1.EventTypeWarning
		}
		c.recorder.Event(job, typ, ev.reason, ev.message)
	}

	released := map[types.UID]bool{}
	var errs []error
	for _, pod := range p.strip {
		if err := c.removeFinalizer(ctx, pod); err != nil {
			errs = append(errs, err)
			continue
		}
		released[pod.UID] = true
	}
	for _, pod := range p.deletePods {
		if err := c.deletePod(ctx, job, pod); err != nil {
			errs = append(errs, err)
		}
	}
	for _, index := range p.create {
		if err := c.createPod(ctx, job, index); err != nil {
			errs = append(errs, err)
			break // an error here usually repeats (quota, invalid template)
		}
	}

	// Count what was just released; the rest waits for the next pass.
	if len(released) > 0 {
		st := *job.Status.DeepCopy()
		flushUncounted(&st, isIndexed(job), func(uid types.UID) bool {
			for _, pod := range pods {
				if pod.UID == uid {
					return hasTrackingFinalizer(pod) && !released[uid]
				}
			}
			return false
		})
		if _, err := c.writeStatus(ctx, job, st); err != nil {
			errs = append(errs, err)
		}
	}
	if p.deleteJob {
		if err := c.deleteFinishedJob(ctx, job); err != nil {
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

func (c *Controller) forgetBackoff(key string) {
	c.mu.Lock()
	delete(c.backoffs, key)
	c.mu.Unlock()
}

// listPods reads the job's pods from the API server rather than the
// informer cache: counting from a cache that lags our own writes would
// count a pod twice or create too many.
func (c *Controller) listPods(ctx context.Context, job *batchv1.Job) ([]*corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(job.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("parse selector of job %s/%s: %w", job.Namespace, job.Name, err)
	}
	cctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	list, err := c.client.CoreV1().Pods(job.Namespace).List(cctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, fmt.Errorf("list pods of job %s/%s: %w", job.Namespace, job.Name, err)
	}
	var pods []*corev1.Pod
	for i := range list.Items {
		pod := &list.Items[i]
		if ref := metav1.GetControllerOf(pod); ref != nil && ref.UID == job.UID {
			pods = append(pods, pod)
		}
	}
	return pods, nil
}

// releaseOrphans removes the tracking finalizer from pods whose job is
// gone, so that they can be deleted.
func (c *Controller) releaseOrphans(ctx context.Context, ns, name string) error {
	cctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	sel := labels.SelectorFromSet(labels.Set{batchv1.JobNameLabel: name})
	list, err := c.client.CoreV1().Pods(ns).List(cctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return fmt.Errorf("list pods of deleted job %s/%s: %w", ns, name, err)
	}
	var errs []error
	for i := range list.Items {
		pod := &list.Items[i]
		if !hasTrackingFinalizer(pod) {
			continue
		}
		if ref := metav1.GetControllerOf(pod); ref != nil && ref.Kind == "Job" && ref.Name == name {
			if _, err := c.jobLister.Jobs(ns).Get(name); err == nil {
				continue // a new job of the same name; its own pass decides
			}
			if err := c.removeFinalizer(ctx, pod); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// writeStatus stores st if it differs from the job's status. The update
// carries the job's resourceVersion, so a decision made on a stale job
// fails with a conflict and is made again.
func (c *Controller) writeStatus(ctx context.Context, job *batchv1.Job, st batchv1.JobStatus) (*batchv1.Job, error) {
	if statusEqual(&job.Status, &st) {
		return job, nil
	}
	next := job.DeepCopy()
	next.Status = st
	cctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	out, err := c.client.BatchV1().Jobs(job.Namespace).UpdateStatus(cctx, next, metav1.UpdateOptions{FieldManager: fieldManager})
	if err != nil {
		return job, fmt.Errorf("update status of job %s/%s: %w", job.Namespace, job.Name, err)
	}
	return out, nil
}

func statusEqual(a, b *batchv1.JobStatus) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func (c *Controller) removeFinalizer(ctx context.Context, pod *corev1.Pod) error {
	idx := slices.Index(pod.Finalizers, batchv1.JobTrackingFinalizer)
	if idx < 0 {
		return nil
	}
	// A JSON patch guarded by a test, so that another writer's finalizer
	// change is never overwritten.
	patch := fmt.Sprintf(`[{"op":"test","path":"/metadata/finalizers/%d","value":%q},{"op":"remove","path":"/metadata/finalizers/%d"}]`,
		idx, batchv1.JobTrackingFinalizer, idx)
	cctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	_, err := c.client.CoreV1().Pods(pod.Namespace).Patch(cctx, pod.Name, types.JSONPatchType, []byte(patch), metav1.PatchOptions{FieldManager: fieldManager})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove tracking finalizer from pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

func (c *Controller) deletePod(ctx context.Context, job *batchv1.Job, pod *corev1.Pod) error {
	cctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(cctx, pod.Name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &pod.UID},
	})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	if err != nil {
		c.recorder.Eventf(job, corev1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
		return fmt.Errorf("delete pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	c.recorder.Eventf(job, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %s", pod.Name)
	return nil
}

func (c *Controller) createPod(ctx context.Context, job *batchv1.Job, index int) error {
	pod := podFromTemplate(job, index)
	cctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	out, err := c.client.CoreV1().Pods(job.Namespace).Create(cctx, pod, metav1.CreateOptions{FieldManager: fieldManager})
	if err != nil {
		c.recorder.Eventf(job, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
		return fmt.Errorf("create pod for job %s/%s: %w", job.Namespace, job.Name, err)
	}
	c.recorder.Eventf(job, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %s", out.Name)
	return nil
}

// deleteFinishedJob deletes a job whose TTL after finishing ran out, with
// foreground propagation so that its pods go first, as the TTL-after-
// finished controller does.
func (c *Controller) deleteFinishedJob(ctx context.Context, job *batchv1.Job) error {
	if job.DeletionTimestamp != nil {
		return nil
	}
	policy := metav1.DeletePropagationForeground
	cctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	err := c.client.BatchV1().Jobs(job.Namespace).Delete(cctx, job.Name, metav1.DeleteOptions{
		PropagationPolicy: &policy,
		Preconditions:     &metav1.Preconditions{UID: &job.UID, ResourceVersion: &job.ResourceVersion},
	})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete finished job %s/%s: %w", job.Namespace, job.Name, err)
	}
	c.log.Info("deleted finished job after its TTL", "job", job.Namespace+"/"+job.Name)
	return nil
}

// podFromTemplate builds one pod of job; index is its completion index, or
// -1 for a non-indexed job.
func podFromTemplate(job *batchv1.Job, index int) *corev1.Pod {
	t := job.Spec.Template.DeepCopy()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: job.Name + "-",
			Namespace:    job.Namespace,
			Labels:       t.Labels,
			Annotations:  t.Annotations,
			Finalizers:   []string{batchv1.JobTrackingFinalizer},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(job,
				batchv1.SchemeGroupVersion.WithKind("Job"))},
		},
		Spec: t.Spec,
	}
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	// Pods of older jobs may lack the labels the API server now adds to
	// the template; the selector-generated ones are always there.
	for k, v := range map[string]string{
		batchv1.JobNameLabel: job.Name, "job-name": job.Name,
		batchv1.ControllerUidLabel: string(job.UID), "controller-uid": string(job.UID),
	} {
		if _, ok := pod.Labels[k]; !ok && (job.Spec.ManualSelector == nil || !*job.Spec.ManualSelector) {
			pod.Labels[k] = v
		}
	}
	if index < 0 {
		return pod
	}
	idx := strconv.Itoa(index)
	pod.GenerateName = fmt.Sprintf("%s-%d-", job.Name, index)
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[batchv1.JobCompletionIndexAnnotation] = idx
	pod.Labels[batchv1.JobCompletionIndexAnnotation] = idx
	if pod.Spec.Hostname == "" {
		pod.Spec.Hostname = fmt.Sprintf("%s-%d", job.Name, index)
	}
	env := corev1.EnvVar{Name: "JOB_COMPLETION_INDEX", ValueFrom: &corev1.EnvVarSource{
		FieldRef: &corev1.ObjectFieldSelector{
			APIVersion: "v1",
			FieldPath:  fmt.Sprintf("metadata.annotations['%s']", batchv1.JobCompletionIndexAnnotation),
		},
	}}
	addEnv := func(cs []corev1.Container) {
		for i := range cs {
			if !slices.ContainsFunc(cs[i].Env, func(e corev1.EnvVar) bool { return e.Name == env.Name }) {
				cs[i].Env = append(cs[i].Env, env)
			}
		}
	}
	addEnv(pod.Spec.InitContainers)
	addEnv(pod.Spec.Containers)
	return pod
}
