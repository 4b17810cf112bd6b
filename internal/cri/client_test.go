package cri

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

type testRuntime struct {
	runtimeapi.UnimplementedRuntimeServiceServer
}

func (testRuntime) Version(_ context.Context, req *runtimeapi.VersionRequest) (*runtimeapi.VersionResponse, error) {
	return &runtimeapi.VersionResponse{Version: req.Version, RuntimeName: "test"}, nil
}

func (testRuntime) ExecSync(_ context.Context, req *runtimeapi.ExecSyncRequest) (*runtimeapi.ExecSyncResponse, error) {
	// Bigger than gRPC's 4 MiB default receive limit.
	return &runtimeapi.ExecSyncResponse{Stdout: []byte(strings.Repeat("x", 6<<20))}, nil
}

type testImages struct {
	runtimeapi.UnimplementedImageServiceServer
}

func (testImages) PullImage(_ context.Context, req *runtimeapi.PullImageRequest) (*runtimeapi.PullImageResponse, error) {
	return &runtimeapi.PullImageResponse{ImageRef: "sha256:" + req.Image.Image}, nil
}

func serve(t *testing.T, sock string) {
	t.Helper()
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	runtimeapi.RegisterRuntimeServiceServer(srv, &testRuntime{})
	runtimeapi.RegisterImageServiceServer(srv, &testImages{})
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
}

func TestDialEndpointForms(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "cri.sock")
	serve(t, sock)
	for _, ep := range []string{"unix://" + sock, sock} {
		t.Run(ep, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := Dial(ctx, ep)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			v, err := c.Version(ctx, &runtimeapi.VersionRequest{Version: "v1"})
			if err != nil {
				t.Fatal(err)
			}
			if v.RuntimeName != "test" || v.Version != "v1" {
				t.Fatalf("version = %+v", v)
			}
			p, err := c.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: "abc"}})
			if err != nil {
				t.Fatal(err)
			}
			if p.ImageRef != "sha256:abc" {
				t.Fatalf("image ref = %q", p.ImageRef)
			}
			r, err := c.ExecSync(ctx, &runtimeapi.ExecSyncRequest{})
			if err != nil {
				t.Fatalf("large ExecSync response: %v", err)
			}
			if len(r.Stdout) != 6<<20 {
				t.Fatalf("stdout = %d bytes", len(r.Stdout))
			}
		})
	}
}

// A runtime that starts after the agent connected is reached by the first
// call that waits for it, without a new Dial.
func TestCallWaitsForLateRuntime(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "cri.sock")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	started := make(chan struct{})
	go func() {
		time.Sleep(200 * time.Millisecond)
		serve(t, sock)
		close(started)
	}()
	if _, err := c.Version(ctx, &runtimeapi.VersionRequest{}); err != nil {
		t.Fatal(err)
	}
	<-started
}

func TestDialRejectsBadEndpoints(t *testing.T) {
	for _, ep := range []string{"", "unix://", "tcp://127.0.0.1:1"} {
		if _, err := Dial(context.Background(), ep); err == nil {
			t.Errorf("Dial(%q) succeeded", ep)
		}
	}
}
