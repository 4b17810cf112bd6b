package agent

import (
	"fmt"
	"slices"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// backoffPolicy is how long restarts of a crashing container (or retries
// of a failing pull) wait: Base, doubling up to Max, forgotten once a
// container has run for Reset.
type backoffPolicy struct {
	Base, Max, Reset time.Duration
}

var defaultBackoff = backoffPolicy{Base: 10 * time.Second, Max: 5 * time.Minute, Reset: 10 * time.Minute}

// backoffEntry remembers the delay in force for one container and the
// exit it was last applied to.
type backoffEntry struct {
	Delay    time.Duration
	LastExit time.Time
	// Msg is the last failure, shown while backing off (image pulls).
	Msg string
}

// checkBackoff decides whether a container that exited (started..finished)
// may restart at now. The first crash restarts at once; later crashes wait
// the current delay, counted from the exit, and each restart doubles it.
func (p backoffPolicy) checkBackoff(e backoffEntry, started, finished, now time.Time) (restart bool, wait time.Duration, next backoffEntry) {
	if e.Delay == 0 || (!started.IsZero() && finished.Sub(started) >= p.Reset) {
		return true, 0, backoffEntry{Delay: p.Base, LastExit: finished}
	}
	until := finished.Add(e.Delay)
	if now.Before(until) {
		return false, until.Sub(now), e
	}
	return true, 0, backoffEntry{Delay: min(2*e.Delay, p.Max), LastExit: finished}
}

// startAction starts one container (a new instance).
type startAction struct {
	Container    *v1.Container
	Init         bool
	RestartCount int32
}

// killAction stops (and removes) one container instance.
type killAction struct {
	ID, Name, Reason string
	// Message is the Killing event's text ("" means "Stopping container NAME").
	Message string
	// GracePeriod overrides the pod's, from a failed probe's
	// terminationGracePeriodSeconds.
	GracePeriod *int64
}

// waitingInfo is why a container is not running, to show in its status.
type waitingInfo struct {
	Reason, Message string
}

// podActions is what one sync of a pod should do.
type podActions struct {
	// CreateSandbox asks for a new sandbox with Attempt; containers of the
	// old sandbox are in Kill.
	CreateSandbox  bool
	Attempt        uint32
	SandboxID      string
	Kill           []killAction
	Start          []startAction
	Waiting        map[string]waitingInfo
	BackoffUpdates map[string]backoffEntry
	// StopSandbox stops the sandbox of a pod whose containers are all done.
	StopSandbox bool
	// Done says the pod has finished: nothing will run in it again.
	Done bool
	// Requeue is when the pod must be looked at again (0: on the next event).
	Requeue time.Duration
}

func backoffKey(pod *v1.Pod, name string) string { return string(pod.UID) + "/" + name }

// shouldRestart applies the pod's restartPolicy to an exited container.
func shouldRestart(policy v1.RestartPolicy, exitCode int32) bool {
	switch policy {
	case v1.RestartPolicyNever:
		return false
	case v1.RestartPolicyOnFailure:
		return exitCode != 0
	default:
		return true
	}
}

func crashLoopMessage(delay time.Duration, name string, pod *v1.Pod) string {
	return fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", delay, name, pod.Name, pod.Namespace, pod.UID)
}

// computeActions is the heart of the pod worker: from the pod and what the
// runtime holds for it, what to do next. It does no I/O.
func computeActions(pod *v1.Pod, rt podRuntime, backoffs map[string]backoffEntry, policy backoffPolicy, now time.Time) podActions {
	a := podActions{Waiting: map[string]waitingInfo{}, BackoffUpdates: map[string]backoffEntry{}}
	terminal := pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed
	sb, hasSandbox := rt.currentSandbox()
	if terminal || podDone(pod, rt) {
		for _, c := range rt.Containers {
			if c.State == runtimeapi.ContainerState_CONTAINER_RUNNING {
				a.Kill = append(a.Kill, killAction{ID: c.ID, Name: c.Name, Reason: "pod has completed"})
			}
		}
		a.StopSandbox = hasSandbox && sb.Ready
		a.Done = true
		return a
	}
	if !hasSandbox || !sb.Ready {
		a.CreateSandbox = true
		if hasSandbox {
			a.Attempt = sb.Attempt + 1
		}
		for _, c := range rt.Containers {
			if c.State == runtimeapi.ContainerState_CONTAINER_RUNNING || c.State == runtimeapi.ContainerState_CONTAINER_CREATED {
				a.Kill = append(a.Kill, killAction{ID: c.ID, Name: c.Name, Reason: "pod sandbox changed, it will be killed and re-created"})
			}
		}
		// A new sandbox reruns init containers; regular containers start
		// once they have succeeded, in a later sync.
		if len(pod.Spec.InitContainers) > 0 {
			a.Start = append(a.Start, startAction{Container: &pod.Spec.InitContainers[0], Init: true, RestartCount: nextRestartCount(rt, pod.Spec.InitContainers[0].Name)})
		} else {
			for i := range pod.Spec.Containers {
				c := &pod.Spec.Containers[i]
				a.Start = append(a.Start, startAction{Container: c, RestartCount: nextRestartCount(rt, c.Name)})
			}
		}
		return a
	}
	a.SandboxID = sb.ID
	inSandbox := podRuntime{Sandboxes: rt.Sandboxes}
	for _, c := range rt.Containers {
		if c.SandboxID == sb.ID {
			inSandbox.Containers = append(inSandbox.Containers, c)
		}
	}

	// considerExited handles an exited instance that should restart;
	// it reports whether a start was planned.
	considerExited := func(c *v1.Container, init bool, inst containerInfo) bool {
		key := backoffKey(pod, c.Name)
		restart, wait, next := policy.checkBackoff(backoffs[key], inst.StartedAt, inst.FinishedAt, now)
		if !restart {
			a.Waiting[c.Name] = waitingInfo{Reason: "CrashLoopBackOff", Message: crashLoopMessage(backoffs[key].Delay, c.Name, pod)}
			a.requeueIn(wait)
			return false
		}
		a.BackoffUpdates[key] = next
		a.Start = append(a.Start, startAction{Container: c, Init: init, RestartCount: inst.RestartCount + 1})
		return true
	}

	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		inst, ok := inSandbox.latest(c.Name)
		if !ok {
			a.Start = append(a.Start, startAction{Container: c, Init: true, RestartCount: nextRestartCount(rt, c.Name)})
			return a
		}
		switch inst.State {
		case runtimeapi.ContainerState_CONTAINER_RUNNING:
			return a
		case runtimeapi.ContainerState_CONTAINER_EXITED:
			if inst.ExitCode == 0 {
				continue
			}
			if pod.Spec.RestartPolicy == v1.RestartPolicyNever {
				return a // the pod has failed; status says so
			}
			considerExited(c, true, inst)
			return a
		default: // created but never started: replace it
			a.Kill = append(a.Kill, killAction{ID: inst.ID, Name: c.Name, Reason: "container was created but not started"})
			a.Start = append(a.Start, startAction{Container: c, Init: true, RestartCount: inst.RestartCount + 1})
			return a
		}
	}

	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		inst, ok := inSandbox.latest(c.Name)
		if !ok {
			a.Start = append(a.Start, startAction{Container: c, RestartCount: nextRestartCount(rt, c.Name)})
			continue
		}
		switch inst.State {
		case runtimeapi.ContainerState_CONTAINER_RUNNING:
			// A failed liveness or startup probe kills the container; the
			// restart policy and back-off decide, once it has exited,
			// whether and when it runs again.
			if t, failed := probeKill(c, inst.ID, rt.Probes); failed {
				msg := fmt.Sprintf("Container %s failed %s probe", c.Name, strings.ToLower(t.String()))
				if pod.Spec.RestartPolicy != v1.RestartPolicyNever {
					msg += ", will be restarted"
				}
				a.Kill = append(a.Kill, killAction{ID: inst.ID, Name: c.Name, Reason: strings.ToLower(t.String()) + " probe failed", Message: msg,
					GracePeriod: probeSpec(c, t).TerminationGracePeriodSeconds})
			}
		case runtimeapi.ContainerState_CONTAINER_EXITED:
			if shouldRestart(pod.Spec.RestartPolicy, inst.ExitCode) {
				considerExited(c, false, inst)
			}
		default:
			a.Kill = append(a.Kill, killAction{ID: inst.ID, Name: c.Name, Reason: "container was created but not started"})
			a.Start = append(a.Start, startAction{Container: c, RestartCount: inst.RestartCount + 1})
		}
	}
	return a
}

func (a *podActions) requeueIn(d time.Duration) {
	if d > 0 && (a.Requeue == 0 || d < a.Requeue) {
		a.Requeue = d
	}
}

// nextRestartCount continues the count across sandboxes, as the kubelet does.
func nextRestartCount(rt podRuntime, name string) int32 {
	if c, ok := rt.latest(name); ok {
		return c.RestartCount + 1
	}
	return 0
}

// podDone says whether every container has finished for good under the
// restart policy (or an init container failed under Never), so the pod is
// terminal and its sandbox can stop.
func podDone(pod *v1.Pod, rt podRuntime) bool {
	if pod.Spec.RestartPolicy == v1.RestartPolicyAlways || pod.Spec.RestartPolicy == "" {
		return false
	}
	if pod.Spec.RestartPolicy == v1.RestartPolicyNever {
		for _, c := range pod.Spec.InitContainers {
			if inst, ok := rt.latest(c.Name); ok && inst.State == runtimeapi.ContainerState_CONTAINER_EXITED && inst.ExitCode != 0 {
				return true
			}
		}
	}
	for _, c := range pod.Spec.Containers {
		inst, ok := rt.latest(c.Name)
		if !ok || inst.State != runtimeapi.ContainerState_CONTAINER_EXITED {
			return false
		}
		if shouldRestart(pod.Spec.RestartPolicy, inst.ExitCode) {
			return false
		}
	}
	return true
}

// pullPolicy defaults imagePullPolicy the way the API server does.
func pullPolicy(c *v1.Container) v1.PullPolicy {
	if c.ImagePullPolicy != "" {
		return c.ImagePullPolicy
	}
	if imageTag(c.Image) == "latest" || imageTag(c.Image) == "" && !strings.Contains(c.Image, "@") {
		return v1.PullAlways
	}
	return v1.PullIfNotPresent
}

// imageTag is the tag of a reference ("" when it has none).
func imageTag(image string) string {
	if i := strings.Index(image, "@"); i >= 0 {
		image = image[:i]
	}
	slash := strings.LastIndex(image, "/")
	if colon := strings.LastIndex(image, ":"); colon > slash {
		return image[colon+1:]
	}
	return ""
}

// pullDecision says whether to pull; errNeverPull is set when the policy
// forbids pulling an absent image.
func pullDecision(policy v1.PullPolicy, present bool) (pull bool, errNeverPull bool) {
	switch policy {
	case v1.PullNever:
		return false, !present
	case v1.PullIfNotPresent:
		return !present, false
	default:
		return true, false
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
