package apiserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/gureum/gureum/internal/api"
	"github.com/gureum/gureum/internal/store"
)

// entry is one object as the cache holds it: decoded once, encoded once,
// never mutated afterwards, so readers share it without copying.
type entry struct {
	key    string // namespace/name or name
	ns     string
	name   string
	rev    int64
	labels labels.Set
	fields fieldSet

	// obj is the object, resourceVersion set; nil in a compact entry,
	// whose object lives in proto alone (compactResource).
	obj runtime.Object
	res *api.Resource

	// proto is the object's protobuf encoding (no envelope): from the
	// start in a compact entry, otherwise made on first use, so that only
	// clients asking for protobuf pay for it.
	protoOnce sync.Once
	proto     []byte
	// json is the object as JSON with apiVersion, kind and
	// resourceVersion, made on first use like proto: most objects written
	// in a burst are never read back as JSON from the cache.
	jsonOnce sync.Once
	json     []byte
	jsonErr  error
}

// compactResources are the resources whose cache entries hold the
// object's protobuf bytes alone: those whose count grows with the cluster
// (a pod each, events, leases and nodes per node). A decoded pod is about
// two hundred small allocations and twice its encoded size; ten thousand
// of them, made during a burst among its garbage, stay scattered over most
// of the heap's spans long after, which kept an idle control plane's heap
// at twice its live size. A reader of a compact entry decodes its own
// copy (about 15 µs for a pod), which the update path copied anyway.
// Only kinds whose protobuf form holds everything qualify: no nested
// apiVersion and kind (as in a StatefulSet's volumeClaimTemplates).
var compactResources = map[schema.GroupResource]bool{
	{Resource: "pods"}:                                      true,
	{Resource: "nodes"}:                                     true,
	{Resource: "events"}:                                    true,
	{Resource: "endpoints"}:                                 true,
	{Group: "apps", Resource: "replicasets"}:                true,
	{Group: "batch", Resource: "jobs"}:                      true,
	{Group: "coordination.k8s.io", Resource: "leases"}:      true,
	{Group: "discovery.k8s.io", Resource: "endpointslices"}: true,
}

// compactResource says whether res's entries are compact.
func compactResource(res *api.Resource) bool {
	return compactResources[res.GroupVersionResource.GroupResource()] && !res.Unstructured &&
		res.StoredAs == nil && res.Converter == nil
}

// protoUnmarshaler is what the k8s.io/api types implement.
type protoUnmarshaler interface {
	Unmarshal([]byte) error
}

// object returns the entry's object, which callers must not change: the
// shared one, or for a compact entry a fresh decode.
func (e *entry) object() (runtime.Object, error) {
	if e.obj != nil {
		return e.obj, nil
	}
	obj := e.res.New()
	u, ok := obj.(protoUnmarshaler)
	if !ok {
		return nil, fmt.Errorf("decode cached %s: no protobuf form", e.res.Kind)
	}
	if err := u.Unmarshal(e.proto); err != nil {
		return nil, fmt.Errorf("decode cached %s %s: %w", e.res.Kind, e.key, err)
	}
	obj.GetObjectKind().SetGroupVersionKind(e.res.GroupVersionKind())
	return obj, nil
}

// objectCopy returns a copy of the entry's object the caller may change.
func (e *entry) objectCopy() (runtime.Object, error) {
	if e.obj != nil {
		return e.obj.DeepCopyObject(), nil
	}
	return e.object()
}

// jsonBytes returns the entry's JSON encoding.
func (e *entry) jsonBytes() ([]byte, error) {
	e.jsonOnce.Do(func() {
		obj, err := e.object()
		if err != nil {
			e.jsonErr = err
			return
		}
		e.json, e.jsonErr = jsonOutput().encode(obj)
	})
	return e.json, e.jsonErr
}

// entryAs returns e's object as a T, which callers must not change.
func entryAs[T runtime.Object](e *entry) (T, bool) {
	obj, err := e.object()
	t, ok := obj.(T)
	return t, err == nil && ok
}

// protoMarshaler is what the k8s.io/api types implement.
type protoMarshaler interface {
	Marshal() ([]byte, error)
}

// protobuf returns the entry's protobuf bytes, or false for kinds without
// a protobuf form (Gureum's own).
func (e *entry) protobuf() ([]byte, bool) {
	if e.obj == nil {
		return e.proto, true
	}
	e.protoOnce.Do(func() {
		if m, ok := e.obj.(protoMarshaler); ok {
			if b, err := m.Marshal(); err == nil {
				e.proto = b
			}
		}
	})
	return e.proto, e.proto != nil
}

// cacheEvent is one change of one object, in revision order.
type cacheEvent struct {
	typ  watch.EventType
	cur  *entry // nil for deletions
	prev *entry // nil for creations
	rev  int64
}

// historySize is how many recent events a resource cache keeps, so that
// watches resuming from a recent resourceVersion need no etcd round trip.
const historySize = 8192

// minHistory is how many events a cache keeps however old they are.
const minHistory = 100

// historyMarks is how many bookmark ticks an event outlives before it may
// be dropped: about 80 s at the 10 s interval, as Kubernetes' watch cache
// keeps 75 s of events. A watcher that fell further behind than that gets
// 410 Expired and relists, as it would there; one that asked for
// bookmarks resumes from a revision at most one tick old.
const historyMarks = 8

// growHistory doubles the ring (up to historySize), oldest event first. The
// ring starts empty: most of the ~90 resources rarely change, and a full
// ring each would hold about 20 MB of an idle server's memory.
func (c *resourceCache) growHistory() {
	c.resizeHistory(min(max(2*len(c.history), 64), historySize))
}

func (c *resourceCache) resizeHistory(n int) {
	resized := make([]cacheEvent, n)
	start := (c.histNext - c.histLen + len(c.history)) % max(len(c.history), 1)
	for i := 0; i < c.histLen; i++ {
		resized[i] = c.history[(start+i)%len(c.history)]
	}
	c.history, c.histNext = resized, c.histLen%n
}

// ageHistory is called every bookmark tick. It drops the events older
// than historyMarks ticks beyond the newest minHistory: after a burst, the
// ring would otherwise hold thousands of superseded objects (each event
// keeps the object it replaced) for as long as the resource stays quiet.
func (c *resourceCache) ageHistory() {
	c.mu.Lock()
	defer c.mu.Unlock()
	cutoff := c.marks[c.markNext]
	c.marks[c.markNext] = c.rev
	c.markNext = (c.markNext + 1) % historyMarks
	for c.histLen > minHistory {
		oldest := (c.histNext - c.histLen + len(c.history)) % len(c.history)
		if c.history[oldest].rev > cutoff {
			break
		}
		c.oldestRev = c.history[oldest].rev
		c.history[oldest] = cacheEvent{}
		c.histLen--
	}
	if len(c.history) > 64 && c.histLen < len(c.history)/4 {
		c.resizeHistory(max(64, 2*c.histLen))
	}
}

// resourceCache serves list and watch for one resource from memory, fed by
// a single etcd watch on the resource's prefix.
type resourceCache struct {
	res    *api.Resource
	prefix string
	store  *store.Store
	log    *slog.Logger

	mu       sync.RWMutex
	items    map[string]*entry
	rev      int64         // every change up to rev has been applied
	revCh    chan struct{} // closed when rev advances
	history  []cacheEvent  // ring buffer
	histNext int
	histLen  int
	// marks are the cache's revision at each of the last historyMarks
	// bookmark ticks, oldest at markNext.
	marks    [historyMarks]int64
	markNext int
	// oldestRev is the lowest resourceVersion a watch can resume from.
	oldestRev int64
	watchers  map[*cacheWatcher]struct{}
	ready     chan struct{}
	readyOnce sync.Once
	// convErr is the conversion webhook's error while the cache cannot
	// convert what etcd holds (crdconvert.go); convFailures counts the
	// failed attempts since the last success, for backoff.
	convErr      error
	convFailures int

	// written holds objects this server has just written, by key, until
	// their watch event arrives: the event then needs no decoding (a
	// pod's JSON decode cost as much again as its whole create did).
	writtenMu sync.Mutex
	written   map[string]writtenObject
}

// writtenObject is the entry of an object as written at rev.
type writtenObject struct {
	rev int64
	e   *entry
}

// maxWritten bounds objects waiting for their event; past it, those whose
// event has come and gone are swept.
const maxWritten = 1024

// noteWritten hands the cache obj, just stored at rev under key (the etcd
// key), whose resourceVersion is set: its entry is made now, from a copy
// or its encoding, and taken when the watch event comes. Only resources
// stored exactly as served qualify: others are converted or defaulted on
// the way out of etcd.
func (c *resourceCache) noteWritten(key string, rev int64, obj runtime.Object) {
	if c == nil || c.res.Unstructured || c.res.StoredAs != nil || c.res.Converter != nil || !strings.HasPrefix(key, c.prefix) {
		return
	}
	e, err := newWrittenEntry(c.res, strings.TrimPrefix(key, c.prefix), obj, rev)
	if err != nil {
		return // the event decodes etcd's bytes instead
	}
	c.writtenMu.Lock()
	defer c.writtenMu.Unlock()
	if c.written == nil {
		c.written = map[string]writtenObject{}
	}
	if len(c.written) >= maxWritten {
		c.mu.RLock()
		applied := c.rev
		c.mu.RUnlock()
		for k, w := range c.written {
			if w.rev <= applied {
				delete(c.written, k)
			}
		}
	}
	c.written[e.key] = writtenObject{rev: rev, e: e}
}

// takeWritten returns the entry written under key at rev, if noted.
func (c *resourceCache) takeWritten(key string, rev int64) *entry {
	c.writtenMu.Lock()
	defer c.writtenMu.Unlock()
	w, ok := c.written[key]
	if !ok || w.rev > rev {
		return nil
	}
	delete(c.written, key)
	if w.rev != rev {
		return nil
	}
	return w.e
}

// forgetWritten drops every noted object: after a relist their events
// will not come.
func (c *resourceCache) forgetWritten() {
	c.writtenMu.Lock()
	defer c.writtenMu.Unlock()
	c.written = nil
}

func newResourceCache(res *api.Resource, st *store.Store, log *slog.Logger) *resourceCache {
	return &resourceCache{
		res:      res,
		prefix:   res.StorageKey() + "/",
		store:    st,
		log:      log.With("resource", res.GroupVersionResource.String()),
		items:    map[string]*entry{},
		revCh:    make(chan struct{}),
		watchers: map[*cacheWatcher]struct{}{},
		ready:    make(chan struct{}),
	}
}

// Run keeps the cache in step with etcd until ctx ends, relisting when the
// watch breaks (for example after a compaction).
func (c *resourceCache) Run(ctx context.Context) error {
	for {
		err := c.listAndWatch(ctx)
		if ctx.Err() != nil {
			c.closeAllWatchers()
			return nil
		}
		c.log.Warn("cache watch ended; relisting", "err", err)
		c.closeAllWatchers()
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(c.relistDelay()):
		}
	}
}

func (c *resourceCache) listAndWatch(ctx context.Context) error {
	kvs, rev, err := c.store.List(ctx, c.prefix, 0)
	if err != nil {
		return fmt.Errorf("list %s: %w", c.prefix, err)
	}
	if kvs, err = c.convertKVs(ctx, kvs); err != nil {
		return err
	}
	items := make(map[string]*entry, len(kvs))
	for _, kv := range kvs {
		e, err := c.decode(kv.Key, kv.Value, kv.ModRevision)
		if err != nil {
			c.log.Error("skipping undecodable object", "key", kv.Key, "err", err)
			continue
		}
		items[e.key] = e
	}
	c.forgetWritten()
	c.mu.Lock()
	c.items = items
	c.convErr, c.convFailures = nil, 0
	c.histLen, c.histNext = 0, 0
	c.oldestRev = rev
	c.advance(rev)
	c.mu.Unlock()
	c.readyOnce.Do(func() { close(c.ready) })

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches, errc := c.store.Watch(wctx, c.prefix, rev)
	for batch := range batches {
		converted, err := c.convertBatch(wctx, batch)
		if err != nil {
			return err
		}
		c.apply(converted)
	}
	select {
	case err := <-errc:
		return err
	default:
		return errors.New("watch closed")
	}
}

func (c *resourceCache) apply(batch store.WatchBatch) {
	events := make([]cacheEvent, 0, len(batch.Events))
	for _, ev := range batch.Events {
		key := strings.TrimPrefix(ev.KV.Key, c.prefix)
		switch ev.Type {
		case store.Put:
			e := c.takeWritten(key, ev.KV.ModRevision)
			var err error
			if e == nil {
				e, err = c.decode(ev.KV.Key, ev.KV.Value, ev.KV.ModRevision)
			}
			if err != nil {
				c.log.Error("skipping undecodable object", "key", ev.KV.Key, "err", err)
				continue
			}
			events = append(events, cacheEvent{typ: watch.Modified, cur: e, rev: ev.KV.ModRevision})
		case store.Delete:
			c.takeWritten(key, ev.KV.ModRevision) // drops what was noted for earlier revisions
			// The deleted object's last state is the one in items (below):
			// the cache saw its every version since its list.
			events = append(events, cacheEvent{typ: watch.Deleted, rev: ev.KV.ModRevision, cur: &entry{key: key}})
		}
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range events {
		ev := &events[i]
		switch ev.typ {
		case watch.Modified:
			old, existed := c.items[ev.cur.key]
			if existed {
				ev.prev = old
			} else {
				ev.typ = watch.Added
			}
			c.items[ev.cur.key] = ev.cur
		case watch.Deleted:
			key := ev.cur.key
			ev.prev = c.items[key]
			ev.cur = nil
			delete(c.items, key)
			if ev.prev == nil {
				continue
			}
		}
		c.record(*ev)
		c.dispatch(*ev)
	}
	if batch.Revision > c.rev {
		c.advance(batch.Revision)
	}
}

// advance moves rev forward and wakes whoever waits for it. Callers hold mu.
func (c *resourceCache) advance(rev int64) {
	if rev > c.rev || rev == 0 {
		c.rev = rev
	}
	close(c.revCh)
	c.revCh = make(chan struct{})
}

func (c *resourceCache) record(ev cacheEvent) {
	if c.histLen == len(c.history) && len(c.history) < historySize {
		c.growHistory()
	}
	if c.histLen == len(c.history) {
		// The oldest event falls out: a watch must now start after it.
		c.oldestRev = c.history[c.histNext].rev
	} else {
		c.histLen++
	}
	c.history[c.histNext] = ev
	c.histNext = (c.histNext + 1) % len(c.history)
	if ev.rev > c.rev {
		c.rev = ev.rev
	}
}

func (c *resourceCache) decode(key string, value []byte, rev int64) (*entry, error) {
	obj, err := decodeStored(c.res, value)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", key, err)
	}
	return newEntry(c.res, strings.TrimPrefix(key, c.prefix), obj, rev)
}

// newEntry makes the entry of obj at revision rev, taking obj over.
func newEntry(res *api.Resource, key string, obj runtime.Object, rev int64) (*entry, error) {
	accessor, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	accessor.SetResourceVersion(strconv.FormatInt(rev, 10))
	obj.GetObjectKind().SetGroupVersionKind(res.GroupVersionKind())
	return makeEntry(res, key, obj, accessor, rev, labels.Set(accessor.GetLabels()))
}

// newWrittenEntry makes the entry of obj, which a request just wrote at
// rev and goes on using: a compact entry encodes it, others copy it.
func newWrittenEntry(res *api.Resource, key string, obj runtime.Object, rev int64) (*entry, error) {
	accessor, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	if !compactResource(res) || accessor.GetResourceVersion() != strconv.FormatInt(rev, 10) {
		return newEntry(res, key, obj.DeepCopyObject(), rev)
	}
	return makeEntry(res, key, obj, accessor, rev, maps.Clone(labels.Set(accessor.GetLabels())))
}

// makeEntry fills the entry of obj, compact where res is.
func makeEntry(res *api.Resource, key string, obj runtime.Object, accessor metav1.Object, rev int64, lbls labels.Set) (*entry, error) {
	e := &entry{
		key:    key,
		ns:     accessor.GetNamespace(),
		name:   accessor.GetName(),
		res:    res,
		obj:    obj,
		rev:    rev,
		labels: lbls,
		fields: objectFields(res, obj, accessor.GetName(), accessor.GetNamespace()),
	}
	if compactResource(res) {
		if err := e.compact(); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// compact replaces the entry's object by its protobuf encoding.
func (e *entry) compact() error {
	m, ok := e.obj.(protoMarshaler)
	if !ok {
		return fmt.Errorf("cache %s compactly: no protobuf form", e.res.Kind)
	}
	b, err := m.Marshal()
	if err != nil {
		return fmt.Errorf("encode %s %s for the cache: %w", e.res.Kind, e.key, err)
	}
	e.proto, e.obj = b, nil
	return nil
}

// objectFields is the field set field selectors match against.
func objectFields(res *api.Resource, obj runtime.Object, name, ns string) fieldSet {
	set := fields.Set{"metadata.name": name}
	if res.Namespaced {
		set["metadata.namespace"] = ns
	}
	for k, v := range res.Strategy.Fields(obj) {
		set[k] = v
	}
	return newFieldSet(set)
}

// fieldSet is an object's selectable fields as key, value, key, value...
// sorted by key: in a map each, a pod's ten would cost its entry about a
// kilobyte in a dozen allocations.
type fieldSet []string

func newFieldSet(set fields.Set) fieldSet {
	keys := slices.Sorted(maps.Keys(set))
	fs := make(fieldSet, 0, 2*len(keys))
	for _, k := range keys {
		fs = append(fs, k, set[k])
	}
	return fs
}

func (fs fieldSet) find(field string) (int, bool) {
	n := len(fs) / 2
	i := sort.Search(n, func(i int) bool { return fs[2*i] >= field })
	return i, i < n && fs[2*i] == field
}

// Has implements fields.Fields.
func (fs fieldSet) Has(field string) bool {
	_, ok := fs.find(field)
	return ok
}

// Get implements fields.Fields.
func (fs fieldSet) Get(field string) string {
	if i, ok := fs.find(field); ok {
		return fs[2*i+1]
	}
	return ""
}

// waitForRev blocks until the cache has applied revision rev, asking etcd
// for progress notifications so a quiet resource still catches up. etcd
// silently drops a progress request while any watcher on the stream is
// unsynced (catching up, or behind after a burst of writes), so the request
// is repeated until the cache has caught up, as Kubernetes' cacher does.
func (c *resourceCache) waitForRev(ctx context.Context, rev int64) error {
	deadline := time.NewTimer(3 * time.Second)
	defer deadline.Stop()
	var again <-chan time.Time
	for {
		c.mu.RLock()
		cur, ch, convErr := c.rev, c.revCh, c.convErr
		c.mu.RUnlock()
		if convErr != nil {
			return convErr
		}
		if cur >= rev {
			return nil
		}
		if again == nil {
			if err := c.store.RequestProgress(ctx); err != nil {
				return err
			}
			again = time.After(progressRetry)
		}
		select {
		case <-again:
			again = nil
		case <-ch:
		case <-deadline.C:
			return apierrors.NewTimeoutError(fmt.Sprintf("Too large resource version: %d, current: %d", rev, cur), 1)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// progressRetry is how long waitForRev waits for a progress notification
// before asking etcd again.
const progressRetry = 50 * time.Millisecond

// filter selects the objects a list or watch wants.
type filter struct {
	namespace string
	name      string
	labels    labels.Selector
	fields    fields.Selector
}

// selects says whether the filter has label or field selectors (a
// namespace alone is the request's path, not a selection).
func (f *filter) selects() bool {
	return f.name != "" || (f.labels != nil && !f.labels.Empty()) || (f.fields != nil && !f.fields.Empty())
}

func (f *filter) matches(e *entry) bool {
	if e == nil {
		return false
	}
	if f.namespace != "" && e.ns != f.namespace {
		return false
	}
	if f.name != "" && e.name != f.name {
		return false
	}
	if f.labels != nil && !f.labels.Empty() && !f.labels.Matches(e.labels) {
		return false
	}
	if f.fields != nil && !f.fields.Empty() && !f.fields.Matches(e.fields) {
		return false
	}
	return true
}

// snapshot returns the matching entries sorted by key, and the revision
// they are current at.
func (c *resourceCache) snapshot(f *filter) ([]*entry, int64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]*entry, 0, len(c.items))
	// A name alone finds one object only when the key is known: for a
	// namespaced resource listed across namespaces, the name may be in any.
	if f.name != "" && (!c.res.Namespaced || f.namespace != "") {
		key := f.name
		if f.namespace != "" {
			key = f.namespace + "/" + f.name
		}
		if e, ok := c.items[key]; ok && f.matches(e) {
			out = append(out, e)
		}
		return out, c.rev
	}
	for _, e := range c.items {
		if f.matches(e) {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out, c.rev
}

// get returns one entry from the cache.
func (c *resourceCache) get(key string) (*entry, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.convErr != nil {
		return nil, false // stale: the caller reads etcd and converts
	}
	e, ok := c.items[key]
	return e, ok
}

// watchEvent is what a watcher receives.
type watchEvent struct {
	typ   watch.EventType
	entry *entry
	rev   int64
	// initialEventsEnd marks the bookmark that ends sendInitialEvents.
	initialEventsEnd bool
}

// cacheWatcher is one client watch attached to the cache.
type cacheWatcher struct {
	filter    filter
	bookmarks bool
	ch        chan watchEvent
	initial   []watchEvent
	done      chan struct{}
	closeOnce sync.Once

	// overflow holds, in order, the events that came while ch was full,
	// and every event after them until the watch has taken them
	// (takeOverflow); more says there are some.
	mu       sync.Mutex
	overflow []watchEvent
	more     chan struct{}
}

// watcherBuffer is each watch's channel; maxOverflow how many more events
// a watch may fall behind by before it is closed. Kubernetes lets the
// dispatcher wait a short time budget for a full watcher before closing
// it; here the dispatcher holds the cache's lock, so a watcher that is
// momentarily slower than a burst of writes (a client decoding ten
// thousand pods) queues the rest instead, up to a bound that keeps an
// unresponsive client from holding memory without end: each queued event
// keeps the version of the object it carries (a pod's is about 2 KB, so
// at most some 40 MB for a watcher that far behind).
const (
	watcherBuffer = 1024
	maxOverflow   = 16 * 1024
)

func newCacheWatcher(f filter, bookmarks bool) *cacheWatcher {
	return &cacheWatcher{filter: f, bookmarks: bookmarks, ch: make(chan watchEvent, watcherBuffer),
		done: make(chan struct{}), more: make(chan struct{}, 1)}
}

func (w *cacheWatcher) stop() { w.closeOnce.Do(func() { close(w.done) }) }

// add queues ev after every event before it, and reports false when the
// watcher has fallen too far behind.
func (w *cacheWatcher) add(ev watchEvent) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.overflow) == 0 {
		select {
		case w.ch <- ev:
			return true
		default:
		}
	}
	if len(w.overflow) >= maxOverflow {
		return false
	}
	w.overflow = append(w.overflow, ev)
	select {
	case w.more <- struct{}{}:
	default:
	}
	return true
}

// takeOverflow returns the events that overflowed the channel, once
// everything queued before them has been taken from it.
func (w *cacheWatcher) takeOverflow() []watchEvent {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.ch) > 0 {
		return nil
	}
	o := w.overflow
	w.overflow = nil
	return o
}

// drain sends, in order, the events queued in the channel now and then
// what overflowed it; it stops at the first send that fails.
func (w *cacheWatcher) drain(send func(watchEvent) bool) bool {
	for n := len(w.ch); n > 0; n-- {
		if !send(<-w.ch) {
			return false
		}
	}
	for o := w.takeOverflow(); o != nil; o = w.takeOverflow() {
		for _, ev := range o {
			if !send(ev) {
				return false
			}
		}
	}
	return true
}

// dispatch sends ev to every watcher; a watcher that falls too far behind
// is closed, and its client re-establishes the watch from its last
// version, as with Kubernetes. Callers hold mu.
func (c *resourceCache) dispatch(ev cacheEvent) {
	for w := range c.watchers {
		we, ok := translate(&w.filter, ev)
		if !ok {
			continue
		}
		if !w.add(we) {
			c.log.Warn("closing slow watcher", "behind", len(w.ch)+maxOverflow)
			delete(c.watchers, w)
			w.stop()
		}
	}
}

// translate turns a cache event into what a filtered watcher sees: an
// object moving into the filter is ADDED, out of it DELETED.
func translate(f *filter, ev cacheEvent) (watchEvent, bool) {
	curOK := f.matches(ev.cur)
	prevOK := f.matches(ev.prev)
	switch {
	case ev.typ == watch.Deleted:
		if prevOK {
			return watchEvent{typ: watch.Deleted, entry: ev.prev, rev: ev.rev}, true
		}
	case curOK && prevOK:
		return watchEvent{typ: watch.Modified, entry: ev.cur, rev: ev.rev}, true
	case curOK:
		return watchEvent{typ: watch.Added, entry: ev.cur, rev: ev.rev}, true
	case prevOK:
		// The object left the filter: the watcher sees it deleted, at the
		// revision of the change.
		return watchEvent{typ: watch.Deleted, entry: ev.cur, rev: ev.rev}, true
	}
	return watchEvent{}, false
}

// watch attaches a watcher. fromRev 0 means "current state first" (ADDED
// for every matching object); otherwise events after fromRev are replayed.
// With initialEvents the current state is followed by a bookmark that marks
// its end (sendInitialEvents).
func (c *resourceCache) watch(ctx context.Context, f filter, fromRev int64, sendInitial, bookmarks bool) (*cacheWatcher, error) {
	if fromRev > 0 {
		if err := c.waitForRev(ctx, fromRev); err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.convErr != nil {
		return nil, c.convErr
	}
	w := newCacheWatcher(f, bookmarks)
	if fromRev == 0 || sendInitial {
		keys := make([]string, 0, len(c.items))
		for k, e := range c.items {
			if f.matches(e) {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			w.initial = append(w.initial, watchEvent{typ: watch.Added, entry: c.items[k], rev: c.items[k].rev})
		}
		if sendInitial {
			w.initial = append(w.initial, watchEvent{typ: watch.Bookmark, rev: c.rev, initialEventsEnd: true})
		}
	} else {
		if fromRev < c.oldestRev {
			return nil, apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %d (%d)", fromRev, c.oldestRev))
		}
		start := (c.histNext - c.histLen + len(c.history)) % max(len(c.history), 1)
		for i := 0; i < c.histLen; i++ {
			ev := c.history[(start+i)%len(c.history)]
			if ev.rev <= fromRev {
				continue
			}
			if we, ok := translate(&f, ev); ok {
				w.initial = append(w.initial, we)
			}
		}
	}
	c.watchers[w] = struct{}{}
	return w, nil
}

func (c *resourceCache) removeWatcher(w *cacheWatcher) {
	c.mu.Lock()
	delete(c.watchers, w)
	c.mu.Unlock()
	w.stop()
}

func (c *resourceCache) closeAllWatchers() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for w := range c.watchers {
		w.stop()
	}
	c.watchers = map[*cacheWatcher]struct{}{}
}

// sendBookmarks gives every watcher that asked for bookmarks the current
// revision, so its client can resume from there without a relist.
func (c *resourceCache) sendBookmarks() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for w := range c.watchers {
		if !w.bookmarks {
			continue
		}
		// Behind the events already queued; a watcher that far behind
		// gains nothing from a bookmark.
		w.mu.Lock()
		if len(w.overflow) == 0 {
			select {
			case w.ch <- watchEvent{typ: watch.Bookmark, rev: c.rev}:
			default:
			}
		}
		w.mu.Unlock()
	}
}
