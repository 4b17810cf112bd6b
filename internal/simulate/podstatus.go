package simulate

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// podAction is what a simulated kubelet does next with a pod.
type podAction int

const (
	podNothing      podAction = iota
	podRun                    // report it Running and Ready
	podSucceed                // report it Succeeded
	podFinishDelete           // remove it now that it "stopped" (grace period 0)
)

func (a podAction) String() string {
	return [...]string{"nothing", "run", "succeed", "delete"}[a]
}

// decidePod chooses the next step for a pod bound to a simulated node and,
// for pods that will complete, how long until that is due. succeedAfter < 0
// means pods never complete.
func decidePod(pod *corev1.Pod, now time.Time, succeedAfter time.Duration) (podAction, time.Duration) {
	if pod.DeletionTimestamp != nil {
		return podFinishDelete, 0
	}
	switch pod.Status.Phase {
	case corev1.PodSucceeded, corev1.PodFailed:
		return podNothing, 0
	}
	completes := pod.Spec.RestartPolicy == corev1.RestartPolicyNever || pod.Spec.RestartPolicy == corev1.RestartPolicyOnFailure
	if completes && succeedAfter >= 0 && pod.Status.Phase == corev1.PodRunning && pod.Status.StartTime != nil {
		due := pod.Status.StartTime.Add(succeedAfter)
		if !now.Before(due) {
			return podSucceed, 0
		}
		return podRun, due.Sub(now)
	}
	if completes && succeedAfter >= 0 {
		// Not started yet: it completes succeedAfter after it starts now.
		return podRun, succeedAfter
	}
	return podRun, 0
}

// runningStatus is the status a kubelet reports for a pod whose containers
// all started and are ready. Timestamps already recorded are kept, so a
// pod that is already Running gets an identical status.
func runningStatus(pod *corev1.Pod, podIP, hostIP string, now metav1.Time) corev1.PodStatus {
	st := *pod.Status.DeepCopy()
	start := now
	if st.StartTime != nil {
		start = *st.StartTime
	}
	st.Phase = corev1.PodRunning
	st.Reason, st.Message = "", ""
	st.StartTime = &start
	st.HostIP = hostIP
	st.HostIPs = []corev1.HostIP{{IP: hostIP}}
	st.PodIP = podIP
	st.PodIPs = []corev1.PodIP{{IP: podIP}}
	st.Conditions = mergeConditions(st.Conditions, now, []corev1.PodCondition{
		{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionTrue},
		{Type: corev1.PodInitialized, Status: corev1.ConditionTrue},
		{Type: corev1.ContainersReady, Status: corev1.ConditionTrue},
		{Type: corev1.PodReady, Status: corev1.ConditionTrue},
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
	})
	st.InitContainerStatuses = containerStatuses(pod, pod.Spec.InitContainers, st.InitContainerStatuses, func(old *corev1.ContainerStatus) corev1.ContainerState {
		return terminatedState(old, start, start)
	}, false)
	st.ContainerStatuses = containerStatuses(pod, pod.Spec.Containers, st.ContainerStatuses, func(old *corev1.ContainerStatus) corev1.ContainerState {
		started := start
		if old != nil && old.State.Running != nil {
			started = old.State.Running.StartedAt
		}
		return corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}}
	}, true)
	return st
}

// succeededStatus is the status of a pod whose containers all exited 0.
func succeededStatus(pod *corev1.Pod, now metav1.Time) corev1.PodStatus {
	st := *pod.Status.DeepCopy()
	start := now
	if st.StartTime != nil {
		start = *st.StartTime
	}
	st.Phase = corev1.PodSucceeded
	st.StartTime = &start
	st.Conditions = mergeConditions(st.Conditions, now, []corev1.PodCondition{
		{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionFalse},
		{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, Reason: "PodCompleted"},
		{Type: corev1.ContainersReady, Status: corev1.ConditionFalse, Reason: "PodCompleted"},
		{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "PodCompleted"},
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
	})
	st.InitContainerStatuses = containerStatuses(pod, pod.Spec.InitContainers, st.InitContainerStatuses, func(old *corev1.ContainerStatus) corev1.ContainerState {
		return terminatedState(old, start, start)
	}, false)
	st.ContainerStatuses = containerStatuses(pod, pod.Spec.Containers, st.ContainerStatuses, func(old *corev1.ContainerStatus) corev1.ContainerState {
		started := start
		if old != nil && old.State.Running != nil {
			started = old.State.Running.StartedAt
		}
		return terminatedState(old, started, now)
	}, false)
	return st
}

func terminatedState(old *corev1.ContainerStatus, started, finished metav1.Time) corev1.ContainerState {
	if old != nil && old.State.Terminated != nil {
		return old.State
	}
	return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: 0, Reason: "Completed", StartedAt: started, FinishedAt: finished,
		ContainerID: "",
	}}
}

func containerStatuses(pod *corev1.Pod, containers []corev1.Container, old []corev1.ContainerStatus, state func(*corev1.ContainerStatus) corev1.ContainerState, ready bool) []corev1.ContainerStatus {
	if len(containers) == 0 {
		return nil
	}
	out := make([]corev1.ContainerStatus, 0, len(containers))
	for _, c := range containers {
		var prev *corev1.ContainerStatus
		for i := range old {
			if old[i].Name == c.Name {
				prev = &old[i]
			}
		}
		id := "sim://" + shortHash(string(pod.UID)+"/"+c.Name)
		s := state(prev)
		if s.Terminated != nil && s.Terminated.ContainerID == "" {
			s.Terminated.ContainerID = id
		}
		started := s.Running != nil
		out = append(out, corev1.ContainerStatus{
			Name:         c.Name,
			State:        s,
			Ready:        ready,
			RestartCount: 0,
			Image:        c.Image,
			ImageID:      "sim://" + c.Image,
			ContainerID:  id,
			Started:      &started,
		})
	}
	return out
}

// mergeConditions sets each wanted condition, keeping the transition time
// of those whose status is unchanged and any other conditions as they are.
func mergeConditions(cur []corev1.PodCondition, now metav1.Time, want []corev1.PodCondition) []corev1.PodCondition {
	out := make([]corev1.PodCondition, 0, len(cur)+len(want))
	index := map[corev1.PodConditionType]int{}
	for _, c := range cur {
		index[c.Type] = len(out)
		out = append(out, c)
	}
	for _, w := range want {
		w.LastTransitionTime = now
		if i, ok := index[w.Type]; ok {
			if out[i].Status == w.Status && !out[i].LastTransitionTime.IsZero() {
				w.LastTransitionTime = out[i].LastTransitionTime
			}
			w.LastProbeTime = out[i].LastProbeTime
			out[i] = w
			continue
		}
		index[w.Type] = len(out)
		out = append(out, w)
	}
	return out
}
