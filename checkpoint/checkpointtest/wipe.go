package checkpointtest

import (
	"math"
	"slices"

	"github.com/ledgerd/ledgerd/checkpoint/stream"
	"github.com/ledgerd/ledgerd/ledger"
)

// This file is the wiped validator: it lost its whole store and comes back
// as the node's start-up state sync brings it back (docs/statesync.md): the
// latest final state of a peer, rebuilt from its accounts and checked
// against the certified root; the certified chain up to it; its own stream
// tail and its own round messages, recovered from what the peers hold.

// resyncRounds is how many epochs after the installed one the node asks
// the peers for its own round messages (statesync.Lag).
const resyncRounds = 16

// canResync reports whether the node's recovery of a wiped validator is
// sound now, as docs/statesync.md states it: every other validator that is
// neither dead for good nor wiped too (those hold nothing of it) answers:
// it is up and connected; and the old process's stream has settled
// (streamSettled). Until then the validator stays down.
func (s *LedgerSim) canResync(n *simValidator) bool {
	for _, p := range s.nodes {
		if p != n && !p.dead && !p.wiped && (!p.up || !s.linked(n.index, p.index)) {
			return false
		}
	}
	return s.streamSettled(n)
}

// streamSettled reports that no entry of n is in flight or waits in a
// peer's hold-back buffer: every entry of n that a peer has is one it
// delivered, which the probe of the node's recovery counts. Wipes happen
// only then (a wipe with an entry held beyond a gap nobody can fill is the
// case the node's recovery does not cover: docs/statesync.md, Gaps).
func (s *LedgerSim) streamSettled(n *simValidator) bool {
	for _, p := range s.nodes {
		if p == n || !p.up {
			continue
		}
		if held, _ := p.seq.Held(uint32(n.index)); held > 0 {
			return false
		}
	}
	for _, m := range s.queue {
		if m.from == n.index {
			return false
		}
	}
	return true
}

// anyWiped reports whether a validator is wiped and not back yet: wipes
// come one at a time (a whole network wiped has nothing to recover from).
func (s *LedgerSim) anyWiped() bool {
	return slices.ContainsFunc(s.nodes, func(n *simValidator) bool { return n.wiped })
}

// resync gives the wiped validator the store the node's state sync builds.
func (n *simValidator) resync() error {
	s := n.sim
	var src *simValidator
	var own []stream.Entry
	for _, p := range s.nodes {
		if p == n || p.dead || p.wiped {
			continue
		}
		if src == nil || p.store.lastFinal() > src.store.lastFinal() {
			src = p
		}
		if d := p.store.delivered[n.index]; len(d) > len(own) {
			own = d
		}
	}
	st := newSimStore(len(s.nodes))
	final := src.store.lastFinal()
	if final > 0 {
		st.epochs = slices.Clone(src.store.epochs[:final])
		st.final = slices.Clone(src.store.final[:final])
		head := st.epochs[final-1].header
		state, err := s.g.OpenState(src.store.trie, head.StateRoot)
		if err != nil {
			return n.fail("store", "resync: open the state of epoch %d at v%d: %v", final, src.index, err)
		}
		b := ledger.NewStateBuilder(math.MaxUint64)
		var addErr error
		if err := state.ForEachAccount(ledger.Address{}, func(a ledger.Address, acct ledger.Account) bool {
			addErr = b.Add(a, acct)
			return addErr == nil
		}); err != nil || addErr != nil {
			return n.fail("store", "resync: read the accounts of epoch %d: %v %v", final, err, addErr)
		}
		if b.Root() != head.StateRoot {
			return n.fail("store", "resync: rebuilt root %s, certified %s", b.Root(), head.StateRoot)
		}
		st.trie.PutAll(b.Nodes())
		for k := range s.nodes {
			switch k {
			case n.index:
			case src.index:
				st.delivered[k] = slices.Clone(src.store.outbox[:head.Cut[k]])
			default:
				st.delivered[k] = slices.Clone(src.store.delivered[k][:head.Cut[k]])
			}
		}
	}
	st.outbox = slices.Clone(own)
	recovered := map[simRoundKey]bool{}
	for ep := final + 1; ep <= final+resyncRounds; ep++ {
		for _, p := range s.nodes {
			if p == n || p.dead || p.wiped {
				continue
			}
			for _, r := range p.store.rounds[ep] {
				key := simRoundKey{r.Validator, r.Epoch, r.Round, r.Kind}
				if int(r.Validator) == n.index && !recovered[key] {
					recovered[key] = true
					st.rounds[ep] = append(st.rounds[ep], r)
				}
			}
		}
	}
	s.checker.wiped(n, len(own), recovered)
	n.store, n.wiped = st, false
	s.result.Wipes++
	s.tracef("resync v%d: state of epoch %d from v%d, own stream 1..%d and %d round messages from the peers",
		n.index, final, src.index, len(own), len(recovered))
	return nil
}

// wiped forgets what the wiped validator wrote that nobody else holds: its
// entries after seq kept and its round messages not recovered. Their seqs
// and rounds may be used again with other content: nobody has the old one.
func (c *simChecker) wiped(n *simValidator, kept int, rounds map[simRoundKey]bool) {
	k := n.index
	c.entries[k], c.entryTxs[k] = c.entries[k][:kept], c.entryTxs[k][:kept]
	for key := range c.roundSigned {
		if int(key.validator) == k && !rounds[key] {
			delete(c.roundSigned, key)
		}
	}
}
