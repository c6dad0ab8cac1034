package checkpoint

import (
	"encoding/binary"
	"flag"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd/ledger"
)

var (
	exploreDepth  = flag.Int("explore.depth", 0, "depth of the exhaustive agreement exploration (0: the default, 4, 3 with -short)")
	exploreBudget = flag.Duration("explore.budget", 0, "stop the exploration after this long and fail (0: no limit)")
	exploreBreak  = flag.Bool("explore.break-lock", false, "explore an agreement whose prevote ignores its lock (the explorer must find a disagreement)")
)

// The exhaustive exploration: n = 4 validators of equal power, 0 and 1
// honest (the agreement code under test), 2 silent (it sent its marker to
// validator 0 only, then stopped), 3 Byzantine (it can send any prevote and
// precommit of rounds 0 and 1, with any value or nil, and any proposal of
// round 2, where it is the proposer, to either honest validator, at any
// time: equivocation included). Value A cuts validator 2 at its marker; B
// has it absent. Validator 0 can execute both; validator 1 only B until it
// repairs validator 2's stream from validator 0 (an event of its own). Every
// interleaving of deliveries, timeouts and the repair, to a bounded depth,
// is explored depth-first with the states seen pruned; after every event no
// two honest validators may have decided differently.

var (
	exploreA = &CutValue{Cut: []uint64{5, 5, 5, 5}, Chain: make([]ledger.Hash, 4), Marker: []uint64{1, 1, 1, 1}}
	exploreB = &CutValue{Cut: []uint64{5, 5, 0, 5}, Chain: make([]ledger.Hash, 4), Marker: []uint64{1, 1, 0, 1}}
)

type exploreEnv struct {
	self     int
	repaired bool // validator 1 holds validator 2's marker
}

func (e *exploreEnv) hasMarker() bool { return e.self == 0 || e.repaired }

func (e *exploreEnv) candidate(round uint32) *CutValue {
	switch {
	case e.hasMarker():
		return exploreA
	case round == 0:
		return nil // waits for validator 2's marker
	}
	return exploreB
}

func (e *exploreEnv) valid(v *CutValue) bool { return v.Equal(exploreB) || e.hasMarker() }

// exploreState is one global state of the exploration.
type exploreState struct {
	honest [2]*agreement
	envs   [2]*exploreEnv
	// pending[i] are honest messages not yet delivered to honest i.
	pending [2][]RoundMsg
	// byzSent[i] marks the Byzantine messages delivered to honest i.
	byzSent [2]uint64
}

func newExploreState(breakLock bool) *exploreState {
	cfg := &agreeConfig{powers: []uint64{1, 1, 1, 1}, total: 4, timeoutFirst: 1000, timeoutBase: 100, timeoutStep: 10,
		proposer: func(epoch uint64, round uint32) uint32 { return uint32((epoch + uint64(round)) % 4) }}
	s := &exploreState{}
	for i := range s.honest {
		c := *cfg
		c.self, c.breakLock = uint32(i), breakLock
		s.honest[i] = newAgreement(&c, 1)
		s.envs[i] = &exploreEnv{self: i}
	}
	for i := range s.honest {
		s.honest[i].start(0, 0, s.env(i))
		s.collect(i)
	}
	return s
}

// env is validator i's environment.
func (s *exploreState) env(i int) agreeEnv { return s.envs[i] }

// collect moves validator i's new messages to the other's pending list.
func (s *exploreState) collect(i int) {
	for _, m := range s.honest[i].takeOut() {
		s.pending[1-i] = append(s.pending[1-i], m)
	}
}

// byzMessages are every message the Byzantine validator can send.
var byzMessages = func() []RoundMsg {
	var out []RoundMsg
	for _, kind := range []RoundKind{Prevote, Precommit} {
		for r := uint32(0); r < 2; r++ {
			for _, v := range []*CutValue{exploreA, exploreB, nil} {
				out = append(out, RoundMsg{Kind: kind, Epoch: 1, Round: r, Validator: 3, ValidRound: -1, Value: v})
			}
		}
	}
	for _, v := range []*CutValue{exploreA, exploreB} {
		for vr := int32(-1); vr < 2; vr++ {
			out = append(out, RoundMsg{Kind: Proposal, Epoch: 1, Round: 2, Validator: 3, ValidRound: vr, Value: v})
		}
	}
	return out
}()

// event is one step the scheduler can take.
type event struct {
	kind  uint8 // 0 deliver pending, 1 deliver Byzantine, 2 timeout, 3 repair
	to    int
	index int
	timer agreeTimer
}

func (s *exploreState) events() []event {
	var out []event
	for i := range s.honest {
		if s.honest[i].decision != nil {
			continue
		}
		for j := range s.pending[i] {
			out = append(out, event{kind: 0, to: i, index: j})
		}
		for j := range byzMessages {
			if s.byzSent[i]&(1<<j) == 0 {
				out = append(out, event{kind: 1, to: i, index: j})
			}
		}
		for _, t := range []agreeTimer{timerPropose, timerPrevote, timerPrecommit} {
			if *s.honest[i].timer(t) != 0 {
				out = append(out, event{kind: 2, to: i, timer: t})
			}
		}
	}
	if !s.envs[1].repaired && s.honest[1].decision == nil {
		out = append(out, event{kind: 3, to: 1})
	}
	return out
}

func (s *exploreState) apply(e event) {
	a := s.honest[e.to]
	env := s.env(e.to)
	switch e.kind {
	case 0:
		m := s.pending[e.to][e.index]
		s.pending[e.to] = slices.Delete(slices.Clone(s.pending[e.to]), e.index, e.index+1)
		a.receive(&m, env)
	case 1:
		s.byzSent[e.to] |= 1 << e.index
		m := byzMessages[e.index]
		a.receive(&m, env)
	case 2:
		a.fire(e.timer, env)
		a.check(env)
	case 3:
		s.envs[1].repaired = true
		a.check(env)
	}
	s.collect(e.to)
}

func (s *exploreState) clone() *exploreState {
	c := &exploreState{byzSent: s.byzSent}
	for i := range s.honest {
		c.honest[i] = s.honest[i].clone()
		e := *s.envs[i]
		c.envs[i] = &e
		c.pending[i] = slices.Clone(s.pending[i])
	}
	return c
}

// clone deep-copies an agreement (messages are immutable once added).
func (a *agreement) clone() *agreement {
	c := *a
	c.locked, c.validValue, c.decision = a.locked.Clone(), a.validValue.Clone(), a.decision.Clone()
	c.rounds = make(map[uint32]*agreeRound, len(a.rounds))
	for r, rs := range a.rounds {
		cr := *rs
		cr.prevotes, cr.precommits = maps.Clone(rs.prevotes), maps.Clone(rs.precommits)
		c.rounds[r] = &cr
	}
	c.out = slices.Clone(a.out)
	return &c
}

func valueTag(v *CutValue) byte {
	switch {
	case v == nil:
		return 0
	case v.Equal(exploreA):
		return 1
	case v.Equal(exploreB):
		return 2
	}
	return 3
}

// key is a canonical encoding of the state, for pruning.
func (s *exploreState) key() string {
	var b []byte
	for i, a := range s.honest {
		b = append(b, byte(a.round), byte(a.step), valueTag(a.locked), byte(a.lockedRound+1), valueTag(a.validValue),
			byte(a.validRound+1), valueTag(a.decision), boolByte(a.proposeAt != 0), boolByte(a.prevoteAt != 0),
			boolByte(a.precommitAt != 0), boolByte(s.envs[i].repaired))
		for _, r := range slices.Sorted(maps.Keys(a.rounds)) {
			rs := a.rounds[r]
			b = append(b, 0xff, byte(r), boolByte(rs.prevoteTimer), boolByte(rs.precommitTimer), boolByte(rs.lockedHere))
			if rs.proposal != nil {
				b = append(b, byte(rs.proposal.ValidRound+1), valueTag(rs.proposal.Value))
			} else {
				b = append(b, 0xfe)
			}
			for k := uint32(0); k < 4; k++ {
				b = append(b, msgTag(rs.prevotes[k]), msgTag(rs.precommits[k]))
			}
		}
		b = binary.BigEndian.AppendUint64(b, s.byzSent[i])
		b = append(b, 0xfd)
		for _, m := range s.pending[i] {
			b = append(b, byte(m.Kind), byte(m.Round), byte(m.ValidRound+1), valueTag(m.Value))
		}
		b = append(b, 0xfc)
	}
	return string(b)
}

func msgTag(m *RoundMsg) byte {
	if m == nil {
		return 0xee
	}
	return valueTag(m.Value)
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

type explorer struct {
	t        *testing.T
	seen     map[string]int // state and sleep set -> the most depth left it was explored with
	states   int
	deadline time.Time
	trail    []event
	failure  string
}

// id names an event independently of list positions, for sleep sets.
func (s *exploreState) id(e event) string {
	switch e.kind {
	case 0:
		m := s.pending[e.to][e.index]
		return fmt.Sprintf("d%d:%d/%d/%d/%d/%d", e.to, m.Kind, m.Round, m.Validator, m.ValidRound, valueTag(m.Value))
	case 1:
		return fmt.Sprintf("b%d:%d", e.to, e.index)
	case 2:
		return fmt.Sprintf("t%d:%d", e.to, e.timer)
	}
	return fmt.Sprintf("r%d", e.to)
}

// dfs explores with sleep sets (Godefroid): events at the two honest
// validators commute, so once a subtree explored event e, its later
// siblings' subtrees skip e while no event at e's validator ran since.
func (x *explorer) dfs(s *exploreState, left int, sleep map[string]int) {
	if x.failure != "" {
		return
	}
	if d0, d1 := s.honest[0].decision, s.honest[1].decision; d0 != nil && d1 != nil && !d0.Equal(d1) {
		x.failure = fmt.Sprintf("disagreement: validator 0 decided %d, validator 1 decided %d after %v", valueTag(d0), valueTag(d1), x.trail)
		return
	}
	if left == 0 {
		return
	}
	key := s.key() + sleepKey(sleep)
	if d, ok := x.seen[key]; ok && d >= left {
		return
	}
	x.seen[key] = left
	x.states++
	if x.states%100_000 == 0 && !x.deadline.IsZero() && time.Now().After(x.deadline) {
		x.failure = fmt.Sprintf("budget exhausted after %d states", x.states)
		return
	}
	done := map[string]int{}
	for _, e := range s.events() {
		id := s.id(e)
		if _, asleep := sleep[id]; asleep {
			continue
		}
		c := s.clone()
		c.apply(e)
		next := map[string]int{}
		for other, to := range sleep {
			if to != e.to {
				next[other] = to
			}
		}
		for other, to := range done {
			if to != e.to {
				next[other] = to
			}
		}
		x.trail = append(x.trail, e)
		x.dfs(c, left-1, next)
		x.trail = x.trail[:len(x.trail)-1]
		if x.failure != "" {
			return
		}
		done[id] = e.to
	}
}

func sleepKey(sleep map[string]int) string {
	keys := slices.Sorted(maps.Keys(sleep))
	return fmt.Sprint(keys)
}

// TestAgreementExhaustive explores every interleaving to the depth bound
// and requires agreement; -explore.depth=N runs deeper (the number of
// states grows about tenfold per level).
func TestAgreementExhaustive(t *testing.T) {
	depth := *exploreDepth
	if depth == 0 {
		depth = 4
		if testing.Short() {
			depth = 3
		}
	}
	x := &explorer{t: t, seen: map[string]int{}}
	if *exploreBudget > 0 {
		x.deadline = time.Now().Add(*exploreBudget)
	}
	start := time.Now()
	x.dfs(newExploreState(*exploreBreak), depth, map[string]int{})
	if x.failure != "" {
		t.Fatal(x.failure)
	}
	t.Logf("depth %d: %d states, no disagreement (%v)", depth, x.states, time.Since(start).Round(time.Millisecond))
}
