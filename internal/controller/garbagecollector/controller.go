// Package garbagecollector owns deletion by ownerReferences, as Kubernetes
// documents it. It watches the metadata of every listable, watchable and
// deletable resource, keeps an owner→dependents graph keyed by UID, and
//   - deletes objects whose owners are all gone (background cascading
//     deletion), or drops only the dangling references when some owner
//     remains;
//   - for an owner deleted in the foreground (deletionTimestamp and the
//     foregroundDeletion finalizer, which the API server sets), deletes its
//     dependents and removes the finalizer once no dependent with
//     blockOwnerDeletion remains;
//   - for an owner deleted with orphan propagation (the orphan finalizer),
//     removes the references to it from its dependents and then the
//     finalizer.
//
// Only internal/node (and tests) import it.
package garbagecollector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	"k8s.io/utils/lru"

	ctrlruntime "github.com/gureum/gureum/internal/controller/runtime"
)

const fieldManager = "gureum-garbage-collector"

// errNotSynced requeues owner work (orphaning, foreground) until every
// watched resource has been listed: acting on a partial graph could miss
// dependents and release an owner too early.
var errNotSynced = errors.New("resource informers not synced yet")

// absentOwnersRemembered bounds the cache of owners verified absent: a
// cascade touches a few owners with many dependents each.
const absentOwnersRemembered = 4096

// Option tunes a Controller.
type Option func(*Controller)

// WithEvents records Events (OwnerRefInvalidNamespace) through client.
func WithEvents(client kubernetes.Interface) Option {
	return func(c *Controller) { c.eventClient = client }
}

// WithDiscoveryInterval sets how often served resources are rediscovered
// (default 30s) so that new resources, such as custom ones, get watched.
func WithDiscoveryInterval(d time.Duration) Option {
	return func(c *Controller) { c.discoveryInterval = d }
}

// WithWorkers sets how many objects are processed at once (default 8).
func WithWorkers(n int) Option {
	return func(c *Controller) { c.workers = n }
}

// Controller is the garbage collector.
type Controller struct {
	meta  metadata.Interface
	disc  discovery.DiscoveryInterface
	clock clock.Clock
	log   *slog.Logger
	graph *graph
	queue workqueue.TypedRateLimitingInterface[string]

	eventClient       kubernetes.Interface
	recorder          record.EventRecorder
	discoveryInterval time.Duration
	workers           int
	refresh           chan struct{}
	absent            *lru.Cache // absentKey → struct{}

	mu         sync.Mutex
	resources  *resourceMap
	monitors   map[schema.GroupVersionResource]*monitor
	discovered bool
	wg         sync.WaitGroup
}

// monitor is one resource's metadata informer.
type monitor struct {
	informer cache.SharedIndexInformer
	stop     context.CancelFunc
}

// New builds the collector. meta watches, reads, patches and deletes
// objects (metadata only); disc finds the resources to watch.
func New(meta metadata.Interface, disc discovery.DiscoveryInterface, clk clock.Clock, log *slog.Logger, opts ...Option) *Controller {
	// Conflicts and lagging informers resolve within milliseconds; a
	// reference to a kind nobody serves may take until the next
	// discovery, so the backoff grows to a minute.
	limiter := workqueue.NewTypedItemExponentialFailureRateLimiter[string](10*time.Millisecond, time.Minute)
	c := &Controller{
		meta:              meta,
		disc:              disc,
		clock:             clk,
		log:               log,
		graph:             newGraph(),
		queue:             workqueue.NewTypedRateLimitingQueueWithConfig(limiter, workqueue.TypedRateLimitingQueueConfig[string]{Name: "garbage-collector"}),
		discoveryInterval: 30 * time.Second,
		workers:           8,
		refresh:           make(chan struct{}, 1),
		absent:            lru.New(absentOwnersRemembered),
		resources:         buildResourceMap(nil, nil),
		monitors:          map[schema.GroupVersionResource]*monitor{},
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Run collects garbage until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	defer c.wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if c.eventClient != nil {
		b := record.NewBroadcaster(record.WithContext(ctx))
		b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.eventClient.CoreV1().Events("")})
		defer b.Shutdown()
		c.recorder = b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "garbage-collector-controller"})
	}
	if err := c.syncResources(ctx); err != nil {
		c.log.Warn("resource discovery failed; retrying", "err", err)
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.discoveryLoop(ctx)
	}()
	return ctrlruntime.Loop{
		// The informers are metadata informers, started per discovered
		// resource by syncResources; the typed factory stays empty.
		Factory:   informers.NewSharedInformerFactory(nil, 0),
		Queue:     c.queue,
		Synced:    []cache.InformerSynced{c.synced},
		Reconcile: c.reconcile,
		Log:       c.log,
		Pending: func(err error) bool {
			return errors.Is(err, errNotSynced) || apierrors.IsConflict(err)
		},
		Workers: c.workers,
	}.Run(ctx)
}

// discoveryLoop rediscovers resources periodically, and sooner when a
// reference names a kind the collector does not know yet.
func (c *Controller) discoveryLoop(ctx context.Context) {
	for {
		wait := c.discoveryInterval
		c.mu.Lock()
		if !c.discovered {
			wait = time.Second
		}
		c.mu.Unlock()
		requested := false
		select {
		case <-ctx.Done():
			return
		case <-c.clock.After(wait):
		case <-c.refresh:
			requested = true
		}
		if err := c.syncResources(ctx); err != nil {
			c.log.Warn("resource discovery failed; retrying", "err", err)
		}
		if requested {
			// Many references to one unknown kind ask at once; one
			// discovery a few seconds answers them all.
			select {
			case <-ctx.Done():
				return
			case <-c.clock.After(5 * time.Second):
			}
		}
	}
}

func (c *Controller) requestDiscovery() {
	select {
	case c.refresh <- struct{}{}:
	default:
	}
}

// syncResources rediscovers the served resources and starts (or stops)
// one metadata informer per collectable resource.
func (c *Controller) syncResources(ctx context.Context) error {
	if cd, ok := c.disc.(discovery.CachedDiscoveryInterface); ok {
		cd.Invalidate()
	}
	groups, lists, err := c.disc.ServerGroupsAndResources()
	partial := err != nil
	if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
		return fmt.Errorf("discover resources: %w", err)
	}
	m := buildResourceMap(groups, lists)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.resources = m
	for gvr, info := range m.collectable {
		if _, ok := c.monitors[gvr]; !ok {
			c.startMonitorLocked(ctx, info)
		}
	}
	// A group that failed discovery keeps its informers: its resources
	// may well still exist.
	if !partial {
		for gvr, mon := range c.monitors {
			if _, ok := m.collectable[gvr]; !ok {
				mon.stop()
				delete(c.monitors, gvr)
				c.log.Info("resource no longer served; stopped watching it", "resource", gvr.String())
			}
		}
	}
	c.discovered = true
	if partial {
		return fmt.Errorf("discover resources (using the groups that answered): %w", err)
	}
	return nil
}

func (c *Controller) startMonitorLocked(ctx context.Context, info resourceInfo) {
	inf := metadatainformer.NewFilteredMetadataInformer(c.meta, info.Resource, metav1.NamespaceAll, 0, cache.Indexers{}, nil).Informer()
	_ = inf.SetTransform(stripForGC)
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) { c.observe(info, obj) },
		UpdateFunc: func(old, obj interface{}) {
			if gcRelevantChange(old, obj) {
				c.observe(info, obj)
			} else if p, ok := obj.(*metav1.PartialObjectMetadata); ok {
				c.graph.touch(p.UID, p.ResourceVersion)
			}
		},
		DeleteFunc: func(obj interface{}) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if p, ok := obj.(*metav1.PartialObjectMetadata); ok {
				c.enqueue(c.graph.forget(p.UID))
			}
		},
	})
	mctx, stop := context.WithCancel(ctx)
	c.monitors[info.Resource] = &monitor{informer: inf, stop: stop}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		inf.Run(mctx.Done())
	}()
}

// synced reports whether resources were discovered and every informer
// has listed its resource.
func (c *Controller) synced() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.discovered {
		return false
	}
	for _, m := range c.monitors {
		if !m.informer.HasSynced() {
			return false
		}
	}
	return true
}

func (c *Controller) lookup(apiVersion, kind string) (resourceInfo, error) {
	c.mu.Lock()
	m := c.resources
	c.mu.Unlock()
	info, err := m.lookup(apiVersion, kind)
	var unknown *unknownKindError
	if errors.As(err, &unknown) {
		c.requestDiscovery()
	}
	return info, err
}

func (c *Controller) observe(info resourceInfo, obj interface{}) {
	p, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return
	}
	c.enqueue(c.graph.observe(objectFromMeta(info, p)))
}

func (c *Controller) enqueue(uids []types.UID) {
	for _, u := range uids {
		c.queue.Add(string(u))
	}
}

func objectFromMeta(info resourceInfo, p *metav1.PartialObjectMetadata) object {
	return object{
		ID: identity{
			APIVersion: info.Resource.GroupVersion().String(),
			Kind:       info.Kind,
			Namespace:  p.Namespace,
			Name:       p.Name,
			UID:        p.UID,
		},
		Resource:        info.Resource,
		ResourceVersion: p.ResourceVersion,
		Deleting:        p.DeletionTimestamp != nil,
		Finalizers:      p.Finalizers,
		Owners:          p.OwnerReferences,
	}
}

// stripForGC keeps in the informers' caches only what collection needs:
// at tens of thousands of objects, labels, annotations (last-applied
// configurations) and managedFields would dominate memory.
func stripForGC(obj interface{}) (interface{}, error) {
	if p, ok := obj.(*metav1.PartialObjectMetadata); ok {
		p.ManagedFields = nil
		p.Annotations = nil
		p.Labels = nil
	}
	return obj, nil
}

// gcRelevantChange skips updates that change nothing the graph holds
// (status updates, label changes, ...).
func gcRelevantChange(old, cur interface{}) bool {
	o, ok1 := old.(*metav1.PartialObjectMetadata)
	n, ok2 := cur.(*metav1.PartialObjectMetadata)
	if !ok1 || !ok2 {
		return true
	}
	if o.UID != n.UID || (o.DeletionTimestamp == nil) != (n.DeletionTimestamp == nil) {
		return true
	}
	if len(o.Finalizers) != len(n.Finalizers) || len(o.OwnerReferences) != len(n.OwnerReferences) {
		return true
	}
	for i := range o.Finalizers {
		if o.Finalizers[i] != n.Finalizers[i] {
			return true
		}
	}
	for i := range o.OwnerReferences {
		a, b := o.OwnerReferences[i], n.OwnerReferences[i]
		if a.UID != b.UID || a.Name != b.Name || a.Kind != b.Kind || a.APIVersion != b.APIVersion || blocks(a) != blocks(b) {
			return true
		}
	}
	return false
}
