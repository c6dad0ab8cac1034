package sigbatch

import (
	"fmt"
	"testing"
)

func BenchmarkXLarge(b *testing.B) {
	items := validItems(b, 44, 16384, 16384)
	for _, n := range []int{1024, 4096, 8192, 16384} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			valid := make([]bool, n)
			cpu0 := cpuTime()
			for range b.N {
				if !verifyBatch(items[:n], valid) {
					b.Fatal("rejected")
				}
			}
			reportPerSig(b, cpu0, b.N*n)
		})
	}
}
