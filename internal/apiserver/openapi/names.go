package openapi

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/util"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// extensionGVK marks a schema (a list of group/version/kinds) or an
// operation (one group/version/kind) with the Kubernetes kinds it stands for;
// kubectl and the type converter find a kind's schema by it.
const extensionGVK = "x-kubernetes-group-version-kind"

// definitionNamer turns the Go type names openapi-gen keys definitions by
// ("k8s.io/api/core/v1.Pod") into Kubernetes' definition names
// ("io.k8s.api.core.v1.Pod") and tags every type the scheme knows as a kind
// with its group/version/kinds, as kube-apiserver's namer does.
type definitionNamer struct {
	kinds map[string][]schema.GroupVersionKind // by Go type name
}

// newDefinitionNamer takes the kinds from the scheme, but only in the
// group-versions served: the scheme also holds every client-go group, and
// types shared by all groups (DeleteOptions, WatchEvent) would otherwise
// claim to be kinds of groups that do not exist here.
func newDefinitionNamer(scheme *runtime.Scheme, served map[schema.GroupVersion]bool) *definitionNamer {
	n := &definitionNamer{kinds: map[string][]schema.GroupVersionKind{}}
	for gvk, t := range scheme.AllKnownTypes() {
		if !served[gvk.GroupVersion()] {
			continue
		}
		name := goTypeName(t)
		n.kinds[name] = append(n.kinds[name], gvk)
	}
	for _, gvks := range n.kinds {
		sort.Slice(gvks, func(i, j int) bool {
			a, b := gvks[i], gvks[j]
			if a.Group != b.Group {
				return a.Group < b.Group
			}
			if a.Version != b.Version {
				return a.Version < b.Version
			}
			return a.Kind < b.Kind
		})
	}
	return n
}

// name is a common.Config GetDefinitionName function.
func (n *definitionNamer) name(goName string) (string, spec.Extensions) {
	gvks, ok := n.kinds[goName]
	if !ok {
		return util.ToRESTFriendlyName(goName), nil
	}
	// A list of plain maps: the type converter type-asserts exactly this shape
	// (managedfields parseGroupVersionKind), and it marshals as Kubernetes does.
	list := make([]interface{}, 0, len(gvks))
	for _, gvk := range gvks {
		list = append(list, gvkMap(gvk))
	}
	return util.ToRESTFriendlyName(goName), spec.Extensions{extensionGVK: list}
}

func gvkMap(gvk schema.GroupVersionKind) map[string]interface{} {
	return map[string]interface{}{"group": gvk.Group, "version": gvk.Version, "kind": gvk.Kind}
}

// goTypeName is the key openapi-gen uses for a type: its import path and name.
func goTypeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.PkgPath() + "." + t.Name()
}

// kindTypeName is the Go type name of a kind registered in the scheme.
func kindTypeName(scheme *runtime.Scheme, gvk schema.GroupVersionKind) (string, error) {
	obj, err := scheme.New(gvk)
	if err != nil {
		return "", fmt.Errorf("kind %s is not registered in the API scheme: %w", gvk, err)
	}
	return goTypeName(reflect.TypeOf(obj)), nil
}

// ref is the JSON reference to a definition in a document whose definitions
// live under prefix ("#/definitions/" in v2, "#/components/schemas/" in v3).
func ref(prefix, goName string) spec.Ref {
	return spec.MustCreateRef(prefix + common.EscapeJsonPointer(util.ToRESTFriendlyName(goName)))
}

// camel turns a group or version into an identifier part the way
// kube-apiserver builds operation IDs: punctuation is dropped and the letter
// after it capitalised ("rbac.authorization" -> "RbacAuthorization").
func camel(s string, capitalizeFirst bool) string {
	var b strings.Builder
	up := capitalizeFirst
	for i, r := range s {
		isLetter := (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || r == '_'
		isDigit := r >= '0' && r <= '9'
		if !isLetter && !(isDigit && i != 0) {
			up = true
			continue
		}
		if up && r >= 'a' && r <= 'z' {
			r -= 'a' - 'A'
		}
		up = false
		b.WriteRune(r)
	}
	return b.String()
}

// title upper-cases the first letter ("status" -> "Status"), as
// kube-apiserver does with subresource names in operation IDs.
func title(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
