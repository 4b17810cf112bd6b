package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
)

// Config is what the agent gives the proxy.
type Config struct {
	Client   kubernetes.Interface
	NodeName string
	// NodeIPs answer NodePorts, together with the Node's InternalIP and
	// ExternalIP addresses.
	NodeIPs []net.IP
	// ClusterCIDR is the cluster's pod range (10.42.0.0/16); nil disables
	// masquerading of off-cluster traffic to ClusterIPs, and of pod egress.
	ClusterCIDR *net.IPNet
	// MasqueradePodEgress masquerades pods' connections to addresses
	// outside ClusterCIDR that leave through an interface other than
	// PodBridge (NodeInfo.MasqueradePodEgress): set it when the CNI
	// config does not masquerade (Gureum's bridge config does not).
	MasqueradePodEgress bool
	// PodBridge is the bridge this node's pods attach to.
	PodBridge string
	Applier   Applier
	Clock     clock.WithTicker
	Log       *slog.Logger
	// SyncDelay coalesces bursts of changes into one sync; default 20ms.
	SyncDelay time.Duration
	// RetryDelay is the wait after a failed sync; default 1s.
	RetryDelay time.Duration
	// ResyncPeriod re-applies the table even without changes, repairing
	// anything that altered it; default 5 minutes.
	ResyncPeriod time.Duration
}

// Proxy keeps the node's service rules in line with the API.
type Proxy struct {
	cfg       Config
	dirty     chan struct{}
	synced    chan struct{}
	syncOnce  sync.Once
	mu        sync.Mutex
	lastRules Ruleset
	applied   int
}

// New builds a proxy; Run starts it.
func New(cfg Config) *Proxy {
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.SyncDelay <= 0 {
		cfg.SyncDelay = 20 * time.Millisecond
	}
	if cfg.RetryDelay <= 0 {
		cfg.RetryDelay = time.Second
	}
	if cfg.ResyncPeriod <= 0 {
		cfg.ResyncPeriod = 5 * time.Minute
	}
	return &Proxy{cfg: cfg, dirty: make(chan struct{}, 1), synced: make(chan struct{})}
}

// Synced is closed once the first full sync has been applied.
func (p *Proxy) Synced() <-chan struct{} { return p.synced }

// LastApplied returns the most recently applied ruleset and how many syncs
// succeeded so far.
func (p *Proxy) LastApplied() (Ruleset, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastRules, p.applied
}

func (p *Proxy) markDirty() {
	select {
	case p.dirty <- struct{}{}:
	default:
	}
}

// Run watches Services, EndpointSlices and the proxy's own Node and keeps
// the table in sync until ctx ends. The first sync rewrites the whole
// table, so rules left by an earlier run disappear.
func (p *Proxy) Run(ctx context.Context) error {
	if p.cfg.Client == nil || p.cfg.Applier == nil {
		return errors.New("service proxy: Client and Applier are required")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	factory := informers.NewSharedInformerFactory(p.cfg.Client, 0)
	nodeFactory := informers.NewSharedInformerFactoryWithOptions(p.cfg.Client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", p.cfg.NodeName).String()
		}))
	svcInf := factory.Core().V1().Services()
	sliceInf := factory.Discovery().V1().EndpointSlices()
	nodeInf := nodeFactory.Core().V1().Nodes()
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(interface{}) { p.markDirty() },
		UpdateFunc: func(interface{}, interface{}) { p.markDirty() },
		DeleteFunc: func(interface{}) { p.markDirty() },
	}
	for _, inf := range []cache.SharedIndexInformer{svcInf.Informer(), sliceInf.Informer(), nodeInf.Informer()} {
		if _, err := inf.AddEventHandler(handler); err != nil {
			return fmt.Errorf("service proxy: add event handler: %w", err)
		}
	}
	factory.Start(ctx.Done())
	nodeFactory.Start(ctx.Done())
	defer factory.Shutdown()
	defer nodeFactory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), svcInf.Informer().HasSynced, sliceInf.Informer().HasSynced, nodeInf.Informer().HasSynced) {
		return nil // ctx ended
	}
	p.cfg.Log.Info("service proxy caches synced", "node", p.cfg.NodeName)
	lists := listers{svc: svcInf.Lister(), slices: sliceInf.Lister(), nodes: nodeInf.Lister()}
	p.markDirty()

	resync := p.cfg.Clock.NewTicker(p.cfg.ResyncPeriod)
	defer resync.Stop()
	var retry clock.Timer
	var retryC <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-p.dirty:
			// Coalesce: whatever else arrives in the next moment rides along.
			t := p.cfg.Clock.NewTimer(p.cfg.SyncDelay)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C():
			}
			select {
			case <-p.dirty:
			default:
			}
		case <-resync.C():
		case <-retryC:
		}
		if retry != nil {
			retry.Stop()
			retry, retryC = nil, nil
		}
		if err := p.sync(ctx, lists); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			p.cfg.Log.Error("service proxy sync failed; retrying", "err", err, "retryIn", p.cfg.RetryDelay.String())
			retry = p.cfg.Clock.NewTimer(p.cfg.RetryDelay)
			retryC = retry.C()
		}
	}
}

type listers struct {
	svc    corelisters.ServiceLister
	slices discoverylisters.EndpointSliceLister
	nodes  corelisters.NodeLister
}

func (p *Proxy) nodeInfo(l listers) NodeInfo {
	info := NodeInfo{Name: p.cfg.NodeName, MasqueradePodEgress: p.cfg.MasqueradePodEgress, PodBridge: p.cfg.PodBridge}
	for _, ip := range p.cfg.NodeIPs {
		if a, ok := netip.AddrFromSlice(ip); ok {
			info.IPs = append(info.IPs, a.Unmap())
		}
	}
	if n, err := l.nodes.Get(p.cfg.NodeName); err == nil {
		for _, a := range n.Status.Addresses {
			if a.Type != corev1.NodeInternalIP && a.Type != corev1.NodeExternalIP {
				continue
			}
			if ip, err := netip.ParseAddr(a.Address); err == nil {
				info.IPs = append(info.IPs, ip)
			}
		}
	}
	if c := p.cfg.ClusterCIDR; c != nil {
		if a, ok := netip.AddrFromSlice(c.IP); ok {
			ones, _ := c.Mask.Size()
			info.ClusterCIDR = netip.PrefixFrom(a.Unmap(), ones).Masked()
		}
	}
	return info
}

func (p *Proxy) sync(ctx context.Context, l listers) error {
	start := p.cfg.Clock.Now()
	svcs, err := l.svc.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("list services: %w", err)
	}
	slices, err := l.slices.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("list endpointslices: %w", err)
	}
	rs := Compute(svcs, slices, p.nodeInfo(l))
	computed := p.cfg.Clock.Since(start)
	if err := p.cfg.Applier.Apply(ctx, rs); err != nil {
		return fmt.Errorf("apply service rules: %w", err)
	}
	p.mu.Lock()
	p.lastRules = rs
	p.applied++
	p.mu.Unlock()
	p.syncOnce.Do(func() { close(p.synced) })
	p.cfg.Log.Debug("service rules applied", "services", len(svcs), "endpointSlices", len(slices),
		"chains", len(rs.Chains), "compute", computed.String(), "total", p.cfg.Clock.Since(start).String())
	return nil
}
