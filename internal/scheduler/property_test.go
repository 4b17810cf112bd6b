package scheduler

import (
	"errors"
	"fmt"
	"math/rand"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// naiveFits is an independent, from-scratch check of the filters the
// random workloads use: it recomputes everything from the objects.
func naiveFits(node *corev1.Node, onNode []*corev1.Pod, pod *corev1.Pod) error {
	if node.Spec.Unschedulable {
		ok := false
		for _, t := range pod.Spec.Tolerations {
			if t.Key == TaintNodeUnschedulable || (t.Key == "" && t.Operator == corev1.TolerationOpExists) {
				ok = true
			}
		}
		if !ok {
			return errors.New("cordoned")
		}
	}
	for _, taint := range node.Spec.Taints {
		if taint.Effect == corev1.TaintEffectPreferNoSchedule {
			continue
		}
		ok := false
		for _, t := range pod.Spec.Tolerations {
			if (t.Operator == corev1.TolerationOpExists && (t.Key == "" || t.Key == taint.Key)) || (t.Key == taint.Key && t.Value == taint.Value) {
				if t.Effect == "" || t.Effect == taint.Effect {
					ok = true
				}
			}
		}
		if !ok {
			return fmt.Errorf("taint %s", taint.Key)
		}
	}
	if !labels.SelectorFromSet(pod.Spec.NodeSelector).Matches(labels.Set(node.Labels)) {
		return errors.New("selector")
	}
	var cpu, mem int64
	ports := map[int32]bool{}
	for _, q := range onNode {
		for _, c := range q.Spec.Containers {
			cpu += c.Resources.Requests.Cpu().MilliValue()
			mem += c.Resources.Requests.Memory().Value()
			for _, p := range c.Ports {
				ports[p.HostPort] = true
			}
		}
		if a := q.Spec.Affinity; a != nil && a.PodAntiAffinity != nil && pod.Labels["app"] == q.Labels["app"] {
			return errors.New("existing anti-affinity")
		}
	}
	for _, c := range pod.Spec.Containers {
		cpu += c.Resources.Requests.Cpu().MilliValue()
		mem += c.Resources.Requests.Memory().Value()
		for _, p := range c.Ports {
			if ports[p.HostPort] {
				return errors.New("host port")
			}
		}
	}
	if cpu > node.Status.Allocatable.Cpu().MilliValue() || mem > node.Status.Allocatable.Memory().Value() {
		return fmt.Errorf("overcommit cpu %d mem %d", cpu, mem)
	}
	if int64(len(onNode)+1) > node.Status.Allocatable.Pods().Value() {
		return errors.New("too many pods")
	}
	if a := pod.Spec.Affinity; a != nil && a.PodAntiAffinity != nil {
		for _, q := range onNode {
			if q.Labels["app"] == pod.Labels["app"] {
				return errors.New("anti-affinity")
			}
		}
	}
	return nil
}

func randomNodes(r *rand.Rand, n int) []*corev1.Node {
	nodes := make([]*corev1.Node, n)
	for i := range nodes {
		var opts []func(*corev1.Node)
		if r.Intn(2) == 0 {
			opts = append(opts, withLabels("disk", []string{"ssd", "hdd"}[r.Intn(2)]))
		}
		if r.Intn(8) == 0 {
			opts = append(opts, withTaint("dedicated", []string{"infra", "db"}[r.Intn(2)], []corev1.TaintEffect{corev1.TaintEffectNoSchedule, corev1.TaintEffectNoExecute, corev1.TaintEffectPreferNoSchedule}[r.Intn(3)]))
		}
		if r.Intn(12) == 0 {
			opts = append(opts, cordoned)
		}
		nodes[i] = testNode(fmt.Sprintf("node-%d", i), int64(500+r.Intn(8)*500), int64(512+r.Intn(8)*512), int64(3+r.Intn(20)), opts...)
	}
	return nodes
}

func randomPod(r *rand.Rand, i int) *corev1.Pod {
	owner := r.Intn(6)
	opts := []func(*corev1.Pod){ownedBy(fmt.Sprintf("rs-%d", owner)), podLabels("app", fmt.Sprintf("app-%d", owner))}
	if r.Intn(4) == 0 {
		opts = append(opts, nodeSelector("disk", "ssd"))
	}
	if r.Intn(4) == 0 {
		opts = append(opts, tolerating(corev1.Toleration{Key: "dedicated", Value: "infra"}))
	}
	if r.Intn(10) == 0 {
		opts = append(opts, tolerating(corev1.Toleration{Operator: corev1.TolerationOpExists}))
	}
	if r.Intn(6) == 0 {
		opts = append(opts, hostPortPod("", "", int32(8000+r.Intn(3))))
	}
	if owner == 5 {
		// One owner's pods refuse to share a node with each other.
		opts = append(opts, antiAffinity("kubernetes.io/hostname", "app", "app-5"))
	}
	return testPod(fmt.Sprintf("pod-%d", i), int64(r.Intn(6)*100), int64(r.Intn(6)*128), opts...)
}

// TestPropertyNeverViolatesFilters schedules random pods onto random nodes,
// deleting some as it goes, and checks every placement and every refusal
// against naiveFits, then that no node is overcommitted.
func TestPropertyNeverViolatesFilters(t *testing.T) {
	for seed := int64(1); seed <= 40; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			r := rand.New(rand.NewSource(seed))
			nodes := randomNodes(r, 1+r.Intn(150))
			byName := map[string]*corev1.Node{}
			s := NewSnapshot()
			for _, n := range nodes {
				s.SetNode(n)
				byName[n.Name] = n
			}
			a := Algorithm{PercentageOfNodesToScore: []int{0, 10, 100}[r.Intn(3)]}
			placed := map[string][]*corev1.Pod{}
			var all []*corev1.Pod
			for i := 0; i < 400; i++ {
				if len(all) > 0 && r.Intn(5) == 0 {
					j := r.Intn(len(all))
					victim := all[j]
					all = append(all[:j], all[j+1:]...)
					node, _ := s.PodNode(PodKey(victim))
					s.RemovePod(PodKey(victim))
					for k, q := range placed[node] {
						if q == victim {
							placed[node] = append(placed[node][:k], placed[node][k+1:]...)
							break
						}
					}
				}
				pod := randomPod(r, i)
				node, err := a.Schedule(s, pod)
				if err != nil {
					var fe *FitError
					if !errors.As(err, &fe) {
						t.Fatalf("pod %d: unexpected error %v", i, err)
					}
					for _, n := range nodes {
						if naiveFits(n, placed[n.Name], pod) == nil {
							t.Fatalf("pod %d refused (%v) but fits %s", i, err, n.Name)
						}
					}
					continue
				}
				if why := naiveFits(byName[node], placed[node], pod); why != nil {
					t.Fatalf("pod %d placed on %s, which fails: %v", i, node, why)
				}
				s.AddPod(pod, node)
				placed[node] = append(placed[node], pod)
				all = append(all, pod)
			}
			for _, n := range nodes {
				info := s.NodeInfo(n.Name)
				var cpu, mem int64
				for _, q := range placed[n.Name] {
					cpu += q.Spec.Containers[0].Resources.Requests.Cpu().MilliValue()
					mem += q.Spec.Containers[0].Resources.Requests.Memory().Value()
				}
				if info.Requested().MilliCPU != cpu || info.Requested().Memory != mem || info.NumPods() != len(placed[n.Name]) {
					t.Errorf("%s: snapshot says %+v/%d pods, recomputed cpu %d mem %d/%d pods", n.Name, info.Requested(), info.NumPods(), cpu, mem, len(placed[n.Name]))
				}
				if cpu > n.Status.Allocatable.Cpu().MilliValue() || mem > n.Status.Allocatable.Memory().Value() {
					t.Errorf("%s overcommitted: cpu %d mem %d", n.Name, cpu, mem)
				}
			}
		})
	}
}

// TestPropertySpread: pods of the same owner end up evenly spread over
// equal nodes, whatever the interleaving of owners and the node count:
// per-node counts differ by at most one (two when only a sample of the
// nodes is scored).
func TestPropertySpread(t *testing.T) {
	for seed := int64(1); seed <= 20; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			r := rand.New(rand.NewSource(seed))
			numNodes := []int{3, 10, 50, 300}[r.Intn(4)]
			s := NewSnapshot()
			for i := range numNodes {
				s.SetNode(testNode(fmt.Sprintf("n%d", i), 64000, 256<<10, 500))
			}
			owners := 1 + r.Intn(8)
			perOwner := numNodes * (1 + r.Intn(3))
			size := make([]int64, owners)
			for o := range size {
				size[o] = int64(50 * (1 + r.Intn(4)))
			}
			remaining := make([]int, owners)
			for o := range remaining {
				remaining[o] = perOwner
			}
			counts := make([]map[string]int, owners)
			for o := range counts {
				counts[o] = map[string]int{}
			}
			var a Algorithm
			for i := 0; i < owners*perOwner; i++ {
				o := r.Intn(owners)
				for remaining[o] == 0 {
					o = (o + 1) % owners
				}
				remaining[o]--
				pod := testPod(fmt.Sprintf("p%d", i), size[o], size[o], ownedBy(fmt.Sprintf("rs%d", o)))
				node, err := a.Schedule(s, pod)
				if err != nil {
					t.Fatalf("pod %d: %v", i, err)
				}
				s.AddPod(pod, node)
				counts[o][node]++
			}
			for o := range owners {
				lo, hi := perOwner, 0
				for i := range numNodes {
					c := counts[o][fmt.Sprintf("n%d", i)]
					lo, hi = min(lo, c), max(hi, c)
				}
				// Scoring a sample of the nodes (over 100 of them) sees only
				// part of the cluster, which costs at most one more pod.
				allowed := 1
				if a.FeasibleNodesToFind(numNodes) < numNodes {
					allowed = 2
				}
				if hi-lo > allowed {
					t.Errorf("owner %d (%d pods on %d nodes): per-node counts range %d..%d", o, perOwner, numNodes, lo, hi)
				}
			}
		})
	}
}
