package integration

import (
	"fmt"
	"net"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gureum/gureum/internal/testenv"
)

func service(name string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}},
		},
	}
}

func nodePortService(name string, nodePort int32) *corev1.Service {
	svc := service(name)
	svc.Spec.Type = corev1.ServiceTypeNodePort
	svc.Spec.Ports[0].NodePort = nodePort
	return svc
}

// TestWireServiceIPAndNodePortAllocation checks that ClusterIPs and
// NodePorts are unique under concurrency, validated when requested, and
// freed on delete.
func TestWireServiceIPAndNodePortAllocation(t *testing.T) {
	t.Parallel()
	s := testenv.Start(t)
	ctx := wireCtx(t)
	ns := mkNamespace(t, s, "wire-svc")
	svcs := s.Client.CoreV1().Services(ns)
	_, serviceNet, _ := net.ParseCIDR("10.43.0.0/16")

	t.Run("ConcurrentCreatesGetDistinctClusterIPs", func(t *testing.T) {
		const n = 50
		ips := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				out, err := svcs.Create(ctx, service(fmt.Sprintf("conc-%02d", i)), metav1.CreateOptions{})
				errs[i] = err
				if err == nil {
					ips[i] = out.Spec.ClusterIP
				}
			}(i)
		}
		wg.Wait()
		seen := map[string]int{}
		for i := 0; i < n; i++ {
			if errs[i] != nil {
				t.Fatalf("create conc-%02d: %v", i, errs[i])
			}
			ip := net.ParseIP(ips[i])
			if ip == nil || !serviceNet.Contains(ip) {
				t.Fatalf("conc-%02d got ClusterIP %q outside %s", i, ips[i], serviceNet)
			}
			if prev, dup := seen[ips[i]]; dup {
				t.Fatalf("conc-%02d and conc-%02d share ClusterIP %s", prev, i, ips[i])
			}
			seen[ips[i]] = i
		}
		// What was returned is what was stored.
		list, err := svcs.List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, svc := range list.Items {
			if i, ok := seen[svc.Spec.ClusterIP]; ok && svc.Name != fmt.Sprintf("conc-%02d", i) {
				t.Fatalf("stored %s has %s, returned to conc-%02d", svc.Name, svc.Spec.ClusterIP, i)
			}
			if len(svc.Spec.ClusterIPs) != 1 || svc.Spec.ClusterIPs[0] != svc.Spec.ClusterIP {
				t.Fatalf("%s clusterIPs %v do not match clusterIP %s", svc.Name, svc.Spec.ClusterIPs, svc.Spec.ClusterIP)
			}
		}
	})

	t.Run("RequestedClusterIPInUseIs422", func(t *testing.T) {
		first, err := svcs.Create(ctx, service("ip-owner"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		dup := service("ip-thief")
		dup.Spec.ClusterIP = first.Spec.ClusterIP
		_, err = svcs.Create(ctx, dup, metav1.CreateOptions{})
		if !apierrors.IsInvalid(err) {
			t.Fatalf("requesting %s in use: %v, want 422 Invalid", first.Spec.ClusterIP, err)
		}
		if _, err := svcs.Get(ctx, "ip-thief", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("refused service was stored: %v", err)
		}
		outside := service("ip-outside")
		outside.Spec.ClusterIP = "10.99.0.10"
		if _, err := svcs.Create(ctx, outside, metav1.CreateOptions{}); !apierrors.IsInvalid(err) {
			t.Fatalf("requesting an IP outside the range: %v, want 422 Invalid", err)
		}
	})

	t.Run("DeletingAServiceFreesItsClusterIP", func(t *testing.T) {
		owner, err := svcs.Create(ctx, service("ip-freed"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := svcs.Delete(ctx, "ip-freed", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		again := service("ip-reuser")
		again.Spec.ClusterIP = owner.Spec.ClusterIP
		out, err := svcs.Create(ctx, again, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("reusing freed IP %s: %v", owner.Spec.ClusterIP, err)
		}
		if out.Spec.ClusterIP != owner.Spec.ClusterIP {
			t.Fatalf("got %s, asked for %s", out.Spec.ClusterIP, owner.Spec.ClusterIP)
		}
	})

	t.Run("NodePortRequestedInRangeIsKept", func(t *testing.T) {
		out, err := svcs.Create(ctx, nodePortService("np-fixed", 30080), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if out.Spec.Ports[0].NodePort != 30080 {
			t.Fatalf("nodePort %d, want 30080", out.Spec.Ports[0].NodePort)
		}
		auto, err := svcs.Create(ctx, nodePortService("np-auto", 0), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p := auto.Spec.Ports[0].NodePort; p < 30000 || p > 32767 {
			t.Fatalf("allocated nodePort %d outside 30000-32767", p)
		}
	})

	t.Run("NodePortOutOfRangeIs422", func(t *testing.T) {
		_, err := svcs.Create(ctx, nodePortService("np-low", 8080), metav1.CreateOptions{})
		if !apierrors.IsInvalid(err) || !hasCause(err, "spec.ports[0].nodePort") {
			t.Fatalf("nodePort 8080: %v (causes %+v), want 422 on spec.ports[0].nodePort", err, causes(err))
		}
	})

	t.Run("DuplicateNodePortIs422", func(t *testing.T) {
		_, err := svcs.Create(ctx, nodePortService("np-dup", 30080), metav1.CreateOptions{})
		if !apierrors.IsInvalid(err) {
			t.Fatalf("nodePort 30080 again: %v, want 422 Invalid", err)
		}
		if err := svcs.Delete(ctx, "np-fixed", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := svcs.Create(ctx, nodePortService("np-dup", 30080), metav1.CreateOptions{}); err != nil {
			t.Fatalf("nodePort 30080 after its owner was deleted: %v", err)
		}
	})
}
