package testnet

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func goodSpec() Spec {
	return Spec{Validators: 4, Image: DefaultImage, APIPortBase: 8600, MetricsPortBase: 9600, HostGroupID: 1000, GoMaxProcs: 1}
}

func TestSpecValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Spec)
		want   string // "" means valid
	}{
		{"good", func(*Spec) {}, ""},
		{"empty image means default", func(s *Spec) { s.Image = "" }, ""},
		{"zero validators", func(s *Spec) { s.Validators = 0 }, "validators 0 out of range"},
		{"too many validators", func(s *Spec) { s.Validators = MaxValidators + 1 }, "out of range"},
		{"image with space", func(s *Spec) { s.Image = "ledgerd testnet" }, "not a valid image"},
		{"image with quote", func(s *Spec) { s.Image = `x"y` }, "not a valid image"},
		{"privileged api port", func(s *Spec) { s.APIPortBase = 80 }, "api port base 80"},
		{"api ports past 65535", func(s *Spec) { s.APIPortBase = 65534 }, "must lie in"},
		{"metrics port zero", func(s *Spec) { s.MetricsPortBase = 0 }, "metrics port base 0"},
		{"overlapping ports", func(s *Spec) { s.MetricsPortBase = 8603 }, "overlap"},
		{"negative group", func(s *Spec) { s.HostGroupID = -1 }, "host group id"},
		{"negative GOMAXPROCS", func(s *Spec) { s.GoMaxProcs = -1 }, "GOMAXPROCS -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := goodSpec()
			tt.mutate(&s)
			err := s.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v; want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrBadSpec) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v; want ErrBadSpec mentioning %q", err, tt.want)
			}
			if _, err := Compose(s); !errors.Is(err, ErrBadSpec) {
				t.Fatalf("Compose() error = %v; want ErrBadSpec", err)
			}
		})
	}
}

// TestCompose checks the properties the testnet relies on, service by
// service: loopback-only published ports, exec-form health checks through
// the binary, a read-only home, a named data volume, the non-root user and
// health-gated start order.
func TestCompose(t *testing.T) {
	s := goodSpec()
	s.Validators = 3
	s.APIPortBase, s.MetricsPortBase = 18600, 19600
	s.GoMaxProcs = 2
	out, err := Compose(s)
	if err != nil {
		t.Fatal(err)
	}
	text := string(out)
	_, rest, ok1 := strings.Cut(text, "\nservices:\n")
	section, _, ok2 := strings.Cut(rest, "\nnetworks:\n")
	if !ok1 || !ok2 {
		t.Fatalf("no services or networks section:\n%s", text)
	}
	services := strings.Split("\n"+section, "\n  v")
	if len(services) != 4 { // "" + 3 services
		t.Fatalf("found %d service blocks; want 3:\n%s", len(services)-1, text)
	}
	for i := range 3 {
		block := "v" + services[i+1]
		want := []string{
			fmt.Sprintf("%q", fmt.Sprintf("127.0.0.1:%d:%d", 18600+i, APIPort)),
			fmt.Sprintf("%q", fmt.Sprintf("127.0.0.1:%d:%d", 19600+i, MetricsPort)),
			fmt.Sprintf(`"./v%d:%s:ro"`, i, HomeDir),
			fmt.Sprintf(`"v%d-data:%s"`, i, DataDir),
			`test: ["CMD", "/ledgerd", "healthcheck", "--node", "http://127.0.0.1:8600"]`,
			`user: "65532:65532"`,
			`group_add: ["1000"]`,
			"read_only: true",
			`image: "ledgerd:testnet"`,
			"environment:\n      GOMAXPROCS: \"2\"\n",
		}
		for _, w := range want {
			if !strings.Contains(block, w) {
				t.Errorf("service v%d lacks %s:\n%s", i, w, block)
			}
		}
		gated := strings.Contains(block, "v0:\n        condition: service_healthy")
		if gated != (i > 0) {
			t.Errorf("service v%d: health-gated on v0 = %v; want %v", i, gated, i > 0)
		}
	}
	s.GoMaxProcs = 0
	if out, err := Compose(s); err != nil || strings.Contains(string(out), "GOMAXPROCS") {
		t.Errorf("GoMaxProcs 0: GOMAXPROCS set in the file (err %v)", err)
	}
	if strings.Contains(text, "0.0.0.0:") {
		t.Errorf("a port is published beyond loopback:\n%s", text)
	}
	if strings.Contains(text, "26656") {
		t.Errorf("the p2p port is published:\n%s", text)
	}
	for i := range 3 {
		if !strings.Contains(text, fmt.Sprintf("\n  v%d-data: {}", i)) {
			t.Errorf("volume v%d-data is not declared", i)
		}
	}
}

// composeCommand is the Compose command line to run: $LEDGERD_COMPOSE
// (the Makefile's choice), else `docker compose` (v2) when it answers,
// else `docker-compose` (v1); nil when neither is installed.
func composeCommand() []string {
	if v := strings.Fields(os.Getenv("LEDGERD_COMPOSE")); len(v) > 0 {
		return v
	}
	if exec.Command("docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}
	}
	if _, err := exec.LookPath("docker-compose"); err == nil {
		return []string{"docker-compose"}
	}
	return nil
}

// TestComposeConfig asks Compose itself to parse a generated file, when
// Compose (v2 or v1) is installed.
func TestComposeConfig(t *testing.T) {
	dc := composeCommand()
	if dc == nil {
		t.Skip("neither docker compose (v2) nor docker-compose (v1) is installed; the file's syntax is not checked by Compose")
	}
	dir := t.TempDir()
	out, err := Compose(goodSpec())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "\nversion:") {
		t.Fatalf("the file has a top-level version key, which Compose v2 reports as obsolete:\n%s", out)
	}
	if err := os.WriteFile(filepath.Join(dir, "docker-compose.yml"), out, 0o644); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if err := os.Mkdir(filepath.Join(dir, ServiceName(i)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(dc[0], append(dc[1:], "-p", "ledgerdcomposetest", "config", "-q")...)
	cmd.Dir = dir
	if msg, err := cmd.CombinedOutput(); err != nil || len(msg) > 0 {
		t.Fatalf("%s config: %v\n%s", strings.Join(dc, " "), err, msg)
	}
}

func TestAddresses(t *testing.T) {
	if got, want := P2PAddr(2, "16UiuX"), "/dns4/v2/tcp/26656/p2p/16UiuX"; got != want {
		t.Errorf("P2PAddr(2) = %q; want %q", got, want)
	}
	if got, want := P2PListen(), "/ip4/0.0.0.0/tcp/26656"; got != want {
		t.Errorf("P2PListen() = %q; want %q", got, want)
	}
	if got, want := APIListen(), "0.0.0.0:8600"; got != want {
		t.Errorf("APIListen() = %q; want %q", got, want)
	}
}
