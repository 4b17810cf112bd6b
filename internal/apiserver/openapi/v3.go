package openapi

import (
	"fmt"
	"maps"
	"net/http"

	"k8s.io/apimachinery/pkg/runtime/schema"
	builder3 "k8s.io/kube-openapi/pkg/builder3"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/gureum/gureum/internal/api"
)

const v3SchemaPrefix = "#/components/schemas/"

// BuildV3 returns one OpenAPI v3 document per served group-version, keyed as
// kube-apiserver's /openapi/v3 index keys them ("api/v1", "apis/apps/v1").
func BuildV3(reg *api.Registry) (map[string]*spec3.OpenAPI, error) {
	b, err := newSpecBuilder(reg, api.Scheme)
	if err != nil {
		return nil, err
	}
	docs := map[string]*spec3.OpenAPI{}
	for _, gv := range b.gvs {
		doc, err := b.v3(gv)
		if err != nil {
			return nil, err
		}
		docs[gvKey(gv)] = doc
	}
	return docs, nil
}

// v3Schemas builds the components.schemas holding the given Go types and
// everything they reference. kube-openapi's builder drops the v2-only
// variants and wraps references that carry a description in allOf, as v3
// requires.
func (b *specBuilder) v3Schemas(roots []string) (map[string]*spec.Schema, error) {
	// The builder writes into the top-level extension map of each
	// definition it is given (adding the group/version/kinds, deleting the
	// v2 variant) and hands that map on in its result; everything deeper it
	// copies before changing. So each build gets its own copy of those maps,
	// or documents built and served concurrently would race.
	shared := b.definitionsV3()
	defs := make(map[string]common.OpenAPIDefinition, len(shared))
	for name, def := range shared {
		def.Schema.Extensions = maps.Clone(def.Schema.Extensions)
		defs[name] = def
	}
	return builder3.BuildOpenAPIDefinitionsForResources(&common.OpenAPIV3Config{
		Info:              info,
		Definitions:       defs,
		GetDefinitionName: b.namer.name,
	}, roots...)
}

// v3 is the document of one group-version: its paths and exactly the
// schemas they need, so a client reads one group without the others.
func (b *specBuilder) v3(gv schema.GroupVersion) (*spec3.OpenAPI, error) {
	routes, ok := b.routes[gv]
	if !ok {
		return nil, fmt.Errorf("group-version %s is not served", gv)
	}
	schemas, err := b.v3Schemas(referencedTypes(routes))
	if err != nil {
		return nil, fmt.Errorf("openapi v3 for %s: %w", gv, err)
	}
	doc := &spec3.OpenAPI{
		Version: "3.0.0",
		Info:    info,
		Paths:   &spec3.Paths{Paths: make(map[string]*spec3.Path, len(routes))},
		Components: &spec3.Components{
			Schemas: schemas,
			SecuritySchemes: spec3.SecuritySchemes{bearerToken: &spec3.SecurityScheme{
				SecuritySchemeProps: spec3.SecuritySchemeProps{Type: "apiKey", Name: "authorization", In: "header", Description: bearerTokenDescription},
			}},
		},
		SecurityRequirement: []map[string][]string{{bearerToken: {}}},
	}
	for _, r := range routes {
		path := &spec3.Path{}
		for _, p := range r.pathParams {
			path.Parameters = append(path.Parameters, v3Param(p))
		}
		for _, o := range r.ops {
			op := v3Operation(o)
			switch o.method {
			case http.MethodGet:
				path.Get = op
			case http.MethodPost:
				path.Post = op
			case http.MethodPut:
				path.Put = op
			case http.MethodPatch:
				path.Patch = op
			case http.MethodDelete:
				path.Delete = op
			}
		}
		doc.Paths.Paths[r.path] = path
	}
	return doc, nil
}

func v3Operation(o operation) *spec3.Operation {
	op := &spec3.Operation{OperationProps: spec3.OperationProps{
		OperationId: o.id,
		Description: o.description,
		Tags:        []string{o.tag},
		Responses:   &spec3.Responses{ResponsesProps: spec3.ResponsesProps{StatusCodeResponses: map[int]*spec3.Response{}}},
	}}
	for _, p := range o.params {
		op.Parameters = append(op.Parameters, v3Param(p))
	}
	if o.body != "" {
		// One entry per accepted content type: this is how a v3 client
		// learns that PATCH takes a strategic merge patch.
		body := &spec3.RequestBody{RequestBodyProps: spec3.RequestBodyProps{
			Content: map[string]*spec3.MediaType{}, Required: o.bodyRequired,
		}}
		for _, ct := range o.consumes {
			body.Content[ct] = &spec3.MediaType{MediaTypeProps: spec3.MediaTypeProps{Schema: v3Schema(o.body)}}
		}
		op.RequestBody = body
	}
	for _, r := range o.responses {
		resp := &spec3.Response{ResponseProps: spec3.ResponseProps{Description: r.description}}
		if r.code < 300 {
			resp.Content = map[string]*spec3.MediaType{}
			for _, ct := range o.produces {
				resp.Content[ct] = &spec3.MediaType{MediaTypeProps: spec3.MediaTypeProps{Schema: v3Schema(r.typeName)}}
			}
		}
		op.Responses.StatusCodeResponses[r.code] = resp
	}
	if o.action != "" || o.gvk != nil {
		op.Extensions = spec.Extensions{}
	}
	if o.action != "" {
		op.Extensions.Add("x-kubernetes-action", o.action)
	}
	if o.gvk != nil {
		op.Extensions.Add(extensionGVK, gvkMap(*o.gvk))
	}
	return op
}

func v3Schema(typeName string) *spec.Schema {
	if typeName == "" {
		return &spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"string"}}}
	}
	return &spec.Schema{SchemaProps: spec.SchemaProps{Ref: ref(v3SchemaPrefix, typeName)}}
}

func v3Param(p param) *spec3.Parameter {
	return &spec3.Parameter{ParameterProps: spec3.ParameterProps{
		Name: p.name, In: p.in, Description: p.description, Required: p.required,
		Schema: &spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{p.typ}, UniqueItems: true}},
	}}
}
