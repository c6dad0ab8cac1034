package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/node"
)

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestCLIErrors checks that bad commands, flags and files give a clear
// message and a non-zero exit code (2 for usage, 1 for failures).
func TestCLIErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"chain_id": 5}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args     []string
		code     int
		contains string
	}{
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"run"}, 2, "--home is required"},
		{[]string{"run", "--home", dir, "--bogus"}, 2, "unknown flag: --bogus"},
		{[]string{"keys"}, 2, "missing subcommand"},
		{[]string{"keys", "new"}, 2, "--out is required"},
		{[]string{"keys", "show", "--key", filepath.Join(dir, "nope")}, 1, "load key"},
		{[]string{"testnet", "--validators", "0", "--out", filepath.Join(dir, "tn")}, 2, "out of range"},
		{[]string{"testnet", "--validators", "4"}, 2, "--out is required"},
		{[]string{"testnet", "--validators", "1", "--accounts", "-1", "--out", filepath.Join(dir, "tn2")}, 2, "--accounts -1 out of range"},
		{[]string{"bench", "--nodes", "http://127.0.0.1:1", "--recipients", "-3"}, 2, "--recipients -3 out of range"},
		{[]string{"init", "--home", filepath.Join(dir, "h"), "--genesis", bad}, 1, "genesis"},
		{[]string{"checkpoint", "get", "--node", "http://127.0.0.1:1", "x1"}, 2, "not a hash, an epoch or latest"},
		{[]string{"checkpoint", "verify", "--node", "http://127.0.0.1:1"}, 2, "--genesis is required"},
		{[]string{"account", "--node", "http://127.0.0.1:1", "0x12"}, 2, "address"},
		{[]string{"tx", "send", "--key", "k"}, 2, "--key and --to are required"},
		{[]string{"snapshot-sim", "--top", "x"}, 2, "--top and --events are required"},
		{[]string{"snapshot-sim", "--top", filepath.Join(dir, "none.top"), "--events", filepath.Join(dir, "none.events")}, 1, "none.top"},
		{[]string{"healthcheck", "--node", "http://127.0.0.1:1"}, 1, ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, stderr := runCLI(t, tt.args...)
			if code != tt.code {
				t.Fatalf("exit code %d, want %d; stderr: %s", code, tt.code, stderr)
			}
			if !strings.Contains(stderr, tt.contains) {
				t.Fatalf("stderr %q does not mention %q", stderr, tt.contains)
			}
		})
	}
}

// TestTestnetAndConfigPrecedence generates a network, checks its files and
// key modes, and shows defaults < config.toml < LEDGERD_* < flags.
func TestTestnetAndConfigPrecedence(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "net")
	code, out, stderr := runCLI(t, "testnet", "--validators", "3", "--out", dir, "--epoch", "2s")
	if code != 0 {
		t.Fatalf("testnet: %d %s", code, stderr)
	}
	if !strings.Contains(out, "wrote 3 validator homes") {
		t.Fatalf("output: %s", out)
	}
	g, err := node.LoadGenesis(filepath.Join(dir, "genesis.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Validators) != 3 || g.EpochLengthMs != 2000 || g.TotalSupply() == 0 {
		t.Fatalf("genesis: %d validators, epoch %d ms, supply %d", len(g.Validators), g.EpochLengthMs, g.TotalSupply())
	}
	for _, f := range []string{"faucet_key", "v0/node_key", "v2/node_key"} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Fatalf("%s has mode %o, want 600", f, st.Mode().Perm())
		}
	}
	// A second run into the same directory refuses.
	if code, _, stderr := runCLI(t, "testnet", "--validators", "3", "--out", dir); code == 0 || !strings.Contains(stderr, "not empty") {
		t.Fatalf("second testnet into %s: code %d, %s", dir, code, stderr)
	}
	home := filepath.Join(dir, "v1")
	cfg, err := loadConfig(home, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Moniker != "v1" || len(cfg.P2P.Peers) != 2 {
		t.Fatalf("file config: moniker %q peers %v", cfg.Moniker, cfg.P2P.Peers)
	}
	env := map[string]string{"LEDGERD_API_LISTEN": "127.0.0.1:1234", "LEDGERD_LOG_LEVEL": "debug"}
	cfg, err = loadConfig(home, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.API.Listen != "127.0.0.1:1234" || cfg.Log.Level != "debug" {
		t.Fatalf("env did not override: %+v", cfg.API)
	}
	env["LEDGERD_MEMPOOL_MAX_TXS"] = "many"
	if _, err := loadConfig(home, func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "LEDGERD_MEMPOOL_MAX_TXS") {
		t.Fatalf("bad env value accepted: %v", err)
	}
	// An unknown key in config.toml is refused with its name.
	if err := os.WriteFile(filepath.Join(home, "config.toml"), []byte("mooniker = \"x\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadConfig(home, func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "mooniker") {
		t.Fatalf("unknown setting accepted: %v", err)
	}
}

// TestSnapshotSimMatchesSuite runs the snapshot-sim command on a conformance
// case and compares with the expected .snap file byte for byte after
// normalizing blank lines.
func TestSnapshotSimMatchesSuite(t *testing.T) {
	data := filepath.Join("..", "..", "..", "shared", "conformance", "chandy-lamport", "data")
	if _, err := os.Stat(data); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("conformance data missing at %s (required when CI=true)", data)
		}
		t.Skipf("conformance data not found at %s; skipping", data)
	}
	code, out, stderr := runCLI(t, "snapshot-sim", "--top", filepath.Join(data, "2nodes.top"),
		"--events", filepath.Join(data, "2nodes-message.events"))
	if code != 0 {
		t.Fatalf("snapshot-sim: %d %s", code, stderr)
	}
	want, err := os.ReadFile(filepath.Join(data, "2nodes-message.snap"))
	if err != nil {
		t.Fatal(err)
	}
	norm := func(s string) string {
		var lines []string
		for _, l := range strings.Split(s, "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				lines = append(lines, strings.Join(strings.Fields(l), " "))
			}
		}
		return strings.Join(lines, "\n")
	}
	if norm(out) != norm(string(want)) {
		t.Fatalf("snapshot-sim output:\n%s\nwant:\n%s", out, want)
	}
}

// TestTestnetExtraAccounts: --accounts N adds N genesis accounts at the
// derived addresses bench --recipients sends to, each with balance 1.
func TestTestnetExtraAccounts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "net")
	if code, _, stderr := runCLI(t, "testnet", "--validators", "1", "--accounts", "5", "--out", dir); code != 0 {
		t.Fatalf("testnet: %s", stderr)
	}
	g, err := node.LoadGenesis(filepath.Join(dir, "genesis.json"))
	if err != nil {
		t.Fatal(err)
	}
	balances := map[ledger.Address]uint64{}
	for _, a := range g.Alloc {
		balances[a.Address] = a.Balance
	}
	if len(g.Alloc) != 6 {
		t.Fatalf("%d allocations, want the faucet and 5 extra accounts", len(g.Alloc))
	}
	for i := range 5 {
		if b, ok := balances[extraAccount(i)]; !ok || b != 1 {
			t.Fatalf("extra account %d (%s): balance %d, present %v", i, extraAccount(i).Hex(), b, ok)
		}
	}
	if extraAccount(0) == extraAccount(1) {
		t.Fatal("extra accounts collide")
	}
}
