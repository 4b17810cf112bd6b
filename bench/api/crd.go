package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

const (
	crdGroup   = "bench.gureum.io"
	crdWriteNS = "bench-crd-write"
	crdListNS  = "bench-crd-list"
	crdClients = 16 // concurrent writers in the create trials
	crdFillers = 64 // concurrent writers filling the list namespace
)

// widgets is the custom resource of the create and list benchmarks.
var widgets = schema.GroupVersionResource{Group: crdGroup, Version: "v1", Resource: "widgets"}

// crdResult is the custom resource section: CRDs made usable, custom
// resource creates vs ConfigMap creates, lists of many of each.
type crdResult struct {
	established []time.Duration // CRD create call -> Established=True seen by a watch
	firstCR     []time.Duration // CRD create call -> first custom resource created
	refused     int             // custom resource creates refused after Established

	crStored, cmStored int // bytes one object takes in etcd
	cr, cm             []trial
	ratios, p99Ratios  []float64

	listN          int
	crFill, cmFill time.Duration
	lists          []*crdList
}

// crdList is one way of listing, timed for custom resources and for
// ConfigMaps.
type crdList struct {
	name             string
	cr, cm           []time.Duration
	crBytes, cmBytes int
}

// crdClientSet is one connection's worth of clients: a dynamic client for
// custom resources and a typed clientset speaking JSON for ConfigMaps, so
// both go through the same encoding.
type crdClientSet struct {
	dyn  dynamic.Interface
	json kubernetes.Interface
}

func newCRDClients(e *env, n int) ([]crdClientSet, error) {
	var cs []crdClientSet
	for i := 0; i < n; i++ {
		dyn, err := dynamic.NewForConfig(e.restConfig())
		if err != nil {
			return nil, fmt.Errorf("dynamic client: %w", err)
		}
		cfg := e.restConfig()
		cfg.ContentType, cfg.AcceptContentTypes = "application/json", "application/json"
		js, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return nil, fmt.Errorf("JSON clientset: %w", err)
		}
		cs = append(cs, crdClientSet{dyn: dyn, json: js})
	}
	return cs, nil
}

func benchCRD(ctx context.Context, c config, e *env, rep *report) error {
	for _, ns := range []string{crdWriteNS, crdListNS} {
		if err := e.ensureNamespace(ctx, ns); err != nil {
			return err
		}
	}
	ext, err := apiextensionsclient.NewForConfig(e.restConfig())
	if err != nil {
		return fmt.Errorf("apiextensions clientset: %w", err)
	}
	clients, err := newCRDClients(e, max(crdFillers, crdClients))
	if err != nil {
		return err
	}
	res := &crdResult{}
	rep.crd = res

	// The CRD of the create and list benchmarks goes first and is not
	// timed: it also opens the connections.
	if _, _, _, err := establishCRD(ctx, ext, clients[0].dyn, "widgets", "Widget"); err != nil {
		return err
	}
	logf("crd: creating %d CRDs one after another", c.crds)
	for i := 0; i < c.crds; i++ {
		est, first, refused, err := establishCRD(ctx, ext, clients[0].dyn, fmt.Sprintf("gadgets%03d", i), fmt.Sprintf("Gadget%03d", i))
		if err != nil {
			return err
		}
		res.established = append(res.established, est)
		res.firstCR = append(res.firstCR, first)
		res.refused += refused
	}
	logf("crd: create -> Established median %s max %s; -> first custom resource median %s max %s",
		ms(medianDuration(res.established)), ms(maxDuration(res.established)), ms(medianDuration(res.firstCR)), ms(maxDuration(res.firstCR)))

	if err := crdLists(ctx, c, e, clients, res); err != nil {
		return err
	}
	return crdWrites(ctx, c, e, clients, res)
}

// establishCRD creates one CRD and times, from the create call, its
// Established=True condition arriving on a watch of it, then the first
// custom resource of it created (retried while the resource is not
// found; refused counts those retries).
func establishCRD(ctx context.Context, ext apiextensionsclient.Interface, dyn dynamic.Interface, plural, kind string) (est, first time.Duration, refused int, err error) {
	crd := benchCRDObject(plural, kind)
	w, err := ext.ApiextensionsV1().CustomResourceDefinitions().Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + crd.Name})
	if err != nil {
		return 0, 0, 0, fmt.Errorf("watch CRD %s: %w", crd.Name, err)
	}
	defer w.Stop()
	start := time.Now()
	if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, crd, metav1.CreateOptions{}); err != nil {
		return 0, 0, 0, fmt.Errorf("create CRD %s: %w", crd.Name, err)
	}
	timeout := time.After(30 * time.Second)
	for est == 0 {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				return 0, 0, 0, fmt.Errorf("watch of CRD %s closed before it was Established", crd.Name)
			}
			if ev.Type == watch.Error {
				return 0, 0, 0, fmt.Errorf("watch CRD %s: %w", crd.Name, apierrors.FromObject(ev.Object))
			}
			if got, ok := ev.Object.(*apiextensionsv1.CustomResourceDefinition); ok && isEstablished(got) {
				est = time.Since(start)
			}
		case <-timeout:
			return 0, 0, 0, fmt.Errorf("CRD %s not Established after 30s", crd.Name)
		case <-ctx.Done():
			return 0, 0, 0, ctx.Err()
		}
	}
	gvr := schema.GroupVersionResource{Group: crdGroup, Version: "v1", Resource: plural}
	for {
		_, err := dyn.Resource(gvr).Namespace(crdWriteNS).Create(ctx, benchWidget(kind, "first"), metav1.CreateOptions{})
		if err == nil {
			return est, time.Since(start), refused, nil
		}
		if !apierrors.IsNotFound(err) || time.Since(start) > 30*time.Second {
			return 0, 0, 0, fmt.Errorf("create the first %s: %w", kind, err)
		}
		refused++
		if err := sleep(ctx, time.Millisecond); err != nil {
			return 0, 0, 0, err
		}
	}
}

func isEstablished(crd *apiextensionsv1.CustomResourceDefinition) bool {
	for _, c := range crd.Status.Conditions {
		if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
			return true
		}
	}
	return false
}

// benchCRDObject is a namespaced CRD with a small structural schema and a
// status subresource.
func benchCRDObject(plural, kind string) *apiextensionsv1.CustomResourceDefinition {
	zero := 0.0
	return &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: plural + "." + crdGroup},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: crdGroup,
			Scope: apiextensionsv1.NamespaceScoped,
			Names: apiextensionsv1.CustomResourceDefinitionNames{
				Plural: plural, Singular: strings.ToLower(kind), Kind: kind, ListKind: kind + "List",
			},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object",
					Properties: map[string]apiextensionsv1.JSONSchemaProps{
						"spec": {Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{
							"image":    {Type: "string"},
							"replicas": {Type: "integer", Default: &apiextensionsv1.JSON{Raw: []byte("1")}, Minimum: &zero},
						}},
						"status": {Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{
							"replicas": {Type: "integer"},
						}},
					},
				}},
				Subresources: &apiextensionsv1.CustomResourceSubresources{Status: &apiextensionsv1.CustomResourceSubresourceStatus{}},
			}},
		},
	}
}

// benchWidget and benchConfigMap carry the same metadata as benchPod and
// the same two fields, so they take about the same space.
func benchWidget(kind, name string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": crdGroup + "/v1",
		"kind":       kind,
		"metadata": map[string]any{
			"name":        name,
			"labels":      map[string]any{"app": "bench", "tier": "web", "release": "stable"},
			"annotations": map[string]any{"bench.gureum.io/owner": "bench-api"},
		},
		"spec": map[string]any{"image": "registry.k8s.io/pause:3.10", "replicas": int64(3)},
	}}
}

func benchConfigMap(name string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Labels:      map[string]string{"app": "bench", "tier": "web", "release": "stable"},
			Annotations: map[string]string{"bench.gureum.io/owner": "bench-api"},
		},
		Data: map[string]string{"image": "registry.k8s.io/pause:3.10", "replicas": "3"},
	}
}

// crdLists fills the list namespace with listN widgets and listN
// ConfigMaps and times lists of each, alternating.
func crdLists(ctx context.Context, c config, e *env, clients []crdClientSet, res *crdResult) error {
	res.listN = c.listCRs
	logf("crd: creating %d custom resources and %d ConfigMaps with %d clients", c.listCRs, c.listCRs, crdFillers)
	var err error
	res.crFill, err = fill(ctx, crdFillers, c.listCRs, func(ctx context.Context, w, i int) error {
		_, err := clients[w].dyn.Resource(widgets).Namespace(crdListNS).Create(ctx, benchWidget("Widget", fmt.Sprintf("list-%06d", i)), metav1.CreateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("fill custom resources: %w", err)
	}
	res.cmFill, err = fill(ctx, crdFillers, c.listCRs, func(ctx context.Context, w, i int) error {
		_, err := clients[w].json.CoreV1().ConfigMaps(crdListNS).Create(ctx, benchConfigMap(fmt.Sprintf("list-%06d", i)), metav1.CreateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("fill ConfigMaps: %w", err)
	}
	logf("crd: filled in %s (custom resources, %.0f/s) and %s (ConfigMaps, %.0f/s)",
		res.crFill.Round(time.Millisecond), float64(c.listCRs)/res.crFill.Seconds(), res.cmFill.Round(time.Millisecond), float64(c.listCRs)/res.cmFill.Seconds())

	hc, err := rest.HTTPClientFor(e.restConfig())
	if err != nil {
		return fmt.Errorf("HTTP client: %w", err)
	}
	defer hc.CloseIdleConnections()
	dyn, js := clients[0].dyn.Resource(widgets).Namespace(crdListNS), clients[0].json.CoreV1().ConfigMaps(crdListNS)
	// Each function returns the items decoded (-1 for raw GETs) and the
	// bytes read (0 for client lists).
	client := func(rv string) (cr, cm func() (int, int, error)) {
		cr = func() (int, int, error) {
			l, err := dyn.List(ctx, metav1.ListOptions{ResourceVersion: rv})
			if err != nil {
				return 0, 0, err
			}
			return len(l.Items), 0, nil
		}
		cm = func() (int, int, error) {
			l, err := js.List(ctx, metav1.ListOptions{ResourceVersion: rv})
			if err != nil {
				return 0, 0, err
			}
			return len(l.Items), 0, nil
		}
		return cr, cm
	}
	raw := func(rv string) (cr, cm func() (int, int, error)) {
		get := func(url string) func() (int, int, error) {
			if rv != "" {
				url += "?resourceVersion=" + rv
			}
			return func() (int, int, error) {
				req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
				req.Header.Set("Accept", "application/json")
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
		return get(e.cfg.Host + "/apis/" + crdGroup + "/v1/namespaces/" + crdListNS + "/widgets"),
			get(e.cfg.Host + "/api/v1/namespaces/" + crdListNS + "/configmaps")
	}
	lists := []*crdList{
		{name: `client List, resourceVersion="0" (cache)`},
		{name: `client List, resourceVersion="" (consistent)`},
		{name: `raw GET, resourceVersion="0", body read not decoded`},
		{name: `raw GET, resourceVersion="", body read not decoded`},
	}
	crCache, cmCache := client("0")
	crConsistent, cmConsistent := client("")
	crRawCache, cmRawCache := raw("0")
	crRawConsistent, cmRawConsistent := raw("")
	crFns := []func() (int, int, error){crCache, crConsistent, crRawCache, crRawConsistent}
	cmFns := []func() (int, int, error){cmCache, cmConsistent, cmRawCache, cmRawConsistent}
	// timed runs one list and checks its count: exactly listN custom
	// resources; at least listN ConfigMaps (the namespace also holds
	// kube-root-ca.crt).
	timed := func(name string, f func() (int, int, error), exact bool) (time.Duration, int, error) {
		t0 := time.Now()
		items, size, err := f()
		d := time.Since(t0)
		if err != nil {
			return 0, 0, fmt.Errorf("list %s: %w", name, err)
		}
		if items >= 0 && (items < c.listCRs || exact && items != c.listCRs) {
			return 0, 0, fmt.Errorf("list %s returned %d items, want %d", name, items, c.listCRs)
		}
		return d, size, nil
	}
	// One untimed pass warms connections and buffers.
	for i, l := range lists {
		if _, _, err := timed("custom resources, "+l.name, crFns[i], true); err != nil {
			return err
		}
		if _, _, err := timed("ConfigMaps, "+l.name, cmFns[i], false); err != nil {
			return err
		}
	}
	logf("crd: %d timed lists of each of %d variants, custom resources and ConfigMaps", c.listRuns, len(lists))
	for r := 0; r < c.listRuns; r++ {
		for i, l := range lists {
			d, size, err := timed("custom resources, "+l.name, crFns[i], true)
			if err != nil {
				return err
			}
			l.cr, l.crBytes = append(l.cr, d), size
			d, size, err = timed("ConfigMaps, "+l.name, cmFns[i], false)
			if err != nil {
				return err
			}
			l.cm, l.cmBytes = append(l.cm, d), size
		}
	}
	res.lists = lists
	for _, l := range lists {
		logf("crd: %-55s custom resources median %s, ConfigMaps median %s", l.name, ms(medianDuration(l.cr)), ms(medianDuration(l.cm)))
	}
	return nil
}

// crdWrites runs create trials of widgets and of ConfigMaps at crdClients
// clients, alternating, each starting from the same state as writes.go's.
func crdWrites(ctx context.Context, c config, e *env, clients []crdClientSet, res *crdResult) error {
	// What one object of each takes in etcd.
	if _, err := clients[0].dyn.Resource(widgets).Namespace(crdWriteNS).Create(ctx, benchWidget("Widget", "size-sample"), metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create sample custom resource: %w", err)
	}
	if _, err := clients[0].json.CoreV1().ConfigMaps(crdWriteNS).Create(ctx, benchConfigMap("size-sample"), metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create sample ConfigMap: %w", err)
	}
	crPrefix := "/registry/" + crdGroup + "/widgets/" + crdWriteNS + "/"
	cmPrefix := "/registry/configmaps/" + crdWriteNS + "/"
	ec, err := e.etcd(0)
	if err != nil {
		return err
	}
	for _, s := range []struct {
		key  string
		size *int
	}{{crPrefix + "size-sample", &res.crStored}, {cmPrefix + "size-sample", &res.cmStored}} {
		resp, err := ec.Get(ctx, s.key)
		if err != nil {
			return fmt.Errorf("read %s from etcd: %w", s.key, err)
		}
		if len(resp.Kvs) != 1 {
			return fmt.Errorf("%s not found in etcd", s.key)
		}
		*s.size = len(resp.Kvs[0].Value)
	}

	var runID int
	settle := min(time.Second, c.writeDur/5)
	runOne := func(cr bool, dur time.Duration) trial {
		runID++
		prefix := fmt.Sprintf("c%03d", runID)
		var t trial
		if cr {
			t = runTrial(ctx, e.srv, crdClients, dur, func(ctx context.Context, w, i int) error {
				_, err := clients[w].dyn.Resource(widgets).Namespace(crdWriteNS).Create(ctx, benchWidget("Widget", fmt.Sprintf("%s-%d-%d", prefix, w, i)), metav1.CreateOptions{})
				return err
			})
		} else {
			t = runTrial(ctx, e.srv, crdClients, dur, func(ctx context.Context, w, i int) error {
				_, err := clients[w].json.CoreV1().ConfigMaps(crdWriteNS).Create(ctx, benchConfigMap(fmt.Sprintf("%s-%d-%d", prefix, w, i)), metav1.CreateOptions{})
				return err
			})
		}
		// As in writes.go: remove the trial's objects straight from etcd,
		// untimed, and let the cache catch up (a consistent list returns
		// once it has).
		key, list := cmPrefix+prefix+"-", func() error {
			_, err := clients[0].json.CoreV1().ConfigMaps(crdWriteNS).List(ctx, metav1.ListOptions{})
			return err
		}
		if cr {
			key, list = crPrefix+prefix+"-", func() error {
				_, err := clients[0].dyn.Resource(widgets).Namespace(crdWriteNS).List(ctx, metav1.ListOptions{})
				return err
			}
		}
		if _, err := ec.Delete(ctx, key, clientv3.WithPrefix()); err != nil {
			logf("crd: clean up %s: %v", key, err)
		}
		if err := list(); err != nil {
			logf("crd: list after clean-up: %v", err)
		}
		_ = sleep(ctx, settle)
		return t
	}
	logf("crd: create warm-up %s each at %d clients", c.warmDur, crdClients)
	runOne(true, c.warmDur)
	runOne(false, c.warmDur)
	for r := 0; r < c.reps; r++ {
		var a, b trial
		if r%2 == 0 {
			a = runOne(true, c.writeDur)
			b = runOne(false, c.writeDur)
		} else {
			b = runOne(false, c.writeDur)
			a = runOne(true, c.writeDur)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if a.ops == 0 {
			return fmt.Errorf("no custom resource create succeeded: %w", a.firstErr)
		}
		if b.ops == 0 {
			return fmt.Errorf("no ConfigMap create succeeded: %w", b.firstErr)
		}
		res.cr = append(res.cr, a)
		res.cm = append(res.cm, b)
		res.ratios = append(res.ratios, a.rate()/b.rate())
		res.p99Ratios = append(res.p99Ratios, float64(a.p99)/float64(b.p99))
		logf("crd: creates rep %d: custom resources %.0f/s p50 %s p99 %s cpu/op srv %s (errors %d) | ConfigMaps %.0f/s p50 %s p99 %s cpu/op srv %s (errors %d) | ratio %.2f | load %s",
			r+1, a.rate(), ms(a.p50), ms(a.p99), us(a.srvCPUPerOp()), a.errs, b.rate(), ms(b.p50), ms(b.p99), us(b.srvCPUPerOp()), b.errs, a.rate()/b.rate(), loadAvg())
	}
	return nil
}

// fill runs op for i in [0, n) from workers goroutines (worker w uses
// client w) and returns the time it took.
func fill(ctx context.Context, workers, n int, op func(ctx context.Context, w, i int) error) (time.Duration, error) {
	var next, failed atomic.Int64
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				if err := op(ctx, w, int(i)); err != nil {
					failed.Add(1)
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}(w)
	}
	wg.Wait()
	took := time.Since(start)
	if err := ctx.Err(); err != nil {
		return took, err
	}
	if f := failed.Load(); f > 0 {
		return took, fmt.Errorf("%d of %d creates failed; first: %w", f, n, firstErr)
	}
	return took, nil
}

func (r *crdResult) markdown(c config, p func(format string, args ...any)) {
	p("### Custom resources: CRDs until Established; creates and lists vs ConfigMaps\n\n")
	p("On the main server after the other sections (on its restart when footprint runs). The CRDs are namespaced, in group `%s`, "+
		"with a structural schema (`spec.image` string, `spec.replicas` integer, default 1, minimum 0) and a status subresource.\n\n", crdGroup)
	if len(r.established) > 0 {
		est := append([]time.Duration(nil), r.established...)
		first := append([]time.Duration(nil), r.firstCR...)
		sortDurations(est)
		sortDurations(first)
		p("%d CRDs created one after another with the apiextensions clientset, after one untimed CRD. Times run from each create call "+
			"to the condition Established=True arriving on a watch of that CRD (opened before the create), and to the first custom resource "+
			"of it created with the dynamic client once it was Established.\n\n", len(est))
		p("| From the CRD create call to | p50 | p99 | max |\n|---|---:|---:|---:|\n")
		p("| Established=True seen by a watch | %s | %s | %s |\n", ms(percentile(est, 0.5)), ms(percentile(est, 0.99)), ms(percentile(est, 1)))
		p("| first custom resource created | %s | %s | %s |\n", ms(percentile(first, 0.5)), ms(percentile(first, 0.99)), ms(percentile(first, 1)))
		p("\n")
		if r.refused > 0 {
			p("**%d custom resource creates were refused (NotFound) after their CRD was Established** (retried every 1 ms).\n\n", r.refused)
		} else {
			p("No custom resource create was refused after its CRD was Established.\n\n")
		}
	}
	if len(r.cr) > 0 {
		p("Creates at %d clients, each with its own connection: custom resources (`widgets.%s`) with the dynamic client, "+
			"ConfigMaps of similar size (same labels and annotation, the two fields as data) with client-go set to JSON; "+
			"stored in etcd as %d and %d bytes. %d trial(s) of %s each, alternating, medians shown; between trials the objects "+
			"are deleted straight from etcd, as in Writes.\n\n",
			crdClients, crdGroup, r.crStored, r.cmStored, c.reps, c.writeDur)
		stats := func(ts []trial) (rate float64, p50, p99, cpu time.Duration, errs int) {
			var rs []float64
			var a, b, d []time.Duration
			for _, t := range ts {
				rs, a, b, d = append(rs, t.rate()), append(a, t.p50), append(b, t.p99), append(d, t.srvCPUPerOp())
				errs += t.errs
			}
			return medianFloat(rs), medianDuration(a), medianDuration(b), medianDuration(d), errs
		}
		crRate, crP50, crP99, crCPU, crErrs := stats(r.cr)
		cmRate, cmP50, cmP99, cmCPU, cmErrs := stats(r.cm)
		p("| Creates | per second | p50 | p99 | server CPU / create | errors |\n|---|---:|---:|---:|---:|---:|\n")
		p("| Custom resource (dynamic client, JSON) | %.0f | %s | %s | %s | %d |\n", crRate, ms(crP50), ms(crP99), us(crCPU), crErrs)
		p("| ConfigMap (client-go, JSON) | %.0f | %s | %s | %s | %d |\n", cmRate, ms(cmP50), ms(cmP99), us(cmCPU), cmErrs)
		p("| CR/ConfigMap | **%.2f** | %.2f× | %.2f× | %.2f× | |\n",
			medianFloat(r.ratios), float64(crP50)/float64(max(cmP50, 1)), medianFloat(r.p99Ratios), float64(crCPU)/float64(max(cmCPU, 1)))
		p("\n")
	}
	if len(r.lists) > 0 {
		p("List of %d custom resources and %d ConfigMaps, in one namespace (which also holds kube-root-ca.crt), created by %d clients in %s (%.0f/s) and %s (%.0f/s). "+
			"Median of %d lists each, custom resources and ConfigMaps alternating. Client lists decode the JSON response (custom resources into "+
			"unstructured objects with the dynamic client, ConfigMaps into typed ones with client-go set to JSON); raw GETs (JSON) only read the body.\n\n",
			r.listN, r.listN, crdFillers, r.crFill.Round(time.Millisecond), float64(r.listN)/r.crFill.Seconds(),
			r.cmFill.Round(time.Millisecond), float64(r.listN)/r.cmFill.Seconds(), len(r.lists[0].cr))
		p("| Variant | Custom resources | ConfigMaps | CR/ConfigMap | Bytes, CR / ConfigMap |\n|---|---:|---:|---:|---:|\n")
		for _, l := range r.lists {
			cr, cm := medianDuration(l.cr), medianDuration(l.cm)
			bytes := ""
			if l.crBytes > 0 {
				bytes = fmt.Sprintf("%.1f / %.1f MB", float64(l.crBytes)/1e6, float64(l.cmBytes)/1e6)
			}
			p("| %s | %s | %s | **%.2f×** | %s |\n", l.name, ms(cr), ms(cm), float64(cr)/float64(max(cm, 1)), bytes)
		}
		p("\n")
	}
}
