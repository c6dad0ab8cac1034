package node

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/node/api"
	"github.com/ledgerd/ledgerd/node/statesync"
)

// runHubUntilFinal runs the configured nodes over the in-process hub with
// a few transfers until every node has at least `final` final epochs and
// every transfer is final on every node, then stops them. It returns an
// epoch final on every node that includes the transfers (on a loaded machine
// they may miss the first epochs).
func runHubUntilFinal(t *testing.T, cfgs []Config, clients []*ecdsa.PrivateKey, g *ledger.Genesis, final uint64) uint64 {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := newHub(len(cfgs), ctx)
	nodes := make([]*Node, len(cfgs))
	var wg sync.WaitGroup
	for i, cfg := range cfgs {
		n, err := open(cfg, Options{Network: h.nodes[i], ProbeWait: testProbeWait})
		if err != nil {
			t.Fatal(err)
		}
		nodes[i] = n
		wg.Go(func() { _ = n.serve(ctx) })
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, n := range nodes {
		for n.view.Load() == nil && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	var hashes []ledger.Hash
	for i, c := range clients {
		tx := ledger.Tx{ChainID: g.ChainID, To: ledger.Address{byte(i + 1), 7}, Amount: 5, Fee: 1}
		if err := tx.Sign(c); err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, submitRetry(t, nodes[i], tx, deadline))
	}
	for i, n := range nodes {
		for n.view.Load().lastFinal < final {
			if time.Now().After(deadline) {
				t.Fatalf("node %d: only %d epochs final", i, n.view.Load().lastFinal)
			}
			time.Sleep(20 * time.Millisecond)
		}
		for _, h := range hashes {
			for {
				st, err := (backend{n}).Tx(ctx, common.Hash(h))
				if err == nil && st.Status == api.TxFinal {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("node %d: transfer %s not final: %+v %v", i, h, st, err)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	epoch := nodes[0].view.Load().lastFinal
	for _, n := range nodes {
		epoch = min(epoch, n.view.Load().lastFinal)
	}
	cancel()
	wg.Wait()
	return epoch
}

// TestStateExportImport exports a certified epoch from a stopped node,
// refuses every single-byte tampering of the file, imports it into a new
// data directory, restores a node from it without any entry before the
// cut, and refuses a second import and an import into a running node.
func TestStateExportImport(t *testing.T) {
	cfgs, clients, g := testNetwork(t, 4)
	epoch := runHubUntilFinal(t, cfgs, clients, g, 3)

	var buf bytes.Buffer
	info, err := ExportStateHome(cfgs[0], epoch, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if info.Accounts < uint64(len(clients))+1 {
		t.Fatalf("exported %d accounts", info.Accounts)
	}
	file := buf.Bytes()
	t.Logf("state file: %d bytes, epoch %d, %d accounts", len(file), info.Epoch, info.Accounts)

	v, err := statesync.ReadStateFile(g, bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if v.Info() != info {
		t.Fatalf("read %+v, exported %+v", v.Info(), info)
	}
	// Every byte flipped, and every truncation length class, is refused.
	for i := range file {
		bad := bytes.Clone(file)
		bad[i] ^= 0x01
		if _, err := statesync.ReadStateFile(g, bytes.NewReader(bad)); !errors.Is(err, statesync.ErrStateFile) {
			t.Fatalf("byte %d flipped: accepted (err %v)", i, err)
		}
	}
	for _, l := range []int{0, 10, 60, len(file) / 2, len(file) - 9, len(file) - 1} {
		if _, err := statesync.ReadStateFile(g, bytes.NewReader(file[:l])); !errors.Is(err, statesync.ErrStateFile) {
			t.Fatalf("truncated to %d: accepted (err %v)", l, err)
		}
	}
	if _, err := statesync.ReadStateFile(g, bytes.NewReader(append(bytes.Clone(file), 0))); !errors.Is(err, statesync.ErrStateFile) {
		t.Fatalf("trailing byte accepted: %v", err)
	}

	// A tampered import into a new home creates nothing.
	home := t.TempDir()
	newCfg := DefaultConfig(home)
	newCfg.API.Listen, newCfg.Metrics.Listen = "", ""
	for _, f := range []string{"genesis.json", "node_key"} {
		b, err := os.ReadFile(filepath.Join(cfgs[0].Home, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(home, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	bad := bytes.Clone(file)
	bad[len(bad)-20] ^= 0x80 // inside the last account record
	if _, err := ImportStateHome(newCfg, bytes.NewReader(bad)); !errors.Is(err, statesync.ErrStateFile) {
		t.Fatalf("tampered import: %v", err)
	}
	if _, err := os.Stat(newCfg.Path(newCfg.DataDir)); !os.IsNotExist(err) {
		t.Fatalf("tampered import created the data directory: %v", err)
	}

	got, err := ImportStateHome(newCfg, bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if got != info {
		t.Fatalf("imported %+v, exported %+v", got, info)
	}
	if _, err := ImportStateHome(newCfg, bytes.NewReader(file)); !errors.Is(err, statesync.ErrStoreNotEmpty) {
		t.Fatalf("second import: %v", err)
	}
	if _, err := ImportStateHome(cfgs[1], bytes.NewReader(file)); !errors.Is(err, statesync.ErrStoreNotEmpty) {
		t.Fatalf("import into a used store: %v", err)
	}

	// The imported node restores at the cut, with no entry before it.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := newHub(len(g.Validators), ctx)
	n, err := open(newCfg, Options{Network: h.nodes[0], ProbeWait: testProbeWait})
	if err != nil {
		t.Fatal(err)
	}
	if n.sh.Machine().LastFinal() != epoch {
		t.Fatalf("restored last final %d", n.sh.Machine().LastFinal())
	}
	if hd, hash := n.sh.Machine().Head(); hd.Epoch != epoch || hash != info.Hash || n.sh.Machine().State().Root() != info.StateRoot {
		t.Fatalf("restored head %d %s root %s", hd.Epoch, hash, n.sh.Machine().State().Root())
	}
	for k := range g.Validators {
		if last, err := n.st.LastEntrySeq(uint32(k)); err != nil || last != 0 {
			t.Fatalf("origin %d: %d entries, %v", k, last, err)
		}
		if pos := n.sh.Machine().StreamPositions()[k]; uint32(k) != n.self && pos.NextSeq != hdCut(t, n, k)+1 {
			t.Fatalf("origin %d resumes at %d", k, pos.NextSeq)
		}
	}
	// While it is open, export and import refuse with the running-node error.
	if _, err := ExportStateHome(newCfg, epoch, &bytes.Buffer{}); !errors.Is(err, ErrNodeRunning) {
		t.Fatalf("export from a running node: %v", err)
	}
	n.st.Close()
	// The imported store has no epochs before the cut to export.
	if _, err := ExportStateHome(newCfg, epoch, &bytes.Buffer{}); err == nil {
		t.Fatal("export of an imported store without its earlier epochs succeeded")
	}
}

func hdCut(t *testing.T, n *Node, k int) uint64 {
	t.Helper()
	hd, _ := n.sh.Machine().Head()
	return hd.Cut[k]
}
