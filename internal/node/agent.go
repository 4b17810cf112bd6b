package node

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"

	"github.com/gureum/gureum/internal/agent"
	"github.com/gureum/gureum/internal/agent/streaming"
	"github.com/gureum/gureum/internal/containerd"
	"github.com/gureum/gureum/internal/cri"
	"github.com/gureum/gureum/internal/image/pause"
	"github.com/gureum/gureum/internal/network/cni"
	"github.com/gureum/gureum/internal/network/proxy"
)

// AgentConfig is what `gureum agent` is told on its command line (and what
// `gureum server` gives its own agent).
type AgentConfig struct {
	ServerURL string
	Token     string
	// CAFile is the cluster CA that signs the server's certificate.
	CAFile   string
	NodeName string
	// NodeIP is the node's InternalIP; empty picks the address of the
	// interface holding the default route.
	NodeIP  string
	DataDir string
	// Port serves logs, exec, attach and port-forward to the API server.
	Port int
	// RuntimeEndpoint uses an existing CRI runtime (which then brings its
	// own pod networking) instead of supervising Gureum's containerd.
	RuntimeEndpoint string
	// ClusterCIDR is the cluster's pod range; the service proxy
	// masquerades traffic from outside it. Empty means DefaultClusterCIDR.
	ClusterCIDR string
	// ClusterDNS and ClusterDomain are what ClusterFirst pods resolve
	// through (the kube-dns Service's address, cluster.local).
	ClusterDNS    []string
	ClusterDomain string
	// DisableServiceProxy leaves Service addresses to another proxy.
	DisableServiceProxy bool
	// Registered, when set, is called once the Node object exists.
	Registered func(nodeName string)
	Log        *slog.Logger
}

// DefaultAgentPort is the kubelet's port, which Gureum's agent takes too.
const DefaultAgentPort = 10250

// RunAgent runs a node agent until ctx ends.
func RunAgent(ctx context.Context, cfg AgentConfig) error {
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	if cfg.ServerURL == "" || cfg.Token == "" {
		return errors.New("agent: --server and --token are required (the token is DATA_DIR/token on the server)")
	}
	if cfg.Port == 0 {
		cfg.Port = DefaultAgentPort
	}
	caPEM, err := os.ReadFile(cfg.CAFile)
	if err != nil {
		return fmt.Errorf("read cluster CA %s (copy the server's DATA_DIR/tls/ca.crt and pass --ca-file): %w", cfg.CAFile, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return fmt.Errorf("cluster CA %s holds no PEM certificate", cfg.CAFile)
	}
	if cfg.NodeName == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("node name: %w (pass --node-name)", err)
		}
		cfg.NodeName = strings.ToLower(h)
	}
	if cfg.NodeIP == "" {
		cfg.NodeIP = defaultNodeIP(cfg.ServerURL)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create agent data dir %s: %w", cfg.DataDir, err)
	}
	restCfg := &rest.Config{
		Host:            cfg.ServerURL,
		BearerToken:     cfg.Token,
		TLSClientConfig: rest.TLSClientConfig{CAData: caPEM},
		QPS:             50,
		Burst:           100,
		UserAgent:       "gureum-agent/" + cfg.NodeName,
		ContentConfig:   ProtobufContent,
	}
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return fmt.Errorf("build client: %w", err)
	}
	// Events get their own rate limit, as kubelet's do (its event QPS and
	// burst are the same 50 and 100).
	eventClient, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return fmt.Errorf("build event client: %w", err)
	}
	listener, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(cfg.Port)))
	if err != nil {
		return fmt.Errorf("listen on agent port %d (another agent or kubelet running? pick --agent-port): %w", cfg.Port, err)
	}
	defer listener.Close()

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return releaseMemory(gctx, clock.RealClock{}, log) })
	endpoint := cfg.RuntimeEndpoint
	var cniConfDir, ipamDir string
	cgroupDriver := ""
	if endpoint == "" {
		sup := containerd.New(containerd.Config{
			DataDir:      cfg.DataDir,
			SandboxImage: pause.Reference,
			RegistryMirror: containerd.Mirror{
				URL:        strings.TrimSuffix(cfg.ServerURL, "/"),
				CAFile:     cfg.CAFile,
				AuthHeader: "Bearer " + cfg.Token,
			},
			Clock: clock.RealClock{},
			Log:   log.With("component", "containerd"),
		})
		g.Go(func() error { return sup.Run(gctx) })
		select {
		case <-sup.Ready():
		case <-gctx.Done():
			return g.Wait()
		}
		endpoint = sup.Endpoint()
		cniConfDir, ipamDir = sup.Paths().CNIConfDir, sup.Paths().IPAMDataDir
		cgroupDriver = string(sup.Host().CgroupDriver)
		log.Info("container runtime ready", "endpoint", endpoint, "startup", sup.StartupTime().String())
	}
	rt, err := cri.Dial(gctx, endpoint)
	if err != nil {
		return fmt.Errorf("connect to container runtime %s: %w", endpoint, err)
	}
	defer rt.Close()

	var cniMu sync.Mutex
	onPodCIDR := func(cidrs []string) {
		if cniConfDir == "" || len(cidrs) == 0 {
			return
		}
		cniMu.Lock()
		defer cniMu.Unlock()
		prefix, err := netip.ParsePrefix(cidrs[0])
		if err != nil {
			log.Error("node pod CIDR is not a prefix", "cidr", cidrs[0], "err", err)
			return
		}
		// The service proxy masquerades pods' egress (one nftables rule);
		// without it the bridge plugin has to, a chain per pod.
		conf, err := cni.Render(cni.Config{PodCIDR: prefix, IPAMDataDir: ipamDir, IPMasq: cfg.DisableServiceProxy})
		if err != nil {
			log.Error("render CNI config", "err", err)
			return
		}
		if err := cni.Install(cniConfDir, conf); err != nil {
			log.Error("install CNI config", "err", err)
			return
		}
		log.Info("pod network configured", "podCIDR", prefix.String())
	}
	ag := agent.New(agent.Config{
		Client:        client,
		EventClient:   eventClient,
		Runtime:       rt,
		NodeName:      cfg.NodeName,
		DataDir:       filepath.Join(cfg.DataDir, "kubelet"),
		NodeIP:        cfg.NodeIP,
		OnPodCIDR:     onPodCIDR,
		CgroupDriver:  cgroupDriver,
		AgentPort:     int32(cfg.Port),
		ClusterDNS:    cfg.ClusterDNS,
		ClusterDomain: cfg.ClusterDomain,
		Clock:         clock.RealClock{},
		Log:           log,
	})
	g.Go(func() error { return ag.Run(gctx) })
	if !cfg.DisableServiceProxy {
		// Pod egress is masqueraded by the proxy only on the pod network
		// the agent configures; another runtime's network masquerades
		// (or routes) on its own.
		sp, err := newServiceProxy(cfg, client, cniConfDir != "", log.With("component", "service-proxy"))
		if err != nil {
			return err
		}
		g.Go(func() error { return sp.Run(gctx) })
	}
	g.Go(func() error {
		ips := []net.IP{net.ParseIP(cfg.NodeIP)}
		srv := streaming.New(streaming.Config{Runtime: rt, ClientCAs: pool, NodeName: cfg.NodeName, NodeIPs: ips, Log: log.With("component", "agent-streaming")})
		return srv.Run(gctx, listener)
	})
	if cfg.Registered != nil {
		g.Go(func() error {
			select {
			case <-ag.Registered():
				cfg.Registered(cfg.NodeName)
			case <-gctx.Done():
			}
			return nil
		})
	}
	err = g.Wait()
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// defaultNodeIP is the source address this machine uses for its default
// route, falling back to the one it uses to reach the server. Dialing UDP
// sends nothing; it only asks the kernel to pick a route.
func defaultNodeIP(serverURL string) string {
	for _, target := range []string{"192.0.2.1:9", serverHost(serverURL)} {
		if target == "" {
			continue
		}
		c, err := net.DialTimeout("udp", target, time.Second)
		if err != nil {
			continue
		}
		ip := c.LocalAddr().(*net.UDPAddr).IP
		c.Close()
		if !ip.IsUnspecified() {
			return ip.String()
		}
	}
	return "127.0.0.1"
}

func serverHost(serverURL string) string {
	u, err := url.Parse(serverURL)
	if err != nil || u.Host == "" {
		return ""
	}
	if u.Port() == "" {
		return net.JoinHostPort(u.Hostname(), "443")
	}
	return u.Host
}

// newServiceProxy builds the node's service proxy (nftables table
// ip gureum-proxy) after setting the sysctls it needs.
func newServiceProxy(cfg AgentConfig, client kubernetes.Interface, masqueradePodEgress bool, log *slog.Logger) (*proxy.Proxy, error) {
	cidr := cfg.ClusterCIDR
	if cidr == "" {
		cidr = DefaultClusterCIDR
	}
	_, clusterNet, err := net.ParseCIDR(cidr)
	if err != nil {
		return nil, fmt.Errorf("parse cluster CIDR %q: %w", cidr, err)
	}
	if err := proxy.EnableKernelSettings(); err != nil {
		return nil, fmt.Errorf("service proxy kernel settings: %w", err)
	}
	var nodeIPs []net.IP
	if ip := net.ParseIP(cfg.NodeIP); ip != nil && !ip.IsLoopback() {
		nodeIPs = append(nodeIPs, ip)
	}
	return proxy.New(proxy.Config{
		Client: client, NodeName: cfg.NodeName, NodeIPs: nodeIPs, ClusterCIDR: clusterNet,
		MasqueradePodEgress: masqueradePodEgress, PodBridge: cni.DefaultBridge,
		Applier: &proxy.NFTApplier{}, Clock: clock.RealClock{}, Log: log,
	}), nil
}
