package sigbatch

import (
	"crypto/sha256"
	"encoding/binary"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// batch is one chunk of items after the per-signature work, ready for
// batch equations over any subset of it.
type batch struct {
	items []Item
	// valid[i] is false once items[i] is known to be invalid: malformed at
	// prepare, or located by locate.
	valid []bool
	// prep holds the well-formed items; item[j] is the index in items of
	// prep[j].
	prep []prepared
	item []int32

	// Scratch of combination: the summed scalar per distinct key, and the
	// MSM input.
	keySum  []secp256k1.ModNScalar
	keySeen []bool
	keys    []int32
	pts     []affine
	ks      []halfScalar
}

// prepared is a well-formed item with the terms it adds to the batch
// equation a*(u1*G + u2*Q - R), u1 = z/s, u2 = r/s.
type prepared struct {
	q, qEndo affine // claimed key Q and lambda*Q (qEndo set on a key's first item only)
	negR     affine // -R, R decompressed from r and V's parity
	a        halfScalar
	k        secp256k1.ModNScalar // a*u2, Q's scalar
	g        secp256k1.ModNScalar // a*u1, this item's share of G's scalar
	// keyID is the index in prep of the first item with the same key: the
	// scalars of one key are summed, so a sender with many transactions in a
	// batch costs one key term.
	keyID int32
}

// transcriptDomain separates the coefficient hash from every other hash.
const transcriptDomain = "ledgerd/sigbatch/v1\x00"

var generatorEndo = func() affine {
	var e affine
	e.endo(&generator)
	return e
}()

// prepare parses every item, decompresses R, inverts all S together and
// computes each item's scalars.
func prepare(items []Item) *batch {
	n := len(items)
	b := &batch{
		items:   items,
		valid:   make([]bool, n),
		prep:    make([]prepared, 0, n),
		item:    make([]int32, 0, n),
		keySum:  make([]secp256k1.ModNScalar, n),
		keySeen: make([]bool, n),
		// At most R and two key halves per item, and G's two halves.
		pts: make([]affine, 0, 3*n+2),
		ks:  make([]halfScalar, 0, 3*n+2),
	}
	coef := coefficients(items)
	rs := make([]secp256k1.ModNScalar, 0, n)
	ss := make([]secp256k1.ModNScalar, 0, n)
	keyIDs := make(map[[PubKeyLen - 1]byte]int32, n)
	for i := range items {
		var p prepared
		var r, s secp256k1.ModNScalar
		if !parse(&items[i], &p, &r, &s) {
			continue
		}
		b.valid[i] = true
		j := int32(len(b.prep))
		key := [PubKeyLen - 1]byte(items[i].PubKey[1:])
		id, seen := keyIDs[key]
		if !seen {
			id = j
			keyIDs[key] = id
			p.qEndo.endo(&p.q)
		}
		p.keyID = id
		p.a = coef[i]
		b.prep = append(b.prep, p)
		b.item = append(b.item, int32(i))
		rs = append(rs, r)
		ss = append(ss, s)
	}
	invertScalars(ss)
	for j := range b.prep {
		p := &b.prep[j]
		var z, t secp256k1.ModNScalar
		z.SetBytes(&items[b.item[j]].Digest) // reduced mod n, as recovery does
		t.Mul2(p.a.scalar(), &ss[j])         // a/s
		p.k.Mul2(&t, &rs[j])
		p.g.Mul2(&t, &z)
	}
	return b
}

// parse decodes an item's signature, key and R into p, r and s, and reports
// whether all are well-formed: the signature passes checkSignatureValues,
// the key is 0x04 || X || Y with X, Y < p on the curve, and r is the
// x-coordinate of a curve point. V < 2 means R's x is r itself (recovery
// ids 2 and 3 would mean r + n).
func parse(it *Item, p *prepared, r, s *secp256k1.ModNScalar) bool {
	if !checkSignatureValues(it, r, s) {
		return false
	}
	if it.PubKey[0] != 4 || !p.q.x.setBytes(it.PubKey[1:33]) || !p.q.y.setBytes(it.PubKey[33:65]) || !p.q.onCurve() {
		return false
	}
	var rx fe
	rx.setBytes(it.Sig[:32]) // r < n < p
	var pointR affine
	if !pointR.decompress(&rx, it.Sig[64] == 1) {
		return false
	}
	p.negR.neg(&pointR)
	return true
}

// coefficients derives each item's 128-bit coefficient from a hash of the
// whole chunk (see doc.go for why this is sound): a_i is half of
// SHA-256(seed || i/2), seed = SHA-256(domain || count || items). A zero
// coefficient (probability 2^-128) becomes 1, since a zero would drop its
// item from the equation.
func coefficients(items []Item) []halfScalar {
	h := sha256.New()
	h.Write([]byte(transcriptDomain))
	var count [8]byte
	binary.BigEndian.PutUint64(count[:], uint64(len(items)))
	h.Write(count[:])
	for i := range items {
		h.Write(items[i].Digest[:])
		h.Write(items[i].Sig[:])
		h.Write(items[i].PubKey[:])
	}
	var block [sha256.Size + 8]byte
	h.Sum(block[:0])
	coef := make([]halfScalar, len(items))
	for i := 0; i < len(items); i += 2 {
		binary.BigEndian.PutUint64(block[sha256.Size:], uint64(i/2))
		out := sha256.Sum256(block[:])
		coef[i] = halfScalar{binary.BigEndian.Uint64(out[8:16]), binary.BigEndian.Uint64(out[0:8])}
		if i+1 < len(items) {
			coef[i+1] = halfScalar{binary.BigEndian.Uint64(out[24:32]), binary.BigEndian.Uint64(out[16:24])}
		}
	}
	for i := range coef {
		if coef[i].isZero() {
			coef[i] = halfScalar{1, 0}
		}
	}
	return coef
}

// scalar returns k as a scalar mod n (k < 2^128 < n).
func (k *halfScalar) scalar() *secp256k1.ModNScalar {
	var b [32]byte
	binary.BigEndian.PutUint64(b[16:], k[1])
	binary.BigEndian.PutUint64(b[24:], k[0])
	var s secp256k1.ModNScalar
	s.SetBytes(&b)
	return &s
}

// invertScalars replaces each (non-zero) scalar by its inverse mod n with
// one inversion (Montgomery's trick).
func invertScalars(s []secp256k1.ModNScalar) {
	if len(s) == 0 {
		return
	}
	prefix := make([]secp256k1.ModNScalar, len(s))
	prefix[0] = s[0]
	for i := 1; i < len(s); i++ {
		prefix[i].Mul2(&prefix[i-1], &s[i])
	}
	var inv secp256k1.ModNScalar
	inv.InverseValNonConst(&prefix[len(s)-1])
	for i := len(s) - 1; i > 0; i-- {
		var t secp256k1.ModNScalar
		t.Mul2(&inv, &prefix[i-1])
		inv.Mul(&s[i])
		s[i] = t
	}
	s[0] = inv
}

// all returns the indices of every prepared item.
func (b *batch) all() []int32 {
	set := make([]int32, len(b.prep))
	for j := range set {
		set[j] = int32(j)
	}
	return set
}

// combination returns the batch equation's left side over the prepared
// items in set: the sum over i in set of a_i*(u1_i*G + u2_i*Q_i - R_i). It
// is the point at infinity iff every item in set is valid, except with
// probability 2^-128 (doc.go).
func (b *batch) combination(set []int32) jacobian {
	b.pts, b.ks, b.keys = b.pts[:0], b.ks[:0], b.keys[:0]
	var g secp256k1.ModNScalar
	for _, j := range set {
		p := &b.prep[j]
		g.Add(&p.g)
		if b.keySeen[p.keyID] {
			b.keySum[p.keyID].Add(&p.k)
		} else {
			b.keySeen[p.keyID] = true
			b.keySum[p.keyID] = p.k
			b.keys = append(b.keys, p.keyID)
		}
		b.addTerm(&p.negR, p.a, false)
	}
	for _, id := range b.keys {
		b.keySeen[id] = false
		b.addSplit(&b.prep[id].q, &b.prep[id].qEndo, &b.keySum[id])
	}
	b.addSplit(&generator, &generatorEndo, &g)
	return msm(b.pts, b.ks)
}

// addSplit adds the term k*P as k1*P + k2*(lambda*P) (glv.go).
func (b *batch) addSplit(p, pEndo *affine, k *secp256k1.ModNScalar) {
	k1, neg1, k2, neg2 := splitScalar(k)
	b.addTerm(p, k1, neg1)
	b.addTerm(pEndo, k2, neg2)
}

// addTerm adds the MSM term k*P, or k*(-P) if neg.
func (b *batch) addTerm(p *affine, k halfScalar, neg bool) {
	if k.isZero() {
		return
	}
	q := *p
	if neg {
		q.neg(p)
	}
	b.pts = append(b.pts, q)
	b.ks = append(b.ks, k)
}

// locate marks the invalid items of set, whose combination is sum. A zero
// sum clears the whole set. Otherwise the set is halved: the left half's
// combination costs one MSM and the right half's is sum minus it. A single
// item with a non-zero sum is invalid exactly (its coefficient is non-zero
// and the group has prime order). Small sets are checked item by item by
// recovery, and so is a set whose halves both fail for the second level in
// a row (dense is true if its parent's did): invalid items are then dense
// enough that bisection would end up recovering nearly all of them anyway,
// after paying for MSMs at every level.
func (b *batch) locate(set []int32, sum *jacobian, dense bool) {
	switch {
	case sum.isInfinity():
		return
	case len(set) == 1:
		b.valid[b.item[set[0]]] = false
		return
	case len(set) <= bisectLeaf:
		b.recoverSet(set)
		return
	}
	left, right := set[:len(set)/2], set[len(set)/2:]
	sumLeft := b.combination(left)
	var sumRight jacobian
	sumRight.neg(&sumLeft)
	sumRight.add(sum)
	both := !sumLeft.isInfinity() && !sumRight.isInfinity()
	if both && dense {
		b.recoverSet(set)
		return
	}
	b.locate(left, &sumLeft, both)
	b.locate(right, &sumRight, both)
}

// recoverSet checks every item of set by recovery.
func (b *batch) recoverSet(set []int32) {
	for _, j := range set {
		i := b.item[j]
		b.valid[i] = recoversTo(&b.items[i])
	}
}
