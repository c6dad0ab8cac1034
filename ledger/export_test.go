package ledger

import "github.com/ledgerd/ledgerd/ledger/internal/mpt"

// newTrieForTest opens root through s's reader.
func newTrieForTest(s *State, root Hash) (*mpt.Trie, error) {
	return mpt.New(root, s.reader.node)
}
