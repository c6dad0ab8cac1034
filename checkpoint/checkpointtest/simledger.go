package checkpointtest

import (
	"container/heap"
	"crypto/ecdsa"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/ledgerd/ledgerd/checkpoint"
	"github.com/ledgerd/ledgerd/checkpoint/stream"
	"github.com/ledgerd/ledgerd/ledger"
)

// This file is the seeded simulator of the ledger epoch Machine (issue 3):
// N validators, each a real checkpoint.Machine over a real ledger.State and
// a real stream.Sequencer, behind a model of the node shell (simnode.go),
// on a simulated network with delays, drops and repair, duplicates,
// reordering, partitions, crashes with restart from a simulated durable
// store, clock skew, and clients submitting valid and invalid transfers.
// All randomness comes from one PCG seeded by SimOptions.Seed; there are no
// goroutines and no wall clock, so a seed replays a run exactly. Checkers
// (simcheck.go) run on every effect and after every tick; the run ends with
// a healed liveness phase. See docs/simulator.md.

// simGenesisTimeMs is the genesis time of every simulated chain.
const simGenesisTimeMs = 1_700_000_000_000

// simClientBalance is each client's genesis allocation.
const simClientBalance = 1_000_000

// SimFailure is a failed check. Its message names the seed and the command
// that replays it.
type SimFailure struct {
	Seed uint64
	Tick int64
	// Check names the checker: agreement, consistent-cut, conservation,
	// chain, buffers, double-sign, equivocation, divergence, liveness,
	// machine (an error from the system under test) or store.
	Check string
	Err   error
	// Trace holds the last trace lines before the failure.
	Trace []string
}

// Error implements error.
func (f *SimFailure) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "simulation seed=%d tick=%d: %s: %v\nreproduce: go test ./checkpoint/checkpointtest -run TestSimulation -sim.seed=%d",
		f.Seed, f.Tick, f.Check, f.Err, f.Seed)
	if len(f.Trace) > 0 {
		b.WriteString("\nlast events:\n  ")
		b.WriteString(strings.Join(f.Trace, "\n  "))
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (f *SimFailure) Unwrap() error { return f.Err }

// SimResult summarizes a passing run.
type SimResult struct {
	Seed       uint64
	Validators int
	Ticks      int64
	// FinalEpochs is the lowest last final epoch over all validators at the end.
	FinalEpochs uint64
	// LivenessTicks is how long the liveness phase took to finalize K
	// epochs, and LivenessBound the bound it had.
	LivenessTicks int64
	LivenessBound int64
	Txs           uint64
	Crashes       int
	Partitions    int
	Dropped       uint64
	Repairs       uint64
	// Wipes counts validators that lost their store and came back by
	// state sync.
	Wipes int
	// ReadBack counts the entries validators' shells read back from their
	// journals: at restart, and when the Machine's window refused them.
	ReadBack uint64
}

// simMessageKind says what a network message carries.
type simMessageKind uint8

const (
	simEntry simMessageKind = iota + 1
	simVote
	simRound
	simCertified
	simStatus
	simRepairRequest
	simRepairAnswer
)

// simNetMessage is one message copy in flight.
type simNetMessage struct {
	due      int64
	order    uint64 // tie-break: send order, so the heap is deterministic
	kind     simMessageKind
	from, to int
	entry    stream.Entry
	entries  []stream.Entry
	votes    []checkpoint.Vote
	rounds   []checkpoint.RoundMsg
	certs    []checkpoint.Certified
	gap      stream.Gap
	// delivered and lastFinal are a status: the sender's delivered vector
	// (its own entry is its outbox length) and its last final epoch.
	delivered []uint64
	lastFinal uint64
}

type simQueue []*simNetMessage

func (q simQueue) Len() int { return len(q) }
func (q simQueue) Less(i, j int) bool {
	if q[i].due != q[j].due {
		return q[i].due < q[j].due
	}
	return q[i].order < q[j].order
}
func (q simQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *simQueue) Push(x any)   { *q = append(*q, x.(*simNetMessage)) }
func (q *simQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

type simClient struct {
	key   *ecdsa.PrivateKey
	addr  ledger.Address
	nonce uint64 // next nonce the client will use
}

// LedgerSim is one seeded simulation. Create it with NewLedgerSim and call Run.
type LedgerSim struct {
	opts    SimOptions
	rng     *rand.Rand
	g       *ledger.Genesis
	keys    []*ecdsa.PrivateKey
	clients []simClient
	nodes   []*simValidator

	tick    int64
	healed  bool
	queue   simQueue
	order   uint64
	checker *simChecker

	partitioned   bool
	side          []bool
	partitionEnds int64

	// quorum watches the fault phase's liveness: the honest validators up
	// and connected with more than two thirds of the power (nil: none), and
	// since when neither they changed nor their highest final epoch moved.
	quorum      []int
	quorumFinal uint64
	quorumSince int64

	checkCache map[string]ledger.CheckedTx
	trace      []string
	result     SimResult
}

// simTraceLines is how many trace lines a failure shows.
const simTraceLines = 40

// simCheckCacheMax bounds the cache of checked transactions.
const simCheckCacheMax = 1 << 16

func simKey(seed uint64, kind string, i int) *ecdsa.PrivateKey {
	for salt := 0; ; salt++ {
		k, err := crypto.ToECDSA(crypto.Keccak256([]byte(fmt.Sprintf("ledgerd-sim/%d/%s/%d/%d", seed, kind, i, salt))))
		if err == nil {
			return k
		}
	}
}

// NewLedgerSim builds the cluster of opts: genesis, keys, clients and one
// validator shell per validator, all derived from opts.Seed.
func NewLedgerSim(opts SimOptions) (*LedgerSim, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	s := &LedgerSim{opts: opts, rng: rand.New(rand.NewPCG(opts.Seed, 0x51ed_1ed9)), checkCache: make(map[string]ledger.CheckedTx)}
	g := &ledger.Genesis{ChainID: "sim-chain", GenesisTimeMs: simGenesisTimeMs, EpochLengthMs: opts.EpochLengthMs,
		MaxEpochTxs: opts.MaxEpochTxs, FeeCollector: ledger.Address{0xfe, 0xe5}}
	for i := 0; i < opts.Clients; i++ {
		k := simKey(opts.Seed, "client", i)
		c := simClient{key: k, addr: crypto.PubkeyToAddress(k.PublicKey)}
		s.clients = append(s.clients, c)
		g.Alloc = append(g.Alloc, ledger.Alloc{Address: c.addr, Balance: simClientBalance})
	}
	for i := 0; i < opts.Validators; i++ {
		k := simKey(opts.Seed, "validator", i)
		s.keys = append(s.keys, k)
		g.Validators = append(g.Validators, ledger.Validator{Name: fmt.Sprintf("v%d", i),
			Address: crypto.PubkeyToAddress(k.PublicKey), PublicKey: crypto.CompressPubkey(&k.PublicKey), Power: 1})
	}
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("simulated genesis: %w", err)
	}
	s.g = g
	s.checker = newSimChecker(s)
	s.result = SimResult{Seed: opts.Seed, Validators: opts.Validators}
	span := int64(float64(opts.ClockSkewMs) * opts.ClockSkewFraction)
	for i := 0; i < opts.Validators; i++ {
		var skew int64
		if span > 0 {
			skew = s.rng.Int64N(span+1) - span/2
		}
		n := &simValidator{sim: s, index: i, skewMs: skew, store: newSimStore(opts.Validators)}
		s.nodes = append(s.nodes, n)
	}
	// The faulty ones: Byzantine from the start, dead at a random tick of
	// the fault phase's first half, distinct validators.
	faulty := s.rng.Perm(opts.Validators)[:opts.DeadValidators+opts.ByzantineValidators]
	for i, k := range faulty {
		if i < opts.ByzantineValidators {
			s.nodes[k].byzantine = true
		} else {
			s.nodes[k].diesAt = 1 + s.rng.Int64N(max(opts.FaultTicks/2, 1))
		}
	}
	for _, n := range s.nodes {
		if err := n.start(); err != nil {
			return nil, s.fail("machine", fmt.Errorf("start validator %d: %w", n.index, err))
		}
	}
	s.tracef("start: %d validators, %d clients, options %+v", opts.Validators, opts.Clients, s.knobs())
	return s, nil
}

// knobs is the options without the writer, for the trace.
func (s *LedgerSim) knobs() SimOptions {
	o := s.opts
	o.Trace = nil
	return o
}

// Genesis returns the simulated chain's genesis.
func (s *LedgerSim) Genesis() *ledger.Genesis { return s.g }

// Options returns the run's options.
func (s *LedgerSim) Options() SimOptions { return s.opts }

func (s *LedgerSim) tracef(format string, args ...any) {
	line := fmt.Sprintf("t=%d ", s.tick) + fmt.Sprintf(format, args...)
	if s.opts.Trace != nil {
		_, _ = io.WriteString(s.opts.Trace, line+"\n")
	}
	if len(s.trace) >= simTraceLines {
		copy(s.trace, s.trace[1:])
		s.trace = s.trace[:simTraceLines-1]
	}
	s.trace = append(s.trace, line)
}

func (s *LedgerSim) fail(check string, err error) *SimFailure {
	return &SimFailure{Seed: s.opts.Seed, Tick: s.tick, Check: check, Err: err, Trace: slices.Clone(s.trace)}
}

// chance reports true with probability p.
func (s *LedgerSim) chance(p float64) bool { return p > 0 && s.rng.Float64() < p }

// nowMs is validator i's clock.
func (s *LedgerSim) nowMs(i int) int64 {
	return simGenesisTimeMs + s.tick*s.opts.TickMs + s.nodes[i].skewMs
}

// Run runs the fault phase, heals everything, runs the liveness phase and
// the final checks. It returns a *SimFailure when a check fails.
func (s *LedgerSim) Run() (SimResult, error) {
	for s.tick = 1; s.tick <= s.opts.FaultTicks; s.tick++ {
		if err := s.step(); err != nil {
			return s.result, err
		}
	}
	s.heal()
	var target uint64
	for _, n := range s.nodes {
		if !n.byzantine {
			target = max(target, n.store.lastFinal())
		}
	}
	target += s.opts.LivenessEpochs
	bound, backlog := s.opts.LivenessTicksMax, s.backlog()
	if bound == 0 {
		bound = s.opts.DefaultLivenessTicks() + s.opts.CatchUpTicks(backlog)
	}
	s.tracef("heal: every validator must finalize epoch %d within %d ticks (largest backlog %d entries)", target, bound, backlog)
	start := s.tick
	for ; ; s.tick++ {
		if err := s.step(); err != nil {
			return s.result, err
		}
		done := true
		for _, n := range s.nodes {
			done = done && (n.dead || n.byzantine || n.store.lastFinal() >= target)
		}
		if done {
			break
		}
		if s.tick-start >= bound {
			var lag []string
			for _, n := range s.nodes {
				lag = append(lag, n.describe())
			}
			return s.result, s.fail("liveness", fmt.Errorf("not every validator finalized epoch %d within %d ticks after the heal: %s",
				target, bound, strings.Join(lag, "; ")))
		}
	}
	for _, n := range s.nodes {
		if n.up {
			s.result.ReadBack += n.sh.ReadBack()
		}
	}
	s.result.LivenessTicks = s.tick - start
	s.result.LivenessBound = bound
	s.result.Ticks = s.tick
	if err := s.checker.final(); err != nil {
		return s.result, err
	}
	s.result.FinalEpochs = ^uint64(0)
	for _, n := range s.nodes {
		s.result.FinalEpochs = min(s.result.FinalEpochs, n.store.lastFinal())
	}
	return s.result, nil
}

// backlog is the most entries one validator lacks of another's stream: a
// validator that was down for long, or restarted from an old head, must
// fetch them all by repair before it can execute the epochs after the heal.
func (s *LedgerSim) backlog() int {
	most := 0
	for _, v := range s.nodes {
		if v.dead {
			continue
		}
		for k, o := range s.nodes {
			if k != v.index {
				most = max(most, len(o.store.outbox)-len(v.store.delivered[k]))
			}
		}
	}
	return most
}

// heal ends the fault phase: partitions end, crashed validators restart,
// and from now on nothing is dropped, duplicated or crashed.
func (s *LedgerSim) heal() {
	s.healed = true
	s.partitioned = false
	for _, n := range s.nodes {
		if !n.up && !n.dead {
			n.downUntil = s.tick
		}
	}
}

// step advances the simulation by one tick.
func (s *LedgerSim) step() error {
	s.faults()
	for _, n := range s.nodes {
		if !n.up && s.tick >= n.downUntil {
			if n.wiped {
				if !s.canResync(n) {
					continue
				}
				if err := n.resync(); err != nil {
					return err
				}
			}
			if err := n.start(); err != nil {
				return err
			}
		}
	}
	if err := s.deliverDue(); err != nil {
		return err
	}
	for _, i := range s.rng.Perm(len(s.nodes)) {
		if n := s.nodes[i]; n.up {
			if err := n.onTick(); err != nil {
				return err
			}
		}
	}
	if err := s.submit(); err != nil {
		return err
	}
	if !s.healed {
		if err := s.watchQuorum(); err != nil {
			return err
		}
	}
	return s.checker.everyTick()
}

// faults starts and ends partitions and crashes validators.
func (s *LedgerSim) faults() {
	if s.healed {
		return
	}
	if s.partitioned && s.tick >= s.partitionEnds {
		s.partitioned = false
		s.tracef("partition healed")
	}
	if !s.partitioned && s.chance(s.opts.PartitionProbability) {
		s.partitioned = true
		s.partitionEnds = s.tick + 1 + s.rng.Int64N(s.opts.PartitionTicksMax)
		s.side = make([]bool, len(s.nodes))
		// A random non-trivial split: each validator on a random side,
		// validator 0 always on side false, at least one on side true.
		for i := 1; i < len(s.side); i++ {
			s.side[i] = s.rng.IntN(2) == 1
		}
		s.side[1+s.rng.IntN(len(s.side)-1)] = true
		s.result.Partitions++
		s.tracef("partition %v until t=%d", s.side, s.partitionEnds)
	}
	if !s.partitioned && s.chance(s.opts.MinorityPartitionProbability) {
		// A minority of 1 to f validators is cut off, for many epochs.
		s.partitioned = true
		s.partitionEnds = s.tick + 1 + s.rng.Int64N(s.opts.MinorityPartitionTicksMax)
		s.side = make([]bool, len(s.nodes))
		for _, k := range s.rng.Perm(len(s.nodes))[:1+s.rng.IntN(max(s.opts.Faulty(), 1))] {
			s.side[k] = true
		}
		s.result.Partitions++
		s.tracef("minority partition %v until t=%d", s.side, s.partitionEnds)
	}
	for _, n := range s.nodes {
		if n.diesAt != 0 && s.tick >= n.diesAt && !n.dead {
			n.dead = true
			if n.up {
				n.crash("for good")
			}
			n.downUntil = math.MaxInt64
			continue
		}
		if n.up && s.chance(s.opts.CrashProbability) {
			n.crash("between steps")
		}
		if n.up && !n.byzantine && n.diesAt == 0 && s.chance(s.opts.WipeProbability) && s.streamSettled(n) && !s.anyWiped() {
			n.crash("wiped: its store is lost")
			n.wiped = true
		}
	}
}

// watchQuorum checks the fault phase's liveness: while honest validators of
// more than two thirds of the power are up and connected, their highest
// final epoch must move within QuorumLivenessTicks. A change in who they
// are restarts the clock: a validator that joins may have to catch up.
func (s *LedgerSim) watchQuorum() error {
	var group []int
	for side := range 2 {
		var g []int
		for i, n := range s.nodes {
			if n.up && !n.byzantine && !n.dead && (!s.partitioned || s.side[i] == (side == 1)) {
				g = append(g, i)
			}
		}
		if 3*len(g) > 2*len(s.nodes) {
			group = g
		}
	}
	var final uint64
	for _, i := range group {
		final = max(final, s.nodes[i].store.lastFinal())
	}
	if !slices.Equal(group, s.quorum) || final != s.quorumFinal {
		s.quorum, s.quorumFinal, s.quorumSince = group, final, s.tick
		return nil
	}
	bound := s.opts.QuorumLivenessTicks
	if bound == 0 {
		bound = s.opts.DefaultQuorumLivenessTicks()
	}
	if group != nil && s.tick-s.quorumSince > bound {
		var lag []string
		for _, n := range s.nodes {
			lag = append(lag, n.describe())
		}
		return s.fail("liveness", fmt.Errorf("validators %v (up, honest, connected, more than two thirds) finalized nothing past epoch %d in %d ticks: %s",
			group, final, bound, strings.Join(lag, "; ")))
	}
	return nil
}

// linked reports whether a message can pass from a to b now.
func (s *LedgerSim) linked(a, b int) bool {
	return !s.partitioned || s.side[a] == s.side[b]
}

// send queues a message with a random delay; in the fault phase it may be
// dropped or duplicated.
func (s *LedgerSim) send(m *simNetMessage) error {
	drop := s.opts.EntryDropProbability
	if m.kind == simVote || m.kind == simRound || m.kind == simCertified {
		drop = s.opts.VoteDropProbability
		if s.opts.Mutation == MutationStallVotes && s.healed {
			drop = 1
		}
	}
	copies := 1
	if !s.healed {
		if s.chance(drop) {
			s.result.Dropped++
			copies = 0
		}
		if s.chance(s.opts.DuplicateProbability) {
			copies++
		}
	} else if drop == 1 {
		copies = 0
	}
	for c := 0; c < copies; c++ {
		if len(s.queue) >= simMaxNetworkMessages {
			return s.fail("buffers", fmt.Errorf("network holds %d messages", len(s.queue)))
		}
		cp := *m
		cp.due = s.tick + s.opts.DelayTicksMin + s.rng.Int64N(s.opts.DelayTicksMax-s.opts.DelayTicksMin+1)
		s.order++
		cp.order = s.order
		heap.Push(&s.queue, &cp)
	}
	return nil
}

// broadcast sends m from validator from to every other validator.
func (s *LedgerSim) broadcast(from int, m simNetMessage) error {
	for to := range s.nodes {
		if to == from {
			continue
		}
		m.from, m.to = from, to
		if err := s.send(&m); err != nil {
			return err
		}
	}
	return nil
}

// deliverDue hands every message due by now to its destination, if the
// destination is up and reachable; otherwise the message is lost.
func (s *LedgerSim) deliverDue() error {
	for len(s.queue) > 0 && s.queue[0].due <= s.tick {
		m := heap.Pop(&s.queue).(*simNetMessage)
		n := s.nodes[m.to]
		if !n.up || !s.linked(m.from, m.to) {
			s.result.Dropped++
			continue
		}
		if err := n.receive(m); err != nil {
			return err
		}
	}
	return nil
}

// checkTx decodes and checks one transaction, with a bounded cache: a
// shell checks each transaction once, in parallel, before the Machine.
func (s *LedgerSim) checkTx(raw []byte) (ledger.CheckedTx, bool) {
	if c, ok := s.checkCache[string(raw)]; ok {
		return c, true
	}
	tx, err := ledger.DecodeTx(raw)
	if err != nil {
		return ledger.CheckedTx{}, false
	}
	c := ledger.CheckTx(tx, s.g.ChainID)
	if len(s.checkCache) >= simCheckCacheMax {
		clear(s.checkCache)
	}
	s.checkCache[string(raw)] = c
	return c, true
}

// batchTxs returns the checked transactions of a batch entry (nil for a
// marker or an undecodable batch); undecodable transactions are left out, as
// the Machine expects. It is the validators' checkpoint.BatchChecker.
func (s *LedgerSim) batchTxs(e stream.Entry) []ledger.CheckedTx {
	if e.Kind != stream.KindBatch {
		return nil
	}
	raw, err := stream.DecodeBatch(e.Body)
	if err != nil {
		return nil
	}
	out := make([]ledger.CheckedTx, 0, len(raw))
	for _, b := range raw {
		if c, ok := s.checkTx(b); ok {
			out = append(out, c)
		}
	}
	return out
}

// submit lets a client submit a batch of 1 to 3 transfers through a random
// up validator; some are invalid, and a duplicate goes to a second one.
func (s *LedgerSim) submit() error {
	if !s.chance(s.opts.TxProbability) {
		return nil
	}
	var up []int
	for i, n := range s.nodes {
		if n.up {
			up = append(up, i)
		}
	}
	if len(up) == 0 {
		return nil
	}
	target := s.nodes[up[s.rng.IntN(len(up))]]
	count := 1 + s.rng.IntN(3)
	txs := make([]ledger.CheckedTx, 0, count)
	var duplicate *ledger.CheckedTx
	for i := 0; i < count; i++ {
		c := &s.clients[s.rng.IntN(len(s.clients))]
		if s.rng.IntN(64) == 0 {
			// Resynchronize with the most advanced validator's state: a
			// client whose transactions were lost in a crash otherwise
			// sends bad nonces forever.
			c.nonce = s.stateNonce(c.addr)
		}
		tx := ledger.Tx{ChainID: s.g.ChainID, Amount: 1 + s.rng.Uint64N(1000), Fee: s.rng.Uint64N(4), Nonce: c.nonce}
		if s.rng.IntN(4) == 0 {
			tx.To = s.g.Validators[s.rng.IntN(len(s.g.Validators))].Address
		} else {
			tx.To = s.clients[s.rng.IntN(len(s.clients))].addr
		}
		key := c.key
		kind := "valid"
		if s.chance(s.opts.InvalidTxProbability) {
			switch s.rng.IntN(6) {
			case 0:
				kind = "wrong-chain"
				tx.ChainID = "other-chain"
			case 1:
				kind = "bad-nonce"
				tx.Nonce += 1000 + s.rng.Uint64N(1000)
			case 2:
				kind = "overdraft"
				tx.Amount = simClientBalance * uint64(len(s.clients)+1)
			case 3:
				kind = "foreign-key"
				key = simKey(s.opts.Seed, "stranger", s.rng.IntN(4))
			case 4:
				kind = "bad-signature"
			case 5:
				kind = "duplicate"
			}
		}
		if kind == "valid" || kind == "duplicate" {
			c.nonce++ // a failed transfer does not consume its nonce
		}
		if err := tx.Sign(key); err != nil {
			return s.fail("machine", fmt.Errorf("sign client tx: %w", err))
		}
		if kind == "bad-signature" {
			tx.Sig[5] ^= 0x40
		}
		ct, ok := s.checkTx(tx.Encode())
		if !ok {
			return s.fail("machine", fmt.Errorf("client tx does not decode"))
		}
		if kind == "duplicate" {
			duplicate = &ct
		}
		txs = append(txs, ct)
		s.result.Txs++
	}
	if err := target.propose(txs); err != nil {
		return err
	}
	if duplicate != nil && len(up) > 1 {
		other := s.nodes[up[s.rng.IntN(len(up))]]
		if other.up {
			return other.propose([]ledger.CheckedTx{*duplicate})
		}
	}
	return nil
}

// stateNonce is addr's nonce at the validator with the highest head.
func (s *LedgerSim) stateNonce(addr ledger.Address) uint64 {
	var best *simValidator
	for _, n := range s.nodes {
		if n.up && (best == nil || n.store.headEpoch() > best.store.headEpoch()) {
			best = n
		}
	}
	if best == nil {
		return 0
	}
	acct, err := best.m().State().Account(addr)
	if err != nil {
		return 0
	}
	return acct.Nonce
}
