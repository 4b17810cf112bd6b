package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// An Eviction is a delete that asks the pod's PodDisruptionBudget first,
// with Kubernetes' rules (pkg/registry/core/pod/storage/eviction.go):
// planEviction decides from the pod and the budgets of its namespace,
// spendDisruption takes one allowed disruption from the budget, and
// evictPod carries the plan out. The disruption controller
// (internal/controller/disruption) computes the budgets' status; this
// file only spends it.

// maxDisruptedPods bounds status.disruptedPods: past it, evictions have
// been granted faster than the disruption controller confirms them, and
// more would be granted on numbers nobody has checked.
const maxDisruptedPods = 2000

// evictionFieldManager names the server's own writes made for an
// eviction, as Kubernetes makes them through its loopback client.
const evictionFieldManager = "gureum-eviction"

// maxPendingRetries bounds how often an eviction of a pod that kept
// changing while Pending is tried again.
const maxPendingRetries = 5

var pdbGVR = policyv1.SchemeGroupVersion.WithResource("poddisruptionbudgets")

type evictionAction int

const (
	// evictDelete deletes the pod without spending a budget: it has
	// finished, is already terminating, or no budget selects it.
	evictDelete evictionAction = iota
	// evictDeleteIfUnchanged deletes the pod without spending a budget,
	// but only if it is still the version the plan was made from: a
	// pending or unready pod must not have become Ready meanwhile.
	evictDeleteIfUnchanged
	// evictSpend takes one allowed disruption from the budget, then
	// deletes the pod.
	evictSpend
	// evictRefuse answers with the plan's error and deletes nothing.
	evictRefuse
)

// evictionPlan is what one eviction must do.
type evictionPlan struct {
	action evictionAction
	// pdb is the one budget that selects the pod, when the plan needs it.
	pdb *policyv1.PodDisruptionBudget
	err error
}

// planEviction decides how to evict pod given the budgets of its
// namespace. It reads both and changes neither.
func planEviction(pod *corev1.Pod, budgets []*policyv1.PodDisruptionBudget) evictionPlan {
	switch {
	case pod.DeletionTimestamp != nil, pod.Status.Phase == corev1.PodSucceeded, pod.Status.Phase == corev1.PodFailed:
		// Its disruption has already happened.
		return evictionPlan{action: evictDelete}
	case pod.Status.Phase == corev1.PodPending:
		// A pod that never ran protects nothing yet.
		return evictionPlan{action: evictDeleteIfUnchanged}
	}
	var matching []*policyv1.PodDisruptionBudget
	for _, pdb := range budgets {
		if pdb.Namespace != pod.Namespace {
			continue
		}
		// A nil selector selects nothing and an empty one everything, as
		// the disruption controller counts them.
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		matching = append(matching, pdb)
	}
	switch len(matching) {
	case 0:
		return evictionPlan{action: evictDelete}
	case 1:
	default:
		return evictionPlan{action: evictRefuse, err: &apierrors.StatusError{ErrStatus: metav1.Status{
			Status:  metav1.StatusFailure,
			Code:    http.StatusInternalServerError,
			Message: "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
		}}}
	}
	pdb := matching[0]
	if !evictionPodReady(pod) {
		// An unready pod does not count towards currentHealthy: deleting it
		// spends nothing, if the budget's policy lets it go.
		if p := pdb.Spec.UnhealthyPodEvictionPolicy; p != nil && *p == policyv1.AlwaysAllow {
			return evictionPlan{action: evictDeleteIfUnchanged, pdb: pdb}
		}
		if pdb.Status.CurrentHealthy >= pdb.Status.DesiredHealthy && pdb.Status.DesiredHealthy > 0 {
			return evictionPlan{action: evictDeleteIfUnchanged, pdb: pdb}
		}
	}
	return evictionPlan{action: evictSpend, pdb: pdb}
}

// spendDisruption returns pdb with one allowed disruption taken and the
// pod recorded in status.disruptedPods at now, so the disruption
// controller does not count it healthy while its deletion is on the way;
// or the error that refuses the eviction. pdb is not changed.
func spendDisruption(pdb *policyv1.PodDisruptionBudget, podName string, now time.Time) (*policyv1.PodDisruptionBudget, error) {
	policy := schema.GroupResource{Group: policyv1.GroupName, Resource: "poddisruptionbudget"}
	switch {
	case pdb.Status.ObservedGeneration < pdb.Generation:
		return nil, budgetBusy(pdb.Name)
	case pdb.Status.DisruptionsAllowed < 0:
		return nil, apierrors.NewForbidden(policy, pdb.Name, fmt.Errorf("pdb disruptions allowed is negative"))
	case len(pdb.Status.DisruptedPods) > maxDisruptedPods:
		return nil, apierrors.NewForbidden(policy, pdb.Name, fmt.Errorf("DisruptedPods map too big - too many evictions not confirmed by PDB controller"))
	case pdb.Status.DisruptionsAllowed == 0:
		return nil, budgetViolation(0, fmt.Sprintf("The disruption budget %s needs %d healthy pods and has %d currently",
			pdb.Name, pdb.Status.DesiredHealthy, pdb.Status.CurrentHealthy))
	}
	out := pdb.DeepCopy()
	out.Status.DisruptionsAllowed--
	if out.Status.DisruptionsAllowed == 0 {
		apimeta.SetStatusCondition(&out.Status.Conditions, metav1.Condition{
			Type:               policyv1.DisruptionAllowedCondition,
			Status:             metav1.ConditionFalse,
			Reason:             policyv1.InsufficientPodsReason,
			ObservedGeneration: out.Status.ObservedGeneration,
			LastTransitionTime: metav1.NewTime(now.UTC().Truncate(time.Second)),
		})
	}
	if out.Status.DisruptedPods == nil {
		out.Status.DisruptedPods = map[string]metav1.Time{}
	}
	out.Status.DisruptedPods[podName] = metav1.NewTime(now.UTC().Truncate(time.Second))
	return out, nil
}

// budgetBusy refuses an eviction while the budget's status is not yet
// computed for its current spec, or changed under the eviction.
func budgetBusy(name string) error {
	return budgetViolation(10, fmt.Sprintf("The disruption budget %s is still being processed by the server.", name))
}

func budgetViolation(retryAfter int, cause string) error {
	err := apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", retryAfter)
	err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes,
		metav1.StatusCause{Type: policyv1.DisruptionBudgetCause, Message: cause})
	return err
}

func evictionPodReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// evictPod evicts the request's pod as planEviction decides, re-planning
// when a pending pod changes under it.
func (q *request) evictPod(ctx context.Context, opts *metav1.DeleteOptions) error {
	ns, name := q.info.Namespace, q.info.Name
	dryRun := len(opts.DryRun) > 0 || q.dryRun()
	rvUnset := opts.Preconditions == nil || opts.Preconditions.ResourceVersion == nil
	for attempt := 0; ; attempt++ {
		obj, _, err := q.readCurrent(ctx, ns, name)
		if err != nil {
			return err
		}
		pod := obj.(*corev1.Pod)
		plan := planEviction(pod, q.s.budgetsIn(ns))
		switch plan.action {
		case evictRefuse:
			return plan.err
		case evictSpend:
			if err := q.spendBudget(ctx, plan.pdb, pod.Name, dryRun); err != nil {
				return err
			}
		}
		delOpts := opts
		guarded := plan.action == evictDeleteIfUnchanged && rvUnset
		if guarded {
			delOpts = opts.DeepCopy()
			if delOpts.Preconditions == nil {
				delOpts.Preconditions = &metav1.Preconditions{}
			}
			rv := pod.ResourceVersion
			delOpts.Preconditions.ResourceVersion = &rv
		}
		err = q.markAndDelete(ctx, delOpts, dryRun)
		if guarded && apierrors.IsConflict(err) {
			if plan.pdb != nil {
				return budgetBusy(plan.pdb.Name)
			}
			if attempt < maxPendingRetries {
				continue
			}
		}
		return err
	}
}

// budgetsIn lists the budgets of a namespace from the watch cache; a
// stale one only costs a conflict when its status is written.
func (s *Server) budgetsIn(ns string) []*policyv1.PodDisruptionBudget {
	_, c, ok := s.lookup(pdbGVR)
	if !ok || c == nil {
		return nil
	}
	entries, _ := c.snapshot(&filter{namespace: ns})
	out := make([]*policyv1.PodDisruptionBudget, 0, len(entries))
	for _, e := range entries {
		if pdb, ok := entryAs[*policyv1.PodDisruptionBudget](e); ok {
			out = append(out, pdb)
		}
	}
	return out
}

// spendBudget takes one disruption from the budget in a write guarded by
// its resourceVersion; a concurrent eviction or recount makes the write
// fail, and the decision is made again on the newer status. A dry run
// decides on the current status and writes nothing.
func (q *request) spendBudget(ctx context.Context, pdb *policyv1.PodDisruptionBudget, podName string, dryRun bool) error {
	pq, err := q.internalRequest(pdbGVR, pdb.Name, "status")
	if err != nil {
		return err
	}
	spend := func(cur runtime.Object) (runtime.Object, error) {
		return spendDisruption(cur.(*policyv1.PodDisruptionBudget), podName, q.s.clock.Now())
	}
	if dryRun {
		cur, _, err := pq.readCurrent(ctx, pdb.Namespace, pdb.Name)
		if err != nil {
			return err
		}
		_, err = spend(cur)
		return err
	}
	_, _, err = q.s.updateObject(ctx, pq, spend, false)
	return err
}

// markAndDelete says in the pod's DisruptionTarget condition that an
// eviction is deleting it, so controllers and users can tell an eviction
// from a crash, then deletes it.
func (q *request) markAndDelete(ctx context.Context, opts *metav1.DeleteOptions, dryRun bool) error {
	if !dryRun {
		sq, err := q.internalRequest(corev1.SchemeGroupVersion.WithResource("pods"), q.info.Name, "status")
		if err != nil {
			return err
		}
		out, _, err := q.s.updateObject(ctx, sq, func(cur runtime.Object) (runtime.Object, error) {
			pod := cur.(*corev1.Pod)
			if p := opts.Preconditions; p != nil {
				if p.UID != nil && *p.UID != "" && *p.UID != pod.UID {
					return nil, apierrors.NewConflict(q.gr, pod.Name, fmt.Errorf("the UID in the precondition (%s) does not match the UID in record (%s). The object might have been deleted and then recreated", *p.UID, pod.UID))
				}
				if p.ResourceVersion != nil && *p.ResourceVersion != "" && *p.ResourceVersion != pod.ResourceVersion {
					return nil, apierrors.NewConflict(q.gr, pod.Name, fmt.Errorf("the ResourceVersion in the precondition (%s) does not match the ResourceVersion in record (%s). The object might have been modified", *p.ResourceVersion, pod.ResourceVersion))
				}
			}
			setDisruptionTarget(pod, q.s.clock.Now())
			return pod, nil
		}, false)
		if err != nil {
			return err
		}
		if p := opts.Preconditions; p != nil && p.ResourceVersion != nil {
			// The condition is our own write: the pod the caller vouched
			// for is the one just written.
			opts = opts.DeepCopy()
			rv := out.(*corev1.Pod).ResourceVersion
			opts.Preconditions.ResourceVersion = &rv
		}
	}
	dq := *q
	dq.info.Subresource = ""
	_, _, err := q.s.deleteObject(ctx, &dq, q.info.Namespace, q.info.Name, opts)
	return err
}

// setDisruptionTarget sets the condition Kubernetes' eviction sets,
// keeping its transition time when it already said the same.
func setDisruptionTarget(pod *corev1.Pod, now time.Time) {
	c := corev1.PodCondition{
		Type:               corev1.DisruptionTarget,
		Status:             corev1.ConditionTrue,
		Reason:             "EvictionByEvictionAPI",
		Message:            "Eviction API: evicting",
		LastTransitionTime: metav1.NewTime(now.UTC().Truncate(time.Second)),
	}
	for i, old := range pod.Status.Conditions {
		if old.Type == c.Type {
			if old.Status == c.Status {
				c.LastTransitionTime = old.LastTransitionTime
			}
			pod.Status.Conditions[i] = c
			return
		}
	}
	pod.Status.Conditions = append(pod.Status.Conditions, c)
}

// internalRequest is q aimed at another object or subresource, for a
// write the server makes on the client's behalf under its own field
// manager. It carries no query, so a dry run must not reach its writes.
func (q *request) internalRequest(gvr schema.GroupVersionResource, name, subresource string) (*request, error) {
	res, c, ok := q.s.lookup(gvr)
	if !ok {
		return nil, fmt.Errorf("resource %s is not served", gvr)
	}
	r := q.r.Clone(q.r.Context())
	r.URL.RawQuery = url.Values{"fieldManager": {evictionFieldManager}}.Encode()
	iq := *q
	iq.r, iq.res, iq.c, iq.gr = r, res, c, gvr.GroupResource()
	iq.info.APIPrefix = "apis"
	if gvr.Group == "" {
		iq.info.APIPrefix = "api"
	}
	iq.info.Group, iq.info.Version, iq.info.Resource = gvr.Group, gvr.Version, gvr.Resource
	iq.info.Name, iq.info.Subresource, iq.info.Verb = name, subresource, "update"
	return &iq, nil
}
