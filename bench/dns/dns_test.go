// Package dnsbench load-tests the cluster DNS server (internal/dns) over
// UDP: BenchmarkServiceQueries sends A queries for random service names
// from the synthetic cluster that bench/dns/server serves, keeping a window
// of queries in flight per socket, and reports answered queries per second.
// bench/dns/run.sh runs it against a server pinned to one core.
package dnsbench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkServiceQueries needs DNS_BENCH_ADDR (host:port of a running
// bench/dns/server). DNS_BENCH_SERVICES (1000) sets the names asked,
// DNS_BENCH_SOCKETS (4) and DNS_BENCH_WINDOW (16) the load shape.
func BenchmarkServiceQueries(b *testing.B) {
	addr := os.Getenv("DNS_BENCH_ADDR")
	if addr == "" {
		b.Skip("DNS_BENCH_ADDR is not set; run bench/dns/run.sh")
	}
	services := envInt("DNS_BENCH_SERVICES", 1000)
	sockets := envInt("DNS_BENCH_SOCKETS", 4)
	window := envInt("DNS_BENCH_WINDOW", 16)

	// Pre-packed queries: the client should cost as little as possible.
	queries := make([][]byte, services)
	for i := range queries {
		m := new(mdns.Msg)
		m.SetQuestion(fmt.Sprintf("svc%d.ns%d.svc.cluster.local.", i, i%10), mdns.TypeA)
		wire, err := m.Pack()
		if err != nil {
			b.Fatal(err)
		}
		queries[i] = wire
	}

	var answered, lost, bad atomic.Int64
	var next atomic.Int64
	total := int64(b.N)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for s := 0; s < sockets; s++ {
		conn, err := net.Dial("udp", addr)
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func(conn net.Conn, seed uint64) {
			defer wg.Done()
			defer conn.Close()
			rng := rand.New(rand.NewPCG(seed, 1))
			buf := make([]byte, 1500)
			out := make([]byte, 512)
			var id uint16
			for {
				n := int64(window)
				got := next.Add(n)
				if got-n >= total {
					return
				}
				if got > total {
					n -= got - total
				}
				for i := int64(0); i < n; i++ {
					q := queries[rng.IntN(len(queries))]
					id++
					out = append(out[:0], q...)
					binary.BigEndian.PutUint16(out, id)
					if _, err := conn.Write(out); err != nil {
						bad.Add(1)
					}
				}
				_ = conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
				for i := int64(0); i < n; i++ {
					m, err := conn.Read(buf)
					if err != nil {
						var ne net.Error
						if errors.As(err, &ne) && ne.Timeout() {
							lost.Add(n - i)
							break
						}
						bad.Add(1)
						continue
					}
					// NOERROR with one answer: flags low nibble is the rcode.
					if m < 12 || buf[3]&0x0f != 0 || binary.BigEndian.Uint16(buf[6:]) != 1 {
						bad.Add(1)
						continue
					}
					answered.Add(1)
				}
			}
		}(conn, uint64(s)+1)
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(answered.Load())/elapsed.Seconds(), "queries/s")
	b.ReportMetric(float64(lost.Load()), "lost")
	b.ReportMetric(float64(bad.Load()), "bad")
	if bad.Load() > 0 {
		b.Errorf("%d bad answers", bad.Load())
	}
}
