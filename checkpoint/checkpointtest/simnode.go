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

// This file is the simulator's validator: the node's own checkpoint.Shell
// (Ready processing and restore are not modelled, they are the code that
// ships) over a simulated journal that runs the checkers on every write and
// can crash the validator before any effect of a Ready; a Sequencer in
// front of the Shell; repair, status and vote re-send; crash (kill -9) and
// restart with checkpoint.Open.

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
	// Sequencer released it (before the Shell delivers it).
	delivered [][]stream.Entry
	trie      *ledger.MemNodeDB
	// epochs[i] is the committed epoch i+1; the last one is the head.
	epochs []simEpochRecord
	// ownVotes are the votes this validator signed, by epoch.
	ownVotes map[uint64]checkpoint.Vote
	// rounds are the round messages of epochs not final here, own and peers'.
	rounds map[uint64][]checkpoint.RoundMsg
	// received are peers' votes for epochs not final here, first per validator.
	received map[uint64]map[uint32]checkpoint.Vote
	// final[i] is the certified checkpoint of epoch i+1.
	final []checkpoint.Certified
}

func newSimStore(validators int) *simStore {
	return &simStore{delivered: make([][]stream.Entry, validators), trie: ledger.NewMemNodeDB(),
		ownVotes: make(map[uint64]checkpoint.Vote), received: make(map[uint64]map[uint32]checkpoint.Vote),
		rounds: make(map[uint64][]checkpoint.RoundMsg)}
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

// simValidator is one validator: its store survives crashes; the Shell
// (with its Machine) and the Sequencer are rebuilt on restart.
type simValidator struct {
	sim       *LedgerSim
	index     int
	skewMs    int64
	up        bool
	downUntil int64
	store     *simStore

	sh  *checkpoint.Shell
	seq *stream.Sequencer
	// executing are the epochs of the Ready being carried out (the vote
	// checker accepts a vote for one of them before it is committed).
	executing []checkpoint.EpochResult
	// crashAfter is the number of effects of the current Ready to carry
	// out before the validator dies (-1: it does not); effects counts them.
	// crashNow is set once it is dead: no effect may follow.
	crashAfter, effects int
	crashNow            bool
	// diverged is the failure a Ready reported (a divergence).
	diverged error
	// corrupted is set once MutationCorruptState struck.
	corrupted bool
	// byzantine misbehaves (byzantine.go); diesAt, when set, is the tick
	// at which the validator crashes for good, and dead is set then.
	byzantine bool
	diesAt    int64
	dead      bool
	// replays are messages the Byzantine validator sent, to send again.
	replays []simNetMessage
	// wiped is set when the validator lost its store; it comes back by
	// resync (wipe.go).
	wiped bool
}

// errSimCrash is what a crash-injecting effect returns: the Shell stops
// where the process would have died.
var errSimCrash = errors.New("simulated crash")

func (n *simValidator) m() *checkpoint.Machine { return n.sh.Machine() }

func (n *simValidator) describe() string {
	if !n.up {
		return fmt.Sprintf("v%d down head=%d final=%d", n.index, n.store.headEpoch(), n.store.lastFinal())
	}
	return fmt.Sprintf("v%d head=%d final=%d own-epoch=%d delivered=%v [%s]", n.index, n.store.headEpoch(), n.store.lastFinal(),
		n.m().CurrentEpoch(), n.m().Delivered(), n.m().DescribeAgreement())
}

func (n *simValidator) fail(check string, format string, args ...any) error {
	return n.sim.fail(check, fmt.Errorf("validator %d: "+format, append([]any{n.index}, args...)...))
}

// crash kills the validator: everything not in its store is lost.
func (n *simValidator) crash(why string) {
	s := n.sim
	s.result.ReadBack += n.sh.ReadBack()
	n.up, n.sh, n.seq, n.executing = false, nil, nil, nil
	n.downUntil = s.tick + 1 + s.rng.Int64N(s.opts.DownTicksMax)
	s.result.Crashes++
	s.tracef("crash v%d (%s), down until t=%d", n.index, why, n.downUntil)
}

// shellDone interprets what a Shell method returned: nil, a crash the
// effects injected (the validator goes down), or a failure.
func (n *simValidator) shellDone(err error) error {
	var f *SimFailure
	switch {
	case err == nil && n.diverged != nil:
		return n.diverged
	case err == nil && n.crashNow:
		n.crash("after every effect of a Ready")
		return nil
	case err == nil:
		return nil
	case errors.Is(err, errSimCrash):
		n.crash(fmt.Sprintf("after %d of a Ready's effects", n.crashAfter))
		return nil
	case n.diverged != nil:
		return n.diverged
	case errors.As(err, &f):
		return f // a checker failed inside an effect
	}
	return n.fail("machine", "%v", err)
}

// start rebuilds the validator from its store with checkpoint.Open, the
// node's restore, then starts a Sequencer where the journal ends.
func (n *simValidator) start() error {
	s, st, g := n.sim, n.store, n.sim.g
	cfg := checkpoint.DefaultConfig(g, uint32(n.index))
	cfg.MaxEpochsInFlight = s.opts.MaxEpochsInFlight
	cfg.ClockSkewMs = s.opts.ClockSkewMs
	cfg.MaxHeldEntries = simMachineMaxHeld
	cfg.SlowPathTimeoutMs = simSlowPathMs(s.opts)
	cfg.RoundTimeoutMs, cfg.RoundTimeoutStepMs = simRoundTimeoutMs(s.opts), simRoundStepMs(s.opts)
	cfg.UnsafeBreakLock = s.opts.Mutation == MutationBreakLock && !n.byzantine
	n.crashAfter, n.crashNow, n.diverged = -1, false, nil
	sh, err := checkpoint.Open(checkpoint.ShellConfig{Machine: cfg, Journal: simJournal{n}, Sender: simSender{n},
		Signer: checkpoint.KeySigner{Key: s.keys[n.index]}, Check: s.batchTxs, Observer: simObserver{n}}, s.nowMs(n.index))
	if err != nil {
		return n.fail("machine", "restore: %v", err)
	}
	n.sh, n.up = sh, true
	if st.headEpoch() > 0 {
		if err := s.checker.conservation(n); err != nil {
			return err
		}
	}
	start, err := sh.StreamPositions()
	if err != nil {
		return n.fail("store", "stream positions: %v", err)
	}
	for k := range start {
		if k != n.index && start[k].NextSeq != uint64(len(st.delivered[k]))+1 {
			return n.fail("store", "stream of %d resumes at %d, the journal holds %d entries", k, start[k].NextSeq, len(st.delivered[k]))
		}
	}
	seq, err := stream.NewSequencer(stream.SequencerConfig{ChainID: g.ChainID, Origins: len(s.nodes),
		WindowSeqs: simSequencerWindow, MaxHeldBytes: stream.MaxBodyBytes, RecentDigests: 64,
		GapTimeout: s.opts.GapTimeoutTicks, MaxEvidence: 16, MaxGapsPerOrigin: 8}, start)
	if err != nil {
		return n.fail("machine", "sequencer: %v", err)
	}
	n.seq = seq
	head, _ := n.m().Head()
	s.tracef("start v%d: head=%d final=%d next own seq %d", n.index, head.Epoch, n.m().LastFinal(), n.m().NextSeq())
	return n.tickMachine()
}

// tickMachine advances the Shell's clock.
func (n *simValidator) tickMachine() error {
	return n.shellDone(n.sh.Tick(n.sim.nowMs(n.index)))
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
	if n.byzantine && s.rng.IntN(4) == 0 {
		if err := n.byzReplay(); err != nil {
			return err
		}
	}
	phase := s.tick + int64(n.index)
	if phase%s.opts.StatusIntervalTicks == 0 {
		if err := s.broadcast(n.index, simNetMessage{kind: simStatus, delivered: n.m().Delivered(), lastFinal: n.store.lastFinal()}); err != nil {
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
			if err := s.broadcast(n.index, simNetMessage{kind: simVote, votes: votes}); err != nil {
				return err
			}
		}
		// Every stored round message of the epochs not final, the peers'
		// ones too (the node serves them on request): a validator that
		// decided may never have sent its own precommit, and a message of
		// a validator that died since may have reached only some.
		var rounds []checkpoint.RoundMsg
		for _, e := range slices.Sorted(maps.Keys(n.store.rounds)) {
			if e > n.store.lastFinal() {
				rounds = append(rounds, n.store.rounds[e]...)
			}
		}
		if len(rounds) > 0 {
			return s.broadcast(n.index, simNetMessage{kind: simRound, rounds: rounds})
		}
	}
	return nil
}

// corruptState applies a transfer to validator 0's state behind its
// Machine's back (MutationCorruptState).
func (n *simValidator) corruptState() error {
	s := n.sim
	c := s.clients[0]
	acct, err := n.m().State().Account(c.addr)
	if err != nil {
		return n.fail("machine", "corrupt: %v", err)
	}
	tx := ledger.Tx{ChainID: s.g.ChainID, To: s.clients[len(s.clients)-1].addr, Amount: 3, Nonce: acct.Nonce}
	if err := tx.Sign(c.key); err != nil {
		return n.fail("machine", "corrupt: %v", err)
	}
	if _, err := n.m().State().Apply([]ledger.CheckedTx{ledger.CheckTx(tx, s.g.ChainID)}); err != nil {
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
	case simRound:
		for _, r := range msg.rounds {
			if err := n.stepRound(r); err != nil || !n.up {
				return err
			}
		}
		return nil
	case simCertified:
		for _, c := range msg.certs {
			err := n.sh.StepCertified(c)
			if errors.Is(err, checkpoint.ErrRejected) {
				return n.fail("machine", "certified epoch %d: %v", c.Header.Epoch, err)
			}
			if err := n.shellDone(err); err != nil || !n.up {
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
// certified checkpoints it lacks: their votes finalize what it executed,
// their cuts let it execute what it missed the agreement of (the node's
// catch-up fetches them the same way).
func (n *simValidator) sendCertificates(to int, theirFinal uint64) error {
	ours := n.store.lastFinal()
	if ours <= theirFinal {
		return nil
	}
	certs := slices.Clone(n.store.final[theirFinal:min(ours, theirFinal+simCertEpochsPerStatus)])
	return n.sim.send(&simNetMessage{kind: simCertified, from: n.index, to: to, certs: certs})
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
// releases and hands it on to the Shell.
func (n *simValidator) addEntries(entries []stream.Entry) error {
	s := n.sim
	for _, e := range entries {
		if int(e.Origin) == n.index || int(e.Origin) >= len(s.nodes) {
			continue
		}
		if s.opts.Mutation == MutationMarkerOvertakes && e.Kind == stream.KindMarker && e.Seq > n.seq.Next(e.Origin) {
			// The mutated network lets the marker overtake its origin's
			// earlier entries.
			if err := n.sh.Deliver(e, nil); err != nil {
				return n.fail("machine", "deliver overtaking marker %d/%d: %v", e.Origin, e.Seq, err)
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
			if err := n.shellDone(n.sh.Deliver(r, s.batchTxs(r))); err != nil || !n.up {
				return err
			}
		}
	}
	return nil
}

// stepVote hands a peer's vote to the Shell, which stores it.
func (n *simValidator) stepVote(v checkpoint.Vote) error {
	if int(v.Validator) == n.index {
		return nil
	}
	err := n.sh.StepVote(v)
	if errors.Is(err, checkpoint.ErrRejected) {
		return n.fail("machine", "vote of %d for epoch %d: %v", v.Validator, v.Epoch, err)
	}
	return n.shellDone(err)
}

// stepRound hands a peer's round message to the Shell, which stores it.
func (n *simValidator) stepRound(r checkpoint.RoundMsg) error {
	if int(r.Validator) == n.index {
		return nil
	}
	err := n.sh.StepRound(r)
	if errors.Is(err, checkpoint.ErrRejected) {
		return n.fail("machine", "round message of %d for epoch %d: %v", r.Validator, r.Epoch, err)
	}
	return n.shellDone(err)
}

// propose submits client transactions to this validator's Shell.
func (n *simValidator) propose(txs []ledger.CheckedTx) error {
	if !n.up {
		return nil
	}
	return n.shellDone(n.sh.Propose(txs))
}

// simJournal is a validator's checkpoint.Journal over its simStore. Every
// write first runs the checkers on it and may crash the validator (a kill
// -9 between two effects of a Ready, CrashInReadyProbability).
type simJournal struct{ n *simValidator }

// simSender broadcasts a validator's entries and votes; sends count as
// effects for crash injection too.
type simSender struct{ n *simValidator }

// simObserver arms crash injection per Ready and checks divergences.
type simObserver struct{ n *simValidator }

// effect counts one effect of the current Ready and reports whether the
// validator dies before carrying it out.
func (n *simValidator) effect() error {
	if n.crashNow || n.crashAfter >= 0 && n.effects == n.crashAfter {
		n.crashNow = true
		return errSimCrash
	}
	n.effects++
	return nil
}

func (o simObserver) BeforeReady(rd *checkpoint.Ready) {
	n, s := o.n, o.n.sim
	n.executing, n.effects, n.crashAfter = rd.Epochs, 0, -1
	// Every write, sync and send of the Ready is an effect; the crash falls
	// before a random one of them, or after the last.
	effects := 2*len(rd.Entries) + 2*len(rd.Rounds) + 2*len(rd.Votes) + len(rd.Epochs) + len(rd.Finalized)
	if rd.MustSync {
		effects++
	}
	if len(rd.Finalized) > 0 {
		effects++
	}
	if !s.healed && effects > 0 && s.chance(s.opts.CrashInReadyProbability) {
		n.crashAfter = s.rng.IntN(effects + 1)
	}
}

func (o simObserver) AfterReady(rd *checkpoint.Ready) {
	n := o.n
	if n.crashAfter == n.effects {
		// Dies after the last effect, before Advance: a restart must not
		// repeat or miss anything.
		n.crashNow = true
	}
	if len(rd.Divergences) > 0 && n.diverged == nil {
		d := rd.Divergences[0]
		n.diverged = n.fail("divergence", "epoch %d: ours %s, certified %s", d.Epoch, d.Ours, d.Certified)
	}
}

func (j simJournal) Head() (checkpoint.Header, error) {
	h, _ := j.n.store.head(j.n.sim.g)
	return h, nil
}

func (j simJournal) State(head checkpoint.Header) (*ledger.State, error) {
	n, g := j.n, j.n.sim.g
	if head.Epoch > 0 {
		return g.OpenState(n.store.trie, head.StateRoot)
	}
	if n.sim.opts.Mutation == MutationInflateSupply && n.index == 0 {
		inflated := *g
		inflated.Alloc = append(slices.Clone(g.Alloc), ledger.Alloc{Address: ledger.Address{0x1f}, Balance: 7})
		g = &inflated
	}
	return ledger.GenesisState(g, n.store.trie)
}

func (j simJournal) Header(epoch uint64) (checkpoint.Header, error) {
	st := j.n.store
	if epoch == 0 || epoch > st.headEpoch() {
		return checkpoint.Header{}, checkpoint.ErrNotFound
	}
	return st.epochs[epoch-1].header, nil
}

func (j simJournal) LastFinal(head uint64) (uint64, error) {
	return min(j.n.store.lastFinal(), head), nil
}

func (j simJournal) Votes(epoch uint64) ([]checkpoint.Vote, error) {
	st := j.n.store
	var out []checkpoint.Vote
	if v, ok := st.ownVotes[epoch]; ok {
		out = append(out, v)
	}
	for _, k := range slices.Sorted(maps.Keys(st.received[epoch])) {
		out = append(out, st.received[epoch][k])
	}
	return out, nil
}

func (j simJournal) Rounds(epoch uint64) ([]checkpoint.RoundMsg, error) {
	return slices.Clone(j.n.store.rounds[epoch]), nil
}

func (j simJournal) PutRound(r checkpoint.RoundMsg) error {
	n, st := j.n, j.n.store
	if int(r.Validator) == n.index {
		if err := n.effect(); err != nil {
			return err
		}
		if err := n.sim.checker.ownRound(n, r); err != nil {
			return err
		}
	}
	if r.Epoch <= st.lastFinal() {
		return nil
	}
	for _, old := range st.rounds[r.Epoch] {
		if old.Validator == r.Validator && old.Round == r.Round && old.Kind == r.Kind {
			return nil // the first one of a validator, kind and round is kept
		}
	}
	st.rounds[r.Epoch] = append(st.rounds[r.Epoch], r)
	return nil
}

func (j simJournal) Entry(origin uint32, seq uint64) (stream.Entry, error) {
	st := j.n.store
	src := st.outbox
	if int(origin) != j.n.index {
		src = st.delivered[origin]
	}
	if seq == 0 || seq > uint64(len(src)) {
		return stream.Entry{}, checkpoint.ErrNotFound
	}
	return src[seq-1], nil
}

func (j simJournal) PutOwnEntry(e stream.Entry) error {
	n := j.n
	if err := n.effect(); err != nil {
		return err
	}
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

func (j simJournal) PutVote(v checkpoint.Vote) error {
	n, st := j.n, j.n.store
	if int(v.Validator) != n.index {
		if v.Epoch > st.lastFinal() {
			byValidator := st.received[v.Epoch]
			if byValidator == nil {
				byValidator = make(map[uint32]checkpoint.Vote)
				st.received[v.Epoch] = byValidator
			}
			if _, ok := byValidator[v.Validator]; !ok {
				byValidator[v.Validator] = v
			}
		}
		return nil
	}
	if err := n.effect(); err != nil {
		return err
	}
	if err := n.sim.checker.ownVote(n, v, n.executing); err != nil {
		return err
	}
	st.ownVotes[v.Epoch] = v
	return nil
}

func (j simJournal) CommitEpoch(r *checkpoint.EpochResult) error {
	n, st := j.n, j.n.store
	if err := n.effect(); err != nil {
		return err
	}
	prev, prevHash := st.head(n.sim.g)
	if err := n.sim.checker.epoch(n, prev, prevHash, *r); err != nil {
		return err
	}
	st.trie.PutAll(r.Nodes)
	st.epochs = append(st.epochs, simEpochRecord{header: r.Header, hash: r.Hash})
	n.sim.tracef("v%d executed epoch %d: %d txs, cut %v, hash %.10s", n.index, r.Header.Epoch, r.Header.TxCount, r.Header.Cut, r.Hash.Hex())
	return n.sim.checker.conservation(n)
}

func (j simJournal) PutCertified(c checkpoint.Certified) error {
	n, st := j.n, j.n.store
	if err := n.effect(); err != nil {
		return err
	}
	var prev *checkpoint.Header
	if len(st.final) > 0 {
		prev = &st.final[len(st.final)-1].Header
	}
	if err := n.sim.checker.finalized(n, prev, c); err != nil {
		return err
	}
	st.final = append(st.final, c)
	delete(st.received, c.Header.Epoch)
	delete(st.ownVotes, c.Header.Epoch)
	delete(st.rounds, c.Header.Epoch)
	n.sim.tracef("v%d final epoch %d (%d votes)", n.index, c.Header.Epoch, len(c.Certificate.Votes))
	return nil
}

// Sync is an effect only: a crash keeps every write (power loss is not
// modelled).
func (j simJournal) Sync() error { return j.n.effect() }

func (o simSender) SendEntry(e stream.Entry) error {
	if err := o.n.effect(); err != nil {
		return err
	}
	if o.n.byzantine {
		return o.n.byzEntry(e)
	}
	return o.n.sim.broadcast(o.n.index, simNetMessage{kind: simEntry, entry: e})
}

func (o simSender) SendRound(r checkpoint.RoundMsg) error {
	if err := o.n.effect(); err != nil {
		return err
	}
	if o.n.byzantine {
		return o.n.byzRound(r)
	}
	return o.n.sim.broadcast(o.n.index, simNetMessage{kind: simRound, rounds: []checkpoint.RoundMsg{r}})
}

func (o simSender) SendVote(v checkpoint.Vote) error {
	if err := o.n.effect(); err != nil {
		return err
	}
	if o.n.byzantine {
		return o.n.byzVote(v)
	}
	return o.n.sim.broadcast(o.n.index, simNetMessage{kind: simVote, votes: []checkpoint.Vote{v}})
}
