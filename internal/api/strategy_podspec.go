package api

import (
	"fmt"
	"math"
	"reflect"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Pod spec defaulting and validation, shared by Pods, PodTemplates,
// ReplicationControllers and every workload's pod template. Behaviour follows
// Kubernetes' v1 defaults and core validation.

const (
	defaultTerminationGracePeriodSeconds int64 = 30
	defaultVolumeFileMode                int32 = 0644 // shows as 420 in JSON
	defaultTokenExpirationSeconds        int64 = 3600
)

// DefaultPodSpec fills a pod spec's defaults; shared by Pod and by every
// workload's pod template. Admission-time defaults that Kubernetes applies
// only to Pods (service account, tolerations, priority) are not here: a
// Deployment's template does not get them.
func DefaultPodSpec(spec *corev1.PodSpec) {
	if spec.DNSPolicy == "" {
		spec.DNSPolicy = corev1.DNSClusterFirst
	}
	if spec.RestartPolicy == "" {
		spec.RestartPolicy = corev1.RestartPolicyAlways
	}
	if spec.HostNetwork {
		// With the host's network the container port is the host port.
		defaultHostNetworkPorts(spec.Containers)
		defaultHostNetworkPorts(spec.InitContainers)
	}
	if spec.SecurityContext == nil {
		spec.SecurityContext = &corev1.PodSecurityContext{}
	}
	if spec.TerminationGracePeriodSeconds == nil {
		v := defaultTerminationGracePeriodSeconds
		spec.TerminationGracePeriodSeconds = &v
	}
	if spec.SchedulerName == "" {
		spec.SchedulerName = corev1.DefaultSchedulerName
	}
	// serviceAccount is the deprecated alias of serviceAccountName. The v1
	// API reads either and always writes both, so old clients keep working.
	if spec.ServiceAccountName == "" {
		spec.ServiceAccountName = spec.DeprecatedServiceAccount
	}
	spec.DeprecatedServiceAccount = spec.ServiceAccountName

	for i := range spec.Containers {
		defaultContainer(&spec.Containers[i])
	}
	for i := range spec.InitContainers {
		defaultContainer(&spec.InitContainers[i])
	}
	for i := range spec.EphemeralContainers {
		// EphemeralContainerCommon has exactly Container's fields.
		c := corev1.Container(spec.EphemeralContainers[i].EphemeralContainerCommon)
		defaultContainer(&c)
		spec.EphemeralContainers[i].EphemeralContainerCommon = corev1.EphemeralContainerCommon(c)
	}
	for i := range spec.Volumes {
		defaultVolumeSource(&spec.Volumes[i].VolumeSource)
	}
}

func defaultHostNetworkPorts(containers []corev1.Container) {
	for i := range containers {
		for j := range containers[i].Ports {
			if containers[i].Ports[j].HostPort == 0 {
				containers[i].Ports[j].HostPort = containers[i].Ports[j].ContainerPort
			}
		}
	}
}

func defaultContainer(c *corev1.Container) {
	if c.ImagePullPolicy == "" {
		c.ImagePullPolicy = defaultPullPolicy(c.Image)
	}
	if c.TerminationMessagePath == "" {
		c.TerminationMessagePath = corev1.TerminationMessagePathDefault
	}
	if c.TerminationMessagePolicy == "" {
		c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
	}
	for i := range c.Ports {
		if c.Ports[i].Protocol == "" {
			c.Ports[i].Protocol = corev1.ProtocolTCP
		}
	}
	for i := range c.Env {
		if vf := c.Env[i].ValueFrom; vf != nil && vf.FieldRef != nil && vf.FieldRef.APIVersion == "" {
			vf.FieldRef.APIVersion = "v1"
		}
	}
	defaultProbe(c.LivenessProbe)
	defaultProbe(c.ReadinessProbe)
	defaultProbe(c.StartupProbe)
	if c.Lifecycle != nil {
		if c.Lifecycle.PostStart != nil {
			defaultHTTPGet(c.Lifecycle.PostStart.HTTPGet)
		}
		if c.Lifecycle.PreStop != nil {
			defaultHTTPGet(c.Lifecycle.PreStop.HTTPGet)
		}
	}
}

// defaultPullPolicy is Always for ":latest" or untagged images (the tag
// moves, so the node must check), IfNotPresent for a fixed tag or digest.
func defaultPullPolicy(image string) corev1.PullPolicy {
	if image == "" {
		return corev1.PullIfNotPresent
	}
	name, hasDigest := image, false
	if i := strings.Index(name, "@"); i >= 0 {
		name, hasDigest = name[:i], true
	}
	tag := ""
	last := name[strings.LastIndex(name, "/")+1:] // a ":" before the last "/" is a registry port
	if i := strings.LastIndex(last, ":"); i >= 0 {
		tag = last[i+1:]
	}
	if tag == "" && !hasDigest {
		tag = "latest"
	}
	if tag == "latest" {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}

func defaultProbe(p *corev1.Probe) {
	if p == nil {
		return
	}
	if p.TimeoutSeconds == 0 {
		p.TimeoutSeconds = 1
	}
	if p.PeriodSeconds == 0 {
		p.PeriodSeconds = 10
	}
	if p.SuccessThreshold == 0 {
		p.SuccessThreshold = 1
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = 3
	}
	defaultHTTPGet(p.HTTPGet)
	if p.GRPC != nil && p.GRPC.Service == nil {
		empty := ""
		p.GRPC.Service = &empty
	}
}

func defaultHTTPGet(h *corev1.HTTPGetAction) {
	if h == nil {
		return
	}
	if h.Path == "" {
		h.Path = "/"
	}
	if h.Scheme == "" {
		h.Scheme = corev1.URISchemeHTTP
	}
}

// defaultVolumeSource fills volume defaults; a volume with no source at all
// is an emptyDir.
func defaultVolumeSource(v *corev1.VolumeSource) {
	if len(setPointerFields(v)) == 0 {
		v.EmptyDir = &corev1.EmptyDirVolumeSource{}
	}
	mode := func(m **int32) {
		if *m == nil {
			d := defaultVolumeFileMode
			*m = &d
		}
	}
	if v.Secret != nil {
		mode(&v.Secret.DefaultMode)
	}
	if v.ConfigMap != nil {
		mode(&v.ConfigMap.DefaultMode)
	}
	if v.DownwardAPI != nil {
		mode(&v.DownwardAPI.DefaultMode)
		defaultDownwardAPIItems(v.DownwardAPI.Items)
	}
	if v.Projected != nil {
		mode(&v.Projected.DefaultMode)
		for i := range v.Projected.Sources {
			s := &v.Projected.Sources[i]
			if s.DownwardAPI != nil {
				defaultDownwardAPIItems(s.DownwardAPI.Items)
			}
			if s.ServiceAccountToken != nil && s.ServiceAccountToken.ExpirationSeconds == nil {
				e := defaultTokenExpirationSeconds
				s.ServiceAccountToken.ExpirationSeconds = &e
			}
		}
	}
	if v.HostPath != nil && v.HostPath.Type == nil {
		t := corev1.HostPathUnset
		v.HostPath.Type = &t
	}
	if v.ISCSI != nil && v.ISCSI.ISCSIInterface == "" {
		v.ISCSI.ISCSIInterface = "default"
	}
	if v.RBD != nil {
		defaultRBD(&v.RBD.RBDPool, &v.RBD.RadosUser, &v.RBD.Keyring)
	}
	if v.Ephemeral != nil && v.Ephemeral.VolumeClaimTemplate != nil {
		defaultPVCSpec(&v.Ephemeral.VolumeClaimTemplate.Spec)
	}
}

func defaultDownwardAPIItems(items []corev1.DownwardAPIVolumeFile) {
	for i := range items {
		if items[i].FieldRef != nil && items[i].FieldRef.APIVersion == "" {
			items[i].FieldRef.APIVersion = "v1"
		}
	}
}

func defaultRBD(pool, user, keyring *string) {
	if *pool == "" {
		*pool = "rbd"
	}
	if *user == "" {
		*user = "admin"
	}
	if *keyring == "" {
		*keyring = "/etc/ceph/keyring"
	}
}

// setPointerFields returns the JSON names of the non-nil pointer fields of a
// one-of struct (VolumeSource, PersistentVolumeSource, handlers), in
// declaration order.
func setPointerFields(v interface{}) []string {
	rv := reflect.ValueOf(v).Elem()
	var out []string
	for i := 0; i < rv.NumField(); i++ {
		f := rv.Field(i)
		if f.Kind() == reflect.Ptr && !f.IsNil() {
			name := strings.Split(rv.Type().Field(i).Tag.Get("json"), ",")[0]
			out = append(out, name)
		}
	}
	return out
}

// ValidatePodSpec checks a pod spec at path fld.
func ValidatePodSpec(spec *corev1.PodSpec, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	volumes, volErrs := validateVolumes(spec.Volumes, fld.Child("volumes"))
	errs = append(errs, volErrs...)
	errs = append(errs, validateContainers(spec.Containers, volumes, fld.Child("containers"))...)
	errs = append(errs, validateInitContainers(spec.InitContainers, spec.Containers, volumes, fld.Child("initContainers"))...)
	errs = append(errs, validateEnum(spec.RestartPolicy,
		[]corev1.RestartPolicy{corev1.RestartPolicyAlways, corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever},
		fld.Child("restartPolicy"))...)
	errs = append(errs, validateDNSPolicy(spec, fld)...)
	errs = append(errs, validateLabels(spec.NodeSelector, fld.Child("nodeSelector"))...)
	if spec.ServiceAccountName != "" {
		for _, msg := range apivalidation.NameIsDNSSubdomain(spec.ServiceAccountName, false) {
			errs = append(errs, field.Invalid(fld.Child("serviceAccountName"), spec.ServiceAccountName, msg))
		}
	}
	if spec.NodeName != "" {
		for _, msg := range apivalidation.NameIsDNSSubdomain(spec.NodeName, false) {
			errs = append(errs, field.Invalid(fld.Child("nodeName"), spec.NodeName, msg))
		}
	}
	if spec.ActiveDeadlineSeconds != nil {
		if v := *spec.ActiveDeadlineSeconds; v < 1 || v > math.MaxInt32 {
			errs = append(errs, field.Invalid(fld.Child("activeDeadlineSeconds"), v, validation.InclusiveRangeError(1, math.MaxInt32)))
		}
	}
	if spec.Hostname != "" {
		errs = append(errs, validateDNS1123Label(spec.Hostname, fld.Child("hostname"))...)
	}
	if spec.Subdomain != "" {
		errs = append(errs, validateDNS1123Label(spec.Subdomain, fld.Child("subdomain"))...)
	}
	if spec.PriorityClassName != "" {
		for _, msg := range apivalidation.NameIsDNSSubdomain(spec.PriorityClassName, false) {
			errs = append(errs, field.Invalid(fld.Child("priorityClassName"), spec.PriorityClassName, msg))
		}
	}
	errs = append(errs, validateTolerations(spec.Tolerations, fld.Child("tolerations"))...)
	if spec.HostNetwork {
		errs = append(errs, validateHostNetworkPorts(spec.Containers, fld.Child("containers"))...)
		errs = append(errs, validateHostNetworkPorts(spec.InitContainers, fld.Child("initContainers"))...)
	}
	for i, g := range spec.ReadinessGates {
		errs = append(errs, validateQualifiedName(string(g.ConditionType), fld.Child("readinessGates").Index(i).Child("conditionType"))...)
	}
	for i, s := range spec.ImagePullSecrets {
		if s.Name == "" {
			errs = append(errs, field.Required(fld.Child("imagePullSecrets").Index(i).Child("name"), ""))
		}
	}
	return errs
}

// ValidatePodTemplateSpec checks a workload's pod template at path fld.
// Callers add their own rules (a ReplicationController or Deployment only
// allows restartPolicy Always, for example).
func ValidatePodTemplateSpec(t *corev1.PodTemplateSpec, fld *field.Path) field.ErrorList {
	if t == nil {
		return field.ErrorList{field.Required(fld, "")}
	}
	var errs field.ErrorList
	// Kubernetes reports template labels at "template.labels", not
	// "template.metadata.labels"; we keep its paths.
	errs = append(errs, validateLabels(t.Labels, fld.Child("labels"))...)
	errs = append(errs, validateAnnotations(t.Annotations, fld.Child("annotations"))...)
	errs = append(errs, ValidatePodSpec(&t.Spec, fld.Child("spec"))...)
	if len(t.Spec.EphemeralContainers) > 0 {
		errs = append(errs, field.Forbidden(fld.Child("spec", "ephemeralContainers"), "ephemeral containers not allowed in pod template"))
	}
	return errs
}

func validateDNSPolicy(spec *corev1.PodSpec, fld *field.Path) field.ErrorList {
	errs := validateEnum(spec.DNSPolicy, []corev1.DNSPolicy{corev1.DNSClusterFirstWithHostNet, corev1.DNSClusterFirst,
		corev1.DNSDefault, corev1.DNSNone}, fld.Child("dnsPolicy"))
	if spec.DNSPolicy == corev1.DNSNone {
		if spec.DNSConfig == nil {
			errs = append(errs, field.Required(fld.Child("dnsConfig"), "must provide `dnsConfig` when `dnsPolicy` is None"))
		} else if len(spec.DNSConfig.Nameservers) == 0 {
			errs = append(errs, field.Required(fld.Child("dnsConfig", "nameservers"), "must provide at least one DNS nameserver when `dnsPolicy` is None"))
		}
	}
	if spec.DNSConfig != nil {
		for i, ns := range spec.DNSConfig.Nameservers {
			errs = append(errs, validateIP(ns, fld.Child("dnsConfig", "nameservers").Index(i))...)
		}
	}
	return errs
}

func validateHostNetworkPorts(containers []corev1.Container, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, c := range containers {
		for j, p := range c.Ports {
			if p.HostPort != p.ContainerPort {
				errs = append(errs, field.Invalid(fld.Index(i).Child("ports").Index(j).Child("containerPort"),
					p.ContainerPort, "must match `hostPort` when `hostNetwork` is true"))
			}
		}
	}
	return errs
}

// validateVolumes checks volumes and returns their names for the mount
// checks.
func validateVolumes(volumes []corev1.Volume, fld *field.Path) (map[string]bool, field.ErrorList) {
	var errs field.ErrorList
	names := map[string]bool{}
	for i := range volumes {
		v := &volumes[i]
		p := fld.Index(i)
		if v.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		} else {
			errs = append(errs, validateDNS1123Label(v.Name, p.Child("name"))...)
		}
		if names[v.Name] {
			errs = append(errs, field.Duplicate(p.Child("name"), v.Name))
		}
		names[v.Name] = true
		errs = append(errs, validateVolumeSource(&v.VolumeSource, p)...)
	}
	return names, errs
}

func validateVolumeSource(v *corev1.VolumeSource, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	set := setPointerFields(v)
	if len(set) == 0 {
		return field.ErrorList{field.Required(fld, "must specify a volume type")}
	}
	for _, extra := range set[1:] {
		errs = append(errs, field.Forbidden(fld.Child(extra), "may not specify more than 1 volume type"))
	}
	switch {
	case v.HostPath != nil:
		errs = append(errs, validateHostPath(v.HostPath, fld.Child("hostPath"))...)
	case v.EmptyDir != nil:
		if v.EmptyDir.SizeLimit != nil && v.EmptyDir.SizeLimit.Sign() < 0 {
			errs = append(errs, field.Forbidden(fld.Child("emptyDir").Child("sizeLimit"), "SizeLimit field must be a valid resource quantity"))
		}
	case v.Secret != nil:
		p := fld.Child("secret")
		if v.Secret.SecretName == "" {
			errs = append(errs, field.Required(p.Child("secretName"), ""))
		}
		errs = append(errs, validateFileMode(v.Secret.DefaultMode, p.Child("defaultMode"))...)
		errs = append(errs, validateKeyToPaths(v.Secret.Items, p.Child("items"))...)
	case v.ConfigMap != nil:
		p := fld.Child("configMap")
		if v.ConfigMap.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		}
		errs = append(errs, validateFileMode(v.ConfigMap.DefaultMode, p.Child("defaultMode"))...)
		errs = append(errs, validateKeyToPaths(v.ConfigMap.Items, p.Child("items"))...)
	case v.PersistentVolumeClaim != nil:
		if v.PersistentVolumeClaim.ClaimName == "" {
			errs = append(errs, field.Required(fld.Child("persistentVolumeClaim", "claimName"), ""))
		}
	case v.DownwardAPI != nil:
		p := fld.Child("downwardAPI")
		errs = append(errs, validateFileMode(v.DownwardAPI.DefaultMode, p.Child("defaultMode"))...)
		for i, item := range v.DownwardAPI.Items {
			ip := p.Child("items").Index(i)
			if item.Path == "" {
				errs = append(errs, field.Required(ip.Child("path"), ""))
			}
			errs = append(errs, validateRelativePath(item.Path, ip.Child("path"))...)
			errs = append(errs, validateFileMode(item.Mode, ip.Child("mode"))...)
		}
	case v.Projected != nil:
		errs = append(errs, validateFileMode(v.Projected.DefaultMode, fld.Child("projected", "defaultMode"))...)
	case v.NFS != nil:
		p := fld.Child("nfs")
		if v.NFS.Server == "" {
			errs = append(errs, field.Required(p.Child("server"), ""))
		}
		if v.NFS.Path == "" {
			errs = append(errs, field.Required(p.Child("path"), ""))
		} else if !strings.HasPrefix(v.NFS.Path, "/") {
			errs = append(errs, field.Invalid(p.Child("path"), v.NFS.Path, "must be an absolute path"))
		}
	case v.CSI != nil:
		if v.CSI.Driver == "" {
			errs = append(errs, field.Required(fld.Child("csi", "driver"), ""))
		}
	case v.Image != nil:
		if v.Image.Reference == "" {
			errs = append(errs, field.Required(fld.Child("image", "reference"), ""))
		}
	}
	return errs
}

var supportedHostPathTypes = []corev1.HostPathType{corev1.HostPathUnset, corev1.HostPathBlockDev, corev1.HostPathCharDev,
	corev1.HostPathDirectory, corev1.HostPathDirectoryOrCreate, corev1.HostPathFile, corev1.HostPathFileOrCreate, corev1.HostPathSocket}

func validateHostPath(h *corev1.HostPathVolumeSource, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if h.Path == "" {
		errs = append(errs, field.Required(fld.Child("path"), ""))
	} else {
		errs = append(errs, validateNoBacksteps(h.Path, fld.Child("path"))...)
	}
	if h.Type != nil {
		ok := false
		for _, t := range supportedHostPathTypes {
			ok = ok || *h.Type == t
		}
		if !ok {
			errs = append(errs, field.NotSupported(fld.Child("type"), *h.Type, supportedHostPathTypes))
		}
	}
	return errs
}

func validateKeyToPaths(items []corev1.KeyToPath, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, item := range items {
		p := fld.Index(i)
		if item.Key == "" {
			errs = append(errs, field.Required(p.Child("key"), ""))
		}
		if item.Path == "" {
			errs = append(errs, field.Required(p.Child("path"), ""))
		}
		errs = append(errs, validateRelativePath(item.Path, p.Child("path"))...)
		errs = append(errs, validateFileMode(item.Mode, p.Child("mode"))...)
	}
	return errs
}

// validateContainers checks regular containers: at least one, unique names.
func validateContainers(containers []corev1.Container, volumes map[string]bool, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(containers) == 0 {
		return field.ErrorList{field.Required(fld, "")}
	}
	names := map[string]bool{}
	for i := range containers {
		c := &containers[i]
		p := fld.Index(i)
		errs = append(errs, validateContainerCommon(c, volumes, p)...)
		if names[c.Name] {
			errs = append(errs, field.Duplicate(p.Child("name"), c.Name))
		}
		names[c.Name] = true
		if c.RestartPolicy != nil {
			errs = append(errs, field.Forbidden(p.Child("restartPolicy"), "may not be set for non-init containers"))
		}
		errs = append(errs, validateProbe(c.LivenessProbe, p.Child("livenessProbe"), true)...)
		errs = append(errs, validateProbe(c.ReadinessProbe, p.Child("readinessProbe"), false)...)
		errs = append(errs, validateProbe(c.StartupProbe, p.Child("startupProbe"), true)...)
		errs = append(errs, validateLifecycle(c.Lifecycle, p.Child("lifecycle"))...)
	}
	return errs
}

// validateInitContainers checks init containers; their names must also be
// unique against the regular containers. Only "sidecar" init containers
// (restartPolicy Always) may have probes or lifecycle hooks.
func validateInitContainers(inits, regular []corev1.Container, volumes map[string]bool, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := map[string]bool{}
	for _, c := range regular {
		names[c.Name] = true
	}
	for i := range inits {
		c := &inits[i]
		p := fld.Index(i)
		errs = append(errs, validateContainerCommon(c, volumes, p)...)
		if names[c.Name] {
			errs = append(errs, field.Duplicate(p.Child("name"), c.Name))
		}
		names[c.Name] = true
		sidecar := false
		if c.RestartPolicy != nil {
			if *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
				sidecar = true
			} else {
				errs = append(errs, field.NotSupported(p.Child("restartPolicy"), *c.RestartPolicy,
					[]corev1.ContainerRestartPolicy{corev1.ContainerRestartPolicyAlways}))
			}
		}
		if sidecar {
			errs = append(errs, validateProbe(c.LivenessProbe, p.Child("livenessProbe"), true)...)
			errs = append(errs, validateProbe(c.ReadinessProbe, p.Child("readinessProbe"), false)...)
			errs = append(errs, validateProbe(c.StartupProbe, p.Child("startupProbe"), true)...)
			errs = append(errs, validateLifecycle(c.Lifecycle, p.Child("lifecycle"))...)
			continue
		}
		if c.Lifecycle != nil {
			errs = append(errs, field.Forbidden(p.Child("lifecycle"), "may not be set for init containers without restartPolicy=Always"))
		}
		if c.LivenessProbe != nil {
			errs = append(errs, field.Forbidden(p.Child("livenessProbe"), "may not be set for init containers without restartPolicy=Always"))
		}
		if c.ReadinessProbe != nil {
			errs = append(errs, field.Forbidden(p.Child("readinessProbe"), "may not be set for init containers without restartPolicy=Always"))
		}
		if c.StartupProbe != nil {
			errs = append(errs, field.Forbidden(p.Child("startupProbe"), "may not be set for init containers without restartPolicy=Always"))
		}
	}
	return errs
}

func validateContainerCommon(c *corev1.Container, volumes map[string]bool, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if c.Name == "" {
		errs = append(errs, field.Required(fld.Child("name"), ""))
	} else {
		errs = append(errs, validateDNS1123Label(c.Name, fld.Child("name"))...)
	}
	if c.Image == "" {
		errs = append(errs, field.Required(fld.Child("image"), ""))
	}
	errs = append(errs, validateContainerPorts(c.Ports, fld.Child("ports"))...)
	errs = append(errs, validateEnv(c.Env, fld.Child("env"))...)
	errs = append(errs, validateEnvFrom(c.EnvFrom, fld.Child("envFrom"))...)
	errs = append(errs, validateVolumeMounts(c.VolumeMounts, volumes, fld.Child("volumeMounts"))...)
	errs = append(errs, validateResources(&c.Resources, fld.Child("resources"))...)
	errs = append(errs, validateEnum(c.TerminationMessagePolicy,
		[]corev1.TerminationMessagePolicy{corev1.TerminationMessageReadFile, corev1.TerminationMessageFallbackToLogsOnError},
		fld.Child("terminationMessagePolicy"))...)
	errs = append(errs, validateEnum(c.ImagePullPolicy,
		[]corev1.PullPolicy{corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever}, fld.Child("imagePullPolicy"))...)
	return errs
}

func validateContainerPorts(ports []corev1.ContainerPort, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := map[string]bool{}
	for i, port := range ports {
		p := fld.Index(i)
		if port.Name != "" {
			if msgs := validation.IsValidPortName(port.Name); len(msgs) != 0 {
				for _, msg := range msgs {
					errs = append(errs, field.Invalid(p.Child("name"), port.Name, msg))
				}
			} else if names[port.Name] {
				errs = append(errs, field.Duplicate(p.Child("name"), port.Name))
			} else {
				names[port.Name] = true
			}
		}
		if port.ContainerPort == 0 {
			errs = append(errs, field.Required(p.Child("containerPort"), ""))
		} else {
			errs = append(errs, validatePortNum(port.ContainerPort, p.Child("containerPort"))...)
		}
		if port.HostPort != 0 {
			errs = append(errs, validatePortNum(port.HostPort, p.Child("hostPort"))...)
		}
		errs = append(errs, validateProtocol(port.Protocol, p.Child("protocol"))...)
		if port.HostIP != "" {
			errs = append(errs, validateIP(port.HostIP, p.Child("hostIP"))...)
		}
	}
	return errs
}

// Downward API paths a pod may expose as environment variables.
var validEnvFieldPaths = []string{"metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName",
	"spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs"}

var validResourceFieldRefs = []string{"limits.cpu", "limits.ephemeral-storage", "limits.memory",
	"requests.cpu", "requests.ephemeral-storage", "requests.memory"}

func validateEnv(env []corev1.EnvVar, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, ev := range env {
		p := fld.Index(i)
		if ev.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		} else {
			// Kubernetes 1.33 accepts any printable ASCII but '=' (the
			// RelaxedEnvironmentVariableValidation gate is on by default).
			for _, msg := range validation.IsRelaxedEnvVarName(ev.Name) {
				errs = append(errs, field.Invalid(p.Child("name"), ev.Name, msg))
			}
		}
		errs = append(errs, validateEnvValueFrom(ev, p.Child("valueFrom"))...)
	}
	return errs
}

func validateEnvValueFrom(ev corev1.EnvVar, fld *field.Path) field.ErrorList {
	vf := ev.ValueFrom
	if vf == nil {
		return nil
	}
	var errs field.ErrorList
	sources := 0
	if vf.FieldRef != nil {
		sources++
		errs = append(errs, validateFieldRef(vf.FieldRef, validEnvFieldPaths, fld.Child("fieldRef"))...)
	}
	if vf.ResourceFieldRef != nil {
		sources++
		p := fld.Child("resourceFieldRef")
		r := vf.ResourceFieldRef.Resource
		if r == "" {
			errs = append(errs, field.Required(p.Child("resource"), ""))
		} else if !contains(validResourceFieldRefs, r) && !strings.HasPrefix(r, "limits.hugepages-") && !strings.HasPrefix(r, "requests.hugepages-") {
			errs = append(errs, field.NotSupported(p.Child("resource"), r, validResourceFieldRefs))
		}
	}
	if vf.ConfigMapKeyRef != nil {
		sources++
		errs = append(errs, validateKeySelector(vf.ConfigMapKeyRef.Name, vf.ConfigMapKeyRef.Key, fld.Child("configMapKeyRef"))...)
	}
	if vf.SecretKeyRef != nil {
		sources++
		errs = append(errs, validateKeySelector(vf.SecretKeyRef.Name, vf.SecretKeyRef.Key, fld.Child("secretKeyRef"))...)
	}
	switch {
	case sources == 0:
		errs = append(errs, field.Invalid(fld, "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"))
	case ev.Value != "":
		errs = append(errs, field.Invalid(fld, "", "may not be specified when `value` is not empty"))
	case sources > 1:
		errs = append(errs, field.Invalid(fld, "", "may not have more than one field specified at a time"))
	}
	return errs
}

func validateFieldRef(ref *corev1.ObjectFieldSelector, valid []string, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if ref.APIVersion == "" {
		errs = append(errs, field.Required(fld.Child("apiVersion"), ""))
	}
	if ref.FieldPath == "" {
		return append(errs, field.Required(fld.Child("fieldPath"), ""))
	}
	// metadata.labels['key'] and metadata.annotations['key'] name one entry.
	for _, prefix := range []string{"metadata.labels['", "metadata.annotations['"} {
		if strings.HasPrefix(ref.FieldPath, prefix) && strings.HasSuffix(ref.FieldPath, "']") {
			return append(errs, validateQualifiedName(ref.FieldPath[len(prefix):len(ref.FieldPath)-2], fld.Child("fieldPath"))...)
		}
	}
	if !contains(valid, ref.FieldPath) {
		errs = append(errs, field.NotSupported(fld.Child("fieldPath"), ref.FieldPath, valid))
	}
	return errs
}

func validateKeySelector(name, key string, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if name == "" {
		errs = append(errs, field.Required(fld.Child("name"), ""))
	}
	if key == "" {
		errs = append(errs, field.Required(fld.Child("key"), ""))
	} else {
		for _, msg := range validation.IsConfigMapKey(key) {
			errs = append(errs, field.Invalid(fld.Child("key"), key, msg))
		}
	}
	return errs
}

func validateEnvFrom(sources []corev1.EnvFromSource, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, s := range sources {
		p := fld.Index(i)
		if s.Prefix != "" {
			for _, msg := range validation.IsRelaxedEnvVarName(s.Prefix) {
				errs = append(errs, field.Invalid(p.Child("prefix"), s.Prefix, msg))
			}
		}
		n := 0
		if s.ConfigMapRef != nil {
			n++
			if s.ConfigMapRef.Name == "" {
				errs = append(errs, field.Required(p.Child("configMapRef", "name"), ""))
			}
		}
		if s.SecretRef != nil {
			n++
			if s.SecretRef.Name == "" {
				errs = append(errs, field.Required(p.Child("secretRef", "name"), ""))
			}
		}
		if n == 0 {
			errs = append(errs, field.Invalid(p, "", "must specify one of: `configMapRef` or `secretRef`"))
		} else if n > 1 {
			errs = append(errs, field.Invalid(p, "", "may not have more than one field specified at a time"))
		}
	}
	return errs
}

func validateVolumeMounts(mounts []corev1.VolumeMount, volumes map[string]bool, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	paths := map[string]bool{}
	for i, m := range mounts {
		p := fld.Index(i)
		if m.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		}
		if !volumes[m.Name] {
			errs = append(errs, field.NotFound(p.Child("name"), m.Name))
		}
		if m.MountPath == "" {
			errs = append(errs, field.Required(p.Child("mountPath"), ""))
		}
		if paths[m.MountPath] {
			errs = append(errs, field.Invalid(p.Child("mountPath"), m.MountPath, "must be unique"))
		}
		paths[m.MountPath] = true
		if m.SubPath != "" {
			errs = append(errs, validateRelativePath(m.SubPath, p.Child("subPath"))...)
		}
		if m.MountPropagation != nil {
			errs = append(errs, validateEnum(*m.MountPropagation, []corev1.MountPropagationMode{corev1.MountPropagationBidirectional,
				corev1.MountPropagationHostToContainer, corev1.MountPropagationNone}, p.Child("mountPropagation"))...)
		}
	}
	return errs
}

// validateResources checks container requests and limits: known resource
// names, non-negative quantities, requests <= limits.
func validateResources(r *corev1.ResourceRequirements, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	limPath := fld.Child("limits")
	for _, name := range sortedResourceNames(r.Limits) {
		p := limPath.Key(string(name))
		errs = append(errs, validateContainerResourceName(name, p)...)
		errs = append(errs, validateQuantity(name, r.Limits[name], p)...)
	}
	reqPath := fld.Child("requests")
	for _, name := range sortedResourceNames(r.Requests) {
		q := r.Requests[name]
		p := reqPath.Key(string(name))
		errs = append(errs, validateContainerResourceName(name, p)...)
		errs = append(errs, validateQuantity(name, q, p)...)
		lim, ok := r.Limits[name]
		switch {
		case ok && q.Cmp(lim) != 0 && !isOvercommitAllowed(name):
			errs = append(errs, field.Invalid(p, q.String(), fmt.Sprintf("must be equal to %s limit of %s", name, lim.String())))
		case ok && q.Cmp(lim) > 0:
			errs = append(errs, field.Invalid(p, q.String(), fmt.Sprintf("must be less than or equal to %s limit of %s", name, lim.String())))
		case !ok && !isOvercommitAllowed(name):
			errs = append(errs, field.Required(limPath, "Limit must be set for non overcommitable resources"))
		}
	}
	return errs
}

func validateContainerResourceName(name corev1.ResourceName, fld *field.Path) field.ErrorList {
	errs := validateQualifiedName(string(name), fld)
	if len(errs) != 0 {
		return errs
	}
	if !strings.Contains(string(name), "/") {
		switch {
		case name == corev1.ResourceCPU, name == corev1.ResourceMemory, name == corev1.ResourceEphemeralStorage, isHugePageResource(name):
		default:
			errs = append(errs, field.Invalid(fld, name, "must be a standard resource for containers"))
		}
	} else if !isNativeResource(name) && strings.HasPrefix(string(name), corev1.DefaultResourceRequestsPrefix) {
		errs = append(errs, field.Invalid(fld, name, "doesn't follow extended resource name standard"))
	}
	return errs
}

// validateProbe checks one probe; liveness and startup probes must use a
// success threshold of 1 since one success is what ends them.
func validateProbe(p *corev1.Probe, fld *field.Path, successMustBeOne bool) field.ErrorList {
	if p == nil {
		return nil
	}
	var errs field.ErrorList
	errs = append(errs, validateHandler(&p.ProbeHandler, fld)...)
	errs = append(errs, validateNonnegative(int64(p.InitialDelaySeconds), fld.Child("initialDelaySeconds"))...)
	errs = append(errs, validateNonnegative(int64(p.TimeoutSeconds), fld.Child("timeoutSeconds"))...)
	errs = append(errs, validateNonnegative(int64(p.PeriodSeconds), fld.Child("periodSeconds"))...)
	errs = append(errs, validateNonnegative(int64(p.SuccessThreshold), fld.Child("successThreshold"))...)
	errs = append(errs, validateNonnegative(int64(p.FailureThreshold), fld.Child("failureThreshold"))...)
	if p.TerminationGracePeriodSeconds != nil && *p.TerminationGracePeriodSeconds <= 0 {
		errs = append(errs, field.Invalid(fld.Child("terminationGracePeriodSeconds"), *p.TerminationGracePeriodSeconds, "must be greater than 0"))
	}
	if successMustBeOne && p.SuccessThreshold != 1 {
		errs = append(errs, field.Invalid(fld.Child("successThreshold"), p.SuccessThreshold, "must be 1"))
	}
	return errs
}

func validateHandler(h *corev1.ProbeHandler, fld *field.Path) field.ErrorList {
	set := setPointerFields(h)
	if len(set) == 0 {
		return field.ErrorList{field.Required(fld, "must specify a handler type")}
	}
	var errs field.ErrorList
	for _, extra := range set[1:] {
		errs = append(errs, field.Forbidden(fld.Child(extra), "may not specify more than 1 handler type"))
	}
	if h.Exec != nil && len(h.Exec.Command) == 0 {
		errs = append(errs, field.Required(fld.Child("exec", "command"), ""))
	}
	if h.HTTPGet != nil {
		errs = append(errs, validateHTTPGet(h.HTTPGet, fld.Child("httpGet"))...)
	}
	if h.TCPSocket != nil {
		errs = append(errs, validatePortNumOrName(h.TCPSocket.Port, fld.Child("tcpSocket", "port"))...)
	}
	if h.GRPC != nil {
		errs = append(errs, validatePortNum(h.GRPC.Port, fld.Child("grpc", "port"))...)
	}
	return errs
}

func validateHTTPGet(h *corev1.HTTPGetAction, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if h.Path == "" {
		errs = append(errs, field.Required(fld.Child("path"), ""))
	}
	errs = append(errs, validatePortNumOrName(h.Port, fld.Child("port"))...)
	errs = append(errs, validateEnum(h.Scheme, []corev1.URIScheme{corev1.URISchemeHTTP, corev1.URISchemeHTTPS}, fld.Child("scheme"))...)
	for i, hdr := range h.HTTPHeaders {
		for _, msg := range validation.IsHTTPHeaderName(hdr.Name) {
			errs = append(errs, field.Invalid(fld.Child("httpHeaders").Index(i).Child("name"), hdr.Name, msg))
		}
	}
	return errs
}

func validateLifecycle(l *corev1.Lifecycle, fld *field.Path) field.ErrorList {
	if l == nil {
		return nil
	}
	var errs field.ErrorList
	for _, h := range []struct {
		name string
		h    *corev1.LifecycleHandler
	}{{"postStart", l.PostStart}, {"preStop", l.PreStop}} {
		if h.h == nil {
			continue
		}
		p := fld.Child(h.name)
		set := setPointerFields(h.h)
		if len(set) == 0 {
			errs = append(errs, field.Required(p, "must specify a handler type"))
			continue
		}
		for _, extra := range set[1:] {
			errs = append(errs, field.Forbidden(p.Child(extra), "may not specify more than 1 handler type"))
		}
		if h.h.Exec != nil && len(h.h.Exec.Command) == 0 {
			errs = append(errs, field.Required(p.Child("exec", "command"), ""))
		}
		if h.h.HTTPGet != nil {
			errs = append(errs, validateHTTPGet(h.h.HTTPGet, p.Child("httpGet"))...)
		}
		if h.h.TCPSocket != nil {
			errs = append(errs, validatePortNumOrName(h.h.TCPSocket.Port, p.Child("tcpSocket", "port"))...)
		}
		if h.h.Sleep != nil && h.h.Sleep.Seconds < 0 {
			errs = append(errs, field.Invalid(p.Child("sleep", "seconds"), h.h.Sleep.Seconds, isNegativeErrorMsg))
		}
	}
	return errs
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
