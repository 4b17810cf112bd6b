// Package v1 is version v1 of Gureum's networking.gureum.io API group: VPCs
// and the subnets pods draw their addresses from.
//
// A VPC owns an IPv4 address range and the namespaces of one team (chosen by
// a label selector). Subnets carve the VPC's range into smaller blocks, each
// optionally tied to a zone or a single node. Traffic between VPCs is
// dropped unless both sides list each other as peers, and traffic leaving
// the cluster needs the VPC's NAT gateway.
//
// +k8s:deepcopy-gen=package
// +k8s:openapi-gen=true
// +groupName=networking.gureum.io
package v1
