package apiserver

import (
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gureum/gureum/internal/api"
)

// defaultColumns are shown for resources whose strategy names none, as
// Kubernetes does: the name and when the object was created.
var defaultColumns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: "Name must be unique within a namespace."},
	{Name: "Created At", Type: "date", Description: "CreationTimestamp is when the object was created."},
}

// toTable renders objects as the Table kubectl prints. includeObject
// decides what each row carries: None, Metadata (default) or Object.
func (s *Server) toTable(r *http.Request, res *api.Resource, objs []runtime.Object, listMeta *metav1.ListMeta) (*metav1.Table, error) {
	include := metav1.IncludeMetadata
	switch v := query(r).Get("includeObject"); v {
	case "":
	case string(metav1.IncludeNone), string(metav1.IncludeMetadata), string(metav1.IncludeObject):
		include = metav1.IncludeObjectPolicy(v)
	default:
		return nil, apierrors.NewBadRequest("includeObject must be None, Metadata or Object")
	}
	t := &metav1.Table{}
	if listMeta != nil {
		t.ListMeta = *listMeta
	}
	cols := res.Strategy.Columns
	if len(cols) == 0 || res.Strategy.Row == nil {
		cols = defaultColumns
	}
	if query(r).Get("noHeaders") != "true" {
		t.ColumnDefinitions = cols
	}
	now := s.clock.Now()
	for _, obj := range objs {
		var cells []interface{}
		a, err := meta.Accessor(obj)
		if err != nil {
			return nil, err
		}
		if len(res.Strategy.Columns) == 0 || res.Strategy.Row == nil {
			cells = []interface{}{a.GetName(), a.GetCreationTimestamp().UTC().Format("2006-01-02T15:04:05Z")}
		} else {
			cells = res.Strategy.Row(obj, now)
		}
		row := metav1.TableRow{Cells: cells}
		switch include {
		case metav1.IncludeMetadata:
			p, err := toPartial(obj, "v1")
			if err != nil {
				return nil, err
			}
			row.Object = runtime.RawExtension{Object: p}
		case metav1.IncludeObject:
			cp := obj.DeepCopyObject()
			cp.GetObjectKind().SetGroupVersionKind(res.GroupVersionKind())
			row.Object = runtime.RawExtension{Object: cp}
		}
		t.Rows = append(t.Rows, row)
	}
	if listMeta == nil && len(objs) == 1 {
		if a, err := meta.Accessor(objs[0]); err == nil {
			t.ResourceVersion = a.GetResourceVersion()
		}
	}
	t.SetGroupVersionKind(metav1.SchemeGroupVersion.WithKind("Table"))
	return t, nil
}
