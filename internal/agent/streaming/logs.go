package streaming

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"
)

// LogOptions are what `kubectl logs` asks for.
type LogOptions struct {
	// TailLines keeps only the last n lines; negative means all.
	TailLines  int64
	Since      time.Time // zero: from the start
	Timestamps bool
	// LimitBytes stops after this many bytes of output; 0 means no limit.
	LimitBytes int64
}

// logLine is one line of a CRI log file: "<RFC3339Nano> <stream> <tag>
// <content>", where tag "P" marks a partial line whose content continues in
// the next entry and "F" a full (final) one.
type logLine struct {
	time    time.Time
	stream  string
	partial bool
	content []byte
}

func parseLogLine(b []byte) (logLine, error) {
	var l logLine
	ts, rest, ok := bytes.Cut(b, []byte(" "))
	if !ok {
		return l, fmt.Errorf("log line has no timestamp: %q", b)
	}
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return l, fmt.Errorf("log line timestamp: %w", err)
	}
	stream, rest, ok := bytes.Cut(rest, []byte(" "))
	if !ok {
		return l, fmt.Errorf("log line has no stream: %q", b)
	}
	tag, content, ok := bytes.Cut(rest, []byte(" "))
	if !ok {
		// An empty full line has no content separator.
		tag, content = rest, nil
	}
	l.time, l.stream, l.content = t, string(stream), content
	l.partial = bytes.HasPrefix(tag, []byte("P"))
	return l, nil
}

// entry is a whole output line reassembled from partial log lines.
type entry struct {
	time time.Time
	text []byte // includes the trailing newline
}

// readEntries reassembles complete lines from a CRI log. A trailing partial
// line (still being written) is returned with complete=false.
func readEntries(r io.Reader) (entries []entry, pending []byte, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var cur []byte
	var curTime time.Time
	for {
		raw, rerr := br.ReadBytes('\n')
		if len(raw) > 0 && raw[len(raw)-1] == '\n' {
			l, perr := parseLogLine(raw[:len(raw)-1])
			if perr == nil {
				if cur == nil {
					curTime = l.time
				}
				cur = append(cur, l.content...)
				if !l.partial {
					entries = append(entries, entry{time: curTime, text: append(cur, '\n')})
					cur = nil
				}
			}
		} else if len(raw) > 0 {
			// An unterminated last line: the runtime is mid-write.
			pending = raw
		}
		if errors.Is(rerr, io.EOF) {
			return entries, pending, nil
		}
		if rerr != nil {
			return entries, pending, fmt.Errorf("read log: %w", rerr)
		}
	}
}

// selectEntries applies since and tail, in that order, as the kubelet does.
func selectEntries(entries []entry, opts LogOptions) []entry {
	if !opts.Since.IsZero() {
		i := 0
		for i < len(entries) && entries[i].time.Before(opts.Since) {
			i++
		}
		entries = entries[i:]
	}
	if opts.TailLines >= 0 && int64(len(entries)) > opts.TailLines {
		entries = entries[int64(len(entries))-opts.TailLines:]
	}
	return entries
}

// limitedWriter counts bytes and stops at the limit.
type limitedWriter struct {
	w     io.Writer
	left  int64
	limit bool
}

var errLimit = errors.New("log byte limit reached")

func (l *limitedWriter) Write(p []byte) (int, error) {
	if !l.limit {
		return l.w.Write(p)
	}
	if l.left <= 0 {
		return 0, errLimit
	}
	if int64(len(p)) > l.left {
		n, err := l.w.Write(p[:l.left])
		l.left -= int64(n)
		if err == nil {
			err = errLimit
		}
		return n, err
	}
	n, err := l.w.Write(p)
	l.left -= int64(n)
	return n, err
}

func writeEntries(w io.Writer, entries []entry, timestamps bool) error {
	for _, e := range entries {
		if timestamps {
			if _, err := io.WriteString(w, e.time.UTC().Format(time.RFC3339Nano)+" "); err != nil {
				return err
			}
		}
		if _, err := w.Write(e.text); err != nil {
			return err
		}
	}
	return nil
}
