package api

import (
	"fmt"
	"math"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const (
	// Tolerations Kubernetes' DefaultTolerationSeconds admission adds, so
	// pods are evicted five minutes after their node goes away.
	defaultNotReadyTolerationSeconds int64 = 300
	// Priorities of the two built-in PriorityClasses.
	systemClusterCriticalPriority int32 = 2000000000
	systemNodeCriticalPriority    int32 = 2000001000
	// nodeUnreachablePodReason is what the node controller sets on pods of
	// a lost node; kubectl shows such pods as "Unknown".
	nodeUnreachablePodReason = "NodeLost"
)

func podStrategy() Strategy {
	return Strategy{
		Default:          func(obj runtime.Object) { defaultPod(obj.(*corev1.Pod)) },
		PrepareForCreate: func(obj runtime.Object) { preparePodForCreate(obj.(*corev1.Pod)) },
		PrepareForUpdate: func(obj, old runtime.Object) { preparePodForUpdate(obj.(*corev1.Pod), old.(*corev1.Pod)) },
		Validate:         func(obj runtime.Object) field.ErrorList { return validatePod(obj.(*corev1.Pod)) },
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
			return validatePodUpdate(obj.(*corev1.Pod), old.(*corev1.Pod))
		},
		ValidateStatusUpdate: func(obj, _ runtime.Object) field.ErrorList { return validatePodStatusUpdate(obj.(*corev1.Pod)) },
		Columns:              podColumns,
		Row:                  func(obj runtime.Object, now time.Time) []interface{} { return podRow(obj.(*corev1.Pod), now) },
		Fields:               func(obj runtime.Object) fields.Set { return podFields(obj.(*corev1.Pod)) },
	}
}

// defaultPod applies the v1 defaults; it runs on every write.
func defaultPod(pod *corev1.Pod) {
	DefaultPodSpec(&pod.Spec)
	// Pod-only defaults (not applied to templates).
	if pod.Spec.EnableServiceLinks == nil {
		t := true
		pod.Spec.EnableServiceLinks = &t
	}
	// A limit without a request means the request equals the limit; this
	// is what makes a limits-only pod Guaranteed.
	for i := range pod.Spec.Containers {
		defaultRequestsFromLimits(&pod.Spec.Containers[i].Resources)
	}
	for i := range pod.Spec.InitContainers {
		defaultRequestsFromLimits(&pod.Spec.InitContainers[i].Resources)
	}
}

func defaultRequestsFromLimits(r *corev1.ResourceRequirements) {
	if len(r.Limits) == 0 {
		return
	}
	if r.Requests == nil {
		r.Requests = corev1.ResourceList{}
	}
	for name, q := range r.Limits {
		if _, ok := r.Requests[name]; !ok {
			r.Requests[name] = q.DeepCopy()
		}
	}
}

// preparePodForCreate sets what Kubernetes' pod strategy and its default
// admission plugins set on a new pod.
func preparePodForCreate(pod *corev1.Pod) {
	// The server may run this before Default; QoS needs the defaulted
	// requests, and defaulting twice is harmless.
	defaultPod(pod)
	// ServiceAccount admission: every pod runs as some service account.
	if pod.Spec.ServiceAccountName == "" {
		pod.Spec.ServiceAccountName = "default"
	}
	pod.Spec.DeprecatedServiceAccount = pod.Spec.ServiceAccountName
	addDefaultTolerations(pod)
	defaultPodPriority(pod)

	pod.Status = corev1.PodStatus{Phase: corev1.PodPending, QOSClass: PodQOSClass(pod)}
	if len(pod.Spec.SchedulingGates) > 0 {
		pod.Status.Conditions = []corev1.PodCondition{{
			Type:    corev1.PodScheduled,
			Status:  corev1.ConditionFalse,
			Reason:  corev1.PodReasonSchedulingGated,
			Message: "Scheduling is blocked due to non-empty scheduling gates",
		}}
	}
}

// preparePodForUpdate carries over what admission set on create, so that a
// client replacing the pod with its original manifest does not trip the
// "pod updates may not change fields" rule.
func preparePodForUpdate(pod, old *corev1.Pod) {
	defaultPod(pod)
	if pod.Spec.ServiceAccountName == "" {
		pod.Spec.ServiceAccountName = old.Spec.ServiceAccountName
		pod.Spec.DeprecatedServiceAccount = pod.Spec.ServiceAccountName
	}
	if pod.Spec.Priority == nil {
		pod.Spec.Priority = old.Spec.Priority
	}
	if pod.Spec.PreemptionPolicy == nil {
		pod.Spec.PreemptionPolicy = old.Spec.PreemptionPolicy
	}
	// DefaultTolerationSeconds admission runs on update too.
	addDefaultTolerations(pod)
}

// addDefaultTolerations adds the not-ready and unreachable NoExecute
// tolerations (300s) unless the pod already tolerates those taints.
func addDefaultTolerations(pod *corev1.Pod) {
	notReady, unreachable := false, false
	for _, t := range pod.Spec.Tolerations {
		anyEffect := t.Effect == "" || t.Effect == corev1.TaintEffectNoExecute
		if anyEffect && (t.Key == "" || t.Key == corev1.TaintNodeNotReady) {
			notReady = true
		}
		if anyEffect && (t.Key == "" || t.Key == corev1.TaintNodeUnreachable) {
			unreachable = true
		}
	}
	add := func(key string) {
		s := defaultNotReadyTolerationSeconds
		pod.Spec.Tolerations = append(pod.Spec.Tolerations, corev1.Toleration{
			Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &s,
		})
	}
	if !notReady {
		add(corev1.TaintNodeNotReady)
	}
	if !unreachable {
		add(corev1.TaintNodeUnreachable)
	}
}

// defaultPodPriority does what Priority admission does when no
// PriorityClass is marked default: priority 0, or the value of a built-in
// class. Other class names are left alone (Gureum does not serve
// PriorityClasses yet).
func defaultPodPriority(pod *corev1.Pod) {
	if pod.Spec.Priority != nil {
		return
	}
	var p int32
	switch pod.Spec.PriorityClassName {
	case "":
		p = 0
	case "system-cluster-critical":
		p = systemClusterCriticalPriority
	case "system-node-critical":
		p = systemNodeCriticalPriority
	default:
		return
	}
	pod.Spec.Priority = &p
	if pod.Spec.PreemptionPolicy == nil {
		pp := corev1.PreemptLowerPriority
		pod.Spec.PreemptionPolicy = &pp
	}
}

// PodQOSClass computes a pod's quality of service class from its
// containers' cpu and memory requests and limits: Guaranteed when every
// container has equal cpu and memory requests and limits, BestEffort when
// none has any, Burstable otherwise.
func PodQOSClass(pod *corev1.Pod) corev1.PodQOSClass {
	requests := corev1.ResourceList{}
	limits := corev1.ResourceList{}
	guaranteed := true
	containers := append(append([]corev1.Container{}, pod.Spec.Containers...), pod.Spec.InitContainers...)
	add := func(list corev1.ResourceList, name corev1.ResourceName, q resource.Quantity) {
		sum := q.DeepCopy()
		if prev, ok := list[name]; ok {
			sum.Add(prev)
		}
		list[name] = sum
	}
	for _, c := range containers {
		for name, q := range c.Resources.Requests {
			if (name == corev1.ResourceCPU || name == corev1.ResourceMemory) && q.Sign() > 0 {
				add(requests, name, q)
			}
		}
		limited := map[corev1.ResourceName]bool{}
		for name, q := range c.Resources.Limits {
			if (name == corev1.ResourceCPU || name == corev1.ResourceMemory) && q.Sign() > 0 {
				limited[name] = true
				add(limits, name, q)
			}
		}
		if !limited[corev1.ResourceCPU] || !limited[corev1.ResourceMemory] {
			guaranteed = false
		}
	}
	if len(requests) == 0 && len(limits) == 0 {
		return corev1.PodQOSBestEffort
	}
	if guaranteed {
		for name, req := range requests {
			if lim, ok := limits[name]; !ok || lim.Cmp(req) != 0 {
				guaranteed = false
				break
			}
		}
	}
	if guaranteed && len(requests) == len(limits) {
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}

func validatePod(pod *corev1.Pod) field.ErrorList {
	errs := validateNamespacedMeta(&pod.ObjectMeta, apivalidation.NameIsDNSSubdomain)
	specPath := field.NewPath("spec")
	errs = append(errs, ValidatePodSpec(&pod.Spec, specPath)...)
	// Templates may carry a placeholder image (" ") that something fills
	// in later; a real pod may not.
	for i, c := range pod.Spec.Containers {
		if c.Image != strings.TrimSpace(c.Image) {
			errs = append(errs, field.Invalid(specPath.Child("containers").Index(i).Child("image"), c.Image, "must not have leading or trailing whitespace"))
		}
	}
	for i, c := range pod.Spec.InitContainers {
		if c.Image != strings.TrimSpace(c.Image) {
			errs = append(errs, field.Invalid(specPath.Child("initContainers").Index(i).Child("image"), c.Image, "must not have leading or trailing whitespace"))
		}
	}
	return errs
}

// validatePodStatusUpdate checks a pod status report as Kubernetes does:
// the metadata (labels and annotations may change with it) and the
// status's node name and addresses. The spec is the stored one, already
// checked: validating it and comparing it with itself on every report was
// 2% of a pod burst's CPU.
func validatePodStatusUpdate(pod *corev1.Pod) field.ErrorList {
	errs := validateNamespacedMeta(&pod.ObjectMeta, apivalidation.NameIsDNSSubdomain)
	statusPath := field.NewPath("status")
	if n := pod.Status.NominatedNodeName; n != "" {
		for _, msg := range validation.IsDNS1123Subdomain(n) {
			errs = append(errs, field.Invalid(statusPath.Child("nominatedNodeName"), n, msg))
		}
	}
	podIPs := make([]string, len(pod.Status.PodIPs))
	for i, ip := range pod.Status.PodIPs {
		podIPs[i] = ip.IP
	}
	errs = append(errs, validateStatusIPs(pod.Status.PodIP, podIPs, statusPath.Child("podIP"), statusPath.Child("podIPs"))...)
	hostIPs := make([]string, len(pod.Status.HostIPs))
	for i, ip := range pod.Status.HostIPs {
		hostIPs[i] = ip.IP
	}
	return append(errs, validateStatusIPs(pod.Status.HostIP, hostIPs, statusPath.Child("hostIP"), statusPath.Child("hostIPs"))...)
}

// validateStatusIPs checks a status's address and its list of addresses:
// each valid, the first the address, at most one of each family.
func validateStatusIPs(ip string, ips []string, ipPath, ipsPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if ip != "" {
		errs = append(errs, validateIP(ip, ipPath)...)
	}
	if len(ips) == 0 {
		return errs
	}
	if ips[0] != ip {
		errs = append(errs, field.Invalid(ipsPath.Index(0).Child("ip"), ips[0], "must be equal to "+ipPath.String()))
	}
	if len(ips) > 2 {
		return append(errs, field.TooMany(ipsPath, len(ips), 2))
	}
	v4 := 0
	for i, a := range ips {
		if bad := validateIP(a, ipsPath.Index(i).Child("ip")); len(bad) > 0 {
			return append(errs, bad...)
		}
		if addr, err := netip.ParseAddr(a); err == nil && addr.Is4() {
			v4++
		}
	}
	if len(ips) == 2 && v4 != 1 {
		errs = append(errs, field.Invalid(ipsPath, ips, "may specify no more than one IP for each IP family"))
	}
	return errs
}

// podUpdateForbiddenMsg is Kubernetes' message, word for word: scripts and
// users grep for it.
const podUpdateForbiddenMsg = "pod updates may not change fields other than `spec.containers[*].image`," +
	"`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations)," +
	"`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"

// validatePodUpdate allows only the few pod spec changes Kubernetes allows:
// images, a shorter activeDeadlineSeconds, added tolerations (and changed
// tolerationSeconds), removed scheduling gates, and a negative grace period
// raised to 1.
func validatePodUpdate(pod, old *corev1.Pod) field.ErrorList {
	errs := validatePod(pod)
	specPath := field.NewPath("spec")

	if len(pod.Spec.Containers) != len(old.Spec.Containers) || len(pod.Spec.InitContainers) != len(old.Spec.InitContainers) {
		path := specPath.Child("containers")
		if len(pod.Spec.Containers) == len(old.Spec.Containers) {
			path = specPath.Child("initContainers")
		}
		return append(errs, field.Forbidden(path, "pod updates may not add or remove containers"))
	}

	if pod.Spec.ActiveDeadlineSeconds != nil {
		v := *pod.Spec.ActiveDeadlineSeconds
		if v < 0 || v > math.MaxInt32 {
			return append(errs, field.Invalid(specPath.Child("activeDeadlineSeconds"), v, validation.InclusiveRangeError(0, math.MaxInt32)))
		}
		if old.Spec.ActiveDeadlineSeconds != nil && *old.Spec.ActiveDeadlineSeconds < v {
			return append(errs, field.Invalid(specPath.Child("activeDeadlineSeconds"), v, "must be less than or equal to previous value"))
		}
	} else if old.Spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, field.Invalid(specPath.Child("activeDeadlineSeconds"), pod.Spec.ActiveDeadlineSeconds, "must not update from a positive integer to nil value"))
	}

	errs = append(errs, validateOnlyAddedTolerations(pod.Spec.Tolerations, old.Spec.Tolerations, specPath.Child("tolerations"))...)
	errs = append(errs, validateOnlyRemovedSchedulingGates(pod.Spec.SchedulingGates, old.Spec.SchedulingGates, specPath.Child("schedulingGates"))...)

	// Compare the specs with the mutable parts copied from the old pod.
	munged := pod.Spec.DeepCopy()
	for i := range munged.Containers {
		munged.Containers[i].Image = old.Spec.Containers[i].Image
	}
	for i := range munged.InitContainers {
		munged.InitContainers[i].Image = old.Spec.InitContainers[i].Image
	}
	munged.ActiveDeadlineSeconds = old.Spec.ActiveDeadlineSeconds
	munged.Tolerations = old.Spec.Tolerations
	munged.SchedulingGates = old.Spec.SchedulingGates
	if g, og := munged.TerminationGracePeriodSeconds, old.Spec.TerminationGracePeriodSeconds; og != nil && *og < 0 && g != nil && *g == 1 {
		munged.TerminationGracePeriodSeconds = og
	}
	if !apiequality.Semantic.DeepEqual(*munged, old.Spec) {
		errs = append(errs, field.Forbidden(specPath, podUpdateForbiddenMsg+changedFieldsNote(old.Spec, *munged)))
	}
	return errs
}

// changedFieldsNote names the top-level spec fields that differ, to point
// the user at the offending change (Kubernetes prints a full diff here).
func changedFieldsNote(old, new corev1.PodSpec) string {
	ov, nv := reflect.ValueOf(old), reflect.ValueOf(new)
	var changed []string
	for i := 0; i < ov.NumField(); i++ {
		if !apiequality.Semantic.DeepEqual(ov.Field(i).Interface(), nv.Field(i).Interface()) {
			changed = append(changed, "spec."+strings.Split(ov.Type().Field(i).Tag.Get("json"), ",")[0])
		}
	}
	if len(changed) == 0 {
		return ""
	}
	return "\nchanged: " + strings.Join(changed, ", ")
}

// validateOnlyAddedTolerations lets tolerations be added, and existing ones
// change only their tolerationSeconds.
func validateOnlyAddedTolerations(tolerations, old []corev1.Toleration, fld *field.Path) field.ErrorList {
	for _, o := range old {
		found := false
		for _, t := range tolerations {
			oc := o
			oc.TolerationSeconds = t.TolerationSeconds
			if apiequality.Semantic.DeepEqual(oc, t) {
				found = true
				break
			}
		}
		if !found {
			return field.ErrorList{field.Forbidden(fld, "existing toleration can not be modified except its tolerationSeconds")}
		}
	}
	return nil
}

// validateOnlyRemovedSchedulingGates: gates may be removed (that is how a
// pod is released to the scheduler) but never added or changed.
func validateOnlyRemovedSchedulingGates(gates, old []corev1.PodSchedulingGate, fld *field.Path) field.ErrorList {
	oldNames := map[string]bool{}
	for _, g := range old {
		oldNames[g.Name] = true
	}
	for _, g := range gates {
		if !oldNames[g.Name] {
			return field.ErrorList{field.Forbidden(fld, "only deletion is allowed, but found new scheduling gate '"+g.Name+"'")}
		}
	}
	return nil
}

var (
	podSpecDoc   = corev1.PodSpec{}.SwaggerDoc()
	podStatusDoc = corev1.PodStatus{}.SwaggerDoc()
	podColumns   = []metav1.TableColumnDefinition{
		nameColumn,
		col("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
		col("Status", "string", "The aggregate status of the containers in this pod."),
		col("Restarts", "string", "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),
		ageColumn,
		wideCol("IP", "string", podStatusDoc["podIP"]),
		wideCol("Node", "string", podSpecDoc["nodeName"]),
		wideCol("Nominated Node", "string", podStatusDoc["nominatedNodeName"]),
		wideCol("Readiness Gates", "string", podSpecDoc["readinessGates"]),
	}
)

// podRow reproduces kubectl's pod line: READY counts ready running
// containers (and started sidecars), STATUS is the most telling reason
// (init progress, waiting/terminated reasons, Terminating), RESTARTS adds
// "(5m ago)" after the last restart.
func podRow(pod *corev1.Pod, now time.Time) []interface{} {
	restarts, sidecarRestarts := 0, 0
	total := len(pod.Spec.Containers)
	ready := 0
	var lastRestart, lastSidecarRestart time.Time

	reason := string(pod.Status.Phase)
	if pod.Status.Reason != "" {
		reason = pod.Status.Reason
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Reason == corev1.PodReasonSchedulingGated {
			reason = corev1.PodReasonSchedulingGated
		}
	}

	sidecars := map[string]bool{}
	for _, c := range pod.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sidecars[c.Name] = true
			total++
		}
	}
	later := func(t *time.Time, cs corev1.ContainerStatus) {
		if term := cs.LastTerminationState.Terminated; term != nil && term.FinishedAt.Time.After(*t) {
			*t = term.FinishedAt.Time
		}
	}

	initializing := false
	for i, cs := range pod.Status.InitContainerStatuses {
		restarts += int(cs.RestartCount)
		later(&lastRestart, cs)
		if sidecars[cs.Name] {
			sidecarRestarts += int(cs.RestartCount)
			later(&lastSidecarRestart, cs)
		}
		switch {
		case cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0:
			continue
		case sidecars[cs.Name] && cs.Started != nil && *cs.Started:
			if cs.Ready {
				ready++
			}
			continue
		case cs.State.Terminated != nil:
			t := cs.State.Terminated
			switch {
			case t.Reason != "":
				reason = "Init:" + t.Reason
			case t.Signal != 0:
				reason = fmt.Sprintf("Init:Signal:%d", t.Signal)
			default:
				reason = fmt.Sprintf("Init:ExitCode:%d", t.ExitCode)
			}
		case cs.State.Waiting != nil && cs.State.Waiting.Reason != "" && cs.State.Waiting.Reason != "PodInitializing":
			reason = "Init:" + cs.State.Waiting.Reason
		default:
			reason = fmt.Sprintf("Init:%d/%d", i, len(pod.Spec.InitContainers))
		}
		initializing = true
		break
	}

	if !initializing || podConditionTrue(pod.Status.Conditions, corev1.PodInitialized) {
		restarts = sidecarRestarts
		lastRestart = lastSidecarRestart
		hasRunning := false
		// Walk backwards so the first container's reason wins, as kubectl.
		for i := len(pod.Status.ContainerStatuses) - 1; i >= 0; i-- {
			cs := pod.Status.ContainerStatuses[i]
			restarts += int(cs.RestartCount)
			later(&lastRestart, cs)
			switch {
			case cs.State.Waiting != nil && cs.State.Waiting.Reason != "":
				reason = cs.State.Waiting.Reason
			case cs.State.Terminated != nil && cs.State.Terminated.Reason != "":
				reason = cs.State.Terminated.Reason
			case cs.State.Terminated != nil && cs.State.Terminated.Signal != 0:
				reason = fmt.Sprintf("Signal:%d", cs.State.Terminated.Signal)
			case cs.State.Terminated != nil:
				reason = fmt.Sprintf("ExitCode:%d", cs.State.Terminated.ExitCode)
			case cs.Ready && cs.State.Running != nil:
				hasRunning = true
				ready++
			}
		}
		// A completed container next to a running one: the pod still runs.
		if reason == "Completed" && hasRunning {
			if podConditionTrue(pod.Status.Conditions, corev1.PodReady) {
				reason = "Running"
			} else {
				reason = "NotReady"
			}
		}
	}

	if pod.DeletionTimestamp != nil && pod.Status.Reason == nodeUnreachablePodReason {
		reason = "Unknown"
	} else if pod.DeletionTimestamp != nil && pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed {
		reason = "Terminating"
	}

	restartsCell := strconv.Itoa(restarts)
	if restarts != 0 && !lastRestart.IsZero() {
		restartsCell = fmt.Sprintf("%d (%s ago)", restarts, HumanDuration(now.Sub(lastRestart)))
	}

	ip := ""
	if len(pod.Status.PodIPs) > 0 {
		ip = pod.Status.PodIPs[0].IP
	}
	gates := "<none>"
	if len(pod.Spec.ReadinessGates) > 0 {
		trueCount := 0
		for _, g := range pod.Spec.ReadinessGates {
			for _, c := range pod.Status.Conditions {
				if c.Type == g.ConditionType {
					if c.Status == corev1.ConditionTrue {
						trueCount++
					}
					break
				}
			}
		}
		gates = fmt.Sprintf("%d/%d", trueCount, len(pod.Spec.ReadinessGates))
	}
	return []interface{}{
		pod.Name, fmt.Sprintf("%d/%d", ready, total), reason, restartsCell, TranslateTimestampSince(pod.CreationTimestamp, now),
		orNone(ip), orNone(pod.Spec.NodeName), orNone(pod.Status.NominatedNodeName), gates,
	}
}

func podConditionTrue(conds []corev1.PodCondition, t corev1.PodConditionType) bool {
	for _, c := range conds {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func podFields(pod *corev1.Pod) fields.Set {
	ip := pod.Status.PodIP
	if len(pod.Status.PodIPs) > 0 {
		ip = pod.Status.PodIPs[0].IP
	}
	return fields.Set{
		"spec.nodeName":            pod.Spec.NodeName,
		"spec.restartPolicy":       string(pod.Spec.RestartPolicy),
		"spec.schedulerName":       pod.Spec.SchedulerName,
		"spec.serviceAccountName":  pod.Spec.ServiceAccountName,
		"spec.hostNetwork":         strconv.FormatBool(pod.Spec.HostNetwork),
		"status.phase":             string(pod.Status.Phase),
		"status.podIP":             ip,
		"status.nominatedNodeName": pod.Status.NominatedNodeName,
	}
}
