// Package store is ledgerd's only user of Badger: trie nodes, the outbox and
// delivered stream entries, checkpoints, votes, receipts and snapshot
// records. An epoch's result becomes visible atomically: its content is
// written first and the head pointer last.
//
// The store is byte-oriented: callers encode their own values. Reads of
// epoch-keyed data (checkpoints, receipts, snapshots, tx index) are gated by
// the committed head, so data of an unfinished commit is never visible.
// Badger's errors are mapped to this package's sentinels (ErrNotFound,
// ErrLocked, ErrCorrupt, ...). docs/store.md records the key layout and the
// design choices.
package store
