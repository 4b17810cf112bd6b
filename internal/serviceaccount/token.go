// Package serviceaccount owns service account tokens: issuing signed JWTs
// for the TokenRequest API and for legacy token Secrets, verifying them
// (signature, issuer, audience, lifetime), the identity a valid token
// stands for, and the OpenID discovery documents that let others verify
// tokens without asking the API server. Whether the objects a token is
// bound to still exist is the API server's check; it owns the caches.
package serviceaccount

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v4"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/utils/clock"
)

// LegacyIssuer is the issuer of tokens stored in Secrets, as Kubernetes
// names it; those tokens carry no audience and never expire.
const LegacyIssuer = "kubernetes/serviceaccount"

// Ref names an object a token refers to.
type Ref struct {
	Name string `json:"name"`
	UID  string `json:"uid"`
}

// Request is what a token is issued for.
type Request struct {
	Namespace      string
	ServiceAccount Ref
	// Audiences default to the API server's own.
	Audiences  []string
	Expiration time.Duration
	// The object the token is bound to, if any: it becomes invalid with it.
	Pod, Secret, Node *Ref
}

// Identity is who a verified token speaks for.
type Identity struct {
	Namespace      string
	ServiceAccount Ref
	Pod, Secret    *Ref
	Node           *Ref
	// ID is the token's jti, reported as its credential ID.
	ID string
	// Audiences are those of the token the verifier accepted.
	Audiences []string
	Legacy    bool
}

// UserName is Kubernetes' user name for a service account.
func (id Identity) UserName() string { return UserName(id.Namespace, id.ServiceAccount.Name) }

// UserName is system:serviceaccount:NAMESPACE:NAME.
func UserName(namespace, name string) string {
	return "system:serviceaccount:" + namespace + ":" + name
}

// Groups are the groups every service account is in.
func (id Identity) Groups() []string {
	return []string{"system:serviceaccounts", "system:serviceaccounts:" + id.Namespace}
}

// Extra is the user's extra information Kubernetes attaches for bound
// tokens, which admission webhooks and audit see.
func (id Identity) Extra() map[string][]string {
	extra := map[string][]string{}
	if id.Pod != nil {
		extra["authentication.kubernetes.io/pod-name"] = []string{id.Pod.Name}
		extra["authentication.kubernetes.io/pod-uid"] = []string{id.Pod.UID}
	}
	if id.Node != nil {
		extra["authentication.kubernetes.io/node-name"] = []string{id.Node.Name}
		if id.Node.UID != "" {
			extra["authentication.kubernetes.io/node-uid"] = []string{id.Node.UID}
		}
	}
	if id.ID != "" {
		extra["authentication.kubernetes.io/credential-id"] = []string{"JTI=" + id.ID}
	}
	if len(extra) == 0 {
		return nil
	}
	return extra
}

// k8sClaims is the private "kubernetes.io" claim of bound tokens.
type k8sClaims struct {
	Namespace      string `json:"namespace"`
	ServiceAccount Ref    `json:"serviceaccount"`
	Pod            *Ref   `json:"pod,omitempty"`
	Secret         *Ref   `json:"secret,omitempty"`
	Node           *Ref   `json:"node,omitempty"`
}

type claims struct {
	jwt.RegisteredClaims
	Kubernetes *k8sClaims `json:"kubernetes.io,omitempty"`
	// The flat claims of legacy Secret tokens.
	LegacyNamespace string `json:"kubernetes.io/serviceaccount/namespace,omitempty"`
	LegacySecret    string `json:"kubernetes.io/serviceaccount/secret.name,omitempty"`
	LegacyName      string `json:"kubernetes.io/serviceaccount/service-account.name,omitempty"`
	LegacyUID       string `json:"kubernetes.io/serviceaccount/service-account.uid,omitempty"`
}

// Issuer signs and verifies tokens with one key.
type Issuer struct {
	key          *ecdsa.PrivateKey
	keyID        string
	issuer       string
	apiAudiences []string
	clock        clock.PassiveClock
}

// NewIssuer signs tokens as issuer (a URL, e.g.
// https://kubernetes.default.svc.cluster.local); apiAudiences are the
// audiences the API server accepts, defaulting to the issuer.
func NewIssuer(key *ecdsa.PrivateKey, issuer string, apiAudiences []string, clk clock.PassiveClock) (*Issuer, error) {
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("encode token signing key: %w", err)
	}
	sum := sha256.Sum256(der)
	if len(apiAudiences) == 0 {
		apiAudiences = []string{issuer}
	}
	return &Issuer{key: key, keyID: base64.RawURLEncoding.EncodeToString(sum[:]), issuer: issuer,
		apiAudiences: apiAudiences, clock: clk}, nil
}

// URL is the issuer, the iss claim of bound tokens.
func (i *Issuer) URL() string { return i.issuer }

// APIAudiences are the audiences the API server accepts.
func (i *Issuer) APIAudiences() []string { return slices.Clone(i.apiAudiences) }

// Issue signs a bound token; it returns the token and when it expires.
func (i *Issuer) Issue(r Request) (string, time.Time, error) {
	now := i.clock.Now().Truncate(time.Second)
	exp := now.Add(r.Expiration)
	aud := r.Audiences
	if len(aud) == 0 {
		aud = i.apiAudiences
	}
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    i.issuer,
			Subject:   UserName(r.Namespace, r.ServiceAccount.Name),
			Audience:  jwt.ClaimStrings(aud),
			ExpiresAt: jwt.NewNumericDate(exp),
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ID:        string(uuid.NewUUID()),
		},
		Kubernetes: &k8sClaims{Namespace: r.Namespace, ServiceAccount: r.ServiceAccount, Pod: r.Pod, Secret: r.Secret, Node: r.Node},
	}
	tok, err := i.sign(c)
	return tok, exp, err
}

// IssueLegacy signs a never-expiring token for a token Secret.
func (i *Issuer) IssueLegacy(namespace string, sa Ref, secretName string) (string, error) {
	return i.sign(claims{
		RegisteredClaims: jwt.RegisteredClaims{Issuer: LegacyIssuer, Subject: UserName(namespace, sa.Name)},
		LegacyNamespace:  namespace, LegacySecret: secretName, LegacyName: sa.Name, LegacyUID: sa.UID,
	})
}

func (i *Issuer) sign(c claims) (string, error) {
	t := jwt.NewWithClaims(jwt.SigningMethodES256, c)
	t.Header["kid"] = i.keyID
	s, err := t.SignedString(i.key)
	if err != nil {
		return "", fmt.Errorf("sign service account token: %w", err)
	}
	return s, nil
}

// LooksLikeJWT tells tokens worth verifying from opaque bearer tokens.
func LooksLikeJWT(token string) bool {
	return strings.Count(token, ".") == 2
}

// ErrInvalid is wrapped by every verification failure.
var ErrInvalid = errors.New("invalid service account token")

// Verify checks a token's signature, issuer, lifetime and audience (one of
// audiences, or the API's when nil) and returns who it stands for.
func (i *Issuer) Verify(token string, audiences []string) (Identity, error) {
	var c claims
	_, err := jwt.NewParser(jwt.WithValidMethods([]string{jwt.SigningMethodES256.Alg()}), jwt.WithoutClaimsValidation()).
		ParseWithClaims(token, &c, func(*jwt.Token) (interface{}, error) { return &i.key.PublicKey, nil })
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if c.Issuer == LegacyIssuer {
		if c.LegacyNamespace == "" || c.LegacyName == "" || c.LegacySecret == "" || c.Subject != UserName(c.LegacyNamespace, c.LegacyName) {
			return Identity{}, fmt.Errorf("%w: incomplete legacy claims", ErrInvalid)
		}
		return Identity{Namespace: c.LegacyNamespace, ServiceAccount: Ref{Name: c.LegacyName, UID: c.LegacyUID},
			Secret: &Ref{Name: c.LegacySecret}, Legacy: true, Audiences: audiencesOr(audiences, i.apiAudiences)}, nil
	}
	if c.Issuer != i.issuer {
		return Identity{}, fmt.Errorf("%w: issuer %q is not %q", ErrInvalid, c.Issuer, i.issuer)
	}
	now := i.clock.Now()
	if c.ExpiresAt == nil || !now.Before(c.ExpiresAt.Time) {
		return Identity{}, fmt.Errorf("%w: token has expired", ErrInvalid)
	}
	// A minute of leeway for clocks of other verifiers; ours is one clock.
	if c.NotBefore != nil && now.Add(time.Minute).Before(c.NotBefore.Time) {
		return Identity{}, fmt.Errorf("%w: token is not valid yet", ErrInvalid)
	}
	want := audiencesOr(audiences, i.apiAudiences)
	var matched []string
	for _, a := range c.Audience {
		if slices.Contains(want, a) {
			matched = append(matched, a)
		}
	}
	if len(matched) == 0 {
		return Identity{}, fmt.Errorf("%w: token audiences %v do not include %v", ErrInvalid, []string(c.Audience), want)
	}
	k := c.Kubernetes
	if k == nil || k.Namespace == "" || k.ServiceAccount.Name == "" || c.Subject != UserName(k.Namespace, k.ServiceAccount.Name) {
		return Identity{}, fmt.Errorf("%w: missing kubernetes.io claims", ErrInvalid)
	}
	return Identity{Namespace: k.Namespace, ServiceAccount: k.ServiceAccount, Pod: k.Pod, Secret: k.Secret, Node: k.Node,
		ID: c.ID, Audiences: matched}, nil
}

func audiencesOr(a, def []string) []string {
	if len(a) == 0 {
		return def
	}
	return a
}

// OpenIDConfiguration is the discovery document served at
// /.well-known/openid-configuration.
func (i *Issuer) OpenIDConfiguration(jwksURI string) []byte {
	b, _ := json.Marshal(map[string]interface{}{
		"issuer":                                i.issuer,
		"jwks_uri":                              jwksURI,
		"response_types_supported":              []string{"id_token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{jwt.SigningMethodES256.Alg()},
	})
	return b
}

// JWKS is the public key set served at /openid/v1/jwks.
func (i *Issuer) JWKS() []byte {
	size := (i.key.Curve.Params().BitSize + 7) / 8
	pad := func(n *big.Int) string { return base64.RawURLEncoding.EncodeToString(n.FillBytes(make([]byte, size))) }
	b, _ := json.Marshal(map[string]interface{}{"keys": []map[string]string{{
		"use": "sig", "kty": "EC", "kid": i.keyID, "crv": "P-256", "alg": jwt.SigningMethodES256.Alg(),
		"x": pad(i.key.X), "y": pad(i.key.Y),
	}}})
	return b
}
