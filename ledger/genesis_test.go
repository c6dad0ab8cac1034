package ledger

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
)

// testGenesis returns a valid genesis with n validators (test keys 0..n-1)
// and allocations to test keys 100..104.
func testGenesis(tb testing.TB, n int) *Genesis {
	tb.Helper()
	g := &Genesis{
		ChainID:       testChain,
		GenesisTimeMs: 1767225600000, // 2026-01-01T00:00:00Z
		EpochLengthMs: 1000,
		MaxEpochTxs:   10000,
		FeeCollector:  Address{0xfe, 0xe5},
	}
	for i := range n {
		k := testKey(tb, i)
		g.Validators = append(g.Validators, Validator{
			Name: "node" + string(rune('0'+i)), Address: crypto.PubkeyToAddress(k.PublicKey),
			PublicKey: crypto.CompressPubkey(&k.PublicKey), Power: 1, P2PAddr: "/ip4/127.0.0.1/tcp/4001",
		})
	}
	for i := range 5 {
		g.Alloc = append(g.Alloc, Alloc{Address: testAddr(tb, 100+i), Balance: 1_000_000 * uint64(i+1)})
	}
	return g
}

func TestGenesisJSONRoundTrip(t *testing.T) {
	g := testGenesis(t, 4)
	b, err := json.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"chain_id"`, `"genesis_time":"2026-01-01T00:00:00Z"`, `"epoch_length_ms"`, `"max_epoch_txs"`, `"fee_collector"`, `"public_key":"0x`, `"p2p_addr"`, `"alloc"`, `"balance"`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON lacks %s: %s", key, b)
		}
	}
	g2, err := ParseGenesis(b)
	if err != nil {
		t.Fatal(err)
	}
	if g2.Hash() != g.Hash() {
		t.Fatal("hash changed across a JSON round trip")
	}
	b2, _ := json.Marshal(g2)
	if string(b2) != string(b) {
		t.Fatalf("JSON round trip differs:\n%s\n%s", b, b2)
	}
}

func TestGenesisValidate(t *testing.T) {
	tests := []struct {
		name  string
		field string
		edit  func(g *Genesis)
	}{
		{"empty chain id", "chain_id", func(g *Genesis) { g.ChainID = "" }},
		{"long chain id", "chain_id", func(g *Genesis) { g.ChainID = strings.Repeat("a", MaxChainIDLen+1) }},
		{"chain id charset", "chain_id", func(g *Genesis) { g.ChainID = "a/b" }},
		{"negative time", "genesis_time", func(g *Genesis) { g.GenesisTimeMs = -1 }},
		{"zero epoch length", "epoch_length_ms", func(g *Genesis) { g.EpochLengthMs = 0 }},
		{"zero max epoch txs", "max_epoch_txs", func(g *Genesis) { g.MaxEpochTxs = 0 }},
		{"zero fee collector", "fee_collector", func(g *Genesis) { g.FeeCollector = Address{} }},
		{"no validators", "validators", func(g *Genesis) { g.Validators = nil }},
		{"too many validators", "validators", func(g *Genesis) {
			g.Validators = make([]Validator, MaxValidators+1)
		}},
		{"empty name", "validators[1].name", func(g *Genesis) { g.Validators[1].Name = "" }},
		{"long name", "validators[1].name", func(g *Genesis) { g.Validators[1].Name = strings.Repeat("n", MaxValidatorNameLen+1) }},
		{"duplicate name", "validators[2].name", func(g *Genesis) { g.Validators[2].Name = g.Validators[0].Name }},
		{"zero address", "validators[1].address", func(g *Genesis) { g.Validators[1].Address = Address{} }},
		{"duplicate address", "validators[2].address", func(g *Genesis) {
			g.Validators[2].Address, g.Validators[2].PublicKey = g.Validators[1].Address, g.Validators[1].PublicKey
		}},
		{"short key", "validators[0].public_key", func(g *Genesis) { g.Validators[0].PublicKey = g.Validators[0].PublicKey[:32] }},
		{"uncompressed key", "validators[0].public_key", func(g *Genesis) {
			g.Validators[0].PublicKey = crypto.FromECDSAPub(&testKey(t, 0).PublicKey)
		}},
		{"key not on curve", "validators[0].public_key", func(g *Genesis) {
			g.Validators[0].PublicKey = append([]byte{2}, make([]byte, 32)...)
		}},
		{"key of another address", "validators[0].public_key", func(g *Genesis) {
			g.Validators[0].PublicKey = g.Validators[1].PublicKey
		}},
		{"zero power", "validators[3].power", func(g *Genesis) { g.Validators[3].Power = 0 }},
		{"power overflow", "validators[1].power", func(g *Genesis) {
			g.Validators[0].Power, g.Validators[1].Power = ^uint64(0), 1
		}},
		{"long p2p addr", "validators[0].p2p_addr", func(g *Genesis) { g.Validators[0].P2PAddr = strings.Repeat("x", MaxP2PAddrLen+1) }},
		{"duplicate alloc", "alloc[3].address", func(g *Genesis) { g.Alloc[3].Address = g.Alloc[1].Address }},
		{"zero alloc", "alloc[2].balance", func(g *Genesis) { g.Alloc[2].Balance = 0 }},
		{"supply overflow", "alloc[1].balance", func(g *Genesis) { g.Alloc[0].Balance, g.Alloc[1].Balance = ^uint64(0), 1 }},
	}
	if err := testGenesis(t, 4).Validate(); err != nil {
		t.Fatalf("valid genesis: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := testGenesis(t, 4)
			tt.edit(g)
			err := g.Validate()
			ge, ok := errors.AsType[*GenesisError](err)
			if !ok {
				t.Fatalf("Validate = %v; want a *GenesisError", err)
			}
			if ge.Field != tt.field {
				t.Fatalf("Validate error field = %q (%v); want %q", ge.Field, err, tt.field)
			}
			if !errors.Is(err, ErrGenesis) || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("error %q does not match ErrGenesis or name the field", err)
			}
		})
	}
}

func TestParseGenesisErrors(t *testing.T) {
	valid, err := json.Marshal(testGenesis(t, 2))
	if err != nil {
		t.Fatal(err)
	}
	replace := func(old, new string) string {
		if !strings.Contains(string(valid), old) {
			t.Fatalf("test setup: %q not in %s", old, valid)
		}
		return strings.Replace(string(valid), old, new, 1)
	}
	tests := []struct {
		name  string
		in    string
		field string // "" = a JSON-level error
	}{
		{"not json", "{", ""},
		{"array", "[]", ""},
		{"unknown field", strings.Replace(string(valid), "{", `{"extra":1,`, 1), ""},
		{"unknown validator field", replace(`"power":1`, `"power":1,"weight":2`), ""},
		{"trailing data", string(valid) + "{}", ""},
		{"negative balance", replace(`"balance":1000000`, `"balance":-1`), ""},
		{"balance too large", replace(`"balance":1000000`, `"balance":18446744073709551616`), ""},
		{"address not hex", replace(`"fee_collector":"0x`, `"fee_collector":"0xzz`), ""},
		{"bad time", replace(`"2026-01-01T00:00:00Z"`, `"yesterday"`), "genesis_time"},
		{"time without zone", replace(`"2026-01-01T00:00:00Z"`, `"2026-01-01T00:00:00"`), "genesis_time"},
		{"sub-millisecond time", replace(`"2026-01-01T00:00:00Z"`, `"2026-01-01T00:00:00.0000001Z"`), "genesis_time"},
		{"public key without 0x", replace(`"public_key":"0x`, `"public_key":"`), "validators[0].public_key"},
		{"public key bad hex", replace(`"public_key":"0x`, `"public_key":"0xg`), "validators[0].public_key"},
		{"validation", replace(`"epoch_length_ms":1000`, `"epoch_length_ms":0`), "epoch_length_ms"},
		{"missing chain id", replace(`"chain_id":"ledgerd-test",`, ``), "chain_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := ParseGenesis([]byte(tt.in))
			if err == nil {
				t.Fatalf("ParseGenesis accepted %s", tt.in)
			}
			if g != nil {
				t.Fatal("ParseGenesis returned a genesis with an error")
			}
			ge, ok := errors.AsType[*GenesisError](err)
			if !ok || !errors.Is(err, ErrGenesis) {
				t.Fatalf("ParseGenesis = %v; want a *GenesisError", err)
			}
			if ge.Field != tt.field {
				t.Fatalf("error field = %q (%v); want %q", ge.Field, err, tt.field)
			}
		})
	}
}

func TestGenesisTimeParsing(t *testing.T) {
	g := testGenesis(t, 1)
	b, _ := json.Marshal(g)
	s := strings.Replace(string(b), `"2026-01-01T00:00:00Z"`, `"2026-01-01T02:00:00.123+02:00"`, 1)
	g2, err := ParseGenesis([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	if want := g.GenesisTimeMs + 123; g2.GenesisTimeMs != want {
		t.Fatalf("GenesisTimeMs = %d; want %d", g2.GenesisTimeMs, want)
	}
}

func TestGenesisHash(t *testing.T) {
	g := testGenesis(t, 4)
	h := g.Hash()
	// Allocation order and p2p hints do not change the hash; everything else does.
	g2 := testGenesis(t, 4)
	g2.Alloc[0], g2.Alloc[4] = g2.Alloc[4], g2.Alloc[0]
	g2.Validators[0].P2PAddr = "/dns4/elsewhere/tcp/1"
	if g2.Hash() != h {
		t.Fatal("alloc order or p2p hint changed the genesis hash")
	}
	edits := map[string]func(g *Genesis){
		"chain id":        func(g *Genesis) { g.ChainID += "x" },
		"time":            func(g *Genesis) { g.GenesisTimeMs++ },
		"epoch length":    func(g *Genesis) { g.EpochLengthMs++ },
		"max epoch txs":   func(g *Genesis) { g.MaxEpochTxs++ },
		"fee collector":   func(g *Genesis) { g.FeeCollector[19]++ },
		"power":           func(g *Genesis) { g.Validators[1].Power++ },
		"name":            func(g *Genesis) { g.Validators[1].Name += "x" },
		"validator order": func(g *Genesis) { g.Validators[0], g.Validators[1] = g.Validators[1], g.Validators[0] },
		"balance":         func(g *Genesis) { g.Alloc[2].Balance++ },
		"extra alloc":     func(g *Genesis) { g.Alloc = append(g.Alloc, Alloc{Address: Address{1}, Balance: 1}) },
	}
	for name, edit := range edits {
		g2 := testGenesis(t, 4)
		edit(g2)
		if g2.Hash() == h {
			t.Errorf("changing the %s does not change the genesis hash", name)
		}
	}
	if g.ValidatorSetHash() == h {
		t.Fatal("validator set hash equals genesis hash")
	}
	golden(t, "genesis_vectors.json", map[string]string{
		"genesis_json":       mustJSON(t, g),
		"genesis_hash":       h.Hex(),
		"validator_set_hash": g.ValidatorSetHash().Hex(),
	})
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestGenesisLookups(t *testing.T) {
	g := testGenesis(t, 4)
	for i, v := range g.Validators {
		idx, ok := g.ValidatorIndex(v.Address)
		if !ok || idx != uint32(i) {
			t.Fatalf("ValidatorIndex(%s) = %d, %v; want %d", v.Address, idx, ok, i)
		}
	}
	if _, ok := g.ValidatorIndex(Address{9}); ok {
		t.Fatal("unknown address found")
	}
	if g.TotalPower() != 4 {
		t.Fatalf("TotalPower = %d; want 4", g.TotalPower())
	}
	if want := uint64(15_000_000); g.TotalSupply() != want {
		t.Fatalf("TotalSupply = %d; want %d", g.TotalSupply(), want)
	}
	quorum := []struct {
		total, power uint64
		want         bool
	}{
		{4, 2, false}, {4, 3, true}, {3, 2, false}, {3, 3, true}, {1, 1, true}, {1, 0, false},
		{^uint64(0), ^uint64(0) / 3 * 2, false}, {^uint64(0), ^uint64(0)/3*2 + 1, true}, {^uint64(0), ^uint64(0), true},
	}
	for _, q := range quorum {
		g := &Genesis{Validators: []Validator{{Power: q.total}}}
		if got := g.IsQuorum(q.power); got != q.want {
			t.Errorf("IsQuorum(%d of %d) = %v; want %v", q.power, q.total, got, q.want)
		}
	}
}

func FuzzParseGenesis(f *testing.F) {
	b, err := json.Marshal(testGenesis(f, 3))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"chain_id":"x","genesis_time":"2026-01-01T00:00:00Z","validators":[{}]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, in []byte) {
		g, err := ParseGenesis(in)
		if err != nil {
			if _, ok := errors.AsType[*GenesisError](err); !ok {
				t.Fatalf("error %v is not a *GenesisError", err)
			}
			return
		}
		out, err := json.Marshal(g)
		if err != nil {
			t.Fatal(err)
		}
		g2, err := ParseGenesis(out)
		if err != nil {
			t.Fatalf("re-parse of %s: %v", out, err)
		}
		if g2.Hash() != g.Hash() {
			t.Fatal("round trip changed the hash")
		}
		out2, _ := json.Marshal(g2)
		if string(out2) != string(out) {
			t.Fatalf("round trip not stable:\n%s\n%s", out, out2)
		}
	})
}
