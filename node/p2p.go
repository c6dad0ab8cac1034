package node

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/node/statesync"
	"github.com/ledgerd/ledgerd/p2p"
)

// libp2pNet is the node's Network over p2p: validators are addressed by
// index, mapped to their peer IDs from the genesis keys.
type libp2pNet struct {
	*p2p.Network
	g *ledger.Genesis
	// ids[k] is validator k's peer ID ("" if its key is unusable).
	ids []peer.ID
}

var _ Network = (*libp2pNet)(nil)

// Validators lists the indexes of the connected validators.
func (l *libp2pNet) Validators() []uint32 {
	var out []uint32
	for _, id := range l.Network.Peers() {
		if k, ok := l.index(id); ok {
			out = append(out, uint32(k))
		}
	}
	return out
}

func (l *libp2pNet) index(id peer.ID) (int, bool) {
	addr, err := p2p.AddressFromPeerID(id)
	if err != nil {
		return -1, false
	}
	k, ok := l.g.ValidatorIndex(addr)
	return int(k), ok
}

// Request sends one sync-protocol request to validator `to`.
func (l *libp2pNet) Request(ctx context.Context, to uint32, kind byte, payload []byte) ([]byte, error) {
	if int(to) >= len(l.ids) || l.ids[to] == "" {
		return nil, fmt.Errorf("no peer ID for validator %d", to)
	}
	return l.Network.Request(ctx, l.ids[to], kind, payload)
}

// Handle serves kind with h; the requester is named by validator index.
func (l *libp2pNet) Handle(kind byte, h statesync.Handler) error {
	return l.RegisterHandler(kind, func(ctx context.Context, from peer.ID, payload []byte) ([]byte, error) {
		k, _ := l.index(from)
		return h(ctx, k, payload)
	})
}

// startP2P starts the libp2p network from the config. Stream delivery
// begins when the node calls Start, once it knows where its store ends.
func (n *Node) startP2P(ctx context.Context) (*libp2pNet, error) {
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
			return nil, err
		}
		cfg.PSK = psk
	}
	cfg.VoteValidator = consensusValidator(n.g)
	cfg.Logger = n.log.With("component", "p2p")
	net, err := p2p.New(ctx, cfg, n.st)
	if err != nil {
		return nil, fmt.Errorf("start p2p: %w", err)
	}
	l := &libp2pNet{Network: net, g: n.g, ids: make([]peer.ID, len(n.g.Validators))}
	for k, v := range n.g.Validators {
		pub, err := crypto.DecompressPubkey(v.PublicKey)
		if err != nil {
			continue
		}
		if l.ids[k], err = p2p.PeerIDFromPublicKey(pub); err != nil {
			l.ids[k] = ""
		}
	}
	n.mets.register(newP2PCollector(net.Stats, n.mets.labels))
	n.log.Info("p2p started", "peer_id", net.ID().String(), "addrs", strings.Join(net.Addrs(), ","))
	return l, nil
}

// consensusValidator is the gossip check of votes and round messages: they
// decode and are signed by the genesis validator they name. It runs before
// gossipsub forwards a message, so a badly signed one is neither relayed
// nor stepped, and the peer that forwarded it is penalized (p2p's guard).
// The event loop checks again (a few signatures per validator per epoch).
func consensusValidator(g *ledger.Genesis) func([]byte) error {
	return func(b []byte) error {
		v, m, err := decodeConsensus(b)
		switch {
		case err != nil:
			return err
		case v != nil:
			return v.Verify(g)
		default:
			return m.Verify(g)
		}
	}
}

// readPSK reads a 32-byte private-network key stored as 64 hex characters.
func readPSK(path string) ([]byte, error) {
	data, err := ReadFileLimited(path, 1024)
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
