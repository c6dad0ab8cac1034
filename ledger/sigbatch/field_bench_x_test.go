package sigbatch

import "testing"

func BenchmarkXfe(b *testing.B) {
	x := fe{0x123456789abcdef, 0xfedcba987654321, 0x1111, 0x7fffffffffffffff}
	y := fe{0xdead, 0xbeef, 0xfeed, 0xface}
	b.Run("mul", func(b *testing.B) {
		for range b.N {
			x.mul(&x, &y)
		}
	})
	b.Run("sqr", func(b *testing.B) {
		for range b.N {
			x.sqr(&x)
		}
	})
	b.Run("sqrt", func(b *testing.B) {
		for range b.N {
			y.sqrt(&x)
		}
	})
	b.Run("inv", func(b *testing.B) {
		for range b.N {
			x.inv(&x)
		}
	})
	b.Run("add", func(b *testing.B) {
		for range b.N {
			x.add(&x, &y)
		}
	})
	b.Run("sub", func(b *testing.B) {
		for range b.N {
			x.sub(&x, &y)
		}
	})
}
