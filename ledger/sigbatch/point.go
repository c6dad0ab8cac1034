package sigbatch

// affine is a curve point (x, y) with y^2 = x^3 + 7. It never represents
// the point at infinity: inputs are decoded points, and the MSM drops sums
// that cancel instead of storing them.
type affine struct{ x, y fe }

// jacobian is the point (x/z^2, y/z^3); z = 0 is the point at infinity.
// Accumulators use it because an addition then needs no inversion.
type jacobian struct{ x, y, z fe }

// feSeven is the curve constant b of y^2 = x^3 + b.
var feSeven = fe{7}

// generator is G, the base point of secp256k1.
var generator = affine{
	x: feFromHex(0x79be667ef9dcbbac, 0x55a06295ce870b07, 0x029bfcdb2dce28d9, 0x59f2815b16f81798),
	y: feFromHex(0x483ada7726a3c465, 0x5da4fbfc0e1108a8, 0xfd17b448a6855419, 0x9c47d08ffb10d4b8),
}

// curveRHS returns x^3 + 7.
func curveRHS(x *fe) fe {
	var t fe
	t.sqr(x)
	t.mul(&t, x)
	t.add(&t, &feSeven)
	return t
}

// onCurve reports whether (x, y) satisfies y^2 = x^3 + 7. secp256k1 has
// cofactor 1, so every such point is in the prime-order group and no
// subgroup check is needed.
func (p *affine) onCurve() bool {
	rhs := curveRHS(&p.x)
	var y2 fe
	y2.sqr(&p.y)
	return y2.equal(&rhs)
}

// decompress sets p to the point with x-coordinate x whose y has the given
// parity, and reports whether x^3 + 7 is a square (whether such a point
// exists).
func (p *affine) decompress(x *fe, odd bool) bool {
	rhs := curveRHS(x)
	if !p.y.sqrt(&rhs) {
		return false
	}
	p.x = *x
	if p.y.isOdd() != odd {
		p.y.neg(&p.y)
	}
	return true
}

func (p *affine) neg(q *affine) {
	p.x = q.x
	p.y.neg(&q.y)
}

// endo sets p = lambda*q = (beta*x, y), the GLV endomorphism (glv.go).
func (p *affine) endo(q *affine) {
	p.x.mul(&q.x, &feBeta)
	p.y = q.y
}

func (p *jacobian) setInfinity()     { *p = jacobian{} }
func (p *jacobian) isInfinity() bool { return p.z.isZero() }

func (p *jacobian) setAffine(q *affine) {
	p.x, p.y = q.x, q.y
	p.z = fe{1}
}

func (p *jacobian) neg(q *jacobian) {
	p.x, p.z = q.x, q.z
	p.y.neg(&q.y)
}

// double sets p = 2q (3M + 4S; a = 0). The curve has no point of order 2,
// so y = 0 only at infinity, which maps to infinity through z3 = 2*y*z.
func (p *jacobian) double(q *jacobian) {
	var a, b, c, d, e, f fe
	a.sqr(&q.x) // X^2
	b.sqr(&q.y) // Y^2
	c.sqr(&b)   // Y^4
	d.mul(&q.x, &b)
	d.add(&d, &d)
	d.add(&d, &d) // S = 4*X*Y^2
	e.add(&a, &a)
	e.add(&e, &a) // M = 3*X^2
	f.sqr(&e)
	var x3, y3, z3 fe
	x3.sub(&f, &d)
	x3.sub(&x3, &d) // M^2 - 2S
	y3.sub(&d, &x3)
	y3.mul(&y3, &e)
	c.add(&c, &c)
	c.add(&c, &c)
	c.add(&c, &c) // 8*Y^4
	y3.sub(&y3, &c)
	z3.mul(&q.y, &q.z)
	z3.add(&z3, &z3)
	p.x, p.y, p.z = x3, y3, z3
}

// addAffine sets p = p + q for an affine q (8M + 3S).
func (p *jacobian) addAffine(q *affine) {
	if p.isInfinity() {
		p.setAffine(q)
		return
	}
	var z2, u2, s2, h, r fe
	z2.sqr(&p.z)
	u2.mul(&q.x, &z2)
	s2.mul(&q.y, &z2)
	s2.mul(&s2, &p.z)
	h.sub(&u2, &p.x)
	r.sub(&s2, &p.y)
	if h.isZero() {
		if r.isZero() {
			p.double(p)
		} else {
			p.setInfinity()
		}
		return
	}
	p.finishAdd(&p.x, &p.y, &h, &r, &p.z)
}

// add sets p = p + q (12M + 4S).
func (p *jacobian) add(q *jacobian) {
	if q.isInfinity() {
		return
	}
	if p.isInfinity() {
		*p = *q
		return
	}
	var z1z1, z2z2, u1, u2, s1, s2, h, r, z fe
	z1z1.sqr(&p.z)
	z2z2.sqr(&q.z)
	u1.mul(&p.x, &z2z2)
	u2.mul(&q.x, &z1z1)
	s1.mul(&p.y, &z2z2)
	s1.mul(&s1, &q.z)
	s2.mul(&q.y, &z1z1)
	s2.mul(&s2, &p.z)
	h.sub(&u2, &u1)
	r.sub(&s2, &s1)
	if h.isZero() {
		if r.isZero() {
			p.double(p)
		} else {
			p.setInfinity()
		}
		return
	}
	z.mul(&p.z, &q.z)
	p.finishAdd(&u1, &s1, &h, &r, &z)
}

// finishAdd completes an addition from U1, S1, H = U2 - U1, R = S2 - S1 and
// Z1*Z2: X3 = R^2 - H^3 - 2*U1*H^2, Y3 = R*(U1*H^2 - X3) - S1*H^3,
// Z3 = Z1*Z2*H.
func (p *jacobian) finishAdd(u1, s1, h, r, z1z2 *fe) {
	var hh, hhh, v, x3, y3, z3, t fe
	hh.sqr(h)
	hhh.mul(&hh, h)
	v.mul(u1, &hh)
	x3.sqr(r)
	x3.sub(&x3, &hhh)
	x3.sub(&x3, &v)
	x3.sub(&x3, &v)
	y3.sub(&v, &x3)
	y3.mul(&y3, r)
	t.mul(s1, &hhh)
	y3.sub(&y3, &t)
	z3.mul(z1z2, h)
	p.x, p.y, p.z = x3, y3, z3
}
