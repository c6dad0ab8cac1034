package ledger

import (
	"crypto/ecdsa"
	"encoding/binary"
	"flag"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/trie"
)

// benchAddress is the deterministic address of benchmark account i.
func benchAddress(i uint64) Address {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], i)
	return Address(keccak([]byte("bench-account"), b[:]).Bytes()[12:])
}

var benchCollector = Address{0xfe, 0xe0}

// buildBenchState writes n accounts of balance 1e12 into a fresh MemNodeDB
// with go-ethereum's StackTrie (sorted one-pass construction, much cheaper
// than n trie updates plus a commit) and opens the state at its root.
func buildBenchState(tb testing.TB, n uint64) (*State, *MemNodeDB) {
	tb.Helper()
	addrs := make([]Address, n)
	for i := range addrs {
		addrs[i] = benchAddress(uint64(i))
	}
	slices.SortFunc(addrs, compareAddress)
	db := NewMemNodeDB()
	st := trie.NewStackTrie(func(_ []byte, h common.Hash, blob []byte) {
		db.Put(h, blob)
	})
	value := encodeAccount(Account{Balance: 1_000_000_000_000})
	for _, a := range addrs {
		if err := st.Update(a[:], value); err != nil {
			tb.Fatal(err)
		}
	}
	s, err := OpenState(db, st.Hash())
	if err != nil {
		tb.Fatal(err)
	}
	s.SetFeeCollector(benchCollector)
	return s, db
}

// benchEpoch returns an epoch of transfers between random existing accounts,
// checked without signatures (the benchmark excludes sender recovery).
// nonces tracks the next nonce of every account the epochs use (all start
// at 0), so that building an epoch does not read, and so warm, the state.
func benchEpoch(rng *rand.Rand, n uint64, count int, nonces map[Address]uint64) []CheckedTx {
	txs := make([]CheckedTx, count)
	for i := range txs {
		from := benchAddress(rng.Uint64N(n))
		to := benchAddress(rng.Uint64N(n))
		nonce := nonces[from]
		nonces[from] = nonce + 1
		tx := Tx{ChainID: "bench", To: to, Amount: 1 + rng.Uint64N(1000), Fee: 1, Nonce: nonce}
		txs[i] = CheckedTx{Tx: tx, Hash: tx.Hash(), Sender: from}
	}
	return txs
}

var (
	bench1MOnce  sync.Once
	bench1MState *State
	bench1MDB    *MemNodeDB
	bench1MBuild time.Duration
	// benchNonces holds the next nonces of the shared 1M-account state.
	bench1MNonces = make(map[Address]uint64)
)

// cpuTime returns the process's user+system CPU time: on the shared 2-core
// machine wall time depends on other load, CPU time much less.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var (
	benchKeepDepth  = flag.Int("ledger.keepdepth", -1, "trie keep depth for the benchmarks (default trieKeepDepth)")
	benchCacheBytes = flag.Int("ledger.cachebytes", -1, "node cache bytes for the benchmarks (default DefaultNodeCacheBytes)")
)

func benchApplyCommit(b *testing.B, s *State, db *MemNodeDB, accounts uint64, nonces map[Address]uint64) {
	const epochTxs = 10_000
	if *benchKeepDepth >= 0 {
		s.trie.SetKeepDepth(*benchKeepDepth)
	}
	if *benchCacheBytes >= 0 {
		s.SetNodeCacheBytes(*benchCacheBytes)
	}
	rng := rand.New(rand.NewPCG(uint64(b.N), accounts))
	var commitTotal, cpuTotal time.Duration
	stats0 := s.trie.Stats()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		txs := benchEpoch(rng, accounts, epochTxs, nonces)
		cpu0 := cpuTime()
		b.StartTimer()
		rs, err := s.Apply(txs)
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		_, nodes, err := s.Commit()
		commitTotal += time.Since(t0)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		cpuTotal += cpuTime() - cpu0
		for _, r := range rs {
			if r.Status != StatusOK {
				b.Fatalf("status %v", r.Status)
			}
		}
		db.PutAll(nodes)
		b.StartTimer()
	}
	b.ReportMetric(float64(epochTxs*b.N)/b.Elapsed().Seconds(), "tx/s")
	b.ReportMetric(float64(commitTotal.Milliseconds())/float64(b.N), "commit-ms/epoch")
	b.ReportMetric(float64(cpuTotal.Milliseconds())/float64(b.N), "cpu-ms/epoch")
	b.StopTimer()
	// Trie work per epoch (includes the untimed epoch setup: none).
	st := s.trie.Stats()
	b.ReportMetric(float64(st.Hashed-stats0.Hashed)/float64(b.N), "hashed/epoch")
	b.ReportMetric(float64(st.HashedBytes-stats0.HashedBytes)/float64(b.N)/1024, "hashed-KiB/epoch")
	c := s.reader.cache
	b.ReportMetric(100*float64(c.hits)/float64(max(c.hits+c.misses, 1)), "cache-hit-%")
	b.ReportMetric(float64(st.Resolved-stats0.Resolved)/float64(b.N), "resolved/epoch")
	b.ReportMetric(float64(st.Stored-stats0.Stored)/float64(b.N), "stored/epoch")
	// Memory of the decoded trie levels (estimated from the nodes) and
	// the process heap in use.
	full, short, bytes := s.trie.Decoded()
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(bytes)/(1<<20), "trie-MiB")
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heapinuse-MiB")
	b.ReportMetric(float64(full+short), "decoded-nodes")
}

// BenchmarkApplyCommit10k applies and commits epochs of 10,000 transfers
// (no signature recovery) over states of 10k and 1M existing accounts.
func BenchmarkApplyCommit10k(b *testing.B) {
	b.Run("accounts=10k", func(b *testing.B) {
		s, db := buildBenchState(b, 10_000)
		benchApplyCommit(b, s, db, 10_000, make(map[Address]uint64))
	})
	b.Run("accounts=1M", func(b *testing.B) {
		if testing.Short() {
			b.Skip("1M-account state skipped under -short")
		}
		bench1MOnce.Do(func() {
			t0 := time.Now()
			bench1MState, bench1MDB = buildBenchState(b, 1_000_000)
			bench1MBuild = time.Since(t0)
		})
		b.Logf("building the 1M-account state took %v (%d nodes, %d MiB)", bench1MBuild, bench1MDB.Len(), bench1MDB.Bytes()>>20)
		benchApplyCommit(b, bench1MState, bench1MDB, 1_000_000, bench1MNonces)
	})
}

// BenchmarkSenderRecovery measures Tx.Sender (signature checks + ecrecover)
// on one core. Run with CGO_ENABLED=0 too to compare the pure-Go backend.
func BenchmarkSenderRecovery(b *testing.B) {
	keys := make([]*ecdsa.PrivateKey, 64)
	txs := make([]Tx, len(keys))
	for i := range keys {
		k, err := crypto.ToECDSA(keccak([]byte("bench-key"), []byte{byte(i)}).Bytes())
		if err != nil {
			b.Fatal(err)
		}
		keys[i] = k
		txs[i] = Tx{ChainID: "bench", To: benchAddress(uint64(i)), Amount: 1, Fee: 1, Nonce: uint64(i)}
		if err := txs[i].Sign(k); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := range b.N {
		if _, err := txs[i%len(txs)].Sender(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}
