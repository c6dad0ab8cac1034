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

// The reduced lattice basis {(a1, b1), (a2, b2)} of {(x, y): x + y*lambda = 0
// mod n}, with b2 = a1 and -b1 > 0, and g1, g2 ~ 2^384*b2/n, 2^384*(-b1)/n,
// from libsecp256k1's scalar_impl.h (lambda itself: glv_test.go).
var (
	glvA1      = wide{0xe86c90e49284eb15, 0x3086d221a7d46bcd, 0}
	glvA2      = wide{0x57c1108d9d44cfd8, 0x14ca50f7a8e2f3f6, 1}
	glvMinusB1 = wide{0x6f547fa90abfe4c3, 0xe4437ed6010e8828, 0}
	glvG1      = [4]uint64{0xe893209a45dbb031, 0x3daa8a1471e8ca7f, 0xe86c90e49284eb15, 0x3086d221a7d46bcd}
	glvG2      = [4]uint64{0x1571b4ae8ac47f71, 0x221208ac9df506c6, 0x6f547fa90abfe4c4, 0xe4437ed6010e8828}
)

// splitScalar returns k1, k2 and their signs such that
// k = (-1)^neg1*k1 + (-1)^neg2*k2*lambda (mod n). With c1 = round(k*b2/n)
// and c2 = round(k*(-b1)/n), k1 = k - c1*a1 - c2*a2 and k2 = -c1*b1 - c2*b2
// are integers below 2^128 in absolute value (libsecp256k1 proves the
// bound), so they are computed exactly modulo 2^192, with no reduction
// mod n: k1 + k2*lambda = k - c1*(a1 + b1*lambda) - c2*(a2 + b2*lambda) = k.
func splitScalar(k *secp256k1.ModNScalar) (k1 halfScalar, neg1 bool, k2 halfScalar, neg2 bool) {
	kb := k.Bytes()
	kw := [4]uint64{
		binary.BigEndian.Uint64(kb[24:]), binary.BigEndian.Uint64(kb[16:]),
		binary.BigEndian.Uint64(kb[8:]), binary.BigEndian.Uint64(kb[0:]),
	}
	c1 := mulShift384(&kw, &glvG1)
	c2 := mulShift384(&kw, &glvG2)
	r1 := wide{kw[0], kw[1], kw[2]}.sub(c1.mulLow(glvA1)).sub(c2.mulLow(glvA2))
	r2 := c1.mulLow(glvMinusB1).sub(c2.mulLow(glvA1))
	k1, neg1 = r1.toHalf()
	k2, neg2 = r2.toHalf()
	return k1, neg1, k2, neg2
}

// wide is an integer modulo 2^192, little-endian words, read as signed
// (two's complement) by toHalf.
type wide [3]uint64

// mulLow returns x*y mod 2^192.
func (x wide) mulLow(y wide) wide {
	h00, l00 := bits.Mul64(x[0], y[0])
	h01, l01 := bits.Mul64(x[0], y[1])
	h10, l10 := bits.Mul64(x[1], y[0])
	r1, c1 := bits.Add64(h00, l01, 0)
	r1, c2 := bits.Add64(r1, l10, 0)
	r2 := h01 + h10 + c1 + c2 + x[0]*y[2] + x[1]*y[1] + x[2]*y[0]
	return wide{l00, r1, r2}
}

// sub returns x-y mod 2^192.
func (x wide) sub(y wide) wide {
	r0, b := bits.Sub64(x[0], y[0], 0)
	r1, b := bits.Sub64(x[1], y[1], b)
	r2, _ := bits.Sub64(x[2], y[2], b)
	return wide{r0, r1, r2}
}

// toHalf returns |x| and whether x < 0, for |x| < 2^128.
func (x wide) toHalf() (halfScalar, bool) {
	neg := x[2]>>63 == 1
	if neg {
		x = wide{}.sub(x)
	}
	assert(x[2] == 0, "GLV half scalar exceeds 2^128")
	return halfScalar{x[0], x[1]}, neg
}

// mulShift384 returns round(a*b / 2^384); for the GLV constants and a < n
// it is below 2^128.
func mulShift384(a, b *[4]uint64) wide {
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
	return wide{lo, t[7] + c, 0}
}

// assert panics on a broken internal invariant (never on input).
func assert(cond bool, msg string) {
	if !cond {
		panic("sigbatch: " + msg)
	}
}
