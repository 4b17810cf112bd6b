package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
)

const watchNS = "bench-watch"

// watchResult is the fan-out of rounds updates to n watchers.
type watchResult struct {
	watchers  int
	rounds    int
	received  int
	missing   int
	fromResp  []time.Duration // update response -> watcher has the event (negative clamped to 0)
	fromStart []time.Duration // update request sent -> watcher has the event
	early     int             // events that arrived before the update's response did
	connect   time.Duration   // time to open all watches
}

// arrivals records, per round, when each watcher saw that round's event.
type arrivals struct {
	at    [][]atomic.Int64 // [round][watcher] unix nanos
	count []atomic.Int64
}

func newArrivals(rounds, watchers int) *arrivals {
	a := &arrivals{at: make([][]atomic.Int64, rounds), count: make([]atomic.Int64, rounds)}
	for i := range a.at {
		a.at[i] = make([]atomic.Int64, watchers)
	}
	return a
}

func (a *arrivals) mark(round, watcher int, t time.Time) {
	if round < 0 || round >= len(a.at) {
		return
	}
	if a.at[round][watcher].CompareAndSwap(0, t.UnixNano()) {
		a.count[round].Add(1)
	}
}

// wait blocks until every watcher has seen round, or timeout.
func (a *arrivals) wait(ctx context.Context, round, watchers int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for a.count[round].Load() < int64(watchers) && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(200 * time.Microsecond)
	}
}

func (a *arrivals) collect(res *watchResult, round int, sent, answered time.Time) {
	for w := range a.at[round] {
		ns := a.at[round][w].Load()
		if ns == 0 {
			res.missing++
			continue
		}
		res.received++
		t := time.Unix(0, ns)
		d := t.Sub(answered)
		if d < 0 {
			res.early++
			d = 0
		}
		res.fromResp = append(res.fromResp, d)
		res.fromStart = append(res.fromStart, t.Sub(sent))
	}
}

var roundMarker = []byte(`"bench-round":"`)

// roundOf finds the bench-round label in a watch frame without decoding it.
func roundOf(line []byte) int {
	i := bytes.Index(line, roundMarker)
	if i < 0 {
		return -1
	}
	rest := line[i+len(roundMarker):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return -1
	}
	n, err := strconv.Atoi(string(rest[:j]))
	if err != nil {
		return -1
	}
	return n
}

func benchWatch(ctx context.Context, c config, e *env, rep *report) error {
	if err := e.ensureNamespace(ctx, watchNS); err != nil {
		return err
	}
	cs, err := e.client(0)
	if err != nil {
		return err
	}
	target, err := cs.CoreV1().Pods(watchNS).Create(ctx, benchPod("watch-target"), metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create watch target: %w", err)
	}

	targetJSON, _ := json.Marshal(target)

	// API watchers: raw HTTP watch requests, spread over connections of
	// perConn streams each.
	res := &watchResult{watchers: c.watchers, rounds: c.rounds}
	arr := newArrivals(c.rounds, c.watchers)
	wctx, stopWatches := context.WithCancel(ctx)
	defer stopWatches()
	tlsCfg, err := rest.TLSConfigFor(e.cfg)
	if err != nil {
		return err
	}
	nconn := (c.watchers + c.perConn - 1) / c.perConn
	transports := make([]*http.Transport, nconn)
	for i := range transports {
		transports[i] = &http.Transport{TLSClientConfig: tlsCfg.Clone(), ForceAttemptHTTP2: true}
	}
	defer func() {
		for _, t := range transports {
			t.CloseIdleConnections()
		}
	}()
	url := fmt.Sprintf("%s/api/v1/namespaces/%s/pods?watch=true&resourceVersion=%s&timeoutSeconds=1800", e.cfg.Host, watchNS, target.ResourceVersion)
	logf("watch: opening %d API watches over %d connections", c.watchers, nconn)
	opened := make(chan error, c.watchers)
	sem := make(chan struct{}, 64)
	var readers sync.WaitGroup
	t0 := time.Now()
	for w := 0; w < c.watchers; w++ {
		readers.Add(1)
		go func(w int) {
			defer readers.Done()
			sem <- struct{}{}
			req, _ := http.NewRequestWithContext(wctx, "GET", url, nil)
			req.Header.Set("Accept", "application/json")
			resp, err := (&http.Client{Transport: transports[w/c.perConn]}).Do(req)
			<-sem
			if err == nil && resp.StatusCode != 200 {
				err = fmt.Errorf("watch: %s", resp.Status)
				resp.Body.Close()
			}
			opened <- err
			if err != nil {
				return
			}
			defer resp.Body.Close()
			br := bufio.NewReaderSize(resp.Body, 64<<10)
			for {
				line, err := br.ReadSlice('\n')
				now := time.Now()
				if err != nil && err != bufio.ErrBufferFull {
					return
				}
				arr.mark(roundOf(line), w, now)
			}
		}(w)
	}
	for w := 0; w < c.watchers; w++ {
		if err := <-opened; err != nil {
			return fmt.Errorf("open watch: %w", err)
		}
	}
	res.connect = time.Since(t0)
	logf("watch: %d watches open in %s", c.watchers, res.connect.Round(time.Millisecond))
	if err := sleep(ctx, 500*time.Millisecond); err != nil {
		return err
	}
	for r := 0; r < c.rounds; r++ {
		patch := []byte(fmt.Sprintf(`{"metadata":{"labels":{"bench-round":"%d"}}}`, r))
		sent := time.Now()
		if _, err := cs.CoreV1().Pods(watchNS).Patch(ctx, "watch-target", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("update watch target: %w", err)
		}
		answered := time.Now()
		arr.wait(ctx, r, c.watchers, 30*time.Second)
		arr.collect(res, r, sent, answered)
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
	stopWatches()
	readers.Wait()
	rep.watch = res
	logWatch("API", res)

	// Floor: the same number of etcd watches on one key, each receiving a
	// put of the same size.
	floor := &watchResult{watchers: c.watchers, rounds: c.rounds}
	farr := newArrivals(c.rounds, c.watchers)
	fctx, stopFloor := context.WithCancel(ctx)
	defer stopFloor()
	key := "/bench-floor/watch/" + watchNS + "/watch-target"
	logf("watch: opening %d etcd watches over %d clients", c.watchers, nconn)
	fopened := make(chan error, c.watchers)
	var freaders sync.WaitGroup
	t0 = time.Now()
	for w := 0; w < c.watchers; w++ {
		ec, err := e.etcd(w / c.perConn)
		if err != nil {
			return err
		}
		freaders.Add(1)
		go func(w int) {
			defer freaders.Done()
			// clientv3 multiplexes the watches of one client on one
			// gRPC stream, as the API server's HTTP/2 connections do.
			wch := ec.Watch(clientv3.WithRequireLeader(fctx), key, clientv3.WithCreatedNotify())
			first := true
			for resp := range wch {
				now := time.Now()
				if first {
					first = false
					fopened <- resp.Err()
					if !resp.Created {
						return
					}
					continue
				}
				for _, ev := range resp.Events {
					farr.mark(roundOf(ev.Kv.Value), w, now)
				}
			}
		}(w)
	}
	for w := 0; w < c.watchers; w++ {
		if err := <-fopened; err != nil {
			return fmt.Errorf("open etcd watch: %w", err)
		}
	}
	floor.connect = time.Since(t0)
	if err := sleep(ctx, 500*time.Millisecond); err != nil {
		return err
	}
	fc, _ := e.etcd(0)
	for r := 0; r < c.rounds; r++ {
		// The value is the pod with its round label, like the API's.
		val := fmt.Sprintf(`{"metadata":{"labels":{"bench-round":"%d"}},"pad":"%s"}`, r, bytes.Repeat([]byte("x"), max(0, len(targetJSON)-60)))
		sent := time.Now()
		if _, err := fc.Put(ctx, key, val); err != nil {
			return fmt.Errorf("etcd put: %w", err)
		}
		answered := time.Now()
		farr.wait(ctx, r, c.watchers, 30*time.Second)
		farr.collect(floor, r, sent, answered)
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
	stopFloor()
	freaders.Wait()
	rep.watchFloor = floor
	logWatch("etcd", floor)
	return nil
}

func logWatch(name string, r *watchResult) {
	a := append([]time.Duration(nil), r.fromResp...)
	sortDurations(a)
	logf("watch: %s: %d/%d events received, p50 %s p99 %s max %s (arrived before response: %d)",
		name, r.received, r.received+r.missing, ms(percentile(a, 0.5)), ms(percentile(a, 0.99)), ms(percentile(a, 1)), r.early)
}
