package checkpoint

import (
	"crypto/ecdsa"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/ledgerd/ledgerd/ledger"
)

// HeaderVersion is the first byte of an encoded header.
const HeaderVersion = 2

// MaxValidators bounds the validator set a header's cut vector may describe.
const MaxValidators = 1024

// voteSigDomain separates vote signatures from transaction and entry
// signatures made with the same key.
const voteSigDomain = "ledgerd/vote/v1\x00"

// Errors of header, vote and certificate checks. Match with errors.Is.
var (
	ErrHeaderMalformed  = errors.New("checkpoint: malformed header")
	ErrVoteMalformed    = errors.New("checkpoint: malformed vote")
	ErrBadVote          = errors.New("checkpoint: invalid vote")
	ErrNoQuorum         = errors.New("checkpoint: votes do not reach a quorum")
	ErrBrokenChain      = errors.New("checkpoint: chain link broken")
	ErrWrongChainID     = errors.New("checkpoint: header of another chain")
	ErrWrongValidators  = errors.New("checkpoint: header names another validator set")
	ErrHeaderHashDiffer = errors.New("checkpoint: header does not hash to the certified hash")
)

// Header is the signed summary of one epoch. Its Hash chains checkpoints:
// PrevHash is the hash of epoch-1's header, or the genesis hash for epoch 1.
type Header struct {
	ChainID string
	Epoch   uint64
	// PrevHash is the previous header's hash (the genesis hash for epoch 1).
	PrevHash ledger.Hash
	// Cut[k] is where validator k's stream is cut: the seq of its
	// MARKER(Epoch), or, when k is absent, its previous cut. The epoch holds
	// the transactions of k's entries with Cut_{Epoch-1}[k] < seq < Cut[k].
	Cut []uint64
	// Chain[k] is the hash chain of k's stream up to Cut[k] (StreamChain):
	// the cut commits to the streams' content, not only to positions.
	Chain []ledger.Hash
	// Marker[k] is the epoch of the MARKER k's stream is cut at: Epoch when
	// k took part, an earlier epoch (0: none) when k was absent (its marker
	// was missing when the validators agreed on the cut): then its cut did
	// not move, and what it sent after waits for a later epoch.
	Marker           []uint64
	TxRoot           ledger.Hash
	ReceiptsRoot     ledger.Hash
	StateRoot        ledger.Hash
	TxCount          uint64
	ValidatorSetHash ledger.Hash
	// TimeMs is the median of the validators' marker times (deterministic).
	TimeMs int64
}

// Value is the agreed cut the header was executed from.
func (h *Header) Value() *CutValue { return &CutValue{Cut: h.Cut, Chain: h.Chain, Marker: h.Marker} }

// Absent lists the validators that took no part in the epoch (empty, not
// nil, when every one did).
func (h *Header) Absent() []uint32 {
	out := []uint32{}
	for k := range h.Marker {
		if h.Marker[k] != h.Epoch {
			out = append(out, uint32(k))
		}
	}
	return out
}

// Encode returns the canonical encoding: version, then the fields in order,
// integers big-endian, the chain ID length-prefixed, the cut as a CutValue.
func (h *Header) Encode() []byte {
	b := make([]byte, 0, 1+1+len(h.ChainID)+8+32+2+41*len(h.Cut)+32*4+8+8)
	b = append(b, HeaderVersion, byte(len(h.ChainID)))
	b = append(b, h.ChainID...)
	b = binary.BigEndian.AppendUint64(b, h.Epoch)
	b = append(b, h.PrevHash[:]...)
	b = h.Value().appendTo(b)
	b = append(b, h.TxRoot[:]...)
	b = append(b, h.ReceiptsRoot[:]...)
	b = append(b, h.StateRoot[:]...)
	b = binary.BigEndian.AppendUint64(b, h.TxCount)
	b = append(b, h.ValidatorSetHash[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(h.TimeMs))
	return b
}

// Hash is keccak256 of the canonical encoding.
func (h *Header) Hash() ledger.Hash {
	return ledger.Hash(crypto.Keccak256Hash(h.Encode()))
}

// reader is a bounds-checked big-endian cursor for decoders.
type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b) < n {
		r.err = fmt.Errorf("truncated: need %d bytes, have %d", n, len(r.b))
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u8() byte {
	if b := r.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if b := r.take(2); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if b := r.take(8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

func (r *reader) hash() (h ledger.Hash) {
	copy(h[:], r.take(32))
	return h
}

func (r *reader) finish() error {
	if r.err == nil && len(r.b) > 0 {
		r.err = fmt.Errorf("%d trailing bytes", len(r.b))
	}
	return r.err
}

// DecodeHeader parses a canonical header encoding; Encode(Decode(b)) == b.
func DecodeHeader(b []byte) (Header, error) {
	var h Header
	r := &reader{b: b}
	if v := r.u8(); r.err == nil && v != HeaderVersion {
		return h, fmt.Errorf("%w: version %d", ErrHeaderMalformed, v)
	}
	n := int(r.u8())
	if r.err == nil && (n == 0 || n > ledger.MaxChainIDLen) {
		return h, fmt.Errorf("%w: chain ID length %d", ErrHeaderMalformed, n)
	}
	h.ChainID = string(r.take(n))
	h.Epoch = r.u64()
	h.PrevHash = r.hash()
	if v := readCutValue(r); v != nil {
		h.Cut, h.Chain, h.Marker = v.Cut, v.Chain, v.Marker
	}
	h.TxRoot = r.hash()
	h.ReceiptsRoot = r.hash()
	h.StateRoot = r.hash()
	h.TxCount = r.u64()
	h.ValidatorSetHash = r.hash()
	h.TimeMs = int64(r.u64())
	if err := r.finish(); err != nil {
		return Header{}, fmt.Errorf("%w: %v", ErrHeaderMalformed, err)
	}
	return h, nil
}

// Signature is a secp256k1 signature [R || S || V], V in {0, 1}.
type Signature [65]byte

// Signer signs 32-byte digests with the node's validator key. crypto.Sign is
// deterministic (RFC 6979), so replaying a simulation reproduces signatures.
type Signer interface {
	Sign(digest ledger.Hash) (Signature, error)
}

// KeySigner signs with an in-memory secp256k1 key.
type KeySigner struct{ Key *ecdsa.PrivateKey }

// Sign implements Signer.
func (s KeySigner) Sign(digest ledger.Hash) (Signature, error) {
	var sig Signature
	raw, err := crypto.Sign(digest[:], s.Key)
	if err != nil {
		return sig, err
	}
	copy(sig[:], raw)
	return sig, nil
}

// Vote is validator Validator's signature on the header hash of Epoch. It
// also carries, signed, the validator's recorded state of that epoch's
// snapshot: Recorded[k] is the highest seq it had delivered from validator k
// when it recorded, and RecordedTimeMs its clock then. Anyone can check the
// consistent-cut invariant Recorded[k] < Cut[k].
type Vote struct {
	Epoch          uint64
	Hash           ledger.Hash
	Validator      uint32
	Recorded       []uint64
	RecordedTimeMs int64
	Sig            Signature
}

func (v *Vote) appendUnsigned(b []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, v.Epoch)
	b = append(b, v.Hash[:]...)
	b = binary.BigEndian.AppendUint32(b, v.Validator)
	b = binary.BigEndian.AppendUint16(b, uint16(len(v.Recorded)))
	for _, s := range v.Recorded {
		b = binary.BigEndian.AppendUint64(b, s)
	}
	return binary.BigEndian.AppendUint64(b, uint64(v.RecordedTimeMs))
}

// Digest is what the validator signs: keccak256(domain ‖ chain ID ‖ vote).
func (v *Vote) Digest(chainID string) ledger.Hash {
	b := append([]byte(voteSigDomain), byte(len(chainID)))
	b = append(b, chainID...)
	return ledger.Hash(crypto.Keccak256Hash(v.appendUnsigned(b)))
}

// Encode returns the canonical encoding (unsigned fields, then Sig).
func (v *Vote) Encode() []byte {
	return append(v.appendUnsigned(make([]byte, 0, 64+8*len(v.Recorded)+65)), v.Sig[:]...)
}

// DecodeVote parses a canonical vote encoding.
func DecodeVote(b []byte) (Vote, error) {
	var v Vote
	r := &reader{b: b}
	v.Epoch = r.u64()
	v.Hash = r.hash()
	if b := r.take(4); b != nil {
		v.Validator = binary.BigEndian.Uint32(b)
	}
	n := int(r.u16())
	if n > MaxValidators {
		return Vote{}, fmt.Errorf("%w: %d recorded positions (max %d)", ErrVoteMalformed, n, MaxValidators)
	}
	if r.err == nil {
		v.Recorded = make([]uint64, n)
		for i := range v.Recorded {
			v.Recorded[i] = r.u64()
		}
	}
	v.RecordedTimeMs = int64(r.u64())
	copy(v.Sig[:], r.take(65))
	if err := r.finish(); err != nil {
		return Vote{}, fmt.Errorf("%w: %v", ErrVoteMalformed, err)
	}
	return v, nil
}

// Verify checks that the vote is signed by genesis validator v.Validator for
// chain g.ChainID, with a low-S signature, and is well-formed for g.
func (v *Vote) Verify(g *ledger.Genesis) error {
	if int(v.Validator) >= len(g.Validators) {
		return fmt.Errorf("%w: validator index %d of %d", ErrBadVote, v.Validator, len(g.Validators))
	}
	if len(v.Recorded) != len(g.Validators) {
		return fmt.Errorf("%w: %d recorded positions for %d validators", ErrBadVote, len(v.Recorded), len(g.Validators))
	}
	signer, err := ledger.RecoverSigner(v.Digest(g.ChainID), v.Sig)
	if err != nil {
		return fmt.Errorf("%w: validator %d: %v", ErrBadVote, v.Validator, err)
	}
	if signer != g.Validators[v.Validator].Address {
		return fmt.Errorf("%w: signature is not by validator %d", ErrBadVote, v.Validator)
	}
	return nil
}

// Certificate is a quorum of votes for one header hash.
type Certificate struct {
	Epoch uint64
	Hash  ledger.Hash
	// Votes are sorted by validator index, one per validator.
	Votes []Vote
}

// Encode returns the canonical encoding: epoch, hash, count, then each vote
// length-prefixed.
func (c *Certificate) Encode() []byte {
	b := binary.BigEndian.AppendUint64(nil, c.Epoch)
	b = append(b, c.Hash[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(c.Votes)))
	for i := range c.Votes {
		vb := c.Votes[i].Encode()
		b = binary.BigEndian.AppendUint32(b, uint32(len(vb)))
		b = append(b, vb...)
	}
	return b
}

// DecodeCertificate parses a canonical certificate encoding.
func DecodeCertificate(b []byte) (Certificate, error) {
	var c Certificate
	r := &reader{b: b}
	c.Epoch = r.u64()
	c.Hash = r.hash()
	n := int(r.u16())
	if n > MaxValidators {
		return c, fmt.Errorf("%w: %d votes", ErrVoteMalformed, n)
	}
	for i := 0; i < n && r.err == nil; i++ {
		var l uint32
		if lb := r.take(4); lb != nil {
			l = binary.BigEndian.Uint32(lb)
		}
		vb := r.take(int(l))
		if r.err != nil {
			break
		}
		v, err := DecodeVote(vb)
		if err != nil {
			return Certificate{}, err
		}
		c.Votes = append(c.Votes, v)
	}
	if err := r.finish(); err != nil {
		return Certificate{}, fmt.Errorf("%w: certificate: %v", ErrVoteMalformed, err)
	}
	return c, nil
}

// Verify checks every vote's signature, that all name c's epoch and hash,
// that no validator appears twice, and that their power is a quorum of g.
func (c *Certificate) Verify(g *ledger.Genesis) error {
	var power uint64
	seen := make(map[uint32]bool, len(c.Votes))
	for i := range c.Votes {
		v := &c.Votes[i]
		if v.Epoch != c.Epoch || v.Hash != c.Hash {
			return fmt.Errorf("%w: vote of validator %d is for epoch %d hash %s", ErrBadVote, v.Validator, v.Epoch, v.Hash)
		}
		if seen[v.Validator] {
			return fmt.Errorf("%w: validator %d votes twice", ErrBadVote, v.Validator)
		}
		seen[v.Validator] = true
		if err := v.Verify(g); err != nil {
			return err
		}
		power += g.Validators[v.Validator].Power
	}
	if !g.IsQuorum(power) {
		return fmt.Errorf("%w: power %d of %d for epoch %d", ErrNoQuorum, power, g.TotalPower(), c.Epoch)
	}
	return nil
}

// Certified is a header with the certificate that makes it final.
type Certified struct {
	Header      Header
	Certificate Certificate
}

// Verify checks the certificate and that it certifies this header of g's chain.
func (c *Certified) Verify(g *ledger.Genesis) error {
	h := &c.Header
	if h.ChainID != g.ChainID {
		return fmt.Errorf("%w: %q, want %q", ErrWrongChainID, h.ChainID, g.ChainID)
	}
	if h.ValidatorSetHash != g.ValidatorSetHash() {
		return fmt.Errorf("%w: epoch %d", ErrWrongValidators, h.Epoch)
	}
	if len(h.Cut) != len(g.Validators) || len(h.Chain) != len(h.Cut) || len(h.Marker) != len(h.Cut) {
		return fmt.Errorf("%w: cut of %d entries for %d validators", ErrHeaderMalformed, len(h.Cut), len(g.Validators))
	}
	if c.Certificate.Epoch != h.Epoch || c.Certificate.Hash != h.Hash() {
		return fmt.Errorf("%w: epoch %d", ErrHeaderHashDiffer, h.Epoch)
	}
	return c.Certificate.Verify(g)
}

// VerifyChain checks a run of certified checkpoints offline against the
// genesis alone: every certificate, and every prev_hash link. chain must be
// in ascending epoch order, contiguous, starting at epoch 1 (linked to the
// genesis hash) or, if from is non-nil, at from.Epoch+1 linked to from.
func VerifyChain(g *ledger.Genesis, from *Header, chain []Certified) error {
	prevHash, prevEpoch := g.Hash(), uint64(0)
	var prevTime int64
	prev := from
	if from != nil {
		prevHash, prevEpoch, prevTime = from.Hash(), from.Epoch, from.TimeMs
	}
	for i := range chain {
		c := &chain[i]
		if c.Header.Epoch != prevEpoch+1 {
			return fmt.Errorf("%w: epoch %d follows epoch %d", ErrBrokenChain, c.Header.Epoch, prevEpoch)
		}
		if c.Header.PrevHash != prevHash {
			return fmt.Errorf("%w: epoch %d names prev %s, want %s", ErrBrokenChain, c.Header.Epoch, c.Header.PrevHash, prevHash)
		}
		if c.Header.TimeMs < prevTime {
			return fmt.Errorf("%w: epoch %d time goes backwards", ErrBrokenChain, c.Header.Epoch)
		}
		if err := c.Verify(g); err != nil {
			return fmt.Errorf("epoch %d: %w", c.Header.Epoch, err)
		}
		if err := checkCutFollows(prev, &c.Header); err != nil {
			return err
		}
		prevHash, prevEpoch, prevTime = c.Header.Hash(), c.Header.Epoch, c.Header.TimeMs
		prev = &c.Header
	}
	return nil
}

// checkCutFollows checks that h's cut extends prev's (nil: genesis, every
// stream empty): a present validator's stream moved forward (past its
// marker), an absent one's did not move and kept its chain and marker.
// Every epoch's cut is a prefix of every stream that the next one extends.
func checkCutFollows(prev, h *Header) error {
	for k := range h.Cut {
		var cut, mark uint64
		var chain ledger.Hash
		if prev != nil {
			cut, chain, mark = prev.Cut[k], prev.Chain[k], prev.Marker[k]
		}
		switch present := h.Marker[k] == h.Epoch; {
		case !present && (h.Cut[k] != cut || h.Chain[k] != chain || h.Marker[k] != mark):
			return fmt.Errorf("%w: epoch %d moves the cut of absent validator %d", ErrBrokenChain, h.Epoch, k)
		case present && h.Cut[k] <= cut:
			return fmt.Errorf("%w: epoch %d cuts validator %d at %d, not after %d", ErrBrokenChain, h.Epoch, k, h.Cut[k], cut)
		}
	}
	return nil
}

// medianTime is the lower median of the marker times: deterministic, and
// no single validator's clock can move it outside the honest range when
// fewer than half are faulty.
func medianTime(times []int64) int64 {
	s := slices.Clone(times)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}
