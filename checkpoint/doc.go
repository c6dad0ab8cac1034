// Package checkpoint runs the Chandy–Lamport marker protocol that records a
// global snapshot at each epoch boundary and seals each epoch in a signed,
// hash-chained checkpoint. It is deterministic: no goroutines, clocks,
// randomness or I/O. Package node drives it with logical ticks and ordered
// deliveries and carries out the effects it returns.
package checkpoint
