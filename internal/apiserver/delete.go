package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/admission"

	"github.com/gureum/gureum/internal/api"
	"github.com/gureum/gureum/internal/store"
)

// deleteOptions reads DeleteOptions from the body (any served encoding) or
// the query string.
func (q *request) deleteOptions() (*metav1.DeleteOptions, error) {
	opts := &metav1.DeleteOptions{}
	body, err := readBody(q.r)
	if err != nil {
		return nil, err
	}
	if len(body) > 0 {
		obj, _, err := api.Codecs.UniversalDeserializer().Decode(body, &schemaDeleteOptions, opts)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("decode DeleteOptions: %v", err))
		}
		if o, ok := obj.(*metav1.DeleteOptions); ok {
			opts = o
		}
	} else if err := api.ParameterCodec.DecodeParameters(query(q.r), metav1.SchemeGroupVersion, opts); err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("parse delete options: %v", err))
	}
	if opts.GracePeriodSeconds != nil && *opts.GracePeriodSeconds < 0 {
		zero := int64(0)
		opts.GracePeriodSeconds = &zero
	}
	if opts.PropagationPolicy != nil {
		switch *opts.PropagationPolicy {
		case metav1.DeletePropagationOrphan, metav1.DeletePropagationBackground, metav1.DeletePropagationForeground:
		default:
			return nil, apierrors.NewBadRequest(fmt.Sprintf("propagationPolicy %q is not one of Orphan, Background, Foreground", *opts.PropagationPolicy))
		}
		if opts.OrphanDependents != nil {
			return nil, apierrors.NewBadRequest("set propagationPolicy or orphanDependents, not both")
		}
	}
	for _, v := range opts.DryRun {
		if v != metav1.DryRunAll {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("dryRun %q is not supported; use All", v))
		}
	}
	return opts, nil
}

var schemaDeleteOptions = metav1.SchemeGroupVersion.WithKind("DeleteOptions")

func (q *request) delete() {
	opts, err := q.deleteOptions()
	if err != nil {
		q.fail(err)
		return
	}
	out, code, err := q.s.deleteObject(q.r.Context(), q, q.info.Namespace, q.info.Name, opts)
	if err != nil {
		q.fail(err)
		return
	}
	q.respond(code, out)
}

// deleteObject deletes one object, honouring preconditions, finalizers,
// propagation and pods' graceful deletion. The object is returned as it
// was last stored (with deletionTimestamp when it lingers).
func (s *Server) deleteObject(ctx context.Context, q *request, ns, name string, opts *metav1.DeleteOptions) (runtime.Object, int, error) {
	dryRun := len(opts.DryRun) > 0 || q.dryRun()
	for attempt := 0; attempt < 16; attempt++ {
		cur, rev, err := q.readCurrent(ctx, ns, name)
		if err != nil {
			return nil, 0, err
		}
		a, _ := meta.Accessor(cur)
		if p := opts.Preconditions; p != nil {
			if p.UID != nil && *p.UID != a.GetUID() {
				return nil, 0, apierrors.NewConflict(q.gr, name, fmt.Errorf("Precondition failed: UID in precondition: %s, UID in object meta: %s", *p.UID, a.GetUID()))
			}
			if p.ResourceVersion != nil && *p.ResourceVersion != a.GetResourceVersion() {
				return nil, 0, apierrors.NewConflict(q.gr, name, fmt.Errorf("Precondition failed: ResourceVersion in precondition: %s, ResourceVersion in object meta: %s", *p.ResourceVersion, a.GetResourceVersion()))
			}
		}
		if err := s.validateAdmission(ctx, q, admission.Delete, nil, cur); err != nil {
			return nil, 0, err
		}
		next := cur.DeepCopyObject()
		na, _ := meta.Accessor(next)
		lingers := false

		finalizers := na.GetFinalizers()
		switch propagation(opts) {
		case metav1.DeletePropagationOrphan:
			finalizers = withFinalizer(finalizers, metav1.FinalizerOrphanDependents)
			finalizers = without(finalizers, metav1.FinalizerDeleteDependents)
		case metav1.DeletePropagationForeground:
			finalizers = withFinalizer(finalizers, metav1.FinalizerDeleteDependents)
			finalizers = without(finalizers, metav1.FinalizerOrphanDependents)
		}
		if a.GetDeletionTimestamp() == nil || !slices.Equal(finalizers, a.GetFinalizers()) {
			na.SetFinalizers(finalizers)
		}
		now := metav1.NewTime(s.clock.Now().UTC().Truncate(1e9))

		if pod, ok := next.(*corev1.Pod); ok && pod.Spec.NodeName != "" && pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed {
			grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
			if pod.Spec.TerminationGracePeriodSeconds != nil {
				grace = *pod.Spec.TerminationGracePeriodSeconds
			}
			if opts.GracePeriodSeconds != nil {
				grace = *opts.GracePeriodSeconds
			}
			if grace > 0 {
				// The node's agent stops the containers and then deletes
				// the pod with grace 0.
				if pod.DeletionGracePeriodSeconds == nil || grace < *pod.DeletionGracePeriodSeconds {
					pod.DeletionGracePeriodSeconds = &grace
					ts := metav1.NewTime(now.Add(time.Duration(grace) * time.Second))
					pod.DeletionTimestamp = &ts
				}
				lingers = true
			} else {
				zero := int64(0)
				pod.DeletionGracePeriodSeconds = &zero
				if pod.DeletionTimestamp == nil {
					pod.DeletionTimestamp = &now
				}
			}
		}
		if nsObj, ok := next.(*corev1.Namespace); ok && len(nsObj.Spec.Finalizers) > 0 {
			nsObj.Status.Phase = corev1.NamespaceTerminating
			lingers = true
		}
		if len(na.GetFinalizers()) > 0 {
			lingers = true
		}
		if lingers {
			if na.GetDeletionTimestamp() == nil {
				na.SetDeletionTimestamp(&now)
				zero := int64(0)
				if na.GetDeletionGracePeriodSeconds() == nil {
					na.SetDeletionGracePeriodSeconds(&zero)
				}
			}
			if dryRun {
				return next, http.StatusOK, nil
			}
			data, err := encodeForStorage(q.res, next)
			if err != nil {
				return nil, 0, err
			}
			key := q.key(ns, name)
			newRev, err := s.store.Txn(ctx, []store.Cond{{Key: key, ModRevision: rev}}, []store.Op{{Key: key, Value: data}})
			if isCondFailed(err) {
				continue
			}
			if err != nil {
				return nil, 0, err
			}
			setRV(next, newRev)
			q.c.noteWritten(key, newRev, next)
			code := http.StatusOK
			if opts.OrphanDependents != nil && !*opts.OrphanDependents {
				code = http.StatusAccepted
			}
			return next, code, nil
		}
		if dryRun {
			return cur, http.StatusOK, nil
		}
		key := q.key(ns, name)
		ops := append([]store.Op{{Key: key, Delete: true}}, s.alloc.releaseOps(q.res, cur)...)
		delRev, err := s.store.Txn(ctx, []store.Cond{{Key: key, ModRevision: rev}}, ops)
		if isCondFailed(err) {
			continue
		}
		if err != nil {
			return nil, 0, err
		}
		setRV(cur, delRev)
		return cur, http.StatusOK, nil
	}
	return nil, 0, apierrors.NewConflict(q.gr, name, errors.New("too many concurrent writers; try again"))
}

func propagation(opts *metav1.DeleteOptions) metav1.DeletionPropagation {
	if opts.PropagationPolicy != nil {
		return *opts.PropagationPolicy
	}
	if opts.OrphanDependents != nil {
		if *opts.OrphanDependents {
			return metav1.DeletePropagationOrphan
		}
		return metav1.DeletePropagationBackground
	}
	return ""
}

func withFinalizer(list []string, f string) []string {
	if slices.Contains(list, f) {
		return list
	}
	return append(append([]string{}, list...), f)
}

func without(list []string, f string) []string {
	out := list[:0:0]
	for _, x := range list {
		if x != f {
			out = append(out, x)
		}
	}
	return out
}

// deleteCollection deletes every object the list options select.
func (q *request) deleteCollection() {
	opts, err := q.deleteOptions()
	if err != nil {
		q.fail(err)
		return
	}
	_, f, err := q.listOptions()
	if err != nil {
		q.fail(err)
		return
	}
	entries, rev := q.cache().snapshot(&f)
	list := q.res.NewList()
	var items []runtime.Object
	for _, e := range entries {
		out, _, err := q.s.deleteObject(q.r.Context(), q, e.ns, e.name, opts)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			q.fail(err)
			return
		}
		items = append(items, out)
	}
	if err := meta.SetList(list, items); err != nil {
		q.fail(err)
		return
	}
	if la, err := meta.ListAccessor(list); err == nil {
		la.SetResourceVersion(strconv.FormatInt(rev, 10))
	}
	q.respond(http.StatusOK, list)
}
