package p2p

import (
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
)

// maxGuarded bounds the peers the invalid-message guard tracks at once,
// counted and blacklisted alike. Connections are allow-listed, so a node
// sees far fewer peers; the bound only keeps a misconfiguration from
// growing the maps.
const maxGuarded = 1024

// invalidGuard decides when a peer that forwards invalid gossip is
// blacklisted, and is the blacklist gossipsub consults. An honest peer
// forwards only messages its own validators accepted, so invalid messages
// come from a faulty or Byzantine peer, and each one costs this node a
// decode and usually a signature recovery. Gossipsub's score cannot stop
// such a peer: validators are direct peers, which it never graylists. A
// blacklisted peer's messages are dropped before validation and before
// the duplicate cache, so entries it also relayed still arrive from honest
// peers. Entries expire lazily (pubsub's own time-cached blacklist runs a
// sweeper goroutine nothing can stop).
type invalidGuard struct {
	limit  int
	window time.Duration
	ban    time.Duration

	mu     sync.Mutex
	counts map[peer.ID]invalidCount
	banned map[peer.ID]time.Time // until when
}

type invalidCount struct {
	n     int
	since time.Time
}

var _ pubsub.Blacklist = (*invalidGuard)(nil)

func newInvalidGuard(limit int, window, ban time.Duration) *invalidGuard {
	return &invalidGuard{limit: limit, window: window, ban: ban,
		counts: make(map[peer.ID]invalidCount), banned: make(map[peer.ID]time.Time)}
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
			for q, c := range g.counts {
				if now.Sub(c.since) > g.window {
					delete(g.counts, q)
				}
			}
			if len(g.counts) >= maxGuarded { // every tracked peer misbehaves right now
				clear(g.counts)
			}
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

// Add blacklists p for the ban duration (pubsub.Blacklist). It reports
// false if p already is, or if maxGuarded peers are and none has expired.
func (g *invalidGuard) Add(p peer.ID) bool { return g.addAt(p, time.Now()) }

// Contains reports whether p is blacklisted (pubsub.Blacklist).
func (g *invalidGuard) Contains(p peer.ID) bool { return g.containsAt(p, time.Now()) }

func (g *invalidGuard) addAt(p peer.ID, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if until, ok := g.banned[p]; ok && now.Before(until) {
		return false
	}
	if len(g.banned) >= maxGuarded {
		for q, until := range g.banned {
			if !now.Before(until) {
				delete(g.banned, q)
			}
		}
		if len(g.banned) >= maxGuarded {
			return false
		}
	}
	g.banned[p] = now.Add(g.ban)
	return true
}

func (g *invalidGuard) containsAt(p peer.ID, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	until, ok := g.banned[p]
	if ok && !now.Before(until) {
		delete(g.banned, p)
		return false
	}
	return ok
}
