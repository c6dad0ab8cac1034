// Package api is ledgerd's versioned HTTP JSON API: the server handlers, the
// JSON view types and a Go client.
//
// The server reads and submits through Backend, a narrow interface that this
// package defines and package node implements; api never imports node,
// checkpoint, p2p or node/store, so handlers cannot reach into the event loop.
// Backend errors are sentinel values (ErrNotFound, ErrBadRequest, ErrInvalidTx,
// ErrMempoolFull, ErrNotSynced) that the server maps to HTTP status codes and
// stable error codes in one place (see writeError).
//
// Every handler runs with a request body limit and a timeout, except the
// Server-Sent Events stream of final checkpoints, which has its own bounds: a
// limit on concurrent streams, heartbeats and a per-write deadline.
//
// The Client wraps every route for the CLI, the benchmark and tests, and
// returns *APIError for error bodies. docs/API.md documents the routes.
package api
