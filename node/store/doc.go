// Package store is ledgerd's only user of Badger: trie nodes, the outbox and
// delivered stream entries, checkpoints, votes, receipts and snapshot
// records. An epoch's result becomes visible atomically: its content is
// written first and the head pointer last.
package store
