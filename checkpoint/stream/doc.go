// Package stream defines the per-origin sequenced stream that carries
// transactions and markers between validators (DESIGN.md section 4): the
// signed Entry, its canonical encoding, and the pure Sequencer that turns
// unordered, duplicated, lossy gossip into in-order delivery per origin and
// reports the gaps to repair. It is pure: no I/O, clocks or goroutines.
package stream
