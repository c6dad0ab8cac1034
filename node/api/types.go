package api

import (
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
)

// Hashes and addresses are go-ethereum's common types (ledger.Hash and
// ledger.Address alias them); both marshal to JSON as 0x-hex. Byte blobs use
// hexutil.Bytes, also 0x-hex. Amounts (balances) are decimal strings so that
// JavaScript clients do not lose precision above 2^53; epochs, counts and
// sequence numbers are JSON numbers.

// Checkpoint is the JSON view of one epoch's checkpoint header and its votes.
type Checkpoint struct {
	// Hash is the checkpoint hash: keccak256 of Header.
	Hash common.Hash `json:"hash"`
	// Epoch is the epoch this checkpoint closes.
	Epoch uint64 `json:"epoch"`
	// PrevHash links to the previous epoch's checkpoint.
	PrevHash     common.Hash `json:"prev_hash"`
	StateRoot    common.Hash `json:"state_root"`
	TxRoot       common.Hash `json:"tx_root"`
	ReceiptsRoot common.Hash `json:"receipts_root"`
	// Cut[i] is where validator i's stream is cut: the seq of its MARKER of
	// this epoch, or, for an absent validator, its previous cut.
	Cut []uint64 `json:"cut"`
	// Absent lists the validators that took no part in the epoch (their
	// marker was missing when the cut was agreed): their cut did not move.
	Absent []uint32 `json:"absent"`
	// TxCount is the number of transactions executed in the epoch.
	TxCount uint64 `json:"tx_count"`
	// TimeMs is the header timestamp in Unix milliseconds.
	TimeMs           uint64      `json:"time_ms"`
	ValidatorSetHash common.Hash `json:"validator_set_hash"`
	// Votes are the validator signatures this node holds over Hash.
	Votes []Vote `json:"votes"`
	// Final is true when Votes form a quorum certificate.
	Final bool `json:"final"`
	// Header is the canonical header encoding, so clients can re-hash and
	// verify the checkpoint offline.
	Header hexutil.Bytes `json:"header"`
}

// Vote is one validator's signature over a checkpoint hash. The signature
// also covers the validator's recorded snapshot state (Recorded,
// RecordedTimeMs), so a client needs those fields to verify it offline.
type Vote struct {
	Validator      common.Address `json:"validator"`
	ValidatorIndex uint32         `json:"validator_index"`
	// Recorded[k] is the highest seq of validator k this validator had
	// delivered when it recorded its state for the epoch's snapshot.
	Recorded []uint64 `json:"recorded"`
	// RecordedTimeMs is the validator's clock when it recorded.
	RecordedTimeMs int64 `json:"recorded_time_ms"`
	// Signature is 65 bytes [R||S||V], V in {0,1}.
	Signature hexutil.Bytes `json:"signature"`
}

// EpochReceipts is the body of GET /v1/checkpoints/epoch/{n}/receipts: the
// receipts of an executed epoch in execution order.
type EpochReceipts struct {
	Epoch    uint64      `json:"epoch"`
	Final    bool        `json:"final"`
	Receipts []TxReceipt `json:"receipts"`
}

// TxReceipt is one transaction's receipt in an epoch.
type TxReceipt struct {
	TxHash common.Hash `json:"tx_hash"`
	Receipt
}

// CheckpointPage is one page of GET /v1/checkpoints, newest first.
type CheckpointPage struct {
	Checkpoints []Checkpoint `json:"checkpoints"`
	// NextCursor, when not empty, fetches the next (older) page. It is opaque
	// to clients.
	NextCursor string `json:"next_cursor,omitempty"`
}

// Transaction states reported by TxStatus.Status.
const (
	TxPending = "pending" // admitted to the mempool or in an open epoch
	TxFinal   = "final"   // executed in a final checkpoint; Receipt is set
	TxUnknown = "unknown" // never seen, or evicted
)

// Receipt states reported by Receipt.Status.
const (
	ReceiptOK     = "ok"
	ReceiptFailed = "failed"
)

// TxStatus is the JSON view of a transaction's progress.
type TxStatus struct {
	Hash common.Hash `json:"hash"`
	// Status is TxPending, TxFinal or TxUnknown.
	Status string `json:"status"`
	// Epoch and CheckpointHash are set when Status is TxFinal.
	Epoch          uint64       `json:"epoch,omitempty"`
	CheckpointHash *common.Hash `json:"checkpoint_hash,omitempty"`
	Receipt        *Receipt     `json:"receipt,omitempty"`
}

// Receipt is the outcome of an executed transaction.
type Receipt struct {
	// Status is ReceiptOK or ReceiptFailed.
	Status string `json:"status"`
	// Error says why the transaction failed; empty when Status is ReceiptOK.
	Error  string         `json:"error,omitempty"`
	Sender common.Address `json:"sender"`
	// Index is the transaction's position in the epoch's execution order.
	Index uint32 `json:"index"`
}

// Account is the JSON view of an account at a checkpoint's state root.
type Account struct {
	Address common.Address `json:"address"`
	// Balance is encoded as a decimal string.
	Balance uint64 `json:"balance,string"`
	Nonce   uint64 `json:"nonce"`
	// Epoch and StateRoot name the checkpoint the values (and Proof) are
	// read from.
	Epoch     uint64      `json:"epoch"`
	StateRoot common.Hash `json:"state_root"`
	// Proof is the Merkle proof of the account against StateRoot (trie nodes
	// from the root down), present only when asked for with ?proof=true.
	Proof []hexutil.Bytes `json:"proof,omitempty"`
}

// Snapshot is the JSON view of one epoch's global (Chandy–Lamport) snapshot.
type Snapshot struct {
	Epoch uint64 `json:"epoch"`
	// Cut is the consistent cut: Cut[i] is the last seq of validator i's
	// outbox included in the epoch.
	Cut   []uint64       `json:"cut"`
	Nodes []SnapshotNode `json:"nodes"`
}

// SnapshotNode is one validator's recorded state in a Snapshot.
type SnapshotNode struct {
	Validator common.Address `json:"validator"`
	Index     uint32         `json:"index"`
	// Recorded[i] is, at this validator's recording point, the highest seq of
	// validator i's outbox it had delivered (its row H[i] of the cut matrix).
	Recorded    []uint64 `json:"recorded"`
	MempoolSize uint64   `json:"mempool_size"`
	// TimeMs is the recording time in Unix milliseconds (local clock).
	TimeMs uint64 `json:"time_ms"`
	// Channels are the states of the incoming channels (one per origin) that
	// were in flight at the cut.
	Channels []Channel `json:"channels"`
}

// Channel is the state of the channel from validator From to the recording
// validator at the cut: the entries recorded in flight.
type Channel struct {
	From     uint32 `json:"from"`
	Count    uint64 `json:"count"`
	FirstSeq uint64 `json:"first_seq"`
	LastSeq  uint64 `json:"last_seq"`
	TxCount  uint64 `json:"tx_count"`
	// TxHashes is bounded (Options.MaxSnapshotTxHashes per channel);
	// TxHashesTruncated is true when more were in flight than listed.
	TxHashes          []common.Hash `json:"tx_hashes"`
	TxHashesTruncated bool          `json:"tx_hashes_truncated,omitempty"`
}

// Validator is one member of the validator set and its connection state as
// seen by the serving node.
type Validator struct {
	Index     uint32         `json:"index"`
	Name      string         `json:"name"`
	Address   common.Address `json:"address"`
	Power     uint64         `json:"power"`
	PeerID    string         `json:"peer_id"`
	Connected bool           `json:"connected"`
	// Self is true for the serving node itself.
	Self bool `json:"self,omitempty"`
}

// ValidatorList is the body of GET /v1/validators.
type ValidatorList struct {
	Validators []Validator `json:"validators"`
}

// Sync states reported by SyncStatus.State.
const (
	SyncSynced   = "synced"
	SyncCatching = "catching_up"
	SyncStarting = "starting"
	// SyncSyncing: a state sync is running (the node bootstraps its store
	// from a certified checkpoint its peers serve); only /v1/status and
	// /healthz answer, every other route is 503 not_synced.
	SyncSyncing = "syncing"
	// SyncHalted: this node's checkpoint differed from a certified one; it
	// stopped executing.
	SyncHalted = "halted"
)

// State sync phases reported by StateSync.Phase.
const (
	StateSyncProbing     = "probing"     // asking the validators for their last final epoch
	StateSyncCheckpoints = "checkpoints" // downloading and verifying the certified chain
	StateSyncAccounts    = "accounts"    // downloading account chunks, rebuilding the trie
	StateSyncOwnStream   = "own_stream"  // recovering this validator's own stream tail
	StateSyncDone        = "done"        // a state was installed at TargetEpoch
	StateSyncSkipped     = "skipped"     // the store was close enough to the peers: nothing installed
)

// Status is the serving node's identity and progress.
type Status struct {
	ChainID string `json:"chain_id"`
	Self    Self   `json:"self"`
	// Epoch is the epoch currently open (collecting transactions).
	Epoch       uint64      `json:"epoch"`
	LatestFinal EpochRef    `json:"latest_final"`
	Peers       int         `json:"peers"`
	Sync        SyncStatus  `json:"sync"`
	Mempool     MempoolInfo `json:"mempool"`
	Version     string      `json:"version"`
}

// Self identifies the serving validator.
type Self struct {
	Address common.Address `json:"address"`
	Index   uint32         `json:"index"`
	Name    string         `json:"name"`
}

// EpochRef names a checkpoint by epoch and hash.
type EpochRef struct {
	Epoch uint64      `json:"epoch"`
	Hash  common.Hash `json:"hash"`
}

// SyncStatus says whether the node is caught up with the network.
type SyncStatus struct {
	// State is SyncSynced, SyncCatching or SyncStarting.
	State string `json:"state"`
	// TargetEpoch is the highest final epoch known from peers.
	TargetEpoch uint64 `json:"target_epoch"`
	// StateSync is the state sync running now (State SyncSyncing), or the
	// last one this process ran; absent when none ran.
	StateSync *StateSync `json:"state_sync,omitempty"`
}

// StateSync is the progress of a state sync (docs/statesync.md).
type StateSync struct {
	// Phase is one of the StateSync* constants.
	Phase string `json:"phase"`
	// TargetEpoch is the epoch being synced to (while probing: the highest
	// final epoch the validators reported so far; 0 before any answer).
	TargetEpoch uint64 `json:"target_epoch"`
	// Peers is the number of validators that answered the probe.
	Peers int `json:"peers"`
	// Checkpoints is the number of certified checkpoints verified so far.
	Checkpoints uint64 `json:"checkpoints"`
	// Accounts, Chunks and Bytes count the account data received so far.
	Accounts uint64 `json:"accounts"`
	Chunks   uint64 `json:"chunks"`
	Bytes    uint64 `json:"bytes"`
	// StartedAtMs and FinishedAtMs (0 while running) are Unix milliseconds.
	StartedAtMs  int64 `json:"started_at_ms"`
	FinishedAtMs int64 `json:"finished_at_ms,omitempty"`
}

// MempoolInfo reports the mempool fill level.
type MempoolInfo struct {
	Size     int `json:"size"`
	Capacity int `json:"capacity"`
}

// TxSubmitted is the 202 body of POST /v1/txs.
type TxSubmitted struct {
	Hash common.Hash `json:"hash"`
}

// TxSubmission is the JSON body form of POST /v1/txs.
type TxSubmission struct {
	// Tx is the canonical signed transaction encoding.
	Tx hexutil.Bytes `json:"tx"`
}

// MaxBatchTxs bounds the transactions of one POST /v1/txs/batch.
const MaxBatchTxs = 1000

// TxBatch is the body of POST /v1/txs/batch: canonical signed encodings.
type TxBatch struct {
	Txs []hexutil.Bytes `json:"txs"`
}

// TxBatchResult is the 200 body of POST /v1/txs/batch: one result per
// submitted transaction, in order; each has a hash or an error.
type TxBatchResult struct {
	Results []TxResult `json:"results"`
}

// TxResult is the outcome of one transaction of a batch.
type TxResult struct {
	Hash  *common.Hash `json:"hash,omitempty"`
	Error *Error       `json:"error,omitempty"`
}

// Health is the body of GET /healthz.
type Health struct {
	Status string `json:"status"` // always "ok" with HTTP 200
	Epoch  uint64 `json:"epoch"`
	Sync   string `json:"sync"`
}

// Error is the JSON error envelope {"error": {"code", "message"}}.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// ErrorBody wraps Error in the envelope every error response uses.
type ErrorBody struct {
	Error Error `json:"error"`
}
