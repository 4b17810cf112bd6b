package resourcequota_test

// Quota admission in the API server together with this controller: what
// users see when a namespace is full.

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gureum/gureum/internal/testenv"
)

func TestQuotaAdmission(t *testing.T) {
	s := testenv.Start(t)
	startController(t, s)
	ctx := context.Background()
	const ns = "quota-admission"
	if _, err := s.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "small"},
		Spec: corev1.ResourceQuotaSpec{Hard: rl("pods", "2", "configmaps", "3", "requests.cpu", "1")}}
	if _, err := s.Client.CoreV1().ResourceQuotas(ns).Create(ctx, q, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "quota status", func() error {
		got, err := s.Client.CoreV1().ResourceQuotas(ns).Get(ctx, "small", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(got.Status.Hard) != 3 {
			return errorf("status.hard %v", got.Status.Hard)
		}
		return nil
	})

	pod := func(name, cpu string) *corev1.Pod {
		c := corev1.Container{Name: "c", Image: "busybox"}
		if cpu != "" {
			c.Resources.Requests = rl("cpu", cpu)
		}
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{Containers: []corev1.Container{c}}}
	}
	// A quota on requests.cpu refuses pods that do not say what they need.
	_, err := s.Client.CoreV1().Pods(ns).Create(ctx, pod("vague", ""), metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "failed quota: small: must specify requests.cpu for: c") {
		t.Fatalf("pod without a cpu request: %v", err)
	}
	for _, name := range []string{"a", "b"} {
		if _, err := s.Client.CoreV1().Pods(ns).Create(ctx, pod(name, "400m"), metav1.CreateOptions{}); err != nil {
			t.Fatalf("pod %s within quota: %v", name, err)
		}
	}
	_, err = s.Client.CoreV1().Pods(ns).Create(ctx, pod("c", "100m"), metav1.CreateOptions{})
	want := `pods "c" is forbidden: exceeded quota: small, requested: pods=1, used: pods=2, limited: pods=2`
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), want) {
		t.Fatalf("third pod: %v\nwant %s", err, want)
	}
	// Usage was charged at admission, before the controller recounted.
	got, err := s.Client.CoreV1().ResourceQuotas(ns).Get(ctx, "small", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if u := got.Status.Used[corev1.ResourceRequestsCPU]; u.String() != "800m" {
		t.Fatalf("requests.cpu used = %s, want 800m", u.String())
	}

	// Concurrent creates never overshoot: kube-root-ca.crt holds one of the
	// three ConfigMaps, so exactly two of ten fit.
	eventually(t, "kube-root-ca.crt counted", func() error {
		got, err := s.Client.CoreV1().ResourceQuotas(ns).Get(ctx, "small", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if u := got.Status.Used[corev1.ResourceConfigMaps]; u.Value() != 1 {
			return errorf("configmaps used %s", u.String())
		}
		return nil
	})
	var wg sync.WaitGroup
	var mu sync.Mutex
	created, refused := 0, 0
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "cm-"}}, metav1.CreateOptions{})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				created++
			case apierrors.IsForbidden(err):
				refused++
			default:
				t.Errorf("configmap create: %v", err)
			}
		}()
	}
	wg.Wait()
	if created != 2 || refused != 8 {
		t.Fatalf("10 concurrent ConfigMaps under a quota with room for 2: %d created, %d refused", created, refused)
	}

	// Deleting a pod frees its share once the controller recounts.
	if err := s.Client.CoreV1().Pods(ns).Delete(ctx, "a", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "pod c fits after a is deleted", func() error {
		_, err := s.Client.CoreV1().Pods(ns).Create(ctx, pod("c", "100m"), metav1.CreateOptions{})
		return err
	})
}

func errorf(format string, args ...interface{}) error { return fmt.Errorf(format, args...) }
