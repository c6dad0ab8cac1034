// Package stream defines the per-origin sequenced stream that carries
// transactions and markers between validators (docs/protocol.md): the
// signed Entry, its canonical encoding, and the pure Sequencer that turns
// unordered, duplicated, lossy gossip into in-order delivery per origin and
// reports the gaps to repair. It is pure: no I/O, clocks or goroutines.
package stream
