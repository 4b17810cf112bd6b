// Command vip measures HTTP requests per second and latency through a
// Service's ClusterIP against the same pods addressed by their own IPs,
// in alternating trials of the same length and concurrency, so the ratio
// is the service proxy's cost. bench/services/vip.sh sets up the cluster.
//
// The two paths connect from disjoint halves of the local port range
// (-split-ports). From one client address, a connection to the ClusterIP
// and one straight to a pod can otherwise reach the pod as the same
// 4-tuple within its TIME_WAIT (60 s): the second carries sequence
// numbers and timestamps unrelated to the first's, the pod refuses its
// SYN (PAWS) and the client retries a second later. That cost belongs to
// mixing the two paths on one client, not to either path.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	vip := flag.String("vip", "", "URL through the ClusterIP")
	direct := flag.String("direct", "", "comma-separated URLs of the pods themselves")
	conns := flag.Int("conns", 16, "concurrent clients")
	duration := flag.Duration("duration", 5*time.Second, "length of one trial")
	trials := flag.Int("trials", 3, "trials of each")
	splitPorts := flag.Bool("split-ports", true, "connect to the ClusterIP and to the pods from disjoint halves of the local port range")
	flag.Parse()
	if *vip == "" || *direct == "" {
		fmt.Fprintln(os.Stderr, "vip: -vip and -direct are required")
		os.Exit(2)
	}
	pods := strings.Split(*direct, ",")
	var vipPorts, podPorts *portRange
	if *splitPorts {
		lo, hi := localPortRange()
		mid := lo + (hi-lo)/2
		vipPorts, podPorts = &portRange{lo: lo, hi: mid}, &portRange{lo: mid, hi: hi}
	}
	var vipRPS, podRPS, vipP99, podP99 []float64
	for i := 0; i < *trials; i++ {
		r, p, err := trial([]string{*vip}, *conns, *duration, vipPorts)
		if err != nil {
			fmt.Fprintln(os.Stderr, "vip:", err)
			os.Exit(1)
		}
		vipRPS, vipP99 = append(vipRPS, r), append(vipP99, p)
		r, p, err = trial(pods, *conns, *duration, podPorts)
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

// portRange hands out local ports in [lo, hi) in turn.
type portRange struct {
	lo, hi int
	next   atomic.Int64
}

// dial connects from the next free port of the range.
func (r *portRange) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var err error
	for try := 0; try < 64; try++ {
		port := r.lo + int(r.next.Add(1)%int64(r.hi-r.lo))
		d := net.Dialer{
			LocalAddr: &net.TCPAddr{Port: port},
			// A port held only by a TIME_WAIT socket of this client may be
			// bound; connect then refuses it if the 4-tuple is taken.
			Control: func(_, _ string, c syscall.RawConn) error {
				var serr error
				if err := c.Control(func(fd uintptr) {
					serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
				}); err != nil {
					return err
				}
				return serr
			},
		}
		var c net.Conn
		c, err = d.DialContext(ctx, network, addr)
		if err == nil || !(errors.Is(err, syscall.EADDRINUSE) || errors.Is(err, syscall.EADDRNOTAVAIL)) {
			return c, err
		}
	}
	return nil, err
}

// localPortRange is the kernel's ephemeral port range.
func localPortRange() (int, int) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if f := strings.Fields(string(b)); err == nil && len(f) == 2 {
		lo, err1 := strconv.Atoi(f[0])
		hi, err2 := strconv.Atoi(f[1])
		if err1 == nil && err2 == nil && hi-lo > 1000 {
			return lo, hi + 1
		}
	}
	return 32768, 61000
}

// trial runs conns clients for d, each sending GETs to urls in turn on a
// new connection per request (as the pods' server closes them), from
// ports (nil: the kernel's choice), and returns requests per second and
// the p99 latency in milliseconds.
func trial(urls []string, conns int, d time.Duration, ports *portRange) (float64, float64, error) {
	var count atomic.Int64
	var failed atomic.Int64
	lat := make([][]time.Duration, conns)
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for c := 0; c < conns; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			transport := &http.Transport{DisableKeepAlives: true}
			if ports != nil {
				transport.DialContext = ports.dial
			}
			client := &http.Client{Timeout: 5 * time.Second, Transport: transport}
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
