// Package p2p is ledgerd's network layer: the libp2p host (identity from the
// validator's secp256k1 key, allow-list gater), gossipsub topics for stream
// entries and votes, in-order per-origin delivery with gap repair over the
// /ledgerd/sync/1 protocol. It validates input at the boundary and never runs
// protocol logic.
package p2p
