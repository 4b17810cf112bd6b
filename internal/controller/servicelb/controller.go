// Package servicelb owns the built-in load balancer controller: every
// Service of type LoadBalancer (without a spec.loadBalancerClass naming
// another implementation) gets status.loadBalancer.ingress, either one
// address of a configured pool (distinct per Service, spec.loadBalancerIP
// honoured when it lies in the pool, stable across restarts because the
// table is rebuilt from Service statuses) or, without a usable pool
// address, the InternalIPs of the Ready nodes. Addresses are released when
// a Service is deleted or stops being a LoadBalancer, whose status is then
// cleared.
//
// Only internal/node (wiring) and tests import it.
package servicelb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sort"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
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

// Event reasons.
const (
	ReasonAllocationFailed = "AllocationFailed"
	ReasonIPAllocated      = "IPAllocated"
	fieldManager           = "gureum-servicelb-controller"
)

// Controller gives LoadBalancer Services their addresses, keyed by
// namespace/name.
type Controller struct {
	client      kubernetes.Interface
	factory     informers.SharedInformerFactory
	log         *slog.Logger
	queue       workqueue.TypedRateLimitingInterface[string]
	services    corelisters.ServiceLister
	nodes       corelisters.NodeLister
	synced      []cache.InformerSynced
	broadcaster record.EventBroadcaster
	recorder    record.EventRecorder
	poolErr     error

	mu      sync.Mutex
	alloc   *Allocator
	rebuilt bool
}

// New builds the controller. pool lists CIDRs ("192.168.50.0/28"), ranges
// ("192.168.50.10-192.168.50.20") or single addresses; empty means every
// LoadBalancer gets the Ready nodes' addresses. A malformed pool makes Run
// fail with a message saying which entry.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, clk clock.Clock, log *slog.Logger, pool []string) *Controller {
	p, err := ParsePool(pool)
	qcfg := workqueue.TypedRateLimitingQueueConfig[string]{Name: "servicelb"}
	if wt, ok := clk.(clock.WithTicker); ok {
		qcfg.Clock = wt
	}
	c := &Controller{
		client:      client,
		factory:     factory,
		log:         log,
		queue:       workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](), qcfg),
		broadcaster: record.NewBroadcaster(),
		poolErr:     err,
		alloc:       NewAllocator(p),
	}
	c.recorder = c.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "service-lb-controller"})
	svcInf := factory.Core().V1().Services()
	nodeInf := factory.Core().V1().Nodes()
	c.services, c.nodes = svcInf.Lister(), nodeInf.Lister()
	c.synced = []cache.InformerSynced{svcInf.Informer().HasSynced, nodeInf.Informer().HasSynced}
	_, _ = svcInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, obj interface{}) { c.enqueue(obj) },
		DeleteFunc: c.enqueue,
	})
	_, _ = nodeInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(interface{}) { c.enqueueNodeBacked() },
		UpdateFunc: func(oldObj, obj interface{}) {
			old, ok1 := oldObj.(*corev1.Node)
			cur, ok2 := obj.(*corev1.Node)
			if ok1 && ok2 && slices.Equal(NodeAddresses([]*corev1.Node{old}), NodeAddresses([]*corev1.Node{cur})) {
				return
			}
			c.enqueueNodeBacked()
		},
		DeleteFunc: func(interface{}) { c.enqueueNodeBacked() },
	})
	return c
}

// Run reconciles until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	if c.poolErr != nil {
		return fmt.Errorf("service load balancer: %w", c.poolErr)
	}
	c.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.client.CoreV1().Events("")})
	defer c.broadcaster.Shutdown()
	return ctrlruntime.Loop{
		Factory:   c.factory,
		Queue:     c.queue,
		Synced:    c.synced,
		Reconcile: c.reconcile,
		Log:       c.log,
		Pending:   apierrors.IsConflict,
		// One worker: allocation is a critical section anyway.
		Workers: 1,
	}.Run(ctx)
}

func (c *Controller) enqueue(obj interface{}) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err == nil {
		c.queue.Add(key)
	}
}

// enqueueNodeBacked wakes the LoadBalancer Services without a pool
// address: their ingress follows the nodes, and a pool address freed
// elsewhere may now be theirs.
func (c *Controller) enqueueNodeBacked() {
	svcs, err := c.services.List(labels.Everything())
	if err != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, svc := range svcs {
		key := svc.Namespace + "/" + svc.Name
		if _, held := c.alloc.Held(key); ours(svc) && !held {
			c.queue.Add(key)
		}
	}
}

// ours reports a Service this controller serves.
func ours(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.LoadBalancerClass == nil
}

func statusIPs(svc *corev1.Service) []string {
	var out []string
	for _, in := range svc.Status.LoadBalancer.Ingress {
		if in.IP != "" {
			out = append(out, in.IP)
		}
	}
	return out
}

// rebuild records the pool addresses existing Services already show, the
// oldest Service winning a conflict; it runs once, after the informers
// have synced (reconcile only runs then). Callers hold c.mu.
func (c *Controller) rebuild() {
	if c.rebuilt {
		return
	}
	c.rebuilt = true
	svcs, err := c.services.List(labels.Everything())
	if err != nil {
		c.log.Warn("list services to rebuild the address table", "err", err)
		return
	}
	sort.Slice(svcs, func(i, j int) bool {
		ti, tj := svcs[i].CreationTimestamp, svcs[j].CreationTimestamp
		if !ti.Equal(&tj) {
			return ti.Before(&tj)
		}
		return svcs[i].Namespace+"/"+svcs[i].Name < svcs[j].Namespace+"/"+svcs[j].Name
	})
	for _, svc := range svcs {
		if !ours(svc) {
			continue
		}
		for _, s := range statusIPs(svc) {
			if ip, err := netip.ParseAddr(s); err == nil && c.alloc.Occupy(svc.Namespace+"/"+svc.Name, ip) == nil {
				break
			}
		}
	}
}

// reconcile gives one Service the ingress it should have.
func (c *Controller) reconcile(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	c.rebuild()
	c.mu.Unlock()
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.release(key)
		return nil
	}
	if err != nil {
		return fmt.Errorf("get service %s: %w", key, err)
	}
	if !ours(svc) {
		c.release(key)
		if svc.Spec.Type != corev1.ServiceTypeLoadBalancer && len(svc.Status.LoadBalancer.Ingress) > 0 {
			return c.writeIngress(ctx, svc, nil)
		}
		return nil
	}
	ips, allocErr := c.addressesFor(key, svc)
	if allocErr != nil && !c.alloc.pool.Empty() {
		c.recorder.Eventf(svc, corev1.EventTypeWarning, ReasonAllocationFailed,
			"Cannot give this Service a load balancer pool address (%v); using node addresses instead", allocErr)
	}
	want := Ingress(ips)
	if apiequality.Semantic.DeepEqual(want, normalizeIngress(svc.Status.LoadBalancer.Ingress)) {
		return nil
	}
	if err := c.writeIngress(ctx, svc, want); err != nil {
		return err
	}
	if allocErr == nil {
		c.recorder.Eventf(svc, corev1.EventTypeNormal, ReasonIPAllocated, "Assigned load balancer address %v", ips)
	}
	return nil
}

// addressesFor is the pool address of svc or, failing that, the node
// addresses together with why the pool did not serve.
func (c *Controller) addressesFor(key string, svc *corev1.Service) ([]string, error) {
	c.mu.Lock()
	var (
		ip  netip.Addr
		err error
	)
	if c.alloc.pool.Empty() {
		err = errors.New("no load balancer pool is configured")
	} else {
		ip, err = c.alloc.Allocate(key, svc.Spec.LoadBalancerIP, statusIPs(svc))
	}
	c.mu.Unlock()
	if err == nil {
		return []string{ip.String()}, nil
	}
	nodes, lerr := c.nodes.List(labels.Everything())
	if lerr != nil {
		return nil, fmt.Errorf("list nodes: %w", lerr)
	}
	return NodeAddresses(nodes), err
}

func normalizeIngress(in []corev1.LoadBalancerIngress) []corev1.LoadBalancerIngress {
	if len(in) == 0 {
		return nil
	}
	return in
}

// release frees the pool address key held, and wakes the Services that
// could use it.
func (c *Controller) release(key string) {
	c.mu.Lock()
	freed := c.alloc.Release(key)
	c.mu.Unlock()
	if freed {
		c.enqueueNodeBacked()
	}
}

func (c *Controller) writeIngress(ctx context.Context, svc *corev1.Service, ingress []corev1.LoadBalancerIngress) error {
	next := svc.DeepCopy()
	next.Status.LoadBalancer.Ingress = ingress
	if _, err := c.client.CoreV1().Services(svc.Namespace).UpdateStatus(ctx, next, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("update load balancer status of %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	c.log.Info("load balancer status written", "service", svc.Namespace+"/"+svc.Name, "ingress", len(ingress))
	return nil
}
