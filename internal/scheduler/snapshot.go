package scheduler

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// Snapshot is the scheduler's view of the cluster: every node and the pods
// placed on it, with their requests summed. It is updated one object at a
// time (SetNode, AddPod, RemovePod) so that scheduling a pod never rebuilds
// it. A Snapshot is not safe for concurrent use; the caller locks.
type Snapshot struct {
	nodes map[string]*NodeInfo
	// order lists the nodes that have a Node object, in a stable order
	// that Algorithm walks round-robin.
	order []*NodeInfo
	pods  map[string]*podInfo
	// withAntiAffinity are the placed pods with required anti-affinity
	// terms, which every incoming pod must respect (few in practice, so
	// they are kept apart rather than found by scanning all pods).
	withAntiAffinity map[string]*podInfo
	// byLabel indexes placed pods by each label, so that an affinity term
	// with matchLabels looks only at pods carrying one of its labels.
	byLabel map[labelKV]map[string]*podInfo
}

type labelKV struct{ key, value string }

// NodeInfo is one node with the pods placed on it.
type NodeInfo struct {
	Name          string
	node          *corev1.Node
	idx           int // position in Snapshot.order, -1 without a Node object
	allocatable   Resources
	allowedPods   int64
	labels        map[string]string
	unschedulable bool
	// taints are the NoSchedule and NoExecute taints that filter;
	// preferTaints the PreferNoSchedule ones that only score.
	taints, preferTaints []corev1.Taint
	// taintReasons[i] is the failure message for taints[i], built once.
	taintReasons []string

	requested, nonZeroRequested Resources
	pods                        map[string]*podInfo
	ports                       map[hostPort]int
	owners                      map[types.UID]int
}

// Node returns the Node object, nil if only pods referring to it are known.
func (n *NodeInfo) Node() *corev1.Node { return n.node }

// Requested is the sum of the requests of the pods on the node.
func (n *NodeInfo) Requested() Resources { return n.requested }

// Allocatable is what the node offers to pods.
func (n *NodeInfo) Allocatable() Resources { return n.allocatable }

// NumPods is how many pods are placed on the node.
func (n *NodeInfo) NumPods() int { return len(n.pods) }

// OwnerCount is how many pods of the given controller are on the node.
func (n *NodeInfo) OwnerCount(owner types.UID) int { return n.owners[owner] }

type hostPort struct {
	protocol corev1.Protocol
	ip       string
	port     int32
}

// podInfo is what the snapshot keeps of a placed pod: precomputed once.
type podInfo struct {
	key          string
	namespace    string
	labels       map[string]string
	node         string
	req, nonZero Resources
	ports        []hostPort
	owner        types.UID
	antiAffinity []affinityTerm
}

// affinityTerm is a compiled pod (anti-)affinity term.
type affinityTerm struct {
	selector labels.Selector
	// namespaces nil means every namespace.
	namespaces  map[string]struct{}
	topologyKey string
	// index, when set, is a label every matching pod carries.
	index *labelKV
}

func (t *affinityTerm) matches(namespace string, lbls map[string]string) bool {
	if t.namespaces != nil {
		if _, ok := t.namespaces[namespace]; !ok {
			return false
		}
	}
	return t.selector.Matches(labels.Set(lbls))
}

// NewSnapshot returns an empty snapshot.
func NewSnapshot() *Snapshot {
	return &Snapshot{
		nodes:            map[string]*NodeInfo{},
		pods:             map[string]*podInfo{},
		withAntiAffinity: map[string]*podInfo{},
		byLabel:          map[labelKV]map[string]*podInfo{},
	}
}

// NumNodes is how many nodes have a Node object.
func (s *Snapshot) NumNodes() int { return len(s.order) }

// NumPods is how many placed pods the snapshot accounts for.
func (s *Snapshot) NumPods() int { return len(s.pods) }

// NodeInfo returns a node by name, nil if unknown.
func (s *Snapshot) NodeInfo(name string) *NodeInfo { return s.nodes[name] }

// PodNode returns the node a pod (namespace/name) is placed on.
func (s *Snapshot) PodNode(key string) (string, bool) {
	p, ok := s.pods[key]
	if !ok {
		return "", false
	}
	return p.node, true
}

func (s *Snapshot) nodeInfo(name string) *NodeInfo {
	n := s.nodes[name]
	if n == nil {
		n = &NodeInfo{Name: name, idx: -1, pods: map[string]*podInfo{}}
		s.nodes[name] = n
	}
	return n
}

// SetNode adds or updates a node.
func (s *Snapshot) SetNode(node *corev1.Node) {
	n := s.nodeInfo(node.Name)
	n.node = node
	alloc := node.Status.Allocatable
	if alloc == nil {
		alloc = node.Status.Capacity
	}
	n.allocatable = resourcesOf(alloc)
	n.allowedPods = 0
	if q, ok := alloc[corev1.ResourcePods]; ok {
		n.allowedPods = q.Value()
	}
	n.labels = node.Labels
	n.unschedulable = node.Spec.Unschedulable
	n.taints, n.preferTaints, n.taintReasons = nil, nil, nil
	for _, t := range node.Spec.Taints {
		switch t.Effect {
		case corev1.TaintEffectNoSchedule, corev1.TaintEffectNoExecute:
			n.taints = append(n.taints, t)
			n.taintReasons = append(n.taintReasons, untoleratedTaintReason(&t))
		case corev1.TaintEffectPreferNoSchedule:
			n.preferTaints = append(n.preferTaints, t)
		}
	}
	if n.idx < 0 {
		n.idx = len(s.order)
		s.order = append(s.order, n)
	}
}

// RemoveNode forgets a node. Pods still bound to it keep counting (they
// are removed when their own deletion is seen), as in Kubernetes.
func (s *Snapshot) RemoveNode(name string) {
	n := s.nodes[name]
	if n == nil {
		return
	}
	if n.idx >= 0 {
		last := s.order[len(s.order)-1]
		s.order[n.idx] = last
		last.idx = n.idx
		s.order = s.order[:len(s.order)-1]
		n.idx = -1
	}
	n.node = nil
	if len(n.pods) == 0 {
		delete(s.nodes, name)
	}
}

// PodKey is how the snapshot and the queue name a pod.
func PodKey(pod *corev1.Pod) string { return pod.Namespace + "/" + pod.Name }

// AddPod accounts pod on nodeName, replacing what was accounted under the
// same key before (so an update or a binding that the informer reports
// after the scheduler assumed it is idempotent).
func (s *Snapshot) AddPod(pod *corev1.Pod, nodeName string) {
	key := PodKey(pod)
	s.RemovePod(key)
	p := newPodInfo(pod)
	p.node = nodeName
	s.pods[key] = p
	if len(p.antiAffinity) > 0 {
		s.withAntiAffinity[key] = p
	}
	for k, v := range p.labels {
		kv := labelKV{k, v}
		m := s.byLabel[kv]
		if m == nil {
			m = map[string]*podInfo{}
			s.byLabel[kv] = m
		}
		m[key] = p
	}
	n := s.nodeInfo(nodeName)
	n.pods[key] = p
	n.requested.add(p.req)
	n.nonZeroRequested.add(p.nonZero)
	for _, hp := range p.ports {
		if n.ports == nil {
			n.ports = map[hostPort]int{}
		}
		n.ports[hp]++
	}
	if p.owner != "" {
		if n.owners == nil {
			n.owners = map[types.UID]int{}
		}
		n.owners[p.owner]++
	}
}

// RemovePod stops accounting the pod with the given key.
func (s *Snapshot) RemovePod(key string) {
	p, ok := s.pods[key]
	if !ok {
		return
	}
	delete(s.pods, key)
	delete(s.withAntiAffinity, key)
	for k, v := range p.labels {
		kv := labelKV{k, v}
		if m := s.byLabel[kv]; m != nil {
			delete(m, key)
			if len(m) == 0 {
				delete(s.byLabel, kv)
			}
		}
	}
	n := s.nodes[p.node]
	if n == nil {
		return
	}
	delete(n.pods, key)
	n.requested.sub(p.req)
	n.nonZeroRequested.sub(p.nonZero)
	for _, hp := range p.ports {
		if n.ports[hp]--; n.ports[hp] <= 0 {
			delete(n.ports, hp)
		}
	}
	if p.owner != "" {
		if n.owners[p.owner]--; n.owners[p.owner] <= 0 {
			delete(n.owners, p.owner)
		}
	}
	if n.node == nil && len(n.pods) == 0 {
		delete(s.nodes, p.node)
	}
}

func newPodInfo(pod *corev1.Pod) *podInfo {
	p := &podInfo{key: PodKey(pod), namespace: pod.Namespace, labels: pod.Labels}
	p.req, p.nonZero = PodRequests(pod)
	p.ports = podHostPorts(pod)
	p.owner = controllerUID(pod)
	if a := pod.Spec.Affinity; a != nil && a.PodAntiAffinity != nil {
		p.antiAffinity = compileTerms(pod, a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution)
	}
	return p
}

func controllerUID(pod *corev1.Pod) types.UID {
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		return ref.UID
	}
	return ""
}

// podHostPorts lists the host ports of the containers that run alongside
// the pod for its lifetime (regular containers and sidecars).
func podHostPorts(pod *corev1.Pod) []hostPort {
	var out []hostPort
	add := func(c *corev1.Container) {
		for _, p := range c.Ports {
			if p.HostPort <= 0 {
				continue
			}
			hp := hostPort{protocol: p.Protocol, ip: p.HostIP, port: p.HostPort}
			if hp.protocol == "" {
				hp.protocol = corev1.ProtocolTCP
			}
			if hp.ip == "" {
				hp.ip = "0.0.0.0"
			}
			out = append(out, hp)
		}
	}
	for i := range pod.Spec.Containers {
		add(&pod.Spec.Containers[i])
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			add(c)
		}
	}
	return out
}

// compileTerms turns pod (anti-)affinity terms into selectors. A term
// whose selector does not parse matches nothing, as in Kubernetes.
func compileTerms(pod *corev1.Pod, terms []corev1.PodAffinityTerm) []affinityTerm {
	out := make([]affinityTerm, 0, len(terms))
	for _, t := range terms {
		sel := labels.Nothing()
		if t.LabelSelector != nil {
			if s, err := metav1.LabelSelectorAsSelector(t.LabelSelector); err == nil {
				sel = s
			}
		}
		at := affinityTerm{selector: sel, topologyKey: t.TopologyKey}
		if t.LabelSelector != nil && sel != labels.Nothing() {
			for k, v := range t.LabelSelector.MatchLabels {
				if at.index == nil || k < at.index.key {
					at.index = &labelKV{k, v}
				}
			}
		}
		switch {
		case t.NamespaceSelector != nil:
			// Namespace labels are not watched: a namespace selector
			// widens the term to every namespace (see docs/scheduling.md).
		case len(t.Namespaces) > 0:
			at.namespaces = make(map[string]struct{}, len(t.Namespaces))
			for _, ns := range t.Namespaces {
				at.namespaces[ns] = struct{}{}
			}
		default:
			at.namespaces = map[string]struct{}{pod.Namespace: {}}
		}
		out = append(out, at)
	}
	return out
}
