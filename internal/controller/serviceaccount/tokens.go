package serviceaccount

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	ctrlruntime "github.com/gureum/gureum/internal/controller/runtime"
	"github.com/gureum/gureum/internal/serviceaccount"
)

// Signer issues the never-expiring tokens of token Secrets.
type Signer interface {
	IssueLegacy(namespace string, sa serviceaccount.Ref, secretName string) (string, error)
}

// TokensController fills Secrets of type kubernetes.io/service-account-token
// with a token, the cluster CA and the namespace, as Kubernetes' token
// controller does for users who want a long-lived token, and deletes such
// Secrets when their service account is gone. Keys are namespace/name of
// Secrets.
type TokensController struct {
	client    kubernetes.Interface
	signer    Signer
	caPEM     []byte
	log       *slog.Logger
	queue     workqueue.TypedRateLimitingInterface[string]
	factory   informers.SharedInformerFactory
	secLister corelisters.SecretLister
	saLister  corelisters.ServiceAccountLister
	synced    []cache.InformerSynced
}

// NewTokens builds the controller; it watches only token Secrets.
func NewTokens(client kubernetes.Interface, signer Signer, caPEM []byte, log *slog.Logger) *TokensController {
	f := informers.NewSharedInformerFactory(client, 0)
	c := &TokensController{client: client, signer: signer, caPEM: caPEM, log: log, factory: f,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "serviceaccount-tokens"})}
	// Only token Secrets: a cluster's other Secrets are none of our business.
	secInf := f.InformerFor(&corev1.Secret{}, func(client kubernetes.Interface, resync time.Duration) cache.SharedIndexInformer {
		return coreinformers.NewFilteredSecretInformer(client, metav1.NamespaceAll, resync,
			cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}, func(o *metav1.ListOptions) {
				o.FieldSelector = fields.OneTermEqualSelector("type", string(corev1.SecretTypeServiceAccountToken)).String()
			})
	})
	saInf := f.Core().V1().ServiceAccounts()
	c.secLister, c.saLister = corelisters.NewSecretLister(secInf.GetIndexer()), saInf.Lister()
	c.synced = []cache.InformerSynced{secInf.HasSynced, saInf.Informer().HasSynced}
	enqueue := func(obj interface{}) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			c.queue.Add(key)
		}
	}
	_, _ = secInf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: enqueue, UpdateFunc: func(_, o interface{}) { enqueue(o) }})
	// A deleted or recreated account takes its token Secrets with it.
	saChanged := func(obj interface{}) {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		sa, ok := obj.(*corev1.ServiceAccount)
		if !ok {
			return
		}
		secrets, _ := c.secLister.Secrets(sa.Namespace).List(labels.Everything())
		for _, s := range secrets {
			if s.Annotations[corev1.ServiceAccountNameKey] == sa.Name {
				c.queue.Add(s.Namespace + "/" + s.Name)
			}
		}
	}
	_, _ = saInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: saChanged, DeleteFunc: saChanged})
	return c
}

// Run reconciles until ctx ends.
func (c *TokensController) Run(ctx context.Context) error {
	return ctrlruntime.Loop{Factory: c.factory, Queue: c.queue, Synced: c.synced, Reconcile: c.reconcile, Log: c.log}.Run(ctx)
}

func (c *TokensController) reconcile(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	sec, err := c.secLister.Secrets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get secret %s: %w", key, err)
	}
	if sec.Type != corev1.SecretTypeServiceAccountToken || sec.DeletionTimestamp != nil {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	saName := sec.Annotations[corev1.ServiceAccountNameKey]
	sa, err := c.saLister.ServiceAccounts(ns).Get(saName)
	if apierrors.IsNotFound(err) {
		// The lister may lag a just-created account: ask the server.
		sa, err = c.client.CoreV1().ServiceAccounts(ns).Get(cctx, saName, metav1.GetOptions{})
	}
	wantUID := sec.Annotations[corev1.ServiceAccountUIDKey]
	if apierrors.IsNotFound(err) || (err == nil && wantUID != "" && string(sa.UID) != wantUID) {
		c.log.Info("deleting token secret of a missing service account", "secret", key, "serviceAccount", saName)
		err := c.client.CoreV1().Secrets(ns).Delete(cctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &sec.UID}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("delete token secret %s: %w", key, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("get service account %s/%s: %w", ns, saName, err)
	}
	if len(sec.Data[corev1.ServiceAccountTokenKey]) > 0 && wantUID != "" {
		return nil
	}
	token, err := c.signer.IssueLegacy(ns, serviceaccount.Ref{Name: sa.Name, UID: string(sa.UID)}, sec.Name)
	if err != nil {
		return fmt.Errorf("issue token for secret %s: %w", key, err)
	}
	upd := sec.DeepCopy()
	if upd.Annotations == nil {
		upd.Annotations = map[string]string{}
	}
	upd.Annotations[corev1.ServiceAccountUIDKey] = string(sa.UID)
	if upd.Data == nil {
		upd.Data = map[string][]byte{}
	}
	upd.Data[corev1.ServiceAccountTokenKey] = []byte(token)
	upd.Data[corev1.ServiceAccountRootCAKey] = c.caPEM
	upd.Data[corev1.ServiceAccountNamespaceKey] = []byte(ns)
	if _, err := c.client.CoreV1().Secrets(ns).Update(cctx, upd, metav1.UpdateOptions{FieldManager: "gureum-token-controller"}); err != nil {
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			return nil // a newer version is queued, or it is gone
		}
		return fmt.Errorf("fill token secret %s: %w", key, err)
	}
	return nil
}
