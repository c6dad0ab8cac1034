package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/ledgerd/ledgerd/node"
)

// tomlKeys lists the TOML keys of the fields of t (a struct type),
// tables as "section.key", with each field's type.
func tomlKeys(t reflect.Type, prefix string) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for f := range t.Fields() {
		tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if tag == "-" || !f.IsExported() {
			continue
		}
		if tag == "" {
			tag = f.Name
		}
		if f.Type.Kind() == reflect.Struct {
			for k, v := range tomlKeys(f.Type, prefix+tag+".") {
				out[k] = v
			}
			continue
		}
		out[prefix+tag] = f.Type
	}
	return out
}

// TestSettingsCoverConfig: every field of node.Config that config.toml can
// set has exactly one setting, pointing at that field; a field added to
// node.Config without a setting (and so without an environment variable,
// a flag, a comment in config.toml and a row in docs/config.md) fails here.
func TestSettingsCoverConfig(t *testing.T) {
	fields := tomlKeys(reflect.TypeFor[node.Config](), "")
	seen := map[string]bool{}
	for _, s := range settings {
		if seen[s.key] {
			t.Errorf("setting %s listed twice", s.key)
		}
		seen[s.key] = true
		typ, ok := fields[s.key]
		if !ok {
			t.Errorf("setting %s is not a key of node.Config", s.key)
			continue
		}
		if got := reflect.TypeOf(s.field(&node.Config{})).Elem(); got != typ {
			t.Errorf("setting %s points at a %s, the key is a %s", s.key, got, typ)
		}
		// The pointer must be the field of that key: set it and find the
		// value under the key in the TOML encoding.
		var c node.Config
		if err := s.set(&c, map[string]string{"string": "x", "int": "7", "list": "a,b"}[s.kind()]); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := toml.NewEncoder(&buf).Encode(c); err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if _, err := toml.Decode(buf.String(), &m); err != nil {
			t.Fatal(err)
		}
		if sec := s.section(); sec != "" {
			m, _ = m[sec].(map[string]any)
		}
		if got := fmt.Sprint(m[s.name()]); got != map[string]string{"string": "x", "int": "7", "list": "[a b]"}[s.kind()] {
			t.Errorf("setting %s writes another key: the key holds %s", s.key, got)
		}
		if s.short == "" || s.doc == "" {
			t.Errorf("setting %s is not documented", s.key)
		}
	}
	for k := range fields {
		if !seen[k] {
			t.Errorf("node.Config key %s has no setting in cmd/ledgerd/config.go", k)
		}
	}
}

// TestGeneratedConfig: a generated config.toml parses back to the values
// it was written from, sets every key, and has a comment above every key.
func TestGeneratedConfig(t *testing.T) {
	home := t.TempDir()
	cfg := node.DefaultConfig(home)
	cfg.Moniker, cfg.P2P.Peers, cfg.Mempool.MaxWaitMs = "n1", []string{"/ip4/127.0.0.1/tcp/1/p2p/x"}, -1
	if err := writeConfig(cfg); err != nil {
		t.Fatal(err)
	}
	lc, err := loadConfigFrom(home, func(string) string { return "" }, nil)
	if err != nil {
		t.Fatal(err)
	}
	// An empty list is written as [] and reads back empty, not nil.
	for _, l := range []*[]string{&cfg.P2P.Listen, &cfg.P2P.Peers, &cfg.P2P.Observers} {
		if *l == nil {
			*l = []string{}
		}
	}
	if !reflect.DeepEqual(lc.Config, cfg) {
		t.Fatalf("read back %+v, wrote %+v", lc.Config, cfg)
	}
	for _, s := range settings {
		if lc.From[s.key] != fromFile {
			t.Errorf("%s: source %s, want file", s.key, lc.From[s.key])
		}
	}
	data, err := os.ReadFile(filepath.Join(home, configFileName))
	if err != nil {
		t.Fatal(err)
	}
	var prev string
	keys := 0
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, " = ") && !strings.HasPrefix(line, "#") {
			keys++
			if !strings.HasPrefix(prev, "# ") {
				t.Errorf("config.toml: %q has no comment above it", line)
			}
		}
		prev = line
	}
	if keys != len(settings) {
		t.Errorf("config.toml sets %d keys, want %d", keys, len(settings))
	}
	if !strings.Contains(string(data), "0 means auto") {
		t.Error("config.toml does not say what 0 means for max_wait_ms")
	}
}

// TestConfigPrecedence: each level overrides the one below it, and config
// show names the level each value came from.
func TestConfigPrecedence(t *testing.T) {
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, configFileName), []byte("moniker = \"file\"\n[log]\nlevel = \"warn\"\n[api]\nlisten = \"127.0.0.1:1\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"LEDGERD_LOG_LEVEL": "debug", "LEDGERD_API_LISTEN": "127.0.0.1:2"}
	code, out, stderr := testCLI(t, env, "config", "show", "--home", home, "--api", "127.0.0.1:3", "--json")
	if code != 0 {
		t.Fatalf("config show: %d %s", code, stderr)
	}
	v := requireOneJSON(t, out)
	got := map[string]string{}
	for _, e := range v["settings"].([]any) {
		m := e.(map[string]any)
		got[m["key"].(string)] = fmt.Sprintf("%v from %v", m["value"], m["source"])
	}
	for k, want := range map[string]string{
		"moniker":          "file from file",
		"log.level":        "debug from env",
		"api.listen":       "127.0.0.1:3 from flag",
		"log.format":       "text from default",
		"memory_limit_mib": "112 from default",
	} {
		if got[k] != want {
			t.Errorf("%s: %s, want %s", k, got[k], want)
		}
	}
	// An invalid effective configuration is printed and exits 1.
	code, out, stderr = testCLI(t, nil, "config", "show", "--home", home, "--log-level", "loud")
	if code != 1 || !strings.Contains(out, `log.level`) || !strings.Contains(stderr, "log.level") {
		t.Fatalf("invalid config: exit %d\n%s\n%s", code, out, stderr)
	}
	// A bad value in an environment variable or a flag names it.
	if code, _, stderr := testCLI(t, map[string]string{"LEDGERD_MEMPOOL_MAX_TXS": "many"}, "config", "show", "--home", home); code != 1 || !strings.Contains(stderr, "LEDGERD_MEMPOOL_MAX_TXS") {
		t.Fatalf("bad env value: %d %s", code, stderr)
	}
	if code, _, stderr := testCLI(t, nil, "config", "show", "--home", home, "--mempool-max-txs", "many"); code != 2 || !strings.Contains(stderr, "--mempool-max-txs") {
		t.Fatalf("bad flag value: %d %s", code, stderr)
	}
}

const (
	docBegin = "<!-- BEGIN generated by TestConfigDoc: go test ./cmd/ledgerd -run TestConfigDoc -update -->"
	docEnd   = "<!-- END generated -->"
)

// configDocTable renders the table of every key that docs/config.md holds.
func configDocTable() string {
	var b strings.Builder
	b.WriteString("| key | default | environment | flag | meaning |\n|---|---|---|---|---|\n")
	def := node.DefaultConfig("/home")
	for _, s := range settings {
		d := "`" + s.tomlValue(&def) + "`"
		if s.defaultDoc != "" {
			d = s.defaultDoc
		}
		fmt.Fprintf(&b, "| `%s` | %s | `%s` | `--%s` | %s |\n", s.key, d, s.envName(), s.flagName(),
			strings.ReplaceAll(s.doc, "|", `\|`))
	}
	return b.String()
}

// TestConfigDoc: docs/config.md lists every key of config.toml with its
// default, environment variable, flag and meaning as the code has them;
// it fails on an undocumented key and on a stale row.
func TestConfigDoc(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "config.md")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	i, j := strings.Index(doc, docBegin), strings.Index(doc, docEnd)
	if i < 0 || j < i {
		t.Fatalf("%s has no generated section (%q … %q)", path, docBegin, docEnd)
	}
	body := doc[i+len(docBegin)+1 : j]
	want := configDocTable()
	if *update {
		if err := os.WriteFile(path, []byte(doc[:i+len(docBegin)+1]+want+doc[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	// Name the keys first, for a readable failure.
	var documented []string
	for _, line := range strings.Split(body, "\n") {
		if k, ok := strings.CutPrefix(line, "| `"); ok {
			k, _, _ = strings.Cut(k, "`")
			documented = append(documented, k)
		}
	}
	for _, s := range settings {
		if !slices.Contains(documented, s.key) {
			t.Errorf("%s: key %s is not documented", path, s.key)
		}
	}
	for _, k := range documented {
		if !slices.ContainsFunc(settings, func(s setting) bool { return s.key == k }) {
			t.Errorf("%s: documents %s, which is not a key", path, k)
		}
	}
	if body != want {
		t.Errorf("%s: the table differs from the code (go test ./cmd/ledgerd -run TestConfigDoc -update rewrites it):\n--- doc\n%s--- code\n%s", path, body, want)
	}
	// Every other variable the commands read is documented too.
	for _, v := range []string{envHome, envNode, "GOMEMLIMIT", "GOMAXPROCS"} {
		if !strings.Contains(doc, "`"+v+"`") {
			t.Errorf("%s does not document %s", path, v)
		}
	}
}
