// Package store owns Gureum's state in etcd v3: it boots the embedded etcd
// member or connects to an external cluster, offers typed get, list,
// watch and compare-and-swap on byte values, and compacts etcd's history
// (Compactor). It is the only package that imports etcd; everything above
// it speaks keys, bytes and revisions.
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"
)

// Errors callers match with errors.Is.
var (
	ErrNotFound  = errors.New("key not found")
	ErrExists    = errors.New("key already exists")
	ErrConflict  = errors.New("revision conflict")
	ErrCompacted = errors.New("revision compacted")
)

// KV is one stored value with its revisions.
type KV struct {
	Key            string
	Value          []byte
	CreateRevision int64
	ModRevision    int64
}

// EventType says what happened to a key.
type EventType int

// Watch event types.
const (
	Put EventType = iota
	Delete
)

// Event is one change seen by a watch. For Delete, KV holds only the key
// and, in ModRevision, the revision of the deletion.
type Event struct {
	Type EventType
	KV   KV
	// Created is true when a Put made a new key.
	Created bool
}

// Store is a handle on etcd.
type Store struct {
	client *clientv3.Client
	etcd   *embed.Etcd
	log    *slog.Logger

	leaseMu sync.Mutex
	leases  map[time.Duration]reusedLease
}

// reusedLease is an etcd lease shared by every write with the same TTL for
// a minute, so expiring keys cost one lease a minute, not one per write.
type reusedLease struct {
	id      clientv3.LeaseID
	granted time.Time
}

// leaseReuse is how long one lease serves new writes; keys on it live
// between ttl and ttl+leaseReuse.
const leaseReuse = time.Minute

func (s *Store) leaseFor(ctx context.Context, ttl time.Duration) (clientv3.LeaseID, error) {
	s.leaseMu.Lock()
	defer s.leaseMu.Unlock()
	if l, ok := s.leases[ttl]; ok && time.Since(l.granted) < leaseReuse {
		return l.id, nil
	}
	resp, err := s.client.Grant(ctx, int64((ttl+leaseReuse)/time.Second))
	if err != nil {
		return 0, fmt.Errorf("grant a %s lease: %w", ttl, err)
	}
	if s.leases == nil {
		s.leases = map[time.Duration]reusedLease{}
	}
	s.leases[ttl] = reusedLease{id: resp.ID, granted: time.Now()}
	return resp.ID, nil
}

// EmbeddedConfig configures the embedded single-member etcd.
type EmbeddedConfig struct {
	DataDir    string
	ClientPort int // listens on 127.0.0.1 for etcdctl and benchmarks
	PeerPort   int
}

// StartEmbedded boots an embedded etcd member in cfg.DataDir (reusing its
// data when present) and returns once it serves.
func StartEmbedded(ctx context.Context, cfg EmbeddedConfig, log *slog.Logger) (*Store, error) {
	ecfg := embed.NewConfig()
	ecfg.Name = "gureum"
	ecfg.Dir = filepath.Join(cfg.DataDir, "etcd")
	ecfg.Logger = "zap"
	ecfg.LogLevel = "error"
	clientURL, err := url.Parse("http://127.0.0.1:" + strconv.Itoa(cfg.ClientPort))
	if err != nil {
		return nil, fmt.Errorf("etcd client url: %w", err)
	}
	peerURL, err := url.Parse("http://127.0.0.1:" + strconv.Itoa(cfg.PeerPort))
	if err != nil {
		return nil, fmt.Errorf("etcd peer url: %w", err)
	}
	ecfg.ListenClientUrls = []url.URL{*clientURL}
	ecfg.AdvertiseClientUrls = []url.URL{*clientURL}
	ecfg.ListenPeerUrls = []url.URL{*peerURL}
	ecfg.AdvertisePeerUrls = []url.URL{*peerURL}
	ecfg.InitialCluster = ecfg.Name + "=" + peerURL.String()
	ecfg.InitialClusterToken = "gureum"
	// No auto-compaction: a Compactor does it, for external etcd too.
	// Objects up to 3 MiB are accepted by the API server; leave room for
	// the transaction around them.
	ecfg.MaxRequestBytes = 4 * 1024 * 1024
	// A single member has no peers to wait for: a short election timeout
	// makes it leader within ~100 ms of starting instead of ~1 s. (Raft's
	// defaults protect multi-member clusters from slow networks.)
	ecfg.TickMs = 10
	ecfg.ElectionMs = 100
	// etcd keeps the raft entries since its last snapshot in memory, and
	// SnapshotCatchUpEntries more after it for slow followers; 3.5's
	// defaults (100,000 and 5,000) cost gigabytes under heavy writes, and
	// at 10,000 and 5,000 they were still a tenth of an idle control
	// plane's live heap (24 MB, with 10,000 pods). A snapshot of a v3
	// store writes only raft's small state, so taking one every 5,000
	// writes is cheap; an embedded member has no followers to catch up.
	ecfg.SnapshotCount = 5000
	ecfg.SnapshotCatchUpEntries = 1000

	e, err := embed.StartEtcd(ecfg)
	if err != nil {
		return nil, fmt.Errorf("start embedded etcd in %s: %w", ecfg.Dir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedded etcd failed while starting: %w", err)
	case <-ctx.Done():
		e.Close()
		return nil, fmt.Errorf("embedded etcd start: %w", ctx.Err())
	}
	return &Store{client: v3client.New(e.Server), etcd: e, log: log}, nil
}

// Connect uses an external etcd cluster.
func Connect(ctx context.Context, endpoints []string, log *slog.Logger) (*Store, error) {
	c, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Context: ctx,
		MaxCallSendMsgSize: 4 * 1024 * 1024})
	if err != nil {
		return nil, fmt.Errorf("connect to etcd %v: %w", endpoints, err)
	}
	tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := c.Get(tctx, "/registry/health-check", clientv3.WithCountOnly()); err != nil {
		c.Close()
		return nil, fmt.Errorf("reach etcd %v (is it running?): %w", endpoints, err)
	}
	return &Store{client: c, log: log}, nil
}

// Close stops the client and the embedded member, if any.
func (s *Store) Close() error {
	err := s.client.Close()
	if s.etcd != nil {
		s.etcd.Close()
	}
	return err
}

// Client exposes the raw etcd client for benchmarks that measure the floor.
func (s *Store) Client() *clientv3.Client { return s.client }

// Get reads one key.
func (s *Store) Get(ctx context.Context, key string) (KV, error) {
	resp, err := s.client.Get(ctx, key)
	if err != nil {
		return KV{}, fmt.Errorf("get %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return KV{}, ErrNotFound
	}
	return toKV(resp.Kvs[0]), nil
}

// List reads every key under prefix at revision rev (0: latest) and returns
// them with the revision they were read at.
func (s *Store) List(ctx context.Context, prefix string, rev int64) ([]KV, int64, error) {
	p, err := s.ListPage(ctx, prefix, prefix, rev, 0)
	if err != nil {
		return nil, 0, err
	}
	return p.KVs, p.Revision, nil
}

// Page is what one ListPage read returns.
type Page struct {
	KVs      []KV
	Revision int64 // the revision read at
	// More says keys beyond KVs exist in the range.
	More bool
	// Count is how many keys the whole range holds, beyond KVs too.
	Count int64
}

// ListPage reads the keys under prefix from the key from on (inclusive;
// a key before prefix starts at its first) at revision rev (0: the
// latest), at most limit of them (0: all).
func (s *Store) ListPage(ctx context.Context, prefix, from string, rev, limit int64) (Page, error) {
	from = max(from, prefix)
	opts := []clientv3.OpOption{clientv3.WithRange(clientv3.GetPrefixRangeEnd(prefix)), clientv3.WithLimit(limit)}
	if rev > 0 {
		opts = append(opts, clientv3.WithRev(rev))
	}
	resp, err := s.client.Get(ctx, from, opts...)
	if err != nil {
		if errors.Is(err, rpctypes.ErrCompacted) {
			return Page{}, ErrCompacted
		}
		return Page{}, fmt.Errorf("list %s from %s: %w", prefix, from, err)
	}
	p := Page{KVs: make([]KV, 0, len(resp.Kvs)), Revision: resp.Header.Revision, More: resp.More, Count: resp.Count}
	if rev > 0 {
		// The header carries etcd's current revision, not the one read at.
		p.Revision = rev
	}
	for _, kv := range resp.Kvs {
		p.KVs = append(p.KVs, toKV(kv))
	}
	return p, nil
}

// CurrentRevision returns etcd's latest revision; a consistent read from a
// cache waits until the cache has seen it.
func (s *Store) CurrentRevision(ctx context.Context) (int64, error) {
	resp, err := s.client.Get(ctx, "/registry/health-check", clientv3.WithCountOnly())
	if err != nil {
		return 0, fmt.Errorf("read current revision: %w", err)
	}
	return resp.Header.Revision, nil
}

// Create writes key only if it does not exist and returns the new revision.
func (s *Store) Create(ctx context.Context, key string, value []byte) (int64, error) {
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(value))).
		Commit()
	if err != nil {
		return 0, fmt.Errorf("create %s: %w", key, err)
	}
	if !resp.Succeeded {
		return 0, ErrExists
	}
	return resp.Header.Revision, nil
}

// Update replaces key only if its current ModRevision is expectedRev.
func (s *Store) Update(ctx context.Context, key string, value []byte, expectedRev int64) (int64, error) {
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", expectedRev)).
		Then(clientv3.OpPut(key, string(value))).
		Else(clientv3.OpGet(key, clientv3.WithCountOnly())).
		Commit()
	if err != nil {
		return 0, fmt.Errorf("update %s: %w", key, err)
	}
	if !resp.Succeeded {
		if resp.Responses[0].GetResponseRange().Count == 0 {
			return 0, ErrNotFound
		}
		return 0, ErrConflict
	}
	return resp.Header.Revision, nil
}

// Delete removes key only if its current ModRevision is expectedRev.
func (s *Store) Delete(ctx context.Context, key string, expectedRev int64) (int64, error) {
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", expectedRev)).
		Then(clientv3.OpDelete(key)).
		Else(clientv3.OpGet(key, clientv3.WithCountOnly())).
		Commit()
	if err != nil {
		return 0, fmt.Errorf("delete %s: %w", key, err)
	}
	if !resp.Succeeded {
		if resp.Responses[0].GetResponseRange().Count == 0 {
			return 0, ErrNotFound
		}
		return 0, ErrConflict
	}
	return resp.Header.Revision, nil
}

// Cond is a precondition of a transaction: the key must not exist
// (MustNotExist) or must be at ModRevision.
type Cond struct {
	Key          string
	MustNotExist bool
	ModRevision  int64
}

// Op is a write of a transaction: a put of Value or, with Delete, a delete.
type Op struct {
	Key    string
	Value  []byte
	Delete bool
	// TTL, when set, makes etcd delete the key after about this long
	// (Events expire this way, as in Kubernetes).
	TTL time.Duration
}

// ErrCondFailed reports which condition of a transaction failed.
type ErrCondFailed struct {
	Key    string
	Exists bool // whether the key existed when the condition failed
}

func (e *ErrCondFailed) Error() string {
	return fmt.Sprintf("condition on %s failed (exists=%v)", e.Key, e.Exists)
}

// Txn applies ops atomically if every condition holds and returns the
// revision of the write. A failed condition returns *ErrCondFailed for the
// first failing key, so callers can tell a taken reservation from a stale
// object.
func (s *Store) Txn(ctx context.Context, conds []Cond, ops []Op) (int64, error) {
	cmps := make([]clientv3.Cmp, 0, len(conds))
	var gets []clientv3.Op
	for _, c := range conds {
		if c.MustNotExist {
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(c.Key), "=", 0))
		} else {
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(c.Key), "=", c.ModRevision))
		}
		gets = append(gets, clientv3.OpGet(c.Key, clientv3.WithKeysOnly()))
	}
	puts := make([]clientv3.Op, 0, len(ops))
	for _, o := range ops {
		switch {
		case o.Delete:
			puts = append(puts, clientv3.OpDelete(o.Key))
		case o.TTL > 0:
			lease, err := s.leaseFor(ctx, o.TTL)
			if err != nil {
				return 0, err
			}
			puts = append(puts, clientv3.OpPut(o.Key, string(o.Value), clientv3.WithLease(lease)))
		default:
			puts = append(puts, clientv3.OpPut(o.Key, string(o.Value)))
		}
	}
	resp, err := s.client.Txn(ctx).If(cmps...).Then(puts...).Else(gets...).Commit()
	if err != nil {
		return 0, fmt.Errorf("transaction: %w", err)
	}
	if resp.Succeeded {
		return resp.Header.Revision, nil
	}
	for i, c := range conds {
		kvs := resp.Responses[i].GetResponseRange().Kvs
		exists := len(kvs) > 0
		if c.MustNotExist && exists {
			return 0, &ErrCondFailed{Key: c.Key, Exists: true}
		}
		if !c.MustNotExist && (!exists || kvs[0].ModRevision != c.ModRevision) {
			return 0, &ErrCondFailed{Key: c.Key, Exists: exists}
		}
	}
	return 0, &ErrCondFailed{}
}

// WatchBatch is what one etcd watch response carried: its events, and the
// revision the store had reached when it was sent (a progress notification
// carries only the revision).
type WatchBatch struct {
	Events   []Event
	Revision int64
}

// Watch streams changes under prefix after revision fromRev until ctx ends.
// The channel closes when the watch ends; the reason (ErrCompacted when
// fromRev is no longer in history) is then sent on errc.
func (s *Store) Watch(ctx context.Context, prefix string, fromRev int64) (<-chan WatchBatch, <-chan error) {
	out := make(chan WatchBatch, 64)
	errc := make(chan error, 1)
	wctx := clientv3.WithRequireLeader(ctx)
	// No WithPrevKV: etcd would read each changed key's previous revision
	// (copying its whole read buffer) for every event, about a tenth of an
	// idle server's CPU at 1,000 nodes; the watch cache holds every
	// object's last state already.
	wch := s.client.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(fromRev+1))
	go func() {
		defer close(out)
		for {
			var resp clientv3.WatchResponse
			var ok bool
			// The in-process etcd client may close its channel late after
			// ctx ends; do not wait for it.
			select {
			case resp, ok = <-wch:
			case <-ctx.Done():
				return
			}
			if !ok {
				break
			}
			if resp.CompactRevision != 0 {
				errc <- ErrCompacted
				return
			}
			if err := resp.Err(); err != nil {
				errc <- fmt.Errorf("watch %s: %w", prefix, err)
				return
			}
			batch := WatchBatch{Revision: resp.Header.Revision, Events: make([]Event, 0, len(resp.Events))}
			for _, ev := range resp.Events {
				switch ev.Type {
				case mvccpb.PUT:
					batch.Events = append(batch.Events, Event{Type: Put, KV: toKV(ev.Kv), Created: ev.IsCreate()})
				case mvccpb.DELETE:
					batch.Events = append(batch.Events, Event{Type: Delete, KV: KV{Key: string(ev.Kv.Key), ModRevision: ev.Kv.ModRevision}})
				}
			}
			select {
			case out <- batch:
			case <-ctx.Done():
				return
			}
		}
		if ctx.Err() == nil {
			errc <- fmt.Errorf("watch %s ended", prefix)
		}
	}()
	return out, errc
}

// RequestProgress asks etcd to tell every open watch the current revision,
// so caches fed by quiet prefixes learn they are up to date.
func (s *Store) RequestProgress(ctx context.Context) error {
	if err := s.client.RequestProgress(clientv3.WithRequireLeader(ctx)); err != nil {
		return fmt.Errorf("request watch progress: %w", err)
	}
	return nil
}

func toKV(kv *mvccpb.KeyValue) KV {
	return KV{Key: string(kv.Key), Value: kv.Value, CreateRevision: kv.CreateRevision, ModRevision: kv.ModRevision}
}
