package checkpoint

import (
	"errors"
	"fmt"

	"github.com/ledgerd/ledgerd/checkpoint/stream"
	"github.com/ledgerd/ledgerd/ledger"
)

// This file is the shell protocol: how a validator carries out the
// Machine's effects (the order of persistence, sync and publication) and how
// it rebuilds its Machine from what it persisted. It is written once, here,
// over interfaces the shell owns: the node implements them over Badger and
// libp2p, the simulator in memory (with crashes between any two effects).
// etcd raft's Ready contract is the model: the core decides the order, every
// shell only executes it.

// Shell errors.
var (
	// ErrNotFound is what a Journal read answers for something never stored.
	// Any other read error is a failure of the store, never "absent".
	ErrNotFound = errors.New("checkpoint: not found")
	// ErrRejected wraps an error caused by a peer's input (an entry or a
	// vote that breaks the protocol). The shell stays usable; every other
	// error from a Shell method means it must not be used again.
	ErrRejected = errors.New("checkpoint: input rejected")
)

// Journal is a validator's durable state as the shell protocol uses it.
// A write returns once it survives a crash of the process; Sync extends
// that to every write so far (power loss). Reads answer ErrNotFound for
// what was never written, and any other error when the store fails.
type Journal interface {
	// Head is the last committed epoch's header (Epoch 0 at genesis).
	Head() (Header, error)
	// State opens the ledger state at head.
	State(head Header) (*ledger.State, error)
	// Header is the committed header of epoch.
	Header(epoch uint64) (Header, error)
	// LastFinal is the highest epoch, at most head, with a stored certificate.
	LastFinal(head uint64) (uint64, error)
	// Votes are the stored votes of epoch: this validator's and its peers'.
	Votes(epoch uint64) ([]Vote, error)
	// Entry is origin's stored stream entry with seq.
	Entry(origin uint32, seq uint64) (stream.Entry, error)

	// PutOwnEntry persists an entry of this validator's outbox.
	PutOwnEntry(e stream.Entry) error
	// PutVote persists a vote, this validator's or a peer's. A second,
	// different vote of one validator for one epoch may be refused.
	PutVote(v Vote) error
	// Rounds are the stored round messages of epoch: this validator's and
	// its peers'.
	Rounds(epoch uint64) ([]RoundMsg, error)
	// PutRound persists a round message, this validator's or a peer's.
	// Those of a final epoch may be dropped.
	PutRound(m RoundMsg) error
	// CommitEpoch commits an executed epoch atomically; it becomes the head.
	CommitEpoch(r *EpochResult) error
	// PutCertified stores the certificate that made a checkpoint final.
	PutCertified(c Certified) error
	// Sync makes every write so far durable.
	Sync() error
}

// Sender publishes to the other validators. An error stops the shell (a
// transport that only loses messages answers nil: repair recovers them).
type Sender interface {
	SendEntry(e stream.Entry) error
	SendVote(v Vote) error
	SendRound(m RoundMsg) error
}

// Observer is told about each Ready the shell carries out; it must not
// call back into the Shell. Optional.
type Observer interface {
	// BeforeReady is called before rd's first effect.
	BeforeReady(rd *Ready)
	// AfterReady is called after rd's last effect, before Advance.
	AfterReady(rd *Ready)
}

// BatchChecker decodes and checks the transactions of a batch entry (nil
// for a marker), leaving out undecodable ones, as the Machine expects.
type BatchChecker func(e stream.Entry) []ledger.CheckedTx

// CheckBatch is the BatchChecker that checks each transaction in turn.
func CheckBatch(chainID string) BatchChecker {
	return func(e stream.Entry) []ledger.CheckedTx {
		if e.Kind != stream.KindBatch {
			return nil
		}
		raws, err := stream.DecodeBatch(e.Body)
		if err != nil {
			return nil
		}
		out := make([]ledger.CheckedTx, 0, len(raws))
		for _, raw := range raws {
			if tx, err := ledger.DecodeTx(raw); err == nil {
				out = append(out, ledger.CheckTx(tx, chainID))
			}
		}
		return out
	}
}

// ShellConfig configures a Shell.
type ShellConfig struct {
	Machine Config
	Journal Journal
	Sender  Sender
	Signer  Signer
	// Check checks replayed and re-read batches; nil means CheckBatch.
	Check BatchChecker
	// Observer, if set, sees every Ready.
	Observer Observer
}

// Shell is one validator's Machine with its journal and sender: the single
// implementation of Ready processing and of restore. Every method carries
// out the effects its step produced before it returns. Not safe for
// concurrent use.
type Shell struct {
	m     *Machine
	j     Journal
	out   Sender
	check BatchChecker
	obs   Observer
	// pull[k] is the next seq of origin k to read back from the journal, or
	// 0: the Machine refused k's entry (ErrTooManyPending, k is ahead of
	// this validator's window), so k's later entries, stored before they
	// were delivered, are read back in order as the window moves instead of
	// being held in memory.
	pull []uint64
	// readBack counts the entries read back from the journal.
	readBack uint64
}

// Open rebuilds a validator from its journal (the restart path, and the
// first start on a journal holding the genesis state): the head's state,
// the executed but not final headers, every vote this validator cast from
// the last final epoch on (also past the head: a vote leaves before its
// epoch is committed), its own outbox after the head's cut, and the stored
// votes. The other validators' stored entries after the cut are read back
// by the first Tick, which also carries out what the rebuild produced:
// Open itself neither writes nor sends, so the caller can start its
// network from StreamPositions before anything is published. nowMs is the
// rebuilt machine's clock.
func Open(cfg ShellConfig, nowMs int64) (*Shell, error) {
	j := cfg.Journal
	g := cfg.Machine.Genesis
	if j == nil || cfg.Sender == nil || g == nil {
		return nil, fmt.Errorf("%w: shell needs a genesis, a journal and a sender", ErrInvalidConfig)
	}
	check := cfg.Check
	if check == nil {
		check = CheckBatch(g.ChainID)
	}
	head, err := j.Head()
	if err != nil {
		return nil, fmt.Errorf("read head: %w", err)
	}
	state, err := j.State(head)
	if err != nil {
		return nil, fmt.Errorf("open state at epoch %d root %s: %w", head.Epoch, head.StateRoot, err)
	}
	r := restore{Head: head, State: state, Voted: map[uint64]Vote{}}
	if r.LastFinal, err = j.LastFinal(head.Epoch); err != nil {
		return nil, fmt.Errorf("read last final epoch: %w", err)
	}
	for ep := r.LastFinal + 1; ep <= head.Epoch; ep++ {
		h, err := j.Header(ep)
		if err != nil {
			return nil, fmt.Errorf("read checkpoint %d: %w", ep, err)
		}
		r.Pending = append(r.Pending, h)
	}
	var stored []Vote
	for ep := r.LastFinal + 1; ep <= head.Epoch+uint64(cfg.Machine.MaxEpochsInFlight); ep++ {
		votes, err := j.Votes(ep)
		if err != nil {
			// Never "no vote": that could sign a second hash.
			return nil, fmt.Errorf("read votes of epoch %d: %w", ep, err)
		}
		for _, v := range votes {
			if v.Validator == cfg.Machine.Self {
				r.Voted[ep] = v
			}
		}
		stored = append(stored, votes...)
	}
	m, err := newMachine(cfg.Machine, r, cfg.Signer)
	if err != nil {
		return nil, err
	}
	s := &Shell{m: m, j: j, out: cfg.Sender, check: check, obs: cfg.Observer, pull: make([]uint64, len(g.Validators))}
	// The agreements' own messages first: the replay and the first tick
	// may start an agreement, which must continue the restored round, not
	// send a second, different message.
	for ep := head.Epoch + 1; ep <= head.Epoch+uint64(cfg.Machine.MaxEpochsInFlight)+1; ep++ {
		msgs, err := j.Rounds(ep)
		if err != nil {
			// Never "no round message": that could prevote twice.
			return nil, fmt.Errorf("read round messages of epoch %d: %w", ep, err)
		}
		m.restoreRounds(ep, msgs)
	}
	cut := head.Cut
	if head.Epoch == 0 {
		cut = make([]uint64, len(g.Validators))
	}
	self := cfg.Machine.Self
	for seq := cut[self] + 1; ; seq++ {
		e, err := j.Entry(self, seq)
		if errors.Is(err, ErrNotFound) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("replay own entry %d: %w", seq, err)
		}
		if err := m.replayOwn(e, check(e)); err != nil {
			return nil, fmt.Errorf("replay own entry %d: %w", seq, err)
		}
	}
	if err := m.tick(nowMs); err != nil {
		return nil, fmt.Errorf("tick: %w", err)
	}
	for k := range s.pull {
		if uint32(k) != self {
			s.pull[k] = cut[k] + 1 // read back by the first Tick
		}
	}
	for _, v := range stored {
		_ = m.stepVote(v) // checked when stored; a bad one is only ignored
	}
	return s, nil
}

// Machine is the shell's Machine, for reads (head, positions, votes). The
// caller must not step it: every step goes through the Shell.
func (s *Shell) Machine() *Machine { return s.m }

// ObserveMempool records the mempool size for the next recorded state.
func (s *Shell) ObserveMempool(n int) { s.m.observeMempool(n) }

// Tick advances the clock , carries out the effects and reads
// back stored entries the Machine can take now.
func (s *Shell) Tick(nowMs int64) error {
	if err := s.m.tick(nowMs); err != nil {
		return fmt.Errorf("tick: %w", err)
	}
	if err := s.flush(); err != nil {
		return err
	}
	return s.pump()
}

// Propose appends a batch of admitted transactions to the own outbox.
func (s *Shell) Propose(txs []ledger.CheckedTx) error {
	if err := s.m.propose(txs); err != nil {
		return fmt.Errorf("propose: %w", err)
	}
	return s.flush()
}

// Deliver hands the Machine the next entry of another validator's stream,
// in seq order, signature-checked, its transactions checked, and already in
// the journal. An entry the Machine has (it read it back from the journal
// first) is ignored. A broken stream is the origin's fault: the error wraps
// ErrRejected.
func (s *Shell) Deliver(e stream.Entry, txs []ledger.CheckedTx) error {
	k := e.Origin
	if int(k) >= len(s.pull) || k == s.m.cfg.Self {
		return fmt.Errorf("%w: entry of origin %d: %w", ErrRejected, k, ErrOwnOrigin)
	}
	if s.pull[k] != 0 || e.Seq < s.m.expected(k) {
		return nil
	}
	if err := s.m.deliver(e, txs); err != nil {
		if errors.Is(err, ErrTooManyPending) {
			s.pull[k] = e.Seq
			return s.flush()
		}
		return fmt.Errorf("%w: %w", ErrRejected, err)
	}
	return s.flush()
}

// StepVote hands the Machine a peer's vote and keeps it in the journal once
// it counts (or, for an epoch final already, once its signature checks, so
// every signature can be listed). A vote for an epoch too far ahead is
// dropped; a bad vote is rejected (ErrRejected).
func (s *Shell) StepVote(v Vote) error {
	err := s.m.stepVote(v)
	switch {
	case err == nil:
	case !errors.Is(err, ErrVoteOutOfWindow):
		return fmt.Errorf("%w: %w", ErrRejected, err)
	case v.Epoch == 0 || v.Epoch > s.m.LastFinal():
		return nil
	default:
		if err := v.Verify(s.m.g); err != nil {
			return fmt.Errorf("%w: %w", ErrRejected, err)
		}
	}
	if err := s.j.PutVote(v); err != nil {
		return fmt.Errorf("store vote of %d for epoch %d: %w", v.Validator, v.Epoch, err)
	}
	return s.flush()
}

// ReadBack is how many entries of other validators the shell has read back
// from the journal (at restart, and when the Machine's window refused them).
func (s *Shell) ReadBack() uint64 { return s.readBack }

// StepRound hands the Machine a peer's round message of the agreement on a
// cut and keeps it in the journal if the Machine says it is worth keeping
// (see Machine.stepRound). One outside the window
// is dropped; a bad one is rejected (ErrRejected).
func (s *Shell) StepRound(msg RoundMsg) error {
	counts, err := s.m.stepRound(msg)
	switch {
	case errors.Is(err, ErrVoteOutOfWindow):
		return nil
	case err != nil:
		return fmt.Errorf("%w: %w", ErrRejected, err)
	case !counts:
		return nil
	}
	if err := s.j.PutRound(msg); err != nil {
		return fmt.Errorf("store round message of %d for epoch %d: %w", msg.Validator, msg.Epoch, err)
	}
	return s.flush()
}

// StepCertified hands the Machine a certified checkpoint fetched from a
// peer (catch-up): its votes count, and an epoch past the head is executed
// with its cut. A bad one is rejected (ErrRejected).
func (s *Shell) StepCertified(c Certified) error {
	err := s.m.stepCertified(c)
	switch {
	case errors.Is(err, ErrVoteOutOfWindow):
		return nil
	case errors.Is(err, ErrBadVote) || errors.Is(err, ErrNoQuorum) || errors.Is(err, ErrHeaderMalformed) ||
		errors.Is(err, ErrWrongChainID) || errors.Is(err, ErrWrongValidators) || errors.Is(err, ErrHeaderHashDiffer):
		return fmt.Errorf("%w: %w", ErrRejected, err)
	case err != nil:
		return err
	}
	return s.flush()
}

// Behind reports the first epoch this validator has not executed yet and
// whether it waits for its cut (no agreement or certificate decided it):
// catch-up fetches certified checkpoints from there.
func (s *Shell) Behind() uint64 { return s.m.head.Epoch + 1 }

// StreamPositions returns where each validator's stream resumes after what
// the journal holds: the network's sequencer starts there. Entries the
// Machine has not taken yet are counted: the shell reads them back itself.
func (s *Shell) StreamPositions() ([]stream.OriginStart, error) {
	out := s.m.StreamPositions()
	for k, next := range s.pull {
		if next == 0 {
			continue
		}
		for seq := next; ; seq++ {
			e, err := s.j.Entry(uint32(k), seq)
			if errors.Is(err, ErrNotFound) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("read entry %d/%d: %w", k, seq, err)
			}
			out[k].NextSeq = seq + 1
			if e.Kind == stream.KindMarker {
				out[k].ClosedEpoch = e.Epoch
			}
		}
	}
	return out, nil
}

// pump reads back, in seq order, the stored entries of origins the Machine
// refused, until it refuses again or the journal has no more.
func (s *Shell) pump() error {
	for k, next := range s.pull {
		for seq := next; seq != 0; seq++ {
			e, err := s.j.Entry(uint32(k), seq)
			if errors.Is(err, ErrNotFound) {
				s.pull[k] = 0
				break
			}
			if err != nil {
				return fmt.Errorf("read back entry %d/%d: %w", k, seq, err)
			}
			if seq < s.m.expected(uint32(k)) {
				continue
			}
			s.readBack++
			if err := s.m.deliver(e, s.check(e)); err != nil {
				if errors.Is(err, ErrTooManyPending) {
					s.pull[k] = seq
					break
				}
				// The journal holds what the network delivered in order: a
				// stored stream that breaks is the origin's fault, and
				// nothing after it can be delivered.
				s.pull[k] = 0
				return fmt.Errorf("%w: stored entry %d/%d: %w", ErrRejected, k, seq, err)
			}
			if err := s.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// flush carries out every pending Ready.
func (s *Shell) flush() error {
	for s.m.hasReady() {
		rd := s.m.ready()
		if s.obs != nil {
			s.obs.BeforeReady(&rd)
		}
		if err := CarryOut(&rd, s.j, s.out); err != nil {
			return err
		}
		if s.obs != nil {
			s.obs.AfterReady(&rd)
		}
		s.m.advance(rd)
	}
	return nil
}

// CarryOut performs rd's effects in the order the protocol requires
// (docs/protocol.md, "Ordering of effects"):
//
//  1. persist the own entries the epochs' cuts may contain (EarlyEntries),
//     the own round messages and the own votes; sync if a round message or
//     a vote is among them;
//  2. publish those entries, the round messages and the votes;
//  3. commit the executed epochs, each atomically;
//  4. persist and publish the remaining own entries;
//  5. store the certificates, and sync.
//
// A vote needs only itself durable before it leaves: Open restores the
// votes cast past the head, so a validator killed before its epoch is
// committed re-executes it to the hash it voted for. The first error stops
// the sequence; the shell must then be discarded (a crash, as far as the
// protocol is concerned) and reopened from the journal.
func CarryOut(rd *Ready, j Journal, out Sender) error {
	early, late := rd.SplitEntries()
	for _, e := range early {
		if err := j.PutOwnEntry(e); err != nil {
			return fmt.Errorf("persist own entry %d: %w", e.Seq, err)
		}
	}
	for _, r := range rd.Rounds {
		if err := j.PutRound(r); err != nil {
			return fmt.Errorf("persist own %v epoch %d round %d: %w", r.Kind, r.Epoch, r.Round, err)
		}
	}
	for _, v := range rd.Votes {
		if err := j.PutVote(v); err != nil {
			return fmt.Errorf("persist own vote epoch %d: %w", v.Epoch, err)
		}
	}
	if rd.MustSync {
		if err := j.Sync(); err != nil {
			return fmt.Errorf("sync: %w", err)
		}
	}
	if err := send(out, early, nil); err != nil {
		return err
	}
	for _, r := range rd.Rounds {
		if err := out.SendRound(r); err != nil {
			return fmt.Errorf("send %v epoch %d round %d: %w", r.Kind, r.Epoch, r.Round, err)
		}
	}
	if err := send(out, nil, rd.Votes); err != nil {
		return err
	}
	for i := range rd.Epochs {
		if err := j.CommitEpoch(&rd.Epochs[i]); err != nil {
			return fmt.Errorf("commit epoch %d: %w", rd.Epochs[i].Header.Epoch, err)
		}
	}
	for _, e := range late {
		if err := j.PutOwnEntry(e); err != nil {
			return fmt.Errorf("persist own entry %d: %w", e.Seq, err)
		}
	}
	if err := send(out, late, nil); err != nil {
		return err
	}
	for _, c := range rd.Finalized {
		if err := j.PutCertified(c); err != nil {
			return fmt.Errorf("persist certificate epoch %d: %w", c.Header.Epoch, err)
		}
	}
	if len(rd.Finalized) > 0 {
		if err := j.Sync(); err != nil {
			return fmt.Errorf("sync: %w", err)
		}
	}
	return nil
}

func send(out Sender, entries []stream.Entry, votes []Vote) error {
	for _, e := range entries {
		if err := out.SendEntry(e); err != nil {
			return fmt.Errorf("send entry %d: %w", e.Seq, err)
		}
	}
	for _, v := range votes {
		if err := out.SendVote(v); err != nil {
			return fmt.Errorf("send vote epoch %d: %w", v.Epoch, err)
		}
	}
	return nil
}
