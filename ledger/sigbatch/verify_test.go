package sigbatch

import (
	"bytes"
	"crypto/ecdsa"
	"encoding/binary"
	"fmt"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/ledgerd/ledgerd/ledger"
)

// reference is today's rule: ledger.RecoverSigner accepts the signature and
// go-ethereum's recovery yields exactly the claimed key bytes.
func reference(it *Item) bool {
	if _, err := ledger.RecoverSigner(ledger.Hash(it.Digest), it.Sig); err != nil {
		return false
	}
	pub, err := crypto.Ecrecover(it.Digest[:], it.Sig[:])
	return err == nil && bytes.Equal(pub, it.PubKey[:])
}

// testKey returns the deterministic key number i of a seed.
func testKey(t testing.TB, seed uint64, i int) *ecdsa.PrivateKey {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:], seed)
	binary.BigEndian.PutUint64(b[8:], uint64(i))
	k, err := crypto.ToECDSA(crypto.Keccak256([]byte("sigbatch-test-key"), b[:]))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// signedItem returns a valid item: key signs digest.
func signedItem(t testing.TB, key *ecdsa.PrivateKey, digest [32]byte) Item {
	sig, err := crypto.Sign(digest[:], key)
	if err != nil {
		t.Fatal(err)
	}
	var it Item
	it.Digest = digest
	copy(it.Sig[:], sig)
	copy(it.PubKey[:], crypto.FromECDSAPub(&key.PublicKey))
	return it
}

// validItems returns n valid items signed by `keys` distinct keys.
func validItems(t testing.TB, seed uint64, n, keys int) []Item {
	ks := make([]*ecdsa.PrivateKey, keys)
	for i := range ks {
		ks[i] = testKey(t, seed, i)
	}
	items := make([]Item, n)
	for i := range items {
		var d [32]byte
		binary.BigEndian.PutUint64(d[:], seed)
		binary.BigEndian.PutUint64(d[8:], uint64(i))
		d = [32]byte(crypto.Keccak256(d[:]))
		items[i] = signedItem(t, ks[i%keys], d)
	}
	return items
}

var secpN = crypto.S256().Params().N

// setScalar writes v (mod 2^256) big-endian into b[:32].
func setScalar(b []byte, v *big.Int) {
	w := new(big.Int).Mod(v, new(big.Int).Lsh(big.NewInt(1), 256))
	w.FillBytes(b[:32])
}

// mutations are the ways a test corrupts an item: each returns a variant
// that the reference may or may not accept (the test compares, it does not
// assume).
var mutations = []struct {
	name  string
	apply func(it *Item, other *Item, rng *rand.Rand)
}{
	{"wrong key", func(it, o *Item, _ *rand.Rand) { it.PubKey = o.PubKey }},
	{"high S", func(it, _ *Item, _ *rand.Rand) {
		s := new(big.Int).SetBytes(it.Sig[32:64])
		setScalar(it.Sig[32:64], new(big.Int).Sub(secpN, s))
		it.Sig[64] ^= 1
	}},
	{"wrong parity", func(it, _ *Item, _ *rand.Rand) { it.Sig[64] ^= 1 }},
	{"V=2", func(it, _ *Item, _ *rand.Rand) { it.Sig[64] = 2 }},
	{"V=27", func(it, _ *Item, _ *rand.Rand) { it.Sig[64] += 27 }},
	{"r=0", func(it, _ *Item, _ *rand.Rand) { clear(it.Sig[:32]) }},
	{"r=n", func(it, _ *Item, _ *rand.Rand) { setScalar(it.Sig[:32], secpN) }},
	{"r+n", func(it, _ *Item, _ *rand.Rand) {
		setScalar(it.Sig[:32], new(big.Int).Add(new(big.Int).SetBytes(it.Sig[:32]), secpN))
	}},
	{"random r", func(it, _ *Item, rng *rand.Rand) { setScalar(it.Sig[:32], big.NewInt(rng.Int64())) }},
	{"s=0", func(it, _ *Item, _ *rand.Rand) { clear(it.Sig[32:64]) }},
	{"s=n", func(it, _ *Item, _ *rand.Rand) { setScalar(it.Sig[32:64], secpN) }},
	{"other digest", func(it, o *Item, _ *rand.Rand) { it.Digest = o.Digest }},
	{"other sig", func(it, o *Item, _ *rand.Rand) { it.Sig = o.Sig }},
	{"flip digest bit", func(it, _ *Item, rng *rand.Rand) { it.Digest[rng.IntN(32)] ^= 1 << rng.IntN(8) }},
	{"flip sig bit", func(it, _ *Item, rng *rand.Rand) { it.Sig[rng.IntN(64)] ^= 1 << rng.IntN(8) }},
	{"flip key bit", func(it, _ *Item, rng *rand.Rand) { it.PubKey[1+rng.IntN(64)] ^= 1 << rng.IntN(8) }},
	{"key prefix 2", func(it, _ *Item, _ *rand.Rand) { it.PubKey[0] = 2 }},
	{"key zero", func(it, _ *Item, _ *rand.Rand) { clear(it.PubKey[:]) }},
	{"key 04||0||0", func(it, _ *Item, _ *rand.Rand) { clear(it.PubKey[1:]) }},
	{"key x>=p", func(it, _ *Item, _ *rand.Rand) {
		x := new(big.Int).Add(new(big.Int).SetBytes(it.PubKey[1:33]), bigP)
		if x.BitLen() <= 256 {
			x.FillBytes(it.PubKey[1:33])
		} else {
			it.PubKey[1] = 0xff
		}
	}},
	{"key y negated", func(it, _ *Item, _ *rand.Rand) {
		new(big.Int).Sub(bigP, new(big.Int).SetBytes(it.PubKey[33:65])).FillBytes(it.PubKey[33:65])
	}},
	{"duplicate", func(it, o *Item, _ *rand.Rand) { *it = *o }},
}

// checkAgainstReference runs Verify, VerifyAll and the batch path itself
// (which Verify skips below minBatch items) on items and compares each
// verdict with the reference.
func checkAgainstReference(t *testing.T, seed uint64, items []Item, label func(i int) string) {
	t.Helper()
	valid, all := Verify(items)
	batchValid := make([]bool, len(items))
	batchAll := verifyBatch(items, batchValid)
	wantAll := true
	for i := range items {
		want := reference(&items[i])
		wantAll = wantAll && want
		if valid[i] != want || batchValid[i] != want {
			t.Fatalf("seed %d: item %d (%s) of %d: Verify = %v, verifyBatch = %v; want %v",
				seed, i, label(i), len(items), valid[i], batchValid[i], want)
		}
	}
	if all != wantAll || batchAll != wantAll {
		t.Fatalf("seed %d: Verify all = %v, verifyBatch all = %v; want %v", seed, all, batchAll, wantAll)
	}
	if got := VerifyAll(items); got != wantAll {
		t.Fatalf("seed %d: VerifyAll = %v; want %v", seed, got, wantAll)
	}
}

// TestVerifyRandomBatches is the main differential test: batches of many
// sizes, each item corrupted with some probability by a random mutation,
// every verdict compared with the reference.
func TestVerifyRandomBatches(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 5))
	pool := validItems(t, seed, 600, 40)
	for _, n := range []int{0, 1, 2, 5, 31, 32, 33, 100, 257, 600} {
		for _, rate := range []float64{0, 0.01, 0.1, 0.5, 1} {
			t.Run(fmt.Sprintf("n=%d/rate=%v", n, rate), func(t *testing.T) {
				items := make([]Item, n)
				labels := make([]string, n)
				for i := range items {
					items[i] = pool[rng.IntN(len(pool))]
					labels[i] = "valid"
					if rng.Float64() < rate {
						m := mutations[rng.IntN(len(mutations))]
						m.apply(&items[i], &pool[rng.IntN(len(pool))], rng)
						labels[i] = m.name
					}
				}
				checkAgainstReference(t, seed, items, func(i int) string { return labels[i] })
			})
		}
	}
}

// TestVerifyEachMutation applies every mutation to one item of a batch of
// 64 valid ones, at the start, middle and end.
func TestVerifyEachMutation(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 6))
	base := validItems(t, seed, 64, 8)
	for _, m := range mutations {
		for _, pos := range []int{0, 31, 63} {
			t.Run(fmt.Sprintf("%s/pos=%d", m.name, pos), func(t *testing.T) {
				items := append([]Item(nil), base...)
				m.apply(&items[pos], &base[(pos+5)%len(base)], rng)
				checkAgainstReference(t, seed, items, func(i int) string {
					if i == pos {
						return m.name
					}
					return "valid"
				})
			})
		}
	}
}

// TestVerifyForgedInLargeBatch hides one forged signature (a valid-looking
// signature whose claimed key did not make it) among 4,095 valid ones: the
// batch must fail and exactly that item be reported.
func TestVerifyForgedInLargeBatch(t *testing.T) {
	if testing.Short() {
		t.Skip("signs 4,096 transactions")
	}
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 7))
	items := validItems(t, seed, 4096, 512)
	forged := rng.IntN(len(items))
	// The forger signs the victim's digest with its own key and claims the
	// victim's key.
	victim := items[forged]
	items[forged] = signedItem(t, testKey(t, seed, 10_000), victim.Digest)
	items[forged].PubKey = victim.PubKey
	if VerifyAll(items) {
		t.Fatalf("seed %d: VerifyAll accepted a batch with a forged signature at %d", seed, forged)
	}
	valid, all := Verify(items)
	if all {
		t.Fatalf("seed %d: Verify reported all valid", seed)
	}
	for i, v := range valid {
		if v != (i != forged) {
			t.Fatalf("seed %d: item %d valid = %v (forged item is %d)", seed, i, v, forged)
		}
	}
}

// TestVerifyDuplicates checks batches made of copies of one transaction,
// valid or not: their R points repeat, which drives the MSM's doubling and
// cancellation cases.
func TestVerifyDuplicates(t *testing.T) {
	seed := testSeed(t)
	good := validItems(t, seed, 1, 1)[0]
	bad := good
	bad.Sig[64] ^= 1
	for _, n := range []int{16, 100, 1000} {
		for _, tc := range []struct {
			name string
			mix  func(i int) Item
		}{
			{"all valid", func(int) Item { return good }},
			{"all invalid", func(int) Item { return bad }},
			{"alternating", func(i int) Item { return []Item{good, bad}[i%2] }},
		} {
			t.Run(fmt.Sprintf("n=%d/%s", n, tc.name), func(t *testing.T) {
				items := make([]Item, n)
				for i := range items {
					items[i] = tc.mix(i)
				}
				checkAgainstReference(t, seed, items, func(int) string { return tc.name })
			})
		}
	}
}

// TestVerifyAllInvalid checks a batch where every item is well-formed but
// claims the wrong key: bisection runs out of budget and the rest is
// checked one by one.
func TestVerifyAllInvalid(t *testing.T) {
	seed := testSeed(t)
	items := validItems(t, seed, 300, 300)
	for i := range items {
		items[i].PubKey = items[(i+1)%len(items)].PubKey
	}
	checkAgainstReference(t, seed, items, func(int) string { return "wrong key" })
}

// TestVerifyOneSender checks key merging: one sender with many
// transactions in a batch, one of them invalid.
func TestVerifyOneSender(t *testing.T) {
	seed := testSeed(t)
	items := validItems(t, seed, 200, 1)
	checkAgainstReference(t, seed, items, func(int) string { return "valid" })
	items[77].Digest[0] ^= 1
	checkAgainstReference(t, seed, items, func(i int) string { return fmt.Sprint(i == 77) })
}

// TestVerifyChunks checks an input longer than MaxBatch, with an invalid
// item in the short last chunk and one in the first.
func TestVerifyChunks(t *testing.T) {
	if testing.Short() {
		t.Skip("signs 4,116 transactions")
	}
	seed := testSeed(t)
	items := validItems(t, seed, MaxBatch+20, 64)
	checkAgainstReference(t, seed, items, func(int) string { return "valid" })
	items[3].Sig[64] ^= 1
	items[MaxBatch+7].Sig[64] ^= 1
	checkAgainstReference(t, seed, items, func(i int) string { return fmt.Sprint(i) })
}

// TestHalfOrderBoundary builds valid signatures with S = n/2 (accepted) and
// S = n/2 + 1 (rejected as high S, though recovery accepts it), choosing
// the digest so that the signature equation holds.
func TestHalfOrderBoundary(t *testing.T) {
	key := testKey(t, 1, 1)
	d := new(big.Int).SetBytes(crypto.FromECDSA(key))
	half := new(big.Int).Rsh(secpN, 1)
	for _, tc := range []struct {
		s    *big.Int
		want bool
	}{{half, true}, {new(big.Int).Add(half, big.NewInt(1)), false}} {
		for nonce := int64(2); ; nonce++ {
			kx, ky := crypto.S256().ScalarBaseMult(big.NewInt(nonce).Bytes())
			if kx.Cmp(secpN) >= 0 {
				continue
			}
			r := kx
			// s = (z + r*d)/k  =>  z = s*k - r*d (mod n)
			z := new(big.Int).Mul(tc.s, big.NewInt(nonce))
			z.Sub(z, new(big.Int).Mul(r, d)).Mod(z, secpN)
			var it Item
			z.FillBytes(it.Digest[:])
			r.FillBytes(it.Sig[:32])
			tc.s.FillBytes(it.Sig[32:64])
			it.Sig[64] = byte(ky.Bit(0))
			copy(it.PubKey[:], crypto.FromECDSAPub(&key.PublicKey))
			if got := reference(&it); got != tc.want {
				t.Fatalf("reference(s=%x) = %v; want %v", tc.s, got, tc.want)
			}
			valid := make([]bool, 1)
			if verifyBatch([]Item{it}, valid); valid[0] != tc.want {
				t.Fatalf("verifyBatch(s=%x) = %v; want %v", tc.s, valid[0], tc.want)
			}
			break
		}
	}
}

// TestAddress checks Address against go-ethereum's.
func TestAddress(t *testing.T) {
	key := testKey(t, 1, 2)
	var pub [PubKeyLen]byte
	copy(pub[:], crypto.FromECDSAPub(&key.PublicKey))
	if got, want := Address(&pub), crypto.PubkeyToAddress(key.PublicKey); got != want {
		t.Fatalf("Address = %x; want %x", got, want)
	}
}
