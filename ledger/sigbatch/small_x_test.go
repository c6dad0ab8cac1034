package sigbatch

import (
	"fmt"
	"testing"
)

func BenchmarkXSmall(b *testing.B) {
	for _, n := range []int{2, 4, 8, 12, 16, 24, 32} {
		b.Run(fmt.Sprintf("batch/n=%d", n), func(b *testing.B) {
			items := benchPool(b)[:n]
			valid := make([]bool, n)
			cpu0 := cpuTime()
			for range b.N {
				verifyBatch(items, valid)
			}
			reportPerSig(b, cpu0, b.N*n)
		})
	}
	b.Run("recover", func(b *testing.B) {
		items := benchPool(b)
		cpu0 := cpuTime()
		for i := range b.N {
			recoversTo(&items[i%len(items)])
		}
		reportPerSig(b, cpu0, b.N)
	})
}
