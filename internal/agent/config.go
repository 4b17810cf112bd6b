package agent

import (
	"bufio"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// podPaths places a pod's files under the agent's data directory.
type podPaths struct{ dataDir string }

func (p podPaths) pod(uid string) string { return filepath.Join(p.dataDir, "pods", uid) }
func (p podPaths) volume(uid, plugin, name string) string {
	return filepath.Join(p.pod(uid), "volumes", plugin, name)
}

// logPath is relative to the sandbox's LogDirectory (the pod directory).
func logPath(container string, restartCount int32) string {
	return filepath.Join(container, strconv.Itoa(int(restartCount))+".log")
}

// Dot-prefixed names cannot collide with container names (DNS labels).
func (p podPaths) hostsFile(uid string) string { return filepath.Join(p.pod(uid), ".etc-hosts") }
func (p podPaths) terminationLog(uid, container string, restartCount int32) string {
	return filepath.Join(p.pod(uid), ".termination", fmt.Sprintf("%s-%d", container, restartCount))
}

func podLabels(pod *v1.Pod) map[string]string {
	l := maps.Clone(pod.Labels)
	if l == nil {
		l = map[string]string{}
	}
	l[labelPodName] = pod.Name
	l[labelPodNamespace] = pod.Namespace
	l[labelPodUID] = string(pod.UID)
	return l
}

// cgroupParent is the pod's cgroup, grouped by QoS class like the kubelet's.
func cgroupParent(driver string, pod *v1.Pod) string {
	qos := strings.ToLower(string(qosClass(pod)))
	uid := string(pod.UID)
	if driver == "systemd" {
		uid = strings.ReplaceAll(uid, "-", "_")
		if qos == "guaranteed" {
			return "kubepods-pod" + uid + ".slice"
		}
		return "kubepods-" + qos + "-pod" + uid + ".slice"
	}
	if qos == "guaranteed" {
		return "/kubepods/pod" + uid
	}
	return "/kubepods/" + qos + "/pod" + uid
}

// parseResolvConf reads nameservers, search domains and options.
func parseResolvConf(data string) *runtimeapi.DNSConfig {
	dns := &runtimeapi.DNSConfig{}
	sc := bufio.NewScanner(strings.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], ";") {
			continue
		}
		switch f[0] {
		case "nameserver":
			dns.Servers = append(dns.Servers, f[1])
		case "search":
			dns.Searches = f[1:]
		case "options":
			dns.Options = append(dns.Options, f[1:]...)
		}
	}
	return dns
}

// dnsSettings are what a pod's resolver is built from: the node's own
// resolv.conf and the cluster DNS service.
type dnsSettings struct {
	Host *runtimeapi.DNSConfig
	// ClusterServers are the cluster DNS addresses; empty when the node
	// knows none, and ClusterFirst then falls back to the host's resolver
	// as the kubelet does.
	ClusterServers []string
	Domain         string
}

// Resolver limits Kubernetes applies to the merged configuration.
const (
	maxDNSNameservers = 3
	maxDNSSearches    = 32
)

// podDNS is the pod's resolver configuration for its dnsPolicy, merged
// with its dnsConfig, as Kubernetes documents: ClusterFirst (the default)
// uses the cluster DNS with the namespace's search path and ndots:5,
// except for host-network pods, which need ClusterFirstWithHostNet for
// that; Default uses the node's resolver; None uses only dnsConfig.
func podDNS(pod *v1.Pod, s dnsSettings) *runtimeapi.DNSConfig {
	host := s.Host
	if host == nil {
		host = &runtimeapi.DNSConfig{}
	}
	policy := pod.Spec.DNSPolicy
	if policy == "" {
		policy = v1.DNSClusterFirst
	}
	if policy == v1.DNSClusterFirst && pod.Spec.HostNetwork {
		policy = v1.DNSDefault
	}
	if (policy == v1.DNSClusterFirst || policy == v1.DNSClusterFirstWithHostNet) && len(s.ClusterServers) == 0 {
		policy = v1.DNSDefault
	}
	var dns *runtimeapi.DNSConfig
	switch policy {
	case v1.DNSNone:
		dns = &runtimeapi.DNSConfig{}
	case v1.DNSClusterFirst, v1.DNSClusterFirstWithHostNet:
		domain := s.Domain
		if domain == "" {
			domain = "cluster.local"
		}
		searches := []string{pod.Namespace + ".svc." + domain, "svc." + domain, domain}
		dns = &runtimeapi.DNSConfig{
			Servers:  append([]string{}, s.ClusterServers...),
			Searches: appendUnique(searches, host.Searches...),
			Options:  []string{"ndots:5"},
		}
	default:
		dns = &runtimeapi.DNSConfig{Servers: host.Servers, Searches: host.Searches, Options: host.Options}
	}
	if c := pod.Spec.DNSConfig; c != nil {
		dns.Servers = appendUnique(append([]string{}, dns.Servers...), c.Nameservers...)
		dns.Searches = appendUnique(append([]string{}, dns.Searches...), c.Searches...)
		for _, o := range c.Options {
			opt := o.Name
			if o.Value != nil {
				opt += ":" + *o.Value
			}
			dns.Options = setOption(dns.Options, o.Name, opt)
		}
	}
	if len(dns.Servers) > maxDNSNameservers {
		dns.Servers = dns.Servers[:maxDNSNameservers]
	}
	if len(dns.Searches) > maxDNSSearches {
		dns.Searches = dns.Searches[:maxDNSSearches]
	}
	return dns
}

func appendUnique(list []string, more ...string) []string {
	for _, m := range more {
		if m != "" && !slices.Contains(list, m) {
			list = append(list, m)
		}
	}
	return list
}

// setOption replaces the option called name (with or without a value) or
// adds it: a pod's dnsConfig overrides the policy's ndots.
func setOption(opts []string, name, opt string) []string {
	out := make([]string, 0, len(opts)+1)
	for _, o := range opts {
		if n, _, _ := strings.Cut(o, ":"); n != name {
			out = append(out, o)
		}
	}
	return append(out, opt)
}

func podHostname(pod *v1.Pod) string {
	h := pod.Spec.Hostname
	if h == "" {
		h = pod.Name
	}
	if len(h) > 63 {
		h = strings.TrimRight(h[:63], "-.")
	}
	return h
}

func namespaceOptions(pod *v1.Pod) *runtimeapi.NamespaceOption {
	ns := &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_POD, Pid: runtimeapi.NamespaceMode_CONTAINER, Ipc: runtimeapi.NamespaceMode_POD}
	if pod.Spec.HostNetwork {
		ns.Network = runtimeapi.NamespaceMode_NODE
	}
	if pod.Spec.HostPID {
		ns.Pid = runtimeapi.NamespaceMode_NODE
	} else if pod.Spec.ShareProcessNamespace != nil && *pod.Spec.ShareProcessNamespace {
		ns.Pid = runtimeapi.NamespaceMode_POD
	}
	if pod.Spec.HostIPC {
		ns.Ipc = runtimeapi.NamespaceMode_NODE
	}
	return ns
}

// sandboxConfig is the CRI request for the pod's sandbox.
func sandboxConfig(pod *v1.Pod, attempt uint32, paths podPaths, cgroupDriver string, dns dnsSettings) *runtimeapi.PodSandboxConfig {
	cfg := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: pod.Name, Namespace: pod.Namespace, Uid: string(pod.UID), Attempt: attempt},
		Hostname:     podHostname(pod),
		LogDirectory: paths.pod(string(pod.UID)),
		DnsConfig:    podDNS(pod, dns),
		Labels:       podLabels(pod),
		Annotations:  maps.Clone(pod.Annotations),
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			CgroupParent:    cgroupParent(cgroupDriver, pod),
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: namespaceOptions(pod)},
		},
	}
	if pod.Spec.HostNetwork {
		cfg.Hostname = ""
	}
	if sc := pod.Spec.SecurityContext; sc != nil {
		lsc := cfg.Linux.SecurityContext
		if sc.RunAsUser != nil {
			lsc.RunAsUser = &runtimeapi.Int64Value{Value: *sc.RunAsUser}
		}
		if sc.RunAsGroup != nil {
			lsc.RunAsGroup = &runtimeapi.Int64Value{Value: *sc.RunAsGroup}
		}
		lsc.SupplementalGroups = sc.SupplementalGroups
		for _, s := range sc.Sysctls {
			if cfg.Linux.Sysctls == nil {
				cfg.Linux.Sysctls = map[string]string{}
			}
			cfg.Linux.Sysctls[s.Name] = s.Value
		}
	}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.HostPort == 0 {
				continue
			}
			cfg.PortMappings = append(cfg.PortMappings, &runtimeapi.PortMapping{
				Protocol: protocol(p.Protocol), ContainerPort: p.ContainerPort, HostPort: p.HostPort, HostIp: p.HostIP,
			})
		}
	}
	return cfg
}

func protocol(p v1.Protocol) runtimeapi.Protocol {
	switch p {
	case v1.ProtocolUDP:
		return runtimeapi.Protocol_UDP
	case v1.ProtocolSCTP:
		return runtimeapi.Protocol_SCTP
	}
	return runtimeapi.Protocol_TCP
}

// linuxResources maps requests and limits to cgroup settings: CPU shares
// from the request, CFS quota from the limit, the memory limit as is.
func linuxResources(c *v1.Container) *runtimeapi.LinuxContainerResources {
	r := &runtimeapi.LinuxContainerResources{}
	cpuReq, hasReq := c.Resources.Requests[v1.ResourceCPU]
	cpuLim, hasLim := c.Resources.Limits[v1.ResourceCPU]
	if !hasReq && hasLim {
		cpuReq, hasReq = cpuLim, true
	}
	shares := int64(2)
	if hasReq {
		shares = max(cpuReq.MilliValue()*1024/1000, 2)
	}
	r.CpuShares = shares
	if hasLim {
		r.CpuPeriod = 100000
		r.CpuQuota = max(cpuLim.MilliValue()*100000/1000, 1000)
	}
	if m, ok := c.Resources.Limits[v1.ResourceMemory]; ok {
		r.MemoryLimitInBytes = m.Value()
	}
	return r
}

func containerSecurity(pod *v1.Pod, c *v1.Container) *runtimeapi.LinuxContainerSecurityContext {
	sc := &runtimeapi.LinuxContainerSecurityContext{NamespaceOptions: namespaceOptions(pod)}
	if psc := pod.Spec.SecurityContext; psc != nil {
		if psc.RunAsUser != nil {
			sc.RunAsUser = &runtimeapi.Int64Value{Value: *psc.RunAsUser}
		}
		if psc.RunAsGroup != nil {
			sc.RunAsGroup = &runtimeapi.Int64Value{Value: *psc.RunAsGroup}
		}
		sc.SupplementalGroups = psc.SupplementalGroups
	}
	if csc := c.SecurityContext; csc != nil {
		if csc.RunAsUser != nil {
			sc.RunAsUser = &runtimeapi.Int64Value{Value: *csc.RunAsUser}
		}
		if csc.RunAsGroup != nil {
			sc.RunAsGroup = &runtimeapi.Int64Value{Value: *csc.RunAsGroup}
		}
		if csc.Privileged != nil {
			sc.Privileged = *csc.Privileged
		}
		if csc.ReadOnlyRootFilesystem != nil {
			sc.ReadonlyRootfs = *csc.ReadOnlyRootFilesystem
		}
		if csc.AllowPrivilegeEscalation != nil {
			sc.NoNewPrivs = !*csc.AllowPrivilegeEscalation
		}
		if caps := csc.Capabilities; caps != nil {
			sc.Capabilities = &runtimeapi.Capability{}
			for _, a := range caps.Add {
				sc.Capabilities.AddCapabilities = append(sc.Capabilities.AddCapabilities, string(a))
			}
			for _, d := range caps.Drop {
				sc.Capabilities.DropCapabilities = append(sc.Capabilities.DropCapabilities, string(d))
			}
		}
	}
	return sc
}

// containerConfig is the CRI request for one container instance.
func containerConfig(pod *v1.Pod, c *v1.Container, init bool, restartCount int32, env []envVar, mounts []*runtimeapi.Mount) *runtimeapi.ContainerConfig {
	cmd, args := expandCommand(c, env)
	ctype := containerTypeNormal
	if init {
		ctype = containerTypeInit
	}
	cfg := &runtimeapi.ContainerConfig{
		Metadata:   &runtimeapi.ContainerMetadata{Name: c.Name, Attempt: uint32(restartCount)},
		Image:      &runtimeapi.ImageSpec{Image: c.Image, UserSpecifiedImage: c.Image},
		Command:    cmd,
		Args:       args,
		WorkingDir: c.WorkingDir,
		Mounts:     mounts,
		Labels: map[string]string{
			labelPodName: pod.Name, labelPodNamespace: pod.Namespace, labelPodUID: string(pod.UID),
			labelContainerName: c.Name, labelContainerType: ctype,
		},
		Annotations: map[string]string{
			annotRestartCount: strconv.Itoa(int(restartCount)),
			annotTermMsgPath:  c.TerminationMessagePath,
		},
		LogPath:   logPath(c.Name, restartCount),
		Stdin:     c.Stdin,
		StdinOnce: c.StdinOnce,
		Tty:       c.TTY,
		Linux: &runtimeapi.LinuxContainerConfig{
			Resources:       linuxResources(c),
			SecurityContext: containerSecurity(pod, c),
		},
	}
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		cfg.Annotations[annotGracePeriod] = strconv.FormatInt(*g, 10)
	}
	for _, e := range env {
		cfg.Envs = append(cfg.Envs, &runtimeapi.KeyValue{Key: e.Name, Value: e.Value})
	}
	return cfg
}

// hostsFileContent is the /etc/hosts a pod sees: localhost and itself.
func hostsFileContent(pod *v1.Pod, podIP string) string {
	var b strings.Builder
	b.WriteString("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	b.WriteString("fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n")
	if podIP != "" {
		name := podHostname(pod)
		if pod.Spec.Subdomain != "" {
			fq := fmt.Sprintf("%s.%s.%s.svc.cluster.local", name, pod.Spec.Subdomain, pod.Namespace)
			fmt.Fprintf(&b, "%s\t%s\t%s\n", podIP, fq, name)
		} else {
			fmt.Fprintf(&b, "%s\t%s\n", podIP, name)
		}
	}
	for _, h := range pod.Spec.HostAliases {
		fmt.Fprintf(&b, "%s\t%s\n", h.IP, strings.Join(h.Hostnames, "\t"))
	}
	return b.String()
}
