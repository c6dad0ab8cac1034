package mempool

import (
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
)

func TestTxTrackerLimitAndWait(t *testing.T) {
	t0 := time.Unix(1_000, 0)
	h := func(i int) common.Hash { return common.BigToHash(new(big.Int).Lsh(common.Big1, uint(i))) }
	tr := newTracker(3, 4*time.Second, time.Time{})
	for i := range 3 {
		if r := tr.admit(h(i), t0.Add(time.Duration(i)*time.Second)); r != admitOK {
			t.Fatalf("admit %d: %v", i, r)
		}
	}
	if r := tr.admit(h(0), t0); r != admitDuplicate {
		t.Fatalf("duplicate: %v", r)
	}
	if r := tr.admit(h(3), t0.Add(3*time.Second)); r != admitFull {
		t.Fatalf("over the limit: %v", r)
	}
	tr.executed(h(1)) // out of order: the oldest is still h(0)
	if r, _ := tr.room(t0.Add(4 * time.Second)); r != admitOK {
		t.Fatalf("oldest waited exactly max: %v", r)
	}
	r, wait := tr.room(t0.Add(4*time.Second + time.Millisecond))
	if r != admitBehind || wait != 4*time.Second+time.Millisecond {
		t.Fatalf("oldest waited past max: %v %s", r, wait)
	}
	if r := tr.admit(h(4), t0.Add(5*time.Second)); r != admitBehind {
		t.Fatalf("admit while behind: %v", r)
	}
	tr.executed(h(0)) // now the oldest is h(2), admitted at t0+2s
	if r := tr.admit(h(4), t0.Add(5*time.Second)); r != admitOK {
		t.Fatalf("admit after the oldest executed: %v", r)
	}
	if r, wait := tr.room(t0.Add(6*time.Second + time.Millisecond)); r != admitBehind || wait != 4*time.Second+time.Millisecond {
		t.Fatalf("h(2) waited past max: %v %s", r, wait)
	}
	// A hash executed and admitted again counts from its new admission.
	tr.executed(h(2))
	tr.executed(h(4))
	if r := tr.admit(h(2), t0.Add(7*time.Second)); r != admitOK {
		t.Fatalf("readmit: %v", r)
	}
	if r, _ := tr.room(t0.Add(11 * time.Second)); r != admitOK {
		t.Fatalf("readmitted hash judged by its first admission: %v", r)
	}
}

// TestTxTrackerWaitFromGenesis: before the chain's genesis time nothing can
// execute, so a transaction submitted early waits from genesis on.
func TestTxTrackerWaitFromGenesis(t *testing.T) {
	genesis := time.Unix(1_000, 0)
	tr := newTracker(10, 2*time.Second, genesis)
	tr.admit(common.Hash{1}, genesis.Add(-5*time.Second))
	if r, _ := tr.room(genesis.Add(2 * time.Second)); r != admitOK {
		t.Fatalf("2 s after genesis: %v", r)
	}
	if r, wait := tr.room(genesis.Add(2*time.Second + time.Millisecond)); r != admitBehind || wait != 2*time.Second+time.Millisecond {
		t.Fatalf("past 2 s after genesis: %v %s", r, wait)
	}
}

// TestTxTrackerOrderBounded: the admission-order queue does not grow with
// transactions that were executed.
func TestTxTrackerOrderBounded(t *testing.T) {
	t0 := time.Unix(1_000, 0)
	tr := newTracker(100, time.Hour, time.Time{})
	for i := range 100_000 {
		hash := common.BigToHash(big.NewInt(int64(i + 1)))
		if r := tr.admit(hash, t0); r != admitOK {
			t.Fatalf("admit %d: %v", i, r)
		}
		tr.executed(hash)
		tr.room(t0)
	}
	if len(tr.order) > 2 || len(tr.m) != 0 {
		t.Fatalf("order holds %d entries, map %d, after every transaction executed", len(tr.order), len(tr.m))
	}
	off := newTracker(100, 0, time.Time{})
	off.admit(common.Hash{1}, t0)
	if len(off.order) != 0 {
		t.Fatal("order kept without a max wait")
	}
}
