package runtime

import (
	"sync"
	"time"

	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
)

// TimedQueue is a rate-limited queue whose AddAfter follows the injected
// clock, so that tests stepping a fake clock reach deadlines, back-offs
// and TTLs, while retries after errors keep real time (a fake clock that
// is not stepped would otherwise stall them).
type TimedQueue struct {
	workqueue.TypedRateLimitingInterface[string]
	clock clock.Clock

	mu      sync.Mutex
	pending map[string]time.Time // earliest timed requeue per key
	stop    chan struct{}
	once    sync.Once
}

// NewTimedQueue wraps q so that AddAfter follows clk.
func NewTimedQueue(q workqueue.TypedRateLimitingInterface[string], clk clock.Clock) *TimedQueue {
	return &TimedQueue{TypedRateLimitingInterface: q, clock: clk, pending: map[string]time.Time{}, stop: make(chan struct{})}
}

// AddAfter adds key once d has passed on the injected clock. A key waits
// on one timer at a time: a later request than one already pending is
// covered by it, since the reconcile it triggers requeues again.
func (q *TimedQueue) AddAfter(key string, d time.Duration) {
	if d <= 0 {
		q.Add(key)
		return
	}
	at := q.clock.Now().Add(d)
	q.mu.Lock()
	if cur, ok := q.pending[key]; ok && !cur.After(at) {
		q.mu.Unlock()
		return
	}
	q.pending[key] = at
	q.mu.Unlock()
	timer := q.clock.NewTimer(d)
	go func() {
		select {
		case <-timer.C():
		case <-q.stop:
			timer.Stop()
			return
		}
		q.mu.Lock()
		if q.pending[key].Equal(at) {
			delete(q.pending, key)
		}
		q.mu.Unlock()
		q.Add(key)
	}()
}

// ShutDown stops the queue and its pending timers.
func (q *TimedQueue) ShutDown() {
	q.once.Do(func() { close(q.stop) })
	q.TypedRateLimitingInterface.ShutDown()
}
