// Package resourcequota owns the ResourceQuota controller: it keeps each
// quota's status.hard equal to spec.hard and its status.used equal to
// what the objects of its namespace use (pods, services, configmaps,
// secrets, replicationcontrollers, resourcequotas, persistentvolumeclaims,
// and the object counts of replicasets, deployments, statefulsets,
// daemonsets, jobs and cronjobs), recounting a namespace's quotas when any
// of those objects changes and every quota every five minutes, as
// kube-controller-manager does. The arithmetic lives in internal/quota;
// admission, which charges requests between recounts, is not here.
//
// Only internal/node (wiring) and tests import it.
package resourcequota

import (
	"context"
	"fmt"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	ctrlruntime "github.com/gureum/gureum/internal/controller/runtime"
	"github.com/gureum/gureum/internal/quota"
)

const fieldManager = "gureum-resourcequota-controller"

// ResyncPeriod is how often every quota is recounted even without events
// (kube-controller-manager's default): it catches what events cannot,
// such as a pod outliving its deletion grace period.
const ResyncPeriod = 5 * time.Minute

// kind is one resource the controller counts, read from its informer.
type kind struct {
	gr   schema.GroupResource
	list func(namespace string) ([]runtime.Object, error)
}

// Controller reconciles ResourceQuota status keyed by namespace/name.
type Controller struct {
	client  kubernetes.Interface
	factory informers.SharedInformerFactory
	clock   clock.Clock
	log     *slog.Logger
	queue   workqueue.TypedRateLimitingInterface[string]
	quotas  corelisters.ResourceQuotaLister
	kinds   []kind
	synced  []cache.InformerSynced
}

// New builds the ResourceQuota controller on factory's informers.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, clk clock.Clock, log *slog.Logger) *Controller {
	qcfg := workqueue.TypedRateLimitingQueueConfig[string]{Name: "resourcequota"}
	if wt, ok := clk.(clock.WithTicker); ok {
		qcfg.Clock = wt
	}
	c := &Controller{
		client:  client,
		factory: factory,
		clock:   clk,
		log:     log,
		queue:   workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](), qcfg),
	}
	core, apps, batch := factory.Core().V1(), factory.Apps().V1(), factory.Batch().V1()
	rqInf := core.ResourceQuotas()
	c.quotas = rqInf.Lister()

	pods, svcs, cms, secrets := core.Pods().Lister(), core.Services().Lister(), core.ConfigMaps().Lister(), core.Secrets().Lister()
	rcs, pvcs := core.ReplicationControllers().Lister(), core.PersistentVolumeClaims().Lister()
	rss, deps, sts, dss := apps.ReplicaSets().Lister(), apps.Deployments().Lister(), apps.StatefulSets().Lister(), apps.DaemonSets().Lister()
	jobs, cjs := batch.Jobs().Lister(), batch.CronJobs().Lister()
	all := labels.Everything()
	c.kinds = []kind{
		{quota.Pods, func(ns string) ([]runtime.Object, error) { return objects(pods.Pods(ns).List(all)) }},
		{quota.Services, func(ns string) ([]runtime.Object, error) { return objects(svcs.Services(ns).List(all)) }},
		{quota.ConfigMaps, func(ns string) ([]runtime.Object, error) { return objects(cms.ConfigMaps(ns).List(all)) }},
		{quota.Secrets, func(ns string) ([]runtime.Object, error) { return objects(secrets.Secrets(ns).List(all)) }},
		{quota.ReplicationControllers, func(ns string) ([]runtime.Object, error) { return objects(rcs.ReplicationControllers(ns).List(all)) }},
		{quota.ResourceQuotas, func(ns string) ([]runtime.Object, error) { return objects(c.quotas.ResourceQuotas(ns).List(all)) }},
		{quota.PersistentVolumeClaims, func(ns string) ([]runtime.Object, error) {
			return objects(pvcs.PersistentVolumeClaims(ns).List(all))
		}},
		{gr("apps", "replicasets"), func(ns string) ([]runtime.Object, error) { return objects(rss.ReplicaSets(ns).List(all)) }},
		{gr("apps", "deployments"), func(ns string) ([]runtime.Object, error) { return objects(deps.Deployments(ns).List(all)) }},
		{gr("apps", "statefulsets"), func(ns string) ([]runtime.Object, error) { return objects(sts.StatefulSets(ns).List(all)) }},
		{gr("apps", "daemonsets"), func(ns string) ([]runtime.Object, error) { return objects(dss.DaemonSets(ns).List(all)) }},
		{gr("batch", "jobs"), func(ns string) ([]runtime.Object, error) { return objects(jobs.Jobs(ns).List(all)) }},
		{gr("batch", "cronjobs"), func(ns string) ([]runtime.Object, error) { return objects(cjs.CronJobs(ns).List(all)) }},
	}
	informersByKind := map[schema.GroupResource]cache.SharedIndexInformer{
		quota.Pods:                   core.Pods().Informer(),
		quota.Services:               core.Services().Informer(),
		quota.ConfigMaps:             core.ConfigMaps().Informer(),
		quota.Secrets:                core.Secrets().Informer(),
		quota.ReplicationControllers: core.ReplicationControllers().Informer(),
		quota.PersistentVolumeClaims: core.PersistentVolumeClaims().Informer(),
		gr("apps", "replicasets"):    apps.ReplicaSets().Informer(),
		gr("apps", "deployments"):    apps.Deployments().Informer(),
		gr("apps", "statefulsets"):   apps.StatefulSets().Informer(),
		gr("apps", "daemonsets"):     apps.DaemonSets().Informer(),
		gr("batch", "jobs"):          batch.Jobs().Informer(),
		gr("batch", "cronjobs"):      batch.CronJobs().Informer(),
	}
	c.synced = []cache.InformerSynced{rqInf.Informer().HasSynced}
	for kgr, inf := range informersByKind {
		c.synced = append(c.synced, inf.HasSynced)
		// Creations are charged by the API server's quota admission in the
		// same transaction as the object; recounting on them, from
		// informers that may not have seen a concurrent creation yet,
		// would undo a charge and let the next create overshoot. Changes
		// and deletions release usage, which only a recount can see.
		_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			UpdateFunc: func(oldObj, obj interface{}) { c.onUpdate(kgr, oldObj, obj) },
			DeleteFunc: func(obj interface{}) { c.enqueueNamespace(kgr, obj) },
		})
	}
	// A quota counts itself and its siblings (resourcequotas), so adding
	// or removing one recounts the namespace's others too.
	_, _ = rqInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) {
			c.enqueue(obj)
			c.enqueueNamespace(quota.ResourceQuotas, obj)
		},
		UpdateFunc: func(oldObj, obj interface{}) {
			// Status changes are admission's charges (or this
			// controller's own writes): only a new spec needs a recount.
			old, ok1 := oldObj.(*corev1.ResourceQuota)
			cur, ok2 := obj.(*corev1.ResourceQuota)
			if !ok1 || !ok2 || !apiequality.Semantic.DeepEqual(old.Spec, cur.Spec) {
				c.enqueue(obj)
			}
		},
		DeleteFunc: func(obj interface{}) { c.enqueueNamespace(quota.ResourceQuotas, obj) },
	})
	return c
}

func gr(group, resource string) schema.GroupResource {
	return schema.GroupResource{Group: group, Resource: resource}
}

func objects[T runtime.Object](items []T, err error) ([]runtime.Object, error) {
	if err != nil {
		return nil, err
	}
	out := make([]runtime.Object, len(items))
	for i, o := range items {
		out[i] = o
	}
	return out, nil
}

// Run reconciles until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.resyncEvery(ctx, ResyncPeriod)
	}()
	defer wg.Wait()
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

func (c *Controller) resyncEvery(ctx context.Context, period time.Duration) {
	for {
		t := c.clock.NewTimer(period)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
		qs, err := c.quotas.List(labels.Everything())
		if err != nil {
			continue
		}
		for _, q := range qs {
			c.queue.Add(q.Namespace + "/" + q.Name)
		}
	}
}

func (c *Controller) enqueue(obj interface{}) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err == nil {
		c.queue.Add(key)
	}
}

// onUpdate queues a recount of the quotas in the object's namespace that
// count kgr, when the change moved its usage. Most namespaces have no
// quota: their objects change (every pod's status, in a burst) without
// costing a usage computation.
func (c *Controller) onUpdate(kgr schema.GroupResource, oldObj, obj interface{}) {
	old, ok1 := oldObj.(runtime.Object)
	cur, ok2 := obj.(runtime.Object)
	if !ok1 || !ok2 {
		return
	}
	if keys := c.quotasCounting(kgr, obj); len(keys) > 0 && quota.UsageChanged(kgr, old, cur, c.clock.Now()) {
		c.add(keys)
	}
}

// enqueueNamespace queues the quotas of obj's namespace that track
// anything of kind gr, by spec (what they will count) or status (what
// they count now).
func (c *Controller) enqueueNamespace(kgr schema.GroupResource, obj interface{}) {
	c.add(c.quotasCounting(kgr, obj))
}

func (c *Controller) add(keys []string) {
	for _, k := range keys {
		c.queue.Add(k)
	}
}

// quotasCounting returns the keys of the quotas in obj's namespace that
// count kgr.
func (c *Controller) quotasCounting(kgr schema.GroupResource, obj interface{}) []string {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	m, ok := obj.(metav1.Object)
	if !ok || m.GetNamespace() == "" {
		return nil
	}
	qs, err := c.quotas.ResourceQuotas(m.GetNamespace()).List(labels.Everything())
	if err != nil {
		return nil
	}
	var keys []string
	for _, q := range qs {
		if len(quota.MatchingResources(kgr, resourceNames(q.Spec.Hard, q.Status.Hard))) > 0 {
			keys = append(keys, q.Namespace+"/"+q.Name)
		}
	}
	return keys
}

func resourceNames(lists ...corev1.ResourceList) []corev1.ResourceName {
	var out []corev1.ResourceName
	for _, l := range lists {
		for name := range l {
			out = append(out, name)
		}
	}
	return out
}

// reconcile recounts one quota and writes its status if it changed.
func (c *Controller) reconcile(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	q, err := c.quotas.ResourceQuotas(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get resourcequota %s: %w", key, err)
	}
	hard := resourceNames(q.Spec.Hard)
	objs := map[schema.GroupResource][]runtime.Object{}
	for _, k := range c.kinds {
		if len(quota.MatchingResources(k.gr, hard)) == 0 {
			continue
		}
		list, err := k.list(ns)
		if err != nil {
			return fmt.Errorf("list %s in %s: %w", k.gr, ns, err)
		}
		objs[k.gr] = list
	}
	used := quota.Used(q, objs, c.clock.Now())
	if quota.Equal(q.Status.Hard, q.Spec.Hard) && quota.Equal(q.Status.Used, used) {
		return nil
	}
	// Admission charges only what status.hard already tracks: objects
	// created while this write is on its way are charged to nobody, and
	// this count may have been made from caches that had not seen them.
	newlyTracked := false
	for name := range q.Spec.Hard {
		if _, ok := q.Status.Hard[name]; !ok {
			newlyTracked = true
		}
	}
	nq := q.DeepCopy()
	nq.Status.Hard = q.Spec.Hard.DeepCopy()
	nq.Status.Used = used
	if _, err := c.client.CoreV1().ResourceQuotas(ns).UpdateStatus(ctx, nq, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("update status of resourcequota %s: %w", key, err)
	}
	c.log.Debug("resourcequota status written", "quota", key, "used", len(used))
	if newlyTracked {
		// So count once more when they have surely reached the caches.
		c.queue.AddAfter(key, newlyTrackedRecount)
	}
	return nil
}

// newlyTrackedRecount is when a quota is counted again after it starts
// tracking a resource.
const newlyTrackedRecount = 2 * time.Second
