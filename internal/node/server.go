// Package node is Gureum's composition root: it builds the components of
// `gureum server`, `gureum up` and `gureum agent` (store, certificates, API
// server, scheduler, controllers, cluster DNS; containerd, CNI, the pod
// agent and the service proxy), runs them, and reports readiness. Only
// internal/cli (and internal/testenv) import it.
package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	apiregistrationclient "k8s.io/kube-aggregator/pkg/client/clientset_generated/clientset/typed/apiregistration/v1"
	"k8s.io/utils/clock"

	"github.com/gureum/gureum/internal/api"
	"github.com/gureum/gureum/internal/apiserver"
	"github.com/gureum/gureum/internal/apiserver/openapi"
	"github.com/gureum/gureum/internal/image"
	"github.com/gureum/gureum/internal/image/pause"
	"github.com/gureum/gureum/internal/imageregistry"
	"github.com/gureum/gureum/internal/pki"
	"github.com/gureum/gureum/internal/serviceaccount"
	"github.com/gureum/gureum/internal/store"
)

// ServerConfig is what `gureum server` is told on its command line.
type ServerConfig struct {
	DataDir        string
	BindAddress    string
	HTTPSPort      int
	EtcdClientPort int
	EtcdPeerPort   int
	EtcdEndpoints  []string
	// EtcdCompactionInterval is how often etcd history is compacted (kept:
	// one to two intervals); 0 leaves history alone.
	EtcdCompactionInterval time.Duration
	DisableAgent           bool
	WriteKubeconfig        string
	ServiceCIDR            string
	// ClusterCIDR is where nodes' pod CIDRs are carved from.
	ClusterCIDR string
	// AgentPort and NodeName configure the local agent.
	AgentPort int
	NodeName  string
	// CoreControllersOnly runs just the namespace, service account and
	// root CA controllers, leaving scheduling and workloads to whoever
	// runs them (tests of a single controller).
	CoreControllersOnly bool
	// LoadBalancerPool lists the addresses (CIDRs, ranges a-b or single
	// IPs) LoadBalancer Services get; empty means the nodes' addresses.
	LoadBalancerPool []string
	// ClusterDNSPort is where cluster DNS listens on this machine's address
	// (behind the kube-dns Service); ClusterDomain is its domain.
	ClusterDNSPort int
	ClusterDomain  string
	// Ready, when set, is called once the server answers requests.
	Ready func(kubeconfigPath string)
	Log   *slog.Logger
}

// DefaultClusterCIDR is where pod addresses come from unless
// --cluster-cidr says otherwise.
const DefaultClusterCIDR = "10.42.0.0/16"

// DefaultDataDir is /var/lib/gureum for root and ~/.local/share/gureum
// otherwise.
func DefaultDataDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/gureum"
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".gureum"
	}
	return filepath.Join(home, ".local", "share", "gureum")
}

// RunServer runs the control plane until ctx ends.
func RunServer(ctx context.Context, cfg ServerConfig) error {
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	start := time.Now()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir %s: %w", cfg.DataDir, err)
	}
	tlsDir := filepath.Join(cfg.DataDir, "tls")
	if err := os.MkdirAll(tlsDir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", tlsDir, err)
	}
	ca, err := pki.LoadOrCreateCA(tlsDir)
	if err != nil {
		return err
	}
	_, serviceNet, err := net.ParseCIDR(cfg.ServiceCIDR)
	if err != nil {
		return fmt.Errorf("parse service CIDR %q: %w", cfg.ServiceCIDR, err)
	}
	if cfg.ClusterCIDR == "" {
		cfg.ClusterCIDR = DefaultClusterCIDR
	}
	if cfg.ClusterDNSPort == 0 {
		cfg.ClusterDNSPort = DefaultClusterDNSPort
	}
	if cfg.ClusterDomain == "" {
		cfg.ClusterDomain = DefaultClusterDomain
	}
	_, clusterNet, err := net.ParseCIDR(cfg.ClusterCIDR)
	if err != nil {
		return fmt.Errorf("parse cluster CIDR %q: %w", cfg.ClusterCIDR, err)
	}
	serving, err := ca.LoadOrIssueServing(tlsDir, servingHosts(cfg.BindAddress, serviceNet))
	if err != nil {
		return err
	}
	nodeToken, err := loadOrCreateToken(filepath.Join(cfg.DataDir, "token"))
	if err != nil {
		return err
	}
	saKey, err := pki.LoadOrCreateSigningKey(filepath.Join(tlsDir, "service-account.key"))
	if err != nil {
		return err
	}
	saIssuer, err := serviceaccount.NewIssuer(saKey, "https://kubernetes.default.svc."+cfg.ClusterDomain, nil, clock.RealClock{})
	if err != nil {
		return err
	}

	listener, err := net.Listen("tcp", net.JoinHostPort(cfg.BindAddress, strconv.Itoa(cfg.HTTPSPort)))
	if err != nil {
		return fmt.Errorf("listen on %s:%d (is another server running? pick another --https-port): %w", cfg.BindAddress, cfg.HTTPSPort, err)
	}
	defer listener.Close()

	var st *store.Store
	if len(cfg.EtcdEndpoints) > 0 {
		st, err = store.Connect(ctx, cfg.EtcdEndpoints, log.With("component", "store"))
	} else {
		st, err = store.StartEmbedded(ctx, store.EmbeddedConfig{DataDir: cfg.DataDir, ClientPort: cfg.EtcdClientPort, PeerPort: cfg.EtcdPeerPort}, log.With("component", "etcd"))
	}
	if err != nil {
		return err
	}
	defer st.Close()

	images, err := imageregistry.New(filepath.Join(cfg.DataDir, "registry"), log.With("component", "imageregistry"))
	if err != nil {
		return err
	}
	if err := storeSandboxImage(images); err != nil {
		return err
	}

	reg := api.NewRegistry(api.DefaultResources())
	oapi, err := openapi.New(reg)
	if err != nil {
		return fmt.Errorf("build openapi: %w", err)
	}
	srv, err := apiserver.New(apiserver.Config{
		Listener: listener,
		CA:       ca,
		Serving:  serving,
		Store:    st,
		Registry: reg,
		Tokens: map[string]apiserver.UserInfo{
			nodeToken: {Name: "gureum-node", Groups: []string{"system:nodes"}},
		},
		ServiceAccounts:          saIssuer,
		ServiceCIDR:              serviceNet,
		Images:                   images,
		OpenAPI:                  oapi,
		TypeConverter:            oapi.TypeConverter(),
		OnCustomResourcesChanged: oapi.SetCustomResources,
		CustomTypeConverter:      oapi.CustomTypeConverter,
		Clock:                    clock.RealClock{},
		Log:                      log.With("component", "apiserver"),
	})
	if err != nil {
		return err
	}

	url := "https://" + net.JoinHostPort(loopbackFor(cfg.BindAddress), strconv.Itoa(listener.Addr().(*net.TCPAddr).Port))
	adminKubeconfig := filepath.Join(cfg.DataDir, "kubeconfig.yaml")
	if err := writeAdminKubeconfig(ca, url, adminKubeconfig); err != nil {
		return err
	}
	if cfg.WriteKubeconfig != "" && cfg.WriteKubeconfig != adminKubeconfig {
		if err := writeAdminKubeconfig(ca, url, cfg.WriteKubeconfig); err != nil {
			return err
		}
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Run(gctx) })
	if cfg.EtcdCompactionInterval > 0 {
		compactor := store.NewCompactor(st, cfg.EtcdCompactionInterval, clock.RealClock{}, log.With("component", "compactor"))
		g.Go(func() error { return compactor.Run(gctx) })
	}
	g.Go(func() error {
		if err := waitReady(gctx, srv); err != nil {
			return nil
		}
		restCfg := inProcessRESTConfig(srv)
		client, err := kubernetes.NewForConfig(restCfg)
		if err != nil {
			return fmt.Errorf("build client: %w", err)
		}
		if err := bootstrap(gctx, client, serviceNet, advertiseIP(cfg.BindAddress, log), listener.Addr().(*net.TCPAddr).Port, log); err != nil {
			return fmt.Errorf("bootstrap cluster objects: %w", err)
		}
		if err := startAdmission(gctx, srv, restCfg, log.With("component", "admission")); err != nil {
			return err
		}
		aggregation, err := apiregistrationclient.NewForConfig(restCfg)
		if err != nil {
			return fmt.Errorf("build apiregistration client: %w", err)
		}
		if err := bootstrapAPIServices(gctx, aggregation, reg.GroupVersions()); err != nil {
			return fmt.Errorf("bootstrap apiservices: %w", err)
		}
		log.Info("server ready", "url", url, "kubeconfig", kubeconfigPath(cfg, adminKubeconfig), "startup", time.Since(start).String())
		if cfg.Ready != nil {
			cfg.Ready(kubeconfigPath(cfg, adminKubeconfig))
		}
		g.Go(func() error { return releaseMemory(gctx, clock.RealClock{}, log) })
		return controlLoops{
			RESTConfig:  restCfg,
			Client:      client,
			CACertPEM:   ca.CertPEM,
			TokenSigner: saIssuer,
			ClusterCIDR: clusterNet,
			LBPool:      cfg.LoadBalancerPool,
			DNS: clusterDNS{
				Client:    client,
				ServiceIP: clusterDNSIP(serviceNet),
				HostIP:    hostIP(),
				Port:      cfg.ClusterDNSPort,
				Domain:    cfg.ClusterDomain,
				Log:       log.With("component", "dns"),
			},
			CoreOnly: cfg.CoreControllersOnly,
			Clock:    clock.RealClock{},
			Log:      log,
		}.start(gctx, g)
	})
	if !cfg.DisableAgent {
		g.Go(func() error {
			if err := waitReady(gctx, srv); err != nil {
				return nil
			}
			return RunAgent(gctx, AgentConfig{
				ServerURL:     url,
				Token:         nodeToken,
				CAFile:        filepath.Join(tlsDir, "ca.crt"),
				NodeName:      cfg.NodeName,
				DataDir:       filepath.Join(cfg.DataDir, "agent"),
				Port:          cfg.AgentPort,
				ClusterCIDR:   cfg.ClusterCIDR,
				ClusterDNS:    []string{clusterDNSIP(serviceNet).String()},
				ClusterDomain: cfg.ClusterDomain,
				Log:           log.With("component", "agent"),
			})
		})
	}
	err = g.Wait()
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// storeSandboxImage puts the project's pause image into the registry, so
// every node's runtime can pull it through the mirror.
func storeSandboxImage(images *imageregistry.Registry) error {
	img, err := pause.Image()
	if err != nil {
		return fmt.Errorf("build sandbox image: %w", err)
	}
	repo, tag, err := image.Repository(pause.Reference)
	if err != nil {
		return err
	}
	if _, err := images.PutImage(repo, tag, img); err != nil {
		return fmt.Errorf("store sandbox image: %w", err)
	}
	return nil
}

func kubeconfigPath(cfg ServerConfig, admin string) string {
	if cfg.WriteKubeconfig != "" {
		return cfg.WriteKubeconfig
	}
	return admin
}

func waitReady(ctx context.Context, srv *apiserver.Server) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for !srv.Ready() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// loopbackFor is the address local clients use to reach a server bound to
// bind.
func loopbackFor(bind string) string {
	ip := net.ParseIP(bind)
	if bind == "" || ip == nil || ip.IsUnspecified() {
		return "127.0.0.1"
	}
	return bind
}

// servingHosts are the names the serving certificate must cover: loopback,
// this host's names and addresses, and the kubernetes Service.
func servingHosts(bind string, serviceNet *net.IPNet) []string {
	hosts := []string{"localhost", "127.0.0.1", "::1", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}
	if h, err := os.Hostname(); err == nil {
		hosts = append(hosts, h)
	}
	if ip := net.ParseIP(bind); ip != nil && !ip.IsUnspecified() {
		hosts = append(hosts, ip.String())
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLinkLocalUnicast() {
				hosts = append(hosts, ipn.IP.String())
			}
		}
	}
	hosts = append(hosts, firstServiceIP(serviceNet).String())
	seen := map[string]bool{}
	out := hosts[:0]
	for _, h := range hosts {
		if !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	return out
}

func firstServiceIP(n *net.IPNet) net.IP {
	ip := make(net.IP, 4)
	copy(ip, n.IP.To4())
	ip[3]++
	return ip
}

// loadOrCreateToken keeps the node join token in path.
func loadOrCreateToken(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	buf := make([]byte, 24)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("generate token: %w", err)
	}
	tok := hex.EncodeToString(buf)
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return tok, nil
}

// inProcessRESTConfig is how the components running beside the API server
// reach it: through its handler in this process, as a member of
// system:masters, skipping TLS and the loopback socket.
func inProcessRESTConfig(srv *apiserver.Server) *rest.Config {
	return &rest.Config{
		Host:      "http://gureum.in-process",
		Transport: srv.InProcessTransport(apiserver.UserInfo{Name: "gureum-internal", Groups: []string{"system:masters"}}),
		// One limiter for every controller and the scheduler together: it
		// guards against a loop gone hot, not pacing. At 1,000/s it set
		// the pace of a 10,000-pod burst (its creates, bindings and events
		// waited on it with CPU to spare: every pod was bound 21 s
		// after the start against 13 s without it).
		QPS:       5000,
		Burst:     10000,
		UserAgent: "gureum-server",
		// The controllers' traffic is the server's biggest load.
		ContentConfig: ProtobufContent,
	}
}

// ProtobufContent makes a typed clientset send and read protobuf (lists,
// gets and watch streams), as kubelet and kube-controller-manager do:
// both sides then pay a fraction of JSON's encoding and decoding, and the
// objects decoded from it take less memory. JSON stays acceptable for
// kinds without a protobuf form.
var ProtobufContent = rest.ContentConfig{
	ContentType:        "application/vnd.kubernetes.protobuf",
	AcceptContentTypes: "application/vnd.kubernetes.protobuf,application/json",
}
