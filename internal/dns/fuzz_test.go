package dns

import (
	"testing"

	mdns "github.com/miekg/dns"
)

// FuzzAnswer feeds arbitrary bytes, as a client could send them, through
// the query path: decoding, the index lookup, truncation and encoding.
func FuzzAnswer(f *testing.F) {
	svcs, slices := fixture()
	recs := Build(Options{}, svcs, slices)
	for _, q := range goldenQueries {
		m := newQuery(q)
		if wire, err := m.Pack(); err == nil {
			f.Add(wire)
		}
		m.SetEdns0(4096, true)
		if wire, err := m.Pack(); err == nil {
			f.Add(wire)
		}
	}
	f.Add([]byte{})
	f.Add(make([]byte, 12))
	f.Fuzz(func(t *testing.T, data []byte) {
		var req mdns.Msg
		if err := req.Unpack(data); err != nil {
			return
		}
		resp, ok := recs.Answer(&req)
		if !ok {
			return
		}
		if resp.Id != req.Id || !resp.Response {
			t.Fatalf("reply does not match the request: %v", resp)
		}
		for _, size := range []int{mdns.MinMsgSize, mdns.MaxMsgSize} {
			resp.Truncate(size)
			wire, err := resp.Pack()
			if err != nil {
				// Names the client sent may be unpackable (too long once
				// echoed); that is an error to report, not a crash.
				continue
			}
			if len(wire) > size {
				t.Fatalf("packed %d bytes, above the %d limit", len(wire), size)
			}
		}
	})
}
