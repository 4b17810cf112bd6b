// Package apiserver owns Gureum's Kubernetes-compatible HTTP API: discovery,
// OpenAPI, CRUD, watch, patch, server-side apply, subresources, Table
// output, authentication, authorization and admission (namespaces,
// quotas). It serves the resources described by internal/api and the custom
// resources its CustomResourceDefinitions define (crd.go), keeps their
// objects in internal/store, and serves list and watch from a per-resource
// watch cache.
// Only internal/node builds a Server.
package apiserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/utils/clock"

	"github.com/gureum/gureum/internal/api"
	"github.com/gureum/gureum/internal/pki"
	"github.com/gureum/gureum/internal/serviceaccount"
	"github.com/gureum/gureum/internal/store"
)

// KubernetesVersion is the Kubernetes API level Gureum serves.
const KubernetesVersion = "v1.33.13"

// Config is everything the API server needs.
type Config struct {
	Listener net.Listener // already bound; the server adds TLS
	CA       *pki.CA
	Serving  tls.Certificate
	Store    *store.Store
	Registry *api.Registry
	// Tokens maps bearer tokens to users.
	Tokens map[string]UserInfo
	// ServiceAccounts issues and verifies service account tokens; nil
	// serves no TokenRequest API and accepts no service account tokens.
	ServiceAccounts *serviceaccount.Issuer
	// ServiceCIDR is where ClusterIPs are allocated from.
	ServiceCIDR *net.IPNet
	// NodePortRange is the inclusive range NodePorts come from.
	NodePortMin, NodePortMax int
	// OpenAPI serves /openapi/v2 and /openapi/v3; nil serves 404.
	OpenAPI http.Handler
	// TypeConverter enables server-side apply and managedFields; nil
	// disables them.
	TypeConverter managedfields.TypeConverter
	// EventTTL is how long Events are kept (default 1h, as Kubernetes).
	EventTTL time.Duration
	// Images serves the image registry (distribution API) at /v2/; nil
	// serves 404. Requests reach it authenticated and authorized as
	// non-resource URLs (RBAC verbs get/head to pull, post/put/patch/delete
	// to push).
	Images http.Handler
	// OnCustomResourcesChanged is called with the CRDs whose resources are
	// served, whenever that set changes (to rebuild OpenAPI).
	OnCustomResourcesChanged func([]*apiextensionsv1.CustomResourceDefinition)
	// CustomTypeConverter builds the server-side apply schema of one
	// version of a CRD; nil leaves custom resources without managedFields.
	CustomTypeConverter func(crd *apiextensionsv1.CustomResourceDefinition, version string) (managedfields.TypeConverter, error)
	Clock               clock.Clock
	Log                 *slog.Logger
}

// UserInfo is an authenticated caller.
type UserInfo struct {
	Name   string
	UID    string
	Groups []string
	Extra  map[string][]string
}

// Server is the API server.
type Server struct {
	cfg      Config
	reg      *api.Registry
	store    *store.Store
	caches   map[schema.GroupVersionResource]*resourceCache
	log      *slog.Logger
	clock    clock.Clock
	ready    atomic.Bool
	watches  atomic.Int64
	alloc    *allocator
	fieldMgr fieldManagers
	// nodeTr carries pods/log, exec, attach and portforward to agents.
	nodeTransportOnce sync.Once
	nodeTr            *http.Transport
	nodeTransportErr  error
	// discovery documents are rebuilt when custom resources change.
	discovery atomic.Pointer[discoveryDocs]
	// admission holds the plugins SetAdmission installed.
	admission atomic.Pointer[AdmissionPlugins]
	// custom holds the served custom resources, by group/version/resource.
	customMu sync.RWMutex
	custom   map[schema.GroupVersionResource]*customResource
	// workers run the requests that end (not watches or streams).
	workers *handlerWorkers
}

// New builds a server; Run starts it.
func New(cfg Config) (*Server, error) {
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.EventTTL == 0 {
		cfg.EventTTL = time.Hour
	}
	if cfg.Store == nil || cfg.Registry == nil || cfg.Listener == nil || cfg.CA == nil {
		return nil, errors.New("apiserver: Store, Registry, Listener and CA are required")
	}
	s := &Server{
		cfg:    cfg,
		reg:    cfg.Registry,
		store:  cfg.Store,
		caches: map[schema.GroupVersionResource]*resourceCache{},
		log:    cfg.Log,
		clock:  cfg.Clock,
		custom: map[schema.GroupVersionResource]*customResource{},
		// More than a burst's concurrent requests; past it a request
		// simply keeps its own goroutine.
		workers: newHandlerWorkers(256, cfg.Log),
	}
	for _, res := range cfg.Registry.All() {
		if isVirtual(res) {
			continue
		}
		s.caches[res.GroupVersionResource] = newResourceCache(res, cfg.Store, cfg.Log.With("component", "watchcache"))
	}
	s.alloc = newAllocator(cfg.ServiceCIDR, cfg.NodePortMin, cfg.NodePortMax)
	s.fieldMgr = newFieldManagers(cfg.TypeConverter)
	s.rebuildDiscovery()
	return s, nil
}

// isVirtual reports resources that are computed per request and never
// stored (access reviews and the like).
func isVirtual(res *api.Resource) bool {
	return len(res.Verbs) == 1 && res.Verbs[0] == "create" &&
		(res.GroupVersionResource.Group == "authorization.k8s.io" || res.GroupVersionResource.Group == "authentication.k8s.io")
}

// Ready reports whether the server answers requests with a warm cache.
func (s *Server) Ready() bool { return s.ready.Load() }

// Run serves until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	defer s.workers.close()
	g, gctx := errgroup.WithContext(ctx)
	for _, c := range s.caches {
		c := c
		g.Go(func() error { return c.Run(gctx) })
	}
	crdsSynced := make(chan struct{})
	g.Go(func() error { return s.runCustomResources(gctx, crdsSynced) })
	g.Go(func() error {
		t := time.NewTicker(bookmarkInterval)
		defer t.Stop()
		for {
			select {
			case <-gctx.Done():
				return nil
			case <-t.C:
				for _, c := range s.caches {
					c.sendBookmarks()
					c.ageHistory()
				}
				s.customMu.RLock()
				for _, cr := range s.custom {
					cr.cache.sendBookmarks()
					cr.cache.ageHistory()
				}
				s.customMu.RUnlock()
			}
		}
	})
	tlsCfg := &tls.Config{
		Certificates: []tls.Certificate{s.cfg.Serving},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    s.cfg.CA.Pool(),
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"h2", "http/1.1"},
	}
	srv := &http.Server{
		Handler:           s,
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: 30 * time.Second,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		// Requests, watches above all, end when the server stops.
		BaseContext: func(net.Listener) context.Context { return gctx },
	}
	g.Go(func() error {
		for _, c := range s.caches {
			select {
			case <-c.ready:
			case <-gctx.Done():
				return nil
			}
		}
		select {
		case <-crdsSynced:
		case <-gctx.Done():
			return nil
		}
		s.ready.Store(true)
		s.log.Info("api server ready", "address", s.cfg.Listener.Addr().String())
		return nil
	})
	g.Go(func() error {
		err := srv.Serve(tls.NewListener(s.cfg.Listener, tlsCfg))
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("serve https: %w", err)
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			// Connections still open after the grace period (HTTP/2
			// clients keep theirs) are cut, so clients notice and move to
			// another server instead of talking to a stopped one.
			_ = srv.Close()
		}
		return nil
	})
	return g.Wait()
}

// bookmarkInterval is how often watchers that asked for bookmarks get one.
const bookmarkInterval = 10 * time.Second

// ServeHTTP routes a request: health checks need no credentials; everything
// else is authenticated, authorized and dispatched.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/readyz", "/livez", "/healthz":
		if r.URL.Path == "/readyz" && !s.ready.Load() {
			http.Error(w, "not ready: caches are still loading", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok"))
		return
	}
	user, ok := s.authenticate(r)
	if !ok && isImagePath(r.URL.Path) {
		// Registry clients (docker, crane, containerd) expect a challenge.
		w.Header().Set("WWW-Authenticate", `Basic realm="gureum"`)
		writeRegistryError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authenticate with a client certificate or a bearer token (or basic auth with the token as password)")
		return
	}
	if !ok {
		writeError(w, r, apierrors.NewUnauthorized("Unauthorized: present a client certificate signed by the cluster CA or a bearer token"), schema.GroupResource{}, "")
		return
	}
	if r.Header.Get("Impersonate-User") != "" || len(r.Header.Values("Impersonate-Group")) > 0 {
		imp, err := s.impersonate(user, r)
		if err != nil {
			writeError(w, r, err, schema.GroupResource{}, "")
			return
		}
		user = imp
	}
	r = r.WithContext(context.WithValue(withUser(r.Context(), user), queryKey{}, r.URL.Query()))
	path := r.URL.Path
	switch {
	case path == oidcConfigPath || path == oidcJWKSPath:
		s.serveOIDC(w, r)
		return
	case path == "/version" || path == "/version/":
		s.serveVersion(w, r)
		return
	case strings.HasPrefix(path, "/openapi/"):
		if s.cfg.OpenAPI == nil {
			http.NotFound(w, r)
			return
		}
		s.cfg.OpenAPI.ServeHTTP(w, r)
		return
	case isImagePath(path):
		s.serveImages(w, r, user)
		return
	case path == "/api" || path == "/api/" || path == "/apis" || path == "/apis/":
		s.serveDiscoveryRoot(w, r)
		return
	}
	info := parseRequestInfo(r)
	if info.APIPrefix == "" {
		writeError(w, r, apierrors.NewNotFound(schema.GroupResource{}, ""), schema.GroupResource{}, "")
		return
	}
	if !info.IsResource {
		s.serveGroupDiscovery(w, r, info)
		return
	}
	if endsSoon(info) {
		s.workers.run(func() { s.serveResource(w, r, info, user) })
		return
	}
	s.serveResource(w, r, info, user)
}

// endsSoon says a request is answered and done, not a watch or a stream
// that would hold a worker for as long as it lasts.
func endsSoon(info requestInfo) bool {
	switch info.Subresource {
	case "log", "exec", "attach", "portforward", "proxy":
		return false
	}
	return info.Verb != "watch"
}

// impersonate switches to the user named by the Impersonate-* headers when
// RBAC lets the caller impersonate that user and each group, as Kubernetes
// does for `kubectl --as` and `--as-group`.
func (s *Server) impersonate(caller UserInfo, r *http.Request) (UserInfo, error) {
	target := UserInfo{Name: r.Header.Get("Impersonate-User"), UID: r.Header.Get("Impersonate-Uid")}
	if target.Name == "" {
		return UserInfo{}, apierrors.NewBadRequest("Impersonate-Group requires Impersonate-User")
	}
	check := func(resource, name string) error {
		attrs := attributes{user: caller, verb: "impersonate", resource: resource, name: name, isResource: true}
		if strings.HasPrefix(name, "system:serviceaccount:") && resource == "users" {
			parts := strings.SplitN(strings.TrimPrefix(name, "system:serviceaccount:"), ":", 2)
			if len(parts) == 2 {
				attrs.resource, attrs.namespace, attrs.name = "serviceaccounts", parts[0], parts[1]
			}
		}
		if ok, _ := s.decide(attrs); !ok {
			return apierrors.NewForbidden(schema.GroupResource{Resource: resource}, name,
				fmt.Errorf("user %q cannot impersonate %s %q", caller.Name, resource, name))
		}
		return nil
	}
	if err := check("users", target.Name); err != nil {
		return UserInfo{}, err
	}
	for _, g := range r.Header.Values("Impersonate-Group") {
		if err := check("groups", g); err != nil {
			return UserInfo{}, err
		}
		target.Groups = append(target.Groups, g)
	}
	if strings.HasPrefix(target.Name, "system:serviceaccount:") {
		parts := strings.SplitN(strings.TrimPrefix(target.Name, "system:serviceaccount:"), ":", 2)
		target.Groups = append(target.Groups, "system:serviceaccounts", "system:serviceaccounts:"+parts[0])
	}
	target.Groups = append(target.Groups, "system:authenticated")
	return target, nil
}

type userKey struct{}

// queryKey carries a request's query parameters, parsed once: an update
// read them in half a dozen places, and parsing was 7% of what an idle
// control plane allocated.
type queryKey struct{}

// query returns r's query parameters, which callers must not change.
func query(r *http.Request) url.Values {
	if v, ok := r.Context().Value(queryKey{}).(url.Values); ok {
		return v
	}
	return r.URL.Query()
}

func withUser(ctx context.Context, u UserInfo) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

func userFrom(ctx context.Context) UserInfo {
	u, _ := ctx.Value(userKey{}).(UserInfo)
	return u
}

// authenticate accepts a verified client certificate (CN is the user, O the
// groups) or a known bearer token.
func (s *Server) authenticate(r *http.Request) (UserInfo, bool) {
	if u, ok := inProcessUser(r); ok {
		u.Groups = append(append([]string{}, u.Groups...), "system:authenticated")
		return u, true
	}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.PeerCertificates) > 0 {
		c := r.TLS.PeerCertificates[0]
		return UserInfo{Name: c.Subject.CommonName, Groups: append(append([]string{}, c.Subject.Organization...), "system:authenticated")}, true
	}
	token := ""
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		token = strings.TrimPrefix(h, "Bearer ")
	} else if _, pw, ok := r.BasicAuth(); ok && isImagePath(r.URL.Path) {
		// docker login and crane speak basic auth; the password is a token.
		token = pw
	}
	if u, ok := s.cfg.Tokens[token]; ok && token != "" {
		u.Groups = append(append([]string{}, u.Groups...), "system:authenticated")
		return u, true
	}
	if serviceaccount.LooksLikeJWT(token) {
		u, _, err := s.authenticateServiceAccount(r.Context(), token, nil)
		if err != nil {
			s.log.Debug("service account token rejected", "err", err)
			return UserInfo{}, false
		}
		u.Groups = append(u.Groups, "system:authenticated")
		return u, true
	}
	return UserInfo{}, false
}
