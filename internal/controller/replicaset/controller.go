// Package replicaset owns the ReplicaSet controller (and, with the same
// logic, the ReplicationController manager): it keeps the number of
// running pods matching each owner's selector at spec.replicas, creating
// pods from spec.template and deleting the least valuable ones, adopts
// orphans and releases pods that stop matching, and reports replicas,
// fullyLabeledReplicas, readyReplicas, availableReplicas and the
// ReplicaFailure condition in status, as Kubernetes documents.
//
// Only internal/node (wiring) and tests import it; the deployment
// controller reuses its pure helpers (pod availability, claim decisions).
package replicaset

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
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

// burstReplicas caps the pods created or deleted in one reconcile, as
// Kubernetes does, so one huge scale does not monopolise a worker.
const burstReplicas = 500

// Event reasons kubectl users know from Kubernetes.
const (
	ReasonSuccessfulCreate = "SuccessfulCreate"
	ReasonFailedCreate     = "FailedCreate"
	ReasonSuccessfulDelete = "SuccessfulDelete"
	ReasonFailedDelete     = "FailedDelete"
)

// Status is the controller-written status of a ReplicaSet or
// ReplicationController, independent of which one it is.
type Status struct {
	Counts
	ObservedGeneration int64
	// Failure, when set, is the ReplicaFailure=True condition.
	Failure *Failure
}

// Failure explains why pods could not be created or deleted.
type Failure struct {
	Reason, Message string
}

// workload is what the controller needs from one owner object.
type workload struct {
	obj      runtime.Object
	meta     metav1.Object
	selector labels.Selector
	replicas int32
	minReady int32
	template *corev1.PodTemplateSpec
}

// kind adapts the controller to ReplicaSets or ReplicationControllers.
type kind interface {
	gvk() schema.GroupVersionKind
	informer() cache.SharedIndexInformer
	get(ns, name string) (*workload, error)
	fresh(ctx context.Context, ns, name string) (*workload, error)
	list(ns string) ([]*workload, error)
	writeStatus(ctx context.Context, w *workload, st Status) error
}

// Controller reconciles owners of one kind by namespace/name.
type Controller struct {
	client     kubernetes.Interface
	factory    informers.SharedInformerFactory
	clk        clock.Clock
	log        *slog.Logger
	kind       kind
	queue      workqueue.TypedRateLimitingInterface[string]
	podLister  corelisters.PodLister
	podIndexer cache.Indexer
	synced     []cache.InformerSynced
	exp        *Expectations
	broadcast  record.EventBroadcaster
	recorder   record.EventRecorder
	workers    int
	fieldOwner string
}

// New builds the ReplicaSet controller on factory's informers.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, clk clock.Clock, log *slog.Logger) *Controller {
	inf := factory.Apps().V1().ReplicaSets()
	return newController(client, factory, clk, log, &replicaSets{client: client, inf: inf.Informer(), lister: inf.Lister()}, "replicaset-controller")
}

// NewReplicationManager builds the ReplicationController manager, the
// same controller for core/v1 ReplicationControllers.
func NewReplicationManager(client kubernetes.Interface, factory informers.SharedInformerFactory, clk clock.Clock, log *slog.Logger) *Controller {
	inf := factory.Core().V1().ReplicationControllers()
	return newController(client, factory, clk, log, &replicationControllers{client: client, inf: inf.Informer(), lister: inf.Lister()}, "replication-controller")
}

func newController(client kubernetes.Interface, factory informers.SharedInformerFactory, clk clock.Clock, log *slog.Logger, k kind, component string) *Controller {
	broadcast := record.NewBroadcaster()
	qcfg := workqueue.TypedRateLimitingQueueConfig[string]{Name: component}
	if wt, ok := clk.(clock.WithTicker); ok {
		// Timed requeues (minReadySeconds) follow the injected clock.
		qcfg.Clock = wt
	}
	c := &Controller{
		client:     client,
		factory:    factory,
		clk:        clk,
		log:        log,
		kind:       k,
		queue:      workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](), qcfg),
		exp:        NewExpectations(clk),
		broadcast:  broadcast,
		recorder:   broadcast.NewRecorder(scheme.Scheme, corev1.EventSource{Component: component}),
		workers:    16, // pod creation is I/O-bound: more ReplicaSets in flight at once
		fieldOwner: "gureum-" + component,
	}
	podInf := factory.Core().V1().Pods()
	c.podLister = podInf.Lister()
	c.podIndexer = podInf.Informer().GetIndexer()
	if err := AddControllerIndex(podInf.Informer()); err != nil {
		// Only a started informer refuses an index; New runs before Start.
		log.Error("index pods by controller failed", "err", err)
	}
	c.synced = []cache.InformerSynced{k.informer().HasSynced, podInf.Informer().HasSynced}
	_, _ = k.informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueueOwner,
		UpdateFunc: func(_, obj interface{}) { c.enqueueOwner(obj) },
		DeleteFunc: c.enqueueOwner,
	})
	_, _ = podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	})
	return c
}

// Run reconciles until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	stop := c.broadcast.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.client.CoreV1().Events("")})
	defer stop.Stop()
	defer c.broadcast.Shutdown()
	return ctrlruntime.Loop{
		Factory:   c.factory,
		Queue:     c.queue,
		Synced:    c.synced,
		Reconcile: c.reconcile,
		Log:       c.log,
		Workers:   c.workers,
		// A conflict only means our cache was behind; the retry reads the
		// newer object.
		Pending: apierrors.IsConflict,
	}.Run(ctx)
}

func (c *Controller) enqueueOwner(obj interface{}) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err == nil {
		c.queue.Add(key)
	}
}

// ownerOf resolves a pod's controller reference to an owner of our kind,
// checking the UID so a recreated namesake is not confused with the
// original.
func (c *Controller) ownerOf(ns string, ref *metav1.OwnerReference) *workload {
	gvk := c.kind.gvk()
	if ref == nil || ref.Kind != gvk.Kind {
		return nil
	}
	if gv, err := schema.ParseGroupVersion(ref.APIVersion); err != nil || gv.Group != gvk.Group {
		return nil
	}
	w, err := c.kind.get(ns, ref.Name)
	if err != nil || w.meta.GetUID() != ref.UID {
		return nil
	}
	return w
}

func keyOf(w *workload) string { return w.meta.GetNamespace() + "/" + w.meta.GetName() }

// enqueueMatching wakes every owner whose selector matches an orphan pod,
// so one of them can adopt it.
func (c *Controller) enqueueMatching(pod *corev1.Pod) {
	ws, err := c.kind.list(pod.Namespace)
	if err != nil {
		return
	}
	for _, w := range ws {
		if !w.selector.Empty() && w.selector.Matches(labels.Set(pod.Labels)) {
			c.queue.Add(keyOf(w))
		}
	}
}

func (c *Controller) addPod(obj interface{}) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if pod.DeletionTimestamp != nil {
		// A restarted informer can list a pod that is already going away;
		// it must count as a deletion, not a creation.
		c.deletePod(pod)
		return
	}
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		if w := c.ownerOf(pod.Namespace, ref); w != nil {
			c.exp.CreationObserved(keyOf(w))
			c.queue.Add(keyOf(w))
		}
		return
	}
	c.enqueueMatching(pod)
}

func (c *Controller) updatePod(oldObj, curObj interface{}) {
	old, ok1 := oldObj.(*corev1.Pod)
	cur, ok2 := curObj.(*corev1.Pod)
	if !ok1 || !ok2 || old.ResourceVersion == cur.ResourceVersion {
		return
	}
	labelsChanged := !labels.Equals(old.Labels, cur.Labels)
	if cur.DeletionTimestamp != nil {
		// Graceful deletion: the pod stops counting now, not when the
		// kubelet finally removes it.
		c.deletePod(cur)
		if labelsChanged {
			c.deletePod(old)
		}
		return
	}
	oldRef, curRef := metav1.GetControllerOfNoCopy(old), metav1.GetControllerOfNoCopy(cur)
	refChanged := !equalRef(oldRef, curRef)
	if refChanged && oldRef != nil {
		if w := c.ownerOf(old.Namespace, oldRef); w != nil {
			c.queue.Add(keyOf(w))
		}
	}
	if curRef != nil {
		if w := c.ownerOf(cur.Namespace, curRef); w != nil {
			c.queue.Add(keyOf(w))
		}
		return
	}
	if labelsChanged || refChanged {
		c.enqueueMatching(cur)
	}
}

func equalRef(a, b *metav1.OwnerReference) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.UID == b.UID
}

func (c *Controller) deletePod(obj interface{}) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	w := c.ownerOf(pod.Namespace, metav1.GetControllerOfNoCopy(pod))
	if w == nil {
		return
	}
	c.exp.DeletionObserved(keyOf(w), pod.UID)
	c.queue.Add(keyOf(w))
}

// reconcile brings one owner's pods and status in line with its spec.
func (c *Controller) reconcile(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	w, err := c.kind.get(ns, name)
	if apierrors.IsNotFound(err) {
		c.exp.Forget(key)
		return nil
	}
	if err != nil {
		return fmt.Errorf("get %s %s: %w", c.kind.gvk().Kind, key, err)
	}
	needsSync := c.exp.Satisfied(key)
	// Only our pods and orphans can be ours: the index spares a scan of
	// every pod in the namespace on each sync.
	all, err := ClaimCandidates(c.podIndexer, ns, w.meta.GetUID())
	if err != nil {
		return fmt.Errorf("list pods in %s: %w", ns, err)
	}
	var candidates []*corev1.Pod
	for _, p := range all {
		if IsPodActive(p) {
			candidates = append(candidates, p)
		}
	}
	pods, claimErr := c.claimPods(ctx, w, candidates)

	var manageErr error
	if needsSync && w.meta.GetDeletionTimestamp() == nil && claimErr == nil {
		manageErr = c.manageReplicas(ctx, key, w, pods)
	}
	counts, next := CountPods(pods, w.template.Labels, w.minReady, c.clk.Now())
	st := Status{Counts: counts, ObservedGeneration: w.meta.GetGeneration()}
	if manageErr != nil {
		st.Failure = failureOf(manageErr)
	}
	if err := c.kind.writeStatus(ctx, w, st); err != nil {
		return err
	}
	if next > 0 {
		// A ready pod becomes available after minReadySeconds without any
		// event telling us; look again exactly then.
		c.queue.AddAfter(key, next+10*time.Millisecond)
	}
	if claimErr != nil {
		return claimErr
	}
	return manageErr
}

// manageError carries the event reason for the ReplicaFailure condition.
type manageError struct {
	reason string
	err    error
}

func (e *manageError) Error() string { return e.err.Error() }
func (e *manageError) Unwrap() error { return e.err }

func failureOf(err error) *Failure {
	if me, ok := err.(*manageError); ok {
		return &Failure{Reason: me.reason, Message: me.err.Error()}
	}
	return &Failure{Reason: ReasonFailedCreate, Message: err.Error()}
}

// claimPods adopts matching orphans and releases owned pods that stopped
// matching, returning the pods the owner controls.
func (c *Controller) claimPods(ctx context.Context, w *workload, pods []*corev1.Pod) ([]*corev1.Pod, error) {
	var out []*corev1.Pod
	var errs []error
	var canAdopt *bool
	for _, p := range pods {
		switch DecideClaim(w.meta.GetUID(), w.meta.GetDeletionTimestamp() != nil, w.selector, p) {
		case Keep:
			out = append(out, p)
		case Adopt:
			if canAdopt == nil {
				// The cache may lag: adopt only if a fresh read shows the
				// same owner, still alive.
				ok := false
				if f, err := c.kind.fresh(ctx, w.meta.GetNamespace(), w.meta.GetName()); err == nil {
					ok = f.meta.GetUID() == w.meta.GetUID() && f.meta.GetDeletionTimestamp() == nil
				}
				canAdopt = &ok
			}
			if !*canAdopt {
				continue
			}
			if err := c.adopt(ctx, w, p); err != nil {
				if !apierrors.IsNotFound(err) {
					errs = append(errs, err)
				}
				continue
			}
			out = append(out, p)
		case Release:
			if err := c.release(ctx, w, p); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		return out, fmt.Errorf("claim pods of %s: %w", keyOf(w), errs[0])
	}
	return out, nil
}

func (c *Controller) controllerRef(w *workload) metav1.OwnerReference {
	gvk := c.kind.gvk()
	t := true
	return metav1.OwnerReference{
		APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind,
		Name: w.meta.GetName(), UID: w.meta.GetUID(),
		Controller: &t, BlockOwnerDeletion: &t,
	}
}

func (c *Controller) adopt(ctx context.Context, w *workload, p *corev1.Pod) error {
	patch, err := json.Marshal(map[string]interface{}{"metadata": map[string]interface{}{
		"ownerReferences": []metav1.OwnerReference{c.controllerRef(w)},
		"uid":             p.UID,
	}})
	if err != nil {
		return err
	}
	if _, err := c.client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{FieldManager: c.fieldOwner}); err != nil {
		return fmt.Errorf("adopt pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	c.log.Info("adopted pod", "owner", keyOf(w), "pod", p.Name)
	return nil
}

func (c *Controller) release(ctx context.Context, w *workload, p *corev1.Pod) error {
	patch := fmt.Sprintf(`{"metadata":{"ownerReferences":[{"$patch":"delete","uid":%q}],"uid":%q}}`, w.meta.GetUID(), p.UID)
	if _, err := c.client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{FieldManager: c.fieldOwner}); err != nil {
		return fmt.Errorf("release pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	c.log.Info("released pod", "owner", keyOf(w), "pod", p.Name)
	return nil
}

// manageReplicas creates or deletes pods so the owner has spec.replicas.
func (c *Controller) manageReplicas(ctx context.Context, key string, w *workload, pods []*corev1.Pod) error {
	diff := len(pods) - int(w.replicas)
	switch {
	case diff < 0:
		n := min(-diff, burstReplicas)
		c.exp.ExpectCreations(key, n)
		created, err := c.createInBatches(ctx, w, n)
		for range n - created {
			// These will never show up in the informer.
			c.exp.CreationObserved(key)
		}
		if err != nil {
			return &manageError{reason: ReasonFailedCreate, err: err}
		}
	case diff > 0:
		n := min(diff, burstReplicas)
		victims := RankForDeletion(pods)[:n]
		uids := make([]types.UID, len(victims))
		for i, p := range victims {
			uids[i] = p.UID
		}
		c.exp.ExpectDeletions(key, uids)
		if err := c.deletePods(ctx, key, w, victims); err != nil {
			return &manageError{reason: ReasonFailedDelete, err: err}
		}
	}
	return nil
}

// createInBatches creates n pods in slow-start batches, stopping at the
// first batch with a failure; it returns how many were created.
func (c *Controller) createInBatches(ctx context.Context, w *workload, n int) (int, error) {
	created := 0
	for _, size := range SlowStartBatches(n, 1) {
		var wg sync.WaitGroup
		var ok atomic.Int32
		errs := make(chan error, size)
		for range size {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := c.createPod(ctx, w); err != nil {
					errs <- err
					return
				}
				ok.Add(1)
			}()
		}
		wg.Wait()
		created += int(ok.Load())
		close(errs)
		if err, failed := <-errs; failed {
			return created, err
		}
	}
	return created, nil
}

func (c *Controller) createPod(ctx context.Context, w *workload) error {
	pod := PodFromTemplate(w.template, w.meta.GetNamespace(), w.meta.GetName()+"-", c.controllerRef(w))
	created, err := c.client.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{FieldManager: c.fieldOwner})
	if err != nil {
		c.recorder.Eventf(w.obj, corev1.EventTypeWarning, ReasonFailedCreate, "Error creating: %v", err)
		return fmt.Errorf("create pod for %s: %w", keyOf(w), err)
	}
	c.recorder.Eventf(w.obj, corev1.EventTypeNormal, ReasonSuccessfulCreate, "Created pod: %s", created.Name)
	return nil
}

// PodFromTemplate is the pod an owner creates from its template.
func PodFromTemplate(t *corev1.PodTemplateSpec, ns, generateName string, ref metav1.OwnerReference) *corev1.Pod {
	t = t.DeepCopy()
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    generateName,
			Namespace:       ns,
			Labels:          t.Labels,
			Annotations:     t.Annotations,
			Finalizers:      t.Finalizers,
			OwnerReferences: []metav1.OwnerReference{ref},
		},
		Spec: t.Spec,
	}
}

func (c *Controller) deletePods(ctx context.Context, key string, w *workload, victims []*corev1.Pod) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(victims))
	for _, p := range victims {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}})
			if err == nil {
				c.recorder.Eventf(w.obj, corev1.EventTypeNormal, ReasonSuccessfulDelete, "Deleted pod: %s", p.Name)
				return
			}
			// The deletion will not be observed; stop waiting for it.
			c.exp.DeletionObserved(key, p.UID)
			if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
				return
			}
			c.recorder.Eventf(w.obj, corev1.EventTypeWarning, ReasonFailedDelete, "Error deleting: %v", err)
			errs <- fmt.Errorf("delete pod %s/%s: %w", p.Namespace, p.Name, err)
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}
