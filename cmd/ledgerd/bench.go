package main

import (
	"context"
	"crypto/ecdsa"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/spf13/cobra"

	"github.com/ledgerd/ledgerd/checkpoint"
	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/node"
	"github.com/ledgerd/ledgerd/node/api"
)

// benchReport is what `ledgerd bench --json` prints.
type benchReport struct {
	Nodes      int     `json:"nodes"`
	Accounts   int     `json:"accounts"`
	DurationS  float64 `json:"duration_s"`
	TargetRate float64 `json:"target_rate"`
	Submitted  uint64  `json:"submitted"`
	Final      uint64  `json:"final"`
	// FinalTxPerS counts the transactions that became final while the load
	// ran (not during the drain), over the load's duration: the rate the
	// network sustained. FinalInWindow is that count.
	FinalTxPerS     float64            `json:"final_tx_per_s"`
	FinalInWindow   uint64             `json:"final_in_window"`
	SubmitToFinalMs percentiles        `json:"submit_to_final_ms"`
	BoundaryToFinal percentiles        `json:"boundary_to_final_ms"`
	Rejected        map[string]uint64  `json:"rejected"`
	Epochs          uint64             `json:"epochs"`
	Validators      []validatorMeasure `json:"validators"`
	// ClientCPUS is the CPU time this bench process used while the load
	// ran (its transfers were signed before): on a shared machine it is
	// taken from the validators.
	ClientCPUS float64 `json:"client_cpu_s"`
}

type percentiles struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
}

type validatorMeasure struct {
	Name       string  `json:"name"`
	PID        int     `json:"pid,omitempty"`
	CPUSeconds float64 `json:"cpu_s"`
	PeakRSSMiB float64 `json:"peak_rss_mib"`
}

func percentilesOf(ms []float64) percentiles {
	if len(ms) == 0 {
		return percentiles{}
	}
	s := slices.Clone(ms)
	slices.Sort(s)
	at := func(q float64) float64 { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return percentiles{P50: at(0.50), P95: at(0.95), P99: at(0.99)}
}

func (c *cli) benchCmd() *cobra.Command {
	var devnetDir, nodesFlag, faucetFlag, passwordFile string
	var accounts, workers, batch, recipients int
	var duration, drain time.Duration
	var rate float64
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "bench (--devnet DIR | --nodes URL,... --faucet-key FILE) [--accounts N] [--duration D] [--rate R]",
		Short: "Load a network with signed transfers and report throughput, latency, CPU and RSS",
		Long: `Fund --accounts accounts from the faucet, then submit 1-unit transfers through
every node for --duration (at --rate per second, signed ahead, or as fast as
they are accepted), follow the final checkpoints and report the rate that
became final during the load, submit→final and boundary→final latencies and,
for a devnet, each validator's CPU time and peak RSS. docs/BENCHMARKS.md has
figures and how to reproduce them. A progress bar goes to stderr when it is a
terminal.`,
		GroupID: groupNetwork,
		Args:    noArgs,
	}
	cmd.RunE = c.action(func(ctx context.Context, _ []string) error {
		if accounts < 1 || accounts > 100_000 {
			return fmt.Errorf("%w: --accounts %d out of range [1, 100000]", errUsage, accounts)
		}
		if duration <= 0 || duration > time.Hour {
			return fmt.Errorf("%w: --duration %s out of range (0, 1h]", errUsage, duration)
		}
		if workers < 1 || workers > 256 {
			return fmt.Errorf("%w: --workers %d out of range [1, 256]", errUsage, workers)
		}
		if batch < 1 || batch > api.MaxBatchTxs {
			return fmt.Errorf("%w: --batch %d out of range [1, %d]", errUsage, batch, api.MaxBatchTxs)
		}
		if recipients < 0 || recipients > maxExtraAccounts {
			return fmt.Errorf("%w: --recipients %d out of range [0, %d]", errUsage, recipients, maxExtraAccounts)
		}
		if rate < 0 {
			return fmt.Errorf("%w: --rate must be >= 0", errUsage)
		}
		target, err := benchTarget(devnetDir, nodesFlag, faucetFlag, func(path string) (*ecdsa.PrivateKey, error) {
			km, err := c.loadAnyKey(path, passwordFile)
			return km.key, err
		})
		if err != nil {
			return err
		}
		rep, err := runBench(ctx, target, benchParams{accounts: accounts, duration: duration, rate: rate,
			drain: drain, workersPerNode: workers, batch: batch, recipients: recipients}, c.progress())
		if err != nil {
			return err
		}
		if asJSON {
			return printJSON(c.stdout, rep)
		}
		printBench(c.stdout, rep)
		return nil
	})
	f := cmd.Flags()
	f.StringVar(&devnetDir, "devnet", "", "devnet `DIR` (reads devnet.json: nodes, faucet key, validator PIDs)")
	f.StringVar(&nodesFlag, "nodes", "", "comma-separated node API `URLs` (instead of --devnet)")
	f.StringVar(&faucetFlag, "faucet-key", "", "faucet key `FILE`, plain hex or keystore (with --nodes)")
	f.StringVar(&passwordFile, "password-file", "", "`FILE` whose first line is the passphrase of a keystore --faucet-key (default: prompt)")
	f.IntVar(&accounts, "accounts", 200, "client accounts to fund and send from (1..100000)")
	f.DurationVar(&duration, "duration", 30*time.Second, "how long to submit (at most 1h)")
	f.Float64Var(&rate, "rate", 0, "target submissions per second over all nodes (0: as fast as accepted)")
	f.DurationVar(&drain, "drain", 15*time.Second, "how long to wait for submitted transactions to become final")
	f.IntVar(&workers, "workers", 8, "concurrent submitters per node (1..256)")
	f.IntVar(&batch, "batch", 50, "transactions per submission request (1..1000)")
	f.IntVar(&recipients, "recipients", 0, "send to this many extra genesis accounts (devnet/testnet --accounts) instead of between bench accounts")
	c.jsonFlag(cmd, &asJSON)
	_ = cmd.MarkFlagDirname("devnet")
	_ = cmd.MarkFlagFilename("faucet-key")
	_ = cmd.MarkFlagFilename("password-file")
	return cmd
}

// benchTargetInfo is the network a bench run loads.
type benchTargetInfo struct {
	urls   []string
	names  []string
	pids   []int
	faucet *ecdsa.PrivateKey
	// genesis is known with --devnet; it places epoch boundaries exactly.
	genesis *ledger.Genesis
}

// epochStartMs is when a checkpoint's snapshot began (checkpoint.EpochStart
// of it and its predecessor's time), or its own time without a genesis.
func (t benchTargetInfo) epochStartMs(prevTimeMs int64, epoch uint64, timeMs int64) int64 {
	if t.genesis == nil {
		return timeMs
	}
	return checkpoint.EpochStart(t.genesis, checkpoint.Header{Epoch: epoch - 1, TimeMs: prevTimeMs},
		checkpoint.Header{Epoch: epoch, TimeMs: timeMs})
}

// benchTarget reads the network to load from a devnet directory or a
// list of URLs; loadKey reads the faucet key.
func benchTarget(devnetDir, nodes, faucetFile string, loadKey func(string) (*ecdsa.PrivateKey, error)) (benchTargetInfo, error) {
	var t benchTargetInfo
	switch {
	case devnetDir != "" && nodes != "":
		return t, fmt.Errorf("%w: give --devnet or --nodes, not both", errUsage)
	case devnetDir != "":
		data, err := os.ReadFile(filepath.Join(devnetDir, devnetFile))
		if err != nil {
			return t, fmt.Errorf("read devnet description: %w", err)
		}
		var info DevnetInfo
		if err := json.Unmarshal(data, &info); err != nil {
			return t, fmt.Errorf("%s: %w", devnetFile, err)
		}
		for _, n := range info.Nodes {
			t.urls, t.names, t.pids = append(t.urls, n.API), append(t.names, n.Name), append(t.pids, n.PID)
		}
		faucetFile = info.FaucetKey
		g, err := node.LoadGenesis(info.Genesis)
		if err != nil {
			return t, err
		}
		t.genesis = g
	case nodes != "":
		t.urls = splitList(nodes)
		for i := range t.urls {
			t.names = append(t.names, fmt.Sprintf("node%d", i))
			t.pids = append(t.pids, 0)
		}
		if faucetFile == "" {
			return t, fmt.Errorf("%w: --nodes needs --faucet-key", errUsage)
		}
	default:
		return t, fmt.Errorf("%w: --devnet or --nodes is required", errUsage)
	}
	if len(t.urls) == 0 {
		return t, fmt.Errorf("%w: no nodes", errUsage)
	}
	key, err := loadKey(faucetFile)
	if err != nil {
		return t, err
	}
	t.faucet = key
	return t, nil
}

// procStat reads a process's CPU seconds (utime+stime) and peak RSS in MiB.
func procStat(pid int) (cpu float64, peakMiB float64, err error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	s := string(stat)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0, 0, errors.New("short /proc stat")
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	const clkTck = 100 // USER_HZ on Linux
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			kb, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
			peakMiB = kb / 1024
		}
	}
	return (ut + st) / clkTck, peakMiB, nil
}

type benchAccount struct {
	key   *ecdsa.PrivateKey
	addr  common.Address
	idx   int
	nonce uint64 // next nonce to submit
	node  int
	// pre holds transfers signed before the run, nonces base, base+1, …
	base uint64
	pre  []signedTx
}

type signedTx struct {
	raw  []byte
	hash ledger.Hash
}

// transfer returns a's 1-unit transfer with the given nonce: presigned when
// it is, signed now otherwise. The recipient depends only on the sender and
// the nonce, so both give the same bytes.
func (a *benchAccount) transfer(chainID string, accts []*benchAccount, recipients int, nonce uint64) (signedTx, error) {
	if nonce >= a.base && nonce-a.base < uint64(len(a.pre)) {
		return a.pre[nonce-a.base], nil
	}
	to := accts[(a.idx+1+int(nonce%uint64(max(1, len(accts)-1))))%len(accts)].addr
	if recipients > 0 { // spread over the extra genesis accounts (a large state)
		h := crypto.Keccak256([]byte(fmt.Sprintf("%d/%d", a.idx, nonce)))
		to = extraAccount(int(binary.BigEndian.Uint64(h) % uint64(recipients)))
	}
	tx := ledger.Tx{ChainID: chainID, To: to, Amount: 1, Nonce: nonce}
	if err := tx.Sign(a.key); err != nil {
		return signedTx{}, err
	}
	return signedTx{raw: tx.Encode(), hash: tx.Hash()}, nil
}

// maxPresigned bounds the transfers signed ahead of a run (~170 B each).
const maxPresigned = 2_000_000

// sendPeriod is how often each of n workers sends one batch of batch
// transactions for all of them together to offer rate per second; 0 (no
// pacing) without a rate.
func sendPeriod(rate float64, n, batch int) time.Duration {
	if rate <= 0 {
		return 0
	}
	return time.Duration(float64(time.Second) * float64(n*batch) / rate)
}

// firstSend is when worker k of n sends its first batch: the workers'
// first requests are spread evenly over one period. Workers that all start
// at once send their batches together, and the network then sees bursts
// (32 workers × 50 transactions every 0.8 s at 2,000/s) instead of the
// rate asked for.
func firstSend(start time.Time, period time.Duration, k, n int) time.Time {
	return start.Add(period * time.Duration(k) / time.Duration(n))
}

// presign signs, on every core, the transfers a run at rate for duration
// will submit (plus one request's worth per account), so the client's own
// signing does not compete with the validators for CPU during the run. It
// does nothing without a rate.
func presign(ctx context.Context, chainID string, accts []*benchAccount, recipients int, rate float64, duration time.Duration, batch int, progress io.Writer) error {
	if rate <= 0 {
		return nil
	}
	total := rate * duration.Seconds()
	per := int(total/float64(len(accts))) + batch
	if float64(per)*float64(len(accts)) > maxPresigned {
		return fmt.Errorf("%w: --rate × --duration needs %.0f transfers signed ahead, more than %d", errUsage,
			float64(per)*float64(len(accts)), maxPresigned)
	}
	fmt.Fprintf(progress, "bench: signing %d transfers ahead…\n", per*len(accts))
	var wg sync.WaitGroup
	errs := make(chan error, len(accts))
	next := make(chan *benchAccount)
	for range runtime.NumCPU() {
		wg.Go(func() {
			for a := range next {
				a.base, a.pre = a.nonce, make([]signedTx, 0, per)
				for k := range per {
					st, err := a.transfer(chainID, accts, recipients, a.nonce+uint64(k))
					if err != nil {
						errs <- err // buffered for every account; keep draining next
						break
					}
					a.pre = append(a.pre, st)
				}
			}
		})
	}
	for _, a := range accts {
		if ctx.Err() != nil {
			break
		}
		next <- a
	}
	close(next)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	return ctx.Err()
}

// benchParams are the load's shape.
type benchParams struct {
	accounts       int
	duration       time.Duration
	rate           float64
	drain          time.Duration
	workersPerNode int
	batch          int
	// recipients > 0 sends to the first recipients extra genesis accounts
	// (testnet/devnet --accounts) instead of between the bench's accounts.
	recipients int
}

func runBench(ctx context.Context, t benchTargetInfo, p benchParams, progress io.Writer) (*benchReport, error) {
	nAccounts, duration, rate, drain, workersPerNode, batch := p.accounts, p.duration, p.rate, p.drain, p.workersPerNode, p.batch
	httpc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	clients := make([]*api.Client, len(t.urls))
	for i, u := range t.urls {
		c, err := api.NewClient(u, httpc)
		if err != nil {
			return nil, fmt.Errorf("%w: node %s: %v", errUsage, u, err)
		}
		clients[i] = c
	}
	st, err := clients[0].Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", t.urls[0], err)
	}
	chainID := st.ChainID
	// Accounts are derived from a fixed seed and a run nonce so reruns on one
	// network use fresh accounts.
	run := time.Now().UnixNano()
	accts := make([]*benchAccount, nAccounts)
	for i := range accts {
		k, err := crypto.ToECDSA(crypto.Keccak256([]byte(fmt.Sprintf("ledgerd-bench/%d/%d", run, i))))
		if err != nil {
			return nil, err
		}
		accts[i] = &benchAccount{key: k, addr: crypto.PubkeyToAddress(k.PublicKey), idx: i, node: i % len(clients)}
	}
	// Fund every account through node 0 (one stream keeps the faucet's
	// nonces in order), then wait for the last funding transfer.
	fa, err := clients[0].Account(ctx, crypto.PubkeyToAddress(t.faucet.PublicKey), false)
	if err != nil {
		return nil, fmt.Errorf("faucet account: %w", err)
	}
	per := fa.Balance / uint64(nAccounts+1)
	if per < 1000 {
		return nil, fmt.Errorf("faucet holds %d, too little for %d accounts", fa.Balance, nAccounts)
	}
	per = min(per, 1<<40)
	fmt.Fprintf(progress, "bench: funding %d accounts from the faucet…\n", nAccounts)
	var last common.Hash
	for i, a := range accts {
		tx := ledger.Tx{ChainID: chainID, To: a.addr, Amount: per, Nonce: fa.Nonce + uint64(i)}
		if err := tx.Sign(t.faucet); err != nil {
			return nil, err
		}
		for {
			last, err = clients[0].SubmitTx(ctx, tx.Encode())
			if errors.Is(err, api.ErrMempoolFull) {
				time.Sleep(20 * time.Millisecond)
				continue
			}
			break
		}
		if err != nil {
			return nil, fmt.Errorf("fund account %d: %w", i, err)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	ts, err := clients[0].WaitTx(wctx, last, 100*time.Millisecond)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("funding did not become final: %w", err)
	}
	if ts.Receipt == nil || ts.Receipt.Status != api.ReceiptOK {
		return nil, fmt.Errorf("funding failed: %+v", ts.Receipt)
	}

	if err := presign(ctx, chainID, accts, p.recipients, rate, duration, batch, progress); err != nil {
		return nil, err
	}

	// Follow final checkpoints on node 0 and match receipts to submissions.
	var (
		mu            sync.Mutex
		submitted     = map[common.Hash]time.Time{}
		latency       []float64
		boundary      []float64
		rejected      = map[string]uint64{}
		final         atomic.Uint64
		finalInWindow atomic.Uint64
		windowEnd     atomic.Int64 // Unix ns when submission stopped; 0 while it runs
		epochs        atomic.Uint64
	)
	cpu0 := make([]float64, len(t.pids))
	for i, pid := range t.pids {
		if pid > 0 {
			cpu0[i], _, _ = procStat(pid)
		}
	}
	followCtx, stopFollow := context.WithCancel(ctx)
	defer stopFollow()
	startEpoch := ts.Epoch + 1
	followDone := make(chan struct{})
	go func() {
		defer close(followDone)
		cps, errs := clients[0].StreamCheckpoints(followCtx, startEpoch)
		var prev api.Checkpoint // the last checkpoint followed, for epoch starts
		for {
			select {
			case cp, ok := <-cps:
				if !ok {
					return
				}
				now := time.Now()
				rs, err := clients[0].Receipts(followCtx, cp.Epoch)
				if err != nil {
					continue
				}
				epochs.Add(1)
				if prev.Epoch+1 != cp.Epoch && cp.Epoch > 1 {
					if prev, err = clients[0].Checkpoint(followCtx, cp.Epoch-1); err != nil {
						continue
					}
				}
				start := t.epochStartMs(int64(prev.TimeMs), cp.Epoch, int64(cp.TimeMs))
				prev = cp
				mu.Lock()
				if cp.TxCount > 0 {
					boundary = append(boundary, float64(now.UnixMilli()-start))
				}
				for _, r := range rs.Receipts {
					at, ok := submitted[r.TxHash]
					if !ok {
						continue
					}
					delete(submitted, r.TxHash)
					if r.Status != api.ReceiptOK {
						rejected["receipt_"+r.Error]++
						continue
					}
					final.Add(1)
					if end := windowEnd.Load(); end == 0 || now.UnixNano() <= end {
						finalInWindow.Add(1)
					}
					latency = append(latency, float64(now.Sub(at).Microseconds())/1000)
				}
				mu.Unlock()
			case <-errs:
			case <-followCtx.Done():
				return
			}
		}
	}()

	// Submit: one goroutine per node, round-robin over that node's accounts.
	clientCPU0, _, _ := procStat(os.Getpid())
	start := time.Now()
	deadline := start.Add(duration)
	var sent atomic.Uint64
	var wg sync.WaitGroup
	period := sendPeriod(rate, len(clients)*workersPerNode, batch)
	for ni := range clients {
		var mine []*benchAccount
		for _, a := range accts {
			if a.node == ni {
				mine = append(mine, a)
			}
		}
		for w := 0; w < workersPerNode; w++ {
			var share []*benchAccount
			for j := w; j < len(mine); j += workersPerNode {
				share = append(share, mine[j])
			}
			if len(share) == 0 {
				continue
			}
			wg.Go(func() {
				next := firstSend(start, period, ni*workersPerNode+w, len(clients)*workersPerNode)
				raws := make([][]byte, 0, batch)
				hashes := make([]ledger.Hash, 0, batch)
				for i := 0; time.Now().Before(deadline) && ctx.Err() == nil; i++ {
					if period > 0 {
						if d := time.Until(next); d > 0 {
							time.Sleep(d)
						}
						next = next.Add(period)
					}
					// One request carries `batch` consecutive nonces of one account.
					a := share[i%len(share)]
					raws, hashes = raws[:0], hashes[:0]
					for j := 0; j < batch; j++ {
						st, err := a.transfer(chainID, accts, p.recipients, a.nonce+uint64(j))
						if err != nil {
							return
						}
						raws, hashes = append(raws, st.raw), append(hashes, st.hash)
					}
					at := time.Now()
					mu.Lock()
					for _, h := range hashes {
						submitted[h] = at
					}
					mu.Unlock()
					_, errs, err := clients[ni].SubmitTxBatch(ctx, raws)
					mu.Lock()
					accepted := 0
					for j, h := range hashes {
						e := err
						if e == nil {
							e = errs[j]
						}
						if e == nil && accepted == j {
							accepted++
							continue
						}
						// Refused, or accepted after a refused nonce (it will
						// fail on its nonce): not counted as submitted.
						delete(submitted, h)
						var ae *api.APIError
						switch {
						case e == nil:
							rejected["after_refused_nonce"]++
						case errors.As(e, &ae):
							rejected[ae.Code]++
						default:
							rejected["transport"]++
						}
					}
					mu.Unlock()
					a.nonce += uint64(accepted)
					sent.Add(uint64(accepted))
					if accepted < len(hashes) {
						time.Sleep(10 * time.Millisecond)
					}
				}
			})
		}
	}
	// Progress line every second.
	tick := time.NewTicker(time.Second)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
loop:
	for {
		select {
		case <-done:
			break loop
		case <-tick.C:
			el := time.Since(start)
			frac := min(1, el.Seconds()/duration.Seconds())
			bar := strings.Repeat("#", int(frac*30)) + strings.Repeat(".", 30-int(frac*30))
			fmt.Fprintf(progress, "\r[%s] %3.0f%%  submitted %d (%.0f/s)  final %d  epochs %d ", bar, frac*100,
				sent.Load(), float64(sent.Load())/el.Seconds(), final.Load(), epochs.Load())
		}
	}
	tick.Stop()
	submitEnd := time.Now()
	windowEnd.Store(submitEnd.UnixNano())
	clientCPU1, _, _ := procStat(os.Getpid())
	// Drain: wait for the outstanding submissions to become final.
	drainEnd := time.Now().Add(drain)
	for time.Now().Before(drainEnd) {
		mu.Lock()
		left := len(submitted)
		mu.Unlock()
		if left == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	stopFollow()
	<-followDone
	fmt.Fprintln(progress)
	elapsed := submitEnd.Sub(start).Seconds()
	mu.Lock()
	defer mu.Unlock()
	if n := len(submitted); n > 0 {
		rejected["not_final_after_drain"] += uint64(n)
	}
	rep := &benchReport{Nodes: len(clients), Accounts: nAccounts, DurationS: elapsed, TargetRate: rate,
		Submitted: sent.Load(), Final: final.Load(), FinalInWindow: finalInWindow.Load(), FinalTxPerS: float64(finalInWindow.Load()) / elapsed,
		SubmitToFinalMs: percentilesOf(latency), BoundaryToFinal: percentilesOf(boundary),
		Rejected: rejected, Epochs: epochs.Load(), ClientCPUS: clientCPU1 - clientCPU0}
	for i, pid := range t.pids {
		vm := validatorMeasure{Name: t.names[i], PID: pid}
		if pid > 0 {
			if cpu, rss, err := procStat(pid); err == nil {
				vm.CPUSeconds, vm.PeakRSSMiB = cpu-cpu0[i], rss
			}
		}
		rep.Validators = append(rep.Validators, vm)
	}
	return rep, nil
}

func printBench(w io.Writer, r *benchReport) {
	fmt.Fprintf(w, "nodes %d, accounts %d, submitted %d in %.1f s (target rate %.0f/s)\n", r.Nodes, r.Accounts, r.Submitted, r.DurationS, r.TargetRate)
	fmt.Fprintf(w, "final: %d transactions (%d during the load: %.0f tx/s sustained), %d epochs\n", r.Final, r.FinalInWindow,
		r.FinalTxPerS, r.Epochs)
	fmt.Fprintf(w, "submit→final ms:   p50 %.0f  p95 %.0f  p99 %.0f\n", r.SubmitToFinalMs.P50, r.SubmitToFinalMs.P95, r.SubmitToFinalMs.P99)
	fmt.Fprintf(w, "boundary→final ms: p50 %.0f  p95 %.0f  p99 %.0f\n", r.BoundaryToFinal.P50, r.BoundaryToFinal.P95, r.BoundaryToFinal.P99)
	if len(r.Rejected) > 0 {
		fmt.Fprintf(w, "rejected:")
		for _, k := range slices.Sorted(maps.Keys(r.Rejected)) {
			fmt.Fprintf(w, " %s=%d", k, r.Rejected[k])
		}
		fmt.Fprintln(w)
	}
	for _, v := range r.Validators {
		fmt.Fprintf(w, "  %-6s cpu %.1f s  peak RSS %.0f MiB\n", v.Name, v.CPUSeconds, v.PeakRSSMiB)
	}
	fmt.Fprintf(w, "  client cpu %.1f s while the load ran\n", r.ClientCPUS)
}
