package garbagecollector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// reconcile brings one object (by UID) in line with its owners and its
// dependents. Running it again changes nothing.
func (c *Controller) reconcile(ctx context.Context, key string) error {
	n, ok := c.graph.get(types.UID(key))
	if !ok {
		return nil
	}
	if !n.Observed {
		return c.verifyVirtual(ctx, n)
	}
	if n.Orphan {
		if err := c.orphanDependents(ctx, n); err != nil {
			return err
		}
	}
	if n.Foreground {
		return c.deleteDependentsFirst(ctx, n)
	}
	if n.Deleting || len(n.Owners) == 0 {
		return nil
	}
	return c.collect(ctx, n)
}

// verifyVirtual checks an owner that dependents name but no informer has
// reported; if it does not exist its dependents may be garbage.
func (c *Controller) verifyVirtual(ctx context.Context, n nodeView) error {
	if n.Absent {
		return nil
	}
	info, err := c.lookup(n.ID.APIVersion, n.ID.Kind)
	if err != nil {
		return fmt.Errorf("resolve owner %s %s: %w", n.ID.Kind, n.ID.Name, err)
	}
	if info.Namespaced && n.ID.Namespace == "" {
		// Only cluster-scoped dependents name it: they cannot have a
		// namespaced owner, and report that themselves.
		c.enqueue(n.Dependents)
		return nil
	}
	ns := ""
	if info.Namespaced {
		ns = n.ID.Namespace
	}
	live, found, err := c.getLive(ctx, info.Resource, ns, n.ID.Name)
	if err != nil {
		return err
	}
	if found && live.UID == n.ID.UID {
		// It exists; its informer will report it.
		return nil
	}
	c.enqueue(c.graph.markAbsent(n.ID.UID))
	return nil
}

// orphanDependents removes every dependent's reference to n and then
// n's orphan finalizer, so that n's deletion completes without them.
func (c *Controller) orphanDependents(ctx context.Context, n nodeView) error {
	if !c.synced() {
		return errNotSynced
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, d := range c.graph.dependents(n.ID.UID) {
		g.Go(func() error {
			err := c.updateMeta(gctx, d.Resource, d.ID.Namespace, d.ID.Name, d.ID.UID, viewMeta(d), func(live *metav1.PartialObjectMetadata) map[string]any {
				if findRef(live.OwnerReferences, n.ID.UID) == nil {
					return nil
				}
				return map[string]any{"ownerReferences": refsOrNull(withoutRefs(live.OwnerReferences, []types.UID{n.ID.UID}))}
			})
			if err != nil {
				return fmt.Errorf("orphan %s %s/%s: %w", d.ID.Kind, d.ID.Namespace, d.ID.Name, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if err := c.removeFinalizer(ctx, n, metav1.FinalizerOrphanDependents); err != nil {
		return err
	}
	c.log.Debug("dependents orphaned", "kind", n.ID.Kind, "namespace", n.ID.Namespace, "name", n.ID.Name)
	return nil
}

// deleteDependentsFirst drives a foreground deletion: dependents are
// deleted (they process themselves), and n's finalizer goes once no
// dependent blocks it.
func (c *Controller) deleteDependentsFirst(ctx context.Context, n nodeView) error {
	if !c.synced() {
		return errNotSynced
	}
	if len(c.graph.blockingDependents(n.ID.UID)) == 0 {
		if err := c.removeFinalizer(ctx, n, metav1.FinalizerDeleteDependents); err != nil {
			return err
		}
		c.log.Debug("foreground deletion released", "kind", n.ID.Kind, "namespace", n.ID.Namespace, "name", n.ID.Name)
		return nil
	}
	// The graph wakes n again whenever a dependent goes or stops
	// blocking.
	for _, d := range c.graph.dependents(n.ID.UID) {
		if !d.Deleting || d.Foreground {
			c.queue.Add(string(d.ID.UID))
		}
	}
	return nil
}

// collect deletes n, or drops some of its references, when its owners
// are gone or are deleting their dependents.
func (c *Controller) collect(ctx context.Context, n nodeView) error {
	owners := map[types.UID]nodeView{}
	allSolid := true
	for _, ref := range n.Owners {
		o, ok := c.graph.get(ref.UID)
		owners[ref.UID] = o
		if !graphSaysSolid(ref, n.ID.Namespace, o, ok) {
			allSolid = false
		}
	}
	if allSolid {
		return nil
	}
	// The graph's view decides first: every write it leads to is
	// conditional on the object's resourceVersion, so a stale view only
	// costs a conflict, after which the object is read live.
	err := c.collectFrom(ctx, n, owners, viewMeta(n))
	if !apierrors.IsConflict(err) {
		return err
	}
	live, found, err := c.getLive(ctx, n.Resource, n.ID.Namespace, n.ID.Name)
	if err != nil {
		return err
	}
	if !found || live.UID != n.ID.UID || live.DeletionTimestamp != nil {
		// Gone, replaced or already going: the informer will report the
		// new state.
		return nil
	}
	return c.collectFrom(ctx, n, owners, live)
}

// viewMeta is the graph's view of n as the API would return it.
func viewMeta(n nodeView) *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
		Namespace: n.ID.Namespace, Name: n.ID.Name, UID: n.ID.UID, ResourceVersion: n.ResourceVersion,
		Finalizers: n.Finalizers, OwnerReferences: n.Owners,
	}}
}

// collectFrom decides on n as cur shows it and acts, conditionally on
// cur's resourceVersion: a Conflict means cur was stale.
func (c *Controller) collectFrom(ctx context.Context, n nodeView, owners map[types.UID]nodeView, cur *metav1.PartialObjectMetadata) error {
	refs := cur.OwnerReferences
	if len(refs) == 0 {
		return nil
	}
	var err error
	states := make([]ownerState, len(refs))
	for i, ref := range refs {
		o, ok := owners[ref.UID]
		if !ok {
			o, ok = c.graph.get(ref.UID)
		}
		if graphSaysSolid(ref, n.ID.Namespace, o, ok) {
			states[i] = ownerSolid
			continue
		}
		states[i], err = c.ownerState(ctx, n, ref)
		if err != nil {
			return err
		}
		if states[i] == ownerAbsent && n.ID.Namespace != "" && ok && o.Observed && o.ID.Namespace != "" && o.ID.Namespace != n.ID.Namespace {
			c.event(n, corev1.EventTypeWarning, "OwnerRefInvalidNamespace",
				"ownerRef [%s, namespace: %s, name: %s, uid: %s] does not exist in namespace %q",
				gvkString(ref), o.ID.Namespace, ref.Name, ref.UID, n.ID.Namespace)
		}
	}
	act := decideDependent(dependentFacts{
		Owners:              refs,
		States:              states,
		Finalizers:          cur.Finalizers,
		HasDependents:       len(n.Dependents) > 0,
		ForegroundDependent: c.graph.hasForegroundDependent(n.ID.UID),
	})
	switch {
	case act.Unresolvable:
		for i, ref := range refs {
			if states[i] == ownerUnresolvable {
				c.event(n, corev1.EventTypeWarning, "OwnerRefInvalidNamespace",
					"ownerRef [%s, name: %s, uid: %s] names a namespaced kind; a cluster-scoped object can only have cluster-scoped owners",
					gvkString(ref), ref.Name, ref.UID)
			}
		}
		// Retrying cannot fix the reference: only its owner's user can.
		return nil
	case len(act.RemoveRefs) > 0:
		changed := false
		err := c.updateMeta(ctx, n.Resource, n.ID.Namespace, n.ID.Name, n.ID.UID, cur, func(now *metav1.PartialObjectMetadata) map[string]any {
			if !slices.EqualFunc(now.OwnerReferences, refs, sameRef) {
				// Someone else changed the references meanwhile: the
				// decision no longer holds.
				changed = true
				return nil
			}
			return map[string]any{"ownerReferences": refsOrNull(withoutRefs(refs, act.RemoveRefs))}
		})
		if changed {
			c.queue.Add(string(n.ID.UID))
			return nil
		}
		if err != nil {
			return fmt.Errorf("remove dangling ownerReferences from %s %s/%s: %w", n.ID.Kind, n.ID.Namespace, n.ID.Name, err)
		}
		c.log.Debug("removed ownerReferences", "kind", n.ID.Kind, "namespace", n.ID.Namespace, "name", n.ID.Name, "owners", act.RemoveRefs)
		return nil
	case !act.Delete:
		return nil
	}
	if len(act.UnblockRefs) > 0 {
		err := c.updateMeta(ctx, n.Resource, n.ID.Namespace, n.ID.Name, n.ID.UID, nil, func(now *metav1.PartialObjectMetadata) map[string]any {
			next := unblocked(now.OwnerReferences, act.UnblockRefs)
			if slices.EqualFunc(next, now.OwnerReferences, sameRef) {
				return nil
			}
			return map[string]any{"ownerReferences": next}
		})
		if err != nil {
			return fmt.Errorf("unblock ownerReferences of %s %s/%s: %w", n.ID.Kind, n.ID.Namespace, n.ID.Name, err)
		}
		// The patch changed the resourceVersion: delete from a fresh read.
		return apierrors.NewConflict(schema.GroupResource{Group: n.Resource.Group, Resource: n.Resource.Resource}, n.ID.Name, errors.New("references unblocked"))
	}
	policy := act.Policy
	uid, rv := n.ID.UID, cur.ResourceVersion
	err = c.meta.Resource(n.Resource).Namespace(n.ID.Namespace).Delete(ctx, n.ID.Name, metav1.DeleteOptions{
		Preconditions:     &metav1.Preconditions{UID: &uid, ResourceVersion: &rv},
		PropagationPolicy: &policy,
	})
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case apierrors.IsConflict(err):
		// Changed or replaced since cur was read.
		return err
	case err != nil:
		return fmt.Errorf("delete %s %s/%s: %w", n.ID.Kind, n.ID.Namespace, n.ID.Name, err)
	}
	c.log.Debug("deleted garbage", "kind", n.ID.Kind, "namespace", n.ID.Namespace, "name", n.ID.Name, "propagation", policy)
	return nil
}

// ownerState looks the owner ref names up, live: informers lag, and an
// owner must never be taken for absent because its create has not been
// seen yet.
func (c *Controller) ownerState(ctx context.Context, n nodeView, ref metav1.OwnerReference) (ownerState, error) {
	info, err := c.lookup(ref.APIVersion, ref.Kind)
	if err != nil {
		return 0, fmt.Errorf("resolve owner %s %s: %w", ref.Kind, ref.Name, err)
	}
	if info.Namespaced && n.ID.Namespace == "" {
		return ownerUnresolvable, nil
	}
	ns := ""
	if info.Namespaced {
		ns = n.ID.Namespace
	}
	key := absentKey{UID: ref.UID, Namespace: ns}
	if _, ok := c.absent.Get(key); ok {
		return ownerAbsent, nil
	}
	live, found, err := c.getLive(ctx, info.Resource, ns, ref.Name)
	if err != nil {
		return 0, err
	}
	st := ownerStateOf(ref, false, "", false, nil)
	if found {
		st = ownerStateOf(ref, true, live.UID, live.DeletionTimestamp != nil, live.Finalizers)
	}
	if st == ownerAbsent {
		c.absent.Add(key, struct{}{})
	}
	return st, nil
}

// absentKey names an owner verified absent where a dependent looks for
// it. UIDs are never reused and objects never change namespace, so the
// answer holds forever; it only saves the GET for the owner's other
// dependents.
type absentKey struct {
	UID       types.UID
	Namespace string
}

func (c *Controller) getLive(ctx context.Context, gvr schema.GroupVersionResource, ns, name string) (*metav1.PartialObjectMetadata, bool, error) {
	live, err := c.meta.Resource(gvr).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("get %s %s/%s: %w", gvr.Resource, ns, name, err)
	}
	return live, true, nil
}

// updateMeta patches metadata fields of the object with uid as mutate
// computes them from its state, guarded by its resourceVersion, and
// retries on conflicts from a live read. first, when set, is the graph's
// view, tried before reading: usually it is current. mutate returning nil
// means nothing to change. A missing or replaced object needs no change.
func (c *Controller) updateMeta(ctx context.Context, gvr schema.GroupVersionResource, ns, name string, uid types.UID, first *metav1.PartialObjectMetadata, mutate func(*metav1.PartialObjectMetadata) map[string]any) error {
	var err error
	for attempt := range 5 {
		live := first
		if attempt > 0 || first == nil || first.ResourceVersion == "" {
			var found bool
			var gerr error
			live, found, gerr = c.getLive(ctx, gvr, ns, name)
			if gerr != nil {
				return gerr
			}
			if !found || live.UID != uid {
				return nil
			}
		}
		fields := mutate(live)
		if fields == nil {
			return nil
		}
		md := map[string]any{"uid": uid, "resourceVersion": live.ResourceVersion}
		for k, v := range fields {
			md[k] = v
		}
		data, merr := json.Marshal(map[string]any{"metadata": md})
		if merr != nil {
			return fmt.Errorf("encode patch: %w", merr)
		}
		_, err = c.meta.Resource(gvr).Namespace(ns).Patch(ctx, name, types.MergePatchType, data, metav1.PatchOptions{FieldManager: fieldManager})
		switch {
		case err == nil, apierrors.IsNotFound(err):
			return nil
		case apierrors.IsConflict(err):
			continue
		}
		return fmt.Errorf("patch %s %s/%s: %w", gvr.Resource, ns, name, err)
	}
	return fmt.Errorf("patch %s %s/%s: %w", gvr.Resource, ns, name, err)
}

// removeFinalizer removes finalizer f from n while n is being deleted.
func (c *Controller) removeFinalizer(ctx context.Context, n nodeView, f string) error {
	first := viewMeta(n)
	if n.Deleting {
		now := metav1.Now()
		first.DeletionTimestamp = &now
	}
	err := c.updateMeta(ctx, n.Resource, n.ID.Namespace, n.ID.Name, n.ID.UID, first, func(live *metav1.PartialObjectMetadata) map[string]any {
		if live.DeletionTimestamp == nil || !slices.Contains(live.Finalizers, f) {
			return nil
		}
		rest := slices.DeleteFunc(slices.Clone(live.Finalizers), func(x string) bool { return x == f })
		if len(rest) == 0 {
			return map[string]any{"finalizers": nil}
		}
		return map[string]any{"finalizers": rest}
	})
	if err != nil {
		return fmt.Errorf("remove finalizer %s from %s %s/%s: %w", f, n.ID.Kind, n.ID.Namespace, n.ID.Name, err)
	}
	return nil
}

func (c *Controller) event(n nodeView, eventType, reason, format string, args ...any) {
	c.log.Warn("invalid ownerReference", "kind", n.ID.Kind, "namespace", n.ID.Namespace, "name", n.ID.Name, "reason", reason, "detail", fmt.Sprintf(format, args...))
	if c.recorder == nil {
		return
	}
	ref := &corev1.ObjectReference{APIVersion: n.ID.APIVersion, Kind: n.ID.Kind, Namespace: n.ID.Namespace, Name: n.ID.Name, UID: n.ID.UID}
	c.recorder.Eventf(ref, eventType, reason, format, args...)
}

// refsOrNull encodes an empty reference list as null, which a merge patch
// reads as "remove the field".
func refsOrNull(refs []metav1.OwnerReference) any {
	if len(refs) == 0 {
		return nil
	}
	return refs
}

func sameRef(a, b metav1.OwnerReference) bool {
	return a.UID == b.UID && a.APIVersion == b.APIVersion && a.Kind == b.Kind && a.Name == b.Name &&
		blocks(a) == blocks(b) && (a.Controller != nil && *a.Controller) == (b.Controller != nil && *b.Controller)
}

func gvkString(ref metav1.OwnerReference) string {
	return ref.APIVersion + "/" + ref.Kind
}
