package main

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/node/api"
)

// TestValidatorsDown: f of n validators (1 of 4, 2 of 7), separate `ledgerd
// run` processes, are killed with SIGKILL and left down. The others keep
// finalizing within the slow-path timeout plus two epochs, 200 transfers
// sent to them become final, the certified chain verifies offline and its
// headers name the absent validators. Restarted, the stopped ones catch up
// by themselves and report the same checkpoint for every epoch.
func TestValidatorsDown(t *testing.T) {
	if testing.Short() {
		t.Skip("runs validator processes; skipped with -short")
	}
	for _, tc := range []struct{ n, down int }{{4, 1}, {7, 2}} {
		t.Run(fmt.Sprintf("%d-of-%d", tc.down, tc.n), func(t *testing.T) { validatorsDown(t, tc.n, tc.down) })
	}
}

func validatorsDown(t *testing.T, n, down int) {
	const epoch = time.Second
	p := startProcNet(t, n, epoch)
	g, faucet := p.chain(t)
	for i := range p.nodes {
		if _, err := p.waitFinal(i, 2, 60*time.Second); err != nil {
			t.Fatalf("%v\n%s", err, p.logTail(30))
		}
	}
	// The last `down` validators stop for good (until restarted below).
	stopped := make([]int, 0, down)
	for i := n - down; i < n; i++ {
		p.stop(i, syscall.SIGKILL)
		stopped = append(stopped, i)
	}
	killedAt := time.Now()
	before, _ := p.latestFinal(0)
	// Finality goes on within the slow-path timeout (1 s) plus two epochs,
	// give or take the machine's load.
	limit := time.Second + 2*epoch + 3*time.Second
	if _, err := p.waitFinal(0, before+1, limit); err != nil {
		t.Fatalf("no epoch final %s after %d of %d validators stopped: %v\n%s", limit, down, n, err, p.logTail(40))
	}
	firstFinal := time.Since(killedAt)
	// 200 transfers through the live validators, every one final.
	hashes := sendTransfers(t, p, g, faucet, n-down, 200)
	for _, h := range hashes {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		st, err := p.apis[0].WaitTx(ctx, h, 100*time.Millisecond)
		cancel()
		if err != nil || st.Status != api.TxFinal || st.Receipt == nil || st.Receipt.Status != api.ReceiptOK {
			t.Fatalf("transfer %s: %+v %v\n%s", h, st, err, p.logTail(30))
		}
	}
	// The chain verifies from the genesis, and names the absent validators.
	out, err := runBinary(p.bin, "checkpoint", "verify", "--node", "http://"+p.nodes[0].Config.API.Listen,
		"--genesis", p.genesisPath())
	if err != nil {
		t.Fatalf("checkpoint verify: %v\n%s", err, out)
	}
	last, _ := p.latestFinal(0)
	c, err := p.apis[0].Checkpoint(context.Background(), last)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Absent, toUint32(stopped)) {
		t.Fatalf("epoch %d names absent %v, want %v", last, c.Absent, stopped)
	}
	// Restarted, the stopped validators catch up and agree on every epoch.
	for _, i := range stopped {
		p.start(i)
	}
	target := last + 4
	for i := range p.nodes {
		if _, err := p.waitFinal(i, target, 90*time.Second); err != nil {
			t.Fatalf("after the restart: %v\n%s", err, p.logTail(40))
		}
	}
	for ep := uint64(1); ep <= target; ep++ {
		ref, err := p.apis[0].Checkpoint(context.Background(), ep)
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range stopped {
			got, err := p.apis[i].Checkpoint(context.Background(), ep)
			if err != nil || got.Hash != ref.Hash {
				t.Fatalf("v%d epoch %d: %s %v, v0 has %s", i, ep, got.Hash, err, ref.Hash)
			}
		}
	}
	rejoined, err := p.apis[0].Checkpoint(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d of %d down: first epoch final %s after the kill; %d transfers final; epoch %d absent %v; after the restart epoch %d absent %v",
		down, n, firstFinal.Round(10*time.Millisecond), len(hashes), last, c.Absent, target, rejoined.Absent)
	if len(rejoined.Absent) != 0 {
		t.Fatalf("epoch %d still names absent validators %v after the restart", target, rejoined.Absent)
	}
}

// sendTransfers funds one account per live validator from the faucet,
// then sends count transfers, spread over the live validators (each
// account's nonces through its own one, in order), and returns their
// hashes.
func sendTransfers(t *testing.T, p *procNet, g *ledger.Genesis, faucet *ecdsa.PrivateKey, live, count int) []ledger.Hash {
	t.Helper()
	ctx := context.Background()
	acct, err := p.apis[0].Account(ctx, crypto.PubkeyToAddress(faucet.PublicKey), false)
	if err != nil {
		t.Fatal(err)
	}
	submit := func(via int, tx ledger.Tx) {
		t.Helper()
		for attempt := 0; ; attempt++ {
			_, err := p.apis[via].SubmitTx(ctx, tx.Encode())
			if err == nil {
				return
			}
			if attempt > 200 || !errors.Is(err, api.ErrMempoolFull) {
				t.Fatalf("submit through v%d: %v", via, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	senders := make([]*ecdsa.PrivateKey, live)
	for i := range senders {
		k, err := crypto.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		senders[i] = k
		fund := ledger.Tx{ChainID: g.ChainID, To: crypto.PubkeyToAddress(k.PublicKey), Amount: 1_000_000, Nonce: acct.Nonce + uint64(i)}
		if err := fund.Sign(faucet); err != nil {
			t.Fatal(err)
		}
		submit(0, fund)
		if i == live-1 {
			wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			_, err := p.apis[0].WaitTx(wctx, fund.Hash(), 100*time.Millisecond)
			cancel()
			if err != nil {
				t.Fatalf("funding: %v\n%s", err, p.logTail(30))
			}
		}
	}
	var hashes []ledger.Hash
	nonces := make([]uint64, live)
	for i := 0; i < count; i++ {
		s := i % live
		tx := ledger.Tx{ChainID: g.ChainID, To: ledger.Address{0x42, byte(i), byte(i >> 8)}, Amount: 1, Nonce: nonces[s]}
		if err := tx.Sign(senders[s]); err != nil {
			t.Fatal(err)
		}
		submit(s, tx)
		nonces[s]++
		hashes = append(hashes, tx.Hash())
	}
	return hashes
}

// runBinary runs the ledgerd binary and returns its combined output.
func runBinary(bin string, args ...string) (string, error) {
	out, err := exec.Command(bin, args...).CombinedOutput()
	return string(out), err
}

// genesisPath is the network's genesis file.
func (p *procNet) genesisPath() string {
	return filepath.Join(filepath.Dir(p.nodes[0].Home), genesisFile)
}

func toUint32(s []int) []uint32 {
	out := make([]uint32, len(s))
	for i, v := range s {
		out[i] = uint32(v)
	}
	return out
}

// TestValidatorPaused: one of 4 validator processes is stopped with SIGSTOP
// (as `docker pause` does) for more epochs than the in-flight window, then
// continued. The others finalize meanwhile; the same process (no restart)
// catches up by itself, agrees on every epoch and takes part again.
func TestValidatorPaused(t *testing.T) {
	if testing.Short() {
		t.Skip("runs validator processes; skipped with -short")
	}
	const epoch, away = 500 * time.Millisecond, 20 // epochs; the in-flight window is 8
	p := startProcNet(t, 4, epoch)
	for i := range p.nodes {
		if _, err := p.waitFinal(i, 2, 60*time.Second); err != nil {
			t.Fatalf("%v\n%s", err, p.logTail(30))
		}
	}
	p.mu.Lock()
	paused := p.procs[3].Process
	p.mu.Unlock()
	if err := paused.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	defer func() {
		if !resumed {
			_ = paused.Signal(syscall.SIGCONT)
		}
	}()
	before, _ := p.latestFinal(0)
	if _, err := p.waitFinal(0, before+away, time.Duration(3*away)*epoch+30*time.Second); err != nil {
		t.Fatalf("with v3 paused: %v\n%s", err, p.logTail(30))
	}
	resumed = true
	if err := paused.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	contAt := time.Now()
	target, _ := p.latestFinal(0)
	if _, err := p.waitFinal(3, target, 90*time.Second); err != nil {
		t.Fatalf("after SIGCONT: %v\n%s", err, p.logTail(40))
	}
	caughtUp := time.Since(contAt)
	for ep := uint64(1); ep <= target; ep++ {
		ref, err1 := p.apis[0].Checkpoint(context.Background(), ep)
		got, err2 := p.apis[3].Checkpoint(context.Background(), ep)
		if err1 != nil || err2 != nil || got.Hash != ref.Hash {
			t.Fatalf("epoch %d: v3 has %s (%v), v0 %s (%v)", ep, got.Hash, err2, ref.Hash, err1)
		}
	}
	// It takes part again: a later epoch names nobody absent.
	deadline := time.Now().Add(60 * time.Second)
	var back uint64
	for back == 0 {
		last, err := p.waitFinal(0, target+1, 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if c, err := p.apis[0].Checkpoint(context.Background(), last); err == nil && len(c.Absent) == 0 {
			back = last
		}
		if time.Now().After(deadline) {
			t.Fatalf("v3 still absent 60 s after SIGCONT\n%s", p.logTail(30))
		}
		time.Sleep(epoch)
	}
	p.mu.Lock()
	same := p.procs[3].Process == paused
	p.mu.Unlock()
	if !same || syscall.Kill(paused.Pid, 0) != nil {
		t.Fatal("v3's process did not survive the pause")
	}
	t.Logf("v3 paused for %d epochs: caught up to epoch %d %s after SIGCONT in the same process; epoch %d has every validator",
		target-before, target, caughtUp.Round(10*time.Millisecond), back)
}
