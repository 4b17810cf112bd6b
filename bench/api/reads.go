package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

const listNS = "bench-list"

// listVariant is one way of reading the same pods, timed listRuns times.
type listVariant struct {
	name  string
	times []time.Duration
	bytes int
	items int
}

func benchReads(ctx context.Context, c config, e *env, rep *report) error {
	if err := e.ensureNamespace(ctx, listNS); err != nil {
		return err
	}
	const workers = 64
	if err := e.warm(ctx, workers); err != nil {
		return err
	}
	logf("reads: creating %d pods with %d clients", c.listPods, workers)
	var next atomic.Int64
	var failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			cs, _ := e.client(w)
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(c.listPods) {
					return
				}
				_, err := cs.CoreV1().Pods(listNS).Create(ctx, benchPod(fmt.Sprintf("list-%06d", i)), metav1.CreateOptions{})
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
		}(w)
	}
	wg.Wait()
	rep.fillTime = time.Since(start)
	rep.fillPods = c.listPods
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("%d of %d creates failed; first: %v", n, c.listPods, firstErr.Load())
	}
	logf("reads: created %d pods in %s (%.0f/s)", c.listPods, rep.fillTime.Round(time.Millisecond), float64(c.listPods)/rep.fillTime.Seconds())

	if c.want("footprint") {
		logf("reads: idle %s before reading RSS", c.idle)
		if err := sleep(ctx, c.idle); err != nil {
			return err
		}
		var err error
		rep.rssPods, err = e.srv.rssBytes()
		if err != nil {
			return err
		}
	}

	cs, _ := e.client(0)
	hc, err := rest.HTTPClientFor(e.restConfig())
	if err != nil {
		return err
	}
	defer hc.CloseIdleConnections()
	ec, _ := e.etcd(0)

	jcfg := e.restConfig()
	jcfg.ContentType, jcfg.AcceptContentTypes = "application/json", "application/json"
	jcs, err := kubernetes.NewForConfig(jcfg)
	if err != nil {
		return err
	}
	typed := func(cs kubernetes.Interface, rv string) func() (int, int, error) {
		return func() (int, int, error) {
			l, err := cs.CoreV1().Pods(listNS).List(ctx, metav1.ListOptions{ResourceVersion: rv})
			if err != nil {
				return 0, 0, err
			}
			return len(l.Items), 0, nil
		}
	}
	// kubectl's way: 500 at a time; the pages after the first come from
	// etcd at the first page's revision.
	paged := func(cs kubernetes.Interface) func() (int, int, error) {
		return func() (int, int, error) {
			opts := metav1.ListOptions{Limit: 500}
			n := 0
			for {
				l, err := cs.CoreV1().Pods(listNS).List(ctx, opts)
				if err != nil {
					return 0, 0, err
				}
				n += len(l.Items)
				if opts.Continue = l.Continue; opts.Continue == "" {
					return n, 0, nil
				}
			}
		}
	}
	raw := func(accept, rv string) func() (int, int, error) {
		url := e.cfg.Host + "/api/v1/namespaces/" + listNS + "/pods"
		if rv != "" {
			url += "?resourceVersion=" + rv
		}
		return func() (int, int, error) {
			req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
			req.Header.Set("Accept", accept)
			resp, err := hc.Do(req)
			if err != nil {
				return 0, 0, err
			}
			defer resp.Body.Close()
			n, err := io.Copy(io.Discard, resp.Body)
			if resp.StatusCode != 200 {
				return 0, 0, fmt.Errorf("GET %s: %s", url, resp.Status)
			}
			return -1, int(n), err
		}
	}
	floor := func() (int, int, error) {
		resp, err := ec.Get(ctx, "/registry/pods/"+listNS+"/", clientv3.WithPrefix())
		if err != nil {
			return 0, 0, err
		}
		size := 0
		for _, kv := range resp.Kvs {
			size += len(kv.Value)
		}
		return len(resp.Kvs), size, nil
	}
	const pb, js = "application/vnd.kubernetes.protobuf", "application/json"
	variants := []*listVariant{
		{name: `client-go List, resourceVersion="0" (cache; protobuf, client-go's default)`},
		{name: `client-go List, resourceVersion="" (consistent; protobuf)`},
		{name: `client-go List, resourceVersion="0", JSON`},
		{name: `client-go List, 500 per page as kubectl lists (protobuf)`},
		{name: `raw GET, resourceVersion="0", protobuf, body read not decoded`},
		{name: `raw GET, resourceVersion="0", JSON, body read not decoded`},
		{name: `raw GET, resourceVersion="", JSON, body read not decoded`},
		{name: `floor: etcd range read of the same keys (clientv3)`},
	}
	fns := []func() (int, int, error){typed(cs, "0"), typed(cs, ""), typed(jcs, "0"), paged(cs), raw(pb, "0"), raw(js, "0"), raw(js, ""), floor}
	// One untimed pass warms connections and buffers.
	for i, f := range fns {
		if _, _, err := f(); err != nil {
			return fmt.Errorf("%s: %w", variants[i].name, err)
		}
	}
	logf("reads: %d timed lists of each of %d variants", c.listRuns, len(fns))
	for r := 0; r < c.listRuns; r++ {
		for i, f := range fns {
			t0 := time.Now()
			items, size, err := f()
			d := time.Since(t0)
			if err != nil {
				return fmt.Errorf("%s: %w", variants[i].name, err)
			}
			if items >= 0 && items != c.listPods {
				return fmt.Errorf("%s returned %d items, want %d", variants[i].name, items, c.listPods)
			}
			variants[i].times = append(variants[i].times, d)
			variants[i].items = items
			if size > 0 {
				variants[i].bytes = size
			}
		}
	}
	rep.lists = variants
	for _, v := range variants {
		logf("reads: %-60s median %s min %s", v.name, ms(medianDuration(v.times)), ms(minDuration(v.times)))
	}
	return nil
}
