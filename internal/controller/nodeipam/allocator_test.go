package nodeipam

import (
	"errors"
	"net"
	"testing"
)

func mustCIDR(t *testing.T, s string) *net.IPNet {
	t.Helper()
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestNewAllocator(t *testing.T) {
	tests := []struct {
		cidr    string
		mask    int
		size    int
		wantErr bool
	}{
		{"10.42.0.0/16", 24, 256, false},
		{"10.42.0.0/16", 16, 1, false},
		{"10.42.0.0/16", 15, 0, true},
		{"10.42.0.0/16", 33, 0, true},
		{"10.0.0.0/8", 25, 0, true}, // 2^17 blocks
		{"fd00:42::/48", 64, 65536, false},
	}
	for _, tc := range tests {
		t.Run(tc.cidr, func(t *testing.T) {
			a, err := NewAllocator(mustCIDR(t, tc.cidr), tc.mask)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err == nil && a.Size() != tc.size {
				t.Errorf("size = %d, want %d", a.Size(), tc.size)
			}
		})
	}
}

func TestAllocatorSequence(t *testing.T) {
	tests := []struct {
		name     string
		cidr     string
		mask     int
		occupied []string
		want     []string
		wantFull bool
	}{
		{name: "in order", cidr: "10.42.0.0/16", mask: 24, want: []string{"10.42.0.0/24", "10.42.1.0/24", "10.42.2.0/24"}},
		{name: "skips occupied", cidr: "10.42.0.0/16", mask: 24, occupied: []string{"10.42.0.0/24", "10.42.2.0/24"},
			want: []string{"10.42.1.0/24", "10.42.3.0/24"}},
		{name: "exhausts", cidr: "10.42.0.0/30", mask: 31, want: []string{"10.42.0.0/31", "10.42.0.2/31"}, wantFull: true},
		{name: "occupied all", cidr: "10.42.0.0/23", mask: 24, occupied: []string{"10.42.0.0/24", "10.42.1.0/24"}, wantFull: true},
		{name: "ipv6", cidr: "fd00:42::/62", mask: 64, want: []string{"fd00:42::/64", "fd00:42:0:1::/64", "fd00:42:0:2::/64", "fd00:42:0:3::/64"}, wantFull: true},
		{name: "unaligned base", cidr: "10.42.7.9/16", mask: 24, want: []string{"10.42.0.0/24"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := NewAllocator(mustCIDR(t, tc.cidr), tc.mask)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range tc.occupied {
				if fresh, err := a.Occupy(mustCIDR(t, o)); err != nil || !fresh {
					t.Fatalf("occupy %s: fresh=%v err=%v", o, fresh, err)
				}
			}
			for _, w := range tc.want {
				got, err := a.Allocate()
				if err != nil {
					t.Fatalf("allocate: %v (want %s)", err, w)
				}
				if got.String() != w {
					t.Errorf("allocate = %s, want %s", got, w)
				}
			}
			_, err = a.Allocate()
			if full := errors.Is(err, ErrCIDRRangeFull); full != tc.wantFull {
				t.Errorf("after sequence: err = %v, wantFull %v", err, tc.wantFull)
			}
		})
	}
}

func TestAllocatorReleaseAndReuse(t *testing.T) {
	a, err := NewAllocator(mustCIDR(t, "10.42.0.0/22"), 24)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range 4 {
		c, err := a.Allocate()
		if err != nil {
			t.Fatal(err)
		}
		if seen[c.String()] {
			t.Fatalf("duplicate %s", c)
		}
		seen[c.String()] = true
	}
	if a.Free() != 0 {
		t.Fatalf("free = %d", a.Free())
	}
	if err := a.Release(mustCIDR(t, "10.42.2.0/24")); err != nil {
		t.Fatal(err)
	}
	c, err := a.Allocate()
	if err != nil || c.String() != "10.42.2.0/24" {
		t.Fatalf("reallocate = %v, %v; want the released block", c, err)
	}
	// Occupying a taken block reports it was not free.
	if fresh, err := a.Occupy(mustCIDR(t, "10.42.0.0/24")); err != nil || fresh {
		t.Errorf("occupy taken block: fresh=%v err=%v", fresh, err)
	}
}

func TestAllocatorRejectsForeignBlocks(t *testing.T) {
	a, err := NewAllocator(mustCIDR(t, "10.42.0.0/16"), 24)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"10.43.0.0/24", "10.42.0.0/25", "10.42.0.0/16", "fd00::/24"} {
		if _, err := a.Occupy(mustCIDR(t, s)); err == nil {
			t.Errorf("occupy %s: want error", s)
		}
		if err := a.Release(mustCIDR(t, s)); err == nil {
			t.Errorf("release %s: want error", s)
		}
	}
}

// TestAllocatorNeverDuplicates interleaves allocations and releases and
// checks no block is ever handed to two holders.
func TestAllocatorNeverDuplicates(t *testing.T) {
	a, err := NewAllocator(mustCIDR(t, "10.42.0.0/20"), 24)
	if err != nil {
		t.Fatal(err)
	}
	held := map[string]bool{}
	var order []*net.IPNet
	for i := range 200 {
		if i%3 == 2 && len(order) > 0 {
			c := order[0]
			order = order[1:]
			if err := a.Release(c); err != nil {
				t.Fatal(err)
			}
			delete(held, c.String())
			continue
		}
		c, err := a.Allocate()
		if errors.Is(err, ErrCIDRRangeFull) {
			if len(held) != a.Size() {
				t.Fatalf("full with %d of %d held", len(held), a.Size())
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if held[c.String()] {
			t.Fatalf("step %d: %s handed out twice", i, c)
		}
		held[c.String()] = true
		order = append(order, c)
	}
}
