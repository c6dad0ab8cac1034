package checkpoint

import "testing"

func testAgreement(self uint32) *agreement {
	cfg := &agreeConfig{self: self, powers: []uint64{1, 1, 1, 1}, total: 4, timeoutFirst: 1000, timeoutBase: 100, timeoutStep: 10,
		proposer: func(epoch uint64, round uint32) uint32 { return uint32((epoch + uint64(round)) % 4) }}
	return newAgreement(cfg, 1)
}

func roundMsg(kind RoundKind, round, from uint32, v *CutValue) *RoundMsg {
	return &RoundMsg{Kind: kind, Epoch: 1, Round: round, Validator: from, ValidRound: -1, Value: v}
}

// An equivocating validator's second precommit counts when it completes a
// quorum: the honest validators that got it may have decided on that
// quorum, and this one must be able to decide too.
func TestAgreementEquivocationCompletesQuorum(t *testing.T) {
	a := testAgreement(0)
	if !a.add(roundMsg(Precommit, 0, 3, exploreB)) {
		t.Fatal("first precommit of validator 3 not counted")
	}
	a.add(roundMsg(Precommit, 0, 1, exploreA))
	if a.add(roundMsg(Precommit, 0, 3, nil)) {
		t.Fatal("a conflicting nil precommit replaced the first")
	}
	if a.add(roundMsg(Precommit, 0, 3, exploreA)) {
		t.Fatal("a conflicting precommit that completes no quorum replaced the first")
	}
	a.add(roundMsg(Precommit, 0, 2, exploreA))
	if !a.add(roundMsg(Precommit, 0, 3, exploreA)) {
		t.Fatal("a conflicting precommit that completes a quorum was ignored")
	}
	a.check(&exploreEnv{self: 0})
	if !a.decision.Equal(exploreA) {
		t.Fatalf("decision %v, want %v", a.decision, exploreA)
	}
}

// A validator cannot fill memory with rounds: beyond the next round, each
// sender keeps messages in at most futureRounds rounds, the highest ones.
func TestAgreementFutureRoundsBounded(t *testing.T) {
	a := testAgreement(0)
	for r := uint32(2); r < 1000; r++ {
		a.add(roundMsg(Prevote, r, 3, nil))
		a.add(roundMsg(Precommit, r, 3, nil))
	}
	if len(a.rounds) != futureRounds {
		t.Fatalf("%d rounds kept, want %d", len(a.rounds), futureRounds)
	}
	for _, r := range []uint32{998, 999} {
		if a.rounds[r] == nil || !a.rounds[r].from(3) {
			t.Fatalf("round %d of validator 3 not kept", r)
		}
	}
	if a.add(roundMsg(Prevote, 5, 3, nil)) {
		t.Fatal("a message below the kept future rounds was admitted")
	}
	// Another validator's future rounds are its own; the next round is
	// always admitted.
	if !a.add(roundMsg(Prevote, 7, 2, nil)) || !a.add(roundMsg(Prevote, 1, 3, nil)) {
		t.Fatal("admissible message refused")
	}
	// Validators 2 and 3 in round 999 are more than a third: L55 moves
	// this validator up, and their messages there count.
	a.add(roundMsg(Prevote, 999, 2, nil))
	a.started = true
	a.check(&exploreEnv{self: 0})
	if a.round != 999 {
		t.Fatalf("round %d, want 999", a.round)
	}
}

// lockScenario runs validator 0 of four through the story the locking rule
// exists for, validator 3 Byzantine and proposer of round 2. In round 1
// validator 0 prevotes and precommits A on a quorum of prevotes; validator 2
// decides A on the precommits of 0, 2 and 3 (3 sent its A precommit to 2
// only). Round 1 ends for 0 on precommits nil from 1 and 3; in round 2, 3
// proposes B. It returns validator 0's round-2 prevote and, after
// prevotes and precommits for B from 1 and 3, its decision.
func lockScenario(t *testing.T, breakLock bool) (prevote *RoundMsg, decision *CutValue) {
	t.Helper()
	a := testAgreement(0)
	a.cfg.breakLock = breakLock
	env := &exploreEnv{self: 0} // candidate A; A and B valid
	a.start(0, 0, env)
	for _, k := range []uint32{1, 2} { // L55: round 1
		a.receive(roundMsg(Prevote, 1, k, exploreA), env)
	}
	a.receive(roundMsg(Prevote, 1, 3, exploreA), env)
	if a.lockedRound != 1 || !a.locked.Equal(exploreA) {
		t.Fatalf("validator 0 did not lock A in round 1 (locked round %d)", a.lockedRound)
	}
	a.receive(roundMsg(Precommit, 1, 1, nil), env)
	a.receive(roundMsg(Precommit, 1, 3, nil), env)
	if a.round != 2 {
		t.Fatalf("validator 0 in round %d, want 2", a.round)
	}
	a.takeOut()
	a.receive(&RoundMsg{Kind: Proposal, Epoch: 1, Round: 2, Validator: 3, ValidRound: -1, Value: exploreB}, env)
	for _, m := range a.takeOut() {
		if m.Kind == Prevote && m.Round == 2 {
			prevote = &m
		}
	}
	for _, k := range []uint32{1, 3} {
		a.receive(roundMsg(Prevote, 2, k, exploreB), env)
	}
	for _, k := range []uint32{1, 3} {
		a.receive(roundMsg(Precommit, 2, k, exploreB), env)
	}
	return prevote, a.decision
}

// TestAgreementLockHolds shows the locking rule at work, and that breaking
// it is caught: locked on A, validator 0 prevotes nil for B, and B is not
// decided; with the rule broken it prevotes B and decides B while
// validator 2 decided A.
func TestAgreementLockHolds(t *testing.T) {
	prevote, decision := lockScenario(t, false)
	if prevote == nil || prevote.Value != nil {
		t.Fatalf("locked on A, validator 0 prevoted %v for the proposal B, want nil", prevote)
	}
	if decision != nil {
		t.Fatalf("validator 0 decided %v; validator 2 decided A", decision.Cut)
	}
	prevote, decision = lockScenario(t, true)
	if prevote == nil || !prevote.Value.Equal(exploreB) || !decision.Equal(exploreB) {
		t.Fatalf("with the lock broken: prevote %v, decision %v; want B and B (the disagreement the rule prevents)", prevote, decision)
	}
}
