package proxy

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"net/netip"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// NodeInfo is what Compute needs to know about the node it programs.
type NodeInfo struct {
	Name string
	// IPs are the addresses NodePorts answer on; empty means every local
	// address except 127.0.0.0/8. Loopback and non-IPv4 addresses are
	// ignored: as in kube-proxy's nftables mode, NodePorts are never
	// served on 127.0.0.1 (that needs route_localnet, which only the
	// iptables mode sets).
	IPs []netip.Addr
	// ClusterCIDR is the pod address range of the whole cluster; traffic
	// from outside it to a ClusterIP is masqueraded, except the node's own
	// connections to endpoints on this node. Zero disables that, and pod
	// egress masquerading.
	ClusterCIDR netip.Prefix
	// MasqueradePodEgress masquerades connections from the cluster CIDR
	// to addresses outside it that leave through an interface other than
	// PodBridge: the pods' way to the host's networks and beyond (what the
	// CNI bridge plugin's ipMasq did, in one rule instead of a chain per
	// pod). Needs ClusterCIDR.
	MasqueradePodEgress bool
	// PodBridge is the interface this node's pods attach to (the CNI
	// bridge); empty leaves out the interface test.
	PodBridge string
}

// Chain names of the fixed skeleton.
const (
	chainServices        = "services"
	chainEndpointsCheck  = "endpoints-check"
	chainMarkMasq        = "mark-for-masquerade"
	chainMasquerading    = "masquerading"
	chainReject          = "reject-chain"
	chainPodEgress       = "pod-egress"
	mapServiceIPs        = "service-ips"
	mapServiceNodePorts  = "service-nodeports"
	mapNoEndpointIPs     = "no-endpoint-services"
	mapNoEndpointPorts   = "no-endpoint-nodeports"
	setNodePortIPs       = "nodeport-ips"
	defaultAffinityLimit = 10800 * time.Second
)

// Labels kube-proxy honours on Services and EndpointSlices.
const (
	labelServiceName      = discoveryv1.LabelServiceName
	labelServiceProxyName = "service.kubernetes.io/service-proxy-name"
)

var (
	keyAddrProtoPort = []KeyField{KeyAddr, KeyProto, KeyPort}
	keyProtoPort     = []KeyField{KeyProto, KeyPort}
	loopback         = netip.MustParsePrefix("127.0.0.0/8")
	multicast        = netip.MustParsePrefix("224.0.0.0/4")
)

// endpoint is one backend of one service port.
type endpoint struct {
	addr                        netip.Addr
	port                        uint16
	ready, serving, terminating bool
	local                       bool
}

// Compute returns the table that implements services on node. It does no
// I/O and is deterministic: the same objects give the same Ruleset.
func Compute(services []*corev1.Service, slices []*discoveryv1.EndpointSlice, node NodeInfo) Ruleset {
	b := &builder{node: node, nodePortIPs: nodePortIPs(node.IPs)}
	b.skeleton()

	byService := map[string][]*discoveryv1.EndpointSlice{}
	for _, s := range slices {
		name := s.Labels[labelServiceName]
		if name == "" || s.AddressType != discoveryv1.AddressTypeIPv4 {
			continue
		}
		key := s.Namespace + "/" + name
		byService[key] = append(byService[key], s)
	}
	svcs := append([]*corev1.Service(nil), services...)
	sort.Slice(svcs, func(i, j int) bool {
		if svcs[i].Namespace != svcs[j].Namespace {
			return svcs[i].Namespace < svcs[j].Namespace
		}
		return svcs[i].Name < svcs[j].Name
	})
	for _, svc := range svcs {
		b.service(svc, byService[svc.Namespace+"/"+svc.Name])
	}
	b.finish()
	return b.rs
}

type builder struct {
	node NodeInfo
	// nodePortIPs are node.IPs NodePorts may answer on: IPv4, not
	// loopback or unspecified, deduplicated and sorted.
	nodePortIPs []netip.Addr
	rs          Ruleset
	ips         []Element // service-ips
	nodePorts   []Element // service-nodeports
	noEPIPs     []Element // no-endpoint-services
	noEPPorts   []Element // no-endpoint-nodeports
	affinity    []Set
	svcChains   []Chain
}

func rule(matches []Match, stmts ...Stmt) Rule { return Rule{Matches: matches, Stmts: stmts} }
func jump(chain string) Stmt {
	return Stmt{Kind: StmtVerdict, Verdict: Verdict{Kind: VerdictJump, Chain: chain}}
}
func gotoChain(chain string) Stmt {
	return Stmt{Kind: StmtVerdict, Verdict: Verdict{Kind: VerdictGoto, Chain: chain}}
}
func verdictStmt(k VerdictKind) Stmt { return Stmt{Kind: StmtVerdict, Verdict: Verdict{Kind: k}} }

func baseChain(name, typ, hook string, prio int32, target string) Chain {
	c := Chain{Name: name, Base: &BaseChain{Type: typ, Hook: hook, Priority: prio}}
	var m []Match
	if typ == "filter" {
		m = []Match{{Kind: MatchCtNew}}
	}
	c.Rules = []Rule{rule(m, jump(target))}
	return c
}

// skeleton adds the hook chains; the maps they consult are added by finish.
func (b *builder) skeleton() {
	b.rs.Table = TableName
	b.rs.Chains = []Chain{
		// Filter chains run before DNAT (-100) and catch new connections to
		// services that have no endpoints.
		baseChain("filter-input", "filter", "input", -110, chainEndpointsCheck),
		baseChain("filter-forward", "filter", "forward", -110, chainEndpointsCheck),
		baseChain("filter-output", "filter", "output", -110, chainEndpointsCheck),
		baseChain("nat-prerouting", "nat", "prerouting", -100, chainServices),
		baseChain("nat-output", "nat", "output", -100, chainServices),
		b.natPostrouting(),
		{Name: chainMarkMasq, Rules: []Rule{rule(nil, Stmt{Kind: StmtMarkOr, Mark: MasqueradeMark})}},
		{Name: chainMasquerading, Rules: []Rule{
			rule([]Match{{Kind: MatchMark, Negate: true, Mark: MasqueradeMark}}, verdictStmt(VerdictReturn)),
			rule(nil, Stmt{Kind: StmtMarkXor, Mark: MasqueradeMark}),
			rule(nil, Stmt{Kind: StmtMasquerade}),
		}},
		b.podEgress(),
		{Name: chainReject, Rules: []Rule{
			rule([]Match{{Kind: MatchL4Proto, Proto: ProtoTCP}}, Stmt{Kind: StmtRejectTCP}),
			rule(nil, Stmt{Kind: StmtRejectICMP}),
		}},
		{Name: chainServices, Rules: []Rule{
			rule(nil, Stmt{Kind: StmtVmap, Key: keyAddrProtoPort, Set: mapServiceIPs}),
			rule(b.nodePortMatch(), Stmt{Kind: StmtVmap, Key: keyProtoPort, Set: mapServiceNodePorts}),
		}},
		{Name: chainEndpointsCheck, Rules: []Rule{
			rule(nil, Stmt{Kind: StmtVmap, Key: keyAddrProtoPort, Set: mapNoEndpointIPs}),
			rule(b.nodePortMatch(), Stmt{Kind: StmtVmap, Key: keyProtoPort, Set: mapNoEndpointPorts}),
		}},
	}
}

// natPostrouting masquerades what the service chains marked, then pod
// egress. The pod-egress chain always exists (empty when disabled), so
// the base chain never changes and updates stay incremental.
func (b *builder) natPostrouting() Chain {
	c := baseChain("nat-postrouting", "nat", "postrouting", 100, chainMasquerading)
	c.Rules = append(c.Rules, rule(nil, jump(chainPodEgress)))
	return c
}

// podEgress masquerades pods' connections to the world outside the
// cluster: from the cluster CIDR, to neither the cluster CIDR nor
// multicast (as the bridge plugin's ipMasq), not back out the pods'
// bridge. Pod-to-pod traffic, on this node or another, keeps its source;
// traffic to the node itself never reaches postrouting. Only a
// connection's first packet passes a nat chain, so replies to
// connections made from outside (to a NodePort, say) are never caught.
// The masquerade keeps the pod's source port when it is free (as the
// bridge plugin's did): a pod reusing its own 4-tuple then reaches the
// server as the same 4-tuple, which a TIME_WAIT there accepts, where a
// random port could land on an unrelated connection's TIME_WAIT and be
// refused.
func (b *builder) podEgress() Chain {
	c := Chain{Name: chainPodEgress}
	if !b.node.MasqueradePodEgress || !b.node.ClusterCIDR.IsValid() {
		return c
	}
	m := []Match{
		{Kind: MatchSrc, Prefix: b.node.ClusterCIDR},
		{Kind: MatchDst, Negate: true, Prefix: b.node.ClusterCIDR},
		{Kind: MatchDst, Negate: true, Prefix: multicast},
	}
	if b.node.PodBridge != "" {
		m = append(m, Match{Kind: MatchOifName, Negate: true, Name: b.node.PodBridge})
	}
	c.Rules = []Rule{rule(m, Stmt{Kind: StmtMasqueradeKeepPort})}
	return c
}

func (b *builder) nodePortMatch() []Match {
	if len(b.nodePortIPs) > 0 {
		return []Match{{Kind: MatchDstInSet, Set: setNodePortIPs}}
	}
	return []Match{{Kind: MatchDstLocal}, {Kind: MatchDst, Negate: true, Prefix: loopback}}
}

// nodePortIPs keeps the addresses a NodePort can be served on. A
// loopback address would be DNATed with a 127.0.0.1 source, which the
// kernel then drops as a martian: kube-proxy's nftables mode skips it too.
func nodePortIPs(ips []netip.Addr) []netip.Addr {
	var out []netip.Addr
	seen := map[netip.Addr]bool{}
	for _, ip := range ips {
		ip = ip.Unmap()
		if !ip.Is4() || ip.IsLoopback() || ip.IsUnspecified() || seen[ip] {
			continue
		}
		seen[ip] = true
		out = append(out, ip)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Less(out[j]) })
	return out
}

func (b *builder) finish() {
	if len(b.nodePortIPs) > 0 {
		nodeIPs := make([]Element, len(b.nodePortIPs))
		for i, ip := range b.nodePortIPs {
			nodeIPs[i] = Element{Addr: ip}
		}
		b.rs.Sets = append(b.rs.Sets, Set{Name: setNodePortIPs, Key: []KeyField{KeyAddr}, Elements: nodeIPs})
	}
	b.rs.Sets = append(b.rs.Sets,
		Set{Name: mapServiceIPs, Key: keyAddrProtoPort, IsVmap: true, Elements: b.ips},
		Set{Name: mapServiceNodePorts, Key: keyProtoPort, IsVmap: true, Elements: b.nodePorts},
		Set{Name: mapNoEndpointIPs, Key: keyAddrProtoPort, IsVmap: true, Elements: b.noEPIPs},
		Set{Name: mapNoEndpointPorts, Key: keyProtoPort, IsVmap: true, Elements: b.noEPPorts},
	)
	b.rs.Sets = append(b.rs.Sets, b.affinity...)
	b.rs.Chains = append(b.rs.Chains, b.svcChains...)
}

func protocolOf(p corev1.Protocol) (Protocol, bool) {
	switch p {
	case corev1.ProtocolTCP, "":
		return ProtoTCP, true
	case corev1.ProtocolUDP:
		return ProtoUDP, true
	case corev1.ProtocolSCTP:
		return ProtoSCTP, true
	}
	return 0, false
}

// portID is kube-proxy's naming: a short hash keeps names unique and
// bounded, the readable part helps whoever reads `nft list`.
func portID(svc *corev1.Service, proto Protocol, portName string) string {
	readable := fmt.Sprintf("%s/%s/%s/%s", svc.Namespace, svc.Name, proto, portName)
	sum := sha256.Sum256([]byte(readable))
	return base32.StdEncoding.EncodeToString(sum[:])[:8] + "-" + readable
}

func (b *builder) service(svc *corev1.Service, slices []*discoveryv1.EndpointSlice) {
	if svc.Spec.Type == corev1.ServiceTypeExternalName || svc.Labels[labelServiceProxyName] != "" {
		return
	}
	clusterIP := firstIPv4(append([]string{svc.Spec.ClusterIP}, svc.Spec.ClusterIPs...))
	if !clusterIP.IsValid() {
		// Headless (None) or not IPv4: no virtual IP to program.
		return
	}
	var external []netip.Addr
	for _, s := range svc.Spec.ExternalIPs {
		if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
			external = append(external, a)
		}
	}
	if svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
		for _, ing := range svc.Status.LoadBalancer.Ingress {
			if ing.IPMode != nil && *ing.IPMode == corev1.LoadBalancerIPModeProxy {
				// The load balancer proxies to the NodePort itself: traffic
				// to its address must reach it, not be short-circuited
				// here (kube-proxy does the same).
				continue
			}
			if a, err := netip.ParseAddr(ing.IP); err == nil && a.Is4() {
				external = append(external, a)
			}
		}
	}
	affinity := time.Duration(0)
	if svc.Spec.SessionAffinity == corev1.ServiceAffinityClientIP {
		affinity = defaultAffinityLimit
		if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil && *c.ClientIP.TimeoutSeconds > 0 {
			affinity = time.Duration(*c.ClientIP.TimeoutSeconds) * time.Second
		}
	}
	internalLocal := svc.Spec.InternalTrafficPolicy != nil && *svc.Spec.InternalTrafficPolicy == corev1.ServiceInternalTrafficPolicyLocal
	externalLocal := svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
	hasNodePorts := svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer

	for _, sp := range svc.Spec.Ports {
		proto, ok := protocolOf(sp.Protocol)
		if !ok || sp.Port <= 0 {
			continue
		}
		id := portID(svc, proto, sp.Name)
		all := endpointsFor(slices, sp, b.node.Name)
		cluster := usable(all, false)
		local := usable(all, true)
		nodePort := uint16(0)
		if hasNodePorts && sp.NodePort > 0 {
			nodePort = uint16(sp.NodePort)
		}
		hasExternal := nodePort != 0 || len(external) > 0

		clusterChain := "service-" + id
		localChain := "local-" + id
		externalChain := "external-" + id
		needLocal := len(local) > 0 && (internalLocal || (externalLocal && hasExternal))

		// Endpoint chains, shared by the cluster and local dispatchers.
		epChain := map[netip.AddrPort]string{}
		for _, ep := range all {
			ap := netip.AddrPortFrom(ep.addr, ep.port)
			if _, done := epChain[ap]; done || !(contains(cluster, ep) || (needLocal && contains(local, ep))) {
				continue
			}
			name := "endpoint-" + id + "__" + apName(ap)
			epChain[ap] = name
			c := Chain{Name: name, Rules: []Rule{
				// Hairpin: a pod reaching itself through the service must see
				// the node as the source, or its reply would bypass conntrack.
				rule([]Match{{Kind: MatchSrc, Prefix: netip.PrefixFrom(ep.addr, 32)}}, jump(chainMarkMasq)),
			}}
			if !ep.local && b.node.ClusterCIDR.IsValid() {
				// The node's own connections skip the ClusterIP masquerade
				// (see dispatch) only for endpoints here; one on another
				// node may not route replies to the node's address.
				c.Rules = append(c.Rules, rule([]Match{
					{Kind: MatchSrc, Negate: true, Prefix: b.node.ClusterCIDR},
					{Kind: MatchSrcLocal},
				}, jump(chainMarkMasq)))
			}
			if affinity > 0 {
				set := affinitySet(id, ap)
				b.affinity = append(b.affinity, Set{Name: set, Key: []KeyField{KeyAddr}, Timeout: affinity})
				c.Rules = append(c.Rules, rule(nil, Stmt{Kind: StmtUpdateSrc, Set: set}))
			}
			c.Rules = append(c.Rules, rule([]Match{{Kind: MatchL4Proto, Proto: proto}}, Stmt{Kind: StmtDNAT, To: ap}))
			b.svcChains = append(b.svcChains, c)
		}
		dispatch := func(name string, eps []endpoint, masq bool) {
			c := Chain{Name: name}
			if masq && b.node.ClusterCIDR.IsValid() {
				// Clients outside the cluster CIDR are masqueraded, as in
				// kube-proxy, so replies come back through this node. The
				// node's own connections are not: a pod here replies to
				// any local address through its gateway, this node, and
				// the endpoint chains of other nodes' pods mark them
				// instead. Masquerading them would map the node's
				// connections onto the bridge address with ports the
				// conntrack table frees as soon as the client reuses its
				// own port, while the pod still holds the old 4-tuple in
				// TIME_WAIT: under a sustained connection rate the pod then
				// refuses SYNs (PAWS) and the client waits 1 s to retry.
				c.Rules = append(c.Rules, rule([]Match{
					{Kind: MatchDst, Prefix: netip.PrefixFrom(clusterIP, 32)},
					{Kind: MatchSrc, Negate: true, Prefix: b.node.ClusterCIDR},
					{Kind: MatchSrcLocal, Negate: true},
				}, jump(chainMarkMasq)))
			}
			targets := make([]Verdict, len(eps))
			for i, ep := range eps {
				ap := netip.AddrPortFrom(ep.addr, ep.port)
				targets[i] = Verdict{Kind: VerdictGoto, Chain: epChain[ap]}
				if affinity > 0 {
					c.Rules = append(c.Rules, rule([]Match{{Kind: MatchSrcInSet, Set: affinitySet(id, ap)}}, gotoChain(epChain[ap])))
				}
			}
			if len(targets) == 1 {
				c.Rules = append(c.Rules, rule(nil, gotoChain(targets[0].Chain)))
			} else {
				c.Rules = append(c.Rules, rule(nil, Stmt{Kind: StmtNumgenVmap, Targets: targets}))
			}
			b.svcChains = append(b.svcChains, c)
		}
		if len(cluster) > 0 {
			dispatch(clusterChain, cluster, true)
		}
		if needLocal {
			dispatch(localChain, local, false)
		}

		// ClusterIP.
		vip := Element{Addr: clusterIP, Proto: proto, Port: uint16(sp.Port)}
		switch {
		case len(cluster) == 0:
			vip.Verdict = Verdict{Kind: VerdictGoto, Chain: chainReject}
			b.noEPIPs = append(b.noEPIPs, vip)
		case internalLocal && len(local) == 0:
			// Endpoints exist, but none here: Kubernetes drops.
			vip.Verdict = Verdict{Kind: VerdictDrop}
			b.noEPIPs = append(b.noEPIPs, vip)
		case internalLocal:
			vip.Verdict = Verdict{Kind: VerdictGoto, Chain: localChain}
			b.ips = append(b.ips, vip)
		default:
			vip.Verdict = Verdict{Kind: VerdictGoto, Chain: clusterChain}
			b.ips = append(b.ips, vip)
		}

		// NodePort, externalIPs, LoadBalancer IPs.
		if !hasExternal {
			continue
		}
		var target Verdict
		if len(cluster) == 0 {
			target = Verdict{Kind: VerdictGoto, Chain: chainReject}
		} else {
			target = Verdict{Kind: VerdictGoto, Chain: externalChain}
			c := Chain{Name: externalChain}
			if externalLocal {
				// Pods and the node itself may use any endpoint (kube-proxy's
				// short-circuit); only outside clients are kept local, which
				// also preserves their source address.
				if b.node.ClusterCIDR.IsValid() {
					c.Rules = append(c.Rules, rule([]Match{{Kind: MatchSrc, Prefix: b.node.ClusterCIDR}}, gotoChain(clusterChain)))
				}
				c.Rules = append(c.Rules,
					rule([]Match{{Kind: MatchSrcLocal}}, jump(chainMarkMasq)),
					rule([]Match{{Kind: MatchSrcLocal}}, gotoChain(clusterChain)))
				if len(local) > 0 {
					c.Rules = append(c.Rules, rule(nil, gotoChain(localChain)))
				} else {
					c.Rules = append(c.Rules, rule(nil, verdictStmt(VerdictDrop)))
				}
			} else {
				c.Rules = append(c.Rules,
					rule(nil, jump(chainMarkMasq)),
					rule(nil, gotoChain(clusterChain)))
			}
			b.svcChains = append(b.svcChains, c)
		}
		for _, ip := range external {
			e := Element{Addr: ip, Proto: proto, Port: uint16(sp.Port), Verdict: target}
			if target.Chain == chainReject {
				b.noEPIPs = append(b.noEPIPs, e)
			} else {
				b.ips = append(b.ips, e)
			}
		}
		if nodePort != 0 {
			e := Element{Proto: proto, Port: nodePort, Verdict: target}
			if target.Chain == chainReject {
				b.noEPPorts = append(b.noEPPorts, e)
			} else {
				b.nodePorts = append(b.nodePorts, e)
			}
		}
	}
}

func affinitySet(id string, ap netip.AddrPort) string {
	return "affinity-" + id + "__" + apName(ap)
}

// apName spells an endpoint as kube-proxy does in names: nft identifiers
// may hold '/' but not ':'.
func apName(ap netip.AddrPort) string { return fmt.Sprintf("%s/%d", ap.Addr(), ap.Port()) }

func firstIPv4(ips []string) netip.Addr {
	for _, s := range ips {
		if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
			return a
		}
	}
	return netip.Addr{}
}

func contains(eps []endpoint, ep endpoint) bool {
	for _, e := range eps {
		if e.addr == ep.addr && e.port == ep.port {
			return true
		}
	}
	return false
}

// endpointsFor collects the IPv4 endpoints of one service port, one per
// address:port (the most ready copy wins), sorted.
func endpointsFor(slices []*discoveryv1.EndpointSlice, sp corev1.ServicePort, nodeName string) []endpoint {
	byAP := map[netip.AddrPort]endpoint{}
	for _, s := range slices {
		port := uint16(0)
		for _, p := range s.Ports {
			name := ""
			if p.Name != nil {
				name = *p.Name
			}
			proto := corev1.ProtocolTCP
			if p.Protocol != nil {
				proto = *p.Protocol
			}
			spProto := sp.Protocol
			if spProto == "" {
				spProto = corev1.ProtocolTCP
			}
			if name == sp.Name && proto == spProto && p.Port != nil && *p.Port > 0 && *p.Port < 65536 {
				port = uint16(*p.Port)
			}
		}
		if port == 0 {
			continue
		}
		for _, e := range s.Endpoints {
			if len(e.Addresses) == 0 {
				continue
			}
			addr, err := netip.ParseAddr(e.Addresses[0])
			if err != nil || !addr.Is4() {
				continue
			}
			ep := endpoint{addr: addr, port: port}
			// Nil conditions mean ready, serving = ready, not terminating.
			ep.ready = e.Conditions.Ready == nil || *e.Conditions.Ready
			ep.serving = ep.ready
			if e.Conditions.Serving != nil {
				ep.serving = *e.Conditions.Serving
			}
			ep.terminating = e.Conditions.Terminating != nil && *e.Conditions.Terminating
			ep.local = e.NodeName != nil && *e.NodeName == nodeName && nodeName != ""
			ap := netip.AddrPortFrom(addr, port)
			if old, ok := byAP[ap]; ok && (old.ready || !ep.ready && old.serving) {
				continue
			}
			byAP[ap] = ep
		}
	}
	out := make([]endpoint, 0, len(byAP))
	for _, ep := range byAP {
		out = append(out, ep)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := netip.AddrPortFrom(out[i].addr, out[i].port), netip.AddrPortFrom(out[j].addr, out[j].port)
		return a.Compare(b) < 0
	})
	return out
}

// usable picks the endpoints traffic may go to: the ready ones, or, if
// none is ready, those still serving while terminating (Kubernetes'
// graceful termination fallback). onlyLocal restricts to this node first.
func usable(all []endpoint, onlyLocal bool) []endpoint {
	var ready, terminating []endpoint
	for _, ep := range all {
		if onlyLocal && !ep.local {
			continue
		}
		switch {
		case ep.ready:
			ready = append(ready, ep)
		case ep.serving && ep.terminating:
			terminating = append(terminating, ep)
		}
	}
	if len(ready) > 0 {
		return ready
	}
	return terminating
}
