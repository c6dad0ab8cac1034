package checkpointtest

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
)

// This file holds the knobs of the seeded ledger simulator (simledger.go):
// every fault and timing parameter is named with its unit, and
// SwarmOptions lets the seed pick the fault mix, TigerBeetle-VOPR style.

// ErrSimOptions is returned by SimOptions.Validate for an impossible setting.
var ErrSimOptions = errors.New("checkpointtest: invalid simulation options")

// Mutation deliberately breaks the system under test, to prove that the
// simulator's checkers fail when they should.
type Mutation uint8

const (
	// MutationNone runs the real system.
	MutationNone Mutation = iota
	// MutationMarkerOvertakes is a network that breaks FIFO for markers: a
	// MARKER entry that arrives ahead of earlier entries of its origin is
	// handed to the Machine at once, bypassing the Sequencer.
	MutationMarkerOvertakes
	// MutationCorruptState changes validator 0's ledger state behind its
	// Machine's back (a corrupted disk): its next header differs.
	MutationCorruptState
	// MutationInflateSupply starts validator 0 from a genesis state with an
	// extra allocation, so its executed state holds more than the supply.
	MutationInflateSupply
	// MutationStallVotes keeps dropping every vote after the heal, so no
	// epoch can become final in the liveness phase.
	MutationStallVotes
	// MutationBreakLock breaks the agreement's locking rule: an honest
	// validator prevotes a proposal whatever it locked.
	MutationBreakLock
)

var mutationNames = [...]string{"none", "marker-overtakes", "corrupt-state", "inflate-supply", "stall-votes", "break-lock"}

// String returns the mutation's name.
func (m Mutation) String() string {
	if int(m) < len(mutationNames) {
		return mutationNames[m]
	}
	return fmt.Sprintf("mutation(%d)", uint8(m))
}

// SimOptions configures one run of the ledger simulator. Probabilities are
// in [0, 1]; durations are in simulator ticks of TickMs milliseconds unless
// the name ends in Ms. Fault knobs act only in the fault phase; the
// liveness phase heals everything.
type SimOptions struct {
	// Seed drives every random choice of the run.
	Seed uint64
	// Validators is the number of validators, 4 to 10.
	Validators int
	// Clients is the number of client accounts submitting transfers.
	Clients int
	// TickMs is the simulated time one tick advances every clock.
	TickMs int64
	// EpochLengthMs is the genesis epoch length.
	EpochLengthMs uint64
	// MaxEpochTxs is the genesis transaction bound that closes an epoch early.
	MaxEpochTxs uint64
	// MaxEpochsInFlight is the Machine's bound on recorded, unexecuted epochs.
	MaxEpochsInFlight int
	// ClockSkewMs is the Machine's clock guard; node clocks are offset by at
	// most ±ClockSkewMs×ClockSkewFraction/2, so two clocks differ by at most
	// ClockSkewMs×ClockSkewFraction.
	ClockSkewMs       int64
	ClockSkewFraction float64
	// DelayTicksMin and DelayTicksMax bound each message's one-way delay,
	// drawn uniformly and independently per copy (so messages reorder
	// across and within origins whenever DelayTicksMax > DelayTicksMin).
	DelayTicksMin, DelayTicksMax int64
	// EntryDropProbability drops a stream entry, status or repair message.
	EntryDropProbability float64
	// VoteDropProbability drops a vote message.
	VoteDropProbability float64
	// DuplicateProbability sends a second copy of a message.
	DuplicateProbability float64
	// PartitionProbability starts a partition at a tick when none is active;
	// it lasts 1 to PartitionTicksMax ticks, then heals.
	PartitionProbability float64
	PartitionTicksMax    int64
	// CrashProbability crashes an up validator at a tick (kill -9 between
	// steps); CrashInReadyProbability crashes it while it carries out a
	// Ready, before one of its effects (each write, sync and send, chosen
	// uniformly) or after the last.
	CrashProbability        float64
	CrashInReadyProbability float64
	// DownTicksMax bounds how long a crashed validator stays down (at least 1).
	DownTicksMax int64
	// WipeProbability crashes an up, honest validator at a tick and loses
	// its whole store: it comes back by the node's state sync (the latest
	// final state of a peer, its own stream and round messages recovered
	// from the peers), once what the node's recovery assumes holds.
	WipeProbability float64
	// DeadValidators crash at a random tick of the fault phase and never
	// come back, not even after the heal; ByzantineValidators misbehave
	// from the start (byzantine.go). Together at most f = (n-1)/3.
	DeadValidators, ByzantineValidators int
	// MinorityPartitionProbability starts, at a tick when no partition is
	// active, a partition that cuts 1 to f validators off from the others
	// for 1 to MinorityPartitionTicksMax ticks (many epochs): the others
	// must go on finalizing meanwhile.
	MinorityPartitionProbability float64
	MinorityPartitionTicksMax    int64
	// TxProbability is the chance per tick that a client submits a batch.
	TxProbability float64
	// InvalidTxProbability is the chance that a submitted transaction is
	// invalid (bad signature, wrong chain, bad nonce, overdraft, duplicate).
	InvalidTxProbability float64
	// GapTimeoutTicks is the Sequencer's gap timeout: repair is requested
	// after an origin was behind this long without progress.
	GapTimeoutTicks int64
	// RepairMaxEntries bounds the entries of one repair answer.
	RepairMaxEntries int
	// StatusIntervalTicks: each validator broadcasts its delivered vector
	// and last final epoch this often (peers learn missing tails from it and
	// answer with certificates it lacks).
	StatusIntervalTicks int64
	// VoteResendIntervalTicks: each validator re-broadcasts its stored votes
	// for epochs not yet final at it this often.
	VoteResendIntervalTicks int64
	// FaultTicks is the length of the fault phase.
	FaultTicks int64
	// LivenessEpochs is K: after the heal every validator must finalize K
	// epochs beyond the highest final epoch at the heal.
	LivenessEpochs uint64
	// LivenessTicksMax is the bound for that; 0 means DefaultLivenessTicks
	// plus CatchUpTicks of the largest backlog at the heal.
	LivenessTicksMax int64
	// QuorumLivenessTicks bounds, in the fault phase, how long honest
	// validators of more than two thirds of the power that are up and
	// connected may go without a new final epoch; 0 means
	// DefaultQuorumLivenessTicks.
	QuorumLivenessTicks int64
	// Mutation breaks the system on purpose (tests of the checkers).
	Mutation Mutation
	// Trace, if set, receives a line per notable event (verbose replay).
	Trace io.Writer
}

// Simulator limits that are not knobs.
const (
	simMaxValidators = 10
	simMinValidators = 4
	// simSequencerWindow is the Sequencer hold-back window (entries).
	simSequencerWindow = 256
	// simMaxNetworkMessages bounds messages in flight in the simulated network.
	simMaxNetworkMessages = 1 << 18
	// simCertEpochsPerStatus bounds the certificates sent in answer to one status.
	simCertEpochsPerStatus = 8
)

// DefaultLivenessTicks is the liveness bound used when LivenessTicksMax is
// 0: K epochs plus the epochs a lagging validator may have to catch up
// (MaxEpochsInFlight + 3, each one epoch length), plus ten repair rounds
// (gap timeout and two worst-case delays each) and two vote re-sends.
func (o SimOptions) DefaultLivenessTicks() int64 {
	epochTicks := (int64(o.EpochLengthMs) + o.TickMs - 1) / o.TickMs
	return (int64(o.LivenessEpochs)+int64(o.MaxEpochsInFlight)+3)*epochTicks +
		10*(o.GapTimeoutTicks+2*o.DelayTicksMax) + 2*o.VoteResendIntervalTicks + 2*o.StatusIntervalTicks
}

// Faulty is f, the most validators that may be dead or Byzantine.
func (o SimOptions) Faulty() int { return (o.Validators - 1) / 3 }

// DefaultQuorumLivenessTicks is the bound of the fault phase's liveness
// check: the slow-path timeout, three rounds of the agreement (each two
// round timeouts and two worst-case delays), four epochs, ten repair
// rounds, two vote and status re-sends.
func (o SimOptions) DefaultQuorumLivenessTicks() int64 {
	ticks := func(ms int64) int64 { return (ms + o.TickMs - 1) / o.TickMs }
	epochTicks := ticks(int64(o.EpochLengthMs))
	return ticks(simSlowPathMs(o)) + 3*(2*ticks(simRoundTimeoutMs(o)+2*simRoundStepMs(o))+2*o.DelayTicksMax) +
		4*epochTicks + 10*(o.GapTimeoutTicks+2*o.DelayTicksMax) + 2*o.VoteResendIntervalTicks + 2*o.StatusIntervalTicks
}

// The agreement's timeouts in the simulation, in ms: scaled to the epoch.
func simSlowPathMs(o SimOptions) int64 { return int64(o.EpochLengthMs) }
func simRoundTimeoutMs(o SimOptions) int64 {
	return max(int64(o.EpochLengthMs)/4, 4*o.TickMs*o.DelayTicksMax)
}
func simRoundStepMs(o SimOptions) int64 { return int64(o.EpochLengthMs) / 10 }

// CatchUpTicks is the time repair needs to fetch backlog entries of one
// origin at RepairMaxEntries per answer: one repair round (gap timeout and
// two worst-case delays) per answer. Origins are repaired in parallel.
func (o SimOptions) CatchUpTicks(backlog int) int64 {
	rounds := (max(backlog, 0) + o.RepairMaxEntries - 1) / o.RepairMaxEntries
	return int64(rounds) * (o.GapTimeoutTicks + 2*o.DelayTicksMax)
}

// Validate checks the options.
func (o SimOptions) Validate() error {
	prob := func(name string, p float64) error {
		if p < 0 || p > 1 || p != p {
			return fmt.Errorf("%w: %s %v not in [0, 1]", ErrSimOptions, name, p)
		}
		return nil
	}
	for _, c := range []struct {
		name string
		p    float64
	}{{"ClockSkewFraction", o.ClockSkewFraction}, {"EntryDropProbability", o.EntryDropProbability},
		{"VoteDropProbability", o.VoteDropProbability}, {"DuplicateProbability", o.DuplicateProbability},
		{"PartitionProbability", o.PartitionProbability}, {"CrashProbability", o.CrashProbability},
		{"CrashInReadyProbability", o.CrashInReadyProbability}, {"TxProbability", o.TxProbability},
		{"MinorityPartitionProbability", o.MinorityPartitionProbability}, {"WipeProbability", o.WipeProbability},
		{"InvalidTxProbability", o.InvalidTxProbability}} {
		if err := prob(c.name, c.p); err != nil {
			return err
		}
	}
	switch {
	case o.Validators < simMinValidators || o.Validators > simMaxValidators:
		return fmt.Errorf("%w: %d validators not in [%d, %d]", ErrSimOptions, o.Validators, simMinValidators, simMaxValidators)
	case o.Clients < 1 || o.Clients > 64:
		return fmt.Errorf("%w: %d clients not in [1, 64]", ErrSimOptions, o.Clients)
	case o.TickMs < 1:
		return fmt.Errorf("%w: TickMs %d < 1", ErrSimOptions, o.TickMs)
	case o.EpochLengthMs < uint64(o.TickMs):
		return fmt.Errorf("%w: EpochLengthMs %d shorter than a tick", ErrSimOptions, o.EpochLengthMs)
	case o.MaxEpochTxs < 1:
		return fmt.Errorf("%w: MaxEpochTxs 0", ErrSimOptions)
	case o.MaxEpochsInFlight < 1 || o.MaxEpochsInFlight > 64:
		return fmt.Errorf("%w: MaxEpochsInFlight %d not in [1, 64]", ErrSimOptions, o.MaxEpochsInFlight)
	case o.ClockSkewMs < 0:
		return fmt.Errorf("%w: negative ClockSkewMs", ErrSimOptions)
	case o.DelayTicksMin < 1 || o.DelayTicksMax < o.DelayTicksMin:
		return fmt.Errorf("%w: delay [%d, %d] ticks", ErrSimOptions, o.DelayTicksMin, o.DelayTicksMax)
	case o.PartitionTicksMax < 1 || o.DownTicksMax < 1 || o.MinorityPartitionTicksMax < 1:
		return fmt.Errorf("%w: PartitionTicksMax, MinorityPartitionTicksMax and DownTicksMax must be >= 1", ErrSimOptions)
	case o.DeadValidators < 0 || o.ByzantineValidators < 0 || o.DeadValidators+o.ByzantineValidators > o.Faulty():
		return fmt.Errorf("%w: %d dead and %d Byzantine of %d validators (f = %d)", ErrSimOptions, o.DeadValidators,
			o.ByzantineValidators, o.Validators, o.Faulty())
	case o.QuorumLivenessTicks < 0:
		return fmt.Errorf("%w: negative QuorumLivenessTicks", ErrSimOptions)
	case o.GapTimeoutTicks < 1 || o.RepairMaxEntries < 1 || o.StatusIntervalTicks < 1 || o.VoteResendIntervalTicks < 1:
		return fmt.Errorf("%w: gap timeout, repair size, status and resend intervals must be >= 1", ErrSimOptions)
	case o.FaultTicks < 0 || o.LivenessTicksMax < 0:
		return fmt.Errorf("%w: negative phase length", ErrSimOptions)
	case o.LivenessEpochs < 1:
		return fmt.Errorf("%w: LivenessEpochs 0", ErrSimOptions)
	case int(o.Mutation) >= len(mutationNames):
		return fmt.Errorf("%w: %v", ErrSimOptions, o.Mutation)
	}
	return nil
}

// DefaultSimOptions returns a moderate, fault-free configuration: 4
// validators, 10 ms ticks, 200 ms epochs, 1–3 tick delays.
func DefaultSimOptions(seed uint64) SimOptions {
	return SimOptions{
		Seed: seed, Validators: 4, Clients: 4, TickMs: 10, EpochLengthMs: 200, MaxEpochTxs: 1000,
		MaxEpochsInFlight: 4, ClockSkewMs: 100, ClockSkewFraction: 1,
		DelayTicksMin: 1, DelayTicksMax: 3,
		PartitionTicksMax: 1, DownTicksMax: 1, MinorityPartitionTicksMax: 1,
		TxProbability: 0.3, GapTimeoutTicks: 5, RepairMaxEntries: 64,
		StatusIntervalTicks: 10, VoteResendIntervalTicks: 20,
		FaultTicks: 600, LivenessEpochs: 3,
	}
}

// SwarmOptions lets the seed pick the cluster size and the fault mix (swarm
// testing): each knob is drawn from a small menu that includes "off", so
// some seeds stress one fault hard while others combine many.
func SwarmOptions(seed uint64) SimOptions {
	r := rand.New(rand.NewPCG(seed, 0x5eed_5a41))
	pick := func(menu ...float64) float64 { return menu[r.IntN(len(menu))] }
	pickInt := func(menu ...int64) int64 { return menu[r.IntN(len(menu))] }
	o := DefaultSimOptions(seed)
	o.Validators = simMinValidators + r.IntN(simMaxValidators-simMinValidators+1)
	o.Clients = 2 + r.IntN(6)
	o.EpochLengthMs = uint64(pickInt(100, 200, 500))
	o.MaxEpochTxs = uint64(pickInt(4, 16, 1000))
	o.MaxEpochsInFlight = int(pickInt(1, 2, 4, 8))
	o.ClockSkewMs = pickInt(0, 50, 200)
	o.ClockSkewFraction = pick(0, 0.5, 1)
	o.DelayTicksMin = pickInt(1, 1, 2)
	o.DelayTicksMax = o.DelayTicksMin + pickInt(0, 2, 5, 20)
	o.EntryDropProbability = pick(0, 0, 0.01, 0.05, 0.2)
	o.VoteDropProbability = pick(0, 0.05, 0.3)
	o.DuplicateProbability = pick(0, 0.02, 0.2)
	o.PartitionProbability = pick(0, 0, 0.002, 0.01)
	o.PartitionTicksMax = pickInt(20, 100, 300)
	o.CrashProbability = pick(0, 0, 0.0005, 0.002)
	o.CrashInReadyProbability = pick(0, 0.001, 0.01)
	o.DownTicksMax = pickInt(5, 50, 200)
	o.TxProbability = pick(0.05, 0.3, 1)
	o.InvalidTxProbability = pick(0, 0.2, 0.5)
	o.GapTimeoutTicks = pickInt(3, 5, 20)
	o.RepairMaxEntries = int(pickInt(8, 64))
	o.StatusIntervalTicks = pickInt(5, 20)
	o.VoteResendIntervalTicks = pickInt(10, 40)
	o.FaultTicks = pickInt(300, 600, 1200)
	o.MinorityPartitionProbability = pick(0, 0, 0.002, 0.005)
	o.MinorityPartitionTicksMax = pickInt(100, 400, 1000)
	o.WipeProbability = pick(0, 0, 0.0003, 0.001)
	switch f := o.Faulty(); r.IntN(4) {
	case 1:
		o.DeadValidators = 1 + r.IntN(f)
	case 2:
		o.ByzantineValidators = 1
	case 3:
		o.ByzantineValidators = 1
		o.DeadValidators = r.IntN(f)
	}
	return o
}
