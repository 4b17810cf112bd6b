package cri

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// maxMessageSize bounds one CRI message. ListContainers, ListImages and
// ExecSync output on a busy node exceed gRPC's 4 MiB default; 16 MiB is
// what the kubelet allows too.
const maxMessageSize = 16 << 20

// Client is the gRPC implementation of Runtime for any CRI v1 runtime.
type Client struct {
	conn    *grpc.ClientConn
	runtime runtimeapi.RuntimeServiceClient
	images  runtimeapi.ImageServiceClient
}

var _ Runtime = (*Client)(nil)

// Dial connects to the CRI socket at endpoint, given as "unix:///path" or
// a plain path. The connection is made lazily by gRPC, so Dial succeeds
// while the runtime is still starting; the first call waits for it (up to
// the call's context), which is also why ctx is not used yet.
func Dial(_ context.Context, endpoint string) (*Client, error) {
	path, err := socketPath(endpoint)
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient("passthrough:///"+path,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}),
		// The runtime is a local socket that is either there or being
		// restarted: retry quickly instead of gRPC's internet-scale
		// backoff, which would add seconds to every runtime restart.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{
				BaseDelay:  50 * time.Millisecond,
				Multiplier: 1.6,
				Jitter:     0.2,
				MaxDelay:   time.Second,
			},
			MinConnectTimeout: 2 * time.Second,
		}),
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(maxMessageSize),
			grpc.MaxCallSendMsgSize(maxMessageSize),
			// A runtime that is restarting must not fail every call at
			// once: wait for the socket to come back within the caller's
			// deadline.
			grpc.WaitForReady(true),
		),
	)
	if err != nil {
		return nil, fmt.Errorf("dial CRI %s: %w", endpoint, err)
	}
	return &Client{
		conn:    conn,
		runtime: runtimeapi.NewRuntimeServiceClient(conn),
		images:  runtimeapi.NewImageServiceClient(conn),
	}, nil
}

func socketPath(endpoint string) (string, error) {
	switch {
	case strings.HasPrefix(endpoint, "unix://"):
		p := strings.TrimPrefix(endpoint, "unix://")
		if p == "" {
			return "", fmt.Errorf("CRI endpoint %q has no path", endpoint)
		}
		return p, nil
	case strings.Contains(endpoint, "://"):
		return "", fmt.Errorf("CRI endpoint %q: only unix sockets are supported", endpoint)
	case endpoint == "":
		return "", fmt.Errorf("CRI endpoint is empty")
	default:
		return endpoint, nil
	}
}

// Close releases the connection.
func (c *Client) Close() error { return c.conn.Close() }

func (c *Client) Version(ctx context.Context, req *runtimeapi.VersionRequest) (*runtimeapi.VersionResponse, error) {
	return c.runtime.Version(ctx, req)
}

func (c *Client) Status(ctx context.Context, req *runtimeapi.StatusRequest) (*runtimeapi.StatusResponse, error) {
	return c.runtime.Status(ctx, req)
}

func (c *Client) RunPodSandbox(ctx context.Context, req *runtimeapi.RunPodSandboxRequest) (*runtimeapi.RunPodSandboxResponse, error) {
	return c.runtime.RunPodSandbox(ctx, req)
}

func (c *Client) StopPodSandbox(ctx context.Context, req *runtimeapi.StopPodSandboxRequest) (*runtimeapi.StopPodSandboxResponse, error) {
	return c.runtime.StopPodSandbox(ctx, req)
}

func (c *Client) RemovePodSandbox(ctx context.Context, req *runtimeapi.RemovePodSandboxRequest) (*runtimeapi.RemovePodSandboxResponse, error) {
	return c.runtime.RemovePodSandbox(ctx, req)
}

func (c *Client) PodSandboxStatus(ctx context.Context, req *runtimeapi.PodSandboxStatusRequest) (*runtimeapi.PodSandboxStatusResponse, error) {
	return c.runtime.PodSandboxStatus(ctx, req)
}

func (c *Client) ListPodSandbox(ctx context.Context, req *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error) {
	return c.runtime.ListPodSandbox(ctx, req)
}

func (c *Client) CreateContainer(ctx context.Context, req *runtimeapi.CreateContainerRequest) (*runtimeapi.CreateContainerResponse, error) {
	return c.runtime.CreateContainer(ctx, req)
}

func (c *Client) StartContainer(ctx context.Context, req *runtimeapi.StartContainerRequest) (*runtimeapi.StartContainerResponse, error) {
	return c.runtime.StartContainer(ctx, req)
}

func (c *Client) StopContainer(ctx context.Context, req *runtimeapi.StopContainerRequest) (*runtimeapi.StopContainerResponse, error) {
	return c.runtime.StopContainer(ctx, req)
}

func (c *Client) RemoveContainer(ctx context.Context, req *runtimeapi.RemoveContainerRequest) (*runtimeapi.RemoveContainerResponse, error) {
	return c.runtime.RemoveContainer(ctx, req)
}

func (c *Client) ListContainers(ctx context.Context, req *runtimeapi.ListContainersRequest) (*runtimeapi.ListContainersResponse, error) {
	return c.runtime.ListContainers(ctx, req)
}

func (c *Client) ContainerStatus(ctx context.Context, req *runtimeapi.ContainerStatusRequest) (*runtimeapi.ContainerStatusResponse, error) {
	return c.runtime.ContainerStatus(ctx, req)
}

func (c *Client) ExecSync(ctx context.Context, req *runtimeapi.ExecSyncRequest) (*runtimeapi.ExecSyncResponse, error) {
	return c.runtime.ExecSync(ctx, req)
}

func (c *Client) Exec(ctx context.Context, req *runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error) {
	return c.runtime.Exec(ctx, req)
}

func (c *Client) Attach(ctx context.Context, req *runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error) {
	return c.runtime.Attach(ctx, req)
}

func (c *Client) PortForward(ctx context.Context, req *runtimeapi.PortForwardRequest) (*runtimeapi.PortForwardResponse, error) {
	return c.runtime.PortForward(ctx, req)
}

func (c *Client) ListContainerStats(ctx context.Context, req *runtimeapi.ListContainerStatsRequest) (*runtimeapi.ListContainerStatsResponse, error) {
	return c.runtime.ListContainerStats(ctx, req)
}

func (c *Client) PullImage(ctx context.Context, req *runtimeapi.PullImageRequest) (*runtimeapi.PullImageResponse, error) {
	return c.images.PullImage(ctx, req)
}

func (c *Client) ImageStatus(ctx context.Context, req *runtimeapi.ImageStatusRequest) (*runtimeapi.ImageStatusResponse, error) {
	return c.images.ImageStatus(ctx, req)
}

func (c *Client) ListImages(ctx context.Context, req *runtimeapi.ListImagesRequest) (*runtimeapi.ListImagesResponse, error) {
	return c.images.ListImages(ctx, req)
}

func (c *Client) RemoveImage(ctx context.Context, req *runtimeapi.RemoveImageRequest) (*runtimeapi.RemoveImageResponse, error) {
	return c.images.RemoveImage(ctx, req)
}
