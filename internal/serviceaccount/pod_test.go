package serviceaccount

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

func TestAutomount(t *testing.T) {
	for _, tc := range []struct {
		name   string
		pod    *bool
		sa     *bool
		noSA   bool
		expect bool
	}{
		{name: "both unset", expect: true},
		{name: "no service account object", noSA: true, expect: true},
		{name: "service account opts out", sa: ptr.To(false), expect: false},
		{name: "pod opts back in", pod: ptr.To(true), sa: ptr.To(false), expect: true},
		{name: "pod opts out", pod: ptr.To(false), sa: ptr.To(true), expect: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{AutomountServiceAccountToken: tc.pod}}
			var sa *corev1.ServiceAccount
			if !tc.noSA {
				sa = &corev1.ServiceAccount{AutomountServiceAccountToken: tc.sa}
			}
			if got := Automount(pod, sa); got != tc.expect {
				t.Fatalf("Automount = %v, want %v", got, tc.expect)
			}
		})
	}
}

func TestAddAPIAccessVolume(t *testing.T) {
	own := corev1.VolumeMount{Name: "mine", MountPath: MountPath}
	for _, tc := range []struct {
		name       string
		init, main [][]corev1.VolumeMount
		wantVolume bool
		// Whether each container (init first) ends with our mount.
		wantMounted []bool
	}{
		{name: "one container", main: [][]corev1.VolumeMount{nil}, wantVolume: true, wantMounted: []bool{true}},
		{name: "init and two containers", init: [][]corev1.VolumeMount{nil}, main: [][]corev1.VolumeMount{nil, nil},
			wantVolume: true, wantMounted: []bool{true, true, true}},
		{name: "a container mounts its own credentials", main: [][]corev1.VolumeMount{{own}, nil},
			wantVolume: true, wantMounted: []bool{false, true}},
		{name: "every container has its own", main: [][]corev1.VolumeMount{{own}}, wantVolume: false, wantMounted: []bool{false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{}
			for _, m := range tc.init {
				pod.Spec.InitContainers = append(pod.Spec.InitContainers, corev1.Container{VolumeMounts: m})
			}
			for _, m := range tc.main {
				pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{VolumeMounts: m})
			}
			AddAPIAccessVolume(pod, "abcde")
			if got := len(pod.Spec.Volumes) == 1; got != tc.wantVolume {
				t.Fatalf("volume added = %v, want %v", got, tc.wantVolume)
			}
			if tc.wantVolume {
				v := pod.Spec.Volumes[0]
				p := v.Projected
				if v.Name != "kube-api-access-abcde" || p == nil || len(p.Sources) != 3 || *p.DefaultMode != 0o644 ||
					p.Sources[0].ServiceAccountToken.Path != "token" || *p.Sources[0].ServiceAccountToken.ExpirationSeconds != 3607 ||
					p.Sources[1].ConfigMap.Name != "kube-root-ca.crt" || p.Sources[2].DownwardAPI.Items[0].FieldRef.FieldPath != "metadata.namespace" {
					t.Fatalf("volume %+v", v)
				}
			}
			all := append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...)
			for i, c := range all {
				got := false
				for _, m := range c.VolumeMounts {
					if m.Name == "kube-api-access-abcde" {
						got = m.ReadOnly && m.MountPath == MountPath
					}
				}
				if got != tc.wantMounted[i] {
					t.Fatalf("container %d mounted = %v, want %v (%+v)", i, got, tc.wantMounted[i], c.VolumeMounts)
				}
			}
		})
	}
}
