package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

func openTest(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(dir, testOptions())
	if err != nil {
		t.Fatalf("Open(%s) = %v", dir, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func hashOf(parts ...any) common.Hash {
	var b []byte
	for _, p := range parts {
		switch v := p.(type) {
		case string:
			b = append(b, v...)
		case uint64:
			b = binary.BigEndian.AppendUint64(b, v)
		case int:
			b = binary.BigEndian.AppendUint64(b, uint64(v))
		default:
			panic("hashOf: unsupported part")
		}
	}
	return crypto.Keccak256Hash(b)
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Options)
		ok   bool
	}{
		{"default", func(*Options) {}, true},
		{"test profile", func(o *Options) { *o = testOptions() }, true},
		{"block cache off", func(o *Options) { o.BlockCacheSize = 0 }, true},
		{"memtable too small", func(o *Options) { o.MemTableSize = 1 << 10 }, false},
		{"no memtables", func(o *Options) { o.NumMemtables = 0 }, false},
		{"negative block cache", func(o *Options) { o.BlockCacheSize = -1 }, false},
		{"unbounded index cache", func(o *Options) { o.IndexCacheSize = 0 }, false},
		{"vlog file too small", func(o *Options) { o.ValueLogFileSize = 1 << 10 }, false},
		{"vlog file too big", func(o *Options) { o.ValueLogFileSize = 2 << 30 }, false},
		{"threshold zero", func(o *Options) { o.ValueThreshold = 0 }, false},
		{"threshold above batch", func(o *Options) { o.ValueThreshold = o.MemTableSize / 5 }, false},
		{"base table tiny", func(o *Options) { o.BaseTableSize = 1 }, false},
		{"table multiplier 0", func(o *Options) { o.TableSizeMultiplier = 0 }, false},
		{"table multiplier 11", func(o *Options) { o.TableSizeMultiplier = 11 }, false},
		{"table multiplier 2", func(o *Options) { o.TableSizeMultiplier = 2 }, true},
		{"no L0", func(o *Options) { o.NumLevelZeroTables = 0 }, false},
		{"stall not above L0", func(o *Options) { o.NumLevelZeroTablesStall = o.NumLevelZeroTables }, false},
		{"one compactor", func(o *Options) { o.NumCompactors = 1 }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := DefaultOptions()
			tc.mod(&o)
			err := o.Validate()
			if tc.ok && err != nil {
				t.Fatalf("Validate() = %v; want nil", err)
			}
			if !tc.ok && !errors.Is(err, ErrInvalidOptions) {
				t.Fatalf("Validate() = %v; want ErrInvalidOptions", err)
			}
			if !tc.ok {
				if _, err := Open(t.TempDir(), o); !errors.Is(err, ErrInvalidOptions) {
					t.Fatalf("Open with bad options = %v; want ErrInvalidOptions", err)
				}
			}
		})
	}
}

// TestStaggered: the first four validators get four different memtable
// sizes, none smaller than the profile's and each valid, and the fifth
// repeats the first (the spread stays bounded).
func TestStaggered(t *testing.T) {
	base := DefaultOptions()
	seen := map[int64]int{}
	for i := 0; i < 4; i++ {
		o := base.Staggered(i)
		if err := o.Validate(); err != nil {
			t.Fatalf("Staggered(%d): %v", i, err)
		}
		if o.MemTableSize < base.MemTableSize || o.MemTableSize > base.MemTableSize*3/2 {
			t.Fatalf("Staggered(%d).MemTableSize = %d; want within [%d, %d]", i, o.MemTableSize, base.MemTableSize, base.MemTableSize*3/2)
		}
		if j, dup := seen[o.MemTableSize]; dup {
			t.Fatalf("Staggered(%d) and Staggered(%d) both have %d-byte memtables", i, j, o.MemTableSize)
		}
		seen[o.MemTableSize] = i
		o.MemTableSize = base.MemTableSize
		if o != base {
			t.Fatalf("Staggered(%d) changed more than the memtable size: %+v", i, o)
		}
	}
	if base.Staggered(4) != base.Staggered(0) {
		t.Fatal("Staggered(4) differs from Staggered(0)")
	}
}

func TestEntries(t *testing.T) {
	s := openTest(t, t.TempDir())
	if seq, err := s.LastEntrySeq(1); err != nil || seq != 0 {
		t.Fatalf("LastEntrySeq(empty) = %d, %v; want 0, nil", seq, err)
	}
	put := func(origin uint32, seq uint64, data string) {
		t.Helper()
		if err := s.PutEntry(origin, seq, []byte(data)); err != nil {
			t.Fatalf("PutEntry(%d, %d) = %v", origin, seq, err)
		}
	}
	put(1, 1, "a")
	put(1, 2, "bb")
	put(1, 4, "dddd") // out of order: gap at 3
	put(2, 1, "x")
	if seq, _ := s.LastEntrySeq(1); seq != 2 {
		t.Fatalf("LastEntrySeq(1) with gap at 3 = %d; want 2", seq)
	}
	put(1, 3, "ccc") // fills the gap; high jumps to 4
	if seq, _ := s.LastEntrySeq(1); seq != 4 {
		t.Fatalf("LastEntrySeq(1) after filling gap = %d; want 4", seq)
	}
	if seq, _ := s.LastEntrySeq(2); seq != 1 {
		t.Fatalf("LastEntrySeq(2) = %d; want 1", seq)
	}
	put(1, 2, "bb") // identical rewrite is fine
	if err := s.PutEntry(1, 2, []byte("other")); !errors.Is(err, ErrExists) {
		t.Fatalf("PutEntry(different bytes) = %v; want ErrExists", err)
	}
	if v, err := s.Entry(1, 3); err != nil || string(v) != "ccc" {
		t.Fatalf("Entry(1,3) = %q, %v; want ccc", v, err)
	}
	if _, err := s.Entry(1, 9); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Entry(1,9) = %v; want ErrNotFound", err)
	}
	put(1, 6, "ffffff")

	tests := []struct {
		name     string
		from, to uint64
		maxBytes int
		want     []string
	}{
		{"all contiguous", 1, 4, 1000, []string{"a", "bb", "ccc", "dddd"}},
		{"stops at gap", 3, 10, 1000, []string{"ccc", "dddd"}},
		{"single", 2, 2, 1000, []string{"bb"}},
		{"bounded by bytes", 1, 4, 2*entryOverhead + 3, []string{"a", "bb"}},
		{"first always returned", 4, 4, 1, []string{"dddd"}},
		{"absent start", 5, 6, 1000, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Entries(1, tc.from, tc.to, tc.maxBytes)
			if err != nil {
				t.Fatalf("Entries = %v", err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("Entries(1, %d, %d, %d) = %q; want %q", tc.from, tc.to, tc.maxBytes, got, tc.want)
			}
			for i := range got {
				if string(got[i]) != tc.want[i] {
					t.Fatalf("Entries(1, %d, %d, %d) = %q; want %q", tc.from, tc.to, tc.maxBytes, got, tc.want)
				}
			}
		})
	}
	bad := []struct {
		name     string
		from, to uint64
		maxBytes int
	}{
		{"zero from", 0, 3, 100},
		{"from after to", 4, 3, 100},
		{"zero budget", 1, 3, 0},
	}
	for _, tc := range bad {
		if _, err := s.Entries(1, tc.from, tc.to, tc.maxBytes); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("Entries %s = %v; want ErrInvalidArgument", tc.name, err)
		}
	}
	for _, seq := range []uint64{0, math.MaxUint64} {
		if err := s.PutEntry(1, seq, nil); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("PutEntry(seq %d) = %v; want ErrInvalidArgument", seq, err)
		}
	}
}

func TestVotesCertificatesMeta(t *testing.T) {
	s := openTest(t, t.TempDir())
	if got, err := s.Votes(3); err != nil || len(got) != 0 {
		t.Fatalf("Votes(empty) = %v, %v; want empty", got, err)
	}
	for v := uint32(0); v < 4; v++ {
		if err := s.PutVote(3, v, []byte{byte(v)}); err != nil {
			t.Fatalf("PutVote = %v", err)
		}
	}
	if err := s.PutVote(4, 0, []byte("next epoch")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutVote(3, 1, []byte{1}); err != nil {
		t.Fatalf("identical PutVote = %v; want nil", err)
	}
	if err := s.PutVote(3, 1, []byte{9}); !errors.Is(err, ErrExists) {
		t.Fatalf("conflicting PutVote = %v; want ErrExists", err)
	}
	got, err := s.Votes(3)
	if err != nil || len(got) != 4 {
		t.Fatalf("Votes(3) = %v, %v; want 4 votes", got, err)
	}
	for v, b := range got {
		if !bytes.Equal(b, []byte{byte(v)}) {
			t.Fatalf("Votes(3)[%d] = %x", v, b)
		}
	}
	if _, err := s.Certificate(3); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Certificate(absent) = %v; want ErrNotFound", err)
	}
	for _, c := range []string{"cert-a", "cert-b"} {
		if err := s.PutCertificate(3, []byte(c)); err != nil {
			t.Fatal(err)
		}
	}
	if c, err := s.Certificate(3); err != nil || string(c) != "cert-b" {
		t.Fatalf("Certificate(3) = %q, %v; want cert-b", c, err)
	}
	if err := s.PutMeta("k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Meta("k"); err != nil || string(v) != "v" {
		t.Fatalf("Meta(k) = %q, %v", v, err)
	}
	if _, err := s.Meta("absent"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Meta(absent) = %v; want ErrNotFound", err)
	}
	for _, k := range []string{"", string(make([]byte, MaxMetaKeyLen+1))} {
		if err := s.PutMeta(k, nil); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("PutMeta(len %d) = %v; want ErrInvalidArgument", len(k), err)
		}
		if _, err := s.Meta(k); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("Meta(len %d) = %v; want ErrInvalidArgument", len(k), err)
		}
	}
}

// testEpoch builds epoch e's content from e alone: nodes (half shared with
// epoch e-1), a tx index with one hash indexed by every epoch, receipts
// large enough for the value log, a checkpoint and meta.
func testEpoch(e uint64, nodes, txs int) EpochCommit {
	c := EpochCommit{
		Epoch:    e,
		Nodes:    make(map[common.Hash][]byte, nodes),
		TxIndex:  make(map[common.Hash][]byte, txs+1),
		Snapshot: []byte("snapshot-" + string(binary.BigEndian.AppendUint64(nil, e))),
		Meta:     map[string][]byte{"last": binary.BigEndian.AppendUint64(nil, e)},
	}
	for i := range nodes {
		src := e
		if i%2 == 1 && e > 0 {
			src = e - 1 // shared with the previous epoch: rewritten, same bytes
		}
		n := testNode(src, i)
		c.Nodes[crypto.Keccak256Hash(n)] = n
	}
	c.StateRoot = testRoot(e, nodes)
	for i := range txs {
		c.TxIndex[hashOf("tx", e, i)] = binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, e), uint64(i))
	}
	c.TxIndex[sharedTx] = binary.BigEndian.AppendUint64(nil, e)
	c.Receipts = bytes.Repeat(binary.BigEndian.AppendUint64(nil, e), 1+txs*5)
	c.Checkpoint = append([]byte("checkpoint-"), binary.BigEndian.AppendUint64(nil, e)...)
	c.CheckpointHash = crypto.Keccak256Hash(c.Checkpoint)
	return c
}

var sharedTx = hashOf("shared-tx")

func testNode(e uint64, i int) []byte {
	seed := hashOf("node", e, i)
	return bytes.Repeat(seed[:], 5)[:150]
}

func testRoot(e uint64, nodes int) common.Hash {
	var b []byte
	for i := range nodes {
		src := e
		if i%2 == 1 && e > 0 {
			src = e - 1
		}
		h := crypto.Keccak256Hash(testNode(src, i))
		b = append(b, h[:]...)
	}
	return crypto.Keccak256Hash(b)
}

// checkEpoch verifies that every part of epoch e is readable and right.
func checkEpoch(t testing.TB, s *Store, e uint64, nodes, txs int) {
	t.Helper()
	want := testEpoch(e, nodes, txs)
	if got, err := s.Checkpoint(e); err != nil || !bytes.Equal(got, want.Checkpoint) {
		t.Fatalf("Checkpoint(%d) = %q, %v; want %q", e, got, err, want.Checkpoint)
	}
	if got, ep, err := s.CheckpointByHash(want.CheckpointHash); err != nil || ep != e || !bytes.Equal(got, want.Checkpoint) {
		t.Fatalf("CheckpointByHash(epoch %d) = %q, %d, %v", e, got, ep, err)
	}
	if got, err := s.Receipts(e); err != nil || !bytes.Equal(got, want.Receipts) {
		t.Fatalf("Receipts(%d) = %d bytes, %v; want %d bytes", e, len(got), err, len(want.Receipts))
	}
	if got, err := s.Snapshot(e); err != nil || !bytes.Equal(got, want.Snapshot) {
		t.Fatalf("Snapshot(%d) = %q, %v", e, got, err)
	}
	for h, v := range want.TxIndex {
		if h == sharedTx {
			continue
		}
		if got, err := s.TxIndex(h); err != nil || !bytes.Equal(got, v) {
			t.Fatalf("TxIndex(epoch %d tx) = %x, %v; want %x", e, got, err, v)
		}
	}
	for h, n := range want.Nodes {
		if got, err := s.Node(h); err != nil || !bytes.Equal(got, n) {
			t.Fatalf("Node(%x) of epoch %d = %d bytes, %v", h, e, len(got), err)
		}
	}
}

// checkAbsent verifies that nothing of epoch e is visible.
func checkAbsent(t testing.TB, s *Store, e uint64, txs int) {
	t.Helper()
	want := testEpoch(e, 0, txs)
	if _, err := s.Checkpoint(e); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Checkpoint(%d above head) = %v; want ErrNotFound", e, err)
	}
	if _, _, err := s.CheckpointByHash(want.CheckpointHash); !errors.Is(err, ErrNotFound) {
		t.Fatalf("CheckpointByHash(%d above head) = %v; want ErrNotFound", e, err)
	}
	if _, err := s.Receipts(e); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Receipts(%d above head) = %v; want ErrNotFound", e, err)
	}
	if _, err := s.Snapshot(e); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Snapshot(%d above head) = %v; want ErrNotFound", e, err)
	}
	for i := range min(txs, 50) {
		if v, err := s.TxIndex(hashOf("tx", e, i)); !errors.Is(err, ErrNotFound) {
			t.Fatalf("TxIndex(tx %d of epoch %d above head) = %x, %v; want ErrNotFound", i, e, v, err)
		}
	}
}

// checkHead verifies the head, the meta and the shared tx that move with it.
func checkHead(t testing.TB, s *Store, e uint64, nodes int) {
	t.Helper()
	h, ok, err := s.Head()
	if err != nil || !ok || h.Epoch != e {
		t.Fatalf("Head() = %+v, %v, %v; want epoch %d", h, ok, err, e)
	}
	want := testEpoch(e, 0, 0)
	if h.CheckpointHash != want.CheckpointHash || h.StateRoot != testRoot(e, nodes) {
		t.Fatalf("Head() = %+v; want checkpoint %x root %x", h, want.CheckpointHash, testRoot(e, nodes))
	}
	if v, err := s.Meta("last"); err != nil || binary.BigEndian.Uint64(v) != e {
		t.Fatalf("Meta(last) = %x, %v; want epoch %d", v, err, e)
	}
	if v, err := s.TxIndex(sharedTx); err != nil || binary.BigEndian.Uint64(v) != e {
		t.Fatalf("TxIndex(shared) = %x, %v; want epoch %d", v, err, e)
	}
}

func TestCommitEpoch(t *testing.T) {
	const nodes, txs = 2000, 1000
	dir := t.TempDir()
	s := openTest(t, dir)
	if _, ok, err := s.Head(); ok || err != nil {
		t.Fatalf("Head() of empty store: ok=%v err=%v; want none", ok, err)
	}
	checkAbsent(t, s, 1, txs)
	if got, err := s.Checkpoints(math.MaxUint64, 10); err != nil || len(got) != 0 {
		t.Fatalf("Checkpoints(empty) = %v, %v", got, err)
	}
	for e := uint64(1); e <= 5; e++ {
		if err := s.CommitEpoch(testEpoch(e, nodes, txs)); err != nil {
			t.Fatalf("CommitEpoch(%d) = %v", e, err)
		}
		checkHead(t, s, e, nodes)
		checkEpoch(t, s, e, nodes, txs)
		checkAbsent(t, s, e+1, txs)
	}
	// Order.
	for _, e := range []uint64{3, 5} {
		if err := s.CommitEpoch(testEpoch(e, 1, 1)); !errors.Is(err, ErrEpochOrder) {
			t.Fatalf("CommitEpoch(%d at head 5) = %v; want ErrEpochOrder", e, err)
		}
	}
	// Pagination, newest first.
	page, err := s.Checkpoints(math.MaxUint64, 2)
	if err != nil || len(page) != 2 || page[0].Epoch != 5 || page[1].Epoch != 4 {
		t.Fatalf("Checkpoints(max, 2) = %+v, %v; want epochs 5, 4", page, err)
	}
	page, err = s.Checkpoints(page[1].Epoch, 10)
	if err != nil || len(page) != 3 || page[0].Epoch != 3 || page[2].Epoch != 1 {
		t.Fatalf("Checkpoints(4, 10) = %+v, %v; want epochs 3..1", page, err)
	}
	if want := testEpoch(3, 0, 0); page[0].Hash != want.CheckpointHash || !bytes.Equal(page[0].Data, want.Checkpoint) {
		t.Fatalf("Checkpoints record = %+v", page[0])
	}
	if _, err := s.Checkpoints(9, 0); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Checkpoints(limit 0) = %v; want ErrInvalidArgument", err)
	}
	// A gap (state sync) is allowed; a header-less epoch has no checkpoint.
	gap := EpochCommit{Epoch: 9, StateRoot: hashOf("root9"), Meta: map[string][]byte{"last": binary.BigEndian.AppendUint64(nil, 9)}}
	if err := s.CommitEpoch(gap); err != nil {
		t.Fatalf("CommitEpoch(9, no header) = %v", err)
	}
	if _, err := s.Checkpoint(9); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Checkpoint(9 without header) = %v; want ErrNotFound", err)
	}
	if r, err := s.Receipts(9); err != nil || len(r) != 0 {
		t.Fatalf("Receipts(9) = %x, %v; want empty", r, err)
	}
	if v, err := s.TxIndex(sharedTx); err != nil || binary.BigEndian.Uint64(v) != 5 {
		t.Fatalf("TxIndex(shared) after 9 = %x, %v; want epoch 5's value", v, err)
	}
	// Survives reopen.
	if err := s.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	s = openTest(t, dir)
	if h, ok, _ := s.Head(); !ok || h.Epoch != 9 || h.StateRoot != hashOf("root9") {
		t.Fatalf("Head() after reopen = %+v, %v", h, ok)
	}
	checkEpoch(t, s, 4, nodes, txs)
}

func TestCommitEpochInvalid(t *testing.T) {
	s := openTest(t, t.TempDir())
	tests := []struct {
		name string
		c    EpochCommit
	}{
		{"header without hash", EpochCommit{Epoch: 1, Checkpoint: []byte("h")}},
		{"hash without header", EpochCommit{Epoch: 1, CheckpointHash: hashOf("x")}},
		{"empty node", EpochCommit{Epoch: 1, Nodes: map[common.Hash][]byte{hashOf("n"): nil}}},
		{"empty meta key", EpochCommit{Epoch: 1, Meta: map[string][]byte{"": nil}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.CommitEpoch(tc.c); !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("CommitEpoch = %v; want ErrInvalidArgument", err)
			}
			if _, ok, _ := s.Head(); ok {
				t.Fatal("head moved after a rejected commit")
			}
		})
	}
	big := EpochCommit{Epoch: 1, Meta: map[string][]byte{}}
	for i := range 5000 {
		big.Meta[hashOf("meta", i).Hex()] = make([]byte, 100)
	}
	if err := s.CommitEpoch(big); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("CommitEpoch(5000 meta keys in a 1 MiB memtable) = %v; want ErrTooLarge", err)
	}
	if _, ok, _ := s.Head(); ok {
		t.Fatal("head moved after a failed commit")
	}
}

// TestLeftoversDropped simulates a commit that wrote its content but died
// before its head update, then a commit of different content at a higher
// epoch: nothing of the unfinished attempt may surface.
func TestLeftoversDropped(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	if err := s.CommitEpoch(testEpoch(1, 10, 10)); err != nil {
		t.Fatal(err)
	}
	ghost := testEpoch(2, 10, 10)
	ghost.TxIndex[hashOf("ghost")] = []byte("ghost")
	if err := s.writeContent(&ghost); err != nil {
		t.Fatalf("writeContent = %v", err)
	}
	checkAbsent(t, s, 2, 10)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, dir)
	next := EpochCommit{Epoch: 3, StateRoot: hashOf("r3")}
	if err := s.CommitEpoch(next); err != nil {
		t.Fatal(err)
	}
	if v, err := s.TxIndex(hashOf("ghost")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("TxIndex(ghost) = %q, %v; want ErrNotFound", v, err)
	}
	for _, e := range []uint64{2} {
		if _, err := s.Receipts(e); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Receipts(%d, never committed) = %v; want ErrNotFound", e, err)
		}
		if _, err := s.Snapshot(e); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Snapshot(%d, never committed) = %v; want ErrNotFound", e, err)
		}
	}
	if v, err := s.TxIndex(sharedTx); err != nil || binary.BigEndian.Uint64(v) != 1 {
		t.Fatalf("TxIndex(shared) = %x, %v; want epoch 1", v, err)
	}
	checkEpoch(t, s, 1, 10, 10)
}

func TestClose(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutMeta("k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		t.Fatalf("Sync = %v", err)
	}
	if err := s.RunGC(2); err != nil {
		t.Fatalf("RunGC = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close = %v; want nil", err)
	}
	calls := map[string]func() error{
		"PutMeta":     func() error { return s.PutMeta("k", nil) },
		"Meta":        func() error { _, err := s.Meta("k"); return err },
		"Node":        func() error { _, err := s.Node(common.Hash{}); return err },
		"PutEntry":    func() error { return s.PutEntry(1, 1, nil) },
		"Entries":     func() error { _, err := s.Entries(1, 1, 1, 10); return err },
		"CommitEpoch": func() error { return s.CommitEpoch(EpochCommit{Epoch: 1}) },
		"Head":        func() error { _, _, err := s.Head(); return err },
		"Receipts":    func() error { _, err := s.Receipts(0); return err },
		"Sync":        s.Sync,
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close = %v; want ErrClosed", name, err)
		}
	}
	// Closed gracefully: reopens with the data.
	s = openTest(t, dir)
	if v, err := s.Meta("k"); err != nil || string(v) != "v" {
		t.Fatalf("Meta after reopen = %q, %v", v, err)
	}
}

func TestOpenLockedInProcess(t *testing.T) {
	dir := t.TempDir()
	openTest(t, dir)
	if _, err := Open(dir, testOptions()); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open = %v; want ErrLocked", err)
	}
}

// dirState maps every file under dir to its content.
func dirState(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		out[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestOpenCorruptOrForeign(t *testing.T) {
	made := func(t *testing.T) string {
		dir := t.TempDir()
		s, err := Open(dir, testOptions())
		if err != nil {
			t.Fatal(err)
		}
		if err := s.CommitEpoch(testEpoch(1, 100, 10)); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	tests := []struct {
		name  string
		setup func(t *testing.T) string
	}{
		{"foreign files", func(t *testing.T) string {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("hello"), 0o644); err != nil {
				t.Fatal(err)
			}
			return dir
		}},
		{"other marker version", func(t *testing.T) string {
			dir := made(t)
			if err := os.WriteFile(filepath.Join(dir, markerFile), []byte("ledgerd-store v999\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			return dir
		}},
		{"garbled memtable record", func(t *testing.T) string {
			dir := made(t)
			if err := os.WriteFile(filepath.Join(dir, memtableFile), []byte("4 MiB"), 0o644); err != nil {
				t.Fatal(err)
			}
			return dir
		}},
		{"badger db without marker", func(t *testing.T) string {
			dir := made(t)
			if err := os.Remove(filepath.Join(dir, markerFile)); err != nil {
				t.Fatal(err)
			}
			return dir
		}},
		{"damaged manifest", func(t *testing.T) string {
			dir := made(t)
			p := filepath.Join(dir, "MANIFEST")
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			for i := 8; i < len(b); i++ {
				b[i] ^= 0x5a
			}
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			return dir
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.setup(t)
			before := dirState(t, dir)
			s, err := Open(dir, testOptions())
			if !errors.Is(err, ErrCorrupt) {
				if s != nil {
					_ = s.Close()
				}
				t.Fatalf("Open = %v; want ErrCorrupt", err)
			}
			after := dirState(t, dir)
			if len(after) != len(before) {
				t.Fatalf("Open changed the file set: %d files before, %d after", len(before), len(after))
			}
			for p, c := range before {
				if after[p] != c {
					t.Fatalf("Open changed %s", p)
				}
			}
		})
	}
}

func TestOpenBadDir(t *testing.T) {
	if _, err := Open("", testOptions()); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Open(\"\") = %v; want ErrInvalidArgument", err)
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(file, testOptions()); err == nil {
		t.Fatal("Open(a regular file) = nil; want an error")
	}
}

// TestOpenAfterEmptyLogs reproduces the debris of a kill between Badger
// creating a memtable or value-log file and sizing it (zero-length files,
// badger#2207): Open must recover, with the data intact.
func TestOpenAfterEmptyLogs(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	if err := s.CommitEpoch(testEpoch(1, 100, 10)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"00099.mem", "000099.vlog"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s = openTest(t, dir)
	checkHead(t, s, 1, 100)
	checkEpoch(t, s, 1, 100, 10)
}

// TestBadgerOptions: the fields Badger has no With method for still reach it.
func TestBadgerOptions(t *testing.T) {
	o := DefaultOptions()
	o.TableSizeMultiplier, o.BaseTableSize = 3, 3<<20
	bo := badgerOptions(t.TempDir(), o, nil)
	if bo.TableSizeMultiplier != 3 || bo.BaseTableSize != 3<<20 {
		t.Fatalf("badger TableSizeMultiplier %d, BaseTableSize %d; want 3 and 3 MiB", bo.TableSizeMultiplier, bo.BaseTableSize)
	}
}

// TestRounds: one round message per (validator, round, kind) is kept (the
// same bytes again succeed, others fail with ErrExists), Rounds lists an
// epoch's in key order, DropRounds forgets every epoch up to one.
func TestRounds(t *testing.T) {
	s := openTest(t, t.TempDir())
	defer s.Close()
	for ep := uint64(1); ep <= 3; ep++ {
		for v := uint32(0); v < 2; v++ {
			if err := s.PutRound(ep, v, 0, 2, []byte{byte(ep), byte(v)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.PutRound(2, 1, 0, 2, []byte{2, 1}); err != nil {
		t.Fatalf("same bytes again: %v", err)
	}
	if err := s.PutRound(2, 1, 0, 2, []byte{9}); !errors.Is(err, ErrExists) {
		t.Fatalf("another message for one slot: %v", err)
	}
	got, err := s.Rounds(2)
	if err != nil || len(got) != 2 || got[0][1] != 0 || got[1][1] != 1 {
		t.Fatalf("Rounds(2) = %v, %v", got, err)
	}
	if err := s.DropRounds(2); err != nil {
		t.Fatal(err)
	}
	for ep, want := range map[uint64]int{1: 0, 2: 0, 3: 2} {
		if got, err := s.Rounds(ep); err != nil || len(got) != want {
			t.Fatalf("after DropRounds(2), epoch %d holds %d, %v; want %d", ep, len(got), err, want)
		}
	}
}
