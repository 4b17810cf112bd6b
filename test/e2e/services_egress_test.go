package e2e

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/vishvananda/netns"
)

// remoteAddrServer answers every request with the client address it sees.
func remoteAddrServer(l net.Listener) *http.Server {
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		fmt.Fprintln(w, host)
	})}
	go func() { _ = srv.Serve(l) }()
	return srv
}

// serveRemoteAddr runs remoteAddrServer on the other host, on a socket
// made on a thread inside its namespace (the socket stays there).
func (h *otherHost) serveRemoteAddr(t *testing.T) string {
	t.Helper()
	type result struct {
		l   net.Listener
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		target, err := netns.GetFromName(h.ns)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			done <- result{err: err}
			return
		}
		l, err := net.Listen("tcp4", net.JoinHostPort(otherHostAddr, "0"))
		done <- result{l, err}
	}()
	r := <-done
	if r.err != nil {
		t.Fatalf("listen on the other host: %v", r.err)
	}
	srv := remoteAddrServer(r.l)
	t.Cleanup(func() { srv.Close() })
	return "http://" + r.l.Addr().String() + "/"
}

// serveRemoteAddrOnNode runs remoteAddrServer on the node (this process)
// on every address.
func serveRemoteAddrOnNode(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := remoteAddrServer(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().(*net.TCPAddr).Port
}

// bridgeMasqueradeRules lists the sandbox IDs of the CNI bridge plugin's
// per-pod masquerade rules (iptables nat POSTROUTING, comment
// `name: "gureum" id: "<sandbox>"`). No iptables, no rules.
func bridgeMasqueradeRules(t *testing.T) map[string]bool {
	t.Helper()
	ids := map[string]bool{}
	out, err := exec.Command("iptables", "-w", "-t", "nat", "-S", "POSTROUTING").CombinedOutput()
	if errors.Is(err, exec.ErrNotFound) {
		return ids
	}
	if err != nil {
		t.Fatalf("iptables -t nat -S POSTROUTING: %v\n%s", err, out)
	}
	for _, m := range regexp.MustCompile(`name: \\"gureum\\" id: \\"([0-9a-f]+)\\"`).FindAllStringSubmatch(string(out), -1) {
		ids[m[1]] = true
	}
	return ids
}

// podNetworkChecks: pods reach other hosts masqueraded to the node's
// address (the service proxy's pod-egress rule; the CNI bridge no longer
// masquerades), and keep their own address towards the node, other pods
// and ClusterIPs; the node's own connections to a ClusterIP keep the
// node's address. rulesBefore are the bridge plugin's masquerade rules
// from before the test's pods started.
func podNetworkChecks(t *testing.T, n *node, other *otherHost, client, backend podInfo, rulesBefore map[string]bool) {
	podIP := client.Status.PodIP
	nodeIP := client.Status.HostIP

	// The conflist the agent installed leaves masquerading to the proxy,
	// and no pod of this test got a bridge-plugin masquerade chain.
	var conflists []string
	_ = filepath.WalkDir(n.DataDir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == "10-gureum.conflist" {
			conflists = append(conflists, path)
		}
		return nil
	})
	if len(conflists) != 1 {
		t.Fatalf("found CNI conflists %v under %s, want one", conflists, n.DataDir)
	}
	conf, err := os.ReadFile(conflists[0])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(conf), `"ipMasq": false`) {
		t.Errorf("%s does not turn the bridge plugin's ipMasq off:\n%s", conflists[0], conf)
	}
	for id := range bridgeMasqueradeRules(t) {
		if !rulesBefore[id] {
			t.Errorf("the bridge plugin added a masquerade rule for sandbox %s", id)
		}
	}
	if table := nftTable(t); !strings.Contains(table, `oifname != "gureum0" masquerade`) {
		t.Errorf("no pod-egress masquerade rule in the proxy's table:\n%s", table)
	}

	get := func(url string) string {
		t.Helper()
		out, err := kubectl(t, n.Kubeconfig, "exec", client.Metadata.Name, "--", "sh", "-c", podWget+" "+url)
		if err != nil {
			t.Fatalf("from pod %s: GET %s: %v\n%s", client.Metadata.Name, url, err, out)
		}
		return clientAddr(out)
	}

	// Another host sees the node's address on the link to it.
	if got := get(other.serveRemoteAddr(t)); got != otherHostGW {
		t.Errorf("pod to another host: the host saw %s, want the node's address %s (masqueraded)", got, otherHostGW)
	}
	// The node sees the pod, on its own address and on the bridge's.
	port := strconv.Itoa(serveRemoteAddrOnNode(t))
	gateway := net.ParseIP(podIP).To4()
	gateway[3] = 1
	for _, addr := range []string{nodeIP, gateway.String()} {
		if got := get("http://" + net.JoinHostPort(addr, port) + "/"); got != podIP {
			t.Errorf("pod to the node at %s: the node saw %s, want the pod's %s", addr, got, podIP)
		}
	}
	// Another pod, directly and through a ClusterIP, sees the pod.
	if got := get("http://" + net.JoinHostPort(backend.Status.PodIP, "8080") + "/cgi-bin/ip"); got != podIP {
		t.Errorf("pod to pod %s: it saw %s, want %s", backend.Status.PodIP, got, podIP)
	}
	n.apply(t, `apiVersion: v1
kind: Service
metadata: {name: plain}
spec:
  selector: {app: echo}
  ports: [{name: http, port: 80, targetPort: http}]
`)
	t.Cleanup(func() { _, _ = kubectl(t, n.Kubeconfig, "delete", "service", "plain", "--ignore-not-found") })
	vip := "http://" + net.JoinHostPort(n.clusterIP(t, "plain"), "80")
	waitAnswers(t, vip+"/name")
	for i := 0; i < 5; i++ {
		if got := get(vip + "/cgi-bin/ip"); got != podIP {
			t.Errorf("pod to a ClusterIP: the endpoint saw %s, want the pod's %s", got, podIP)
			break
		}
	}
	// The node's own connections to a ClusterIP with endpoints here are
	// not masqueraded: the endpoint sees the address the node's routing
	// picks for the ClusterIP (the one a UDP "dial" reports).
	c, err := net.Dial("udp4", net.JoinHostPort(n.clusterIP(t, "plain"), "80"))
	if err != nil {
		t.Fatal(err)
	}
	nodeSrc := c.LocalAddr().(*net.UDPAddr).IP.String()
	c.Close()
	for i := 0; i < 5; i++ {
		body, err := httpGet(vip + "/cgi-bin/ip")
		if err != nil {
			t.Fatalf("node to a ClusterIP: %v", err)
		}
		if got := clientAddr(body); got != nodeSrc {
			t.Errorf("node to a ClusterIP: the endpoint saw %s, want the node's own %s (not masqueraded to the bridge address %s)", got, nodeSrc, gateway)
			break
		}
	}
}
