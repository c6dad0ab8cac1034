package ledger

import (
	"errors"
	"fmt"
)

// Status is the outcome of one transaction in Apply. Values are part of the
// receipt encoding and hence of ReceiptsRoot: never renumber them.
type Status uint8

// Receipt statuses. Every status except StatusOK leaves the state unchanged.
const (
	StatusOK                  Status = 0 // applied
	StatusWrongChain          Status = 1 // CheckTx: ErrWrongChain
	StatusBadSignature        Status = 2 // CheckTx: ErrBadSignature
	StatusHighS               Status = 3 // CheckTx: ErrHighS
	StatusBadChainID          Status = 4 // CheckTx: ErrBadChainID
	StatusInvalid             Status = 5 // CheckTx: any other error
	StatusDuplicate           Status = 6 // same hash and sender earlier in this Apply
	StatusBadNonce            Status = 7 // tx nonce != account nonce
	StatusInsufficientBalance Status = 8 // balance < amount + fee (or the sum overflows)
	StatusBalanceOverflow     Status = 9 // recipient or fee collector balance would overflow
)

// numStatuses is one past the largest Status.
const numStatuses = 10

var statusNames = [numStatuses]string{
	"ok", "wrong_chain", "bad_signature", "high_s", "bad_chain_id", "invalid",
	"duplicate", "bad_nonce", "insufficient_balance", "balance_overflow",
}

// String returns a stable snake_case reason, suitable for APIs and metrics.
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("status_%d", uint8(s))
}

// ParseStatus is the inverse of Status.String for known statuses.
func ParseStatus(name string) (Status, bool) {
	for i, n := range statusNames {
		if n == name {
			return Status(i), true
		}
	}
	return 0, false
}

// StatusOf maps a CheckTx error to its receipt status; nil maps to StatusOK.
func StatusOf(err error) Status {
	switch {
	case err == nil:
		return StatusOK
	case errors.Is(err, ErrWrongChain):
		return StatusWrongChain
	case errors.Is(err, ErrHighS):
		return StatusHighS
	case errors.Is(err, ErrBadSignature):
		return StatusBadSignature
	case errors.Is(err, ErrBadChainID):
		return StatusBadChainID
	default:
		return StatusInvalid
	}
}

// ReceiptBytes is the length of an encoded receipt.
const ReceiptBytes = 32 + 20 + 1

// ErrBadReceipt is returned by DecodeReceipt for malformed input.
var ErrBadReceipt = errors.New("ledger: malformed receipt")

// Receipt records the outcome of one transaction of an epoch.
type Receipt struct {
	TxHash Hash
	Sender Address // zero if the signature check failed
	Status Status
}

// Encode returns the canonical encoding: tx_hash(32) | sender(20) | status(1).
func (r *Receipt) Encode() []byte {
	b := make([]byte, 0, ReceiptBytes)
	b = append(b, r.TxHash[:]...)
	b = append(b, r.Sender[:]...)
	return append(b, byte(r.Status))
}

// DecodeReceipt parses Receipt.Encode output.
func DecodeReceipt(b []byte) (Receipt, error) {
	var r Receipt
	if len(b) != ReceiptBytes {
		return r, fmt.Errorf("%w: %d bytes, want %d", ErrBadReceipt, len(b), ReceiptBytes)
	}
	if b[52] >= numStatuses {
		return r, fmt.Errorf("%w: unknown status %d", ErrBadReceipt, b[52])
	}
	copy(r.TxHash[:], b[:32])
	copy(r.Sender[:], b[32:52])
	r.Status = Status(b[52])
	return r, nil
}

// TxRoot is the Merkle root of the ordered transaction hashes of an epoch
// (see merkleRoot for the tree shape).
func TxRoot(hashes []Hash) Hash {
	leaves := make([][]byte, len(hashes))
	for i := range hashes {
		leaves[i] = hashes[i][:]
	}
	return merkleRoot(leaves)
}

// ReceiptsRoot is the Merkle root of the encoded receipts, in order.
func ReceiptsRoot(rs []Receipt) Hash {
	leaves := make([][]byte, len(rs))
	for i := range rs {
		leaves[i] = rs[i].Encode()
	}
	return merkleRoot(leaves)
}

// merkleRoot is the RFC 6962 Merkle tree hash with Keccak-256: the empty
// list hashes to keccak(""), a leaf to keccak(0x00 || data), an inner node
// to keccak(0x01 || left || right), splitting n items at the largest power
// of two below n. The prefixes keep leaves and inner nodes apart, so no
// list has the root of another.
func merkleRoot(leaves [][]byte) Hash {
	if len(leaves) == 0 {
		return keccak()
	}
	level := make([]Hash, len(leaves))
	for i, l := range leaves {
		level[i] = keccak([]byte{0}, l)
	}
	return merkleLevel(level)
}

// merkleLevel combines leaf hashes into the RFC 6962 root.
func merkleLevel(h []Hash) Hash {
	if len(h) == 1 {
		return h[0]
	}
	k := 1
	for k*2 < len(h) {
		k *= 2
	}
	l, r := merkleLevel(h[:k]), merkleLevel(h[k:])
	return keccak([]byte{1}, l[:], r[:])
}
