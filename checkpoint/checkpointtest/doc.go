// Package checkpointtest is the seeded simulator of the ledger protocol
// (docs/simulator.md): validators that each run the node's own
// checkpoint.Shell over a simulated journal and network, with crashes
// between any two effects, partitions, drops, duplicates and reordering,
// clock skew and clients, and checkers for agreement, the consistent cut,
// conservation, the chain, bounded buffers and liveness. It is test
// infrastructure: no binary links it.
package checkpointtest
