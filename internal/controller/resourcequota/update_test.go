package resourcequota

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	testclock "k8s.io/utils/clock/testing"

	"github.com/gureum/gureum/internal/quota"
)

// An update queues a recount of exactly the quotas of its namespace that
// count its kind, and only when it moved usage.
func TestUpdatesQueueTheQuotasTheyMove(t *testing.T) {
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for _, q := range []*corev1.ResourceQuota{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "pods"}, Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"pods": resource.MustParse("10")}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "cpu"}, Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"requests.cpu": resource.MustParse("2")}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "cms"}, Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"configmaps": resource.MustParse("5")}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "config-only", Name: "cms"}, Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"configmaps": resource.MustParse("5")}}},
	} {
		if err := idx.Add(q); err != nil {
			t.Fatal(err)
		}
	}
	pod := func(ns string, phase corev1.PodPhase) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "p"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{"cpu": resource.MustParse("100m")}}}}},
			Status: corev1.PodStatus{Phase: phase},
		}
	}
	for _, tc := range []struct {
		name     string
		old, cur *corev1.Pod
		want     []string
	}{
		{"finished pod in a namespace with quotas on pods", pod("team", corev1.PodRunning), pod("team", corev1.PodSucceeded), []string{"team/cpu", "team/pods"}},
		{"status change that moves no usage", pod("team", corev1.PodPending), pod("team", corev1.PodRunning), nil},
		{"namespace without quotas", pod("free", corev1.PodRunning), pod("free", corev1.PodSucceeded), nil},
		{"namespace whose quotas count other kinds", pod("config-only", corev1.PodRunning), pod("config-only", corev1.PodSucceeded), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Controller{
				clock:  testclock.NewFakeClock(time.Now()),
				queue:  workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]()),
				quotas: corelisters.NewResourceQuotaLister(idx),
			}
			defer c.queue.ShutDown()
			c.onUpdate(quota.Pods, tc.old, tc.cur)
			var got []string
			for c.queue.Len() > 0 {
				k, _ := c.queue.Get()
				got = append(got, k)
				c.queue.Done(k)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("queued %v, want %v", got, tc.want)
			}
			for _, k := range tc.want {
				found := false
				for _, g := range got {
					found = found || g == k
				}
				if !found {
					t.Fatalf("queued %v, want %v", got, tc.want)
				}
			}
		})
	}
}
