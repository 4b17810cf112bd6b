package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gureum/gureum/internal/store"
)

// toStatusError turns any error into the metav1.Status clients expect.
// Store errors become their Kubernetes equivalents; anything unknown is a
// 500 whose message names the failed operation.
func toStatusError(err error, gr schema.GroupResource, name string) *apierrors.StatusError {
	var se *apierrors.StatusError
	if errors.As(err, &se) {
		return se
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return apierrors.NewNotFound(gr, name)
	case errors.Is(err, store.ErrExists):
		return apierrors.NewAlreadyExists(gr, name)
	case errors.Is(err, store.ErrConflict):
		return apierrors.NewConflict(gr, name, errors.New(errObjectModified))
	case errors.Is(err, store.ErrCompacted):
		return apierrors.NewResourceExpired("The resourceVersion for the provided watch is too old.")
	case errors.Is(err, context.DeadlineExceeded):
		return apierrors.NewTimeoutError(fmt.Sprintf("request for %s timed out", gr), 1)
	}
	return apierrors.NewInternalError(err)
}

const errObjectModified = "the object has been modified; please apply your changes to the latest version and try again"

func writeError(w http.ResponseWriter, r *http.Request, err error, gr schema.GroupResource, name string) {
	se := toStatusError(err, gr, name)
	status := se.Status()
	status.Kind = "Status"
	status.APIVersion = "v1"
	if status.Code == 0 {
		status.Code = http.StatusInternalServerError
	}
	writeStatus(w, r, &status)
}

func writeStatus(w http.ResponseWriter, r *http.Request, status *metav1.Status) {
	status.Kind = "Status"
	status.APIVersion = "v1"
	enc := negotiateOutput(r)
	body, err := encodeObject(enc, status)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", enc.contentType)
	w.WriteHeader(int(status.Code))
	_, _ = w.Write(body)
}
