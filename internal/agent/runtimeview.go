package agent

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/gureum/gureum/internal/cri"
)

// CRI labels and annotations the kubelet uses too, so that tools such as
// crictl show Gureum's containers the familiar way and a restarted agent
// can find what it started.
const (
	labelPodName        = "io.kubernetes.pod.name"
	labelPodNamespace   = "io.kubernetes.pod.namespace"
	labelPodUID         = "io.kubernetes.pod.uid"
	labelContainerName  = "io.kubernetes.container.name"
	annotRestartCount   = "io.kubernetes.container.restartCount"
	annotTermMsgPath    = "io.kubernetes.container.terminationMessagePath"
	annotGracePeriod    = "io.kubernetes.pod.terminationGracePeriod"
	labelContainerType  = "io.kubernetes.container.type" // "init" or "regular"
	containerTypeInit   = "init"
	containerTypeNormal = "regular"
)

// sandboxInfo is what the agent knows of one pod sandbox.
type sandboxInfo struct {
	ID        string
	Attempt   uint32
	Ready     bool
	IP        string
	CreatedAt time.Time
}

// containerInfo is what the agent knows of one container instance.
type containerInfo struct {
	ID           string
	SandboxID    string
	Name         string
	Init         bool
	RestartCount int32
	State        runtimeapi.ContainerState
	ExitCode     int32
	Reason       string
	Message      string
	CreatedAt    time.Time
	StartedAt    time.Time
	FinishedAt   time.Time
	ImageRef     string
}

// podRuntime is the runtime's view of one pod: sandboxes and containers,
// newest first.
type podRuntime struct {
	Sandboxes  []sandboxInfo
	Containers []containerInfo
	// Probes holds what the containers' probes have published, by
	// container instance (the agent's own observation, not the runtime's).
	Probes probeResults
}

// currentSandbox is the newest sandbox, if any.
func (r podRuntime) currentSandbox() (sandboxInfo, bool) {
	if len(r.Sandboxes) == 0 {
		return sandboxInfo{}, false
	}
	return r.Sandboxes[0], true
}

// latest returns the newest instance of a container, in any sandbox.
func (r podRuntime) latest(name string) (containerInfo, bool) {
	for _, c := range r.Containers {
		if c.Name == name {
			return c, true
		}
	}
	return containerInfo{}, false
}

// previous returns the newest exited instance older than the latest.
func (r podRuntime) previous(name string) (containerInfo, bool) {
	seen := false
	for _, c := range r.Containers {
		if c.Name != name {
			continue
		}
		if !seen {
			seen = true
			continue
		}
		if c.State == runtimeapi.ContainerState_CONTAINER_EXITED {
			return c, true
		}
	}
	return containerInfo{}, false
}

func nanoTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// observePod reads the runtime's sandboxes and containers of one pod UID.
func observePod(ctx context.Context, rt cri.Runtime, uid types.UID) (podRuntime, error) {
	var out podRuntime
	sel := map[string]string{labelPodUID: string(uid)}
	sbs, err := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{LabelSelector: sel}})
	if err != nil {
		return out, fmt.Errorf("list sandboxes: %w", err)
	}
	for _, s := range sbs.Items {
		info := sandboxInfo{ID: s.Id, Attempt: s.GetMetadata().GetAttempt(), Ready: s.State == runtimeapi.PodSandboxState_SANDBOX_READY, CreatedAt: nanoTime(s.CreatedAt)}
		if info.Ready {
			st, err := rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: s.Id})
			if err != nil {
				return out, fmt.Errorf("sandbox status %s: %w", s.Id, err)
			}
			info.IP = st.GetStatus().GetNetwork().GetIp()
		}
		out.Sandboxes = append(out.Sandboxes, info)
	}
	slices.SortStableFunc(out.Sandboxes, func(a, b sandboxInfo) int {
		if a.Attempt != b.Attempt {
			return int(b.Attempt) - int(a.Attempt)
		}
		return b.CreatedAt.Compare(a.CreatedAt)
	})
	cs, err := rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{LabelSelector: sel}})
	if err != nil {
		return out, fmt.Errorf("list containers: %w", err)
	}
	for _, c := range cs.Containers {
		st, err := rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: c.Id})
		if err != nil {
			continue // removed between list and status
		}
		s := st.Status
		rc, _ := strconv.Atoi(s.Annotations[annotRestartCount])
		out.Containers = append(out.Containers, containerInfo{
			ID: s.Id, SandboxID: c.PodSandboxId, Name: s.GetMetadata().GetName(),
			Init: s.Labels[labelContainerType] == containerTypeInit, RestartCount: int32(rc), State: s.State,
			ExitCode: s.ExitCode, Reason: s.Reason, Message: s.Message,
			CreatedAt: nanoTime(s.CreatedAt), StartedAt: nanoTime(s.StartedAt), FinishedAt: nanoTime(s.FinishedAt),
			ImageRef: s.ImageRef,
		})
	}
	slices.SortStableFunc(out.Containers, func(a, b containerInfo) int {
		if a.RestartCount != b.RestartCount {
			return int(b.RestartCount - a.RestartCount)
		}
		return b.CreatedAt.Compare(a.CreatedAt)
	})
	return out, nil
}
