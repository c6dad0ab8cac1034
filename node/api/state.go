package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// StateEpochHeader names the epoch of the state file in a GET
// /v1/state/{epoch} response (useful with "latest").
const StateEpochHeader = "X-Ledgerd-Epoch"

// ParseStateEpoch parses the {epoch} of GET /v1/state/{epoch}: a canonical
// decimal epoch >= 1, or "latest" (returned as 0). Errors wrap ErrBadRequest.
func ParseStateEpoch(s string) (uint64, error) {
	if s == "latest" {
		return 0, nil
	}
	n, err := ParseEpoch(s)
	if err != nil {
		return 0, fmt.Errorf("%w (or \"latest\")", err)
	}
	if n == 0 {
		return 0, fmt.Errorf("%w: epoch 0 is the genesis file; state files start at epoch 1", ErrBadRequest)
	}
	return n, nil
}

// stateFile serves GET /v1/state/{epoch}: the state file of a final epoch,
// streamed as the backend writes it (never buffered whole). It runs outside
// http.TimeoutHandler, which buffers responses, and bounds itself: a limit
// on concurrent exports, a deadline on every write (a client that does not
// read is dropped) and the request context. Headers are sent with the
// first bytes, so an error before them is a normal JSON error; an error
// after them aborts the connection, and the client sees a truncated
// transfer instead of a file that merely looks short.
func (s *server) stateFile(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxGetBodyBytes)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	se, ok := s.backend.(StateExporter)
	if !ok {
		s.writeError(w, r, fmt.Errorf("%w: this node does not serve state files", ErrNotFound))
		return
	}
	epoch, err := ParseStateEpoch(r.PathValue("epoch"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	select {
	case s.exports <- struct{}{}:
		defer func() { <-s.exports }()
	default:
		s.writeError(w, r, fmt.Errorf("%w: %d state exports are running (the limit); retry later", ErrTooManyStreams, s.opts.MaxStateExports))
		return
	}
	ctx := r.Context()
	resolved, write, err := se.StateFile(ctx, epoch)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rc, ok := longResponse(w)
	if !ok {
		return
	}
	sw := &stateWriter{w: w, rc: rc, ctx: ctx, timeout: s.opts.StreamWriteTimeout, epoch: resolved}
	if r.Method == http.MethodHead {
		sw.start()
		return
	}
	if err := write(sw); err != nil {
		if !sw.started {
			s.writeError(w, r, err)
			return
		}
		if ctx.Err() == nil {
			s.log.Error("state export failed after the first bytes", "epoch", resolved, "bytes", sw.n, "err", err)
		}
		panic(http.ErrAbortHandler) // no terminating chunk: the client sees the cut
	}
	if !sw.started {
		sw.start()
	}
	_ = rc.Flush()
}

// stateWriter sends the headers on the first write and puts a deadline on
// every write.
type stateWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	ctx     context.Context
	timeout time.Duration
	epoch   uint64
	started bool
	n       int64
}

func (sw *stateWriter) start() {
	sw.started = true
	h := sw.w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="ledgerd-state-%d.bin"`, sw.epoch))
	h.Set(StateEpochHeader, strconv.FormatUint(sw.epoch, 10))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	sw.w.WriteHeader(http.StatusOK)
}

func (sw *stateWriter) Write(p []byte) (int, error) {
	if err := sw.ctx.Err(); err != nil {
		return 0, err
	}
	if !sw.started {
		sw.start()
	}
	if err := sw.rc.SetWriteDeadline(time.Now().Add(sw.timeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return 0, err
	}
	n, err := sw.w.Write(p)
	sw.n += int64(n)
	return n, err
}

// Flush sends what is buffered (writers that pause between pieces use it).
func (sw *stateWriter) Flush() error {
	if !sw.started {
		sw.start()
	}
	return sw.rc.Flush()
}
