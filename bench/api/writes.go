package main

import (
	"context"
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
	peerCPU  time.Duration // CPU used by the peer kube-apiserver during the trial, if one runs
}

func (t trial) srvCPUPerOp() time.Duration  { return t.srvCPU / time.Duration(max(t.ops, 1)) }
func (t trial) cliCPUPerOp() time.Duration  { return t.cliCPU / time.Duration(max(t.ops, 1)) }
func (t trial) peerCPUPerOp() time.Duration { return t.peerCPU / time.Duration(max(t.ops, 1)) }

func (t trial) rate() float64 { return float64(t.ops) / t.elapsed.Seconds() }

// runTrial runs op from c workers until dur has passed and measures each
// call. Only successful calls count towards throughput and latency.
func runTrial(ctx context.Context, srv *server, c int, dur time.Duration, op func(ctx context.Context, worker, seq int) error) trial {
	return runTrialPeer(ctx, srv, nil, c, dur, op)
}

// runTrialPeer is runTrial that also measures the CPU of a second server
// process (the peer kube-apiserver) when peer is not nil.
func runTrialPeer(ctx context.Context, srv, peer *server, c int, dur time.Duration, op func(ctx context.Context, worker, seq int) error) trial {
	var peer0 time.Duration
	if peer != nil {
		peer0 = peer.cpuTime()
	}
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
	if peer != nil {
		t.peerCPU = peer.cpuTime() - peer0
	}
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

	// With -peer-apiserver: the same creates through upstream
	// kube-apiserver, per rep beside the API and etcd trials.
	peer        []trial
	peerRatios  []float64 // kube-apiserver/etcd throughput
	vsPeer      []float64 // Gureum/kube-apiserver throughput
	vsPeerP99   []float64 // Gureum/kube-apiserver p99
	peerEtcdP99 []float64 // kube-apiserver/etcd p99
}

// Write trial targets.
const (
	targetAPI  = iota // Gureum's API server
	targetEtcd        // raw etcd puts
	targetPeer        // upstream kube-apiserver (-peer-apiserver)
)

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
	var peer *peerServer
	if c.peer != "" {
		logf("writes: starting kube-apiserver %s on the server's etcd (prefix %s)", c.peer, peerPrefix)
		var err error
		peer, err = startPeer(ctx, c, e)
		if err != nil {
			return fmt.Errorf("peer kube-apiserver: %w", err)
		}
		defer peer.stop()
		logf("writes: kube-apiserver %s ready in %s; idle %s before reading its RSS", peer.version, peer.started.Round(time.Millisecond), c.idle)
		if err := sleep(ctx, c.idle); err != nil {
			return err
		}
		peer.rss, _ = peer.proc.rssBytes()
		peer.rssAnon, _ = peer.proc.statusBytes("RssAnon")
		peer.rssFile, _ = peer.proc.statusBytes("RssFile")
		rep.peer = &peerResult{version: peer.version, flags: peer.peerFlags(c.workDir), started: peer.started,
			rss: peer.rss, rssAnon: peer.rssAnon, rssFile: peer.rssFile, idle: c.idle}
		if err := peer.prepareNamespace(ctx, writeNS); err != nil {
			return err
		}
	}
	logf("writes: connecting %d API and %d etcd clients", maxC, maxC)
	if err := e.warm(ctx, maxC); err != nil {
		return err
	}
	if peer != nil {
		logf("writes: connecting %d kube-apiserver clients", maxC)
		if err := peer.warm(ctx, maxC); err != nil {
			return fmt.Errorf("kube-apiserver clients: %w", err)
		}
	}
	// The floor writes exactly what the API server stores for such a pod:
	// the bytes it put in etcd for a sample.
	cs, _ := e.client(0)
	if _, err := cs.CoreV1().Pods(writeNS).Create(ctx, benchPod("payload-sample"), metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create sample pod: %w", err)
	}
	ec0, _ := e.etcd(0)
	stored, err := ec0.Get(ctx, "/registry/pods/"+writeNS+"/payload-sample")
	if err != nil || len(stored.Kvs) != 1 {
		return fmt.Errorf("read the sample pod from etcd: %v (%d keys)", err, len(stored.Kvs))
	}
	payload := stored.Kvs[0].Value
	payloadStr := string(payload)
	rep.payloadLen = len(payload)
	if peer != nil {
		// What kube-apiserver stores for the same pod (protobuf, its
		// default storage encoding, after its own admission defaults).
		pcs, _ := peer.client(0)
		if _, err := pcs.CoreV1().Pods(writeNS).Create(ctx, benchPod("payload-sample"), metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create sample pod through kube-apiserver: %w", err)
		}
		ec, _ := e.etcd(0)
		key := peerPrefix + "/pods/" + writeNS + "/payload-sample"
		resp, err := ec.Get(ctx, key)
		if err != nil {
			return fmt.Errorf("read %s: %w", key, err)
		}
		if len(resp.Kvs) != 1 {
			return fmt.Errorf("kube-apiserver's sample pod is not at %s in etcd", key)
		}
		rep.peer.storedLen = len(resp.Kvs[0].Value)
		if ours, err := ec.Get(ctx, "/registry/pods/"+writeNS+"/payload-sample"); err == nil && len(ours.Kvs) == 1 {
			rep.peer.oursStoredLen = len(ours.Kvs[0].Value)
		}
	}

	var runID int
	apiOp := func(prefix string) func(ctx context.Context, w, i int) error {
		return func(ctx context.Context, w, i int) error {
			cs, _ := e.client(w)
			_, err := cs.CoreV1().Pods(writeNS).Create(ctx, benchPod(fmt.Sprintf("%s-%d-%d", prefix, w, i)), metav1.CreateOptions{})
			return err
		}
	}
	peerOp := func(prefix string) func(ctx context.Context, w, i int) error {
		return func(ctx context.Context, w, i int) error {
			cs, _ := peer.client(w)
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
	var peerProc *server
	if peer != nil {
		peerProc = peer.proc
	}
	// Each trial starts from the same state: the pods (or keys) of the
	// previous trial are removed straight from etcd, untimed, and the API
	// server's cache is given time to apply the deletions. Otherwise every
	// trial would write into a larger cache and heap than the one before.
	settle := min(time.Second, c.writeDur/5)
	runOne := func(target, clients int, dur time.Duration) trial {
		runID++
		prefix := fmt.Sprintf("w%03d", runID)
		var t trial
		var key string
		switch target {
		case targetAPI:
			t = runTrialPeer(ctx, e.srv, peerProc, clients, dur, apiOp(prefix))
			key = "/registry/pods/" + writeNS + "/" + prefix + "-"
		case targetEtcd:
			t = runTrialPeer(ctx, e.srv, peerProc, clients, dur, etcdOp(prefix))
			key = "/bench-floor/pods/" + writeNS + "/" + prefix + "-"
		case targetPeer:
			t = runTrialPeer(ctx, e.srv, peerProc, clients, dur, peerOp(prefix))
			key = peerPrefix + "/pods/" + writeNS + "/" + prefix + "-"
		}
		ec, _ := e.etcd(0)
		if _, err := ec.Delete(ctx, key, clientv3.WithPrefix()); err != nil {
			logf("writes: clean up %s: %v", key, err)
		}
		// A consistent list returns once the cache has caught up.
		if _, err := cs.CoreV1().Pods(writeNS).List(ctx, metav1.ListOptions{}); err != nil {
			logf("writes: list after clean-up: %v", err)
		}
		if peer != nil {
			pcs, _ := peer.client(0)
			if _, err := pcs.CoreV1().Pods(writeNS).List(ctx, metav1.ListOptions{}); err != nil {
				logf("writes: kube-apiserver list after clean-up: %v", err)
			}
		}
		_ = sleep(ctx, settle)
		return t
	}
	logf("writes: warm-up %s each at %d clients", c.warmDur, maxC)
	runOne(targetAPI, maxC, c.warmDur)
	runOne(targetEtcd, maxC, c.warmDur)
	if peer != nil {
		runOne(targetPeer, maxC, c.warmDur)
	}

	for _, n := range c.clients {
		row := writeRow{clients: n, payloadLen: len(payload)}
		for r := 0; r < c.reps; r++ {
			// Alternate which side goes first so drift (compaction,
			// growing data) does not favour either; with the peer, rotate
			// the three so each goes first, second and third once in
			// three reps.
			var a, b, k trial
			if peer == nil {
				if r%2 == 0 {
					a = runOne(targetAPI, n, c.writeDur)
					b = runOne(targetEtcd, n, c.writeDur)
				} else {
					b = runOne(targetEtcd, n, c.writeDur)
					a = runOne(targetAPI, n, c.writeDur)
				}
			} else {
				order := []int{targetAPI, targetEtcd, targetPeer}
				for j := 0; j < 3; j++ {
					switch target := order[(j+r)%3]; target {
					case targetAPI:
						a = runOne(target, n, c.writeDur)
					case targetEtcd:
						b = runOne(target, n, c.writeDur)
					case targetPeer:
						k = runOne(target, n, c.writeDur)
					}
				}
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
			if peer != nil {
				if k.ops == 0 {
					return fmt.Errorf("no kube-apiserver create succeeded at %d clients: %v", n, k.firstErr)
				}
				row.peer = append(row.peer, k)
				row.peerRatios = append(row.peerRatios, k.rate()/b.rate())
				row.vsPeer = append(row.vsPeer, a.rate()/k.rate())
				row.vsPeerP99 = append(row.vsPeerP99, float64(a.p99)/float64(k.p99))
				row.peerEtcdP99 = append(row.peerEtcdP99, float64(k.p99)/float64(b.p99))
				logf("writes: %2d clients rep %d: kube-apiserver %.0f/s p50 %s p99 %s cpu/op kube-apiserver %s gureum process %s cli %s (errors %d) | kube-apiserver/etcd %.2f | Gureum/kube-apiserver %.2f",
					n, r+1, k.rate(), ms(k.p50), ms(k.p99), us(k.peerCPUPerOp()), us(k.srvCPUPerOp()), us(k.cliCPUPerOp()), k.errs,
					k.rate()/b.rate(), a.rate()/k.rate())
				if k.errs > 0 {
					logf("writes: kube-apiserver first error: %v", k.firstErr)
				}
			}
		}
		rep.writes = append(rep.writes, row)
	}
	return nil
}
