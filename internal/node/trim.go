package node

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/utils/clock"
)

// startupSettle is how long after becoming ready a process is still
// starting: controllers and the agent list, sync and start their loops.
const startupSettle = 5 * time.Second

// releaseInterval is how often a running process checks for free heap it
// keeps from the kernel.
const releaseInterval = 2 * time.Minute

// releaseThreshold is how much free heap may stay resident. Above it, the
// free pages go back at the next check.
const releaseThreshold = 64 << 20

// releaseMemory releases start-up memory once start-up has settled, then
// every releaseInterval hands back free heap above releaseThreshold.
//
// Go's background scavenger leaves alone the free pages of chunks that
// also hold live objects, and after a burst (10,000 pods created, say)
// the live objects are scattered over most chunks: a control plane idle
// after one kept ~370 MB of free heap resident for minutes. A forced
// release costs one garbage collection per interval.
func releaseMemory(ctx context.Context, clk clock.WithTicker, log *slog.Logger) error {
	select {
	case <-ctx.Done():
		return nil
	case <-clk.After(startupSettle):
		releaseStartupMemory(log)
	}
	t := clk.NewTicker(releaseInterval)
	defer t.Stop()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/free:bytes"}}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
			metrics.Read(sample)
			if free := sample[0].Value.Uint64(); free > releaseThreshold {
				debug.FreeOSMemory()
				log.Debug("free heap released", "bytes", free)
			}
		}
	}
}

// releaseStartupMemory hands back what starting up needed and running
// does not: the heap start-up grew and freed goes back to the kernel, and
// the executable's read-only pages (code and tables, most of them touched
// once by package initialisation) are dropped from the process's mappings
// so that only those used from now on count towards its resident memory.
// Dropped pages stay in the page cache; touching one again is a minor fault.
func releaseStartupMemory(log *slog.Logger) {
	debug.FreeOSMemory()
	n, err := dropExecutablePages()
	if err != nil {
		log.Debug("drop start-up pages failed", "err", err)
		return
	}
	log.Debug("start-up memory released", "executablePagesDropped", n)
}

// dropExecutablePages applies MADV_DONTNEED to the read-only mappings of
// our own executable and returns how many bytes they span. Only mappings
// that were never writable qualify: for them the advice discards nothing
// but page-table entries.
func dropExecutablePages() (int, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, fmt.Errorf("find own executable: %w", err)
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, fmt.Errorf("read own mappings: %w", err)
	}
	defer f.Close()
	total := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// start-end perms offset dev inode path
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[5] != exe || strings.Contains(fields[1], "w") {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_DONTNEED); errno != 0 {
			return total, fmt.Errorf("madvise %s: %w", fields[0], errno)
		}
		total += int(end - start)
	}
	return total, sc.Err()
}
