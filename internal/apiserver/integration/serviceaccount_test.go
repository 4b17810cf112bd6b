package integration

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/gureum/gureum/internal/testenv"
)

// tokenClient is a client that authenticates with a bearer token only.
func tokenClient(t *testing.T, s *testenv.Server, token string) (*kubernetes.Clientset, *rest.Config) {
	t.Helper()
	cfg := rest.AnonymousClientConfig(s.Config)
	cfg.BearerToken = token
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, cfg
}

func requestToken(t *testing.T, s *testenv.Server, ns, sa string, spec authenticationv1.TokenRequestSpec) *authenticationv1.TokenRequest {
	t.Helper()
	tr, err := s.Client.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), sa,
		&authenticationv1.TokenRequest{Spec: spec}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("request token for %s/%s: %v", ns, sa, err)
	}
	return tr
}

func whoami(t *testing.T, c *kubernetes.Clientset) (authenticationv1.UserInfo, error) {
	t.Helper()
	r, err := c.AuthenticationV1().SelfSubjectReviews().Create(context.Background(), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return authenticationv1.UserInfo{}, err
	}
	return r.Status.UserInfo, nil
}

func TestServiceAccountTokens(t *testing.T) {
	s := testenv.Start(t)
	ctx := context.Background()
	ns := kubectlNamespace(t, s, "sa-tokens")
	sa, err := s.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "builder"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	before := time.Now()
	tr := requestToken(t, s, ns, "builder", authenticationv1.TokenRequestSpec{})
	if tr.Status.Token == "" {
		t.Fatal("TokenRequest returned no token")
	}
	if exp := tr.Status.ExpirationTimestamp.Time; exp.Before(before.Add(59*time.Minute)) || exp.After(before.Add(61*time.Minute)) {
		t.Errorf("default expiration %v, want an hour from %v", exp, before)
	}
	if len(tr.Spec.Audiences) != 1 || tr.Spec.Audiences[0] != "https://kubernetes.default.svc.cluster.local" {
		t.Errorf("default audiences %v", tr.Spec.Audiences)
	}

	t.Run("the token authenticates as the service account", func(t *testing.T) {
		c, _ := tokenClient(t, s, tr.Status.Token)
		u, err := whoami(t, c)
		if err != nil {
			t.Fatal(err)
		}
		if u.Username != "system:serviceaccount:sa-tokens:builder" || u.UID != string(sa.UID) {
			t.Errorf("user %+v", u)
		}
		for _, g := range []string{"system:serviceaccounts", "system:serviceaccounts:sa-tokens", "system:authenticated"} {
			if !slices.Contains(u.Groups, g) {
				t.Errorf("groups %v lack %s", u.Groups, g)
			}
		}
		if _, err := c.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("list configmaps without a binding: %v, want 403", err)
		}
		kubectl(t, s, "-n", ns, "create", "rolebinding", "builder-view", "--clusterrole=view", "--serviceaccount="+ns+":builder")
		waitFor(t, "the role binding to take effect", func() bool {
			_, err := c.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
			return err == nil
		})
		// The real kubectl with only the token.
		kc := filepath.Join(t.TempDir(), "token.kubeconfig")
		err = clientcmd.WriteToFile(clientcmdapi.Config{
			Clusters:       map[string]*clientcmdapi.Cluster{"c": {Server: s.Config.Host, CertificateAuthorityData: s.Config.CAData}},
			AuthInfos:      map[string]*clientcmdapi.AuthInfo{"u": {Token: tr.Status.Token}},
			Contexts:       map[string]*clientcmdapi.Context{"x": {Cluster: "c", AuthInfo: "u"}},
			CurrentContext: "x",
		}, kc)
		if err != nil {
			t.Fatal(err)
		}
		out, err := kubectlEnv(t, s, []string{"KUBECONFIG=" + kc}, "--kubeconfig="+kc, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
		if err != nil {
			t.Fatalf("kubectl auth whoami: %v: %s", err, out)
		}
		if out != "system:serviceaccount:sa-tokens:builder" {
			t.Errorf("kubectl auth whoami with the token: %q", out)
		}
	})

	t.Run("kubectl create token", func(t *testing.T) {
		tok := strings.TrimSpace(kubectl(t, s, "-n", ns, "create", "token", "builder", "--duration=20m", "--audience=vault"))
		r, err := s.Client.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{
			Spec: authenticationv1.TokenReviewSpec{Token: tok, Audiences: []string{"vault"}}}, metav1.CreateOptions{})
		if err != nil || !r.Status.Authenticated || r.Status.User.Username != "system:serviceaccount:sa-tokens:builder" {
			t.Fatalf("kubectl's token %q: %+v, %v", tok, r, err)
		}
	})

	t.Run("TokenReview checks audiences", func(t *testing.T) {
		vault := requestToken(t, s, ns, "builder", authenticationv1.TokenRequestSpec{Audiences: []string{"vault"}, ExpirationSeconds: ptr.To[int64](600)})
		review := func(token string, aud ...string) authenticationv1.TokenReviewStatus {
			r, err := s.Client.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{
				Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: aud}}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			return r.Status
		}
		if st := review(tr.Status.Token); !st.Authenticated || st.User.Username != "system:serviceaccount:sa-tokens:builder" {
			t.Errorf("API token: %+v", st)
		}
		if st := review(tr.Status.Token, "vault"); st.Authenticated {
			t.Errorf("API token accepted for audience vault: %+v", st)
		}
		if st := review(vault.Status.Token, "vault"); !st.Authenticated || len(st.Audiences) != 1 || st.Audiences[0] != "vault" {
			t.Errorf("vault token for vault: %+v", st)
		}
		c, _ := tokenClient(t, s, vault.Status.Token)
		if _, err := whoami(t, c); !apierrors.IsUnauthorized(err) {
			t.Errorf("vault token used against the API: %v, want 401", err)
		}
	})

	t.Run("bad requests", func(t *testing.T) {
		_, err := s.Client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "builder",
			&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](60)}}, metav1.CreateOptions{})
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "10 minutes") {
			t.Errorf("60 s token: %v, want 422", err)
		}
		_, err = s.Client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "nobody", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
		if !apierrors.IsNotFound(err) {
			t.Errorf("token for a missing account: %v, want 404", err)
		}
		_, err = s.Client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "builder", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
			BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "missing"}}}, metav1.CreateOptions{})
		if !apierrors.IsNotFound(err) {
			t.Errorf("token bound to a missing pod: %v, want 404", err)
		}
		c, _ := tokenClient(t, s, "a.b.c")
		if _, err := whoami(t, c); !apierrors.IsUnauthorized(err) {
			t.Errorf("garbage JWT: %v, want 401", err)
		}
	})

	t.Run("a pod-bound token dies with its pod", func(t *testing.T) {
		pod, err := s.Client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "job"},
			Spec: corev1.PodSpec{ServiceAccountName: "builder", NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		bound := requestToken(t, s, ns, "builder", authenticationv1.TokenRequestSpec{
			BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID}})
		c, _ := tokenClient(t, s, bound.Status.Token)
		u, err := whoami(t, c)
		if err != nil {
			t.Fatal(err)
		}
		if got := u.Extra["authentication.kubernetes.io/pod-name"]; len(got) != 1 || got[0] != "job" {
			t.Errorf("extra %v lacks the pod", u.Extra)
		}
		if got := u.Extra["authentication.kubernetes.io/node-name"]; len(got) != 1 || got[0] != "n1" {
			t.Errorf("extra %v lacks the node", u.Extra)
		}
		_, err = s.Client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "builder", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
			BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: "other"}}}, metav1.CreateOptions{})
		if !apierrors.IsConflict(err) {
			t.Errorf("token bound to a stale pod UID: %v, want 409", err)
		}
		if err := s.Client.CoreV1().Pods(ns).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the token to stop working", func() bool {
			_, err := whoami(t, c)
			return apierrors.IsUnauthorized(err)
		})
	})

	t.Run("OIDC discovery", func(t *testing.T) {
		_, cfg := tokenClient(t, s, tr.Status.Token)
		hc, err := rest.HTTPClientFor(cfg)
		if err != nil {
			t.Fatal(err)
		}
		get := func(path string) map[string]interface{} {
			resp, err := hc.Get(cfg.Host + path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
			}
			var m map[string]interface{}
			if err := json.Unmarshal(body, &m); err != nil {
				t.Fatalf("GET %s: %v", path, err)
			}
			return m
		}
		doc := get("/.well-known/openid-configuration")
		if doc["issuer"] != "https://kubernetes.default.svc.cluster.local" || doc["jwks_uri"] != "https://kubernetes.default.svc.cluster.local/openid/v1/jwks" {
			t.Errorf("discovery document %v", doc)
		}
		if keys, _ := get("/openid/v1/jwks")["keys"].([]interface{}); len(keys) != 1 {
			t.Errorf("jwks keys %v", keys)
		}
	})

	t.Run("deleting the account revokes its tokens", func(t *testing.T) {
		c, _ := tokenClient(t, s, tr.Status.Token)
		if err := s.Client.CoreV1().ServiceAccounts(ns).Delete(ctx, "builder", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the token to stop working", func() bool {
			_, err := whoami(t, c)
			return apierrors.IsUnauthorized(err)
		})
		// An account of the same name is a different account.
		if _, err := s.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "builder"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := whoami(t, c); !apierrors.IsUnauthorized(err) {
			t.Errorf("old token after the account was recreated: %v, want 401", err)
		}
	})
}

func TestServiceAccountAdmission(t *testing.T) {
	s := testenv.Start(t)
	ctx := context.Background()
	// A pod created right after its namespace: the default account must
	// already be there.
	ns := kubectlNamespace(t, s, "sa-admission")
	pod := func(name string, mutate func(*corev1.Pod)) (*corev1.Pod, error) {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "init", Image: "busybox"}},
			Containers:     []corev1.Container{{Name: "a", Image: "busybox"}, {Name: "b", Image: "busybox"}}}}
		if mutate != nil {
			mutate(p)
		}
		return s.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
	}
	p, err := pod("plain", nil)
	if err != nil {
		t.Fatalf("pod in a namespace created a moment ago: %v", err)
	}
	if p.Spec.ServiceAccountName != "default" {
		t.Errorf("serviceAccountName %q", p.Spec.ServiceAccountName)
	}
	var vol *corev1.Volume
	for i := range p.Spec.Volumes {
		if strings.HasPrefix(p.Spec.Volumes[i].Name, "kube-api-access-") {
			vol = &p.Spec.Volumes[i]
		}
	}
	if vol == nil || vol.Projected == nil || len(vol.Projected.Sources) != 3 {
		t.Fatalf("volumes %+v: no kube-api-access volume", p.Spec.Volumes)
	}
	for _, c := range append(p.Spec.InitContainers, p.Spec.Containers...) {
		found := false
		for _, m := range c.VolumeMounts {
			found = found || (m.Name == vol.Name && m.MountPath == "/var/run/secrets/kubernetes.io/serviceaccount" && m.ReadOnly)
		}
		if !found {
			t.Errorf("container %s mounts %+v", c.Name, c.VolumeMounts)
		}
	}

	if _, err := s.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "quiet"},
		AutomountServiceAccountToken: ptr.To(false), ImagePullSecrets: []corev1.LocalObjectReference{{Name: "regcred"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p, err = pod("quiet", func(p *corev1.Pod) { p.Spec.ServiceAccountName = "quiet" })
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Spec.Volumes) != 0 || len(p.Spec.ImagePullSecrets) != 1 || p.Spec.ImagePullSecrets[0].Name != "regcred" {
		t.Errorf("pod of an account that opts out: volumes %+v, pull secrets %+v", p.Spec.Volumes, p.Spec.ImagePullSecrets)
	}
	p, err = pod("loud", func(p *corev1.Pod) {
		p.Spec.ServiceAccountName = "quiet"
		p.Spec.AutomountServiceAccountToken = ptr.To(true)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Spec.Volumes) != 1 {
		t.Errorf("pod opting back in: volumes %+v", p.Spec.Volumes)
	}

	_, err = pod("ghost", func(p *corev1.Pod) { p.Spec.ServiceAccountName = "ghost" })
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `serviceaccounts "ghost" not found`) {
		t.Errorf("pod of a missing account: %v, want 403", err)
	}

	// The pod's own YAML, read back and created again, keeps one volume.
	again := p.DeepCopy()
	again.ObjectMeta = metav1.ObjectMeta{Name: "again"}
	again.Spec.NodeName = ""
	again2, err := s.Client.CoreV1().Pods(ns).Create(ctx, again, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(again2.Spec.Volumes) != 1 {
		t.Errorf("recreated pod has volumes %+v", again2.Spec.Volumes)
	}

	// The role every node holds lets it ask for pods' tokens.
	var role rbacv1.ClusterRole
	out := kubectl(t, s, "get", "clusterrole", "system:node", "-o", "json")
	if err := json.Unmarshal([]byte(out), &role); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range role.Rules {
		found = found || (slices.Contains(r.Resources, "serviceaccounts/token") && slices.Contains(r.Verbs, "create"))
	}
	if !found {
		t.Errorf("system:node cannot create serviceaccounts/token: %+v", role.Rules)
	}
}

// A Secret of type kubernetes.io/service-account-token gets a long-lived
// token, which stops working once the account is gone.
func TestServiceAccountTokenSecrets(t *testing.T) {
	s := testenv.Start(t)
	ctx := context.Background()
	ns := kubectlNamespace(t, s, "sa-secrets")
	sa, err := s.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "ci"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	kubectlIn(t, s, `apiVersion: v1
kind: Secret
metadata:
  name: ci-token
  namespace: sa-secrets
  annotations:
    kubernetes.io/service-account.name: ci
type: kubernetes.io/service-account-token
`, "apply", "-f", "-")
	var sec *corev1.Secret
	waitFor(t, "the token controller to fill the secret", func() bool {
		sec, err = s.Client.CoreV1().Secrets(ns).Get(ctx, "ci-token", metav1.GetOptions{})
		return err == nil && len(sec.Data["token"]) > 0
	})
	if string(sec.Data["namespace"]) != ns || !strings.Contains(string(sec.Data["ca.crt"]), "BEGIN CERTIFICATE") ||
		sec.Annotations["kubernetes.io/service-account.uid"] != string(sa.UID) {
		t.Errorf("secret data %v annotations %v", sec.Data, sec.Annotations)
	}
	c, _ := tokenClient(t, s, string(sec.Data["token"]))
	u, err := whoami(t, c)
	if err != nil || u.Username != "system:serviceaccount:sa-secrets:ci" {
		t.Fatalf("whoami with the secret's token: %+v, %v", u, err)
	}
	if err := s.Client.CoreV1().ServiceAccounts(ns).Delete(ctx, "ci", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the secret to be deleted with its account", func() bool {
		_, err := s.Client.CoreV1().Secrets(ns).Get(ctx, "ci-token", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	if _, err := whoami(t, c); !apierrors.IsUnauthorized(err) {
		t.Errorf("token of a deleted account: %v, want 401", err)
	}
}
