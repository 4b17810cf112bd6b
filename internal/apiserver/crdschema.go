package apiserver

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	schemaobjectmeta "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/objectmeta"
	structuralpruning "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	crvalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/client-go/util/jsonpath"

	"github.com/gureum/gureum/internal/api"
)

// crSchema is one served version's schema in the forms the apiextensions
// library works with: structural (pruning, defaulting, metadata coercion),
// kube-openapi (validation) and CEL (x-kubernetes-validations).
type crSchema struct {
	structural      *structuralschema.Structural
	validator       crvalidation.SchemaValidator
	cel             *cel.Validator
	preserveUnknown bool
}

// newCRSchema compiles the schema of one version of crd.
func newCRSchema(crd *apiextensions.CustomResourceDefinition, version string) (*crSchema, error) {
	v, err := apiextensions.GetSchemaForVersion(crd, version)
	if err != nil {
		return nil, err
	}
	out := &crSchema{preserveUnknown: crd.Spec.PreserveUnknownFields != nil && *crd.Spec.PreserveUnknownFields}
	if v == nil || v.OpenAPIV3Schema == nil {
		out.preserveUnknown = true
		return out, nil
	}
	props := v.OpenAPIV3Schema
	if props.XPreserveUnknownFields != nil && *props.XPreserveUnknownFields {
		out.preserveUnknown = true
	}
	if out.structural, err = structuralschema.NewStructural(props); err != nil {
		return nil, fmt.Errorf("structural schema of version %s: %w", version, err)
	}
	if out.validator, _, err = crvalidation.NewSchemaValidator(props); err != nil {
		return nil, fmt.Errorf("validator of version %s: %w", version, err)
	}
	out.cel = cel.NewValidator(out.structural, true, celconfig.PerCallLimit)
	return out, nil
}

// prune coerces metadata and drops fields the schema does not declare, as
// kube-apiserver does when it decodes a custom resource, and returns the
// paths it dropped (".spec.foo"), which fieldValidation reports.
func (s *crSchema) prune(obj runtime.Object) []string {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return nil
	}
	kind, apiVersion := u.GetKind(), u.GetAPIVersion()
	om, found, unknown, err := schemaobjectmeta.GetObjectMetaWithOptions(u.Object, schemaobjectmeta.ObjectMetaOptions{
		DropMalformedFields: true, ReturnUnknownFieldPaths: true,
	})
	if err != nil {
		return nil
	}
	if s.structural != nil && !s.preserveUnknown {
		unknown = append(unknown, structuralpruning.PruneWithOptions(u.Object, s.structural, true,
			structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})...)
		structuraldefaulting.PruneNonNullableNullsWithoutDefaults(u.Object, s.structural)
	}
	if s.structural != nil {
		_, paths := schemaobjectmeta.CoerceWithOptions(nil, u.Object, s.structural, false,
			schemaobjectmeta.CoerceOptions{DropInvalidFields: true, ReturnUnknownFieldPaths: true})
		unknown = append(unknown, paths...)
	}
	u.SetKind(kind)
	u.SetAPIVersion(apiVersion)
	if found {
		_ = schemaobjectmeta.SetObjectMeta(u.Object, om)
	}
	return unknown
}

func (s *crSchema) defaults(obj runtime.Object) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return
	}
	s.prune(obj)
	if s.structural != nil {
		structuraldefaulting.Default(u.Object, s.structural)
	}
}

// validate checks obj (and, for updates, against old) with the schema,
// the metadata of embedded objects, list types and CEL rules.
func (s *crSchema) validate(res *api.Resource, obj, old runtime.Object) field.ErrorList {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return field.ErrorList{field.InternalError(nil, fmt.Errorf("%T is not a custom resource", obj))}
	}
	errs := apivalidation.ValidateObjectMetaAccessor(u, res.Namespaced, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	if u.GetKind() != res.Kind {
		errs = append(errs, field.Invalid(field.NewPath("kind"), u.GetKind(), "must be "+res.Kind))
	}
	if gv := res.GroupVersionResource.GroupVersion().String(); u.GetAPIVersion() != gv {
		errs = append(errs, field.Invalid(field.NewPath("apiVersion"), u.GetAPIVersion(), "must be "+gv))
	}
	if s.structural == nil {
		return errs
	}
	var oldObj map[string]interface{}
	if ou, ok := old.(*unstructured.Unstructured); ok {
		oldObj = ou.Object
		errs = append(errs, crvalidation.ValidateCustomResourceUpdate(nil, u.Object, oldObj, s.validator)...)
	} else {
		errs = append(errs, crvalidation.ValidateCustomResource(nil, u.Object, s.validator)...)
	}
	errs = append(errs, schemaobjectmeta.Validate(nil, u.Object, s.structural, false)...)
	errs = append(errs, listtype.ValidateListSetsAndMaps(nil, s.structural, u.Object)...)
	if s.cel != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		var oldArg interface{}
		if oldObj != nil {
			oldArg = oldObj
		}
		celErrs, _ := s.cel.Validate(ctx, nil, s.structural, u.Object, oldArg, celconfig.RuntimeCELCostBudget)
		errs = append(errs, celErrs...)
	}
	return errs
}

// crStrategy builds the api.Strategy of one served version.
func crStrategy(res *api.Resource, crd *apiextensionsv1.CustomResourceDefinition, version string, sch *crSchema) (api.Strategy, error) {
	st := api.Strategy{
		Default:        sch.defaults,
		Prune:          sch.prune,
		Validate:       func(obj runtime.Object) field.ErrorList { return sch.validate(res, obj, nil) },
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList { return sch.validate(res, obj, old) },
	}
	var cols []apiextensionsv1.CustomResourceColumnDefinition
	var selectable []apiextensionsv1.SelectableField
	for _, v := range crd.Spec.Versions {
		if v.Name == version {
			cols, selectable = v.AdditionalPrinterColumns, v.SelectableFields
		}
	}
	if err := tableFor(&st, cols); err != nil {
		return st, err
	}
	if len(selectable) > 0 {
		paths := make([]string, len(selectable))
		for i, f := range selectable {
			paths[i] = f.JSONPath
		}
		st.Fields = func(obj runtime.Object) fields.Set {
			u, ok := obj.(*unstructured.Unstructured)
			if !ok {
				return fields.Set{}
			}
			out := fields.Set{}
			for _, p := range paths {
				parts := strings.Split(strings.TrimPrefix(p, "."), ".")
				if v, found, _ := unstructured.NestedFieldNoCopy(u.Object, parts...); found && v != nil {
					out[strings.Join(parts, ".")] = fmt.Sprint(v)
				} else {
					out[strings.Join(parts, ".")] = ""
				}
			}
			return out
		}
	}
	st.FillDefaults()
	return st, nil
}

// tableFor gives the strategy the CRD's additionalPrinterColumns, after
// NAME, and AGE when the CRD names no columns: what kubectl shows.
func tableFor(st *api.Strategy, cols []apiextensionsv1.CustomResourceColumnDefinition) error {
	nameDesc := metav1.ObjectMeta{}.SwaggerDoc()["name"]
	defs := []metav1.TableColumnDefinition{{Name: "Name", Type: "string", Format: "name", Description: nameDesc}}
	if len(cols) == 0 {
		cols = []apiextensionsv1.CustomResourceColumnDefinition{{Name: "Age", Type: "date", JSONPath: ".metadata.creationTimestamp",
			Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]}}
	}
	paths := make([]*jsonpath.JSONPath, len(cols))
	for i, c := range cols {
		defs = append(defs, metav1.TableColumnDefinition{Name: c.Name, Type: c.Type, Format: c.Format, Description: c.Description, Priority: c.Priority})
		p := jsonpath.New(c.Name).AllowMissingKeys(true)
		if err := p.Parse("{" + c.JSONPath + "}"); err != nil {
			return fmt.Errorf("column %s: %w", c.Name, err)
		}
		paths[i] = p
	}
	st.Columns = defs
	st.Row = func(obj runtime.Object, now time.Time) []interface{} {
		u, ok := obj.(*unstructured.Unstructured)
		if !ok {
			return nil
		}
		cells := []interface{}{u.GetName()}
		for i, p := range paths {
			cells = append(cells, cell(p, cols[i].Type, u.Object, now))
		}
		return cells
	}
	return nil
}

// cell renders one printer column's value the way Kubernetes does: dates
// as an age, missing values as nil (kubectl prints <none>).
func cell(p *jsonpath.JSONPath, typ string, obj map[string]interface{}, now time.Time) interface{} {
	results, err := p.FindResults(obj)
	if err != nil || len(results) == 0 || len(results[0]) == 0 {
		return nil
	}
	var vals []interface{}
	for _, r := range results[0] {
		if r.IsValid() && r.CanInterface() {
			vals = append(vals, r.Interface())
		}
	}
	if len(vals) == 0 {
		return nil
	}
	if len(vals) > 1 {
		parts := make([]string, len(vals))
		for i, v := range vals {
			parts[i] = fmt.Sprint(v)
		}
		return strings.Join(parts, ",")
	}
	v := vals[0]
	switch typ {
	case "date":
		s, ok := v.(string)
		if !ok {
			return nil
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return nil
		}
		return duration.HumanDuration(now.Sub(t))
	case "integer":
		switch n := v.(type) {
		case int64, int32, int:
			return n
		case float64:
			return int64(n)
		}
	case "number":
		switch n := v.(type) {
		case int64, float64:
			return n
		}
	case "boolean":
		if b, ok := v.(bool); ok {
			return b
		}
	case "string":
		if s, ok := v.(string); ok {
			return s
		}
	}
	switch v.(type) {
	case map[string]interface{}, []interface{}:
		return fmt.Sprint(v)
	}
	return v
}
