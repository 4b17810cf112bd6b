package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

const (
	// DefaultForwardTimeout bounds one exchange with one upstream.
	DefaultForwardTimeout = 2 * time.Second
	// advertisedUDPSize is the EDNS0 payload size this server offers and
	// uses towards upstreams (the DNS flag day 2020 recommendation).
	advertisedUDPSize = 1232
	// maxCNAMEChain bounds chasing ExternalName targets.
	maxCNAMEChain = 8
)

// Config configures a Server.
type Config struct {
	// Client reads Services and EndpointSlices; the server builds its own
	// informers from it.
	Client kubernetes.Interface
	// Domain is the cluster domain (default cluster.local).
	Domain string
	// Upstreams receive every question outside the cluster domain, tried
	// in order: "ip" or "ip:port" (port 53 by default). With none, such
	// questions get SERVFAIL.
	Upstreams []string
	// Addr is where to serve, over both UDP and TCP on the same port; a
	// port of 0 picks a free one (see Addr).
	Addr string
	// TTL of cluster answers (default 5s; whole seconds).
	TTL time.Duration
	// ForwardTimeout bounds one exchange with one upstream (default 2s).
	ForwardTimeout time.Duration
	// Log receives the server's logs (default: discarded).
	Log *slog.Logger
}

// Server is the cluster DNS server.
type Server struct {
	client    kubernetes.Interface
	domain    string
	ttl       uint32
	upstreams []string
	listen    string
	log       *slog.Logger
	udp, tcp  *mdns.Client

	records atomic.Pointer[Records]
	serial  uint32 // owned by the rebuild loop
	dirty   chan struct{}
	ready   chan struct{}
	addr    atomic.Pointer[string]
	baseCtx context.Context
}

// New checks cfg and returns a server that Run starts.
func New(cfg Config) (*Server, error) {
	if cfg.Client == nil {
		return nil, errors.New("dns: Config.Client is required")
	}
	if cfg.Addr == "" {
		return nil, errors.New("dns: Config.Addr is required (for example 127.0.0.1:53)")
	}
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return nil, fmt.Errorf("dns: parse listen address %q: %w", cfg.Addr, err)
	}
	domain := strings.ToLower(strings.Trim(cfg.Domain, "."))
	if domain == "" {
		domain = DefaultDomain
	}
	if _, ok := mdns.IsDomainName(domain); !ok {
		return nil, fmt.Errorf("dns: cluster domain %q is not a domain name", cfg.Domain)
	}
	ttl := uint32(DefaultTTL)
	if cfg.TTL > 0 {
		ttl = uint32((cfg.TTL + time.Second - 1) / time.Second)
	}
	var ups []string
	for _, u := range cfg.Upstreams {
		hp, err := normalizeHostPort(u)
		if err != nil {
			return nil, fmt.Errorf("dns: upstream %q: %w", u, err)
		}
		ups = append(ups, hp)
	}
	timeout := cfg.ForwardTimeout
	if timeout <= 0 {
		timeout = DefaultForwardTimeout
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		client:    cfg.Client,
		domain:    domain,
		ttl:       ttl,
		upstreams: ups,
		listen:    cfg.Addr,
		log:       log,
		udp:       &mdns.Client{Net: "udp", Timeout: timeout, UDPSize: advertisedUDPSize},
		tcp:       &mdns.Client{Net: "tcp", Timeout: timeout},
		dirty:     make(chan struct{}, 1),
		ready:     make(chan struct{}),
		baseCtx:   context.Background(),
	}
	s.records.Store(Build(Options{Domain: domain, TTL: ttl}, nil, nil))
	return s, nil
}

// normalizeHostPort turns "ip" or "ip:port" into "ip:port".
func normalizeHostPort(s string) (string, error) {
	if host, port, err := net.SplitHostPort(s); err == nil {
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return "", fmt.Errorf("bad port: %w", err)
		}
		return net.JoinHostPort(host, port), nil
	}
	host := strings.Trim(s, "[]")
	if host == "" {
		return "", errors.New("empty address")
	}
	return net.JoinHostPort(host, "53"), nil
}

// Ready is closed once the server answers from a synced index on Addr.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr is the bound host:port (the same for UDP and TCP), empty until
// Ready is closed.
func (s *Server) Addr() string {
	if p := s.addr.Load(); p != nil {
		return *p
	}
	return ""
}

// Records returns the index currently answering.
func (s *Server) Records() *Records { return s.records.Load() }

// Run serves until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	s.baseCtx = ctx
	pc, ln, err := listenBoth(s.listen)
	if err != nil {
		return err
	}
	closeListeners := func() { _ = pc.Close(); _ = ln.Close() }

	factory := informers.NewSharedInformerFactory(s.client, 0)
	svcInf := factory.Core().V1().Services()
	esInf := factory.Discovery().V1().EndpointSlices()
	mark := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { s.markDirty() },
		UpdateFunc: func(any, any) { s.markDirty() },
		DeleteFunc: func(any) { s.markDirty() },
	}
	if _, err := svcInf.Informer().AddEventHandler(mark); err != nil {
		closeListeners()
		return fmt.Errorf("watch services: %w", err)
	}
	if _, err := esInf.Informer().AddEventHandler(mark); err != nil {
		closeListeners()
		return fmt.Errorf("watch endpointslices: %w", err)
	}
	infCtx, stopInformers := context.WithCancel(ctx)
	defer func() {
		stopInformers()
		factory.Shutdown()
	}()
	factory.Start(infCtx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), svcInf.Informer().HasSynced, esInf.Informer().HasSynced) {
		closeListeners()
		if ctx.Err() != nil {
			return nil
		}
		return errors.New("dns: informer caches did not sync")
	}

	rebuild := func() {
		svcs, err := svcInf.Lister().List(labels.Everything())
		if err != nil {
			s.log.Error("list services", "err", err)
			return
		}
		eps, err := esInf.Lister().List(labels.Everything())
		if err != nil {
			s.log.Error("list endpointslices", "err", err)
			return
		}
		s.serial++
		start := time.Now()
		recs := Build(Options{Domain: s.domain, TTL: s.ttl, Serial: s.serial}, svcs, eps)
		s.records.Store(recs)
		s.log.Debug("dns index rebuilt", "services", len(svcs), "endpointslices", len(eps), "names", recs.Len(), "took", time.Since(start))
	}
	// Events seen so far are in the listers; build once before serving.
	select {
	case <-s.dirty:
	default:
	}
	rebuild()
	rebuildDone := make(chan struct{})
	go func() {
		defer close(rebuildDone)
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.dirty:
				rebuild()
			}
		}
	}()

	errc := make(chan error, 2)
	started := make(chan struct{}, 2)
	notify := func() { started <- struct{}{} }
	udpSrv := &mdns.Server{PacketConn: pc, Handler: s, NotifyStartedFunc: notify}
	tcpSrv := &mdns.Server{Listener: ln, Handler: s, NotifyStartedFunc: notify,
		ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second, IdleTimeout: func() time.Duration { return 10 * time.Second }}
	go func() { errc <- udpSrv.ActivateAndServe() }()
	go func() { errc <- tcpSrv.ActivateAndServe() }()
	var runErr error
	for i := 0; i < 2 && runErr == nil; i++ {
		select {
		case <-started:
		case err := <-errc:
			runErr = fmt.Errorf("dns: serve: %w", err)
		case <-ctx.Done():
			runErr = ctx.Err()
		}
	}
	if runErr == nil {
		addr := pc.LocalAddr().String()
		s.addr.Store(&addr)
		close(s.ready)
		s.log.Info("dns serving", "addr", addr, "domain", s.domain, "upstreams", s.upstreams)
		select {
		case <-ctx.Done():
		case err := <-errc:
			runErr = fmt.Errorf("dns: serve: %w", err)
		}
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = udpSrv.ShutdownContext(shutCtx)
	_ = tcpSrv.ShutdownContext(shutCtx)
	closeListeners()
	<-rebuildDone
	if errors.Is(runErr, context.Canceled) || errors.Is(runErr, context.DeadlineExceeded) {
		return nil
	}
	return runErr
}

func (s *Server) markDirty() {
	select {
	case s.dirty <- struct{}{}:
	default:
	}
}

// listenBoth binds UDP and TCP on the same port; for port 0 it picks the
// UDP port first and retries if TCP finds it taken.
func listenBoth(addr string) (net.PacketConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("dns: parse listen address %q: %w", addr, err)
	}
	var lastErr error
	for attempt := 0; attempt < 20; attempt++ {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("dns: listen udp %s: %w", addr, err)
		}
		p := strconv.Itoa(pc.LocalAddr().(*net.UDPAddr).Port)
		ln, err := net.Listen("tcp", net.JoinHostPort(host, p))
		if err == nil {
			return pc, ln, nil
		}
		_ = pc.Close()
		lastErr = err
		if port != "0" {
			break
		}
	}
	return nil, nil, fmt.Errorf("dns: listen tcp %s: %w", addr, lastErr)
}

// ServeDNS answers one query; it implements mdns.Handler.
func (s *Server) ServeDNS(w mdns.ResponseWriter, req *mdns.Msg) {
	_, isUDP := w.RemoteAddr().(*net.UDPAddr)
	reqOpt := req.IsEdns0()
	resp := s.resolve(req, !isUDP)
	if reqOpt != nil {
		if resp.IsEdns0() == nil {
			resp.Extra = append(resp.Extra, newOPT())
		}
	}
	size := mdns.MaxMsgSize
	if isUDP {
		size = mdns.MinMsgSize
		if reqOpt != nil && int(reqOpt.UDPSize()) > size {
			size = int(reqOpt.UDPSize())
		}
	}
	resp.Truncate(size)
	if err := w.WriteMsg(resp); err != nil {
		s.log.Debug("write dns answer", "err", err)
	}
}

// resolve answers req from the index, chasing ExternalName CNAMEs, or
// forwards it.
func (s *Server) resolve(req *mdns.Msg, overTCP bool) *mdns.Msg {
	resp, ok := s.records.Load().Answer(req)
	if !ok {
		return s.forward(req, overTCP)
	}
	if len(resp.Answer) > 0 && resp.Rcode == mdns.RcodeSuccess {
		q := req.Question[0].Qtype
		if q != mdns.TypeCNAME && q != mdns.TypeANY {
			resp.Answer = s.chase(resp.Answer, q, overTCP)
		}
	}
	return resp
}

// chase follows a CNAME at the end of answer, as a recursive resolver
// would for its stub clients, which do not follow CNAMEs themselves.
func (s *Server) chase(answer []mdns.RR, qtype uint16, overTCP bool) []mdns.RR {
	for i := 0; i < maxCNAMEChain; i++ {
		cname, ok := answer[len(answer)-1].(*mdns.CNAME)
		if !ok {
			return answer
		}
		q := new(mdns.Msg)
		q.SetQuestion(cname.Target, qtype)
		r, ok := s.records.Load().Answer(q)
		if !ok {
			r = s.forward(q, overTCP)
			if r.Rcode != mdns.RcodeSuccess {
				return answer
			}
			return append(answer, r.Answer...)
		}
		if r.Rcode != mdns.RcodeSuccess || len(r.Answer) == 0 {
			return answer
		}
		answer = append(answer, r.Answer...)
	}
	return answer
}

// forward sends req to the upstreams and returns their answer, or
// SERVFAIL when none answers.
func (s *Server) forward(req *mdns.Msg, overTCP bool) *mdns.Msg {
	q := req.Copy()
	clientEDNS := req.IsEdns0() != nil
	if !clientEDNS {
		// Ask upstreams for big answers over UDP: fewer TCP retries.
		q.Extra = append(q.Extra, newOPT())
	}
	r, err := s.exchange(q, overTCP)
	if err != nil {
		s.log.Debug("forward dns query", "name", questionName(req), "err", err)
		fail := new(mdns.Msg)
		fail.SetRcode(req, mdns.RcodeServerFailure)
		fail.RecursionAvailable = true
		return fail
	}
	r.Id = req.Id
	if !clientEDNS {
		for i := len(r.Extra) - 1; i >= 0; i-- {
			if r.Extra[i].Header().Rrtype == mdns.TypeOPT {
				r.Extra = append(r.Extra[:i], r.Extra[i+1:]...)
			}
		}
	}
	return r
}

// newOPT returns the OPT record this server sends. Each message needs its
// own: packing writes the extended rcode into it.
func newOPT() *mdns.OPT {
	opt := &mdns.OPT{Hdr: mdns.RR_Header{Name: ".", Rrtype: mdns.TypeOPT}}
	opt.SetUDPSize(advertisedUDPSize)
	return opt
}

func questionName(m *mdns.Msg) string {
	if len(m.Question) == 0 {
		return ""
	}
	return m.Question[0].Name
}

// exchange tries each upstream in order, over UDP with a TCP retry when
// the answer is truncated (or straight over TCP when the client used TCP).
func (s *Server) exchange(q *mdns.Msg, overTCP bool) (*mdns.Msg, error) {
	if len(s.upstreams) == 0 {
		return nil, errors.New("no upstream resolvers configured")
	}
	ctx := s.baseCtx
	var lastErr error
	for _, up := range s.upstreams {
		c := s.udp
		if overTCP {
			c = s.tcp
		}
		r, _, err := c.ExchangeContext(ctx, q, up)
		if err == nil && r.Truncated && !overTCP {
			r, _, err = s.tcp.ExchangeContext(ctx, q, up)
		}
		if err != nil {
			lastErr = fmt.Errorf("exchange with %s: %w", up, err)
			continue
		}
		if r.Rcode == mdns.RcodeServerFailure || r.Rcode == mdns.RcodeRefused {
			lastErr = fmt.Errorf("exchange with %s: %s", up, mdns.RcodeToString[r.Rcode])
			continue
		}
		return r, nil
	}
	return nil, lastErr
}
