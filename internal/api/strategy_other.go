package api

import "k8s.io/apimachinery/pkg/runtime/schema"

func otherStrategies() map[schema.GroupVersionResource]Strategy {
	return map[schema.GroupVersionResource]Strategy{}
}
