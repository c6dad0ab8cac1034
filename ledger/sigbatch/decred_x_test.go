package sigbatch

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// decredMSM is Pippenger over decred's Jacobian point operations: the same
// signed digits and GLV halves as msm, but buckets accumulate in Jacobian
// coordinates (decred's AddNonConst uses its mixed formula when Z = 1).
func decredMSM(pts []secp256k1.JacobianPoint, ks []halfScalar, c uint) secp256k1.JacobianPoint {
	windows := windowCount(c)
	digits := signedDigits(ks, c, windows)
	n := len(pts)
	nb := 1 << (c - 1)
	bk := make([]secp256k1.JacobianPoint, nb)
	var acc secp256k1.JacobianPoint
	for w := windows - 1; w >= 0; w-- {
		for range c {
			secp256k1.DoubleNonConst(&acc, &acc)
		}
		clear(bk)
		for i, d := range digits[w*n : (w+1)*n] {
			if d == 0 {
				continue
			}
			p := pts[i]
			if d < 0 {
				d = -d
				p.Y.Negate(1).Normalize()
			}
			secp256k1.AddNonConst(&bk[d-1], &p, &bk[d-1])
		}
		var running, total secp256k1.JacobianPoint
		for j := nb - 1; j >= 0; j-- {
			secp256k1.AddNonConst(&running, &bk[j], &running)
			secp256k1.AddNonConst(&total, &running, &total)
		}
		secp256k1.AddNonConst(&acc, &total, &acc)
	}
	return acc
}

func BenchmarkXDecredMSM(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, n := range []int{256, 1024, 4096} {
		N := 3*n + 2
		pts := make([]affine, N)
		dpts := make([]secp256k1.JacobianPoint, N)
		ks := make([]halfScalar, N)
		for i := range pts {
			pts[i] = randPoint(rng)
			dpts[i] = toDecred(&pts[i])
			ks[i] = halfScalar{rng.Uint64(), rng.Uint64()}
		}
		want := msm(pts, ks)
		got := decredMSM(dpts, ks, windowBits(N))
		if !jacobianEqualDecred(&want, &got) {
			b.Fatal("decred MSM differs")
		}
		for _, c := range []uint{windowBits(N) - 1, windowBits(N), windowBits(N) + 1} {
			b.Run(fmt.Sprintf("decred/n=%d/c=%d", n, c), func(b *testing.B) {
				for range b.N {
					decredMSM(dpts, ks, c)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n)/1000, "us/sig")
			})
		}
		b.Run(fmt.Sprintf("ours/n=%d", n), func(b *testing.B) {
			for range b.N {
				msm(pts, ks)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n)/1000, "us/sig")
		})
	}
}
