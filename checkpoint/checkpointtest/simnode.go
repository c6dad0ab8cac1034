package checkpointtest

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/ledgerd/ledgerd/checkpoint"
	"github.com/ledgerd/ledgerd/checkpoint/stream"
	"github.com/ledgerd/ledgerd/ledger"
)

// This file models the node shell around one Machine: a durable store that
// receives exactly what the shell persists, in Ready order; a Sequencer in
// front of Machine.Deliver; repair, status and vote re-send; crash (kill -9,
// possibly in the middle of a Ready's writes) and restart from the store.

// simMachineMaxHeld is the Machine's MaxHeldEntries in the simulation.
const simMachineMaxHeld = 1024

// simEpochRecord is one committed epoch in a simulated store.
type simEpochRecord struct {
	header checkpoint.Header
	hash   ledger.Hash
}

// simStore is a validator's durable store. A crash loses nothing written to
// it (kill -9 after the writes; power loss of unsynced writes is not
// modelled) and everything else.
type simStore struct {
	// outbox[i] is the own entry with seq i+1.
	outbox []stream.Entry
	// delivered[k][i] is origin k's entry with seq i+1, stored when the
	// Sequencer released it (before Machine.Deliver).
	delivered [][]stream.Entry
	trie      *ledger.MemNodeDB
	// epochs[i] is the committed epoch i+1; the last one is the head.
	epochs []simEpochRecord
	// ownVotes are the votes this validator signed, by epoch.
	ownVotes map[uint64]checkpoint.Vote
	// received are peers' votes for epochs not final here, first per validator.
	received map[uint64]map[uint32]checkpoint.Vote
	// final[i] is the certified checkpoint of epoch i+1.
	final []checkpoint.Certified
}

func newSimStore(validators int) *simStore {
	return &simStore{delivered: make([][]stream.Entry, validators), trie: ledger.NewMemNodeDB(),
		ownVotes: make(map[uint64]checkpoint.Vote), received: make(map[uint64]map[uint32]checkpoint.Vote)}
}

func (st *simStore) headEpoch() uint64 { return uint64(len(st.epochs)) }
func (st *simStore) lastFinal() uint64 { return uint64(len(st.final)) }

// head returns the committed head header and hash (zero header and the
// genesis hash at genesis).
func (st *simStore) head(g *ledger.Genesis) (checkpoint.Header, ledger.Hash) {
	if len(st.epochs) == 0 {
		return checkpoint.Header{TimeMs: g.GenesisTimeMs}, g.Hash()
	}
	r := st.epochs[len(st.epochs)-1]
	return r.header, r.hash
}

// simValidator is one validator: its store survives crashes; the Machine,
// Sequencer and deferred queue are rebuilt on restart.
type simValidator struct {
	sim       *LedgerSim
	index     int
	skewMs    int64
	up        bool
	downUntil int64
	store     *simStore

	m   *checkpoint.Machine
	seq *stream.Sequencer
	// deferred[k] are origin k's entries released by the Sequencer and
	// stored, not yet accepted by the Machine (it answers ErrTooManyPending
	// when an entry is too far ahead of its head); retried every tick.
	deferred [][]stream.Entry
	// stepped are the votes handed to the Machine since start, so a re-sent
	// vote is not verified again; pruned below the last final epoch.
	stepped map[simVoteKey]ledger.Hash
	// corrupted is set once MutationCorruptState struck.
	corrupted bool
}

func (n *simValidator) describe() string {
	if !n.up {
		return fmt.Sprintf("v%d down head=%d final=%d", n.index, n.store.headEpoch(), n.store.lastFinal())
	}
	return fmt.Sprintf("v%d head=%d final=%d own-epoch=%d delivered=%v", n.index, n.store.headEpoch(), n.store.lastFinal(),
		n.m.CurrentEpoch(), n.m.Delivered())
}

func (n *simValidator) fail(check string, format string, args ...any) error {
	return n.sim.fail(check, fmt.Errorf("validator %d: "+format, append([]any{n.index}, args...)...))
}

// crash kills the validator: everything not in its store is lost.
func (n *simValidator) crash(why string) {
	s := n.sim
	n.up, n.m, n.seq, n.deferred = false, nil, nil, nil
	n.downUntil = s.tick + 1 + s.rng.Int64N(s.opts.DownTicksMax)
	s.result.Crashes++
	s.tracef("crash v%d (%s), down until t=%d", n.index, why, n.downUntil)
}

// start builds the Machine from the store, as the shell does at boot:
// Restore{Head, State, Pending, LastFinal, Voted}, then ReplayOwn of the
// outbox after the head's cut, a Tick, re-delivery of stored entries of
// others after the cut, a new Sequencer at the next seq per origin, and the
// stored votes fed again.
func (n *simValidator) start() error {
	s, st, g := n.sim, n.store, n.sim.g
	self := uint32(n.index)
	cfg := checkpoint.DefaultConfig(g, self)
	cfg.MaxEpochsInFlight = s.opts.MaxEpochsInFlight
	cfg.ClockSkewMs = s.opts.ClockSkewMs
	cfg.MaxHeldEntries = simMachineMaxHeld
	head, _ := st.head(g)
	r := checkpoint.Restore{LastFinal: st.lastFinal(), Voted: make(map[uint64]checkpoint.Vote)}
	var err error
	if st.headEpoch() == 0 {
		gen := g
		if s.opts.Mutation == MutationInflateSupply && n.index == 0 {
			inflated := *g
			inflated.Alloc = append(slices.Clone(g.Alloc), ledger.Alloc{Address: ledger.Address{0x1f}, Balance: 7})
			gen = &inflated
		}
		r.State, err = ledger.GenesisState(gen, st.trie)
	} else {
		r.Head = head
		r.State, err = g.OpenState(st.trie, head.StateRoot)
	}
	if err != nil {
		return n.fail("store", "reopen state at epoch %d: %v", head.Epoch, err)
	}
	for e := r.LastFinal + 1; e <= st.headEpoch(); e++ {
		r.Pending = append(r.Pending, st.epochs[e-1].header)
	}
	for e, v := range st.ownVotes {
		if e > r.LastFinal {
			r.Voted[e] = v
		}
	}
	m, err := checkpoint.NewMachine(cfg, r, checkpoint.KeySigner{Key: s.keys[n.index]})
	if err != nil {
		return n.fail("machine", "restore: %v", err)
	}
	n.m, n.up = m, true
	n.stepped = make(map[simVoteKey]ledger.Hash)
	if st.headEpoch() > 0 {
		if err := s.checker.conservation(n); err != nil {
			return err
		}
	}
	cut := make([]uint64, len(s.nodes))
	if head.Epoch > 0 {
		copy(cut, head.Cut)
	}
	for _, e := range st.outbox[cut[self]:] {
		txs, err := s.batchTxs(e)
		if err != nil {
			return n.fail("store", "own entry: %v", err)
		}
		if err := m.ReplayOwn(e, txs); err != nil {
			return n.fail("machine", "replay own seq %d: %v", e.Seq, err)
		}
	}
	s.tracef("start v%d: head=%d final=%d replayed own seqs %d..%d", n.index, head.Epoch, r.LastFinal, cut[self]+1, len(st.outbox))
	if err := n.tickMachine(); err != nil || !n.up {
		return err
	}
	start := make([]stream.OriginStart, len(s.nodes))
	n.deferred = make([][]stream.Entry, len(s.nodes))
	for k := range s.nodes {
		if uint32(k) == self {
			start[k] = stream.OriginStart{NextSeq: uint64(len(st.outbox)) + 1}
			continue
		}
		closed := head.Epoch
		if uint64(len(st.delivered[k])) < cut[k] {
			return n.fail("store", "holds %d entries of %d, head cut is %d", len(st.delivered[k]), k, cut[k])
		}
		for _, e := range st.delivered[k][cut[k]:] {
			n.deferred[k] = append(n.deferred[k], e)
			if e.Kind == stream.KindMarker {
				closed = e.Epoch
			}
		}
		start[k] = stream.OriginStart{NextSeq: uint64(len(st.delivered[k])) + 1, ClosedEpoch: closed}
	}
	seq, err := stream.NewSequencer(stream.SequencerConfig{ChainID: g.ChainID, Origins: len(s.nodes),
		WindowSeqs: simSequencerWindow, MaxHeldBytes: stream.MaxBodyBytes, RecentDigests: 64,
		GapTimeout: s.opts.GapTimeoutTicks, MaxEvidence: 16, MaxGapsPerOrigin: 8}, start)
	if err != nil {
		return n.fail("machine", "sequencer: %v", err)
	}
	n.seq = seq
	if err := n.pump(); err != nil || !n.up {
		return err
	}
	for _, e := range slices.Sorted(maps.Keys(st.received)) {
		for _, k := range slices.Sorted(maps.Keys(st.received[e])) {
			if err := n.stepVote(st.received[e][k]); err != nil || !n.up {
				return err
			}
		}
	}
	return nil
}

// tickMachine advances the Machine's clock and carries out its effects.
func (n *simValidator) tickMachine() error {
	if err := n.m.Tick(n.sim.nowMs(n.index)); err != nil {
		return n.fail("machine", "tick: %v", err)
	}
	return n.processReady()
}

// onTick is the shell's timer: clock, deferred deliveries, repair requests
// for the Sequencer's gaps, status and vote re-send.
func (n *simValidator) onTick() error {
	s := n.sim
	if s.opts.Mutation == MutationCorruptState && n.index == 0 && !n.corrupted && n.store.headEpoch() >= 2 {
		n.corrupted = true
		if err := n.corruptState(); err != nil {
			return err
		}
	}
	if err := n.tickMachine(); err != nil || !n.up {
		return err
	}
	if err := n.pump(); err != nil || !n.up {
		return err
	}
	for _, gap := range n.seq.Gaps(s.tick) {
		responder := int(gap.Origin)
		if s.rng.IntN(2) == 0 {
			responder = s.rng.IntN(len(s.nodes) - 1)
			if responder >= n.index {
				responder++
			}
		}
		s.result.Repairs++
		if err := s.send(&simNetMessage{kind: simRepairRequest, from: n.index, to: responder, gap: gap}); err != nil {
			return err
		}
	}
	phase := s.tick + int64(n.index)
	if phase%s.opts.StatusIntervalTicks == 0 {
		if err := s.broadcast(n.index, simNetMessage{kind: simStatus, delivered: n.m.Delivered(), lastFinal: n.store.lastFinal()}); err != nil {
			return err
		}
	}
	if phase%s.opts.VoteResendIntervalTicks == 0 {
		var votes []checkpoint.Vote
		for _, e := range slices.Sorted(maps.Keys(n.store.ownVotes)) {
			if e > n.store.lastFinal() {
				votes = append(votes, n.store.ownVotes[e])
			}
		}
		if len(votes) > 0 {
			return s.broadcast(n.index, simNetMessage{kind: simVote, votes: votes})
		}
	}
	return nil
}

// corruptState applies a transfer to validator 0's state behind its
// Machine's back (MutationCorruptState).
func (n *simValidator) corruptState() error {
	s := n.sim
	c := s.clients[0]
	acct, err := n.m.State().Account(c.addr)
	if err != nil {
		return n.fail("machine", "corrupt: %v", err)
	}
	tx := ledger.Tx{ChainID: s.g.ChainID, To: s.clients[len(s.clients)-1].addr, Amount: 3, Nonce: acct.Nonce}
	if err := tx.Sign(c.key); err != nil {
		return n.fail("machine", "corrupt: %v", err)
	}
	if _, err := n.m.State().Apply([]ledger.CheckedTx{ledger.CheckTx(tx, s.g.ChainID)}); err != nil {
		return n.fail("machine", "corrupt: %v", err)
	}
	s.tracef("mutation: corrupted v%d's state", n.index)
	return nil
}

// receive handles one network message.
func (n *simValidator) receive(msg *simNetMessage) error {
	s := n.sim
	switch msg.kind {
	case simEntry:
		return n.addEntries([]stream.Entry{msg.entry})
	case simRepairAnswer:
		return n.addEntries(msg.entries)
	case simVote:
		for _, v := range msg.votes {
			if err := n.stepVote(v); err != nil || !n.up {
				return err
			}
		}
		return nil
	case simStatus:
		for k, high := range msg.delivered {
			if k != n.index && high > 0 {
				if err := n.seq.NoteKnown(uint32(k), high, s.tick); err != nil {
					return n.fail("machine", "note known: %v", err)
				}
			}
		}
		return n.sendCertificates(msg.from, msg.lastFinal)
	case simRepairRequest:
		return n.answerRepair(msg.from, msg.gap)
	default:
		return n.fail("machine", "unknown message kind %d", msg.kind)
	}
}

// sendCertificates answers a status from a validator behind us with the
// certificates it lacks (votes are served on request, DESIGN.md §7).
func (n *simValidator) sendCertificates(to int, theirFinal uint64) error {
	ours := n.store.lastFinal()
	if ours <= theirFinal {
		return nil
	}
	var votes []checkpoint.Vote
	for e := theirFinal + 1; e <= min(ours, theirFinal+simCertEpochsPerStatus); e++ {
		votes = append(votes, n.store.final[e-1].Certificate.Votes...)
	}
	return n.sim.send(&simNetMessage{kind: simVote, from: n.index, to: to, votes: votes})
}

// answerRepair serves a gap from the store: the outbox for our own origin,
// delivered entries for others.
func (n *simValidator) answerRepair(to int, gap stream.Gap) error {
	src := n.store.outbox
	if int(gap.Origin) != n.index {
		src = n.store.delivered[gap.Origin]
	}
	if gap.From < 1 || gap.From > uint64(len(src)) || gap.To < gap.From {
		return nil
	}
	last := min(gap.To, uint64(len(src)), gap.From+uint64(n.sim.opts.RepairMaxEntries)-1)
	entries := slices.Clone(src[gap.From-1 : last])
	return n.sim.send(&simNetMessage{kind: simRepairAnswer, from: n.index, to: to, entries: entries})
}

// addEntries feeds received entries to the Sequencer, stores what it
// releases and hands it on to the Machine.
func (n *simValidator) addEntries(entries []stream.Entry) error {
	s := n.sim
	for _, e := range entries {
		if int(e.Origin) == n.index || int(e.Origin) >= len(s.nodes) {
			continue
		}
		if s.opts.Mutation == MutationMarkerOvertakes && e.Kind == stream.KindMarker && e.Seq > n.seq.Next(e.Origin) {
			// The mutated network lets the marker overtake its origin's
			// earlier entries.
			if err := n.m.Deliver(e, nil); err != nil {
				return n.fail("machine", "deliver overtaking marker %d/%d: %v", e.Origin, e.Seq, err)
			}
			if err := n.processReady(); err != nil || !n.up {
				return err
			}
			continue
		}
		released, _, err := n.seq.Add(e, s.tick)
		if err != nil {
			return n.fail("equivocation", "sequencer: %v", err)
		}
		if ev := n.seq.TakeEvidence(); len(ev) > 0 {
			return n.fail("equivocation", "evidence against origin %d seq %d (kind %d)", ev[0].Origin, ev[0].Seq, ev[0].Kind)
		}
		for _, r := range released {
			d := &n.store.delivered[r.Origin]
			if r.Seq != uint64(len(*d))+1 {
				return n.fail("store", "released %d/%d after stored seq %d", r.Origin, r.Seq, len(*d))
			}
			*d = append(*d, r)
			n.deferred[r.Origin] = append(n.deferred[r.Origin], r)
		}
		if len(released) > 0 {
			if err := n.pump(); err != nil || !n.up {
				return err
			}
		}
	}
	return nil
}

// pump hands deferred entries to the Machine in seq order per origin; an
// entry it cannot take yet (ErrTooManyPending) waits for the next tick.
func (n *simValidator) pump() error {
	for k := range n.deferred {
		for n.up && len(n.deferred[k]) > 0 {
			e := n.deferred[k][0]
			txs, err := n.sim.batchTxs(e)
			if err != nil {
				return n.fail("machine", "%v", err)
			}
			if err := n.m.Deliver(e, txs); err != nil {
				if errors.Is(err, checkpoint.ErrTooManyPending) {
					n.sim.result.Deferred++
					break
				}
				return n.fail("machine", "deliver %d/%d (epoch %d, %v): %v", e.Origin, e.Seq, e.Epoch, e.Kind, err)
			}
			n.deferred[k] = n.deferred[k][1:]
			if err := n.processReady(); err != nil {
				return err
			}
		}
		if !n.up {
			return nil
		}
	}
	return nil
}

// stepVote persists a peer's vote and hands it to the Machine.
func (n *simValidator) stepVote(v checkpoint.Vote) error {
	st := n.store
	if v.Epoch > st.lastFinal() && int(v.Validator) != n.index {
		byValidator := st.received[v.Epoch]
		if byValidator == nil {
			byValidator = make(map[uint32]checkpoint.Vote)
			st.received[v.Epoch] = byValidator
		}
		if _, ok := byValidator[v.Validator]; !ok {
			byValidator[v.Validator] = v
		}
	}
	key := simVoteKey{v.Validator, v.Epoch}
	if h, ok := n.stepped[key]; ok && h == v.Hash {
		return nil
	}
	if v.Epoch > st.lastFinal() {
		n.stepped[key] = v.Hash
	}
	if err := n.m.StepVote(v); err != nil && !errors.Is(err, checkpoint.ErrVoteOutOfWindow) {
		return n.fail("machine", "vote of %d for epoch %d: %v", v.Validator, v.Epoch, err)
	}
	return n.processReady()
}

// propose submits client transactions to this validator's Machine.
func (n *simValidator) propose(txs []ledger.CheckedTx) error {
	if !n.up {
		return nil
	}
	if err := n.m.Propose(txs); err != nil {
		return n.fail("machine", "propose: %v", err)
	}
	return n.processReady()
}

// processReady carries out the Machine's effects as the shell does (node's
// handleReady): write the early entries and the votes, sync, send them,
// commit the epochs, write and send the late entries, store the final
// checkpoints, then Advance. With CrashInReadyProbability the validator
// dies at a random step: while writing, after its votes are durable but
// before they left, after they left but before its epochs were committed,
// or before its late entries left.
func (n *simValidator) processReady() error {
	s := n.sim
	for n.up && n.m.HasReady() {
		rd := n.m.Ready()
		early, late := rd.SplitEntries()
		writes := len(rd.Entries) + len(rd.Epochs) + len(rd.Votes) + len(rd.Finalized)
		crashAfter := -1
		if !s.healed && writes > 0 && s.chance(s.opts.CrashInReadyProbability) {
			crashAfter = s.rng.IntN(writes + 3) // each write, the two sends, the end
		}
		done := 0
		step := func() bool {
			if done == crashAfter {
				return false
			}
			done++
			return true
		}
		for _, e := range early {
			if !step() {
				n.crash("while writing entries")
				return nil
			}
			if err := n.persistEntry(e); err != nil {
				return err
			}
		}
		for _, v := range rd.Votes {
			if !step() {
				n.crash("while writing votes")
				return nil
			}
			if err := n.persistVote(v, rd.Epochs); err != nil {
				return err
			}
		}
		if !step() {
			n.crash("after sync, before send")
			return nil
		}
		if err := n.send(early, rd.Votes); err != nil {
			return err
		}
		for _, r := range rd.Epochs {
			if !step() {
				n.crash("after sending votes, while committing epochs")
				return nil
			}
			if err := n.persistEpoch(r); err != nil {
				return err
			}
		}
		if len(rd.Epochs) > 0 {
			if err := s.checker.conservation(n); err != nil {
				return err
			}
		}
		for _, e := range late {
			if !step() {
				n.crash("after committing epochs, while writing entries")
				return nil
			}
			if err := n.persistEntry(e); err != nil {
				return err
			}
		}
		if !step() {
			n.crash("before sending the late entries")
			return nil
		}
		if err := n.send(late, nil); err != nil {
			return err
		}
		for _, c := range rd.Finalized {
			if !step() {
				n.crash("while writing final checkpoints")
				return nil
			}
			if err := n.persistFinal(c); err != nil {
				return err
			}
		}
		if done == crashAfter {
			n.crash("after every write")
			return nil
		}
		if len(rd.Divergences) > 0 {
			d := rd.Divergences[0]
			return n.fail("divergence", "epoch %d: ours %s, certified %s", d.Epoch, d.Ours, d.Certified)
		}
		n.m.Advance(rd)
	}
	if n.up && n.m.Halted() {
		return n.fail("divergence", "machine halted")
	}
	return nil
}

// send broadcasts own entries and votes.
func (n *simValidator) send(entries []stream.Entry, votes []checkpoint.Vote) error {
	s := n.sim
	for _, e := range entries {
		if err := s.broadcast(n.index, simNetMessage{kind: simEntry, entry: e}); err != nil {
			return err
		}
	}
	if len(votes) > 0 {
		return s.broadcast(n.index, simNetMessage{kind: simVote, votes: votes})
	}
	return nil
}

func (n *simValidator) persistEntry(e stream.Entry) error {
	st := n.store
	if int(e.Origin) != n.index || e.Seq != uint64(len(st.outbox))+1 {
		return n.fail("equivocation", "new own entry %d/%d after outbox of %d entries", e.Origin, e.Seq, len(st.outbox))
	}
	if err := n.sim.checker.ownEntry(n, e); err != nil {
		return err
	}
	st.outbox = append(st.outbox, e)
	return nil
}

func (n *simValidator) persistEpoch(r checkpoint.EpochResult) error {
	st := n.store
	prev, prevHash := st.head(n.sim.g)
	if err := n.sim.checker.epoch(n, prev, prevHash, r); err != nil {
		return err
	}
	st.trie.PutAll(r.Nodes)
	st.epochs = append(st.epochs, simEpochRecord{header: r.Header, hash: r.Hash})
	n.sim.tracef("v%d executed epoch %d: %d txs, cut %v, hash %.10s", n.index, r.Header.Epoch, r.Header.TxCount, r.Header.Cut, r.Hash.Hex())
	return nil
}

func (n *simValidator) persistVote(v checkpoint.Vote, executing []checkpoint.EpochResult) error {
	if err := n.sim.checker.ownVote(n, v, executing); err != nil {
		return err
	}
	n.store.ownVotes[v.Epoch] = v
	return nil
}

func (n *simValidator) persistFinal(c checkpoint.Certified) error {
	st := n.store
	var prev *checkpoint.Header
	if len(st.final) > 0 {
		prev = &st.final[len(st.final)-1].Header
	}
	if err := n.sim.checker.finalized(n, prev, c); err != nil {
		return err
	}
	st.final = append(st.final, c)
	delete(st.received, c.Header.Epoch)
	for k := range n.stepped {
		if k.epoch <= c.Header.Epoch {
			delete(n.stepped, k)
		}
	}
	delete(st.ownVotes, c.Header.Epoch)
	n.sim.tracef("v%d final epoch %d (%d votes)", n.index, c.Header.Epoch, len(c.Certificate.Votes))
	return nil
}
