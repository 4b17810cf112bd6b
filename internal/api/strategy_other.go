package api

// The strategies of the smaller groups; each kind's code lives in an
// other_*.go file.

import (
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func otherStrategies() map[schema.GroupVersionResource]Strategy {
	batch := batchv1.SchemeGroupVersion
	networking := networkingv1.SchemeGroupVersion
	rbac := rbacv1.SchemeGroupVersion
	return map[schema.GroupVersionResource]Strategy{
		batch.WithResource("jobs"):     jobStrategy(),
		batch.WithResource("cronjobs"): cronJobStrategy(),

		autoscalingv2.SchemeGroupVersion.WithResource("horizontalpodautoscalers"): hpaStrategy(),

		networking.WithResource("ingresses"):       ingressStrategy(),
		networking.WithResource("ingressclasses"):  ingressClassStrategy(),
		networking.WithResource("networkpolicies"): networkPolicyStrategy(),

		discoveryv1.SchemeGroupVersion.WithResource("endpointslices"): endpointSliceStrategy(),
		coordinationv1.SchemeGroupVersion.WithResource("leases"):      leaseStrategy(),
		storagev1.SchemeGroupVersion.WithResource("storageclasses"):   storageClassStrategy(),

		rbac.WithResource("roles"):               roleStrategy(true),
		rbac.WithResource("clusterroles"):        roleStrategy(false),
		rbac.WithResource("rolebindings"):        roleBindingStrategy(true),
		rbac.WithResource("clusterrolebindings"): roleBindingStrategy(false),
	}
}
