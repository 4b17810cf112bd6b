package endpoints

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
				{Name: "admin", Port: 81, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(9000)},
			},
		},
	}
	if mutate != nil {
		mutate(s)
	}
	return s
}

func podWith(name, ip string, httpPort int32, mutate func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name + "-uid"), Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{
			NodeName:   "node-a",
			Containers: []corev1.Container{{Name: "c", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: httpPort}}}},
		},
		Status: corev1.PodStatus{
			Phase:      corev1.PodRunning,
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

// render gives subsets as "ports{ready}{notready}" joined by spaces.
func render(subsets []corev1.EndpointSubset) string {
	var out []string
	for _, ss := range subsets {
		var ports, ready, unready []string
		for _, p := range ss.Ports {
			ports = append(ports, fmt.Sprintf("%s:%d", p.Name, p.Port))
		}
		for _, a := range ss.Addresses {
			if a.TargetRef == nil || a.TargetRef.Kind != "Pod" || a.NodeName == nil {
				ready = append(ready, "bad:")
			}
			ready = append(ready, a.IP)
		}
		for _, a := range ss.NotReadyAddresses {
			unready = append(unready, a.IP)
		}
		out = append(out, fmt.Sprintf("%s{%s}{%s}", strings.Join(ports, ","), strings.Join(ready, ","), strings.Join(unready, ",")))
	}
	return strings.Join(out, " ")
}

func TestSubsets(t *testing.T) {
	tests := []struct {
		name string
		svc  *corev1.Service
		pods []*corev1.Pod
		want string
	}{
		{"ready and not ready", svcWith(nil),
			[]*corev1.Pod{podWith("a", "10.42.0.10", 8080, nil), podWith("b", "10.42.0.2", 8080, notReady), podWith("c", "10.42.0.3", 8080, nil)},
			"admin:9000,http:8080{10.42.0.3,10.42.0.10}{10.42.0.2}"},
		{"named port numbers differ per pod", svcWith(nil),
			[]*corev1.Pod{podWith("a", "10.42.0.2", 8080, nil), podWith("b", "10.42.0.3", 8081, nil)},
			"admin:9000,http:8080{10.42.0.2}{} admin:9000,http:8081{10.42.0.3}{}"},
		{"terminating pods are left out", svcWith(nil),
			[]*corev1.Pod{podWith("a", "10.42.0.2", 8080, terminating), podWith("b", "10.42.0.3", 8080, nil)},
			"admin:9000,http:8080{10.42.0.3}{}"},
		{"publishNotReadyAddresses lists every pod as ready, terminating too",
			svcWith(func(s *corev1.Service) { s.Spec.PublishNotReadyAddresses = true }),
			[]*corev1.Pod{podWith("a", "10.42.0.2", 8080, notReady), podWith("b", "10.42.0.3", 8080, terminating)},
			"admin:9000,http:8080{10.42.0.2,10.42.0.3}{}"},
		{"pods without an IP or finished are left out", svcWith(nil),
			[]*corev1.Pod{podWith("a", "", 8080, nil), podWith("b", "10.42.0.3", 8080, func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed })},
			""},
		{"headless without ports lists addresses only",
			svcWith(func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.Ports = corev1.ClusterIPNone, nil }),
			[]*corev1.Pod{podWith("a", "10.42.0.2", 8080, nil)},
			"{10.42.0.2}{}"},
		{"pod missing the named port keeps the numeric one", svcWith(nil),
			[]*corev1.Pod{podWith("a", "10.42.0.2", 8080, func(p *corev1.Pod) { p.Spec.Containers[0].Ports = nil })},
			"admin:9000{10.42.0.2}{}"},
		{"no selector", svcWith(func(s *corev1.Service) { s.Spec.Selector = nil }),
			[]*corev1.Pod{podWith("a", "10.42.0.2", 8080, nil)}, ""},
		{"other labels are not selected", svcWith(nil),
			[]*corev1.Pod{podWith("a", "10.42.0.2", 8080, func(p *corev1.Pod) { p.Labels = nil })}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := render(Subsets(tt.svc, tt.pods)); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestTruncate(t *testing.T) {
	addrs := func(n int) []corev1.EndpointAddress {
		out := make([]corev1.EndpointAddress, n)
		for i := range out {
			out[i].IP = fmt.Sprintf("10.0.0.%d", i)
		}
		return out
	}
	in := []corev1.EndpointSubset{
		{Addresses: addrs(3), NotReadyAddresses: addrs(2)},
		{Addresses: addrs(2), NotReadyAddresses: addrs(4)},
	}
	tests := []struct {
		max       int
		want      string
		truncated bool
	}{
		{11, "3/2 2/4", false},
		{5, "3/0 2/0", true},
		{7, "3/2 2/0", true},
		{2, "2/0", true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.max), func(t *testing.T) {
			out, truncated := Truncate(in, tt.max)
			var got []string
			for _, ss := range out {
				got = append(got, fmt.Sprintf("%d/%d", len(ss.Addresses), len(ss.NotReadyAddresses)))
			}
			if strings.Join(got, " ") != tt.want || truncated != tt.truncated {
				t.Errorf("got %v %v, want %s %v", got, truncated, tt.want, tt.truncated)
			}
		})
	}
}

func TestDesiredObject(t *testing.T) {
	pods := []*corev1.Pod{podWith("a", "10.42.0.2", 8080, nil)}
	fresh, changed := Desired(svcWith(nil), nil, pods)
	if !changed || fresh.Name != "web" || fresh.Namespace != "ns" || fresh.Labels["team"] != "a" {
		t.Fatalf("fresh %+v changed %v", fresh.ObjectMeta, changed)
	}
	if _, ok := fresh.Labels["service.kubernetes.io/headless"]; ok {
		t.Errorf("non-headless service labelled headless")
	}
	current := fresh.DeepCopy()
	current.ResourceVersion = "5"
	current.Annotations = map[string]string{"keep": "me"}
	again, changed := Desired(svcWith(nil), current, pods)
	if changed {
		t.Errorf("unchanged endpoints reported changed")
	}
	if again.Annotations["keep"] != "me" || again.ResourceVersion != "5" {
		t.Errorf("current metadata not kept: %+v", again.ObjectMeta)
	}
	headless := svcWith(func(s *corev1.Service) { s.Spec.ClusterIP = corev1.ClusterIPNone })
	h, changed := Desired(headless, current, pods)
	if _, ok := h.Labels["service.kubernetes.io/headless"]; !ok || !changed {
		t.Errorf("headless label %v changed %v", h.Labels, changed)
	}
	notHeadless, changed := Desired(svcWith(nil), h, pods)
	if _, ok := notHeadless.Labels["service.kubernetes.io/headless"]; ok || !changed {
		t.Errorf("headless label not removed: %v", notHeadless.Labels)
	}
	flipped, changed := Desired(svcWith(nil), current, []*corev1.Pod{podWith("a", "10.42.0.2", 8080, notReady)})
	if !changed || len(flipped.Subsets) != 1 || len(flipped.Subsets[0].NotReadyAddresses) != 1 {
		t.Errorf("readiness flip: changed %v subsets %+v", changed, flipped.Subsets)
	}
	var many []*corev1.Pod
	for i := range MaxAddresses + 5 {
		many = append(many, podWith(fmt.Sprintf("p%d", i), fmt.Sprintf("10.42.%d.%d", i/250, i%250+1), 8080, nil))
	}
	big, _ := Desired(svcWith(nil), nil, many)
	if big.Annotations[AnnotationOverCapacity] != "truncated" || len(big.Subsets[0].Addresses) != MaxAddresses {
		t.Errorf("over capacity: annotations %v, %d addresses", big.Annotations, len(big.Subsets[0].Addresses))
	}
	small, changed := Desired(svcWith(nil), big, pods)
	if _, ok := small.Annotations[AnnotationOverCapacity]; ok || !changed {
		t.Errorf("over-capacity annotation not removed: %v", small.Annotations)
	}
}
