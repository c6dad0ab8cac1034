package mempool

import (
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
)

// tracker remembers the transactions this node admitted until they are
// executed, bounding the mempool and answering "pending". With maxWait > 0
// it also refuses new transactions while the oldest one it admitted has
// waited longer than maxWait: a network that finalizes less than clients
// submit then answers 429 instead of queueing minutes of work.
type tracker struct {
	mu      sync.Mutex
	limit   int
	maxWait time.Duration
	// genesis is the chain's genesis time: a wait before it does not count
	// (transactions submitted before the first epoch can close).
	genesis time.Time
	m       map[common.Hash]time.Time
	// order is admission order (only with maxWait > 0); entries whose
	// transaction was executed are dropped lazily from the front.
	order []trackedTx
	head  int
}

type trackedTx struct {
	h  common.Hash
	at time.Time
}

// admitResult is what the tracker says of a transaction.
type admitResult int

const (
	admitOK admitResult = iota
	admitDuplicate
	admitFull
	admitBehind
)

func newTracker(limit int, maxWait time.Duration, genesis time.Time) *tracker {
	return &tracker{limit: limit, maxWait: maxWait, genesis: genesis, m: make(map[common.Hash]time.Time)}
}

// room reports, without admitting anything, whether a new transaction
// would be refused (admitFull or admitBehind) and the oldest wait, so the
// API refuses before paying for signature recovery.
func (t *tracker) room(now time.Time) (admitResult, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.roomLocked(now)
}

func (t *tracker) roomLocked(now time.Time) (admitResult, time.Duration) {
	if len(t.m) >= t.limit {
		return admitFull, 0
	}
	if t.maxWait > 0 {
		if at, ok := t.oldestLocked(); ok {
			if at.Before(t.genesis) {
				at = t.genesis
			}
			if now.Sub(at) > t.maxWait {
				return admitBehind, now.Sub(at)
			}
		}
	}
	return admitOK, 0
}

func (t *tracker) admit(h common.Hash, now time.Time) admitResult {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.m[h]; ok {
		return admitDuplicate
	}
	if r, _ := t.roomLocked(now); r != admitOK {
		return r
	}
	t.m[h] = now
	if t.maxWait > 0 {
		t.order = append(t.order, trackedTx{h: h, at: now})
	}
	return admitOK
}

// oldestLocked is the admission time of the oldest unexecuted transaction.
func (t *tracker) oldestLocked() (time.Time, bool) {
	for t.head < len(t.order) {
		e := t.order[t.head]
		if at, ok := t.m[e.h]; ok && at.Equal(e.at) {
			if t.head > len(t.order)/2 { // compact: the dropped front is the larger half
				t.order = append(t.order[:0], t.order[t.head:]...)
				t.head = 0
			}
			return e.at, true
		}
		t.head++
	}
	t.order, t.head = t.order[:0], 0
	return time.Time{}, false
}

func (t *tracker) executed(h common.Hash) {
	t.mu.Lock()
	delete(t.m, h)
	t.mu.Unlock()
}

func (t *tracker) pending(h common.Hash) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.m[h]
	return ok
}
