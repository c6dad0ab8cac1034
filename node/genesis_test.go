package node

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/node/store"
)

// TestInitGenesisRoot: the one-pass genesis build stores the state root
// ledger.GenesisState computes, and every account reads back through it.
func TestInitGenesisRoot(t *testing.T) {
	seed := uint64(7)
	rng := rand.New(rand.NewPCG(seed, seed))
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	g := &ledger.Genesis{ChainID: "genesis-test", GenesisTimeMs: 1, EpochLengthMs: 1000, MaxEpochTxs: 100,
		FeeCollector: ledger.Address{0xfe},
		Validators: []ledger.Validator{{Name: "v0", Address: crypto.PubkeyToAddress(key.PublicKey),
			PublicKey: crypto.CompressPubkey(&key.PublicKey), Power: 1}}}
	for i := range 3000 {
		var a ledger.Address
		copy(a[:], crypto.Keccak256([]byte(fmt.Sprint(i))))
		g.Alloc = append(g.Alloc, ledger.Alloc{Address: a, Balance: 1 + rng.Uint64N(1<<40)})
	}
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	want, err := ledger.GenesisState(g, ledger.NewMemNodeDB())
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(t.TempDir(), store.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n := &Node{g: g, st: st, genHash: g.Hash()}
	if err := n.initGenesis(); err != nil {
		t.Fatal(err)
	}
	head, ok, err := st.Head()
	if err != nil || !ok {
		t.Fatalf("head: %v %v", ok, err)
	}
	if head.Epoch != 0 || head.StateRoot != want.Root() {
		t.Fatalf("head epoch %d root %s, want epoch 0 root %s", head.Epoch, head.StateRoot, want.Root())
	}
	if got := n.genesisRoot(); got != want.Root() {
		t.Fatalf("genesisRoot %s, want %s", got, want.Root())
	}
	state, err := g.OpenState(st, head.StateRoot)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range g.Alloc[:200] {
		acct, err := state.Account(a.Address)
		if err != nil || acct.Balance != a.Balance {
			t.Fatalf("account %s: %+v, %v; want balance %d", a.Address, acct, err, a.Balance)
		}
	}
}
