// Package dns owns Gureum's cluster DNS: it answers the names of the
// Kubernetes DNS-based service discovery specification (services, headless
// endpoints, SRV ports, ExternalName CNAMEs, reverse PTRs, pod names and
// dns-version) for the cluster domain, and forwards every other name to
// upstream resolvers.
//
// The record index (Records, Build, Records.Answer) is pure: it turns
// Services and EndpointSlices into an immutable lookup table and answers a
// question from it without I/O. Server is the thin side-effecting part: it
// watches Services and EndpointSlices through client-go informers, swaps in
// a freshly built index after changes, serves UDP and TCP, and forwards.
//
// Only internal/node (wiring), benchmarks and tests import it.
package dns
