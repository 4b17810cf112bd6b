package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	neturl "net/url"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// The load balancer pool of TestServiceFeatures (TEST-NET-3), and the
// link between the node and the "other host" (a benchmarking range, used
// by nothing on a test machine).
const (
	lbPool          = "203.0.113.16/29"
	otherHostNS     = "gureum-e2e-other"
	otherHostLink   = "gureum-e2e-oth"
	otherHostAddr   = "198.18.77.2"
	otherHostGWCIDR = "198.18.77.1/24"
	otherHostGW     = "198.18.77.1"
)

// echoDeployment serves, on each of 3 pods, its own name at /name and the
// client address it sees at /cgi-bin/ip (REMOTE_ADDR of a busybox httpd
// CGI script), so a response tells which pod answered and whether the
// client's source address survived the trip.
const echoDeployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: echo}
spec:
  replicas: 3
  selector: {matchLabels: {app: echo}}
  template:
    metadata: {labels: {app: echo}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: echo
        image: e2e-busybox:1
        command:
        - sh
        - -c
        - |
          hostname > /www/name
          /bin/busybox mkdir -p /www/cgi-bin
          echo '#!/bin/sh' > /www/cgi-bin/ip
          echo 'echo Content-Type: text/plain; echo; echo $REMOTE_ADDR' >> /www/cgi-bin/ip
          /bin/busybox chmod +x /www/cgi-bin/ip
          exec httpd -f -p 8080 -h /www
        ports: [{containerPort: 8080, name: http}]
        readinessProbe: {httpGet: {path: /name, port: http}, periodSeconds: 1}
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: client, image: e2e-busybox:1, command: ["sleep", "3600"]}
`

// Service features beyond a plain ClusterIP, through the real service
// proxy (nftables), cluster DNS and load balancer controller, with real
// pods: session affinity, traffic policies, LoadBalancer addresses from
// the pool reached from another host, NodePorts (not) on 127.0.0.1 and
// ExternalName CNAMEs. The subtests share one node, one 3-pod backend and
// one client pod; each creates and deletes its own Services.
func TestServiceFeatures(t *testing.T) {
	n := startNodeWith(t, serverOpts{Extra: []string{"--service-lb-pool", lbPool}})
	buildBusyboxImage(t, n.Kubeconfig, "e2e-busybox:1")
	other := newOtherHost(t)
	bridgeRulesBefore := bridgeMasqueradeRules(t)
	n.apply(t, echoDeployment)
	n.kubectl(t, "rollout", "status", "deployment/echo", "--timeout=90s")
	n.kubectl(t, "wait", "--for=condition=Ready", "pod/client", "--timeout=60s")
	backends := n.pods(t, "app=echo")
	if len(backends) != 3 {
		t.Fatalf("%d echo pods, want 3", len(backends))
	}
	client := n.pod(t, "client")
	nodeIP := client.Status.HostIP
	nodeName := strings.TrimSpace(n.kubectl(t, "get", "nodes", "-o", "jsonpath={.items[0].metadata.name}"))
	if nodeIP == "" || nodeName == "" {
		t.Fatalf("node address %q, node name %q", nodeIP, nodeName)
	}
	// The other host reaches the node's own address through the link: an
	// answer or a refusal (the API server listens on 127.0.0.1 here) both
	// prove it; a timeout means no route.
	if c, err := other.dial(net.JoinHostPort(nodeIP, strconv.Itoa(n.Ports.HTTPS)), 2*time.Second); err == nil {
		c.Close()
	} else if !isRefusedOrReset(err) {
		t.Fatalf("the other host cannot reach the node at %s through %s: %v", nodeIP, otherHostGW, err)
	}

	t.Run("pods reach other hosts masqueraded and the node and pods and ClusterIPs as themselves", func(t *testing.T) {
		podNetworkChecks(t, n, other, client, backends[0], bridgeRulesBefore)
	})

	t.Run("sessionAffinity ClientIP keeps a client on one pod", func(t *testing.T) {
		n.apply(t, `apiVersion: v1
kind: Service
metadata: {name: sticky}
spec:
  selector: {app: echo}
  sessionAffinity: ClientIP
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: spread}
spec:
  selector: {app: echo}
  ports: [{name: http, port: 80, targetPort: http}]
`)
		t.Cleanup(func() { _, _ = kubectl(t, n.Kubeconfig, "delete", "service", "sticky", "spread", "--ignore-not-found") })
		sticky := "http://" + net.JoinHostPort(n.clusterIP(t, "sticky"), "80")
		spread := "http://" + net.JoinHostPort(n.clusterIP(t, "spread"), "80")
		waitAnswers(t, sticky+"/name")
		waitAnswers(t, spread+"/name")

		seen := n.fromPod(t, "client", sticky+"/name", 30)
		if len(seen) != 1 || seen["FAILED"] > 0 {
			t.Errorf("30 requests from one pod to a ClientIP-affinity service reached %v, want one pod every time", seen)
		}
		// The sticky entry is the client pod's address, with a timeout.
		if table := nftTable(t); !regexp.MustCompile(`(^|[^0-9.])` + regexp.QuoteMeta(client.Status.PodIP) + `([^0-9.]|$)`).MatchString(table) {
			t.Errorf("no affinity entry for the client %s in the proxy's table:\n%s", client.Status.PodIP, table)
		}
		// The node is another client: it sticks too (to whichever pod).
		first := ""
		for i := 0; i < 20; i++ {
			body, err := httpGet(sticky + "/name")
			if err != nil {
				t.Fatalf("request %d from the node: %v", i, err)
			}
			if name := strings.TrimSpace(body); first == "" {
				first = name
			} else if name != first {
				t.Fatalf("request %d from the node reached %s, earlier ones %s", i, name, first)
			}
		}
		// The same client without affinity is spread over all pods.
		seen = n.fromPod(t, "client", spread+"/name", 30)
		if len(seen) != 3 || seen["FAILED"] > 0 {
			t.Errorf("30 requests from one pod to a service without affinity reached %v, want all 3 pods", seen)
		}
	})

	t.Run("traffic policies Local", func(t *testing.T) {
		// Real pods on the one real node: every endpoint is local, so
		// Local policies keep serving and external clients keep their
		// source address.
		n.apply(t, `apiVersion: v1
kind: Service
metadata: {name: itp-local}
spec:
  selector: {app: echo}
  internalTrafficPolicy: Local
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: etp-local}
spec:
  type: NodePort
  selector: {app: echo}
  externalTrafficPolicy: Local
  ports: [{name: http, port: 80, targetPort: http}]
`)
		t.Cleanup(func() {
			_, _ = kubectl(t, n.Kubeconfig, "delete", "service", "itp-local", "etp-local", "--ignore-not-found")
		})
		itp := "http://" + net.JoinHostPort(n.clusterIP(t, "itp-local"), "80")
		waitAnswers(t, itp+"/name")
		if seen := n.fromPod(t, "client", itp+"/name", 30); len(seen) != 3 || seen["FAILED"] > 0 {
			t.Errorf("internalTrafficPolicy Local with 3 local endpoints: 30 requests reached %v, want all 3 pods", seen)
		}
		etp := "http://" + net.JoinHostPort(nodeIP, n.nodePort(t, "etp-local"))
		waitAnswers(t, etp+"/name")
		for i := 0; i < 5; i++ {
			if body, err := other.get(etp+"/cgi-bin/ip", 3*time.Second); err != nil || clientAddr(body) != otherHostAddr {
				t.Errorf("externalTrafficPolicy Local NodePort from another host: pod saw client %q (%v), want the client's own %s", clientAddr(body), err, otherHostAddr)
				break
			}
		}

		// Endpoints elsewhere: one real node cannot run pods on another,
		// but the proxy decides by the EndpointSlice's nodeName. Selector-
		// less Services with hand-written slices point at real pods and
		// say one of them (or both) runs on a node "elsewhere".
		a, b := backends[0], backends[1]
		manual := func(svc string, nodeA, nodeB string) string {
			return fmt.Sprintf(`apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: %[1]s-manual
  labels: {kubernetes.io/service-name: %[1]s, endpointslice.kubernetes.io/managed-by: e2e.gureum.io}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints:
- {addresses: [%[2]s], nodeName: %[3]s, conditions: {ready: true}}
- {addresses: [%[4]s], nodeName: %[5]s, conditions: {ready: true}}
`, svc, a.Status.PodIP, nodeA, b.Status.PodIP, nodeB)
		}
		n.apply(t, `apiVersion: v1
kind: Service
metadata: {name: itp-mixed}
spec:
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: etp-mixed}
spec:
  type: NodePort
  ports: [{name: http, port: 80, targetPort: 8080}]
---
`+manual("itp-mixed", nodeName, "elsewhere")+"---\n"+manual("etp-mixed", nodeName, "elsewhere"))
		t.Cleanup(func() {
			_, _ = kubectl(t, n.Kubeconfig, "delete", "service", "itp-mixed", "etp-mixed", "--ignore-not-found")
			_, _ = kubectl(t, n.Kubeconfig, "delete", "endpointslice", "itp-mixed-manual", "etp-mixed-manual", "--ignore-not-found")
		})
		only := func(names ...string) map[string]bool {
			m := map[string]bool{}
			for _, s := range names {
				m[s] = true
			}
			return m
		}
		both, onlyA := only(a.Metadata.Name, b.Metadata.Name), only(a.Metadata.Name)

		// Cluster policy (the default) first: both endpoints serve, so
		// what Local leaves out below is reachable.
		itpMixed := "http://" + net.JoinHostPort(n.clusterIP(t, "itp-mixed"), "80") + "/name"
		eventually(t, 10*time.Second, "internalTrafficPolicy Cluster uses both endpoints", func() error {
			return sameSet(n.fromPod(t, "client", itpMixed, 20), both)
		})
		n.kubectl(t, "patch", "service", "itp-mixed", "-p", `{"spec":{"internalTrafficPolicy":"Local"}}`)
		eventually(t, 10*time.Second, "internalTrafficPolicy Local uses only the endpoint on this node", func() error {
			return sameSet(n.fromPod(t, "client", itpMixed, 20), onlyA)
		})

		etpMixed := "http://" + net.JoinHostPort(nodeIP, n.nodePort(t, "etp-mixed"))
		eventually(t, 10*time.Second, "externalTrafficPolicy Cluster: another host reaches both endpoints", func() error {
			return sameSet(other.getMany(etpMixed+"/name", 20), both)
		})
		if body, err := other.get(etpMixed+"/cgi-bin/ip", 3*time.Second); err != nil || clientAddr(body) == otherHostAddr {
			t.Errorf("externalTrafficPolicy Cluster from another host: pod saw %q (%v); want the node's masquerading address", clientAddr(body), err)
		}
		n.kubectl(t, "patch", "service", "etp-mixed", "-p", `{"spec":{"externalTrafficPolicy":"Local"}}`)
		eventually(t, 10*time.Second, "externalTrafficPolicy Local: another host reaches only the endpoint on this node", func() error {
			return sameSet(other.getMany(etpMixed+"/name", 20), onlyA)
		})
		if body, err := other.get(etpMixed+"/cgi-bin/ip", 3*time.Second); err != nil || clientAddr(body) != otherHostAddr {
			t.Errorf("externalTrafficPolicy Local from another host: pod saw %q (%v), want the client's own %s", clientAddr(body), err, otherHostAddr)
		}
		// The node itself may use every endpoint (kube-proxy's
		// short-circuit for node-local clients).
		if err := sameSet(fromNode(etpMixed+"/name", 20), both); err != nil {
			t.Errorf("externalTrafficPolicy Local, node to its own NodePort: %v", err)
		}

		// No endpoint on this node: Local drops, Kubernetes' documented
		// behaviour (not a reject: the client times out).
		n.apply(t, manual("itp-mixed", "elsewhere", "elsewhere")+"---\n"+manual("etp-mixed", "elsewhere", "elsewhere"))
		eventually(t, 15*time.Second, "internalTrafficPolicy Local without local endpoints drops", func() error {
			// 143: killed by timeout, so neither answered nor refused.
			out, _ := kubectl(t, n.Kubeconfig, "exec", "client", "--", "sh", "-c", podWget+" "+itpMixed+" 2>&1; echo rc=$?")
			if !strings.HasSuffix(strings.TrimSpace(out), "rc=143") {
				return fmt.Errorf("want a drop (the request times out): %q", out)
			}
			return nil
		})
		eventually(t, 15*time.Second, "externalTrafficPolicy Local without local endpoints drops outside traffic", func() error {
			body, err := other.get(etpMixed+"/name", 1500*time.Millisecond)
			if err == nil {
				return fmt.Errorf("another host was answered by %q", strings.TrimSpace(body))
			}
			if !isTimeout(err) {
				return fmt.Errorf("want a drop (timeout), got %v", err)
			}
			return nil
		})
		if err := sameSet(fromNode(etpMixed+"/name", 20), both); err != nil {
			t.Errorf("externalTrafficPolicy Local without local endpoints, node to its own NodePort: %v", err)
		}
	})

	t.Run("LoadBalancer from the pool answers on the node and from another host", func(t *testing.T) {
		n.apply(t, `apiVersion: v1
kind: Service
metadata: {name: lb}
spec:
  type: LoadBalancer
  selector: {app: echo}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: lb-local}
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  selector: {app: echo}
  ports: [{name: http, port: 80, targetPort: http}]
`)
		t.Cleanup(func() { _, _ = kubectl(t, n.Kubeconfig, "delete", "service", "lb", "lb-local", "--ignore-not-found") })
		pool := netip.MustParsePrefix(lbPool)
		ingress := map[string]string{}
		for _, svc := range []string{"lb", "lb-local"} {
			eventually(t, 15*time.Second, svc+" gets a pool address", func() error {
				ip := strings.TrimSpace(n.kubectl(t, "get", "service", svc, "-o", "jsonpath={.status.loadBalancer.ingress[*].ip}"))
				a, err := netip.ParseAddr(ip)
				if err != nil || !pool.Contains(a) {
					return fmt.Errorf("status.loadBalancer.ingress ips %q, want one address of %s", ip, lbPool)
				}
				ingress[svc] = ip
				return nil
			})
		}
		if ingress["lb"] == ingress["lb-local"] {
			t.Fatalf("two Services share the pool address %s", ingress["lb"])
		}
		if out := n.kubectl(t, "get", "service", "lb"); !strings.Contains(out, ingress["lb"]) {
			t.Errorf("kubectl get service shows no EXTERNAL-IP %s:\n%s", ingress["lb"], out)
		}
		names := map[string]bool{}
		for _, p := range backends {
			names[p.Metadata.Name] = true
		}
		lbURL := "http://" + net.JoinHostPort(ingress["lb"], "80")
		localURL := "http://" + net.JoinHostPort(ingress["lb-local"], "80")
		waitAnswers(t, lbURL+"/name")
		waitAnswers(t, localURL+"/name")
		if err := sameSet(fromNode(lbURL+"/name", 30), names); err != nil {
			t.Errorf("the node through the LoadBalancer address: %v", err)
		}

		// Another host routes the pool to the node, as a router in front
		// of it would.
		if err := sameSet(other.getMany(lbURL+"/name", 30), names); err != nil {
			t.Errorf("another host through the LoadBalancer address: %v", err)
		}
		if body, err := other.get(lbURL+"/cgi-bin/ip", 3*time.Second); err != nil || clientAddr(body) == otherHostAddr {
			t.Errorf("externalTrafficPolicy Cluster through the LoadBalancer address: pod saw %q (%v); want the node's masquerading address", clientAddr(body), err)
		}
		if body, err := other.get(localURL+"/cgi-bin/ip", 3*time.Second); err != nil || clientAddr(body) != otherHostAddr {
			t.Errorf("externalTrafficPolicy Local through the LoadBalancer address: pod saw %q (%v), want the client's own %s", clientAddr(body), err, otherHostAddr)
		}

		// The NodePort behind the LoadBalancer, from the other host, on
		// the node's address (its InternalIP).
		nodePort := n.nodePort(t, "lb")
		if err := sameSet(other.getMany("http://"+net.JoinHostPort(nodeIP, nodePort)+"/name", 30), names); err != nil {
			t.Errorf("another host through the NodePort on %s: %v", nodeIP, err)
		}
		// NodePorts answer on the node's addresses only (kube-proxy's
		// nftables default, --nodeport-addresses primary), not on the
		// node's end of the link to the other host.
		if body, err := other.get("http://"+net.JoinHostPort(otherHostGW, nodePort)+"/name", 2*time.Second); err == nil || !isRefusedOrReset(err) {
			t.Errorf("NodePort on %s, an address that is not the node's InternalIP: %q %v, want connection refused", otherHostGW, body, err)
		}

		n.kubectl(t, "delete", "service", "lb-local")
		eventually(t, 15*time.Second, "deleted Service's load balancer address stops answering", func() error {
			if body, err := other.get(localURL+"/name", time.Second); err == nil {
				return fmt.Errorf("still answered by %q", strings.TrimSpace(body))
			}
			return nil
		})
	})

	t.Run("NodePort is not served on 127.0.0.1", func(t *testing.T) {
		n.apply(t, `apiVersion: v1
kind: Service
metadata: {name: np}
spec:
  type: NodePort
  selector: {app: echo}
  ports: [{name: http, port: 80, targetPort: http}]
`)
		t.Cleanup(func() { _, _ = kubectl(t, n.Kubeconfig, "delete", "service", "np", "--ignore-not-found") })
		port := n.nodePort(t, "np")
		waitAnswers(t, "http://"+net.JoinHostPort(nodeIP, port)+"/name")
		// As in kube-proxy's nftables mode: no rule for 127.0.0.1, so the
		// connection meets the host's (empty) port and is refused at once.
		start := time.Now()
		body, err := httpGet("http://" + net.JoinHostPort("127.0.0.1", port) + "/name")
		if err == nil || !isRefusedOrReset(err) {
			t.Errorf("NodePort on 127.0.0.1: %q %v, want connection refused", body, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("the refusal took %v", d)
		}
		out, err := execOutput("nft", "list", "set", "ip", "gureum-proxy", "nodeport-ips")
		if err != nil || strings.Contains(out, "127.0.0.1") || !strings.Contains(out, nodeIP) {
			t.Errorf("nodeport-ips should hold the node address %s and no loopback address: %v\n%s", nodeIP, err, out)
		}
	})

	t.Run("ExternalName resolves to a CNAME", func(t *testing.T) {
		n.apply(t, `apiVersion: v1
kind: Service
metadata: {name: echo-dns}
spec:
  selector: {app: echo}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: alias}
spec:
  type: ExternalName
  externalName: echo-dns.default.svc.cluster.local
---
apiVersion: v1
kind: Service
metadata: {name: outside}
spec:
  type: ExternalName
  externalName: www.example.com
`)
		t.Cleanup(func() {
			_, _ = kubectl(t, n.Kubeconfig, "delete", "service", "echo-dns", "alias", "outside", "--ignore-not-found")
		})
		clusterIP := n.clusterIP(t, "echo-dns")
		// Inside the cluster domain the server follows the CNAME itself.
		eventually(t, 15*time.Second, "CNAME to an in-cluster name", func() error {
			out, _ := kubectl(t, n.Kubeconfig, "exec", "client", "--", "nslookup", "alias.default.svc.cluster.local")
			if !strings.Contains(out, "canonical name = echo-dns.default.svc.cluster.local") || !strings.Contains(out, "Address: "+clusterIP) {
				return fmt.Errorf("nslookup alias.default.svc.cluster.local:\n%s\nwant a CNAME to echo-dns.default.svc.cluster.local and its address %s", out, clusterIP)
			}
			return nil
		})
		// Outside it the CNAME is the answer, whatever the upstream
		// resolvers (none answer for the Internet on a test machine) say
		// about the target.
		eventually(t, 15*time.Second, "CNAME to an outside name", func() error {
			out, _ := kubectl(t, n.Kubeconfig, "exec", "client", "--", "nslookup", "-type=cname", "outside.default.svc.cluster.local")
			if !strings.Contains(out, "canonical name = www.example.com") {
				return fmt.Errorf("nslookup -type=cname outside.default.svc.cluster.local:\n%s\nwant a CNAME to www.example.com", out)
			}
			return nil
		})
		// ExternalName Services get no proxy rules.
		if table := nftTable(t); strings.Contains(table, "default/alias/") || strings.Contains(table, "default/outside/") {
			t.Errorf("ExternalName Services have rules in the proxy's table:\n%s", table)
		}
	})
}

func (n *node) clusterIP(t *testing.T, svc string) string {
	t.Helper()
	ip := strings.TrimSpace(n.kubectl(t, "get", "service", svc, "-o", "jsonpath={.spec.clusterIP}"))
	if net.ParseIP(ip) == nil {
		t.Fatalf("service %s has clusterIP %q", svc, ip)
	}
	return ip
}

func (n *node) nodePort(t *testing.T, svc string) string {
	t.Helper()
	port := strings.TrimSpace(n.kubectl(t, "get", "service", svc, "-o", "jsonpath={.spec.ports[0].nodePort}"))
	if port == "" || port == "0" {
		t.Fatalf("service %s has no nodePort", svc)
	}
	return port
}

// podWget is a busybox wget bounded to 3 s. busybox-static's own wget -T
// crashes (SIGSEGV), so busybox timeout bounds it instead.
const podWget = "/bin/busybox timeout 3 wget -qO-"

// fromPod makes count requests from pod with busybox wget and counts the
// answers by body; FAILED counts requests that got none.
func (n *node) fromPod(t *testing.T, pod, url string, count int) map[string]int {
	t.Helper()
	loop := fmt.Sprintf("for i in $(seq %d); do %s %s 2>/dev/null || echo FAILED; done", count, podWget, url)
	seen := map[string]int{}
	for _, f := range strings.Fields(n.kubectl(t, "exec", pod, "--", "sh", "-c", loop)) {
		seen[f]++
	}
	return seen
}

// fromNode makes count requests from the node and counts the answers.
func fromNode(url string, count int) map[string]int {
	seen := map[string]int{}
	for i := 0; i < count; i++ {
		body, err := httpGet(url)
		if err != nil {
			seen["FAILED"]++
			continue
		}
		seen[strings.TrimSpace(body)]++
	}
	return seen
}

// sameSet says whether the answers came from exactly the pods in want,
// with no failures.
func sameSet(seen map[string]int, want map[string]bool) error {
	if seen["FAILED"] > 0 {
		return fmt.Errorf("%d requests failed: %v", seen["FAILED"], seen)
	}
	for name := range want {
		if seen[name] == 0 {
			return fmt.Errorf("answers %v, want exactly the pods %v", seen, want)
		}
	}
	for name := range seen {
		if !want[name] {
			return fmt.Errorf("answers %v, want exactly the pods %v", seen, want)
		}
	}
	return nil
}

// waitAnswers waits until the node gets an answer from url: the proxy
// has programmed the Service.
func waitAnswers(t *testing.T, url string) {
	t.Helper()
	eventually(t, 15*time.Second, "GET "+url+" from the node", func() error {
		_, err := httpGet(url)
		return err
	})
}

// clientAddr is the client address the CGI script printed; busybox httpd
// listens on IPv6 and spells IPv4 clients [::ffff:a.b.c.d].
func clientAddr(body string) string {
	s := strings.Trim(strings.TrimSpace(body), "[]")
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().String()
	}
	return s
}

func isRefusedOrReset(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// otherHost is a network namespace standing for another machine on a
// link to the node: a veth pair, 198.18.77.2 on its side, 198.18.77.1 on
// the node's, and a default route through the node.
type otherHost struct {
	ns string
}

func newOtherHost(t *testing.T) *otherHost {
	t.Helper()
	h := &otherHost{ns: otherHostNS}
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	// Leftovers of a killed run.
	_ = exec.Command("ip", "netns", "del", h.ns).Run()
	_ = exec.Command("ip", "link", "del", otherHostLink).Run()
	run("netns", "add", h.ns)
	t.Cleanup(func() {
		// Deleting the namespace deletes its end of the veth, and with it
		// the node's end.
		_ = exec.Command("ip", "netns", "del", h.ns).Run()
		_ = exec.Command("ip", "link", "del", otherHostLink).Run()
	})
	run("link", "add", otherHostLink, "type", "veth", "peer", "name", "eth0", "netns", h.ns)
	run("addr", "add", otherHostGWCIDR, "dev", otherHostLink)
	run("link", "set", otherHostLink, "up")
	run("-n", h.ns, "link", "set", "lo", "up")
	run("-n", h.ns, "addr", "add", otherHostAddr+"/24", "dev", "eth0")
	run("-n", h.ns, "link", "set", "eth0", "up")
	run("-n", h.ns, "route", "add", "default", "via", otherHostGW)
	return h
}

// dial connects from the other host. The socket is made on a thread that
// entered the namespace; that thread is never unlocked, so it ends with
// its goroutine and nothing else runs in the namespace.
func (h *otherHost) dial(addr string, timeout time.Duration) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		target, err := netns.GetFromName(h.ns)
		if err != nil {
			done <- result{err: fmt.Errorf("open netns %s: %w", h.ns, err)}
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			done <- result{err: fmt.Errorf("enter netns %s: %w", h.ns, err)}
			return
		}
		c, err := net.DialTimeout("tcp4", addr, timeout)
		done <- result{c, err}
	}()
	r := <-done
	return r.c, r.err
}

// get fetches url from the other host.
func (h *otherHost) get(url string, timeout time.Duration) (string, error) {
	u, err := neturl.Parse(url)
	if err != nil {
		return "", err
	}
	c, err := h.dial(u.Host, timeout)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	req.Close = true
	if err := req.Write(c); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), err
}

// getMany makes count requests from the other host and counts the
// answers by body.
func (h *otherHost) getMany(url string, count int) map[string]int {
	seen := map[string]int{}
	for i := 0; i < count; i++ {
		body, err := h.get(url, 3*time.Second)
		if err != nil {
			seen["FAILED"]++
			continue
		}
		seen[strings.TrimSpace(body)]++
	}
	return seen
}
