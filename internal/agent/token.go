package agent

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"
)

// tokenRequester issues service account tokens through the TokenRequest
// API (POST /api/v1/namespaces/NS/serviceaccounts/NAME/token).
type tokenRequester interface {
	RequestToken(ctx context.Context, namespace, serviceAccount string, req *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error)
}

// clientTokenRequester is the tokenRequester over the API server.
type clientTokenRequester struct{ client kubernetes.Interface }

func (c clientTokenRequester) RequestToken(ctx context.Context, namespace, serviceAccount string, req *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
	return c.client.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, serviceAccount, req, metav1.CreateOptions{})
}

// Token lifetimes, as the kubelet applies them.
const (
	// defaultTokenExpirationSeconds is the projection's default lifetime;
	// the API server defaults it too, this covers objects written before.
	defaultTokenExpirationSeconds int64 = 3600
	// minTokenExpirationSeconds is the shortest lifetime the TokenRequest
	// API accepts; asking for less would only fail.
	minTokenExpirationSeconds int64 = 600
	// maxTokenAge bounds how long a token is used, however long it lives,
	// so that long-lived tokens still rotate.
	maxTokenAge = 24 * time.Hour
	// tokenRetryMin and tokenRetryMax bound the back-off between failed
	// requests for the same token, so that a missing service account or
	// an unavailable API server is not asked again on every pod sync (the
	// kubelet's volume retries back off to about two minutes too).
	tokenRetryMin = 2 * time.Second
	tokenRetryMax = 2 * time.Minute
)

// tokenKey identifies one projection's token: the kubelet shares a token
// only between projections asking for the same thing for the same pod.
type tokenKey struct {
	podUID            types.UID
	serviceAccount    string
	audience          string
	expirationSeconds int64
}

// issuedToken is a token and when to replace it. Times are on the node's
// clock, counted from when the token arrived, so a server clock ahead of
// the node's cannot make the agent refresh late.
type issuedToken struct {
	token     string
	issuedAt  time.Time
	expiresAt time.Time
	// refreshAt is when to ask for a new token: after 80% of its lifetime
	// (see tokenRefreshTime), or, after a failed refresh, at the next retry.
	refreshAt time.Time
}

// tokenEntry is what the manager knows of one projection's token.
type tokenEntry struct {
	token issuedToken // token.token is "" until one was issued
	// After a failed request: when to ask again, the delay that led there,
	// and the error to report until then.
	retryAt time.Time
	backoff time.Duration
	err     error
}

// tokenRefreshTime is when the kubelet replaces a token: once 80% of its
// lifetime has passed, and at the latest maxTokenAge after it was issued.
func tokenRefreshTime(issuedAt, expiresAt time.Time) time.Time {
	at := issuedAt.Add(expiresAt.Sub(issuedAt) * 8 / 10)
	if limit := issuedAt.Add(maxTokenAge); at.After(limit) {
		at = limit
	}
	return at
}

// tokenManager requests service account tokens for projected volumes and
// caches them per pod until they are due for refresh. Pod workers call it
// concurrently; each pod's tokens are only touched by its own worker.
type tokenManager struct {
	requester tokenRequester
	clk       clock.PassiveClock
	log       *slog.Logger

	mu     sync.Mutex
	tokens map[tokenKey]tokenEntry
}

func newTokenManager(r tokenRequester, clk clock.PassiveClock, log *slog.Logger) *tokenManager {
	return &tokenManager{requester: r, clk: clk, log: log, tokens: map[tokenKey]tokenEntry{}}
}

// projectionRequest is the TokenRequest a projection asks for, and the key
// its token is cached under.
func projectionRequest(pod *v1.Pod, p *v1.ServiceAccountTokenProjection) (serviceAccount string, key tokenKey, req *authenticationv1.TokenRequest) {
	serviceAccount = pod.Spec.ServiceAccountName
	if serviceAccount == "" {
		serviceAccount = "default"
	}
	exp := defaultTokenExpirationSeconds
	if p.ExpirationSeconds != nil {
		exp = max(*p.ExpirationSeconds, minTokenExpirationSeconds)
	}
	var audiences []string
	if p.Audience != "" {
		audiences = []string{p.Audience}
	}
	req = &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		// No audiences means the API server's own, as in Kubernetes.
		Audiences:         audiences,
		ExpirationSeconds: &exp,
		// Binding the token to the pod makes the API server reject it
		// once the pod is gone.
		BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}
	return serviceAccount, tokenKey{podUID: pod.UID, serviceAccount: serviceAccount, audience: p.Audience, expirationSeconds: exp}, req
}

// podToken returns the token for one projection of pod: the cached one
// until it is due for refresh, then a new one. A failed refresh keeps the
// cached token while it is still valid, as the kubelet does, so a short
// API server outage does not break running pods' volumes. Failed requests
// are retried with back-off; until the next retry the last error (or the
// still valid token) is returned without asking the API server.
func (m *tokenManager) podToken(ctx context.Context, pod *v1.Pod, p *v1.ServiceAccountTokenProjection) (issuedToken, error) {
	serviceAccount, key, req := projectionRequest(pod, p)
	now := m.clk.Now()
	m.mu.Lock()
	e := m.tokens[key]
	m.mu.Unlock()
	valid := e.token.token != "" && now.Before(e.token.expiresAt)
	if valid && now.Before(e.token.refreshAt) {
		return e.token, nil
	}
	if now.Before(e.retryAt) {
		if valid {
			return e.keptToken(), nil
		}
		return issuedToken{}, e.err
	}
	fresh, err := m.request(ctx, pod.Namespace, serviceAccount, req)
	if err != nil {
		e.backoff = min(max(2*e.backoff, tokenRetryMin), tokenRetryMax)
		e.retryAt, e.err = now.Add(e.backoff), err
		m.store(key, e)
		if valid {
			m.log.Warn("refresh service account token failed; keeping the current one",
				"pod", pod.Namespace+"/"+pod.Name, "serviceAccount", serviceAccount, "expires", e.token.expiresAt, "retryIn", e.backoff, "err", err)
			return e.keptToken(), nil
		}
		return issuedToken{}, err
	}
	m.store(key, tokenEntry{token: fresh})
	return fresh, nil
}

// keptToken is the cached token after a failed refresh: it is due again
// at the next retry (or when it expires, if sooner), so that the pod is
// synced then.
func (e tokenEntry) keptToken() issuedToken {
	t := e.token
	t.refreshAt = minTime(e.retryAt, t.expiresAt)
	return t
}

func (m *tokenManager) request(ctx context.Context, namespace, serviceAccount string, req *authenticationv1.TokenRequest) (issuedToken, error) {
	resp, err := m.requester.RequestToken(ctx, namespace, serviceAccount, req)
	if err != nil {
		return issuedToken{}, fmt.Errorf("request token for service account %s/%s: %w", namespace, serviceAccount, err)
	}
	if resp == nil || resp.Status.Token == "" {
		return issuedToken{}, fmt.Errorf("request token for service account %s/%s: the API server returned no token", namespace, serviceAccount)
	}
	// The server may grant a lifetime other than the one asked for; its
	// answer counts.
	lifetime := *req.Spec.ExpirationSeconds
	if e := resp.Spec.ExpirationSeconds; e != nil && *e > 0 {
		lifetime = *e
	}
	issued := m.clk.Now()
	expires := issued.Add(time.Duration(lifetime) * time.Second)
	return issuedToken{token: resp.Status.Token, issuedAt: issued, expiresAt: expires, refreshAt: tokenRefreshTime(issued, expires)}, nil
}

func (m *tokenManager) store(key tokenKey, e tokenEntry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tokens[key] = e
}

// forgetPod drops a pod's tokens once the pod is gone: they are bound to
// it and useless to anyone else.
func (m *tokenManager) forgetPod(uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.tokens {
		if k.podUID == uid {
			delete(m.tokens, k)
		}
	}
}

// minTime is the earlier of two times, ignoring zero ones.
func minTime(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero():
		return a
	case b.Before(a):
		return b
	}
	return a
}
