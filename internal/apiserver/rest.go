package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"

	"github.com/gureum/gureum/internal/api"
	"github.com/gureum/gureum/internal/store"
)

// serveResource handles every request on a resource path.
func (s *Server) serveResource(w http.ResponseWriter, r *http.Request, info requestInfo, user UserInfo) {
	gvr := schema.GroupVersionResource{Group: info.Group, Version: info.Version, Resource: info.Resource}
	res, cache, ok := s.lookup(gvr)
	gr := gvr.GroupResource()
	if !ok {
		writeError(w, r, apierrors.NewNotFound(gr, info.Name), gr, info.Name)
		return
	}
	if res.Namespaced && info.Namespace == "" && info.Verb != "list" && info.Verb != "watch" && !isVirtual(res) {
		writeError(w, r, apierrors.NewNotFound(gr, info.Name), gr, info.Name)
		return
	}
	if !res.Namespaced {
		info.Namespace = ""
	}
	if info.Subresource != "" && !res.HasSubresource(info.Subresource) {
		writeError(w, r, apierrors.NewNotFound(gr, info.Name), gr, info.Name)
		return
	}
	if info.Subresource != "" && info.Name == "" {
		writeError(w, r, apierrors.NewNotFound(gr, ""), gr, "")
		return
	}
	if err := s.authorize(r.Context(), user, info); err != nil {
		writeError(w, r, err, gr, info.Name)
		return
	}
	if isVirtual(res) {
		if info.Verb != "create" {
			writeError(w, r, apierrors.NewMethodNotSupported(gr, info.Verb), gr, "")
			return
		}
		s.serveReview(w, r, res, info, user)
		return
	}
	if !verbAllowed(res, info) {
		writeError(w, r, apierrors.NewMethodNotSupported(gr, info.Verb), gr, info.Name)
		return
	}
	req := &request{s: s, w: w, r: r, res: res, c: cache, info: info, gr: gr, user: user}
	switch info.Subresource {
	case "":
	case "status", "finalize", "approval":
	case "scale":
		req.serveScale()
		return
	case "binding":
		req.serveBinding()
		return
	case "eviction":
		req.serveEviction()
		return
	case "token":
		req.serveTokenRequest()
		return
	case "log", "exec", "attach", "portforward":
		req.serveNodeProxy()
		return
	default:
		writeError(w, r, apierrors.NewMethodNotSupported(gr, info.Verb), gr, info.Name)
		return
	}
	switch info.Verb {
	case "get":
		req.get()
	case "list":
		req.list()
	case "watch":
		req.watch()
	case "create":
		req.create()
	case "update":
		req.update()
	case "patch":
		req.patch()
	case "delete":
		req.delete()
	case "deletecollection":
		req.deleteCollection()
	default:
		writeError(w, r, apierrors.NewMethodNotSupported(gr, info.Verb), gr, info.Name)
	}
}

func verbAllowed(res *api.Resource, info requestInfo) bool {
	verbs := res.Verbs
	if info.Subresource != "" {
		sub, _ := res.Subresource(info.Subresource)
		verbs = sub.Verbs
	}
	for _, v := range verbs {
		if v == info.Verb {
			return true
		}
	}
	return false
}

// request carries one resource request through its handler.
type request struct {
	s    *Server
	w    http.ResponseWriter
	r    *http.Request
	res  *api.Resource
	c    *resourceCache
	info requestInfo
	gr   schema.GroupResource
	user UserInfo
	// applied marks a server-side apply: the field manager's Apply already
	// set managedFields, which an Update on top would credit twice.
	applied bool
}

func (q *request) fail(err error) { writeError(q.w, q.r, err, q.gr, q.info.Name) }

func (q *request) key(ns, name string) string {
	if q.res.Namespaced {
		return q.res.StorageKey() + "/" + ns + "/" + name
	}
	return q.res.StorageKey() + "/" + name
}

func (q *request) cache() *resourceCache { return q.c }

// respond writes obj in the negotiated form with the given status code.
func (q *request) respond(code int, obj runtime.Object) {
	o := negotiateOutput(q.r)
	var body []byte
	var err error
	switch o.as {
	case "Table":
		obj, err = q.s.toTable(q.r, q.res, []runtime.Object{obj}, nil)
		if err == nil {
			body, err = encodeObject(o, obj)
		}
	case "PartialObjectMetadata":
		obj, err = toPartial(obj, o.asVersion)
		if err == nil {
			body, err = encodeObject(o, obj)
		}
	case "PartialObjectMetadataList":
		q.fail(apierrors.NewGenericServerResponse(http.StatusNotAcceptable, "get", q.gr, q.info.Name, "PartialObjectMetadataList is served for lists only; ask for PartialObjectMetadata", 0, false))
		return
	default:
		body, err = encodeObject(o, obj)
	}
	if err != nil {
		q.fail(err)
		return
	}
	q.w.Header().Set("Content-Type", o.contentType)
	q.w.WriteHeader(code)
	_, _ = q.w.Write(body)
}

// readCurrent reads the object from etcd (a quorum read) with its
// resourceVersion set.
func (q *request) readCurrent(ctx context.Context, ns, name string) (runtime.Object, int64, error) {
	kv, err := q.s.store.Get(ctx, q.key(ns, name))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, 0, apierrors.NewNotFound(q.gr, name)
		}
		return nil, 0, err
	}
	obj, err := decodeStoredContext(ctx, q.res, kv.Value)
	if err != nil {
		return nil, 0, fmt.Errorf("decode stored %s %s: %w", q.gr, name, err)
	}
	setRV(obj, kv.ModRevision)
	return obj, kv.ModRevision, nil
}

// decodeStored decodes an object as etcd holds it. A custom resource may
// be stored in another version of its CRD, and was written under an older
// schema: it is served in the requested version with today's defaults, as
// Kubernetes serves it.
func decodeStored(res *api.Resource, data []byte) (runtime.Object, error) {
	if sa := res.StoredAs; sa != nil {
		stored, err := api.Scheme.New(sa.Kind)
		if err != nil {
			return nil, err
		}
		if _, _, err := api.Codecs.UniversalDeserializer().Decode(data, nil, stored); err != nil {
			return nil, err
		}
		obj, err := sa.FromStored(stored)
		if err != nil {
			return nil, err
		}
		obj.GetObjectKind().SetGroupVersionKind(res.GroupVersionKind())
		return obj, nil
	}
	if needsConversion(res, data) {
		// Callers with a context (or a batch) converted already; this
		// one waits at most the webhook timeout.
		return decodeStoredContext(context.Background(), res, data)
	}
	obj := res.New()
	if _, _, err := api.Codecs.UniversalDeserializer().Decode(data, nil, obj); err != nil {
		return nil, err
	}
	obj.GetObjectKind().SetGroupVersionKind(res.GroupVersionKind())
	if res.Unstructured || bytes.HasPrefix(data, protobufPrefix) {
		// Protobuf has no place for the apiVersion and kind of nested
		// objects (a StatefulSet's volumeClaimTemplates), which defaulting
		// puts back, as Kubernetes defaults what it reads from storage;
		// without it the stored object differs from the one written.
		res.Strategy.Default(obj)
	}
	return obj, nil
}

// protobufPrefix starts Kubernetes' protobuf encoding of an object.
var protobufPrefix = []byte("k8s\x00")

func setRV(obj runtime.Object, rev int64) {
	if a, err := meta.Accessor(obj); err == nil {
		a.SetResourceVersion(strconv.FormatInt(rev, 10))
	}
}

// storageProtobuf writes built-in kinds as Kubernetes stores them:
// "k8s\x00", then a runtime.Unknown holding apiVersion, kind and the
// object's protobuf encoding. The cache's decoder reads it back (and the
// JSON earlier versions wrote) by its first bytes.
var storageProtobuf = protobuf.NewSerializer(api.Scheme, api.Scheme)

// encodeStored encodes obj, whose apiVersion and kind are set, in
// protobuf if its type has that form and in JSON otherwise (Gureum's own
// kinds, custom resources).
func encodeStored(obj runtime.Object) ([]byte, error) {
	if _, ok := obj.(protoMarshaler); !ok {
		return json.Marshal(obj)
	}
	data, err := encodeWith(storageProtobuf, obj)
	if err != nil {
		return nil, fmt.Errorf("encode %s for storage: %w", obj.GetObjectKind().GroupVersionKind(), err)
	}
	return data, nil
}

// encodeForStorage writes obj as stored in etcd, without a resourceVersion
// (the etcd revision is the version): protobuf for built-in kinds, as
// Kubernetes stores them (about half the bytes of JSON and a fraction of
// the time to decode), JSON for the rest.
func encodeForStorage(res *api.Resource, obj runtime.Object) ([]byte, error) {
	if sa := res.StoredAs; sa != nil {
		stored, err := sa.ToStored(obj)
		if err != nil {
			return nil, fmt.Errorf("convert %s to %s: %w", res.GroupVersionKind(), sa.Kind, err)
		}
		a, err := meta.Accessor(stored)
		if err != nil {
			return nil, err
		}
		a.SetResourceVersion("")
		stored.GetObjectKind().SetGroupVersionKind(sa.Kind)
		return encodeStored(stored)
	}
	if convertsToStorage(res) {
		return encodeConverted(res, obj)
	}
	a, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	rv := a.GetResourceVersion()
	a.SetResourceVersion("")
	defer a.SetResourceVersion(rv)
	gvk := res.GroupVersionKind()
	if res.StorageVersion != "" {
		gvk.Version = res.StorageVersion
	}
	obj.GetObjectKind().SetGroupVersionKind(gvk)
	defer obj.GetObjectKind().SetGroupVersionKind(res.GroupVersionKind())
	if res.Unstructured {
		return json.Marshal(obj)
	}
	return encodeStored(obj)
}

func (q *request) get() {
	rv := query(q.r).Get("resourceVersion")
	if rv == "0" {
		c := q.cache()
		key := q.info.Name
		if q.res.Namespaced {
			key = q.info.Namespace + "/" + q.info.Name
		}
		if e, ok := c.get(key); ok {
			q.respondEntry(e)
			return
		}
	}
	obj, _, err := q.readCurrent(q.r.Context(), q.info.Namespace, q.info.Name)
	if err != nil {
		q.fail(err)
		return
	}
	q.respond(http.StatusOK, obj)
}

// respondEntry answers with a cached object, using its JSON as is when the
// client wants plain JSON.
func (q *request) respondEntry(e *entry) {
	o := negotiateOutput(q.r)
	if o.isJSON && o.as == "" {
		data, err := e.jsonBytes()
		if err != nil {
			q.fail(err)
			return
		}
		writeRaw(q.w, o.contentType, data)
		return
	}
	obj, err := e.objectCopy()
	if err != nil {
		q.fail(err)
		return
	}
	q.respond(http.StatusOK, obj)
}

func (q *request) dryRun() bool {
	for _, v := range query(q.r)["dryRun"] {
		if v == "All" {
			return true
		}
	}
	return false
}

// fieldManagerName is the manager recorded in managedFields: the
// fieldManager parameter, else the client's user agent up to the first '/'.
func (q *request) fieldManagerName() string {
	if m := query(q.r).Get("fieldManager"); m != "" {
		return m
	}
	ua := q.r.UserAgent()
	if i := strings.Index(ua, "/"); i >= 0 {
		ua = ua[:i]
	}
	if ua == "" {
		ua = "unknown"
	}
	return ua
}

func (q *request) validateFieldManager() error {
	m := query(q.r).Get("fieldManager")
	if len(m) > 128 {
		return apierrors.NewBadRequest("fieldManager must be 128 characters or fewer")
	}
	for _, c := range m {
		if c < 0x20 || c > 0x7e {
			return apierrors.NewBadRequest("fieldManager must contain only printable ASCII characters")
		}
	}
	return nil
}

// writeWarnings adds Warning headers the way Kubernetes does (kubectl
// prints them).
func writeWarnings(w http.ResponseWriter, warnings []string) {
	for _, msg := range warnings {
		w.Header().Add("Warning", `299 - "`+strings.ReplaceAll(msg, `"`, `'`)+`"`)
	}
}

func statusSuccess(details *metav1.StatusDetails) *metav1.Status {
	return &metav1.Status{Status: metav1.StatusSuccess, Code: http.StatusOK, Details: details}
}
