package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	goruntime "runtime"
	"time"

	coordv1 "k8s.io/api/coordination/v1"
	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"
)

// KubeletVersion is the Kubernetes version the agent reports itself as.
const KubeletVersion = "v1.33.13"

// hostFacts is what one observation of the machine and runtime found.
type hostFacts struct {
	CPUMillis      int64
	MemoryBytes    int64
	DiskBytes      int64
	KernelVersion  string
	OSImage        string
	MachineID      string
	BootID         string
	Hostname       string
	RuntimeVersion string // "containerd://1.6.20"
	RuntimeReady   bool
	RuntimeMessage string
}

func gatherFacts(ctx context.Context, h Host, rt interface {
	Version(context.Context, *runtimeapi.VersionRequest) (*runtimeapi.VersionResponse, error)
	Status(context.Context, *runtimeapi.StatusRequest) (*runtimeapi.StatusResponse, error)
}, dataDir string) (hostFacts, error) {
	f := hostFacts{
		CPUMillis: h.CPUMillis(), KernelVersion: h.KernelVersion(), OSImage: h.OSImage(),
		MachineID: h.MachineID(), BootID: h.BootID(), Hostname: h.Hostname(),
	}
	var err error
	if f.MemoryBytes, err = h.MemoryBytes(); err != nil {
		return f, err
	}
	if f.DiskBytes, err = h.DiskBytes(dataDir); err != nil {
		return f, err
	}
	v, err := rt.Version(ctx, &runtimeapi.VersionRequest{})
	if err != nil {
		f.RuntimeMessage = fmt.Sprintf("container runtime is down: %v", err)
		return f, nil
	}
	f.RuntimeVersion = v.RuntimeName + "://" + v.RuntimeVersion
	st, err := rt.Status(ctx, &runtimeapi.StatusRequest{})
	if err != nil {
		f.RuntimeMessage = fmt.Sprintf("container runtime status check failed: %v", err)
		return f, nil
	}
	f.RuntimeReady = true
	for _, c := range st.GetStatus().GetConditions() {
		if c.Type == runtimeapi.RuntimeReady && !c.Status {
			f.RuntimeReady = false
			f.RuntimeMessage = "container runtime is not ready: " + c.Message
		}
		if c.Type == runtimeapi.NetworkReady && !c.Status {
			f.RuntimeReady = false
			f.RuntimeMessage = "container runtime network not ready: " + c.Reason + ": " + c.Message
		}
	}
	return f, nil
}

// nodeLabels are the well-known labels the kubelet sets on its Node.
func nodeLabels(name string) map[string]string {
	return map[string]string{
		"kubernetes.io/hostname":  name,
		"kubernetes.io/os":        goruntime.GOOS,
		"kubernetes.io/arch":      goruntime.GOARCH,
		"beta.kubernetes.io/os":   goruntime.GOOS,
		"beta.kubernetes.io/arch": goruntime.GOARCH,
	}
}

// desiredNodeStatus computes the Node's status from the facts, keeping
// transition times of conditions that did not change. It does no I/O.
func desiredNodeStatus(old v1.NodeStatus, f hostFacts, nodeIP string, maxPods int64, port int32, now time.Time) v1.NodeStatus {
	capacity := v1.ResourceList{
		v1.ResourceCPU:              *resource.NewMilliQuantity(f.CPUMillis, resource.DecimalSI),
		v1.ResourceMemory:           *resource.NewQuantity(f.MemoryBytes, resource.BinarySI),
		v1.ResourcePods:             *resource.NewQuantity(maxPods, resource.DecimalSI),
		v1.ResourceEphemeralStorage: *resource.NewQuantity(f.DiskBytes, resource.BinarySI),
	}
	st := v1.NodeStatus{
		Capacity:    capacity,
		Allocatable: capacity.DeepCopy(),
		Phase:       "",
		NodeInfo: v1.NodeSystemInfo{
			MachineID: f.MachineID, SystemUUID: f.MachineID, BootID: f.BootID,
			KernelVersion: f.KernelVersion, OSImage: f.OSImage, ContainerRuntimeVersion: f.RuntimeVersion,
			KubeletVersion: KubeletVersion, KubeProxyVersion: "", OperatingSystem: goruntime.GOOS, Architecture: goruntime.GOARCH,
		},
		DaemonEndpoints: v1.NodeDaemonEndpoints{KubeletEndpoint: v1.DaemonEndpoint{Port: port}},
		Images:          old.Images,
	}
	if nodeIP != "" {
		st.Addresses = append(st.Addresses, v1.NodeAddress{Type: v1.NodeInternalIP, Address: nodeIP})
	}
	if f.Hostname != "" {
		st.Addresses = append(st.Addresses, v1.NodeAddress{Type: v1.NodeHostName, Address: f.Hostname})
	}
	hb := metav1.NewTime(now.Truncate(time.Second))
	cond := func(t v1.NodeConditionType, s v1.ConditionStatus, reason, msg string) {
		c := v1.NodeCondition{Type: t, Status: s, Reason: reason, Message: msg, LastHeartbeatTime: hb, LastTransitionTime: hb}
		for _, o := range old.Conditions {
			if o.Type == t && o.Status == s {
				c.LastTransitionTime = o.LastTransitionTime
			}
		}
		st.Conditions = append(st.Conditions, c)
	}
	cond(v1.NodeMemoryPressure, v1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available")
	cond(v1.NodeDiskPressure, v1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure")
	cond(v1.NodePIDPressure, v1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available")
	if f.RuntimeReady {
		cond(v1.NodeReady, v1.ConditionTrue, "KubeletReady", "kubelet is posting ready status")
	} else {
		cond(v1.NodeReady, v1.ConditionFalse, "KubeletNotReady", f.RuntimeMessage)
	}
	return st
}

// nodeStatusDiffers ignores heartbeat times, which change every time.
func nodeStatusDiffers(a, b v1.NodeStatus) bool {
	strip := func(s v1.NodeStatus) v1.NodeStatus {
		s = *s.DeepCopy()
		for i := range s.Conditions {
			s.Conditions[i].LastHeartbeatTime = metav1.Time{}
		}
		return s
	}
	return !apiequality.Semantic.DeepEqual(strip(a), strip(b))
}

// registerNode creates the Node or brings an existing one's labels up to
// date. spec.podCIDR is left to the server's IPAM.
func (a *Agent) registerNode(ctx context.Context, f hostFacts) (*v1.Node, error) {
	nodes := a.cfg.Client.CoreV1().Nodes()
	want := &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: a.cfg.NodeName, Labels: nodeLabels(a.cfg.NodeName)},
		Status:     desiredNodeStatus(v1.NodeStatus{}, f, a.cfg.NodeIP, a.cfg.MaxPods, a.cfg.AgentPort, a.clk.Now()),
	}
	maps.Copy(want.Labels, a.cfg.NodeLabels)
	n, err := nodes.Create(ctx, want, metav1.CreateOptions{})
	if err == nil {
		// Create ignores status on servers that split it off; write it now.
		n.Status = want.Status
		if n, err = nodes.UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
			return nil, err
		}
		a.recordReadiness(n, nodeReady(n.Status))
		return n, nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("create node: %w", err)
	}
	n, err = nodes.Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("get node: %w", err)
	}
	changed := false
	if n.Labels == nil {
		n.Labels = map[string]string{}
	}
	for k, v := range want.Labels {
		if n.Labels[k] != v {
			n.Labels[k], changed = v, true
		}
	}
	if changed {
		if n, err = nodes.Update(ctx, n, metav1.UpdateOptions{}); err != nil {
			return nil, fmt.Errorf("update node labels: %w", err)
		}
	}
	return n, nil
}

// updateNodeStatus patches the Node's status when it changed or the last
// report is older than the force period.
func (a *Agent) updateNodeStatus(ctx context.Context, force bool) (wrote, ready bool, err error) {
	f, err := gatherFacts(ctx, a.cfg.Host, a.cfg.Runtime, a.cfg.DataDir)
	if err != nil {
		return false, false, fmt.Errorf("gather node facts: %w", err)
	}
	nodes := a.cfg.Client.CoreV1().Nodes()
	n, err := nodes.Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		n, err = a.registerNode(ctx, f)
		a.notePodCIDR(n)
		return err == nil, false, err
	}
	if err != nil {
		return false, false, fmt.Errorf("get node: %w", err)
	}
	a.notePodCIDR(n)
	st := desiredNodeStatus(n.Status, f, a.cfg.NodeIP, a.cfg.MaxPods, a.cfg.AgentPort, a.clk.Now())
	ready = nodeReady(st)
	if !force && !nodeStatusDiffers(n.Status, st) {
		return false, ready, nil
	}
	oldData, err := json.Marshal(v1.Node{Status: n.Status})
	if err != nil {
		return false, false, fmt.Errorf("encode node status: %w", err)
	}
	newData, err := json.Marshal(v1.Node{Status: st})
	if err != nil {
		return false, false, fmt.Errorf("encode node status: %w", err)
	}
	patch, err := strategicpatch.CreateTwoWayMergePatch(oldData, newData, v1.Node{})
	if err != nil {
		return false, false, fmt.Errorf("node status patch: %w", err)
	}
	if _, err := nodes.Patch(ctx, a.cfg.NodeName, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil {
		return false, false, fmt.Errorf("patch node status: %w", err)
	}
	if nodeReady(n.Status) != ready {
		a.recordReadiness(n, ready)
	}
	return true, ready, nil
}

// recordReadiness tells, as kubelet does, what the node's Ready condition
// became: on its first report and whenever it changes. (The node
// controller tells only of a node that stopped reporting.)
func (a *Agent) recordReadiness(n *v1.Node, ready bool) {
	reason := "NodeNotReady"
	if ready {
		reason = "NodeReady"
	}
	a.recorder.Eventf(n, v1.EventTypeNormal, reason, "Node %s status is now: %s", n.Name, reason)
}

func nodeReady(st v1.NodeStatus) bool {
	for _, c := range st.Conditions {
		if c.Type == v1.NodeReady {
			return c.Status == v1.ConditionTrue
		}
	}
	return false
}

// renewLease keeps the node's heartbeat Lease in kube-node-lease fresh.
func (a *Agent) renewLease(ctx context.Context) error {
	leases := a.cfg.Client.CoordinationV1().Leases(v1.NamespaceNodeLease)
	now := metav1.NewMicroTime(a.clk.Now())
	l, err := leases.Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		l = &coordv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: a.cfg.NodeName, Namespace: v1.NamespaceNodeLease},
			Spec:       coordv1.LeaseSpec{HolderIdentity: ptr.To(a.cfg.NodeName), LeaseDurationSeconds: ptr.To(int32(a.cfg.LeaseDuration / time.Second)), RenewTime: &now},
		}
		if n, err := a.cfg.Client.CoreV1().Nodes().Get(ctx, a.cfg.NodeName, metav1.GetOptions{}); err == nil {
			l.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: n.Name, UID: n.UID}}
		}
		if _, err := leases.Create(ctx, l, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create lease: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("get lease: %w", err)
	}
	l.Spec.RenewTime = &now
	l.Spec.HolderIdentity = ptr.To(a.cfg.NodeName)
	l.Spec.LeaseDurationSeconds = ptr.To(int32(a.cfg.LeaseDuration / time.Second))
	if _, err := leases.Update(ctx, l, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("renew lease: %w", err)
	}
	return nil
}

// notePodCIDR tells the caller the pod CIDR the server assigned, once and
// again whenever it changes.
func (a *Agent) notePodCIDR(n *v1.Node) {
	if n == nil || n.Spec.PodCIDR == "" || a.cfg.OnPodCIDR == nil {
		return
	}
	a.mu.Lock()
	changed := a.podCIDR != n.Spec.PodCIDR
	a.podCIDR = n.Spec.PodCIDR
	a.mu.Unlock()
	if changed {
		cidrs := n.Spec.PodCIDRs
		if len(cidrs) == 0 {
			cidrs = []string{n.Spec.PodCIDR}
		}
		a.cfg.OnPodCIDR(cidrs)
	}
}

// runNode registers the node, then heartbeats and reports status.
func (a *Agent) runNode(ctx context.Context) {
	for {
		f, err := gatherFacts(ctx, a.cfg.Host, a.cfg.Runtime, a.cfg.DataDir)
		if err == nil {
			var n *v1.Node
			n, err = a.registerNode(ctx, f)
			a.notePodCIDR(n)
		}
		if err == nil {
			break
		}
		a.log.Warn("node registration failed; retrying", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-a.clk.After(a.cfg.NodeStatusUpdatePeriod):
		}
	}
	close(a.registered)
	if err := a.renewLease(ctx); err != nil {
		a.log.Warn("lease renewal failed", "err", err)
	}
	leaseTick := a.clk.NewTicker(a.cfg.LeaseRenewPeriod)
	defer leaseTick.Stop()
	statusTick := a.clk.NewTicker(a.cfg.NodeStatusUpdatePeriod)
	defer statusTick.Stop()
	lastReport := a.clk.Now()
	// Until the node is Ready (the runtime's network comes up once the pod
	// CIDR arrives), status is checked every second so pods need not wait
	// a full update period for a schedulable node.
	ready := false
	for {
		var soon <-chan time.Time
		if !ready {
			soon = a.clk.After(time.Second)
		}
		select {
		case <-ctx.Done():
			return
		case <-leaseTick.C():
			if err := a.renewLease(ctx); err != nil && ctx.Err() == nil {
				a.log.Warn("lease renewal failed", "err", err)
			}
		case <-soon:
			ready = a.reportStatus(ctx, &lastReport)
		case <-statusTick.C():
			ready = a.reportStatus(ctx, &lastReport)
		}
	}
}

// reportStatus writes the node status when it changed (or is due) and
// says whether the node is Ready.
func (a *Agent) reportStatus(ctx context.Context, lastReport *time.Time) bool {
	force := a.clk.Since(*lastReport) >= a.cfg.NodeStatusReportPeriod
	wrote, ready, err := a.updateNodeStatus(ctx, force)
	if err != nil {
		if ctx.Err() == nil {
			a.log.Warn("node status update failed", "err", err)
		}
		return false
	}
	if wrote {
		*lastReport = a.clk.Now()
	}
	return ready
}
