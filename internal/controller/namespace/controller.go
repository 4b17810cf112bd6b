// Package namespace owns the namespace lifecycle controller, as in
// Kubernetes: when a Namespace is deleted (the API server sets its
// deletionTimestamp and phase Terminating, and spec.finalizers still holds
// "kubernetes"), it deletes every namespaced object in it, waits until none
// remain, reports progress in the namespace's status conditions, and then
// removes "kubernetes" through the /finalize subresource so that the API
// server can delete the namespace. Only internal/node imports it.
package namespace

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	ctrlruntime "github.com/gureum/gureum/internal/controller/runtime"
	"k8s.io/utils/clock"
)

const fieldManager = "gureum-namespace-controller"

// errContentRemaining requeues a namespace whose objects are still going
// away (finalizers, graceful deletion): a wait, not a failure.
var errContentRemaining = errors.New("content remaining")

// Controller reconciles namespaces by name.
type Controller struct {
	client   kubernetes.Interface
	meta     metadata.Interface
	clock    clock.PassiveClock
	log      *slog.Logger
	queue    workqueue.TypedRateLimitingInterface[string]
	factory  informers.SharedInformerFactory
	nsLister corelisters.NamespaceLister
	synced   cache.InformerSynced
}

// New builds the controller. client reads and finalizes namespaces and
// discovers resources; meta lists and deletes their content.
func New(client kubernetes.Interface, meta metadata.Interface, clk clock.PassiveClock, log *slog.Logger) *Controller {
	f := informers.NewSharedInformerFactory(client, 0)
	// Waiting for content to go away retries quickly at first and then
	// every few seconds at most: a namespace should vanish soon after its
	// last object does.
	limiter := workqueue.NewTypedItemExponentialFailureRateLimiter[string](20*time.Millisecond, 5*time.Second)
	c := &Controller{
		client:  client,
		meta:    meta,
		clock:   clk,
		log:     log,
		queue:   workqueue.NewTypedRateLimitingQueueWithConfig(limiter, workqueue.TypedRateLimitingQueueConfig[string]{Name: "namespace"}),
		factory: f,
	}
	nsInf := f.Core().V1().Namespaces()
	c.nsLister = nsInf.Lister()
	c.synced = nsInf.Informer().HasSynced
	_, _ = nsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, obj interface{}) { c.enqueue(obj) },
	})
	return c
}

func (c *Controller) enqueue(obj interface{}) {
	if ns, ok := obj.(*corev1.Namespace); ok && ns.DeletionTimestamp != nil {
		c.queue.Add(ns.Name)
	}
}

// Run reconciles until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	return ctrlruntime.Loop{
		Factory:   c.factory,
		Queue:     c.queue,
		Synced:    []cache.InformerSynced{c.synced},
		Reconcile: c.reconcile,
		Log:       c.log,
		Pending:   func(err error) bool { return errors.Is(err, errContentRemaining) },
	}.Run(ctx)
}

// reconcile empties namespace ns if it is being deleted and then releases
// its "kubernetes" finalizer. Running it again changes nothing.
func (c *Controller) reconcile(ctx context.Context, name string) error {
	cached, err := c.nsLister.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get namespace %s: %w", name, err)
	}
	if cached.DeletionTimestamp == nil {
		return nil
	}
	// The cache may lag: act on the namespace as stored.
	ns, err := c.client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get namespace %s: %w", name, err)
	}
	if ns.DeletionTimestamp == nil || !hasFinalizer(ns.Spec.Finalizers, corev1.FinalizerKubernetes) {
		return nil
	}

	st := c.deleteContent(ctx, name)
	if err := c.updateConditions(ctx, ns, st); err != nil {
		return err
	}
	switch {
	case st.DiscoveryErr != nil:
		return fmt.Errorf("discover resources: %w", st.DiscoveryErr)
	case len(st.GroupVersionErrs) > 0:
		return fmt.Errorf("discover resources: %w", errors.Join(st.GroupVersionErrs...))
	case len(st.ContentErrs) > 0:
		return fmt.Errorf("delete content: %w", errors.Join(st.ContentErrs...))
	case !st.done():
		return errContentRemaining
	}

	ns.Spec.Finalizers = withoutFinalizer(ns.Spec.Finalizers, corev1.FinalizerKubernetes)
	if _, err := c.client.CoreV1().Namespaces().Finalize(ctx, ns, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("finalize namespace %s: %w", name, err)
	}
	c.log.Info("namespace emptied and finalized", "namespace", name)
	return nil
}

// deleteContent deletes every namespaced object in ns and reports what
// remains. Discovery failing for some groups still deletes what was found.
func (c *Controller) deleteContent(ctx context.Context, ns string) deletionStatus {
	st := deletionStatus{Remaining: map[schema.GroupResource]int{}, Finalizers: map[string]int{}}
	lists, err := c.client.Discovery().ServerPreferredNamespacedResources()
	if err != nil {
		st.DiscoveryErr = err
		if !discovery.IsGroupDiscoveryFailedError(err) {
			return st
		}
	}
	targets, gvErrs := deletionTargets(lists)
	st.GroupVersionErrs = gvErrs
	for _, t := range targets {
		remaining, err := c.deleteResource(ctx, ns, t)
		if err != nil {
			st.ContentErrs = append(st.ContentErrs, fmt.Errorf("%s: %w", t.Resource.GroupResource(), err))
			continue
		}
		if len(remaining) > 0 {
			st.Remaining[t.Resource.GroupResource()] += len(remaining)
		}
		for _, obj := range remaining {
			for _, f := range obj.Finalizers {
				st.Finalizers[f]++
			}
		}
	}
	return st
}

// deleteResource deletes every object of one resource in ns (background
// propagation) and returns those still present afterwards.
func (c *Controller) deleteResource(ctx context.Context, ns string, t target) ([]metav1.PartialObjectMetadata, error) {
	client := c.meta.Resource(t.Resource).Namespace(ns)
	list, err := client.List(ctx, metav1.ListOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	if len(list.Items) == 0 {
		return nil, nil
	}
	background := metav1.DeletePropagationBackground
	opts := metav1.DeleteOptions{PropagationPolicy: &background}
	deleted := false
	if t.Collection {
		err := client.DeleteCollection(ctx, opts, metav1.ListOptions{})
		switch {
		case err == nil:
			deleted = true
		case apierrors.IsMethodNotSupported(err) || apierrors.IsNotFound(err):
		default:
			return nil, fmt.Errorf("delete collection: %w", err)
		}
	}
	if !deleted {
		for _, item := range list.Items {
			if item.DeletionTimestamp != nil {
				continue
			}
			if err := client.Delete(ctx, item.Name, opts); err != nil && !apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("delete %s: %w", item.Name, err)
			}
		}
	}
	list, err = client.List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list after delete: %w", err)
	}
	return list.Items, nil
}

// updateConditions writes the deletion conditions to ns's status when they
// changed.
func (c *Controller) updateConditions(ctx context.Context, ns *corev1.Namespace, st deletionStatus) error {
	conds := namespaceConditions(ns.Status.Conditions, st, metav1.NewTime(c.clock.Now().UTC().Truncate(time.Second)))
	if apiequality.Semantic.DeepEqual(conds, ns.Status.Conditions) {
		return nil
	}
	next := ns.DeepCopy()
	next.Status.Conditions = conds
	updated, err := c.client.CoreV1().Namespaces().UpdateStatus(ctx, next, metav1.UpdateOptions{FieldManager: fieldManager})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("update status of namespace %s: %w", ns.Name, err)
	}
	*ns = *updated
	return nil
}

func hasFinalizer(list []corev1.FinalizerName, f corev1.FinalizerName) bool {
	for _, x := range list {
		if x == f {
			return true
		}
	}
	return false
}
