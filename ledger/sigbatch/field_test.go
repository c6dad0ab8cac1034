package sigbatch

import (
	"math/big"
	"math/rand/v2"
	"testing"
)

var bigP, _ = new(big.Int).SetString("fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f", 16)

func feToBig(x *fe) *big.Int {
	var b [32]byte
	x.putBytes(b[:])
	return new(big.Int).SetBytes(b[:])
}

func feFromBig(t testing.TB, v *big.Int) fe {
	t.Helper()
	var b [32]byte
	v.FillBytes(b[:])
	var x fe
	if !x.setBytes(b[:]) {
		t.Fatalf("%x is not < p", v)
	}
	return x
}

// feEdgeValues are the field elements where carries and reductions turn.
func feEdgeValues(t testing.TB) []fe {
	var vals []fe
	for _, v := range []*big.Int{
		big.NewInt(0), big.NewInt(1), big.NewInt(2), big.NewInt(pC),
		new(big.Int).Sub(bigP, big.NewInt(1)), new(big.Int).Sub(bigP, big.NewInt(2)),
		new(big.Int).Lsh(big.NewInt(1), 64), new(big.Int).Lsh(big.NewInt(1), 255),
		new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(1)),
		new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 192), big.NewInt(1)),
	} {
		vals = append(vals, feFromBig(t, v))
	}
	return vals
}

func randFe(rng *rand.Rand) fe {
	for {
		x := fe{rng.Uint64(), rng.Uint64(), rng.Uint64(), rng.Uint64()}
		if rng.IntN(4) == 0 {
			x[1], x[2], x[3] = ^uint64(0), ^uint64(0), ^uint64(0) // near p
		}
		var b [32]byte
		x.putBytes(b[:])
		if x.setBytes(b[:]) {
			return x
		}
	}
}

// TestFieldAgainstBig checks every field operation against math/big on edge
// values and seeded random ones.
func TestFieldAgainstBig(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	vals := feEdgeValues(t)
	for range 2000 {
		vals = append(vals, randFe(rng))
	}
	mod := func(v *big.Int) *big.Int { return v.Mod(v, bigP) }
	for i := range vals {
		x := &vals[i]
		y := &vals[(i*7+3)%len(vals)]
		bx, by := feToBig(x), feToBig(y)
		var z fe
		check := func(op string, want *big.Int) {
			t.Helper()
			if got := feToBig(&z); got.Cmp(want) != 0 {
				t.Fatalf("seed %d: %s(%x, %x) = %x; want %x", seed, op, bx, by, got, want)
			}
		}
		z.add(x, y)
		check("add", mod(new(big.Int).Add(bx, by)))
		z.sub(x, y)
		check("sub", mod(new(big.Int).Sub(bx, by)))
		z.neg(x)
		check("neg", mod(new(big.Int).Neg(bx)))
		z.mul(x, y)
		check("mul", mod(new(big.Int).Mul(bx, by)))
		z.sqr(x)
		check("sqr", mod(new(big.Int).Mul(bx, bx)))
		if i%8 == 0 {
			z.inv(x)
			want := new(big.Int).ModInverse(bx, bigP)
			if want == nil {
				want = new(big.Int)
			}
			check("inv", want)
			ok := z.sqrt(x)
			wantOK := big.Jacobi(bx, bigP) >= 0
			if ok != wantOK {
				t.Fatalf("seed %d: sqrt(%x) ok = %v; want %v", seed, bx, ok, wantOK)
			}
			if ok {
				var sq fe
				sq.sqr(&z)
				if !sq.equal(x) {
					t.Fatalf("seed %d: sqrt(%x)^2 != x", seed, bx)
				}
			}
		}
	}
}

func TestFieldSetBytesRange(t *testing.T) {
	var b [32]byte
	var x fe
	bigP.FillBytes(b[:])
	if x.setBytes(b[:]) {
		t.Errorf("setBytes(p) accepted")
	}
	new(big.Int).Sub(bigP, big.NewInt(1)).FillBytes(b[:])
	if !x.setBytes(b[:]) {
		t.Errorf("setBytes(p-1) rejected")
	}
	for i := range b {
		b[i] = 0xff
	}
	if x.setBytes(b[:]) {
		t.Errorf("setBytes(2^256-1) accepted")
	}
}
