package servicelb

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestParsePool(t *testing.T) {
	tests := []struct {
		name    string
		entries []string
		in, out []string
		err     string
	}{
		{name: "cidr skips network and broadcast", entries: []string{"192.168.50.0/30"},
			in: []string{"192.168.50.1", "192.168.50.2"}, out: []string{"192.168.50.0", "192.168.50.3"}},
		{name: "unmasked cidr is masked", entries: []string{"192.168.50.9/29"},
			in: []string{"192.168.50.9", "192.168.50.14"}, out: []string{"192.168.50.8", "192.168.50.15", "192.168.50.16"}},
		{name: "/32 and /31 keep every address", entries: []string{"10.0.0.7/32", "10.0.1.0/31"},
			in: []string{"10.0.0.7", "10.0.1.0", "10.0.1.1"}, out: []string{"10.0.0.6", "10.0.1.2"}},
		{name: "range and single address", entries: []string{"10.1.0.10-10.1.0.12", " 10.2.0.1 "},
			in: []string{"10.1.0.10", "10.1.0.12", "10.2.0.1"}, out: []string{"10.1.0.9", "10.1.0.13", "10.2.0.2"}},
		{name: "empty", entries: nil, out: []string{"10.0.0.1"}},
		{name: "bad cidr", entries: []string{"10.0.0.0/33"}, err: `"10.0.0.0/33"`},
		{name: "backwards range", entries: []string{"10.0.0.9-10.0.0.1"}, err: "lower to a higher"},
		{name: "garbage", entries: []string{"nope"}, err: "want a CIDR, a range or an address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePool(tt.entries)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tt.in {
				if !p.Contains(netip.MustParseAddr(s)) {
					t.Errorf("%s not in pool", s)
				}
			}
			for _, s := range tt.out {
				if p.Contains(netip.MustParseAddr(s)) {
					t.Errorf("%s in pool", s)
				}
			}
		})
	}
}

func TestAllocator(t *testing.T) {
	type step struct {
		op        string // alloc, release, occupy
		svc       string
		requested string
		current   []string
		want      string
		err       error
	}
	tests := []struct {
		name  string
		pool  []string
		steps []step
	}{
		{name: "distinct lowest-first, stable, reused after release", pool: []string{"10.0.0.1-10.0.0.3"}, steps: []step{
			{op: "alloc", svc: "a", want: "10.0.0.1"},
			{op: "alloc", svc: "b", want: "10.0.0.2"},
			{op: "alloc", svc: "a", want: "10.0.0.1"},
			{op: "alloc", svc: "c", want: "10.0.0.3"},
			{op: "alloc", svc: "d", err: ErrPoolExhausted},
			{op: "release", svc: "b"},
			{op: "alloc", svc: "d", want: "10.0.0.2"},
		}},
		{name: "requested address honoured and checked", pool: []string{"10.0.0.0/29"}, steps: []step{
			{op: "alloc", svc: "a", requested: "10.0.0.5", want: "10.0.0.5"},
			{op: "alloc", svc: "b", requested: "10.0.0.5", err: ErrTaken},
			{op: "alloc", svc: "b", requested: "10.9.0.1", err: ErrNotInPool},
			{op: "alloc", svc: "b", requested: "banana", err: ErrBadAddress},
			{op: "alloc", svc: "b", want: "10.0.0.1"},
			// Changing the request moves the Service and frees the old one.
			{op: "alloc", svc: "a", requested: "10.0.0.6", want: "10.0.0.6"},
			{op: "alloc", svc: "c", requested: "10.0.0.5", want: "10.0.0.5"},
		}},
		{name: "status address kept when free", pool: []string{"10.0.0.0/29"}, steps: []step{
			{op: "alloc", svc: "a", current: []string{"10.0.0.4"}, want: "10.0.0.4"},
			{op: "alloc", svc: "b", current: []string{"10.0.0.4"}, want: "10.0.0.1"},
			{op: "alloc", svc: "c", current: []string{"192.168.1.1"}, want: "10.0.0.2"},
		}},
		{name: "rebuild by occupying, conflicts refused", pool: []string{"10.0.0.0/29"}, steps: []step{
			{op: "occupy", svc: "a", requested: "10.0.0.3"},
			{op: "occupy", svc: "b", requested: "10.0.0.3", err: ErrTaken},
			{op: "occupy", svc: "b", requested: "10.1.0.3", err: ErrNotInPool},
			{op: "alloc", svc: "a", want: "10.0.0.3"},
			{op: "alloc", svc: "b", want: "10.0.0.1"},
		}},
		{name: "empty pool", pool: nil, steps: []step{{op: "alloc", svc: "a", err: ErrPoolExhausted}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePool(tt.pool)
			if err != nil {
				t.Fatal(err)
			}
			a := NewAllocator(p)
			for i, s := range tt.steps {
				switch s.op {
				case "alloc":
					ip, err := a.Allocate(s.svc, s.requested, s.current)
					if !errors.Is(err, s.err) || (err == nil && ip.String() != s.want) {
						t.Fatalf("step %d: Allocate(%s) = %v, %v; want %s, %v", i, s.svc, ip, err, s.want, s.err)
					}
				case "release":
					a.Release(s.svc)
				case "occupy":
					if err := a.Occupy(s.svc, netip.MustParseAddr(s.requested)); !errors.Is(err, s.err) {
						t.Fatalf("step %d: Occupy = %v, want %v", i, err, s.err)
					}
				}
			}
			// No address is held twice.
			seen := map[netip.Addr]string{}
			for svc, ip := range a.bySvc {
				if other, dup := seen[ip]; dup {
					t.Errorf("%s held by %s and %s", ip, svc, other)
				}
				seen[ip] = svc
				if a.byIP[ip] != svc {
					t.Errorf("tables disagree on %s", ip)
				}
			}
		})
	}
}

func TestNodeAddresses(t *testing.T) {
	node := func(name string, ready corev1.ConditionStatus, addrs ...corev1.NodeAddress) *corev1.Node {
		return &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Status: corev1.NodeStatus{
				Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready}},
				Addresses:  addrs,
			},
		}
	}
	internal := func(ip string) corev1.NodeAddress {
		return corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip}
	}
	got := NodeAddresses([]*corev1.Node{
		node("b", corev1.ConditionTrue, internal("10.0.0.10"), corev1.NodeAddress{Type: corev1.NodeHostName, Address: "b"}),
		node("a", corev1.ConditionTrue, internal("10.0.0.9"), corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: "1.2.3.4"}),
		node("down", corev1.ConditionFalse, internal("10.0.0.11")),
		node("unknown", corev1.ConditionUnknown, internal("10.0.0.12")),
		node("dup", corev1.ConditionTrue, internal("10.0.0.9")),
		{ObjectMeta: metav1.ObjectMeta{Name: "nocond"}, Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{internal("10.0.0.13")}}},
	})
	if strings.Join(got, ",") != "10.0.0.9,10.0.0.10" {
		t.Errorf("NodeAddresses = %v", got)
	}
	ing := Ingress(got)
	if len(ing) != 2 || ing[0].IP != "10.0.0.9" || ing[0].IPMode == nil || *ing[0].IPMode != corev1.LoadBalancerIPModeVIP {
		t.Errorf("Ingress = %+v", ing)
	}
	if Ingress(nil) != nil {
		t.Errorf("Ingress(nil) not nil")
	}
}
