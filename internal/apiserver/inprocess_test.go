package apiserver

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The in-process transport carries what a socket would: status, headers,
// request and response bodies, the caller's user, streamed responses that
// end when the client closes them, and a caller giving up.
func TestInProcessTransport(t *testing.T) {
	handlerDone := make(chan string, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		u, _ := inProcessUser(r)
		w.Header().Set("X-User", u.Name)
		w.Header().Set("X-Query", r.URL.Query().Get("q"))
		w.WriteHeader(http.StatusCreated)
		w.Header().Set("X-Late", "ignored") // after the status, as with net/http
		_, _ = w.Write([]byte(r.Method + " " + string(body)))
	})
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		w.(http.Flusher).Flush()
		_, _ = w.Write([]byte("first"))
		<-r.Context().Done()
		_, err := w.Write([]byte("after close"))
		handlerDone <- "ended: " + errString(err)
	})
	mux.HandleFunc("/silent", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
		handlerDone <- "silent ended"
	})
	mux.HandleFunc("/panic", func(w http.ResponseWriter, r *http.Request) { panic("boom") })
	client := &http.Client{Transport: &inProcessTransport{h: mux, user: UserInfo{Name: "ctrl"}}}

	reqBody := &closeRecorder{Reader: strings.NewReader("hello"), closed: make(chan struct{})}
	resp, err := client.Post("http://x/echo?q=1", "text/plain", reqBody)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusCreated || string(body) != "POST hello" ||
		resp.Header.Get("X-User") != "ctrl" || resp.Header.Get("X-Query") != "1" || resp.Header.Get("X-Late") != "" {
		t.Fatalf("echo: %d %q %v headers %v", resp.StatusCode, body, err, resp.Header)
	}
	select {
	case <-reqBody.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the request body was not closed")
	}

	// A stream: the status comes at the flush, the client reads as the
	// handler writes, and closing the body ends the handler.
	resp, err = client.Get("http://x/stream")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "first" || resp.StatusCode != http.StatusOK {
		t.Fatalf("stream: %d %q %v", resp.StatusCode, buf, err)
	}
	resp.Body.Close()
	select {
	case got := <-handlerDone:
		if got != "ended: "+errClientClosed.Error() {
			t.Fatalf("stream handler %s", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("closing the body did not end the streaming handler")
	}

	// A caller that gives up before any answer gets its context's error,
	// and the handler's request ends too.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://x/silent", nil)
	if _, err := client.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("silent: %v", err)
	}
	select {
	case <-handlerDone:
	case <-time.After(5 * time.Second):
		t.Fatal("the handler of an abandoned request did not end")
	}

	// A panicking handler is a 500 with a broken body, not a crash.
	resp, err = client.Get("http://x/panic")
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError || err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("panic: %d %v", resp.StatusCode, err)
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

type closeRecorder struct {
	io.Reader
	closed chan struct{}
}

func (c *closeRecorder) Close() error {
	close(c.closed)
	return nil
}
