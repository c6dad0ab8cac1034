package node

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/ledgerd/ledgerd/node/statesync"
)

// TestStateSyncIgnoresLyingProbe: a fresh validator starts while one peer
// answers the start-up probe with a last final epoch far beyond the chain
// (2^40). Only what verifies counts: the node falls back to the epoch the
// honest peers claim, state-syncs to it and starts, instead of exiting.
func TestStateSyncIgnoresLyingProbe(t *testing.T) {
	cfgs, clients, g := testNetwork(t, 4)
	epoch := runHubUntilFinal(t, cfgs, clients, g, 3)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := newHub(len(cfgs), ctx)
	for i := 1; i < len(cfgs); i++ {
		n, err := open(cfgs[i], Options{Network: h.nodes[i], ProbeWait: testProbeWait})
		if err != nil {
			t.Fatal(err)
		}
		defer n.st.Close()
	}
	liar := h.nodes[1]
	liar.mu.Lock()
	honest := liar.handlers[statesync.KindCheckpoints]
	liar.handlers[statesync.KindCheckpoints] = func(ctx context.Context, from int, payload []byte) ([]byte, error) {
		b, err := honest(ctx, from, payload)
		if err == nil && len(b) >= 8 {
			binary.BigEndian.PutUint64(b, 1<<40) // "my last final epoch is 2^40"
		}
		return b, err
	}
	liar.mu.Unlock()

	// Validator 0 again, with a wiped data directory.
	home := t.TempDir()
	cfg := DefaultConfig(home)
	cfg.API.Listen, cfg.Metrics.Listen = "", ""
	for _, f := range []string{"genesis.json", "node_key"} {
		b, err := os.ReadFile(filepath.Join(cfgs[0].Home, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(home, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	n, err := open(cfg, Options{Network: h.nodes[0], ProbeWait: testProbeWait})
	if err != nil {
		t.Fatalf("a fresh node with one lying peer did not start: %v", err)
	}
	defer n.st.Close()
	if got := n.sh.Machine().LastFinal(); got < epoch {
		t.Fatalf("state-synced to epoch %d, the honest peers had %d final", got, epoch)
	}
}
