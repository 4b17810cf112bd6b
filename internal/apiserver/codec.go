package apiserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"

	"github.com/gureum/gureum/internal/api"
)

const (
	mediaJSON     = "application/json"
	mediaYAML     = "application/yaml"
	mediaProtobuf = "application/vnd.kubernetes.protobuf"
	// maxBodyBytes bounds every request body, as Kubernetes does (3 MiB).
	maxBodyBytes = 3 * 1024 * 1024
)

// output is the negotiated representation of a response.
type output struct {
	contentType string
	serializer  runtime.Serializer
	// streamSerializer frames watch events (nil for YAML).
	streamSerializer runtime.Serializer
	framer           runtime.Framer
	// as is "", "Table", "PartialObjectMetadata" or
	// "PartialObjectMetadataList" when the client asked for a
	// meta.k8s.io transformation.
	as        string
	asGroup   string
	asVersion string
	isJSON    bool
}

// partial reports whether the client asked for metadata only.
func (o output) partial() bool {
	return o.as == "PartialObjectMetadata" || o.as == "PartialObjectMetadataList"
}

// negotiateOutput picks the first media type in Accept that we can produce.
// Unknown or absent Accept yields JSON, as Kubernetes does for */*.
func negotiateOutput(r *http.Request) output {
	accept := r.Header.Get("Accept")
	for _, clause := range strings.Split(accept, ",") {
		clause = strings.TrimSpace(clause)
		if clause == "" {
			continue
		}
		mt, params, err := mime.ParseMediaType(clause)
		if err != nil {
			continue
		}
		out, ok := outputFor(mt)
		if !ok {
			continue
		}
		if as := params["as"]; as != "" {
			if params["g"] != "meta.k8s.io" || (params["v"] != "v1" && params["v"] != "v1beta1") {
				continue
			}
			switch as {
			case "Table", "PartialObjectMetadata", "PartialObjectMetadataList":
			default:
				continue
			}
			out.as, out.asGroup, out.asVersion = as, params["g"], params["v"]
		}
		return out
	}
	out, _ := outputFor(mediaJSON)
	return out
}

func outputFor(mediaType string) (output, bool) {
	switch mediaType {
	case "*/*", "application/*":
		mediaType = mediaJSON
	}
	for _, info := range api.Codecs.SupportedMediaTypes() {
		if info.MediaType != mediaType {
			continue
		}
		o := output{contentType: info.MediaType, serializer: info.Serializer, isJSON: info.MediaType == mediaJSON}
		if info.StreamSerializer != nil {
			o.streamSerializer = info.StreamSerializer.Serializer
			o.framer = info.StreamSerializer.Framer
		}
		if info.MediaType == mediaJSON {
			// Pretty output is opt-in through ?pretty; compact is faster.
			o.serializer = info.Serializer
		}
		return o, true
	}
	return output{}, false
}

// encodeObject writes obj with apiVersion and kind filled in.
func encodeObject(o output, obj runtime.Object) ([]byte, error) {
	gvks, _, err := api.Scheme.ObjectKinds(obj)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", obj, err)
	}
	obj.GetObjectKind().SetGroupVersionKind(gvks[0])
	if o.isJSON {
		return json.Marshal(obj)
	}
	body, err := encodeWith(o.serializer, obj)
	if err != nil {
		if o.contentType == mediaProtobuf {
			// Gureum's own types have no protobuf form; JSON is always
			// understood.
			return json.Marshal(obj)
		}
		return nil, fmt.Errorf("encode %T: %w", obj, err)
	}
	return body, nil
}

func jsonOutput() output {
	o, _ := outputFor(mediaJSON)
	return o
}

// encode writes obj, whose apiVersion and kind are already set.
func (o output) encode(obj runtime.Object) ([]byte, error) {
	if obj.GetObjectKind().GroupVersionKind().Empty() {
		return encodeObject(o, obj)
	}
	if o.isJSON {
		return json.Marshal(obj)
	}
	body, err := encodeWith(o.serializer, obj)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", obj, err)
	}
	return body, nil
}

// encodeWith encodes obj with enc. The protobuf serializer marshals into
// a buffer of the exact size and writes it out once: that buffer is the
// result, where a bytes.Buffer would copy it into one of its own (every
// write's encodings, twice over).
func encodeWith(enc runtime.Encoder, obj runtime.Object) ([]byte, error) {
	if ps, ok := enc.(*protobuf.Serializer); ok {
		var w sliceWriter
		// A fresh allocator: the slice it hands out is never reused.
		if err := ps.EncodeWithAllocator(obj, &w, &runtime.SimpleAllocator{}); err != nil {
			return nil, err
		}
		return w.b, nil
	}
	var buf bytes.Buffer
	if err := enc.Encode(obj, &buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// sliceWriter keeps what is written to it, the first write without a
// copy: only for writers of buffers that are not reused.
type sliceWriter struct{ b []byte }

func (w *sliceWriter) Write(p []byte) (int, error) {
	if w.b == nil {
		w.b = p
	} else {
		w.b = append(w.b, p...)
	}
	return len(p), nil
}

// readBody reads a bounded request body; an oversized one is a 413.
func readBody(r *http.Request) ([]byte, error) {
	if n := r.ContentLength; n > 0 && n <= maxBodyBytes {
		// One read into the right size instead of ReadAll's growing
		// buffer (most writes say how long they are).
		body := make([]byte, n)
		if _, err := io.ReadFull(r.Body, body); err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("read request body: %v", err))
		}
		return body, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("read request body: %v", err))
	}
	if len(body) > maxBodyBytes {
		return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d bytes", maxBodyBytes))
	}
	return body, nil
}

// decodeInto decodes a JSON, YAML or protobuf body into into and checks
// that the body names the expected kind. fieldValidation follows Kubernetes:
// "Strict" rejects unknown and duplicate fields, "Warn" (the default)
// returns them as warnings, "Ignore" drops them silently.
func decodeInto(r *http.Request, body []byte, want schema.GroupVersionKind, into runtime.Object) (warnings []string, err error) {
	ct := r.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	if mt == "" {
		mt = mediaJSON
	}
	var info runtime.SerializerInfo
	found := false
	for _, i := range api.Codecs.SupportedMediaTypes() {
		if i.MediaType == mt {
			info, found = i, true
			break
		}
	}
	if !found {
		return nil, apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "", schema.GroupResource{}, "",
			fmt.Sprintf("the body content type %q is not supported; send application/json, application/yaml or application/vnd.kubernetes.protobuf", ct), 0, false)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, apierrors.NewBadRequest("the request body is empty; send the object to create or update")
	}
	validation := query(r).Get("fieldValidation")
	dec := info.Serializer
	if validation != "Ignore" && info.StrictSerializer != nil {
		dec = info.StrictSerializer
	}
	obj, gvk, err := dec.Decode(body, &want, into)
	if err != nil {
		if strictErr, ok := runtime.AsStrictDecodingError(err); ok {
			switch validation {
			case "Strict":
				return nil, apierrors.NewBadRequest(err.Error())
			case "Ignore":
				// Codecs are strict (EnableStrict) for every serializer, so
				// this is where "Ignore" drops what they found.
			default:
				for _, e := range strictErr.Errors() {
					warnings = append(warnings, e.Error())
				}
			}
		} else {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("decode %s body: %v", mt, err))
		}
	}
	if gvk != nil && (gvk.Kind != want.Kind || gvk.GroupVersion() != want.GroupVersion()) {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the body is a %s, but this URL takes %s", gvk, want))
	}
	if obj != nil && obj != into {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the body decoded to %T, not %T", obj, into))
	}
	return warnings, nil
}

// decodeResource decodes a body for res. A custom resource's decoder knows
// no fields, so its schema prunes what it does not declare afterwards; the
// pruned paths are reported by fieldValidation as decodeInto reports a
// built-in kind's unknown fields.
func decodeResource(r *http.Request, body []byte, res *api.Resource, into runtime.Object) ([]string, error) {
	warnings, err := decodeInto(r, body, res.GroupVersionKind(), into)
	if err != nil || !res.Unstructured {
		return warnings, err
	}
	unknown := res.Strategy.Prune(into)
	switch query(r).Get("fieldValidation") {
	case "Ignore":
		return warnings, nil
	case "Strict":
		if len(unknown) > 0 {
			msgs := make([]string, len(unknown))
			for i, p := range unknown {
				msgs[i] = fmt.Sprintf("unknown field %q", p)
			}
			return nil, apierrors.NewBadRequest("strict decoding error: " + strings.Join(msgs, ", "))
		}
	}
	for _, p := range unknown {
		warnings = append(warnings, fmt.Sprintf("unknown field %q", p))
	}
	return warnings, nil
}
