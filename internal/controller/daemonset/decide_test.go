package daemonset

import (
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func node(name string, lbls map[string]string, taints ...corev1.Taint) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls}, Spec: corev1.NodeSpec{Taints: taints}}
}

func TestNodeFit(t *testing.T) {
	required := func(terms ...corev1.NodeSelectorTerm) *corev1.Affinity {
		return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: terms}}}
	}
	expr := func(key string, op corev1.NodeSelectorOperator, vals ...string) corev1.NodeSelectorTerm {
		return corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: key, Operator: op, Values: vals}}}
	}
	taint := func(key string, effect corev1.TaintEffect) corev1.Taint {
		return corev1.Taint{Key: key, Effect: effect}
	}
	both, none := Fit{true, true}, Fit{}
	tests := []struct {
		name string
		spec corev1.PodSpec
		node *corev1.Node
		want Fit
	}{
		{"no constraints", corev1.PodSpec{}, node("a", nil), both},
		{"nodeSelector matches", corev1.PodSpec{NodeSelector: map[string]string{"role": "w"}}, node("a", map[string]string{"role": "w"}), both},
		{"nodeSelector does not match", corev1.PodSpec{NodeSelector: map[string]string{"role": "w"}}, node("a", map[string]string{"role": "db"}), none},
		{"nodeName elsewhere", corev1.PodSpec{NodeName: "b"}, node("a", nil), none},
		{"affinity In", corev1.PodSpec{Affinity: required(expr("zone", corev1.NodeSelectorOpIn, "x", "y"))}, node("a", map[string]string{"zone": "y"}), both},
		{"affinity NotIn on missing label", corev1.PodSpec{Affinity: required(expr("zone", corev1.NodeSelectorOpNotIn, "x"))}, node("a", nil), both},
		{"affinity DoesNotExist fails", corev1.PodSpec{Affinity: required(expr("gpu", corev1.NodeSelectorOpDoesNotExist))}, node("a", map[string]string{"gpu": "1"}), none},
		{"affinity Gt", corev1.PodSpec{Affinity: required(expr("cores", corev1.NodeSelectorOpGt, "4"))}, node("a", map[string]string{"cores": "8"}), both},
		{"affinity Lt fails", corev1.PodSpec{Affinity: required(expr("cores", corev1.NodeSelectorOpLt, "4"))}, node("a", map[string]string{"cores": "8"}), none},
		{"affinity terms are ORed", corev1.PodSpec{Affinity: required(expr("zone", corev1.NodeSelectorOpIn, "x"), expr("zone", corev1.NodeSelectorOpIn, "y"))}, node("a", map[string]string{"zone": "y"}), both},
		{"affinity matchFields name", corev1.PodSpec{Affinity: required(corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"b"}}}})}, node("a", nil), none},
		{"empty term matches nothing", corev1.PodSpec{Affinity: required(corev1.NodeSelectorTerm{})}, node("a", nil), none},
		{"NoSchedule taint: keep running, do not start", corev1.PodSpec{}, node("a", nil, taint("dedicated", corev1.TaintEffectNoSchedule)), Fit{false, true}},
		{"NoExecute taint: neither", corev1.PodSpec{}, node("a", nil, taint("dedicated", corev1.TaintEffectNoExecute)), none},
		{"PreferNoSchedule taint is ignored", corev1.PodSpec{}, node("a", nil, taint("dedicated", corev1.TaintEffectPreferNoSchedule)), both},
		{"tolerated taint", corev1.PodSpec{Tolerations: []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpExists}}}, node("a", nil, taint("dedicated", corev1.TaintEffectNoExecute)), both},
		{"default toleration: unschedulable", corev1.PodSpec{}, node("a", nil, taint(taintUnschedulable, corev1.TaintEffectNoSchedule)), both},
		{"default toleration: not-ready", corev1.PodSpec{}, node("a", nil, taint(taintNotReady, corev1.TaintEffectNoExecute)), both},
		{"default toleration: memory-pressure", corev1.PodSpec{}, node("a", nil, taint(taintMemoryPressure, corev1.TaintEffectNoSchedule)), both},
		{"network-unavailable needs hostNetwork", corev1.PodSpec{}, node("a", nil, taint(taintNetworkUnavailable, corev1.TaintEffectNoSchedule)), Fit{false, true}},
		{"network-unavailable tolerated with hostNetwork", corev1.PodSpec{HostNetwork: true}, node("a", nil, taint(taintNetworkUnavailable, corev1.TaintEffectNoSchedule)), both},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NodeFit(&corev1.PodTemplateSpec{Spec: tt.spec}, tt.node); got != tt.want {
				t.Errorf("NodeFit = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestAddDefaultTolerationsKeepsUsers(t *testing.T) {
	secs := int64(30)
	spec := corev1.PodSpec{Tolerations: []corev1.Toleration{{Key: taintNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &secs}}}
	AddDefaultTolerations(&spec)
	AddDefaultTolerations(&spec) // idempotent
	if len(spec.Tolerations) != 6 {
		t.Fatalf("tolerations = %+v, want 6", spec.Tolerations)
	}
	if spec.Tolerations[0].TolerationSeconds == nil || *spec.Tolerations[0].TolerationSeconds != 30 {
		t.Errorf("user toleration overwritten: %+v", spec.Tolerations[0])
	}
}

func TestPinToNodeAndPodNode(t *testing.T) {
	spec := corev1.PodSpec{}
	PinToNode(&spec, "n1")
	if got := PodNode(&corev1.Pod{Spec: spec}); got != "n1" {
		t.Errorf("PodNode = %q", got)
	}
	// Label expressions survive; the field requirement is replaced.
	spec = corev1.PodSpec{Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"x"}}},
			MatchFields:      []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"old"}}},
		}}}}}}
	PinToNode(&spec, "n2")
	term := spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0]
	if len(term.MatchExpressions) != 1 || len(term.MatchFields) != 1 || term.MatchFields[0].Values[0] != "n2" {
		t.Errorf("term = %+v", term)
	}
	if got := PodNode(&corev1.Pod{Spec: corev1.PodSpec{NodeName: "bound"}}); got != "bound" {
		t.Errorf("PodNode of bound pod = %q", got)
	}
}

func TestResolveStrategy(t *testing.T) {
	pct := func(s string) *intstr.IntOrString { v := intstr.Parse(s); return &v }
	ru := func(unavail, surge *intstr.IntOrString) *appsv1.DaemonSet {
		return &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{UpdateStrategy: appsv1.DaemonSetUpdateStrategy{
			Type: appsv1.RollingUpdateDaemonSetStrategyType, RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: unavail, MaxSurge: surge}}}}
	}
	tests := []struct {
		name    string
		ds      *appsv1.DaemonSet
		desired int
		want    Strategy
	}{
		{"OnDelete", &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}}}, 5, Strategy{}},
		{"defaults", ru(nil, nil), 5, Strategy{RollingUpdate: true, MaxUnavailable: 1}},
		{"percent rounds up", ru(pct("30%"), pct("0")), 5, Strategy{RollingUpdate: true, MaxUnavailable: 2}},
		{"surge", ru(pct("0"), pct("50%")), 3, Strategy{RollingUpdate: true, MaxSurge: 2}},
		{"zero and zero still progresses", ru(pct("0"), pct("0")), 3, Strategy{RollingUpdate: true, MaxUnavailable: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ResolveStrategy(tt.ds, tt.desired); got != tt.want {
				t.Errorf("ResolveStrategy = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	t0 := time.Unix(1000, 0)
	fit := Fit{true, true}
	avail := func(name, hash string) PodInfo {
		return PodInfo{Name: name, Hash: hash, Created: t0, Ready: true, Available: true}
	}
	starting := func(name, hash string) PodInfo { return PodInfo{Name: name, Hash: hash, Created: t0} }
	rolling := Strategy{RollingUpdate: true, MaxUnavailable: 1}
	tests := []struct {
		name  string
		nodes []NodeState
		s     Strategy
		want  Plan
	}{
		{"create on eligible nodes only", []NodeState{{Name: "a", Fit: fit}, {Name: "b"}, {Name: "c", Fit: Fit{false, true}}}, rolling,
			Plan{Create: []string{"a"}}},
		{"delete where no longer fit", []NodeState{{Name: "a", Pods: []PodInfo{avail("p1", "h")}}}, rolling,
			Plan{Delete: []string{"p1"}}},
		{"keep where NoSchedule came later", []NodeState{{Name: "a", Fit: Fit{false, true}, Pods: []PodInfo{avail("p1", "h")}}}, rolling,
			Plan{}},
		{"failed pod deleted (replacement comes next pass)", []NodeState{{Name: "a", Fit: fit, Pods: []PodInfo{{Name: "p1", Hash: "h", Failed: true}}}}, rolling,
			Plan{Delete: []string{"p1"}, Failed: []string{"p1"}}},
		{"no new pod while the old one terminates", []NodeState{{Name: "a", Fit: fit, Pods: []PodInfo{{Name: "p1", Hash: "h", Terminating: true}}}}, rolling,
			Plan{}},
		{"duplicates: the oldest stays", []NodeState{{Name: "a", Fit: fit, Pods: []PodInfo{
			{Name: "p2", Hash: "new", Created: t0.Add(time.Second)}, {Name: "p1", Hash: "new", Created: t0}}}}, rolling,
			Plan{Delete: []string{"p2"}}},
		{"rolling: one available old pod at a time", []NodeState{
			{Name: "a", Fit: fit, Pods: []PodInfo{avail("pa", "old")}},
			{Name: "b", Fit: fit, Pods: []PodInfo{avail("pb", "old")}},
			{Name: "c", Fit: fit, Pods: []PodInfo{avail("pc", "old")}}}, rolling,
			Plan{Delete: []string{"pa"}}},
		{"rolling: waits while a new pod is unavailable", []NodeState{
			{Name: "a", Fit: fit, Pods: []PodInfo{starting("pa", "new")}},
			{Name: "b", Fit: fit, Pods: []PodInfo{avail("pb", "old")}}}, rolling,
			Plan{}},
		{"rolling: unavailable old pods go at once", []NodeState{
			{Name: "a", Fit: fit, Pods: []PodInfo{starting("pa", "old")}},
			{Name: "b", Fit: fit, Pods: []PodInfo{starting("pb", "old")}},
			{Name: "c", Fit: fit, Pods: []PodInfo{avail("pc", "old")}}}, rolling,
			Plan{Delete: []string{"pa", "pb"}}},
		{"rolling: maxUnavailable 2", []NodeState{
			{Name: "a", Fit: fit, Pods: []PodInfo{avail("pa", "old")}},
			{Name: "b", Fit: fit, Pods: []PodInfo{avail("pb", "old")}},
			{Name: "c", Fit: fit, Pods: []PodInfo{avail("pc", "old")}}}, Strategy{RollingUpdate: true, MaxUnavailable: 2},
			Plan{Delete: []string{"pa", "pb"}}},
		{"surge: new pods beside old ones, up to maxSurge", []NodeState{
			{Name: "a", Fit: fit, Pods: []PodInfo{avail("pa", "old")}},
			{Name: "b", Fit: fit, Pods: []PodInfo{avail("pb", "old")}},
			{Name: "c", Fit: fit, Pods: []PodInfo{avail("pc", "old")}}}, Strategy{RollingUpdate: true, MaxSurge: 2},
			Plan{Create: []string{"a", "b"}}},
		{"surge: old pod goes once the new one is available, freeing a surge slot", []NodeState{
			{Name: "a", Fit: fit, Pods: []PodInfo{avail("pa", "old"), avail("na", "new")}},
			{Name: "b", Fit: fit, Pods: []PodInfo{avail("pb", "old"), starting("nb", "new")}},
			{Name: "c", Fit: fit, Pods: []PodInfo{avail("pc", "old")}}}, Strategy{RollingUpdate: true, MaxSurge: 2},
			Plan{Create: []string{"c"}, Delete: []string{"pa"}}},
		{"OnDelete leaves old pods", []NodeState{{Name: "a", Fit: fit, Pods: []PodInfo{avail("pa", "old")}}, {Name: "b", Fit: fit}}, Strategy{},
			Plan{Create: []string{"b"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Decide(tt.nodes, "new", tt.s)
			if !slices.Equal(got.Create, tt.want.Create) || !slices.Equal(got.Delete, tt.want.Delete) || !slices.Equal(got.Failed, tt.want.Failed) {
				t.Errorf("Decide = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	fit := Fit{true, true}
	nodes := []NodeState{
		{Name: "a", Fit: fit, Pods: []PodInfo{{Name: "pa", Hash: "new", Ready: true, Available: true}}},
		{Name: "b", Fit: fit, Pods: []PodInfo{{Name: "pb", Hash: "old", Ready: true}}},
		{Name: "c", Fit: fit},
		{Name: "d", Pods: []PodInfo{{Name: "pd", Hash: "new"}}},
		{Name: "e"},
	}
	got := Status(nodes, "new")
	want := appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, CurrentNumberScheduled: 2, NumberMisscheduled: 1,
		NumberReady: 2, NumberAvailable: 1, UpdatedNumberScheduled: 1, NumberUnavailable: 2}
	if got.DesiredNumberScheduled != want.DesiredNumberScheduled || got.CurrentNumberScheduled != want.CurrentNumberScheduled ||
		got.NumberMisscheduled != want.NumberMisscheduled || got.NumberReady != want.NumberReady || got.NumberAvailable != want.NumberAvailable ||
		got.UpdatedNumberScheduled != want.UpdatedNumberScheduled || got.NumberUnavailable != want.NumberUnavailable {
		t.Errorf("Status = %+v, want %+v", got, want)
	}
}

func TestBackoffDoubles(t *testing.T) {
	b := &backoff{m: map[string]backoffEntry{}}
	now := time.Unix(0, 0)
	if b.remaining("k", now) != 0 {
		t.Fatal("fresh key must not wait")
	}
	var got []time.Duration
	for range 4 {
		b.next("k", now)
		got = append(got, b.remaining("k", now))
		now = now.Add(b.remaining("k", now))
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}
	if !slices.Equal(got, want) {
		t.Errorf("back-off = %v, want %v", got, want)
	}
}

func TestExpectations(t *testing.T) {
	e := &expectations{m: map[string]*expectation{}}
	now := time.Unix(0, 0)
	e.expect("ns/ds", 2, []string{"p1"}, now)
	if e.satisfied("ns/ds", now) {
		t.Fatal("satisfied before observing")
	}
	e.observeAdd("ns/ds")
	e.observeAdd("ns/ds")
	e.observeDelete("ns/ds", "p1")
	e.observeDelete("ns/ds", "p1") // a second event for the same pod is harmless
	if !e.satisfied("ns/ds", now) {
		t.Fatal("not satisfied after observing everything")
	}
	e.expect("ns/ds", 1, nil, now)
	if !e.satisfied("ns/ds", now.Add(expectationTimeout+time.Second)) {
		t.Fatal("expectations must expire")
	}
}
