// Package disruption owns the disruption controller: it keeps the status
// of every policy/v1 PodDisruptionBudget (expectedPods, currentHealthy,
// desiredHealthy, disruptionsAllowed, the DisruptionAllowed condition,
// observedGeneration) equal to what its pods and their controllers say, as
// Kubernetes documents, expires the status.disruptedPods entries the
// eviction subresource records, and resets DisruptionTarget conditions an
// eviction left on pods it then failed to delete. The eviction
// subresource (internal/apiserver) spends the budget this controller
// computes.
//
// Only internal/node (wiring) and tests import it.
package disruption

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	policylisters "k8s.io/client-go/listers/policy/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	ctrlruntime "github.com/gureum/gureum/internal/controller/runtime"
)

const fieldManager = "gureum-disruption-controller"

// podKeyPrefix marks queue keys that name a pod with a possibly stale
// DisruptionTarget condition rather than a budget: both are namespace/name,
// and one queue serves both so one loop, with its backoff, runs them.
const podKeyPrefix = "pod:"

// Controller reconciles PodDisruptionBudget status keyed by namespace/name.
type Controller struct {
	client  kubernetes.Interface
	factory informers.SharedInformerFactory
	clock   clock.Clock
	log     *slog.Logger
	queue   *ctrlruntime.TimedQueue
	synced  []cache.InformerSynced
	scales  ScaleReader

	pdbs         policylisters.PodDisruptionBudgetLister
	pods         corelisters.PodLister
	rcs          corelisters.ReplicationControllerLister
	replicaSets  appslisters.ReplicaSetLister
	deployments  appslisters.DeploymentLister
	statefulSets appslisters.StatefulSetLister
}

// Option changes how New builds the controller.
type Option func(*Controller)

// WithScaleReader replaces how the controller reads the /scale of
// controllers it does not watch (any kind other than ReplicaSet,
// Deployment, StatefulSet and ReplicationController).
func WithScaleReader(r ScaleReader) Option { return func(c *Controller) { c.scales = r } }

// New builds the disruption controller on factory's informers.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, clk clock.Clock, log *slog.Logger, opts ...Option) *Controller {
	c := &Controller{
		client:  client,
		factory: factory,
		clock:   clk,
		log:     log,
		queue: ctrlruntime.NewTimedQueue(workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "disruption"}), clk),
		scales: NewDiscoveryScaleReader(client.Discovery()),
	}
	for _, o := range opts {
		o(c)
	}
	core, apps := factory.Core().V1(), factory.Apps().V1()
	pdbInf, podInf := factory.Policy().V1().PodDisruptionBudgets(), core.Pods()
	rcInf, rsInf, depInf, stsInf := core.ReplicationControllers(), apps.ReplicaSets(), apps.Deployments(), apps.StatefulSets()
	c.pdbs, c.pods = pdbInf.Lister(), podInf.Lister()
	c.rcs, c.replicaSets, c.deployments, c.statefulSets = rcInf.Lister(), rsInf.Lister(), depInf.Lister(), stsInf.Lister()
	c.synced = []cache.InformerSynced{
		pdbInf.Informer().HasSynced, podInf.Informer().HasSynced, rcInf.Informer().HasSynced,
		rsInf.Informer().HasSynced, depInf.Informer().HasSynced, stsInf.Informer().HasSynced,
	}
	_, _ = pdbInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, obj interface{}) { c.enqueue(obj) },
		DeleteFunc: c.enqueue,
	})
	_, _ = podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) { c.podChanged(nil, obj) },
		UpdateFunc: func(oldObj, obj interface{}) {
			old, _ := oldObj.(*corev1.Pod)
			c.podChanged(old, obj)
		},
		DeleteFunc: func(obj interface{}) { c.podChanged(nil, obj) },
	})
	// A workload's desired replicas is the denominator of relative
	// budgets: a scale change must recount them.
	for _, inf := range []cache.SharedIndexInformer{rcInf.Informer(), rsInf.Informer(), depInf.Informer(), stsInf.Informer()} {
		_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: c.enqueueScaled,
			UpdateFunc: func(oldObj, obj interface{}) {
				if replicasOf(oldObj) != replicasOf(obj) {
					c.enqueueScaled(obj)
				}
			},
			DeleteFunc: c.enqueueScaled,
		})
	}
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
		// A conflict means our cache was behind an eviction's write to the
		// same status; the retry reads the newer budget.
		Pending: apierrors.IsConflict,
	}.Run(ctx)
}

func (c *Controller) enqueue(obj interface{}) {
	if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
		c.queue.Add(key)
	}
}

// podChanged wakes the budgets that select the pod now or selected it
// before, and schedules the reset of a DisruptionTarget condition left by
// an eviction whose delete did not happen.
func (c *Controller) podChanged(old *corev1.Pod, obj interface{}) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	c.enqueueSelecting(pod.Namespace, pod.Labels)
	if old != nil && !labels.Equals(old.Labels, pod.Labels) {
		c.enqueueSelecting(old.Namespace, old.Labels)
	}
	if stale, after := StaleDisruption(pod, c.clock.Now()); stale {
		c.queue.AddAfter(podKeyPrefix+pod.Namespace+"/"+pod.Name, after)
	}
}

func (c *Controller) enqueueSelecting(ns string, podLabels map[string]string) {
	pdbs, err := c.pdbs.PodDisruptionBudgets(ns).List(labels.Everything())
	if err != nil {
		return
	}
	for _, pdb := range pdbs {
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err == nil && sel.Matches(labels.Set(podLabels)) {
			c.queue.Add(pdb.Namespace + "/" + pdb.Name)
		}
	}
}

// enqueueScaled wakes the relative budgets of a workload's namespace.
func (c *Controller) enqueueScaled(obj interface{}) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	m, ok := obj.(metav1.Object)
	if !ok {
		return
	}
	pdbs, err := c.pdbs.PodDisruptionBudgets(m.GetNamespace()).List(labels.Everything())
	if err != nil {
		return
	}
	for _, pdb := range pdbs {
		if NeedsScale(pdb.Spec) {
			c.queue.Add(pdb.Namespace + "/" + pdb.Name)
		}
	}
}

func replicasOf(obj interface{}) int32 {
	var r *int32
	switch w := obj.(type) {
	case *corev1.ReplicationController:
		r = w.Spec.Replicas
	case *appsv1.ReplicaSet:
		r = w.Spec.Replicas
	case *appsv1.Deployment:
		r = w.Spec.Replicas
	case *appsv1.StatefulSet:
		r = w.Spec.Replicas
	}
	if r == nil {
		return 1
	}
	return *r
}

func (c *Controller) reconcile(ctx context.Context, key string) error {
	if podKey, ok := strings.CutPrefix(key, podKeyPrefix); ok {
		return c.resetStaleDisruption(ctx, podKey)
	}
	return c.syncBudget(ctx, key)
}

// syncBudget recomputes one budget's status and writes it if it changed;
// when it cannot be computed, it writes the fail-safe status (no
// disruptions allowed) and retries with backoff.
func (c *Controller) syncBudget(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pdb, err := c.pdbs.PodDisruptionBudgets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get poddisruptionbudget %s: %w", key, err)
	}
	now := c.clock.Now()
	status, recheck, err := c.compute(ctx, pdb, now)
	if err != nil {
		if werr := c.writeStatus(ctx, pdb, FailSafeStatus(pdb, err, now)); werr != nil {
			return errors.Join(err, werr)
		}
		return fmt.Errorf("compute status of poddisruptionbudget %s: %w", key, err)
	}
	if !recheck.IsZero() {
		c.queue.AddAfter(key, recheck.Sub(now))
	}
	return c.writeStatus(ctx, pdb, status)
}

func (c *Controller) compute(ctx context.Context, pdb *policyv1.PodDisruptionBudget, now time.Time) (policyv1.PodDisruptionBudgetStatus, time.Time, error) {
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	if err != nil {
		return policyv1.PodDisruptionBudgetStatus{}, time.Time{}, fmt.Errorf("parse selector: %w", err)
	}
	pods, err := c.pods.Pods(pdb.Namespace).List(sel)
	if err != nil {
		return policyv1.PodDisruptionBudgetStatus{}, time.Time{}, fmt.Errorf("list pods: %w", err)
	}
	var scale int32
	if NeedsScale(pdb.Spec) {
		if scale, err = c.expectedScale(ctx, pods); err != nil {
			return policyv1.PodDisruptionBudgetStatus{}, time.Time{}, err
		}
	}
	return ComputeStatus(pdb, pods, scale, now)
}

func (c *Controller) writeStatus(ctx context.Context, pdb *policyv1.PodDisruptionBudget, status policyv1.PodDisruptionBudgetStatus) error {
	if apiequality.Semantic.DeepEqual(pdb.Status, status) {
		return nil
	}
	upd := pdb.DeepCopy()
	upd.Status = status
	_, err := c.client.PolicyV1().PodDisruptionBudgets(pdb.Namespace).UpdateStatus(ctx, upd, metav1.UpdateOptions{FieldManager: fieldManager})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("update status of poddisruptionbudget %s/%s: %w", pdb.Namespace, pdb.Name, err)
	}
	c.log.Debug("poddisruptionbudget status written", "pdb", pdb.Namespace+"/"+pdb.Name,
		"healthy", status.CurrentHealthy, "desired", status.DesiredHealthy, "allowed", status.DisruptionsAllowed)
	return nil
}

// expectedScale sums the desired replicas of the controllers of pods,
// each counted once. Pods without a controller add nothing (Kubernetes
// only warns about them); a controller that cannot be found is an error,
// since the budget would otherwise allow too much.
func (c *Controller) expectedScale(ctx context.Context, pods []*corev1.Pod) (int32, error) {
	scales := map[types.UID]int32{}
	for _, pod := range pods {
		ref := metav1.GetControllerOfNoCopy(pod)
		if ref == nil {
			continue
		}
		if _, seen := scales[ref.UID]; seen {
			continue
		}
		uid, replicas, found, err := c.controllerScale(ctx, ref, pod.Namespace)
		if err != nil {
			return 0, fmt.Errorf("read scale of %s %s of pod %s: %w", ref.Kind, ref.Name, pod.Name, err)
		}
		if !found {
			return 0, fmt.Errorf("found no controllers for pod %q", pod.Name)
		}
		scales[uid] = replicas
	}
	var sum int32
	for _, n := range scales {
		sum += n
	}
	return sum, nil
}

// controllerScale finds the desired replicas of a pod's controller: from
// the informers for the kinds Kubernetes special-cases (a ReplicaSet owned
// by a Deployment counts as the Deployment), else from its /scale.
func (c *Controller) controllerScale(ctx context.Context, ref *metav1.OwnerReference, ns string) (types.UID, int32, bool, error) {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return "", 0, false, fmt.Errorf("parse apiVersion %q: %w", ref.APIVersion, err)
	}
	switch {
	case gv.Group == "" && ref.Kind == "ReplicationController":
		if rc, err := c.rcs.ReplicationControllers(ns).Get(ref.Name); err == nil && rc.UID == ref.UID {
			return rc.UID, replicasOf(rc), true, nil
		}
		return "", 0, false, nil
	case gv.Group == "apps" && ref.Kind == "ReplicaSet":
		rs, err := c.replicaSets.ReplicaSets(ns).Get(ref.Name)
		if err != nil || rs.UID != ref.UID {
			return "", 0, false, nil
		}
		owner := metav1.GetControllerOfNoCopy(rs)
		if owner == nil || owner.Kind != "Deployment" {
			return rs.UID, replicasOf(rs), true, nil
		}
		if d, err := c.deployments.Deployments(ns).Get(owner.Name); err == nil && d.UID == owner.UID {
			return d.UID, replicasOf(d), true, nil
		}
		return "", 0, false, nil
	case gv.Group == "apps" && ref.Kind == "StatefulSet":
		if sts, err := c.statefulSets.StatefulSets(ns).Get(ref.Name); err == nil && sts.UID == ref.UID {
			return sts.UID, replicasOf(sts), true, nil
		}
		return "", 0, false, nil
	}
	sc, err := c.scales.Scale(ctx, gv.WithKind(ref.Kind), ns, ref.Name)
	if err != nil {
		return "", 0, false, err
	}
	if sc == nil || sc.UID != ref.UID {
		return "", 0, false, nil
	}
	return sc.UID, sc.Spec.Replicas, true, nil
}

// resetStaleDisruption sets a stale DisruptionTarget condition to False,
// or waits until it becomes stale.
func (c *Controller) resetStaleDisruption(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pod, err := c.pods.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get pod %s: %w", key, err)
	}
	now := c.clock.Now()
	stale, after := StaleDisruption(pod, now)
	if !stale {
		return nil
	}
	if after > 0 {
		c.queue.AddAfter(podKeyPrefix+key, after)
		return nil
	}
	upd := pod.DeepCopy()
	for i := range upd.Status.Conditions {
		if upd.Status.Conditions[i].Type == corev1.DisruptionTarget {
			upd.Status.Conditions[i] = corev1.PodCondition{
				Type: corev1.DisruptionTarget, Status: corev1.ConditionFalse,
				LastTransitionTime: metav1.NewTime(now.Truncate(time.Second)),
			}
		}
	}
	_, err = c.client.CoreV1().Pods(ns).UpdateStatus(ctx, upd, metav1.UpdateOptions{FieldManager: fieldManager})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reset DisruptionTarget condition of pod %s: %w", key, err)
	}
	c.log.Info("reset stale DisruptionTarget condition", "pod", key)
	return nil
}
