package main

import (
	"fmt"
	"strings"
	"time"
)

type report struct {
	payloadLen int
	writes     []writeRow
	peer       *peerResult // -peer-apiserver

	fillPods int
	fillTime time.Duration
	lists    []*listVariant

	watch, watchFloor *watchResult

	crd *crdResult

	coldStarts, restarts []time.Duration
	mainStart            time.Duration
	restartFull          time.Duration
	podsAtRestart        int64
	rssIdle, rssPods     int64
	rssIdleAnon          int64 // private memory
	rssIdleFile          int64 // resident pages of mapped files
	rssEnd               int64
	loadStart, loadEnd   string
}

type target struct {
	name, figure string
	ok           bool
}

func (r *report) markdown(c config) string {
	var b strings.Builder
	var targets []target
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }

	p("## API benchmarks\n\n")
	mode := "full"
	if c.quick {
		mode = "quick (smoke test; figures not comparable to a full run)"
	}
	p("Mode: %s. Each API figure is measured side by side, in the same run, with its floor on the same embedded etcd. "+
		"Load average (1, 5, 15 min) at start: %s; at end: %s.\n\n", mode, r.loadStart, r.loadEnd)

	if len(r.writes) > 0 {
		p("### Writes: Pod create (client-go) vs raw etcd put of the same bytes\n\n")
		p("Each client is a client-go typed clientset (protobuf on the wire, client-go's default for built-in types; QPS and burst 10^6) with its own connection; %d trial(s) of %s per cell, API and etcd alternating, medians shown. "+
			"The etcd payload is the created pod exactly as the server stored it (%d bytes), put under a separate prefix by clientv3.\n\n",
			c.reps, c.writeDur, r.payloadLen)
		p("| Clients | API creates/s | API p50 | API p99 | etcd puts/s | etcd p50 | etcd p99 | API/etcd throughput | API/etcd p99 |\n")
		p("|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, w := range r.writes {
			ar, er, ap50, ap99, ep50, ep99 := medians(w)
			ratio := medianFloat(w.ratios)
			p("| %d | %.0f | %s | %s | %.0f | %s | %s | **%.2f** | %.1f× |\n", w.clients, ar, ms(ap50), ms(ap99), er, ms(ep50), ms(ep99), ratio, medianFloat(w.p99Ratios))
			targets = append(targets, target{fmt.Sprintf("writes at %d clients: API ≥ 50%% of etcd throughput", w.clients), fmt.Sprintf("%.0f%%", ratio*100), ratio >= 0.5})
			if w.clients == 16 {
				targets = append(targets, target{"writes at 16 clients: API p99 < 50 ms", ms(ap99), ap99 < 50*time.Millisecond})
			}
			errs := 0
			for _, t := range w.api {
				errs += t.errs
			}
			if errs > 0 {
				p("| | %d API errors | | | | | | | |\n", errs)
			}
		}
		p("\nCPU per operation (median of trials; the server process holds both the API server and etcd, so the etcd column is the floor's cost " +
			"and the API column includes its own etcd transaction; the benchmark client shares the same 2 cores):\n\n")
		p("| Clients | Server CPU / create (API) | Server CPU / put (etcd) | API/etcd | Client CPU / create | Client CPU / put |\n|---:|---:|---:|---:|---:|---:|\n")
		for _, w := range r.writes {
			var as, es, ac, ec []time.Duration
			for _, t := range w.api {
				as, ac = append(as, t.srvCPUPerOp()), append(ac, t.cliCPUPerOp())
			}
			for _, t := range w.etcd {
				es, ec = append(es, t.srvCPUPerOp()), append(ec, t.cliCPUPerOp())
			}
			a, e := medianDuration(as), medianDuration(es)
			p("| %d | %s | %s | %.1f× | %s | %s |\n", w.clients, us(a), us(e), float64(a)/float64(max(e, 1)), us(medianDuration(ac)), us(medianDuration(ec)))
		}
		p("\n")
		if r.peer != nil {
			r.peer.markdown(r, p)
		}
	}

	if len(r.lists) > 0 {
		p("### Reads: list %d pods in one namespace\n\n", r.fillPods)
		p("The pods were created by 64 concurrent clients in %s (%.0f creates/s). Median and fastest of %d lists each; "+
			"client-go lists include decoding on the client, raw GETs only read the body.\n\n",
			r.fillTime.Round(time.Millisecond), float64(r.fillPods)/r.fillTime.Seconds(), len(r.lists[0].times))
		floor := medianDuration(r.lists[len(r.lists)-1].times)
		p("| Variant | Median | Fastest | Bytes | vs etcd range |\n|---|---:|---:|---:|---:|\n")
		for _, v := range r.lists {
			med := medianDuration(v.times)
			bytes := ""
			if v.bytes > 0 {
				bytes = fmt.Sprintf("%.1f MB", float64(v.bytes)/1e6)
			}
			p("| %s | %s | %s | %s | %.1f× |\n", v.name, ms(med), ms(minDuration(v.times)), bytes, float64(med)/float64(floor))
		}
		p("\n")
		for _, v := range r.lists[:2] {
			med := medianDuration(v.times)
			targets = append(targets, target{fmt.Sprintf("list %d pods, %s: < 100 ms", r.fillPods, v.name), ms(med), med < 100*time.Millisecond})
		}
	}

	if r.watch != nil {
		p("### Watch fan-out: %d watchers on one namespace, %d updates\n\n", r.watch.watchers, r.watch.rounds)
		p("API watchers are raw HTTP watch requests, %d streams per HTTP/2 connection; each update is a merge patch of a label. "+
			"Latency runs from the update's response (or, last column, its request) to each watcher reading the event; "+
			"events that arrived before the response count as 0. The floor is the same number of clientv3 watches on one key, "+
			"timed from the put's response.\n\n", c.perConn)
		p("| | Watches open in | Events received | p50 | p99 | max | p99 from request sent |\n|---|---:|---:|---:|---:|---:|---:|\n")
		row := func(name string, w *watchResult) time.Duration {
			a := append([]time.Duration(nil), w.fromResp...)
			s := append([]time.Duration(nil), w.fromStart...)
			sortDurations(a)
			sortDurations(s)
			p("| %s | %s | %d / %d | %s | %s | %s | %s |\n", name, ms(w.connect), w.received, w.received+w.missing,
				ms(percentile(a, 0.5)), ms(percentile(a, 0.99)), ms(percentile(a, 1)), ms(percentile(s, 0.99)))
			return percentile(a, 0.99)
		}
		p99 := row("API watch", r.watch)
		if r.watchFloor != nil {
			row("floor: etcd watch", r.watchFloor)
		}
		p("\n")
		ok := p99 < 100*time.Millisecond && r.watch.missing == 0
		fig := ms(p99)
		if r.watch.missing > 0 {
			fig += fmt.Sprintf(", %d events never arrived", r.watch.missing)
		}
		targets = append(targets, target{fmt.Sprintf("watch: %d watchers, p99 < 100 ms", r.watch.watchers), fig, ok})
	}

	if len(r.coldStarts) > 0 || r.rssIdle > 0 {
		p("### Footprint: `gureum server --disable-agent`\n\n")
		p("| Measurement | Value | Runs |\n|---|---:|---|\n")
		if len(r.coldStarts) > 0 {
			med := medianDuration(r.coldStarts)
			p("| Cold start to /readyz, fresh data dir (median) | %s | %s |\n", ms(med), list(r.coldStarts))
			targets = append(targets, target{"cold start to /readyz < 1 s", ms(med), med < time.Second})
		}
		if len(r.restarts) > 0 {
			p("| Restart to /readyz, existing data dir, bootstrap objects only (median) | %s | %s |\n", ms(medianDuration(r.restarts)), list(r.restarts))
		}
		if r.restartFull > 0 {
			p("| Restart to /readyz with %d pods stored (once) | %s | |\n", r.podsAtRestart, ms(r.restartFull))
		}
		if r.rssIdle > 0 {
			p("| RSS after %s idle (fresh server) | %s | anonymous %s, file-backed %s |\n", c.idle, mb(r.rssIdle), mb(r.rssIdleAnon), mb(r.rssIdleFile))
			targets = append(targets, target{"idle RSS < 100 MB", mb(r.rssIdle), r.rssIdle < 100e6})
		}
		if r.peer != nil && r.peer.rss > 0 {
			p("| Peer: upstream kube-apiserver %s alone (its etcd is in the Gureum process), RSS after %s idle from ready | %s | anonymous %s, file-backed %s |\n",
				r.peer.version, r.peer.idle, mb(r.peer.rss), mb(r.peer.rssAnon), mb(r.peer.rssFile))
		}
		if r.rssPods > 0 {
			p("| RSS with %d pods, after %s idle | %s | |\n", r.fillPods, c.idle, mb(r.rssPods))
		}
		if r.rssEnd > 0 {
			p("| RSS at the end (%d pods incl. write benchmark) | %s | |\n", r.podsAtRestart, mb(r.rssEnd))
		}
		p("\n")
	}

	if r.crd != nil {
		r.crd.markdown(c, p)
	}

	if len(targets) > 0 {
		p("### Targets\n\n| Target | Figure | Result |\n|---|---:|---|\n")
		for _, t := range targets {
			p("| %s | %s | %s |\n", t.name, t.figure, verdict(t.ok))
		}
		p("\n")
	}
	return b.String()
}

func medians(w writeRow) (apiRate, etcdRate float64, ap50, ap99, ep50, ep99 time.Duration) {
	var ar, er []float64
	var a50, a99, e50, e99 []time.Duration
	for _, t := range w.api {
		ar = append(ar, t.rate())
		a50 = append(a50, t.p50)
		a99 = append(a99, t.p99)
	}
	for _, t := range w.etcd {
		er = append(er, t.rate())
		e50 = append(e50, t.p50)
		e99 = append(e99, t.p99)
	}
	return medianFloat(ar), medianFloat(er), medianDuration(a50), medianDuration(a99), medianDuration(e50), medianDuration(e99)
}

func list(ds []time.Duration) string {
	var s []string
	for _, d := range ds {
		s = append(s, ms(d))
	}
	return strings.Join(s, ", ")
}
