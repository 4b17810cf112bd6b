package resourcequota_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/utils/clock"

	"github.com/gureum/gureum/internal/controller/resourcequota"
	"github.com/gureum/gureum/internal/quota"
	"github.com/gureum/gureum/internal/testenv"
)

const ns = "quota-test"

func startController(t *testing.T, s *testenv.Server) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := informers.NewSharedInformerFactory(s.Client, 0)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c := resourcequota.New(s.Client, f, clock.RealClock{}, log)
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func rl(kv ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		out[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}

func show(l corev1.ResourceList) string {
	s := ""
	for _, name := range []corev1.ResourceName{"pods", "requests.cpu", "services", "configmaps", "count/deployments.apps"} {
		if v, ok := l[name]; ok {
			s += fmt.Sprintf(" %s=%s", name, v.String())
		}
	}
	return s
}

// waitUsed waits for the quota's status to show hard = spec.hard and the
// given usage; configmaps are counted relative to those the cluster puts
// in every namespace (kube-root-ca.crt).
func waitUsed(t *testing.T, s *testenv.Server, name string, extraConfigMaps int, kv ...string) {
	t.Helper()
	ctx := context.Background()
	eventually(t, "status of quota "+name, func() error {
		cms, err := s.Client.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		if len(cms.Items) < extraConfigMaps {
			return fmt.Errorf("%d configmaps listed, want at least %d", len(cms.Items), extraConfigMaps)
		}
		want := rl(append(kv, "configmaps", fmt.Sprint(len(cms.Items)))...)
		q, err := s.Client.CoreV1().ResourceQuotas(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if !quota.Equal(q.Status.Hard, q.Spec.Hard) {
			return fmt.Errorf("status.hard%s, spec.hard%s", show(q.Status.Hard), show(q.Spec.Hard))
		}
		if !quota.Equal(q.Status.Used, want) {
			return fmt.Errorf("\n used%s\n want%s", show(q.Status.Used), show(want))
		}
		return nil
	})
}

func makePod(t *testing.T, s *testenv.Server, name, cpu string) {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "web:1",
			Resources: corev1.ResourceRequirements{Requests: rl("cpu", cpu), Limits: rl("cpu", cpu)}}}},
	}
	if _, err := s.Client.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod %s: %v", name, err)
	}
}

func TestQuotaStatusFollowsObjects(t *testing.T) {
	s := testenv.Start(t)
	ctx := context.Background()
	if _, err := s.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	startController(t, s)

	hard := rl("pods", "2", "services", "1", "configmaps", "3", "count/deployments.apps", "1", "requests.cpu", "1")
	created := time.Now()
	if _, err := s.Client.CoreV1().ResourceQuotas(ns).Create(ctx, &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "team"},
		Spec:       corev1.ResourceQuotaSpec{Hard: hard},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create quota: %v", err)
	}
	waitUsed(t, s, "team", 0, "pods", "0", "services", "0", "count/deployments.apps", "0", "requests.cpu", "0")
	// Conformance specs give a new quota's status a few seconds.
	if d := time.Since(created); d > 5*time.Second {
		t.Errorf("first status after %v", d)
	} else {
		t.Logf("first status after %v", d)
	}

	makePod(t, s, "a", "500m")
	makePod(t, s, "b", "250m")
	if _, err := s.Client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create service: %v", err)
	}
	for _, name := range []string{"one", "two"} {
		if _, err := s.Client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create configmap: %v", err)
		}
	}
	labels := map[string]string{"app": "web"}
	if _, err := s.Client.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "web:1"}}},
			},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create deployment: %v", err)
	}
	waitUsed(t, s, "team", 2, "pods", "2", "services", "1", "count/deployments.apps", "1", "requests.cpu", "750m")

	// A finished pod stops counting before it is deleted.
	eventually(t, "pod a succeeded", func() error {
		p, err := s.Client.CoreV1().Pods(ns).Get(ctx, "a", metav1.GetOptions{})
		if err != nil {
			return err
		}
		p.Status.Phase = corev1.PodSucceeded
		_, err = s.Client.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
		return err
	})
	waitUsed(t, s, "team", 2, "pods", "1", "services", "1", "count/deployments.apps", "1", "requests.cpu", "250m")

	del := metav1.DeleteOptions{GracePeriodSeconds: new(int64)}
	for _, err := range []error{
		s.Client.CoreV1().Pods(ns).Delete(ctx, "a", del),
		s.Client.CoreV1().Pods(ns).Delete(ctx, "b", del),
		s.Client.CoreV1().Services(ns).Delete(ctx, "web", del),
		s.Client.CoreV1().ConfigMaps(ns).Delete(ctx, "one", del),
		s.Client.AppsV1().Deployments(ns).Delete(ctx, "web", del),
	} {
		if err != nil {
			t.Fatalf("delete: %v", err)
		}
	}
	waitUsed(t, s, "team", 1, "pods", "0", "services", "0", "count/deployments.apps", "0", "requests.cpu", "0")

	// A changed limit reaches status.hard; a resource dropped from spec
	// leaves status.used.
	eventually(t, "edit quota", func() error {
		q, err := s.Client.CoreV1().ResourceQuotas(ns).Get(ctx, "team", metav1.GetOptions{})
		if err != nil {
			return err
		}
		q.Spec.Hard = rl("pods", "5", "configmaps", "3", "count/deployments.apps", "1", "requests.cpu", "1")
		_, err = s.Client.CoreV1().ResourceQuotas(ns).Update(ctx, q, metav1.UpdateOptions{})
		return err
	})
	waitUsed(t, s, "team", 1, "pods", "0", "count/deployments.apps", "0", "requests.cpu", "0")
}

// TestQuotasCountEachOther checks resourcequotas usage and scoped quotas.
func TestQuotasCountEachOther(t *testing.T) {
	s := testenv.Start(t)
	ctx := context.Background()
	if _, err := s.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	startController(t, s)
	mk := func(name string, scopes ...corev1.ResourceQuotaScope) {
		if _, err := s.Client.CoreV1().ResourceQuotas(ns).Create(ctx, &corev1.ResourceQuota{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       corev1.ResourceQuotaSpec{Hard: rl("resourcequotas", "5", "pods", "5"), Scopes: scopes},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create quota %s: %v", name, err)
		}
	}
	used := func(name string, want corev1.ResourceList) {
		t.Helper()
		eventually(t, "status of "+name, func() error {
			q, err := s.Client.CoreV1().ResourceQuotas(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if !quota.Equal(q.Status.Used, want) {
				return fmt.Errorf("used %v, want %v", q.Status.Used, want)
			}
			return nil
		})
	}
	mk("all")
	mk("besteffort", corev1.ResourceQuotaScopeBestEffort)
	makePod(t, s, "burstable", "100m")
	if _, err := s.Client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "free"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "web:1"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod: %v", err)
	}
	used("all", rl("resourcequotas", "2", "pods", "2"))
	used("besteffort", rl("resourcequotas", "0", "pods", "1"))
	if err := s.Client.CoreV1().ResourceQuotas(ns).Delete(ctx, "besteffort", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete quota: %v", err)
	}
	used("all", rl("resourcequotas", "1", "pods", "2"))
}
