package dns

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
)

// fakeUpstream is a tiny authoritative server standing in for the
// resolvers outside the cluster.
type fakeUpstream struct {
	addr       string
	udpQueries atomic.Int32
	tcpQueries atomic.Int32
}

func startUpstream(t *testing.T) *fakeUpstream {
	t.Helper()
	u := &fakeUpstream{}
	pc, ln, err := listenBoth("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u.addr = pc.LocalAddr().String()
	handler := mdns.HandlerFunc(func(w mdns.ResponseWriter, req *mdns.Msg) {
		_, udp := w.RemoteAddr().(*net.UDPAddr)
		if udp {
			u.udpQueries.Add(1)
		} else {
			u.tcpQueries.Add(1)
		}
		m := new(mdns.Msg)
		m.SetReply(req)
		q := req.Question[0]
		hdr := mdns.RR_Header{Name: q.Name, Rrtype: q.Qtype, Class: mdns.ClassINET, Ttl: 60}
		switch {
		case q.Name == "www.example." && q.Qtype == mdns.TypeA:
			m.Answer = append(m.Answer, &mdns.A{Hdr: hdr, A: net.ParseIP("192.0.2.1")})
		case q.Name == "big.example." && q.Qtype == mdns.TypeTXT:
			for i := 0; i < 60; i++ {
				m.Answer = append(m.Answer, &mdns.TXT{Hdr: hdr, Txt: []string{fmt.Sprintf("%02d-%s", i, strings.Repeat("x", 47))}})
			}
		case q.Name == "broken.example.":
			m.Rcode = mdns.RcodeServerFailure
		default:
			m.Rcode = mdns.RcodeNameError
		}
		if opt := req.IsEdns0(); opt != nil {
			m.SetEdns0(opt.UDPSize(), false)
		}
		size := mdns.MaxMsgSize
		if udp {
			// Like a conservative server, whatever EDNS0 offers: large
			// answers need the TCP retry.
			size = mdns.MinMsgSize
		}
		m.Truncate(size)
		_ = w.WriteMsg(m)
	})
	udp := &mdns.Server{PacketConn: pc, Handler: handler}
	tcp := &mdns.Server{Listener: ln, Handler: handler}
	started := make(chan struct{}, 2)
	udp.NotifyStartedFunc = func() { started <- struct{}{} }
	tcp.NotifyStartedFunc = func() { started <- struct{}{} }
	go func() { _ = udp.ActivateAndServe() }()
	go func() { _ = tcp.ActivateAndServe() }()
	<-started
	<-started
	t.Cleanup(func() { _ = udp.Shutdown(); _ = tcp.Shutdown() })
	return u
}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("GUREUM_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// startServer runs a Server until the test ends and waits for readiness.
func startServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Log == nil {
		cfg.Log = testLogger(t)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-s.Ready():
	case err := <-done:
		t.Fatalf("server exited before ready: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("server not ready after 30s")
	}
	return s
}

func ask(t *testing.T, network, addr, name string, qtype uint16, edns uint16) *mdns.Msg {
	t.Helper()
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	if edns > 0 {
		m.SetEdns0(edns, false)
	}
	c := &mdns.Client{Net: network, Timeout: 5 * time.Second, UDPSize: max(edns, mdns.MinMsgSize)}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %s %s: %v", network, name, mdns.TypeToString[qtype], err)
	}
	return r
}

// wireLen is the compressed size the message had on the wire.
func wireLen(m *mdns.Msg) int {
	m.Compress = true
	return m.Len()
}

func values(m *mdns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		f := strings.Fields(rr.String())
		out = append(out, strings.Join(f[3:], " "))
	}
	return out
}

// eventually polls a DNS answer until it matches: the index follows the
// API server asynchronously, like any informer-driven component.
func eventually(t *testing.T, desc string, check func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok, got := check()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %s", desc, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func fakeClient(objs ...runtime.Object) kubernetes.Interface {
	return fake.NewClientset(objs...)
}

func TestForwarding(t *testing.T) {
	upstream := startUpstream(t)
	s := startServer(t, Config{Client: fakeClient(), Upstreams: []string{upstream.addr}})
	addr := s.Addr()

	t.Run("answer", func(t *testing.T) {
		for _, network := range []string{"udp", "tcp"} {
			r := ask(t, network, addr, "www.example.", mdns.TypeA, 0)
			if got := values(r); !slices.Equal(got, []string{"A 192.0.2.1"}) || r.Rcode != mdns.RcodeSuccess {
				t.Errorf("%s: %v", network, r)
			}
		}
	})
	t.Run("nxdomain passes through", func(t *testing.T) {
		r := ask(t, "udp", addr, "nothing.example.", mdns.TypeA, 0)
		if r.Rcode != mdns.RcodeNameError {
			t.Errorf("rcode %s", mdns.RcodeToString[r.Rcode])
		}
	})
	t.Run("truncated upstream answer is retried over TCP", func(t *testing.T) {
		before := upstream.tcpQueries.Load()
		r := ask(t, "udp", addr, "big.example.", mdns.TypeTXT, 4096)
		if len(r.Answer) != 60 || r.Truncated {
			t.Fatalf("got %d answers (tc=%v), want all 60 over EDNS0 4096", len(r.Answer), r.Truncated)
		}
		if upstream.tcpQueries.Load() == before {
			t.Errorf("upstream saw no TCP retry")
		}
		if r.IsEdns0() == nil {
			t.Errorf("EDNS0 client got no OPT record")
		}
	})
	t.Run("large answer to a plain UDP client is truncated", func(t *testing.T) {
		r := ask(t, "udp", addr, "big.example.", mdns.TypeTXT, 0)
		if !r.Truncated || wireLen(r) > mdns.MinMsgSize {
			t.Errorf("tc=%v len=%d, want TC set and at most 512 bytes", r.Truncated, wireLen(r))
		}
		if r.IsEdns0() != nil {
			t.Errorf("client without EDNS0 got an OPT record")
		}
		r = ask(t, "tcp", addr, "big.example.", mdns.TypeTXT, 0)
		if len(r.Answer) != 60 || r.Truncated {
			t.Errorf("tcp: %d answers tc=%v", len(r.Answer), r.Truncated)
		}
	})
	t.Run("upstream SERVFAIL", func(t *testing.T) {
		r := ask(t, "udp", addr, "broken.example.", mdns.TypeA, 0)
		if r.Rcode != mdns.RcodeServerFailure {
			t.Errorf("rcode %s", mdns.RcodeToString[r.Rcode])
		}
	})
}

func TestForwardingFallsBackAndFails(t *testing.T) {
	upstream := startUpstream(t)
	// A port nobody listens on: UDP gets "connection refused" at once.
	dead := deadUDPAddr(t)
	s := startServer(t, Config{Client: fakeClient(), Upstreams: []string{dead, upstream.addr}, ForwardTimeout: time.Second})
	r := ask(t, "udp", s.Addr(), "www.example.", mdns.TypeA, 0)
	if got := values(r); !slices.Equal(got, []string{"A 192.0.2.1"}) {
		t.Errorf("fallback to the second upstream: %v", r)
	}

	lone := startServer(t, Config{Client: fakeClient(), Upstreams: []string{dead}, ForwardTimeout: time.Second})
	r = ask(t, "udp", lone.Addr(), "www.example.", mdns.TypeA, 0)
	if r.Rcode != mdns.RcodeServerFailure {
		t.Errorf("dead upstream: rcode %s, want SERVFAIL", mdns.RcodeToString[r.Rcode])
	}
	none := startServer(t, Config{Client: fakeClient()})
	r = ask(t, "tcp", none.Addr(), "www.example.", mdns.TypeA, 0)
	if r.Rcode != mdns.RcodeServerFailure {
		t.Errorf("no upstream: rcode %s, want SERVFAIL", mdns.RcodeToString[r.Rcode])
	}
}

func deadUDPAddr(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	_ = pc.Close()
	return addr
}

func TestClusterAnswerTruncation(t *testing.T) {
	svc := headlessService("big", "many", false)
	var eps []testEndpoint
	for i := 0; i < 100; i++ {
		eps = append(eps, testEndpoint{addr: fmt.Sprintf("10.2.%d.%d", i/250, i%250+1)})
	}
	es := slice("big", "many", "many-1", discoveryv1.AddressTypeIPv4, nil, eps...)
	s := startServer(t, Config{Client: fakeClient(svc, es), Domain: "example.internal", TTL: 30 * time.Second})
	name := "many.big.svc.example.internal."

	r := ask(t, "udp", s.Addr(), name, mdns.TypeA, 0)
	if !r.Truncated || wireLen(r) > mdns.MinMsgSize {
		t.Errorf("plain UDP: tc=%v len=%d", r.Truncated, wireLen(r))
	}
	r = ask(t, "udp", s.Addr(), name, mdns.TypeA, 4096)
	if r.Truncated || len(r.Answer) != 100 || r.Answer[0].Header().Ttl != 30 {
		t.Errorf("EDNS0 4096: tc=%v answers=%d", r.Truncated, len(r.Answer))
	}
	r = ask(t, "tcp", s.Addr(), name, mdns.TypeA, 0)
	if r.Truncated || len(r.Answer) != 100 {
		t.Errorf("TCP: tc=%v answers=%d", r.Truncated, len(r.Answer))
	}
}

func TestNewValidates(t *testing.T) {
	for _, cfg := range []Config{
		{Addr: "127.0.0.1:0"},
		{Client: fakeClient()},
		{Client: fakeClient(), Addr: "nonsense"},
		{Client: fakeClient(), Addr: "127.0.0.1:0", Upstreams: []string{"1.2.3.4:notaport"}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted a bad config", cfg)
		}
	}
}

func TestUpstreamsFromResolvConf(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resolv.conf")
	conf := "# generated\nsearch svc.cluster.local cluster.local\nnameserver 10.43.0.10\nnameserver 127.0.0.53\nnameserver 8.8.8.8\nnameserver 2001:4860:4860::8888\noptions ndots:5\n"
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		self []string
		want []string
	}{
		{nil, []string{"10.43.0.10:53", "127.0.0.53:53", "8.8.8.8:53", "[2001:4860:4860::8888]:53"}},
		{[]string{"10.43.0.10"}, []string{"127.0.0.53:53", "8.8.8.8:53", "[2001:4860:4860::8888]:53"}},
		{[]string{"0.0.0.0:53"}, []string{"10.43.0.10:53", "8.8.8.8:53", "[2001:4860:4860::8888]:53"}},
		{[]string{"0.0.0.0:5353", "10.43.0.10:53"}, []string{"127.0.0.53:53", "8.8.8.8:53", "[2001:4860:4860::8888]:53"}},
	}
	for _, tt := range tests {
		got, err := UpstreamsFromResolvConf(path, tt.self...)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("self %v: got %v, want %v", tt.self, got, tt.want)
		}
	}
	if _, err := UpstreamsFromResolvConf(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Errorf("missing file accepted")
	}
}

// TestConcurrentQueriesDuringRebuild runs queries from several clients
// while the index is being rebuilt; with -race it checks that answers
// share nothing mutable.
func TestConcurrentQueriesDuringRebuild(t *testing.T) {
	client := fakeClient(clusterIPService("ns1", "web", []string{"10.43.0.10"}, port("http", 80, corev1.ProtocolTCP)))
	upstream := startUpstream(t)
	s := startServer(t, Config{Client: client, Upstreams: []string{upstream.addr}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changes := make(chan struct{})
	go func() {
		defer close(changes)
		for i := 0; i < 50 && ctx.Err() == nil; i++ {
			svc := clusterIPService("ns1", fmt.Sprintf("extra%d", i), []string{fmt.Sprintf("10.43.1.%d", i+1)})
			if _, err := client.CoreV1().Services("ns1").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
				t.Errorf("create: %v", err)
				return
			}
		}
	}()
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		go func(g int) {
			network := []string{"udp", "tcp"}[g%2]
			c := &mdns.Client{Net: network, Timeout: 5 * time.Second}
			for i := 0; i < 100; i++ {
				m := new(mdns.Msg)
				switch i % 4 {
				case 0:
					m.SetQuestion("web.ns1.svc.cluster.local.", mdns.TypeA)
				case 1:
					m.SetQuestion("_http._tcp.web.ns1.svc.cluster.local.", mdns.TypeSRV)
				case 2:
					m.SetQuestion("www.example.", mdns.TypeA)
				case 3:
					m.SetQuestion("nope.ns1.svc.cluster.local.", mdns.TypeA)
				}
				m.SetEdns0(1232, false)
				r, _, err := c.Exchange(m, s.Addr())
				if err != nil {
					errs <- err
					return
				}
				if want := []int{0, 0, 0, mdns.RcodeNameError}[i%4]; r.Rcode != want {
					errs <- fmt.Errorf("%s: rcode %s", m.Question[0].Name, mdns.RcodeToString[r.Rcode])
					return
				}
			}
			errs <- nil
		}(g)
	}
	for g := 0; g < 8; g++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	<-changes
	eventually(t, "the last service created", func() (bool, string) {
		got := values(ask(t, "udp", s.Addr(), "extra49.ns1.svc.cluster.local.", mdns.TypeA, 0))
		return slices.Equal(got, []string{"A 10.43.1.50"}), fmt.Sprint(got)
	})
}
