package simulate

import (
	"encoding/binary"
	"fmt"
	"net"
)

// Fake addresses come from ranges reserved for documentation and
// benchmarking, so they never collide with a real network: node IPs from
// 198.18.0.0/15 (RFC 2544), pod IPs of nodes without a pod CIDR from
// 100.64.0.0/10 (shared address space), one /24 per node.
var (
	fakeNodeNet = mustNet("198.18.0.0/15")
	fakePodNet  = mustNet("100.64.0.0/10")
)

// maxNodes is how many nodes fit the fake ranges.
const maxNodes = 1 << 14

func mustNet(s string) *net.IPNet {
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	return n
}

func addToIP(base net.IP, off uint32) net.IP {
	v := binary.BigEndian.Uint32(base.To4()) + off
	ip := make(net.IP, 4)
	binary.BigEndian.PutUint32(ip, v)
	return ip
}

// fakeNodeIP is node index i's InternalIP.
func fakeNodeIP(i int) net.IP { return addToIP(fakeNodeNet.IP, uint32(i)+1) }

// fakePodBlock is node index i's pod range when it has no pod CIDR.
func fakePodBlock(i int) *net.IPNet {
	return &net.IPNet{IP: addToIP(fakePodNet.IP, uint32(i)<<8), Mask: net.CIDRMask(24, 32)}
}

// podIPPool hands out the addresses of one node's pod range; it is not
// safe for concurrent use.
type podIPPool struct {
	block  *net.IPNet
	used   map[string]string // ip -> pod key
	cursor uint32
}

func newPodIPPool(block *net.IPNet) *podIPPool {
	return &podIPPool{block: block, used: map[string]string{}}
}

// usable is how many host addresses the block has, leaving out the
// network address, the first host (a bridge gateway by convention) and
// broadcast.
func (p *podIPPool) usable() uint32 {
	ones, bits := p.block.Mask.Size()
	size := uint32(1) << uint(bits-ones)
	if size <= 3 {
		return 0
	}
	return size - 3
}

// take records that key holds ip (already in its status).
func (p *podIPPool) take(ip, key string) { p.used[ip] = key }

func (p *podIPPool) release(ip string) { delete(p.used, ip) }

// allocate gives key a free address, going round the range so that
// freed addresses are reused last.
func (p *podIPPool) allocate(key string) (string, error) {
	n := p.usable()
	for range n {
		ip := addToIP(p.block.IP, 2+p.cursor%n).String()
		p.cursor = (p.cursor + 1) % n
		if _, taken := p.used[ip]; !taken {
			p.used[ip] = key
			return ip, nil
		}
	}
	return "", fmt.Errorf("pod range %s is full", p.block)
}
