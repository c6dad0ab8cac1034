package main

import (
	"slices"
	"testing"
)

// TestValidatorEnv: a devnet divides the machine's CPUs among its
// validators unless the user chose GOMAXPROCS.
func TestValidatorEnv(t *testing.T) {
	base := []string{"HOME=/h", "PATH=/bin"}
	for _, c := range []struct {
		cpus, validators int
		want             string
	}{
		{2, 4, "GOMAXPROCS=1"},
		{8, 4, "GOMAXPROCS=2"},
		{16, 3, "GOMAXPROCS=5"},
		{1, 1, "GOMAXPROCS=1"},
		{4, 0, "GOMAXPROCS=4"},
	} {
		got, v := validatorEnv(base, c.cpus, c.validators)
		if !slices.Equal(got, append(slices.Clone(base), c.want)) || "GOMAXPROCS="+v != c.want {
			t.Errorf("%d cpus, %d validators: %q, want the base plus %s", c.cpus, c.validators, got, c.want)
		}
	}
	user := append(slices.Clone(base), "GOMAXPROCS=3")
	if got, v := validatorEnv(user, 2, 4); !slices.Equal(got, user) || v != "3" {
		t.Errorf("the user's GOMAXPROCS was changed: %q", got)
	}
}
