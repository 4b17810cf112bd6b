package agent

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// objectSource finds the ConfigMaps and Secrets a pod refers to, and the
// Services its environment describes.
type objectSource interface {
	ConfigMap(namespace, name string) (*v1.ConfigMap, error)
	Secret(namespace, name string) (*v1.Secret, error)
	Services(namespace string) ([]*v1.Service, error)
}

// expand replaces $(VAR) references the way Kubernetes does: "$$" is an
// escaped "$", unknown variables and unterminated references stay as
// written, and a "$" before anything else is kept.
func expand(in string, lookup func(string) (string, bool)) string {
	var b strings.Builder
	for i := 0; i < len(in); i++ {
		if in[i] != '$' || i+1 >= len(in) {
			b.WriteByte(in[i])
			continue
		}
		switch in[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(in[i+2:], ')')
			if end < 0 {
				b.WriteString(in[i:])
				return b.String()
			}
			name := in[i+2 : i+2+end]
			if v, ok := lookup(name); ok {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + name + ")")
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// envVar is one resolved variable.
type envVar struct{ Name, Value string }

// podIPs are the addresses field references may ask for.
type podAddresses struct {
	HostIPs, PodIPs []string
}

// resolveEnv builds a container's environment: the Service variables
// first, then envFrom, then env in order, each value expanded against the
// variables before it. A later source overrides an earlier one of the
// same name, so a container's own variables win over the Service ones.
func resolveEnv(pod *v1.Pod, c *v1.Container, src objectSource, addrs podAddresses) ([]envVar, error) {
	services, err := servicesForEnv(pod, src)
	if err != nil {
		return nil, err
	}
	var out []envVar
	index := map[string]int{}
	set := func(name, value string) {
		if i, ok := index[name]; ok {
			out[i].Value = value
			return
		}
		index[name] = len(out)
		out = append(out, envVar{name, value})
	}
	lookup := func(name string) (string, bool) {
		if i, ok := index[name]; ok {
			return out[i].Value, true
		}
		return "", false
	}
	for _, e := range serviceEnv(services, pod) {
		set(e.Name, e.Value)
	}
	for _, ef := range c.EnvFrom {
		switch {
		case ef.ConfigMapRef != nil:
			cm, err := src.ConfigMap(pod.Namespace, ef.ConfigMapRef.Name)
			if err != nil {
				if isOptional(ef.ConfigMapRef.Optional) && apierrors.IsNotFound(err) {
					continue
				}
				return nil, fmt.Errorf("configmap %q not found", ef.ConfigMapRef.Name)
			}
			for _, k := range sortedKeys(cm.Data) {
				set(ef.Prefix+k, cm.Data[k])
			}
		case ef.SecretRef != nil:
			s, err := src.Secret(pod.Namespace, ef.SecretRef.Name)
			if err != nil {
				if isOptional(ef.SecretRef.Optional) && apierrors.IsNotFound(err) {
					continue
				}
				return nil, fmt.Errorf("secret %q not found", ef.SecretRef.Name)
			}
			for _, k := range sortedKeys(s.Data) {
				set(ef.Prefix+k, string(s.Data[k]))
			}
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			set(e.Name, expand(e.Value, lookup))
			continue
		}
		v, skip, err := envValueFrom(pod, c, e.ValueFrom, src, addrs)
		if err != nil {
			return nil, err
		}
		if !skip {
			set(e.Name, v)
		}
	}
	return out, nil
}

func isOptional(p *bool) bool { return p != nil && *p }

func envValueFrom(pod *v1.Pod, c *v1.Container, from *v1.EnvVarSource, src objectSource, addrs podAddresses) (value string, skip bool, err error) {
	switch {
	case from.ConfigMapKeyRef != nil:
		ref := from.ConfigMapKeyRef
		cm, err := src.ConfigMap(pod.Namespace, ref.Name)
		if err != nil {
			if isOptional(ref.Optional) && apierrors.IsNotFound(err) {
				return "", true, nil
			}
			return "", false, fmt.Errorf("configmap %q not found", ref.Name)
		}
		if v, ok := cm.Data[ref.Key]; ok {
			return v, false, nil
		}
		if v, ok := cm.BinaryData[ref.Key]; ok {
			return string(v), false, nil
		}
		if isOptional(ref.Optional) {
			return "", true, nil
		}
		return "", false, fmt.Errorf("couldn't find key %s in ConfigMap %s/%s", ref.Key, pod.Namespace, ref.Name)
	case from.SecretKeyRef != nil:
		ref := from.SecretKeyRef
		s, err := src.Secret(pod.Namespace, ref.Name)
		if err != nil {
			if isOptional(ref.Optional) && apierrors.IsNotFound(err) {
				return "", true, nil
			}
			return "", false, fmt.Errorf("secret %q not found", ref.Name)
		}
		if v, ok := s.Data[ref.Key]; ok {
			return string(v), false, nil
		}
		if isOptional(ref.Optional) {
			return "", true, nil
		}
		return "", false, fmt.Errorf("couldn't find key %s in Secret %s/%s", ref.Key, pod.Namespace, ref.Name)
	case from.FieldRef != nil:
		v, err := podFieldValue(pod, from.FieldRef.FieldPath, addrs)
		return v, false, err
	case from.ResourceFieldRef != nil:
		v, err := resourceFieldValue(pod, c, from.ResourceFieldRef)
		return v, false, err
	}
	return "", false, fmt.Errorf("env var source without a reference")
}

// podFieldValue answers the downward API's field paths.
func podFieldValue(pod *v1.Pod, path string, addrs podAddresses) (string, error) {
	if k, ok := subscript(path, "metadata.labels"); ok {
		return pod.Labels[k], nil
	}
	if k, ok := subscript(path, "metadata.annotations"); ok {
		return pod.Annotations[k], nil
	}
	first := func(s []string) string {
		if len(s) == 0 {
			return ""
		}
		return s[0]
	}
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP":
		return first(addrs.HostIPs), nil
	case "status.hostIPs":
		return strings.Join(addrs.HostIPs, ","), nil
	case "status.podIP":
		return first(addrs.PodIPs), nil
	case "status.podIPs":
		return strings.Join(addrs.PodIPs, ","), nil
	}
	return "", fmt.Errorf("unsupported fieldPath %q", path)
}

// subscript parses `prefix['key']`.
func subscript(path, prefix string) (string, bool) {
	if !strings.HasPrefix(path, prefix+"['") || !strings.HasSuffix(path, "']") {
		return "", false
	}
	return path[len(prefix)+2 : len(path)-2], true
}

// formatMap renders labels/annotations as the downward API files do.
func formatMap(m map[string]string) string {
	var lines []string
	for _, k := range sortedKeys(m) {
		lines = append(lines, k+"="+strconv.Quote(m[k]))
	}
	return strings.Join(lines, "\n")
}

func resourceFieldValue(pod *v1.Pod, c *v1.Container, ref *v1.ResourceFieldSelector) (string, error) {
	if ref.ContainerName != "" {
		c = findContainer(pod, ref.ContainerName)
		if c == nil {
			return "", fmt.Errorf("container %q not found for resourceFieldRef", ref.ContainerName)
		}
	}
	if c == nil {
		return "", fmt.Errorf("resourceFieldRef needs a containerName here")
	}
	divisor := ref.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	var q resource.Quantity
	var ok bool
	switch ref.Resource {
	case "limits.cpu", "limits.memory", "limits.ephemeral-storage":
		q, ok = c.Resources.Limits[v1.ResourceName(strings.TrimPrefix(ref.Resource, "limits."))]
		if !ok {
			// Without a limit the node's allocatable is reported; we use
			// a large value rather than guess the node here.
			return "", nil
		}
	case "requests.cpu", "requests.memory", "requests.ephemeral-storage":
		q, ok = c.Resources.Requests[v1.ResourceName(strings.TrimPrefix(ref.Resource, "requests."))]
		if !ok {
			return "0", nil
		}
	default:
		return "", fmt.Errorf("unsupported resource %q", ref.Resource)
	}
	if strings.HasSuffix(ref.Resource, ".cpu") {
		// CPU rounds up to whole divisors, as the API documents.
		v := (q.MilliValue() + divisor.MilliValue() - 1) / divisor.MilliValue()
		return strconv.FormatInt(v, 10), nil
	}
	v := (q.Value() + divisor.Value() - 1) / divisor.Value()
	return strconv.FormatInt(v, 10), nil
}

func findContainer(pod *v1.Pod, name string) *v1.Container {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i]
		}
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return &pod.Spec.InitContainers[i]
		}
	}
	return nil
}

// expandCommand expands $(VAR) in command and args against the environment.
func expandCommand(c *v1.Container, env []envVar) (cmd, args []string) {
	m := make(map[string]string, len(env))
	for _, e := range env {
		m[e.Name] = e.Value
	}
	lookup := func(n string) (string, bool) { v, ok := m[n]; return v, ok }
	for _, s := range c.Command {
		cmd = append(cmd, expand(s, lookup))
	}
	for _, s := range c.Args {
		args = append(args, expand(s, lookup))
	}
	return cmd, args
}

// masterServiceNamespace and masterServiceName name the API server's own
// Service, whose variables every pod gets: client-go's in-cluster
// configuration finds the API server through KUBERNETES_SERVICE_HOST and
// KUBERNETES_SERVICE_PORT.
const (
	masterServiceNamespace = metav1.NamespaceDefault
	masterServiceName      = "kubernetes"
)

func serviceLinksEnabled(pod *v1.Pod) bool {
	return pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks
}

// servicesForEnv lists the Services serviceEnv may need: those of the
// master Service's namespace and, with service links on, the pod's own.
func servicesForEnv(pod *v1.Pod, src objectSource) ([]*v1.Service, error) {
	services, err := src.Services(masterServiceNamespace)
	if err != nil {
		return nil, fmt.Errorf("list services for environment variables: %w", err)
	}
	if serviceLinksEnabled(pod) && pod.Namespace != masterServiceNamespace {
		own, err := src.Services(pod.Namespace)
		if err != nil {
			return nil, fmt.Errorf("list services for environment variables: %w", err)
		}
		services = append(slices.Clip(services), own...)
	}
	return services, nil
}

// serviceEnv is the kubelet's "service links": Docker-links style
// variables for the master Service, always, and, unless the pod sets
// enableServiceLinks to false, for every Service of its namespace that has
// a cluster IP. services may hold Services of any namespace; those that
// do not apply to pod are ignored. A Service named "kubernetes" in the
// pod's own namespace replaces the master one, as in the kubelet, since
// both would produce the same variable names.
func serviceEnv(services []*v1.Service, pod *v1.Pod) []envVar {
	links := serviceLinksEnabled(pod)
	byName := map[string]*v1.Service{}
	for _, s := range services {
		if s.Spec.ClusterIP == "" || s.Spec.ClusterIP == v1.ClusterIPNone {
			continue
		}
		switch {
		case links && s.Namespace == pod.Namespace:
			byName[s.Name] = s
		case s.Namespace == masterServiceNamespace && s.Name == masterServiceName:
			if _, ok := byName[s.Name]; !ok {
				byName[s.Name] = s
			}
		}
	}
	// Sorted so that a container's environment, and with it its spec
	// hash in the runtime, does not change from one start to the next.
	var out []envVar
	for _, name := range sortedKeys(byName) {
		out = append(out, serviceLinkVars(byName[name])...)
	}
	return out
}

// serviceLinkVars are one Service's variables, named and valued as the
// kubelet's (k8s.io/kubernetes/pkg/kubelet/envvars) so that programs
// written against Kubernetes find what they expect.
func serviceLinkVars(s *v1.Service) []envVar {
	prefix := serviceEnvName(s.Name)
	ip := s.Spec.ClusterIP
	out := []envVar{{prefix + "_SERVICE_HOST", ip}}
	if len(s.Spec.Ports) == 0 {
		return out
	}
	out = append(out, envVar{prefix + "_SERVICE_PORT", strconv.Itoa(int(s.Spec.Ports[0].Port))})
	for _, p := range s.Spec.Ports {
		if p.Name != "" {
			out = append(out, envVar{prefix + "_SERVICE_PORT_" + serviceEnvName(p.Name), strconv.Itoa(int(p.Port))})
		}
	}
	for i, p := range s.Spec.Ports {
		proto := p.Protocol
		if proto == "" {
			proto = v1.ProtocolTCP
		}
		lower := strings.ToLower(string(proto))
		port := strconv.Itoa(int(p.Port))
		url := lower + "://" + net.JoinHostPort(ip, port) // brackets IPv6 addresses
		if i == 0 {
			out = append(out, envVar{prefix + "_PORT", url})
		}
		pp := prefix + "_PORT_" + port + "_" + strings.ToUpper(string(proto))
		out = append(out, envVar{pp, url}, envVar{pp + "_PROTO", lower}, envVar{pp + "_PORT", port}, envVar{pp + "_ADDR", ip})
	}
	return out
}

// serviceEnvName turns a Service or port name (a DNS label) into the
// variable-name form: upper case, '-' as '_'.
func serviceEnvName(name string) string {
	return strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}
