package serviceaccount

import (
	corev1 "k8s.io/api/core/v1"
)

const (
	// DefaultName is the service account pods run as when they name none.
	DefaultName = "default"
	// MountPath is where in-cluster clients look for their credentials.
	MountPath = "/var/run/secrets/kubernetes.io/serviceaccount"
	// VolumePrefix starts the name of the volume admission adds.
	VolumePrefix = "kube-api-access-"
	// RootCAConfigMap is published in every namespace with the cluster CA.
	RootCAConfigMap = "kube-root-ca.crt"
	// PodTokenExpirationSeconds is what the added volume asks for; the
	// agent refreshes the token well before it runs out.
	PodTokenExpirationSeconds = 3607
)

// Automount reports whether a pod gets API credentials: the pod's own
// setting wins over its service account's; both default to yes.
func Automount(pod *corev1.Pod, sa *corev1.ServiceAccount) bool {
	if pod.Spec.AutomountServiceAccountToken != nil {
		return *pod.Spec.AutomountServiceAccountToken
	}
	if sa != nil && sa.AutomountServiceAccountToken != nil {
		return *sa.AutomountServiceAccountToken
	}
	return true
}

// AddAPIAccessVolume gives the pod the projected volume in-cluster clients
// read (token, ca.crt, namespace) and mounts it read-only in every
// container and init container that does not already mount something at
// MountPath. The volume is named VolumePrefix+suffix. It adds nothing
// when no container needs it.
func AddAPIAccessVolume(pod *corev1.Pod, suffix string) {
	name := VolumePrefix + suffix
	mount := corev1.VolumeMount{Name: name, ReadOnly: true, MountPath: MountPath}
	added := false
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range cs {
			if hasMountAt(cs[i].VolumeMounts, MountPath) {
				continue
			}
			cs[i].VolumeMounts = append(cs[i].VolumeMounts, mount)
			added = true
		}
	}
	if !added {
		return
	}
	expiration := int64(PodTokenExpirationSeconds)
	mode := int32(0o644)
	pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{
		Projected: &corev1.ProjectedVolumeSource{DefaultMode: &mode, Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{ExpirationSeconds: &expiration, Path: "token"}},
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: RootCAConfigMap},
				Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "namespace",
				FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}}}},
		}}}})
}

func hasMountAt(mounts []corev1.VolumeMount, path string) bool {
	for _, m := range mounts {
		if m.MountPath == path {
			return true
		}
	}
	return false
}
