package main

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/node"
)

// networkSpec describes a network to generate.
type networkSpec struct {
	Validators  int
	Dir         string
	ChainID     string
	Epoch       time.Duration
	StartDelay  time.Duration
	FaucetFunds uint64
	// Ports gives each validator's listen ports; nil uses the fixed bases below.
	Ports    func(i int) (p2p, api, metrics int)
	Host     string // address validators listen on and dial (127.0.0.1)
	HostFunc func(i int) string
}

const (
	baseP2PPort     = 26600
	baseAPIPort     = 8600
	baseMetricsPort = 9600
	faucetKeyFile   = "faucet_key"
	genesisFile     = "genesis.json"
	defaultFaucet   = 1_000_000_000_000
	// defaultMaxEpochTxs closes an epoch early once it holds this many
	// transactions, bounding an epoch's execution and memory.
	defaultMaxEpochTxs = 100_000
)

// feeCollector receives every fee; it has no known key, so fees are
// effectively burned while total supply stays exactly conserved.
var feeCollector = common.HexToAddress("0x00000000000000000000000000000000000fee00")

func fixedPorts(i int) (int, int, int) {
	return baseP2PPort + i, baseAPIPort + i, baseMetricsPort + i
}

// generatedNode is one validator home written by generateNetwork.
type generatedNode struct {
	Name    string
	Home    string
	Address ledger.Address
	PeerID  string
	P2P     int
	API     int
	Metrics int
	Config  node.Config
}

// generateNetwork writes genesis, faucet key and one home per validator
// (key, config.toml, a copy of genesis.json) under spec.Dir.
func generateNetwork(spec networkSpec) ([]generatedNode, error) {
	if spec.Validators < 1 || spec.Validators > 64 {
		return nil, fmt.Errorf("%w: --validators %d out of range [1, 64]", errUsage, spec.Validators)
	}
	if spec.Epoch < 100*time.Millisecond || spec.Epoch > time.Hour {
		return nil, fmt.Errorf("%w: --epoch %s out of range [100ms, 1h]", errUsage, spec.Epoch)
	}
	if spec.Ports == nil {
		spec.Ports = fixedPorts
	}
	host := func(i int) string {
		if spec.HostFunc != nil {
			return spec.HostFunc(i)
		}
		return "127.0.0.1"
	}
	if err := os.MkdirAll(spec.Dir, 0o755); err != nil {
		return nil, err
	}
	faucet, err := newKeyFile(filepath.Join(spec.Dir, faucetKeyFile))
	if err != nil {
		return nil, err
	}
	nodes := make([]generatedNode, spec.Validators)
	keys := make([]*ecdsa.PrivateKey, spec.Validators)
	for i := range nodes {
		name := fmt.Sprintf("v%d", i)
		home := filepath.Join(spec.Dir, name)
		if err := os.MkdirAll(home, 0o700); err != nil {
			return nil, err
		}
		key, err := newKeyFile(filepath.Join(home, "node_key"))
		if err != nil {
			return nil, err
		}
		id, err := peerIDOf(key)
		if err != nil {
			return nil, err
		}
		p2pPort, apiPort, metricsPort := spec.Ports(i)
		keys[i] = key
		nodes[i] = generatedNode{Name: name, Home: home, Address: crypto.PubkeyToAddress(key.PublicKey),
			PeerID: id.String(), P2P: p2pPort, API: apiPort, Metrics: metricsPort}
	}
	g := &ledger.Genesis{
		ChainID:       spec.ChainID,
		GenesisTimeMs: time.Now().Add(spec.StartDelay).UnixMilli(),
		EpochLengthMs: uint64(spec.Epoch / time.Millisecond),
		MaxEpochTxs:   defaultMaxEpochTxs,
		FeeCollector:  feeCollector,
		Alloc:         []ledger.Alloc{{Address: crypto.PubkeyToAddress(faucet.PublicKey), Balance: spec.FaucetFunds}},
	}
	for i, n := range nodes {
		g.Validators = append(g.Validators, ledger.Validator{
			Name: n.Name, Address: n.Address, PublicKey: crypto.CompressPubkey(&keys[i].PublicKey), Power: 1,
			P2PAddr: fmt.Sprintf("/ip4/%s/tcp/%d/p2p/%s", host(i), n.P2P, n.PeerID),
		})
	}
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("generated genesis is invalid: %w", err)
	}
	gj, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(spec.Dir, genesisFile), append(gj, '\n'), 0o644); err != nil {
		return nil, err
	}
	for i := range nodes {
		n := &nodes[i]
		cfg := node.DefaultConfig(n.Home)
		cfg.Moniker = n.Name
		cfg.P2P.Listen = []string{fmt.Sprintf("/ip4/%s/tcp/%d", host(i), n.P2P)}
		cfg.P2P.Peers = nil
		for j := range nodes {
			if j != i {
				cfg.P2P.Peers = append(cfg.P2P.Peers, g.Validators[j].P2PAddr)
			}
		}
		cfg.API.Listen = fmt.Sprintf("127.0.0.1:%d", n.API)
		cfg.Metrics.Listen = fmt.Sprintf("127.0.0.1:%d", n.Metrics)
		if err := os.WriteFile(filepath.Join(n.Home, genesisFile), append(gj, '\n'), 0o644); err != nil {
			return nil, err
		}
		if err := writeConfig(cfg); err != nil {
			return nil, err
		}
		n.Config = cfg
	}
	return nodes, nil
}

func cmdTestnet(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("testnet", "testnet --validators N --out DIR [flags]", stderr)
	n := fs.Int("validators", 4, "number of validators")
	out := fs.String("out", "", "output directory (must be empty or absent)")
	chainID := fs.String("chain-id", "ledgerd-testnet", "chain ID")
	epoch := fs.Duration("epoch", time.Second, "epoch length")
	start := fs.Duration("start-in", 10*time.Second, "genesis time is this far in the future")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	if *out == "" {
		return fmt.Errorf("%w: --out is required", errUsage)
	}
	if err := requireEmptyDir(*out); err != nil {
		return err
	}
	nodes, err := generateNetwork(networkSpec{Validators: *n, Dir: *out, ChainID: *chainID, Epoch: *epoch,
		StartDelay: *start, FaucetFunds: defaultFaucet})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %d validator homes, %s and %s to %s\n", len(nodes), genesisFile, faucetKeyFile, *out)
	for _, nd := range nodes {
		fmt.Fprintf(stdout, "  %s  %s  api http://127.0.0.1:%d  metrics :%d  p2p :%d\n", nd.Name, nd.Address.Hex(), nd.API, nd.Metrics, nd.P2P)
	}
	return nil
}

// requireEmptyDir fails unless dir is absent or empty.
func requireEmptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return err
	}
	if len(entries) > 0 {
		return fmt.Errorf("%s is not empty; choose a new directory", dir)
	}
	return nil
}
