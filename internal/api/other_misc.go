package api

// coordination.k8s.io/v1 Leases, storage.k8s.io/v1 StorageClasses and
// rbac.authorization.k8s.io/v1 Roles, ClusterRoles and their bindings.

import (
	"fmt"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// --- Lease ---------------------------------------------------------------------

func leaseStrategy() Strategy {
	return Strategy{
		Validate: func(obj runtime.Object) field.ErrorList {
			return validateLease(obj.(*coordinationv1.Lease))
		},
		ValidateUpdate: func(obj, _ runtime.Object) field.ErrorList {
			return validateLease(obj.(*coordinationv1.Lease))
		},
		Columns: []metav1.TableColumnDefinition{
			wlNameColumn(),
			wlColumn("Holder", "string", coordinationv1.LeaseSpec{}.SwaggerDoc()["holderIdentity"]),
			wlAgeColumn(),
		},
		Row: func(obj runtime.Object, now time.Time) []interface{} {
			l := obj.(*coordinationv1.Lease)
			holder := ""
			if l.Spec.HolderIdentity != nil {
				holder = *l.Spec.HolderIdentity
			}
			return []interface{}{l.Name, holder, ageOf(l.CreationTimestamp, now)}
		},
	}
}

func validateLease(l *coordinationv1.Lease) field.ErrorList {
	errs := wlValidateMeta(&l.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	spec := field.NewPath("spec")
	if d := l.Spec.LeaseDurationSeconds; d != nil && *d <= 0 {
		errs = append(errs, field.Invalid(spec.Child("leaseDurationSeconds"), *d, "must be greater than 0"))
	}
	errs = append(errs, wlNonNegativePtr(l.Spec.LeaseTransitions, spec.Child("leaseTransitions"))...)
	if s := l.Spec.Strategy; s != nil {
		sp := spec.Child("strategy")
		if !strings.Contains(string(*s), "/") {
			// Unprefixed strategies are Kubernetes' own.
			if *s != coordinationv1.OldestEmulationVersion {
				errs = append(errs, field.NotSupported(sp, *s, []string{string(coordinationv1.OldestEmulationVersion)}))
			}
		} else {
			for _, msg := range validation.IsQualifiedName(string(*s)) {
				errs = append(errs, field.Invalid(sp, *s, msg))
			}
		}
	}
	if h := l.Spec.PreferredHolder; h != nil && *h != "" && (l.Spec.Strategy == nil || *l.Spec.Strategy == "") {
		errs = append(errs, field.Forbidden(spec.Child("preferredHolder"), "may only be specified if `strategy` is defined"))
	}
	return errs
}

// --- StorageClass --------------------------------------------------------------

const (
	defaultStorageClassAnnotation     = "storageclass.kubernetes.io/is-default-class"
	betaDefaultStorageClassAnnotation = "storageclass.beta.kubernetes.io/is-default-class"
	maxProvisionerParameters          = 512
	maxProvisionerParameterSize       = 256 * 1024
)

func storageClassStrategy() Strategy {
	return Strategy{
		Default: func(obj runtime.Object) {
			sc := obj.(*storagev1.StorageClass)
			if sc.ReclaimPolicy == nil {
				p := corev1.PersistentVolumeReclaimDelete
				sc.ReclaimPolicy = &p
			}
			if sc.VolumeBindingMode == nil {
				m := storagev1.VolumeBindingImmediate
				sc.VolumeBindingMode = &m
			}
		},
		Validate: func(obj runtime.Object) field.ErrorList {
			return validateStorageClass(obj.(*storagev1.StorageClass))
		},
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
			sc, oldSC := obj.(*storagev1.StorageClass), old.(*storagev1.StorageClass)
			errs := validateStorageClass(sc)
			// Volumes already provisioned from the class were made with
			// these settings; changing them would make the class lie.
			if !wlStringMapsEqual(sc.Parameters, oldSC.Parameters) {
				errs = append(errs, field.Forbidden(field.NewPath("parameters"), "updates to parameters are forbidden."))
			}
			if sc.Provisioner != oldSC.Provisioner {
				errs = append(errs, field.Forbidden(field.NewPath("provisioner"), "updates to provisioner are forbidden."))
			}
			if reclaimPolicyOf(sc) != reclaimPolicyOf(oldSC) {
				errs = append(errs, field.Forbidden(field.NewPath("reclaimPolicy"), "updates to reclaimPolicy are forbidden."))
			}
			return append(errs, wlImmutable(sc.VolumeBindingMode, oldSC.VolumeBindingMode, field.NewPath("volumeBindingMode"))...)
		},
		Columns: []metav1.TableColumnDefinition{
			wlNameColumn(),
			wlColumn("Provisioner", "string", storagev1.StorageClass{}.SwaggerDoc()["provisioner"]),
			wlColumn("ReclaimPolicy", "string", storagev1.StorageClass{}.SwaggerDoc()["reclaimPolicy"]),
			wlColumn("VolumeBindingMode", "string", storagev1.StorageClass{}.SwaggerDoc()["volumeBindingMode"]),
			wlColumn("AllowVolumeExpansion", "string", storagev1.StorageClass{}.SwaggerDoc()["allowVolumeExpansion"]),
			wlAgeColumn(),
		},
		Row: func(obj runtime.Object, now time.Time) []interface{} {
			sc := obj.(*storagev1.StorageClass)
			name := sc.Name
			if IsDefaultStorageClass(sc) {
				name += " (default)"
			}
			mode := string(storagev1.VolumeBindingImmediate)
			if sc.VolumeBindingMode != nil {
				mode = string(*sc.VolumeBindingMode)
			}
			return []interface{}{name, sc.Provisioner, string(reclaimPolicyOf(sc)), mode,
				wlBool(sc.AllowVolumeExpansion), ageOf(sc.CreationTimestamp, now)}
		},
	}
}

// IsDefaultStorageClass reports whether the class is annotated as the
// cluster's default, which claims without a storageClassName get.
func IsDefaultStorageClass(sc *storagev1.StorageClass) bool {
	return sc.Annotations[defaultStorageClassAnnotation] == "true" || sc.Annotations[betaDefaultStorageClassAnnotation] == "true"
}

func reclaimPolicyOf(sc *storagev1.StorageClass) corev1.PersistentVolumeReclaimPolicy {
	if sc.ReclaimPolicy == nil {
		return corev1.PersistentVolumeReclaimDelete
	}
	return *sc.ReclaimPolicy
}

// wlStringMapsEqual treats a nil and an empty map as equal, as JSON does.
func wlStringMapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func validateStorageClass(sc *storagev1.StorageClass) field.ErrorList {
	errs := wlValidateMeta(&sc.ObjectMeta, false, apivalidation.NameIsDNSSubdomain)
	pp := field.NewPath("provisioner")
	if sc.Provisioner == "" {
		errs = append(errs, field.Required(pp, ""))
	} else {
		for _, msg := range validation.IsQualifiedName(strings.ToLower(sc.Provisioner)) {
			errs = append(errs, field.Invalid(pp, sc.Provisioner, msg))
		}
	}
	params := field.NewPath("parameters")
	if len(sc.Parameters) > maxProvisionerParameters {
		errs = append(errs, field.TooLong(params, "", maxProvisionerParameters))
	} else {
		size := 0
		for k, v := range sc.Parameters {
			if k == "" {
				errs = append(errs, field.Invalid(params, k, "field can not be empty."))
			}
			size += len(k) + len(v)
		}
		if size > maxProvisionerParameterSize {
			errs = append(errs, field.TooLong(params, "", maxProvisionerParameterSize))
		}
	}
	if p := sc.ReclaimPolicy; p != nil && *p != "" && *p != corev1.PersistentVolumeReclaimDelete && *p != corev1.PersistentVolumeReclaimRetain {
		errs = append(errs, field.NotSupported(field.NewPath("reclaimPolicy"), *p, []string{
			string(corev1.PersistentVolumeReclaimDelete), string(corev1.PersistentVolumeReclaimRetain)}))
	}
	mp := field.NewPath("volumeBindingMode")
	switch m := sc.VolumeBindingMode; {
	case m == nil:
		errs = append(errs, field.Required(mp, ""))
	case *m != storagev1.VolumeBindingImmediate && *m != storagev1.VolumeBindingWaitForFirstConsumer:
		errs = append(errs, field.NotSupported(mp, *m, []string{
			string(storagev1.VolumeBindingImmediate), string(storagev1.VolumeBindingWaitForFirstConsumer)}))
	}
	errs = append(errs, validateAllowedTopologies(sc.AllowedTopologies, field.NewPath("allowedTopologies"))...)
	return errs
}

func validateAllowedTopologies(terms []corev1.TopologySelectorTerm, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	var seenTerms []string
	for i, t := range terms {
		tp := fld.Index(i).Child("matchLabelExpressions")
		keys := map[string]bool{}
		var canon []string
		for k, req := range t.MatchLabelExpressions {
			rp := tp.Index(k)
			errs = append(errs, metav1validation.ValidateLabelName(req.Key, rp.Child("key"))...)
			if keys[req.Key] {
				errs = append(errs, field.Duplicate(rp.Child("key"), req.Key))
			}
			keys[req.Key] = true
			if len(req.Values) == 0 {
				errs = append(errs, field.Required(rp.Child("values"), "must specify as least one value"))
			}
			vals := map[string]bool{}
			for _, v := range req.Values {
				if vals[v] {
					errs = append(errs, field.Duplicate(rp.Child("values"), v))
				}
				vals[v] = true
			}
			canon = append(canon, fmt.Sprintf("%q=%q", req.Key, req.Values))
		}
		c := strings.Join(canon, ";")
		for _, s := range seenTerms {
			if s == c {
				errs = append(errs, field.Duplicate(tp, ""))
			}
		}
		seenTerms = append(seenTerms, c)
	}
	return errs
}

// --- RBAC ----------------------------------------------------------------------

// RBAC names end up in URLs and in role references, so anything that is a
// valid path segment goes (system:controller:foo is a common name).
var rbacName = path.ValidatePathSegmentName

func roleStrategy(namespaced bool) Strategy {
	validate := func(obj runtime.Object) field.ErrorList {
		if namespaced {
			r := obj.(*rbacv1.Role)
			errs := wlValidateMeta(&r.ObjectMeta, true, rbacName)
			return append(errs, validatePolicyRules(r.Rules, true)...)
		}
		r := obj.(*rbacv1.ClusterRole)
		errs := wlValidateMeta(&r.ObjectMeta, false, rbacName)
		errs = append(errs, validatePolicyRules(r.Rules, false)...)
		if a := r.AggregationRule; a != nil {
			ap := field.NewPath("aggregationRule", "clusterRoleSelectors")
			if len(a.ClusterRoleSelectors) == 0 {
				errs = append(errs, field.Required(ap, "at least one clusterRoleSelector required if aggregationRule is non-nil"))
			}
			for i := range a.ClusterRoleSelectors {
				errs = append(errs, metav1validation.ValidateLabelSelector(&a.ClusterRoleSelectors[i],
					metav1validation.LabelSelectorValidationOptions{}, ap.Index(i))...)
			}
		}
		return errs
	}
	return Strategy{
		Validate:       validate,
		ValidateUpdate: func(obj, _ runtime.Object) field.ErrorList { return validate(obj) },
		Columns: []metav1.TableColumnDefinition{
			wlNameColumn(),
			wlColumn("Created At", "date", metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]),
		},
		Row: func(obj runtime.Object, _ time.Time) []interface{} {
			m := obj.(metav1.Object)
			return []interface{}{m.GetName(), m.GetCreationTimestamp().UTC().Format(time.RFC3339)}
		},
	}
}

func validatePolicyRules(rules []rbacv1.PolicyRule, namespaced bool) field.ErrorList {
	var errs field.ErrorList
	for i, r := range rules {
		rp := field.NewPath("rules").Index(i)
		if len(r.Verbs) == 0 {
			errs = append(errs, field.Required(rp.Child("verbs"), "verbs must contain at least one value"))
		}
		if len(r.NonResourceURLs) > 0 {
			// Non-resource URLs (/healthz, /metrics) are not in any
			// namespace, and a rule is about either URLs or resources.
			if namespaced {
				errs = append(errs, field.Invalid(rp.Child("nonResourceURLs"), r.NonResourceURLs, "namespaced rules cannot apply to non-resource URLs"))
			}
			if len(r.APIGroups) > 0 || len(r.Resources) > 0 || len(r.ResourceNames) > 0 {
				errs = append(errs, field.Invalid(rp.Child("nonResourceURLs"), r.NonResourceURLs, "rules cannot apply to both regular resources and non-resource URLs"))
			}
			continue
		}
		if len(r.APIGroups) == 0 {
			errs = append(errs, field.Required(rp.Child("apiGroups"), "resource rules must supply at least one api group"))
		}
		if len(r.Resources) == 0 {
			errs = append(errs, field.Required(rp.Child("resources"), "resource rules must supply at least one resource"))
		}
	}
	return errs
}

func roleBindingStrategy(namespaced bool) Strategy {
	parts := func(obj runtime.Object) (*metav1.ObjectMeta, *rbacv1.RoleRef, []rbacv1.Subject) {
		if namespaced {
			b := obj.(*rbacv1.RoleBinding)
			return &b.ObjectMeta, &b.RoleRef, b.Subjects
		}
		b := obj.(*rbacv1.ClusterRoleBinding)
		return &b.ObjectMeta, &b.RoleRef, b.Subjects
	}
	validate := func(obj runtime.Object) field.ErrorList {
		meta, ref, subjects := parts(obj)
		errs := wlValidateMeta(meta, namespaced, rbacName)
		rp := field.NewPath("roleRef")
		if ref.APIGroup != rbacv1.GroupName {
			errs = append(errs, field.NotSupported(rp.Child("apiGroup"), ref.APIGroup, []string{rbacv1.GroupName}))
		}
		kinds := []string{"ClusterRole"}
		if namespaced {
			kinds = []string{"Role", "ClusterRole"}
		}
		okKind := false
		for _, k := range kinds {
			okKind = okKind || ref.Kind == k
		}
		if !okKind {
			errs = append(errs, field.NotSupported(rp.Child("kind"), ref.Kind, kinds))
		}
		if ref.Name == "" {
			errs = append(errs, field.Required(rp.Child("name"), ""))
		} else {
			for _, msg := range rbacName(ref.Name, false) {
				errs = append(errs, field.Invalid(rp.Child("name"), ref.Name, msg))
			}
		}
		for i, s := range subjects {
			errs = append(errs, validateSubject(s, namespaced, field.NewPath("subjects").Index(i))...)
		}
		return errs
	}
	return Strategy{
		Default: func(obj runtime.Object) {
			_, ref, subjects := parts(obj)
			if ref.APIGroup == "" {
				ref.APIGroup = rbacv1.GroupName
			}
			for i := range subjects {
				s := &subjects[i]
				if s.APIGroup == "" && (s.Kind == rbacv1.UserKind || s.Kind == rbacv1.GroupKind) {
					s.APIGroup = rbacv1.GroupName
				}
			}
		},
		Validate: validate,
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
			errs := validate(obj)
			// A binding grants what its role allows; pointing it at another
			// role would change the grant without the checks creating one
			// gets, so roleRef can only change by re-creating the binding.
			_, ref, _ := parts(obj)
			_, oldRef, _ := parts(old)
			if *ref != *oldRef {
				errs = append(errs, field.Invalid(field.NewPath("roleRef"), *ref, "cannot change roleRef"))
			}
			return errs
		},
		Columns: []metav1.TableColumnDefinition{
			wlNameColumn(),
			wlColumn("Role", "string", rbacv1.RoleBinding{}.SwaggerDoc()["roleRef"]),
			wlAgeColumn(),
			wlWideColumn("Users", "string", "Users in the roleBinding"),
			wlWideColumn("Groups", "string", "Groups in the roleBinding"),
			wlWideColumn("ServiceAccounts", "string", "ServiceAccounts in the roleBinding"),
		},
		Row: func(obj runtime.Object, now time.Time) []interface{} {
			meta, ref, subjects := parts(obj)
			var users, groups, sas []string
			for _, s := range subjects {
				switch s.Kind {
				case rbacv1.UserKind:
					users = append(users, s.Name)
				case rbacv1.GroupKind:
					groups = append(groups, s.Name)
				case rbacv1.ServiceAccountKind:
					if s.Namespace != "" {
						sas = append(sas, s.Namespace+"/"+s.Name)
					} else {
						sas = append(sas, s.Name)
					}
				}
			}
			return []interface{}{meta.Name, ref.Kind + "/" + ref.Name, ageOf(meta.CreationTimestamp, now),
				strings.Join(users, ", "), strings.Join(groups, ", "), strings.Join(sas, ", ")}
		},
	}
}

func validateSubject(s rbacv1.Subject, namespacedBinding bool, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.Name == "" {
		errs = append(errs, field.Required(fld.Child("name"), ""))
	}
	switch s.Kind {
	case rbacv1.ServiceAccountKind:
		if s.Name != "" {
			for _, msg := range apivalidation.ValidateServiceAccountName(s.Name, false) {
				errs = append(errs, field.Invalid(fld.Child("name"), s.Name, msg))
			}
		}
		if s.APIGroup != "" {
			errs = append(errs, field.NotSupported(fld.Child("apiGroup"), s.APIGroup, []string{""}))
		}
		// A RoleBinding's service accounts default to its namespace; a
		// ClusterRoleBinding has none to offer.
		if !namespacedBinding && s.Namespace == "" {
			errs = append(errs, field.Required(fld.Child("namespace"), ""))
		}
	case rbacv1.UserKind, rbacv1.GroupKind:
		if s.APIGroup != rbacv1.GroupName {
			errs = append(errs, field.NotSupported(fld.Child("apiGroup"), s.APIGroup, []string{rbacv1.GroupName}))
		}
	default:
		errs = append(errs, field.NotSupported(fld.Child("kind"), s.Kind, []string{
			rbacv1.ServiceAccountKind, rbacv1.UserKind, rbacv1.GroupKind}))
	}
	return errs
}
