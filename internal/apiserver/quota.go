package apiserver

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gureum/gureum/internal/api"
	"github.com/gureum/gureum/internal/quota"
	"github.com/gureum/gureum/internal/store"
)

var quotaGVR = schemaGVR("", "v1", "resourcequotas")

// admitQuota charges a namespaced write (old is nil on create) to the
// namespace's ResourceQuotas, as Kubernetes' quota admission does: it is
// refused (403) when it does not fit, and otherwise the quotas whose
// status.used grows are written in the same etcd transaction as the object,
// each conditional on its revision, so two writers can never both take the
// last unit of a quota. A failed condition on a quota key makes the caller
// retry with fresh usage.
func (s *Server) admitQuota(ctx context.Context, res *api.Resource, obj, old runtime.Object) ([]store.Cond, []store.Op, error) {
	if !res.Namespaced {
		return nil, nil, nil
	}
	a, err := meta.Accessor(obj)
	if err != nil {
		return nil, nil, nil
	}
	ns := a.GetNamespace()
	// The cache says cheaply whether the namespace has quotas at all; only
	// then are they read from etcd, at their exact revisions.
	qc := s.caches[quotaGVR]
	if qc == nil {
		return nil, nil, nil
	}
	if entries, _ := qc.snapshot(&filter{namespace: ns}); len(entries) == 0 {
		return nil, nil, nil
	}
	qres, _ := s.reg.Lookup(quotaGVR)
	prefix := qres.StorageKey() + "/" + ns + "/"
	kvs, _, err := s.store.List(ctx, prefix, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("read quotas of %s: %w", ns, err)
	}
	quotas := make([]*corev1.ResourceQuota, 0, len(kvs))
	revs := map[string]int64{}
	for _, kv := range kvs {
		o, err := decodeStored(qres, kv.Value)
		if err != nil {
			return nil, nil, fmt.Errorf("decode quota %s: %w", kv.Key, err)
		}
		rq := o.(*corev1.ResourceQuota)
		quotas = append(quotas, rq)
		revs[rq.Name] = kv.ModRevision
	}
	gr := res.GroupVersionResource.GroupResource()
	charged, err := quota.Admit(quotas, gr, obj, old)
	if err != nil {
		if quota.IsForbidden(err) {
			return nil, nil, apierrors.NewForbidden(gr, a.GetName(), err)
		}
		return nil, nil, fmt.Errorf("quota admission: %w", err)
	}
	var conds []store.Cond
	var ops []store.Op
	for _, rq := range charged {
		data, err := encodeForStorage(qres, rq)
		if err != nil {
			return nil, nil, err
		}
		key := prefix + rq.Name
		conds = append(conds, store.Cond{Key: key, ModRevision: revs[rq.Name]})
		ops = append(ops, store.Op{Key: key, Value: data})
	}
	return conds, ops, nil
}

// isQuotaKey reports a transaction condition on a quota: its usage moved
// under us and the write must be admitted again.
func isQuotaKey(key string) bool {
	return strings.HasPrefix(key, "/registry/resourcequotas/")
}
