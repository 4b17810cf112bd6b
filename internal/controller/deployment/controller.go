// Package deployment owns the Deployment controller: it keeps one
// ReplicaSet per pod template revision (named <deployment>-<pod-template-hash>),
// rolls pods from old ReplicaSets to the new one with the RollingUpdate or
// Recreate strategy, spreads replica changes proportionally in the middle
// of a rollout, records revisions and change-causes on ReplicaSets for
// kubectl rollout history/undo, trims history to revisionHistoryLimit,
// honours spec.paused, and reports status and the Progressing and
// Available conditions, as Kubernetes documents.
//
// The rollout arithmetic (rollout.go) and status rules (status.go) are
// pure; this file does the I/O. Only internal/node (wiring) and tests
// import the package.
package deployment

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/gureum/gureum/internal/controller/replicaset"
	ctrlruntime "github.com/gureum/gureum/internal/controller/runtime"
)

const fieldOwner = "gureum-deployment-controller"

// Controller reconciles Deployments by namespace/name.
type Controller struct {
	client    kubernetes.Interface
	factory   informers.SharedInformerFactory
	clk       clock.Clock
	log       *slog.Logger
	queue     workqueue.TypedRateLimitingInterface[string]
	dLister   appslisters.DeploymentLister
	rsLister  appslisters.ReplicaSetLister
	podLister corelisters.PodLister
	synced    []cache.InformerSynced
	broadcast record.EventBroadcaster
	recorder  record.EventRecorder
	workers   int
}

// New builds the Deployment controller on factory's informers.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, clk clock.Clock, log *slog.Logger) *Controller {
	broadcast := record.NewBroadcaster()
	qcfg := workqueue.TypedRateLimitingQueueConfig[string]{Name: "deployment"}
	if wt, ok := clk.(clock.WithTicker); ok {
		// Progress-deadline rechecks follow the injected clock.
		qcfg.Clock = wt
	}
	c := &Controller{
		client:    client,
		factory:   factory,
		clk:       clk,
		log:       log,
		queue:     workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](), qcfg),
		broadcast: broadcast,
		recorder:  broadcast.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "deployment-controller"}),
		workers:   5,
	}
	dInf := factory.Apps().V1().Deployments()
	rsInf := factory.Apps().V1().ReplicaSets()
	podInf := factory.Core().V1().Pods()
	c.dLister, c.rsLister, c.podLister = dInf.Lister(), rsInf.Lister(), podInf.Lister()
	c.synced = []cache.InformerSynced{dInf.Informer().HasSynced, rsInf.Informer().HasSynced, podInf.Informer().HasSynced}
	enqueue := func(obj interface{}) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			c.queue.Add(key)
		}
	}
	_, _ = dInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj interface{}) { enqueue(obj) },
		DeleteFunc: enqueue,
	})
	_, _ = rsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addReplicaSet,
		UpdateFunc: c.updateReplicaSet,
		DeleteFunc: c.deleteReplicaSet,
	})
	_, _ = podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: c.deletePod})
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

// --- event handlers ----------------------------------------------------------

func (c *Controller) deploymentFor(ns string, ref *metav1.OwnerReference) *appsv1.Deployment {
	if ref == nil || ref.Kind != "Deployment" {
		return nil
	}
	d, err := c.dLister.Deployments(ns).Get(ref.Name)
	if err != nil || d.UID != ref.UID {
		return nil
	}
	return d
}

func (c *Controller) enqueueDeployment(d *appsv1.Deployment) {
	c.queue.Add(d.Namespace + "/" + d.Name)
}

// enqueueMatching wakes the Deployments whose selector matches an orphan
// ReplicaSet, so one can adopt it.
func (c *Controller) enqueueMatching(rs *appsv1.ReplicaSet) {
	ds, err := c.dLister.Deployments(rs.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, d := range ds {
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || sel.Empty() {
			continue
		}
		if sel.Matches(labels.Set(rs.Labels)) {
			c.enqueueDeployment(d)
		}
	}
}

func (c *Controller) addReplicaSet(obj interface{}) {
	rs, ok := obj.(*appsv1.ReplicaSet)
	if !ok {
		return
	}
	if ref := metav1.GetControllerOfNoCopy(rs); ref != nil {
		if d := c.deploymentFor(rs.Namespace, ref); d != nil {
			c.enqueueDeployment(d)
		}
		return
	}
	c.enqueueMatching(rs)
}

func (c *Controller) updateReplicaSet(oldObj, curObj interface{}) {
	old, ok1 := oldObj.(*appsv1.ReplicaSet)
	cur, ok2 := curObj.(*appsv1.ReplicaSet)
	if !ok1 || !ok2 || old.ResourceVersion == cur.ResourceVersion {
		return
	}
	oldRef, curRef := metav1.GetControllerOfNoCopy(old), metav1.GetControllerOfNoCopy(cur)
	refChanged := (oldRef == nil) != (curRef == nil) || (oldRef != nil && oldRef.UID != curRef.UID)
	if refChanged && oldRef != nil {
		if d := c.deploymentFor(old.Namespace, oldRef); d != nil {
			c.enqueueDeployment(d)
		}
	}
	if curRef != nil {
		if d := c.deploymentFor(cur.Namespace, curRef); d != nil {
			c.enqueueDeployment(d)
		}
		return
	}
	if refChanged || !labels.Equals(old.Labels, cur.Labels) {
		c.enqueueMatching(cur)
	}
}

func (c *Controller) deleteReplicaSet(obj interface{}) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	rs, ok := obj.(*appsv1.ReplicaSet)
	if !ok {
		return
	}
	if d := c.deploymentFor(rs.Namespace, metav1.GetControllerOfNoCopy(rs)); d != nil {
		c.enqueueDeployment(d)
	}
}

// deletePod matters only to Recreate, which waits for every old pod to
// be gone before starting new ones.
func (c *Controller) deletePod(obj interface{}) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	ref := metav1.GetControllerOfNoCopy(pod)
	if ref == nil || ref.Kind != "ReplicaSet" {
		return
	}
	rs, err := c.rsLister.ReplicaSets(pod.Namespace).Get(ref.Name)
	if err != nil || rs.UID != ref.UID {
		return
	}
	if d := c.deploymentFor(rs.Namespace, metav1.GetControllerOfNoCopy(rs)); d != nil && d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		c.enqueueDeployment(d)
	}
}

// --- reconcile ---------------------------------------------------------------

func (c *Controller) reconcile(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cached, err := c.dLister.Deployments(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get deployment %s: %w", key, err)
	}
	d := cached.DeepCopy()
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || sel.Empty() {
		c.recorder.Eventf(d, corev1.EventTypeWarning, ReasonSelectingAll, "This deployment is selecting all pods. A non-empty selector is required.")
		if d.Status.ObservedGeneration < d.Generation {
			d.Status.ObservedGeneration = d.Generation
			return c.updateStatus(ctx, d)
		}
		return nil
	}
	rsList, err := c.claimReplicaSets(ctx, d, sel)
	if err != nil {
		return err
	}
	if d.DeletionTimestamp != nil {
		return c.syncStatusOnly(ctx, d, rsList)
	}
	if err := c.checkPausedConditions(ctx, d); err != nil {
		return err
	}
	if d.Spec.Paused {
		return c.sync(ctx, d, rsList)
	}
	scaling, err := c.isScalingEvent(ctx, d, rsList)
	if err != nil {
		return err
	}
	if scaling {
		return c.sync(ctx, d, rsList)
	}
	if d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		return c.rolloutRecreate(ctx, d, rsList, sel)
	}
	return c.rolloutRolling(ctx, d, rsList)
}

func (c *Controller) updateStatus(ctx context.Context, d *appsv1.Deployment) error {
	updated, err := c.client.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, d, metav1.UpdateOptions{FieldManager: fieldOwner})
	if apierrors.IsNotFound(err) {
		return nil // deleted meanwhile: its delete event ends the work
	}
	if err != nil {
		return fmt.Errorf("update status of deployment %s/%s: %w", d.Namespace, d.Name, err)
	}
	*d = *updated
	return nil
}

func controllerRef(d *appsv1.Deployment) metav1.OwnerReference {
	t := true
	return metav1.OwnerReference{APIVersion: "apps/v1", Kind: "Deployment", Name: d.Name, UID: d.UID, Controller: &t, BlockOwnerDeletion: &t}
}

// claimReplicaSets adopts matching orphan ReplicaSets and releases owned
// ones that stopped matching; it returns the ones the Deployment owns.
func (c *Controller) claimReplicaSets(ctx context.Context, d *appsv1.Deployment, sel labels.Selector) ([]*appsv1.ReplicaSet, error) {
	all, err := c.rsLister.ReplicaSets(d.Namespace).List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("list replicasets in %s: %w", d.Namespace, err)
	}
	var out []*appsv1.ReplicaSet
	var canAdopt *bool
	for _, rs := range all {
		switch replicaset.DecideClaim(d.UID, d.DeletionTimestamp != nil, sel, rs) {
		case replicaset.Keep:
			out = append(out, rs)
		case replicaset.Adopt:
			if canAdopt == nil {
				// The cache may lag: adopt only if a fresh read shows the
				// same Deployment, still alive.
				fresh, err := c.client.AppsV1().Deployments(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
				ok := err == nil && fresh.UID == d.UID && fresh.DeletionTimestamp == nil
				canAdopt = &ok
			}
			if !*canAdopt {
				continue
			}
			patch, err := json.Marshal(map[string]interface{}{"metadata": map[string]interface{}{
				"ownerReferences": []metav1.OwnerReference{controllerRef(d)}, "uid": rs.UID}})
			if err != nil {
				return nil, err
			}
			adopted, err := c.client.AppsV1().ReplicaSets(rs.Namespace).Patch(ctx, rs.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{FieldManager: fieldOwner})
			if apierrors.IsNotFound(err) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("adopt replicaset %s/%s: %w", rs.Namespace, rs.Name, err)
			}
			out = append(out, adopted)
		case replicaset.Release:
			patch := fmt.Sprintf(`{"metadata":{"ownerReferences":[{"$patch":"delete","uid":%q}],"uid":%q}}`, d.UID, rs.UID)
			_, err := c.client.AppsV1().ReplicaSets(rs.Namespace).Patch(ctx, rs.Name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{FieldManager: fieldOwner})
			if err != nil && !apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("release replicaset %s/%s: %w", rs.Namespace, rs.Name, err)
			}
		}
	}
	return out, nil
}

// byCreation orders ReplicaSets oldest first (name breaks ties).
func byCreation(rss []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	out := append([]*appsv1.ReplicaSet(nil), rss...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.Name < b.Name
		}
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	})
	return out
}

// FindNewReplicaSet is the oldest ReplicaSet whose template is the
// Deployment's, or nil.
func FindNewReplicaSet(d *appsv1.Deployment, rss []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	for _, rs := range byCreation(rss) {
		if EqualIgnoreHash(&rs.Spec.Template, &d.Spec.Template) {
			return rs
		}
	}
	return nil
}

func specReplicas(rs *appsv1.ReplicaSet) int32 {
	if rs.Spec.Replicas == nil {
		return 1
	}
	return *rs.Spec.Replicas
}

func active(rss []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	var out []*appsv1.ReplicaSet
	for _, rs := range rss {
		if rs != nil && specReplicas(rs) > 0 {
			out = append(out, rs)
		}
	}
	return out
}

func withNew(old []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	out := append([]*appsv1.ReplicaSet(nil), old...)
	if newRS != nil {
		out = append(out, newRS)
	}
	return out
}

func stateOf(rs *appsv1.ReplicaSet) RSState {
	st := RSState{Name: rs.Name, Created: rs.CreationTimestamp.Time, Replicas: specReplicas(rs), Available: rs.Status.AvailableReplicas}
	st.MaxReplicas, st.HasMaxReplicas = intAnnotation(rs.Annotations, MaxReplicasAnnotation)
	return st
}

// allReplicaSets splits the Deployment's ReplicaSets into the new one
// (created when asked and missing) and the old ones, bringing revision
// annotations up to date.
func (c *Controller) allReplicaSets(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet, create bool) (*appsv1.ReplicaSet, []*appsv1.ReplicaSet, error) {
	existing := FindNewReplicaSet(d, rsList)
	var old []*appsv1.ReplicaSet
	for _, rs := range rsList {
		if rs != existing {
			old = append(old, rs)
		}
	}
	newRS, err := c.newReplicaSet(ctx, d, existing, old, create)
	return newRS, old, err
}

func setDeploymentRevision(d *appsv1.Deployment, revision string) bool {
	if d.Annotations[RevisionAnnotation] == revision {
		return false
	}
	if d.Annotations == nil {
		d.Annotations = map[string]string{}
	}
	d.Annotations[RevisionAnnotation] = revision
	return true
}

func (c *Controller) newReplicaSet(ctx context.Context, d *appsv1.Deployment, existing *appsv1.ReplicaSet, old []*appsv1.ReplicaSet, create bool) (*appsv1.ReplicaSet, error) {
	newRevision := strconv.FormatInt(MaxRevision(old)+1, 10)
	surge := MaxSurge(d)
	if existing != nil {
		rs := existing.DeepCopy()
		annotationsChanged := SetNewRSAnnotations(d, rs, newRevision, true, surge)
		if annotationsChanged || rs.Spec.MinReadySeconds != d.Spec.MinReadySeconds {
			rs.Spec.MinReadySeconds = d.Spec.MinReadySeconds
			updated, err := c.client.AppsV1().ReplicaSets(rs.Namespace).Update(ctx, rs, metav1.UpdateOptions{FieldManager: fieldOwner})
			if err != nil {
				return nil, fmt.Errorf("update replicaset %s/%s: %w", rs.Namespace, rs.Name, err)
			}
			return updated, nil
		}
		needsUpdate := setDeploymentRevision(d, rs.Annotations[RevisionAnnotation])
		if hasProgressDeadline(d) && GetCondition(d.Status, progressingCondition) == nil {
			SetCondition(&d.Status, newCondition(progressingCondition, corev1.ConditionTrue, ReasonFoundNewRS,
				fmt.Sprintf("Found new replica set %q", rs.Name), c.clk.Now()))
			needsUpdate = true
		}
		if needsUpdate {
			if err := c.updateStatus(ctx, d); err != nil {
				return nil, err
			}
		}
		return rs, nil
	}
	if !create {
		return nil, nil
	}

	hash := ComputeHash(&d.Spec.Template, d.Status.CollisionCount)
	tmpl := d.Spec.Template.DeepCopy()
	if tmpl.Labels == nil {
		tmpl.Labels = map[string]string{}
	}
	tmpl.Labels[PodTemplateHashLabel] = hash
	sel := d.Spec.Selector.DeepCopy()
	if sel.MatchLabels == nil {
		sel.MatchLabels = map[string]string{}
	}
	sel.MatchLabels[PodTemplateHashLabel] = hash
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name:            d.Name + "-" + hash,
			Namespace:       d.Namespace,
			OwnerReferences: []metav1.OwnerReference{controllerRef(d)},
			Labels:          tmpl.Labels,
		},
		Spec: appsv1.ReplicaSetSpec{MinReadySeconds: d.Spec.MinReadySeconds, Selector: sel, Template: *tmpl},
	}
	zero := int32(0)
	rs.Spec.Replicas = &zero
	desired := replicasOfDeployment(d)
	n := desired
	if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		var oldStates []RSState
		for _, o := range old {
			oldStates = append(oldStates, stateOf(o))
		}
		n = NewRSReplicas(desired, surge, RSState{}, oldStates)
	}
	rs.Spec.Replicas = &n
	SetNewRSAnnotations(d, rs, newRevision, false, surge)

	created, err := c.client.AppsV1().ReplicaSets(d.Namespace).Create(ctx, rs, metav1.CreateOptions{FieldManager: fieldOwner})
	alreadyExists := false
	switch {
	case apierrors.IsAlreadyExists(err):
		alreadyExists = true
		cur, getErr := c.rsLister.ReplicaSets(d.Namespace).Get(rs.Name)
		if getErr != nil {
			return nil, fmt.Errorf("get replicaset %s after create conflict: %w", rs.Name, getErr)
		}
		if ref := metav1.GetControllerOfNoCopy(cur); ref != nil && ref.UID == d.UID && EqualIgnoreHash(&d.Spec.Template, &cur.Spec.Template) {
			// Ours already: our cache had not seen it yet.
			created = cur
			err = nil
			break
		}
		// A true hash collision: a different template under this name.
		// Bumping collisionCount changes the hash on the next attempt.
		cc := int32(0)
		if d.Status.CollisionCount != nil {
			cc = *d.Status.CollisionCount
		}
		cc++
		d.Status.CollisionCount = &cc
		c.log.Info("pod template hash collision; retrying with a new collision count", "deployment", d.Namespace+"/"+d.Name, "replicaset", rs.Name, "collisionCount", cc)
		if uerr := c.updateStatus(ctx, d); uerr != nil {
			return nil, uerr
		}
		return nil, fmt.Errorf("create replicaset %s: %w", rs.Name, err)
	case err != nil:
		msg := fmt.Sprintf("Failed to create new replica set %q: %v", rs.Name, err)
		c.recorder.Eventf(d, corev1.EventTypeWarning, ReasonFailedRSCreate, msg)
		if hasProgressDeadline(d) {
			SetCondition(&d.Status, newCondition(progressingCondition, corev1.ConditionFalse, ReasonRSCreateError, msg, c.clk.Now()))
			_ = c.updateStatus(ctx, d)
		}
		return nil, fmt.Errorf("create replicaset %s: %w", rs.Name, err)
	}
	if !alreadyExists && n > 0 {
		c.recorder.Eventf(d, corev1.EventTypeNormal, ReasonScalingReplicaSet, "Scaled up replica set %s from 0 to %d", created.Name, n)
	}
	needsUpdate := setDeploymentRevision(d, newRevision)
	if !alreadyExists && hasProgressDeadline(d) {
		SetCondition(&d.Status, newCondition(progressingCondition, corev1.ConditionTrue, ReasonNewRSCreated,
			fmt.Sprintf("Created new replica set %q", created.Name), c.clk.Now()))
		needsUpdate = true
	}
	if needsUpdate {
		if err := c.updateStatus(ctx, d); err != nil {
			return nil, err
		}
	}
	return created, nil
}

// scaleReplicaSet sets a ReplicaSet's size and its desired/max-replicas
// annotations; it reports whether it wrote and returns the result.
func (c *Controller) scaleReplicaSet(ctx context.Context, rs *appsv1.ReplicaSet, size int32, d *appsv1.Deployment) (*appsv1.ReplicaSet, bool, error) {
	from := specReplicas(rs)
	cp := rs.DeepCopy()
	annotationsChanged := setReplicasAnnotations(cp, replicasOfDeployment(d), replicasOfDeployment(d)+MaxSurge(d))
	if from == size && !annotationsChanged {
		return rs, false, nil
	}
	cp.Spec.Replicas = &size
	updated, err := c.client.AppsV1().ReplicaSets(cp.Namespace).Update(ctx, cp, metav1.UpdateOptions{FieldManager: fieldOwner})
	if err != nil {
		return rs, false, fmt.Errorf("scale replicaset %s/%s to %d: %w", rs.Namespace, rs.Name, size, err)
	}
	if from != size {
		op := "up"
		if size < from {
			op = "down"
		}
		c.recorder.Eventf(d, corev1.EventTypeNormal, ReasonScalingReplicaSet, "Scaled %s replica set %s from %d to %d", op, rs.Name, from, size)
	}
	return updated, true, nil
}

// isScalingEvent: spec.replicas changed since an active ReplicaSet was
// last sized, so this sync should only resize, not roll.
func (c *Controller) isScalingEvent(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) (bool, error) {
	newRS, old, err := c.allReplicaSets(ctx, d, rsList, false)
	if err != nil {
		return false, err
	}
	for _, rs := range active(withNew(old, newRS)) {
		if v, ok := intAnnotation(rs.Annotations, DesiredReplicasAnnotation); ok && v != replicasOfDeployment(d) {
			return true, nil
		}
	}
	return false, nil
}

// sync resizes without rolling (paused Deployments, scaling events).
func (c *Controller) sync(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, old, err := c.allReplicaSets(ctx, d, rsList, false)
	if err != nil {
		return err
	}
	if err := c.scale(ctx, d, newRS, old); err != nil {
		return err
	}
	if d.Spec.Paused {
		if err := c.cleanup(ctx, d, old); err != nil {
			return err
		}
	}
	return c.syncStatusOnlyWith(ctx, d, withNew(old, newRS), newRS)
}

func (c *Controller) syncStatusOnly(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, old, err := c.allReplicaSets(ctx, d, rsList, false)
	if err != nil {
		return err
	}
	return c.syncStatusOnlyWith(ctx, d, withNew(old, newRS), newRS)
}

func (c *Controller) syncStatusOnlyWith(ctx context.Context, d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) error {
	st := CalculateStatus(d, all, newRS, c.clk.Now())
	if statusEqual(st, d.Status) {
		return nil
	}
	d.Status = st
	return c.updateStatus(ctx, d)
}

// scale applies a replicas change: to the only active ReplicaSet, or
// (when the new one is saturated) by dropping the old ones, or in the
// middle of a rolling update proportionally over all active ones.
func (c *Controller) scale(ctx context.Context, d *appsv1.Deployment, newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) error {
	desired := replicasOfDeployment(d)
	if target := activeOrLatest(newRS, old); target != nil {
		if specReplicas(target) == desired {
			return nil
		}
		_, _, err := c.scaleReplicaSet(ctx, target, desired, d)
		return err
	}
	if saturated(d, newRS) {
		for _, rs := range active(old) {
			if _, _, err := c.scaleReplicaSet(ctx, rs, 0, d); err != nil {
				return err
			}
		}
		return nil
	}
	if d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType {
		return nil
	}
	all := active(withNew(old, newRS))
	states := make([]RSState, len(all))
	for i, rs := range all {
		states[i] = stateOf(rs)
	}
	sizes := ProportionalSizes(desired, MaxSurge(d), d.Status.Replicas, states)
	for i, rs := range all {
		if _, _, err := c.scaleReplicaSet(ctx, rs, sizes[i], d); err != nil {
			return err
		}
	}
	return nil
}

// activeOrLatest is the single active ReplicaSet, or, when none is
// active, the new one or else the newest old one; nil when several are
// active.
func activeOrLatest(newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	act := active(withNew(old, newRS))
	switch len(act) {
	case 1:
		return act[0]
	case 0:
		if newRS != nil {
			return newRS
		}
		if len(old) > 0 {
			sorted := byCreation(old)
			return sorted[len(sorted)-1]
		}
	}
	return nil
}

func saturated(d *appsv1.Deployment, rs *appsv1.ReplicaSet) bool {
	if rs == nil {
		return false
	}
	desired, ok := intAnnotation(rs.Annotations, DesiredReplicasAnnotation)
	r := replicasOfDeployment(d)
	return ok && desired == r && specReplicas(rs) == r && rs.Status.AvailableReplicas == r
}

func (c *Controller) rolloutRolling(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, old, err := c.allReplicaSets(ctx, d, rsList, true)
	if err != nil {
		return err
	}
	old = byCreation(old)
	surge, unavailable := fenceposts(d)
	oldStates := make([]RSState, len(old))
	for i, rs := range old {
		oldStates[i] = stateOf(rs)
	}
	newTarget, oldTargets := RollingStep(replicasOfDeployment(d), surge, unavailable, stateOf(newRS), oldStates)
	if newTarget != specReplicas(newRS) {
		if newRS, _, err = c.scaleReplicaSet(ctx, newRS, newTarget, d); err != nil {
			return err
		}
		return c.syncRolloutStatus(ctx, d, withNew(old, newRS), newRS)
	}
	scaled := false
	for i, rs := range old {
		if oldTargets[i] == specReplicas(rs) {
			continue
		}
		if old[i], _, err = c.scaleReplicaSet(ctx, rs, oldTargets[i], d); err != nil {
			return err
		}
		scaled = true
	}
	if !scaled && Complete(d, &d.Status) {
		if err := c.cleanup(ctx, d, old); err != nil {
			return err
		}
	}
	return c.syncRolloutStatus(ctx, d, withNew(old, newRS), newRS)
}

func (c *Controller) rolloutRecreate(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet, sel labels.Selector) error {
	newRS, old, err := c.allReplicaSets(ctx, d, rsList, false)
	if err != nil {
		return err
	}
	scaledDown := false
	for i, rs := range old {
		if specReplicas(rs) == 0 {
			continue
		}
		if old[i], _, err = c.scaleReplicaSet(ctx, rs, 0, d); err != nil {
			return err
		}
		scaledDown = true
	}
	if scaledDown {
		return c.syncRolloutStatus(ctx, d, withNew(old, newRS), newRS)
	}
	running, err := c.oldPodsRunning(d, newRS, old, sel)
	if err != nil {
		return err
	}
	if running {
		// Recreate promises no overlap: new pods wait until every old
		// pod has terminated.
		return c.syncRolloutStatus(ctx, d, withNew(old, newRS), newRS)
	}
	if newRS == nil {
		if newRS, old, err = c.allReplicaSets(ctx, d, rsList, true); err != nil {
			return err
		}
	}
	if specReplicas(newRS) != replicasOfDeployment(d) {
		if newRS, _, err = c.scaleReplicaSet(ctx, newRS, replicasOfDeployment(d), d); err != nil {
			return err
		}
	}
	if Complete(d, &d.Status) {
		if err := c.cleanup(ctx, d, old); err != nil {
			return err
		}
	}
	return c.syncRolloutStatus(ctx, d, withNew(old, newRS), newRS)
}

// oldPodsRunning reports whether any pod of an old ReplicaSet has not
// terminated yet (including pods still shutting down).
func (c *Controller) oldPodsRunning(d *appsv1.Deployment, newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet, sel labels.Selector) (bool, error) {
	oldUIDs := map[types.UID]bool{}
	for _, rs := range old {
		if rs.Status.Replicas > 0 {
			return true, nil
		}
		oldUIDs[rs.UID] = true
	}
	pods, err := c.podLister.Pods(d.Namespace).List(sel)
	if err != nil {
		return false, fmt.Errorf("list pods of deployment %s/%s: %w", d.Namespace, d.Name, err)
	}
	for _, p := range pods {
		ref := metav1.GetControllerOfNoCopy(p)
		if ref == nil || !oldUIDs[ref.UID] || (newRS != nil && ref.UID == newRS.UID) {
			continue
		}
		if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			return true, nil
		}
	}
	return false, nil
}

// syncRolloutStatus writes the status a rollout step implies and, while
// the rollout is unfinished, schedules a look at its progress deadline.
func (c *Controller) syncRolloutStatus(ctx context.Context, d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) error {
	now := c.clk.Now()
	st := RolloutStatus(d, all, newRS, now)
	if statusEqual(st, d.Status) {
		if after := StuckRecheckAfter(d, st, now); after == 0 {
			c.queue.AddRateLimited(d.Namespace + "/" + d.Name)
		} else if after > 0 {
			c.queue.AddAfter(d.Namespace+"/"+d.Name, after)
		}
		return nil
	}
	d.Status = st
	return c.updateStatus(ctx, d)
}

// checkPausedConditions records pausing and resuming in the Progressing
// condition, so a paused rollout never counts against its deadline.
func (c *Controller) checkPausedConditions(ctx context.Context, d *appsv1.Deployment) error {
	if !hasProgressDeadline(d) {
		return nil
	}
	cond := GetCondition(d.Status, progressingCondition)
	if cond != nil && cond.Reason == ReasonTimedOut {
		return nil
	}
	pausedShown := cond != nil && cond.Reason == ReasonPaused
	switch {
	case d.Spec.Paused && !pausedShown:
		SetCondition(&d.Status, newCondition(progressingCondition, corev1.ConditionUnknown, ReasonPaused, "Deployment is paused", c.clk.Now()))
	case !d.Spec.Paused && pausedShown:
		SetCondition(&d.Status, newCondition(progressingCondition, corev1.ConditionUnknown, ReasonResumed, "Deployment is resumed", c.clk.Now()))
	default:
		return nil
	}
	return c.updateStatus(ctx, d)
}

// cleanup deletes the oldest unused ReplicaSets beyond
// revisionHistoryLimit; only fully scaled-down, settled ones go.
func (c *Controller) cleanup(ctx context.Context, d *appsv1.Deployment, old []*appsv1.ReplicaSet) error {
	if d.Spec.RevisionHistoryLimit == nil {
		return nil
	}
	var alive []*appsv1.ReplicaSet
	for _, rs := range old {
		if rs != nil && rs.DeletionTimestamp == nil {
			alive = append(alive, rs)
		}
	}
	excess := len(alive) - int(*d.Spec.RevisionHistoryLimit)
	if excess <= 0 {
		return nil
	}
	sort.SliceStable(alive, func(i, j int) bool {
		ri, rj := Revision(alive[i].Annotations), Revision(alive[j].Annotations)
		if ri != rj {
			return ri < rj
		}
		return alive[i].Name < alive[j].Name
	})
	for _, rs := range alive[:excess] {
		if rs.Status.Replicas != 0 || specReplicas(rs) != 0 || rs.Generation > rs.Status.ObservedGeneration {
			continue
		}
		err := c.client.AppsV1().ReplicaSets(rs.Namespace).Delete(ctx, rs.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &rs.UID}})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete old replicaset %s/%s: %w", rs.Namespace, rs.Name, err)
		}
	}
	return nil
}
