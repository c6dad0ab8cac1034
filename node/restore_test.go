package node

import (
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ledgerd/ledgerd/checkpoint"
	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/node/store"
)

// TestRestoreKeepsVotePastHead: a vote leaves before its epoch is committed
// (handleReady), so a node killed in between restarts with its vote stored
// for an epoch past the store's head. Restore must hand that vote to the
// machine, which then never signs another hash for the epoch.
func TestRestoreKeepsVotePastHead(t *testing.T) {
	cfgs, _, g := testNetwork(t, 4)
	cfg := cfgs[0]
	n, err := open(cfg, Options{Network: newHub(4, t.Context()).nodes[0], ProbeWait: testProbeWait})
	if err != nil {
		t.Fatal(err)
	}
	head, _ := n.sh.Machine().Head()
	if err := n.st.Close(); err != nil {
		t.Fatal(err)
	}
	key, err := crypto.LoadECDSA(cfg.Path(cfg.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	// This node's vote for the epoch after the head (and one past the
	// in-flight window, which restore has no reason to read).
	cfgM := checkpoint.DefaultConfig(g, 0)
	votes := map[uint64]checkpoint.Vote{}
	for _, ep := range []uint64{head.Epoch + 1, head.Epoch + uint64(cfgM.MaxEpochsInFlight) + 1} {
		v := checkpoint.Vote{Epoch: ep, Hash: ledger.Hash{0xab, byte(ep)}, Validator: 0, Recorded: make([]uint64, len(g.Validators))}
		sig, err := (checkpoint.KeySigner{Key: key}).Sign(v.Digest(g.ChainID))
		if err != nil {
			t.Fatal(err)
		}
		v.Sig = sig
		votes[ep] = v
	}
	st, err := store.Open(cfg.Path(cfg.DataDir), store.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	for ep, v := range votes {
		if err := st.PutVote(ep, 0, v.Encode()); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	n, err = open(cfg, Options{Network: newHub(4, t.Context()).nodes[0], ProbeWait: testProbeWait})
	if err != nil {
		t.Fatal(err)
	}
	defer n.st.Close()
	if h, _ := n.sh.Machine().Head(); h.Epoch != head.Epoch {
		t.Fatalf("head %d after reopening, want %d", h.Epoch, head.Epoch)
	}
	next := head.Epoch + 1
	if v, ok := n.sh.Machine().Voted(next); !ok || v.Hash != votes[next].Hash {
		t.Fatalf("epoch %d past the head: restored vote %+v (found %v), want the stored vote for %s", next, v, ok, votes[next].Hash)
	}
	far := head.Epoch + uint64(cfgM.MaxEpochsInFlight) + 1
	if _, ok := n.sh.Machine().Voted(far); ok {
		t.Fatalf("epoch %d beyond the in-flight window restored", far)
	}
}
