package endpointslice

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func svcWith(mutate func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "svc-uid", Labels: map[string]string{"team": "a"}},
		Spec: corev1.ServiceSpec{
			Selector:  map[string]string{"app": "web"},
			ClusterIP: "10.43.0.10",
			Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("http")},
				{Name: "metrics", Port: 9090, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(9100)},
			},
		},
	}
	if mutate != nil {
		mutate(s)
	}
	return s
}

// podWith is a ready, running pod named name with IP ip on node-a whose
// container port "http" is httpPort.
func podWith(name, ip string, httpPort int32, mutate func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name + "-uid"), Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{
			NodeName:   "node-a",
			Containers: []corev1.Container{{Name: "c", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: httpPort}}}},
		},
		Status: corev1.PodStatus{
			Phase:      corev1.PodRunning,
			PodIP:      ip,
			PodIPs:     []corev1.PodIP{{IP: ip}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
		},
	}
	if mutate != nil {
		mutate(p)
	}
	return p
}

func notReady(p *corev1.Pod) { p.Status.Conditions[0].Status = corev1.ConditionFalse }
func terminating(p *corev1.Pod) {
	now := metav1.Now()
	p.DeletionTimestamp = &now
}

// describe renders groups compactly: "ports|ip:r/s/t@node,zone;...".
func describe(groups []Group) string {
	var out []string
	for _, g := range groups {
		var eps []string
		for _, e := range g.Endpoints {
			b := func(p *bool) string {
				if p != nil && *p {
					return "1"
				}
				return "0"
			}
			s := fmt.Sprintf("%s:%s%s%s", e.Addresses[0], b(e.Conditions.Ready), b(e.Conditions.Serving), b(e.Conditions.Terminating))
			if e.NodeName != nil {
				s += "@" + *e.NodeName
			}
			if e.Zone != nil {
				s += "," + *e.Zone
			}
			if e.Hostname != nil {
				s += ",h=" + *e.Hostname
			}
			if e.TargetRef == nil || e.TargetRef.Kind != "Pod" || e.TargetRef.UID == "" {
				s += ",badref"
			}
			eps = append(eps, s)
		}
		out = append(out, PortsKey(g.Ports)+"|"+strings.Join(eps, ";"))
	}
	return strings.Join(out, " ")
}

func TestDesired(t *testing.T) {
	tests := []struct {
		name  string
		svc   *corev1.Service
		pods  []*corev1.Pod
		zones map[string]string
		want  string
	}{
		{
			name: "ready pods share one group",
			svc:  svcWith(nil),
			pods: []*corev1.Pod{podWith("b", "10.42.0.3", 8080, nil), podWith("a", "10.42.0.2", 8080, nil)},
			want: "http/TCP/8080/,metrics/TCP/9100/|10.42.0.2:110@node-a;10.42.0.3:110@node-a",
		},
		{
			name: "named target port resolved per pod splits groups",
			svc:  svcWith(nil),
			pods: []*corev1.Pod{podWith("a", "10.42.0.2", 8080, nil), podWith("b", "10.42.0.3", 8081, nil)},
			want: "http/TCP/8080/,metrics/TCP/9100/|10.42.0.2:110@node-a http/TCP/8081/,metrics/TCP/9100/|10.42.0.3:110@node-a",
		},
		{
			name: "pod without the named port gets only the numeric one",
			svc:  svcWith(nil),
			pods: []*corev1.Pod{podWith("a", "10.42.0.2", 8080, func(p *corev1.Pod) { p.Spec.Containers[0].Ports = nil })},
			want: "metrics/TCP/9100/|10.42.0.2:110@node-a",
		},
		{
			name: "not ready, terminating, and terminating while ready",
			svc:  svcWith(nil),
			pods: []*corev1.Pod{
				podWith("a", "10.42.0.2", 8080, notReady),
				podWith("b", "10.42.0.3", 8080, terminating),
				podWith("c", "10.42.0.4", 8080, func(p *corev1.Pod) { notReady(p); terminating(p) }),
			},
			want: "http/TCP/8080/,metrics/TCP/9100/|10.42.0.2:000@node-a;10.42.0.3:011@node-a;10.42.0.4:001@node-a",
		},
		{
			name: "publishNotReadyAddresses makes every endpoint ready",
			svc:  svcWith(func(s *corev1.Service) { s.Spec.PublishNotReadyAddresses = true }),
			pods: []*corev1.Pod{podWith("a", "10.42.0.2", 8080, notReady), podWith("b", "10.42.0.3", 8080, terminating)},
			want: "http/TCP/8080/,metrics/TCP/9100/|10.42.0.2:100@node-a;10.42.0.3:111@node-a",
		},
		{
			name: "pods without IPv4, terminal, or not selected are left out",
			svc:  svcWith(nil),
			pods: []*corev1.Pod{
				podWith("noip", "", 8080, nil),
				podWith("v6", "fd00::1", 8080, nil),
				podWith("done", "10.42.0.5", 8080, func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }),
				podWith("failed", "10.42.0.6", 8080, func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }),
				podWith("other", "10.42.0.7", 8080, func(p *corev1.Pod) { p.Labels = map[string]string{"app": "db"} }),
				podWith("otherns", "10.42.0.8", 8080, func(p *corev1.Pod) { p.Namespace = "elsewhere" }),
				podWith("dual", "fd00::2", 8080, func(p *corev1.Pod) {
					p.Status.PodIPs = []corev1.PodIP{{IP: "fd00::2"}, {IP: "10.42.0.9"}}
				}),
			},
			want: "http/TCP/8080/,metrics/TCP/9100/|10.42.0.9:110@node-a",
		},
		{
			name:  "zone from node label, hostname from subdomain",
			svc:   svcWith(nil),
			zones: map[string]string{"node-a": "z1"},
			pods: []*corev1.Pod{podWith("a", "10.42.0.2", 8080, func(p *corev1.Pod) {
				p.Spec.Hostname, p.Spec.Subdomain = "web-0", "web"
			})},
			want: "http/TCP/8080/,metrics/TCP/9100/|10.42.0.2:110@node-a,z1,h=web-0",
		},
		{
			name: "unscheduled pod with an IP has no node",
			svc:  svcWith(nil),
			pods: []*corev1.Pod{podWith("a", "10.42.0.2", 8080, func(p *corev1.Pod) { p.Spec.NodeName = "" })},
			want: "http/TCP/8080/,metrics/TCP/9100/|10.42.0.2:110",
		},
		{
			name: "headless without ports",
			svc: svcWith(func(s *corev1.Service) {
				s.Spec.ClusterIP = corev1.ClusterIPNone
				s.Spec.Ports = nil
			}),
			pods: []*corev1.Pod{podWith("a", "10.42.0.2", 8080, nil)},
			want: "|10.42.0.2:110@node-a",
		},
		{
			name: "zero target port means the service port",
			svc: svcWith(func(s *corev1.Service) {
				s.Spec.Ports = []corev1.ServicePort{{Port: 53, Protocol: corev1.ProtocolUDP}}
			}),
			pods: []*corev1.Pod{podWith("a", "10.42.0.2", 8080, nil)},
			want: "/UDP/53/|10.42.0.2:110@node-a",
		},
		{
			name: "named port must match protocol",
			svc: svcWith(func(s *corev1.Service) {
				s.Spec.Ports = []corev1.ServicePort{{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromString("http")}}
			}),
			pods: []*corev1.Pod{podWith("a", "10.42.0.2", 8080, nil)},
			want: "|10.42.0.2:110@node-a",
		},
		{
			name: "no selector: nothing",
			svc:  svcWith(func(s *corev1.Service) { s.Spec.Selector = nil }),
			pods: []*corev1.Pod{podWith("a", "10.42.0.2", 8080, nil)},
			want: "",
		},
		{
			name: "external name: nothing",
			svc:  svcWith(func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeExternalName }),
			pods: []*corev1.Pod{podWith("a", "10.42.0.2", 8080, nil)},
			want: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := describe(Desired(tt.svc, tt.pods, tt.zones)); got != tt.want {
				t.Errorf("Desired:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestDesiredEndpointFields(t *testing.T) {
	g := Desired(svcWith(nil), []*corev1.Pod{podWith("a", "10.42.0.2", 8080, nil)}, nil)
	if len(g) != 1 || len(g[0].Endpoints) != 1 {
		t.Fatalf("groups %+v", g)
	}
	ep := g[0].Endpoints[0]
	ref := ep.TargetRef
	if ref.Kind != "Pod" || ref.Namespace != "ns" || ref.Name != "a" || ref.UID != "a-uid" {
		t.Errorf("targetRef %+v", ref)
	}
	p := g[0].Ports[0]
	if *p.Name != "http" || *p.Protocol != corev1.ProtocolTCP || *p.Port != 8080 || p.AppProtocol != nil {
		t.Errorf("port %+v", p)
	}
}
