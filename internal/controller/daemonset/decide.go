package daemonset

import (
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Taint keys of the node conditions daemon pods tolerate by default, as in
// Kubernetes: a node agent must keep running on a node that is under
// pressure, cordoned or briefly unreachable.
const (
	taintNotReady           = "node.kubernetes.io/not-ready"
	taintUnreachable        = "node.kubernetes.io/unreachable"
	taintDiskPressure       = "node.kubernetes.io/disk-pressure"
	taintMemoryPressure     = "node.kubernetes.io/memory-pressure"
	taintPIDPressure        = "node.kubernetes.io/pid-pressure"
	taintUnschedulable      = "node.kubernetes.io/unschedulable"
	taintNetworkUnavailable = "node.kubernetes.io/network-unavailable"
)

// nodeNameField is the field a daemon pod's node affinity pins it with.
const nodeNameField = "metadata.name"

// DefaultTolerations are the tolerations every daemon pod gets (the last
// one only with hostNetwork, which does not need the pod network).
func DefaultTolerations(hostNetwork bool) []corev1.Toleration {
	t := []corev1.Toleration{
		{Key: taintNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
		{Key: taintUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
		{Key: taintDiskPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		{Key: taintMemoryPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		{Key: taintPIDPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		{Key: taintUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	}
	if hostNetwork {
		t = append(t, corev1.Toleration{Key: taintNetworkUnavailable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})
	}
	return t
}

// AddDefaultTolerations adds the default tolerations spec lacks. A
// toleration the user wrote for the same key and effect wins (it may set
// tolerationSeconds on purpose).
func AddDefaultTolerations(spec *corev1.PodSpec) {
	for _, d := range DefaultTolerations(spec.HostNetwork) {
		if !slices.ContainsFunc(spec.Tolerations, func(t corev1.Toleration) bool {
			return t.Key == d.Key && t.Effect == d.Effect
		}) {
			spec.Tolerations = append(spec.Tolerations, d)
		}
	}
}

// PinToNode makes spec require node name through node affinity, the way
// Kubernetes creates daemon pods: the scheduler still binds them, so
// resources and ports are accounted for. Existing label expressions are
// kept; each term's field requirements become the node name.
func PinToNode(spec *corev1.PodSpec, node string) {
	field := corev1.NodeSelectorRequirement{Key: nodeNameField, Operator: corev1.NodeSelectorOpIn, Values: []string{node}}
	if spec.Affinity == nil {
		spec.Affinity = &corev1.Affinity{}
	}
	if spec.Affinity.NodeAffinity == nil {
		spec.Affinity.NodeAffinity = &corev1.NodeAffinity{}
	}
	na := spec.Affinity.NodeAffinity
	if na.RequiredDuringSchedulingIgnoredDuringExecution == nil || len(na.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms) == 0 {
		na.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{field}}},
		}
		return
	}
	terms := na.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	for i := range terms {
		terms[i].MatchFields = []corev1.NodeSelectorRequirement{field}
	}
}

// PodNode is the node a daemon pod is for: where it is bound, or else the
// node its affinity pins it to.
func PodNode(pod *corev1.Pod) string {
	if pod.Spec.NodeName != "" {
		return pod.Spec.NodeName
	}
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return ""
	}
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, f := range term.MatchFields {
			if f.Key == nodeNameField && f.Operator == corev1.NodeSelectorOpIn && len(f.Values) == 1 {
				return f.Values[0]
			}
		}
	}
	return ""
}

// Fit says whether a daemon pod belongs on a node: ShouldRun for a new
// pod, ShouldContinueRunning for one already there (a NoSchedule taint
// added later does not evict it; NoExecute does).
type Fit struct {
	ShouldRun             bool
	ShouldContinueRunning bool
}

// NodeFit decides where template's pods run: the node must match its
// nodeSelector, required node affinity and nodeName, and tolerate the
// node's taints, with the default daemon tolerations added.
func NodeFit(template *corev1.PodTemplateSpec, node *corev1.Node) Fit {
	spec := template.Spec.DeepCopy()
	AddDefaultTolerations(spec)
	if spec.NodeName != "" && spec.NodeName != node.Name {
		return Fit{}
	}
	if len(spec.NodeSelector) > 0 && !labels.SelectorFromSet(spec.NodeSelector).Matches(labels.Set(node.Labels)) {
		return Fit{}
	}
	if a := spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		if !MatchNodeSelector(a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution, node) {
			return Fit{}
		}
	}
	fit := Fit{ShouldRun: true, ShouldContinueRunning: true}
	for i := range node.Spec.Taints {
		taint := &node.Spec.Taints[i]
		if taint.Effect != corev1.TaintEffectNoSchedule && taint.Effect != corev1.TaintEffectNoExecute {
			continue
		}
		if tolerated(spec.Tolerations, taint) {
			continue
		}
		fit.ShouldRun = false
		if taint.Effect == corev1.TaintEffectNoExecute {
			fit.ShouldContinueRunning = false
		}
	}
	return fit
}

func tolerated(tols []corev1.Toleration, taint *corev1.Taint) bool {
	for i := range tols {
		if tols[i].ToleratesTaint(taint) {
			return true
		}
	}
	return false
}

// MatchNodeSelector reports whether node satisfies a required node
// selector: any one term, each of whose requirements all hold. A term with
// no requirements matches nothing, as in Kubernetes.
func MatchNodeSelector(sel *corev1.NodeSelector, node *corev1.Node) bool {
	for _, term := range sel.NodeSelectorTerms {
		if len(term.MatchExpressions) == 0 && len(term.MatchFields) == 0 {
			continue
		}
		ok := true
		for _, req := range term.MatchExpressions {
			v, has := node.Labels[req.Key]
			if !matchRequirement(req, v, has) {
				ok = false
				break
			}
		}
		for _, req := range term.MatchFields {
			if !ok {
				break
			}
			if req.Key != nodeNameField || !matchRequirement(req, node.Name, true) {
				ok = false
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func matchRequirement(req corev1.NodeSelectorRequirement, value string, has bool) bool {
	switch req.Operator {
	case corev1.NodeSelectorOpIn:
		return has && slices.Contains(req.Values, value)
	case corev1.NodeSelectorOpNotIn:
		return !has || !slices.Contains(req.Values, value)
	case corev1.NodeSelectorOpExists:
		return has
	case corev1.NodeSelectorOpDoesNotExist:
		return !has
	case corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt:
		if !has || len(req.Values) != 1 {
			return false
		}
		got, err1 := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
		want, err2 := strconv.ParseInt(req.Values[0], 10, 64)
		if err1 != nil || err2 != nil {
			return false
		}
		if req.Operator == corev1.NodeSelectorOpGt {
			return got > want
		}
		return got < want
	}
	return false
}

// PodInfo is what the plan needs to know about one daemon pod.
type PodInfo struct {
	Name        string
	Hash        string // controller-revision-hash label
	Created     time.Time
	Failed      bool // phase Failed or Succeeded: it will not run again
	Terminating bool
	Ready       bool
	Available   bool // ready for at least minReadySeconds
}

// NodeState is one node and the daemon pods that are for it.
type NodeState struct {
	Name string
	Fit  Fit
	Pods []PodInfo
}

// Strategy is the DaemonSet's update strategy with its limits resolved
// against the desired pod count.
type Strategy struct {
	RollingUpdate  bool
	MaxUnavailable int
	MaxSurge       int
}

// ResolveStrategy turns ds's update strategy into numbers. Percentages
// round up, and a strategy that allows neither unavailability nor surge
// still allows one unavailable pod so that it can make progress.
func ResolveStrategy(ds *appsv1.DaemonSet, desired int) Strategy {
	us := ds.Spec.UpdateStrategy
	if us.Type == appsv1.OnDeleteDaemonSetStrategyType {
		return Strategy{}
	}
	s := Strategy{RollingUpdate: true, MaxUnavailable: 1}
	if ru := us.RollingUpdate; ru != nil {
		s.MaxUnavailable = scaled(ru.MaxUnavailable, desired, 1)
		s.MaxSurge = scaled(ru.MaxSurge, desired, 0)
	}
	if s.MaxUnavailable == 0 && s.MaxSurge == 0 {
		s.MaxUnavailable = 1
	}
	return s
}

func scaled(v *intstr.IntOrString, total, def int) int {
	if v == nil {
		return def
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(v, total, true)
	if err != nil || n < 0 {
		return def
	}
	return n
}

// Plan is what one reconcile does: create a pod on each of Create (nodes),
// delete each of Delete (pods). Failed lists the failed pods among Delete,
// which the controller replaces only after a back-off.
type Plan struct {
	Create []string
	Delete []string
	Failed []string
}

// Decide plans pods for nodes given the current template hash. It is pure:
// the same state always gives the same plan, so reconciling twice without
// change does nothing more.
func Decide(nodes []NodeState, hash string, s Strategy) Plan {
	var p Plan
	deleting := map[string]bool{}
	del := func(name string) {
		if !deleting[name] {
			deleting[name] = true
			p.Delete = append(p.Delete, name)
		}
	}
	for _, n := range nodes {
		var live []PodInfo
		for _, pod := range n.Pods {
			switch {
			case pod.Terminating:
			case pod.Failed:
				if n.Fit.ShouldContinueRunning {
					p.Failed = append(p.Failed, pod.Name)
				}
				del(pod.Name)
			default:
				live = append(live, pod)
			}
		}
		switch {
		case !n.Fit.ShouldContinueRunning:
			for _, pod := range live {
				del(pod.Name)
			}
		case len(n.Pods) == 0 && n.Fit.ShouldRun:
			p.Create = append(p.Create, n.Name)
		case len(live) > 1:
			for _, name := range extraPods(live, hash, s.RollingUpdate && s.MaxSurge > 0) {
				del(name)
			}
		}
	}
	if s.RollingUpdate {
		if s.MaxSurge > 0 {
			p.Create = append(p.Create, surgeUpdate(nodes, hash, s.MaxSurge, deleting, del)...)
		} else {
			unavailableUpdate(nodes, hash, s.MaxUnavailable, deleting, del)
		}
	}
	slices.Sort(p.Create)
	return p
}

// extraPods picks the pods to delete when a node runs more than one. Without
// surge the oldest stays. With surge an old pod may stay beside the oldest
// new one until that new one is available.
func extraPods(live []PodInfo, hash string, surge bool) []string {
	sorted := slices.Clone(live)
	slices.SortFunc(sorted, func(a, b PodInfo) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	keep := map[string]bool{}
	if !surge {
		keep[sorted[0].Name] = true
	} else {
		var newest, oldest *PodInfo
		for i := range sorted {
			if sorted[i].Hash == hash && newest == nil {
				newest = &sorted[i]
			}
			if sorted[i].Hash != hash && oldest == nil {
				oldest = &sorted[i]
			}
		}
		switch {
		case newest == nil:
			keep[oldest.Name] = true
		case newest.Available || oldest == nil:
			keep[newest.Name] = true
		default:
			keep[newest.Name], keep[oldest.Name] = true, true
		}
	}
	var out []string
	for _, pod := range sorted {
		if !keep[pod.Name] {
			out = append(out, pod.Name)
		}
	}
	return out
}

// splitPods finds a node's one old and one new pod among those that stay.
func splitPods(n NodeState, hash string, deleting map[string]bool) (newPod, oldPod *PodInfo, terminating bool) {
	for i := range n.Pods {
		pod := &n.Pods[i]
		if pod.Terminating || deleting[pod.Name] {
			terminating = true
			continue
		}
		if pod.Hash == hash {
			if newPod == nil {
				newPod = pod
			}
		} else if oldPod == nil {
			oldPod = pod
		}
	}
	return newPod, oldPod, terminating
}

// unavailableUpdate replaces old pods by deleting them (the next pass
// creates new ones), keeping at most maxUnavailable desired nodes without
// an available pod. Old pods that are unavailable anyway go at once.
func unavailableUpdate(nodes []NodeState, hash string, maxUnavailable int, deleting map[string]bool, del func(string)) {
	unavailable := 0
	var candidates []string
	for _, n := range nodes {
		if !n.Fit.ShouldRun {
			continue
		}
		newPod, oldPod, _ := splitPods(n, hash, deleting)
		switch {
		case newPod != nil:
			if !newPod.Available {
				unavailable++
			}
		case oldPod == nil:
			unavailable++
		case !oldPod.Available:
			unavailable++
			del(oldPod.Name)
		default:
			candidates = append(candidates, oldPod.Name)
		}
	}
	slices.Sort(candidates)
	for _, name := range candidates {
		if unavailable >= maxUnavailable {
			return
		}
		unavailable++
		del(name)
	}
}

// surgeUpdate starts new pods beside old ones, at most maxSurge nodes at a
// time, and deletes an old pod once its replacement is available.
func surgeUpdate(nodes []NodeState, hash string, maxSurge int, deleting map[string]bool, del func(string)) []string {
	surging := 0
	var create, candidates []string
	for _, n := range nodes {
		if !n.Fit.ShouldRun {
			continue
		}
		newPod, oldPod, _ := splitPods(n, hash, deleting)
		switch {
		case oldPod == nil:
		case newPod == nil:
			if !oldPod.Available {
				// Nothing to keep available here: replace right away.
				create = append(create, n.Name)
			} else {
				candidates = append(candidates, n.Name)
			}
		default:
			surging++
			if newPod.Available {
				del(oldPod.Name)
			}
		}
	}
	slices.Sort(candidates)
	for _, name := range candidates {
		if surging >= maxSurge {
			break
		}
		surging++
		create = append(create, name)
	}
	return create
}

// Status counts what `kubectl get ds` and `kubectl rollout status` show.
func Status(nodes []NodeState, hash string) appsv1.DaemonSetStatus {
	var st appsv1.DaemonSetStatus
	for _, n := range nodes {
		var live []PodInfo
		for _, pod := range n.Pods {
			if !pod.Terminating && !pod.Failed {
				live = append(live, pod)
			}
		}
		scheduled := len(n.Pods) > 0
		if !n.Fit.ShouldRun {
			if scheduled {
				st.NumberMisscheduled++
			}
			continue
		}
		st.DesiredNumberScheduled++
		if !scheduled {
			continue
		}
		st.CurrentNumberScheduled++
		if slices.ContainsFunc(live, func(p PodInfo) bool { return p.Ready }) {
			st.NumberReady++
		}
		if slices.ContainsFunc(live, func(p PodInfo) bool { return p.Available }) {
			st.NumberAvailable++
		}
		if slices.ContainsFunc(live, func(p PodInfo) bool { return p.Hash == hash }) {
			st.UpdatedNumberScheduled++
		}
	}
	st.NumberUnavailable = st.DesiredNumberScheduled - st.NumberAvailable
	return st
}
