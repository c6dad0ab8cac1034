package ledger

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

var stateSeed = flag.Uint64("state.seed", 0, "seed for TestApplyConservesSupply (0 = several fixed seeds)")

// newTestState returns the committed genesis state of testGenesis(1) over a
// MemNodeDB, with the commit's nodes persisted.
func newTestState(t *testing.T) (*State, *Genesis, *MemNodeDB) {
	t.Helper()
	g := testGenesis(t, 1)
	db := NewMemNodeDB()
	s, err := GenesisState(g, db)
	if err != nil {
		t.Fatal(err)
	}
	_, nodes, err := s.Commit()
	if err != nil {
		t.Fatal(err)
	}
	db.PutAll(nodes)
	return s, g, db
}

func checked(t *testing.T, key int, tx Tx) CheckedTx {
	t.Helper()
	return CheckTx(signedTx(t, key, tx), testChain)
}

func mustAccount(t *testing.T, s *State, a Address) Account {
	t.Helper()
	acct, err := s.Account(a)
	if err != nil {
		t.Fatal(err)
	}
	return acct
}

// TestApplyRules runs one transaction per row against the genesis state
// (test keys 100..104 hold 1e6..5e6) and checks the receipt and that a
// failed transaction changes nothing.
func TestApplyRules(t *testing.T) {
	alice, bob := 100, 101 // balances 1,000,000 and 2,000,000
	a, b := testAddr(t, alice), testAddr(t, bob)
	tests := []struct {
		name   string
		prior  []CheckedTx
		tx     CheckedTx
		want   Status
		effect map[Address]Account // expected accounts afterwards (OK rows)
	}{
		{name: "transfer", tx: checked(t, alice, Tx{To: b, Amount: 10, Fee: 2}), want: StatusOK,
			effect: map[Address]Account{a: {999_988, 1}, b: {2_000_010, 0}, {0xfe, 0xe5}: {2, 0}}},
		{name: "self transfer", tx: checked(t, alice, Tx{To: a, Amount: 10, Fee: 2}), want: StatusOK,
			effect: map[Address]Account{a: {999_998, 1}, {0xfe, 0xe5}: {2, 0}}},
		{name: "whole balance", tx: checked(t, alice, Tx{To: b, Amount: 999_999, Fee: 1}), want: StatusOK,
			effect: map[Address]Account{a: {0, 1}, b: {2_999_999, 0}}},
		{name: "to fee collector", tx: checked(t, alice, Tx{To: Address{0xfe, 0xe5}, Amount: 5, Fee: 1}), want: StatusOK,
			effect: map[Address]Account{a: {999_994, 1}, {0xfe, 0xe5}: {6, 0}}},
		{name: "to new account", tx: checked(t, alice, Tx{To: Address{7}, Amount: 5}), want: StatusOK,
			effect: map[Address]Account{a: {999_995, 1}, {7}: {5, 0}}},
		{name: "zero amount and fee bumps nonce", tx: checked(t, alice, Tx{To: b}), want: StatusOK,
			effect: map[Address]Account{a: {1_000_000, 1}}},
		{name: "second nonce", prior: []CheckedTx{checked(t, alice, Tx{To: b, Amount: 1})},
			tx: checked(t, alice, Tx{To: b, Amount: 1, Nonce: 1}), want: StatusOK,
			effect: map[Address]Account{a: {999_998, 2}, b: {2_000_002, 0}}},
		{name: "nonce too high", tx: checked(t, alice, Tx{To: b, Amount: 1, Nonce: 1}), want: StatusBadNonce},
		{name: "nonce replay", prior: []CheckedTx{checked(t, alice, Tx{To: b, Amount: 1})},
			tx: checked(t, alice, Tx{To: b, Amount: 2}), want: StatusBadNonce},
		{name: "insufficient balance", tx: checked(t, alice, Tx{To: b, Amount: 1_000_000, Fee: 1}), want: StatusInsufficientBalance},
		{name: "fee alone too high", tx: checked(t, alice, Tx{To: b, Fee: 1_000_001}), want: StatusInsufficientBalance},
		{name: "amount plus fee overflows", tx: checked(t, alice, Tx{To: b, Amount: ^uint64(0), Fee: 2}), want: StatusInsufficientBalance},
		{name: "unfunded sender", tx: checked(t, 7, Tx{To: b, Amount: 1}), want: StatusInsufficientBalance},
		{name: "duplicate", prior: []CheckedTx{checked(t, alice, Tx{To: b, Amount: 1})},
			tx: checked(t, alice, Tx{To: b, Amount: 1}), want: StatusDuplicate},
		{name: "duplicate of a failed tx", prior: []CheckedTx{checked(t, alice, Tx{To: b, Amount: 1, Nonce: 5})},
			tx: checked(t, alice, Tx{To: b, Amount: 1, Nonce: 5}), want: StatusDuplicate},
		{name: "same payload other signer is not a duplicate", prior: []CheckedTx{checked(t, bob, Tx{To: b, Amount: 1})},
			tx: checked(t, alice, Tx{To: b, Amount: 1}), want: StatusOK,
			effect: map[Address]Account{a: {999_999, 1}, b: {2_000_001, 1}}},
		{name: "bad signature copy does not block the valid tx", prior: []CheckedTx{CheckTx(func() Tx {
			tx := signedTx(t, alice, Tx{To: b, Amount: 1})
			tx.Sig[64] = 9
			return tx
		}(), testChain)}, tx: checked(t, alice, Tx{To: b, Amount: 1}), want: StatusOK},
		{name: "wrong chain", tx: CheckTx(signedTx(t, alice, Tx{ChainID: "other", To: b, Amount: 1}), testChain), want: StatusWrongChain},
		{name: "high S", tx: func() CheckedTx {
			tx := signedTx(t, alice, Tx{To: b, Amount: 1})
			tx.Sig = highS(tx.Sig)
			return CheckTx(tx, testChain)
		}(), want: StatusHighS},
		{name: "opaque check error", tx: CheckedTx{Err: errors.New("something else")}, want: StatusInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// before applies the prior transactions alone; s applies them
			// and the row's transaction in one call.
			before, _, _ := newTestState(t)
			if _, err := before.Apply(tt.prior); err != nil {
				t.Fatal(err)
			}
			s, _, _ := newTestState(t)
			rs, err := s.Apply(append(slices.Clone(tt.prior), tt.tx))
			if err != nil {
				t.Fatal(err)
			}
			r := rs[len(rs)-1]
			if r.Status != tt.want {
				t.Fatalf("status = %v; want %v", r.Status, tt.want)
			}
			if r.TxHash != tt.tx.Hash || r.Sender != tt.tx.Sender {
				t.Fatalf("receipt %+v does not name tx %s from %s", r, tt.tx.Hash, tt.tx.Sender)
			}
			if tt.want != StatusOK {
				if s.Root() != before.Root() {
					t.Fatal("failed transaction changed the state")
				}
				return
			}
			for addr, want := range tt.effect {
				if got := mustAccount(t, s, addr); got != want {
					t.Errorf("account %s = %+v; want %+v", addr, got, want)
				}
			}
		})
	}
}

// TestBalanceOverflow builds a state whose supply exceeds uint64 (impossible
// from a valid genesis, where supply is conserved) to reach the overflow
// checks for the recipient and the fee collector.
func TestBalanceOverflow(t *testing.T) {
	for _, who := range []string{"recipient", "fee collector"} {
		t.Run(who, func(t *testing.T) {
			s, err := OpenState(NewMemNodeDB(), EmptyRoot)
			if err != nil {
				t.Fatal(err)
			}
			collector, rich := Address{0xc0}, Address{0xaa}
			s.SetFeeCollector(collector)
			sender := testAddr(t, 1)
			s.set(sender, Account{Balance: 10})
			full := rich
			if who == "fee collector" {
				full = collector
			}
			s.set(full, Account{Balance: ^uint64(0)})
			before := s.Root()
			rs, err := s.Apply([]CheckedTx{checked(t, 1, Tx{To: rich, Amount: 1, Fee: 1})})
			if err != nil {
				t.Fatal(err)
			}
			if rs[0].Status != StatusBalanceOverflow {
				t.Fatalf("status = %v; want balance_overflow", rs[0].Status)
			}
			if s.Root() != before {
				t.Fatal("failed transaction changed the state")
			}
		})
	}
}

func TestApplyNeedsFeeCollector(t *testing.T) {
	s, err := OpenState(NewMemNodeDB(), EmptyRoot)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(nil); !errors.Is(err, ErrNoFeeCollector) {
		t.Fatalf("Apply without fee collector = %v; want ErrNoFeeCollector", err)
	}
}

// TestApplyConservesSupply applies random epochs (valid and invalid
// transfers, replays, self-transfers, fee collector as party) and checks
// after each that the sum of all balances is the genesis supply, that
// receipts match a simple reference model, and that the committed state
// reopens from the NodeDB with the same root and accounts.
func TestApplyConservesSupply(t *testing.T) {
	seeds := []uint64{1, 2, 3}
	if *stateSeed != 0 {
		seeds = []uint64{*stateSeed}
	}
	epochs := 20
	if testing.Short() {
		epochs = 5
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			defer func() {
				if t.Failed() {
					t.Logf("reproduce: go test ./ledger -run TestApplyConservesSupply -state.seed=%d", seed)
				}
			}()
			conservationRun(t, seed, epochs)
		})
	}
}

func conservationRun(t *testing.T, seed uint64, epochs int) {
	rng := rand.New(rand.NewPCG(seed, 0x1ed9e7))
	g := testGenesis(t, 1)
	const keys = 8
	g.Alloc = nil
	for i := range keys {
		g.Alloc = append(g.Alloc, Alloc{Address: testAddr(t, i), Balance: 1 + rng.Uint64N(1000)})
	}
	g.FeeCollector = testAddr(t, 0) // a key holder can also collect fees
	supply := g.TotalSupply()
	db := NewMemNodeDB()
	s, err := GenesisState(g, db)
	if err != nil {
		t.Fatal(err)
	}
	model := make(map[Address]Account)
	for _, a := range g.Alloc {
		model[a.Address] = Account{Balance: a.Balance}
	}
	var history []CheckedTx
	for e := range epochs {
		var txs []CheckedTx
		for range 1 + rng.IntN(40) {
			from := rng.IntN(keys)
			var to Address
			if rng.IntN(4) == 0 {
				to = Address{byte(rng.IntN(3)) + 1} // fresh accounts
			} else {
				to = testAddr(t, rng.IntN(keys))
			}
			nonce := model[testAddr(t, from)].Nonce
			if rng.IntN(5) == 0 {
				nonce += uint64(rng.IntN(3)) - 1 // sometimes wrong
			}
			tx := Tx{To: to, Amount: rng.Uint64N(300), Fee: rng.Uint64N(5), Nonce: nonce}
			c := checked(t, from, tx)
			switch rng.IntN(10) {
			case 0:
				if len(history) > 0 {
					c = history[rng.IntN(len(history))] // replay from an earlier epoch
				}
			case 1:
				if len(txs) > 0 {
					c = txs[rng.IntN(len(txs))] // duplicate in this epoch
				}
			}
			txs = append(txs, c)
		}
		want := modelApply(model, g.FeeCollector, txs)
		rs, err := s.Apply(txs)
		if err != nil {
			t.Fatal(err)
		}
		for i := range rs {
			if rs[i].Status != want[i] {
				t.Fatalf("epoch %d tx %d: status %v; model says %v", e, i, rs[i].Status, want[i])
			}
		}
		history = append(history, txs...)
		root, nodes, err := s.Commit()
		if err != nil {
			t.Fatal(err)
		}
		db.PutAll(nodes)
		var sum uint64
		count := 0
		if err := s.ForEachAccount(Address{}, func(a Address, acct Account) bool {
			sum += acct.Balance
			count++
			if model[a] != acct {
				t.Errorf("epoch %d: account %s = %+v; model %+v", e, a, acct, model[a])
			}
			return true
		}); err != nil {
			t.Fatal(err)
		}
		if sum != supply {
			t.Fatalf("epoch %d: supply %d; want %d", e, sum, supply)
		}
		nonZero := 0
		for _, acct := range model {
			if acct != (Account{}) {
				nonZero++
			}
		}
		if count != nonZero {
			t.Fatalf("epoch %d: %d accounts in state, model has %d", e, count, nonZero)
		}
		reopened, err := g.OpenState(db, root)
		if err != nil {
			t.Fatal(err)
		}
		if reopened.Root() != root {
			t.Fatalf("reopened root %s; want %s", reopened.Root(), root)
		}
	}
}

// modelApply is the reference semantics of Apply on a plain map.
func modelApply(m map[Address]Account, collector Address, txs []CheckedTx) []Status {
	out := make([]Status, len(txs))
	type key struct {
		h Hash
		s Address
	}
	seen := map[key]bool{}
	for i, c := range txs {
		if c.Err != nil {
			out[i] = StatusOf(c.Err)
			continue
		}
		k := key{c.Hash, c.Sender}
		if seen[k] {
			out[i] = StatusDuplicate
			continue
		}
		seen[k] = true
		from := m[c.Sender]
		switch {
		case c.Tx.Nonce != from.Nonce:
			out[i] = StatusBadNonce
		case c.Tx.Amount+c.Tx.Fee > from.Balance: // small values: no overflow
			out[i] = StatusInsufficientBalance
		default:
			from.Balance -= c.Tx.Amount + c.Tx.Fee
			from.Nonce++
			m[c.Sender] = from
			to := m[c.Tx.To]
			to.Balance += c.Tx.Amount
			m[c.Tx.To] = to
			col := m[collector]
			col.Balance += c.Tx.Fee
			m[collector] = col
			out[i] = StatusOK
		}
	}
	return out
}

func TestProofs(t *testing.T) {
	s, g, _ := newTestState(t)
	root := s.Root()
	for _, a := range g.Alloc {
		p, err := s.Prove(a.Address)
		if err != nil {
			t.Fatal(err)
		}
		acct, exists, err := VerifyProof(root, a.Address, p)
		if err != nil || !exists || acct != (Account{Balance: a.Balance}) {
			t.Fatalf("VerifyProof(%s) = %+v, %v, %v; want balance %d", a.Address, acct, exists, err, a.Balance)
		}
		// The same proof does not verify another account or another root.
		other := a.Address
		other[19] ^= 1
		if acct, exists, err := VerifyProof(root, other, p); err == nil && exists {
			t.Fatalf("proof of %s verifies %s as %+v", a.Address, other, acct)
		}
		if _, _, err := VerifyProof(Hash{1}, a.Address, p); !errors.Is(err, ErrBadProof) {
			t.Fatalf("proof verified against a wrong root: %v", err)
		}
		// Any flipped byte breaks it.
		for i := range p {
			bad := slices.Clone(p)
			bad[i] = slices.Clone(bad[i])
			bad[i][len(bad[i])/2] ^= 0x40
			if acct2, exists, err := VerifyProof(root, a.Address, bad); err == nil && (exists || acct2 != acct) {
				t.Fatalf("tampered node %d verified as %+v", i, acct2)
			} else if err == nil {
				t.Fatalf("tampered node %d proved non-inclusion", i)
			}
		}
		if _, _, err := VerifyProof(root, a.Address, nil); !errors.Is(err, ErrBadProof) {
			t.Fatalf("empty proof: %v", err)
		}
	}
	for _, missing := range []Address{{}, {1}, {0xff, 0xff}, testAddr(t, 999)} {
		p, err := s.Prove(missing)
		if err != nil {
			t.Fatal(err)
		}
		acct, exists, err := VerifyProof(root, missing, p)
		if err != nil || exists || acct != (Account{}) {
			t.Fatalf("non-inclusion of %s: %+v, %v, %v", missing, acct, exists, err)
		}
	}
	// A proof of absence from the empty state is the empty proof.
	empty, _ := OpenState(NewMemNodeDB(), EmptyRoot)
	p, err := empty.Prove(Address{1})
	if err != nil || len(p) != 0 {
		t.Fatalf("empty state proof = %d nodes, %v", len(p), err)
	}
	if _, exists, err := VerifyProof(EmptyRoot, Address{1}, p); err != nil || exists {
		t.Fatalf("empty-state non-inclusion: %v, %v", exists, err)
	}
	huge := make(Proof, MaxProofNodes+1)
	if _, _, err := VerifyProof(root, Address{1}, huge); !errors.Is(err, ErrBadProof) {
		t.Fatalf("oversize proof: %v", err)
	}
	if _, _, err := VerifyProof(root, Address{1}, Proof{make([]byte, MaxProofNodeBytes+1)}); !errors.Is(err, ErrBadProof) {
		t.Fatalf("oversize node: %v", err)
	}
}

// TestProofIncludesPendingChanges: Prove and Root see uncommitted changes.
func TestProofIncludesPendingChanges(t *testing.T) {
	s, _, _ := newTestState(t)
	rs, err := s.Apply([]CheckedTx{checked(t, 100, Tx{To: Address{5}, Amount: 9})})
	if err != nil || rs[0].Status != StatusOK {
		t.Fatal(err, rs)
	}
	p, err := s.Prove(Address{5})
	if err != nil {
		t.Fatal(err)
	}
	acct, exists, err := VerifyProof(s.Root(), Address{5}, p)
	if err != nil || !exists || acct.Balance != 9 {
		t.Fatalf("proof of pending account: %+v %v %v", acct, exists, err)
	}
	root, _, err := s.Commit()
	if err != nil || root != s.Root() {
		t.Fatalf("Commit root %s, Root %s, %v", root, s.Root(), err)
	}
}

func TestCommitAndReopen(t *testing.T) {
	s, g, db := newTestState(t)
	genesisRoot := s.Root()
	rs, err := s.Apply([]CheckedTx{checked(t, 100, Tx{To: Address{5}, Amount: 9, Fee: 1})})
	if err != nil || rs[0].Status != StatusOK {
		t.Fatal(err, rs)
	}
	root, nodes, err := s.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if root == genesisRoot || len(nodes) == 0 {
		t.Fatalf("commit: root %s, %d nodes", root, len(nodes))
	}
	for h, b := range nodes {
		if keccak(b) != h {
			t.Fatalf("node %s does not hash to its key", h)
		}
	}
	// Unchanged state: same root, nothing to write.
	again, nodes2, err := s.Commit()
	if err != nil || again != root || len(nodes2) != 0 {
		t.Fatalf("empty commit: %s %d %v", again, len(nodes2), err)
	}
	// Before the nodes are written, only the committed State can read them.
	if _, err := g.OpenState(db, root); err == nil {
		t.Fatal("opened a root whose nodes are not in the NodeDB")
	}
	if got := mustAccount(t, s, Address{5}); got.Balance != 9 {
		t.Fatalf("account after commit = %+v", got)
	}
	db.PutAll(nodes)
	r, err := g.OpenState(db, root)
	if err != nil {
		t.Fatal(err)
	}
	if got := mustAccount(t, r, Address{5}); got.Balance != 9 {
		t.Fatalf("reopened account = %+v", got)
	}
	// The old root is still readable (nothing is pruned).
	old, err := g.OpenState(db, genesisRoot)
	if err != nil {
		t.Fatal(err)
	}
	if got := mustAccount(t, old, Address{5}); got != (Account{}) {
		t.Fatalf("genesis state has %+v", got)
	}
}

// TestMissingNodeIsAnError: a NodeDB without the state's nodes gives errors,
// never panics or wrong answers.
func TestMissingNodeIsAnError(t *testing.T) {
	s, g, _ := newTestState(t)
	root := s.Root()
	empty := NewMemNodeDB()
	if _, err := g.OpenState(empty, root); !errors.Is(err, ErrNodeNotFound) {
		t.Fatalf("OpenState over empty db = %v; want ErrNodeNotFound", err)
	}
	// A corrupt node is caught when verification is on.
	db := NewMemNodeDB()
	_, nodes, _ := func() (Hash, map[Hash][]byte, error) {
		s2, _ := GenesisState(g, db)
		return s2.Commit()
	}()
	for h := range nodes {
		db.Put(h, []byte{0xc0})
	}
	s3, err := OpenState(db, EmptyRoot)
	if err != nil {
		t.Fatal(err)
	}
	s3.SetVerifyNodes(true)
	s3.reader.pinned = nil
	s3.trie, err = newTrieForTest(s3, root)
	if !errors.Is(err, ErrCorruptNode) {
		t.Fatalf("corrupt root node: %v; want ErrCorruptNode", err)
	}
}

func TestCopyIsIndependent(t *testing.T) {
	s, _, _ := newTestState(t)
	c := s.Copy()
	if c.Root() != s.Root() {
		t.Fatal("copy has another root")
	}
	if _, err := s.Apply([]CheckedTx{checked(t, 100, Tx{To: Address{5}, Amount: 9})}); err != nil {
		t.Fatal(err)
	}
	if got := mustAccount(t, c, Address{5}); got != (Account{}) {
		t.Fatalf("copy sees the original's change: %+v", got)
	}
	c2 := s.Copy() // with pending changes
	if c2.Root() != s.Root() || mustAccount(t, c2, Address{5}).Balance != 9 {
		t.Fatal("copy with pending changes differs")
	}
	if c2.FeeCollector() != s.FeeCollector() {
		t.Fatal("copy lost the fee collector")
	}
}

func TestForEachAccount(t *testing.T) {
	s, g, _ := newTestState(t)
	want := make([]Address, 0, len(g.Alloc))
	for _, a := range g.Alloc {
		want = append(want, a.Address)
	}
	slices.SortFunc(want, compareAddress)
	var got []Address
	if err := s.ForEachAccount(Address{}, func(a Address, _ Account) bool { got = append(got, a); return true }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("walk = %v; want %v", got, want)
	}
	got = nil
	if err := s.ForEachAccount(want[2], func(a Address, _ Account) bool { got = append(got, a); return len(got) < 2 }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want[2:4]) {
		t.Fatalf("walk from %s, 2 accounts = %v; want %v", want[2], got, want[2:4])
	}
}

// TestCommitIsIncremental: committing one transfer in a state of 5,000
// accounts writes a handful of nodes (the touched paths), not the state.
func TestCommitIsIncremental(t *testing.T) {
	s, db := buildBenchState(t, 5000)
	rs, err := s.Apply([]CheckedTx{{Tx: Tx{To: benchAddress(1), Amount: 1}, Hash: Hash{1}, Sender: benchAddress(2)}})
	if err != nil || rs[0].Status != StatusOK {
		t.Fatal(err, rs)
	}
	_, nodes, err := s.Commit()
	if err != nil {
		t.Fatal(err)
	}
	// 3 accounts (sender, recipient, collector) x depth <= 4 nodes each.
	if len(nodes) > 12 || db.Len() < 5000 {
		t.Fatalf("one transfer wrote %d nodes (state has %d)", len(nodes), db.Len())
	}
}

type rootVector struct {
	Name string `json:"name"`
	Root string `json:"root"`
}

// TestStateRootGolden pins the empty root, the genesis root of testGenesis,
// and the root after a fixed epoch.
func TestStateRootGolden(t *testing.T) {
	s, _, _ := newTestState(t)
	genesisRoot := s.Root()
	rs, err := s.Apply([]CheckedTx{
		checked(t, 100, Tx{To: testAddr(t, 101), Amount: 10, Fee: 1}),
		checked(t, 101, Tx{To: Address{0xab}, Amount: 20, Fee: 2}),
		checked(t, 100, Tx{To: testAddr(t, 101), Amount: 10, Fee: 1, Nonce: 5}),
	})
	if err != nil {
		t.Fatal(err)
	}
	root, _, err := s.Commit()
	if err != nil {
		t.Fatal(err)
	}
	hashes := make([]Hash, len(rs))
	for i := range rs {
		hashes[i] = rs[i].TxHash
	}
	golden(t, "state_roots.json", []rootVector{
		{"empty", EmptyRoot.Hex()},
		{"genesis", genesisRoot.Hex()},
		{"after_epoch", root.Hex()},
		{"epoch_tx_root", TxRoot(hashes).Hex()},
		{"epoch_receipts_root", ReceiptsRoot(rs).Hex()},
	})
}

// FuzzVerifyProof feeds arbitrary proofs (untrusted client input) to
// VerifyProof: it must never panic, and must never claim an account exists
// unless the proof really shows it.
func FuzzVerifyProof(f *testing.F) {
	g := testGenesis(f, 1)
	db := NewMemNodeDB()
	s, err := GenesisState(g, db)
	if err != nil {
		f.Fatal(err)
	}
	root := s.Root()
	want := make(map[Address]uint64)
	for _, a := range g.Alloc {
		want[a.Address] = a.Balance
		p, err := s.Prove(a.Address)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(a.Address[:], joinProof(p))
	}
	p, _ := s.Prove(Address{1})
	f.Add(Address{1}.Bytes(), joinProof(p))
	f.Fuzz(func(t *testing.T, addr []byte, joined []byte) {
		var a Address
		copy(a[:], addr)
		acct, exists, err := VerifyProof(root, a, splitProof(joined))
		if err != nil {
			return
		}
		if exists && (acct.Balance != want[a] || acct.Nonce != 0) {
			t.Fatalf("proof claims %s has %+v", a, acct)
		}
		if !exists && want[a] != 0 {
			t.Fatalf("proof claims %s is absent", a)
		}
	})
}

// joinProof and splitProof pack a proof into one fuzzable byte string:
// each node is prefixed by its length in two bytes.
func joinProof(p Proof) []byte {
	var b []byte
	for _, n := range p {
		b = append(b, byte(len(n)>>8), byte(len(n)))
		b = append(b, n...)
	}
	return b
}

func splitProof(b []byte) Proof {
	var p Proof
	for len(b) >= 2 {
		n := int(b[0])<<8 | int(b[1])
		b = b[2:]
		n = min(n, len(b))
		p = append(p, b[:n])
		b = b[n:]
	}
	return p
}
