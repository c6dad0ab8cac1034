package node

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ledgerd/ledgerd/checkpoint"
	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/p2p"
)

// p2pPeer is the peer type of sync-protocol handlers.
type p2pPeer = peer.ID

// netCloser is a Network the node started and must close.
type netCloser interface {
	Network
	Close() error
}

// libp2pNet adapts p2p.Network to the node's Network interface.
type libp2pNet struct {
	*p2p.Network
	votes chan []byte
	g     *ledger.Genesis
}

func (l *libp2pNet) Votes() <-chan []byte { return l.votes }

// Peers is the number of connected validators.
func (l *libp2pNet) Peers() int { return len(l.ConnectedValidators()) }

// ConnectedValidators lists the indexes of connected validators.
func (l *libp2pNet) ConnectedValidators() []uint32 {
	var out []uint32
	for _, id := range l.Network.Peers() {
		addr, err := p2p.AddressFromPeerID(id)
		if err != nil {
			continue
		}
		if k, ok := l.g.ValidatorIndex(addr); ok {
			out = append(out, k)
		}
	}
	return out
}

// p2pConfig is the libp2p configuration of this node, without stream
// start positions (startP2P sets them from the machine).
func (n *Node) p2pConfig() (p2p.Config, error) {
	cfg := p2p.DefaultConfig()
	cfg.ChainID = n.g.ChainID
	cfg.Key = n.key
	cfg.Self = int(n.self)
	for _, v := range n.g.Validators {
		cfg.Validators = append(cfg.Validators, p2p.ValidatorInfo{Address: v.Address, Addr: v.P2PAddr})
	}
	cfg.ListenAddrs = n.cfg.P2P.Listen
	cfg.StaticPeers = n.cfg.P2P.Peers
	cfg.Observers = n.cfg.P2P.Observers
	if n.cfg.P2P.PSKFile != "" {
		psk, err := readPSK(n.cfg.Path(n.cfg.P2P.PSKFile))
		if err != nil {
			return cfg, err
		}
		cfg.PSK = psk
	}
	cfg.VoteValidator = func(b []byte) error {
		_, err := checkpoint.DecodeVote(b)
		return err
	}
	cfg.Logger = n.log.With("component", "p2p")
	return cfg, nil
}

// startP2P starts the libp2p network from the config; the sequencer resumes
// each origin's stream where the restored machine left it.
func (n *Node) startP2P(ctx context.Context) (netCloser, error) {
	cfg, err := n.p2pConfig()
	if err != nil {
		return nil, err
	}
	if cfg.Start, err = n.sh.StreamPositions(); err != nil {
		return nil, err
	}
	net, err := p2p.New(ctx, cfg, n.st)
	if err != nil {
		return nil, fmt.Errorf("start p2p: %w", err)
	}
	if err := n.registerServing(net); err != nil {
		net.Close()
		return nil, err
	}
	if err := n.registerStateServing(net); err != nil { // state sync (statesync.go)
		net.Close()
		return nil, err
	}
	l := &libp2pNet{Network: net, votes: make(chan []byte, 1024), g: n.g}
	n.mets.register(newP2PCollector(net.Stats, n.mets.labels))
	go func() {
		for {
			select {
			case v, ok := <-net.Votes():
				if !ok {
					return
				}
				select {
				case l.votes <- v.Data:
				case <-ctx.Done():
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	n.log.Info("p2p started", "peer_id", net.ID().String(), "addrs", strings.Join(net.Addrs(), ","))
	return l, nil
}

// readPSK reads a 32-byte private-network key stored as 64 hex characters.
func readPSK(path string) ([]byte, error) {
	data, err := readFileLimited(path, 1024)
	if err != nil {
		return nil, fmt.Errorf("psk file: %w", err)
	}
	psk, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(psk) != 32 {
		return nil, fmt.Errorf("psk file %s: want 64 hex characters (32 bytes)", path)
	}
	return psk, nil
}

// peerIDString is the libp2p peer ID of a validator, or "" if its public
// key is unusable.
func peerIDString(v ledger.Validator) string {
	pub, err := crypto.DecompressPubkey(v.PublicKey)
	if err != nil {
		return ""
	}
	id, err := p2p.PeerIDFromPublicKey(pub)
	if err != nil {
		return ""
	}
	return id.String()
}
