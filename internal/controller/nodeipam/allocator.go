package nodeipam

import (
	"errors"
	"fmt"
	"math/big"
	"net"
)

// ErrCIDRRangeFull means every per-node block of the cluster CIDR is taken.
var ErrCIDRRangeFull = errors.New("cluster CIDR is exhausted: no free per-node CIDR left")

// maxBlockBits bounds the table to 65,536 blocks, as Kubernetes does: a
// cluster CIDR split finer than that is a configuration mistake.
const maxBlockBits = 16

// Allocator hands out equally sized blocks (one per node) of a cluster
// CIDR. It does no I/O and is not safe for concurrent use.
type Allocator struct {
	base     *net.IPNet
	baseInt  *big.Int
	prefix   int
	maskSize int
	bits     int // address length: 32 or 128
	used     []bool
	count    int
	next     int // where the next search starts, so freed blocks are reused last
}

// NewAllocator splits cidr into blocks of /maskSize.
func NewAllocator(cidr *net.IPNet, maskSize int) (*Allocator, error) {
	if cidr == nil {
		return nil, errors.New("cluster CIDR is required")
	}
	prefix, bits := cidr.Mask.Size()
	if bits == 0 {
		return nil, fmt.Errorf("cluster CIDR %s has a non-canonical mask", cidr)
	}
	if maskSize < prefix || maskSize > bits {
		return nil, fmt.Errorf("node mask size /%d must be between the cluster CIDR's /%d and /%d", maskSize, prefix, bits)
	}
	if maskSize-prefix > maxBlockBits {
		return nil, fmt.Errorf("node mask size /%d splits %s into more than %d blocks; use a larger mask size or a smaller cluster CIDR", maskSize, cidr, 1<<maxBlockBits)
	}
	ip := cidr.IP.Mask(cidr.Mask)
	if bits == 32 {
		ip = ip.To4()
	} else {
		ip = ip.To16()
	}
	count := 1 << (maskSize - prefix)
	return &Allocator{
		base:     &net.IPNet{IP: ip, Mask: cidr.Mask},
		baseInt:  new(big.Int).SetBytes(ip),
		prefix:   prefix,
		maskSize: maskSize,
		bits:     bits,
		used:     make([]bool, count),
		count:    count,
	}, nil
}

// Size is how many blocks the cluster CIDR holds.
func (a *Allocator) Size() int { return a.count }

// Free is how many blocks are unallocated.
func (a *Allocator) Free() int {
	n := 0
	for _, u := range a.used {
		if !u {
			n++
		}
	}
	return n
}

// Allocate takes the next free block.
func (a *Allocator) Allocate() (*net.IPNet, error) {
	for i := range a.count {
		idx := (a.next + i) % a.count
		if !a.used[idx] {
			a.used[idx] = true
			a.next = (idx + 1) % a.count
			return a.block(idx), nil
		}
	}
	return nil, ErrCIDRRangeFull
}

// Occupy marks cidr as taken (a node already has it). It reports whether
// the block was free before.
func (a *Allocator) Occupy(cidr *net.IPNet) (bool, error) {
	idx, err := a.index(cidr)
	if err != nil {
		return false, err
	}
	was := a.used[idx]
	a.used[idx] = true
	return !was, nil
}

// Release frees cidr.
func (a *Allocator) Release(cidr *net.IPNet) error {
	idx, err := a.index(cidr)
	if err != nil {
		return err
	}
	a.used[idx] = false
	return nil
}

func (a *Allocator) block(idx int) *net.IPNet {
	off := new(big.Int).Lsh(big.NewInt(int64(idx)), uint(a.bits-a.maskSize))
	v := new(big.Int).Add(a.baseInt, off).Bytes()
	ip := make(net.IP, a.bits/8)
	copy(ip[len(ip)-len(v):], v)
	return &net.IPNet{IP: ip, Mask: net.CIDRMask(a.maskSize, a.bits)}
}

// index finds which block cidr is; it must be exactly one block of this
// allocator's size inside the cluster CIDR.
func (a *Allocator) index(cidr *net.IPNet) (int, error) {
	ones, bits := cidr.Mask.Size()
	if bits != a.bits || ones != a.maskSize {
		return 0, fmt.Errorf("CIDR %s is not a /%d block", cidr, a.maskSize)
	}
	if !a.base.Contains(cidr.IP) {
		return 0, fmt.Errorf("CIDR %s is outside the cluster CIDR %s", cidr, a.base)
	}
	ip := cidr.IP.Mask(cidr.Mask)
	if a.bits == 32 {
		ip = ip.To4()
	} else {
		ip = ip.To16()
	}
	off := new(big.Int).Sub(new(big.Int).SetBytes(ip), a.baseInt)
	off.Rsh(off, uint(a.bits-a.maskSize))
	return int(off.Int64()), nil
}
