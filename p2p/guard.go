package p2p

import (
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// maxGuarded bounds the peers the invalid-message guard tracks at once.
// Connections are allow-listed, so a node sees far fewer peers; the bound
// only keeps a misconfiguration from growing the map.
const maxGuarded = 1024

// invalidGuard decides when a peer that forwards invalid gossip is
// blacklisted. An honest peer forwards only messages its own validators
// accepted, so invalid messages come from a faulty or Byzantine peer, and
// each one costs this node a decode and usually a signature recovery.
// Gossipsub's score cannot stop such a peer: validators are direct peers,
// which it never graylists. Blacklisting it makes gossipsub drop its
// messages before validation and before the duplicate cache, so entries
// it also relayed still arrive from honest peers.
type invalidGuard struct {
	limit  int
	window time.Duration

	mu     sync.Mutex
	counts map[peer.ID]invalidCount
}

type invalidCount struct {
	n     int
	since time.Time
}

func newInvalidGuard(limit int, window time.Duration) *invalidGuard {
	return &invalidGuard{limit: limit, window: window, counts: make(map[peer.ID]invalidCount)}
}

// invalid records one invalid message from p at now and reports whether
// p has now sent more than limit within one window; the count then starts
// again, so a peer that goes on is reported once per limit.
func (g *invalidGuard) invalid(p peer.ID, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	c, ok := g.counts[p]
	if !ok || now.Sub(c.since) > g.window {
		if !ok && len(g.counts) >= maxGuarded {
			g.forgetOld(now)
		}
		c = invalidCount{since: now}
	}
	c.n++
	if c.n > g.limit {
		delete(g.counts, p)
		return true
	}
	g.counts[p] = c
	return false
}

// forgetOld drops the counts whose window has passed, and all of them if
// that frees nothing (every tracked peer is misbehaving right now).
func (g *invalidGuard) forgetOld(now time.Time) {
	for p, c := range g.counts {
		if now.Sub(c.since) > g.window {
			delete(g.counts, p)
		}
	}
	if len(g.counts) >= maxGuarded {
		clear(g.counts)
	}
}
