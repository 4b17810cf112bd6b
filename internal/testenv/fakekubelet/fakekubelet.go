// Package fakekubelet stands in for the scheduler and node agents in
// controller tests that run against internal/testenv: it binds pending
// pods, reports them Running and Ready and finishes graceful deletions.
// Only tests import it.
package fakekubelet

import (
	"context"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// Kubelet stands in for the scheduler and kubelet that testenv lacks:
// it binds every pending pod to a node through pods/binding, reports it
// Running and Ready, and finishes graceful deletions. Hold(true) stops it
// from making new pods ready, for tests that need unready pods.
type Kubelet struct {
	client kubernetes.Interface
	queue  workqueue.TypedDelayingInterface[string]
	store  cache.Store
	mu     sync.Mutex
	hold   bool
}

func Start(t *testing.T, client kubernetes.Interface) *Kubelet {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := informers.NewSharedInformerFactory(client, 0)
	inf := f.Core().V1().Pods().Informer()
	k := &Kubelet{client: client, queue: workqueue.NewTypedDelayingQueue[string](), store: inf.GetStore()}
	add := func(obj interface{}) {
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			k.queue.Add(key)
		}
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: add, UpdateFunc: func(_, o interface{}) { add(o) }})
	f.Start(ctx.Done())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			key, quit := k.queue.Get()
			if quit {
				return
			}
			k.handle(ctx, key)
			k.queue.Done(key)
		}
	}()
	t.Cleanup(func() {
		cancel()
		k.queue.ShutDown()
		<-done
		f.Shutdown()
	})
	return k
}

// Hold stops (true) or resumes (false) readying pods.
func (k *Kubelet) Hold(h bool) {
	k.mu.Lock()
	k.hold = h
	k.mu.Unlock()
	if !h {
		for _, key := range k.store.ListKeys() {
			k.queue.Add(key)
		}
	}
}

func (k *Kubelet) held() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.hold
}

func (k *Kubelet) handle(ctx context.Context, key string) {
	obj, ok, _ := k.store.GetByKey(key)
	if !ok {
		return
	}
	pod := obj.(*corev1.Pod)
	pods := k.client.CoreV1().Pods(pod.Namespace)
	switch {
	case pod.DeletionTimestamp != nil:
		zero := int64(0)
		_ = pods.Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &pod.UID}})
	case pod.Spec.NodeName == "":
		err := pods.Bind(ctx, &corev1.Binding{
			ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID},
			Target:     corev1.ObjectReference{Kind: "Node", Name: "fake-node"},
		}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			k.queue.AddAfter(key, 50*time.Millisecond)
		}
	case pod.Status.Phase != corev1.PodRunning && !k.held():
		now := metav1.Now()
		cp := pod.DeepCopy()
		cp.Status.Phase = corev1.PodRunning
		cp.Status.HostIP, cp.Status.PodIP = "10.0.0.1", "10.42.0.10"
		cp.Status.StartTime = &now
		cp.Status.Conditions = []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
		}
		cp.Status.ContainerStatuses = nil
		for _, c := range pod.Spec.Containers {
			cp.Status.ContainerStatuses = append(cp.Status.ContainerStatuses, corev1.ContainerStatus{
				Name: c.Name, Image: c.Image, Ready: true, Started: &[]bool{true}[0],
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
			})
		}
		if _, err := pods.UpdateStatus(ctx, cp, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
			k.queue.AddAfter(key, 50*time.Millisecond)
		}
	}
}
