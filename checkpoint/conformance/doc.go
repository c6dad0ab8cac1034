// Package conformance runs checkpoint.Engine on the network model of the
// public COS 418 Chandy–Lamport test suite: a global clock, per-link FIFO
// queues with seeded delays, one delivery per source per tick. It parses the
// suite's .top, .events and .snap formats, writes snapshots in the .snap
// format (RunSnapshotSim, behind `ledgerd snapshot-sim`) and compares them.
// Its tests reproduce every expected snapshot of the suite exactly. Unlike
// package checkpoint it uses math/rand v1, whose seeded sequence the model
// requires; it reads only the files it is given.
package conformance
