package sigbatch

import (
	"bytes"
	"slices"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/ethereum/go-ethereum/crypto"
)

// Encoding sizes.
const (
	// SigLen is the length of a signature: [R || S || V], V in {0, 1}, as
	// go-ethereum's crypto.Sign returns it and ledger.Tx carries it.
	SigLen = 65
	// PubKeyLen is the length of a public key: 0x04 || X || Y, as
	// go-ethereum's crypto.Ecrecover returns it.
	PubKeyLen = 65
)

// MaxBatch is the largest number of items checked by one batch equation.
// Verify and VerifyAll split longer inputs into chunks of MaxBatch, each
// with its own coefficients. It bounds the memory of one call: a chunk of
// 4,096 items allocates about 5 MiB, ~1.2 KiB per item.
const MaxBatch = 4096

// minBatch is the smallest chunk worth a batch equation: below it, items are
// checked one by one by recovery. One equation has a fixed cost (129
// doublings, bucket sums, one field and one scalar inversion) that a few
// signatures cannot amortise. Against cgo recovery the batch broke even at
// 8-12 items on a quiet machine and at 24-32 with the machine contended
// (small_x_test.go in commit 34fea6c); 32 keeps it no slower in both.
const minBatch = 32

// bisectLeaf is the size at or below which a failing subset is resolved by
// recovering each item instead of two more multi-scalar multiplications.
const bisectLeaf = 4

// Item is one signature to check: the signer's claimed public key, the
// 32-byte digest it signed and the signature.
type Item struct {
	Digest [32]byte
	Sig    [SigLen]byte
	PubKey [PubKeyLen]byte
}

// VerifyAll reports whether every item is valid: one batch equation per
// chunk of MaxBatch items, stopping at the first chunk that fails. It is the
// fast path for a batch expected to be valid; Verify says which items fail.
func VerifyAll(items []Item) bool {
	for start := 0; start < len(items); start += MaxBatch {
		if !allValidChunk(items[start:min(len(items), start+MaxBatch)]) {
			return false
		}
	}
	return true
}

// Verify reports for each item whether it is valid, and whether all are.
// An item is valid iff go-ethereum's recovery of Sig over Digest yields
// exactly PubKey under ledger's rules: V in {0, 1}, R and S in [1, n-1], S
// at most n/2 (see ledger.RecoverSigner). Malformed input of any kind is an
// invalid item, never a panic.
func Verify(items []Item) (valid []bool, allValid bool) {
	valid = make([]bool, len(items))
	allValid = true
	for start := 0; start < len(items); start += MaxBatch {
		end := min(len(items), start+MaxBatch)
		if !verifyChunk(items[start:end], valid[start:end]) {
			allValid = false
		}
	}
	return valid, allValid
}

// Address returns the account address of a public key, the last 20 bytes of
// keccak256(X || Y), as go-ethereum's crypto.PubkeyToAddress computes it.
func Address(pubKey *[PubKeyLen]byte) [20]byte {
	var a [20]byte
	copy(a[:], crypto.Keccak256(pubKey[1:])[12:])
	return a
}

// allValidChunk is VerifyAll on at most MaxBatch items.
func allValidChunk(items []Item) bool {
	if len(items) < minBatch {
		return recoverEach(items, make([]bool, len(items)))
	}
	b := prepare(items)
	if len(b.prep) < len(items) {
		return false // some item is malformed
	}
	sum := b.combination(b.all())
	return sum.isInfinity()
}

// verifyChunk fills valid for at most MaxBatch items and reports whether
// all are valid.
func verifyChunk(items []Item, valid []bool) bool {
	if len(items) < minBatch {
		return recoverEach(items, valid)
	}
	return verifyBatch(items, valid)
}

// verifyBatch is verifyChunk's batch path for any number of items.
func verifyBatch(items []Item, valid []bool) bool {
	b := prepare(items)
	set := b.all()
	sum := b.combination(set)
	b.locate(set, &sum, false)
	copy(valid, b.valid)
	return !slices.Contains(valid, false)
}

// recoverEach sets valid[i] = recoversTo(&items[i]) and reports whether all
// are valid.
func recoverEach(items []Item, valid []bool) bool {
	for i := range items {
		valid[i] = recoversTo(&items[i])
	}
	return !slices.Contains(valid, false)
}

// recoversTo is the reference rule for one item: ledger's range checks,
// then go-ethereum's recovery, which must give exactly the claimed key.
func recoversTo(it *Item) bool {
	var r, s secp256k1.ModNScalar
	if !checkSignatureValues(it, &r, &s) {
		return false
	}
	pub, err := crypto.Ecrecover(it.Digest[:], it.Sig[:])
	return err == nil && bytes.Equal(pub, it.PubKey[:])
}

// checkSignatureValues applies ledger.RecoverSigner's checks before
// recovery: V in {0, 1}, R and S in [1, n-1], S <= n/2 (high S is the
// malleated twin of a valid signature, which recovery alone accepts). It
// sets r and s.
func checkSignatureValues(it *Item, r, s *secp256k1.ModNScalar) bool {
	if it.Sig[64] > 1 {
		return false
	}
	if r.SetByteSlice(it.Sig[:32]) || r.IsZero() {
		return false
	}
	if s.SetByteSlice(it.Sig[32:64]) || s.IsZero() || s.IsOverHalfOrder() {
		return false
	}
	return true
}
