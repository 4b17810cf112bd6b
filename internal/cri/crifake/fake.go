// Package crifake is an in-memory, recording implementation of cri.Runtime
// for tests of the node agent: it keeps sandboxes, containers and images in
// maps, lets a test script how images and commands behave (run forever,
// exit with a code, fail to pull) and records every call. Only tests import it.
package crifake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/clock"

	"github.com/gureum/gureum/internal/cri"
)

var _ cri.Runtime = (*Fake)(nil)

// Behavior scripts what a container does once started.
type Behavior struct {
	// Exit makes the container exit as soon as it starts, with ExitCode.
	Exit     bool
	ExitCode int32
	// Reason is the CRI exit reason (for example "OOMKilled", "Error", "Completed").
	Reason  string
	Message string
	// FailCreate makes CreateContainer fail with this message.
	FailCreate string
}

// Call is one recorded request.
type Call struct {
	Method  string
	Request any
}

// Sandbox is the fake's record of one pod sandbox.
type Sandbox struct {
	ID      string
	Config  *runtimeapi.PodSandboxConfig
	State   runtimeapi.PodSandboxState
	IP      string
	Created time.Time
}

// Container is the fake's record of one container.
type Container struct {
	ID         string
	SandboxID  string
	Config     *runtimeapi.ContainerConfig
	State      runtimeapi.ContainerState
	ImageRef   string
	ExitCode   int32
	Reason     string
	Message    string
	CreatedAt  time.Time
	StartedAt  time.Time
	FinishedAt time.Time
}

// Fake is a cri.Runtime kept in memory. It is safe for concurrent use.
type Fake struct {
	clk clock.PassiveClock

	mu          sync.Mutex
	seq         int
	sandboxes   map[string]*Sandbox
	containers  map[string]*Container
	images      map[string]string // image name -> image ID
	imageBehav  map[string]Behavior
	cmdBehav    map[string]Behavior
	pullErrors  map[string]string
	execResults map[string]ExecResult
	calls       []Call
	nextIP      int
}

// ExecResult scripts ExecSync for a command (keyed by the joined command).
type ExecResult struct {
	ExitCode int32
	Stdout   string
	Stderr   string
}

// New returns an empty runtime; clk stamps container times (nil: real clock).
func New(clk clock.PassiveClock) *Fake {
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &Fake{
		clk:         clk,
		sandboxes:   map[string]*Sandbox{},
		containers:  map[string]*Container{},
		images:      map[string]string{},
		imageBehav:  map[string]Behavior{},
		cmdBehav:    map[string]Behavior{},
		pullErrors:  map[string]string{},
		execResults: map[string]ExecResult{},
		nextIP:      2,
	}
}

// SetImageBehavior scripts every container started from image.
func (f *Fake) SetImageBehavior(image string, b Behavior) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.imageBehav[image] = b
}

// SetCommandBehavior scripts containers whose first command (or arg, when
// there is no command) is cmd; it wins over the image's behaviour.
func (f *Fake) SetCommandBehavior(cmd string, b Behavior) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cmdBehav[cmd] = b
}

// SetPullError makes pulling image fail with msg ("" clears it).
func (f *Fake) SetPullError(image, msg string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if msg == "" {
		delete(f.pullErrors, image)
		return
	}
	f.pullErrors[image] = msg
}

// SetExecResult scripts ExecSync for a command.
func (f *Fake) SetExecResult(cmd []string, r ExecResult) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.execResults[strings.Join(cmd, " ")] = r
}

// AddImage makes image present without a pull.
func (f *Fake) AddImage(image string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.images[image] = imageID(image)
}

// ExitContainer makes a running container exit now with code.
func (f *Fake) ExitContainer(id string, code int32, reason string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		return fmt.Errorf("container %q not found", id)
	}
	if c.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
		return fmt.Errorf("container %q is not running", id)
	}
	f.exitLocked(c, code, reason, "")
	return nil
}

// Calls returns a copy of the recorded calls.
func (f *Fake) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// CallCount counts recorded calls of method.
func (f *Fake) CallCount(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c.Method == method {
			n++
		}
	}
	return n
}

// Sandboxes returns copies of the sandboxes, oldest first.
func (f *Fake) Sandboxes() []Sandbox {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Sandbox
	for _, s := range f.sandboxes {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b Sandbox) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Containers returns copies of the containers, oldest first.
func (f *Fake) Containers() []Container {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Container
	for _, c := range f.containers {
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b Container) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Images returns the names of present images, sorted.
func (f *Fake) Images() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Sorted(maps.Keys(f.images))
}

func (f *Fake) record(method string, req any) {
	f.calls = append(f.calls, Call{Method: method, Request: req})
}

func (f *Fake) newID() string {
	f.seq++
	return fmt.Sprintf("%012d", f.seq)
}

func imageID(image string) string {
	sum := sha256.Sum256([]byte(image))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func (f *Fake) exitLocked(c *Container, code int32, reason, msg string) {
	c.State = runtimeapi.ContainerState_CONTAINER_EXITED
	c.ExitCode = code
	if reason == "" {
		reason = "Error"
		if code == 0 {
			reason = "Completed"
		}
	}
	c.Reason = reason
	c.Message = msg
	c.FinishedAt = f.clk.Now()
}

func notFound(kind, id string) error { return fmt.Errorf("%s %q: not found", kind, id) }

// Version reports containerd 1.6.20, like the runtime Gureum ships with.
func (f *Fake) Version(_ context.Context, req *runtimeapi.VersionRequest) (*runtimeapi.VersionResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("Version", req)
	return &runtimeapi.VersionResponse{Version: "0.1.0", RuntimeName: "containerd", RuntimeVersion: "1.6.20", RuntimeApiVersion: "v1"}, nil
}

// Status reports the runtime and network ready.
func (f *Fake) Status(_ context.Context, req *runtimeapi.StatusRequest) (*runtimeapi.StatusResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("Status", req)
	return &runtimeapi.StatusResponse{Status: &runtimeapi.RuntimeStatus{Conditions: []*runtimeapi.RuntimeCondition{
		{Type: runtimeapi.RuntimeReady, Status: true},
		{Type: runtimeapi.NetworkReady, Status: true},
	}}}, nil
}

func (f *Fake) RunPodSandbox(_ context.Context, req *runtimeapi.RunPodSandboxRequest) (*runtimeapi.RunPodSandboxResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("RunPodSandbox", req)
	if req.GetConfig().GetMetadata() == nil {
		return nil, fmt.Errorf("sandbox config without metadata")
	}
	s := &Sandbox{ID: f.newID(), Config: req.Config, State: runtimeapi.PodSandboxState_SANDBOX_READY,
		IP: fmt.Sprintf("10.88.%d.%d", f.nextIP/250, f.nextIP%250+2), Created: f.clk.Now()}
	f.nextIP++
	f.sandboxes[s.ID] = s
	return &runtimeapi.RunPodSandboxResponse{PodSandboxId: s.ID}, nil
}

func (f *Fake) StopPodSandbox(_ context.Context, req *runtimeapi.StopPodSandboxRequest) (*runtimeapi.StopPodSandboxResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("StopPodSandbox", req)
	s, ok := f.sandboxes[req.PodSandboxId]
	if !ok {
		return &runtimeapi.StopPodSandboxResponse{}, nil // CRI: idempotent
	}
	for _, c := range f.containers {
		if c.SandboxID == s.ID && c.State == runtimeapi.ContainerState_CONTAINER_RUNNING {
			f.exitLocked(c, 137, "Error", "")
		}
	}
	s.State = runtimeapi.PodSandboxState_SANDBOX_NOTREADY
	return &runtimeapi.StopPodSandboxResponse{}, nil
}

func (f *Fake) RemovePodSandbox(_ context.Context, req *runtimeapi.RemovePodSandboxRequest) (*runtimeapi.RemovePodSandboxResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("RemovePodSandbox", req)
	s, ok := f.sandboxes[req.PodSandboxId]
	if !ok {
		return &runtimeapi.RemovePodSandboxResponse{}, nil
	}
	if s.State == runtimeapi.PodSandboxState_SANDBOX_READY {
		return nil, fmt.Errorf("sandbox %q is still running", s.ID)
	}
	for id, c := range f.containers {
		if c.SandboxID == s.ID {
			delete(f.containers, id)
		}
	}
	delete(f.sandboxes, s.ID)
	return &runtimeapi.RemovePodSandboxResponse{}, nil
}

func (f *Fake) sandboxStatus(s *Sandbox) *runtimeapi.PodSandboxStatus {
	return &runtimeapi.PodSandboxStatus{
		Id:          s.ID,
		Metadata:    s.Config.Metadata,
		State:       s.State,
		CreatedAt:   s.Created.UnixNano(),
		Network:     &runtimeapi.PodSandboxNetworkStatus{Ip: s.IP},
		Labels:      maps.Clone(s.Config.Labels),
		Annotations: maps.Clone(s.Config.Annotations),
	}
}

func (f *Fake) PodSandboxStatus(_ context.Context, req *runtimeapi.PodSandboxStatusRequest) (*runtimeapi.PodSandboxStatusResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("PodSandboxStatus", req)
	s, ok := f.sandboxes[req.PodSandboxId]
	if !ok {
		return nil, notFound("sandbox", req.PodSandboxId)
	}
	return &runtimeapi.PodSandboxStatusResponse{Status: f.sandboxStatus(s)}, nil
}

func labelsMatch(want, have map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

func (f *Fake) ListPodSandbox(_ context.Context, req *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("ListPodSandbox", req)
	var out []*runtimeapi.PodSandbox
	flt := req.GetFilter()
	for _, s := range f.sandboxes {
		if flt.GetId() != "" && flt.GetId() != s.ID {
			continue
		}
		if flt.GetState() != nil && flt.GetState().State != s.State {
			continue
		}
		if !labelsMatch(flt.GetLabelSelector(), s.Config.Labels) {
			continue
		}
		out = append(out, &runtimeapi.PodSandbox{Id: s.ID, Metadata: s.Config.Metadata, State: s.State,
			CreatedAt: s.Created.UnixNano(), Labels: maps.Clone(s.Config.Labels), Annotations: maps.Clone(s.Config.Annotations)})
	}
	slices.SortFunc(out, func(a, b *runtimeapi.PodSandbox) int { return strings.Compare(a.Id, b.Id) })
	return &runtimeapi.ListPodSandboxResponse{Items: out}, nil
}

func (f *Fake) CreateContainer(_ context.Context, req *runtimeapi.CreateContainerRequest) (*runtimeapi.CreateContainerResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("CreateContainer", req)
	s, ok := f.sandboxes[req.PodSandboxId]
	if !ok || s.State != runtimeapi.PodSandboxState_SANDBOX_READY {
		return nil, fmt.Errorf("create container: sandbox %q is not ready", req.PodSandboxId)
	}
	cfg := req.GetConfig()
	img := cfg.GetImage().GetImage()
	id, ok := f.images[img]
	if !ok {
		return nil, fmt.Errorf("create container: image %q not present", img)
	}
	if b := f.behaviorLocked(cfg); b.FailCreate != "" {
		return nil, fmt.Errorf("create container: %s", b.FailCreate)
	}
	c := &Container{ID: f.newID(), SandboxID: s.ID, Config: cfg, State: runtimeapi.ContainerState_CONTAINER_CREATED,
		ImageRef: id, CreatedAt: f.clk.Now()}
	f.containers[c.ID] = c
	return &runtimeapi.CreateContainerResponse{ContainerId: c.ID}, nil
}

func (f *Fake) behaviorLocked(cfg *runtimeapi.ContainerConfig) Behavior {
	first := ""
	if len(cfg.Command) > 0 {
		first = cfg.Command[0]
	} else if len(cfg.Args) > 0 {
		first = cfg.Args[0]
	}
	if b, ok := f.cmdBehav[first]; ok && first != "" {
		return b
	}
	return f.imageBehav[cfg.GetImage().GetImage()]
}

func (f *Fake) StartContainer(_ context.Context, req *runtimeapi.StartContainerRequest) (*runtimeapi.StartContainerResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("StartContainer", req)
	c, ok := f.containers[req.ContainerId]
	if !ok {
		return nil, notFound("container", req.ContainerId)
	}
	if c.State != runtimeapi.ContainerState_CONTAINER_CREATED {
		return nil, fmt.Errorf("start container %q: state %s", c.ID, c.State)
	}
	c.State = runtimeapi.ContainerState_CONTAINER_RUNNING
	c.StartedAt = f.clk.Now()
	if b := f.behaviorLocked(c.Config); b.Exit {
		f.exitLocked(c, b.ExitCode, b.Reason, b.Message)
	}
	return &runtimeapi.StartContainerResponse{}, nil
}

// StopContainer models a process that honours SIGTERM: it exits 143.
func (f *Fake) StopContainer(_ context.Context, req *runtimeapi.StopContainerRequest) (*runtimeapi.StopContainerResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("StopContainer", req)
	c, ok := f.containers[req.ContainerId]
	if !ok {
		return nil, notFound("container", req.ContainerId)
	}
	switch c.State {
	case runtimeapi.ContainerState_CONTAINER_RUNNING:
		f.exitLocked(c, 143, "Error", "")
	case runtimeapi.ContainerState_CONTAINER_CREATED:
		c.State = runtimeapi.ContainerState_CONTAINER_EXITED
		c.FinishedAt = f.clk.Now()
	}
	return &runtimeapi.StopContainerResponse{}, nil
}

func (f *Fake) RemoveContainer(_ context.Context, req *runtimeapi.RemoveContainerRequest) (*runtimeapi.RemoveContainerResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("RemoveContainer", req)
	c, ok := f.containers[req.ContainerId]
	if !ok {
		return &runtimeapi.RemoveContainerResponse{}, nil
	}
	if c.State == runtimeapi.ContainerState_CONTAINER_RUNNING {
		return nil, fmt.Errorf("container %q is running", c.ID)
	}
	delete(f.containers, c.ID)
	return &runtimeapi.RemoveContainerResponse{}, nil
}

func (f *Fake) ListContainers(_ context.Context, req *runtimeapi.ListContainersRequest) (*runtimeapi.ListContainersResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("ListContainers", req)
	flt := req.GetFilter()
	var out []*runtimeapi.Container
	for _, c := range f.containers {
		if flt.GetId() != "" && flt.GetId() != c.ID {
			continue
		}
		if flt.GetPodSandboxId() != "" && flt.GetPodSandboxId() != c.SandboxID {
			continue
		}
		if flt.GetState() != nil && flt.GetState().State != c.State {
			continue
		}
		if !labelsMatch(flt.GetLabelSelector(), c.Config.Labels) {
			continue
		}
		out = append(out, &runtimeapi.Container{Id: c.ID, PodSandboxId: c.SandboxID, Metadata: c.Config.Metadata,
			Image: c.Config.Image, ImageRef: c.ImageRef, State: c.State, CreatedAt: c.CreatedAt.UnixNano(),
			Labels: maps.Clone(c.Config.Labels), Annotations: maps.Clone(c.Config.Annotations)})
	}
	slices.SortFunc(out, func(a, b *runtimeapi.Container) int { return strings.Compare(a.Id, b.Id) })
	return &runtimeapi.ListContainersResponse{Containers: out}, nil
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func (f *Fake) ContainerStatus(_ context.Context, req *runtimeapi.ContainerStatusRequest) (*runtimeapi.ContainerStatusResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("ContainerStatus", req)
	c, ok := f.containers[req.ContainerId]
	if !ok {
		return nil, notFound("container", req.ContainerId)
	}
	return &runtimeapi.ContainerStatusResponse{Status: &runtimeapi.ContainerStatus{
		Id: c.ID, Metadata: c.Config.Metadata, State: c.State,
		CreatedAt: unixNano(c.CreatedAt), StartedAt: unixNano(c.StartedAt), FinishedAt: unixNano(c.FinishedAt),
		ExitCode: c.ExitCode, Image: c.Config.Image, ImageRef: c.ImageRef, Reason: c.Reason, Message: c.Message,
		Labels: maps.Clone(c.Config.Labels), Annotations: maps.Clone(c.Config.Annotations),
		Mounts: c.Config.Mounts, LogPath: f.logPathLocked(c),
	}}, nil
}

// logPathLocked is absolute, like containerd's: the sandbox's log
// directory joined with the container's log path.
func (f *Fake) logPathLocked(c *Container) string {
	if c.Config.LogPath == "" || filepath.IsAbs(c.Config.LogPath) {
		return c.Config.LogPath
	}
	if s, ok := f.sandboxes[c.SandboxID]; ok && s.Config.LogDirectory != "" {
		return filepath.Join(s.Config.LogDirectory, c.Config.LogPath)
	}
	return c.Config.LogPath
}

func (f *Fake) ExecSync(_ context.Context, req *runtimeapi.ExecSyncRequest) (*runtimeapi.ExecSyncResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("ExecSync", req)
	c, ok := f.containers[req.ContainerId]
	if !ok || c.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
		return nil, fmt.Errorf("exec in container %q: not running", req.ContainerId)
	}
	r := f.execResults[strings.Join(req.Cmd, " ")]
	return &runtimeapi.ExecSyncResponse{ExitCode: r.ExitCode, Stdout: []byte(r.Stdout), Stderr: []byte(r.Stderr)}, nil
}

func (f *Fake) Exec(_ context.Context, req *runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("Exec", req)
	return &runtimeapi.ExecResponse{Url: "http://fake.invalid/exec/" + req.ContainerId}, nil
}

func (f *Fake) Attach(_ context.Context, req *runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("Attach", req)
	return &runtimeapi.AttachResponse{Url: "http://fake.invalid/attach/" + req.ContainerId}, nil
}

func (f *Fake) PortForward(_ context.Context, req *runtimeapi.PortForwardRequest) (*runtimeapi.PortForwardResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("PortForward", req)
	return &runtimeapi.PortForwardResponse{Url: "http://fake.invalid/portforward/" + req.PodSandboxId}, nil
}

func (f *Fake) ListContainerStats(_ context.Context, req *runtimeapi.ListContainerStatsRequest) (*runtimeapi.ListContainerStatsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("ListContainerStats", req)
	return &runtimeapi.ListContainerStatsResponse{}, nil
}

func (f *Fake) PullImage(_ context.Context, req *runtimeapi.PullImageRequest) (*runtimeapi.PullImageResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("PullImage", req)
	img := req.GetImage().GetImage()
	if msg, ok := f.pullErrors[img]; ok {
		return nil, fmt.Errorf("failed to pull and unpack image %q: %s", img, msg)
	}
	f.images[img] = imageID(img)
	return &runtimeapi.PullImageResponse{ImageRef: f.images[img]}, nil
}

func (f *Fake) ImageStatus(_ context.Context, req *runtimeapi.ImageStatusRequest) (*runtimeapi.ImageStatusResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("ImageStatus", req)
	img := req.GetImage().GetImage()
	id, ok := f.images[img]
	if !ok {
		return &runtimeapi.ImageStatusResponse{}, nil
	}
	return &runtimeapi.ImageStatusResponse{Image: &runtimeapi.Image{Id: id, RepoTags: []string{img}, Size_: 1 << 20}}, nil
}

func (f *Fake) ListImages(_ context.Context, req *runtimeapi.ListImagesRequest) (*runtimeapi.ListImagesResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("ListImages", req)
	var out []*runtimeapi.Image
	for _, name := range slices.Sorted(maps.Keys(f.images)) {
		out = append(out, &runtimeapi.Image{Id: f.images[name], RepoTags: []string{name}, Size_: 1 << 20})
	}
	return &runtimeapi.ListImagesResponse{Images: out}, nil
}

func (f *Fake) RemoveImage(_ context.Context, req *runtimeapi.RemoveImageRequest) (*runtimeapi.RemoveImageResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("RemoveImage", req)
	delete(f.images, req.GetImage().GetImage())
	return &runtimeapi.RemoveImageResponse{}, nil
}
