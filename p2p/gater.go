package p2p

import (
	"github.com/ethereum/go-ethereum/common"
	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// allowGater admits only genesis validators (by the address their peer ID
// embeds) and configured observers. It is immutable after construction.
type allowGater struct {
	validators map[common.Address]int
	observers  map[peer.ID]bool
	refused    func() // counts refusals
}

var _ connmgr.ConnectionGater = (*allowGater)(nil)

func (g *allowGater) allowed(id peer.ID) bool {
	if g.observers[id] {
		return true
	}
	a, err := AddressFromPeerID(id)
	if err != nil {
		return false
	}
	_, ok := g.validators[a]
	return ok
}

func (g *allowGater) check(id peer.ID) bool {
	ok := g.allowed(id)
	if !ok && g.refused != nil {
		g.refused()
	}
	return ok
}

func (g *allowGater) InterceptPeerDial(p peer.ID) bool                 { return g.check(p) }
func (g *allowGater) InterceptAddrDial(p peer.ID, _ ma.Multiaddr) bool { return g.check(p) }
func (g *allowGater) InterceptAccept(network.ConnMultiaddrs) bool      { return true }
func (g *allowGater) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return g.check(p)
}
func (g *allowGater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) {
	return true, 0
}
