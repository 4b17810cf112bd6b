// Command vip measures HTTP requests per second and latency through a
// Service's ClusterIP against the same pods addressed by their own IPs,
// in alternating trials of the same length and concurrency, so the ratio
// is the service proxy's cost. bench/services/vip.sh sets up the cluster.
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	vip := flag.String("vip", "", "URL through the ClusterIP")
	direct := flag.String("direct", "", "comma-separated URLs of the pods themselves")
	conns := flag.Int("conns", 16, "concurrent clients")
	duration := flag.Duration("duration", 5*time.Second, "length of one trial")
	trials := flag.Int("trials", 3, "trials of each")
	flag.Parse()
	if *vip == "" || *direct == "" {
		fmt.Fprintln(os.Stderr, "vip: -vip and -direct are required")
		os.Exit(2)
	}
	pods := strings.Split(*direct, ",")
	var vipRPS, podRPS, vipP99, podP99 []float64
	for i := 0; i < *trials; i++ {
		r, p, err := trial([]string{*vip}, *conns, *duration)
		if err != nil {
			fmt.Fprintln(os.Stderr, "vip:", err)
			os.Exit(1)
		}
		vipRPS, vipP99 = append(vipRPS, r), append(vipP99, p)
		r, p, err = trial(pods, *conns, *duration)
		if err != nil {
			fmt.Fprintln(os.Stderr, "vip:", err)
			os.Exit(1)
		}
		podRPS, podP99 = append(podRPS, r), append(podP99, p)
	}
	fmt.Printf("| path | requests/s (median) | p99 ms (median) | trials (req/s) |\n|---|---:|---:|---|\n")
	fmt.Printf("| ClusterIP | %.0f | %.2f | %s |\n", median(vipRPS), median(vipP99), list(vipRPS))
	fmt.Printf("| pod IPs directly | %.0f | %.2f | %s |\n", median(podRPS), median(podP99), list(podRPS))
	fmt.Printf("| ClusterIP / direct | **%.2f** | %.2f× | |\n", median(vipRPS)/median(podRPS), median(vipP99)/median(podP99))
}

// trial runs conns clients for d, each sending GETs to urls in turn on a
// new connection per request (as the pods' server closes them), and
// returns requests per second and the p99 latency in milliseconds.
func trial(urls []string, conns int, d time.Duration) (float64, float64, error) {
	var count atomic.Int64
	var failed atomic.Int64
	lat := make([][]time.Duration, conns)
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for c := 0; c < conns; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
			for i := c; time.Now().Before(deadline); i++ {
				start := time.Now()
				resp, err := client.Get(urls[i%len(urls)])
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if err != nil || resp.StatusCode != http.StatusOK {
					failed.Add(1)
					continue
				}
				lat[c] = append(lat[c], time.Since(start))
				count.Add(1)
			}
		}(c)
	}
	wg.Wait()
	if f := failed.Load(); f > count.Load()/100 {
		return 0, 0, fmt.Errorf("%d of %d requests to %v failed", f, f+count.Load(), urls)
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	p99 := float64(all[int(float64(len(all))*0.99)].Microseconds()) / 1000
	return float64(count.Load()) / d.Seconds(), p99, nil
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func list(v []float64) string {
	var out []string
	for _, x := range v {
		out = append(out, fmt.Sprintf("%.0f", x))
	}
	return strings.Join(out, ", ")
}
