package integration

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	authorizationv1 "k8s.io/api/authorization/v1"
	"net/http"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gureum/gureum/internal/testenv"
)

// TestWireErrorStatusCodesAndReasons checks that every failure answers
// with the metav1.Status code and reason Kubernetes uses, and that a failed
// write leaves nothing behind.
func TestWireErrorStatusCodesAndReasons(t *testing.T) {
	t.Parallel()
	s := testenv.Start(t)
	ctx := wireCtx(t)
	ns := mkNamespace(t, s, "wire-errors")
	cms := s.Client.CoreV1().ConfigMaps(ns)

	assertNoConfigMaps := func(t *testing.T) {
		t.Helper()
		list, err := cms.List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		for _, cm := range list.Items {
			if cm.Name != "kube-root-ca.crt" {
				t.Fatalf("a failed request left %s behind", cm.Name)
			}
		}
	}

	t.Run("MalformedJSONBodyIs400BadRequest", func(t *testing.T) {
		err := s.Client.CoreV1().RESTClient().Post().Namespace(ns).Resource("configmaps").
			SetHeader("Content-Type", "application/json").Body([]byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":`)).
			Do(ctx).Error()
		wantReason(t, err, http.StatusBadRequest, metav1.StatusReasonBadRequest)
		assertNoConfigMaps(t)
	})

	t.Run("ReviewAsTableIs406NotAcceptable", func(t *testing.T) {
		sar := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: "/", Verb: "get"}}}
		err := s.Client.AuthorizationV1().RESTClient().Post().Resource("selfsubjectaccessreviews").
			SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").Body(sar).Do(ctx).Error()
		wantReason(t, err, http.StatusNotAcceptable, metav1.StatusReasonNotAcceptable)
	})

	t.Run("PodWithoutContainersIs422InvalidWithFieldCause", func(t *testing.T) {
		pod := simplePod("no-containers")
		pod.Spec.Containers = nil
		_, err := s.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
		wantReason(t, err, http.StatusUnprocessableEntity, metav1.StatusReasonInvalid)
		if !hasCause(err, "spec.containers") {
			t.Fatalf("causes do not name spec.containers: %+v", causes(err))
		}
		pods, err := s.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil || len(pods.Items) != 0 {
			t.Fatalf("pods after failed create: %v %v", pods, err)
		}
	})

	t.Run("BadDNS1123NameIs422InvalidWithFieldCause", func(t *testing.T) {
		_, err := cms.Create(ctx, configMap("Bad_Name", nil), metav1.CreateOptions{})
		wantReason(t, err, http.StatusUnprocessableEntity, metav1.StatusReasonInvalid)
		if !hasCause(err, "metadata.name") {
			t.Fatalf("causes do not name metadata.name: %+v", causes(err))
		}
		assertNoConfigMaps(t)
	})

	t.Run("UnknownResourcePathIs404", func(t *testing.T) {
		err := s.Client.CoreV1().RESTClient().Get().AbsPath("/api/v1/namespaces", ns, "widgets").Do(ctx).Error()
		if got := statusCode(t, err); got != http.StatusNotFound {
			t.Fatalf("code = %d, want 404", got)
		}
		err = s.Client.CoreV1().RESTClient().Get().AbsPath("/apis/nonexistent.example.com/v1/things").Do(ctx).Error()
		if got := statusCode(t, err); got != http.StatusNotFound {
			t.Fatalf("unknown group: code = %d, want 404", got)
		}
	})

	t.Run("GetMissingObjectIs404NotFound", func(t *testing.T) {
		_, err := cms.Get(ctx, "missing", metav1.GetOptions{})
		wantReason(t, err, http.StatusNotFound, metav1.StatusReasonNotFound)
		se := err.(apierrors.APIStatus).Status()
		if se.Details == nil || se.Details.Name != "missing" || se.Details.Kind != "configmaps" {
			t.Fatalf("details = %+v, want name missing, kind configmaps", se.Details)
		}
	})

	t.Run("CreateExistingIs409AlreadyExists", func(t *testing.T) {
		if _, err := cms.Create(ctx, configMap("dup", map[string]string{"a": "1"}), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		_, err := cms.Create(ctx, configMap("dup", map[string]string{"a": "2"}), metav1.CreateOptions{})
		wantReason(t, err, http.StatusConflict, metav1.StatusReasonAlreadyExists)
		got, err := cms.Get(ctx, "dup", metav1.GetOptions{})
		if err != nil || got.Data["a"] != "1" {
			t.Fatalf("the second create changed the object: %v %v", got.Data, err)
		}
		_ = cms.Delete(ctx, "dup", metav1.DeleteOptions{})
	})

	t.Run("UpdateWithStaleResourceVersionIs409Conflict", func(t *testing.T) {
		cm, err := cms.Create(ctx, configMap("stale", map[string]string{"v": "1"}), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		fresh := cm.DeepCopy()
		fresh.Data["v"] = "2"
		if _, err := cms.Update(ctx, fresh, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		cm.Data["v"] = "3"
		_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
		wantReason(t, err, http.StatusConflict, metav1.StatusReasonConflict)
		got, _ := cms.Get(ctx, "stale", metav1.GetOptions{})
		if got.Data["v"] != "2" {
			t.Fatalf("stale update was written: %v", got.Data)
		}
		_ = cms.Delete(ctx, "stale", metav1.DeleteOptions{})
	})

	t.Run("BodyOver3MiBIs413", func(t *testing.T) {
		big := configMap("too-big", map[string]string{"blob": strings.Repeat("x", 3*1024*1024+512)})
		_, err := cms.Create(ctx, big, metav1.CreateOptions{})
		wantReason(t, err, http.StatusRequestEntityTooLarge, metav1.StatusReasonRequestEntityTooLarge)
		assertNoConfigMaps(t)
	})

	t.Run("NoCredentialsIs401ButHealthIs200", func(t *testing.T) {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(s.Config.TLSClientConfig.CAData) {
			t.Fatal("no CA data in the rest config")
		}
		anon := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: s.Config.TLSClientConfig.ServerName}}}
		resp, err := anon.Get(s.Config.Host + "/api/v1/pods")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("GET /api/v1/pods without credentials: %d %s, want 401", resp.StatusCode, body)
		}
		if !strings.Contains(string(body), `"reason":"Unauthorized"`) {
			t.Fatalf("401 body is not an Unauthorized Status: %s", body)
		}
		for _, p := range []string{"/readyz", "/livez", "/healthz"} {
			resp, err := anon.Get(s.Config.Host + p)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || string(body) != "ok" {
				t.Fatalf("GET %s without credentials: %d %q, want 200 ok", p, resp.StatusCode, body)
			}
		}
	})

	t.Run("FailedRequestsLeaveNothingHalfWritten", func(t *testing.T) {
		pod := simplePod("half")
		pod.Spec.Containers[0].Image = ""
		if _, err := s.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); !apierrors.IsInvalid(err) {
			t.Fatalf("pod without image: %v, want Invalid", err)
		}
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "half"}, Spec: corev1.ServiceSpec{
			ClusterIP: "192.168.0.1", Ports: []corev1.ServicePort{{Port: 80}}}}
		if _, err := s.Client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); !apierrors.IsInvalid(err) {
			t.Fatalf("service with an out-of-range IP: %v, want Invalid", err)
		}
		pods, _ := s.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		svcs, _ := s.Client.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
		if len(pods.Items) != 0 || len(svcs.Items) != 0 {
			t.Fatalf("failed creates left objects: %d pods, %d services", len(pods.Items), len(svcs.Items))
		}
		assertNoConfigMaps(t)
	})
}

func causes(err error) []metav1.StatusCause {
	se, ok := err.(apierrors.APIStatus)
	if !ok || se.Status().Details == nil {
		return nil
	}
	return se.Status().Details.Causes
}

func hasCause(err error, fieldPrefix string) bool {
	for _, c := range causes(err) {
		if strings.HasPrefix(c.Field, fieldPrefix) {
			return true
		}
	}
	return false
}
