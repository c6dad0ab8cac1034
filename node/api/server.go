package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/ethereum/go-ethereum/common"
)

// Limits of the checkpoint list.
const (
	// DefaultPageLimit is the page size of GET /v1/checkpoints without limit.
	DefaultPageLimit = 20
	// MaxPageLimit is the largest page; larger limits are clamped to it.
	MaxPageLimit = 100
)

// maxGetBodyBytes bounds request bodies on routes that take none.
const maxGetBodyBytes = 4 << 10

// Options configures NewServer. Zero fields take the DefaultOptions value.
type Options struct {
	// UI, when set, serves everything outside /v1/ and /healthz (the
	// explorer's static files). Without it such paths are 404 not_found.
	UI http.Handler
	// Logger receives 500-class errors (nil: discard).
	Logger *slog.Logger
	// HandlerTimeout bounds every handler except the stream (default 10 s).
	HandlerTimeout time.Duration
	// MaxTxBodyBytes bounds the body of POST /v1/txs (default 64 KiB).
	MaxTxBodyBytes int64
	// MaxStreams bounds concurrent checkpoint streams (default 64).
	MaxStreams int
	// StreamHeartbeat is the interval of SSE comment heartbeats (default 15 s).
	StreamHeartbeat time.Duration
	// StreamWriteTimeout bounds each write to a stream client; a client that
	// does not read for this long is dropped (default 30 s).
	StreamWriteTimeout time.Duration
	// MaxSnapshotTxHashes bounds the transaction hashes listed per channel
	// in a snapshot; the rest are counted in TxCount only (default 1000).
	MaxSnapshotTxHashes int
	// MaxStateExports bounds concurrent GET /v1/state/{epoch} transfers
	// (default 2): each walks a whole state trie.
	MaxStateExports int
}

// DefaultOptions returns the defaults documented on Options.
func DefaultOptions() Options {
	return Options{
		HandlerTimeout:      10 * time.Second,
		MaxTxBodyBytes:      64 << 10,
		MaxStreams:          64,
		StreamHeartbeat:     15 * time.Second,
		StreamWriteTimeout:  30 * time.Second,
		MaxSnapshotTxHashes: 1000,
		MaxStateExports:     2,
	}
}

// ErrInvalidOptions is wrapped by Options.Validate errors.
var ErrInvalidOptions = errors.New("api: invalid options")

// Validate reports negative limits. Zero means default.
func (o Options) Validate() error {
	switch {
	case o.HandlerTimeout < 0:
		return fmt.Errorf("%w: HandlerTimeout %v < 0", ErrInvalidOptions, o.HandlerTimeout)
	case o.MaxTxBodyBytes < 0:
		return fmt.Errorf("%w: MaxTxBodyBytes %d < 0", ErrInvalidOptions, o.MaxTxBodyBytes)
	case o.MaxStreams < 0:
		return fmt.Errorf("%w: MaxStreams %d < 0", ErrInvalidOptions, o.MaxStreams)
	case o.StreamHeartbeat < 0:
		return fmt.Errorf("%w: StreamHeartbeat %v < 0", ErrInvalidOptions, o.StreamHeartbeat)
	case o.StreamWriteTimeout < 0:
		return fmt.Errorf("%w: StreamWriteTimeout %v < 0", ErrInvalidOptions, o.StreamWriteTimeout)
	case o.MaxSnapshotTxHashes < 0:
		return fmt.Errorf("%w: MaxSnapshotTxHashes %d < 0", ErrInvalidOptions, o.MaxSnapshotTxHashes)
	case o.MaxStateExports < 0:
		return fmt.Errorf("%w: MaxStateExports %d < 0", ErrInvalidOptions, o.MaxStateExports)
	}
	return nil
}

// withDefaults replaces non-positive fields by their defaults.
func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.HandlerTimeout <= 0 {
		o.HandlerTimeout = d.HandlerTimeout
	}
	if o.MaxTxBodyBytes <= 0 {
		o.MaxTxBodyBytes = d.MaxTxBodyBytes
	}
	if o.MaxStreams <= 0 {
		o.MaxStreams = d.MaxStreams
	}
	if o.StreamHeartbeat <= 0 {
		o.StreamHeartbeat = d.StreamHeartbeat
	}
	if o.StreamWriteTimeout <= 0 {
		o.StreamWriteTimeout = d.StreamWriteTimeout
	}
	if o.MaxSnapshotTxHashes <= 0 {
		o.MaxSnapshotTxHashes = d.MaxSnapshotTxHashes
	}
	if o.MaxStateExports <= 0 {
		o.MaxStateExports = d.MaxStateExports
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

type server struct {
	backend Backend
	opts    Options
	log     *slog.Logger
	// streams is a semaphore: one token per open checkpoint stream.
	streams chan struct{}
	// exports is a semaphore: one token per running state file transfer.
	exports chan struct{}
}

// NewServer returns the API handler over b. Options fields that are zero (or
// invalid; see Options.Validate) take their defaults.
func NewServer(b Backend, opts Options) http.Handler {
	opts = opts.withDefaults()
	s := &server{
		backend: b,
		opts:    opts,
		log:     opts.Logger,
		streams: make(chan struct{}, opts.MaxStreams),
		exports: make(chan struct{}, opts.MaxStateExports),
	}
	mux := http.NewServeMux()
	get, post := http.MethodGet, http.MethodPost
	s.route(mux, "/v1/checkpoints/latest", get, s.bounded(maxGetBodyBytes, s.getLatest))
	s.route(mux, "/v1/checkpoints/stream", get, http.HandlerFunc(s.stream))
	s.route(mux, "/v1/checkpoints/epoch/{n}", get, s.bounded(maxGetBodyBytes, s.getCheckpointByEpoch))
	s.route(mux, "/v1/checkpoints/epoch/{n}/receipts", get, s.bounded(maxGetBodyBytes, s.getReceipts))
	s.route(mux, "/v1/checkpoints/{hash}", get, s.bounded(maxGetBodyBytes, s.getCheckpointByHash))
	s.route(mux, "/v1/checkpoints", get, s.bounded(maxGetBodyBytes, s.listCheckpoints))
	s.route(mux, "/v1/txs", post, s.bounded(opts.MaxTxBodyBytes, s.submitTx))
	s.route(mux, "/v1/txs/batch", post, s.bounded(maxBatchBodyBytes, s.submitTxBatch))
	s.route(mux, "/v1/txs/{hash}", get, s.bounded(maxGetBodyBytes, s.getTx))
	s.route(mux, "/v1/accounts/{address}", get, s.bounded(maxGetBodyBytes, s.getAccount))
	s.route(mux, "/v1/snapshots/{epoch}", get, s.bounded(maxGetBodyBytes, s.getSnapshot))
	s.route(mux, "/v1/validators", get, s.bounded(maxGetBodyBytes, s.getValidators))
	s.route(mux, "/v1/status", get, s.bounded(maxGetBodyBytes, s.getStatus))
	s.route(mux, "/v1/state/{epoch}", get, http.HandlerFunc(s.stateFile))
	s.route(mux, "/healthz", get, s.bounded(maxGetBodyBytes, s.getHealth))
	mux.Handle("/v1/", s.bounded(maxGetBodyBytes, s.unknownRoute))
	if opts.UI != nil {
		mux.Handle("/", opts.UI)
	} else {
		mux.Handle("/", s.bounded(maxGetBodyBytes, s.unknownRoute))
	}
	return mux
}

// NewHTTPServer returns an http.Server for h with timeouts suited to the API:
// slow-header and slow-body clients are cut off, idle connections closed,
// headers bounded. Request contexts are cancelled when Shutdown starts, so
// open checkpoint streams end instead of holding Shutdown until its deadline.
func NewHTTPServer(addr string, h http.Handler) *http.Server {
	base, cancel := context.WithCancel(context.Background())
	srv := &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second, // > default HandlerTimeout; streams lift it
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	srv.RegisterOnShutdown(cancel)
	return srv
}

// route registers h for pattern, answering other methods with 405 (GET also
// serves HEAD).
func (s *server) route(mux *http.ServeMux, pattern, method string, h http.Handler) {
	allow := method
	if method == http.MethodGet {
		allow = "GET, HEAD"
	}
	mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method && (method != http.MethodGet || r.Method != http.MethodHead) {
			w.Header().Set("Allow", allow)
			s.writeError(w, r, fmt.Errorf("%w: %s %s (allowed: %s)", ErrMethodNotAllowed, r.Method, r.URL.Path, allow))
			return
		}
		h.ServeHTTP(w, r)
	}))
}

// handlerFunc is a handler that reports failure as an error, written by
// writeError.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// timeoutBody is the body written by http.TimeoutHandler on timeout.
var timeoutBody = mustJSON(ErrorBody{Error{Code: CodeTimeout, Message: "api: request timed out"}})

// bounded wraps fn with a body size limit, the handler timeout and the
// common headers.
func (s *server) bounded(maxBodyBytes int64, fn handlerFunc) http.Handler {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		if err := fn(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
	th := http.TimeoutHandler(inner, s.opts.HandlerTimeout, string(timeoutBody))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Set on the outer writer so the timeout body is typed too; the
		// inner handler's headers replace these on success.
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-store")
		th.ServeHTTP(w, r)
	})
}

// writeError is the one place where errors become HTTP responses.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	c := classify(err)
	msg := err.Error()
	if c.status == http.StatusInternalServerError {
		s.log.Error("api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "internal error"
	}
	writeJSON(w, c.status, ErrorBody{Error{Code: c.code, Message: msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Every view type marshals; failure is a programming error.
		panic(fmt.Sprintf("api: marshal %T: %v", v, err))
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n')) // a failed write means the client left
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func (s *server) unknownRoute(w http.ResponseWriter, r *http.Request) error {
	return fmt.Errorf("%w: no route %s %s", ErrNotFound, r.Method, clip(r.URL.Path))
}

func (s *server) getLatest(w http.ResponseWriter, r *http.Request) error {
	cp, err := s.backend.LatestCheckpoint(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, normalizeCheckpoint(cp))
	return nil
}

func (s *server) getCheckpointByEpoch(w http.ResponseWriter, r *http.Request) error {
	n, err := ParseEpoch(r.PathValue("n"))
	if err != nil {
		return err
	}
	cp, err := s.backend.Checkpoint(r.Context(), n)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, normalizeCheckpoint(cp))
	return nil
}

func (s *server) getCheckpointByHash(w http.ResponseWriter, r *http.Request) error {
	raw := r.PathValue("hash")
	h, err := ParseHash(raw)
	if err != nil {
		if _, epochErr := ParseEpoch(raw); epochErr == nil {
			return fmt.Errorf("%w (for an epoch use /v1/checkpoints/epoch/%s)", err, raw)
		}
		return err
	}
	cp, err := s.backend.CheckpointByHash(r.Context(), h)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, normalizeCheckpoint(cp))
	return nil
}

// parsePageQuery reads cursor and limit of GET /v1/checkpoints. The cursor
// is the exclusive upper epoch bound of the page, written in decimal.
func parsePageQuery(cursor, limit string) (before uint64, n int, err error) {
	before, n = math.MaxUint64, DefaultPageLimit
	if cursor != "" {
		if before, err = parseUint(cursor); err != nil {
			return 0, 0, fmt.Errorf("%w: cursor %q: %v", ErrBadRequest, clip(cursor), err)
		}
	}
	if limit != "" {
		v, err := parseUint(limit)
		if err != nil || v == 0 {
			return 0, 0, fmt.Errorf("%w: limit %q: want an integer in [1, %d]", ErrBadRequest, clip(limit), MaxPageLimit)
		}
		n = int(min(v, MaxPageLimit))
	}
	return before, n, nil
}

func (s *server) listCheckpoints(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	before, limit, err := parsePageQuery(q.Get("cursor"), q.Get("limit"))
	if err != nil {
		return err
	}
	// Ask for one more to know whether an older page exists.
	cps, err := s.backend.Checkpoints(r.Context(), before, limit+1)
	if err != nil {
		return err
	}
	if len(cps) > limit+1 {
		return fmt.Errorf("backend returned %d checkpoints for limit %d", len(cps), limit+1)
	}
	for i, cp := range cps {
		if cp.Epoch >= before || (i > 0 && cp.Epoch >= cps[i-1].Epoch) {
			return fmt.Errorf("backend page out of order at %d: epoch %d (before %d)", i, cp.Epoch, before)
		}
	}
	page := CheckpointPage{Checkpoints: make([]Checkpoint, 0, min(len(cps), limit))}
	if len(cps) > limit {
		cps = cps[:limit]
		page.NextCursor = strconv.FormatUint(cps[limit-1].Epoch, 10)
	}
	for _, cp := range cps {
		page.Checkpoints = append(page.Checkpoints, normalizeCheckpoint(cp))
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

func (s *server) submitTx(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return fmt.Errorf("%w: limit is %d bytes", ErrTooLarge, s.opts.MaxTxBodyBytes)
		}
		return fmt.Errorf("%w: reading body: %v", ErrBadRequest, err)
	}
	raw, err := ParseTxBody(body)
	if err != nil {
		return err
	}
	h, err := s.backend.SubmitTx(r.Context(), raw)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, TxSubmitted{Hash: h})
	return nil
}

// maxBatchBodyBytes fits MaxBatchTxs hex-encoded transactions.
const maxBatchBodyBytes = MaxBatchTxs*600 + 1024

// submitTxBatch admits up to MaxBatchTxs transactions in one request; each
// gets its own result, classified like a single submission's error.
func (s *server) submitTxBatch(w http.ResponseWriter, r *http.Request) error {
	var batch TxBatch
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&batch); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return fmt.Errorf("%w: limit is %d bytes", ErrTooLarge, maxBatchBodyBytes)
		}
		return fmt.Errorf("%w: JSON body: %v", ErrBadRequest, err)
	}
	if len(batch.Txs) == 0 || len(batch.Txs) > MaxBatchTxs {
		return fmt.Errorf("%w: %d transactions in a batch, want 1..%d", ErrBadRequest, len(batch.Txs), MaxBatchTxs)
	}
	out := TxBatchResult{Results: make([]TxResult, len(batch.Txs))}
	for i, raw := range batch.Txs {
		h, err := s.backend.SubmitTx(r.Context(), raw)
		if err != nil {
			c := classify(err)
			msg := err.Error()
			if c.status == http.StatusInternalServerError {
				s.log.Error("api batch submission failed", "index", i, "err", err)
				msg = "internal error"
			}
			out.Results[i].Error = &Error{Code: c.code, Message: msg}
			continue
		}
		out.Results[i].Hash = &h
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *server) getTx(w http.ResponseWriter, r *http.Request) error {
	h, err := ParseHash(r.PathValue("hash"))
	if err != nil {
		return err
	}
	st, err := s.backend.Tx(r.Context(), h)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

func (s *server) getAccount(w http.ResponseWriter, r *http.Request) error {
	addr, err := ParseAddress(r.PathValue("address"))
	if err != nil {
		return err
	}
	withProof := false
	if v := r.URL.Query().Get("proof"); v != "" {
		if withProof, err = strconv.ParseBool(v); err != nil {
			return fmt.Errorf("%w: proof %q: want true or false", ErrBadRequest, clip(v))
		}
	}
	acc, err := s.backend.Account(r.Context(), addr, withProof)
	if err != nil {
		return err
	}
	if !withProof {
		acc.Proof = nil
	}
	writeJSON(w, http.StatusOK, acc)
	return nil
}

func (s *server) getSnapshot(w http.ResponseWriter, r *http.Request) error {
	n, err := ParseEpoch(r.PathValue("epoch"))
	if err != nil {
		return err
	}
	snap, err := s.backend.Snapshot(r.Context(), n)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, normalizeSnapshot(snap, s.opts.MaxSnapshotTxHashes))
	return nil
}

func (s *server) getReceipts(w http.ResponseWriter, r *http.Request) error {
	n, err := ParseEpoch(r.PathValue("n"))
	if err != nil {
		return err
	}
	rs, err := s.backend.Receipts(r.Context(), n)
	if err != nil {
		return err
	}
	if rs.Receipts == nil {
		rs.Receipts = []TxReceipt{}
	}
	writeJSON(w, http.StatusOK, rs)
	return nil
}

func (s *server) getValidators(w http.ResponseWriter, r *http.Request) error {
	vs, err := s.backend.Validators(r.Context())
	if err != nil {
		return err
	}
	if vs == nil {
		vs = []Validator{}
	}
	writeJSON(w, http.StatusOK, ValidatorList{Validators: vs})
	return nil
}

func (s *server) getStatus(w http.ResponseWriter, r *http.Request) error {
	st, err := s.backend.Status(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

// getHealth answers 200 when the backend answers Status: the process is up
// and its event loop responsive. Sync state is reported, not judged.
func (s *server) getHealth(w http.ResponseWriter, r *http.Request) error {
	st, err := s.backend.Status(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, Health{Status: "ok", Epoch: st.Epoch, Sync: st.Sync.State})
	return nil
}

// normalizeCheckpoint makes nil slices encode as [] rather than null.
func normalizeCheckpoint(cp Checkpoint) Checkpoint {
	if cp.Cut == nil {
		cp.Cut = []uint64{}
	}
	if cp.Votes == nil {
		cp.Votes = []Vote{}
	}
	return cp
}

// normalizeSnapshot makes nil slices encode as [] and bounds the listed
// transaction hashes per channel, without mutating the backend's slices.
func normalizeSnapshot(snap Snapshot, maxHashes int) Snapshot {
	if snap.Cut == nil {
		snap.Cut = []uint64{}
	}
	nodes := make([]SnapshotNode, len(snap.Nodes))
	for i, n := range snap.Nodes {
		if n.Recorded == nil {
			n.Recorded = []uint64{}
		}
		chans := make([]Channel, len(n.Channels))
		for j, c := range n.Channels {
			if len(c.TxHashes) > maxHashes {
				c.TxHashes = c.TxHashes[:maxHashes:maxHashes]
				c.TxHashesTruncated = true
			}
			if c.TxHashes == nil {
				c.TxHashes = []common.Hash{}
			}
			chans[j] = c
		}
		n.Channels = chans
		nodes[i] = n
	}
	snap.Nodes = nodes
	return snap
}
