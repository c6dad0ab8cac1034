// Package statesync is how a validator gets certified state from others
// and gives it to them: the state file (export and import), the sync
// protocol handlers that serve checkpoints, certificates, votes and account
// chunks, the start-up state sync (probe the other validators, fetch and
// verify a certified state, recover the own stream tail), and catch-up of
// votes and certificates for executed epochs that do not become final.
// It reaches other validators only through Network, so it runs over libp2p
// in a node and over an in-process hub in tests. docs/statesync.md
// describes the protocol.
package statesync
