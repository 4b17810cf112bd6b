// Package agent owns Gureum's node agent, its kubelet: it registers the
// Node and keeps its Lease and status fresh, and runs one worker per pod
// bound to the node that drives the container runtime (through
// internal/cri) toward the pod's spec and reports the pod's status, with
// volumes, environment, restarts with back-off, hooks and termination.
// Only the composition root (internal/node) imports it.
package agent

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/clock"

	ctrlruntime "github.com/gureum/gureum/internal/controller/runtime"
	"github.com/gureum/gureum/internal/cri"
)

// Config is what the agent needs; zero durations take the kubelet's defaults.
type Config struct {
	Client kubernetes.Interface
	// EventClient records events; nil means Client. Kubelet gives events
	// a client of their own so that a burst of them (four per container
	// started) does not queue the status reports behind it.
	EventClient kubernetes.Interface
	Runtime     cri.Runtime
	NodeName    string
	// DataDir holds pod directories: volumes and container logs.
	DataDir string
	// NodeIP is the node's InternalIP and every pod's hostIP.
	NodeIP     string
	NodeLabels map[string]string
	Clock      clock.WithTickerAndDelayedExecution
	Log        *slog.Logger
	// Host reports machine facts (default: this machine).
	Host Host
	// Mounter mounts tmpfs for memory-backed emptyDirs (default: real mounts when root).
	Mounter Mounter
	// OnPodCIDR is called with the node's pod CIDRs once the server's IPAM
	// has set them, and again if they change; the CNI config needs them
	// before pods can get addresses.
	OnPodCIDR func(cidrs []string)

	MaxPods                int64         // 110
	LeaseDuration          time.Duration // 40s
	LeaseRenewPeriod       time.Duration // 10s
	NodeStatusUpdatePeriod time.Duration // 10s: how often status is checked
	NodeStatusReportPeriod time.Duration // 5m, as kubelet's nodeStatusReportFrequency: how often it is written even unchanged (the Lease is the heartbeat)
	// RelistPeriod is how often the runtime is listed to notice container
	// exits (default 1s).
	RelistPeriod time.Duration
	// BackoffBase and BackoffMax bound crash-loop and image pull back-off
	// (10s and 5m); BackoffReset forgets it after a container ran that long (10m).
	BackoffBase, BackoffMax, BackoffReset time.Duration
	// MinimumGracePeriod is the least time containers get to stop (2s).
	MinimumGracePeriod time.Duration
	// CgroupDriver is "cgroupfs" (default) or "systemd", as the runtime uses.
	CgroupDriver string
	// ClusterDNS are the cluster DNS service's addresses and ClusterDomain
	// its domain (default cluster.local): ClusterFirst pods resolve
	// through them.
	ClusterDNS    []string
	ClusterDomain string
	// ResolvConf is the host resolver file pods copy (default /etc/resolv.conf).
	ResolvConf string
	// AgentPort is where the agent serves logs, exec and port-forward; the
	// Node reports it as its kubelet endpoint (default 10250).
	AgentPort int32
}

// Agent is one node's agent.
type Agent struct {
	cfg   Config
	clk   clock.WithTickerAndDelayedExecution
	log   *slog.Logger
	paths podPaths

	podFactory informers.SharedInformerFactory
	objFactory informers.SharedInformerFactory
	// nodeFactory watches this node's own object, so a pod CIDR the
	// server assigns reaches the network setup at once, not at the next
	// status report.
	nodeFactory informers.SharedInformerFactory
	podInformer cache.SharedIndexInformer
	cmLister    corelisters.ConfigMapLister
	secLister   corelisters.SecretLister
	// svcLister serves the Services whose variables containers get.
	svcLister corelisters.ServiceLister
	synced    []cache.InformerSynced
	// tokens issues and caches projected service account tokens.
	tokens *tokenManager

	broadcaster record.EventBroadcaster
	recorder    record.EventRecorder
	probes      *probeManager

	cachesSynced chan struct{}
	registered   chan struct{}
	wg           sync.WaitGroup

	mu          sync.Mutex
	ctx         context.Context
	workers     map[types.UID]*podWorker
	backoffs    map[string]backoffEntry
	podCIDR     string
	runtimeName string
}

const uidIndex = "uid"

// New builds the agent; Run starts it.
func New(cfg Config) *Agent {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.LeaseDuration, 40*time.Second)
	def(&cfg.LeaseRenewPeriod, 10*time.Second)
	def(&cfg.NodeStatusUpdatePeriod, 10*time.Second)
	def(&cfg.NodeStatusReportPeriod, 5*time.Minute)
	def(&cfg.RelistPeriod, time.Second)
	def(&cfg.BackoffBase, defaultBackoff.Base)
	def(&cfg.BackoffMax, defaultBackoff.Max)
	def(&cfg.BackoffReset, defaultBackoff.Reset)
	def(&cfg.MinimumGracePeriod, 2*time.Second)
	if cfg.AgentPort == 0 {
		cfg.AgentPort = 10250
	}
	if cfg.MaxPods == 0 {
		cfg.MaxPods = 110
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Host == nil {
		cfg.Host = RealHost{}
	}
	if cfg.Mounter == nil {
		cfg.Mounter = RealMounter{}
	}
	if cfg.ResolvConf == "" {
		cfg.ResolvConf = "/etc/resolv.conf"
	}
	a := &Agent{
		cfg: cfg, clk: cfg.Clock, log: cfg.Log.With("component", "agent", "node", cfg.NodeName),
		paths:        podPaths{dataDir: cfg.DataDir},
		cachesSynced: make(chan struct{}),
		registered:   make(chan struct{}),
		workers:      map[types.UID]*podWorker{},
		backoffs:     map[string]backoffEntry{},
		runtimeName:  "containerd",
	}
	a.podFactory = informers.NewSharedInformerFactoryWithOptions(cfg.Client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", cfg.NodeName).String()
	}), informers.WithTransform(ctrlruntime.DropManagedFields))
	a.objFactory = informers.NewSharedInformerFactoryWithOptions(cfg.Client, 0, informers.WithTransform(ctrlruntime.DropManagedFields))
	a.nodeFactory = informers.NewSharedInformerFactoryWithOptions(cfg.Client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("metadata.name", cfg.NodeName).String()
	}))
	nodeChanged := func(obj any) {
		if n, ok := obj.(*v1.Node); ok {
			a.notePodCIDR(n)
		}
	}
	_, _ = a.nodeFactory.Core().V1().Nodes().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    nodeChanged,
		UpdateFunc: func(_, obj any) { nodeChanged(obj) },
	})
	a.podInformer = a.podFactory.Core().V1().Pods().Informer()
	_ = a.podInformer.AddIndexers(cache.Indexers{uidIndex: func(obj any) ([]string, error) {
		if p, ok := obj.(*v1.Pod); ok {
			return []string{string(p.UID)}, nil
		}
		return nil, nil
	}})
	cmInf := a.objFactory.Core().V1().ConfigMaps()
	secInf := a.objFactory.Core().V1().Secrets()
	// Services only feed environment variables, read when a container
	// starts, so they need no event handler. Pods wait for this cache to
	// sync like the others, so that no container starts without them.
	svcInf := a.objFactory.Core().V1().Services()
	a.cmLister, a.secLister, a.svcLister = cmInf.Lister(), secInf.Lister(), svcInf.Lister()
	a.synced = []cache.InformerSynced{a.podInformer.HasSynced, cmInf.Informer().HasSynced, secInf.Informer().HasSynced, svcInf.Informer().HasSynced}
	a.tokens = newTokenManager(clientTokenRequester{cfg.Client}, a.clk, a.log)

	_, _ = a.podInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { a.podChanged(obj) },
		UpdateFunc: func(_, obj any) { a.podChanged(obj) },
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if p, ok := obj.(*v1.Pod); ok {
				a.wake(p.UID)
			}
		},
	})
	objHandler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { a.objectChanged(obj) },
		UpdateFunc: func(_, obj any) { a.objectChanged(obj) },
		DeleteFunc: func(obj any) { a.objectChanged(obj) },
	}
	_, _ = cmInf.Informer().AddEventHandler(objHandler)
	_, _ = secInf.Informer().AddEventHandler(objHandler)

	a.broadcaster = record.NewBroadcaster()
	a.recorder = a.broadcaster.NewRecorder(scheme.Scheme, v1.EventSource{Component: "kubelet", Host: cfg.NodeName})
	a.probes = newProbeManager(cfg.Runtime, a.recorder, a.clk, a.log, a.wake)
	return a
}

// Run registers the node and runs pods until ctx ends.
func (a *Agent) Run(ctx context.Context) error {
	if err := os.MkdirAll(a.paths.pod(""), 0o755); err != nil {
		return fmt.Errorf("create pods dir: %w", err)
	}
	if v, err := a.cfg.Runtime.Version(ctx, &runtimeapi.VersionRequest{}); err == nil && v.RuntimeName != "" {
		a.mu.Lock()
		a.runtimeName = v.RuntimeName
		a.mu.Unlock()
	}
	a.mu.Lock()
	a.ctx = ctx
	a.mu.Unlock()
	events := a.cfg.EventClient
	if events == nil {
		events = a.cfg.Client
	}
	a.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: events.CoreV1().Events("")})
	defer a.broadcaster.Shutdown()

	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.runNode(ctx)
	}()
	a.podFactory.Start(ctx.Done())
	a.objFactory.Start(ctx.Done())
	a.nodeFactory.Start(ctx.Done())
	defer a.podFactory.Shutdown()
	defer a.objFactory.Shutdown()
	defer a.nodeFactory.Shutdown()
	// Probe workers end with ctx; pod workers start them, so they are
	// waited for after the pod workers.
	defer a.probes.wait()
	if !cache.WaitForCacheSync(ctx.Done(), a.synced...) {
		a.wg.Wait()
		return nil
	}
	close(a.cachesSynced)
	a.log.Info("agent running")
	a.relist(ctx, nil)
	a.runRelist(ctx)
	a.wg.Wait()
	return nil
}

// Registered is closed once the Node object exists.
func (a *Agent) Registered() <-chan struct{} { return a.registered }

// lister adapts the informers to objectSource.
type lister struct{ a *Agent }

func (l lister) ConfigMap(ns, name string) (*v1.ConfigMap, error) {
	return l.a.cmLister.ConfigMaps(ns).Get(name)
}
func (l lister) Secret(ns, name string) (*v1.Secret, error) {
	return l.a.secLister.Secrets(ns).Get(name)
}
func (l lister) Services(ns string) ([]*v1.Service, error) {
	return l.a.svcLister.Services(ns).List(labels.Everything())
}

func (a *Agent) podByUID(uid types.UID) *v1.Pod {
	objs, _ := a.podInformer.GetIndexer().ByIndex(uidIndex, string(uid))
	for _, o := range objs {
		if p, ok := o.(*v1.Pod); ok {
			return p
		}
	}
	return nil
}

func (a *Agent) podChanged(obj any) {
	p, ok := obj.(*v1.Pod)
	if !ok {
		return
	}
	a.mu.Lock()
	w, ok := a.workers[p.UID]
	if !ok && a.ctx != nil {
		w = newPodWorker(p.UID)
		a.workers[p.UID] = w
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			a.runWorker(a.ctx, w)
		}()
	}
	a.mu.Unlock()
	if w != nil {
		w.notify()
	}
}

func (a *Agent) wake(uid types.UID) {
	a.mu.Lock()
	w := a.workers[uid]
	a.mu.Unlock()
	if w != nil {
		w.notify()
	}
}

// objectChanged wakes pods that mount a changed ConfigMap or Secret, so
// their volume files follow it.
func (a *Agent) objectChanged(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	var ns, name string
	isSecret := false
	switch o := obj.(type) {
	case *v1.ConfigMap:
		ns, name = o.Namespace, o.Name
	case *v1.Secret:
		ns, name, isSecret = o.Namespace, o.Name, true
	default:
		return
	}
	for _, o := range a.podInformer.GetIndexer().List() {
		p, ok := o.(*v1.Pod)
		if ok && p.Namespace == ns && podUsesObject(p, name, isSecret) {
			a.wake(p.UID)
		}
	}
}

// podUsesObject reports whether a pod refers to the ConfigMap/Secret in
// a volume or its environment.
func podUsesObject(p *v1.Pod, name string, secret bool) bool {
	for _, v := range p.Spec.Volumes {
		switch {
		case !secret && v.ConfigMap != nil && v.ConfigMap.Name == name:
			return true
		case secret && v.Secret != nil && v.Secret.SecretName == name:
			return true
		case v.Projected != nil:
			for _, s := range v.Projected.Sources {
				if (!secret && s.ConfigMap != nil && s.ConfigMap.Name == name) || (secret && s.Secret != nil && s.Secret.Name == name) {
					return true
				}
			}
		}
	}
	for _, c := range append(append([]v1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...) {
		for _, e := range c.EnvFrom {
			if (!secret && e.ConfigMapRef != nil && e.ConfigMapRef.Name == name) || (secret && e.SecretRef != nil && e.SecretRef.Name == name) {
				return true
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom == nil {
				continue
			}
			if (!secret && e.ValueFrom.ConfigMapKeyRef != nil && e.ValueFrom.ConfigMapKeyRef.Name == name) ||
				(secret && e.ValueFrom.SecretKeyRef != nil && e.ValueFrom.SecretKeyRef.Name == name) {
				return true
			}
		}
	}
	return false
}

// runRelist lists the runtime every RelistPeriod, like the kubelet's PLEG,
// and wakes the pods whose containers changed state.
func (a *Agent) runRelist(ctx context.Context) {
	tick := a.clk.NewTicker(a.cfg.RelistPeriod)
	defer tick.Stop()
	prev := map[string]runtimeapi.ContainerState{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C():
			prev = a.relist(ctx, prev)
		}
	}
}

func (a *Agent) relist(ctx context.Context, prev map[string]runtimeapi.ContainerState) map[string]runtimeapi.ContainerState {
	cs, err := a.cfg.Runtime.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
	if err != nil {
		if ctx.Err() == nil {
			a.log.Warn("relist containers failed", "err", err)
		}
		return prev
	}
	now := map[string]runtimeapi.ContainerState{}
	changed := map[types.UID]bool{}
	for _, c := range cs.Containers {
		now[c.Id] = c.State
		if old, ok := prev[c.Id]; !ok || old != c.State {
			changed[types.UID(c.Labels[labelPodUID])] = true
		}
	}
	for id := range prev {
		if _, ok := now[id]; !ok {
			changed[""] = true // a removal wakes nobody: its worker removed it
		}
	}
	if prev != nil {
		for uid := range changed {
			a.wake(uid)
		}
	}
	a.collectOrphans(ctx)
	return now
}

// collectOrphans removes sandboxes of pods that no longer exist on this
// node (deleted while the agent was down, or moved away).
func (a *Agent) collectOrphans(ctx context.Context) {
	sbs, err := a.cfg.Runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return
	}
	for _, s := range sbs.Items {
		uid := types.UID(s.Labels[labelPodUID])
		if uid == "" || a.podByUID(uid) != nil {
			continue
		}
		a.mu.Lock()
		_, hasWorker := a.workers[uid]
		a.mu.Unlock()
		if hasWorker {
			continue
		}
		a.log.Info("removing sandbox of a pod that no longer exists", "sandbox", s.Id, "pod", s.GetMetadata().GetNamespace()+"/"+s.GetMetadata().GetName())
		if err := a.removeSandboxes(ctx, []string{s.Id}); err != nil {
			a.log.Warn("remove orphan sandbox failed", "sandbox", s.Id, "err", err)
			continue
		}
		_ = volumeSetup{paths: a.paths, mounter: a.cfg.Mounter}.cleanup(nil, string(uid))
	}
}

func (a *Agent) removeSandboxes(ctx context.Context, ids []string) error {
	for _, id := range ids {
		if _, err := a.cfg.Runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
			return fmt.Errorf("stop sandbox %s: %w", id, err)
		}
		if _, err := a.cfg.Runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
			return fmt.Errorf("remove sandbox %s: %w", id, err)
		}
	}
	return nil
}
