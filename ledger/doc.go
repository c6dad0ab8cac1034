// Package ledger is the pure ledger of ledgerd: transactions and their
// canonical encoding and signatures, accounts, the genesis file, deterministic
// execution of an ordered list of transactions, and the Merkle state
// commitment with inclusion proofs.
//
// It must stay pure: no I/O, clocks, goroutines or randomness (see
// purity_test.go). Storage of trie nodes is reached through the NodeDB
// interface that this package owns and node/store implements.
package ledger
