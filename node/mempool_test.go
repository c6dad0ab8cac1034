package node

import (
	"testing"
	"time"

	"github.com/ledgerd/ledgerd/checkpoint"
	"github.com/ledgerd/ledgerd/ledger"
)

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

// TestBusyLag: the mempool's lag is the execution lag while entries wait
// for verification, and 0 for an idle node (a stalled network waiting for a
// validator's marker, which max_wait_ms alone governs).
func TestBusyLag(t *testing.T) {
	g := &ledger.Genesis{GenesisTimeMs: 1_000_000, EpochLengthMs: 1000}
	backlog := 0
	n := &Node{g: g, verifyBacklog: func() int { return backlog }}
	n.view.Store(&view{head: checkpoint.Header{Epoch: 5, TimeMs: 1_005_010}}) // snapshot 6 begins at 1_006_000
	for _, tt := range []struct {
		name    string
		backlog int
		now     int64
		want    time.Duration
	}{
		{"busy and 450 ms late", 3, 1_006_450, 450 * time.Millisecond},
		{"busy, before the boundary", 3, 1_005_900, 0},
		{"idle and 5 s late (stalled network)", 0, 1_011_000, 0},
	} {
		backlog = tt.backlog
		if got := n.busyLag(time.UnixMilli(tt.now)); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}
