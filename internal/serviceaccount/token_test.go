package serviceaccount

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v4"
	clocktesting "k8s.io/utils/clock/testing"
)

const iss = "https://kubernetes.default.svc.cluster.local"

func newIssuer(t *testing.T, clk *clocktesting.FakeClock) *Issuer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	i, err := NewIssuer(key, iss, nil, clk)
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func TestIssueAndVerify(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC))
	i := newIssuer(t, clk)
	other := newIssuer(t, clk)
	sa := Ref{Name: "builder", UID: "sa-uid"}
	pod := &Ref{Name: "p", UID: "pod-uid"}
	bound, exp, err := i.Issue(Request{Namespace: "ci", ServiceAccount: sa, Expiration: time.Hour, Pod: pod, Node: &Ref{Name: "n1"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := clk.Now().Add(time.Hour); !exp.Equal(want) {
		t.Fatalf("expiry %v, want %v", exp, want)
	}
	vault, _, err := i.Issue(Request{Namespace: "ci", ServiceAccount: sa, Expiration: time.Hour, Audiences: []string{"vault"}})
	if err != nil {
		t.Fatal(err)
	}
	legacy, err := i.IssueLegacy("ci", sa, "builder-token")
	if err != nil {
		t.Fatal(err)
	}
	foreign, _, _ := other.Issue(Request{Namespace: "ci", ServiceAccount: sa, Expiration: time.Hour})

	id, err := i.Verify(bound, nil)
	if err != nil {
		t.Fatalf("verify bound token: %v", err)
	}
	if id.UserName() != "system:serviceaccount:ci:builder" || id.ServiceAccount != sa || *id.Pod != *pod || id.Node.Name != "n1" || id.ID == "" || id.Legacy {
		t.Fatalf("identity %+v", id)
	}
	if g := id.Groups(); len(g) != 2 || g[0] != "system:serviceaccounts" || g[1] != "system:serviceaccounts:ci" {
		t.Fatalf("groups %v", g)
	}
	if e := id.Extra(); e["authentication.kubernetes.io/pod-name"][0] != "p" || e["authentication.kubernetes.io/credential-id"][0] != "JTI="+id.ID {
		t.Fatalf("extra %v", e)
	}
	lid, err := i.Verify(legacy, nil)
	if err != nil || !lid.Legacy || lid.Secret.Name != "builder-token" || lid.ServiceAccount != sa {
		t.Fatalf("legacy token: %+v, %v", lid, err)
	}
	if vid, err := i.Verify(vault, []string{"vault", "other"}); err != nil || len(vid.Audiences) != 1 || vid.Audiences[0] != "vault" {
		t.Fatalf("vault audience: %+v, %v", vid, err)
	}

	parts := strings.Split(bound, ".")
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"system:serviceaccount:kube-system:admin"}`)) + "." + parts[2]
	for name, tc := range map[string]struct {
		token     string
		audiences []string
		advance   time.Duration
	}{
		"API token offered to another audience": {token: bound, audiences: []string{"vault"}},
		"vault token offered to the API":        {token: vault},
		"signed by another key":                 {token: foreign},
		"payload replaced":                      {token: tampered},
		"expired":                               {token: bound, advance: time.Hour},
		"not a JWT":                             {token: "abc.def.ghi"},
	} {
		t.Run(name, func(t *testing.T) {
			c := clocktesting.NewFakeClock(clk.Now().Add(tc.advance))
			v := *i
			v.clock = c
			if _, err := v.Verify(tc.token, tc.audiences); !errors.Is(err, ErrInvalid) {
				t.Fatalf("verify = %v, want ErrInvalid", err)
			}
		})
	}
}

// The published key set verifies tokens on its own, as an external OIDC
// consumer would.
func TestJWKSVerifiesTokens(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	i := newIssuer(t, clk)
	tok, _, err := i.Issue(Request{Namespace: "a", ServiceAccount: Ref{Name: "b"}, Expiration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []struct{ Kid, X, Y, Crv string }
	}
	if err := json.Unmarshal(i.JWKS(), &set); err != nil || len(set.Keys) != 1 || set.Keys[0].Crv != "P-256" {
		t.Fatalf("jwks %s: %v", i.JWKS(), err)
	}
	k := set.Keys[0]
	x, _ := base64.RawURLEncoding.DecodeString(k.X)
	y, _ := base64.RawURLEncoding.DecodeString(k.Y)
	pub := &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
	parsed, err := jwt.Parse(tok, func(t *jwt.Token) (interface{}, error) {
		if t.Header["kid"] != k.Kid {
			return nil, errors.New("kid mismatch")
		}
		return pub, nil
	})
	if err != nil || !parsed.Valid {
		t.Fatalf("token does not verify with the JWKS key: %v", err)
	}
	var doc map[string]interface{}
	if err := json.Unmarshal(i.OpenIDConfiguration("https://x/openid/v1/jwks"), &doc); err != nil || doc["issuer"] != iss {
		t.Fatalf("discovery %v: %v", doc, err)
	}
}
