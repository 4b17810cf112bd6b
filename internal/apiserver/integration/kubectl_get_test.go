package integration

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gureum/gureum/internal/testenv"
)

// TestKubectlGetAndDescribe checks what users read every day: the default
// and wide table columns of kubectl get, exactly as Kubernetes prints them,
// the structured outputs, label and field selectors, and describe.
func TestKubectlGetAndDescribe(t *testing.T) {
	t.Parallel()
	s := testenv.Start(t)
	ctx := context.Background()
	ns := kubectlNamespace(t, s, "kubectl-get")

	// The objects every subtest reads. No controllers run in the test
	// server, so statuses are written the way the agent would.
	wantOutput(t, kubectl(t, s, "apply", "-f", testdataFile(t, "node.yaml")), "node/kubectl-node-1 created")
	podYAML := `apiVersion: v1
kind: Pod
metadata:
  name: front
  labels: {app: shop, tier: fe}
spec:
  nodeName: kubectl-node-1
  containers:
  - name: web
    image: nginx:1.25
---
apiVersion: v1
kind: Pod
metadata:
  name: back
  labels: {app: shop, tier: be}
spec:
  containers:
  - name: api
    image: busybox:1.36
`
	wantOutput(t, kubectlIn(t, s, podYAML, "create", "-n", ns, "-f", "-"), "pod/front created\npod/back created")
	front, err := s.Client.CoreV1().Pods(ns).Get(ctx, "front", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	started := metav1.NewTime(time.Now().Add(-time.Minute))
	front.Status = corev1.PodStatus{
		Phase: corev1.PodRunning, HostIP: "10.0.0.5", PodIP: "10.42.0.7",
		PodIPs: []corev1.PodIP{{IP: "10.42.0.7"}}, StartTime: &started, QOSClass: corev1.PodQOSBestEffort,
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
		ContainerStatuses: []corev1.ContainerStatus{{Name: "web", Image: "nginx:1.25", Ready: true, RestartCount: 2,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}}}},
	}
	if front, err = s.Client.CoreV1().Pods(ns).UpdateStatus(ctx, front, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("pod status: %v", err)
	}
	// A status report is validated as pods/status is in Kubernetes.
	bad := front.DeepCopy()
	bad.Status.PodIPs = []corev1.PodIP{{IP: "10.42.0.8"}}
	if _, err := s.Client.CoreV1().Pods(ns).UpdateStatus(ctx, bad, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "status.podIPs[0].ip") {
		t.Fatalf("pod status with podIPs[0] other than podIP: %v, want 422 naming status.podIPs[0].ip", err)
	}
	kubectl(t, s, "create", "deployment", "web", "--image=nginx:1.25", "--replicas=2", "-n", ns)
	kubectl(t, s, "create", "service", "clusterip", "web", "--tcp=80:8080", "-n", ns)
	kubectl(t, s, "create", "configmap", "settings", "--from-literal=a=1", "--from-literal=b=2", "-n", ns)
	kubectl(t, s, "create", "secret", "generic", "token", "--from-literal=token=s3cr3t", "-n", ns)
	now := metav1.NewTime(time.Now())
	for _, ev := range []*corev1.Event{
		{ObjectMeta: metav1.ObjectMeta{Name: "front.scheduled"}, Type: corev1.EventTypeNormal, Reason: "Scheduled",
			Message: "Successfully assigned kubectl-get/front to kubectl-node-1", Source: corev1.EventSource{Component: "default-scheduler"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "front.backoff"}, Type: corev1.EventTypeWarning, Reason: "BackOff",
			Message: "Back-off restarting failed container web", Source: corev1.EventSource{Component: "kubelet", Host: "kubectl-node-1"}},
	} {
		ev.InvolvedObject = corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: ns, Name: "front", UID: front.UID}
		ev.FirstTimestamp, ev.LastTimestamp, ev.Count = now, now, 1
		if _, err := s.Client.CoreV1().Events(ns).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
			t.Fatalf("event: %v", err)
		}
	}
	svc, err := s.Client.CoreV1().Services(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	clusterIP := svc.Spec.ClusterIP

	t.Run("DefaultAndWideColumns", func(t *testing.T) {
		tab := parseTable(t, kubectl(t, s, "get", "pods", "-n", ns))
		tab.wantHeader(t, "NAME", "READY", "STATUS", "RESTARTS", "AGE")
		wantCells(t, tab.row(t, "front"), map[string]string{"READY": "1/1", "STATUS": "Running", "RESTARTS": "2", "AGE": "<age>"})
		wantCells(t, tab.row(t, "back"), map[string]string{"READY": "0/1", "STATUS": "Pending", "RESTARTS": "0", "AGE": "<age>"})
		tab = parseTable(t, kubectl(t, s, "get", "pods", "-n", ns, "-o", "wide"))
		tab.wantHeader(t, "NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE", "READINESS GATES")
		wantCells(t, tab.row(t, "front"), map[string]string{"IP": "10.42.0.7", "NODE": "kubectl-node-1", "NOMINATED NODE": "<none>", "READINESS GATES": "<none>"})
		wantCells(t, tab.row(t, "back"), map[string]string{"IP": "<none>", "NODE": "<none>"})

		tab = parseTable(t, kubectl(t, s, "get", "deployments", "-n", ns))
		tab.wantHeader(t, "NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE")
		wantCells(t, tab.row(t, "web"), map[string]string{"READY": "0/2", "UP-TO-DATE": "0", "AVAILABLE": "0", "AGE": "<age>"})
		tab = parseTable(t, kubectl(t, s, "get", "deployments", "-n", ns, "-o", "wide"))
		tab.wantHeader(t, "NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR")
		wantCells(t, tab.row(t, "web"), map[string]string{"CONTAINERS": "nginx", "IMAGES": "nginx:1.25", "SELECTOR": "app=web"})

		tab = parseTable(t, kubectl(t, s, "get", "services", "-n", ns))
		tab.wantHeader(t, "NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE")
		wantCells(t, tab.row(t, "web"), map[string]string{"TYPE": "ClusterIP", "CLUSTER-IP": clusterIP, "EXTERNAL-IP": "<none>", "PORT(S)": "80/TCP", "AGE": "<age>"})
		tab = parseTable(t, kubectl(t, s, "get", "services", "-n", ns, "-o", "wide"))
		tab.wantHeader(t, "NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR")
		wantCells(t, tab.row(t, "web"), map[string]string{"SELECTOR": "app=web"})
		if !regexp.MustCompile(`^10\.43\.\d+\.\d+$`).MatchString(clusterIP) {
			t.Errorf("clusterIP %q is not from the service range 10.43.0.0/16", clusterIP)
		}

		tab = parseTable(t, kubectl(t, s, "get", "nodes"))
		tab.wantHeader(t, "NAME", "STATUS", "ROLES", "AGE", "VERSION")
		wantCells(t, tab.row(t, "kubectl-node-1"), map[string]string{"STATUS": "Ready", "ROLES": "control-plane", "AGE": "<age>", "VERSION": "v1.33.13"})
		tab = parseTable(t, kubectl(t, s, "get", "nodes", "-o", "wide"))
		tab.wantHeader(t, "NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME")
		wantCells(t, tab.row(t, "kubectl-node-1"), map[string]string{"INTERNAL-IP": "10.0.0.5", "EXTERNAL-IP": "<none>",
			"OS-IMAGE": "Debian GNU/Linux 12 (bookworm)", "KERNEL-VERSION": "6.1.0-18-amd64", "CONTAINER-RUNTIME": "containerd://1.7.24"})

		tab = parseTable(t, kubectl(t, s, "get", "configmaps", "-n", ns))
		tab.wantHeader(t, "NAME", "DATA", "AGE")
		wantCells(t, tab.row(t, "settings"), map[string]string{"DATA": "2", "AGE": "<age>"})

		tab = parseTable(t, kubectl(t, s, "get", "secrets", "-n", ns))
		tab.wantHeader(t, "NAME", "TYPE", "DATA", "AGE")
		wantCells(t, tab.row(t, "token"), map[string]string{"TYPE": "Opaque", "DATA": "1", "AGE": "<age>"})

		tab = parseTable(t, kubectl(t, s, "get", "namespaces"))
		tab.wantHeader(t, "NAME", "STATUS", "AGE")
		wantCells(t, tab.row(t, ns), map[string]string{"STATUS": "Active", "AGE": "<age>"})
		for _, n := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
			tab.row(t, n)
		}

		tab = parseTable(t, kubectl(t, s, "get", "events", "-n", ns, "--sort-by=.reason"))
		tab.wantHeader(t, "LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE")
		if len(tab.rows) != 2 {
			t.Fatalf("want 2 events:\n%s", tab.raw)
		}
		wantCells(t, tab.rows[0], map[string]string{"LAST SEEN": "<age>", "TYPE": "Warning", "REASON": "BackOff", "OBJECT": "pod/front",
			"MESSAGE": "Back-off restarting failed container web"})
		wantCells(t, tab.rows[1], map[string]string{"TYPE": "Normal", "REASON": "Scheduled", "OBJECT": "pod/front"})
		tab = parseTable(t, kubectl(t, s, "get", "events", "-A", "--field-selector", "reason=Scheduled"))
		tab.wantHeader(t, "NAMESPACE", "LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE")
		wantCells(t, tab.row(t, ns), map[string]string{"REASON": "Scheduled", "MESSAGE": "Successfully assigned kubectl-get/front to kubectl-node-1"})
		tab = parseTable(t, kubectl(t, s, "get", "events", "-n", ns, "-o", "wide", "--field-selector", "type=Warning"))
		tab.wantHeader(t, "LAST SEEN", "TYPE", "REASON", "OBJECT", "SUBOBJECT", "SOURCE", "MESSAGE", "FIRST SEEN", "COUNT", "NAME")
		wantCells(t, tab.rows[0], map[string]string{"SOURCE": "kubelet, kubectl-node-1", "COUNT": "1", "NAME": "front.backoff", "SUBOBJECT": ""})

		// All namespaces: a NAMESPACE column first.
		tab = parseTable(t, kubectl(t, s, "get", "pods", "-A"))
		tab.wantHeader(t, "NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE")
		if len(tab.rows) != 2 || tab.rows[0]["NAMESPACE"] != ns {
			t.Errorf("pods in all namespaces:\n%s", tab.raw)
		}
	})

	t.Run("StructuredOutput", func(t *testing.T) {
		out := kubectl(t, s, "get", "pod", "front", "-n", ns, "-o", "yaml")
		wantContains(t, out, "apiVersion: v1\nkind: Pod\n", "  name: front\n", "  namespace: "+ns+"\n", "nodeName: kubectl-node-1",
			"phase: Running", "podIP: 10.42.0.7", "restartPolicy: Always", "uid: "+string(front.UID))
		var pod corev1.Pod
		if err := json.Unmarshal([]byte(kubectl(t, s, "get", "pod", "front", "-n", ns, "-o", "json")), &pod); err != nil {
			t.Fatalf("-o json: %v", err)
		}
		if pod.Name != "front" || pod.Spec.Containers[0].Image != "nginx:1.25" || pod.Status.ContainerStatuses[0].RestartCount != 2 {
			t.Errorf("-o json decoded to %+v", pod)
		}
		var list corev1.PodList
		if err := json.Unmarshal([]byte(kubectl(t, s, "get", "pods", "-n", ns, "-o", "json")), &list); err != nil || len(list.Items) != 2 {
			t.Errorf("list -o json: %v (%d items)", err, len(list.Items))
		}
		wantOutput(t, kubectl(t, s, "get", "pods", "-n", ns, "-o", `jsonpath={range .items[*]}{.metadata.name}={.status.phase}{"\n"}{end}`),
			"back=Pending\nfront=Running")
		wantOutput(t, kubectl(t, s, "get", "pods", "-n", ns, "-o", "name"), "pod/back\npod/front")
		tab := parseTable(t, kubectl(t, s, "get", "pods", "-n", ns, "-o", "custom-columns=NAME:.metadata.name,IMAGE:.spec.containers[0].image"))
		tab.wantHeader(t, "NAME", "IMAGE")
		wantCells(t, tab.row(t, "back"), map[string]string{"IMAGE": "busybox:1.36"})
		wantOutput(t, kubectl(t, s, "get", "secret", "token", "-n", ns, "-o", "jsonpath={.data.token}"), "czNjcjN0")

		// metadata.generation is set where Kubernetes sets it (workloads),
		// and not on ConfigMaps.
		wantContains(t, kubectl(t, s, "get", "deployment", "web", "-n", ns, "-o", "yaml"), "  generation: 1\n")
		wantNotContains(t, kubectl(t, s, "get", "configmap", "settings", "-n", ns, "-o", "yaml"), "generation")
	})

	t.Run("LabelsAndSelectors", func(t *testing.T) {
		tab := parseTable(t, kubectl(t, s, "get", "pods", "-n", ns, "--show-labels"))
		tab.wantHeader(t, "NAME", "READY", "STATUS", "RESTARTS", "AGE", "LABELS")
		wantCells(t, tab.row(t, "front"), map[string]string{"LABELS": "app=shop,tier=fe"})
		tab = parseTable(t, kubectl(t, s, "get", "pods", "-n", ns, "-L", "tier"))
		tab.wantHeader(t, "NAME", "READY", "STATUS", "RESTARTS", "AGE", "TIER")
		wantCells(t, tab.row(t, "back"), map[string]string{"TIER": "be"})

		names := func(args ...string) string {
			return strings.TrimSpace(kubectl(t, s, append([]string{"get", "pods", "-n", ns, "-o", "name"}, args...)...))
		}
		for _, c := range []struct {
			args []string
			want string
		}{
			{[]string{"-l", "tier=fe"}, "pod/front"},
			{[]string{"-l", "tier!=fe"}, "pod/back"},
			{[]string{"-l", "tier in (fe,be)"}, "pod/back\npod/front"},
			{[]string{"-l", "app=shop,tier notin (fe)"}, "pod/back"},
			{[]string{"-l", "tier"}, "pod/back\npod/front"},
			{[]string{"-l", "!tier"}, ""},
			{[]string{"--field-selector", "status.phase=Running"}, "pod/front"},
			{[]string{"--field-selector", "status.phase!=Running"}, "pod/back"},
			{[]string{"--field-selector", "spec.nodeName=kubectl-node-1"}, "pod/front"},
			{[]string{"--field-selector", "metadata.name=back"}, "pod/back"},
			{[]string{"-l", "app=shop", "--field-selector", "status.phase=Pending"}, "pod/back"},
		} {
			if got := names(c.args...); got != c.want {
				t.Errorf("get pods %s = %q, want %q", strings.Join(c.args, " "), got, c.want)
			}
		}
		wantOutput(t, kubectl(t, s, "get", "pods", "-n", ns, "-l", "tier=none"), "No resources found in kubectl-get namespace.")
		wantContains(t, kubectlFails(t, s, "get", "pods", "-n", ns, "--field-selector", "spec.nope=x"),
			"Error from server (BadRequest)", `field label not supported: spec.nope`)
	})

	t.Run("Describe", func(t *testing.T) {
		out := kubectl(t, s, "describe", "deployment", "web", "-n", ns)
		wantDescribe(t, out, map[string]string{
			"Name": "web", "Namespace": ns, "Labels": "app=web", "Selector": "app=web",
			"Replicas":              "2 desired | 0 updated | 0 total | 0 available | 0 unavailable",
			"StrategyType":          "RollingUpdate",
			"MinReadySeconds":       "0",
			"RollingUpdateStrategy": "25% max unavailable, 25% max surge",
			"Image":                 "nginx:1.25",
		})
		wantContains(t, out, "Pod Template:\n", "  Containers:\n   nginx:\n")

		out = kubectl(t, s, "describe", "service", "web", "-n", ns)
		wantDescribe(t, out, map[string]string{
			"Name": "web", "Namespace": ns, "Selector": "app=web", "Type": "ClusterIP", "IP": clusterIP, "IPs": clusterIP,
			"IP Family Policy": "SingleStack", "IP Families": "IPv4",
			"Port": "80-8080  80/TCP", "TargetPort": "8080/TCP", "Session Affinity": "None", "Internal Traffic Policy": "Cluster",
		})

		out = kubectl(t, s, "describe", "pod", "front", "-n", ns)
		wantDescribe(t, out, map[string]string{
			"Name": "front", "Namespace": ns, "Service Account": "default", "Node": "kubectl-node-1/10.0.0.5",
			"Status": "Running", "IP": "10.42.0.7", "Image": "nginx:1.25", "State": "Running", "Ready": "True",
			"Restart Count": "2", "QoS Class": "BestEffort",
		})
		wantContains(t, out, "Labels:           app=shop\n                  tier=fe\n")
		wantDescribe(t, out, map[string]string{"Tolerations": "node.kubernetes.io/not-ready:NoExecute op=Exists for 300s"})
		// The events section finds the pod's events by involvedObject
		// field selectors.
		if !regexp.MustCompile(`(?m)^  Normal\s+Scheduled\s+\d+s\s+default-scheduler\s+Successfully assigned kubectl-get/front to kubectl-node-1$`).MatchString(out) ||
			!regexp.MustCompile(`(?m)^  Warning\s+BackOff\s+\d+s\s+kubelet\s+Back-off restarting failed container web$`).MatchString(out) {
			t.Errorf("describe pod events section:\n%s", out)
		}

		out = kubectl(t, s, "describe", "namespace", ns)
		wantDescribe(t, out, map[string]string{"Name": ns, "Labels": "kubernetes.io/metadata.name=" + ns, "Status": "Active"})
		wantContains(t, out, "No resource quota.", "No LimitRange resource.")

		out = kubectl(t, s, "describe", "node", "kubectl-node-1")
		wantDescribe(t, out, map[string]string{
			"Roles": "control-plane", "InternalIP": "10.0.0.5", "Kubelet Version": "v1.33.13",
			"Container Runtime Version": "containerd://1.7.24", "Non-terminated Pods": "(1 in total)",
		})
		if !regexp.MustCompile(`(?m)^  Ready\s+True\s+.*KubeletReady\s+kubelet is posting ready status$`).MatchString(out) ||
			!regexp.MustCompile(`(?m)^  `+ns+`\s+front\s+0 \(0%\)`).MatchString(out) {
			t.Errorf("describe node conditions or pods:\n%s", out)
		}
	})
}
