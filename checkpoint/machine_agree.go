package checkpoint

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/ledgerd/ledgerd/ledger"
)

// machineEnv is the Machine as an agreement on epoch ep sees it.
type machineEnv struct {
	m  *Machine
	ep uint64
}

func (m *Machine) env(ep uint64) agreeEnv { return machineEnv{m: m, ep: ep} }

// candidate is the cut this validator proposes for the epoch after the
// head: every delivered MARKER(ep); in round 0 it waits for the marker of
// every validator present in the head epoch, in later rounds a missing
// marker is cut as absent (the previous cut).
func (e machineEnv) candidate(round uint32) *CutValue {
	m := e.m
	if e.ep != m.head.Epoch+1 {
		return nil
	}
	var markers map[uint32]deliveredMarker
	if es := m.epochs[e.ep]; es != nil {
		markers = es.markers
	}
	v := &CutValue{Cut: make([]uint64, m.n), Chain: make([]ledger.Hash, m.n), Marker: make([]uint64, m.n)}
	for k := range v.Cut {
		mk, ok := markers[uint32(k)]
		switch {
		case ok:
			v.Cut[k], v.Chain[k], v.Marker[k] = mk.seq, mk.chain, e.ep
		case round == 0 && m.head.Marker[k] == m.head.Epoch:
			return nil // present in the head epoch: wait for its marker
		default:
			v.Cut[k], v.Chain[k], v.Marker[k] = m.head.Cut[k], m.head.Chain[k], m.head.Marker[k]
		}
	}
	return v
}

func (e machineEnv) valid(v *CutValue) bool { return e.m.has(e.ep, v) }

// has reports whether this validator can execute epoch ep with cut v: ep
// follows the head, every marker v names is delivered here with the same
// stream chain, and every absent validator's cut is the head's.
func (m *Machine) has(ep uint64, v *CutValue) bool {
	if ep != m.head.Epoch+1 || v.check(m.n) != nil {
		return false
	}
	es := m.epochs[ep]
	for k := range v.Cut {
		if !v.Present(k, ep) {
			if v.Cut[k] != m.head.Cut[k] || v.Chain[k] != m.head.Chain[k] || v.Marker[k] != m.head.Marker[k] {
				return false
			}
			continue
		}
		if es == nil {
			return false
		}
		mk, ok := es.markers[uint32(k)]
		if !ok || mk.seq != v.Cut[k] || mk.chain != v.Chain[k] {
			return false
		}
	}
	return true
}

// restoreRounds feeds back the stored round messages of epoch after a
// restart: this validator's own ones restore its round, step and lock
// (it never sends a second, different message), the peers' ones count.
func (m *Machine) restoreRounds(ep uint64, msgs []RoundMsg) {
	if ep <= m.head.Epoch || ep > m.head.Epoch+uint64(m.cfg.MaxEpochsInFlight)+1 {
		return
	}
	a := m.agreement(ep)
	var own []RoundMsg
	for i := range msgs {
		if msgs[i].Validator == m.cfg.Self {
			own = append(own, msgs[i])
		} else if msgs[i].Verify(m.g) == nil {
			a.add(&msgs[i])
		}
	}
	a.resume(own)
}

// DescribeAgreement summarizes the agreement on the epoch after the head,
// for logs and diagnostics: its round and step, lock, decision, and the
// messages of each round.
func (m *Machine) DescribeAgreement() string {
	ep := m.head.Epoch + 1
	a := m.agreements[ep]
	if a == nil {
		return fmt.Sprintf("epoch %d: no agreement", ep)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "epoch %d: started=%v round=%d step=%d locked=%d valid=%d decided=%v", ep, a.started, a.round, a.step,
		a.lockedRound, a.validRound, a.decision != nil)
	if a.decision != nil {
		fmt.Fprintf(&b, " cut=%v executable=%v", a.decision.Cut, m.has(ep, a.decision))
	}
	if c := m.env(ep).candidate(1); c != nil {
		fmt.Fprintf(&b, " candidate=%v", c.Cut)
	}
	if a.locked != nil {
		fmt.Fprintf(&b, " locked-value=%s", describeValue(a.locked))
	}
	if a.validValue != nil {
		fmt.Fprintf(&b, " valid-value=%s", describeValue(a.validValue))
	}
	for _, r := range slices.Sorted(maps.Keys(a.rounds)) {
		rs := a.rounds[r]
		fmt.Fprintf(&b, "; r%d:", r)
		if rs.proposal != nil {
			fmt.Fprintf(&b, " proposal %d:%s/%d", rs.proposal.Validator, describeValue(rs.proposal.Value), rs.proposal.ValidRound)
		}
		fmt.Fprintf(&b, " prevotes %s precommits %s", describeMsgs(rs.prevotes), describeMsgs(rs.precommits))
	}
	return b.String()
}

// describeMsgs lists messages as validator:value, value a short ID.
func describeMsgs(msgs map[uint32]*RoundMsg) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(msgs)) {
		parts = append(parts, fmt.Sprintf("%d:%s", k, describeValue(msgs[k].Value)))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func describeValue(v *CutValue) string {
	if v == nil {
		return "nil"
	}
	id := v.ID()
	return fmt.Sprintf("%x", id[:2])
}
