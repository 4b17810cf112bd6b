// Package daemonset owns the DaemonSet controller, as in Kubernetes: one
// pod per eligible node (nodeSelector, required node affinity, taints
// against tolerations plus the default daemon tolerations), pinned to its
// node by a required node affinity on metadata.name so that the scheduler
// binds it; pods on nodes that no longer fit are deleted, failed pods are
// replaced after a back-off, and template changes roll out through
// ControllerRevisions (RollingUpdate with maxUnavailable or maxSurge, or
// OnDelete). The decisions live in decide.go and do no I/O. Only
// internal/node imports it.
package daemonset

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/gureum/gureum/internal/controller/history"
	ctrlruntime "github.com/gureum/gureum/internal/controller/runtime"
)

const (
	fieldManager = "gureum-daemonset-controller"
	// templateGenerationLabel is the deprecated label Kubernetes still
	// puts on daemon pods next to controller-revision-hash.
	templateGenerationLabel = "pod-template-generation"
	// expectationTimeout bounds how long a reconcile waits for the cache
	// to show pods it created or deleted before trusting the cache again.
	expectationTimeout = 5 * time.Minute
	initialBackoff     = time.Second
	maxBackoff         = 15 * time.Minute
)

var controllerKind = appsv1.SchemeGroupVersion.WithKind("DaemonSet")

// Controller reconciles DaemonSets by namespace/name.
type Controller struct {
	client      kubernetes.Interface
	clock       clock.Clock
	log         *slog.Logger
	queue       workqueue.TypedRateLimitingInterface[string]
	factory     informers.SharedInformerFactory
	dsLister    appslisters.DaemonSetLister
	podLister   corelisters.PodLister
	nodeLister  corelisters.NodeLister
	revLister   appslisters.ControllerRevisionLister
	synced      []cache.InformerSynced
	broadcaster record.EventBroadcaster
	recorder    record.EventRecorder
	revisions   history.Store
	expect      *expectations
	backoff     *backoff
}

// New builds the controller and registers its informers on factory.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, clk clock.Clock, log *slog.Logger) *Controller {
	broadcaster := record.NewBroadcaster()
	c := &Controller{
		client:      client,
		clock:       clk,
		log:         log,
		queue:       workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](), queueConfig("daemonset", clk)),
		factory:     factory,
		broadcaster: broadcaster,
		recorder:    broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "daemonset-controller"}),
		revisions:   history.Store{Client: client, FieldManager: fieldManager},
		expect:      &expectations{m: map[string]*expectation{}},
		backoff:     &backoff{m: map[string]backoffEntry{}},
	}
	dsInf := factory.Apps().V1().DaemonSets()
	podInf := factory.Core().V1().Pods()
	nodeInf := factory.Core().V1().Nodes()
	revInf := factory.Apps().V1().ControllerRevisions()
	c.dsLister, c.podLister, c.nodeLister, c.revLister = dsInf.Lister(), podInf.Lister(), nodeInf.Lister(), revInf.Lister()
	c.synced = []cache.InformerSynced{dsInf.Informer().HasSynced, podInf.Informer().HasSynced, nodeInf.Informer().HasSynced, revInf.Informer().HasSynced}

	_, _ = dsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, obj interface{}) { c.enqueue(obj) },
		DeleteFunc: c.enqueue,
	})
	_, _ = podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) {
			if key, ok := ownerKey(obj); ok {
				c.expect.observeAdd(key)
				c.queue.Add(key)
				return
			}
			c.enqueueSelecting(obj)
		},
		UpdateFunc: func(_, obj interface{}) {
			if key, ok := ownerKey(obj); ok {
				if pod := obj.(*corev1.Pod); pod.DeletionTimestamp != nil {
					c.expect.observeDelete(key, pod.Name)
				}
				c.queue.Add(key)
				return
			}
			c.enqueueSelecting(obj)
		},
		DeleteFunc: func(obj interface{}) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if key, ok := ownerKey(obj); ok {
				c.expect.observeDelete(key, obj.(*corev1.Pod).Name)
				c.queue.Add(key)
			}
		},
	})
	// Any node change can change where daemon pods belong.
	nodeChanged := func(interface{}) { c.enqueueAll() }
	_, _ = nodeInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: nodeChanged,
		UpdateFunc: func(old, cur interface{}) {
			o, n := old.(*corev1.Node), cur.(*corev1.Node)
			if !apiequality.Semantic.DeepEqual(o.Labels, n.Labels) || !apiequality.Semantic.DeepEqual(o.Spec.Taints, n.Spec.Taints) {
				c.enqueueAll()
			}
		},
		DeleteFunc: nodeChanged,
	})
	return c
}

func (c *Controller) enqueue(obj interface{}) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err == nil {
		c.queue.Add(key)
	}
}

// enqueueSelecting wakes the DaemonSets that may adopt an orphan pod.
func (c *Controller) enqueueSelecting(obj interface{}) {
	pod, ok := obj.(*corev1.Pod)
	if !ok || metav1.GetControllerOf(pod) != nil {
		return
	}
	all, err := c.dsLister.DaemonSets(pod.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, ds := range all {
		sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
		if err == nil && !sel.Empty() && sel.Matches(labels.Set(pod.Labels)) {
			c.enqueue(ds)
		}
	}
}

func (c *Controller) enqueueAll() {
	all, err := c.dsLister.List(labels.Everything())
	if err != nil {
		return
	}
	for _, ds := range all {
		c.enqueue(ds)
	}
}

// ownerKey is the key of the DaemonSet controlling a pod.
func ownerKey(obj interface{}) (string, bool) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return "", false
	}
	ref := metav1.GetControllerOf(pod)
	if ref == nil || ref.Kind != controllerKind.Kind || ref.APIVersion != controllerKind.GroupVersion().String() {
		return "", false
	}
	return pod.Namespace + "/" + ref.Name, true
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
		Pending:   func(err error) bool { return errors.Is(err, history.ErrCollision) },
		Workers:   2,
	}.Run(ctx)
}

func (c *Controller) reconcile(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	ds, err := c.dsLister.DaemonSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.expect.forget(key)
		return nil
	}
	if err != nil {
		return fmt.Errorf("get daemonset %s: %w", key, err)
	}
	if ds.DeletionTimestamp != nil {
		return nil
	}
	selector, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil || selector.Empty() {
		// The API server validates selectors; an empty one would select
		// every pod in the namespace, which a controller must never act on.
		return nil
	}

	cur, old, err := c.syncRevisions(ctx, ds, selector)
	if err != nil {
		return err
	}
	hash := cur.Labels[history.HashLabel]

	pods, err := c.claimPods(ctx, ds, selector)
	if err != nil {
		return err
	}
	nodes, err := c.nodeLister.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	now := c.clock.Now()
	states, nextAvailable := nodeStates(ds, nodes, pods, now)

	if c.expect.satisfied(key, now) {
		desired := 0
		for _, s := range states {
			if s.Fit.ShouldRun {
				desired++
			}
		}
		plan := Decide(states, hash, ResolveStrategy(ds, desired))
		if err := c.apply(ctx, ds, key, hash, plan, states); err != nil {
			return err
		}
	}
	if err := c.updateStatus(ctx, ds, states, hash); err != nil {
		return err
	}
	if nextAvailable > 0 {
		c.queue.AddAfter(key, nextAvailable)
	}
	return c.truncateHistory(ctx, ds, cur, old, pods)
}

// syncRevisions makes sure the current template has the newest revision.
func (c *Controller) syncRevisions(ctx context.Context, ds *appsv1.DaemonSet, selector labels.Selector) (*appsv1.ControllerRevision, []*appsv1.ControllerRevision, error) {
	listed, err := c.revLister.ControllerRevisions(ds.Namespace).List(labels.Everything())
	if err != nil {
		return nil, nil, fmt.Errorf("list controller revisions of daemonset %s: %w", ds.Name, err)
	}
	claim := history.Classify(listed, ds, func(r *appsv1.ControllerRevision) bool { return selector.Matches(labels.Set(r.Labels)) })
	owned, err := history.ApplyClaim(ctx, claim, *metav1.NewControllerRef(ds, controllerKind), c.canAdopt(ds),
		func(ctx context.Context, name string, patch []byte) error {
			_, err := c.client.AppsV1().ControllerRevisions(ds.Namespace).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{FieldManager: fieldManager})
			return err
		})
	if err != nil {
		return nil, nil, fmt.Errorf("claim controller revisions of daemonset %s: %w", ds.Name, err)
	}
	data, err := history.Patch(&ds.Spec.Template)
	if err != nil {
		return nil, nil, err
	}
	collisions := int32(0)
	if ds.Status.CollisionCount != nil {
		collisions = *ds.Status.CollisionCount
	}
	cur, old, err := c.revisions.Sync(ctx, ds, controllerKind, ds.Spec.Template.Labels, data, owned, &collisions)
	if errors.Is(err, history.ErrCollision) {
		st := ds.DeepCopy()
		st.Status.CollisionCount = &collisions
		if _, uerr := c.client.AppsV1().DaemonSets(ds.Namespace).UpdateStatus(ctx, st, metav1.UpdateOptions{FieldManager: fieldManager}); uerr != nil {
			return nil, nil, fmt.Errorf("record collision count of daemonset %s: %w", ds.Name, uerr)
		}
	}
	if err != nil {
		return nil, nil, err
	}
	return cur, old, nil
}

// claimPods returns the pods ds controls, adopting orphans its selector
// matches and releasing pods it no longer matches, as Kubernetes does.
func (c *Controller) claimPods(ctx context.Context, ds *appsv1.DaemonSet, selector labels.Selector) ([]*corev1.Pod, error) {
	all, err := c.podLister.Pods(ds.Namespace).List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("list pods of daemonset %s: %w", ds.Name, err)
	}
	claim := history.Classify(all, ds, func(p *corev1.Pod) bool { return selector.Matches(labels.Set(p.Labels)) })
	pods, err := history.ApplyClaim(ctx, claim, *metav1.NewControllerRef(ds, controllerKind), c.canAdopt(ds),
		func(ctx context.Context, name string, patch []byte) error {
			_, err := c.client.CoreV1().Pods(ds.Namespace).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{FieldManager: fieldManager})
			return err
		})
	if err != nil {
		return nil, fmt.Errorf("claim pods of daemonset %s: %w", ds.Name, err)
	}
	return pods, nil
}

// canAdopt re-reads ds from the API server: only the live, undeleted
// DaemonSet may adopt.
func (c *Controller) canAdopt(ds *appsv1.DaemonSet) func(context.Context) error {
	return history.LiveOwner("daemonset", ds, func(ctx context.Context) (metav1.Object, error) {
		return c.client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
	})
}

// nodeStates groups the daemon pods by node and decides each node's fit.
// It also returns how long until the next ready pod becomes available
// (0 if none is waiting), so that status catches up without an event.
func nodeStates(ds *appsv1.DaemonSet, nodes []*corev1.Node, pods []*corev1.Pod, now time.Time) ([]NodeState, time.Duration) {
	byNode := map[string][]PodInfo{}
	var wait time.Duration
	for _, pod := range pods {
		info, untilAvailable := podInfo(pod, ds.Spec.MinReadySeconds, now)
		if untilAvailable > 0 && (wait == 0 || untilAvailable < wait) {
			wait = untilAvailable
		}
		node := PodNode(pod)
		byNode[node] = append(byNode[node], info)
	}
	states := make([]NodeState, 0, len(nodes))
	for _, n := range nodes {
		states = append(states, NodeState{Name: n.Name, Fit: NodeFit(&ds.Spec.Template, n), Pods: byNode[n.Name]})
		delete(byNode, n.Name)
	}
	// Pods for nodes that are gone (or never existed) do not fit anywhere.
	orphanNodes := make([]string, 0, len(byNode))
	for n := range byNode {
		orphanNodes = append(orphanNodes, n)
	}
	slices.Sort(orphanNodes)
	for _, n := range orphanNodes {
		states = append(states, NodeState{Name: n, Pods: byNode[n], Fit: Fit{}})
	}
	return states, wait
}

func podInfo(pod *corev1.Pod, minReadySeconds int32, now time.Time) (PodInfo, time.Duration) {
	info := PodInfo{
		Name:        pod.Name,
		Hash:        pod.Labels[history.HashLabel],
		Created:     pod.CreationTimestamp.Time,
		Failed:      pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded,
		Terminating: pod.DeletionTimestamp != nil,
	}
	var wait time.Duration
	for _, cond := range pod.Status.Conditions {
		if cond.Type != corev1.PodReady || cond.Status != corev1.ConditionTrue {
			continue
		}
		info.Ready = true
		availableAt := cond.LastTransitionTime.Add(time.Duration(minReadySeconds) * time.Second)
		if minReadySeconds == 0 || !availableAt.After(now) {
			info.Available = true
		} else {
			wait = availableAt.Sub(now)
		}
	}
	return info, wait
}

// apply carries out a plan: deletions first (a failed pod only after its
// back-off), then creations.
func (c *Controller) apply(ctx context.Context, ds *appsv1.DaemonSet, key, hash string, plan Plan, states []NodeState) error {
	now := c.clock.Now()
	failed := map[string]string{} // failed pod -> node
	for _, s := range states {
		for _, p := range s.Pods {
			if slices.Contains(plan.Failed, p.Name) {
				failed[p.Name] = s.Name
			}
		}
	}
	var deletes []string
	for _, name := range plan.Delete {
		node, isFailed := failed[name]
		if !isFailed {
			deletes = append(deletes, name)
			continue
		}
		bkey := string(ds.UID) + "/" + node
		if wait := c.backoff.remaining(bkey, now); wait > 0 {
			c.queue.AddAfter(key, wait)
			continue
		}
		c.backoff.next(bkey, now)
		c.recorder.Eventf(ds, corev1.EventTypeWarning, "FailedDaemonPod", "Found failed daemon pod %s/%s on node %s, will try to kill it", ds.Namespace, name, node)
		deletes = append(deletes, name)
	}
	c.expect.expect(key, len(plan.Create), deletes, now)

	var errs []error
	for _, name := range deletes {
		err := c.client.CoreV1().Pods(ds.Namespace).Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			c.expect.observeDelete(key, name)
			c.recorder.Eventf(ds, corev1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
			errs = append(errs, fmt.Errorf("delete pod %s of daemonset %s: %w", name, ds.Name, err))
			continue
		}
		if apierrors.IsNotFound(err) {
			c.expect.observeDelete(key, name)
			continue
		}
		c.recorder.Eventf(ds, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %s", name)
	}
	for _, node := range plan.Create {
		pod := newPod(ds, hash, node)
		created, err := c.client.CoreV1().Pods(ds.Namespace).Create(ctx, pod, metav1.CreateOptions{FieldManager: fieldManager})
		if err != nil {
			c.expect.observeAdd(key)
			if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
				continue
			}
			c.recorder.Eventf(ds, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
			errs = append(errs, fmt.Errorf("create pod of daemonset %s on node %s: %w", ds.Name, node, err))
			continue
		}
		c.log.Debug("created daemon pod", "daemonset", key, "pod", created.Name, "node", node)
		c.recorder.Eventf(ds, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %s", created.Name)
	}
	return errors.Join(errs...)
}

// newPod is the daemon pod for node: the template with the revision hash,
// the default tolerations and the node pinned through affinity.
func newPod(ds *appsv1.DaemonSet, hash, node string) *corev1.Pod {
	t := ds.Spec.Template.DeepCopy()
	lbls := make(map[string]string, len(t.Labels)+2)
	for k, v := range t.Labels {
		lbls[k] = v
	}
	lbls[history.HashLabel] = hash
	if gen, ok := ds.Annotations["deprecated.daemonset.template.generation"]; ok {
		lbls[templateGenerationLabel] = gen
	} else {
		lbls[templateGenerationLabel] = strconv.FormatInt(ds.Generation, 10)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    ds.Name + "-",
			Namespace:       ds.Namespace,
			Labels:          lbls,
			Annotations:     t.Annotations,
			Finalizers:      t.Finalizers,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ds, controllerKind)},
		},
		Spec: t.Spec,
	}
	AddDefaultTolerations(&pod.Spec)
	PinToNode(&pod.Spec, node)
	return pod
}

func (c *Controller) updateStatus(ctx context.Context, ds *appsv1.DaemonSet, states []NodeState, hash string) error {
	var existing []NodeState
	for _, s := range states {
		if _, err := c.nodeLister.Get(s.Name); err == nil {
			existing = append(existing, s)
		}
	}
	st := Status(existing, hash)
	st.ObservedGeneration = ds.Generation
	st.CollisionCount = ds.Status.CollisionCount
	st.Conditions = ds.Status.Conditions
	if apiequality.Semantic.DeepEqual(st, ds.Status) {
		return nil
	}
	next := ds.DeepCopy()
	next.Status = st
	_, err := c.client.AppsV1().DaemonSets(ds.Namespace).UpdateStatus(ctx, next, metav1.UpdateOptions{FieldManager: fieldManager})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("update status of daemonset %s: %w", ds.Name, err)
	}
	return nil
}

// truncateHistory keeps revisionHistoryLimit old revisions besides the
// current one and those a live pod still runs.
func (c *Controller) truncateHistory(ctx context.Context, ds *appsv1.DaemonSet, cur *appsv1.ControllerRevision, old []*appsv1.ControllerRevision, pods []*corev1.Pod) error {
	limit := 10
	if ds.Spec.RevisionHistoryLimit != nil {
		limit = int(*ds.Spec.RevisionHistoryLimit)
	}
	if len(old) <= limit {
		return nil
	}
	live := map[string]bool{cur.Name: true}
	hashes := map[string]bool{}
	for _, p := range pods {
		hashes[p.Labels[history.HashLabel]] = true
	}
	for _, r := range old {
		if hashes[r.Labels[history.HashLabel]] {
			live[r.Name] = true
		}
	}
	for _, r := range history.ToTruncate(old, live, limit) {
		if err := c.revisions.Delete(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

// queueConfig makes timed requeues follow clk when it can tick (a fake
// clock in tests), and the real clock otherwise.
func queueConfig(name string, clk clock.Clock) workqueue.TypedRateLimitingQueueConfig[string] {
	cfg := workqueue.TypedRateLimitingQueueConfig[string]{Name: name}
	if t, ok := clk.(clock.WithTicker); ok {
		cfg.Clock = t
	}
	return cfg
}

// expectations remembers pods this controller created or deleted until
// the informer shows them, so that a reconcile running on a stale cache
// does not create a second pod for the same node.
type expectations struct {
	mu sync.Mutex
	m  map[string]*expectation
}

type expectation struct {
	adds    int
	deletes map[string]bool
	at      time.Time
}

func (e *expectations) expect(key string, adds int, deletes []string, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := &expectation{adds: adds, deletes: map[string]bool{}, at: now}
	for _, d := range deletes {
		x.deletes[d] = true
	}
	e.m[key] = x
}

func (e *expectations) observeAdd(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x := e.m[key]; x != nil && x.adds > 0 {
		x.adds--
	}
}

func (e *expectations) observeDelete(key, pod string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x := e.m[key]; x != nil {
		delete(x.deletes, pod)
	}
}

func (e *expectations) satisfied(key string, now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.m[key]
	return x == nil || (x.adds <= 0 && len(x.deletes) == 0) || now.Sub(x.at) > expectationTimeout
}

func (e *expectations) forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}

// backoff spaces out replacing a daemon pod that keeps failing on a node:
// 1s, 2s, 4s... up to 15 minutes.
type backoff struct {
	mu sync.Mutex
	m  map[string]backoffEntry
}

type backoffEntry struct {
	until time.Time
	delay time.Duration
}

func (b *backoff) remaining(key string, now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.m[key]
	if !ok || !now.Before(e.until) {
		return 0
	}
	return e.until.Sub(now)
}

func (b *backoff) next(key string, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.m[key]
	switch {
	case e.delay == 0 || now.Sub(e.until) > 2*maxBackoff:
		e.delay = initialBackoff
	default:
		e.delay = min(2*e.delay, maxBackoff)
	}
	e.until = now.Add(e.delay)
	b.m[key] = e
}
