package integration

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/gureum/gureum/internal/testenv"
)

// TestProtobufListFromCacheMatchesJSON lists pods through a protobuf client
// (the list is assembled from cached per-object protobuf) and a JSON client
// and expects the same objects, pages included.
func TestProtobufListFromCacheMatchesJSON(t *testing.T) {
	s := testenv.Start(t)
	ctx := context.Background()
	for i := 0; i < 12; i++ {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%02d", i), Labels: map[string]string{"i": fmt.Sprint(i % 2)}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
		if _, err := s.Client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	pcfg := rest.CopyConfig(s.Config)
	pcfg.ContentType = "application/vnd.kubernetes.protobuf"
	pcfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf"
	pb := kubernetes.NewForConfigOrDie(pcfg)
	raw, err := pb.CoreV1().RESTClient().Get().Namespace("default").Resource("pods").
		SetHeader("Accept", "application/vnd.kubernetes.protobuf").DoRaw(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(raw, []byte("k8s\x00")) {
		t.Fatalf("a protobuf list did not come back as protobuf: %q", raw[:min(len(raw), 40)])
	}
	for _, opts := range []metav1.ListOptions{{}, {ResourceVersion: "0"}, {LabelSelector: "i=1"}, {Limit: 5}} {
		want, err := s.Client.CoreV1().Pods("default").List(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		got, err := pb.CoreV1().Pods("default").List(ctx, opts)
		if err != nil {
			t.Fatalf("protobuf list %+v: %v", opts, err)
		}
		if len(got.Items) != len(want.Items) || got.Continue != want.Continue && opts.Limit == 0 {
			t.Fatalf("protobuf list %+v: %d items, JSON %d", opts, len(got.Items), len(want.Items))
		}
		for i := range want.Items {
			if !reflect.DeepEqual(got.Items[i], want.Items[i]) {
				t.Errorf("item %d differs:\nprotobuf %+v\njson     %+v", i, got.Items[i], want.Items[i])
			}
		}
		if opts.Limit > 0 && (got.Continue == "" || got.RemainingItemCount == nil || *got.RemainingItemCount != 7) {
			t.Errorf("protobuf page: continue=%q remaining=%v", got.Continue, got.RemainingItemCount)
		}
	}
}
