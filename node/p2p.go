package node

import (
	"context"
	"fmt"

	"github.com/ledgerd/ledgerd/ledger"
)

// netCloser is a Network the node started and must close.
type netCloser interface {
	Network
	Close() error
}

// startP2P starts the libp2p network from the config.
func (n *Node) startP2P(ctx context.Context) (netCloser, error) {
	return nil, fmt.Errorf("p2p: not wired yet")
}

// peerIDString is the libp2p peer ID of a validator, or "" if its key is unusable.
func peerIDString(v ledger.Validator) string {
	return ""
}
