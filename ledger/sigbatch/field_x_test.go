// Experiment: field multiplication of gnark-crypto (generic Montgomery) and
// decred (10x26 limbs) against this package's (field_bench_x_test.go).

package sigbatch

import (
	"testing"

	"github.com/consensys/gnark-crypto/ecc/secp256k1/fp"
	dsecp "github.com/decred/dcrd/dcrec/secp256k1/v4"
)

func BenchmarkXFieldGnarkMul(b *testing.B) {
	var x, y fp.Element
	x.SetRandom()
	y.SetRandom()
	for range b.N {
		x.Mul(&x, &y)
	}
}
func BenchmarkXFieldGnarkSqr(b *testing.B) {
	var x fp.Element
	x.SetRandom()
	for range b.N {
		x.Square(&x)
	}
}
func BenchmarkXFieldGnarkSqrt(b *testing.B) {
	var x fp.Element
	x.SetRandom()
	x.Square(&x)
	var y fp.Element
	for range b.N {
		y.Sqrt(&x)
	}
}
func BenchmarkXFieldGnarkInv(b *testing.B) {
	var x fp.Element
	x.SetRandom()
	for range b.N {
		x.Inverse(&x)
	}
}
func BenchmarkXFieldDecredMul(b *testing.B) {
	var x, y dsecp.FieldVal
	x.SetInt(12345).Square().Square().Square().Square().Square().Square()
	y.SetInt(999).Square().Square().Square().Square().Square().Square()
	for range b.N {
		x.Mul(&y)
	}
}
func BenchmarkXFieldDecredSqr(b *testing.B) {
	var x dsecp.FieldVal
	x.SetInt(12345).Square().Square().Square().Square().Square().Square()
	for range b.N {
		x.Square()
	}
}
func BenchmarkXFieldDecredSqrt(b *testing.B) {
	var x, y dsecp.FieldVal
	x.SetInt(12345).Square().Square().Square().Square().Square().Square()
	for range b.N {
		y.SquareRootVal(&x)
	}
}
func BenchmarkXFieldDecredInv(b *testing.B) {
	var x dsecp.FieldVal
	x.SetInt(12345).Square().Square().Square().Square().Square().Square()
	for range b.N {
		x.Inverse()
	}
}
