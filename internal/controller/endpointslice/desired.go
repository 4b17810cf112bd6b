package endpointslice

import (
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Labels and names Kubernetes gives the slices this controller manages.
const (
	// ControllerName is the value of the managed-by label on our slices.
	ControllerName = "endpointslice-controller.k8s.io"
	// LabelHeadless marks slices (and Endpoints) of headless Services.
	LabelHeadless = "service.kubernetes.io/headless"
	// MaxEndpointsPerSlice is how many endpoints one slice holds, as the
	// Kubernetes controller's default --max-endpoints-per-slice.
	MaxEndpointsPerSlice = 100
)

// Group is a set of endpoints that share one resolved port set: pods whose
// named target ports resolve to different numbers end up in different
// groups, hence different slices.
type Group struct {
	Ports     []discoveryv1.EndpointPort
	Endpoints []discoveryv1.Endpoint
}

// SelectsPods reports whether the controllers derive endpoints for svc from
// pods: it has a selector and is not an ExternalName alias.
func SelectsPods(svc *corev1.Service) bool {
	return len(svc.Spec.Selector) > 0 && svc.Spec.Type != corev1.ServiceTypeExternalName
}

// PodIPv4 is the pod's IPv4 address from status.podIPs (falling back to
// status.podIP), or "" if it has none.
func PodIPv4(pod *corev1.Pod) string {
	for _, ip := range pod.Status.PodIPs {
		if isIPv4(ip.IP) {
			return ip.IP
		}
	}
	if isIPv4(pod.Status.PodIP) {
		return pod.Status.PodIP
	}
	return ""
}

func isIPv4(s string) bool {
	ip := net.ParseIP(s)
	return ip != nil && ip.To4() != nil
}

// IsPodReady reports the pod's Ready condition (the agent folds readiness
// gates into it).
func IsPodReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// ShouldPodBeInEndpoints reports whether a pod can back a Service at all:
// it has an IPv4 address and has not reached a terminal phase. Terminating
// pods count only when includeTerminating is set.
func ShouldPodBeInEndpoints(pod *corev1.Pod, includeTerminating bool) bool {
	if PodIPv4(pod) == "" {
		return false
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false
	}
	return includeTerminating || pod.DeletionTimestamp == nil
}

// FindPort resolves a Service port's target in one pod: a number is used
// as is (zero means the Service port itself), a name is looked up among
// the pod's container ports with the same protocol.
func FindPort(pod *corev1.Pod, sp *corev1.ServicePort) (int32, bool) {
	tp := sp.TargetPort
	if tp.Type == intstr.String {
		proto := sp.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		for _, c := range pod.Spec.Containers {
			for _, cp := range c.Ports {
				cpProto := cp.Protocol
				if cpProto == "" {
					cpProto = corev1.ProtocolTCP
				}
				if cp.Name == tp.StrVal && cpProto == proto {
					return cp.ContainerPort, true
				}
			}
		}
		return 0, false
	}
	if tp.IntVal != 0 {
		return tp.IntVal, true
	}
	return sp.Port, true
}

// SelectedPods filters pods down to those svc's selector matches.
func SelectedPods(svc *corev1.Service, pods []*corev1.Pod) []*corev1.Pod {
	if len(svc.Spec.Selector) == 0 {
		return nil
	}
	sel := labels.SelectorFromValidatedSet(svc.Spec.Selector)
	var out []*corev1.Pod
	for _, p := range pods {
		if p.Namespace == svc.Namespace && sel.Matches(labels.Set(p.Labels)) {
			out = append(out, p)
		}
	}
	return out
}

// Desired computes the endpoints svc should have, grouped by resolved port
// set, from the pods in its namespace (the selector is applied here) and
// the zone of each node (node name -> topology.kubernetes.io/zone).
// Groups come out sorted by port key and endpoints by address.
func Desired(svc *corev1.Service, pods []*corev1.Pod, zones map[string]string) []Group {
	if !SelectsPods(svc) {
		return nil
	}
	byKey := map[string]*Group{}
	for _, pod := range SelectedPods(svc, pods) {
		if !ShouldPodBeInEndpoints(pod, true) {
			continue
		}
		ports := endpointPorts(svc, pod)
		key := PortsKey(ports)
		g := byKey[key]
		if g == nil {
			g = &Group{Ports: ports}
			byKey[key] = g
		}
		g.Endpoints = append(g.Endpoints, podEndpoint(svc, pod, zones))
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]Group, 0, len(keys))
	for _, k := range keys {
		g := byKey[k]
		sort.Slice(g.Endpoints, func(i, j int) bool { return addressLess(endpointKey(&g.Endpoints[i]), endpointKey(&g.Endpoints[j])) })
		out = append(out, *g)
	}
	return out
}

// endpointPorts resolves every Service port for one pod; a port whose
// named target the pod does not declare is left out for that pod, as
// Kubernetes does.
func endpointPorts(svc *corev1.Service, pod *corev1.Pod) []discoveryv1.EndpointPort {
	out := make([]discoveryv1.EndpointPort, 0, len(svc.Spec.Ports))
	for i := range svc.Spec.Ports {
		sp := &svc.Spec.Ports[i]
		num, ok := FindPort(pod, sp)
		if !ok {
			continue
		}
		name, proto, port := sp.Name, sp.Protocol, num
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		ep := discoveryv1.EndpointPort{Name: &name, Protocol: &proto, Port: &port}
		if sp.AppProtocol != nil {
			ap := *sp.AppProtocol
			ep.AppProtocol = &ap
		}
		out = append(out, ep)
	}
	return out
}

func podEndpoint(svc *corev1.Service, pod *corev1.Pod, zones map[string]string) discoveryv1.Endpoint {
	serving := IsPodReady(pod)
	terminating := pod.DeletionTimestamp != nil
	// Ready is never true for a terminating pod unless the Service asks
	// for not-ready addresses, for compatibility with Endpoints.
	ready := svc.Spec.PublishNotReadyAddresses || (serving && !terminating)
	ep := discoveryv1.Endpoint{
		Addresses: []string{PodIPv4(pod)},
		Conditions: discoveryv1.EndpointConditions{
			Ready: &ready, Serving: &serving, Terminating: &terminating,
		},
		TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
	}
	if pod.Spec.NodeName != "" {
		n := pod.Spec.NodeName
		ep.NodeName = &n
		if z, ok := zones[n]; ok && z != "" {
			ep.Zone = &z
		}
	}
	if h := PodHostname(svc, pod); h != "" {
		ep.Hostname = &h
	}
	return ep
}

// PodHostname is the DNS hostname a pod has within svc: its
// spec.hostname when its spec.subdomain names the Service.
func PodHostname(svc *corev1.Service, pod *corev1.Pod) string {
	if pod.Spec.Hostname != "" && pod.Spec.Subdomain == svc.Name && pod.Namespace == svc.Namespace {
		return pod.Spec.Hostname
	}
	return ""
}

// PortsKey identifies a port set independent of order.
func PortsKey(ports []discoveryv1.EndpointPort) string {
	parts := make([]string, 0, len(ports))
	for _, p := range ports {
		name, proto, app := "", string(corev1.ProtocolTCP), ""
		var num int32
		if p.Name != nil {
			name = *p.Name
		}
		if p.Protocol != nil {
			proto = string(*p.Protocol)
		}
		if p.Port != nil {
			num = *p.Port
		}
		if p.AppProtocol != nil {
			app = *p.AppProtocol
		}
		parts = append(parts, fmt.Sprintf("%s/%s/%d/%s", name, proto, num, app))
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// addressLess orders IP addresses numerically (10.0.0.2 before 10.0.0.10).
func addressLess(a, b string) bool {
	pa, errA := netip.ParseAddr(a)
	pb, errB := netip.ParseAddr(b)
	if errA != nil || errB != nil {
		return a < b
	}
	return pa.Less(pb)
}

// endpointKey identifies an endpoint by its address, which is unique among
// a Service's pods.
func endpointKey(ep *discoveryv1.Endpoint) string {
	if len(ep.Addresses) == 0 {
		return ""
	}
	return ep.Addresses[0]
}
