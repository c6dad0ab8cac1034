package checkpoint

import (
	"maps"
	"slices"
)

// This file is the agreement on one epoch's cut (docs/protocol.md,
// "Validators that stop"): Tendermint's rounds, locks and proofs of lock
// (Buchman, Kwon, Milosevic, "The latest gossip on BFT consensus",
// Algorithm 1) over CutValue, pure and driven by the Machine. Rounds below
// leaderlessRounds have no proposer: each validator's own candidate plays
// the proposal (in round 0 the cut of every present validator's marker,
// the fast path; in round 1 the same with missing markers closed). Later
// rounds have a rotating proposer, which makes the honest validators
// converge whatever they saw.
//
// Safety is Tendermint's: a validator precommits a value only after a
// quorum of prevotes for it in that round and then locks on it; it prevotes
// another value in a later round only given a quorum of prevotes for that
// value in a round at or after its lock; a value is decided by a quorum of
// precommits in one round. Two quorums of more than two thirds of the power
// share more than one third, so an honest validator, which would have had
// to break a rule, is in both. The numbering of the rules (L22, L28, …)
// follows the paper's Algorithm 1.

// leaderlessRounds is the number of rounds, from 0, without a proposer.
const leaderlessRounds = 2

// agreeStep is a validator's step within a round.
type agreeStep uint8

const (
	stepPropose agreeStep = iota
	stepPrevote
	stepPrecommit
)

// agreeConfig is what every agreement of a Machine shares.
type agreeConfig struct {
	self   uint32
	powers []uint64
	total  uint64
	// timeoutFirst is how long round 0 waits for its candidate (every
	// present validator's marker): the slow-path timeout, in ms.
	timeoutFirst int64
	// Every other timeout of round r is timeoutBase + r × timeoutStep ms.
	timeoutBase, timeoutStep int64
	// proposer names round r's proposer (r ≥ leaderlessRounds).
	proposer func(epoch uint64, round uint32) uint32
	// breakLock breaks the locking rule on purpose: prevotes ignore the
	// lock (tests show that the exploration and the simulator catch it).
	breakLock bool
}

func (c *agreeConfig) timeout(round uint32) int64 {
	return c.timeoutBase + int64(min(round, 1000))*c.timeoutStep
}

// quorum reports whether power is more than two thirds of the total.
func (c *agreeConfig) quorum(power uint64) bool { return 3*power > 2*c.total }

// third reports whether power is more than a third of the total: it holds
// at least one honest validator.
func (c *agreeConfig) third(power uint64) bool { return 3*power > c.total }

// agreeEnv is what an agreement asks the Machine.
type agreeEnv interface {
	// candidate is the value this validator would propose in round, or nil
	// while it has none (round 0: not every present marker yet).
	candidate(round uint32) *CutValue
	// valid reports whether this validator can execute v: it has delivered
	// every marker v names, with the same stream content. It never turns
	// false once true.
	valid(v *CutValue) bool
}

// agreeRound is what one round collected.
type agreeRound struct {
	proposal   *RoundMsg
	prevotes   map[uint32]*RoundMsg
	precommits map[uint32]*RoundMsg
	// The rules that fire once per round.
	prevoteTimer, precommitTimer, lockedHere bool
}

// agreement is one validator's instance of the agreement on one epoch.
type agreement struct {
	cfg     *agreeConfig
	epoch   uint64
	started bool
	nowMs   int64
	round   uint32
	step    agreeStep
	// locked and valid follow the paper: the value this validator
	// precommitted last (and its round), and the last value it saw a quorum
	// of prevotes for.
	locked      *CutValue
	lockedRound int32
	validValue  *CutValue
	validRound  int32
	decision    *CutValue
	// decidedIn is the round of the decision's quorum of precommits; -1
	// when the decision came from a certified checkpoint.
	decidedIn int32
	rounds    map[uint32]*agreeRound
	// Timers of the current round (Unix ms; 0 when not armed).
	proposeAt, prevoteAt, precommitAt int64
	// out are this validator's new messages, unsigned, for the Machine.
	out []RoundMsg
	// resumed is set when resume restored own messages.
	resumed bool
}

func newAgreement(cfg *agreeConfig, epoch uint64) *agreement {
	return &agreement{cfg: cfg, epoch: epoch, lockedRound: -1, validRound: -1, rounds: map[uint32]*agreeRound{}}
}

func (a *agreement) roundState(r uint32) *agreeRound {
	rs := a.rounds[r]
	if rs == nil {
		rs = &agreeRound{prevotes: map[uint32]*RoundMsg{}, precommits: map[uint32]*RoundMsg{}}
		a.rounds[r] = rs
	}
	return rs
}

// leaderless reports whether round r has no proposer.
func leaderless(r uint32) bool { return r < leaderlessRounds }

// start begins the agreement at nowMs; the Machine calls it once the
// epoch's present validators are known. Round 0 waits for its candidate
// until timeoutFirst after since, when this validator's snapshot of the
// epoch began. After resume it continues the restored round and step.
func (a *agreement) start(nowMs, since int64, env agreeEnv) {
	if a.started {
		return
	}
	a.started = true
	a.advanceClock(nowMs)
	switch {
	case a.resumed:
		if a.step == stepPropose {
			a.proposeAt = a.nowMs + a.cfg.timeout(a.round)
		}
	default:
		a.startRound(0, env)
		a.proposeAt = since + a.cfg.timeoutFirst
	}
	a.check(env)
}

// add records a received (or restored) message; it reports whether m
// counts now. The first message of a validator of each kind in each round
// counts. A later different one is equivocation: it replaces the first only
// when it completes a quorum for its value. Honest validators may have
// decided on that quorum (the equivocator sent them the other message);
// ignoring it would leave this validator unable to ever see the decision.
// At most one value reaches a quorum of a kind in a round while at most a
// third of the power equivocates, so one message per validator suffices.
func (a *agreement) add(m *RoundMsg) bool {
	if !a.admit(m) {
		return false
	}
	rs := a.roundState(m.Round)
	var msgs map[uint32]*RoundMsg
	switch m.Kind {
	case Proposal:
		if rs.proposal != nil || leaderless(m.Round) || m.Validator != a.cfg.proposer(a.epoch, m.Round) {
			return false
		}
		rs.proposal = m
		return true
	case Prevote:
		msgs = rs.prevotes
	case Precommit:
		msgs = rs.precommits
	default:
		return false
	}
	old := msgs[m.Validator]
	msgs[m.Validator] = m
	if old != nil && (m.Value == nil || old.Value.Equal(m.Value) || !a.quorumFor(msgs, m.Value)) {
		msgs[m.Validator] = old
		return false
	}
	return true
}

// futureRounds bounds, per validator, the rounds beyond the next one in
// which its messages are kept. An honest validator ahead of this one moves
// up round by round, and its latest rounds are what pulls this one up
// (L55); a Byzantine one cannot fill memory with rounds.
const futureRounds = 2

// admit applies the futureRounds bound to a peer's message: a message for
// a round beyond the next is kept if its sender has messages in fewer than
// futureRounds other such rounds, or if its round is above them all (the
// sender's messages of the lowest one go).
func (a *agreement) admit(m *RoundMsg) bool {
	if m.Validator == a.cfg.self || uint64(m.Round) <= uint64(a.round)+1 {
		return true
	}
	var ahead []uint32
	for r, rs := range a.rounds {
		if uint64(r) > uint64(a.round)+1 && r != m.Round && rs.from(m.Validator) {
			ahead = append(ahead, r)
		}
	}
	if len(ahead) < futureRounds {
		return true
	}
	low := slices.Min(ahead)
	if m.Round < low {
		return false
	}
	rs := a.rounds[low]
	if rs.proposal != nil && rs.proposal.Validator == m.Validator {
		rs.proposal = nil
	}
	delete(rs.prevotes, m.Validator)
	delete(rs.precommits, m.Validator)
	if rs.proposal == nil && len(rs.prevotes) == 0 && len(rs.precommits) == 0 {
		delete(a.rounds, low)
	}
	return true
}

// from reports whether the round holds a message of validator k.
func (rs *agreeRound) from(k uint32) bool {
	return rs.proposal != nil && rs.proposal.Validator == k || rs.prevotes[k] != nil || rs.precommits[k] != nil
}

// receive hands the agreement a peer's verified message; it reports
// whether the message counts (and is worth keeping).
func (a *agreement) receive(m *RoundMsg, env agreeEnv) bool {
	if !a.add(m) {
		return false
	}
	a.check(env)
	return true
}

func (a *agreement) advanceClock(nowMs int64) {
	if nowMs > a.nowMs {
		a.nowMs = nowMs
	}
}

// tick advances the clock and fires the current round's due timeouts.
func (a *agreement) tick(nowMs int64, env agreeEnv) {
	a.advanceClock(nowMs)
	if !a.started {
		a.check(env)
		return
	}
	for _, t := range []agreeTimer{timerPropose, timerPrevote, timerPrecommit} {
		if at := *a.timer(t); at != 0 && a.nowMs >= at {
			a.fire(t, env)
		}
	}
	a.check(env)
}

// agreeTimer names one of a round's timeouts.
type agreeTimer uint8

const (
	timerPropose agreeTimer = iota
	timerPrevote
	timerPrecommit
)

func (a *agreement) timer(t agreeTimer) *int64 {
	switch t {
	case timerPropose:
		return &a.proposeAt
	case timerPrevote:
		return &a.prevoteAt
	}
	return &a.precommitAt
}

// fire runs timeout t of the current round (OnTimeoutPropose,
// OnTimeoutPrevote, OnTimeoutPrecommit) and disarms it.
func (a *agreement) fire(t agreeTimer, env agreeEnv) {
	*a.timer(t) = 0
	switch {
	case t == timerPropose && a.step == stepPropose:
		a.send(Prevote, nil, -1)
		a.step = stepPrevote
	case t == timerPrevote && a.step == stepPrevote:
		a.send(Precommit, nil, -1)
		a.step = stepPrecommit
	case t == timerPrecommit:
		a.startRound(a.round+1, env)
	}
}

// startRound enters round r (StartRound): a proposer proposes, everyone
// else waits for the proposal (or, without a proposer, for its own
// candidate) until timeoutPropose.
func (a *agreement) startRound(r uint32, env agreeEnv) {
	a.round, a.step = r, stepPropose
	a.prevoteAt, a.precommitAt = 0, 0
	a.proposeAt = a.nowMs + a.cfg.timeout(r)
	if !leaderless(r) && a.cfg.proposer(a.epoch, r) == a.cfg.self {
		v, vr := a.validValue, a.validRound
		if v == nil {
			v, vr = env.candidate(r), -1
		}
		if v != nil {
			a.send(Proposal, v, vr)
		}
	}
}

// send records this validator's message as received and queues it.
func (a *agreement) send(kind RoundKind, v *CutValue, validRound int32) {
	m := RoundMsg{Kind: kind, Epoch: a.epoch, Round: a.round, Validator: a.cfg.self, ValidRound: validRound, Value: v.Clone()}
	if a.add(&m) {
		a.out = append(a.out, m)
	}
}

// takeOut returns and clears the messages to send.
func (a *agreement) takeOut() []RoundMsg {
	out := a.out
	a.out = nil
	return out
}

// check applies every rule until none applies.
func (a *agreement) check(env agreeEnv) {
	for a.checkOnce(env) {
	}
}

func (a *agreement) checkOnce(env agreeEnv) bool {
	if a.decision == nil {
		for _, r := range slices.Sorted(maps.Keys(a.rounds)) { // L49
			if v := a.quorumValue(a.rounds[r].precommits); v != nil {
				a.decision, a.decidedIn = v.Clone(), int32(r)
				return true
			}
		}
	}
	if !a.started || a.decision != nil {
		return false
	}
	if r, ok := a.skipTo(); ok { // L55
		a.startRound(r, env)
		return true
	}
	rs := a.roundState(a.round)
	if a.step == stepPropose && a.prevoteProposal(rs, env) {
		return true
	}
	if a.step == stepPrevote && !rs.prevoteTimer && a.quorumAny(rs.prevotes) { // L34
		rs.prevoteTimer = true
		a.prevoteAt = a.nowMs + a.cfg.timeout(a.round)
		return true
	}
	if a.step >= stepPrevote && !rs.lockedHere { // L36
		if v := a.quorumValue(rs.prevotes); v != nil && (leaderless(a.round) || rs.proposal != nil && rs.proposal.Value.Equal(v)) && env.valid(v) {
			rs.lockedHere = true
			if a.step == stepPrevote {
				a.locked, a.lockedRound = v.Clone(), int32(a.round)
				a.send(Precommit, v, -1)
				a.step = stepPrecommit
			}
			a.validValue, a.validRound = v.Clone(), int32(a.round)
			return true
		}
	}
	if a.step == stepPrevote && a.quorumNil(rs.prevotes) { // L44
		a.send(Precommit, nil, -1)
		a.step = stepPrecommit
		return true
	}
	if !rs.precommitTimer && a.quorumAny(rs.precommits) { // L47
		rs.precommitTimer = true
		if a.noValueCanWin(rs.precommits) {
			// No value can reach a quorum of precommits in this round any
			// more: waiting for the rest is pointless.
			a.startRound(a.round+1, env)
		} else {
			a.precommitAt = a.nowMs + a.cfg.timeout(a.round)
		}
		return true
	}
	return false
}

// prevoteProposal applies L22 and L28 (and, without a proposer, prevotes
// the own candidate); it reports whether the validator prevoted.
func (a *agreement) prevoteProposal(rs *agreeRound, env agreeEnv) bool {
	if leaderless(a.round) {
		v := a.validValue
		if v == nil || a.cfg.breakLock {
			v = env.candidate(a.round)
		}
		if v == nil {
			return false
		}
		// validValue has a quorum of prevotes at or after the lock, and a
		// validator without a lock may prevote its candidate: both are
		// what an honest proposer would propose and everyone accept.
		a.send(Prevote, v, -1)
		a.step = stepPrevote
		return true
	}
	p := rs.proposal
	if p == nil {
		return false
	}
	v, vr := p.Value, p.ValidRound
	switch {
	case vr == -1: // L22
		if env.valid(v) && (a.lockedRound == -1 || a.locked.Equal(v) || a.cfg.breakLock) {
			a.send(Prevote, v, -1)
		} else {
			a.send(Prevote, nil, -1)
		}
	case vr < int32(a.round) && a.quorumFor(a.roundState(uint32(vr)).prevotes, v): // L28
		if env.valid(v) && (a.lockedRound <= vr || a.locked.Equal(v) || a.cfg.breakLock) {
			a.send(Prevote, v, -1)
		} else {
			a.send(Prevote, nil, -1)
		}
	default:
		return false
	}
	a.step = stepPrevote
	return true
}

// skipTo is the highest round above the current one in which validators
// of more than a third of the power sent a message (L55).
func (a *agreement) skipTo() (uint32, bool) {
	best, ok := uint32(0), false
	for r, rs := range a.rounds {
		if r <= a.round || (ok && r <= best) {
			continue
		}
		senders := map[uint32]bool{}
		if rs.proposal != nil {
			senders[rs.proposal.Validator] = true
		}
		for k := range rs.prevotes {
			senders[k] = true
		}
		for k := range rs.precommits {
			senders[k] = true
		}
		var power uint64
		for k := range senders {
			power += a.cfg.powers[k]
		}
		if a.cfg.third(power) {
			best, ok = r, true
		}
	}
	return best, ok
}

func (a *agreement) power(msgs map[uint32]*RoundMsg, match func(*RoundMsg) bool) uint64 {
	var p uint64
	for k, m := range msgs {
		if match(m) {
			p += a.cfg.powers[k]
		}
	}
	return p
}

func (a *agreement) quorumAny(msgs map[uint32]*RoundMsg) bool {
	return a.cfg.quorum(a.power(msgs, func(*RoundMsg) bool { return true }))
}

func (a *agreement) quorumNil(msgs map[uint32]*RoundMsg) bool {
	return a.cfg.quorum(a.power(msgs, func(m *RoundMsg) bool { return m.Value == nil }))
}

func (a *agreement) quorumFor(msgs map[uint32]*RoundMsg, v *CutValue) bool {
	return a.cfg.quorum(a.power(msgs, func(m *RoundMsg) bool { return m.Value.Equal(v) }))
}

// quorumValue is the value with a quorum among msgs, if any (at most one
// can have it).
func (a *agreement) quorumValue(msgs map[uint32]*RoundMsg) *CutValue {
	for _, m := range msgs {
		if m.Value != nil && a.quorumFor(msgs, m.Value) {
			return m.Value
		}
	}
	return nil
}

// noValueCanWin reports whether no value can still reach a quorum of msgs:
// the power of the best value plus everyone who has not sent stays short.
func (a *agreement) noValueCanWin(msgs map[uint32]*RoundMsg) bool {
	sent := a.power(msgs, func(*RoundMsg) bool { return true })
	var best uint64
	for _, m := range msgs {
		if m.Value != nil {
			best = max(best, a.power(msgs, func(o *RoundMsg) bool { return o.Value.Equal(m.Value) }))
		}
	}
	return !a.cfg.quorum(best + (a.cfg.total - sent))
}

// resume restores this validator's own messages after a restart, before
// start: it never sends a second, different message of a kind in a round,
// and keeps the lock of its last non-nil precommit.
func (a *agreement) resume(own []RoundMsg) {
	for i := range own {
		m := own[i]
		if !a.add(&m) {
			continue
		}
		a.resumed = true
		if m.Round > a.round || (m.Round == a.round && a.step < stepOf(m.Kind)) {
			a.round, a.step = m.Round, stepOf(m.Kind)
		}
		if m.Kind == Precommit && m.Value != nil && int32(m.Round) > a.lockedRound {
			a.locked, a.lockedRound = m.Value.Clone(), int32(m.Round)
			a.validValue, a.validRound = m.Value.Clone(), int32(m.Round)
		}
	}
}

func stepOf(k RoundKind) agreeStep {
	switch k {
	case Prevote:
		return stepPrevote
	case Precommit:
		return stepPrecommit
	}
	return stepPropose
}

// has reports whether m, field for field, is a message already recorded.
func (a *agreement) has(m *RoundMsg) bool {
	rs := a.rounds[m.Round]
	if rs == nil {
		return false
	}
	var old *RoundMsg
	switch m.Kind {
	case Proposal:
		old = rs.proposal
	case Prevote:
		old = rs.prevotes[m.Validator]
	case Precommit:
		old = rs.precommits[m.Validator]
	}
	return old != nil && old.Validator == m.Validator && old.Sig == m.Sig && old.ValidRound == m.ValidRound && old.Value.Equal(m.Value)
}
