package scheduler

import (
	corev1 "k8s.io/api/core/v1"
)

// Resources is an amount of the resources the scheduler accounts for, in
// integer units: millicores, bytes, bytes.
type Resources struct {
	MilliCPU         int64
	Memory           int64
	EphemeralStorage int64
}

func (r *Resources) add(o Resources) {
	r.MilliCPU += o.MilliCPU
	r.Memory += o.Memory
	r.EphemeralStorage += o.EphemeralStorage
}

func (r *Resources) sub(o Resources) {
	r.MilliCPU -= o.MilliCPU
	r.Memory -= o.Memory
	r.EphemeralStorage -= o.EphemeralStorage
}

func maxResources(a, b Resources) Resources {
	return Resources{max(a.MilliCPU, b.MilliCPU), max(a.Memory, b.Memory), max(a.EphemeralStorage, b.EphemeralStorage)}
}

func resourcesOf(l corev1.ResourceList) Resources {
	var r Resources
	if q, ok := l[corev1.ResourceCPU]; ok {
		r.MilliCPU = q.MilliValue()
	}
	if q, ok := l[corev1.ResourceMemory]; ok {
		r.Memory = q.Value()
	}
	if q, ok := l[corev1.ResourceEphemeralStorage]; ok {
		r.EphemeralStorage = q.Value()
	}
	return r
}

// Kubernetes scores a container that requests nothing as if it asked for
// this much, so that empty pods still spread instead of piling onto one node.
const (
	defaultMilliCPURequest = 100
	defaultMemoryRequest   = 200 * 1024 * 1024
)

func nonZero(r Resources) Resources {
	if r.MilliCPU == 0 {
		r.MilliCPU = defaultMilliCPURequest
	}
	if r.Memory == 0 {
		r.Memory = defaultMemoryRequest
	}
	return r
}

// PodRequests is what a pod needs from a node, as Kubernetes computes it:
// the sum of its containers plus its running sidecars (init containers with
// restartPolicy Always), or the largest init container with the sidecars
// started before it, whichever is larger, plus the pod overhead. nonZero is
// the same with the scoring defaults for containers that request no cpu or
// memory.
func PodRequests(pod *corev1.Pod) (req, nonZeroReq Resources) {
	var sum, sumNZ Resources
	for i := range pod.Spec.Containers {
		r := resourcesOf(pod.Spec.Containers[i].Resources.Requests)
		sum.add(r)
		sumNZ.add(nonZero(r))
	}
	var sidecars, sidecarsNZ, initMax, initMaxNZ Resources
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		r := resourcesOf(c.Resources.Requests)
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sidecars.add(r)
			sidecarsNZ.add(nonZero(r))
			initMax = maxResources(initMax, sidecars)
			initMaxNZ = maxResources(initMaxNZ, sidecarsNZ)
			continue
		}
		withSidecars, withSidecarsNZ := r, nonZero(r)
		withSidecars.add(sidecars)
		withSidecarsNZ.add(sidecarsNZ)
		initMax = maxResources(initMax, withSidecars)
		initMaxNZ = maxResources(initMaxNZ, withSidecarsNZ)
	}
	sum.add(sidecars)
	sumNZ.add(sidecarsNZ)
	req, nonZeroReq = maxResources(sum, initMax), maxResources(sumNZ, initMaxNZ)
	if pod.Spec.Overhead != nil {
		o := resourcesOf(pod.Spec.Overhead)
		req.add(o)
		nonZeroReq.add(o)
	}
	return req, nonZeroReq
}
