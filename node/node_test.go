package node

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/ledgerd/ledgerd/checkpoint"
	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/node/api"
)

// testNetwork writes n validator homes with a 300 ms epoch and one funded
// client key per validator.
func testNetwork(t *testing.T, n int) ([]Config, []*ecdsa.PrivateKey, *ledger.Genesis) {
	t.Helper()
	dir := t.TempDir()
	g := &ledger.Genesis{ChainID: "node-test", GenesisTimeMs: time.Now().UnixMilli(), EpochLengthMs: 300,
		MaxEpochTxs: 100_000, FeeCollector: ledger.Address{0xfe}}
	var clients []*ecdsa.PrivateKey
	var cfgs []Config
	for i := 0; i < n; i++ {
		c, _ := crypto.GenerateKey()
		clients = append(clients, c)
		g.Alloc = append(g.Alloc, ledger.Alloc{Address: crypto.PubkeyToAddress(c.PublicKey), Balance: 1_000_000})
		k, _ := crypto.GenerateKey()
		home := filepath.Join(dir, fmt.Sprintf("v%d", i))
		if err := os.MkdirAll(home, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := crypto.SaveECDSA(filepath.Join(home, "node_key"), k); err != nil {
			t.Fatal(err)
		}
		g.Validators = append(g.Validators, ledger.Validator{Name: fmt.Sprintf("v%d", i),
			Address: crypto.PubkeyToAddress(k.PublicKey), PublicKey: crypto.CompressPubkey(&k.PublicKey), Power: 1})
		cfg := DefaultConfig(home)
		cfg.API.Listen, cfg.Metrics.Listen = "", ""
		cfg.MemoryLimitMiB = 0 // a process-wide setting; these nodes share one test process
		cfgs = append(cfgs, cfg)
	}
	gj, err := json.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cfgs {
		if err := os.WriteFile(filepath.Join(c.Home, "genesis.json"), gj, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return cfgs, clients, g
}

// TestNodesFinalizeTransfers runs four nodes over the in-process hub,
// submits transfers through the API backend of different nodes, and checks
// that every node finalizes the same checkpoints, the transfers are final
// with receipts, the chain verifies and total supply is unchanged.
func TestNodesFinalizeTransfers(t *testing.T) {
	cfgs, clients, g := testNetwork(t, 4)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := newHub(len(cfgs), ctx)
	nodes := make([]*Node, len(cfgs))
	var wg sync.WaitGroup
	errs := make(chan error, len(cfgs))
	for i, cfg := range cfgs {
		n, err := open(cfg, Options{Network: h.nodes[i], ProbeWait: testProbeWait})
		if err != nil {
			t.Fatal(err)
		}
		nodes[i] = n
		wg.Go(func() { errs <- n.serve(ctx) })
	}
	// Wait for the views to exist.
	deadline := time.Now().Add(10 * time.Second)
	for _, n := range nodes {
		for n.view.Load() == nil && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	const transfers = 60
	var hashes []ledger.Hash
	for i := 0; i < transfers; i++ {
		// Client c sends its nonces in order through node c: a client that
		// spreads consecutive nonces over several nodes races itself.
		c := i % len(nodes)
		// Clients pay each other, so senders are also recipients.
		to := crypto.PubkeyToAddress(clients[(c+1)%len(clients)].PublicKey)
		tx := ledger.Tx{ChainID: g.ChainID, To: to, Amount: 3, Fee: 1, Nonce: uint64(i / len(nodes))}
		if err := tx.Sign(clients[c]); err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, submitRetry(t, nodes[i%len(nodes)], tx, deadline.Add(20*time.Second)))
	}
	// Every transfer final everywhere.
	for _, hash := range hashes {
		for i, n := range nodes {
			for {
				st, err := backend{n}.Tx(ctx, hash)
				if err != nil {
					t.Fatal(err)
				}
				if st.Status == api.TxFinal {
					if st.Receipt == nil || st.Receipt.Status != api.ReceiptOK {
						t.Fatalf("node %d: tx %s final with receipt %+v", i, hash, st.Receipt)
					}
					break
				}
				if time.Now().After(deadline.Add(20 * time.Second)) {
					t.Fatalf("node %d: tx %s still %s", i, hash, st.Status)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	// Let a few more epochs finalize so the chain has links to check.
	for i, n := range nodes {
		for n.view.Load().lastFinal < 3 {
			if time.Now().After(deadline.Add(20 * time.Second)) {
				t.Fatalf("node %d: only %d epochs final", i, n.view.Load().lastFinal)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("node stopped with %v", err)
		}
	}
	// Re-open each store read-only through a fresh node: identical chains.
	var chains [][]checkpoint.Certified
	for _, cfg := range cfgs {
		n, err := open(cfg, Options{Network: h.nodes[0], ProbeWait: testProbeWait})
		if err != nil {
			t.Fatal(err)
		}
		var chain []checkpoint.Certified
		for ep := uint64(1); ep <= n.sh.Machine().LastFinal(); ep++ {
			hd, err := n.header(ep)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := n.st.Certificate(ep)
			if err != nil {
				t.Fatal(err)
			}
			cert, err := checkpoint.DecodeCertificate(raw)
			if err != nil {
				t.Fatal(err)
			}
			chain = append(chain, checkpoint.Certified{Header: hd, Certificate: cert})
		}
		if err := checkpoint.VerifyChain(g, nil, chain); err != nil {
			t.Fatalf("%s: %v", cfg.Moniker, err)
		}
		var supply uint64
		if err := n.sh.Machine().State().ForEachAccount(ledger.Address{}, func(_ ledger.Address, a ledger.Account) bool {
			supply += a.Balance
			return true
		}); err != nil {
			t.Fatal(err)
		}
		if supply != g.TotalSupply() {
			t.Fatalf("%s: supply %d, genesis %d", cfg.Moniker, supply, g.TotalSupply())
		}
		n.st.Close()
		chains = append(chains, chain)
	}
	shortest := len(chains[0])
	for _, c := range chains {
		shortest = min(shortest, len(c))
	}
	if shortest < 3 {
		t.Fatalf("only %d final epochs", shortest)
	}
	for i := 1; i < len(chains); i++ {
		for ep := 0; ep < shortest; ep++ {
			if chains[i][ep].Header.Hash() != chains[0][ep].Header.Hash() {
				t.Fatalf("node %d epoch %d differs", i, ep+1)
			}
		}
	}
	var txs uint64
	for _, c := range chains[0] {
		txs += c.Header.TxCount
	}
	t.Logf("%d epochs final at every node, %d transactions", shortest, txs)
}
