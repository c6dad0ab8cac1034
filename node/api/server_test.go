package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
)

func newTestServer(t *testing.T, b Backend, opts Options) (*httptest.Server, *Client) {
	t.Helper()
	srv := httptest.NewServer(NewServer(b, opts))
	t.Cleanup(srv.Close)
	c, err := NewClient(srv.URL, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return srv, c
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func doRequest(t *testing.T, srv *httptest.Server, method, path string, body io.Reader, hdr map[string]string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

// wantError checks a JSON error response.
func wantError(t *testing.T, r response, status int, code, msgPart string) {
	t.Helper()
	if r.status != status {
		t.Errorf("status = %d; want %d (body %s)", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q; want application/json", ct)
	}
	var eb ErrorBody
	if err := json.Unmarshal(r.body, &eb); err != nil {
		t.Fatalf("error body %q: %v", r.body, err)
	}
	if eb.Error.Code != code {
		t.Errorf("code = %q; want %q (message %q)", eb.Error.Code, code, eb.Error.Message)
	}
	if !strings.Contains(eb.Error.Message, msgPart) {
		t.Errorf("message = %q; want it to contain %q", eb.Error.Message, msgPart)
	}
}

func decode[T any](t *testing.T, r response) T {
	t.Helper()
	var v T
	if r.status/100 != 2 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("decode %T from %s: %v", v, r.body, err)
	}
	return v
}

func TestRoutesHappyPath(t *testing.T) {
	b := newFakeBackend(5)
	txh := testHash("tx", 1)
	cph := testHash("cp", 3)
	b.txs[txh] = TxStatus{Hash: txh, Status: TxFinal, Epoch: 3, CheckpointHash: &cph,
		Receipt: &Receipt{Status: ReceiptOK, Sender: testAddr(7), Index: 4}}
	b.accounts[testAddr(7)] = Account{Address: testAddr(7), Balance: 1 << 60, Nonce: 3, Epoch: 4, StateRoot: testHash("state", 4)}
	b.snaps[2] = Snapshot{Epoch: 2, Cut: []uint64{6, 7}, Nodes: []SnapshotNode{{
		Validator: testAddr(0), Index: 0, Recorded: []uint64{6, 5}, MempoolSize: 1, TimeMs: 5,
		Channels: []Channel{{From: 1, Count: 2, FirstSeq: 6, LastSeq: 7, TxCount: 1, TxHashes: []common.Hash{txh}}},
	}}}
	b.vals = []Validator{{Index: 0, Name: "v0", Address: testAddr(0), Power: 1, PeerID: "16Uiu2", Connected: true}}
	srv, _ := newTestServer(t, b, Options{})

	get := func(path string) response { return doRequest(t, srv, http.MethodGet, path, nil, nil) }

	if got := decode[Checkpoint](t, get("/v1/checkpoints/latest")); !reflect.DeepEqual(got, b.cps[4]) {
		t.Errorf("latest = %+v; want %+v", got, b.cps[4])
	}
	if got := decode[Checkpoint](t, get("/v1/checkpoints/epoch/3")); !reflect.DeepEqual(got, b.cps[3]) {
		t.Errorf("epoch 3 = %+v; want %+v", got, b.cps[3])
	}
	if got := decode[Checkpoint](t, get("/v1/checkpoints/"+cph.Hex())); !reflect.DeepEqual(got, b.cps[3]) {
		t.Errorf("by hash = %+v; want %+v", got, b.cps[3])
	}
	// Without 0x and in upper case too.
	if got := decode[Checkpoint](t, get("/v1/checkpoints/"+strings.ToUpper(cph.Hex()[2:]))); got.Epoch != 3 {
		t.Errorf("by bare upper-case hash: epoch %d; want 3", got.Epoch)
	}
	if got := decode[TxStatus](t, get("/v1/txs/"+txh.Hex())); !reflect.DeepEqual(got, b.txs[txh]) {
		t.Errorf("tx = %+v; want %+v", got, b.txs[txh])
	}
	unknown := testHash("tx", 99)
	if got := decode[TxStatus](t, get("/v1/txs/"+unknown.Hex())); got.Status != TxUnknown || got.Hash != unknown {
		t.Errorf("unknown tx = %+v; want status unknown", got)
	}
	acc := get("/v1/accounts/" + testAddr(7).Hex())
	if got := decode[Account](t, acc); !reflect.DeepEqual(got, b.accounts[testAddr(7)]) {
		t.Errorf("account = %+v; want %+v", got, b.accounts[testAddr(7)])
	}
	if !bytes.Contains(acc.body, []byte(`"balance":"1152921504606846976"`)) {
		t.Errorf("balance is not a decimal string: %s", acc.body)
	}
	if got := decode[Account](t, get("/v1/accounts/"+testAddr(7).Hex()+"?proof=true")); len(got.Proof) != 1 {
		t.Errorf("proof = %v; want 1 node", got.Proof)
	}
	if got := decode[Snapshot](t, get("/v1/snapshots/2")); !reflect.DeepEqual(got, b.snaps[2]) {
		t.Errorf("snapshot = %+v; want %+v", got, b.snaps[2])
	}
	if got := decode[ValidatorList](t, get("/v1/validators")); !reflect.DeepEqual(got.Validators, b.vals) {
		t.Errorf("validators = %+v; want %+v", got.Validators, b.vals)
	}
	if got := decode[Status](t, get("/v1/status")); !reflect.DeepEqual(got, b.status) {
		t.Errorf("status = %+v; want %+v", got, b.status)
	}
	if got := decode[Health](t, get("/healthz")); got != (Health{Status: "ok", Epoch: 5, Sync: SyncSynced}) {
		t.Errorf("healthz = %+v", got)
	}
	head := doRequest(t, srv, http.MethodHead, "/v1/status", nil, nil)
	if head.status != http.StatusOK || len(head.body) != 0 {
		t.Errorf("HEAD /v1/status = %d with %d body bytes; want 200, empty", head.status, len(head.body))
	}

	sub := doRequest(t, srv, http.MethodPost, "/v1/txs", strings.NewReader(`{"tx":"0x0102ff"}`), nil)
	if sub.status != http.StatusAccepted {
		t.Fatalf("POST /v1/txs = %d %s; want 202", sub.status, sub.body)
	}
	if got, want := decode[TxSubmitted](t, sub).Hash, common.Hash(sha256Sum([]byte{1, 2, 0xff})); got != want {
		t.Errorf("submitted hash = %s; want %s", got, want)
	}
}

func TestEmptySlicesEncodeAsArrays(t *testing.T) {
	b := newFakeBackend(0)
	b.cps = []Checkpoint{{Epoch: 0}}
	b.snaps[0] = Snapshot{Nodes: []SnapshotNode{{Channels: []Channel{{From: 1}}}}}
	srv, _ := newTestServer(t, b, Options{})
	for path, wants := range map[string][]string{
		"/v1/checkpoints/epoch/0":  {`"cut":[]`, `"votes":[]`},
		"/v1/snapshots/0":          {`"cut":[]`, `"recorded":[]`, `"tx_hashes":[]`},
		"/v1/validators":           {`"validators":[]`},
		"/v1/checkpoints?cursor=0": {`"checkpoints":[]`},
	} {
		r := doRequest(t, srv, http.MethodGet, path, nil, nil)
		for _, w := range wants {
			if !bytes.Contains(r.body, []byte(w)) {
				t.Errorf("GET %s = %s; want it to contain %s", path, r.body, w)
			}
		}
	}
}

func TestSnapshotTxHashesBounded(t *testing.T) {
	b := newFakeBackend(0)
	hashes := make([]common.Hash, 10)
	for i := range hashes {
		hashes[i] = testHash("tx", uint64(i))
	}
	b.snaps[1] = Snapshot{Epoch: 1, Nodes: []SnapshotNode{{Channels: []Channel{{From: 0, TxCount: 10, TxHashes: hashes}, {From: 1, TxHashes: hashes[:3]}}}}}
	srv, _ := newTestServer(t, b, Options{MaxSnapshotTxHashes: 4})
	got := decode[Snapshot](t, doRequest(t, srv, http.MethodGet, "/v1/snapshots/1", nil, nil))
	c0, c1 := got.Nodes[0].Channels[0], got.Nodes[0].Channels[1]
	if len(c0.TxHashes) != 4 || !c0.TxHashesTruncated || c0.TxHashes[3] != hashes[3] {
		t.Errorf("channel 0: %d hashes, truncated=%v; want 4, true", len(c0.TxHashes), c0.TxHashesTruncated)
	}
	if len(c1.TxHashes) != 3 || c1.TxHashesTruncated {
		t.Errorf("channel 1: %d hashes, truncated=%v; want 3, false", len(c1.TxHashes), c1.TxHashesTruncated)
	}
	if len(b.snaps[1].Nodes[0].Channels[0].TxHashes) != 10 {
		t.Error("server mutated the backend's snapshot")
	}
}

// TestErrorMapping checks that every sentinel a backend may return maps to
// its status and stable code on every backend-calling route, and that
// unknown errors become 500 without leaking their text.
func TestErrorMapping(t *testing.T) {
	cases := []struct {
		err    error
		status int
		code   string
		msg    string
	}{
		{fmt.Errorf("epoch 9: %w", ErrNotFound), 404, CodeNotFound, "epoch 9"},
		{fmt.Errorf("%w: nonce too low", ErrBadRequest), 400, CodeBadRequest, "nonce too low"},
		{fmt.Errorf("%w: bad signature", ErrInvalidTx), 400, CodeInvalidTx, "bad signature"},
		{fmt.Errorf("%w: 100/100", ErrMempoolFull), 429, CodeMempoolFull, "100/100"},
		{fmt.Errorf("%w: catching up to 40", ErrNotSynced), 503, CodeNotSynced, "catching up"},
		{fmt.Errorf("%w: read checkpoint 3: disk error", ErrUnavailable), 503, CodeUnavailable, "disk error"},
		{errors.New("badger: disk on fire"), 500, CodeInternal, "internal error"},
	}
	h := testHash("x", 0).Hex()
	routes := []struct{ method, path, body string }{
		{"GET", "/v1/checkpoints/latest", ""},
		{"GET", "/v1/checkpoints/" + h, ""},
		{"GET", "/v1/checkpoints/epoch/1", ""},
		{"GET", "/v1/checkpoints", ""},
		{"GET", "/v1/checkpoints/stream?from=0", ""},
		{"GET", "/v1/checkpoints/stream", ""},
		{"POST", "/v1/txs", "0x01"},
		{"GET", "/v1/txs/" + h, ""},
		{"GET", "/v1/accounts/" + testAddr(1).Hex(), ""},
		{"GET", "/v1/snapshots/1", ""},
		{"GET", "/v1/validators", ""},
		{"GET", "/v1/status", ""},
		{"GET", "/healthz", ""},
	}
	for _, c := range cases {
		b := newFakeBackend(3)
		b.err = c.err
		srv, cl := newTestServer(t, b, Options{})
		for _, rt := range routes {
			t.Run(c.code+rt.path, func(t *testing.T) {
				r := doRequest(t, srv, rt.method, rt.path, strings.NewReader(rt.body), nil)
				wantError(t, r, c.status, c.code, c.msg)
				if c.status == 500 && bytes.Contains(r.body, []byte("disk on fire")) {
					t.Errorf("500 body leaks the internal error: %s", r.body)
				}
			})
		}
		// The client maps the body back to the sentinel.
		_, err := cl.Status(t.Context())
		var apiErr *APIError
		if !errors.As(err, &apiErr) || apiErr.Status != c.status || apiErr.Code != c.code {
			t.Errorf("client error = %v; want *APIError %d %s", err, c.status, c.code)
		}
		if c.status != 500 && !errors.Is(err, errorClassesSentinel(c.code)) {
			t.Errorf("errors.Is(%v, sentinel of %s) = false", err, c.code)
		}
	}
}

func errorClassesSentinel(code string) error { return sentinelForCode(code) }

func TestBadParams(t *testing.T) {
	srv, _ := newTestServer(t, newFakeBackend(3), Options{})
	cases := []struct{ path, msg string }{
		{"/v1/checkpoints/0x1234", "want 64 hex digits, got 4"},
		{"/v1/checkpoints/" + strings.Repeat("zz", 32), "invalid hex"},
		{"/v1/checkpoints/42", "/v1/checkpoints/epoch/42"},
		{"/v1/checkpoints/epoch/-1", "not a decimal number"},
		{"/v1/checkpoints/epoch/01", "leading zeros"},
		{"/v1/checkpoints/epoch/abc", "not a decimal number"},
		{"/v1/checkpoints/epoch/18446744073709551616", "out of range"},
		{"/v1/checkpoints?cursor=x", "cursor"},
		{"/v1/checkpoints?limit=0", "limit"},
		{"/v1/checkpoints?limit=-5", "limit"},
		{"/v1/checkpoints?limit=ten", "limit"},
		{"/v1/checkpoints/stream?from=x", "from"},
		{"/v1/txs/0x12", "hash"},
		{"/v1/accounts/0x12", "want 40 hex digits"},
		{"/v1/accounts/" + testHash("a", 0).Hex(), "want 40 hex digits"},
		{"/v1/accounts/" + testAddr(1).Hex() + "?proof=maybe", "proof"},
		{"/v1/snapshots/1.5", "epoch"},
		{"/v1/snapshots/%20", "epoch"},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			wantError(t, doRequest(t, srv, http.MethodGet, c.path, nil, nil), 400, CodeBadRequest, c.msg)
		})
	}
	r := doRequest(t, srv, http.MethodGet, "/v1/checkpoints/stream", nil, map[string]string{"Last-Event-ID": "nope"})
	wantError(t, r, 400, CodeBadRequest, "Last-Event-ID")
}

func TestUnknownRoutesAndMethods(t *testing.T) {
	srv, _ := newTestServer(t, newFakeBackend(1), Options{})
	for _, p := range []string{"/v1/nope", "/v2/status", "/", "/index.html", "/v1/checkpoints/epoch/1/extra"} {
		wantError(t, doRequest(t, srv, http.MethodGet, p, nil, nil), 404, CodeNotFound, "no route")
	}
	r := doRequest(t, srv, http.MethodPost, "/v1/status", nil, nil)
	wantError(t, r, 405, CodeMethodNotAllowed, "POST")
	if got := r.header.Get("Allow"); got != "GET, HEAD" {
		t.Errorf("Allow = %q; want GET, HEAD", got)
	}
	r = doRequest(t, srv, http.MethodGet, "/v1/txs", nil, nil)
	wantError(t, r, 405, CodeMethodNotAllowed, "GET")
	if got := r.header.Get("Allow"); got != "POST" {
		t.Errorf("Allow = %q; want POST", got)
	}
	wantError(t, doRequest(t, srv, http.MethodDelete, "/v1/checkpoints/stream", nil, nil), 405, CodeMethodNotAllowed, "DELETE")
}

func TestUIHandler(t *testing.T) {
	ui := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, "<p>explorer %s</p>", r.URL.Path)
	})
	srv, _ := newTestServer(t, newFakeBackend(1), Options{UI: ui})
	r := doRequest(t, srv, http.MethodGet, "/", nil, nil)
	if r.status != 200 || string(r.body) != "<p>explorer /</p>" {
		t.Errorf("GET / = %d %q; want the UI", r.status, r.body)
	}
	// API routes and unknown /v1/ routes are not the UI's.
	wantError(t, doRequest(t, srv, http.MethodGet, "/v1/nope", nil, nil), 404, CodeNotFound, "no route")
	if r := doRequest(t, srv, http.MethodGet, "/v1/status", nil, nil); r.status != 200 {
		t.Errorf("GET /v1/status with UI = %d", r.status)
	}
}

// TestPagination walks the whole chain with random page sizes (seeded) and
// checks that every epoch appears exactly once, newest first.
func TestPagination(t *testing.T) {
	const epochs = 237
	b := newFakeBackend(epochs)
	_, c := newTestServer(t, b, Options{})
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 1))
	t.Logf("seed %d", seed)
	for walk := 0; walk < 5; walk++ {
		limit := 1 + rng.IntN(120)
		want := uint64(epochs)
		cursor, pages := "", 0
		for {
			page, err := c.Checkpoints(t.Context(), cursor, limit)
			if err != nil {
				t.Fatalf("seed %d: page %d: %v", seed, pages, err)
			}
			pages++
			if len(page.Checkpoints) > min(limit, MaxPageLimit) {
				t.Fatalf("seed %d: page of %d for limit %d", seed, len(page.Checkpoints), limit)
			}
			for _, cp := range page.Checkpoints {
				want--
				if cp.Epoch != want {
					t.Fatalf("seed %d limit %d: epoch %d; want %d", seed, limit, cp.Epoch, want)
				}
			}
			if page.NextCursor == "" {
				break
			}
			cursor = page.NextCursor
		}
		if want != 0 {
			t.Fatalf("seed %d limit %d: walk stopped at epoch %d", seed, limit, want)
		}
		if wantPages := (epochs + min(limit, MaxPageLimit) - 1) / min(limit, MaxPageLimit); pages != wantPages {
			t.Errorf("seed %d limit %d: %d pages; want %d (no empty last page)", seed, limit, pages, wantPages)
		}
	}

	page, err := c.Checkpoints(t.Context(), "", 0)
	if err != nil || len(page.Checkpoints) != DefaultPageLimit || page.Checkpoints[0].Epoch != epochs-1 {
		t.Errorf("default page: %d items, err %v; want %d from the latest", len(page.Checkpoints), err, DefaultPageLimit)
	}
	if page.NextCursor != strconv.Itoa(epochs-DefaultPageLimit) {
		t.Errorf("next cursor %q; want %d", page.NextCursor, epochs-DefaultPageLimit)
	}
	page, err = c.Checkpoints(t.Context(), "", 5000)
	if err != nil || len(page.Checkpoints) != MaxPageLimit {
		t.Errorf("limit 5000: %d items, err %v; want clamped to %d", len(page.Checkpoints), err, MaxPageLimit)
	}
	page, err = c.Checkpoints(t.Context(), "0", 10)
	if err != nil || len(page.Checkpoints) != 0 || page.NextCursor != "" {
		t.Errorf("cursor 0: %+v, %v; want an empty last page", page, err)
	}
	_, c2 := newTestServer(t, newFakeBackend(0), Options{})
	page, err = c2.Checkpoints(t.Context(), "", 10)
	if err != nil || len(page.Checkpoints) != 0 || page.NextCursor != "" {
		t.Errorf("empty chain: %+v, %v; want an empty page", page, err)
	}
	if _, err := c.Checkpoints(t.Context(), "zz", 10); !errors.Is(err, ErrBadRequest) {
		t.Errorf("bad cursor: %v; want ErrBadRequest", err)
	}
}

// misorderedBackend returns a page violating the Checkpoints contract.
type misorderedBackend struct{ *fakeBackend }

func (m misorderedBackend) Checkpoints(ctx context.Context, before uint64, limit int) ([]Checkpoint, error) {
	return []Checkpoint{testCheckpoint(1), testCheckpoint(2)}, nil
}

func TestPaginationRejectsMisorderedBackend(t *testing.T) {
	srv, _ := newTestServer(t, misorderedBackend{newFakeBackend(3)}, Options{})
	wantError(t, doRequest(t, srv, http.MethodGet, "/v1/checkpoints", nil, nil), 500, CodeInternal, "internal")
}

func TestSubmitTxBodies(t *testing.T) {
	b := newFakeBackend(1)
	srv, c := newTestServer(t, b, Options{MaxTxBodyBytes: 256})
	ok := []struct{ body, ctype string }{
		{`{"tx":"0xabcd"}`, "application/json"},
		{`  {"tx":"ABCD"}` + "\n", "application/json"},
		{"0xabcd", "text/plain"},
		{"abcd\r\n", "application/octet-stream"},
	}
	for _, o := range ok {
		r := doRequest(t, srv, http.MethodPost, "/v1/txs", strings.NewReader(o.body), map[string]string{"Content-Type": o.ctype})
		if r.status != http.StatusAccepted {
			t.Errorf("POST %q = %d %s; want 202", o.body, r.status, r.body)
		}
	}
	for i, raw := range b.submitted {
		if !bytes.Equal(raw, []byte{0xab, 0xcd}) {
			t.Errorf("submission %d = %x; want abcd", i, raw)
		}
	}
	bad := []struct{ body, msg string }{
		{"", "empty body"},
		{"0x", "empty transaction"},
		{"abc", "odd length"},
		{"0xzz", "not valid hex"},
		{`{"tx":"0x01"`, "JSON body"},
		{`{"tx":"0x01","extra":1}`, "unknown field"},
		{`{"tx":"0x01"}{}`, "trailing data"},
		{`{}`, "missing field"},
		{`{"tx":12}`, "JSON body"},
	}
	for _, c := range bad {
		wantError(t, doRequest(t, srv, http.MethodPost, "/v1/txs", strings.NewReader(c.body), nil), 400, CodeBadRequest, c.msg)
	}
	big := "0x" + strings.Repeat("ab", 200)
	wantError(t, doRequest(t, srv, http.MethodPost, "/v1/txs", strings.NewReader(big), nil), 413, CodeTooLarge, "256 bytes")
	// The client's path: raw bytes in, hash out; refusals as sentinels.
	h, err := c.SubmitTx(t.Context(), []byte{1, 2, 3})
	if err != nil || h != common.Hash(sha256Sum([]byte{1, 2, 3})) {
		t.Errorf("client SubmitTx = %s, %v", h, err)
	}
	b.submitErr = fmt.Errorf("%w: fee below minimum", ErrInvalidTx)
	if _, err := c.SubmitTx(t.Context(), []byte{1}); !errors.Is(err, ErrInvalidTx) || !strings.Contains(err.Error(), "fee below minimum") {
		t.Errorf("SubmitTx invalid = %v; want ErrInvalidTx with reason", err)
	}
	b.submitErr = fmt.Errorf("%w", ErrMempoolFull)
	if _, err := c.SubmitTx(t.Context(), []byte{1}); !errors.Is(err, ErrMempoolFull) {
		t.Errorf("SubmitTx full = %v; want ErrMempoolFull", err)
	}
}

func TestGetBodiesAreBounded(t *testing.T) {
	srv, _ := newTestServer(t, newFakeBackend(1), Options{})
	// A GET handler does not read its body, but the server drains it to
	// reuse the connection; the limit keeps that drain bounded.
	r := doRequest(t, srv, http.MethodGet, "/v1/status", strings.NewReader(strings.Repeat("x", 1<<20)), nil)
	if r.status != 200 {
		t.Errorf("GET with large body = %d", r.status)
	}
}

func TestHandlerTimeout(t *testing.T) {
	b := newFakeBackend(1)
	b.block = true
	srv, c := newTestServer(t, b, Options{HandlerTimeout: 50 * time.Millisecond})
	start := time.Now()
	r := doRequest(t, srv, http.MethodGet, "/v1/status", nil, nil)
	wantError(t, r, 503, CodeTimeout, "timed out")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("timeout took %v", d)
	}
	if _, err := c.Account(t.Context(), testAddr(1), false); !errors.Is(err, ErrTimeout) {
		t.Errorf("client: %v; want ErrTimeout", err)
	}
}

func TestOptionsValidate(t *testing.T) {
	if err := DefaultOptions().Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	if err := (Options{}).Validate(); err != nil {
		t.Errorf("zero: %v", err)
	}
	for _, o := range []Options{{HandlerTimeout: -1}, {MaxTxBodyBytes: -1}, {MaxStreams: -1}, {StreamHeartbeat: -1}, {StreamWriteTimeout: -1}, {MaxSnapshotTxHashes: -1}} {
		if err := o.Validate(); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("Validate(%+v) = %v; want ErrInvalidOptions", o, err)
		}
	}
}

// TestReceiptsRoute checks GET /v1/checkpoints/epoch/{n}/receipts through
// the client: order, failed receipts with reasons, 404 beyond the chain.
func TestReceiptsRoute(t *testing.T) {
	b := newFakeBackend(5)
	srv := httptest.NewServer(NewServer(b, Options{}))
	defer srv.Close()
	c, err := NewClient(srv.URL, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	rs, err := c.Receipts(context.Background(), 3)
	if err != nil {
		t.Fatal(err)
	}
	if rs.Epoch != 3 || len(rs.Receipts) != 30 || !rs.Final {
		t.Fatalf("receipts of epoch 3: epoch %d, %d receipts, final %v", rs.Epoch, len(rs.Receipts), rs.Final)
	}
	for i, r := range rs.Receipts {
		if r.Index != uint32(i) || r.TxHash != testHash("rtx", 3000+uint64(i)) {
			t.Fatalf("receipt %d out of order: %+v", i, r)
		}
		if (i%3 == 2) != (r.Status == ReceiptFailed) || (r.Status == ReceiptFailed && r.Error != "bad_nonce") {
			t.Fatalf("receipt %d: %+v", i, r)
		}
	}
	if _, err := c.Receipts(context.Background(), 9); !errors.Is(err, ErrNotFound) {
		t.Fatalf("receipts of epoch 9: %v, want ErrNotFound", err)
	}
	resp, err := srv.Client().Get(srv.URL + "/v1/checkpoints/epoch/x/receipts")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad epoch: status %d", resp.StatusCode)
	}
}

// TestSubmitTxBatch checks POST /v1/txs/batch: per-transaction hashes in
// order, per-transaction error codes, and 400 for empty, oversized or
// malformed batches.
func TestSubmitTxBatch(t *testing.T) {
	b := newFakeBackend(2)
	srv := httptest.NewServer(NewServer(b, Options{}))
	defer srv.Close()
	c, err := NewClient(srv.URL, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	raws := [][]byte{{1, 2, 3}, {4, 5}, {6}}
	hashes, errs, err := c.SubmitTxBatch(context.Background(), raws)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range raws {
		if errs[i] != nil || hashes[i] != common.Hash(sha256.Sum256(r)) {
			t.Fatalf("result %d: hash %s err %v", i, hashes[i], errs[i])
		}
	}
	if len(b.submitted) != 3 || !bytes.Equal(b.submitted[1], raws[1]) {
		t.Fatalf("backend got %x", b.submitted)
	}
	b.submitErr = fmt.Errorf("full: %w", ErrMempoolFull)
	_, errs, err = c.SubmitTxBatch(context.Background(), raws)
	if err != nil {
		t.Fatal(err)
	}
	for i := range errs {
		if !errors.Is(errs[i], ErrMempoolFull) {
			t.Fatalf("result %d: %v, want mempool_full", i, errs[i])
		}
	}
	for _, body := range []string{`{"txs":[]}`, `{"txs":["0xzz"]}`, `{"tx":"0x01"}`,
		`{"txs":[` + strings.Repeat(`"0x01",`, MaxBatchTxs) + `"0x01"]}`} {
		resp, err := srv.Client().Post(srv.URL+"/v1/txs/batch", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("batch %.40q: status %d, want 400", body, resp.StatusCode)
		}
	}
}
