package sigbatch

import (
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd/ledger"
)

// The benchmarks report µs of CPU per signature (user+system, from
// getrusage), so figures from one run compare even when other processes
// share the machine. Run them together, e.g.
//
//	go test ./ledger/sigbatch -run x -bench 'Recover|VerifyBatch' -count 5
//
// and compare BenchmarkVerifyBatch/n=N with BenchmarkRecover.

var (
	benchOnce  sync.Once
	benchItems []Item // 4,096 valid items, every one from a distinct key
)

func benchPool(b *testing.B) []Item {
	benchOnce.Do(func() { benchItems = validItems(b, 42, 4096, 4096) })
	return benchItems
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportPerSig reports CPU and wall µs per signature.
func reportPerSig(b *testing.B, cpu0 time.Duration, sigs int) {
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(sigs)/1e3, "cpu-µs/sig")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(sigs)/1e3, "µs/sig")
}

// BenchmarkRecover is today's check, one recovery per signature
// (ledger.RecoverSigner, cgo libsecp256k1 unless CGO_ENABLED=0).
func BenchmarkRecover(b *testing.B) {
	items := benchPool(b)
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := range b.N {
		it := &items[i%len(items)]
		if _, err := ledger.RecoverSigner(ledger.Hash(it.Digest), it.Sig); err != nil {
			b.Fatal(err)
		}
	}
	reportPerSig(b, cpu0, b.N)
}

// BenchmarkVerifyBatch checks valid batches of n signatures from n distinct
// keys (no key merging: the worst case for the batch).
func BenchmarkVerifyBatch(b *testing.B) {
	for _, n := range []int{1, 16, 64, 128, 256, 1024, 4096} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			items := benchPool(b)[:n]
			b.ResetTimer()
			cpu0 := cpuTime()
			for range b.N {
				if !VerifyAll(items) {
					b.Fatal("valid batch rejected")
				}
			}
			reportPerSig(b, cpu0, b.N*n)
		})
	}
}

// BenchmarkVerifyBatchSenders checks 4,096 signatures from fewer senders:
// one key term per sender.
func BenchmarkVerifyBatchSenders(b *testing.B) {
	for _, senders := range []int{64, 512} {
		b.Run(fmt.Sprintf("n=4096/senders=%d", senders), func(b *testing.B) {
			items := validItems(b, 43, 4096, senders)
			b.ResetTimer()
			cpu0 := cpuTime()
			for range b.N {
				if !VerifyAll(items) {
					b.Fatal("valid batch rejected")
				}
			}
			reportPerSig(b, cpu0, b.N*len(items))
		})
	}
}

// BenchmarkVerifyInvalid measures locating invalid items (wrong claimed
// keys) in 4,096: one forged signature, 2, 1% and 10% spread evenly, all
// invalid, and "alternating": bad items placed so that bisection finds a
// clean half only at every other level, the pattern that keeps it from
// switching to recovery longest.
func BenchmarkVerifyInvalid(b *testing.B) {
	patterns := []struct {
		name string
		bad  func(n int) []int
	}{
		{"1", func(n int) []int { return spread(n, 1) }},
		{"2", func(n int) []int { return spread(n, 2) }},
		{"1%", func(n int) []int { return spread(n, n/100) }},
		{"10%", func(n int) []int { return spread(n, n/10) }},
		{"all", func(n int) []int { return spread(n, n) }},
		{"alternating", func(n int) []int { return alternating(0, n, true) }},
	}
	for _, p := range patterns {
		items := append([]Item(nil), benchPool(b)...)
		bad := p.bad(len(items))
		for _, i := range bad {
			items[i].PubKey = items[(i+1)%len(items)].PubKey
		}
		b.Run(fmt.Sprintf("n=4096/invalid=%s(%d)", p.name, len(bad)), func(b *testing.B) {
			cpu0 := cpuTime()
			for range b.N {
				if _, all := Verify(items); all {
					b.Fatal("invalid batch accepted")
				}
			}
			reportPerSig(b, cpu0, b.N*len(items))
		})
	}
}

// spread returns k indices spread evenly over [0, n).
func spread(n, k int) []int {
	idx := make([]int, k)
	for j := range idx {
		idx[j] = j*n/k + n/(2*k)
	}
	return idx
}

// alternating returns bad indices in [lo, hi) such that both halves fail at
// every other level of the bisection.
func alternating(lo, hi int, both bool) []int {
	if hi-lo <= bisectLeaf {
		return []int{lo}
	}
	mid := (lo + hi) / 2
	bad := alternating(lo, mid, !both)
	if both {
		bad = append(bad, alternating(mid, hi, !both)...)
	}
	return bad
}

// BenchmarkAddress is the sender address from a claimed key, which a
// verifier computes per transaction on top of the batch.
func BenchmarkAddress(b *testing.B) {
	items := benchPool(b)
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := range b.N {
		Address(&items[i%len(items)].PubKey)
	}
	reportPerSig(b, cpu0, b.N)
}
