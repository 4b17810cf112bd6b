package integration

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"

	"github.com/gureum/gureum/internal/testenv"
)

// Helpers shared by the wire_*_test.go files, which check the Kubernetes
// wire behaviour clients rely on.

func wireCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// mkNamespace creates a namespace for one test.
func mkNamespace(t *testing.T, s *testenv.Server, name string) string {
	t.Helper()
	_, err := s.Client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	return name
}

func configMap(name string, data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: data}
}

func simplePod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "app", Image: "busybox:1"}},
		},
	}
}

// statusCode returns the HTTP code of an API error, failing the test on
// anything that is not one.
func statusCode(t *testing.T, err error) int32 {
	t.Helper()
	if err == nil {
		t.Fatalf("expected an API error, got nil")
	}
	var se apierrors.APIStatus
	if !errors.As(err, &se) {
		t.Fatalf("expected an API status error, got %T: %v", err, err)
	}
	return se.Status().Code
}

func wantReason(t *testing.T, err error, code int32, reason metav1.StatusReason) {
	t.Helper()
	if got := statusCode(t, err); got != code {
		t.Fatalf("code = %d, want %d (err: %v)", got, code, err)
	}
	if got := apierrors.ReasonForError(err); got != reason {
		t.Fatalf("reason = %q, want %q (err: %v)", got, reason, err)
	}
}

// nextEvent reads one watch event or fails after a timeout.
func nextEvent(t *testing.T, w watch.Interface) watch.Event {
	t.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			t.Fatalf("watch closed unexpectedly")
		}
		if ev.Type == watch.Error {
			t.Fatalf("watch error event: %v", apierrors.FromObject(ev.Object))
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatalf("no watch event within 10s")
	}
	return watch.Event{}
}

// nextNonBookmark skips bookmarks.
func nextNonBookmark(t *testing.T, w watch.Interface) watch.Event {
	t.Helper()
	for {
		ev := nextEvent(t, w)
		if ev.Type != watch.Bookmark {
			return ev
		}
	}
}

func objName(t *testing.T, obj interface{}) string {
	t.Helper()
	m, ok := obj.(metav1.Object)
	if !ok {
		t.Fatalf("event object %T has no metadata", obj)
	}
	return m.GetName()
}

// httpClientFor is the authenticated HTTP client client-go would use, for
// raw requests where the exact bytes on the wire matter.
func httpClientFor(t *testing.T, s *testenv.Server) *http.Client {
	t.Helper()
	c, err := rest.HTTPClientFor(s.Config)
	if err != nil {
		t.Fatalf("http client: %v", err)
	}
	return c
}

func int64p(v int64) *int64 { return &v }
func boolp(v bool) *bool    { return &v }
