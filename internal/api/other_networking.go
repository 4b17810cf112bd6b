package api

// networking.k8s.io/v1 (Ingress, IngressClass, NetworkPolicy) and
// discovery.k8s.io/v1 (EndpointSlice).

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ingressClassAnnotation is the pre-IngressClass way to pick a controller.
const ingressClassAnnotation = "kubernetes.io/ingress.class"

// Limits Kubernetes puts on IngressClass and EndpointSlice.
const (
	maxIngressClassControllerLength = 250
	maxEndpointSliceEndpoints       = 1000
	maxEndpointSliceAddresses       = 100
	maxEndpointSlicePorts           = 20000
	maxEndpointTopologyLabels       = 16
	maxEndpointZoneHints            = 8
)

// listWithMore shows up to max items, then "+ N more...", as kubectl does
// for hosts, ports and endpoints; an empty list shows as empty.
func wlListWithMore(items []string, max int, sep string) string {
	if len(items) <= max {
		return strings.Join(items, sep)
	}
	return fmt.Sprintf("%s + %d more...", strings.Join(items[:max], sep), len(items)-max)
}

// --- Ingress -------------------------------------------------------------------

func ingressStrategy() Strategy {
	return Strategy{
		Validate: func(obj runtime.Object) field.ErrorList {
			return validateIngress(obj.(*networkingv1.Ingress))
		},
		ValidateUpdate: func(obj, _ runtime.Object) field.ErrorList {
			return validateIngress(obj.(*networkingv1.Ingress))
		},
		Columns: []metav1.TableColumnDefinition{
			wlNameColumn(),
			wlColumn("Class", "string", "The name of the IngressClass resource that should be used for additional configuration"),
			wlColumn("Hosts", "string", "Hosts that incoming requests are matched against before the ingress rule"),
			wlColumn("Address", "string", "Address is a list containing ingress points for the load-balancer"),
			wlColumn("Ports", "string", "Ports of TLS configurations that open"),
			wlAgeColumn(),
		},
		Row: func(obj runtime.Object, now time.Time) []interface{} {
			ing := obj.(*networkingv1.Ingress)
			class := "<none>"
			if ing.Spec.IngressClassName != nil {
				class = *ing.Spec.IngressClassName
			}
			ports := "80"
			if len(ing.Spec.TLS) > 0 {
				ports = "80, 443"
			}
			return []interface{}{ing.Name, class, ingressHostsCell(ing.Spec.Rules), ingressAddressCell(ing.Status.LoadBalancer),
				ports, ageOf(ing.CreationTimestamp, now)}
		},
	}
}

// ingressHostsCell lists the rules' hosts (at most three), "*" when no rule
// names a host.
func ingressHostsCell(rules []networkingv1.IngressRule) string {
	var hosts []string
	for _, r := range rules {
		if r.Host != "" {
			hosts = append(hosts, r.Host)
		}
	}
	if len(hosts) == 0 {
		return "*"
	}
	return wlListWithMore(hosts, 3, ",")
}

func ingressAddressCell(lb networkingv1.IngressLoadBalancerStatus) string {
	seen := map[string]bool{}
	var out []string
	for _, i := range lb.Ingress {
		a := i.IP
		if a == "" {
			a = i.Hostname
		}
		if a != "" && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func validateIngress(ing *networkingv1.Ingress) field.ErrorList {
	errs := wlValidateMeta(&ing.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	spec := field.NewPath("spec")
	s := &ing.Spec
	if len(s.Rules) == 0 && s.DefaultBackend == nil {
		errs = append(errs, field.Invalid(spec, s.Rules, "either `defaultBackend` or `rules` must be specified"))
	}
	if s.DefaultBackend != nil {
		errs = append(errs, validateIngressBackend(s.DefaultBackend, spec.Child("defaultBackend"))...)
	}
	for i, r := range s.Rules {
		rp := spec.Child("rules").Index(i)
		if r.Host != "" {
			hp := rp.Child("host")
			if net.ParseIP(r.Host) != nil {
				errs = append(errs, field.Invalid(hp, r.Host, "must be a DNS name, not an IP address"))
			}
			errs = append(errs, wlValidateIngressHost(r.Host, hp)...)
		}
		if r.HTTP != nil {
			pp := rp.Child("http", "paths")
			if len(r.HTTP.Paths) == 0 {
				errs = append(errs, field.Required(pp, ""))
			}
			for k := range r.HTTP.Paths {
				errs = append(errs, validateIngressPath(&r.HTTP.Paths[k], pp.Index(k))...)
			}
		}
	}
	for i, t := range s.TLS {
		tp := spec.Child("tls").Index(i)
		for k, h := range t.Hosts {
			errs = append(errs, wlValidateIngressHost(h, tp.Child("hosts").Index(k))...)
		}
		if t.SecretName != "" {
			for _, msg := range apivalidation.NameIsDNSSubdomain(t.SecretName, false) {
				errs = append(errs, field.Invalid(tp.Child("secretName"), t.SecretName, msg))
			}
		}
	}
	if s.IngressClassName != nil {
		for _, msg := range apivalidation.NameIsDNSSubdomain(*s.IngressClassName, false) {
			errs = append(errs, field.Invalid(spec.Child("ingressClassName"), *s.IngressClassName, msg))
		}
		// The old annotation and the field must not name different
		// controllers. Kubernetes reports it at "annotations" (sic).
		if v, ok := ing.Annotations[ingressClassAnnotation]; ok && v != *s.IngressClassName {
			errs = append(errs, field.Invalid(field.NewPath("annotations").Child(ingressClassAnnotation), v,
				"must match `ingressClassName` when both are specified"))
		}
	}
	return errs
}

// validateIngressHost accepts DNS names and wildcard names ("*.example.com").
func wlValidateIngressHost(host string, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	check := validation.IsDNS1123Subdomain
	if strings.Contains(host, "*") {
		check = validation.IsWildcardDNS1123Subdomain
	}
	for _, msg := range check(host) {
		errs = append(errs, field.Invalid(fld, host, msg))
	}
	return errs
}

func validateIngressPath(p *networkingv1.HTTPIngressPath, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if p.PathType == nil {
		return append(errs, field.Required(fld.Child("pathType"), "pathType must be specified"))
	}
	pp := fld.Child("path")
	switch *p.PathType {
	case networkingv1.PathTypeExact, networkingv1.PathTypePrefix:
		if !strings.HasPrefix(p.Path, "/") {
			errs = append(errs, field.Invalid(pp, p.Path, "must be an absolute path"))
		}
		// Such paths would match differently in different proxies.
		for _, seq := range []string{"//", "/./", "/../", "%2f", "%2F"} {
			if strings.Contains(p.Path, seq) {
				errs = append(errs, field.Invalid(pp, p.Path, fmt.Sprintf("must not contain '%s'", seq)))
			}
		}
		for _, suffix := range []string{"/..", "/."} {
			if strings.HasSuffix(p.Path, suffix) {
				errs = append(errs, field.Invalid(pp, p.Path, fmt.Sprintf("cannot end with '%s'", suffix)))
			}
		}
	case networkingv1.PathTypeImplementationSpecific:
		if p.Path != "" && !strings.HasPrefix(p.Path, "/") {
			errs = append(errs, field.Invalid(pp, p.Path, "must be an absolute path"))
		}
	default:
		errs = append(errs, field.NotSupported(fld.Child("pathType"), *p.PathType, []string{
			string(networkingv1.PathTypeExact), string(networkingv1.PathTypeImplementationSpecific), string(networkingv1.PathTypePrefix)}))
	}
	return append(errs, validateIngressBackend(&p.Backend, fld.Child("backend"))...)
}

// validateIngressBackend wants exactly one of a service (name and port by
// name or number) or a typed resource reference.
func validateIngressBackend(b *networkingv1.IngressBackend, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch {
	case b.Resource != nil && b.Service != nil:
		errs = append(errs, field.Invalid(fld, "", "cannot set both resource and service backends"))
	case b.Resource != nil:
		r := b.Resource
		errs = append(errs, wlValidateTypedReference(r.APIGroup, r.Kind, r.Name, fld.Child("resource"))...)
	case b.Service != nil:
		sp := fld.Child("service")
		if b.Service.Name == "" {
			errs = append(errs, field.Required(sp.Child("name"), ""))
		} else {
			for _, msg := range apivalidation.NameIsDNS1035Label(b.Service.Name, false) {
				errs = append(errs, field.Invalid(sp.Child("name"), b.Service.Name, msg))
			}
		}
		port := b.Service.Port
		switch {
		case port.Name != "" && port.Number != 0:
			errs = append(errs, field.Invalid(fld, "", "cannot set both port name & port number"))
		case port.Name != "":
			for _, msg := range validation.IsValidPortName(port.Name) {
				errs = append(errs, field.Invalid(sp.Child("port", "name"), port.Name, msg))
			}
		case port.Number != 0:
			for _, msg := range validation.IsValidPortNum(int(port.Number)) {
				errs = append(errs, field.Invalid(sp.Child("port", "number"), port.Number, msg))
			}
		default:
			errs = append(errs, field.Required(fld, "port name or number is required"))
		}
	default:
		errs = append(errs, field.Invalid(fld, "", "resource or service backend is required"))
	}
	return errs
}

// validateTypedReference checks a reference to an object by group, kind and
// name (ingress resource backends, ingress class parameters).
func wlValidateTypedReference(group *string, kind, name string, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if group != nil {
		for _, msg := range validation.IsDNS1123Subdomain(*group) {
			errs = append(errs, field.Invalid(fld.Child("apiGroup"), *group, msg))
		}
	}
	if kind == "" {
		errs = append(errs, field.Required(fld.Child("kind"), "kind is required"))
	} else {
		for _, msg := range path.IsValidPathSegmentName(kind) {
			errs = append(errs, field.Invalid(fld.Child("kind"), kind, msg))
		}
	}
	if name == "" {
		errs = append(errs, field.Required(fld.Child("name"), "name is required"))
	} else {
		for _, msg := range path.IsValidPathSegmentName(name) {
			errs = append(errs, field.Invalid(fld.Child("name"), name, msg))
		}
	}
	return errs
}

// --- IngressClass --------------------------------------------------------------

func ingressClassStrategy() Strategy {
	return Strategy{
		Default: func(obj runtime.Object) {
			// Parameters are cluster-scoped unless said otherwise.
			if p := obj.(*networkingv1.IngressClass).Spec.Parameters; p != nil && p.Scope == nil {
				s := networkingv1.IngressClassParametersReferenceScopeCluster
				p.Scope = &s
			}
		},
		Validate: func(obj runtime.Object) field.ErrorList {
			return validateIngressClass(obj.(*networkingv1.IngressClass))
		},
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
			ic, oldIC := obj.(*networkingv1.IngressClass), old.(*networkingv1.IngressClass)
			errs := validateIngressClass(ic)
			// The controller that owns a class's ingresses cannot change
			// under them.
			return append(errs, wlImmutable(ic.Spec.Controller, oldIC.Spec.Controller, field.NewPath("spec", "controller"))...)
		},
		Columns: []metav1.TableColumnDefinition{
			wlNameColumn(),
			wlColumn("Controller", "string", "Controller that is responsible for handling this class"),
			wlColumn("Parameters", "string", "A reference to a resource with additional parameters"),
			wlAgeColumn(),
		},
		Row: func(obj runtime.Object, now time.Time) []interface{} {
			ic := obj.(*networkingv1.IngressClass)
			params := "<none>"
			if p := ic.Spec.Parameters; p != nil {
				params = p.Kind
				if p.APIGroup != nil {
					params += "." + *p.APIGroup
				}
				params += "/" + p.Name
			}
			return []interface{}{ic.Name, ic.Spec.Controller, params, ageOf(ic.CreationTimestamp, now)}
		},
	}
}

func validateIngressClass(ic *networkingv1.IngressClass) field.ErrorList {
	errs := wlValidateMeta(&ic.ObjectMeta, false, apivalidation.NameIsDNSSubdomain)
	spec := field.NewPath("spec")
	if len(ic.Spec.Controller) > maxIngressClassControllerLength {
		errs = append(errs, field.TooLong(spec.Child("controller"), "", maxIngressClassControllerLength))
	}
	errs = append(errs, validation.IsDomainPrefixedPath(spec.Child("controller"), ic.Spec.Controller)...)
	p := ic.Spec.Parameters
	if p == nil {
		return errs
	}
	pp := spec.Child("parameters")
	errs = append(errs, wlValidateTypedReference(p.APIGroup, p.Kind, p.Name, pp)...)
	if p.Scope == nil {
		return append(errs, field.Required(pp.Child("scope"), ""))
	}
	switch *p.Scope {
	case networkingv1.IngressClassParametersReferenceScopeNamespace:
		if p.Namespace == nil {
			errs = append(errs, field.Required(pp.Child("namespace"), "`parameters.scope` is set to 'Namespace'"))
		} else {
			for _, msg := range apivalidation.ValidateNamespaceName(*p.Namespace, false) {
				errs = append(errs, field.Invalid(pp.Child("namespace"), *p.Namespace, msg))
			}
		}
	case networkingv1.IngressClassParametersReferenceScopeCluster:
		if p.Namespace != nil {
			errs = append(errs, field.Forbidden(pp.Child("namespace"), "`parameters.scope` is set to 'Cluster'"))
		}
	default:
		errs = append(errs, field.NotSupported(pp.Child("scope"), *p.Scope, []string{
			networkingv1.IngressClassParametersReferenceScopeCluster, networkingv1.IngressClassParametersReferenceScopeNamespace}))
	}
	return errs
}

// --- NetworkPolicy -------------------------------------------------------------

func networkPolicyStrategy() Strategy {
	return Strategy{
		Default: func(obj runtime.Object) { defaultNetworkPolicy(obj.(*networkingv1.NetworkPolicy)) },
		Validate: func(obj runtime.Object) field.ErrorList {
			return validateNetworkPolicy(obj.(*networkingv1.NetworkPolicy))
		},
		ValidateUpdate: func(obj, _ runtime.Object) field.ErrorList {
			return validateNetworkPolicy(obj.(*networkingv1.NetworkPolicy))
		},
		Columns: []metav1.TableColumnDefinition{
			wlNameColumn(),
			wlColumn("Pod-Selector", "string", networkingv1.NetworkPolicySpec{}.SwaggerDoc()["podSelector"]),
			wlAgeColumn(),
		},
		Row: func(obj runtime.Object, now time.Time) []interface{} {
			np := obj.(*networkingv1.NetworkPolicy)
			return []interface{}{np.Name, metav1.FormatLabelSelector(&np.Spec.PodSelector), ageOf(np.CreationTimestamp, now)}
		},
	}
}

func defaultNetworkPolicy(np *networkingv1.NetworkPolicy) {
	// A policy always restricts ingress; it restricts egress only if it
	// says something about egress.
	if len(np.Spec.PolicyTypes) == 0 {
		np.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
		if len(np.Spec.Egress) != 0 {
			np.Spec.PolicyTypes = append(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
		}
	}
	tcp := func(ports []networkingv1.NetworkPolicyPort) {
		for i := range ports {
			if ports[i].Protocol == nil {
				p := corev1.ProtocolTCP
				ports[i].Protocol = &p
			}
		}
	}
	for i := range np.Spec.Ingress {
		tcp(np.Spec.Ingress[i].Ports)
	}
	for i := range np.Spec.Egress {
		tcp(np.Spec.Egress[i].Ports)
	}
}

func validateNetworkPolicy(np *networkingv1.NetworkPolicy) field.ErrorList {
	errs := wlValidateMeta(&np.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	spec := field.NewPath("spec")
	selOpts := metav1validation.LabelSelectorValidationOptions{}
	errs = append(errs, metav1validation.ValidateLabelSelector(&np.Spec.PodSelector, selOpts, spec.Child("podSelector"))...)
	for i, r := range np.Spec.Ingress {
		rp := spec.Child("ingress").Index(i)
		for k := range r.Ports {
			errs = append(errs, validateNetworkPolicyPort(&r.Ports[k], rp.Child("ports").Index(k))...)
		}
		for k := range r.From {
			errs = append(errs, validateNetworkPolicyPeer(&r.From[k], rp.Child("from").Index(k))...)
		}
	}
	for i, r := range np.Spec.Egress {
		rp := spec.Child("egress").Index(i)
		for k := range r.Ports {
			errs = append(errs, validateNetworkPolicyPort(&r.Ports[k], rp.Child("ports").Index(k))...)
		}
		for k := range r.To {
			errs = append(errs, validateNetworkPolicyPeer(&r.To[k], rp.Child("to").Index(k))...)
		}
	}
	tp := spec.Child("policyTypes")
	if len(np.Spec.PolicyTypes) > 2 {
		return append(errs, field.Invalid(tp, np.Spec.PolicyTypes, "may not specify more than two policyTypes"))
	}
	for i, t := range np.Spec.PolicyTypes {
		if t != networkingv1.PolicyTypeIngress && t != networkingv1.PolicyTypeEgress {
			errs = append(errs, field.NotSupported(tp.Index(i), t, []string{
				string(networkingv1.PolicyTypeIngress), string(networkingv1.PolicyTypeEgress)}))
		}
	}
	return errs
}

func wlValidateProtocol(p corev1.Protocol, fld *field.Path) field.ErrorList {
	switch p {
	case corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP:
		return nil
	}
	return field.ErrorList{field.NotSupported(fld, p, []string{
		string(corev1.ProtocolSCTP), string(corev1.ProtocolTCP), string(corev1.ProtocolUDP)})}
}

func validateNetworkPolicyPort(p *networkingv1.NetworkPolicyPort, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if p.Protocol != nil {
		errs = append(errs, wlValidateProtocol(*p.Protocol, fld.Child("protocol"))...)
	}
	ep := fld.Child("endPort")
	switch {
	case p.Port == nil:
		if p.EndPort != nil {
			errs = append(errs, field.Invalid(ep, *p.EndPort, "may not be specified when `port` is not specified"))
		}
	case p.Port.Type == intstr.Int:
		for _, msg := range validation.IsValidPortNum(int(p.Port.IntVal)) {
			errs = append(errs, field.Invalid(fld.Child("port"), p.Port.IntVal, msg))
		}
		if p.EndPort != nil {
			if *p.EndPort < p.Port.IntVal {
				errs = append(errs, field.Invalid(ep, *p.EndPort, "must be greater than or equal to `port`"))
			}
			for _, msg := range validation.IsValidPortNum(int(*p.EndPort)) {
				errs = append(errs, field.Invalid(ep, *p.EndPort, msg))
			}
		}
	default:
		// A named port may resolve to different numbers in different pods,
		// so a range from it means nothing.
		if p.EndPort != nil {
			errs = append(errs, field.Invalid(ep, *p.EndPort, "may not be specified when `port` is non-numeric"))
		}
		for _, msg := range validation.IsValidPortName(p.Port.StrVal) {
			errs = append(errs, field.Invalid(fld.Child("port"), p.Port.StrVal, msg))
		}
	}
	return errs
}

func validateNetworkPolicyPeer(p *networkingv1.NetworkPolicyPeer, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	selOpts := metav1validation.LabelSelectorValidationOptions{}
	n := 0
	if p.PodSelector != nil {
		n++
		errs = append(errs, metav1validation.ValidateLabelSelector(p.PodSelector, selOpts, fld.Child("podSelector"))...)
	}
	if p.NamespaceSelector != nil {
		n++
		errs = append(errs, metav1validation.ValidateLabelSelector(p.NamespaceSelector, selOpts, fld.Child("namespaceSelector"))...)
	}
	if p.IPBlock != nil {
		n++
		errs = append(errs, validateIPBlock(p.IPBlock, fld.Child("ipBlock"))...)
	}
	switch {
	case n == 0:
		errs = append(errs, field.Required(fld, "must specify a peer"))
	case n > 1 && p.IPBlock != nil:
		errs = append(errs, field.Forbidden(fld, "may not specify both ipBlock and another peer"))
	}
	return errs
}

func validateIPBlock(b *networkingv1.IPBlock, fld *field.Path) field.ErrorList {
	if b.CIDR == "" {
		return field.ErrorList{field.Required(fld.Child("cidr"), "")}
	}
	errs := validation.IsValidCIDRForLegacyField(fld.Child("cidr"), b.CIDR, false, nil)
	_, outer, err := net.ParseCIDR(b.CIDR)
	for i, e := range b.Except {
		xp := fld.Child("except").Index(i)
		xerrs := validation.IsValidCIDRForLegacyField(xp, e, false, nil)
		errs = append(errs, xerrs...)
		if err != nil || len(xerrs) > 0 {
			continue
		}
		_, inner, xerr := net.ParseCIDR(e)
		if xerr != nil {
			continue
		}
		outerLen, _ := outer.Mask.Size()
		innerLen, _ := inner.Mask.Size()
		if !outer.Contains(inner.IP) || outerLen >= innerLen {
			errs = append(errs, field.Invalid(xp, e, "must be a strict subset of `cidr`"))
		}
	}
	return errs
}

// --- EndpointSlice -------------------------------------------------------------

func endpointSliceStrategy() Strategy {
	return Strategy{
		Default: func(obj runtime.Object) {
			// Ports default to the unnamed TCP port, as Kubernetes stores them.
			es := obj.(*discoveryv1.EndpointSlice)
			for i := range es.Ports {
				if es.Ports[i].Name == nil {
					n := ""
					es.Ports[i].Name = &n
				}
				if es.Ports[i].Protocol == nil {
					p := corev1.ProtocolTCP
					es.Ports[i].Protocol = &p
				}
			}
		},
		Validate: func(obj runtime.Object) field.ErrorList {
			es := obj.(*discoveryv1.EndpointSlice)
			errs := validateEndpointSlice(es)
			// FQDN slices are deprecated but still accepted, as in
			// Kubernetes 1.33.
			at := field.NewPath("addressType")
			switch es.AddressType {
			case "":
				errs = append(errs, field.Required(at, ""))
			case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6, discoveryv1.AddressTypeFQDN:
			default:
				errs = append(errs, field.NotSupported(at, es.AddressType, []string{
					string(discoveryv1.AddressTypeFQDN), string(discoveryv1.AddressTypeIPv4), string(discoveryv1.AddressTypeIPv6)}))
			}
			return errs
		},
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
			es, oldES := obj.(*discoveryv1.EndpointSlice), old.(*discoveryv1.EndpointSlice)
			errs := validateEndpointSlice(es)
			// Consumers index slices by address family.
			return append(errs, wlImmutable(es.AddressType, oldES.AddressType, field.NewPath("addressType"))...)
		},
		Columns: []metav1.TableColumnDefinition{
			wlNameColumn(),
			wlColumn("AddressType", "string", discoveryv1.EndpointSlice{}.SwaggerDoc()["addressType"]),
			wlColumn("Ports", "string", discoveryv1.EndpointSlice{}.SwaggerDoc()["ports"]),
			wlColumn("Endpoints", "string", discoveryv1.EndpointSlice{}.SwaggerDoc()["endpoints"]),
			wlAgeColumn(),
		},
		Row: func(obj runtime.Object, now time.Time) []interface{} {
			es := obj.(*discoveryv1.EndpointSlice)
			return []interface{}{es.Name, string(es.AddressType), endpointSlicePortsCell(es.Ports),
				endpointSliceEndpointsCell(es.Endpoints), ageOf(es.CreationTimestamp, now)}
		},
	}
}

func wlOrUnset(s string) string {
	if s == "" {
		return "<unset>"
	}
	return s
}

func endpointSlicePortsCell(ports []discoveryv1.EndpointPort) string {
	var out []string
	for _, p := range ports {
		switch {
		case p.Port != nil:
			out = append(out, strconv.Itoa(int(*p.Port)))
		case p.Name != nil && *p.Name != "":
			out = append(out, *p.Name)
		default:
			out = append(out, "*")
		}
	}
	return wlOrUnset(wlListWithMore(out, 3, ","))
}

func endpointSliceEndpointsCell(eps []discoveryv1.Endpoint) string {
	var out []string
	for _, e := range eps {
		out = append(out, e.Addresses...)
	}
	return wlOrUnset(wlListWithMore(out, 3, ","))
}

func validateEndpointSlice(es *discoveryv1.EndpointSlice) field.ErrorList {
	errs := wlValidateMeta(&es.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	errs = append(errs, validateSliceEndpoints(es.Endpoints, es.AddressType, field.NewPath("endpoints"))...)
	return append(errs, validateSlicePorts(es.Ports, field.NewPath("ports"))...)
}

func validateSliceEndpoints(eps []discoveryv1.Endpoint, at discoveryv1.AddressType, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(eps) > maxEndpointSliceEndpoints {
		return append(errs, field.TooMany(fld, len(eps), maxEndpointSliceEndpoints))
	}
	for i, e := range eps {
		ip := fld.Index(i)
		ap := ip.Child("addresses")
		if len(e.Addresses) == 0 {
			errs = append(errs, field.Required(ap, "must contain at least 1 address"))
		} else if len(e.Addresses) > maxEndpointSliceAddresses {
			errs = append(errs, field.TooMany(ap, len(e.Addresses), maxEndpointSliceAddresses))
		}
		for k, a := range e.Addresses {
			switch at {
			case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6:
				errs = append(errs, wlValidateEndpointIP(a, at == discoveryv1.AddressTypeIPv4, ap.Index(k))...)
			case discoveryv1.AddressTypeFQDN:
				errs = append(errs, validation.IsFullyQualifiedDomainName(ap.Index(k), a)...)
			}
		}
		if e.NodeName != nil {
			for _, msg := range apivalidation.NameIsDNSSubdomain(*e.NodeName, false) {
				errs = append(errs, field.Invalid(ip.Child("nodeName"), *e.NodeName, msg))
			}
		}
		tp := ip.Child("deprecatedTopology")
		if len(e.DeprecatedTopology) > maxEndpointTopologyLabels {
			errs = append(errs, field.TooMany(tp, len(e.DeprecatedTopology), maxEndpointTopologyLabels))
		}
		errs = append(errs, metav1validation.ValidateLabels(e.DeprecatedTopology, tp)...)
		if e.Zone != nil {
			errs = append(errs, metav1validation.ValidateLabels(map[string]string{corev1.LabelTopologyZone: *e.Zone}, ip.Child("zone"))...)
		}
		if e.Hostname != nil {
			for _, msg := range validation.IsDNS1123Label(*e.Hostname) {
				errs = append(errs, field.Invalid(ip.Child("hostname"), *e.Hostname, msg))
			}
		}
		if h := e.Hints; h != nil {
			zp := ip.Child("hints", "forZones")
			if len(h.ForZones) > maxEndpointZoneHints {
				errs = append(errs, field.TooMany(zp, len(h.ForZones), maxEndpointZoneHints))
			}
			seen := map[string]bool{}
			for k, z := range h.ForZones {
				np := zp.Index(k).Child("name")
				if seen[z.Name] {
					errs = append(errs, field.Duplicate(np, z.Name))
				}
				seen[z.Name] = true
				errs = append(errs, metav1validation.ValidateLabels(map[string]string{corev1.LabelTopologyZone: z.Name}, np)...)
			}
		}
	}
	return errs
}

// validateEndpointIP accepts an address of the slice's family that traffic
// could actually be sent to: not unspecified, loopback or link-local.
func wlValidateEndpointIP(a string, v4 bool, fld *field.Path) field.ErrorList {
	ip := net.ParseIP(a)
	if ip == nil || (ip.To4() != nil) != v4 {
		family := "IPv6"
		if v4 {
			family = "IPv4"
		}
		return field.ErrorList{field.Invalid(fld, a, "must be a valid "+family+" address")}
	}
	var errs field.ErrorList
	if ip.IsUnspecified() {
		errs = append(errs, field.Invalid(fld, a, fmt.Sprintf("may not be unspecified (%v)", a)))
	}
	if ip.IsLoopback() {
		errs = append(errs, field.Invalid(fld, a, "may not be in the loopback range (127.0.0.0/8, ::1/128)"))
	}
	if ip.IsLinkLocalUnicast() {
		errs = append(errs, field.Invalid(fld, a, "may not be in the link-local range (169.254.0.0/16, fe80::/10)"))
	}
	if ip.IsLinkLocalMulticast() {
		errs = append(errs, field.Invalid(fld, a, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"))
	}
	return errs
}

func validateSlicePorts(ports []discoveryv1.EndpointPort, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(ports) > maxEndpointSlicePorts {
		return append(errs, field.TooMany(fld, len(ports), maxEndpointSlicePorts))
	}
	names := map[string]bool{}
	for i, p := range ports {
		ip := fld.Index(i)
		name := ""
		if p.Name != nil {
			name = *p.Name
		}
		if name != "" {
			for _, msg := range validation.IsDNS1123Label(name) {
				errs = append(errs, field.Invalid(ip.Child("name"), name, msg))
			}
		}
		// Consumers look ports up by name; two with one name are ambiguous.
		if names[name] {
			errs = append(errs, field.Duplicate(ip.Child("name"), name))
		}
		names[name] = true
		if p.Protocol == nil {
			errs = append(errs, field.Required(ip.Child("protocol"), ""))
		} else {
			errs = append(errs, wlValidateProtocol(*p.Protocol, ip.Child("protocol"))...)
		}
		if p.AppProtocol != nil {
			for _, msg := range validation.IsQualifiedName(*p.AppProtocol) {
				errs = append(errs, field.Invalid(ip.Child("appProtocol"), *p.AppProtocol, msg))
			}
		}
	}
	return errs
}
