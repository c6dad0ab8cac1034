// Experiment: gnark-crypto's secp256k1 MultiExp (pure Go, NbTasks 1) over the
// 2n+1 points of a batch equation, MSM only.

package sigbatch

import (
	"fmt"
	"math/big"
	"testing"

	"github.com/consensys/gnark-crypto/ecc"
	gsecp "github.com/consensys/gnark-crypto/ecc/secp256k1"
	"github.com/consensys/gnark-crypto/ecc/secp256k1/fr"
	"github.com/ethereum/go-ethereum/crypto"
)

type xItem struct {
	digest [32]byte
	sig    []byte
	pub    []byte
}

func xItems(n int) []xItem {
	items := make([]xItem, n)
	for i := range items {
		k, _ := crypto.ToECDSA(crypto.Keccak256([]byte("k"), []byte(fmt.Sprint(i))))
		d := crypto.Keccak256([]byte("d"), []byte(fmt.Sprint(i)))
		sig, _ := crypto.Sign(d, k)
		copy(items[i].digest[:], d)
		items[i].sig = sig
		items[i].pub = crypto.FromECDSAPub(&k.PublicKey)
	}
	return items
}

func BenchmarkXGnarkMSM(b *testing.B) {
	for _, n := range []int{16, 256, 1024, 4096} {
		items := xItems(n)
		pts := make([]gsecp.G1Affine, 2*n+1)
		sc := make([]fr.Element, 2*n+1)
		_, g := gsecp.Generators()
		pts[2*n] = g
		for i, it := range items {
			pts[i].X.SetBytes(it.pub[1:33])
			pts[i].Y.SetBytes(it.pub[33:65])
			// R
			pts[n+i].X.SetBytes(it.sig[:32])
			var y2 = pts[n+i].X
			y2.Square(&y2).Mul(&y2, &pts[n+i].X)
			var seven = pts[n+i].X
			seven.SetUint64(7)
			y2.Add(&y2, &seven)
			pts[n+i].Y.Sqrt(&y2)
			sc[i].SetRandom()
			sc[n+i].SetBigInt(new(big.Int).SetBytes(crypto.Keccak256([]byte{byte(i)})[:16]))
		}
		sc[2*n].SetRandom()
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			var res gsecp.G1Jac
			for range b.N {
				res.MultiExp(pts, sc, ecc.MultiExpConfig{NbTasks: 1})
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n)/1000, "us/sig")
		})
	}
}
