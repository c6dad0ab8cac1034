package api

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestNewClientRejectsBadURLs(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:8545", "ftp://host", "http://", "http://h/?q=1", "http://h/#f", "http://[::1"} {
		if _, err := NewClient(u, nil); !errors.Is(err, ErrBadBaseURL) {
			t.Errorf("NewClient(%q) = %v; want ErrBadBaseURL", u, err)
		}
	}
	c, err := NewClient("http://127.0.0.1:1/prefix/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.url("/v1/status", nil); got != "http://127.0.0.1:1/prefix/v1/status" {
		t.Errorf("url = %q", got)
	}
}

// TestClientNonAPIErrors checks that error bodies that are not ours (a
// proxy's HTML, an empty body) still become *APIError with the status.
func TestClientNonAPIErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/status" {
			http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
			return
		}
		if r.URL.Path == "/healthz" {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"hash": 12}`))
	}))
	defer srv.Close()
	c, err := NewClient(srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Status(t.Context())
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 502 || apiErr.Code != "" || !strings.Contains(apiErr.Message, "bad gateway") {
		t.Errorf("Status() = %v; want *APIError 502 with the body text", err)
	}
	if errors.Unwrap(err) != nil {
		t.Errorf("a code-less error unwraps to %v; want nil", errors.Unwrap(err))
	}
	if _, err = c.Health(t.Context()); !errors.As(err, &apiErr) || apiErr.Message != "Service Unavailable" {
		t.Errorf("Health() = %v; want the status text", err)
	}
	if _, err = c.Tx(t.Context(), testHash("x", 1)); err == nil || !strings.Contains(err.Error(), "decode response") {
		t.Errorf("malformed 200 body: %v; want a decode error", err)
	}
}

func TestClientAllMethodsAgainstServer(t *testing.T) {
	b := newFakeBackend(4)
	b.snaps[1] = Snapshot{Epoch: 1, Cut: []uint64{1}}
	b.vals = []Validator{{Index: 0, Name: "v0"}, {Index: 1, Name: "v1"}}
	_, c := newTestServer(t, b, Options{})
	ctx := t.Context()
	if cp, err := c.LatestCheckpoint(ctx); err != nil || cp.Epoch != 3 {
		t.Errorf("LatestCheckpoint = %d, %v", cp.Epoch, err)
	}
	if cp, err := c.Checkpoint(ctx, 2); err != nil || cp.Hash != testHash("cp", 2) {
		t.Errorf("Checkpoint(2) = %s, %v", cp.Hash, err)
	}
	if cp, err := c.CheckpointByHash(ctx, testHash("cp", 1)); err != nil || cp.Epoch != 1 {
		t.Errorf("CheckpointByHash = %d, %v", cp.Epoch, err)
	}
	if _, err := c.Checkpoint(ctx, 9); !errors.Is(err, ErrNotFound) {
		t.Errorf("Checkpoint(9) = %v; want ErrNotFound", err)
	}
	if s, err := c.Snapshot(ctx, 1); err != nil || s.Epoch != 1 || len(s.Cut) != 1 {
		t.Errorf("Snapshot(1) = %+v, %v", s, err)
	}
	if _, err := c.Snapshot(ctx, 2); !errors.Is(err, ErrNotFound) {
		t.Errorf("Snapshot(2) = %v; want ErrNotFound", err)
	}
	if vs, err := c.Validators(ctx); err != nil || len(vs) != 2 || vs[1].Name != "v1" {
		t.Errorf("Validators = %+v, %v", vs, err)
	}
	if a, err := c.Account(ctx, testAddr(3), true); err != nil || a.Address != testAddr(3) || len(a.Proof) != 1 {
		t.Errorf("Account = %+v, %v", a, err)
	}
	if h, err := c.Health(ctx); err != nil || h.Status != "ok" {
		t.Errorf("Health = %+v, %v", h, err)
	}
	if s, err := c.Status(ctx); err != nil || s.ChainID != "ledgerd-test" {
		t.Errorf("Status = %+v, %v", s, err)
	}
}

func TestWaitTx(t *testing.T) {
	b := newFakeBackend(1)
	h := testHash("tx", 5)
	b.txs[h] = TxStatus{Hash: h, Status: TxPending}
	_, c := newTestServer(t, b, Options{})
	go func() {
		time.Sleep(50 * time.Millisecond)
		b.mu.Lock()
		b.txs[h] = TxStatus{Hash: h, Status: TxFinal, Epoch: 1, Receipt: &Receipt{Status: ReceiptOK}}
		b.mu.Unlock()
	}()
	st, err := c.WaitTx(t.Context(), h, 10*time.Millisecond)
	if err != nil || st.Status != TxFinal || st.Epoch != 1 {
		t.Errorf("WaitTx = %+v, %v; want final at epoch 1", st, err)
	}
	pending := testHash("tx", 6)
	b.mu.Lock()
	b.txs[pending] = TxStatus{Hash: pending, Status: TxPending}
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Millisecond)
	defer cancel()
	if _, err := c.WaitTx(ctx, pending, 10*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "pending") {
		t.Errorf("WaitTx on a pending tx = %v; want deadline exceeded naming the status", err)
	}
}

func TestSSEDecoder(t *testing.T) {
	in := "retry: 2000\n\n: ping\n\nid: 1\nevent: checkpoint\ndata: {\"a\":1}\n\n" +
		"data: line1\r\ndata: line2\r\n\r\n" + "event: x\n\n" + "id: 9\ndata: tail-without-blank-line\n"
	d := newSSEDecoder(strings.NewReader(in), 1024)
	want := []sseEvent{
		{Event: "checkpoint", ID: "1", Data: []byte(`{"a":1}`)},
		{Event: "message", Data: []byte("line1\nline2")},
	}
	for i, w := range want {
		ev, err := d.Next()
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if ev.Event != w.Event || ev.ID != w.ID || string(ev.Data) != string(w.Data) {
			t.Errorf("event %d = %+v (%q); want %+v (%q)", i, ev, ev.Data, w, w.Data)
		}
	}
	if _, err := d.Next(); err == nil || err.Error() != "EOF" {
		t.Errorf("after the last event: %v; want io.EOF (partial event dropped)", err)
	}
	big := "data: " + strings.Repeat("x", 2000) + "\n\n"
	if _, err := newSSEDecoder(strings.NewReader(big), 1024).Next(); !errors.Is(err, errEventTooLarge) {
		t.Errorf("oversized event: %v; want errEventTooLarge", err)
	}
	many := strings.Repeat("data: "+strings.Repeat("y", 100)+"\n", 20) + "\n"
	if _, err := newSSEDecoder(strings.NewReader(many), 1024).Next(); !errors.Is(err, errEventTooLarge) {
		t.Errorf("event of many lines: %v; want errEventTooLarge", err)
	}
}
