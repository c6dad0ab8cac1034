package p2p

import (
	"sync"
	"sync/atomic"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

type counters struct {
	published, publishedVotes, delivered, duplicates, held, overflow atomic.Uint64
	rejected, votesDelivered, votesRejected, equivocations, broken   atomic.Uint64
	evidenceDropped, repairs, repaired, repairFailures, served       atomic.Uint64
	refused, gossipReceived, blacklisted                             atomic.Uint64
}

// Stats is a snapshot of the network's counters, for metrics.
type Stats struct {
	Published       uint64 // entries published by this node
	PublishedVotes  uint64
	GossipReceived  uint64 // valid entries received by gossip (before dedup)
	Delivered       uint64 // entries handed to Deliveries()
	Duplicates      uint64 // entries dropped as already delivered or held
	Held            uint64 // entries that waited in the hold-back buffer
	Overflow        uint64 // entries dropped beyond the hold-back bounds
	Rejected        uint64 // gossiped entries rejected by the boundary validator
	VotesDelivered  uint64
	VotesRejected   uint64
	Equivocations   uint64
	BrokenStreams   uint64
	EvidenceDropped uint64
	Repairs         uint64 // repair requests sent
	Repaired        uint64 // entries received through repair
	RepairFailures  uint64
	Served          uint64 // sync requests answered
	Refused         uint64 // connections refused by the gater
	Blacklisted     uint64 // times a peer was blacklisted for invalid gossip
	// GossipDrops counts pubsub's own drops by reason: "rpc-queue-full",
	// "subscriber-slow", and pubsub's Reject* reasons.
	GossipDrops map[string]uint64
}

// Stats returns the current counters.
func (n *Network) Stats() Stats {
	c := &n.stats
	return Stats{
		Published: c.published.Load(), PublishedVotes: c.publishedVotes.Load(), GossipReceived: c.gossipReceived.Load(),
		Delivered: c.delivered.Load(), Duplicates: c.duplicates.Load(), Held: c.held.Load(), Overflow: c.overflow.Load(),
		Rejected: c.rejected.Load(), VotesDelivered: c.votesDelivered.Load(), VotesRejected: c.votesRejected.Load(),
		Equivocations: c.equivocations.Load(), BrokenStreams: c.broken.Load(), EvidenceDropped: c.evidenceDropped.Load(),
		Repairs: c.repairs.Load(), Repaired: c.repaired.Load(), RepairFailures: c.repairFailures.Load(),
		Served: c.served.Load(), Refused: c.refused.Load(), Blacklisted: c.blacklisted.Load(), GossipDrops: n.tracer.snapshot(),
	}
}

// dropTracer counts pubsub drops; pubsub calls it from several goroutines.
type dropTracer struct {
	mu     sync.Mutex
	counts map[string]uint64 // bounded: keys are pubsub's fixed reasons
}

var _ pubsub.RawTracer = (*dropTracer)(nil)

func newDropTracer() *dropTracer { return &dropTracer{counts: make(map[string]uint64)} }

func (t *dropTracer) inc(reason string) {
	t.mu.Lock()
	t.counts[reason]++
	t.mu.Unlock()
}

func (t *dropTracer) snapshot() map[string]uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]uint64, len(t.counts))
	for k, v := range t.counts {
		out[k] = v
	}
	return out
}

func (t *dropTracer) RejectMessage(_ *pubsub.Message, reason string)       { t.inc(reason) }
func (t *dropTracer) DropRPC(*pubsub.RPC, peer.ID)                         { t.inc("rpc-queue-full") }
func (t *dropTracer) UndeliverableMessage(*pubsub.Message)                 { t.inc("subscriber-slow") }
func (t *dropTracer) AddPeer(peer.ID, protocol.ID)                         {}
func (t *dropTracer) RemovePeer(peer.ID)                                   {}
func (t *dropTracer) OnNewOutboundStream(peer.ID, protocol.ID)             {}
func (t *dropTracer) OnClosedOutboundStream(peer.ID)                       {}
func (t *dropTracer) Join(string)                                          {}
func (t *dropTracer) Leave(string)                                         {}
func (t *dropTracer) Graft(peer.ID, string)                                {}
func (t *dropTracer) Prune(peer.ID, string)                                {}
func (t *dropTracer) ValidateMessage(*pubsub.Message)                      {}
func (t *dropTracer) DeliverMessage(*pubsub.Message)                       {}
func (t *dropTracer) DuplicateMessage(*pubsub.Message)                     {}
func (t *dropTracer) ThrottlePeer(peer.ID)                                 {}
func (t *dropTracer) RecvRPC(*pubsub.RPC)                                  {}
func (t *dropTracer) SendRPC(*pubsub.RPC, peer.ID)                         {}
func (t *dropTracer) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
