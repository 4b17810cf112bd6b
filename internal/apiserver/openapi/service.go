package openapi

import (
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/NYTimes/gziphandler"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/kube-openapi/pkg/cached"
	"k8s.io/kube-openapi/pkg/handler"
	"k8s.io/kube-openapi/pkg/handler3"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"
	smdschema "sigs.k8s.io/structured-merge-diff/v4/schema"
	"sigs.k8s.io/structured-merge-diff/v4/typed"
	"sigs.k8s.io/structured-merge-diff/v4/value"

	"github.com/gureum/gureum/internal/api"
)

// Service serves /openapi/v2 and /openapi/v3 for a registry and hands the
// server-side-apply machinery its type converter.
//
// Construction only describes the routes and checks every served type has a
// generated definition (about 5 ms, 3 MB kept). The documents are built on
// their first request and the type converter on its first use, then kept:
// together about 0.3 s and 30 MB (measured November 2025, 13 group-versions;
// half of it the v2 protobuf, which kubectl seldom asks for),
// which a server that starts in well under a second should not pay before
// it is asked to. Prepare pays it on demand.
type Service struct {
	builder *specBuilder
	mux     *http.ServeMux
	v2      *handler.OpenAPIService
	v3      *handler3.OpenAPIService
	keysMu  sync.RWMutex
	v3Keys  map[string]bool // "api/v1", "apis/apps/v1"
	tc      *lazyTypeConverter
	custom  customState
}

func (s *Service) setV3Key(key string, on bool) {
	s.keysMu.Lock()
	defer s.keysMu.Unlock()
	if on {
		s.v3Keys[key] = true
	} else {
		delete(s.v3Keys, key)
	}
}

func (s *Service) hasV3Key(key string) bool {
	s.keysMu.RLock()
	defer s.keysMu.RUnlock()
	return s.v3Keys[key]
}

// New describes the registry's resources. It fails when a served kind is
// missing from the API scheme or from zz_generated.openapi.go.
func New(reg *api.Registry) (*Service, error) {
	b, err := newSpecBuilder(reg, api.Scheme)
	if err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	if err := b.checkDefinitions(); err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	s := &Service{builder: b, mux: http.NewServeMux(), v3Keys: map[string]bool{}, custom: customState{v3: map[string]bool{}}}
	s.tc = &lazyTypeConverter{build: b.typeConverter}

	// The etag passed to the cache only says "this source never changes";
	// the handlers compute the HTTP ETag from the serialized document.
	v2 := handler.NewOpenAPIServiceLazy(cached.Once(cached.Func(func() (*spec.Swagger, string, error) {
		sw, err := b.v2()
		return sw, "static", err
	})))
	// kube-openapi's handler negotiates JSON or protobuf (kubectl asks for
	// protobuf), gzips, and answers If-None-Match from the ETag.
	v2.RegisterOpenAPIVersionedService("/openapi/v2", s.mux)
	s.v2 = v2

	v3 := handler3.NewOpenAPIService()
	s.v3 = v3
	for _, gv := range b.gvs {
		key := gvKey(gv)
		s.setV3Key(key, true)
		v3.UpdateGroupVersionLazy(key, cached.Once(cached.Func(func() (*spec3.OpenAPI, string, error) {
			doc, err := b.v3(gv)
			return doc, "static", err
		})))
	}
	// The index lists each document with ?hash=<etag>; handler3 serves a
	// hashed URL as immutable and redirects a stale hash to the current one.
	// Unlike the v2 handler, handler3 leaves compression to the server;
	// the core/v1 document is over a megabyte of JSON.
	s.mux.Handle("/openapi/v3", gziphandler.GzipHandler(http.HandlerFunc(v3.HandleDiscovery)))
	s.mux.Handle("/openapi/v3/", gziphandler.GzipHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// handler3 answers an unknown group-version with an empty 200.
		if !s.hasV3Key(strings.TrimPrefix(r.URL.Path, "/openapi/v3/")) {
			http.NotFound(w, r)
			return
		}
		v3.HandleGroupVersion(w, r)
	})))
	return s, nil
}

// ServeHTTP serves /openapi/v2, /openapi/v3 and /openapi/v3/<group-version>.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Register mounts the service's paths on mux.
func (s *Service) Register(mux *http.ServeMux) {
	mux.Handle("/openapi/v2", s)
	mux.Handle("/openapi/v3", s)
	mux.Handle("/openapi/v3/", s)
}

// TypeConverter converts objects of every served kind to and from
// structured-merge-diff's typed values, for server-side apply and
// managedFields. It is built from the v3 schemas, as kube-apiserver builds
// its own, on first use.
func (s *Service) TypeConverter() managedfields.TypeConverter { return s.tc }

// Prepare builds every document and the type converter now instead of on
// first use, and reports the first error. Call it from a goroutine after the
// server is ready to take the cost off the first kubectl command.
func (s *Service) Prepare() error {
	if _, err := s.tc.get(); err != nil {
		return err
	}
	// kubectl reads v2 as protobuf and v3 as JSON.
	requests := [][2]string{{"/openapi/v2", "application/json"}, {"/openapi/v2", protobufV2}, {"/openapi/v3", "application/json"}}
	for _, gv := range s.builder.gvs {
		requests = append(requests, [2]string{"/openapi/v3/" + gvKey(gv), "application/json"})
	}
	for _, r := range requests {
		rec := &discardResponse{header: http.Header{}}
		req, _ := http.NewRequest(http.MethodGet, r[0], nil)
		req.Header.Set("Accept", r[1])
		s.mux.ServeHTTP(rec, req)
		if rec.code >= 300 {
			return fmt.Errorf("openapi: building %s (%s): HTTP %d", r[0], r[1], rec.code)
		}
	}
	return nil
}

const protobufV2 = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"

// discardResponse lets Prepare drive the handlers, which build and cache
// each document as a side effect of serving it.
type discardResponse struct {
	header http.Header
	code   int
}

func (d *discardResponse) Header() http.Header { return d.header }
func (d *discardResponse) Write(b []byte) (int, error) {
	if d.code == 0 {
		d.code = http.StatusOK
	}
	return len(b), nil
}
func (d *discardResponse) WriteHeader(code int) { d.code = code }

// typeConverter builds the converter from the v3 schemas of every type the
// routes read or write (the served kinds, their subresource kinds, and the
// meta types).
func (b *specBuilder) typeConverter() (managedfields.TypeConverter, error) {
	schemas, err := b.v3Schemas(referencedTypes(b.allRoutes()))
	if err != nil {
		return nil, err
	}
	tc, err := managedfields.NewTypeConverter(schemas, false)
	if err != nil {
		return nil, fmt.Errorf("openapi: type converter: %w", err)
	}
	return tc, nil
}

// lazyTypeConverter builds the real converter on first use; an error is
// kept and returned by every call.
type lazyTypeConverter struct {
	once  sync.Once
	build func() (managedfields.TypeConverter, error)
	tc    managedfields.TypeConverter
	err   error

	// types holds the schema and type of each built-in kind seen, for
	// converting without validation.
	types sync.Map // typeKey -> typeOf
}

type typeKey struct {
	goType reflect.Type
	gvk    schema.GroupVersionKind
}

type typeOf struct {
	schema  *smdschema.Schema
	typeRef smdschema.TypeRef
}

func (l *lazyTypeConverter) get() (managedfields.TypeConverter, error) {
	l.once.Do(func() { l.tc, l.err = l.build() })
	return l.tc, l.err
}

func (l *lazyTypeConverter) ObjectToTyped(obj runtime.Object, opts ...typed.ValidationOptions) (*typed.TypedValue, error) {
	tc, err := l.get()
	if err != nil {
		return nil, err
	}
	if _, custom := obj.(runtime.Unstructured); custom || !slices.Contains(opts, typed.AllowDuplicates) {
		return tc.ObjectToTyped(obj, opts...)
	}
	// The field manager's Update asks for this on both objects of every
	// write, and validating a Go value of a built-in type against the
	// schema generated from that same type found nothing but cost about
	// 40% of the field manager's time. Apply (no AllowDuplicates) and
	// custom resources, whose content can disagree with their schema,
	// are still validated.
	key := typeKey{reflect.TypeOf(obj), obj.GetObjectKind().GroupVersionKind()}
	if t, ok := l.types.Load(key); ok {
		v, err := value.NewValueReflect(obj)
		if err != nil {
			return nil, fmt.Errorf("reflect %T: %w", obj, err)
		}
		return typed.AsTypedUnvalidated(v, t.(typeOf).schema, t.(typeOf).typeRef), nil
	}
	tv, err := tc.ObjectToTyped(obj, opts...)
	if err == nil {
		l.types.Store(key, typeOf{schema: tv.Schema(), typeRef: tv.TypeRef()})
	}
	return tv, err
}

func (l *lazyTypeConverter) TypedToObject(v *typed.TypedValue) (runtime.Object, error) {
	tc, err := l.get()
	if err != nil {
		return nil, err
	}
	return tc.TypedToObject(v)
}
