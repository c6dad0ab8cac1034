package sigbatch

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

func toDecred(p *affine) secp256k1.JacobianPoint {
	var b [32]byte
	var q secp256k1.JacobianPoint
	p.x.putBytes(b[:])
	q.X.SetBytes(&b)
	p.y.putBytes(b[:])
	q.Y.SetBytes(&b)
	q.Z.SetInt(1)
	return q
}

// jacobianEqualDecred reports whether p equals the decred point q.
func jacobianEqualDecred(p *jacobian, q *secp256k1.JacobianPoint) bool {
	q.ToAffine()
	if p.isInfinity() || (q.X.IsZero() && q.Y.IsZero()) {
		return p.isInfinity() && q.X.IsZero() && q.Y.IsZero()
	}
	a := p.toAffine()
	var x, y [32]byte
	a.x.putBytes(x[:])
	a.y.putBytes(y[:])
	return x == *q.X.Bytes() && y == *q.Y.Bytes()
}

// naiveMSM is the reference: one decred scalar multiplication per point.
func naiveMSM(pts []affine, ks []halfScalar) secp256k1.JacobianPoint {
	var acc secp256k1.JacobianPoint
	for i := range pts {
		var k secp256k1.ModNScalar
		var b [32]byte
		for j := range 8 {
			b[31-j] = byte(ks[i][0] >> (8 * j))
			b[23-j] = byte(ks[i][1] >> (8 * j))
		}
		k.SetBytes(&b)
		p := toDecred(&pts[i])
		var r secp256k1.JacobianPoint
		secp256k1.ScalarMultNonConst(&k, &p, &r)
		secp256k1.AddNonConst(&acc, &r, &acc)
	}
	return acc
}

// randPoint returns k*G for a random k.
func randPoint(rng *rand.Rand) affine {
	var k secp256k1.ModNScalar
	k.SetInt(uint32(rng.Uint32() | 1))
	var b [32]byte
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	k.SetBytes(&b)
	var r secp256k1.JacobianPoint
	secp256k1.ScalarBaseMultNonConst(&k, &r)
	r.ToAffine()
	var p affine
	p.x.setBytes(r.X.Bytes()[:])
	p.y.setBytes(r.Y.Bytes()[:])
	return p
}

// TestMSMAgainstNaive compares msm with the reference on random inputs and
// on inputs that force the special cases of the affine bucket additions:
// repeated points (doubling), opposite points (cancellation), zero and
// all-ones scalars.
func TestMSMAgainstNaive(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 3))
	base := make([]affine, 8)
	for i := range base {
		base[i] = randPoint(rng)
	}
	sizes := []int{0, 1, 2, 3, 5, 17, 64, 300, 1500}
	for _, n := range sizes {
		for _, mode := range []string{"random", "repeated", "opposite", "edge-scalars"} {
			t.Run(fmt.Sprintf("n=%d/%s", n, mode), func(t *testing.T) {
				pts := make([]affine, n)
				ks := make([]halfScalar, n)
				for i := range pts {
					ks[i] = halfScalar{rng.Uint64(), rng.Uint64()}
					switch mode {
					case "random":
						pts[i] = randPoint(rng)
					case "repeated":
						pts[i] = base[i%2]
						ks[i] = halfScalar{rng.Uint64N(8), rng.Uint64N(2)}
					case "opposite":
						pts[i] = base[0]
						if i%2 == 1 {
							pts[i].neg(&base[0])
							ks[i] = ks[i-1]
						}
					case "edge-scalars":
						pts[i] = base[i%len(base)]
						ks[i] = []halfScalar{{}, {1, 0}, {^uint64(0), ^uint64(0)}, {0, 1 << 63}}[i%4]
					}
				}
				got := msm(pts, ks)
				want := naiveMSM(pts, ks)
				if !jacobianEqualDecred(&got, &want) {
					t.Fatalf("seed %d: msm differs from the naive sum", seed)
				}
			})
		}
	}
}

// TestMSMWindowWidths runs every window width on one input, so widths the
// cost model never picks at test sizes are still checked.
func TestMSMWindowWidths(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 4))
	pts := make([]affine, 40)
	ks := make([]halfScalar, len(pts))
	for i := range pts {
		pts[i] = randPoint(rng)
		ks[i] = halfScalar{rng.Uint64(), rng.Uint64()}
	}
	want := naiveMSM(pts, ks)
	for c := uint(2); c <= 14; c++ {
		got := msmWithWindow(pts, ks, c)
		if !jacobianEqualDecred(&got, &want) {
			t.Fatalf("seed %d: c=%d: msm differs from the naive sum", seed, c)
		}
	}
}
