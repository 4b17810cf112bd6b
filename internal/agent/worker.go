package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/clock"
)

// podWorker serialises everything done to one pod: a goroutine that syncs
// the whole pod whenever it is woken.
type podWorker struct {
	uid  types.UID
	wake chan struct{}

	mu    sync.Mutex
	timer clock.Timer
	// waiting remembers why containers are not running, from the last sync.
	waiting map[string]waitingInfo
}

func newPodWorker(uid types.UID) *podWorker {
	return &podWorker{uid: uid, wake: make(chan struct{}, 1), waiting: map[string]waitingInfo{}}
}

func (w *podWorker) notify() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (a *Agent) runWorker(ctx context.Context, w *podWorker) {
	select {
	case <-ctx.Done():
		return
	case <-a.cachesSynced:
	}
	retry := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		}
		done, requeue, err := a.syncPod(ctx, w)
		if done {
			a.mu.Lock()
			delete(a.workers, w.uid)
			a.mu.Unlock()
			w.stopTimer()
			return
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			a.log.Warn("pod sync failed; retrying", "uid", w.uid, "err", err)
			retry = min(max(2*retry, 200*time.Millisecond), 10*time.Second)
			requeue = retry
		} else {
			retry = 0
		}
		if requeue > 0 {
			w.schedule(a.clk, requeue)
		}
	}
}

func (w *podWorker) schedule(clk clock.WithDelayedExecution, d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.timer != nil {
		w.timer.Stop()
	}
	w.timer = clk.AfterFunc(d, w.notify)
}

func (w *podWorker) stopTimer() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.timer != nil {
		w.timer.Stop()
	}
}

func (a *Agent) currentPod(uid types.UID) *v1.Pod {
	p := a.podByUID(uid)
	if p == nil || p.Spec.NodeName != a.cfg.NodeName {
		return nil
	}
	return p
}

func (a *Agent) backoffSnapshot() map[string]backoffEntry {
	a.mu.Lock()
	defer a.mu.Unlock()
	return maps.Clone(a.backoffs)
}

func (a *Agent) setBackoff(key string, e *backoffEntry) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if e == nil {
		delete(a.backoffs, key)
		return
	}
	a.backoffs[key] = *e
}

func (a *Agent) forgetBackoffs(uid types.UID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for k := range a.backoffs {
		if strings.HasPrefix(k, string(uid)+"/") || strings.HasPrefix(k, "pull/"+string(uid)+"/") {
			delete(a.backoffs, k)
		}
	}
}

func (a *Agent) dnsSettings() dnsSettings {
	s := dnsSettings{Host: &runtimeapi.DNSConfig{}, ClusterServers: a.cfg.ClusterDNS, Domain: a.cfg.ClusterDomain}
	if data, err := os.ReadFile(a.cfg.ResolvConf); err == nil {
		s.Host = parseResolvConf(string(data))
	}
	return s
}

func (a *Agent) hostIPs() []string {
	if a.cfg.NodeIP == "" {
		return nil
	}
	return []string{a.cfg.NodeIP}
}

// syncPod does one level-based pass over a pod. done means the pod is
// gone and its worker can stop.
func (a *Agent) syncPod(ctx context.Context, w *podWorker) (done bool, requeue time.Duration, err error) {
	pod := a.currentPod(w.uid)
	if pod == nil {
		a.probes.removePod(w.uid)
		if err := a.killPod(ctx, w.uid, nil); err != nil {
			return false, 0, err
		}
		a.forgetBackoffs(w.uid)
		a.tokens.forgetPod(w.uid)
		return true, 0, nil
	}
	log := a.log.With("pod", pod.Namespace+"/"+pod.Name)
	if pod.DeletionTimestamp != nil {
		a.probes.removePod(pod.UID)
		a.reportTerminating(ctx, pod, w)
		if err := a.terminatePod(ctx, pod); err != nil {
			return false, 0, err
		}
		return false, 0, nil // the pod's removal from the informer ends the worker
	}
	rt, err := observePod(ctx, a.cfg.Runtime, pod.UID)
	if err != nil {
		return false, 0, err
	}
	rt.Probes = a.probes.results(pod.UID)
	now := a.clk.Now()
	policy := backoffPolicy{Base: a.cfg.BackoffBase, Max: a.cfg.BackoffMax, Reset: a.cfg.BackoffReset}
	act := computeActions(pod, rt, a.backoffSnapshot(), policy, now)
	requeue = act.Requeue
	waiting := act.Waiting

	for _, k := range act.Kill {
		msg := k.Message
		if msg == "" {
			msg = "Stopping container " + k.Name
		}
		a.recorder.Event(pod, v1.EventTypeNormal, "Killing", msg)
		grace := a.gracePeriod(pod)
		if k.GracePeriod != nil {
			grace = max(time.Duration(*k.GracePeriod)*time.Second, a.cfg.MinimumGracePeriod)
		}
		if _, err := a.cfg.Runtime.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: k.ID, Timeout: int64(grace / time.Second)}); err != nil {
			return false, 0, fmt.Errorf("stop container %s: %w", k.Name, err)
		}
	}
	if act.StopSandbox {
		for _, sb := range rt.Sandboxes {
			if sb.Ready {
				if _, err := a.cfg.Runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.ID}); err != nil {
					return false, 0, fmt.Errorf("stop sandbox: %w", err)
				}
			}
		}
	}

	sandboxID, podIP := act.SandboxID, ""
	if sb, ok := rt.currentSandbox(); ok && sb.Ready {
		podIP = sb.IP
	}
	// Volumes are set up on every sync of a live pod, so configMap and
	// secret files follow their objects, and service account tokens are
	// replaced when due: the pod is synced again at that time.
	if !act.Done {
		addrs := podAddresses{HostIPs: a.hostIPs()}
		if podIP != "" {
			addrs.PodIPs = []string{podIP}
		}
		vs := volumeSetup{paths: a.paths, mounter: a.cfg.Mounter, src: lister{a}, tokens: a.tokens, now: now}
		vols, refreshAt, verr := vs.setup(ctx, pod, addrs)
		if !refreshAt.IsZero() {
			requeue = minPositive(requeue, max(refreshAt.Sub(now), time.Second))
		}
		if verr != nil {
			a.recorder.Eventf(pod, v1.EventTypeWarning, "FailedMount", "MountVolume.SetUp failed: %v", verr)
			log.Debug("volume setup failed", "err", verr)
			requeue = minPositive(requeue, 2*time.Second)
			act.Start, act.CreateSandbox = nil, false
		}
		if act.CreateSandbox {
			for _, sb := range rt.Sandboxes {
				if sb.Ready {
					_, _ = a.cfg.Runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.ID})
				}
			}
			if err := os.MkdirAll(a.paths.pod(string(pod.UID)), 0o755); err != nil {
				return false, 0, fmt.Errorf("create pod dir: %w", err)
			}
			resp, err := a.cfg.Runtime.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: sandboxConfig(pod, act.Attempt, a.paths, a.cfg.CgroupDriver, a.dnsSettings())})
			if err != nil {
				a.recorder.Eventf(pod, v1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create pod sandbox: %v", err)
				return false, 0, fmt.Errorf("create sandbox: %w", err)
			}
			sandboxID = resp.PodSandboxId
			st, err := a.cfg.Runtime.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: sandboxID})
			if err != nil {
				return false, 0, fmt.Errorf("sandbox status: %w", err)
			}
			podIP = st.GetStatus().GetNetwork().GetIp()
			addrs.PodIPs = nil
			if podIP != "" {
				addrs.PodIPs = []string{podIP}
			}
		}
		for _, s := range act.Start {
			wi, wait := a.startContainer(ctx, pod, sandboxID, podIP, s, vols, addrs)
			if wi != nil {
				waiting[s.Container.Name] = *wi
			}
			requeue = minPositive(requeue, wait)
			if wi == nil {
				if e, ok := act.BackoffUpdates[backoffKey(pod, s.Container.Name)]; ok {
					a.setBackoff(backoffKey(pod, s.Container.Name), &e)
				}
			}
		}
	}
	for name, wi := range waiting {
		if wi.Reason == "CrashLoopBackOff" {
			a.recorder.Eventf(pod, v1.EventTypeWarning, "BackOff", "Back-off restarting failed container %s in pod %s_%s(%s)", name, pod.Name, pod.Namespace, pod.UID)
		}
	}
	// Reasons from earlier syncs stay while their container is still not
	// running: a pull back-off, a config error.
	w.mu.Lock()
	for name, wi := range w.waiting {
		if _, ok := waiting[name]; !ok && stillWaiting(pod, name, act) {
			waiting[name] = wi
		}
	}
	w.waiting = waiting
	w.mu.Unlock()

	rt, err = observePod(ctx, a.cfg.Runtime, pod.UID)
	if err != nil {
		return false, 0, err
	}
	rt.Probes = a.probes.results(pod.UID)
	a.mu.Lock()
	rtName := a.runtimeName
	a.mu.Unlock()
	// Drop reasons for containers that are now running.
	for name := range waiting {
		if c, ok := rt.latest(name); ok && c.State == runtimeapi.ContainerState_CONTAINER_RUNNING {
			delete(waiting, name)
		}
	}
	st := computePodStatus(statusInput{Pod: pod, Runtime: rt, Waiting: waiting, HostIPs: a.hostIPs(), RuntimeName: rtName, Now: a.clk.Now()})
	// Probe workers follow the running containers: new instances get
	// fresh workers, stopped ones lose theirs.
	a.probes.sync(ctx, pod, rt, st.PodIP)
	if statusChanged(pod.Status, st) {
		if err := a.patchStatus(ctx, pod, st); err != nil {
			return false, 0, err
		}
	}
	return false, requeue, nil
}

// reportTerminating marks a deleted pod's containers not ready before
// they are stopped, so endpoints stop sending it traffic during its grace
// period. It is best effort: termination goes on if the write fails.
func (a *Agent) reportTerminating(ctx context.Context, pod *v1.Pod, w *podWorker) {
	rt, err := observePod(ctx, a.cfg.Runtime, pod.UID)
	if err != nil {
		return
	}
	a.mu.Lock()
	rtName := a.runtimeName
	a.mu.Unlock()
	w.mu.Lock()
	waiting := maps.Clone(w.waiting)
	w.mu.Unlock()
	st := computePodStatus(statusInput{Pod: pod, Runtime: rt, Waiting: waiting, HostIPs: a.hostIPs(), RuntimeName: rtName, Now: a.clk.Now()})
	if statusChanged(pod.Status, st) {
		if err := a.patchStatus(ctx, pod, st); err != nil && ctx.Err() == nil {
			a.log.Warn("report terminating pod not ready failed", "pod", pod.Namespace+"/"+pod.Name, "err", err)
		}
	}
}

// stillWaiting says whether an earlier waiting reason should persist: the
// container was not retried in this sync.
func stillWaiting(pod *v1.Pod, name string, act podActions) bool {
	for _, s := range act.Start {
		if s.Container.Name == name {
			return false
		}
	}
	return true
}

func minPositive(a, b time.Duration) time.Duration {
	switch {
	case a <= 0:
		return b
	case b <= 0:
		return a
	}
	return min(a, b)
}

func (a *Agent) patchStatus(ctx context.Context, pod *v1.Pod, st v1.PodStatus) error {
	body, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"uid": pod.UID},
		"status":   st,
	})
	if err != nil {
		return fmt.Errorf("encode pod status: %w", err)
	}
	_, err = a.cfg.Client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.MergePatchType, body, metav1.PatchOptions{}, "status")
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("patch pod status: %w", err)
	}
	return nil
}

// ensureImage pulls per the container's policy, with back-off after
// failures. It returns a waiting reason when the image is not ready.
func (a *Agent) ensureImage(ctx context.Context, pod *v1.Pod, c *v1.Container) (*waitingInfo, time.Duration) {
	img := c.Image
	st, err := a.cfg.Runtime.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: img}})
	if err != nil {
		return &waitingInfo{Reason: "ErrImageInspect", Message: fmt.Sprintf("Failed to inspect image %q: %v", img, err)}, 2 * time.Second
	}
	present := st.GetImage() != nil
	pull, never := pullDecision(pullPolicy(c), present)
	if never {
		msg := fmt.Sprintf("Container image %q is not present with pull policy of Never", img)
		a.recorder.Event(pod, v1.EventTypeWarning, "ErrImageNeverPull", msg)
		return &waitingInfo{Reason: "ErrImageNeverPull", Message: msg}, 0
	}
	if !pull {
		a.recorder.Eventf(pod, v1.EventTypeNormal, "Pulled", "Container image %q already present on machine", img)
		return nil, 0
	}
	key := "pull/" + string(pod.UID) + "/" + img
	now := a.clk.Now()
	e := a.backoffSnapshot()[key]
	if e.Delay > 0 && now.Before(e.LastExit.Add(e.Delay)) {
		a.recorder.Eventf(pod, v1.EventTypeNormal, "BackOff", "Back-off pulling image %q", img)
		return &waitingInfo{Reason: "ImagePullBackOff", Message: fmt.Sprintf("Back-off pulling image %q: ErrImagePull: %s", img, e.Msg)}, e.LastExit.Add(e.Delay).Sub(now)
	}
	a.recorder.Eventf(pod, v1.EventTypeNormal, "Pulling", "Pulling image %q", img)
	start := a.clk.Now()
	resp, err := a.cfg.Runtime.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: img, UserSpecifiedImage: img}, SandboxConfig: nil})
	if err != nil {
		a.recorder.Eventf(pod, v1.EventTypeWarning, "Failed", "Failed to pull image %q: %v", img, err)
		a.recorder.Event(pod, v1.EventTypeWarning, "Failed", "Error: ErrImagePull")
		next := backoffEntry{Delay: a.cfg.BackoffBase, LastExit: now, Msg: err.Error()}
		if e.Delay > 0 {
			next.Delay = min(2*e.Delay, a.cfg.BackoffMax)
		}
		a.setBackoff(key, &next)
		return &waitingInfo{Reason: "ErrImagePull", Message: err.Error()}, next.Delay
	}
	a.setBackoff(key, nil)
	took := a.clk.Since(start).Round(time.Millisecond)
	size := ""
	if st, err := a.cfg.Runtime.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: img}}); err == nil && st.GetImage() != nil {
		size = fmt.Sprintf(" Image size: %d bytes.", st.GetImage().Size_)
	}
	_ = resp
	a.recorder.Eventf(pod, v1.EventTypeNormal, "Pulled", "Successfully pulled image %q in %s (%s including waiting).%s", img, took, took, size)
	return nil, 0
}

// startContainer pulls, creates and starts one container, then runs its
// postStart hook. It returns why the container is not running, if so.
func (a *Agent) startContainer(ctx context.Context, pod *v1.Pod, sandboxID, podIP string, s startAction, vols map[string]volumeInfo, addrs podAddresses) (*waitingInfo, time.Duration) {
	c := s.Container
	if wi, wait := a.ensureImage(ctx, pod, c); wi != nil {
		return wi, wait
	}
	configErr := func(err error) (*waitingInfo, time.Duration) {
		a.recorder.Eventf(pod, v1.EventTypeWarning, "Failed", "Error: %v", err)
		return &waitingInfo{Reason: "CreateContainerConfigError", Message: err.Error()}, 2 * time.Second
	}
	env, err := resolveEnv(pod, c, lister{a}, addrs)
	if err != nil {
		return configErr(err)
	}
	mounts, err := containerMounts(c, vols, env)
	if err != nil {
		return configErr(err)
	}
	uid := string(pod.UID)
	if !pod.Spec.HostNetwork && !hasMountAt(mounts, "/etc/hosts") {
		hosts := a.paths.hostsFile(uid)
		if err := os.WriteFile(hosts, []byte(hostsFileContent(pod, podIP)), 0o644); err != nil {
			return configErr(fmt.Errorf("write hosts file: %w", err))
		}
		mounts = append(mounts, &runtimeapi.Mount{ContainerPath: "/etc/hosts", HostPath: hosts})
	}
	if p := c.TerminationMessagePath; p != "" && !hasMountAt(mounts, p) {
		tl := a.paths.terminationLog(uid, c.Name, s.RestartCount)
		if err := os.MkdirAll(filepath.Dir(tl), 0o755); err != nil {
			return configErr(fmt.Errorf("create termination log dir: %w", err))
		}
		if err := os.WriteFile(tl, nil, 0o666); err != nil {
			return configErr(fmt.Errorf("create termination log: %w", err))
		}
		mounts = append(mounts, &runtimeapi.Mount{ContainerPath: p, HostPath: tl})
	}
	if err := os.MkdirAll(filepath.Join(a.paths.pod(uid), c.Name), 0o755); err != nil {
		return configErr(fmt.Errorf("create log dir: %w", err))
	}
	sbCfg := sandboxConfig(pod, 0, a.paths, a.cfg.CgroupDriver, a.dnsSettings())
	cfg := containerConfig(pod, c, s.Init, s.RestartCount, env, mounts)
	resp, err := a.cfg.Runtime.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: sandboxID, Config: cfg, SandboxConfig: sbCfg})
	if err != nil {
		a.recorder.Eventf(pod, v1.EventTypeWarning, "Failed", "Error: %v", err)
		return &waitingInfo{Reason: "CreateContainerError", Message: err.Error()}, 2 * time.Second
	}
	a.recorder.Eventf(pod, v1.EventTypeNormal, "Created", "Created container: %s", c.Name)
	if _, err := a.cfg.Runtime.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: resp.ContainerId}); err != nil {
		a.recorder.Eventf(pod, v1.EventTypeWarning, "Failed", "Error: failed to start container %q: %v", c.Name, err)
		return &waitingInfo{Reason: "RunContainerError", Message: err.Error()}, 2 * time.Second
	}
	a.recorder.Eventf(pod, v1.EventTypeNormal, "Started", "Started container %s", c.Name)
	if c.Lifecycle != nil && c.Lifecycle.PostStart != nil {
		if err := a.runHook(ctx, pod, c, resp.ContainerId, podIP, c.Lifecycle.PostStart, a.gracePeriod(pod)); err != nil {
			a.recorder.Eventf(pod, v1.EventTypeWarning, "FailedPostStartHook", "PostStartHook failed: %v", err)
			a.recorder.Eventf(pod, v1.EventTypeNormal, "Killing", "FailedPostStartHook")
			_, _ = a.cfg.Runtime.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: resp.ContainerId, Timeout: int64(a.gracePeriod(pod) / time.Second)})
		}
	}
	return nil, 0
}

func hasMountAt(ms []*runtimeapi.Mount, p string) bool {
	for _, m := range ms {
		if m.ContainerPath == p {
			return true
		}
	}
	return false
}

// gracePeriod is how long containers get to stop: what is left of the
// deletion's grace period, or the pod's terminationGracePeriodSeconds.
func (a *Agent) gracePeriod(pod *v1.Pod) time.Duration {
	g := 30 * time.Second
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		g = time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	if pod.DeletionTimestamp != nil {
		g = pod.DeletionTimestamp.Sub(a.clk.Now())
	}
	return max(g, a.cfg.MinimumGracePeriod)
}

// runHook runs a postStart or preStop handler.
func (a *Agent) runHook(ctx context.Context, pod *v1.Pod, c *v1.Container, containerID, podIP string, h *v1.LifecycleHandler, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch {
	case h.Exec != nil:
		resp, err := a.cfg.Runtime.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: containerID, Cmd: h.Exec.Command, Timeout: int64(timeout / time.Second)})
		if err != nil {
			return fmt.Errorf("exec %v: %w", h.Exec.Command, err)
		}
		if resp.ExitCode != 0 {
			return fmt.Errorf("command %q exited with %d: %s%s", strings.Join(h.Exec.Command, " "), resp.ExitCode, resp.Stdout, resp.Stderr)
		}
		return nil
	case h.HTTPGet != nil:
		g := h.HTTPGet
		host := g.Host
		if host == "" {
			host = podIP
		}
		port, err := resolvePort(g.Port, c)
		if err != nil {
			return err
		}
		scheme := "http"
		if g.Scheme == v1.URISchemeHTTPS {
			scheme = "https"
		}
		path := g.Path
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+net.JoinHostPort(host, strconv.Itoa(port))+path, nil)
		if err != nil {
			return fmt.Errorf("http hook: %w", err)
		}
		for _, hd := range g.HTTPHeaders {
			req.Header.Add(hd.Name, hd.Value)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("http hook: %w", err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 400 {
			return fmt.Errorf("http hook %s returned %s", req.URL, resp.Status)
		}
		return nil
	case h.Sleep != nil:
		select {
		case <-ctx.Done():
		case <-a.clk.After(time.Duration(h.Sleep.Seconds) * time.Second):
		}
		return nil
	}
	return errors.New("hook has no handler")
}

func resolvePort(p intstr.IntOrString, c *v1.Container) (int, error) {
	if p.Type == intstr.Int {
		return p.IntValue(), nil
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil {
		return n, nil
	}
	return 0, fmt.Errorf("port %q not found in container %s", p.StrVal, c.Name)
}

// terminatePod stops a deleted pod within its grace period (preStop hooks
// first), removes its sandboxes and files, then deletes the pod object.
func (a *Agent) terminatePod(ctx context.Context, pod *v1.Pod) error {
	if err := a.killPod(ctx, pod.UID, pod); err != nil {
		return err
	}
	uid := pod.UID
	err := a.cfg.Client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: new(int64), Preconditions: &metav1.Preconditions{UID: &uid},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete pod: %w", err)
	}
	return nil
}

// killPod stops every container of the pod (with hooks and grace when the
// pod is known), then stops and removes its sandboxes and files.
func (a *Agent) killPod(ctx context.Context, uid types.UID, pod *v1.Pod) error {
	rt, err := observePod(ctx, a.cfg.Runtime, uid)
	if err != nil {
		return err
	}
	grace := a.cfg.MinimumGracePeriod
	if pod != nil {
		grace = a.gracePeriod(pod)
	}
	podIP := ""
	if sb, ok := rt.currentSandbox(); ok {
		podIP = sb.IP
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(rt.Containers))
	for _, ci := range rt.Containers {
		if ci.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var spec *v1.Container
			if pod != nil {
				spec = findContainer(pod, ci.Name)
			}
			start := a.clk.Now()
			if spec != nil && spec.Lifecycle != nil && spec.Lifecycle.PreStop != nil {
				if err := a.runHook(ctx, pod, spec, ci.ID, podIP, spec.Lifecycle.PreStop, grace); err != nil {
					a.recorder.Eventf(pod, v1.EventTypeWarning, "FailedPreStopHook", "PreStopHook failed: %v", err)
				}
			}
			left := max(grace-a.clk.Since(start), a.cfg.MinimumGracePeriod)
			if pod != nil {
				a.recorder.Eventf(pod, v1.EventTypeNormal, "Killing", "Stopping container %s", ci.Name)
			}
			if _, err := a.cfg.Runtime.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: ci.ID, Timeout: int64(left / time.Second)}); err != nil {
				errs <- fmt.Errorf("stop container %s: %w", ci.Name, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	var ids []string
	for _, sb := range rt.Sandboxes {
		ids = append(ids, sb.ID)
	}
	if err := a.removeSandboxes(ctx, ids); err != nil {
		return err
	}
	if err := (volumeSetup{paths: a.paths, mounter: a.cfg.Mounter}).cleanup(pod, string(uid)); err != nil {
		return fmt.Errorf("clean up pod files: %w", err)
	}
	return nil
}
