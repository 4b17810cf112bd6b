// Package simulate owns Gureum's hollow nodes (like kwok): Nodes that
// register, heartbeat through Leases, and report the pods bound to them as
// Running without running any container. One process holds thousands of
// them: a single shared pod informer routes pods to nodes, lease renewals
// are batched with bounded concurrency, and no goroutine exists per node
// or per pod. Only the command line and tests import it.
package simulate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
)

// Defaults, matching the kubelet's.
const (
	DefaultNamePrefix      = "sim-"
	DefaultCPU             = "8"
	DefaultMemory          = "32Gi"
	DefaultMaxPods         = 110
	DefaultPodSucceedAfter = 10 * time.Second
	DefaultLeaseRenew      = 10 * time.Second
	DefaultLeaseDuration   = 40 * time.Second
	// As kubelet's nodeStatusReportFrequency: with leases carrying the
	// heartbeat, an unchanged status is written every 5 minutes.
	DefaultStatusInterval = 5 * time.Minute
	DefaultConcurrency    = 32

	fieldManager = "gureum-simulator"
	podByNode    = "gureum.simulate/nodeName"
	writeTimeout = 15 * time.Second
)

// Config describes a fleet of simulated nodes.
type Config struct {
	Client kubernetes.Interface
	// Count nodes named NamePrefix0 … NamePrefix(Count-1).
	Count      int
	NamePrefix string
	// CPU and Memory are quantities ("8", "32Gi"); MaxPods is the pods
	// capacity.
	CPU, Memory string
	MaxPods     int
	// PodSucceedAfter is how long pods with restartPolicy Never or
	// OnFailure run before they succeed (0: DefaultPodSucceedAfter;
	// negative: never).
	PodSucceedAfter time.Duration
	// LeaseRenewInterval, LeaseDuration and StatusInterval tune the
	// heartbeats (defaults 10s, 40s, 1m).
	LeaseRenewInterval time.Duration
	LeaseDuration      time.Duration
	StatusInterval     time.Duration
	// Concurrency bounds the API writes in flight (default 32).
	Concurrency int
	// DeleteOnExit removes the nodes (and their leases) when Run returns;
	// by default they stay registered, as with kwok.
	DeleteOnExit bool
	Clock        clock.WithTicker
	Log          *slog.Logger
}

// Simulator runs the fleet.
type Simulator struct {
	cfg        Config
	client     kubernetes.Interface
	clk        clock.WithTicker
	log        *slog.Logger
	res        nodeResources
	nodes      map[string]*simNode
	order      []*simNode
	registered chan struct{}

	nodeFactory informers.SharedInformerFactory
	podFactory  informers.SharedInformerFactory
	nodeLister  corelisters.NodeLister
	podLister   corelisters.PodLister
	podIndexer  cache.Indexer
	synced      []cache.InformerSynced

	podQueue  workqueue.TypedRateLimitingInterface[string]
	nodeQueue workqueue.TypedRateLimitingInterface[string]

	mu     sync.Mutex
	podIPs map[string]podAddr // pod key -> address it was given
}

type podAddr struct {
	node, ip string
}

// simNode is one hollow node; the fields under mu change after start.
type simNode struct {
	name  string
	index int
	ip    net.IP
	lost  atomic.Bool

	mu      sync.Mutex
	uid     types.UID
	lease   *coordinationv1.Lease
	podCIDR string
	pool    *podIPPool
}

// Run simulates cfg until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	s, err := New(cfg)
	if err != nil {
		return err
	}
	return s.Run(ctx)
}

// New validates cfg and prepares the fleet; Run starts it.
func New(cfg Config) (*Simulator, error) {
	if cfg.Client == nil {
		return nil, errors.New("simulate: a client is required")
	}
	if cfg.Count < 1 || cfg.Count > maxNodes {
		return nil, fmt.Errorf("node count %d out of range: pass --count between 1 and %d", cfg.Count, maxNodes)
	}
	if cfg.NamePrefix == "" {
		cfg.NamePrefix = DefaultNamePrefix
	}
	if cfg.CPU == "" {
		cfg.CPU = DefaultCPU
	}
	if cfg.Memory == "" {
		cfg.Memory = DefaultMemory
	}
	if cfg.MaxPods == 0 {
		cfg.MaxPods = DefaultMaxPods
	}
	if cfg.MaxPods < 0 {
		return nil, fmt.Errorf("max pods %d is negative: pass a positive --max-pods", cfg.MaxPods)
	}
	if cfg.PodSucceedAfter == 0 {
		cfg.PodSucceedAfter = DefaultPodSucceedAfter
	}
	if cfg.LeaseRenewInterval <= 0 {
		cfg.LeaseRenewInterval = DefaultLeaseRenew
	}
	if cfg.LeaseDuration <= 0 {
		cfg.LeaseDuration = DefaultLeaseDuration
	}
	if cfg.StatusInterval <= 0 {
		cfg.StatusInterval = DefaultStatusInterval
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	cpu, err := resource.ParseQuantity(cfg.CPU)
	if err != nil {
		return nil, fmt.Errorf("parse --cpu %q (use a quantity such as 8 or 500m): %w", cfg.CPU, err)
	}
	mem, err := resource.ParseQuantity(cfg.Memory)
	if err != nil {
		return nil, fmt.Errorf("parse --memory %q (use a quantity such as 32Gi): %w", cfg.Memory, err)
	}
	s := &Simulator{
		cfg:        cfg,
		client:     cfg.Client,
		clk:        cfg.Clock,
		log:        cfg.Log,
		res:        nodeResources{cpu: cpu, memory: mem, pods: *resource.NewQuantity(int64(cfg.MaxPods), resource.DecimalSI), storage: resource.MustParse(ephemeralDisk)},
		nodes:      make(map[string]*simNode, cfg.Count),
		registered: make(chan struct{}),
		podIPs:     map[string]podAddr{},
	}
	for i := range cfg.Count {
		n := &simNode{name: fmt.Sprintf("%s%d", cfg.NamePrefix, i), index: i, ip: fakeNodeIP(i)}
		n.pool = newPodIPPool(fakePodBlock(i))
		s.nodes[n.name] = n
		s.order = append(s.order, n)
	}

	s.podQueue = workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "simulate-pods", Clock: cfg.Clock})
	s.nodeQueue = workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "simulate-nodes", Clock: cfg.Clock})

	// Nodes: only the simulated ones, trimmed to what the simulator reads,
	// so a thousand of them cost little memory.
	s.nodeFactory = informers.NewSharedInformerFactoryWithOptions(cfg.Client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = LabelSimulated + "=true" }),
		informers.WithTransform(trimNode))
	nodeInf := s.nodeFactory.Core().V1().Nodes()
	s.nodeLister = nodeInf.Lister()
	_, _ = nodeInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    s.onNode,
		UpdateFunc: func(_, obj interface{}) { s.onNode(obj) },
	})

	// Pods: one informer for every bound pod, routed to nodes by name.
	s.podFactory = informers.NewSharedInformerFactoryWithOptions(cfg.Client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = "spec.nodeName!=" }),
		informers.WithTransform(trimPod))
	podInf := s.podFactory.Core().V1().Pods()
	if err := podInf.Informer().AddIndexers(cache.Indexers{podByNode: func(obj interface{}) ([]string, error) {
		if p, ok := obj.(*corev1.Pod); ok {
			return []string{p.Spec.NodeName}, nil
		}
		return nil, nil
	}}); err != nil {
		return nil, fmt.Errorf("index pods by node: %w", err)
	}
	s.podLister = podInf.Lister()
	s.podIndexer = podInf.Informer().GetIndexer()
	_, _ = podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    s.onPod,
		UpdateFunc: func(_, obj interface{}) { s.onPod(obj) },
		DeleteFunc: func(obj interface{}) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			s.onPod(obj)
		},
	})
	s.synced = []cache.InformerSynced{nodeInf.Informer().HasSynced, podInf.Informer().HasSynced}
	return s, nil
}

// trimNode keeps what the simulator reads of a Node.
func trimNode(obj interface{}) (interface{}, error) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return obj, nil
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: n.Name, UID: n.UID, ResourceVersion: n.ResourceVersion},
		Spec:       corev1.NodeSpec{PodCIDR: n.Spec.PodCIDR, PodCIDRs: n.Spec.PodCIDRs},
		Status:     corev1.NodeStatus{Conditions: n.Status.Conditions},
	}, nil
}

func trimPod(obj interface{}) (interface{}, error) {
	if p, ok := obj.(*corev1.Pod); ok {
		p.ManagedFields = nil
	}
	return obj, nil
}

// NodeNames lists the simulated nodes in index order.
func (s *Simulator) NodeNames() []string {
	out := make([]string, len(s.order))
	for i, n := range s.order {
		out[i] = n.name
	}
	return out
}

// Registered is closed once every node and its Lease exist.
func (s *Simulator) Registered() <-chan struct{} { return s.registered }

// SetNodeLost simulates losing (lost=true) or regaining a node: a lost
// node stops renewing its Lease, posting status and handling its pods, as
// a machine that lost power or network would. Regaining it heartbeats at
// once and catches up with its pods.
func (s *Simulator) SetNodeLost(ctx context.Context, name string, lost bool) error {
	n, ok := s.nodes[name]
	if !ok {
		return fmt.Errorf("no simulated node %q", name)
	}
	if n.lost.Swap(lost) == lost || lost {
		return nil
	}
	if err := s.renewLease(ctx, n); err != nil {
		return err
	}
	s.nodeQueue.Add(name)
	s.enqueuePodsOf(name)
	return nil
}

// Run registers the nodes and keeps them alive until ctx ends.
func (s *Simulator) Run(ctx context.Context) error {
	defer s.podQueue.ShutDown()
	defer s.nodeQueue.ShutDown()
	s.nodeFactory.Start(ctx.Done())
	s.podFactory.Start(ctx.Done())
	defer s.nodeFactory.Shutdown()
	defer s.podFactory.Shutdown()

	start := s.clk.Now()
	if err := s.registerAll(ctx); err != nil {
		return err
	}
	close(s.registered)
	s.log.Info("simulated nodes registered", "count", len(s.order), "prefix", s.cfg.NamePrefix, "took", s.clk.Since(start).Round(time.Millisecond))

	if !cache.WaitForCacheSync(ctx.Done(), s.synced...) {
		return s.exit()
	}
	s.seedPodIPs()

	go func() {
		<-ctx.Done()
		s.podQueue.ShutDown()
		s.nodeQueue.ShutDown()
	}()
	var wg sync.WaitGroup
	workers := max(s.cfg.Concurrency/2, 2)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s.processPod(ctx) {
			}
		}()
	}
	for range max(workers/4, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s.processNode(ctx) {
			}
		}()
	}
	wg.Add(2)
	go func() { defer wg.Done(); s.every(ctx, s.cfg.LeaseRenewInterval, s.renewAll) }()
	go func() {
		defer wg.Done()
		s.every(ctx, s.cfg.StatusInterval, func(context.Context) {
			for _, n := range s.order {
				if !n.lost.Load() {
					s.nodeQueue.Add(n.name)
				}
			}
		})
	}()
	wg.Wait()
	return s.exit()
}

func (s *Simulator) every(ctx context.Context, d time.Duration, f func(context.Context)) {
	t := s.clk.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			f(ctx)
		}
	}
}

// exit runs on the way out, with a fresh deadline because ctx is over.
func (s *Simulator) exit() error {
	if !s.cfg.DeleteOnExit {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.cfg.Concurrency)
	for _, n := range s.order {
		g.Go(func() error {
			err := s.client.CoreV1().Nodes().Delete(gctx, n.name, metav1.DeleteOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("delete simulated node %s: %w", n.name, err)
			}
			err = s.client.CoordinationV1().Leases(LeaseNamespace).Delete(gctx, n.name, metav1.DeleteOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("delete lease of simulated node %s: %w", n.name, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	s.log.Info("simulated nodes deleted", "count", len(s.order))
	return nil
}

// --- registration and heartbeats ---------------------------------------------------

func (s *Simulator) registerAll(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.cfg.Concurrency)
	for _, n := range s.order {
		g.Go(func() error { return s.register(gctx, n) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}

func (s *Simulator) register(ctx context.Context, n *simNode) error {
	now := metav1.NewTime(s.clk.Now())
	want := newNode(n.name, n.ip, s.res, now)
	cctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	got, err := s.client.CoreV1().Nodes().Create(cctx, want, metav1.CreateOptions{FieldManager: fieldManager})
	if apierrors.IsAlreadyExists(err) {
		got, err = s.adopt(cctx, want)
	}
	if err != nil {
		return fmt.Errorf("register node %s: %w", n.name, err)
	}
	n.mu.Lock()
	n.uid = got.UID
	n.mu.Unlock()
	return s.ensureLease(cctx, n)
}

// adopt takes over a node left registered by an earlier run: same labels,
// fresh status.
func (s *Simulator) adopt(ctx context.Context, want *corev1.Node) (*corev1.Node, error) {
	meta, err := json.Marshal(map[string]interface{}{"metadata": map[string]interface{}{"labels": want.Labels}})
	if err != nil {
		return nil, fmt.Errorf("encode labels patch: %w", err)
	}
	if _, err := s.client.CoreV1().Nodes().Patch(ctx, want.Name, types.StrategicMergePatchType, meta, metav1.PatchOptions{FieldManager: fieldManager}); err != nil {
		return nil, fmt.Errorf("patch labels: %w", err)
	}
	st, err := json.Marshal(map[string]interface{}{"status": want.Status})
	if err != nil {
		return nil, fmt.Errorf("encode status patch: %w", err)
	}
	got, err := s.client.CoreV1().Nodes().Patch(ctx, want.Name, types.StrategicMergePatchType, st, metav1.PatchOptions{FieldManager: fieldManager}, "status")
	if err != nil {
		return nil, fmt.Errorf("patch status: %w", err)
	}
	return got, nil
}

// ensureLease creates the node's Lease, or renews the one an earlier run
// left.
func (s *Simulator) ensureLease(ctx context.Context, n *simNode) error {
	n.mu.Lock()
	uid := n.uid
	n.mu.Unlock()
	leases := s.client.CoordinationV1().Leases(LeaseNamespace)
	now := metav1.NewMicroTime(s.clk.Now())
	lease, err := leases.Create(ctx, newLease(n.name, uid, int32(s.cfg.LeaseDuration/time.Second), now), metav1.CreateOptions{FieldManager: fieldManager})
	if apierrors.IsAlreadyExists(err) {
		lease, err = leases.Get(ctx, n.name, metav1.GetOptions{})
		if err == nil {
			fresh := newLease(n.name, uid, int32(s.cfg.LeaseDuration/time.Second), now)
			lease.Spec = fresh.Spec
			lease.OwnerReferences = fresh.OwnerReferences
			lease, err = leases.Update(ctx, lease, metav1.UpdateOptions{FieldManager: fieldManager})
		}
	}
	if err != nil {
		return fmt.Errorf("create lease for node %s: %w", n.name, err)
	}
	n.mu.Lock()
	n.lease = lease
	n.mu.Unlock()
	return nil
}

// renewAll renews every live node's Lease, a bounded number at a time.
func (s *Simulator) renewAll(ctx context.Context) {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.cfg.Concurrency)
	var failed atomic.Int32
	for _, n := range s.order {
		if n.lost.Load() {
			continue
		}
		g.Go(func() error {
			if err := s.renewLease(gctx, n); err != nil && gctx.Err() == nil {
				if failed.Add(1) == 1 {
					s.log.Warn("renew lease failed; retrying next round", "node", n.name, "err", err)
				}
			}
			return nil
		})
	}
	_ = g.Wait()
	if f := failed.Load(); f > 1 {
		s.log.Warn("lease renewals failed this round", "failed", f)
	}
}

func (s *Simulator) renewLease(ctx context.Context, n *simNode) error {
	cctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	n.mu.Lock()
	lease := n.lease
	n.mu.Unlock()
	if lease == nil {
		return s.ensureLease(cctx, n)
	}
	lease = lease.DeepCopy()
	now := metav1.NewMicroTime(s.clk.Now())
	lease.Spec.RenewTime = &now
	got, err := s.client.CoordinationV1().Leases(LeaseNamespace).Update(cctx, lease, metav1.UpdateOptions{FieldManager: fieldManager})
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		// Someone else wrote (or deleted) it: start again from the server's copy.
		return s.ensureLease(cctx, n)
	}
	if err != nil {
		return fmt.Errorf("renew lease of node %s: %w", n.name, err)
	}
	n.mu.Lock()
	n.lease = got
	n.mu.Unlock()
	return nil
}

// onNode notices pod CIDRs and conditions others changed (the node
// lifecycle controller marking a node Unknown, say) so the node answers
// at once, as a kubelet does on its next status sync.
func (s *Simulator) onNode(obj interface{}) {
	node, ok := obj.(*corev1.Node)
	if !ok {
		return
	}
	n, ok := s.nodes[node.Name]
	if !ok {
		return
	}
	n.mu.Lock()
	cidrChanged := n.podCIDR != node.Spec.PodCIDR
	n.podCIDR = node.Spec.PodCIDR
	n.mu.Unlock()
	if cidrChanged {
		s.setPodRange(n, node.Spec.PodCIDR)
	}
	if !n.lost.Load() && !nodeIsHealthy(node.Status.Conditions) {
		s.nodeQueue.Add(node.Name)
	}
}

// setPodRange switches a node's new pods to its assigned pod CIDR;
// pods already running keep their addresses.
func (s *Simulator) setPodRange(n *simNode, cidr string) {
	_, block, err := net.ParseCIDR(cidr)
	if err != nil || block.IP.To4() == nil {
		return // only IPv4 pod ranges are simulated; keep the fake one
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	pool := newPodIPPool(block)
	for key, a := range s.podIPs {
		if a.node == n.name {
			pool.take(a.ip, key)
		}
	}
	n.pool = pool
}

func (s *Simulator) processNode(ctx context.Context) bool {
	name, shutdown := s.nodeQueue.Get()
	if shutdown {
		return false
	}
	defer s.nodeQueue.Done(name)
	if err := s.postStatus(ctx, name); err != nil && ctx.Err() == nil {
		s.log.Warn("post node status failed; retrying", "node", name, "err", err)
		s.nodeQueue.AddRateLimited(name)
		return true
	}
	s.nodeQueue.Forget(name)
	return true
}

// postStatus sends the node's heartbeat: its conditions, all healthy.
func (s *Simulator) postStatus(ctx context.Context, name string) error {
	n := s.nodes[name]
	if n == nil || n.lost.Load() {
		return nil
	}
	var current []corev1.NodeCondition
	if node, err := s.nodeLister.Get(name); err == nil {
		current = node.Status.Conditions
	}
	patch, err := json.Marshal(map[string]interface{}{
		"status": map[string]interface{}{"conditions": healthyConditions(current, metav1.NewTime(s.clk.Now()))},
	})
	if err != nil {
		return fmt.Errorf("encode node status patch: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	_, err = s.client.CoreV1().Nodes().Patch(cctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{FieldManager: fieldManager}, "status")
	if apierrors.IsNotFound(err) {
		// Deleted behind our back: register again, as a kubelet does.
		return s.register(ctx, n)
	}
	if err != nil {
		return fmt.Errorf("patch status of node %s: %w", name, err)
	}
	return nil
}

// --- pods ---------------------------------------------------------------------------

func (s *Simulator) onPod(obj interface{}) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if _, ours := s.nodes[pod.Spec.NodeName]; !ours {
		return
	}
	if key, err := cache.MetaNamespaceKeyFunc(pod); err == nil {
		s.podQueue.Add(key)
	}
}

func (s *Simulator) enqueuePodsOf(node string) {
	objs, err := s.podIndexer.ByIndex(podByNode, node)
	if err != nil {
		return
	}
	for _, o := range objs {
		s.onPod(o)
	}
}

// seedPodIPs records the addresses pods already have, before any new pod
// gets one, so a restarted simulator never hands out an address twice.
func (s *Simulator) seedPodIPs() {
	for _, n := range s.order {
		objs, err := s.podIndexer.ByIndex(podByNode, n.name)
		if err != nil {
			continue
		}
		for _, o := range objs {
			p := o.(*corev1.Pod)
			if p.Status.PodIP != "" && !p.Spec.HostNetwork {
				key, _ := cache.MetaNamespaceKeyFunc(p)
				s.recordIP(n, key, p.Status.PodIP)
			}
		}
	}
}

func (s *Simulator) recordIP(n *simNode, key, ip string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.podIPs[key]; ok && a.ip == ip {
		return
	}
	s.podIPs[key] = podAddr{node: n.name, ip: ip}
	n.pool.take(ip, key)
}

func (s *Simulator) podIP(n *simNode, key string, pod *corev1.Pod) (string, error) {
	if pod.Spec.HostNetwork {
		return n.ip.String(), nil
	}
	if pod.Status.PodIP != "" {
		s.recordIP(n, key, pod.Status.PodIP)
		return pod.Status.PodIP, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.podIPs[key]; ok && a.node == n.name {
		return a.ip, nil
	}
	ip, err := n.pool.allocate(key)
	if err != nil {
		return "", fmt.Errorf("address for pod %s on node %s: %w", key, n.name, err)
	}
	s.podIPs[key] = podAddr{node: n.name, ip: ip}
	return ip, nil
}

func (s *Simulator) forgetPod(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.podIPs[key]
	if !ok {
		return
	}
	delete(s.podIPs, key)
	if n := s.nodes[a.node]; n != nil {
		if n.pool.used[a.ip] == key {
			n.pool.release(a.ip)
		}
	}
}

func (s *Simulator) processPod(ctx context.Context) bool {
	key, shutdown := s.podQueue.Get()
	if shutdown {
		return false
	}
	defer s.podQueue.Done(key)
	after, err := s.syncPod(ctx, key)
	switch {
	case err != nil && ctx.Err() == nil:
		s.log.Debug("sync pod failed; retrying", "pod", key, "err", err)
		s.podQueue.AddRateLimited(key)
	case err == nil:
		s.podQueue.Forget(key)
		if after > 0 {
			s.podQueue.AddAfter(key, after)
		}
	}
	return true
}

// syncPod does what a kubelet would do for the pod now, and says when to
// look again.
func (s *Simulator) syncPod(ctx context.Context, key string) (time.Duration, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return 0, nil
	}
	pod, err := s.podLister.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		s.forgetPod(key)
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("get pod %s: %w", key, err)
	}
	n := s.nodes[pod.Spec.NodeName]
	if n == nil {
		s.forgetPod(key)
		return 0, nil
	}
	if n.lost.Load() {
		return 0, nil // picked up again when the node comes back
	}
	now := s.clk.Now()
	action, after := decidePod(pod, now, s.cfg.PodSucceedAfter)
	cctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	switch action {
	case podFinishDelete:
		zero := int64(0)
		err := s.client.CoreV1().Pods(ns).Delete(cctx, name, metav1.DeleteOptions{
			GracePeriodSeconds: &zero,
			Preconditions:      &metav1.Preconditions{UID: &pod.UID},
		})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return 0, fmt.Errorf("delete terminating pod %s: %w", key, err)
		}
		return 0, nil
	case podRun:
		ip, err := s.podIP(n, key, pod)
		if err != nil {
			return 0, err
		}
		return after, s.writeStatus(cctx, pod, runningStatus(pod, ip, n.ip.String(), metav1.NewTime(now)))
	case podSucceed:
		return 0, s.writeStatus(cctx, pod, succeededStatus(pod, metav1.NewTime(now)))
	}
	return 0, nil
}

// writeStatus sends status if it differs from what the pod has. A merge
// patch replaces the lists wholesale, which is what a kubelet's full
// status report means, and needs no resourceVersion.
func (s *Simulator) writeStatus(ctx context.Context, pod *corev1.Pod, status corev1.PodStatus) error {
	if apiequality.Semantic.DeepEqual(pod.Status, status) {
		return nil
	}
	patch, err := json.Marshal(map[string]interface{}{
		"metadata": map[string]interface{}{"uid": pod.UID},
		"status":   status,
	})
	if err != nil {
		return fmt.Errorf("encode pod status patch: %w", err)
	}
	_, err = s.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: fieldManager}, "status")
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("patch status of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}
