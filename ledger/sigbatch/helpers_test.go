package sigbatch

import (
	"encoding/binary"
	"flag"
	"math/rand/v2"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

var seedFlag = flag.Uint64("sigbatch.seed", 0, "seed for the randomized tests (0: a fresh one, printed on failure)")

// testSeed returns the seed of a randomized test and logs how to replay it
// if the test fails.
func testSeed(t *testing.T) uint64 {
	t.Helper()
	seed := *seedFlag
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("reproduce: go test ./ledger/sigbatch -run '^%s$' -sigbatch.seed=%d", t.Name(), seed)
		}
	})
	return seed
}

// putBytes writes z big-endian into b[:32].
func (z *fe) putBytes(b []byte) {
	_ = b[31]
	binary.BigEndian.PutUint64(b[0:8], z[3])
	binary.BigEndian.PutUint64(b[8:16], z[2])
	binary.BigEndian.PutUint64(b[16:24], z[1])
	binary.BigEndian.PutUint64(b[24:32], z[0])
}

// toAffine returns p in affine form; p must not be infinity.
func (p *jacobian) toAffine() affine {
	var zi, zi2, zi3 fe
	zi.inv(&p.z)
	zi2.sqr(&zi)
	zi3.mul(&zi2, &zi)
	var a affine
	a.x.mul(&p.x, &zi2)
	a.y.mul(&p.y, &zi3)
	return a
}

// glvLambda is the scalar the endomorphism multiplies by (libsecp256k1's
// secp256k1_const_lambda).
var glvLambda = scalarFromWords(0x5363ad4cc05c30e0, 0xa5261c028812645a, 0x122e22ea20816678, 0xdf02967c1b23bd72)

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
