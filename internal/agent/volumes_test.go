package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	testingclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

type nopMounter struct{}

func (nopMounter) MountTmpfs(string, int64) error { return nil }
func (nopMounter) Unmount(string) error           { return nil }

// kubeAPIAccessPod has the projected volume Kubernetes' service account
// admission adds to every pod: token, CA bundle and namespace.
func kubeAPIAccessPod(mode *int32) *v1.Pod {
	pod := tokenPod()
	pod.Spec.ServiceAccountName = "builder"
	pod.Spec.Volumes = []v1.Volume{{Name: "kube-api-access", VolumeSource: v1.VolumeSource{Projected: &v1.ProjectedVolumeSource{
		DefaultMode: mode,
		Sources: []v1.VolumeProjection{
			{ServiceAccountToken: &v1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr.To(int64(3607))}},
			{ConfigMap: &v1.ConfigMapProjection{LocalObjectReference: v1.LocalObjectReference{Name: "kube-root-ca.crt"}, Items: []v1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
			{DownwardAPI: &v1.DownwardAPIProjection{Items: []v1.DownwardAPIVolumeFile{{Path: "namespace", FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
		},
	}}}}
	return pod
}

func readVolumeFile(t *testing.T, dir, name string) (string, os.FileMode) {
	t.Helper()
	p := filepath.Join(dir, name)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(data), fi.Mode().Perm()
}

func TestProjectedVolumeServiceAccountToken(t *testing.T) {
	clk := testingclock.NewFakeClock(t0)
	fr := &fakeTokenRequester{}
	src := mapSource{cms: map[string]*v1.ConfigMap{"ns/kube-root-ca.crt": {Data: map[string]string{"ca.crt": "CA"}}}}
	paths := podPaths{dataDir: t.TempDir()}
	vs := volumeSetup{paths: paths, mounter: nopMounter{}, src: src, tokens: newTokenManager(fr, clk, discardLog()), now: clk.Now()}
	ctx := context.Background()

	for _, tc := range []struct {
		name string
		mode *int32
		want os.FileMode
	}{{"default mode", nil, 0o644}, {"projected defaultMode", ptr.To(int32(0o440)), 0o440}} {
		t.Run(tc.name, func(t *testing.T) {
			pod := kubeAPIAccessPod(tc.mode)
			pod.UID = types.UID("uid-" + strings.ReplaceAll(tc.name, " ", "-"))
			vols, refreshAt, err := vs.setup(ctx, pod, podAddresses{})
			if err != nil {
				t.Fatal(err)
			}
			dir := vols["kube-api-access"].Path
			if !vols["kube-api-access"].ReadOnly {
				t.Error("projected volume not read-only")
			}
			for name, want := range map[string]string{"ca.crt": "CA", "namespace": "ns"} {
				if got, mode := readVolumeFile(t, dir, name); got != want || mode != tc.want {
					t.Errorf("%s = %q mode %o, want %q mode %o", name, got, mode, want, tc.want)
				}
			}
			tok, mode := readVolumeFile(t, dir, "token")
			if !strings.HasPrefix(tok, "tok-") || mode != tc.want {
				t.Errorf("token = %q mode %o", tok, mode)
			}
			// 80% of 3607s
			if want := t0.Add(3607 * time.Second * 8 / 10); !refreshAt.Equal(want) {
				t.Errorf("refreshAt = %s, want %s", refreshAt, want)
			}
		})
	}
	call := fr.calls[0]
	if call.Namespace != "ns" || call.ServiceAccount != "builder" || call.Req.Spec.Audiences != nil || *call.Req.Spec.ExpirationSeconds != 3607 ||
		*call.Req.Spec.BoundObjectRef != (authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "web-0", UID: "uid-default-mode"}) {
		t.Errorf("token request = %+v %+v", call, call.Req.Spec)
	}
}

func TestProjectedVolumeTokenRefresh(t *testing.T) {
	clk := testingclock.NewFakeClock(t0)
	fr := &fakeTokenRequester{}
	src := mapSource{cms: map[string]*v1.ConfigMap{"ns/kube-root-ca.crt": {Data: map[string]string{"ca.crt": "CA"}}}}
	tokens := newTokenManager(fr, clk, discardLog())
	paths := podPaths{dataDir: t.TempDir()}
	pod := kubeAPIAccessPod(nil)
	sync := func() (string, time.Time) {
		t.Helper()
		vs := volumeSetup{paths: paths, mounter: nopMounter{}, src: src, tokens: tokens, now: clk.Now()}
		vols, refreshAt, err := vs.setup(context.Background(), pod, podAddresses{})
		if err != nil {
			t.Fatal(err)
		}
		tok, _ := readVolumeFile(t, vols["kube-api-access"].Path, "token")
		return tok, refreshAt
	}
	tok, refreshAt := sync()
	if tok != "tok-1" {
		t.Fatalf("token = %q", tok)
	}
	clk.SetTime(refreshAt.Add(-time.Second))
	if tok, _ = sync(); tok != "tok-1" {
		t.Errorf("token replaced before its refresh time: %q", tok)
	}
	clk.SetTime(refreshAt)
	tok, next := sync()
	if tok != "tok-2" {
		t.Errorf("token not replaced at its refresh time: %q", tok)
	}
	if !next.Equal(refreshAt.Add(3607 * time.Second * 8 / 10)) {
		t.Errorf("next refresh = %s", next)
	}
}

func TestProjectedVolumeTokenFailure(t *testing.T) {
	cs := fake.NewSimpleClientset()
	cs.PrependReactor("create", "serviceaccounts", func(action k8stesting.Action) (bool, runtime.Object, error) {
		if action.GetSubresource() != "token" {
			return false, nil, nil
		}
		return true, nil, apierrors.NewNotFound(schema.GroupResource{Resource: "serviceaccounts"}, "builder")
	})
	src := mapSource{cms: map[string]*v1.ConfigMap{"ns/kube-root-ca.crt": {Data: map[string]string{"ca.crt": "CA"}}}}
	clk := testingclock.NewFakeClock(t0)
	vs := volumeSetup{paths: podPaths{dataDir: t.TempDir()}, mounter: nopMounter{}, src: src,
		tokens: newTokenManager(clientTokenRequester{cs}, clk, discardLog()), now: clk.Now()}
	_, _, err := vs.setup(context.Background(), kubeAPIAccessPod(nil), podAddresses{})
	want := `volume "kube-api-access": failed to fetch token: request token for service account ns/builder: serviceaccounts "builder" not found`
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	if !apierrors.IsNotFound(err) {
		t.Errorf("the API error is not wrapped: %v", err)
	}
	if _, err := os.Stat(vs.paths.volume("uid-1", "kubernetes.io~projected", "kube-api-access")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("volume written without its token: %v", err)
	}
}

func TestProjectedVolumeWithoutTokenSource(t *testing.T) {
	vs := volumeSetup{paths: podPaths{dataDir: t.TempDir()}, mounter: nopMounter{},
		src: mapSource{cms: map[string]*v1.ConfigMap{"ns/kube-root-ca.crt": {Data: map[string]string{"ca.crt": "CA"}}}}, now: t0}
	if _, _, err := vs.setup(context.Background(), kubeAPIAccessPod(nil), podAddresses{}); err == nil || !strings.Contains(err.Error(), "failed to fetch token") {
		t.Errorf("err = %v", err)
	}
}

func TestVolumeSetupWithoutTokensHasNoRefresh(t *testing.T) {
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "u"}, Spec: v1.PodSpec{Volumes: []v1.Volume{
		{Name: "cfg", VolumeSource: v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{LocalObjectReference: v1.LocalObjectReference{Name: "cfg"}}}},
		{Name: "scratch", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{}}},
	}}}
	vs := volumeSetup{paths: podPaths{dataDir: t.TempDir()}, mounter: nopMounter{},
		src: mapSource{cms: map[string]*v1.ConfigMap{"ns/cfg": {Data: map[string]string{"k": "v"}}}}, now: t0}
	vols, refreshAt, err := vs.setup(context.Background(), pod, podAddresses{})
	if err != nil {
		t.Fatal(err)
	}
	if !refreshAt.IsZero() {
		t.Errorf("refreshAt = %s without tokens", refreshAt)
	}
	if got, _ := readVolumeFile(t, vols["cfg"].Path, "k"); got != "v" {
		t.Errorf("cfg/k = %q", got)
	}
}
