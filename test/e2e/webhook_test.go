package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAdmissionWebhookInCluster runs a validating webhook in a pod behind a
// Service: the API server calls it at the Service's ClusterIP (through the
// node's service proxy) with TLS verified for webhook.default.svc.
func TestAdmissionWebhookInCluster(t *testing.T) {
	n := startNode(t)
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-o", filepath.Join(root, "bin", "webhook"), "./testdata/webhook")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the webhook server: %v\n%s", err, out)
	}
	if out, err := exec.Command(gureumBin, "image", "build", "--rootfs", root, "--tag", "e2e-webhook:1",
		"--entrypoint", "/bin/webhook", "--kubeconfig", n.Kubeconfig).CombinedOutput(); err != nil {
		t.Fatalf("gureum image build: %v\n%s", err, out)
	}
	caPEM, certPEM, keyPEM := webhookCerts(t, "webhook.default.svc")
	b64 := base64.StdEncoding.EncodeToString
	n.apply(t, `apiVersion: v1
kind: Secret
metadata: {name: webhook-tls}
type: kubernetes.io/tls
data:
  tls.crt: `+b64(certPEM)+`
  tls.key: `+b64(keyPEM)+`
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: webhook}
spec:
  replicas: 1
  selector: {matchLabels: {app: webhook}}
  template:
    metadata: {labels: {app: webhook}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: webhook
        image: e2e-webhook:1
        ports: [{containerPort: 8443}]
        readinessProbe: {tcpSocket: {port: 8443}, periodSeconds: 1}
        volumeMounts: [{name: tls, mountPath: /tls}]
      volumes: [{name: tls, secret: {secretName: webhook-tls}}]
---
apiVersion: v1
kind: Service
metadata: {name: webhook}
spec:
  selector: {app: webhook}
  ports: [{port: 443, targetPort: 8443}]
`)
	n.kubectl(t, "rollout", "status", "deployment/webhook", "--timeout=90s")
	n.apply(t, `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: deny-labelled}
webhooks:
- name: deny.e2e.gureum.io
  admissionReviewVersions: [v1]
  sideEffects: None
  failurePolicy: Fail
  clientConfig:
    service: {namespace: default, name: webhook, path: /validate}
    caBundle: `+b64(caPEM)+`
  rules:
  - {operations: [CREATE], apiGroups: [""], apiVersions: [v1], resources: [configmaps]}
  objectSelector: {matchExpressions: [{key: e2e-webhook, operator: Exists}]}
`)
	t.Cleanup(func() { _, _ = kubectl(t, n.Kubeconfig, "delete", "validatingwebhookconfiguration", "deny-labelled") })

	// The configuration reaches the admission plugin through its informer.
	deadline := time.Now().Add(30 * time.Second)
	var out string
	var err error
	for {
		out, err = kubectlStdin(t, n.Kubeconfig, `apiVersion: v1
kind: ConfigMap
metadata: {name: refused, labels: {e2e-webhook: "1", deny: "yes"}}
`, "create", "-f", "-")
		if err != nil || time.Now().After(deadline) {
			break
		}
		// Admitted before the plugin saw the configuration: try again.
		_, _ = kubectl(t, n.Kubeconfig, "delete", "configmap", "refused")
	}
	if err == nil || !strings.Contains(out, `admission webhook "deny.e2e.gureum.io" denied the request: denied by the in-cluster webhook`) {
		t.Fatalf("a labelled ConfigMap was not denied by the in-cluster webhook (err %v):\n%s", err, out)
	}
	out, err = kubectlStdin(t, n.Kubeconfig, `apiVersion: v1
kind: ConfigMap
metadata: {name: allowed, labels: {e2e-webhook: "1"}}
`, "create", "-f", "-")
	if err != nil {
		t.Fatalf("the webhook refused a ConfigMap it allows (err %v):\n%s", err, out)
	}
}

// webhookCerts makes a CA and a serving certificate for dnsName.
func webhookCerts(t *testing.T, dnsName string) (caPEM, certPEM, keyPEM []byte) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "e2e webhook CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: dnsName}, DNSNames: []string{dnsName},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}
