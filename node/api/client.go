package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
)

// Client limits.
const (
	// DefaultClientTimeout bounds each non-stream call whose context has no
	// deadline.
	DefaultClientTimeout = 30 * time.Second
	// MaxResponseBytes bounds a response body the client reads.
	MaxResponseBytes = 32 << 20
	// maxErrorBodyBytes bounds an error body the client reads.
	maxErrorBodyBytes = 64 << 10
	// streamBuffer is the capacity of StreamCheckpoints' channel.
	streamBuffer = 16
)

// ErrBadBaseURL is returned by NewClient for an unusable base URL.
var ErrBadBaseURL = errors.New("api: bad base URL")

// ErrStream reports a protocol violation or the end of a checkpoint stream.
var ErrStream = errors.New("api: checkpoint stream")

// Client calls the ledgerd HTTP API. It is safe for concurrent use.
type Client struct {
	base   *url.URL
	http   *http.Client
	stream *http.Client // http without Timeout, for long-lived streams
}

// NewClient returns a client for the node at baseURL (e.g.
// "http://127.0.0.1:8545"). A nil httpClient uses a client without a global
// timeout; each call is then bounded by its context, or DefaultClientTimeout
// when the context has no deadline.
func NewClient(baseURL string, httpClient *http.Client) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrBadBaseURL, baseURL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w %q: want http(s)://host[:port]", ErrBadBaseURL, baseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%w %q: no query or fragment allowed", ErrBadBaseURL, baseURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	if httpClient == nil {
		httpClient = &http.Client{}
	}
	stream := httpClient
	if httpClient.Timeout != 0 {
		c := *httpClient
		c.Timeout = 0
		stream = &c
	}
	return &Client{base: u, http: httpClient, stream: stream}, nil
}

// BaseURL returns the base URL the client was built with.
func (c *Client) BaseURL() string { return c.base.String() }

func (c *Client) url(path string, q url.Values) string {
	u := *c.base
	u.Path += path
	u.RawQuery = q.Encode()
	return u.String()
}

// call performs one request and decodes a 2xx JSON body into out.
func (c *Client) call(ctx context.Context, method, path string, q url.Values, body []byte, out any) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultClientTimeout)
		defer cancel()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url(path, q), rd)
	if err != nil {
		return fmt.Errorf("api: %s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("api: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return decodeErrorResponse(resp)
	}
	dec := json.NewDecoder(io.LimitReader(resp.Body, MaxResponseBytes))
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("api: %s %s: decode response: %w", method, path, err)
	}
	return nil
}

// decodeErrorResponse turns a non-2xx response into *APIError.
func decodeErrorResponse(resp *http.Response) error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBodyBytes)) // best effort: the status alone is an error
	var body ErrorBody
	if err := json.Unmarshal(raw, &body); err == nil && body.Error.Code != "" {
		return &APIError{Status: resp.StatusCode, Code: body.Error.Code, Message: body.Error.Message}
	}
	msg := strings.TrimSpace(string(raw))
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	return &APIError{Status: resp.StatusCode, Message: clip(msg)}
}

// Status calls GET /v1/status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var st Status
	err := c.call(ctx, http.MethodGet, "/v1/status", nil, nil, &st)
	return st, err
}

// Health calls GET /healthz.
func (c *Client) Health(ctx context.Context) (Health, error) {
	var h Health
	err := c.call(ctx, http.MethodGet, "/healthz", nil, nil, &h)
	return h, err
}

// LatestCheckpoint calls GET /v1/checkpoints/latest.
func (c *Client) LatestCheckpoint(ctx context.Context) (Checkpoint, error) {
	var cp Checkpoint
	err := c.call(ctx, http.MethodGet, "/v1/checkpoints/latest", nil, nil, &cp)
	return cp, err
}

// Checkpoint calls GET /v1/checkpoints/epoch/{epoch}.
func (c *Client) Checkpoint(ctx context.Context, epoch uint64) (Checkpoint, error) {
	var cp Checkpoint
	err := c.call(ctx, http.MethodGet, "/v1/checkpoints/epoch/"+strconv.FormatUint(epoch, 10), nil, nil, &cp)
	return cp, err
}

// CheckpointByHash calls GET /v1/checkpoints/{hash}.
func (c *Client) CheckpointByHash(ctx context.Context, hash common.Hash) (Checkpoint, error) {
	var cp Checkpoint
	err := c.call(ctx, http.MethodGet, "/v1/checkpoints/"+hash.Hex(), nil, nil, &cp)
	return cp, err
}

// Checkpoints calls GET /v1/checkpoints: one page, newest first. An empty
// cursor starts at the latest; limit 0 takes the server default. Pass the
// returned NextCursor to get the next (older) page; it is empty on the last.
func (c *Client) Checkpoints(ctx context.Context, cursor string, limit int) (CheckpointPage, error) {
	q := url.Values{}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if limit != 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var page CheckpointPage
	err := c.call(ctx, http.MethodGet, "/v1/checkpoints", q, nil, &page)
	return page, err
}

// SubmitTx calls POST /v1/txs with the canonical signed encoding raw and
// returns the hash the node computed.
func (c *Client) SubmitTx(ctx context.Context, raw []byte) (common.Hash, error) {
	body := mustJSON(TxSubmission{Tx: hexutil.Bytes(raw)})
	var out TxSubmitted
	err := c.call(ctx, http.MethodPost, "/v1/txs", nil, body, &out)
	return out.Hash, err
}

// SubmitTxBatch calls POST /v1/txs/batch with up to MaxBatchTxs canonical
// encodings; per-transaction refusals are in the results, as *APIError.
func (c *Client) SubmitTxBatch(ctx context.Context, raws [][]byte) ([]common.Hash, []error, error) {
	batch := TxBatch{Txs: make([]hexutil.Bytes, len(raws))}
	for i, r := range raws {
		batch.Txs[i] = r
	}
	var out TxBatchResult
	if err := c.call(ctx, http.MethodPost, "/v1/txs/batch", nil, mustJSON(batch), &out); err != nil {
		return nil, nil, err
	}
	if len(out.Results) != len(raws) {
		return nil, nil, fmt.Errorf("api: batch of %d got %d results", len(raws), len(out.Results))
	}
	hashes, errs := make([]common.Hash, len(raws)), make([]error, len(raws))
	for i, r := range out.Results {
		switch {
		case r.Error != nil:
			errs[i] = &APIError{Status: http.StatusOK, Code: r.Error.Code, Message: r.Error.Message}
		case r.Hash != nil:
			hashes[i] = *r.Hash
		default:
			errs[i] = fmt.Errorf("api: batch result %d has neither hash nor error", i)
		}
	}
	return hashes, errs, nil
}

// Tx calls GET /v1/txs/{hash}.
func (c *Client) Tx(ctx context.Context, hash common.Hash) (TxStatus, error) {
	var st TxStatus
	err := c.call(ctx, http.MethodGet, "/v1/txs/"+hash.Hex(), nil, nil, &st)
	return st, err
}

// WaitTx polls Tx every interval until the transaction is final or ctx
// ends; it returns the final status (the receipt may still say failed).
func (c *Client) WaitTx(ctx context.Context, hash common.Hash, interval time.Duration) (TxStatus, error) {
	if interval <= 0 {
		interval = 200 * time.Millisecond
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	var last TxStatus
	for {
		st, err := c.Tx(ctx, hash)
		switch {
		case err != nil && ctx.Err() != nil:
			return last, fmt.Errorf("api: wait for tx %s (last status %q): %w", hash.Hex(), last.Status, ctx.Err())
		case err != nil:
			return last, err
		case st.Status == TxFinal:
			return st, nil
		}
		last = st
		select {
		case <-ctx.Done():
			return last, fmt.Errorf("api: wait for tx %s (last status %q): %w", hash.Hex(), last.Status, ctx.Err())
		case <-t.C:
		}
	}
}

// Account calls GET /v1/accounts/{addr}, with ?proof=true when withProof.
func (c *Client) Account(ctx context.Context, addr common.Address, withProof bool) (Account, error) {
	q := url.Values{}
	if withProof {
		q.Set("proof", "true")
	}
	var acc Account
	err := c.call(ctx, http.MethodGet, "/v1/accounts/"+addr.Hex(), q, nil, &acc)
	return acc, err
}

// Snapshot calls GET /v1/snapshots/{epoch}.
func (c *Client) Snapshot(ctx context.Context, epoch uint64) (Snapshot, error) {
	var snap Snapshot
	err := c.call(ctx, http.MethodGet, "/v1/snapshots/"+strconv.FormatUint(epoch, 10), nil, nil, &snap)
	return snap, err
}

// Receipts calls GET /v1/checkpoints/epoch/{n}/receipts.
func (c *Client) Receipts(ctx context.Context, epoch uint64) (EpochReceipts, error) {
	var rs EpochReceipts
	err := c.call(ctx, http.MethodGet, "/v1/checkpoints/epoch/"+strconv.FormatUint(epoch, 10)+"/receipts", nil, nil, &rs)
	return rs, err
}

// Validators calls GET /v1/validators.
func (c *Client) Validators(ctx context.Context) ([]Validator, error) {
	var list ValidatorList
	err := c.call(ctx, http.MethodGet, "/v1/validators", nil, nil, &list)
	return list.Validators, err
}

// StreamCheckpoints follows GET /v1/checkpoints/stream?from=from. Final
// checkpoints arrive on the first channel in epoch order, starting at from,
// without gaps (the client checks). The error channel receives exactly one
// error when the stream ends: ctx.Err() after cancellation, *APIError for a
// refused request or an error event, ErrStream for a protocol violation or
// an end of stream. Both channels are then closed. To resume, call again
// with from = last epoch received + 1.
func (c *Client) StreamCheckpoints(ctx context.Context, from uint64) (<-chan Checkpoint, <-chan error) {
	out := make(chan Checkpoint, streamBuffer)
	errs := make(chan error, 1)
	go func() {
		defer close(out)
		defer close(errs)
		errs <- c.runStream(ctx, from, out)
	}()
	return out, errs
}

func (c *Client) runStream(ctx context.Context, from uint64, out chan<- Checkpoint) error {
	q := url.Values{"from": {strconv.FormatUint(from, 10)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url("/v1/checkpoints/stream", q), nil)
	if err != nil {
		return fmt.Errorf("api: stream: %w", err)
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.stream.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("api: stream: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return decodeErrorResponse(resp)
	}
	dec := newSSEDecoder(resp.Body, MaxResponseBytes)
	next := from
	for {
		ev, err := dec.Next()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("%w: ended by the server after epoch %d", ErrStream, next-1)
			}
			return err
		}
		switch ev.Event {
		case "checkpoint":
			var cp Checkpoint
			if err := json.Unmarshal(ev.Data, &cp); err != nil {
				return fmt.Errorf("%w: event id %q: %v", ErrStream, clip(ev.ID), err)
			}
			if cp.Epoch != next || ev.ID != strconv.FormatUint(cp.Epoch, 10) {
				return fmt.Errorf("%w: got epoch %d (id %q), want %d", ErrStream, cp.Epoch, clip(ev.ID), next)
			}
			select {
			case out <- cp:
			case <-ctx.Done():
				return ctx.Err()
			}
			next++
		case "error":
			var body ErrorBody
			if err := json.Unmarshal(ev.Data, &body); err != nil || body.Error.Code == "" {
				return fmt.Errorf("%w: malformed error event", ErrStream)
			}
			return &APIError{Status: http.StatusOK, Code: body.Error.Code, Message: body.Error.Message}
		}
		// Other event types are ignored, as SSE requires.
	}
}

// StateFile calls GET /v1/state/{epoch} (epoch 0: "latest") and copies the
// state file to w as it arrives (nothing is buffered whole). It returns the
// file's epoch and the bytes copied. The call has no timeout of its own
// (a state can be large): bound it with ctx. A transfer the server cut
// short is an error; the file itself is verified by `state import`
// (node.ReadStateFile), not here.
func (c *Client) StateFile(ctx context.Context, epoch uint64, w io.Writer) (uint64, int64, error) {
	path := "/v1/state/latest"
	if epoch != 0 {
		path = "/v1/state/" + strconv.FormatUint(epoch, 10)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url(path, nil), nil)
	if err != nil {
		return 0, 0, fmt.Errorf("api: GET %s: %w", path, err)
	}
	req.Header.Set("Accept", "application/octet-stream")
	resp, err := c.stream.Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("api: GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, 0, decodeErrorResponse(resp)
	}
	got, err := strconv.ParseUint(resp.Header.Get(StateEpochHeader), 10, 64)
	if err != nil || got == 0 || (epoch != 0 && got != epoch) {
		return 0, 0, fmt.Errorf("api: GET %s: bad %s header %q", path, StateEpochHeader, clip(resp.Header.Get(StateEpochHeader)))
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return got, n, fmt.Errorf("api: GET %s: transfer cut after %d bytes: %w", path, n, err)
	}
	return got, n, nil
}
