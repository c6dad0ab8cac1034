// Package sigbatch checks many secp256k1 transaction signatures at once,
// each against the public key its sender is claimed to have.
//
// # Use
//
// Recovering a sender (crypto.Ecrecover) is most of a validator's CPU per
// transfer (issue 22). With the key known, a batch of n signatures can be
// checked by one multi-scalar multiplication instead of n recoveries. The
// origin validator recovers each sender once and names its key with the
// transaction; every other validator builds an Item per transaction and
// calls VerifyAll (one equation; true iff all are valid) or Verify (which
// items are valid). A batch with an invalid item is evidence against the
// origin, whose own recovery would have rejected it. The sender's address
// is Address(PubKey).
//
// # Rule
//
// An item is valid iff go-ethereum's recovery of Sig over Digest yields
// exactly PubKey under ledger's rules (ledger.RecoverSigner): V in {0, 1};
// R and S in [1, n-1]; S <= n/2 (the malleated high-S twin is rejected);
// PubKey is 0x04 || X || Y with X, Y < p. Anything else, including a key
// off the curve or an R whose x has no curve point, is an invalid item,
// never a panic or an error.
//
// With R the point of x-coordinate r and y-parity V, recovery returns
// Q' = r^-1 (s R - z G), z = Digest mod n, and fails if R does not exist
// or Q' is infinity. For a valid claimed key Q, Q = Q' iff
// R = u1 G + u2 Q with u1 = z/s, u2 = r/s: both say s R = z G + r Q, and
// a Q' at infinity would force Q to infinity, which no encoding can claim.
// The batch checks, with a coefficient a_i per item,
//
//	sum_i a_i (u1_i G + u2_i Q_i - R_i) = 0.
//
// G's scalars are summed into one, a sender's Q terms into one per key, and
// each full-length scalar is split in two 128-bit halves through the curve's
// endomorphism (glv.go), so the multiplication (msm.go) runs over about
// 3 points of 128-bit scalars per signature (fewer when senders repeat).
// All S are inverted together. The dominant costs are the multiplication
// and decompressing R (a field square root per signature).
//
// # Coefficients
//
// The a_i must be unpredictable to whoever composes the batch, or invalid
// items could be chosen to cancel. They are derived, not drawn: a_i is
// 128 bits of SHA-256 over a seed that hashes the whole chunk (count,
// and every digest, signature and key, fixed-length). This keeps the
// package deterministic (no crypto/rand, no clock) and every validator
// reaches the same verdict on the same batch. Why it is sound: let D_i =
// u1_i G + u2_i Q_i - R_i, so item i is valid iff D_i = 0. The D_i are
// fixed by the transcript before the a_i exist. If D_j != 0, then for any
// values of the other a_i at most one value of a_j in [1, 2^128) makes the
// sum zero, because D_j has prime order n > 2^128, so a_j D_j takes
// distinct values. Modelling SHA-256 as a random oracle, a given transcript
// therefore passes with probability at most 2^-127 (2^-128, doubled because
// a zero coefficient becomes 1), and changing any byte
// of it redraws every coefficient: a forger must try about 2^127 batches
// (bisection's sub-equations over subsets of one chunk reuse its
// coefficients, adding a factor of at most 2*MaxBatch = 2^13 to the odds).
// All curve points are in the prime-order group (cofactor 1), so there is
// no small-subgroup escape.
//
// # Invalid items
//
// When the equation fails, Verify bisects: the left half's sum costs one
// multiplication and the right half's is the parent's minus it. A lone
// item with a non-zero sum is invalid exactly. Sets of at most bisectLeaf
// items are checked by recovery, as is a set whose two halves both fail for
// a second level in a row (the invalid items are dense; bisecting further
// would cost more than recovering). See BenchmarkVerifyInvalid.
//
// # Bounds
//
// Inputs of any length are accepted; they are checked in chunks of at most
// MaxBatch items, each with its own equation and coefficients, which bounds
// memory to about 5 MiB per call. Chunks below minBatch items are checked
// by recovery, where the equation's fixed costs would dominate. Verify on a
// chunk with invalid items costs at most about one recovery per item plus
// a few multiplications over the chunk: a faulty origin can make a
// validator's check at most ~1.5 times as expensive as recovering every
// sender, and VerifyAll (to reject the whole batch) never more than a valid
// batch.
//
// # Measurements
//
// CPU µs per signature on the 2-vCPU reference machine, shared with other
// engineers' builds and devnets (load average 5-7 on 2 cores, which
// inflates every figure; ratios come from the same process and round).
// BenchmarkRecover (ledger.RecoverSigner, cgo libsecp256k1) against
// BenchmarkVerifyBatch with n distinct senders, medians of 5 alternated
// rounds:
//
//	n        batch   recovery/batch
//	1, 16    = recovery (below minBatch)
//	64       44      1.7
//	128      ~39     ~2.0 (3 rounds)
//	256      35      2.2
//	1,024    28      2.8
//	4,096    24      3.2      (recovery: 77 here, 47-54 on a quiet machine)
//
// With 64 senders among 4,096 signatures the batch costs ~17 µs per
// signature (keys are summed per sender). Address adds ~0.8 µs. Locating
// invalid items in 4,096 (BenchmarkVerifyInvalid): one forged signature
// ~42, two ~52, 1% to all invalid 110-120 (recovery ~80 in that run).
// Of a valid batch's cost, about a third is decompressing R (a 7 µs square
// root per signature) and half the multiplication.
//
// # Choices
//
// The multiplication was chosen by measurement (commit 34fea6c keeps the
// experiments). Multiplication alone, µs per signature at n = 256, 1,024,
// 4,096: this package 21, 15, 13; gnark-crypto's secp256k1 MultiExp (pure
// Go, generic Montgomery field, no endomorphism, spawns goroutines) 42, 31,
// 18; Pippenger on decred's Jacobian point operations 69, 54, 42.
// libsecp256k1's internal ecmult_multi as a complete batch verifier in C
// (parse, R, inversion, multiplication): 30, 25, 25 against 56-64 for its
// own recovery in the same run, on par with this package at these sizes
// and better below ~64 signatures, but it would need the C library vendored
// into the tree (its multiplication is internal), care for the static
// build, and a !cgo fallback anyway. This package's field (field.go)
// multiplies in ~30 ns against 40 (gnark) and 72 (decred); bucket sums use
// affine additions with shared inversions (msm.go).
//
// Nothing here is constant-time: signatures, keys and digests are public.
//
// The package is pure: no goroutines, I/O, clocks or randomness
// (ledger/purity_test.go). It calls go-ethereum's crypto for recovery and
// Keccak-256 and decred's secp256k1 for arithmetic modulo the group order.
package sigbatch
