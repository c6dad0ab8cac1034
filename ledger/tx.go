package ledger

import (
	"crypto/ecdsa"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/crypto"
)

// Encoding limits.
const (
	// TxVersion is the first byte of every encoded transaction. A decoder
	// rejects any other value, so a future format can coexist.
	TxVersion = 1
	// MaxChainIDLen is the longest chain ID, in bytes.
	MaxChainIDLen = 64
	// SigLen is the length of a transaction signature: [R || S || V], V in {0, 1}.
	SigLen = 65
	// MaxTxBytes bounds an encoded transaction. Decoders check it before
	// parsing; gossip and API message limits must be at least this large.
	MaxTxBytes = 256

	// txFixedBytes is the encoded size without the chain ID bytes:
	// version, chain ID length, to, amount, fee, nonce, signature.
	txFixedBytes = 1 + 1 + 20 + 8 + 8 + 8 + SigLen
	// maxEncodedTxBytes is the largest valid encoding.
	maxEncodedTxBytes = txFixedBytes + MaxChainIDLen
)

// The largest valid transaction must fit in MaxTxBytes (fails to compile otherwise).
const _ = uint(MaxTxBytes - maxEncodedTxBytes)

// The chain ID length is encoded in one byte.
const _ = uint(255 - MaxChainIDLen)

// txSigDomain separates transaction signatures from every other signature a
// ledgerd key makes (checkpoint votes, stream entries).
const txSigDomain = "ledgerd/tx/v1\x00"

// Errors returned by DecodeTx, Tx.Sender and CheckTx. Match them with errors.Is.
var (
	ErrTxOversize      = errors.New("ledger: transaction exceeds MaxTxBytes")
	ErrTxTruncated     = errors.New("ledger: transaction truncated")
	ErrTxTrailingBytes = errors.New("ledger: trailing bytes after transaction")
	ErrTxVersion       = errors.New("ledger: unknown transaction version")
	ErrBadChainID      = errors.New("ledger: malformed chain ID")
	ErrWrongChain      = errors.New("ledger: transaction is for another chain")
	ErrBadSignature    = errors.New("ledger: invalid signature")
	ErrHighS           = errors.New("ledger: signature has high S (malleated)")
)

// Tx is a signed transfer of Amount from the signer to To, paying Fee to the
// genesis fee collector. Nonce must equal the sender's account nonce.
type Tx struct {
	ChainID string
	To      Address
	Amount  uint64
	Fee     uint64
	Nonce   uint64
	Sig     [SigLen]byte
}

// appendUnsigned appends the canonical encoding without the signature:
// version(1) | len(chain_id)(1) | chain_id | to(20) | amount(8) | fee(8) | nonce(8),
// integers big-endian.
func (tx *Tx) appendUnsigned(b []byte) []byte {
	b = append(b, TxVersion, byte(len(tx.ChainID)))
	b = append(b, tx.ChainID...)
	b = append(b, tx.To[:]...)
	b = binary.BigEndian.AppendUint64(b, tx.Amount)
	b = binary.BigEndian.AppendUint64(b, tx.Fee)
	b = binary.BigEndian.AppendUint64(b, tx.Nonce)
	return b
}

// EncodeUnsigned returns the canonical encoding without the signature, the
// preimage of Hash.
func (tx *Tx) EncodeUnsigned() []byte {
	return tx.appendUnsigned(make([]byte, 0, maxEncodedTxBytes))
}

// Encode returns the canonical encoding: the unsigned encoding followed by
// the 65-byte signature. A chain ID longer than MaxChainIDLen is not
// encodable; Encode truncates nothing and the result then fails DecodeTx, so
// validate with CheckTx first.
func (tx *Tx) Encode() []byte {
	b := tx.appendUnsigned(make([]byte, 0, maxEncodedTxBytes))
	return append(b, tx.Sig[:]...)
}

// DecodeTx parses a canonical encoding. It rejects oversize input, unknown
// versions, malformed chain IDs, truncation and trailing bytes. It does not
// check the signature (see CheckTx). Encode(DecodeTx(b)) == b for every
// accepted b.
func DecodeTx(b []byte) (Tx, error) {
	var tx Tx
	if len(b) > MaxTxBytes {
		return tx, fmt.Errorf("%w: %d > %d bytes", ErrTxOversize, len(b), MaxTxBytes)
	}
	if len(b) < 2 {
		return tx, fmt.Errorf("%w: %d bytes", ErrTxTruncated, len(b))
	}
	if b[0] != TxVersion {
		return tx, fmt.Errorf("%w: %d", ErrTxVersion, b[0])
	}
	idLen := int(b[1])
	if idLen == 0 || idLen > MaxChainIDLen {
		return tx, fmt.Errorf("%w: length %d not in [1, %d]", ErrBadChainID, idLen, MaxChainIDLen)
	}
	want := txFixedBytes + idLen
	if len(b) < want {
		return tx, fmt.Errorf("%w: %d of %d bytes", ErrTxTruncated, len(b), want)
	}
	if len(b) > want {
		return tx, fmt.Errorf("%w: %d extra", ErrTxTrailingBytes, len(b)-want)
	}
	p := 2
	tx.ChainID = string(b[p : p+idLen])
	if !validChainID(tx.ChainID) {
		return Tx{}, fmt.Errorf("%w: %q", ErrBadChainID, tx.ChainID)
	}
	p += idLen
	copy(tx.To[:], b[p:p+20])
	p += 20
	tx.Amount = binary.BigEndian.Uint64(b[p:])
	tx.Fee = binary.BigEndian.Uint64(b[p+8:])
	tx.Nonce = binary.BigEndian.Uint64(b[p+16:])
	p += 24
	copy(tx.Sig[:], b[p:])
	return tx, nil
}

// Hash returns the transaction ID: keccak256 of the full canonical
// encoding, signature included. It must bind the sender: two keys signing
// one payload (same chain, to, amount, fee, nonce) are two transactions,
// and a hash of the unsigned encoding gave both one ID, so the mempool,
// the tx index and the API confused them (found by `ledgerd bench`). The
// signature cannot be malleated by a third party (high-S and V > 1 are
// rejected), so the ID is stable; only the key holder can re-sign, and the
// nonce rule stops the copy. See docs/ledger.md.
func (tx *Tx) Hash() Hash {
	var buf [maxEncodedTxBytes]byte
	b := tx.appendUnsigned(buf[:0])
	return keccak(append(b, tx.Sig[:]...))
}

// SigningDigest returns the digest the sender signs:
// keccak256("ledgerd/tx/v1\x00" || unsigned encoding).
func (tx *Tx) SigningDigest() Hash {
	var buf [len(txSigDomain) + maxEncodedTxBytes]byte
	b := append(buf[:0], txSigDomain...)
	return keccak(tx.appendUnsigned(b))
}

// Sign sets Sig to the 65-byte [R || S || V] signature of SigningDigest by
// key. Signing is deterministic (RFC 6979) and always low-S.
func (tx *Tx) Sign(key *ecdsa.PrivateKey) error {
	if key == nil {
		return errors.New("ledger: sign: nil key")
	}
	if !validChainID(tx.ChainID) {
		return fmt.Errorf("sign: %w: %q", ErrBadChainID, tx.ChainID)
	}
	d := tx.SigningDigest()
	sig, err := crypto.Sign(d[:], key)
	if err != nil {
		return fmt.Errorf("ledger: sign: %w", err)
	}
	copy(tx.Sig[:], sig)
	return nil
}

// Sender recovers the signer's address. It rejects V outside {0, 1}, R or S
// out of range (ErrBadSignature) and S in the upper half of the curve order
// (ErrHighS), which go-ethereum's recovery would otherwise accept.
func (tx *Tx) Sender() (Address, error) {
	return RecoverSigner(tx.SigningDigest(), tx.Sig)
}

// RecoverSigner returns the address that made sig, a 65-byte [R || S || V]
// signature over digest. It rejects V ∉ {0, 1} and R, S out of range
// (ErrBadSignature) and high S (ErrHighS: go-ethereum's recovery would
// otherwise accept the malleated copy). Transactions, stream entries and
// checkpoint votes all verify through it.
func RecoverSigner(digest Hash, sig [SigLen]byte) (Address, error) {
	v := sig[64]
	if v > 1 {
		return Address{}, fmt.Errorf("%w: recovery id %d", ErrBadSignature, v)
	}
	r := new(big.Int).SetBytes(sig[:32])
	s := new(big.Int).SetBytes(sig[32:64])
	if !crypto.ValidateSignatureValues(v, r, s, false) {
		return Address{}, fmt.Errorf("%w: r or s out of range", ErrBadSignature)
	}
	if !crypto.ValidateSignatureValues(v, r, s, true) {
		return Address{}, ErrHighS
	}
	pub, err := crypto.Ecrecover(digest[:], sig[:])
	if err != nil || len(pub) != 65 {
		return Address{}, fmt.Errorf("%w: recovery failed", ErrBadSignature)
	}
	var a Address
	copy(a[:], crypto.Keccak256(pub[1:])[12:])
	return a, nil
}

// CheckedTx is a transaction after the expensive, stateless checks (chain ID
// and signature), which node runs in a worker pool before Apply. Err != nil
// means the transaction fails with a receipt whose status is StatusOf(Err).
type CheckedTx struct {
	Tx     Tx
	Hash   Hash
	Sender Address // zero when Err != nil
	Err    error
}

// CheckTx computes the hash and recovers the sender of tx and checks that
// it belongs to chainID. It never panics and has no side effects.
func CheckTx(tx Tx, chainID string) CheckedTx {
	c := CheckedTx{Tx: tx, Hash: tx.Hash()}
	if !validChainID(tx.ChainID) {
		c.Err = fmt.Errorf("%w: %q", ErrBadChainID, tx.ChainID)
		return c
	}
	if tx.ChainID != chainID {
		c.Err = fmt.Errorf("%w: %q, want %q", ErrWrongChain, tx.ChainID, chainID)
		return c
	}
	sender, err := tx.Sender()
	if err != nil {
		c.Err = err
		return c
	}
	c.Sender = sender
	return c
}

// VerifyTx is CheckTx returning the check's error separately, for callers
// that reject bad transactions at admission (API, gossip validation).
func VerifyTx(tx Tx, chainID string) (CheckedTx, error) {
	c := CheckTx(tx, chainID)
	return c, c.Err
}
