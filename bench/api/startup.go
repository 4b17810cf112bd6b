package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"
)

// benchStartup times cold starts on fresh data dirs (CA, certificates,
// etcd bootstrap, caches) and restarts on an existing one, each from exec
// to the first ok from /readyz.
func benchStartup(ctx context.Context, c config, rep *report) error {
	for i := 0; i < c.starts; i++ {
		dir := filepath.Join(c.workDir, fmt.Sprintf("cold-%d", i))
		s, took, err := startServer(ctx, c.bin, c.workDir, dir)
		if err != nil {
			return err
		}
		rep.coldStarts = append(rep.coldStarts, took)
		logf("footprint: cold start %d: %s", i+1, took.Round(time.Millisecond))
		// Let the bootstrap objects land before stopping, so the restarts
		// below see a complete data dir.
		if i == 0 {
			if err := sleep(ctx, time.Second); err != nil {
				s.stop()
				return err
			}
		}
		if err := s.stop(); err != nil {
			return err
		}
	}
	dir := filepath.Join(c.workDir, "cold-0")
	for i := 0; i < c.starts; i++ {
		s, took, err := startServer(ctx, c.bin, c.workDir, dir)
		if err != nil {
			return err
		}
		rep.restarts = append(rep.restarts, took)
		logf("footprint: restart %d: %s", i+1, took.Round(time.Millisecond))
		if err := s.stop(); err != nil {
			return err
		}
	}
	return nil
}
