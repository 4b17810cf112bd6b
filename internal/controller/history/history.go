// Package history owns the ControllerRevision bookkeeping that the
// DaemonSet and StatefulSet controllers share, in the shape Kubernetes and
// kubectl use: one revision per distinct pod template, named
// "<owner>-<hash>", labelled controller-revision-hash, numbered, holding a
// strategic merge patch that restores spec.template ("$patch": "replace"),
// so that `kubectl rollout history` and `kubectl rollout undo` work on
// them. The pure helpers (hashing, patch encoding, matching, truncation)
// do no I/O; Store wraps the API calls. It also holds the adopt/release
// rules both controllers apply to the pods and revisions their selectors
// match (ownership.go). Only internal/controller/daemonset and
// internal/controller/statefulset import it.
package history

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
)

// HashLabel is the label naming the revision a pod or revision belongs to.
const HashLabel = appsv1.ControllerRevisionHashLabelKey

// maxPrefixLen keeps "<owner>-<hash>" within the 253 characters a name may
// have, leaving room for the hash.
const maxPrefixLen = 223

// Patch encodes template the way kubectl compares and applies it: a
// strategic merge patch {"spec":{"template":{..., "$patch":"replace"}}}.
// The bytes are exactly what kubectl computes for an unchanged template,
// so `rollout undo` to the current revision is recognised as a no-op.
func Patch(template *corev1.PodTemplateSpec) ([]byte, error) {
	raw, err := json.Marshal(template)
	if err != nil {
		return nil, fmt.Errorf("encode pod template: %w", err)
	}
	var tmpl map[string]interface{}
	if err := json.Unmarshal(raw, &tmpl); err != nil {
		return nil, fmt.Errorf("decode pod template: %w", err)
	}
	tmpl["$patch"] = "replace"
	return json.Marshal(map[string]interface{}{"spec": map[string]interface{}{"template": tmpl}})
}

// Template decodes the pod template a revision's patch restores.
func Template(data []byte) (*corev1.PodTemplateSpec, error) {
	var doc struct {
		Spec struct {
			Template json.RawMessage `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("decode revision data: %w", err)
	}
	var m map[string]interface{}
	if err := json.Unmarshal(doc.Spec.Template, &m); err != nil {
		return nil, fmt.Errorf("decode revision template: %w", err)
	}
	delete(m, "$patch")
	clean, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode revision template: %w", err)
	}
	var t corev1.PodTemplateSpec
	if err := json.Unmarshal(clean, &t); err != nil {
		return nil, fmt.Errorf("decode revision template: %w", err)
	}
	return &t, nil
}

// Hash names a revision's data. collisionCount changes the hash when two
// different templates happen to hash alike (the owner then bumps its
// status.collisionCount and tries again).
func Hash(data []byte, collisionCount *int32) string {
	h := fnv.New32a()
	_, _ = h.Write(data)
	if collisionCount != nil {
		_, _ = h.Write([]byte(strconv.FormatInt(int64(*collisionCount), 10)))
	}
	return rand.SafeEncodeString(strconv.FormatUint(uint64(h.Sum32()), 10))
}

// Name is a revision's name: "<owner>-<hash>".
func Name(owner, hash string) string {
	if len(owner) > maxPrefixLen {
		owner = owner[:maxPrefixLen]
	}
	return owner + "-" + hash
}

// New builds the revision of owner holding data. Its labels are the pod
// template's labels (so the owner's selector finds it, which is how
// kubectl lists history) plus the hash; its annotations copy the owner's,
// which carries kubernetes.io/change-cause into `rollout history`.
func New(owner metav1.Object, gvk schema.GroupVersionKind, templateLabels map[string]string, data []byte, revision int64, collisionCount *int32) *appsv1.ControllerRevision {
	hash := Hash(data, collisionCount)
	labels := make(map[string]string, len(templateLabels)+1)
	for k, v := range templateLabels {
		labels[k] = v
	}
	labels[HashLabel] = hash
	var annotations map[string]string
	if len(owner.GetAnnotations()) > 0 {
		annotations = make(map[string]string, len(owner.GetAnnotations()))
		for k, v := range owner.GetAnnotations() {
			annotations[k] = v
		}
	}
	return &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Name:            Name(owner.GetName(), hash),
			Namespace:       owner.GetNamespace(),
			Labels:          labels,
			Annotations:     annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(owner, gvk)},
		},
		Data:     runtime.RawExtension{Raw: data},
		Revision: revision,
	}
}

// Equal reports whether two revisions restore the same template. Bytes
// are compared first; a semantic comparison covers data that went through
// another encoder on its way (key order, whitespace).
func Equal(a, b []byte) bool {
	if string(a) == string(b) {
		return true
	}
	ta, errA := Template(a)
	tb, errB := Template(b)
	if errA != nil || errB != nil {
		return false
	}
	return apiequality.Semantic.DeepEqual(ta, tb)
}

// SortByRevision orders revisions oldest first (by number, then name, so
// the order is total).
func SortByRevision(revs []*appsv1.ControllerRevision) {
	slices.SortFunc(revs, func(a, b *appsv1.ControllerRevision) int {
		if a.Revision != b.Revision {
			if a.Revision < b.Revision {
				return -1
			}
			return 1
		}
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
}

// MaxRevision is the highest revision number among revs (0 if none).
func MaxRevision(revs []*appsv1.ControllerRevision) int64 {
	var m int64
	for _, r := range revs {
		m = max(m, r.Revision)
	}
	return m
}

// FindEqual returns the revisions whose data restores the same template
// as data, oldest first.
func FindEqual(revs []*appsv1.ControllerRevision, data []byte) []*appsv1.ControllerRevision {
	var out []*appsv1.ControllerRevision
	for _, r := range revs {
		if Equal(r.Data.Raw, data) {
			out = append(out, r)
		}
	}
	SortByRevision(out)
	return out
}

// ToTruncate picks the revisions to delete so that at most limit revisions
// remain besides the live ones. live holds revision names still in use
// (the current and update revisions, and any a pod is labelled with);
// those are never deleted. The oldest go first.
func ToTruncate(revs []*appsv1.ControllerRevision, live map[string]bool, limit int) []*appsv1.ControllerRevision {
	var candidates []*appsv1.ControllerRevision
	for _, r := range revs {
		if !live[r.Name] {
			candidates = append(candidates, r)
		}
	}
	if limit < 0 {
		limit = 0
	}
	if len(candidates) <= limit {
		return nil
	}
	SortByRevision(candidates)
	return candidates[:len(candidates)-limit]
}

// Store creates, renumbers and deletes revisions through the API.
type Store struct {
	Client       kubernetes.Interface
	FieldManager string
}

// Create stores rev. If a revision of that name already exists and holds
// the same data for the same owner, that one is returned (a previous run
// created it and the cache had not caught up). If it holds different
// data, the hashes collided: collisionCount is incremented and the caller
// must persist it in status and try again; errCollision says so.
func (s Store) Create(ctx context.Context, rev *appsv1.ControllerRevision, collisionCount *int32) (*appsv1.ControllerRevision, error) {
	created, err := s.Client.AppsV1().ControllerRevisions(rev.Namespace).Create(ctx, rev, metav1.CreateOptions{FieldManager: s.FieldManager})
	if err == nil {
		return created, nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("create controller revision %s: %w", rev.Name, err)
	}
	existing, gerr := s.Client.AppsV1().ControllerRevisions(rev.Namespace).Get(ctx, rev.Name, metav1.GetOptions{})
	if gerr != nil {
		return nil, fmt.Errorf("get controller revision %s: %w", rev.Name, gerr)
	}
	owner := metav1.GetControllerOf(rev)
	existingOwner := metav1.GetControllerOf(existing)
	if owner != nil && existingOwner != nil && owner.UID == existingOwner.UID && Equal(existing.Data.Raw, rev.Data.Raw) {
		return existing, nil
	}
	*collisionCount++
	return nil, fmt.Errorf("create controller revision %s: %w", rev.Name, ErrCollision)
}

// ErrCollision means a revision's hash collided with an unrelated one; the
// owner's collisionCount was incremented.
var ErrCollision = fmt.Errorf("hash collision")

// Renumber gives rev a new revision number (a template that comes back,
// for example through `rollout undo`, becomes the newest revision again).
func (s Store) Renumber(ctx context.Context, rev *appsv1.ControllerRevision, revision int64) (*appsv1.ControllerRevision, error) {
	if rev.Revision == revision {
		return rev, nil
	}
	c := rev.DeepCopy()
	c.Revision = revision
	updated, err := s.Client.AppsV1().ControllerRevisions(c.Namespace).Update(ctx, c, metav1.UpdateOptions{FieldManager: s.FieldManager})
	if err != nil {
		return nil, fmt.Errorf("renumber controller revision %s to %d: %w", c.Name, revision, err)
	}
	return updated, nil
}

// Delete removes rev; a revision already gone is fine.
func (s Store) Delete(ctx context.Context, rev *appsv1.ControllerRevision) error {
	err := s.Client.AppsV1().ControllerRevisions(rev.Namespace).Delete(ctx, rev.Name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &rev.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete controller revision %s: %w", rev.Name, err)
	}
	return nil
}

// Sync finds or creates the revision for data among the owner's revisions
// revs, making it the newest. It returns that revision and the others.
// A hash collision returns ErrCollision after bumping *collisionCount.
func (s Store) Sync(ctx context.Context, owner metav1.Object, gvk schema.GroupVersionKind, templateLabels map[string]string, data []byte, revs []*appsv1.ControllerRevision, collisionCount *int32) (*appsv1.ControllerRevision, []*appsv1.ControllerRevision, error) {
	maxRev := MaxRevision(revs)
	equal := FindEqual(revs, data)
	var cur *appsv1.ControllerRevision
	if n := len(equal); n > 0 {
		// Duplicates can only come from an earlier collision retry; the
		// newest one wins and the others become ordinary old revisions.
		cur = equal[n-1]
		if cur.Revision < maxRev || (n > 1 && cur.Revision == maxRev && countRevision(revs, maxRev) > 1) {
			updated, err := s.Renumber(ctx, cur, maxRev+1)
			if err != nil {
				return nil, nil, err
			}
			cur = updated
		}
	} else {
		created, err := s.Create(ctx, New(owner, gvk, templateLabels, data, maxRev+1, collisionCount), collisionCount)
		if err != nil {
			return nil, nil, err
		}
		cur = created
	}
	var old []*appsv1.ControllerRevision
	for _, r := range revs {
		if r.Name != cur.Name {
			old = append(old, r)
		}
	}
	return cur, old, nil
}

func countRevision(revs []*appsv1.ControllerRevision, n int64) int {
	c := 0
	for _, r := range revs {
		if r.Revision == n {
			c++
		}
	}
	return c
}
