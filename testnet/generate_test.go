package testnet

import (
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/ledgerd/ledgerd/node"
)

// TestGenerateDocker builds ledgerd and checks what `ledgerd testnet
// --docker` writes: DNS p2p hints in genesis, container listeners and the
// /data volume in every config, a 32-byte PSK, file modes the container
// user can read through its added group (and a host-only faucet key), and
// the compose file exactly as Compose renders it. It also checks that bad
// port flags are usage errors and that plain `testnet` writes no compose
// file.
func TestGenerateDocker(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmd/ledgerd; skipped with -short")
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "ledgerd")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/ledgerd").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := filepath.Join(tmp, "net")
	out, err := exec.Command(bin, "testnet", "--docker", "--validators", "3", "--out", dir,
		"--api-port-base", "18600", "--metrics-port-base", "19600", "--image", "example/ledgerd:e2e").CombinedOutput()
	if err != nil {
		t.Fatalf("ledgerd testnet --docker: %v\n%s", err, out)
	}
	g, err := node.LoadGenesis(filepath.Join(dir, "genesis.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Validators) != 3 {
		t.Fatalf("genesis has %d validators; want 3", len(g.Validators))
	}
	mode := func(p string) os.FileMode {
		t.Helper()
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return st.Mode().Perm()
	}
	if m := mode(filepath.Join(dir, "faucet_key")); m != 0o600 {
		t.Errorf("faucet_key mode %o; want 600", m)
	}
	for i, v := range g.Validators {
		home := filepath.Join(dir, ServiceName(i))
		id := v.P2PAddr[strings.LastIndex(v.P2PAddr, "/")+1:]
		if want := P2PAddr(i, id); v.P2PAddr != want || !strings.HasPrefix(id, "16Uiu2") {
			t.Errorf("validator %d p2p_addr %q; want %q with a secp256k1 peer ID", i, v.P2PAddr, want)
		}
		var cfg node.Config
		if _, err := toml.DecodeFile(filepath.Join(home, "config.toml"), &cfg); err != nil {
			t.Fatal(err)
		}
		if cfg.DataDir != DataDir || cfg.API.Listen != APIListen() || cfg.Metrics.Listen != MetricsListen() ||
			len(cfg.P2P.Listen) != 1 || cfg.P2P.Listen[0] != P2PListen() || cfg.P2P.PSKFile != "psk" || cfg.Log.Format != "json" {
			t.Errorf("v%d config: %+v", i, cfg)
		}
		if len(cfg.P2P.Peers) != 2 {
			t.Errorf("v%d peers %v; want the 2 others", i, cfg.P2P.Peers)
		}
		for _, p := range cfg.P2P.Peers {
			if !strings.HasPrefix(p, "/dns4/v") || strings.HasPrefix(p, "/dns4/"+ServiceName(i)+"/") {
				t.Errorf("v%d peer %q is not another validator's DNS address", i, p)
			}
		}
		psk, err := os.ReadFile(filepath.Join(home, "psk"))
		if err != nil {
			t.Fatal(err)
		}
		if b, err := hex.DecodeString(strings.TrimSpace(string(psk))); err != nil || len(b) != 32 {
			t.Errorf("v%d psk %q is not 32 bytes of hex", i, psk)
		}
		for name, want := range map[string]os.FileMode{"": 0o750, "node_key": 0o640, "psk": 0o640, "config.toml": 0o644} {
			if m := mode(filepath.Join(home, name)); m != want {
				t.Errorf("v%d/%s mode %o; want %o", i, name, m, want)
			}
		}
	}
	got, err := os.ReadFile(filepath.Join(dir, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	// The generator divides this machine's CPUs among the validators.
	want, err := Compose(Spec{Validators: 3, Image: "example/ledgerd:e2e", APIPortBase: 18600, MetricsPortBase: 19600, HostGroupID: os.Getgid(),
		GoMaxProcs: CPUShare(runtime.NumCPU(), 3)})
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("docker-compose.yml differs from Compose:\n%s\nwant:\n%s", got, want)
	}

	t.Run("bad port base", func(t *testing.T) {
		cmd := exec.Command(bin, "testnet", "--docker", "--out", filepath.Join(tmp, "bad"), "--api-port-base", "80")
		out, err := cmd.CombinedOutput()
		if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 2 || !strings.Contains(string(out), "api port base 80") {
			t.Fatalf("exit %v, %s; want usage error naming the api port base", err, out)
		}
		if _, err := os.Stat(filepath.Join(tmp, "bad")); !os.IsNotExist(err) {
			t.Fatalf("a rejected command wrote %s (stat: %v)", filepath.Join(tmp, "bad"), err)
		}
	})
	t.Run("loopback writes no compose file", func(t *testing.T) {
		lo := filepath.Join(tmp, "lo")
		if out, err := exec.Command(bin, "testnet", "--validators", "2", "--out", lo).CombinedOutput(); err != nil {
			t.Fatalf("ledgerd testnet: %v\n%s", err, out)
		}
		if _, err := os.Stat(filepath.Join(lo, "docker-compose.yml")); !os.IsNotExist(err) {
			t.Fatalf("plain testnet wrote docker-compose.yml (stat: %v)", err)
		}
		if m := mode(filepath.Join(lo, "v0", "node_key")); m != 0o600 {
			t.Fatalf("plain testnet node_key mode %o; want 600", m)
		}
	})
}
