package simulate

import (
	"crypto/sha256"
	"encoding/hex"
	"net"
	"runtime"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

const (
	// LabelSimulated marks nodes this package registers, so users can
	// select (and delete) them: kubectl delete nodes -l node.gureum.io/simulated=true
	LabelSimulated = "node.gureum.io/simulated"
	// LeaseNamespace is where node heartbeats live, as in Kubernetes.
	LeaseNamespace = corev1.NamespaceNodeLease
	// KubeletVersion is what simulated nodes claim to run: the Kubernetes
	// version Gureum is compatible with.
	KubeletVersion = "v1.33.13"

	readyReason   = "KubeletReady"
	readyMessage  = "kubelet is posting ready status"
	kubeletPort   = 10250
	ephemeralDisk = "100Gi"
)

// nodeResources is what each simulated node offers.
type nodeResources struct {
	cpu, memory, pods, storage resource.Quantity
}

// newNode builds the Node object a simulated node registers with; the
// status is complete because nodes keep their status on create.
func newNode(name string, ip net.IP, res nodeResources, now metav1.Time) *corev1.Node {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:              res.cpu,
		corev1.ResourceMemory:           res.memory,
		corev1.ResourcePods:             res.pods,
		corev1.ResourceEphemeralStorage: res.storage,
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:   name,
			Labels: nodeLabels(name),
			Annotations: map[string]string{
				"node.alpha.kubernetes.io/ttl": "0",
			},
		},
		Status: nodeStatus(name, ip, capacity, now),
	}
}

func nodeLabels(name string) map[string]string {
	return map[string]string{
		corev1.LabelHostname:      name,
		corev1.LabelOSStable:      "linux",
		corev1.LabelArchStable:    runtime.GOARCH,
		"beta.kubernetes.io/os":   "linux",
		"beta.kubernetes.io/arch": runtime.GOARCH,
		LabelSimulated:            "true",
	}
}

func nodeStatus(name string, ip net.IP, capacity corev1.ResourceList, now metav1.Time) corev1.NodeStatus {
	id := shortHash(name)
	return corev1.NodeStatus{
		Capacity:    capacity,
		Allocatable: capacity.DeepCopy(),
		Phase:       corev1.NodeRunning,
		Conditions:  healthyConditions(nil, now),
		Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: ip.String()},
			{Type: corev1.NodeHostName, Address: name},
		},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: kubeletPort}},
		NodeInfo: corev1.NodeSystemInfo{
			MachineID:               id,
			SystemUUID:              id,
			BootID:                  id,
			KernelVersion:           "simulated",
			OSImage:                 "Gureum simulated node",
			ContainerRuntimeVersion: "sim://" + KubeletVersion,
			KubeletVersion:          KubeletVersion,
			KubeProxyVersion:        KubeletVersion,
			OperatingSystem:         "linux",
			Architecture:            runtime.GOARCH,
		},
	}
}

// healthyConditions is what a healthy kubelet reports, keeping each
// condition's transition time when its status did not change.
func healthyConditions(current []corev1.NodeCondition, now metav1.Time) []corev1.NodeCondition {
	want := []corev1.NodeCondition{
		{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientMemory", Message: "kubelet has sufficient memory available"},
		{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasNoDiskPressure", Message: "kubelet has no disk pressure"},
		{Type: corev1.NodePIDPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientPID", Message: "kubelet has sufficient PID available"},
		{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: readyReason, Message: readyMessage},
	}
	for i := range want {
		want[i].LastHeartbeatTime = now
		want[i].LastTransitionTime = now
		for _, c := range current {
			if c.Type == want[i].Type && c.Status == want[i].Status && !c.LastTransitionTime.IsZero() {
				want[i].LastTransitionTime = c.LastTransitionTime
			}
		}
	}
	return want
}

// nodeIsHealthy reports whether the node's stored conditions already say
// what a healthy kubelet says (so only the periodic heartbeat is due).
func nodeIsHealthy(conds []corev1.NodeCondition) bool {
	want := map[corev1.NodeConditionType]corev1.ConditionStatus{
		corev1.NodeReady:          corev1.ConditionTrue,
		corev1.NodeMemoryPressure: corev1.ConditionFalse,
		corev1.NodeDiskPressure:   corev1.ConditionFalse,
		corev1.NodePIDPressure:    corev1.ConditionFalse,
	}
	seen := 0
	for _, c := range conds {
		if s, ok := want[c.Type]; ok {
			if c.Status != s {
				return false
			}
			seen++
		}
	}
	return seen == len(want)
}

func newLease(name string, nodeUID types.UID, durationSeconds int32, now metav1.MicroTime) *coordinationv1.Lease {
	l := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: LeaseNamespace},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity:       &name,
			LeaseDurationSeconds: &durationSeconds,
			RenewTime:            &now,
		},
	}
	if nodeUID != "" {
		// As the kubelet does: the lease goes away with its node.
		l.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: name, UID: nodeUID}}
	}
	return l
}

func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:16])
}
