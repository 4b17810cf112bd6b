package apiserver

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gureum/gureum/internal/api"
	"github.com/gureum/gureum/internal/store"
)

// allocator hands out Service ClusterIPs and NodePorts. Each allocated
// value is a reservation key in etcd written in the same transaction as the
// Service, so two concurrent creates can never get the same address: the
// second transaction fails its "must not exist" condition and picks again.
type allocator struct {
	cidr             *net.IPNet
	portMin, portMax int
}

const (
	ipReservationPrefix   = "/registry/ranges/serviceips/"
	portReservationPrefix = "/registry/ranges/servicenodeports/"
)

func newAllocator(cidr *net.IPNet, portMin, portMax int) *allocator {
	if cidr == nil {
		_, cidr, _ = net.ParseCIDR("10.43.0.0/16")
	}
	if portMin == 0 {
		portMin, portMax = 30000, 32767
	}
	return &allocator{cidr: cidr, portMin: portMin, portMax: portMax}
}

func (al *allocator) inRange(ip net.IP) bool { return al.cidr.Contains(ip) }

// randomIP picks an address in the range, skipping the network address and
// the first address (reserved for the kubernetes Service).
func (al *allocator) randomIP() net.IP {
	base := binary.BigEndian.Uint32(al.cidr.IP.To4())
	ones, bits := al.cidr.Mask.Size()
	size := uint32(1) << uint(bits-ones)
	if size <= 4 {
		return nil
	}
	off := 2 + rand.Uint32N(size-3)
	ip := make(net.IP, 4)
	binary.BigEndian.PutUint32(ip, base+off)
	return ip
}

func needsClusterIP(svc *corev1.Service) bool {
	return svc.Spec.Type != corev1.ServiceTypeExternalName && svc.Spec.ClusterIP != corev1.ClusterIPNone
}

func needsNodePorts(svc *corev1.Service) bool {
	if svc.Spec.Type == corev1.ServiceTypeNodePort {
		return true
	}
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer &&
		(svc.Spec.AllocateLoadBalancerNodePorts == nil || *svc.Spec.AllocateLoadBalancerNodePorts)
}

// admitCreate fills in and reserves a new Service's ClusterIP and NodePorts.
func (al *allocator) admitCreate(ctx context.Context, s *Server, res *api.Resource, obj runtime.Object) ([]store.Cond, []store.Op, error) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return nil, nil, nil
	}
	return al.reserve(svc, nil)
}

// admitUpdate reserves what an update adds and releases what it drops.
func (al *allocator) admitUpdate(ctx context.Context, s *Server, res *api.Resource, obj, cur runtime.Object) ([]store.Cond, []store.Op, error) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return nil, nil, nil
	}
	old := cur.(*corev1.Service)
	return al.reserve(svc, old)
}

func (al *allocator) reserve(svc, old *corev1.Service) ([]store.Cond, []store.Op, error) {
	var conds []store.Cond
	var ops []store.Op
	owner := []byte(svc.Namespace + "/" + svc.Name)
	var errs field.ErrorList
	specPath := field.NewPath("spec")

	if needsClusterIP(svc) {
		if old != nil && old.Spec.ClusterIP != "" && old.Spec.ClusterIP != corev1.ClusterIPNone {
			if svc.Spec.ClusterIP == "" {
				svc.Spec.ClusterIP = old.Spec.ClusterIP
			}
		} else if svc.Spec.ClusterIP == "" {
			ip := al.randomIP()
			if ip == nil {
				return nil, nil, apierrors.NewInternalError(fmt.Errorf("service CIDR %s is too small", al.cidr))
			}
			svc.Spec.ClusterIP = ip.String()
			conds = append(conds, store.Cond{Key: ipReservationPrefix + ip.String(), MustNotExist: true})
			ops = append(ops, store.Op{Key: ipReservationPrefix + ip.String(), Value: owner})
		} else {
			ip := net.ParseIP(svc.Spec.ClusterIP)
			if ip == nil || !al.inRange(ip) {
				errs = append(errs, field.Invalid(specPath.Child("clusterIP"), svc.Spec.ClusterIP,
					fmt.Sprintf("provided IP is not in the valid range. The range of valid IPs is %s", al.cidr)))
			} else {
				conds = append(conds, store.Cond{Key: ipReservationPrefix + ip.String(), MustNotExist: true})
				ops = append(ops, store.Op{Key: ipReservationPrefix + ip.String(), Value: owner})
			}
		}
		svc.Spec.ClusterIPs = []string{svc.Spec.ClusterIP}
	} else if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		svc.Spec.ClusterIPs = []string{corev1.ClusterIPNone}
	}

	oldPorts := map[int32]bool{}
	if old != nil {
		for _, p := range old.Spec.Ports {
			if p.NodePort != 0 {
				oldPorts[p.NodePort] = true
			}
		}
	}
	keep := map[int32]bool{}
	if needsNodePorts(svc) {
		for i := range svc.Spec.Ports {
			p := &svc.Spec.Ports[i]
			if p.NodePort == 0 && old != nil {
				// An update that omits a NodePort keeps the one it had.
				for _, op := range old.Spec.Ports {
					if op.Port == p.Port && op.Protocol == p.Protocol && op.NodePort != 0 {
						p.NodePort = op.NodePort
					}
				}
			}
			if p.NodePort == 0 {
				p.NodePort = int32(al.portMin + rand.IntN(al.portMax-al.portMin+1))
			} else if int(p.NodePort) < al.portMin || int(p.NodePort) > al.portMax {
				errs = append(errs, field.Invalid(specPath.Child("ports").Index(i).Child("nodePort"), p.NodePort,
					fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %d-%d", al.portMin, al.portMax)))
				continue
			}
			keep[p.NodePort] = true
			if oldPorts[p.NodePort] {
				continue
			}
			key := portReservationPrefix + strconv.Itoa(int(p.NodePort))
			conds = append(conds, store.Cond{Key: key, MustNotExist: true})
			ops = append(ops, store.Op{Key: key, Value: owner})
		}
	} else {
		for i := range svc.Spec.Ports {
			svc.Spec.Ports[i].NodePort = 0
		}
	}
	for p := range oldPorts {
		if !keep[p] {
			ops = append(ops, store.Op{Key: portReservationPrefix + strconv.Itoa(int(p)), Delete: true})
		}
	}
	if old != nil && old.Spec.ClusterIP != "" && old.Spec.ClusterIP != corev1.ClusterIPNone && !needsClusterIP(svc) {
		ops = append(ops, store.Op{Key: ipReservationPrefix + old.Spec.ClusterIP, Delete: true})
	}
	if len(errs) > 0 {
		return nil, nil, apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Service").GroupKind(), svc.Name, errs)
	}
	return conds, ops, nil
}

// requestedTaken returns a 422 when the reservation that failed is one the
// client asked for by value (a fixed ClusterIP or NodePort).
func (al *allocator) requestedTaken(requested runtime.Object, key string) error {
	svc, ok := requested.(*corev1.Service)
	if !ok {
		return nil
	}
	gk := corev1.SchemeGroupVersion.WithKind("Service").GroupKind()
	if svc.Spec.ClusterIP != "" && key == ipReservationPrefix+svc.Spec.ClusterIP {
		return apierrors.NewInvalid(gk, svc.Name, field.ErrorList{field.Invalid(field.NewPath("spec", "clusterIPs").Index(0), svc.Spec.ClusterIP,
			"failed to allocate IP "+svc.Spec.ClusterIP+": provided IP is already allocated")})
	}
	for i, p := range svc.Spec.Ports {
		if p.NodePort != 0 && key == portReservationPrefix+strconv.Itoa(int(p.NodePort)) {
			return apierrors.NewInvalid(gk, svc.Name, field.ErrorList{field.Invalid(field.NewPath("spec", "ports").Index(i).Child("nodePort"), p.NodePort,
				"provided port is already allocated")})
		}
	}
	return nil
}

// releaseOps deletes a Service's reservations along with the Service.
func (al *allocator) releaseOps(res *api.Resource, obj runtime.Object) []store.Op {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return nil
	}
	var ops []store.Op
	if svc.Spec.ClusterIP != "" && svc.Spec.ClusterIP != corev1.ClusterIPNone {
		ops = append(ops, store.Op{Key: ipReservationPrefix + svc.Spec.ClusterIP, Delete: true})
	}
	for _, p := range svc.Spec.Ports {
		if p.NodePort != 0 {
			ops = append(ops, store.Op{Key: portReservationPrefix + strconv.Itoa(int(p.NodePort)), Delete: true})
		}
	}
	return ops
}
