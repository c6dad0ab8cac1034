package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/crypto"
)

// TestKeystoreRoundTrip: a key encrypted by `keys new --encrypt` is a
// go-ethereum V3 keystore (scrypt) that go-ethereum decrypts; export gives
// back the plain hex key, import encrypts it again, and every form shows
// the same address; tx send signs with a keystore key; a wrong or missing
// passphrase and an existing output are refused.
func TestKeystoreRoundTrip(t *testing.T) {
	dir := t.TempDir()
	pw, wrong := filepath.Join(dir, "pw"), filepath.Join(dir, "wrong")
	if err := os.WriteFile(pw, []byte("correct horse battery\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(wrong, []byte("incorrect horse\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	address := func(args ...string) string {
		t.Helper()
		code, out, stderr := testCLI(t, nil, append(args, "--json")...)
		if code != 0 {
			t.Fatalf("ledgerd %s: exit %d: %s", strings.Join(args, " "), code, stderr)
		}
		return requireOneJSON(t, out)["address"].(string)
	}
	enc := filepath.Join(dir, "client.json")
	addr := address("keys", "new", "--encrypt", "--light-kdf", "--password-file", pw, "--out", enc)

	data, err := os.ReadFile(enc)
	if err != nil {
		t.Fatal(err)
	}
	var v3 struct {
		Version int    `json:"version"`
		Address string `json:"address"`
		Crypto  struct {
			Cipher string `json:"cipher"`
			KDF    string `json:"kdf"`
		} `json:"crypto"`
	}
	if err := json.Unmarshal(data, &v3); err != nil || v3.Version != 3 || v3.Crypto.KDF != "scrypt" || v3.Crypto.Cipher != "aes-128-ctr" {
		t.Fatalf("not a V3 scrypt keystore (%v): %s", err, data)
	}
	if st, _ := os.Stat(enc); st.Mode().Perm() != 0o600 {
		t.Fatalf("keystore mode %o, want 600", st.Mode().Perm())
	}
	k, err := keystore.DecryptKey(data, "correct horse battery")
	if err != nil || k.Address.Hex() != addr {
		t.Fatalf("go-ethereum decrypts %v (%v), want %s", k, err, addr)
	}

	if got := address("keys", "show", "--key", enc, "--password-file", pw); got != addr {
		t.Fatalf("keys show: %s, want %s", got, addr)
	}
	plain := filepath.Join(dir, "plain.hex")
	if got := address("keys", "export", "--key", enc, "--password-file", pw, "--out", plain); got != addr {
		t.Fatalf("keys export: %s, want %s", got, addr)
	}
	hexKey, err := crypto.LoadECDSA(plain)
	if err != nil || crypto.PubkeyToAddress(hexKey.PublicKey).Hex() != addr {
		t.Fatalf("exported key: %v", err)
	}
	again := filepath.Join(dir, "again.json")
	if got := address("keys", "import", "--key", plain, "--password-file", pw, "--light-kdf", "--out", again); got != addr {
		t.Fatalf("keys import: %s, want %s", got, addr)
	}
	if got := address("keys", "show", "--key", again, "--password-file", pw); got != addr {
		t.Fatalf("keys show of the imported key: %s, want %s", got, addr)
	}

	// tx send signs with the keystore key.
	srv := fakeNode(t)
	code, out, stderr := testCLI(t, nil, "tx", "send", "--node", srv.URL, "--key", enc, "--password-file", pw,
		"--to", "0x00000000000000000000000000000000000000bb", "--amount", "1", "--nonce", "0", "--json")
	if code != 0 || requireOneJSON(t, out)["from"] != addr {
		t.Fatalf("tx send with a keystore key: exit %d, %s %s", code, out, stderr)
	}

	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"keys", "show", "--key", enc, "--password-file", wrong}, 1, "could not decrypt"},
		{[]string{"keys", "show", "--key", enc}, 2, "give --password-file"}, // stdin is not a terminal
		{[]string{"keys", "new", "--encrypt", "--password-file", pw, "--out", enc}, 1, "refusing to overwrite"},
		{[]string{"keys", "export", "--key", enc, "--password-file", pw, "--out", plain}, 1, "refusing to overwrite"},
		{[]string{"keys", "import", "--key", enc, "--password-file", pw, "--out", filepath.Join(dir, "x")}, 1, "already a keystore"},
		{[]string{"keys", "export", "--key", plain, "--out", filepath.Join(dir, "y")}, 1, "already a plain hex key"},
		{[]string{"keys", "new", "--password-file", pw, "--out", filepath.Join(dir, "z")}, 2, "need --encrypt"},
	} {
		code, _, stderr := testCLI(t, nil, c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("ledgerd %s: exit %d, %q; want %d and %q", strings.Join(c.args, " "), code, stderr, c.code, c.want)
		}
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := testCLI(t, nil, "keys", "new", "--encrypt", "--password-file", empty, "--out", filepath.Join(dir, "e")); code != 1 || !strings.Contains(stderr, "empty") {
		t.Errorf("an empty passphrase was accepted: %d %s", code, stderr)
	}
}
