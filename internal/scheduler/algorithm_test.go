package scheduler

import (
	"errors"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPodRequests(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	c := func(cpu int64, mem int64) corev1.Container {
		return corev1.Container{Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU:    *resource.NewMilliQuantity(cpu, resource.DecimalSI),
			corev1.ResourceMemory: *resource.NewQuantity(mem, resource.BinarySI),
		}}}
	}
	sidecar := func(cpu, mem int64) corev1.Container {
		x := c(cpu, mem)
		x.RestartPolicy = &always
		return x
	}
	tests := []struct {
		name        string
		spec        corev1.PodSpec
		want        Resources
		wantNonZero Resources
	}{
		{"sum of containers", corev1.PodSpec{Containers: []corev1.Container{c(100, 10), c(200, 20)}},
			Resources{MilliCPU: 300, Memory: 30}, Resources{MilliCPU: 300, Memory: 30}},
		{"init container larger", corev1.PodSpec{InitContainers: []corev1.Container{c(1000, 5)}, Containers: []corev1.Container{c(100, 10), c(200, 20)}},
			Resources{MilliCPU: 1000, Memory: 30}, Resources{MilliCPU: 1000, Memory: 30}},
		{"max of init containers, not sum", corev1.PodSpec{InitContainers: []corev1.Container{c(500, 1), c(400, 1)}, Containers: []corev1.Container{c(100, 10)}},
			Resources{MilliCPU: 500, Memory: 10}, Resources{MilliCPU: 500, Memory: 10}},
		{"sidecar adds to containers and later init containers", corev1.PodSpec{
			InitContainers: []corev1.Container{sidecar(100, 100), c(500, 1)},
			Containers:     []corev1.Container{c(200, 10)}},
			Resources{MilliCPU: 600, Memory: 110}, Resources{MilliCPU: 600, Memory: 110}},
		{"overhead", corev1.PodSpec{Containers: []corev1.Container{c(100, 10)}, Overhead: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")}},
			Resources{MilliCPU: 350, Memory: 10}, Resources{MilliCPU: 350, Memory: 10}},
		{"no requests: zero, but scored as 100m/200Mi", corev1.PodSpec{Containers: []corev1.Container{{}}},
			Resources{}, Resources{MilliCPU: 100, Memory: 200 << 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, nz := PodRequests(&corev1.Pod{Spec: tt.spec})
			if got != tt.want || nz != tt.wantNonZero {
				t.Errorf("PodRequests = %+v, %+v; want %+v, %+v", got, nz, tt.want, tt.wantNonZero)
			}
		})
	}
}

func TestFilters(t *testing.T) {
	always := func(p *corev1.Pod) {}
	tests := []struct {
		name   string
		node   *corev1.Node
		placed []*corev1.Pod
		pod    *corev1.Pod
		want   []string
	}{
		{"fits", testNode("n", 1000, 1024, 10), nil, testPod("p", 500, 512), nil},
		{"insufficient cpu", testNode("n", 1000, 1024, 10), []*corev1.Pod{testPod("a", 600, 0)}, testPod("p", 500, 0), []string{ReasonInsufficientCPU}},
		{"insufficient cpu and memory", testNode("n", 1000, 1024, 10), nil, testPod("p", 2000, 2048), []string{ReasonInsufficientCPU, ReasonInsufficientMemory}},
		{"exactly full fits", testNode("n", 1000, 1024, 10), []*corev1.Pod{testPod("a", 500, 512)}, testPod("p", 500, 512), nil},
		{"too many pods", testNode("n", 1000, 1024, 1), []*corev1.Pod{testPod("a", 0, 0)}, testPod("p", 0, 0), []string{ReasonTooManyPods}},
		{"zero request fits a full node", testNode("n", 1000, 1024, 10), []*corev1.Pod{testPod("a", 1000, 1024)}, testPod("p", 0, 0), nil},
		{"ephemeral storage", testNode("n", 1000, 1024, 10), nil, testPod("p", 0, 0, func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests[corev1.ResourceEphemeralStorage] = resource.MustParse("20Gi")
		}), []string{ReasonInsufficientEphemeral}},
		{"nodeSelector matches", testNode("n", 1000, 1024, 10, withLabels("disk", "ssd")), nil, testPod("p", 0, 0, nodeSelector("disk", "ssd")), nil},
		{"nodeSelector differs", testNode("n", 1000, 1024, 10, withLabels("disk", "hdd")), nil, testPod("p", 0, 0, nodeSelector("disk", "ssd")), []string{ReasonNodeAffinity}},
		{"nodeSelector label missing", testNode("n", 1000, 1024, 10), nil, testPod("p", 0, 0, nodeSelector("disk", "ssd")), []string{ReasonNodeAffinity}},
		{"affinity In", testNode("n", 1000, 1024, 10, withLabels("zone", "a")), nil, testPod("p", 0, 0, requiredNodeAffinity(expr("zone", corev1.NodeSelectorOpIn, "a", "b"))), nil},
		{"affinity In misses", testNode("n", 1000, 1024, 10, withLabels("zone", "c")), nil, testPod("p", 0, 0, requiredNodeAffinity(expr("zone", corev1.NodeSelectorOpIn, "a", "b"))), []string{ReasonNodeAffinity}},
		{"affinity NotIn without label", testNode("n", 1000, 1024, 10), nil, testPod("p", 0, 0, requiredNodeAffinity(expr("zone", corev1.NodeSelectorOpNotIn, "a"))), nil},
		{"affinity NotIn", testNode("n", 1000, 1024, 10, withLabels("zone", "a")), nil, testPod("p", 0, 0, requiredNodeAffinity(expr("zone", corev1.NodeSelectorOpNotIn, "a"))), []string{ReasonNodeAffinity}},
		{"affinity Exists", testNode("n", 1000, 1024, 10, withLabels("gpu", "")), nil, testPod("p", 0, 0, requiredNodeAffinity(expr("gpu", corev1.NodeSelectorOpExists))), nil},
		{"affinity DoesNotExist", testNode("n", 1000, 1024, 10, withLabels("gpu", "")), nil, testPod("p", 0, 0, requiredNodeAffinity(expr("gpu", corev1.NodeSelectorOpDoesNotExist))), []string{ReasonNodeAffinity}},
		{"affinity Gt", testNode("n", 1000, 1024, 10, withLabels("cores", "16")), nil, testPod("p", 0, 0, requiredNodeAffinity(expr("cores", corev1.NodeSelectorOpGt, "8"))), nil},
		{"affinity Gt fails", testNode("n", 1000, 1024, 10, withLabels("cores", "4")), nil, testPod("p", 0, 0, requiredNodeAffinity(expr("cores", corev1.NodeSelectorOpGt, "8"))), []string{ReasonNodeAffinity}},
		{"affinity Lt", testNode("n", 1000, 1024, 10, withLabels("cores", "4")), nil, testPod("p", 0, 0, requiredNodeAffinity(expr("cores", corev1.NodeSelectorOpLt, "8"))), nil},
		{"affinity Lt on non-number", testNode("n", 1000, 1024, 10, withLabels("cores", "many")), nil, testPod("p", 0, 0, requiredNodeAffinity(expr("cores", corev1.NodeSelectorOpLt, "8"))), []string{ReasonNodeAffinity}},
		{"affinity terms are ORed", testNode("n", 1000, 1024, 10, withLabels("zone", "b")), nil, testPod("p", 0, 0, requiredNodeAffinity(
			expr("zone", corev1.NodeSelectorOpIn, "a"), expr("zone", corev1.NodeSelectorOpIn, "b"))), nil},
		{"expressions in a term are ANDed", testNode("n", 1000, 1024, 10, withLabels("zone", "b")), nil, testPod("p", 0, 0, requiredNodeAffinity(corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{
			{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"b"}}, {Key: "gpu", Operator: corev1.NodeSelectorOpExists}}})), []string{ReasonNodeAffinity}},
		{"empty term matches nothing", testNode("n", 1000, 1024, 10), nil, testPod("p", 0, 0, requiredNodeAffinity(corev1.NodeSelectorTerm{})), []string{ReasonNodeAffinity}},
		{"matchFields metadata.name", testNode("n", 1000, 1024, 10), nil, testPod("p", 0, 0, requiredNodeAffinity(corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{
			{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"n"}}}})), nil},
		{"matchFields other name", testNode("n", 1000, 1024, 10), nil, testPod("p", 0, 0, requiredNodeAffinity(corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{
			{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"m"}}}})), []string{ReasonNodeAffinity}},
		{"untolerated NoSchedule taint", testNode("n", 1000, 1024, 10, withTaint("dedicated", "infra", corev1.TaintEffectNoSchedule)), nil, testPod("p", 0, 0),
			[]string{"node(s) had untolerated taint {dedicated: infra}"}},
		{"untolerated NoExecute taint", testNode("n", 1000, 1024, 10, withTaint("node.kubernetes.io/not-ready", "", corev1.TaintEffectNoExecute)), nil, testPod("p", 0, 0),
			[]string{"node(s) had untolerated taint {node.kubernetes.io/not-ready: }"}},
		{"PreferNoSchedule does not filter", testNode("n", 1000, 1024, 10, withTaint("dedicated", "infra", corev1.TaintEffectPreferNoSchedule)), nil, testPod("p", 0, 0), nil},
		{"tolerated by Equal", testNode("n", 1000, 1024, 10, withTaint("dedicated", "infra", corev1.TaintEffectNoSchedule)), nil,
			testPod("p", 0, 0, tolerating(corev1.Toleration{Key: "dedicated", Value: "infra", Effect: corev1.TaintEffectNoSchedule})), nil},
		{"Equal with other value", testNode("n", 1000, 1024, 10, withTaint("dedicated", "infra", corev1.TaintEffectNoSchedule)), nil,
			testPod("p", 0, 0, tolerating(corev1.Toleration{Key: "dedicated", Value: "web"})), []string{"node(s) had untolerated taint {dedicated: infra}"}},
		{"tolerated by Exists on key", testNode("n", 1000, 1024, 10, withTaint("dedicated", "infra", corev1.TaintEffectNoSchedule)), nil,
			testPod("p", 0, 0, tolerating(corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpExists})), nil},
		{"tolerated by Exists on everything", testNode("n", 1000, 1024, 10, withTaint("a", "b", corev1.TaintEffectNoExecute)), nil,
			testPod("p", 0, 0, tolerating(corev1.Toleration{Operator: corev1.TolerationOpExists})), nil},
		{"toleration for another effect", testNode("n", 1000, 1024, 10, withTaint("dedicated", "infra", corev1.TaintEffectNoSchedule)), nil,
			testPod("p", 0, 0, tolerating(corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute})), []string{"node(s) had untolerated taint {dedicated: infra}"}},
		{"cordoned", testNode("n", 1000, 1024, 10, cordoned), nil, testPod("p", 0, 0), []string{ReasonUnschedulable}},
		{"cordoned but tolerated", testNode("n", 1000, 1024, 10, cordoned), nil,
			testPod("p", 0, 0, tolerating(corev1.Toleration{Key: TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})), nil},
		{"cordoned checked before resources", testNode("n", 100, 1024, 10, cordoned), nil, testPod("p", 500, 0), []string{ReasonUnschedulable}},
		{"host port taken", testNode("n", 1000, 1024, 10), []*corev1.Pod{testPod("a", 0, 0, hostPortPod("", "", 8080))}, testPod("p", 0, 0, hostPortPod(corev1.ProtocolTCP, "", 8080)), []string{ReasonHostPorts}},
		{"host port other protocol", testNode("n", 1000, 1024, 10), []*corev1.Pod{testPod("a", 0, 0, hostPortPod("", "", 8080))}, testPod("p", 0, 0, hostPortPod(corev1.ProtocolUDP, "", 8080)), nil},
		{"host port other port", testNode("n", 1000, 1024, 10), []*corev1.Pod{testPod("a", 0, 0, hostPortPod("", "", 8080))}, testPod("p", 0, 0, hostPortPod("", "", 8081)), nil},
		{"host port distinct IPs", testNode("n", 1000, 1024, 10), []*corev1.Pod{testPod("a", 0, 0, hostPortPod("", "10.0.0.1", 8080))}, testPod("p", 0, 0, hostPortPod("", "10.0.0.2", 8080)), nil},
		{"host port same IP", testNode("n", 1000, 1024, 10), []*corev1.Pod{testPod("a", 0, 0, hostPortPod("", "10.0.0.1", 8080))}, testPod("p", 0, 0, hostPortPod("", "10.0.0.1", 8080)), []string{ReasonHostPorts}},
		{"host port wildcard vs IP", testNode("n", 1000, 1024, 10), []*corev1.Pod{testPod("a", 0, 0, hostPortPod("", "10.0.0.1", 8080))}, testPod("p", 0, 0, hostPortPod("", "0.0.0.0", 8080)), []string{ReasonHostPorts}},
		{"host port IP vs wildcard", testNode("n", 1000, 1024, 10), []*corev1.Pod{testPod("a", 0, 0, hostPortPod("", "", 8080))}, testPod("p", 0, 0, hostPortPod("", "10.0.0.1", 8080)), []string{ReasonHostPorts}},
		{"anti-affinity hostname", testNode("n", 1000, 1024, 10), []*corev1.Pod{testPod("a", 0, 0, podLabels("app", "db"))},
			testPod("p", 0, 0, podLabels("app", "db"), antiAffinity("kubernetes.io/hostname", "app", "db")), []string{ReasonPodAntiAffinity}},
		{"anti-affinity other labels", testNode("n", 1000, 1024, 10), []*corev1.Pod{testPod("a", 0, 0, podLabels("app", "web"))},
			testPod("p", 0, 0, podLabels("app", "db"), antiAffinity("kubernetes.io/hostname", "app", "db")), nil},
		{"anti-affinity other namespace", testNode("n", 1000, 1024, 10), []*corev1.Pod{testPod("a", 0, 0, podLabels("app", "db"), func(p *corev1.Pod) { p.Namespace = "other" })},
			testPod("p", 0, 0, podLabels("app", "db"), antiAffinity("kubernetes.io/hostname", "app", "db")), nil},
		{"existing pod's anti-affinity", testNode("n", 1000, 1024, 10), []*corev1.Pod{testPod("a", 0, 0, antiAffinity("kubernetes.io/hostname", "app", "db"))},
			testPod("p", 0, 0, podLabels("app", "db")), []string{ReasonExistingPodAntiAffinity}},
		{"anti-affinity by zone", testNode("n", 1000, 1024, 10, withLabels("zone", "a")), nil, testPod("p", 0, 0, antiAffinity("zone", "app", "db")), nil},
		{"affinity: first pod of its kind may go anywhere", testNode("n", 1000, 1024, 10), nil,
			testPod("p", 0, 0, podLabels("app", "web"), podAffinity("kubernetes.io/hostname", "app", "web")), nil},
		{"affinity: no matching pod and not self", testNode("n", 1000, 1024, 10), nil,
			testPod("p", 0, 0, podAffinity("kubernetes.io/hostname", "app", "cache")), []string{ReasonPodAffinity}},
		{"affinity: matching pod on node", testNode("n", 1000, 1024, 10), []*corev1.Pod{testPod("a", 0, 0, podLabels("app", "cache"))},
			testPod("p", 0, 0, podAffinity("kubernetes.io/hostname", "app", "cache")), nil},
		{"affinity: node without topology label", testNode("n", 1000, 1024, 10), nil,
			testPod("p", 0, 0, podLabels("app", "web"), podAffinity("zone", "app", "web")), []string{ReasonPodAffinity}},
		{"taint checked before affinity", testNode("n", 1000, 1024, 10, withTaint("k", "v", corev1.TaintEffectNoSchedule)), nil,
			testPod("p", 0, 0, nodeSelector("x", "y")), []string{"node(s) had untolerated taint {k: v}"}},
		{"no options", testNode("n", 1000, 1024, 10), nil, testPod("p", 0, 0, always), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := snapshotOf([]*corev1.Node{tt.node}, map[string][]*corev1.Pod{tt.node.Name: tt.placed})
			got := s.Explain(tt.pod, tt.node.Name)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Explain = %q, want %q", got, tt.want)
			}
			var a Algorithm
			node, err := a.Schedule(s, tt.pod)
			if (err == nil) != (tt.want == nil) || (err == nil && node != tt.node.Name) {
				t.Errorf("Schedule = %q, %v; want fit %v", node, err, tt.want == nil)
			}
		})
	}
}

func TestAntiAffinityAcrossNodes(t *testing.T) {
	nodes := []*corev1.Node{
		testNode("a1", 1000, 1024, 10, withLabels("zone", "a")),
		testNode("a2", 1000, 1024, 10, withLabels("zone", "a")),
		testNode("b1", 1000, 1024, 10, withLabels("zone", "b")),
	}
	s := snapshotOf(nodes, map[string][]*corev1.Pod{"a1": {testPod("db-0", 0, 0, podLabels("app", "db"))}})
	pod := testPod("db-1", 0, 0, podLabels("app", "db"), antiAffinity("zone", "app", "db"))
	for node, want := range map[string][]string{"a1": {ReasonPodAntiAffinity}, "a2": {ReasonPodAntiAffinity}, "b1": nil} {
		if got := s.Explain(pod, node); !reflect.DeepEqual(got, want) {
			t.Errorf("Explain(%s) = %q, want %q", node, got, want)
		}
	}
	var a Algorithm
	if node, err := a.Schedule(s, pod); err != nil || node != "b1" {
		t.Errorf("Schedule = %q, %v; want b1", node, err)
	}
	// The same with matchExpressions, which the label index cannot serve.
	pod.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0].LabelSelector = &metav1.LabelSelector{
		MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{"db", "cache"}}}}
	for node, want := range map[string][]string{"a1": {ReasonPodAntiAffinity}, "a2": {ReasonPodAntiAffinity}, "b1": nil} {
		if got := s.Explain(pod, node); !reflect.DeepEqual(got, want) {
			t.Errorf("matchExpressions: Explain(%s) = %q, want %q", node, got, want)
		}
	}
}

func TestFitErrorMessage(t *testing.T) {
	tests := []struct {
		name  string
		nodes []*corev1.Node
		pod   *corev1.Pod
		want  string
	}{
		{"insufficient cpu everywhere", []*corev1.Node{testNode("a", 1000, 1024, 10), testNode("b", 1000, 1024, 10), testNode("c", 1000, 1024, 10)},
			testPod("p", 2000, 0), "0/3 nodes are available: 3 Insufficient cpu."},
		{"taint and selector", []*corev1.Node{
			testNode("a", 1000, 1024, 10, withTaint("key", "value", corev1.TaintEffectNoSchedule), withLabels("disk", "ssd")),
			testNode("b", 1000, 1024, 10), testNode("c", 1000, 1024, 10)},
			testPod("p", 0, 0, nodeSelector("disk", "ssd")),
			"0/3 nodes are available: 1 node(s) had untolerated taint {key: value}, 2 node(s) didn't match Pod's node affinity/selector."},
		{"several reasons on one node, sorted as strings", []*corev1.Node{
			testNode("a", 1000, 1024, 10, cordoned), testNode("b", 100, 10, 10), testNode("c", 100, 10, 10)},
			testPod("p", 500, 100),
			"0/3 nodes are available: 1 node(s) were unschedulable, 2 Insufficient cpu, 2 Insufficient memory."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a Algorithm
			_, err := a.Schedule(snapshotOf(tt.nodes, nil), tt.pod)
			var fe *FitError
			if !errors.As(err, &fe) {
				t.Fatalf("Schedule error = %v, want a FitError", err)
			}
			if err.Error() != tt.want {
				t.Errorf("message\n got %q\nwant %q", err.Error(), tt.want)
			}
		})
	}
	var a Algorithm
	if _, err := a.Schedule(NewSnapshot(), testPod("p", 0, 0)); !errors.Is(err, ErrNoNodes) || err.Error() != "no nodes available to schedule pods" {
		t.Errorf("no nodes: %v", err)
	}
}

func TestScores(t *testing.T) {
	tests := []struct {
		name   string
		nodes  []*corev1.Node
		placed map[string][]*corev1.Pod
		pod    *corev1.Pod
		want   string
	}{
		{"least allocated cpu", []*corev1.Node{testNode("busy", 4000, 4096, 10), testNode("idle", 4000, 4096, 10)},
			map[string][]*corev1.Pod{"busy": {testPod("x", 3000, 0)}}, testPod("p", 100, 100), "idle"},
		{"least allocated memory", []*corev1.Node{testNode("busy", 4000, 4096, 10), testNode("idle", 4000, 4096, 10)},
			map[string][]*corev1.Pod{"busy": {testPod("x", 0, 3000)}}, testPod("p", 100, 100), "idle"},
		{"larger node", []*corev1.Node{testNode("small", 1000, 1024, 10), testNode("big", 8000, 8192, 10)},
			nil, testPod("p", 500, 500), "big"},
		{"spread same owner", []*corev1.Node{testNode("a", 4000, 4096, 10), testNode("b", 4000, 4096, 10)},
			map[string][]*corev1.Pod{"a": {testPod("x", 100, 100, ownedBy("rs1"))}, "b": {testPod("y", 100, 100, ownedBy("rs2"))}},
			testPod("p", 100, 100, ownedBy("rs2")), "a"},
		{"spread beats a little load", []*corev1.Node{testNode("a", 4000, 4096, 10), testNode("b", 4000, 4096, 10)},
			map[string][]*corev1.Pod{"a": {testPod("x", 1000, 1000)}, "b": {testPod("y", 100, 100, ownedBy("rs"))}},
			testPod("p", 100, 100, ownedBy("rs")), "a"},
		{"preferred node affinity", []*corev1.Node{testNode("a", 4000, 4096, 10), testNode("b", 4000, 4096, 10, withLabels("disk", "ssd"))},
			map[string][]*corev1.Pod{"b": {testPod("x", 1000, 1000)}},
			testPod("p", 100, 100, preferredNodeAffinity(corev1.PreferredSchedulingTerm{Weight: 10, Preference: expr("disk", corev1.NodeSelectorOpIn, "ssd")})), "b"},
		{"PreferNoSchedule avoided", []*corev1.Node{testNode("a", 4000, 4096, 10, withTaint("k", "v", corev1.TaintEffectPreferNoSchedule)), testNode("b", 4000, 4096, 10)},
			map[string][]*corev1.Pod{"b": {testPod("x", 1000, 1000)}}, testPod("p", 100, 100), "b"},
		{"PreferNoSchedule tolerated", []*corev1.Node{testNode("a", 4000, 4096, 10, withTaint("k", "v", corev1.TaintEffectPreferNoSchedule)), testNode("b", 4000, 4096, 10)},
			map[string][]*corev1.Pod{"b": {testPod("x", 1000, 1000)}}, testPod("p", 100, 100, tolerating(corev1.Toleration{Key: "k", Operator: corev1.TolerationOpExists})), "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a Algorithm
			got, err := a.Schedule(snapshotOf(tt.nodes, tt.placed), tt.pod)
			if err != nil || got != tt.want {
				t.Errorf("Schedule = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestFeasibleNodesToFind(t *testing.T) {
	tests := []struct {
		pct, nodes, want int
	}{
		{0, 50, 50}, {0, 99, 99}, {0, 100, 100}, {0, 1000, 420}, {0, 5000, 500}, {0, 10000, 500}, {100, 1000, 1000}, {10, 1000, 100}, {30, 1000, 300},
	}
	for _, tt := range tests {
		a := Algorithm{PercentageOfNodesToScore: tt.pct}
		if got := a.FeasibleNodesToFind(tt.nodes); got != tt.want {
			t.Errorf("FeasibleNodesToFind(%d) with %d%% = %d, want %d", tt.nodes, tt.pct, got, tt.want)
		}
	}
}

func TestSnapshotIncremental(t *testing.T) {
	s := snapshotOf([]*corev1.Node{testNode("a", 1000, 1024, 10)}, nil)
	p := testPod("p", 300, 100, ownedBy("rs"), hostPortPod("", "", 80))
	s.AddPod(p, "a")
	s.AddPod(p, "a") // the informer confirming an assumed pod
	n := s.NodeInfo("a")
	if n.Requested().MilliCPU != 300 || n.NumPods() != 1 || n.OwnerCount("rs") != 1 || len(n.ports) != 1 {
		t.Fatalf("after re-add: requested %+v, pods %d, owner %d, ports %v", n.Requested(), n.NumPods(), n.OwnerCount("rs"), n.ports)
	}
	s.RemovePod(PodKey(p))
	if n.Requested() != (Resources{}) || n.NumPods() != 0 || n.OwnerCount("rs") != 0 || len(n.ports) != 0 {
		t.Fatalf("after remove: %+v", n)
	}
	// A pod on a node the snapshot has not seen yet counts once it appears.
	s.AddPod(testPod("q", 700, 0), "late")
	if s.NumNodes() != 1 {
		t.Fatalf("node without object is schedulable")
	}
	s.SetNode(testNode("late", 1000, 1024, 10))
	if got := s.Explain(testPod("r", 400, 0), "late"); !reflect.DeepEqual(got, []string{ReasonInsufficientCPU}) {
		t.Errorf("late node: %q", got)
	}
	s.RemoveNode("a")
	if s.NumNodes() != 1 || s.NodeInfo("a") != nil {
		t.Errorf("RemoveNode left %d nodes", s.NumNodes())
	}
}
