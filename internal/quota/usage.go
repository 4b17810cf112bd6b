package quota

import (
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
)

// The kinds whose usage is more than an object count.
var (
	Pods                   = schema.GroupResource{Resource: "pods"}
	Services               = schema.GroupResource{Resource: "services"}
	PersistentVolumeClaims = schema.GroupResource{Resource: "persistentvolumeclaims"}
	ConfigMaps             = schema.GroupResource{Resource: "configmaps"}
	Secrets                = schema.GroupResource{Resource: "secrets"}
	ReplicationControllers = schema.GroupResource{Resource: "replicationcontrollers"}
	ResourceQuotas         = schema.GroupResource{Resource: "resourcequotas"}
)

// legacyCountNames are the names without "count/" that quotas used for
// object counts before count/<resource> existed; both are kept.
var legacyCountNames = map[schema.GroupResource]corev1.ResourceName{
	ConfigMaps:             corev1.ResourceConfigMaps,
	Secrets:                corev1.ResourceSecrets,
	ReplicationControllers: corev1.ResourceReplicationControllers,
	ResourceQuotas:         corev1.ResourceQuotas,
}

// CountName is the quota name that counts objects of gr:
// count/<resource> for the core group, count/<resource>.<group> otherwise.
func CountName(gr schema.GroupResource) corev1.ResourceName {
	if gr.Group == "" {
		return corev1.ResourceName("count/" + gr.Resource)
	}
	return corev1.ResourceName("count/" + gr.Resource + "." + gr.Group)
}

var (
	podNames = []corev1.ResourceName{
		corev1.ResourcePods,
		corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage,
		corev1.ResourceRequestsCPU, corev1.ResourceRequestsMemory, corev1.ResourceRequestsEphemeralStorage,
		corev1.ResourceLimitsCPU, corev1.ResourceLimitsMemory, corev1.ResourceLimitsEphemeralStorage,
	}
	serviceNames = []corev1.ResourceName{corev1.ResourceServices, corev1.ResourceServicesNodePorts, corev1.ResourceServicesLoadBalancers}
	pvcNames     = []corev1.ResourceName{corev1.ResourcePersistentVolumeClaims, corev1.ResourceRequestsStorage}
)

// storageClassInfix joins a storage class to a PVC resource name:
// gold.storageclass.storage.k8s.io/requests.storage.
const storageClassInfix = ".storageclass.storage.k8s.io/"

// betaStorageClassAnnotation still wins over spec.storageClassName, as in
// Kubernetes.
const betaStorageClassAnnotation = "volume.beta.kubernetes.io/storage-class"

// MatchingResources returns the names among candidates that objects of gr
// use, in candidates' order: what a quota naming candidates tracks of gr.
func MatchingResources(gr schema.GroupResource, candidates []corev1.ResourceName) []corev1.ResourceName {
	var out []corev1.ResourceName
	for _, name := range candidates {
		if tracks(gr, name) {
			out = append(out, name)
		}
	}
	return out
}

func tracks(gr schema.GroupResource, name corev1.ResourceName) bool {
	if name == CountName(gr) {
		return true
	}
	switch gr {
	case Pods:
		s := string(name)
		return contains(podNames, name) ||
			strings.HasPrefix(s, corev1.ResourceHugePagesPrefix) ||
			strings.HasPrefix(s, corev1.ResourceRequestsHugePagesPrefix) ||
			isExtendedQuotaName(name)
	case Services:
		return contains(serviceNames, name)
	case PersistentVolumeClaims:
		if contains(pvcNames, name) {
			return true
		}
		for _, n := range pvcNames {
			if strings.HasSuffix(string(name), storageClassInfix+string(n)) {
				return true
			}
		}
		return false
	}
	if legacy, ok := legacyCountNames[gr]; ok {
		return name == legacy
	}
	return false
}

// isNative reports a resource name Kubernetes defines itself: no domain,
// or a kubernetes.io domain.
func isNative(name corev1.ResourceName) bool {
	s := string(name)
	return !strings.Contains(s, "/") || strings.Contains(s, corev1.ResourceDefaultNamespacePrefix)
}

// isExtendedQuotaName reports requests.<domain>/<name>: extended
// resources are quota'd by request only (they cannot be overcommitted).
func isExtendedQuotaName(name corev1.ResourceName) bool {
	return !isNative(name) && strings.HasPrefix(string(name), corev1.DefaultResourceRequestsPrefix)
}

// isExtendedResource reports a container resource such as
// example.com/dongle.
func isExtendedResource(name corev1.ResourceName) bool {
	if isNative(name) || strings.HasPrefix(string(name), corev1.DefaultResourceRequestsPrefix) {
		return false
	}
	return len(validation.IsQualifiedName(corev1.DefaultResourceRequestsPrefix+string(name))) == 0
}

// Usage is what obj, an object of gr, counts against a quota: always
// count/<resource>, and for pods, services, persistentvolumeclaims,
// configmaps, secrets, replicationcontrollers and resourcequotas the
// resource names Kubernetes defines for them. A pod being deleted counts
// until it is terminal (see UsageAt). Pods, Services and PVCs must be the
// typed k8s.io/api objects; anything else counts as one object.
func Usage(gr schema.GroupResource, obj runtime.Object) corev1.ResourceList {
	return UsageAt(gr, obj, time.Time{})
}

// UsageAt is Usage at time now: a pod whose deletion grace period ended
// before now no longer counts its compute resources (its node may be
// lost; it must not block replacements), as in Kubernetes. A zero now
// ignores the grace rule.
func UsageAt(gr schema.GroupResource, obj runtime.Object, now time.Time) corev1.ResourceList {
	out := corev1.ResourceList{CountName(gr): one()}
	switch gr {
	case Pods:
		if pod, ok := obj.(*corev1.Pod); ok && podCounts(pod, now) {
			out = add(out, podComputeUsage(podRequests(pod), podLimits(pod)))
		}
	case Services:
		if svc, ok := obj.(*corev1.Service); ok {
			for name, v := range serviceUsage(svc) {
				out[name] = v
			}
		}
	case PersistentVolumeClaims:
		if pvc, ok := obj.(*corev1.PersistentVolumeClaim); ok {
			for name, v := range pvcUsage(pvc) {
				out[name] = v
			}
		}
	default:
		if legacy, ok := legacyCountNames[gr]; ok {
			out[legacy] = one()
		}
	}
	return out
}

// podCounts reports whether a pod still uses compute quota: it does
// until it reaches a terminal phase or outlives its deletion grace.
func podCounts(pod *corev1.Pod, now time.Time) bool {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false
	}
	if !now.IsZero() && pod.DeletionTimestamp != nil && pod.DeletionGracePeriodSeconds != nil {
		end := pod.DeletionTimestamp.Add(time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second)
		if now.After(end) {
			return false
		}
	}
	return true
}

// podComputeUsage maps effective requests and limits (of a pod or of one
// container) to quota names.
func podComputeUsage(requests, limits corev1.ResourceList) corev1.ResourceList {
	out := corev1.ResourceList{corev1.ResourcePods: one()}
	for _, r := range []struct{ res, short, req, lim corev1.ResourceName }{
		{corev1.ResourceCPU, corev1.ResourceCPU, corev1.ResourceRequestsCPU, corev1.ResourceLimitsCPU},
		{corev1.ResourceMemory, corev1.ResourceMemory, corev1.ResourceRequestsMemory, corev1.ResourceLimitsMemory},
		{corev1.ResourceEphemeralStorage, corev1.ResourceEphemeralStorage, corev1.ResourceRequestsEphemeralStorage, corev1.ResourceLimitsEphemeralStorage},
	} {
		if v, ok := requests[r.res]; ok {
			out[r.short] = v.DeepCopy()
			out[r.req] = v.DeepCopy()
		}
		if v, ok := limits[r.res]; ok {
			out[r.lim] = v.DeepCopy()
		}
	}
	for name, v := range requests {
		if strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix) {
			out[name] = v.DeepCopy()
			out[corev1.ResourceName(corev1.DefaultResourceRequestsPrefix+string(name))] = v.DeepCopy()
		}
		if isExtendedResource(name) {
			out[corev1.ResourceName(corev1.DefaultResourceRequestsPrefix+string(name))] = v.DeepCopy()
		}
	}
	return out
}

func podRequests(pod *corev1.Pod) corev1.ResourceList {
	out := aggregateContainers(pod, func(c *corev1.Container) corev1.ResourceList { return c.Resources.Requests })
	if pod.Spec.Resources != nil {
		for name, v := range pod.Spec.Resources.Requests {
			if podLevelResource(name) {
				out[name] = v.DeepCopy()
			}
		}
	}
	return add(out, pod.Spec.Overhead)
}

func podLimits(pod *corev1.Pod) corev1.ResourceList {
	out := aggregateContainers(pod, func(c *corev1.Container) corev1.ResourceList { return c.Resources.Limits })
	if pod.Spec.Resources != nil {
		for name, v := range pod.Spec.Resources.Limits {
			if podLevelResource(name) {
				out[name] = v.DeepCopy()
			}
		}
	}
	// Overhead raises only limits that exist: a missing limit stays
	// unlimited.
	for name, v := range pod.Spec.Overhead {
		if cur, ok := out[name]; ok {
			cur.Add(v)
			out[name] = cur
		}
	}
	return out
}

func podLevelResource(name corev1.ResourceName) bool {
	return name == corev1.ResourceCPU || name == corev1.ResourceMemory
}

// aggregateContainers is the pod's effective amount of one resource
// list: the app containers and sidecars (restartable init containers) run
// together; each ordinary init container runs alone beside the sidecars
// started before it; the pod needs the larger of the two.
func aggregateContainers(pod *corev1.Pod, of func(*corev1.Container) corev1.ResourceList) corev1.ResourceList {
	total := corev1.ResourceList{}
	for i := range pod.Spec.Containers {
		total = add(total, of(&pod.Spec.Containers[i]))
	}
	sidecars := corev1.ResourceList{}
	initPeak := corev1.ResourceList{}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		var running corev1.ResourceList
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			total = add(total, of(c))
			sidecars = add(sidecars, of(c))
			running = sidecars
		} else {
			running = add(of(c), sidecars)
		}
		maxInto(initPeak, running)
	}
	maxInto(total, initPeak)
	return total
}

// maxInto raises each value of dst to the one in src where src is larger.
func maxInto(dst, src corev1.ResourceList) {
	for name, v := range src {
		if cur, ok := dst[name]; !ok || v.Cmp(cur) > 0 {
			dst[name] = v.DeepCopy()
		}
	}
}

func serviceUsage(svc *corev1.Service) corev1.ResourceList {
	out := corev1.ResourceList{
		corev1.ResourceServices:              one(),
		corev1.ResourceServicesNodePorts:     zero(),
		corev1.ResourceServicesLoadBalancers: zero(),
	}
	ports := int64(len(svc.Spec.Ports))
	switch svc.Spec.Type {
	case corev1.ServiceTypeNodePort:
		out[corev1.ResourceServicesNodePorts] = *resource.NewQuantity(ports, resource.DecimalSI)
	case corev1.ServiceTypeLoadBalancer:
		// With node port allocation turned off, only ports that ask for
		// a node port explicitly take one.
		if svc.Spec.AllocateLoadBalancerNodePorts != nil && !*svc.Spec.AllocateLoadBalancerNodePorts {
			ports = 0
			for _, p := range svc.Spec.Ports {
				if p.NodePort != 0 {
					ports++
				}
			}
		}
		out[corev1.ResourceServicesNodePorts] = *resource.NewQuantity(ports, resource.DecimalSI)
		out[corev1.ResourceServicesLoadBalancers] = one()
	}
	return out
}

// StorageClassResource is the quota name of a PVC resource within one
// storage class, e.g. gold.storageclass.storage.k8s.io/requests.storage.
func StorageClassResource(class string, name corev1.ResourceName) corev1.ResourceName {
	return corev1.ResourceName(class + storageClassInfix + string(name))
}

func pvcClass(pvc *corev1.PersistentVolumeClaim) string {
	if class, ok := pvc.Annotations[betaStorageClassAnnotation]; ok {
		return class
	}
	if pvc.Spec.StorageClassName != nil {
		return *pvc.Spec.StorageClassName
	}
	return ""
}

func pvcUsage(pvc *corev1.PersistentVolumeClaim) corev1.ResourceList {
	out := corev1.ResourceList{corev1.ResourcePersistentVolumeClaims: one()}
	class := pvcClass(pvc)
	if class != "" {
		out[StorageClassResource(class, corev1.ResourcePersistentVolumeClaims)] = one()
	}
	if storage, ok := pvcStorage(pvc); ok {
		out[corev1.ResourceRequestsStorage] = storage
		if class != "" {
			out[StorageClassResource(class, corev1.ResourceRequestsStorage)] = storage.DeepCopy()
		}
	}
	return out
}

// pvcStorage is the larger of the requested and the allocated size (an
// expansion in progress counts at its target), in whole bytes.
func pvcStorage(pvc *corev1.PersistentVolumeClaim) (resource.Quantity, bool) {
	req, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	if !ok {
		return resource.Quantity{}, false
	}
	out := req.DeepCopy()
	if alloc, ok := pvc.Status.AllocatedResources[corev1.ResourceStorage]; ok && alloc.Cmp(out) > 0 {
		out = alloc.DeepCopy()
	}
	out.RoundUp(0)
	return out, true
}
