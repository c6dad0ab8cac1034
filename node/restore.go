package node

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/ledgerd/ledgerd/checkpoint"
	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/node/store"
)

// ReadFileLimited reads a file of at most limit bytes, failing on a larger
// one (genesis, keys, config: files a user points the node at).
func ReadFileLimited(path string, limit int64) ([]byte, error) {
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
	if raw, err := n.st.Meta(store.MetaGenesisRoot); err == nil && len(raw) == len(root) {
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

// restore rebuilds the validator from the store (checkpoint.Open; DESIGN
// of the shell protocol in docs/protocol.md), writing the genesis state
// first into an empty store.
func (n *Node) restore() error {
	if _, ok, err := n.st.Head(); err != nil {
		return fmt.Errorf("read head: %w", err)
	} else if !ok {
		if err := n.initGenesis(); err != nil {
			return err
		}
	}
	cfg := checkpoint.DefaultConfig(n.g, n.self)
	cfg.ClockSkewMs = int64(n.cfg.Protocol.ClockSkewMs)
	cfg.SlowPathTimeoutMs = int64(n.cfg.Protocol.SlowPathTimeoutMs)
	sh, err := checkpoint.Open(checkpoint.ShellConfig{Machine: cfg, Journal: journal{n}, Sender: sender{n},
		Signer: checkpoint.KeySigner{Key: n.key}, Observer: observer{n}}, n.now().UnixMilli())
	if err != nil {
		return err
	}
	n.sh = sh
	if m := sh.Machine(); m.LastFinal() > 0 || m.CurrentEpoch() > 1 {
		head, _ := m.Head()
		n.log.Info("restored", "head", head.Epoch, "final", m.LastFinal(), "next_own_seq", m.NextSeq())
	}
	return nil
}

// initGenesis writes the genesis state as epoch 0 of a fresh store, built
// in one sorted pass (ledger.StateBuilder, as state sync and import do).
func (n *Node) initGenesis() error {
	allocs := slices.Clone(n.g.Alloc)
	slices.SortFunc(allocs, func(a, b ledger.Alloc) int { return bytes.Compare(a.Address[:], b.Address[:]) })
	b := ledger.NewStateBuilder(uint64(len(allocs)))
	for _, a := range allocs {
		if err := b.Add(a.Address, ledger.Account{Balance: a.Balance}); err != nil {
			return fmt.Errorf("genesis state: %w", err)
		}
	}
	root := b.Root()
	err := n.st.CommitEpoch(store.EpochCommit{Epoch: 0, Nodes: b.Nodes(), StateRoot: root,
		Meta: map[string][]byte{store.MetaGenesisHash: n.genesisHashBytes(), store.MetaGenesisRoot: root[:]}})
	if err != nil {
		return fmt.Errorf("store genesis state: %w", err)
	}
	return n.st.Sync()
}

func (n *Node) header(epoch uint64) (checkpoint.Header, error) {
	raw, err := n.rd.Checkpoint(epoch)
	if err != nil {
		return checkpoint.Header{}, fmt.Errorf("checkpoint %d: %w", epoch, notFound(err))
	}
	h, err := checkpoint.DecodeHeader(raw)
	if err != nil {
		return checkpoint.Header{}, fmt.Errorf("checkpoint %d: %w", epoch, err)
	}
	return h, nil
}

// findLastFinal is the highest epoch at or below head with a certificate.
func (n *Node) findLastFinal(head uint64) (uint64, error) {
	for ep := head; ep > 0; ep-- {
		_, err := n.rd.Certificate(ep)
		if err == nil {
			return ep, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return 0, fmt.Errorf("certificate %d: %w", ep, err)
		}
	}
	return 0, nil
}
