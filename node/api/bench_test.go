package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
)

// BenchmarkGetCheckpoint measures the handler path of
// GET /v1/checkpoints/epoch/{n} (routing, parsing, timeout wrapper, JSON
// encoding) without the network.
func BenchmarkGetCheckpoint(b *testing.B) {
	h := NewServer(newFakeBackend(100), Options{})
	req := httptest.NewRequest(http.MethodGet, "/v1/checkpoints/epoch/42", nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}

// BenchmarkSubmitTx measures POST /v1/txs with a 160-byte transaction in
// the JSON form (body limit, hex decoding, 202 encoding).
func BenchmarkSubmitTx(b *testing.B) {
	h := NewServer(discardSubmits{newFakeBackend(1)}, Options{})
	body := string(mustJSON(TxSubmission{Tx: make([]byte, 160)}))
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/v1/txs", strings.NewReader(body))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 202 {
			b.Fatal(w.Code, w.Body)
		}
	}
}

// BenchmarkClientGetCheckpointLoopback measures a full client round trip
// over loopback TCP with keep-alive.
func BenchmarkClientGetCheckpointLoopback(b *testing.B) {
	srv := httptest.NewServer(NewServer(newFakeBackend(100), Options{}))
	defer srv.Close()
	c, err := NewClient(srv.URL, srv.Client())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Checkpoint(ctx, 42); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStreamCheckpoints measures SSE delivery: events per second from
// a backend with the chain stored, through the server and the client decoder.
func BenchmarkStreamCheckpoints(b *testing.B) {
	fb := newFakeBackend(0)
	fb.subscribe = func(ctx context.Context, from uint64) (<-chan Checkpoint, error) {
		out := make(chan Checkpoint, 64)
		go func() {
			defer close(out)
			for e := from; ; e++ {
				select {
				case out <- testCheckpoint(e):
				case <-ctx.Done():
					return
				}
			}
		}()
		return out, nil
	}
	srv := httptest.NewServer(NewServer(fb, Options{}))
	defer srv.Close()
	c, err := NewClient(srv.URL, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cps, errs := c.StreamCheckpoints(ctx, 0)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := <-cps; !ok {
			b.Fatal(<-errs)
		}
	}
	cancel()
	<-errs
}

// discardSubmits accepts every submission without keeping it.
type discardSubmits struct{ *fakeBackend }

func (discardSubmits) SubmitTx(ctx context.Context, raw []byte) (common.Hash, error) {
	return sha256Sum(raw), nil
}
