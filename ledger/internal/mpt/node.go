// Package mpt is a Merkle Patricia trie that is bit-compatible with
// go-ethereum's trie (package trie, v1.17): for the same key/value set it has
// the same root hash, the node blobs it stores are byte-identical, it reads
// blobs written by go-ethereum (or by its StackTrie), and its proofs are the
// ones go-ethereum's Prove gives (they verify with trie.VerifyProof).
//
// Unlike go-ethereum's trie it stays usable after Commit, and it keeps the
// nodes above a keep depth decoded across commits, so the upper levels of a
// large trie are not read and decoded again every epoch. Deeper nodes are
// replaced by hash references at Commit and read again through the Reader
// when needed.
//
// A Trie is not safe for concurrent use.
package mpt

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/rlp"
)

// Hash is a Keccak-256 digest.
type Hash = common.Hash

// EmptyRoot is the root hash of the empty trie: keccak256(rlp("")).
var EmptyRoot = common.HexToHash("56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421")

// ErrBadNode is matched by the errors for node blobs that do not decode as
// trie nodes.
var ErrBadNode = errors.New("mpt: invalid trie node")

// Node kinds. A node is one of *fullNode, *shortNode, *hashNode (a reference
// to a stored node not decoded yet) and valueNode (a leaf value); nil is the
// empty subtrie.
type node any

// nodeFlag caches a node's reference as its parent encodes it: the
// Keccak-256 hash of its encoding (refLen 32), or, for an encoding shorter
// than 32 bytes, the encoding itself (embedded in the parent). refLen 0 means
// not computed since the last change. dirty marks nodes created or changed
// since the last Commit.
type nodeFlag struct {
	ref    [32]byte
	refLen uint8
	dirty  bool
}

func (f *nodeFlag) refBytes() []byte { return f.ref[:f.refLen] }

// fullNode is a branch: 16 children by nibble and a value slot (index 16)
// that tries with keys of one length never use.
type fullNode struct {
	children [17]node
	flag     nodeFlag
}

// shortNode is an extension (key without terminator, val a *fullNode or a
// *hashNode of one) or a leaf (key ending with the terminator 16, val a
// valueNode). key is in hex nibbles.
type shortNode struct {
	key  []byte
	val  node
	flag nodeFlag
}

// hashNode references a stored node by hash.
type hashNode Hash

// valueNode is a leaf value.
type valueNode []byte

// flagOf returns the flag of a full or short node, nil for other nodes.
func flagOf(n node) *nodeFlag {
	switch n := n.(type) {
	case *fullNode:
		return &n.flag
	case *shortNode:
		return &n.flag
	}
	return nil
}

// ref returns the reference of a child node as its parent encodes it: nil
// for an empty child, 32 bytes for a hash, fewer for an embedded encoding.
// The child's reference must have been computed.
func ref(n node) []byte {
	if h, ok := n.(*hashNode); ok {
		return h[:]
	}
	if f := flagOf(n); f != nil {
		return f.refBytes()
	}
	return nil
}

// RLP helpers.

func bytesSize(b []byte) int {
	switch {
	case len(b) == 1 && b[0] < 0x80:
		return 1
	case len(b) < 56:
		return 1 + len(b)
	default:
		return 1 + intSize(len(b)) + len(b)
	}
}

func intSize(x int) int {
	n := 1
	for x >>= 8; x > 0; x >>= 8 {
		n++
	}
	return n
}

func appendBytes(buf, b []byte) []byte {
	switch {
	case len(b) == 1 && b[0] < 0x80:
		return append(buf, b[0])
	case len(b) < 56:
		buf = append(buf, 0x80+byte(len(b)))
	default:
		buf = appendLength(buf, 0xb7, len(b))
	}
	return append(buf, b...)
}

func appendListHeader(buf []byte, size int) []byte {
	if size < 56 {
		return append(buf, 0xc0+byte(size))
	}
	return appendLength(buf, 0xf7, size)
}

func appendLength(buf []byte, base byte, n int) []byte {
	s := intSize(n)
	buf = append(buf, base+byte(s))
	for i := s - 1; i >= 0; i-- {
		buf = append(buf, byte(n>>(8*i)))
	}
	return buf
}

// refSize is the encoded size of a child reference (see ref).
func refSize(r []byte) int {
	switch len(r) {
	case 0:
		return 1
	case 32:
		return 33
	}
	return len(r)
}

func appendRef(buf, r []byte) []byte {
	switch len(r) {
	case 0:
		return append(buf, 0x80)
	case 32:
		buf = append(buf, 0xa0)
	}
	return append(buf, r...)
}

// appendFull appends the encoding of n; the references of its children
// must have been computed.
func appendFull(buf []byte, n *fullNode) []byte {
	size := 0
	for i := 0; i < 16; i++ {
		size += refSize(ref(n.children[i]))
	}
	v, _ := n.children[16].(valueNode)
	if len(v) == 0 {
		size++
	} else {
		size += bytesSize(v)
	}
	buf = appendListHeader(buf, size)
	for i := 0; i < 16; i++ {
		buf = appendRef(buf, ref(n.children[i]))
	}
	if len(v) == 0 {
		return append(buf, 0x80)
	}
	return appendBytes(buf, v)
}

// appendShort appends the encoding of n (its child's reference must have
// been computed); scratch holds the compact key.
func appendShort(buf []byte, n *shortNode, scratch []byte) ([]byte, []byte) {
	ck := hexToCompact(scratch[:0], n.key)
	size := bytesSize(ck)
	v, leaf := n.val.(valueNode)
	var r []byte
	if leaf {
		size += bytesSize(v)
	} else {
		r = ref(n.val)
		size += refSize(r)
	}
	buf = appendListHeader(buf, size)
	buf = appendBytes(buf, ck)
	if leaf {
		return appendBytes(buf, v), ck
	}
	return appendRef(buf, r), ck
}

// Key encodings (as go-ethereum's trie/encoding.go).

func hasTerm(hex []byte) bool { return len(hex) > 0 && hex[len(hex)-1] == 16 }

// keybytesToHex returns the nibbles of key followed by the terminator 16.
func keybytesToHex(dst, key []byte) []byte {
	for _, b := range key {
		dst = append(dst, b>>4, b&15)
	}
	return append(dst, 16)
}

// hexToCompact appends the compact (hex-prefix) encoding of hex to dst.
func hexToCompact(dst, hex []byte) []byte {
	var flag byte
	if hasTerm(hex) {
		flag = 1 << 5
		hex = hex[:len(hex)-1]
	}
	if len(hex)&1 == 1 {
		dst = append(dst, flag|1<<4|hex[0])
		hex = hex[1:]
	} else {
		dst = append(dst, flag)
	}
	for i := 0; i+1 < len(hex); i += 2 {
		dst = append(dst, hex[i]<<4|hex[i+1])
	}
	return dst
}

// compactToHex decodes a compact key. It is stricter than go-ethereum's
// (which no valid trie relies on): the flag nibble must be 0-3 and the key
// non-empty.
func compactToHex(compact []byte) ([]byte, error) {
	if len(compact) == 0 {
		return nil, fmt.Errorf("%w: empty key", ErrBadNode)
	}
	flag := compact[0] >> 4
	if flag > 3 {
		return nil, fmt.Errorf("%w: key flag %d", ErrBadNode, flag)
	}
	odd, term := flag&1 == 1, flag&2 == 2
	n := 2 * (len(compact) - 1)
	if odd {
		n++
	}
	if term {
		n++
	}
	hex := make([]byte, 0, n)
	if odd {
		hex = append(hex, compact[0]&15)
	} else if compact[0]&15 != 0 {
		return nil, fmt.Errorf("%w: key padding", ErrBadNode)
	}
	for _, b := range compact[1:] {
		hex = append(hex, b>>4, b&15)
	}
	if term {
		hex = append(hex, 16)
	}
	if len(hex) == 0 {
		return nil, fmt.Errorf("%w: empty key", ErrBadNode)
	}
	return hex, nil
}

// hexToKeybytes appends the bytes of an even-length nibble path (without
// terminator) to dst.
func hexToKeybytes(dst, hex []byte) []byte {
	for i := 0; i+1 < len(hex); i += 2 {
		dst = append(dst, hex[i]<<4|hex[i+1])
	}
	return dst
}

func prefixLen(a, b []byte) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// decodeStored decodes the blob of the stored node with the given hash.
// Like go-ethereum's decodeNode it accepts embedded children and ignores
// bytes after the node's list; it copies what it keeps (the nodes never
// alias blob).
func decodeStored(hash Hash, blob []byte) (node, error) {
	n, err := decodeNode(blob)
	if err != nil {
		return nil, err
	}
	f := flagOf(n) // decodeNode returns a full or short node
	f.ref, f.refLen = hash, 32
	return n, nil
}

// decodeNode decodes one node; the caller sets its reference.
func decodeNode(buf []byte) (node, error) {
	if len(buf) == 0 {
		return nil, fmt.Errorf("%w: empty blob", ErrBadNode)
	}
	elems, _, err := rlp.SplitList(buf)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadNode, err)
	}
	// Two elements make a short node, more a branch (decodeFull checks
	// there are 17).
	_, _, rest, err := rlp.Split(elems)
	if err == nil {
		_, _, rest, err = rlp.Split(rest)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadNode, err)
	}
	if len(rest) == 0 {
		return decodeShort(elems)
	}
	return decodeFull(elems)
}

func decodeShort(elems []byte) (node, error) {
	kbuf, rest, err := rlp.SplitString(elems)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadNode, err)
	}
	key, err := compactToHex(kbuf)
	if err != nil {
		return nil, err
	}
	if hasTerm(key) {
		val, _, err := rlp.SplitString(rest)
		if err != nil {
			return nil, fmt.Errorf("%w: leaf value: %v", ErrBadNode, err)
		}
		if len(val) == 0 {
			return nil, fmt.Errorf("%w: empty leaf value", ErrBadNode)
		}
		return &shortNode{key: key, val: valueNode(bytes.Clone(val))}, nil
	}
	r, _, err := decodeRef(rest)
	if err != nil {
		return nil, err
	}
	switch r.(type) {
	case *fullNode, *hashNode:
	default:
		return nil, fmt.Errorf("%w: extension node child %T", ErrBadNode, r)
	}
	return &shortNode{key: key, val: r}, nil
}

func decodeFull(elems []byte) (node, error) {
	n := &fullNode{}
	var hashes [16][]byte
	nh := 0
	for i := 0; i < 16; i++ {
		// Fast paths for the common empty and hash references.
		if len(elems) > 0 && elems[0] == 0x80 {
			elems = elems[1:]
			continue
		}
		if len(elems) >= 33 && elems[0] == 0xa0 {
			hashes[i] = elems[1:33]
			nh++
			elems = elems[33:]
			continue
		}
		var err error
		if n.children[i], elems, err = decodeRef(elems); err != nil {
			return nil, err
		}
	}
	if nh > 0 {
		hs := make([]hashNode, nh) // one allocation for all hash children
		j := 0
		for i, h := range hashes {
			if h != nil {
				copy(hs[j][:], h)
				n.children[i] = &hs[j]
				j++
			}
		}
	}
	val, rest, err := rlp.SplitString(elems)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadNode, err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: branch of more than 17 elements", ErrBadNode)
	}
	if len(val) > 0 {
		n.children[16] = valueNode(bytes.Clone(val))
	}
	return n, nil
}

// decodeRef decodes a child reference: an embedded node, empty, or a hash.
func decodeRef(buf []byte) (node, []byte, error) {
	kind, val, rest, err := rlp.Split(buf)
	if err != nil {
		return nil, buf, fmt.Errorf("%w: %v", ErrBadNode, err)
	}
	switch {
	case kind == rlp.List:
		// go-ethereum accepts 32 bytes here, but never writes an
		// embedded node of 32 bytes or more (it hashes them).
		size := len(buf) - len(rest)
		if size >= 32 {
			return nil, buf, fmt.Errorf("%w: embedded node of %d bytes", ErrBadNode, size)
		}
		n, err := decodeNode(buf[:size])
		if err != nil {
			return nil, buf, err
		}
		f := flagOf(n)
		f.refLen = uint8(copy(f.ref[:], buf[:size]))
		return n, rest, nil
	case kind == rlp.String && len(val) == 0:
		return nil, rest, nil
	case kind == rlp.String && len(val) == 32:
		h := new(hashNode)
		copy(h[:], val)
		return h, rest, nil
	}
	return nil, buf, fmt.Errorf("%w: child reference of %d bytes (want 0 or 32)", ErrBadNode, len(val))
}
