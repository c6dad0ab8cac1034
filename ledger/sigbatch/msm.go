package sigbatch

// Multi-scalar multiplication: Pippenger's bucket method over 128-bit
// scalars (the GLV halves, glv.go) with signed digits, so a c-bit window
// needs 2^(c-1) buckets.
//
// Filling the buckets dominates the cost: every point is added into one
// bucket per window. Those additions are independent of each other, so they
// run in affine coordinates with one shared inversion per round (Montgomery's
// trick): the points of each bucket are summed pairwise, halving the bucket
// each round, at 5M + 1S per addition against 8M + 3S for a mixed Jacobian
// addition. Only the short per-window bucket reductions and the doublings
// between windows use Jacobian coordinates.

// maxGroupEntries bounds the (window, point) entries whose bucket sums are
// built together: 2^13 affine points are 512 KiB of scratch. Windows are
// processed in groups of up to maxGroupEntries/len(points) (at least one),
// which trades a few more shared inversions for bounded memory; 2^13, 2^15
// and 2^17 measured the same within noise at 1,024 and 4,096 signatures.
const maxGroupEntries = 1 << 13

// windowBits returns the window width c for an MSM over n points, the one
// minimising windows * (n*addCost + buckets*reduceCost) with costs in field
// multiplications: an affine bucket addition ~7, a bucket of the Jacobian
// reduction ~27 (one mixed and one full addition).
func windowBits(n int) uint {
	const addCost, reduceCost = 7, 27
	best, bestCost := uint(2), -1
	for c := uint(2); c <= 14; c++ {
		windows := windowCount(c)
		cost := windows * (n*addCost + (1<<(c-1))*reduceCost)
		if bestCost < 0 || cost < bestCost {
			best, bestCost = c, cost
		}
	}
	return best
}

// windowCount returns the number of c-bit signed digits of a 128-bit
// scalar: the top digit is below 2^(c-1), so the windows must span at least
// 130 bits.
func windowCount(c uint) int { return (129 + int(c)) / int(c) }

// msm returns the sum of ks[i]*pts[i]. Points must be valid curve points
// (not infinity); scalars may be zero.
func msm(pts []affine, ks []halfScalar) jacobian {
	assert(len(pts) == len(ks), "msm: points and scalars differ in length")
	return msmWithWindow(pts, ks, windowBits(len(pts)))
}

// msmWithWindow is msm with window width c.
func msmWithWindow(pts []affine, ks []halfScalar, c uint) jacobian {
	var acc jacobian
	if len(pts) == 0 {
		return acc
	}
	windows := windowCount(c)
	digits := signedDigits(ks, c, windows)
	groupWindows := max(1, maxGroupEntries/len(pts))
	b := newBuckets(groupWindows * len(pts))
	for top := windows; top > 0; top -= groupWindows {
		low := max(0, top-groupWindows)
		b.fill(pts, digits, c, low, top)
		b.sum()
		for w := top - 1; w >= low; w-- {
			if !acc.isInfinity() {
				for range c {
					acc.double(&acc)
				}
			}
			s := b.reduce(w - low)
			acc.add(&s)
		}
	}
	return acc
}

// signedDigits recodes each scalar into windows digits in [-2^(c-1), 2^(c-1)),
// window-major: digits[w*len(ks)+i] is digit w of ks[i], and
// ks[i] = sum over w of digit*2^(w*c).
func signedDigits(ks []halfScalar, c uint, windows int) []int16 {
	n := len(ks)
	digits := make([]int16, windows*n)
	half := uint64(1) << (c - 1)
	for i := range ks {
		var carry uint64
		for w := range windows {
			v := ks[i].bitsAt(uint(w)*c, c) + carry
			carry = 0
			if v >= half {
				v -= 1 << c // negative digit, borrow from the next window
				carry = 1
			}
			digits[w*n+i] = int16(v)
		}
		assert(carry == 0, "msm: signed recoding overflowed the top window")
	}
	return digits
}

// buckets holds the buckets of a group of windows while they are summed.
// Bucket key = (window - low)*perWindow + |digit| - 1; its points are
// points[start[key] : start[key]+count[key]].
type buckets struct {
	perWindow int
	start     []int32
	count     []int32
	points    []affine
	// Scratch of the affine pair additions, one entry per pair.
	den, prefix []fe
	kind        []pairKind
}

// newBuckets returns buckets with scratch for up to entries points, so
// that no group reallocates it.
func newBuckets(entries int) buckets {
	return buckets{
		points: make([]affine, 0, entries),
		den:    make([]fe, 0, entries/2),
		prefix: make([]fe, 0, entries/2),
		kind:   make([]pairKind, 0, entries/2),
	}
}

// fill sorts the signed points of windows [low, top) into their buckets.
func (b *buckets) fill(pts []affine, digits []int16, c uint, low, top int) {
	n := len(pts)
	b.perWindow = 1 << (c - 1)
	keys := (top - low) * b.perWindow
	b.start = resize(b.start, keys)
	b.count = resize(b.count, keys)
	clear(b.count)
	entries := 0
	for w := low; w < top; w++ {
		for _, d := range digits[w*n : (w+1)*n] {
			if d != 0 {
				b.count[bucketKey(w-low, d, b.perWindow)]++
				entries++
			}
		}
	}
	var next int32
	for k := range b.start {
		b.start[k] = next
		next += b.count[k]
	}
	b.points = resize(b.points, entries)
	clear(b.count)
	for w := low; w < top; w++ {
		for i, d := range digits[w*n : (w+1)*n] {
			if d == 0 {
				continue
			}
			k := bucketKey(w-low, d, b.perWindow)
			p := &b.points[b.start[k]+b.count[k]]
			b.count[k]++
			if d > 0 {
				*p = pts[i]
			} else {
				p.neg(&pts[i])
			}
		}
	}
}

func bucketKey(window int, d int16, perWindow int) int {
	if d < 0 {
		d = -d
	}
	return window*perWindow + int(d) - 1
}

// pairKind says how one pair of bucket points combines.
type pairKind uint8

const (
	pairAdd    pairKind = iota // distinct x: the chord through both points
	pairDouble                 // the same point: the tangent
	pairCancel                 // P + (-P): the point at infinity, dropped
)

// sum adds up the points of every bucket, pairwise in rounds, until each
// bucket holds at most one point.
func (b *buckets) sum() {
	for {
		pairs := b.pairDenominators()
		if pairs == 0 {
			return
		}
		batchInvert(b.den[:pairs], b.prefix[:pairs])
		b.addPairs()
	}
}

// pairDenominators records, for each pair (2j, 2j+1) of every bucket, the
// denominator of the slope of the line through them, and returns the number
// of pairs.
func (b *buckets) pairDenominators() int {
	pairs := 0
	for _, m := range b.count {
		pairs += int(m / 2)
	}
	b.den = resize(b.den, pairs)
	b.prefix = resize(b.prefix, pairs)
	b.kind = resize(b.kind, pairs)
	i := 0
	for k, m := range b.count {
		pts := b.points[b.start[k] : b.start[k]+m]
		for j := 0; j+1 < len(pts); j += 2 {
			p, q := &pts[j], &pts[j+1]
			switch {
			case !p.x.equal(&q.x):
				b.den[i].sub(&q.x, &p.x)
				b.kind[i] = pairAdd
			case p.y.equal(&q.y):
				b.den[i].add(&p.y, &p.y) // y != 0: no point of order 2
				b.kind[i] = pairDouble
			default:
				b.den[i] = fe{1}
				b.kind[i] = pairCancel
			}
			i++
		}
	}
	return pairs
}

// addPairs replaces each bucket's pairs by their sums, given the inverted
// denominators. Sums are written in place from the bucket's start: sum j
// goes to index <= j, below every input not yet read.
func (b *buckets) addPairs() {
	i := 0
	for k, m := range b.count {
		pts := b.points[b.start[k] : b.start[k]+m]
		out := 0
		for j := 0; j+1 < len(pts); j += 2 {
			if b.kind[i] != pairCancel {
				pts[out] = affineSum(&pts[j], &pts[j+1], &b.den[i], b.kind[i])
				out++
			}
			i++
		}
		if len(pts)%2 == 1 {
			pts[out] = pts[len(pts)-1]
			out++
		}
		b.count[k] = int32(out)
	}
}

// affineSum returns p + q given the inverse of the slope's denominator.
func affineSum(p, q *affine, invDen *fe, kind pairKind) affine {
	var lambda, t fe
	if kind == pairDouble {
		t.sqr(&p.x)
		lambda.add(&t, &t)
		lambda.add(&lambda, &t) // 3x^2 / 2y
	} else {
		lambda.sub(&q.y, &p.y) // (y2 - y1) / (x2 - x1)
	}
	lambda.mul(&lambda, invDen)
	var r affine
	r.x.sqr(&lambda)
	r.x.sub(&r.x, &p.x)
	r.x.sub(&r.x, &q.x)
	t.sub(&p.x, &r.x)
	r.y.mul(&lambda, &t)
	r.y.sub(&r.y, &p.y)
	return r
}

// reduce returns the sum over the buckets of window w (relative to the
// group) of |digit| times the bucket's point, as running sums from the top
// bucket down: after bucket j, running = B_top + ... + B_j and total has
// added each running sum once, so B_j is counted j+1 times.
func (b *buckets) reduce(w int) jacobian {
	keys := b.count[w*b.perWindow : (w+1)*b.perWindow]
	starts := b.start[w*b.perWindow : (w+1)*b.perWindow]
	var running, total jacobian
	for j := len(keys) - 1; j >= 0; j-- {
		if keys[j] == 1 {
			running.addAffine(&b.points[starts[j]])
		}
		total.add(&running)
	}
	return total
}

// batchInvert replaces each element of vals (all non-zero) by its inverse
// with one field inversion and 3 multiplications per element; prefix is
// scratch of the same length.
func batchInvert(vals, prefix []fe) {
	if len(vals) == 0 {
		return
	}
	prefix[0] = vals[0]
	for i := 1; i < len(vals); i++ {
		prefix[i].mul(&prefix[i-1], &vals[i])
	}
	var inv fe
	inv.inv(&prefix[len(vals)-1])
	for i := len(vals) - 1; i > 0; i-- {
		var t fe
		t.mul(&inv, &prefix[i-1])
		inv.mul(&inv, &vals[i])
		vals[i] = t
	}
	vals[0] = inv
}

// resize returns s with length n, reusing its array when large enough.
func resize[T any](s []T, n int) []T {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]T, n)
}
