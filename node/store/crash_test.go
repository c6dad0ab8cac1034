package store

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestCrashAtomicity checks that CommitEpoch is atomic under kill -9.
// Method: a helper process (this test binary) opens the store and commits
// epochs in a loop, each epoch's content derived from its number; the test
// SIGKILLs it after a seeded random delay, mostly in the middle of a
// commit, reopens the store and checks that the head is the previous head
// or later (never behind), that every part of the head epoch (and a random
// earlier one) is readable and right, including its whole trie node set,
// and that nothing of the next epochs is visible through the read API.
// Repeated for many rounds on one directory.
func TestCrashAtomicity(t *testing.T) {
	rounds, budget := 30, 30*time.Second
	if testing.Short() {
		rounds, budget = 6, 10*time.Second
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("LEDGERD_STORE_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("LEDGERD_STORE_SEED=%q: %v", v, err)
		}
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	t.Logf("seed %d (rerun with LEDGERD_STORE_SEED=%d)", seed, seed)
	defer func() {
		if t.Failed() {
			t.Logf("failed with seed %d", seed)
		}
	}()
	dir := t.TempDir()
	deadline := time.Now().Add(budget)
	var last uint64
	advanced := 0
	// Random kills on a slow machine (the race detector) may all land
	// before the first commit; extra rounds then wait longer (0.5, 1, 2 s)
	// so the head advances at least once.
	extra := 0
	for round := 0; round < rounds || (advanced == 0 && extra < 3); round++ {
		slow := time.Duration(0)
		if round >= rounds {
			slow = 500 * time.Millisecond << extra
			extra++
		} else if time.Now().After(deadline) {
			t.Logf("time budget spent after %d rounds", round)
			if advanced > 0 {
				break
			}
			round = rounds - 1 // go on with the longer extra rounds
			continue
		}
		cmd := helperCmd(t, "commit", dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill at a random moment: usually after open (mid-commit), some
		// rounds while the helper is still opening and recovering.
		delay := time.Duration(rng.IntN(250)) * time.Millisecond
		if rng.IntN(5) > 0 {
			line, _ := bufio.NewReader(stdout).ReadString('\n')
			if strings.TrimSpace(line) != "ready" {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				t.Fatalf("round %d: helper said %q; stderr: %s", round, line, stderr.String())
			}
			delay += 20 * time.Millisecond
		}
		time.Sleep(delay + slow)
		_ = cmd.Process.Kill() // SIGKILL
		go func() { _, _ = io.Copy(io.Discard, stdout) }()
		err = cmd.Wait()
		if strings.Contains(stderr.String(), "helper:") {
			t.Fatalf("round %d: helper failed: %s", round, stderr.String())
		}
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			t.Fatalf("round %d: helper exited with %v; want killed", round, err)
		}
		head := checkAfterCrash(t, dir, round, last, rng)
		if head > last {
			advanced++
		}
		last = head
	}
	if advanced == 0 {
		t.Fatalf("head never advanced (at %d); the test exercised nothing", last)
	}
	t.Logf("head reached epoch %d, advanced in %d rounds", last, advanced)
}

// checkAfterCrash reopens dir after a kill and checks it; it returns the
// head epoch (0 if none).
func checkAfterCrash(t *testing.T, dir string, round int, last uint64, rng *rand.Rand) uint64 {
	t.Helper()
	s, err := Open(dir, testOptions())
	if err != nil {
		t.Fatalf("round %d: reopen after kill: %v", round, err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Fatalf("round %d: close: %v", round, err)
		}
	}()
	h, ok, err := s.Head()
	if err != nil {
		t.Fatalf("round %d: Head: %v", round, err)
	}
	if !ok {
		if last != 0 {
			t.Fatalf("round %d: head lost (was %d)", round, last)
		}
		checkAbsent(t, s, 1, crashTxs)
		return 0
	}
	if h.Epoch < last {
		t.Fatalf("round %d: head went back from %d to %d", round, last, h.Epoch)
	}
	checkHead(t, s, h.Epoch, crashNodes)
	checkEpoch(t, s, h.Epoch, crashNodes, crashTxs)
	if h.Epoch > 1 {
		checkEpoch(t, s, 1+rng.Uint64N(h.Epoch-1), crashNodes, crashTxs)
	}
	checkAbsent(t, s, h.Epoch+1, crashTxs)
	checkAbsent(t, s, h.Epoch+2, crashTxs)
	page, err := s.Checkpoints(math.MaxUint64, 2)
	if err != nil || len(page) == 0 || page[0].Epoch != h.Epoch {
		t.Fatalf("round %d: Checkpoints(newest) = %+v, %v; want head %d first", round, page, err, h.Epoch)
	}
	return h.Epoch
}

// TestLockedByOtherProcess checks that a directory held by another process
// cannot be opened, and can be once that process closes it or is killed.
func TestLockedByOtherProcess(t *testing.T) {
	dir := t.TempDir()
	for _, how := range []string{"close", "kill"} {
		cmd := helperCmd(t, "hold", dir)
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		if strings.TrimSpace(line) != "ready" {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("helper said %q; stderr: %s", line, stderr.String())
		}
		if s, err := Open(dir, testOptions()); !errors.Is(err, ErrLocked) {
			if s != nil {
				_ = s.Close()
			}
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("Open of a held dir = %v; want ErrLocked", err)
		}
		if how == "close" {
			_ = stdin.Close()
			if err := cmd.Wait(); err != nil {
				t.Fatalf("holder exit: %v; stderr: %s", err, stderr.String())
			}
		} else {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		s, err := Open(dir, testOptions())
		if err != nil {
			t.Fatalf("Open after holder %s = %v; want nil", how, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReopenWithSmallerMemtables: a store killed with larger memtables
// than the next opener asks for (a validator's staggered memtables, then
// `ledgerd state export` with the default profile) opens and reads back
// everything. Badger replays the memtable log into an arena sized from the
// opener's MemTableSize and ends the process when it overflows.
func TestReopenWithSmallerMemtables(t *testing.T) {
	dir := t.TempDir()
	cmd := helperCmd(t, "unflushed", dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("helper: %v: %s", err, out)
	}
	s, err := Open(dir, testOptions()) // 1 MiB memtables
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h, ok, err := s.Head()
	if err != nil || !ok || h.Epoch != unflushedEpochs {
		t.Fatalf("head after reopening = %+v, %v, %v; want epoch %d", h, ok, err, unflushedEpochs)
	}
	for e := uint64(1); e <= unflushedEpochs; e++ {
		for hash, want := range testEpoch(e, crashNodes, crashTxs).Nodes {
			if got, err := s.Node(hash); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("epoch %d node %s: %x, %v", e, hash, got, err)
			}
		}
	}
}
