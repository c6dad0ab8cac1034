package api

import (
	"context"
	"io"

	"github.com/ethereum/go-ethereum/common"
)

// Backend is the read and submit surface the node implements for the server.
// Implementations must be safe for concurrent use and should answer from an
// immutable view the event loop publishes, so that API reads never block the
// loop. Errors should wrap the sentinels of this package (ErrNotFound,
// ErrBadRequest, ErrInvalidTx, ErrMempoolFull, ErrNotSynced) with a reason,
// e.g. fmt.Errorf("epoch %d: %w", n, api.ErrNotFound); any other error is
// reported as 500 internal and logged.
type Backend interface {
	// Status reports the node's identity and progress.
	Status(ctx context.Context) (Status, error)
	// LatestCheckpoint returns the newest final checkpoint (ErrNotFound
	// before the first one).
	LatestCheckpoint(ctx context.Context) (Checkpoint, error)
	// Checkpoint returns the checkpoint of an epoch.
	Checkpoint(ctx context.Context, epoch uint64) (Checkpoint, error)
	// CheckpointByHash returns the checkpoint with this hash.
	CheckpointByHash(ctx context.Context, hash common.Hash) (Checkpoint, error)
	// Checkpoints returns at most limit final checkpoints with Epoch <
	// beforeEpoch, newest first, with consecutive epochs. beforeEpoch ==
	// math.MaxUint64 means "from the latest". An empty result is not an error.
	Checkpoints(ctx context.Context, beforeEpoch uint64, limit int) ([]Checkpoint, error)
	// SubscribeCheckpoints delivers every final checkpoint with Epoch >=
	// fromEpoch, in epoch order and without gaps: first the stored ones
	// (replay), then new ones as they become final. The channel is closed
	// when ctx ends, or early if the subscriber falls too far behind (the
	// client then resumes from its last epoch). It must never block the
	// event loop: buffer with a bound and close on overflow.
	SubscribeCheckpoints(ctx context.Context, fromEpoch uint64) (<-chan Checkpoint, error)
	// SubmitTx decodes, checks and admits a signed transaction in its
	// canonical encoding, returning its hash. ErrInvalidTx, ErrMempoolFull
	// and ErrNotSynced are the expected refusals.
	SubmitTx(ctx context.Context, raw []byte) (common.Hash, error)
	// Tx reports a transaction's status; an unknown hash is not an error
	// (Status TxUnknown).
	Tx(ctx context.Context, hash common.Hash) (TxStatus, error)
	// Account reads an account at the latest final checkpoint, with its
	// Merkle proof when withProof is set. A never-funded account is returned
	// with zero balance and nonce (its proof then proves absence).
	Account(ctx context.Context, addr common.Address, withProof bool) (Account, error)
	// Receipts returns the receipts of an executed epoch in execution order
	// (ErrNotFound for an epoch not executed here).
	Receipts(ctx context.Context, epoch uint64) (EpochReceipts, error)
	// Snapshot returns the global snapshot recorded for an epoch.
	Snapshot(ctx context.Context, epoch uint64) (Snapshot, error)
	// Validators lists the validator set in index order.
	Validators(ctx context.Context) ([]Validator, error)
}

// StateExporter is implemented by backends that serve state files
// (GET /v1/state/{epoch}); the server answers 404 for backends without it.
type StateExporter interface {
	// StateFile resolves epoch (0 means the latest final epoch) and returns
	// it with a function that writes its state file (docs/statesync.md:
	// the certified checkpoints 1..epoch and every account of its state)
	// to w, streaming. ErrNotFound when the epoch is not final here or the
	// store lacks some of its checkpoints (a node bootstrapped at a later
	// epoch). write's errors before its first Write to w are reported to
	// the client; later ones cut the transfer short (a truncated file,
	// which import refuses).
	StateFile(ctx context.Context, epoch uint64) (resolved uint64, write func(w io.Writer) error, err error)
}
