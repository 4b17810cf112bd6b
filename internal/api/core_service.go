package api

import (
	"fmt"
	"net"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// NodePortRange is the range nodePorts must fall in, inclusive. The server
// may change it to match its --service-node-port-range; IP and port
// allocation themselves are the server's job.
var NodePortRange = [2]int32{30000, 32767}

// kubeletPort may not be exposed by a LoadBalancer: some clouds open
// firewalls too widely.
const kubeletPort = 10250

// maxClientIPServiceAffinitySeconds caps sessionAffinityConfig (one day).
const maxClientIPServiceAffinitySeconds = 86400

func serviceStrategy() Strategy {
	return Strategy{
		Default:          func(obj runtime.Object) { defaultService(obj.(*corev1.Service)) },
		PrepareForCreate: func(obj runtime.Object) { prepareServiceForCreate(obj.(*corev1.Service)) },
		PrepareForUpdate: func(obj, old runtime.Object) {
			prepareServiceForUpdate(obj.(*corev1.Service), old.(*corev1.Service))
		},
		Validate: func(obj runtime.Object) field.ErrorList { return validateService(obj.(*corev1.Service)) },
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
			return validateServiceUpdate(obj.(*corev1.Service), old.(*corev1.Service))
		},
		Columns: serviceColumns,
		Row:     func(obj runtime.Object, now time.Time) []interface{} { return serviceRow(obj.(*corev1.Service), now) },
		Fields: func(obj runtime.Object) fields.Set {
			s := obj.(*corev1.Service)
			return fields.Set{"spec.clusterIP": s.Spec.ClusterIP, "spec.type": string(s.Spec.Type)}
		},
	}
}

// externallyAccessible services take traffic from outside the cluster and
// so have an externalTrafficPolicy.
func externallyAccessible(s *corev1.Service) bool {
	return s.Spec.Type == corev1.ServiceTypeLoadBalancer || s.Spec.Type == corev1.ServiceTypeNodePort ||
		(s.Spec.Type == corev1.ServiceTypeClusterIP && len(s.Spec.ExternalIPs) > 0)
}

func needsClusterIP(s *corev1.Service) bool { return s.Spec.Type != corev1.ServiceTypeExternalName }

func needsNodePorts(s *corev1.Service) bool {
	if s.Spec.Type == corev1.ServiceTypeNodePort {
		return true
	}
	return s.Spec.Type == corev1.ServiceTypeLoadBalancer &&
		(s.Spec.AllocateLoadBalancerNodePorts == nil || *s.Spec.AllocateLoadBalancerNodePorts)
}

func needsHealthCheckNodePort(s *corev1.Service) bool {
	return s.Spec.Type == corev1.ServiceTypeLoadBalancer && s.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
}

func isHeadless(s *corev1.Service) bool {
	return len(s.Spec.ClusterIPs) == 1 && s.Spec.ClusterIPs[0] == corev1.ClusterIPNone
}

func defaultService(s *corev1.Service) {
	if s.Spec.SessionAffinity == "" {
		s.Spec.SessionAffinity = corev1.ServiceAffinityNone
	}
	if s.Spec.SessionAffinity == corev1.ServiceAffinityClientIP {
		if s.Spec.SessionAffinityConfig == nil {
			s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{}
		}
		if s.Spec.SessionAffinityConfig.ClientIP == nil {
			s.Spec.SessionAffinityConfig.ClientIP = &corev1.ClientIPConfig{}
		}
		if s.Spec.SessionAffinityConfig.ClientIP.TimeoutSeconds == nil {
			t := corev1.DefaultClientIPServiceAffinitySeconds
			s.Spec.SessionAffinityConfig.ClientIP.TimeoutSeconds = &t
		}
	}
	if s.Spec.Type == "" {
		s.Spec.Type = corev1.ServiceTypeClusterIP
	}
	for i := range s.Spec.Ports {
		p := &s.Spec.Ports[i]
		if p.Protocol == "" {
			p.Protocol = corev1.ProtocolTCP
		}
		if p.TargetPort == intstr.FromInt32(0) || p.TargetPort == intstr.FromString("") {
			p.TargetPort = intstr.FromInt32(p.Port)
		}
	}
	if externallyAccessible(s) && s.Spec.ExternalTrafficPolicy == "" {
		s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
	}
	if s.Spec.Type != corev1.ServiceTypeExternalName && s.Spec.InternalTrafficPolicy == nil {
		p := corev1.ServiceInternalTrafficPolicyCluster
		s.Spec.InternalTrafficPolicy = &p
	}
	if s.Spec.Type == corev1.ServiceTypeLoadBalancer && s.Spec.AllocateLoadBalancerNodePorts == nil {
		t := true
		s.Spec.AllocateLoadBalancerNodePorts = &t
	}
}

func prepareServiceForCreate(s *corev1.Service) {
	// The server may run this before Default; the IP family rules need the
	// defaulted type. Defaulting twice is harmless.
	defaultService(s)
	// Old clients set only clusterIP; mirror it into clusterIPs.
	if s.Spec.ClusterIP != "" && len(s.Spec.ClusterIPs) == 0 {
		s.Spec.ClusterIPs = []string{s.Spec.ClusterIP}
	}
	defaultIPFamilies(s)
}

// defaultIPFamilies fills ipFamilyPolicy and ipFamilies for a single-stack
// cluster. It lives here rather than in Default because on update omitted
// values must come from the old object, not from defaults.
func defaultIPFamilies(s *corev1.Service) {
	if !needsClusterIP(s) {
		return
	}
	if s.Spec.IPFamilyPolicy == nil {
		p := corev1.IPFamilyPolicySingleStack
		// Headless services without a selector get both families where
		// the cluster has them; the policy says so even on one family.
		if isHeadless(s) && len(s.Spec.Selector) == 0 {
			p = corev1.IPFamilyPolicyRequireDualStack
		}
		s.Spec.IPFamilyPolicy = &p
	}
	if len(s.Spec.IPFamilies) == 0 {
		for _, ip := range s.Spec.ClusterIPs {
			if parsed := net.ParseIP(ip); parsed != nil {
				s.Spec.IPFamilies = append(s.Spec.IPFamilies, ipFamilyOf(parsed))
			}
		}
		if len(s.Spec.IPFamilies) == 0 {
			s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
		}
	}
}

func ipFamilyOf(ip net.IP) corev1.IPFamily {
	if ip.To4() != nil {
		return corev1.IPv4Protocol
	}
	return corev1.IPv6Protocol
}

// prepareServiceForUpdate keeps allocated values (cluster IPs, node ports,
// health check port, IP families) that a client omitted, and wipes values
// that no longer apply after a type change.
func prepareServiceForUpdate(s, old *corev1.Service) {
	defaultService(s)
	if needsClusterIP(old) && needsClusterIP(s) {
		if s.Spec.ClusterIP == "" && len(s.Spec.ClusterIPs) == 0 {
			s.Spec.ClusterIP = old.Spec.ClusterIP
			s.Spec.ClusterIPs = old.Spec.ClusterIPs
		}
		// A client that only knows clusterIP kept it but dropped clusterIPs.
		if len(s.Spec.ClusterIPs) == 0 && s.Spec.ClusterIP == old.Spec.ClusterIP {
			s.Spec.ClusterIPs = old.Spec.ClusterIPs
		}
		if s.Spec.ClusterIP != "" && len(s.Spec.ClusterIPs) == 0 {
			s.Spec.ClusterIPs = []string{s.Spec.ClusterIP}
		}
		if s.Spec.IPFamilyPolicy == nil {
			s.Spec.IPFamilyPolicy = old.Spec.IPFamilyPolicy
		}
		if len(s.Spec.IPFamilies) == 0 {
			s.Spec.IPFamilies = old.Spec.IPFamilies
		}
	}
	if needsNodePorts(old) && needsNodePorts(s) {
		// Match omitted nodePorts to the old port of the same name, unless
		// another port of the new object already uses that number.
		used := map[int32]bool{}
		for _, p := range s.Spec.Ports {
			if p.NodePort != 0 {
				used[p.NodePort] = true
			}
		}
		byName := map[string]int32{}
		for _, p := range old.Spec.Ports {
			byName[p.Name] = p.NodePort
		}
		for i := range s.Spec.Ports {
			p := &s.Spec.Ports[i]
			if p.NodePort == 0 && !used[byName[p.Name]] {
				p.NodePort = byName[p.Name]
				used[p.NodePort] = true
			}
		}
	}
	if needsHealthCheckNodePort(old) && needsHealthCheckNodePort(s) && s.Spec.HealthCheckNodePort == 0 {
		s.Spec.HealthCheckNodePort = old.Spec.HealthCheckNodePort
	}
	dropTypeDependentFields(s, old)
	defaultIPFamilies(s)
}

// dropTypeDependentFields wipes what the new type does not use, as long as
// the client did not change it (a changed value is the client's intent, and
// validation will judge it).
func dropTypeDependentFields(s, old *corev1.Service) {
	if needsClusterIP(old) && !needsClusterIP(s) {
		if s.Spec.ClusterIP == old.Spec.ClusterIP && stringsEqual(s.Spec.ClusterIPs, old.Spec.ClusterIPs) {
			s.Spec.ClusterIP = ""
			s.Spec.ClusterIPs = nil
		}
		if familiesEqual(s.Spec.IPFamilies, old.Spec.IPFamilies) {
			s.Spec.IPFamilies = nil
		}
		if ptrEqual(s.Spec.IPFamilyPolicy, old.Spec.IPFamilyPolicy) {
			s.Spec.IPFamilyPolicy = nil
		}
	}
	if needsNodePorts(old) && !needsNodePorts(s) && sameNodePorts(s, old) {
		for i := range s.Spec.Ports {
			s.Spec.Ports[i].NodePort = 0
		}
	}
	if needsHealthCheckNodePort(old) && !needsHealthCheckNodePort(s) && s.Spec.HealthCheckNodePort == old.Spec.HealthCheckNodePort {
		s.Spec.HealthCheckNodePort = 0
	}
	if old.Spec.Type == corev1.ServiceTypeLoadBalancer && s.Spec.Type != corev1.ServiceTypeLoadBalancer {
		if ptrEqual(s.Spec.AllocateLoadBalancerNodePorts, old.Spec.AllocateLoadBalancerNodePorts) {
			s.Spec.AllocateLoadBalancerNodePorts = nil
		}
		if ptrEqual(s.Spec.LoadBalancerClass, old.Spec.LoadBalancerClass) {
			s.Spec.LoadBalancerClass = nil
		}
	}
	if externallyAccessible(old) && !externallyAccessible(s) && s.Spec.ExternalTrafficPolicy == old.Spec.ExternalTrafficPolicy {
		s.Spec.ExternalTrafficPolicy = ""
	}
	if s.Spec.Type != corev1.ServiceTypeLoadBalancer {
		s.Status.LoadBalancer = corev1.LoadBalancerStatus{}
	}
}

func sameNodePorts(a, b *corev1.Service) bool {
	collect := func(s *corev1.Service) []int32 {
		var out []int32
		for _, p := range s.Spec.Ports {
			if p.NodePort != 0 {
				out = append(out, p.NodePort)
			}
		}
		sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
		return out
	}
	x, y := collect(a), collect(b)
	if len(x) != len(y) {
		return false
	}
	for i := range x {
		if x[i] != y[i] {
			return false
		}
	}
	return true
}

func stringsEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func familiesEqual(a, b []corev1.IPFamily) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func ptrEqual[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

var (
	supportedServiceTypes = []corev1.ServiceType{corev1.ServiceTypeClusterIP, corev1.ServiceTypeExternalName,
		corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort}
	supportedSessionAffinity = []corev1.ServiceAffinity{corev1.ServiceAffinityClientIP, corev1.ServiceAffinityNone}
	supportedIPFamilies      = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
	supportedIPFamilyPolicy  = []corev1.IPFamilyPolicy{corev1.IPFamilyPolicyPreferDualStack,
		corev1.IPFamilyPolicyRequireDualStack, corev1.IPFamilyPolicySingleStack}
	supportedTrafficPolicy         = []corev1.ServiceExternalTrafficPolicy{corev1.ServiceExternalTrafficPolicyCluster, corev1.ServiceExternalTrafficPolicyLocal}
	supportedInternalTrafficPolicy = []corev1.ServiceInternalTrafficPolicy{corev1.ServiceInternalTrafficPolicyCluster, corev1.ServiceInternalTrafficPolicyLocal}
)

func validateService(s *corev1.Service) field.ErrorList {
	// Service names become DNS labels that must start with a letter.
	errs := validateNamespacedMeta(&s.ObjectMeta, apivalidation.NameIsDNS1035Label)
	spec := field.NewPath("spec")
	portsPath := spec.Child("ports")

	if len(s.Spec.Ports) == 0 && !isHeadless(s) && s.Spec.Type != corev1.ServiceTypeExternalName {
		errs = append(errs, field.Required(portsPath, ""))
	}
	switch s.Spec.Type {
	case corev1.ServiceTypeLoadBalancer:
		if isHeadless(s) {
			errs = append(errs, field.Invalid(spec.Child("clusterIPs").Index(0), s.Spec.ClusterIPs[0], "may not be set to 'None' for LoadBalancer services"))
		}
		for i, p := range s.Spec.Ports {
			if p.Port == kubeletPort {
				errs = append(errs, field.Invalid(portsPath.Index(i), p.Port, fmt.Sprintf("may not expose port %v externally since it is used by kubelet", kubeletPort)))
			}
		}
	case corev1.ServiceTypeNodePort:
		if isHeadless(s) {
			errs = append(errs, field.Invalid(spec.Child("clusterIPs").Index(0), s.Spec.ClusterIPs[0], "may not be set to 'None' for NodePort services"))
		}
	case corev1.ServiceTypeExternalName:
		if s.Spec.ClusterIP != "" || len(s.Spec.ClusterIPs) > 0 {
			errs = append(errs, field.Forbidden(spec.Child("clusterIPs"), "may not be set for ExternalName services"))
		}
		if len(s.Spec.IPFamilies) > 0 {
			errs = append(errs, field.Forbidden(spec.Child("ipFamilies"), "may not be set for ExternalName services"))
		}
		if s.Spec.IPFamilyPolicy != nil {
			errs = append(errs, field.Forbidden(spec.Child("ipFamilyPolicy"), "may not be set for ExternalName services"))
		}
		// A trailing dot marks the CNAME as fully qualified.
		if cname := strings.TrimSuffix(s.Spec.ExternalName, "."); cname != "" {
			errs = append(errs, validateDNS1123Subdomain(cname, spec.Child("externalName"))...)
		} else {
			errs = append(errs, field.Required(spec.Child("externalName"), ""))
		}
	}

	names := map[string]bool{}
	for i := range s.Spec.Ports {
		errs = append(errs, validateServicePort(&s.Spec.Ports[i], len(s.Spec.Ports) > 1, names, portsPath.Index(i))...)
	}
	errs = append(errs, validateLabels(s.Spec.Selector, spec.Child("selector"))...)

	errs = append(errs, validateEnum(s.Spec.SessionAffinity, supportedSessionAffinity, spec.Child("sessionAffinity"))...)
	switch s.Spec.SessionAffinity {
	case corev1.ServiceAffinityClientIP:
		cfg := s.Spec.SessionAffinityConfig
		p := spec.Child("sessionAffinityConfig").Child("clientIP").Child("timeoutSeconds")
		if cfg == nil || cfg.ClientIP == nil || cfg.ClientIP.TimeoutSeconds == nil {
			errs = append(errs, field.Required(p, "when session affinity type is ClientIP"))
		} else if t := *cfg.ClientIP.TimeoutSeconds; t <= 0 || t > maxClientIPServiceAffinitySeconds {
			errs = append(errs, field.Invalid(p, t, fmt.Sprintf("must be greater than 0 and less than %d", maxClientIPServiceAffinitySeconds)))
		}
	case corev1.ServiceAffinityNone:
		if s.Spec.SessionAffinityConfig != nil {
			errs = append(errs, field.Forbidden(spec.Child("sessionAffinityConfig"), "must not be set when session affinity is None"))
		}
	}

	errs = append(errs, validateClusterIPFields(s)...)

	for i, ip := range s.Spec.ExternalIPs {
		p := spec.Child("externalIPs").Index(i)
		if ipErrs := validateIP(ip, p); len(ipErrs) > 0 {
			errs = append(errs, ipErrs...)
		} else {
			errs = append(errs, validateNonSpecialIP(ip, p)...)
		}
	}
	errs = append(errs, validateEnum(s.Spec.Type, supportedServiceTypes, spec.Child("type"))...)

	for i, p := range s.Spec.Ports {
		np := portsPath.Index(i).Child("nodePort")
		switch {
		case p.NodePort == 0:
		case s.Spec.Type == corev1.ServiceTypeClusterIP:
			errs = append(errs, field.Forbidden(np, "may not be used when `type` is 'ClusterIP'"))
		case s.Spec.Type == corev1.ServiceTypeExternalName:
			errs = append(errs, field.Forbidden(np, "may not be used when `type` is 'ExternalName'"))
		case p.NodePort < NodePortRange[0] || p.NodePort > NodePortRange[1]:
			errs = append(errs, field.Invalid(np, p.NodePort,
				fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %d-%d", NodePortRange[0], NodePortRange[1])))
		}
	}
	// Ports and nodePorts are unique per protocol.
	type key struct {
		proto corev1.Protocol
		port  int32
	}
	nodePorts, ports := map[key]bool{}, map[key]bool{}
	for i, p := range s.Spec.Ports {
		if p.NodePort != 0 {
			k := key{p.Protocol, p.NodePort}
			if nodePorts[k] {
				errs = append(errs, field.Duplicate(portsPath.Index(i).Child("nodePort"), p.NodePort))
			}
			nodePorts[k] = true
		}
		k := key{p.Protocol, p.Port}
		if ports[k] {
			errs = append(errs, field.Duplicate(portsPath.Index(i), corev1.ServicePort{Protocol: p.Protocol, Port: p.Port}))
		}
		ports[k] = true
	}

	for i, cidr := range s.Spec.LoadBalancerSourceRanges {
		p := spec.Child("loadBalancerSourceRanges").Index(i)
		if s.Spec.Type != corev1.ServiceTypeLoadBalancer {
			errs = append(errs, field.Forbidden(spec.Child("loadBalancerSourceRanges"), "may only be used when `type` is 'LoadBalancer'"))
			break
		}
		if _, _, err := net.ParseCIDR(strings.TrimSpace(cidr)); err != nil {
			errs = append(errs, field.Invalid(p, cidr, "must be a list of IP ranges. For example, 10.240.0.0/24,10.250.0.0/24 "))
		}
	}

	if !externallyAccessible(s) {
		if s.Spec.ExternalTrafficPolicy != "" {
			errs = append(errs, field.Invalid(spec.Child("externalTrafficPolicy"), s.Spec.ExternalTrafficPolicy, "may only be set for externally-accessible services"))
		}
	} else {
		errs = append(errs, validateEnum(s.Spec.ExternalTrafficPolicy, supportedTrafficPolicy, spec.Child("externalTrafficPolicy"))...)
	}
	if s.Spec.HealthCheckNodePort != 0 && !needsHealthCheckNodePort(s) {
		errs = append(errs, field.Invalid(spec.Child("healthCheckNodePort"), s.Spec.HealthCheckNodePort,
			"may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"))
	}
	if s.Spec.InternalTrafficPolicy == nil {
		if s.Spec.Type != corev1.ServiceTypeExternalName {
			errs = append(errs, field.Required(spec.Child("internalTrafficPolicy"), ""))
		}
	} else {
		errs = append(errs, validateEnum(*s.Spec.InternalTrafficPolicy, supportedInternalTrafficPolicy, spec.Child("internalTrafficPolicy"))...)
	}
	if s.Spec.LoadBalancerClass != nil {
		if s.Spec.Type != corev1.ServiceTypeLoadBalancer {
			errs = append(errs, field.Forbidden(spec.Child("loadBalancerClass"), "may only be used when `type` is 'LoadBalancer'"))
		} else {
			errs = append(errs, validateQualifiedName(*s.Spec.LoadBalancerClass, spec.Child("loadBalancerClass"))...)
		}
	}
	if s.Spec.AllocateLoadBalancerNodePorts != nil && s.Spec.Type != corev1.ServiceTypeLoadBalancer {
		errs = append(errs, field.Forbidden(spec.Child("allocateLoadBalancerNodePorts"), "may only be used when `type` is 'LoadBalancer'"))
	}
	return errs
}

func validateServicePort(p *corev1.ServicePort, requireName bool, names map[string]bool, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if requireName && p.Name == "" {
		errs = append(errs, field.Required(fld.Child("name"), ""))
	} else if p.Name != "" {
		errs = append(errs, validateDNS1123Label(p.Name, fld.Child("name"))...)
		if names[p.Name] {
			errs = append(errs, field.Duplicate(fld.Child("name"), p.Name))
		}
		names[p.Name] = true
	}
	errs = append(errs, validatePortNum(p.Port, fld.Child("port"))...)
	errs = append(errs, validateProtocol(p.Protocol, fld.Child("protocol"))...)
	errs = append(errs, validatePortNumOrName(p.TargetPort, fld.Child("targetPort"))...)
	if p.AppProtocol != nil {
		errs = append(errs, validateQualifiedName(*p.AppProtocol, fld.Child("appProtocol"))...)
	}
	return errs
}

// validateClusterIPFields checks clusterIP, clusterIPs, ipFamilies and
// ipFamilyPolicy agree with each other.
func validateClusterIPFields(s *corev1.Service) field.ErrorList {
	if s.Spec.Type == corev1.ServiceTypeExternalName {
		return nil // all must be unset, checked above
	}
	var errs field.ErrorList
	spec := field.NewPath("spec")
	ipsPath := spec.Child("clusterIPs")
	if s.Spec.ClusterIP != "" {
		if len(s.Spec.ClusterIPs) == 0 {
			errs = append(errs, field.Required(ipsPath, ""))
		} else if s.Spec.ClusterIPs[0] != s.Spec.ClusterIP {
			errs = append(errs, field.Invalid(ipsPath, s.Spec.ClusterIPs, "first value must match `clusterIP`"))
		}
	} else if len(s.Spec.ClusterIPs) != 0 {
		errs = append(errs, field.Invalid(ipsPath, s.Spec.ClusterIPs, "must be empty when `clusterIP` is not specified"))
	}

	seen := map[corev1.IPFamily]bool{}
	for i, f := range s.Spec.IPFamilies {
		p := spec.Child("ipFamilies").Index(i)
		errs = append(errs, validateEnum(f, supportedIPFamilies, p)...)
		if seen[f] {
			errs = append(errs, field.Duplicate(p, f))
		}
		seen[f] = true
	}
	if len(s.Spec.IPFamilies) > 2 {
		errs = append(errs, field.Invalid(spec.Child("ipFamilies"), s.Spec.IPFamilies, "may only hold up to 2 values"))
	}
	if s.Spec.IPFamilyPolicy != nil {
		errs = append(errs, validateEnum(*s.Spec.IPFamilyPolicy, supportedIPFamilyPolicy, spec.Child("ipFamilyPolicy"))...)
		if *s.Spec.IPFamilyPolicy == corev1.IPFamilyPolicySingleStack && len(s.Spec.ClusterIPs) > 1 {
			errs = append(errs, field.Invalid(ipsPath, s.Spec.ClusterIPs, "must be a single IP when `ipFamilyPolicy` is 'SingleStack'"))
		}
	}

	invalid := false
	for i, ip := range s.Spec.ClusterIPs {
		if i == 0 && ip == corev1.ClusterIPNone {
			if len(s.Spec.ClusterIPs) > 1 {
				invalid = true
				errs = append(errs, field.Invalid(ipsPath, s.Spec.ClusterIPs, "'None' must be the first and only value"))
			}
			continue
		}
		ipErrs := validateIP(ip, ipsPath.Index(i))
		invalid = invalid || len(ipErrs) > 0
		errs = append(errs, ipErrs...)
	}
	if len(s.Spec.ClusterIPs) > 2 {
		errs = append(errs, field.Invalid(ipsPath, s.Spec.ClusterIPs, "may only hold up to 2 values"))
	}
	if invalid {
		// Family checks on bad IPs would only add noise.
		return errs
	}
	if len(s.Spec.ClusterIPs) == 2 {
		a, b := net.ParseIP(s.Spec.ClusterIPs[0]), net.ParseIP(s.Spec.ClusterIPs[1])
		if ipFamilyOf(a) == ipFamilyOf(b) {
			errs = append(errs, field.Invalid(ipsPath, s.Spec.ClusterIPs, "may specify no more than one IP for each IP family"))
		}
	}
	if !isHeadless(s) {
		for i, ip := range s.Spec.ClusterIPs {
			if i >= len(s.Spec.IPFamilies) {
				break
			}
			fam := ipFamilyOf(net.ParseIP(ip))
			if want := s.Spec.IPFamilies[i]; want != fam && (want == corev1.IPv4Protocol || want == corev1.IPv6Protocol) {
				errs = append(errs, field.Invalid(ipsPath.Index(i), ip, fmt.Sprintf("expected an %s value as indicated by `ipFamilies[%v]`", want, i)))
			}
		}
	}
	return errs
}

func validateServiceUpdate(s, old *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	// Cluster IPs and IP families may gain or lose a secondary entry, but
	// the primary never changes, except when moving to/from ExternalName.
	if needsClusterIP(s) && needsClusterIP(old) && !(isHeadless(s) && isHeadless(old)) {
		errs = append(errs, validateUpgradeDowngrade(old.Spec.ClusterIPs, s.Spec.ClusterIPs, s.Spec.IPFamilyPolicy,
			field.NewPath("spec", "clusterIPs"), "clusterIP")...)
	}
	// Headless services may change families (they have no IPs to keep).
	if needsClusterIP(s) && needsClusterIP(old) && !isHeadless(s) && !isHeadless(old) {
		of, nf := familyStrings(old.Spec.IPFamilies), familyStrings(s.Spec.IPFamilies)
		errs = append(errs, validateUpgradeDowngrade(of, nf, s.Spec.IPFamilyPolicy, field.NewPath("spec", "ipFamilies"), "ipFamily")...)
	}
	if old.Spec.Type == corev1.ServiceTypeLoadBalancer && s.Spec.Type == corev1.ServiceTypeLoadBalancer &&
		!ptrEqual(old.Spec.LoadBalancerClass, s.Spec.LoadBalancerClass) {
		errs = append(errs, field.Invalid(field.NewPath("spec", "loadBalancerClass"), s.Spec.LoadBalancerClass, "may not change once set"))
	}
	return append(errs, validateService(s)...)
}

func familyStrings(f []corev1.IPFamily) []string {
	out := make([]string, len(f))
	for i := range f {
		out[i] = string(f[i])
	}
	return out
}

// validateUpgradeDowngrade enforces Kubernetes' dual-stack update rule for
// clusterIPs and ipFamilies: the primary is fixed; dropping the secondary
// needs ipFamilyPolicy SingleStack.
func validateUpgradeDowngrade(old, new []string, policy *corev1.IPFamilyPolicy, fld *field.Path, what string) field.ErrorList {
	var errs field.ErrorList
	switch {
	case len(old) == len(new):
		for i := range old {
			if old[i] != new[i] {
				errs = append(errs, field.Invalid(fld.Index(i), new, "may not change once set"))
			}
		}
	case len(old) > len(new):
		if len(new) == 0 {
			errs = append(errs, field.Invalid(fld.Index(0), new, fmt.Sprintf("primary %s can not be unset", what)))
		} else if new[0] != old[0] {
			errs = append(errs, field.Invalid(fld.Index(0), new, "may not change once set"))
		}
		if len(new) == 1 && (policy == nil || *policy != corev1.IPFamilyPolicySingleStack) {
			errs = append(errs, field.Invalid(fld.Index(0), new, fmt.Sprintf("`ipFamilyPolicy` must be set to 'SingleStack' when releasing the secondary %s", what)))
		}
	default:
		if len(old) > 0 && new[0] != old[0] {
			errs = append(errs, field.Invalid(fld.Index(0), new, "may not change once set"))
		}
	}
	return errs
}

var (
	serviceSpecDoc = corev1.ServiceSpec{}.SwaggerDoc()
	serviceColumns = []metav1.TableColumnDefinition{
		nameColumn,
		col("Type", "string", serviceSpecDoc["type"]),
		col("Cluster-IP", "string", serviceSpecDoc["clusterIP"]),
		col("External-IP", "string", serviceSpecDoc["externalIPs"]),
		col("Port(s)", "string", serviceSpecDoc["ports"]),
		ageColumn,
		wideCol("Selector", "string", serviceSpecDoc["selector"]),
	}
)

func serviceRow(s *corev1.Service, now time.Time) []interface{} {
	clusterIP := "<none>"
	if len(s.Spec.ClusterIPs) > 0 {
		clusterIP = s.Spec.ClusterIPs[0]
	}
	ports := make([]string, len(s.Spec.Ports))
	for i, p := range s.Spec.Ports {
		if p.NodePort > 0 {
			ports[i] = fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, p.Protocol)
		} else {
			ports[i] = fmt.Sprintf("%d/%s", p.Port, p.Protocol)
		}
	}
	return []interface{}{
		s.Name, string(s.Spec.Type), clusterIP, serviceExternalIP(s), orNone(strings.Join(ports, ",")),
		TranslateTimestampSince(s.CreationTimestamp, now), labels.FormatLabels(s.Spec.Selector),
	}
}

// serviceExternalIP is the EXTERNAL-IP cell: external IPs, load balancer
// ingress (or "<pending>" until there is one), or the ExternalName.
func serviceExternalIP(s *corev1.Service) string {
	switch s.Spec.Type {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort:
		if len(s.Spec.ExternalIPs) > 0 {
			return strings.Join(s.Spec.ExternalIPs, ",")
		}
		return "<none>"
	case corev1.ServiceTypeLoadBalancer:
		seen := map[string]bool{}
		var lb []string
		for _, ing := range s.Status.LoadBalancer.Ingress {
			v := ing.IP
			if v == "" {
				v = ing.Hostname
			}
			if v != "" && !seen[v] {
				seen[v] = true
				lb = append(lb, v)
			}
		}
		sort.Strings(lb)
		all := append(lb, s.Spec.ExternalIPs...)
		if len(all) == 0 {
			return "<pending>"
		}
		return strings.Join(all, ",")
	case corev1.ServiceTypeExternalName:
		return s.Spec.ExternalName
	}
	return "<unknown>"
}
