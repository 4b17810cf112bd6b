package quota

import (
	"errors"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
)

// rl builds a ResourceList from name, value pairs.
func rl(kv ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		out[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}

func container(name string, req, lim corev1.ResourceList) corev1.Container {
	return corev1.Container{Name: name, Image: "x", Resources: corev1.ResourceRequirements{Requests: req, Limits: lim}}
}

func pod(cs ...corev1.Container) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", ResourceVersion: "1"}, Spec: corev1.PodSpec{Containers: cs}}
}

func withPod(p *corev1.Pod, f func(*corev1.Pod)) *corev1.Pod {
	f(p)
	return p
}

func quota(name string, hard, used corev1.ResourceList) *corev1.ResourceQuota {
	return &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", ResourceVersion: "1"},
		Spec:       corev1.ResourceQuotaSpec{Hard: hard},
		Status:     corev1.ResourceQuotaStatus{Hard: hard, Used: used},
	}
}

func scoped(q *corev1.ResourceQuota, scopes []corev1.ResourceQuotaScope, exprs ...corev1.ScopedResourceSelectorRequirement) *corev1.ResourceQuota {
	q.Spec.Scopes = scopes
	if len(exprs) > 0 {
		q.Spec.ScopeSelector = &corev1.ScopeSelector{MatchExpressions: exprs}
	}
	return q
}

func svc(typ corev1.ServiceType, ports int, f ...func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "ns", ResourceVersion: "1"}, Spec: corev1.ServiceSpec{Type: typ}}
	for i := range ports {
		s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Port: int32(80 + i)})
	}
	for _, fn := range f {
		fn(s)
	}
	return s
}

func pvc(class *string, size string, f ...func(*corev1.PersistentVolumeClaim)) *corev1.PersistentVolumeClaim {
	c := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "ns", ResourceVersion: "1"}}
	c.Spec.StorageClassName = class
	if size != "" {
		c.Spec.Resources.Requests = rl("storage", size)
	}
	for _, fn := range f {
		fn(c)
	}
	return c
}

var (
	deployments = schema.GroupResource{Group: "apps", Resource: "deployments"}
	ingresses   = schema.GroupResource{Group: "networking.k8s.io", Resource: "ingresses"}
)

func diff(got, want corev1.ResourceList) string {
	if Equal(got, want) {
		return ""
	}
	return fmt.Sprintf("\n got %s\nwant %s", format(got), format(want))
}

func TestCountName(t *testing.T) {
	for _, tc := range []struct {
		gr   schema.GroupResource
		want corev1.ResourceName
	}{
		{Pods, "count/pods"},
		{deployments, "count/deployments.apps"},
		{schema.GroupResource{Group: "batch", Resource: "cronjobs"}, "count/cronjobs.batch"},
	} {
		if got := CountName(tc.gr); got != tc.want {
			t.Errorf("CountName(%v) = %s, want %s", tc.gr, got, tc.want)
		}
	}
}

func TestUsage(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	deleted := metav1.NewTime(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	for _, tc := range []struct {
		name string
		gr   schema.GroupResource
		obj  runtime.Object
		now  time.Time
		want corev1.ResourceList
	}{
		{"best effort pod", Pods, pod(container("a", nil, nil)), time.Time{},
			rl("count/pods", "1", "pods", "1")},
		{"pod requests and limits summed", Pods,
			pod(container("a", rl("cpu", "100m", "memory", "64Mi"), rl("cpu", "200m", "memory", "128Mi")),
				container("b", rl("cpu", "300m", "ephemeral-storage", "1Gi"), rl("ephemeral-storage", "2Gi"))),
			time.Time{},
			rl("count/pods", "1", "pods", "1", "cpu", "400m", "requests.cpu", "400m", "memory", "64Mi", "requests.memory", "64Mi",
				"limits.cpu", "200m", "limits.memory", "128Mi", "ephemeral-storage", "1Gi", "requests.ephemeral-storage", "1Gi",
				"limits.ephemeral-storage", "2Gi")},
		{"init container larger than the sum", Pods,
			withPod(pod(container("a", rl("cpu", "100m"), nil), container("b", rl("cpu", "100m"), nil)), func(p *corev1.Pod) {
				p.Spec.InitContainers = []corev1.Container{container("i", rl("cpu", "1", "memory", "1Gi"), rl("cpu", "1"))}
			}), time.Time{},
			rl("count/pods", "1", "pods", "1", "cpu", "1", "requests.cpu", "1", "memory", "1Gi", "requests.memory", "1Gi", "limits.cpu", "1")},
		{"sidecar adds to containers and to later init containers", Pods,
			withPod(pod(container("a", rl("cpu", "100m"), nil)), func(p *corev1.Pod) {
				side := container("side", rl("cpu", "200m"), nil)
				side.RestartPolicy = &always
				p.Spec.InitContainers = []corev1.Container{side, container("i", rl("cpu", "250m"), nil)}
			}), time.Time{},
			// max(100m+200m, 200m+250m)
			rl("count/pods", "1", "pods", "1", "cpu", "450m", "requests.cpu", "450m")},
		{"overhead adds to requests and to existing limits", Pods,
			withPod(pod(container("a", rl("cpu", "100m", "memory", "10Mi"), rl("cpu", "100m"))), func(p *corev1.Pod) {
				p.Spec.Overhead = rl("cpu", "50m", "memory", "5Mi")
			}), time.Time{},
			rl("count/pods", "1", "pods", "1", "cpu", "150m", "requests.cpu", "150m", "memory", "15Mi", "requests.memory", "15Mi", "limits.cpu", "150m")},
		{"pod-level resources override containers", Pods,
			withPod(pod(container("a", rl("cpu", "100m"), nil)), func(p *corev1.Pod) {
				p.Spec.Resources = &corev1.ResourceRequirements{Requests: rl("cpu", "1"), Limits: rl("memory", "1Gi")}
			}), time.Time{},
			rl("count/pods", "1", "pods", "1", "cpu", "1", "requests.cpu", "1", "limits.memory", "1Gi")},
		{"hugepages and extended resources", Pods,
			pod(container("a", rl("hugepages-2Mi", "4Mi", "example.com/dongle", "2"), rl("hugepages-2Mi", "4Mi", "example.com/dongle", "2"))),
			time.Time{},
			rl("count/pods", "1", "pods", "1", "hugepages-2Mi", "4Mi", "requests.hugepages-2Mi", "4Mi", "requests.example.com/dongle", "2")},
		{"succeeded pod counts only as an object", Pods,
			withPod(pod(container("a", rl("cpu", "1"), nil)), func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }),
			time.Time{}, rl("count/pods", "1")},
		{"failed pod counts only as an object", Pods,
			withPod(pod(container("a", rl("cpu", "1"), nil)), func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }),
			time.Time{}, rl("count/pods", "1")},
		{"deleting pod within grace still counts", Pods,
			withPod(pod(container("a", rl("cpu", "1"), nil)), func(p *corev1.Pod) {
				p.DeletionTimestamp, p.DeletionGracePeriodSeconds = &deleted, ptr.To[int64](30)
			}), deleted.Add(10 * time.Second),
			rl("count/pods", "1", "pods", "1", "cpu", "1", "requests.cpu", "1")},
		{"deleting pod past grace stops counting", Pods,
			withPod(pod(container("a", rl("cpu", "1"), nil)), func(p *corev1.Pod) {
				p.DeletionTimestamp, p.DeletionGracePeriodSeconds = &deleted, ptr.To[int64](30)
			}), deleted.Add(31 * time.Second), rl("count/pods", "1")},
		{"deleting pod with zero now counts", Pods,
			withPod(pod(container("a", rl("cpu", "1"), nil)), func(p *corev1.Pod) {
				p.DeletionTimestamp, p.DeletionGracePeriodSeconds = &deleted, ptr.To[int64](0)
			}), time.Time{}, rl("count/pods", "1", "pods", "1", "cpu", "1", "requests.cpu", "1")},
		{"cluster IP service", Services, svc(corev1.ServiceTypeClusterIP, 2), time.Time{},
			rl("count/services", "1", "services", "1", "services.nodeports", "0", "services.loadbalancers", "0")},
		{"node port service", Services, svc(corev1.ServiceTypeNodePort, 2), time.Time{},
			rl("count/services", "1", "services", "1", "services.nodeports", "2", "services.loadbalancers", "0")},
		{"load balancer service", Services, svc(corev1.ServiceTypeLoadBalancer, 3), time.Time{},
			rl("count/services", "1", "services", "1", "services.nodeports", "3", "services.loadbalancers", "1")},
		{"load balancer without node ports counts explicit ones", Services,
			svc(corev1.ServiceTypeLoadBalancer, 3, func(s *corev1.Service) {
				s.Spec.AllocateLoadBalancerNodePorts = ptr.To(false)
				s.Spec.Ports[1].NodePort = 30001
			}), time.Time{},
			rl("count/services", "1", "services", "1", "services.nodeports", "1", "services.loadbalancers", "1")},
		{"pvc without class", PersistentVolumeClaims, pvc(nil, "1Gi"), time.Time{},
			rl("count/persistentvolumeclaims", "1", "persistentvolumeclaims", "1", "requests.storage", "1Gi")},
		{"pvc with class", PersistentVolumeClaims, pvc(ptr.To("gold"), "1Gi"), time.Time{},
			rl("count/persistentvolumeclaims", "1", "persistentvolumeclaims", "1", "requests.storage", "1Gi",
				"gold.storageclass.storage.k8s.io/persistentvolumeclaims", "1", "gold.storageclass.storage.k8s.io/requests.storage", "1Gi")},
		{"pvc beta annotation wins", PersistentVolumeClaims,
			pvc(ptr.To("gold"), "", func(c *corev1.PersistentVolumeClaim) {
				c.Annotations = map[string]string{betaStorageClassAnnotation: "silver"}
			}), time.Time{},
			rl("count/persistentvolumeclaims", "1", "persistentvolumeclaims", "1", "silver.storageclass.storage.k8s.io/persistentvolumeclaims", "1")},
		{"pvc expanding counts the larger allocation", PersistentVolumeClaims,
			pvc(nil, "1Gi", func(c *corev1.PersistentVolumeClaim) { c.Status.AllocatedResources = rl("storage", "2Gi") }),
			time.Time{}, rl("count/persistentvolumeclaims", "1", "persistentvolumeclaims", "1", "requests.storage", "2Gi")},
		{"pvc smaller allocation is ignored", PersistentVolumeClaims,
			pvc(nil, "1Gi", func(c *corev1.PersistentVolumeClaim) { c.Status.AllocatedResources = rl("storage", "512Mi") }),
			time.Time{}, rl("count/persistentvolumeclaims", "1", "persistentvolumeclaims", "1", "requests.storage", "1Gi")},
		{"fractional storage rounded up", PersistentVolumeClaims, pvc(nil, "1500m"), time.Time{},
			rl("count/persistentvolumeclaims", "1", "persistentvolumeclaims", "1", "requests.storage", "2")},
		{"configmap", ConfigMaps, &corev1.ConfigMap{}, time.Time{}, rl("count/configmaps", "1", "configmaps", "1")},
		{"secret", Secrets, &corev1.Secret{}, time.Time{}, rl("count/secrets", "1", "secrets", "1")},
		{"replication controller", ReplicationControllers, &corev1.ReplicationController{}, time.Time{},
			rl("count/replicationcontrollers", "1", "replicationcontrollers", "1")},
		{"resource quota", ResourceQuotas, &corev1.ResourceQuota{}, time.Time{}, rl("count/resourcequotas", "1", "resourcequotas", "1")},
		{"deployment", deployments, nil, time.Time{}, rl("count/deployments.apps", "1")},
		{"wrong type for pods counts the object", Pods, &corev1.ConfigMap{}, time.Time{}, rl("count/pods", "1")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if d := diff(UsageAt(tc.gr, tc.obj, tc.now), tc.want); d != "" {
				t.Error(d)
			}
			if tc.now.IsZero() {
				if d := diff(Usage(tc.gr, tc.obj), tc.want); d != "" {
					t.Errorf("Usage: %s", d)
				}
			}
		})
	}
}

func TestUsageFormats(t *testing.T) {
	got := Usage(Pods, pod(container("a", rl("memory", "256Mi"), nil), container("b", rl("memory", "256Mi"), nil)))
	if m := got[corev1.ResourceRequestsMemory]; m.String() != "512Mi" {
		t.Errorf("requests.memory = %s, want 512Mi", m.String())
	}
}

func TestMatchingResources(t *testing.T) {
	all := []corev1.ResourceName{
		"pods", "count/pods", "cpu", "requests.cpu", "limits.memory", "requests.ephemeral-storage", "hugepages-2Mi",
		"requests.hugepages-1Gi", "requests.example.com/dongle", "services", "services.nodeports", "count/services",
		"persistentvolumeclaims", "requests.storage", "gold.storageclass.storage.k8s.io/requests.storage",
		"gold.storageclass.storage.k8s.io/persistentvolumeclaims", "configmaps", "count/configmaps", "secrets",
		"count/deployments.apps", "resourcequotas", "replicationcontrollers", "requests.kubernetes.io/foo",
	}
	for _, tc := range []struct {
		gr   schema.GroupResource
		want string
	}{
		{Pods, "pods count/pods cpu requests.cpu limits.memory requests.ephemeral-storage hugepages-2Mi requests.hugepages-1Gi requests.example.com/dongle"},
		{Services, "services services.nodeports count/services"},
		{PersistentVolumeClaims, "persistentvolumeclaims requests.storage gold.storageclass.storage.k8s.io/requests.storage gold.storageclass.storage.k8s.io/persistentvolumeclaims"},
		{ConfigMaps, "configmaps count/configmaps"},
		{Secrets, "secrets"},
		{deployments, "count/deployments.apps"},
		{ResourceQuotas, "resourcequotas"},
		{ReplicationControllers, "replicationcontrollers"},
		{ingresses, ""},
	} {
		got := ""
		for i, n := range MatchingResources(tc.gr, all) {
			if i > 0 {
				got += " "
			}
			got += string(n)
		}
		if got != tc.want {
			t.Errorf("MatchingResources(%v)\n got %q\nwant %q", tc.gr, got, tc.want)
		}
	}
}

func TestMatches(t *testing.T) {
	terminating := withPod(pod(container("a", rl("cpu", "1"), nil)), func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To[int64](60) })
	bestEffort := pod(container("a", nil, nil))
	zeroRequests := pod(container("a", rl("cpu", "0"), nil))
	burstable := pod(container("a", rl("memory", "1Mi"), nil))
	initOnly := withPod(pod(container("a", nil, nil)), func(p *corev1.Pod) {
		p.Spec.InitContainers = []corev1.Container{container("i", nil, rl("cpu", "1"))}
	})
	statusQOS := withPod(pod(container("a", rl("cpu", "1"), nil)), func(p *corev1.Pod) { p.Status.QOSClass = corev1.PodQOSBestEffort })
	high := withPod(pod(container("a", nil, nil)), func(p *corev1.Pod) { p.Spec.PriorityClassName = "high" })
	crossNS := withPod(pod(container("a", nil, nil)), func(p *corev1.Pod) {
		p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
			PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{Weight: 1,
				PodAffinityTerm: corev1.PodAffinityTerm{TopologyKey: "k", NamespaceSelector: &metav1.LabelSelector{}}}},
		}}
	})
	sameNS := withPod(pod(container("a", nil, nil)), func(p *corev1.Pod) {
		p.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{TopologyKey: "k"}},
		}}
	})
	pc := func(op corev1.ScopeSelectorOperator, values ...string) corev1.ScopedResourceSelectorRequirement {
		return corev1.ScopedResourceSelectorRequirement{ScopeName: corev1.ResourceQuotaScopePriorityClass, Operator: op, Values: values}
	}
	vac := func(op corev1.ScopeSelectorOperator, values ...string) corev1.ScopedResourceSelectorRequirement {
		return corev1.ScopedResourceSelectorRequirement{ScopeName: corev1.ResourceQuotaScopeVolumeAttributesClass, Operator: op, Values: values}
	}
	podQuota := func(scopes ...corev1.ResourceQuotaScope) *corev1.ResourceQuota {
		return scoped(quota("q", rl("pods", "10"), rl("pods", "0")), scopes)
	}
	selQuota := func(exprs ...corev1.ScopedResourceSelectorRequirement) *corev1.ResourceQuota {
		return scoped(quota("q", rl("pods", "10", "persistentvolumeclaims", "5"), nil), nil, exprs...)
	}
	fastPVC := pvc(nil, "1Gi", func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeAttributesClassName = ptr.To("fast") })
	for _, tc := range []struct {
		name string
		q    *corev1.ResourceQuota
		gr   schema.GroupResource
		obj  runtime.Object
		want bool
	}{
		{"no scopes takes a pod", podQuota(), Pods, bestEffort, true},
		{"quota must track the kind", quota("q", rl("services", "1"), nil), Pods, bestEffort, false},
		{"count name tracks the kind", quota("q", rl("count/deployments.apps", "1"), nil), deployments, nil, true},
		{"unprocessed quota (no status.hard) applies to nothing", &corev1.ResourceQuota{Spec: corev1.ResourceQuotaSpec{Hard: rl("pods", "1")}}, Pods, bestEffort, false},
		{"terminating", podQuota(corev1.ResourceQuotaScopeTerminating), Pods, terminating, true},
		{"terminating rejects long-running", podQuota(corev1.ResourceQuotaScopeTerminating), Pods, bestEffort, false},
		{"not terminating", podQuota(corev1.ResourceQuotaScopeNotTerminating), Pods, bestEffort, true},
		{"not terminating rejects deadline", podQuota(corev1.ResourceQuotaScopeNotTerminating), Pods, terminating, false},
		{"best effort", podQuota(corev1.ResourceQuotaScopeBestEffort), Pods, bestEffort, true},
		{"zero requests are best effort", podQuota(corev1.ResourceQuotaScopeBestEffort), Pods, zeroRequests, true},
		{"best effort rejects burstable", podQuota(corev1.ResourceQuotaScopeBestEffort), Pods, burstable, false},
		{"init container limits make it not best effort", podQuota(corev1.ResourceQuotaScopeNotBestEffort), Pods, initOnly, true},
		{"status QOS class wins", podQuota(corev1.ResourceQuotaScopeBestEffort), Pods, statusQOS, true},
		{"not best effort", podQuota(corev1.ResourceQuotaScopeNotBestEffort), Pods, terminating, true},
		{"scopes combine", podQuota(corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeBestEffort), Pods, terminating, false},
		{"priority In", selQuota(pc(corev1.ScopeSelectorOpIn, "low", "high")), Pods, high, true},
		{"priority In without class", selQuota(pc(corev1.ScopeSelectorOpIn, "high")), Pods, bestEffort, false},
		{"priority NotIn", selQuota(pc(corev1.ScopeSelectorOpNotIn, "high")), Pods, high, false},
		{"priority NotIn without class", selQuota(pc(corev1.ScopeSelectorOpNotIn, "high")), Pods, bestEffort, true},
		{"priority Exists", selQuota(pc(corev1.ScopeSelectorOpExists)), Pods, high, true},
		{"priority Exists without class", selQuota(pc(corev1.ScopeSelectorOpExists)), Pods, bestEffort, false},
		{"priority DoesNotExist", selQuota(pc(corev1.ScopeSelectorOpDoesNotExist)), Pods, bestEffort, true},
		{"priority DoesNotExist with class", selQuota(pc(corev1.ScopeSelectorOpDoesNotExist)), Pods, high, false},
		{"selector and scopes combine", scoped(selQuota(pc(corev1.ScopeSelectorOpIn, "high")), []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeBestEffort}), Pods, high, true},
		{"cross-namespace affinity", podQuota(corev1.ResourceQuotaScopeCrossNamespacePodAffinity), Pods, crossNS, true},
		{"same-namespace affinity", podQuota(corev1.ResourceQuotaScopeCrossNamespacePodAffinity), Pods, sameNS, false},
		{"pod scope excludes configmaps", scoped(quota("q", rl("configmaps", "1"), nil), []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeNotTerminating}), ConfigMaps, &corev1.ConfigMap{}, false},
		{"pod scope excludes services", scoped(quota("q", rl("services", "1"), nil), []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeBestEffort}), Services, svc("", 1), false},
		{"volume attributes class In", selQuota(vac(corev1.ScopeSelectorOpIn, "fast")), PersistentVolumeClaims, fastPVC, true},
		{"volume attributes class NotIn", selQuota(vac(corev1.ScopeSelectorOpNotIn, "fast")), PersistentVolumeClaims, fastPVC, false},
		{"volume attributes class DoesNotExist", selQuota(vac(corev1.ScopeSelectorOpDoesNotExist)), PersistentVolumeClaims, pvc(nil, "1Gi"), true},
		{"volume attributes class scope excludes pods", selQuota(vac(corev1.ScopeSelectorOpExists)), Pods, bestEffort, false},
		{"pod scope excludes pvcs", selQuota(pc(corev1.ScopeSelectorOpExists)), PersistentVolumeClaims, fastPVC, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Matches(tc.q, tc.gr, tc.obj); got != tc.want {
				t.Errorf("Matches = %t, want %t", got, tc.want)
			}
		})
	}
}

func TestTracked(t *testing.T) {
	q := &corev1.ResourceQuota{Spec: corev1.ResourceQuotaSpec{Hard: rl("pods", "2", "requests.cpu", "1", "services", "1")}}
	got := Tracked(q, rl("count/pods", "1", "pods", "1", "requests.cpu", "250m", "cpu", "250m"))
	if d := diff(got, rl("pods", "1", "requests.cpu", "250m")); d != "" {
		t.Error(d)
	}
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name  string
		q     *corev1.ResourceQuota
		delta corev1.ResourceList
		want  string
	}{
		{"fits", quota("q", rl("pods", "2"), rl("pods", "1")), rl("pods", "1"), ""},
		{"untracked resources are free", quota("q", rl("pods", "2"), rl("pods", "0")), rl("pods", "1", "cpu", "100"), ""},
		{"one over", quota("compute", rl("pods", "2"), rl("pods", "2")), rl("pods", "1", "count/pods", "1"),
			"exceeded quota: compute, requested: pods=1, used: pods=2, limited: pods=2"},
		{"several over, sorted", quota("q", rl("requests.cpu", "1", "requests.memory", "1Gi", "pods", "10"), rl("requests.cpu", "800m", "requests.memory", "512Mi", "pods", "1")),
			rl("pods", "1", "requests.memory", "1Gi", "requests.cpu", "500m"),
			"exceeded quota: q, requested: requests.cpu=500m,requests.memory=1Gi, used: requests.cpu=800m,requests.memory=512Mi, limited: requests.cpu=1,requests.memory=1Gi"},
		{"exactly at the limit fits", quota("q", rl("requests.storage", "10Gi"), rl("requests.storage", "9Gi")), rl("requests.storage", "1Gi"), ""},
		{"zero request never exceeds", quota("q", rl("services.nodeports", "0"), rl("services.nodeports", "0")), rl("services.nodeports", "0"), ""},
		{"missing used counts from zero", quota("q", rl("pods", "1"), nil), rl("pods", "2"),
			"exceeded quota: q, requested: pods=2, used: , limited: pods=1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(tc.q, tc.delta)
			got := ""
			if err != nil {
				got = err.Error()
				var ee *ExceededError
				if !errors.As(err, &ee) || !IsForbidden(err) {
					t.Errorf("error %T is not an *ExceededError", err)
				}
			}
			if got != tc.want {
				t.Errorf("\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestConstraints(t *testing.T) {
	for _, tc := range []struct {
		name string
		hard corev1.ResourceList
		gr   schema.GroupResource
		obj  runtime.Object
		want string
	}{
		{"quota without cpu or memory", rl("pods", "1", "requests.storage", "1Gi"), Pods, pod(container("a", nil, nil)), ""},
		{"requests present", rl("requests.cpu", "1", "memory", "1Gi"), Pods, pod(container("a", rl("cpu", "1", "memory", "1Mi"), nil)), ""},
		{"missing limits", rl("limits.cpu", "2", "limits.memory", "1Gi", "pods", "3"), Pods,
			withPod(pod(container("b", nil, rl("cpu", "1")), container("a", nil, nil)), func(p *corev1.Pod) {
				p.Spec.InitContainers = []corev1.Container{container("init", nil, rl("cpu", "1", "memory", "1Mi"))}
			}),
			"failed quota: q: must specify limits.cpu for: a; limits.memory for: a,b"},
		{"shorthand cpu means requests", rl("cpu", "2"), Pods, pod(container("a", nil, rl("cpu", "1"))),
			"failed quota: q: must specify cpu for: a"},
		{"ephemeral storage is not constrained", rl("requests.ephemeral-storage", "2Gi"), Pods, pod(container("a", nil, nil)), ""},
		{"services are not constrained", rl("requests.cpu", "1", "services", "1"), Services, svc("", 1), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Constraints(quota("q", tc.hard, nil), tc.gr, tc.obj)
			got := ""
			if err != nil {
				got = err.Error()
				if !IsForbidden(err) {
					t.Errorf("error %T is not forbidden", err)
				}
			}
			if got != tc.want {
				t.Errorf("\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestAdmit(t *testing.T) {
	small := pod(container("a", rl("cpu", "250m", "memory", "64Mi"), rl("cpu", "250m", "memory", "64Mi")))
	type result struct {
		name string
		used corev1.ResourceList
	}
	for _, tc := range []struct {
		name    string
		quotas  []*corev1.ResourceQuota
		gr      schema.GroupResource
		obj     runtime.Object
		old     runtime.Object
		want    []result
		wantErr string
	}{
		{"no quotas", nil, Pods, small, nil, nil, ""},
		{"pod charged to matching quotas only", []*corev1.ResourceQuota{
			quota("compute", rl("pods", "2", "requests.cpu", "1"), rl("pods", "1", "requests.cpu", "250m")),
			quota("objects", rl("configmaps", "3"), rl("configmaps", "0")),
			scoped(quota("besteffort", rl("pods", "5"), rl("pods", "0")), []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeBestEffort}),
		}, Pods, small, nil,
			[]result{{"compute", rl("pods", "2", "requests.cpu", "500m")}}, ""},
		{"pod over the limit", []*corev1.ResourceQuota{
			quota("compute", rl("pods", "1"), rl("pods", "1")),
		}, Pods, small, nil, nil, "exceeded quota: compute, requested: pods=1, used: pods=1, limited: pods=1"},
		{"second quota over the limit refuses everything", []*corev1.ResourceQuota{
			quota("a", rl("pods", "5"), rl("pods", "1")),
			quota("b", rl("requests.memory", "100Mi"), rl("requests.memory", "50Mi")),
		}, Pods, small, nil, nil, "exceeded quota: b, requested: requests.memory=64Mi, used: requests.memory=50Mi, limited: requests.memory=100Mi"},
		{"constraints before limits", []*corev1.ResourceQuota{
			quota("a", rl("pods", "1"), rl("pods", "1")),
			quota("b", rl("limits.cpu", "4"), rl("limits.cpu", "0")),
		}, Pods, pod(container("c", rl("cpu", "1"), nil)), nil, nil, "failed quota: b: must specify limits.cpu for: c"},
		{"status unknown", []*corev1.ResourceQuota{
			quota("fresh", rl("pods", "2", "requests.cpu", "1", "configmaps", "1"), rl("pods", "0")),
		}, Pods, small, nil, nil, "status unknown for quota: fresh, resources: pods,requests.cpu"},
		{"terminal pod costs only its count", []*corev1.ResourceQuota{
			quota("q", rl("pods", "1", "count/pods", "5"), rl("pods", "1", "count/pods", "1")),
		}, Pods, withPod(pod(container("a", nil, nil)), func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }), nil,
			[]result{{"q", rl("pods", "1", "count/pods", "2")}}, ""},
		{"deployment count", []*corev1.ResourceQuota{
			quota("q", rl("count/deployments.apps", "1"), rl("count/deployments.apps", "1")),
		}, deployments, nil, nil, nil, "exceeded quota: q, requested: count/deployments.apps=1, used: count/deployments.apps=1, limited: count/deployments.apps=1"},
		{"configmap update is free", []*corev1.ResourceQuota{
			quota("q", rl("configmaps", "1"), rl("configmaps", "1")),
		}, ConfigMaps, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{ResourceVersion: "2"}}, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{ResourceVersion: "1"}}, nil, ""},
		{"service turned NodePort pays its node ports", []*corev1.ResourceQuota{
			quota("q", rl("services", "1", "services.nodeports", "3"), rl("services", "1", "services.nodeports", "2")),
		}, Services, svc(corev1.ServiceTypeNodePort, 2), svc(corev1.ServiceTypeClusterIP, 2), nil,
			"exceeded quota: q, requested: services.nodeports=2, used: services.nodeports=2, limited: services.nodeports=3"},
		{"service turned NodePort within limit", []*corev1.ResourceQuota{
			quota("q", rl("services", "1", "services.nodeports", "3"), rl("services", "1", "services.nodeports", "0")),
		}, Services, svc(corev1.ServiceTypeNodePort, 2), svc(corev1.ServiceTypeClusterIP, 2),
			[]result{{"q", rl("services", "1", "services.nodeports", "2")}}, ""},
		{"service shrinking frees nothing at admission", []*corev1.ResourceQuota{
			quota("q", rl("services", "1", "services.nodeports", "3"), rl("services", "1", "services.nodeports", "2")),
		}, Services, svc(corev1.ServiceTypeClusterIP, 2), svc(corev1.ServiceTypeNodePort, 2), nil, ""},
		{"update of an unstored object is a create", []*corev1.ResourceQuota{
			quota("q", rl("services", "1"), rl("services", "1")),
		}, Services, svc("", 1), svc("", 1, func(s *corev1.Service) { s.ResourceVersion = "" }), nil,
			"exceeded quota: q, requested: services=1, used: services=1, limited: services=1"},
		{"pvc expansion", []*corev1.ResourceQuota{
			quota("q", rl("requests.storage", "10Gi", "persistentvolumeclaims", "2"), rl("requests.storage", "5Gi", "persistentvolumeclaims", "1")),
		}, PersistentVolumeClaims, pvc(nil, "8Gi"), pvc(nil, "5Gi"),
			[]result{{"q", rl("requests.storage", "8Gi", "persistentvolumeclaims", "1")}}, ""},
		{"plain pod update is not charged", []*corev1.ResourceQuota{
			scoped(quota("q", rl("pods", "1"), rl("pods", "1")), []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeTerminating}),
		}, Pods, withPod(pod(container("a", nil, nil)), func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To[int64](5) }), pod(container("a", nil, nil)), nil, ""},
		{"pod resize pays the growth", []*corev1.ResourceQuota{
			quota("q", rl("requests.cpu", "1", "pods", "3"), rl("requests.cpu", "250m", "pods", "1")),
		}, Pods, pod(container("a", rl("cpu", "1500m"), nil)), pod(container("a", rl("cpu", "250m"), nil)), nil,
			"exceeded quota: q, requested: requests.cpu=1250m, used: requests.cpu=250m, limited: requests.cpu=1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := make([]*corev1.ResourceQuota, len(tc.quotas))
			for i, q := range tc.quotas {
				before[i] = q.DeepCopy()
			}
			got, err := Admit(tc.quotas, tc.gr, tc.obj, tc.old)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
				if !IsForbidden(fmt.Errorf("admit: %w", err)) {
					t.Errorf("error %T is not forbidden", err)
				}
			}
			if gotErr != tc.wantErr {
				t.Fatalf("error\n got %q\nwant %q", gotErr, tc.wantErr)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d updated quotas, want %d", len(got), len(tc.want))
			}
			for i, w := range tc.want {
				if got[i].Name != w.name {
					t.Errorf("quota %d = %s, want %s", i, got[i].Name, w.name)
				}
				if d := diff(got[i].Status.Used, w.used); d != "" {
					t.Errorf("%s used: %s", w.name, d)
				}
			}
			for i, q := range tc.quotas {
				if !Equal(q.Status.Used, before[i].Status.Used) {
					t.Errorf("Admit changed its input quota %s", q.Name)
				}
			}
		})
	}
}

func TestAdmitNegative(t *testing.T) {
	_, err := Admit([]*corev1.ResourceQuota{quota("q", rl("requests.cpu", "1"), rl("requests.cpu", "0"))}, Pods,
		pod(container("a", rl("cpu", "-1", "memory", "-1"), nil)), nil)
	if err == nil || err.Error() != "quota usage is negative for resource(s): cpu,memory,requests.cpu,requests.memory" || !IsForbidden(err) {
		t.Fatalf("got %v", err)
	}
}

func TestIsForbidden(t *testing.T) {
	if IsForbidden(errors.New("other")) || IsForbidden(nil) {
		t.Error("plain errors are not forbidden")
	}
	if !IsForbidden(fmt.Errorf("x: %w", &StatusUnknownError{Quota: "q"})) {
		t.Error("wrapped StatusUnknownError is forbidden")
	}
}

func TestUsed(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	gone := metav1.NewTime(now.Add(-time.Hour))
	pods := []runtime.Object{
		pod(container("a", rl("cpu", "250m"), rl("cpu", "500m"))),
		pod(container("a", nil, nil)),
		withPod(pod(container("a", rl("cpu", "1"), nil)), func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }),
		withPod(pod(container("a", rl("cpu", "1"), nil)), func(p *corev1.Pod) {
			p.DeletionTimestamp, p.DeletionGracePeriodSeconds = &gone, ptr.To[int64](30)
		}),
		withPod(pod(container("a", rl("cpu", "100m"), nil)), func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To[int64](10) }),
	}
	objects := map[schema.GroupResource][]runtime.Object{
		Pods:           pods,
		Services:       {svc(corev1.ServiceTypeNodePort, 2), svc(corev1.ServiceTypeClusterIP, 1)},
		ConfigMaps:     {&corev1.ConfigMap{}, &corev1.ConfigMap{}},
		ResourceQuotas: {&corev1.ResourceQuota{}},
		deployments:    {},
	}
	for _, tc := range []struct {
		name string
		q    *corev1.ResourceQuota
		want corev1.ResourceList
	}{
		{"counts what spec.hard names", &corev1.ResourceQuota{Spec: corev1.ResourceQuotaSpec{Hard: rl(
			"pods", "10", "count/pods", "10", "requests.cpu", "4", "limits.cpu", "4", "services", "5", "services.nodeports", "5",
			"configmaps", "5", "resourcequotas", "1", "count/deployments.apps", "1", "requests.storage", "1Gi")}},
			rl("pods", "3", "count/pods", "5", "requests.cpu", "350m", "limits.cpu", "500m", "services", "2", "services.nodeports", "2",
				"configmaps", "2", "resourcequotas", "1", "count/deployments.apps", "0")},
		{"scopes select pods and exclude other kinds", scoped(&corev1.ResourceQuota{Spec: corev1.ResourceQuotaSpec{Hard: rl(
			"pods", "10", "requests.cpu", "4", "configmaps", "5")}}, []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeNotTerminating}),
			rl("pods", "2", "requests.cpu", "250m", "configmaps", "0")},
		{"best effort scope", scoped(&corev1.ResourceQuota{Spec: corev1.ResourceQuotaSpec{Hard: rl("pods", "10")}},
			[]corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeBestEffort}), rl("pods", "1")},
		{"untracked resources keep their value, dropped ones go", &corev1.ResourceQuota{
			Spec:   corev1.ResourceQuotaSpec{Hard: rl("count/ingresses.networking.k8s.io", "3", "count/jobs.batch", "2", "pods", "1")},
			Status: corev1.ResourceQuotaStatus{Used: rl("count/ingresses.networking.k8s.io", "2", "secrets", "4", "pods", "9")},
		}, rl("count/ingresses.networking.k8s.io", "2", "pods", "3")},
		{"empty hard", &corev1.ResourceQuota{}, rl()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if d := diff(Used(tc.q, objects, now), tc.want); d != "" {
				t.Error(d)
			}
		})
	}
}

func TestUsageChanged(t *testing.T) {
	base := pod(container("a", rl("cpu", "1"), nil))
	for _, tc := range []struct {
		name     string
		gr       schema.GroupResource
		old, cur runtime.Object
		want     bool
	}{
		{"pod status only", Pods, base, withPod(base.DeepCopy(), func(p *corev1.Pod) { p.Status.PodIP = "10.0.0.1" }), false},
		{"pod finished", Pods, base, withPod(base.DeepCopy(), func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }), true},
		{"pod resized", Pods, base, pod(container("a", rl("cpu", "2"), nil)), true},
		{"pod gained a deadline", Pods, base, withPod(base.DeepCopy(), func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To[int64](1) }), true},
		{"service type", Services, svc("", 1), svc(corev1.ServiceTypeLoadBalancer, 1), true},
		{"service labels", Services, svc("", 1), svc("", 1, func(s *corev1.Service) { s.Labels = map[string]string{"a": "b"} }), false},
		{"pvc class change", PersistentVolumeClaims, pvc(nil, "1Gi"), pvc(nil, "1Gi", func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeAttributesClassName = ptr.To("x") }), true},
		{"configmap", ConfigMaps, &corev1.ConfigMap{}, &corev1.ConfigMap{Data: map[string]string{"a": "b"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := UsageChanged(tc.gr, tc.old, tc.cur, time.Time{}); got != tc.want {
				t.Errorf("UsageChanged = %t, want %t", got, tc.want)
			}
		})
	}
}
