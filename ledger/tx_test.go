package ledger

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
)

func TestTxRoundTrip(t *testing.T) {
	tx := signedTx(t, 1, Tx{To: testAddr(t, 2), Amount: 7, Fee: 1, Nonce: 3})
	b := tx.Encode()
	got, err := DecodeTx(b)
	if err != nil {
		t.Fatal(err)
	}
	if got != tx {
		t.Fatalf("DecodeTx(Encode(tx)) = %+v; want %+v", got, tx)
	}
	if !bytes.Equal(got.Encode(), b) {
		t.Fatal("re-encoding differs")
	}
	if len(b) > MaxTxBytes {
		t.Fatalf("encoding is %d bytes > MaxTxBytes", len(b))
	}
	long := &Tx{ChainID: strings.Repeat("x", MaxChainIDLen), Amount: ^uint64(0), Fee: ^uint64(0), Nonce: ^uint64(0)}
	if n := len(long.Encode()); n != maxEncodedTxBytes {
		t.Fatalf("largest encoding is %d bytes; want %d", n, maxEncodedTxBytes)
	}
}

func TestDecodeTxErrors(t *testing.T) {
	validTx := signedTx(t, 1, Tx{To: testAddr(t, 2), Amount: 7, Fee: 1})
	valid := validTx.Encode()
	with := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(valid)) }
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrTxTruncated},
		{"one byte", []byte{TxVersion}, ErrTxTruncated},
		{"truncated sig", valid[:len(valid)-1], ErrTxTruncated},
		{"truncated header", valid[:2+len(testChain)], ErrTxTruncated},
		{"trailing byte", append(bytes.Clone(valid), 0), ErrTxTrailingBytes},
		{"oversize", make([]byte, MaxTxBytes+1), ErrTxOversize},
		{"version 0", with(func(b []byte) []byte { b[0] = 0; return b }), ErrTxVersion},
		{"version 2", with(func(b []byte) []byte { b[0] = 2; return b }), ErrTxVersion},
		{"chain id length 0", with(func(b []byte) []byte { b[1] = 0; return b }), ErrBadChainID},
		{"chain id length 65", with(func(b []byte) []byte { b[1] = MaxChainIDLen + 1; return b }), ErrBadChainID},
		{"chain id space", with(func(b []byte) []byte { b[2] = ' '; return b }), ErrBadChainID},
		{"chain id non-ascii", with(func(b []byte) []byte { b[2] = 0xff; return b }), ErrBadChainID},
		{"chain id longer than body", with(func(b []byte) []byte { b[1] = byte(len(testChain) + 1); return b }), ErrTxTruncated},
		{"chain id shorter than body", with(func(b []byte) []byte { b[1] = byte(len(testChain) - 1); return b }), ErrTxTrailingBytes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeTx(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("DecodeTx = %v; want %v", err, tt.want)
			}
		})
	}
}

// highS returns sig malleated to (r, N-s, v^1), which recovers the same key.
func highS(sig [SigLen]byte) [SigLen]byte {
	n := crypto.S256().Params().N
	s := new(big.Int).SetBytes(sig[32:64])
	s.Sub(n, s)
	s.FillBytes(sig[32:64])
	sig[64] ^= 1
	return sig
}

func TestSignatureChecks(t *testing.T) {
	good := signedTx(t, 1, Tx{To: testAddr(t, 2), Amount: 7, Fee: 1})
	mutate := func(f func(tx *Tx)) Tx { tx := good; f(&tx); return tx }
	n := crypto.S256().Params().N
	tests := []struct {
		name       string
		tx         Tx
		chain      string
		wantErr    error
		wantStatus Status
	}{
		{"valid", good, testChain, nil, StatusOK},
		{"wrong chain", good, "other-chain", ErrWrongChain, StatusWrongChain},
		{"high S", mutate(func(tx *Tx) { tx.Sig = highS(tx.Sig) }), testChain, ErrHighS, StatusHighS},
		{"v = 2", mutate(func(tx *Tx) { tx.Sig[64] = 2 }), testChain, ErrBadSignature, StatusBadSignature},
		{"v = 27", mutate(func(tx *Tx) { tx.Sig[64] = 27 }), testChain, ErrBadSignature, StatusBadSignature},
		{"r = 0", mutate(func(tx *Tx) { clear(tx.Sig[:32]) }), testChain, ErrBadSignature, StatusBadSignature},
		{"s = 0", mutate(func(tx *Tx) { clear(tx.Sig[32:64]) }), testChain, ErrBadSignature, StatusBadSignature},
		{"r = N", mutate(func(tx *Tx) { n.FillBytes(tx.Sig[:32]) }), testChain, ErrBadSignature, StatusBadSignature},
		{"zero signature", mutate(func(tx *Tx) { tx.Sig = [SigLen]byte{} }), testChain, ErrBadSignature, StatusBadSignature},
		{"bad chain id", mutate(func(tx *Tx) { tx.ChainID = "bad id" }), "bad id", ErrBadChainID, StatusBadChainID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := CheckTx(tt.tx, tt.chain)
			if !errors.Is(c.Err, tt.wantErr) || (tt.wantErr == nil) != (c.Err == nil) {
				t.Fatalf("CheckTx err = %v; want %v", c.Err, tt.wantErr)
			}
			if got := StatusOf(c.Err); got != tt.wantStatus {
				t.Fatalf("StatusOf = %v; want %v", got, tt.wantStatus)
			}
			if c.Hash != tt.tx.Hash() {
				t.Fatal("CheckTx hash differs from Tx.Hash")
			}
			if tt.wantErr == nil && c.Sender != testAddr(t, 1) {
				t.Fatalf("sender = %s; want %s", c.Sender, testAddr(t, 1))
			}
			if tt.wantErr != nil && c.Sender != (Address{}) {
				t.Fatalf("failed check has sender %s", c.Sender)
			}
			_, err := VerifyTx(tt.tx, tt.chain)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("VerifyTx err = %v; want %v", err, tt.wantErr)
			}
		})
	}
}

// TestHighSRecoversSameKey shows why Sender must reject high S: go-ethereum
// recovers the same address from the malleated signature.
func TestHighSRecoversSameKey(t *testing.T) {
	tx := signedTx(t, 1, Tx{To: testAddr(t, 2), Amount: 1})
	m := highS(tx.Sig)
	d := tx.SigningDigest()
	pub, err := crypto.Ecrecover(d[:], m[:])
	if err != nil {
		t.Fatal(err)
	}
	if got := Address(crypto.Keccak256(pub[1:])[12:]); got != testAddr(t, 1) {
		t.Fatalf("malleated signature recovers %s; the premise of this test is that it recovers the signer", got)
	}
}

func TestTamperedTxChangesSender(t *testing.T) {
	tx := signedTx(t, 1, Tx{To: testAddr(t, 2), Amount: 7, Fee: 1})
	tx.Amount++
	if s, err := tx.Sender(); err == nil && s == testAddr(t, 1) {
		t.Fatal("a changed amount still recovers the signer")
	}
}

func TestSignRejects(t *testing.T) {
	tx := Tx{ChainID: "has space"}
	if err := tx.Sign(testKey(t, 1)); !errors.Is(err, ErrBadChainID) {
		t.Fatalf("Sign(bad chain) = %v; want ErrBadChainID", err)
	}
	tx.ChainID = testChain
	if err := tx.Sign(nil); err == nil {
		t.Fatal("Sign(nil) succeeded")
	}
}

// TestDomainSeparation checks that the signed digest is not the tx hash, so
// a signature over a tx cannot be replayed as a signature over its ID.
func TestDomainSeparation(t *testing.T) {
	tx := Tx{ChainID: testChain, Amount: 1}
	if tx.SigningDigest() == tx.Hash() {
		t.Fatal("signing digest equals tx hash")
	}
	if keccak([]byte(txSigDomain), tx.EncodeUnsigned()) != tx.SigningDigest() {
		t.Fatal("signing digest is not keccak(domain || unsigned encoding)")
	}
	if keccak(tx.Encode()) != tx.Hash() {
		t.Fatal("hash is not keccak(signed encoding)")
	}
	// Two senders signing one payload are two transactions with two IDs.
	a, b := signedTx(t, 1, tx), signedTx(t, 2, tx)
	if a.Hash() == b.Hash() {
		t.Fatal("two senders' signatures of one payload share a tx hash")
	}
	if a.SigningDigest() != b.SigningDigest() {
		t.Fatal("the signing digest depends on the signature")
	}
}

type txVector struct {
	Name          string `json:"name"`
	ChainID       string `json:"chain_id"`
	To            string `json:"to"`
	Amount        uint64 `json:"amount"`
	Fee           uint64 `json:"fee"`
	Nonce         uint64 `json:"nonce"`
	KeyHex        string `json:"key"`
	Sender        string `json:"sender"`
	Unsigned      string `json:"unsigned"`
	Hash          string `json:"hash"`
	SigningDigest string `json:"signing_digest"`
	Sig           string `json:"sig"`
	Encoding      string `json:"encoding"`
}

// TestTxGolden pins the encoding, hash, digest and (RFC 6979, so
// deterministic) signature of a few transactions signed by fixed keys.
func TestTxGolden(t *testing.T) {
	cases := []struct {
		name string
		key  int
		tx   Tx
	}{
		{"simple", 1, Tx{ChainID: "ledgerd-test", To: testAddr(t, 2), Amount: 1000, Fee: 1, Nonce: 0}},
		{"zero fee", 2, Tx{ChainID: "ledgerd-test", To: testAddr(t, 1), Amount: 1, Fee: 0, Nonce: 41}},
		{"max values", 3, Tx{ChainID: strings.Repeat("c", MaxChainIDLen), To: Address{0xff}, Amount: ^uint64(0), Fee: ^uint64(0), Nonce: ^uint64(0)}},
	}
	var got []txVector
	for _, c := range cases {
		tx := c.tx
		if err := tx.Sign(testKey(t, c.key)); err != nil {
			t.Fatal(err)
		}
		sender, err := tx.Sender()
		if err != nil {
			t.Fatal(err)
		}
		h, d := tx.Hash(), tx.SigningDigest()
		got = append(got, txVector{
			Name: c.name, ChainID: tx.ChainID, To: tx.To.Hex(), Amount: tx.Amount, Fee: tx.Fee, Nonce: tx.Nonce,
			KeyHex: hex.EncodeToString(crypto.FromECDSA(testKey(t, c.key))), Sender: sender.Hex(),
			Unsigned: hex.EncodeToString(tx.EncodeUnsigned()), Hash: h.Hex(), SigningDigest: d.Hex(),
			Sig: hex.EncodeToString(tx.Sig[:]), Encoding: hex.EncodeToString(tx.Encode()),
		})
	}
	golden(t, "tx_vectors.json", got)
}

func FuzzDecodeTx(f *testing.F) {
	seed := signedTx(f, 1, Tx{To: testAddr(f, 2), Amount: 7, Fee: 1})
	f.Add(seed.Encode())
	f.Add(Tx{ChainID: strings.Repeat("z", MaxChainIDLen), Amount: ^uint64(0)}.encodeForFuzz())
	f.Add([]byte{})
	f.Add([]byte{TxVersion, 1, 'a'})
	f.Add(make([]byte, MaxTxBytes+1))
	f.Fuzz(func(t *testing.T, b []byte) {
		tx, err := DecodeTx(b)
		if err != nil {
			if tx != (Tx{}) {
				t.Fatalf("DecodeTx returned %+v with error %v", tx, err)
			}
			return
		}
		if !bytes.Equal(tx.Encode(), b) {
			t.Fatalf("Encode(DecodeTx(%x)) = %x", b, tx.Encode())
		}
		c := CheckTx(tx, tx.ChainID) // must not panic on any decoded tx
		if c.Err == nil {
			if _, err := tx.Sender(); err != nil {
				t.Fatalf("CheckTx passed, Sender failed: %v", err)
			}
		}
	})
}

func (tx Tx) encodeForFuzz() []byte { return tx.Encode() }
