package ledger

import (
	"bytes"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/trie"
)

// StateBuilder builds a state trie in one pass from accounts given in
// strictly ascending address order, keeping only the finished nodes: the
// genesis state, a state file and a state sync are built this way, in
// seconds for a million accounts and at a fraction of the memory a mutable
// trie needs. The root and nodes are those State.Commit would produce.
type StateBuilder struct {
	st    *trie.StackTrie
	nodes map[Hash][]byte
	last  Address
	count uint64
	max   uint64
}

// NewStateBuilder returns a builder that refuses more than maxAccounts
// accounts (its nodes are held in memory until the caller stores them).
func NewStateBuilder(maxAccounts uint64) *StateBuilder {
	b := &StateBuilder{nodes: make(map[Hash][]byte), max: maxAccounts}
	b.st = trie.NewStackTrie(func(_ []byte, h common.Hash, blob []byte) {
		b.nodes[h] = bytes.Clone(blob)
	})
	return b
}

// Add appends one account, which must come after the previous one and not
// be empty (empty accounts are not stored).
func (b *StateBuilder) Add(a Address, acct Account) error {
	if b.count > 0 && bytes.Compare(a[:], b.last[:]) <= 0 {
		return fmt.Errorf("account %s is not after %s (accounts must be in strictly ascending order)", a, b.last)
	}
	if acct == (Account{}) {
		return fmt.Errorf("account %s is empty (empty accounts are not stored)", a)
	}
	if b.count >= b.max {
		return fmt.Errorf("more than %d accounts", b.max)
	}
	if err := b.st.Update(a[:], encodeAccount(acct)); err != nil {
		return fmt.Errorf("account %s: %w", a, err)
	}
	b.last = a
	b.count++
	return nil
}

// Root finishes the trie and returns its root (EmptyRoot for no accounts).
// Nothing may be added after it.
func (b *StateBuilder) Root() Hash {
	if b.count == 0 {
		return EmptyRoot
	}
	return b.st.Hash()
}

// Nodes are the trie nodes built so far, by hash (all of them after Root).
func (b *StateBuilder) Nodes() map[Hash][]byte { return b.nodes }

// Count is the number of accounts added.
func (b *StateBuilder) Count() uint64 { return b.count }

// Last is the last account added (zero before the first).
func (b *StateBuilder) Last() Address { return b.last }
