//go:build e2e

// End-to-end tests of the compose testnet. Each test generates a
// fresh 4-validator network with `ledgerd testnet --docker`, starts it under
// its own compose project, perturbs it with docker (kill, network
// disconnect, pause) and checks the validators through their published HTTP
// ports only: identical checkpoints on every node, a chain that verifies
// against genesis (`ledgerd checkpoint verify`), and transfers that stay
// final. Run them with `make testnet-e2e`, which builds the static binary
// and the image first; they need LEDGERD_BIN (the host binary used to
// generate the network and verify chains) and the image named by
// LEDGERD_TESTNET_IMAGE (default ledgerd:testnet). Compose is
// $LEDGERD_COMPOSE (set by the Makefile), else `docker compose` (v2) when
// installed, else `docker-compose` (v1).
package testnet

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/node"
	"github.com/ledgerd/ledgerd/node/api"
)

const (
	validators = 4
	epochLen   = time.Second
	chainID    = "ledgerd-e2e"
)

// network is one running compose project.
type network struct {
	t        *testing.T
	bin      string
	dir      string
	project  string
	apiBase  int
	clients  []*api.Client
	genesis  *ledger.Genesis
	faucet   *ecdsa.PrivateKey
	extraNet string // a partition network to remove on cleanup
	// compose is the Compose command line (composeCommand).
	compose []string
	// containers are the container IDs of v0, v1, …, read once the
	// network is up (v1 and v2 name containers differently).
	containers []string
}

// run executes a command with a time bound and returns its combined output.
func run(timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// freeBase finds a base port b such that b..b+2n-1 are free on 127.0.0.1,
// below the kernel's ephemeral range (32768 on Linux) so no outgoing
// connection takes one before docker binds it.
func freeBase(t *testing.T, n int) int {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(os.Getpid())))
	for range 50 {
		base := 20000 + rng.IntN(12000)
		ok := true
		for p := base; p < base+2*n && ok; p++ {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				ok = false
				continue
			}
			l.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free port range found")
	return 0
}

var nonAlnum = regexp.MustCompile(`[^a-z0-9]+`)

// startNetwork generates and starts a fresh network; t.Cleanup tears it
// down (compose down -v), printing the logs first if t failed.
func startNetwork(t *testing.T) *network {
	t.Helper()
	if out, err := run(20*time.Second, "docker", "info"); err != nil {
		t.Skipf("skip: no Docker engine answers `docker info`: %v", strings.TrimSpace(out))
	}
	bin := os.Getenv("LEDGERD_BIN")
	if bin == "" {
		t.Fatal("LEDGERD_BIN is not set: run `make testnet-e2e`, which builds bin/ledgerd-static and the image")
	}
	image := os.Getenv("LEDGERD_TESTNET_IMAGE")
	if image == "" {
		image = DefaultImage
	}
	if _, err := run(30*time.Second, "docker", "image", "inspect", image); err != nil {
		t.Fatalf("image %s is missing: run `make testnet-image` (%v)", image, err)
	}
	dc := composeCommand()
	if dc == nil {
		t.Fatal("neither docker compose (v2) nor docker-compose (v1) is installed")
	}
	base := freeBase(t, validators)
	n := &network{t: t, bin: bin, dir: filepath.Join(t.TempDir(), "net"), apiBase: base, compose: dc,
		project: "ledgerde2e" + nonAlnum.ReplaceAllString(strings.ToLower(t.Name()), "") + fmt.Sprint(os.Getpid()%10000)}
	out, err := run(time.Minute, bin, "testnet", "--docker", "--validators", fmt.Sprint(validators), "--out", n.dir,
		"--image", image, "--chain-id", chainID, "--epoch", epochLen.String(), "--start-in", "20s",
		"--api-port-base", fmt.Sprint(base), "--metrics-port-base", fmt.Sprint(base+validators))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("generated %s (project %s, APIs on 127.0.0.1:%d..%d)", n.dir, n.project, base, base+validators-1)
	_ = out
	t.Cleanup(n.down)
	start := time.Now()
	if _, err := n.composeRun(4*time.Minute, "up", "-d"); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s up -d took %s", strings.Join(dc, " "), time.Since(start).Round(time.Millisecond))
	for i := range validators {
		out, err := n.composeRun(time.Minute, "ps", "-q", ServiceName(i))
		if err != nil || strings.TrimSpace(out) == "" {
			t.Fatalf("container of %s: %v %q", ServiceName(i), err, out)
		}
		n.containers = append(n.containers, strings.TrimSpace(out))
	}
	if n.genesis, err = node.LoadGenesis(filepath.Join(n.dir, "genesis.json")); err != nil {
		t.Fatal(err)
	}
	if n.faucet, err = crypto.LoadECDSA(filepath.Join(n.dir, "faucet_key")); err != nil {
		t.Fatal(err)
	}
	for i := range validators {
		c, err := api.NewClient(fmt.Sprintf("http://127.0.0.1:%d", base+i), &http.Client{Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		n.clients = append(n.clients, c)
	}
	n.waitAllFinal(3, 90*time.Second)
	t.Logf("all %d validators final at epoch >= 3 after %s", validators, time.Since(start).Round(time.Millisecond))
	return n
}

func (n *network) composeRun(timeout time.Duration, args ...string) (string, error) {
	full := append(append(n.compose[1:len(n.compose):len(n.compose)], "-p", n.project, "-f", filepath.Join(n.dir, "docker-compose.yml")), args...)
	return run(timeout, n.compose[0], full...)
}

// down prints the tail of every log if the test failed, then removes the
// containers, the network, the volumes and any partition network.
func (n *network) down() {
	if n.t.Failed() {
		out, _ := n.composeRun(time.Minute, "logs", "--no-color", "--tail", "60")
		n.t.Logf("logs of project %s:\n%s", n.project, out)
	}
	// A paused container cannot be stopped; unpause everything first.
	for i := range n.containers {
		_, _ = run(30*time.Second, "docker", "unpause", n.container(i))
	}
	if out, err := n.composeRun(3*time.Minute, "down", "-v", "--remove-orphans", "-t", "10"); err != nil {
		n.t.Errorf("cleanup: %v\n%s", err, out)
	}
	if n.extraNet != "" {
		_, _ = run(time.Minute, "docker", "network", "rm", n.extraNet)
	}
}

// container is the container ID of validator i.
func (n *network) container(i int) string { return n.containers[i] }

// docker runs a docker command and returns its output, trimmed; an error
// fails the test.
func (n *network) docker(args ...string) string {
	n.t.Helper()
	out, err := run(2*time.Minute, "docker", args...)
	if err != nil {
		n.t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

// latest is validator i's latest final epoch (0 when unreachable or none).
func (n *network) latest(i int) uint64 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cp, err := n.clients[i].LatestCheckpoint(ctx)
	if err != nil || !cp.Final {
		return 0
	}
	return cp.Epoch
}

func (n *network) latestAll(nodes []int) []uint64 {
	out := make([]uint64, len(nodes))
	for k, i := range nodes {
		out[k] = n.latest(i)
	}
	return out
}

// waitFinal waits until every node in nodes has epoch >= min final; it
// returns how long that took.
func (n *network) waitFinal(nodes []int, min uint64, timeout time.Duration) time.Duration {
	n.t.Helper()
	start := time.Now()
	for {
		done := true
		for _, i := range nodes {
			if n.latest(i) < min {
				done = false
				break
			}
		}
		if done {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			n.t.Fatalf("validators %v not final at epoch %d within %s; latest %v", nodes, min, timeout, n.latestAll(nodes))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// describe reports each validator's open epoch, connected validator peers
// and sync state (from /v1/status), as evidence of what the nodes saw.
func (n *network) describe() string {
	var parts []string
	for i, c := range n.clients {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := c.Status(ctx)
		cancel()
		if err != nil {
			parts = append(parts, fmt.Sprintf("v%d: %v", i, err))
			continue
		}
		parts = append(parts, fmt.Sprintf("v%d open epoch %d, %d peers, %s", i, st.Epoch, st.Peers, st.Sync.State))
	}
	return strings.Join(parts, "; ")
}

func all() []int {
	out := make([]int, validators)
	for i := range out {
		out[i] = i
	}
	return out
}

func (n *network) waitAllFinal(min uint64, timeout time.Duration) time.Duration {
	n.t.Helper()
	return n.waitFinal(all(), min, timeout)
}

// checkAgreement fetches every epoch 1..min(latest) from every node in
// nodes and fails unless the headers are byte-identical and final; it
// returns the epochs compared and the transactions they hold.
func (n *network) checkAgreement(nodes []int) (epochs, txs uint64) {
	n.t.Helper()
	ctx := context.Background()
	upto := uint64(1 << 62)
	for _, i := range nodes {
		upto = min(upto, n.latest(i))
	}
	for ep := uint64(1); ep <= upto; ep++ {
		var first api.Checkpoint
		for k, i := range nodes {
			cp, err := n.clients[i].Checkpoint(ctx, ep)
			if err != nil {
				n.t.Fatalf("v%d epoch %d: %v", i, ep, err)
			}
			if !cp.Final {
				n.t.Fatalf("v%d epoch %d: not final although latest final is >= %d", i, ep, upto)
			}
			if k == 0 {
				first = cp
				txs += cp.TxCount
				continue
			}
			if cp.Hash != first.Hash || !bytes.Equal(cp.Header, first.Header) {
				n.t.Fatalf("DIVERGENCE at epoch %d: v%d has %s, v%d has %s", ep, i, cp.Hash.Hex(), nodes[0], first.Hash.Hex())
			}
		}
	}
	return upto, txs
}

// verifyChains runs `ledgerd checkpoint verify` against every node in nodes.
func (n *network) verifyChains(nodes []int) {
	n.t.Helper()
	for _, i := range nodes {
		url := fmt.Sprintf("http://127.0.0.1:%d", n.apiBase+i)
		out, err := run(2*time.Minute, n.bin, "checkpoint", "verify", "--node", url, "--genesis", filepath.Join(n.dir, "genesis.json"))
		if err != nil || !strings.Contains(out, "verified") {
			n.t.Fatalf("checkpoint verify against v%d: %v %s", i, err, out)
		}
		n.t.Logf("v%d: %s", i, strings.TrimSpace(out))
	}
}

// sender signs transfers from one key with consecutive nonces.
type sender struct {
	key   *ecdsa.PrivateKey
	nonce uint64
}

func (n *network) transfer(s *sender, via int, to common.Address, amount uint64) (common.Hash, error) {
	tx := ledger.Tx{ChainID: chainID, To: to, Amount: amount, Fee: 1, Nonce: s.nonce}
	if err := tx.Sign(s.key); err != nil {
		return common.Hash{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h, err := n.clients[via].SubmitTx(ctx, tx.Encode())
	if err != nil {
		return common.Hash{}, fmt.Errorf("submit nonce %d via v%d: %w", s.nonce, via, err)
	}
	s.nonce++
	return h, nil
}

// newKey is a fresh client key.
func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// waitTxsFinal waits until every hash is final with an ok receipt on every
// node in nodes; it returns each hash's epoch (identical on all nodes).
func (n *network) waitTxsFinal(hashes []common.Hash, nodes []int, timeout time.Duration) map[common.Hash]uint64 {
	n.t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(timeout)
	epochs := make(map[common.Hash]uint64, len(hashes))
	for _, h := range hashes {
		for _, i := range nodes {
			for {
				st, err := n.clients[i].Tx(ctx, h)
				if err == nil && st.Status == api.TxFinal {
					if st.Receipt == nil || st.Receipt.Status != api.ReceiptOK {
						n.t.Fatalf("v%d: tx %s final with receipt %+v", i, h.Hex(), st.Receipt)
					}
					if e, ok := epochs[h]; ok && e != st.Epoch {
						n.t.Fatalf("tx %s final in epoch %d on one node and %d on v%d", h.Hex(), e, st.Epoch, i)
					}
					epochs[h] = st.Epoch
					break
				}
				if time.Now().After(deadline) {
					n.t.Fatalf("v%d: tx %s not final within %s (status %+v, err %v); latest %v", i, h.Hex(), timeout, st, err, n.latestAll(all()))
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
	return epochs
}

// fund sends amount from the faucet to each key through v0 and waits.
func (n *network) fund(keys []*ecdsa.PrivateKey, amount uint64) *sender {
	n.t.Helper()
	f := &sender{key: n.faucet}
	var hashes []common.Hash
	for _, k := range keys {
		h, err := n.transfer(f, 0, crypto.PubkeyToAddress(k.PublicKey), amount)
		if err != nil {
			n.t.Fatal(err)
		}
		hashes = append(hashes, h)
	}
	n.waitTxsFinal(hashes, all(), 60*time.Second)
	return f
}

// TestLoadAgreement loads the network with transfers from four accounts,
// each through its own validator, then checks that every node returns
// byte-identical checkpoints for every epoch, every transfer is final with
// an ok receipt on every node, the chain verifies against each node, and
// total supply is unchanged.
func TestLoadAgreement(t *testing.T) {
	n := startNetwork(t)
	const perAccount = 100
	keys := []*ecdsa.PrivateKey{newKey(t), newKey(t), newKey(t), newKey(t)}
	n.fund(keys, 1_000_000)
	start := time.Now()
	var mu sync.Mutex
	var hashes []common.Hash
	var wg sync.WaitGroup
	errs := make(chan error, len(keys))
	for i, k := range keys {
		wg.Go(func() {
			s := &sender{key: k}
			to := crypto.PubkeyToAddress(keys[(i+1)%len(keys)].PublicKey)
			for range perAccount {
				h, err := n.transfer(s, i%validators, to, 7)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				hashes = append(hashes, h)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	submitted := time.Since(start)
	n.waitTxsFinal(hashes, all(), 2*time.Minute)
	t.Logf("load: %d transfers submitted in %s, all final with ok receipts on %d validators after %s",
		len(hashes), submitted.Round(time.Millisecond), validators, time.Since(start).Round(time.Millisecond))
	epochs, txs := n.checkAgreement(all())
	t.Logf("agreement: epochs 1..%d byte-identical on all validators, %d final transactions", epochs, txs)
	if txs < uint64(len(hashes)+len(keys)) {
		t.Fatalf("%d transactions in %d final epochs; want at least %d", txs, epochs, len(hashes)+len(keys))
	}
	n.verifyChains(all())
	addrs := map[common.Address]bool{n.genesis.FeeCollector: true}
	for _, a := range n.genesis.Alloc {
		addrs[a.Address] = true
	}
	for _, k := range keys {
		addrs[crypto.PubkeyToAddress(k.PublicKey)] = true
	}
	var supply uint64
	for a := range addrs {
		acct, err := n.clients[2].Account(context.Background(), a, false)
		if err != nil {
			t.Fatal(err)
		}
		supply += acct.Balance
	}
	if supply != n.genesis.TotalSupply() {
		t.Fatalf("supply %d; genesis %d", supply, n.genesis.TotalSupply())
	}
	t.Logf("supply %d unchanged", supply)
}

// TestKillRestart kills v3 with `docker kill` (SIGKILL), watches the others
// (epochs stall by design: the cut needs v3's marker), restarts it and
// measures how long until it has caught up and epochs resume; no checkpoint
// may diverge at any point.
func TestKillRestart(t *testing.T) {
	n := startNetwork(t)
	const victim = 3
	others := []int{0, 1, 2}
	keys := []*ecdsa.PrivateKey{newKey(t)}
	n.fund(keys, 1000)
	before := n.latestAll(all())
	n.docker("kill", n.container(victim))
	killedAt := time.Now()
	t.Logf("killed v%d at latest final epochs %v", victim, before)
	s := &sender{key: keys[0]}
	sink := crypto.PubkeyToAddress(newKey(t).PublicKey)
	var down []common.Hash
	for range 20 {
		h, err := n.transfer(s, 0, sink, 3)
		if err != nil {
			t.Fatal(err)
		}
		down = append(down, h)
	}
	// The others go on: 3 of 4 is a quorum, and the transfers sent to them
	// become final while v3 is down.
	n.waitTxsFinal(down, others, 2*time.Minute)
	time.Sleep(6 * epochLen)
	during := n.latestAll(others)
	t.Logf("v%d down for %s: latest final epochs of v0..v2 %v; the transfers sent meanwhile are final",
		victim, time.Since(killedAt).Round(time.Millisecond), during)
	for i, e := range during {
		if e < before[others[i]]+6 {
			t.Fatalf("v%d finalized only up to epoch %d (from %d) in %s with v%d down", others[i], e, before[others[i]], time.Since(killedAt), victim)
		}
	}
	e, _ := n.checkAgreement(others)
	t.Logf("no divergence among v0..v2 up to epoch %d", e)
	stalled := max(during[0], during[1], during[2])
	n.docker("start", n.container(victim))
	restart := time.Now()
	took := n.waitFinal(all(), stalled+3, 3*time.Minute)
	t.Logf("v%d restarted: all validators final at epoch %d (3 past the stall at %d) %s after restart",
		victim, stalled+3, stalled, took.Round(time.Millisecond))
	_ = restart
	n.waitTxsFinal(down, all(), 2*time.Minute)
	t.Logf("all %d transfers submitted while v%d was down are final on every validator", len(down), victim)
	epochs, txs := n.checkAgreement(all())
	t.Logf("agreement after restart: epochs 1..%d identical on all validators, %d final transactions", epochs, txs)
	n.verifyChains(all())
}

// TestPartition splits the network 2|2 by moving v2 and v3 to a second
// bridge network (docker network disconnect/connect): with 4 validators a
// quorum needs 3, so neither side may finalize a new epoch. Transfers are
// submitted on both sides during the partition. After healing, epochs
// resume, no checkpoint diverges, every transfer final before the
// partition is still final in the same epoch, and the transfers sent
// during the partition become final.
func TestPartition(t *testing.T) {
	n := startNetwork(t)
	keys := []*ecdsa.PrivateKey{newKey(t), newKey(t)}
	n.fund(keys, 1_000_000)
	senders := []*sender{{key: keys[0]}, {key: keys[1]}}
	sink := crypto.PubkeyToAddress(newKey(t).PublicKey)
	var pre []common.Hash
	for k := range 10 {
		h, err := n.transfer(senders[k%2], (k%2)*2, sink, 5)
		if err != nil {
			t.Fatal(err)
		}
		pre = append(pre, h)
	}
	preEpochs := n.waitTxsFinal(pre, all(), time.Minute)
	mainNet := n.project + "_ledgerd"
	n.extraNet = n.project + "_side_b"
	n.docker("network", "create", n.extraNet)
	sideB := []int{2, 3}
	for _, i := range sideB {
		n.docker("network", "disconnect", mainNet, n.container(i))
		n.docker("network", "connect", "--alias", ServiceName(i), n.extraNet, n.container(i))
	}
	atCut := n.latestAll(all())
	t.Logf("partitioned {v0,v1} | {v2,v3} at latest final epochs %v", atCut)
	// Transfers on both sides while partitioned.
	var during []common.Hash
	for k := range 6 {
		h, err := n.transfer(senders[k%2], (k%2)*2, sink, 3)
		if err != nil {
			t.Fatal(err)
		}
		during = append(during, h)
	}
	time.Sleep(8 * epochLen)
	after := n.latestAll(all())
	t.Logf("after %s partitioned: latest final epochs %v; %s", 8*epochLen, after, n.describe())
	for i := range validators {
		// One epoch may complete from votes already in flight at the cut.
		if after[i] > atCut[i]+1 {
			t.Fatalf("v%d finalized epochs %d..%d while partitioned 2|2 (quorum is 3 of 4)", i, atCut[i]+1, after[i])
		}
	}
	n.checkAgreement([]int{0, 1})
	n.checkAgreement([]int{2, 3})
	stalled := max(after[0], after[1], after[2], after[3])
	for _, i := range sideB {
		n.docker("network", "disconnect", n.extraNet, n.container(i))
		n.docker("network", "connect", "--alias", ServiceName(i), mainNet, n.container(i))
	}
	took := n.waitFinal(all(), stalled+3, 3*time.Minute)
	t.Logf("healed: all validators final at epoch %d (3 past the stall at %d) %s after healing", stalled+3, stalled, took.Round(time.Millisecond))
	epochs, txs := n.checkAgreement(all())
	t.Logf("agreement after heal: epochs 1..%d identical, %d final transactions", epochs, txs)
	post := n.waitTxsFinal(pre, all(), time.Minute)
	for h, e := range preEpochs {
		if post[h] != e {
			t.Fatalf("tx %s was final in epoch %d before the partition, now in %d", h.Hex(), e, post[h])
		}
	}
	t.Logf("all %d transfers final before the partition are still final in the same epochs", len(pre))
	n.waitTxsFinal(during, all(), 2*time.Minute)
	t.Logf("all %d transfers submitted during the partition are final after healing", len(during))
	n.verifyChains(all())
}

// TestMinorityPartition cuts v3 off (a second bridge network) for 30 s:
// the three others are a quorum and keep finalizing, transfers sent to them
// become final, and v3 finalizes nothing new. Healed, v3 catches up by
// itself and every validator agrees on every epoch.
func TestMinorityPartition(t *testing.T) {
	n := startNetwork(t)
	const victim = 3
	majority := []int{0, 1, 2}
	keys := []*ecdsa.PrivateKey{newKey(t)}
	n.fund(keys, 1_000_000)
	mainNet := n.project + "_ledgerd"
	n.extraNet = n.project + "_side_b"
	n.docker("network", "create", n.extraNet)
	n.docker("network", "disconnect", mainNet, n.container(victim))
	n.docker("network", "connect", "--alias", ServiceName(victim), n.extraNet, n.container(victim))
	atCut := n.latestAll(all())
	cutAt := time.Now()
	t.Logf("partitioned {v0,v1,v2} | {v3} at latest final epochs %v", atCut)
	s := &sender{key: keys[0]}
	sink := crypto.PubkeyToAddress(newKey(t).PublicKey)
	var during []common.Hash
	for range 20 {
		h, err := n.transfer(s, 0, sink, 3)
		if err != nil {
			t.Fatal(err)
		}
		during = append(during, h)
	}
	n.waitTxsFinal(during, majority, 2*time.Minute)
	time.Sleep(30*time.Second - time.Since(cutAt))
	after := n.latestAll(all())
	t.Logf("after %s partitioned: latest final epochs %v; the %d transfers sent to v0 are final on v0..v2",
		time.Since(cutAt).Round(time.Second), after, len(during))
	for _, i := range majority {
		if after[i] < atCut[i]+15 {
			t.Fatalf("v%d finalized only up to epoch %d (from %d) in 30 s with v%d cut off", i, after[i], atCut[i], victim)
		}
	}
	if after[victim] > atCut[victim]+1 {
		t.Fatalf("v%d, alone, finalized epochs %d..%d", victim, atCut[victim]+1, after[victim])
	}
	n.docker("network", "disconnect", n.extraNet, n.container(victim))
	n.docker("network", "connect", "--alias", ServiceName(victim), mainNet, n.container(victim))
	ahead := max(after[0], after[1], after[2])
	took := n.waitFinal(all(), ahead+3, 3*time.Minute)
	t.Logf("healed: all validators final at epoch %d (3 past the majority at the heal, %d) %s after healing", ahead+3, ahead, took.Round(time.Millisecond))
	n.waitTxsFinal(during, all(), time.Minute)
	epochs, txs := n.checkAgreement(all())
	t.Logf("agreement after heal: epochs 1..%d identical on all validators, %d final transactions", epochs, txs)
	n.verifyChains(all())
}

// TestPauseCatchUp freezes v1 with `docker pause` for more epochs than the
// in-flight window (8): the others go on finalizing; unpaused, the same
// process (the container is not restarted) catches up by itself, and every
// validator agrees.
//
// LEDGERD_E2E_PAUSE sets the pause (a Go duration, default 15s); pauses
// longer than gossipsub's seen-message window (~2 min) exercise repair.
func TestPauseCatchUp(t *testing.T) {
	pausedFor := 15 * epochLen
	if v := os.Getenv("LEDGERD_E2E_PAUSE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < epochLen || d > 30*time.Minute {
			t.Fatalf("LEDGERD_E2E_PAUSE=%q: want a duration in [%s, 30m]", v, epochLen)
		}
		pausedFor = d.Truncate(epochLen)
	}
	n := startNetwork(t)
	const victim = 1
	keys := []*ecdsa.PrivateKey{newKey(t)}
	n.fund(keys, 1_000_000)
	before := n.latestAll(all())
	startedAt := n.docker("inspect", "-f", "{{.State.StartedAt}}", n.container(victim))
	n.docker("pause", n.container(victim))
	t.Logf("paused v%d at latest final epochs %v", victim, before)
	s := &sender{key: keys[0]}
	sink := crypto.PubkeyToAddress(newKey(t).PublicKey)
	var paused []common.Hash
	for range 20 {
		h, err := n.transfer(s, 2, sink, 3)
		if err != nil {
			t.Fatal(err)
		}
		paused = append(paused, h)
	}
	time.Sleep(pausedFor)
	during := n.latestAll([]int{0, 2, 3})
	t.Logf("after %s paused: latest final epochs of v0, v2, v3: %v; %s", pausedFor, during, n.describe())
	// The others went on past the in-flight window.
	if low := min(during[0], during[1], during[2]); low < before[0]+9 {
		t.Fatalf("with v%d paused the others finalized only up to epoch %d (from %d)", victim, low, before[0])
	}
	n.docker("unpause", n.container(victim))
	ahead := max(during[0], during[1], during[2])
	took := n.waitFinal(all(), ahead+3, 3*time.Minute)
	caught := n.latestAll(all())
	t.Logf("unpaused v%d: all validators final at epoch %d (3 past the others at the unpause, %d) %s after unpause; latest %v; %s",
		victim, ahead+3, ahead, took.Round(time.Millisecond), caught, n.describe())
	if again := n.docker("inspect", "-f", "{{.State.StartedAt}}", n.container(victim)); again != startedAt {
		t.Fatalf("v%d's container was restarted (started %s, now %s): the catch-up must happen in the running process", victim, startedAt, again)
	}
	n.waitTxsFinal(paused, all(), 2*time.Minute)
	t.Logf("all %d transfers submitted (via v2) while v%d was paused are final on every validator", len(paused), victim)
	epochs, txs := n.checkAgreement(all())
	t.Logf("agreement after pause: epochs 1..%d identical, %d final transactions", epochs, txs)
	n.verifyChains(all())
}
