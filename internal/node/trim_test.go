package node

import (
	"context"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

func rssFileKB(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "RssFile:" {
			n, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}

// Dropping the executable's read-only pages shrinks the resident file
// pages, and the program goes on running: the pages fault back in.
func TestDropExecutablePages(t *testing.T) {
	before := rssFileKB(t)
	n, err := dropExecutablePages()
	if err != nil {
		t.Fatal(err)
	}
	after := rssFileKB(t)
	if n == 0 || after >= before {
		t.Fatalf("dropped %d bytes of mappings; resident file pages %d kB → %d kB", n, before, after)
	}
	// Code and tables needed again come back.
	if s := strconv.Itoa(12345) + strings.Repeat("x", 3); s != "12345xxx" {
		t.Fatalf("program misbehaves after the drop: %q", s)
	}
}

func freeHeap() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/free:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

var sink [][]byte

// After start-up, each releaseInterval hands free heap above the
// threshold back to the kernel.
func TestReleaseMemoryReturnsFreeHeapEveryInterval(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = releaseMemory(ctx, clk, slog.New(slog.NewTextHandler(io.Discard, nil))); close(done) }()
	defer func() { cancel(); <-done }()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 5 s", what)
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitFor("start-up timer", clk.HasWaiters)
	clk.Step(startupSettle)
	waitFor("release ticker", clk.HasWaiters)

	for range 4 * releaseThreshold / 4096 {
		sink = append(sink, make([]byte, 4096))
	}
	sink = nil
	runtime.GC()
	if free := freeHeap(); free <= releaseThreshold {
		t.Fatalf("free heap %d after dropping %d bytes; the test needs more than %d", free, 4*releaseThreshold, releaseThreshold)
	}
	clk.Step(releaseInterval)
	waitFor("free heap released", func() bool { return freeHeap() < releaseThreshold })
}
