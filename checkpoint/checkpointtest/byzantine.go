package checkpointtest

import (
	"github.com/ledgerd/ledgerd/checkpoint"
	"github.com/ledgerd/ledgerd/checkpoint/stream"
	"github.com/ledgerd/ledgerd/ledger"
)

// This file is the simulator's Byzantine validator. It runs the node's
// Shell like the others, so what it persists is honest; it misbehaves in
// what it sends: it equivocates (a second, conflicting signed round message
// or vote to some of its peers), withholds its markers from some peers, and
// replays old messages. Its stream entries are not equivocated: that would
// split the honest validators' streams, which the agreement does not heal.

// byzReplays bounds the messages the Byzantine validator keeps to replay.
const byzReplays = 64

// byzSend sends m to every other validator, some of which get other
// instead (nil: nothing), and keeps m for replays.
func (n *simValidator) byzSend(m, other *simNetMessage) error {
	s := n.sim
	if len(n.replays) < byzReplays {
		n.replays = append(n.replays, *m)
	} else {
		n.replays[s.rng.IntN(byzReplays)] = *m
	}
	for to := range s.nodes {
		if to == n.index {
			continue
		}
		msg := *m
		if s.rng.IntN(2) == 0 {
			if other == nil {
				continue
			}
			msg = *other
		}
		msg.from, msg.to = n.index, to
		if err := s.send(&msg); err != nil {
			return err
		}
	}
	return nil
}

// byzEntry withholds half of its markers from a random half of its peers.
func (n *simValidator) byzEntry(e stream.Entry) error {
	m := &simNetMessage{kind: simEntry, entry: e}
	if e.Kind == stream.KindMarker && n.sim.rng.IntN(2) == 0 {
		return n.byzSend(m, nil)
	}
	return n.byzSend(m, m)
}

// byzRound equivocates half of its round messages: some peers get another
// value for the same round and kind (nil for a value; for nil, the cut in
// which every validator is absent, valid but empty).
func (n *simValidator) byzRound(r checkpoint.RoundMsg) error {
	s := n.sim
	m := &simNetMessage{kind: simRound, rounds: []checkpoint.RoundMsg{r}}
	head, _ := n.m().Head()
	empty := &checkpoint.CutValue{Cut: head.Cut, Chain: head.Chain, Marker: head.Marker}
	other := r
	other.Value = nil
	if r.Value == nil {
		other.Value = empty
	}
	switch {
	case r.Kind == checkpoint.Proposal && s.rng.IntN(2) == 0:
		// Propose the cut in which everyone is absent (valid anywhere),
		// as new: validators locked on another value must refuse it.
		other.Value, other.ValidRound = empty, -1
		m = nil
	case r.Kind == checkpoint.Precommit && r.Value != nil && s.rng.IntN(2) == 0:
		// The precommit to one peer only, nil to the others: one
		// validator may decide while the others move on to later rounds.
		signed, err := n.byzSign(other)
		if err != nil {
			return err
		}
		one := s.rng.IntN(len(s.nodes))
		for to := range s.nodes {
			if to == n.index {
				continue
			}
			msg := simNetMessage{kind: simRound, rounds: []checkpoint.RoundMsg{signed}, from: n.index, to: to}
			if to == one {
				msg.rounds = []checkpoint.RoundMsg{r}
			}
			if err := s.send(&msg); err != nil {
				return err
			}
		}
		return nil
	case s.rng.IntN(2) == 0 || (other.Kind == checkpoint.Proposal && other.Value == nil):
		return n.byzSend(m, m)
	}
	signed, err := n.byzSign(other)
	if err != nil {
		return err
	}
	alt := &simNetMessage{kind: simRound, rounds: []checkpoint.RoundMsg{signed}}
	if m == nil {
		return n.byzSend(alt, alt)
	}
	return n.byzSend(m, alt)
}

// byzSign signs a round message the Byzantine validator made up.
func (n *simValidator) byzSign(r checkpoint.RoundMsg) (checkpoint.RoundMsg, error) {
	sig, err := checkpoint.KeySigner{Key: n.sim.keys[n.index]}.Sign(r.Digest(n.sim.g.ChainID))
	if err != nil {
		return r, n.fail("machine", "sign: %v", err)
	}
	r.Sig = sig
	return r, nil
}

// byzVote equivocates half of its votes: some peers get a vote for another
// header.
func (n *simValidator) byzVote(v checkpoint.Vote) error {
	m := &simNetMessage{kind: simVote, votes: []checkpoint.Vote{v}}
	if n.sim.rng.IntN(2) == 0 {
		return n.byzSend(m, m)
	}
	other := v
	other.Hash = ledger.Hash{0xbb, byte(n.sim.rng.Uint32()), byte(v.Epoch)}
	sig, err := checkpoint.KeySigner{Key: n.sim.keys[n.index]}.Sign(other.Digest(n.sim.g.ChainID))
	if err != nil {
		return n.fail("machine", "sign: %v", err)
	}
	other.Sig = sig
	return n.byzSend(m, &simNetMessage{kind: simVote, votes: []checkpoint.Vote{other}})
}

// byzReplay sends an old message again to a random peer, or a prevote for
// a far round of an old message's epoch (to fill the peer's memory).
func (n *simValidator) byzReplay() error {
	s := n.sim
	if len(n.replays) == 0 {
		return nil
	}
	m := n.replays[s.rng.IntN(len(n.replays))]
	m.from, m.to = n.index, s.rng.IntN(len(s.nodes))
	if m.to == n.index {
		return nil
	}
	if m.kind == simRound && s.rng.IntN(2) == 0 {
		far := checkpoint.RoundMsg{Kind: checkpoint.Prevote, Epoch: m.rounds[0].Epoch, Round: m.rounds[0].Round + 2 + s.rng.Uint32N(1<<20),
			Validator: uint32(n.index), ValidRound: -1}
		sig, err := checkpoint.KeySigner{Key: s.keys[n.index]}.Sign(far.Digest(s.g.ChainID))
		if err != nil {
			return n.fail("machine", "sign: %v", err)
		}
		far.Sig = sig
		m.rounds = []checkpoint.RoundMsg{far}
	}
	return s.send(&m)
}
