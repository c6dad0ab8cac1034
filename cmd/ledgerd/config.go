package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/ledgerd/ledgerd/node"
)

// configFileName is the node's config file inside its home.
const configFileName = "config.toml"

// envVar is one LEDGERD_* override: its name and how it sets the config.
type envVar struct {
	name string
	help string
	set  func(c *node.Config, v string) error
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func setInt(dst *int) func(*node.Config, string) error {
	return func(_ *node.Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("not an integer: %q", v)
		}
		*dst = n
		return nil
	}
}

// envVars lists every supported environment override. Precedence, lowest to
// highest: built-in defaults, config.toml, LEDGERD_* variables, flags.
func envVars(c *node.Config) []envVar {
	return []envVar{
		{"LEDGERD_MONIKER", "moniker", func(c *node.Config, v string) error { c.Moniker = v; return nil }},
		{"LEDGERD_DATA_DIR", "data_dir", func(c *node.Config, v string) error { c.DataDir = v; return nil }},
		{"LEDGERD_KEY_FILE", "key_file", func(c *node.Config, v string) error { c.KeyFile = v; return nil }},
		{"LEDGERD_GENESIS_FILE", "genesis_file", func(c *node.Config, v string) error { c.GenesisFile = v; return nil }},
		{"LEDGERD_P2P_LISTEN", "p2p.listen (comma-separated)", func(c *node.Config, v string) error { c.P2P.Listen = splitList(v); return nil }},
		{"LEDGERD_P2P_PEERS", "p2p.peers (comma-separated)", func(c *node.Config, v string) error { c.P2P.Peers = splitList(v); return nil }},
		{"LEDGERD_P2P_PSK_FILE", "p2p.psk_file", func(c *node.Config, v string) error { c.P2P.PSKFile = v; return nil }},
		{"LEDGERD_API_LISTEN", "api.listen", func(c *node.Config, v string) error { c.API.Listen = v; return nil }},
		{"LEDGERD_METRICS_LISTEN", "metrics.listen", func(c *node.Config, v string) error { c.Metrics.Listen = v; return nil }},
		{"LEDGERD_MEMORY_LIMIT_MIB", "memory_limit_mib", setInt(&c.MemoryLimitMiB)},
		{"LEDGERD_MEMPOOL_MAX_TXS", "mempool.max_txs", setInt(&c.Mempool.MaxTxs)},
		{"LEDGERD_MEMPOOL_MAX_WAIT_MS", "mempool.max_wait_ms", setInt(&c.Mempool.MaxWaitMs)},
		{"LEDGERD_MEMPOOL_MAX_LAG_MS", "mempool.max_lag_ms", setInt(&c.Mempool.MaxLagMs)},
		{"LEDGERD_LOG_LEVEL", "log.level", func(c *node.Config, v string) error { c.Log.Level = v; return nil }},
		{"LEDGERD_LOG_FORMAT", "log.format", func(c *node.Config, v string) error { c.Log.Format = v; return nil }},
	}
}

// loadConfig builds a node config for home from defaults, home/config.toml
// (if present) and the environment. Flags are applied by the caller.
func loadConfig(home string, getenv func(string) string) (node.Config, error) {
	if home == "" {
		return node.Config{}, fmt.Errorf("%w: --home is required", errUsage)
	}
	abs, err := filepath.Abs(home)
	if err != nil {
		return node.Config{}, err
	}
	cfg := node.DefaultConfig(abs)
	path := filepath.Join(abs, configFileName)
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return cfg, fmt.Errorf("read %s: %w", path, err)
	default:
		md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&cfg)
		if err != nil {
			return cfg, fmt.Errorf("parse %s: %w", path, err)
		}
		if undec := md.Undecoded(); len(undec) > 0 {
			return cfg, fmt.Errorf("parse %s: unknown setting %q", path, undec[0].String())
		}
	}
	cfg.Home = abs
	for _, ev := range envVars(&cfg) {
		if v := getenv(ev.name); v != "" {
			if err := ev.set(&cfg, v); err != nil {
				return cfg, fmt.Errorf("%s: %w", ev.name, err)
			}
		}
	}
	return cfg, nil
}

// writeConfig writes cfg as home/config.toml (mode 0644).
func writeConfig(cfg node.Config) error {
	var buf bytes.Buffer
	buf.WriteString("# ledgerd node configuration. Precedence: defaults < this file < LEDGERD_* env < flags.\n")
	if err := toml.NewEncoder(&buf).Encode(cfg); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(cfg.Home, configFileName), buf.Bytes(), 0o644)
}
