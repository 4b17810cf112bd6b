// Package serviceaccount owns the controllers of service accounts: one
// gives every namespace its "default" ServiceAccount (the API server
// writes it with the namespace; this one recreates it when deleted), the
// other fills token Secrets with long-lived tokens, as Kubernetes' service
// account and token controllers do.
package serviceaccount

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	ctrlruntime "github.com/gureum/gureum/internal/controller/runtime"
)

// DefaultName is the ServiceAccount every namespace gets.
const DefaultName = "default"

// Controller reconciles namespaces by name.
type Controller struct {
	client   kubernetes.Interface
	log      *slog.Logger
	queue    workqueue.TypedRateLimitingInterface[string]
	factory  informers.SharedInformerFactory
	nsLister corelisters.NamespaceLister
	saLister corelisters.ServiceAccountLister
	synced   []cache.InformerSynced
}

// New builds the controller.
func New(client kubernetes.Interface, log *slog.Logger) *Controller {
	f := informers.NewSharedInformerFactory(client, 0)
	c := &Controller{
		client:  client,
		log:     log,
		queue:   workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](), workqueue.TypedRateLimitingQueueConfig[string]{Name: "serviceaccount"}),
		factory: f,
	}
	nsInf := f.Core().V1().Namespaces()
	saInf := f.Core().V1().ServiceAccounts()
	c.nsLister, c.saLister = nsInf.Lister(), saInf.Lister()
	c.synced = []cache.InformerSynced{nsInf.Informer().HasSynced, saInf.Informer().HasSynced}
	_, _ = nsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { c.enqueueNamespace(obj) },
		UpdateFunc: func(_, obj interface{}) { c.enqueueNamespace(obj) },
	})
	_, _ = saInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: func(obj interface{}) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if sa, ok := obj.(*corev1.ServiceAccount); ok && sa.Name == DefaultName {
				c.queue.Add(sa.Namespace)
			}
		},
	})
	return c
}

func (c *Controller) enqueueNamespace(obj interface{}) {
	if ns, ok := obj.(*corev1.Namespace); ok {
		c.queue.Add(ns.Name)
	}
}

// Run reconciles until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	return ctrlruntime.Loop{
		Factory:   c.factory,
		Queue:     c.queue,
		Synced:    c.synced,
		Reconcile: c.reconcile,
		Log:       c.log,
	}.Run(ctx)
}

// reconcile ensures namespace ns has its default ServiceAccount.
func (c *Controller) reconcile(ctx context.Context, ns string) error {
	nsObj, err := c.nsLister.Get(ns)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get namespace %s: %w", ns, err)
	}
	if nsObj.DeletionTimestamp != nil || nsObj.Status.Phase == corev1.NamespaceTerminating {
		return nil
	}
	if _, err := c.saLister.ServiceAccounts(ns).Get(DefaultName); err == nil {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = c.client.CoreV1().ServiceAccounts(ns).Create(cctx, &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: DefaultName, Namespace: ns},
	}, metav1.CreateOptions{FieldManager: "gureum-serviceaccount-controller"})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create default service account in %s: %w", ns, err)
	}
	return nil
}
