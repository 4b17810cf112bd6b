package openapi

import (
	"net/http"

	builder2 "k8s.io/kube-openapi/pkg/builder"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/handler"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/gureum/gureum/internal/api"
)

const v2DefinitionPrefix = "#/definitions/"

// BuildV2 returns the OpenAPI v2 document for every resource in reg: all the
// definitions the paths use, and a path for every resource, subresource and
// verb.
func BuildV2(reg *api.Registry) (*spec.Swagger, error) {
	b, err := newSpecBuilder(reg, api.Scheme)
	if err != nil {
		return nil, err
	}
	return b.v2()
}

func (b *specBuilder) v2() (*spec.Swagger, error) {
	routes := b.allRoutes()
	// kube-openapi's builder follows each definition's dependencies and
	// applies the v2 variants of types that differ between versions
	// (IntOrString, Quantity).
	sw, err := builder2.BuildOpenAPIDefinitionsForResources(&common.Config{
		Info:              info,
		GetDefinitions:    GetOpenAPIDefinitions,
		GetDefinitionName: b.namer.name,
	}, referencedTypes(routes)...)
	if err != nil {
		return nil, err
	}
	// kube-apiserver serves v2 without defaults: old clients misread them.
	sw.Definitions = handler.PruneDefaults(sw.Definitions)
	sw.SecurityDefinitions = spec.SecurityDefinitions{bearerToken: &spec.SecurityScheme{
		SecuritySchemeProps: spec.SecuritySchemeProps{Type: "apiKey", Name: "authorization", In: "header", Description: bearerTokenDescription},
	}}
	sw.Security = []map[string][]string{{bearerToken: {}}}
	sw.Paths = &spec.Paths{Paths: make(map[string]spec.PathItem, len(routes))}
	for _, r := range routes {
		item := spec.PathItem{}
		for _, p := range r.pathParams {
			item.Parameters = append(item.Parameters, v2Param(p))
		}
		for _, o := range r.ops {
			op := v2Operation(o)
			switch o.method {
			case http.MethodGet:
				item.Get = op
			case http.MethodPost:
				item.Post = op
			case http.MethodPut:
				item.Put = op
			case http.MethodPatch:
				item.Patch = op
			case http.MethodDelete:
				item.Delete = op
			}
		}
		sw.Paths.Paths[r.path] = item
	}
	return sw, nil
}

func v2Operation(o operation) *spec.Operation {
	op := &spec.Operation{OperationProps: spec.OperationProps{
		ID:          o.id,
		Description: o.description,
		Tags:        []string{o.tag},
		Consumes:    o.consumes,
		Produces:    o.produces,
		Schemes:     []string{"https"},
		Responses:   &spec.Responses{ResponsesProps: spec.ResponsesProps{StatusCodeResponses: map[int]spec.Response{}}},
	}}
	for _, p := range o.params {
		op.Parameters = append(op.Parameters, v2Param(p))
	}
	if o.body != "" {
		op.Parameters = append(op.Parameters, spec.Parameter{ParamProps: spec.ParamProps{
			Name: "body", In: "body", Required: o.bodyRequired,
			Schema: &spec.Schema{SchemaProps: spec.SchemaProps{Ref: ref(v2DefinitionPrefix, o.body)}},
		}})
	}
	for _, r := range o.responses {
		resp := spec.Response{ResponseProps: spec.ResponseProps{Description: r.description}}
		if r.code < 300 {
			resp.Schema = v2Schema(r.typeName)
		}
		op.Responses.StatusCodeResponses[r.code] = resp
	}
	if o.action != "" {
		op.AddExtension("x-kubernetes-action", o.action)
	}
	if o.gvk != nil {
		op.AddExtension(extensionGVK, gvkMap(*o.gvk))
	}
	return op
}

func v2Schema(typeName string) *spec.Schema {
	if typeName == "" {
		return &spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"string"}}}
	}
	return &spec.Schema{SchemaProps: spec.SchemaProps{Ref: ref(v2DefinitionPrefix, typeName)}}
}

func v2Param(p param) spec.Parameter {
	return spec.Parameter{
		ParamProps:   spec.ParamProps{Name: p.name, In: p.in, Description: p.description, Required: p.required},
		SimpleSchema: spec.SimpleSchema{Type: p.typ},
		// go-restful marks every single-valued parameter unique; kube-apiserver's
		// documents carry it, and generators expect it.
		CommonValidations: spec.CommonValidations{UniqueItems: true},
	}
}
