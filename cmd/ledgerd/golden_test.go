package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ledgerd/ledgerd/node/api"
)

// update rewrites the golden files under testdata/ instead of comparing:
// go test ./cmd/ledgerd -run 'TestHelpGolden|TestJSONGolden' -update
var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// testCLI runs one command line in-process with env as the whole
// environment and returns the exit code, stdout and stderr.
func testCLI(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	c := &cli{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(k string) string { return env[k] }}
	code := c.execute(context.Background(), args)
	return code, out.String(), errb.String()
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the output (go test ./cmd/ledgerd -run %s -update rewrites it):\n--- got\n%s\n--- want\n%s",
			path, t.Name(), got, want)
	}
}

// allCommands is every command of the tree, root first.
func allCommands() []*cobra.Command {
	root := (&cli{getenv: func(string) string { return "" }}).rootCmd()
	var out []*cobra.Command
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		out = append(out, c)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return out
}

// pathArgs is a command's path without the root, as arguments.
func pathArgs(c *cobra.Command) []string {
	return strings.Fields(strings.TrimPrefix(c.CommandPath(), "ledgerd"))
}

// TestHelpGolden: `ledgerd CMD --help` of every command prints the golden
// text on stdout, nothing on stderr, and exits 0; `ledgerd help CMD`
// prints the same.
func TestHelpGolden(t *testing.T) {
	for _, cmd := range allCommands() {
		path := pathArgs(cmd)
		name := strings.Join(append([]string{"ledgerd"}, path...), "_")
		t.Run(name, func(t *testing.T) {
			code, out, stderr := testCLI(t, nil, append(path, "--help")...)
			if code != 0 || stderr != "" {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			golden(t, filepath.Join("help", name+".txt"), out)
			if len(path) > 0 && path[0] != "help" {
				if _, out2, _ := testCLI(t, nil, append([]string{"help"}, path...)...); out2 != out {
					t.Errorf("ledgerd help %s differs from --help:\n%s", strings.Join(path, " "), out2)
				}
			}
		})
	}
}

// TestHelpListsEnvironment: `run --help` and `config show --help` name
// every LEDGERD_* variable of the configuration and LEDGERD_HOME; the
// client commands name LEDGERD_NODE.
func TestHelpListsEnvironment(t *testing.T) {
	for _, args := range [][]string{{"run"}, {"config", "show"}} {
		_, out, _ := testCLI(t, nil, append(args, "--help")...)
		_, env, ok := strings.Cut(out, "\nEnvironment:\n")
		if !ok {
			t.Fatalf("%v --help has no Environment section", args)
		}
		for _, s := range settings {
			if !strings.Contains(env, s.envName()+" ") {
				t.Errorf("%v --help does not list %s", args, s.envName())
			}
		}
		if !strings.Contains(env, "LEDGERD_HOME") {
			t.Errorf("%v --help does not list LEDGERD_HOME", args)
		}
	}
	for _, args := range [][]string{{"tx", "send"}, {"tx", "status"}, {"checkpoint", "get"}, {"checkpoint", "list"},
		{"checkpoint", "verify"}, {"account"}, {"snapshot"}, {"healthcheck"}, {"state", "export"}} {
		if _, out, _ := testCLI(t, nil, append(args, "--help")...); !strings.Contains(out, "\nEnvironment:\n  LEDGERD_NODE") {
			t.Errorf("%v --help does not list LEDGERD_NODE", args)
		}
	}
}

// invocation is a sample command line of one command: its positional
// arguments and its flags (name and value; "" for a boolean).
type invocation struct {
	args  []string
	flags [][2]string
}

// samples has one invocation per command with an action; every flag
// taking a value is given one.
var samples = map[string]invocation{
	"init":              {nil, [][2]string{{"home", "h"}, {"genesis", "g.json"}, {"key", "k"}, {"moniker", "m"}, {"json", ""}}},
	"run":               {nil, [][2]string{{"home", "h"}, {"api-listen", "127.0.0.1:1"}, {"p2p-peers", "a,b"}, {"log-level", "debug"}}},
	"keys new":          {nil, [][2]string{{"out", "k"}, {"encrypt", ""}, {"password-file", "p"}, {"light-kdf", ""}, {"json", ""}}},
	"keys show":         {nil, [][2]string{{"key", "k"}, {"password-file", "p"}, {"json", ""}}},
	"keys import":       {nil, [][2]string{{"key", "k"}, {"out", "o"}, {"password-file", "p"}, {"json", ""}}},
	"keys export":       {nil, [][2]string{{"key", "k"}, {"out", "o"}, {"password-file", "p"}, {"json", ""}}},
	"config show":       {nil, [][2]string{{"home", "h"}, {"mempool-max-wait-ms", "-1"}, {"json", ""}}},
	"state export":      {nil, [][2]string{{"node", "http://n"}, {"epoch", "latest"}, {"out", "o"}, {"json", ""}}},
	"state import":      {[]string{"state.bin"}, [][2]string{{"home", "h"}, {"json", ""}}},
	"devnet":            {nil, [][2]string{{"validators", "3"}, {"dir", "d"}, {"epoch", "2s"}, {"json", ""}}},
	"testnet":           {nil, [][2]string{{"validators", "3"}, {"out", "o"}, {"docker", ""}, {"json", ""}}},
	"bench":             {nil, [][2]string{{"devnet", "d"}, {"accounts", "5"}, {"rate", "10"}, {"json", ""}}},
	"tx send":           {nil, [][2]string{{"node", "http://n"}, {"key", "k"}, {"to", "0x01"}, {"amount", "3"}, {"wait", ""}, {"json", ""}}},
	"tx status":         {[]string{"0xab"}, [][2]string{{"node", "http://n"}, {"json", ""}}},
	"checkpoint get":    {[]string{"latest"}, [][2]string{{"node", "http://n"}, {"json", ""}}},
	"checkpoint list":   {nil, [][2]string{{"node", "http://n"}, {"limit", "5"}, {"cursor", "c"}, {"json", ""}}},
	"checkpoint verify": {nil, [][2]string{{"node", "http://n"}, {"genesis", "g.json"}, {"json", ""}}},
	"account":           {[]string{"0x01"}, [][2]string{{"node", "http://n"}, {"proof", ""}, {"genesis", "g.json"}, {"json", ""}}},
	"snapshot":          {[]string{"5"}, [][2]string{{"node", "http://n"}, {"json", ""}}},
	"healthcheck":       {nil, [][2]string{{"node", "http://n"}, {"json", ""}}},
	"version":           {nil, [][2]string{{"json", ""}}},
	"snapshot-sim":      {nil, [][2]string{{"top", "a.top"}, {"events", "a.events"}, {"seed", "3"}}},
}

// TestFlagPlacement: every command parses its flags the same whether they
// come before the positional arguments, after them, or around them. The
// commands' actions are replaced by a recorder of what they received.
func TestFlagPlacement(t *testing.T) {
	seen := map[string]bool{}
	for _, cmd := range allCommands() {
		name := strings.Join(pathArgs(cmd), " ")
		if !cmd.Runnable() || cmd.HasSubCommands() || name == "help" || strings.HasPrefix(name, "completion") {
			continue
		}
		seen[name] = true
		inv, ok := samples[name]
		if !ok {
			t.Errorf("command %q has no sample invocation in TestFlagPlacement", name)
			continue
		}
		var flags []string
		for _, f := range inv.flags {
			if f[1] == "" {
				flags = append(flags, "--"+f[0])
			} else {
				flags = append(flags, "--"+f[0], f[1])
			}
		}
		path := pathArgs(cmd)
		orders := map[string][]string{
			"flags first":  slices.Concat(path, flags, inv.args),
			"flags last":   slices.Concat(path, inv.args, flags),
			"flags around": slices.Concat(path, flags[:1], inv.args, flags[1:]),
		}
		if len(flags) > 1 && !strings.HasPrefix(flags[1], "--") { // keep a flag's value with its flag
			orders["flags around"] = slices.Concat(path, flags[:2], inv.args, flags[2:])
		}
		var first string
		for _, order := range slices.Sorted(maps.Keys(orders)) {
			args := orders[order]
			var got string
			var out, errb bytes.Buffer
			c := &cli{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(string) string { return "" },
				intercept: func(cmd *cobra.Command, args []string) error {
					var b strings.Builder
					cmd.Flags().Visit(func(f *pflag.Flag) { fmt.Fprintf(&b, "--%s=%s ", f.Name, f.Value) })
					got = fmt.Sprintf("%s args=%q", b.String(), args)
					return nil
				}}
			if code := c.execute(context.Background(), args); code != 0 {
				t.Errorf("%s, %s: ledgerd %s: exit %d: %s", name, order, strings.Join(args, " "), code, errb.String())
				continue
			}
			for _, f := range inv.flags {
				if !strings.Contains(got, "--"+f[0]+"=") {
					t.Errorf("%s, %s: flag --%s not seen: %s", name, order, f[0], got)
				}
			}
			if first == "" {
				first = got
			} else if got != first {
				t.Errorf("%s: %s parsed as\n%s\nbut the first order as\n%s", name, order, got, first)
			}
		}
	}
	for name := range samples {
		if !seen[name] {
			t.Errorf("sample %q names no command", name)
		}
	}
}

// fakeNode serves canned API answers for the client commands' JSON tests.
func fakeNode(t *testing.T) *httptest.Server {
	h := func(n byte) common.Hash { return common.BytesToHash(bytes.Repeat([]byte{n}, 32)) }
	cpHash := h(0xc1)
	cp := api.Checkpoint{Hash: cpHash, Epoch: 7, PrevHash: h(0xc0), StateRoot: h(0x5a), TxRoot: h(0x7a), ReceiptsRoot: h(0x8a),
		Cut: []uint64{3, 4}, Absent: []uint32{1}, TxCount: 2, TimeMs: 1_800_000_000_000, ValidatorSetHash: h(0x77),
		Votes: []api.Vote{{ValidatorIndex: 0, Signature: hexutil.Bytes(bytes.Repeat([]byte{1}, 65))}}, Final: true,
		Header: hexutil.Bytes{0x01, 0x02}}
	txHash := h(0xaa)
	routes := map[string]any{
		"GET /healthz":                        api.Health{Status: "ok", Epoch: 8, Sync: api.SyncSynced},
		"GET /v1/status":                      api.Status{ChainID: "fake-chain", Epoch: 8},
		"GET /v1/checkpoints/latest":          cp,
		"GET /v1/checkpoints/epoch/7":         cp,
		"GET /v1/checkpoints/" + cpHash.Hex(): cp,
		"GET /v1/checkpoints":                 api.CheckpointPage{Checkpoints: []api.Checkpoint{cp}, NextCursor: "next"},
		"GET /v1/txs/" + txHash.Hex(): api.TxStatus{Hash: txHash, Status: api.TxFinal, Epoch: 7, CheckpointHash: &cpHash,
			Receipt: &api.Receipt{Status: api.ReceiptOK, Sender: common.Address{9}, Index: 1}},
		"POST /v1/txs": api.TxSubmitted{Hash: txHash},
		"GET /v1/accounts/0x0000000000000000000000000000000000000009": api.Account{Address: common.HexToAddress("0x09"), Balance: 1000,
			Nonce: 2, Epoch: 7, StateRoot: h(0x5a)},
		"GET /v1/snapshots/7": api.Snapshot{Epoch: 7, Cut: []uint64{3, 4}, Nodes: []api.SnapshotNode{{Validator: common.Address{1},
			Recorded: []uint64{3, 4}, TimeMs: 1_800_000_000_000, Channels: []api.Channel{{From: 1, Count: 1, FirstSeq: 4, LastSeq: 4, TxCount: 2}}}}},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, ok := routes[r.Method+" "+r.URL.Path]
		if !ok {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_ = json.NewEncoder(w).Encode(api.ErrorBody{Error: api.Error{Code: "not_found", Message: r.URL.Path}})
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestJSONGolden: with --json every command that reads or reports prints
// exactly one JSON document on stdout (golden where the output is fixed)
// and nothing else, in either flag order; the client commands find the
// node through LEDGERD_NODE.
func TestJSONGolden(t *testing.T) {
	srv := fakeNode(t)
	env := map[string]string{envNode: srv.URL}
	dir := t.TempDir()
	key := filepath.Join(dir, "sender.key")
	// A fixed sender key; with an explicit nonce tx send signs the same bytes every run.
	if err := os.WriteFile(key, []byte("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	txHash := common.BytesToHash(bytes.Repeat([]byte{0xaa}, 32)).Hex()
	cases := []struct {
		name string
		path []string // the command
		args []string // its arguments and flags
	}{
		{"healthcheck", []string{"healthcheck"}, nil},
		{"tx_status", []string{"tx", "status"}, []string{txHash}},
		{"tx_send", []string{"tx", "send"}, []string{"--key", key, "--to", "0x00000000000000000000000000000000000000bb", "--amount", "5", "--nonce", "2", "--wait"}},
		{"checkpoint_get_latest", []string{"checkpoint", "get"}, []string{"latest"}},
		{"checkpoint_get_epoch", []string{"checkpoint", "get"}, []string{"7"}},
		{"checkpoint_list", []string{"checkpoint", "list"}, []string{"--limit", "1"}},
		{"account", []string{"account"}, []string{"0x0000000000000000000000000000000000000009"}},
		{"snapshot", []string{"snapshot"}, []string{"7"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var outs []string
			for _, args := range [][]string{slices.Concat(tc.path, []string{"--json"}, tc.args), slices.Concat(tc.path, tc.args, []string{"--json"})} {
				code, out, stderr := testCLI(t, env, args...)
				if code != 0 || stderr != "" {
					t.Fatalf("ledgerd %s: exit %d, stderr %q", strings.Join(args, " "), code, stderr)
				}
				requireOneJSON(t, out)
				outs = append(outs, out)
			}
			if outs[0] != outs[1] {
				t.Fatalf("--json first and last differ:\n%s\n%s", outs[0], outs[1])
			}
			golden(t, filepath.Join("json", tc.name+".json"), outs[0])
		})
	}
}

// requireOneJSON fails unless out is exactly one JSON document.
func requireOneJSON(t *testing.T, out string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("stdout is not a JSON object: %v\n%s", err, out)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("stdout has more than one JSON document:\n%s", out)
	}
	return v
}

// TestJSONLocalCommands: the commands that report without a node print one
// JSON document with the expected fields and nothing else.
func TestJSONLocalCommands(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("correct horse\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	net := filepath.Join(dir, "net")
	run := func(args ...string) map[string]any {
		t.Helper()
		code, out, stderr := testCLI(t, nil, args...)
		if code != 0 || stderr != "" {
			t.Fatalf("ledgerd %s: exit %d, stderr %q", strings.Join(args, " "), code, stderr)
		}
		return requireOneJSON(t, out)
	}
	for _, c := range []struct {
		args   []string
		fields []string
	}{
		{[]string{"version", "--json"}, []string{"version", "commit", "go_version", "platform"}},
		{[]string{"keys", "new", "--out", filepath.Join(dir, "k1"), "--json"}, []string{"address", "public_key", "peer_id", "file", "format"}},
		{[]string{"keys", "new", "--encrypt", "--light-kdf", "--password-file", pw, "--out", filepath.Join(dir, "k2"), "--json"}, []string{"address", "format"}},
		{[]string{"keys", "show", "--key", filepath.Join(dir, "k2"), "--password-file", pw, "--json"}, []string{"address", "peer_id"}},
		{[]string{"testnet", "--validators", "2", "--out", net, "--json"}, []string{"dir", "genesis", "faucet_key", "validators"}},
		{[]string{"config", "show", "--home", filepath.Join(net, "v0"), "--json"}, []string{"home", "file", "settings", "valid"}},
		{[]string{"init", "--home", filepath.Join(dir, "h"), "--genesis", filepath.Join(net, "genesis.json"), "--json"}, []string{"home", "chain_id", "address", "validator"}},
	} {
		v := run(c.args...)
		for _, f := range c.fields {
			if _, ok := v[f]; !ok {
				t.Errorf("ledgerd %s: no %q in %v", strings.Join(c.args, " "), f, v)
			}
		}
	}
}

// TestEnvironmentDefaults: LEDGERD_HOME stands in for --home and
// LEDGERD_NODE for --node; the flags win over them.
func TestEnvironmentDefaults(t *testing.T) {
	srv := fakeNode(t)
	if code, out, _ := testCLI(t, map[string]string{envNode: srv.URL}, "healthcheck"); code != 0 || !strings.Contains(out, "ok: epoch 8") {
		t.Fatalf("healthcheck with LEDGERD_NODE: %d %q", code, out)
	}
	if code, _, _ := testCLI(t, map[string]string{envNode: srv.URL}, "healthcheck", "--node", "http://127.0.0.1:1"); code != 1 {
		t.Fatalf("--node did not win over LEDGERD_NODE: exit %d", code)
	}
	net := filepath.Join(t.TempDir(), "net")
	if code, _, stderr := testCLI(t, nil, "testnet", "--validators", "2", "--out", net); code != 0 {
		t.Fatal(stderr)
	}
	env := map[string]string{envHome: filepath.Join(net, "v1")}
	code, out, stderr := testCLI(t, env, "config", "show")
	if code != 0 || !regexp.MustCompile(`moniker\s+= "v1"`).MatchString(out) {
		t.Fatalf("config show with LEDGERD_HOME: %d %q %q", code, out, stderr)
	}
	if _, out, _ := testCLI(t, env, "config", "show", "--home", filepath.Join(net, "v0")); !strings.Contains(out, `"v0"`) {
		t.Fatalf("--home did not win over LEDGERD_HOME:\n%s", out)
	}
}
