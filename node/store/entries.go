package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/dgraph-io/badger/v4"
)

// entryOverhead is what Entries charges per entry against maxBytes on top
// of its length, so that many empty entries still exhaust the budget.
const entryOverhead = 16

// MaxVotesPerEpoch bounds how many votes Votes returns for one epoch.
const MaxVotesPerEpoch = 1 << 16

// PutEntry stores the stream entry (origin, seq) in one atomic write: once
// it returns, the entry survives a process crash (call Sync for power
// loss), so it may be published. Seq starts at 1. Storing the same bytes
// again succeeds; different bytes for a stored (origin, seq) fail with
// ErrExists, so a restart can never reuse a seq with other content.
func (s *Store) PutEntry(origin uint32, seq uint64, data []byte) error {
	if seq == 0 || seq == math.MaxUint64 {
		return fmt.Errorf("%w: entry seq %d", ErrInvalidArgument, seq)
	}
	err := s.putOnce(entryKey(origin, seq), data, func(txn *badger.Txn) error {
		return advanceHigh(txn, origin, seq)
	})
	if err != nil {
		return fmt.Errorf("put entry origin=%d seq=%d: %w", origin, seq, err)
	}
	return nil
}

// putOnce stores data under key unless it is there already: the same bytes
// again succeed, different bytes fail with ErrExists. after, if not nil,
// runs in the same transaction when the value is new.
func (s *Store) putOnce(key, data []byte, after func(txn *badger.Txn) error) error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	val := bytes.Clone(data)
	s.rmwMu.Lock()
	defer s.rmwMu.Unlock()
	return s.update(func(txn *badger.Txn) error {
		old, err := getIn(txn, key)
		if err == nil {
			if !bytes.Equal(old, val) {
				return ErrExists
			}
			return nil
		}
		if !errors.Is(err, ErrNotFound) {
			return err
		}
		if err := txn.Set(key, val); err != nil {
			return err
		}
		if after != nil {
			return after(txn)
		}
		return nil
	})
}

// advanceHigh moves origin's contiguous high-water mark past seq (just
// written) and any entries already stored after it.
func advanceHigh(txn *badger.Txn, origin uint32, seq uint64) error {
	high, err := highIn(txn, origin)
	if err != nil {
		return err
	}
	if seq != high+1 {
		return nil
	}
	next := seq + 1
	it := txn.NewIterator(badger.IteratorOptions{Prefix: binary.BigEndian.AppendUint32([]byte{pEntry}, origin)})
	defer it.Close()
	for it.Seek(entryKey(origin, next)); it.Valid(); it.Next() {
		if !bytes.Equal(it.Item().Key(), entryKey(origin, next)) {
			break
		}
		next++
	}
	return txn.Set(entryHighKey(origin), binary.BigEndian.AppendUint64(nil, next-1))
}

func highIn(txn *badger.Txn, origin uint32) (uint64, error) {
	v, err := getIn(txn, entryHighKey(origin))
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: entry high-water mark of %d bytes", ErrCorrupt, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// Entry returns the stream entry (origin, seq), or ErrNotFound.
func (s *Store) Entry(origin uint32, seq uint64) ([]byte, error) {
	if err := s.acquire(); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	v, err := s.get(entryKey(origin, seq))
	if err != nil {
		return nil, fmt.Errorf("entry origin=%d seq=%d: %w", origin, seq, err)
	}
	return v, nil
}

// Entries returns origin's entries from seq from to seq to, inclusive, in
// order. It stops early at the first missing seq, or before the entry that
// would take the total (length plus 16 bytes per entry) past maxBytes; the
// first entry is always returned, so a caller paging through makes
// progress. An empty result means entry from is absent.
func (s *Store) Entries(origin uint32, from, to uint64, maxBytes int) ([][]byte, error) {
	if from == 0 || from > to || maxBytes <= 0 {
		return nil, fmt.Errorf("%w: entries range [%d, %d] with maxBytes %d", ErrInvalidArgument, from, to, maxBytes)
	}
	if err := s.acquire(); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	var out [][]byte
	err := s.db.View(func(txn *badger.Txn) error {
		prefix := binary.BigEndian.AppendUint32([]byte{pEntry}, origin)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: false})
		defer it.Close()
		total := 0
		want := from
		for it.Seek(entryKey(origin, from)); it.Valid(); it.Next() {
			item := it.Item()
			if binary.BigEndian.Uint64(item.Key()[5:]) != want {
				return nil // gap
			}
			size := int(item.ValueSize()) + entryOverhead
			if len(out) > 0 && total+size > maxBytes {
				return nil
			}
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			out = append(out, v)
			total += size
			if want == to {
				return nil
			}
			want++
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("entries origin=%d [%d, %d]: %w", origin, from, to, err)
	}
	return out, nil
}

// LastEntrySeq returns the highest seq such that all of origin's entries
// 1..seq are stored (0 if entry 1 is absent).
func (s *Store) LastEntrySeq(origin uint32) (uint64, error) {
	if err := s.acquire(); err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()
	var high uint64
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		high, err = highIn(txn, origin)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("last entry seq origin=%d: %w", origin, err)
	}
	return high, nil
}

// PutVote stores validator's vote for epoch. Storing the same bytes again
// succeeds; different bytes fail with ErrExists (an honest node signs at
// most one vote per epoch; a second signed vote from a peer is evidence the
// caller keeps elsewhere).
func (s *Store) PutVote(epoch uint64, validator uint32, data []byte) error {
	if err := s.putOnce(voteKey(epoch, validator), data, nil); err != nil {
		return fmt.Errorf("put vote epoch=%d validator=%d: %w", epoch, validator, err)
	}
	return nil
}

// Votes returns the stored votes of epoch by validator index (an empty map
// if none). More than MaxVotesPerEpoch votes is an error.
func (s *Store) Votes(epoch uint64) (map[uint32][]byte, error) {
	if err := s.acquire(); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	out := make(map[uint32][]byte)
	err := s.db.View(func(txn *badger.Txn) error {
		prefix := epochKey(pVote, epoch)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: false})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if len(out) == MaxVotesPerEpoch {
				return fmt.Errorf("%w: more than %d votes", ErrTooLarge, MaxVotesPerEpoch)
			}
			item := it.Item()
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			out[binary.BigEndian.Uint32(item.Key()[9:])] = v
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("votes epoch=%d: %w", epoch, err)
	}
	return out, nil
}

// MaxRoundsPerEpoch bounds how many round messages Rounds returns for one
// epoch.
const MaxRoundsPerEpoch = 1 << 16

// PutRound stores a round message of the agreement on epoch's cut, one per
// (validator, round, kind): the same bytes again succeed, different ones
// fail with ErrExists (equivocation, the first one is kept).
func (s *Store) PutRound(epoch uint64, validator, round uint32, kind byte, data []byte) error {
	if err := s.putOnce(roundKey(epoch, validator, round, kind), data, nil); err != nil {
		return fmt.Errorf("put round message epoch=%d validator=%d round=%d: %w", epoch, validator, round, err)
	}
	return nil
}

// Rounds returns the stored round messages of epoch, in key order.
func (s *Store) Rounds(epoch uint64) ([][]byte, error) {
	var out [][]byte
	err := s.scan(epochKey(pRound, epoch), func(_, v []byte) error {
		if len(out) == MaxRoundsPerEpoch {
			return fmt.Errorf("%w: more than %d round messages", ErrTooLarge, MaxRoundsPerEpoch)
		}
		out = append(out, v)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("round messages epoch=%d: %w", epoch, err)
	}
	return out, nil
}

// DropRounds deletes the round messages of every epoch up to epoch (final
// epochs need them no more).
func (s *Store) DropRounds(epoch uint64) error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	var keys [][]byte
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pRound}, PrefetchValues: false})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			if binary.BigEndian.Uint64(k[1:9]) > epoch {
				break
			}
			keys = append(keys, it.Item().KeyCopy(nil))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("drop round messages to epoch %d: %w", epoch, err)
	}
	w := s.newChunkWriter()
	for _, k := range keys {
		if err := w.del(k); err != nil {
			w.discard()
			return fmt.Errorf("drop round messages to epoch %d: %w", epoch, err)
		}
	}
	if err := w.commit(); err != nil {
		return fmt.Errorf("drop round messages to epoch %d: %w", epoch, err)
	}
	return nil
}

// scan calls fn with every key and value under prefix, in key order.
func (s *Store) scan(prefix []byte, fn func(k, v []byte) error) error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	return s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			if err := fn(it.Item().Key(), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// PutCertificate stores the certificate of epoch, replacing any earlier one
// (a later certificate may carry more votes). Certificates are independent
// of the head.
func (s *Store) PutCertificate(epoch uint64, data []byte) error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	key := epochKey(pCert, epoch)
	val := bytes.Clone(data)
	if err := s.update(func(txn *badger.Txn) error { return txn.Set(key, val) }); err != nil {
		return fmt.Errorf("put certificate epoch=%d: %w", epoch, err)
	}
	return nil
}

// Certificate returns the certificate of epoch, or ErrNotFound.
func (s *Store) Certificate(epoch uint64) ([]byte, error) {
	if err := s.acquire(); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	v, err := s.get(epochKey(pCert, epoch))
	if err != nil {
		return nil, fmt.Errorf("certificate epoch=%d: %w", epoch, err)
	}
	return v, nil
}

// getIn returns a copy of key's value inside txn, or ErrNotFound.
func getIn(txn *badger.Txn, key []byte) ([]byte, error) {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return item.ValueCopy(nil)
}
