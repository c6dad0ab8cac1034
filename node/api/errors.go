package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// Sentinel errors a Backend returns (wrapped with a reason via fmt.Errorf and
// %w). The server maps them to HTTP status codes in writeError; the client
// maps error bodies back to them, so errors.Is works on both sides.
var (
	// ErrNotFound: the checkpoint, transaction, account or snapshot is
	// unknown (404 not_found).
	ErrNotFound = errors.New("api: not found")
	// ErrBadRequest: malformed input (400 bad_request).
	ErrBadRequest = errors.New("api: bad request")
	// ErrInvalidTx: the transaction does not decode or fails admission checks
	// (400 invalid_tx).
	ErrInvalidTx = errors.New("api: invalid transaction")
	// ErrMempoolFull: admission refused for lack of mempool space; retry
	// later (429 mempool_full).
	ErrMempoolFull = errors.New("api: mempool full")
	// ErrNotSynced: the node cannot answer until it has caught up (503
	// not_synced).
	ErrNotSynced = errors.New("api: node not synced")
	// ErrUnavailable: the node cannot read what the request needs (its
	// store failed); retry later or ask another node (503 unavailable).
	ErrUnavailable = errors.New("api: node unavailable")
	// ErrTooLarge: the request body exceeds the limit (413 too_large).
	ErrTooLarge = errors.New("api: request body too large")
	// ErrTooManyStreams: the concurrent stream limit is reached (429
	// too_many_streams).
	ErrTooManyStreams = errors.New("api: too many concurrent streams")
	// ErrTimeout: the handler did not finish in time (503 timeout).
	ErrTimeout = errors.New("api: request timed out")
	// ErrMethodNotAllowed: the route exists for other methods (405
	// method_not_allowed).
	ErrMethodNotAllowed = errors.New("api: method not allowed")
	// ErrInternal: any other failure (500 internal).
	ErrInternal = errors.New("api: internal error")
)

// Stable error codes carried in {"error": {"code"}}.
const (
	CodeNotFound         = "not_found"
	CodeBadRequest       = "bad_request"
	CodeInvalidTx        = "invalid_tx"
	CodeMempoolFull      = "mempool_full"
	CodeNotSynced        = "not_synced"
	CodeUnavailable      = "unavailable"
	CodeTooLarge         = "too_large"
	CodeTooManyStreams   = "too_many_streams"
	CodeTimeout          = "timeout"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeInternal         = "internal"
)

// errorClass is one row of the single error mapping table.
type errorClass struct {
	sentinel error
	status   int
	code     string
}

// errorClasses is the one place where errors map to HTTP statuses and codes.
// Order matters only if an error wraps several sentinels: the first wins.
var errorClasses = []errorClass{
	{ErrNotFound, http.StatusNotFound, CodeNotFound},
	{ErrInvalidTx, http.StatusBadRequest, CodeInvalidTx},
	{ErrBadRequest, http.StatusBadRequest, CodeBadRequest},
	{ErrTooLarge, http.StatusRequestEntityTooLarge, CodeTooLarge},
	{ErrMempoolFull, http.StatusTooManyRequests, CodeMempoolFull},
	{ErrTooManyStreams, http.StatusTooManyRequests, CodeTooManyStreams},
	{ErrNotSynced, http.StatusServiceUnavailable, CodeNotSynced},
	{ErrUnavailable, http.StatusServiceUnavailable, CodeUnavailable},
	{ErrTimeout, http.StatusServiceUnavailable, CodeTimeout},
	{ErrMethodNotAllowed, http.StatusMethodNotAllowed, CodeMethodNotAllowed},
	{ErrInternal, http.StatusInternalServerError, CodeInternal},
}

// classify maps err to its HTTP status and stable code. Unknown errors are
// internal (500).
func classify(err error) errorClass {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return errorClass{ErrTooLarge, http.StatusRequestEntityTooLarge, CodeTooLarge}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return errorClass{ErrTimeout, http.StatusServiceUnavailable, CodeTimeout}
	}
	for _, c := range errorClasses {
		if errors.Is(err, c.sentinel) {
			return c
		}
	}
	return errorClass{ErrInternal, http.StatusInternalServerError, CodeInternal}
}

// sentinelForCode maps a stable code back to its sentinel (client side).
func sentinelForCode(code string) error {
	for _, c := range errorClasses {
		if c.code == code {
			return c.sentinel
		}
	}
	return nil
}

// APIError is an error response from the server, as returned by Client. It
// unwraps to the matching sentinel (ErrNotFound, ...) when the code is known.
type APIError struct {
	// Status is the HTTP status code.
	Status int
	// Code is the stable error code, e.g. CodeNotFound.
	Code string
	// Message is the human-readable reason.
	Message string
}

// Error implements error.
func (e *APIError) Error() string {
	return fmt.Sprintf("api: HTTP %d %s: %s", e.Status, e.Code, e.Message)
}

// Unwrap returns the sentinel for Code, so errors.Is(err, ErrNotFound) holds
// for a 404 not_found response.
func (e *APIError) Unwrap() error { return sentinelForCode(e.Code) }
