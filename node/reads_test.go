package node

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/node/api"
	"github.com/ledgerd/ledgerd/node/store"
)

// failingReads fails every read while on is set, as a broken disk would.
type failingReads struct {
	reads
	on atomic.Bool
}

var errDisk = errors.New("read error: input/output error")

func (f *failingReads) fail() error {
	if f.on.Load() {
		return errDisk
	}
	return nil
}

func (f *failingReads) Node(h ledger.Hash) ([]byte, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	return f.reads.Node(h)
}

func (f *failingReads) Head() (store.Head, bool, error) {
	if err := f.fail(); err != nil {
		return store.Head{}, false, err
	}
	return f.reads.Head()
}

func (f *failingReads) Checkpoint(ep uint64) ([]byte, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	return f.reads.Checkpoint(ep)
}

func (f *failingReads) CheckpointByHash(h ledger.Hash) ([]byte, uint64, error) {
	if err := f.fail(); err != nil {
		return nil, 0, err
	}
	return f.reads.CheckpointByHash(h)
}

func (f *failingReads) Checkpoints(before uint64, limit int) ([]store.CheckpointRecord, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	return f.reads.Checkpoints(before, limit)
}

func (f *failingReads) Certificate(ep uint64) ([]byte, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	return f.reads.Certificate(ep)
}

func (f *failingReads) Votes(ep uint64) (map[uint32][]byte, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	return f.reads.Votes(ep)
}

func (f *failingReads) Receipts(ep uint64) ([]byte, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	return f.reads.Receipts(ep)
}

func (f *failingReads) Snapshot(ep uint64) ([]byte, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	return f.reads.Snapshot(ep)
}

func (f *failingReads) TxIndex(h ledger.Hash) ([]byte, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	return f.reads.TxIndex(h)
}

func (f *failingReads) Entry(origin uint32, seq uint64) ([]byte, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	return f.reads.Entry(origin, seq)
}

// TestStoreReadFailures: a store whose reads fail is a failure, never
// "absent". A node restarting over it stops with the read error (it would
// otherwise forget votes it cast); a running node's API answers 503
// unavailable on every route that reads the store, and never shows a final
// checkpoint as not final or a final transaction as unknown.
func TestStoreReadFailures(t *testing.T) {
	cfgs, clients, g := testNetwork(t, 4)
	runHubUntilFinal(t, cfgs, clients, g, 3)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := newHub(len(cfgs), ctx)

	broken := &failingReads{}
	broken.on.Store(true)
	_, err := open(cfgs[0], Options{Network: h.nodes[0], ProbeWait: testProbeWait,
		wrapReads: func(r reads) reads { broken.reads = r; return broken }})
	if !errors.Is(err, errDisk) {
		t.Fatalf("open over failing reads: %v, want the read error", err)
	}

	failing := &failingReads{}
	n, err := open(cfgs[0], Options{Network: h.nodes[0], ProbeWait: testProbeWait,
		wrapReads: func(r reads) reads { failing.reads = r; return failing }})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- n.serve(ctx) }()
	for n.view.Load() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	b := backend{n}
	latest, err := b.LatestCheckpoint(ctx)
	if err != nil || !latest.Final {
		t.Fatalf("latest checkpoint before the failure: %+v %v", latest, err)
	}
	receipts, err := b.Receipts(ctx, latest.Epoch)
	if err != nil {
		t.Fatal(err)
	}
	var tx ledger.Hash
	for ep := uint64(1); ep <= latest.Epoch && tx == (ledger.Hash{}); ep++ {
		rs, err := b.Receipts(ctx, ep)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs.Receipts) > 0 {
			tx = rs.Receipts[0].TxHash
		}
	}
	if tx == (ledger.Hash{}) {
		t.Fatalf("no transaction in epochs 1..%d (%d receipts in the last)", latest.Epoch, len(receipts.Receipts))
	}

	failing.on.Store(true)
	check := func(route string, err error) {
		t.Helper()
		if !errors.Is(err, api.ErrUnavailable) {
			t.Errorf("%s with failing reads: %v, want api.ErrUnavailable", route, err)
		}
	}
	_, err = b.LatestCheckpoint(ctx)
	check("latest checkpoint", err)
	_, err = b.Checkpoint(ctx, latest.Epoch)
	check("checkpoint by epoch", err)
	_, err = b.CheckpointByHash(ctx, latest.Hash)
	check("checkpoint by hash", err)
	_, err = b.Checkpoints(ctx, latest.Epoch+1, 10)
	check("checkpoint list", err)
	_, err = b.Receipts(ctx, latest.Epoch)
	check("receipts", err)
	st, err := b.Tx(ctx, tx)
	check("transaction", err)
	if err == nil && st.Status != api.TxFinal {
		t.Errorf("final transaction shown as %s", st.Status)
	}
	_, err = b.Account(ctx, ledger.Address{1}, true)
	check("account", err)
	_, err = b.Snapshot(ctx, latest.Epoch)
	check("snapshot", err)

	failing.on.Store(false)
	cancel()
	// The loop may have stopped on a failed read too: then with that error.
	if err := <-done; err != nil && !errors.Is(err, errDisk) {
		t.Fatalf("node stopped with %v", err)
	}
}
