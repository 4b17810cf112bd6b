package replicaset

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
)

// expectationsTTL bounds how long a controller waits for its own writes to
// show up in the informer before it trusts the cache again; a lost watch
// event must not stall a ReplicaSet forever.
const expectationsTTL = 5 * time.Minute

// Expectations remembers, per owner key, the pod creations and deletions a
// controller has asked for but not yet seen in its informer, so that it
// does not act twice on a stale cache (which would over-create pods).
type Expectations struct {
	mu  sync.Mutex
	clk clock.Clock
	m   map[string]*expectation
}

type expectation struct {
	adds  int
	dels  map[types.UID]struct{}
	since time.Time
}

// NewExpectations makes an empty set of expectations.
func NewExpectations(clk clock.Clock) *Expectations {
	return &Expectations{clk: clk, m: map[string]*expectation{}}
}

// Satisfied reports whether the owner's cache can be trusted: nothing is
// outstanding, or what is outstanding is too old to wait for.
func (e *Expectations) Satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.m[key]
	if x == nil || (x.adds <= 0 && len(x.dels) == 0) {
		return true
	}
	return e.clk.Since(x.since) > expectationsTTL
}

// ExpectCreations records that n pods are about to be created.
func (e *Expectations) ExpectCreations(key string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.m[key] = &expectation{adds: n, since: e.clk.Now()}
}

// ExpectDeletions records the pods about to be deleted.
func (e *Expectations) ExpectDeletions(key string, uids []types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := &expectation{dels: map[types.UID]struct{}{}, since: e.clk.Now()}
	for _, u := range uids {
		x.dels[u] = struct{}{}
	}
	e.m[key] = x
}

// CreationObserved lowers the outstanding creations by one (a pod showed
// up, or a create failed and will never show up).
func (e *Expectations) CreationObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x := e.m[key]; x != nil && x.adds > 0 {
		x.adds--
	}
}

// DeletionObserved marks one pod's deletion as seen; seeing it twice is
// harmless, which is why deletions are tracked by UID.
func (e *Expectations) DeletionObserved(key string, uid types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x := e.m[key]; x != nil {
		delete(x.dels, uid)
	}
}

// Forget drops everything about key (its owner is gone).
func (e *Expectations) Forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}
