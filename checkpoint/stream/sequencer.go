package stream

import (
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
)

// Status is what Sequencer.Add did with an entry.
type Status uint8

const (
	// StatusDelivered: the entry was next in line and is in the released list.
	StatusDelivered Status = iota + 1
	// StatusHeld: the entry is ahead of a gap and waits in the hold-back buffer.
	StatusHeld
	// StatusDuplicate: the same entry was already held or recently delivered.
	StatusDuplicate
	// StatusStale: the seq was delivered before the recent-digest window
	// (or before a restart); the entry is dropped unchecked.
	StatusStale
	// StatusTooFarAhead: the seq is beyond the hold-back window; dropped, but
	// the origin is known to be at least that far, so a gap is reported.
	StatusTooFarAhead
	// StatusBufferFull: the hold-back byte budget is spent; dropped as above.
	StatusBufferFull
	// StatusEquivocation: a different entry holds this (origin, seq); both are
	// kept as evidence, the first one seen stays in line.
	StatusEquivocation
	// StatusBroken: the origin's stream broke the epoch rule or equivocated on
	// its next entry; nothing more is delivered from it.
	StatusBroken
)

var statusNames = [...]string{"", "delivered", "held", "duplicate", "stale", "too-far-ahead", "buffer-full", "equivocation", "broken"}

// String returns the status name.
func (s Status) String() string {
	if int(s) < len(statusNames) && s != 0 {
		return statusNames[s]
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// Sequencer errors.
var (
	ErrUnknownOrigin  = errors.New("stream: origin out of range")
	ErrBadConfig      = errors.New("stream: invalid sequencer config")
	ErrBrokenStream   = errors.New("stream: origin broke its stream")
	ErrBadStartVector = errors.New("stream: start positions do not match origin count")
)

// EvidenceKind says what an Evidence proves.
type EvidenceKind uint8

const (
	// EvidenceEquivocation: First and Second are two different entries signed
	// by one origin with one seq.
	EvidenceEquivocation EvidenceKind = 1
	// EvidenceEpochRule: First is an in-order entry whose epoch tag is not
	// ClosedEpoch+1, where ClosedEpoch is the origin's last delivered marker.
	EvidenceEpochRule EvidenceKind = 2
)

// Evidence is proof that an origin misbehaved. The entries are as received
// (the caller verified their signatures before Add).
type Evidence struct {
	Kind   EvidenceKind
	Origin uint32
	Seq    uint64
	// FirstDigest is the digest of the entry seen first; First is that
	// entry when it was still held, or zero when it had been delivered
	// already (the caller's store has it under (Origin, Seq)).
	FirstDigest common.Hash
	First       Entry
	Second      Entry  // EvidenceEquivocation only
	ClosedEpoch uint64 // EvidenceEpochRule only
}

// Gap is a range of an origin's seqs, inclusive, that should be repaired.
type Gap struct {
	Origin   uint32
	From, To uint64
}

// OriginStart is where an origin's stream resumes: NextSeq is the next seq
// to deliver (0 means 1) and ClosedEpoch the epoch of the last marker
// delivered from it (0 if none), so dedup and the epoch rule survive restart.
type OriginStart struct {
	NextSeq     uint64
	ClosedEpoch uint64
}

// SequencerConfig bounds a Sequencer. Time is the caller's logical unit
// (for example milliseconds of a monotonic clock, or ticks).
type SequencerConfig struct {
	// ChainID is mixed into digests used to compare entries.
	ChainID string
	// Origins is the number of origins (validators); origin indexes are 0..Origins-1.
	Origins int
	// WindowSeqs: entries with seq >= next+WindowSeqs are not held. Bounds
	// the hold-back buffer's entry count per origin.
	WindowSeqs uint64
	// MaxHeldBytes bounds the body bytes held per origin.
	MaxHeldBytes int
	// RecentDigests is how many delivered digests per origin are kept to
	// detect equivocation against already delivered entries.
	RecentDigests int
	// GapTimeout: an origin that is behind (held entries or a known higher
	// seq) for this long, without progress, has its gaps reported; reports
	// repeat at this interval.
	GapTimeout int64
	// MaxEvidence bounds the evidence kept until TakeEvidence.
	MaxEvidence int
	// MaxGapsPerOrigin bounds the ranges Gaps reports for one origin.
	MaxGapsPerOrigin int
}

// Validate checks the bounds.
func (c SequencerConfig) Validate() error {
	switch {
	case c.ChainID == "" || len(c.ChainID) > MaxChainIDBytes:
		return fmt.Errorf("%w: chain ID", ErrBadConfig)
	case c.Origins <= 0:
		return fmt.Errorf("%w: Origins %d", ErrBadConfig, c.Origins)
	case c.WindowSeqs == 0 || c.WindowSeqs > 1<<20:
		return fmt.Errorf("%w: WindowSeqs %d not in [1, 2^20]", ErrBadConfig, c.WindowSeqs)
	case c.MaxHeldBytes < MaxBodyBytes:
		return fmt.Errorf("%w: MaxHeldBytes %d < MaxBodyBytes", ErrBadConfig, c.MaxHeldBytes)
	case c.RecentDigests < 0:
		return fmt.Errorf("%w: RecentDigests %d", ErrBadConfig, c.RecentDigests)
	case c.GapTimeout <= 0:
		return fmt.Errorf("%w: GapTimeout %d", ErrBadConfig, c.GapTimeout)
	case c.MaxEvidence <= 0:
		return fmt.Errorf("%w: MaxEvidence %d", ErrBadConfig, c.MaxEvidence)
	case c.MaxGapsPerOrigin <= 0:
		return fmt.Errorf("%w: MaxGapsPerOrigin %d", ErrBadConfig, c.MaxGapsPerOrigin)
	}
	return nil
}

// maxStartSeq keeps next+WindowSeqs far from overflow.
const maxStartSeq = 1 << 62

type heldEntry struct {
	entry  Entry
	digest common.Hash
}

type originState struct {
	next        uint64 // next seq to deliver
	closedEpoch uint64 // epoch of the last delivered marker
	held        map[uint64]heldEntry
	heldBytes   int
	knownHigh   uint64 // highest seq known to exist (0: none beyond delivered)
	behindSince int64  // valid while behind(): when it fell behind or last progressed
	lastReport  int64  // when its gaps were last reported
	reported    bool
	broken      bool
	// recent is a ring of the digests of the last delivered entries:
	// recent[seq % len(recent)] holds seq's digest iff seq >= next-len(recent).
	recent []common.Hash
	// recentFrom is the first seq delivered by this Sequencer (the start
	// position): ring slots for earlier seqs were never filled.
	recentFrom uint64
}

func (o *originState) behind() bool { return len(o.held) > 0 || o.knownHigh >= o.next }

// Sequencer turns verified entries received in any order, with duplicates
// and losses, into strictly in-order delivery per origin. It is pure and not
// safe for concurrent use: one goroutine owns it.
type Sequencer struct {
	cfg      SequencerConfig
	origins  []originState
	evidence []Evidence
	// evidenceDropped counts evidence not kept because the buffer was full.
	evidenceDropped uint64
}

// NewSequencer returns a Sequencer resuming at start (one element per
// origin; nil means every origin starts at seq 1 with no marker).
func NewSequencer(cfg SequencerConfig, start []OriginStart) (*Sequencer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if start != nil && len(start) != cfg.Origins {
		return nil, fmt.Errorf("%w: %d positions, %d origins", ErrBadStartVector, len(start), cfg.Origins)
	}
	s := &Sequencer{cfg: cfg, origins: make([]originState, cfg.Origins)}
	for i := range s.origins {
		o := &s.origins[i]
		o.next = 1
		if start != nil {
			if start[i].NextSeq > 1 {
				o.next = start[i].NextSeq
			}
			o.closedEpoch = start[i].ClosedEpoch
			if o.next > maxStartSeq {
				return nil, fmt.Errorf("%w: origin %d NextSeq %d", ErrBadStartVector, i, o.next)
			}
		}
		o.recentFrom = o.next
		o.held = make(map[uint64]heldEntry)
		if cfg.RecentDigests > 0 {
			o.recent = make([]common.Hash, cfg.RecentDigests)
		}
	}
	return s, nil
}

// Add offers one entry whose signature the caller has verified, at logical
// time now. It returns the entries released in order (possibly several,
// when e fills a gap), what happened to e, and an error for an unknown
// origin or a broken stream (the evidence is also queued for TakeEvidence).
func (s *Sequencer) Add(e Entry, now int64) ([]Entry, Status, error) {
	if int64(e.Origin) >= int64(len(s.origins)) {
		return nil, 0, fmt.Errorf("%w: %d of %d", ErrUnknownOrigin, e.Origin, len(s.origins))
	}
	o := &s.origins[e.Origin]
	if o.broken {
		return nil, StatusBroken, fmt.Errorf("%w: origin %d", ErrBrokenStream, e.Origin)
	}
	d := e.Digest(s.cfg.ChainID)
	if e.Seq < o.next {
		if w := uint64(len(o.recent)); w > 0 && e.Seq >= o.recentFrom && e.Seq+w >= o.next {
			if prev := o.recent[e.Seq%w]; prev != d {
				s.addEvidence(Evidence{Kind: EvidenceEquivocation, Origin: e.Origin, Seq: e.Seq, FirstDigest: prev, Second: e})
				return nil, StatusEquivocation, nil
			}
			return nil, StatusDuplicate, nil
		}
		return nil, StatusStale, nil
	}
	if h, ok := o.held[e.Seq]; ok {
		if h.digest == d {
			return nil, StatusDuplicate, nil
		}
		s.addEvidence(Evidence{Kind: EvidenceEquivocation, Origin: e.Origin, Seq: e.Seq, FirstDigest: h.digest, First: h.entry, Second: e})
		return nil, StatusEquivocation, nil
	}
	wasBehind := o.behind()
	if e.Seq >= o.next+s.cfg.WindowSeqs {
		s.noteKnown(o, e.Seq, now, wasBehind)
		return nil, StatusTooFarAhead, nil
	}
	if e.Seq != o.next && o.heldBytes+len(e.Body) > s.cfg.MaxHeldBytes {
		s.noteKnown(o, e.Seq, now, wasBehind)
		return nil, StatusBufferFull, nil
	}
	o.held[e.Seq] = heldEntry{entry: e, digest: d}
	o.heldBytes += len(e.Body)
	if e.Seq != o.next {
		if !wasBehind {
			o.behindSince = now
		}
		return nil, StatusHeld, nil
	}
	released, err := s.release(e.Origin, o, now)
	if err != nil && len(released) == 0 {
		return nil, StatusBroken, err
	}
	return released, StatusDelivered, err
}

// release delivers held entries from o.next on while they are contiguous.
func (s *Sequencer) release(origin uint32, o *originState, now int64) ([]Entry, error) {
	var out []Entry
	for {
		h, ok := o.held[o.next]
		if !ok {
			break
		}
		e := h.entry
		if e.Epoch != o.closedEpoch+1 {
			o.broken = true
			s.addEvidence(Evidence{Kind: EvidenceEpochRule, Origin: origin, Seq: e.Seq, FirstDigest: h.digest, First: e, ClosedEpoch: o.closedEpoch})
			s.dropHeld(o)
			return out, fmt.Errorf("%w: origin %d seq %d has epoch %d after marker %d", ErrBrokenStream, origin, e.Seq, e.Epoch, o.closedEpoch)
		}
		delete(o.held, o.next)
		o.heldBytes -= len(e.Body)
		if e.Kind == KindMarker {
			o.closedEpoch = e.Epoch
		}
		if w := uint64(len(o.recent)); w > 0 {
			o.recent[e.Seq%w] = h.digest
		}
		o.next++
		out = append(out, e)
	}
	if o.knownHigh < o.next {
		o.knownHigh = 0
	}
	o.behindSince = now // progress restarts the gap timer
	o.reported = false
	return out, nil
}

func (s *Sequencer) dropHeld(o *originState) {
	clear(o.held)
	o.heldBytes = 0
	o.knownHigh = 0
}

func (s *Sequencer) noteKnown(o *originState, seq uint64, now int64, wasBehind bool) {
	if seq > o.knownHigh {
		o.knownHigh = seq
	}
	if !wasBehind && o.behind() {
		o.behindSince = now
	}
}

// NoteKnown records that origin has published at least seq (learned from a
// peer's status or a repair answer), so a missing tail is reported as a gap.
func (s *Sequencer) NoteKnown(origin uint32, seq uint64, now int64) error {
	if int64(origin) >= int64(len(s.origins)) {
		return fmt.Errorf("%w: %d of %d", ErrUnknownOrigin, origin, len(s.origins))
	}
	o := &s.origins[origin]
	if o.broken || seq < o.next {
		return nil
	}
	s.noteKnown(o, seq, now, o.behind())
	return nil
}

func (s *Sequencer) addEvidence(ev Evidence) {
	if len(s.evidence) >= s.cfg.MaxEvidence {
		s.evidenceDropped++
		return
	}
	s.evidence = append(s.evidence, ev)
}

// Gaps lists, in origin order, the missing ranges of every origin that has
// been behind for at least GapTimeout without progress and was not reported
// within the last GapTimeout. Each range is bounded by the hold-back window.
func (s *Sequencer) Gaps(now int64) []Gap {
	var gaps []Gap
	for i := range s.origins {
		o := &s.origins[i]
		if o.broken || !o.behind() || now-o.behindSince < s.cfg.GapTimeout {
			continue
		}
		if o.reported && now-o.lastReport < s.cfg.GapTimeout {
			continue
		}
		o.reported = true
		o.lastReport = now
		gaps = append(gaps, s.originGaps(uint32(i), o)...)
	}
	return gaps
}

// originGaps lists the missing ranges in [next, high] where high is the
// highest held or known seq, capped by the window.
func (s *Sequencer) originGaps(origin uint32, o *originState) []Gap {
	high := o.knownHigh
	for seq := range o.held {
		high = max(high, seq)
	}
	high = min(high, o.next+s.cfg.WindowSeqs-1)
	var gaps []Gap
	for seq := o.next; seq <= high && len(gaps) < s.cfg.MaxGapsPerOrigin; {
		if _, ok := o.held[seq]; ok {
			seq++
			continue
		}
		from := seq
		for seq <= high {
			if _, ok := o.held[seq]; ok {
				break
			}
			seq++
		}
		gaps = append(gaps, Gap{Origin: origin, From: from, To: seq - 1})
	}
	return gaps
}

// TakeEvidence returns and clears the evidence gathered since the last call.
func (s *Sequencer) TakeEvidence() []Evidence {
	ev := s.evidence
	s.evidence = nil
	return ev
}

// Next returns the next seq to deliver from origin (0 for an unknown origin).
func (s *Sequencer) Next(origin uint32) uint64 {
	if int64(origin) >= int64(len(s.origins)) {
		return 0
	}
	return s.origins[origin].next
}

// Position returns origin's current resume point (for persistence).
func (s *Sequencer) Position(origin uint32) OriginStart {
	if int64(origin) >= int64(len(s.origins)) {
		return OriginStart{}
	}
	o := &s.origins[origin]
	return OriginStart{NextSeq: o.next, ClosedEpoch: o.closedEpoch}
}

// Broken reports whether origin's stream stopped after a rule violation.
func (s *Sequencer) Broken(origin uint32) bool {
	return int64(origin) < int64(len(s.origins)) && s.origins[origin].broken
}

// Held returns the number of entries and body bytes held for origin.
func (s *Sequencer) Held(origin uint32) (entries, bodyBytes int) {
	if int64(origin) >= int64(len(s.origins)) {
		return 0, 0
	}
	return len(s.origins[origin].held), s.origins[origin].heldBytes
}

// EvidenceDropped counts evidence discarded because MaxEvidence was reached.
func (s *Sequencer) EvidenceDropped() uint64 { return s.evidenceDropped }
