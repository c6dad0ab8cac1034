package sigbatch

import (
	"encoding/binary"
	"math/bits"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// GLV decomposition. secp256k1 has an efficient endomorphism: for every
// point P, lambda*P = (beta*x, y) (point.go, affine.endo). A 256-bit scalar k
// splits into k = k1 + k2*lambda (mod n) with |k1|, |k2| < 2^128, so k*P =
// k1*P + k2*(lambda*P) is a sum of two half-length products. The MSM's cost
// grows with scalar length times points, so the split costs nothing there
// and halves the number of windows, and with them the doublings and the
// per-window bucket sums. Constants and the rounding method are those of
// libsecp256k1's secp256k1_scalar_split_lambda (scalar_impl.h), whose
// comments prove the bounds.

// halfScalar is a non-negative integer below 2^128, little-endian words.
type halfScalar [2]uint64

func (k *halfScalar) isZero() bool { return k[0]|k[1] == 0 }

// bitsAt returns the c bits of k starting at bit pos (zero past bit 127).
func (k *halfScalar) bitsAt(pos, c uint) uint64 {
	if pos >= 128 {
		return 0
	}
	word, shift := pos/64, pos%64
	v := k[word] >> shift
	if shift+c > 64 && word == 0 {
		v |= k[1] << (64 - shift)
	}
	return v & (1<<c - 1)
}

var (
	glvLambda  = scalarFromWords(0x5363ad4cc05c30e0, 0xa5261c028812645a, 0x122e22ea20816678, 0xdf02967c1b23bd72)
	glvMinusB1 = scalarFromWords(0, 0, 0xe4437ed6010e8828, 0x6f547fa90abfe4c3)
	glvMinusB2 = scalarFromWords(0xffffffffffffffff, 0xfffffffffffffffe, 0x8a280ac50774346d, 0xd765cda83db1562c)
	glvG1      = [4]uint64{0xe893209a45dbb031, 0x3daa8a1471e8ca7f, 0xe86c90e49284eb15, 0x3086d221a7d46bcd}
	glvG2      = [4]uint64{0x1571b4ae8ac47f71, 0x221208ac9df506c6, 0x6f547fa90abfe4c4, 0xe4437ed6010e8828}
)

// scalarFromWords builds a scalar constant from big-endian 64-bit words.
func scalarFromWords(w3, w2, w1, w0 uint64) secp256k1.ModNScalar {
	var b [32]byte
	binary.BigEndian.PutUint64(b[0:], w3)
	binary.BigEndian.PutUint64(b[8:], w2)
	binary.BigEndian.PutUint64(b[16:], w1)
	binary.BigEndian.PutUint64(b[24:], w0)
	var s secp256k1.ModNScalar
	s.SetBytes(&b)
	return s
}

// splitScalar returns k1, k2 and their signs such that
// k = (-1)^neg1*k1 + (-1)^neg2*k2*lambda (mod n).
func splitScalar(k *secp256k1.ModNScalar) (k1 halfScalar, neg1 bool, k2 halfScalar, neg2 bool) {
	kb := k.Bytes()
	kw := [4]uint64{
		binary.BigEndian.Uint64(kb[24:]), binary.BigEndian.Uint64(kb[16:]),
		binary.BigEndian.Uint64(kb[8:]), binary.BigEndian.Uint64(kb[0:]),
	}
	c1 := mulShift384(&kw, &glvG1)
	c2 := mulShift384(&kw, &glvG2)
	c1.Mul(&glvMinusB1)
	c2.Mul(&glvMinusB2)
	var r1, r2 secp256k1.ModNScalar
	r2.Add2(&c1, &c2)
	r1.Mul2(&r2, &glvLambda).Negate().Add(k)
	k1, neg1 = toHalf(&r1)
	k2, neg2 = toHalf(&r2)
	return k1, neg1, k2, neg2
}

// mulShift384 returns round(a*b / 2^384) as a scalar; a*b < 2^510 here, so
// the result is below 2^126.
func mulShift384(a, b *[4]uint64) secp256k1.ModNScalar {
	var t [8]uint64
	for i := range 4 {
		var carry uint64
		for j := range 4 {
			hi, lo := bits.Mul64(a[i], b[j])
			var c uint64
			lo, c = bits.Add64(lo, carry, 0)
			hi += c
			t[i+j], c = bits.Add64(t[i+j], lo, 0)
			carry = hi + c
		}
		t[i+4] = carry
	}
	lo, c := bits.Add64(t[6], t[5]>>63, 0) // round on bit 383
	hi := t[7] + c
	var buf [32]byte
	binary.BigEndian.PutUint64(buf[16:], hi)
	binary.BigEndian.PutUint64(buf[24:], lo)
	var s secp256k1.ModNScalar
	s.SetBytes(&buf)
	return s
}

// toHalf returns |r| as a halfScalar with its sign, reading r in
// (n - 2^128, n) as negative. The bound is libsecp256k1's proven one.
func toHalf(r *secp256k1.ModNScalar) (halfScalar, bool) {
	neg := false
	b := r.Bytes()
	if binary.BigEndian.Uint64(b[0:])|binary.BigEndian.Uint64(b[8:]) != 0 {
		var m secp256k1.ModNScalar
		m.NegateVal(r)
		b = m.Bytes()
		neg = true
		assert(binary.BigEndian.Uint64(b[0:])|binary.BigEndian.Uint64(b[8:]) == 0, "GLV half scalar exceeds 2^128")
	}
	return halfScalar{binary.BigEndian.Uint64(b[24:]), binary.BigEndian.Uint64(b[16:])}, neg
}

// assert panics on a broken internal invariant (never on input).
func assert(cond bool, msg string) {
	if !cond {
		panic("sigbatch: " + msg)
	}
}
