package node

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/ledgerd/ledgerd/checkpoint"
	"github.com/ledgerd/ledgerd/checkpoint/stream"
	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/node/store"
)

// readFileLimited reads a file of at most limit bytes.
func readFileLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return data, nil
}

// genesisRoot is the state root of the genesis allocations.
func (n *Node) genesisRoot() ledger.Hash {
	if n.genRoot != nil {
		return *n.genRoot
	}
	var root ledger.Hash
	if raw, err := n.st.Meta(metaGenesisRoot); err == nil && len(raw) == len(root) {
		copy(root[:], raw)
	} else { // a store written before the root was kept: rebuild it once
		st, err := ledger.GenesisState(n.g, ledger.NewMemNodeDB())
		if err != nil {
			return ledger.Hash{}
		}
		root = st.Root()
	}
	n.genRoot = &root
	return root
}

// restore rebuilds the machine from the store (DESIGN.md §9): the head
// epoch's state, the executed-but-not-final headers, the votes already cast,
// then the own outbox and the delivered entries after the head's cut.
func (n *Node) restore() error {
	head, ok, err := n.st.Head()
	if err != nil {
		return fmt.Errorf("read head: %w", err)
	}
	if !ok {
		if err := n.initGenesis(); err != nil {
			return err
		}
		head, _, err = n.st.Head()
		if err != nil {
			return err
		}
	}
	state, err := n.g.OpenState(n.st, head.StateRoot)
	if err != nil {
		return fmt.Errorf("open state at epoch %d root %s: %w", head.Epoch, head.StateRoot, err)
	}
	r := checkpoint.Restore{State: state}
	if head.Epoch > 0 {
		h, err := n.header(head.Epoch)
		if err != nil {
			return err
		}
		if h.StateRoot != head.StateRoot || h.Hash() != head.CheckpointHash {
			return fmt.Errorf("store head of epoch %d does not match its checkpoint: corrupt data directory", head.Epoch)
		}
		r.Head = h
	}
	r.LastFinal = n.findLastFinal(head.Epoch)
	cfg := checkpoint.DefaultConfig(n.g, n.self)
	for ep := r.LastFinal + 1; ep <= head.Epoch; ep++ {
		h, err := n.header(ep)
		if err != nil {
			return err
		}
		r.Pending = append(r.Pending, h)
	}
	// The stored votes of the epochs in flight, read once: this node's own
	// go to Restore.Voted, also those past the head (a vote leaves before
	// its epoch's result is committed, handleReady, so the node may have
	// voted in epochs it must now execute again); all are stepped into the
	// machine after the replay.
	var stored []map[uint32][]byte // by epoch from r.LastFinal+1, ascending
	r.Voted = map[uint64]checkpoint.Vote{}
	for ep := r.LastFinal + 1; ep <= head.Epoch+uint64(cfg.MaxEpochsInFlight); ep++ {
		votes, err := n.st.Votes(ep)
		if err != nil {
			votes = nil
		}
		stored = append(stored, votes)
		if raw, ok := votes[n.self]; ok {
			if v, err := checkpoint.DecodeVote(raw); err == nil {
				r.Voted[ep] = v
			}
		}
	}
	cfg.ClockSkewMs = int64(n.cfg.Protocol.ClockSkewMs)
	m, err := checkpoint.NewMachine(cfg, r, checkpoint.KeySigner{Key: n.key})
	if err != nil {
		return err
	}
	n.m = m
	cut := make([]uint64, len(n.g.Validators))
	if head.Epoch > 0 {
		copy(cut, r.Head.Cut)
	}
	// Own outbox first: it fixes this node's seq and epoch tags.
	replayed := 0
	if err := n.replayStream(n.self, cut[n.self], func(e stream.Entry, txs []ledger.CheckedTx) error {
		replayed++
		return m.ReplayOwn(e, txs)
	}); err != nil {
		return fmt.Errorf("replay own outbox: %w", err)
	}
	if err := m.Tick(n.now().UnixMilli()); err != nil {
		return err
	}
	for k := range n.g.Validators {
		if uint32(k) == n.self {
			continue
		}
		if err := n.replayStream(uint32(k), cut[k], m.Deliver); err != nil {
			n.log.Warn("replay delivered entries stopped", "origin", k, "err", err)
		}
	}
	for _, votes := range stored {
		for _, raw := range votes {
			if v, err := checkpoint.DecodeVote(raw); err == nil {
				_ = m.StepVote(v)
			}
		}
	}
	if head.Epoch > 0 || replayed > 0 {
		n.log.Info("restored", "head", head.Epoch, "final", r.LastFinal, "own_entries_replayed", replayed)
	}
	return nil
}

// initGenesis commits the genesis state as epoch 0 of a fresh store.
// initGenesis writes the genesis state as epoch 0. It builds the trie in
// one sorted pass (stateBuilder, the same as state import), which keeps only
// the finished nodes: a genesis with a million accounts builds in seconds
// instead of a minute, at a fraction of the memory of a mutable trie.
func (n *Node) initGenesis() error {
	allocs := slices.Clone(n.g.Alloc)
	slices.SortFunc(allocs, func(a, b ledger.Alloc) int { return bytes.Compare(a.Address[:], b.Address[:]) })
	b := newStateBuilder()
	for _, a := range allocs {
		if err := b.add(a.Address, ledger.Account{Balance: a.Balance}); err != nil {
			return fmt.Errorf("genesis state: %w", err)
		}
	}
	root := b.root()
	err := n.st.CommitEpoch(store.EpochCommit{Epoch: 0, Nodes: b.nodes, StateRoot: root,
		Meta: map[string][]byte{metaGenesis: n.genesisHashBytes(), metaGenesisRoot: root[:]}})
	if err != nil {
		return fmt.Errorf("store genesis state: %w", err)
	}
	return n.st.Sync()
}

func (n *Node) header(epoch uint64) (checkpoint.Header, error) {
	raw, err := n.st.Checkpoint(epoch)
	if err != nil {
		return checkpoint.Header{}, fmt.Errorf("checkpoint %d: %w", epoch, err)
	}
	h, err := checkpoint.DecodeHeader(raw)
	if err != nil {
		return checkpoint.Header{}, fmt.Errorf("checkpoint %d: %w", epoch, err)
	}
	return h, nil
}

// findLastFinal is the highest epoch at or below head with a certificate.
func (n *Node) findLastFinal(head uint64) uint64 {
	for ep := head; ep > 0; ep-- {
		if _, err := n.st.Certificate(ep); err == nil {
			return ep
		}
	}
	return 0
}

// replayStream feeds origin's stored entries after seq from, in order.
func (n *Node) replayStream(origin uint32, from uint64, feed func(stream.Entry, []ledger.CheckedTx) error) error {
	// Walk until the first missing seq rather than to LastEntrySeq: after a
	// state sync or import the stored entries start after the cut, not at
	// seq 1, and the store's contiguous high-water mark stays 0.
	for seq := from + 1; ; seq++ {
		raw, err := n.st.Entry(origin, seq)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		e, err := stream.DecodeEntry(raw)
		if err != nil {
			return fmt.Errorf("stored entry %d/%d: %w", origin, seq, err)
		}
		if err := feed(e, n.checkBatch(e)); err != nil {
			return err
		}
	}
}

// checkBatch decodes and checks a batch's transactions synchronously
// (restart path; the live path uses the parallel verifier).
func (n *Node) checkBatch(e stream.Entry) []ledger.CheckedTx {
	if e.Kind != stream.KindBatch {
		return nil
	}
	raws, err := stream.DecodeBatch(e.Body)
	if err != nil {
		return nil
	}
	out := make([]ledger.CheckedTx, 0, len(raws))
	for _, raw := range raws {
		if tx, err := ledger.DecodeTx(raw); err == nil {
			out = append(out, ledger.CheckTx(tx, n.g.ChainID))
		}
	}
	return out
}
