package api

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/ethereum/go-ethereum/common"
)

// fakeBackend is an in-memory Backend. Its checkpoint chain has epoch i at
// index i; publish appends and wakes subscribers, the way the node's view
// does. err, when set, is returned by every method (error mapping tests).
type fakeBackend struct {
	mu       sync.Mutex
	cps      []Checkpoint
	changed  chan struct{} // closed and replaced on every publish
	txs      map[common.Hash]TxStatus
	accounts map[common.Address]Account
	snaps    map[uint64]Snapshot
	vals     []Validator
	status   Status
	err      error

	submitted [][]byte
	submitErr error
	// block, when set, makes every call wait for ctx (timeout tests).
	block bool
	// subscribe, when set, replaces SubscribeCheckpoints.
	subscribe func(ctx context.Context, from uint64) (<-chan Checkpoint, error)

	activeSubs atomic.Int64
	subFroms   chan uint64 // when set, receives each SubscribeCheckpoints from
}

func newFakeBackend(epochs int) *fakeBackend {
	b := &fakeBackend{
		changed:  make(chan struct{}),
		txs:      map[common.Hash]TxStatus{},
		accounts: map[common.Address]Account{},
		snaps:    map[uint64]Snapshot{},
		status: Status{
			ChainID: "ledgerd-test", Self: Self{Address: testAddr(1), Index: 1, Name: "v1"},
			Peers: 3, Sync: SyncStatus{State: SyncSynced}, Mempool: MempoolInfo{Size: 2, Capacity: 100},
			Version: "test",
		},
	}
	for i := range epochs {
		b.cps = append(b.cps, testCheckpoint(uint64(i)))
	}
	b.refreshStatus()
	return b
}

func testHash(tag string, n uint64) common.Hash {
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], n)
	return common.Hash(sha256.Sum256(append([]byte(tag), buf[:]...)))
}

func testAddr(n uint64) common.Address { return common.BytesToAddress(testHash("addr", n).Bytes()) }

func testCheckpoint(epoch uint64) Checkpoint {
	cp := Checkpoint{
		Hash: testHash("cp", epoch), Epoch: epoch, StateRoot: testHash("state", epoch),
		TxRoot: testHash("tx", epoch), ReceiptsRoot: testHash("rc", epoch),
		Cut: []uint64{epoch * 3, epoch*3 + 1}, TxCount: epoch * 10, TimeMs: 1_700_000_000_000 + epoch*1000,
		ValidatorSetHash: testHash("vs", 0), Final: true, Header: []byte{0xc0, byte(epoch)},
		Votes: []Vote{{Validator: testAddr(0), ValidatorIndex: 0, Signature: make([]byte, 65)}},
	}
	if epoch > 0 {
		cp.PrevHash = testHash("cp", epoch-1)
	}
	return cp
}

func (b *fakeBackend) refreshStatus() {
	if n := len(b.cps); n > 0 {
		b.status.LatestFinal = EpochRef{Epoch: b.cps[n-1].Epoch, Hash: b.cps[n-1].Hash}
		b.status.Epoch = uint64(n)
	}
}

// publish appends the next checkpoint and wakes subscribers.
func (b *fakeBackend) publish() Checkpoint {
	b.mu.Lock()
	defer b.mu.Unlock()
	cp := testCheckpoint(uint64(len(b.cps)))
	b.cps = append(b.cps, cp)
	b.refreshStatus()
	close(b.changed)
	b.changed = make(chan struct{})
	return cp
}

func (b *fakeBackend) check(ctx context.Context) error {
	if b.block {
		<-ctx.Done()
		return ctx.Err()
	}
	return b.err
}

func (b *fakeBackend) Status(ctx context.Context) (Status, error) {
	if err := b.check(ctx); err != nil {
		return Status{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.status, nil
}

func (b *fakeBackend) LatestCheckpoint(ctx context.Context) (Checkpoint, error) {
	if err := b.check(ctx); err != nil {
		return Checkpoint{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.cps) == 0 {
		return Checkpoint{}, fmt.Errorf("no checkpoint yet: %w", ErrNotFound)
	}
	return b.cps[len(b.cps)-1], nil
}

func (b *fakeBackend) Checkpoint(ctx context.Context, epoch uint64) (Checkpoint, error) {
	if err := b.check(ctx); err != nil {
		return Checkpoint{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if epoch >= uint64(len(b.cps)) {
		return Checkpoint{}, fmt.Errorf("epoch %d: %w", epoch, ErrNotFound)
	}
	return b.cps[epoch], nil
}

func (b *fakeBackend) CheckpointByHash(ctx context.Context, h common.Hash) (Checkpoint, error) {
	if err := b.check(ctx); err != nil {
		return Checkpoint{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, cp := range b.cps {
		if cp.Hash == h {
			return cp, nil
		}
	}
	return Checkpoint{}, fmt.Errorf("checkpoint %s: %w", h.Hex(), ErrNotFound)
}

func (b *fakeBackend) Checkpoints(ctx context.Context, before uint64, limit int) ([]Checkpoint, error) {
	if err := b.check(ctx); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []Checkpoint
	for i := len(b.cps) - 1; i >= 0 && len(out) < limit; i-- {
		if b.cps[i].Epoch < before {
			out = append(out, b.cps[i])
		}
	}
	return out, nil
}

func (b *fakeBackend) SubscribeCheckpoints(ctx context.Context, from uint64) (<-chan Checkpoint, error) {
	if err := b.check(ctx); err != nil {
		return nil, err
	}
	if b.subFroms != nil {
		b.subFroms <- from
	}
	if b.subscribe != nil {
		return b.subscribe(ctx, from)
	}
	out := make(chan Checkpoint, 4)
	b.activeSubs.Add(1)
	go func() {
		defer b.activeSubs.Add(-1)
		defer close(out)
		next := from
		for {
			b.mu.Lock()
			var cp Checkpoint
			have := next < uint64(len(b.cps))
			if have {
				cp = b.cps[next]
			}
			changed := b.changed
			b.mu.Unlock()
			if !have {
				select {
				case <-changed:
					continue
				case <-ctx.Done():
					return
				}
			}
			select {
			case out <- cp:
				next++
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

func (b *fakeBackend) SubmitTx(ctx context.Context, raw []byte) (common.Hash, error) {
	if err := b.check(ctx); err != nil {
		return common.Hash{}, err
	}
	if b.submitErr != nil {
		return common.Hash{}, b.submitErr
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.submitted = append(b.submitted, raw)
	return common.Hash(sha256.Sum256(raw)), nil
}

func (b *fakeBackend) Tx(ctx context.Context, h common.Hash) (TxStatus, error) {
	if err := b.check(ctx); err != nil {
		return TxStatus{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if st, ok := b.txs[h]; ok {
		return st, nil
	}
	return TxStatus{Hash: h, Status: TxUnknown}, nil
}

func (b *fakeBackend) Account(ctx context.Context, addr common.Address, withProof bool) (Account, error) {
	if err := b.check(ctx); err != nil {
		return Account{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	acc, ok := b.accounts[addr]
	if !ok {
		acc = Account{Address: addr}
	}
	if withProof {
		acc.Proof = append(acc.Proof, []byte{0xde, 0xad})
	}
	return acc, nil
}

func (b *fakeBackend) Snapshot(ctx context.Context, epoch uint64) (Snapshot, error) {
	if err := b.check(ctx); err != nil {
		return Snapshot{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.snaps[epoch]
	if !ok {
		return Snapshot{}, fmt.Errorf("snapshot %d: %w", epoch, ErrNotFound)
	}
	return s, nil
}

func (b *fakeBackend) Validators(ctx context.Context) ([]Validator, error) {
	if err := b.check(ctx); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.vals, nil
}

var _ Backend = (*fakeBackend)(nil)

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }

func (b *fakeBackend) Receipts(ctx context.Context, epoch uint64) (EpochReceipts, error) {
	if err := b.check(ctx); err != nil {
		return EpochReceipts{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if epoch >= uint64(len(b.cps)) {
		return EpochReceipts{}, fmt.Errorf("epoch %d: %w", epoch, ErrNotFound)
	}
	out := EpochReceipts{Epoch: epoch, Final: true}
	for i := uint64(0); i < b.cps[epoch].TxCount; i++ {
		r := TxReceipt{TxHash: testHash("rtx", epoch*1000+i), Receipt: Receipt{Status: ReceiptOK, Sender: testAddr(i), Index: uint32(i)}}
		if i%3 == 2 {
			r.Status, r.Error = ReceiptFailed, "bad_nonce"
		}
		out.Receipts = append(out.Receipts, r)
	}
	return out, nil
}
