// Package nodelifecycle owns the node lifecycle controller: it notices
// nodes whose kubelet (or agent, or simulated node) went silent, marks
// their conditions Unknown, keeps the not-ready/unreachable taints in step
// with each node's Ready condition, marks the pods of unhealthy nodes not
// Ready, and evicts pods from nodes with NoExecute taints they do not
// tolerate (after their tolerationSeconds), as Kubernetes' node lifecycle
// controller and taint manager do.
package nodelifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	coordlisters "k8s.io/client-go/listers/coordination/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	ctrlruntime "github.com/gureum/gureum/internal/controller/runtime"
)

const (
	// DefaultGracePeriod is how long a node may stay silent before it is
	// marked Unknown (Kubernetes' node-monitor-grace-period).
	DefaultGracePeriod = 40 * time.Second

	leaseNamespace      = corev1.NamespaceNodeLease
	podsByNodeIndex     = "gureum.nodelifecycle/nodeName"
	reasonNodeNotReady  = "NodeNotReady"
	reasonTaintEviction = "TaintManagerEviction"
	disruptionReason    = "DeletionByTaintManager"
	disruptionMessage   = "Taint manager: deleting due to NoExecute taint"
	writeTimeout        = 10 * time.Second
	fieldManager        = "gureum-node-lifecycle-controller"
)

// Options tune the controller.
type Options struct {
	// GracePeriod: a node silent this long becomes Unknown (default 40s).
	GracePeriod time.Duration
	// Workers reconcile keys in parallel (default 4).
	Workers int
	// DisableEviction turns taint-based eviction off (conditions and taints
	// are still managed).
	DisableEviction bool
}

// Controller reconciles nodes (keyed by name) and the pods on unhealthy
// or NoExecute-tainted nodes (keyed by namespace/name) from one queue: a
// key with a slash is a pod, since node names cannot contain one.
type Controller struct {
	client      kubernetes.Interface
	clk         clock.Clock
	log         *slog.Logger
	opts        Options
	queue       workqueue.TypedRateLimitingInterface[string]
	factory     informers.SharedInformerFactory
	nodeLister  corelisters.NodeLister
	leaseLister coordlisters.LeaseLister
	podLister   corelisters.PodLister
	podIndexer  cache.Indexer
	synced      []cache.InformerSynced
	broadcaster record.EventBroadcaster
	recorder    record.EventRecorder
	initErr     error

	mu        sync.Mutex
	probes    map[string]probe
	taintSeen map[string]time.Time // node/key/effect -> when a NoExecute taint without TimeAdded was first seen
}

// New builds the controller on the shared factory.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, clk clock.Clock, log *slog.Logger, opts Options) *Controller {
	if opts.GracePeriod <= 0 {
		opts.GracePeriod = DefaultGracePeriod
	}
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	ticker, ok := clk.(clock.WithTicker)
	if !ok {
		ticker = clock.RealClock{}
	}
	c := &Controller{
		client:  client,
		clk:     clk,
		log:     log,
		opts:    opts,
		factory: factory,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "nodelifecycle", Clock: ticker}),
		broadcaster: record.NewBroadcaster(),
		probes:      map[string]probe{},
		taintSeen:   map[string]time.Time{},
	}
	c.recorder = c.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "node-controller"})

	nodeInf := factory.Core().V1().Nodes()
	leaseInf := factory.Coordination().V1().Leases()
	podInf := factory.Core().V1().Pods()
	c.nodeLister, c.leaseLister, c.podLister = nodeInf.Lister(), leaseInf.Lister(), podInf.Lister()
	c.initErr = podInf.Informer().AddIndexers(cache.Indexers{podsByNodeIndex: func(obj interface{}) ([]string, error) {
		if p, ok := obj.(*corev1.Pod); ok && p.Spec.NodeName != "" {
			return []string{p.Spec.NodeName}, nil
		}
		return nil, nil
	}})
	c.podIndexer = podInf.Informer().GetIndexer()
	c.synced = []cache.InformerSynced{nodeInf.Informer().HasSynced, leaseInf.Informer().HasSynced, podInf.Informer().HasSynced}

	_, _ = nodeInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) {
			if n, ok := obj.(*corev1.Node); ok {
				c.queue.Add(n.Name)
				if needsPodPass(n) {
					c.enqueuePodsOf(n.Name)
				}
			}
		},
		UpdateFunc: func(oldObj, obj interface{}) {
			old, ok1 := oldObj.(*corev1.Node)
			n, ok2 := obj.(*corev1.Node)
			if !ok1 || !ok2 {
				return
			}
			c.queue.Add(n.Name)
			if readyStatus(old.Status.Conditions) != readyStatus(n.Status.Conditions) || !sameNoExecute(old.Spec.Taints, n.Spec.Taints) {
				c.enqueuePodsOf(n.Name)
			}
		},
		DeleteFunc: func(obj interface{}) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if n, ok := obj.(*corev1.Node); ok {
				c.queue.Add(n.Name)
			}
		},
	})
	onLease := func(obj interface{}) {
		if m, err := metaOf(obj); err == nil && m.GetNamespace() == leaseNamespace {
			c.queue.Add(m.GetName())
		}
	}
	_, _ = leaseInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    onLease,
		UpdateFunc: func(_, obj interface{}) { onLease(obj) },
	})
	onPod := func(obj interface{}) {
		p, ok := obj.(*corev1.Pod)
		if !ok || p.Spec.NodeName == "" || p.DeletionTimestamp != nil {
			return
		}
		n, err := c.nodeLister.Get(p.Spec.NodeName)
		if err != nil || !needsPodPass(n) {
			return
		}
		if key, err := cache.MetaNamespaceKeyFunc(p); err == nil {
			c.queue.Add(key)
		}
	}
	_, _ = podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    onPod,
		UpdateFunc: func(_, obj interface{}) { onPod(obj) },
	})
	return c
}

func metaOf(obj interface{}) (metav1.Object, error) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, errors.New("not an object")
	}
	return m, nil
}

// needsPodPass: the pods of this node may need marking or evicting.
func needsPodPass(n *corev1.Node) bool {
	if s := readyStatus(n.Status.Conditions); s == corev1.ConditionFalse || s == corev1.ConditionUnknown {
		return true
	}
	for _, t := range n.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoExecute {
			return true
		}
	}
	return false
}

func sameNoExecute(a, b []corev1.Taint) bool {
	pick := func(ts []corev1.Taint) map[string]string {
		m := map[string]string{}
		for _, t := range ts {
			if t.Effect == corev1.TaintEffectNoExecute {
				added := ""
				if t.TimeAdded != nil {
					added = t.TimeAdded.UTC().String()
				}
				m[t.Key+"="+t.Value] = added
			}
		}
		return m
	}
	pa, pb := pick(a), pick(b)
	if len(pa) != len(pb) {
		return false
	}
	for k, v := range pa {
		if pb[k] != v {
			return false
		}
	}
	return true
}

func (c *Controller) enqueuePodsOf(node string) {
	objs, err := c.podIndexer.ByIndex(podsByNodeIndex, node)
	if err != nil {
		return
	}
	for _, o := range objs {
		if key, err := cache.MetaNamespaceKeyFunc(o); err == nil {
			c.queue.Add(key)
		}
	}
}

// Run reconciles until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	if c.initErr != nil {
		return fmt.Errorf("node lifecycle: index pods by node: %w", c.initErr)
	}
	c.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.client.CoreV1().Events("")})
	defer c.broadcaster.Shutdown()
	return ctrlruntime.Loop{
		Factory:   c.factory,
		Queue:     c.queue,
		Synced:    c.synced,
		Reconcile: c.reconcile,
		Log:       c.log,
		// Kubelets and simulated nodes write the same objects; a conflict
		// only means "read again".
		Pending: apierrors.IsConflict,
		Workers: c.opts.Workers,
	}.Run(ctx)
}

func (c *Controller) reconcile(ctx context.Context, key string) error {
	if strings.Contains(key, "/") {
		return c.reconcilePod(ctx, key)
	}
	return c.reconcileNode(ctx, key)
}

// reconcileNode judges the node's liveness and sets its conditions and
// taints to match.
func (c *Controller) reconcileNode(ctx context.Context, name string) error {
	node, err := c.nodeLister.Get(name)
	if apierrors.IsNotFound(err) {
		c.forget(name)
		return nil
	}
	if err != nil {
		return fmt.Errorf("get node %s: %w", name, err)
	}
	var leaseRenew, heartbeat time.Time
	if l, err := c.leaseLister.Leases(leaseNamespace).Get(name); err == nil && l.Spec.RenewTime != nil {
		leaseRenew = l.Spec.RenewTime.Time
	}
	for _, cond := range node.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			heartbeat = cond.LastHeartbeatTime.Time
		}
	}
	now := c.clk.Now()
	c.mu.Lock()
	prev, known := c.probes[name]
	p := observe(prev, known, leaseRenew, heartbeat, now)
	c.probes[name] = p
	c.mu.Unlock()

	left := staleIn(p, now, c.opts.GracePeriod)
	if left > 0 {
		// Look again when the grace period would run out; a heartbeat
		// before then re-enqueues it anyway.
		c.queue.AddAfter(name, left)
	} else if conds, changed := markUnknown(node.Status.Conditions, metav1.NewTime(now)); changed {
		wasReady := readyStatus(node.Status.Conditions) == corev1.ConditionTrue
		upd := node.DeepCopy()
		upd.Status.Conditions = conds
		cctx, cancel := context.WithTimeout(ctx, writeTimeout)
		node, err = c.client.CoreV1().Nodes().UpdateStatus(cctx, upd, metav1.UpdateOptions{FieldManager: fieldManager})
		cancel()
		if err != nil {
			return fmt.Errorf("mark node %s unknown: %w", name, err)
		}
		c.log.Info("node stopped posting status; marked Unknown", "node", name, "silentFor", now.Sub(p.observedAt).Round(time.Second))
		if wasReady {
			c.recorder.Eventf(node, corev1.EventTypeNormal, reasonNodeNotReady, "Node %s status is now: %s", name, reasonNodeNotReady)
		}
	}

	taints, changed := desiredTaints(node.Spec.Taints, readyStatus(node.Status.Conditions), metav1.NewTime(now))
	if !changed {
		return nil
	}
	upd := node.DeepCopy()
	upd.Spec.Taints = taints
	cctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	if _, err := c.client.CoreV1().Nodes().Update(cctx, upd, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
		return fmt.Errorf("update taints of node %s: %w", name, err)
	}
	// A node that reports itself not Ready tells so itself (kubelet's
	// NodeNotReady event); this controller only tells of one it lost.
	c.log.Debug("node taints updated", "node", name, "ready", readyStatus(node.Status.Conditions))
	return nil
}

func hasTaint(ts []corev1.Taint, key string) bool {
	for _, t := range ts {
		if t.Key == key {
			return true
		}
	}
	return false
}

func (c *Controller) forget(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.probes, name)
	for k := range c.taintSeen {
		if strings.HasPrefix(k, name+"/") {
			delete(c.taintSeen, k)
		}
	}
}

// taintAddedAt stands in for TimeAdded on NoExecute taints that lack it:
// when this controller first saw the taint.
func (c *Controller) taintAddedAt(node string) func(corev1.Taint) time.Time {
	return func(t corev1.Taint) time.Time {
		k := node + "/" + t.Key + "/" + string(t.Effect)
		c.mu.Lock()
		defer c.mu.Unlock()
		at, ok := c.taintSeen[k]
		if !ok {
			at = c.clk.Now()
			c.taintSeen[k] = at
		}
		return at
	}
}

// reconcilePod marks a pod of an unhealthy node not Ready and evicts it
// when a NoExecute taint says so.
func (c *Controller) reconcilePod(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pod, err := c.podLister.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get pod %s: %w", key, err)
	}
	if pod.Spec.NodeName == "" || pod.DeletionTimestamp != nil ||
		pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return nil
	}
	node, err := c.nodeLister.Get(pod.Spec.NodeName)
	if apierrors.IsNotFound(err) {
		return nil // orphaned pods are the pod garbage collector's business
	}
	if err != nil {
		return fmt.Errorf("get node %s: %w", pod.Spec.NodeName, err)
	}
	now := c.clk.Now()

	if !c.opts.DisableEviction {
		ev := decideEviction(pod.Spec.Tolerations, node.Spec.Taints, now, c.taintAddedAt(node.Name))
		if ev.now {
			return c.evict(ctx, pod)
		}
		if ev.after > 0 {
			c.queue.AddAfter(key, ev.after)
		}
	}

	if readyStatus(node.Status.Conditions) == corev1.ConditionTrue {
		return nil
	}
	conds, changed := podNotReady(pod.Status.Conditions, metav1.NewTime(now))
	if !changed {
		return nil
	}
	upd := pod.DeepCopy()
	upd.Status.Conditions = conds
	cctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	if _, err := c.client.CoreV1().Pods(ns).UpdateStatus(cctx, upd, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("mark pod %s not ready: %w", key, err)
	}
	return nil
}

// evict deletes the pod, first saying why in a DisruptionTarget condition
// so that controllers and users can tell an eviction from a crash.
func (c *Controller) evict(ctx context.Context, pod *corev1.Pod) error {
	key := pod.Namespace + "/" + pod.Name
	cctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	if !hasPodCondition(pod, corev1.DisruptionTarget) {
		upd := pod.DeepCopy()
		upd.Status.Conditions = append(upd.Status.Conditions, corev1.PodCondition{
			Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue,
			Reason: disruptionReason, Message: disruptionMessage,
			LastTransitionTime: metav1.NewTime(c.clk.Now()),
		})
		_, err := c.client.CoreV1().Pods(pod.Namespace).UpdateStatus(cctx, upd, metav1.UpdateOptions{FieldManager: fieldManager})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("mark pod %s for eviction: %w", key, err)
		}
	}
	uid := pod.UID
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(cctx, pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("evict pod %s: %w", key, err)
	}
	c.recorder.Eventf(pod, corev1.EventTypeNormal, reasonTaintEviction, "Marking for deletion Pod %s", key)
	c.log.Info("evicted pod from tainted node", "pod", key, "node", pod.Spec.NodeName)
	return nil
}

func hasPodCondition(pod *corev1.Pod, t corev1.PodConditionType) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}
