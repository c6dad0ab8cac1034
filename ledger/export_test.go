package ledger

import "github.com/ethereum/go-ethereum/trie"

// newTrieForTest opens root through s's reader.
func newTrieForTest(s *State, root Hash) (*trie.Trie, error) {
	return trie.New(trie.TrieID(root), s.reader)
}
