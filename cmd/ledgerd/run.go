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

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/spf13/cobra"

	"github.com/ledgerd/ledgerd/checkpoint/conformance"
	"github.com/ledgerd/ledgerd/node"
)

func (c *cli) runCmd() *cobra.Command {
	var home string
	cmd := &cobra.Command{
		Use:   "run --home DIR [flags]",
		Short: "Run a validator from its home directory",
		Long: `Run a validator from its home directory (config.toml, node_key, genesis.json,
data/) until SIGINT or SIGTERM.

Every key of config.toml can be overridden by its LEDGERD_* environment
variable and by its flag below. Precedence, lowest to highest: built-in
defaults, config.toml, environment, flags. 'ledgerd config show' prints the
result. The node key stays plain hex so that the node starts unattended.`,
		GroupID: groupNode,
		Args:    noArgs,
	}
	cmd.RunE = c.action(func(ctx context.Context, _ []string) error {
		lc, err := loadConfigFrom(c.home(cmd, home), c.getenv, cmd.Flags())
		if err != nil {
			return err
		}
		cfg := lc.Config
		if err := cfg.Validate(); err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		logger := newLogger(cfg.Log, c.stderr)
		if v := c.getenv("GOMEMLIMIT"); v != "" && cfg.MemoryLimitMiB > 0 {
			logger.Info("GOMEMLIMIT is set: memory_limit_mib ignored", "GOMEMLIMIT", v)
			cfg.MemoryLimitMiB = 0
		}
		err = node.Run(ctx, cfg, node.Options{Logger: logger})
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	})
	c.homeFlag(cmd, &home, "validator home `DIR` (config.toml, node_key, genesis.json, data/)")
	addSettingFlags(cmd)
	cmd.Annotations = envAnnotation(envHome, envSettings, "GOMEMLIMIT")
	return cmd
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

// initReport is what `init --json` prints.
type initReport struct {
	Home    string `json:"home"`
	ChainID string `json:"chain_id"`
	keyInfo
	// Validator is false when the key is not one of the genesis validators.
	Validator bool `json:"validator"`
}

func (c *cli) initCmd() *cobra.Command {
	var home, genesis, keyFile, moniker, passwordFile string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "init --home DIR --genesis FILE [--key FILE]",
		Short: "Create a validator home (key, config.toml, genesis) for an existing genesis",
		Long: `Create a validator home for an existing genesis: a node key (generated, or
copied from --key), a copy of the genesis and a config.toml with every key
commented. The node key is written as plain hex (mode 0600) so that the node
starts unattended; --key may also name an encrypted keystore file, which is
decrypted once here.`,
		GroupID: groupNode,
		Args:    noArgs,
	}
	cmd.RunE = c.action(func(_ context.Context, _ []string) error {
		home := c.home(cmd, home)
		if home == "" || genesis == "" {
			return fmt.Errorf("%w: --home and --genesis are required", errUsage)
		}
		g, err := node.LoadGenesis(genesis)
		if err != nil {
			return err
		}
		if err := requireEmptyDir(home); err != nil {
			return err
		}
		var imported *keyMaterial
		if keyFile != "" {
			km, err := c.loadAnyKey(keyFile, passwordFile)
			if err != nil {
				return err
			}
			imported = &km
		}
		if err := os.MkdirAll(home, 0o700); err != nil {
			return err
		}
		abs, err := filepath.Abs(home)
		if err != nil {
			return err
		}
		cfg := node.DefaultConfig(abs)
		if moniker != "" {
			cfg.Moniker = moniker
		}
		keyPath := cfg.Path(cfg.KeyFile)
		if imported != nil {
			if err := saveKey(keyPath, imported.key); err != nil {
				return err
			}
		} else if _, err := newKeyFile(keyPath); err != nil {
			return err
		}
		data, err := os.ReadFile(genesis)
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
		info, err := describeKey(key)
		if err != nil {
			return err
		}
		_, isValidator := g.ValidatorIndex(crypto.PubkeyToAddress(key.PublicKey))
		rep := initReport{Home: abs, ChainID: g.ChainID, keyInfo: info, Validator: isValidator}
		if asJSON {
			return printJSON(c.stdout, rep)
		}
		fmt.Fprintf(c.stdout, "initialized %s for chain %s\n", abs, g.ChainID)
		printKeyInfo(c.stdout, info)
		if !isValidator {
			fmt.Fprintf(c.stdout, "note: %s is not a validator in this genesis; add it to run as a validator\n", info.Address)
		}
		return nil
	})
	c.homeFlag(cmd, &home, "new home `DIR` (must be empty or absent)")
	cmd.Flags().StringVar(&genesis, "genesis", "", "the chain's genesis `FILE` (copied into the home)")
	cmd.Flags().StringVar(&keyFile, "key", "", "existing key `FILE` to use, plain hex or an encrypted keystore file (default: generate one)")
	cmd.Flags().StringVar(&passwordFile, "password-file", "", "`FILE` whose first line is the passphrase of an encrypted --key (default: prompt)")
	cmd.Flags().StringVar(&moniker, "moniker", "", "node `NAME` (default: the home's base name)")
	c.jsonFlag(cmd, &asJSON)
	_ = cmd.MarkFlagFilename("genesis", "json")
	_ = cmd.MarkFlagFilename("key")
	_ = cmd.MarkFlagFilename("password-file")
	cmd.Annotations = envAnnotation(envHome)
	return cmd
}

func (c *cli) snapshotSimCmd() *cobra.Command {
	var top, events string
	var seed int64
	cmd := &cobra.Command{
		Use:     "snapshot-sim --top FILE.top --events FILE.events [--seed N]",
		Short:   "Run the Chandy–Lamport conformance simulator on .top/.events files",
		Long:    "Run the Chandy–Lamport engine on the COS 418 conformance format and print the\nsnapshots in its .snap format (the format is fixed by that suite: no --json).",
		GroupID: groupOther,
		Args:    noArgs,
	}
	cmd.RunE = c.action(func(_ context.Context, _ []string) error {
		if top == "" || events == "" {
			return fmt.Errorf("%w: --top and --events are required", errUsage)
		}
		return conformance.RunSnapshotSim(top, events, seed, c.stdout)
	})
	cmd.Flags().StringVar(&top, "top", "", "topology `FILE` (.top)")
	cmd.Flags().StringVar(&events, "events", "", "event script `FILE` (.events)")
	cmd.Flags().Int64Var(&seed, "seed", 8053172852482175524, "seed of the delay generator (Go math/rand v1 source)")
	_ = cmd.MarkFlagFilename("top", "top")
	_ = cmd.MarkFlagFilename("events", "events")
	return cmd
}
