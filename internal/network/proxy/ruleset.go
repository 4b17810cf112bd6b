// Package proxy owns the node service proxy: it turns Services and their
// EndpointSlices into an nftables table (ip gureum-proxy) that DNATs
// ClusterIPs, NodePorts, externalIPs and LoadBalancer ingress IPs to
// endpoints, with kube-proxy's semantics (ready endpoints, falling back to
// serving+terminating ones; traffic policies; ClientIP session affinity;
// REJECT when a service has no endpoints; masquerade for off-cluster and
// hairpin traffic), and masquerades pods' egress from the cluster CIDR.
//
// It is split in three: Compute is pure (objects in, a Ruleset out); an
// Applier writes a Ruleset into the kernel (NFTApplier, over netlink with
// github.com/google/nftables, replacing only its own table in one
// transaction; FakeApplier records); Proxy watches the API through
// informers and re-syncs. Only internal/node (the agent wiring) and tests
// import it.
package proxy

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// TableName is the nftables table (family ip) the proxy owns. Nothing
// outside it is ever touched.
const TableName = "gureum-proxy"

// MasqueradeMark is the packet mark bit that asks the postrouting chain to
// masquerade (kube-proxy uses the same bit).
const MasqueradeMark uint32 = 0x4000

// Ruleset is the whole content of the proxy's table. It is plain data:
// Compute builds it, an Applier programs it, String renders it in nft
// syntax for golden files and humans.
type Ruleset struct {
	Table  string
	Sets   []Set
	Chains []Chain
}

// KeyField is one component of a set or map key.
type KeyField uint8

// Key fields. In a concatenated key each takes one 32-bit register.
const (
	KeyAddr  KeyField = iota + 1 // ipv4_addr
	KeyProto                     // inet_proto
	KeyPort                      // inet_service
)

func (k KeyField) String() string {
	switch k {
	case KeyAddr:
		return "ipv4_addr"
	case KeyProto:
		return "inet_proto"
	case KeyPort:
		return "inet_service"
	}
	return "?"
}

// Set is a named set, or a verdict map when IsVmap.
type Set struct {
	Name   string
	Key    []KeyField
	IsVmap bool
	// Timeout, when set, makes a dynamic set whose entries expire (session
	// affinity); rules add to it with StmtUpdateSrc.
	Timeout  time.Duration
	Elements []Element
}

// Element is one set or map entry; only the fields in the set's Key are used.
type Element struct {
	Addr    netip.Addr
	Proto   Protocol
	Port    uint16
	Verdict Verdict
}

// Protocol is an IP protocol number.
type Protocol uint8

// Protocols a Service may use.
const (
	ProtoTCP  Protocol = 6
	ProtoUDP  Protocol = 17
	ProtoSCTP Protocol = 132
)

func (p Protocol) String() string {
	switch p {
	case ProtoTCP:
		return "tcp"
	case ProtoUDP:
		return "udp"
	case ProtoSCTP:
		return "sctp"
	}
	return fmt.Sprint(uint8(p))
}

// VerdictKind is what a verdict does.
type VerdictKind uint8

// Verdicts.
const (
	VerdictAccept VerdictKind = iota + 1
	VerdictDrop
	VerdictReturn
	VerdictJump
	VerdictGoto
)

// Verdict ends (or diverts) rule evaluation.
type Verdict struct {
	Kind  VerdictKind
	Chain string
}

func (v Verdict) String() string {
	switch v.Kind {
	case VerdictAccept:
		return "accept"
	case VerdictDrop:
		return "drop"
	case VerdictReturn:
		return "return"
	case VerdictJump:
		return "jump " + v.Chain
	case VerdictGoto:
		return "goto " + v.Chain
	}
	return "?"
}

// Chain is a regular chain, or a base chain attached to a hook when Base
// is set.
type Chain struct {
	Name  string
	Base  *BaseChain
	Rules []Rule
}

// BaseChain says where a chain hooks into the stack.
type BaseChain struct {
	Type     string // "nat" or "filter"
	Hook     string // "prerouting", "input", "forward", "output", "postrouting"
	Priority int32
}

// Rule is matches (all must hold) followed by statements run in order.
type Rule struct {
	Matches []Match
	Stmts   []Stmt
}

// MatchKind selects what a Match tests.
type MatchKind uint8

// Matches.
const (
	MatchL4Proto  MatchKind = iota + 1 // meta l4proto == Proto
	MatchSrc                           // ip saddr [!=] Prefix
	MatchDst                           // ip daddr [!=] Prefix
	MatchSrcInSet                      // ip saddr @Set
	MatchDstInSet                      // ip daddr @Set
	MatchSrcLocal                      // fib saddr type local
	MatchDstLocal                      // fib daddr type local
	MatchMark                          // meta mark & Mark != 0 (Negate: == 0)
	MatchCtNew                         // ct state new
	MatchOifName                       // oifname [!=] Name
)

// Match is one condition of a rule.
type Match struct {
	Kind   MatchKind
	Negate bool
	Proto  Protocol
	Prefix netip.Prefix
	Set    string
	Mark   uint32
	Name   string // interface name (MatchOifName)
}

// StmtKind selects what a Stmt does.
type StmtKind uint8

// Statements.
const (
	StmtVerdict            StmtKind = iota + 1 // Verdict
	StmtVmap                                   // Key vmap @Set
	StmtNumgenVmap                             // numgen random mod len(Targets) vmap { i : Targets[i] }
	StmtDNAT                                   // dnat to To
	StmtMasquerade                             // masquerade fully-random
	StmtMasqueradeKeepPort                     // masquerade (keeps the source port when it is free)
	StmtMarkOr                                 // meta mark set meta mark | Mark
	StmtMarkXor                                // meta mark set meta mark ^ Mark
	StmtUpdateSrc                              // update @Set { ip saddr }
	StmtRejectTCP                              // reject with tcp reset
	StmtRejectICMP                             // reject (icmp port-unreachable)
)

// Stmt is one action of a rule.
type Stmt struct {
	Kind    StmtKind
	Verdict Verdict
	Key     []KeyField
	Set     string
	Targets []Verdict
	To      netip.AddrPort
	Mark    uint32
}

// String renders the ruleset in nft syntax (what `nft list table` would
// show, modulo formatting).
func (rs Ruleset) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "table ip %s {\n", rs.Table)
	for _, s := range rs.Sets {
		kind := "set"
		if s.IsVmap {
			kind = "map"
		}
		fmt.Fprintf(&b, "\t%s %s {\n\t\ttype %s", kind, s.Name, keyString(s.Key, " . ", func(k KeyField) string { return k.String() }))
		if s.IsVmap {
			b.WriteString(" : verdict")
		}
		b.WriteString("\n")
		if s.Timeout > 0 {
			fmt.Fprintf(&b, "\t\tflags dynamic,timeout\n\t\ttimeout %s\n", s.Timeout)
		}
		if len(s.Elements) > 0 {
			b.WriteString("\t\telements = {\n")
			for _, e := range s.Elements {
				fmt.Fprintf(&b, "\t\t\t%s", elementKey(s.Key, e))
				if s.IsVmap {
					fmt.Fprintf(&b, " : %s", e.Verdict)
				}
				b.WriteString(",\n")
			}
			b.WriteString("\t\t}\n")
		}
		b.WriteString("\t}\n")
	}
	for _, c := range rs.Chains {
		fmt.Fprintf(&b, "\tchain %s {\n", c.Name)
		if c.Base != nil {
			fmt.Fprintf(&b, "\t\ttype %s hook %s priority %d;\n", c.Base.Type, c.Base.Hook, c.Base.Priority)
		}
		for _, r := range c.Rules {
			fmt.Fprintf(&b, "\t\t%s\n", r)
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return b.String()
}

func keyString(key []KeyField, sep string, f func(KeyField) string) string {
	parts := make([]string, len(key))
	for i, k := range key {
		parts[i] = f(k)
	}
	return strings.Join(parts, sep)
}

func elementKey(key []KeyField, e Element) string {
	return keyString(key, " . ", func(k KeyField) string {
		switch k {
		case KeyAddr:
			return e.Addr.String()
		case KeyProto:
			return e.Proto.String()
		case KeyPort:
			return fmt.Sprint(e.Port)
		}
		return "?"
	})
}

func (r Rule) String() string {
	var parts []string
	for _, m := range r.Matches {
		parts = append(parts, m.String())
	}
	for _, s := range r.Stmts {
		parts = append(parts, s.String())
	}
	return strings.Join(parts, " ")
}

func (m Match) String() string {
	neg := ""
	if m.Negate {
		neg = "!= "
	}
	switch m.Kind {
	case MatchL4Proto:
		return "meta l4proto " + neg + m.Proto.String()
	case MatchSrc:
		return "ip saddr " + neg + prefixString(m.Prefix)
	case MatchDst:
		return "ip daddr " + neg + prefixString(m.Prefix)
	case MatchSrcInSet:
		return "ip saddr " + neg + "@" + m.Set
	case MatchDstInSet:
		return "ip daddr " + neg + "@" + m.Set
	case MatchSrcLocal:
		return "fib saddr type " + neg + "local"
	case MatchDstLocal:
		return "fib daddr type " + neg + "local"
	case MatchMark:
		if m.Negate {
			return fmt.Sprintf("meta mark & 0x%x == 0", m.Mark)
		}
		return fmt.Sprintf("meta mark & 0x%x != 0", m.Mark)
	case MatchCtNew:
		return "ct state " + neg + "new"
	case MatchOifName:
		return "oifname " + neg + strconv.Quote(m.Name)
	}
	return "?"
}

func prefixString(p netip.Prefix) string {
	if p.Bits() == p.Addr().BitLen() {
		return p.Addr().String()
	}
	return p.String()
}

func (s Stmt) String() string {
	switch s.Kind {
	case StmtVerdict:
		return s.Verdict.String()
	case StmtVmap:
		return keyString(s.Key, " . ", func(k KeyField) string {
			switch k {
			case KeyAddr:
				return "ip daddr"
			case KeyProto:
				return "meta l4proto"
			case KeyPort:
				return "th dport"
			}
			return "?"
		}) + " vmap @" + s.Set
	case StmtNumgenVmap:
		targets := make([]string, len(s.Targets))
		for i, t := range s.Targets {
			targets[i] = fmt.Sprintf("%d : %s", i, t)
		}
		return fmt.Sprintf("numgen random mod %d vmap { %s }", len(s.Targets), strings.Join(targets, ", "))
	case StmtDNAT:
		return "dnat to " + s.To.String()
	case StmtMasquerade:
		return "masquerade fully-random"
	case StmtMasqueradeKeepPort:
		return "masquerade"
	case StmtMarkOr:
		return fmt.Sprintf("meta mark set meta mark | 0x%x", s.Mark)
	case StmtMarkXor:
		return fmt.Sprintf("meta mark set meta mark ^ 0x%x", s.Mark)
	case StmtUpdateSrc:
		return "update @" + s.Set + " { ip saddr }"
	case StmtRejectTCP:
		return "reject with tcp reset"
	case StmtRejectICMP:
		return "reject"
	}
	return "?"
}
