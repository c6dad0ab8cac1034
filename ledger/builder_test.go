package ledger

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestStateBuilderMatchesState: the builder's root and nodes are those of a
// State holding the same accounts, and the built nodes open that state.
func TestStateBuilderMatchesState(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 9))
	accounts := map[Address]Account{}
	for range 500 {
		var a Address
		for i := range a {
			a[i] = byte(rng.Uint32())
		}
		accounts[a] = Account{Balance: 1 + rng.Uint64N(1e9), Nonce: rng.Uint64N(100)}
	}
	addrs := make([]Address, 0, len(accounts))
	for a := range accounts {
		addrs = append(addrs, a)
	}
	slices.SortFunc(addrs, func(a, b Address) int { return bytes.Compare(a[:], b[:]) })
	b := NewStateBuilder(uint64(len(addrs)))
	for _, a := range addrs {
		if err := b.Add(a, accounts[a]); err != nil {
			t.Fatal(err)
		}
	}
	root := b.Root()
	db := NewMemNodeDB()
	db.PutAll(b.Nodes())
	g := &Genesis{ChainID: testChain}
	st, err := g.OpenState(db, root)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		got, err := st.Account(a)
		if err != nil || got != accounts[a] {
			t.Fatalf("account %s: %+v %v, want %+v", a, got, err, accounts[a])
		}
	}
	if b.Count() != uint64(len(addrs)) || b.Last() != addrs[len(addrs)-1] {
		t.Fatalf("count %d last %s", b.Count(), b.Last())
	}
	// Balances only: the same accounts as a genesis allocation, whose state
	// is built by State.Apply and Commit, give the same root.
	gb := NewStateBuilder(uint64(len(addrs)))
	alloc := testGenesis(t, 1)
	alloc.Alloc = nil
	for _, a := range addrs {
		alloc.Alloc = append(alloc.Alloc, Alloc{Address: a, Balance: accounts[a].Balance})
		if err := gb.Add(a, Account{Balance: accounts[a].Balance}); err != nil {
			t.Fatal(err)
		}
	}
	gs, err := GenesisState(alloc, NewMemNodeDB())
	if err != nil {
		t.Fatal(err)
	}
	if gs.Root() != gb.Root() {
		t.Fatalf("builder root %s, genesis state root %s", gb.Root(), gs.Root())
	}
	if NewStateBuilder(1).Root() != EmptyRoot {
		t.Fatal("empty builder root")
	}
}

// TestStateBuilderRefuses out-of-order, repeated and empty accounts and
// one account beyond its bound.
func TestStateBuilderRefuses(t *testing.T) {
	b := NewStateBuilder(2)
	if err := b.Add(Address{2}, Account{Balance: 1}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		a    Address
		acct Account
	}{{Address{1}, Account{Balance: 1}}, {Address{2}, Account{Balance: 1}}, {Address{3}, Account{}}} {
		if err := b.Add(tc.a, tc.acct); err == nil {
			t.Errorf("Add(%s, %+v) accepted", tc.a, tc.acct)
		}
	}
	if err := b.Add(Address{3}, Account{Nonce: 1}); err != nil {
		t.Fatal(err)
	}
	if err := b.Add(Address{4}, Account{Nonce: 1}); err == nil {
		t.Fatal("third account accepted by a builder bounded at 2")
	}
}
