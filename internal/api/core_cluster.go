package api

import (
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Namespaces and Nodes.

func namespaceStrategy() Strategy {
	return Strategy{
		Default: func(obj runtime.Object) { defaultNamespace(obj.(*corev1.Namespace)) },
		PrepareForCreate: func(obj runtime.Object) {
			ns := obj.(*corev1.Namespace)
			ns.Status = corev1.NamespaceStatus{Phase: corev1.NamespaceActive}
			// The "kubernetes" finalizer holds deletion until the namespace
			// controller has emptied the namespace.
			if !hasFinalizer(ns.Spec.Finalizers, corev1.FinalizerKubernetes) {
				ns.Spec.Finalizers = append(ns.Spec.Finalizers, corev1.FinalizerKubernetes)
			}
			defaultNamespace(ns)
		},
		PrepareForUpdate: func(obj, old runtime.Object) {
			// spec.finalizers changes only through the /finalize
			// subresource, which must bypass this.
			ns, oldNS := obj.(*corev1.Namespace), old.(*corev1.Namespace)
			ns.Spec.Finalizers = oldNS.Spec.Finalizers
			ns.Status = oldNS.Status
			defaultNamespace(ns)
		},
		Validate: func(obj runtime.Object) field.ErrorList { return validateNamespace(obj.(*corev1.Namespace)) },
		ValidateUpdate: func(obj, _ runtime.Object) field.ErrorList {
			return validateNamespace(obj.(*corev1.Namespace))
		},
		Columns: []metav1.TableColumnDefinition{
			nameColumn,
			col("Status", "string", "The status of the namespace"),
			ageColumn,
		},
		Row: func(obj runtime.Object, now time.Time) []interface{} {
			ns := obj.(*corev1.Namespace)
			return []interface{}{ns.Name, string(ns.Status.Phase), TranslateTimestampSince(ns.CreationTimestamp, now)}
		},
		Fields: func(obj runtime.Object) fields.Set {
			return fields.Set{"status.phase": string(obj.(*corev1.Namespace).Status.Phase)}
		},
	}
}

// defaultNamespace labels the namespace with its own name (so namespace
// selectors can pick one namespace) and defaults its phase.
func defaultNamespace(ns *corev1.Namespace) {
	if ns.Name != "" {
		if ns.Labels == nil {
			ns.Labels = map[string]string{}
		}
		ns.Labels[corev1.LabelMetadataName] = ns.Name
	}
	if ns.Status.Phase == "" {
		ns.Status.Phase = corev1.NamespaceActive
	}
}

func hasFinalizer(list []corev1.FinalizerName, f corev1.FinalizerName) bool {
	for _, x := range list {
		if x == f {
			return true
		}
	}
	return false
}

var standardFinalizers = map[string]bool{
	string(corev1.FinalizerKubernetes): true, metav1.FinalizerOrphanDependents: true, metav1.FinalizerDeleteDependents: true,
}

func validateNamespace(ns *corev1.Namespace) field.ErrorList {
	errs := validateClusterMeta(&ns.ObjectMeta, apivalidation.NameIsDNSLabel)
	p := field.NewPath("spec", "finalizers")
	for _, f := range ns.Spec.Finalizers {
		errs = append(errs, validateQualifiedName(string(f), p)...)
		if !strings.Contains(string(f), "/") && !standardFinalizers[string(f)] {
			errs = append(errs, field.Invalid(p, f, "name is neither a standard finalizer name nor is it fully qualified"))
		}
	}
	return errs
}

func nodeStrategy() Strategy {
	return Strategy{
		Default: func(obj runtime.Object) {
			n := obj.(*corev1.Node)
			// Until the kubelet reports allocatable, assume all of it.
			if n.Status.Allocatable == nil && n.Status.Capacity != nil {
				n.Status.Allocatable = n.Status.Capacity.DeepCopy()
			}
		},
		Validate: func(obj runtime.Object) field.ErrorList { return validateNode(obj.(*corev1.Node)) },
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
			return validateNodeUpdate(obj.(*corev1.Node), old.(*corev1.Node))
		},
		Columns: nodeColumns,
		Row:     func(obj runtime.Object, now time.Time) []interface{} { return nodeRow(obj.(*corev1.Node), now) },
		Fields: func(obj runtime.Object) fields.Set {
			return fields.Set{"spec.unschedulable": strconv.FormatBool(obj.(*corev1.Node).Spec.Unschedulable)}
		},
	}
}

func validateNode(n *corev1.Node) field.ErrorList {
	errs := validateClusterMeta(&n.ObjectMeta, apivalidation.NameIsDNSSubdomain)
	spec := field.NewPath("spec")
	errs = append(errs, validateTaints(n.Spec.Taints, spec.Child("taints"))...)
	if n.Spec.PodCIDR != "" {
		errs = append(errs, validateCIDR(n.Spec.PodCIDR, spec.Child("podCIDR"))...)
	}
	for i, c := range n.Spec.PodCIDRs {
		errs = append(errs, validateCIDR(c, spec.Child("podCIDRs").Index(i))...)
	}
	if len(n.Spec.PodCIDRs) > 0 && n.Spec.PodCIDR != n.Spec.PodCIDRs[0] {
		errs = append(errs, field.Invalid(spec.Child("podCIDRs"), n.Spec.PodCIDRs, "first value must match `podCIDR`"))
	}
	if len(n.Spec.PodCIDRs) > 2 {
		errs = append(errs, field.Invalid(spec.Child("podCIDRs"), n.Spec.PodCIDRs, "may contain at most 1 CIDR for each IP family"))
	}
	for _, name := range sortedResourceNames(n.Status.Capacity) {
		errs = append(errs, validateQuantity(name, n.Status.Capacity[name], field.NewPath("status", "capacity").Key(string(name)))...)
	}
	for _, name := range sortedResourceNames(n.Status.Allocatable) {
		errs = append(errs, validateQuantity(name, n.Status.Allocatable[name], field.NewPath("status", "allocatable").Key(string(name)))...)
	}
	return errs
}

// validateNodeUpdate: the pod CIDRs and provider ID are assigned once (by
// the node IPAM and the cloud) and then fixed.
func validateNodeUpdate(n, old *corev1.Node) field.ErrorList {
	errs := validateNode(n)
	spec := field.NewPath("spec")
	if len(old.Spec.PodCIDRs) > 0 {
		if len(n.Spec.PodCIDRs) != len(old.Spec.PodCIDRs) {
			errs = append(errs, field.Forbidden(spec.Child("podCIDRs"), "node updates may not change podCIDR except from \"\" to valid"))
		} else {
			for i := range old.Spec.PodCIDRs {
				if old.Spec.PodCIDRs[i] != n.Spec.PodCIDRs[i] {
					errs = append(errs, field.Forbidden(spec.Child("podCIDRs"), "node updates may not change podCIDR except from \"\" to valid"))
					break
				}
			}
		}
	}
	if old.Spec.ProviderID != "" && old.Spec.ProviderID != n.Spec.ProviderID {
		errs = append(errs, field.Forbidden(spec.Child("providerID"), "node updates may not change providerID except from \"\" to valid"))
	}
	return errs
}

func validateCIDR(c string, fld *field.Path) field.ErrorList {
	if _, _, err := net.ParseCIDR(c); err != nil {
		return field.ErrorList{field.Invalid(fld, c, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)")}
	}
	return nil
}

var (
	nodeInfoDoc   = corev1.NodeSystemInfo{}.SwaggerDoc()
	nodeStatusDoc = corev1.NodeStatus{}.SwaggerDoc()
	nodeColumns   = []metav1.TableColumnDefinition{
		nameColumn,
		col("Status", "string", "The status of the node"),
		col("Roles", "string", "The roles of the node"),
		ageColumn,
		col("Version", "string", nodeInfoDoc["kubeletVersion"]),
		wideCol("Internal-IP", "string", nodeStatusDoc["addresses"]),
		wideCol("External-IP", "string", nodeStatusDoc["addresses"]),
		wideCol("OS-Image", "string", nodeInfoDoc["osImage"]),
		wideCol("Kernel-Version", "string", nodeInfoDoc["kernelVersion"]),
		wideCol("Container-Runtime", "string", nodeInfoDoc["containerRuntimeVersion"]),
	}
)

const (
	nodeRoleLabelPrefix = "node-role.kubernetes.io/"
	nodeRoleLabel       = "kubernetes.io/role" // older, single-role form
)

// nodeRow: STATUS is Ready/NotReady/Unknown from the Ready condition, plus
// SchedulingDisabled when cordoned; ROLES come from role labels.
func nodeRow(n *corev1.Node, now time.Time) []interface{} {
	var status []string
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			if c.Status == corev1.ConditionTrue {
				status = []string{"Ready"}
			} else {
				status = []string{"NotReady"}
			}
		}
	}
	if len(status) == 0 {
		status = []string{"Unknown"}
	}
	if n.Spec.Unschedulable {
		status = append(status, "SchedulingDisabled")
	}
	roleSet := map[string]bool{}
	for k, v := range n.Labels {
		switch {
		case strings.HasPrefix(k, nodeRoleLabelPrefix):
			if r := strings.TrimPrefix(k, nodeRoleLabelPrefix); r != "" {
				roleSet[r] = true
			}
		case k == nodeRoleLabel && v != "":
			roleSet[v] = true
		}
	}
	roles := make([]string, 0, len(roleSet))
	for r := range roleSet {
		roles = append(roles, r)
	}
	sort.Strings(roles)
	unknown := func(s string) string {
		if s == "" {
			return "<unknown>"
		}
		return s
	}
	info := n.Status.NodeInfo
	return []interface{}{
		n.Name, strings.Join(status, ","), orNone(strings.Join(roles, ",")), TranslateTimestampSince(n.CreationTimestamp, now),
		info.KubeletVersion, nodeAddress(n, corev1.NodeInternalIP), nodeAddress(n, corev1.NodeExternalIP),
		unknown(info.OSImage), unknown(info.KernelVersion), unknown(info.ContainerRuntimeVersion),
	}
}

func nodeAddress(n *corev1.Node, t corev1.NodeAddressType) string {
	for _, a := range n.Status.Addresses {
		if a.Type == t {
			return a.Address
		}
	}
	return "<none>"
}
