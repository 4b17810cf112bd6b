package api

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// coreNow is the clock rows are rendered with.
var coreNow = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

func coreAgo(d time.Duration) metav1.Time { return metav1.NewTime(coreNow.Add(-d)) }

// coreRes is the resource the registry serves, so tests see the strategy
// the API server sees.
func coreRes(t testing.TB, resource string) *Resource {
	t.Helper()
	res, ok := NewRegistry(DefaultResources()).Lookup(schema.GroupVersionResource{Version: "v1", Resource: resource})
	if !ok {
		t.Fatalf("v1 %s is not served", resource)
	}
	return res
}

// coreLoad decodes testdata/core/<file> into obj.
func coreLoad(t testing.TB, file string, obj runtime.Object) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "core", file))
	if err != nil {
		t.Fatal(err)
	}
	if err := utiljson.Unmarshal(data, obj); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

// coreCreate runs a create through the strategy in the API server's order.
func coreCreate(res *Resource, obj runtime.Object) field.ErrorList {
	if res.HasSubresource("status") {
		coreCopyStatus(obj, res.New())
	}
	res.Strategy.PrepareForCreate(obj)
	res.Strategy.Default(obj)
	return res.Strategy.Validate(obj)
}

// coreUpdate runs an update through the strategy in the API server's
// order: status comes from the stored object when there is a status
// subresource.
func coreUpdate(res *Resource, obj, old runtime.Object) field.ErrorList {
	if res.HasSubresource("status") {
		coreCopyStatus(obj, old)
	}
	res.Strategy.PrepareForUpdate(obj, old)
	res.Strategy.Default(obj)
	return res.Strategy.ValidateUpdate(obj, old)
}

func coreCopyStatus(dst, src runtime.Object) {
	d := reflect.ValueOf(dst).Elem().FieldByName("Status")
	s := reflect.ValueOf(src.DeepCopyObject()).Elem().FieldByName("Status")
	if d.IsValid() && s.IsValid() {
		d.Set(s)
	}
}

// coreErrs renders errors as "field: type" for compact comparison.
func coreErrs(errs field.ErrorList) []string {
	out := []string{}
	for _, e := range errs {
		out = append(out, e.Field+": "+e.Type.String())
	}
	return out
}

func coreWantErrs(t *testing.T, errs field.ErrorList, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	if got := coreErrs(errs); !reflect.DeepEqual(got, want) {
		t.Errorf("errors:\n got  %q\n want %q\n(%v)", got, want, errs)
	}
}

// coreWantDetail asserts one error has the field and a detail containing
// text.
func coreWantDetail(t *testing.T, errs field.ErrorList, fld, text string) {
	t.Helper()
	for _, e := range errs {
		if e.Field == fld && strings.Contains(e.Detail, text) {
			return
		}
	}
	t.Errorf("want error at %s containing %q, got %v", fld, text, errs)
}

func coreJSON(v interface{}) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

func TestCoreResourcesHaveStrategies(t *testing.T) {
	for _, name := range []string{"namespaces", "pods", "services", "endpoints", "configmaps", "secrets", "events", "nodes",
		"persistentvolumes", "persistentvolumeclaims", "serviceaccounts", "resourcequotas", "limitranges", "podtemplates",
		"replicationcontrollers"} {
		t.Run(name, func(t *testing.T) {
			res := coreRes(t, name)
			s := res.Strategy
			if len(s.Columns) == 0 || s.Row == nil {
				t.Fatal("no table columns")
			}
			// An empty object must render one cell per column.
			if cells := s.Row(res.New(), coreNow); len(cells) != len(s.Columns) {
				t.Errorf("row has %d cells for %d columns", len(cells), len(s.Columns))
			}
			// Every cell must survive Table deep copies (JSON values only).
			row := metav1.TableRow{Cells: s.Row(res.New(), coreNow)}
			_ = row.DeepCopy()
			nameCols := 0
			for _, c := range s.Columns {
				if c.Format == "name" {
					nameCols++
				}
				if c.Description == "" {
					t.Errorf("column %q has no description", c.Name)
				}
			}
			if nameCols != 1 {
				t.Errorf("%d name columns, want 1", nameCols)
			}
			// Validate must work on a bare object without panicking, and
			// must complain about the missing name.
			coreWantDetail(t, s.Validate(res.New()), "metadata.name", "name or generateName is required")
			// Field selectors are discovered from an empty object.
			_ = s.Fields(res.New())
		})
	}
}

func TestHumanDuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{-5 * time.Second, "<invalid>"},
		{0, "0s"},
		{45 * time.Second, "45s"},
		{119 * time.Second, "119s"},
		{5 * time.Minute, "5m"},
		{5*time.Minute + 30*time.Second, "5m30s"},
		{90 * time.Minute, "90m"},
		{3*time.Hour + 20*time.Minute, "3h20m"},
		{10 * time.Hour, "10h"},
		{51 * time.Hour, "2d3h"},
		{30 * 24 * time.Hour, "30d"},
		{3 * 365 * 24 * time.Hour, "3y"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if got := HumanDuration(tc.d); got != tc.want {
				t.Errorf("HumanDuration(%v) = %q, want %q", tc.d, got, tc.want)
			}
		})
	}
	if got := TranslateTimestampSince(metav1.Time{}, coreNow); got != "<unknown>" {
		t.Errorf("zero timestamp = %q, want <unknown>", got)
	}
}

func TestPodCreateGolden(t *testing.T) {
	res := coreRes(t, "pods")
	pod := &corev1.Pod{}
	coreLoad(t, "pod.json", pod)
	coreWantErrs(t, coreCreate(res, pod))
	want := &corev1.Pod{}
	coreLoad(t, "pod.defaulted.json", want)
	if !apiequality.Semantic.DeepEqual(pod, want) {
		t.Errorf("defaulted pod:\n%s\nwant:\n%s", coreJSON(pod), coreJSON(want))
	}
}

func TestPodCreateFull(t *testing.T) {
	res := coreRes(t, "pods")
	pod := &corev1.Pod{}
	coreLoad(t, "pod-full.json", pod)
	coreWantErrs(t, coreCreate(res, pod))
	c := pod.Spec.Containers[0]
	checks := []struct {
		name      string
		got, want interface{}
	}{
		{"registry port is not a tag", pod.Spec.InitContainers[0].ImagePullPolicy, corev1.PullIfNotPresent},
		{"untagged image", pod.Spec.InitContainers[1].ImagePullPolicy, corev1.PullAlways},
		{"sidecar probe timeout", pod.Spec.InitContainers[1].ReadinessProbe.TimeoutSeconds, int32(1)},
		{"fieldRef apiVersion", c.Env[0].ValueFrom.FieldRef.APIVersion, "v1"},
		{"liveness path", c.LivenessProbe.HTTPGet.Path, "/"},
		{"liveness scheme", c.LivenessProbe.HTTPGet.Scheme, corev1.URISchemeHTTP},
		{"liveness period", c.LivenessProbe.PeriodSeconds, int32(10)},
		{"liveness failure", c.LivenessProbe.FailureThreshold, int32(3)},
		{"readiness period kept", c.ReadinessProbe.PeriodSeconds, int32(5)},
		{"udp kept", c.Ports[1].Protocol, corev1.ProtocolUDP},
		{"requests from limits", c.Resources.Requests.Cpu().String(), "500m"},
		// The init containers have no limits, so the pod is not Guaranteed.
		{"qos", pod.Status.QOSClass, corev1.PodQOSBurstable},
		{"no-source volume is emptyDir", pod.Spec.Volumes[1].EmptyDir != nil, true},
		{"configMap mode", *pod.Spec.Volumes[0].ConfigMap.DefaultMode, int32(420)},
		{"secret mode", *pod.Spec.Volumes[2].Secret.DefaultMode, int32(420)},
		{"hostPath type", *pod.Spec.Volumes[3].HostPath.Type, corev1.HostPathUnset},
		{"tolerations appended", len(pod.Spec.Tolerations), 3},
	}
	for _, ck := range checks {
		t.Run(ck.name, func(t *testing.T) {
			if !reflect.DeepEqual(ck.got, ck.want) {
				t.Errorf("got %v, want %v", ck.got, ck.want)
			}
		})
	}
}

func corePod(mutate func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.25"}}},
	}
	if mutate != nil {
		mutate(p)
	}
	return p
}

func TestPodQOSClass(t *testing.T) {
	rl := func(cpu, mem string) corev1.ResourceList {
		l := corev1.ResourceList{}
		if cpu != "" {
			l[corev1.ResourceCPU] = resource.MustParse(cpu)
		}
		if mem != "" {
			l[corev1.ResourceMemory] = resource.MustParse(mem)
		}
		return l
	}
	for _, tc := range []struct {
		name      string
		resources []corev1.ResourceRequirements
		want      corev1.PodQOSClass
	}{
		{"none", []corev1.ResourceRequirements{{}}, corev1.PodQOSBestEffort},
		{"limits only", []corev1.ResourceRequirements{{Limits: rl("1", "1Gi")}}, corev1.PodQOSGuaranteed},
		{"equal", []corev1.ResourceRequirements{{Requests: rl("1", "1Gi"), Limits: rl("1", "1Gi")}}, corev1.PodQOSGuaranteed},
		{"requests below limits", []corev1.ResourceRequirements{{Requests: rl("500m", "1Gi"), Limits: rl("1", "1Gi")}}, corev1.PodQOSBurstable},
		{"cpu limit only", []corev1.ResourceRequirements{{Limits: rl("1", "")}}, corev1.PodQOSBurstable},
		{"requests only", []corev1.ResourceRequirements{{Requests: rl("100m", "")}}, corev1.PodQOSBurstable},
		{"one of two containers limited", []corev1.ResourceRequirements{{Limits: rl("1", "1Gi")}, {}}, corev1.PodQOSBurstable},
		{"zero requests ignored", []corev1.ResourceRequirements{{Requests: rl("0", "0")}}, corev1.PodQOSBestEffort},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := corePod(func(p *corev1.Pod) {
				p.Spec.Containers = nil
				for i, r := range tc.resources {
					p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: fmt.Sprintf("c%d", i), Image: "x", Resources: r})
				}
			})
			res := coreRes(t, "pods")
			coreWantErrs(t, coreCreate(res, pod))
			if pod.Status.QOSClass != tc.want {
				t.Errorf("qosClass = %s, want %s", pod.Status.QOSClass, tc.want)
			}
		})
	}
}

func TestPodAdmissionDefaults(t *testing.T) {
	res := coreRes(t, "pods")
	t.Run("existing wildcard toleration suppresses defaults", func(t *testing.T) {
		pod := corePod(func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
		})
		coreWantErrs(t, coreCreate(res, pod))
		if len(pod.Spec.Tolerations) != 1 {
			t.Errorf("tolerations = %v, want only the wildcard", pod.Spec.Tolerations)
		}
	})
	t.Run("explicit service account kept and mirrored", func(t *testing.T) {
		pod := corePod(func(p *corev1.Pod) { p.Spec.ServiceAccountName = "builder" })
		coreCreate(res, pod)
		if pod.Spec.ServiceAccountName != "builder" || pod.Spec.DeprecatedServiceAccount != "builder" {
			t.Errorf("serviceAccount = %q/%q", pod.Spec.ServiceAccountName, pod.Spec.DeprecatedServiceAccount)
		}
	})
	t.Run("deprecated service account read", func(t *testing.T) {
		pod := corePod(func(p *corev1.Pod) { p.Spec.DeprecatedServiceAccount = "old" })
		coreCreate(res, pod)
		if pod.Spec.ServiceAccountName != "old" {
			t.Errorf("serviceAccountName = %q, want old", pod.Spec.ServiceAccountName)
		}
	})
	t.Run("system priority class", func(t *testing.T) {
		pod := corePod(func(p *corev1.Pod) { p.Spec.PriorityClassName = "system-node-critical" })
		coreCreate(res, pod)
		if pod.Spec.Priority == nil || *pod.Spec.Priority != 2000001000 {
			t.Errorf("priority = %v", pod.Spec.Priority)
		}
	})
	t.Run("scheduling gates", func(t *testing.T) {
		pod := corePod(func(p *corev1.Pod) { p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/wait"}} })
		coreWantErrs(t, coreCreate(res, pod))
		if len(pod.Status.Conditions) != 1 || pod.Status.Conditions[0].Reason != "SchedulingGated" {
			t.Errorf("conditions = %v", pod.Status.Conditions)
		}
		if got := res.Strategy.Row(pod, coreNow)[2]; got != "SchedulingGated" {
			t.Errorf("status cell = %v", got)
		}
	})
	t.Run("client status is replaced", func(t *testing.T) {
		pod := corePod(func(p *corev1.Pod) { p.Status.Phase = corev1.PodRunning; p.Status.PodIP = "1.2.3.4" })
		coreCreate(res, pod)
		if pod.Status.Phase != corev1.PodPending || pod.Status.PodIP != "" {
			t.Errorf("status = %+v", pod.Status)
		}
	})
}

func TestPodValidate(t *testing.T) {
	res := coreRes(t, "pods")
	for _, tc := range []struct {
		name   string
		mutate func(*corev1.Pod)
		want   []string
	}{
		{"valid", nil, nil},
		{"bad name", func(p *corev1.Pod) { p.Name = "Web_1" }, []string{"metadata.name: Invalid value"}},
		{"no namespace", func(p *corev1.Pod) { p.Namespace = "" }, []string{"metadata.namespace: Required value"}},
		{"image whitespace", func(p *corev1.Pod) { p.Spec.Containers[0].Image = " nginx" },
			[]string{"spec.containers[0].image: Invalid value"}},
		{"bad restart policy", func(p *corev1.Pod) { p.Spec.RestartPolicy = "Sometimes" },
			[]string{"spec.restartPolicy: Unsupported value"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			coreWantErrs(t, coreCreate(res, corePod(tc.mutate)), tc.want...)
		})
	}
}

func TestPodValidateUpdate(t *testing.T) {
	res := coreRes(t, "pods")
	created := func() *corev1.Pod {
		p := corePod(func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox:1"}}
			p.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "web"}}
			ads := int64(600)
			p.Spec.ActiveDeadlineSeconds = &ads
		})
		if errs := coreCreate(res, p); len(errs) > 0 {
			t.Fatal(errs)
		}
		return p
	}
	forbidden := []string{"spec: Forbidden"}
	for _, tc := range []struct {
		name   string
		mutate func(*corev1.Pod)
		want   []string
	}{
		{"no change", func(*corev1.Pod) {}, nil},
		{"container image", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "nginx:1.26" }, nil},
		{"init container image", func(p *corev1.Pod) { p.Spec.InitContainers[0].Image = "busybox:2" }, nil},
		{"shorter deadline", func(p *corev1.Pod) { v := int64(60); p.Spec.ActiveDeadlineSeconds = &v }, nil},
		{"longer deadline", func(p *corev1.Pod) { v := int64(6000); p.Spec.ActiveDeadlineSeconds = &v },
			[]string{"spec.activeDeadlineSeconds: Invalid value"}},
		{"deadline removed", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = nil },
			[]string{"spec.activeDeadlineSeconds: Invalid value"}},
		{"toleration added", func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "gpu", Operator: corev1.TolerationOpExists})
		}, nil},
		{"tolerationSeconds changed", func(p *corev1.Pod) { v := int64(10); p.Spec.Tolerations[1].TolerationSeconds = &v }, nil},
		{"toleration removed", func(p *corev1.Pod) { p.Spec.Tolerations = p.Spec.Tolerations[1:] },
			[]string{"spec.tolerations: Forbidden"}},
		{"toleration changed", func(p *corev1.Pod) { p.Spec.Tolerations[0].Value = "db" },
			[]string{"spec.tolerations: Forbidden"}},
		// Admission re-adds its default tolerations, as Kubernetes does.
		{"default toleration re-added", func(p *corev1.Pod) { p.Spec.Tolerations = p.Spec.Tolerations[:1] }, nil},
		{"restart policy", func(p *corev1.Pod) { p.Spec.RestartPolicy = corev1.RestartPolicyNever }, forbidden},
		{"env", func(p *corev1.Pod) { p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", Value: "b"}} }, forbidden},
		{"grace period", func(p *corev1.Pod) { v := int64(5); p.Spec.TerminationGracePeriodSeconds = &v }, forbidden},
		{"node name", func(p *corev1.Pod) { p.Spec.NodeName = "node-1" }, forbidden},
		{"container added", func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "more", Image: "x"})
		}, []string{"spec.containers: Forbidden"}},
		{"image removed", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" }, []string{"spec.containers[0].image: Required value"}},
		{"omitted admission fields are kept", func(p *corev1.Pod) {
			p.Spec.ServiceAccountName, p.Spec.DeprecatedServiceAccount = "", ""
			p.Spec.Priority, p.Spec.PreemptionPolicy = nil, nil
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := created()
			pod := old.DeepCopy()
			tc.mutate(pod)
			coreWantErrs(t, coreUpdate(res, pod, old), tc.want...)
		})
	}
	t.Run("message", func(t *testing.T) {
		old := created()
		pod := old.DeepCopy()
		pod.Spec.RestartPolicy = corev1.RestartPolicyNever
		coreWantDetail(t, coreUpdate(res, pod, old), "spec",
			"pod updates may not change fields other than `spec.containers[*].image`")
		coreWantDetail(t, coreUpdate(res, pod, old), "spec", "spec.restartPolicy")
	})
}

// A status report is checked for its metadata and addresses, as
// Kubernetes checks pods/status; the spec it carries is the stored one.
func TestPodValidateStatusUpdate(t *testing.T) {
	res := coreRes(t, "pods")
	old := corePod(nil)
	if errs := coreCreate(res, old); len(errs) > 0 {
		t.Fatal(errs)
	}
	ips := func(a ...string) []corev1.PodIP {
		out := make([]corev1.PodIP, len(a))
		for i, ip := range a {
			out[i] = corev1.PodIP{IP: ip}
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		mutate func(*corev1.Pod)
		want   []string
	}{
		{"running", func(p *corev1.Pod) {
			p.Status.Phase, p.Status.PodIP, p.Status.PodIPs = corev1.PodRunning, "10.42.0.5", ips("10.42.0.5")
			p.Status.HostIP, p.Status.HostIPs = "192.0.2.1", []corev1.HostIP{{IP: "192.0.2.1"}}
		}, nil},
		{"dual stack", func(p *corev1.Pod) { p.Status.PodIP, p.Status.PodIPs = "10.42.0.5", ips("10.42.0.5", "fd00::5") }, nil},
		{"podIP without podIPs", func(p *corev1.Pod) { p.Status.PodIP = "10.42.0.5" }, nil},
		{"bad podIP", func(p *corev1.Pod) { p.Status.PodIP = "10.42.0" }, []string{"status.podIP: Invalid value"}},
		{"podIPs not led by podIP", func(p *corev1.Pod) { p.Status.PodIP, p.Status.PodIPs = "10.42.0.5", ips("10.42.0.6") },
			[]string{"status.podIPs[0].ip: Invalid value"}},
		{"two of one family", func(p *corev1.Pod) { p.Status.PodIP, p.Status.PodIPs = "10.42.0.5", ips("10.42.0.5", "10.42.0.6") },
			[]string{"status.podIPs: Invalid value"}},
		{"three addresses", func(p *corev1.Pod) {
			p.Status.PodIP, p.Status.PodIPs = "10.42.0.5", ips("10.42.0.5", "fd00::5", "10.42.0.6")
		}, []string{"status.podIPs: Too many"}},
		{"bad hostIP", func(p *corev1.Pod) { p.Status.HostIP = "node-1" }, []string{"status.hostIP: Invalid value"}},
		{"bad nominated node", func(p *corev1.Pod) { p.Status.NominatedNodeName = "Node_1" }, []string{"status.nominatedNodeName: Invalid value"}},
		{"bad label", func(p *corev1.Pod) { p.Labels = map[string]string{"a b": "c"} }, []string{"metadata.labels: Invalid value"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := old.DeepCopy()
			tc.mutate(pod)
			coreWantErrs(t, res.Strategy.ValidateStatusUpdate(pod, old), tc.want...)
		})
	}
}

func TestPodRow(t *testing.T) {
	res := coreRes(t, "pods")
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	always := corev1.ContainerRestartPolicyAlways
	yes := true
	base := func(mutate func(*corev1.Pod)) *corev1.Pod {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", CreationTimestamp: coreAgo(2 * time.Hour)},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}, {Name: "b"}}},
			Status:     corev1.PodStatus{Phase: corev1.PodRunning},
		}
		mutate(p)
		return p
	}
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		want []interface{}
	}{
		{"pending", base(func(p *corev1.Pod) { p.Status.Phase = corev1.PodPending }),
			[]interface{}{"web", "0/2", "Pending", "0", "120m", "<none>", "<none>", "<none>", "<none>"}},
		{"running one ready", base(func(p *corev1.Pod) {
			p.Spec.NodeName = "node-1"
			p.Status.PodIPs = []corev1.PodIP{{IP: "10.244.0.5"}}
			p.Status.ContainerStatuses = []corev1.ContainerStatus{
				{Name: "a", Ready: true, State: running},
				{Name: "b", State: running},
			}
		}), []interface{}{"web", "1/2", "Running", "0", "120m", "10.244.0.5", "node-1", "<none>", "<none>"}},
		{"crash loop with restarts", base(func(p *corev1.Pod) {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{
				{Name: "a", Ready: true, State: running},
				{Name: "b", RestartCount: 4,
					State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
					LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: coreAgo(5 * time.Minute)}}},
			}
		}), []interface{}{"web", "1/2", "CrashLoopBackOff", "4 (5m ago)", "120m", "<none>", "<none>", "<none>", "<none>"}},
		{"completed", base(func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodSucceeded
			done := corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed"}}
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "a", State: done}, {Name: "b", State: done}}
		}), []interface{}{"web", "0/2", "Completed", "0", "120m", "<none>", "<none>", "<none>", "<none>"}},
		{"completed beside running is not ready", base(func(p *corev1.Pod) {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{
				{Name: "a", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed"}}},
				{Name: "b", Ready: true, State: running},
			}
		}), []interface{}{"web", "1/2", "NotReady", "0", "120m", "<none>", "<none>", "<none>", "<none>"}},
		{"exit code without reason", base(func(p *corev1.Pod) {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{
				{Name: "a", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137}}},
			}
		}), []interface{}{"web", "0/2", "ExitCode:137", "0", "120m", "<none>", "<none>", "<none>", "<none>"}},
		{"init progress", base(func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodPending
			p.Spec.InitContainers = []corev1.Container{{Name: "i1"}, {Name: "i2"}}
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{
				{Name: "i1", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}},
				{Name: "i2", State: running},
			}
		}), []interface{}{"web", "0/2", "Init:1/2", "0", "120m", "<none>", "<none>", "<none>", "<none>"}},
		{"init crash", base(func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodPending
			p.Spec.InitContainers = []corev1.Container{{Name: "i1"}}
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "i1", RestartCount: 2,
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}}
		}), []interface{}{"web", "0/2", "Init:CrashLoopBackOff", "2", "120m", "<none>", "<none>", "<none>", "<none>"}},
		{"init error", base(func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodPending
			p.Spec.InitContainers = []corev1.Container{{Name: "i1"}}
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "i1",
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error"}}}}
		}), []interface{}{"web", "0/2", "Init:Error", "0", "120m", "<none>", "<none>", "<none>", "<none>"}},
		{"started sidecar counts as ready container", base(func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "proxy", RestartPolicy: &always}}
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "proxy", Ready: true, Started: &yes, State: running}}
			p.Status.ContainerStatuses = []corev1.ContainerStatus{
				{Name: "a", Ready: true, State: running}, {Name: "b", Ready: true, State: running},
			}
		}), []interface{}{"web", "3/3", "Running", "0", "120m", "<none>", "<none>", "<none>", "<none>"}},
		{"terminating", base(func(p *corev1.Pod) { ts := coreAgo(time.Second); p.DeletionTimestamp = &ts }),
			[]interface{}{"web", "0/2", "Terminating", "0", "120m", "<none>", "<none>", "<none>", "<none>"}},
		{"lost node", base(func(p *corev1.Pod) {
			ts := coreAgo(time.Second)
			p.DeletionTimestamp = &ts
			p.Status.Reason = "NodeLost"
		}), []interface{}{"web", "0/2", "Unknown", "0", "120m", "<none>", "<none>", "<none>", "<none>"}},
		{"evicted", base(func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed; p.Status.Reason = "Evicted" }),
			[]interface{}{"web", "0/2", "Evicted", "0", "120m", "<none>", "<none>", "<none>", "<none>"}},
		{"readiness gates and nominated node", base(func(p *corev1.Pod) {
			p.Status.NominatedNodeName = "node-2"
			p.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "example.com/lb"}, {ConditionType: "example.com/dns"}}
			p.Status.Conditions = []corev1.PodCondition{{Type: "example.com/lb", Status: corev1.ConditionTrue}}
		}), []interface{}{"web", "0/2", "Running", "0", "120m", "<none>", "<none>", "node-2", "1/2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := res.Strategy.Row(tc.pod, coreNow); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("row\n got  %#v\n want %#v", got, tc.want)
			}
		})
	}
	t.Run("columns", func(t *testing.T) {
		var names []string
		for _, c := range res.Strategy.Columns {
			n := c.Name
			if c.Priority == 1 {
				n += "*"
			}
			names = append(names, n)
		}
		want := "Name Ready Status Restarts Age IP* Node* Nominated Node* Readiness Gates*"
		if got := strings.Join(names, " "); got != want {
			t.Errorf("columns %q, want %q", got, want)
		}
	})
}

func TestPodFields(t *testing.T) {
	pod := corePod(func(p *corev1.Pod) {
		p.Spec.NodeName = "node-1"
		p.Spec.HostNetwork = true
		p.Status.Phase = corev1.PodRunning
		p.Status.PodIP = "10.0.0.1"
		p.Status.PodIPs = []corev1.PodIP{{IP: "10.0.0.1"}}
	})
	coreRes(t, "pods").Strategy.Default(pod)
	got := coreRes(t, "pods").Strategy.Fields(pod)
	want := fields.Set{
		"spec.nodeName": "node-1", "spec.restartPolicy": "Always", "spec.schedulerName": "default-scheduler",
		"spec.serviceAccountName": "", "spec.hostNetwork": "true", "status.phase": "Running",
		"status.podIP": "10.0.0.1", "status.nominatedNodeName": "",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("fields %v, want %v", got, want)
	}
}

func coreService(mutate func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Port: 80}},
		},
	}
	if mutate != nil {
		mutate(s)
	}
	return s
}

func TestServiceDefaults(t *testing.T) {
	res := coreRes(t, "services")
	t.Run("cluster ip", func(t *testing.T) {
		s := coreService(nil)
		coreWantErrs(t, coreCreate(res, s))
		single := corev1.IPFamilyPolicySingleStack
		cluster := corev1.ServiceInternalTrafficPolicyCluster
		want := corev1.ServiceSpec{
			Selector:              map[string]string{"app": "web"},
			Ports:                 []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(80)}},
			Type:                  corev1.ServiceTypeClusterIP,
			SessionAffinity:       corev1.ServiceAffinityNone,
			IPFamilyPolicy:        &single,
			IPFamilies:            []corev1.IPFamily{corev1.IPv4Protocol},
			InternalTrafficPolicy: &cluster,
		}
		if !apiequality.Semantic.DeepEqual(s.Spec, want) {
			t.Errorf("spec:\n%s\nwant:\n%s", coreJSON(s.Spec), coreJSON(want))
		}
	})
	t.Run("node port from testdata", func(t *testing.T) {
		s := &corev1.Service{}
		coreLoad(t, "service.json", s)
		coreWantErrs(t, coreCreate(res, s))
		if s.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyCluster {
			t.Errorf("externalTrafficPolicy = %q", s.Spec.ExternalTrafficPolicy)
		}
		if s.Spec.Ports[1].TargetPort != intstr.FromString("https") {
			t.Errorf("named targetPort changed: %v", s.Spec.Ports[1].TargetPort)
		}
	})
	t.Run("load balancer", func(t *testing.T) {
		s := coreService(func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeLoadBalancer })
		coreWantErrs(t, coreCreate(res, s))
		if s.Spec.AllocateLoadBalancerNodePorts == nil || !*s.Spec.AllocateLoadBalancerNodePorts {
			t.Error("allocateLoadBalancerNodePorts not defaulted to true")
		}
	})
	t.Run("client ip affinity", func(t *testing.T) {
		s := coreService(func(s *corev1.Service) { s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP })
		coreWantErrs(t, coreCreate(res, s))
		if *s.Spec.SessionAffinityConfig.ClientIP.TimeoutSeconds != 10800 {
			t.Error("timeoutSeconds not defaulted")
		}
	})
	t.Run("external name", func(t *testing.T) {
		s := &corev1.Service{}
		coreLoad(t, "service-externalname.json", s)
		coreWantErrs(t, coreCreate(res, s))
		if s.Spec.IPFamilyPolicy != nil || s.Spec.IPFamilies != nil || s.Spec.InternalTrafficPolicy != nil {
			t.Errorf("ExternalName got IP fields: %s", coreJSON(s.Spec))
		}
	})
	t.Run("headless without selector", func(t *testing.T) {
		s := coreService(func(s *corev1.Service) { s.Spec.Selector = nil; s.Spec.ClusterIP = "None" })
		coreWantErrs(t, coreCreate(res, s))
		if *s.Spec.IPFamilyPolicy != corev1.IPFamilyPolicyRequireDualStack || s.Spec.ClusterIPs[0] != "None" {
			t.Errorf("spec: %s", coreJSON(s.Spec))
		}
	})
	t.Run("ipv6 cluster ip", func(t *testing.T) {
		s := coreService(func(s *corev1.Service) { s.Spec.ClusterIP = "fd00::10" })
		coreWantErrs(t, coreCreate(res, s))
		if len(s.Spec.IPFamilies) != 1 || s.Spec.IPFamilies[0] != corev1.IPv6Protocol {
			t.Errorf("ipFamilies = %v", s.Spec.IPFamilies)
		}
	})
}

func TestServiceValidate(t *testing.T) {
	res := coreRes(t, "services")
	for _, tc := range []struct {
		name   string
		mutate func(*corev1.Service)
		want   []string
	}{
		{"valid", nil, nil},
		{"name must start with a letter", func(s *corev1.Service) { s.Name = "1web" }, []string{"metadata.name: Invalid value"}},
		{"no ports", func(s *corev1.Service) { s.Spec.Ports = nil }, []string{"spec.ports: Required value"}},
		{"headless needs no ports", func(s *corev1.Service) { s.Spec.Ports = nil; s.Spec.ClusterIP = "None" }, nil},
		// targetPort defaults to the port, so it is out of range too.
		{"port range", func(s *corev1.Service) { s.Spec.Ports[0].Port = 70000 },
			[]string{"spec.ports[0].port: Invalid value", "spec.ports[0].targetPort: Invalid value"}},
		{"protocol", func(s *corev1.Service) { s.Spec.Ports[0].Protocol = "ICMP" }, []string{"spec.ports[0].protocol: Unsupported value"}},
		{"names required with two ports", func(s *corev1.Service) {
			s.Spec.Ports = []corev1.ServicePort{{Name: "http", Port: 80}, {Port: 443}}
		}, []string{"spec.ports[1].name: Required value"}},
		{"duplicate names", func(s *corev1.Service) {
			s.Spec.Ports = []corev1.ServicePort{{Name: "http", Port: 80}, {Name: "http", Port: 443}}
		}, []string{"spec.ports[1].name: Duplicate value"}},
		{"duplicate ports", func(s *corev1.Service) {
			s.Spec.Ports = []corev1.ServicePort{{Name: "a", Port: 80}, {Name: "b", Port: 80}}
		}, []string{"spec.ports[1]: Duplicate value"}},
		{"same port different protocol", func(s *corev1.Service) {
			s.Spec.Ports = []corev1.ServicePort{{Name: "a", Port: 53}, {Name: "b", Port: 53, Protocol: corev1.ProtocolUDP}}
		}, nil},
		{"type", func(s *corev1.Service) { s.Spec.Type = "Magic" }, []string{"spec.type: Unsupported value"}},
		{"nodePort on ClusterIP", func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 30001 },
			[]string{"spec.ports[0].nodePort: Forbidden"}},
		{"nodePort range", func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort; s.Spec.Ports[0].NodePort = 80 },
			[]string{"spec.ports[0].nodePort: Invalid value"}},
		{"external name required", func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeExternalName },
			[]string{"spec.externalName: Required value"}},
		{"external name with cluster ip", func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeExternalName
			s.Spec.ExternalName = "db.example.com"
			s.Spec.ClusterIP = "10.0.0.10"
		}, []string{"spec.clusterIPs: Forbidden"}},
		{"bad cluster ip", func(s *corev1.Service) { s.Spec.ClusterIP = "10.0.0.300" }, []string{"spec.clusterIPs[0]: Invalid value"}},
		{"headless load balancer", func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeLoadBalancer; s.Spec.ClusterIP = "None" },
			[]string{"spec.clusterIPs[0]: Invalid value"}},
		{"kubelet port on load balancer", func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeLoadBalancer; s.Spec.Ports[0].Port = 10250 },
			[]string{"spec.ports[0]: Invalid value"}},
		{"loopback external ip", func(s *corev1.Service) { s.Spec.ExternalIPs = []string{"127.0.0.1"} },
			[]string{"spec.externalIPs[0]: Invalid value"}},
		{"traffic policy on ClusterIP", func(s *corev1.Service) { s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal },
			[]string{"spec.externalTrafficPolicy: Invalid value"}},
		{"target port name", func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromString("not_valid") },
			[]string{"spec.ports[0].targetPort: Invalid value"}},
		{"selector label", func(s *corev1.Service) { s.Spec.Selector = map[string]string{"app": "bad value"} },
			[]string{"spec.selector: Invalid value"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			coreWantErrs(t, coreCreate(res, coreService(tc.mutate)), tc.want...)
		})
	}
}

// coreAllocated is a created service with the values the server allocates.
func coreAllocated(t *testing.T, typ corev1.ServiceType) *corev1.Service {
	res := coreRes(t, "services")
	s := coreService(func(s *corev1.Service) {
		s.Spec.Type = typ
		s.Spec.Ports = []corev1.ServicePort{{Name: "http", Port: 80}, {Name: "https", Port: 443}}
	})
	if errs := coreCreate(res, s); len(errs) > 0 {
		t.Fatal(errs)
	}
	s.Spec.ClusterIP = "10.96.0.10"
	s.Spec.ClusterIPs = []string{"10.96.0.10"}
	if typ == corev1.ServiceTypeNodePort {
		s.Spec.Ports[0].NodePort = 30080
		s.Spec.Ports[1].NodePort = 30443
	}
	return s
}

func TestServiceUpdate(t *testing.T) {
	res := coreRes(t, "services")
	t.Run("omitted allocations are kept", func(t *testing.T) {
		old := coreAllocated(t, corev1.ServiceTypeNodePort)
		// What a client re-applying its manifest sends.
		s := coreService(func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.Ports = []corev1.ServicePort{{Name: "http", Port: 80}, {Name: "https", Port: 443}}
		})
		coreWantErrs(t, coreUpdate(res, s, old))
		if s.Spec.ClusterIP != "10.96.0.10" || len(s.Spec.ClusterIPs) != 1 || s.Spec.Ports[0].NodePort != 30080 || s.Spec.Ports[1].NodePort != 30443 {
			t.Errorf("spec: %s", coreJSON(s.Spec))
		}
	})
	t.Run("old client sends only clusterIP", func(t *testing.T) {
		old := coreAllocated(t, corev1.ServiceTypeClusterIP)
		s := old.DeepCopy()
		s.Spec.ClusterIPs = nil
		coreWantErrs(t, coreUpdate(res, s, old))
		if len(s.Spec.ClusterIPs) != 1 {
			t.Errorf("clusterIPs = %v", s.Spec.ClusterIPs)
		}
	})
	t.Run("clusterIP is immutable", func(t *testing.T) {
		old := coreAllocated(t, corev1.ServiceTypeClusterIP)
		s := old.DeepCopy()
		s.Spec.ClusterIP = "10.96.0.11"
		s.Spec.ClusterIPs = []string{"10.96.0.11"}
		errs := coreUpdate(res, s, old)
		coreWantErrs(t, errs, "spec.clusterIPs[0]: Invalid value")
		coreWantDetail(t, errs, "spec.clusterIPs[0]", "may not change once set")
	})
	t.Run("ipFamilies are immutable", func(t *testing.T) {
		old := coreAllocated(t, corev1.ServiceTypeClusterIP)
		s := old.DeepCopy()
		s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol}
		errs := coreUpdate(res, s, old)
		coreWantDetail(t, errs, "spec.ipFamilies[0]", "may not change once set")
	})
	t.Run("NodePort to ClusterIP wipes node ports", func(t *testing.T) {
		old := coreAllocated(t, corev1.ServiceTypeNodePort)
		s := old.DeepCopy()
		s.Spec.Type = corev1.ServiceTypeClusterIP
		coreWantErrs(t, coreUpdate(res, s, old))
		if s.Spec.Ports[0].NodePort != 0 || s.Spec.ExternalTrafficPolicy != "" {
			t.Errorf("spec: %s", coreJSON(s.Spec))
		}
	})
	t.Run("ClusterIP to ExternalName wipes IPs", func(t *testing.T) {
		old := coreAllocated(t, corev1.ServiceTypeClusterIP)
		s := old.DeepCopy()
		s.Spec.Type = corev1.ServiceTypeExternalName
		s.Spec.ExternalName = "db.example.com"
		coreWantErrs(t, coreUpdate(res, s, old))
		if s.Spec.ClusterIP != "" || s.Spec.ClusterIPs != nil || s.Spec.IPFamilies != nil || s.Spec.IPFamilyPolicy != nil {
			t.Errorf("spec: %s", coreJSON(s.Spec))
		}
	})
	t.Run("ExternalName to ClusterIP gets families", func(t *testing.T) {
		old := &corev1.Service{}
		coreLoad(t, "service-externalname.json", old)
		coreCreate(res, old)
		s := old.DeepCopy()
		s.Spec.Type = corev1.ServiceTypeClusterIP
		s.Spec.ExternalName = ""
		s.Spec.Ports = []corev1.ServicePort{{Port: 5432}}
		coreWantErrs(t, coreUpdate(res, s, old))
		if len(s.Spec.IPFamilies) != 1 || s.Spec.IPFamilyPolicy == nil {
			t.Errorf("spec: %s", coreJSON(s.Spec))
		}
	})
}

func TestServiceRow(t *testing.T) {
	res := coreRes(t, "services")
	created := coreAgo(3 * 24 * time.Hour)
	for _, tc := range []struct {
		name string
		svc  *corev1.Service
		want []interface{}
	}{
		{"node port", func() *corev1.Service {
			s := coreAllocated(t, corev1.ServiceTypeNodePort)
			s.CreationTimestamp = created
			return s
		}(), []interface{}{"web", "NodePort", "10.96.0.10", "<none>", "80:30080/TCP,443:30443/TCP", "3d", "app=web"}},
		{"pending load balancer", coreService(func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeLoadBalancer
			s.Spec.ClusterIPs = []string{"10.96.0.1"}
			s.Spec.Ports[0].Protocol = corev1.ProtocolTCP
		}), []interface{}{"web", "LoadBalancer", "10.96.0.1", "<pending>", "80/TCP", "<unknown>", "app=web"}},
		{"load balancer with ingress", coreService(func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeLoadBalancer
			s.Spec.ExternalIPs = []string{"198.51.100.7"}
			s.Spec.Ports[0].Protocol = corev1.ProtocolUDP
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "203.0.113.9"}, {Hostname: "lb.example.com"}}
		}), []interface{}{"web", "LoadBalancer", "<none>", "203.0.113.9,lb.example.com,198.51.100.7", "80/UDP", "<unknown>", "app=web"}},
		{"external name", coreService(func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeExternalName
			s.Spec.ExternalName = "db.example.com"
			s.Spec.Ports = nil
			s.Spec.Selector = nil
		}), []interface{}{"web", "ExternalName", "<none>", "db.example.com", "<none>", "<unknown>", "<none>"}},
		{"cluster ip with external ips", coreService(func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeClusterIP
			s.Spec.ExternalIPs = []string{"1.2.3.4", "5.6.7.8"}
			s.Spec.Ports[0].Protocol = corev1.ProtocolTCP
		}), []interface{}{"web", "ClusterIP", "<none>", "1.2.3.4,5.6.7.8", "80/TCP", "<unknown>", "app=web"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := res.Strategy.Row(tc.svc, coreNow); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("row\n got  %#v\n want %#v", got, tc.want)
			}
		})
	}
	if got := res.Strategy.Fields(coreAllocated(t, corev1.ServiceTypeClusterIP)); got["spec.clusterIP"] != "10.96.0.10" || got["spec.type"] != "ClusterIP" {
		t.Errorf("fields = %v", got)
	}
}

func TestConfigMap(t *testing.T) {
	res := coreRes(t, "configmaps")
	load := func() *corev1.ConfigMap {
		cm := &corev1.ConfigMap{}
		coreLoad(t, "configmap.json", cm)
		return cm
	}
	t.Run("valid", func(t *testing.T) { coreWantErrs(t, coreCreate(res, load())) })
	for _, tc := range []struct {
		name   string
		mutate func(*corev1.ConfigMap)
		want   []string
	}{
		{"bad key", func(c *corev1.ConfigMap) { c.Data["bad/key"] = "x" }, []string{"data[bad/key]: Invalid value"}},
		{"dot-dot key", func(c *corev1.ConfigMap) { c.Data[".."] = "x" }, []string{"data[..]: Invalid value"}},
		{"duplicate across data and binaryData", func(c *corev1.ConfigMap) { c.Data["logo.png"] = "x" },
			[]string{"data[logo.png]: Invalid value"}},
		{"too big", func(c *corev1.ConfigMap) { c.Data["big"] = strings.Repeat("x", corev1.MaxSecretSize) },
			[]string{"[]: Too long"}}, // Kubernetes reports the whole object this way
		{"errors are sorted by key", func(c *corev1.ConfigMap) { c.Data["z/"] = "x"; c.Data["a/"] = "x" },
			[]string{"data[a/]: Invalid value", "data[z/]: Invalid value"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cm := load()
			tc.mutate(cm)
			coreWantErrs(t, coreCreate(res, cm), tc.want...)
		})
	}
	t.Run("immutable", func(t *testing.T) {
		old := load()
		yes := true
		old.Immutable = &yes
		cm := old.DeepCopy()
		cm.Data["LOG_LEVEL"] = "debug"
		coreWantErrs(t, coreUpdate(res, cm, old), "data: Forbidden")
		cm = old.DeepCopy()
		cm.Immutable = nil
		coreWantErrs(t, coreUpdate(res, cm, old), "immutable: Forbidden")
		cm = old.DeepCopy()
		cm.Labels = map[string]string{"a": "b"}
		coreWantErrs(t, coreUpdate(res, cm, old))
	})
	t.Run("mutable update", func(t *testing.T) {
		old := load()
		cm := old.DeepCopy()
		cm.Data["LOG_LEVEL"] = "debug"
		coreWantErrs(t, coreUpdate(res, cm, old))
	})
	t.Run("row", func(t *testing.T) {
		cm := load()
		cm.CreationTimestamp = coreAgo(90 * time.Second)
		want := []interface{}{"api-config", int64(3), "90s"}
		if got := res.Strategy.Row(cm, coreNow); !reflect.DeepEqual(got, want) {
			t.Errorf("row %#v, want %#v", got, want)
		}
	})
}

func TestSecret(t *testing.T) {
	res := coreRes(t, "secrets")
	t.Run("stringData merged and type kept", func(t *testing.T) {
		s := &corev1.Secret{}
		coreLoad(t, "secret-tls.json", s)
		coreWantErrs(t, coreCreate(res, s))
		if string(s.Data["ca.crt"]) != "ca" || s.StringData != nil || s.Type != corev1.SecretTypeTLS {
			t.Errorf("secret: %s", coreJSON(s))
		}
	})
	t.Run("stringData wins over data", func(t *testing.T) {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "default"},
			Data: map[string][]byte{"k": []byte("old")}, StringData: map[string]string{"k": "new"}}
		coreWantErrs(t, coreCreate(res, s))
		if string(s.Data["k"]) != "new" || s.Type != corev1.SecretTypeOpaque {
			t.Errorf("secret: %s", coreJSON(s))
		}
	})
	for _, tc := range []struct {
		name string
		typ  corev1.SecretType
		data map[string][]byte
		ann  map[string]string
		want []string
	}{
		{"tls missing key", corev1.SecretTypeTLS, map[string][]byte{"tls.crt": []byte("c")}, nil, []string{"data[tls.key]: Required value"}},
		{"tls missing both", corev1.SecretTypeTLS, nil, nil, []string{"data[tls.crt]: Required value", "data[tls.key]: Required value"}},
		{"dockerconfigjson missing", corev1.SecretTypeDockerConfigJson, nil, nil, []string{"data[.dockerconfigjson]: Required value"}},
		{"dockerconfigjson not json", corev1.SecretTypeDockerConfigJson, map[string][]byte{".dockerconfigjson": []byte("{")}, nil,
			[]string{"data[.dockerconfigjson]: Invalid value"}},
		{"dockerconfigjson ok", corev1.SecretTypeDockerConfigJson, map[string][]byte{".dockerconfigjson": []byte(`{"auths":{}}`)}, nil, nil},
		{"basic auth with password only", corev1.SecretTypeBasicAuth, map[string][]byte{"password": nil}, nil, nil},
		{"basic auth empty", corev1.SecretTypeBasicAuth, nil, nil, []string{"data[username]: Required value", "data[password]: Required value"}},
		{"ssh", corev1.SecretTypeSSHAuth, nil, nil, []string{"data[ssh-privatekey]: Required value"}},
		{"sa token", corev1.SecretTypeServiceAccountToken, nil, nil,
			[]string{"metadata.annotations[kubernetes.io/service-account.name]: Required value"}},
		{"sa token ok", corev1.SecretTypeServiceAccountToken, nil, map[string]string{"kubernetes.io/service-account.name": "default"}, nil},
		{"custom type", "example.com/thing", nil, nil, nil},
		{"bad key", corev1.SecretTypeOpaque, map[string][]byte{"a b": nil}, nil, []string{"data[a b]: Invalid value"}},
		{"too big", corev1.SecretTypeOpaque, map[string][]byte{"a": make([]byte, corev1.MaxSecretSize+1)}, nil, []string{"data: Too long"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "default", Annotations: tc.ann}, Type: tc.typ, Data: tc.data}
			coreWantErrs(t, coreCreate(res, s), tc.want...)
		})
	}
	t.Run("type is immutable", func(t *testing.T) {
		old := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "default"}}
		coreCreate(res, old)
		s := old.DeepCopy()
		s.Type = "example.com/other"
		errs := coreUpdate(res, s, old)
		coreWantErrs(t, errs, "type: Invalid value")
		coreWantDetail(t, errs, "type", "field is immutable")
	})
	t.Run("immutable data", func(t *testing.T) {
		yes := true
		old := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "default"}, Immutable: &yes, Data: map[string][]byte{"a": []byte("1")}}
		coreCreate(res, old)
		s := old.DeepCopy()
		s.StringData = map[string]string{"a": "2"}
		coreWantErrs(t, coreUpdate(res, s, old), "data: Forbidden")
	})
	t.Run("row and fields", func(t *testing.T) {
		s := &corev1.Secret{}
		coreLoad(t, "secret-tls.json", s)
		coreCreate(res, s)
		want := []interface{}{"api-tls", "kubernetes.io/tls", int64(3), "<unknown>"}
		if got := res.Strategy.Row(s, coreNow); !reflect.DeepEqual(got, want) {
			t.Errorf("row %#v, want %#v", got, want)
		}
		if got := res.Strategy.Fields(s); !reflect.DeepEqual(got, fields.Set{"type": "kubernetes.io/tls"}) {
			t.Errorf("fields %v", got)
		}
	})
}

func TestNamespace(t *testing.T) {
	res := coreRes(t, "namespaces")
	t.Run("create", func(t *testing.T) {
		ns := &corev1.Namespace{}
		coreLoad(t, "namespace.json", ns)
		coreWantErrs(t, coreCreate(res, ns))
		if ns.Status.Phase != corev1.NamespaceActive || len(ns.Spec.Finalizers) != 1 || ns.Spec.Finalizers[0] != "kubernetes" ||
			ns.Labels["kubernetes.io/metadata.name"] != "team-a" {
			t.Errorf("namespace: %s", coreJSON(ns))
		}
	})
	for _, tc := range []struct {
		name string
		ns   *corev1.Namespace
		want []string
	}{
		{"dots not allowed", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team.a"}}, []string{"metadata.name: Invalid value"}},
		// The name is also copied into the kubernetes.io/metadata.name label.
		{"too long", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: strings.Repeat("a", 64)}},
			[]string{"metadata.name: Invalid value", "metadata.labels: Invalid value"}},
		{"namespaced namespace", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "b"}}, []string{"metadata.namespace: Forbidden"}},
		{"bad finalizer", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a"}, Spec: corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{"custom"}}},
			[]string{"spec.finalizers: Invalid value"}},
		{"qualified finalizer", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a"}, Spec: corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{"example.com/cleanup"}}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) { coreWantErrs(t, coreCreate(res, tc.ns), tc.want...) })
	}
	t.Run("update keeps finalizers and status", func(t *testing.T) {
		old := &corev1.Namespace{}
		coreLoad(t, "namespace.json", old)
		coreCreate(res, old)
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a", Labels: map[string]string{"team": "a"}}}
		coreWantErrs(t, coreUpdate(res, ns, old))
		if len(ns.Spec.Finalizers) != 1 || ns.Labels["kubernetes.io/metadata.name"] != "team-a" || ns.Labels["team"] != "a" {
			t.Errorf("namespace: %s", coreJSON(ns))
		}
	})
	t.Run("row and fields", func(t *testing.T) {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a", CreationTimestamp: coreAgo(26 * time.Hour)},
			Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}}
		want := []interface{}{"a", "Terminating", "26h"}
		if got := res.Strategy.Row(ns, coreNow); !reflect.DeepEqual(got, want) {
			t.Errorf("row %#v, want %#v", got, want)
		}
		if got := res.Strategy.Fields(ns); got["status.phase"] != "Terminating" {
			t.Errorf("fields %v", got)
		}
	})
}

func TestNode(t *testing.T) {
	res := coreRes(t, "nodes")
	load := func() *corev1.Node {
		n := &corev1.Node{}
		coreLoad(t, "node.json", n)
		return n
	}
	t.Run("valid", func(t *testing.T) {
		n := load()
		res.Strategy.Default(n)
		coreWantErrs(t, res.Strategy.Validate(n))
		if n.Status.Allocatable.Cpu().String() != "4" {
			t.Errorf("allocatable not defaulted from capacity: %v", n.Status.Allocatable)
		}
	})
	for _, tc := range []struct {
		name   string
		mutate func(*corev1.Node)
		want   []string
	}{
		{"dns subdomain name", func(n *corev1.Node) { n.Name = "node_1" }, []string{"metadata.name: Invalid value"}},
		{"taint effect", func(n *corev1.Node) { n.Spec.Taints[0].Effect = "" }, []string{"spec.taints[0].effect: Required value"}},
		{"duplicate taint", func(n *corev1.Node) { n.Spec.Taints = append(n.Spec.Taints, n.Spec.Taints[0]) },
			[]string{"spec.taints[1]: Duplicate value"}},
		{"pod cidr", func(n *corev1.Node) { n.Spec.PodCIDR = "10.244.0.0"; n.Spec.PodCIDRs = nil }, []string{"spec.podCIDR: Invalid value"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := load()
			tc.mutate(n)
			coreWantErrs(t, res.Strategy.Validate(n), tc.want...)
		})
	}
	t.Run("pod cidr immutable", func(t *testing.T) {
		old := load()
		n := old.DeepCopy()
		n.Spec.PodCIDR = "10.244.1.0/24"
		n.Spec.PodCIDRs = []string{"10.244.1.0/24"}
		coreWantErrs(t, res.Strategy.ValidateUpdate(n, old), "spec.podCIDRs: Forbidden")
		n = old.DeepCopy()
		n.Spec.Unschedulable = true
		coreWantErrs(t, res.Strategy.ValidateUpdate(n, old))
	})
	t.Run("provider id immutable", func(t *testing.T) {
		old := load()
		old.Spec.ProviderID = "gureum://node-1"
		n := old.DeepCopy()
		n.Spec.ProviderID = "gureum://node-2"
		coreWantErrs(t, res.Strategy.ValidateUpdate(n, old), "spec.providerID: Forbidden")
	})
	t.Run("rows", func(t *testing.T) {
		n := load()
		n.CreationTimestamp = coreAgo(10 * 24 * time.Hour)
		n.Spec.Unschedulable = true
		want := []interface{}{"node-1", "Ready,SchedulingDisabled", "control-plane", "10d", "v1.33.0",
			"192.168.1.10", "<none>", "Debian GNU/Linux 12", "6.1.0", "containerd://1.7.0"}
		if got := res.Strategy.Row(n, coreNow); !reflect.DeepEqual(got, want) {
			t.Errorf("row\n got  %#v\n want %#v", got, want)
		}
		bare := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: map[string]string{
			"kubernetes.io/role": "worker", "node-role.kubernetes.io/infra": "", "node-role.kubernetes.io/": ""}}}
		bare.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionUnknown}}
		want = []interface{}{"n", "NotReady", "infra,worker", "<unknown>", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"}
		if got := res.Strategy.Row(bare, coreNow); !reflect.DeepEqual(got, want) {
			t.Errorf("row\n got  %#v\n want %#v", got, want)
		}
		if got := res.Strategy.Row(&corev1.Node{}, coreNow); got[1] != "Unknown" || got[2] != "<none>" {
			t.Errorf("empty node row %#v", got)
		}
	})
	t.Run("fields", func(t *testing.T) {
		n := load()
		if got := res.Strategy.Fields(n); !reflect.DeepEqual(got, fields.Set{"spec.unschedulable": "false"}) {
			t.Errorf("fields %v", got)
		}
	})
}

func TestPersistentVolume(t *testing.T) {
	res := coreRes(t, "persistentvolumes")
	load := func() *corev1.PersistentVolume {
		pv := &corev1.PersistentVolume{}
		coreLoad(t, "pv.json", pv)
		return pv
	}
	t.Run("defaults", func(t *testing.T) {
		pv := load()
		coreWantErrs(t, coreCreate(res, pv))
		if pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimRetain || *pv.Spec.VolumeMode != corev1.PersistentVolumeFilesystem ||
			pv.Status.Phase != corev1.VolumePending || *pv.Spec.HostPath.Type != corev1.HostPathUnset {
			t.Errorf("pv: %s", coreJSON(pv))
		}
	})
	for _, tc := range []struct {
		name   string
		mutate func(*corev1.PersistentVolume)
		want   []string
	}{
		{"namespaced", func(pv *corev1.PersistentVolume) { pv.Namespace = "default" }, []string{"metadata.namespace: Forbidden"}},
		{"no access modes", func(pv *corev1.PersistentVolume) { pv.Spec.AccessModes = nil }, []string{"spec.accessModes: Required value"}},
		{"bad access mode", func(pv *corev1.PersistentVolume) {
			pv.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{"ReadSometimes"}
		},
			[]string{"spec.accessModes: Unsupported value"}},
		{"RWOP alone", func(pv *corev1.PersistentVolume) {
			pv.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOncePod, corev1.ReadWriteOnce}
		}, []string{"spec.accessModes: Forbidden"}},
		{"no capacity", func(pv *corev1.PersistentVolume) { pv.Spec.Capacity = nil },
			[]string{"spec.capacity: Required value", "spec.capacity: Unsupported value"}},
		{"zero capacity", func(pv *corev1.PersistentVolume) { pv.Spec.Capacity[corev1.ResourceStorage] = resource.MustParse("0") },
			[]string{"spec.capacity[storage]: Invalid value"}},
		{"no source", func(pv *corev1.PersistentVolume) { pv.Spec.HostPath = nil }, []string{"spec: Required value"}},
		{"two sources", func(pv *corev1.PersistentVolume) {
			pv.Spec.NFS = &corev1.NFSVolumeSource{Server: "nfs", Path: "/x"}
		}, []string{"spec.nfs: Forbidden"}},
		{"local needs affinity", func(pv *corev1.PersistentVolume) {
			pv.Spec.HostPath = nil
			pv.Spec.Local = &corev1.LocalVolumeSource{Path: "/mnt/disk"}
		}, []string{"spec.nodeAffinity: Required value"}},
		{"reclaim policy", func(pv *corev1.PersistentVolume) { pv.Spec.PersistentVolumeReclaimPolicy = "Keep" },
			[]string{"spec.persistentVolumeReclaimPolicy: Unsupported value"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pv := load()
			tc.mutate(pv)
			coreWantErrs(t, coreCreate(res, pv), tc.want...)
		})
	}
	t.Run("source immutable", func(t *testing.T) {
		old := load()
		coreCreate(res, old)
		pv := old.DeepCopy()
		pv.Spec.HostPath.Path = "/elsewhere"
		coreWantErrs(t, coreUpdate(res, pv, old), "spec.persistentvolumesource: Forbidden")
		pv = old.DeepCopy()
		block := corev1.PersistentVolumeBlock
		pv.Spec.VolumeMode = &block
		coreWantErrs(t, coreUpdate(res, pv, old), "volumeMode: Invalid value")
		pv = old.DeepCopy()
		pv.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimDelete
		coreWantErrs(t, coreUpdate(res, pv, old))
	})
	t.Run("row", func(t *testing.T) {
		pv := load()
		coreCreate(res, pv)
		pv.CreationTimestamp = coreAgo(time.Hour)
		pv.Spec.ClaimRef = &corev1.ObjectReference{Namespace: "default", Name: "data"}
		pv.Status.Phase = corev1.VolumeBound
		want := []interface{}{"pv-data", "10Gi", "RWO,ROX", "Retain", "Bound", "default/data", "local", "<unset>", "", "60m", "Filesystem"}
		if got := res.Strategy.Row(pv, coreNow); !reflect.DeepEqual(got, want) {
			t.Errorf("row\n got  %#v\n want %#v", got, want)
		}
	})
}

func TestPersistentVolumeClaim(t *testing.T) {
	res := coreRes(t, "persistentvolumeclaims")
	load := func() *corev1.PersistentVolumeClaim {
		pvc := &corev1.PersistentVolumeClaim{}
		coreLoad(t, "pvc.json", pvc)
		return pvc
	}
	t.Run("defaults", func(t *testing.T) {
		pvc := load()
		coreWantErrs(t, coreCreate(res, pvc))
		if *pvc.Spec.VolumeMode != corev1.PersistentVolumeFilesystem || pvc.Status.Phase != corev1.ClaimPending {
			t.Errorf("pvc: %s", coreJSON(pvc))
		}
	})
	for _, tc := range []struct {
		name   string
		mutate func(*corev1.PersistentVolumeClaim)
		want   []string
	}{
		{"no access modes", func(p *corev1.PersistentVolumeClaim) { p.Spec.AccessModes = nil }, []string{"spec.accessModes: Required value"}},
		{"no storage request", func(p *corev1.PersistentVolumeClaim) { p.Spec.Resources.Requests = nil },
			[]string{"spec.resources[storage]: Required value"}},
		{"storage class name", func(p *corev1.PersistentVolumeClaim) { s := "Fast_SSD"; p.Spec.StorageClassName = &s },
			[]string{"spec.storageClassName: Invalid value"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pvc := load()
			tc.mutate(pvc)
			coreWantErrs(t, coreCreate(res, pvc), tc.want...)
		})
	}
	bound := func() *corev1.PersistentVolumeClaim {
		pvc := load()
		coreCreate(res, pvc)
		pvc.Spec.VolumeName = "pv-data"
		pvc.Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound, AccessModes: pvc.Spec.AccessModes,
			Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("5Gi")}}
		return pvc
	}
	for _, tc := range []struct {
		name   string
		old    func() *corev1.PersistentVolumeClaim
		mutate func(*corev1.PersistentVolumeClaim)
		want   []string
	}{
		{"binder sets volumeName", func() *corev1.PersistentVolumeClaim { p := load(); coreCreate(res, p); return p },
			func(p *corev1.PersistentVolumeClaim) { p.Spec.VolumeName = "pv-data" }, nil},
		{"volumeName changes once only", bound, func(p *corev1.PersistentVolumeClaim) { p.Spec.VolumeName = "other" }, []string{"spec: Forbidden"}},
		{"bound claim grows", bound, func(p *corev1.PersistentVolumeClaim) {
			p.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("10Gi")
		}, nil},
		{"bound claim shrinks below capacity", bound, func(p *corev1.PersistentVolumeClaim) {
			p.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("1Gi")
		}, []string{"spec.resources.requests.storage: Forbidden"}},
		{"unbound claim resize", func() *corev1.PersistentVolumeClaim { p := load(); coreCreate(res, p); return p },
			func(p *corev1.PersistentVolumeClaim) {
				p.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("10Gi")
			}, []string{"spec: Forbidden"}},
		{"access modes", bound, func(p *corev1.PersistentVolumeClaim) {
			p.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
		}, []string{"spec: Forbidden"}},
		{"storage class from nil", func() *corev1.PersistentVolumeClaim {
			p := load()
			p.Spec.StorageClassName = nil
			coreCreate(res, p)
			return p
		}, func(p *corev1.PersistentVolumeClaim) { s := "standard"; p.Spec.StorageClassName = &s }, nil},
		{"storage class change", bound, func(p *corev1.PersistentVolumeClaim) { s := "other"; p.Spec.StorageClassName = &s }, []string{"spec: Forbidden"}},
		{"volume mode", bound, func(p *corev1.PersistentVolumeClaim) { b := corev1.PersistentVolumeBlock; p.Spec.VolumeMode = &b },
			[]string{"spec: Forbidden", "volumeMode: Invalid value"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := tc.old()
			pvc := old.DeepCopy()
			tc.mutate(pvc)
			coreWantErrs(t, coreUpdate(res, pvc, old), tc.want...)
		})
	}
	t.Run("rows", func(t *testing.T) {
		pending := load()
		coreCreate(res, pending)
		want := []interface{}{"data", "Pending", "", "", "", "local", "<unset>", "<unknown>", "Filesystem"}
		if got := res.Strategy.Row(pending, coreNow); !reflect.DeepEqual(got, want) {
			t.Errorf("row\n got  %#v\n want %#v", got, want)
		}
		b := bound()
		want = []interface{}{"data", "Bound", "pv-data", "5Gi", "RWO", "local", "<unset>", "<unknown>", "Filesystem"}
		if got := res.Strategy.Row(b, coreNow); !reflect.DeepEqual(got, want) {
			t.Errorf("row\n got  %#v\n want %#v", got, want)
		}
	})
}

func TestEvent(t *testing.T) {
	res := coreRes(t, "events")
	load := func() *corev1.Event {
		e := &corev1.Event{}
		coreLoad(t, "event.json", e)
		return e
	}
	t.Run("valid", func(t *testing.T) { coreWantErrs(t, coreCreate(res, load())) })
	for _, tc := range []struct {
		name   string
		mutate func(*corev1.Event)
		want   []string
	}{
		{"no involved object", func(e *corev1.Event) { e.InvolvedObject = corev1.ObjectReference{} },
			[]string{"involvedObject: Required value"}},
		{"object in another namespace", func(e *corev1.Event) { e.Namespace = "kube-system" },
			[]string{"involvedObject.namespace: Invalid value"}},
		{"namespace mismatch", func(e *corev1.Event) { e.InvolvedObject.Namespace = "other" }, []string{"involvedObject.namespace: Invalid value"}},
		{"cluster object in default", func(e *corev1.Event) { e.InvolvedObject = corev1.ObjectReference{Kind: "Node", Name: "node-1"} }, nil},
		{"new style needs reporting fields", func(e *corev1.Event) { e.EventTime = metav1.NewMicroTime(coreNow) },
			[]string{"reportingComponent: Required value", "reportingComponent: Invalid value", "reportingComponent: Invalid value",
				"reportingInstance: Required value", "action: Required value"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := load()
			tc.mutate(e)
			coreWantErrs(t, coreCreate(res, e), tc.want...)
		})
	}
	t.Run("row", func(t *testing.T) {
		e := load()
		e.FirstTimestamp = coreAgo(time.Hour)
		e.LastTimestamp = coreAgo(5 * time.Minute)
		want := []interface{}{"5m", "Normal", "Pulled", "pod/web", "spec.containers{web}", "kubelet, node-1",
			`Successfully pulled image "nginx:1.25"`, "60m", int64(3), "web.17a8c0a1b2c3d4e5"}
		if got := res.Strategy.Row(e, coreNow); !reflect.DeepEqual(got, want) {
			t.Errorf("row\n got  %#v\n want %#v", got, want)
		}
		// New-style event: times from eventTime/series, source from reporting fields.
		n := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "n"}, EventTime: metav1.NewMicroTime(coreNow.Add(-10 * time.Minute)),
			Series:              &corev1.EventSeries{Count: 7, LastObservedTime: metav1.NewMicroTime(coreNow.Add(-30 * time.Second))},
			ReportingController: "gureum-scheduler", InvolvedObject: corev1.ObjectReference{Kind: "Node"}}
		want = []interface{}{"30s", "", "", "node", "", "gureum-scheduler", "", "10m", int64(7), "n"}
		if got := res.Strategy.Row(n, coreNow); !reflect.DeepEqual(got, want) {
			t.Errorf("row\n got  %#v\n want %#v", got, want)
		}
	})
	t.Run("fields", func(t *testing.T) {
		got := res.Strategy.Fields(load())
		want := fields.Set{
			"involvedObject.kind": "Pod", "involvedObject.namespace": "default", "involvedObject.name": "web",
			"involvedObject.uid": "1234", "involvedObject.apiVersion": "v1", "involvedObject.resourceVersion": "",
			"involvedObject.fieldPath": "spec.containers{web}", "reason": "Pulled", "reportingComponent": "",
			"source": "kubelet", "type": "Normal",
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("fields %v\nwant %v", got, want)
		}
	})
	t.Run("columns", func(t *testing.T) {
		cols := res.Strategy.Columns
		if cols[0].Name != "Last Seen" || cols[len(cols)-1].Name != "Name" || cols[len(cols)-1].Format != "name" || cols[len(cols)-1].Priority != 1 {
			t.Errorf("columns %v", cols)
		}
	})
}

func TestEndpoints(t *testing.T) {
	res := coreRes(t, "endpoints")
	ep := &corev1.Endpoints{}
	coreLoad(t, "endpoints.json", ep)
	coreWantErrs(t, coreCreate(res, ep))
	for _, tc := range []struct {
		name string
		ep   *corev1.Endpoints
		want string
	}{
		{"testdata: more than three", ep, "10.244.0.5:8080,10.244.0.6:8080,10.244.0.5:8443 + 1 more..."},
		{"none", &corev1.Endpoints{}, "<none>"},
		{"headless without ports", &corev1.Endpoints{Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "10.0.0.1"}}}}}, "10.0.0.1"},
		{"ipv6", &corev1.Endpoints{Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "fd00::1"}},
			Ports: []corev1.EndpointPort{{Port: 80}}}}}, "[fd00::1]:80"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := res.Strategy.Row(tc.ep, coreNow)[1]; got != tc.want {
				t.Errorf("endpoints cell %q, want %q", got, tc.want)
			}
		})
	}
	t.Run("validation", func(t *testing.T) {
		bad := ep.DeepCopy()
		bad.Subsets[0].Addresses[0].IP = "127.0.0.1"
		bad.Subsets[0].Ports[1].Name = ""
		bad.Subsets = append(bad.Subsets, corev1.EndpointSubset{})
		coreWantErrs(t, coreCreate(res, bad), "subsets[0].addresses[0].ip: Invalid value", "subsets[0].ports[1].name: Required value",
			"subsets[1]: Required value")
	})
}

func TestServiceAccountQuotaLimitRange(t *testing.T) {
	t.Run("service account", func(t *testing.T) {
		res := coreRes(t, "serviceaccounts")
		sa := &corev1.ServiceAccount{}
		coreLoad(t, "serviceaccount.json", sa)
		coreWantErrs(t, coreCreate(res, sa))
		if got := res.Strategy.Row(sa, coreNow); !reflect.DeepEqual(got, []interface{}{"builder", int64(1), "<unknown>"}) {
			t.Errorf("row %#v", got)
		}
		sa.Name = "Builder"
		coreWantErrs(t, coreCreate(res, sa), "metadata.name: Invalid value")
	})
	t.Run("resource quota", func(t *testing.T) {
		res := coreRes(t, "resourcequotas")
		q := &corev1.ResourceQuota{}
		coreLoad(t, "resourcequota.json", q)
		coreWantErrs(t, coreCreate(res, q))
		bad := q.DeepCopy()
		bad.Spec.Hard["gpus"] = resource.MustParse("1")
		bad.Spec.Hard["pods"] = resource.MustParse("-1")
		bad.Spec.Hard["services"] = resource.MustParse("1500m")
		bad.Spec.Scopes = []corev1.ResourceQuotaScope{"Sometimes"}
		coreWantErrs(t, coreCreate(res, bad), "spec.hard[gpus]: Invalid value", "spec.hard[pods]: Invalid value",
			"spec.hard[services]: Invalid value", "spec.scopes: Invalid value")
		q.Status.Hard = q.Spec.Hard
		q.Status.Used = corev1.ResourceList{"requests.cpu": resource.MustParse("1500m"), "limits.cpu": resource.MustParse("2")}
		want := []interface{}{"compute", "<unknown>", "count/deployments.apps: 0/5, pods: 0/20, requests.cpu: 1500m/4, requests.memory: 0/8Gi", "limits.cpu: 2/8"}
		if got := res.Strategy.Row(q, coreNow); !reflect.DeepEqual(got, want) {
			t.Errorf("row\n got  %#v\n want %#v", got, want)
		}
	})
	t.Run("limit range", func(t *testing.T) {
		res := coreRes(t, "limitranges")
		lr := &corev1.LimitRange{}
		coreLoad(t, "limitrange.json", lr)
		coreWantErrs(t, coreCreate(res, lr))
		item := lr.Spec.Limits[0]
		if item.Default.Cpu().String() != "2" || item.Default.Memory().String() != "512Mi" ||
			item.DefaultRequest.Cpu().String() != "2" || item.DefaultRequest.Memory().String() != "512Mi" {
			t.Errorf("defaults: %s", coreJSON(item))
		}
		bad := &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "l", Namespace: "default"}, Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{
			{Type: corev1.LimitTypePod, Default: corev1.ResourceList{"cpu": resource.MustParse("1")}},
			{Type: corev1.LimitTypeContainer, Min: corev1.ResourceList{"cpu": resource.MustParse("2")}, Max: corev1.ResourceList{"cpu": resource.MustParse("1")}},
			{Type: "Node"},
		}}}
		coreWantErrs(t, coreCreate(res, bad), "spec.limits[0].default: Forbidden", "spec.limits[1].min[cpu]: Invalid value",
			"spec.limits[1].default[cpu]: Invalid value", "spec.limits[1].defaultRequest[cpu]: Invalid value", "spec.limits[2].type: Unsupported value")
		lr.CreationTimestamp = metav1.NewTime(time.Date(2024, 3, 4, 5, 6, 7, 0, time.UTC))
		if got := res.Strategy.Row(lr, coreNow); !reflect.DeepEqual(got, []interface{}{"limits", "2024-03-04T05:06:07Z"}) {
			t.Errorf("row %#v", got)
		}
	})
}

func TestPodTemplateAndReplicationController(t *testing.T) {
	t.Run("pod template", func(t *testing.T) {
		res := coreRes(t, "podtemplates")
		pt := &corev1.PodTemplate{}
		coreLoad(t, "podtemplate.json", pt)
		coreWantErrs(t, coreCreate(res, pt))
		spec := pt.Template.Spec
		// Templates get spec defaults but no admission defaults.
		if spec.RestartPolicy != corev1.RestartPolicyAlways || spec.ServiceAccountName != "" || spec.Tolerations != nil || spec.EnableServiceLinks != nil {
			t.Errorf("template spec: %s", coreJSON(spec))
		}
		want := []interface{}{"worker", "worker,sidecar", "busybox,envoy:v1", "app=worker"}
		if got := res.Strategy.Row(pt, coreNow); !reflect.DeepEqual(got, want) {
			t.Errorf("row %#v", got)
		}
		pt.Template.Spec.Containers[1].Name = "worker"
		coreWantErrs(t, coreCreate(res, pt), "template.spec.containers[1].name: Duplicate value")
	})
	t.Run("replication controller", func(t *testing.T) {
		res := coreRes(t, "replicationcontrollers")
		load := func() *corev1.ReplicationController {
			rc := &corev1.ReplicationController{}
			coreLoad(t, "replicationcontroller.json", rc)
			return rc
		}
		rc := load()
		coreWantErrs(t, coreCreate(res, rc))
		if *rc.Spec.Replicas != 1 || rc.Spec.Selector["app"] != "web" || rc.Labels["app"] != "web" {
			t.Errorf("rc: %s", coreJSON(rc))
		}
		rc.CreationTimestamp = coreAgo(time.Minute)
		rc.Status.Replicas, rc.Status.ReadyReplicas = 1, 1
		want := []interface{}{"web", int64(1), int64(1), int64(1), "60s", "web", "nginx:1.25", "app=web"}
		if got := res.Strategy.Row(rc, coreNow); !reflect.DeepEqual(got, want) {
			t.Errorf("row %#v", got)
		}
		if got := res.Strategy.Fields(rc); got["status.replicas"] != "1" {
			t.Errorf("fields %v", got)
		}
		for _, tc := range []struct {
			name   string
			mutate func(*corev1.ReplicationController)
			want   []string
		}{
			{"selector mismatch", func(rc *corev1.ReplicationController) { rc.Spec.Selector = map[string]string{"app": "other"} },
				[]string{"spec.template.metadata.labels: Invalid value"}},
			{"restart policy", func(rc *corev1.ReplicationController) {
				rc.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever
			},
				[]string{"spec.template.spec.restartPolicy: Unsupported value"}},
			{"negative replicas", func(rc *corev1.ReplicationController) { n := int32(-1); rc.Spec.Replicas = &n },
				[]string{"spec.replicas: Invalid value"}},
			{"no template", func(rc *corev1.ReplicationController) {
				rc.Spec.Template = nil
				rc.Spec.Selector = map[string]string{"a": "b"}
			},
				[]string{"spec.template: Required value"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				rc := load()
				tc.mutate(rc)
				coreWantErrs(t, coreCreate(res, rc), tc.want...)
			})
		}
	})
}
