package scheduler

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	ctrlruntime "github.com/gureum/gureum/internal/controller/runtime"
)

// SchedulerName is the name pods use (or leave empty) to ask for this
// scheduler; events are reported from it.
const SchedulerName = "default-scheduler"

// Scheduler binds pending pods to nodes.
type Scheduler struct {
	// BindWorkers is how many bindings and status updates are in flight
	// at once (default 32).
	BindWorkers int
	// InitialBackoff and MaxBackoff bound how soon a pod that did not fit
	// is tried again after the cluster changes (defaults 1s and 10s, as in
	// Kubernetes).
	InitialBackoff, MaxBackoff time.Duration
	// FlushInterval retries every unschedulable pod even without a
	// cluster change, as a safety net (default 5 minutes).
	FlushInterval time.Duration
	// EventInterval is how often the same FailedScheduling message is
	// recorded again for one pod (default 5 minutes).
	EventInterval time.Duration

	client    kubernetes.Interface
	factory   informers.SharedInformerFactory
	clk       clock.Clock
	log       *slog.Logger
	podLister corelisters.PodLister
	synced    []cache.InformerSynced
	queue     workqueue.TypedRateLimitingInterface[string]
	moveCh    chan struct{}
	work      chan func(context.Context)
	recorder  record.EventRecorder

	mu   sync.Mutex
	snap *Snapshot
	algo Algorithm
	// assumed are pods placed in the snapshot whose binding the pod
	// informer has not shown yet.
	assumed map[string]string
	// unschedulable are pods that did not fit, waiting for a change.
	unschedulable map[string]*waitingPod
}

type waitingPod struct {
	attempts  int
	lastTry   time.Time
	lastMsg   string
	lastEvent time.Time
}

// New builds the scheduler and registers its informers on factory.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, clk clock.Clock, log *slog.Logger) *Scheduler {
	s := &Scheduler{
		BindWorkers:    32,
		InitialBackoff: time.Second,
		MaxBackoff:     10 * time.Second,
		FlushInterval:  5 * time.Minute,
		EventInterval:  5 * time.Minute,
		client:         client,
		factory:        factory,
		clk:            clk,
		log:            log,
		moveCh:         make(chan struct{}, 1),
		snap:           NewSnapshot(),
		assumed:        map[string]string{},
		unschedulable:  map[string]*waitingPod{},
	}
	qcfg := workqueue.TypedRateLimitingQueueConfig[string]{Name: "scheduler"}
	if tc, ok := clk.(clock.WithTicker); ok {
		qcfg.Clock = tc
	}
	s.queue = workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](100*time.Millisecond, 10*time.Second), qcfg)
	nodeInf := factory.Core().V1().Nodes().Informer()
	podInf := factory.Core().V1().Pods()
	s.podLister = podInf.Lister()
	nodeReg, _ := nodeInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    s.onNodeAdd,
		UpdateFunc: s.onNodeUpdate,
		DeleteFunc: s.onNodeDelete,
	})
	podReg, _ := podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { s.onPodUpdate(nil, obj) },
		UpdateFunc: s.onPodUpdate,
		DeleteFunc: s.onPodDelete,
	})
	// The handlers' own sync, not the informers': scheduling must not
	// start before every existing pod has been counted in the snapshot.
	s.synced = []cache.InformerSynced{nodeReg.HasSynced, podReg.HasSynced}
	return s
}

// Run schedules until ctx ends.
func (s *Scheduler) Run(ctx context.Context) error {
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: s.client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	s.recorder = broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: SchedulerName})
	s.work = make(chan func(context.Context))

	var wg sync.WaitGroup
	for range max(s.BindWorkers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case f := <-s.work:
					f(ctx)
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.retryLoop(ctx)
	}()
	err := ctrlruntime.Loop{
		Factory:   s.factory,
		Queue:     s.queue,
		Synced:    s.synced,
		Reconcile: s.scheduleOne,
		Log:       s.log,
		Workers:   1,
	}.Run(ctx)
	wg.Wait()
	return err
}

func responsibleFor(pod *corev1.Pod) bool {
	return pod.Spec.SchedulerName == "" || pod.Spec.SchedulerName == SchedulerName
}

func terminal(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

func (s *Scheduler) onNodeAdd(obj interface{}) {
	node, ok := obj.(*corev1.Node)
	if !ok {
		return
	}
	s.mu.Lock()
	s.snap.SetNode(node)
	s.mu.Unlock()
	s.requestRetry()
}

func (s *Scheduler) onNodeUpdate(oldObj, newObj interface{}) {
	old, ok1 := oldObj.(*corev1.Node)
	node, ok2 := newObj.(*corev1.Node)
	if !ok1 || !ok2 {
		return
	}
	// Heartbeats change a node's status constantly; only what the filters
	// read may wake the pods that did not fit.
	if !nodeSchedulingChanged(old, node) {
		return
	}
	s.mu.Lock()
	s.snap.SetNode(node)
	s.mu.Unlock()
	s.requestRetry()
}

func nodeSchedulingChanged(old, node *corev1.Node) bool {
	return old.Spec.Unschedulable != node.Spec.Unschedulable ||
		!equality.Semantic.DeepEqual(old.Spec.Taints, node.Spec.Taints) ||
		!equality.Semantic.DeepEqual(old.Labels, node.Labels) ||
		!equality.Semantic.DeepEqual(old.Status.Allocatable, node.Status.Allocatable) ||
		!equality.Semantic.DeepEqual(old.Status.Capacity, node.Status.Capacity)
}

func (s *Scheduler) onNodeDelete(obj interface{}) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	if node, ok := obj.(*corev1.Node); ok {
		s.mu.Lock()
		s.snap.RemoveNode(node.Name)
		s.mu.Unlock()
	}
}

func (s *Scheduler) onPodUpdate(oldObj, newObj interface{}) {
	pod, ok := newObj.(*corev1.Pod)
	if !ok {
		return
	}
	old, _ := oldObj.(*corev1.Pod)
	key := PodKey(pod)
	if pod.Spec.NodeName != "" {
		freed := false
		s.mu.Lock()
		delete(s.assumed, key)
		delete(s.unschedulable, key)
		if terminal(pod) {
			_, freed = s.snap.PodNode(key)
			s.snap.RemovePod(key)
		} else if old == nil || old.Spec.NodeName != pod.Spec.NodeName || !podAccountingEqual(old, pod) {
			s.snap.AddPod(pod, pod.Spec.NodeName)
		} else if _, known := s.snap.PodNode(key); !known {
			s.snap.AddPod(pod, pod.Spec.NodeName)
		}
		s.mu.Unlock()
		if freed {
			s.requestRetry()
		}
		return
	}
	if !responsibleFor(pod) || pod.DeletionTimestamp != nil || terminal(pod) {
		return
	}
	s.mu.Lock()
	_, waiting := s.unschedulable[key]
	_, assumed := s.assumed[key]
	s.mu.Unlock()
	// A pod that did not fit waits for a cluster change, not for its own
	// status updates (the scheduler's condition patch among them); a
	// change to its spec or labels is worth another try.
	if assumed || (waiting && old != nil && equality.Semantic.DeepEqual(old.Spec, pod.Spec) && equality.Semantic.DeepEqual(old.Labels, pod.Labels)) {
		return
	}
	s.queue.Add(key)
}

// podAccountingEqual reports whether two versions of a placed pod count
// the same against their node (status-only updates are the common case).
func podAccountingEqual(a, b *corev1.Pod) bool {
	if a.Spec.NodeName != b.Spec.NodeName || a.UID != b.UID {
		return false
	}
	ra, _ := PodRequests(a)
	rb, _ := PodRequests(b)
	return ra == rb && equality.Semantic.DeepEqual(a.Labels, b.Labels) && controllerUID(a) == controllerUID(b)
}

func (s *Scheduler) onPodDelete(obj interface{}) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	key := PodKey(pod)
	s.mu.Lock()
	_, placed := s.snap.PodNode(key)
	s.snap.RemovePod(key)
	delete(s.assumed, key)
	delete(s.unschedulable, key)
	s.mu.Unlock()
	if placed {
		s.requestRetry()
	}
}

// requestRetry asks for the pods that did not fit to be tried again;
// bursts of cluster changes coalesce into one pass.
func (s *Scheduler) requestRetry() {
	select {
	case s.moveCh <- struct{}{}:
	default:
	}
}

func (s *Scheduler) retryLoop(ctx context.Context) {
	flush := s.clk.NewTimer(s.FlushInterval)
	defer flush.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.moveCh:
		case <-flush.C():
			flush.Reset(s.FlushInterval)
		}
		s.retryUnschedulable()
	}
}

// retryUnschedulable requeues every pod that did not fit, each after its
// own backoff since its last attempt, so a cluster that changes all the
// time does not turn into a busy loop.
func (s *Scheduler) retryUnschedulable() {
	now := s.clk.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, w := range s.unschedulable {
		if wait := w.lastTry.Add(s.backoff(w.attempts)).Sub(now); wait > 0 {
			s.queue.AddAfter(key, wait)
		} else {
			s.queue.Add(key)
		}
	}
}

func (s *Scheduler) backoff(attempts int) time.Duration {
	d := s.InitialBackoff
	for i := 1; i < attempts && d < s.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, s.MaxBackoff)
}

// scheduleOne places one pending pod: it decides under the lock, counts
// the pod against its node at once (the "assumed" view), and hands the
// binding to a worker so the next pod need not wait for the API.
func (s *Scheduler) scheduleOne(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pod, err := s.podLister.Pods(ns).Get(name)
	if err != nil || pod.Spec.NodeName != "" || pod.DeletionTimestamp != nil || terminal(pod) || !responsibleFor(pod) {
		s.mu.Lock()
		delete(s.unschedulable, key)
		s.mu.Unlock()
		return nil
	}
	if len(pod.Spec.SchedulingGates) > 0 {
		// The API server reports SchedulingGated; removing the last gate
		// is a spec update, which queues the pod again.
		return nil
	}
	s.mu.Lock()
	if _, ok := s.assumed[key]; ok {
		s.mu.Unlock()
		return nil
	}
	node, err := s.algo.Schedule(s.snap, pod)
	var w *waitingPod
	if err == nil {
		s.snap.AddPod(pod, node)
		s.assumed[key] = node
		delete(s.unschedulable, key)
	} else {
		w = s.unschedulable[key]
		if w == nil {
			w = &waitingPod{}
			s.unschedulable[key] = w
		}
		w.attempts++
		w.lastTry = s.clk.Now()
	}
	s.mu.Unlock()

	if err != nil {
		return s.reportUnschedulable(ctx, pod, w, err.Error())
	}
	s.log.Debug("pod assumed", "pod", key, "node", node)
	select {
	case s.work <- func(ctx context.Context) { s.bind(ctx, pod, node) }:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Scheduler) bind(ctx context.Context, pod *corev1.Pod, node string) {
	key := PodKey(pod)
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := s.client.CoreV1().Pods(pod.Namespace).Bind(cctx, &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: node},
	}, metav1.CreateOptions{})
	if err == nil {
		s.recorder.Eventf(pod, corev1.EventTypeNormal, "Scheduled", "Successfully assigned %s/%s to %s", pod.Namespace, pod.Name, node)
		return
	}
	// Undo the assumption, unless the informer has meanwhile shown the
	// pod placed (then the snapshot already holds the real placement).
	s.mu.Lock()
	if s.assumed[key] == node {
		delete(s.assumed, key)
		s.snap.RemovePod(key)
	}
	s.mu.Unlock()
	s.requestRetry()
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) || ctx.Err() != nil {
		s.log.Debug("binding abandoned", "pod", key, "node", node, "err", err)
		return
	}
	s.log.Warn("bind pod failed; retrying", "pod", key, "node", node, "err", err)
	s.queue.AddRateLimited(key)
}

// reportUnschedulable sets PodScheduled=False with the reason and records
// a FailedScheduling event, each only when it says something new (the
// same message at most once per EventInterval), so retries do not flood.
func (s *Scheduler) reportUnschedulable(ctx context.Context, pod *corev1.Pod, w *waitingPod, msg string) error {
	now := s.clk.Now()
	s.mu.Lock()
	emit := msg != w.lastMsg || now.Sub(w.lastEvent) >= s.EventInterval
	if emit {
		w.lastMsg, w.lastEvent = msg, now
	}
	s.mu.Unlock()
	if emit {
		s.log.Debug("pod unschedulable", "pod", PodKey(pod), "reason", msg)
		s.recorder.Event(pod, corev1.EventTypeWarning, "FailedScheduling", msg)
	}
	if conditionSays(pod, msg) {
		return nil
	}
	select {
	case s.work <- func(ctx context.Context) { s.patchUnschedulable(ctx, pod, msg) }:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func conditionSays(pod *corev1.Pod, msg string) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled {
			return c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable && c.Message == msg
		}
	}
	return false
}

func (s *Scheduler) patchUnschedulable(ctx context.Context, pod *corev1.Pod, msg string) {
	transition := metav1.NewTime(s.clk.Now().UTC().Truncate(time.Second))
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			transition = c.LastTransitionTime
		}
	}
	patch, err := json.Marshal(map[string]any{
		"status": map[string]any{"conditions": []any{map[string]any{
			"type":               corev1.PodScheduled,
			"status":             corev1.ConditionFalse,
			"reason":             corev1.PodReasonUnschedulable,
			"message":            msg,
			"lastProbeTime":      nil,
			"lastTransitionTime": transition,
		}}},
	})
	if err != nil {
		s.log.Error("encode pod condition patch", "pod", PodKey(pod), "err", err)
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err = s.client.CoreV1().Pods(pod.Namespace).Patch(cctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) && ctx.Err() == nil {
		s.log.Warn("update pod condition failed", "pod", PodKey(pod), "err", fmt.Errorf("patch pod status: %w", err))
	}
}
