package api

import (
	"context"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Converter converts a custom resource's objects between the versions of
// its CustomResourceDefinition (spec.conversion.strategy Webhook).
type Converter interface {
	// Convert returns objs in version toVersion of their group, in the
	// same order. Objects already in that version come back as they are;
	// objs are not changed.
	Convert(ctx context.Context, objs []*unstructured.Unstructured, toVersion string) ([]*unstructured.Unstructured, error)
}
