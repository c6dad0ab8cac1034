// Package mempool is a validator's admission of client transactions and
// their batching into its stream: it decodes and checks a submitted
// transaction (chain ID, signature), refuses it while the node cannot take
// more (a bound on pending transactions, the wait of the oldest one, the
// execution lag under load), queues it for the event loop, cuts batches by
// size and age, and remembers what is pending until it is executed.
//
// Submit runs on API goroutines; the batching methods belong to the loop.
package mempool

import (
	"errors"
	"fmt"
	"time"

	"github.com/ledgerd/ledgerd/ledger"
)

// Refusals of Submit, matched with errors.Is; the error itself (a
// *Refusal) reads as the reason alone.
var (
	// ErrInvalid: the transaction does not decode or does not check.
	ErrInvalid = errors.New("mempool: invalid transaction")
	// ErrFull: the node takes no more transactions now (full, or behind).
	ErrFull = errors.New("mempool: full")
)

// Refusal is why Submit refused a transaction: ErrInvalid or ErrFull, and
// the reason.
type Refusal struct {
	Kind   error
	Reason string
}

func (r *Refusal) Error() string        { return r.Reason }
func (r *Refusal) Is(target error) bool { return target == r.Kind }

func refusal(kind error, format string, args ...any) error {
	return &Refusal{Kind: kind, Reason: fmt.Sprintf(format, args...)}
}

// Config configures a Pool.
type Config struct {
	ChainID string
	// MaxTxs bounds the queue between the API and the loop; twice as many
	// may be pending (queued, batched or in flight) at once.
	MaxTxs int
	// MaxWait refuses new transactions while the oldest pending one has
	// waited longer (0: no bound), counted from Genesis at the earliest.
	MaxWait time.Duration
	Genesis time.Time
	// MaxLag refuses new transactions while Lag reports a longer execution
	// lag (0: no bound).
	MaxLag time.Duration
	// Lag reports how far execution lags behind the epoch boundaries while
	// the node is busy (0 when it keeps up); nil means never.
	Lag func(now time.Time) time.Duration
	// BatchMaxTxs cuts a batch at this many transactions, BatchInterval
	// once its first transaction waited this long.
	BatchMaxTxs   int
	BatchInterval time.Duration
	// Outcome, if set, counts each submission by outcome: accepted,
	// duplicate, malformed, mempool_full, behind, lagging, or the check's
	// failure status.
	Outcome func(outcome string)
}

// admitted is a checked transaction waiting for a batch.
type admitted struct {
	tx       ledger.CheckedTx
	received time.Time
}

// Pool is one validator's mempool.
type Pool struct {
	cfg   Config
	queue chan admitted
	track *tracker

	// batch is the loop's batch being filled, since its first transaction's
	// admission.
	batch      []ledger.CheckedTx
	batchSince time.Time
}

// New returns an empty pool.
func New(cfg Config) *Pool {
	return &Pool{cfg: cfg, queue: make(chan admitted, cfg.MaxTxs),
		track: newTracker(cfg.MaxTxs*2, cfg.MaxWait, cfg.Genesis)}
}

func (p *Pool) count(outcome string) {
	if p.cfg.Outcome != nil {
		p.cfg.Outcome(outcome)
	}
}

// Submit decodes, checks and admits a transaction in its canonical
// encoding, returning its hash. A transaction pending already is admitted
// again without effect. Refusals wrap ErrInvalid or ErrFull with the
// reason.
func (p *Pool) Submit(raw []byte, now time.Time) (ledger.Hash, error) {
	tx, err := ledger.DecodeTx(raw)
	if err != nil {
		p.count("malformed")
		return ledger.Hash{}, refusal(ErrInvalid, "%v", err)
	}
	// Refuse before the signature recovery when the node cannot take more.
	if err := p.room(now); err != nil {
		return ledger.Hash{}, err
	}
	checked := ledger.CheckTx(tx, p.cfg.ChainID)
	if checked.Err != nil {
		p.count(ledger.StatusOf(checked.Err).String())
		return ledger.Hash{}, refusal(ErrInvalid, "%v", checked.Err)
	}
	switch r := p.track.admit(checked.Hash, now); r {
	case admitDuplicate:
		p.count("duplicate")
		return checked.Hash, nil // idempotent: already pending here
	case admitFull, admitBehind:
		return ledger.Hash{}, p.refuse(r, 0)
	}
	select {
	case p.queue <- admitted{tx: checked, received: now}:
		p.count("accepted")
		return checked.Hash, nil
	default:
		p.track.executed(checked.Hash)
		p.count("mempool_full")
		return ledger.Hash{}, refusal(ErrFull, "mempool holds %d transactions", cap(p.queue))
	}
}

// room refuses a new transaction when the tracker's bounds say so, then
// when execution lags by more than MaxLag.
func (p *Pool) room(now time.Time) error {
	if r, wait := p.track.room(now); r != admitOK {
		return p.refuse(r, wait)
	}
	if p.cfg.MaxLag > 0 && p.cfg.Lag != nil {
		if lag := p.cfg.Lag(now); lag > p.cfg.MaxLag {
			p.count("lagging")
			return refusal(ErrFull, "the network is behind: the next epoch's snapshot began %s ago and is not executed yet (mempool.max_lag_ms %d)",
				lag.Round(time.Millisecond), p.cfg.MaxLag.Milliseconds())
		}
	}
	return nil
}

// refuse counts and explains a submission the tracker has no room for.
func (p *Pool) refuse(r admitResult, wait time.Duration) error {
	if r == admitBehind {
		p.count("behind")
		return refusal(ErrFull, "the network is behind: this node's oldest pending transaction has waited %s (mempool.max_wait_ms %d)",
			wait.Round(time.Millisecond), p.cfg.MaxWait.Milliseconds())
	}
	p.count("mempool_full")
	return refusal(ErrFull, "%d transactions pending", p.track.limit)
}

// Pending reports whether h was admitted here and not executed yet.
func (p *Pool) Pending(h ledger.Hash) bool { return p.track.pending(h) }

// Executed forgets executed transactions (the loop, after each epoch).
func (p *Pool) Executed(hashes []ledger.Hash) {
	for _, h := range hashes {
		p.track.executed(h)
	}
}

// Queued is the number of admitted transactions not yet in a batch.
func (p *Pool) Queued() int { return len(p.queue) + len(p.batch) }

// Capacity is the queue's bound.
func (p *Pool) Capacity() int { return cap(p.queue) }

// Admitted yields admitted transactions to the loop, which hands each to
// Add.
func (p *Pool) Admitted() <-chan admitted { return p.queue }

// Add puts an admitted transaction into the batch being filled and reports
// whether the batch is full (the loop then proposes Take).
func (p *Pool) Add(a admitted) bool {
	if len(p.batch) == 0 {
		p.batchSince = a.received
	}
	p.batch = append(p.batch, a.tx)
	return len(p.batch) >= p.cfg.BatchMaxTxs
}

// Due moves what was admitted since the last call into the batch (up to a
// full one) and reports whether the batch should be proposed now: full, or
// its first transaction waited BatchInterval.
func (p *Pool) Due(now time.Time) bool {
	for len(p.batch) < p.cfg.BatchMaxTxs {
		select {
		case a := <-p.queue:
			p.Add(a)
			continue
		default:
		}
		break
	}
	return len(p.batch) >= p.cfg.BatchMaxTxs ||
		len(p.batch) > 0 && now.Sub(p.batchSince) >= p.cfg.BatchInterval
}

// Take returns the batch and starts a new one.
func (p *Pool) Take() []ledger.CheckedTx {
	b := p.batch
	p.batch = nil
	return b
}
