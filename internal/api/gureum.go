package api

// Gureum's own API groups: networking.gureum.io/v1 (VPC, Subnet).
//
// What needs I/O is left to the admission layer: that a subnet's cidrBlock
// lies inside its VPC's cidrBlock and overlaps no other subnet of the VPC,
// that vpcName names an existing VPC, that a subnet's namespaces belong to
// its VPC, and that a namespace is selected by at most one VPC.

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	networkingv1 "github.com/gureum/gureum/pkg/apis/networking/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// categoryGureum groups Gureum's own resources: `kubectl get gureum`.
const categoryGureum = "gureum"

func gureumResources() []*Resource {
	gv := networkingv1.SchemeGroupVersion
	return []*Resource{
		{GroupVersionResource: gv.WithResource("vpcs"), Kind: "VPC", Singular: "vpc",
			Categories: []string{categoryGureum}, Subresources: []Subresource{status()},
			Strategy: vpcStrategy()},
		{GroupVersionResource: gv.WithResource("subnets"), Kind: "Subnet", Singular: "subnet", ShortNames: []string{"sn"},
			Categories: []string{categoryGureum}, Subresources: []Subresource{status()},
			Strategy: subnetStrategy()},
	}
}

// CIDR prefix lengths a VPC or subnet may have: /8 is the largest private
// block (10.0.0.0/8); /28 leaves a handful of usable addresses, as in AWS.
const (
	minCIDRPrefix = 8
	maxCIDRPrefix = 28
)

func vpcStrategy() Strategy {
	return Strategy{
		Validate: func(obj runtime.Object) field.ErrorList {
			return validateVPC(obj.(*networkingv1.VPC))
		},
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
			vpc, oldVPC := obj.(*networkingv1.VPC), old.(*networkingv1.VPC)
			errs := validateVPC(vpc)
			errs = append(errs, apivalidation.ValidateImmutableField(vpc.Spec.CIDRBlock, oldVPC.Spec.CIDRBlock,
				field.NewPath("spec", "cidrBlock"))...)
			return errs
		},
		Columns: []metav1.TableColumnDefinition{
			{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
			{Name: "CIDR", Type: "string", Description: "The VPC's IPv4 address range."},
			{Name: "Subnets", Type: "integer", Description: "Number of subnets in the VPC."},
			{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
			{Name: "NAT", Type: "boolean", Priority: 1, Description: "Whether pods may reach addresses outside the cluster."},
			{Name: "Peerings", Type: "string", Priority: 1, Description: "VPCs this VPC is peered with."},
		},
		Row: func(obj runtime.Object, now time.Time) []interface{} {
			vpc := obj.(*networkingv1.VPC)
			return []interface{}{vpc.Name, vpc.Spec.CIDRBlock, int64(vpc.Status.SubnetCount),
				gureumAge(vpc.CreationTimestamp, now), vpc.Spec.EnableNATGateway, joinOrNone(vpc.Spec.Peerings)}
		},
	}
}

func subnetStrategy() Strategy {
	return Strategy{
		Default: func(obj runtime.Object) {
			defaultSubnet(obj.(*networkingv1.Subnet))
		},
		Validate: func(obj runtime.Object) field.ErrorList {
			return validateSubnet(obj.(*networkingv1.Subnet))
		},
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
			sn, oldSN := obj.(*networkingv1.Subnet), old.(*networkingv1.Subnet)
			errs := validateSubnet(sn)
			spec := field.NewPath("spec")
			errs = append(errs, apivalidation.ValidateImmutableField(sn.Spec.VPCName, oldSN.Spec.VPCName, spec.Child("vpcName"))...)
			errs = append(errs, apivalidation.ValidateImmutableField(sn.Spec.CIDRBlock, oldSN.Spec.CIDRBlock, spec.Child("cidrBlock"))...)
			return errs
		},
		Columns: []metav1.TableColumnDefinition{
			{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
			{Name: "VPC", Type: "string", Description: "The VPC the subnet belongs to."},
			{Name: "CIDR", Type: "string", Description: "The subnet's IPv4 address range."},
			{Name: "Available", Type: "integer", Description: "Addresses free for new pods."},
			{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
			{Name: "Used", Type: "integer", Priority: 1, Description: "Addresses assigned to pods."},
			{Name: "Zone", Type: "string", Priority: 1, Description: "Zone the subnet is limited to."},
			{Name: "Node", Type: "string", Priority: 1, Description: "Node the subnet is limited to."},
		},
		Row: func(obj runtime.Object, now time.Time) []interface{} {
			sn := obj.(*networkingv1.Subnet)
			return []interface{}{sn.Name, sn.Spec.VPCName, sn.Spec.CIDRBlock, int64(sn.Status.AvailableIPs),
				gureumAge(sn.CreationTimestamp, now), int64(sn.Status.UsedIPs),
				gureumOrNone(sn.Spec.Zone), gureumOrNone(sn.Spec.NodeName)}
		},
		Fields: func(obj runtime.Object) fields.Set {
			sn := obj.(*networkingv1.Subnet)
			return fields.Set{
				"spec.vpcName":  sn.Spec.VPCName,
				"spec.zone":     sn.Spec.Zone,
				"spec.nodeName": sn.Spec.NodeName,
			}
		},
	}
}

// defaultSubnet labels a subnet with its VPC, as Kubernetes labels every
// namespace with kubernetes.io/metadata.name: the label always follows
// spec.vpcName (which is immutable), whatever the client sent.
func defaultSubnet(sn *networkingv1.Subnet) {
	if len(validation.IsDNS1123Label(sn.Spec.VPCName)) != 0 {
		return // validation reports it; a label error on top would only confuse
	}
	if sn.Labels == nil {
		sn.Labels = map[string]string{}
	}
	sn.Labels[networkingv1.VPCLabel] = sn.Spec.VPCName
}

func validateVPC(vpc *networkingv1.VPC) field.ErrorList {
	errs := apivalidation.ValidateObjectMeta(&vpc.ObjectMeta, false, apivalidation.NameIsDNSLabel, field.NewPath("metadata"))
	spec := field.NewPath("spec")
	errs = append(errs, validateIPv4CIDR(vpc.Spec.CIDRBlock, spec.Child("cidrBlock"))...)
	errs = append(errs, metav1validation.ValidateLabelSelector(vpc.Spec.NamespaceSelector,
		metav1validation.LabelSelectorValidationOptions{}, spec.Child("namespaceSelector"))...)
	errs = append(errs, validateNameSet(vpc.Spec.Peerings, spec.Child("peerings"), func(i int, name string) field.ErrorList {
		if vpc.Name != "" && name == vpc.Name {
			return field.ErrorList{field.Invalid(spec.Child("peerings").Index(i), name, "a VPC cannot peer with itself")}
		}
		return nil
	})...)

	st := field.NewPath("status")
	errs = append(errs, apivalidation.ValidateNonnegativeField(vpc.Status.ObservedGeneration, st.Child("observedGeneration"))...)
	errs = append(errs, apivalidation.ValidateNonnegativeField(int64(vpc.Status.SubnetCount), st.Child("subnetCount"))...)
	errs = append(errs, metav1validation.ValidateConditions(vpc.Status.Conditions, st.Child("conditions"))...)
	return errs
}

func validateSubnet(sn *networkingv1.Subnet) field.ErrorList {
	errs := apivalidation.ValidateObjectMeta(&sn.ObjectMeta, false, apivalidation.NameIsDNSLabel, field.NewPath("metadata"))
	spec := field.NewPath("spec")
	if sn.Spec.VPCName == "" {
		errs = append(errs, field.Required(spec.Child("vpcName"), "the name of the VPC the subnet belongs to"))
	} else {
		for _, msg := range validation.IsDNS1123Label(sn.Spec.VPCName) {
			errs = append(errs, field.Invalid(spec.Child("vpcName"), sn.Spec.VPCName, msg))
		}
	}
	// That the block lies inside the VPC's block needs the VPC: admission checks it.
	errs = append(errs, validateIPv4CIDR(sn.Spec.CIDRBlock, spec.Child("cidrBlock"))...)
	if sn.Spec.Zone != "" {
		for _, msg := range validation.IsValidLabelValue(sn.Spec.Zone) {
			errs = append(errs, field.Invalid(spec.Child("zone"), sn.Spec.Zone, msg))
		}
	}
	if sn.Spec.NodeName != "" {
		for _, msg := range validation.IsDNS1123Subdomain(sn.Spec.NodeName) {
			errs = append(errs, field.Invalid(spec.Child("nodeName"), sn.Spec.NodeName, msg))
		}
	}
	errs = append(errs, validateNameSet(sn.Spec.Namespaces, spec.Child("namespaces"), nil)...)

	st := field.NewPath("status")
	errs = append(errs, apivalidation.ValidateNonnegativeField(sn.Status.ObservedGeneration, st.Child("observedGeneration"))...)
	errs = append(errs, apivalidation.ValidateNonnegativeField(int64(sn.Status.AvailableIPs), st.Child("availableIPs"))...)
	errs = append(errs, apivalidation.ValidateNonnegativeField(int64(sn.Status.UsedIPs), st.Child("usedIPs"))...)
	errs = append(errs, metav1validation.ValidateConditions(sn.Status.Conditions, st.Child("conditions"))...)
	return errs
}

// validateIPv4CIDR checks an IPv4 network in CIDR notation whose address is
// the network address and whose prefix is between /8 and /28.
func validateIPv4CIDR(s string, fld *field.Path) field.ErrorList {
	if s == "" {
		return field.ErrorList{field.Required(fld, "an IPv4 CIDR block such as 10.100.0.0/16")}
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return field.ErrorList{field.Invalid(fld, s, "must be an IPv4 CIDR block such as 10.100.0.0/16")}
	}
	if p.Bits() < minCIDRPrefix || p.Bits() > maxCIDRPrefix {
		return field.ErrorList{field.Invalid(fld, s,
			fmt.Sprintf("prefix length must be between /%d and /%d", minCIDRPrefix, maxCIDRPrefix))}
	}
	if m := p.Masked(); m != p {
		return field.ErrorList{field.Invalid(fld, s,
			fmt.Sprintf("must be the network address of the block (%s)", m))}
	}
	return nil
}

// validateNameSet checks a list of DNS-1123 label names without duplicates;
// extra, if set, adds checks for one entry.
func validateNameSet(names []string, fld *field.Path, extra func(i int, name string) field.ErrorList) field.ErrorList {
	var errs field.ErrorList
	seen := sets.New[string]()
	for i, name := range names {
		idx := fld.Index(i)
		for _, msg := range validation.IsDNS1123Label(name) {
			errs = append(errs, field.Invalid(idx, name, msg))
		}
		if seen.Has(name) {
			errs = append(errs, field.Duplicate(idx, name))
		}
		seen.Insert(name)
		if extra != nil {
			errs = append(errs, extra(i, name)...)
		}
	}
	return errs
}

// gureumAge is the AGE cell, as kubectl prints it.
func gureumAge(created metav1.Time, now time.Time) string {
	if created.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(created.Time))
}

func gureumOrNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

func joinOrNone(ss []string) string {
	return gureumOrNone(strings.Join(ss, ","))
}
