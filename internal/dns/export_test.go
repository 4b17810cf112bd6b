package dns

import (
	"testing"

	mdns "github.com/miekg/dns"
)

// Helpers for the external test package (dns_test), whose integration
// test needs internal/testenv: that package imports internal/node, which
// imports this one, so it cannot be imported from package dns itself.

// StartUpstream runs a fake upstream resolver and returns its address.
func StartUpstream(t *testing.T) string { return startUpstream(t).addr }

// StartServer runs a Server until the test ends, once ready.
func StartServer(t *testing.T, cfg Config) *Server { return startServer(t, cfg) }

// Ask sends one query.
func Ask(t *testing.T, network, addr, name string, qtype uint16, edns uint16) *mdns.Msg {
	return ask(t, network, addr, name, qtype, edns)
}

// Values are the answers' data, one string each.
func Values(m *mdns.Msg) []string { return values(m) }

// Eventually polls check until it holds.
func Eventually(t *testing.T, desc string, check func() (bool, string)) { eventually(t, desc, check) }
