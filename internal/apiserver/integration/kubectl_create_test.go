package integration

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/gureum/gureum/internal/testenv"
)

// TestKubectlCreate covers kubectl create's generators: each builds an
// object client-side and the server defaults, validates and stores it.
func TestKubectlCreate(t *testing.T) {
	t.Parallel()
	s := testenv.Start(t)

	t.Run("SecretsAndConfigMaps", func(t *testing.T) {
		ns := kubectlNamespace(t, s, "kubectl-create-config")
		dir := t.TempDir()
		certFile, keyFile := writeSelfSignedCert(t, dir)
		appConf := filepath.Join(dir, "app.properties")
		if err := os.WriteFile(appConf, []byte("color=blue\nsize=L\n"), 0o644); err != nil {
			t.Fatal(err)
		}

		wantOutput(t, kubectl(t, s, "create", "secret", "generic", "db", "--from-literal=user=admin", "--from-literal=password=s3cr3t", "-n", ns),
			"secret/db created")
		wantOutput(t, kubectl(t, s, "create", "secret", "tls", "web-tls", "--cert="+certFile, "--key="+keyFile, "-n", ns),
			"secret/web-tls created")
		wantOutput(t, kubectl(t, s, "create", "secret", "docker-registry", "pull", "--docker-server=registry.example.com",
			"--docker-username=robot", "--docker-password=hunter2", "-n", ns), "secret/pull created")
		tab := parseTable(t, kubectl(t, s, "get", "secrets", "-n", ns))
		tab.wantHeader(t, "NAME", "TYPE", "DATA", "AGE")
		wantCells(t, tab.row(t, "db"), map[string]string{"TYPE": "Opaque", "DATA": "2"})
		wantCells(t, tab.row(t, "web-tls"), map[string]string{"TYPE": "kubernetes.io/tls", "DATA": "2"})
		wantCells(t, tab.row(t, "pull"), map[string]string{"TYPE": "kubernetes.io/dockerconfigjson", "DATA": "1"})
		wantOutput(t, kubectl(t, s, "get", "secret", "db", "-n", ns, "-o", "jsonpath={.data.password}"), base64.StdEncoding.EncodeToString([]byte("s3cr3t")))
		certPEM, _ := os.ReadFile(certFile)
		wantOutput(t, kubectl(t, s, "get", "secret", "web-tls", "-n", ns, "-o", `jsonpath={.data.tls\.crt}`), base64.StdEncoding.EncodeToString(certPEM))
		raw, err := base64.StdEncoding.DecodeString(kubectl(t, s, "get", "secret", "pull", "-n", ns, "-o", `jsonpath={.data.\.dockerconfigjson}`))
		if err != nil {
			t.Fatal(err)
		}
		var dockerCfg struct {
			Auths map[string]struct{ Username, Password, Auth string }
		}
		if err := json.Unmarshal(raw, &dockerCfg); err != nil || dockerCfg.Auths["registry.example.com"].Username != "robot" {
			t.Errorf(".dockerconfigjson = %s (%v)", raw, err)
		}
		// The server validates typed secrets.
		badTLS := "apiVersion: v1\nkind: Secret\nmetadata: {name: bad}\ntype: kubernetes.io/tls\ndata: {tls.crt: eA==}\n"
		if out, err := s.Kubectl(t, badTLS, "create", "-n", ns, "-f", "-"); err == nil {
			t.Errorf("a TLS secret without tls.key was accepted:\n%s", out)
		} else {
			wantContains(t, out, `Secret "bad" is invalid`, "data[tls.key]: Required value")
		}

		wantOutput(t, kubectl(t, s, "create", "configmap", "literal", "--from-literal=a=1", "--from-literal=b=two", "-n", ns), "configmap/literal created")
		wantOutput(t, kubectl(t, s, "create", "configmap", "files", "--from-file="+appConf, "--from-file=renamed.conf="+appConf, "-n", ns),
			"configmap/files created")
		wantOutput(t, kubectl(t, s, "create", "configmap", "env", "--from-env-file="+appConf, "-n", ns), "configmap/env created")
		wantOutput(t, kubectl(t, s, "get", "configmap", "literal", "-n", ns, "-o", "jsonpath={.data}"), `{"a":"1","b":"two"}`)
		wantOutput(t, kubectl(t, s, "get", "configmap", "files", "-n", ns, "-o", `jsonpath={.data.app\.properties}`), "color=blue\nsize=L")
		wantOutput(t, kubectl(t, s, "get", "configmap", "env", "-n", ns, "-o", "jsonpath={.data}"), `{"color":"blue","size":"L"}`)
		tab = parseTable(t, kubectl(t, s, "get", "configmaps", "-n", ns))
		wantCells(t, tab.row(t, "files"), map[string]string{"DATA": "2"})
		wantContains(t, kubectlFails(t, s, "create", "configmap", "literal", "--from-literal=a=2", "-n", ns),
			`configmaps "literal" already exists`)
	})

	t.Run("Workloads", func(t *testing.T) {
		wantOutput(t, kubectl(t, s, "create", "namespace", "kubectl-create-work"), "namespace/kubectl-create-work created")
		ns := "kubectl-create-work"
		wantOutput(t, kubectl(t, s, "get", "namespace", ns, "-o", "jsonpath={.status.phase} {.metadata.labels}"),
			`Active {"kubernetes.io/metadata.name":"kubectl-create-work"}`)
		wantContains(t, kubectlFails(t, s, "create", "namespace", ns), `namespaces "kubectl-create-work" already exists`)

		wantOutput(t, kubectl(t, s, "create", "deployment", "web", "--image=nginx:1.25", "--replicas=3", "--port=80", "-n", ns),
			"deployment.apps/web created")
		wantOutput(t, kubectl(t, s, "get", "deployment", "web", "-n", ns, "-o",
			"jsonpath={.spec.replicas} {.spec.selector.matchLabels.app} {.spec.template.spec.containers[0].ports[0].containerPort} {.spec.strategy.type} {.spec.revisionHistoryLimit}"),
			"3 web 80 RollingUpdate 10")

		wantOutput(t, kubectl(t, s, "create", "service", "clusterip", "web", "--tcp=80:8080", "-n", ns), "service/web created")
		wantOutput(t, kubectl(t, s, "create", "service", "nodeport", "web-np", "--tcp=80:8080", "-n", ns), "service/web-np created")
		wantOutput(t, kubectl(t, s, "create", "service", "clusterip", "headless", "--clusterip=None", "-n", ns), "service/headless created")
		wantOutput(t, kubectl(t, s, "expose", "deployment", "web", "--name=web-exposed", "--port=8081", "--target-port=80", "-n", ns),
			"service/web-exposed exposed")
		tab := parseTable(t, kubectl(t, s, "get", "services", "-n", ns, "-o", "wide"))
		wantCells(t, tab.row(t, "web"), map[string]string{"TYPE": "ClusterIP", "PORT(S)": "80/TCP", "SELECTOR": "app=web"})
		wantCells(t, tab.row(t, "headless"), map[string]string{"TYPE": "ClusterIP", "CLUSTER-IP": "None", "PORT(S)": "<none>"})
		wantCells(t, tab.row(t, "web-exposed"), map[string]string{"PORT(S)": "8081/TCP", "SELECTOR": "app=web"})
		np := tab.row(t, "web-np")
		if np["TYPE"] != "NodePort" || !regexp.MustCompile(`^80:3\d{4}/TCP$`).MatchString(np["PORT(S)"]) {
			t.Errorf("nodeport service row %v, want TYPE NodePort and PORT(S) 80:3xxxx/TCP", np)
		}

		wantOutput(t, kubectl(t, s, "create", "job", "once", "--image=busybox:1.36", "-n", ns, "--", "echo", "hi"), "job.batch/once created")
		wantOutput(t, kubectl(t, s, "create", "cronjob", "nightly", "--image=busybox:1.36", "--schedule=0 3 * * *", "-n", ns, "--", "echo", "hi"),
			"cronjob.batch/nightly created")
		wantOutput(t, kubectl(t, s, "create", "job", "manual", "--from=cronjob/nightly", "-n", ns), "job.batch/manual created")
		tab = parseTable(t, kubectl(t, s, "get", "jobs", "-n", ns))
		tab.wantHeader(t, "NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE")
		wantCells(t, tab.row(t, "once"), map[string]string{"STATUS": "Running", "COMPLETIONS": "0/1", "DURATION": "", "AGE": "<age>"})
		tab.row(t, "manual")
		tab = parseTable(t, kubectl(t, s, "get", "jobs", "-n", ns, "-o", "wide"))
		tab.wantHeader(t, "NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE", "CONTAINERS", "IMAGES", "SELECTOR")
		once := tab.row(t, "once")
		wantCells(t, once, map[string]string{"CONTAINERS": "once", "IMAGES": "busybox:1.36"})
		if !regexp.MustCompile(`^batch\.kubernetes\.io/controller-uid=[0-9a-f-]{36}$`).MatchString(once["SELECTOR"]) {
			t.Errorf("job selector %q, want the generated controller-uid selector", once["SELECTOR"])
		}
		wantOutput(t, kubectl(t, s, "get", "job", "manual", "-n", ns, "-o",
			`jsonpath={.metadata.annotations.cronjob\.kubernetes\.io/instantiate} {.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}`),
			"manual CronJob/nightly")
		tab = parseTable(t, kubectl(t, s, "get", "cronjobs", "-n", ns))
		tab.wantHeader(t, "NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST SCHEDULE", "AGE")
		wantCells(t, tab.row(t, "nightly"), map[string]string{"SCHEDULE": "0 3 * * *", "TIMEZONE": "<none>", "SUSPEND": "False",
			"ACTIVE": "0", "LAST SCHEDULE": "<none>", "AGE": "<age>"})
		wantContains(t, kubectlFails(t, s, "create", "cronjob", "bad", "--image=busybox", "--schedule=not a schedule", "-n", ns),
			`CronJob.batch "bad" is invalid`, "spec.schedule")

		wantOutput(t, kubectl(t, s, "create", "serviceaccount", "bot", "-n", ns), "serviceaccount/bot created")
		tab = parseTable(t, kubectl(t, s, "get", "serviceaccounts", "-n", ns))
		tab.wantHeader(t, "NAME", "SECRETS", "AGE")
		wantCells(t, tab.row(t, "bot"), map[string]string{"SECRETS": "0"})
		// The serviceaccount controller creates each namespace's default.
		eventually(t, "the default service account", func() bool {
			_, err := s.Kubectl(t, "", "get", "serviceaccount", "default", "-n", ns)
			return err == nil
		})

		// kubectl get all: the "all" category.
		out := kubectl(t, s, "get", "all", "-n", ns, "-o", "name")
		for _, want := range []string{"service/web", "deployment.apps/web", "job.batch/once", "cronjob.batch/nightly"} {
			wantContains(t, out, want+"\n")
		}
	})
}

// writeSelfSignedCert writes tls.crt and tls.key (ECDSA P-256) into dir.
func writeSelfSignedCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "web.example.com"},
		DNSNames: []string{"web.example.com"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
