package statesync

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ledgerd/ledgerd/checkpoint"
	"github.com/ledgerd/ledgerd/checkpoint/stream"
	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/node/api"
	"github.com/ledgerd/ledgerd/node/store"
	"github.com/ledgerd/ledgerd/p2p"
)

// State sync tuning.
const (
	// Lag is how many epochs a restarting node may be behind the peers'
	// last final checkpoint before it state-syncs instead of catching up
	// entry by entry.
	Lag = 16
	// freshProbeWait bounds how long a node with an empty store waits for
	// every other validator to answer the probe; restartProbeWait is the
	// same for a node with a store.
	freshProbeWait   = 10 * time.Second
	restartProbeWait = 3 * time.Second
	// requestTimeout bounds one exchange of the probe; fetchTimeout one
	// page of checkpoints, accounts or entries.
	requestTimeout = 2 * time.Second
	fetchTimeout   = 10 * time.Second
)

// Answer is one validator's answer to the start-up probe.
type Answer struct {
	Validator uint32
	Final     uint64
	Heads     []uint64
}

// OnStart runs before the validator restores its Machine (docs/statesync.md):
// it asks the other validators for their last final checkpoint and for
// their stream heads, state-syncs if the store is empty or more than Lag
// epochs behind, and, for an empty store, recovers the validator's own
// stream tail from peers so it never reuses a seq.
func (s *Service) OnStart(ctx context.Context) error {
	st := s.Store
	fresh, err := StoreIsEmpty(st, len(s.G.Validators))
	if err != nil {
		return err
	}
	head, hasHead, err := st.Head()
	if err != nil {
		return err
	}
	if !fresh && !hasHead {
		return nil
	}
	wait := s.ProbeWait
	switch {
	case wait > 0:
	case fresh:
		wait = freshProbeWait
	default:
		wait = restartProbeWait
	}
	s.Progress.p.Store(&api.StateSync{Phase: api.StateSyncProbing, StartedAtMs: s.now().UnixMilli()})
	answers := s.Probe(ctx, wait)
	var best uint64
	for _, a := range answers {
		best = max(best, a.Final)
	}
	s.log().Info("state sync probe", "answers", len(answers), "of", len(s.G.Validators)-1, "peers_final", best,
		"fresh", fresh, "head", head.Epoch)
	ownFrom := uint64(0)
	installed := false
	if best > 0 && (fresh || best > head.Epoch+Lag) {
		v, err := s.fetchBest(ctx, answers, func(final uint64) bool { return fresh || final > head.Epoch+Lag })
		switch {
		case err != nil && fresh:
			return fmt.Errorf("state sync: %w", err)
		case err != nil:
			// The answers' epochs are claims: none could be fetched and
			// verified. The store is usable, so start from it; catch-up
			// brings the certified epochs in the running process.
			s.log().Warn("state sync failed; starting from the local store", "head", head.Epoch, "err", err)
		default:
			if err := Install(st, s.G, v); err != nil {
				return fmt.Errorf("install synced state: %w", err)
			}
			installed, best = true, v.Certified.Header.Epoch
			ownFrom = v.Certified.Header.Cut[s.Self]
			s.log().Info("state synced", "epoch", best, "hash", v.Certified.Header.Hash(), "accounts", v.Accounts)
		}
	}
	if fresh {
		if err := s.recoverOwnStream(ctx, answers, ownFrom); err != nil {
			return err
		}
		after := uint64(0)
		if installed {
			after = best
		}
		if err := s.recoverOwnRounds(ctx, after); err != nil {
			return err
		}
	}
	s.Progress.Update(func(p *api.StateSync) {
		p.Phase, p.FinishedAtMs = api.StateSyncSkipped, max(s.now().UnixMilli(), p.StartedAtMs, 1)
		if installed {
			p.Phase, p.TargetEpoch = api.StateSyncDone, best
		}
	})
	return nil
}

// Probe asks the connected validators for their last final epoch and
// stream heads until all others answered or wait elapsed; the answers come
// highest final epoch first.
func (s *Service) Probe(ctx context.Context, wait time.Duration) []Answer {
	deadline := s.now().Add(wait)
	got := map[uint32]Answer{}
	others := len(s.G.Validators) - 1
	for len(got) < others && s.now().Before(deadline) && ctx.Err() == nil {
		for _, k := range s.Net.Validators() {
			if _, ok := got[k]; ok || k == s.Self {
				continue
			}
			rctx, cancel := context.WithTimeout(ctx, requestTimeout)
			rawF, err1 := s.Net.Request(rctx, k, KindCheckpoints, binary.BigEndian.AppendUint64(nil, 0))
			rawS, err2 := s.Net.Request(rctx, k, p2p.KindStatus, nil)
			cancel()
			if err1 != nil || err2 != nil {
				continue
			}
			final, _, err := decodeCheckpointsResponse(rawF)
			if err != nil {
				continue
			}
			heads, err := p2p.DecodeStatus(rawS)
			if err != nil || len(heads) != len(s.G.Validators) {
				continue
			}
			got[k] = Answer{Validator: k, Final: final, Heads: heads}
			s.Progress.Update(func(p *api.StateSync) {
				p.Peers, p.TargetEpoch = len(got), max(p.TargetEpoch, final)
			})
		}
		if len(got) < others {
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	out := make([]Answer, 0, len(got))
	for _, a := range got {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b Answer) int {
		return cmp.Or(cmp.Compare(b.Final, a.Final), cmp.Compare(a.Validator, b.Validator))
	})
	return out
}

// fetchBest fetches and verifies the state of the highest final epoch the
// answers claim that is worth it (eligible), falling back to lower claims
// when none of its claimants serves it: a probe answer is a claim (a
// faulty validator can name any epoch), only what verifies counts.
func (s *Service) fetchBest(ctx context.Context, answers []Answer, eligible func(uint64) bool) (*VerifiedState, error) {
	var last error = errors.New("no peer has a final epoch to sync to")
	tried := map[uint64]bool{}
	for _, a := range answers { // highest claim first
		if tried[a.Final] || a.Final == 0 || !eligible(a.Final) {
			continue
		}
		tried[a.Final] = true
		v, err := s.Fetch(ctx, answers, a.Final)
		if err == nil {
			return v, nil
		}
		last = fmt.Errorf("epoch %d: %w", a.Final, err)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	return nil, last
}

// Fetch downloads and verifies epoch target's certified checkpoint and
// state from the validators that have it, one at a time.
func (s *Service) Fetch(ctx context.Context, answers []Answer, target uint64) (*VerifiedState, error) {
	var last error = errors.New("no peer has the target epoch")
	for _, a := range answers {
		if a.Final < target {
			continue
		}
		v, err := s.fetchFrom(ctx, a.Validator, target)
		if err == nil {
			return v, nil
		}
		s.log().Warn("state sync from peer failed", "validator", a.Validator, "err", err)
		last = err
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	return nil, last
}

func (s *Service) fetchFrom(ctx context.Context, from uint32, target uint64) (*VerifiedState, error) {
	request := func(kind byte, payload []byte) ([]byte, error) {
		rctx, cancel := context.WithTimeout(ctx, fetchTimeout)
		defer cancel()
		return s.Net.Request(rctx, from, kind, payload)
	}
	s.Progress.Update(func(p *api.StateSync) {
		p.Phase, p.TargetEpoch, p.Checkpoints, p.Accounts, p.Chunks, p.Bytes = api.StateSyncCheckpoints, target, 0, 0, 0, 0
	})
	// The chain from the genesis, verified page by page.
	var prev *checkpoint.Header
	var last checkpoint.Certified
	for ep := uint64(1); ep <= target; {
		raw, err := request(KindCheckpoints, binary.BigEndian.AppendUint64(nil, ep))
		if err != nil {
			return nil, err
		}
		_, page, err := decodeCheckpointsResponse(raw)
		if err != nil {
			return nil, err
		}
		if len(page) == 0 {
			return nil, fmt.Errorf("peer has no certified checkpoint %d", ep)
		}
		if uint64(len(page)) > target-ep+1 {
			page = page[:target-ep+1]
		}
		if err := checkpoint.VerifyChain(s.G, prev, page); err != nil {
			return nil, fmt.Errorf("chain from peer does not verify: %w", err)
		}
		last = page[len(page)-1]
		prev = &last.Header
		ep += uint64(len(page))
		s.Progress.Update(func(p *api.StateSync) { p.Checkpoints, p.Bytes = ep-1, p.Bytes+uint64(len(raw)) })
	}
	s.Progress.Update(func(p *api.StateSync) { p.Phase = api.StateSyncAccounts })
	// The accounts, in chunks, rebuilt into the trie; the root is compared
	// with the certified state_root at the end.
	b := ledger.NewStateBuilder(MaxStateAccounts)
	var start ledger.Address
	lastLog := s.now()
	for {
		raw, err := request(KindAccounts, append(binary.BigEndian.AppendUint64(nil, target), start[:]...))
		if err != nil {
			return nil, err
		}
		if len(raw) < 3 {
			return nil, errors.New("accounts response: short")
		}
		more, count := raw[0] == 1, int(binary.BigEndian.Uint16(raw[1:3]))
		body := raw[3:]
		if len(body) != count*accountRecordBytes || count > maxAccountsPerResponse {
			return nil, errors.New("accounts response: bad length")
		}
		for i := range count {
			a, acct := decodeAccountRecord(body[i*accountRecordBytes:])
			if i == 0 && b.Count() > 0 && a == b.Last() {
				return nil, errors.New("accounts response: repeats the previous chunk")
			}
			if err := b.Add(a, acct); err != nil {
				return nil, err
			}
		}
		s.Progress.Update(func(p *api.StateSync) {
			p.Accounts, p.Chunks, p.Bytes = b.Count(), p.Chunks+1, p.Bytes+uint64(len(raw))
		})
		if s.now().Sub(lastLog) >= 2*time.Second {
			lastLog = s.now()
			p, _ := s.Progress.Get()
			s.log().Info("state sync progress", "target_epoch", target, "accounts", b.Count(), "chunks", p.Chunks, "bytes", p.Bytes)
		}
		if !more || count == 0 {
			break
		}
		var ok bool
		if start, ok = nextAddress(b.Last()); !ok {
			break
		}
	}
	if root := b.Root(); root != last.Header.StateRoot {
		return nil, fmt.Errorf("accounts rebuild state root %s, certified %s", root, last.Header.StateRoot)
	}
	return &VerifiedState{Certified: last, Nodes: b.Nodes(), Accounts: b.Count()}, nil
}

// nextAddress is a+1, false if a is the largest address.
func nextAddress(a ledger.Address) (ledger.Address, bool) {
	for i := len(a) - 1; i >= 0; i-- {
		a[i]++
		if a[i] != 0 {
			return a, true
		}
	}
	return a, false
}

// recoverOwnStream fetches this validator's own entries after seq `after`
// that peers hold (the highest contiguous seq any answering peer
// delivered) and stores them, so the restored Machine replays them and
// continues after them instead of reusing their seqs with other content.
func (s *Service) recoverOwnStream(ctx context.Context, answers []Answer, after uint64) error {
	var high uint64
	var from uint32
	for _, a := range answers {
		if a.Heads[s.Self] > high {
			high, from = a.Heads[s.Self], a.Validator
		}
	}
	if high <= after {
		return nil
	}
	s.Progress.Update(func(p *api.StateSync) { p.Phase = api.StateSyncOwnStream })
	self := s.G.Validators[s.Self].Address
	next := after + 1
	for next <= high {
		q := p2p.EntriesRequest{Origin: s.Self, From: next, To: high, MaxBytes: p2p.MaxResponseBytes - 64<<10}
		rctx, cancel := context.WithTimeout(ctx, fetchTimeout)
		raw, err := s.Net.Request(rctx, from, p2p.KindEntries, q.Encode())
		cancel()
		if err != nil {
			return fmt.Errorf("recover own entries %d..%d: %w", next, high, err)
		}
		list, err := p2p.DecodeEntryList(raw)
		if err != nil {
			return fmt.Errorf("recover own entries: %w", err)
		}
		if len(list) == 0 {
			return fmt.Errorf("recover own entries: peer returned none from %d (it reported %d)", next, high)
		}
		for _, b := range list {
			e, err := stream.DecodeEntry(b)
			if err != nil {
				return fmt.Errorf("recover own entry %d: %w", next, err)
			}
			if e.Origin != s.Self || e.Seq != next {
				return fmt.Errorf("recover own entries: got %d/%d, want %d/%d", e.Origin, e.Seq, s.Self, next)
			}
			if err := e.Verify(s.G.ChainID, self); err != nil {
				return fmt.Errorf("recover own entry %d: %w", next, err)
			}
			if err := s.Store.PutEntry(s.Self, e.Seq, b); err != nil {
				return fmt.Errorf("store recovered own entry %d: %w", next, err)
			}
			next++
		}
	}
	s.log().Info("own stream recovered from peers", "from_seq", after+1, "to_seq", high)
	return s.Store.Sync()
}

// recoverOwnRounds fetches from the peers the round messages of this
// validator they hold for the Lag epochs after epoch `after` and stores
// the ones it signed, so the restored Machine continues those agreements
// where its wiped predecessor was and never signs a second, different
// message of one kind in one round. Like the own stream, it recovers what
// the answering peers hold; a message only a peer that does not answer
// holds is not recovered.
func (s *Service) recoverOwnRounds(ctx context.Context, after uint64) error {
	recovered := 0
	for ep := after + 1; ep <= after+Lag; ep++ {
		for _, raw := range s.fetchList(ctx, KindRounds, ep, maxRoundsResponse) {
			m, err := checkpoint.DecodeRoundMsg(raw)
			if err != nil || m.Validator != s.Self || m.Epoch != ep || m.Verify(s.G) != nil {
				continue
			}
			err = s.Store.PutRound(m.Epoch, m.Validator, m.Round, byte(m.Kind), raw)
			switch {
			case errors.Is(err, store.ErrExists):
				// Two different messages of ours for one slot: the first
				// is kept (a predecessor equivocated; nothing to add).
			case err != nil:
				return fmt.Errorf("store recovered round message of epoch %d: %w", ep, err)
			default:
				recovered++
			}
		}
	}
	if recovered == 0 {
		return nil
	}
	s.log().Info("own round messages recovered from peers", "messages", recovered, "epochs_after", after)
	return s.Store.Sync()
}
