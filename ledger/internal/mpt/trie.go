package mpt

import (
	"bytes"
	"fmt"

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
	Hashed   uint64 // nodes hashed (Keccak-256 of their encoding)
	Encoded  uint64 // node encodings computed (hashing, Commit, Prove)
	Resolved uint64 // stored nodes read and decoded
	Stored   uint64 // nodes returned by Commit
}

// Trie is a Merkle Patricia trie. Keys and values are byte strings; an
// empty value deletes. Keys must not be prefixes of each other for the
// value slot of branch nodes to stay unused (it is supported nonetheless).
type Trie struct {
	root   node
	reader Reader
	keep   int
	h      hasher
	stats  Stats
	keybuf []byte // scratch hex key for Get
	arena  []byte // current chunk for the blobs of a Commit
	stored int    // nodes of the last Commit (sizes the next one's map)
}

type hasher struct {
	sha     crypto.KeccakState
	buf     []byte // encoding scratch
	scratch []byte // compact key scratch
}

// New opens the trie with the given root, reading stored nodes through
// reader. The root node is read at once: a missing or corrupt root is an
// error. The zero Hash and EmptyRoot open the empty trie.
func New(root Hash, reader Reader) (*Trie, error) {
	t := &Trie{reader: reader, keep: DefaultKeepDepth}
	t.h.sha = crypto.NewKeccakState()
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
func (t *Trie) SetKeepDepth(d int) { t.keep = max(d, 0) }

// KeepDepth returns the keep depth.
func (t *Trie) KeepDepth() int { return t.keep }

// Stats returns the work counters.
func (t *Trie) Stats() Stats { return t.stats }

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

// hash computes and caches the reference of n and of its decoded
// descendants whose reference is not known.
func (t *Trie) hash(n node) {
	var f *nodeFlag
	switch n := n.(type) {
	case *shortNode:
		if n.flag.refLen != 0 {
			return
		}
		if _, ok := n.val.(valueNode); !ok {
			t.hash(n.val)
		}
		f = &n.flag
	case *fullNode:
		if n.flag.refLen != 0 {
			return
		}
		for i := 0; i < 16; i++ {
			switch c := n.children[i].(type) {
			case *fullNode, *shortNode:
				t.hash(c)
			}
		}
		f = &n.flag
	default:
		return
	}
	t.setRef(f, t.encode(n))
}

// encode returns n's encoding in the hasher's buffer (valid until the next
// encode); the references of n's children must be known.
func (t *Trie) encode(n node) []byte {
	t.stats.Encoded++
	switch n := n.(type) {
	case *shortNode:
		t.h.buf, t.h.scratch = appendShort(t.h.buf[:0], n, t.h.scratch)
	case *fullNode:
		t.h.buf = appendFull(t.h.buf[:0], n)
	}
	return t.h.buf
}

// setRef sets the reference of a node with encoding enc.
func (t *Trie) setRef(f *nodeFlag, enc []byte) {
	if len(enc) < 32 {
		f.refLen = uint8(copy(f.ref[:], enc))
		return
	}
	t.keccak(f.ref[:], enc)
	f.refLen = 32
}

func (t *Trie) keccak(dst, data []byte) {
	t.stats.Hashed++
	t.h.sha.Reset()
	t.h.sha.Write(data)
	t.h.sha.Read(dst)
}

// Hash returns the root hash, including uncommitted changes.
func (t *Trie) Hash() Hash {
	switch r := t.root.(type) {
	case nil:
		return EmptyRoot
	case *hashNode:
		return Hash(*r)
	}
	t.hash(t.root)
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
	t.keccak(h[:], r)
	return h
}

// Commit returns the root hash and the stored nodes (keyed by hash) created
// or changed since the last Commit: the nodes go-ethereum's Commit reports
// (without deletions). The trie stays usable; nodes deeper than the keep
// depth are dropped from memory. The returned blobs must not be modified.
func (t *Trie) Commit() (Hash, map[Hash][]byte) {
	if t.root == nil {
		return EmptyRoot, make(map[Hash][]byte)
	}
	nodes := make(map[Hash][]byte, t.stored+t.stored/8)
	t.arena = nil
	t.root = t.commit(t.root, 0, nodes)
	t.stored = len(nodes)
	return t.Hash(), nodes
}

// commit stores the dirty nodes of the subtrie n at the given depth (post
// order, computing references) and returns n, or a hash reference to it
// when it is at or below the keep depth.
func (t *Trie) commit(n node, depth int, nodes map[Hash][]byte) node {
	var f *nodeFlag
	switch n := n.(type) {
	case *shortNode:
		f = &n.flag
		if c, ok := n.val.(*fullNode); ok && (f.dirty || depth < t.keep) {
			n.val = t.commit(c, depth+len(n.key), nodes)
		}
	case *fullNode:
		f = &n.flag
		if f.dirty || depth < t.keep {
			for i := 0; i < 16; i++ {
				switch c := n.children[i].(type) {
				case *fullNode, *shortNode:
					n.children[i] = t.commit(c, depth+1, nodes)
				}
			}
		}
	default:
		return n
	}
	if f.dirty {
		enc := t.encode(n)
		if f.refLen == 0 {
			t.setRef(f, enc)
		}
		if f.refLen == 32 || depth == 0 {
			h := Hash(f.ref)
			if f.refLen != 32 {
				t.keccak(h[:], enc)
			}
			nodes[h] = t.store(enc)
			t.stats.Stored++
		}
		f.dirty = false
	}
	if depth >= t.keep && f.refLen == 32 {
		h := hashNode(f.ref)
		return &h
	}
	return n
}

// store copies a blob into the arena of the current Commit.
func (t *Trie) store(enc []byte) []byte {
	if cap(t.arena)-len(t.arena) < len(enc) {
		size := max(2*cap(t.arena), 16<<10)
		size = min(size, 1<<20)
		t.arena = make([]byte, 0, max(size, len(enc)))
	}
	off := len(t.arena)
	t.arena = append(t.arena, enc...)
	return t.arena[off:len(t.arena):len(t.arena)]
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
		t.hash(n)
		enc := t.encode(n)
		if len(enc) >= 32 || i == 0 {
			proof = append(proof, clone(enc))
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
// memory (embedded ones included).
func (t *Trie) Decoded() (full, short int) {
	var walk func(n node)
	walk = func(n node) {
		switch n := n.(type) {
		case *fullNode:
			full++
			for _, c := range &n.children {
				walk(c)
			}
		case *shortNode:
			short++
			walk(n.val)
		}
	}
	walk(t.root)
	return full, short
}
