package streaming

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

const criLog = `2026-11-25T10:00:00.000000001Z stdout F first
2026-11-25T10:00:01.000000000Z stderr F oops
2026-11-25T10:00:02.000000000Z stdout P par
2026-11-25T10:00:02.500000000Z stdout P ti
2026-11-25T10:00:03.000000000Z stdout F al
2026-11-25T10:00:04.000000000Z stdout F 
2026-11-25T10:00:05.000000000Z stdout F last
2026-11-25T10:00:06.000000000Z stdout P still writ`

func TestReadEntriesReassemblesPartialLines(t *testing.T) {
	entries, pending, err := readEntries(strings.NewReader(criLog))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, string(e.text))
	}
	want := []string{"first\n", "oops\n", "partial\n", "\n", "last\n"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("entries %q, want %q", got, want)
	}
	if entries[2].time != time.Date(2026, 11, 25, 10, 0, 2, 0, time.UTC) {
		t.Errorf("a reassembled line carries its first part's time, got %v", entries[2].time)
	}
	if string(pending) != "2026-11-25T10:00:06.000000000Z stdout P still writ" {
		t.Errorf("pending %q: an unterminated line must wait for its newline", pending)
	}
}

func TestSelectAndWrite(t *testing.T) {
	entries, _, _ := readEntries(strings.NewReader(criLog))
	cases := []struct {
		name string
		opts LogOptions
		want string
	}{
		{"all", LogOptions{TailLines: -1}, "first\noops\npartial\n\nlast\n"},
		{"tail 2", LogOptions{TailLines: 2}, "\nlast\n"},
		{"tail 0", LogOptions{TailLines: 0}, ""},
		{"tail more than there is", LogOptions{TailLines: 50}, "first\noops\npartial\n\nlast\n"},
		{"since", LogOptions{TailLines: -1, Since: time.Date(2026, 11, 25, 10, 0, 1, 0, time.UTC)}, "oops\npartial\n\nlast\n"},
		{"since then tail", LogOptions{TailLines: 1, Since: time.Date(2026, 11, 25, 10, 0, 1, 0, time.UTC)}, "last\n"},
		{"timestamps", LogOptions{TailLines: 1, Timestamps: true}, "2026-11-25T10:00:05Z last\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := writeEntries(&buf, selectEntries(entries, c.opts), c.opts.Timestamps); err != nil {
				t.Fatal(err)
			}
			if buf.String() != c.want {
				t.Fatalf("got %q, want %q", buf.String(), c.want)
			}
		})
	}
}

func TestLimitBytesCutsOutput(t *testing.T) {
	entries, _, _ := readEntries(strings.NewReader(criLog))
	var buf bytes.Buffer
	lw := &limitedWriter{w: &buf, left: 8, limit: true}
	if err := writeEntries(lw, entries, false); err != errLimit {
		t.Fatalf("err %v, want the limit error", err)
	}
	if buf.String() != "first\noo" {
		t.Fatalf("got %q", buf.String())
	}
}

func TestParseLogLineRejectsGarbage(t *testing.T) {
	for _, in := range []string{"", "nospace", "notatime stdout F x", "2026-11-25T10:00:00Z stdout"} {
		if _, err := parseLogLine([]byte(in)); err == nil {
			t.Errorf("parseLogLine(%q) accepted garbage", in)
		}
	}
}

func FuzzReadEntries(f *testing.F) {
	f.Add([]byte(criLog))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, pending, err := readEntries(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if len(e.text) == 0 || e.text[len(e.text)-1] != '\n' {
				t.Fatalf("entry without newline: %q", e.text)
			}
		}
		if bytes.Contains(pending, []byte("\n")) {
			t.Fatalf("pending holds a complete line: %q", pending)
		}
	})
}
