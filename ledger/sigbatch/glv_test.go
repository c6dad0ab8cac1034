package sigbatch

import (
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

func scalarToBig(s *secp256k1.ModNScalar) *big.Int {
	b := s.Bytes()
	return new(big.Int).SetBytes(b[:])
}

func halfToBig(k halfScalar, neg bool) *big.Int {
	v := new(big.Int).SetUint64(k[1])
	v.Lsh(v, 64).Or(v, new(big.Int).SetUint64(k[0]))
	if neg {
		v.Neg(v)
	}
	return v
}

// TestSplitScalar checks k = k1 + k2*lambda (mod n) with both halves below
// 2^128, on edge scalars and seeded random ones.
func TestSplitScalar(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 2))
	lambda := scalarToBig(&glvLambda)
	if new(big.Int).Exp(lambda, big.NewInt(3), secpN).Cmp(big.NewInt(1)) != 0 {
		t.Fatal("lambda is not a cube root of unity mod n")
	}
	wideToBig := func(w wide) *big.Int {
		v := new(big.Int)
		for i := 2; i >= 0; i-- {
			v.Lsh(v, 64).Or(v, new(big.Int).SetUint64(w[i]))
		}
		return v
	}
	a1, a2, b1 := wideToBig(glvA1), wideToBig(glvA2), new(big.Int).Neg(wideToBig(glvMinusB1))
	for _, v := range [][2]*big.Int{{a1, b1}, {a2, a1}} { // b2 = a1
		if r := new(big.Int).Mul(v[1], lambda); r.Add(r, v[0]).Mod(r, secpN).Sign() != 0 {
			t.Fatalf("lattice vector (%x, %x) is not in the kernel", v[0], v[1])
		}
	}
	edges := []*big.Int{big.NewInt(0), big.NewInt(1), new(big.Int).Sub(secpN, big.NewInt(1)), lambda,
		new(big.Int).Rsh(secpN, 1), new(big.Int).Lsh(big.NewInt(1), 128), new(big.Int).Lsh(big.NewInt(1), 255)}
	for i := range 20000 {
		var k secp256k1.ModNScalar
		if i < len(edges) {
			var b [32]byte
			edges[i].FillBytes(b[:])
			k.SetBytes(&b)
		} else {
			var b [32]byte
			for j := range b {
				b[j] = byte(rng.Uint32())
			}
			k.SetBytes(&b)
		}
		k1, n1, k2, n2 := splitScalar(&k)
		got := halfToBig(k2, n2)
		got.Mul(got, lambda).Add(got, halfToBig(k1, n1)).Mod(got, secpN)
		if want := scalarToBig(&k); got.Cmp(want) != 0 {
			t.Fatalf("seed %d: split(%x) recombines to %x", seed, want, got)
		}
	}
}

// TestEndomorphism checks lambda*G = (beta*x, y) against decred's scalar
// multiplication.
func TestEndomorphism(t *testing.T) {
	var g, want secp256k1.JacobianPoint
	g.X.SetByteSlice(feToBig(&generator.x).Bytes())
	g.Y.SetByteSlice(feToBig(&generator.y).Bytes())
	g.Z.SetInt(1)
	secp256k1.ScalarMultNonConst(&glvLambda, &g, &want)
	want.ToAffine()
	var got affine
	got.endo(&generator)
	if feToBig(&got.x).Cmp(new(big.Int).SetBytes(want.X.Bytes()[:])) != 0 || !got.y.equal(&generator.y) {
		t.Fatal("beta*x does not match lambda*G")
	}
}
