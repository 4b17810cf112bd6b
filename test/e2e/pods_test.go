package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// node is a running `gureum server` with its own agent: containerd, runc
// and CNI on this machine, as a user's `gureum up` has them.
type node struct {
	*server
	AgentPort int
	opts      serverOpts
}

func startNode(t *testing.T) *node {
	t.Helper()
	return startNodeWith(t, serverOpts{})
}

// startNodeWith starts a node with opts; ports, data dir and agent are
// filled in.
func startNodeWith(t *testing.T, opts serverOpts) *node {
	t.Helper()
	requireRoot(t, "the agent runs containerd, runc and CNI plugins in network namespaces")
	for _, bin := range []string{"containerd", "runc", "ctr", "ip"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s is required for pods (make deps installs it): %v", bin, err)
		}
	}
	n := &node{AgentPort: freePort(t)}
	dir := t.TempDir()
	// Cluster DNS on a free port, so a cloud already running on this
	// machine (holding port 53) does not stop the test's.
	n.opts = opts
	n.opts.AgentPort, n.opts.DataDir = n.AgentPort, dir
	n.opts.Extra = append(n.opts.Extra, "--cluster-dns-port", strconv.Itoa(freePort(t)))
	// Cleanups run last-registered first: pods are deleted while the
	// server still runs, then the server stops, then whatever a failed
	// test left running under this data dir is killed so the temporary
	// directory can go.
	netnsBefore := netnsNames(t)
	t.Cleanup(func() { killLeftovers(t, dir, netnsBefore) })
	n.server = startServer(t, n.opts)
	n.opts.Ports = &n.Ports
	t.Cleanup(func() { n.deleteEverything(t) })
	t.Cleanup(func() { n.logPodsIfFailed(t) })
	n.waitNodeReady(t)
	return n
}

// logPodsIfFailed shows, for a failed test, where each pod stood and the
// events that led there, while the server still answers: the server log
// alone does not say why a rollout did not finish.
func (n *node) logPodsIfFailed(t *testing.T) {
	if !t.Failed() {
		return
	}
	select {
	case <-n.exited:
		return
	default:
	}
	for _, args := range [][]string{
		{"get", "pods", "-A", "-o", "wide"},
		{"describe", "pods"},
		{"get", "events", "-A", "--sort-by=.lastTimestamp"},
	} {
		out, err := kubectl(t, n.Kubeconfig, args...)
		t.Logf("kubectl %s (err %v):\n%s", strings.Join(args, " "), err, tail(out, 6000))
	}
}

// deleteEverything removes the test's pods through the API and waits
// until the runtime holds no task, so no container outlives the test.
func (n *node) deleteEverything(t *testing.T) {
	select {
	case <-n.exited:
		return
	default:
	}
	_, _ = kubectl(t, n.Kubeconfig, "delete", "deployments,pods", "--all", "--grace-period=1", "--wait=true", "--timeout=60s")
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		out, err := exec.Command("ctr", "--address", n.containerdSocket(), "-n", "k8s.io", "tasks", "ls", "-q").CombinedOutput()
		if err == nil && strings.TrimSpace(string(out)) == "" {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("containers still running after the test deleted every pod")
}

// killLeftovers kills container shims and processes started for the data
// dir dir, after a failed test left them behind.
func killLeftovers(t *testing.T, dir string, netnsBefore map[string]bool) {
	out, _ := exec.Command("pgrep", "-f", dir).Output()
	for _, f := range strings.Fields(string(out)) {
		pid, err := strconv.Atoi(f)
		if err != nil || pid == os.Getpid() {
			continue
		}
		// A shim's children are the containers: killing only the shim
		// would orphan them, still holding their addresses.
		if kids, _ := exec.Command("pgrep", "-P", f).Output(); len(kids) > 0 {
			for _, k := range strings.Fields(string(kids)) {
				if kid, err := strconv.Atoi(k); err == nil {
					_ = syscall.Kill(kid, syscall.SIGKILL)
				}
			}
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	// Shims and the runc processes beneath them may take a moment to go
	// and release their mounts.
	for i := 0; i < 50; i++ {
		if out, _ := exec.Command("pgrep", "-f", dir).Output(); len(strings.TrimSpace(string(out))) == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = exec.Command("sh", "-c", "grep -F "+dir+" /proc/mounts | cut -d' ' -f2 | sort -r | xargs -r umount -l").Run()
	// Pod network namespaces this test's node made and nobody removed
	// (the agent was killed before CNI DEL): their veths on the shared
	// bridge would hold pod addresses the next test's pods get again.
	for ns := range netnsNames(t) {
		if netnsBefore[ns] {
			continue
		}
		if pids, _ := exec.Command("ip", "netns", "pids", ns).Output(); len(strings.TrimSpace(string(pids))) > 0 {
			continue
		}
		if out, _ := exec.Command("ip", "netns", "exec", ns, "ip", "-o", "link", "show", "eth0").Output(); len(out) > 0 {
			_ = exec.Command("ip", "netns", "exec", ns, "ip", "link", "del", "eth0").Run()
		}
		_ = exec.Command("ip", "netns", "del", ns).Run()
	}
}

// netnsNames are the pod network namespaces (named cni-…) on the machine.
func netnsNames(t *testing.T) map[string]bool {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v %s", err, out)
	}
	names := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], "cni-") {
			names[f[0]] = true
		}
	}
	return names
}

func (n *node) waitNodeReady(t *testing.T) {
	t.Helper()
	eventually(t, 60*time.Second, "node Ready", func() error {
		out, err := kubectl(t, n.Kubeconfig, "get", "nodes", "-o", `jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}`)
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		if !strings.Contains(out, "=True") {
			return fmt.Errorf("nodes: %q", out)
		}
		return nil
	})
}

func (n *node) kubectl(t *testing.T, args ...string) string {
	t.Helper()
	return mustKubectl(t, n.Kubeconfig, args...)
}

func (n *node) apply(t *testing.T, manifest string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "manifest.yaml")
	if err := os.WriteFile(f, []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	n.kubectl(t, "apply", "-f", f)
}

// containerdSocket is where the agent's own containerd listens.
func (n *node) containerdSocket() string {
	return filepath.Join(n.DataDir, "agent", "containerd", "containerd.sock")
}

// allocatedIPs are the pod addresses the host-local IPAM plugin holds.
func (n *node) allocatedIPs(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(n.DataDir, "agent", "cni", "networks", "*", "10.*"))
	if err != nil {
		t.Fatal(err)
	}
	var ips []string
	for _, f := range files {
		ips = append(ips, filepath.Base(f))
	}
	return ips
}

// buildBusyboxImage packs Debian's static busybox and a web page into an
// image and pushes it to the cluster's registry with `gureum image build`.
func buildBusyboxImage(t *testing.T, kubeconfig, tag string) {
	t.Helper()
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatalf("busybox is required to build the test image (apt-get install busybox-static): %v", err)
	}
	if out, _ := exec.Command("ldd", busybox).CombinedOutput(); !strings.Contains(string(out), "not a dynamic executable") && !strings.Contains(string(out), "statically linked") {
		t.Fatalf("%s is dynamically linked and cannot run in an image without libc; install busybox-static:\n%s", busybox, out)
	}
	root := t.TempDir()
	for _, d := range []string{"bin", "www", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, applet := range []string{"sh", "httpd", "wget", "cat", "echo", "sleep", "tar", "env", "ls", "hostname", "nc", "true", "false", "rm", "ping", "nslookup", "seq", "dd", "grep", "cut"} {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", applet)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "www", "index.html"), []byte("hello from gureum\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(gureumBin, "image", "build", "--rootfs", root, "--tag", tag, "--entrypoint", "/bin/sh", "--kubeconfig", kubeconfig).CombinedOutput()
	if err != nil {
		t.Fatalf("gureum image build: %v\n%s", err, out)
	}
}

func httpGet(url string) (string, error) {
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), err
}

type podInfo struct {
	Metadata struct {
		Name              string  `json:"name"`
		UID               string  `json:"uid"`
		DeletionTimestamp *string `json:"deletionTimestamp"`
	} `json:"metadata"`
	Status struct {
		Phase             string `json:"phase"`
		PodIP             string `json:"podIP"`
		HostIP            string `json:"hostIP"`
		ContainerStatuses []struct {
			Name         string `json:"name"`
			Ready        bool   `json:"ready"`
			RestartCount int    `json:"restartCount"`
			ContainerID  string `json:"containerID"`
			State        struct {
				Waiting *struct {
					Reason  string `json:"reason"`
					Message string `json:"message"`
				} `json:"waiting"`
			} `json:"state"`
		} `json:"containerStatuses"`
	} `json:"status"`
}

func (n *node) pods(t *testing.T, selector string) []podInfo {
	t.Helper()
	var l struct {
		Items []podInfo `json:"items"`
	}
	out := n.kubectl(t, "get", "pods", "-l", selector, "-o", "json")
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("decode pods: %v\n%s", err, out)
	}
	return l.Items
}

func (n *node) pod(t *testing.T, name string) podInfo {
	t.Helper()
	var p podInfo
	out := n.kubectl(t, "get", "pod", name, "-o", "json")
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("decode pod: %v\n%s", err, out)
	}
	return p
}

const webDeployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: web
        image: e2e-busybox:1
        command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
        ports: [{containerPort: 8080, name: http}]
        readinessProbe: {httpGet: {path: /, port: http}, periodSeconds: 1}
`

// Real pods through the real binary, containerd, runc and CNI, driven by
// the real kubectl: the life of a workload from image build to deletion.
// The subtests share one node and run in order.
func TestRealPods(t *testing.T) {
	n := startNode(t)
	kc := n.Kubeconfig
	parent := t // the restarted server must outlive the subtest that restarts it
	buildBusyboxImage(t, kc, "e2e-busybox:1")
	netnsBefore := netnsCount(t)

	t.Run("deployment runs and pods reach each other", func(t *testing.T) {
		n.apply(t, webDeployment)
		out := n.kubectl(t, "rollout", "status", "deployment/web", "--timeout=90s")
		if !strings.Contains(out, "successfully rolled out") {
			t.Fatalf("rollout status: %s", out)
		}
		pods := n.pods(t, "app=web")
		if len(pods) != 3 {
			t.Fatalf("%d web pods, want 3", len(pods))
		}
		seen := map[string]bool{}
		for _, p := range pods {
			if p.Status.PodIP == "" || seen[p.Status.PodIP] || !strings.HasPrefix(p.Status.PodIP, "10.42.") {
				t.Fatalf("pod %s has IP %q; want a distinct address from the cluster CIDR", p.Metadata.Name, p.Status.PodIP)
			}
			seen[p.Status.PodIP] = true
			if !slices.Contains(n.allocatedIPs(t), p.Status.PodIP) {
				t.Errorf("pod IP %s is not among host-local's allocations %v", p.Status.PodIP, n.allocatedIPs(t))
			}
			// The node reaches every pod at its IP.
			if body, err := httpGet("http://" + net.JoinHostPort(p.Status.PodIP, "8080") + "/"); err != nil || body != "hello from gureum\n" {
				t.Errorf("GET pod %s at %s from the node: %q %v", p.Metadata.Name, p.Status.PodIP, body, err)
			}
		}
		// Pod to pod.
		out = n.kubectl(t, "exec", pods[0].Metadata.Name, "--", "wget", "-qO-", "http://"+net.JoinHostPort(pods[1].Status.PodIP, "8080")+"/")
		if out != "hello from gureum\n" {
			t.Errorf("pod %s fetching from pod %s: %q", pods[0].Metadata.Name, pods[1].Metadata.Name, out)
		}
	})

	t.Run("logs exec attach port-forward cp", func(t *testing.T) {
		n.apply(t, `apiVersion: v1
kind: Pod
metadata: {name: talker, labels: {app: talker}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: talk
    image: e2e-busybox:1
    command: ["sh", "-c", "for i in 1 2 3; do echo line-$i; done; exec sleep 3600"]
`)
		n.kubectl(t, "wait", "--for=condition=Ready", "pod/talker", "--timeout=60s")
		eventually(t, 10*time.Second, "logs", func() error {
			if out := n.kubectl(t, "logs", "talker"); out != "line-1\nline-2\nline-3\n" {
				return fmt.Errorf("kubectl logs = %q", out)
			}
			return nil
		})
		if out := n.kubectl(t, "logs", "talker", "--tail=1", "-c", "talk"); out != "line-3\n" {
			t.Errorf("kubectl logs --tail=1 = %q", out)
		}
		if out := n.kubectl(t, "exec", "talker", "--", "sh", "-c", "echo $((6*7)); hostname"); out != "42\ntalker\n" {
			t.Errorf("kubectl exec = %q", out)
		}
		out, err := kubectlStdin(t, kc, "ping\n", "exec", "-i", "talker", "--", "cat")
		if err != nil || out != "ping\n" {
			t.Errorf("kubectl exec -i cat: %q %v", out, err)
		}
		if out, err := kubectl(t, kc, "exec", "talker", "--", "false"); err == nil || !strings.Contains(out, "exit code 1") {
			t.Errorf("kubectl exec false: %q %v, want exit code 1", out, err)
		}

		src := filepath.Join(t.TempDir(), "note.txt")
		if err := os.WriteFile(src, []byte("copied in\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		n.kubectl(t, "cp", src, "talker:/tmp/note.txt")
		if out := n.kubectl(t, "exec", "talker", "--", "cat", "/tmp/note.txt"); out != "copied in\n" {
			t.Errorf("after kubectl cp: %q", out)
		}
		back := filepath.Join(t.TempDir(), "back.txt")
		n.kubectl(t, "cp", "talker:/tmp/note.txt", back)
		if b, err := os.ReadFile(back); err != nil || string(b) != "copied in\n" {
			t.Errorf("kubectl cp out of the pod: %q %v", b, err)
		}

		local := freePort(t)
		pf := exec.Command(kubectlPath(t), "--kubeconfig", kc, "port-forward", "deployment/web", fmt.Sprintf("%d:8080", local))
		pf.Env = append(os.Environ(), "HOME="+t.TempDir())
		if err := pf.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = pf.Process.Kill(); _ = pf.Wait() }()
		eventually(t, 15*time.Second, "port-forward", func() error {
			body, err := httpGet(fmt.Sprintf("http://127.0.0.1:%d/", local))
			if err != nil {
				return err
			}
			if body != "hello from gureum\n" {
				return fmt.Errorf("body %q", body)
			}
			return nil
		})
	})

	t.Run("env and volumes", func(t *testing.T) {
		n.apply(t, `apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {greeting: hello}
---
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {password: s3cret}
---
apiVersion: v1
kind: Pod
metadata: {name: reader, labels: {app: reader}}
spec:
  terminationGracePeriodSeconds: 1
  initContainers:
  - name: init
    image: e2e-busybox:1
    command: ["sh", "-c", "echo from-init > /work/init.txt"]
    volumeMounts: [{name: work, mountPath: /work}]
  containers:
  - name: main
    image: e2e-busybox:1
    command: ["sh", "-c", "echo $GREETING $PASSWORD $MY_NAME $MY_IP; cat /work/init.txt; exec sleep 3600"]
    env:
    - {name: GREETING, valueFrom: {configMapKeyRef: {name: settings, key: greeting}}}
    - {name: PASSWORD, valueFrom: {secretKeyRef: {name: creds, key: password}}}
    - {name: MY_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: MY_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
    volumeMounts:
    - {name: work, mountPath: /work}
    - {name: settings, mountPath: /etc/settings}
    - {name: creds, mountPath: /etc/creds}
  volumes:
  - {name: work, emptyDir: {}}
  - {name: settings, configMap: {name: settings}}
  - {name: creds, secret: {secretName: creds}}
`)
		n.kubectl(t, "wait", "--for=condition=Ready", "pod/reader", "--timeout=60s")
		ip := n.pod(t, "reader").Status.PodIP
		eventually(t, 10*time.Second, "reader logs", func() error {
			want := "hello s3cret reader " + ip + "\nfrom-init\n"
			if out := n.kubectl(t, "logs", "reader", "-c", "main"); out != want {
				return fmt.Errorf("logs %q, want %q", out, want)
			}
			return nil
		})
		if out := n.kubectl(t, "exec", "reader", "-c", "main", "--", "cat", "/etc/settings/greeting", "/etc/creds/password"); out != "hellos3cret" {
			t.Errorf("mounted configMap and secret: %q", out)
		}
		n.kubectl(t, "patch", "configmap", "settings", "-p", `{"data":{"greeting":"updated"}}`)
		eventually(t, 30*time.Second, "configMap update reaches the mounted file", func() error {
			if out := n.kubectl(t, "exec", "reader", "-c", "main", "--", "cat", "/etc/settings/greeting"); out != "updated" {
				return fmt.Errorf("file holds %q", out)
			}
			return nil
		})
	})

	t.Run("limits hooks downward API and streaming", func(t *testing.T) {
		hostDir := t.TempDir()
		n.apply(t, fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata: {name: bulk}
data: {ALPHA: a, BETA: b}
---
apiVersion: v1
kind: Pod
metadata: {name: shaped, labels: {app: shaped, tier: test}}
spec:
  terminationGracePeriodSeconds: 5
  containers:
  - name: main
    image: e2e-busybox:1
    command: ["sh", "-c", "echo started; while true; do sleep 1; echo tick; done"]
    resources:
      requests: {cpu: 100m, memory: 16Mi}
      limits: {cpu: 500m, memory: 32Mi}
    envFrom: [{configMapRef: {name: bulk}, prefix: CM_}]
    env:
    - {name: MEM_LIMIT, valueFrom: {resourceFieldRef: {resource: limits.memory}}}
    lifecycle:
      postStart: {exec: {command: ["sh", "-c", "echo post > /tmp/poststart"]}}
      preStop: {exec: {command: ["sh", "-c", "echo bye > /host/prestop"]}}
    volumeMounts:
    - {name: info, mountPath: /info}
    - {name: proj, mountPath: /proj}
    - {name: host, mountPath: /host}
    - {name: shm, mountPath: /shm}
  volumes:
  - name: info
    downwardAPI:
      items:
      - {path: labels, fieldRef: {fieldPath: metadata.labels}}
      - {path: cpu, resourceFieldRef: {containerName: main, resource: limits.cpu, divisor: 1m}}
  - name: proj
    projected:
      sources:
      - configMap: {name: bulk, items: [{key: ALPHA, path: alpha}]}
      - downwardAPI: {items: [{path: name, fieldRef: {fieldPath: metadata.name}}]}
  - {name: host, hostPath: {path: %s, type: Directory}}
  - {name: shm, emptyDir: {medium: Memory, sizeLimit: 8Mi}}
`, hostDir))
		n.kubectl(t, "wait", "--for=condition=Ready", "pod/shaped", "--timeout=60s")
		exec := func(script string) string { return n.kubectl(t, "exec", "shaped", "--", "sh", "-c", script) }
		if out := exec("echo $CM_ALPHA $CM_BETA $MEM_LIMIT"); out != "a b 33554432\n" {
			t.Errorf("envFrom with prefix and resourceFieldRef: %q", out)
		}
		if out := exec("cat /tmp/poststart"); out != "post\n" {
			t.Errorf("postStart hook: %q", out)
		}
		if out := exec("cat /info/labels; echo; cat /info/cpu; echo; cat /proj/alpha /proj/name"); out != "app=\"shaped\"\ntier=\"test\"\n500\nashaped" {
			t.Errorf("downwardAPI and projected volumes: %q", out)
		}
		if out := exec("grep ' /shm ' /proc/mounts | cut -d' ' -f3"); out != "tmpfs\n" {
			t.Errorf("emptyDir medium Memory is not tmpfs: %q", out)
		}
		// The limits are the container's cgroup limits (v1 or v2 paths).
		mem := exec("cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max")
		if strings.TrimSpace(mem) != "33554432" {
			t.Errorf("memory cgroup limit = %q, want 33554432", mem)
		}
		cpu := exec("cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cut -d' ' -f1 /sys/fs/cgroup/cpu.max")
		if strings.TrimSpace(cpu) != "50000" {
			t.Errorf("cpu cgroup quota = %q, want 50000 (500m of a 100ms period)", cpu)
		}

		// kubectl logs -f follows new lines; kubectl attach sees them too.
		for _, args := range [][]string{{"logs", "-f", "shaped"}, {"attach", "shaped"}} {
			cmd := exec_(t, kc, args...)
			out := &syncBuffer{}
			cmd.Stdout, cmd.Stderr = out, out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			eventually(t, 15*time.Second, "kubectl "+args[0]+" streams", func() error {
				if strings.Count(out.String(), "tick") < 2 {
					return fmt.Errorf("output so far %q", out.String())
				}
				return nil
			})
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		if out := n.kubectl(t, "logs", "shaped", "--since=1h"); !strings.HasPrefix(out, "started\n") {
			t.Errorf("kubectl logs --since=1h: %q", out)
		}

		// Deletion runs the preStop hook before the container stops.
		n.kubectl(t, "delete", "pod", "shaped", "--wait=true", "--timeout=60s")
		if b, err := os.ReadFile(filepath.Join(hostDir, "prestop")); err != nil || string(b) != "bye\n" {
			t.Errorf("preStop hook through hostPath: %q %v", b, err)
		}

		// A container beyond its memory limit is OOM-killed and says so.
		n.apply(t, `apiVersion: v1
kind: Pod
metadata: {name: hog}
spec:
  restartPolicy: Never
  containers:
  - name: hog
    image: e2e-busybox:1
    command: ["sh", "-c", "dd if=/dev/zero of=/shm/fill bs=1M count=64"]
    resources: {limits: {memory: 16Mi}}
    volumeMounts: [{name: shm, mountPath: /shm}]
  volumes: [{name: shm, emptyDir: {medium: Memory}}]
`)
		eventually(t, 60*time.Second, "OOMKilled", func() error {
			out := n.kubectl(t, "get", "pod", "hog", "-o", "jsonpath={.status.containerStatuses[0].state.terminated.reason}")
			if out != "OOMKilled" {
				return fmt.Errorf("terminated reason %q", out)
			}
			return nil
		})
		n.kubectl(t, "delete", "pod", "hog", "--wait=true", "--timeout=60s")
	})

	t.Run("crash loop and pull errors", func(t *testing.T) {
		n.apply(t, `apiVersion: v1
kind: Pod
metadata: {name: crasher}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: boom, image: e2e-busybox:1, command: ["sh", "-c", "echo boom; exit 3"]}
---
apiVersion: v1
kind: Pod
metadata: {name: missing-image}
spec:
  containers:
  - {name: app, image: "no-such-image:1"}
`)
		eventually(t, 60*time.Second, "CrashLoopBackOff", func() error {
			p := n.pod(t, "crasher")
			if len(p.Status.ContainerStatuses) != 1 {
				return fmt.Errorf("no container status yet")
			}
			cs := p.Status.ContainerStatuses[0]
			if cs.RestartCount < 1 || cs.State.Waiting == nil || cs.State.Waiting.Reason != "CrashLoopBackOff" {
				return fmt.Errorf("restarts %d waiting %+v", cs.RestartCount, cs.State.Waiting)
			}
			return nil
		})
		if out := n.kubectl(t, "logs", "crasher", "--previous"); out != "boom\n" {
			t.Errorf("kubectl logs --previous = %q", out)
		}
		if out := n.kubectl(t, "get", "pod", "crasher"); !strings.Contains(out, "CrashLoopBackOff") {
			t.Errorf("kubectl get pod shows no CrashLoopBackOff:\n%s", out)
		}
		eventually(t, 30*time.Second, "ImagePullBackOff", func() error {
			p := n.pod(t, "missing-image")
			if len(p.Status.ContainerStatuses) != 1 || p.Status.ContainerStatuses[0].State.Waiting == nil {
				return fmt.Errorf("no waiting state yet")
			}
			w := p.Status.ContainerStatuses[0].State.Waiting
			if (w.Reason != "ErrImagePull" && w.Reason != "ImagePullBackOff") || w.Message == "" {
				return fmt.Errorf("waiting %+v", w)
			}
			return nil
		})
		n.kubectl(t, "delete", "pod", "crasher", "missing-image", "--wait=true", "--timeout=60s")
	})

	t.Run("hostPort", func(t *testing.T) {
		hostPort := freePort(t)
		n.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: hostport}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: e2e-busybox:1
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    ports: [{containerPort: 8080, hostPort: %d}]
`, hostPort))
		n.kubectl(t, "wait", "--for=condition=Ready", "pod/hostport", "--timeout=60s")
		hostIP := n.pod(t, "hostport").Status.HostIP
		if hostIP == "" {
			t.Fatal("pod has no hostIP")
		}
		eventually(t, 10*time.Second, "hostPort", func() error {
			body, err := httpGet("http://" + net.JoinHostPort(hostIP, strconv.Itoa(hostPort)) + "/")
			if err != nil {
				return err
			}
			if body != "hello from gureum\n" {
				return fmt.Errorf("body %q", body)
			}
			return nil
		})
		n.kubectl(t, "delete", "pod", "hostport", "--wait=true", "--timeout=60s")
	})

	t.Run("pods outlive a restart of the server and agent", func(t *testing.T) {
		before := map[string]podInfo{}
		for _, p := range n.pods(t, "app=web") {
			before[p.Metadata.Name] = p
		}
		if code, took := n.terminate(); code != 0 {
			t.Fatalf("gureum exited %d after SIGTERM (took %v)", code, took)
		}
		// With the control plane and agent down, the pods still serve.
		for _, p := range before {
			if _, err := httpGet("http://" + net.JoinHostPort(p.Status.PodIP, "8080") + "/"); err != nil {
				t.Errorf("pod %s stopped serving while gureum was down: %v", p.Metadata.Name, err)
			}
		}
		n.server = startServer(parent, n.opts)
		n.waitNodeReady(t)
		eventually(t, 30*time.Second, "pods adopted again", func() error {
			after := n.pods(t, "app=web")
			if len(after) != len(before) {
				return fmt.Errorf("%d pods, had %d", len(after), len(before))
			}
			for _, p := range after {
				b, ok := before[p.Metadata.Name]
				if !ok {
					return fmt.Errorf("new pod %s", p.Metadata.Name)
				}
				if len(p.Status.ContainerStatuses) != 1 || !p.Status.ContainerStatuses[0].Ready {
					return fmt.Errorf("pod %s not ready", p.Metadata.Name)
				}
				cs, bs := p.Status.ContainerStatuses[0], b.Status.ContainerStatuses[0]
				if cs.ContainerID != bs.ContainerID || cs.RestartCount != bs.RestartCount || p.Status.PodIP != b.Status.PodIP {
					return fmt.Errorf("pod %s changed: container %s->%s restarts %d->%d ip %s->%s", p.Metadata.Name, bs.ContainerID, cs.ContainerID, bs.RestartCount, cs.RestartCount, b.Status.PodIP, p.Status.PodIP)
				}
			}
			return nil
		})
	})

	t.Run("deletion leaves nothing behind", func(t *testing.T) {
		n.kubectl(t, "delete", "deployment", "web", "--wait=true", "--timeout=60s")
		n.kubectl(t, "delete", "pod", "--all", "--wait=true", "--timeout=60s")
		eventually(t, 60*time.Second, "no pods", func() error {
			if out := n.kubectl(t, "get", "pods", "-o", "name"); strings.TrimSpace(out) != "" {
				return fmt.Errorf("pods left: %s", out)
			}
			return nil
		})
		eventually(t, 30*time.Second, "runtime empty", func() error {
			for _, kind := range []string{"containers", "tasks"} {
				out, err := exec.Command("ctr", "--address", n.containerdSocket(), "-n", "k8s.io", kind, "ls", "-q").CombinedOutput()
				if err != nil {
					return fmt.Errorf("ctr %s ls: %v %s", kind, err, out)
				}
				if strings.TrimSpace(string(out)) != "" {
					return fmt.Errorf("%s left in containerd: %s", kind, out)
				}
			}
			if got := netnsCount(t); got > netnsBefore {
				return fmt.Errorf("%d network namespaces, %d before the test", got, netnsBefore)
			}
			if ips := n.allocatedIPs(t); len(ips) != 0 {
				return fmt.Errorf("pod addresses still allocated: %v", ips)
			}
			return nil
		})
	})
}

func netnsCount(t *testing.T) int {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v %s", err, out)
	}
	return strings.Count(string(out), "cni-")
}

// exec_ is a kubectl command not yet started, for streams that run until
// the test stops them.
func exec_(t *testing.T, kubeconfig string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(kubectlPath(t), append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	return cmd
}

func kubectlStdin(t *testing.T, kubeconfig, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(kubectlPath(t), append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func execOutput(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}
