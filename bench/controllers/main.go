// Command controllers measures the cluster's brain end to end on simulated
// nodes: Deployments → ReplicaSets → pods → scheduler → bindings → hollow
// nodes reporting Running, and a rolling update of one large Deployment
// with the unavailability it causes. bench/controllers/run.sh starts the
// server and `gureum simulate nodes`, then runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/utils/ptr"
)

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "admin kubeconfig")
	deployments := flag.Int("deployments", 100, "Deployments to create")
	replicas := flag.Int("replicas", 100, "replicas of each")
	rolling := flag.Int("rolling", 1000, "replicas of the Deployment that is rolled (0: skip)")
	maxUnavailable := flag.Int("max-unavailable", 100, "its maxUnavailable")
	maxSurge := flag.Int("max-surge", 100, "its maxSurge")
	flag.Parse()
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fail(err)
	}
	cfg.QPS, cfg.Burst = 5000, 5000
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		fail(err)
	}
	ctx := context.Background()
	if err := fanOut(ctx, c, *deployments, *replicas); err != nil {
		fail(err)
	}
	if *rolling > 0 {
		if err := rollingUpdate(ctx, c, *rolling, *maxUnavailable, *maxSurge); err != nil {
			fail(err)
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench/controllers:", err)
	os.Exit(1)
}

func deployment(name string, replicas int32, image string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "app", Image: image,
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
						corev1.ResourceCPU:    resource.MustParse("100m"),
						corev1.ResourceMemory: resource.MustParse("64Mi"),
					}},
				}}},
			},
		},
	}
}

func running(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// watchPods lists the pods of ns and watches them from that list on,
// resuming where it left off when the server closes the watch (as
// Kubernetes closes one whose client falls behind a burst), so no event
// is missed.
func watchPods(ctx context.Context, c kubernetes.Interface, ns string) (*corev1.PodList, watch.Interface, error) {
	list, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, nil, err
	}
	w, err := watchtools.NewRetryWatcherWithContext(ctx, list.ResourceVersion, &cache.ListWatch{
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return c.CoreV1().Pods(ns).Watch(ctx, o)
		},
	})
	return list, w, err
}

// fanOut creates n Deployments of r replicas at once and reports how long
// until every pod is bound and Running and Ready, as the hollow nodes
// report them.
func fanOut(ctx context.Context, c kubernetes.Interface, n, r int) error {
	ns := "bench-fanout"
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create namespace: %w", err)
	}
	_, w, err := watchPods(ctx, c, ns)
	if err != nil {
		return err
	}
	defer w.Stop()
	want := n * r
	var firstBound, allCreated, allBound, allRunning time.Duration
	start := time.Now()
	errs := make(chan error, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if _, err := c.AppsV1().Deployments(ns).Create(ctx, deployment(fmt.Sprintf("app-%03d", i), int32(r), "app:1"), metav1.CreateOptions{}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	created := time.Since(start)
	select {
	case err := <-errs:
		return fmt.Errorf("create deployment: %w", err)
	default:
	}
	seen := map[types.UID]bool{}
	bound := map[types.UID]bool{}
	run := map[types.UID]bool{}
	timeout := time.After(15 * time.Minute)
	for len(run) < want {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				return fmt.Errorf("watch closed: %d bound, %d running of %d", len(bound), len(run), want)
			}
			p, isPod := ev.Object.(*corev1.Pod)
			if !isPod || ev.Type == watch.Deleted {
				continue
			}
			if !seen[p.UID] {
				seen[p.UID] = true
				if len(seen) == want {
					allCreated = time.Since(start)
				}
			}
			if p.Spec.NodeName != "" && !bound[p.UID] {
				bound[p.UID] = true
				if len(bound) == 1 {
					firstBound = time.Since(start)
				}
				if len(bound) == want {
					allBound = time.Since(start)
				}
			}
			if running(p) && !run[p.UID] {
				run[p.UID] = true
			}
		case <-timeout:
			return fmt.Errorf("after 15 minutes: %d bound, %d running of %d", len(bound), len(run), want)
		}
	}
	allRunning = time.Since(start)
	fmt.Printf("| %d Deployments × %d replicas = %d pods | Deployments created in %.1f s | all pods created %.1f s | first bound %.2f s | all bound %.1f s | all Running %.1f s | **%.0f pods/s** end to end |\n",
		n, r, want, created.Seconds(), allCreated.Seconds(), firstBound.Seconds(), allBound.Seconds(), allRunning.Seconds(), float64(want)/allRunning.Seconds())
	return nil
}

// rollingUpdate creates one Deployment of r replicas, waits until it is
// available, changes its image and measures the rollout's duration and
// the most pods found unavailable at any moment (replicas minus Ready pods
// of either revision, counted from a pod watch).
func rollingUpdate(ctx context.Context, c kubernetes.Interface, r, maxUnavailable, maxSurge int) error {
	ns := "bench-rolling"
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create namespace: %w", err)
	}
	d := deployment("big", int32(r), "app:1")
	mu, ms := intstr.FromInt32(int32(maxUnavailable)), intstr.FromInt32(int32(maxSurge))
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: &mu, MaxSurge: &ms}}
	if _, err := c.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		return err
	}
	if err := waitRolledOut(ctx, c, ns, "big", 1, 10*time.Minute); err != nil {
		return err
	}
	pods, w, err := watchPods(ctx, c, ns)
	if err != nil {
		return err
	}
	defer w.Stop()
	ready := map[types.UID]bool{}
	for i := range pods.Items {
		if running(&pods.Items[i]) && pods.Items[i].DeletionTimestamp == nil {
			ready[pods.Items[i].UID] = true
		}
	}
	var worst atomic.Int64
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			select {
			case <-stop:
				return
			case ev, ok := <-w.ResultChan():
				if !ok {
					return
				}
				p, isPod := ev.Object.(*corev1.Pod)
				if !isPod {
					continue
				}
				if ev.Type == watch.Deleted || p.DeletionTimestamp != nil || !running(p) {
					delete(ready, p.UID)
				} else {
					ready[p.UID] = true
				}
				if u := int64(r - len(ready)); u > worst.Load() {
					worst.Store(u)
				}
			}
		}
	}()
	start := time.Now()
	patch := []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"app:2"}]}}}}`)
	if _, err := c.AppsV1().Deployments(ns).Patch(ctx, "big", types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return err
	}
	if err := waitRolledOut(ctx, c, ns, "big", 2, 10*time.Minute); err != nil {
		return err
	}
	took := time.Since(start)
	close(stop)
	<-watched
	verdict := "within"
	if worst.Load() > int64(maxUnavailable) {
		verdict = "**ABOVE**"
	}
	fmt.Printf("| rolling update of %d replicas (maxSurge %d, maxUnavailable %d) | completed in %.1f s | most unavailable seen %d, %s maxUnavailable |\n",
		r, maxSurge, maxUnavailable, took.Seconds(), worst.Load(), verdict)
	return nil
}

// waitRolledOut waits for what `kubectl rollout status` waits for.
func waitRolledOut(ctx context.Context, c kubernetes.Interface, ns, name string, generation int64, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		d, err := c.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		want := *d.Spec.Replicas
		s := d.Status
		if d.Generation >= generation && s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == want && s.Replicas == want && s.AvailableReplicas == want {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("deployment %s/%s not rolled out after %v", ns, name, within)
}
