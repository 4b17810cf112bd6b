package apiserver

import (
	"errors"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
)

// handlerWorkers runs request handlers on goroutines that outlive one
// request. Go's HTTP server (and the in-process transport) starts every
// request on a new goroutine with a small stack, and an update grows it
// step by step to tens of KB, each step copying the whole stack and
// walking every frame: at 1,000 nodes' Lease renewals that growth was 5%
// of an idle server's CPU, more than the field manager's own work. A
// worker's stack stays grown between requests (the GC shrinks it again
// when it sits idle). gRPC's server offers the same for the same reason
// (NumStreamWorkers).
type handlerWorkers struct {
	jobs chan *handlerJob
	stop chan struct{}
	once sync.Once
	// live counts the workers; at max a request runs on its own
	// goroutine instead.
	live atomic.Int32
	max  int32
	log  *slog.Logger
}

type handlerJob struct {
	f func()
	// done carries what f panicked with, or nil.
	done chan any
}

var handlerJobs = sync.Pool{New: func() any { return &handlerJob{done: make(chan any, 1)} }}

func newHandlerWorkers(max int, log *slog.Logger) *handlerWorkers {
	return &handlerWorkers{jobs: make(chan *handlerJob), stop: make(chan struct{}), max: int32(max), log: log}
}

// run calls f on an idle worker, a new one, or, with max of them busy, on
// the calling goroutine, and returns when f has. A panic in f panics
// again here, on the request's goroutine, as if f had run there.
func (p *handlerWorkers) run(f func()) {
	j := handlerJobs.Get().(*handlerJob)
	j.f = f
	select {
	case p.jobs <- j:
	default:
		if p.live.Add(1) > p.max {
			p.live.Add(-1)
			j.f = nil
			handlerJobs.Put(j)
			f()
			return
		}
		go p.work(j)
	}
	v := <-j.done
	j.f = nil
	handlerJobs.Put(j)
	if v != nil {
		panic(v)
	}
}

func (p *handlerWorkers) work(j *handlerJob) {
	defer p.live.Add(-1)
	for {
		j.done <- p.call(j.f)
		select {
		case j = <-p.jobs:
		case <-p.stop:
			return
		}
	}
}

func (p *handlerWorkers) call(f func()) (panicked any) {
	defer func() {
		if panicked = recover(); panicked != nil {
			if err, ok := panicked.(error); !ok || !errors.Is(err, http.ErrAbortHandler) {
				// The panic goes on from the request's goroutine, whose
				// stack does not show where it happened: this one does.
				p.log.Error("request handler panicked", "panic", panicked, "stack", string(debug.Stack()))
			}
		}
	}()
	f()
	return nil
}

// close lets idle workers end; requests still arriving get workers that
// end after them.
func (p *handlerWorkers) close() { p.once.Do(func() { close(p.stop) }) }
