package api

import (
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// PersistentVolumes and PersistentVolumeClaims.

var (
	supportedAccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadOnlyMany, corev1.ReadWriteMany,
		corev1.ReadWriteOnce, corev1.ReadWriteOncePod}
	supportedVolumeModes     = []corev1.PersistentVolumeMode{corev1.PersistentVolumeBlock, corev1.PersistentVolumeFilesystem}
	supportedReclaimPolicies = []corev1.PersistentVolumeReclaimPolicy{corev1.PersistentVolumeReclaimDelete,
		corev1.PersistentVolumeReclaimRecycle, corev1.PersistentVolumeReclaimRetain}
)

func persistentVolumeStrategy() Strategy {
	return Strategy{
		Default: func(obj runtime.Object) { defaultPV(obj.(*corev1.PersistentVolume)) },
		PrepareForCreate: func(obj runtime.Object) {
			obj.(*corev1.PersistentVolume).Status = corev1.PersistentVolumeStatus{Phase: corev1.VolumePending}
		},
		Validate: func(obj runtime.Object) field.ErrorList { return validatePV(obj.(*corev1.PersistentVolume)) },
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
			return validatePVUpdate(obj.(*corev1.PersistentVolume), old.(*corev1.PersistentVolume))
		},
		Columns: pvColumns,
		Row: func(obj runtime.Object, now time.Time) []interface{} {
			return pvRow(obj.(*corev1.PersistentVolume), now)
		},
	}
}

func defaultPV(pv *corev1.PersistentVolume) {
	if pv.Spec.PersistentVolumeReclaimPolicy == "" {
		pv.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimRetain
	}
	if pv.Spec.VolumeMode == nil {
		m := corev1.PersistentVolumeFilesystem
		pv.Spec.VolumeMode = &m
	}
	if pv.Status.Phase == "" {
		pv.Status.Phase = corev1.VolumePending
	}
	src := &pv.Spec.PersistentVolumeSource
	if src.HostPath != nil && src.HostPath.Type == nil {
		t := corev1.HostPathUnset
		src.HostPath.Type = &t
	}
	if src.ISCSI != nil && src.ISCSI.ISCSIInterface == "" {
		src.ISCSI.ISCSIInterface = "default"
	}
	if src.RBD != nil {
		defaultRBD(&src.RBD.RBDPool, &src.RBD.RadosUser, &src.RBD.Keyring)
	}
}

func defaultPVCSpec(spec *corev1.PersistentVolumeClaimSpec) {
	if spec.VolumeMode == nil {
		m := corev1.PersistentVolumeFilesystem
		spec.VolumeMode = &m
	}
}

func validateAccessModes(modes []corev1.PersistentVolumeAccessMode, fld *field.Path, requiredDetail string) field.ErrorList {
	var errs field.ErrorList
	if len(modes) == 0 {
		errs = append(errs, field.Required(fld, requiredDetail))
	}
	for _, m := range modes {
		ok := false
		for _, s := range supportedAccessModes {
			ok = ok || m == s
		}
		if !ok {
			errs = append(errs, field.NotSupported(fld, m, supportedAccessModes))
		}
	}
	if len(modes) > 1 {
		for _, m := range modes {
			if m == corev1.ReadWriteOncePod {
				errs = append(errs, field.Forbidden(fld, "may not use ReadWriteOncePod with other access modes"))
				break
			}
		}
	}
	return errs
}

func validateStorageClassName(name *string, fld *field.Path) field.ErrorList {
	if name == nil || *name == "" {
		return nil
	}
	return validateDNS1123Subdomain(*name, fld)
}

func validatePV(pv *corev1.PersistentVolume) field.ErrorList {
	errs := validateClusterMeta(&pv.ObjectMeta, apivalidation.NameIsDNSSubdomain)
	spec := field.NewPath("spec")
	errs = append(errs, validateAccessModes(pv.Spec.AccessModes, spec.Child("accessModes"), "")...)

	capPath := spec.Child("capacity")
	if len(pv.Spec.Capacity) == 0 {
		errs = append(errs, field.Required(capPath, ""))
	}
	if _, ok := pv.Spec.Capacity[corev1.ResourceStorage]; !ok || len(pv.Spec.Capacity) > 1 {
		names := make([]string, 0, len(pv.Spec.Capacity))
		for _, n := range sortedResourceNames(pv.Spec.Capacity) {
			names = append(names, string(n))
		}
		errs = append(errs, field.NotSupported(capPath, strings.Join(names, ","), []corev1.ResourceName{corev1.ResourceStorage}))
	}
	for _, name := range sortedResourceNames(pv.Spec.Capacity) {
		errs = append(errs, validatePositiveQuantity(pv.Spec.Capacity[name], capPath.Key(string(name)))...)
	}
	errs = append(errs, validateOptionalEnum(pv.Spec.PersistentVolumeReclaimPolicy, supportedReclaimPolicies, spec.Child("persistentVolumeReclaimPolicy"))...)
	errs = append(errs, validateStorageClassName(&pv.Spec.StorageClassName, spec.Child("storageClassName"))...)
	if pv.Spec.VolumeMode != nil {
		errs = append(errs, validateEnum(*pv.Spec.VolumeMode, supportedVolumeModes, spec.Child("volumeMode"))...)
	}

	src := &pv.Spec.PersistentVolumeSource
	set := setPointerFields(src)
	if len(set) == 0 {
		errs = append(errs, field.Required(spec, "must specify a volume type"))
	}
	for _, extra := range setTail(set) {
		errs = append(errs, field.Forbidden(spec.Child(extra), "may not specify more than 1 volume type"))
	}
	switch {
	case src.HostPath != nil:
		errs = append(errs, validateHostPath(src.HostPath, spec.Child("hostPath"))...)
	case src.Local != nil:
		p := spec.Child("local")
		if src.Local.Path == "" {
			errs = append(errs, field.Required(p.Child("path"), ""))
		} else {
			errs = append(errs, validateNoBacksteps(src.Local.Path, p.Child("path"))...)
		}
		// A local volume exists on one node; without affinity pods using it
		// could be scheduled anywhere.
		if pv.Spec.NodeAffinity == nil || pv.Spec.NodeAffinity.Required == nil {
			errs = append(errs, field.Required(spec.Child("nodeAffinity"), "Local volume requires node affinity"))
		}
	case src.NFS != nil:
		p := spec.Child("nfs")
		if src.NFS.Server == "" {
			errs = append(errs, field.Required(p.Child("server"), ""))
		}
		if src.NFS.Path == "" {
			errs = append(errs, field.Required(p.Child("path"), ""))
		} else if !strings.HasPrefix(src.NFS.Path, "/") {
			errs = append(errs, field.Invalid(p.Child("path"), src.NFS.Path, "must be an absolute path"))
		}
	case src.CSI != nil:
		p := spec.Child("csi")
		if src.CSI.Driver == "" {
			errs = append(errs, field.Required(p.Child("driver"), ""))
		}
		if src.CSI.VolumeHandle == "" {
			errs = append(errs, field.Required(p.Child("volumeHandle"), ""))
		}
	}
	if pv.Spec.ClaimRef != nil && pv.Spec.ClaimRef.Name == "" {
		errs = append(errs, field.Required(spec.Child("claimRef", "name"), ""))
	}
	return errs
}

func setTail(set []string) []string {
	if len(set) < 2 {
		return nil
	}
	return set[1:]
}

func validatePVUpdate(pv, old *corev1.PersistentVolume) field.ErrorList {
	errs := validatePV(pv)
	// The volume itself (where the data lives) cannot be swapped under a
	// claim that is bound to it.
	if !apiequality.Semantic.DeepEqual(pv.Spec.PersistentVolumeSource, old.Spec.PersistentVolumeSource) {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "persistentvolumesource"), "spec.persistentvolumesource is immutable after creation"))
	}
	// Kubernetes reports this one at "volumeMode", without "spec.".
	errs = append(errs, apivalidation.ValidateImmutableField(pv.Spec.VolumeMode, old.Spec.VolumeMode, field.NewPath("volumeMode"))...)
	if old.Spec.NodeAffinity != nil {
		errs = append(errs, apivalidation.ValidateImmutableField(pv.Spec.NodeAffinity, old.Spec.NodeAffinity, field.NewPath("nodeAffinity"))...)
	}
	return errs
}

var (
	pvSpecDoc   = corev1.PersistentVolumeSpec{}.SwaggerDoc()
	pvStatusDoc = corev1.PersistentVolumeStatus{}.SwaggerDoc()
	pvColumns   = []metav1.TableColumnDefinition{
		nameColumn,
		col("Capacity", "string", pvSpecDoc["capacity"]),
		col("Access Modes", "string", pvSpecDoc["accessModes"]),
		col("Reclaim Policy", "string", pvSpecDoc["persistentVolumeReclaimPolicy"]),
		col("Status", "string", pvStatusDoc["phase"]),
		col("Claim", "string", pvSpecDoc["claimRef"]),
		col("StorageClass", "string", "StorageClass of the pv"),
		col("VolumeAttributesClass", "string", "VolumeAttributesClass of the pv"),
		col("Reason", "string", pvStatusDoc["reason"]),
		ageColumn,
		wideCol("VolumeMode", "string", pvSpecDoc["volumeMode"]),
	}
)

func pvRow(pv *corev1.PersistentVolume, now time.Time) []interface{} {
	claim := ""
	if pv.Spec.ClaimRef != nil {
		claim = pv.Spec.ClaimRef.Namespace + "/" + pv.Spec.ClaimRef.Name
	}
	capacity := pv.Spec.Capacity[corev1.ResourceStorage]
	phase := string(pv.Status.Phase)
	if pv.DeletionTimestamp != nil {
		phase = "Terminating"
	}
	class := pv.Spec.StorageClassName
	if a, ok := pv.Annotations[corev1.BetaStorageClassAnnotation]; ok {
		class = a
	}
	return []interface{}{
		pv.Name, capacity.String(), accessModesString(pv.Spec.AccessModes), string(pv.Spec.PersistentVolumeReclaimPolicy),
		phase, claim, class, unsetOr(pv.Spec.VolumeAttributesClassName), pv.Status.Reason,
		TranslateTimestampSince(pv.CreationTimestamp, now), volumeModeCell(pv.Spec.VolumeMode),
	}
}

func unsetOr(s *string) string {
	if s == nil {
		return "<unset>"
	}
	return *s
}

func volumeModeCell(m *corev1.PersistentVolumeMode) string {
	if m == nil {
		return "<unset>"
	}
	return string(*m)
}

func persistentVolumeClaimStrategy() Strategy {
	return Strategy{
		Default: func(obj runtime.Object) {
			pvc := obj.(*corev1.PersistentVolumeClaim)
			defaultPVCSpec(&pvc.Spec)
			if pvc.Status.Phase == "" {
				pvc.Status.Phase = corev1.ClaimPending
			}
		},
		PrepareForCreate: func(obj runtime.Object) {
			obj.(*corev1.PersistentVolumeClaim).Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}
		},
		Validate: func(obj runtime.Object) field.ErrorList { return validatePVC(obj.(*corev1.PersistentVolumeClaim)) },
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
			return validatePVCUpdate(obj.(*corev1.PersistentVolumeClaim), old.(*corev1.PersistentVolumeClaim))
		},
		Columns: pvcColumns,
		Row: func(obj runtime.Object, now time.Time) []interface{} {
			return pvcRow(obj.(*corev1.PersistentVolumeClaim), now)
		},
	}
}

func validatePVC(pvc *corev1.PersistentVolumeClaim) field.ErrorList {
	errs := validateNamespacedMeta(&pvc.ObjectMeta, apivalidation.NameIsDNSSubdomain)
	spec := field.NewPath("spec")
	errs = append(errs, validateAccessModes(pvc.Spec.AccessModes, spec.Child("accessModes"), "at least 1 access mode is required")...)
	if pvc.Spec.Selector != nil {
		errs = append(errs, validateLabelSelector(pvc.Spec.Selector, spec.Child("selector"))...)
	}
	// Kubernetes reports the missing request at "spec.resources[storage]".
	storagePath := spec.Child("resources").Key(string(corev1.ResourceStorage))
	if q, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; !ok {
		errs = append(errs, field.Required(storagePath, ""))
	} else {
		errs = append(errs, validatePositiveQuantity(q, storagePath)...)
	}
	errs = append(errs, validateStorageClassName(pvc.Spec.StorageClassName, spec.Child("storageClassName"))...)
	if pvc.Spec.VolumeMode != nil {
		errs = append(errs, validateEnum(*pvc.Spec.VolumeMode, supportedVolumeModes, spec.Child("volumeMode"))...)
	}
	return errs
}

// validatePVCUpdate: a claim's spec is fixed once created, except that the
// binder sets volumeName once, a default storage class may be filled in
// once, and a bound claim may change its storage request (expansion; it may
// shrink back only while above the actual capacity, to recover from a failed
// expansion).
func validatePVCUpdate(pvc, old *corev1.PersistentVolumeClaim) field.ErrorList {
	errs := validatePVC(pvc)
	newSpec, oldSpec := pvc.Spec.DeepCopy(), old.Spec.DeepCopy()
	if oldSpec.VolumeName == "" {
		oldSpec.VolumeName = newSpec.VolumeName
	}
	oldAnn := old.Annotations[corev1.BetaStorageClassAnnotation]
	if oldSpec.StorageClassName == nil {
		switch {
		case oldAnn == "":
			// Retroactive default storage class: nil may become a name.
			oldSpec.StorageClassName = newSpec.StorageClassName
		case newSpec.StorageClassName != nil && *newSpec.StorageClassName == oldAnn:
			// Moving from the beta annotation to the field.
			oldSpec.StorageClassName = newSpec.StorageClassName
		}
	}
	if old.Status.Phase == corev1.ClaimBound {
		if newSpec.Resources.Requests != nil {
			if q, ok := oldSpec.Resources.Requests[corev1.ResourceStorage]; ok {
				newSpec.Resources.Requests[corev1.ResourceStorage] = q
			}
		}
		newSpec.VolumeAttributesClassName = oldSpec.VolumeAttributesClassName
	}
	if !apiequality.Semantic.DeepEqual(newSpec, oldSpec) {
		errs = append(errs, field.Forbidden(field.NewPath("spec"),
			"spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"))
	}
	newSize := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	oldSize := old.Spec.Resources.Requests[corev1.ResourceStorage]
	statusSize := old.Status.Capacity[corev1.ResourceStorage]
	if newSize.Cmp(oldSize) < 0 && newSize.Cmp(statusSize) <= 0 {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "resources", "requests", "storage"), "field can not be less than status.capacity"))
	}
	if newAnn := pvc.Annotations[corev1.BetaStorageClassAnnotation]; newAnn != oldAnn {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "annotations", corev1.BetaStorageClassAnnotation), newAnn, apivalidation.FieldImmutableErrorMsg))
	}
	errs = append(errs, apivalidation.ValidateImmutableField(pvc.Spec.VolumeMode, old.Spec.VolumeMode, field.NewPath("volumeMode"))...)
	return errs
}

var (
	pvcSpecDoc   = corev1.PersistentVolumeClaimSpec{}.SwaggerDoc()
	pvcStatusDoc = corev1.PersistentVolumeClaimStatus{}.SwaggerDoc()
	pvcColumns   = []metav1.TableColumnDefinition{
		nameColumn,
		col("Status", "string", pvcStatusDoc["phase"]),
		col("Volume", "string", pvcSpecDoc["volumeName"]),
		col("Capacity", "string", pvcStatusDoc["capacity"]),
		col("Access Modes", "string", pvcStatusDoc["accessModes"]),
		col("StorageClass", "string", "StorageClass of the pvc"),
		col("VolumeAttributesClass", "string", "VolumeAttributesClass of the pvc"),
		ageColumn,
		wideCol("VolumeMode", "string", pvcSpecDoc["volumeMode"]),
	}
)

// pvcRow shows capacity and access modes only once bound: before that the
// claim has none of its own.
func pvcRow(pvc *corev1.PersistentVolumeClaim, now time.Time) []interface{} {
	phase := string(pvc.Status.Phase)
	if pvc.DeletionTimestamp != nil {
		phase = "Terminating"
	}
	capacity, modes := "", ""
	if pvc.Spec.VolumeName != "" {
		modes = accessModesString(pvc.Status.AccessModes)
		q := pvc.Status.Capacity[corev1.ResourceStorage]
		capacity = q.String()
	}
	class := ""
	if a, ok := pvc.Annotations[corev1.BetaStorageClassAnnotation]; ok {
		class = a
	} else if pvc.Spec.StorageClassName != nil {
		class = *pvc.Spec.StorageClassName
	}
	return []interface{}{
		pvc.Name, phase, pvc.Spec.VolumeName, capacity, modes, class, unsetOr(pvc.Spec.VolumeAttributesClassName),
		TranslateTimestampSince(pvc.CreationTimestamp, now), volumeModeCell(pvc.Spec.VolumeMode),
	}
}
