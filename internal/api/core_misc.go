package api

import (
	"bytes"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Endpoints, Events, ResourceQuotas, LimitRanges, PodTemplates and
// ReplicationControllers.

// validateNonSpecialIP rejects addresses that cannot name a remote
// endpoint: unspecified, loopback and link-local.
func validateNonSpecialIP(s string, fld *field.Path) field.ErrorList {
	ip := net.ParseIP(s)
	switch {
	case ip == nil:
		return field.ErrorList{field.Invalid(fld, s, "must be a valid IP address")}
	case ip.IsUnspecified():
		return field.ErrorList{field.Invalid(fld, s, fmt.Sprintf("may not be unspecified (%v)", s))}
	case ip.IsLoopback():
		return field.ErrorList{field.Invalid(fld, s, "may not be in the loopback range (127.0.0.0/8, ::1/128)")}
	case ip.IsLinkLocalUnicast():
		return field.ErrorList{field.Invalid(fld, s, "may not be in the link-local range (169.254.0.0/16, fe80::/10)")}
	case ip.IsLinkLocalMulticast():
		return field.ErrorList{field.Invalid(fld, s, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)")}
	}
	return nil
}

func endpointsStrategy() Strategy {
	return Strategy{
		Validate: func(obj runtime.Object) field.ErrorList { return validateEndpoints(obj.(*corev1.Endpoints)) },
		ValidateUpdate: func(obj, _ runtime.Object) field.ErrorList {
			return validateEndpoints(obj.(*corev1.Endpoints))
		},
		Columns: []metav1.TableColumnDefinition{
			nameColumn,
			col("Endpoints", "string", corev1.Endpoints{}.SwaggerDoc()["subsets"]),
			ageColumn,
		},
		Row: func(obj runtime.Object, now time.Time) []interface{} {
			ep := obj.(*corev1.Endpoints)
			return []interface{}{ep.Name, formatEndpoints(ep), TranslateTimestampSince(ep.CreationTimestamp, now)}
		},
	}
}

func validateEndpoints(ep *corev1.Endpoints) field.ErrorList {
	errs := validateNamespacedMeta(&ep.ObjectMeta, apivalidation.NameIsDNSSubdomain)
	subsets := field.NewPath("subsets")
	for i := range ep.Subsets {
		ss := &ep.Subsets[i]
		p := subsets.Index(i)
		if len(ss.Addresses) == 0 && len(ss.NotReadyAddresses) == 0 {
			errs = append(errs, field.Required(p, "must specify `addresses` or `notReadyAddresses`"))
		}
		for j := range ss.Addresses {
			errs = append(errs, validateEndpointAddress(&ss.Addresses[j], p.Child("addresses").Index(j))...)
		}
		for j := range ss.NotReadyAddresses {
			errs = append(errs, validateEndpointAddress(&ss.NotReadyAddresses[j], p.Child("notReadyAddresses").Index(j))...)
		}
		for j, port := range ss.Ports {
			pp := p.Child("ports").Index(j)
			if len(ss.Ports) > 1 && port.Name == "" {
				errs = append(errs, field.Required(pp.Child("name"), ""))
			} else if port.Name != "" {
				errs = append(errs, validateDNS1123Label(port.Name, pp.Child("name"))...)
			}
			errs = append(errs, validatePortNum(port.Port, pp.Child("port"))...)
			errs = append(errs, validateProtocol(port.Protocol, pp.Child("protocol"))...)
			if port.AppProtocol != nil {
				errs = append(errs, validateQualifiedName(*port.AppProtocol, pp.Child("appProtocol"))...)
			}
		}
	}
	return errs
}

func validateEndpointAddress(a *corev1.EndpointAddress, fld *field.Path) field.ErrorList {
	errs := validateIP(a.IP, fld.Child("ip"))
	if len(errs) == 0 {
		errs = append(errs, validateNonSpecialIP(a.IP, fld.Child("ip"))...)
	}
	if a.Hostname != "" {
		errs = append(errs, validateDNS1123Label(a.Hostname, fld.Child("hostname"))...)
	}
	if a.NodeName != nil && *a.NodeName != "" {
		for _, msg := range apivalidation.NameIsDNSSubdomain(*a.NodeName, false) {
			errs = append(errs, field.Invalid(fld.Child("nodeName"), *a.NodeName, msg))
		}
	}
	return errs
}

// formatEndpoints lists up to three ip:port pairs, then "+ N more...".
func formatEndpoints(ep *corev1.Endpoints) string {
	if len(ep.Subsets) == 0 {
		return "<none>"
	}
	const max = 3
	var list []string
	more, count := false, 0
	add := func(s string) {
		if len(list) == max {
			more = true
			return
		}
		list = append(list, s)
	}
	for _, ss := range ep.Subsets {
		if len(ss.Ports) == 0 {
			// Headless services may have no ports.
			count += len(ss.Addresses)
			for _, a := range ss.Addresses {
				add(a.IP)
			}
			continue
		}
		for _, port := range ss.Ports {
			count += len(ss.Addresses)
			for _, a := range ss.Addresses {
				add(net.JoinHostPort(a.IP, strconv.Itoa(int(port.Port))))
			}
		}
	}
	s := strings.Join(list, ",")
	if more {
		return fmt.Sprintf("%s + %d more...", s, count-max)
	}
	return s
}

func eventStrategy() Strategy {
	return Strategy{
		Validate:       func(obj runtime.Object) field.ErrorList { return validateEvent(obj.(*corev1.Event)) },
		ValidateUpdate: func(obj, _ runtime.Object) field.ErrorList { return validateEvent(obj.(*corev1.Event)) },
		Columns:        eventColumns,
		Row:            func(obj runtime.Object, now time.Time) []interface{} { return eventRow(obj.(*corev1.Event), now) },
		Fields:         func(obj runtime.Object) fields.Set { return eventFields(obj.(*corev1.Event)) },
	}
}

// Length limits of events written by the newer events API.
const (
	eventReportingInstanceMax = 128
	eventActionMax            = 128
	eventReasonMax            = 128
	eventNoteMax              = 1024
)

// validateEvent applies Kubernetes' core/v1 event rules: the event lives in
// its object's namespace; "new style" events (with eventTime) also need the
// reporting fields.
func validateEvent(e *corev1.Event) field.ErrorList {
	errs := validateNamespacedMeta(&e.ObjectMeta, apivalidation.NameIsDNSSubdomain)
	io := e.InvolvedObject
	nsPath := field.NewPath("involvedObject", "namespace")
	// An event must be about something.
	if io.Kind == "" && io.Name == "" && io.UID == "" {
		errs = append(errs, field.Required(field.NewPath("involvedObject"), ""))
	}
	if e.EventTime.IsZero() {
		if io.Namespace == "" {
			// Events about cluster-scoped objects go to "default".
			if e.Namespace != metav1.NamespaceNone && e.Namespace != metav1.NamespaceDefault {
				errs = append(errs, field.Invalid(nsPath, io.Namespace, "does not match event.namespace"))
			}
		} else if e.Namespace != io.Namespace {
			errs = append(errs, field.Invalid(nsPath, io.Namespace, "does not match event.namespace"))
		}
		return errs
	}
	if io.Namespace == "" && e.Namespace != metav1.NamespaceDefault && e.Namespace != metav1.NamespaceSystem {
		errs = append(errs, field.Invalid(nsPath, io.Namespace, "does not match event.namespace"))
	}
	if e.ReportingController == "" {
		errs = append(errs, field.Required(field.NewPath("reportingComponent"), ""))
	}
	errs = append(errs, validateQualifiedName(e.ReportingController, field.NewPath("reportingComponent"))...)
	if e.ReportingInstance == "" {
		errs = append(errs, field.Required(field.NewPath("reportingInstance"), ""))
	}
	if len(e.ReportingInstance) > eventReportingInstanceMax {
		errs = append(errs, field.Invalid(field.NewPath("reportingInstance"), "", fmt.Sprintf("can have at most %v characters", eventReportingInstanceMax)))
	}
	if e.Action == "" {
		errs = append(errs, field.Required(field.NewPath("action"), ""))
	}
	if len(e.Action) > eventActionMax {
		errs = append(errs, field.Invalid(field.NewPath("action"), "", fmt.Sprintf("can have at most %v characters", eventActionMax)))
	}
	if e.Reason == "" {
		errs = append(errs, field.Required(field.NewPath("reason"), ""))
	}
	if len(e.Reason) > eventReasonMax {
		errs = append(errs, field.Invalid(field.NewPath("reason"), "", fmt.Sprintf("can have at most %v characters", eventReasonMax)))
	}
	if len(e.Message) > eventNoteMax {
		errs = append(errs, field.Invalid(field.NewPath("message"), "", fmt.Sprintf("can have at most %v characters", eventNoteMax)))
	}
	return errs
}

var (
	eventDoc     = corev1.Event{}.SwaggerDoc()
	eventColumns = []metav1.TableColumnDefinition{
		col("Last Seen", "string", eventDoc["lastTimestamp"]),
		col("Type", "string", eventDoc["type"]),
		col("Reason", "string", eventDoc["reason"]),
		col("Object", "string", eventDoc["involvedObject"]),
		wideCol("Subobject", "string", corev1.ObjectReference{}.SwaggerDoc()["fieldPath"]),
		wideCol("Source", "string", eventDoc["source"]),
		col("Message", "string", eventDoc["message"]),
		wideCol("First Seen", "string", eventDoc["firstTimestamp"]),
		wideCol("Count", "string", eventDoc["count"]),
		{Name: "Name", Type: "string", Format: "name", Priority: 1, Description: objectMetaDoc["name"]},
	}
)

// eventRow: times fall back from lastTimestamp to firstTimestamp to
// eventTime; series events report their latest observation and count.
func eventRow(e *corev1.Event, now time.Time) []interface{} {
	first := TranslateTimestampSince(e.FirstTimestamp, now)
	if e.FirstTimestamp.IsZero() {
		first = translateMicroTimestampSince(e.EventTime, now)
	}
	last := TranslateTimestampSince(e.LastTimestamp, now)
	if e.LastTimestamp.IsZero() {
		last = first
	}
	count := e.Count
	if e.Series != nil {
		last = translateMicroTimestampSince(e.Series.LastObservedTime, now)
		count = e.Series.Count
	} else if count == 0 {
		count = 1 // new-style singleton events have no count
	}
	target := strings.ToLower(e.InvolvedObject.Kind)
	if e.InvolvedObject.Name != "" {
		target += "/" + e.InvolvedObject.Name
	}
	return []interface{}{
		last, e.Type, e.Reason, target, e.InvolvedObject.FieldPath,
		eventSource(e), strings.TrimSpace(e.Message), first, int64(count), e.Name,
	}
}

func eventSource(e *corev1.Event) string {
	component, host := e.Source.Component, e.Source.Host
	if component == "" {
		component = e.ReportingController
	}
	if host == "" {
		host = e.ReportingInstance
	}
	switch {
	case component == "" && host == "":
		return ""
	case host == "":
		return component
	}
	return component + ", " + host
}

func eventFields(e *corev1.Event) fields.Set {
	source := e.Source.Component
	if source == "" {
		source = e.ReportingController
	}
	io := e.InvolvedObject
	return fields.Set{
		"involvedObject.kind":            io.Kind,
		"involvedObject.namespace":       io.Namespace,
		"involvedObject.name":            io.Name,
		"involvedObject.uid":             string(io.UID),
		"involvedObject.apiVersion":      io.APIVersion,
		"involvedObject.resourceVersion": io.ResourceVersion,
		"involvedObject.fieldPath":       io.FieldPath,
		"reason":                         e.Reason,
		"reportingComponent":             e.ReportingController,
		"source":                         source,
		"type":                           e.Type,
	}
}

// standardQuotaResources are the quota names without a domain that
// Kubernetes understands.
var standardQuotaResources = map[corev1.ResourceName]bool{
	corev1.ResourcePods: true, corev1.ResourceServices: true, corev1.ResourceReplicationControllers: true,
	corev1.ResourceQuotas: true, corev1.ResourceSecrets: true, corev1.ResourceConfigMaps: true,
	corev1.ResourcePersistentVolumeClaims: true, corev1.ResourceServicesNodePorts: true,
	corev1.ResourceServicesLoadBalancers: true, corev1.ResourceCPU: true, corev1.ResourceMemory: true,
	corev1.ResourceEphemeralStorage: true, corev1.ResourceRequestsCPU: true, corev1.ResourceRequestsMemory: true,
	corev1.ResourceRequestsStorage: true, corev1.ResourceRequestsEphemeralStorage: true,
	corev1.ResourceLimitsCPU: true, corev1.ResourceLimitsMemory: true, corev1.ResourceLimitsEphemeralStorage: true,
}

var standardQuotaScopes = []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeNotTerminating,
	corev1.ResourceQuotaScopeBestEffort, corev1.ResourceQuotaScopeNotBestEffort, corev1.ResourceQuotaScopePriorityClass,
	corev1.ResourceQuotaScopeCrossNamespacePodAffinity, corev1.ResourceQuotaScopeVolumeAttributesClass}

func validateQuotaResourceName(name corev1.ResourceName, fld *field.Path) field.ErrorList {
	errs := validateQualifiedName(string(name), fld)
	if len(errs) > 0 || strings.Contains(string(name), "/") {
		return errs
	}
	if standardQuotaResources[name] || isHugePageResource(name) ||
		strings.HasPrefix(string(name), corev1.DefaultResourceRequestsPrefix+corev1.ResourceHugePagesPrefix) {
		return nil
	}
	return field.ErrorList{field.Invalid(fld, name, "must be a standard resource for quota")}
}

func resourceQuotaStrategy() Strategy {
	return Strategy{
		Validate: func(obj runtime.Object) field.ErrorList { return validateResourceQuota(obj.(*corev1.ResourceQuota)) },
		ValidateUpdate: func(obj, _ runtime.Object) field.ErrorList {
			return validateResourceQuota(obj.(*corev1.ResourceQuota))
		},
		Columns: []metav1.TableColumnDefinition{
			nameColumn,
			ageColumn,
			col("Request", "string", "Request represents a minimum amount of cpu/memory that a container may consume."),
			col("Limit", "string", "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node."),
		},
		Row: func(obj runtime.Object, now time.Time) []interface{} {
			return resourceQuotaRow(obj.(*corev1.ResourceQuota), now)
		},
	}
}

func validateResourceQuota(q *corev1.ResourceQuota) field.ErrorList {
	errs := validateNamespacedMeta(&q.ObjectMeta, apivalidation.NameIsDNSSubdomain)
	check := func(list corev1.ResourceList, fld *field.Path) {
		for _, name := range sortedResourceNames(list) {
			p := fld.Key(string(name))
			errs = append(errs, validateQuotaResourceName(name, p)...)
			errs = append(errs, validateQuantity(name, list[name], p)...)
		}
	}
	check(q.Spec.Hard, field.NewPath("spec", "hard"))
	check(q.Status.Hard, field.NewPath("status", "hard"))
	check(q.Status.Used, field.NewPath("status", "used"))
	for _, s := range q.Spec.Scopes {
		if !scopeSupported(s) {
			errs = append(errs, field.Invalid(field.NewPath("spec", "scopes"), q.Spec.Scopes, "unsupported scope"))
		}
	}
	if sel := q.Spec.ScopeSelector; sel != nil {
		for i, r := range sel.MatchExpressions {
			p := field.NewPath("spec", "scopeSelector", "matchExpressions").Index(i)
			if !scopeSupported(r.ScopeName) {
				errs = append(errs, field.Invalid(p.Child("scopeName"), r.ScopeName, "unsupported scope"))
			}
			errs = append(errs, validateEnum(r.Operator, []corev1.ScopeSelectorOperator{corev1.ScopeSelectorOpDoesNotExist,
				corev1.ScopeSelectorOpExists, corev1.ScopeSelectorOpIn, corev1.ScopeSelectorOpNotIn}, p.Child("operator"))...)
		}
	}
	return errs
}

func scopeSupported(s corev1.ResourceQuotaScope) bool {
	for _, x := range standardQuotaScopes {
		if s == x {
			return true
		}
	}
	return false
}

// resourceQuotaRow shows "name: used/hard" pairs; limits.* go to the LIMIT
// column, everything else to REQUEST.
func resourceQuotaRow(q *corev1.ResourceQuota, now time.Time) []interface{} {
	var req, lim bytes.Buffer
	for _, name := range sortedResourceNames(q.Status.Hard) {
		used := q.Status.Used[name]
		hard := q.Status.Hard[name]
		w := &req
		if parts := strings.Split(string(name), "."); len(parts) > 1 && parts[0] == "limits" {
			w = &lim
		}
		fmt.Fprintf(w, "%s: %s/%s, ", name, used.String(), hard.String())
	}
	return []interface{}{
		q.Name, TranslateTimestampSince(q.CreationTimestamp, now),
		strings.TrimSuffix(req.String(), ", "), strings.TrimSuffix(lim.String(), ", "),
	}
}

func limitRangeStrategy() Strategy {
	return Strategy{
		Default:        func(obj runtime.Object) { defaultLimitRange(obj.(*corev1.LimitRange)) },
		Validate:       func(obj runtime.Object) field.ErrorList { return validateLimitRange(obj.(*corev1.LimitRange)) },
		ValidateUpdate: func(obj, _ runtime.Object) field.ErrorList { return validateLimitRange(obj.(*corev1.LimitRange)) },
		Columns: []metav1.TableColumnDefinition{
			nameColumn,
			{Name: "Created At", Type: "date", Description: objectMetaDoc["creationTimestamp"]},
		},
		Row: func(obj runtime.Object, _ time.Time) []interface{} {
			lr := obj.(*corev1.LimitRange)
			// Kubernetes sends the timestamp itself; kubectl formats it.
			var created interface{}
			if !lr.CreationTimestamp.IsZero() {
				created = lr.CreationTimestamp.UTC().Format(time.RFC3339)
			}
			return []interface{}{lr.Name, created}
		},
	}
}

// defaultLimitRange: for containers, a missing default limit is the max,
// and a missing default request is the default limit, else the min.
func defaultLimitRange(lr *corev1.LimitRange) {
	for i := range lr.Spec.Limits {
		item := &lr.Spec.Limits[i]
		if item.Type != corev1.LimitTypeContainer {
			continue
		}
		if item.Default == nil {
			item.Default = corev1.ResourceList{}
		}
		if item.DefaultRequest == nil {
			item.DefaultRequest = corev1.ResourceList{}
		}
		for k, v := range item.Max {
			if _, ok := item.Default[k]; !ok {
				item.Default[k] = v.DeepCopy()
			}
		}
		for k, v := range item.Default {
			if _, ok := item.DefaultRequest[k]; !ok {
				item.DefaultRequest[k] = v.DeepCopy()
			}
		}
		for k, v := range item.Min {
			if _, ok := item.DefaultRequest[k]; !ok {
				item.DefaultRequest[k] = v.DeepCopy()
			}
		}
	}
}

func validateLimitRange(lr *corev1.LimitRange) field.ErrorList {
	errs := validateNamespacedMeta(&lr.ObjectMeta, apivalidation.NameIsDNSSubdomain)
	limitsPath := field.NewPath("spec", "limits")
	seenTypes := map[corev1.LimitType]bool{}
	for i := range lr.Spec.Limits {
		item := &lr.Spec.Limits[i]
		p := limitsPath.Index(i)
		errs = append(errs, validateEnum(item.Type, []corev1.LimitType{corev1.LimitTypeContainer, corev1.LimitTypePod,
			corev1.LimitTypePersistentVolumeClaim}, p.Child("type"))...)
		if seenTypes[item.Type] {
			errs = append(errs, field.Duplicate(p.Child("type"), item.Type))
		}
		seenTypes[item.Type] = true
		if item.Type == corev1.LimitTypePod {
			if len(item.Default) > 0 {
				errs = append(errs, field.Forbidden(p.Child("default"), "may not be specified when `type` is 'Pod'"))
			}
			if len(item.DefaultRequest) > 0 {
				errs = append(errs, field.Forbidden(p.Child("defaultRequest"), "may not be specified when `type` is 'Pod'"))
			}
		}
		for _, part := range []struct {
			name string
			list corev1.ResourceList
		}{{"max", item.Max}, {"min", item.Min}, {"default", item.Default}, {"defaultRequest", item.DefaultRequest}, {"maxLimitRequestRatio", item.MaxLimitRequestRatio}} {
			for _, name := range sortedResourceNames(part.list) {
				kp := p.Child(part.name).Key(string(name))
				errs = append(errs, validateQualifiedName(string(name), kp)...)
				errs = append(errs, validateQuantity(name, part.list[name], kp)...)
			}
		}
		for _, name := range sortedResourceNames(item.Min) {
			min := item.Min[name]
			if max, ok := item.Max[name]; ok && min.Cmp(max) > 0 {
				errs = append(errs, field.Invalid(p.Child("min").Key(string(name)), min.String(),
					fmt.Sprintf("min value %s is greater than max value %s", min.String(), max.String())))
			}
		}
		for _, name := range sortedResourceNames(item.Default) {
			def := item.Default[name]
			kp := p.Child("default").Key(string(name))
			if min, ok := item.Min[name]; ok && min.Cmp(def) > 0 {
				errs = append(errs, field.Invalid(kp, def.String(), fmt.Sprintf("min value %s is greater than default value %s", min.String(), def.String())))
			}
			if max, ok := item.Max[name]; ok && def.Cmp(max) > 0 {
				errs = append(errs, field.Invalid(kp, def.String(), fmt.Sprintf("default value %s is greater than max value %s", def.String(), max.String())))
			}
		}
		for _, name := range sortedResourceNames(item.DefaultRequest) {
			req := item.DefaultRequest[name]
			kp := p.Child("defaultRequest").Key(string(name))
			if min, ok := item.Min[name]; ok && min.Cmp(req) > 0 {
				errs = append(errs, field.Invalid(kp, req.String(), fmt.Sprintf("min value %s is greater than default request value %s", min.String(), req.String())))
			}
			if max, ok := item.Max[name]; ok && req.Cmp(max) > 0 {
				errs = append(errs, field.Invalid(kp, req.String(), fmt.Sprintf("default request value %s is greater than max value %s", req.String(), max.String())))
			}
			if def, ok := item.Default[name]; ok && req.Cmp(def) > 0 {
				errs = append(errs, field.Invalid(kp, req.String(), fmt.Sprintf("default request value %s is greater than default limit value %s", req.String(), def.String())))
			}
		}
		for _, name := range sortedResourceNames(item.MaxLimitRequestRatio) {
			ratio := item.MaxLimitRequestRatio[name]
			if ratio.MilliValue() < 1000 {
				errs = append(errs, field.Invalid(p.Child("maxLimitRequestRatio").Key(string(name)), ratio.String(),
					fmt.Sprintf("ratio %s is less than 1", ratio.String())))
			}
		}
	}
	return errs
}

func podTemplateStrategy() Strategy {
	return Strategy{
		Default: func(obj runtime.Object) { DefaultPodSpec(&obj.(*corev1.PodTemplate).Template.Spec) },
		Validate: func(obj runtime.Object) field.ErrorList {
			return validatePodTemplate(obj.(*corev1.PodTemplate))
		},
		ValidateUpdate: func(obj, _ runtime.Object) field.ErrorList {
			return validatePodTemplate(obj.(*corev1.PodTemplate))
		},
		Columns: []metav1.TableColumnDefinition{
			nameColumn,
			col("Containers", "string", "Names of each container in the template."),
			col("Images", "string", "Images referenced by each container in the template."),
			col("Pod Labels", "string", "The labels for the pod template."),
		},
		Row: func(obj runtime.Object, _ time.Time) []interface{} {
			pt := obj.(*corev1.PodTemplate)
			names, images := containerCells(pt.Template.Spec.Containers)
			return []interface{}{pt.Name, names, images, labels.FormatLabels(pt.Template.Labels)}
		},
	}
}

func validatePodTemplate(pt *corev1.PodTemplate) field.ErrorList {
	errs := validateNamespacedMeta(&pt.ObjectMeta, apivalidation.NameIsDNSSubdomain)
	return append(errs, ValidatePodTemplateSpec(&pt.Template, field.NewPath("template"))...)
}

func replicationControllerStrategy() Strategy {
	return Strategy{
		Default: func(obj runtime.Object) { defaultReplicationController(obj.(*corev1.ReplicationController)) },
		Validate: func(obj runtime.Object) field.ErrorList {
			return validateReplicationController(obj.(*corev1.ReplicationController))
		},
		ValidateUpdate: func(obj, _ runtime.Object) field.ErrorList {
			return validateReplicationController(obj.(*corev1.ReplicationController))
		},
		Columns: rcColumns,
		Row: func(obj runtime.Object, now time.Time) []interface{} {
			return rcRow(obj.(*corev1.ReplicationController), now)
		},
		Fields: func(obj runtime.Object) fields.Set {
			return fields.Set{"status.replicas": strconv.Itoa(int(obj.(*corev1.ReplicationController).Status.Replicas))}
		},
	}
}

// defaultReplicationController: the selector and the controller's own
// labels default to the template's labels; replicas to 1.
func defaultReplicationController(rc *corev1.ReplicationController) {
	if t := rc.Spec.Template; t != nil {
		if t.Labels != nil {
			if len(rc.Spec.Selector) == 0 {
				rc.Spec.Selector = copyStringMap(t.Labels)
			}
			if len(rc.Labels) == 0 {
				rc.Labels = copyStringMap(t.Labels)
			}
		}
		DefaultPodSpec(&t.Spec)
	}
	if rc.Spec.Replicas == nil {
		one := int32(1)
		rc.Spec.Replicas = &one
	}
}

func copyStringMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func validateReplicationController(rc *corev1.ReplicationController) field.ErrorList {
	errs := validateNamespacedMeta(&rc.ObjectMeta, apivalidation.NameIsDNSSubdomain)
	spec := field.NewPath("spec")
	errs = append(errs, validateNonnegative(int64(rc.Spec.MinReadySeconds), spec.Child("minReadySeconds"))...)
	if len(rc.Spec.Selector) == 0 {
		errs = append(errs, field.Required(spec.Child("selector"), ""))
	} else {
		errs = append(errs, validateLabels(rc.Spec.Selector, spec.Child("selector"))...)
	}
	if rc.Spec.Replicas != nil {
		errs = append(errs, validateNonnegative(int64(*rc.Spec.Replicas), spec.Child("replicas"))...)
	}
	tp := spec.Child("template")
	t := rc.Spec.Template
	if t == nil {
		return append(errs, field.Required(tp, ""))
	}
	if len(rc.Spec.Selector) > 0 && !labels.SelectorFromSet(rc.Spec.Selector).Matches(labels.Set(t.Labels)) {
		errs = append(errs, field.Invalid(tp.Child("metadata", "labels"), t.Labels, "`selector` does not match template `labels`"))
	}
	errs = append(errs, ValidatePodTemplateSpec(t, tp)...)
	// A controller keeps its pods running: they may neither exit for good
	// nor have a deadline.
	if t.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		errs = append(errs, field.NotSupported(tp.Child("spec", "restartPolicy"), t.Spec.RestartPolicy, []corev1.RestartPolicy{corev1.RestartPolicyAlways}))
	}
	if t.Spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, field.Forbidden(tp.Child("spec", "activeDeadlineSeconds"), "activeDeadlineSeconds in ReplicationController is not Supported"))
	}
	return errs
}

var (
	rcSpecDoc   = corev1.ReplicationControllerSpec{}.SwaggerDoc()
	rcStatusDoc = corev1.ReplicationControllerStatus{}.SwaggerDoc()
	rcColumns   = []metav1.TableColumnDefinition{
		nameColumn,
		col("Desired", "integer", rcSpecDoc["replicas"]),
		col("Current", "integer", rcStatusDoc["replicas"]),
		col("Ready", "integer", rcStatusDoc["readyReplicas"]),
		ageColumn,
		wideCol("Containers", "string", "Names of each container in the template."),
		wideCol("Images", "string", "Images referenced by each container in the template."),
		wideCol("Selector", "string", rcSpecDoc["selector"]),
	}
)

func rcRow(rc *corev1.ReplicationController, now time.Time) []interface{} {
	desired := int64(0)
	if rc.Spec.Replicas != nil {
		desired = int64(*rc.Spec.Replicas)
	}
	var names, images string
	if rc.Spec.Template != nil {
		names, images = containerCells(rc.Spec.Template.Spec.Containers)
	}
	return []interface{}{
		rc.Name, desired, int64(rc.Status.Replicas), int64(rc.Status.ReadyReplicas),
		TranslateTimestampSince(rc.CreationTimestamp, now), names, images, labels.FormatLabels(rc.Spec.Selector),
	}
}
