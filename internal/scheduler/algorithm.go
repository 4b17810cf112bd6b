package scheduler

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// ErrNoNodes is the failure when the cluster has no nodes at all.
var ErrNoNodes = errors.New("no nodes available to schedule pods")

// FitError says why no node fits a pod: how many nodes were considered and
// how many were rejected for each reason (a node may count under several
// reasons, e.g. both Insufficient cpu and Insufficient memory).
type FitError struct {
	NumAllNodes int
	Reasons     map[string]int
}

// Error is Kubernetes' message: "0/3 nodes are available: 1 node(s) had
// untolerated taint {k: v}, 2 Insufficient cpu." with the "count reason"
// strings sorted as strings.
func (e *FitError) Error() string {
	parts := make([]string, 0, len(e.Reasons))
	for r, n := range e.Reasons {
		parts = append(parts, fmt.Sprintf("%d %s", n, r))
	}
	sort.Strings(parts)
	msg := fmt.Sprintf("0/%d nodes are available:", e.NumAllNodes)
	if len(parts) > 0 {
		msg += " " + strings.Join(parts, ", ") + "."
	}
	return msg
}

// Score weights, as in Kubernetes' default profile: taints 3, node
// affinity 2, topology spreading 2, resource fit 1.
const (
	weightLeastAllocated = 1
	weightSpread         = 2
	weightNodeAffinity   = 2
	weightTaints         = 3
)

// Algorithm places pods. It remembers where the previous search stopped so
// that successive pods start at different nodes, which spreads load when
// only a sample of the feasible nodes is scored. Not safe for concurrent
// use; one scheduling goroutine owns it.
type Algorithm struct {
	// PercentageOfNodesToScore bounds how many feasible nodes are looked
	// for before scoring, as in Kubernetes: 0 picks it adaptively (50%
	// for small clusters down to 5% for very large ones, never fewer than
	// 100 nodes); 100 considers every node.
	PercentageOfNodesToScore int

	next     int
	feasible []*NodeInfo
	raw      []nodeScores
}

type nodeScores struct {
	fit, owner, affinity, taints int64
}

// FeasibleNodesToFind is how many feasible nodes are looked for among n.
func (a *Algorithm) FeasibleNodesToFind(n int) int {
	if n < 100 || a.PercentageOfNodesToScore >= 100 {
		return n
	}
	pct := a.PercentageOfNodesToScore
	if pct <= 0 {
		pct = max(50-n/125, 5)
	}
	return max(n*pct/100, 100)
}

// Schedule picks the node for pod, or returns ErrNoNodes or a *FitError.
// It does not change the snapshot.
func (a *Algorithm) Schedule(s *Snapshot, pod *corev1.Pod) (string, error) {
	n := len(s.order)
	if n == 0 {
		return "", ErrNoNodes
	}
	p := compilePod(pod)
	inter := s.interPodState(p)
	want := a.FeasibleNodesToFind(n)
	start := a.next % n
	feasible := a.feasible[:0]
	var fe *FitError
	processed := 0
	for i := 0; i < n && len(feasible) < want; i++ {
		ni := s.order[(start+i)%n]
		processed++
		reasons := filterNode(p, inter, ni)
		if len(reasons) == 0 {
			feasible = append(feasible, ni)
			continue
		}
		if fe == nil {
			fe = &FitError{NumAllNodes: n, Reasons: map[string]int{}}
		}
		for _, r := range reasons {
			fe.Reasons[r]++
		}
	}
	a.next = (start + processed) % n
	a.feasible = feasible
	switch len(feasible) {
	case 0:
		return "", fe
	case 1:
		return feasible[0].Name, nil
	}
	return a.pick(p, feasible).Name, nil
}

// filterNode returns why the node cannot take the pod, nil if it can. The
// checks run in Kubernetes' plugin order and stop at the first that fails.
func filterNode(p *podSpec, inter *interPodState, n *NodeInfo) []string {
	if n.unschedulable && !p.toleratesUnschedulable {
		return []string{ReasonUnschedulable}
	}
	if r := untoleratedTaint(n, p.tolerations); r != "" {
		return []string{r}
	}
	if !matchesNodeSelector(p, n) {
		return []string{ReasonNodeAffinity}
	}
	if !hostPortsFree(p.ports, n.ports) {
		return []string{ReasonHostPorts}
	}
	if r := insufficientResources(p.req, n); r != nil {
		return r
	}
	if r := inter.reason(p, n); r != "" {
		return []string{r}
	}
	return nil
}

// pick scores the feasible nodes and returns the best; ties go to the
// node found first, which rotates from pod to pod.
func (a *Algorithm) pick(p *podSpec, nodes []*NodeInfo) *NodeInfo {
	if cap(a.raw) < len(nodes) {
		a.raw = make([]nodeScores, len(nodes))
	}
	raw := a.raw[:len(nodes)]
	var maxOwner, maxAffinity, maxTaints int64
	for i, n := range nodes {
		r := nodeScores{fit: leastAllocated(p.nonZero, n)}
		if p.owner != "" {
			r.owner = int64(n.owners[p.owner])
		}
		for j := range p.preferred {
			t := &p.preferred[j]
			if nodeSelectorTermMatches(&t.Preference, n.Name, n.labels) {
				r.affinity += int64(t.Weight)
			}
		}
		for j := range n.preferTaints {
			if !tolerates(p.tolerations, &n.preferTaints[j]) {
				r.taints++
			}
		}
		maxOwner, maxAffinity, maxTaints = max(maxOwner, r.owner), max(maxAffinity, r.affinity), max(maxTaints, r.taints)
		raw[i] = r
	}
	best, bestScore := 0, int64(-1)
	for i, r := range raw {
		score := weightLeastAllocated * r.fit
		// Fewer pods of the same owner scores higher; with none anywhere
		// every node scores the same.
		if maxOwner > 0 {
			score += weightSpread * 100 * (maxOwner - r.owner) / maxOwner
		} else {
			score += weightSpread * 100
		}
		if maxAffinity > 0 {
			score += weightNodeAffinity * 100 * r.affinity / maxAffinity
		}
		if maxTaints > 0 {
			score += weightTaints * 100 * (maxTaints - r.taints) / maxTaints
		} else {
			score += weightTaints * 100
		}
		if score > bestScore {
			best, bestScore = i, score
		}
	}
	return nodes[best]
}

// leastAllocated scores 0-100 how much cpu and memory would stay free on
// the node after placing the pod, averaged over the two.
func leastAllocated(req Resources, n *NodeInfo) int64 {
	free := func(alloc, used int64) int64 {
		if alloc <= 0 || used > alloc {
			return 0
		}
		return (alloc - used) * 100 / alloc
	}
	cpu := free(n.allocatable.MilliCPU, n.nonZeroRequested.MilliCPU+req.MilliCPU)
	mem := free(n.allocatable.Memory, n.nonZeroRequested.Memory+req.Memory)
	return (cpu + mem) / 2
}

// Explain reports every reason the node rejects the pod, for tests and
// diagnostics; nil means the node fits.
func (s *Snapshot) Explain(pod *corev1.Pod, nodeName string) []string {
	n := s.nodes[nodeName]
	if n == nil || n.node == nil {
		return []string{"node not found"}
	}
	p := compilePod(pod)
	return filterNode(p, s.interPodState(p), n)
}
