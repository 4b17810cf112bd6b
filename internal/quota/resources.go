package quota

import (
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Resource list arithmetic. Values keep the format of the left operand
// unless it is zero, as resource.Quantity.Add does, so that sums print as
// Kubernetes prints them ("500Mi", not "524288k").

func one() resource.Quantity { return *resource.NewQuantity(1, resource.DecimalSI) }

func zero() resource.Quantity { return resource.Quantity{Format: resource.DecimalSI} }

// add returns a+b.
func add(a, b corev1.ResourceList) corev1.ResourceList {
	out := make(corev1.ResourceList, len(a)+len(b))
	for name, v := range a {
		out[name] = v.DeepCopy()
	}
	for name, v := range b {
		sum, ok := out[name]
		if !ok {
			out[name] = v.DeepCopy()
			continue
		}
		sum.Add(v)
		out[name] = sum
	}
	return out
}

// subtractFloorZero returns a-b for the names in a, never below zero: an
// update that shrinks an object frees nothing at admission time (the
// controller gives it back when it recounts).
func subtractFloorZero(a, b corev1.ResourceList) corev1.ResourceList {
	out := make(corev1.ResourceList, len(a))
	for name, v := range a {
		d := v.DeepCopy()
		if other, ok := b[name]; ok {
			d.Sub(other)
		}
		if d.Sign() < 0 {
			d = zero()
		}
		out[name] = d
	}
	return out
}

// mask keeps the entries of list whose names are in names.
func mask(list corev1.ResourceList, names []corev1.ResourceName) corev1.ResourceList {
	out := corev1.ResourceList{}
	for _, name := range names {
		if v, ok := list[name]; ok {
			out[name] = v.DeepCopy()
		}
	}
	return out
}

func removeZeros(list corev1.ResourceList) corev1.ResourceList {
	out := corev1.ResourceList{}
	for name, v := range list {
		if !v.IsZero() {
			out[name] = v
		}
	}
	return out
}

// Equal reports whether a and b hold the same names with equal values,
// whatever their formats; nil and empty are equal.
func Equal(a, b corev1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for name, v := range a {
		w, ok := b[name]
		if !ok || v.Cmp(w) != 0 {
			return false
		}
	}
	return true
}

// names returns the names in list, sorted.
func names(list corev1.ResourceList) []corev1.ResourceName {
	out := make([]corev1.ResourceName, 0, len(list))
	for name := range list {
		out = append(out, name)
	}
	sortNames(out)
	return out
}

func sortNames(list []corev1.ResourceName) {
	sort.Slice(list, func(i, j int) bool { return list[i] < list[j] })
}

// format renders "a=1,b=2" in name order, as Kubernetes' quota errors do.
func format(list corev1.ResourceList) string {
	parts := make([]string, 0, len(list))
	for _, name := range names(list) {
		v := list[name]
		parts = append(parts, string(name)+"="+v.String())
	}
	return strings.Join(parts, ",")
}

func joinNames(list []corev1.ResourceName) string {
	s := make([]string, len(list))
	for i, n := range list {
		s[i] = string(n)
	}
	sort.Strings(s)
	return strings.Join(s, ",")
}

func contains(list []corev1.ResourceName, name corev1.ResourceName) bool {
	for _, n := range list {
		if n == name {
			return true
		}
	}
	return false
}
