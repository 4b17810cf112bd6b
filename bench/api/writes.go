package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const writeNS = "bench-write"

// trial is one timed run of c workers issuing operations back to back.
type trial struct {
	ops      int
	errs     int
	firstErr error
	elapsed  time.Duration
	p50, p99 time.Duration
	srvCPU   time.Duration // CPU used by the server process (API and etcd) during the trial
	cliCPU   time.Duration // CPU used by this benchmark process during the trial
}

func (t trial) srvCPUPerOp() time.Duration { return t.srvCPU / time.Duration(max(t.ops, 1)) }
func (t trial) cliCPUPerOp() time.Duration { return t.cliCPU / time.Duration(max(t.ops, 1)) }

func (t trial) rate() float64 { return float64(t.ops) / t.elapsed.Seconds() }

// runTrial runs op from c workers until dur has passed and measures each
// call. Only successful calls count towards throughput and latency.
func runTrial(ctx context.Context, srv *server, c int, dur time.Duration, op func(ctx context.Context, worker, seq int) error) trial {
	srv0, cli0 := srv.cpuTime(), selfCPU()
	lats := make([][]time.Duration, c)
	errs := make([]int, c)
	firstErrs := make([]error, c)
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(dur)
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			l := make([]time.Duration, 0, 4096)
			for i := 0; ctx.Err() == nil; i++ {
				t0 := time.Now()
				if !t0.Before(deadline) {
					break
				}
				err := op(ctx, w, i)
				d := time.Since(t0)
				if err != nil {
					errs[w]++
					if firstErrs[w] == nil {
						firstErrs[w] = err
					}
					continue
				}
				l = append(l, d)
			}
			lats[w] = l
		}(w)
	}
	wg.Wait()
	t := trial{elapsed: time.Since(start), srvCPU: srv.cpuTime() - srv0, cliCPU: selfCPU() - cli0}
	var all []time.Duration
	for w := 0; w < c; w++ {
		all = append(all, lats[w]...)
		t.errs += errs[w]
		if t.firstErr == nil {
			t.firstErr = firstErrs[w]
		}
	}
	t.ops = len(all)
	sortDurations(all)
	t.p50, t.p99 = percentile(all, 0.50), percentile(all, 0.99)
	return t
}

// writeRow is the write benchmark at one concurrency.
type writeRow struct {
	clients    int
	api, etcd  []trial
	ratios     []float64 // API/etcd throughput, per side-by-side pair
	p99Ratios  []float64
	payloadLen int
}

func benchWrites(ctx context.Context, c config, e *env, rep *report) error {
	if err := e.ensureNamespace(ctx, writeNS); err != nil {
		return err
	}
	maxC := 0
	for _, n := range c.clients {
		if n > maxC {
			maxC = n
		}
	}
	logf("writes: connecting %d API and %d etcd clients", maxC, maxC)
	if err := e.warm(ctx, maxC); err != nil {
		return err
	}
	// The floor writes exactly what the API server stores for such a pod:
	// the object as created (defaults applied), JSON-encoded with
	// apiVersion and kind, without resourceVersion.
	cs, _ := e.client(0)
	created, err := cs.CoreV1().Pods(writeNS).Create(ctx, benchPod("payload-sample"), metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create sample pod: %w", err)
	}
	created.ResourceVersion = ""
	created.APIVersion, created.Kind = "v1", "Pod"
	payload, err := json.Marshal(created)
	if err != nil {
		return err
	}
	payloadStr := string(payload)
	rep.payloadLen = len(payload)

	var runID int
	apiOp := func(prefix string) func(ctx context.Context, w, i int) error {
		return func(ctx context.Context, w, i int) error {
			cs, _ := e.client(w)
			_, err := cs.CoreV1().Pods(writeNS).Create(ctx, benchPod(fmt.Sprintf("%s-%d-%d", prefix, w, i)), metav1.CreateOptions{})
			return err
		}
	}
	etcdOp := func(prefix string) func(ctx context.Context, w, i int) error {
		return func(ctx context.Context, w, i int) error {
			ec, _ := e.etcd(w)
			_, err := ec.Put(ctx, fmt.Sprintf("/bench-floor/pods/%s/%s-%d-%d", writeNS, prefix, w, i), payloadStr)
			return err
		}
	}
	// Each trial starts from the same state: the pods (or keys) of the
	// previous trial are removed straight from etcd, untimed, and the API
	// server's cache is given time to apply the deletions. Otherwise every
	// trial would write into a larger cache and heap than the one before.
	settle := min(time.Second, c.writeDur/5)
	runOne := func(api bool, clients int, dur time.Duration) trial {
		runID++
		prefix := fmt.Sprintf("w%03d", runID)
		var t trial
		if api {
			t = runTrial(ctx, e.srv, clients, dur, apiOp(prefix))
		} else {
			t = runTrial(ctx, e.srv, clients, dur, etcdOp(prefix))
		}
		key := "/bench-floor/pods/" + writeNS + "/" + prefix + "-"
		if api {
			key = "/registry/pods/" + writeNS + "/" + prefix + "-"
		}
		ec, _ := e.etcd(0)
		if _, err := ec.Delete(ctx, key, clientv3.WithPrefix()); err != nil {
			logf("writes: clean up %s: %v", key, err)
		}
		// A consistent list returns once the cache has caught up.
		if _, err := cs.CoreV1().Pods(writeNS).List(ctx, metav1.ListOptions{}); err != nil {
			logf("writes: list after clean-up: %v", err)
		}
		_ = sleep(ctx, settle)
		return t
	}
	logf("writes: warm-up %s each at %d clients", c.warmDur, maxC)
	runOne(true, maxC, c.warmDur)
	runOne(false, maxC, c.warmDur)

	for _, n := range c.clients {
		row := writeRow{clients: n, payloadLen: len(payload)}
		for r := 0; r < c.reps; r++ {
			// Alternate which side goes first so drift (compaction,
			// growing data) does not favour either.
			var a, b trial
			if r%2 == 0 {
				a = runOne(true, n, c.writeDur)
				b = runOne(false, n, c.writeDur)
			} else {
				b = runOne(false, n, c.writeDur)
				a = runOne(true, n, c.writeDur)
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if a.ops == 0 {
				return fmt.Errorf("no API create succeeded at %d clients: %v", n, a.firstErr)
			}
			if b.ops == 0 {
				return fmt.Errorf("no etcd put succeeded at %d clients: %v", n, b.firstErr)
			}
			row.api = append(row.api, a)
			row.etcd = append(row.etcd, b)
			row.ratios = append(row.ratios, a.rate()/b.rate())
			row.p99Ratios = append(row.p99Ratios, float64(a.p99)/float64(b.p99))
			logf("writes: %2d clients rep %d: API %.0f/s p50 %s p99 %s cpu/op srv %s cli %s (errors %d) | etcd %.0f/s p50 %s p99 %s cpu/op srv %s cli %s (errors %d) | ratio %.2f | load %s",
				n, r+1, a.rate(), ms(a.p50), ms(a.p99), us(a.srvCPUPerOp()), us(a.cliCPUPerOp()), a.errs,
				b.rate(), ms(b.p50), ms(b.p99), us(b.srvCPUPerOp()), us(b.cliCPUPerOp()), b.errs, a.rate()/b.rate(), loadAvg())
		}
		rep.writes = append(rep.writes, row)
	}
	return nil
}
