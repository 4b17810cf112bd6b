// Package endpoints owns the legacy Endpoints controller (core/v1
// Endpoints, named like their Service): for every Service with a
// selector it writes subsets of ready addresses, not-ready addresses and
// the ports each pod resolves, labels them headless when the Service is,
// and deletes them with the Service, as Kubernetes' endpoints controller
// does. Endpoints of selector-less Services (such as the API server's own
// `kubernetes` Service) belong to whoever wrote them and are left alone.
//
// Only internal/node (wiring) and tests import it.
package endpoints

import (
	"context"
	"fmt"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	ctrlruntime "github.com/gureum/gureum/internal/controller/runtime"
)

const fieldManager = "gureum-endpoints-controller"

// Controller reconciles the Endpoints of Services keyed by namespace/name.
type Controller struct {
	client    kubernetes.Interface
	factory   informers.SharedInformerFactory
	log       *slog.Logger
	queue     workqueue.TypedRateLimitingInterface[string]
	services  corelisters.ServiceLister
	pods      corelisters.PodLister
	endpoints corelisters.EndpointsLister
	synced    []cache.InformerSynced
}

// New builds the Endpoints controller on factory's informers.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, clk clock.Clock, log *slog.Logger) *Controller {
	qcfg := workqueue.TypedRateLimitingQueueConfig[string]{Name: "endpoints"}
	if wt, ok := clk.(clock.WithTicker); ok {
		qcfg.Clock = wt
	}
	c := &Controller{
		client:  client,
		factory: factory,
		log:     log,
		queue:   workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](), qcfg),
	}
	svcInf := factory.Core().V1().Services()
	podInf := factory.Core().V1().Pods()
	epInf := factory.Core().V1().Endpoints()
	c.services, c.pods, c.endpoints = svcInf.Lister(), podInf.Lister(), epInf.Lister()
	c.synced = []cache.InformerSynced{svcInf.Informer().HasSynced, podInf.Informer().HasSynced, epInf.Informer().HasSynced}
	_, _ = svcInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, obj interface{}) { c.enqueue(obj) },
		DeleteFunc: c.enqueue,
	})
	_, _ = podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueuePodServices,
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
	// An Endpoints object of a selected Service edited or deleted by
	// someone else is put right. Others never wake the controller: one
	// written before its Service exists must not be taken for an orphan.
	_, _ = epInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, obj interface{}) { c.enqueueIfSelected(obj) },
		DeleteFunc: c.enqueueIfSelected,
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
			return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err)
		},
	}.Run(ctx)
}

func (c *Controller) enqueue(obj interface{}) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err == nil {
		c.queue.Add(key)
	}
}

func (c *Controller) enqueueIfSelected(obj interface{}) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return
	}
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return
	}
	if svc, err := c.services.Services(ns).Get(name); err == nil && len(svc.Spec.Selector) > 0 {
		c.queue.Add(key)
	}
}

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

// reconcile brings one Service's Endpoints in line with its pods.
func (c *Controller) reconcile(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return c.deleteOrphan(ctx, ns, name)
	}
	if err != nil {
		return fmt.Errorf("get service %s: %w", key, err)
	}
	if len(svc.Spec.Selector) == 0 || svc.DeletionTimestamp != nil {
		return nil
	}
	current, err := c.endpoints.Endpoints(ns).Get(name)
	if apierrors.IsNotFound(err) {
		current = nil
	} else if err != nil {
		return fmt.Errorf("get endpoints %s: %w", key, err)
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		// An alias has no endpoints; drop ours if it used to have some.
		if current == nil {
			return nil
		}
		return c.deleteEndpoints(ctx, current)
	}
	pods, err := c.pods.Pods(ns).List(labels.SelectorFromValidatedSet(svc.Spec.Selector))
	if err != nil {
		return fmt.Errorf("list pods of %s: %w", key, err)
	}
	want, changed := Desired(svc, current, pods)
	if !changed {
		return nil
	}
	if current == nil {
		if _, err := c.client.CoreV1().Endpoints(ns).Create(ctx, want, metav1.CreateOptions{FieldManager: fieldManager}); err != nil {
			return fmt.Errorf("create endpoints %s: %w", key, err)
		}
	} else if _, err := c.client.CoreV1().Endpoints(ns).Update(ctx, want, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
		return fmt.Errorf("update endpoints %s: %w", key, err)
	}
	c.log.Debug("endpoints written", "service", key, "subsets", len(want.Subsets))
	return nil
}

// deleteOrphan removes the Endpoints of a Service that is gone, as
// Kubernetes does; a fresh read makes sure the Service is really gone and
// not merely missing from a lagging cache.
func (c *Controller) deleteOrphan(ctx context.Context, ns, name string) error {
	ep, err := c.endpoints.Endpoints(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get endpoints %s/%s: %w", ns, name, err)
	}
	if _, err := c.client.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{}); err == nil {
		return nil
	} else if !apierrors.IsNotFound(err) {
		return fmt.Errorf("get service %s/%s: %w", ns, name, err)
	}
	return c.deleteEndpoints(ctx, ep)
}

func (c *Controller) deleteEndpoints(ctx context.Context, ep *corev1.Endpoints) error {
	uid := ep.UID
	err := c.client.CoreV1().Endpoints(ep.Namespace).Delete(ctx, ep.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete endpoints %s/%s: %w", ep.Namespace, ep.Name, err)
	}
	return nil
}
