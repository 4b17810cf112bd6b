// Command agent measures pod startup on one real node: API create to Ready
// for a burst of pods, a Deployment until every replica is available, and
// beside them, in the same run, the floor: a bare `ctr run --rm` of the
// same image in the node's own containerd. bench/agent/run.sh starts the
// server and agent and runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
)

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "admin kubeconfig")
	image := flag.String("image", "bench-busybox:1", "image the pods run")
	socket := flag.String("containerd", "", "the agent's containerd socket, for the ctr floor")
	pods := flag.Int("pods", 50, "pods created at once per run")
	replicas := flag.Int("replicas", 20, "replicas of the Deployment")
	runs := flag.Int("runs", 3, "runs of each measurement")
	hold := flag.Int("hold", 0, "after the runs, keep this many pods running (for idle RSS/CPU) until stdin closes")
	flag.Parse()
	if err := run(*kubeconfig, *image, *socket, *pods, *replicas, *runs, *hold); err != nil {
		fmt.Fprintln(os.Stderr, "bench/agent:", err)
		os.Exit(1)
	}
}

func run(kubeconfig, image, socket string, pods, replicas, runs, hold int) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("load kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = 1000, 1000
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx := context.Background()

	// Warm up: the image is pulled into the node once, as for any later
	// start of the same image; every measurement below starts from a
	// pulled image.
	if _, err := podBurst(ctx, c, "bench-warm", image, 1, false); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	var all, floors, burstFloors, deploys []time.Duration
	var p50s, p99s []time.Duration
	for r := 0; r < runs; r++ {
		lat, err := podBurst(ctx, c, fmt.Sprintf("bench-pods-%d", r), image, pods, false)
		if err != nil {
			return err
		}
		p50s = append(p50s, quantile(lat, 0.50))
		p99s = append(p99s, quantile(lat, 0.99))
		all = append(all, lat...)
		if socket != "" {
			f, err := ctrFloor(socket, image, 5)
			if err != nil {
				return err
			}
			floors = append(floors, f...)
			b, err := ctrBurstFloor(socket, image, pods)
			if err != nil {
				return err
			}
			burstFloors = append(burstFloors, quantile(b, 0.5))
		}
		d, err := deploymentReady(ctx, c, fmt.Sprintf("bench-deploy-%d", r), image, replicas)
		if err != nil {
			return err
		}
		deploys = append(deploys, d)
	}
	fmt.Printf("| measurement | median of runs | runs |\n|---|---:|---|\n")
	fmt.Printf("| %d pods at once, create→Ready p50 | %s | %s |\n", pods, ms(median(p50s)), list(p50s))
	fmt.Printf("| %d pods at once, create→Ready p99 | %s | %s |\n", pods, ms(median(p99s)), list(p99s))
	if len(floors) > 0 {
		fmt.Printf("| floor: `ctr run --rm` of the same image, p50 | %s | %d starts |\n", ms(quantile(floors, 0.5)), len(floors))
		fmt.Printf("| pod p50 / floor p50 | **%.2f×** | |\n", float64(median(p50s))/float64(quantile(floors, 0.5)))
		fmt.Printf("| floor: %d `ctr run --rm` at once, p50 | %s | %s |\n", pods, ms(median(burstFloors)), list(burstFloors))
		fmt.Printf("| pod p50 / burst floor p50 | **%.2f×** | |\n", float64(median(p50s))/float64(median(burstFloors)))
	}
	fmt.Printf("| Deployment of %d replicas, create→all available | %s | %s |\n", replicas, ms(median(deploys)), list(deploys))
	if hold > 0 {
		if _, err := podBurst(ctx, c, "bench-hold", image, hold, true); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "holding %d pods; close stdin to finish\n", hold)
		_, _ = os.Stdin.Read(make([]byte, 1))
		return deleteNamespace(ctx, c, "bench-hold")
	}
	return nil
}

// podBurst creates n pods at once in a fresh namespace and returns each
// one's time from its create call to the Ready condition seen by a watch;
// the namespace is deleted afterwards unless keep.
func podBurst(ctx context.Context, c kubernetes.Interface, ns, image string, n int, keep bool) ([]time.Duration, error) {
	if err := createNamespace(ctx, c, ns); err != nil {
		return nil, err
	}
	w, err := c.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("watch pods: %w", err)
	}
	defer w.Stop()
	var mu sync.Mutex
	started := map[string]time.Time{}
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func(i int) {
			name := fmt.Sprintf("p%03d", i)
			mu.Lock()
			started[name] = time.Now()
			mu.Unlock()
			_, err := c.CoreV1().Pods(ns).Create(ctx, sleeper(name, image), metav1.CreateOptions{})
			errs <- err
		}(i)
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			return nil, fmt.Errorf("create pod: %w", err)
		}
	}
	ready := map[string]time.Duration{}
	timeout := time.After(5 * time.Minute)
	for len(ready) < n {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				return nil, fmt.Errorf("watch closed with %d of %d pods ready", len(ready), n)
			}
			p, isPod := ev.Object.(*corev1.Pod)
			if !isPod || ev.Type == watch.Deleted || !podReady(p) {
				continue
			}
			if _, seen := ready[p.Name]; !seen {
				mu.Lock()
				ready[p.Name] = time.Since(started[p.Name])
				mu.Unlock()
			}
		case <-timeout:
			return nil, fmt.Errorf("%d of %d pods ready after 5 minutes", len(ready), n)
		}
	}
	out := make([]time.Duration, 0, n)
	for _, d := range ready {
		out = append(out, d)
	}
	if keep {
		return out, nil
	}
	return out, deleteNamespace(ctx, c, ns)
}

func deploymentReady(ctx context.Context, c kubernetes.Interface, ns, image string, replicas int) (time.Duration, error) {
	if err := createNamespace(ctx, c, ns); err != nil {
		return 0, err
	}
	labels := map[string]string{"app": "bench"}
	tmpl := sleeper("", image)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "bench"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(replicas)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: tmpl.Spec},
		},
	}
	w, err := c.AppsV1().Deployments(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, err
	}
	defer w.Stop()
	start := time.Now()
	if _, err := c.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		return 0, fmt.Errorf("create deployment: %w", err)
	}
	timeout := time.After(5 * time.Minute)
	for {
		select {
		case ev := <-w.ResultChan():
			got, ok := ev.Object.(*appsv1.Deployment)
			if ok && got.Status.AvailableReplicas == int32(replicas) && got.Status.UpdatedReplicas == int32(replicas) {
				took := time.Since(start)
				return took, deleteNamespace(ctx, c, ns)
			}
		case <-timeout:
			return 0, fmt.Errorf("deployment of %d not available after 5 minutes", replicas)
		}
	}
}

// ctrFloor times n sequential `ctr run --rm` of the image in the node's
// containerd: create, start, exit and delete of a container without
// Kubernetes, CRI sandbox or pod network.
func ctrFloor(socket, image string, n int) ([]time.Duration, error) {
	ref, err := imageRef(socket, image)
	if err != nil {
		return nil, err
	}
	var took []time.Duration
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("bench-floor-%d-%d", time.Now().UnixNano(), i)
		start := time.Now()
		if out, err := exec.Command("ctr", "--address", socket, "-n", "k8s.io", "run", "--rm", ref, id, "/bin/true").CombinedOutput(); err != nil {
			return nil, fmt.Errorf("ctr run: %w\n%s", err, out)
		}
		took = append(took, time.Since(start))
	}
	return took, nil
}

// ctrBurstFloor starts n `ctr run --rm` at once, as the pod burst starts n
// pods, and returns each one's duration: what the runtime alone needs
// for the same concurrency on the same cores.
func ctrBurstFloor(socket, image string, n int) ([]time.Duration, error) {
	ref, err := imageRef(socket, image)
	if err != nil {
		return nil, err
	}
	out := make([]time.Duration, n)
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func(i int) {
			id := fmt.Sprintf("bench-burst-%d-%d", time.Now().UnixNano(), i)
			start := time.Now()
			b, err := exec.Command("ctr", "--address", socket, "-n", "k8s.io", "run", "--rm", ref, id, "/bin/true").CombinedOutput()
			out[i] = time.Since(start)
			if err != nil {
				err = fmt.Errorf("ctr run: %w\n%s", err, b)
			}
			errs <- err
		}(i)
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			return nil, err
		}
	}
	return out, nil
}

func imageRef(socket, image string) (string, error) {
	out, err := exec.Command("ctr", "--address", socket, "-n", "k8s.io", "images", "ls", "-q").Output()
	if err != nil {
		return "", fmt.Errorf("ctr images ls: %w", err)
	}
	for _, l := range strings.Fields(string(out)) {
		if strings.Contains(l, strings.Split(image, ":")[0]+":") && !strings.HasPrefix(l, "sha256:") {
			return l, nil
		}
	}
	return "", fmt.Errorf("image %s not found in containerd (images: %s)", image, out)
}

func sleeper(name, image string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To(int64(0)),
			Containers: []corev1.Container{{
				Name: "c", Image: image, Command: []string{"sleep", "3600"},
				ImagePullPolicy: corev1.PullIfNotPresent,
			}},
		},
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func createNamespace(ctx context.Context, c kubernetes.Interface, ns string) error {
	_, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create namespace %s: %w", ns, err)
	}
	return nil
}

// deleteNamespace deletes ns and waits until it is gone, so the next
// measurement starts on an idle node.
func deleteNamespace(ctx context.Context, c kubernetes.Interface, ns string) error {
	if err := c.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		return fmt.Errorf("delete namespace %s: %w", ns, err)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		if _, err := c.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("namespace %s not gone after 3 minutes", ns)
}

func quantile(d []time.Duration, q float64) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 0 {
		return 0
	}
	i := int(q*float64(len(s))+0.5) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(s) {
		i = len(s) - 1
	}
	return s[i]
}

func median(d []time.Duration) time.Duration { return quantile(d, 0.5) }

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d.Microseconds())/1000) }

func list(d []time.Duration) string {
	var parts []string
	for _, x := range d {
		parts = append(parts, ms(x))
	}
	return strings.Join(parts, ", ")
}
