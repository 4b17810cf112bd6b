package disruption

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"strings"
	"sync"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
)

// ScaleReader reads the Scale of one workload of any kind. A nil Scale
// with no error means the workload does not exist.
type ScaleReader interface {
	Scale(ctx context.Context, gvk schema.GroupVersionKind, namespace, name string) (*autoscalingv1.Scale, error)
}

// NewDiscoveryScaleReader reads /scale subresources at the paths discovery
// names. It remembers only the kinds it found scalable: an unknown or
// unscalable kind is asked about again, since a CRD may appear or gain a
// scale subresource later.
func NewDiscoveryScaleReader(d discovery.DiscoveryInterface) ScaleReader {
	return &discoveryScales{disco: d, known: map[schema.GroupVersionKind]scalable{}}
}

type discoveryScales struct {
	disco discovery.DiscoveryInterface
	mu    sync.Mutex
	known map[schema.GroupVersionKind]scalable
}

type scalable struct {
	resource   string
	namespaced bool
	hasScale   bool
}

func (d *discoveryScales) Scale(ctx context.Context, gvk schema.GroupVersionKind, namespace, name string) (*autoscalingv1.Scale, error) {
	res, err := d.resourceFor(gvk)
	if err != nil {
		return nil, err
	}
	if !res.hasScale {
		return nil, fmt.Errorf("%s does not implement the scale subresource", schema.GroupResource{Group: gvk.Group, Resource: res.resource})
	}
	rc := d.disco.RESTClient()
	if rc == nil {
		return nil, fmt.Errorf("read scale of %s %s: no REST client", gvk.Kind, name)
	}
	p := "/apis/" + gvk.Group + "/" + gvk.Version
	if gvk.Group == "" {
		p = "/api/" + gvk.Version
	}
	if res.namespaced {
		p = path.Join(p, "namespaces", namespace)
	}
	raw, err := rc.Get().AbsPath(p, res.resource, name, "scale").Do(ctx).Raw()
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get %s/%s scale: %w", res.resource, name, err)
	}
	sc := &autoscalingv1.Scale{}
	if err := json.Unmarshal(raw, sc); err != nil {
		return nil, fmt.Errorf("decode %s/%s scale: %w", res.resource, name, err)
	}
	return sc, nil
}

// resourceFor maps a kind to its resource through discovery.
func (d *discoveryScales) resourceFor(gvk schema.GroupVersionKind) (scalable, error) {
	d.mu.Lock()
	res, ok := d.known[gvk]
	d.mu.Unlock()
	if ok {
		return res, nil
	}
	list, err := d.disco.ServerResourcesForGroupVersion(gvk.GroupVersion().String())
	if err != nil {
		return scalable{}, fmt.Errorf("discover %s: %w", gvk.GroupVersion(), err)
	}
	subresources := map[string]bool{}
	for _, r := range list.APIResources {
		if parent, sub, ok := strings.Cut(r.Name, "/"); ok && sub == "scale" {
			subresources[parent] = true
		}
	}
	for _, r := range list.APIResources {
		if r.Kind == gvk.Kind && !strings.Contains(r.Name, "/") {
			res = scalable{resource: r.Name, namespaced: r.Namespaced, hasScale: subresources[r.Name]}
			if res.hasScale {
				d.mu.Lock()
				d.known[gvk] = res
				d.mu.Unlock()
			}
			return res, nil
		}
	}
	return scalable{}, fmt.Errorf("no resource serves kind %s", gvk)
}
