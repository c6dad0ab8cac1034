package checkpoint

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/ledgerd/ledgerd/ledger"
)

// This file holds the messages of the agreement on an epoch's cut
// (agreement.go): the value agreed on, CutValue, and the signed round
// messages that carry it.

// roundSigDomain separates round-message signatures from votes, entries and
// transactions signed with the same key.
const roundSigDomain = "ledgerd/round/v1\x00"

// Errors of round messages. Match with errors.Is.
var (
	ErrRoundMalformed = errors.New("checkpoint: malformed round message")
	ErrBadRound       = errors.New("checkpoint: invalid round message")
)

// CutValue is what the validators agree on for an epoch: where each
// validator's stream is cut. For a validator present in the epoch, Cut is
// the seq of its MARKER(epoch), Marker the epoch itself, and Chain the hash
// chain of its stream up to and including that marker (StreamChain), so a
// value names the content of every stream, not only positions. For an
// absent validator the three are those of the previous epoch's cut: its
// Marker is the epoch of the last marker it was cut at (0 for none),
// nothing of its stream is in the epoch, and what it sent after that cut
// stays in its stream for a later epoch.
type CutValue struct {
	Cut    []uint64
	Chain  []ledger.Hash
	Marker []uint64
}

// Present reports whether validator k took part in epoch: its stream is
// cut at its MARKER(epoch).
func (v *CutValue) Present(k int, epoch uint64) bool { return v.Marker[k] == epoch }

// appendTo appends the canonical encoding: count, then per validator the
// marker epoch, the cut and the chain hash. A value whose slices differ in
// length (malformed: check refuses it) encodes with the missing elements
// zero.
func (v *CutValue) appendTo(b []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(v.Cut)))
	for k := range v.Cut {
		var mark uint64
		if k < len(v.Marker) {
			mark = v.Marker[k]
		}
		var chain ledger.Hash
		if k < len(v.Chain) {
			chain = v.Chain[k]
		}
		b = binary.BigEndian.AppendUint64(b, mark)
		b = binary.BigEndian.AppendUint64(b, v.Cut[k])
		b = append(b, chain[:]...)
	}
	return b
}

// ID identifies the value (keccak256 of its encoding).
func (v *CutValue) ID() ledger.Hash { return ledger.Hash(crypto.Keccak256Hash(v.appendTo(nil))) }

// Equal reports whether v and w are the same value (nil equals nil only).
func (v *CutValue) Equal(w *CutValue) bool {
	if v == nil || w == nil {
		return v == w
	}
	return slices.Equal(v.Cut, w.Cut) && slices.Equal(v.Chain, w.Chain) && slices.Equal(v.Marker, w.Marker)
}

// Clone returns a deep copy.
func (v *CutValue) Clone() *CutValue {
	if v == nil {
		return nil
	}
	return &CutValue{Cut: slices.Clone(v.Cut), Chain: slices.Clone(v.Chain), Marker: slices.Clone(v.Marker)}
}

// check verifies the shape of v for n validators.
func (v *CutValue) check(n int) error {
	if len(v.Cut) != n || len(v.Chain) != n || len(v.Marker) != n {
		return fmt.Errorf("%w: value for %d/%d/%d validators, want %d", ErrBadRound, len(v.Cut), len(v.Chain), len(v.Marker), n)
	}
	return nil
}

func readCutValue(r *reader) *CutValue {
	n := int(r.u16())
	if r.err != nil || n > MaxValidators {
		if r.err == nil {
			r.err = fmt.Errorf("value of %d validators (max %d)", n, MaxValidators)
		}
		return nil
	}
	v := &CutValue{Cut: make([]uint64, n), Chain: make([]ledger.Hash, n), Marker: make([]uint64, n)}
	for k := 0; k < n && r.err == nil; k++ {
		v.Marker[k] = r.u64()
		v.Cut[k] = r.u64()
		v.Chain[k] = r.hash()
	}
	return v
}

// StreamChain extends a stream's hash chain by one entry: the chain of
// seq s is keccak256(chain of s-1 ‖ digest of entry s), from the zero hash
// before seq 1.
func StreamChain(prev, entryDigest ledger.Hash) ledger.Hash {
	return ledger.Hash(crypto.Keccak256Hash(prev[:], entryDigest[:]))
}

// RoundKind is the kind of a round message.
type RoundKind uint8

// Round message kinds.
const (
	// Proposal is the round's proposer's value (rounds with a proposer).
	Proposal RoundKind = 1
	// Prevote and Precommit are the two voting steps of a round.
	Prevote   RoundKind = 2
	Precommit RoundKind = 3
)

var roundKindNames = [...]string{"", "proposal", "prevote", "precommit"}

// String returns the kind's name.
func (k RoundKind) String() string {
	if int(k) < len(roundKindNames) && k != 0 {
		return roundKindNames[k]
	}
	return fmt.Sprintf("round-kind(%d)", uint8(k))
}

// RoundMsg is one signed message of the agreement on Epoch's cut.
type RoundMsg struct {
	Kind      RoundKind
	Epoch     uint64
	Round     uint32
	Validator uint32
	// ValidRound is, for a proposal, the round in which its value got a
	// quorum of prevotes (a proof of lock), or -1.
	ValidRound int32
	// Value is nil for a nil prevote or precommit; a proposal has one.
	Value *CutValue
	Sig   Signature
}

func (m *RoundMsg) appendUnsigned(b []byte) []byte {
	b = append(b, byte(m.Kind))
	b = binary.BigEndian.AppendUint64(b, m.Epoch)
	b = binary.BigEndian.AppendUint32(b, m.Round)
	b = binary.BigEndian.AppendUint32(b, m.Validator)
	b = binary.BigEndian.AppendUint32(b, uint32(m.ValidRound))
	if m.Value == nil {
		return append(b, 0)
	}
	return m.Value.appendTo(append(b, 1))
}

// Digest is what the validator signs: keccak256(domain ‖ chain ID ‖ message).
func (m *RoundMsg) Digest(chainID string) ledger.Hash {
	b := append([]byte(roundSigDomain), byte(len(chainID)))
	b = append(b, chainID...)
	return ledger.Hash(crypto.Keccak256Hash(m.appendUnsigned(b)))
}

// Encode returns the canonical encoding (unsigned fields, then Sig).
func (m *RoundMsg) Encode() []byte {
	return append(m.appendUnsigned(nil), m.Sig[:]...)
}

// DecodeRoundMsg parses a canonical round-message encoding; Encode of the
// result gives b back.
func DecodeRoundMsg(b []byte) (RoundMsg, error) {
	var m RoundMsg
	r := &reader{b: b}
	m.Kind = RoundKind(r.u8())
	m.Epoch = r.u64()
	if b := r.take(4); b != nil {
		m.Round = binary.BigEndian.Uint32(b)
	}
	if b := r.take(4); b != nil {
		m.Validator = binary.BigEndian.Uint32(b)
	}
	if b := r.take(4); b != nil {
		m.ValidRound = int32(binary.BigEndian.Uint32(b))
	}
	switch has := r.u8(); {
	case r.err != nil:
	case has == 1:
		m.Value = readCutValue(r)
	case has != 0:
		r.err = fmt.Errorf("value flag %d", has)
	}
	copy(m.Sig[:], r.take(65))
	if err := r.finish(); err != nil {
		return RoundMsg{}, fmt.Errorf("%w: %v", ErrRoundMalformed, err)
	}
	if err := m.checkShape(); err != nil {
		return RoundMsg{}, err
	}
	return m, nil
}

// checkShape checks what a message's kind requires of its fields.
func (m *RoundMsg) checkShape() error {
	switch {
	case m.Kind < Proposal || m.Kind > Precommit:
		return fmt.Errorf("%w: kind %d", ErrRoundMalformed, m.Kind)
	case m.Kind == Proposal && m.Value == nil:
		return fmt.Errorf("%w: proposal without a value", ErrRoundMalformed)
	case m.Kind == Proposal && (m.ValidRound < -1 || m.ValidRound >= int32(min(m.Round, 1<<31-1))):
		return fmt.Errorf("%w: proposal of round %d with valid round %d", ErrRoundMalformed, m.Round, m.ValidRound)
	case m.Kind != Proposal && m.ValidRound != -1:
		return fmt.Errorf("%w: %v with valid round %d", ErrRoundMalformed, m.Kind, m.ValidRound)
	}
	return nil
}

// Verify checks that m is well formed for g and signed by genesis
// validator m.Validator.
func (m *RoundMsg) Verify(g *ledger.Genesis) error {
	if int(m.Validator) >= len(g.Validators) {
		return fmt.Errorf("%w: validator index %d of %d", ErrBadRound, m.Validator, len(g.Validators))
	}
	if err := m.checkShape(); err != nil {
		return err
	}
	if m.Value != nil {
		if err := m.Value.check(len(g.Validators)); err != nil {
			return err
		}
	}
	signer, err := ledger.RecoverSigner(m.Digest(g.ChainID), m.Sig)
	if err != nil {
		return fmt.Errorf("%w: validator %d: %v", ErrBadRound, m.Validator, err)
	}
	if signer != g.Validators[m.Validator].Address {
		return fmt.Errorf("%w: signature is not by validator %d", ErrBadRound, m.Validator)
	}
	return nil
}
