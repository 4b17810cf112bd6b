package integration

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/gureum/gureum/internal/testenv"
)

// TestKubectlDiscoveryAndAuth covers what kubectl learns from the server
// itself (version, cluster-info, api-resources, api-versions, explain) and
// the auth subcommands, including impersonation with --as.
func TestKubectlDiscoveryAndAuth(t *testing.T) {
	t.Parallel()
	s := testenv.Start(t)

	t.Run("VersionAndClusterInfo", func(t *testing.T) {
		out := kubectl(t, s, "version")
		wantContains(t, out, "Client Version: v1.33.", "Server Version: v1.33.13")
		var v struct {
			ServerVersion struct{ Major, Minor, GitVersion, Platform string }
		}
		if err := json.Unmarshal([]byte(kubectl(t, s, "version", "-o", "json")), &v); err != nil {
			t.Fatalf("version -o json: %v", err)
		}
		if v.ServerVersion.Major != "1" || v.ServerVersion.Minor != "33" || v.ServerVersion.GitVersion != "v1.33.13" {
			t.Errorf("server version %+v", v.ServerVersion)
		}
		wantContains(t, kubectl(t, s, "cluster-info"), "Kubernetes control plane is running at "+s.Config.Host)
	})

	t.Run("APIResources", func(t *testing.T) {
		tab := parseTable(t, kubectl(t, s, "api-resources"))
		tab.wantHeader(t, "NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND")
		for _, want := range []map[string]string{
			{"NAME": "pods", "SHORTNAMES": "po", "APIVERSION": "v1", "NAMESPACED": "true", "KIND": "Pod"},
			{"NAME": "nodes", "SHORTNAMES": "no", "APIVERSION": "v1", "NAMESPACED": "false", "KIND": "Node"},
			{"NAME": "deployments", "SHORTNAMES": "deploy", "APIVERSION": "apps/v1", "NAMESPACED": "true", "KIND": "Deployment"},
			{"NAME": "cronjobs", "SHORTNAMES": "cj", "APIVERSION": "batch/v1", "NAMESPACED": "true", "KIND": "CronJob"},
			{"NAME": "ingresses", "SHORTNAMES": "ing", "APIVERSION": "networking.k8s.io/v1", "NAMESPACED": "true", "KIND": "Ingress"},
			{"NAME": "horizontalpodautoscalers", "SHORTNAMES": "hpa", "APIVERSION": "autoscaling/v2", "NAMESPACED": "true", "KIND": "HorizontalPodAutoscaler"},
			{"NAME": "clusterroles", "SHORTNAMES": "", "APIVERSION": "rbac.authorization.k8s.io/v1", "NAMESPACED": "false", "KIND": "ClusterRole"},
			{"NAME": "selfsubjectaccessreviews", "SHORTNAMES": "", "APIVERSION": "authorization.k8s.io/v1", "NAMESPACED": "false", "KIND": "SelfSubjectAccessReview"},
			{"NAME": "vpcs", "SHORTNAMES": "", "APIVERSION": "networking.gureum.io/v1", "NAMESPACED": "false", "KIND": "VPC"},
			{"NAME": "subnets", "SHORTNAMES": "sn", "APIVERSION": "networking.gureum.io/v1", "NAMESPACED": "false", "KIND": "Subnet"},
		} {
			wantCells(t, tab.row(t, want["NAME"]), want)
		}

		tab = parseTable(t, kubectl(t, s, "api-resources", "-o", "wide"))
		tab.wantHeader(t, "NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND", "VERBS", "CATEGORIES")
		all := "create,delete,deletecollection,get,list,patch,update,watch"
		wantCells(t, tab.row(t, "pods"), map[string]string{"VERBS": all, "CATEGORIES": "all"})
		wantCells(t, tab.row(t, "deployments"), map[string]string{"VERBS": all, "CATEGORIES": "all"})
		wantCells(t, tab.row(t, "namespaces"), map[string]string{"VERBS": "create,delete,get,list,patch,update,watch", "CATEGORIES": ""})
		wantCells(t, tab.row(t, "selfsubjectaccessreviews"), map[string]string{"VERBS": "create"})
		wantCells(t, tab.row(t, "vpcs"), map[string]string{"VERBS": all, "CATEGORIES": "gureum"})

		clusterScoped := strings.Fields(kubectl(t, s, "api-resources", "--namespaced=false", "-o", "name"))
		namespaced := strings.Fields(kubectl(t, s, "api-resources", "--namespaced=true", "-o", "name"))
		for _, want := range []string{"namespaces", "nodes", "persistentvolumes", "clusterroles.rbac.authorization.k8s.io", "vpcs.networking.gureum.io", "storageclasses.storage.k8s.io"} {
			wantListed(t, "cluster-scoped", clusterScoped, want)
		}
		for _, want := range []string{"pods", "configmaps", "secrets", "services", "deployments.apps", "jobs.batch", "roles.rbac.authorization.k8s.io", "leases.coordination.k8s.io"} {
			wantListed(t, "namespaced", namespaced, want)
		}
		for _, n := range namespaced {
			for _, c := range clusterScoped {
				if n == c {
					t.Errorf("%s is listed both namespaced and cluster-scoped", n)
				}
			}
		}
		wantOutput(t, kubectl(t, s, "api-resources", "--api-group=networking.gureum.io", "-o", "name"),
			"subnets.networking.gureum.io\nvpcs.networking.gureum.io")
		tab = parseTable(t, kubectl(t, s, "api-resources", "--verbs=create", "--namespaced=false", "--api-group=authorization.k8s.io"))
		if got := strings.Join(tab.names(), " "); got != "selfsubjectaccessreviews selfsubjectrulesreviews subjectaccessreviews" {
			t.Errorf("authorization.k8s.io resources = %q", got)
		}
	})

	t.Run("APIVersions", func(t *testing.T) {
		versions := strings.Fields(kubectl(t, s, "api-versions"))
		for _, want := range []string{"v1", "apps/v1", "batch/v1", "autoscaling/v2", "networking.k8s.io/v1", "discovery.k8s.io/v1",
			"coordination.k8s.io/v1", "storage.k8s.io/v1", "rbac.authorization.k8s.io/v1", "authorization.k8s.io/v1",
			"authentication.k8s.io/v1", "networking.gureum.io/v1"} {
			wantListed(t, "api-versions", versions, want)
		}
	})

	t.Run("Explain", func(t *testing.T) {
		out := kubectl(t, s, "explain", "pods.spec.containers")
		wantContains(t, out, "KIND:       Pod\nVERSION:    v1\n", "FIELD: containers <[]Container>",
			"List of containers belonging to the pod.",
			"  image\t<string>\n", "  name\t<string> -required-\n", "  ports\t<[]ContainerPort>\n",
			"  imagePullPolicy\t<string>\n  enum: Always, IfNotPresent, Never\n")
		out = kubectl(t, s, "explain", "deployment.spec.strategy")
		wantContains(t, out, "GROUP:      apps\nKIND:       Deployment\nVERSION:    v1\n", "FIELD: strategy <DeploymentStrategy>",
			"The deployment strategy to use to replace existing pods with new ones.",
			"  rollingUpdate\t<RollingUpdateDeployment>\n", "  type\t<string>\n  enum: Recreate, RollingUpdate\n",
			"Kill all existing pods before creating new ones.")
		out = kubectl(t, s, "explain", "vpc.spec")
		wantContains(t, out, "GROUP:      networking.gureum.io\nKIND:       VPC\nVERSION:    v1\n", "FIELD: spec <VPCSpec>",
			"  cidrBlock\t<string> -required-\n", "  namespaceSelector\t<LabelSelector>\n", "  peerings\t<[]string>\n",
			"  enableNATGateway\t<boolean>\n", "namespaceSelector chooses the namespaces that belong to this VPC")
		out = kubectl(t, s, "explain", "vpc")
		wantContains(t, out, "VPC is a private network", "  spec\t<VPCSpec>\n", "  status\t<VPCStatus>\n")
		out = kubectl(t, s, "explain", "deployment.spec.strategy", "--recursive")
		wantContains(t, out, "    maxSurge\t<IntOrString>\n", "    maxUnavailable\t<IntOrString>\n")
		wantContains(t, kubectlFails(t, s, "explain", "pods.spec.nope"), `field "nope" does not exist`)
	})

	t.Run("AuthAsAdmin", func(t *testing.T) {
		wantOutput(t, kubectl(t, s, "auth", "can-i", "create", "pods"), "yes")
		wantOutput(t, kubectl(t, s, "auth", "can-i", "*", "*"), "yes")
		wantOutput(t, kubectl(t, s, "auth", "can-i", "delete", "vpcs.networking.gureum.io", "--all-namespaces"), "yes")
		wantOutput(t, kubectl(t, s, "auth", "can-i", "get", "/healthz"), "yes")
		tab := parseTable(t, kubectl(t, s, "auth", "can-i", "--list"))
		tab.wantHeader(t, "Resources", "Non-Resource URLs", "Resource Names", "Verbs")
		wantCells(t, tab.rows[0], map[string]string{"Resources": "*.*", "Non-Resource URLs": "[]", "Resource Names": "[]", "Verbs": "[*]"})
		tab = parseTable(t, kubectl(t, s, "auth", "whoami"))
		tab.wantHeader(t, "ATTRIBUTE", "VALUE")
		wantCells(t, tab.row(t, "Username"), map[string]string{"VALUE": "gureum-admin"})
		wantCells(t, tab.row(t, "Groups"), map[string]string{"VALUE": "[system:masters system:authenticated]"})
	})

	t.Run("AuthWithImpersonationAndRBAC", func(t *testing.T) {
		ns := kubectlNamespace(t, s, "kubectl-auth")
		other := kubectlNamespace(t, s, "kubectl-auth-other")
		wantOutput(t, kubectl(t, s, "create", "role", "pod-reader", "--verb=list,get", "--resource=pods", "-n", ns),
			"role.rbac.authorization.k8s.io/pod-reader created")
		wantOutput(t, kubectl(t, s, "create", "rolebinding", "alice-reads-pods", "--role=pod-reader", "--user=alice", "-n", ns),
			"rolebinding.rbac.authorization.k8s.io/alice-reads-pods created")
		tab := parseTable(t, kubectl(t, s, "get", "rolebinding", "-n", ns, "-o", "wide"))
		tab.wantHeader(t, "NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS")
		wantCells(t, tab.row(t, "alice-reads-pods"), map[string]string{"ROLE": "Role/pod-reader", "USERS": "alice"})

		canI := func(args ...string) (string, int) {
			return kubectlExitCode(t, s, "", append([]string{"auth", "can-i"}, args...)...)
		}
		// RBAC decisions read bindings from the watch cache.
		eventually(t, "alice may list pods", func() bool {
			out, code := canI("list", "pods", "--as=alice", "-n", ns)
			return code == 0 && strings.TrimSpace(out) == "yes"
		})
		for _, c := range []struct {
			args []string
			want string
		}{
			{[]string{"get", "pods", "--as=alice", "-n", ns}, "yes"},
			{[]string{"delete", "pods", "--as=alice", "-n", ns}, "no"},
			{[]string{"list", "secrets", "--as=alice", "-n", ns}, "no"},
			{[]string{"list", "pods", "--as=alice", "-n", other}, "no"},
			{[]string{"list", "pods", "--as=mallory", "-n", ns}, "no"},
		} {
			out, code := canI(c.args...)
			if strings.TrimSpace(out) != c.want || (code == 0) != (c.want == "yes") {
				t.Errorf("auth can-i %s = %q (exit %d), want %s", strings.Join(c.args, " "), out, code, c.want)
			}
		}
		wantOutput(t, kubectl(t, s, "get", "pods", "-n", ns, "--as=alice"), "No resources found in kubectl-auth namespace.")
		wantContains(t, kubectlFails(t, s, "get", "pods", "-n", other, "--as=alice"),
			`Error from server (Forbidden): pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "kubectl-auth-other"`)
		wantContains(t, kubectlFails(t, s, "create", "configmap", "x", "-n", ns, "--as=alice"),
			`User "alice" cannot create resource "configmaps" in API group "" in the namespace "kubectl-auth"`)

		out := kubectl(t, s, "auth", "can-i", "--list", "--as=alice", "-n", ns)
		tab = parseTable(t, out)
		wantCells(t, tab.row(t, "pods"), map[string]string{"Non-Resource URLs": "[]", "Resource Names": "[]", "Verbs": "[list get]"})
		wantCells(t, tab.row(t, "selfsubjectaccessreviews.authorization.k8s.io"), map[string]string{"Verbs": "[create]"})
		wantNotContains(t, out, "*.*")

		tab = parseTable(t, kubectl(t, s, "auth", "whoami", "--as=alice"))
		wantCells(t, tab.row(t, "Username"), map[string]string{"VALUE": "alice"})
		wantCells(t, tab.row(t, "Groups"), map[string]string{"VALUE": "[system:authenticated]"})

		// Groups: --as-group, bound to the built-in view ClusterRole.
		kubectl(t, s, "create", "rolebinding", "devs-view", "--clusterrole=view", "--group=devs", "-n", ns)
		eventually(t, "group devs may list deployments", func() bool {
			out, code := canI("list", "deployments.apps", "--as=bob", "--as-group=devs", "-n", ns)
			return code == 0 && strings.TrimSpace(out) == "yes"
		})
		if out, code := canI("create", "deployments.apps", "--as=bob", "--as-group=devs", "-n", ns); strings.TrimSpace(out) != "no" || code == 0 {
			t.Errorf("view lets group devs create deployments: %q (exit %d)", out, code)
		}
		if out, _ := canI("list", "deployments.apps", "--as=bob", "-n", ns); strings.TrimSpace(out) != "no" {
			t.Errorf("bob without group devs may list deployments: %q", out)
		}
	})
}

func wantListed(t *testing.T, what string, list []string, want string) {
	t.Helper()
	for _, l := range list {
		if l == want {
			return
		}
	}
	t.Errorf("%s does not list %s: %v", what, want, list)
}
