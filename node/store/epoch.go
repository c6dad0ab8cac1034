package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/dgraph-io/badger/v4"
	"github.com/ethereum/go-ethereum/common"
)

// MaxCheckpointsPage bounds how many checkpoints one Checkpoints call
// returns; a larger limit is clamped to it.
const MaxCheckpointsPage = 1000

// EpochCommit is everything one epoch adds to the store. CommitEpoch makes
// it visible atomically.
type EpochCommit struct {
	// Epoch is the committed epoch; it must be above the current head (a gap
	// is allowed, e.g. after state sync).
	Epoch uint64
	// Nodes are the trie nodes the epoch created, by hash (content-addressed,
	// may be tens of thousands). Values must be non-empty.
	Nodes map[common.Hash][]byte
	// StateRoot is the trie root after the epoch.
	StateRoot common.Hash
	// Checkpoint is the encoded checkpoint header, and CheckpointHash its
	// hash. Both empty/zero means the epoch has no header (e.g. genesis).
	Checkpoint     []byte
	CheckpointHash common.Hash
	// Receipts are the encoded receipts of the epoch.
	Receipts []byte
	// TxIndex maps each transaction hash of the epoch to the caller's value
	// (epoch, index, status...); up to ~100k entries.
	TxIndex map[common.Hash][]byte
	// Snapshot is the encoded global snapshot record of the epoch.
	Snapshot []byte
	// Meta holds small keys that must move atomically with the head.
	Meta map[string][]byte
}

// CheckpointRecord is one stored checkpoint header, as listed by
// Checkpoints.
type CheckpointRecord struct {
	Epoch uint64
	Hash  common.Hash
	Data  []byte
}

func (c *EpochCommit) validate(head *Head) error {
	if head != nil && c.Epoch <= head.Epoch {
		return fmt.Errorf("%w: commit epoch %d, head %d", ErrEpochOrder, c.Epoch, head.Epoch)
	}
	if (len(c.Checkpoint) == 0) != (c.CheckpointHash == common.Hash{}) {
		return fmt.Errorf("%w: epoch %d: checkpoint of %d bytes with hash %x (both or neither)",
			ErrInvalidArgument, c.Epoch, len(c.Checkpoint), c.CheckpointHash)
	}
	for h, n := range c.Nodes {
		if len(n) == 0 {
			return fmt.Errorf("%w: epoch %d: empty trie node %x", ErrInvalidArgument, c.Epoch, h)
		}
	}
	for k := range c.Meta {
		if err := checkMetaKey(k); err != nil {
			return err
		}
	}
	return nil
}

// CommitEpoch stores an epoch's result and moves the head to it. After a
// crash at any instant, reopening shows the old head or the new one with
// all of its content, never a mix. Large content cannot fit one Badger
// transaction in the small profile, so it commits in two phases:
//
//  1. Content, in as many transactions as needed: trie nodes
//     (content-addressed, so rewriting is harmless) and the epoch-keyed
//     receipts, snapshot and tx index. Reads of epoch-keyed data are gated
//     by the head, so none of it is visible yet. Leftovers of an earlier
//     unfinished commit above the head are deleted first.
//  2. One transaction: checkpoint (by epoch and by hash), Meta and the
//     head.
//
// CommitEpoch does not fsync; call Sync before voting. Calls are
// serialized. On error the head is unchanged and the call may be retried.
func (s *Store) CommitEpoch(c EpochCommit) error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	head := s.head.Load()
	if err := c.validate(head); err != nil {
		return err
	}
	if err := s.dropAboveHead(head); err != nil {
		return fmt.Errorf("commit epoch %d: drop leftovers: %w", c.Epoch, err)
	}
	if err := s.writeContent(&c); err != nil {
		return fmt.Errorf("commit epoch %d: content: %w", c.Epoch, err)
	}
	newHead := Head{Epoch: c.Epoch, CheckpointHash: c.CheckpointHash, StateRoot: c.StateRoot}
	err := s.update(func(txn *badger.Txn) error {
		if len(c.Checkpoint) > 0 {
			v := append(bytes.Clone(c.CheckpointHash[:]), c.Checkpoint...)
			if err := txn.Set(epochKey(pCkpt, c.Epoch), v); err != nil {
				return err
			}
			if err := txn.Set(ckptHashKey(c.CheckpointHash), binary.BigEndian.AppendUint64(nil, c.Epoch)); err != nil {
				return err
			}
		}
		for k, v := range c.Meta {
			if err := txn.Set(metaKey(k), bytes.Clone(v)); err != nil {
				return err
			}
		}
		return txn.Set(headKey(), encodeHead(newHead))
	})
	if err != nil {
		return fmt.Errorf("commit epoch %d: head: %w", c.Epoch, err)
	}
	s.head.Store(&newHead)
	return nil
}

// writeContent is phase 1 of CommitEpoch.
func (s *Store) writeContent(c *EpochCommit) error {
	w := s.newChunkWriter()
	defer w.discard()
	for h, n := range c.Nodes {
		if err := w.set(nodeKey(h), n); err != nil {
			return err
		}
	}
	for h, v := range c.TxIndex {
		if err := w.set(txEpochKey(c.Epoch, h), nil); err != nil {
			return err
		}
		if err := w.set(txKey(h, c.Epoch), v); err != nil {
			return err
		}
	}
	// Written even when empty, so that a leftover of an earlier attempt at
	// this epoch can never surface.
	if err := w.set(epochKey(pReceipts, c.Epoch), c.Receipts); err != nil {
		return err
	}
	if err := w.set(epochKey(pSnapshot, c.Epoch), c.Snapshot); err != nil {
		return err
	}
	return w.commit()
}

// dropAboveHead deletes epoch-keyed content (receipts, snapshots, tx index)
// above head, left by a commit that did not reach its head update. Without
// this, a later commit of a higher epoch would expose it.
func (s *Store) dropAboveHead(head *Head) error {
	from := uint64(0)
	if head != nil {
		if head.Epoch == math.MaxUint64 {
			return nil
		}
		from = head.Epoch + 1
	}
	w := s.newChunkWriter()
	defer w.discard()
	err := s.db.View(func(txn *badger.Txn) error {
		for _, p := range []byte{pReceipts, pSnapshot, pTxEpoch} {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{p}, PrefetchValues: false})
			for it.Seek(epochKey(p, from)); it.Valid(); it.Next() {
				k := it.Item().KeyCopy(nil)
				if err := w.del(k); err != nil {
					it.Close()
					return err
				}
				if p == pTxEpoch {
					var h common.Hash
					copy(h[:], k[9:])
					if err := w.del(txKey(h, binary.BigEndian.Uint64(k[1:9]))); err != nil {
						it.Close()
						return err
					}
				}
			}
			it.Close()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return w.commit()
}

// chunkWriter writes a sequence of keys in as many synchronous Badger
// transactions as they need: each commits when the next write would
// overflow it. Unlike badger.WriteBatch it has one transaction in flight,
// so its memory is bounded by one maximum-size transaction.
type chunkWriter struct {
	db  *badger.DB
	txn *badger.Txn
}

func (s *Store) newChunkWriter() *chunkWriter { return &chunkWriter{db: s.db} }

func (w *chunkWriter) set(k, v []byte) error {
	return w.do(func(txn *badger.Txn) error { return txn.Set(k, v) })
}

func (w *chunkWriter) del(k []byte) error {
	return w.do(func(txn *badger.Txn) error { return txn.Delete(k) })
}

func (w *chunkWriter) do(op func(*badger.Txn) error) error {
	if w.txn == nil {
		w.txn = w.db.NewTransaction(true)
	}
	err := op(w.txn)
	if !errors.Is(err, badger.ErrTxnTooBig) {
		return err
	}
	if err := w.commit(); err != nil {
		return err
	}
	w.txn = w.db.NewTransaction(true)
	if err := op(w.txn); err != nil {
		if errors.Is(err, badger.ErrTxnTooBig) {
			return fmt.Errorf("%w: one key does not fit a transaction", ErrTooLarge)
		}
		return err
	}
	return nil
}

func (w *chunkWriter) commit() error {
	if w.txn == nil {
		return nil
	}
	txn := w.txn
	w.txn = nil
	return txn.Commit()
}

func (w *chunkWriter) discard() {
	if w.txn != nil {
		w.txn.Discard()
		w.txn = nil
	}
}

// Head returns the committed head; ok is false if no epoch was committed.
func (s *Store) Head() (Head, bool, error) {
	if err := s.acquire(); err != nil {
		return Head{}, false, err
	}
	defer s.mu.RUnlock()
	h := s.head.Load()
	if h == nil {
		return Head{}, false, nil
	}
	return *h, true, nil
}

// visible reports whether epoch is at or below the head.
func (s *Store) visible(epoch uint64) bool {
	h := s.head.Load()
	return h != nil && epoch <= h.Epoch
}

// getEpoch reads an epoch-keyed value, gated by the head.
func (s *Store) getEpoch(what string, prefix byte, epoch uint64) ([]byte, error) {
	if err := s.acquire(); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	if !s.visible(epoch) {
		return nil, fmt.Errorf("%s epoch=%d: %w (above head)", what, epoch, ErrNotFound)
	}
	v, err := s.get(epochKey(prefix, epoch))
	if err != nil {
		return nil, fmt.Errorf("%s epoch=%d: %w", what, epoch, err)
	}
	return v, nil
}

// Checkpoint returns the encoded checkpoint header of epoch, or ErrNotFound
// if epoch is above the head or has no header.
func (s *Store) Checkpoint(epoch uint64) ([]byte, error) {
	v, err := s.getEpoch("checkpoint", pCkpt, epoch)
	if err != nil {
		return nil, err
	}
	if len(v) < common.HashLength {
		return nil, fmt.Errorf("checkpoint epoch=%d: %w: record of %d bytes", epoch, ErrCorrupt, len(v))
	}
	return v[common.HashLength:], nil
}

// CheckpointByHash returns the encoded checkpoint header with hash h and
// its epoch, or ErrNotFound.
func (s *Store) CheckpointByHash(h common.Hash) ([]byte, uint64, error) {
	if err := s.acquire(); err != nil {
		return nil, 0, err
	}
	v, err := s.get(ckptHashKey(h))
	s.mu.RUnlock()
	if err != nil {
		return nil, 0, fmt.Errorf("checkpoint hash=%x: %w", h, err)
	}
	if len(v) != 8 {
		return nil, 0, fmt.Errorf("checkpoint hash=%x: %w: index record of %d bytes", h, ErrCorrupt, len(v))
	}
	epoch := binary.BigEndian.Uint64(v)
	data, err := s.Checkpoint(epoch)
	if err != nil {
		return nil, 0, err
	}
	return data, epoch, nil
}

// Checkpoints lists stored checkpoint headers with epochs below
// beforeEpoch and at or below the head, newest first, at most limit of them
// (clamped to MaxCheckpointsPage). Pass math.MaxUint64 to start at the
// head; pass the last returned epoch to get the next page.
func (s *Store) Checkpoints(beforeEpoch uint64, limit int) ([]CheckpointRecord, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("%w: checkpoints limit %d", ErrInvalidArgument, limit)
	}
	limit = min(limit, MaxCheckpointsPage)
	if err := s.acquire(); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	h := s.head.Load()
	if h == nil || beforeEpoch == 0 {
		return nil, nil
	}
	top := min(beforeEpoch-1, h.Epoch)
	var out []CheckpointRecord
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pCkpt}, Reverse: true, PrefetchValues: false})
		defer it.Close()
		for it.Seek(epochKey(pCkpt, top)); it.Valid() && len(out) < limit; it.Next() {
			item := it.Item()
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			if len(v) < common.HashLength {
				return fmt.Errorf("%w: checkpoint record of %d bytes", ErrCorrupt, len(v))
			}
			out = append(out, CheckpointRecord{
				Epoch: binary.BigEndian.Uint64(item.Key()[1:]),
				Hash:  common.BytesToHash(v[:common.HashLength]),
				Data:  v[common.HashLength:],
			})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("checkpoints before %d: %w", beforeEpoch, err)
	}
	return out, nil
}

// Receipts returns the encoded receipts of epoch, or ErrNotFound if epoch
// is above the head.
func (s *Store) Receipts(epoch uint64) ([]byte, error) {
	return s.getEpoch("receipts", pReceipts, epoch)
}

// Snapshot returns the global snapshot record of epoch, or ErrNotFound if
// epoch is above the head.
func (s *Store) Snapshot(epoch uint64) ([]byte, error) {
	return s.getEpoch("snapshot", pSnapshot, epoch)
}

// TxIndex returns the value stored for transaction hash h by the latest
// committed epoch at or below the head that indexed it, or ErrNotFound.
func (s *Store) TxIndex(h common.Hash) ([]byte, error) {
	if err := s.acquire(); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	head := s.head.Load()
	if head == nil {
		return nil, fmt.Errorf("tx index %x: %w", h, ErrNotFound)
	}
	var v []byte
	err := s.db.View(func(txn *badger.Txn) error {
		prefix := append([]byte{pTx}, h[:]...)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, Reverse: true, PrefetchValues: false})
		defer it.Close()
		it.Seek(txKey(h, head.Epoch))
		if !it.Valid() {
			return ErrNotFound
		}
		var err error
		v, err = it.Item().ValueCopy(nil)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("tx index %x: %w", h, err)
	}
	return v, nil
}
