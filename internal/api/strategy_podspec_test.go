package api

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestDefaultPullPolicy(t *testing.T) {
	for _, tc := range []struct {
		image string
		want  corev1.PullPolicy
	}{
		{"nginx", corev1.PullAlways},
		{"nginx:latest", corev1.PullAlways},
		{"nginx:1.25", corev1.PullIfNotPresent},
		{"docker.io/library/nginx:1.25-alpine", corev1.PullIfNotPresent},
		{"localhost:5000/app", corev1.PullAlways},
		{"localhost:5000/app:v1", corev1.PullIfNotPresent},
		{"app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", corev1.PullIfNotPresent},
		{"app:latest@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", corev1.PullAlways},
		{"", corev1.PullIfNotPresent},
	} {
		t.Run(tc.image, func(t *testing.T) {
			spec := &corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: tc.image}}}
			DefaultPodSpec(spec)
			if got := spec.Containers[0].ImagePullPolicy; got != tc.want {
				t.Errorf("imagePullPolicy = %s, want %s", got, tc.want)
			}
		})
	}
	t.Run("explicit policy kept", func(t *testing.T) {
		spec := &corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx", ImagePullPolicy: corev1.PullNever}}}
		DefaultPodSpec(spec)
		if spec.Containers[0].ImagePullPolicy != corev1.PullNever {
			t.Errorf("policy overwritten: %s", spec.Containers[0].ImagePullPolicy)
		}
	})
}

func TestDefaultPodSpec(t *testing.T) {
	t.Run("spec level", func(t *testing.T) {
		spec := &corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x:1"}}}
		DefaultPodSpec(spec)
		if spec.RestartPolicy != corev1.RestartPolicyAlways || spec.DNSPolicy != corev1.DNSClusterFirst ||
			*spec.TerminationGracePeriodSeconds != 30 || spec.SchedulerName != "default-scheduler" || spec.SecurityContext == nil {
			t.Errorf("spec: %s", coreJSON(spec))
		}
		// Admission-time defaults are for pods only.
		if spec.ServiceAccountName != "" || spec.Tolerations != nil || spec.Priority != nil || spec.EnableServiceLinks != nil {
			t.Errorf("template got pod-only defaults: %s", coreJSON(spec))
		}
	})
	t.Run("explicit values kept", func(t *testing.T) {
		grace := int64(5)
		spec := &corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, DNSPolicy: corev1.DNSDefault,
			TerminationGracePeriodSeconds: &grace, SchedulerName: "custom"}
		DefaultPodSpec(spec)
		if spec.RestartPolicy != corev1.RestartPolicyNever || spec.DNSPolicy != corev1.DNSDefault || *spec.TerminationGracePeriodSeconds != 5 ||
			spec.SchedulerName != "custom" {
			t.Errorf("spec: %s", coreJSON(spec))
		}
	})
	t.Run("host network ports", func(t *testing.T) {
		spec := &corev1.PodSpec{HostNetwork: true, Containers: []corev1.Container{{Name: "c", Image: "x",
			Ports: []corev1.ContainerPort{{ContainerPort: 8080}}}}}
		DefaultPodSpec(spec)
		if spec.Containers[0].Ports[0].HostPort != 8080 {
			t.Errorf("hostPort = %d", spec.Containers[0].Ports[0].HostPort)
		}
		if errs := ValidatePodSpec(spec, field.NewPath("spec")); len(errs) != 0 {
			t.Errorf("errors %v", errs)
		}
	})
	t.Run("service account alias", func(t *testing.T) {
		spec := &corev1.PodSpec{ServiceAccountName: "builder"}
		DefaultPodSpec(spec)
		if spec.DeprecatedServiceAccount != "builder" {
			t.Errorf("serviceAccount = %q", spec.DeprecatedServiceAccount)
		}
	})
	t.Run("container and probe", func(t *testing.T) {
		spec := &corev1.PodSpec{Containers: []corev1.Container{{
			Name: "c", Image: "x:1",
			Ports:          []corev1.ContainerPort{{ContainerPort: 80}},
			StartupProbe:   &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 9000}}},
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(80)}}, TimeoutSeconds: 3},
			Lifecycle:      &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(80)}}},
			Env:            []corev1.EnvVar{{Name: "NODE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}}},
		}}}
		DefaultPodSpec(spec)
		c := spec.Containers[0]
		checks := []struct {
			name      string
			got, want interface{}
		}{
			{"terminationMessagePath", c.TerminationMessagePath, "/dev/termination-log"},
			{"terminationMessagePolicy", c.TerminationMessagePolicy, corev1.TerminationMessageReadFile},
			{"port protocol", c.Ports[0].Protocol, corev1.ProtocolTCP},
			{"grpc service", *c.StartupProbe.GRPC.Service, ""},
			{"startup success", c.StartupProbe.SuccessThreshold, int32(1)},
			{"readiness timeout kept", c.ReadinessProbe.TimeoutSeconds, int32(3)},
			{"readiness period", c.ReadinessProbe.PeriodSeconds, int32(10)},
			{"readiness path", c.ReadinessProbe.HTTPGet.Path, "/"},
			{"preStop scheme", c.Lifecycle.PreStop.HTTPGet.Scheme, corev1.URISchemeHTTP},
			{"env fieldRef", c.Env[0].ValueFrom.FieldRef.APIVersion, "v1"},
		}
		for _, ck := range checks {
			if ck.got != ck.want {
				t.Errorf("%s = %v, want %v", ck.name, ck.got, ck.want)
			}
		}
	})
	t.Run("volumes", func(t *testing.T) {
		spec := &corev1.PodSpec{Volumes: []corev1.Volume{
			{Name: "empty"},
			{Name: "dapi", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
				{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}}}}}},
			{Name: "proj", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}}}}}},
			{Name: "eph", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{}}}},
		}}
		DefaultPodSpec(spec)
		v := spec.Volumes
		if v[0].EmptyDir == nil || *v[1].DownwardAPI.DefaultMode != 420 || v[1].DownwardAPI.Items[0].FieldRef.APIVersion != "v1" ||
			*v[2].Projected.DefaultMode != 420 || *v[2].Projected.Sources[0].ServiceAccountToken.ExpirationSeconds != 3600 ||
			*v[3].Ephemeral.VolumeClaimTemplate.Spec.VolumeMode != corev1.PersistentVolumeFilesystem {
			t.Errorf("volumes: %s", coreJSON(v))
		}
	})
	t.Run("ephemeral containers", func(t *testing.T) {
		spec := &corev1.PodSpec{EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox"}}}}
		DefaultPodSpec(spec)
		if spec.EphemeralContainers[0].TerminationMessagePolicy != corev1.TerminationMessageReadFile || spec.EphemeralContainers[0].ImagePullPolicy != corev1.PullAlways {
			t.Errorf("ephemeral: %s", coreJSON(spec.EphemeralContainers))
		}
	})
}

// coreSpec is a valid, defaulted pod spec for validation tests.
func coreSpec(mutate func(*corev1.PodSpec)) *corev1.PodSpec {
	spec := &corev1.PodSpec{
		Containers: []corev1.Container{{Name: "web", Image: "nginx:1.25",
			Ports:        []corev1.ContainerPort{{Name: "http", ContainerPort: 80}},
			VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}}},
		Volumes: []corev1.Volume{{Name: "data"}},
	}
	if mutate != nil {
		mutate(spec)
	}
	DefaultPodSpec(spec)
	return spec
}

func TestValidatePodSpec(t *testing.T) {
	rl := func(kv ...string) corev1.ResourceList {
		l := corev1.ResourceList{}
		for i := 0; i < len(kv); i += 2 {
			l[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
		}
		return l
	}
	never := corev1.ContainerRestartPolicy("Never")
	for _, tc := range []struct {
		name   string
		mutate func(*corev1.PodSpec)
		want   []string
	}{
		{"valid", nil, nil},
		{"no containers", func(s *corev1.PodSpec) { s.Containers = nil }, []string{"spec.containers: Required value"}},
		{"container name required", func(s *corev1.PodSpec) { s.Containers[0].Name = "" }, []string{"spec.containers[0].name: Required value"}},
		{"container name label", func(s *corev1.PodSpec) { s.Containers[0].Name = "Web.1" }, []string{"spec.containers[0].name: Invalid value"}},
		{"duplicate container", func(s *corev1.PodSpec) {
			s.Containers = append(s.Containers, corev1.Container{Name: "web", Image: "x"})
		},
			[]string{"spec.containers[1].name: Duplicate value"}},
		{"init container duplicates container", func(s *corev1.PodSpec) { s.InitContainers = []corev1.Container{{Name: "web", Image: "x"}} },
			[]string{"spec.initContainers[0].name: Duplicate value"}},
		{"image required", func(s *corev1.PodSpec) { s.Containers[0].Image = "" }, []string{"spec.containers[0].image: Required value"}},
		{"port range", func(s *corev1.PodSpec) { s.Containers[0].Ports[0].ContainerPort = 65536 },
			[]string{"spec.containers[0].ports[0].containerPort: Invalid value"}},
		{"port required", func(s *corev1.PodSpec) { s.Containers[0].Ports[0].ContainerPort = 0 },
			[]string{"spec.containers[0].ports[0].containerPort: Required value"}},
		{"host port range", func(s *corev1.PodSpec) { s.Containers[0].Ports[0].HostPort = -1 },
			[]string{"spec.containers[0].ports[0].hostPort: Invalid value"}},
		{"protocol", func(s *corev1.PodSpec) { s.Containers[0].Ports[0].Protocol = "tcp" },
			[]string{"spec.containers[0].ports[0].protocol: Unsupported value"}},
		{"duplicate port name", func(s *corev1.PodSpec) {
			s.Containers[0].Ports = append(s.Containers[0].Ports, corev1.ContainerPort{Name: "http", ContainerPort: 81})
		}, []string{"spec.containers[0].ports[1].name: Duplicate value"}},
		{"port name too long", func(s *corev1.PodSpec) { s.Containers[0].Ports[0].Name = "much-too-long-name" },
			[]string{"spec.containers[0].ports[0].name: Invalid value"}},
		{"restart policy", func(s *corev1.PodSpec) { s.RestartPolicy = "Sometimes" }, []string{"spec.restartPolicy: Unsupported value"}},
		{"dns policy", func(s *corev1.PodSpec) { s.DNSPolicy = "Google" }, []string{"spec.dnsPolicy: Unsupported value"}},
		{"dns none needs config", func(s *corev1.PodSpec) { s.DNSPolicy = corev1.DNSNone }, []string{"spec.dnsConfig: Required value"}},
		{"requests above limits", func(s *corev1.PodSpec) {
			s.Containers[0].Resources = corev1.ResourceRequirements{Requests: rl("cpu", "2"), Limits: rl("cpu", "1")}
		}, []string{"spec.containers[0].resources.requests[cpu]: Invalid value"}},
		{"negative request", func(s *corev1.PodSpec) { s.Containers[0].Resources.Requests = rl("memory", "-1Gi") },
			[]string{"spec.containers[0].resources.requests[memory]: Invalid value"}},
		{"unknown resource", func(s *corev1.PodSpec) { s.Containers[0].Resources.Limits = rl("gpu", "1") },
			[]string{"spec.containers[0].resources.limits[gpu]: Invalid value"}},
		{"extended resource needs equal limit", func(s *corev1.PodSpec) {
			s.Containers[0].Resources.Requests = rl("example.com/gpu", "1")
		}, []string{"spec.containers[0].resources.limits: Required value"}},
		{"extended resource must be whole", func(s *corev1.PodSpec) {
			s.Containers[0].Resources = corev1.ResourceRequirements{Requests: rl("example.com/gpu", "500m"), Limits: rl("example.com/gpu", "500m")}
		}, []string{"spec.containers[0].resources.limits[example.com/gpu]: Invalid value",
			"spec.containers[0].resources.requests[example.com/gpu]: Invalid value"}},
		{"volume name", func(s *corev1.PodSpec) { s.Volumes = append(s.Volumes, corev1.Volume{Name: "Data_2"}) },
			[]string{"spec.volumes[1].name: Invalid value"}},
		{"duplicate volume", func(s *corev1.PodSpec) { s.Volumes = append(s.Volumes, corev1.Volume{Name: "data"}) },
			[]string{"spec.volumes[1].name: Duplicate value"}},
		{"two volume sources", func(s *corev1.PodSpec) {
			s.Volumes[0].VolumeSource = corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}, HostPath: &corev1.HostPathVolumeSource{Path: "/x"}}
		}, []string{"spec.volumes[0].emptyDir: Forbidden"}},
		{"secret name", func(s *corev1.PodSpec) {
			s.Volumes[0].VolumeSource = corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{}}
		}, []string{"spec.volumes[0].secret.secretName: Required value"}},
		{"configMap mode and path", func(s *corev1.PodSpec) {
			mode := int32(01000)
			s.Volumes[0].VolumeSource = corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}, DefaultMode: &mode,
				Items: []corev1.KeyToPath{{Key: "a", Path: "../etc/passwd"}}}}
		}, []string{"spec.volumes[0].configMap.defaultMode: Invalid value", "spec.volumes[0].configMap.items[0].path: Invalid value"}},
		{"hostPath type", func(s *corev1.PodSpec) {
			typ := corev1.HostPathType("Folder")
			s.Volumes[0].VolumeSource = corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/x", Type: &typ}}
		}, []string{"spec.volumes[0].hostPath.type: Unsupported value"}},
		{"mount of missing volume", func(s *corev1.PodSpec) { s.Containers[0].VolumeMounts[0].Name = "nope" },
			[]string{"spec.containers[0].volumeMounts[0].name: Not found"}},
		{"mount path required", func(s *corev1.PodSpec) { s.Containers[0].VolumeMounts[0].MountPath = "" },
			[]string{"spec.containers[0].volumeMounts[0].mountPath: Required value"}},
		{"duplicate mount path", func(s *corev1.PodSpec) {
			s.Containers[0].VolumeMounts = append(s.Containers[0].VolumeMounts, corev1.VolumeMount{Name: "data", MountPath: "/data"})
		}, []string{"spec.containers[0].volumeMounts[1].mountPath: Invalid value"}},
		{"env name required", func(s *corev1.PodSpec) { s.Containers[0].Env = []corev1.EnvVar{{Value: "x"}} },
			[]string{"spec.containers[0].env[0].name: Required value"}},
		{"env name with equals", func(s *corev1.PodSpec) { s.Containers[0].Env = []corev1.EnvVar{{Name: "A=B"}} },
			[]string{"spec.containers[0].env[0].name: Invalid value"}},
		{"relaxed env name accepted", func(s *corev1.PodSpec) { s.Containers[0].Env = []corev1.EnvVar{{Name: "my-var.1"}} }, nil},
		{"env value and valueFrom", func(s *corev1.PodSpec) {
			s.Containers[0].Env = []corev1.EnvVar{{Name: "A", Value: "x", ValueFrom: &corev1.EnvVarSource{
				SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "k"}}}}
		}, []string{"spec.containers[0].env[0].valueFrom: Invalid value"}},
		{"env fieldRef path", func(s *corev1.PodSpec) {
			s.Containers[0].Env = []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "spec.containers"}}}}
		}, []string{"spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: Unsupported value"}},
		{"env label fieldRef", func(s *corev1.PodSpec) {
			s.Containers[0].Env = []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.labels['app']"}}}}
		}, nil},
		{"envFrom needs a source", func(s *corev1.PodSpec) { s.Containers[0].EnvFrom = []corev1.EnvFromSource{{Prefix: "X_"}} },
			[]string{"spec.containers[0].envFrom[0]: Invalid value"}},
		{"probe without handler", func(s *corev1.PodSpec) { s.Containers[0].LivenessProbe = &corev1.Probe{SuccessThreshold: 1} },
			[]string{"spec.containers[0].livenessProbe: Required value"}},
		{"liveness success threshold", func(s *corev1.PodSpec) {
			s.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(80)}}, SuccessThreshold: 2}
		}, []string{"spec.containers[0].livenessProbe.successThreshold: Invalid value"}},
		{"probe port name", func(s *corev1.PodSpec) {
			s.Containers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromString("Not_Valid")}}}
		}, []string{"spec.containers[0].readinessProbe.httpGet.port: Invalid value"}},
		{"probe on init container", func(s *corev1.PodSpec) {
			s.InitContainers = []corev1.Container{{Name: "init", Image: "x", ReadinessProbe: &corev1.Probe{
				ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}}}
		}, []string{"spec.initContainers[0].readinessProbe: Forbidden"}},
		{"init container restart policy", func(s *corev1.PodSpec) {
			s.InitContainers = []corev1.Container{{Name: "init", Image: "x", RestartPolicy: &never}}
		}, []string{"spec.initContainers[0].restartPolicy: Unsupported value"}},
		{"container restart policy", func(s *corev1.PodSpec) { s.Containers[0].RestartPolicy = &never },
			[]string{"spec.containers[0].restartPolicy: Forbidden"}},
		{"tolerations", func(s *corev1.PodSpec) {
			secs := int64(10)
			s.Tolerations = []corev1.Toleration{
				{Operator: corev1.TolerationOpEqual, Value: "x"},
				{Key: "a", Operator: corev1.TolerationOpExists, Value: "x"},
				{Key: "b", Operator: "Like"},
				{Key: "c", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule, TolerationSeconds: &secs},
				{Key: "d", Operator: corev1.TolerationOpExists, Effect: "Never"},
			}
		}, []string{"spec.tolerations[0].operator: Invalid value", "spec.tolerations[1].operator: Invalid value",
			"spec.tolerations[2].operator: Unsupported value", "spec.tolerations[3].effect: Invalid value",
			"spec.tolerations[4].effect: Unsupported value"}},
		{"node selector", func(s *corev1.PodSpec) { s.NodeSelector = map[string]string{"bad key!": "x"} },
			[]string{"spec.nodeSelector: Invalid value"}},
		{"active deadline", func(s *corev1.PodSpec) { v := int64(0); s.ActiveDeadlineSeconds = &v },
			[]string{"spec.activeDeadlineSeconds: Invalid value"}},
		{"host network port mismatch", func(s *corev1.PodSpec) {
			s.HostNetwork = true
			s.Containers[0].Ports[0].HostPort = 8080
		}, []string{"spec.containers[0].ports[0].containerPort: Invalid value"}},
		{"service account name", func(s *corev1.PodSpec) { s.ServiceAccountName = "Builder" },
			[]string{"spec.serviceAccountName: Invalid value"}},
		{"hostname", func(s *corev1.PodSpec) { s.Hostname = "a.b" }, []string{"spec.hostname: Invalid value"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			coreWantErrs(t, ValidatePodSpec(coreSpec(tc.mutate), field.NewPath("spec")), tc.want...)
		})
	}
	t.Run("messages", func(t *testing.T) {
		errs := ValidatePodSpec(coreSpec(func(s *corev1.PodSpec) {
			s.Containers[0].Resources = corev1.ResourceRequirements{Requests: rl("cpu", "2"), Limits: rl("cpu", "1")}
		}), field.NewPath("spec"))
		if len(errs) != 1 || errs[0].Error() != `spec.containers[0].resources.requests[cpu]: Invalid value: "2": must be less than or equal to cpu limit of 1` {
			t.Errorf("got %v", errs)
		}
	})
}

func TestValidatePodTemplateSpec(t *testing.T) {
	tmpl := func(mutate func(*corev1.PodTemplateSpec)) *corev1.PodTemplateSpec {
		t := &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}}, Spec: *coreSpec(nil)}
		if mutate != nil {
			mutate(t)
		}
		return t
	}
	for _, tc := range []struct {
		name string
		t    *corev1.PodTemplateSpec
		want []string
	}{
		{"valid", tmpl(nil), nil},
		// Templates may have any restart policy; workloads add their own rules.
		{"never restarts", tmpl(func(t *corev1.PodTemplateSpec) { t.Spec.RestartPolicy = corev1.RestartPolicyNever }), nil},
		{"nil", nil, []string{"spec.template: Required value"}},
		{"labels", tmpl(func(t *corev1.PodTemplateSpec) { t.Labels = map[string]string{"app": "-x-"} }),
			[]string{"spec.template.labels: Invalid value"}},
		{"ephemeral containers", tmpl(func(t *corev1.PodTemplateSpec) {
			t.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
				Name: "debug", Image: "busybox", ImagePullPolicy: corev1.PullAlways, TerminationMessagePolicy: corev1.TerminationMessageReadFile}}}
		}), []string{"spec.template.spec.ephemeralContainers: Forbidden"}},
		{"spec errors nest under the template", tmpl(func(t *corev1.PodTemplateSpec) { t.Spec.Containers[0].Image = "" }),
			[]string{"spec.template.spec.containers[0].image: Required value"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			coreWantErrs(t, ValidatePodTemplateSpec(tc.t, field.NewPath("spec", "template")), tc.want...)
		})
	}
}
