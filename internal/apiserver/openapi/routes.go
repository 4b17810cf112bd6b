package openapi

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gureum/gureum/internal/api"
)

// route is one URL path and the operations served on it, described once and
// rendered into both OpenAPI v2 and v3.
type route struct {
	path       string
	pathParams []param
	ops        []operation
}

// operation is one HTTP method on a route, named and parameterised as
// kube-apiserver's installer does it.
type operation struct {
	method       string
	id           string // operationId, e.g. listCoreV1NamespacedPod
	tag          string // e.g. core_v1
	action       string // x-kubernetes-action: get, list, post, put, patch, delete, ...
	gvk          *schema.GroupVersionKind
	description  string
	params       []param // query parameters
	body         string  // Go type name of the request body, "" when none
	bodyRequired bool
	consumes     []string
	produces     []string
	responses    []response
}

type response struct {
	code        int
	description string
	typeName    string // Go type name of the body; "" means a plain string
}

type param struct {
	name, in, description string
	typ                   string // string, boolean, integer or number
	required              bool
}

var (
	// mediaTypes are what every operation can answer with; kube-apiserver
	// also lists these (CBOR only behind a feature gate).
	mediaTypes       = []string{"application/json", "application/yaml", "application/vnd.kubernetes.protobuf"}
	streamMediaTypes = []string{"application/json;stream=watch", "application/vnd.kubernetes.protobuf;stream=watch"}
	anyMediaType     = []string{"*/*"}
	// patchTypes are the PATCH bodies accepted. kubectl only sends a strategic
	// merge patch when the document says the operation consumes one.
	patchTypes = []string{
		string(types.JSONPatchType),
		string(types.MergePatchType),
		string(types.StrategicMergePatchType),
		string(types.ApplyYAMLPatchType),
	}
)

// The metav1 types operations read and write, by Go type name.
var (
	statusType          = goTypeName(reflect.TypeOf(metav1.Status{}))
	watchEventType      = goTypeName(reflect.TypeOf(metav1.WatchEvent{}))
	deleteOptionsType   = goTypeName(reflect.TypeOf(metav1.DeleteOptions{}))
	patchType           = goTypeName(reflect.TypeOf(metav1.Patch{}))
	apiResourceListType = goTypeName(reflect.TypeOf(metav1.APIResourceList{}))
)

// Query parameters, derived from the option structs the server decodes them
// into so that names, types and descriptions match the server exactly.
var (
	prettyParam = param{name: "pretty", in: "query", typ: "string",
		description: "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a browser or command-line HTTP tool (curl and wget)."}
	listParams   = optionParams(&metav1.ListOptions{})
	createParams = optionParams(&metav1.CreateOptions{})
	updateParams = optionParams(&metav1.UpdateOptions{})
	patchParams  = optionParams(&metav1.PatchOptions{})
	deleteParams = optionParams(&metav1.DeleteOptions{})
	// Deleting a collection lists it first, but cannot watch it.
	deleteCollectionParams = sortParams(append(append([]param{}, deleteParams...),
		optionParams(&metav1.ListOptions{}, "watch", "allowWatchBookmarks")...))
)

// connectOptions are the subresources that open a stream (kube-apiserver's
// "connect" action) and the options their query parameters decode into.
var connectOptions = map[string]runtime.Object{
	"exec":        &corev1.PodExecOptions{},
	"attach":      &corev1.PodAttachOptions{},
	"portforward": &corev1.PodPortForwardOptions{},
	"proxy":       &corev1.PodProxyOptions{},
}

// logOptions are the query parameters of pods/log.
var logOptions = &corev1.PodLogOptions{}

// gvPath is where a group-version is served: /api/v1 or /apis/<group>/<version>.
func gvPath(gv schema.GroupVersion) string {
	if gv.Group == "" {
		return "/api/" + gv.Version
	}
	return "/apis/" + gv.Group + "/" + gv.Version
}

// gvKey names a group-version's OpenAPI v3 document: api/v1 or apis/<group>/<version>.
func gvKey(gv schema.GroupVersion) string { return strings.TrimPrefix(gvPath(gv), "/") }

// gvRoutes describes every path served for one group-version, in a stable
// order.
func gvRoutes(reg *api.Registry, scheme *runtime.Scheme, gv schema.GroupVersion) ([]route, error) {
	// kube-apiserver drops ".k8s.io" and calls the legacy group "core" in
	// operation IDs and tags.
	group := strings.TrimSuffix(gv.Group, ".k8s.io")
	if group == "" {
		group = "core"
	}
	g := gvNames{
		gv:   gv,
		id:   camel(group, true) + camel(gv.Version, true),
		tag:  camel(group, false) + "_" + camel(gv.Version, false),
		base: gvPath(gv),
	}
	routes := []route{{
		path: g.base + "/",
		ops: []operation{{
			method: "GET", id: "get" + g.id + "APIResources", tag: g.tag,
			description: "get available resources",
			consumes:    mediaTypes, produces: mediaTypes,
			responses: withUnauthorized(response{200, "OK", apiResourceListType}),
		}},
	}}
	for _, res := range reg.All() {
		if res.GroupVersionResource.GroupVersion() != gv {
			continue
		}
		rr, err := g.resourceRoutes(scheme, res)
		if err != nil {
			return nil, fmt.Errorf("resource %s: %w", res.GroupVersionResource, err)
		}
		routes = append(routes, rr...)
	}
	sort.Slice(routes, func(i, j int) bool { return routes[i].path < routes[j].path })
	return routes, nil
}

type gvNames struct {
	gv   schema.GroupVersion
	id   string // CoreV1, AppsV1, RbacAuthorizationV1
	tag  string // core_v1, apps_v1
	base string // /api/v1
}

func (g gvNames) resourceRoutes(scheme *runtime.Scheme, res *api.Resource) ([]route, error) {
	kind := res.Kind
	gvk := res.GroupVersionKind()
	objType, err := kindTypeName(scheme, gvk)
	if err != nil {
		return nil, err
	}
	verbs := map[string]bool{}
	for _, v := range res.Verbs {
		verbs[v] = true
	}
	var listType string
	if verbs["list"] || verbs["watch"] {
		if listType, err = kindTypeName(scheme, g.gv.WithKind(kind+"List")); err != nil {
			return nil, err
		}
	}

	plural := res.GroupVersionResource.Resource
	scope := "" // operation ID infix: Namespaced for namespaced resources
	collection := g.base + "/" + plural
	watchCollection := g.base + "/watch/" + plural
	var scopeParams []param
	if res.Namespaced {
		scope = "Namespaced"
		collection = g.base + "/namespaces/{namespace}/" + plural
		watchCollection = g.base + "/watch/namespaces/{namespace}/" + plural
		scopeParams = []param{{name: "namespace", in: "path", typ: "string", required: true,
			description: "object name and auth scope, such as for teams and projects"}}
	}
	nameParam := param{name: "name", in: "path", typ: "string", required: true, description: "name of the " + kind}
	itemParams := append(append([]param{}, scopeParams...), nameParam)
	item := collection + "/{name}"

	op := func(method, verb, rest, action, description string) operation {
		return operation{method: method, id: verb + g.id + rest, tag: g.tag, action: action,
			gvk: &gvk, description: description, consumes: anyMediaType, produces: mediaTypes}
	}
	var routes []route
	add := func(path string, params []param, ops ...operation) {
		if len(ops) > 0 {
			routes = append(routes, route{path: path, pathParams: params, ops: ops})
		}
	}

	// The collection: list, create, delete many.
	var ops []operation
	if verbs["list"] {
		o := op("GET", "list", scope+kind, "list", "list or watch objects of kind "+kind)
		o.params = withPretty(listParams)
		o.produces = concat(mediaTypes, streamMediaTypes)
		o.responses = withUnauthorized(response{200, "OK", listType})
		ops = append(ops, o)
	}
	if verbs["create"] {
		o := op("POST", "create", scope+kind, "post", "create"+article(kind)+kind)
		o.params = withPretty(createParams)
		o.body, o.bodyRequired = objType, true
		o.responses = withUnauthorized(response{200, "OK", objType}, response{201, "Created", objType}, response{202, "Accepted", objType})
		ops = append(ops, o)
	}
	if verbs["deletecollection"] {
		o := op("DELETE", "delete", "Collection"+scope+kind, "deletecollection", "delete collection of "+kind)
		o.params = withPretty(deleteCollectionParams)
		o.body = deleteOptionsType
		o.responses = withUnauthorized(response{200, "OK", statusType})
		ops = append(ops, o)
	}
	add(collection, scopeParams, ops...)

	// Listing a namespaced resource across every namespace.
	if res.Namespaced && verbs["list"] {
		o := op("GET", "list", kind+"ForAllNamespaces", "list", "list or watch objects of kind "+kind)
		o.params = withPretty(listParams)
		o.produces = concat(mediaTypes, streamMediaTypes)
		o.responses = withUnauthorized(response{200, "OK", listType})
		add(g.base+"/"+plural, nil, o)
	}

	// One object: read, replace, patch, delete.
	ops = nil
	if verbs["get"] {
		o := op("GET", "read", scope+kind, "get", "read the specified "+kind)
		o.params = []param{prettyParam}
		o.responses = withUnauthorized(response{200, "OK", objType})
		ops = append(ops, o)
	}
	if verbs["update"] {
		ops = append(ops, replaceOp(op("PUT", "replace", scope+kind, "put", "replace the specified "+kind), objType))
	}
	if verbs["patch"] {
		ops = append(ops, patchOp(op("PATCH", "patch", scope+kind, "patch", "partially update the specified "+kind), objType))
	}
	if verbs["delete"] {
		o := op("DELETE", "delete", scope+kind, "delete", "delete"+article(kind)+kind)
		o.params = withPretty(deleteParams)
		o.body = deleteOptionsType
		o.responses = withUnauthorized(response{200, "OK", statusType}, response{202, "Accepted", statusType})
		ops = append(ops, o)
	}
	add(item, itemParams, ops...)

	// The watch paths kube-apiserver still serves (deprecated in favour of
	// ?watch=true, but still in its documents and used by older clients).
	if verbs["watch"] {
		const deprecated = ". deprecated: use the 'watch' parameter with a list operation instead"
		watch := func(rest, action, description string) operation {
			o := op("GET", "watch", rest, action, description)
			o.params = withPretty(listParams)
			o.produces = concat(mediaTypes, streamMediaTypes)
			o.responses = withUnauthorized(response{200, "OK", watchEventType})
			return o
		}
		add(watchCollection+"/{name}", itemParams, watch(scope+kind, "watch",
			"watch changes to an object of kind "+kind+deprecated+", filtered to a single item with the 'fieldSelector' parameter."))
		add(watchCollection, scopeParams, watch(scope+kind+"List", "watchlist",
			"watch individual changes to a list of "+kind+deprecated+"."))
		if res.Namespaced {
			add(g.base+"/watch/"+plural, nil, watch(kind+"ListForAllNamespaces", "watchlist",
				"watch individual changes to a list of "+kind+deprecated+"."))
		}
	}

	for _, sub := range res.Subresources {
		r, err := g.subresourceRoute(scheme, res, sub, item, itemParams, scope)
		if err != nil {
			return nil, fmt.Errorf("subresource %s: %w", sub.Name, err)
		}
		if len(r.ops) > 0 {
			routes = append(routes, r)
		}
	}
	return routes, nil
}

func (g gvNames) subresourceRoute(scheme *runtime.Scheme, res *api.Resource, sub api.Subresource, item string, itemParams []param, scope string) (route, error) {
	kind := res.Kind // operation IDs name the parent's kind
	gvk := subresourceKind(res, sub)
	objType, err := kindTypeName(scheme, gvk)
	if err != nil {
		return route{}, err
	}
	r := route{path: item + "/" + sub.Name, pathParams: itemParams}
	rest := scope + kind + title(sub.Name)
	op := func(method, verb, rest, action, description string) operation {
		return operation{method: method, id: verb + g.id + rest, tag: g.tag, action: action,
			gvk: &gvk, description: description, consumes: anyMediaType, produces: mediaTypes}
	}

	if options, ok := connectOptions[sub.Name]; ok {
		// Streams: one operation per HTTP method, answered with raw bytes.
		for _, verb := range sub.Verbs {
			method := map[string]string{"get": "GET", "create": "POST", "update": "PUT", "delete": "DELETE", "patch": "PATCH"}[verb]
			if method == "" {
				continue
			}
			m := title(strings.ToLower(method))
			o := op(method, "connect", m+rest, "connect", "connect "+method+" requests to "+sub.Name+" of "+kind)
			o.params = optionParams(options)
			o.produces = anyMediaType
			o.responses = withUnauthorized(response{200, "OK", ""})
			r.ops = append(r.ops, o)
		}
		return r, nil
	}

	for _, verb := range sub.Verbs {
		switch verb {
		case "get":
			o := op("GET", "read", rest, "get", "read "+sub.Name+" of the specified "+kind)
			o.params = []param{prettyParam}
			o.responses = withUnauthorized(response{200, "OK", objType})
			if sub.Name == "log" {
				// Logs are text, whatever the kind registered for them.
				o.params = withPretty(optionParams(logOptions))
				o.produces = concat([]string{"text/plain"}, mediaTypes)
				o.responses = withUnauthorized(response{200, "OK", ""})
			}
			r.ops = append(r.ops, o)
		case "update":
			r.ops = append(r.ops, replaceOp(op("PUT", "replace", rest, "put", "replace "+sub.Name+" of the specified "+kind), objType))
		case "patch":
			r.ops = append(r.ops, patchOp(op("PATCH", "patch", rest, "patch", "partially update "+sub.Name+" of the specified "+kind), objType))
		case "create":
			o := op("POST", "create", rest, "post", "create "+sub.Name+" of"+article(kind)+kind)
			o.params = withPretty(createParams)
			o.body, o.bodyRequired = objType, true
			o.responses = withUnauthorized(response{200, "OK", objType}, response{201, "Created", objType}, response{202, "Accepted", objType})
			r.ops = append(r.ops, o)
		case "delete":
			o := op("DELETE", "delete", rest, "delete", "delete "+sub.Name+" of"+article(kind)+kind)
			o.params = withPretty(deleteParams)
			o.body = deleteOptionsType
			o.responses = withUnauthorized(response{200, "OK", statusType}, response{202, "Accepted", statusType})
			r.ops = append(r.ops, o)
		}
	}
	return r, nil
}

// subresourceKind is the kind a subresource takes and returns: the parent's
// unless the registry names another (autoscaling/v1 Scale, policy/v1 Eviction).
func subresourceKind(res *api.Resource, sub api.Subresource) schema.GroupVersionKind {
	gvk := res.GroupVersionKind()
	if sub.Kind == "" {
		return gvk
	}
	gvk.Kind = sub.Kind
	if sub.Group != "" || sub.Version != "" {
		gvk.Group = sub.Group
		if sub.Version != "" {
			gvk.Version = sub.Version
		}
	}
	return gvk
}

func replaceOp(o operation, objType string) operation {
	o.params = withPretty(updateParams)
	o.body, o.bodyRequired = objType, true
	o.responses = withUnauthorized(response{200, "OK", objType}, response{201, "Created", objType})
	return o
}

func patchOp(o operation, objType string) operation {
	o.params = withPretty(patchParams)
	o.body, o.bodyRequired = patchType, true
	o.consumes = patchTypes
	if o.gvk != nil && strings.HasSuffix(o.gvk.Group, ".gureum.io") {
		// Gureum's own kinds take patches as custom resources do: no
		// strategic merge patch (the server answers 415), so client-side
		// `kubectl apply` must learn here to send a merge patch instead.
		o.consumes = []string{string(types.JSONPatchType), string(types.MergePatchType), string(types.ApplyYAMLPatchType)}
	}
	// 201 when server-side apply creates the object.
	o.responses = withUnauthorized(response{200, "OK", objType}, response{201, "Created", objType})
	return o
}

func withPretty(params []param) []param {
	return sortParams(append([]param{prettyParam}, params...))
}

// withUnauthorized adds the 401 every operation can answer, as
// kube-apiserver's documents do.
func withUnauthorized(rs ...response) []response {
	return append(rs, response{code: 401, description: "Unauthorized"})
}

func concat(a, b []string) []string { return append(append([]string{}, a...), b...) }

// article is " a " or " an " before a kind, as in "create a Pod", "create an Ingress".
func article(noun string) string {
	if noun != "" && strings.ContainsRune("AEIOU", rune(noun[0])) {
		return " an "
	}
	return " a "
}

// optionParams lists the query parameters an options struct decodes, the way
// kube-apiserver's installer does (AddObjectParams): one per JSON-tagged
// scalar field, described by the struct's generated SwaggerDoc. Structs
// other than metav1.Time (TypeMeta, Preconditions) cannot be query values.
func optionParams(obj interface{}, exclude ...string) []param {
	var docs map[string]string
	if d, ok := obj.(interface{ SwaggerDoc() map[string]string }); ok {
		docs = d.SwaggerDoc()
	}
	skip := map[string]bool{}
	for _, name := range exclude {
		skip[name] = true
	}
	var params []param
	t := reflect.TypeOf(obj).Elem()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" || skip[name] {
			continue
		}
		typ := queryType(f.Type)
		if typ == "" {
			continue
		}
		params = append(params, param{name: name, in: "query", typ: typ, description: docs[name]})
	}
	return sortParams(params)
}

// sortParams orders parameters by name, as kube-openapi's builder does, so
// documents are stable and comparable with kube-apiserver's.
func sortParams(params []param) []param {
	sort.Slice(params, func(i, j int) bool { return params[i].name < params[j].name })
	return params
}

// queryType is the OpenAPI type of a query parameter decoded into a field of
// type t, or "" when such a field is not a query parameter. A list of strings
// is a repeated string parameter.
func queryType(t reflect.Type) string {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == reflect.TypeOf(metav1.Time{}) {
		return "string"
	}
	if t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.String:
		return "string"
	}
	return ""
}

// referencedTypes is every Go type the routes read or write, the roots from
// which a document's definitions are built.
func referencedTypes(routes []route) []string {
	seen := map[string]bool{}
	for _, r := range routes {
		for _, o := range r.ops {
			if o.body != "" {
				seen[o.body] = true
			}
			for _, resp := range o.responses {
				if resp.typeName != "" {
					seen[resp.typeName] = true
				}
			}
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
