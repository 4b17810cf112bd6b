package api

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
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
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
)

// --- resources ------------------------------------------------------------------------

func TestMoreResourcesServed(t *testing.T) {
	reg := NewRegistry(DefaultResources())
	for _, tc := range []struct {
		gvr          schema.GroupVersionResource
		kind         string
		namespaced   bool
		shortNames   string
		categories   string
		subresources string
		storageKey   string
	}{
		{podDisruptionBudgetsGVR, "PodDisruptionBudget", true, "pdb", "", "status", "/registry/policy/poddisruptionbudgets"},
		{priorityClassesGVR, "PriorityClass", false, "pc", "", "", "/registry/scheduling.k8s.io/priorityclasses"},
		{runtimeClassesGVR, "RuntimeClass", false, "", "", "", "/registry/node.k8s.io/runtimeclasses"},
		{csrsGVR, "CertificateSigningRequest", false, "csr", "", "approval,status", "/registry/certificates.k8s.io/certificatesigningrequests"},
		{csiNodesGVR, "CSINode", false, "", "", "", "/registry/storage.k8s.io/csinodes"},
		{csiDriversGVR, "CSIDriver", false, "", "", "", "/registry/storage.k8s.io/csidrivers"},
		{volumeAttachmentsGVR, "VolumeAttachment", false, "", "", "status", "/registry/storage.k8s.io/volumeattachments"},
		{csiStorageCapacitiesGVR, "CSIStorageCapacity", true, "", "", "", "/registry/storage.k8s.io/csistoragecapacities"},
		{apiServicesGVR, "APIService", false, "", "api-extensions", "status", "/registry/apiregistration.k8s.io/apiservices"},
		// The second views share the storage of the kinds they show.
		{hpaV1GVR, "HorizontalPodAutoscaler", true, "hpa", "all", "status", "/registry/autoscaling/horizontalpodautoscalers"},
		{eventsV1GVR, "Event", true, "ev", "", "", "/registry/events"},
	} {
		t.Run(tc.gvr.String(), func(t *testing.T) {
			res, ok := reg.Lookup(tc.gvr)
			if !ok {
				t.Fatalf("%s is not served", tc.gvr)
			}
			var subs []string
			for _, s := range res.Subresources {
				subs = append(subs, s.Name)
			}
			if res.Kind != tc.kind || res.Namespaced != tc.namespaced || strings.Join(res.ShortNames, ",") != tc.shortNames ||
				strings.Join(res.Categories, ",") != tc.categories || strings.Join(subs, ",") != tc.subresources {
				t.Errorf("resource = %+v", res)
			}
			if res.Singular != strings.ToLower(tc.kind) || len(res.Verbs) != len(verbsAll) {
				t.Errorf("singular %q verbs %v", res.Singular, res.Verbs)
			}
			if got := res.StorageKey(); got != tc.storageKey {
				t.Errorf("storage key = %q, want %q", got, tc.storageKey)
			}
			_ = res.New()
			_ = res.NewList()
		})
	}
}

func TestMoreGroupsInKubernetesOrder(t *testing.T) {
	var got []string
	for _, gv := range NewRegistry(DefaultResources()).GroupVersions() {
		got = append(got, gv.String())
	}
	joined := " " + strings.Join(got, " ") + " "
	order := []string{" v1 ", " apiregistration.k8s.io/v1 ", " apps/v1 ", " events.k8s.io/v1 ", " autoscaling/v2 ",
		" autoscaling/v1 ", " batch/v1 ", " certificates.k8s.io/v1 ", " networking.k8s.io/v1 ", " policy/v1 ",
		" storage.k8s.io/v1 ", " scheduling.k8s.io/v1 ", " coordination.k8s.io/v1 ", " node.k8s.io/v1 ", " discovery.k8s.io/v1 "}
	last := -1
	for _, gv := range order {
		i := strings.Index(joined, gv)
		if i < 0 || i < last {
			t.Fatalf("%s missing or out of order in %v", gv, got)
		}
		last = i
	}
}

// --- PodDisruptionBudget ---------------------------------------------------------------

func morePDB() *policyv1.PodDisruptionBudget {
	min := intstr.FromInt32(2)
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", CreationTimestamp: wlCreated},
		Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: &min, Selector: &metav1.LabelSelector{MatchLabels: wlAppLabels}},
	}
}

func TestPodDisruptionBudgetValidation(t *testing.T) {
	s := wlStrategy(t, policyv1.SchemeGroupVersion, "poddisruptionbudgets")
	pct := func(v string) *intstr.IntOrString { x := intstr.FromString(v); return &x }
	runAdmCases(t, s, morePDB, []admCase[*policyv1.PodDisruptionBudget]{
		{name: "valid"},
		{name: "maxUnavailable percent", mutate: func(p *policyv1.PodDisruptionBudget) { p.Spec.MinAvailable, p.Spec.MaxUnavailable = nil, pct("25%") }},
		{name: "no selector selects nothing but is valid", mutate: func(p *policyv1.PodDisruptionBudget) { p.Spec.Selector = nil }},
		{name: "both set", mutate: func(p *policyv1.PodDisruptionBudget) { p.Spec.MaxUnavailable = pct("10%") },
			typ: field.ErrorTypeInvalid, field: "spec", detail: "cannot be both set"},
		{name: "negative", mutate: func(p *policyv1.PodDisruptionBudget) { n := intstr.FromInt32(-1); p.Spec.MinAvailable = &n },
			typ: field.ErrorTypeInvalid, field: "spec.minAvailable"},
		{name: "over 100%", mutate: func(p *policyv1.PodDisruptionBudget) { p.Spec.MinAvailable = pct("150%") },
			typ: field.ErrorTypeInvalid, field: "spec.minAvailable", detail: "100%"},
		{name: "not a percent", mutate: func(p *policyv1.PodDisruptionBudget) { p.Spec.MinAvailable, p.Spec.MaxUnavailable = nil, pct("half") },
			typ: field.ErrorTypeInvalid, field: "spec.maxUnavailable"},
		{name: "bad selector", mutate: func(p *policyv1.PodDisruptionBudget) {
			p.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Near"}}}
		}, typ: field.ErrorTypeInvalid, field: "spec.selector.matchExpressions[0].operator"},
		{name: "eviction policy", mutate: func(p *policyv1.PodDisruptionBudget) {
			pol := policyv1.UnhealthyPodEvictionPolicyType("Sometimes")
			p.Spec.UnhealthyPodEvictionPolicy = &pol
		}, typ: field.ErrorTypeNotSupported, field: "spec.unhealthyPodEvictionPolicy"},
		{name: "AlwaysAllow", mutate: func(p *policyv1.PodDisruptionBudget) {
			pol := policyv1.AlwaysAllow
			p.Spec.UnhealthyPodEvictionPolicy = &pol
		}},
		{name: "negative status", mutate: func(p *policyv1.PodDisruptionBudget) { p.Status.DisruptionsAllowed = -1 },
			typ: field.ErrorTypeInvalid, field: "status.disruptionsAllowed"},
		{name: "namespace required", mutate: func(p *policyv1.PodDisruptionBudget) { p.Namespace = "" },
			typ: field.ErrorTypeRequired, field: "metadata.namespace"},
	})
}

func TestPodDisruptionBudgetRowAndGeneration(t *testing.T) {
	s := wlStrategy(t, policyv1.SchemeGroupVersion, "poddisruptionbudgets")
	wlCheckColumns(t, s, "Name Min Available Max Unavailable Allowed Disruptions Age", "")
	p := morePDB()
	p.Status.DisruptionsAllowed = 1
	wlWantRow(t, s, p, []interface{}{"web", "2", "N/A", int64(1), "5m"})
	p.Spec.MinAvailable, p.Spec.MaxUnavailable = nil, &intstr.IntOrString{Type: intstr.String, StrVal: "30%"}
	wlWantRow(t, s, p, []interface{}{"web", "N/A", "30%", int64(1), "5m"})

	old := morePDB()
	s.PrepareForCreate(old)
	if old.Generation != 1 {
		t.Errorf("generation on create = %d", old.Generation)
	}
	relabeled := old.DeepCopy()
	relabeled.Labels = map[string]string{"a": "b"}
	s.PrepareForUpdate(relabeled, old)
	if relabeled.Generation != 1 {
		t.Errorf("generation after a label change = %d", relabeled.Generation)
	}
	changed := old.DeepCopy()
	changed.Spec.MinAvailable = &intstr.IntOrString{IntVal: 3}
	s.PrepareForUpdate(changed, old)
	if changed.Generation != 2 {
		t.Errorf("generation after a spec change = %d", changed.Generation)
	}
}

// --- PriorityClass ---------------------------------------------------------------------

func morePriorityClass() *schedulingv1.PriorityClass {
	return &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "batch-low", CreationTimestamp: wlCreated}, Value: 100}
}

func TestPriorityClassDefaultsAndValidation(t *testing.T) {
	s := wlStrategy(t, schedulingv1.SchemeGroupVersion, "priorityclasses")
	pc := wlDefaulted(s, morePriorityClass())
	if pc.PreemptionPolicy == nil || *pc.PreemptionPolicy != corev1.PreemptLowerPriority {
		t.Errorf("preemptionPolicy = %v", pc.PreemptionPolicy)
	}
	runAdmCases(t, s, morePriorityClass, []admCase[*schedulingv1.PriorityClass]{
		{name: "valid"},
		{name: "negative value is fine", mutate: func(pc *schedulingv1.PriorityClass) { pc.Value = -5 }},
		{name: "Never", mutate: func(pc *schedulingv1.PriorityClass) { p := corev1.PreemptNever; pc.PreemptionPolicy = &p }},
		{name: "too high", mutate: func(pc *schedulingv1.PriorityClass) { pc.Value = highestUserDefinablePriority + 1 },
			typ: field.ErrorTypeForbidden, field: "value", detail: "maximum allowed value"},
		{name: "reserved prefix", mutate: func(pc *schedulingv1.PriorityClass) { pc.Name = "system-mine" },
			typ: field.ErrorTypeForbidden, field: "metadata.name", detail: "not a known system priority class"},
		{name: "built-in with another value", mutate: func(pc *schedulingv1.PriorityClass) { pc.Name = "system-node-critical" },
			typ: field.ErrorTypeForbidden, field: "metadata.name", detail: "must be 2000001000"},
		{name: "preemption policy", mutate: func(pc *schedulingv1.PriorityClass) { p := corev1.PreemptionPolicy("Always"); pc.PreemptionPolicy = &p },
			typ: field.ErrorTypeNotSupported, field: "preemptionPolicy"},
	})
	for _, sys := range SystemPriorityClasses() {
		wlWantNoErrors(t, s.Validate(wlDefaulted(s, sys)))
	}
	if got := SystemPriorityClasses(); got[0].Name != "system-node-critical" || got[0].Value != 2000001000 ||
		got[1].Name != "system-cluster-critical" || got[1].Value != 2000000000 {
		t.Errorf("system classes = %v, %v", got[0], got[1])
	}

	old := wlDefaulted(s, morePriorityClass())
	changed := old.DeepCopy()
	changed.Value = 200
	never := corev1.PreemptNever
	changed.PreemptionPolicy = &never
	errs := s.ValidateUpdate(changed, old)
	wlWantError(t, errs, field.ErrorTypeForbidden, "value", "may not be changed")
	wlWantError(t, errs, field.ErrorTypeInvalid, "preemptionPolicy", "immutable")
	described := old.DeepCopy()
	described.Description = "for batch jobs"
	described.GlobalDefault = true
	wlWantNoErrors(t, s.ValidateUpdate(described, old))

	wlCheckColumns(t, s, "Name Value Global-Default Age PreemptionPolicy", "")
	wlWantRow(t, s, described, []interface{}{"batch-low", int64(100), true, "5m", "PreemptLowerPriority"})
}

// --- RuntimeClass ----------------------------------------------------------------------

func moreRuntimeClass() *nodev1.RuntimeClass {
	return &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "gvisor", CreationTimestamp: wlCreated}, Handler: "runsc"}
}

func TestRuntimeClassValidation(t *testing.T) {
	s := wlStrategy(t, nodev1.SchemeGroupVersion, "runtimeclasses")
	runAdmCases(t, s, moreRuntimeClass, []admCase[*nodev1.RuntimeClass]{
		{name: "valid"},
		{name: "overhead and scheduling", mutate: func(rc *nodev1.RuntimeClass) {
			rc.Overhead = &nodev1.Overhead{PodFixed: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")}}
			rc.Scheduling = &nodev1.Scheduling{NodeSelector: map[string]string{"sandbox": "gvisor"},
				Tolerations: []corev1.Toleration{{Key: "sandbox", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}}
		}},
		{name: "handler required", mutate: func(rc *nodev1.RuntimeClass) { rc.Handler = "" },
			typ: field.ErrorTypeRequired, field: "handler"},
		{name: "handler is a DNS label", mutate: func(rc *nodev1.RuntimeClass) { rc.Handler = "run.sc" },
			typ: field.ErrorTypeInvalid, field: "handler"},
		{name: "negative overhead", mutate: func(rc *nodev1.RuntimeClass) {
			rc.Overhead = &nodev1.Overhead{PodFixed: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("-1Mi")}}
		}, typ: field.ErrorTypeInvalid, field: "overhead.podFixed[memory]"},
		{name: "bad node selector", mutate: func(rc *nodev1.RuntimeClass) {
			rc.Scheduling = &nodev1.Scheduling{NodeSelector: map[string]string{"bad key!": "x"}}
		}, typ: field.ErrorTypeInvalid, field: "scheduling.nodeSelector"},
		{name: "duplicate toleration", mutate: func(rc *nodev1.RuntimeClass) {
			tol := corev1.Toleration{Key: "sandbox", Operator: corev1.TolerationOpExists}
			rc.Scheduling = &nodev1.Scheduling{Tolerations: []corev1.Toleration{tol, tol}}
		}, typ: field.ErrorTypeDuplicate, field: "scheduling.tolerations[1]"},
	})
	old := moreRuntimeClass()
	changed := old.DeepCopy()
	changed.Handler = "kata"
	wlWantError(t, s.ValidateUpdate(changed, old), field.ErrorTypeInvalid, "handler", "immutable")
	wlCheckColumns(t, s, "Name Handler Age", "")
	wlWantRow(t, s, old, []interface{}{"gvisor", "runsc", "5m"})
}

// --- CertificateSigningRequest ------------------------------------------------------------

func moreKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func moreCSRRequest(t *testing.T) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "alice", Organization: []string{"dev"}}}, moreKey(t))
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func moreCertificate(t *testing.T) []byte {
	t.Helper()
	key := moreKey(t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "alice"},
		NotBefore: wlTestNow, NotAfter: wlTestNow.Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func moreCSR(t *testing.T) func() *certificatesv1.CertificateSigningRequest {
	req := moreCSRRequest(t)
	return func() *certificatesv1.CertificateSigningRequest {
		return &certificatesv1.CertificateSigningRequest{
			ObjectMeta: metav1.ObjectMeta{Name: "alice", CreationTimestamp: wlCreated},
			Spec: certificatesv1.CertificateSigningRequestSpec{Request: req, SignerName: "kubernetes.io/kube-apiserver-client",
				Usages: []certificatesv1.KeyUsage{certificatesv1.UsageClientAuth}},
		}
	}
}

func moreApproved() certificatesv1.CertificateSigningRequestCondition {
	return certificatesv1.CertificateSigningRequestCondition{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "ByAdmin"}
}

func TestCSRValidation(t *testing.T) {
	s := wlStrategy(t, certificatesv1.SchemeGroupVersion, "certificatesigningrequests")
	fresh := moreCSR(t)
	cert := moreCertificate(t)
	type csr = *certificatesv1.CertificateSigningRequest
	runAdmCases(t, s, fresh, []admCase[csr]{
		{name: "valid"},
		{name: "with certificate", mutate: func(c csr) { c.Status.Certificate = cert }},
		{name: "not a request", mutate: func(c csr) { c.Spec.Request = []byte("hello") },
			typ: field.ErrorTypeInvalid, field: "spec.request", detail: "CERTIFICATE REQUEST"},
		{name: "bad signature", mutate: func(c csr) {
			block, _ := pem.Decode(c.Spec.Request)
			block.Bytes[len(block.Bytes)-3] ^= 0xff
			c.Spec.Request = pem.EncodeToMemory(block)
		}, typ: field.ErrorTypeInvalid, field: "spec.request"},
		{name: "usages required", mutate: func(c csr) { c.Spec.Usages = nil },
			typ: field.ErrorTypeRequired, field: "spec.usages"},
		{name: "unknown usage", mutate: func(c csr) { c.Spec.Usages = append(c.Spec.Usages, "mind control") },
			typ: field.ErrorTypeNotSupported, field: "spec.usages[1]"},
		{name: "duplicate usage", mutate: func(c csr) { c.Spec.Usages = append(c.Spec.Usages, certificatesv1.UsageClientAuth) },
			typ: field.ErrorTypeDuplicate, field: "spec.usages[1]"},
		{name: "signer required", mutate: func(c csr) { c.Spec.SignerName = "" },
			typ: field.ErrorTypeRequired, field: "spec.signerName"},
		{name: "signer without path", mutate: func(c csr) { c.Spec.SignerName = "example.com" },
			typ: field.ErrorTypeInvalid, field: "spec.signerName", detail: "example.com/signer-name"},
		{name: "signer domain needs a dot", mutate: func(c csr) { c.Spec.SignerName = "example/signer" },
			typ: field.ErrorTypeInvalid, field: "spec.signerName", detail: "two segments"},
		{name: "legacy signer", mutate: func(c csr) { c.Spec.SignerName = legacyUnknownSignerName },
			typ: field.ErrorTypeInvalid, field: "spec.signerName", detail: "legacy"},
		{name: "short expiration", mutate: func(c csr) { e := int32(60); c.Spec.ExpirationSeconds = &e },
			typ: field.ErrorTypeInvalid, field: "spec.expirationSeconds"},
		{name: "approved and denied", mutate: func(c csr) {
			c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{moreApproved(),
				{Type: certificatesv1.CertificateDenied, Status: corev1.ConditionTrue}}
		}, typ: field.ErrorTypeInvalid, field: "status.conditions[1].type", detail: "mutually exclusive"},
		{name: "approved false", mutate: func(c csr) {
			c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionFalse}}
		}, typ: field.ErrorTypeNotSupported, field: "status.conditions[0].status"},
		{name: "duplicate condition", mutate: func(c csr) {
			c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{moreApproved(), moreApproved()}
		}, typ: field.ErrorTypeDuplicate, field: "status.conditions[1].type"},
		{name: "garbage certificate", mutate: func(c csr) { c.Status.Certificate = []byte("not a certificate") },
			typ: field.ErrorTypeInvalid, field: "status.certificate", detail: "at least one CERTIFICATE"},
	})
}

func TestCSRWritePaths(t *testing.T) {
	s := wlStrategy(t, certificatesv1.SchemeGroupVersion, "certificatesigningrequests")
	fresh := moreCSR(t)
	cert := moreCertificate(t)

	c := fresh()
	c.Spec.Username, c.Spec.Groups = "root", []string{"system:masters"}
	s.PrepareForCreate(c)
	if c.Spec.Username != "" || c.Spec.Groups != nil {
		t.Errorf("client-claimed requestor kept: %+v", c.Spec)
	}
	FillCSRRequestor(c, "alice", "uid-1", []string{"dev", "system:authenticated"}, map[string][]string{"scopes": {"a"}})
	if c.Spec.Username != "alice" || c.Spec.UID != "uid-1" || len(c.Spec.Groups) != 2 || c.Spec.Extra["scopes"][0] != "a" {
		t.Errorf("requestor = %+v", c.Spec)
	}

	old := c.DeepCopy()
	edited := old.DeepCopy()
	edited.Spec.SignerName = "example.com/other"
	edited.Labels = map[string]string{"team": "dev"}
	s.PrepareForUpdate(edited, old)
	if edited.Spec.SignerName != old.Spec.SignerName || edited.Labels["team"] != "dev" {
		t.Errorf("update kept %q, labels %v", edited.Spec.SignerName, edited.Labels)
	}

	// Approval: only conditions change, and only there may Approved appear.
	approved := old.DeepCopy()
	approved.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{moreApproved()}
	approved.Status.Certificate = cert
	approved.Spec.Usages = nil
	PrepareCSRApproval(approved, old)
	if len(approved.Spec.Usages) != 1 || approved.Status.Certificate != nil || len(approved.Status.Conditions) != 1 {
		t.Errorf("approval kept %+v", approved)
	}
	wlWantNoErrors(t, s.ValidateUpdate(approved, old))
	wlWantNoErrors(t, ValidateCSRSubresourceUpdate("approval", approved, old))
	wlWantError(t, ValidateCSRSubresourceUpdate("status", approved, old), field.ErrorTypeForbidden, "status.conditions", `add a condition of type "Approved"`)

	// Status: the signer issues the certificate, once.
	issued := approved.DeepCopy()
	issued.Status.Certificate = cert
	wlWantNoErrors(t, s.ValidateUpdate(issued, approved))
	wlWantNoErrors(t, ValidateCSRSubresourceUpdate("status", issued, approved))
	wlWantError(t, ValidateCSRSubresourceUpdate("approval", issued, approved), field.ErrorTypeForbidden, "status.certificate", "")
	reissued := issued.DeepCopy()
	reissued.Status.Certificate = moreCertificate(t)
	wlWantError(t, s.ValidateUpdate(reissued, issued), field.ErrorTypeForbidden, "status.certificate", "modify existing")
	unapproved := issued.DeepCopy()
	unapproved.Status.Conditions = nil
	wlWantError(t, s.ValidateUpdate(unapproved, issued), field.ErrorTypeForbidden, "status.conditions", `remove a condition of type "Approved"`)

	wlCheckColumns(t, s, "Name Age SignerName Requestor RequestedDuration Condition", "")
	wlWantRow(t, s, old, []interface{}{"alice", "5m", "kubernetes.io/kube-apiserver-client", "alice", "<none>", "Pending"})
	e := int32(86400)
	issued.Spec.ExpirationSeconds = &e
	wlWantRow(t, s, issued, []interface{}{"alice", "5m", "kubernetes.io/kube-apiserver-client", "alice", "24h", "Approved,Issued"})
	issued.Status.Conditions = append(issued.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{Type: certificatesv1.CertificateFailed, Status: corev1.ConditionTrue})
	wlWantRow(t, s, issued, []interface{}{"alice", "5m", "kubernetes.io/kube-apiserver-client", "alice", "24h", "Approved,Failed,Issued"})
}

// --- storage.k8s.io CSI kinds ------------------------------------------------------------

func moreCSINode() *storagev1.CSINode {
	return &storagev1.CSINode{ObjectMeta: metav1.ObjectMeta{Name: "node-1", CreationTimestamp: wlCreated},
		Spec: storagev1.CSINodeSpec{Drivers: []storagev1.CSINodeDriver{{Name: "ebs.csi.aws.com", NodeID: "i-123",
			TopologyKeys: []string{"topology.ebs.csi.aws.com/zone"}}}}}
}

func TestCSINodeValidation(t *testing.T) {
	s := wlStrategy(t, storagev1.SchemeGroupVersion, "csinodes")
	type n = *storagev1.CSINode
	runAdmCases(t, s, moreCSINode, []admCase[n]{
		{name: "valid"},
		{name: "driver name", mutate: func(c n) { c.Spec.Drivers[0].Name = "bad_driver" },
			typ: field.ErrorTypeInvalid, field: "spec.drivers[0].name"},
		{name: "node ID required", mutate: func(c n) { c.Spec.Drivers[0].NodeID = "" },
			typ: field.ErrorTypeRequired, field: "spec.drivers[0].nodeID"},
		{name: "duplicate driver", mutate: func(c n) { c.Spec.Drivers = append(c.Spec.Drivers, c.Spec.Drivers[0]) },
			typ: field.ErrorTypeDuplicate, field: "spec.drivers[1].name"},
		{name: "negative count", mutate: func(c n) {
			c.Spec.Drivers[0].Allocatable = &storagev1.VolumeNodeResources{Count: wlInt32Ptr(-1)}
		}, typ: field.ErrorTypeInvalid, field: "spec.drivers[0].allocatable.count"},
		{name: "duplicate topology key", mutate: func(c n) {
			c.Spec.Drivers[0].TopologyKeys = []string{"zone", "zone"}
		}, typ: field.ErrorTypeDuplicate, field: "spec.drivers[0]"},
	})
	old := moreCSINode()
	changed := old.DeepCopy()
	changed.Spec.Drivers[0].NodeID = "i-456"
	wlWantError(t, s.ValidateUpdate(changed, old), field.ErrorTypeInvalid, "spec.drivers", "immutable")
	added := old.DeepCopy()
	added.Spec.Drivers = append(added.Spec.Drivers, storagev1.CSINodeDriver{Name: "nfs.csi.k8s.io", NodeID: "node-1"})
	wlWantNoErrors(t, s.ValidateUpdate(added, old))
	wlCheckColumns(t, s, "Name Drivers Age", "")
	wlWantRow(t, s, added, []interface{}{"node-1", int64(2), "5m"})
}

func moreCSIDriver() *storagev1.CSIDriver {
	return &storagev1.CSIDriver{ObjectMeta: metav1.ObjectMeta{Name: "ebs.csi.aws.com", CreationTimestamp: wlCreated}}
}

func TestCSIDriverDefaultsAndValidation(t *testing.T) {
	s := wlStrategy(t, storagev1.SchemeGroupVersion, "csidrivers")
	d := wlDefaulted(s, moreCSIDriver())
	want := storagev1.CSIDriverSpec{AttachRequired: admPtr(true), PodInfoOnMount: admPtr(false), StorageCapacity: admPtr(false),
		RequiresRepublish: admPtr(false), SELinuxMount: admPtr(false), FSGroupPolicy: admPtr(storagev1.ReadWriteOnceWithFSTypeFSGroupPolicy),
		VolumeLifecycleModes: []storagev1.VolumeLifecycleMode{storagev1.VolumeLifecyclePersistent}}
	if !apiequality.Semantic.DeepEqual(d.Spec, want) {
		t.Errorf("defaults = %+v", d.Spec)
	}
	type drv = *storagev1.CSIDriver
	runAdmCases(t, s, moreCSIDriver, []admCase[drv]{
		{name: "valid"},
		{name: "fsGroupPolicy", mutate: func(d drv) { d.Spec.FSGroupPolicy = admPtr(storagev1.FSGroupPolicy("Always")) },
			typ: field.ErrorTypeNotSupported, field: "spec.fsGroupPolicy"},
		{name: "mode", mutate: func(d drv) { d.Spec.VolumeLifecycleModes = []storagev1.VolumeLifecycleMode{"Forever"} },
			typ: field.ErrorTypeNotSupported, field: "spec.volumeLifecycleModes"},
		{name: "duplicate audience", mutate: func(d drv) {
			d.Spec.TokenRequests = []storagev1.TokenRequest{{Audience: "vault"}, {Audience: "vault"}}
		}, typ: field.ErrorTypeDuplicate, field: "spec.tokenRequests[1].audience"},
		{name: "short token", mutate: func(d drv) {
			d.Spec.TokenRequests = []storagev1.TokenRequest{{Audience: "vault", ExpirationSeconds: admPtr(int64(60))}}
		}, typ: field.ErrorTypeInvalid, field: "spec.tokenRequests[0].expirationSeconds"},
		{name: "update period", mutate: func(d drv) { d.Spec.NodeAllocatableUpdatePeriodSeconds = admPtr(int64(5)) },
			typ: field.ErrorTypeInvalid, field: "spec.nodeAllocatableUpdatePeriodSeconds"},
	})
	changed := d.DeepCopy()
	changed.Spec.AttachRequired = admPtr(false)
	wlWantError(t, s.ValidateUpdate(changed, d), field.ErrorTypeInvalid, "spec.attachRequired", "immutable")

	wlCheckColumns(t, s, "Name AttachRequired PodInfoOnMount StorageCapacity TokenRequests RequiresRepublish Modes Age", "")
	wlWantRow(t, s, d, []interface{}{"ebs.csi.aws.com", true, false, false, "<unset>", false, "Persistent", "5m"})
	d.Spec.TokenRequests = []storagev1.TokenRequest{{Audience: "vault"}, {Audience: "gcp"}}
	d.Spec.VolumeLifecycleModes = append(d.Spec.VolumeLifecycleModes, storagev1.VolumeLifecycleEphemeral)
	wlWantRow(t, s, d, []interface{}{"ebs.csi.aws.com", true, false, false, "vault,gcp", false, "Persistent,Ephemeral", "5m"})
}

func moreVolumeAttachment() *storagev1.VolumeAttachment {
	return &storagev1.VolumeAttachment{ObjectMeta: metav1.ObjectMeta{Name: "csi-123", CreationTimestamp: wlCreated},
		Spec: storagev1.VolumeAttachmentSpec{Attacher: "ebs.csi.aws.com", NodeName: "node-1",
			Source: storagev1.VolumeAttachmentSource{PersistentVolumeName: admPtr("pv-1")}}}
}

func TestVolumeAttachmentValidation(t *testing.T) {
	s := wlStrategy(t, storagev1.SchemeGroupVersion, "volumeattachments")
	type va = *storagev1.VolumeAttachment
	runAdmCases(t, s, moreVolumeAttachment, []admCase[va]{
		{name: "valid"},
		{name: "inline CSI", mutate: func(v va) {
			v.Spec.Source = storagev1.VolumeAttachmentSource{InlineVolumeSpec: &corev1.PersistentVolumeSpec{
				PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{Driver: "ebs.csi.aws.com", VolumeHandle: "vol-1"}}}}
		}},
		{name: "attacher required", mutate: func(v va) { v.Spec.Attacher = "" },
			typ: field.ErrorTypeRequired, field: "spec.attacher"},
		{name: "no source", mutate: func(v va) { v.Spec.Source = storagev1.VolumeAttachmentSource{} },
			typ: field.ErrorTypeRequired, field: "spec.source"},
		{name: "two sources", mutate: func(v va) { v.Spec.Source.InlineVolumeSpec = &corev1.PersistentVolumeSpec{} },
			typ: field.ErrorTypeForbidden, field: "spec.source"},
		{name: "empty pv name", mutate: func(v va) { v.Spec.Source.PersistentVolumeName = admPtr("") },
			typ: field.ErrorTypeRequired, field: "spec.source.persistentVolumeName"},
		{name: "node name", mutate: func(v va) { v.Spec.NodeName = "Node_1" },
			typ: field.ErrorTypeInvalid, field: "spec.nodeName"},
		{name: "long error", mutate: func(v va) { v.Status.AttachError = &storagev1.VolumeError{Message: strings.Repeat("x", 2000)} },
			typ: field.ErrorTypeTooLong, field: "status.attachError.message"},
	})
	old := moreVolumeAttachment()
	moved := old.DeepCopy()
	moved.Spec.NodeName = "node-2"
	wlWantError(t, s.ValidateUpdate(moved, old), field.ErrorTypeInvalid, "spec", "immutable")
	wlCheckColumns(t, s, "Name Attacher PV Node Attached Age", "")
	old.Status.Attached = true
	wlWantRow(t, s, old, []interface{}{"csi-123", "ebs.csi.aws.com", "pv-1", "node-1", true, "5m"})
}

func moreCSIStorageCapacity() *storagev1.CSIStorageCapacity {
	q := resource.MustParse("100Gi")
	return &storagev1.CSIStorageCapacity{ObjectMeta: metav1.ObjectMeta{Name: "csisc-1", Namespace: "kube-system", CreationTimestamp: wlCreated},
		StorageClassName: "fast", Capacity: &q,
		NodeTopology: &metav1.LabelSelector{MatchLabels: map[string]string{"topology.kubernetes.io/zone": "a"}}}
}

func TestCSIStorageCapacityValidation(t *testing.T) {
	s := wlStrategy(t, storagev1.SchemeGroupVersion, "csistoragecapacities")
	type c = *storagev1.CSIStorageCapacity
	runAdmCases(t, s, moreCSIStorageCapacity, []admCase[c]{
		{name: "valid"},
		{name: "class required", mutate: func(x c) { x.StorageClassName = "" }, typ: field.ErrorTypeInvalid, field: "storageClassName"},
		{name: "negative", mutate: func(x c) { q := resource.MustParse("-1"); x.Capacity = &q }, typ: field.ErrorTypeInvalid, field: "capacity"},
		{name: "namespaced", mutate: func(x c) { x.Namespace = "" }, typ: field.ErrorTypeRequired, field: "metadata.namespace"},
	})
	old := moreCSIStorageCapacity()
	changed := old.DeepCopy()
	changed.StorageClassName = "slow"
	changed.NodeTopology = nil
	errs := s.ValidateUpdate(changed, old)
	wlWantError(t, errs, field.ErrorTypeInvalid, "storageClassName", "immutable")
	wlWantError(t, errs, field.ErrorTypeInvalid, "nodeTopology", "immutable")
	wlCheckColumns(t, s, "Name StorageClassName Capacity", "")
	wlWantRow(t, s, old, []interface{}{"csisc-1", "fast", "100Gi"})
}

// --- APIService --------------------------------------------------------------------------

func moreAPIService() *apiregistrationv1.APIService {
	return &apiregistrationv1.APIService{ObjectMeta: metav1.ObjectMeta{Name: "v1beta1.metrics.k8s.io", CreationTimestamp: wlCreated},
		Spec: apiregistrationv1.APIServiceSpec{Group: "metrics.k8s.io", Version: "v1beta1", GroupPriorityMinimum: 100, VersionPriority: 100,
			Service: &apiregistrationv1.ServiceReference{Namespace: "kube-system", Name: "metrics-server"}, InsecureSkipTLSVerify: true}}
}

func TestAPIServiceDefaultsAndValidation(t *testing.T) {
	s := wlStrategy(t, apiregistrationv1.SchemeGroupVersion, "apiservices")
	if p := wlDefaulted(s, moreAPIService()).Spec.Service.Port; p == nil || *p != 443 {
		t.Errorf("service port = %v", p)
	}
	type a = *apiregistrationv1.APIService
	runAdmCases(t, s, moreAPIService, []admCase[a]{
		{name: "valid"},
		{name: "legacy group", mutate: func(x a) {
			x.Name, x.Spec.Group, x.Spec.Version, x.Spec.Service, x.Spec.InsecureSkipTLSVerify = "v1.", "", "v1", nil, false
		}},
		{name: "name must be version.group", mutate: func(x a) { x.Name = "metrics" },
			typ: field.ErrorTypeInvalid, field: "metadata.name", detail: `"v1beta1.metrics.k8s.io"`},
		{name: "empty group needs v1", mutate: func(x a) { x.Name, x.Spec.Group = "v1beta1.", "" },
			typ: field.ErrorTypeRequired, field: "spec.group"},
		{name: "version", mutate: func(x a) { x.Name, x.Spec.Version = "V1.metrics.k8s.io", "V1" },
			typ: field.ErrorTypeInvalid, field: "spec.version"},
		{name: "group priority", mutate: func(x a) { x.Spec.GroupPriorityMinimum = 20001 },
			typ: field.ErrorTypeInvalid, field: "spec.groupPriorityMinimum"},
		{name: "version priority", mutate: func(x a) { x.Spec.VersionPriority = 0 },
			typ: field.ErrorTypeInvalid, field: "spec.versionPriority"},
		{name: "service name", mutate: func(x a) { x.Spec.Service.Name = "" },
			typ: field.ErrorTypeRequired, field: "spec.service.name"},
		{name: "service port", mutate: func(x a) { x.Spec.Service.Port = wlInt32Ptr(70000) },
			typ: field.ErrorTypeInvalid, field: "spec.service.port"},
		{name: "insecure with a CA", mutate: func(x a) { x.Spec.CABundle = []byte("ca") },
			typ: field.ErrorTypeInvalid, field: "spec.insecureSkipTLSVerify"},
		{name: "local with a CA", mutate: func(x a) { x.Spec.Service, x.Spec.InsecureSkipTLSVerify, x.Spec.CABundle = nil, false, []byte("ca") },
			typ: field.ErrorTypeInvalid, field: "spec.caBundle"},
		{name: "condition status", mutate: func(x a) {
			x.Status.Conditions = []apiregistrationv1.APIServiceCondition{{Type: apiregistrationv1.Available, Status: "Maybe"}}
		}, typ: field.ErrorTypeNotSupported, field: "status.conditions[0].status"},
	})

	wlCheckColumns(t, s, "Name Service Available Age", "")
	x := moreAPIService()
	wlWantRow(t, s, x, []interface{}{"v1beta1.metrics.k8s.io", "kube-system/metrics-server", "Unknown", "5m"})
	x.Status.Conditions = []apiregistrationv1.APIServiceCondition{{Type: apiregistrationv1.Available, Status: apiregistrationv1.ConditionFalse, Reason: "MissingEndpoints"}}
	wlWantRow(t, s, x, []interface{}{"v1beta1.metrics.k8s.io", "kube-system/metrics-server", "False (MissingEndpoints)", "5m"})
}

func TestLocalAPIServices(t *testing.T) {
	s := wlStrategy(t, apiregistrationv1.SchemeGroupVersion, "apiservices")
	gvs := NewRegistry(DefaultResources()).GroupVersions()
	byName := map[string]*apiregistrationv1.APIService{}
	for _, a := range LocalAPIServices(gvs, wlCreated) {
		wlWantNoErrors(t, s.Validate(a))
		if !IsLocalAPIServiceAutomanaged(a) {
			t.Errorf("%s is not marked automanaged", a.Name)
		}
		byName[a.Name] = a
	}
	if len(byName) != len(gvs)-1 {
		t.Errorf("%d APIServices for %d group versions (apiregistration.k8s.io has none)", len(byName), len(gvs))
	}
	for name, prio := range map[string][2]int32{"v1.": {18000, 1}, "v1.apps": {17800, 15}, "v2.autoscaling": {17500, 30},
		"v1.autoscaling": {17500, 15}, "v1.policy": {17100, 15}, "v1.node.k8s.io": {16300, 15}} {
		a := byName[name]
		if a == nil {
			t.Errorf("no APIService %s", name)
			continue
		}
		if a.Spec.GroupPriorityMinimum != prio[0] || a.Spec.VersionPriority != prio[1] || a.Spec.Service != nil {
			t.Errorf("%s spec = %+v", name, a.Spec)
		}
		wlWantRow(t, s, a, []interface{}{name, "Local", "True", "<unknown>"})
	}
	if byName["v1.apiregistration.k8s.io"] != nil {
		t.Error("apiregistration.k8s.io got an APIService")
	}
}

// --- autoscaling/v1 HorizontalPodAutoscalers -------------------------------------------------

func moreQ(s string) *resource.Quantity { q := resource.MustParse(s); return &q }

// moreHPAV2 uses every metric source; the CPU utilization target is last
// because that is where it comes back from v1.
func moreHPAV2() *autoscalingv2.HorizontalPodAutoscaler {
	at := metav1.NewTime(wlTestNow.Add(-time.Minute))
	max := autoscalingv2.MaxChangePolicySelect
	ref := autoscalingv2.CrossVersionObjectReference{Kind: "Service", Name: "front", APIVersion: "v1"}
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"queue": "jobs"}}
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", CreationTimestamp: wlCreated,
			Annotations: map[string]string{"team": "web"}},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "web", APIVersion: "apps/v1"},
			MinReplicas:    wlInt32Ptr(2), MaxReplicas: 10,
			Metrics: []autoscalingv2.MetricSpec{
				{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceMemory,
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: moreQ("500Mi")}}},
				{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{
					Metric: autoscalingv2.MetricIdentifier{Name: "rps"}, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: moreQ("100")}}},
				{Type: autoscalingv2.ObjectMetricSourceType, Object: &autoscalingv2.ObjectMetricSource{DescribedObject: ref,
					Metric: autoscalingv2.MetricIdentifier{Name: "latency"}, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.ValueMetricType, Value: moreQ("200m")}}},
				{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricSource{
					Metric: autoscalingv2.MetricIdentifier{Name: "queue_depth", Selector: sel}, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: moreQ("30")}}},
				{Type: autoscalingv2.ContainerResourceMetricSourceType, ContainerResource: &autoscalingv2.ContainerResourceMetricSource{Name: corev1.ResourceCPU, Container: "app",
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: wlInt32Ptr(60)}}},
				cpuUtilizationMetric(75),
			},
			Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleUp: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: wlInt32Ptr(0), SelectPolicy: &max,
					Policies: []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 15}}},
				ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: wlInt32Ptr(300), SelectPolicy: &max,
					Policies:  []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}},
					Tolerance: moreQ("50m")},
			},
		},
		Status: autoscalingv2.HorizontalPodAutoscalerStatus{
			ObservedGeneration: admPtr(int64(3)), LastScaleTime: &at, CurrentReplicas: 3, DesiredReplicas: 4,
			CurrentMetrics: []autoscalingv2.MetricStatus{
				{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricStatus{Name: corev1.ResourceCPU,
					Current: autoscalingv2.MetricValueStatus{AverageUtilization: wlInt32Ptr(90), AverageValue: moreQ("450m")}}},
				{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricStatus{Name: corev1.ResourceMemory,
					Current: autoscalingv2.MetricValueStatus{AverageValue: moreQ("300Mi")}}},
				{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricStatus{Metric: autoscalingv2.MetricIdentifier{Name: "rps"},
					Current: autoscalingv2.MetricValueStatus{AverageValue: moreQ("80")}}},
				{Type: autoscalingv2.ObjectMetricSourceType, Object: &autoscalingv2.ObjectMetricStatus{DescribedObject: ref,
					Metric: autoscalingv2.MetricIdentifier{Name: "latency"}, Current: autoscalingv2.MetricValueStatus{Value: moreQ("150m")}}},
				{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricStatus{Metric: autoscalingv2.MetricIdentifier{Name: "queue_depth", Selector: sel},
					Current: autoscalingv2.MetricValueStatus{AverageValue: moreQ("12")}}},
				{Type: autoscalingv2.ContainerResourceMetricSourceType, ContainerResource: &autoscalingv2.ContainerResourceMetricStatus{Name: corev1.ResourceCPU, Container: "app",
					Current: autoscalingv2.MetricValueStatus{AverageUtilization: wlInt32Ptr(55), AverageValue: moreQ("110m")}}},
			},
			Conditions: []autoscalingv2.HorizontalPodAutoscalerCondition{{Type: autoscalingv2.AbleToScale, Status: corev1.ConditionTrue,
				LastTransitionTime: at, Reason: "ReadyForNewScale", Message: "recommended size matches current size"}},
		},
	}
}

func TestHPAConversionRoundTrips(t *testing.T) {
	orig := moreHPAV2()
	v1, err := HPAV2ToV1(orig)
	if err != nil {
		t.Fatal(err)
	}
	if u := v1.Spec.TargetCPUUtilizationPercentage; u == nil || *u != 75 {
		t.Errorf("targetCPUUtilizationPercentage = %v", u)
	}
	if u := v1.Status.CurrentCPUUtilizationPercentage; u == nil || *u != 90 {
		t.Errorf("currentCPUUtilizationPercentage = %v", u)
	}
	if v1.Spec.MaxReplicas != 10 || *v1.Spec.MinReplicas != 2 || v1.Spec.ScaleTargetRef.Name != "web" || v1.Status.DesiredReplicas != 4 {
		t.Errorf("v1 = %+v", v1)
	}
	for _, key := range []string{hpaMetricsAnnotation, hpaCurrentMetricsAnnotation, hpaConditionsAnnotation, hpaBehaviorAnnotation} {
		if v1.Annotations[key] == "" {
			t.Errorf("annotation %s missing", key)
		}
	}
	var others []autoscalingv1.MetricSpec
	if err := json.Unmarshal([]byte(v1.Annotations[hpaMetricsAnnotation]), &others); err != nil || len(others) != 5 {
		t.Errorf("metrics annotation %s: %v", v1.Annotations[hpaMetricsAnnotation], err)
	} else if others[1].Pods == nil || others[1].Pods.MetricName != "rps" || others[1].Pods.TargetAverageValue.String() != "100" {
		t.Errorf("pods metric = %+v", others[1])
	}
	// Kubernetes writes the behavior from its internal types: Go field names.
	if b := v1.Annotations[hpaBehaviorAnnotation]; !strings.Contains(b, `"ScaleUp":{"StabilizationWindowSeconds":0,"SelectPolicy":"Max","Policies":[{"Type":"Pods","Value":4,"PeriodSeconds":15}]`) {
		t.Errorf("behavior annotation = %s", b)
	}
	if v1.Annotations["team"] != "web" || orig.Annotations[hpaMetricsAnnotation] != "" {
		t.Errorf("annotations: v1 %v, original %v", v1.Annotations, orig.Annotations)
	}

	back := HPAV1ToV2(v1)
	if !apiequality.Semantic.DeepEqual(back.Spec, orig.Spec) {
		t.Errorf("spec after the round trip:\n got %s\nwant %s", mustJSON(t, back.Spec), mustJSON(t, orig.Spec))
	}
	if !apiequality.Semantic.DeepEqual(back.Status, orig.Status) {
		t.Errorf("status after the round trip:\n got %s\nwant %s", mustJSON(t, back.Status), mustJSON(t, orig.Status))
	}
	if !apiequality.Semantic.DeepEqual(back.ObjectMeta, orig.ObjectMeta) {
		t.Errorf("metadata after the round trip: %+v", back.ObjectMeta)
	}

	// And from v1: what a v1 client writes survives v2 storage.
	v1Only := &autoscalingv1.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: "default"},
		Spec: autoscalingv1.HorizontalPodAutoscalerSpec{ScaleTargetRef: autoscalingv1.CrossVersionObjectReference{Kind: "Deployment", Name: "api"},
			MinReplicas: wlInt32Ptr(1), MaxReplicas: 5, TargetCPUUtilizationPercentage: wlInt32Ptr(50)},
		Status: autoscalingv1.HorizontalPodAutoscalerStatus{CurrentReplicas: 2, DesiredReplicas: 2, CurrentCPUUtilizationPercentage: wlInt32Ptr(40)},
	}
	v2 := HPAV1ToV2(v1Only)
	if len(v2.Spec.Metrics) != 1 || !isCPUUtilizationTarget(v2.Spec.Metrics[0]) || *v2.Spec.Metrics[0].Resource.Target.AverageUtilization != 50 {
		t.Errorf("v2 metrics = %+v", v2.Spec.Metrics)
	}
	if len(v2.Status.CurrentMetrics) != 1 || *v2.Status.CurrentMetrics[0].Resource.Current.AverageUtilization != 40 {
		t.Errorf("v2 current metrics = %+v", v2.Status.CurrentMetrics)
	}
	again, err := HPAV2ToV1(v2)
	if err != nil {
		t.Fatal(err)
	}
	// The raw current metrics now travel in an annotation; the rest is as written.
	delete(again.Annotations, hpaCurrentMetricsAnnotation)
	if len(again.Annotations) == 0 {
		again.Annotations = nil
	}
	again.TypeMeta = v1Only.TypeMeta
	if !apiequality.Semantic.DeepEqual(again, v1Only) {
		t.Errorf("v1 after the round trip:\n got %s\nwant %s", mustJSON(t, again), mustJSON(t, v1Only))
	}
}

func mustJSON(t *testing.T, v interface{}) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestHPAConversionEdgeCases(t *testing.T) {
	t.Run("no metric implies 80% CPU", func(t *testing.T) {
		v2 := HPAV1ToV2(&autoscalingv1.HorizontalPodAutoscaler{Spec: autoscalingv1.HorizontalPodAutoscalerSpec{MaxReplicas: 3}})
		if len(v2.Spec.Metrics) != 1 || *v2.Spec.Metrics[0].Resource.Target.AverageUtilization != 80 {
			t.Errorf("metrics = %+v", v2.Spec.Metrics)
		}
	})
	t.Run("unparsable annotations are dropped", func(t *testing.T) {
		v1 := &autoscalingv1.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{
			hpaMetricsAnnotation: "{", hpaBehaviorAnnotation: "[]", "keep": "me"}},
			Spec: autoscalingv1.HorizontalPodAutoscalerSpec{MaxReplicas: 3, TargetCPUUtilizationPercentage: wlInt32Ptr(60)}}
		v2 := HPAV1ToV2(v1)
		if len(v2.Spec.Metrics) != 1 || v2.Spec.Behavior != nil || len(v2.Annotations) != 1 || v2.Annotations["keep"] != "me" {
			t.Errorf("v2 = %+v", v2)
		}
	})
	t.Run("v2-style behavior keys are read too", func(t *testing.T) {
		v1 := &autoscalingv1.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{
			hpaBehaviorAnnotation: `{"scaleDown":{"stabilizationWindowSeconds":60,"policies":[{"type":"Pods","value":1,"periodSeconds":30}]}}`}},
			Spec: autoscalingv1.HorizontalPodAutoscalerSpec{MaxReplicas: 3}}
		b := HPAV1ToV2(v1).Spec.Behavior
		if b == nil || b.ScaleUp != nil || *b.ScaleDown.StabilizationWindowSeconds != 60 || b.ScaleDown.Policies[0].Value != 1 {
			t.Errorf("behavior = %+v", b)
		}
	})
	t.Run("stale round-trip annotations on v2 are not repeated", func(t *testing.T) {
		h := moreHPAV2()
		h.Spec.Behavior = nil
		h.Annotations[hpaBehaviorAnnotation] = `{"ScaleUp":null}`
		v1, err := HPAV2ToV1(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := v1.Annotations[hpaBehaviorAnnotation]; ok {
			t.Errorf("behavior annotation kept: %v", v1.Annotations)
		}
	})
}

func TestHPAV1Strategy(t *testing.T) {
	s := wlStrategy(t, autoscalingv1.SchemeGroupVersion, "horizontalpodautoscalers")
	fresh := func() *autoscalingv1.HorizontalPodAutoscaler {
		return &autoscalingv1.HorizontalPodAutoscaler{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", CreationTimestamp: wlCreated},
			Spec: autoscalingv1.HorizontalPodAutoscalerSpec{ScaleTargetRef: autoscalingv1.CrossVersionObjectReference{Kind: "Deployment", Name: "web", APIVersion: "apps/v1"},
				MaxReplicas: 10},
		}
	}
	h := wlDefaulted(s, fresh())
	if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas != 1 || h.Spec.TargetCPUUtilizationPercentage == nil || *h.Spec.TargetCPUUtilizationPercentage != 80 {
		t.Errorf("defaulted = %+v", h.Spec)
	}
	if h.Annotations != nil {
		t.Errorf("defaulting added annotations %v", h.Annotations)
	}
	type hpa = *autoscalingv1.HorizontalPodAutoscaler
	runAdmCases(t, s, fresh, []admCase[hpa]{
		{name: "valid"},
		{name: "zero utilization", mutate: func(h hpa) { h.Spec.TargetCPUUtilizationPercentage = wlInt32Ptr(0) },
			typ: field.ErrorTypeInvalid, field: "spec.metrics[0].resource.target.averageUtilization"},
		{name: "max below min", mutate: func(h hpa) { h.Spec.MinReplicas = wlInt32Ptr(20) },
			typ: field.ErrorTypeInvalid, field: "spec.maxReplicas"},
		{name: "bad metric in the annotation", mutate: func(h hpa) {
			h.Annotations = map[string]string{hpaMetricsAnnotation: `[{"type":"Pods","pods":{"metricName":"","targetAverageValue":"1"}}]`}
		}, typ: field.ErrorTypeRequired, field: "spec.metrics[0].pods.metric.name"},
	})

	// A client may not write status, not even through the annotations.
	created := fresh()
	created.Annotations = map[string]string{hpaConditionsAnnotation: `[{"type":"AbleToScale","status":"True"}]`, "team": "web"}
	created.Status.CurrentReplicas = 7
	s.Default(created)
	s.PrepareForCreate(created)
	s.Default(created)
	if created.Status.CurrentReplicas != 0 || created.Annotations[hpaConditionsAnnotation] != "" || created.Annotations["team"] != "web" {
		t.Errorf("created = %+v", created)
	}
	old, err := HPAV2ToV1(moreHPAV2())
	if err != nil {
		t.Fatal(err)
	}
	updated := old.DeepCopy()
	updated.Annotations[hpaCurrentMetricsAnnotation] = "[]"
	updated.Status.DesiredReplicas = 9
	s.PrepareForUpdate(updated, old)
	if updated.Annotations[hpaCurrentMetricsAnnotation] != old.Annotations[hpaCurrentMetricsAnnotation] || updated.Status.DesiredReplicas != 4 {
		t.Errorf("update kept client status: %v %+v", updated.Annotations, updated.Status)
	}

	wlCheckColumns(t, s, "Name Reference Targets MinPods MaxPods Replicas Age", "")
	wlWantRow(t, s, old, wlStrategy(t, autoscalingv2.SchemeGroupVersion, "horizontalpodautoscalers").Row(moreHPAV2(), wlTestNow))
}

// --- events.k8s.io/v1 Events ----------------------------------------------------------------

func moreCoreEvent() *corev1.Event {
	at := metav1.NewMicroTime(wlTestNow.Add(-time.Minute))
	return &corev1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: "web.1", Namespace: "default", CreationTimestamp: wlCreated},
		InvolvedObject:      corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web", UID: "u1", APIVersion: "v1", FieldPath: "spec.containers{web}"},
		Reason:              "Pulled",
		Message:             "Container image pulled",
		Source:              corev1.EventSource{Component: "kubelet", Host: "node-1"},
		FirstTimestamp:      metav1.NewTime(wlTestNow.Add(-2 * time.Minute)),
		LastTimestamp:       metav1.NewTime(wlTestNow.Add(-time.Minute)),
		Count:               3,
		Type:                corev1.EventTypeNormal,
		EventTime:           at,
		Series:              &corev1.EventSeries{Count: 3, LastObservedTime: at},
		Action:              "Pull",
		Related:             &corev1.ObjectReference{Kind: "Node", Name: "node-1"},
		ReportingController: "kubelet",
		ReportingInstance:   "node-1",
	}
}

func TestEventConversionRoundTrips(t *testing.T) {
	core := moreCoreEvent()
	v1 := CoreEventToV1(core)
	if v1.Note != core.Message || v1.Regarding != core.InvolvedObject || v1.DeprecatedSource != core.Source ||
		v1.DeprecatedCount != 3 || !v1.DeprecatedFirstTimestamp.Equal(&core.FirstTimestamp) || v1.Series.Count != 3 ||
		v1.ReportingController != "kubelet" || v1.ReportingInstance != "node-1" || v1.Related.Name != "node-1" || v1.Action != "Pull" {
		t.Errorf("v1 = %+v", v1)
	}
	back := EventV1ToCore(v1)
	back.TypeMeta = core.TypeMeta
	if !apiequality.Semantic.DeepEqual(back, core) {
		t.Errorf("core after the round trip:\n got %s\nwant %s", mustJSON(t, back), mustJSON(t, core))
	}
	again := CoreEventToV1(back)
	if !apiequality.Semantic.DeepEqual(again, v1) {
		t.Errorf("v1 after the round trip:\n got %s\nwant %s", mustJSON(t, again), mustJSON(t, v1))
	}
}

func moreEventV1() *eventsv1.Event {
	e := CoreEventToV1(moreCoreEvent())
	e.DeprecatedSource, e.DeprecatedCount = corev1.EventSource{}, 0
	e.DeprecatedFirstTimestamp, e.DeprecatedLastTimestamp = metav1.Time{}, metav1.Time{}
	return e
}

func TestEventV1Validation(t *testing.T) {
	s := wlStrategy(t, eventsv1.SchemeGroupVersion, "events")
	type ev = *eventsv1.Event
	runAdmCases(t, s, moreEventV1, []admCase[ev]{
		{name: "valid"},
		{name: "cluster-scoped object in default", mutate: func(e ev) { e.Regarding = corev1.ObjectReference{Kind: "Node", Name: "node-1"} }},
		{name: "eventTime required", mutate: func(e ev) { e.EventTime = metav1.MicroTime{} },
			typ: field.ErrorTypeRequired, field: "eventTime"},
		{name: "type", mutate: func(e ev) { e.Type = "Info" }, typ: field.ErrorTypeInvalid, field: "type"},
		{name: "reportingController required", mutate: func(e ev) { e.ReportingController = "" },
			typ: field.ErrorTypeRequired, field: "reportingController"},
		{name: "reportingInstance too long", mutate: func(e ev) { e.ReportingInstance = strings.Repeat("i", 129) },
			typ: field.ErrorTypeInvalid, field: "reportingInstance"},
		{name: "action required", mutate: func(e ev) { e.Action = "" }, typ: field.ErrorTypeRequired, field: "action"},
		{name: "note too long", mutate: func(e ev) { e.Note = strings.Repeat("n", 1025) }, typ: field.ErrorTypeInvalid, field: "note"},
		{name: "old-style regarding elsewhere", mutate: func(e ev) { e.Regarding.Namespace, e.EventTime, e.Series = "prod", metav1.MicroTime{}, nil },
			typ: field.ErrorTypeInvalid, field: "regarding.namespace"},
		{name: "cluster-scoped object in a namespace", mutate: func(e ev) { e.Regarding.Namespace, e.Namespace = "", "prod" },
			typ: field.ErrorTypeInvalid, field: "regarding.namespace"},
		{name: "series of one", mutate: func(e ev) { e.Series.Count = 1 }, typ: field.ErrorTypeInvalid, field: "series.count"},
		{name: "series without time", mutate: func(e ev) { e.Series.LastObservedTime = metav1.MicroTime{} },
			typ: field.ErrorTypeRequired, field: "series.lastObservedTime"},
		{name: "deprecated count", mutate: func(e ev) { e.DeprecatedCount = 2 }, typ: field.ErrorTypeInvalid, field: "deprecatedCount"},
		{name: "deprecated source", mutate: func(e ev) { e.DeprecatedSource.Component = "kubelet" },
			typ: field.ErrorTypeInvalid, field: "deprecatedSource"},
	})

	// Updates may grow the series; what happened stays as recorded.
	old := moreEventV1()
	grown := old.DeepCopy()
	grown.Series.Count = 4
	grown.Series.LastObservedTime = metav1.NewMicroTime(wlTestNow)
	wlWantNoErrors(t, s.ValidateUpdate(grown, old))
	// An event written through the core API by an old recorder may still
	// be updated here.
	legacy := CoreEventToV1(moreCoreEvent())
	legacy.EventTime, legacy.Series = metav1.MicroTime{}, nil
	relabeled := legacy.DeepCopy()
	relabeled.Labels = map[string]string{"seen": "yes"}
	wlWantNoErrors(t, s.ValidateUpdate(relabeled, legacy))
	rewritten := old.DeepCopy()
	rewritten.Note, rewritten.Reason = "something else", "Other"
	errs := s.ValidateUpdate(rewritten, old)
	wlWantError(t, errs, field.ErrorTypeInvalid, "note", "immutable")
	wlWantError(t, errs, field.ErrorTypeInvalid, "reason", "immutable")
	submicro := old.DeepCopy()
	submicro.EventTime = metav1.NewMicroTime(old.EventTime.Add(300 * time.Nanosecond))
	wlWantNoErrors(t, s.ValidateUpdate(submicro, old))
}

func TestEventV1RowAndFields(t *testing.T) {
	s := wlStrategy(t, eventsv1.SchemeGroupVersion, "events")
	core := wlStrategy(t, corev1.SchemeGroupVersion, "events")
	var normal []string
	for _, c := range s.Columns {
		if c.Priority == 0 {
			normal = append(normal, c.Name)
		}
	}
	if got := strings.Join(normal, ","); got != "Last Seen,Type,Reason,Object,Message" {
		t.Errorf("columns = %s", got)
	}
	e := moreCoreEvent()
	wlWantRow(t, s, CoreEventToV1(e), core.Row(e, wlTestNow))

	f := s.Fields(CoreEventToV1(e))
	for key, want := range map[string]string{"regarding.kind": "Pod", "regarding.name": "web", "regarding.namespace": "default",
		"regarding.uid": "u1", "regarding.fieldPath": "spec.containers{web}", "reason": "Pulled", "reportingController": "kubelet", "type": "Normal"} {
		if got, ok := f[key]; !ok || got != want {
			t.Errorf("field %s = %q (%v), want %q", key, got, ok, want)
		}
	}
	if _, ok := s.Fields(&eventsv1.Event{})["involvedObject.name"]; ok {
		t.Error("events.k8s.io/v1 offers the core field name involvedObject.name")
	}
}
