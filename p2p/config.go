package p2p

import (
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ledgerd/ledgerd/checkpoint/stream"
)

// ErrConfig is wrapped by every Config.Validate error.
var ErrConfig = errors.New("p2p: invalid config")

// ValidatorInfo is one genesis validator as the network layer sees it.
type ValidatorInfo struct {
	// Address is the validator's go-ethereum address; its libp2p peer ID is
	// derived from the same key, so the two are checkable against each other.
	Address common.Address
	// Addr is an optional multiaddr hint ending in /p2p/<peer ID>, dialled and
	// kept connected (and used as a gossipsub direct peer). May be empty.
	Addr string
}

// Config configures a Network. DefaultConfig fills the bounds and timings;
// the caller sets the identity fields (ChainID, Key, Validators, Self).
type Config struct {
	// ChainID is mixed into entry digests and topic names.
	ChainID string
	// Key is this node's secp256k1 key; it is also the libp2p identity.
	Key *ecdsa.PrivateKey
	// Validators is the genesis validator list; an entry's Origin indexes it.
	Validators []ValidatorInfo
	// Self is this node's index in Validators, or -1 for an observer (which
	// receives but cannot Publish).
	Self int
	// ListenAddrs are multiaddrs to listen on, e.g. /ip4/0.0.0.0/tcp/4001.
	ListenAddrs []string
	// StaticPeers are full multiaddrs (/…/p2p/<id>) kept connected.
	StaticPeers []string
	// Observers are peer IDs (besides validators) the gater admits.
	Observers []string
	// PSK is an optional 32-byte private-network key; with it only TCP is used.
	PSK []byte
	// DeliverOwn: if true, this node's own entries also come out of
	// Deliveries, in order with everything else.
	DeliverOwn bool

	// DeliveryQueue bounds Deliveries(); VoteQueue bounds Votes();
	// InboundQueue bounds entries waiting for the sequencer.
	DeliveryQueue, VoteQueue, InboundQueue int
	// PubsubQueue is gossipsub's per-peer outbound, validation and
	// subscription queue size; at 32 (pubsub's default) a burst drops
	// messages silently, so keep it ≥ 4096 (docs/p2p.md).
	PubsubQueue int
	// WindowSeqs and MaxHeldBytes bound the hold-back buffer per origin.
	WindowSeqs   uint64
	MaxHeldBytes int
	// MaxVoteBytes bounds a gossiped vote.
	MaxVoteBytes int
	// VoteValidator is a cheap check run inline on every gossiped vote
	// (nil accepts anything within MaxVoteBytes). An error rejects the vote
	// and penalizes the sender.
	VoteValidator func(data []byte) error

	// GapTimeout: hold-back non-empty (or a known seq undelivered) for this
	// long triggers repair; repeats at this interval.
	GapTimeout time.Duration
	// StatusInterval is how often peers are asked for their stream heads
	// (finds lost tails); 0 disables.
	StatusInterval time.Duration
	// RepairTimeout bounds one request/response exchange.
	RepairTimeout time.Duration
	// RepairWorkers is the number of concurrent repair fetches.
	RepairWorkers int
	// MaxServePerPeer bounds concurrent sync requests served to one peer.
	MaxServePerPeer int
	// ReconnectInterval is how often missing static peers are redialled.
	ReconnectInterval time.Duration
	// SeenTTL is gossipsub's duplicate cache lifetime (≥ 2 epochs).
	SeenTTL time.Duration
	// A peer that forwards more than InvalidLimit invalid gossip messages
	// within InvalidWindow is blacklisted in gossipsub for BlacklistFor:
	// its messages are dropped unvalidated (see invalidGuard).
	InvalidLimit  int
	InvalidWindow time.Duration
	BlacklistFor  time.Duration

	// Logger; nil discards.
	Logger *slog.Logger

	// gossipHook, when set (tests only), receives every entry that arrived
	// by gossip instead of the sequencer, and calls emit zero or more
	// times, possibly later and from another goroutine, to pass entries on.
	gossipHook func(e stream.Entry, emit func(stream.Entry))
}

// DefaultConfig returns bounds and timings for a small validator set on a LAN.
func DefaultConfig() Config {
	return Config{
		Self:              -1,
		ListenAddrs:       []string{"/ip4/0.0.0.0/tcp/4001"},
		DeliveryQueue:     4096,
		VoteQueue:         1024,
		InboundQueue:      4096,
		PubsubQueue:       8192,
		WindowSeqs:        4096,
		MaxHeldBytes:      64 << 20,
		MaxVoteBytes:      64 << 10,
		GapTimeout:        200 * time.Millisecond,
		StatusInterval:    500 * time.Millisecond,
		RepairTimeout:     3 * time.Second,
		RepairWorkers:     2,
		MaxServePerPeer:   4,
		ReconnectInterval: time.Second,
		SeenTTL:           10 * time.Minute,
		InvalidLimit:      100,
		InvalidWindow:     10 * time.Second,
		BlacklistFor:      time.Minute,
	}
}

// Validate checks every field and cross-field relation.
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.ChainID == "" || len(c.ChainID) > stream.MaxChainIDBytes:
		return bad("ChainID must be 1..%d bytes", stream.MaxChainIDBytes)
	case c.Key == nil:
		return bad("Key is nil")
	case len(c.Validators) == 0 || len(c.Validators) > maxValidators:
		return bad("%d validators, want 1..%d", len(c.Validators), maxValidators)
	case c.Self < -1 || c.Self >= len(c.Validators):
		return bad("Self %d out of range", c.Self)
	case len(c.ListenAddrs) == 0:
		return bad("no ListenAddrs")
	case c.PSK != nil && len(c.PSK) != 32:
		return bad("PSK must be 32 bytes, got %d", len(c.PSK))
	case c.DeliveryQueue <= 0 || c.VoteQueue <= 0 || c.InboundQueue <= 0 || c.PubsubQueue <= 0:
		return bad("queue sizes must be positive")
	case c.WindowSeqs == 0 || c.WindowSeqs > 1<<20:
		return bad("WindowSeqs %d", c.WindowSeqs)
	case c.MaxHeldBytes < stream.MaxBodyBytes:
		return bad("MaxHeldBytes %d < one entry body", c.MaxHeldBytes)
	case c.MaxVoteBytes <= 0 || c.MaxVoteBytes > maxGossipBytes:
		return bad("MaxVoteBytes %d", c.MaxVoteBytes)
	case c.GapTimeout <= 0 || c.RepairTimeout <= 0 || c.ReconnectInterval <= 0 || c.StatusInterval < 0:
		return bad("timings must be positive")
	case c.RepairWorkers <= 0 || c.MaxServePerPeer <= 0:
		return bad("RepairWorkers and MaxServePerPeer must be positive")
	case c.SeenTTL < time.Second:
		return bad("SeenTTL %v", c.SeenTTL)
	case c.InvalidLimit <= 0 || c.InvalidWindow <= 0 || c.BlacklistFor <= 0:
		return bad("InvalidLimit, InvalidWindow and BlacklistFor must be positive")
	}
	if c.Self >= 0 {
		if got := addressOfKey(c.Key); got != c.Validators[c.Self].Address {
			return bad("Key is %s, validator %d is %s", got, c.Self, c.Validators[c.Self].Address)
		}
	}
	seen := make(map[common.Address]int, len(c.Validators))
	for i, v := range c.Validators {
		if j, dup := seen[v.Address]; dup {
			return bad("validators %d and %d share address %s", j, i, v.Address)
		}
		seen[v.Address] = i
		if v.Addr == "" {
			continue
		}
		ai, err := addrInfo(v.Addr)
		if err != nil {
			return bad("validator %d Addr: %v", i, err)
		}
		a, err := AddressFromPeerID(ai.ID)
		if err != nil || a != v.Address {
			return bad("validator %d Addr names peer %s, not address %s", i, ai.ID, v.Address)
		}
	}
	for _, s := range c.StaticPeers {
		if _, err := addrInfo(s); err != nil {
			return bad("static peer %q: %v", s, err)
		}
	}
	for _, s := range c.Observers {
		if _, err := peer.Decode(s); err != nil {
			return bad("observer %q: %v", s, err)
		}
	}
	for _, s := range c.ListenAddrs {
		m, err := ma.NewMultiaddr(s)
		if err != nil {
			return bad("listen addr %q: %v", s, err)
		}
		if _, err := m.ValueForProtocol(ma.P_TCP); err != nil {
			return bad("listen addr %q: only TCP is supported (e.g. /ip4/0.0.0.0/tcp/4001)", s)
		}
	}
	return nil
}

func addrInfo(s string) (*peer.AddrInfo, error) {
	m, err := ma.NewMultiaddr(s)
	if err != nil {
		return nil, err
	}
	return peer.AddrInfoFromP2pAddr(m)
}
