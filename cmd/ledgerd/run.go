package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/ledgerd/ledgerd/checkpoint/conformance"
	"github.com/ledgerd/ledgerd/node"
)

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("run", "run --home DIR [flags]", stderr)
	home := fs.String("home", "", "validator home directory (config.toml, node_key, genesis.json, data/)")
	apiAddr := fs.String("api", "", "override api.listen (host:port)")
	metricsAddr := fs.String("metrics", "", "override metrics.listen (host:port)")
	p2pListen := fs.String("p2p-listen", "", "override p2p.listen (comma-separated multiaddrs)")
	peers := fs.String("peers", "", "override p2p.peers (comma-separated multiaddrs with /p2p/ID)")
	logLevel := fs.String("log-level", "", "override log.level (debug, info, warn, error)")
	logFormat := fs.String("log-format", "", "override log.format (text, json)")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	cfg, err := loadConfig(*home, os.Getenv)
	if err != nil {
		return err
	}
	set := map[string]func(){
		"api":        func() { cfg.API.Listen = *apiAddr },
		"metrics":    func() { cfg.Metrics.Listen = *metricsAddr },
		"p2p-listen": func() { cfg.P2P.Listen = splitList(*p2pListen) },
		"peers":      func() { cfg.P2P.Peers = splitList(*peers) },
		"log-level":  func() { cfg.Log.Level = *logLevel },
		"log-format": func() { cfg.Log.Format = *logFormat },
	}
	for name, apply := range set {
		if flagSet(fs, name) {
			apply()
		}
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	logger := newLogger(cfg.Log, stderr)
	if v := os.Getenv("GOMEMLIMIT"); v != "" && cfg.MemoryLimitMiB > 0 {
		logger.Info("GOMEMLIMIT is set: memory_limit_mib ignored", "GOMEMLIMIT", v)
		cfg.MemoryLimitMiB = 0
	}
	err = node.Run(ctx, cfg, node.Options{Logger: logger})
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func newLogger(c node.LogConfig, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(strings.ToUpper(c.Level)))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func cmdInit(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("init", "init --home DIR --genesis FILE [--key FILE]", stderr)
	home := fs.String("home", "", "new home directory (must be empty or absent)")
	genesis := fs.String("genesis", "", "the chain's genesis.json (copied into the home)")
	keyFile := fs.String("key", "", "existing key file to use (default: generate one)")
	moniker := fs.String("moniker", "", "node name (default: the home's base name)")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	if *home == "" || *genesis == "" {
		return fmt.Errorf("%w: --home and --genesis are required", errUsage)
	}
	g, err := node.LoadGenesis(*genesis)
	if err != nil {
		return err
	}
	if err := requireEmptyDir(*home); err != nil {
		return err
	}
	if err := os.MkdirAll(*home, 0o700); err != nil {
		return err
	}
	abs, err := filepath.Abs(*home)
	if err != nil {
		return err
	}
	cfg := node.DefaultConfig(abs)
	if *moniker != "" {
		cfg.Moniker = *moniker
	}
	keyPath := cfg.Path(cfg.KeyFile)
	if *keyFile != "" {
		key, err := loadKey(*keyFile)
		if err != nil {
			return err
		}
		if err := saveKey(keyPath, key); err != nil {
			return err
		}
	} else if _, err := newKeyFile(keyPath); err != nil {
		return err
	}
	data, err := os.ReadFile(*genesis)
	if err != nil {
		return err
	}
	if err := os.WriteFile(cfg.Path(cfg.GenesisFile), data, 0o644); err != nil {
		return err
	}
	if err := writeConfig(cfg); err != nil {
		return err
	}
	key, err := loadKey(keyPath)
	if err != nil {
		return err
	}
	addr := addressOf(key)
	fmt.Fprintf(stdout, "initialized %s for chain %s\n", abs, g.ChainID)
	if err := printKey(stdout, key); err != nil {
		return err
	}
	if _, ok := g.ValidatorIndex(mustAddress(addr)); !ok {
		fmt.Fprintf(stdout, "note: %s is not a validator in this genesis; add it to run as a validator\n", addr)
	}
	return nil
}

func cmdSnapshotSim(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("snapshot-sim", "snapshot-sim --top FILE.top --events FILE.events [--seed N]", stderr)
	top := fs.String("top", "", "topology file (.top)")
	events := fs.String("events", "", "event script (.events)")
	seed := fs.Int64("seed", 8053172852482175524, "seed of the delay generator (Go math/rand v1 source)")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	if *top == "" || *events == "" {
		return fmt.Errorf("%w: --top and --events are required", errUsage)
	}
	return conformance.RunSnapshotSim(*top, *events, *seed, stdout)
}
