package checkpoint

import (
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

var engineSeed = flag.Uint64("engine.seed", 0, "run TestEngineProperties with this seed only")

// TestEngineProperties drives engines over random strongly connected
// topologies with random FIFO schedules: random token transfers, snapshots
// started at random nodes (several in flight), and deliveries on random
// links. Independently of the engine, the test logs for each message whether
// its sender had recorded each snapshot when it sent it, and whether its
// receiver had recorded when it arrived. When a snapshot completes at every
// node it checks:
//   - conservation: recorded balances plus recorded tokens equal the supply;
//   - cut consistency: a recorded message was sent before its sender recorded
//     and received after its receiver recorded; no message received before
//     the receiver's cut was sent after the sender's;
//   - exactness: the channel states hold exactly the messages sent before
//     the sender's cut and received after the receiver's, in link order;
//
// then releases the snapshot at every node. Failures print the seed.
func TestEngineProperties(t *testing.T) {
	seeds := []uint64{*engineSeed}
	if *engineSeed == 0 {
		n := 300
		if testing.Short() {
			n = 60
		}
		seeds = seeds[:0]
		for i := range n {
			seeds = append(seeds, uint64(i+1))
		}
	}
	for _, seed := range seeds {
		if err := runEngineProperty(seed); err != nil {
			t.Fatalf("seed=%d: %v\nreproduce: go test ./checkpoint -run TestEngineProperties -engine.seed=%d", seed, err, seed)
		}
	}
}

type propMessage struct {
	EngineMessage
	id     uint64 // app messages: index into propNet.sent
	amount uint64
}

type propSent struct {
	from, to NodeID
	amount   uint64
	// sentAfter[s]: the sender had recorded s when it sent (snapshots
	// started later are absent: the message precedes their cut).
	sentAfter map[SnapshotID]bool
	// recvAfter[s]: the receiver had recorded s when it arrived.
	recvAfter map[SnapshotID]bool
	delivered bool
}

type propNet struct {
	rnd      *rand.Rand
	engines  []*Engine
	balances []uint64
	links    map[[2]NodeID][]propMessage
	linkKeys [][2]NodeID // sorted, for deterministic choice
	sent     []*propSent
	supply   uint64
	started  []SnapshotID // started and not yet released
	next     SnapshotID
	bound    int // MaxSnapshotsInFlight of every engine
}

func runEngineProperty(seed uint64) error {
	rnd := rand.New(rand.NewPCG(seed, 0x5eed))
	n := 2 + rnd.IntN(6)
	edges := map[[2]NodeID]bool{}
	for i := range n { // a ring keeps the graph strongly connected
		edges[[2]NodeID{NodeID(i), NodeID((i + 1) % n)}] = true
	}
	for range rnd.IntN(n * n) {
		a, b := NodeID(rnd.IntN(n)), NodeID(rnd.IntN(n))
		if a != b {
			edges[[2]NodeID{a, b}] = true
		}
	}
	net := &propNet{rnd: rnd, links: map[[2]NodeID][]propMessage{}, bound: 1 + rnd.IntN(4)}
	net.balances = make([]uint64, n)
	in := make([][]NodeID, n)
	out := make([][]NodeID, n)
	for e := range edges {
		net.linkKeys = append(net.linkKeys, e)
		in[e[1]] = append(in[e[1]], e[0])
		out[e[0]] = append(out[e[0]], e[1])
	}
	slices.SortFunc(net.linkKeys, func(a, b [2]NodeID) int {
		if a[0] != b[0] {
			return int(a[0]) - int(b[0])
		}
		return int(a[1]) - int(b[1])
	})
	for i := range n {
		net.balances[i] = uint64(rnd.IntN(50))
		net.supply += net.balances[i]
		cfg := DefaultEngineConfig(NodeID(i), in[i], out[i])
		cfg.MaxSnapshotsInFlight = net.bound
		node := i
		cfg.Recorder = RecorderFunc(func(SnapshotID) []byte {
			return binary.BigEndian.AppendUint64(nil, net.balances[node])
		})
		eng, err := NewEngine(cfg)
		if err != nil {
			return err
		}
		net.engines = append(net.engines, eng)
	}
	steps := 200 + rnd.IntN(800)
	snapshotWeight := 1 + rnd.IntN(10) // swarm: each seed picks its mix
	sendWeight := 5 + rnd.IntN(30)
	for range steps {
		var err error
		switch r := rnd.IntN(snapshotWeight + sendWeight + 40); {
		case r < snapshotWeight:
			err = net.startSnapshot()
		case r < snapshotWeight+sendWeight:
			net.send()
		default:
			err = net.deliverRandom()
		}
		if err != nil {
			return err
		}
	}
	for net.pending() > 0 { // drain
		if err := net.deliverRandom(); err != nil {
			return err
		}
	}
	if len(net.started) != 0 {
		return fmt.Errorf("snapshots %v never completed", net.started)
	}
	return nil
}

func (p *propNet) pending() int {
	total := 0
	for _, q := range p.links {
		total += len(q)
	}
	return total
}

// flush puts the markers node n's engine queued on their links.
func (p *propNet) flush(n NodeID) {
	e := p.engines[n]
	if !e.HasReady() {
		return
	}
	rd := e.Ready()
	for _, m := range rd.Messages {
		k := [2]NodeID{m.From, m.To}
		p.links[k] = append(p.links[k], propMessage{EngineMessage: m})
	}
	e.Advance(rd)
}

func (p *propNet) recordedAt(n NodeID, s SnapshotID) bool {
	_, ok := p.engines[n].Snapshot(s)
	return ok
}

func (p *propNet) startSnapshot() error {
	if len(p.started) >= p.bound {
		return nil
	}
	id := p.next
	p.next += SnapshotID(1 + p.rnd.IntN(2)) // ids need not be dense
	n := NodeID(p.rnd.IntN(len(p.engines)))
	if _, err := p.engines[n].StartSnapshot(id); err != nil {
		return fmt.Errorf("StartSnapshot(%d) at %d: %w", id, n, err)
	}
	p.started = append(p.started, id)
	p.flush(n)
	return p.checkDone(id)
}

func (p *propNet) send() {
	k := p.linkKeys[p.rnd.IntN(len(p.linkKeys))]
	from := k[0]
	if p.balances[from] == 0 {
		return
	}
	amount := 1 + uint64(p.rnd.IntN(int(p.balances[from])))
	p.balances[from] -= amount
	ps := &propSent{from: from, to: k[1], amount: amount, sentAfter: map[SnapshotID]bool{}, recvAfter: map[SnapshotID]bool{}}
	for _, s := range p.started {
		ps.sentAfter[s] = p.recordedAt(from, s)
	}
	p.sent = append(p.sent, ps)
	id := uint64(len(p.sent) - 1)
	p.links[k] = append(p.links[k], propMessage{
		EngineMessage: EngineMessage{From: from, To: k[1], Kind: MessageApp, Payload: binary.BigEndian.AppendUint64(nil, id)},
		id:            id, amount: amount,
	})
}

func (p *propNet) deliverRandom() error {
	var busy [][2]NodeID
	for _, k := range p.linkKeys {
		if len(p.links[k]) > 0 {
			busy = append(busy, k)
		}
	}
	if len(busy) == 0 {
		return nil
	}
	k := busy[p.rnd.IntN(len(busy))]
	m := p.links[k][0]
	p.links[k] = p.links[k][1:]
	to := m.To
	if m.Kind == MessageApp {
		ps := p.sent[m.id]
		for _, s := range p.started {
			ps.recvAfter[s] = p.recordedAt(to, s)
		}
		ps.delivered = true
		p.balances[to] += m.amount
	}
	res, err := p.engines[to].Step(m.EngineMessage)
	if err != nil {
		return fmt.Errorf("Step(%+v): %w", m.EngineMessage, err)
	}
	if m.Kind == MessageApp {
		ps := p.sent[m.id]
		var want []SnapshotID
		for _, s := range p.started {
			if ps.recvAfter[s] && !ps.sentAfter[s] {
				want = append(want, s)
			}
		}
		slices.Sort(want)
		if !slices.Equal(res.RecordedIn, want) {
			return fmt.Errorf("message %d %d->%d recorded in %v; want %v", m.id, ps.from, ps.to, res.RecordedIn, want)
		}
	}
	p.flush(to)
	for _, s := range slices.Clone(p.started) {
		if err := p.checkDone(s); err != nil {
			return err
		}
	}
	return nil
}

// checkDone checks snapshot s once it is complete at every node, then
// releases it everywhere.
func (p *propNet) checkDone(s SnapshotID) error {
	var locals []LocalSnapshot
	for _, e := range p.engines {
		ls, ok := e.Snapshot(s)
		if !ok || !ls.Complete {
			return nil
		}
		locals = append(locals, ls)
	}
	total := uint64(0)
	for n, ls := range locals {
		total += binary.BigEndian.Uint64(ls.State)
		seen := map[uint64]bool{}
		for _, rm := range ls.Messages {
			id := binary.BigEndian.Uint64(rm.Payload)
			ps := p.sent[id]
			if ps.to != NodeID(n) || ps.from != rm.From {
				return fmt.Errorf("snapshot %d at %d: recorded message %d of link %d->%d on link %d->%d", s, n, id, ps.from, ps.to, rm.From, n)
			}
			if ps.sentAfter[s] || !ps.recvAfter[s] {
				return fmt.Errorf("snapshot %d: recorded message %d %d->%d sentAfter=%v recvAfter=%v (cut inconsistent)", s, id, ps.from, ps.to, ps.sentAfter[s], ps.recvAfter[s])
			}
			seen[id] = true
			total += ps.amount
		}
		var wantIDs, gotIDs []uint64
		for id, ps := range p.sent {
			if ps.to == NodeID(n) && ps.delivered && !ps.sentAfter[s] && ps.recvAfter[s] {
				wantIDs = append(wantIDs, uint64(id))
			}
		}
		for _, rm := range ls.Messages {
			gotIDs = append(gotIDs, binary.BigEndian.Uint64(rm.Payload))
		}
		slices.Sort(gotIDs) // per link, ids grow with send order
		if !slices.Equal(gotIDs, wantIDs) {
			return fmt.Errorf("snapshot %d at %d: channel states hold %v; want %v", s, n, gotIDs, wantIDs)
		}
		for _, from := range p.engines[n].Inbound() {
			ch := ls.Channel(from)
			for i := 1; i < len(ch); i++ {
				if binary.BigEndian.Uint64(ch[i-1].Payload) >= binary.BigEndian.Uint64(ch[i].Payload) {
					return fmt.Errorf("snapshot %d: channel %d->%d out of FIFO order", s, from, n)
				}
			}
		}
	}
	for id, ps := range p.sent {
		// Consistency: received before the receiver's cut => sent before the sender's.
		if ps.delivered && !ps.recvAfter[s] && ps.sentAfter[s] {
			return fmt.Errorf("snapshot %d: message %d %d->%d received before the cut but sent after it", s, id, ps.from, ps.to)
		}
	}
	if total != p.supply {
		return fmt.Errorf("snapshot %d holds %d tokens; supply %d", s, total, p.supply)
	}
	for n, e := range p.engines {
		if err := e.Release(s); err != nil {
			return fmt.Errorf("Release(%d) at %d: %w", s, n, err)
		}
	}
	p.started = slices.DeleteFunc(p.started, func(x SnapshotID) bool { return x == s })
	return nil
}
