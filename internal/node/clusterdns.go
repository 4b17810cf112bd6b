package node

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/gureum/gureum/internal/dns"
)

// Cluster DNS defaults, as on Kubernetes clusters: the tenth address of the
// service range behind the kube-dns Service, domain cluster.local.
const (
	DefaultClusterDomain  = dns.DefaultDomain
	DefaultClusterDNSPort = 53
	clusterDNSOffset      = 10
)

// clusterDNSIP is the kube-dns Service's address in the service range.
func clusterDNSIP(serviceNet *net.IPNet) net.IP {
	ip := make(net.IP, 4)
	copy(ip, serviceNet.IP.To4())
	ip[3] += clusterDNSOffset
	return ip
}

// clusterDNS serves cluster DNS on this machine's address and publishes it
// as the kube-dns Service in kube-system, whose ClusterIP the service
// proxy on every node sends to it.
type clusterDNS struct {
	Client    kubernetes.Interface
	ServiceIP net.IP
	HostIP    string
	Port      int
	Domain    string
	Log       *slog.Logger
}

// Run serves until ctx ends. A DNS server that cannot start (port 53 taken
// by another resolver) is reported and leaves the rest of the cloud up:
// pods then resolve only what the node's resolver knows.
func (c clusterDNS) Run(ctx context.Context) error {
	upstreams, err := dns.UpstreamsFromResolvConf("/etc/resolv.conf", c.ServiceIP.String(), c.HostIP)
	if err != nil {
		c.Log.Warn("no upstream resolvers; names outside the cluster will not resolve", "err", err)
	}
	srv, err := dns.New(dns.Config{
		Client:    c.Client,
		Domain:    c.Domain,
		Upstreams: upstreams,
		Addr:      net.JoinHostPort(c.HostIP, strconv.Itoa(c.Port)),
		Log:       c.Log,
	})
	if err != nil {
		return fmt.Errorf("cluster DNS: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	select {
	case <-srv.Ready():
	case err := <-done:
		if err != nil && ctx.Err() == nil {
			c.Log.Error("cluster DNS did not start; pick a free --cluster-dns-port", "addr", net.JoinHostPort(c.HostIP, strconv.Itoa(c.Port)), "err", err)
		}
		return nil
	case <-ctx.Done():
		return nil
	}
	if err := c.publish(ctx); err != nil {
		c.Log.Error("publish the kube-dns service", "err", err)
	}
	c.Log.Info("cluster DNS serving", "addr", srv.Addr(), "service", c.ServiceIP.String(), "domain", c.Domain)
	if err := <-done; err != nil && ctx.Err() == nil {
		c.Log.Error("cluster DNS stopped", "err", err)
	}
	return nil
}

// publish creates or corrects kube-system/kube-dns and points it at this
// server.
func (c clusterDNS) publish(ctx context.Context) error {
	target := intstr.FromInt32(int32(c.Port))
	ports := []corev1.ServicePort{
		{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: target},
		{Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP, TargetPort: target},
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-dns", Namespace: metav1.NamespaceSystem, Labels: map[string]string{
			"k8s-app": "kube-dns", "kubernetes.io/name": "Gureum-DNS", "kubernetes.io/cluster-service": "true",
		}},
		Spec: corev1.ServiceSpec{ClusterIP: c.ServiceIP.String(), Ports: ports},
	}
	services := c.Client.CoreV1().Services(metav1.NamespaceSystem)
	if _, err := services.Create(ctx, svc, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
		cur, err := services.Get(ctx, svc.Name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("get kube-dns service: %w", err)
		}
		cur.Spec.Ports = ports
		if _, err := services.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("update kube-dns service: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("create kube-dns service: %w", err)
	}
	return publishEndpoints(ctx, c.Client, metav1.NamespaceSystem, "kube-dns", c.HostIP, []corev1.EndpointPort{
		{Name: "dns", Port: int32(c.Port), Protocol: corev1.ProtocolUDP},
		{Name: "dns-tcp", Port: int32(c.Port), Protocol: corev1.ProtocolTCP},
	})
}
