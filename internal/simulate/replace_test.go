package simulate_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"github.com/gureum/gureum/internal/controller/replicaset"
	"github.com/gureum/gureum/internal/scheduler"
	"github.com/gureum/gureum/internal/simulate"
	"github.com/gureum/gureum/internal/testenv"
)

// When a node goes silent, its pods are evicted once their toleration
// runs out and the ReplicaSet's replacements are scheduled onto the nodes
// that are still alive.
func TestLostNodePodsAreReplacedElsewhere(t *testing.T) {
	s := testenv.Start(t)
	startControllers(t, s, 2*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	factory := informers.NewSharedInformerFactory(s.Client, 0)
	rs := replicaset.New(s.Client, factory, clock.RealClock{}, testLog())
	sched := scheduler.New(s.Client, factory, clock.RealClock{}, testLog())
	done := make(chan struct{}, 2)
	for _, run := range []func(context.Context) error{rs.Run, sched.Run} {
		go func() { _ = run(ctx); done <- struct{}{} }()
	}
	t.Cleanup(func() { cancel(); <-done; <-done })
	sim := startSimulator(t, simulate.Config{
		Client:             s.Client,
		Count:              3,
		LeaseRenewInterval: 300 * time.Millisecond,
		LeaseDuration:      3 * time.Second,
		StatusInterval:     5 * time.Second,
		Log:                testLog(),
	})

	tolerate := func(key string) corev1.Toleration {
		return corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To(int64(1))}
	}
	labels := map[string]string{"app": "web"}
	_, err := s.Client.AppsV1().ReplicaSets("default").Create(ctx, &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To(int32(6)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Containers:  []corev1.Container{{Name: "web", Image: "web:1"}},
					Tolerations: []corev1.Toleration{tolerate(corev1.TaintNodeUnreachable), tolerate(corev1.TaintNodeNotReady)},
				},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	readyOn := func() (map[string]int, int) {
		l, err := s.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			t.Fatal(err)
		}
		perNode, ready := map[string]int{}, 0
		for _, p := range l.Items {
			if p.DeletionTimestamp == nil && podCond(&p, corev1.PodReady) == corev1.ConditionTrue {
				perNode[p.Spec.NodeName]++
				ready++
			}
		}
		return perNode, ready
	}
	var lost string
	eventually(t, 20*time.Second, "6 pods ready", func() (bool, string) {
		perNode, ready := readyOn()
		for n := range perNode {
			lost = n
		}
		return ready == 6, fmt.Sprint(perNode)
	})
	before, _ := readyOn()

	if err := sim.SetNodeLost(ctx, lost, true); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "replacements ready on the other nodes", func() (bool, string) {
		perNode, ready := readyOn()
		return ready == 6 && perNode[lost] == 0, fmt.Sprintf("ready %d per node %v (lost %s, had %d there)", ready, perNode, lost, before[lost])
	})
}
