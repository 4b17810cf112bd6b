// Package nodeipam owns the node IPAM controller: it gives every Node a
// pod CIDR (spec.podCIDR and spec.podCIDRs) carved from the cluster CIDR,
// never the same block twice, as Kubernetes' range allocator does. The
// allocation table lives in memory and is rebuilt from the Nodes at start.
package nodeipam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
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

const (
	// DefaultClusterCIDR is where Gureum's pod addresses come from.
	DefaultClusterCIDR = "10.42.0.0/16"
	// DefaultNodeMaskSize gives each node a /24 (254 pod addresses).
	DefaultNodeMaskSize = 24

	reasonCIDRNotAvailable = "CIDRNotAvailable"
	fieldManager           = "gureum-nodeipam-controller"
)

// Controller assigns pod CIDRs to Nodes, keyed by node name.
type Controller struct {
	client      kubernetes.Interface
	log         *slog.Logger
	queue       workqueue.TypedRateLimitingInterface[string]
	factory     informers.SharedInformerFactory
	nodeLister  corelisters.NodeLister
	synced      []cache.InformerSynced
	broadcaster record.EventBroadcaster
	recorder    record.EventRecorder

	initErr error

	mu       sync.Mutex
	alloc    *Allocator
	rebuilt  bool
	assigned map[string]*net.IPNet // node name -> its block, including ones not yet written
}

// New builds the controller; clusterCIDR is split into /maskSize blocks.
// A bad CIDR or mask makes Run fail with a message saying why.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, clk clock.Clock, log *slog.Logger, clusterCIDR *net.IPNet, maskSize int) *Controller {
	alloc, err := NewAllocator(clusterCIDR, maskSize)
	c := &Controller{
		client: client,
		log:    log,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "nodeipam", Clock: asTicker(clk)}),
		factory:     factory,
		alloc:       alloc,
		initErr:     err,
		assigned:    map[string]*net.IPNet{},
		broadcaster: record.NewBroadcaster(),
	}
	c.recorder = c.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "node-ipam-controller"})
	nodeInf := factory.Core().V1().Nodes()
	c.nodeLister = nodeInf.Lister()
	c.synced = []cache.InformerSynced{nodeInf.Informer().HasSynced}
	_, _ = nodeInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) { c.enqueue(obj) },
		UpdateFunc: func(_, obj interface{}) {
			if n, ok := obj.(*corev1.Node); ok && n.Spec.PodCIDR == "" {
				c.queue.Add(n.Name)
			}
		},
		DeleteFunc: func(obj interface{}) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			c.enqueue(obj)
		},
	})
	return c
}

func asTicker(clk clock.Clock) clock.WithTicker {
	if t, ok := clk.(clock.WithTicker); ok {
		return t
	}
	return clock.RealClock{}
}

func (c *Controller) enqueue(obj interface{}) {
	if n, ok := obj.(*corev1.Node); ok {
		c.queue.Add(n.Name)
	}
}

// Run assigns CIDRs until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	if c.initErr != nil {
		return fmt.Errorf("node IPAM: %w", c.initErr)
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

// rebuild records the blocks existing Nodes hold; it runs once, after the
// informer has synced (reconcile only runs then).
func (c *Controller) rebuild() {
	if c.rebuilt {
		return
	}
	c.rebuilt = true
	nodes, err := c.nodeLister.List(labels.Everything())
	if err != nil {
		c.log.Warn("list nodes to rebuild CIDR table", "err", err)
		return
	}
	for _, n := range nodes {
		c.occupy(n)
	}
}

// occupy records the block n already has (if it is one of ours).
func (c *Controller) occupy(n *corev1.Node) {
	if n.Spec.PodCIDR == "" {
		return
	}
	for _, s := range podCIDRsOf(n) {
		_, cidr, err := net.ParseCIDR(s)
		if err != nil {
			continue
		}
		if isV6 := cidr.IP.To4() == nil; isV6 != (c.alloc.bits == 128) {
			continue // the other family of a dual-stack node
		}
		if prev, ok := c.assigned[n.Name]; ok && prev.String() == cidr.String() {
			return
		}
		fresh, err := c.alloc.Occupy(cidr)
		if err != nil {
			c.log.Debug("node pod CIDR outside the cluster CIDR; leaving it alone", "node", n.Name, "cidr", s)
			return
		}
		if !fresh {
			c.log.Warn("two nodes hold the same pod CIDR", "node", n.Name, "cidr", s)
		}
		if prev, ok := c.assigned[n.Name]; ok {
			_ = c.alloc.Release(prev)
		}
		c.assigned[n.Name] = cidr
		return
	}
}

func podCIDRsOf(n *corev1.Node) []string {
	if len(n.Spec.PodCIDRs) > 0 {
		return n.Spec.PodCIDRs
	}
	return []string{n.Spec.PodCIDR}
}

func (c *Controller) reconcile(ctx context.Context, name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rebuild()
	node, err := c.nodeLister.Get(name)
	if apierrors.IsNotFound(err) {
		if cidr, ok := c.assigned[name]; ok {
			_ = c.alloc.Release(cidr)
			delete(c.assigned, name)
			c.log.Debug("released pod CIDR of deleted node", "node", name, "cidr", cidr.String())
			c.enqueueWaiting()
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("get node %s: %w", name, err)
	}
	if node.Spec.PodCIDR != "" {
		c.occupy(node)
		return nil
	}
	cidr, ok := c.assigned[name]
	if !ok {
		cidr, err = c.alloc.Allocate()
		if errors.Is(err, ErrCIDRRangeFull) {
			c.recorder.Eventf(node, corev1.EventTypeWarning, reasonCIDRNotAvailable,
				"Node %s status is now: %s", name, reasonCIDRNotAvailable)
			c.log.Warn("no pod CIDR left for node", "node", name)
			// A released block re-enqueues waiting nodes; no retry loop needed.
			return nil
		}
		if err != nil {
			return fmt.Errorf("allocate pod CIDR for node %s: %w", name, err)
		}
		c.assigned[name] = cidr
	}
	if err := c.patchCIDR(ctx, node, cidr.String()); err != nil {
		return err
	}
	c.log.Debug("assigned pod CIDR", "node", name, "cidr", cidr.String())
	return nil
}

func (c *Controller) patchCIDR(ctx context.Context, node *corev1.Node, cidr string) error {
	// The UID pins the patch to the node we allocated for, not a
	// same-named successor.
	patch, err := json.Marshal(map[string]interface{}{
		"metadata": map[string]interface{}{"uid": node.UID},
		"spec":     map[string]interface{}{"podCIDR": cidr, "podCIDRs": []string{cidr}},
	})
	if err != nil {
		return fmt.Errorf("encode pod CIDR patch: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = c.client.CoreV1().Nodes().Patch(cctx, node.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: fieldManager})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("set pod CIDR %s on node %s: %w", cidr, node.Name, err)
	}
	return nil
}

// enqueueWaiting requeues nodes still without a CIDR once a block frees.
func (c *Controller) enqueueWaiting() {
	nodes, err := c.nodeLister.List(labels.Everything())
	if err != nil {
		return
	}
	for _, n := range nodes {
		if n.Spec.PodCIDR == "" {
			c.queue.Add(n.Name)
		}
	}
}
