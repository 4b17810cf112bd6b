package api

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Strategy is what differs between resources when the API server creates,
// updates and shows their objects. Every function is pure: no I/O, no clock
// beyond what the caller passes in the object. A nil function means "nothing
// special" and is replaced by a no-op when the registry is built.
//
// The API server itself handles what is common to every resource: metadata
// (names, generateName, uid, resourceVersion, creationTimestamp, generation,
// managedFields, finalizers), status and spec separation for resources with a
// status subresource, and the metadata.name/metadata.namespace field
// selectors.
type Strategy struct {
	// Default fills unset fields with Kubernetes' documented defaults. It runs
	// on every write, after decoding and before validation.
	Default func(obj runtime.Object)
	// PrepareForCreate clears what a client may not set on create (for
	// example status on resources that have a status subresource).
	PrepareForCreate func(obj runtime.Object)
	// PrepareForUpdate carries over what a client may not change on update.
	PrepareForUpdate func(obj, old runtime.Object)
	// Validate checks a new object; metadata is already checked.
	Validate func(obj runtime.Object) field.ErrorList
	// ValidateUpdate checks an update, including immutable fields.
	ValidateUpdate func(obj, old runtime.Object) field.ErrorList
	// ValidateStatusUpdate checks a write through the status subresource,
	// whose spec the server kept as stored; nil means ValidateUpdate.
	ValidateStatusUpdate func(obj, old runtime.Object) field.ErrorList
	// Columns are the Table columns kubectl shows (priority 1 is -o wide).
	Columns []metav1.TableColumnDefinition
	// Row returns the cells for one object, matching Columns; now is the
	// server's clock, for AGE columns.
	Row func(obj runtime.Object, now time.Time) []interface{}
	// Fields returns the resource-specific field selector values (for pods:
	// spec.nodeName, status.phase). metadata.name and metadata.namespace are
	// added by the caller.
	Fields func(obj runtime.Object) fields.Set
	// Prune drops the fields a custom resource's schema does not declare
	// and returns their paths, for fieldValidation; nil for built-in kinds,
	// whose decoder already knows their fields.
	Prune func(obj runtime.Object) []string
}

// FillDefaults replaces nil functions with no-ops.
func (s *Strategy) FillDefaults() {
	if s.Default == nil {
		s.Default = func(runtime.Object) {}
	}
	if s.PrepareForCreate == nil {
		s.PrepareForCreate = func(runtime.Object) {}
	}
	if s.PrepareForUpdate == nil {
		s.PrepareForUpdate = func(runtime.Object, runtime.Object) {}
	}
	if s.Validate == nil {
		s.Validate = func(runtime.Object) field.ErrorList { return nil }
	}
	if s.ValidateUpdate == nil {
		s.ValidateUpdate = func(runtime.Object, runtime.Object) field.ErrorList { return nil }
	}
	if s.ValidateStatusUpdate == nil {
		s.ValidateStatusUpdate = s.ValidateUpdate
	}
	if s.Fields == nil {
		s.Fields = func(runtime.Object) fields.Set { return fields.Set{} }
	}
	if s.Prune == nil {
		s.Prune = func(runtime.Object) []string { return nil }
	}
}

// allStrategies gathers the per-group strategies.
func allStrategies() map[schema.GroupVersionResource]Strategy {
	out := map[schema.GroupVersionResource]Strategy{}
	for _, m := range []map[schema.GroupVersionResource]Strategy{
		coreStrategies(), appsStrategies(), otherStrategies(), admissionStrategies(), extensionStrategies(), moreStrategies(),
	} {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}
