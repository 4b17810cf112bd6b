package apiserver

// Custom resources. The API server watches its own CustomResourceDefinition
// cache and, level-based, serves what the CRDs currently define: one
// api.Resource and one watch cache per served version, discovery and
// OpenAPI rebuilt after every change. It also does what kube-apiserver's
// apiextensions controllers do for a CRD: accept its names (or say why
// not), mark it Established once its resources are served, and on deletion
// remove every object of it before letting the CRD go.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/version"

	"github.com/gureum/gureum/internal/api"
)

var crdGVR = apiextensionsv1.SchemeGroupVersion.WithResource("customresourcedefinitions")

// customResource is one served version of a CRD.
type customResource struct {
	res   *api.Resource
	cache *resourceCache
	stop  context.CancelFunc
	// built identifies the CRD spec this was built from.
	crdUID     types.UID
	generation int64
}

// lookup finds a served resource and its cache: built-in first, then
// custom.
func (s *Server) lookup(gvr schema.GroupVersionResource) (*api.Resource, *resourceCache, bool) {
	if res, ok := s.reg.Lookup(gvr); ok {
		return res, s.caches[gvr], true
	}
	s.customMu.RLock()
	defer s.customMu.RUnlock()
	if cr, ok := s.custom[gvr]; ok {
		return cr.res, cr.cache, true
	}
	return nil, nil, false
}

// allResources is the built-in registry plus the served custom resources,
// for discovery and OpenAPI.
func (s *Server) allResources() *api.Registry {
	s.customMu.RLock()
	defer s.customMu.RUnlock()
	list := append([]*api.Resource{}, s.reg.All()...)
	customs := make([]*api.Resource, 0, len(s.custom))
	for _, cr := range s.custom {
		customs = append(customs, cr.res)
	}
	// Within a group, the highest-priority version comes first, so it is
	// the preferred one (v2 before v1 before v1beta1), as Kubernetes orders them.
	sort.Slice(customs, func(i, j int) bool {
		a, b := customs[i].GroupVersionResource, customs[j].GroupVersionResource
		if a.Group != b.Group {
			return a.Group < b.Group
		}
		if a.Version != b.Version {
			return version.CompareKubeAwareVersionStrings(a.Version, b.Version) > 0
		}
		return a.Resource < b.Resource
	})
	return api.NewRegistry(append(list, customs...))
}

// runCustomResources keeps the served custom resources in step with the
// CRDs until ctx ends. synced is closed once the CRDs present at start are
// served, which /readyz waits for.
func (s *Server) runCustomResources(ctx context.Context, synced chan<- struct{}) error {
	c := s.caches[crdGVR]
	select {
	case <-c.ready:
	case <-ctx.Done():
		return nil
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	first := true
	for ctx.Err() == nil {
		w, err := c.watch(ctx, filter{}, 0, false, false)
		if err != nil {
			return fmt.Errorf("watch custom resource definitions: %w", err)
		}
		for open := true; open; {
			terminating := s.reconcileCRDs(ctx)
			if first {
				close(synced)
				first = false
			}
			var retry <-chan time.Time
			if terminating {
				// A terminating CRD waits for its objects' finalizers,
				// whose removal is not a CRD event: look again shortly.
				retry = tick.C
			}
			select {
			case <-ctx.Done():
				open = false
			case <-w.done:
				open = false // a slow watcher was dropped: watch again
			case <-w.ch:
			case <-w.more:
			case <-retry:
			}
			// Take every queued change at once: one rebuild for a burst.
			for drained := false; !drained; {
				select {
				case <-w.ch:
				default:
					drained = w.takeOverflow() == nil && len(w.ch) == 0
				}
			}
		}
		c.removeWatcher(w)
	}
	s.customMu.Lock()
	for _, cr := range s.custom {
		cr.stop()
	}
	s.customMu.Unlock()
	return nil
}

// reconcileCRDs serves what the CRDs define now and reports whether a CRD
// is still being deleted.
func (s *Server) reconcileCRDs(ctx context.Context) (terminating bool) {
	entries, _ := s.caches[crdGVR].snapshot(&filter{})
	crds := make([]*apiextensionsv1.CustomResourceDefinition, 0, len(entries))
	for _, e := range entries {
		if crd, ok := entryAs[*apiextensionsv1.CustomResourceDefinition](e); ok {
			crds = append(crds, crd)
		}
	}
	// The oldest CRD keeps a contested name, as in Kubernetes.
	sort.Slice(crds, func(i, j int) bool {
		ti, tj := crds[i].CreationTimestamp, crds[j].CreationTimestamp
		if !ti.Equal(&tj) {
			return ti.Before(&tj)
		}
		return crds[i].Name < crds[j].Name
	})
	want := map[schema.GroupVersionResource]*customResource{}
	var servedCRDs []*apiextensionsv1.CustomResourceDefinition
	claimed := map[string]string{} // group/plural, group/kind... -> CRD name
	type statusChange struct {
		crd      *apiextensionsv1.CustomResourceDefinition
		accepted error
	}
	var changes []statusChange
	for _, crd := range crds {
		accepted := s.acceptNames(crd, claimed)
		changes = append(changes, statusChange{crd, accepted})
		if accepted != nil {
			continue
		}
		servedCRDs = append(servedCRDs, crd)
		for _, v := range crd.Spec.Versions {
			if !v.Served {
				continue
			}
			gvr := schema.GroupVersionResource{Group: crd.Spec.Group, Version: v.Name, Resource: crd.Spec.Names.Plural}
			cr, err := s.customResourceFor(crd, v.Name)
			if err != nil {
				s.log.Warn("cannot serve custom resource", "crd", crd.Name, "version", v.Name, "err", err)
				continue
			}
			want[gvr] = cr
		}
	}

	changed := false
	s.customMu.Lock()
	for gvr, cur := range s.custom {
		if w, ok := want[gvr]; !ok || w != cur {
			cur.stop()
			delete(s.custom, gvr)
			changed = true
		}
	}
	for gvr, cr := range want {
		if _, ok := s.custom[gvr]; !ok {
			cctx, cancel := context.WithCancel(ctx)
			cr.stop = cancel
			go func() { _ = cr.cache.Run(cctx) }()
			s.custom[gvr] = cr
			changed = true
		}
	}
	s.customMu.Unlock()
	if changed {
		s.rebuildDiscovery()
		if s.cfg.OnCustomResourcesChanged != nil {
			s.cfg.OnCustomResourcesChanged(servedCRDs)
		}
	}

	for _, ch := range changes {
		s.updateCRDStatus(ctx, ch.crd, ch.accepted, want)
		if ch.crd.DeletionTimestamp != nil {
			s.cleanUpCRD(ctx, ch.crd)
			terminating = true
		}
	}
	return terminating
}

// customResourceFor returns the served form of one version of crd,
// reusing what is served already when the CRD's spec has not changed.
func (s *Server) customResourceFor(crd *apiextensionsv1.CustomResourceDefinition, ver string) (*customResource, error) {
	gvr := schema.GroupVersionResource{Group: crd.Spec.Group, Version: ver, Resource: crd.Spec.Names.Plural}
	s.customMu.RLock()
	cur, ok := s.custom[gvr]
	s.customMu.RUnlock()
	if ok && cur.crdUID == crd.UID && cur.generation == crd.Generation {
		return cur, nil
	}
	in := &apiextensions.CustomResourceDefinition{}
	if err := apiextensionsv1.Convert_v1_CustomResourceDefinition_To_apiextensions_CustomResourceDefinition(crd, in, nil); err != nil {
		return nil, fmt.Errorf("convert CRD: %w", err)
	}
	sch, err := newCRSchema(in, ver)
	if err != nil {
		return nil, err
	}
	res := &api.Resource{
		GroupVersionResource: gvr,
		Kind:                 crd.Spec.Names.Kind,
		Singular:             crd.Spec.Names.Singular,
		Namespaced:           crd.Spec.Scope == apiextensionsv1.NamespaceScoped,
		ShortNames:           crd.Spec.Names.ShortNames,
		Categories:           crd.Spec.Names.Categories,
		Verbs:                []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"},
		Unstructured:         true,
	}
	if res.Singular == "" {
		res.Singular = strings.ToLower(res.Kind)
	}
	for _, v := range crd.Spec.Versions {
		if v.Storage {
			res.StorageVersion = v.Name
		}
		if v.Name != ver || v.Subresources == nil {
			continue
		}
		if v.Subresources.Status != nil {
			res.Subresources = append(res.Subresources, api.Subresource{Name: "status", Verbs: []string{"get", "patch", "update"}})
		}
		if sc := v.Subresources.Scale; sc != nil {
			res.Subresources = append(res.Subresources, api.Subresource{Name: "scale", Kind: "Scale", Group: "autoscaling", Version: "v1",
				Verbs: []string{"get", "patch", "update"}})
			paths := &api.ScalePaths{SpecReplicas: sc.SpecReplicasPath, StatusReplicas: sc.StatusReplicasPath}
			if sc.LabelSelectorPath != nil {
				paths.LabelSelector = *sc.LabelSelectorPath
			}
			res.ScalePaths = paths
		}
	}
	if res.Strategy, err = crStrategy(res, crd, ver, sch); err != nil {
		return nil, err
	}
	if res.Converter, err = s.conversionFor(crd, in); err != nil {
		return nil, err
	}
	if s.cfg.CustomTypeConverter != nil {
		if tc, err := s.cfg.CustomTypeConverter(crd, ver); err == nil {
			res.TypeConverter = tc
		} else {
			s.log.Warn("no server-side apply schema for custom resource", "crd", crd.Name, "version", ver, "err", err)
		}
	}
	return &customResource{
		res:        res,
		cache:      newResourceCache(res, s.store, s.log.With("component", "watchcache")),
		crdUID:     crd.UID,
		generation: crd.Generation,
	}, nil
}

// acceptNames claims crd's names in claimed, or says which other resource
// holds them.
func (s *Server) acceptNames(crd *apiextensionsv1.CustomResourceDefinition, claimed map[string]string) error {
	n := crd.Spec.Names
	group := crd.Spec.Group
	keys := []string{"resource/" + n.Plural, "resource/" + n.Singular, "kind/" + n.Kind, "kind/" + n.ListKind}
	for _, sn := range n.ShortNames {
		keys = append(keys, "resource/"+sn)
	}
	for _, k := range keys {
		if strings.HasSuffix(k, "/") {
			continue
		}
		if other, ok := claimed[group+"|"+k]; ok && other != crd.Name {
			return fmt.Errorf("%q is already in use by %s", strings.SplitN(k, "/", 2)[1], other)
		}
	}
	for _, res := range s.reg.All() {
		if res.GroupVersionResource.Group == group && (res.GroupVersionResource.Resource == n.Plural || res.Kind == n.Kind) {
			return fmt.Errorf("%q is already served by the API server", n.Plural)
		}
	}
	for _, k := range keys {
		if !strings.HasSuffix(k, "/") {
			claimed[group+"|"+k] = crd.Name
		}
	}
	return nil
}

// updateCRDStatus writes the conditions and accepted names the CRD should
// have, when they differ from what it has.
func (s *Server) updateCRDStatus(ctx context.Context, crd *apiextensionsv1.CustomResourceDefinition, accepted error, served map[schema.GroupVersionResource]*customResource) {
	want := crd.Status.DeepCopy()
	names := metav1.ConditionTrue
	reason, msg := "NoConflicts", "no conflicts found"
	if accepted != nil {
		names, reason, msg = metav1.ConditionFalse, "NameConflict", accepted.Error()
	} else {
		want.AcceptedNames = crd.Spec.Names
	}
	setCRDCondition(want, apiextensionsv1.NamesAccepted, names, reason, msg)
	if accepted == nil {
		// Established once every served version's cache has loaded, so a
		// client that waits for it can list at once.
		ready := true
		for _, v := range crd.Spec.Versions {
			if cr, ok := served[schema.GroupVersionResource{Group: crd.Spec.Group, Version: v.Name, Resource: crd.Spec.Names.Plural}]; ok {
				select {
				case <-cr.cache.ready:
				case <-time.After(5 * time.Second):
					ready = false
				}
			}
		}
		if ready {
			setCRDCondition(want, apiextensionsv1.Established, metav1.ConditionTrue, "InitialNamesAccepted", "the initial names have been accepted")
		}
	} else if !crdHasCondition(want, apiextensionsv1.Established) {
		setCRDCondition(want, apiextensionsv1.Established, metav1.ConditionFalse, "NotAccepted", "not all names are accepted")
	}
	if crd.DeletionTimestamp != nil {
		setCRDCondition(want, apiextensionsv1.Terminating, metav1.ConditionTrue, "InstanceDeletionInProgress", "CustomResource deletion is in progress")
	}
	if statusEqual(&crd.Status, want) {
		return
	}
	_ = s.writeCRD(ctx, crd.Name, func(cur *apiextensionsv1.CustomResourceDefinition) bool {
		if cur.UID != crd.UID {
			return false
		}
		now := metav1.NewTime(s.clock.Now().UTC().Truncate(time.Second))
		for i := range want.Conditions {
			if old := findCRDCondition(&cur.Status, want.Conditions[i].Type); old != nil && old.Status == want.Conditions[i].Status {
				want.Conditions[i].LastTransitionTime = old.LastTransitionTime
			} else {
				want.Conditions[i].LastTransitionTime = now
			}
		}
		want.StoredVersions = cur.Status.StoredVersions
		cur.Status = *want
		return true
	})
}

// cleanUpCRD deletes the objects of a CRD being deleted, then drops its
// finalizer; objects with finalizers of their own are marked for deletion
// and waited for.
func (s *Server) cleanUpCRD(ctx context.Context, crd *apiextensionsv1.CustomResourceDefinition) {
	if !slices.Contains(crd.Finalizers, apiextensionsv1.CustomResourceCleanupFinalizer) {
		return
	}
	prefix := "/registry/" + crd.Spec.Group + "/" + crd.Spec.Names.Plural + "/"
	kvs, _, err := s.store.List(ctx, prefix, 0)
	if err != nil {
		s.log.Warn("list custom resources to delete", "crd", crd.Name, "err", err)
		return
	}
	left := 0
	for _, kv := range kvs {
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(kv.Value); err != nil || len(u.GetFinalizers()) == 0 {
			if _, err := s.store.Delete(ctx, kv.Key, kv.ModRevision); err != nil && !isCondFailed(err) {
				s.log.Warn("delete custom resource", "key", kv.Key, "err", err)
			}
			if err != nil {
				left++
			}
			continue
		}
		left++
		if u.GetDeletionTimestamp() == nil {
			now := metav1.NewTime(s.clock.Now().UTC().Truncate(time.Second))
			u.SetDeletionTimestamp(&now)
			u.SetResourceVersion("")
			if data, err := u.MarshalJSON(); err == nil {
				_, _ = s.store.Update(ctx, kv.Key, data, kv.ModRevision)
			}
		}
	}
	if left > 0 {
		return
	}
	_ = s.writeCRD(ctx, crd.Name, func(cur *apiextensionsv1.CustomResourceDefinition) bool {
		if cur.UID != crd.UID {
			return false
		}
		cur.Finalizers = without(cur.Finalizers, apiextensionsv1.CustomResourceCleanupFinalizer)
		return true
	})
}

// writeCRD changes a CRD in storage (compare-and-swap); a CRD that is
// being deleted and has no finalizers left is removed.
func (s *Server) writeCRD(ctx context.Context, name string, change func(*apiextensionsv1.CustomResourceDefinition) bool) error {
	res, _ := s.reg.Lookup(crdGVR)
	key := res.StorageKey() + "/" + name
	for attempt := 0; attempt < 5; attempt++ {
		kv, err := s.store.Get(ctx, key)
		if err != nil {
			return err
		}
		cur := &apiextensionsv1.CustomResourceDefinition{}
		if _, _, err := api.Codecs.UniversalDeserializer().Decode(kv.Value, nil, cur); err != nil {
			return fmt.Errorf("decode stored CRD %s: %w", name, err)
		}
		if !change(cur) {
			return nil
		}
		if cur.DeletionTimestamp != nil && len(cur.Finalizers) == 0 {
			_, err = s.store.Delete(ctx, key, kv.ModRevision)
		} else {
			var data []byte
			if data, err = encodeForStorage(res, cur); err != nil {
				return err
			}
			_, err = s.store.Update(ctx, key, data, kv.ModRevision)
		}
		if err == nil || !isCondFailed(err) {
			return err
		}
	}
	return errors.New("write CRD: too many conflicting writers")
}

func setCRDCondition(st *apiextensionsv1.CustomResourceDefinitionStatus, typ apiextensionsv1.CustomResourceDefinitionConditionType, status metav1.ConditionStatus, reason, msg string) {
	c := apiextensionsv1.CustomResourceDefinitionCondition{Type: typ, Status: apiextensionsv1.ConditionStatus(status), Reason: reason, Message: msg}
	if old := findCRDCondition(st, typ); old != nil {
		c.LastTransitionTime = old.LastTransitionTime
		*old = c
		return
	}
	st.Conditions = append(st.Conditions, c)
}

func findCRDCondition(st *apiextensionsv1.CustomResourceDefinitionStatus, typ apiextensionsv1.CustomResourceDefinitionConditionType) *apiextensionsv1.CustomResourceDefinitionCondition {
	for i := range st.Conditions {
		if st.Conditions[i].Type == typ {
			return &st.Conditions[i]
		}
	}
	return nil
}

func crdHasCondition(st *apiextensionsv1.CustomResourceDefinitionStatus, typ apiextensionsv1.CustomResourceDefinitionConditionType) bool {
	return findCRDCondition(st, typ) != nil
}

// statusEqual compares conditions by type, status, reason and message
// (not time), and the accepted names.
func statusEqual(a, b *apiextensionsv1.CustomResourceDefinitionStatus) bool {
	if len(a.Conditions) != len(b.Conditions) {
		return false
	}
	for _, c := range b.Conditions {
		o := findCRDCondition(a, c.Type)
		if o == nil || o.Status != c.Status || o.Reason != c.Reason || o.Message != c.Message {
			return false
		}
	}
	an, bn := a.AcceptedNames, b.AcceptedNames
	return an.Plural == bn.Plural && an.Singular == bn.Singular && an.Kind == bn.Kind && an.ListKind == bn.ListKind &&
		strings.Join(an.ShortNames, ",") == strings.Join(bn.ShortNames, ",") && strings.Join(an.Categories, ",") == strings.Join(bn.Categories, ",")
}
