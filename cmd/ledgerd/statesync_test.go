package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/ledgerd/ledgerd/checkpoint"
	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/node/api"
	"github.com/ledgerd/ledgerd/node/store"
)

// TestWipedValidatorStateSync is the wipe test: a loaded 4-process
// network; one validator is killed and its data directory wiped; restarted,
// it state-syncs from a certified checkpoint its peers serve (not from the
// genesis: its store holds no entry and no checkpoint before the synced
// cut), recovers its own stream tail from peers (no equivocation anywhere),
// then reports the same checkpoints as its peers and votes in new epochs.
func TestWipedValidatorStateSync(t *testing.T) {
	if testing.Short() {
		t.Skip("runs and wipes validator processes; skipped with -short")
	}
	start := time.Now()
	p := startProcNet(t, 4, time.Second)
	g, faucet := p.chain(t)
	waitFinal := func(i int, atLeast uint64, within time.Duration) uint64 {
		t.Helper()
		lf, err := p.waitFinal(i, atLeast, within)
		if err != nil {
			t.Fatalf("%v\n%s", err, p.logTail(40))
		}
		return lf
	}
	for i := range p.nodes {
		waitFinal(i, 1, 30*time.Second)
	}
	const victim = 3
	// Two loads: the faucet through v0 for the whole test, and a second
	// sender through the victim until it is killed, so the victim's own
	// stream has batches after its last marker that only its peers keep.
	second, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	fund := ledger.Tx{ChainID: g.ChainID, To: crypto.PubkeyToAddress(second.PublicKey), Amount: 1_000_000, Nonce: 0}
	if err := fund.Sign(faucet); err != nil {
		t.Fatal(err)
	}
	if _, err := p.apis[0].SubmitTx(context.Background(), fund.Encode()); err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	_, err = p.apis[0].WaitTx(wctx, fund.Hash(), 100*time.Millisecond)
	wcancel()
	if err != nil {
		t.Fatal(err)
	}
	ctx, stopLoad := context.WithCancel(context.Background())
	defer stopLoad()
	loadDone := make(chan struct{})
	sent := 0
	load := func(key *ecdsa.PrivateKey, via int, nonce uint64, done chan<- struct{}, count *int) {
		defer close(done)
		to := crypto.PubkeyToAddress(key.PublicKey)
		for ctx.Err() == nil {
			tx := ledger.Tx{ChainID: g.ChainID, To: to, Amount: 1, Nonce: nonce}
			to[0]++
			if err := tx.Sign(key); err != nil {
				return
			}
			if _, err := p.apis[via].SubmitTx(ctx, tx.Encode()); err == nil {
				nonce++
				*count++
			} else if via != 0 {
				return // the victim is gone
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	go load(faucet, 0, 1, loadDone, &sent)
	victimDone := make(chan struct{})
	sentVictim := 0
	go load(second, victim, 0, victimDone, &sentVictim)
	waitFinal(victim, 4, 30*time.Second)
	p.stop(victim, syscall.SIGKILL)
	<-victimDone
	dataDir := p.nodes[victim].Config.Path(p.nodes[victim].Config.DataDir)
	if err := os.RemoveAll(dataDir); err != nil {
		t.Fatal(err)
	}
	wipedAt, _ := p.latestFinal(0)
	time.Sleep(1500 * time.Millisecond)
	// The API is up during the start-up state sync. To observe it
	// reliably, v2 is frozen (SIGSTOP) while the victim starts: the probe
	// waits for every validator, so the victim stays in its state sync with
	// v0's and v1's answers (target epoch > 0) until v2 is thawed.
	const frozen = 2
	signal := func(i int, sig syscall.Signal) {
		p.mu.Lock()
		defer p.mu.Unlock()
		if c := p.procs[i]; c != nil && c.Process != nil {
			_ = c.Process.Signal(sig)
		}
	}
	signal(frozen, syscall.SIGSTOP)
	defer signal(frozen, syscall.SIGCONT)
	p.start(victim)
	var during api.Status
	for deadline := time.Now().Add(8 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		st, err := p.apis[victim].Status(context.Background())
		if err == nil && st.Sync.State == api.SyncSyncing && st.Sync.TargetEpoch > 0 && st.Sync.StateSync != nil {
			during = st
			break
		}
		if time.Now().After(deadline) {
			signal(frozen, syscall.SIGCONT)
			t.Fatalf("v%d never reported state sync in /v1/status (last %+v, %v)\n%s", victim, st, err, p.logTail(30))
		}
	}
	// Meanwhile the store-backed routes refuse with 503 not_synced.
	if _, err := p.apis[victim].LatestCheckpoint(context.Background()); !errors.Is(err, api.ErrNotSynced) {
		t.Fatalf("v%d latest checkpoint during its state sync: %v, want not_synced", victim, err)
	}
	signal(frozen, syscall.SIGCONT)
	t.Logf("v%d during its state sync: sync %+v, state_sync %+v", victim, during.Sync, *during.Sync.StateSync)
	// The wiped node syncs and the network moves on, with it voting.
	target := wipedAt + 4
	for i := range p.nodes {
		waitFinal(i, target, 60*time.Second)
	}
	logData, _ := os.ReadFile(filepath.Join(p.nodes[victim].Home, "node.log"))
	m := regexp.MustCompile(`msg="state synced".*? epoch=(\d+)`).FindSubmatch(logData)
	if m == nil {
		t.Fatalf("v%d did not state-sync:\n%s", victim, p.logTail(60))
	}
	synced, _ := strconv.ParseUint(string(m[1]), 10, 64)
	// The three others go on finalizing while the victim is down (until v2
	// is frozen): it syncs to their last final epoch, past the one of the
	// wipe.
	if now, _ := p.latestFinal(0); synced < wipedAt || synced > now {
		t.Fatalf("synced to epoch %d, network was final at %d when the node was wiped and is at %d now", synced, wipedAt, now)
	}
	recovered := bytes.Contains(logData, []byte("own stream recovered from peers"))
	// The finished sync stays in the status of the running node.
	if st, err := p.apis[victim].Status(context.Background()); err != nil || st.Sync.StateSync == nil ||
		st.Sync.StateSync.Phase != api.StateSyncDone || st.Sync.StateSync.TargetEpoch != synced ||
		st.Sync.StateSync.Accounts == 0 || st.Sync.StateSync.FinishedAtMs == 0 || st.Sync.State == api.SyncSyncing {
		t.Fatalf("v%d status after its state sync: %+v %v", victim, st.Sync, err)
	}
	// Same checkpoints as its peers from the cut on; nothing before the cut.
	c0, cv := p.apis[0], p.apis[victim]
	lf, _ := p.latestFinal(victim)
	for ep := synced; ep <= lf; ep++ {
		a, err := c0.Checkpoint(context.Background(), ep)
		if err != nil {
			t.Fatal(err)
		}
		b, err := cv.Checkpoint(context.Background(), ep)
		if err != nil {
			t.Fatalf("v%d epoch %d: %v", victim, ep, err)
		}
		if !bytes.Equal(a.Header, b.Header) || !b.Final {
			t.Fatalf("v%d epoch %d differs from v0 (final %v)", victim, ep, b.Final)
		}
	}
	if _, err := cv.Checkpoint(context.Background(), 1); err == nil && synced > 1 {
		t.Fatalf("v%d serves epoch 1: it replayed from genesis", victim)
	}
	// It votes in epochs after the sync: v0 holds its signatures.
	voted := 0
	for ep := synced + 2; ep <= lf; ep++ {
		cp, err := c0.Checkpoint(context.Background(), ep)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range cp.Votes {
			if v.ValidatorIndex == victim {
				voted++
			}
		}
	}
	if voted == 0 {
		t.Fatalf("v%d voted in none of epochs %d..%d", victim, synced+2, lf)
	}
	// A plain kill/restart of the synced node: it restores from a store
	// whose entries start after the cut (own entries replayed, not reused).
	p.stop(victim, syscall.SIGKILL)
	time.Sleep(500 * time.Millisecond)
	p.start(victim)
	for i := range p.nodes {
		waitFinal(i, lf+3, 60*time.Second)
	}
	stopLoad()
	<-loadDone
	for i := range p.nodes {
		p.stop(i, syscall.SIGTERM)
	}
	// No node saw two different entries for one (origin, seq).
	for _, nd := range p.nodes {
		data, _ := os.ReadFile(filepath.Join(nd.Home, "node.log"))
		if bytes.Contains(data, []byte("equivocation")) {
			t.Fatalf("%s logged an equivocation:\n%s", nd.Name, p.logTail(40))
		}
	}
	// Backup and restore through the CLI: export v0's stopped store at the
	// synced epoch, import it into a new home with v3's identity, refuse a
	// second import and a tampered file.
	out := filepath.Join(t.TempDir(), "state.bin")
	if b, err := exec.Command(p.bin, "state", "export", "--home", p.nodes[0].Home, "--epoch", strconv.FormatUint(synced, 10), "--out", out).CombinedOutput(); err != nil {
		t.Fatalf("state export: %v\n%s", err, b)
	}
	newHome := t.TempDir()
	for _, f := range []string{configFileName, genesisFile, "node_key"} {
		b, err := os.ReadFile(filepath.Join(p.nodes[victim].Home, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(newHome, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	file, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(file)
	bad[len(bad)/2] ^= 0x10
	badPath := out + ".bad"
	if err := os.WriteFile(badPath, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(p.bin, "state", "import", "--home", newHome, badPath).CombinedOutput(); err == nil || !bytes.Contains(b, []byte("state file refused")) {
		t.Fatalf("tampered import: %v\n%s", err, b)
	}
	if b, err := exec.Command(p.bin, "state", "import", "--home", newHome, out).CombinedOutput(); err != nil {
		t.Fatalf("state import: %v\n%s", err, b)
	}
	if b, err := exec.Command(p.bin, "state", "import", "--home", newHome, out).CombinedOutput(); err == nil || !bytes.Contains(b, []byte("not empty")) {
		t.Fatalf("second import: %v\n%s", err, b)
	}
	// The wiped node's store starts at the cut: no entry of any other
	// origin at or before the synced cut, no checkpoint before it.
	st, err := store.Open(dataDir, store.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	raw, err := st.Checkpoint(synced)
	if err != nil {
		t.Fatal(err)
	}
	if synced > 1 {
		if _, err := st.Checkpoint(synced - 1); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("checkpoint %d before the cut is stored: %v", synced-1, err)
		}
	}
	cut := cutOf(t, raw)
	for k := range p.nodes {
		if k == victim || cut[k] == 0 {
			continue
		}
		if _, err := st.Entry(uint32(k), cut[k]); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("origin %d: entry %d at the cut is stored (err %v): replayed from genesis?", k, cut[k], err)
		}
	}
	t.Logf("wiped v%d at final epoch %d; it state-synced to epoch %d (own stream recovered: %v), voted in %d later epochs; %d transfers accepted; network final at %d; %s",
		victim, wipedAt, synced, recovered, voted, sent+sentVictim, lf, time.Since(start).Round(time.Second))
}

func cutOf(t *testing.T, raw []byte) []uint64 {
	t.Helper()
	h, err := checkpoint.DecodeHeader(raw)
	if err != nil {
		t.Fatalf("stored checkpoint: %v", err)
	}
	return h.Cut
}
