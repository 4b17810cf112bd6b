package dns

import (
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

const (
	// DefaultDomain is the cluster domain when none is configured.
	DefaultDomain = "cluster.local"
	// DefaultTTL is the TTL, in seconds, of cluster answers.
	DefaultTTL = 5
	// SchemaVersion is the version of the Kubernetes DNS specification
	// implemented, served as the TXT record of dns-version.<domain>.
	SchemaVersion = "1.1.0"
)

// Options shape an index.
type Options struct {
	// Domain is the cluster domain (default cluster.local).
	Domain string
	// TTL is the TTL in seconds of every cluster answer, including the
	// SOA's negative-caching TTL (default 5).
	TTL uint32
	// Serial is the SOA serial (default 1); the server bumps it on every
	// rebuild so caches can tell indexes apart.
	Serial uint32
}

// Records is an immutable index of the cluster's DNS names. It is safe for
// concurrent use; a change in the cluster builds a new Records.
type Records struct {
	domain    string // lower-case FQDN, "cluster.local."
	suffix    string // "." + domain
	podSuffix string // ".pod." + domain
	soa       []mdns.RR
	names     map[string]*node // lower-case FQDN -> records owned by it
}

// node holds every record owned by one name. A node with no records is an
// existing name without data (an empty non-terminal, or a service without
// addresses), which answers NODATA rather than NXDOMAIN. Slices are clipped
// so that appending to an answer never writes into the shared index.
type node struct {
	a, aaaa, srv, srvExtra, ptr, txt, cname, soa []mdns.RR
}

// Domain returns the cluster domain as a lower-case FQDN.
func (r *Records) Domain() string { return r.domain }

// Len returns how many names the index holds (for logs and metrics).
func (r *Records) Len() int { return len(r.names) }

// srvTarget is one SRV record before weights are known.
type srvTarget struct {
	target string
	port   uint16
}

type builder struct {
	r    *Records
	ttl  uint32
	seen map[string]struct{}
	srvs map[string][]srvTarget // owner -> targets
	// addrs lists the A/AAAA records of names usable as SRV targets.
	addrs map[string][]mdns.RR
}

// Build indexes services and their EndpointSlices (matched through the
// kubernetes.io/service-name label) as the Kubernetes DNS specification
// describes. Objects it cannot use are skipped; it never fails.
func Build(opts Options, services []*corev1.Service, endpointSlices []*discoveryv1.EndpointSlice) *Records {
	domain := strings.ToLower(strings.Trim(opts.Domain, "."))
	if domain == "" {
		domain = DefaultDomain
	}
	domain += "."
	ttl := opts.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	serial := opts.Serial
	if serial == 0 {
		serial = 1
	}
	r := &Records{
		domain:    domain,
		suffix:    "." + domain,
		podSuffix: ".pod." + domain,
		names:     make(map[string]*node, 4*len(services)+8),
	}
	soa := &mdns.SOA{
		Hdr:     mdns.RR_Header{Name: domain, Rrtype: mdns.TypeSOA, Class: mdns.ClassINET, Ttl: ttl},
		Ns:      "ns.dns." + domain,
		Mbox:    "hostmaster." + domain,
		Serial:  serial,
		Refresh: 7200,
		Retry:   1800,
		Expire:  86400,
		Minttl:  ttl,
	}
	r.soa = []mdns.RR{soa}
	b := &builder{r: r, ttl: ttl, seen: map[string]struct{}{}, srvs: map[string][]srvTarget{}, addrs: map[string][]mdns.RR{}}
	b.node(domain).soa = r.soa
	b.node("svc." + domain)
	b.node("pod." + domain)
	b.add("dns-version."+domain, &mdns.TXT{Hdr: b.hdr("dns-version."+domain, mdns.TypeTXT), Txt: []string{SchemaVersion}}, SchemaVersion)

	bySvc := map[string][]*discoveryv1.EndpointSlice{}
	for _, es := range endpointSlices {
		if es == nil {
			continue
		}
		name := es.Labels[discoveryv1.LabelServiceName]
		if name == "" {
			continue
		}
		key := es.Namespace + "/" + name
		bySvc[key] = append(bySvc[key], es)
	}

	sorted := slices.Clone(services)
	sorted = slices.DeleteFunc(sorted, func(s *corev1.Service) bool { return s == nil || s.Name == "" || s.Namespace == "" })
	sort.Slice(sorted, func(i, j int) bool {
		if sorted[i].Namespace != sorted[j].Namespace {
			return sorted[i].Namespace < sorted[j].Namespace
		}
		return sorted[i].Name < sorted[j].Name
	})
	for _, svc := range sorted {
		b.service(svc, bySvc[svc.Namespace+"/"+svc.Name])
	}
	b.finish()
	return r
}

func (b *builder) hdr(name string, t uint16) mdns.RR_Header {
	return mdns.RR_Header{Name: name, Rrtype: t, Class: mdns.ClassINET, Ttl: b.ttl}
}

// node returns name's node, creating it and, for names in the cluster
// domain, every ancestor up to the domain as empty non-terminals.
func (b *builder) node(name string) *node {
	if n, ok := b.r.names[name]; ok {
		return n
	}
	n := &node{}
	b.r.names[name] = n
	if strings.HasSuffix(name, b.r.suffix) {
		if i := strings.IndexByte(name, '.'); i >= 0 {
			b.node(name[i+1:])
		}
	}
	return n
}

// add files rr under name once; val identifies its data.
func (b *builder) add(name string, rr mdns.RR, val string) {
	key := name + " " + mdns.TypeToString[rr.Header().Rrtype] + " " + val
	if _, dup := b.seen[key]; dup {
		return
	}
	b.seen[key] = struct{}{}
	n := b.node(name)
	switch rr.Header().Rrtype {
	case mdns.TypeA:
		n.a = append(n.a, rr)
		b.addrs[name] = append(b.addrs[name], rr)
	case mdns.TypeAAAA:
		n.aaaa = append(n.aaaa, rr)
		b.addrs[name] = append(b.addrs[name], rr)
	case mdns.TypePTR:
		n.ptr = append(n.ptr, rr)
	case mdns.TypeTXT:
		n.txt = append(n.txt, rr)
	case mdns.TypeCNAME:
		n.cname = append(n.cname, rr)
	}
}

func (b *builder) addIP(name string, ip netip.Addr) {
	if ip.Is4() {
		b.add(name, &mdns.A{Hdr: b.hdr(name, mdns.TypeA), A: ip.AsSlice()}, ip.String())
	} else {
		b.add(name, &mdns.AAAA{Hdr: b.hdr(name, mdns.TypeAAAA), AAAA: ip.AsSlice()}, ip.String())
	}
}

func (b *builder) addPTR(ip netip.Addr, target string) {
	rev, err := mdns.ReverseAddr(ip.String())
	if err != nil {
		return
	}
	// Reverse names are not in the cluster domain: no ancestors.
	b.add(rev, &mdns.PTR{Hdr: b.hdr(rev, mdns.TypePTR), Ptr: target}, target)
}

func (b *builder) addSRV(port discoveryPort, base, target string) {
	owner := "_" + port.name + "._" + port.proto + "." + base
	b.node(owner)
	key := "srv " + owner + " " + target + " " + strconv.Itoa(int(port.port))
	if _, dup := b.seen[key]; dup {
		return
	}
	b.seen[key] = struct{}{}
	b.srvs[owner] = append(b.srvs[owner], srvTarget{target: target, port: port.port})
}

type discoveryPort struct {
	name, proto string
	port        uint16
}

func (b *builder) service(svc *corev1.Service, endpointSlices []*discoveryv1.EndpointSlice) {
	base := strings.ToLower(svc.Name + "." + svc.Namespace + ".svc." + b.r.domain)
	b.node(base)
	switch {
	case svc.Spec.Type == corev1.ServiceTypeExternalName:
		if svc.Spec.ExternalName == "" {
			return
		}
		target := mdns.Fqdn(strings.ToLower(svc.Spec.ExternalName))
		if _, ok := mdns.IsDomainName(target); !ok {
			return
		}
		b.add(base, &mdns.CNAME{Hdr: b.hdr(base, mdns.TypeCNAME), Target: target}, target)
	case svc.Spec.ClusterIP == corev1.ClusterIPNone:
		b.headless(svc, base, endpointSlices)
	default:
		ips := svc.Spec.ClusterIPs
		if len(ips) == 0 && svc.Spec.ClusterIP != "" {
			ips = []string{svc.Spec.ClusterIP}
		}
		var hasIP bool
		for _, s := range ips {
			ip, err := netip.ParseAddr(s)
			if err != nil {
				continue
			}
			ip = ip.Unmap()
			hasIP = true
			b.addIP(base, ip)
			b.addPTR(ip, base)
		}
		if !hasIP {
			return
		}
		for _, p := range svc.Spec.Ports {
			if p.Name == "" || p.Port <= 0 || p.Port > 65535 {
				continue
			}
			b.addSRV(discoveryPort{name: strings.ToLower(p.Name), proto: protoLabel(p.Protocol), port: uint16(p.Port)}, base, base)
		}
	}
}

func (b *builder) headless(svc *corev1.Service, base string, endpointSlices []*discoveryv1.EndpointSlice) {
	// Deterministic output whatever order the informer lists slices in.
	endpointSlices = slices.Clone(endpointSlices)
	sort.Slice(endpointSlices, func(i, j int) bool { return endpointSlices[i].Name < endpointSlices[j].Name })
	for _, es := range endpointSlices {
		if es.AddressType != discoveryv1.AddressTypeIPv4 && es.AddressType != discoveryv1.AddressTypeIPv6 {
			continue
		}
		var ports []discoveryPort
		for _, p := range es.Ports {
			if p.Name == nil || *p.Name == "" || p.Port == nil || *p.Port <= 0 || *p.Port > 65535 {
				continue
			}
			proto := corev1.ProtocolTCP
			if p.Protocol != nil {
				proto = *p.Protocol
			}
			ports = append(ports, discoveryPort{name: strings.ToLower(*p.Name), proto: protoLabel(proto), port: uint16(*p.Port)})
		}
		for _, ep := range es.Endpoints {
			ready := ep.Conditions.Ready == nil || *ep.Conditions.Ready
			if !ready && !svc.Spec.PublishNotReadyAddresses {
				continue
			}
			hostname := ""
			if ep.Hostname != nil {
				if h := strings.ToLower(*ep.Hostname); validLabel(h) {
					hostname = h
				}
			}
			for _, s := range ep.Addresses {
				ip, err := netip.ParseAddr(s)
				if err != nil {
					continue
				}
				ip = ip.Unmap()
				b.addIP(base, ip)
				var target string
				if hostname != "" {
					target = hostname + "." + base
					b.addPTR(ip, target)
				} else {
					target = dashed(ip) + "." + base
				}
				b.addIP(target, ip)
				for _, p := range ports {
					b.addSRV(p, base, target)
				}
			}
		}
	}
}

// finish materialises SRV records (weights depend on how many share an
// owner), sorts every record set and clips the slices.
func (b *builder) finish() {
	for owner, targets := range b.srvs {
		sort.Slice(targets, func(i, j int) bool {
			if targets[i].target != targets[j].target {
				return targets[i].target < targets[j].target
			}
			return targets[i].port < targets[j].port
		})
		weight := uint16(100 / len(targets))
		if weight == 0 {
			weight = 1
		}
		n := b.r.names[owner]
		extraSeen := map[string]bool{}
		for _, t := range targets {
			n.srv = append(n.srv, &mdns.SRV{Hdr: b.hdr(owner, mdns.TypeSRV), Priority: 0, Weight: weight, Port: t.port, Target: t.target})
			if !extraSeen[t.target] {
				extraSeen[t.target] = true
				n.srvExtra = append(n.srvExtra, b.addrs[t.target]...)
			}
		}
	}
	for _, n := range b.r.names {
		for _, set := range []*[]mdns.RR{&n.a, &n.aaaa, &n.srv, &n.srvExtra, &n.ptr, &n.txt, &n.cname} {
			if *set == nil {
				continue
			}
			if len(*set) > 1 && set != &n.srv && set != &n.srvExtra {
				sort.Slice(*set, func(i, j int) bool { return (*set)[i].String() < (*set)[j].String() })
			}
			*set = slices.Clip(*set)
		}
	}
}

func protoLabel(p corev1.Protocol) string {
	if p == "" {
		return "tcp"
	}
	return strings.ToLower(string(p))
}

// dashed writes an address as one DNS label: 10-0-0-1, fd00--1.
func dashed(ip netip.Addr) string {
	if ip.Is4() {
		return strings.ReplaceAll(ip.String(), ".", "-")
	}
	return strings.ReplaceAll(ip.String(), ":", "-")
}

func validLabel(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return s[0] != '-' && s[len(s)-1] != '-'
}

// Answer answers req from the index. It returns false, and no message,
// for questions outside the cluster domain that the index does not hold
// (they are for the upstream resolvers); malformed requests (responses,
// not exactly one question) get FORMERR and other opcodes NOTIMP. A CNAME answer is not chased: the
// caller resolves its target. Answer never modifies req and the returned
// message shares records with the index: callers must not modify them.
func (r *Records) Answer(req *mdns.Msg) (*mdns.Msg, bool) {
	if req == nil {
		return nil, false
	}
	resp := new(mdns.Msg)
	resp.SetReply(req)
	resp.Authoritative = true
	resp.RecursionAvailable = true
	if req.Response {
		// Never forward (or otherwise act on) a response.
		resp.Rcode = mdns.RcodeFormatError
		resp.Authoritative = false
		return resp, true
	}
	if req.Opcode != mdns.OpcodeQuery {
		resp.Rcode = mdns.RcodeNotImplemented
		resp.Authoritative = false
		return resp, true
	}
	if len(req.Question) != 1 {
		resp.Rcode = mdns.RcodeFormatError
		resp.Authoritative = false
		return resp, true
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	inZone := name == r.domain || strings.HasSuffix(name, r.suffix)
	n := r.names[name]
	if !inZone {
		if n == nil {
			return nil, false
		}
	}
	if q.Qclass != mdns.ClassINET && q.Qclass != mdns.ClassANY {
		resp.Rcode = mdns.RcodeRefused
		resp.Authoritative = false
		return resp, true
	}
	if n == nil {
		if rrs, exists := r.pod(name, q.Qtype); exists {
			resp.Answer = withOwner(rrs, q.Name, name)
			if len(resp.Answer) == 0 {
				resp.Ns = r.soa
			}
			return resp, true
		}
		resp.Rcode = mdns.RcodeNameError
		resp.Ns = r.soa
		return resp, true
	}
	var ans, extra []mdns.RR
	switch {
	case n.cname != nil:
		ans = n.cname
	case q.Qtype == mdns.TypeA:
		ans = n.a
	case q.Qtype == mdns.TypeAAAA:
		ans = n.aaaa
	case q.Qtype == mdns.TypeSRV:
		ans, extra = n.srv, n.srvExtra
	case q.Qtype == mdns.TypePTR:
		ans = n.ptr
	case q.Qtype == mdns.TypeTXT:
		ans = n.txt
	case q.Qtype == mdns.TypeSOA:
		ans = n.soa
	case q.Qtype == mdns.TypeANY:
		ans = slices.Concat(n.a, n.aaaa, n.srv, n.ptr, n.txt, n.soa)
	}
	resp.Answer = withOwner(ans, q.Name, name)
	resp.Extra = extra
	if len(resp.Answer) == 0 {
		resp.Ns = r.soa
	}
	return resp, true
}

// withOwner returns rrs owned by the name exactly as the client spelled
// it (case and all), copying only when the spelling differs.
func withOwner(rrs []mdns.RR, asked, canonical string) []mdns.RR {
	if asked == canonical || len(rrs) == 0 {
		return rrs
	}
	out := make([]mdns.RR, len(rrs))
	for i, rr := range rrs {
		c := mdns.Copy(rr)
		c.Header().Name = asked
		out[i] = c
	}
	return out
}

// pod answers <dashed-ip>.<namespace>.pod.<domain>. The specification
// lets the answer skip checking that such a pod exists. exists is false
// for names that cannot be pod names (NXDOMAIN).
func (r *Records) pod(name string, qtype uint16) (rrs []mdns.RR, exists bool) {
	if !strings.HasSuffix(name, r.podSuffix) {
		return nil, false
	}
	rest := name[:len(name)-len(r.podSuffix)]
	dot := strings.LastIndexByte(rest, '.')
	if dot < 0 {
		// <namespace>.pod.<domain>: an empty non-terminal.
		return nil, validLabel(rest)
	}
	label, ns := rest[:dot], rest[dot+1:]
	if !validLabel(ns) || strings.IndexByte(label, '.') >= 0 {
		return nil, false
	}
	var ip netip.Addr
	if strings.Count(label, "-") == 3 {
		ip, _ = netip.ParseAddr(strings.ReplaceAll(label, "-", "."))
	}
	if !ip.Is4() {
		v6, err := netip.ParseAddr(strings.ReplaceAll(label, "-", ":"))
		if err != nil || !v6.Is6() || v6.Is4In6() || v6.Zone() != "" {
			return nil, false
		}
		ip = v6
	}
	hdr := mdns.RR_Header{Name: name, Class: mdns.ClassINET, Ttl: r.soa[0].Header().Ttl}
	switch {
	case ip.Is4() && (qtype == mdns.TypeA || qtype == mdns.TypeANY):
		hdr.Rrtype = mdns.TypeA
		return []mdns.RR{&mdns.A{Hdr: hdr, A: ip.AsSlice()}}, true
	case ip.Is6() && (qtype == mdns.TypeAAAA || qtype == mdns.TypeANY):
		hdr.Rrtype = mdns.TypeAAAA
		return []mdns.RR{&mdns.AAAA{Hdr: hdr, AAAA: ip.AsSlice()}}, true
	}
	return nil, true
}
