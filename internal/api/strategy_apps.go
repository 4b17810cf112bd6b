package api

// apps/v1: Deployments, ReplicaSets, DaemonSets, StatefulSets and
// ControllerRevisions, with Kubernetes' defaults, validation (same field
// paths and messages kubectl users know) and table columns.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// daemonSetTemplateGenerationAnnotation records how many times a
// DaemonSet's pod template changed; Kubernetes keeps it on every apps/v1
// DaemonSet and labels the pods it creates with it (pod-template-generation).
const daemonSetTemplateGenerationAnnotation = "deprecated.daemonset.template.generation"

func appsStrategies() map[schema.GroupVersionResource]Strategy {
	gv := appsv1.SchemeGroupVersion
	return map[schema.GroupVersionResource]Strategy{
		gv.WithResource("deployments"):         deploymentStrategy(),
		gv.WithResource("replicasets"):         replicaSetStrategy(),
		gv.WithResource("daemonsets"):          daemonSetStrategy(),
		gv.WithResource("statefulsets"):        statefulSetStrategy(),
		gv.WithResource("controllerrevisions"): controllerRevisionStrategy(),
	}
}

func wlInt32Ptr(v int32) *int32 { return &v }

// --- Deployment --------------------------------------------------------------

func deploymentStrategy() Strategy {
	return Strategy{
		Default: func(obj runtime.Object) { defaultDeployment(obj.(*appsv1.Deployment)) },
		Validate: func(obj runtime.Object) field.ErrorList {
			return validateDeployment(obj.(*appsv1.Deployment))
		},
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
			d, oldD := obj.(*appsv1.Deployment), old.(*appsv1.Deployment)
			errs := validateDeployment(d)
			// apps/v1 made selectors immutable: changing one would orphan
			// the pods the old selector matched.
			return append(errs, wlImmutable(d.Spec.Selector, oldD.Spec.Selector, field.NewPath("spec", "selector"))...)
		},
		Columns: append([]metav1.TableColumnDefinition{
			wlNameColumn(),
			wlColumn("Ready", "string", "Number of the pod with ready state"),
			wlColumn("Up-to-date", "string", appsv1.DeploymentStatus{}.SwaggerDoc()["updatedReplicas"]),
			wlColumn("Available", "string", appsv1.DeploymentStatus{}.SwaggerDoc()["availableReplicas"]),
			wlAgeColumn(),
		}, append(wlTemplateColumns(), wlWideColumn("Selector", "string", appsv1.DeploymentSpec{}.SwaggerDoc()["selector"]))...),
		Row: func(obj runtime.Object, now time.Time) []interface{} {
			d := obj.(*appsv1.Deployment)
			names, images := ContainerCells(d.Spec.Template.Spec.Containers)
			return []interface{}{d.Name,
				fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, wlInt32(d.Spec.Replicas)),
				int64(d.Status.UpdatedReplicas), int64(d.Status.AvailableReplicas),
				ageOf(d.CreationTimestamp, now), names, images, wlSelectorCell(d.Spec.Selector)}
		},
	}
}

// selectorCell is the deployment SELECTOR cell: the selector in label-query
// form, empty when there is none.
func wlSelectorCell(sel *metav1.LabelSelector) string {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return "<invalid>"
	}
	return s.String()
}

func defaultDeployment(d *appsv1.Deployment) {
	if d.Spec.Replicas == nil {
		d.Spec.Replicas = wlInt32Ptr(1)
	}
	st := &d.Spec.Strategy
	if st.Type == "" {
		st.Type = appsv1.RollingUpdateDeploymentStrategyType
	}
	if st.Type == appsv1.RollingUpdateDeploymentStrategyType {
		if st.RollingUpdate == nil {
			st.RollingUpdate = &appsv1.RollingUpdateDeployment{}
		}
		if st.RollingUpdate.MaxUnavailable == nil {
			v := intstr.FromString("25%")
			st.RollingUpdate.MaxUnavailable = &v
		}
		if st.RollingUpdate.MaxSurge == nil {
			v := intstr.FromString("25%")
			st.RollingUpdate.MaxSurge = &v
		}
	}
	if d.Spec.RevisionHistoryLimit == nil {
		d.Spec.RevisionHistoryLimit = wlInt32Ptr(10)
	}
	if d.Spec.ProgressDeadlineSeconds == nil {
		d.Spec.ProgressDeadlineSeconds = wlInt32Ptr(600)
	}
	DefaultPodSpec(&d.Spec.Template.Spec)
}

func validateDeployment(d *appsv1.Deployment) field.ErrorList {
	errs := wlValidateMeta(&d.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	spec := field.NewPath("spec")
	errs = append(errs, wlNonNegativePtr(d.Spec.Replicas, spec.Child("replicas"))...)
	errs = append(errs, wlValidateSelector(d.Spec.Selector, d.Spec.Template.Labels, "deployment", spec)...)
	errs = append(errs, validateReplicatedTemplate(&d.Spec.Template, spec.Child("template"), "ReplicaSet")...)
	errs = append(errs, validateDeploymentStrategy(&d.Spec.Strategy, spec.Child("strategy"))...)
	errs = append(errs, wlNonNegative(int64(d.Spec.MinReadySeconds), spec.Child("minReadySeconds"))...)
	errs = append(errs, wlNonNegativePtr(d.Spec.RevisionHistoryLimit, spec.Child("revisionHistoryLimit"))...)
	if p := d.Spec.ProgressDeadlineSeconds; p != nil {
		errs = append(errs, wlNonNegative(int64(*p), spec.Child("progressDeadlineSeconds"))...)
		// A deadline within minReadySeconds would declare every rollout
		// stuck before a pod could count as available.
		if *p <= d.Spec.MinReadySeconds {
			errs = append(errs, field.Invalid(spec.Child("progressDeadlineSeconds"), *p, "must be greater than minReadySeconds"))
		}
	}
	return errs
}

// validateReplicatedTemplate checks the pod template of a Deployment or
// ReplicaSet. Kubernetes words the activeDeadlineSeconds error with
// "ReplicaSet" for both, since a Deployment's template becomes one.
func validateReplicatedTemplate(t *corev1.PodTemplateSpec, tmpl *field.Path, kind string) field.ErrorList {
	errs := ValidatePodTemplateSpec(t, tmpl)
	return append(errs, wlValidateAlwaysRestart(t, tmpl, kind)...)
}

func validateDeploymentStrategy(st *appsv1.DeploymentStrategy, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch st.Type {
	case appsv1.RecreateDeploymentStrategyType:
		if st.RollingUpdate != nil {
			errs = append(errs, field.Forbidden(fld.Child("rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'"))
		}
	case appsv1.RollingUpdateDeploymentStrategyType:
		ru := st.RollingUpdate
		if ru == nil {
			return append(errs, field.Required(fld.Child("rollingUpdate"), "this should be defaulted and never be nil"))
		}
		rp := fld.Child("rollingUpdate")
		errs = append(errs, wlValidateIntOrPercent(ru.MaxUnavailable, rp.Child("maxUnavailable"), true)...)
		errs = append(errs, wlValidateIntOrPercent(ru.MaxSurge, rp.Child("maxSurge"), false)...)
		// With neither surge nor unavailability allowed a rollout could
		// never replace a single pod.
		if wlIntOrPercentValue(ru.MaxUnavailable) == 0 && wlIntOrPercentValue(ru.MaxSurge) == 0 {
			errs = append(errs, field.Invalid(rp.Child("maxUnavailable"), wlIntOrStringValue(ru.MaxUnavailable),
				"may not be 0 when `maxSurge` is 0"))
		}
	default:
		errs = append(errs, field.NotSupported(fld, st.Type, []string{
			string(appsv1.RecreateDeploymentStrategyType), string(appsv1.RollingUpdateDeploymentStrategyType)}))
	}
	return errs
}

// intOrStringValue is what an error message shows for an optional
// int-or-percent field.
func wlIntOrStringValue(v *intstr.IntOrString) interface{} {
	if v == nil {
		return nil
	}
	if v.Type == intstr.String {
		return v.StrVal
	}
	return v.IntVal
}

// --- ReplicaSet --------------------------------------------------------------

func replicaSetStrategy() Strategy {
	return Strategy{
		Default: func(obj runtime.Object) {
			rs := obj.(*appsv1.ReplicaSet)
			if rs.Spec.Replicas == nil {
				rs.Spec.Replicas = wlInt32Ptr(1)
			}
			DefaultPodSpec(&rs.Spec.Template.Spec)
		},
		Validate: func(obj runtime.Object) field.ErrorList {
			return validateReplicaSet(obj.(*appsv1.ReplicaSet))
		},
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
			rs, oldRS := obj.(*appsv1.ReplicaSet), old.(*appsv1.ReplicaSet)
			errs := validateReplicaSet(rs)
			return append(errs, wlImmutable(rs.Spec.Selector, oldRS.Spec.Selector, field.NewPath("spec", "selector"))...)
		},
		Columns: append([]metav1.TableColumnDefinition{
			wlNameColumn(),
			wlColumn("Desired", "integer", appsv1.ReplicaSetSpec{}.SwaggerDoc()["replicas"]),
			wlColumn("Current", "integer", appsv1.ReplicaSetStatus{}.SwaggerDoc()["replicas"]),
			wlColumn("Ready", "integer", appsv1.ReplicaSetStatus{}.SwaggerDoc()["readyReplicas"]),
			wlAgeColumn(),
		}, append(wlTemplateColumns(), wlWideColumn("Selector", "string", appsv1.ReplicaSetSpec{}.SwaggerDoc()["selector"]))...),
		Row: func(obj runtime.Object, now time.Time) []interface{} {
			rs := obj.(*appsv1.ReplicaSet)
			names, images := ContainerCells(rs.Spec.Template.Spec.Containers)
			return []interface{}{rs.Name, int64(wlInt32(rs.Spec.Replicas)), int64(rs.Status.Replicas),
				int64(rs.Status.ReadyReplicas), ageOf(rs.CreationTimestamp, now),
				names, images, metav1.FormatLabelSelector(rs.Spec.Selector)}
		},
	}
}

func validateReplicaSet(rs *appsv1.ReplicaSet) field.ErrorList {
	errs := wlValidateMeta(&rs.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	spec := field.NewPath("spec")
	errs = append(errs, wlNonNegativePtr(rs.Spec.Replicas, spec.Child("replicas"))...)
	errs = append(errs, wlNonNegative(int64(rs.Spec.MinReadySeconds), spec.Child("minReadySeconds"))...)
	// Kubernetes says "for deployment" for ReplicaSets too; kept verbatim.
	errs = append(errs, wlValidateSelector(rs.Spec.Selector, rs.Spec.Template.Labels, "deployment", spec)...)
	errs = append(errs, validateReplicatedTemplate(&rs.Spec.Template, spec.Child("template"), "ReplicaSet")...)
	return errs
}

// --- DaemonSet ---------------------------------------------------------------

func daemonSetStrategy() Strategy {
	return Strategy{
		Default: func(obj runtime.Object) { defaultDaemonSet(obj.(*appsv1.DaemonSet)) },
		PrepareForCreate: func(obj runtime.Object) {
			setTemplateGeneration(obj.(*appsv1.DaemonSet), 1)
		},
		PrepareForUpdate: func(obj, old runtime.Object) {
			ds, oldDS := obj.(*appsv1.DaemonSet), old.(*appsv1.DaemonSet)
			gen, _ := strconv.ParseInt(oldDS.Annotations[daemonSetTemplateGenerationAnnotation], 10, 64)
			if !wlTemplatesEqual(&ds.Spec.Template, &oldDS.Spec.Template) {
				gen++
			}
			setTemplateGeneration(ds, gen)
		},
		Validate: func(obj runtime.Object) field.ErrorList {
			return validateDaemonSet(obj.(*appsv1.DaemonSet))
		},
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
			ds, oldDS := obj.(*appsv1.DaemonSet), old.(*appsv1.DaemonSet)
			errs := validateDaemonSet(ds)
			return append(errs, wlImmutable(ds.Spec.Selector, oldDS.Spec.Selector, field.NewPath("spec", "selector"))...)
		},
		Columns: append([]metav1.TableColumnDefinition{
			wlNameColumn(),
			wlColumn("Desired", "integer", appsv1.DaemonSetStatus{}.SwaggerDoc()["desiredNumberScheduled"]),
			wlColumn("Current", "integer", appsv1.DaemonSetStatus{}.SwaggerDoc()["currentNumberScheduled"]),
			wlColumn("Ready", "integer", appsv1.DaemonSetStatus{}.SwaggerDoc()["numberReady"]),
			wlColumn("Up-to-date", "integer", appsv1.DaemonSetStatus{}.SwaggerDoc()["updatedNumberScheduled"]),
			wlColumn("Available", "integer", appsv1.DaemonSetStatus{}.SwaggerDoc()["numberAvailable"]),
			wlColumn("Node Selector", "string", corev1.PodSpec{}.SwaggerDoc()["nodeSelector"]),
			wlAgeColumn(),
		}, append(wlTemplateColumns(), wlWideColumn("Selector", "string", appsv1.DaemonSetSpec{}.SwaggerDoc()["selector"]))...),
		Row: func(obj runtime.Object, now time.Time) []interface{} {
			ds := obj.(*appsv1.DaemonSet)
			st := ds.Status
			names, images := ContainerCells(ds.Spec.Template.Spec.Containers)
			return []interface{}{ds.Name, int64(st.DesiredNumberScheduled), int64(st.CurrentNumberScheduled),
				int64(st.NumberReady), int64(st.UpdatedNumberScheduled), int64(st.NumberAvailable),
				labels.FormatLabels(ds.Spec.Template.Spec.NodeSelector), ageOf(ds.CreationTimestamp, now),
				names, images, metav1.FormatLabelSelector(ds.Spec.Selector)}
		},
	}
}

func setTemplateGeneration(ds *appsv1.DaemonSet, gen int64) {
	if ds.Annotations == nil {
		ds.Annotations = map[string]string{}
	}
	ds.Annotations[daemonSetTemplateGenerationAnnotation] = strconv.FormatInt(gen, 10)
}

func defaultDaemonSet(ds *appsv1.DaemonSet) {
	us := &ds.Spec.UpdateStrategy
	if us.Type == "" {
		us.Type = appsv1.RollingUpdateDaemonSetStrategyType
	}
	if us.Type == appsv1.RollingUpdateDaemonSetStrategyType {
		if us.RollingUpdate == nil {
			us.RollingUpdate = &appsv1.RollingUpdateDaemonSet{}
		}
		if us.RollingUpdate.MaxUnavailable == nil {
			v := intstr.FromInt32(1)
			us.RollingUpdate.MaxUnavailable = &v
		}
		if us.RollingUpdate.MaxSurge == nil {
			v := intstr.FromInt32(0)
			us.RollingUpdate.MaxSurge = &v
		}
	}
	if ds.Spec.RevisionHistoryLimit == nil {
		ds.Spec.RevisionHistoryLimit = wlInt32Ptr(10)
	}
	DefaultPodSpec(&ds.Spec.Template.Spec)
}

func validateDaemonSet(ds *appsv1.DaemonSet) field.ErrorList {
	errs := wlValidateMeta(&ds.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	spec := field.NewPath("spec")
	errs = append(errs, wlValidateSelector(ds.Spec.Selector, ds.Spec.Template.Labels, "daemonset", spec)...)
	errs = append(errs, ValidatePodTemplateSpec(&ds.Spec.Template, spec.Child("template"))...)
	errs = append(errs, wlValidateAlwaysRestart(&ds.Spec.Template, spec.Child("template"), "DaemonSet")...)
	errs = append(errs, wlNonNegative(int64(ds.Spec.MinReadySeconds), spec.Child("minReadySeconds"))...)
	errs = append(errs, wlNonNegativePtr(ds.Spec.RevisionHistoryLimit, spec.Child("revisionHistoryLimit"))...)

	us, usPath := ds.Spec.UpdateStrategy, spec.Child("updateStrategy")
	switch us.Type {
	case appsv1.OnDeleteDaemonSetStrategyType:
	case appsv1.RollingUpdateDaemonSetStrategyType:
		ru := us.RollingUpdate
		if ru == nil {
			return append(errs, field.Required(usPath.Child("rollingUpdate"), ""))
		}
		rp := usPath.Child("rollingUpdate")
		errs = append(errs, wlValidateIntOrPercent(ru.MaxUnavailable, rp.Child("maxUnavailable"), true)...)
		errs = append(errs, wlValidateIntOrPercent(ru.MaxSurge, rp.Child("maxSurge"), true)...)
		// A node runs one daemon pod: an update either surges (new pod
		// beside the old) or takes the old one down first, never both.
		hasUnavailable := wlIntOrPercentValue(ru.MaxUnavailable) != 0
		hasSurge := wlIntOrPercentValue(ru.MaxSurge) != 0
		switch {
		case hasUnavailable && hasSurge:
			errs = append(errs, field.Invalid(rp.Child("maxSurge"), wlIntOrStringValue(ru.MaxSurge), "may not be set when maxUnavailable is non-zero"))
		case !hasUnavailable && !hasSurge:
			errs = append(errs, field.Required(rp.Child("maxUnavailable"), "cannot be 0 when maxSurge is 0"))
		}
	default:
		errs = append(errs, field.NotSupported(usPath, us.Type, []string{
			string(appsv1.RollingUpdateDaemonSetStrategyType), string(appsv1.OnDeleteDaemonSetStrategyType)}))
	}
	return errs
}

// --- StatefulSet -------------------------------------------------------------

func statefulSetStrategy() Strategy {
	return Strategy{
		Default: func(obj runtime.Object) { defaultStatefulSet(obj.(*appsv1.StatefulSet)) },
		Validate: func(obj runtime.Object) field.ErrorList {
			return validateStatefulSet(obj.(*appsv1.StatefulSet))
		},
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
			ss, oldSS := obj.(*appsv1.StatefulSet), old.(*appsv1.StatefulSet)
			errs := validateStatefulSet(ss)
			// Only these fields may change: the rest (serviceName,
			// volumeClaimTemplates, selector, podManagementPolicy) shape
			// pod identity and storage that already exist.
			clone := ss.Spec.DeepCopy()
			clone.Replicas = oldSS.Spec.Replicas
			clone.Ordinals = oldSS.Spec.Ordinals
			clone.Template = oldSS.Spec.Template
			clone.UpdateStrategy = oldSS.Spec.UpdateStrategy
			clone.RevisionHistoryLimit = oldSS.Spec.RevisionHistoryLimit
			clone.PersistentVolumeClaimRetentionPolicy = oldSS.Spec.PersistentVolumeClaimRetentionPolicy
			clone.MinReadySeconds = oldSS.Spec.MinReadySeconds
			if !apiequality.Semantic.DeepEqual(*clone, oldSS.Spec) {
				errs = append(errs, field.Forbidden(field.NewPath("spec"), "updates to statefulset spec for fields other than "+
					"'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', "+
					"'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"))
			}
			return errs
		},
		Columns: append([]metav1.TableColumnDefinition{
			wlNameColumn(),
			wlColumn("Ready", "string", "Number of the pod with ready state"),
			wlAgeColumn(),
		}, wlTemplateColumns()...),
		Row: func(obj runtime.Object, now time.Time) []interface{} {
			ss := obj.(*appsv1.StatefulSet)
			names, images := ContainerCells(ss.Spec.Template.Spec.Containers)
			return []interface{}{ss.Name, fmt.Sprintf("%d/%d", ss.Status.ReadyReplicas, wlInt32(ss.Spec.Replicas)),
				ageOf(ss.CreationTimestamp, now), names, images}
		},
	}
}

func defaultStatefulSet(ss *appsv1.StatefulSet) {
	if ss.Spec.PodManagementPolicy == "" {
		ss.Spec.PodManagementPolicy = appsv1.OrderedReadyPodManagement
	}
	us := &ss.Spec.UpdateStrategy
	if us.Type == "" {
		us.Type = appsv1.RollingUpdateStatefulSetStrategyType
		// Only a defaulted strategy gets a rollingUpdate block; an explicit
		// "RollingUpdate" without one stays as written, as in Kubernetes.
		if us.RollingUpdate == nil {
			us.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{}
		}
	}
	if us.Type == appsv1.RollingUpdateStatefulSetStrategyType && us.RollingUpdate != nil && us.RollingUpdate.Partition == nil {
		us.RollingUpdate.Partition = wlInt32Ptr(0)
	}
	if ss.Spec.PersistentVolumeClaimRetentionPolicy == nil {
		ss.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{}
	}
	rp := ss.Spec.PersistentVolumeClaimRetentionPolicy
	if rp.WhenDeleted == "" {
		rp.WhenDeleted = appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	}
	if rp.WhenScaled == "" {
		rp.WhenScaled = appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	}
	if ss.Spec.Replicas == nil {
		ss.Spec.Replicas = wlInt32Ptr(1)
	}
	if ss.Spec.RevisionHistoryLimit == nil {
		ss.Spec.RevisionHistoryLimit = wlInt32Ptr(10)
	}
	for i := range ss.Spec.VolumeClaimTemplates {
		defaultClaimTemplate(&ss.Spec.VolumeClaimTemplates[i])
	}
	DefaultPodSpec(&ss.Spec.Template.Spec)
}

// defaultClaimTemplate fills a volumeClaimTemplate as Kubernetes shows it
// back: with its apiVersion and kind, volumeMode Filesystem and the Pending
// phase every new claim has.
func defaultClaimTemplate(pvc *corev1.PersistentVolumeClaim) {
	if pvc.APIVersion == "" {
		pvc.APIVersion = "v1"
	}
	if pvc.Kind == "" {
		pvc.Kind = "PersistentVolumeClaim"
	}
	if pvc.Spec.VolumeMode == nil {
		mode := corev1.PersistentVolumeFilesystem
		pvc.Spec.VolumeMode = &mode
	}
	if pvc.Status.Phase == "" {
		pvc.Status.Phase = corev1.ClaimPending
	}
}

func validateStatefulSet(ss *appsv1.StatefulSet) field.ErrorList {
	// Pods are named <statefulset>-<ordinal> and get that as hostname, so
	// the name must be a DNS label, not a subdomain.
	errs := wlValidateMeta(&ss.ObjectMeta, true, apivalidation.NameIsDNSLabel)
	spec := field.NewPath("spec")

	switch ss.Spec.PodManagementPolicy {
	case "":
		errs = append(errs, field.Required(spec.Child("podManagementPolicy"), ""))
	case appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement:
	default:
		errs = append(errs, field.Invalid(spec.Child("podManagementPolicy"), ss.Spec.PodManagementPolicy,
			fmt.Sprintf("must be '%s' or '%s'", appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement)))
	}

	us, usPath := ss.Spec.UpdateStrategy, spec.Child("updateStrategy")
	switch us.Type {
	case "":
		errs = append(errs, field.Required(usPath, ""))
	case appsv1.OnDeleteStatefulSetStrategyType:
		if us.RollingUpdate != nil {
			errs = append(errs, field.Invalid(usPath.Child("rollingUpdate"), field.OmitValueType{},
				fmt.Sprintf("only allowed for updateStrategy '%s'", appsv1.RollingUpdateStatefulSetStrategyType)))
		}
	case appsv1.RollingUpdateStatefulSetStrategyType:
		if ru := us.RollingUpdate; ru != nil {
			rp := usPath.Child("rollingUpdate")
			errs = append(errs, wlNonNegativePtr(ru.Partition, rp.Child("partition"))...)
			if ru.MaxUnavailable != nil {
				errs = append(errs, wlValidateIntOrPercent(ru.MaxUnavailable, rp.Child("maxUnavailable"), true)...)
				if wlIntOrPercentValue(ru.MaxUnavailable) == 0 {
					errs = append(errs, field.Invalid(rp.Child("maxUnavailable"), wlIntOrStringValue(ru.MaxUnavailable), "cannot be 0"))
				}
			}
		}
	default:
		errs = append(errs, field.Invalid(usPath, us.Type, fmt.Sprintf("must be '%s' or '%s'",
			appsv1.RollingUpdateStatefulSetStrategyType, appsv1.OnDeleteStatefulSetStrategyType)))
	}

	if rp := ss.Spec.PersistentVolumeClaimRetentionPolicy; rp != nil {
		pp := spec.Child("persistentVolumeClaimRetentionPolicy")
		errs = append(errs, validateRetentionPolicyType(rp.WhenDeleted, pp.Child("whenDeleted"))...)
		errs = append(errs, validateRetentionPolicyType(rp.WhenScaled, pp.Child("whenScaled"))...)
	}
	errs = append(errs, wlNonNegativePtr(ss.Spec.Replicas, spec.Child("replicas"))...)
	errs = append(errs, wlNonNegative(int64(ss.Spec.MinReadySeconds), spec.Child("minReadySeconds"))...)
	errs = append(errs, wlNonNegativePtr(ss.Spec.RevisionHistoryLimit, spec.Child("revisionHistoryLimit"))...)
	if ss.Spec.Ordinals != nil {
		errs = append(errs, wlNonNegative(int64(ss.Spec.Ordinals.Start), spec.Child("ordinals", "start"))...)
	}
	errs = append(errs, wlValidateSelector(ss.Spec.Selector, ss.Spec.Template.Labels, "statefulset", spec)...)
	errs = append(errs, ValidatePodTemplateSpec(statefulSetPodTemplate(ss), spec.Child("template"))...)
	errs = append(errs, wlValidateAlwaysRestart(&ss.Spec.Template, spec.Child("template"), "StatefulSet")...)
	errs = append(errs, validateClaimTemplates(ss.Spec.VolumeClaimTemplates, spec.Child("volumeClaimTemplates"))...)
	return errs
}

// statefulSetPodTemplate is the template as the StatefulSet's pods will see
// it: each volumeClaimTemplate becomes a PVC volume of the same name, so
// that volumeMounts naming a claim template validate like real volumes.
func statefulSetPodTemplate(ss *appsv1.StatefulSet) *corev1.PodTemplateSpec {
	if len(ss.Spec.VolumeClaimTemplates) == 0 {
		return &ss.Spec.Template
	}
	t := ss.Spec.Template.DeepCopy()
	have := map[string]bool{}
	for _, v := range t.Spec.Volumes {
		have[v.Name] = true
	}
	for _, c := range ss.Spec.VolumeClaimTemplates {
		if c.Name == "" || have[c.Name] {
			continue // a volume of the pod template wins, as in the controller
		}
		have[c.Name] = true
		t.Spec.Volumes = append(t.Spec.Volumes, corev1.Volume{Name: c.Name, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: c.Name}}})
	}
	return t
}

func validateRetentionPolicyType(t appsv1.PersistentVolumeClaimRetentionPolicyType, fld *field.Path) field.ErrorList {
	switch t {
	case appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.DeletePersistentVolumeClaimRetentionPolicyType:
		return nil
	}
	return field.ErrorList{field.NotSupported(fld, t, []string{
		string(appsv1.RetainPersistentVolumeClaimRetentionPolicyType), string(appsv1.DeletePersistentVolumeClaimRetentionPolicyType)})}
}

// validateClaimTemplates checks what a claim needs to be created from the
// template: a name usable in pod volume names, access modes and a storage
// request.
func validateClaimTemplates(claims []corev1.PersistentVolumeClaim, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := map[string]bool{}
	for i := range claims {
		c, p := &claims[i], fld.Index(i)
		if c.Name == "" {
			errs = append(errs, field.Required(p.Child("metadata", "name"), ""))
		} else {
			for _, msg := range apivalidation.NameIsDNSSubdomain(c.Name, false) {
				errs = append(errs, field.Invalid(p.Child("metadata", "name"), c.Name, msg))
			}
			if seen[c.Name] {
				errs = append(errs, field.Duplicate(p.Child("metadata", "name"), c.Name))
			}
			seen[c.Name] = true
		}
		sp := p.Child("spec")
		if len(c.Spec.AccessModes) == 0 {
			errs = append(errs, field.Required(sp.Child("accessModes"), "at least 1 access mode is required"))
		}
		for j, m := range c.Spec.AccessModes {
			switch m {
			case corev1.ReadWriteOnce, corev1.ReadOnlyMany, corev1.ReadWriteMany, corev1.ReadWriteOncePod:
			default:
				errs = append(errs, field.NotSupported(sp.Child("accessModes").Index(j), m, []string{
					string(corev1.ReadWriteOnce), string(corev1.ReadOnlyMany), string(corev1.ReadWriteMany), string(corev1.ReadWriteOncePod)}))
			}
		}
		if c.Spec.DataSource == nil && c.Spec.DataSourceRef == nil {
			if q, ok := c.Spec.Resources.Requests[corev1.ResourceStorage]; !ok {
				errs = append(errs, field.Required(sp.Child("resources").Key(string(corev1.ResourceStorage)), ""))
			} else if q.Sign() <= 0 {
				errs = append(errs, field.Invalid(sp.Child("resources").Key(string(corev1.ResourceStorage)), q.String(), "must be greater than zero"))
			}
		}
		if m := c.Spec.VolumeMode; m != nil && *m != corev1.PersistentVolumeFilesystem && *m != corev1.PersistentVolumeBlock {
			errs = append(errs, field.NotSupported(sp.Child("volumeMode"), *m, []string{
				string(corev1.PersistentVolumeBlock), string(corev1.PersistentVolumeFilesystem)}))
		}
	}
	return errs
}

// --- ControllerRevision ------------------------------------------------------

func controllerRevisionStrategy() Strategy {
	return Strategy{
		Validate: func(obj runtime.Object) field.ErrorList {
			return validateControllerRevision(obj.(*appsv1.ControllerRevision))
		},
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
			cr, oldCR := obj.(*appsv1.ControllerRevision), old.(*appsv1.ControllerRevision)
			errs := validateControllerRevision(cr)
			// A revision is a snapshot: controllers compare against it, so its
			// data never changes (the revision number may, on rollback).
			if !wlSameJSON(cr.Data.Raw, oldCR.Data.Raw) {
				errs = append(errs, field.Invalid(field.NewPath("data"), string(cr.Data.Raw), apivalidation.FieldImmutableErrorMsg))
			}
			return errs
		},
		Columns: []metav1.TableColumnDefinition{
			wlNameColumn(),
			wlColumn("Controller", "string", "Controller of the object"),
			wlColumn("Revision", "string", appsv1.ControllerRevision{}.SwaggerDoc()["revision"]),
			wlAgeColumn(),
		},
		Row: func(obj runtime.Object, now time.Time) []interface{} {
			cr := obj.(*appsv1.ControllerRevision)
			return []interface{}{cr.Name, wlControllerCell(cr.OwnerReferences), cr.Revision, ageOf(cr.CreationTimestamp, now)}
		},
	}
}

// controllerCell names the controlling owner as kind.group/name
// ("statefulset.apps/web"), or "<none>".
func wlControllerCell(refs []metav1.OwnerReference) string {
	for _, r := range refs {
		if r.Controller == nil || !*r.Controller {
			continue
		}
		gv, err := schema.ParseGroupVersion(r.APIVersion)
		if err != nil || r.Kind == "" {
			return r.Name
		}
		return strings.ToLower(gv.WithKind(r.Kind).GroupKind().String()) + "/" + r.Name
	}
	return "<none>"
}

// sameJSON compares two raw JSON documents by value, so that whitespace or
// key order a client happens to send does not count as a change.
func wlSameJSON(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var va, vb interface{}
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}

func validateControllerRevision(cr *appsv1.ControllerRevision) field.ErrorList {
	errs := wlValidateMeta(&cr.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	if cr.Data.Raw == nil && cr.Data.Object == nil {
		errs = append(errs, field.Required(field.NewPath("data"), "data is mandatory"))
	}
	return append(errs, wlNonNegative(cr.Revision, field.NewPath("revision"))...)
}
