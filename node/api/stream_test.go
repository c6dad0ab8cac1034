package api

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// recvCheckpoints reads n checkpoints from the client stream and checks
// their epochs run from first upwards.
func recvCheckpoints(t *testing.T, cps <-chan Checkpoint, errs <-chan error, first uint64, n int) {
	t.Helper()
	for i := range n {
		select {
		case cp, ok := <-cps:
			if !ok {
				t.Fatalf("stream closed after %d events: %v", i, <-errs)
			}
			if want := first + uint64(i); cp.Epoch != want || cp.Hash != testHash("cp", want) {
				t.Fatalf("event %d: epoch %d hash %s; want epoch %d", i, cp.Epoch, cp.Hash, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("timed out waiting for epoch %d", first+uint64(i))
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestStreamReplayThenLive(t *testing.T) {
	b := newFakeBackend(5)
	_, c := newTestServer(t, b, Options{})
	ctx, cancel := context.WithCancel(t.Context())
	cps, errs := c.StreamCheckpoints(ctx, 2)
	recvCheckpoints(t, cps, errs, 2, 3) // replay 2..4
	b.publish()
	b.publish()
	recvCheckpoints(t, cps, errs, 5, 2) // live 5, 6
	cancel()
	if err := <-errs; !errors.Is(err, context.Canceled) {
		t.Errorf("stream error after cancel = %v; want context.Canceled", err)
	}
	if _, open := <-cps; open {
		t.Error("checkpoint channel still open after the error")
	}
	waitFor(t, "backend subscription to end", func() bool { return b.activeSubs.Load() == 0 })
}

// openRawStream opens the stream with custom headers and returns a decoder.
func openRawStream(t *testing.T, ctx context.Context, url string, hdr map[string]string) (*http.Response, *sseDecoder) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return resp, newSSEDecoder(resp.Body, 1<<20)
}

func TestStreamStartingPoint(t *testing.T) {
	cases := []struct {
		name     string
		query    string
		hdr      map[string]string
		wantFrom uint64
	}{
		{"last-event-id", "", map[string]string{"Last-Event-ID": "3"}, 4},
		{"last-event-id beats from", "?from=1", map[string]string{"Last-Event-ID": "2"}, 3},
		{"from", "?from=1", nil, 1},
		{"latest by default", "", nil, 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newFakeBackend(5)
			b.subFroms = make(chan uint64, 1)
			srv, _ := newTestServer(t, b, Options{})
			_, dec := openRawStream(t, t.Context(), srv.URL+"/v1/checkpoints/stream"+tc.query, tc.hdr)
			if got := <-b.subFroms; got != tc.wantFrom {
				t.Errorf("subscribed from %d; want %d", got, tc.wantFrom)
			}
			for want := tc.wantFrom; want < 5; want++ {
				ev, err := dec.Next()
				if err != nil {
					t.Fatal(err)
				}
				if ev.Event != "checkpoint" || ev.ID != uintString(want) {
					t.Fatalf("event %q id %q; want checkpoint id %d", ev.Event, ev.ID, want)
				}
			}
		})
	}
	// Before any checkpoint, the default start is epoch 0.
	b := newFakeBackend(0)
	b.subFroms = make(chan uint64, 1)
	srv, _ := newTestServer(t, b, Options{})
	openRawStream(t, t.Context(), srv.URL+"/v1/checkpoints/stream", nil)
	if got := <-b.subFroms; got != 0 {
		t.Errorf("empty chain: subscribed from %d; want 0", got)
	}
}

func uintString(n uint64) string { return strconv.FormatUint(n, 10) }

// TestStreamDisconnectEndsHandler checks that a client going away ends the
// handler goroutine and the backend subscription.
func TestStreamDisconnectEndsHandler(t *testing.T) {
	b := newFakeBackend(3)
	var running sync.WaitGroup
	h := NewServer(b, Options{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		running.Add(1)
		defer running.Done()
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(t.Context())
	_, dec := openRawStream(t, ctx, srv.URL+"/v1/checkpoints/stream?from=0", nil)
	if _, err := dec.Next(); err != nil {
		t.Fatal(err)
	}
	cancel()
	done := make(chan struct{})
	go func() { running.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("stream handler still running 5 s after the client left")
	}
	waitFor(t, "backend subscription to end", func() bool { return b.activeSubs.Load() == 0 })
}

// scriptedSubscription returns a backend subscription that sends epochs
// and then closes (or, with hold, waits for ctx).
func scriptedSubscription(epochs []uint64, hold bool) func(ctx context.Context, from uint64) (<-chan Checkpoint, error) {
	return func(ctx context.Context, from uint64) (<-chan Checkpoint, error) {
		out := make(chan Checkpoint, len(epochs))
		for _, e := range epochs {
			out <- testCheckpoint(e)
		}
		if !hold {
			close(out)
			return out, nil
		}
		go func() { <-ctx.Done(); close(out) }()
		return out, nil
	}
}

func TestStreamDropsDuplicatesAndStopsAtGaps(t *testing.T) {
	b := newFakeBackend(0)
	b.subscribe = scriptedSubscription([]uint64{1, 2, 2, 1, 3, 5, 6}, true)
	_, c := newTestServer(t, b, Options{})
	cps, errs := c.StreamCheckpoints(t.Context(), 2)
	recvCheckpoints(t, cps, errs, 2, 2)
	err := <-errs
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Code != CodeInternal || !strings.Contains(apiErr.Message, "want epoch 4, got 5") {
		t.Errorf("gap error = %v; want an internal error event naming the gap", err)
	}
	if _, open := <-cps; open {
		t.Error("events after the gap")
	}
}

func TestStreamEndsWhenBackendCloses(t *testing.T) {
	b := newFakeBackend(0)
	b.subscribe = scriptedSubscription([]uint64{0, 1}, false)
	_, c := newTestServer(t, b, Options{})
	cps, errs := c.StreamCheckpoints(t.Context(), 0)
	recvCheckpoints(t, cps, errs, 0, 2)
	if err := <-errs; !errors.Is(err, ErrStream) || !strings.Contains(err.Error(), "after epoch 1") {
		t.Errorf("end error = %v; want ErrStream after epoch 1", err)
	}
}

func TestStreamLimit(t *testing.T) {
	b := newFakeBackend(1)
	srv, c := newTestServer(t, b, Options{MaxStreams: 1})
	ctx, cancel := context.WithCancel(t.Context())
	cps, errs := c.StreamCheckpoints(ctx, 0)
	recvCheckpoints(t, cps, errs, 0, 1)
	wantError(t, doRequest(t, srv, http.MethodGet, "/v1/checkpoints/stream", nil, nil), 429, CodeTooManyStreams, "limit is 1")
	cancel()
	<-errs
	waitFor(t, "stream slot to free", func() bool {
		ctx2, cancel2 := context.WithCancel(t.Context())
		defer cancel2()
		cps2, errs2 := c.StreamCheckpoints(ctx2, 0)
		select {
		case <-cps2:
			return true
		case err := <-errs2:
			if !errors.Is(err, ErrTooManyStreams) {
				t.Fatalf("unexpected error %v", err)
			}
			return false
		}
	})
}

func TestStreamHeartbeat(t *testing.T) {
	b := newFakeBackend(0)
	srv, _ := newTestServer(t, b, Options{StreamHeartbeat: 10 * time.Millisecond})
	resp, _ := openRawStream(t, t.Context(), srv.URL+"/v1/checkpoints/stream", nil)
	buf := make([]byte, 0, 256)
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(string(buf), ": ping\n\n") < 2 && time.Now().Before(deadline) {
		tmp := make([]byte, 64)
		n, err := resp.Body.Read(tmp)
		if err != nil {
			t.Fatal(err)
		}
		buf = append(buf, tmp[:n]...)
	}
	if !strings.HasPrefix(string(buf), "retry: 2000\n\n") || strings.Count(string(buf), ": ping\n\n") < 2 {
		t.Errorf("stream bytes %q; want retry then heartbeats", buf)
	}
}

// TestStreamOutlivesServerTimeouts runs the stream behind an http.Server
// whose read and write timeouts are far shorter than the stream, as
// NewHTTPServer's are, and checks live events still arrive.
func TestStreamOutlivesServerTimeouts(t *testing.T) {
	b := newFakeBackend(1)
	srv := httptest.NewUnstartedServer(NewServer(b, Options{}))
	srv.Config.ReadTimeout = 100 * time.Millisecond
	srv.Config.WriteTimeout = 100 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close) // after t.Context is cancelled, which ends the stream
	c, err := NewClient(srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	cps, errs := c.StreamCheckpoints(t.Context(), 0)
	recvCheckpoints(t, cps, errs, 0, 1)
	for e := uint64(1); e <= 2; e++ {
		time.Sleep(250 * time.Millisecond)
		b.publish()
		recvCheckpoints(t, cps, errs, e, 1)
	}
}

// TestShutdownEndsStreams checks that NewHTTPServer's Shutdown does not
// wait for open streams.
func TestShutdownEndsStreams(t *testing.T) {
	b := newFakeBackend(1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := NewHTTPServer(ln.Addr().String(), NewServer(b, Options{}))
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	c, err := NewClient("http://"+ln.Addr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	cps, errs := c.StreamCheckpoints(t.Context(), 0)
	recvCheckpoints(t, cps, errs, 0, 1)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := hs.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v after %v", err, time.Since(start))
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve = %v", err)
	}
	if err := <-errs; !errors.Is(err, ErrStream) {
		t.Errorf("client stream error = %v; want ErrStream (ended by server)", err)
	}
	waitFor(t, "backend subscription to end", func() bool { return b.activeSubs.Load() == 0 })
}
