package servicelb

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Allocation failures; each becomes a Warning event on the Service.
var (
	ErrPoolExhausted = errors.New("every address of the load balancer pool is in use")
	ErrNotInPool     = errors.New("requested loadBalancerIP is not in the load balancer pool")
	ErrTaken         = errors.New("requested loadBalancerIP is held by another Service")
	ErrBadAddress    = errors.New("requested loadBalancerIP is not a valid IP address")
)

// addrRange is an inclusive range of addresses of one family.
type addrRange struct{ first, last netip.Addr }

// Pool is the set of addresses LoadBalancer Services may be given.
type Pool struct{ ranges []addrRange }

// ParsePool reads pool entries: a CIDR ("192.168.50.0/28", whose network
// and broadcast addresses are skipped for IPv4 prefixes shorter than
// /31), a range ("192.168.50.10-192.168.50.20") or a single address.
func ParsePool(entries []string) (*Pool, error) {
	p := &Pool{}
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		r, err := parseEntry(e)
		if err != nil {
			return nil, fmt.Errorf("load balancer pool entry %q: %w", e, err)
		}
		p.ranges = append(p.ranges, r)
	}
	return p, nil
}

func parseEntry(e string) (addrRange, error) {
	if strings.Contains(e, "/") {
		pfx, err := netip.ParsePrefix(e)
		if err != nil {
			return addrRange{}, fmt.Errorf("want a CIDR such as 192.168.50.0/28: %w", err)
		}
		pfx = pfx.Masked()
		first := pfx.Addr()
		last := lastOf(pfx)
		if first.Is4() && pfx.Bits() < 31 {
			first, last = first.Next(), last.Prev()
		}
		return addrRange{first, last}, nil
	}
	if a, b, ok := strings.Cut(e, "-"); ok {
		first, err1 := netip.ParseAddr(strings.TrimSpace(a))
		last, err2 := netip.ParseAddr(strings.TrimSpace(b))
		if err := errors.Join(err1, err2); err != nil {
			return addrRange{}, fmt.Errorf("want a range such as 192.168.50.10-192.168.50.20: %w", err)
		}
		if first.Is4() != last.Is4() || last.Less(first) {
			return addrRange{}, errors.New("range must go from a lower to a higher address of one family")
		}
		return addrRange{first.Unmap(), last.Unmap()}, nil
	}
	a, err := netip.ParseAddr(e)
	if err != nil {
		return addrRange{}, fmt.Errorf("want a CIDR, a range or an address: %w", err)
	}
	return addrRange{a.Unmap(), a.Unmap()}, nil
}

func lastOf(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	bits := p.Bits()
	for i := range b {
		for j := 0; j < 8; j++ {
			if i*8+j >= bits {
				b[i] |= 0x80 >> j
			}
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// Empty reports a pool without addresses.
func (p *Pool) Empty() bool { return p == nil || len(p.ranges) == 0 }

// Contains reports whether a is in the pool.
func (p *Pool) Contains(a netip.Addr) bool {
	if p == nil {
		return false
	}
	a = a.Unmap()
	for _, r := range p.ranges {
		if !a.Less(r.first) && !r.last.Less(a) {
			return true
		}
	}
	return false
}

// Allocator records which Service (by namespace/name) holds which pool
// address. It does no I/O and is not safe for concurrent use.
type Allocator struct {
	pool  *Pool
	byIP  map[netip.Addr]string
	bySvc map[string]netip.Addr
}

// NewAllocator hands out addresses of pool.
func NewAllocator(pool *Pool) *Allocator {
	return &Allocator{pool: pool, byIP: map[netip.Addr]string{}, bySvc: map[string]netip.Addr{}}
}

// Held is the address svc holds, if any.
func (a *Allocator) Held(svc string) (netip.Addr, bool) {
	ip, ok := a.bySvc[svc]
	return ip, ok
}

// Occupy records that svc already holds ip (rebuilding from Service
// statuses). It fails if ip is outside the pool or held by another.
func (a *Allocator) Occupy(svc string, ip netip.Addr) error {
	ip = ip.Unmap()
	if !a.pool.Contains(ip) {
		return ErrNotInPool
	}
	if owner, ok := a.byIP[ip]; ok && owner != svc {
		return ErrTaken
	}
	a.Release(svc)
	a.byIP[ip], a.bySvc[svc] = svc, ip
	return nil
}

// Release frees whatever svc holds and reports whether it held anything.
func (a *Allocator) Release(svc string) bool {
	ip, ok := a.bySvc[svc]
	if ok {
		delete(a.bySvc, svc)
		delete(a.byIP, ip)
	}
	return ok
}

// Allocate gives svc an address: the requested one (spec.loadBalancerIP)
// if set, else the one it holds, else one its status already shows if
// that is free, else the lowest free address.
func (a *Allocator) Allocate(svc, requested string, current []string) (netip.Addr, error) {
	if requested != "" {
		ip, err := netip.ParseAddr(requested)
		if err != nil {
			return netip.Addr{}, ErrBadAddress
		}
		ip = ip.Unmap()
		if !a.pool.Contains(ip) {
			return netip.Addr{}, ErrNotInPool
		}
		if owner, ok := a.byIP[ip]; ok && owner != svc {
			return netip.Addr{}, ErrTaken
		}
		_ = a.Occupy(svc, ip)
		return ip, nil
	}
	if ip, ok := a.bySvc[svc]; ok {
		return ip, nil
	}
	for _, s := range current {
		if ip, err := netip.ParseAddr(s); err == nil && a.Occupy(svc, ip) == nil {
			return ip.Unmap(), nil
		}
	}
	for _, r := range a.pool.ranges {
		for ip := r.first; ip.IsValid() && !r.last.Less(ip); ip = ip.Next() {
			if _, used := a.byIP[ip]; !used {
				a.byIP[ip], a.bySvc[svc] = svc, ip
				return ip, nil
			}
		}
	}
	return netip.Addr{}, ErrPoolExhausted
}

// NodeAddresses is the fallback ingress: the InternalIP addresses of the
// Ready nodes, sorted.
func NodeAddresses(nodes []*corev1.Node) []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range nodes {
		if !nodeReady(n) {
			continue
		}
		for _, a := range n.Status.Addresses {
			if a.Type == corev1.NodeInternalIP && a.Address != "" && !seen[a.Address] {
				seen[a.Address] = true
				out = append(out, a.Address)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		pi, ei := netip.ParseAddr(out[i])
		pj, ej := netip.ParseAddr(out[j])
		if ei != nil || ej != nil {
			return out[i] < out[j]
		}
		return pi.Less(pj)
	})
	return out
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Ingress is the status.loadBalancer.ingress list for ips.
func Ingress(ips []string) []corev1.LoadBalancerIngress {
	if len(ips) == 0 {
		return nil
	}
	vip := corev1.LoadBalancerIPModeVIP
	out := make([]corev1.LoadBalancerIngress, len(ips))
	for i, ip := range ips {
		mode := vip
		out[i] = corev1.LoadBalancerIngress{IP: ip, IPMode: &mode}
	}
	return out
}
