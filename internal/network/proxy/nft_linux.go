package proxy

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// NFTApplier programs the kernel over netlink (nf_tables) with
// github.com/google/nftables. Each Apply is one transaction that flushes
// and deletes the chains and maps of table ip gureum-proxy and rebuilds
// them, so readers never see a half-written table and nothing outside the
// table changes. Session-affinity sets whose definition is unchanged are
// kept, so client stickiness survives unrelated syncs.
type NFTApplier struct {
	// NetNSFd, when non-zero, programs the network namespace behind this
	// file descriptor instead of the caller's (tests, benchmarks).
	NetNSFd int
	// FullRebuildEvery forces a from-scratch rebuild at least this often,
	// repairing anything else that edited the table; default one hour.
	FullRebuildEvery time.Duration
	// Now is the clock for FullRebuildEvery; default time.Now.
	Now func() time.Time

	mu sync.Mutex
	// last is what the kernel holds after the latest successful Apply;
	// nil when unknown (start, or after a failure), which forces a full
	// rebuild.
	last      *Ruleset
	lastFull  time.Time
	fullCount int
}

// Stats says how many applies rebuilt the table from scratch.
func (a *NFTApplier) Stats() (fullRebuilds int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.fullCount
}

// socketBuffer bounds one transaction; a 1,000-service table is a few MB.
const socketBuffer = 64 << 20

func (a *NFTApplier) conn() (*nftables.Conn, error) {
	opts := []nftables.ConnOption{nftables.WithSockOptions(func(c *netlink.Conn) error {
		// A big table is one big sendmsg and one ack per message; the
		// default buffers (rmem/wmem_max) are too small. Best effort:
		// without CAP_NET_ADMIN the forced sizes fail and the defaults
		// still serve small tables.
		rc, err := c.SyscallConn()
		if err != nil {
			return nil
		}
		_ = rc.Control(func(fd uintptr) {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, socketBuffer)
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, socketBuffer)
		})
		return nil
	})}
	if a.NetNSFd != 0 {
		opts = append(opts, nftables.WithNetNSFd(a.NetNSFd))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("open nftables netlink: %w", err)
	}
	return c, nil
}

// Apply makes the table hold exactly rs, in one transaction. When the
// applier knows what the kernel holds it sends only the difference
// (changed chains and map elements); otherwise it rebuilds the table.
func (a *NFTApplier) Apply(ctx context.Context, rs Ruleset) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	every := a.FullRebuildEvery
	if every <= 0 {
		every = time.Hour
	}
	c, err := a.conn()
	if err != nil {
		return err
	}
	var full bool
	if a.last == nil || a.last.Table != rs.Table || now().Sub(a.lastFull) >= every {
		full = true
		err = a.rebuild(c, rs)
	} else {
		var ok bool
		ok, err = a.update(c, *a.last, rs)
		if err == nil && !ok {
			full = true
			err = a.rebuild(c, rs)
		}
	}
	if err != nil {
		a.last = nil
		return err
	}
	snapshot := rs
	a.last = &snapshot
	if full {
		a.lastFull = now()
		a.fullCount++
	}
	return nil
}

func (a *NFTApplier) rebuild(c *nftables.Conn, rs Ruleset) error {
	table := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: rs.Table}
	oldChains, oldSets, err := listTable(c, table)
	if err != nil {
		return err
	}
	c.AddTable(table)

	want := map[string]Set{}
	for _, s := range rs.Sets {
		want[s.Name] = s
	}
	kept := map[string]bool{}
	for _, ch := range oldChains {
		c.FlushChain(ch)
	}
	for _, s := range oldSets {
		if strings.HasPrefix(s.Name, "__") {
			continue // anonymous: goes with its rule
		}
		if w, ok := want[s.Name]; ok && w.Timeout > 0 && s.HasTimeout && s.Timeout == w.Timeout && s.KeyType.Bytes == 4 {
			kept[s.Name] = true
			continue
		}
		c.DelSet(s)
	}
	// Chains last: rules and map elements referring to them are gone now.
	for _, ch := range oldChains {
		c.DelChain(ch)
	}

	// Chains first: map elements and rules jump to them.
	chains := map[string]*nftables.Chain{}
	for _, ch := range rs.Chains {
		nc, err := toNFTChain(table, ch)
		if err != nil {
			return err
		}
		chains[ch.Name] = c.AddChain(nc)
	}
	sets := map[string]*nftables.Set{}
	for _, s := range rs.Sets {
		ns, elems, err := toNFTSet(table, s)
		if err != nil {
			return err
		}
		if kept[s.Name] {
			sets[s.Name] = &nftables.Set{Table: table, Name: s.Name}
			continue
		}
		if err := c.AddSet(ns, elems); err != nil {
			return fmt.Errorf("add set %s: %w", s.Name, err)
		}
		sets[s.Name] = ns
	}
	for _, ch := range rs.Chains {
		for _, r := range ch.Rules {
			exprs, err := ruleExprs(c, table, sets, r)
			if err != nil {
				return fmt.Errorf("chain %s: %w", ch.Name, err)
			}
			c.AddRule(&nftables.Rule{Table: table, Chain: chains[ch.Name], Exprs: exprs})
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("apply nftables table %s: %w", rs.Table, err)
	}
	return nil
}

func toNFTChain(table *nftables.Table, ch Chain) (*nftables.Chain, error) {
	nc := &nftables.Chain{Table: table, Name: ch.Name}
	if ch.Base != nil {
		hook, err := hookOf(ch.Base.Hook)
		if err != nil {
			return nil, err
		}
		prio := nftables.ChainPriority(ch.Base.Priority)
		nc.Hooknum, nc.Priority = hook, &prio
		nc.Type = nftables.ChainType(ch.Base.Type)
		accept := nftables.ChainPolicyAccept
		nc.Policy = &accept
	}
	return nc, nil
}

// sameChain compares without rendering: syncs diff thousands of chains.
func sameChain(x, y Chain) bool {
	if (x.Base == nil) != (y.Base == nil) || x.Base != nil && *x.Base != *y.Base {
		return false
	}
	return slices.EqualFunc(x.Rules, y.Rules, func(a, b Rule) bool {
		return slices.Equal(a.Matches, b.Matches) && slices.EqualFunc(a.Stmts, b.Stmts, func(s, t Stmt) bool {
			return s.Kind == t.Kind && s.Verdict == t.Verdict && s.Set == t.Set && s.To == t.To && s.Mark == t.Mark &&
				slices.Equal(s.Key, t.Key) && slices.Equal(s.Targets, t.Targets)
		})
	})
}

func sameSetDefinition(x, y Set) bool {
	return x.IsVmap == y.IsVmap && x.Timeout == y.Timeout && fmt.Sprint(x.Key) == fmt.Sprint(y.Key)
}

// update sends the difference between prev (what the kernel holds) and
// next. It reports false, sending nothing, when the change is one it does
// not do incrementally (a set redefined under the same name, a base chain
// changed), and the caller rebuilds instead.
func (a *NFTApplier) update(c *nftables.Conn, prev, next Ruleset) (bool, error) {
	table := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: next.Table}
	prevChains := make(map[string]Chain, len(prev.Chains))
	for _, ch := range prev.Chains {
		prevChains[ch.Name] = ch
	}
	nextChains := make(map[string]bool, len(next.Chains))
	var added, changed, removed []Chain
	for _, ch := range next.Chains {
		nextChains[ch.Name] = true
		old, ok := prevChains[ch.Name]
		switch {
		case !ok:
			if ch.Base != nil {
				return false, nil
			}
			added = append(added, ch)
		case !sameChain(old, ch):
			if ch.Base != nil || old.Base != nil {
				return false, nil
			}
			changed = append(changed, ch)
		}
	}
	for _, ch := range prev.Chains {
		if !nextChains[ch.Name] {
			if ch.Base != nil {
				return false, nil
			}
			removed = append(removed, ch)
		}
	}
	prevSets := map[string]Set{}
	for _, s := range prev.Sets {
		prevSets[s.Name] = s
	}
	nextSets := map[string]bool{}
	var newSets, removedSets []Set
	type elemDiff struct {
		set      Set
		add, del []Element
	}
	var diffs []elemDiff
	for _, s := range next.Sets {
		nextSets[s.Name] = true
		old, ok := prevSets[s.Name]
		if !ok {
			newSets = append(newSets, s)
			continue
		}
		if !sameSetDefinition(old, s) {
			return false, nil
		}
		oldElems := map[string]Element{}
		for _, e := range old.Elements {
			oldElems[elementKey(old.Key, e)] = e
		}
		d := elemDiff{set: s}
		seen := map[string]bool{}
		for _, e := range s.Elements {
			k := elementKey(s.Key, e)
			seen[k] = true
			o, ok := oldElems[k]
			switch {
			case !ok:
				d.add = append(d.add, e)
			case o.Verdict != e.Verdict:
				d.del = append(d.del, o)
				d.add = append(d.add, e)
			}
		}
		for k, o := range oldElems {
			if !seen[k] {
				d.del = append(d.del, o)
			}
		}
		if len(d.add)+len(d.del) > 0 {
			diffs = append(diffs, d)
		}
	}
	for _, s := range prev.Sets {
		if !nextSets[s.Name] {
			removedSets = append(removedSets, s)
		}
	}
	if len(added)+len(changed)+len(removed)+len(newSets)+len(removedSets)+len(diffs) == 0 {
		return true, nil
	}

	// Order matters inside the transaction: drop references before what
	// they refer to, create targets before their referrers.
	for _, ch := range append(append([]Chain(nil), changed...), removed...) {
		c.FlushChain(&nftables.Chain{Table: table, Name: ch.Name})
	}
	sets := map[string]*nftables.Set{}
	for _, d := range diffs {
		if len(d.del) == 0 {
			continue
		}
		// Deletion goes by key only.
		ns, elems, err := toNFTSet(table, Set{Name: d.set.Name, Key: d.set.Key, Elements: d.del})
		if err != nil {
			return false, err
		}
		if err := c.SetDeleteElements(ns, elems); err != nil {
			return false, fmt.Errorf("delete elements of %s: %w", d.set.Name, err)
		}
	}
	for _, s := range removedSets {
		c.DelSet(&nftables.Set{Table: table, Name: s.Name})
	}
	for _, ch := range removed {
		c.DelChain(&nftables.Chain{Table: table, Name: ch.Name})
	}
	chains := map[string]*nftables.Chain{}
	for _, ch := range added {
		nc, err := toNFTChain(table, ch)
		if err != nil {
			return false, err
		}
		chains[ch.Name] = c.AddChain(nc)
	}
	for _, ch := range changed {
		chains[ch.Name] = &nftables.Chain{Table: table, Name: ch.Name}
	}
	for _, s := range next.Sets {
		// Existing sets are referred to by name.
		sets[s.Name] = &nftables.Set{Table: table, Name: s.Name}
	}
	for _, s := range newSets {
		ns, elems, err := toNFTSet(table, s)
		if err != nil {
			return false, err
		}
		if err := c.AddSet(ns, elems); err != nil {
			return false, fmt.Errorf("add set %s: %w", s.Name, err)
		}
		sets[s.Name] = ns
	}
	for _, d := range diffs {
		if len(d.add) == 0 {
			continue
		}
		ns, elems, err := toNFTSet(table, Set{Name: d.set.Name, Key: d.set.Key, IsVmap: d.set.IsVmap, Elements: d.add})
		if err != nil {
			return false, err
		}
		if err := c.SetAddElements(ns, elems); err != nil {
			return false, fmt.Errorf("add elements to %s: %w", d.set.Name, err)
		}
	}
	for _, ch := range append(append([]Chain(nil), added...), changed...) {
		for _, r := range ch.Rules {
			exprs, err := ruleExprs(c, table, sets, r)
			if err != nil {
				return false, fmt.Errorf("chain %s: %w", ch.Name, err)
			}
			c.AddRule(&nftables.Rule{Table: table, Chain: chains[ch.Name], Exprs: exprs})
		}
	}
	if err := c.Flush(); err != nil {
		return false, fmt.Errorf("update nftables table %s: %w", next.Table, err)
	}
	return true, nil
}

// Delete removes the table (for tests and explicit teardown).
func (a *NFTApplier) Delete(table string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.last = nil
	c, err := a.conn()
	if err != nil {
		return err
	}
	t := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: table}
	c.AddTable(t)
	c.DelTable(t)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("delete nftables table %s: %w", table, err)
	}
	return nil
}

func listTable(c *nftables.Conn, table *nftables.Table) ([]*nftables.Chain, []*nftables.Set, error) {
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return nil, nil, fmt.Errorf("list nftables chains: %w", err)
	}
	var own []*nftables.Chain
	for _, ch := range chains {
		if ch.Table != nil && ch.Table.Name == table.Name {
			ch.Table = table
			own = append(own, ch)
		}
	}
	if len(own) == 0 {
		// No chains: the table may not exist, and then neither do sets.
		if _, err := c.ListTableOfFamily(table.Name, nftables.TableFamilyIPv4); err != nil {
			return nil, nil, nil
		}
	}
	sets, err := c.GetSets(table)
	if err != nil {
		return nil, nil, fmt.Errorf("list nftables sets of %s: %w", table.Name, err)
	}
	for _, s := range sets {
		s.Table = table
	}
	return own, sets, nil
}

func hookOf(name string) (*nftables.ChainHook, error) {
	switch name {
	case "prerouting":
		return nftables.ChainHookPrerouting, nil
	case "input":
		return nftables.ChainHookInput, nil
	case "forward":
		return nftables.ChainHookForward, nil
	case "output":
		return nftables.ChainHookOutput, nil
	case "postrouting":
		return nftables.ChainHookPostrouting, nil
	}
	return nil, fmt.Errorf("unknown hook %q", name)
}

func keyType(key []KeyField) (nftables.SetDatatype, error) {
	types := make([]nftables.SetDatatype, len(key))
	for i, k := range key {
		switch k {
		case KeyAddr:
			types[i] = nftables.TypeIPAddr
		case KeyProto:
			types[i] = nftables.TypeInetProto
		case KeyPort:
			types[i] = nftables.TypeInetService
		default:
			return nftables.SetDatatype{}, fmt.Errorf("unknown key field %d", k)
		}
	}
	if len(types) == 1 {
		return types[0], nil
	}
	return nftables.ConcatSetType(types...)
}

// keyBytes lays a key out as the registers hold it: in a concatenation
// every field is padded to 4 bytes.
func keyBytes(key []KeyField, e Element) []byte {
	var out []byte
	for _, k := range key {
		var f []byte
		switch k {
		case KeyAddr:
			a := e.Addr.As4()
			f = a[:]
		case KeyProto:
			f = []byte{byte(e.Proto)}
		case KeyPort:
			f = binary.BigEndian.AppendUint16(nil, e.Port)
		}
		if len(key) > 1 {
			for len(f)%4 != 0 {
				f = append(f, 0)
			}
		}
		out = append(out, f...)
	}
	return out
}

func toNFTSet(table *nftables.Table, s Set) (*nftables.Set, []nftables.SetElement, error) {
	kt, err := keyType(s.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("set %s: %w", s.Name, err)
	}
	ns := &nftables.Set{
		Table:         table,
		Name:          s.Name,
		KeyType:       kt,
		IsMap:         s.IsVmap,
		Concatenation: len(s.Key) > 1,
	}
	if s.IsVmap {
		ns.DataType = nftables.TypeVerdict
	}
	if s.Timeout > 0 {
		ns.HasTimeout, ns.Dynamic, ns.Timeout = true, true, s.Timeout
	}
	elems := make([]nftables.SetElement, len(s.Elements))
	for i, e := range s.Elements {
		elems[i].Key = keyBytes(s.Key, e)
		if s.IsVmap {
			v := toVerdict(e.Verdict)
			elems[i].VerdictData = v
		}
	}
	return ns, elems, nil
}

func toVerdict(v Verdict) *expr.Verdict {
	switch v.Kind {
	case VerdictAccept:
		return &expr.Verdict{Kind: expr.VerdictAccept}
	case VerdictDrop:
		return &expr.Verdict{Kind: expr.VerdictDrop}
	case VerdictReturn:
		return &expr.Verdict{Kind: expr.VerdictReturn}
	case VerdictJump:
		return &expr.Verdict{Kind: expr.VerdictJump, Chain: v.Chain}
	default:
		return &expr.Verdict{Kind: expr.VerdictGoto, Chain: v.Chain}
	}
}

// Registers: 1 is the first 128-bit register, whose 32-bit parts are 8..11;
// concatenated keys continue in 9, 10.
const (
	reg1    = 1
	reg2    = 2
	reg32_1 = 9
	reg32_2 = 10
)

func u32(v uint32) []byte { return binaryutil.NativeEndian.PutUint32(v) }

func loadKey(key []KeyField) ([]expr.Any, error) {
	regs := []uint32{reg1, reg32_1, reg32_2}
	if len(key) > len(regs) {
		return nil, fmt.Errorf("key of %d fields", len(key))
	}
	var out []expr.Any
	for i, k := range key {
		switch k {
		case KeyAddr:
			out = append(out, &expr.Payload{DestRegister: regs[i], Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4})
		case KeyProto:
			out = append(out, &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: regs[i]})
		case KeyPort:
			out = append(out, &expr.Payload{DestRegister: regs[i], Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2})
		}
	}
	return out, nil
}

func lookupSet(sets map[string]*nftables.Set, name string) (*nftables.Set, error) {
	s, ok := sets[name]
	if !ok {
		return nil, fmt.Errorf("rule refers to unknown set %s", name)
	}
	return s, nil
}

func addrCmp(offset uint32, m Match) []expr.Any {
	out := []expr.Any{&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4}}
	op := expr.CmpOpEq
	if m.Negate {
		op = expr.CmpOpNeq
	}
	p := m.Prefix.Masked()
	a := p.Addr().As4()
	if p.Bits() < 32 {
		mask := binary.BigEndian.AppendUint32(nil, ^uint32(0)<<(32-p.Bits()))
		out = append(out, &expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: mask, Xor: []byte{0, 0, 0, 0}})
	}
	return append(out, &expr.Cmp{Op: op, Register: reg1, Data: a[:]})
}

func ruleExprs(c *nftables.Conn, table *nftables.Table, sets map[string]*nftables.Set, r Rule) ([]expr.Any, error) {
	var out []expr.Any
	for _, m := range r.Matches {
		op := expr.CmpOpEq
		if m.Negate {
			op = expr.CmpOpNeq
		}
		switch m.Kind {
		case MatchL4Proto:
			out = append(out,
				&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
				&expr.Cmp{Op: op, Register: reg1, Data: []byte{byte(m.Proto)}})
		case MatchSrc:
			out = append(out, addrCmp(12, m)...)
		case MatchDst:
			out = append(out, addrCmp(16, m)...)
		case MatchSrcInSet, MatchDstInSet:
			s, err := lookupSet(sets, m.Set)
			if err != nil {
				return nil, err
			}
			offset := uint32(16)
			if m.Kind == MatchSrcInSet {
				offset = 12
			}
			out = append(out,
				&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4},
				&expr.Lookup{SourceRegister: reg1, SetName: s.Name, SetID: s.ID, Invert: m.Negate})
		case MatchSrcLocal, MatchDstLocal:
			out = append(out,
				&expr.Fib{Register: reg1, FlagSADDR: m.Kind == MatchSrcLocal, FlagDADDR: m.Kind == MatchDstLocal, ResultADDRTYPE: true},
				&expr.Cmp{Op: op, Register: reg1, Data: u32(unix.RTN_LOCAL)})
		case MatchMark:
			// Negate means "bit clear".
			out = append(out,
				&expr.Meta{Key: expr.MetaKeyMARK, Register: reg1},
				&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: u32(m.Mark), Xor: u32(0)},
				&expr.Cmp{Op: map[bool]expr.CmpOp{true: expr.CmpOpEq, false: expr.CmpOpNeq}[m.Negate], Register: reg1, Data: u32(0)})
		case MatchOifName:
			if m.Name == "" || len(m.Name) >= unix.IFNAMSIZ {
				return nil, fmt.Errorf("interface name %q is not 1 to %d bytes", m.Name, unix.IFNAMSIZ-1)
			}
			// The kernel compares the whole IFNAMSIZ buffer: pad with NULs.
			name := make([]byte, unix.IFNAMSIZ)
			copy(name, m.Name)
			out = append(out,
				&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: reg1},
				&expr.Cmp{Op: op, Register: reg1, Data: name})
		case MatchCtNew:
			out = append(out,
				&expr.Ct{Register: reg1, Key: expr.CtKeySTATE},
				&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: u32(expr.CtStateBitNEW), Xor: u32(0)},
				&expr.Cmp{Op: map[bool]expr.CmpOp{true: expr.CmpOpEq, false: expr.CmpOpNeq}[m.Negate], Register: reg1, Data: u32(0)})
		default:
			return nil, fmt.Errorf("unknown match kind %d", m.Kind)
		}
	}
	for _, s := range r.Stmts {
		switch s.Kind {
		case StmtVerdict:
			out = append(out, toVerdict(s.Verdict))
		case StmtVmap:
			set, err := lookupSet(sets, s.Set)
			if err != nil {
				return nil, err
			}
			load, err := loadKey(s.Key)
			if err != nil {
				return nil, err
			}
			out = append(out, load...)
			out = append(out, &expr.Lookup{SourceRegister: reg1, SetName: set.Name, SetID: set.ID, IsDestRegSet: true, DestRegister: 0})
		case StmtNumgenVmap:
			anon := &nftables.Set{Table: table, Anonymous: true, Constant: true, IsMap: true, KeyType: nftables.TypeInteger, DataType: nftables.TypeVerdict}
			elems := make([]nftables.SetElement, len(s.Targets))
			for i, t := range s.Targets {
				elems[i] = nftables.SetElement{Key: u32(uint32(i)), VerdictData: toVerdict(t)}
			}
			if err := c.AddSet(anon, elems); err != nil {
				return nil, fmt.Errorf("add endpoint map: %w", err)
			}
			out = append(out,
				&expr.Numgen{Register: reg1, Modulus: uint32(len(s.Targets)), Type: unix.NFT_NG_RANDOM},
				&expr.Lookup{SourceRegister: reg1, SetName: anon.Name, SetID: anon.ID, IsDestRegSet: true, DestRegister: 0})
		case StmtDNAT:
			a := s.To.Addr().As4()
			out = append(out,
				&expr.Immediate{Register: reg1, Data: a[:]},
				&expr.Immediate{Register: reg2, Data: binary.BigEndian.AppendUint16(nil, s.To.Port())},
				&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: reg1, RegProtoMin: reg2, Specified: true})
		case StmtMasquerade:
			out = append(out, &expr.Masq{FullyRandom: true})
		case StmtMasqueradeKeepPort:
			out = append(out, &expr.Masq{})
		case StmtMarkOr, StmtMarkXor:
			mask, xor := ^s.Mark, s.Mark
			if s.Kind == StmtMarkXor {
				mask = ^uint32(0)
			}
			out = append(out,
				&expr.Meta{Key: expr.MetaKeyMARK, Register: reg1},
				&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: u32(mask), Xor: u32(xor)},
				&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: reg1})
		case StmtUpdateSrc:
			set, err := lookupSet(sets, s.Set)
			if err != nil {
				return nil, err
			}
			out = append(out,
				&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
				&expr.Dynset{SrcRegKey: reg1, SetName: set.Name, SetID: set.ID, Operation: unix.NFT_DYNSET_OP_UPDATE})
		case StmtRejectTCP:
			out = append(out, &expr.Reject{Type: unix.NFT_REJECT_TCP_RST})
		case StmtRejectICMP:
			out = append(out, &expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: 3})
		default:
			return nil, fmt.Errorf("unknown statement kind %d", s.Kind)
		}
	}
	return out, nil
}
