package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	testingclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

// tokenCall is one TokenRequest a fakeTokenRequester received.
type tokenCall struct {
	Namespace, ServiceAccount string
	Req                       *authenticationv1.TokenRequest
}

// fakeTokenRequester records requests and answers with numbered tokens
// ("tok-1", "tok-2", ...), or with err when set.
type fakeTokenRequester struct {
	mu    sync.Mutex
	calls []tokenCall
	err   error
	// grant, when set, is the lifetime the "server" grants instead of the
	// one asked for.
	grant *int64
}

func (f *fakeTokenRequester) RequestToken(_ context.Context, ns, sa string, req *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, tokenCall{ns, sa, req.DeepCopy()})
	if f.err != nil {
		return nil, f.err
	}
	resp := req.DeepCopy()
	if f.grant != nil {
		resp.Spec.ExpirationSeconds = f.grant
	}
	resp.Status.Token = fmt.Sprintf("tok-%d", len(f.calls))
	return resp, nil
}

func (f *fakeTokenRequester) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

func (f *fakeTokenRequester) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func tokenPod() *v1.Pod {
	return &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web-0", UID: "uid-1"}}
}

func TestTokenProjectionRequest(t *testing.T) {
	cases := []struct {
		name      string
		sa        string
		proj      v1.ServiceAccountTokenProjection
		wantSA    string
		wantAud   []string
		wantExp   int64
		wantKeyAu string
	}{
		{name: "defaults", proj: v1.ServiceAccountTokenProjection{Path: "token"}, wantSA: "default", wantExp: 3600},
		{name: "named account and audience", sa: "builder", proj: v1.ServiceAccountTokenProjection{Path: "token", Audience: "vault", ExpirationSeconds: ptr.To(int64(7200))},
			wantSA: "builder", wantAud: []string{"vault"}, wantExp: 7200, wantKeyAu: "vault"},
		{name: "too short a lifetime is raised to the minimum", proj: v1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr.To(int64(60))}, wantSA: "default", wantExp: 600},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := tokenPod()
			pod.Spec.ServiceAccountName = tc.sa
			sa, key, req := projectionRequest(pod, &tc.proj)
			if sa != tc.wantSA {
				t.Errorf("service account = %q, want %q", sa, tc.wantSA)
			}
			if fmt.Sprint(req.Spec.Audiences) != fmt.Sprint(tc.wantAud) || (tc.wantAud == nil) != (req.Spec.Audiences == nil) {
				t.Errorf("audiences = %#v, want %#v", req.Spec.Audiences, tc.wantAud)
			}
			if req.Spec.ExpirationSeconds == nil || *req.Spec.ExpirationSeconds != tc.wantExp {
				t.Errorf("expirationSeconds = %v, want %d", req.Spec.ExpirationSeconds, tc.wantExp)
			}
			want := authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "web-0", UID: "uid-1"}
			if req.Spec.BoundObjectRef == nil || *req.Spec.BoundObjectRef != want {
				t.Errorf("boundObjectRef = %+v", req.Spec.BoundObjectRef)
			}
			if wantKey := (tokenKey{podUID: "uid-1", serviceAccount: tc.wantSA, audience: tc.wantKeyAu, expirationSeconds: tc.wantExp}); key != wantKey {
				t.Errorf("key = %+v, want %+v", key, wantKey)
			}
		})
	}
}

func TestTokenRefreshTime(t *testing.T) {
	cases := []struct {
		lifetime, want time.Duration
	}{
		{10 * time.Minute, 8 * time.Minute},
		{time.Hour, 48 * time.Minute},
		{24 * time.Hour, 19*time.Hour + 12*time.Minute},
		{30 * time.Hour, 24 * time.Hour}, // 80% would be 24h
		{7 * 24 * time.Hour, 24 * time.Hour},
	}
	for _, tc := range cases {
		if got := tokenRefreshTime(t0, t0.Add(tc.lifetime)).Sub(t0); got != tc.want {
			t.Errorf("lifetime %s: refresh after %s, want %s", tc.lifetime, got, tc.want)
		}
	}
}

func TestTokenManagerRefresh(t *testing.T) {
	clk := testingclock.NewFakeClock(t0)
	fr := &fakeTokenRequester{}
	m := newTokenManager(fr, clk, discardLog())
	ctx := context.Background()
	pod := tokenPod()
	proj := &v1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr.To(int64(3600))}

	get := func(want string) issuedToken {
		t.Helper()
		tok, err := m.podToken(ctx, pod, proj)
		if err != nil {
			t.Fatalf("at +%s: %v", clk.Since(t0), err)
		}
		if tok.token != want {
			t.Fatalf("at +%s: token %q, want %q", clk.Since(t0), tok.token, want)
		}
		return tok
	}
	tok := get("tok-1")
	if tok.refreshAt != t0.Add(48*time.Minute) || tok.expiresAt != t0.Add(time.Hour) {
		t.Errorf("refreshAt %s expiresAt %s", tok.refreshAt, tok.expiresAt)
	}
	clk.Step(47 * time.Minute)
	get("tok-1") // cached: under 80% of its lifetime
	if fr.count() != 1 {
		t.Fatalf("requests = %d, want 1", fr.count())
	}
	clk.Step(time.Minute) // 80%
	tok = get("tok-2")
	if tok.refreshAt != clk.Now().Add(48*time.Minute) {
		t.Errorf("new token refreshAt %s", tok.refreshAt)
	}

	// Another audience or lifetime is another token; another pod too.
	other := &v1.ServiceAccountTokenProjection{Path: "vault", Audience: "vault", ExpirationSeconds: ptr.To(int64(3600))}
	if tok, err := m.podToken(ctx, pod, other); err != nil || tok.token != "tok-3" {
		t.Fatalf("other audience: %v %v", tok, err)
	}
	pod2 := tokenPod()
	pod2.UID = "uid-2"
	if tok, err := m.podToken(ctx, pod2, proj); err != nil || tok.token != "tok-4" {
		t.Fatalf("other pod: %v %v", tok, err)
	}

	// A failed refresh keeps the valid token and retries with back-off,
	// not on every sync.
	fr.setErr(errors.New("apiserver down"))
	clk.Step(48 * time.Minute) // tok-2 is due
	calls := fr.count()
	for _, backoff := range []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second} {
		tok = get("tok-2")
		if fr.count() != calls+1 {
			t.Fatalf("requests = %d, want %d", fr.count(), calls+1)
		}
		calls = fr.count()
		if tok.refreshAt != clk.Now().Add(backoff) {
			t.Errorf("retry at +%s, want +%s", tok.refreshAt.Sub(clk.Now()), backoff)
		}
		clk.Step(backoff - time.Millisecond)
		get("tok-2")
		if fr.count() != calls {
			t.Fatal("retried before the back-off passed")
		}
		clk.Step(time.Millisecond)
	}
	// Once it has expired, failing is all that is left, and the error is
	// repeated without asking again until the back-off has passed.
	clk.SetTime(t0.Add(48*time.Minute + time.Hour))
	want := "request token for service account ns/default: apiserver down"
	if _, err := m.podToken(ctx, pod, proj); err == nil || err.Error() != want {
		t.Fatalf("expired token: err = %v", err)
	}
	calls = fr.count()
	if _, err := m.podToken(ctx, pod, proj); err == nil || err.Error() != want || fr.count() != calls {
		t.Fatalf("during back-off: err = %v, requests %d (want %d)", err, fr.count(), calls)
	}
	for range 10 {
		clk.Step(tokenRetryMax)
		_, _ = m.podToken(ctx, pod, proj)
	}
	m.mu.Lock()
	backoff := m.tokens[tokenKey{podUID: pod.UID, serviceAccount: "default", expirationSeconds: 3600}].backoff
	m.mu.Unlock()
	if backoff != tokenRetryMax {
		t.Errorf("back-off = %s, want the maximum %s", backoff, tokenRetryMax)
	}
	fr.setErr(nil)
	clk.Step(tokenRetryMax)
	get(fmt.Sprintf("tok-%d", fr.count()+1))
	get(fmt.Sprintf("tok-%d", fr.count())) // success clears the back-off: cached again

	// Forgetting a pod drops only its tokens.
	m.forgetPod(pod.UID)
	m.mu.Lock()
	left := len(m.tokens)
	m.mu.Unlock()
	if left != 1 {
		t.Errorf("tokens left after forgetPod = %d, want 1 (the other pod's)", left)
	}
}

func TestTokenManagerHonoursGrantedLifetime(t *testing.T) {
	clk := testingclock.NewFakeClock(t0)
	fr := &fakeTokenRequester{grant: ptr.To(int64(48 * 3600))}
	m := newTokenManager(fr, clk, discardLog())
	tok, err := m.podToken(context.Background(), tokenPod(), &v1.ServiceAccountTokenProjection{Path: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if tok.expiresAt != t0.Add(48*time.Hour) || tok.refreshAt != t0.Add(24*time.Hour) {
		t.Errorf("expiresAt %s refreshAt %s", tok.expiresAt, tok.refreshAt)
	}
}

func TestClientTokenRequester(t *testing.T) {
	cs := fake.NewSimpleClientset()
	var got k8stesting.CreateActionImpl
	cs.PrependReactor("create", "serviceaccounts", func(action k8stesting.Action) (bool, runtime.Object, error) {
		if action.GetSubresource() != "token" {
			return false, nil, nil
		}
		got = action.(k8stesting.CreateActionImpl)
		tr := got.GetObject().(*authenticationv1.TokenRequest).DeepCopy()
		tr.Status = authenticationv1.TokenRequestStatus{Token: "jwt", ExpirationTimestamp: metav1.NewTime(t0.Add(time.Hour))}
		return true, tr, nil
	})
	m := newTokenManager(clientTokenRequester{cs}, testingclock.NewFakeClock(t0), discardLog())
	pod := tokenPod()
	pod.Spec.ServiceAccountName = "builder"
	tok, err := m.podToken(context.Background(), pod, &v1.ServiceAccountTokenProjection{Path: "token", Audience: "api"})
	if err != nil {
		t.Fatal(err)
	}
	if tok.token != "jwt" {
		t.Errorf("token = %q", tok.token)
	}
	if got.GetNamespace() != "ns" || got.Name != "builder" {
		t.Errorf("request went to %s/%s", got.GetNamespace(), got.Name)
	}
	req := got.GetObject().(*authenticationv1.TokenRequest)
	if fmt.Sprint(req.Spec.Audiences) != "[api]" || *req.Spec.ExpirationSeconds != 3600 || req.Spec.BoundObjectRef.UID != "uid-1" {
		t.Errorf("request spec = %+v", req.Spec)
	}

	// Without a reactor the fake answers with an empty TokenRequest: a
	// token-less answer is an error, not an empty file.
	m = newTokenManager(clientTokenRequester{fake.NewSimpleClientset()}, testingclock.NewFakeClock(t0), discardLog())
	if _, err := m.podToken(context.Background(), pod, &v1.ServiceAccountTokenProjection{Path: "token"}); err == nil {
		t.Error("empty token accepted")
	}
}
