package sigbatch

import (
	"flag"
	"math/rand/v2"
	"testing"
)

var seedFlag = flag.Uint64("sigbatch.seed", 0, "seed for the randomized tests (0: a fresh one, printed on failure)")

// testSeed returns the seed of a randomized test and logs how to replay it
// if the test fails.
func testSeed(t *testing.T) uint64 {
	t.Helper()
	seed := *seedFlag
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("reproduce: go test ./ledger/sigbatch -run '^%s$' -sigbatch.seed=%d", t.Name(), seed)
		}
	})
	return seed
}
