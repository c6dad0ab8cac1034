package ui

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/ledgerd/ledgerd/node/api"
)

// fakeBackend is a small in-memory api.Backend for the browser test: four
// validators, final checkpoints for epochs 1..storedEpochs, one more (the
// live one) published when the first checkpoint stream subscribes, a
// snapshot per epoch with known in-flight channels, one account with a
// hash-linked proof whose root is the latest state root, and one final
// transaction.
type fakeBackend struct {
	mu  sync.Mutex
	cps []api.Checkpoint // cps[i].Epoch == i+1
}

const (
	fakeValidators = 4
	storedEpochs   = 6
	liveEpoch      = storedEpochs + 1
	// snapEpoch is the epoch whose snapshot has the interesting channels.
	snapEpoch = 5
	// partialEpoch is the first epoch validator 3 is absent from (and did
	// not vote for); it stays absent in the live epoch.
	partialEpoch = 6
	baseTimeMs   = 1_700_000_000_000
)

var fakeNames = [fakeValidators]string{"alpha", "bravo", "charlie", "delta"}

// recordOffsetMs is each validator's recording time after the epoch start.
var recordOffsetMs = [fakeValidators]uint64{0, 7, 3, 12}

func fakeHash(tag string, n uint64) common.Hash {
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], n)
	return common.Hash(sha256.Sum256(append([]byte(tag), buf[:]...)))
}

func fakeAddr(n uint64) common.Address { return common.BytesToAddress(fakeHash("addr", n).Bytes()) }

// The account proof: node1 is a 64-byte "leaf"; node0 embeds keccak(node1);
// the state root of the latest epochs is keccak(node0).
var (
	proofNode1 = append([]byte{0xf8, 0x3e}, fakeHash("leaf", 1).Bytes()...)
	proofNode0 = append([]byte{0xe2, 0xa0}, crypto.Keccak256(proofNode1)...)
	proofRoot  = common.BytesToHash(crypto.Keccak256(proofNode0))
	fakeAcct   = fakeAddr(42)
)

// inflight is the channel from validator From to validator To at a cut.
type inflight struct {
	to, from  uint32
	count, tx uint64
}

// fakeInflight lists the non-empty channels of an epoch's snapshot.
func fakeInflight(epoch uint64) []inflight {
	if epoch == snapEpoch {
		return []inflight{{to: 0, from: 2, count: 3, tx: 7}, {to: 3, from: 1, count: 1, tx: 2}}
	}
	return []inflight{{to: 1, from: 0, count: 1, tx: epoch % 3}}
}

// fakeTxHash is the hash of the j-th transaction in flight on (from→to).
func fakeTxHash(epoch uint64, to, from uint32, j uint64) common.Hash {
	return fakeHash("tx", epoch*1000+uint64(to)*100+uint64(from)*10+j)
}

func fakeCut(epoch uint64) []uint64 {
	cut := make([]uint64, fakeValidators)
	for i := range cut {
		cut[i] = epoch*10 + uint64(i)
	}
	return cut
}

func fakeCheckpoint(epoch uint64) api.Checkpoint {
	cp := api.Checkpoint{
		Hash: fakeHash("cp", epoch), Epoch: epoch, PrevHash: fakeHash("cp", epoch-1),
		StateRoot: fakeHash("state", epoch), TxRoot: fakeHash("txroot", epoch), ReceiptsRoot: fakeHash("rc", epoch),
		Cut: fakeCut(epoch), TxCount: epoch * 3, TimeMs: baseTimeMs + epoch*1000,
		ValidatorSetHash: fakeHash("vs", 0), Final: true, Header: []byte{0xc0, byte(epoch)},
	}
	if epoch >= storedEpochs {
		cp.StateRoot = proofRoot
	}
	if epoch >= partialEpoch {
		cp.Absent = []uint32{3}
		cp.Cut[3] = fakeCut(partialEpoch - 1)[3]
	}
	for i := range uint32(fakeValidators) {
		if epoch == partialEpoch && i == 3 {
			continue
		}
		sig := make([]byte, 65)
		copy(sig, fakeHash("sig", epoch*10+uint64(i)).Bytes())
		cp.Votes = append(cp.Votes, api.Vote{Validator: fakeAddr(uint64(i)), ValidatorIndex: i, Signature: sig})
	}
	return cp
}

func newFakeBackend() *fakeBackend {
	b := &fakeBackend{}
	for e := uint64(1); e <= storedEpochs; e++ {
		b.cps = append(b.cps, fakeCheckpoint(e))
	}
	return b
}

func (b *fakeBackend) latest() api.Checkpoint {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cps[len(b.cps)-1]
}

func (b *fakeBackend) Status(context.Context) (api.Status, error) {
	top := b.latest()
	return api.Status{
		ChainID: "ledgerd-ui-test", Self: api.Self{Address: fakeAddr(0), Index: 0, Name: fakeNames[0]},
		Epoch: top.Epoch + 1, LatestFinal: api.EpochRef{Epoch: top.Epoch, Hash: top.Hash}, Peers: 2,
		Sync: api.SyncStatus{State: api.SyncSynced, TargetEpoch: top.Epoch}, Mempool: api.MempoolInfo{Size: 3, Capacity: 1000},
		Version: "test",
	}, nil
}

func (b *fakeBackend) LatestCheckpoint(context.Context) (api.Checkpoint, error) {
	return b.latest(), nil
}

func (b *fakeBackend) Checkpoint(_ context.Context, epoch uint64) (api.Checkpoint, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if epoch == 0 || epoch > uint64(len(b.cps)) {
		return api.Checkpoint{}, fmt.Errorf("epoch %d: %w", epoch, api.ErrNotFound)
	}
	return b.cps[epoch-1], nil
}

func (b *fakeBackend) CheckpointByHash(_ context.Context, h common.Hash) (api.Checkpoint, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, cp := range b.cps {
		if cp.Hash == h {
			return cp, nil
		}
	}
	return api.Checkpoint{}, fmt.Errorf("checkpoint %s: %w", h, api.ErrNotFound)
}

func (b *fakeBackend) Checkpoints(_ context.Context, before uint64, limit int) ([]api.Checkpoint, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []api.Checkpoint
	for i := len(b.cps) - 1; i >= 0 && len(out) < limit; i-- {
		if before == math.MaxUint64 || b.cps[i].Epoch < before {
			out = append(out, b.cps[i])
		}
	}
	return out, nil
}

// SubscribeCheckpoints replays the stored checkpoints from fromEpoch, then
// makes liveEpoch final (once) and delivers it, as a node does when an epoch
// completes while a client watches. The goroutine exits when ctx ends.
func (b *fakeBackend) SubscribeCheckpoints(ctx context.Context, from uint64) (<-chan api.Checkpoint, error) {
	ch := make(chan api.Checkpoint, liveEpoch)
	go func() {
		defer close(ch)
		b.mu.Lock()
		if len(b.cps) < liveEpoch {
			b.cps = append(b.cps, fakeCheckpoint(liveEpoch))
		}
		cps := slices.Clone(b.cps)
		b.mu.Unlock()
		for _, cp := range cps {
			if cp.Epoch >= from {
				ch <- cp // buffered for every epoch
			}
		}
		<-ctx.Done()
	}()
	return ch, nil
}

func (b *fakeBackend) SubmitTx(context.Context, []byte) (common.Hash, error) {
	return common.Hash{}, fmt.Errorf("%w: the fake accepts no transactions", api.ErrInvalidTx)
}

// finalTx is a transaction of snapEpoch that the fake reports final.
var finalTx = fakeTxHash(snapEpoch, 0, 2, 1)

func (b *fakeBackend) Tx(_ context.Context, h common.Hash) (api.TxStatus, error) {
	if h != finalTx {
		return api.TxStatus{Hash: h, Status: api.TxUnknown}, nil
	}
	cpHash := fakeHash("cp", snapEpoch)
	return api.TxStatus{Hash: h, Status: api.TxFinal, Epoch: snapEpoch, CheckpointHash: &cpHash,
		Receipt: &api.Receipt{Status: api.ReceiptOK, Sender: fakeAddr(7), Index: 4}}, nil
}

func (b *fakeBackend) Account(_ context.Context, addr common.Address, withProof bool) (api.Account, error) {
	top := b.latest()
	acc := api.Account{Address: addr, Epoch: top.Epoch, StateRoot: top.StateRoot}
	if addr == fakeAcct {
		acc.Balance, acc.Nonce = 123456789, 5
	}
	if withProof {
		acc.Proof = []hexutil.Bytes{proofNode0, proofNode1}
	}
	return acc, nil
}

func (b *fakeBackend) Snapshot(_ context.Context, epoch uint64) (api.Snapshot, error) {
	cp, err := b.Checkpoint(context.Background(), epoch)
	if err != nil {
		return api.Snapshot{}, err
	}
	flights := fakeInflight(epoch)
	snap := api.Snapshot{Epoch: epoch, Cut: cp.Cut}
	for _, v := range cp.Votes {
		i := v.ValidatorIndex
		node := api.SnapshotNode{Validator: v.Validator, Index: i, MempoolSize: uint64(i) + 1,
			TimeMs: baseTimeMs + epoch*1000 + recordOffsetMs[i], Recorded: make([]uint64, fakeValidators)}
		for k := range uint32(fakeValidators) {
			node.Recorded[k] = cp.Cut[k] - 1
			if k == i {
				continue
			}
			ch := api.Channel{From: k, TxHashes: []common.Hash{}}
			for _, f := range flights {
				if f.to == i && f.from == k {
					node.Recorded[k] = cp.Cut[k] - 1 - f.count
					ch.Count, ch.FirstSeq, ch.LastSeq, ch.TxCount = f.count, cp.Cut[k]-f.count, cp.Cut[k]-1, f.tx
					for j := range f.tx {
						ch.TxHashes = append(ch.TxHashes, fakeTxHash(epoch, i, k, j))
					}
				}
			}
			node.Channels = append(node.Channels, ch)
		}
		snap.Nodes = append(snap.Nodes, node)
	}
	return snap, nil
}

func (b *fakeBackend) Validators(context.Context) ([]api.Validator, error) {
	out := make([]api.Validator, fakeValidators)
	for i := range out {
		out[i] = api.Validator{Index: uint32(i), Name: fakeNames[i], Address: fakeAddr(uint64(i)), Power: 1,
			PeerID: fmt.Sprintf("16Uiu2fake%d", i), Connected: i != 2, Self: i == 0}
	}
	return out, nil
}

var _ api.Backend = (*fakeBackend)(nil)

// Receipts is part of api.Backend (added by the lead for bench and the
// explorer): the fake has no receipts, so every epoch is unknown.
func (b *fakeBackend) Receipts(_ context.Context, epoch uint64) (api.EpochReceipts, error) {
	return api.EpochReceipts{}, fmt.Errorf("epoch %d: %w", epoch, api.ErrNotFound)
}
