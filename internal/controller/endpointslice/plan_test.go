package endpointslice

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// podsN makes n ready pods with IPs 10.42.<i/250>.<i%250+1>.
func podsN(n int, mutate func(i int, p *corev1.Pod)) []*corev1.Pod {
	out := make([]*corev1.Pod, n)
	for i := range n {
		out[i] = podWith(fmt.Sprintf("p%03d", i), fmt.Sprintf("10.42.%d.%d", i/250, i%250+1), 8080, nil)
		if mutate != nil {
			mutate(i, out[i])
		}
	}
	return out
}

// applyPlan returns the slices that exist after plan is written over
// existing; created slices get names new-0, new-1, ...
func applyPlan(existing []*discoveryv1.EndpointSlice, plan Plan) []*discoveryv1.EndpointSlice {
	byName := map[string]*discoveryv1.EndpointSlice{}
	for _, s := range existing {
		byName[s.Name] = s
	}
	for _, s := range plan.Update {
		byName[s.Name] = s
	}
	for _, s := range plan.Delete {
		delete(byName, s.Name)
	}
	for i, s := range plan.Create {
		s = s.DeepCopy()
		s.Name = fmt.Sprintf("new-%d", i)
		byName[s.Name] = s
	}
	return sortedByName(mapsValues(byName))
}

func mapsValues(m map[string]*discoveryv1.EndpointSlice) []*discoveryv1.EndpointSlice {
	var out []*discoveryv1.EndpointSlice
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// summary renders a plan as "create[n,...] update[name:n,...] delete[name,...]".
func summary(p Plan) string {
	var c, u, d []string
	for _, s := range p.Create {
		c = append(c, fmt.Sprint(len(s.Endpoints)))
	}
	for _, s := range p.Update {
		u = append(u, fmt.Sprintf("%s:%d", s.Name, len(s.Endpoints)))
	}
	for _, s := range p.Delete {
		d = append(d, s.Name)
	}
	return fmt.Sprintf("create[%s] update[%s] delete[%s]", strings.Join(c, ","), strings.Join(u, ","), strings.Join(d, ","))
}

// named gives existing slices stable names s0, s1, ... in order.
func named(slices []*discoveryv1.EndpointSlice) []*discoveryv1.EndpointSlice {
	for i, s := range slices {
		s.Name = fmt.Sprintf("s%d", i)
		s.UID = types.UID("uid-" + s.Name)
		s.ResourceVersion = "7"
	}
	return slices
}

// reconciled is the slices a fresh plan over no slices produces for pods.
func reconciled(svc *corev1.Service, pods []*corev1.Pod, max int) []*discoveryv1.EndpointSlice {
	return named(PlanSlices(svc, Desired(svc, pods, nil), nil, max).Create)
}

func TestPlanSlices(t *testing.T) {
	svc := svcWith(nil)
	tests := []struct {
		name     string
		svc      *corev1.Service
		existing []*discoveryv1.EndpointSlice
		pods     []*corev1.Pod
		max      int
		want     string
	}{
		{name: "fresh service", pods: podsN(3, nil), want: "create[3] update[] delete[]"},
		{name: "fresh service, 250 pods, 100 per slice", pods: podsN(250, nil), want: "create[100,100,50] update[] delete[]"},
		{name: "unchanged is left alone", existing: reconciled(svc, podsN(250, nil), 100), pods: podsN(250, nil),
			want: "create[] update[] delete[]"},
		{name: "readiness flip rewrites only its slice", existing: reconciled(svc, podsN(250, nil), 100),
			pods: podsN(250, func(i int, p *corev1.Pod) {
				if i == 120 {
					notReady(p)
				}
			}),
			want: "create[] update[s1:100] delete[]"},
		{name: "a new pod fills the slice a removed pod left", existing: reconciled(svc, podsN(3, nil), 100),
			pods: append(podsN(3, nil)[1:], podWith("new", "10.42.9.9", 8080, nil)),
			want: "create[] update[s0:3] delete[]"},
		{name: "a new pod goes into the fullest slice with room", existing: reconciled(svc, podsN(150, nil), 100),
			pods: append(podsN(150, nil), podWith("new", "10.42.9.9", 8080, nil)),
			want: "create[] update[s1:51] delete[]"},
		{name: "overflow creates a new slice", existing: reconciled(svc, podsN(100, nil), 100),
			pods: append(podsN(100, nil), podWith("new", "10.42.9.9", 8080, nil)),
			want: "create[1] update[] delete[]"},
		{name: "scale to zero reuses one slice as the placeholder", existing: reconciled(svc, podsN(250, nil), 100),
			want: "create[] update[s0:0] delete[s1,s2]"},
		{name: "no pods, no slices: a placeholder", want: "create[0] update[] delete[]"},
		{name: "placeholder kept", existing: reconciled(svc, nil, 100), want: "create[] update[] delete[]"},
		{name: "placeholder replaced once pods appear", existing: reconciled(svc, nil, 100), pods: podsN(2, nil),
			want: "create[2] update[] delete[s0]"},
		{name: "scale down empties a slice", existing: reconciled(svc, podsN(250, nil), 100), pods: podsN(150, nil),
			want: "create[] update[s1:50] delete[s2]"},
		{name: "target port change moves endpoints", existing: reconciled(svc, podsN(3, nil), 100),
			pods: podsN(3, func(_ int, p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 8081 }),
			want: "create[3] update[] delete[s0]"},
		{name: "service labels change rewrites metadata", existing: reconciled(svc, podsN(3, nil), 100),
			svc:  svcWith(func(s *corev1.Service) { s.Labels = map[string]string{"team": "b"} }),
			pods: podsN(3, nil), want: "create[] update[s0:3] delete[]"},
		{name: "duplicate endpoint across slices is dropped from one", pods: podsN(2, nil),
			existing: func() []*discoveryv1.EndpointSlice {
				a := reconciled(svc, podsN(2, nil), 100)[0]
				b := a.DeepCopy()
				b.Endpoints = b.Endpoints[:1]
				return named([]*discoveryv1.EndpointSlice{a, b})
			}(),
			want: "create[] update[] delete[s1]"},
		{name: "non-IPv4 slice is deleted", pods: podsN(1, nil),
			existing: func() []*discoveryv1.EndpointSlice {
				s := reconciled(svc, podsN(1, nil), 100)
				s[0].AddressType = discoveryv1.AddressTypeIPv6
				return s
			}(),
			want: "create[1] update[] delete[s0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.svc
			if s == nil {
				s = svc
			}
			desired := Desired(s, tt.pods, nil)
			plan := PlanSlices(s, desired, tt.existing, tt.max)
			if got := summary(plan); got != tt.want {
				t.Errorf("plan %s, want %s", got, tt.want)
			}
			checkConverged(t, s, tt.pods, applyPlan(tt.existing, plan), tt.max)
		})
	}
}

// checkConverged asserts the slices after a plan hold exactly the desired
// endpoints with correct metadata, and that planning again is a no-op.
func checkConverged(t *testing.T, svc *corev1.Service, pods []*corev1.Pod, after []*discoveryv1.EndpointSlice, max int) {
	t.Helper()
	if max == 0 {
		max = MaxEndpointsPerSlice
	}
	want := map[string]string{}
	for _, g := range Desired(svc, pods, nil) {
		for _, e := range g.Endpoints {
			want[e.Addresses[0]] = PortsKey(g.Ports)
		}
	}
	got := map[string]string{}
	for _, s := range after {
		if len(s.Endpoints) > max {
			t.Errorf("slice %s has %d endpoints", s.Name, len(s.Endpoints))
		}
		if s.Labels[discoveryv1.LabelServiceName] != svc.Name || s.Labels[discoveryv1.LabelManagedBy] != ControllerName ||
			s.Labels["team"] != svc.Labels["team"] || s.AddressType != discoveryv1.AddressTypeIPv4 {
			t.Errorf("slice %s labels %v type %s", s.Name, s.Labels, s.AddressType)
		}
		if ref := metav1.GetControllerOf(s); ref == nil || ref.UID != svc.UID || ref.Kind != "Service" {
			t.Errorf("slice %s owner %+v", s.Name, s.OwnerReferences)
		}
		for _, e := range s.Endpoints {
			if _, dup := got[e.Addresses[0]]; dup {
				t.Errorf("endpoint %s twice", e.Addresses[0])
			}
			got[e.Addresses[0]] = PortsKey(s.Ports)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("endpoints after plan %v, want %v", got, want)
	}
	if len(want) == 0 && (len(after) != 1 || len(after[0].Endpoints) != 0 || len(after[0].Ports) != 0) {
		t.Errorf("want one placeholder, have %d slices", len(after))
	}
	again := PlanSlices(svc, Desired(svc, pods, nil), named(after), max)
	if !again.Empty() {
		t.Errorf("second plan not empty: %s", summary(again))
	}
}
