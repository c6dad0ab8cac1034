package api

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// streamRetryMs is the reconnection delay the stream suggests to
// EventSource clients.
const streamRetryMs = 2000

// streamStart picks the first epoch of a stream: Last-Event-ID (the last
// epoch the client received) + 1 takes precedence over ?from=N. ok is false
// when the request names neither, meaning "from the latest checkpoint".
func streamStart(lastEventID, from string) (epoch uint64, ok bool, err error) {
	if lastEventID != "" {
		last, err := parseUint(lastEventID)
		if err != nil {
			return 0, false, fmt.Errorf("%w: Last-Event-ID %q: %v", ErrBadRequest, clip(lastEventID), err)
		}
		if last == ^uint64(0) {
			return 0, false, fmt.Errorf("%w: Last-Event-ID %q: no epoch follows it", ErrBadRequest, lastEventID)
		}
		return last + 1, true, nil
	}
	if from != "" {
		n, err := parseUint(from)
		if err != nil {
			return 0, false, fmt.Errorf("%w: from %q: %v", ErrBadRequest, clip(from), err)
		}
		return n, true, nil
	}
	return 0, false, nil
}

// stream serves GET /v1/checkpoints/stream: Server-Sent Events, one
// "checkpoint" event per final checkpoint with id = epoch, in epoch order
// without gaps, and ": ping" comments as heartbeats. It replays from
// Last-Event-ID + 1 or ?from=N, else starts at the latest checkpoint, then
// follows live. It runs outside http.TimeoutHandler, so it bounds itself: a
// stream count limit, a deadline on every write, and exit when the client
// goes away (request context) or the backend closes the subscription.
func (s *server) stream(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxGetBodyBytes)
	select {
	case s.streams <- struct{}{}:
		defer func() { <-s.streams }()
	default:
		s.writeError(w, r, fmt.Errorf("%w: limit is %d", ErrTooManyStreams, s.opts.MaxStreams))
		return
	}
	from, ok, err := streamStart(r.Header.Get("Last-Event-ID"), r.URL.Query().Get("from"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	if !ok {
		latest, err := s.backend.LatestCheckpoint(ctx)
		switch {
		case errors.Is(err, ErrNotFound):
			from = 0
		case err != nil:
			s.writeError(w, r, err)
			return
		default:
			from = latest.Epoch
		}
	}
	ch, err := s.backend.SubscribeCheckpoints(ctx, from)
	if err != nil {
		s.writeError(w, r, err)
		return
	}

	// Writes get their own per-write deadline in flush, which replaces the
	// server's WriteTimeout (TestStreamOutlivesServerTimeouts).
	rc, ok := longResponse(w)
	if !ok {
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "retry: %d\n\n", streamRetryMs)
	if !s.flush(w, rc, &buf) {
		return
	}

	heartbeat := time.NewTicker(s.opts.StreamHeartbeat)
	defer heartbeat.Stop()
	next := from
	for {
		select {
		case <-ctx.Done():
			return
		case <-heartbeat.C:
			buf.WriteString(": ping\n\n")
		case cp, open := <-ch:
			if !open {
				return // the client reconnects with Last-Event-ID
			}
			if cp.Epoch < next {
				continue // duplicate from the backend's replay/live seam
			}
			if cp.Epoch > next {
				s.log.Error("checkpoint stream gap", "want", next, "got", cp.Epoch)
				writeEvent(&buf, "error", "", ErrorBody{Error{Code: CodeInternal, Message: fmt.Sprintf("stream gap: want epoch %d, got %d; reconnect", next, cp.Epoch)}})
				s.flush(w, rc, &buf)
				return
			}
			writeEvent(&buf, "checkpoint", strconv.FormatUint(cp.Epoch, 10), normalizeCheckpoint(cp))
			next++
		}
		if !s.flush(w, rc, &buf) {
			return
		}
	}
}

// writeEvent appends one SSE event; JSON never contains a newline.
func writeEvent(buf *bytes.Buffer, event, id string, v any) {
	if id != "" {
		buf.WriteString("id: " + id + "\n")
	}
	buf.WriteString("event: " + event + "\ndata: ")
	buf.Write(mustJSON(v))
	buf.WriteString("\n\n")
}

// flush writes buf under the stream write deadline and flushes it; false
// means the client is gone or too slow.
func (s *server) flush(w http.ResponseWriter, rc *http.ResponseController, buf *bytes.Buffer) bool {
	defer buf.Reset()
	if err := rc.SetWriteDeadline(time.Now().Add(s.opts.StreamWriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return false
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return false
	}
	return rc.Flush() == nil
}

// longResponse prepares w for a response that outlives the server's
// timeouts (event streams, state files): it lifts the whole-request read
// deadline (net/http already does for HTTP/1 background reads; this keeps
// other transports honest) and returns the controller for per-write
// deadlines. ok is false when the connection refused.
func longResponse(w http.ResponseWriter) (rc *http.ResponseController, ok bool) {
	rc = http.NewResponseController(w)
	if err := rc.SetReadDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return rc, false
	}
	return rc, true
}
