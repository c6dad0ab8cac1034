package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd/checkpoint/stream"
	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/node/api"
	"github.com/ledgerd/ledgerd/node/statesync"
	"github.com/ledgerd/ledgerd/p2p"
)

// hub is an in-process network: every published entry and vote reaches every
// other node that has started, in publish order, through unbounded per-node
// pumps. The hub keeps every published entry, so a node that starts (or
// starts again) at some position gets each stream from there, and it
// answers p2p's own requests (entries, stream heads) from that log as a
// peer holding everything would. Requests of other kinds go to the target's
// handlers, in the caller's goroutine. The real transport's ordering and
// repair are p2p's job and tested there.
type hub struct {
	ctx   context.Context
	mu    sync.Mutex
	log   [][]stream.Entry // by origin; [i] has seq i+1
	nodes []*hubNet
}

type hubNet struct {
	h        *hub
	self     uint32
	entries  chan stream.Entry
	votes    chan []byte
	mu       sync.Mutex
	handlers map[byte]statesync.Handler
	started  bool
	qe       []stream.Entry
	qv       [][]byte
	wake     chan struct{}
}

var _ Network = (*hubNet)(nil)

func newHub(n int, ctx context.Context) *hub {
	h := &hub{ctx: ctx, log: make([][]stream.Entry, n)}
	for i := 0; i < n; i++ {
		hn := &hubNet{h: h, self: uint32(i), entries: make(chan stream.Entry), votes: make(chan []byte),
			wake: make(chan struct{}, 1), handlers: map[byte]statesync.Handler{}}
		h.nodes = append(h.nodes, hn)
		go hn.pump(ctx)
	}
	return h
}

func (hn *hubNet) pump(ctx context.Context) {
	for {
		hn.mu.Lock()
		var e *stream.Entry
		var v []byte
		if len(hn.qe) > 0 {
			e = &hn.qe[0]
		} else if len(hn.qv) > 0 {
			v = hn.qv[0]
		}
		hn.mu.Unlock()
		switch {
		case e != nil:
			select {
			case hn.entries <- *e:
				hn.mu.Lock()
				hn.qe = hn.qe[1:]
				hn.mu.Unlock()
			case <-ctx.Done():
				return
			}
		case v != nil:
			select {
			case hn.votes <- v:
				hn.mu.Lock()
				hn.qv = hn.qv[1:]
				hn.mu.Unlock()
			case <-ctx.Done():
				return
			}
		default:
			select {
			case <-hn.wake:
			case <-ctx.Done():
				return
			}
		}
	}
}

func (hn *hubNet) push(e *stream.Entry, v []byte) {
	hn.mu.Lock()
	if !hn.started {
		hn.mu.Unlock()
		return
	}
	if e != nil {
		hn.qe = append(hn.qe, *e)
	} else {
		hn.qv = append(hn.qv, v)
	}
	hn.mu.Unlock()
	select {
	case hn.wake <- struct{}{}:
	default:
	}
}

func (hn *hubNet) Publish(e stream.Entry) error {
	h := hn.h
	h.mu.Lock()
	l := &h.log[e.Origin]
	switch {
	case e.Seq == uint64(len(*l))+1:
		*l = append(*l, e)
	case e.Seq > uint64(len(*l))+1:
		h.mu.Unlock()
		return fmt.Errorf("hub: entry %d/%d after %d", e.Origin, e.Seq, len(*l))
	}
	h.mu.Unlock()
	for _, o := range h.nodes {
		if o.self != hn.self {
			o.push(&e, nil)
		}
	}
	return nil
}

func (hn *hubNet) PublishVote(data []byte) error {
	for _, o := range hn.h.nodes {
		if o.self != hn.self {
			o.push(nil, data)
		}
	}
	return nil
}

// Start queues every other origin's logged entries from start on, then the
// live ones.
func (hn *hubNet) Start(start []stream.OriginStart) error {
	if len(start) != len(hn.h.nodes) {
		return fmt.Errorf("hub: %d start positions for %d nodes", len(start), len(hn.h.nodes))
	}
	hn.h.mu.Lock()
	defer hn.h.mu.Unlock()
	hn.mu.Lock()
	defer hn.mu.Unlock()
	hn.qe, hn.started = nil, true
	for k, l := range hn.h.log {
		if uint32(k) == hn.self {
			continue
		}
		next := max(start[k].NextSeq, 1)
		if next <= uint64(len(l)) {
			hn.qe = append(hn.qe, l[next-1:]...)
		}
	}
	select {
	case hn.wake <- struct{}{}:
	default:
	}
	return nil
}

func (hn *hubNet) Deliveries() <-chan stream.Entry { return hn.entries }
func (hn *hubNet) Votes() <-chan []byte            { return hn.votes }

// Validators are the other nodes that serve requests (their node opened).
func (hn *hubNet) Validators() []uint32 {
	var out []uint32
	for _, o := range hn.h.nodes {
		o.mu.Lock()
		serving := len(o.handlers) > 0
		o.mu.Unlock()
		if o.self != hn.self && serving && hn.h.ctx.Err() == nil {
			out = append(out, o.self)
		}
	}
	return out
}

// Handle serves kind; a node opened again on the same hub replaces its
// handlers.
func (hn *hubNet) Handle(kind byte, h statesync.Handler) error {
	hn.mu.Lock()
	defer hn.mu.Unlock()
	hn.handlers[kind] = h
	return nil
}

func (hn *hubNet) Request(ctx context.Context, to uint32, kind byte, payload []byte) ([]byte, error) {
	if int(to) >= len(hn.h.nodes) || !slices.Contains(hn.Validators(), to) {
		return nil, fmt.Errorf("hub: validator %d is not connected", to)
	}
	switch kind {
	case p2p.KindStatus:
		return hn.h.status(to), nil
	case p2p.KindEntries:
		q, err := p2p.DecodeEntriesRequest(payload)
		if err != nil {
			return nil, err
		}
		return hn.h.entriesOf(q), nil
	}
	target := hn.h.nodes[to]
	target.mu.Lock()
	h := target.handlers[kind]
	target.mu.Unlock()
	if h == nil {
		return nil, errors.New("hub: unknown request kind")
	}
	return h(ctx, int(hn.self), payload)
}

// status is the heads a node holding the whole log reports.
func (h *hub) status(uint32) []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	heads := make([]uint64, len(h.log))
	for k, l := range h.log {
		heads[k] = uint64(len(l))
	}
	return p2p.EncodeStatus(heads)
}

func (h *hub) entriesOf(q p2p.EntriesRequest) []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	var list [][]byte
	l := h.log[q.Origin]
	for seq := q.From; seq <= q.To && seq <= uint64(len(l)); seq++ {
		list = append(list, l[seq-1].Encode())
	}
	return stream.EncodeList(list)
}

// testProbeWait is the start-up probe's wait in tests: nodes open one
// after another, so the first ones find nobody to ask.
const testProbeWait = 100 * time.Millisecond

// open loads the genesis, key and store, joins the network, runs the
// start-up state sync and restores the validator (tests; Run uses openCtx).
func open(cfg Config, opts Options) (*Node, error) {
	return openCtx(context.Background(), cfg, opts)
}

// submitRetry submits tx through n's API backend, retrying while the node
// refuses for lack of room: a loaded machine runs an epoch or two behind,
// and the lag rule refuses, as it should, until it catches up.
func submitRetry(t *testing.T, n *Node, tx ledger.Tx, deadline time.Time) ledger.Hash {
	t.Helper()
	for {
		h, err := (backend{n}).SubmitTx(context.Background(), tx.Encode())
		if err == nil {
			return h
		}
		if !errors.Is(err, api.ErrMempoolFull) || time.Now().After(deadline) {
			t.Fatalf("submit %s: %v", tx.Hash(), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
