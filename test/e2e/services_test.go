package e2e

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// Services through the real service proxy (nftables), the real cluster
// DNS and real pods: a client finds `web` by name, traffic follows
// scaling, readiness and deletion, and NodePort answers on the node.
func TestServicesAndDNS(t *testing.T) {
	n := startNode(t)
	buildBusyboxImage(t, n.Kubeconfig, "e2e-busybox:1")
	// Each pod serves its own name at /name, so a response says which pod
	// answered; /ready decides readiness.
	n.apply(t, `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 20
      containers:
      - name: web
        image: e2e-busybox:1
        command: ["sh", "-c", "hostname > /www/name; echo ok > /www/ready; exec httpd -f -p 8080 -h /www"]
        ports: [{containerPort: 8080, name: http}]
        readinessProbe: {httpGet: {path: /ready, port: http}, periodSeconds: 1, failureThreshold: 1}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: client, image: e2e-busybox:1, command: ["sleep", "3600"]}
`)
	n.kubectl(t, "rollout", "status", "deployment/web", "--timeout=90s")
	n.kubectl(t, "wait", "--for=condition=Ready", "pod/client", "--timeout=60s")
	clusterIP := strings.TrimSpace(n.kubectl(t, "get", "service", "web", "-o", "jsonpath={.spec.clusterIP}"))
	nodePort := strings.TrimSpace(n.kubectl(t, "get", "service", "web", "-o", "jsonpath={.spec.ports[0].nodePort}"))
	vip := "http://" + net.JoinHostPort(clusterIP, "80")

	t.Run("client pod resolves and reaches the service", func(t *testing.T) {
		resolv := n.kubectl(t, "exec", "client", "--", "cat", "/etc/resolv.conf")
		for _, want := range []string{"nameserver 10.43.0.10", "search default.svc.cluster.local svc.cluster.local cluster.local", "options ndots:5"} {
			if !strings.Contains(resolv, want) {
				t.Errorf("client resolv.conf lacks %q:\n%s", want, resolv)
			}
		}
		// busybox's nslookup asks the name as given, without search.
		out := n.kubectl(t, "exec", "client", "--", "nslookup", "web.default.svc.cluster.local")
		if !strings.Contains(out, "Address: "+clusterIP) {
			t.Errorf("nslookup web.default.svc.cluster.local from the pod:\n%s\nwant address %s", out, clusterIP)
		}
		out = n.kubectl(t, "exec", "client", "--", "nslookup", "-type=srv", "_http._tcp.web.default.svc.cluster.local")
		if !strings.Contains(out, "web.default.svc.cluster.local") || !strings.Contains(out, " 80 ") {
			t.Errorf("SRV for the named port:\n%s", out)
		}
		// The search path: ping resolves the short name through libc.
		out, _ = kubectl(t, n.Kubeconfig, "exec", "client", "--", "ping", "-c", "1", "-W", "1", "web")
		if !strings.Contains(out, "("+clusterIP+")") {
			t.Errorf("short name web did not resolve to %s through the search path:\n%s", clusterIP, out)
		}
		seen := map[string]int{}
		loop := "for i in $(seq 30); do wget -qO- " + vip + "/name || echo FAILED; done"
		for _, name := range strings.Fields(n.kubectl(t, "exec", "client", "--", "sh", "-c", loop)) {
			seen[name]++
		}
		if seen["FAILED"] > 0 {
			t.Errorf("%d of 30 requests from a pod through the ClusterIP failed", seen["FAILED"])
		}
		if len(seen) != 3 {
			t.Errorf("30 requests from a pod through the ClusterIP reached %d pods, want all 3: %v", len(seen), seen)
		}
	})

	t.Run("node reaches ClusterIP and NodePort", func(t *testing.T) {
		hostIP := n.pod(t, "client").Status.HostIP
		for _, url := range []string{vip + "/ready", "http://" + net.JoinHostPort(hostIP, nodePort) + "/ready"} {
			if body, err := httpGet(url); err != nil || body != "ok\n" {
				t.Errorf("GET %s from the node: %q %v", url, body, err)
			}
		}
	})

	t.Run("scaling and readiness change the endpoints and the traffic", func(t *testing.T) {
		n.kubectl(t, "scale", "deployment/web", "--replicas=1")
		n.kubectl(t, "rollout", "status", "deployment/web", "--timeout=60s")
		eventually(t, 30*time.Second, "one endpoint", func() error {
			out := n.kubectl(t, "get", "endpoints", "web", "-o", "jsonpath={.subsets[*].addresses[*].ip}")
			if len(strings.Fields(out)) != 1 {
				return fmt.Errorf("endpoints %q", out)
			}
			return nil
		})
		pods := n.pods(t, "app=web")
		only := ""
		for _, p := range pods {
			// Pods scaled away keep running through their grace period.
			if p.Status.Phase == "Running" && p.Metadata.DeletionTimestamp == nil {
				only = p.Metadata.Name
			}
		}
		eventually(t, 10*time.Second, "traffic only to the remaining pod", func() error {
			for i := 0; i < 20; i++ {
				body, err := httpGet(vip + "/name")
				if err != nil {
					return err
				}
				if strings.TrimSpace(body) != only {
					return fmt.Errorf("answered by %q, want only %s", strings.TrimSpace(body), only)
				}
			}
			return nil
		})
		n.kubectl(t, "scale", "deployment/web", "--replicas=3")
		n.kubectl(t, "rollout", "status", "deployment/web", "--timeout=60s")

		// Make one pod unready: it leaves the endpoints and the rotation.
		sick := only
		n.kubectl(t, "exec", sick, "--", "rm", "/www/ready")
		eventually(t, 20*time.Second, "unready pod out of the endpoints", func() error {
			out := n.kubectl(t, "get", "endpoints", "web", "-o", "jsonpath={.subsets[*].addresses[*].targetRef.name}")
			if strings.Contains(out, sick) || len(strings.Fields(out)) != 2 {
				return fmt.Errorf("ready endpoints %q", out)
			}
			return nil
		})
		// The proxy follows the EndpointSlice, which may trail the legacy
		// Endpoints by a moment, and applies within a second.
		eventually(t, 2*time.Second, "proxy drops the unready pod", func() error {
			for i := 0; i < 10; i++ {
				if body, err := httpGet(vip + "/name"); err != nil || strings.TrimSpace(body) == sick {
					return fmt.Errorf("request %d: %q %v", i, body, err)
				}
			}
			return nil
		})
		for i := 0; i < 30; i++ {
			body, err := httpGet(vip + "/name")
			if err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			if strings.TrimSpace(body) == sick {
				t.Fatalf("request %d reached the unready pod %s", i, sick)
			}
		}
		n.kubectl(t, "exec", sick, "--", "sh", "-c", "echo ok > /www/ready")
		eventually(t, 20*time.Second, "pod ready again", func() error {
			out := n.kubectl(t, "get", "endpoints", "web", "-o", "jsonpath={.subsets[*].addresses[*].targetRef.name}")
			if !strings.Contains(out, sick) {
				return fmt.Errorf("ready endpoints %q", out)
			}
			return nil
		})
	})

	t.Run("a deleted pod gets no traffic while it terminates", func(t *testing.T) {
		victim := n.pods(t, "app=web")[0]
		// httpd ignores SIGTERM, so the pod keeps serving through its 20 s
		// grace period: the window in which no request may reach it.
		n.kubectl(t, "delete", "pod", victim.Metadata.Name, "--wait=false")
		eventually(t, 10*time.Second, "endpoint marked terminating", func() error {
			out := n.kubectl(t, "get", "endpointslices", "-l", "kubernetes.io/service-name=web", "-o",
				`jsonpath={range .items[*].endpoints[*]}{.targetRef.name}={.conditions.ready},{.conditions.terminating} {end}`)
			if !strings.Contains(out, victim.Metadata.Name+"=false,true") {
				return fmt.Errorf("endpoints %q", out)
			}
			return nil
		})
		// Give the proxy its sync delay, then the pod must get nothing.
		time.Sleep(time.Second)
		for i := 0; i < 30; i++ {
			body, err := httpGet(vip + "/name")
			if err != nil {
				t.Fatalf("request %d through the ClusterIP: %v", i, err)
			}
			if strings.TrimSpace(body) == victim.Metadata.Name {
				t.Fatalf("request %d reached the terminating pod %s", i, victim.Metadata.Name)
			}
		}
		// It was still alive: the test above meant something.
		if out, err := kubectl(t, n.Kubeconfig, "get", "pod", victim.Metadata.Name, "-o", "wide"); err != nil {
			t.Errorf("the pod is gone already: %v %s", err, out)
		}
		if body, err := httpGet("http://" + net.JoinHostPort(victim.Status.PodIP, "8080") + "/name"); err != nil || strings.TrimSpace(body) != victim.Metadata.Name {
			t.Errorf("the terminating pod no longer served directly (%q %v); the check above proved nothing", body, err)
		}
	})

	t.Run("deleted service leaves no rules", func(t *testing.T) {
		n.kubectl(t, "delete", "service", "web")
		eventually(t, 10*time.Second, "rules gone", func() error {
			out := nftTable(t)
			if strings.Contains(out, clusterIP) || strings.Contains(out, ". "+nodePort+" ") || strings.Contains(out, "default/web/") {
				return fmt.Errorf("rules for the deleted service remain:\n%s", out)
			}
			return nil
		})
		if _, err := httpGet(vip + "/ready"); err == nil {
			t.Errorf("the deleted service's ClusterIP still answers")
		}
	})
}

func nftTable(t *testing.T) string {
	t.Helper()
	out, err := execOutput("nft", "list", "table", "ip", "gureum-proxy")
	if err != nil {
		t.Fatalf("nft list table ip gureum-proxy: %v\n%s", err, out)
	}
	return out
}
