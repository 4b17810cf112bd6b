package api

import "k8s.io/apimachinery/pkg/runtime/schema"

// coreStrategies returns the strategies of the core/v1 resources. Each
// strategy lives in a core_*.go file next to its kind's helpers.
func coreStrategies() map[schema.GroupVersionResource]Strategy {
	v1 := func(resource string) schema.GroupVersionResource {
		return schema.GroupVersionResource{Version: "v1", Resource: resource}
	}
	return map[schema.GroupVersionResource]Strategy{
		v1("namespaces"):             namespaceStrategy(),
		v1("pods"):                   podStrategy(),
		v1("services"):               serviceStrategy(),
		v1("endpoints"):              endpointsStrategy(),
		v1("configmaps"):             configMapStrategy(),
		v1("secrets"):                secretStrategy(),
		v1("events"):                 eventStrategy(),
		v1("nodes"):                  nodeStrategy(),
		v1("persistentvolumes"):      persistentVolumeStrategy(),
		v1("persistentvolumeclaims"): persistentVolumeClaimStrategy(),
		v1("serviceaccounts"):        serviceAccountStrategy(),
		v1("resourcequotas"):         resourceQuotaStrategy(),
		v1("limitranges"):            limitRangeStrategy(),
		v1("podtemplates"):           podTemplateStrategy(),
		v1("replicationcontrollers"): replicationControllerStrategy(),
	}
}
