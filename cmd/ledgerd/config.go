package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ledgerd/ledgerd/node"
)

// configFileName is the node's config file inside its home.
const configFileName = "config.toml"

// setting is one key of config.toml. Every key can also be set by an
// environment variable (envName) and by a flag of `run` and `config show`
// (flagName). Precedence, lowest to highest: built-in defaults,
// config.toml, environment, flags.
type setting struct {
	// key is the TOML key: "name" at the top level, "section.name" in a table.
	key string
	// short is the key's one-line help (flag and environment variable).
	short string
	// doc explains the key: the comment above it in a generated
	// config.toml, the flag's help and its row in docs/config.md.
	doc string
	// defaultDoc, when set, describes the default instead of its value
	// (a default that depends on the home).
	defaultDoc string
	// field returns a pointer to the key's field in c: *string, *int or
	// *[]string.
	field func(c *node.Config) any
}

// settings lists every key of config.toml in file order; TestSettingsCoverConfig
// checks it against node.Config's fields.
var settings = []setting{
	{key: "moniker", short: "node name in logs and the API",
		doc:        "Human-readable name of this node, shown in logs and the API.",
		defaultDoc: "the home directory's name", field: func(c *node.Config) any { return &c.Moniker }},
	{key: "key_file", short: "validator key file, plain hex",
		doc:   "The validator's secp256k1 key: 64 hex characters, mode 0600 (plain hex so that the node starts unattended). Relative to the home.",
		field: func(c *node.Config) any { return &c.KeyFile }},
	{key: "genesis_file", short: "the chain's genesis JSON",
		doc:   "The chain's genesis JSON. Relative to the home.",
		field: func(c *node.Config) any { return &c.GenesisFile }},
	{key: "data_dir", short: "store directory",
		doc:   "Directory of the node's store (Badger). Relative to the home.",
		field: func(c *node.Config) any { return &c.DataDir }},
	{key: "memory_limit_mib", short: "soft Go memory limit in MiB (0: leave the runtime's)",
		doc:   "Soft limit on the Go runtime's memory in MiB, set once the node has started (runtime/debug.SetMemoryLimit); 0 leaves the runtime's setting alone. A GOMEMLIMIT environment variable takes precedence.",
		field: func(c *node.Config) any { return &c.MemoryLimitMiB }},

	{key: "p2p.listen", short: "libp2p listen multiaddrs",
		doc:   "libp2p listen multiaddrs (at least one).",
		field: func(c *node.Config) any { return &c.P2P.Listen }},
	{key: "p2p.peers", short: "static peers (multiaddrs ending in /p2p/ID)",
		doc:   "Static peers, /ip4/HOST/tcp/PORT/p2p/PEER_ID, dialled and kept connected; the genesis's p2p addresses are dialled too.",
		field: func(c *node.Config) any { return &c.P2P.Peers }},
	{key: "p2p.psk_file", short: "private-network key file (TCP only; empty: none)",
		doc:   "File with a 32-byte pre-shared key in hex; when set the network is private (TCP only). Empty: no PSK. Relative to the home.",
		field: func(c *node.Config) any { return &c.P2P.PSKFile }},
	{key: "p2p.observers", short: "peer IDs allowed besides the validators",
		doc:   "Peer IDs allowed to connect besides the genesis validators.",
		field: func(c *node.Config) any { return &c.P2P.Observers }},

	{key: "api.listen", short: "HTTP API and explorer host:port (empty: off)",
		doc:   "host:port of the HTTP API and the explorer; empty disables them.",
		field: func(c *node.Config) any { return &c.API.Listen }},
	{key: "metrics.listen", short: "Prometheus /metrics host:port (empty: off)",
		doc:   "host:port of the Prometheus /metrics endpoint (and /debug/pprof); empty disables it.",
		field: func(c *node.Config) any { return &c.Metrics.Listen }},

	{key: "mempool.max_txs", short: "most transactions waiting to be batched",
		doc:   "Most transactions waiting to be batched; beyond it submissions get HTTP 429.",
		field: func(c *node.Config) any { return &c.Mempool.MaxTxs }},
	{key: "mempool.max_wait_ms", short: "refuse submissions once the oldest waited this long (0: auto, -1: off)",
		doc:   "Refuse new submissions (HTTP 429) while the oldest transaction this node admitted has waited longer than this for execution. 0 means auto: max(3 s, 3 epoch lengths), counted from the genesis time at the earliest; -1 turns the rule off.",
		field: func(c *node.Config) any { return &c.Mempool.MaxWaitMs }},
	{key: "mempool.max_lag_ms", short: "refuse submissions while execution lags this much (0: auto, -1: off)",
		doc:   "Refuse new submissions (HTTP 429) while entries from peers wait for verification and the next epoch's snapshot began more than this long ago without being executed. 0 means auto: 300 ms; -1 turns the rule off.",
		field: func(c *node.Config) any { return &c.Mempool.MaxLagMs }},

	{key: "protocol.batch_interval_ms", short: "cut a batch at least this often",
		doc:   "Cut a batch from the mempool at least this often, in ms [1, 1000].",
		field: func(c *node.Config) any { return &c.Protocol.BatchIntervalMs }},
	{key: "protocol.batch_max_txs", short: "cut a batch once this many transactions wait",
		doc:   "Cut a batch as soon as this many transactions wait [1, 5000].",
		field: func(c *node.Config) any { return &c.Protocol.BatchMaxTxs }},
	{key: "protocol.tick_interval_ms", short: "event loop clock period",
		doc:   "How often the event loop feeds the clock to the protocol machine, in ms [1, 100].",
		field: func(c *node.Config) any { return &c.Protocol.TickIntervalMs }},
	{key: "protocol.clock_skew_ms", short: "most a peer's marker may run ahead of this clock",
		doc:   "Most a peer's marker may run ahead of this node's clock before it is held back, in ms [0, 60000].",
		field: func(c *node.Config) any { return &c.Protocol.ClockSkewMs }},
	{key: "protocol.slow_path_timeout_ms", short: "wait for a missing marker before cutting without it",
		doc:   "How long this validator waits, from its snapshot of an epoch, for the marker of every validator present before, before it agrees with the others to cut without the missing ones, in ms [50, 600000].",
		field: func(c *node.Config) any { return &c.Protocol.SlowPathTimeoutMs }},

	{key: "log.level", short: "debug, info, warn or error",
		doc:   "Log level: debug, info, warn or error.",
		field: func(c *node.Config) any { return &c.Log.Level }},
	{key: "log.format", short: "text or json",
		doc:   "Log format: text or json.",
		field: func(c *node.Config) any { return &c.Log.Format }},
}

// envName is the environment variable that sets the key:
// LEDGERD_ and the key in upper case, dots as underscores.
func (s setting) envName() string {
	return "LEDGERD_" + strings.ToUpper(strings.ReplaceAll(s.key, ".", "_"))
}

// flagName is the flag of `run` and `config show` that sets the key: the
// key with dots and underscores as dashes.
func (s setting) flagName() string {
	return strings.NewReplacer(".", "-", "_", "-").Replace(s.key)
}

// section is the TOML table of the key, "" at the top level.
func (s setting) section() string {
	sec, _, ok := strings.Cut(s.key, ".")
	if !ok {
		return ""
	}
	return sec
}

// name is the key within its table.
func (s setting) name() string {
	_, name, ok := strings.Cut(s.key, ".")
	if !ok {
		return s.key
	}
	return name
}

// kind is "string", "int" or "list".
func (s setting) kind() string {
	switch s.field(&node.Config{}).(type) {
	case *string:
		return "string"
	case *int:
		return "int"
	case *[]string:
		return "list"
	}
	panic("setting " + s.key + ": unsupported field type")
}

// set parses v (as written in an environment variable or a flag: lists
// comma-separated) into the key's field of c.
func (s setting) set(c *node.Config, v string) error {
	switch p := s.field(c).(type) {
	case *string:
		*p = v
	case *int:
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("not an integer: %q", v)
		}
		*p = n
	case *[]string:
		*p = splitList(v)
	}
	return nil
}

// value is the key's value in c, for display and JSON.
func (s setting) value(c *node.Config) any {
	return reflect.ValueOf(s.field(c)).Elem().Interface()
}

// tomlValue renders the key's value in c as a TOML value.
func (s setting) tomlValue(c *node.Config) string {
	var buf bytes.Buffer
	v := s.value(c)
	if l, ok := v.([]string); ok && l == nil {
		v = []string{}
	}
	if err := toml.NewEncoder(&buf).Encode(map[string]any{"v": v}); err != nil {
		panic(err) // strings, ints and string lists always encode
	}
	_, val, _ := strings.Cut(strings.TrimSpace(buf.String()), " = ")
	return val
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

// Where a configuration value came from.
const (
	fromDefault = "default"
	fromFile    = "file"
	fromEnv     = "env"
	fromFlag    = "flag"
)

// loadedConfig is a node configuration and where each value came from.
type loadedConfig struct {
	node.Config
	// File is the config.toml that was read; "" when the home has none.
	File string
	// From maps each key to fromDefault, fromFile, fromEnv or fromFlag.
	From map[string]string
}

// loadConfig builds a node config for home from defaults, home/config.toml
// (if present) and the environment. Flags are applied by the caller.
func loadConfig(home string, getenv func(string) string) (node.Config, error) {
	lc, err := loadConfigFrom(home, getenv, nil)
	return lc.Config, err
}

// loadConfigFrom builds a node config for home from defaults,
// home/config.toml (if present), the LEDGERD_* environment and the
// setting flags given in flags (nil: none).
func loadConfigFrom(home string, getenv func(string) string, flags *pflag.FlagSet) (loadedConfig, error) {
	if home == "" {
		return loadedConfig{}, fmt.Errorf("%w: --home is required (or set LEDGERD_HOME)", errUsage)
	}
	abs, err := filepath.Abs(home)
	if err != nil {
		return loadedConfig{}, err
	}
	lc := loadedConfig{Config: node.DefaultConfig(abs), From: map[string]string{}}
	for _, s := range settings {
		lc.From[s.key] = fromDefault
	}
	path := filepath.Join(abs, configFileName)
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return lc, fmt.Errorf("read %s: %w", path, err)
	default:
		md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&lc.Config)
		if err != nil {
			return lc, fmt.Errorf("parse %s: %w", path, err)
		}
		if undec := md.Undecoded(); len(undec) > 0 {
			return lc, fmt.Errorf("parse %s: unknown setting %q", path, undec[0].String())
		}
		lc.File = path
		for _, s := range settings {
			if md.IsDefined(strings.Split(s.key, ".")...) {
				lc.From[s.key] = fromFile
			}
		}
	}
	lc.Home = abs
	for _, s := range settings {
		if v := getenv(s.envName()); v != "" {
			if err := s.set(&lc.Config, v); err != nil {
				return lc, fmt.Errorf("%s: %w", s.envName(), err)
			}
			lc.From[s.key] = fromEnv
		}
	}
	if flags != nil {
		for _, s := range settings {
			if f := flags.Lookup(s.flagName()); f != nil && f.Changed {
				if err := s.set(&lc.Config, f.Value.String()); err != nil {
					return lc, fmt.Errorf("%w: --%s: %v", errUsage, s.flagName(), err)
				}
				lc.From[s.key] = fromFlag
			}
		}
	}
	return lc, nil
}

// settingFlag is a setting's flag: it keeps the text given and is parsed
// with the setting, as its environment variable is.
type settingFlag struct {
	text string
	kind string
}

func (f *settingFlag) String() string     { return f.text }
func (f *settingFlag) Set(v string) error { f.text = v; return nil }
func (f *settingFlag) Type() string       { return f.kind }

// flagAliases are older names of setting flags, still accepted.
var flagAliases = map[string]string{"api": "api-listen", "metrics": "metrics-listen", "peers": "p2p-peers"}

// addSettingFlags registers one flag per setting on cmd.
func addSettingFlags(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.SortFlags = false
	for _, s := range settings {
		help := s.short
		if s.kind() == "list" {
			help += ", comma-separated"
		}
		fs.Var(&settingFlag{kind: s.kind()}, s.flagName(), s.key+": "+help)
	}
	fs.SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if to, ok := flagAliases[name]; ok {
			return pflag.NormalizedName(to)
		}
		return pflag.NormalizedName(name)
	})
}

// renderConfig is cfg as a config.toml with every key preceded by its
// documentation.
func renderConfig(cfg node.Config) []byte {
	var b bytes.Buffer
	b.WriteString("# ledgerd node configuration (docs/config.md lists every key).\n")
	b.WriteString("# Precedence, lowest to highest: built-in defaults, this file, LEDGERD_* environment\n")
	b.WriteString("# variables, flags of `ledgerd run`. `ledgerd config show --home DIR` prints the\n")
	b.WriteString("# effective configuration and where each value came from. Relative paths are\n")
	b.WriteString("# relative to the home directory.\n")
	section := ""
	for _, s := range settings {
		if sec := s.section(); sec != section {
			section = sec
			fmt.Fprintf(&b, "\n[%s]\n", sec)
		}
		b.WriteString("\n")
		for _, line := range wrap(s.doc, 78) {
			fmt.Fprintf(&b, "# %s\n", line)
		}
		fmt.Fprintf(&b, "# Environment: %s. Flag: --%s.\n", s.envName(), s.flagName())
		fmt.Fprintf(&b, "%s = %s\n", s.name(), s.tomlValue(&cfg))
	}
	return b.Bytes()
}

// wrap splits text into lines of at most width characters at spaces.
func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(text) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}

// writeConfig writes cfg as home/config.toml (mode 0644).
func writeConfig(cfg node.Config) error {
	return os.WriteFile(filepath.Join(cfg.Home, configFileName), renderConfig(cfg), 0o644)
}

// configEntry is one line of `config show`.
type configEntry struct {
	Key    string `json:"key"`
	Value  any    `json:"value"`
	Source string `json:"source"`
	Env    string `json:"env"`
	Flag   string `json:"flag"`
}

// configReport is what `config show --json` prints.
type configReport struct {
	Home     string        `json:"home"`
	File     string        `json:"file"`
	Settings []configEntry `json:"settings"`
	Valid    bool          `json:"valid"`
	Problems []string      `json:"problems,omitempty"`
}

func (c *cli) configCmd() *cobra.Command {
	cmd := c.group(&cobra.Command{Use: "config", Short: "Show a validator's effective configuration", GroupID: groupNode})
	cmd.AddCommand(c.configShowCmd())
	return cmd
}

func (c *cli) configShowCmd() *cobra.Command {
	var home string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show --home DIR [flags]",
		Short: "Print the effective configuration and where each value came from",
		Long: `Print the configuration a validator started with these flags and this
environment would run with: every key of config.toml with its value and its
source (default, file, env or flag). Exits 1 when the configuration is invalid.`,
		Args: noArgs,
	}
	cmd.RunE = c.action(func(ctx context.Context, args []string) error {
		lc, err := loadConfigFrom(c.home(cmd, home), c.getenv, cmd.Flags())
		if err != nil {
			return err
		}
		rep := configReport{Home: lc.Home, File: lc.File, Valid: true}
		for _, s := range settings {
			rep.Settings = append(rep.Settings, configEntry{Key: s.key, Value: s.value(&lc.Config),
				Source: lc.From[s.key], Env: s.envName(), Flag: "--" + s.flagName()})
		}
		verr := lc.Validate()
		if verr != nil {
			rep.Valid = false
			rep.Problems = strings.Split(verr.Error(), "\n")
		}
		if asJSON {
			if err := printJSON(c.stdout, rep); err != nil {
				return err
			}
		} else {
			printConfig(c.stdout, rep, lc.Config)
		}
		if verr != nil {
			return fmt.Errorf("invalid configuration: %w", verr)
		}
		return nil
	})
	c.homeFlag(cmd, &home, "validator home `DIR` (reads DIR/config.toml)")
	c.jsonFlag(cmd, &asJSON)
	addSettingFlags(cmd)
	cmd.Annotations = envAnnotation(envHome, envSettings)
	return cmd
}

func printConfig(w io.Writer, rep configReport, cfg node.Config) {
	file := rep.File
	if file == "" {
		file = "none"
	}
	fmt.Fprintf(w, "# home %s, config file %s\n", rep.Home, file)
	width := 0
	for _, s := range settings {
		width = max(width, len(s.key))
	}
	for i, s := range settings {
		src := rep.Settings[i].Source
		switch src {
		case fromEnv:
			src += " " + s.envName()
		case fromFlag:
			src += " --" + s.flagName()
		}
		fmt.Fprintf(w, "%-*s = %-40s # %s\n", width, s.key, s.tomlValue(&cfg), src)
	}
}
