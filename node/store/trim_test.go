//go:build linux

package store

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// TestTrimResident writes epochs whose pages stay resident through
// Badger's mappings, trims, and checks that the store's resident file
// pages dropped and that every value still reads back intact.
func TestTrimResident(t *testing.T) {
	opts := testOptions()
	opts.TrimInterval = 0 // trimmed by hand below
	s, err := Open(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var commits []EpochCommit
	for e := uint64(1); e <= 3; e++ {
		c := benchEpoch(e)
		if err := s.CommitEpoch(c); err != nil {
			t.Fatal(err)
		}
		commits = append(commits, c)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	err = s.TrimResident()
	if errors.Is(err, ErrTrimUnsupported) {
		t.Skipf("kernel without MADV_PAGEOUT: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	before := s.TrimStats()
	if before.Runs != 1 || before.MappedBytes == 0 || before.ResidentBytes < 4<<20 {
		t.Fatalf("after writing %d epochs: %+v; want one run over mappings with at least 4 MiB resident", len(commits), before)
	}
	// Compactions still running write new tables meanwhile, whose pages
	// the next trim takes: a few rounds settle it.
	var after TrimStats
	for range 5 {
		if err := s.TrimResident(); err != nil {
			t.Fatal(err)
		}
		after = s.TrimStats()
		if after.ResidentBytes <= before.ResidentBytes/4 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("store mappings %d MiB: resident %.1f MiB before the trim, %.1f MiB after %d more",
		after.MappedBytes>>20, float64(before.ResidentBytes)/(1<<20), float64(after.ResidentBytes)/(1<<20), after.Runs-1)
	if after.ResidentBytes > before.ResidentBytes/4 {
		t.Errorf("resident store pages %d after trimming, want at most a quarter of %d", after.ResidentBytes, before.ResidentBytes)
	}
	for _, c := range commits {
		for h, want := range c.Nodes {
			got, err := s.Node(h)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("epoch %d node %s after trim: %x, %v", c.Epoch, h, got, err)
			}
		}
	}
}

// TestTrimmerLifecycle runs the background trimmer and checks that it
// works and stops with Close (a second Close is harmless).
func TestTrimmerLifecycle(t *testing.T) {
	opts := testOptions()
	opts.TrimInterval = 10 * time.Millisecond
	s, err := Open(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CommitEpoch(benchEpoch(1)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.TrimStats().Runs < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if st := s.TrimStats(); st.Runs < 2 || st.MappedBytes == 0 {
		t.Fatalf("trimmer stats %+v; want at least 2 runs over mapped files", st)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	runs := s.TrimStats().Runs
	time.Sleep(50 * time.Millisecond)
	if got := s.TrimStats().Runs; got != runs {
		t.Fatalf("trimmer ran %d more times after Close", got-runs)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.TrimResident(); !errors.Is(err, ErrClosed) {
		t.Fatalf("TrimResident after Close: %v, want ErrClosed", err)
	}
}
