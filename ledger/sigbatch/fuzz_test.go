package sigbatch

import (
	"math/big"
	"testing"
)

// FuzzVerify corrupts a batch of valid items as the fuzz input directs and
// checks the batch path's verdicts against the reference, item by item.
// Input: byte 0 picks the batch size (1 to 24), then 4-byte operations
// (item, kind, position, value); see fuzzOp.
//
//	go test ./ledger/sigbatch -run '^$' -fuzz FuzzVerify -fuzztime 60s
func FuzzVerify(f *testing.F) {
	base := validItems(f, 7, 24, 6)
	f.Add([]byte{23})
	f.Add([]byte{23, 3, 0, 5, 1})
	f.Add([]byte{16, 0, 4, 0, 0, 1, 1, 64, 1, 2, 3, 0, 0, 5, 5, 0, 0})
	f.Add([]byte{8, 0, 6, 0, 0, 1, 6, 0, 0, 2, 6, 0, 0, 3, 7, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		n := 1 + int(data[0])%len(base)
		items := append([]Item(nil), base[:n]...)
		for ops := data[1:]; len(ops) >= 4; ops = ops[4:] {
			fuzzOp(&items[int(ops[0])%n], base, ops[1], int(ops[2]), ops[3])
		}
		valid := make([]bool, n)
		all := verifyBatch(items, valid)
		wantAll := true
		for i := range items {
			want := reference(&items[i])
			wantAll = wantAll && want
			if valid[i] != want {
				t.Fatalf("item %d of %d: batch = %v; reference = %v\nitem: %x", i, n, valid[i], want, items[i])
			}
		}
		if all != wantAll || VerifyAll(items) != wantAll {
			t.Fatalf("all-valid verdicts disagree: verifyBatch %v, reference %v", all, wantAll)
		}
	})
}

// fuzzOp applies one corruption to it.
func fuzzOp(it *Item, base []Item, kind byte, pos int, val byte) {
	switch kind % 8 {
	case 0:
		it.Digest[pos%32] ^= val
	case 1:
		it.Sig[pos%SigLen] ^= val
	case 2:
		it.PubKey[pos%PubKeyLen] ^= val
	case 3:
		*it = base[pos%len(base)] // a duplicate or another signer's item
	case 4:
		it.PubKey = base[pos%len(base)].PubKey
	case 5: // the malleated twin: n - s with the parity flipped
		s := new(big.Int).SetBytes(it.Sig[32:64])
		setScalar(it.Sig[32:64], new(big.Int).Sub(secpN, s))
		it.Sig[64] ^= 1
	case 6:
		it.Sig[64] = val
	case 7: // r or s near 0 or n
		v := new(big.Int).Add(secpN, big.NewInt(int64(int8(val))))
		if val < 128 {
			v.SetInt64(int64(val))
		}
		setScalar(it.Sig[32*(pos%2):], v)
	}
}
