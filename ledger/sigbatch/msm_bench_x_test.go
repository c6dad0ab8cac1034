package sigbatch

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func BenchmarkXMSM(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, n := range []int{16, 256, 1024, 4096} {
		N := 3*n + 2
		pts := make([]affine, N)
		ks := make([]halfScalar, N)
		p := randPoint(rng)
		for i := range pts {
			if i%64 == 0 {
				p = randPoint(rng)
			}
			var j jacobian
			j.setAffine(&p)
			j.double(&j)
			p = j.toAffine()
			pts[i] = p
			ks[i] = halfScalar{rng.Uint64(), rng.Uint64()}
		}
		for _, dc := range []int{-1, 0, 1} {
			c := uint(int(windowBits(N)) + dc)
			b.Run(fmt.Sprintf("n=%d/c=%d", n, c), func(b *testing.B) {
				for range b.N {
					msmWithWindow(pts, ks, c)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n)/1000, "us/sig")
			})
		}
	}
}
