package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
)

// NodeDB reads state trie nodes by their Keccak-256 hash. node/store
// implements it over Badger; MemNodeDB is an in-memory one. Node must return
// an error (any error; ErrNodeNotFound is a good choice) when the node is
// absent, and must not modify the returned slice later. Node must be safe
// for concurrent calls: a large State.Apply reads the trie paths it needs
// from several goroutines, and copies of a State (State.Copy) used on other
// goroutines call it concurrently.
type NodeDB interface {
	Node(hash Hash) ([]byte, error)
}

// Errors of the node layer.
var (
	ErrNodeNotFound = errors.New("ledger: trie node not found")
	ErrCorruptNode  = errors.New("ledger: trie node does not match its hash")
)

// MemNodeDB is an in-memory NodeDB for tests and tools. Blobs are copied
// into append-only 1 MiB chunks indexed by a pointer-free map, so millions
// of nodes cost the garbage collector almost nothing to scan. It is not safe
// for concurrent Put with Node.
type MemNodeDB struct {
	index  map[Hash]memSlot
	chunks [][]byte
	bytes  int
}

// memSlot locates a blob: chunks[chunk][off : off+size].
type memSlot struct{ chunk, off, size uint32 }

const memChunkBytes = 1 << 20

// NewMemNodeDB returns an empty MemNodeDB.
func NewMemNodeDB() *MemNodeDB {
	return &MemNodeDB{index: make(map[Hash]memSlot)}
}

// Node implements NodeDB.
func (m *MemNodeDB) Node(hash Hash) ([]byte, error) {
	if sl, ok := m.index[hash]; ok {
		return m.chunks[sl.chunk][sl.off : sl.off+sl.size : sl.off+sl.size], nil
	}
	return nil, fmt.Errorf("%w: %s", ErrNodeNotFound, hash)
}

// Put stores a copy of blob under hash (the caller vouches that hash =
// keccak(blob)); a hash already present is left as is.
func (m *MemNodeDB) Put(hash Hash, blob []byte) {
	if _, ok := m.index[hash]; ok {
		return
	}
	if len(blob) > memChunkBytes {
		m.chunks = append(m.chunks, bytes.Clone(blob))
		m.index[hash] = memSlot{chunk: uint32(len(m.chunks) - 1), size: uint32(len(blob))}
	} else {
		last := len(m.chunks) - 1
		if last < 0 || len(m.chunks[last])+len(blob) > cap(m.chunks[last]) {
			m.chunks = append(m.chunks, make([]byte, 0, memChunkBytes))
			last++
		}
		off := len(m.chunks[last])
		m.chunks[last] = append(m.chunks[last], blob...)
		m.index[hash] = memSlot{chunk: uint32(last), off: uint32(off), size: uint32(len(blob))}
	}
	m.bytes += len(blob)
}

// PutAll stores every node of a Commit result.
func (m *MemNodeDB) PutAll(nodes map[Hash][]byte) {
	for h, b := range nodes {
		m.Put(h, b)
	}
}

// Len returns the number of stored nodes.
func (m *MemNodeDB) Len() int { return len(m.index) }

// Bytes returns the total size of the stored node blobs.
func (m *MemNodeDB) Bytes() int { return m.bytes }

// DefaultNodeCacheBytes bounds each State's cache of trie nodes read from
// its NodeDB (the nodes of the latest Commit are kept in addition, see
// nodeReader).
const DefaultNodeCacheBytes = 32 << 20

// nodeCache is a two-generation cache bounded by limitBytes: hits in the old
// generation are promoted; when the new generation holds limitBytes/2 it
// becomes the old one and the previous old one is dropped. It approximates
// LRU with two maps and no per-entry bookkeeping.
type nodeCache struct {
	limitBytes           int
	cur, old             map[Hash][]byte
	curBytes             int
	hits, misses, evicts uint64
}

func newNodeCache(limitBytes int) *nodeCache {
	return &nodeCache{limitBytes: limitBytes, cur: make(map[Hash][]byte), old: make(map[Hash][]byte)}
}

func (c *nodeCache) get(h Hash) ([]byte, bool) {
	if b, ok := c.cur[h]; ok {
		c.hits++
		return b, true
	}
	if b, ok := c.old[h]; ok {
		c.hits++
		c.put(h, b)
		return b, true
	}
	c.misses++
	return nil, false
}

func (c *nodeCache) put(h Hash, b []byte) {
	if c.limitBytes <= 0 {
		return
	}
	if _, ok := c.cur[h]; ok {
		return
	}
	if c.curBytes+len(b) > c.limitBytes/2 {
		c.evicts += uint64(len(c.old))
		c.old, c.cur, c.curBytes = c.cur, make(map[Hash][]byte, len(c.cur)), 0
	}
	c.cur[h] = b
	c.curBytes += len(b)
}

// nodeReader is the State's trie node source (mpt.Reader). Lookups go to the nodes of the latest Commit (pinned: they may not be in
// the NodeDB yet), then to the bounded cache, then to the NodeDB, whose
// answers are checked against the hash if verify is set.
type nodeReader struct {
	db     NodeDB
	pinned map[Hash][]byte // immutable once set; shared by copies
	cache  *nodeCache
	verify bool
	mu     sync.Mutex // guards cache for the trie's parallel prefetch
}

// node returns the blob of the node with the given hash, and caches it. It
// is safe for concurrent use, as NodeDB.Node must be.
func (r *nodeReader) node(hash Hash) ([]byte, error) { return r.read(hash, true) }

// nodeNoFill is node without caching what it reads from the NodeDB: Apply's
// prefetch reads the paths of accounts it is about to change, whose nodes
// get new hashes, so caching their old blobs only costs (measured: 0 % cache
// hits and ~25 % of Apply+Commit CPU at 1M accounts).
func (r *nodeReader) nodeNoFill(hash Hash) ([]byte, error) { return r.read(hash, false) }

func (r *nodeReader) read(hash Hash, fill bool) ([]byte, error) {
	if b, ok := r.pinned[hash]; ok {
		return b, nil
	}
	r.mu.Lock()
	b, ok := r.cache.get(hash)
	r.mu.Unlock()
	if ok {
		return b, nil
	}
	b, err := r.db.Node(hash)
	if err != nil {
		return nil, fmt.Errorf("read trie node %s: %w", hash, err)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("read trie node %s: %w", hash, ErrNodeNotFound)
	}
	if r.verify && keccak(b) != hash {
		return nil, fmt.Errorf("read trie node %s: %w", hash, ErrCorruptNode)
	}
	if fill {
		r.mu.Lock()
		r.cache.put(hash, b)
		r.mu.Unlock()
	}
	return b, nil
}
