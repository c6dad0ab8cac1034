// Package checkpointtest is test infrastructure for package checkpoint: a
// harness that reproduces the network model of the public COS 418
// Chandy–Lamport conformance suite (shared/conformance/chandy-lamport) around
// checkpoint.Engine, parsers and a formatter for the suite's .top, .events and
// .snap files, and RunSnapshotSim, which the `ledgerd snapshot-sim` command
// calls. Unlike package checkpoint it may use math/rand v1, whose seeded
// sequence the conformance model requires; it does no I/O beyond reading the
// files it is given.
package checkpointtest
