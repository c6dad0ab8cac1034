package mpt

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethdb/memorydb"
	"github.com/ethereum/go-ethereum/rlp"
	"github.com/ethereum/go-ethereum/trie"
	"github.com/ethereum/go-ethereum/triedb/database"
)

var seedFlag = flag.Uint64("mpt.seed", 0, "run the randomized tests with this seed only")

var errMissing = errors.New("node not in memDB")

// memDB is a node store for both tries: geth's NodeDatabase and a Reader.
type memDB map[Hash][]byte

func (m memDB) NodeReader(Hash) (database.NodeReader, error) { return m, nil }

func (m memDB) Node(_ common.Hash, _ []byte, h common.Hash) ([]byte, error) {
	return m.read(h)
}

func (m memDB) read(h Hash) ([]byte, error) {
	if b, ok := m[h]; ok {
		return b, nil
	}
	return nil, fmt.Errorf("%w: %x", errMissing, h[:])
}

// keyGen describes one randomized workload.
type keyGen struct {
	name     string
	keys     func(rng *rand.Rand) []byte
	values   func(rng *rand.Rand) []byte
	batches  int
	batchLen int
}

func smallAlphabetKey(alphabet []byte, n int) func(*rand.Rand) []byte {
	return func(rng *rand.Rand) []byte {
		k := make([]byte, n)
		for i := range k {
			k[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return k
	}
}

func randomValue(maxLen int) func(*rand.Rand) []byte {
	return func(rng *rand.Rand) []byte {
		v := make([]byte, 1+rng.IntN(maxLen))
		for i := range v {
			v[i] = byte(rng.Uint32())
		}
		if rng.IntN(4) == 0 {
			v = v[:1] // single bytes, some < 0x80: RLP's one-byte form
			v[0] &= 0x7f
			if v[0] == 0 {
				v[0] = 1
			}
		}
		return v
	}
}

var workloads = []keyGen{
	// Few 3-byte keys sharing prefixes, short values: embedded nodes,
	// extension splits and merges, collapses to the root.
	{"tiny", smallAlphabetKey([]byte{0x00, 0x01, 0x10, 0x11, 0xf0}, 3), randomValue(6), 60, 4},
	{"small-prefixes", smallAlphabetKey([]byte{0x00, 0x01, 0x02, 0x10, 0x12, 0x20, 0xff}, 4), randomValue(40), 40, 12},
	// Keys of different lengths: values in branch value slots.
	{"varlen", func(rng *rand.Rand) []byte {
		return smallAlphabetKey([]byte{0x00, 0x01, 0x11, 0x12}, 1+rng.IntN(3))(rng)
	}, randomValue(34), 40, 6},
	// 32-byte keys (geth's hashed keys): leaves below the root have
	// 32-byte compact keys, whose RLP starts like a hash reference.
	{"key32", func(rng *rand.Rand) []byte {
		k := make([]byte, 32)
		for i := range k {
			k[i] = byte(rng.Uint32())
		}
		return k
	}, randomValue(40), 10, 6},
	// The ledger's shape: 20-byte random keys, 16-byte values.
	{"accounts", func(rng *rand.Rand) []byte { return smallAlphabetKey(nil, 0)(rng) }, randomValue(16), 12, 400},
}

func init() {
	// accounts keys: 20 random bytes, with a shared 2-byte prefix for a
	// quarter of them (deep extension nodes).
	workloads[4].keys = func(rng *rand.Rand) []byte {
		k := make([]byte, 20)
		for i := range k {
			k[i] = byte(rng.Uint32())
		}
		if rng.IntN(4) == 0 {
			k[0], k[1] = 0xab, 0xcd
		}
		return k
	}
	workloads[4].values = func(rng *rand.Rand) []byte {
		v := make([]byte, 16)
		for i := range v {
			v[i] = byte(rng.Uint32())
		}
		return v
	}
}

func seeds(n uint64) []uint64 {
	if *seedFlag != 0 {
		return []uint64{*seedFlag}
	}
	s := make([]uint64, n)
	for i := range s {
		s[i] = uint64(i + 1)
	}
	return s
}

// differ runs both tries side by side.
type differ struct {
	t      *testing.T
	seed   uint64
	rng    *rand.Rand
	gdb    memDB
	mdb    memDB
	geth   *trie.Trie
	mine   *Trie
	model  map[string][]byte
	used   [][]byte // keys ever used, for updates/deletes/absent gets
	commit int
}

func newDiffer(t *testing.T, seed uint64) *differ {
	d := &differ{t: t, seed: seed, rng: rand.New(rand.NewPCG(seed, 0x6d7074)),
		gdb: memDB{}, mdb: memDB{}, model: map[string][]byte{}}
	var err error
	if d.geth, err = trie.New(trie.TrieID(EmptyRoot), d.gdb); err != nil {
		t.Fatal(err)
	}
	if d.mine, err = New(EmptyRoot, d.mdb.read); err != nil {
		t.Fatal(err)
	}
	d.mine.SetKeepDepth(d.rng.IntN(7))
	return d
}

func (d *differ) fatalf(format string, args ...any) {
	d.t.Helper()
	d.t.Fatalf("seed %d (rerun with -mpt.seed=%d), commit %d, keep depth %d: %s",
		d.seed, d.seed, d.commit, d.mine.KeepDepth(), fmt.Sprintf(format, args...))
}

func (d *differ) update(k, v []byte) {
	d.t.Helper()
	if err := d.geth.Update(k, v); err != nil {
		d.fatalf("geth update: %v", err)
	}
	if err := d.mine.Update(k, v); err != nil {
		d.fatalf("update %x: %v", k, err)
	}
	d.model[string(k)] = v
}

func (d *differ) del(k []byte) {
	d.t.Helper()
	if err := d.geth.Delete(k); err != nil {
		d.fatalf("geth delete: %v", err)
	}
	if err := d.mine.Delete(k); err != nil {
		d.fatalf("delete %x: %v", k, err)
	}
	delete(d.model, string(k))
}

func (d *differ) randomOps(w keyGen) {
	d.t.Helper()
	for range w.batchLen {
		switch r := d.rng.IntN(10); {
		case r < 5 || len(d.used) == 0:
			k := w.keys(d.rng)
			d.used = append(d.used, k)
			d.update(k, w.values(d.rng))
		case r < 7:
			d.update(d.used[d.rng.IntN(len(d.used))], w.values(d.rng))
		case r < 8:
			// Rewrite the same value: no change, nothing to commit.
			k := d.used[d.rng.IntN(len(d.used))]
			if v, ok := d.model[string(k)]; ok {
				d.update(k, bytes.Clone(v))
			}
		default:
			d.del(d.used[d.rng.IntN(len(d.used))])
		}
	}
}

func (d *differ) checkHash() Hash {
	d.t.Helper()
	gh, mh := d.geth.Hash(), d.mine.Hash()
	if gh != mh {
		d.fatalf("root %x, geth %x", mh, gh)
	}
	return gh
}

func (d *differ) checkGets(tr *Trie) {
	d.t.Helper()
	for _, k := range d.used {
		want := d.model[string(k)]
		got, err := tr.Get(k)
		if err != nil {
			d.fatalf("get %x: %v", k, err)
		}
		if !bytes.Equal(got, want) {
			d.fatalf("get %x = %x, want %x", k, got, want)
		}
		if gv, _ := d.geth.Get(k); !bytes.Equal(gv, want) {
			d.fatalf("geth get %x = %x, model %x", k, gv, want)
		}
	}
}

// gethProof returns geth's proof of k as a list, in write order.
type proofList struct{ nodes [][]byte }

func (p *proofList) Put(_ []byte, v []byte) error {
	p.nodes = append(p.nodes, bytes.Clone(v))
	return nil
}
func (p *proofList) Delete([]byte) error { return nil }

func (d *differ) checkProofs(root Hash, n int) {
	d.t.Helper()
	for range n {
		var k []byte
		if len(d.used) > 0 && d.rng.IntN(4) != 0 {
			k = d.used[d.rng.IntN(len(d.used))]
		} else {
			k = []byte{byte(d.rng.Uint32()), byte(d.rng.Uint32()), 7}
		}
		var gp proofList
		if err := d.geth.Prove(k, &gp); err != nil {
			d.fatalf("geth prove: %v", err)
		}
		mp, err := d.mine.Prove(k)
		if err != nil {
			d.fatalf("prove %x: %v", k, err)
		}
		if len(mp) != len(gp.nodes) {
			d.fatalf("proof of %x has %d nodes, geth's %d", k, len(mp), len(gp.nodes))
		}
		for i := range mp {
			if !bytes.Equal(mp[i], gp.nodes[i]) {
				d.fatalf("proof of %x node %d = %x, geth %x", k, i, mp[i], gp.nodes[i])
			}
		}
		if root == EmptyRoot {
			continue
		}
		db := memorydb.New()
		for _, n := range mp {
			_ = db.Put(keccak(n), n)
		}
		v, err := trie.VerifyProof(root, k, db)
		if err != nil {
			d.fatalf("geth rejects proof of %x: %v", k, err)
		}
		if !bytes.Equal(v, d.model[string(k)]) {
			d.fatalf("proof of %x proves %x, want %x", k, v, d.model[string(k)])
		}
	}
}

func keccak(b []byte) []byte { return crypto.Keccak256(b) }

type kv struct{ k, v []byte }

func collectMine(tr *Trie, start []byte, limit int) ([]kv, error) {
	var out []kv
	err := tr.Iterate(start, func(k, v []byte) bool {
		out = append(out, kv{bytes.Clone(k), bytes.Clone(v)})
		return len(out) < limit
	})
	return out, err
}

func collectGeth(tr *trie.Trie, start []byte, limit int) ([]kv, error) {
	nit, err := tr.NodeIterator(start)
	if err != nil {
		return nil, err
	}
	it := trie.NewIterator(nit)
	var out []kv
	for len(out) < limit && it.Next() {
		out = append(out, kv{bytes.Clone(it.Key), bytes.Clone(it.Value)})
	}
	return out, it.Err
}

func (d *differ) checkIterate() {
	d.t.Helper()
	starts := [][]byte{nil, {0x00}, {0x10, 0x01}, {0x80}, {0xff, 0xff}}
	if len(d.used) > 0 {
		k := d.used[d.rng.IntN(len(d.used))]
		starts = append(starts, k, k[:len(k)/2])
	}
	for _, s := range starts {
		limit := 1 << 30
		if d.rng.IntN(2) == 0 {
			limit = 1 + d.rng.IntN(20)
		}
		g, err := collectGeth(d.geth, s, limit)
		if err != nil {
			d.fatalf("geth iterate: %v", err)
		}
		m, err := collectMine(d.mine, s, limit)
		if err != nil {
			d.fatalf("iterate from %x: %v", s, err)
		}
		if len(g) != len(m) {
			d.fatalf("iterate from %x (limit %d): %d entries, geth %d", s, limit, len(m), len(g))
		}
		for i := range g {
			if !bytes.Equal(g[i].k, m[i].k) || !bytes.Equal(g[i].v, m[i].v) {
				d.fatalf("iterate from %x: entry %d = %x:%x, geth %x:%x", s, i, m[i].k, m[i].v, g[i].k, g[i].v)
			}
		}
	}
}

// commitBoth commits both tries, compares roots and node sets, stores the
// nodes and reopens geth's trie (which cannot be reused after Commit).
func (d *differ) commitBoth() Hash {
	d.t.Helper()
	d.commit++
	gRoot, set := d.geth.Commit(false)
	want := map[Hash][]byte{}
	if set != nil {
		for _, n := range set.Nodes {
			if !n.IsDeleted() {
				want[n.Hash] = n.Blob
			}
		}
	}
	mRoot, got := d.mine.Commit()
	if gRoot != mRoot {
		d.fatalf("commit root %x, geth %x", mRoot, gRoot)
	}
	for h, b := range want {
		if gb, ok := got[h]; !ok {
			d.fatalf("commit lacks node %x (%x); got %d nodes, geth %d", h, b, len(got), len(want))
		} else if !bytes.Equal(gb, b) {
			d.fatalf("node %x = %x, geth %x", h, gb, b)
		}
	}
	for h, b := range got {
		if _, ok := want[h]; !ok {
			d.fatalf("commit has extra node %x (%x); got %d nodes, geth %d", h, b, len(got), len(want))
		}
		if !bytes.Equal(keccak(b), h[:]) {
			d.fatalf("node %x does not hash to its key", h)
		}
	}
	maps.Copy(d.gdb, want)
	maps.Copy(d.mdb, got)
	var err error
	if d.geth, err = trie.New(trie.TrieID(gRoot), d.gdb); err != nil {
		d.fatalf("geth reopen: %v", err)
	}
	// A second commit without changes stores nothing.
	if r2, again := d.mine.Commit(); r2 != mRoot || len(again) != 0 {
		d.fatalf("idle commit: root %x, %d nodes", r2, len(again))
	}
	return mRoot
}

func TestDifferential(t *testing.T) {
	for _, w := range workloads {
		t.Run(w.name, func(t *testing.T) {
			n := uint64(40)
			if testing.Short() {
				n = 8
			}
			for _, seed := range seeds(n) {
				d := newDiffer(t, seed)
				for b := range w.batches {
					if d.rng.IntN(2) == 0 && len(d.used) > 0 {
						// Decode paths in parallel first (the store is
						// only read meanwhile).
						keys := make([][]byte, 0, 50)
						for range 50 {
							keys = append(keys, d.used[d.rng.IntN(len(d.used))])
						}
						d.mine.Prefetch(keys, d.mdb.read)
					}
					d.randomOps(w)
					root := d.checkHash()
					if d.rng.IntN(3) == 0 {
						d.checkProofs(root, 4)
					}
					if d.rng.IntN(3) == 0 {
						d.checkIterate()
					}
					if d.rng.IntN(2) == 0 || b == w.batches-1 {
						root = d.commitBoth()
						d.checkGets(d.mine)
						d.checkProofs(root, 4)
						// Reopen from the store: same content.
						re, err := New(root, d.mdb.read)
						if err != nil {
							d.fatalf("reopen: %v", err)
						}
						if re.Hash() != root {
							d.fatalf("reopened root %x", re.Hash())
						}
						if d.rng.IntN(4) == 0 {
							d.checkGets(re)
						}
					}
				}
				d.checkIterate()
				// Delete everything: back to the empty root.
				for _, k := range d.used {
					d.del(k)
				}
				if d.checkHash() != EmptyRoot {
					d.fatalf("not empty after deleting every key")
				}
				d.commitBoth()
			}
		})
	}
}

// TestStackTrieBuild: go-ethereum's StackTrie (node/export.go's sorted
// build) and this trie agree on the root and on every stored node, and a
// trie opened on the StackTrie's nodes keeps agreeing with geth's.
func TestStackTrieBuild(t *testing.T) {
	for _, seed := range seeds(6) {
		rng := rand.New(rand.NewPCG(seed, 1))
		n := []int{1, 2, 17, 300, 3000, 10000}[int(seed-1)%6]
		keys := map[string][]byte{}
		for len(keys) < n {
			k := make([]byte, 20)
			for i := range k {
				k[i] = byte(rng.Uint32())
			}
			if rng.IntN(8) == 0 {
				k[0], k[1], k[2] = 1, 2, 3
			}
			keys[string(k)] = workloads[4].values(rng)
		}
		stdb := memDB{}
		st := trie.NewStackTrie(func(_ []byte, h common.Hash, blob []byte) { stdb[h] = bytes.Clone(blob) })
		mine, _ := New(EmptyRoot, nil)
		for _, k := range slices.Sorted(maps.Keys(keys)) {
			if err := st.Update([]byte(k), keys[k]); err != nil {
				t.Fatal(err)
			}
			if err := mine.Update([]byte(k), keys[k]); err != nil {
				t.Fatal(err)
			}
		}
		stRoot := st.Hash()
		root, nodes := mine.Commit()
		if root != stRoot {
			t.Fatalf("seed %d: root %x, StackTrie %x", seed, root, stRoot)
		}
		if len(nodes) != len(stdb) {
			t.Fatalf("seed %d: %d nodes, StackTrie %d", seed, len(nodes), len(stdb))
		}
		for h, b := range nodes {
			if !bytes.Equal(stdb[h], b) {
				t.Fatalf("seed %d: node %x differs from the StackTrie's", seed, h)
			}
		}
		// Continue on the StackTrie's store with both tries.
		d := newDiffer(t, seed)
		d.mdb, d.gdb = maps.Clone(stdb), maps.Clone(stdb)
		var err error
		if d.mine, err = New(stRoot, d.mdb.read); err != nil {
			t.Fatal(err)
		}
		if d.geth, err = trie.New(trie.TrieID(stRoot), d.gdb); err != nil {
			t.Fatal(err)
		}
		for k, v := range keys {
			d.model[k] = v
			d.used = append(d.used, []byte(k))
		}
		for range 3 {
			d.randomOps(workloads[4])
			d.checkHash()
			d.commitBoth()
			d.checkProofs(d.mine.Hash(), 5)
		}
		d.checkGets(d.mine)
	}
}

// TestKeepDepth: after Commit only the nodes above the keep depth stay
// decoded, and the trie reads the others again through the reader.
func TestKeepDepth(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	db := memDB{}
	tr, keys := randomTrie(t, rng, db, 5000, "value-of-sixteen")
	for keep := 0; keep <= 5; keep++ {
		tr.SetKeepDepth(keep)
		root, nodes := tr.Commit()
		maps.Copy(db, nodes)
		if d := maxDecodedDepth(tr.root, 0); d >= keep {
			t.Fatalf("keep %d: decoded node at depth %d", keep, d)
		}
		before := tr.Stats().Resolved
		for _, k := range keys[:100] {
			if v, err := tr.Get(k); err != nil || string(v) != "value-of-sixteen" {
				t.Fatalf("keep %d: get %x = %q, %v", keep, k, v, err)
			}
		}
		if resolved := tr.Stats().Resolved - before; keep < 4 && resolved == 0 {
			t.Fatalf("keep %d: gets resolved nothing", keep)
		}
		if tr.Hash() != root {
			t.Fatal("root changed")
		}
	}
	// Reads below the keep depth are dropped by the next Commit.
	tr.SetKeepDepth(2)
	tr.Commit()
	tr.SetKeepDepth(4)
	for _, k := range keys {
		if _, err := tr.Get(k); err != nil {
			t.Fatal(err)
		}
	}
	tr.Commit()
	if d := maxDecodedDepth(tr.root, 0); d != 3 {
		t.Fatalf("after reading everything, decoded depth %d, want 3", d)
	}
}

// randomTrie returns an uncommitted trie reading from db with n random
// ledger-sized keys (workloads[4]) set to value, and the keys.
func randomTrie(t *testing.T, rng *rand.Rand, db memDB, n int, value string) (*Trie, [][]byte) {
	t.Helper()
	tr, err := New(EmptyRoot, db.read)
	if err != nil {
		t.Fatal(err)
	}
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = workloads[4].keys(rng)
		if err := tr.Update(keys[i], []byte(value)); err != nil {
			t.Fatal(err)
		}
	}
	return tr, keys
}

// maxDecodedDepth returns the greatest depth of a decoded hashed node (a
// node that could be a hash reference instead), -1 if none.
func maxDecodedDepth(n node, depth int) int {
	best := -1
	switch n := n.(type) {
	case *fullNode:
		if n.flag.refLen == 32 {
			best = depth
		}
		for i := 0; i < 16; i++ {
			best = max(best, maxDecodedDepth(n.children[i], depth+1))
		}
	case *shortNode:
		if n.flag.refLen == 32 {
			best = depth
		}
		best = max(best, maxDecodedDepth(n.val, depth+len(n.key)))
	}
	return best
}

// TestErrors: missing and corrupt nodes give errors from every operation,
// and a failed operation leaves the trie as it was.
func TestErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	db := memDB{}
	tr, keys := randomTrie(t, rng, db, 500, "0123456789abcdef")
	root, nodes := tr.Commit()
	maps.Copy(db, nodes)

	if _, err := New(root, memDB{}.read); !errors.Is(err, errMissing) {
		t.Fatalf("open over an empty store: %v", err)
	}
	if _, err := New(root, func(Hash) ([]byte, error) { return []byte{0xc0}, nil }); !errors.Is(err, ErrBadNode) {
		t.Fatalf("open over a corrupt root: %v", err)
	}
	for _, mode := range []string{"missing", "corrupt"} {
		bad := maps.Clone(db)
		for h := range bad {
			if h == root {
				continue
			}
			if mode == "missing" {
				delete(bad, h)
			} else {
				bad[h] = []byte{0xc2, 0x80, 0x80} // a 2-element list with an empty key
			}
		}
		want := errMissing
		if mode == "corrupt" {
			want = ErrBadNode
		}
		tr, err := New(root, bad.read)
		if err != nil {
			t.Fatal(err)
		}
		tr.SetKeepDepth(0)
		k := keys[0]
		if _, err := tr.Get(k); !errors.Is(err, want) {
			t.Fatalf("%s: get: %v", mode, err)
		}
		if err := tr.Update(k, []byte("x")); !errors.Is(err, want) {
			t.Fatalf("%s: update: %v", mode, err)
		}
		if err := tr.Delete(k); !errors.Is(err, want) {
			t.Fatalf("%s: delete: %v", mode, err)
		}
		if _, err := tr.Prove(k); !errors.Is(err, want) {
			t.Fatalf("%s: prove: %v", mode, err)
		}
		if err := tr.Iterate(nil, func(_, _ []byte) bool { return true }); !errors.Is(err, want) {
			t.Fatalf("%s: iterate: %v", mode, err)
		}
		if tr.Hash() != root {
			t.Fatalf("%s: failed operations changed the root", mode)
		}
		if r, n := tr.Commit(); r != root || len(n) != 0 {
			t.Fatalf("%s: failed operations left something to commit", mode)
		}
	}

	// A delete whose collapse needs a missing sibling fails and changes
	// nothing: two keys under one branch, the sibling's node missing.
	db2 := memDB{}
	tr2, _ := New(EmptyRoot, db2.read)
	a, b := bytes.Repeat([]byte{0x11}, 20), bytes.Repeat([]byte{0x11}, 20)
	b[19] = 0x12
	// 40-byte values: the leaves are stored nodes, not embedded.
	_ = tr2.Update(a, bytes.Repeat([]byte{1}, 40))
	_ = tr2.Update(b, bytes.Repeat([]byte{2}, 40))
	root2, nodes2 := tr2.Commit()
	maps.Copy(db2, nodes2)
	tr3, _ := New(root2, db2.read)
	// Resolve a's leaf, then drop b's.
	if _, err := tr3.Get(a); err != nil {
		t.Fatal(err)
	}
	for h, blob := range db2 {
		if bytes.Contains(blob, bytes.Repeat([]byte{2}, 40)) {
			delete(db2, h)
		}
	}
	if err := tr3.Delete(a); !errors.Is(err, errMissing) {
		t.Fatalf("delete needing a missing sibling: %v", err)
	}
	if tr3.Hash() != root2 {
		t.Fatal("failed delete changed the root")
	}
	if v, _ := tr3.Get(a); !bytes.Equal(v, bytes.Repeat([]byte{1}, 40)) {
		t.Fatal("failed delete lost the key")
	}
}

// TestEncodingVectors pins a few encodings to go-ethereum's.
func TestEncodingVectors(t *testing.T) {
	for _, keys := range [][]string{{"a"}, {"a", "b"}, {"do", "dog", "doge", "horse"}, {"\x00"}} {
		g, _ := trie.New(trie.TrieID(EmptyRoot), memDB{})
		m, _ := New(EmptyRoot, nil)
		for _, k := range keys {
			_ = g.Update([]byte(k), []byte("v-"+k))
			_ = m.Update([]byte(k), []byte("v-"+k))
		}
		if g.Hash() != m.Hash() {
			t.Fatalf("%q: root %x, geth %x", keys, m.Hash(), g.Hash())
		}
		// Proofs, including those of a root shorter than 32 bytes.
		for _, k := range append(keys, "absent", "") {
			var gp proofList
			if err := g.Prove([]byte(k), &gp); err != nil {
				t.Fatal(err)
			}
			mp, err := m.Prove([]byte(k))
			if err != nil {
				t.Fatal(err)
			}
			if len(mp) != len(gp.nodes) || (len(mp) > 0 && !bytes.Equal(bytes.Join(mp, nil), bytes.Join(gp.nodes, nil))) {
				t.Fatalf("%q: proof of %q = %x, geth %x", keys, k, mp, gp.nodes)
			}
		}
	}
}

// FuzzDecodeNode: arbitrary blobs never make the decoder (or operations
// on a trie whose root is the decoded node) panic; accepted leaves and
// branches re-encode to the input.
func FuzzDecodeNode(f *testing.F) {
	rng := rand.New(rand.NewPCG(1, 2))
	tr, _ := New(EmptyRoot, nil)
	for range 300 {
		k := workloads[1].keys(rng)
		_ = tr.Update(k, workloads[1].values(rng))
	}
	_, nodes := tr.Commit()
	for _, b := range nodes {
		f.Add(b)
	}
	f.Add([]byte{0xc0})
	f.Add([]byte{0xc2, 0x20, 0x01})
	f.Fuzz(func(t *testing.T, blob []byte) {
		h := Hash(keccak(blob))
		n, err := decodeStored(h, blob)
		if err != nil {
			if !errors.Is(err, ErrBadNode) {
				t.Fatalf("error %v does not match ErrBadNode", err)
			}
			return
		}
		tr := &Trie{h: newHasher(4), reader: func(Hash) ([]byte, error) { return nil, errMissing }}
		tr.root = n
		tr.h.hash(n)
		enc := tr.h.encode(n)
		_, _, rest, err := rlp.Split(blob)
		if err != nil {
			t.Fatalf("decoded a blob that does not split: %v", err)
		}
		if list := blob[:len(blob)-len(rest)]; !bytes.Equal(enc, list) {
			t.Fatalf("decoded %x re-encodes to %x", list, enc)
		}
		if tr.Hash() != h {
			t.Fatal("root hash is not the stored hash")
		}
		for _, k := range [][]byte{nil, {0}, {0x12, 0x34}, bytes.Repeat([]byte{0xab}, 20)} {
			_, _ = tr.Get(k)
			_, _ = tr.Prove(k)
		}
		_ = tr.Iterate(nil, func(_, _ []byte) bool { return true })
		_ = tr.Update([]byte{1, 2}, []byte{3})
		_ = tr.Delete([]byte{0x12, 0x34})
		tr.Commit()
	})
}
