package api

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// DefaultPodSpec fills a pod spec's defaults; shared by Pod and by every
// workload's pod template.
func DefaultPodSpec(spec *corev1.PodSpec) {}

// ValidatePodSpec checks a pod spec at path fld.
func ValidatePodSpec(spec *corev1.PodSpec, fld *field.Path) field.ErrorList { return nil }

// ValidatePodTemplateSpec checks a workload's pod template at path fld.
func ValidatePodTemplateSpec(t *corev1.PodTemplateSpec, fld *field.Path) field.ErrorList { return nil }
