package ledger

import (
	"bytes"
	"errors"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/trie"
	"github.com/ethereum/go-ethereum/triedb/database"
)

// gethDB is a go-ethereum NodeDatabase over a MemNodeDB.
type gethDB struct{ db *MemNodeDB }

func (g gethDB) NodeReader(common.Hash) (database.NodeReader, error) { return g, nil }
func (g gethDB) Node(_ common.Hash, _ []byte, h common.Hash) ([]byte, error) {
	return g.db.Node(h)
}

type gethProof struct{ nodes [][]byte }

func (p *gethProof) Put(_ []byte, v []byte) error {
	p.nodes = append(p.nodes, bytes.Clone(v))
	return nil
}
func (p *gethProof) Delete([]byte) error { return errors.New("append-only") }

// randomAccountAddr returns a random address, a low one (long shared
// prefixes: deep extension nodes) or one of a small set.
func randomAccountAddr(rng *rand.Rand) Address {
	var a Address
	switch rng.IntN(3) {
	case 0:
		a[19], a[18] = byte(rng.IntN(40)), byte(rng.IntN(3))
	default:
		for i := range a {
			a[i] = byte(rng.Uint32())
		}
	}
	return a
}

// TestStateMatchesGethTrie runs State epochs (updates and deletions of
// accounts, some Commits) next to a go-ethereum trie holding the same
// accounts: same roots, same committed nodes, byte-identical proofs, same
// iteration, and a State reopened from the store agrees.
func TestStateMatchesGethTrie(t *testing.T) {
	for seed := uint64(1); seed <= 6; seed++ {
		rng := rand.New(rand.NewPCG(seed, 99))
		db := NewMemNodeDB()
		s, err := OpenState(db, EmptyRoot)
		if err != nil {
			t.Fatal(err)
		}
		s.trie.SetKeepDepth(rng.IntN(6))
		gdb := NewMemNodeDB()
		g, _ := trie.New(trie.TrieID(EmptyRoot), gethDB{gdb})
		var used []Address
		model := map[Address]Account{}
		pending := map[Address]Account{}
		for epoch := range 25 {
			for range 1 + rng.IntN(300) {
				var a Address
				if len(used) > 0 && rng.IntN(2) == 0 {
					a = used[rng.IntN(len(used))]
				} else {
					a = randomAccountAddr(rng)
					used = append(used, a)
				}
				var acct Account
				if rng.IntN(5) != 0 {
					acct = Account{Balance: rng.Uint64N(1 << 40), Nonce: rng.Uint64N(3)}
				}
				s.set(a, acct)
				model[a] = acct
				pending[a] = acct
			}
			// geth gets the writes the State's flush makes: the last
			// value of each account, in address order.
			for _, a := range slices.SortedFunc(maps.Keys(pending), compareAddress) {
				if acct := pending[a]; acct.isZero() {
					_ = g.Delete(a[:])
					delete(model, a)
				} else {
					_ = g.Update(a[:], encodeAccount(acct))
				}
			}
			clear(pending)
			if r := s.Root(); r != g.Hash() {
				t.Fatalf("seed %d epoch %d: root %x, geth %x", seed, epoch, r, g.Hash())
			}
			for range 5 {
				a := used[rng.IntN(len(used))]
				var gp gethProof
				if err := g.Prove(a[:], &gp); err != nil {
					t.Fatal(err)
				}
				p, err := s.Prove(a)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.EqualFunc(p, gp.nodes, bytes.Equal) {
					t.Fatalf("seed %d epoch %d: proof of %s differs from geth's", seed, epoch, a)
				}
				acct, ok, err := VerifyProof(s.Root(), a, p)
				if err != nil || acct != model[a] || ok != !model[a].isZero() {
					t.Fatalf("seed %d: proof of %s: %+v %v %v, want %+v", seed, a, acct, ok, err, model[a])
				}
			}
			if rng.IntN(3) == 0 {
				continue // no commit this epoch
			}
			root, nodes, err := s.Commit()
			if err != nil {
				t.Fatal(err)
			}
			groot, set := g.Commit(false)
			want := map[Hash][]byte{}
			if set != nil {
				for _, n := range set.Nodes {
					if !n.IsDeleted() {
						want[n.Hash] = n.Blob
					}
				}
			}
			if root != groot || !maps.EqualFunc(nodes, want, bytes.Equal) {
				t.Fatalf("seed %d epoch %d: commit %x (%d nodes), geth %x (%d nodes)", seed, epoch, root, len(nodes), groot, len(want))
			}
			db.PutAll(nodes)
			gdb.PutAll(want)
			g, _ = trie.New(trie.TrieID(groot), gethDB{gdb})

			// Iteration from a random start, against geth's iterator.
			start := used[rng.IntN(len(used))]
			var got []Address
			if err := s.ForEachAccount(start, func(a Address, acct Account) bool {
				if model[a] != acct {
					t.Fatalf("seed %d: iterated %s = %+v, want %+v", seed, a, acct, model[a])
				}
				got = append(got, a)
				return true
			}); err != nil {
				t.Fatal(err)
			}
			nit, _ := g.NodeIterator(start[:])
			it := trie.NewIterator(nit)
			var wantAddrs []Address
			for it.Next() {
				wantAddrs = append(wantAddrs, Address(it.Key))
			}
			if !slices.Equal(got, wantAddrs) {
				t.Fatalf("seed %d epoch %d: iterated %d accounts, geth %d", seed, epoch, len(got), len(wantAddrs))
			}
			// A State reopened on the store agrees.
			re, err := OpenState(db, root)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range used[:min(len(used), 50)] {
				if acct := mustAccount(t, re, a); acct != model[a] {
					t.Fatalf("seed %d: reopened %s = %+v, want %+v", seed, a, acct, model[a])
				}
			}
		}
	}
}

// TestStackTrieMatchesState: a state built from sorted accounts with
// go-ethereum's StackTrie (as node/export.go and the benchmarks do) has the
// root and nodes of the same accounts set through the State, and a State
// opened on the StackTrie's nodes keeps agreeing with one built by updates.
func TestStackTrieMatchesState(t *testing.T) {
	for _, n := range []int{1, 2, 50, 5000} {
		rng := rand.New(rand.NewPCG(uint64(n), 5))
		accts := map[Address]Account{}
		for len(accts) < n {
			accts[randomAccountAddr(rng)] = Account{Balance: 1 + rng.Uint64N(1e12)}
		}
		stdb := NewMemNodeDB()
		st := trie.NewStackTrie(func(_ []byte, h common.Hash, blob []byte) { stdb.Put(h, blob) })
		for _, a := range slices.SortedFunc(maps.Keys(accts), compareAddress) {
			if err := st.Update(a[:], encodeAccount(accts[a])); err != nil {
				t.Fatal(err)
			}
		}
		s, err := OpenState(NewMemNodeDB(), EmptyRoot)
		if err != nil {
			t.Fatal(err)
		}
		for a, acct := range accts {
			s.set(a, acct)
		}
		root, nodes, err := s.Commit()
		if err != nil {
			t.Fatal(err)
		}
		if root != st.Hash() {
			t.Fatalf("%d accounts: root %x, StackTrie %x", n, root, st.Hash())
		}
		if len(nodes) != stdb.Len() {
			t.Fatalf("%d accounts: %d nodes, StackTrie %d", n, len(nodes), stdb.Len())
		}
		for h, b := range nodes {
			if sb, err := stdb.Node(h); err != nil || !bytes.Equal(sb, b) {
				t.Fatalf("%d accounts: node %x differs from the StackTrie's", n, h)
			}
		}
		// Same epoch on both.
		s2, err := OpenState(stdb, root)
		if err != nil {
			t.Fatal(err)
		}
		for range 100 {
			a := randomAccountAddr(rng)
			acct := Account{Balance: rng.Uint64N(5)}
			s.set(a, acct)
			s2.set(a, acct)
		}
		r1, _, _ := s.Commit()
		r2, _, _ := s2.Commit()
		if r1 != r2 {
			t.Fatalf("%d accounts: after an epoch, %x vs %x", n, r1, r2)
		}
	}
}

// TestApplyPrefetch: an Apply large enough to prefetch the trie paths in
// parallel gives the receipts and root of the same transfers applied in
// calls too small to prefetch (run with -race too).
func TestApplyPrefetch(t *testing.T) {
	for _, keep := range []int{0, 1, 4} {
		s1, db := buildBenchState(t, 3000)
		s2, err := OpenState(db, s1.committed)
		if err != nil {
			t.Fatal(err)
		}
		s2.SetFeeCollector(benchCollector)
		for _, s := range []*State{s1, s2} {
			s.trie.SetKeepDepth(keep)
		}
		rng := rand.New(rand.NewPCG(uint64(keep), 1))
		nonces := map[Address]uint64{}
		for epoch := range 3 {
			txs := benchEpoch(rng, 3000, 1000, nonces)
			txs = append(txs, CheckedTx{Tx: Tx{To: benchAddress(1), Amount: 1}, Sender: Address{0x77}}) // unfunded sender
			before := s1.trie.Stats().Resolved
			r1, err := s1.Apply(txs)
			if err != nil {
				t.Fatal(err)
			}
			if epoch > 0 && s1.trie.Stats().Resolved == before {
				t.Fatal("a large Apply resolved nothing")
			}
			var r2 []Receipt
			for i := 0; i < len(txs); i += prefetchMin - 1 {
				rs, err := s2.Apply(txs[i:min(i+prefetchMin-1, len(txs))])
				if err != nil {
					t.Fatal(err)
				}
				r2 = append(r2, rs...)
			}
			if !slices.Equal(r1, r2) {
				t.Fatalf("keep %d epoch %d: receipts differ", keep, epoch)
			}
			root1, nodes1, err := s1.Commit()
			if err != nil {
				t.Fatal(err)
			}
			root2, nodes2, _ := s2.Commit()
			if root1 != root2 || !maps.EqualFunc(nodes1, nodes2, bytes.Equal) {
				t.Fatalf("keep %d epoch %d: commits differ", keep, epoch)
			}
			db.PutAll(nodes1)
		}
	}
}
