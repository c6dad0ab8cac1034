package checkpoint

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/ledgerd/ledgerd/checkpoint/stream"
	"github.com/ledgerd/ledgerd/ledger"
)

// This file holds the ledger epoch Machine: the Chandy–Lamport Engine applied
// to validators' sequenced streams. Each validator's stream is one logical
// FIFO link to every other validator; a MARKER(N) entry in it is the marker
// of snapshot N on all its outbound links at once. The Machine owns the
// node's outbox sequence numbers and epoch tags, agrees with the other
// validators on each epoch's cut (agreement.go: at once when every present
// validator's marker is there, after the slow-path timeout without one),
// executes each epoch through package ledger, signs at most one vote per
// epoch and collects certificates. The Shell drives it (shell.go).

// Errors of the Machine. Input from peers gets errors, never panics.
var (
	ErrInvalidConfig   = errors.New("checkpoint: invalid machine config")
	ErrStreamBroken    = errors.New("checkpoint: delivery breaks per-origin FIFO or epoch order")
	ErrOwnOrigin       = errors.New("checkpoint: own entries are not delivered, they are proposed")
	ErrHalted          = errors.New("checkpoint: machine halted after divergence")
	ErrVoteOutOfWindow = errors.New("checkpoint: vote for an epoch outside the window")
	ErrTooManyPending  = errors.New("checkpoint: too many entries held back")
	ErrNothingToRecord = errors.New("checkpoint: nothing proposed")
)

// Config configures a Machine.
type Config struct {
	Genesis *ledger.Genesis
	// Self is this node's validator index.
	Self uint32
	// MaxEpochsInFlight bounds the epochs recorded but not yet executed here.
	MaxEpochsInFlight int
	// ClockSkewMs is how far ahead of our clock a peer's epoch boundary may be
	// before its marker is held back (the clock guard, docs/protocol.md).
	ClockSkewMs int64
	// MaxHeldEntries bounds, per origin, the entries held back behind an
	// early marker or beyond the in-flight window while this node catches
	// up, and the delivered entries waiting for their epoch.
	MaxHeldEntries int
	// MaxEpochTxs starts a snapshot early once this many transactions were
	// delivered in the current epoch; 0 takes the genesis value (0 = no bound).
	MaxEpochTxs uint64
	// SlowPathTimeoutMs is how long a validator waits, from its snapshot of
	// an epoch, for every present validator's marker before the others
	// agree to cut without the missing ones.
	SlowPathTimeoutMs int64
	// RoundTimeoutMs and RoundTimeoutStepMs time the later steps of the
	// agreement: round r's timeouts are RoundTimeoutMs + r × RoundTimeoutStepMs.
	RoundTimeoutMs, RoundTimeoutStepMs int64
	// UnsafeBreakLock breaks the agreement's locking rule on purpose (a
	// validator prevotes whatever it is offered, ignoring its lock). Only
	// the simulator's mutation test sets it.
	UnsafeBreakLock bool
}

// DefaultConfig returns a config with moderate bounds.
func DefaultConfig(g *ledger.Genesis, self uint32) Config {
	return Config{Genesis: g, Self: self, MaxEpochsInFlight: 8, ClockSkewMs: 500, MaxHeldEntries: 1 << 16,
		MaxEpochTxs: g.MaxEpochTxs, SlowPathTimeoutMs: 1000, RoundTimeoutMs: 200, RoundTimeoutStepMs: 100}
}

// Validate checks the config.
func (c Config) Validate() error {
	switch {
	case c.Genesis == nil:
		return fmt.Errorf("%w: no genesis", ErrInvalidConfig)
	case int(c.Self) >= len(c.Genesis.Validators):
		return fmt.Errorf("%w: self %d of %d validators", ErrInvalidConfig, c.Self, len(c.Genesis.Validators))
	case len(c.Genesis.Validators) > MaxValidators:
		return fmt.Errorf("%w: %d validators (max %d)", ErrInvalidConfig, len(c.Genesis.Validators), MaxValidators)
	case c.MaxEpochsInFlight < 1 || c.MaxEpochsInFlight > 1024:
		return fmt.Errorf("%w: MaxEpochsInFlight %d not in [1, 1024]", ErrInvalidConfig, c.MaxEpochsInFlight)
	case c.ClockSkewMs < 0:
		return fmt.Errorf("%w: negative ClockSkewMs", ErrInvalidConfig)
	case c.MaxHeldEntries < 1:
		return fmt.Errorf("%w: MaxHeldEntries %d < 1", ErrInvalidConfig, c.MaxHeldEntries)
	case c.SlowPathTimeoutMs < 1 || c.RoundTimeoutMs < 1 || c.RoundTimeoutStepMs < 0:
		return fmt.Errorf("%w: timeouts %d/%d/%d ms", ErrInvalidConfig, c.SlowPathTimeoutMs, c.RoundTimeoutMs, c.RoundTimeoutStepMs)
	}
	return nil
}

// restore is the durable state a Machine starts from.
type restore struct {
	// Head is the last executed (committed) epoch's header; the zero Header
	// with Epoch 0 stands for genesis.
	Head Header
	// State is the ledger state at Head.
	State *ledger.State
	// Pending are headers executed but not yet final, ascending, ending at
	// Head (empty when Head is final or genesis).
	Pending []Header
	// LastFinal is the highest final epoch.
	LastFinal uint64
	// Voted maps the epochs this node has voted in to the vote it cast,
	// so it never signs a second hash: the pending epochs and any epoch
	// past Head whose vote was stored before its result was committed.
	Voted map[uint64]Vote
}

// EpochResult is one executed epoch, to be committed atomically. Its vote
// may leave first (it is persisted and synced on its own), provided a
// restart restores that vote.
type EpochResult struct {
	Header   Header
	Hash     ledger.Hash
	TxHashes []ledger.Hash
	Receipts []ledger.Receipt
	// Nodes are the trie nodes the new state root needs.
	Nodes map[ledger.Hash][]byte
	// Snapshot is this node's part of the epoch's global snapshot.
	Snapshot LocalRecord
	// Round is the agreement round whose precommits decided the cut (0:
	// the fast path; 1: missing markers cut as absent after the slow-path
	// timeout), -1 when the cut came from a fetched certified checkpoint.
	Round int32
}

// LocalRecord is this node's recorded state of one snapshot: the highest seq
// it had delivered from each validator when it recorded, its clock then, and
// the channel states: per validator, the seqs of entries it delivered after
// recording and before that validator's cut.
type LocalRecord struct {
	Epoch          uint64
	Recorded       []uint64
	RecordedTimeMs int64
	MempoolSize    int
	Initiated      bool
	// Channels[k] are the seqs recorded in flight on link k→self.
	Channels [][]uint64
}

// Divergence reports that a quorum certified a hash other than ours.
type Divergence struct {
	Epoch     uint64
	Ours      ledger.Hash
	Certified ledger.Hash
}

// Ready holds the effects the shell must carry out, in the order CarryOut
// gives (docs/protocol.md), then Advance.
type Ready struct {
	// Entries are this node's new outbox entries: persist, then publish.
	// The first EarlyEntries of them must be persisted before Epochs are
	// committed (the epochs' cuts may contain them); the rest only after
	// (they belong to epochs past the window of the head the store has
	// until then, and a restart replays own entries from that head: its
	// engine holds at most MaxEpochsInFlight+1 snapshots).
	Entries      []stream.Entry
	EarlyEntries int
	// Rounds are this node's new messages of the agreement on cuts:
	// persist, sync, then publish.
	Rounds []RoundMsg
	// Epochs are newly executed epochs: commit each atomically.
	Epochs []EpochResult
	// Votes are this node's new votes: persist, sync, then publish.
	Votes []Vote
	// Finalized are newly final checkpoints, in epoch order.
	Finalized []Certified
	// Divergences are certified hashes that differ from ours.
	Divergences []Divergence
	// MustSync is true when a vote or a round message must not leave
	// before the store syncs.
	MustSync bool
}

// deliveredMarker is a delivered MARKER: where it is in its stream, the stream's
// chain there, and its origin's clock.
type deliveredMarker struct {
	seq    uint64
	chain  ledger.Hash
	timeMs int64
}

// pendingBatch is a delivered batch waiting for the epoch whose cut
// includes it.
type pendingBatch struct {
	seq uint64
	txs []ledger.CheckedTx
}

// epochState is what the machine knows of one epoch before it executes.
type epochState struct {
	// markers[k] is k's MARKER(epoch), if delivered.
	markers map[uint32]deliveredMarker
	// txCount counts the transactions delivered tagged with the epoch (the
	// early start at MaxEpochTxs).
	txCount uint64
	// recorded is set when this node recorded the snapshot.
	recorded bool
	record   LocalRecord
}

// heldEntry is a delivery waiting behind an early marker (clock guard).
type heldEntry struct {
	e   stream.Entry
	txs []ledger.CheckedTx
}

// speculation is an epoch executed before its cut was agreed, from the cut
// of every present validator's marker: kept until the agreement decides,
// committed if it decided that cut, undone (the state from before it) if
// not.
type speculation struct {
	epoch  uint64
	value  *CutValue
	result EpochResult
	before *ledger.State
}

// Machine is one validator's epoch state machine. Not safe for concurrent
// use: one goroutine owns it, through the Shell.
type Machine struct {
	cfg    Config
	g      *ledger.Genesis
	n      int
	signer Signer
	engine *Engine
	agree  agreeConfig

	nowMs   int64
	mempool int

	// nextSeq is the seq of this node's next outbox entry.
	nextSeq uint64
	// ownEpoch is the epoch tag of this node's next batch: its last marker + 1.
	ownEpoch uint64
	// delivered[k] is the highest seq delivered from k (own: nextSeq-1), and
	// chain[k] the stream's hash chain there.
	delivered []uint64
	chain     []ledger.Hash
	// lastMarker[k] is the epoch of k's last delivered marker.
	lastMarker []uint64
	held       [][]heldEntry
	// batches[k] are k's delivered batches after the head's cut.
	batches [][]pendingBatch

	epochs map[uint64]*epochState
	// agreements on the cuts of the epochs after the head.
	agreements map[uint64]*agreement
	spec       *speculation

	state    *ledger.State
	head     Header
	headHash ledger.Hash

	headers   map[uint64]Header // executed, not final
	votes     map[uint64]map[ledger.Hash]map[uint32]Vote
	voted     map[uint64]Vote
	lastFinal uint64
	halted    bool

	pending Ready
}

// newMachine returns a machine resuming from r.
func newMachine(cfg Config, r restore, signer Signer) (*Machine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if r.State == nil {
		return nil, fmt.Errorf("%w: no ledger state", ErrInvalidConfig)
	}
	if signer == nil {
		return nil, fmt.Errorf("%w: no signer", ErrInvalidConfig)
	}
	g := cfg.Genesis
	n := len(g.Validators)
	peers := make([]NodeID, 0, n-1)
	for k := 0; k < n; k++ {
		if uint32(k) != cfg.Self {
			peers = append(peers, NodeID(k))
		}
	}
	ecfg := DefaultEngineConfig(NodeID(cfg.Self), peers, peers)
	ecfg.MaxSnapshotsInFlight = cfg.MaxEpochsInFlight + 1
	ecfg.MaxPayloadBytes = 8
	ecfg.MaxRecordedBytes = 8 << 16
	ecfg.MaxRecordedMessages = 1 << 16
	engine, err := NewEngine(ecfg)
	if err != nil {
		return nil, err
	}
	m := &Machine{
		cfg: cfg, g: g, n: n, signer: signer, engine: engine,
		delivered:  make([]uint64, n),
		chain:      make([]ledger.Hash, n),
		lastMarker: make([]uint64, n),
		held:       make([][]heldEntry, n),
		batches:    make([][]pendingBatch, n),
		epochs:     make(map[uint64]*epochState),
		agreements: make(map[uint64]*agreement),
		state:      r.State,
		headers:    make(map[uint64]Header),
		votes:      make(map[uint64]map[ledger.Hash]map[uint32]Vote),
		voted:      make(map[uint64]Vote),
		lastFinal:  r.LastFinal,
	}
	m.agree = agreeConfig{self: cfg.Self, powers: make([]uint64, n), total: g.TotalPower(),
		timeoutFirst: cfg.SlowPathTimeoutMs, timeoutBase: cfg.RoundTimeoutMs, timeoutStep: cfg.RoundTimeoutStepMs,
		proposer:  func(epoch uint64, round uint32) uint32 { return uint32((epoch + uint64(round)) % uint64(n)) },
		breakLock: cfg.UnsafeBreakLock}
	for k, v := range g.Validators {
		m.agree.powers[k] = v.Power
	}
	m.setHead(r.Head)
	if r.Head.Epoch > 0 {
		if len(r.Head.Cut) != n || len(r.Head.Chain) != n || len(r.Head.Marker) != n {
			return nil, fmt.Errorf("%w: head cut has %d entries for %d validators", ErrInvalidConfig, len(r.Head.Cut), n)
		}
		copy(m.delivered, r.Head.Cut)
		copy(m.chain, r.Head.Chain)
		copy(m.lastMarker, r.Head.Marker)
	}
	m.nextSeq = m.delivered[cfg.Self] + 1
	// The own stream goes on after the own cut, the last marker this
	// validator took part with (an earlier epoch if it was absent).
	m.ownEpoch = m.head.Marker[cfg.Self] + 1
	for _, h := range r.Pending {
		m.headers[h.Epoch] = h
	}
	maps.Copy(m.voted, r.Voted)
	return m, nil
}

func (m *Machine) setHead(h Header) {
	m.head = h
	if h.Epoch == 0 {
		m.headHash = m.g.Hash()
		m.head.TimeMs = m.g.GenesisTimeMs
		m.head.Cut = make([]uint64, m.n)
		m.head.Chain = make([]ledger.Hash, m.n)
		m.head.Marker = make([]uint64, m.n)
		return
	}
	m.headHash = h.Hash()
}

// Head returns the last executed epoch's header and hash.
func (m *Machine) Head() (Header, ledger.Hash) { return m.head, m.headHash }

// LastFinal is the highest final epoch.
func (m *Machine) LastFinal() uint64 { return m.lastFinal }

// Voted returns the vote this node cast (or restored) for epoch, if any.
func (m *Machine) Voted(epoch uint64) (Vote, bool) {
	v, ok := m.voted[epoch]
	return v, ok
}

// State is the ledger state at Head. The caller must not mutate it.
func (m *Machine) State() *ledger.State {
	if m.spec != nil {
		return m.spec.before
	}
	return m.state
}

// NextSeq is the seq the next own entry will get.
func (m *Machine) NextSeq() uint64 { return m.nextSeq }

// Delivered returns the highest seq delivered from each validator.
func (m *Machine) Delivered() []uint64 { return slices.Clone(m.delivered) }

// Absent lists the validators that took no part in the head epoch: the
// epoch after it does not wait for their markers.
func (m *Machine) Absent() []uint32 { return m.head.Absent() }

// StreamPositions returns where each validator's stream resumes after what
// the machine has been handed (delivered or held back by the clock guard):
// the next seq and the epoch of the last marker. The network layer's
// sequencer starts from it after a restart.
func (m *Machine) StreamPositions() []stream.OriginStart {
	out := make([]stream.OriginStart, m.n)
	for k := range out {
		out[k] = stream.OriginStart{NextSeq: m.expected(uint32(k)), ClosedEpoch: m.lastMarker[k]}
		for _, h := range m.held[k] {
			if h.e.Kind == stream.KindMarker {
				out[k].ClosedEpoch = h.e.Epoch
			}
		}
	}
	return out
}

// expected is the seq of origin k's next entry the machine takes: the one
// after those delivered and those held back.
func (m *Machine) expected(k uint32) uint64 {
	if h := m.held[k]; len(h) > 0 {
		return h[len(h)-1].e.Seq + 1
	}
	return m.delivered[k] + 1
}

// CurrentEpoch is the epoch this node's next batch belongs to.
func (m *Machine) CurrentEpoch() uint64 { return m.ownEpoch }

// Halted reports whether the machine stopped voting after a divergence.
func (m *Machine) Halted() bool { return m.halted }

// Round reports the agreement round of the epoch after the head (0 on the
// fast path) and whether that agreement has started.
func (m *Machine) Round() (uint32, bool) {
	a := m.agreements[m.head.Epoch+1]
	if a == nil || !a.started {
		return 0, false
	}
	return a.round, true
}

// Boundary returns the time at which this node starts snapshot epoch by
// the clock: ScheduledBoundary of the head, plus one epoch length per epoch
// beyond the next.
func (m *Machine) Boundary(epoch uint64) int64 {
	next := ScheduledBoundary(m.g, m.head)
	if epoch <= m.head.Epoch {
		return next
	}
	return next + int64(epoch-m.head.Epoch-1)*int64(m.g.EpochLengthMs)
}

// ScheduledBoundary is when snapshot prev.Epoch+1 starts by the clock: the
// first point of the genesis grid (genesis_time + k × epoch_length) after
// prev's time, and never before genesis_time + (prev.Epoch+1) ×
// epoch_length. In steady state that is genesis_time + epoch ×
// epoch_length; after a pause of the whole network it restarts on the grid
// instead of racing through empty epochs. prev is the header of epoch 0
// (time = genesis time) for epoch 1.
func ScheduledBoundary(g *ledger.Genesis, prev Header) int64 {
	g0, l := g.GenesisTimeMs, int64(g.EpochLengthMs)
	base := prev.TimeMs
	if prev.Epoch == 0 {
		base = g0
	}
	k := int64(1)
	if base >= g0 {
		k = (base-g0)/l + 1
	}
	if k < int64(prev.Epoch)+1 {
		k = int64(prev.Epoch) + 1
	}
	return g0 + k*l
}

// EpochStart is when epoch h's snapshot began, the point its
// boundary-to-final latency is measured from: its scheduled boundary, or
// its header time (the validators' median recording time) when that is
// earlier because the epoch reached its transaction bound first. (The
// header time alone is no measure: a node that records on a peer's marker
// stamps it with its last tick, so the median can fall a few milliseconds
// before the grid point.) prev is epoch h.Epoch-1's header.
func EpochStart(g *ledger.Genesis, prev, h Header) int64 {
	return min(ScheduledBoundary(g, prev), h.TimeMs)
}

func (m *Machine) epoch(e uint64) *epochState {
	es := m.epochs[e]
	if es == nil {
		es = &epochState{markers: make(map[uint32]deliveredMarker)}
		m.epochs[e] = es
	}
	return es
}

// observeMempool records the mempool size for the next recorded state.
func (m *Machine) observeMempool(n int) { m.mempool = n }

// tick advances the machine's clock to nowMs (Unix milliseconds): it starts
// the next snapshot when its boundary has come, releases deliveries held
// behind early markers, and runs the agreements' timeouts.
func (m *Machine) tick(nowMs int64) error {
	if nowMs > m.nowMs {
		m.nowMs = nowMs
	}
	if err := m.drainHeld(); err != nil {
		return err
	}
	if err := m.maybeStart(); err != nil {
		return err
	}
	for _, ep := range slices.Sorted(maps.Keys(m.agreements)) {
		m.agreements[ep].tick(m.nowMs, m.env(ep))
	}
	return m.progress()
}

// catchUpOwn brings the own stream to the epoch after the head: a
// validator that was absent (away, or restarted from an old head) writes
// the markers of the epochs decided without it, so its stream's epoch tags
// go on from the head. They are past their snapshots: no engine is asked.
func (m *Machine) catchUpOwn() error {
	for m.ownEpoch <= m.head.Epoch {
		ep := m.ownEpoch
		mk := stream.Entry{Origin: m.cfg.Self, Seq: m.nextSeq, Epoch: ep, Kind: stream.KindMarker,
			Body: stream.EncodeMarker(stream.Marker{Epoch: ep, TimeMs: m.nowMs})}
		if err := m.appendOwn(&mk); err != nil {
			return err
		}
		m.lastMarker[m.cfg.Self] = ep
		m.ownEpoch = ep + 1
	}
	return nil
}

// maybeStart starts the next own snapshot when its time or tx bound has come.
func (m *Machine) maybeStart() error {
	if m.halted {
		return nil
	}
	if err := m.catchUpOwn(); err != nil {
		return err
	}
	next := m.ownEpoch
	if next > m.head.Epoch+uint64(m.cfg.MaxEpochsInFlight) {
		return nil
	}
	due := m.nowMs >= m.Boundary(next)
	if !due && m.cfg.MaxEpochTxs > 0 {
		if es := m.epochs[next]; es != nil && es.txCount >= m.cfg.MaxEpochTxs {
			due = true
		}
	}
	if !due {
		return nil
	}
	res, err := m.engine.StartSnapshot(SnapshotID(next))
	if err != nil {
		return err
	}
	return m.afterStep(res, true)
}

// propose appends a batch of this node's admitted transactions to its
// outbox. The caller has checked them (ledger.CheckTx).
func (m *Machine) propose(txs []ledger.CheckedTx) error {
	if len(txs) == 0 {
		return ErrNothingToRecord
	}
	if len(txs) > stream.MaxBatchTxs {
		return fmt.Errorf("%w: %d transactions in one batch (max %d)", ErrInvalidConfig, len(txs), stream.MaxBatchTxs)
	}
	raw := make([][]byte, len(txs))
	for i := range txs {
		raw[i] = txs[i].Tx.Encode()
	}
	e := stream.Entry{Origin: m.cfg.Self, Seq: m.nextSeq, Epoch: m.ownEpoch, Kind: stream.KindBatch, Body: stream.EncodeBatch(raw)}
	if err := m.appendOwn(&e); err != nil {
		return err
	}
	m.addBatch(m.cfg.Self, e, txs)
	return m.maybeStart()
}

// appendOwn signs e, advances the outbox and queues e for persistence.
func (m *Machine) appendOwn(e *stream.Entry) error {
	sig, err := m.signer.Sign(e.Digest(m.g.ChainID))
	if err != nil {
		return fmt.Errorf("sign entry seq=%d: %w", e.Seq, err)
	}
	e.Sig = sig
	m.nextSeq++
	m.advanceStream(m.cfg.Self, *e)
	m.pending.Entries = append(m.pending.Entries, *e)
	return nil
}

// advanceStream moves origin k's delivered position and chain past e.
func (m *Machine) advanceStream(k uint32, e stream.Entry) {
	m.delivered[k] = e.Seq
	m.chain[k] = StreamChain(m.chain[k], e.Digest(m.g.ChainID))
}

// addBatch keeps a delivered batch's transactions for its epoch.
func (m *Machine) addBatch(k uint32, e stream.Entry, txs []ledger.CheckedTx) {
	m.batches[k] = append(m.batches[k], pendingBatch{seq: e.Seq, txs: txs})
	m.epoch(e.Epoch).txCount += uint64(len(txs))
}

// replayOwn feeds back an entry of this node's own outbox after a restart,
// in seq order, starting after the head's cut.
func (m *Machine) replayOwn(e stream.Entry, txs []ledger.CheckedTx) error {
	if e.Origin != m.cfg.Self || e.Seq != m.nextSeq || e.Epoch != m.ownEpoch {
		return fmt.Errorf("%w: replay of own seq %d epoch %d, want seq %d epoch %d", ErrStreamBroken, e.Seq, e.Epoch, m.nextSeq, m.ownEpoch)
	}
	switch e.Kind {
	case stream.KindBatch:
		m.nextSeq++
		m.advanceStream(m.cfg.Self, e)
		m.addBatch(m.cfg.Self, e, txs)
		return nil
	case stream.KindMarker:
		mk, err := stream.DecodeMarker(e.Body)
		if err != nil {
			return err
		}
		if e.Epoch <= m.head.Epoch {
			// A marker of an epoch decided without this validator.
			m.nextSeq++
			m.advanceStream(m.cfg.Self, e)
			m.lastMarker[m.cfg.Self] = e.Epoch
			m.ownEpoch = e.Epoch + 1
			return nil
		}
		// The node had recorded; the recorded positions are not durable and
		// are recorded again now (they only describe the snapshot).
		if _, err := m.engine.StartSnapshot(SnapshotID(e.Epoch)); err != nil {
			return err
		}
		// Record before the marker counts as delivered, as afterStep does
		// (record-before-send), so Recorded[self] < Cut[self] holds in the
		// re-signed vote too.
		m.recordLocal(e.Epoch, true)
		m.nextSeq++
		m.advanceStream(m.cfg.Self, e)
		es := m.epoch(e.Epoch)
		es.record.RecordedTimeMs = mk.TimeMs
		es.markers[m.cfg.Self] = deliveredMarker{seq: e.Seq, chain: m.chain[m.cfg.Self], timeMs: mk.TimeMs}
		m.lastMarker[m.cfg.Self] = e.Epoch
		m.ownEpoch = e.Epoch + 1
		m.engine.Advance(m.engine.Ready())
		return nil
	default:
		return fmt.Errorf("%w: kind %v", ErrStreamBroken, e.Kind)
	}
}

// deliver hands the machine the next entry of another validator's stream,
// in seq order, with its transactions checked (ledger.CheckTx; undecodable
// transactions left out). The entry's signature has been verified.
func (m *Machine) deliver(e stream.Entry, txs []ledger.CheckedTx) error {
	k := e.Origin
	if k == m.cfg.Self {
		return ErrOwnOrigin
	}
	if int(k) >= m.n {
		return fmt.Errorf("%w: origin %d of %d", ErrStreamBroken, k, m.n)
	}
	if len(m.held[k]) > 0 || m.blocked(e) {
		if len(m.held[k]) >= m.cfg.MaxHeldEntries {
			return fmt.Errorf("%w: origin %d has %d entries held", ErrTooManyPending, k, len(m.held[k]))
		}
		m.held[k] = append(m.held[k], heldEntry{e, txs})
		return m.drainHeld()
	}
	if err := m.deliverNext(e, txs); err != nil {
		return err
	}
	if err := m.drainHeld(); err != nil {
		return err
	}
	return m.progress()
}

// blocked reports whether e must wait: a marker beyond the clock guard, or
// an entry of an epoch beyond the in-flight window (a peer far ahead while
// this node catches up). Held entries keep their per-origin order.
func (m *Machine) blocked(e stream.Entry) bool {
	if e.Epoch > m.head.Epoch+uint64(m.cfg.MaxEpochsInFlight)+1 {
		return true
	}
	return e.Kind == stream.KindMarker && m.early(e.Epoch)
}

// early reports whether a marker of epoch lies beyond the clock guard.
func (m *Machine) early(epoch uint64) bool {
	if m.nowMs+m.cfg.ClockSkewMs >= m.Boundary(epoch) {
		return false
	}
	// An epoch that reached the transaction bound may close early.
	es := m.epochs[epoch]
	return m.cfg.MaxEpochTxs == 0 || es == nil || es.txCount < m.cfg.MaxEpochTxs
}

// drainHeld delivers held entries whose wait is over, across all origins,
// until none can move: executing an epoch may unblock another origin.
func (m *Machine) drainHeld() error {
	for progress := true; progress; {
		progress = false
		for k := range m.held {
			for len(m.held[k]) > 0 && !m.blocked(m.held[k][0].e) {
				h := m.held[k][0]
				m.held[k] = m.held[k][1:]
				if err := m.deliverNext(h.e, h.txs); err != nil {
					return err
				}
				progress = true
			}
			if len(m.held[k]) == 0 {
				m.held[k] = nil
			}
		}
	}
	return nil
}

func (m *Machine) deliverNext(e stream.Entry, txs []ledger.CheckedTx) error {
	k := e.Origin
	if e.Seq != m.delivered[k]+1 {
		return fmt.Errorf("%w: origin %d seq %d after %d", ErrStreamBroken, k, e.Seq, m.delivered[k])
	}
	if e.Epoch != m.lastMarker[k]+1 {
		return fmt.Errorf("%w: origin %d entry seq %d tagged epoch %d after marker %d", ErrStreamBroken, k, e.Seq, e.Epoch, m.lastMarker[k])
	}
	if e.Epoch > m.head.Epoch+uint64(m.cfg.MaxEpochsInFlight)+1 {
		return fmt.Errorf("%w: origin %d epoch %d, executed only %d", ErrTooManyPending, k, e.Epoch, m.head.Epoch)
	}
	switch e.Kind {
	case stream.KindBatch:
		if len(m.batches[k]) >= m.cfg.MaxHeldEntries {
			return fmt.Errorf("%w: origin %d has %d batches waiting for their epoch", ErrTooManyPending, k, len(m.batches[k]))
		}
		var seq [8]byte
		binary.BigEndian.PutUint64(seq[:], e.Seq)
		if _, err := m.engine.Step(EngineMessage{From: NodeID(k), To: NodeID(m.cfg.Self), Kind: MessageApp, Payload: seq[:]}); err != nil {
			return err
		}
		m.advanceStream(k, e)
		m.addBatch(k, e, txs)
		return m.maybeStart()
	case stream.KindMarker:
		mk, err := stream.DecodeMarker(e.Body)
		if err != nil {
			return fmt.Errorf("%w: origin %d seq %d: %v", ErrStreamBroken, k, e.Seq, err)
		}
		if e.Epoch > m.head.Epoch && e.Epoch > m.ownEpoch {
			// FIFO makes this impossible: k's marker e.Epoch-1 came first
			// and made us record it (or it was of an epoch executed already,
			// and the own stream is past the head).
			return fmt.Errorf("%w: marker %d from %d while own epoch is %d", ErrStreamBroken, e.Epoch, k, m.ownEpoch)
		}
		if err := m.stepMarker(k, e.Epoch); err != nil {
			return err
		}
		m.advanceStream(k, e)
		m.lastMarker[k] = e.Epoch
		if e.Epoch > m.head.Epoch {
			m.epoch(e.Epoch).markers[k] = deliveredMarker{seq: e.Seq, chain: m.chain[k], timeMs: mk.TimeMs}
		}
		return nil
	default:
		return fmt.Errorf("%w: kind %v", ErrStreamBroken, e.Kind)
	}
}

// stepMarker hands k's MARKER(epoch) to the engine when the engine still
// waits for it: a marker of an executed epoch, or of one whose link from k
// the agreement closed already (k was absent), is past the snapshot.
func (m *Machine) stepMarker(k uint32, epoch uint64) error {
	id := SnapshotID(epoch)
	if epoch <= m.head.Epoch || (m.engine.find(id) != nil && !m.engine.LinkOpen(id, NodeID(k))) {
		return nil
	}
	if m.engine.find(id) == nil && m.engine.isReleased(id) {
		return nil
	}
	res, err := m.engine.Step(EngineMessage{From: NodeID(k), To: NodeID(m.cfg.Self), Kind: MessageMarker, Snapshot: id})
	if err != nil {
		return err
	}
	return m.afterStep(res, false)
}

// afterStep carries out what one engine step did: record the local state and
// send the marker (record-before-send).
func (m *Machine) afterStep(res StepResult, initiated bool) error {
	if res.HasRecorded {
		ep := uint64(res.Recorded)
		m.recordLocal(ep, initiated)
		mk := stream.Entry{Origin: m.cfg.Self, Seq: m.nextSeq, Epoch: ep, Kind: stream.KindMarker,
			Body: stream.EncodeMarker(stream.Marker{Epoch: ep, TimeMs: m.nowMs})}
		if ep != m.ownEpoch {
			panic(fmt.Sprintf("checkpoint: recorded epoch %d while own epoch is %d", ep, m.ownEpoch))
		}
		if err := m.appendOwn(&mk); err != nil {
			return err
		}
		m.epoch(ep).markers[m.cfg.Self] = deliveredMarker{seq: mk.Seq, chain: m.chain[m.cfg.Self], timeMs: m.nowMs}
		m.lastMarker[m.cfg.Self] = ep
		m.ownEpoch = ep + 1
	}
	// One broadcast MARKER entry stands for the engine's per-link markers.
	m.engine.Advance(m.engine.Ready())
	return nil
}

func (m *Machine) recordLocal(ep uint64, initiated bool) {
	es := m.epoch(ep)
	es.recorded = true
	es.record = LocalRecord{Epoch: ep, Recorded: slices.Clone(m.delivered), RecordedTimeMs: m.nowMs,
		MempoolSize: m.mempool, Initiated: initiated}
}

// stepRound hands the machine a peer's round message (or one replayed
// from the store). It verifies the signature and reports whether the
// message is worth keeping: new, counted, and for a round no further than
// the next. A copy, a second message of a validator that completes
// nothing, and one beyond its sender's future rounds do not count; a
// counted one for a later round is kept in memory only, so that a peer
// sending ever higher rounds cannot fill the journal (its sender re-sends
// it).
func (m *Machine) stepRound(msg RoundMsg) (bool, error) {
	ep := msg.Epoch
	if ep <= m.head.Epoch || ep > m.head.Epoch+uint64(m.cfg.MaxEpochsInFlight)+1 {
		return false, fmt.Errorf("%w: round message for epoch %d (head %d)", ErrVoteOutOfWindow, ep, m.head.Epoch)
	}
	if msg.Validator == m.cfg.Self {
		return false, fmt.Errorf("%w: own round message", ErrBadRound)
	}
	a := m.agreement(ep)
	if a.has(&msg) {
		return false, nil
	}
	if err := msg.Verify(m.g); err != nil {
		return false, err
	}
	near := uint64(msg.Round) <= uint64(a.round)+1
	if !a.receive(&msg, m.env(ep)) {
		return false, nil
	}
	return near, m.progress()
}

// agreement returns epoch's agreement, creating it.
func (m *Machine) agreement(ep uint64) *agreement {
	a := m.agreements[ep]
	if a == nil {
		a = newAgreement(&m.agree, ep)
		m.agreements[ep] = a
	}
	return a
}

// progress starts the agreement of the epoch after the head once it can,
// speculates, executes and commits decided epochs, and collects the
// agreements' messages.
func (m *Machine) progress() error {
	for {
		done, err := m.progressOnce()
		if err != nil || done {
			m.collectRounds()
			return err
		}
	}
}

// progressOnce makes one step of progress on the epoch after the head; it
// reports done when it cannot go on now.
func (m *Machine) progressOnce() (bool, error) {
	if m.halted || len(m.pending.Epochs) > 0 {
		// The State serves a Commit's nodes from memory only until the
		// next Commit, so the shell persists this epoch (Ready, Advance)
		// before the next one executes; Tick resumes.
		return true, nil
	}
	ep := m.head.Epoch + 1
	es := m.epochs[ep]
	a := m.agreement(ep)
	env := m.env(ep)
	if !a.started && es != nil && es.recorded {
		a.start(m.nowMs, es.record.RecordedTimeMs, env)
	}
	if v := a.decision; v != nil {
		if s := m.spec; s != nil && !s.value.Equal(v) {
			m.state, m.spec = s.before, nil // undo: the cut agreed is another one
		}
		if m.spec == nil {
			if !m.has(ep, v) {
				return true, nil // the agreed streams are not all here yet
			}
			if err := m.speculate(ep, v); err != nil {
				return true, err
			}
		}
		return false, m.commit()
	}
	if m.spec == nil {
		if v := env.candidate(0); v != nil && a.started {
			return false, m.speculate(ep, v)
		}
	}
	return true, nil
}

// collectRounds signs the agreements' new messages for the Ready.
func (m *Machine) collectRounds() {
	for _, ep := range slices.Sorted(maps.Keys(m.agreements)) {
		m.collect(m.agreements[ep])
	}
}

// collect signs one agreement's new messages for the Ready.
func (m *Machine) collect(a *agreement) {
	for _, msg := range a.takeOut() {
		sig, err := m.signer.Sign(msg.Digest(m.g.ChainID))
		if err != nil {
			panic(fmt.Sprintf("checkpoint: sign round message: %v", err))
		}
		msg.Sig = sig
		m.pending.Rounds = append(m.pending.Rounds, msg)
		m.pending.MustSync = true
	}
}

// speculate executes epoch ep with cut v into the state, keeping the state
// from before so that the execution can be undone.
func (m *Machine) speculate(ep uint64, v *CutValue) error {
	before := m.state.Copy()
	var txs []ledger.CheckedTx
	for k := range v.Cut {
		if !v.Present(k, ep) {
			continue
		}
		for _, b := range m.batches[k] {
			if b.seq >= v.Cut[k] {
				break
			}
			txs = append(txs, b.txs...)
		}
	}
	receipts, err := m.state.Apply(txs)
	if err != nil {
		return fmt.Errorf("apply epoch %d: %w", ep, err)
	}
	root, nodes, err := m.state.Commit()
	if err != nil {
		return fmt.Errorf("commit epoch %d: %w", ep, err)
	}
	hashes := make([]ledger.Hash, len(txs))
	for i := range txs {
		hashes[i] = txs[i].Hash
	}
	es := m.epoch(ep)
	var times []int64
	for k := range v.Cut {
		if v.Present(k, ep) {
			times = append(times, es.markers[uint32(k)].timeMs)
		}
	}
	t := m.head.TimeMs
	if len(times) > 0 {
		t = max(medianTime(times), t)
	}
	h := Header{
		ChainID: m.g.ChainID, Epoch: ep, PrevHash: m.headHash, Cut: slices.Clone(v.Cut), Chain: slices.Clone(v.Chain),
		Marker: slices.Clone(v.Marker), TxRoot: ledger.TxRoot(hashes), ReceiptsRoot: ledger.ReceiptsRoot(receipts),
		StateRoot: root, TxCount: uint64(len(txs)), ValidatorSetHash: m.g.ValidatorSetHash(), TimeMs: t,
	}
	m.spec = &speculation{epoch: ep, value: v.Clone(), before: before,
		result: EpochResult{Header: h, Hash: h.Hash(), TxHashes: hashes, Receipts: receipts, Nodes: nodes}}
	return nil
}

// commit makes the speculation of the agreed cut the new head: the
// snapshot's record, the result for the shell, the vote.
func (m *Machine) commit() error {
	s := m.spec
	m.spec = nil
	ep, v := s.epoch, s.value
	es := m.epochs[ep]
	rec := es.record
	if !es.recorded {
		rec = LocalRecord{Epoch: ep, Recorded: slices.Clone(m.head.Cut)}
	}
	rec.Channels = make([][]uint64, m.n)
	id := SnapshotID(ep)
	if m.engine.find(id) != nil {
		// Links the agreement cut without a marker close now; the channel
		// state of an absent validator is what came before the agreement.
		for k := range v.Cut {
			if uint32(k) != m.cfg.Self && m.engine.LinkOpen(id, NodeID(k)) {
				if _, err := m.engine.CloseLink(id, NodeID(k)); err != nil {
					return err
				}
			}
		}
		m.engine.Advance(m.engine.Ready())
		if ls, ok := m.engine.Snapshot(id); ok {
			for _, msg := range ls.Messages {
				if seq := binary.BigEndian.Uint64(msg.Payload); seq < v.Cut[msg.From] {
					rec.Channels[msg.From] = append(rec.Channels[msg.From], seq)
				}
			}
		}
		if err := m.engine.Release(id); err != nil {
			return err
		}
	}
	for k := range m.batches {
		i := 0
		for i < len(m.batches[k]) && m.batches[k][i].seq <= v.Cut[k] {
			i++
		}
		m.batches[k] = slices.Delete(m.batches[k], 0, i)
	}
	delete(m.epochs, ep)
	// The messages of the step that decided (a precommit with the
	// decision) still leave: the others need them to decide too.
	a := m.agreements[ep]
	m.collect(a)
	delete(m.agreements, ep)
	r := s.result
	r.Snapshot, r.Round = rec, a.decidedIn
	m.setHead(r.Header)
	if err := m.catchUpOwn(); err != nil {
		return err
	}
	m.headers[ep] = r.Header
	m.pending.Epochs = append(m.pending.Epochs, r)
	if err := m.vote(ep, r.Hash, rec); err != nil {
		return err
	}
	m.checkFinal()
	return nil
}

// vote signs this node's vote for epoch unless halted; it never signs a
// second hash for one epoch.
func (m *Machine) vote(ep uint64, hash ledger.Hash, rec LocalRecord) error {
	if m.halted {
		return nil
	}
	if prev, ok := m.voted[ep]; ok {
		if prev.Hash != hash {
			panic(fmt.Sprintf("checkpoint: epoch %d re-executed to %s after voting %s", ep, hash, prev.Hash))
		}
		return nil
	}
	v := Vote{Epoch: ep, Hash: hash, Validator: m.cfg.Self, Recorded: rec.Recorded, RecordedTimeMs: rec.RecordedTimeMs}
	if len(v.Recorded) != m.n {
		v.Recorded = make([]uint64, m.n)
	}
	sig, err := m.signer.Sign(v.Digest(m.g.ChainID))
	if err != nil {
		return fmt.Errorf("sign vote epoch=%d: %w", ep, err)
	}
	v.Sig = sig
	m.voted[ep] = v
	m.pending.Votes = append(m.pending.Votes, v)
	m.pending.MustSync = true
	m.addVote(v)
	return nil
}

// stepVote hands the machine a vote received from a peer (or replayed from
// the store). It verifies the signature.
func (m *Machine) stepVote(v Vote) error {
	if v.Epoch <= m.lastFinal || v.Epoch > m.head.Epoch+2*uint64(m.cfg.MaxEpochsInFlight)+2 {
		return fmt.Errorf("%w: epoch %d (final %d, head %d)", ErrVoteOutOfWindow, v.Epoch, m.lastFinal, m.head.Epoch)
	}
	if m.counted(v) {
		return nil // a copy of a vote already verified and counted
	}
	if err := v.Verify(m.g); err != nil {
		return err
	}
	m.addVote(v)
	m.checkFinal()
	return nil
}

// stepCertified hands the machine a certified checkpoint fetched from a
// peer: past the head it is the agreed cut of its epoch (honest validators
// sign only headers of agreed cuts, and a quorum holds one), so a
// validator that missed the agreement executes it; its votes count.
func (m *Machine) stepCertified(c Certified) error {
	ep := c.Header.Epoch
	if ep <= m.lastFinal {
		return nil
	}
	if ep > m.head.Epoch+uint64(m.cfg.MaxEpochsInFlight)+1 {
		return fmt.Errorf("%w: certified epoch %d (head %d)", ErrVoteOutOfWindow, ep, m.head.Epoch)
	}
	if err := c.Verify(m.g); err != nil {
		return err
	}
	if ep > m.head.Epoch {
		a := m.agreement(ep)
		if a.decision == nil {
			a.decision, a.decidedIn = c.Header.Value().Clone(), -1
		}
	}
	// A verified certificate is a quorum by itself: its votes count for its
	// hash even from a validator whose vote for another hash came first (a
	// Byzantine one that equivocated to us). Otherwise that first vote, and
	// one honest vote we missed, would keep the epoch from ever being final
	// here, since the others stop resending votes once final.
	for _, v := range c.Certificate.Votes {
		if !m.counted(v) {
			m.putVote(v)
		}
	}
	m.checkFinal()
	return m.progress()
}

// counted reports whether v, field for field, is a vote already counted.
func (m *Machine) counted(v Vote) bool {
	old, ok := m.votes[v.Epoch][v.Hash][v.Validator]
	return ok && old.Sig == v.Sig && old.RecordedTimeMs == v.RecordedTimeMs && slices.Equal(old.Recorded, v.Recorded)
}

func (m *Machine) addVote(v Vote) {
	// A validator counts once per epoch: its first vote wins, a second hash
	// from it is equivocation and is ignored here.
	for _, vs := range m.votes[v.Epoch] {
		if _, ok := vs[v.Validator]; ok {
			return
		}
	}
	m.putVote(v)
}

// putVote stores v under its hash, whatever else its validator voted.
func (m *Machine) putVote(v Vote) {
	byHash := m.votes[v.Epoch]
	if byHash == nil {
		byHash = make(map[ledger.Hash]map[uint32]Vote)
		m.votes[v.Epoch] = byHash
	}
	vs := byHash[v.Hash]
	if vs == nil {
		vs = make(map[uint32]Vote)
		byHash[v.Hash] = vs
	}
	vs[v.Validator] = v
}

func (m *Machine) power(vs map[uint32]Vote) uint64 {
	var p uint64
	for k := range vs {
		p += m.g.Validators[k].Power
	}
	return p
}

// checkFinal finalizes, in order, every executed epoch whose hash has a
// quorum, and reports certified hashes that differ from ours.
func (m *Machine) checkFinal() {
	for {
		ep := m.lastFinal + 1
		byHash := m.votes[ep]
		h, executed := m.headers[ep]
		var ours ledger.Hash
		if executed {
			ours = h.Hash()
		}
		for _, hash := range sortedHashes(byHash) {
			if hash != ours && m.g.IsQuorum(m.power(byHash[hash])) && executed {
				m.pending.Divergences = append(m.pending.Divergences, Divergence{Epoch: ep, Ours: ours, Certified: hash})
				m.halted = true
				return
			}
		}
		if !executed || !m.g.IsQuorum(m.power(byHash[ours])) {
			return
		}
		cert := Certificate{Epoch: ep, Hash: ours}
		for _, k := range sortedValidators(byHash[ours]) {
			cert.Votes = append(cert.Votes, byHash[ours][k])
		}
		m.pending.Finalized = append(m.pending.Finalized, Certified{Header: h, Certificate: cert})
		m.lastFinal = ep
		delete(m.headers, ep)
		delete(m.votes, ep)
		delete(m.voted, ep)
	}
}

func sortedHashes(m map[ledger.Hash]map[uint32]Vote) []ledger.Hash {
	out := make([]ledger.Hash, 0, len(m))
	for h := range m {
		out = append(out, h)
	}
	slices.SortFunc(out, func(a, b ledger.Hash) int { return a.Cmp(b) })
	return out
}

func sortedValidators(m map[uint32]Vote) []uint32 {
	out := make([]uint32, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// hasReady reports whether there are effects to carry out.
func (m *Machine) hasReady() bool {
	p := &m.pending
	return len(p.Entries) > 0 || len(p.Rounds) > 0 || len(p.Epochs) > 0 || len(p.Votes) > 0 ||
		len(p.Finalized) > 0 || len(p.Divergences) > 0
}

// ready returns the pending effects. The shell carries them out in the
// documented order and then calls advance.
func (m *Machine) ready() Ready {
	p := &m.pending
	base := m.head.Epoch // the head the store has before this Ready
	if len(p.Epochs) > 0 {
		base = p.Epochs[0].Header.Epoch - 1
	}
	early := len(p.Entries)
	for i, e := range p.Entries {
		if e.Epoch > base+uint64(m.cfg.MaxEpochsInFlight) {
			early = i
			break
		}
	}
	return Ready{
		Entries:      slices.Clone(p.Entries),
		EarlyEntries: early,
		Rounds:       slices.Clone(p.Rounds),
		Epochs:       slices.Clone(p.Epochs),
		Votes:        slices.Clone(p.Votes),
		Finalized:    slices.Clone(p.Finalized),
		Divergences:  slices.Clone(p.Divergences),
		MustSync:     p.MustSync,
	}
}

// SplitEntries returns Entries as the part to persist before Epochs are
// committed and the part to persist after (see EarlyEntries).
func (rd Ready) SplitEntries() (early, late []stream.Entry) {
	return rd.Entries[:rd.EarlyEntries], rd.Entries[rd.EarlyEntries:]
}

// advance acknowledges that rd, the last value of ready, was carried out.
func (m *Machine) advance(rd Ready) {
	p := &m.pending
	p.Entries = dropFront(p.Entries, len(rd.Entries))
	p.Rounds = dropFront(p.Rounds, len(rd.Rounds))
	p.Epochs = dropFront(p.Epochs, len(rd.Epochs))
	p.Votes = dropFront(p.Votes, len(rd.Votes))
	p.Finalized = dropFront(p.Finalized, len(rd.Finalized))
	p.Divergences = dropFront(p.Divergences, len(rd.Divergences))
	p.MustSync = len(p.Votes) > 0 || len(p.Rounds) > 0
}
