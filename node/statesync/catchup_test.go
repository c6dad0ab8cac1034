package statesync

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// requestLog records the kinds requested and answers nothing.
type requestLog struct {
	mu    sync.Mutex
	kinds []byte
}

func (*requestLog) Validators() []uint32 { return []uint32{1} }

func (r *requestLog) Request(_ context.Context, _ uint32, kind byte, _ []byte) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.kinds = append(r.kinds, kind)
	return nil, errors.New("nothing here")
}

func (*requestLog) Handle(byte, Handler) error { return nil }

func (r *requestLog) asked(kind byte) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range r.kinds {
		if k == kind {
			return true
		}
	}
	return false
}

// TestCatchUpWhileExecuting: a validator that missed an epoch's votes goes
// on executing later epochs (its head moves every tick) while its last
// final epoch stays put. Catch-up must still ask the peers for the
// certified checkpoints after the last final epoch, and for its votes.
func TestCatchUpWhileExecuting(t *testing.T) {
	net := &requestLog{}
	s := &Service{Self: 0, Net: net}
	var head atomic.Uint64
	head.Store(10)
	progress := func() (uint64, uint64, bool) { return head.Add(1), 9, true }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := make(chan Fetched, 1)
	go s.CatchUp(ctx, progress, out)
	select {
	case <-out:
	case <-time.After(10 * catchUpAfter):
		t.Fatalf("no catch-up in %v while the head moved and the last final epoch did not", 10*catchUpAfter)
	}
	if !net.asked(KindCheckpoints) || !net.asked(KindVotes) {
		t.Fatal("catch-up did not ask for the certified checkpoints and the votes")
	}
}
