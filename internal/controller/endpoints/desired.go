package endpoints

import (
	"maps"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"

	"github.com/gureum/gureum/internal/controller/endpointslice"
)

const (
	// MaxAddresses is how many addresses one Endpoints object holds;
	// beyond it Kubernetes truncates and says so in an annotation.
	MaxAddresses = 1000
	// AnnotationOverCapacity marks a truncated Endpoints object.
	AnnotationOverCapacity = "endpoints.kubernetes.io/over-capacity"
)

// Subsets computes the Endpoints subsets of svc from the pods in its
// namespace (the selector is applied here): ready pods (or every pod, with
// publishNotReadyAddresses) under addresses, the rest under
// notReadyAddresses, grouped by the ports each pod resolves. Terminating
// pods are left out unless the Service publishes not-ready addresses.
// Subsets are sorted by ports and addresses by IP, so equal inputs give
// equal output.
func Subsets(svc *corev1.Service, pods []*corev1.Pod) []corev1.EndpointSubset {
	if !endpointslice.SelectsPods(svc) {
		return nil
	}
	tolerateUnready := svc.Spec.PublishNotReadyAddresses
	byKey := map[string]*corev1.EndpointSubset{}
	for _, pod := range endpointslice.SelectedPods(svc, pods) {
		if !endpointslice.ShouldPodBeInEndpoints(pod, tolerateUnready) {
			continue
		}
		addr := corev1.EndpointAddress{
			IP:        endpointslice.PodIPv4(pod),
			Hostname:  endpointslice.PodHostname(svc, pod),
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		}
		if pod.Spec.NodeName != "" {
			n := pod.Spec.NodeName
			addr.NodeName = &n
		}
		var ports []corev1.EndpointPort
		if len(svc.Spec.Ports) == 0 {
			// Only headless Services may have no ports; their pods are
			// listed without any.
			if svc.Spec.ClusterIP != corev1.ClusterIPNone {
				continue
			}
		} else {
			for i := range svc.Spec.Ports {
				sp := &svc.Spec.Ports[i]
				num, ok := endpointslice.FindPort(pod, sp)
				if !ok {
					continue
				}
				proto := sp.Protocol
				if proto == "" {
					proto = corev1.ProtocolTCP
				}
				ports = append(ports, corev1.EndpointPort{Name: sp.Name, Port: num, Protocol: proto, AppProtocol: sp.AppProtocol})
			}
			if len(ports) == 0 {
				// The pod declares none of the Service's named ports.
				continue
			}
		}
		sort.Slice(ports, func(i, j int) bool { return ports[i].Name < ports[j].Name })
		key := portsKey(ports)
		ss := byKey[key]
		if ss == nil {
			ss = &corev1.EndpointSubset{Ports: ports}
			byKey[key] = ss
		}
		if tolerateUnready || endpointslice.IsPodReady(pod) {
			ss.Addresses = append(ss.Addresses, addr)
		} else {
			ss.NotReadyAddresses = append(ss.NotReadyAddresses, addr)
		}
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]corev1.EndpointSubset, 0, len(keys))
	for _, k := range keys {
		ss := byKey[k]
		sortAddresses(ss.Addresses)
		sortAddresses(ss.NotReadyAddresses)
		out = append(out, *ss)
	}
	return out
}

func portsKey(ports []corev1.EndpointPort) string {
	parts := make([]string, len(ports))
	for i, p := range ports {
		app := ""
		if p.AppProtocol != nil {
			app = *p.AppProtocol
		}
		parts[i] = p.Name + "/" + string(p.Protocol) + "/" + strconv.Itoa(int(p.Port)) + "/" + app
	}
	return strings.Join(parts, ",")
}

func sortAddresses(a []corev1.EndpointAddress) {
	sort.Slice(a, func(i, j int) bool {
		pi, ei := netip.ParseAddr(a[i].IP)
		pj, ej := netip.ParseAddr(a[j].IP)
		if ei != nil || ej != nil || pi == pj {
			return a[i].IP < a[j].IP
		}
		return pi.Less(pj)
	})
}

// Truncate caps subsets at max addresses in total, keeping ready
// addresses before not-ready ones, and reports whether it dropped any.
func Truncate(subsets []corev1.EndpointSubset, max int) ([]corev1.EndpointSubset, bool) {
	total := 0
	for _, ss := range subsets {
		total += len(ss.Addresses) + len(ss.NotReadyAddresses)
	}
	if total <= max {
		return subsets, false
	}
	out := make([]corev1.EndpointSubset, len(subsets))
	room := max
	for i, ss := range subsets {
		n := min(room, len(ss.Addresses))
		out[i] = corev1.EndpointSubset{Ports: ss.Ports, Addresses: ss.Addresses[:n]}
		room -= n
	}
	for i, ss := range subsets {
		n := min(room, len(ss.NotReadyAddresses))
		out[i].NotReadyAddresses = ss.NotReadyAddresses[:n]
		room -= n
	}
	kept := out[:0]
	for _, ss := range out {
		if len(ss.Addresses)+len(ss.NotReadyAddresses) > 0 {
			kept = append(kept, ss)
		}
	}
	return kept, true
}

// Desired is the Endpoints object svc should have, built on current (nil
// when there is none): the computed subsets, the Service's labels plus
// the headless label for a headless Service, and the over-capacity
// annotation when truncated. Other annotations on current are kept. It
// reports whether that differs from current, so unchanged objects are not
// rewritten.
func Desired(svc *corev1.Service, current *corev1.Endpoints, pods []*corev1.Pod) (*corev1.Endpoints, bool) {
	subsets, truncated := Truncate(Subsets(svc, pods), MaxAddresses)
	var out *corev1.Endpoints
	if current != nil {
		out = current.DeepCopy()
	} else {
		out = &corev1.Endpoints{}
		out.Name, out.Namespace = svc.Name, svc.Namespace
	}
	out.Subsets = subsets
	out.Labels = maps.Clone(svc.Labels)
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	delete(out.Labels, endpointslice.LabelHeadless)
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		out.Labels[endpointslice.LabelHeadless] = ""
	}
	if truncated {
		if out.Annotations == nil {
			out.Annotations = map[string]string{}
		}
		out.Annotations[AnnotationOverCapacity] = "truncated"
	} else {
		delete(out.Annotations, AnnotationOverCapacity)
	}
	if current == nil {
		return out, true
	}
	same := apiequality.Semantic.DeepEqual(normalize(current.Subsets), normalize(out.Subsets)) &&
		maps.Equal(current.Labels, out.Labels) &&
		current.Annotations[AnnotationOverCapacity] == out.Annotations[AnnotationOverCapacity]
	return out, !same
}

// normalize makes nil and empty lists compare equal.
func normalize(subsets []corev1.EndpointSubset) []corev1.EndpointSubset {
	if len(subsets) == 0 {
		return nil
	}
	out := make([]corev1.EndpointSubset, len(subsets))
	for i, ss := range subsets {
		out[i] = corev1.EndpointSubset{Ports: ss.Ports}
		if len(ss.Addresses) > 0 {
			out[i].Addresses = ss.Addresses
		}
		if len(ss.NotReadyAddresses) > 0 {
			out[i].NotReadyAddresses = ss.NotReadyAddresses
		}
		if len(ss.Ports) == 0 {
			out[i].Ports = nil
		}
	}
	return out
}
