// Package endpointslice owns the EndpointSlice controller
// (discovery.k8s.io/v1): for every Service with a selector it keeps
// IPv4 EndpointSlices labelled kubernetes.io/service-name and managed-by
// endpointslice-controller.k8s.io, owned by the Service, holding one
// endpoint per matching pod that has an address and is not terminal, with
// ready/serving/terminating conditions, node, zone and the Service's ports
// resolved per pod, at most 100 endpoints per slice, as Kubernetes
// documents. Slices of selector-less Services belong to whoever wrote them
// and are left alone.
//
// Only internal/node (wiring) and tests import it; the endpoints
// controller reuses its pure pod helpers.
package endpointslice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	ctrlruntime "github.com/gureum/gureum/internal/controller/runtime"
)

const fieldManager = "gureum-endpointslice-controller"

// errStaleCache means the informer has not yet seen our own last writes;
// acting on it would duplicate or resurrect slices.
var errStaleCache = errors.New("endpointslice cache is behind this controller's writes")

// Controller reconciles the EndpointSlices of Services keyed by
// namespace/name.
type Controller struct {
	client      kubernetes.Interface
	factory     informers.SharedInformerFactory
	log         *slog.Logger
	queue       workqueue.TypedRateLimitingInterface[string]
	services    corelisters.ServiceLister
	pods        corelisters.PodLister
	nodes       corelisters.NodeLister
	slices      discoverylisters.EndpointSliceLister
	synced      []cache.InformerSynced
	maxPerSlice int
	tracker     *tracker
}

// New builds the EndpointSlice controller on factory's informers.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, clk clock.Clock, log *slog.Logger) *Controller {
	qcfg := workqueue.TypedRateLimitingQueueConfig[string]{Name: "endpointslice"}
	if wt, ok := clk.(clock.WithTicker); ok {
		qcfg.Clock = wt
	}
	c := &Controller{
		client:      client,
		factory:     factory,
		log:         log,
		queue:       workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](), qcfg),
		maxPerSlice: MaxEndpointsPerSlice,
		tracker:     newTracker(),
	}
	svcInf := factory.Core().V1().Services()
	podInf := factory.Core().V1().Pods()
	nodeInf := factory.Core().V1().Nodes()
	sliceInf := factory.Discovery().V1().EndpointSlices()
	c.services, c.pods, c.nodes, c.slices = svcInf.Lister(), podInf.Lister(), nodeInf.Lister(), sliceInf.Lister()
	c.synced = []cache.InformerSynced{svcInf.Informer().HasSynced, podInf.Informer().HasSynced,
		nodeInf.Informer().HasSynced, sliceInf.Informer().HasSynced}
	_, _ = svcInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueueService,
		UpdateFunc: func(_, obj interface{}) { c.enqueueService(obj) },
		DeleteFunc: c.enqueueService,
	})
	_, _ = podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) { c.enqueuePodServices(obj) },
		UpdateFunc: func(oldObj, obj interface{}) {
			c.enqueuePodServices(obj)
			old, ok1 := oldObj.(*corev1.Pod)
			cur, ok2 := obj.(*corev1.Pod)
			if ok1 && ok2 && !labels.Equals(old.Labels, cur.Labels) {
				c.enqueuePodServices(old)
			}
		},
		DeleteFunc: c.enqueuePodServices,
	})
	_, _ = nodeInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueueAll,
		UpdateFunc: func(oldObj, obj interface{}) {
			old, ok1 := oldObj.(*corev1.Node)
			cur, ok2 := obj.(*corev1.Node)
			if ok1 && ok2 && old.Labels[corev1.LabelTopologyZone] != cur.Labels[corev1.LabelTopologyZone] {
				c.enqueueAll(obj)
			}
		},
	})
	_, _ = sliceInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueueSliceService,
		UpdateFunc: func(oldObj, obj interface{}) {
			old, ok1 := oldObj.(*discoveryv1.EndpointSlice)
			cur, ok2 := obj.(*discoveryv1.EndpointSlice)
			if ok1 && ok2 && old.Labels[discoveryv1.LabelServiceName] != "" &&
				(old.Labels[discoveryv1.LabelServiceName] != cur.Labels[discoveryv1.LabelServiceName] ||
					cur.Labels[discoveryv1.LabelManagedBy] != ControllerName) {
				// Relabelled away from its Service: it will never show up
				// there again.
				c.tracker.observeDeleted(old.Namespace+"/"+old.Labels[discoveryv1.LabelServiceName], old.UID)
				c.enqueueSliceService(old)
			}
			c.enqueueSliceService(obj)
		},
		DeleteFunc: func(obj interface{}) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if s, ok := obj.(*discoveryv1.EndpointSlice); ok {
				if svc := s.Labels[discoveryv1.LabelServiceName]; svc != "" {
					c.tracker.observeDeleted(s.Namespace+"/"+svc, s.UID)
				}
			}
			c.enqueueSliceService(obj)
		},
	})
	return c
}

// Run reconciles until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	return ctrlruntime.Loop{
		Factory:   c.factory,
		Queue:     c.queue,
		Synced:    c.synced,
		Reconcile: c.reconcile,
		Log:       c.log,
		Workers:   2,
		Pending: func(err error) bool {
			return errors.Is(err, errStaleCache) || apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err)
		},
	}.Run(ctx)
}

func (c *Controller) enqueueService(obj interface{}) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err == nil {
		c.queue.Add(key)
	}
}

// enqueuePodServices wakes every Service in the pod's namespace whose
// selector matches the pod's labels.
func (c *Controller) enqueuePodServices(obj interface{}) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	svcs, err := c.services.Services(pod.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, svc := range svcs {
		if len(svc.Spec.Selector) > 0 && labels.SelectorFromValidatedSet(svc.Spec.Selector).Matches(labels.Set(pod.Labels)) {
			c.queue.Add(svc.Namespace + "/" + svc.Name)
		}
	}
}

func (c *Controller) enqueueAll(interface{}) {
	svcs, err := c.services.List(labels.Everything())
	if err != nil {
		return
	}
	for _, svc := range svcs {
		if SelectsPods(svc) {
			c.queue.Add(svc.Namespace + "/" + svc.Name)
		}
	}
}

// enqueueSliceService wakes the Service of a slice we manage, so a slice
// edited or deleted by someone else is put right.
func (c *Controller) enqueueSliceService(obj interface{}) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok || s.Labels[discoveryv1.LabelManagedBy] != ControllerName {
		return
	}
	if svc := s.Labels[discoveryv1.LabelServiceName]; svc != "" {
		c.queue.Add(s.Namespace + "/" + svc)
	}
}

// managedSlices lists the slices this controller manages for a Service.
func (c *Controller) managedSlices(ns, name string) ([]*discoveryv1.EndpointSlice, error) {
	sel := labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: name, discoveryv1.LabelManagedBy: ControllerName})
	return c.slices.EndpointSlices(ns).List(sel)
}

// reconcile brings one Service's slices in line with its pods.
func (c *Controller) reconcile(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		// The garbage collector removes the slices through their owner
		// references.
		c.tracker.forget(key)
		return nil
	}
	if err != nil {
		return fmt.Errorf("get service %s: %w", key, err)
	}
	existing, err := c.managedSlices(ns, name)
	if err != nil {
		return fmt.Errorf("list endpointslices of %s: %w", key, err)
	}
	if c.tracker.stale(key, existing) {
		return errStaleCache
	}
	if svc.DeletionTimestamp != nil {
		return nil
	}
	var plan Plan
	if !SelectsPods(svc) {
		// No selector: slices are someone else's; only ours (from
		// before the selector was removed, or before the Service became
		// an ExternalName) go away.
		plan.Delete = existing
	} else {
		pods, err := c.pods.Pods(ns).List(labels.SelectorFromValidatedSet(svc.Spec.Selector))
		if err != nil {
			return fmt.Errorf("list pods of %s: %w", key, err)
		}
		plan = PlanSlices(svc, Desired(svc, pods, c.zones()), existing, c.maxPerSlice)
	}
	return c.apply(ctx, key, plan)
}

// zones maps node names to their topology zone.
func (c *Controller) zones() map[string]string {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return nil
	}
	out := make(map[string]string, len(nodes))
	for _, n := range nodes {
		if z := n.Labels[corev1.LabelTopologyZone]; z != "" {
			out[n.Name] = z
		}
	}
	return out
}

func (c *Controller) apply(ctx context.Context, key string, plan Plan) error {
	api := c.client.DiscoveryV1().EndpointSlices
	// Create and update before deleting, so consumers never see a
	// Service lose endpoints that are merely moving.
	for _, s := range plan.Create {
		created, err := api(s.Namespace).Create(ctx, s, metav1.CreateOptions{FieldManager: fieldManager})
		if err != nil {
			return fmt.Errorf("create endpointslice for %s: %w", key, err)
		}
		c.tracker.expect(key, created.UID, created.Generation)
	}
	for _, s := range plan.Update {
		updated, err := api(s.Namespace).Update(ctx, s, metav1.UpdateOptions{FieldManager: fieldManager})
		if err != nil {
			return fmt.Errorf("update endpointslice %s/%s: %w", s.Namespace, s.Name, err)
		}
		c.tracker.expect(key, updated.UID, updated.Generation)
	}
	for _, s := range plan.Delete {
		uid := s.UID
		err := api(s.Namespace).Delete(ctx, s.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete endpointslice %s/%s: %w", s.Namespace, s.Name, err)
		}
		if err == nil {
			c.tracker.expectDeleted(key, uid)
		}
	}
	if !plan.Empty() {
		c.log.Debug("endpointslices written", "service", key,
			"created", len(plan.Create), "updated", len(plan.Update), "deleted", len(plan.Delete))
	}
	return nil
}

// tracker remembers, per Service, the generation of each slice this
// controller last wrote (or that it deleted one), so a reconcile on a
// cache that has not caught up waits instead of acting on old state.
type tracker struct {
	mu sync.Mutex
	m  map[string]map[types.UID]int64
}

const deletedGeneration = -1

func newTracker() *tracker { return &tracker{m: map[string]map[types.UID]int64{}} }

func (t *tracker) expect(svc string, uid types.UID, gen int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m[svc] == nil {
		t.m[svc] = map[types.UID]int64{}
	}
	t.m[svc][uid] = gen
}

func (t *tracker) expectDeleted(svc string, uid types.UID) { t.expect(svc, uid, deletedGeneration) }

func (t *tracker) observeDeleted(svc string, uid types.UID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m[svc], uid)
}

func (t *tracker) forget(svc string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, svc)
}

// stale reports whether cached misses one of our writes; expectations the
// cache has met are dropped.
func (t *tracker) stale(svc string, cached []*discoveryv1.EndpointSlice) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	exp := t.m[svc]
	if len(exp) == 0 {
		return false
	}
	byUID := make(map[types.UID]*discoveryv1.EndpointSlice, len(cached))
	for _, s := range cached {
		byUID[s.UID] = s
	}
	stale := false
	for uid, gen := range exp {
		s, ok := byUID[uid]
		switch {
		case gen == deletedGeneration && ok:
			stale = true
		case gen == deletedGeneration:
			delete(exp, uid)
		case !ok || s.Generation < gen:
			stale = true
		default:
			delete(exp, uid)
		}
	}
	if len(exp) == 0 {
		delete(t.m, svc)
	}
	return stale
}
