package ledger

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math/bits"
	"slices"

	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/trie"

	"github.com/ledgerd/ledgerd/ledger/internal/mpt"
)

// Account is the state of one address. An address that never received
// anything has the zero Account and is absent from the trie.
type Account struct {
	Balance uint64
	// Nonce is the number of transactions the account has applied; the next
	// transaction must carry Nonce == Account.Nonce.
	Nonce uint64
}

// accountValueBytes is the length of an account's trie value:
// balance(8) | nonce(8), big-endian.
const accountValueBytes = 16

// EmptyRoot is the state root of a state with no accounts.
var EmptyRoot = types.EmptyRootHash

// State errors.
var (
	ErrCorruptState   = errors.New("ledger: corrupt state")
	ErrNoFeeCollector = errors.New("ledger: state has no fee collector (open it with Genesis.OpenState or call SetFeeCollector)")
	ErrBadProof       = errors.New("ledger: invalid proof")
)

func (a Account) isZero() bool { return a == Account{} }

func encodeAccount(a Account) []byte {
	b := make([]byte, accountValueBytes)
	binary.BigEndian.PutUint64(b, a.Balance)
	binary.BigEndian.PutUint64(b[8:], a.Nonce)
	return b
}

func decodeAccount(b []byte) (Account, error) {
	if len(b) != accountValueBytes {
		return Account{}, fmt.Errorf("%w: account value of %d bytes, want %d", ErrCorruptState, len(b), accountValueBytes)
	}
	a := Account{Balance: binary.BigEndian.Uint64(b), Nonce: binary.BigEndian.Uint64(b[8:])}
	if a.isZero() {
		return Account{}, fmt.Errorf("%w: zero account stored", ErrCorruptState)
	}
	return a, nil
}

// State is the account state: a Merkle Patricia trie in go-ethereum's format
// (package internal/mpt, bit-compatible with go-ethereum's trie) keyed by
// the 20-byte address (not hashed) whose values are encoded Accounts, read
// through a NodeDB, plus the changes not yet committed. Apply changes it in
// memory; Commit returns the new root and the new trie nodes to persist.
// The trie's upper levels (above trieKeepDepth nibbles) stay decoded in
// memory across commits.
//
// The nodes returned by a Commit are served from memory until the next
// Commit; the caller must write them to the NodeDB before that. A State is
// not safe for concurrent use; Copy gives an independent one.
type State struct {
	reader       *nodeReader
	trie         *mpt.Trie
	committed    Hash                // root of the last Commit (or of the opened state)
	changes      map[Address]Account // every account changed since the last Commit
	unflushed    []Address           // changed since the last flush into trie (may repeat)
	feeCollector Address
	cacheBytes   int
	iterating    bool // inside ForEachAccount: the trie must not change
	// err is sticky: once a storage failure leaves the trie behind the
	// changes, every later call returns it.
	err error
}

// trieKeepDepth is the trie's keep depth: after a Commit the nodes at paths
// of fewer nibbles stay decoded, deeper ones are read again through the
// nodeReader when needed. At 1M random addresses, depth 4 keeps the ~4,400
// full nodes of levels 0-3 (docs/bench-ledger.md has the measurements).
const trieKeepDepth = 4

func newState(db NodeDB, root Hash, pinned map[Hash][]byte, cacheBytes int) (*State, error) {
	r := &nodeReader{db: db, pinned: pinned, cache: newNodeCache(cacheBytes)}
	t, err := openTrie(root, r, trieKeepDepth)
	if err != nil {
		return nil, fmt.Errorf("open state root %s: %w", root, err)
	}
	return &State{reader: r, trie: t, committed: root, changes: make(map[Address]Account), cacheBytes: cacheBytes}, nil
}

// openTrie opens the trie at root through r.
func openTrie(root Hash, r *nodeReader, keepDepth int) (*mpt.Trie, error) {
	t, err := mpt.New(root, r.node)
	if err != nil {
		return nil, trieErr(err)
	}
	t.SetKeepDepth(keepDepth)
	return t, nil
}

// trieErr marks the trie's errors for undecodable nodes as ErrCorruptState.
func trieErr(err error) error {
	if errors.Is(err, mpt.ErrBadNode) {
		return fmt.Errorf("%w: %w", ErrCorruptState, err)
	}
	return err
}

// OpenState opens the state with the given root, reading nodes from db.
// Apply needs a fee collector: use Genesis.OpenState, or SetFeeCollector.
func OpenState(db NodeDB, root Hash) (*State, error) {
	if db == nil {
		return nil, errors.New("ledger: open state: nil NodeDB")
	}
	if root == (Hash{}) {
		root = EmptyRoot
	}
	return newState(db, root, nil, DefaultNodeCacheBytes)
}

// OpenState opens the state with the given root for the chain g, so Apply
// pays fees to g.FeeCollector.
func (g *Genesis) OpenState(db NodeDB, root Hash) (*State, error) {
	s, err := OpenState(db, root)
	if err != nil {
		return nil, err
	}
	s.feeCollector = g.FeeCollector
	return s, nil
}

// GenesisState returns the state holding g's allocations, uncommitted: call
// Commit to get the genesis state root and the nodes to persist. g must be
// valid.
func GenesisState(g *Genesis, db NodeDB) (*State, error) {
	if err := g.Validate(); err != nil {
		return nil, err
	}
	s, err := g.OpenState(db, EmptyRoot)
	if err != nil {
		return nil, err
	}
	for _, a := range g.Alloc {
		s.set(a.Address, Account{Balance: a.Balance})
	}
	return s, nil
}

// SetVerifyNodes makes the State check every node read from the NodeDB
// against its hash (about 1 µs per node read; off by default: a corrupt
// node store shows up as a state root that differs from the certified one).
// It returns ErrCorruptNode on a mismatch.
func (s *State) SetVerifyNodes(on bool) { s.reader.verify = on }

// SetFeeCollector sets the account Apply pays fees to.
func (s *State) SetFeeCollector(a Address) { s.feeCollector = a }

// FeeCollector returns the account Apply pays fees to.
func (s *State) FeeCollector() Address { return s.feeCollector }

// SetNodeCacheBytes bounds the cache of nodes read from the NodeDB (default
// DefaultNodeCacheBytes; 0 disables it). It drops the current cache.
func (s *State) SetNodeCacheBytes(n int) {
	s.cacheBytes = n
	s.reader.cache = newNodeCache(n)
}

func (s *State) set(a Address, acct Account) {
	s.changes[a] = acct
	s.unflushed = append(s.unflushed, a)
}

// Account returns the current account of a, including uncommitted changes;
// the zero Account if a has none.
func (s *State) Account(a Address) (Account, error) {
	if s.err != nil {
		return Account{}, s.err
	}
	if acct, ok := s.changes[a]; ok {
		return acct, nil
	}
	b, err := s.trie.Get(a[:])
	if err != nil {
		return Account{}, fmt.Errorf("read account %s: %w", a, trieErr(err))
	}
	if b == nil {
		return Account{}, nil
	}
	acct, err := decodeAccount(b)
	if err != nil {
		return Account{}, fmt.Errorf("read account %s: %w", a, err)
	}
	return acct, nil
}

// seenKey identifies a transaction for duplicate detection: the hash does
// not cover the signature, so it is paired with the recovered sender.
type seenKey struct {
	hash   Hash
	sender Address
}

// staged holds the (at most three) accounts one transfer writes, so that
// aliases (self-transfer, fee collector as a party) read their own writes
// and a failed transfer changes nothing.
type staged struct {
	n     int
	addrs [3]Address
	accts [3]Account
}

func (st *staged) get(a Address) (Account, bool) {
	for i := 0; i < st.n; i++ {
		if st.addrs[i] == a {
			return st.accts[i], true
		}
	}
	return Account{}, false
}

func (st *staged) put(a Address, acct Account) {
	for i := 0; i < st.n; i++ {
		if st.addrs[i] == a {
			st.accts[i] = acct
			return
		}
	}
	st.addrs[st.n], st.accts[st.n] = a, acct
	st.n++
}

// Apply executes txs in the given order and returns one receipt per
// transaction. The rules (docs/ledger.md):
//
//   - Err != nil (from CheckTx): fails with StatusOf(Err).
//   - an earlier transaction of this call with the same hash and sender:
//     StatusDuplicate.
//   - Nonce != sender's nonce: StatusBadNonce.
//   - Amount + Fee > sender's balance (or the sum overflows):
//     StatusInsufficientBalance.
//   - the recipient's or fee collector's balance would overflow:
//     StatusBalanceOverflow.
//   - otherwise the sender pays Amount + Fee and its nonce increments, To
//     receives Amount and the fee collector receives Fee (self-transfers and
//     the collector as a party are fine), so total supply is conserved.
//
// A failed transaction changes nothing. Apply is deterministic; it returns
// an error only when a trie node cannot be read (storage failure or a
// missing fee collector), and then changes nothing.
func (s *State) Apply(txs []CheckedTx) ([]Receipt, error) {
	if s.err != nil {
		return nil, s.err
	}
	if s.feeCollector == (Address{}) {
		return nil, ErrNoFeeCollector
	}
	s.prefetch(txs)
	receipts := make([]Receipt, len(txs))
	touched := make(map[Address]Account, 2*len(txs)+1)
	seen := make(map[seenKey]struct{}, len(txs))
	load := func(a Address) (Account, error) {
		if acct, ok := touched[a]; ok {
			return acct, nil
		}
		return s.Account(a)
	}
	for i := range txs {
		c := &txs[i]
		r := &receipts[i]
		r.TxHash = c.Hash
		if c.Err != nil {
			r.Status = StatusOf(c.Err)
			continue
		}
		r.Sender = c.Sender
		k := seenKey{c.Hash, c.Sender}
		if _, dup := seen[k]; dup {
			r.Status = StatusDuplicate
			continue
		}
		seen[k] = struct{}{}
		st, status, err := transfer(&c.Tx, c.Sender, s.feeCollector, load)
		if err != nil {
			return nil, fmt.Errorf("apply tx %d (%s): %w", i, c.Hash, err)
		}
		r.Status = status
		if status == StatusOK {
			for j := 0; j < st.n; j++ {
				touched[st.addrs[j]] = st.accts[j]
			}
		}
	}
	for _, a := range slices.SortedFunc(maps.Keys(touched), compareAddress) {
		s.set(a, touched[a])
	}
	return receipts, nil
}

// prefetchMin is the number of transactions from which Apply first reads
// the trie paths of the accounts they touch in parallel.
const prefetchMin = 64

// prefetch decodes the trie paths of the accounts txs read (senders,
// recipients, fee collector) into the trie in parallel (Trie.Prefetch),
// so that Apply's sequential reads find them in memory.
func (s *State) prefetch(txs []CheckedTx) {
	if len(txs) < prefetchMin {
		return
	}
	addrs := make([]Address, 0, 2*len(txs)+1)
	addrs = append(addrs, s.feeCollector)
	for i := range txs {
		if c := &txs[i]; c.Err == nil {
			addrs = append(addrs, c.Sender, c.Tx.To)
		}
	}
	keys := make([][]byte, 0, len(addrs))
	for i := range addrs {
		if _, ok := s.changes[addrs[i]]; !ok {
			keys = append(keys, addrs[i][:])
		}
	}
	s.trie.Prefetch(keys, s.reader.nodeNoFill)
}

func compareAddress(x, y Address) int { return bytes.Compare(x[:], y[:]) }

// transfer computes the accounts a valid transfer writes, or the failure status.
func transfer(tx *Tx, sender, collector Address, load func(Address) (Account, error)) (staged, Status, error) {
	var st staged
	from, err := load(sender)
	if err != nil {
		return st, 0, err
	}
	if tx.Nonce != from.Nonce || from.Nonce == ^uint64(0) {
		return st, StatusBadNonce, nil
	}
	cost, carry := bits.Add64(tx.Amount, tx.Fee, 0)
	if carry != 0 || cost > from.Balance {
		return st, StatusInsufficientBalance, nil
	}
	from.Balance -= cost
	from.Nonce++
	st.put(sender, from)
	for _, credit := range [2]struct {
		to     Address
		amount uint64
	}{{tx.To, tx.Amount}, {collector, tx.Fee}} {
		acct, ok := st.get(credit.to)
		if !ok {
			if acct, err = load(credit.to); err != nil {
				return st, 0, err
			}
		}
		if acct.Balance, carry = bits.Add64(acct.Balance, credit.amount, 0); carry != 0 {
			return st, StatusBalanceOverflow, nil
		}
		st.put(credit.to, acct)
	}
	return st, StatusOK, nil
}

// flush writes the changes made since the last flush into the trie. A
// failure is sticky (the trie is then partly updated).
func (s *State) flush() error {
	if s.err != nil {
		return s.err
	}
	if len(s.unflushed) == 0 {
		return nil
	}
	if s.iterating {
		return errors.New("ledger: State changed and read back inside ForEachAccount")
	}
	slices.SortFunc(s.unflushed, compareAddress)
	addrs := slices.Compact(s.unflushed)
	for _, a := range addrs {
		acct := s.changes[a]
		var err error
		if acct.isZero() {
			err = s.trie.Delete(a[:])
		} else {
			err = s.trie.Update(a[:], encodeAccount(acct))
		}
		if err != nil {
			s.err = fmt.Errorf("write account %s: %w", a, trieErr(err))
			return s.err
		}
	}
	s.unflushed = s.unflushed[:0]
	return nil
}

// Root returns the state root, including uncommitted changes. It returns
// the zero Hash if pending changes could not be written to the trie (a
// storage failure, which Err and every other method then report).
func (s *State) Root() Hash {
	if err := s.flush(); err != nil {
		return Hash{}
	}
	return s.trie.Hash()
}

// Err returns the sticky storage error that disabled the State, if any.
func (s *State) Err() error { return s.err }

// Commit returns the state root and the trie nodes created since the last
// Commit (keyed by hash; write them to the NodeDB before the next Commit).
// Nodes that are no longer referenced are not reported: the store keeps
// old states unless it prunes them itself. Commit with no changes returns
// the same root and no nodes.
func (s *State) Commit() (Hash, map[Hash][]byte, error) {
	if err := s.flush(); err != nil {
		return Hash{}, nil, err
	}
	root, nodes := s.trie.Commit()
	// The trie stays usable: it reads the nodes it dropped through the
	// reader, which serves this Commit's nodes until the next one.
	if len(nodes) > 0 || root != s.committed {
		s.reader.pinned = nodes
	}
	s.committed = root
	s.changes = make(map[Address]Account)
	return root, nodes, nil
}

// Copy returns an independent State with the same content, fee collector
// and pending changes, usable on another goroutine. It reopens the trie at
// the last committed root with an empty node cache and re-applies the
// pending changes lazily: its cost is O(pending changes), and its first
// reads go to the NodeDB (or to the nodes of the last Commit, which it
// shares read-only). If the root cannot be read, the copy's Err says so.
func (s *State) Copy() *State {
	r := &nodeReader{db: s.reader.db, pinned: s.reader.pinned, cache: newNodeCache(s.cacheBytes), verify: s.reader.verify}
	c := &State{reader: r, committed: s.committed, changes: make(map[Address]Account, len(s.changes)),
		feeCollector: s.feeCollector, cacheBytes: s.cacheBytes, err: s.err}
	t, err := openTrie(s.committed, r, s.trie.KeepDepth())
	if err != nil {
		c.err = fmt.Errorf("copy state root %s: %w", s.committed, err)
		t, _ = openTrie(EmptyRoot, r, s.trie.KeepDepth())
	}
	c.trie = t
	for a, acct := range s.changes {
		c.set(a, acct)
	}
	return c
}

// Proof is the list of encoded trie nodes on the path to an address, from
// the root down.
type Proof [][]byte

// Prove returns a proof of a's account, or of its absence, against Root()
// (uncommitted changes included).
func (s *State) Prove(a Address) (Proof, error) {
	if err := s.flush(); err != nil {
		return nil, err
	}
	p, err := s.trie.Prove(a[:])
	if err != nil {
		return nil, fmt.Errorf("prove %s: %w", a, trieErr(err))
	}
	return Proof(p), nil
}

// Proof size limits checked by VerifyProof: a path through 20-byte keys has
// at most 41 nodes, and a trie node is at most 17 children of 33 bytes.
const (
	MaxProofNodes     = 64
	MaxProofNodeBytes = 1024
)

// proofSet serves proof nodes by hash to trie.VerifyProof.
type proofSet map[Hash][]byte

func (p proofSet) Has(key []byte) (bool, error) {
	_, ok := p[Hash(key)]
	return ok, nil
}

func (p proofSet) Get(key []byte) ([]byte, error) {
	if len(key) != len(Hash{}) {
		return nil, ErrNodeNotFound
	}
	if b, ok := p[Hash(key)]; ok {
		return b, nil
	}
	return nil, ErrNodeNotFound
}

// VerifyProof checks p against root and returns a's account if the proof
// shows it exists (exists = true), or the zero Account if the proof shows a
// has no account (exists = false). It needs nothing but the root; any other
// outcome is an error matching ErrBadProof.
func VerifyProof(root Hash, a Address, p Proof) (acct Account, exists bool, err error) {
	if len(p) > MaxProofNodes {
		return Account{}, false, fmt.Errorf("%w: %d nodes, limit %d", ErrBadProof, len(p), MaxProofNodes)
	}
	if root == EmptyRoot {
		return Account{}, false, nil // nothing exists in the empty state
	}
	set := make(proofSet, len(p))
	for i, n := range p {
		if len(n) > MaxProofNodeBytes {
			return Account{}, false, fmt.Errorf("%w: node %d is %d bytes, limit %d", ErrBadProof, i, len(n), MaxProofNodeBytes)
		}
		set[keccak(n)] = n
	}
	v, err := trie.VerifyProof(root, a[:], set)
	if err != nil {
		return Account{}, false, fmt.Errorf("%w: %v", ErrBadProof, err)
	}
	if v == nil {
		return Account{}, false, nil
	}
	acct, err = decodeAccount(v)
	if err != nil {
		return Account{}, false, fmt.Errorf("%w: %v", ErrBadProof, err)
	}
	return acct, true, nil
}

// ForEachAccount calls fn for each account with address >= start, in
// address order, including uncommitted changes, until fn returns false. fn
// may read the State (Account) but not write to its trie: Apply followed by
// Root, Prove, Commit or ForEachAccount inside fn fails.
func (s *State) ForEachAccount(start Address, fn func(Address, Account) bool) error {
	if err := s.flush(); err != nil {
		return err
	}
	if s.iterating {
		return errors.New("ledger: nested ForEachAccount")
	}
	s.iterating = true
	defer func() { s.iterating = false }()
	var ferr error
	err := s.trie.Iterate(start[:], func(k, v []byte) bool {
		if len(k) != len(Address{}) {
			ferr = fmt.Errorf("%w: key of %d bytes", ErrCorruptState, len(k))
			return false
		}
		acct, err := decodeAccount(v)
		if err != nil {
			ferr = fmt.Errorf("account %x: %w", k, err)
			return false
		}
		return fn(Address(k), acct)
	})
	if err != nil {
		return fmt.Errorf("iterate accounts: %w", trieErr(err))
	}
	return ferr
}
