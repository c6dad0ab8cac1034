package mpt

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/ethereum/go-ethereum/crypto"
)

// Reader returns the blob of the stored node with the given hash, or an
// error if it has none. The Trie does not modify or keep the returned slice.
type Reader func(Hash) ([]byte, error)

// DefaultKeepDepth is the keep depth of a new Trie: after Commit, nodes at
// a path of fewer nibbles stay decoded in memory, deeper ones are dropped
// (replaced by hash references). At 1M random keys, depths 0-3 are ~4,400
// full nodes (~3 MB decoded).
const DefaultKeepDepth = 4

// Stats counts work since the Trie was opened.
type Stats struct {
	Hashed      uint64 // nodes hashed (Keccak-256 of their encoding)
	HashedBytes uint64 // bytes hashed
	Encoded     uint64 // node encodings computed (hashing, Commit, Prove)
	Resolved    uint64 // stored nodes read and decoded
	Stored      uint64 // nodes returned by Commit
}

// Trie is a Merkle Patricia trie. Keys and values are byte strings; an
// empty value deletes. Keys must not be prefixes of each other for the
// value slot of branch nodes to stay unused (it is supported nonetheless).
type Trie struct {
	root    node
	reader  Reader
	h       *hasher
	stats   Stats  // Resolved and Stored; the hasher counts the rest
	pending int    // writes since the last Commit
	keybuf  []byte // scratch hex key for Get
}

// New opens the trie with the given root, reading stored nodes through
// reader. The root node is read at once: a missing or corrupt root is an
// error. The zero Hash and EmptyRoot open the empty trie.
func New(root Hash, reader Reader) (*Trie, error) {
	t := &Trie{reader: reader, h: newHasher(DefaultKeepDepth)}
	if root == (Hash{}) || root == EmptyRoot {
		return t, nil
	}
	n, err := t.resolve(root)
	if err != nil {
		return nil, err
	}
	t.root = n
	return t, nil
}

// SetKeepDepth sets the keep depth (in nibbles, >= 0) applied by the next
// Commits; see DefaultKeepDepth.
func (t *Trie) SetKeepDepth(d int) { t.h.keep = max(d, 0) }

// KeepDepth returns the keep depth.
func (t *Trie) KeepDepth() int { return t.h.keep }

// Stats returns the work counters.
func (t *Trie) Stats() Stats {
	s := t.stats
	s.Hashed, s.HashedBytes, s.Encoded = t.h.hashed, t.h.hbytes, t.h.encoded
	return s
}

func (t *Trie) resolve(h Hash) (node, error) {
	if t.reader == nil {
		return nil, fmt.Errorf("mpt: node %x: no reader", h[:])
	}
	blob, err := t.reader(h)
	if err != nil {
		return nil, fmt.Errorf("mpt: read node %x: %w", h[:], err)
	}
	n, err := decodeStored(h, blob)
	if err != nil {
		return nil, fmt.Errorf("mpt: node %x: %w", h[:], err)
	}
	t.stats.Resolved++
	return n, nil
}

// resolveNode returns n decoded if it is a hash reference.
func (t *Trie) resolveNode(n node) (node, error) {
	if h, ok := n.(*hashNode); ok {
		return t.resolve(Hash(*h))
	}
	return n, nil
}

// Get returns the value stored under key, nil if none. Nodes it reads stay
// decoded in the trie (until the next Commit drops those below the keep
// depth).
func (t *Trie) Get(key []byte) ([]byte, error) {
	t.keybuf = keybytesToHex(t.keybuf[:0], key)
	k := t.keybuf
	slot := &t.root
	for {
		switch n := (*slot).(type) {
		case nil:
			return nil, nil
		case valueNode:
			if len(k) == 0 {
				return n, nil
			}
			return nil, nil
		case *shortNode:
			if len(k) < len(n.key) || !bytes.Equal(n.key, k[:len(n.key)]) {
				return nil, nil
			}
			k = k[len(n.key):]
			slot = &n.val
		case *fullNode:
			if len(k) == 0 {
				return nil, nil
			}
			slot = &n.children[k[0]]
			k = k[1:]
		case *hashNode:
			rn, err := t.resolve(Hash(*n))
			if err != nil {
				return nil, err
			}
			*slot = rn
		}
	}
}

// Update sets key to value; an empty value deletes key. The trie keeps
// value (the caller must not modify it later).
func (t *Trie) Update(key, value []byte) error {
	if len(value) == 0 {
		return t.Delete(key)
	}
	t.pending++
	k := keybytesToHex(make([]byte, 0, 2*len(key)+1), key)
	_, n, err := t.insert(t.root, k, valueNode(value))
	if err != nil {
		return err
	}
	t.root = n
	return nil
}

// Delete removes key (nothing if absent).
func (t *Trie) Delete(key []byte) error {
	t.pending++
	k := keybytesToHex(make([]byte, 0, 2*len(key)+1), key)
	_, n, err := t.delete(t.root, k)
	if err != nil {
		return err
	}
	t.root = n
	return nil
}

// insert follows go-ethereum's Trie.insert, changing nodes in place (no
// other trie shares them). It returns whether anything changed and the node
// that replaces n. On error nothing has changed.
func (t *Trie) insert(n node, key []byte, value node) (bool, node, error) {
	if len(key) == 0 {
		if v, ok := n.(valueNode); ok && bytes.Equal(v, value.(valueNode)) {
			return false, n, nil
		}
		return true, value, nil
	}
	switch n := n.(type) {
	case *shortNode:
		matchlen := prefixLen(key, n.key)
		if matchlen == len(n.key) {
			dirty, nn, err := t.insert(n.val, key[matchlen:], value)
			if !dirty || err != nil {
				return false, n, err
			}
			n.val = nn
			n.flag = nodeFlag{dirty: true}
			return true, n, nil
		}
		// Split at the first differing nibble.
		branch := &fullNode{flag: nodeFlag{dirty: true}}
		_, branch.children[n.key[matchlen]], _ = t.insert(nil, n.key[matchlen+1:], n.val)
		_, branch.children[key[matchlen]], _ = t.insert(nil, key[matchlen+1:], value)
		if matchlen == 0 {
			return true, branch, nil
		}
		return true, &shortNode{key: key[:matchlen:matchlen], val: branch, flag: nodeFlag{dirty: true}}, nil
	case *fullNode:
		dirty, nn, err := t.insert(n.children[key[0]], key[1:], value)
		if !dirty || err != nil {
			return false, n, err
		}
		n.children[key[0]] = nn
		n.flag = nodeFlag{dirty: true}
		return true, n, nil
	case nil:
		return true, &shortNode{key: key, val: value, flag: nodeFlag{dirty: true}}, nil
	case *hashNode:
		rn, err := t.resolve(Hash(*n))
		if err != nil {
			return false, n, err
		}
		dirty, nn, err := t.insert(rn, key, value)
		if !dirty || err != nil {
			return false, n, err
		}
		return true, nn, nil
	case valueNode:
		// Only reached with len(key) > 0 below a value: impossible in a
		// trie whose keys are not prefixes of each other's.
		return false, n, fmt.Errorf("%w: value node on a key path", ErrBadNode)
	}
	return false, n, fmt.Errorf("%w: node type %T", ErrBadNode, n)
}

// delete follows go-ethereum's Trie.delete (same collapse rules), changing
// nodes in place. On error nothing has changed.
func (t *Trie) delete(n node, key []byte) (bool, node, error) {
	switch n := n.(type) {
	case *shortNode:
		matchlen := prefixLen(key, n.key)
		if matchlen < len(n.key) {
			return false, n, nil
		}
		if matchlen == len(key) {
			return true, nil, nil // the whole leaf goes
		}
		dirty, child, err := t.delete(n.val, key[len(n.key):])
		if !dirty || err != nil {
			return false, n, err
		}
		if c, ok := child.(*shortNode); ok {
			// Merge the extension with the short node below it.
			k := make([]byte, 0, len(n.key)+len(c.key))
			k = append(append(k, n.key...), c.key...)
			return true, &shortNode{key: k, val: c.val, flag: nodeFlag{dirty: true}}, nil
		}
		n.val = child
		n.flag = nodeFlag{dirty: true}
		return true, n, nil
	case *fullNode:
		dirty, nn, err := t.delete(n.children[key[0]], key[1:])
		if !dirty || err != nil {
			return false, n, err
		}
		if nn != nil {
			n.children[key[0]] = nn
			n.flag = nodeFlag{dirty: true}
			return true, n, nil
		}
		// The child went: if one child is left, the branch collapses.
		pos := -1
		for i, c := range &n.children {
			if c != nil && i != int(key[0]) {
				if pos == -1 {
					pos = i
				} else {
					pos = -2
					break
				}
			}
		}
		if pos >= 0 {
			if pos != 16 {
				cnode, err := t.resolveNode(n.children[pos])
				if err != nil {
					return false, n, err
				}
				if c, ok := cnode.(*shortNode); ok {
					k := make([]byte, 0, 1+len(c.key))
					k = append(append(k, byte(pos)), c.key...)
					return true, &shortNode{key: k, val: c.val, flag: nodeFlag{dirty: true}}, nil
				}
			}
			return true, &shortNode{key: []byte{byte(pos)}, val: n.children[pos], flag: nodeFlag{dirty: true}}, nil
		}
		n.children[key[0]] = nil
		n.flag = nodeFlag{dirty: true}
		return true, n, nil
	case valueNode:
		return true, nil, nil
	case nil:
		return false, nil, nil
	case *hashNode:
		rn, err := t.resolve(Hash(*n))
		if err != nil {
			return false, n, err
		}
		dirty, nn, err := t.delete(rn, key)
		if !dirty || err != nil {
			return false, n, err
		}
		return true, nn, nil
	}
	return false, n, fmt.Errorf("%w: node type %T", ErrBadNode, n)
}

// hasher computes node references and collects committed nodes. The
// Trie has one; parallel hashing and commits use one per goroutine.
type hasher struct {
	sha     crypto.KeccakState
	buf     []byte // encoding scratch
	scratch []byte // compact key scratch
	keep    int
	arena   []byte       // current chunk for committed blobs
	out     []storedNode // committed nodes
	hashed  uint64
	hbytes  uint64
	encoded uint64
}

type storedNode struct {
	hash Hash
	blob []byte
}

func newHasher(keep int) *hasher {
	return &hasher{sha: crypto.NewKeccakState(), keep: keep}
}

// hash computes and caches the reference of n and of its decoded
// descendants whose reference is not known.
func (h *hasher) hash(n node) {
	f := flagOf(n)
	if f == nil || f.refLen != 0 {
		return
	}
	switch n := n.(type) {
	case *shortNode:
		h.hash(n.val)
	case *fullNode:
		for i := 0; i < 16; i++ {
			switch c := n.children[i].(type) {
			case *fullNode, *shortNode:
				h.hash(c)
			}
		}
	}
	h.setRef(f, h.encode(n))
}

// encode returns n's encoding in the hasher's buffer (valid until the next
// encode); the references of n's children must be known.
func (h *hasher) encode(n node) []byte {
	h.encoded++
	switch n := n.(type) {
	case *shortNode:
		h.buf, h.scratch = appendShort(h.buf[:0], n, h.scratch)
	case *fullNode:
		h.buf = appendFull(h.buf[:0], n)
	}
	return h.buf
}

// setRef sets the reference of a node with encoding enc.
func (h *hasher) setRef(f *nodeFlag, enc []byte) {
	if len(enc) < 32 {
		f.refLen = uint8(copy(f.ref[:], enc))
		return
	}
	h.keccak(f.ref[:], enc)
	f.refLen = 32
}

func (h *hasher) keccak(dst, data []byte) {
	h.hashed++
	h.hbytes += uint64(len(data))
	h.sha.Reset()
	h.sha.Write(data)
	h.sha.Read(dst)
}

// parallelMin is the number of writes since the last Commit from which
// hashing and Commit split the work over the root's children.
const parallelMin = 100

// forRootChildren runs fn on each decoded child of a branch root that
// matters (want), one goroutine per child, each with its own hasher, and
// merges the hashers' counters and committed nodes into t.h.
func (t *Trie) forRootChildren(root *fullNode, want func(*nodeFlag) bool, fn func(h *hasher, i int, c node)) {
	var (
		wg sync.WaitGroup
		hs [16]*hasher
	)
	for i := 0; i < 16; i++ {
		f := flagOf(root.children[i])
		if f == nil || !want(f) {
			continue
		}
		hs[i] = newHasher(t.h.keep)
		wg.Add(1)
		go func(h *hasher, i int, c node) {
			defer wg.Done()
			fn(h, i, c)
		}(hs[i], i, root.children[i])
	}
	wg.Wait()
	for _, h := range hs {
		if h != nil {
			t.h.hashed += h.hashed
			t.h.hbytes += h.hbytes
			t.h.encoded += h.encoded
			t.h.out = append(t.h.out, h.out...)
		}
	}
}

// hashRoot computes the references of the trie's nodes, in parallel over
// the root's children after many writes.
func (t *Trie) hashRoot() {
	if r, ok := t.root.(*fullNode); ok && r.flag.refLen == 0 && t.pending >= parallelMin {
		t.forRootChildren(r, func(f *nodeFlag) bool { return f.refLen == 0 },
			func(h *hasher, _ int, c node) { h.hash(c) })
	}
	t.h.hash(t.root)
}

// Hash returns the root hash, including uncommitted changes.
func (t *Trie) Hash() Hash {
	switch r := t.root.(type) {
	case nil:
		return EmptyRoot
	case *hashNode:
		return Hash(*r)
	}
	t.hashRoot()
	return t.rootHash()
}

// rootHash returns the hash of the root, whose reference is known. The
// root is always hashed, even when its encoding is shorter than 32 bytes
// (its cached reference then stays the embedded encoding).
func (t *Trie) rootHash() Hash {
	r := ref(t.root)
	if len(r) == 32 {
		return Hash(r)
	}
	var h Hash
	t.h.keccak(h[:], r)
	return h
}

// Commit returns the root hash and the stored nodes (keyed by hash) created
// or changed since the last Commit: the nodes go-ethereum's Commit reports
// (without deletions). The trie stays usable; nodes deeper than the keep
// depth are dropped from memory. The returned blobs must not be modified.
func (t *Trie) Commit() (Hash, map[Hash][]byte) {
	if t.root == nil {
		t.pending = 0
		return EmptyRoot, make(map[Hash][]byte)
	}
	t.h.out, t.h.arena = t.h.out[:0], nil
	if r, ok := t.root.(*fullNode); ok && r.flag.dirty && t.pending >= parallelMin {
		t.forRootChildren(r, func(f *nodeFlag) bool { return f.dirty || 1 < t.h.keep },
			func(h *hasher, i int, c node) { r.children[i] = h.commit(c, 1) })
		if t.h.keep <= 1 {
			// Drop the clean children the workers skipped (and the
			// ones they committed, now clean).
			for i := 0; i < 16; i++ {
				switch c := r.children[i].(type) {
				case *fullNode, *shortNode:
					r.children[i] = t.h.commit(c, 1)
				}
			}
		}
		t.root = t.h.finish(r, &r.flag, 0)
	} else {
		t.root = t.h.commit(t.root, 0)
	}
	nodes := make(map[Hash][]byte, len(t.h.out))
	for _, sn := range t.h.out {
		nodes[sn.hash] = sn.blob
	}
	t.stats.Stored += uint64(len(t.h.out))
	clear(t.h.out)
	t.pending = 0
	return t.Hash(), nodes
}

// commit stores the dirty nodes of the subtrie n at the given depth (post
// order, computing references) and returns n, or a hash reference to it
// when it is at or below the keep depth.
func (h *hasher) commit(n node, depth int) node {
	var f *nodeFlag
	switch n := n.(type) {
	case *shortNode:
		f = &n.flag
		if c, ok := n.val.(*fullNode); ok && (f.dirty || depth < h.keep) {
			n.val = h.commit(c, depth+len(n.key))
		}
	case *fullNode:
		f = &n.flag
		if f.dirty || depth < h.keep {
			for i := 0; i < 16; i++ {
				switch c := n.children[i].(type) {
				case *fullNode, *shortNode:
					n.children[i] = h.commit(c, depth+1)
				}
			}
		}
	default:
		return n
	}
	return h.finish(n, f, depth)
}

// finish stores n if dirty (its children are committed) and returns it or
// its hash reference.
func (h *hasher) finish(n node, f *nodeFlag, depth int) node {
	if f.dirty {
		enc := h.encode(n)
		if f.refLen == 0 {
			h.setRef(f, enc)
		}
		if f.refLen == 32 || depth == 0 {
			hash := Hash(f.ref)
			if f.refLen != 32 {
				h.keccak(hash[:], enc)
			}
			h.out = append(h.out, storedNode{hash, h.store(enc)})
		}
		f.dirty = false
	}
	if depth >= h.keep && f.refLen == 32 {
		hn := hashNode(f.ref)
		return &hn
	}
	return n
}

// store copies a blob into the arena of the current Commit.
func (h *hasher) store(enc []byte) []byte {
	if cap(h.arena)-len(h.arena) < len(enc) {
		size := max(2*cap(h.arena), 16<<10)
		size = min(size, 1<<20)
		h.arena = make([]byte, 0, max(size, len(enc)))
	}
	off := len(h.arena)
	h.arena = append(h.arena, enc...)
	return h.arena[off:len(h.arena):len(h.arena)]
}

// Prove returns the proof of key (of its value, or of its absence): the
// encodings of the nodes on its path from the root down, without the
// embedded ones, as go-ethereum's Trie.Prove writes them. Stored nodes it
// reads are not kept.
func (t *Trie) Prove(key []byte) ([][]byte, error) {
	k := keybytesToHex(nil, key)
	var path []node
	tn := t.root
loop:
	for len(k) > 0 && tn != nil {
		switch n := tn.(type) {
		case *shortNode:
			if len(k) < len(n.key) || !bytes.Equal(n.key, k[:len(n.key)]) {
				tn = nil
			} else {
				tn = n.val
				k = k[len(n.key):]
			}
			path = append(path, n)
		case *fullNode:
			tn = n.children[k[0]]
			k = k[1:]
			path = append(path, n)
		case *hashNode:
			rn, err := t.resolve(Hash(*n))
			if err != nil {
				return nil, err
			}
			tn = rn
		default:
			break loop
		}
	}
	proof := make([][]byte, 0, len(path))
	for i, n := range path {
		t.h.hash(n)
		enc := t.h.encode(n)
		if len(enc) >= 32 || i == 0 {
			proof = append(proof, bytes.Clone(enc))
		}
	}
	return proof, nil
}

// Iterate calls fn with each key >= start and its value, in key order (as
// go-ethereum's iterator), until fn
// returns false. key is valid during the call only. Stored nodes it reads
// are not kept. fn must not change the trie.
func (t *Trie) Iterate(start []byte, fn func(key, value []byte) bool) error {
	it := iterator{t: t, fn: fn}
	s := keybytesToHex(nil, start)
	it.start = s[:len(s)-1]
	_, err := it.walk(t.root, make([]byte, 0, 64), false)
	return err
}

type iterator struct {
	t      *Trie
	fn     func(key, value []byte) bool
	start  []byte // hex, no terminator
	keybuf []byte
}

// walk visits n at the given hex path; free means every key below path is
// >= start. It returns false when fn asked to stop.
func (it *iterator) walk(n node, path []byte, free bool) (bool, error) {
	if n == nil {
		return true, nil
	}
	if v, ok := n.(valueNode); ok {
		// Leaves compare by their key: the path without terminator.
		hex := path[:len(path)-1]
		if !hasTerm(path) || len(hex)&1 != 0 {
			return false, fmt.Errorf("%w: value at path %x", ErrBadNode, path)
		}
		if !free && bytes.Compare(hex, it.start) < 0 {
			return true, nil
		}
		it.keybuf = hexToKeybytes(it.keybuf[:0], hex)
		return it.fn(it.keybuf, v), nil
	}
	if !free {
		m := min(len(path), len(it.start))
		switch c := bytes.Compare(path[:m], it.start[:m]); {
		case c < 0:
			return true, nil // all of the subtrie is < start
		case c > 0 || len(path) >= len(it.start):
			free = true
		}
	}
	switch n := n.(type) {
	case *hashNode:
		rn, err := it.t.resolve(Hash(*n))
		if err != nil {
			return false, err
		}
		return it.walk(rn, path, free)
	case *shortNode:
		return it.walk(n.val, append(path, n.key...), free)
	case *fullNode:
		// The value slot (a key that is a prefix of the others) first.
		for i := 16; ; i = (i + 1) % 17 {
			if ok, err := it.walk(n.children[i], append(path, byte(i)), free); !ok || err != nil {
				return ok, err
			}
			if i == 15 {
				return true, nil
			}
		}
	}
	return false, fmt.Errorf("%w: node type %T", ErrBadNode, n)
}

// Decoded returns the numbers of full and short nodes held decoded in
// memory (embedded ones included) and an estimate of the heap they use
// (structs, hash references, keys and values, by allocation size class).
func (t *Trie) Decoded() (full, short int, bytes int) {
	var walk func(n node)
	walk = func(n node) {
		switch n := n.(type) {
		case *fullNode:
			full++
			bytes += 320 // [17]node + flag: 306 bytes, size class 320
			hashes := 0
			for _, c := range &n.children {
				if _, ok := c.(*hashNode); ok {
					hashes++
				}
				walk(c)
			}
			bytes += roundClass(32 * hashes)
		case *shortNode:
			short++
			bytes += 80 + roundClass(cap(n.key))
			walk(n.val)
		case valueNode:
			bytes += 24 + roundClass(cap(n)) // boxed slice header + data
		}
	}
	walk(t.root)
	return full, short, bytes
}

// roundClass rounds a small allocation up to a multiple of 16 bytes (Go's
// size classes are at least that coarse).
func roundClass(n int) int { return (n + 15) &^ 15 }

// Prefetch reads and decodes the nodes on the paths of keys into the trie,
// in parallel over the root's children (one goroutine per child), so that
// the Gets and Updates that follow find them decoded. reader must be safe
// for concurrent use. Errors are ignored: the Get of the key reports them.
// It does nothing unless the root is a decoded branch.
func (t *Trie) Prefetch(keys [][]byte, reader Reader) {
	if h, ok := t.root.(*hashNode); ok {
		rn, err := t.resolve(Hash(*h))
		if err != nil {
			return
		}
		t.root = rn
	}
	root, ok := t.root.(*fullNode)
	if !ok {
		return
	}
	var groups [16][][]byte
	for _, k := range keys {
		if len(k) > 0 {
			groups[k[0]>>4] = append(groups[k[0]>>4], k)
		}
	}
	var (
		wg       sync.WaitGroup
		resolved [16]uint64
	)
	for i := range groups {
		if len(groups[i]) == 0 || root.children[i] == nil {
			continue
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			var hex []byte
			for _, k := range groups[i] {
				hex = keybytesToHex(hex[:0], k)
				resolved[i] += prefetchPath(&root.children[i], hex[1:], reader)
			}
		}(i)
	}
	wg.Wait()
	for _, n := range resolved {
		t.stats.Resolved += n
	}
}

// prefetchPath resolves the hash references on the path of the hex key k
// below slot, and returns how many it resolved.
func prefetchPath(slot *node, k []byte, reader Reader) (resolved uint64) {
	for {
		switch n := (*slot).(type) {
		case *shortNode:
			if len(k) < len(n.key) || !bytes.Equal(n.key, k[:len(n.key)]) {
				return resolved
			}
			k = k[len(n.key):]
			slot = &n.val
		case *fullNode:
			if len(k) == 0 {
				return resolved
			}
			slot = &n.children[k[0]]
			k = k[1:]
		case *hashNode:
			blob, err := reader(Hash(*n))
			if err != nil {
				return resolved
			}
			rn, err := decodeStored(Hash(*n), blob)
			if err != nil {
				return resolved
			}
			*slot = rn
			resolved++
		default:
			return resolved
		}
	}
}
