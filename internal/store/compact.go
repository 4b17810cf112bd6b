package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/utils/clock"
)

// compactRevKey counts compactions in its version. Servers sharing one etcd
// write it with a compare on that version, so only one of them compacts an
// interval; and the write moves the revision on, so that on a cluster where
// nothing else is written old resourceVersions and continue tokens still
// expire (etcd's own periodic compaction never removes the newest
// revision, and on an idle cluster that is the one every token carries).
// kube-apiserver uses the same key the same way.
const compactRevKey = "compact_rev_key"

// Compactor drops etcd history older than one to two intervals, as
// kube-apiserver does: each interval it marks the current revision and
// compacts to the one it marked the interval before.
type Compactor struct {
	store    *Store
	interval time.Duration
	clock    clock.WithTicker
	log      *slog.Logger

	// version is compactRevKey's version as this server last wrote or saw
	// it; rev is the revision of that write or read, the next target.
	version int64
	rev     int64
}

// NewCompactor returns a compactor of s that works every interval.
func NewCompactor(s *Store, interval time.Duration, clk clock.WithTicker, log *slog.Logger) *Compactor {
	return &Compactor{store: s, interval: interval, clock: clk, log: log}
}

// Run compacts every interval until ctx ends. A failed compaction is
// logged and tried again next interval: history grows meanwhile, nothing
// breaks.
func (c *Compactor) Run(ctx context.Context) error {
	t := c.clock.NewTicker(c.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		}
		compacted, err := c.Step(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			c.log.Warn("etcd compaction failed", "err", err)
			continue
		}
		if compacted > 0 {
			c.log.Debug("etcd compacted", "revision", compacted)
		}
	}
}

// Step is one interval's work. It returns the revision it compacted to, or
// 0 when it did not compact: on its first step, or when another server
// sharing the etcd took this interval.
func (c *Compactor) Step(ctx context.Context) (int64, error) {
	resp, err := c.store.client.Txn(ctx).
		If(clientv3.Compare(clientv3.Version(compactRevKey), "=", c.version)).
		Then(clientv3.OpPut(compactRevKey, strconv.FormatInt(c.rev, 10))).
		Else(clientv3.OpGet(compactRevKey)).
		Commit()
	if err != nil {
		return 0, fmt.Errorf("mark the revision to compact next: %w", err)
	}
	target := c.rev
	c.rev = resp.Header.Revision
	if !resp.Succeeded {
		c.version = 0
		if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
			c.version = kvs[0].Version
		}
		return 0, nil
	}
	c.version++
	if target == 0 {
		return 0, nil
	}
	if _, err := c.store.client.Compact(ctx, target); err != nil {
		if errors.Is(err, rpctypes.ErrCompacted) {
			// Someone compacted past target already.
			return 0, nil
		}
		return 0, fmt.Errorf("compact etcd to revision %d: %w", target, err)
	}
	return target, nil
}
