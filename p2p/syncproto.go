package p2p

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/ledgerd/ledgerd/checkpoint/stream"
)

// SyncProtocol is the request/response protocol for repair and catch-up.
// One stream carries one request frame and one response frame:
//
//	request  = uvarint(len) kind:byte payload
//	response = uvarint(len) code:byte payload
//
// Kinds below FirstUserKind are served by p2p itself; the node registers
// handlers for the others (checkpoints, votes by epoch or hash).
const SyncProtocol = "/ledgerd/sync/1"

// Request kinds served by p2p.
const (
	// KindEntries asks for a range of one origin's entries (EntriesRequest);
	// the answer is an entry list (EncodeEntryList).
	KindEntries byte = 1
	// KindStatus asks for the highest contiguous seq held per origin; the
	// answer is EncodeStatus.
	KindStatus byte = 2
	// FirstUserKind is the first kind available to RegisterHandler.
	FirstUserKind byte = 16
)

// Response codes.
const (
	codeOK          byte = 0
	codeError       byte = 1
	codeUnknownKind byte = 2
	codeBusy        byte = 3
)

// Size limits of the sync protocol.
const (
	// MaxRequestBytes bounds a request frame.
	MaxRequestBytes = 64 << 10
	// MaxResponseBytes bounds a response frame.
	MaxResponseBytes = 4 << 20
	// MaxRangeSeqs bounds the seqs one entries request may cover.
	MaxRangeSeqs = 4096
	// maxGossipBytes is gossipsub's RPC limit.
	maxGossipBytes = 1 << 20
	// maxValidators bounds the validator set.
	maxValidators = 1024
	// entriesRequestBytes is the fixed size of an EntriesRequest.
	entriesRequestBytes = 4 + 8 + 8 + 4
)

// A response must hold at least one maximal entry with its framing.
const _ = uint(MaxResponseBytes - stream.MaxEntryBytes - 16)

// Sync protocol errors.
var (
	ErrFrameTooLarge = errors.New("p2p: sync frame too large")
	ErrBadMessage    = errors.New("p2p: malformed sync message")
	ErrUnknownKind   = errors.New("p2p: peer does not serve this request kind")
	ErrBusy          = errors.New("p2p: peer busy")
	ErrRemote        = errors.New("p2p: peer returned an error")
	ErrKindTaken     = errors.New("p2p: request kind reserved or already registered")
)

func writeFrame(w io.Writer, tag byte, payload []byte) error {
	var hdr [binary.MaxVarintLen64 + 1]byte
	n := binary.PutUvarint(hdr[:], uint64(len(payload)+1))
	hdr[n] = tag
	if _, err := w.Write(append(hdr[:n+1:n+1], payload...)); err != nil {
		return err
	}
	return nil
}

// readFrame reads one frame of at most maxBytes (tag included).
func readFrame(r *bufio.Reader, maxBytes int) (byte, []byte, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return 0, nil, err
	}
	if n == 0 {
		return 0, nil, fmt.Errorf("%w: empty frame", ErrBadMessage)
	}
	if n > uint64(maxBytes) {
		return 0, nil, fmt.Errorf("%w: %d > %d", ErrFrameTooLarge, n, maxBytes)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return 0, nil, err
	}
	return buf[0], buf[1:], nil
}

// EntriesRequest asks for origin's entries From..To (inclusive), at most
// MaxBytes of encoded entries in the answer.
type EntriesRequest struct {
	Origin   uint32
	From, To uint64
	MaxBytes uint32
}

// Encode returns the fixed 24-byte encoding.
func (q EntriesRequest) Encode() []byte {
	b := make([]byte, 0, entriesRequestBytes)
	b = binary.BigEndian.AppendUint32(b, q.Origin)
	b = binary.BigEndian.AppendUint64(b, q.From)
	b = binary.BigEndian.AppendUint64(b, q.To)
	return binary.BigEndian.AppendUint32(b, q.MaxBytes)
}

// DecodeEntriesRequest parses Encode's output and checks the range.
func DecodeEntriesRequest(b []byte) (EntriesRequest, error) {
	if len(b) != entriesRequestBytes {
		return EntriesRequest{}, fmt.Errorf("%w: entries request of %d bytes", ErrBadMessage, len(b))
	}
	q := EntriesRequest{
		Origin:   binary.BigEndian.Uint32(b),
		From:     binary.BigEndian.Uint64(b[4:]),
		To:       binary.BigEndian.Uint64(b[12:]),
		MaxBytes: binary.BigEndian.Uint32(b[20:]),
	}
	if q.From == 0 || q.To < q.From {
		return EntriesRequest{}, fmt.Errorf("%w: range %d..%d", ErrBadMessage, q.From, q.To)
	}
	return q, nil
}

// DecodeEntryList parses an entry list (stream.EncodeList of encoded
// entries, at most MaxRangeSeqs; items alias b); it does not decode the
// entries themselves.
func DecodeEntryList(b []byte) ([][]byte, error) {
	list, err := stream.DecodeList(b, MaxRangeSeqs, stream.MaxEntryBytes)
	if err != nil {
		return nil, fmt.Errorf("%w: entry list: %w", ErrBadMessage, err)
	}
	return list, nil
}

// EncodeStatus encodes the highest contiguous seq held per origin.
func EncodeStatus(heads []uint64) []byte {
	b := make([]byte, 0, 4+8*len(heads))
	b = binary.BigEndian.AppendUint32(b, uint32(len(heads)))
	for _, h := range heads {
		b = binary.BigEndian.AppendUint64(b, h)
	}
	return b
}

// DecodeStatus parses EncodeStatus's output.
func DecodeStatus(b []byte) ([]uint64, error) {
	if len(b) < 4 {
		return nil, fmt.Errorf("%w: status of %d bytes", ErrBadMessage, len(b))
	}
	n := binary.BigEndian.Uint32(b)
	if n > maxValidators || uint64(len(b)) != 4+8*uint64(n) {
		return nil, fmt.Errorf("%w: status with %d heads in %d bytes", ErrBadMessage, n, len(b))
	}
	heads := make([]uint64, n)
	for i := range heads {
		heads[i] = binary.BigEndian.Uint64(b[4+8*i:])
	}
	return heads, nil
}
