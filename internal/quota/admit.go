package quota

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// ExceededError refuses a request that would take a quota past its hard
// limits. Its text is Kubernetes' own, which clients and conformance
// tests match. Kubernetes answers it with 403 Forbidden.
type ExceededError struct {
	Quota string
	// Requested, Used and Limited hold only the exceeded resources.
	Requested, Used, Limited corev1.ResourceList
}

func (e *ExceededError) Error() string {
	return fmt.Sprintf("exceeded quota: %s, requested: %s, used: %s, limited: %s",
		e.Quota, format(e.Requested), format(e.Used), format(e.Limited))
}

// ConstraintError refuses a pod that leaves out a request or limit a
// quota tracks (cpu and memory only, a rule Kubernetes keeps for
// compatibility). 403 Forbidden.
type ConstraintError struct {
	Quota string
	// Missing maps each resource to the containers that do not set it.
	Missing map[corev1.ResourceName][]string
}

func (e *ConstraintError) Error() string {
	res := make([]corev1.ResourceName, 0, len(e.Missing))
	for r := range e.Missing {
		res = append(res, r)
	}
	sortNames(res)
	parts := make([]string, len(res))
	for i, r := range res {
		containers := append([]string(nil), e.Missing[r]...)
		sort.Strings(containers)
		parts[i] = fmt.Sprintf("%s for: %s", r, strings.Join(containers, ","))
	}
	return fmt.Sprintf("failed quota: %s: must specify %s", e.Quota, strings.Join(parts, "; "))
}

// StatusUnknownError refuses a request while a quota that applies to it
// has no usage yet for a resource it limits (its controller has not
// counted it). 403 Forbidden; retrying shortly succeeds.
type StatusUnknownError struct {
	Quota     string
	Resources []corev1.ResourceName
}

func (e *StatusUnknownError) Error() string {
	return fmt.Sprintf("status unknown for quota: %s, resources: %s", e.Quota, joinNames(e.Resources))
}

// NegativeUsageError refuses an object that would use a negative amount.
// 403 Forbidden.
type NegativeUsageError struct {
	Resources []corev1.ResourceName
}

func (e *NegativeUsageError) Error() string {
	return fmt.Sprintf("quota usage is negative for resource(s): %s", joinNames(e.Resources))
}

// IsForbidden reports whether err (or an error it wraps) is a quota
// refusal, which the API answers with 403 Forbidden.
func IsForbidden(err error) bool {
	var (
		e1 *ExceededError
		e2 *ConstraintError
		e3 *StatusUnknownError
		e4 *NegativeUsageError
	)
	return errors.As(err, &e1) || errors.As(err, &e2) || errors.As(err, &e3) || errors.As(err, &e4)
}

// constrained are the resources whose quota obliges every container to
// state them: a historical Kubernetes rule, deliberately not extended.
var constrained = []corev1.ResourceName{
	corev1.ResourceCPU, corev1.ResourceMemory,
	corev1.ResourceRequestsCPU, corev1.ResourceRequestsMemory,
	corev1.ResourceLimitsCPU, corev1.ResourceLimitsMemory,
}

// Constraints checks that obj states what quota q requires of it: a pod
// under a quota tracking cpu or memory requests or limits must set them
// on every container and init container. Other kinds have no
// constraints. It reads status.hard, as Matches does.
func Constraints(q *corev1.ResourceQuota, gr schema.GroupResource, obj runtime.Object) error {
	pod, ok := obj.(*corev1.Pod)
	if gr != Pods || !ok {
		return nil
	}
	var required []corev1.ResourceName
	for _, name := range constrained {
		if _, ok := q.Status.Hard[name]; ok {
			required = append(required, name)
		}
	}
	if len(required) == 0 {
		return nil
	}
	missing := map[corev1.ResourceName][]string{}
	for _, cs := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range cs {
			has := podComputeUsage(cs[i].Resources.Requests, cs[i].Resources.Limits)
			for _, name := range required {
				if _, ok := has[name]; !ok {
					missing[name] = append(missing[name], cs[i].Name)
				}
			}
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return &ConstraintError{Quota: q.Name, Missing: missing}
}

// Check decides whether delta, the usage a request adds, fits quota q:
// the resources of delta that status.hard limits, added to status.used,
// must stay within status.hard. It returns an *ExceededError listing the
// resources that would not.
func Check(q *corev1.ResourceQuota, delta corev1.ResourceList) error {
	requested := removeZeros(mask(delta, names(q.Status.Hard)))
	newUsed := add(q.Status.Used, requested)
	var exceeded []corev1.ResourceName
	for _, name := range names(requested) {
		if v := newUsed[name]; v.Cmp(q.Status.Hard[name]) > 0 {
			exceeded = append(exceeded, name)
		}
	}
	if len(exceeded) == 0 {
		return nil
	}
	return &ExceededError{
		Quota:     q.Name,
		Requested: mask(requested, exceeded),
		Used:      mask(q.Status.Used, exceeded),
		Limited:   mask(q.Status.Hard, exceeded),
	}
}

// Admit decides a create (old == nil) or update of obj, an object of gr,
// against the quotas of its namespace, as Kubernetes' ResourceQuota
// admission does. It returns copies of the quotas whose status.used must
// grow to record the request, with status.used already raised (write
// them with UpdateStatus, which fails on a stale resourceVersion; on
// conflict, re-read and admit again), or one of the errors IsForbidden
// recognises. It charges nothing for a request no quota applies to.
//
// Updates are charged by their growth, and only where growth is possible:
// Services (type, ports), PVCs (expansion) and pod resizes; other updates
// change no usage and are not checked at all.
func Admit(quotas []*corev1.ResourceQuota, gr schema.GroupResource, obj, old runtime.Object) ([]*corev1.ResourceQuota, error) {
	if old != nil && !chargesUpdates(gr, obj, old) {
		return nil, nil
	}
	usage := Usage(gr, obj)
	if neg := negative(usage); len(neg) > 0 {
		return nil, &NegativeUsageError{Resources: neg}
	}
	// An update of an object never stored (no resourceVersion) is a create.
	var prev corev1.ResourceList
	if old != nil {
		if m, err := meta.Accessor(old); err == nil && m.GetResourceVersion() != "" {
			prev = Usage(gr, old)
		}
	}
	// Every quota that applies must accept the object before any is
	// charged, so that a refusal does not depend on the quotas' order.
	var applicable []*corev1.ResourceQuota
	for _, q := range quotas {
		if !Matches(q, gr, obj) {
			continue
		}
		if err := Constraints(q, gr, obj); err != nil {
			return nil, err
		}
		tracked := MatchingResources(gr, names(q.Status.Hard))
		for _, name := range tracked {
			if _, ok := q.Status.Used[name]; !ok {
				return nil, &StatusUnknownError{Quota: q.Name, Resources: tracked}
			}
		}
		applicable = append(applicable, q)
	}
	var out []*corev1.ResourceQuota
	for _, q := range applicable {
		delta := usage
		// Only growth is charged, and only if the old object already
		// counted against this quota.
		if prev != nil && Matches(q, gr, old) {
			delta = subtractFloorZero(usage, prev)
		}
		requested := removeZeros(mask(delta, names(q.Status.Hard)))
		if len(requested) == 0 {
			continue
		}
		if err := Check(q, requested); err != nil {
			return nil, err
		}
		nq := q.DeepCopy()
		nq.Status.Used = add(q.Status.Used, requested)
		out = append(out, nq)
	}
	return out, nil
}

// chargesUpdates reports whether an update can change what obj uses.
// Pods change only through resize (their resources); plain pod updates are
// never charged, as in Kubernetes, even when they move the pod between
// scopes.
func chargesUpdates(gr schema.GroupResource, obj, old runtime.Object) bool {
	switch gr {
	case Services, PersistentVolumeClaims:
		return true
	case Pods:
		p, ok1 := obj.(*corev1.Pod)
		o, ok2 := old.(*corev1.Pod)
		if !ok1 || !ok2 {
			return false
		}
		return !Equal(podRequests(p), podRequests(o)) || !Equal(podLimits(p), podLimits(o))
	}
	return false
}

func negative(list corev1.ResourceList) []corev1.ResourceName {
	var out []corev1.ResourceName
	for _, name := range names(list) {
		if v := list[name]; v.Sign() < 0 {
			out = append(out, name)
		}
	}
	return out
}
