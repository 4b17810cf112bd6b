// Package openapi owns the OpenAPI documents Gureum serves: /openapi/v2 and
// /openapi/v3 (an index plus one document per served group-version), and the
// server-side-apply type converter built from the same schemas.
//
// Schemas come from zz_generated.openapi.go, written by kube-openapi's
// openapi-gen over the k8s.io/api packages and Gureum's own pkg/apis; paths
// and operations are derived from the resources in an *api.Registry, named
// and shaped the way kube-apiserver names and shapes them, because kubectl
// and client generators key on those details (definition names such as
// io.k8s.api.core.v1.Pod, x-kubernetes-group-version-kind, operation
// parameters such as fieldValidation, PATCH content types).
//
// After changing the served API types (a k8s.io/api group or pkg/apis),
// regenerate with `hack/update-openapi.sh` (or `go generate` here); CI can
// run `hack/update-openapi.sh --verify`. New fails at startup when a served
// kind has no definition.
//
// Only internal/apiserver imports this package.
package openapi

//go:generate ../../../hack/update-openapi.sh
