// Package rootca owns the controller that publishes the cluster CA to every
// namespace as the ConfigMap kube-root-ca.crt (key ca.crt), as Kubernetes'
// root CA publisher does, so pods can verify the API server.
package rootca

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

// ConfigMapName is the ConfigMap every namespace gets.
const ConfigMapName = "kube-root-ca.crt"

// Controller reconciles namespaces by name.
type Controller struct {
	client   kubernetes.Interface
	caPEM    string
	log      *slog.Logger
	queue    workqueue.TypedRateLimitingInterface[string]
	factory  informers.SharedInformerFactory
	nsLister corelisters.NamespaceLister
	cmLister corelisters.ConfigMapLister
	synced   []cache.InformerSynced
}

// New builds the controller for the CA certificate caPEM.
func New(client kubernetes.Interface, caPEM []byte, log *slog.Logger) *Controller {
	f := informers.NewSharedInformerFactory(client, 0)
	c := &Controller{
		client:  client,
		caPEM:   string(caPEM),
		log:     log,
		queue:   workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](), workqueue.TypedRateLimitingQueueConfig[string]{Name: "rootca"}),
		factory: f,
	}
	nsInf := f.Core().V1().Namespaces()
	cmInf := f.Core().V1().ConfigMaps()
	c.nsLister, c.cmLister = nsInf.Lister(), cmInf.Lister()
	c.synced = []cache.InformerSynced{nsInf.Informer().HasSynced, cmInf.Informer().HasSynced}
	_, _ = nsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { c.enqueueNamespaceOf(obj) },
		UpdateFunc: func(_, obj interface{}) { c.enqueueNamespaceOf(obj) },
	})
	_, _ = cmInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, obj interface{}) { c.enqueueNamespaceOf(obj) },
		DeleteFunc: func(obj interface{}) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			c.enqueueNamespaceOf(obj)
		},
	})
	return c
}

func (c *Controller) enqueueNamespaceOf(obj interface{}) {
	switch o := obj.(type) {
	case *corev1.Namespace:
		c.queue.Add(o.Name)
	case *corev1.ConfigMap:
		if o.Name == ConfigMapName {
			c.queue.Add(o.Namespace)
		}
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

// Desired returns the ConfigMap data a namespace must hold, and whether
// the existing one (nil when absent) already matches it.
func Desired(existing *corev1.ConfigMap, caPEM string) (map[string]string, bool) {
	want := map[string]string{"ca.crt": caPEM}
	if existing == nil {
		return want, false
	}
	return want, len(existing.Data) == 1 && existing.Data["ca.crt"] == caPEM
}

func (c *Controller) reconcile(ctx context.Context, ns string) error {
	nsObj, err := c.nsLister.Get(ns)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get namespace %s: %w", ns, err)
	}
	if nsObj.DeletionTimestamp != nil {
		return nil
	}
	existing, err := c.cmLister.ConfigMaps(ns).Get(ConfigMapName)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("get %s/%s: %w", ns, ConfigMapName, err)
	}
	if apierrors.IsNotFound(err) {
		existing = nil
	}
	data, ok := Desired(existing, c.caPEM)
	if ok {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	opts := metav1.CreateOptions{FieldManager: "gureum-rootca-controller"}
	if existing == nil {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: ConfigMapName, Namespace: ns,
			Annotations: map[string]string{"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}},
			Data: data}
		if _, err := c.client.CoreV1().ConfigMaps(ns).Create(cctx, cm, opts); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create %s/%s: %w", ns, ConfigMapName, err)
		}
		return nil
	}
	cm := existing.DeepCopy()
	cm.Data = data
	if _, err := c.client.CoreV1().ConfigMaps(ns).Update(cctx, cm, metav1.UpdateOptions{FieldManager: opts.FieldManager}); err != nil {
		return fmt.Errorf("update %s/%s: %w", ns, ConfigMapName, err)
	}
	return nil
}
