package agent

import (
	"fmt"
	"slices"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// statusInput is everything the pod status is computed from.
type statusInput struct {
	Pod     *v1.Pod
	Runtime podRuntime
	// Waiting holds reasons from the last sync (pull errors, back-off,
	// config errors) for containers that are not running.
	Waiting     map[string]waitingInfo
	HostIPs     []string
	RuntimeName string // "containerd"
	Now         time.Time
}

// apiTime is t as the API stores it (whole seconds), so a status computed
// again from the same runtime state compares equal to the stored one.
func apiTime(t time.Time) metav1.Time {
	if t.IsZero() {
		return metav1.Time{}
	}
	return metav1.NewTime(t.Truncate(time.Second))
}

// computePodStatus derives the pod's status from the runtime, as the
// kubelet reports it. It does no I/O.
func computePodStatus(in statusInput) v1.PodStatus {
	pod := in.Pod
	old := pod.Status
	st := v1.PodStatus{
		QOSClass:  qosClass(pod),
		StartTime: old.StartTime,
	}
	if st.StartTime == nil {
		t := apiTime(in.Now)
		st.StartTime = &t
	}
	for _, ip := range in.HostIPs {
		st.HostIPs = append(st.HostIPs, v1.HostIP{IP: ip})
	}
	if len(in.HostIPs) > 0 {
		st.HostIP = in.HostIPs[0]
	}
	sb, hasSandbox := in.Runtime.currentSandbox()
	switch {
	case pod.Spec.HostNetwork && len(in.HostIPs) > 0:
		st.PodIP = in.HostIPs[0]
	case hasSandbox && sb.IP != "":
		st.PodIP = sb.IP
	default:
		st.PodIP = old.PodIP
	}
	if st.PodIP != "" {
		st.PodIPs = []v1.PodIP{{IP: st.PodIP}}
	}

	initDone := true
	var incompleteInit []string
	initFailed := false
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		cs := containerStatus(in, c, true, initDone)
		st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
		succeeded := cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0
		if !succeeded {
			incompleteInit = append(incompleteInit, c.Name)
			initDone = false
		}
		if cs.State.Terminated != nil && cs.State.Terminated.ExitCode != 0 && pod.Spec.RestartPolicy == v1.RestartPolicyNever {
			initFailed = true
		}
	}
	var unready []string
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		cs := containerStatus(in, c, false, initDone)
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
		if !cs.Ready {
			unready = append(unready, c.Name)
		}
	}

	st.Phase = podPhase(pod, st, initDone, initFailed)
	if old.Phase == v1.PodSucceeded || old.Phase == v1.PodFailed {
		st.Phase = old.Phase
	}
	terminal := st.Phase == v1.PodSucceeded || st.Phase == v1.PodFailed

	cond := func(t v1.PodConditionType, ok bool, reason, msg string) {
		c := v1.PodCondition{Type: t, Status: v1.ConditionFalse, Reason: reason, Message: msg}
		if ok {
			c.Status, c.Reason, c.Message = v1.ConditionTrue, "", ""
		}
		st.Conditions = append(st.Conditions, c)
	}
	cond(v1.PodReadyToStartContainers, hasSandbox && sb.Ready, "", "")
	if initDone {
		cond(v1.PodInitialized, true, "", "")
	} else {
		cond(v1.PodInitialized, false, "ContainersNotInitialized", fmt.Sprintf("containers with incomplete status: [%s]", strings.Join(incompleteInit, " ")))
	}
	switch {
	case terminal && st.Phase == v1.PodSucceeded:
		cond(v1.ContainersReady, false, "PodCompleted", "")
		cond(v1.PodReady, false, "PodCompleted", "")
	case len(unready) > 0 || !initDone:
		msg := fmt.Sprintf("containers with unready status: [%s]", strings.Join(unready, " "))
		cond(v1.ContainersReady, false, "ContainersNotReady", msg)
		cond(v1.PodReady, false, "ContainersNotReady", msg)
	default:
		cond(v1.ContainersReady, true, "", "")
		ready, msg := readinessGates(pod)
		cond(v1.PodReady, ready, "ReadinessGatesNotReady", msg)
	}
	cond(v1.PodScheduled, true, "", "")
	// Keep conditions written by others (readiness gates, DisruptionTarget).
	for _, c := range old.Conditions {
		if !slices.ContainsFunc(st.Conditions, func(n v1.PodCondition) bool { return n.Type == c.Type }) {
			st.Conditions = append(st.Conditions, c)
		}
	}
	for i := range st.Conditions {
		c := &st.Conditions[i]
		if prev := findCondition(old.Conditions, c.Type); prev != nil && prev.Status == c.Status {
			c.LastTransitionTime = prev.LastTransitionTime
			c.LastProbeTime = prev.LastProbeTime
		} else if c.LastTransitionTime.IsZero() {
			c.LastTransitionTime = apiTime(in.Now)
		}
	}
	return st
}

func findCondition(cs []v1.PodCondition, t v1.PodConditionType) *v1.PodCondition {
	for i := range cs {
		if cs[i].Type == t {
			return &cs[i]
		}
	}
	return nil
}

func readinessGates(pod *v1.Pod) (bool, string) {
	var missing []string
	for _, g := range pod.Spec.ReadinessGates {
		c := findCondition(pod.Status.Conditions, g.ConditionType)
		if c == nil || c.Status != v1.ConditionTrue {
			missing = append(missing, string(g.ConditionType))
		}
	}
	if len(missing) == 0 {
		return true, ""
	}
	return false, fmt.Sprintf("corresponding condition of pod readiness gate %q does not exist.", missing[0])
}

func terminatedState(in statusInput, c containerInfo) *v1.ContainerStateTerminated {
	reason := c.Reason
	if reason == "" || (reason != "OOMKilled" && reason != "Completed" && reason != "Error" && reason != "ContainerCannotRun" && reason != "StartError") {
		reason = "Error"
		if c.ExitCode == 0 {
			reason = "Completed"
		}
	}
	return &v1.ContainerStateTerminated{
		ExitCode: c.ExitCode, Reason: reason, Message: c.Message,
		StartedAt: apiTime(c.StartedAt), FinishedAt: apiTime(c.FinishedAt),
		ContainerID: in.containerID(c.ID),
	}
}

func (in statusInput) containerID(id string) string {
	name := in.RuntimeName
	if name == "" {
		name = "containerd"
	}
	return name + "://" + id
}

func containerStatus(in statusInput, c *v1.Container, init bool, initDone bool) v1.ContainerStatus {
	pod := in.Pod
	cs := v1.ContainerStatus{Name: c.Name, Image: c.Image}
	f := false
	cs.Started = &f
	inst, ok := in.Runtime.latest(c.Name)
	w, hasWaiting := in.Waiting[c.Name]
	if !ok {
		reason := "PodInitializing"
		if !init && initDone {
			reason = "ContainerCreating"
		}
		if hasWaiting {
			cs.State.Waiting = &v1.ContainerStateWaiting{Reason: w.Reason, Message: w.Message}
		} else {
			cs.State.Waiting = &v1.ContainerStateWaiting{Reason: reason}
		}
		return cs
	}
	cs.ContainerID = in.containerID(inst.ID)
	cs.ImageID = inst.ImageRef
	cs.RestartCount = inst.RestartCount
	if prev, ok := in.Runtime.previous(c.Name); ok {
		cs.LastTerminationState.Terminated = terminatedState(in, prev)
	}
	switch inst.State {
	case runtimeapi.ContainerState_CONTAINER_RUNNING:
		started, ready := containerProbeStatus(c, inst.ID, in.Runtime.Probes)
		cs.Started = &started
		// A terminating pod is not ready, whatever its probes say.
		cs.Ready = ready && pod.DeletionTimestamp == nil
		cs.State.Running = &v1.ContainerStateRunning{StartedAt: apiTime(inst.StartedAt)}
	case runtimeapi.ContainerState_CONTAINER_EXITED:
		term := terminatedState(in, inst)
		if hasWaiting {
			cs.State.Waiting = &v1.ContainerStateWaiting{Reason: w.Reason, Message: w.Message}
			cs.LastTerminationState = v1.ContainerState{Terminated: term}
		} else {
			cs.State.Terminated = term
		}
	default:
		if hasWaiting {
			cs.State.Waiting = &v1.ContainerStateWaiting{Reason: w.Reason, Message: w.Message}
		} else {
			cs.State.Waiting = &v1.ContainerStateWaiting{Reason: "ContainerCreating"}
		}
	}
	return cs
}

// podPhase follows the kubelet's rules: waiting containers keep a pod
// Pending; a restarting container counts as stopped.
func podPhase(pod *v1.Pod, st v1.PodStatus, initDone, initFailed bool) v1.PodPhase {
	if initFailed {
		return v1.PodFailed
	}
	if !initDone {
		return v1.PodPending
	}
	var waiting, running, stopped, succeeded int
	for _, cs := range st.ContainerStatuses {
		switch {
		case cs.State.Running != nil:
			running++
		case cs.State.Terminated != nil:
			stopped++
			if cs.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case cs.State.Waiting != nil && cs.LastTerminationState.Terminated != nil:
			stopped++
		default:
			waiting++
		}
	}
	switch {
	case waiting > 0:
		return v1.PodPending
	case running > 0:
		return v1.PodRunning
	case stopped > 0:
		if pod.Spec.RestartPolicy == v1.RestartPolicyAlways || pod.Spec.RestartPolicy == "" {
			return v1.PodRunning
		}
		if stopped == succeeded {
			return v1.PodSucceeded
		}
		if pod.Spec.RestartPolicy == v1.RestartPolicyNever {
			return v1.PodFailed
		}
		return v1.PodRunning
	}
	return v1.PodPending
}

// qosClass classifies the pod the way the API documents it.
func qosClass(pod *v1.Pod) v1.PodQOSClass {
	all := append(slices.Clone(pod.Spec.InitContainers), pod.Spec.Containers...)
	anySet, guaranteed := false, true
	for _, c := range all {
		for _, r := range []v1.ResourceName{v1.ResourceCPU, v1.ResourceMemory} {
			req, hasReq := c.Resources.Requests[r]
			lim, hasLim := c.Resources.Limits[r]
			if (hasReq && !req.IsZero()) || (hasLim && !lim.IsZero()) {
				anySet = true
			}
			if !hasLim || lim.IsZero() {
				guaranteed = false
			} else if hasReq && req.Cmp(lim) != 0 {
				guaranteed = false
			}
		}
	}
	switch {
	case !anySet:
		return v1.PodQOSBestEffort
	case guaranteed:
		return v1.PodQOSGuaranteed
	default:
		return v1.PodQOSBurstable
	}
}

// statusChanged compares statuses the way the API will store them.
func statusChanged(old, new v1.PodStatus) bool {
	return !apiequality.Semantic.DeepEqual(old, new)
}
