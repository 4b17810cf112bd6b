package dns

import (
	"fmt"
	"net"
	"net/netip"

	mdns "github.com/miekg/dns"
)

// UpstreamsFromResolvConf reads the nameservers of a resolv.conf file as
// "ip:port" upstreams, leaving out any that would point back at the
// cluster DNS itself: self lists its addresses ("ip" meaning port 53, or
// "ip:port"); an unspecified self address (0.0.0.0, ::) also excludes
// loopback nameservers on that port. Forwarding to ourselves would loop.
func UpstreamsFromResolvConf(path string, self ...string) ([]string, error) {
	cc, err := mdns.ClientConfigFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("read resolv.conf %s: %w", path, err)
	}
	port := cc.Port
	if port == "" {
		port = "53"
	}
	var selves []netip.AddrPort
	for _, s := range self {
		hp, err := normalizeHostPort(s)
		if err != nil {
			return nil, fmt.Errorf("cluster DNS address %q: %w", s, err)
		}
		ap, err := netip.ParseAddrPort(hp)
		if err != nil {
			return nil, fmt.Errorf("cluster DNS address %q: %w", s, err)
		}
		selves = append(selves, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
	}
	var out []string
	for _, ns := range cc.Servers {
		hp := net.JoinHostPort(ns, port)
		ap, err := netip.ParseAddrPort(hp)
		if err != nil {
			// A nameserver line we cannot parse is one glibc ignores too.
			continue
		}
		ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		if pointsAt(ap, selves) {
			continue
		}
		out = append(out, ap.String())
	}
	return out, nil
}

func pointsAt(ns netip.AddrPort, selves []netip.AddrPort) bool {
	for _, s := range selves {
		if s.Port() != ns.Port() {
			continue
		}
		if s.Addr() == ns.Addr() || s.Addr().IsUnspecified() && (ns.Addr().IsLoopback() || ns.Addr().IsUnspecified()) {
			return true
		}
	}
	return false
}
