package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Condition types and reasons reported in VPC and Subnet status.
const (
	// ConditionReady is true when the network has programmed the VPC or
	// subnet on every node that needs it.
	ConditionReady = "Ready"
)

// VPCLabel is set on every Subnet to the name of its VPC, so that
// `kubectl get subnets -l networking.gureum.io/vpc=NAME` lists a VPC's
// subnets.
const VPCLabel = GroupName + "/vpc"

// +genclient
// +genclient:nonNamespaced
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// VPC is a private network for one team's workloads, like an AWS VPC. It owns
// an IPv4 address range and a set of namespaces. Pods in those namespaces get
// their addresses from the VPC's subnets, can reach each other freely, and
// cannot reach pods in other VPCs unless the two VPCs are peered. VPCs are
// cluster-scoped.
type VPC struct {
	metav1.TypeMeta `json:",inline"`
	// Standard object's metadata. The name must be a DNS-1123 label (at most
	// 63 lowercase letters, digits and '-').
	// More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired network: address range, member namespaces,
	// peerings and egress.
	// +optional
	Spec VPCSpec `json:"spec,omitempty"`

	// status is what the network controller has observed and programmed.
	// It is written by Gureum, not by users.
	// +optional
	Status VPCStatus `json:"status,omitempty"`
}

// VPCSpec is the desired state of a VPC.
type VPCSpec struct {
	// cidrBlock is the VPC's IPv4 address range in CIDR notation, for
	// example "10.100.0.0/16". The address must be the network address of the
	// range, and the prefix length must be between /8 and /28. Every subnet
	// of the VPC takes its range from inside this block. Ranges of different
	// VPCs should not overlap if the VPCs are to be peered. Immutable.
	// +required
	CIDRBlock string `json:"cidrBlock"`

	// namespaceSelector chooses the namespaces that belong to this VPC, by
	// their labels, in the same way a NetworkPolicy chooses namespaces. For
	// example `matchLabels: {team: payments}` binds every namespace labelled
	// team=payments, including ones created later. To name namespaces
	// explicitly, match the label every namespace carries:
	// `matchExpressions: [{key: kubernetes.io/metadata.name, operator: In,
	// values: [shop, shop-staging]}]`. An empty selector ({}) selects every
	// namespace; leaving the field unset selects none. A namespace should be
	// selected by at most one VPC.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`

	// peerings names other VPCs whose pods may exchange traffic with this
	// VPC's pods. Like an accepted AWS peering connection, a peering takes
	// effect only when both VPCs list each other, so one team cannot open a
	// path into another team's network on its own. A VPC may not list itself.
	// +optional
	// +listType=set
	Peerings []string `json:"peerings,omitempty"`

	// enableNATGateway gives the VPC's pods outbound access to addresses
	// outside the cluster, translated to the address of the node they run
	// on, like an AWS NAT gateway for private subnets. When false (the
	// default), traffic from the VPC's pods to outside the cluster is
	// dropped.
	// +optional
	EnableNATGateway bool `json:"enableNATGateway,omitempty"`
}

// VPCStatus is the observed state of a VPC.
type VPCStatus struct {
	// observedGeneration is the metadata.generation of the VPC that this
	// status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// subnetCount is the number of subnets that belong to this VPC.
	// +optional
	SubnetCount int32 `json:"subnetCount,omitempty"`

	// conditions describe the VPC's state. The "Ready" condition is true
	// when the VPC is programmed on every node.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchMergeKey=type
	// +patchStrategy=merge
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// VPCList is a list of VPCs.
type VPCList struct {
	metav1.TypeMeta `json:",inline"`
	// Standard list metadata.
	// More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`

	// items is the list of VPCs.
	Items []VPC `json:"items"`
}

// +genclient
// +genclient:nonNamespaced
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// Subnet is a block of a VPC's address range that pods draw their IP
// addresses from, like an AWS subnet. A subnet can be limited to one zone or
// one node and to some of the VPC's namespaces. A pod gets its address from a
// subnet of its namespace's VPC that lists the pod's namespace (or, when
// none does, one that lists no namespaces) and whose zone and node, if set,
// match the pod's node. Subnets are cluster-scoped and carry the label
// networking.gureum.io/vpc=<vpcName>.
type Subnet struct {
	metav1.TypeMeta `json:",inline"`
	// Standard object's metadata. The name must be a DNS-1123 label (at most
	// 63 lowercase letters, digits and '-').
	// More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired subnet: its VPC, address range and placement.
	// +optional
	Spec SubnetSpec `json:"spec,omitempty"`

	// status reports how many addresses are in use. It is written by Gureum,
	// not by users.
	// +optional
	Status SubnetStatus `json:"status,omitempty"`
}

// SubnetSpec is the desired state of a Subnet.
type SubnetSpec struct {
	// vpcName is the name of the VPC this subnet belongs to. Immutable.
	// +required
	VPCName string `json:"vpcName"`

	// cidrBlock is the subnet's IPv4 address range in CIDR notation, for
	// example "10.100.1.0/24". The address must be the network address of the
	// range, the prefix length must be between /8 and /28, and the range must
	// lie inside the VPC's cidrBlock without overlapping the VPC's other
	// subnets. Immutable.
	// +required
	CIDRBlock string `json:"cidrBlock"`

	// zone limits the subnet to nodes whose topology.kubernetes.io/zone
	// label has this value, like an AWS subnet's availability zone. Empty
	// means any zone.
	// +optional
	Zone string `json:"zone,omitempty"`

	// nodeName limits the subnet to pods running on the named node. Empty
	// means any node.
	// +optional
	NodeName string `json:"nodeName,omitempty"`

	// namespaces lists the namespaces whose pods draw addresses from this
	// subnet. Each must belong to the subnet's VPC. Empty means the subnet
	// serves any namespace of the VPC that no other subnet names.
	// +optional
	// +listType=set
	Namespaces []string `json:"namespaces,omitempty"`
}

// SubnetStatus is the observed state of a Subnet.
type SubnetStatus struct {
	// observedGeneration is the metadata.generation of the subnet that this
	// status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// availableIPs is the number of addresses in the subnet that are free to
	// give to new pods. Addresses the network reserves, such as the network,
	// gateway and broadcast addresses, are not counted.
	// +optional
	AvailableIPs int32 `json:"availableIPs,omitempty"`

	// usedIPs is the number of addresses currently assigned to pods.
	// +optional
	UsedIPs int32 `json:"usedIPs,omitempty"`

	// conditions describe the subnet's state. The "Ready" condition is true
	// when the subnet is programmed on every node that uses it.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchMergeKey=type
	// +patchStrategy=merge
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// SubnetList is a list of Subnets.
type SubnetList struct {
	metav1.TypeMeta `json:",inline"`
	// Standard list metadata.
	// More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`

	// items is the list of Subnets.
	Items []Subnet `json:"items"`
}
