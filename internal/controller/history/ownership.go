package history

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Claim sorts objects (pods, revisions) by their relation to an owner,
// as Kubernetes controllers do: what it controls and still selects is
// Mine; what nobody controls but it selects is to Adopt; what it controls
// but no longer selects is to Release.
type Claim[T metav1.Object] struct {
	Mine    []T
	Adopt   []T
	Release []T
}

// Classify sorts objs for owner; selects says whether owner's selector
// (and any other membership rule) takes an object. Objects being deleted
// are never adopted.
func Classify[T metav1.Object](objs []T, owner metav1.Object, selects func(T) bool) Claim[T] {
	var c Claim[T]
	for _, o := range objs {
		ref := metav1.GetControllerOf(o)
		switch {
		case ref != nil && ref.UID == owner.GetUID():
			if selects(o) {
				c.Mine = append(c.Mine, o)
			} else {
				c.Release = append(c.Release, o)
			}
		case ref == nil && o.GetDeletionTimestamp() == nil && selects(o):
			c.Adopt = append(c.Adopt, o)
		}
	}
	return c
}

// AdoptPatch is the strategic merge patch that makes ref the controller of
// the object with uid. The uid in the patch makes it fail if the object
// was replaced meanwhile.
func AdoptPatch(ref metav1.OwnerReference, uid types.UID) ([]byte, error) {
	p, err := json.Marshal(map[string]interface{}{"metadata": map[string]interface{}{
		"ownerReferences": []metav1.OwnerReference{ref},
		"uid":             uid,
	}})
	if err != nil {
		return nil, fmt.Errorf("encode adopt patch: %w", err)
	}
	return p, nil
}

// ReleasePatch is the strategic merge patch that removes the owner
// reference to ownerUID from the object with uid.
func ReleasePatch(ownerUID, uid types.UID) ([]byte, error) {
	p, err := json.Marshal(map[string]interface{}{"metadata": map[string]interface{}{
		"ownerReferences": []map[string]interface{}{{"$patch": "delete", "uid": ownerUID}},
		"uid":             uid,
	}})
	if err != nil {
		return nil, fmt.Errorf("encode release patch: %w", err)
	}
	return p, nil
}

// Patcher applies a strategic merge patch to the named object.
type Patcher func(ctx context.Context, name string, patch []byte) error

// ApplyClaim adopts c.Adopt and releases c.Release through patch, and
// returns the objects owner now controls (c.Mine and the adopted ones).
// canAdopt runs once before the first adoption: it should re-read the
// owner from the API server and fail if it is gone, replaced or being
// deleted, because a stale cache must never make a dying owner adopt.
// Objects that vanished or changed meanwhile are skipped.
func ApplyClaim[T metav1.Object](ctx context.Context, c Claim[T], ref metav1.OwnerReference, canAdopt func(context.Context) error, patch Patcher) ([]T, error) {
	mine := append([]T(nil), c.Mine...)
	var errs []error
	for _, o := range c.Release {
		p, err := ReleasePatch(ref.UID, o.GetUID())
		if err == nil {
			err = patch(ctx, o.GetName(), p)
		}
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsInvalid(err) {
			errs = append(errs, fmt.Errorf("release %s: %w", o.GetName(), err))
		}
	}
	if len(c.Adopt) > 0 {
		if err := canAdopt(ctx); err != nil {
			return mine, errors.Join(append(errs, err)...)
		}
	}
	for _, o := range c.Adopt {
		p, err := AdoptPatch(ref, o.GetUID())
		if err == nil {
			err = patch(ctx, o.GetName(), p)
		}
		switch {
		case err == nil:
			mine = append(mine, o)
		case apierrors.IsNotFound(err) || apierrors.IsInvalid(err) || apierrors.IsConflict(err):
		default:
			errs = append(errs, fmt.Errorf("adopt %s: %w", o.GetName(), err))
		}
	}
	return mine, errors.Join(errs...)
}

// LiveOwner is the canAdopt check of ApplyClaim for owner: get re-reads it
// from the API server, and adoption goes ahead only if it is still the
// same object (same UID) and not being deleted. kind names it in errors.
func LiveOwner(kind string, owner metav1.Object, get func(context.Context) (metav1.Object, error)) func(context.Context) error {
	return func(ctx context.Context) error {
		fresh, err := get(ctx)
		if err != nil {
			return fmt.Errorf("re-read %s %s before adopting: %w", kind, owner.GetName(), err)
		}
		if fresh.GetUID() != owner.GetUID() {
			return fmt.Errorf("%s %s was replaced (uid %s, cached %s); not adopting", kind, owner.GetName(), fresh.GetUID(), owner.GetUID())
		}
		if fresh.GetDeletionTimestamp() != nil {
			return fmt.Errorf("%s %s is being deleted; not adopting", kind, owner.GetName())
		}
		return nil
	}
}
