package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/gureum/gureum/internal/pki"
)

// peerPrefix is the etcd prefix of the upstream kube-apiserver: it shares
// the main server's embedded etcd but never its keys (Gureum's are under
// /registry/).
const peerPrefix = "/kube-peer"

// peerServer is an upstream kube-apiserver (-peer-apiserver) run against
// the main server's embedded etcd, so the write benchmark has a peer
// measured on the same machine, etcd and clients in the same run.
type peerServer struct {
	proc    *server // the kube-apiserver process (stop, cpuTime, statusBytes)
	args    []string
	version string
	cfg     *rest.Config
	admin   kubernetes.Interface
	started time.Duration // exec to the first ok from /readyz

	// RSS of kube-apiserver alone (etcd is in the Gureum process) after
	// idling c.idle from ready.
	rss, rssAnon, rssFile int64

	mu      sync.Mutex
	clients []kubernetes.Interface
}

// startPeer starts kube-apiserver on the etcd of e's server and waits for
// /readyz. Its TLS material comes from the Gureum data dir: a serving
// certificate issued from the cluster CA (so the benchmark's kubeconfig
// trusts it), that CA as --client-ca-file (so the kubeconfig's admin
// client certificate, group system:masters, authenticates), and the
// service-account key.
func startPeer(ctx context.Context, c config, e *env) (*peerServer, error) {
	dir := filepath.Join(c.workDir, "kube-apiserver")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	tlsDir := filepath.Join(e.srv.dir, "tls")
	ca, err := pki.LoadOrCreateCA(tlsDir)
	if err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := ca.Issue("kube-apiserver-peer", nil, []string{"127.0.0.1", "localhost"}, 24*time.Hour)
	if err != nil {
		return nil, err
	}
	certFile, keyFile := filepath.Join(dir, "serving.crt"), filepath.Join(dir, "serving.key")
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		return nil, err
	}
	saKey := filepath.Join(tlsDir, "service-account.key")
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	port := ports[0]
	args := []string{
		"--etcd-servers=http://127.0.0.1:" + strconv.Itoa(e.srv.etcdPort),
		"--etcd-prefix=" + peerPrefix,
		// The etcd is Gureum's, which compacts it itself (periodic, 5 min
		// retention); a second compactor would only add noise.
		"--etcd-compaction-interval=0",
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--advertise-address=127.0.0.1",
		// No Endpoints for the kubernetes Service: a loopback address is
		// not a valid endpoint, and nothing here needs one.
		"--endpoint-reconciler-type=none",
		// Upstream's default, given explicitly (it warns when left out).
		"--service-cluster-ip-range=10.0.0.0/24",
		"--cert-dir=" + dir,
		"--tls-cert-file=" + certFile,
		"--tls-private-key-file=" + keyFile,
		"--client-ca-file=" + filepath.Join(tlsDir, "ca.crt"),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + saKey,
		"--service-account-signing-key-file=" + saKey,
		"--authorization-mode=RBAC",
	}
	// BENCH_PEER_ARGS adds flags to kube-apiserver (last wins for most).
	args = append(args, strings.Fields(os.Getenv("BENCH_PEER_ARGS"))...)

	logFile, err := os.Create(filepath.Join(c.workDir, "kube-apiserver.log"))
	if err != nil {
		return nil, err
	}
	s := &server{bin: c.peer, dir: dir, httpsPort: port, log: logFile, done: make(chan struct{})}
	s.cmd = exec.Command(c.peer, args...)
	s.cmd.Stdout = logFile
	s.cmd.Stderr = logFile
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}

	cfg := rest.CopyConfig(e.cfg)
	cfg.Host = "https://127.0.0.1:" + strconv.Itoa(port)
	p := &peerServer{proc: s, args: args, cfg: cfg}
	hc, err := rest.HTTPClientFor(p.restConfig())
	if err != nil {
		logFile.Close()
		return nil, err
	}
	hc.Timeout = 2 * time.Second

	start := time.Now()
	if err := s.cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", c.peer, err)
	}
	s.track()
	// /readyz with the admin certificate: anonymous access to it depends
	// on RBAC's bootstrap roles, which are among the things being waited
	// for.
	deadline := time.Now().Add(120 * time.Second)
	for {
		resp, err := hc.Get(cfg.Host + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && strings.TrimSpace(string(body)) == "ok" {
				p.started = time.Since(start)
				break
			}
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("kube-apiserver exited before ready (%v); see %s", s.waitErr, logFile.Name())
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("kube-apiserver not ready after 120s; see %s", logFile.Name())
		}
	}
	hc.CloseIdleConnections()

	if p.admin, err = kubernetes.NewForConfig(p.restConfig()); err != nil {
		s.stop()
		return nil, err
	}
	if v, err := p.admin.Discovery().ServerVersion(); err == nil {
		p.version = v.GitVersion
	}
	return p, nil
}

// restConfig is a copy of the peer's admin config with a transport of its
// own (see env.restConfig).
func (p *peerServer) restConfig() *rest.Config {
	c := rest.CopyConfig(p.cfg)
	c.Proxy = func(*http.Request) (*url.URL, error) { return nil, nil }
	return c
}

// client returns peer client i, creating clients up to i.
func (p *peerServer) client(i int) (kubernetes.Interface, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.clients) <= i {
		cs, err := kubernetes.NewForConfig(p.restConfig())
		if err != nil {
			return nil, err
		}
		p.clients = append(p.clients, cs)
	}
	return p.clients[i], nil
}

// warm makes sure clients 0..n-1 exist and have connected.
func (p *peerServer) warm(ctx context.Context, n int) error {
	errc := make(chan error, n)
	for i := 0; i < n; i++ {
		go func(i int) {
			cs, err := p.client(i)
			if err == nil {
				_, err = cs.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{})
			}
			errc <- err
		}(i)
	}
	for i := 0; i < n; i++ {
		if err := <-errc; err != nil {
			return err
		}
	}
	return nil
}

// prepareNamespace creates ns and its "default" ServiceAccount, which the
// ServiceAccount admission plugin requires of every pod and which
// kube-controller-manager (not run here) would otherwise create.
func (p *peerServer) prepareNamespace(ctx context.Context, ns string) error {
	_, err := p.admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("kube-apiserver: create namespace %s: %w", ns, err)
	}
	_, err = p.admin.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("kube-apiserver: create service account %s/default: %w", ns, err)
	}
	return nil
}

func (p *peerServer) stop() error {
	p.mu.Lock()
	p.clients = nil
	p.mu.Unlock()
	return p.proc.stop()
}

// peerFlags is the kube-apiserver command line for the report, with the
// work dir's paths shortened.
func (p *peerServer) peerFlags(workDir string) string {
	var s []string
	for _, a := range p.args {
		a = strings.ReplaceAll(a, workDir+"/", "")
		s = append(s, "`"+a+"`")
	}
	return strings.Join(s, " ")
}

// peerResult is what the report says about the peer.
type peerResult struct {
	version               string
	flags                 string
	started               time.Duration
	idle                  time.Duration
	rss, rssAnon, rssFile int64
	storedLen             int // bytes kube-apiserver stores in etcd for the sample pod
	oursStoredLen         int // bytes Gureum stores for it
}

func (pr *peerResult) markdown(r *report, p func(string, ...any)) {
	p("#### Peer: upstream kube-apiserver %s on the same etcd\n\n", pr.version)
	p("Started by the benchmark against the Gureum server's embedded etcd (its keys under `%s`, Gureum's under `/registry`), ready in %s; "+
		"RSS after %s idle: %s (anonymous %s, file-backed %s), kube-apiserver alone, since its etcd is inside the Gureum process. Command line:\n\n%s\n\n",
		peerPrefix, ms(pr.started), pr.idle, mb(pr.rss), mb(pr.rssAnon), mb(pr.rssFile), pr.flags)
	p("Admission plugins are upstream's defaults; as kube-controller-manager would, the benchmark creates the namespace and its `default` ServiceAccount first "+
		"(the ServiceAccount plugin rejects pods without it, and adds a projected token volume to each). "+
		"The clients, pod and durations are those above, one more set of client-go clientsets; in each rep the Gureum, etcd and kube-apiserver trials are rotated "+
		"so each goes first, second and third once in three reps, and a kube-apiserver trial's pods are deleted from etcd afterwards like the others. "+
		"kube-apiserver stores the created pod as protobuf, %d bytes in etcd; Gureum stores %d bytes.\n\n", pr.storedLen, pr.oursStoredLen)
	p("| Clients | kube-apiserver creates/s | p50 | p99 | Gureum creates/s | Gureum p99 | etcd puts/s | kube-apiserver/etcd throughput | Gureum/kube-apiserver throughput | Gureum/kube-apiserver p99 |\n")
	p("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	errs := 0
	for _, w := range r.writes {
		ar, er, _, ap99, _, _ := medians(w)
		var kr []float64
		var k50, k99 []time.Duration
		for _, t := range w.peer {
			kr = append(kr, t.rate())
			k50 = append(k50, t.p50)
			k99 = append(k99, t.p99)
			errs += t.errs
		}
		p("| %d | %.0f | %s | %s | %.0f | %s | %.0f | **%.2f** | **%.2f** | %.2f× |\n", w.clients, medianFloat(kr), ms(medianDuration(k50)), ms(medianDuration(k99)),
			ar, ms(ap99), er, medianFloat(w.peerRatios), medianFloat(w.vsPeer), medianFloat(w.vsPeerP99))
	}
	p("\nRatios are medians of the per-rep ratios (each rep's three trials ran back to back). kube-apiserver errors: %d.\n\n", errs)
	p("CPU per create (median of trials). The kube-apiserver column is its own process; etcd's share is in the Gureum process, " +
		"whose CPU during the kube-apiserver trials is etcd serving those writes plus the idle Gureum API server (it watches only `/registry` prefixes):\n\n")
	p("| Clients | kube-apiserver | Gureum process during kube-apiserver trials (etcd) | kube-apiserver + that | Gureum server (API + etcd) | Gureum/kube-apiserver (with etcd) | Client CPU / create to kube-apiserver |\n")
	p("|---:|---:|---:|---:|---:|---:|---:|\n")
	var bgCPU, bgTime time.Duration
	for _, w := range r.writes {
		var kp, ks, ksum, kc, as []time.Duration
		for _, t := range w.peer {
			kp = append(kp, t.peerCPUPerOp())
			ks = append(ks, t.srvCPUPerOp())
			ksum = append(ksum, t.peerCPUPerOp()+t.srvCPUPerOp())
			kc = append(kc, t.cliCPUPerOp())
		}
		for _, t := range w.api {
			as = append(as, t.srvCPUPerOp())
			bgCPU += t.peerCPU
			bgTime += t.elapsed
		}
		for _, t := range w.etcd {
			bgCPU += t.peerCPU
			bgTime += t.elapsed
		}
		sum, a := medianDuration(ksum), medianDuration(as)
		p("| %d | %s | %s | %s | %s | %.2f× | %s |\n", w.clients, us(medianDuration(kp)), us(medianDuration(ks)), us(sum), us(a),
			float64(a)/float64(max(sum, 1)), us(medianDuration(kc)))
	}
	if bgTime > 0 {
		p("\nWhile the Gureum and etcd trials ran, the idle kube-apiserver used %.1f%% of one core.\n", 100*float64(bgCPU)/float64(bgTime))
	}
	p("\n")
}
