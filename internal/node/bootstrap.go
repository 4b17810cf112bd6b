package node

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	apiregistrationclient "k8s.io/kube-aggregator/pkg/client/clientset_generated/clientset/typed/apiregistration/v1"
	"k8s.io/utils/ptr"

	"github.com/gureum/gureum/internal/api"
)

// bootstrap creates what every cluster is expected to have; it is
// idempotent, so every start runs it.
func bootstrap(ctx context.Context, c kubernetes.Interface, serviceNet *net.IPNet, advertiseIP string, httpsPort int, log *slog.Logger) error {
	for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		_, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create namespace %s: %w", ns, err)
		}
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default",
			Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"}},
		Spec: corev1.ServiceSpec{
			ClusterIP: firstServiceIP(serviceNet).String(),
			Ports:     []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(int32(httpsPort))}},
		},
	}
	if _, err := c.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create the kubernetes service: %w", err)
	}
	if err := publishEndpoints(ctx, c, "default", "kubernetes", advertiseIP, []corev1.EndpointPort{{Name: "https", Port: int32(httpsPort), Protocol: corev1.ProtocolTCP}}); err != nil {
		return err
	}
	for _, pc := range api.SystemPriorityClasses() {
		if _, err := c.SchedulingV1().PriorityClasses().Create(ctx, pc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create priority class %s: %w", pc.Name, err)
		}
	}
	for _, cr := range defaultClusterRoles() {
		if _, err := c.RbacV1().ClusterRoles().Create(ctx, cr, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create cluster role %s: %w", cr.Name, err)
		}
	}
	for _, b := range defaultClusterRoleBindings() {
		if _, err := c.RbacV1().ClusterRoleBindings().Create(ctx, b, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create cluster role binding %s: %w", b.Name, err)
		}
	}
	log.Debug("bootstrap objects in place")
	return nil
}

// bootstrapAPIServices keeps one Local APIService for each group version
// the server serves, as kube-apiserver's autoregistration does (`kubectl get
// apiservices` and the conformance suite list them), and deletes the ones
// it made for group versions no longer served. APIServices someone else
// made, such as metrics-server's, are left alone.
func bootstrapAPIServices(ctx context.Context, c apiregistrationclient.APIServicesGetter, gvs []schema.GroupVersion) error {
	client := c.APIServices()
	list, err := client.List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list apiservices: %w", err)
	}
	have := map[string]*apiregistrationv1.APIService{}
	for i := range list.Items {
		have[list.Items[i].Name] = &list.Items[i]
	}
	wanted := map[string]bool{}
	for _, want := range api.LocalAPIServices(gvs, metav1.Now()) {
		wanted[want.Name] = true
		cur, ok := have[want.Name]
		switch {
		case !ok:
			if cur, err = client.Create(ctx, want, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
				continue // another server of the control plane made it
			} else if err != nil {
				return fmt.Errorf("create apiservice %s: %w", want.Name, err)
			}
		case !api.IsLocalAPIServiceAutomanaged(cur):
			continue
		case !apiequality.Semantic.DeepEqual(cur.Spec, want.Spec):
			cur.Spec = want.Spec
			if cur, err = client.Update(ctx, cur, metav1.UpdateOptions{}); apierrors.IsConflict(err) {
				continue // another server of the control plane got there first
			} else if err != nil {
				return fmt.Errorf("update apiservice %s: %w", want.Name, err)
			}
		}
		if localAPIServiceAvailable(cur) {
			continue
		}
		cur.Status = want.Status
		if _, err := client.UpdateStatus(ctx, cur, metav1.UpdateOptions{}); err != nil && !apierrors.IsConflict(err) {
			return fmt.Errorf("mark apiservice %s available: %w", want.Name, err)
		}
	}
	for name, a := range have {
		if wanted[name] || !api.IsLocalAPIServiceAutomanaged(a) {
			continue
		}
		if err := client.Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete apiservice %s: %w", name, err)
		}
	}
	return nil
}

func localAPIServiceAvailable(a *apiregistrationv1.APIService) bool {
	for _, c := range a.Status.Conditions {
		if c.Type == apiregistrationv1.Available {
			return c.Status == apiregistrationv1.ConditionTrue
		}
	}
	return false
}

// publishEndpoints points the selector-less Service ns/name at ip: the
// legacy Endpoints and the EndpointSlice that service proxies follow, as
// kube-apiserver keeps them for the kubernetes Service.
func publishEndpoints(ctx context.Context, c kubernetes.Interface, ns, name, ip string, ports []corev1.EndpointPort) error {
	ep := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Subsets:    []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: ip}}, Ports: ports}},
	}
	if cur, err := c.CoreV1().Endpoints(ns).Get(ctx, name, metav1.GetOptions{}); err == nil {
		ep.ResourceVersion = cur.ResourceVersion
		if _, err := c.CoreV1().Endpoints(ns).Update(ctx, ep, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("update the %s/%s endpoints: %w", ns, name, err)
		}
	} else if _, err := c.CoreV1().Endpoints(ns).Create(ctx, ep, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create the %s/%s endpoints: %w", ns, name, err)
	}
	slicePorts := make([]discoveryv1.EndpointPort, len(ports))
	for i, p := range ports {
		slicePorts[i] = discoveryv1.EndpointPort{Name: ptr.To(p.Name), Port: ptr.To(p.Port), Protocol: ptr.To(p.Protocol)}
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{
			discoveryv1.LabelServiceName: name,
			discoveryv1.LabelManagedBy:   "gureum-server",
		}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports:       slicePorts,
	}
	slices := c.DiscoveryV1().EndpointSlices(ns)
	if cur, err := slices.Get(ctx, name, metav1.GetOptions{}); err == nil {
		slice.ResourceVersion = cur.ResourceVersion
		if _, err := slices.Update(ctx, slice, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("update the %s/%s endpoint slice: %w", ns, name, err)
		}
	} else if _, err := slices.Create(ctx, slice, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create the %s/%s endpoint slice: %w", ns, name, err)
	}
	return nil
}

// hostIP is the address other machines reach this server on: the first
// non-loopback IPv4 address, else loopback.
// advertiseIP is the address pods reach the API server at, behind the
// kubernetes Service: the bind address when it names one interface, else
// the host's first address.
func advertiseIP(bind string, log *slog.Logger) string {
	ip := net.ParseIP(bind)
	switch {
	case ip == nil || ip.IsUnspecified():
		return hostIP()
	case ip.IsLoopback():
		log.Warn("the API server listens on loopback only: pods cannot reach it through the kubernetes Service; bind to 0.0.0.0 or a host address for in-cluster clients", "bindAddress", bind)
		return hostIP()
	}
	return ip.String()
}

func hostIP() string {
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() && !ipn.IP.IsLinkLocalUnicast() {
				return ipn.IP.String()
			}
		}
	}
	return "127.0.0.1"
}

func bootstrapMeta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/bootstrapping": "rbac-defaults"},
		Annotations: map[string]string{"rbac.authorization.kubernetes.io/autoupdate": "true"}}
}

// defaultClusterRoles are the user-facing roles Kubernetes documents
// (cluster-admin, admin, edit, view) and the ones every authenticated user
// needs for discovery.
func defaultClusterRoles() []*rbacv1.ClusterRole {
	read := []string{"get", "list", "watch"}
	write := []string{"create", "delete", "deletecollection", "patch", "update"}
	workloads := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods", "pods/log", "pods/status", "services", "endpoints", "configmaps",
			"persistentvolumeclaims", "persistentvolumeclaims/status", "replicationcontrollers", "replicationcontrollers/scale",
			"serviceaccounts", "events", "limitranges", "resourcequotas", "resourcequotas/status", "namespaces/status", "pods/status", "services/status"}, Verbs: read},
		{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: read},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments", "deployments/scale", "deployments/status", "replicasets", "replicasets/scale",
			"replicasets/status", "statefulsets", "statefulsets/scale", "statefulsets/status", "daemonsets", "daemonsets/status", "controllerrevisions"}, Verbs: read},
		{APIGroups: []string{"batch"}, Resources: []string{"jobs", "jobs/status", "cronjobs", "cronjobs/status"}, Verbs: read},
		{APIGroups: []string{"autoscaling"}, Resources: []string{"horizontalpodautoscalers", "horizontalpodautoscalers/status"}, Verbs: read},
		{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses", "ingresses/status", "networkpolicies"}, Verbs: read},
		{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: read},
		{APIGroups: []string{"policy"}, Resources: []string{"poddisruptionbudgets", "poddisruptionbudgets/status"}, Verbs: read},
	}
	editRules := append([]rbacv1.PolicyRule{}, workloads...)
	editRules = append(editRules,
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods", "pods/exec", "pods/attach", "pods/portforward", "pods/eviction", "services",
			"endpoints", "configmaps", "secrets", "persistentvolumeclaims", "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts", "events"}, Verbs: write},
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: read},
		rbacv1.PolicyRule{APIGroups: []string{"apps"}, Resources: []string{"deployments", "deployments/scale", "replicasets", "replicasets/scale",
			"statefulsets", "statefulsets/scale", "daemonsets"}, Verbs: write},
		rbacv1.PolicyRule{APIGroups: []string{"batch"}, Resources: []string{"jobs", "cronjobs"}, Verbs: write},
		rbacv1.PolicyRule{APIGroups: []string{"autoscaling"}, Resources: []string{"horizontalpodautoscalers"}, Verbs: write},
		rbacv1.PolicyRule{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses", "networkpolicies"}, Verbs: write},
		rbacv1.PolicyRule{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: write},
		rbacv1.PolicyRule{APIGroups: []string{"policy"}, Resources: []string{"poddisruptionbudgets"}, Verbs: write},
	)
	adminRules := append([]rbacv1.PolicyRule{}, editRules...)
	adminRules = append(adminRules,
		rbacv1.PolicyRule{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"roles", "rolebindings"}, Verbs: append(append([]string{}, read...), write...)},
		rbacv1.PolicyRule{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"localsubjectaccessreviews"}, Verbs: []string{"create"}},
	)
	return []*rbacv1.ClusterRole{
		{ObjectMeta: bootstrapMeta("cluster-admin"), Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"*"}},
			{NonResourceURLs: []string{"*"}, Verbs: []string{"*"}}}},
		{ObjectMeta: bootstrapMeta("admin"), Rules: adminRules},
		{ObjectMeta: bootstrapMeta("edit"), Rules: editRules},
		{ObjectMeta: bootstrapMeta("view"), Rules: workloads},
		{ObjectMeta: bootstrapMeta("system:basic-user"), Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"selfsubjectaccessreviews", "selfsubjectrulesreviews"}, Verbs: []string{"create"}},
			{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"selfsubjectreviews"}, Verbs: []string{"create"}}}},
		{ObjectMeta: bootstrapMeta("system:discovery"), Rules: []rbacv1.PolicyRule{
			{NonResourceURLs: []string{"/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz", "/version", "/version/"}, Verbs: []string{"get"}}}},
		// Nodes run pods and report on them; the agent's needs are wide
		// until node authorization narrows them per node.
		{ObjectMeta: bootstrapMeta("system:node"), Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"nodes", "nodes/status", "pods", "pods/status", "events", "configmaps", "secrets", "services", "endpoints",
				"persistentvolumeclaims", "persistentvolumes", "serviceaccounts", "namespaces"}, Verbs: append(append([]string{}, read...), write...)},
			{APIGroups: []string{""}, Resources: []string{"serviceaccounts/token"}, Verbs: []string{"create"}},
			{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: append(append([]string{}, read...), write...)},
			{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: read}}},
		// Anyone holding a service account token may learn how to verify
		// one, as Kubernetes allows.
		{ObjectMeta: bootstrapMeta("system:service-account-issuer-discovery"), Rules: []rbacv1.PolicyRule{
			{NonResourceURLs: []string{"/.well-known/openid-configuration", "/.well-known/openid-configuration/", "/openid/v1/jwks", "/openid/v1/jwks/"}, Verbs: []string{"get"}}}},
		// The built-in image registry at /v2/: every authenticated user
		// (and node) may pull; pushing is granted by binding
		// gureum:image-pusher (system:masters may always push).
		{ObjectMeta: bootstrapMeta("gureum:image-puller"), Rules: []rbacv1.PolicyRule{
			{NonResourceURLs: []string{"/v2", "/v2/*"}, Verbs: []string{"get", "head"}}}},
		{ObjectMeta: bootstrapMeta("gureum:image-pusher"), Rules: []rbacv1.PolicyRule{
			{NonResourceURLs: []string{"/v2", "/v2/*"}, Verbs: []string{"get", "head", "post", "put", "patch", "delete"}}}},
	}
}

func defaultClusterRoleBindings() []*rbacv1.ClusterRoleBinding {
	bind := func(name, role string, subjects ...rbacv1.Subject) *rbacv1.ClusterRoleBinding {
		return &rbacv1.ClusterRoleBinding{ObjectMeta: bootstrapMeta(name),
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role}, Subjects: subjects}
	}
	group := func(g string) rbacv1.Subject {
		return rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: g}
	}
	return []*rbacv1.ClusterRoleBinding{
		bind("cluster-admin", "cluster-admin", group("system:masters")),
		bind("system:basic-user", "system:basic-user", group("system:authenticated")),
		bind("system:discovery", "system:discovery", group("system:authenticated")),
		bind("system:node", "system:node", group("system:nodes")),
		bind("system:service-account-issuer-discovery", "system:service-account-issuer-discovery", group("system:serviceaccounts")),
		bind("gureum:image-puller", "gureum:image-puller", group("system:authenticated")),
	}
}
