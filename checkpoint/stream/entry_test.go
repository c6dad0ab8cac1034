package stream

import (
	"bytes"
	"crypto/ecdsa"
	"errors"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
)

const testChain = "ledgerd-test"

// secp256k1N is the curve order (for building high-S copies of signatures).
var secp256k1N = crypto.S256().Params().N

func testKey(t testing.TB, i byte) *ecdsa.PrivateKey {
	t.Helper()
	k, err := crypto.ToECDSA(crypto.Keccak256([]byte("stream-test-key"), []byte{i}))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func sampleEntry() Entry {
	return Entry{Origin: 3, Seq: 7, Epoch: 2, Kind: KindBatch, Body: EncodeBatch([][]byte{[]byte("tx-a"), []byte("tx-bb")})}
}

func TestEntryRoundTrip(t *testing.T) {
	key := testKey(t, 1)
	for _, e := range []Entry{
		sampleEntry(),
		{Origin: 0, Seq: 1, Epoch: 1, Kind: KindMarker, Body: EncodeMarker(Marker{Epoch: 1, TimeMs: 1700000000123})},
		{Origin: 1<<32 - 1, Seq: 1<<64 - 1, Epoch: 9, Kind: KindBatch, Body: nil},
	} {
		if err := e.Sign(testChain, key); err != nil {
			t.Fatal(err)
		}
		b := e.Encode()
		got, err := DecodeEntry(b)
		if err != nil {
			t.Fatalf("DecodeEntry(%x) error %v", b, err)
		}
		if !bytes.Equal(got.Encode(), b) {
			t.Fatalf("re-encode = %x; want %x", got.Encode(), b)
		}
		if err := got.Verify(testChain, crypto.PubkeyToAddress(key.PublicKey)); err != nil {
			t.Fatalf("Verify = %v", err)
		}
	}
}

func TestDecodeEntryErrors(t *testing.T) {
	e := sampleEntry()
	good := e.Encode()
	mut := func(f func(b []byte) []byte) []byte { return f(append([]byte{}, good...)) }
	marker := Entry{Origin: 1, Seq: 1, Epoch: 4, Kind: KindMarker, Body: EncodeMarker(Marker{Epoch: 5})}
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"short", good[:20], ErrTruncated},
		{"version", mut(func(b []byte) []byte { b[0] = 9; return b }), ErrBadVersion},
		{"kind", mut(func(b []byte) []byte { b[21] = 3; return b }), ErrBadKind},
		{"zero seq", mut(func(b []byte) []byte { copy(b[5:13], make([]byte, 8)); return b }), ErrZeroSeq},
		{"body too long", mut(func(b []byte) []byte { b[25]++; return b }), ErrTruncated},
		{"trailing", append(append([]byte{}, good...), 0), ErrTrailingBytes},
		{"truncated sig", good[:len(good)-1], ErrTruncated},
		{"marker epoch", marker.Encode(), ErrMarkerEpoch},
		{"marker body", (&Entry{Origin: 1, Seq: 1, Epoch: 4, Kind: KindMarker, Body: []byte{1}}).Encode(), ErrTruncated},
		{"oversize", make([]byte, MaxEntryBytes+1), ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeEntry(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("DecodeEntry error = %v; want %v", err, tt.want)
			}
		})
	}
}

func TestSignVerify(t *testing.T) {
	key, other := testKey(t, 1), testKey(t, 2)
	addr := crypto.PubkeyToAddress(key.PublicKey)
	e := sampleEntry()
	if err := e.Sign(testChain, key); err != nil {
		t.Fatal(err)
	}
	if err := e.Verify(testChain, addr); err != nil {
		t.Fatalf("Verify = %v", err)
	}
	if err := e.Verify("other-chain", addr); !errors.Is(err, ErrWrongSigner) {
		t.Errorf("wrong chain: Verify = %v; want ErrWrongSigner", err)
	}
	if err := e.Verify(testChain, crypto.PubkeyToAddress(other.PublicKey)); !errors.Is(err, ErrWrongSigner) {
		t.Errorf("wrong origin: Verify = %v; want ErrWrongSigner", err)
	}
	for _, f := range []func(*Entry){
		func(x *Entry) { x.Seq++ }, func(x *Entry) { x.Epoch++ }, func(x *Entry) { x.Origin++ },
		func(x *Entry) { x.Kind = KindMarker }, func(x *Entry) { x.Body = append(x.Body, 0) },
	} {
		c := e
		c.Body = append([]byte{}, e.Body...)
		f(&c)
		if err := c.Verify(testChain, addr); err == nil {
			t.Errorf("Verify of a modified entry %+v succeeded", c)
		}
	}
	// High-S malleation recovers the same key but must be rejected.
	hi := e
	s := new(big.Int).SetBytes(e.Sig[32:64])
	s.Sub(secp256k1N, s)
	s.FillBytes(hi.Sig[32:64])
	hi.Sig[64] ^= 1
	if err := hi.Verify(testChain, addr); !errors.Is(err, ErrBadSignature) {
		t.Errorf("high-S: Verify = %v; want ErrBadSignature", err)
	}
	bad := e
	bad.Sig[64] = 27
	if err := bad.Verify(testChain, addr); !errors.Is(err, ErrBadSignature) {
		t.Errorf("V=27: Verify = %v; want ErrBadSignature", err)
	}
	if err := e.Sign(testChain, nil); !errors.Is(err, ErrNilKey) {
		t.Errorf("Sign(nil) = %v", err)
	}
	if err := e.Sign("", key); !errors.Is(err, ErrBadChainID) {
		t.Errorf("Sign(empty chain) = %v", err)
	}
}

// TestDigestGolden pins the digest so that an encoding change is deliberate.
func TestDigestGolden(t *testing.T) {
	e := Entry{Origin: 1, Seq: 2, Epoch: 3, Kind: KindMarker, Body: EncodeMarker(Marker{Epoch: 3, TimeMs: 4})}
	const want = "0x7c9980c492455a89f8d830be11dc74993c32710a588d386c77c54c0708a8a4ab"
	got := e.Digest("ledgerd-golden").Hex()
	if got != want {
		t.Fatalf("Digest = %s; want %s", got, want)
	}
	// The same bytes written out by hand: domain, chain ID length and bytes,
	// origin, seq, epoch, kind, body length, body.
	manual := []byte("ledgerd/stream-entry/v1")
	manual = append(manual, 0, 14)
	manual = append(manual, "ledgerd-golden"...)
	manual = append(manual, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3, 2, 0, 0, 0, 16)
	manual = append(manual, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 4)
	if h := crypto.Keccak256Hash(manual).Hex(); h != want {
		t.Fatalf("manual digest = %s; want %s", h, want)
	}
}

func TestMarkerCodec(t *testing.T) {
	m := Marker{Epoch: 42, TimeMs: -5}
	got, err := DecodeMarker(EncodeMarker(m))
	if err != nil || got != m {
		t.Fatalf("DecodeMarker = %+v, %v; want %+v", got, err, m)
	}
	if _, err := DecodeMarker(make([]byte, 15)); !errors.Is(err, ErrTruncated) {
		t.Errorf("short marker: %v", err)
	}
	if _, err := DecodeMarker(make([]byte, 17)); !errors.Is(err, ErrTrailingBytes) {
		t.Errorf("long marker: %v", err)
	}
}

func TestBatchCodec(t *testing.T) {
	txs := [][]byte{[]byte("a"), bytes.Repeat([]byte{7}, 200), []byte("ccc")}
	got, err := DecodeBatch(EncodeBatch(txs))
	if err != nil || len(got) != len(txs) {
		t.Fatalf("DecodeBatch = %d txs, %v", len(got), err)
	}
	for i := range txs {
		if !bytes.Equal(got[i], txs[i]) {
			t.Fatalf("tx %d = %x; want %x", i, got[i], txs[i])
		}
	}
	if n := len(EncodeBatch(txs)); n != BatchBytes(3, 204) {
		t.Errorf("BatchBytes = %d; encoded %d", BatchBytes(3, 204), n)
	}
	empty, err := DecodeBatch(EncodeBatch(nil))
	if err != nil || len(empty) != 0 {
		t.Errorf("empty batch: %v, %v", empty, err)
	}
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"short", []byte{0, 0}, ErrTruncated},
		{"count too high", []byte{0, 1, 0, 0}, ErrTooManyTxs},
		{"count beyond data", []byte{0, 0, 0, 2, 0, 0, 0, 1, 'x'}, ErrTruncated},
		{"empty tx", []byte{0, 0, 0, 1, 0, 0, 0, 0}, ErrEmptyTx},
		{"tx beyond data", []byte{0, 0, 0, 1, 0, 0, 0, 5, 'x'}, ErrTruncated},
		{"trailing", append(EncodeBatch(txs), 1), ErrTrailingBytes},
		{"oversize", make([]byte, MaxBodyBytes+1), ErrTooLarge},
	}
	for _, tt := range tests {
		if _, err := DecodeBatch(tt.in); !errors.Is(err, tt.want) {
			t.Errorf("%s: DecodeBatch error = %v; want %v", tt.name, err, tt.want)
		}
	}
}

func FuzzDecodeEntry(f *testing.F) {
	key := testKey(f, 1)
	e := sampleEntry()
	_ = e.Sign(testChain, key)
	f.Add(e.Encode())
	m := Entry{Origin: 1, Seq: 1, Epoch: 1, Kind: KindMarker, Body: EncodeMarker(Marker{Epoch: 1})}
	f.Add(m.Encode())
	f.Add([]byte{})
	f.Add(make([]byte, entryHeaderBytes+SigBytes))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeEntry(b)
		if err != nil {
			return
		}
		if !bytes.Equal(e.Encode(), b) {
			t.Fatalf("re-encode differs: %x vs %x", e.Encode(), b)
		}
		_ = e.Verify(testChain, crypto.PubkeyToAddress(key.PublicKey))
	})
}

func FuzzDecodeBatch(f *testing.F) {
	f.Add(EncodeBatch([][]byte{[]byte("a"), []byte("bc")}))
	f.Add(EncodeBatch(nil))
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		txs, err := DecodeBatch(b)
		if err != nil {
			return
		}
		if !bytes.Equal(EncodeBatch(txs), b) {
			t.Fatalf("re-encode differs")
		}
	})
}

func FuzzDecodeMarker(f *testing.F) {
	f.Add(EncodeMarker(Marker{Epoch: 1, TimeMs: 2}))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMarker(b)
		if err != nil {
			return
		}
		if !bytes.Equal(EncodeMarker(m), b) {
			t.Fatalf("re-encode differs")
		}
	})
}
