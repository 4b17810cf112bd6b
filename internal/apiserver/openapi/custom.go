package openapi

import (
	"fmt"
	"sort"
	"sync"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apiextensions-apiserver/pkg/controller/openapi/builder"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/kube-openapi/pkg/cached"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// Custom resources are published the way kube-apiserver publishes them:
// apiextensions' own builder turns each served CRD version into paths and
// definitions (so `kubectl explain` and client-side validation see exactly
// what they would see there), merged into the v2 document and into one v3
// document per custom group-version.

// customState is what the custom resources add to the documents.
type customState struct {
	mu sync.Mutex
	// v3 holds the keys ("apis/stable.example.com/v1") of custom documents.
	v3 map[string]bool
	// generation numbers the updates, for etags.
	generation int
	// metaOnce builds the meta schemas custom resources reference.
	metaOnce    sync.Once
	metaSchemas map[string]*spec.Schema
	metaErr     error
}

// SetCustomResources replaces what custom resources contribute to the
// documents with the served versions of crds. Documents are built on their
// next request.
func (s *Service) SetCustomResources(crds []*apiextensionsv1.CustomResourceDefinition) {
	crds = append([]*apiextensionsv1.CustomResourceDefinition{}, crds...)
	sort.Slice(crds, func(i, j int) bool { return crds[i].Name < crds[j].Name })
	byGV := map[string][]served{}
	var all []served
	for _, crd := range crds {
		for _, v := range crd.Spec.Versions {
			if !v.Served {
				continue
			}
			key := gvKey(schema.GroupVersion{Group: crd.Spec.Group, Version: v.Name})
			byGV[key] = append(byGV[key], served{crd, v.Name})
			all = append(all, served{crd, v.Name})
		}
	}

	s.custom.mu.Lock()
	defer s.custom.mu.Unlock()
	// kube-openapi's handlers re-serialize a document only when its etag
	// changes, so every update carries a new one.
	s.custom.generation++
	etag := fmt.Sprintf("custom-%d", s.custom.generation)
	for key := range s.custom.v3 {
		if _, ok := byGV[key]; !ok {
			s.v3.DeleteGroupVersion(key)
			delete(s.custom.v3, key)
			s.setV3Key(key, false)
		}
	}
	for key, versions := range byGV {
		versions := versions
		s.v3.UpdateGroupVersionLazy(key, cached.Once(cached.Func(func() (*spec3.OpenAPI, string, error) {
			docs := make([]*spec3.OpenAPI, 0, len(versions))
			for _, sv := range versions {
				d, err := builder.BuildOpenAPIV3(sv.crd, sv.version, builder.Options{V2: false, IncludeSelectableFields: true})
				if err != nil {
					return nil, "", fmt.Errorf("openapi v3 for %s %s: %w", sv.crd.Name, sv.version, err)
				}
				docs = append(docs, d)
			}
			doc, err := builder.MergeSpecsV3(docs...)
			return doc, etag, err
		})))
		s.custom.v3[key] = true
		s.setV3Key(key, true)
	}
	s.v2.UpdateSpecLazy(cached.Once(cached.Func(func() (*spec.Swagger, string, error) {
		static, err := s.builder.v2()
		if err != nil {
			return nil, "", err
		}
		specs := make([]*spec.Swagger, 0, len(all))
		for _, sv := range all {
			sw, err := builder.BuildOpenAPIV2(sv.crd, sv.version, builder.Options{V2: true, IncludeSelectableFields: true})
			if err != nil {
				return nil, "", fmt.Errorf("openapi v2 for %s %s: %w", sv.crd.Name, sv.version, err)
			}
			specs = append(specs, sw)
		}
		merged, err := builder.MergeSpecs(static, specs...)
		return merged, etag, err
	})))
}

type served struct {
	crd     *apiextensionsv1.CustomResourceDefinition
	version string
}

// CustomTypeConverter is the server-side apply schema of one version of a
// CRD: its published definition plus the meta types it refers to.
func (s *Service) CustomTypeConverter(crd *apiextensionsv1.CustomResourceDefinition, version string) (managedfields.TypeConverter, error) {
	s.custom.metaOnce.Do(func() {
		s.custom.metaSchemas, s.custom.metaErr = s.builder.v3Schemas([]string{
			"k8s.io/apimachinery/pkg/apis/meta/v1.ObjectMeta",
			"k8s.io/apimachinery/pkg/apis/meta/v1.ListMeta",
		})
	})
	if s.custom.metaErr != nil {
		return nil, s.custom.metaErr
	}
	doc, err := builder.BuildOpenAPIV3(crd, version, builder.Options{V2: false})
	if err != nil {
		return nil, fmt.Errorf("openapi v3 for %s %s: %w", crd.Name, version, err)
	}
	schemas := make(map[string]*spec.Schema, len(s.custom.metaSchemas)+len(doc.Components.Schemas))
	for k, v := range s.custom.metaSchemas {
		schemas[k] = v
	}
	for k, v := range doc.Components.Schemas {
		schemas[k] = v
	}
	preserve := crd.Spec.PreserveUnknownFields
	for _, v := range crd.Spec.Versions {
		if v.Name == version && v.Schema != nil && v.Schema.OpenAPIV3Schema != nil {
			if p := v.Schema.OpenAPIV3Schema.XPreserveUnknownFields; p != nil && *p {
				preserve = true
			}
		}
	}
	tc, err := managedfields.NewTypeConverter(schemas, preserve)
	if err != nil {
		return nil, fmt.Errorf("type converter for %s %s: %w", crd.Name, version, err)
	}
	return tc, nil
}
