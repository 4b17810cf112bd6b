package apiserver

import (
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"
)

func TestHandlerWorkersReuseOneWorkerForSequentialRequests(t *testing.T) {
	p := newHandlerWorkers(8, slog.New(slog.DiscardHandler))
	defer p.close()
	n := 0
	for range 100 {
		p.run(func() { n++ })
	}
	if n != 100 {
		t.Fatalf("ran %d of 100 handlers", n)
	}
	if live := p.live.Load(); live != 1 {
		t.Fatalf("%d workers for 100 requests one after another, want 1", live)
	}
}

func TestHandlerWorkersRunConcurrentRequestsPastTheirLimit(t *testing.T) {
	p := newHandlerWorkers(2, slog.New(slog.DiscardHandler))
	defer p.close()
	const n = 5
	// Every handler waits for all n to have started: a request queued
	// behind a busy worker would never start, and the test would time out.
	var started sync.WaitGroup
	started.Add(n)
	release := make(chan struct{})
	var done sync.WaitGroup
	for range n {
		done.Add(1)
		go func() {
			defer done.Done()
			p.run(func() {
				started.Done()
				<-release
			})
		}()
	}
	waited := make(chan struct{})
	go func() { started.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(10 * time.Second):
		t.Fatal("requests past the worker limit waited for a worker instead of running")
	}
	if live := p.live.Load(); live != 2 {
		t.Errorf("%d workers with 5 requests in flight, want the limit, 2", live)
	}
	close(release)
	done.Wait()
}

func TestHandlerWorkersPanicOnTheRequestsGoroutine(t *testing.T) {
	p := newHandlerWorkers(1, slog.New(slog.DiscardHandler))
	defer p.close()
	boom := errors.New("boom")
	func() {
		defer func() {
			if v := recover(); v != boom {
				t.Fatalf("recovered %v, want the handler's panic value", v)
			}
		}()
		p.run(func() { panic(boom) })
		t.Fatal("run returned after its handler panicked")
	}()
	ran := false
	p.run(func() { ran = true })
	if !ran || p.live.Load() != 1 {
		t.Fatalf("after a panic: ran %v, %d workers; want the worker to carry on", ran, p.live.Load())
	}
}

func TestHandlerWorkersEndWhenClosed(t *testing.T) {
	p := newHandlerWorkers(4, slog.New(slog.DiscardHandler))
	p.run(func() {})
	p.close()
	deadline := time.Now().Add(10 * time.Second)
	for p.live.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d workers still live after close", p.live.Load())
		}
		time.Sleep(time.Millisecond)
	}
	ran := false
	p.run(func() { ran = true })
	if !ran {
		t.Fatal("a request after close did not run")
	}
}

// deep uses about depth KB of stack.
func deep(depth int) byte {
	var buf [1024]byte
	buf[depth%len(buf)] = byte(depth)
	if depth == 0 {
		return buf[0]
	}
	return deep(depth-1) + buf[depth%len(buf)]
}

// BenchmarkHandlerStacks: a handler that needs 32 KB of stack, on a new
// goroutine per request (as net/http runs it) and on a worker.
func BenchmarkHandlerStacks(b *testing.B) {
	b.Run("goroutine", func(b *testing.B) {
		for range b.N {
			done := make(chan struct{})
			go func() { deep(32); close(done) }()
			<-done
		}
	})
	b.Run("worker", func(b *testing.B) {
		p := newHandlerWorkers(8, slog.New(slog.DiscardHandler))
		defer p.close()
		for range b.N {
			p.run(func() { deep(32) })
		}
	})
}
