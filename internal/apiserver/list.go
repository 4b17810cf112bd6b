package apiserver

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/gureum/gureum/internal/store"
)

// listOptions parses the query of a list or watch.
func (q *request) listOptions() (metav1.ListOptions, filter, error) {
	var opts metav1.ListOptions
	if err := metav1.Convert_url_Values_To_v1_ListOptions(ptrValues(q.r), &opts, nil); err != nil {
		return opts, filter{}, apierrors.NewBadRequest(fmt.Sprintf("parse list options: %v", err))
	}
	f := filter{namespace: q.info.Namespace}
	if opts.LabelSelector != "" {
		sel, err := labels.Parse(opts.LabelSelector)
		if err != nil {
			return opts, f, apierrors.NewBadRequest(fmt.Sprintf("unable to parse requirement: %v", err))
		}
		f.labels = sel
	}
	if opts.FieldSelector != "" {
		sel, err := fields.ParseSelector(opts.FieldSelector)
		if err != nil {
			return opts, f, apierrors.NewBadRequest(fmt.Sprintf("invalid field selector: %v", err))
		}
		for _, req := range sel.Requirements() {
			if !q.fieldSupported(req.Field) {
				return opts, f, apierrors.NewBadRequest(fmt.Sprintf("field label not supported: %s", req.Field))
			}
		}
		// metadata.name=x lets the cache answer with a single lookup.
		if name, ok := sel.RequiresExactMatch("metadata.name"); ok {
			f.name = name
		}
		if ns, ok := sel.RequiresExactMatch("metadata.namespace"); ok && f.namespace == "" {
			f.namespace = ns
		}
		f.fields = sel
	}
	return opts, f, nil
}

// fieldSupported reports whether a field selector key is served, by asking
// the strategy for the fields of an empty object.
func (q *request) fieldSupported(field string) bool {
	if field == "metadata.name" || (field == "metadata.namespace" && q.res.Namespaced) {
		return true
	}
	_, ok := q.res.Strategy.Fields(q.res.New())[field]
	return ok
}

func ptrValues(r *http.Request) *url.Values {
	v := query(r)
	return &v
}

// continueToken is Kubernetes' opaque pagination token.
type continueToken struct {
	APIVersion      string `json:"v"`
	ResourceVersion int64  `json:"rv"`
	StartKey        string `json:"start"`
}

// latestContinue is the revision of a continue token handed out with a 410
// for a compacted one: it continues from the same key at the latest
// revision, an inconsistent list the client chose knowingly.
const latestContinue = -1

func encodeContinue(rev int64, nextKey string) string {
	b, _ := json.Marshal(continueToken{APIVersion: "meta.k8s.io/v1", ResourceVersion: rev, StartKey: nextKey})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeContinue(s string) (continueToken, error) {
	var t continueToken
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return t, err
	}
	if err := json.Unmarshal(b, &t); err != nil {
		return t, err
	}
	if t.APIVersion != "meta.k8s.io/v1" || t.ResourceVersion == 0 || t.ResourceVersion < latestContinue {
		return t, fmt.Errorf("unknown continue token version")
	}
	return t, nil
}

func (q *request) list() {
	opts, f, err := q.listOptions()
	if err != nil {
		q.fail(err)
		return
	}
	ctx := q.r.Context()
	var entries []*entry
	var rev int64
	var next string
	var remaining *int64
	switch {
	case opts.Continue != "":
		tok, err := decodeContinue(opts.Continue)
		if err != nil {
			q.fail(apierrors.NewBadRequest(fmt.Sprintf("invalid continue token: %v", err)))
			return
		}
		readRev := tok.ResourceVersion
		if readRev == latestContinue {
			readRev = 0
		}
		entries, rev, next, remaining, err = q.listFromStore(ctx, f, readRev, tok.StartKey, opts.Limit)
		if err != nil {
			if apierrors.IsResourceExpired(err) || err == store.ErrCompacted {
				expired := apierrors.NewResourceExpired("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.")
				expired.ErrStatus.ListMeta.Continue = encodeContinue(latestContinue, tok.StartKey)
				q.fail(expired)
				return
			}
			q.fail(err)
			return
		}
	case opts.ResourceVersionMatch == metav1.ResourceVersionMatchExact && opts.ResourceVersion != "":
		rv, err := strconv.ParseInt(opts.ResourceVersion, 10, 64)
		if err != nil {
			q.fail(apierrors.NewBadRequest("resourceVersion must be an integer"))
			return
		}
		entries, rev, next, remaining, err = q.listFromStore(ctx, f, rv, "", opts.Limit)
		if err != nil {
			if err == store.ErrCompacted {
				q.fail(apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %d", rv)))
				return
			}
			q.fail(err)
			return
		}
	default:
		c := q.cache()
		if err := c.conversionFailure(); err != nil {
			q.fail(err)
			return
		}
		if opts.ResourceVersion == "" {
			// A consistent read: the cache must have seen everything
			// etcd has committed before this request.
			cur, err := q.s.store.CurrentRevision(ctx)
			if err != nil {
				q.fail(err)
				return
			}
			if err := c.waitForRev(ctx, cur); err != nil {
				q.fail(err)
				return
			}
		} else if opts.ResourceVersion != "0" {
			rv, err := strconv.ParseInt(opts.ResourceVersion, 10, 64)
			if err != nil {
				q.fail(apierrors.NewBadRequest("resourceVersion must be an integer"))
				return
			}
			if err := c.waitForRev(ctx, rv); err != nil {
				q.fail(err)
				return
			}
		}
		entries, rev = c.snapshot(&f)
		if opts.Limit > 0 && int64(len(entries)) > opts.Limit {
			next = encodeContinue(rev, entries[opts.Limit].key)
			if !f.selects() {
				n := int64(len(entries)) - opts.Limit
				remaining = &n
			}
			entries = entries[:opts.Limit]
		}
	}
	q.respondList(entries, rev, next, remaining)
}

// listFromStore reads a consistent page at revision rev (0: the latest)
// from etcd, starting at startKey: up to limit matching objects (0: all),
// the continue token when more may follow, and how many do when that is
// known (no selectors: Kubernetes leaves it unset otherwise). It reads in
// batches from startKey on, so a page costs what it holds: reading the
// whole resource for each page made listing 10,000 pods 500 at a time
// (kubectl's way) quadratic, 9.5 s.
func (q *request) listFromStore(ctx context.Context, f filter, rev int64, startKey string, limit int64) ([]*entry, int64, string, *int64, error) {
	prefix := q.res.StorageKey() + "/"
	if f.namespace != "" && q.res.Namespaced {
		prefix += f.namespace + "/"
	}
	from := q.res.StorageKey() + "/" + startKey
	var batch int64 // everything
	if limit > 0 {
		// One more than the page, to know where the next one starts.
		batch = limit + 1
	}
	var out []*entry
	var total int64
	for first := true; ; first = false {
		page, err := q.s.store.ListPage(ctx, prefix, from, rev, batch)
		if err != nil {
			return nil, 0, "", nil, err
		}
		// Later batches read the snapshot the first one did.
		rev = page.Revision
		if first {
			total = page.Count
		}
		kvs, err := convertStoredPage(ctx, q.res, page.KVs, startKey)
		if err != nil {
			return nil, 0, "", nil, err
		}
		for _, kv := range kvs {
			obj, err := decodeStored(q.res, kv.Value)
			if err != nil {
				return nil, 0, "", nil, fmt.Errorf("decode %s: %w", kv.Key, err)
			}
			e, err := newEntry(q.res, kv.Key[len(q.res.StorageKey())+1:], obj, kv.ModRevision)
			if err != nil {
				return nil, 0, "", nil, err
			}
			if !f.matches(e) {
				continue
			}
			if limit > 0 && int64(len(out)) == limit {
				var remaining *int64
				if !f.selects() {
					n := total - limit
					remaining = &n
				}
				return out, rev, encodeContinue(rev, e.key), remaining, nil
			}
			out = append(out, e)
		}
		if !page.More || len(page.KVs) == 0 {
			return out, rev, "", nil, nil
		}
		from = page.KVs[len(page.KVs)-1].Key + "\x00"
		batch = min(2*batch, maxListBatch)
	}
}

// maxListBatch bounds one etcd read of a filtered page: a selector that
// matches little is read in growing batches up to this many keys.
const maxListBatch = 10000

// respondList writes a list, concatenating cached JSON when the client
// wants plain JSON: most lists are served without encoding anything.
func (q *request) respondList(entries []*entry, rev int64, next string, remaining *int64) {
	o := negotiateOutput(q.r)
	listMeta := metav1.ListMeta{ResourceVersion: strconv.FormatInt(rev, 10), Continue: next, RemainingItemCount: remaining}
	switch {
	case o.as == "Table":
		objs, err := entryObjects(entries)
		if err != nil {
			q.fail(err)
			return
		}
		table, err := q.s.toTable(q.r, q.res, objs, &listMeta)
		if err != nil {
			q.fail(err)
			return
		}
		q.writeEncoded(o, table)
	case o.partial():
		list := &metav1.PartialObjectMetadataList{ListMeta: listMeta}
		for _, e := range entries {
			obj, err := e.object()
			if err != nil {
				q.fail(err)
				return
			}
			p, err := toPartial(obj, o.asVersion)
			if err != nil {
				q.fail(err)
				return
			}
			list.Items = append(list.Items, *p)
		}
		list.SetGroupVersionKind(metav1.SchemeGroupVersion.WithKind("PartialObjectMetadataList"))
		if o.asVersion == "v1beta1" {
			list.SetGroupVersionKind(metav1.SchemeGroupVersion.WithKind("PartialObjectMetadataList").GroupKind().WithVersion("v1beta1"))
		}
		q.writeEncoded(o, list)
	case o.contentType == mediaProtobuf && q.protobufListFromEntries(entries, listMeta):
	case o.isJSON:
		q.jsonListFromEntries(o.contentType, entries, listMeta)
	default:
		list := q.res.NewList()
		objs, err := entryObjects(entries)
		if err != nil {
			q.fail(err)
			return
		}
		if err := meta.SetList(list, objs); err != nil {
			q.fail(err)
			return
		}
		la, _ := meta.ListAccessor(list)
		la.SetResourceVersion(listMeta.ResourceVersion)
		la.SetContinue(next)
		la.SetRemainingItemCount(remaining)
		q.writeEncoded(o, list)
	}
}

// jsonListFromEntries writes a JSON list by concatenating each item's
// cached JSON, streamed like the protobuf one.
func (q *request) jsonListFromEntries(contentType string, entries []*entry, listMeta metav1.ListMeta) {
	meta, err := json.Marshal(listMeta)
	if err != nil {
		q.fail(fmt.Errorf("encode list metadata: %w", err))
		return
	}
	head := fmt.Appendf(nil, `{"kind":%q,"apiVersion":%q,"metadata":%s,"items":[`,
		q.res.Kind+"List", q.res.GroupVersionResource.GroupVersion().String(), meta)
	tail := []byte("]}\n")
	items := make([][]byte, len(entries))
	size := len(head) + len(tail) + max(len(entries)-1, 0)
	for i, e := range entries {
		data, err := e.jsonBytes()
		if err != nil {
			q.fail(err)
			return
		}
		items[i] = data
		size += len(data)
	}
	q.w.Header().Set("Content-Type", contentType)
	q.w.Header().Set("Content-Length", strconv.Itoa(size))
	q.w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(q.w, listWriteBuffer)
	_, _ = bw.Write(head)
	for i, data := range items {
		if i > 0 {
			_ = bw.WriteByte(',')
		}
		_, _ = bw.Write(data)
	}
	_, _ = bw.Write(tail)
	_ = bw.Flush()
}

func (q *request) writeEncoded(o output, obj runtime.Object) {
	body, err := encodeObject(o, obj)
	if err != nil {
		q.fail(err)
		return
	}
	writeRaw(q.w, o.contentType, body)
}

// maxWatches bounds the open watches of one server: each holds a buffer
// and a goroutine.
const maxWatches = 50000

// watch streams events until the client goes away, the timeout passes or
// the cache drops the watcher.
func (q *request) watch() {
	opts, f, err := q.listOptions()
	if err != nil {
		q.fail(err)
		return
	}
	if q.info.Name != "" {
		f.name = q.info.Name
	}
	sendInitial := opts.SendInitialEvents != nil && *opts.SendInitialEvents
	if sendInitial && (!opts.AllowWatchBookmarks || opts.ResourceVersionMatch != metav1.ResourceVersionMatchNotOlderThan) {
		q.fail(apierrors.NewInvalid(schema.GroupKind{Group: "meta.k8s.io", Kind: "ListOptions"}, "", field.ErrorList{
			field.Forbidden(field.NewPath("sendInitialEvents"), "sendInitialEvents requires allowWatchBookmarks=true and resourceVersionMatch=NotOlderThan")}))
		return
	}
	var fromRev int64
	if opts.ResourceVersion != "" && opts.ResourceVersion != "0" {
		fromRev, err = strconv.ParseInt(opts.ResourceVersion, 10, 64)
		if err != nil {
			q.fail(apierrors.NewBadRequest("resourceVersion must be an integer"))
			return
		}
	}
	if n := q.s.watches.Add(1); n > maxWatches {
		q.s.watches.Add(-1)
		q.fail(apierrors.NewTooManyRequests(fmt.Sprintf("the server has %d open watches, its limit; retry later", maxWatches-1), 1))
		return
	}
	defer q.s.watches.Add(-1)
	ctx := q.r.Context()
	c := q.cache()
	if sendInitial && fromRev == 0 && opts.ResourceVersion == "" {
		cur, err := q.s.store.CurrentRevision(ctx)
		if err == nil {
			err = c.waitForRev(ctx, cur)
		}
		if err != nil {
			q.fail(err)
			return
		}
	}
	startRev := fromRev
	if sendInitial {
		startRev = 0
	}
	w, err := c.watch(ctx, f, startRev, sendInitial, opts.AllowWatchBookmarks)
	if err != nil {
		q.fail(err)
		return
	}
	defer c.removeWatcher(w)

	timeout := 30 * time.Minute
	if opts.TimeoutSeconds != nil && *opts.TimeoutSeconds > 0 {
		timeout = time.Duration(*opts.TimeoutSeconds) * time.Second
	}
	timer := q.s.clock.NewTimer(timeout)
	defer timer.Stop()

	o := negotiateOutput(q.r)
	flusher, _ := q.w.(http.Flusher)
	enc := newWatchEncoder(q, o)
	q.w.Header().Set("Content-Type", enc.contentType())
	q.w.Header().Set("Transfer-Encoding", "chunked")
	q.w.WriteHeader(http.StatusOK)
	if flusher != nil {
		flusher.Flush()
	}
	send := func(ev watchEvent) bool {
		frame, err := enc.frame(ev)
		if err != nil {
			q.s.log.Error("encode watch event", "err", err)
			return false
		}
		if _, err := q.w.Write(frame); err != nil {
			return false
		}
		return true
	}
	for _, ev := range w.initial {
		if !send(ev) {
			return
		}
	}
	w.initial = nil
	if flusher != nil {
		flusher.Flush()
	}
	for {
		select {
		case ev := <-w.ch:
			// Send what is already queued too before flushing once.
			if !send(ev) || !w.drain(send) {
				return
			}
			if flusher != nil {
				flusher.Flush()
			}
		case <-w.more:
			if !w.drain(send) {
				return
			}
			if flusher != nil {
				flusher.Flush()
			}
		case <-w.done:
			return
		case <-timer.C():
			return
		case <-ctx.Done():
			return
		}
	}
}

// watchEncoder turns events into newline-delimited JSON watch frames,
// converting objects to a Table or metadata when the client asked for it.
type watchEncoder struct {
	q *request
	o output
	// proto frames events as Kubernetes does for protobuf clients
	// (client-go's controllers): a 4-byte big-endian length, then a
	// metav1.WatchEvent whose object is the enveloped protobuf object.
	proto bool
	// env and buf are reused from event to event: a watch writes each
	// frame before encoding the next, and allocating two copies of every
	// object for every watcher was a tenth of a pod burst's allocations.
	env, buf []byte
}

// maxReusedFrame is the largest buffer a watch keeps between events; a
// larger one (a big ConfigMap) is dropped once written.
const maxReusedFrame = 64 << 10

// newWatchEncoder frames in protobuf when the client asked for it and the
// resource has a protobuf form (the k8s.io/api kinds, and partial object
// metadata); JSON otherwise, which every client also accepts.
func newWatchEncoder(q *request, o output) *watchEncoder {
	e := &watchEncoder{q: q, o: o}
	if o.contentType == mediaProtobuf && (o.partial() || o.as == "" && isProtoKind(q.res.New())) {
		e.proto = true
	}
	return e
}

func isProtoKind(obj runtime.Object) bool {
	_, ok := obj.(protoMarshaler)
	return ok
}

// contentType is the watch response's media type.
func (e *watchEncoder) contentType() string {
	if e.proto {
		return mediaProtobuf + ";stream=watch"
	}
	return mediaJSON
}

// object encodes what one event carries: the cached entry's encoding as
// is when nothing differs from it, else a fresh encoding of obj.
func (e *watchEncoder) object(ev watchEvent) ([]byte, error) {
	enc := jsonOutput()
	if e.proto {
		enc = e.o
	}
	if ev.typ == watch.Bookmark {
		obj := e.q.res.New()
		a, _ := meta.Accessor(obj)
		a.SetResourceVersion(strconv.FormatInt(ev.rev, 10))
		if ev.initialEventsEnd {
			a.SetAnnotations(map[string]string{metav1.InitialEventsAnnotationKey: "true"})
		}
		obj.GetObjectKind().SetGroupVersionKind(e.q.res.GroupVersionKind())
		if e.o.partial() {
			// A metadata client decodes nothing but partial metadata.
			p, err := toPartial(obj, e.o.asVersion)
			if err != nil {
				return nil, err
			}
			return enc.encode(p)
		}
		return enc.encode(obj)
	}
	var obj runtime.Object
	if e.o.as != "" || (ev.typ == watch.Deleted && ev.entry.rev != ev.rev) {
		var err error
		if obj, err = ev.entry.object(); err != nil {
			return nil, err
		}
	}
	switch e.o.as {
	case "Table":
		t, err := e.q.s.toTable(e.q.r, e.q.res, []runtime.Object{obj}, nil)
		if err != nil {
			return nil, err
		}
		// Only the first event of a watch carries column definitions,
		// as in Kubernetes.
		return jsonOutput().encode(t)
	case "PartialObjectMetadata", "PartialObjectMetadataList":
		p, err := toPartial(obj, e.o.asVersion)
		if err != nil {
			return nil, err
		}
		return enc.encode(p)
	}
	if ev.typ == watch.Deleted && ev.entry.rev != ev.rev {
		// A deletion carries the revision it happened at.
		cp := obj.DeepCopyObject()
		setRV(cp, ev.rev)
		return enc.encode(cp)
	}
	if e.proto {
		raw, ok := ev.entry.protobuf()
		if !ok {
			return nil, fmt.Errorf("encode %s as protobuf: no protobuf form", e.q.res.Kind)
		}
		env, err := protobufEnvelope(e.env, e.q.res.GroupVersionKind(), raw)
		e.env = reusable(env)
		return env, err
	}
	return ev.entry.jsonBytes()
}

// frame returns the event as the watch writes it, in a buffer that is
// only good until the next call.
func (e *watchEncoder) frame(ev watchEvent) ([]byte, error) {
	obj, err := e.object(ev)
	if err != nil {
		return nil, err
	}
	if e.proto {
		we := metav1.WatchEvent{Type: string(ev.typ), Object: runtime.RawExtension{Raw: obj}}
		n := 4 + we.Size()
		frame := slices.Grow(e.buf[:0], n)[:n]
		e.buf = reusable(frame)
		binary.BigEndian.PutUint32(frame, uint32(n-4))
		if _, err := we.MarshalToSizedBuffer(frame[4:]); err != nil {
			return nil, fmt.Errorf("encode watch event: %w", err)
		}
		return frame, nil
	}
	obj = bytes.TrimRight(obj, "\n")
	frame := slices.Grow(e.buf[:0], len(obj)+32)
	frame = append(frame, `{"type":"`...)
	frame = append(frame, ev.typ...)
	frame = append(frame, `","object":`...)
	frame = append(frame, obj...)
	frame = append(frame, "}\n"...)
	e.buf = reusable(frame)
	return frame, nil
}

// reusable is b to keep for the next event, or nil if it is too big to
// keep around.
func reusable(b []byte) []byte {
	if cap(b) > maxReusedFrame {
		return nil
	}
	return b
}

// protobufEnvelope wraps an object's protobuf bytes as Kubernetes'
// protobuf serializer does: the magic, then a runtime.Unknown naming the
// kind around them. It writes over dst (nil for a new buffer).
func protobufEnvelope(dst []byte, gvk schema.GroupVersionKind, raw []byte) ([]byte, error) {
	unk := runtime.Unknown{TypeMeta: runtime.TypeMeta{APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind}, Raw: raw}
	n := len(protobufMagic) + unk.Size()
	out := slices.Grow(dst[:0], n)[:n]
	copy(out, protobufMagic)
	if _, err := unk.MarshalToSizedBuffer(out[len(protobufMagic):]); err != nil {
		return nil, fmt.Errorf("encode %s envelope: %w", gvk.Kind, err)
	}
	return out, nil
}

// protobufMagic starts every Kubernetes protobuf body.
var protobufMagic = []byte{0x6b, 0x38, 0x73, 0x00}

// protobufListFromEntries writes a protobuf list by concatenating the
// cached protobuf of each item, as the JSON path concatenates JSON. Every
// Kubernetes list type has metadata as field 1 and items as field 2.
// All sizes are known before the first byte, so the body is streamed: a
// list of ten thousand pods is 30 MB, which built in memory first cost two
// copies, over 60 MB of garbage and a wait before the first byte.
func (q *request) protobufListFromEntries(entries []*entry, listMeta metav1.ListMeta) bool {
	metaBytes, err := listMeta.Marshal()
	if err != nil {
		return false
	}
	items := make([][]byte, len(entries))
	size := protobufFieldSize(len(metaBytes))
	for i, e := range entries {
		b, ok := e.protobuf()
		if !ok {
			return false
		}
		items[i] = b
		size += protobufFieldSize(len(b))
	}
	gv := q.res.GroupVersionResource.GroupVersion()
	typeMeta, err := (&runtime.TypeMeta{APIVersion: gv.String(), Kind: q.res.Kind + "List"}).Marshal()
	if err != nil {
		return false
	}
	// The envelope is a runtime.Unknown: typeMeta (1), raw (2) holding
	// the list, then contentEncoding (3) and contentType (4), empty but
	// always present in its encoding.
	head := append([]byte(nil), protobufMagic...)
	head = appendProtobufField(head, 1, typeMeta)
	head = appendProtobufTag(head, 2, size)
	tail := []byte{3<<3 | 2, 0, 4<<3 | 2, 0}

	q.w.Header().Set("Content-Type", mediaProtobuf)
	q.w.Header().Set("Content-Length", strconv.Itoa(len(head)+size+len(tail)))
	q.w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(q.w, listWriteBuffer)
	_, _ = bw.Write(head)
	writeProtobufField(bw, 1, metaBytes)
	for _, b := range items {
		writeProtobufField(bw, 2, b)
	}
	_, _ = bw.Write(tail)
	_ = bw.Flush()
	return true
}

// listWriteBuffer is how much of a streamed list is gathered before each
// write to the connection.
const listWriteBuffer = 64 << 10

// protobufFieldSize is the encoded size of a length-delimited field with
// a one-byte tag and n bytes of content.
func protobufFieldSize(n int) int {
	var lenBuf [binary.MaxVarintLen64]byte
	return 1 + binary.PutUvarint(lenBuf[:], uint64(n)) + n
}

// appendProtobufTag appends the tag and length of length-delimited field
// num (below 16) holding n bytes.
func appendProtobufTag(dst []byte, num byte, n int) []byte {
	return binary.AppendUvarint(append(dst, num<<3|2), uint64(n))
}

func appendProtobufField(dst []byte, num byte, b []byte) []byte {
	return append(appendProtobufTag(dst, num, len(b)), b...)
}

func writeProtobufField(w *bufio.Writer, num byte, b []byte) {
	var tag [1 + binary.MaxVarintLen64]byte
	_, _ = w.Write(appendProtobufTag(tag[:0], num, len(b)))
	_, _ = w.Write(b)
}

// entryObjects returns the entries' objects, which callers must not change.
func entryObjects(entries []*entry) ([]runtime.Object, error) {
	objs := make([]runtime.Object, len(entries))
	for i, e := range entries {
		obj, err := e.object()
		if err != nil {
			return nil, err
		}
		objs[i] = obj
	}
	return objs, nil
}
