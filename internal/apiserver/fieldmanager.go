package apiserver

import (
	"fmt"
	"sync"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"sigs.k8s.io/structured-merge-diff/v4/fieldpath"

	"github.com/gureum/gureum/internal/api"
)

// fieldManagers tracks managedFields and performs server-side apply, one
// field manager per resource and subresource, built on first use.
type fieldManagers struct {
	tc managedfields.TypeConverter
	mu sync.Mutex
	m  map[fieldManagerKey]*managedfields.FieldManager
	// views holds, during an update of a built-in kind, the objects the
	// field manager compares in place of the two it was given
	// (compareViews); nil turns them off.
	views *sync.Map
	// shapes remembers the field set of each shape of object created
	// (createShapes); nil turns it off.
	shapes *createShapes
}

// fieldManagerKey is by resource pointer: a custom resource whose CRD
// changes is a new *api.Resource with a new schema.
type fieldManagerKey struct {
	res         *api.Resource
	subresource string
}

func newFieldManagers(tc managedfields.TypeConverter) fieldManagers {
	return fieldManagers{tc: tc, m: map[fieldManagerKey]*managedfields.FieldManager{}, views: &sync.Map{},
		shapes: newCreateShapes()}
}

// strategyDefaulter applies a resource's defaults during apply, so applied
// and stored objects compare equal field by field.
type strategyDefaulter struct{ res *api.Resource }

func (d strategyDefaulter) Default(obj runtime.Object) { d.res.Strategy.Default(obj) }

func (f *fieldManagers) get(res *api.Resource, subresource string) (*managedfields.FieldManager, error) {
	tc := f.tc
	var convertor runtime.ObjectConvertor = sameVersionConvertor{api.Scheme}
	var creater runtime.ObjectCreater = api.Scheme
	if tc != nil && f.views != nil {
		tc = viewingConverter{TypeConverter: tc, views: f.views}
	}
	if res.Unstructured {
		tc, convertor, creater = res.TypeConverter, customObjects{}, customObjects{}
	}
	if tc == nil {
		return nil, nil
	}
	key := fieldManagerKey{res, subresource}
	f.mu.Lock()
	defer f.mu.Unlock()
	if fm, ok := f.m[key]; ok {
		return fm, nil
	}
	gvk := res.GroupVersionKind()
	var reset map[fieldpath.APIVersion]fieldpath.Filter
	if res.HasSubresource("status") {
		version := fieldpath.APIVersion(gvk.GroupVersion().String())
		if subresource == "status" {
			reset = map[fieldpath.APIVersion]fieldpath.Filter{version: fieldpath.NewExcludeSetFilter(fieldpath.NewSet(fieldpath.MakePathOrDie("spec")))}
		} else {
			reset = map[fieldpath.APIVersion]fieldpath.Filter{version: fieldpath.NewExcludeSetFilter(fieldpath.NewSet(fieldpath.MakePathOrDie("status")))}
		}
	}
	fm, err := managedfields.NewDefaultFieldManager(tc, convertor, strategyDefaulter{res}, creater, gvk, gvk.GroupVersion(), subresource, reset)
	if err != nil {
		return nil, fmt.Errorf("field manager for %s: %w", res.GroupVersionResource, err)
	}
	f.m[key] = fm
	return fm, nil
}

// update records in obj's managedFields what manager changed from live to
// obj (live is nil on create).
func (f *fieldManagers) update(res *api.Resource, subresource string, live, obj runtime.Object, manager string) error {
	fm, err := f.get(res, subresource)
	if err != nil || fm == nil {
		return err
	}
	gv := res.GroupVersionKind().GroupVersion().String()
	obj.GetObjectKind().SetGroupVersionKind(res.GroupVersionKind())
	var out runtime.Object
	var shape createShape
	if live == nil {
		if f.shapes != nil && subresource == "" {
			var ok bool
			if shape, ok = createShapeKey(res, gv, obj); ok {
				if fields, hit := f.shapes.fields(shape); hit {
					a, err := meta.Accessor(obj)
					if err != nil {
						return fmt.Errorf("track managed fields: %w", err)
					}
					a.SetManagedFields([]metav1.ManagedFieldsEntry{createdEntry(manager, gv, fields, time.Now())})
					truncateManagedFieldTimes(obj)
					return nil
				}
			}
		}
		// A create compares obj with an empty object: nothing to leave out.
		live = res.New()
		live.GetObjectKind().SetGroupVersionKind(res.GroupVersionKind())
		out, err = fm.Update(live, obj, manager)
	} else {
		lview, oview, viewed := f.viewsFor(res, gv, live, obj)
		if updateOwnedComparing(gv, subresource, live, obj, lview, oview, manager, time.Now()) {
			truncateManagedFieldTimes(obj)
			return nil
		}
		update := func() (err error) {
			out, err = fm.Update(live, obj, manager)
			return err
		}
		if viewed {
			err = f.withViews(live, obj, lview, oview, update)
		} else {
			err = update()
		}
	}
	if err != nil {
		return fmt.Errorf("track managed fields: %w", err)
	}
	assign(obj, out)
	truncateManagedFieldTimes(obj)
	if shape.key != nil {
		f.rememberCreate(shape, obj, manager, gv)
	}
	return nil
}

// rememberCreate keeps the field set a create got for others of its shape,
// when it is the one entry such a create is expected to get.
func (f *fieldManagers) rememberCreate(shape createShape, obj runtime.Object, manager, gv string) {
	a, err := meta.Accessor(obj)
	if err != nil {
		return
	}
	mf := a.GetManagedFields()
	if len(mf) != 1 {
		return
	}
	e := mf[0]
	if e.Manager != manager || e.Operation != metav1.ManagedFieldsOperationUpdate || e.APIVersion != gv ||
		e.Subresource != "" || e.FieldsType != "FieldsV1" || e.FieldsV1 == nil {
		return
	}
	f.shapes.remember(shape, e.FieldsV1.Raw)
}

// truncateManagedFieldTimes drops the sub-second part the field manager's
// clock gives each entry's time, which storage drops too: the object the
// server hands its watch cache must equal the one etcd returns, or an
// update starting from the cached copy sees a difference where there is
// none (and a no-op patch would write).
func truncateManagedFieldTimes(obj runtime.Object) {
	a, err := meta.Accessor(obj)
	if err != nil {
		return
	}
	entries := a.GetManagedFields()
	for i := range entries {
		if t := entries[i].Time; t != nil && t.Nanosecond() != 0 {
			entries[i].Time = &metav1.Time{Time: t.Truncate(time.Second)}
		}
	}
}

// apply merges applied into live for manager (server-side apply).
func (f *fieldManagers) apply(res *api.Resource, subresource string, live, applied runtime.Object, manager string, force bool) (runtime.Object, error) {
	fm, err := f.get(res, subresource)
	if err != nil {
		return nil, err
	}
	if fm == nil {
		return nil, fmt.Errorf("server-side apply is not available: the OpenAPI models are not loaded")
	}
	live.GetObjectKind().SetGroupVersionKind(res.GroupVersionKind())
	out, err := fm.Apply(live, applied, manager, force)
	if err != nil {
		return nil, err
	}
	truncateManagedFieldTimes(out)
	if a, err := meta.Accessor(out); err == nil {
		// The applied configuration never carries a precondition.
		la, _ := meta.Accessor(live)
		a.SetResourceVersion(la.GetResourceVersion())
	}
	return out, nil
}

// scaleKind is the kind the /scale subresource takes and returns.
var scaleKind = autoscalingv1.SchemeGroupVersion.WithKind("Scale")

// scaleManager is the field manager of autoscaling/v1 Scale objects, used
// by every /scale subresource.
func (f *fieldManagers) scaleManager() (*managedfields.FieldManager, error) {
	if f.tc == nil {
		return nil, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	key := fieldManagerKey{subresource: "autoscaling/v1/Scale"}
	if fm, ok := f.m[key]; ok {
		return fm, nil
	}
	fm, err := managedfields.NewDefaultFieldManager(f.tc, api.Scheme, noDefaults{}, api.Scheme, scaleKind, scaleKind.GroupVersion(), "scale", nil)
	if err != nil {
		return nil, fmt.Errorf("field manager for scale: %w", err)
	}
	f.m[key] = fm
	return fm, nil
}

type noDefaults struct{}

func (noDefaults) Default(runtime.Object) {}

// replicasPath maps the parent's group version to where its replica count
// lives, so managed fields move between the parent and its Scale.
func replicasPath(gv schema.GroupVersion, res *api.Resource) managedfields.ResourcePathMappings {
	fields := specReplicasFields(res)
	path := make([]interface{}, len(fields))
	for i, f := range fields {
		path[i] = f
	}
	return managedfields.ResourcePathMappings{gv.String(): fieldpath.MakePathOrDie(path...)}
}

// customObjects converts and creates custom resources for the field
// manager, which the scheme cannot: their versions differ only in
// apiVersion (no conversion webhook).
type customObjects struct{}

func (customObjects) New(gvk schema.GroupVersionKind) (runtime.Object, error) {
	u := &unstructured.Unstructured{Object: map[string]interface{}{}}
	u.SetGroupVersionKind(gvk)
	return u, nil
}

func (customObjects) Convert(in, out, _ interface{}) error {
	src, ok1 := in.(*unstructured.Unstructured)
	dst, ok2 := out.(*unstructured.Unstructured)
	if !ok1 || !ok2 {
		return fmt.Errorf("convert %T to %T: only custom resources", in, out)
	}
	src.DeepCopyInto(dst)
	return nil
}

func (customObjects) ConvertToVersion(in runtime.Object, target runtime.GroupVersioner) (runtime.Object, error) {
	u, ok := in.(*unstructured.Unstructured)
	if !ok {
		return nil, fmt.Errorf("convert %T: only custom resources", in)
	}
	gvk, ok := target.KindForGroupVersionKinds([]schema.GroupVersionKind{u.GroupVersionKind()})
	if !ok {
		return nil, fmt.Errorf("convert %s to %v: no such version", u.GroupVersionKind(), target)
	}
	out := u.DeepCopy()
	out.SetGroupVersionKind(gvk)
	return out, nil
}

func (customObjects) ConvertFieldLabel(_ schema.GroupVersionKind, label, value string) (string, string, error) {
	return label, value, nil
}
