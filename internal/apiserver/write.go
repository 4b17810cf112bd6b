package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/admission"

	"github.com/gureum/gureum/internal/api"
	"github.com/gureum/gureum/internal/store"
)

// maxGenerateNameAttempts bounds retries when a generated name is taken.
const maxGenerateNameAttempts = 5

func (q *request) create() {
	body, err := readBody(q.r)
	if err != nil {
		q.fail(err)
		return
	}
	if err := q.validateFieldManager(); err != nil {
		q.fail(err)
		return
	}
	obj := q.res.New()
	warnings, err := decodeResource(q.r, body, q.res, obj)
	if err != nil {
		q.fail(err)
		return
	}
	writeWarnings(q.w, warnings)
	out, err := q.s.createObject(q.r.Context(), q, obj)
	if err != nil {
		q.fail(err)
		return
	}
	q.respond(http.StatusCreated, out)
}

// createObject runs the create path shared by POST and by apply/PUT of an
// object that does not exist yet.
func (s *Server) createObject(ctx context.Context, q *request, obj runtime.Object) (runtime.Object, error) {
	a, err := meta.Accessor(obj)
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	if q.res.Namespaced {
		if a.GetNamespace() == "" {
			a.SetNamespace(q.info.Namespace)
		} else if a.GetNamespace() != q.info.Namespace {
			return nil, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
		}
	} else {
		a.SetNamespace("")
	}
	if q.info.Name != "" && a.GetName() != "" && a.GetName() != q.info.Name && q.info.Verb != "create" {
		return nil, apierrors.NewBadRequest("the name of the object does not match the name on the URL")
	}
	if a.GetName() == "" && a.GetGenerateName() == "" {
		return nil, apierrors.NewInvalid(q.res.GroupVersionKind().GroupKind(), "", field.ErrorList{
			field.Required(field.NewPath("metadata", "name"), "name or generateName is required")})
	}
	generated := a.GetName() == ""
	now := metav1.NewTime(s.clock.Now().UTC().Truncate(1e9))
	a.SetUID(types.UID(uuid.NewUUID()))
	a.SetCreationTimestamp(now)
	a.SetResourceVersion("")
	a.SetDeletionTimestamp(nil)
	a.SetDeletionGracePeriodSeconds(nil)
	a.SetGeneration(0)
	if tracksGeneration(q.res) {
		a.SetGeneration(1)
	}
	a.SetSelfLink("")
	if q.res.HasSubresource("status") && !keepsStatusOnCreate(obj) {
		clearStatus(obj)
	}
	if err := s.admitNamespace(ctx, q); err != nil {
		return nil, err
	}
	// As in Kubernetes, defaults apply first (at decode time there), then
	// the strategy prepares the object.
	q.res.Strategy.Default(obj)
	q.res.Strategy.PrepareForCreate(obj)
	if err := s.admitServiceAccount(ctx, q, obj); err != nil {
		return nil, err
	}
	// A CSR's requestor is whoever sent it, never what it claims.
	api.FillCSRRequestor(obj, q.user.Name, q.user.UID, q.user.Groups, nil)
	if !q.applied {
		if err := s.fieldMgr.update(q.res, "", nil, obj, q.fieldManagerName()); err != nil {
			return nil, err
		}
	}
	base := obj
	for attempt := 0; ; attempt++ {
		// Each attempt starts from what the client sent, so random
		// allocations and generated names are picked afresh.
		obj := base.DeepCopyObject()
		a, _ := meta.Accessor(obj)
		if generated {
			a.SetName(a.GetGenerateName() + utilrand.String(5))
			// Defaults may derive from the name (a namespace's
			// kubernetes.io/metadata.name label).
			q.res.Strategy.Default(obj)
		}
		if mutated, err := s.mutate(ctx, q, admission.Create, obj, nil); err != nil {
			return nil, err
		} else if mutated {
			q.res.Strategy.Default(obj) // what a webhook added gets defaults too
		}
		if errs := q.res.Strategy.Validate(obj); len(errs) > 0 {
			return nil, apierrors.NewInvalid(q.res.GroupVersionKind().GroupKind(), a.GetName(), errs)
		}
		if err := s.validateAdmission(ctx, q, admission.Create, obj, nil); err != nil {
			return nil, err
		}
		conds, ops, err := s.alloc.admitCreate(ctx, s, q.res, obj)
		if err != nil {
			return nil, err
		}
		qconds, qops, err := s.admitQuota(ctx, q.res, obj, nil)
		if err != nil {
			return nil, err
		}
		conds, ops = append(conds, qconds...), append(ops, qops...)
		if op, ok, err := s.defaultServiceAccountFor(q.res, obj); err != nil {
			return nil, err
		} else if ok {
			ops = append(ops, op)
		}
		if q.dryRun() {
			return obj, nil
		}
		data, err := encodeForStorage(q.res, obj)
		if err != nil {
			return nil, err
		}
		key := q.key(a.GetNamespace(), a.GetName())
		conds = append([]store.Cond{{Key: key, MustNotExist: true}}, conds...)
		ops = append([]store.Op{{Key: key, Value: data, TTL: s.ttlFor(q.res)}}, ops...)
		rev, err := s.store.Txn(ctx, conds, ops)
		var cf *store.ErrCondFailed
		if errors.As(err, &cf) {
			if cf.Key == key {
				if generated && attempt < maxGenerateNameAttempts {
					continue
				}
				if generated {
					return nil, apierrors.NewGenerateNameConflict(q.gr, a.GetName(), 1)
				}
				return nil, apierrors.NewAlreadyExists(q.gr, a.GetName())
			}
			if err := s.alloc.requestedTaken(base, cf.Key); err != nil {
				return nil, err
			}
			// A random allocation was taken, or a quota charged, concurrently:
			// pick and charge again.
			if attempt < 20 {
				continue
			}
			return nil, apierrors.NewConflict(q.gr, a.GetName(), fmt.Errorf("could not reserve %s", cf.Key))
		}
		if err != nil {
			return nil, err
		}
		setRV(obj, rev)
		q.c.noteWritten(key, rev, obj)
		return obj, nil
	}
}

// ttlFor is how long objects of res live: Events expire, as in Kubernetes,
// so a busy cluster's history does not grow without bound.
func (s *Server) ttlFor(res *api.Resource) time.Duration {
	if res.GroupVersionResource.Group == "" && res.GroupVersionResource.Resource == "events" {
		return s.cfg.EventTTL
	}
	return 0
}

// admitNamespace refuses objects in namespaces that do not exist or are
// being deleted, as Kubernetes' NamespaceLifecycle admission does.
func (s *Server) admitNamespace(ctx context.Context, q *request) error {
	if !q.res.Namespaced {
		return nil
	}
	ns := q.info.Namespace
	nsObj, err := s.currentObject(ctx, schemaGVR("", "v1", "namespaces"), "", ns)
	if err != nil {
		return err
	}
	if a, err := meta.Accessor(nsObj); err == nil && a.GetDeletionTimestamp() != nil && q.info.Verb == "create" {
		return apierrors.NewForbidden(q.gr, "", fmt.Errorf("unable to create new content in namespace %s because it is being terminated", ns))
	}
	return nil
}

// update is PUT on an object or its status.
func (q *request) update() {
	body, err := readBody(q.r)
	if err != nil {
		q.fail(err)
		return
	}
	if err := q.validateFieldManager(); err != nil {
		q.fail(err)
		return
	}
	in := q.res.New()
	warnings, err := decodeResource(q.r, body, q.res, in)
	if err != nil {
		q.fail(err)
		return
	}
	writeWarnings(q.w, warnings)
	a, _ := meta.Accessor(in)
	if a.GetName() != q.info.Name {
		q.fail(apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", a.GetName(), q.info.Name)))
		return
	}
	if q.res.Namespaced && a.GetNamespace() != "" && a.GetNamespace() != q.info.Namespace {
		q.fail(apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request"))
		return
	}
	out, code, err := q.s.updateObject(q.r.Context(), q, func(cur runtime.Object) (runtime.Object, error) {
		return in.DeepCopyObject(), nil
	}, false)
	if err != nil {
		q.fail(err)
		return
	}
	q.respond(code, out)
}

// mutateFunc returns the desired object given the current one (nil when it
// does not exist).
type mutateFunc func(cur runtime.Object) (runtime.Object, error)

// updateObject is the guaranteed-update loop shared by PUT, PATCH and the
// subresources: read, mutate, check, compare-and-swap, retrying when
// another writer got there first and the caller named no resourceVersion.
//
// The first attempt starts from the watch cache's copy, as Kubernetes'
// storage does with its cached object: it saves reading and decoding the
// stored object, and the compare-and-swap on its revision catches a stale
// copy. Any error or a no-op from that copy is not trusted: the loop reads
// etcd and decides again.
func (s *Server) updateObject(ctx context.Context, q *request, mutate mutateFunc, isApply bool) (runtime.Object, int, error) {
	for attempt := 0; attempt < 16; attempt++ {
		cur, rev, fromCache := q.cachedCurrent(attempt)
		var err error
		if !fromCache {
			cur, rev, err = q.readCurrent(ctx, q.info.Namespace, q.info.Name)
		}
		if apierrors.IsNotFound(err) {
			if isApply && q.info.Subresource == "" {
				obj, err := mutate(nil)
				if err != nil {
					return nil, 0, err
				}
				out, err := s.createObject(ctx, q, obj)
				return out, http.StatusCreated, err
			}
			return nil, 0, err
		}
		if err != nil {
			return nil, 0, err
		}
		obj, err := mutate(cur.DeepCopyObject())
		if err != nil {
			if fromCache {
				continue
			}
			return nil, 0, err
		}
		out, deleted, err := s.finishUpdate(ctx, q, cur, rev, obj)
		if fromCache && (err != nil || !deleted && resourceVersionOf(out) == rev) {
			continue
		}
		if errors.Is(err, store.ErrConflict) || isCondFailed(err) {
			a, _ := meta.Accessor(obj)
			if a.GetResourceVersion() != "" && a.GetResourceVersion() != strconv.FormatInt(rev, 10) {
				return nil, 0, apierrors.NewConflict(q.gr, q.info.Name, errors.New(errObjectModified))
			}
			continue
		}
		if err != nil {
			return nil, 0, err
		}
		_ = deleted
		return out, http.StatusOK, nil
	}
	return nil, 0, apierrors.NewConflict(q.gr, q.info.Name, errors.New("too many concurrent writers; try again"))
}

// cachedCurrent is the watch cache's copy of the object for an update's
// first attempt. Dry runs always read etcd: nothing would catch a stale
// copy there.
func (q *request) cachedCurrent(attempt int) (runtime.Object, int64, bool) {
	if attempt > 0 || q.dryRun() || q.c == nil {
		return nil, 0, false
	}
	key := q.info.Name
	if q.res.Namespaced {
		key = q.info.Namespace + "/" + q.info.Name
	}
	e, ok := q.c.get(key)
	if !ok {
		return nil, 0, false
	}
	// The copy keeps the shared entry immutable whatever the update
	// path does with the current object.
	obj, err := e.objectCopy()
	if err != nil {
		return nil, 0, false // read from etcd instead
	}
	return obj, e.rev, true
}

func resourceVersionOf(obj runtime.Object) int64 {
	a, err := meta.Accessor(obj)
	if err != nil {
		return 0
	}
	rv, _ := strconv.ParseInt(a.GetResourceVersion(), 10, 64)
	return rv
}

func isCondFailed(err error) bool {
	var cf *store.ErrCondFailed
	return errors.As(err, &cf)
}

// finishUpdate checks and stores obj as the new version of cur.
func (s *Server) finishUpdate(ctx context.Context, q *request, cur runtime.Object, rev int64, obj runtime.Object) (runtime.Object, bool, error) {
	a, err := meta.Accessor(obj)
	if err != nil {
		return nil, false, apierrors.NewBadRequest(err.Error())
	}
	ca, _ := meta.Accessor(cur)
	if rv := a.GetResourceVersion(); rv != "" && rv != strconv.FormatInt(rev, 10) {
		return nil, false, apierrors.NewConflict(q.gr, q.info.Name, errors.New(errObjectModified))
	}
	if uid := a.GetUID(); uid != "" && uid != ca.GetUID() {
		return nil, false, apierrors.NewConflict(q.gr, q.info.Name, fmt.Errorf("Precondition failed: UID in precondition: %s, UID in object meta: %s", uid, ca.GetUID()))
	}
	// What the server owns is carried over from the stored object.
	a.SetName(ca.GetName())
	a.SetNamespace(ca.GetNamespace())
	a.SetUID(ca.GetUID())
	a.SetCreationTimestamp(ca.GetCreationTimestamp())
	a.SetDeletionTimestamp(ca.GetDeletionTimestamp())
	a.SetDeletionGracePeriodSeconds(ca.GetDeletionGracePeriodSeconds())
	a.SetGeneration(ca.GetGeneration())
	a.SetSelfLink("")
	if ca.GetDeletionTimestamp() != nil && len(a.GetFinalizers()) > len(ca.GetFinalizers()) {
		return nil, false, apierrors.NewForbidden(q.gr, q.info.Name, errors.New("no new finalizers can be added if the object is being deleted"))
	}

	switch q.info.Subresource {
	case "status":
		if err := keepAllButStatus(obj, cur); err != nil {
			return nil, false, err
		}
	case "approval":
		// A CSR's approval changes only its conditions.
		if err := keepAllButStatus(obj, cur); err != nil {
			return nil, false, err
		}
		api.PrepareCSRApproval(obj, cur)
	case "binding":
		// The binding handler changed exactly spec.nodeName and the
		// PodScheduled condition.
	case "finalize":
		// Only spec.finalizers of a namespace changes through finalize.
		if err := keepAllBut(obj, cur, "Spec"); err != nil {
			return nil, false, err
		}
	default:
		if q.res.HasSubresource("status") {
			if err := copyStatus(obj, cur); err != nil {
				return nil, false, err
			}
		}
		q.res.Strategy.Default(obj)
		q.res.Strategy.PrepareForUpdate(obj, cur)
	}
	q.res.Strategy.Default(obj)
	// A status or approval write keeps cur's spec (above), and Kubernetes
	// never counts one as a new generation: comparing the specs, by
	// reflection, was 2% of a pod burst's CPU for nothing. Nor does a
	// binding count, though it sets spec.nodeName: Kubernetes' binding
	// storage writes the pod without the update strategy that bumps it.
	if tracksGeneration(q.res) && q.info.Subresource != "status" && q.info.Subresource != "approval" &&
		q.info.Subresource != "binding" && specChanged(obj, cur) {
		a.SetGeneration(ca.GetGeneration() + 1)
	}
	// A binding is not a write of the pod by a field manager: Kubernetes
	// records no owner for spec.nodeName or the PodScheduled condition it
	// sets, and the scheduler's busiest write skips the cost.
	if !q.applied && q.info.Subresource != "binding" {
		if err := s.fieldMgr.update(q.res, q.info.Subresource, cur, obj, q.fieldManagerName()); err != nil {
			return nil, false, err
		}
	}
	// A binding sets spec.nodeName, which a pod update may never change;
	// its handler checked what it changed, as Kubernetes' binding storage
	// does without the pod update rules.
	if mutated, err := s.mutate(ctx, q, admission.Update, obj, cur); err != nil {
		return nil, false, err
	} else if mutated {
		q.res.Strategy.Default(obj)
	}
	if q.info.Subresource != "binding" {
		validate := q.res.Strategy.ValidateUpdate
		if q.info.Subresource == "status" {
			validate = q.res.Strategy.ValidateStatusUpdate
		}
		errs := validate(obj, cur)
		if _, isCSR := obj.(*certificatesv1.CertificateSigningRequest); isCSR {
			// Who may approve or issue depends on the path of the write.
			errs = append(errs, api.ValidateCSRSubresourceUpdate(q.info.Subresource, obj, cur)...)
		}
		if len(errs) > 0 {
			return nil, false, apierrors.NewInvalid(q.res.GroupVersionKind().GroupKind(), a.GetName(), errs)
		}
	}
	if errs := validateMetadataUpdate(a, ca); len(errs) > 0 {
		return nil, false, apierrors.NewInvalid(q.res.GroupVersionKind().GroupKind(), a.GetName(), errs)
	}
	if err := s.validateAdmission(ctx, q, admission.Update, obj, cur); err != nil {
		return nil, false, err
	}
	conds, ops, err := s.alloc.admitUpdate(ctx, s, q.res, obj, cur)
	if err != nil {
		return nil, false, err
	}
	if a.GetDeletionTimestamp() == nil {
		qconds, qops, err := s.admitQuota(ctx, q.res, obj, cur)
		if err != nil {
			return nil, false, err
		}
		conds, ops = append(conds, qconds...), append(ops, qops...)
	}
	key := q.key(ca.GetNamespace(), ca.GetName())
	// Removing the last finalizer of an object being deleted deletes it.
	if a.GetDeletionTimestamp() != nil && len(a.GetFinalizers()) == 0 && !waitsForNode(q.res, obj) && !namespaceFinalizing(q.res, obj) {
		if q.dryRun() {
			return obj, true, nil
		}
		ops = append(ops, s.alloc.releaseOps(q.res, cur)...)
		conds = append([]store.Cond{{Key: key, ModRevision: rev}}, conds...)
		ops = append([]store.Op{{Key: key, Delete: true}}, ops...)
		drev, err := s.store.Txn(ctx, conds, ops)
		if err != nil {
			return nil, false, err
		}
		setRV(obj, drev)
		return obj, true, nil
	}
	if sameButRV(obj, cur) {
		// A no-op update writes nothing and keeps the resourceVersion.
		setRV(obj, rev)
		return obj, false, nil
	}
	if q.dryRun() {
		return obj, false, nil
	}
	data, err := encodeForStorage(q.res, obj)
	if err != nil {
		return nil, false, err
	}
	conds = append([]store.Cond{{Key: key, ModRevision: rev}}, conds...)
	ops = append([]store.Op{{Key: key, Value: data, TTL: s.ttlFor(q.res)}}, ops...)
	newRev, err := s.store.Txn(ctx, conds, ops)
	if err != nil {
		var cf *store.ErrCondFailed
		if errors.As(err, &cf) && cf.Key == key && !cf.Exists {
			return nil, false, apierrors.NewNotFound(q.gr, q.info.Name)
		}
		if errors.As(err, &cf) && (cf.Key == key || isQuotaKey(cf.Key)) {
			return nil, false, store.ErrConflict
		}
		return nil, false, err
	}
	setRV(obj, newRev)
	q.c.noteWritten(key, newRev, obj)
	return obj, false, nil
}

// sameButRV says whether obj and cur are equal but for their
// resourceVersion. A built-in object is compared field by field from its
// last (status, then spec, then metadata): most updates change their
// status, and comparing a whole pod spec first to find that out was 7% of
// a pod burst's CPU.
func sameButRV(obj, cur runtime.Object) bool {
	av, bv, ok := sameStructs(obj, cur)
	if !ok {
		return apiequality.Semantic.DeepEqual(stripRV(obj), stripRV(cur))
	}
	for i := av.NumField() - 1; i >= 0; i-- {
		if !av.Type().Field(i).IsExported() {
			return apiequality.Semantic.DeepEqual(stripRV(obj), stripRV(cur))
		}
		fa, fb := av.Field(i), bv.Field(i)
		if fa.Type() == objectMetaType {
			ma, mb := *fa.Addr().Interface().(*metav1.ObjectMeta), *fb.Addr().Interface().(*metav1.ObjectMeta)
			ma.ResourceVersion, mb.ResourceVersion = "", ""
			if !apiequality.Semantic.DeepEqual(&ma, &mb) {
				return false
			}
			continue
		}
		if !apiequality.Semantic.DeepEqual(fa.Addr().Interface(), fb.Addr().Interface()) {
			return false
		}
	}
	return true
}

// stripRV returns obj without its resourceVersion, for comparing: a
// shallow copy where it can (a pointer to a struct), a deep one otherwise.
func stripRV(obj runtime.Object) runtime.Object {
	cp := shallowCopy(obj)
	if cp == nil {
		cp = obj.DeepCopyObject()
	}
	if a, err := meta.Accessor(cp); err == nil {
		a.SetResourceVersion("")
	}
	return cp
}

func validateMetadataUpdate(a, old metav1.Object) field.ErrorList {
	var errs field.ErrorList
	for _, ref := range a.GetOwnerReferences() {
		if ref.Name == "" || ref.UID == "" || ref.Kind == "" || ref.APIVersion == "" {
			errs = append(errs, field.Invalid(field.NewPath("metadata", "ownerReferences"), ref, "apiVersion, kind, name and uid are required"))
		}
	}
	return errs
}
