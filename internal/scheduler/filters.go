package scheduler

import (
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

// The reasons a node is rejected, worded as Kubernetes' scheduler words
// them (users search for these strings).
const (
	ReasonUnschedulable           = "node(s) were unschedulable"
	ReasonNodeAffinity            = "node(s) didn't match Pod's node affinity/selector"
	ReasonHostPorts               = "node(s) didn't have free ports for the requested pod ports"
	ReasonTooManyPods             = "Too many pods"
	ReasonInsufficientCPU         = "Insufficient cpu"
	ReasonInsufficientMemory      = "Insufficient memory"
	ReasonInsufficientEphemeral   = "Insufficient ephemeral-storage"
	ReasonPodAffinity             = "node(s) didn't match pod affinity rules"
	ReasonPodAntiAffinity         = "node(s) didn't match pod anti-affinity rules"
	ReasonExistingPodAntiAffinity = "node(s) didn't satisfy existing pods anti-affinity rules"
)

func untoleratedTaintReason(t *corev1.Taint) string {
	return fmt.Sprintf("node(s) had untolerated taint {%s: %s}", t.Key, t.Value)
}

// TaintNodeUnschedulable is the taint a cordoned node carries; a pod that
// tolerates it may land on a cordoned node.
const TaintNodeUnschedulable = "node.kubernetes.io/unschedulable"

// podSpec is an incoming pod compiled once per scheduling attempt.
type podSpec struct {
	*podInfo
	nodeSelector           map[string]string
	required               *corev1.NodeSelector
	preferred              []corev1.PreferredSchedulingTerm
	tolerations            []corev1.Toleration
	toleratesUnschedulable bool
	affinity               []affinityTerm
	antiAffinity           []affinityTerm
}

func compilePod(pod *corev1.Pod) *podSpec {
	p := &podSpec{podInfo: newPodInfo(pod), nodeSelector: pod.Spec.NodeSelector, tolerations: pod.Spec.Tolerations}
	if a := pod.Spec.Affinity; a != nil {
		if na := a.NodeAffinity; na != nil {
			p.required = na.RequiredDuringSchedulingIgnoredDuringExecution
			p.preferred = na.PreferredDuringSchedulingIgnoredDuringExecution
		}
		if pa := a.PodAffinity; pa != nil {
			p.affinity = compileTerms(pod, pa.RequiredDuringSchedulingIgnoredDuringExecution)
		}
	}
	p.antiAffinity = p.podInfo.antiAffinity
	p.toleratesUnschedulable = tolerates(pod.Spec.Tolerations, &corev1.Taint{Key: TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule})
	return p
}

// tolerates reports whether any toleration matches the taint, with
// Kubernetes' rules: an empty effect matches every effect, an empty key
// with Exists matches every key, Exists ignores the value.
func tolerates(tols []corev1.Toleration, taint *corev1.Taint) bool {
	for i := range tols {
		t := &tols[i]
		if t.Effect != "" && t.Effect != taint.Effect {
			continue
		}
		if t.Key != "" && t.Key != taint.Key {
			continue
		}
		switch t.Operator {
		case corev1.TolerationOpExists:
			return true
		case "", corev1.TolerationOpEqual:
			if t.Value == taint.Value {
				return true
			}
		}
	}
	return false
}

// untoleratedTaint returns the failure message for the first filtering
// taint of the node the pod does not tolerate, "" if it tolerates them all.
func untoleratedTaint(n *NodeInfo, tols []corev1.Toleration) string {
	for i := range n.taints {
		if !tolerates(tols, &n.taints[i]) {
			return n.taintReasons[i]
		}
	}
	return ""
}

// matchesNodeSelector applies spec.nodeSelector and required node
// affinity: every nodeSelector label must match, and at least one term.
func matchesNodeSelector(p *podSpec, n *NodeInfo) bool {
	for k, v := range p.nodeSelector {
		if got, ok := n.labels[k]; !ok || got != v {
			return false
		}
	}
	if p.required == nil {
		return true
	}
	for i := range p.required.NodeSelectorTerms {
		if nodeSelectorTermMatches(&p.required.NodeSelectorTerms[i], n.Name, n.labels) {
			return true
		}
	}
	return false
}

// nodeSelectorTermMatches ANDs a term's expressions and fields; an empty
// term matches no node.
func nodeSelectorTermMatches(t *corev1.NodeSelectorTerm, name string, lbls map[string]string) bool {
	if len(t.MatchExpressions) == 0 && len(t.MatchFields) == 0 {
		return false
	}
	for i := range t.MatchExpressions {
		e := &t.MatchExpressions[i]
		v, ok := lbls[e.Key]
		if !requirementMatches(e.Operator, e.Values, v, ok) {
			return false
		}
	}
	for i := range t.MatchFields {
		f := &t.MatchFields[i]
		if f.Key != "metadata.name" {
			return false
		}
		if f.Operator != corev1.NodeSelectorOpIn && f.Operator != corev1.NodeSelectorOpNotIn {
			return false
		}
		if !requirementMatches(f.Operator, f.Values, name, true) {
			return false
		}
	}
	return true
}

func requirementMatches(op corev1.NodeSelectorOperator, values []string, v string, present bool) bool {
	switch op {
	case corev1.NodeSelectorOpIn:
		return present && contains(values, v)
	case corev1.NodeSelectorOpNotIn:
		return !present || !contains(values, v)
	case corev1.NodeSelectorOpExists:
		return present
	case corev1.NodeSelectorOpDoesNotExist:
		return !present
	case corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt:
		if !present || len(values) != 1 {
			return false
		}
		have, err1 := strconv.ParseInt(v, 10, 64)
		want, err2 := strconv.ParseInt(values[0], 10, 64)
		if err1 != nil || err2 != nil {
			return false
		}
		if op == corev1.NodeSelectorOpGt {
			return have > want
		}
		return have < want
	}
	return false
}

func contains(values []string, v string) bool {
	for _, x := range values {
		if x == v {
			return true
		}
	}
	return false
}

// hostPortsFree reports whether none of the pod's host ports is taken on
// the node. Ports conflict on the same protocol and number when their
// host IPs are equal or either is the wildcard.
func hostPortsFree(want []hostPort, used map[hostPort]int) bool {
	if len(want) == 0 || len(used) == 0 {
		return true
	}
	for _, w := range want {
		if w.ip == "0.0.0.0" {
			for u := range used {
				if u.protocol == w.protocol && u.port == w.port {
					return false
				}
			}
			continue
		}
		if used[w] > 0 || used[hostPort{protocol: w.protocol, ip: "0.0.0.0", port: w.port}] > 0 {
			return false
		}
	}
	return true
}

// insufficientResources lists what the node lacks for the pod, in
// Kubernetes' order; a resource the pod does not request never fails.
func insufficientResources(req Resources, n *NodeInfo) []string {
	var out []string
	if int64(len(n.pods))+1 > n.allowedPods {
		out = append(out, ReasonTooManyPods)
	}
	if req.MilliCPU > 0 && req.MilliCPU > n.allocatable.MilliCPU-n.requested.MilliCPU {
		out = append(out, ReasonInsufficientCPU)
	}
	if req.Memory > 0 && req.Memory > n.allocatable.Memory-n.requested.Memory {
		out = append(out, ReasonInsufficientMemory)
	}
	if req.EphemeralStorage > 0 && req.EphemeralStorage > n.allocatable.EphemeralStorage-n.requested.EphemeralStorage {
		out = append(out, ReasonInsufficientEphemeral)
	}
	return out
}

// interPodState is what the pod (anti-)affinity filter needs, computed once
// per pod by scanning the placed pods.
type interPodState struct {
	// affinityValues[i] holds the topology values of term i's key where
	// matching pods run.
	affinityValues []map[string]int
	anyAffinity    bool
	selfAffinity   bool
	antiValues     []map[string]struct{}
	// existingAnti maps topology key to the values where a placed pod's
	// anti-affinity forbids the incoming pod.
	existingAnti map[string]map[string]struct{}
}

func (s *Snapshot) interPodState(p *podSpec) *interPodState {
	if len(p.affinity) == 0 && len(p.antiAffinity) == 0 && len(s.withAntiAffinity) == 0 {
		return nil
	}
	st := &interPodState{}
	for _, q := range s.withAntiAffinity {
		n := s.nodes[q.node]
		if n == nil || n.node == nil || q.key == p.key {
			continue
		}
		for i := range q.antiAffinity {
			t := &q.antiAffinity[i]
			v, ok := n.labels[t.topologyKey]
			if !ok || !t.matches(p.namespace, p.labels) {
				continue
			}
			if st.existingAnti == nil {
				st.existingAnti = map[string]map[string]struct{}{}
			}
			if st.existingAnti[t.topologyKey] == nil {
				st.existingAnti[t.topologyKey] = map[string]struct{}{}
			}
			st.existingAnti[t.topologyKey][v] = struct{}{}
		}
	}
	if len(p.affinity) == 0 && len(p.antiAffinity) == 0 {
		if st.existingAnti == nil {
			return nil
		}
		return st
	}
	st.affinityValues = make([]map[string]int, len(p.affinity))
	st.antiValues = make([]map[string]struct{}, len(p.antiAffinity))
	for i := range st.affinityValues {
		st.affinityValues[i] = map[string]int{}
	}
	for i := range st.antiValues {
		st.antiValues[i] = map[string]struct{}{}
	}
	for i := range p.affinity {
		t := &p.affinity[i]
		s.forEachCandidate(t, p.key, func(q *podInfo, n *NodeInfo) {
			if v, ok := n.labels[t.topologyKey]; ok && t.matches(q.namespace, q.labels) {
				st.affinityValues[i][v]++
				st.anyAffinity = true
			}
		})
	}
	for i := range p.antiAffinity {
		t := &p.antiAffinity[i]
		s.forEachCandidate(t, p.key, func(q *podInfo, n *NodeInfo) {
			if v, ok := n.labels[t.topologyKey]; ok && t.matches(q.namespace, q.labels) {
				st.antiValues[i][v] = struct{}{}
			}
		})
	}
	st.selfAffinity = len(p.affinity) > 0
	for i := range p.affinity {
		if !p.affinity[i].matches(p.namespace, p.labels) {
			st.selfAffinity = false
		}
	}
	return st
}

// forEachCandidate calls f for every placed pod (on a node with a Node
// object) that might match term: those carrying its indexed label, or all.
func (s *Snapshot) forEachCandidate(t *affinityTerm, self string, f func(*podInfo, *NodeInfo)) {
	visit := func(q *podInfo) {
		if q.key == self {
			return
		}
		if n := s.nodes[q.node]; n != nil && n.node != nil {
			f(q, n)
		}
	}
	if t.index != nil {
		for _, q := range s.byLabel[*t.index] {
			visit(q)
		}
		return
	}
	for _, q := range s.pods {
		visit(q)
	}
}

// interPodReason checks the pod's required affinity, its required
// anti-affinity, then the placed pods' anti-affinity, in Kubernetes' order.
func (st *interPodState) reason(p *podSpec, n *NodeInfo) string {
	if st == nil {
		return ""
	}
	podsExist := true
	for i := range p.affinity {
		v, ok := n.labels[p.affinity[i].topologyKey]
		if !ok {
			return ReasonPodAffinity
		}
		if st.affinityValues[i][v] == 0 {
			podsExist = false
		}
	}
	// The first pod of a group that wants to be near its own kind may
	// go anywhere the topology labels exist.
	if !podsExist && (st.anyAffinity || !st.selfAffinity) {
		return ReasonPodAffinity
	}
	for i := range p.antiAffinity {
		if v, ok := n.labels[p.antiAffinity[i].topologyKey]; ok {
			if _, taken := st.antiValues[i][v]; taken {
				return ReasonPodAntiAffinity
			}
		}
	}
	for key, values := range st.existingAnti {
		if v, ok := n.labels[key]; ok {
			if _, taken := values[v]; taken {
				return ReasonExistingPodAntiAffinity
			}
		}
	}
	return ""
}
