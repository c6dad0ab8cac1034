package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/spf13/cobra"

	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/node"
	"github.com/ledgerd/ledgerd/testnet"
)

// networkSpec describes a network to generate.
type networkSpec struct {
	Validators  int
	Dir         string
	ChainID     string
	Epoch       time.Duration
	StartDelay  time.Duration
	FaucetFunds uint64
	// ExtraAccounts adds this many genesis accounts (balance 1) at the
	// addresses extraAccount(0..n-1), for benchmarks of a large state.
	ExtraAccounts int
	// Ports gives each validator's listen ports; nil uses the fixed bases below.
	Ports    func(i int) (p2p, api, metrics int)
	Host     string // address validators listen on and dial (127.0.0.1)
	HostFunc func(i int) string
	// Docker generates homes for containers instead of loopback processes
	// (see dockerize): DNS peer addresses, 0.0.0.0 listeners, a PSK, data on
	// a volume, files readable by the container user's added group.
	Docker bool
}

const (
	baseP2PPort     = 26600
	baseAPIPort     = 8600
	baseMetricsPort = 9600
	faucetKeyFile   = "faucet_key"
	composeFile     = "docker-compose.yml"
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

// maxExtraAccounts bounds --accounts (a genesis of ~75 bytes per account
// stays well under ledger.MaxGenesisBytes).
const maxExtraAccounts = 2_000_000

// extraAccount is the address of the i-th extra genesis account: derived
// from i, with no key (it only receives).
func extraAccount(i int) ledger.Address {
	var a ledger.Address
	copy(a[:], crypto.Keccak256([]byte(fmt.Sprintf("ledgerd-extra-account/%d", i)))[12:])
	return a
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
	if spec.ExtraAccounts < 0 || spec.ExtraAccounts > maxExtraAccounts {
		return nil, fmt.Errorf("%w: --accounts %d out of range [0, %d]", errUsage, spec.ExtraAccounts, maxExtraAccounts)
	}
	for i := range spec.ExtraAccounts {
		g.Alloc = append(g.Alloc, ledger.Alloc{Address: extraAccount(i), Balance: 1})
	}
	for i, n := range nodes {
		p2pAddr := fmt.Sprintf("/ip4/%s/tcp/%d/p2p/%s", host(i), n.P2P, n.PeerID)
		if spec.Docker {
			p2pAddr = testnet.P2PAddr(i, n.PeerID)
		}
		g.Validators = append(g.Validators, ledger.Validator{
			Name: n.Name, Address: n.Address, PublicKey: crypto.CompressPubkey(&keys[i].PublicKey), Power: 1,
			P2PAddr: p2pAddr,
		})
	}
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("generated genesis is invalid: %w", err)
	}
	gj, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		return nil, err
	}
	var psk []byte
	if spec.Docker {
		psk = make([]byte, 32)
		if _, err := rand.Read(psk); err != nil {
			return nil, err
		}
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
		if spec.Docker {
			if err := dockerize(&cfg, psk); err != nil {
				return nil, err
			}
		}
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

// pskFile is the private-network key inside a docker validator home.
const pskFile = "psk"

// dockerize turns a loopback config into the config of a container: the
// home is mounted read-only at testnet.HomeDir, data lives on a volume at
// testnet.DataDir, listeners bind all interfaces of the container (only the
// API and metrics ports are published, on the host's loopback), peers are
// dialled by service DNS name, and the validator mesh is private (a PSK,
// which libp2p supports on TCP only). Every file of the home is made readable by
// its group (0640, directory 0750): the compose file adds the generating
// user's group to the container user 65532, which then reads the home
// without the host files being chowned.
func dockerize(cfg *node.Config, psk []byte) error {
	cfg.DataDir = testnet.DataDir
	cfg.P2P.Listen = []string{testnet.P2PListen()}
	// cfg.P2P.Peers already holds the genesis hints, which use DNS names.
	cfg.P2P.PSKFile = pskFile
	cfg.API.Listen = testnet.APIListen()
	cfg.Metrics.Listen = testnet.MetricsListen()
	cfg.Log.Format = "json"
	if err := os.WriteFile(cfg.Path(pskFile), []byte(hex.EncodeToString(psk)+"\n"), 0o640); err != nil {
		return err
	}
	if err := os.Chmod(cfg.Path(cfg.KeyFile), 0o640); err != nil {
		return err
	}
	return os.Chmod(cfg.Home, 0o750)
}

// testnetReport is what `testnet --json` prints.
type testnetReport struct {
	Dir         string           `json:"dir"`
	Genesis     string           `json:"genesis"`
	FaucetKey   string           `json:"faucet_key"`
	ComposeFile string           `json:"compose_file,omitempty"`
	Validators  []testnetMachine `json:"validators"`
}

// testnetMachine is one generated validator.
type testnetMachine struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	Home    string `json:"home"`
	API     string `json:"api"`
	Metrics string `json:"metrics"`
	P2P     string `json:"p2p"`
}

func (c *cli) testnetCmd() *cobra.Command {
	var n, apiBase, metricsBase, extra int
	var out, chainID, image string
	var epoch, start time.Duration
	var docker, asJSON bool
	cmd := &cobra.Command{
		Use:   "testnet --validators N --out DIR [--docker]",
		Short: "Generate homes, keys, genesis (and a compose file) for N validators",
		Long: `Generate a network into an empty directory: a genesis, a funded faucet key and
one validator home per validator (node_key, config.toml, genesis.json). Without
--docker the validators listen on loopback ('ledgerd run --home DIR/vN'); with
--docker the homes are made for containers and DIR/docker-compose.yml starts
them ('docker compose up -d'; testnet/README.md).`,
		GroupID: groupNetwork,
		Args:    noArgs,
	}
	cmd.RunE = c.action(func(context.Context, []string) error {
		// The containers share this machine's cores, as a devnet's validators do.
		cspec := testnet.Spec{Validators: n, Image: image, APIPortBase: apiBase, MetricsPortBase: metricsBase,
			HostGroupID: os.Getgid(), GoMaxProcs: testnet.CPUShare(runtime.NumCPU(), n)}
		if docker {
			if err := cspec.Validate(); err != nil {
				return fmt.Errorf("%w: %v", errUsage, err)
			}
		}
		if out == "" {
			return fmt.Errorf("%w: --out is required", errUsage)
		}
		if err := requireEmptyDir(out); err != nil {
			return err
		}
		nodes, err := generateNetwork(networkSpec{Validators: n, Dir: out, ChainID: chainID, Epoch: epoch, ExtraAccounts: extra,
			StartDelay: start, FaucetFunds: defaultFaucet, Docker: docker})
		if err != nil {
			return err
		}
		rep := testnetReport{Dir: out, Genesis: filepath.Join(out, genesisFile), FaucetKey: filepath.Join(out, faucetKeyFile)}
		for i, nd := range nodes {
			m := testnetMachine{Name: nd.Name, Address: nd.Address.Hex(), Home: nd.Home,
				API: "http://" + nd.Config.API.Listen, Metrics: "http://" + nd.Config.Metrics.Listen + "/metrics",
				P2P: nd.Config.P2P.Listen[0]}
			if docker {
				m.API = fmt.Sprintf("http://127.0.0.1:%d", apiBase+i)
				m.Metrics = fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsBase+i)
				m.P2P = testnet.P2PAddr(i, nd.PeerID)
			}
			rep.Validators = append(rep.Validators, m)
		}
		if docker {
			compose, err := testnet.Compose(cspec)
			if err != nil {
				return err
			}
			rep.ComposeFile = filepath.Join(out, composeFile)
			if err := os.WriteFile(rep.ComposeFile, compose, 0o644); err != nil {
				return err
			}
		}
		if asJSON {
			return printJSON(c.stdout, rep)
		}
		if docker {
			fmt.Fprintf(c.stdout, "wrote %d validator homes, %s, %s and %s to %s (genesis time in %s)\n",
				len(nodes), genesisFile, faucetKeyFile, composeFile, out, start)
			for _, m := range rep.Validators {
				fmt.Fprintf(c.stdout, "  %s  %s  api %s  metrics %s  p2p %s\n", m.Name, m.Address, m.API, m.Metrics, m.P2P)
			}
			fmt.Fprintf(c.stdout, "start: docker compose -f %s up -d   (Compose v1: docker-compose -f %s up -d)\n", rep.ComposeFile, rep.ComposeFile)
			return nil
		}
		fmt.Fprintf(c.stdout, "wrote %d validator homes, %s and %s to %s\n", len(nodes), genesisFile, faucetKeyFile, out)
		for _, nd := range nodes {
			fmt.Fprintf(c.stdout, "  %s  %s  api http://127.0.0.1:%d  metrics :%d  p2p :%d\n", nd.Name, nd.Address.Hex(), nd.API, nd.Metrics, nd.P2P)
		}
		return nil
	})
	f := cmd.Flags()
	f.IntVar(&n, "validators", 4, "number of validators")
	f.StringVar(&out, "out", "", "output `DIR` (must be empty or absent)")
	f.StringVar(&chainID, "chain-id", "ledgerd-testnet", "chain ID")
	f.DurationVar(&epoch, "epoch", time.Second, "epoch length")
	f.DurationVar(&start, "start-in", 10*time.Second, "genesis time is this far in the future")
	f.BoolVar(&docker, "docker", false, "generate homes for containers and DIR/docker-compose.yml (see testnet/README.md)")
	f.StringVar(&image, "image", testnet.DefaultImage, "with --docker: the ledgerd `IMAGE`")
	f.IntVar(&apiBase, "api-port-base", baseAPIPort, "with --docker: validator i's API is published on 127.0.0.1:(base+i)")
	f.IntVar(&metricsBase, "metrics-port-base", baseMetricsPort, "with --docker: validator i's metrics on 127.0.0.1:(base+i)")
	f.IntVar(&extra, "accounts", 0, "extra genesis accounts with balance 1, for a large state (bench --recipients)")
	c.jsonFlag(cmd, &asJSON)
	_ = cmd.MarkFlagDirname("out")
	return cmd
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
