package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"fmt"
	"github.com/ledgerd/ledgerd/p2p"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/node"
	"github.com/ledgerd/ledgerd/node/api"
)

// procNet is a network of `ledgerd run` processes the test starts, kills
// and restarts itself.
type procNet struct {
	t     *testing.T
	bin   string
	nodes []generatedNode
	mu    sync.Mutex
	procs []*exec.Cmd
	apis  []*api.Client
}

func startProcNet(t *testing.T, n int, epoch time.Duration) *procNet {
	t.Helper()
	bin := ledgerdBinary(t)
	dir := filepath.Join(t.TempDir(), "net")
	ports, err := p2p.FreePorts(3 * n)
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := generateNetwork(networkSpec{Validators: n, Dir: dir, ChainID: "crash-test", Epoch: epoch,
		StartDelay: time.Second, FaucetFunds: defaultFaucet,
		Ports: func(i int) (int, int, int) { return ports[3*i], ports[3*i+1], ports[3*i+2] }})
	if err != nil {
		t.Fatal(err)
	}
	p := &procNet{t: t, bin: bin, nodes: nodes, procs: make([]*exec.Cmd, n)}
	for i, nd := range nodes {
		c, err := api.NewClient("http://"+nd.Config.API.Listen, &http.Client{Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		p.apis = append(p.apis, c)
		p.start(i)
	}
	t.Cleanup(func() {
		for i := range p.procs {
			p.stop(i, syscall.SIGTERM)
		}
	})
	return p
}

func (p *procNet) start(i int) {
	p.t.Helper()
	logf, err := os.OpenFile(filepath.Join(p.nodes[i].Home, "node.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	cmd := exec.Command(p.bin, "run", "--home", p.nodes[i].Home)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); logf.Close() }()
	p.mu.Lock()
	p.procs[i] = cmd
	p.mu.Unlock()
}

func (p *procNet) stop(i int, sig syscall.Signal) {
	p.mu.Lock()
	cmd := p.procs[i]
	p.procs[i] = nil
	p.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	for j := 0; j < 200; j++ {
		if cmd.ProcessState != nil || syscall.Kill(cmd.Process.Pid, 0) != nil {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
}

// logTail returns the last lines of every node's log, for failure reports.
func (p *procNet) logTail(lines int) string {
	var b bytes.Buffer
	for _, nd := range p.nodes {
		data, _ := os.ReadFile(filepath.Join(nd.Home, "node.log"))
		all := bytes.Split(data, []byte("\n"))
		if len(all) > lines {
			all = all[len(all)-lines:]
		}
		fmt.Fprintf(&b, "--- %s\n%s\n", nd.Name, bytes.Join(all, []byte("\n")))
	}
	return b.String()
}

func (p *procNet) latestFinal(i int) (uint64, error) {
	st, err := p.apis[i].Status(context.Background())
	if err != nil {
		return 0, err
	}
	return st.LatestFinal.Epoch, nil
}

// waitFinal polls node i until its latest final epoch is at least atLeast,
// returning that epoch, or an error after within.
func (p *procNet) waitFinal(i int, atLeast uint64, within time.Duration) (uint64, error) {
	deadline := time.Now().Add(within)
	for {
		lf, err := p.latestFinal(i)
		if err == nil && lf >= atLeast {
			return lf, nil
		}
		if time.Now().After(deadline) {
			return lf, fmt.Errorf("v%d: final %d, want >= %d after %s (err %v)", i, lf, atLeast, within, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// chain loads the network's genesis and faucet key.
func (p *procNet) chain(t *testing.T) (*ledger.Genesis, *ecdsa.PrivateKey) {
	t.Helper()
	dir := filepath.Dir(p.nodes[0].Home)
	g, err := node.LoadGenesis(filepath.Join(dir, genesisFile))
	if err != nil {
		t.Fatal(err)
	}
	faucet, err := loadKey(filepath.Join(dir, faucetKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	return g, faucet
}

// TestKillRestart is the crash test: a loaded 4-validator network
// whose validators are killed with SIGKILL at random moments and restarted.
// After every round all nodes agree on every final checkpoint, the chain
// verifies against the genesis, and every transaction any node reported
// final is still final, with the same epoch, everywhere.
func TestKillRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts validator processes; skipped with -short")
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("LEDGERD_CRASH_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (replay: LEDGERD_CRASH_SEED=%d go test ./cmd/ledgerd -run TestKillRestart)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0x1ed6e7))
	p := startProcNet(t, 4, time.Second)
	g, faucet := p.chain(t)
	for i := range p.nodes {
		if _, err := p.waitFinal(i, 1, 30*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	// Load: the faucet sends through node 0 in the background; each accepted
	// transaction is remembered, and once final, its epoch too.
	ctx, stopLoad := context.WithCancel(context.Background())
	defer stopLoad()
	var submitted sync.Map // hash -> struct{}
	var sent atomic.Uint64
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		to := crypto.PubkeyToAddress(faucet.PublicKey)
		for nonce := uint64(0); ctx.Err() == nil; {
			tx := ledger.Tx{ChainID: g.ChainID, To: to, Amount: 1, Nonce: nonce}
			to[0]++
			if err := tx.Sign(faucet); err != nil {
				return
			}
			// Always through a live node: v0 is never killed in this test
			// so the faucet's nonces stay in one stream.
			if _, err := p.apis[0].SubmitTx(ctx, tx.Encode()); err == nil {
				submitted.Store(tx.Hash(), struct{}{})
				sent.Add(1)
				nonce++
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	// refHeader and refReceipts are the first answer seen for each epoch;
	// every node must give the same bytes, every round, forever after.
	refHeader := map[uint64][]byte{}
	refReceipts := map[uint64][]ledger.Hash{}
	finalEpoch := map[ledger.Hash]uint64{}
	checked := make([]uint64, len(p.nodes))
	checkEpoch := func(round, i int, ep uint64) {
		t.Helper()
		c := p.apis[i]
		cp, err := c.Checkpoint(context.Background(), ep)
		if err != nil || !cp.Final {
			t.Fatalf("round %d: v%d epoch %d: final=%v err=%v", round, i, ep, cp.Final, err)
		}
		rs, err := c.Receipts(context.Background(), ep)
		if err != nil {
			t.Fatalf("round %d: v%d receipts of epoch %d: %v", round, i, ep, err)
		}
		hashes := make([]ledger.Hash, len(rs.Receipts))
		for k, r := range rs.Receipts {
			hashes[k] = r.TxHash
		}
		ref, seen := refHeader[ep]
		if !seen {
			refHeader[ep], refReceipts[ep] = cp.Header, hashes
			for _, h := range hashes {
				finalEpoch[h] = ep
			}
			return
		}
		if !bytes.Equal(ref, cp.Header) {
			t.Fatalf("round %d: v%d epoch %d header differs", round, i, ep)
		}
		if len(hashes) != len(refReceipts[ep]) {
			t.Fatalf("round %d: v%d epoch %d has %d receipts, first seen %d", round, i, ep, len(hashes), len(refReceipts[ep]))
		}
		for k := range hashes {
			if hashes[k] != refReceipts[ep][k] {
				t.Fatalf("round %d: v%d epoch %d receipt %d differs", round, i, ep, k)
			}
		}
	}
	checkRound := func(round int) {
		t.Helper()
		// Everyone up: wait until all reach the highest final epoch seen.
		target := uint64(0)
		for i := range p.nodes {
			if lf, err := p.latestFinal(i); err == nil {
				target = max(target, lf)
			}
		}
		for i := range p.nodes {
			if _, err := p.waitFinal(i, target, 30*time.Second); err != nil {
				t.Fatalf("round %d: %v\n%s", round, err, p.logTail(60))
			}
		}
		for i := range p.nodes {
			for ep := checked[i] + 1; ep <= target; ep++ {
				checkEpoch(round, i, ep)
			}
			checked[i] = target
			// Re-check a few older epochs: nothing final is ever lost.
			for range 3 {
				checkEpoch(round, i, 1+rng.Uint64N(target))
			}
		}
	}
	const rounds = 30
	deadline := time.Now().Add(4 * time.Minute)
	done := 0
	for round := 1; round <= rounds && time.Now().Before(deadline); round++ {
		victim := 1 + rng.IntN(len(p.nodes)-1)
		time.Sleep(time.Duration(rng.IntN(700)) * time.Millisecond)
		p.stop(victim, syscall.SIGKILL)
		time.Sleep(time.Duration(rng.IntN(1500)) * time.Millisecond)
		p.start(victim)
		checkRound(round)
		done++
	}
	stopLoad()
	<-loadDone
	// Every accepted transfer becomes final; then the whole chain, checked.
	var missing []ledger.Hash
	for try := 0; try < 100; try++ {
		time.Sleep(200 * time.Millisecond)
		checkRound(done + 1)
		missing = missing[:0]
		submitted.Range(func(k, _ any) bool {
			if _, ok := finalEpoch[k.(ledger.Hash)]; !ok {
				missing = append(missing, k.(ledger.Hash))
			}
			return true
		})
		if len(missing) == 0 {
			break
		}
	}
	if len(missing) > 0 {
		t.Fatalf("%d accepted transfers never became final, e.g. %s", len(missing), missing[0])
	}
	lf, _ := p.latestFinal(0)
	for i, c := range p.apis {
		latest, err := c.Checkpoint(context.Background(), lf)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := verifyChainFrom(context.Background(), c, g, latest); err != nil || n != int(lf) {
			t.Fatalf("v%d: chain of %d epochs does not verify: %d %v", i, lf, n, err)
		}
	}
	if done < rounds {
		t.Fatalf("only %d of %d kill rounds within the time bound", done, rounds)
	}
	t.Logf("%d SIGKILL rounds; %d transfers submitted, %d final; %d epochs final and identical on 4 nodes; chain verifies",
		done, sent.Load(), len(finalEpoch), lf)
}
