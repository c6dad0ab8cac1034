package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"

	"github.com/ledgerd/ledgerd/checkpoint"
	"github.com/ledgerd/ledgerd/checkpoint/stream"
	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/node/api"
	"github.com/ledgerd/ledgerd/node/buildinfo"
	"github.com/ledgerd/ledgerd/node/mempool"
	"github.com/ledgerd/ledgerd/node/statesync"
	"github.com/ledgerd/ledgerd/node/store"
)

// backend implements api.Backend over the store and the loop's view. It
// never touches the machine: reads come from Badger and the published view.
type backend struct{ n *Node }

var (
	_ api.Backend       = backend{}
	_ api.StateExporter = backend{}
)

func (b backend) v() *view { return b.n.view.Load() }

// ready returns the loop's view, or ErrNotSynced while the node is still
// starting (state sync, restore): until the event loop publishes its first
// view only Status answers (the API listener opens before the start-up
// state sync, servers.go). The view is published after the machine,
// network and metrics are set, so a non-nil view makes them safe to read.
func (b backend) ready() (*view, error) {
	if v := b.v(); v != nil {
		return v, nil
	}
	if p, ok := b.n.sync.Progress.Get(); ok && b.n.sync.Progress.Running() {
		return nil, fmt.Errorf("state sync in progress (phase %s, target epoch %d, %d accounts so far; see /v1/status): %w",
			p.Phase, p.TargetEpoch, p.Accounts, api.ErrNotSynced)
	}
	return nil, fmt.Errorf("node is starting (see /v1/status): %w", api.ErrNotSynced)
}

// stateSync is the running or last state sync for Status, nil if none ran.
func (b backend) stateSync() *api.StateSync {
	if p, ok := b.n.sync.Progress.Get(); ok {
		return &p
	}
	return nil
}

func (b backend) Status(context.Context) (api.Status, error) {
	n, v := b.n, b.v()
	if v == nil { // starting: identity and state sync progress only
		st := api.Status{
			ChainID: n.g.ChainID,
			Self:    api.Self{Address: n.g.Validators[n.self].Address, Index: n.self, Name: n.g.Validators[n.self].Name},
			Sync:    api.SyncStatus{State: api.SyncStarting, StateSync: b.stateSync()},
			Mempool: api.MempoolInfo{Capacity: n.pool.Capacity()},
			Version: buildinfo.Get().Version,
		}
		if p := st.Sync.StateSync; p != nil {
			st.Peers = p.Peers
			if n.sync.Progress.Running() {
				st.Sync.State, st.Sync.TargetEpoch = api.SyncSyncing, p.TargetEpoch
			}
		}
		return st, nil
	}
	sync := syncStateOf(v)
	return api.Status{
		ChainID:     n.g.ChainID,
		Self:        api.Self{Address: n.g.Validators[n.self].Address, Index: n.self, Name: n.g.Validators[n.self].Name},
		Epoch:       v.epoch,
		LatestFinal: api.EpochRef{Epoch: v.lastFinal, Hash: v.finalHash},
		Peers:       v.peers,
		Sync:        api.SyncStatus{State: sync, TargetEpoch: v.lastFinal, StateSync: b.stateSync()},
		Mempool:     api.MempoolInfo{Size: n.pool.Queued(), Capacity: n.pool.Capacity()},
		Version:     buildinfo.Get().Version,
	}, nil
}

// checkpointView builds the API view of a stored epoch's checkpoint.
func (b backend) checkpointView(epoch uint64, raw []byte) (api.Checkpoint, error) {
	h, err := checkpoint.DecodeHeader(raw)
	if err != nil {
		return api.Checkpoint{}, fmt.Errorf("stored checkpoint %d: %w", epoch, err)
	}
	hash := h.Hash()
	c := api.Checkpoint{Hash: hash, Epoch: h.Epoch, PrevHash: h.PrevHash, StateRoot: h.StateRoot, TxRoot: h.TxRoot,
		ReceiptsRoot: h.ReceiptsRoot, Cut: h.Cut, Absent: h.Absent(), TxCount: h.TxCount, TimeMs: uint64(h.TimeMs),
		ValidatorSetHash: h.ValidatorSetHash, Header: hexutil.Bytes(raw), Votes: []api.Vote{}}
	// The certificate holds the quorum that made the checkpoint final;
	// votes that arrived later are stored too and listed with it.
	byValidator := map[uint32]checkpoint.Vote{}
	certRaw, err := b.n.rd.Certificate(epoch)
	switch {
	case err == nil:
		cert, err := checkpoint.DecodeCertificate(certRaw)
		if err != nil || cert.Hash != hash {
			return api.Checkpoint{}, unavailable(fmt.Errorf("stored certificate of epoch %d does not certify its checkpoint: %w", epoch, store.ErrCorrupt))
		}
		c.Final = true
		for _, v := range cert.Votes {
			byValidator[v.Validator] = v
		}
	case !errors.Is(err, store.ErrNotFound):
		return api.Checkpoint{}, unavailable(err)
	}
	votes, err := b.n.rd.Votes(epoch)
	if err != nil {
		return api.Checkpoint{}, unavailable(err)
	}
	for k, raw := range votes {
		if _, ok := byValidator[k]; ok {
			continue
		}
		if v, err := checkpoint.DecodeVote(raw); err == nil && v.Hash == hash && v.Validator == k {
			byValidator[k] = v
		}
	}
	for _, k := range slices.Sorted(maps.Keys(byValidator)) {
		c.Votes = append(c.Votes, b.voteView(byValidator[k]))
	}
	return c, nil
}

func (b backend) voteView(v checkpoint.Vote) api.Vote {
	return api.Vote{Validator: b.n.g.Validators[v.Validator].Address, ValidatorIndex: v.Validator,
		Recorded: v.Recorded, RecordedTimeMs: v.RecordedTimeMs, Signature: hexutil.Bytes(v.Sig[:])}
}

// Receipts decodes an epoch's stored receipts.
func (b backend) Receipts(_ context.Context, epoch uint64) (api.EpochReceipts, error) {
	if _, err := b.ready(); err != nil {
		return api.EpochReceipts{}, err
	}
	raw, err := b.n.rd.Receipts(epoch)
	if errors.Is(err, store.ErrNotFound) || epoch == 0 {
		return api.EpochReceipts{}, fmt.Errorf("epoch %d not executed here: %w", epoch, api.ErrNotFound)
	}
	if err != nil {
		return api.EpochReceipts{}, unavailable(err)
	}
	rs, err := decodeReceipts(raw)
	if err != nil {
		return api.EpochReceipts{}, fmt.Errorf("stored receipts of epoch %d: %w", epoch, err)
	}
	out := api.EpochReceipts{Epoch: epoch, Final: epoch <= b.v().lastFinal, Receipts: make([]api.TxReceipt, len(rs))}
	for i, r := range rs {
		rc := api.Receipt{Status: api.ReceiptOK, Sender: r.Sender, Index: uint32(i)}
		if r.Status != ledger.StatusOK {
			rc.Status, rc.Error = api.ReceiptFailed, r.Status.String()
		}
		out.Receipts[i] = api.TxReceipt{TxHash: r.TxHash, Receipt: rc}
	}
	return out, nil
}

func (b backend) LatestCheckpoint(ctx context.Context) (api.Checkpoint, error) {
	v, err := b.ready()
	if err != nil {
		return api.Checkpoint{}, err
	}
	lf := v.lastFinal
	if lf == 0 {
		return api.Checkpoint{}, fmt.Errorf("no final checkpoint yet: %w", api.ErrNotFound)
	}
	return b.Checkpoint(ctx, lf)
}

func (b backend) Checkpoint(_ context.Context, epoch uint64) (api.Checkpoint, error) {
	if _, err := b.ready(); err != nil {
		return api.Checkpoint{}, err
	}
	raw, err := b.n.rd.Checkpoint(epoch)
	if errors.Is(err, store.ErrNotFound) || epoch == 0 {
		return api.Checkpoint{}, fmt.Errorf("epoch %d: %w", epoch, api.ErrNotFound)
	}
	if err != nil {
		return api.Checkpoint{}, unavailable(err)
	}
	return b.checkpointView(epoch, raw)
}

func (b backend) CheckpointByHash(_ context.Context, hash common.Hash) (api.Checkpoint, error) {
	if _, err := b.ready(); err != nil {
		return api.Checkpoint{}, err
	}
	raw, epoch, err := b.n.rd.CheckpointByHash(hash)
	if errors.Is(err, store.ErrNotFound) {
		return api.Checkpoint{}, fmt.Errorf("checkpoint %s: %w", hash, api.ErrNotFound)
	}
	if err != nil {
		return api.Checkpoint{}, unavailable(err)
	}
	return b.checkpointView(epoch, raw)
}

func (b backend) Checkpoints(_ context.Context, beforeEpoch uint64, limit int) ([]api.Checkpoint, error) {
	if _, err := b.ready(); err != nil {
		return nil, err
	}
	lf := b.v().lastFinal
	if beforeEpoch == math.MaxUint64 || beforeEpoch > lf+1 {
		beforeEpoch = lf + 1
	}
	recs, err := b.n.rd.Checkpoints(beforeEpoch, limit)
	if err != nil {
		return nil, unavailable(err)
	}
	out := make([]api.Checkpoint, 0, len(recs))
	for _, r := range recs {
		c, err := b.checkpointView(r.Epoch, r.Data)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// SubscribeCheckpoints streams final checkpoints from fromEpoch in order
// without gaps: it reads each from the store as the view's final epoch
// passes it, so a slow subscriber costs no memory.
func (b backend) SubscribeCheckpoints(ctx context.Context, fromEpoch uint64) (<-chan api.Checkpoint, error) {
	if _, err := b.ready(); err != nil {
		return nil, err
	}
	if fromEpoch == 0 {
		fromEpoch = 1
	}
	out := make(chan api.Checkpoint, 16)
	go func() {
		defer close(out)
		next := fromEpoch
		for {
			v := b.v()
			for ; next <= v.lastFinal; next++ {
				c, err := b.Checkpoint(ctx, next)
				if err != nil {
					return
				}
				select {
				case out <- c:
				case <-ctx.Done():
					return
				}
			}
			select {
			case <-v.finalChange:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

func (b backend) SubmitTx(_ context.Context, raw []byte) (common.Hash, error) {
	v, err := b.ready()
	if err != nil {
		return common.Hash{}, err
	}
	if v.halted {
		return common.Hash{}, fmt.Errorf("node halted after a divergence: %w", api.ErrNotSynced)
	}
	h, err := b.n.pool.Submit(raw, b.n.now())
	switch {
	case errors.Is(err, mempool.ErrInvalid):
		return common.Hash{}, fmt.Errorf("%w: %w", api.ErrInvalidTx, err)
	case errors.Is(err, mempool.ErrFull):
		return common.Hash{}, fmt.Errorf("%w: %w", err, api.ErrMempoolFull)
	}
	return h, err
}

func (b backend) Tx(_ context.Context, hash common.Hash) (api.TxStatus, error) {
	if _, err := b.ready(); err != nil {
		return api.TxStatus{}, err
	}
	out := api.TxStatus{Hash: hash, Status: api.TxUnknown}
	raw, err := b.n.rd.TxIndex(hash)
	switch {
	case err == nil:
		var iv txIndexValue
		if err := json.Unmarshal(raw, &iv); err != nil {
			return out, fmt.Errorf("tx index %s: %w", hash, err)
		}
		if iv.Epoch > b.v().lastFinal {
			out.Status = api.TxPending
			return out, nil
		}
		out.Status = api.TxFinal
		out.Epoch = iv.Epoch
		h, err := b.n.header(iv.Epoch)
		if err != nil {
			return out, unavailable(err)
		}
		ch := h.Hash()
		out.CheckpointHash = &ch
		rc := &api.Receipt{Status: api.ReceiptOK, Sender: iv.Sender, Index: iv.Index}
		if iv.Status != ledger.StatusOK {
			rc.Status, rc.Error = api.ReceiptFailed, iv.Status.String()
		}
		out.Receipt = rc
		return out, nil
	case !errors.Is(err, store.ErrNotFound):
		return out, unavailable(err)
	}
	if b.n.pool.Pending(hash) {
		out.Status = api.TxPending
	}
	return out, nil
}

func (b backend) Account(_ context.Context, addr common.Address, withProof bool) (api.Account, error) {
	if _, err := b.ready(); err != nil {
		return api.Account{}, err
	}
	v := b.v()
	st, err := b.n.g.OpenState(b.n.rd, v.finalRoot)
	if err != nil {
		return api.Account{}, unavailable(fmt.Errorf("open state of epoch %d: %w", v.lastFinal, err))
	}
	acct, err := st.Account(addr)
	if err != nil {
		return api.Account{}, unavailable(err)
	}
	out := api.Account{Address: addr, Balance: acct.Balance, Nonce: acct.Nonce, Epoch: v.lastFinal, StateRoot: v.finalRoot}
	if withProof {
		p, err := st.Prove(addr)
		if err != nil {
			return api.Account{}, unavailable(err)
		}
		for _, node := range p {
			out.Proof = append(out.Proof, hexutil.Bytes(node))
		}
	}
	return out, nil
}

// Snapshot assembles an epoch's global snapshot: the cut from the header,
// each validator's recorded state from its signed vote (ours from the local
// record), and each channel's in-flight entries, which are exactly origin
// k's entries with seq in (Recorded[i][k], Cut[k]) (docs/protocol.md).
func (b backend) Snapshot(_ context.Context, epoch uint64) (api.Snapshot, error) {
	if _, err := b.ready(); err != nil {
		return api.Snapshot{}, err
	}
	n := b.n
	if epoch == 0 {
		return api.Snapshot{}, fmt.Errorf("epoch 0 is genesis: %w", api.ErrNotFound)
	}
	h, err := n.header(epoch)
	if errors.Is(err, store.ErrNotFound) {
		return api.Snapshot{}, fmt.Errorf("epoch %d: %w", epoch, api.ErrNotFound)
	}
	if err != nil {
		return api.Snapshot{}, unavailable(err)
	}
	prev := make([]uint64, len(n.g.Validators))
	if epoch > 1 {
		switch ph, err := n.header(epoch - 1); {
		case err == nil:
			prev = ph.Cut
		case !errors.Is(err, store.ErrNotFound): // absent below a synced store's first epoch
			return api.Snapshot{}, unavailable(err)
		}
	}
	recorded := map[uint32]checkpoint.LocalRecord{}
	switch raw, err := n.rd.Snapshot(epoch); {
	case err == nil:
		var lr checkpoint.LocalRecord
		if err := json.Unmarshal(raw, &lr); err != nil {
			return api.Snapshot{}, unavailable(fmt.Errorf("stored snapshot record of epoch %d: %w", epoch, err))
		}
		lr.Recorded = lr.Recorded[:min(len(lr.Recorded), len(n.g.Validators))]
		recorded[n.self] = lr
	case !errors.Is(err, store.ErrNotFound): // absent for a state-synced epoch
		return api.Snapshot{}, unavailable(err)
	}
	votes, err := n.rd.Votes(epoch)
	if err != nil {
		return api.Snapshot{}, unavailable(err)
	}
	for k, raw := range votes {
		if _, ok := recorded[k]; ok {
			continue
		}
		if v, err := checkpoint.DecodeVote(raw); err == nil && v.Hash == h.Hash() {
			recorded[k] = checkpoint.LocalRecord{Epoch: epoch, Recorded: v.Recorded, RecordedTimeMs: v.RecordedTimeMs}
		}
	}
	out := api.Snapshot{Epoch: epoch, Cut: h.Cut}
	cache := map[[2]uint64][]ledger.Hash{}
	for _, i := range slices.Sorted(maps.Keys(recorded)) {
		lr := recorded[i]
		sn := api.SnapshotNode{Validator: n.g.Validators[i].Address, Index: i, Recorded: lr.Recorded,
			MempoolSize: uint64(lr.MempoolSize), TimeMs: uint64(max(lr.RecordedTimeMs, 0)), Channels: []api.Channel{}}
		for k := range n.g.Validators {
			if uint32(k) == i || k >= len(lr.Recorded) {
				continue
			}
			from := max(lr.Recorded[k], prev[k]) + 1
			to := h.Cut[k] // exclusive: the marker itself
			ch := api.Channel{From: uint32(k), TxHashes: []common.Hash{}}
			if from < to {
				ch.Count, ch.FirstSeq, ch.LastSeq = to-from, from, to-1
				hashes, err := b.entryTxHashes(uint32(k), from, to-1, cache)
				if err != nil {
					return api.Snapshot{}, unavailable(err)
				}
				ch.TxCount = uint64(len(hashes))
				const maxHashes = 1000
				if len(hashes) > maxHashes {
					hashes, ch.TxHashesTruncated = hashes[:maxHashes], true
				}
				ch.TxHashes = hashes
			}
			sn.Channels = append(sn.Channels, ch)
		}
		out.Nodes = append(out.Nodes, sn)
	}
	return out, nil
}

// entryTxHashes lists the transaction hashes in origin's entries from..to
// that this store holds (after a state sync it holds none before the cut).
func (b backend) entryTxHashes(origin uint32, from, to uint64, cache map[[2]uint64][]ledger.Hash) ([]ledger.Hash, error) {
	var out []ledger.Hash
	for seq := from; seq <= to; seq++ {
		key := [2]uint64{uint64(origin), seq}
		hs, ok := cache[key]
		if !ok {
			raw, err := b.n.rd.Entry(origin, seq)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			e, err := stream.DecodeEntry(raw)
			if err != nil || e.Kind != stream.KindBatch {
				cache[key] = nil
				continue
			}
			txs, _ := stream.DecodeBatch(e.Body)
			for _, r := range txs {
				if tx, err := ledger.DecodeTx(r); err == nil {
					hs = append(hs, tx.Hash())
				}
			}
			cache[key] = hs
		}
		out = append(out, hs...)
	}
	return out, nil
}

// unavailable wraps a store failure for the API (503 unavailable): never
// "not found", never "not final".
func unavailable(err error) error { return fmt.Errorf("%w: %w", api.ErrUnavailable, err) }

func (b backend) Validators(context.Context) ([]api.Validator, error) {
	if _, err := b.ready(); err != nil {
		return nil, err
	}
	n := b.n
	out := make([]api.Validator, len(n.g.Validators))
	connected := map[uint32]bool{}
	for _, k := range n.net.Validators() {
		connected[k] = true
	}
	for i, v := range n.g.Validators {
		out[i] = api.Validator{Index: uint32(i), Name: v.Name, Address: v.Address, Power: v.Power,
			PeerID: peerIDString(v), Connected: connected[uint32(i)] || uint32(i) == n.self, Self: uint32(i) == n.self}
	}
	return out, nil
}

// StateFile serves GET /v1/state/{epoch} with the state file writer of
// `state export --home` (ExportState), reading the store while the node
// runs: trie nodes are content-addressed and never deleted, and final
// epochs never change, so the export needs no lock and does not block the
// loop.
func (b backend) StateFile(_ context.Context, epoch uint64) (uint64, func(io.Writer) error, error) {
	v, err := b.ready()
	if err != nil {
		return 0, nil, err
	}
	if epoch == 0 {
		if epoch = v.lastFinal; epoch == 0 {
			return 0, nil, fmt.Errorf("no final checkpoint yet: %w", api.ErrNotFound)
		}
	}
	if epoch > v.lastFinal {
		return 0, nil, fmt.Errorf("epoch %d is not final here (latest final %d): %w", epoch, v.lastFinal, api.ErrNotFound)
	}
	if err := statesync.CheckExportable(b.n.st, epoch); err != nil {
		if errors.Is(err, statesync.ErrNoHistory) || errors.Is(err, statesync.ErrNoCertificate) {
			return 0, nil, fmt.Errorf("state file: %v: %w", err, api.ErrNotFound)
		}
		return 0, nil, err
	}
	return epoch, func(w io.Writer) error {
		_, err := statesync.ExportState(b.n.st, b.n.g, epoch, w)
		return err
	}, nil
}
