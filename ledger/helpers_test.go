package ledger

import (
	"crypto/ecdsa"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const testChain = "ledgerd-test"

// testKey returns the deterministic test key number i.
func testKey(tb testing.TB, i int) *ecdsa.PrivateKey {
	tb.Helper()
	k, err := crypto.ToECDSA(keccak([]byte("ledgerd-test-key"), []byte{byte(i >> 8), byte(i)}).Bytes())
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func testAddr(tb testing.TB, i int) Address {
	return crypto.PubkeyToAddress(testKey(tb, i).PublicKey)
}

// signedTx returns a transaction signed by test key i.
func signedTx(tb testing.TB, i int, tx Tx) Tx {
	tb.Helper()
	if tx.ChainID == "" {
		tx.ChainID = testChain
	}
	if err := tx.Sign(testKey(tb, i)); err != nil {
		tb.Fatal(err)
	}
	return tx
}

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got any) {
	t.Helper()
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./ledger -run %s -update to create it)", err, t.Name())
	}
	if string(want) != string(b) {
		t.Errorf("%s differs from the golden file:\ngot:\n%s\nwant:\n%s", path, b, want)
	}
}
