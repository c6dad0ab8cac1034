package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd/node/api"
)

// TestStateExportOverHTTP exports a certified state from a running devnet
// node through its API (state export --node), imports it into a fresh home
// (state import verifies the certificates and the state_root), refuses a
// tampered copy, checks the flag errors, and, once the devnet is stopped,
// that `state export --home` writes the very same bytes for that epoch
// (one writer for both).
func TestStateExportOverHTTP(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 4-process devnet; skipped with -short")
	}
	d := startDevnet(t, 4, 500*time.Millisecond)
	api0 := d.info.Nodes[0].API
	// A few transfers so the state is more than the genesis allocations.
	d.cli("tx", "send", "--node", api0, "--key", d.info.FaucetKey, "--to", "0x00000000000000000000000000000000000000aa",
		"--amount", "5", "--nonce", "0")
	d.cli("tx", "send", "--node", api0, "--key", d.info.FaucetKey, "--to", "0x00000000000000000000000000000000000000bb",
		"--amount", "7", "--nonce", "1", "--wait")

	c, err := api.NewClient(api0, nil)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if cp, err := c.LatestCheckpoint(t.Context()); err == nil && cp.Epoch >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no final epoch 3 after 30 s\n%s", d.logs())
		}
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "state.bin")
	msg := d.cli("state", "export", "--node", api0, "--epoch", "latest", "--out", out)
	m := regexp.MustCompile(`exported epoch (\d+) \((\d+) bytes\)`).FindStringSubmatch(msg)
	if m == nil {
		t.Fatalf("export output: %s", msg)
	}
	epoch := m[1]
	file, err := os.ReadFile(out)
	if err != nil || len(file) == 0 || m[2] != strconv.Itoa(len(file)) {
		t.Fatalf("exported file: %d bytes (reported %s), %v", len(file), m[2], err)
	}
	// A numbered epoch gives the same file.
	out2 := filepath.Join(dir, "state-n.bin")
	d.cli("state", "export", "--node", api0, "--epoch", epoch, "--out", out2)
	if b, _ := os.ReadFile(out2); !bytes.Equal(b, file) {
		t.Fatalf("export of epoch %s differs from latest", epoch)
	}

	fail := func(want string, args ...string) {
		t.Helper()
		b, err := exec.Command(d.bin, args...).CombinedOutput()
		if err == nil || !strings.Contains(string(b), want) {
			t.Fatalf("ledgerd %s: %v\n%s\nwant an error containing %q", strings.Join(args, " "), err, b, want)
		}
	}
	bad := filepath.Join(dir, "none.bin")
	fail("not final here", "state", "export", "--node", api0, "--epoch", "999999", "--out", bad)
	fail("epoch 0 is the genesis", "state", "export", "--node", api0, "--epoch", "0", "--out", bad)
	fail("not both", "state", "export", "--node", api0, "--home", d.info.Nodes[0].Home, "--epoch", "1", "--out", bad)
	fail("one of --node URL", "state", "export", "--epoch", "1", "--out", bad)
	fail("connection refused", "state", "export", "--node", "http://127.0.0.1:1", "--epoch", "1", "--out", bad)
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Fatalf("a failed export left %s (%v)", bad, err)
	}

	// Import into a fresh home; a tampered copy is refused first.
	home := filepath.Join(dir, "restored")
	d.cli("init", "--home", home, "--genesis", d.info.Genesis)
	tampered := bytes.Clone(file)
	tampered[len(tampered)-20] ^= 0x01 // inside the last account record
	tp := filepath.Join(dir, "tampered.bin")
	if err := os.WriteFile(tp, tampered, 0o600); err != nil {
		t.Fatal(err)
	}
	fail("state file refused", "state", "import", "--home", home, tp)
	if got := d.cli("state", "import", "--home", home, out); !strings.Contains(got, "imported epoch "+epoch+" ") {
		t.Fatalf("import: %s", got)
	}

	// The stopped node's store exports the same bytes with --home.
	d.stop()
	out3 := filepath.Join(dir, "state-home.bin")
	d.cli("state", "export", "--home", d.info.Nodes[0].Home, "--epoch", epoch, "--out", out3)
	if b, _ := os.ReadFile(out3); !bytes.Equal(b, file) {
		t.Fatalf("--home export of epoch %s differs from the HTTP export (%d vs %d bytes)", epoch, len(b), len(file))
	}
	t.Logf("epoch %s: %d-byte state file over HTTP, imported, identical to the --home export", epoch, len(file))
}
