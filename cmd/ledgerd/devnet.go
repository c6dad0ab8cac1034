package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/spf13/cobra"

	"github.com/ledgerd/ledgerd/node/api"
	"github.com/ledgerd/ledgerd/p2p"
	"github.com/ledgerd/ledgerd/testnet"
)

// devnetFile is written into the devnet directory for tools and tests.
const devnetFile = "devnet.json"

// DevnetInfo is the content of DIR/devnet.json.
type DevnetInfo struct {
	Genesis   string       `json:"genesis"`
	FaucetKey string       `json:"faucet_key"`
	Nodes     []DevnetNode `json:"nodes"`
}

// DevnetNode describes one running validator of a devnet.
type DevnetNode struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	API     string `json:"api"`
	Metrics string `json:"metrics"`
	Home    string `json:"home"`
	Log     string `json:"log"`
	PID     int    `json:"pid"`
}

func (c *cli) devnetCmd() *cobra.Command {
	var n, extra int
	var dir, chainID string
	var epoch, readyTimeout time.Duration
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "devnet [--validators N] [--dir DIR] [--epoch 1s]",
		Short: "Generate (if needed) and run a local network of validators on loopback",
		Long: `Run N validators as separate 'ledgerd run' processes on loopback until Ctrl-C,
which stops them all. DIR is generated when it is empty or absent (keys,
genesis, homes v0…, a funded faucet key) and reused otherwise; DIR/devnet.json
describes the running network for tools. When a validator exits the others
go on (the chain keeps finalizing while more than two thirds run); devnet
names it and prints the command that restarts it. Nothing is restarted by
itself, and devnet ends when every validator has exited.

With --json the description (DIR/devnet.json) is printed on stdout once every
validator answers; messages go to stderr.`,
		GroupID: groupNetwork,
		Args:    noArgs,
	}
	cmd.RunE = c.action(func(ctx context.Context, _ []string) error {
		return c.devnet(ctx, devnetOpts{validators: n, dir: dir, epoch: epoch, chainID: chainID,
			readyTimeout: readyTimeout, extra: extra, asJSON: asJSON})
	})
	f := cmd.Flags()
	f.IntVar(&n, "validators", 4, "number of validators (when generating)")
	f.StringVar(&dir, "dir", ".devnet", "network `DIR`; generated when empty or absent, reused otherwise")
	f.DurationVar(&epoch, "epoch", time.Second, "epoch length (when generating)")
	f.StringVar(&chainID, "chain-id", "ledgerd-devnet", "chain ID (when generating)")
	f.DurationVar(&readyTimeout, "ready-timeout", 60*time.Second, "how long to wait for every node's API and the first final checkpoint")
	f.IntVar(&extra, "accounts", 0, "extra genesis accounts with balance 1 (when generating), for a large state (bench --recipients)")
	c.jsonFlag(cmd, &asJSON)
	_ = cmd.MarkFlagDirname("dir")
	cmd.Annotations = envAnnotation("GOMAXPROCS")
	return cmd
}

type devnetOpts struct {
	validators, extra   int
	dir, chainID        string
	epoch, readyTimeout time.Duration
	asJSON              bool
}

func (c *cli) devnet(ctx context.Context, o devnetOpts) error {
	// Messages go to stdout, or to stderr when stdout carries the JSON.
	msg := c.stdout
	if o.asJSON {
		msg = c.stderr
	}
	abs, err := filepath.Abs(o.dir)
	if err != nil {
		return err
	}
	nodes, err := devnetHomes(abs, o.validators, o.epoch, o.chainID, o.extra, msg)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	info := DevnetInfo{Genesis: filepath.Join(abs, genesisFile), FaucetKey: filepath.Join(abs, faucetKeyFile)}
	env, maxProcs := validatorEnv(os.Environ(), runtime.NumCPU(), len(nodes))
	var procs []*exec.Cmd
	exited := make(chan exit, len(nodes))
	alive := 0
	stopAll := func() {
		for _, p := range procs {
			_ = p.Process.Signal(syscall.SIGTERM)
		}
	}
	defer func() {
		stopAll()
		deadline := time.After(15 * time.Second)
		for ; alive > 0; alive-- {
			select {
			case <-exited:
			case <-deadline:
				for _, p := range procs {
					_ = p.Process.Kill()
				}
				return
			}
		}
	}()
	for i, nd := range nodes {
		logPath := filepath.Join(nd.Config.Home, "node.log")
		logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		cmd := exec.Command(self, "run", "--home", nd.Config.Home)
		cmd.Stdout, cmd.Stderr, cmd.Env = logf, logf, env
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
		if err := cmd.Start(); err != nil {
			logf.Close()
			return fmt.Errorf("start %s: %w", nd.Name, err)
		}
		procs = append(procs, cmd)
		alive++
		go func(i int, c *exec.Cmd, f *os.File) {
			err := c.Wait()
			f.Close()
			exited <- exit{i, err}
		}(i, cmd, logf)
		info.Nodes = append(info.Nodes, DevnetNode{Name: nd.Name, Address: nd.Address.Hex(),
			API: "http://" + nd.Config.API.Listen, Metrics: "http://" + nd.Config.Metrics.Listen + "/metrics",
			Home: nd.Config.Home, Log: logPath, PID: cmd.Process.Pid})
	}
	data, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(abs, devnetFile), append(data, '\n'), 0o644); err != nil {
		return err
	}
	if err := waitReady(ctx, info, o.readyTimeout, exited); err != nil {
		return err
	}
	if o.asJSON {
		if err := printJSON(c.stdout, info); err != nil {
			return err
		}
	} else {
		printDevnet(c.stdout, info, o.chainID, maxProcs, filepath.Join(abs, devnetFile), c.invokedAs())
	}
	fmt.Fprintln(msg, "press Ctrl-C to stop every validator")
	quorum := 2*len(nodes)/3 + 1 // more than two thirds, equal powers
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(msg, "devnet: stopping validators")
			return nil
		case e := <-exited:
			alive--
			nd := info.Nodes[e.index]
			fmt.Fprintf(msg, "devnet: validator %s exited (%v); see %s\n", nd.Name, e.err, nd.Log)
			fmt.Fprintf(msg, "  restart it with: GOMAXPROCS=%s %s run --home %s >>%s 2>&1 &\n", maxProcs, c.invokedAs(), nd.Home, nd.Log)
			fmt.Fprintln(msg, "  (a validator restarted by hand is not stopped by Ctrl-C here; stop it by its PID)")
			switch {
			case alive == 0:
				return errors.New("devnet: every validator exited")
			case alive < quorum:
				fmt.Fprintf(msg, "devnet: %d of %d validators running; finality needs %d: it resumes when enough return\n", alive, len(nodes), quorum)
			default:
				fmt.Fprintf(msg, "devnet: %d of %d validators running; the chain goes on finalizing\n", alive, len(nodes))
			}
		}
	}
}

// exit is a validator process's end: its index and what Wait returned.
type exit struct {
	index int
	err   error
}

// printDevnet describes a running devnet and prints commands to try,
// spelled with bin, the name ledgerd was invoked as, so that they work
// when pasted into the same shell.
func printDevnet(w io.Writer, info DevnetInfo, chainID, maxProcs, file, bin string) {
	fmt.Fprintf(w, "devnet: %d validators running (chain %s, GOMAXPROCS=%s each), described in %s\n", len(info.Nodes), chainID, maxProcs, file)
	for _, nd := range info.Nodes {
		fmt.Fprintf(w, "  %-4s %s  api %s  metrics %s  log %s\n", nd.Name, nd.Address, nd.API, nd.Metrics, nd.Log)
	}
	fmt.Fprintf(w, "explorer: %s/\n", info.Nodes[0].API)
	fmt.Fprintf(w, "try:      %s checkpoint get --node %s latest\n", bin, info.Nodes[0].API)
	fmt.Fprintf(w, "          %s tx send --node %s --key %s --to %s --amount 10 --wait\n", bin, info.Nodes[0].API, info.FaucetKey, info.Nodes[1%len(info.Nodes)].Address)
	fmt.Fprintf(w, "          %s bench --devnet %s --duration 10s\n", bin, filepath.Dir(file))
}

// devnetHomes returns the validator homes in dir, generating a network with
// free loopback ports when dir is empty or absent.
func devnetHomes(dir string, n int, epoch time.Duration, chainID string, extra int, stdout io.Writer) ([]generatedNode, error) {
	if _, err := os.Stat(filepath.Join(dir, genesisFile)); err == nil {
		return loadHomes(dir)
	}
	if err := requireEmptyDir(dir); err != nil {
		return nil, fmt.Errorf("%w (no %s inside, so it is not a devnet directory)", err, genesisFile)
	}
	ports, err := p2p.FreePorts(3 * n)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(stdout, "devnet: generating %d validators in %s\n", n, dir)
	return generateNetwork(networkSpec{Validators: n, Dir: dir, ChainID: chainID, Epoch: epoch,
		StartDelay: 2 * time.Second, FaucetFunds: defaultFaucet, ExtraAccounts: extra,
		Ports: func(i int) (int, int, int) { return ports[3*i], ports[3*i+1], ports[3*i+2] }})
}

// loadHomes reads the validator homes v0, v1, … of an existing network dir.
func loadHomes(dir string) ([]generatedNode, error) {
	var nodes []generatedNode
	for i := 0; ; i++ {
		home := filepath.Join(dir, fmt.Sprintf("v%d", i))
		if _, err := os.Stat(home); errors.Is(err, os.ErrNotExist) {
			break
		}
		cfg, err := loadConfig(home, func(string) string { return "" })
		if err != nil {
			return nil, err
		}
		key, err := loadKey(cfg.Path(cfg.KeyFile))
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, generatedNode{Name: cfg.Moniker, Home: home, Address: crypto.PubkeyToAddress(key.PublicKey), Config: cfg})
	}
	if len(nodes) == 0 {
		return nil, fmt.Errorf("%s has a genesis but no validator homes v0, v1, …", dir)
	}
	return nodes, nil
}

// waitReady polls every node's /healthz until all answer as running (not
// "syncing" or "starting": the API answers during the start-up state
// sync), then node 0 until it has a final checkpoint, so that the commands
// the devnet prints work at once; it gives up when a node exits or the
// timeout passes.
func waitReady(ctx context.Context, info DevnetInfo, timeout time.Duration, exited chan exit) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	ready := func(url string, ok func(*http.Response) bool) bool {
		resp, err := client.Get(url)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return ok(resp)
	}
	healthy := func(resp *http.Response) bool {
		var h api.Health
		derr := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&h)
		return resp.StatusCode == http.StatusOK && derr == nil && h.Sync != api.SyncSyncing && h.Sync != api.SyncStarting
	}
	hasFinal := func(resp *http.Response) bool {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return resp.StatusCode == http.StatusOK
	}
	type check struct {
		node int
		url  string
		ok   func(*http.Response) bool
		what string
	}
	var checks []check
	for i, nd := range info.Nodes {
		checks = append(checks, check{i, nd.API + "/healthz", healthy, "did not answer " + nd.API + "/healthz"})
	}
	checks = append(checks, check{0, info.Nodes[0].API + "/v1/checkpoints/latest", hasFinal, "had no final checkpoint"})
	for _, c := range checks {
		for !ready(c.url, c.ok) {
			nd := info.Nodes[c.node]
			if time.Now().After(deadline) {
				return fmt.Errorf("validator %s %s within %s; see %s", nd.Name, c.what, timeout, nd.Log)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case e := <-exited:
				exited <- e // the deferred wait counts it
				return fmt.Errorf("validator %s exited during start-up (%v); see %s", info.Nodes[e.index].Name, e.err, info.Nodes[e.index].Log)
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return nil
}

// validatorEnv is the environment of a devnet's validator processes: ours,
// plus GOMAXPROCS set to the machine's CPUs divided among the validators
// (at least 1) unless the user set it, and that value. Validators of a
// devnet share one machine: with every Go runtime sized for all of its
// cores they would run cores × validators busy threads (on 2 cores with 4
// validators that costs ~6% CPU per final transfer and ~25% boundary→final
// latency; docs/BENCHMARKS.md).
func validatorEnv(environ []string, cpus, validators int) ([]string, string) {
	env := slices.Clone(environ)
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "GOMAXPROCS="); ok {
			return env, v
		}
	}
	v := strconv.Itoa(testnet.CPUShare(cpus, validators))
	return append(env, "GOMAXPROCS="+v), v
}
