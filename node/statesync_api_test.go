package node

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd/node/api"
)

// TestAPIDuringStateSync opens a node's API listener before the node runs,
// as openCtx does before the start-up state sync: /v1/status and /healthz
// report the sync's progress, every other route is 503 not_synced; once the
// loop runs, the same listener serves the full API and the status keeps the
// finished sync; after the node stops, the port is closed.
func TestAPIDuringStateSync(t *testing.T) {
	cfgs, _, _ := testNetwork(t, 4)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := newHub(len(cfgs), ctx)
	cfg := cfgs[0]
	cfg.API.Listen = "127.0.0.1:0"
	n, err := open(cfg, Options{Network: h.nodes[0], ProbeWait: testProbeWait})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.startAPI(); err != nil {
		t.Fatal(err)
	}
	c, err := api.NewClient("http://"+n.apiSrv.addr, &http.Client{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// The sync goroutine's updates, as syncOnStart makes them.
	n.sync.Progress.Update(func(p *api.StateSync) {
		*p = api.StateSync{Phase: api.StateSyncProbing, StartedAtMs: time.Now().UnixMilli()}
	})
	n.sync.Progress.Update(func(p *api.StateSync) { p.Peers, p.TargetEpoch = 2, 40 })
	n.sync.Progress.Update(func(p *api.StateSync) {
		p.Phase, p.Checkpoints, p.Accounts, p.Chunks, p.Bytes = api.StateSyncAccounts, 40, 8192, 1, 300_000
	})
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ss := st.Sync.StateSync
	if st.Sync.State != api.SyncSyncing || st.Sync.TargetEpoch != 40 || ss == nil || ss.Phase != api.StateSyncAccounts ||
		ss.Accounts != 8192 || ss.Chunks != 1 || ss.Checkpoints != 40 || ss.StartedAtMs == 0 || ss.FinishedAtMs != 0 {
		t.Fatalf("status during sync: %+v (state sync %+v)", st, ss)
	}
	if st.ChainID != "node-test" || st.Self.Index != 0 || st.Peers != 2 {
		t.Fatalf("status identity during sync: %+v", st)
	}
	if hl, err := c.Health(ctx); err != nil || hl.Sync != api.SyncSyncing {
		t.Fatalf("healthz during sync: %+v %v", hl, err)
	}
	notSynced := func(what string, err error) {
		t.Helper()
		var ae *api.APIError
		if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable || ae.Code != api.CodeNotSynced || !errors.Is(err, api.ErrNotSynced) {
			t.Fatalf("%s while starting: %v, want 503 not_synced", what, err)
		}
	}
	_, err = c.LatestCheckpoint(ctx)
	notSynced("latest checkpoint", err)
	_, err = c.Checkpoint(ctx, 1)
	notSynced("checkpoint", err)
	_, err = c.Checkpoints(ctx, "", 0)
	notSynced("checkpoint list", err)
	_, err = c.Account(ctx, [20]byte{1}, true)
	notSynced("account", err)
	_, err = c.SubmitTx(ctx, []byte{1, 2, 3})
	notSynced("submit", err)
	_, err = c.Tx(ctx, [32]byte{1})
	notSynced("tx", err)
	_, err = c.Snapshot(ctx, 1)
	notSynced("snapshot", err)
	_, err = c.Validators(ctx)
	notSynced("validators", err)
	_, err = c.Receipts(ctx, 1)
	notSynced("receipts", err)
	_, _, err = c.StateFile(ctx, 0, io.Discard)
	notSynced("state file", err)
	sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
	_, errs := c.StreamCheckpoints(sctx, 1)
	notSynced("stream", <-errs)
	scancel()

	// Sync finished, restore running: "starting", the finished sync kept.
	n.sync.Progress.Update(func(p *api.StateSync) { p.Phase, p.FinishedAtMs = api.StateSyncDone, time.Now().UnixMilli() })
	st, err = c.Status(ctx)
	if err != nil || st.Sync.State != api.SyncStarting || st.Sync.StateSync == nil || st.Sync.StateSync.Phase != api.StateSyncDone {
		t.Fatalf("status after sync, before the loop: %+v %v", st, err)
	}
	_, err = c.Checkpoint(ctx, 1)
	notSynced("checkpoint after sync, before the loop", err)

	// The loop runs: the same listener serves the full API.
	addr := n.apiSrv.addr
	done := make(chan error, 1)
	go func() { done <- n.serve(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for n.view.Load() == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n.apiSrv.addr != addr {
		t.Fatalf("serve opened a second API listener: %s, was %s", n.apiSrv.addr, addr)
	}
	vs, err := c.Validators(ctx)
	if err != nil || len(vs) != 4 {
		t.Fatalf("validators after start: %v %v", vs, err)
	}
	if _, err := c.Account(ctx, [20]byte{1}, true); err != nil {
		t.Fatalf("account after start: %v", err)
	}
	// No final epoch on a lone node: no state file, with a clear 404.
	for _, ep := range []uint64{0, 5} {
		if _, _, err := c.StateFile(ctx, ep, io.Discard); !errors.Is(err, api.ErrNotFound) {
			t.Fatalf("state file %d without a final epoch: %v, want not_found", ep, err)
		}
	}
	st, err = c.Status(ctx)
	if err != nil || st.Sync.State == api.SyncSyncing || st.Sync.StateSync == nil || st.Sync.StateSync.Phase != api.StateSyncDone ||
		st.Sync.StateSync.TargetEpoch != 40 {
		t.Fatalf("status after start: %+v %v", st, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get("http://" + addr + "/v1/status"); err == nil {
		t.Fatal("the API still answers after the node stopped")
	}
}
