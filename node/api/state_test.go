package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// exportBackend adds state files to the fake backend: epochs 1..final,
// each file size bytes derived from its epoch. write, when set, replaces
// the writer (failure and flow-control tests); it is atomic because the
// race detector sees no order through the test's TCP connections.
type exportBackend struct {
	*fakeBackend
	final uint64
	size  int
	write atomic.Pointer[func(w io.Writer) error]
}

func (b *exportBackend) setWrite(f func(w io.Writer) error) { b.write.Store(&f) }

func stateBytes(epoch uint64, size int) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(uint64(i)*7 + epoch)
	}
	return b
}

func (b *exportBackend) StateFile(_ context.Context, epoch uint64) (uint64, func(io.Writer) error, error) {
	if epoch == 0 {
		epoch = b.final
	}
	if epoch > b.final {
		return 0, nil, fmt.Errorf("epoch %d is not final here: %w", epoch, ErrNotFound)
	}
	if w := b.write.Load(); w != nil {
		return epoch, *w, nil
	}
	return epoch, func(w io.Writer) error {
		data := stateBytes(epoch, b.size)
		for len(data) > 0 { // in pieces, as ExportState's 64 KiB buffer does
			k := min(len(data), 64<<10)
			if _, err := w.Write(data[:k]); err != nil {
				return err
			}
			data = data[k:]
		}
		return nil
	}, nil
}

// TestStateFileRoute checks GET /v1/state/{epoch}: the file streams with
// its epoch header, latest resolves, bad epochs are 400, unknown ones 404,
// a backend without state files answers 404, HEAD sends no body, an error
// before the first byte is a JSON error and after it a cut transfer.
func TestStateFileRoute(t *testing.T) {
	b := &exportBackend{fakeBackend: newFakeBackend(5), final: 5, size: 300_000}
	srv, c := newTestServer(t, b, Options{})
	ctx := t.Context()

	var buf bytes.Buffer
	ep, n, err := c.StateFile(ctx, 3, &buf)
	if err != nil || ep != 3 || n != 300_000 || !bytes.Equal(buf.Bytes(), stateBytes(3, 300_000)) {
		t.Fatalf("state 3: epoch %d, %d bytes, err %v", ep, n, err)
	}
	buf.Reset()
	if ep, _, err := c.StateFile(ctx, 0, &buf); err != nil || ep != 5 || !bytes.Equal(buf.Bytes(), stateBytes(5, 300_000)) {
		t.Fatalf("state latest: epoch %d, err %v", ep, err)
	}
	r := doRequest(t, srv, http.MethodGet, "/v1/state/latest", nil, nil)
	if r.status != 200 || r.header.Get("Content-Type") != "application/octet-stream" || r.header.Get(StateEpochHeader) != "5" ||
		!strings.Contains(r.header.Get("Content-Disposition"), "ledgerd-state-5.bin") || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("latest: %d %v", r.status, r.header)
	}
	if r := doRequest(t, srv, http.MethodHead, "/v1/state/2", nil, nil); r.status != 200 || len(r.body) != 0 || r.header.Get(StateEpochHeader) != "2" {
		t.Fatalf("HEAD: %d %v %d bytes", r.status, r.header, len(r.body))
	}
	for _, bad := range []string{"0", "01", "-1", "x", "1.5", "18446744073709551616", "LATEST"} {
		r := doRequest(t, srv, http.MethodGet, "/v1/state/"+bad, nil, nil)
		if r.status != 400 || !strings.Contains(string(r.body), `"bad_request"`) {
			t.Errorf("epoch %q: %d %s, want 400 bad_request", bad, r.status, r.body)
		}
	}
	_, _, err = c.StateFile(ctx, 6, io.Discard)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 404 || !errors.Is(err, ErrNotFound) || !strings.Contains(ae.Message, "not final") {
		t.Fatalf("epoch 6: %v, want 404 not_found", err)
	}
	if r := doRequest(t, srv, http.MethodPost, "/v1/state/1", nil, nil); r.status != 405 {
		t.Fatalf("POST: %d", r.status)
	}

	// A backend that does not export.
	_, c2 := newTestServer(t, newFakeBackend(2), Options{})
	if _, _, err := c2.StateFile(ctx, 1, io.Discard); !errors.Is(err, ErrNotFound) {
		t.Fatalf("backend without state files: %v", err)
	}

	// An error before the first byte: a normal error response.
	b.setWrite(func(io.Writer) error { return fmt.Errorf("store gone: %w", ErrNotFound) })
	if _, _, err := c.StateFile(ctx, 1, io.Discard); !errors.Is(err, ErrNotFound) {
		t.Fatalf("early error: %v", err)
	}
	// An error after the first bytes: the transfer fails, it never looks
	// complete (before the headers left: no response; after: a cut body).
	for _, size := range []int{1000, 200_000} {
		b.setWrite(func(w io.Writer) error {
			if _, err := w.Write(make([]byte, size)); err != nil {
				return err
			}
			return errors.New("disk error")
		})
		buf.Reset()
		_, n, err := c.StateFile(ctx, 1, &buf)
		if err == nil || (size > 100_000 && !strings.Contains(err.Error(), "transfer cut")) {
			t.Fatalf("late error after %d bytes: got %d bytes, err %v; want a failed transfer", size, n, err)
		}
	}
}

// TestStateFileStreams shows the route streams: the client receives the
// first bytes while the backend has not written the rest (a buffered
// response would deliver nothing until the end); a third concurrent export
// is refused with 429 while two run (MaxStateExports); a client that goes
// away stops the writer.
func TestStateFileStreams(t *testing.T) {
	release := make(chan struct{})
	writerDone := make(chan error, 4)
	b := &exportBackend{fakeBackend: newFakeBackend(2), final: 2}
	b.setWrite(func(w io.Writer) error {
		err := func() error {
			if _, err := w.Write([]byte("first")); err != nil {
				return err
			}
			if f, ok := w.(interface{ Flush() error }); ok {
				_ = f.Flush()
			}
			<-release
			for range 1000 { // until the client is gone, or done
				if _, err := w.Write(make([]byte, 64<<10)); err != nil {
					return err
				}
			}
			return nil
		}()
		writerDone <- err
		return err
	})
	srv, _ := newTestServer(t, b, Options{MaxStateExports: 2, StreamWriteTimeout: 2 * time.Second})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	get := func(ctx context.Context) *http.Response {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v1/state/1", nil)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	r1, r2 := get(ctx), get(ctx)
	defer r1.Body.Close()
	defer r2.Body.Close()
	first := make([]byte, 5)
	if _, err := io.ReadFull(r1.Body, first); err != nil || string(first) != "first" {
		t.Fatalf("first bytes before the writer finished: %q %v", first, err)
	}
	r3 := get(ctx)
	body, _ := io.ReadAll(r3.Body)
	r3.Body.Close()
	if r3.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(body), CodeTooManyStreams) {
		t.Fatalf("third export: %d %s, want 429", r3.StatusCode, body)
	}
	cancel() // both clients leave
	close(release)
	for range 2 {
		select {
		case err := <-writerDone:
			if err == nil {
				t.Fatal("writer finished a transfer nobody reads")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("writer did not stop after the client left")
		}
	}
}
