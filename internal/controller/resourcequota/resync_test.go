package resourcequota_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/gureum/gureum/internal/controller/resourcequota"
	"github.com/gureum/gureum/internal/quota"
)

// TestResyncReleasesPodsPastGrace drives the periodic recount with a fake
// clock: a pod stuck terminating past its grace period stops counting
// without any event about it.
func TestResyncReleasesPodsPastGrace(t *testing.T) {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clocktesting.NewFakeClock(start)
	deleting := metav1.NewTime(start)
	client := fake.NewSimpleClientset(
		&corev1.ResourceQuota{
			ObjectMeta: metav1.ObjectMeta{Name: "q", Namespace: "ns"},
			Spec:       corev1.ResourceQuotaSpec{Hard: rl("pods", "3", "count/pods", "3")},
		},
		&corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "stuck", Namespace: "ns", DeletionTimestamp: &deleting, DeletionGracePeriodSeconds: new(int64(30))},
			Spec:       corev1.PodSpec{NodeName: "lost", Containers: []corev1.Container{{Name: "c", Image: "x"}}},
		},
	)
	f := informers.NewSharedInformerFactory(client, 0)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c := resourcequota.New(client, f, clk, log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done }()

	used := func(want corev1.ResourceList) {
		t.Helper()
		eventually(t, "quota status", func() error {
			q, err := client.CoreV1().ResourceQuotas("ns").Get(ctx, "q", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if !quota.Equal(q.Status.Used, want) {
				return fmt.Errorf("used %v, want %v", q.Status.Used, want)
			}
			return nil
		})
	}
	used(rl("pods", "1", "count/pods", "1"))
	eventually(t, "resync timer", func() error {
		if !clk.HasWaiters() {
			return fmt.Errorf("no timer yet")
		}
		return nil
	})
	clk.Step(resourcequota.ResyncPeriod)
	used(rl("pods", "0", "count/pods", "1"))
}
