package stream

import (
	"crypto/ecdsa"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/ledgerd/ledgerd/ledger"
)

// Kind says what an Entry's body holds.
type Kind uint8

const (
	// KindBatch is a batch of opaque transaction bytes (EncodeBatch).
	KindBatch Kind = 1
	// KindMarker is a Chandy–Lamport MARKER(N) (EncodeMarker); it closes
	// epoch N at its origin.
	KindMarker Kind = 2
)

// String returns "batch", "marker" or "kind(N)".
func (k Kind) String() string {
	switch k {
	case KindBatch:
		return "batch"
	case KindMarker:
		return "marker"
	default:
		return fmt.Sprintf("kind(%d)", uint8(k))
	}
}

const (
	// entryVersion is the first byte of every encoded entry.
	entryVersion = 1
	// entryHeaderBytes is version + origin + seq + epoch + kind + body length.
	entryHeaderBytes = 1 + 4 + 8 + 8 + 1 + 4
	// SigBytes is the size of a go-ethereum [R||S||V] signature.
	SigBytes = 65
	// MaxEntryBytes bounds an encoded entry. Gossipsub's RPC limit is 1 MiB
	// and a repair response carries several entries, so an entry stays at
	// half of it.
	MaxEntryBytes = 512 << 10
	// MaxBodyBytes is the largest body an entry can carry.
	MaxBodyBytes = MaxEntryBytes - entryHeaderBytes - SigBytes
	// MaxBatchTxs bounds the number of transactions in one batch.
	MaxBatchTxs = 16384
	// markerBytes is the fixed size of an encoded Marker.
	markerBytes = 16
	// entryDomain separates entry digests from every other signed object.
	entryDomain = "ledgerd/stream-entry/v1"
	// MaxChainIDBytes bounds the chain ID mixed into digests.
	MaxChainIDBytes = 255
)

// An entry must fit a gossipsub RPC with room for its protobuf framing.
const _ = uint(1<<20 - 64<<10 - MaxEntryBytes)

// Decoding and verification errors. Every decoder error wraps one of these.
var (
	ErrTruncated     = errors.New("stream: truncated input")
	ErrTrailingBytes = errors.New("stream: trailing bytes")
	ErrTooLarge      = errors.New("stream: too large")
	ErrBadVersion    = errors.New("stream: unknown encoding version")
	ErrBadKind       = errors.New("stream: unknown entry kind")
	ErrZeroSeq       = errors.New("stream: seq must be at least 1")
	ErrMarkerEpoch   = errors.New("stream: marker body epoch differs from entry epoch")
	ErrBadSignature  = errors.New("stream: malformed or non-canonical signature")
	ErrWrongSigner   = errors.New("stream: signature is not from the origin")
	ErrBadChainID    = errors.New("stream: chain ID empty or too long")
	ErrTooManyTxs    = errors.New("stream: too many transactions in batch")
	ErrEmptyTx       = errors.New("stream: empty transaction in batch")
	ErrNilKey        = errors.New("stream: nil signing key")
)

// Entry is one element of a validator's append-only outbox. Origin is the
// validator index in genesis order; Seq is contiguous from 1 per origin;
// Epoch is the epoch whose transactions the entry belongs to: MARKER(N) has
// Epoch N and closes epoch N at its origin, later batches carry N+1. Sig is
// the origin's signature over Digest.
type Entry struct {
	Origin uint32
	Seq    uint64
	Epoch  uint64
	Kind   Kind
	Body   []byte
	Sig    [SigBytes]byte
}

// Check reports whether the entry is well formed: known kind, seq >= 1,
// bounded body and, for a marker, a body whose epoch equals the entry's.
func (e *Entry) Check() error {
	if e.Seq == 0 {
		return ErrZeroSeq
	}
	if len(e.Body) > MaxBodyBytes {
		return fmt.Errorf("%w: body %d bytes > %d", ErrTooLarge, len(e.Body), MaxBodyBytes)
	}
	switch e.Kind {
	case KindBatch:
	case KindMarker:
		m, err := DecodeMarker(e.Body)
		if err != nil {
			return err
		}
		if m.Epoch != e.Epoch {
			return fmt.Errorf("%w: body %d, entry %d", ErrMarkerEpoch, m.Epoch, e.Epoch)
		}
	default:
		return fmt.Errorf("%w: %d", ErrBadKind, uint8(e.Kind))
	}
	return nil
}

// Encode returns the canonical encoding: version, origin, seq, epoch, kind,
// body length (big-endian fixed width), body, signature.
func (e *Entry) Encode() []byte {
	b := make([]byte, 0, entryHeaderBytes+len(e.Body)+SigBytes)
	b = append(b, entryVersion)
	b = binary.BigEndian.AppendUint32(b, e.Origin)
	b = binary.BigEndian.AppendUint64(b, e.Seq)
	b = binary.BigEndian.AppendUint64(b, e.Epoch)
	b = append(b, byte(e.Kind))
	b = binary.BigEndian.AppendUint32(b, uint32(len(e.Body)))
	b = append(b, e.Body...)
	b = append(b, e.Sig[:]...)
	return b
}

// DecodeEntry parses the canonical encoding and checks the entry (Check).
// It rejects trailing bytes, so Encode(DecodeEntry(b)) == b. The returned
// Body does not alias b.
func DecodeEntry(b []byte) (Entry, error) {
	var e Entry
	if len(b) > MaxEntryBytes {
		return e, fmt.Errorf("%w: entry %d bytes > %d", ErrTooLarge, len(b), MaxEntryBytes)
	}
	if len(b) < entryHeaderBytes+SigBytes {
		return e, fmt.Errorf("%w: entry %d bytes", ErrTruncated, len(b))
	}
	if b[0] != entryVersion {
		return e, fmt.Errorf("%w: %d", ErrBadVersion, b[0])
	}
	e.Origin = binary.BigEndian.Uint32(b[1:])
	e.Seq = binary.BigEndian.Uint64(b[5:])
	e.Epoch = binary.BigEndian.Uint64(b[13:])
	e.Kind = Kind(b[21])
	n := binary.BigEndian.Uint32(b[22:])
	rest := b[entryHeaderBytes:]
	if uint64(n)+SigBytes > uint64(len(rest)) {
		return Entry{}, fmt.Errorf("%w: body length %d", ErrTruncated, n)
	}
	if uint64(n)+SigBytes < uint64(len(rest)) {
		return Entry{}, fmt.Errorf("%w: %d after entry", ErrTrailingBytes, uint64(len(rest))-uint64(n)-SigBytes)
	}
	e.Body = append([]byte{}, rest[:n]...)
	copy(e.Sig[:], rest[n:])
	if err := e.Check(); err != nil {
		return Entry{}, err
	}
	return e, nil
}

// Digest is keccak256 over a domain tag, the chain ID and every field but
// Sig. It is what the origin signs.
func (e *Entry) Digest(chainID string) common.Hash {
	var hdr [2 + 4 + 8 + 8 + 1 + 4]byte
	binary.BigEndian.PutUint16(hdr[0:], uint16(len(chainID)))
	binary.BigEndian.PutUint32(hdr[2:], e.Origin)
	binary.BigEndian.PutUint64(hdr[6:], e.Seq)
	binary.BigEndian.PutUint64(hdr[14:], e.Epoch)
	hdr[22] = byte(e.Kind)
	binary.BigEndian.PutUint32(hdr[23:], uint32(len(e.Body)))
	return crypto.Keccak256Hash([]byte(entryDomain), hdr[:2], []byte(chainID), hdr[2:], e.Body)
}

// Sign sets Sig to key's signature over Digest(chainID).
func (e *Entry) Sign(chainID string, key *ecdsa.PrivateKey) error {
	if key == nil {
		return ErrNilKey
	}
	if len(chainID) == 0 || len(chainID) > MaxChainIDBytes {
		return ErrBadChainID
	}
	d := e.Digest(chainID)
	sig, err := crypto.Sign(d[:], key)
	if err != nil {
		return fmt.Errorf("stream: sign entry origin=%d seq=%d: %w", e.Origin, e.Seq, err)
	}
	copy(e.Sig[:], sig)
	return nil
}

// Verify checks that Sig is a canonical (low-S) signature by origin over
// Digest(chainID). A different chain ID changes the digest and fails here.
func (e *Entry) Verify(chainID string, origin common.Address) error {
	got, err := ledger.RecoverSigner(e.Digest(chainID), e.Sig)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	if got != origin {
		return fmt.Errorf("%w: signed by %s, origin is %s", ErrWrongSigner, got, origin)
	}
	return nil
}

// Marker is the body of a MARKER entry: the epoch it closes and the origin's
// clock (Unix milliseconds) when it recorded its state.
type Marker struct {
	Epoch  uint64
	TimeMs int64
}

// EncodeMarker returns the fixed 16-byte encoding of m.
func EncodeMarker(m Marker) []byte {
	b := make([]byte, 0, markerBytes)
	b = binary.BigEndian.AppendUint64(b, m.Epoch)
	return binary.BigEndian.AppendUint64(b, uint64(m.TimeMs))
}

// DecodeMarker parses EncodeMarker's output; any other length is an error.
func DecodeMarker(b []byte) (Marker, error) {
	if len(b) < markerBytes {
		return Marker{}, fmt.Errorf("%w: marker %d bytes", ErrTruncated, len(b))
	}
	if len(b) > markerBytes {
		return Marker{}, fmt.Errorf("%w: marker %d bytes", ErrTrailingBytes, len(b))
	}
	return Marker{Epoch: binary.BigEndian.Uint64(b), TimeMs: int64(binary.BigEndian.Uint64(b[8:]))}, nil
}

// EncodeList encodes items as a big-endian uint32 count followed by the
// items, each prefixed with its big-endian uint32 length: the one list
// framing of the project (batch bodies, entry lists of the sync protocol).
func EncodeList(items [][]byte) []byte {
	n := 4
	for _, it := range items {
		n += 4 + len(it)
	}
	b := make([]byte, 0, n)
	b = binary.BigEndian.AppendUint32(b, uint32(len(items)))
	for _, it := range items {
		b = binary.BigEndian.AppendUint32(b, uint32(len(it)))
		b = append(b, it...)
	}
	return b
}

// DecodeList parses EncodeList's output, refusing more than maxItems items
// or an item longer than maxItemBytes (ErrTooLarge), a short input
// (ErrTruncated) and bytes after the last item (ErrTrailingBytes). The
// returned items alias b.
func DecodeList(b []byte, maxItems, maxItemBytes uint32) ([][]byte, error) {
	if len(b) < 4 {
		return nil, fmt.Errorf("%w: list of %d bytes", ErrTruncated, len(b))
	}
	count := binary.BigEndian.Uint32(b)
	rest := b[4:]
	if count > maxItems {
		return nil, fmt.Errorf("%w: %d items > %d", ErrTooLarge, count, maxItems)
	}
	if uint64(count)*4 > uint64(len(rest)) {
		return nil, fmt.Errorf("%w: %d items in %d bytes", ErrTruncated, count, len(rest))
	}
	items := make([][]byte, 0, count)
	for i := uint32(0); i < count; i++ {
		if len(rest) < 4 {
			return nil, fmt.Errorf("%w: item %d length", ErrTruncated, i)
		}
		n := binary.BigEndian.Uint32(rest)
		rest = rest[4:]
		if n > maxItemBytes {
			return nil, fmt.Errorf("%w: item %d of %d bytes > %d", ErrTooLarge, i, n, maxItemBytes)
		}
		if uint64(n) > uint64(len(rest)) {
			return nil, fmt.Errorf("%w: item %d of %d bytes", ErrTruncated, i, n)
		}
		items = append(items, rest[:n:n])
		rest = rest[n:]
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d after the list", ErrTrailingBytes, len(rest))
	}
	return items, nil
}

// EncodeBatch encodes opaque transactions as a list (EncodeList). The
// caller keeps the count at most MaxBatchTxs, each item non-empty and the
// result at most MaxBodyBytes; DecodeBatch rejects anything else.
func EncodeBatch(txs [][]byte) []byte { return EncodeList(txs) }

// BatchBytes returns the size EncodeBatch would produce for txs of the
// given total byte size and count, so a batcher can cut before the limit.
func BatchBytes(count, totalTxBytes int) int { return 4 + 4*count + totalTxBytes }

// DecodeBatch parses EncodeBatch's output. The returned slices alias b.
func DecodeBatch(b []byte) ([][]byte, error) {
	if len(b) > MaxBodyBytes {
		return nil, fmt.Errorf("%w: batch %d bytes > %d", ErrTooLarge, len(b), MaxBodyBytes)
	}
	if len(b) >= 4 && binary.BigEndian.Uint32(b) > MaxBatchTxs {
		return nil, fmt.Errorf("%w: %d > %d", ErrTooManyTxs, binary.BigEndian.Uint32(b), MaxBatchTxs)
	}
	txs, err := DecodeList(b, MaxBatchTxs, MaxBodyBytes)
	if err != nil {
		return nil, fmt.Errorf("batch: %w", err)
	}
	for i, tx := range txs {
		if len(tx) == 0 {
			return nil, fmt.Errorf("%w: transaction %d", ErrEmptyTx, i)
		}
	}
	return txs, nil
}
