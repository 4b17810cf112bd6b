// Package runtime owns what every Gureum controller shares: starting its
// informers, waiting for them to sync, and the keyed work loop that calls a
// level-based reconciler and requeues failures with backoff.
package runtime

import (
	"context"
	"log/slog"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// Loop runs one controller's reconciler over the keys in its queue.
type Loop struct {
	Factory   informers.SharedInformerFactory
	Queue     workqueue.TypedRateLimitingInterface[string]
	Synced    []cache.InformerSynced
	Reconcile func(ctx context.Context, key string) error
	Log       *slog.Logger
	// Pending, when set, marks errors that mean "not done yet" rather than
	// failure: they requeue with backoff and log at debug level.
	Pending func(error) bool
	// Workers is how many keys are reconciled at once (default 1). The
	// queue never hands the same key to two workers.
	Workers int
}

// Run starts the informers and reconciles until ctx ends.
func (l Loop) Run(ctx context.Context) error {
	defer l.Queue.ShutDown()
	l.Factory.Start(ctx.Done())
	defer l.Factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), l.Synced...) {
		return nil
	}
	go func() {
		<-ctx.Done()
		l.Queue.ShutDown()
	}()
	workers := max(l.Workers, 1)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for l.processNext(ctx) {
			}
		}()
	}
	wg.Wait()
	return nil
}

func (l Loop) processNext(ctx context.Context) bool {
	key, shutdown := l.Queue.Get()
	if shutdown {
		return false
	}
	defer l.Queue.Done(key)
	err := l.Reconcile(ctx, key)
	switch {
	case err == nil:
		l.Queue.Forget(key)
	case l.Pending != nil && l.Pending(err):
		l.Log.Debug("reconcile pending; requeued", "key", key, "err", err)
		l.Queue.AddRateLimited(key)
	case ctx.Err() != nil:
	default:
		l.Log.Warn("reconcile failed; retrying", "key", key, "err", err)
		l.Queue.AddRateLimited(key)
	}
	return true
}

// DropManagedFields is an informer transform for components that never
// read managedFields, which are often most of an object's metadata: a
// cached pod keeps a third less memory. Updates built from a trimmed
// object leave the stored managedFields alone (the API server keeps the
// live ones when a request carries none), which is why
// kube-controller-manager trims its informers the same way.
func DropManagedFields(obj any) (any, error) {
	if a, err := meta.Accessor(obj); err == nil {
		a.SetManagedFields(nil)
	}
	return obj, nil
}
