package containerd_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/vishvananda/netlink"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/gureum/gureum/internal/containerd"
	"github.com/gureum/gureum/internal/cri"
	"github.com/gureum/gureum/internal/image/pause"
	"github.com/gureum/gureum/internal/network/cni"
)

const (
	testCgroupRoot = "gureum-it"
	testBridge     = "gureumit0"
	testPodCIDR    = "10.213.7.0/24"
	busyboxPath    = "/bin/busybox"
)

// requireHost fails (never skips) when the machine cannot run the test:
// CI installs all of this with hack/install-deps.sh.
func requireHost(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root (containerd, mounts, network namespaces)")
	}
	for _, bin := range []string{"containerd", "containerd-shim-runc-v2", "runc", "ctr", "iptables"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s is not installed (hack/install-deps.sh installs it): %v", bin, err)
		}
	}
	if _, err := os.Stat(busyboxPath); err != nil {
		t.Fatalf("%s missing: install Debian's busybox-static (hack/install-deps.sh): %v", busyboxPath, err)
	}
}

// busyboxImage packs the host's static busybox with a symlink per applet.
func busyboxImage(t *testing.T) v1.Image {
	t.Helper()
	bin, err := os.ReadFile(busyboxPath)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(busyboxPath, "--list").Output()
	if err != nil {
		t.Fatalf("busybox --list: %v", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Unix(0, 0)
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"bin/", "tmp/", "etc/"} {
		must(tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: mtime}))
	}
	must(tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "bin/busybox", Mode: 0o755, Size: int64(len(bin)), ModTime: mtime}))
	_, err = tw.Write(bin)
	must(err)
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" || strings.Contains(applet, "/") {
			continue
		}
		must(tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + applet, Linkname: "busybox", Mode: 0o777, ModTime: mtime}))
	}
	must(tw.Close())
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.AppendLayers(img, static.NewLayer(buf.Bytes(), types.OCIUncompressedLayer))
	must(err)
	cf, err := img.ConfigFile()
	must(err)
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Env = []string{"PATH=/bin"}
	cf.Config.Cmd = []string{"sh"}
	img, err = mutate.ConfigFile(img, cf)
	must(err)
	return img
}

// startRegistry serves an in-memory OCI registry over plain HTTP holding
// the pause image (as the sandbox image's repository) and busybox (as
// Docker Hub's library/busybox, the target of the short name).
func startRegistry(t *testing.T) (string, *requestLog) {
	t.Helper()
	reqs := &requestLog{}
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqs.add(r)
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	pauseImg, err := pause.Image()
	if err != nil {
		t.Fatal(err)
	}
	// The mirror serves every mirrored host from its root, so a reference
	// keeps its path and loses its registry host.
	pauseRef, err := name.ParseReference(pause.Reference)
	if err != nil {
		t.Fatal(err)
	}
	push := func(repoTag string, img v1.Image) {
		ref, err := name.ParseReference(host+"/"+repoTag, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img); err != nil {
			t.Fatalf("push %s: %v", ref, err)
		}
	}
	push(pauseRef.Context().RepositoryStr()+":"+pauseRef.Identifier(), pauseImg)
	push("library/busybox:test", busyboxImage(t))
	reqs.reset()
	return srv.URL, reqs
}

// requestLog records what containerd asked the registry, to check that
// pulls went through the mirror with the configured header.
type requestLog struct {
	mu   sync.Mutex
	reqs []string // "METHOD PATH AUTHORIZATION"
}

func (l *requestLog) add(r *http.Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reqs = append(l.reqs, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization"))
}

func (l *requestLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reqs = nil
}

func (l *requestLog) snapshot() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.reqs...)
}

// assertPulledThroughMirror checks that every request for repo carried the
// Authorization header and that the manifest was fetched.
func assertPulledThroughMirror(t *testing.T, reqs *requestLog, repo string) {
	t.Helper()
	var manifests int
	for _, r := range reqs.snapshot() {
		if !strings.Contains(r, "/v2/"+repo+"/") {
			continue
		}
		if !strings.HasSuffix(r, " Bearer test-token") {
			t.Errorf("request without the mirror's Authorization header: %s", r)
		}
		if strings.Contains(r, "/manifests/") {
			manifests++
		}
	}
	if manifests == 0 {
		t.Errorf("no manifest request for %s reached the mirror; saw %v", repo, reqs.snapshot())
	}
}

type runningSupervisor struct {
	sup     *containerd.Supervisor
	stop    func()
	stopped func() bool
}

// startSupervisor runs a Supervisor on dataDir until the returned stop is
// called (or the test ends) and waits for it to be ready.
func startSupervisor(t *testing.T, dataDir, mirrorURL string) runningSupervisor {
	t.Helper()
	sup := containerd.New(containerd.Config{
		DataDir:        dataDir,
		RegistryMirror: containerd.Mirror{URL: mirrorURL, AuthHeader: "Bearer test-token"},
		StopTimeout:    10 * time.Second,
		Log:            slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sup.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("supervisor Run: %v", err)
		}
	}
	t.Cleanup(stop)
	select {
	case <-sup.Ready():
	case err := <-done:
		stopped = true
		t.Fatalf("containerd did not start: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatalf("containerd not ready after 60s; log:\n%s", readFile(sup.Paths().Log))
	}
	return runningSupervisor{sup: sup, stop: stop, stopped: func() bool { return stopped }}
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

func dial(t *testing.T, sup *containerd.Supervisor) *cri.Client {
	t.Helper()
	c, err := cri.Dial(context.Background(), sup.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// removePodsAtCleanup removes every sandbox while containerd still runs
// (cleanups run last-in first-out), so that a failed test leaves no
// running shims or mounts in the temp dir behind.
func removePodsAtCleanup(t *testing.T, rs runningSupervisor, rt cri.Runtime) {
	t.Cleanup(func() {
		if rs.stopped() {
			return // a later supervisor owns the pods now
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		sbs, err := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
		if err != nil {
			t.Logf("cleanup: list sandboxes: %v", err)
			return
		}
		for _, sb := range sbs.Items {
			_, _ = rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.Id})
			_, _ = rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.Id})
		}
	})
}

func waitNetworkReady(ctx context.Context, t *testing.T, rt cri.Runtime) {
	t.Helper()
	for {
		st, err := rt.Status(ctx, &runtimeapi.StatusRequest{})
		if err == nil {
			for _, c := range st.Status.Conditions {
				if c.Type == runtimeapi.NetworkReady && c.Status {
					return
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("CRI network never became ready: %v / %v", err, st)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func sandboxConfig(name, logDir string) *runtimeapi.PodSandboxConfig {
	return &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Namespace: "default", Uid: name + "-uid"},
		Hostname:     name,
		LogDirectory: logDir,
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			// The agent's cgroupfs layout: a parent per QoS class and pod.
			CgroupParent: "/" + testCgroupRoot + "/besteffort/pod" + name,
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
				NamespaceOptions: &runtimeapi.NamespaceOption{
					Network: runtimeapi.NamespaceMode_POD,
					Pid:     runtimeapi.NamespaceMode_CONTAINER,
					Ipc:     runtimeapi.NamespaceMode_POD,
				},
			},
		},
	}
}

// runContainer creates and starts a container in the sandbox.
func runContainer(ctx context.Context, t *testing.T, rt cri.Runtime, sandboxID string, sbCfg *runtimeapi.PodSandboxConfig, name, image string, cmd ...string) string {
	t.Helper()
	cr, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{
		PodSandboxId: sandboxID,
		Config: &runtimeapi.ContainerConfig{
			Metadata: &runtimeapi.ContainerMetadata{Name: name},
			Image:    &runtimeapi.ImageSpec{Image: image},
			Command:  cmd,
			LogPath:  name + ".log",
		},
		SandboxConfig: sbCfg,
	})
	if err != nil {
		t.Fatalf("create container %s: %v", name, err)
	}
	if _, err := rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: cr.ContainerId}); err != nil {
		t.Fatalf("start container %s: %v", name, err)
	}
	return cr.ContainerId
}

// containerPID reads the task's pid from the verbose CRI status.
func containerPID(ctx context.Context, t *testing.T, rt cri.Runtime, id string) int {
	t.Helper()
	st, err := rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id, Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		Pid int `json:"pid"`
	}
	if err := json.Unmarshal([]byte(st.Info["info"]), &info); err != nil || info.Pid == 0 {
		t.Fatalf("no pid in container info (%v): %s", err, st.Info["info"])
	}
	return info.Pid
}

func sandboxNetNS(ctx context.Context, t *testing.T, rt cri.Runtime, id string) string {
	t.Helper()
	st, err := rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id, Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		RuntimeSpec struct {
			Linux struct {
				Namespaces []struct {
					Type string `json:"type"`
					Path string `json:"path"`
				} `json:"namespaces"`
			} `json:"linux"`
		} `json:"runtimeSpec"`
	}
	if err := json.Unmarshal([]byte(st.Info["info"]), &info); err != nil {
		t.Fatal(err)
	}
	for _, ns := range info.RuntimeSpec.Linux.Namespaces {
		if ns.Type == "network" {
			return ns.Path
		}
	}
	t.Fatalf("sandbox has no network namespace path: %s", st.Info["info"])
	return ""
}

func bridgePorts(t *testing.T) []string {
	t.Helper()
	br, err := netlink.LinkByName(testBridge)
	if err != nil {
		t.Fatalf("bridge %s: %v", testBridge, err)
	}
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	var ports []string
	for _, l := range links {
		if l.Attrs().MasterIndex == br.Attrs().Index {
			ports = append(ports, l.Attrs().Name)
		}
	}
	return ports
}

func processAlive(pid int) bool {
	_, err := os.Stat(filepath.Join("/proc", itoa(pid)))
	return err == nil
}

func itoa(i int) string { return strconv.Itoa(i) }

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func TestContainerdCRIEndToEnd(t *testing.T) {
	requireHost(t)
	t.Cleanup(func() {
		// The bridge belongs to this test only.
		if l, err := netlink.LinkByName(testBridge); err == nil {
			_ = netlink.LinkDel(l)
		}
	})
	t.Cleanup(removeTestCgroups)
	mirror, reqs := startRegistry(t)
	dataDir := t.TempDir()
	logDir := filepath.Join(dataDir, "pods")

	first := startSupervisor(t, dataDir, mirror)
	t.Logf("containerd start-to-ready: %v (host %+v)", first.sup.StartupTime(), first.sup.Host())
	paths := first.sup.Paths()

	conf, err := cni.Render(cni.Config{
		NetworkName: "gureum-it", Bridge: testBridge,
		PodCIDR: netip.MustParsePrefix(testPodCIDR), IPAMDataDir: paths.IPAMDataDir,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := cni.Install(paths.CNIConfDir, conf); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rt := dial(t, first.sup)
	removePodsAtCleanup(t, first, rt)
	waitNetworkReady(ctx, t, rt)

	// Short name through the mirror (docker.io/library/busybox:test).
	pull, err := rt.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: "busybox:test"}})
	if err != nil {
		t.Fatalf("pull busybox:test: %v\n%s", err, readFile(paths.Log))
	}
	image := pull.ImageRef
	assertPulledThroughMirror(t, reqs, "library/busybox")
	// A name the mirror lacks fails without any attempt elsewhere.
	if _, err := rt.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: "nosuch:1"}}); err == nil {
		t.Error("pull of an image the mirror lacks succeeded")
	}

	sbCfg := sandboxConfig("web", logDir)
	start := time.Now()
	sb, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: sbCfg})
	if err != nil {
		t.Fatalf("run sandbox: %v\n%s", err, readFile(paths.Log))
	}
	sleeper := runContainer(ctx, t, rt, sb.PodSandboxId, sbCfg, "sleeper", image, "sleep", "3600")
	t.Logf("first pod (sandbox+create+start, incl. sandbox image pull): %v", time.Since(start))

	sbStatus, err := rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: sb.PodSandboxId})
	if err != nil {
		t.Fatal(err)
	}
	podIP, err := netip.ParseAddr(sbStatus.Status.GetNetwork().GetIp())
	if err != nil || !netip.MustParsePrefix(testPodCIDR).Contains(podIP) {
		t.Fatalf("pod IP %q (%v) is not in %s", sbStatus.Status.GetNetwork().GetIp(), err, testPodCIDR)
	}
	assertPulledThroughMirror(t, reqs, "pause")
	netnsPath := sandboxNetNS(ctx, t, rt, sb.PodSandboxId)
	t.Logf("pod IP %s, netns %s", podIP, netnsPath)
	if _, err := os.Stat(netnsPath); err != nil {
		t.Fatalf("sandbox netns: %v", err)
	}
	if ports := bridgePorts(t); len(ports) != 1 {
		t.Fatalf("bridge ports = %v, want one veth", ports)
	}
	ipamFile := filepath.Join(paths.IPAMDataDir, "gureum-it", podIP.String())
	if _, err := os.Stat(ipamFile); err != nil {
		t.Fatalf("host-local has no record of %s: %v", podIP, err)
	}

	exec1, err := rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: sleeper, Cmd: []string{"echo", "hi"}, Timeout: 10})
	if err != nil || exec1.ExitCode != 0 || string(exec1.Stdout) != "hi\n" {
		t.Fatalf("exec echo hi: %v, %+v", err, exec1)
	}

	web := runContainer(ctx, t, rt, sb.PodSandboxId, sbCfg, "web", image,
		"sh", "-c", "mkdir -p /www && echo hello-from-pod > /www/index.html && exec httpd -f -p 8080 -h /www")
	body := httpGet(ctx, t, netip.AddrPortFrom(podIP, 8080))
	if !strings.Contains(body, "hello-from-pod") {
		t.Fatalf("GET pod:8080 = %q", body)
	}

	cs, err := rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: sleeper})
	if err != nil || cs.Status.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
		t.Fatalf("sleeper status: %v %+v", err, cs)
	}
	pid := containerPID(ctx, t, rt, sleeper)
	if cg := readFile("/proc/" + itoa(pid) + "/cgroup"); !strings.Contains(cg, "/"+testCgroupRoot+"/besteffort/podweb/") {
		t.Errorf("container is not in the pod's cgroup:\n%s", cg)
	}

	// Restart containerd under a new Supervisor: the container keeps
	// running through it and is listed by the new containerd.
	first.stop()
	if !processAlive(pid) {
		t.Fatal("container process died with containerd")
	}
	restartStart := time.Now()
	second := startSupervisor(t, dataDir, mirror)
	t.Logf("containerd restart start-to-ready: %v (wall %v)", second.sup.StartupTime(), time.Since(restartStart))
	rt = dial(t, second.sup)
	removePodsAtCleanup(t, second, rt)
	list, err := rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{
		State: &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING},
	}})
	if err != nil {
		t.Fatal(err)
	}
	running := map[string]bool{}
	for _, c := range list.Containers {
		running[c.Id] = true
	}
	if !running[sleeper] || !running[web] {
		t.Fatalf("after restart running containers = %v, want %s and %s", running, sleeper, web)
	}
	if got := containerPID(ctx, t, rt, sleeper); got != pid {
		t.Fatalf("sleeper pid after restart = %d, want %d", got, pid)
	}
	exec2, err := rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: sleeper, Cmd: []string{"echo", "again"}, Timeout: 10})
	if err != nil || string(exec2.Stdout) != "again\n" {
		t.Fatalf("exec after restart: %v %+v", err, exec2)
	}
	if body := httpGet(ctx, t, netip.AddrPortFrom(podIP, 8080)); !strings.Contains(body, "hello-from-pod") {
		t.Fatalf("GET after restart = %q", body)
	}

	// Tear down and check that nothing is left behind.
	for _, id := range []string{sleeper, web} {
		if _, err := rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: id, Timeout: 2}); err != nil {
			t.Fatalf("stop container: %v", err)
		}
		if _, err := rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: id}); err != nil {
			t.Fatalf("remove container: %v", err)
		}
	}
	stopStart := time.Now()
	if _, err := rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.PodSandboxId}); err != nil {
		t.Fatalf("stop sandbox: %v", err)
	}
	t.Logf("StopPodSandbox: %v", time.Since(stopStart))
	if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.PodSandboxId}); err != nil {
		t.Fatalf("remove sandbox: %v", err)
	}
	if _, err := os.Stat(netnsPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("netns %s left behind: %v", netnsPath, err)
	}
	if ports := bridgePorts(t); len(ports) != 0 {
		t.Errorf("veths left on %s: %v", testBridge, ports)
	}
	if _, err := os.Stat(ipamFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("IP %s not released: %v", podIP, err)
	}
	if sbs, err := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{}); err != nil || len(sbs.Items) != 0 {
		t.Errorf("sandboxes left: %v %v", err, sbs)
	}

	measurePodStart(ctx, t, rt, second.sup, image, logDir)

	// Nothing ever tried to reach a registry but the mirror.
	for _, upstream := range []string{"registry-1.docker.io", "gureum.local"} {
		if log := readFile(paths.Log); strings.Contains(log, "https://"+upstream) {
			t.Errorf("containerd contacted %s:\n%s", upstream, log)
		}
	}
}

// removeTestCgroups removes the (empty) pod and QoS cgroups the test's
// sandboxes created: runc removes only the containers' own cgroups, the
// parents belong to whoever chose them (the agent, here the test).
func removeTestCgroups() {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/" + testCgroupRoot)
	if _, err := os.Stat("/sys/fs/cgroup/" + testCgroupRoot); err == nil {
		roots = append(roots, "/sys/fs/cgroup/"+testCgroupRoot)
	}
	for _, root := range roots {
		var dirs []string
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- { // children first
			_ = os.Remove(dirs[i])
		}
	}
}

func httpGet(ctx context.Context, t *testing.T, addr netip.AddrPort) string {
	t.Helper()
	for {
		conn, err := net.DialTimeout("tcp", addr.String(), time.Second)
		if err == nil {
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			_, _ = io.WriteString(conn, "GET / HTTP/1.0\r\n\r\n")
			b, _ := io.ReadAll(conn)
			conn.Close()
			if len(b) > 0 {
				return string(b)
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("connect %s: %v", addr, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// measurePodStart compares a pod start through CRI (sandbox with network,
// then one container) with a bare `ctr run --rm` of the same image, side
// by side, medians of a few runs.
func measurePodStart(ctx context.Context, t *testing.T, rt cri.Runtime, sup *containerd.Supervisor, image, logDir string) {
	const runs = 3
	var criTimes, ctrTimes []time.Duration
	for i := range runs {
		name := "bench-" + itoa(i)
		cfg := sandboxConfig(name, logDir)
		start := time.Now()
		sb, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
		if err != nil {
			t.Fatal(err)
		}
		runContainer(ctx, t, rt, sb.PodSandboxId, cfg, "c", image, "true")
		criTimes = append(criTimes, time.Since(start))
		if _, err := rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.PodSandboxId}); err != nil {
			t.Fatal(err)
		}
		if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.PodSandboxId}); err != nil {
			t.Fatal(err)
		}

		start = time.Now()
		out, err := exec.CommandContext(ctx, "ctr", "-a", sup.Paths().Socket, "-n", "k8s.io", "run", "--rm",
			"docker.io/library/busybox:test", "gureum-bench-"+itoa(i), "true").CombinedOutput()
		if err != nil {
			t.Fatalf("ctr run: %v\n%s", err, out)
		}
		ctrTimes = append(ctrTimes, time.Since(start))
	}
	t.Logf("pod start via CRI (RunPodSandbox+Create+Start): median %v of %v", median(criTimes), criTimes)
	t.Logf("bare ctr run --rm (create+start+exit+delete):   median %v of %v", median(ctrTimes), ctrTimes)
}
