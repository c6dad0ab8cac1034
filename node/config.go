package node

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"
)

// Config is everything a node needs to run. cmd/ledgerd builds it from
// defaults, the home's config.toml, LEDGERD_* environment variables and flags
// (in that order of increasing precedence); node never reads flags or env.
// Every field with a toml tag is a key of config.toml: cmd/ledgerd/config.go
// gives each one its environment variable, flag and documentation, and
// docs/config.md lists them (a test fails when a key has none).
type Config struct {
	// Home is the node's directory; relative paths below are resolved in it.
	Home string `toml:"-"`
	// Moniker is a human name for logs and the API.
	Moniker string `toml:"moniker"`
	// KeyFile holds the validator's secp256k1 key (64 hex chars, mode 0600):
	// plain hex, not an encrypted keystore, so that the node starts
	// unattended.
	KeyFile string `toml:"key_file"`
	// GenesisFile is the chain's genesis JSON.
	GenesisFile string `toml:"genesis_file"`
	// DataDir is the Badger directory.
	DataDir string `toml:"data_dir"`
	// MemoryLimitMiB is a soft limit on the Go runtime's memory (see
	// runtime/debug.SetMemoryLimit) that Run sets for the whole process
	// once start-up (genesis, state sync) is done; 0 leaves the runtime's
	// setting alone. The garbage collector then runs more often near the
	// limit and returns freed memory to the system sooner. Default 112: the
	// heap grows to the limit whatever the live heap, so the limit sets a
	// loaded validator's peak RSS (docs/bench-store.md has the measured
	// effect).
	MemoryLimitMiB int `toml:"memory_limit_mib"`

	P2P      P2PConfig      `toml:"p2p"`
	API      APIConfig      `toml:"api"`
	Metrics  MetricsConfig  `toml:"metrics"`
	Mempool  MempoolConfig  `toml:"mempool"`
	Protocol ProtocolConfig `toml:"protocol"`
	Log      LogConfig      `toml:"log"`
}

// P2PConfig configures the libp2p host.
type P2PConfig struct {
	// Listen is the list of multiaddrs to listen on.
	Listen []string `toml:"listen"`
	// Peers are static peers (/ip4/.../tcp/.../p2p/ID) kept connected.
	Peers []string `toml:"peers"`
	// PSKFile, when set, makes the network private (TCP only).
	PSKFile string `toml:"psk_file"`
	// Observers are peer IDs allowed to connect besides the validators.
	Observers []string `toml:"observers"`
}

// APIConfig configures the HTTP API.
type APIConfig struct {
	// Listen is host:port; 127.0.0.1 by default. Empty disables the API.
	Listen string `toml:"listen"`
}

// MetricsConfig configures the Prometheus endpoint.
type MetricsConfig struct {
	// Listen is host:port for /metrics; empty disables it.
	Listen string `toml:"listen"`
}

// MempoolConfig bounds the mempool.
type MempoolConfig struct {
	// MaxTxs is the most transactions waiting to be batched; beyond it
	// submissions get 429.
	MaxTxs int `toml:"max_txs"`
	// MaxWaitMs refuses new submissions (429) while the oldest transaction
	// this node admitted has waited longer than this for execution, so an
	// overloaded network answers clients instead of queueing minutes of
	// work. 0 means max(3 s, 3 epoch lengths), counted from the genesis time at the
	// earliest; -1 turns it off.
	MaxWaitMs int `toml:"max_wait_ms"`
	// MaxLagMs refuses new submissions (429) while entries from peers wait
	// for verification and the next epoch's snapshot began more than this
	// long ago without being executed: the node cannot keep up, and
	// admitting more would only lengthen every transaction's way to
	// finality. It bounds boundary-to-final latency under overload, where
	// MaxWaitMs bounds how long this node's own transactions queue (and
	// alone governs a stalled, idle network). 0 means 300 ms; -1 turns it
	// off.
	MaxLagMs int `toml:"max_lag_ms"`
}

// MaxLag resolves MaxLagMs; 0 is off.
func (c MempoolConfig) MaxLag() time.Duration {
	switch {
	case c.MaxLagMs < 0:
		return 0
	case c.MaxLagMs > 0:
		return time.Duration(c.MaxLagMs) * time.Millisecond
	}
	return 300 * time.Millisecond
}

// MaxWait resolves MaxWaitMs for epochs of epochMs milliseconds; 0 is off.
func (c MempoolConfig) MaxWait(epochMs uint64) time.Duration {
	switch {
	case c.MaxWaitMs < 0:
		return 0
	case c.MaxWaitMs > 0:
		return time.Duration(c.MaxWaitMs) * time.Millisecond
	}
	return max(3*time.Second, 3*time.Duration(epochMs)*time.Millisecond)
}

// ProtocolConfig holds timing knobs of the stream and epoch protocol.
type ProtocolConfig struct {
	// BatchIntervalMs cuts a batch from the mempool at least this often.
	BatchIntervalMs int `toml:"batch_interval_ms"`
	// BatchMaxTxs cuts a batch as soon as this many transactions wait.
	BatchMaxTxs int `toml:"batch_max_txs"`
	// TickIntervalMs is how often the event loop feeds the clock to the machine.
	TickIntervalMs int `toml:"tick_interval_ms"`
	// ClockSkewMs is the most a peer's marker may run ahead of our clock
	// before it is held back (the clock guard, docs/protocol.md).
	ClockSkewMs int `toml:"clock_skew_ms"`
	// SlowPathTimeoutMs is how long this validator waits, from its snapshot
	// of an epoch, for the marker of every validator present in the
	// previous epoch before it agrees with the others to cut without the
	// missing ones (docs/protocol.md, "Validators that stop").
	SlowPathTimeoutMs int `toml:"slow_path_timeout_ms"`
}

// LogConfig selects the log format and level.
type LogConfig struct {
	// Level is debug, info, warn or error.
	Level string `toml:"level"`
	// Format is text or json.
	Format string `toml:"format"`
}

// DefaultConfig returns the defaults for a node living in home.
func DefaultConfig(home string) Config {
	return Config{
		Home:           home,
		Moniker:        filepath.Base(home),
		KeyFile:        "node_key",
		GenesisFile:    "genesis.json",
		DataDir:        "data",
		MemoryLimitMiB: 112,
		P2P:            P2PConfig{Listen: []string{"/ip4/127.0.0.1/tcp/26600"}},
		API:            APIConfig{Listen: "127.0.0.1:8600"},
		Metrics:        MetricsConfig{Listen: "127.0.0.1:9600"},
		Mempool:        MempoolConfig{MaxTxs: 20_000},
		Protocol: ProtocolConfig{
			BatchIntervalMs:   5,
			BatchMaxTxs:       2000,
			TickIntervalMs:    5,
			ClockSkewMs:       500,
			SlowPathTimeoutMs: 1000,
		},
		Log: LogConfig{Level: "info", Format: "text"},
	}
}

// Path resolves p relative to the home directory.
func (c Config) Path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.Home, p)
}

// TickInterval is the event loop's clock period.
func (c Config) TickInterval() time.Duration {
	return time.Duration(c.Protocol.TickIntervalMs) * time.Millisecond
}

// Validate checks every field and cross-field relation; errors name the field.
func (c Config) Validate() error {
	var errs []error
	if c.Home == "" {
		errs = append(errs, errors.New("home: must be set"))
	}
	if c.KeyFile == "" {
		errs = append(errs, errors.New("key_file: must be set"))
	}
	if c.GenesisFile == "" {
		errs = append(errs, errors.New("genesis_file: must be set"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir: must be set"))
	}
	if len(c.P2P.Listen) == 0 {
		errs = append(errs, errors.New("p2p.listen: at least one address is required"))
	}
	if c.MemoryLimitMiB < 0 || c.MemoryLimitMiB > 1<<20 {
		errs = append(errs, fmt.Errorf("memory_limit_mib: %d out of range [0, 1048576]", c.MemoryLimitMiB))
	}
	if c.Mempool.MaxWaitMs < -1 || c.Mempool.MaxWaitMs > 3_600_000 {
		errs = append(errs, fmt.Errorf("mempool.max_wait_ms: %d out of range [-1, 3600000]", c.Mempool.MaxWaitMs))
	}
	if c.Mempool.MaxLagMs < -1 || c.Mempool.MaxLagMs > 3_600_000 {
		errs = append(errs, fmt.Errorf("mempool.max_lag_ms: %d out of range [-1, 3600000]", c.Mempool.MaxLagMs))
	}
	if c.Mempool.MaxTxs <= 0 || c.Mempool.MaxTxs > 10_000_000 {
		errs = append(errs, fmt.Errorf("mempool.max_txs: %d out of range [1, 10000000]", c.Mempool.MaxTxs))
	}
	p := c.Protocol
	if p.BatchIntervalMs < 1 || p.BatchIntervalMs > 1000 {
		errs = append(errs, fmt.Errorf("protocol.batch_interval_ms: %d out of range [1, 1000]", p.BatchIntervalMs))
	}
	if p.BatchMaxTxs < 1 || p.BatchMaxTxs > 5000 {
		errs = append(errs, fmt.Errorf("protocol.batch_max_txs: %d out of range [1, 5000]", p.BatchMaxTxs))
	}
	if p.TickIntervalMs < 1 || p.TickIntervalMs > 100 {
		errs = append(errs, fmt.Errorf("protocol.tick_interval_ms: %d out of range [1, 100]", p.TickIntervalMs))
	}
	if p.ClockSkewMs < 0 || p.ClockSkewMs > 60_000 {
		errs = append(errs, fmt.Errorf("protocol.clock_skew_ms: %d out of range [0, 60000]", p.ClockSkewMs))
	}
	if p.SlowPathTimeoutMs < 50 || p.SlowPathTimeoutMs > 600_000 {
		errs = append(errs, fmt.Errorf("protocol.slow_path_timeout_ms: %d out of range [50, 600000]", p.SlowPathTimeoutMs))
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level: %q is not one of debug, info, warn, error", c.Log.Level))
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("log.format: %q is not text or json", c.Log.Format))
	}
	return errors.Join(errs...)
}
