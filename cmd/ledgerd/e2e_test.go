package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/node"
	"github.com/ledgerd/ledgerd/node/api"
	"github.com/ledgerd/ledgerd/testnet"
)

// buildBinary compiles ledgerd once per test binary run.
var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

func ledgerdBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ledgerd-e2e-bin")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "ledgerd")
		out, err := exec.Command("go", "build", "-o", buildPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// devnet is a running `ledgerd devnet` subprocess.
type devnet struct {
	t    *testing.T
	bin  string
	dir  string
	cmd  *exec.Cmd
	info DevnetInfo
	mu   sync.Mutex // guards out
	out  *bytes.Buffer
}

// output is what the devnet command printed so far.
func (d *devnet) output() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.out.String()
}

func startDevnet(t *testing.T, validators int, epoch time.Duration) *devnet {
	t.Helper()
	bin := ledgerdBinary(t)
	dir := filepath.Join(t.TempDir(), "net")
	d := &devnet{t: t, bin: bin, dir: dir, out: &bytes.Buffer{}}
	d.cmd = exec.Command(bin, "devnet", "--validators", fmt.Sprint(validators), "--dir", dir, "--epoch", epoch.String())
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	d.cmd.Stdout, d.cmd.Stderr = pw, pw
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			d.mu.Lock()
			d.out.WriteString(line + "\n")
			d.mu.Unlock()
			if strings.HasPrefix(line, "explorer:") {
				once.Do(func() { close(ready) })
			}
		}
	}()
	t.Cleanup(d.stop)
	select {
	case <-ready:
	case <-time.After(90 * time.Second):
		t.Fatalf("devnet not ready after 90 s; output:\n%s%s", d.output(), d.logs())
	}
	data, err := os.ReadFile(filepath.Join(dir, devnetFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &d.info); err != nil {
		t.Fatal(err)
	}
	return d
}

func (d *devnet) logs() string {
	var b strings.Builder
	for _, n := range d.info.Nodes {
		data, _ := os.ReadFile(n.Log)
		lines := strings.Split(string(data), "\n")
		if len(lines) > 40 {
			lines = lines[len(lines)-40:]
		}
		fmt.Fprintf(&b, "--- %s (last lines)\n%s\n", n.Name, strings.Join(lines, "\n"))
	}
	return b.String()
}

func (d *devnet) stop() {
	if d.cmd.ProcessState != nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = d.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = d.cmd.Process.Kill()
		<-done
	}
}

// cli runs ledgerd with args and returns its stdout; it fails the test on a
// non-zero exit.
func (d *devnet) cli(args ...string) string {
	d.t.Helper()
	out, err := exec.Command(d.bin, args...).CombinedOutput()
	if err != nil {
		d.t.Fatalf("ledgerd %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestDevnetEndToEnd runs the whole system: a 4-validator devnet,
// 1,000 transfers from 10 accounts sent through the CLI, then every node
// serves byte-identical checkpoints for every epoch, `checkpoint verify`
// passes against every node, every transfer is final with an ok receipt,
// and total supply is unchanged.
func TestDevnetEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 4-process devnet; skipped with -short")
	}
	d := startDevnet(t, 4, time.Second)
	ctx := context.Background()
	g, err := node.LoadGenesis(d.info.Genesis)
	if err != nil {
		t.Fatal(err)
	}
	const accounts, perAccount = 10, 100
	keyDir := t.TempDir()
	keys := make([]*ecdsa.PrivateKey, accounts)
	keyFiles := make([]string, accounts)
	for i := range keys {
		keyFiles[i] = filepath.Join(keyDir, fmt.Sprintf("client%d", i))
		d.cli("keys", "new", "--out", keyFiles[i])
		k, err := crypto.LoadECDSA(keyFiles[i])
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = k
	}
	// Fund the accounts from the faucet (nonces 0..9, the last one waited for).
	for i, k := range keys {
		args := []string{"tx", "send", "--node", d.info.Nodes[0].API, "--key", d.info.FaucetKey,
			"--to", crypto.PubkeyToAddress(k.PublicKey).Hex(), "--amount", "1000000", "--nonce", fmt.Sprint(i)}
		if i == len(keys)-1 {
			args = append(args, "--wait")
		}
		d.cli(args...)
	}
	// 1,000 transfers through the CLI: account i sends through node i%4 with
	// explicit nonces (the node's account view lags by up to an epoch).
	start := time.Now()
	var hashes []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			nd := d.info.Nodes[i%len(d.info.Nodes)]
			to := crypto.PubkeyToAddress(keys[(i+1)%accounts].PublicKey).Hex()
			for n := 0; n < perAccount; n++ {
				var out []byte
				var err error
				// A node refuses with 429 while it lags (admission control); on a
				// busy machine that happens, and the client sends again.
				for try := 0; ; try++ {
					out, err = exec.Command(d.bin, "tx", "send", "--node", nd.API, "--key", keyFiles[i], "--to", to,
						"--amount", "7", "--fee", "1", "--nonce", fmt.Sprint(n)).CombinedOutput()
					if err == nil || !bytes.Contains(out, []byte("HTTP 429")) || try == 100 {
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
				if err != nil {
					t.Errorf("tx send: %v\n%s", err, out)
					return
				}
				f := strings.Fields(string(out))
				if len(f) < 2 || f[0] != "submitted" {
					t.Errorf("unexpected tx send output %q", out)
					return
				}
				mu.Lock()
				hashes = append(hashes, f[1])
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("submitted %d transfers through the CLI in %s", len(hashes), time.Since(start).Round(time.Millisecond))
	clients := make([]*api.Client, len(d.info.Nodes))
	for i, nd := range d.info.Nodes {
		clients[i], _ = api.NewClient(nd.API, &http.Client{Timeout: 10 * time.Second})
	}
	// Every transfer final with an ok receipt (asked of every node).
	deadline := time.Now().Add(60 * time.Second)
	for _, hs := range hashes {
		h, _ := api.ParseHash(hs)
		for i, c := range clients {
			for {
				st, err := c.Tx(ctx, h)
				if err == nil && st.Status == api.TxFinal {
					if st.Receipt == nil || st.Receipt.Status != api.ReceiptOK {
						t.Fatalf("node %d: %s final with receipt %+v", i, hs, st.Receipt)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("node %d: %s not final (%+v, %v)\n%s", i, hs, st, err, d.logs())
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
	// Byte-identical checkpoints for every epoch all nodes have final.
	latest := uint64(1 << 62)
	for _, c := range clients {
		cp, err := c.LatestCheckpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		latest = min(latest, cp.Epoch)
	}
	var txs uint64
	for ep := uint64(1); ep <= latest; ep++ {
		var first api.Checkpoint
		for i, c := range clients {
			cp, err := c.Checkpoint(ctx, ep)
			if err != nil {
				t.Fatalf("node %d epoch %d: %v", i, ep, err)
			}
			if i == 0 {
				first = cp
				txs += cp.TxCount
				continue
			}
			if !bytes.Equal(cp.Header, first.Header) || cp.Hash != first.Hash {
				t.Fatalf("epoch %d: node %d header %x differs from node 0 %x", ep, i, cp.Header, first.Header)
			}
		}
	}
	if txs < accounts*perAccount {
		t.Fatalf("%d transactions in %d final epochs, want at least %d", txs, latest, accounts*perAccount)
	}
	for _, nd := range d.info.Nodes {
		out := d.cli("checkpoint", "verify", "--node", nd.API, "--genesis", d.info.Genesis)
		if !strings.Contains(out, "verified") {
			t.Fatalf("checkpoint verify against %s: %s", nd.Name, out)
		}
	}
	// Total supply unchanged: genesis accounts + clients + fee collector.
	addrs := map[ledger.Address]bool{g.FeeCollector: true}
	for _, a := range g.Alloc {
		addrs[a.Address] = true
	}
	for _, k := range keys {
		addrs[crypto.PubkeyToAddress(k.PublicKey)] = true
	}
	var supply uint64
	for a := range addrs {
		acct, err := clients[1].Account(ctx, a, false)
		if err != nil {
			t.Fatal(err)
		}
		supply += acct.Balance
	}
	if supply != g.TotalSupply() {
		t.Fatalf("supply %d, genesis %d", supply, g.TotalSupply())
	}
	t.Logf("%d epochs byte-identical on 4 nodes, %d transactions final, chain verifies against every node, supply %d unchanged",
		latest, txs, supply)
	checkJSONOutputs(t, d, hashes[0], crypto.PubkeyToAddress(keys[0].PublicKey).Hex())
	checkBench(t, d)
	checkRuntime(t, d)
	checkMetrics(t, d)
	checkValidatorExit(t, d)
}

// checkValidatorExit kills one validator process: devnet names it and
// prints the command that restarts it, the others go on finalizing, and the
// printed command brings it back to the same final epochs.
func checkValidatorExit(t *testing.T, d *devnet) {
	ctx := context.Background()
	gone := d.info.Nodes[len(d.info.Nodes)-1]
	live, _ := api.NewClient(d.info.Nodes[0].API, &http.Client{Timeout: 5 * time.Second})
	before, err := live.LatestCheckpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(gone.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var restart string
	deadline := time.Now().Add(30 * time.Second)
	for restart == "" {
		for _, line := range strings.Split(d.output(), "\n") {
			if cmd, ok := strings.CutPrefix(strings.TrimSpace(line), "restart it with: "); ok {
				restart = cmd
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("devnet printed no restart command after %s was killed:\n%s", gone.Name, d.output())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(d.output(), "devnet: validator "+gone.Name+" exited") || d.cmd.Process.Signal(syscall.Signal(0)) != nil {
		t.Fatalf("devnet did not name %s or did not go on:\n%s", gone.Name, d.output())
	}
	// The others finalize two more epochs without it.
	for {
		cp, err := live.LatestCheckpoint(ctx)
		if err == nil && cp.Epoch >= before.Epoch+3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no epoch final past %d within 30 s of killing %s\n%s", before.Epoch+2, gone.Name, d.logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
	absent := false
	for ep := before.Epoch + 1; ep <= before.Epoch+3; ep++ {
		cp, err := live.Checkpoint(ctx, ep)
		if err != nil {
			t.Fatal(err)
		}
		absent = absent || slices.Contains(cp.Absent, uint32(len(d.info.Nodes)-1))
	}
	if !absent {
		t.Fatalf("%s killed, yet no checkpoint of epochs %d..%d names it absent", gone.Name, before.Epoch+1, before.Epoch+3)
	}
	// The metrics say so too: it is absent, one exclusion was timed, and
	// an epoch was decided past the fast path.
	resp, err := http.Get(d.info.Nodes[0].Metrics)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	metric := func(re string) float64 {
		m := regexp.MustCompile(`(?m)^` + re + ` (\S+)$`).FindSubmatch(body)
		if m == nil {
			t.Fatalf("no series %s in the metrics of v0", re)
		}
		v, _ := strconv.ParseFloat(string(m[1]), 64)
		return v
	}
	nameLabel := `name="` + gone.Name + `"`
	if metric(`ledgerd_validator_absent\{[^}]*`+nameLabel+`[^}]*\}`) != 1 || metric(`ledgerd_absent_validators\{[^}]*\}`) != 1 ||
		metric(`ledgerd_exclusion_seconds_count\{[^}]*\}`) < 1 ||
		metric(`ledgerd_agreement_round_count\{[^}]*\}`) <= metric(`ledgerd_agreement_round_bucket\{[^}]*le="0"[^}]*\}`) {
		t.Fatalf("metrics of v0 do not show %s absent, timed, past the fast path:\n%s", gone.Name,
			regexp.MustCompile(`(?m)^ledgerd_(validator_absent|absent_validators|exclusion_seconds_count|agreement_round_(count|bucket)).*$`).FindAll(body, -1))
	}
	// The printed command, as a shell would run it (in the foreground here,
	// so that the test owns the process).
	cmdline, ok := strings.CutSuffix(restart, " &")
	if !ok {
		t.Fatalf("restart command %q does not end with &", restart)
	}
	cmd := exec.Command("sh", "-c", cmdline)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) // the shell's group: the validator
		_ = cmd.Wait()
	}()
	back, _ := api.NewClient(gone.API, &http.Client{Timeout: 5 * time.Second})
	deadline = time.Now().Add(60 * time.Second)
	for {
		want, err1 := live.LatestCheckpoint(ctx)
		got, err2 := back.LatestCheckpoint(ctx)
		if err1 == nil && err2 == nil && got.Epoch >= want.Epoch && got.Epoch > before.Epoch+3 {
			cp, err := back.Checkpoint(ctx, before.Epoch+2)
			ref, _ := live.Checkpoint(ctx, before.Epoch+2)
			if err != nil || cp.Hash != ref.Hash {
				t.Fatalf("%s restarted: epoch %d is %v (%v), the others have %v", gone.Name, before.Epoch+2, cp.Hash, err, ref.Hash)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s restarted with %q did not catch up within 60 s (%v, %v)\n%s", gone.Name, restart, err1, err2, d.logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkJSONOutputs runs every client command against the devnet with
// --json (after the positional arguments, as flags may be placed) and
// requires exactly one JSON document on stdout; without --json, account
// --proof still prints only JSON on stdout and its verdict on stderr.
func checkJSONOutputs(t *testing.T, d *devnet, txHash, addr string) {
	api0 := d.info.Nodes[0].API
	for _, args := range [][]string{
		{"checkpoint", "get", "latest", "--node", api0, "--json"},
		{"checkpoint", "list", "--node", api0, "--limit", "3", "--json"},
		{"checkpoint", "verify", "--node", api0, "--genesis", d.info.Genesis, "--json"},
		{"tx", "status", txHash, "--node", api0, "--json"},
		{"account", addr, "--proof", "--genesis", d.info.Genesis, "--node", api0, "--json"},
		{"snapshot", "1", "--node", api0, "--json"},
		{"healthcheck", "--node", api0, "--json"},
		{"tx", "send", "--node", api0, "--key", d.info.FaucetKey, "--to", addr, "--amount", "1", "--wait", "--json"},
	} {
		cmd := exec.Command(d.bin, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil || stderr.Len() != 0 {
			t.Fatalf("ledgerd %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, stderr.String())
		}
		v := requireOneJSON(t, string(out))
		if args[0] == "account" && v["verified"] == nil {
			t.Fatalf("account --proof --json has no verified object: %s", out)
		}
	}
	cmd := exec.Command(d.bin, "account", addr, "--proof", "--genesis", d.info.Genesis, "--node", api0)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("account --proof: %v\n%s", err, stderr.String())
	}
	requireOneJSON(t, string(out))
	if !strings.Contains(stderr.String(), "proof of inclusion verified") {
		t.Fatalf("account --proof without --json: stderr %q", stderr.String())
	}
}

// checkMetrics scrapes every node: the build, sync state and last-final
// series are there with sensible values, the duplicate
// ledgerd_entries_delivered_total is gone, and every ledgerd_* family
// served is documented in docs/metrics.md and the other way round.
func checkMetrics(t *testing.T, d *devnet) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("`(ledgerd_[a-z0-9_]+)").FindAllStringSubmatch(string(doc), -1) {
		documented[m[1]] = true
	}
	// Families that appear only after an event a quiet devnet may not see.
	optional := map[string]bool{"ledgerd_p2p_gossip_drops_total": true}
	for _, nd := range d.info.Nodes {
		resp, err := http.Get(nd.Metrics)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		text := string(body)
		served := map[string]bool{}
		for _, m := range regexp.MustCompile(`(?m)^# TYPE (ledgerd_[a-z0-9_]+) `).FindAllStringSubmatch(text, -1) {
			served[m[1]] = true
		}
		for name := range served {
			if !documented[name] {
				t.Errorf("%s serves %s, which docs/metrics.md does not list", nd.Name, name)
			}
		}
		for name := range documented {
			if !served[name] && !optional[name] {
				t.Errorf("docs/metrics.md lists %s, which %s does not serve", name, nd.Name)
			}
		}
		if served["ledgerd_entries_delivered_total"] {
			t.Errorf("%s still serves ledgerd_entries_delivered_total", nd.Name)
		}
		if !regexp.MustCompile(`(?m)^ledgerd_build_info\{.*commit=".*go_version="go1\.[^"]+".*version="[^"]+"\} 1$`).MatchString(text) {
			t.Errorf("%s: no ledgerd_build_info with version, commit and go_version", nd.Name)
		}
		if !regexp.MustCompile(`(?m)^ledgerd_sync_state\{.*state="synced".*\} 1$`).MatchString(text) {
			t.Errorf("%s: ledgerd_sync_state is not 1 for synced", nd.Name)
		}
		m := regexp.MustCompile(`(?m)^ledgerd_last_final_checkpoint_timestamp_seconds\{.*\} (\S+)$`).FindStringSubmatch(text)
		var ts float64
		if m != nil {
			ts, _ = strconv.ParseFloat(m[1], 64)
		}
		if age := float64(time.Now().UnixMilli())/1000 - ts; m == nil || age < 0 || age > 30 {
			t.Errorf("%s: last final checkpoint %v s ago (%v)", nd.Name, age, m)
		}
	}
}

// checkRuntime: every validator process runs under the soft memory limit
// of its config (memory_limit_mib, default 112 MiB) and with its share of
// the machine's CPUs as GOMAXPROCS (validatorEnv), both read back from the
// Go runtime's own metrics.
func checkRuntime(t *testing.T, d *devnet) {
	want := map[string]float64{}
	if v := os.Getenv("GOMEMLIMIT"); v != "" {
		t.Logf("GOMEMLIMIT=%s in the environment overrides memory_limit_mib: not checked", v)
	} else {
		want["go_gc_gomemlimit_bytes"] = float64(node.DefaultConfig("").MemoryLimitMiB << 20)
	}
	if v := os.Getenv("GOMAXPROCS"); v != "" {
		t.Logf("GOMAXPROCS=%s in the environment is passed on: not checked", v)
	} else {
		want["go_sched_gomaxprocs_threads"] = float64(testnet.CPUShare(runtime.NumCPU(), len(d.info.Nodes)))
	}
	for _, nd := range d.info.Nodes {
		resp, err := http.Get(nd.Metrics)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]float64{}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			name, v, ok := strings.Cut(sc.Text(), " ")
			if _, wanted := want[name]; ok && wanted {
				var f float64
				if _, err := fmt.Sscan(v, &f); err == nil {
					got[name] = f
				}
			}
		}
		resp.Body.Close()
		for name, w := range want {
			if g, found := got[name]; !found || g != w {
				t.Fatalf("%s: %s %v (found %v), want %v", nd.Name, name, g, found, w)
			}
		}
	}
}

// checkBench runs a short, slow `ledgerd bench --json` against the devnet
// and checks the report a user reads: every submission final, latencies
// ordered and plausible for an idle network, every validator measured.
func checkBench(t *testing.T, d *devnet) {
	const rate, secs = 200, 5
	out, err := exec.Command(d.bin, "bench", "--devnet", d.dir, "--accounts", "16", "--duration", fmt.Sprintf("%ds", secs),
		"--rate", fmt.Sprint(rate), "--batch", "5", "--workers", "2", "--drain", "30s", "--json").Output()
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, out)
	}
	var rep benchReport
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("bench --json: %v\n%s", err, out)
	}
	t.Logf("bench: %d submitted, %d final, %.0f tx/s, submit→final %+v ms, boundary→final %+v ms, rejected %v, client cpu %.2f s",
		rep.Submitted, rep.Final, rep.FinalTxPerS, rep.SubmitToFinalMs, rep.BoundaryToFinal, rep.Rejected, rep.ClientCPUS)
	if rep.Submitted < rate*secs/2 || rep.Final != rep.Submitted || len(rep.Rejected) != 0 {
		t.Fatalf("bench: %d submitted, %d final, rejected %v: want about %d, all final, none rejected", rep.Submitted, rep.Final,
			rep.Rejected, rate*secs)
	}
	// Finals during the load: all but the last epoch's worth (1 s epochs).
	if rep.FinalTxPerS < rate/3 || rep.FinalTxPerS > 2*rate || rep.FinalInWindow > rep.Final {
		t.Fatalf("bench: %.0f final tx/s sustained (%d of %d final during the load) at a target rate of %d",
			rep.FinalTxPerS, rep.FinalInWindow, rep.Final, rate)
	}
	for name, p := range map[string]percentiles{"submit_to_final_ms": rep.SubmitToFinalMs, "boundary_to_final_ms": rep.BoundaryToFinal} {
		if p.P50 <= 0 || p.P50 > p.P95 || p.P95 > p.P99 || p.P99 > 5000 {
			t.Fatalf("bench: %s %+v not ordered within (0, 5000] ms", name, p)
		}
	}
	// A nearly idle network finalizes an epoch in tens of milliseconds; a
	// boundary misplaced by an epoch length shows here.
	if rep.BoundaryToFinal.P50 > 500 || rep.BoundaryToFinal.P50 >= rep.SubmitToFinalMs.P50 {
		t.Fatalf("bench: boundary→final p50 %.0f ms: want at most 500 ms and below submit→final p50 %.0f ms",
			rep.BoundaryToFinal.P50, rep.SubmitToFinalMs.P50)
	}
	if len(rep.Validators) != len(d.info.Nodes) {
		t.Fatalf("bench: %d validators measured, want %d", len(rep.Validators), len(d.info.Nodes))
	}
	for _, v := range rep.Validators {
		if v.CPUSeconds <= 0 || v.PeakRSSMiB <= 0 {
			t.Fatalf("bench: validator %+v not measured", v)
		}
	}
	// The client's own CPU while it submitted and followed the chain.
	if rep.ClientCPUS <= 0 || rep.ClientCPUS > secs*float64(runtime.NumCPU()) {
		t.Fatalf("bench: client_cpu_s %.2f: want within (0, %d × cores] s", rep.ClientCPUS, secs)
	}
}
