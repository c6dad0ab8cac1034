package p2p

import (
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

func TestInvalidGuard(t *testing.T) {
	t0 := time.Unix(1000, 0)
	a, b := peer.ID("a"), peer.ID("b")
	g := newInvalidGuard(3, 10*time.Second, time.Minute)
	for i := range 3 {
		if g.invalid(a, t0.Add(time.Duration(i)*time.Second)) {
			t.Fatalf("reported at invalid message %d, limit 3", i+1)
		}
	}
	if g.invalid(b, t0) {
		t.Fatal("another peer's count is shared")
	}
	if !g.invalid(a, t0.Add(3*time.Second)) {
		t.Fatal("the 4th invalid message within the window was not reported")
	}
	// The count starts again after a report.
	for i := range 3 {
		if g.invalid(a, t0.Add(4*time.Second)) {
			t.Fatalf("reported again at message %d after a report", i+1)
		}
	}
	if !g.invalid(a, t0.Add(4*time.Second)) {
		t.Fatal("not reported again after limit more")
	}

	// A window that passed starts a fresh count: a trickle is never reported.
	g = newInvalidGuard(3, 10*time.Second, time.Minute)
	for i := range 20 {
		if g.invalid(a, t0.Add(time.Duration(i)*4*time.Second)) {
			t.Fatalf("trickle of one message per 4 s reported at message %d", i+1)
		}
	}
}

func TestInvalidGuardBounded(t *testing.T) {
	t0 := time.Unix(1000, 0)
	g := newInvalidGuard(5, time.Second, time.Minute)
	for i := range 3 * maxGuarded {
		g.invalid(peer.ID(fmt.Sprint("p", i)), t0.Add(time.Duration(i)*time.Millisecond))
		if len(g.counts) > maxGuarded {
			t.Fatalf("tracks %d peers, bound %d", len(g.counts), maxGuarded)
		}
	}
	// Old counts are dropped first: a peer with a recent count keeps it.
	g = newInvalidGuard(2, time.Second, time.Minute)
	hot := peer.ID("hot")
	g.invalid(hot, t0.Add(2*time.Second))
	g.invalid(hot, t0.Add(2*time.Second))
	for i := range maxGuarded - 1 {
		g.invalid(peer.ID(fmt.Sprint("old", i)), t0)
	}
	g.invalid(peer.ID("new"), t0.Add(2*time.Second)) // map full: the old ones go
	if len(g.counts) != 2 {
		t.Fatalf("after forgetting old counts: %d tracked, want 2", len(g.counts))
	}
	if !g.invalid(hot, t0.Add(2*time.Second)) {
		t.Fatal("a recent count was forgotten")
	}
}

func TestInvalidGuardBlacklist(t *testing.T) {
	t0 := time.Unix(1000, 0)
	a, b := peer.ID("a"), peer.ID("b")
	g := newInvalidGuard(3, 10*time.Second, time.Minute)
	if g.containsAt(a, t0) {
		t.Fatal("a peer is blacklisted before Add")
	}
	if !g.addAt(a, t0) || g.addAt(a, t0.Add(time.Second)) {
		t.Fatal("Add: want true the first time, false while blacklisted")
	}
	if !g.containsAt(a, t0.Add(59*time.Second)) || g.containsAt(b, t0) {
		t.Fatal("Contains: want a blacklisted for the ban, b not")
	}
	if g.containsAt(a, t0.Add(time.Minute)) {
		t.Fatal("still blacklisted after the ban expired")
	}
	if len(g.banned) != 0 {
		t.Fatalf("an expired ban is kept: %v", g.banned)
	}
	if !g.addAt(a, t0.Add(2*time.Minute)) {
		t.Fatal("cannot blacklist again after expiry")
	}

	// Bounded: expired bans make room; with none expired, Add refuses.
	g = newInvalidGuard(3, 10*time.Second, time.Minute)
	for i := range maxGuarded {
		g.addAt(peer.ID(fmt.Sprint("p", i)), t0)
	}
	if g.addAt(b, t0.Add(time.Second)) {
		t.Fatal("Add past the bound with no ban expired")
	}
	if !g.addAt(b, t0.Add(time.Minute)) || len(g.banned) != 1 {
		t.Fatalf("after every ban expired: Add failed or %d bans kept", len(g.banned))
	}
}
