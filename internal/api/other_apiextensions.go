package api

// apiextensions.k8s.io/v1 CustomResourceDefinitions: stored like any other
// resource, validated by the apiextensions library's own rules (the same
// code kube-apiserver runs), so a CRD that Kubernetes accepts is accepted
// here and one it rejects is rejected with the same field causes. Serving
// the custom resources a CRD defines is the API server's job
// (internal/apiserver/crd.go).

import (
	"context"
	"fmt"
	"slices"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	extvalidation "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func extensionResources() []*Resource {
	return []*Resource{
		{GroupVersionResource: apiextensionsv1.SchemeGroupVersion.WithResource("customresourcedefinitions"),
			Kind: "CustomResourceDefinition", ShortNames: []string{"crd", "crds"}, Categories: []string{"api-extensions"},
			Subresources: []Subresource{status()}},
	}
}

func extensionStrategies() map[schema.GroupVersionResource]Strategy {
	return map[schema.GroupVersionResource]Strategy{
		apiextensionsv1.SchemeGroupVersion.WithResource("customresourcedefinitions"): crdStrategy(),
	}
}

func crdStrategy() Strategy {
	return Strategy{
		Default: func(obj runtime.Object) {
			apiextensionsv1.SetObjectDefaults_CustomResourceDefinition(obj.(*apiextensionsv1.CustomResourceDefinition))
		},
		PrepareForCreate: func(obj runtime.Object) {
			crd := obj.(*apiextensionsv1.CustomResourceDefinition)
			crd.Status = apiextensionsv1.CustomResourceDefinitionStatus{}
			addStorageVersion(crd)
			// Deleting a CRD deletes its objects first; the finalizer
			// holds the CRD until the API server has done so.
			if !slices.Contains(crd.Finalizers, apiextensionsv1.CustomResourceCleanupFinalizer) {
				crd.Finalizers = append(crd.Finalizers, apiextensionsv1.CustomResourceCleanupFinalizer)
			}
		},
		PrepareForUpdate: func(obj, old runtime.Object) {
			crd, prev := obj.(*apiextensionsv1.CustomResourceDefinition), old.(*apiextensionsv1.CustomResourceDefinition)
			if apiequality.Semantic.DeepEqual(crd.Spec, prev.Spec) {
				return // a status write
			}
			crd.Status = prev.Status
			addStorageVersion(crd)
		},
		Validate: func(obj runtime.Object) field.ErrorList {
			in, err := internalCRD(obj)
			if err != nil {
				return field.ErrorList{field.InternalError(nil, err)}
			}
			return extvalidation.ValidateCustomResourceDefinition(context.Background(), in)
		},
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
			in, err := internalCRD(obj)
			if err != nil {
				return field.ErrorList{field.InternalError(nil, err)}
			}
			prev, err := internalCRD(old)
			if err != nil {
				return field.ErrorList{field.InternalError(nil, err)}
			}
			return extvalidation.ValidateCustomResourceDefinitionUpdate(context.Background(), in, prev)
		},
	}
}

// addStorageVersion records the storage version in status.storedVersions,
// as Kubernetes does, so a later migration knows which versions etcd may
// still hold.
func addStorageVersion(crd *apiextensionsv1.CustomResourceDefinition) {
	for _, v := range crd.Spec.Versions {
		if !v.Storage {
			continue
		}
		for _, s := range crd.Status.StoredVersions {
			if s == v.Name {
				return
			}
		}
		crd.Status.StoredVersions = append(crd.Status.StoredVersions, v.Name)
		return
	}
}

// internalCRD converts to the internal form the validation library checks.
func internalCRD(obj runtime.Object) (*apiextensions.CustomResourceDefinition, error) {
	out := &apiextensions.CustomResourceDefinition{}
	if err := apiextensionsv1.Convert_v1_CustomResourceDefinition_To_apiextensions_CustomResourceDefinition(
		obj.(*apiextensionsv1.CustomResourceDefinition), out, nil); err != nil {
		return nil, fmt.Errorf("convert CustomResourceDefinition for validation: %w", err)
	}
	return out, nil
}
