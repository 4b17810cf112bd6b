package endpointslice

import (
	"maps"
	"sort"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Plan is the writes that bring one Service's slices to the desired state.
// Updated slices are modified copies of existing ones (same name and
// resourceVersion); created ones carry generateName.
type Plan struct {
	Create []*discoveryv1.EndpointSlice
	Update []*discoveryv1.EndpointSlice
	Delete []*discoveryv1.EndpointSlice
}

// Empty reports a plan with nothing to write.
func (p Plan) Empty() bool { return len(p.Create)+len(p.Update)+len(p.Delete) == 0 }

// SliceLabels are the labels every slice of svc carries: the Service's own
// labels, the service-name and managed-by labels, and the headless label
// when the Service has no cluster IP.
func SliceLabels(svc *corev1.Service) map[string]string {
	out := make(map[string]string, len(svc.Labels)+3)
	for k, v := range svc.Labels {
		switch k {
		case discoveryv1.LabelServiceName, discoveryv1.LabelManagedBy, LabelHeadless:
			continue
		}
		out[k] = v
	}
	out[discoveryv1.LabelServiceName] = svc.Name
	out[discoveryv1.LabelManagedBy] = ControllerName
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		out[LabelHeadless] = ""
	}
	return out
}

// OwnerRef is the controller reference a slice holds to its Service, so
// the garbage collector removes slices with their Service.
func OwnerRef(svc *corev1.Service) metav1.OwnerReference {
	t := true
	return metav1.OwnerReference{
		APIVersion: "v1", Kind: "Service", Name: svc.Name, UID: svc.UID,
		Controller: &t, BlockOwnerDeletion: &t,
	}
}

// sliceWork is one existing slice being rewritten.
type sliceWork struct {
	orig    *discoveryv1.EndpointSlice
	next    *discoveryv1.EndpointSlice
	changed bool
}

// PlanSlices compares the slices this controller already manages for svc
// with the desired groups and returns the fewest writes that reconcile
// them: endpoints stay in the slice that holds them, changed endpoints are
// rewritten in place, new ones fill slices that are being written anyway
// before new slices are made, and unchanged slices are left alone. A
// Service without endpoints keeps one empty placeholder slice, as in
// Kubernetes.
func PlanSlices(svc *corev1.Service, groups []Group, existing []*discoveryv1.EndpointSlice, maxPerSlice int) Plan {
	if maxPerSlice <= 0 {
		maxPerSlice = MaxEndpointsPerSlice
	}
	var plan Plan
	wantLabels := SliceLabels(svc)
	wantRefs := []metav1.OwnerReference{OwnerRef(svc)}
	metaOK := func(s *discoveryv1.EndpointSlice) bool {
		return maps.Equal(s.Labels, wantLabels) && apiequality.Semantic.DeepEqual(s.OwnerReferences, wantRefs)
	}
	fixMeta := func(s *discoveryv1.EndpointSlice) {
		s.Labels = maps.Clone(wantLabels)
		s.OwnerReferences = []metav1.OwnerReference{OwnerRef(svc)}
	}

	existingByKey := map[string][]*discoveryv1.EndpointSlice{}
	for _, s := range sortedByName(existing) {
		if s.AddressType != discoveryv1.AddressTypeIPv4 {
			plan.Delete = append(plan.Delete, s)
			continue
		}
		k := PortsKey(s.Ports)
		existingByKey[k] = append(existingByKey[k], s)
	}
	desiredByKey := map[string]*Group{}
	total := 0
	for i := range groups {
		desiredByKey[PortsKey(groups[i].Ports)] = &groups[i]
		total += len(groups[i].Endpoints)
	}
	keys := make([]string, 0, len(existingByKey)+len(desiredByKey))
	for k := range existingByKey {
		keys = append(keys, k)
	}
	for k := range desiredByKey {
		if _, ok := existingByKey[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)

	var emptied []*sliceWork
	for _, key := range keys {
		g := desiredByKey[key]
		want := map[string]*discoveryv1.Endpoint{}
		if g != nil {
			for i := range g.Endpoints {
				want[endpointKey(&g.Endpoints[i])] = &g.Endpoints[i]
			}
		}
		placed := map[string]bool{}
		var works []*sliceWork
		for _, s := range existingByKey[key] {
			w := &sliceWork{orig: s, next: s.DeepCopy()}
			w.next.Endpoints = nil
			for i := range s.Endpoints {
				ep := &s.Endpoints[i]
				k := endpointKey(ep)
				d, ok := want[k]
				if !ok || placed[k] {
					w.changed = true
					continue
				}
				placed[k] = true
				if !apiequality.Semantic.DeepEqual(*ep, *d) {
					w.changed = true
				}
				w.next.Endpoints = append(w.next.Endpoints, *d.DeepCopy())
			}
			if !metaOK(s) {
				w.changed = true
				fixMeta(w.next)
			}
			works = append(works, w)
		}
		var remaining []discoveryv1.Endpoint
		if g != nil {
			for i := range g.Endpoints {
				if !placed[endpointKey(&g.Endpoints[i])] {
					remaining = append(remaining, *g.Endpoints[i].DeepCopy())
				}
			}
		}
		// Fill slices that are being written anyway.
		for _, w := range works {
			if !w.changed || len(remaining) == 0 {
				continue
			}
			n := min(maxPerSlice-len(w.next.Endpoints), len(remaining))
			if n > 0 {
				w.next.Endpoints = append(w.next.Endpoints, remaining[:n]...)
				remaining = remaining[n:]
			}
		}
		// Whole new slices for full chunks.
		for len(remaining) >= maxPerSlice {
			plan.Create = append(plan.Create, newSlice(svc, g.Ports, remaining[:maxPerSlice]))
			remaining = remaining[maxPerSlice:]
		}
		// The last partial chunk goes into the fullest unchanged slice
		// with room for all of it, else into a new slice.
		if len(remaining) > 0 {
			var best *sliceWork
			for _, w := range works {
				if w.changed || len(w.next.Endpoints) == 0 || len(w.next.Endpoints)+len(remaining) > maxPerSlice {
					continue
				}
				if best == nil || len(w.next.Endpoints) > len(best.next.Endpoints) {
					best = w
				}
			}
			if best != nil {
				best.next.Endpoints = append(best.next.Endpoints, remaining...)
				best.changed = true
			} else {
				plan.Create = append(plan.Create, newSlice(svc, g.Ports, remaining))
			}
		}
		for _, w := range works {
			switch {
			case len(w.next.Endpoints) == 0:
				emptied = append(emptied, w)
			case w.changed:
				plan.Update = append(plan.Update, w.next)
			}
		}
	}

	if total == 0 {
		// Keep exactly one placeholder: an existing one as is, else
		// reuse a slice that would be deleted, else create one.
		var keep *sliceWork
		for _, w := range emptied {
			if len(w.orig.Endpoints) == 0 && len(w.orig.Ports) == 0 && metaOK(w.orig) {
				keep = w
				break
			}
		}
		if keep == nil && len(emptied) > 0 {
			keep = emptied[0]
			keep.next.Ports = nil
			keep.next.Endpoints = nil
			plan.Update = append(plan.Update, keep.next)
		}
		if keep == nil {
			plan.Create = append(plan.Create, newSlice(svc, nil, nil))
		}
		for _, w := range emptied {
			if w != keep {
				plan.Delete = append(plan.Delete, w.orig)
			}
		}
	} else {
		for _, w := range emptied {
			plan.Delete = append(plan.Delete, w.orig)
		}
	}
	plan.Update = sortedByName(plan.Update)
	plan.Delete = sortedByName(plan.Delete)
	return plan
}

func newSlice(svc *corev1.Service, ports []discoveryv1.EndpointPort, eps []discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    svc.Name + "-",
			Namespace:       svc.Namespace,
			Labels:          SliceLabels(svc),
			OwnerReferences: []metav1.OwnerReference{OwnerRef(svc)},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	for i := range ports {
		s.Ports = append(s.Ports, *ports[i].DeepCopy())
	}
	for i := range eps {
		s.Endpoints = append(s.Endpoints, *eps[i].DeepCopy())
	}
	return s
}

func sortedByName(in []*discoveryv1.EndpointSlice) []*discoveryv1.EndpointSlice {
	out := append([]*discoveryv1.EndpointSlice(nil), in...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
