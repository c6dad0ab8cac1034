package statesync

import (
	"context"
	"encoding/binary"
	"time"

	"github.com/ledgerd/ledgerd/checkpoint"
	"github.com/ledgerd/ledgerd/checkpoint/stream"
)

// Catch-up tuning.
const (
	// catchUpInterval is how often catch-up looks at the node's progress.
	catchUpInterval = 500 * time.Millisecond
	// catchUpAfter is how long the node may go without progress (a new
	// final epoch, a new executed one) before catch-up fetches.
	catchUpAfter = time.Second
	// catchUpEpochs bounds the epochs fetched per round.
	catchUpEpochs = 8
)

// Fetched is what one round of catch-up brought from the peers, for the
// node's loop to step (each item is verified there).
type Fetched struct {
	// Certified are certified checkpoints after the node's last final
	// epoch: up to its head they finalize what it executed; past it their
	// cut is the agreed one, so a node that missed the agreement executes
	// them.
	Certified []checkpoint.Certified
	// Rounds are encoded round messages of the epoch after the head.
	Rounds [][]byte
	// Votes are encoded votes of the first epoch executed and not final,
	// when no peer has it final.
	Votes [][]byte
}

// CatchUp fetches from the peers what gossip lost: certificates, or failing
// those votes, of executed epochs that do not become final for a second
// (the votes were gossiped while it was down, or lost), even while it goes
// on executing later epochs; and, when the epoch after its head stays
// undecided here, the certified checkpoints past its head and the round
// messages of that epoch (a validator that decided may never have sent its
// own precommit). progress reports the executed head and the last final
// epoch; ok is false while the node is not running yet. CatchUp returns
// when ctx ends.
func (s *Service) CatchUp(ctx context.Context, progress func() (head, final uint64, ok bool), out chan<- Fetched) {
	t := time.NewTicker(catchUpInterval)
	defer t.Stop()
	var lastHead, lastFinal uint64
	headSince, finalSince := s.now(), s.now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		head, final, ok := progress()
		if !ok {
			continue
		}
		now := s.now()
		if final != lastFinal {
			lastFinal, finalSince = final, now
		}
		if head != lastHead {
			lastHead, headSince = head, now
		}
		// Stalled: executed epochs that do not become final (the head may
		// go on meanwhile: a validator executes without its votes, so
		// waiting for the head too would wait forever), or no progress at
		// all (the epoch after the head undecided here).
		finalStalled := head > final && now.Sub(finalSince) >= catchUpAfter
		allStalled := now.Sub(headSince) >= catchUpAfter && now.Sub(finalSince) >= catchUpAfter
		if !finalStalled && !allStalled {
			continue
		}
		// The certified checkpoints after the last final epoch: those up to
		// the head finalize what was executed (stepped as certificates, a
		// quorum by themselves, so an equivocator's vote that came first does
		// not keep them out), those past it carry the agreed cuts of epochs
		// this node missed the agreement of.
		var f Fetched
		f.Certified = s.fetchCertified(ctx, final+1)
		if len(f.Certified) == 0 && head > final {
			// Nobody has it final: the votes themselves were lost (a
			// healed partition). Collect them from the peers.
			f.Votes = s.fetchList(ctx, KindVotes, final+1, maxVotesResponse)
		}
		if final+uint64(len(f.Certified)) <= head {
			f.Rounds = s.fetchList(ctx, KindRounds, head+1, maxRoundsResponse)
		}
		select {
		case out <- f:
		case <-ctx.Done():
			return
		}
		headSince, finalSince = s.now(), s.now()
	}
}

// fetchCertified asks the connected validators, in turn, for the certified
// checkpoints from epoch on (at most catchUpEpochs), and returns the first
// non-empty answer (each is verified where it is stepped).
func (s *Service) fetchCertified(ctx context.Context, from uint64) []checkpoint.Certified {
	payload := binary.BigEndian.AppendUint64(nil, from)
	for _, k := range s.Net.Validators() {
		rctx, cancel := context.WithTimeout(ctx, requestTimeout)
		raw, err := s.Net.Request(rctx, k, KindCheckpoints, payload)
		cancel()
		if err != nil {
			continue
		}
		_, page, err := decodeCheckpointsResponse(raw)
		if err != nil || len(page) == 0 || page[0].Header.Epoch != from {
			continue
		}
		return page[:min(len(page), catchUpEpochs)]
	}
	return nil
}

// fetchList collects the list of kind for epoch from every connected
// validator (votes, round messages).
func (s *Service) fetchList(ctx context.Context, kind byte, epoch uint64, maxItems uint32) [][]byte {
	payload := binary.BigEndian.AppendUint64(nil, epoch)
	var out [][]byte
	for _, k := range s.Net.Validators() {
		rctx, cancel := context.WithTimeout(ctx, requestTimeout)
		raw, err := s.Net.Request(rctx, k, kind, payload)
		cancel()
		if err != nil {
			continue
		}
		list, err := stream.DecodeList(raw, maxItems, 1<<16)
		if err != nil {
			continue
		}
		out = append(out, list...)
	}
	return out
}
