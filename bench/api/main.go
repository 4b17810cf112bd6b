// Command api benchmarks Gureum's API server against its floor, embedded
// etcd, in one run: Pod creates vs raw etcd puts of the same bytes, lists of
// many pods from the cache vs an etcd range read, watch fan-out to many
// watchers vs etcd watches, the footprint of `gureum server` (cold start,
// restart, RSS), and custom resources: CRDs until Established, and custom
// resource creates and lists vs those of ConfigMaps. It starts and stops
// its own servers (the binary given by -bin) under -work-dir and prints a
// markdown report.
//
// bench/api/run.sh builds everything and runs it; see bench/README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type config struct {
	bin      string
	workDir  string
	quick    bool
	clients  []int
	writeDur time.Duration
	warmDur  time.Duration
	reps     int
	listPods int
	listRuns int
	watchers int
	perConn  int
	rounds   int
	starts   int
	idle     time.Duration
	crds     int
	listCRs  int
	only     map[string]bool
	peer     string // kube-apiserver binary for the writes section's peer column; "" for none
}

func main() {
	var c config
	var clients, only string
	flag.StringVar(&c.bin, "bin", "bin/gureum", "gureum binary to benchmark")
	flag.StringVar(&c.workDir, "work-dir", "", "directory for data dirs and server logs (default: a new temp dir, removed afterwards)")
	flag.BoolVar(&c.quick, "quick", false, "small sizes for a smoke test (under a minute); explicit flags still win")
	flag.StringVar(&clients, "clients", "1,16,64", "concurrent writers, comma-separated")
	flag.DurationVar(&c.writeDur, "write-duration", 5*time.Second, "length of each write trial")
	flag.DurationVar(&c.warmDur, "warmup", 2*time.Second, "untimed warm-up before the write trials (API and etcd each)")
	flag.IntVar(&c.reps, "reps", 3, "write trials per concurrency and target (median reported)")
	flag.IntVar(&c.listPods, "list-pods", 10000, "pods created for the list benchmark")
	flag.IntVar(&c.listRuns, "list-runs", 9, "timed lists per variant (median reported)")
	flag.IntVar(&c.watchers, "watchers", 1000, "concurrent watchers")
	flag.IntVar(&c.perConn, "watchers-per-conn", 100, "watch streams per HTTP/2 connection (Go servers allow 250)")
	flag.IntVar(&c.rounds, "watch-rounds", 5, "updates each watcher must receive (latencies pooled)")
	flag.IntVar(&c.starts, "start-runs", 5, "cold starts and restarts timed (median reported)")
	flag.DurationVar(&c.idle, "idle", 30*time.Second, "idle time before reading RSS (the server releases start-up memory 5 s after it is ready)")
	flag.IntVar(&c.crds, "crds", 20, "CRDs created one after another, each timed until Established")
	flag.IntVar(&c.listCRs, "list-crs", 10000, "custom resources (and as many ConfigMaps) created for the crd section's lists")
	flag.StringVar(&c.peer, "peer-apiserver", os.Getenv("BENCH_PEER_APISERVER"), "upstream kube-apiserver binary: if set, the writes section also starts it against the same embedded etcd (prefix "+peerPrefix+") and runs the same Pod create trials against it (default $BENCH_PEER_APISERVER)")
	flag.StringVar(&only, "only", "", "run only these sections, comma-separated: footprint,reads,watch,writes,crd")
	flag.Parse()

	if c.quick {
		set := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
		def := func(name string, apply func()) {
			if !set[name] {
				apply()
			}
		}
		def("write-duration", func() { c.writeDur = time.Second })
		def("warmup", func() { c.warmDur = 300 * time.Millisecond })
		def("reps", func() { c.reps = 1 })
		def("list-pods", func() { c.listPods = 1000 })
		def("list-runs", func() { c.listRuns = 3 })
		def("watchers", func() { c.watchers = 100 })
		def("watch-rounds", func() { c.rounds = 2 })
		def("start-runs", func() { c.starts = 2 })
		def("idle", func() { c.idle = 2 * time.Second })
		def("crds", func() { c.crds = 5 })
		def("list-crs", func() { c.listCRs = 1000 })
	}
	for _, s := range strings.Split(clients, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fatalf("bad -clients %q", clients)
		}
		c.clients = append(c.clients, n)
	}
	if only != "" {
		c.only = map[string]bool{}
		for _, s := range strings.Split(only, ",") {
			c.only[strings.TrimSpace(s)] = true
		}
	}
	bin, err := filepath.Abs(c.bin)
	if err != nil {
		fatalf("%v", err)
	}
	c.bin = bin
	if _, err := os.Stat(c.bin); err != nil {
		fatalf("gureum binary: %v (build it with: go build -o bin/gureum ./cmd/gureum)", err)
	}
	if c.peer != "" {
		if c.peer, err = filepath.Abs(c.peer); err != nil {
			fatalf("%v", err)
		}
		if _, err := os.Stat(c.peer); err != nil {
			fatalf("-peer-apiserver: %v (build it: cd tools/conformance && CGO_ENABLED=0 go build -o bin/kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver)", err)
		}
		if !c.want("writes") {
			logf("-peer-apiserver is only used by the writes section, which is not selected")
		}
	}
	removeWork := false
	if c.workDir == "" {
		c.workDir, err = os.MkdirTemp("", "gureum-bench-api-")
		if err != nil {
			fatalf("%v", err)
		}
		removeWork = true
	}
	pidFile = filepath.Join(c.workDir, "server.pids")

	ctx, cancel := context.WithCancel(context.Background())
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		<-sigc
		cancel()
		// Interrupted: stop the servers we started and leave.
		stopAll()
		if removeWork {
			os.RemoveAll(c.workDir)
		}
		os.Exit(130)
	}()

	rep, err := run(ctx, c)
	cancel()
	stopAll()
	if removeWork {
		os.RemoveAll(c.workDir)
	}
	if rep != nil {
		fmt.Print(rep.markdown(c))
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench/api: %v\n", err)
		os.Exit(1)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench/api: "+format+"\n", args...)
	stopAll()
	os.Exit(1)
}

func (c config) want(section string) bool { return c.only == nil || c.only[section] }

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// run executes the sections in an order that keeps them from disturbing
// one another: footprint on fresh data dirs, then on one long-lived server
// idle RSS, reads (10k pods), watch, writes, and a restart of that server
// on its now populated data dir; custom resources last, on the restarted
// server, so their objects are in none of the other figures.
func run(ctx context.Context, c config) (*report, error) {
	rep := &report{loadStart: loadAvg()}
	defer func() { rep.loadEnd = loadAvg() }()
	if c.want("footprint") {
		if err := benchStartup(ctx, c, rep); err != nil {
			return rep, fmt.Errorf("startup: %w", err)
		}
	}
	if !c.want("reads") && !c.want("watch") && !c.want("writes") && !c.want("footprint") && !c.want("crd") {
		return rep, nil
	}
	mainDir := filepath.Join(c.workDir, "main")
	logf("starting the main server in %s", mainDir)
	srv, took, err := startServer(ctx, c.bin, c.workDir, mainDir)
	if err != nil {
		return rep, err
	}
	rep.mainStart = took
	env, err := newEnv(ctx, srv)
	if err != nil {
		srv.stop()
		return rep, err
	}
	defer env.close()
	if c.want("footprint") {
		logf("idle %s before reading RSS", c.idle)
		if err := sleep(ctx, c.idle); err != nil {
			return rep, err
		}
		rep.rssIdle, err = srv.rssBytes()
		if err != nil {
			return rep, err
		}
		rep.rssIdleAnon, _ = srv.statusBytes("RssAnon")
		rep.rssIdleFile, _ = srv.statusBytes("RssFile")
	}
	if c.want("reads") {
		if err := benchReads(ctx, c, env, rep); err != nil {
			return rep, fmt.Errorf("reads: %w", err)
		}
	}
	if c.want("watch") {
		if err := benchWatch(ctx, c, env, rep); err != nil {
			return rep, fmt.Errorf("watch: %w", err)
		}
	}
	if c.want("writes") {
		if err := benchWrites(ctx, c, env, rep); err != nil {
			return rep, fmt.Errorf("writes: %w", err)
		}
	}
	if c.want("footprint") {
		rep.rssEnd, _ = srv.rssBytes()
		rep.podsAtRestart, _ = env.countPods(ctx)
		env.close()
		logf("restarting the main server on its populated data dir")
		if err := srv.stop(); err != nil {
			return rep, err
		}
		srv2, took, err := startServer(ctx, c.bin, c.workDir, mainDir)
		if err != nil {
			return rep, err
		}
		rep.restartFull = took
		srv = srv2
		if env, err = newEnv(ctx, srv); err != nil {
			srv.stop()
			return rep, err
		}
		defer env.close()
	}
	if c.want("crd") {
		if err := benchCRD(ctx, c, env, rep); err != nil {
			return rep, fmt.Errorf("crd: %w", err)
		}
	}
	srv.stop()
	return rep, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
