package apiserver

import (
	"net"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestAllocatorReserve(t *testing.T) {
	_, cidr, _ := net.ParseCIDR("10.43.0.0/16")
	al := newAllocator(cidr, 30000, 32767)
	svc := func(typ corev1.ServiceType, ip string, nodePort int32) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "ns"},
			Spec: corev1.ServiceSpec{Type: typ, ClusterIP: ip, Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP, NodePort: nodePort}}}}
	}
	t.Run("random ClusterIP in range is reserved", func(t *testing.T) {
		s := svc(corev1.ServiceTypeClusterIP, "", 0)
		conds, ops, err := al.reserve(s, nil)
		if err != nil {
			t.Fatal(err)
		}
		ip := net.ParseIP(s.Spec.ClusterIP)
		if ip == nil || !cidr.Contains(ip) || s.Spec.ClusterIP == "10.43.0.1" || s.Spec.ClusterIP == "10.43.0.0" {
			t.Fatalf("ClusterIP %q is not a usable address of %s", s.Spec.ClusterIP, cidr)
		}
		if len(conds) != 1 || conds[0].Key != ipReservationPrefix+s.Spec.ClusterIP || !conds[0].MustNotExist || len(ops) != 1 {
			t.Errorf("reservation = %+v %+v", conds, ops)
		}
		if len(s.Spec.ClusterIPs) != 1 || s.Spec.ClusterIPs[0] != s.Spec.ClusterIP {
			t.Errorf("ClusterIPs = %v", s.Spec.ClusterIPs)
		}
	})
	t.Run("requested ClusterIP outside range is invalid", func(t *testing.T) {
		_, _, err := al.reserve(svc(corev1.ServiceTypeClusterIP, "192.168.1.1", 0), nil)
		if !apierrors.IsInvalid(err) {
			t.Errorf("err = %v, want Invalid", err)
		}
	})
	t.Run("headless gets no address", func(t *testing.T) {
		s := svc(corev1.ServiceTypeClusterIP, "None", 0)
		conds, _, err := al.reserve(s, nil)
		if err != nil || len(conds) != 0 || s.Spec.ClusterIPs[0] != "None" {
			t.Errorf("headless: conds=%v err=%v ips=%v", conds, err, s.Spec.ClusterIPs)
		}
	})
	t.Run("NodePort allocated in range", func(t *testing.T) {
		s := svc(corev1.ServiceTypeNodePort, "", 0)
		conds, _, err := al.reserve(s, nil)
		if err != nil {
			t.Fatal(err)
		}
		np := s.Spec.Ports[0].NodePort
		if np < 30000 || np > 32767 || len(conds) != 2 {
			t.Errorf("nodePort %d, conds %v", np, conds)
		}
	})
	t.Run("NodePort out of range is invalid", func(t *testing.T) {
		_, _, err := al.reserve(svc(corev1.ServiceTypeNodePort, "", 80), nil)
		if !apierrors.IsInvalid(err) {
			t.Errorf("err = %v, want Invalid", err)
		}
	})
	t.Run("update keeps ClusterIP and NodePort without new reservations", func(t *testing.T) {
		old := svc(corev1.ServiceTypeNodePort, "10.43.0.20", 30080)
		s := svc(corev1.ServiceTypeNodePort, "", 0)
		conds, ops, err := al.reserve(s, old)
		if err != nil {
			t.Fatal(err)
		}
		if s.Spec.ClusterIP != "10.43.0.20" || s.Spec.Ports[0].NodePort != 30080 || len(conds) != 0 || len(ops) != 0 {
			t.Errorf("got ip=%s nodePort=%d conds=%v ops=%v", s.Spec.ClusterIP, s.Spec.Ports[0].NodePort, conds, ops)
		}
	})
	t.Run("NodePort to ClusterIP releases the port", func(t *testing.T) {
		old := svc(corev1.ServiceTypeNodePort, "10.43.0.20", 30080)
		s := svc(corev1.ServiceTypeClusterIP, "10.43.0.20", 0)
		_, ops, err := al.reserve(s, old)
		if err != nil {
			t.Fatal(err)
		}
		if len(ops) != 1 || !ops[0].Delete || ops[0].Key != portReservationPrefix+"30080" {
			t.Errorf("ops = %+v, want the release of 30080", ops)
		}
	})
}
