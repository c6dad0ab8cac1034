package node

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/ledgerd/ledgerd/checkpoint"
	"github.com/ledgerd/ledgerd/checkpoint/stream"
	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/node/api"
	"github.com/ledgerd/ledgerd/p2p"
)

// Sync-protocol kinds of state sync (kind 16 is the certificate fetch).
const (
	// kindCheckpoints: payload = 8-byte epoch `from`; response = the
	// server's last final epoch (8), a count (2), then count records of
	// (u32 len, header, u32 len, certificate) for epochs from, from+1, …
	// (from = 0: only the last final epoch's record).
	kindCheckpoints = p2p.FirstUserKind + 1
	// kindAccounts: payload = epoch (8) + start address (20); response =
	// more flag (1), count (2), then count records of address (20),
	// balance (8), nonce (8), ascending from start, of final epoch's state.
	kindAccounts = p2p.FirstUserKind + 2
)

// State sync tuning.
const (
	// StateSyncLag is how many epochs a restarting node may be behind the
	// peers' last final checkpoint before it state-syncs instead of
	// catching up entry by entry.
	StateSyncLag = 16
	// maxCheckpointsPerResponse and maxAccountsPerResponse bound one answer.
	maxCheckpointsPerResponse = 64
	maxAccountsPerResponse    = 8192
	// freshProbeWait bounds how long a node with an empty store waits for
	// every other validator to answer the probe; restartProbeWait is the
	// same for a node with a store.
	freshProbeWait   = 10 * time.Second
	restartProbeWait = 3 * time.Second
)

// syncProgress publishes the state sync progress for the API and the log
// (copy on write: the sync is the only writer, API readers load a pointer).
type syncProgress struct{ p atomic.Pointer[api.StateSync] }

// get returns the progress of the running or last state sync.
func (s *syncProgress) get() (api.StateSync, bool) {
	if p := s.p.Load(); p != nil {
		return *p, true
	}
	return api.StateSync{}, false
}

// update applies f to a copy of the progress and publishes it.
func (s *syncProgress) update(f func(*api.StateSync)) {
	var cur api.StateSync
	if p := s.p.Load(); p != nil {
		cur = *p
	}
	f(&cur)
	s.p.Store(&cur)
}

// running reports whether a state sync is in progress.
func (s *syncProgress) running() bool {
	p := s.p.Load()
	return p != nil && p.FinishedAtMs == 0
}

// servedFinal is this node's last final epoch, for serving.
func (n *Node) servedFinal() uint64 {
	if v := n.view.Load(); v != nil {
		return v.lastFinal
	}
	head, ok, err := n.st.Head()
	if err != nil || !ok {
		return 0
	}
	final, err := n.findLastFinal(head.Epoch)
	if err != nil {
		n.log.Warn("serving: last final epoch unknown", "err", err)
	}
	return final
}

// registerStateServing serves checkpoints and account chunks to peers.
func (n *Node) registerStateServing(net *p2p.Network) error {
	if err := net.RegisterHandler(kindCheckpoints, func(_ context.Context, _ p2pPeer, payload []byte) ([]byte, error) {
		if len(payload) != 8 {
			return nil, errors.New("checkpoints request: want an 8-byte epoch")
		}
		return n.serveCheckpoints(binary.BigEndian.Uint64(payload))
	}); err != nil {
		return err
	}
	return net.RegisterHandler(kindAccounts, func(ctx context.Context, _ p2pPeer, payload []byte) ([]byte, error) {
		if len(payload) != 28 {
			return nil, errors.New("accounts request: want epoch (8) and start address (20)")
		}
		return n.serveAccounts(ctx, binary.BigEndian.Uint64(payload), ledger.Address(payload[8:]))
	})
}

func (n *Node) serveCheckpoints(from uint64) ([]byte, error) {
	final := n.servedFinal()
	out := binary.BigEndian.AppendUint64(nil, final)
	out = append(out, 0, 0)
	if from == 0 {
		from = final
	}
	count := 0
	for ep := from; ep >= 1 && ep <= final && count < maxCheckpointsPerResponse; ep++ {
		rawH, err := n.st.Checkpoint(ep)
		if err != nil {
			break
		}
		rawC, err := n.st.Certificate(ep)
		if err != nil {
			break
		}
		if len(out)+len(rawH)+len(rawC)+8 > p2p.MaxResponseBytes/2 {
			break
		}
		out = binary.BigEndian.AppendUint32(out, uint32(len(rawH)))
		out = append(out, rawH...)
		out = binary.BigEndian.AppendUint32(out, uint32(len(rawC)))
		out = append(out, rawC...)
		count++
	}
	binary.BigEndian.PutUint16(out[8:10], uint16(count))
	return out, nil
}

func (n *Node) serveAccounts(ctx context.Context, epoch uint64, start ledger.Address) ([]byte, error) {
	if _, err := n.st.Certificate(epoch); err != nil {
		return nil, fmt.Errorf("epoch %d is not final here", epoch)
	}
	h, err := n.header(epoch)
	if err != nil {
		return nil, err
	}
	state, err := n.g.OpenState(n.st, h.StateRoot)
	if err != nil {
		return nil, err
	}
	out := []byte{0, 0, 0}
	count := 0
	more := false
	var rec [1 + accountRecordBytes]byte
	err = state.ForEachAccount(start, func(a ledger.Address, acct ledger.Account) bool {
		if count == maxAccountsPerResponse || ctx.Err() != nil {
			more = true
			return false
		}
		encodeAccountRecord(rec[:], a, acct)
		out = append(out, rec[1:]...)
		count++
		return true
	})
	if err != nil {
		return nil, err
	}
	if more {
		out[0] = 1
	}
	binary.BigEndian.PutUint16(out[1:3], uint16(count))
	return out, nil
}

// decodeCheckpointsResponse parses a kindCheckpoints answer.
func decodeCheckpointsResponse(b []byte) (uint64, []checkpoint.Certified, error) {
	if len(b) < 10 {
		return 0, nil, errors.New("checkpoints response: short")
	}
	final := binary.BigEndian.Uint64(b)
	count := int(binary.BigEndian.Uint16(b[8:]))
	b = b[10:]
	next := func() ([]byte, error) {
		if len(b) < 4 {
			return nil, errors.New("checkpoints response: truncated")
		}
		l := binary.BigEndian.Uint32(b)
		if uint64(len(b)-4) < uint64(l) {
			return nil, errors.New("checkpoints response: truncated record")
		}
		r := b[4 : 4+l]
		b = b[4+l:]
		return r, nil
	}
	out := make([]checkpoint.Certified, 0, min(count, maxCheckpointsPerResponse))
	for range count {
		rawH, err := next()
		if err != nil {
			return 0, nil, err
		}
		rawC, err := next()
		if err != nil {
			return 0, nil, err
		}
		c, err := decodeCertified(rawH, rawC)
		if err != nil {
			return 0, nil, err
		}
		out = append(out, c)
	}
	if len(b) != 0 {
		return 0, nil, errors.New("checkpoints response: trailing bytes")
	}
	return final, out, nil
}

// peerAnswer is one validator's answer to the start-up probe.
type peerAnswer struct {
	id    p2pPeer
	final uint64
	heads []uint64
}

// syncOnStart runs before restore when the node uses libp2p (docs/statesync.md):
// it asks the other validators for their last final checkpoint and for
// their stream heads, state-syncs if this store is empty or more than
// StateSyncLag epochs behind, and, for an empty store, recovers this
// node's own stream tail from peers so it never reuses a seq.
func (n *Node) syncOnStart(ctx context.Context) error {
	fresh, err := storeIsEmpty(n.st, len(n.g.Validators))
	if err != nil {
		return err
	}
	head, hasHead, err := n.st.Head()
	if err != nil {
		return err
	}
	if !fresh && !hasHead {
		return nil
	}
	cfg, err := n.p2pConfig()
	if err != nil {
		return err
	}
	cfg.Logger = n.log.With("component", "p2p-sync")
	nctx, cancel := context.WithCancel(ctx)
	defer cancel()
	net, err := p2p.New(nctx, cfg, n.st)
	if err != nil {
		return fmt.Errorf("start p2p for state sync: %w", err)
	}
	defer net.Close()
	if err := n.registerStateServing(net); err != nil {
		return err
	}
	wait := restartProbeWait
	if fresh {
		wait = freshProbeWait
	}
	n.syncProg.p.Store(&api.StateSync{Phase: api.StateSyncProbing, StartedAtMs: n.now().UnixMilli()})
	answers := n.probePeers(ctx, net, wait)
	var best uint64
	for _, a := range answers {
		best = max(best, a.final)
	}
	n.log.Info("state sync probe", "answers", len(answers), "of", len(n.g.Validators)-1, "peers_final", best,
		"fresh", fresh, "head", head.Epoch)
	ownFrom := uint64(0)
	installed := best > 0 && (fresh || best > head.Epoch+StateSyncLag)
	if installed {
		v, err := n.fetchState(ctx, net, answers, best)
		if err != nil {
			return fmt.Errorf("state sync to epoch %d: %w", best, err)
		}
		if err := installState(n.st, n.g, v); err != nil {
			return fmt.Errorf("install synced state: %w", err)
		}
		ownFrom = v.Certified.Header.Cut[n.self]
		n.log.Info("state synced", "epoch", best, "hash", v.Certified.Header.Hash(), "accounts", v.Accounts)
	}
	if fresh {
		if err := n.recoverOwnStream(ctx, net, answers, ownFrom); err != nil {
			return err
		}
	}
	n.syncProg.update(func(p *api.StateSync) {
		p.Phase, p.FinishedAtMs = api.StateSyncSkipped, max(n.now().UnixMilli(), p.StartedAtMs, 1)
		if installed {
			p.Phase, p.TargetEpoch = api.StateSyncDone, best
		}
	})
	return nil
}

// probePeers asks connected validators for their last final epoch and
// stream heads until all others answered or wait elapsed.
func (n *Node) probePeers(ctx context.Context, net *p2p.Network, wait time.Duration) []peerAnswer {
	deadline := time.Now().Add(wait)
	got := map[p2pPeer]peerAnswer{}
	others := len(n.g.Validators) - 1
	for len(got) < others && time.Now().Before(deadline) && ctx.Err() == nil {
		for _, p := range net.Peers() {
			if _, ok := got[p]; ok {
				continue
			}
			addr, err := p2p.AddressFromPeerID(p)
			if err != nil {
				continue
			}
			if _, ok := n.g.ValidatorIndex(addr); !ok {
				continue
			}
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			rawF, err1 := net.Request(rctx, p, kindCheckpoints, binary.BigEndian.AppendUint64(nil, 0))
			rawS, err2 := net.Request(rctx, p, p2p.KindStatus, nil)
			cancel()
			if err1 != nil || err2 != nil {
				continue
			}
			final, _, err := decodeCheckpointsResponse(rawF)
			if err != nil {
				continue
			}
			heads, err := p2p.DecodeStatus(rawS)
			if err != nil || len(heads) != len(n.g.Validators) {
				continue
			}
			got[p] = peerAnswer{id: p, final: final, heads: heads}
			n.syncProg.update(func(sp *api.StateSync) {
				sp.Peers, sp.TargetEpoch = len(got), max(sp.TargetEpoch, final)
			})
		}
		if len(got) < others {
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	out := make([]peerAnswer, 0, len(got))
	for _, a := range got {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b peerAnswer) int { return int64Cmp(b.final, a.final) })
	return out
}

func int64Cmp(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// fetchState downloads and verifies epoch target's certified checkpoint
// and state from the peers that have it, one peer at a time.
func (n *Node) fetchState(ctx context.Context, net *p2p.Network, answers []peerAnswer, target uint64) (*VerifiedState, error) {
	var last error = errors.New("no peer has the target epoch")
	for _, a := range answers {
		if a.final < target {
			continue
		}
		v, err := n.fetchStateFrom(ctx, net, a.id, target)
		if err == nil {
			return v, nil
		}
		n.log.Warn("state sync from peer failed", "peer", a.id, "err", err)
		last = err
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	return nil, last
}

func (n *Node) fetchStateFrom(ctx context.Context, net *p2p.Network, p p2pPeer, target uint64) (*VerifiedState, error) {
	request := func(kind byte, payload []byte) ([]byte, error) {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return net.Request(rctx, p, kind, payload)
	}
	n.syncProg.update(func(sp *api.StateSync) {
		sp.Phase, sp.TargetEpoch, sp.Checkpoints, sp.Accounts, sp.Chunks, sp.Bytes = api.StateSyncCheckpoints, target, 0, 0, 0, 0
	})
	// The chain from the genesis, verified page by page.
	var prev *checkpoint.Header
	var last checkpoint.Certified
	for ep := uint64(1); ep <= target; {
		raw, err := request(kindCheckpoints, binary.BigEndian.AppendUint64(nil, ep))
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
		if err := checkpoint.VerifyChain(n.g, prev, page); err != nil {
			return nil, fmt.Errorf("chain from peer does not verify: %w", err)
		}
		last = page[len(page)-1]
		prev = &last.Header
		ep += uint64(len(page))
		n.syncProg.update(func(sp *api.StateSync) { sp.Checkpoints, sp.Bytes = ep-1, sp.Bytes+uint64(len(raw)) })
	}
	n.syncProg.update(func(sp *api.StateSync) { sp.Phase = api.StateSyncAccounts })
	// The accounts, in chunks, rebuilt into the trie; the root is compared
	// with the certified state_root at the end.
	b := newStateBuilder()
	var start ledger.Address
	lastLog := time.Now()
	for {
		raw, err := request(kindAccounts, append(binary.BigEndian.AppendUint64(nil, target), start[:]...))
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
			if i == 0 && b.count > 0 && a == b.last {
				return nil, errors.New("accounts response: repeats the previous chunk")
			}
			if err := b.add(a, acct); err != nil {
				return nil, err
			}
		}
		n.syncProg.update(func(sp *api.StateSync) {
			sp.Accounts, sp.Chunks, sp.Bytes = b.count, sp.Chunks+1, sp.Bytes+uint64(len(raw))
		})
		if time.Since(lastLog) >= 2*time.Second {
			lastLog = time.Now()
			p, _ := n.syncProg.get()
			n.log.Info("state sync progress", "target_epoch", target, "accounts", b.count, "chunks", p.Chunks, "bytes", p.Bytes)
		}
		if !more || count == 0 {
			break
		}
		var ok bool
		if start, ok = nextAddress(b.last); !ok {
			break
		}
	}
	if root := b.root(); root != last.Header.StateRoot {
		return nil, fmt.Errorf("accounts rebuild state root %s, certified %s", root, last.Header.StateRoot)
	}
	return &VerifiedState{Certified: last, Nodes: b.nodes, Accounts: b.count}, nil
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

// recoverOwnStream fetches this node's own entries after seq `after` that
// peers hold (the highest contiguous seq any answering peer delivered) and
// stores them, so the restored machine replays them and continues after
// them instead of reusing their seqs with other content.
func (n *Node) recoverOwnStream(ctx context.Context, net *p2p.Network, answers []peerAnswer, after uint64) error {
	var high uint64
	var from p2pPeer
	for _, a := range answers {
		if a.heads[n.self] > high {
			high, from = a.heads[n.self], a.id
		}
	}
	if high <= after {
		return nil
	}
	n.syncProg.update(func(sp *api.StateSync) { sp.Phase = api.StateSyncOwnStream })
	self := n.g.Validators[n.self].Address
	next := after + 1
	for next <= high {
		q := p2p.EntriesRequest{Origin: n.self, From: next, To: high, MaxBytes: p2p.MaxResponseBytes - 64<<10}
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		raw, err := net.Request(rctx, from, p2p.KindEntries, q.Encode())
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
			if e.Origin != n.self || e.Seq != next {
				return fmt.Errorf("recover own entries: got %d/%d, want %d/%d", e.Origin, e.Seq, n.self, next)
			}
			if err := e.Verify(n.g.ChainID, self); err != nil {
				return fmt.Errorf("recover own entry %d: %w", next, err)
			}
			if err := n.st.PutEntry(n.self, e.Seq, b); err != nil {
				return fmt.Errorf("store recovered own entry %d: %w", next, err)
			}
			next++
		}
	}
	n.log.Info("own stream recovered from peers", "from_seq", after+1, "to_seq", high)
	return n.st.Sync()
}
