package checkpointtest

import (
	"fmt"
	"math/bits"
	"slices"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/ledgerd/ledgerd/checkpoint"
	"github.com/ledgerd/ledgerd/checkpoint/stream"
	"github.com/ledgerd/ledgerd/ledger"
)

// This file holds the simulator's checkers. They see every effect a
// validator persists (own entries, executed epochs, votes, final
// checkpoints) and run after every tick, and compare what each validator
// did with the global truth the simulator alone knows: every entry every
// origin ever wrote, and every vote every validator ever signed.

type simVoteKey struct {
	validator uint32
	epoch     uint64
}

type simRoundKey struct {
	validator uint32
	epoch     uint64
	round     uint32
	kind      checkpoint.RoundKind
}

type simChecker struct {
	s *LedgerSim
	// entries[k][i] is origin k's entry with seq i+1, as first persisted.
	entries [][]stream.Entry
	// entryTxs[k][i] are the hashes of the transactions the Machine gets
	// for that entry (decodable ones, in batch order).
	entryTxs [][][]ledger.Hash
	// finalHash is the certified header hash of each epoch, first seen.
	finalHash map[uint64]ledger.Hash
	// signed is every vote ever signed, by validator and epoch.
	signed map[simVoteKey]ledger.Hash
	// appliedIn maps a successfully applied transaction to its epoch.
	appliedIn map[ledger.Hash]uint64
	// cutOf is the ID of the cut each epoch was executed with, first seen.
	cutOf map[uint64]ledger.Hash
	// roundSigned is every round message a validator signed, by
	// (validator, epoch, round, kind): the ID of its value, or zero for nil.
	roundSigned map[simRoundKey]ledger.Hash
	// verifiedCerts holds the keccak of (previous header hash, certified
	// encoding) of certificates VerifyChain accepted, so a certificate
	// several validators hold is verified once (recovering signatures is
	// most of the simulator's cost).
	verifiedCerts map[ledger.Hash]bool
	supply        uint64
}

func newSimChecker(s *LedgerSim) *simChecker {
	return &simChecker{s: s, entries: make([][]stream.Entry, len(s.g.Validators)),
		entryTxs: make([][][]ledger.Hash, len(s.g.Validators)), finalHash: make(map[uint64]ledger.Hash),
		signed: make(map[simVoteKey]ledger.Hash), appliedIn: make(map[ledger.Hash]uint64),
		cutOf: make(map[uint64]ledger.Hash), roundSigned: make(map[simRoundKey]ledger.Hash),
		verifiedCerts: make(map[ledger.Hash]bool), supply: s.g.TotalSupply()}
}

func (c *simChecker) fail(check string, format string, args ...any) error {
	return c.s.fail(check, fmt.Errorf(format, args...))
}

// ownEntry checks a new own entry before it is written: signed by its
// origin, well formed, and never a second entry for one (origin, seq).
func (c *simChecker) ownEntry(n *simValidator, e stream.Entry) error {
	k := e.Origin
	if err := e.Check(); err != nil {
		return c.fail("machine", "validator %d wrote malformed entry seq %d: %v", k, e.Seq, err)
	}
	if err := e.Verify(c.s.g.ChainID, c.s.g.Validators[k].Address); err != nil {
		return c.fail("machine", "validator %d wrote entry seq %d with a bad signature: %v", k, e.Seq, err)
	}
	if e.Seq <= uint64(len(c.entries[k])) {
		first := c.entries[k][e.Seq-1]
		if first.Digest(c.s.g.ChainID) != e.Digest(c.s.g.ChainID) {
			return c.fail("equivocation", "validator %d wrote two different entries with seq %d (restart reused a seq)", k, e.Seq)
		}
		return nil
	}
	if e.Seq != uint64(len(c.entries[k]))+1 {
		return c.fail("equivocation", "validator %d wrote seq %d after %d", k, e.Seq, len(c.entries[k]))
	}
	if e.Kind == stream.KindBatch {
		if _, err := stream.DecodeBatch(e.Body); err != nil {
			return c.fail("machine", "validator %d wrote an undecodable batch seq %d: %v", k, e.Seq, err)
		}
	}
	txs := c.s.batchTxs(e)
	hashes := make([]ledger.Hash, len(txs))
	for i := range txs {
		hashes[i] = txs[i].Hash
	}
	c.entries[k] = append(c.entries[k], e)
	c.entryTxs[k] = append(c.entryTxs[k], hashes)
	return nil
}

// epoch checks an executed epoch before it is committed: the chain link,
// the consistent cut (the epoch holds exactly the transactions each origin
// wrote between its markers N-1 and N, in validator, seq and batch order),
// no transaction applied in two epochs, and the local record's
// consistency (recorded positions and channel states below the cut).
func (c *simChecker) epoch(n *simValidator, prev checkpoint.Header, prevHash ledger.Hash, r checkpoint.EpochResult) error {
	g := c.s.g
	h := &r.Header
	ep := h.Epoch
	switch {
	case r.Hash != h.Hash():
		return c.fail("chain", "validator %d epoch %d: result hash %s is not the header's", n.index, ep, r.Hash)
	case ep != prev.Epoch+1:
		return c.fail("chain", "validator %d executed epoch %d after %d", n.index, ep, prev.Epoch)
	case h.PrevHash != prevHash:
		return c.fail("chain", "validator %d epoch %d names prev %s, want %s", n.index, ep, h.PrevHash, prevHash)
	case h.ChainID != g.ChainID || h.ValidatorSetHash != g.ValidatorSetHash():
		return c.fail("chain", "validator %d epoch %d: wrong chain ID or validator set", n.index, ep)
	case len(h.Cut) != len(g.Validators):
		return c.fail("consistent-cut", "validator %d epoch %d: cut of %d entries", n.index, ep, len(h.Cut))
	case h.TimeMs < prev.TimeMs:
		return c.fail("chain", "validator %d epoch %d: time %d before %d", n.index, ep, h.TimeMs, prev.TimeMs)
	}
	if len(h.Chain) != len(g.Validators) || len(h.Marker) != len(g.Validators) {
		return c.fail("consistent-cut", "validator %d epoch %d: cut of %d chains and %d markers", n.index, ep, len(h.Chain), len(h.Marker))
	}
	if id := h.Value().ID(); c.cutOf[ep] == (ledger.Hash{}) {
		c.cutOf[ep] = id
	} else if c.cutOf[ep] != id {
		return c.fail("agreement", "validator %d executed epoch %d with another cut than an earlier validator", n.index, ep)
	}
	// Every stream is cut at a prefix that extends the previous cut: a
	// present validator's at its MARKER(ep), with the chain of what it
	// wrote; an absent one's where it was. The epoch holds exactly the
	// batches between the two cuts (markers of epochs it missed are skipped).
	var want []ledger.Hash
	for k := range h.Cut {
		var from, fromMarker uint64
		var fromChain ledger.Hash
		if prev.Epoch > 0 {
			from, fromChain, fromMarker = prev.Cut[k], prev.Chain[k], prev.Marker[k]
		}
		if h.Marker[k] != ep {
			if h.Cut[k] != from || h.Chain[k] != fromChain || h.Marker[k] != fromMarker {
				return c.fail("consistent-cut", "validator %d epoch %d: absent validator %d cut at %d, was %d", n.index, ep, k, h.Cut[k], from)
			}
			continue
		}
		if h.Cut[k] <= from || h.Cut[k] > uint64(len(c.entries[k])) {
			return c.fail("consistent-cut", "validator %d epoch %d: cut[%d]=%d after %d, origin wrote %d entries",
				n.index, ep, k, h.Cut[k], from, len(c.entries[k]))
		}
		chain := fromChain
		for seq := from + 1; seq <= h.Cut[k]; seq++ {
			e := c.entries[k][seq-1]
			chain = checkpoint.StreamChain(chain, e.Digest(g.ChainID))
			if seq < h.Cut[k] && e.Kind == stream.KindBatch {
				want = append(want, c.entryTxs[k][seq-1]...)
			}
		}
		if chain != h.Chain[k] {
			return c.fail("consistent-cut", "validator %d epoch %d: chain of %d at %d is not what %d wrote", n.index, ep, k, h.Cut[k], k)
		}
		if m := c.entries[k][h.Cut[k]-1]; m.Kind != stream.KindMarker || m.Epoch != ep {
			return c.fail("consistent-cut", "validator %d epoch %d: cut[%d]=%d is a %v of epoch %d, not MARKER(%d)",
				n.index, ep, k, h.Cut[k], m.Kind, m.Epoch, ep)
		}
	}
	if !slices.Equal(r.TxHashes, want) {
		return c.fail("consistent-cut", "validator %d epoch %d holds %d transactions, its origins wrote %d between markers %d and %d",
			n.index, ep, len(r.TxHashes), len(want), ep-1, ep)
	}
	if h.TxCount != uint64(len(want)) || h.TxRoot != ledger.TxRoot(want) || len(r.Receipts) != len(want) {
		return c.fail("consistent-cut", "validator %d epoch %d: tx count, root or receipts do not match its transactions", n.index, ep)
	}
	if h.ReceiptsRoot != ledger.ReceiptsRoot(r.Receipts) {
		return c.fail("chain", "validator %d epoch %d: receipts root", n.index, ep)
	}
	for _, rc := range r.Receipts {
		if rc.Status != ledger.StatusOK {
			continue
		}
		if other, ok := c.appliedIn[rc.TxHash]; ok && other != ep {
			return c.fail("consistent-cut", "validator %d applied transaction %s in epoch %d, already applied in epoch %d",
				n.index, rc.TxHash, ep, other)
		}
		c.appliedIn[rc.TxHash] = ep
	}
	rec := r.Snapshot
	if len(rec.Recorded) != len(h.Cut) || len(rec.Channels) != len(h.Cut) {
		return c.fail("consistent-cut", "validator %d epoch %d: local record of %d/%d positions", n.index, ep, len(rec.Recorded), len(rec.Channels))
	}
	for k := range h.Cut {
		if h.Marker[k] != ep {
			continue
		}
		if rec.Recorded[k] >= h.Cut[k] {
			return c.fail("consistent-cut", "validator %d epoch %d recorded seq %d of %d at or past its marker %d",
				n.index, ep, rec.Recorded[k], k, h.Cut[k])
		}
		for _, seq := range rec.Channels[k] {
			if seq <= rec.Recorded[k] || seq >= h.Cut[k] {
				return c.fail("consistent-cut", "validator %d epoch %d: channel %d→%d holds seq %d outside (%d, %d)",
					n.index, ep, k, n.index, seq, rec.Recorded[k], h.Cut[k])
			}
		}
	}
	if hash, ok := c.finalHash[ep]; ok && hash != r.Hash {
		return c.fail("agreement", "validator %d executed epoch %d to %s, final is %s", n.index, ep, r.Hash, hash)
	}
	return nil
}

// conservation checks that the validator's state holds the total supply.
func (c *simChecker) conservation(n *simValidator) error {
	var sum uint64
	var overflow bool
	err := n.m().State().ForEachAccount(ledger.Address{}, func(_ ledger.Address, a ledger.Account) bool {
		var carry uint64
		sum, carry = bits.Add64(sum, a.Balance, 0)
		overflow = overflow || carry != 0
		return true
	})
	if err != nil {
		return c.fail("store", "validator %d: read state: %v", n.index, err)
	}
	if overflow || sum != c.supply {
		return c.fail("conservation", "validator %d at epoch %d holds %d in total, genesis supply is %d",
			n.index, n.store.headEpoch(), sum, c.supply)
	}
	return nil
}

// ownRound checks a round message before it is written: an honest
// validator sends at most one message of each kind in each round, also
// across restarts, and signs it.
func (c *simChecker) ownRound(n *simValidator, r checkpoint.RoundMsg) error {
	if err := r.Verify(c.s.g); err != nil {
		return c.fail("machine", "validator %d signed a round message that does not verify: %v", n.index, err)
	}
	var id ledger.Hash
	if r.Value != nil {
		id = r.Value.ID()
	}
	key := simRoundKey{r.Validator, r.Epoch, r.Round, r.Kind}
	if prev, ok := c.roundSigned[key]; ok && prev != id {
		return c.fail("double-sign", "validator %d sent two %vs in epoch %d round %d", r.Validator, r.Kind, r.Epoch, r.Round)
	}
	c.roundSigned[key] = id
	return nil
}

// ownVote checks a vote before it is written: an honest validator signs at
// most one hash per epoch, for the header it executed, and its recorded
// positions lie below the cut.
// ownVote checks a vote n is about to persist and send. Its epoch is
// committed already or among the results of the same Ready (committed
// right after the vote leaves).
func (c *simChecker) ownVote(n *simValidator, v checkpoint.Vote, executing []checkpoint.EpochResult) error {
	key := simVoteKey{v.Validator, v.Epoch}
	if prev, ok := c.signed[key]; ok && prev != v.Hash {
		return c.fail("double-sign", "validator %d signed %s and %s for epoch %d", v.Validator, prev, v.Hash, v.Epoch)
	}
	c.signed[key] = v.Hash
	if err := v.Verify(c.s.g); err != nil {
		return c.fail("machine", "validator %d signed a vote that does not verify: %v", n.index, err)
	}
	var rec simEpochRecord
	switch {
	case v.Epoch > 0 && v.Epoch <= n.store.headEpoch():
		rec = n.store.epochs[v.Epoch-1]
	default:
		i := slices.IndexFunc(executing, func(r checkpoint.EpochResult) bool { return r.Header.Epoch == v.Epoch })
		if i < 0 {
			return c.fail("machine", "validator %d voted for epoch %d before executing it (head %d)", n.index, v.Epoch, n.store.headEpoch())
		}
		rec = simEpochRecord{header: executing[i].Header, hash: executing[i].Hash}
	}
	if rec.hash != v.Hash {
		return c.fail("double-sign", "validator %d voted %s for epoch %d, executed %s", n.index, v.Hash, v.Epoch, rec.hash)
	}
	return c.recordedBelowCut(v, rec.header)
}

// recordedBelowCut checks the consistent-cut invariant of a signed vote:
// every present validator's cut lies past what the voter had recorded. An
// absent validator's cut did not move: the voter may have recorded past it.
func (c *simChecker) recordedBelowCut(v checkpoint.Vote, h checkpoint.Header) error {
	for k, seq := range v.Recorded {
		if h.Marker[k] == h.Epoch && seq >= h.Cut[k] {
			return c.fail("consistent-cut", "vote of validator %d for epoch %d records seq %d of %d at or past the cut %d",
				v.Validator, v.Epoch, seq, k, h.Cut[k])
		}
	}
	return nil
}

// finalized checks a new final checkpoint: it verifies offline and links to
// the previous final one, every node that finalizes the epoch has the same
// hash, it is the header this validator executed, and every vote in the
// certificate records positions below the cut.
func (c *simChecker) finalized(n *simValidator, prev *checkpoint.Header, cert checkpoint.Certified) error {
	ep := cert.Header.Epoch
	prevHash := c.s.g.Hash()
	if prev != nil {
		prevHash = prev.Hash()
	}
	key := crypto.Keccak256Hash(prevHash[:], cert.Header.Encode(), cert.Certificate.Encode())
	if !c.verifiedCerts[key] {
		if err := checkpoint.VerifyChain(c.s.g, prev, []checkpoint.Certified{cert}); err != nil {
			return c.fail("chain", "validator %d final epoch %d: %v", n.index, ep, err)
		}
		if len(c.verifiedCerts) >= simCheckCacheMax {
			clear(c.verifiedCerts)
		}
		c.verifiedCerts[key] = true
	}
	hash := cert.Header.Hash()
	if first, ok := c.finalHash[ep]; ok && first != hash {
		return c.fail("agreement", "validator %d finalized epoch %d as %s, another validator as %s", n.index, ep, hash, first)
	}
	c.finalHash[ep] = hash
	if ep > n.store.headEpoch() || n.store.epochs[ep-1].hash != hash {
		return c.fail("agreement", "validator %d finalized epoch %d as %s without having executed it", n.index, ep, hash)
	}
	for _, v := range cert.Certificate.Votes {
		if err := c.recordedBelowCut(v, cert.Header); err != nil {
			return err
		}
	}
	return nil
}

// everyTick checks the bounds of every buffer.
func (c *simChecker) everyTick() error {
	s := c.s
	for _, n := range s.nodes {
		if !n.up {
			continue
		}
		for k := range s.nodes {
			held, _ := n.seq.Held(uint32(k))
			if held > simSequencerWindow {
				return c.fail("buffers", "validator %d holds %d entries of %d in its sequencer (window %d)", n.index, held, k, simSequencerWindow)
			}
		}
		head, _ := n.m().Head()
		if n.m().CurrentEpoch() > head.Epoch+uint64(s.opts.MaxEpochsInFlight)+2 {
			return c.fail("buffers", "validator %d is in epoch %d with head %d (MaxEpochsInFlight %d)",
				n.index, n.m().CurrentEpoch(), head.Epoch, s.opts.MaxEpochsInFlight)
		}
		if head.Epoch != n.store.headEpoch() {
			return c.fail("store", "validator %d machine head %d, store head %d", n.index, head.Epoch, n.store.headEpoch())
		}
	}
	return nil
}

// final runs the end-of-run checks: the longest final chain verifies
// offline from the genesis in one VerifyChain call (every validator's
// certificates were verified link by link as they became final), and the
// chains agree epoch by epoch.
func (c *simChecker) final() error {
	longest := c.s.nodes[0]
	for _, n := range c.s.nodes {
		if n.store.lastFinal() > longest.store.lastFinal() {
			longest = n
		}
	}
	if err := checkpoint.VerifyChain(c.s.g, nil, longest.store.final); err != nil {
		return c.fail("chain", "validator %d final chain: %v", longest.index, err)
	}
	for _, n := range c.s.nodes {
		for i, cert := range n.store.final {
			if cert.Header.Hash() != c.finalHash[uint64(i+1)] {
				return c.fail("agreement", "validator %d final epoch %d differs", n.index, i+1)
			}
		}
		if n.up {
			if err := c.conservation(n); err != nil {
				return err
			}
		}
	}
	return nil
}
