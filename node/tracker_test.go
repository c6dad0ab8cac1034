package node

import (
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/ledgerd/ledgerd/checkpoint"
	"github.com/ledgerd/ledgerd/ledger"
)

func TestTxTrackerLimitAndWait(t *testing.T) {
	t0 := time.Unix(1_000, 0)
	h := func(i int) common.Hash { return common.BigToHash(new(big.Int).Lsh(common.Big1, uint(i))) }
	tr := newTxTracker(3, 4*time.Second, time.Time{})
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
	tr := newTxTracker(10, 2*time.Second, genesis)
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
	tr := newTxTracker(100, time.Hour, time.Time{})
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
	off := newTxTracker(100, 0, time.Time{})
	off.admit(common.Hash{1}, t0)
	if len(off.order) != 0 {
		t.Fatal("order kept without a max wait")
	}
}

func TestMempoolMaxWait(t *testing.T) {
	for _, tt := range []struct {
		ms      int
		epochMs uint64
		want    time.Duration
	}{
		{0, 1000, 3 * time.Second},
		{0, 10_000, 30 * time.Second},
		{-1, 1000, 0},
		{2500, 1000, 2500 * time.Millisecond},
	} {
		if got := (MempoolConfig{MaxWaitMs: tt.ms}).MaxWait(tt.epochMs); got != tt.want {
			t.Errorf("MaxWaitMs %d, epoch %d ms: %s, want %s", tt.ms, tt.epochMs, got, tt.want)
		}
	}
	c := DefaultConfig(t.TempDir())
	c.Mempool.MaxWaitMs = -2
	if err := c.Validate(); err == nil {
		t.Error("max_wait_ms -2 accepted")
	}
}

func TestMaxLagConfig(t *testing.T) {
	for _, tt := range []struct {
		ms   int
		want time.Duration
	}{{0, 300 * time.Millisecond}, {-1, 0}, {750, 750 * time.Millisecond}} {
		if got := (MempoolConfig{MaxLagMs: tt.ms}).MaxLag(); got != tt.want {
			t.Errorf("MaxLagMs %d: %s, want %s", tt.ms, got, tt.want)
		}
	}
	c := DefaultConfig(t.TempDir())
	c.Mempool.MaxLagMs = -2
	if err := c.Validate(); err == nil {
		t.Error("max_lag_ms -2 accepted")
	}
}

// TestExecutionLag: the lag counts from the scheduled start of the
// snapshot after the executed head, and is 0 before it.
func TestExecutionLag(t *testing.T) {
	g := &ledger.Genesis{GenesisTimeMs: 1_000_000, EpochLengthMs: 1000}
	at := func(ms int64) time.Time { return time.UnixMilli(ms) }
	genesisHead := checkpoint.Header{Epoch: 0, TimeMs: g.GenesisTimeMs}
	for _, tt := range []struct {
		name string
		head checkpoint.Header
		now  int64
		want time.Duration
	}{
		{"before the first boundary", genesisHead, 1_000_500, 0},
		{"first snapshot under way", genesisHead, 1_001_120, 120 * time.Millisecond},
		{"epoch 5 executed, next boundary ahead", checkpoint.Header{Epoch: 5, TimeMs: 1_005_010}, 1_005_400, 0},
		{"epoch 5 executed, snapshot 6 late", checkpoint.Header{Epoch: 5, TimeMs: 1_005_010}, 1_006_450, 450 * time.Millisecond},
	} {
		if got := executionLag(g, tt.head, at(tt.now)); got != tt.want {
			t.Errorf("%s: lag %s, want %s", tt.name, got, tt.want)
		}
	}
}

// TestRoomLagging: a busy node refuses while the next snapshot is more
// than max_lag_ms late; an idle one (a stalled network) and a node that
// keeps up do not, and -1 turns the rule off.
func TestRoomLagging(t *testing.T) {
	g := &ledger.Genesis{GenesisTimeMs: 1_000_000, EpochLengthMs: 1000}
	v := &view{head: checkpoint.Header{Epoch: 5, TimeMs: 1_005_010}} // snapshot 6 begins at 1_006_000
	backlog := 0
	n := &Node{cfg: DefaultConfig(t.TempDir()), g: g, txs: newTxTracker(100, 0, time.Time{}),
		verifyBacklog: func() int { return backlog }}
	for _, tt := range []struct {
		name    string
		maxLag  int
		backlog int
		now     int64
		want    admitResult
	}{
		{"busy and 450 ms late", 0, 3, 1_006_450, admitLagging},
		{"busy and 200 ms late", 0, 3, 1_006_200, admitOK},
		{"idle and 5 s late (stalled network)", 0, 0, 1_011_000, admitOK},
		{"busy, late, rule off", -1, 3, 1_006_450, admitOK},
		{"busy, 450 ms late, limit 500 ms", 500, 3, 1_006_450, admitOK},
	} {
		n.cfg.Mempool.MaxLagMs, backlog = tt.maxLag, tt.backlog
		r, lag := n.room(v, time.UnixMilli(tt.now))
		if r != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, r, tt.want)
		}
		if r == admitLagging && lag != 450*time.Millisecond {
			t.Errorf("%s: lag %s, want 450ms", tt.name, lag)
		}
	}
}
