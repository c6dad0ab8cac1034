package checkpointtest

import (
	"os/exec"
	"strings"
	"testing"
)

// TestBinaryDoesNotLinkTheSimulator: the validator binary carries no test
// infrastructure (snapshot-sim runs package conformance).
func TestBinaryDoesNotLinkTheSimulator(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/ledgerd/ledgerd/cmd/ledgerd").CombinedOutput()
	if err != nil {
		t.Skipf("go list unavailable: %v\n%s", err, out)
	}
	deps := string(out)
	if !strings.Contains(deps, "github.com/ledgerd/ledgerd/checkpoint/conformance\n") {
		t.Fatalf("ledgerd does not link package conformance (snapshot-sim):\n%s", deps)
	}
	if strings.Contains(deps, "github.com/ledgerd/ledgerd/checkpoint/checkpointtest\n") {
		t.Fatal("ledgerd links package checkpointtest")
	}
}
