package openapi

import (
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/gureum/gureum/internal/api"
)

// specBuilder turns a registry into OpenAPI documents. Describing the routes
// is cheap and done up front, so a registry the generated definitions cannot
// describe fails at construction; the schemas themselves are built on demand.
type specBuilder struct {
	gvs    []schema.GroupVersion
	routes map[schema.GroupVersion][]route
	namer  *definitionNamer

	// v3Definitions is GetOpenAPIDefinitions with references pointing into
	// components.schemas, generated once (it is most of the cost of a
	// build) and shared, read-only, by every v3 document and the type
	// converter; see v3Schemas.
	v3Once        sync.Once
	v3Definitions map[string]common.OpenAPIDefinition
}

func newSpecBuilder(reg *api.Registry, scheme *runtime.Scheme) (*specBuilder, error) {
	b := &specBuilder{
		gvs:    reg.GroupVersions(),
		routes: map[schema.GroupVersion][]route{},
		namer:  newDefinitionNamer(scheme, servedGroupVersions(reg)),
	}
	for _, gv := range b.gvs {
		routes, err := gvRoutes(reg, scheme, gv)
		if err != nil {
			return nil, err
		}
		b.routes[gv] = routes
	}
	return b, nil
}

// servedGroupVersions are the group-versions whose kinds travel over the
// API: those of the resources and of their subresources (autoscaling/v1 for
// Scale, policy/v1 for Eviction).
func servedGroupVersions(reg *api.Registry) map[schema.GroupVersion]bool {
	served := map[schema.GroupVersion]bool{}
	for _, res := range reg.All() {
		served[res.GroupVersionResource.GroupVersion()] = true
		for _, sub := range res.Subresources {
			served[subresourceKind(res, sub).GroupVersion()] = true
		}
	}
	return served
}

// checkDefinitions reports a type the routes use, directly or through the
// fields of another, that has no generated definition: the sign of a new API
// type and a stale zz_generated.openapi.go. Without this check the documents
// would fail on their first request instead of at startup.
func (b *specBuilder) checkDefinitions() error {
	defs := b.definitionsV3()
	for _, gv := range b.gvs {
		pending := referencedTypes(b.routes[gv])
		seen := map[string]bool{}
		for len(pending) > 0 {
			name := pending[len(pending)-1]
			pending = pending[:len(pending)-1]
			if seen[name] {
				continue
			}
			seen[name] = true
			def, ok := defs[name]
			if !ok {
				return fmt.Errorf("no OpenAPI definition for %s (served in %s): list its package in hack/update-openapi.sh if needed, and run it", name, gv)
			}
			pending = append(pending, def.Dependencies...)
		}
	}
	return nil
}

func (b *specBuilder) definitionsV3() map[string]common.OpenAPIDefinition {
	b.v3Once.Do(func() {
		b.v3Definitions = GetOpenAPIDefinitions(func(name string) spec.Ref {
			return ref(v3SchemaPrefix, name)
		})
	})
	return b.v3Definitions
}

// allRoutes is every route of every served group-version.
func (b *specBuilder) allRoutes() []route {
	var all []route
	for _, gv := range b.gvs {
		all = append(all, b.routes[gv]...)
	}
	return all
}

var info = &spec.Info{InfoProps: spec.InfoProps{Title: "Gureum", Version: "unversioned"}}

// bearerToken is how clients authenticate; kube-apiserver documents the same
// scheme under the same name.
const bearerToken = "BearerToken"

const bearerTokenDescription = "Bearer Token authentication"
