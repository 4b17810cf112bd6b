package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	nodev1 "k8s.io/api/node/v1"
	policyv1 "k8s.io/api/policy/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	aggregator "k8s.io/kube-aggregator/pkg/client/clientset_generated/clientset"
	"k8s.io/utils/ptr"

	"github.com/gureum/gureum/internal/testenv"
)

// moreClient is what every typed client-go client offers for one resource
// (namespaced clients are already bound to their namespace).
type moreClient[T runtime.Object, L runtime.Object] interface {
	Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error)
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	List(ctx context.Context, opts metav1.ListOptions) (L, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
}

// moreCRUD creates obj, gets it back, finds it in a list and hands the
// created object to check; the caller deletes it (moreDelete) when done.
func moreCRUD[T runtime.Object, L runtime.Object](t *testing.T, ctx context.Context, c moreClient[T, L], obj T) T {
	t.Helper()
	created, err := c.Create(ctx, obj, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	name := any(created).(metav1.Object).GetName()
	if m := any(created).(metav1.Object); m.GetUID() == "" || m.GetResourceVersion() == "" {
		t.Errorf("created metadata: uid %q rv %q", m.GetUID(), m.GetResourceVersion())
	}
	got, err := c.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if any(got).(metav1.Object).GetUID() != any(created).(metav1.Object).GetUID() {
		t.Errorf("get returned another object")
	}
	list, err := c.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		t.Fatalf("extract list: %v", err)
	}
	found := false
	for _, it := range items {
		found = found || it.(metav1.Object).GetName() == name
	}
	if !found {
		t.Errorf("list of %d items lacks %s", len(items), name)
	}
	return created
}

func moreDelete[T runtime.Object, L runtime.Object](t *testing.T, ctx context.Context, c moreClient[T, L], name string) {
	t.Helper()
	if err := c.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := c.Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("get after delete: %v, want NotFound", err)
	}
}

func moreCSRRequest(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "alice"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func TestMoreResources(t *testing.T) {
	s := testenv.Start(t)
	ctx := wireCtx(t)
	c := s.Client
	ns := mkNamespace(t, s, "more")

	t.Run("poddisruptionbudgets", func(t *testing.T) {
		pdbs := c.PolicyV1().PodDisruptionBudgets(ns)
		min := intstr.FromString("50%")
		p := moreCRUD(t, ctx, pdbs, &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: &min, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}})
		if p.Generation != 1 {
			t.Errorf("generation = %d", p.Generation)
		}
		p.Status = policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 1, CurrentHealthy: 3, DesiredHealthy: 2, ExpectedPods: 3, ObservedGeneration: 1}
		if p, err := pdbs.UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil || p.Status.DisruptionsAllowed != 1 {
			t.Errorf("update status: %v %+v", err, p.Status)
		}
		both := intstr.FromInt32(1)
		_, err := pdbs.Create(ctx, &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "both"},
			Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: &min, MaxUnavailable: &both}}, metav1.CreateOptions{})
		wantReason(t, err, 422, metav1.StatusReasonInvalid)
		// Left in place for the kubectl checks.
	})

	t.Run("priorityclasses", func(t *testing.T) {
		pcs := c.SchedulingV1().PriorityClasses()
		for name, value := range map[string]int32{"system-node-critical": 2000001000, "system-cluster-critical": 2000000000} {
			pc, err := pcs.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("built-in %s: %v", name, err)
			}
			if pc.Value != value || pc.GlobalDefault || pc.PreemptionPolicy == nil || *pc.PreemptionPolicy != corev1.PreemptLowerPriority {
				t.Errorf("%s = %+v", name, pc)
			}
		}
		pc := moreCRUD(t, ctx, pcs, &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "batch-low"}, Value: 100})
		if pc.PreemptionPolicy == nil || *pc.PreemptionPolicy != corev1.PreemptLowerPriority {
			t.Errorf("preemptionPolicy = %v", pc.PreemptionPolicy)
		}
		pc.Value = 200
		_, err := pcs.Update(ctx, pc, metav1.UpdateOptions{})
		wantReason(t, err, 422, metav1.StatusReasonInvalid)
		_, err = pcs.Create(ctx, &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "system-mine"}, Value: 1}, metav1.CreateOptions{})
		wantReason(t, err, 422, metav1.StatusReasonInvalid)
	})

	t.Run("runtimeclasses", func(t *testing.T) {
		rcs := c.NodeV1().RuntimeClasses()
		rc := moreCRUD(t, ctx, rcs, &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "gvisor"}, Handler: "runsc"})
		rc.Handler = "kata"
		_, err := rcs.Update(ctx, rc, metav1.UpdateOptions{})
		wantReason(t, err, 422, metav1.StatusReasonInvalid)
		_, err = rcs.Create(ctx, &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "nohandler"}}, metav1.CreateOptions{})
		wantReason(t, err, 422, metav1.StatusReasonInvalid)
	})

	t.Run("certificatesigningrequests", func(t *testing.T) {
		csrs := c.CertificatesV1().CertificateSigningRequests()
		csr := moreCRUD(t, ctx, csrs, &certificatesv1.CertificateSigningRequest{ObjectMeta: metav1.ObjectMeta{Name: "alice"},
			Spec: certificatesv1.CertificateSigningRequestSpec{Request: moreCSRRequest(t), SignerName: "kubernetes.io/kube-apiserver-client",
				Usages: []certificatesv1.KeyUsage{certificatesv1.UsageClientAuth}, Username: "root", Groups: []string{"system:masters"}}})
		if csr.Spec.Username == "root" || csr.Spec.Username == "" {
			t.Errorf("requestor %q: want the authenticated user, not what the client claimed", csr.Spec.Username)
		}
		_, err := csrs.Create(ctx, &certificatesv1.CertificateSigningRequest{ObjectMeta: metav1.ObjectMeta{Name: "garbage"},
			Spec: certificatesv1.CertificateSigningRequestSpec{Request: []byte("nope"), SignerName: "example.com/x",
				Usages: []certificatesv1.KeyUsage{certificatesv1.UsageClientAuth}}}, metav1.CreateOptions{})
		wantReason(t, err, 422, metav1.StatusReasonInvalid)

		approved := csr.DeepCopy()
		approved.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateApproved,
			Status: corev1.ConditionTrue, Reason: "Test", Message: "approved by the test"}}
		// Approving through /status is refused: approval is its own path.
		_, err = csrs.UpdateStatus(ctx, approved, metav1.UpdateOptions{})
		wantReason(t, err, 422, metav1.StatusReasonInvalid)
		got, err := csrs.UpdateApproval(ctx, csr.Name, approved, metav1.UpdateOptions{})
		if err != nil || len(got.Status.Conditions) != 1 || got.Status.Conditions[0].Type != certificatesv1.CertificateApproved {
			t.Fatalf("approve: %v %+v", err, got)
		}
		denied := got.DeepCopy()
		denied.Status.Conditions = append(denied.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
			Type: certificatesv1.CertificateDenied, Status: corev1.ConditionTrue})
		_, err = csrs.UpdateStatus(ctx, denied, metav1.UpdateOptions{})
		wantReason(t, err, 422, metav1.StatusReasonInvalid)
	})

	t.Run("csi", func(t *testing.T) {
		nodes := c.StorageV1().CSINodes()
		moreCRUD(t, ctx, nodes, &storagev1.CSINode{ObjectMeta: metav1.ObjectMeta{Name: "node-1"},
			Spec: storagev1.CSINodeSpec{Drivers: []storagev1.CSINodeDriver{{Name: "ebs.csi.aws.com", NodeID: "i-1"}}}})
		moreDelete(t, ctx, nodes, "node-1")

		drivers := c.StorageV1().CSIDrivers()
		d := moreCRUD(t, ctx, drivers, &storagev1.CSIDriver{ObjectMeta: metav1.ObjectMeta{Name: "ebs.csi.aws.com"}})
		if d.Spec.AttachRequired == nil || !*d.Spec.AttachRequired || len(d.Spec.VolumeLifecycleModes) != 1 || d.Spec.FSGroupPolicy == nil {
			t.Errorf("csidriver defaults = %+v", d.Spec)
		}
		moreDelete(t, ctx, drivers, d.Name)

		vas := c.StorageV1().VolumeAttachments()
		pv := "pv-1"
		va := moreCRUD(t, ctx, vas, &storagev1.VolumeAttachment{ObjectMeta: metav1.ObjectMeta{Name: "csi-1"},
			Spec: storagev1.VolumeAttachmentSpec{Attacher: "ebs.csi.aws.com", NodeName: "node-1", Source: storagev1.VolumeAttachmentSource{PersistentVolumeName: &pv}}})
		va.Status.Attached = true
		if va, err := vas.UpdateStatus(ctx, va, metav1.UpdateOptions{}); err != nil || !va.Status.Attached {
			t.Errorf("update status: %v", err)
		}
		moreDelete(t, ctx, vas, va.Name)

		capacities := c.StorageV1().CSIStorageCapacities(ns)
		q := resource.MustParse("10Gi")
		moreCRUD(t, ctx, capacities, &storagev1.CSIStorageCapacity{ObjectMeta: metav1.ObjectMeta{Name: "cap-1"}, StorageClassName: "fast", Capacity: &q})
		moreDelete(t, ctx, capacities, "cap-1")
	})

	t.Run("apiservices", func(t *testing.T) {
		agg, err := aggregator.NewForConfig(s.Config)
		if err != nil {
			t.Fatal(err)
		}
		services := agg.ApiregistrationV1().APIServices()
		local, err := services.Get(ctx, "v1.apps", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("local APIService: %v", err)
		}
		if local.Spec.Service != nil || local.Spec.GroupPriorityMinimum != 17800 || len(local.Status.Conditions) != 1 ||
			local.Status.Conditions[0].Status != apiregistrationv1.ConditionTrue {
			t.Errorf("v1.apps = %+v", local)
		}
		for _, name := range []string{"v1.", "v2.autoscaling", "v1.autoscaling", "v1.policy", "v1.events.k8s.io", "v1.scheduling.k8s.io"} {
			if _, err := services.Get(ctx, name, metav1.GetOptions{}); err != nil {
				t.Errorf("APIService %s: %v", name, err)
			}
		}
		a := moreCRUD(t, ctx, services, &apiregistrationv1.APIService{ObjectMeta: metav1.ObjectMeta{Name: "v1alpha1.example.com"},
			Spec: apiregistrationv1.APIServiceSpec{Group: "example.com", Version: "v1alpha1", GroupPriorityMinimum: 1000, VersionPriority: 15,
				Service: &apiregistrationv1.ServiceReference{Namespace: ns, Name: "example"}, InsecureSkipTLSVerify: true}})
		if p := a.Spec.Service.Port; p == nil || *p != 443 {
			t.Errorf("service port = %v", p)
		}
		moreDelete(t, ctx, services, a.Name)
		_, err = services.Create(ctx, &apiregistrationv1.APIService{ObjectMeta: metav1.ObjectMeta{Name: "wrong"},
			Spec: apiregistrationv1.APIServiceSpec{Group: "example.com", Version: "v1", GroupPriorityMinimum: 1, VersionPriority: 1}}, metav1.CreateOptions{})
		wantReason(t, err, 422, metav1.StatusReasonInvalid)
	})

	t.Run("hpa v2 through v1", func(t *testing.T) {
		v2 := c.AutoscalingV2().HorizontalPodAutoscalers(ns)
		v1 := c.AutoscalingV1().HorizontalPodAutoscalers(ns)
		cpu, mem := int32(60), resource.MustParse("512Mi")
		h := moreCRUD(t, ctx, v2, &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
				MaxReplicas:    5,
				Metrics: []autoscalingv2.MetricSpec{
					{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceCPU,
						Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &cpu}}},
					{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceMemory,
						Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: &mem}}},
				}}})
		old, err := v1.Get(ctx, h.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("get through v1: %v", err)
		}
		if u := old.Spec.TargetCPUUtilizationPercentage; u == nil || *u != 60 || old.Spec.MaxReplicas != 5 || old.UID != h.UID ||
			!strings.Contains(old.Annotations["autoscaling.alpha.kubernetes.io/metrics"], "512Mi") {
			t.Errorf("v1 view = %+v", old)
		}
		// A v1 client changes what it understands; the memory metric it
		// cannot see survives in the annotation it wrote back.
		old.Spec.MaxReplicas = 8
		old.Spec.TargetCPUUtilizationPercentage = ptr.To(int32(70))
		if _, err := v1.Update(ctx, old, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("update through v1: %v", err)
		}
		now, err := v2.Get(ctx, h.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if now.Spec.MaxReplicas != 8 || len(now.Spec.Metrics) != 2 || now.Spec.Metrics[0].Resource.Name != corev1.ResourceMemory ||
			*now.Spec.Metrics[1].Resource.Target.AverageUtilization != 70 || len(now.Annotations) != 0 {
			t.Errorf("v2 after a v1 update = %+v", now)
		}
		list, err := v1.List(ctx, metav1.ListOptions{})
		if err != nil || len(list.Items) != 1 {
			t.Errorf("v1 list: %v %d", err, len(list.Items))
		}
		moreDelete(t, ctx, v1, h.Name)
		if _, err := v2.Get(ctx, h.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("v2 after a v1 delete: %v", err)
		}
	})

	t.Run("hpa v1 through v2", func(t *testing.T) {
		v2 := c.AutoscalingV2().HorizontalPodAutoscalers(ns)
		v1 := c.AutoscalingV1().HorizontalPodAutoscalers(ns)
		created, err := v1.Create(ctx, &autoscalingv1.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "api"},
			Spec: autoscalingv1.HorizontalPodAutoscalerSpec{ScaleTargetRef: autoscalingv1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "api"},
				MaxReplicas: 4}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create through v1: %v", err)
		}
		if u := created.Spec.TargetCPUUtilizationPercentage; u == nil || *u != 80 || created.Spec.MinReplicas == nil || *created.Spec.MinReplicas != 1 {
			t.Errorf("v1 create answered %+v", created.Spec)
		}
		h, err := v2.Get(ctx, "api", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("get through v2: %v", err)
		}
		if len(h.Spec.Metrics) != 1 || h.Spec.Metrics[0].Resource == nil || *h.Spec.Metrics[0].Resource.Target.AverageUtilization != 80 {
			t.Errorf("v2 view = %+v", h.Spec)
		}
		// Status written by the controller through v2 shows in v1.
		h.Status = autoscalingv2.HorizontalPodAutoscalerStatus{CurrentReplicas: 2, DesiredReplicas: 3,
			CurrentMetrics: []autoscalingv2.MetricStatus{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricStatus{
				Name: corev1.ResourceCPU, Current: autoscalingv2.MetricValueStatus{AverageUtilization: ptr.To(int32(95)), AverageValue: resource.NewMilliQuantity(300, resource.DecimalSI)}}}}}
		if _, err := v2.UpdateStatus(ctx, h, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("update status through v2: %v", err)
		}
		got, err := v1.Get(ctx, "api", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if u := got.Status.CurrentCPUUtilizationPercentage; u == nil || *u != 95 || got.Status.DesiredReplicas != 3 {
			t.Errorf("v1 status = %+v", got.Status)
		}
		// Server-side apply through v1 on an object last written through v2.
		out := kubectlIn(t, s, `apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata:
  name: api
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: api}
  maxReplicas: 6
  targetCPUUtilizationPercentage: 65
`, "apply", "--server-side", "--force-conflicts", "-n", ns, "-f", "-")
		wantContains(t, out, "serverside-applied")
		if h, err := v2.Get(ctx, "api", metav1.GetOptions{}); err != nil || h.Spec.MaxReplicas != 6 ||
			*h.Spec.Metrics[0].Resource.Target.AverageUtilization != 65 || h.Status.DesiredReplicas != 3 {
			t.Errorf("v2 after a v1 apply: %v %+v", err, h)
		}
		hpa := parseTable(t, kubectl(t, s, "get", "hpa.v1.autoscaling", "-n", ns))
		hpa.wantHeader(t, "NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE")
		wantCells(t, hpa.row(t, "api"), map[string]string{"REFERENCE": "Deployment/api", "TARGETS": "cpu: 95%/65%", "MAXPODS": "6", "REPLICAS": "2"})
		moreDelete(t, ctx, v2, "api")
	})

	t.Run("events both ways", func(t *testing.T) {
		core := c.CoreV1().Events(ns)
		events := c.EventsV1().Events(ns)
		w, err := events.Watch(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
		defer w.Stop()
		first := metav1.NewTime(time.Now().Add(-time.Minute).Truncate(time.Second))
		old := moreCRUD(t, ctx, core, &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "web.1"},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "web"}, Reason: "Pulled", Message: "pulled the image",
			Source: corev1.EventSource{Component: "kubelet", Host: "node-1"}, Count: 2, FirstTimestamp: first, LastTimestamp: first, Type: corev1.EventTypeNormal})
		if ev := nextNonBookmark(t, w); ev.Type != watch.Added || ev.Object.(*eventsv1.Event).Note != "pulled the image" {
			t.Errorf("watch through events.k8s.io saw %s %+v", ev.Type, ev.Object)
		}
		e, err := events.Get(ctx, old.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("get through events.k8s.io: %v", err)
		}
		if e.Note != "pulled the image" || e.Regarding.Name != "web" || e.DeprecatedSource.Component != "kubelet" || e.DeprecatedCount != 2 ||
			!e.DeprecatedFirstTimestamp.Equal(&first) || e.UID != old.UID {
			t.Errorf("events.k8s.io view = %+v", e)
		}

		at := metav1.NewMicroTime(time.Now().Truncate(time.Microsecond))
		created := moreCRUD(t, ctx, events, &eventsv1.Event{ObjectMeta: metav1.ObjectMeta{Name: "web.2"}, EventTime: at,
			ReportingController: "example.com/operator", ReportingInstance: "operator-0", Action: "Scale", Reason: "Scaled",
			Regarding: corev1.ObjectReference{Kind: "Deployment", Namespace: ns, Name: "web"}, Note: "scaled to 3", Type: corev1.EventTypeNormal})
		ce, err := core.Get(ctx, created.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("get through core: %v", err)
		}
		if ce.Message != "scaled to 3" || ce.InvolvedObject.Kind != "Deployment" || ce.ReportingController != "example.com/operator" ||
			ce.Action != "Scale" || !ce.EventTime.Equal(&at) {
			t.Errorf("core view = %+v", ce)
		}
		// A recorder counting repeats writes a series through events.k8s.io.
		created.Series = &eventsv1.EventSeries{Count: 2, LastObservedTime: metav1.NewMicroTime(time.Now().Truncate(time.Microsecond))}
		updated, err := events.Update(ctx, created, metav1.UpdateOptions{})
		if err != nil {
			t.Fatalf("update a series: %v", err)
		}
		if ce, err := core.Get(ctx, created.Name, metav1.GetOptions{}); err != nil || ce.Series == nil || ce.Series.Count != 2 {
			t.Errorf("core view of the series: %v %+v", err, ce)
		}
		updated.Note = "rewritten"
		_, err = events.Update(ctx, updated, metav1.UpdateOptions{})
		wantReason(t, err, 422, metav1.StatusReasonInvalid)
		_, err = events.Create(ctx, &eventsv1.Event{ObjectMeta: metav1.ObjectMeta{Name: "web.3"}, Reason: "Scaled",
			Regarding: corev1.ObjectReference{Kind: "Deployment", Namespace: ns, Name: "web"}, Type: corev1.EventTypeNormal}, metav1.CreateOptions{})
		wantReason(t, err, 422, metav1.StatusReasonInvalid)

		selected, err := events.List(ctx, metav1.ListOptions{FieldSelector: "regarding.kind=Deployment"})
		if err != nil || len(selected.Items) != 1 || selected.Items[0].Name != "web.2" {
			t.Errorf("field selector: %v %+v", err, selected)
		}
		moreDelete(t, ctx, events, old.Name)
		if _, err := core.Get(ctx, old.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("core after an events.k8s.io delete: %v", err)
		}
	})

	t.Run("kubectl", func(t *testing.T) {
		out := kubectl(t, s, "get", "pdb,pc,runtimeclass,csr,apiservices", "-A")
		wantContains(t, out,
			"NAMESPACE", "MIN AVAILABLE", "MAX UNAVAILABLE", "ALLOWED DISRUPTIONS", "poddisruptionbudget.policy/web",
			"GLOBAL-DEFAULT", "PREEMPTIONPOLICY", "priorityclass.scheduling.k8s.io/system-node-critical", "2000001000",
			"HANDLER", "runtimeclass.node.k8s.io/gvisor", "runsc",
			"SIGNERNAME", "REQUESTOR", "REQUESTEDDURATION", "CONDITION", "certificatesigningrequest.certificates.k8s.io/alice",
			"SERVICE", "AVAILABLE", "apiservice.apiregistration.k8s.io/v1.apps")

		pc := parseTable(t, kubectl(t, s, "get", "pc"))
		pc.wantHeader(t, "NAME", "VALUE", "GLOBAL-DEFAULT", "AGE", "PREEMPTIONPOLICY")
		wantCells(t, pc.row(t, "system-cluster-critical"), map[string]string{"VALUE": "2000000000", "GLOBAL-DEFAULT": "false",
			"PREEMPTIONPOLICY": "PreemptLowerPriority"})

		pdb := parseTable(t, kubectl(t, s, "get", "pdb", "-n", ns))
		pdb.wantHeader(t, "NAME", "MIN AVAILABLE", "MAX UNAVAILABLE", "ALLOWED DISRUPTIONS", "AGE")
		wantCells(t, pdb.row(t, "web"), map[string]string{"MIN AVAILABLE": "50%", "MAX UNAVAILABLE": "N/A", "ALLOWED DISRUPTIONS": "1", "AGE": "<age>"})

		rc := parseTable(t, kubectl(t, s, "get", "runtimeclass"))
		rc.wantHeader(t, "NAME", "HANDLER", "AGE")
		wantCells(t, rc.row(t, "gvisor"), map[string]string{"HANDLER": "runsc"})

		csr := parseTable(t, kubectl(t, s, "get", "csr"))
		csr.wantHeader(t, "NAME", "AGE", "SIGNERNAME", "REQUESTOR", "REQUESTEDDURATION", "CONDITION")
		wantCells(t, csr.row(t, "alice"), map[string]string{"SIGNERNAME": "kubernetes.io/kube-apiserver-client", "REQUESTEDDURATION": "<none>"})

		apis := parseTable(t, kubectl(t, s, "get", "apiservices"))
		apis.wantHeader(t, "NAME", "SERVICE", "AVAILABLE", "AGE")
		wantCells(t, apis.row(t, "v1.apps"), map[string]string{"SERVICE": "Local", "AVAILABLE": "True"})
		wantCells(t, apis.row(t, "v1."), map[string]string{"SERVICE": "Local", "AVAILABLE": "True"})

		ev := parseTable(t, kubectl(t, s, "get", "events.v1.events.k8s.io", "-n", ns))
		ev.wantHeader(t, "LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE")
		if len(ev.rows) != 1 || ev.rows[0]["OBJECT"] != "deployment/web" || ev.rows[0]["MESSAGE"] != "scaled to 3" {
			t.Errorf("events:\n%s", ev.raw)
		}
	})
}
