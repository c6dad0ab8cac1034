package conformance

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"slices"
	"strings"

	"github.com/ledgerd/ledgerd/checkpoint"
)

// This file reproduces the network model of the COS 418 Chandy–Lamport
// harness (README section 4) around one checkpoint.Engine per node: a global
// clock, per-link FIFO queues whose messages carry due times, one delivery
// per source node per tick in lexicographic source order, delays
// rnd.Intn(5)+1 drawn from math/rand v1 in exactly the order messages are
// sent, drain ticks at the end and a conservation check. Only the engine's
// markers cross the simulated network besides the script's tokens, and each
// delivery is handled synchronously, so the golden cuts come out exactly.

// DefaultSeed is the seed of the original harness.
const DefaultSeed int64 = 8053172852482175524

// maxDelay is the largest delay a message can draw: 1 + rnd.Intn(5).
const maxDelay = 5

// maxDrainTicks bounds the ticks run after the script waiting for every
// snapshot to complete, so a topology where some node never records (one not
// reachable from an initiator) ends with an error instead of looping.
const maxDrainTicks = 1_000_000

// ErrScript is wrapped by errors that a script causes at run time (unknown
// node, missing link, overdraft, snapshots that never complete).
var ErrScript = errors.New("conformance: script error")

// ErrConservation is returned when a snapshot's tokens do not add up.
var ErrConservation = errors.New("conformance: tokens not conserved")

type simMessage struct {
	msg checkpoint.EngineMessage
	due int64
}

type simLink struct {
	src, dst checkpoint.NodeID
	queue    []simMessage // FIFO; head at index 0
}

type simNode struct {
	name    string
	balance int64
	engine  *checkpoint.Engine
	out     []*simLink // ascending destination id == name order
}

// Sim is the simulated network of one conformance case. Create it with
// NewSim, feed it a script with Run, and read the snapshots with Snapshots.
type Sim struct {
	names     []string // sorted; NodeID i is names[i]
	ids       map[string]checkpoint.NodeID
	nodes     []*simNode
	links     map[[2]checkpoint.NodeID]*simLink
	rnd       *rand.Rand
	clock     int64
	snapshots int // snapshots started; ids 0..snapshots-1
	total     int64
	file      string // events file name, for errors
}

// NewSim builds the network of top with a fresh math/rand v1 source seeded
// with seed. maxSnapshots bounds the snapshots in flight at each engine.
func NewSim(top *Topology, seed int64, maxSnapshots int) (*Sim, error) {
	s := &Sim{
		ids:   map[string]checkpoint.NodeID{},
		links: map[[2]checkpoint.NodeID]*simLink{},
		rnd:   rand.New(rand.NewSource(seed)),
	}
	for _, n := range top.Nodes {
		s.names = append(s.names, n.Node)
		s.total += n.Tokens
	}
	slices.Sort(s.names)
	for i, name := range s.names {
		s.ids[name] = checkpoint.NodeID(i)
	}
	s.nodes = make([]*simNode, len(s.names))
	for i, name := range s.names {
		s.nodes[i] = &simNode{name: name}
	}
	for _, n := range top.Nodes {
		s.nodes[s.ids[n.Node]].balance = n.Tokens
	}
	inbound := make([][]checkpoint.NodeID, len(s.names))
	outbound := make([][]checkpoint.NodeID, len(s.names))
	for _, l := range top.Links {
		src, dst := s.ids[l.Src], s.ids[l.Dst]
		s.links[[2]checkpoint.NodeID{src, dst}] = &simLink{src: src, dst: dst}
		inbound[dst] = append(inbound[dst], src)
		outbound[src] = append(outbound[src], dst)
	}
	for i, n := range s.nodes {
		slices.Sort(outbound[i])
		for _, dst := range outbound[i] {
			n.out = append(n.out, s.links[[2]checkpoint.NodeID{checkpoint.NodeID(i), dst}])
		}
		cfg := checkpoint.DefaultEngineConfig(checkpoint.NodeID(i), inbound[i], outbound[i])
		cfg.MaxSnapshotsInFlight = max(maxSnapshots, 1)
		cfg.MaxPayloadBytes = 8
		cfg.MaxStateBytes = 8
		node := n
		cfg.Recorder = checkpoint.RecorderFunc(func(checkpoint.SnapshotID) []byte {
			return binary.BigEndian.AppendUint64(nil, uint64(node.balance))
		})
		eng, err := checkpoint.NewEngine(cfg)
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", n.name, err)
		}
		n.engine = eng
	}
	return s, nil
}

// Clock returns the simulated time.
func (s *Sim) Clock() int64 { return s.clock }

// Engine returns the engine of the named node.
func (s *Sim) Engine(name string) (*checkpoint.Engine, bool) {
	id, ok := s.ids[name]
	if !ok {
		return nil, false
	}
	return s.nodes[id].engine, true
}

func (s *Sim) scriptErr(line int, format string, args ...any) error {
	return fmt.Errorf("%w: %w", ErrScript, &ParseError{File: s.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// send puts m at the tail of its link with due time clock + 1 + rnd.Intn(5):
// the only place that draws from rnd.
func (s *Sim) send(m checkpoint.EngineMessage) {
	l := s.links[[2]checkpoint.NodeID{m.From, m.To}]
	due := s.clock + 1 + int64(s.rnd.Intn(maxDelay))
	l.queue = append(l.queue, simMessage{msg: m, due: due})
}

// flush sends the markers the node's engine queued, in the engine's order
// (ascending destination, one draw each), and advances the engine.
func (s *Sim) flush(n *simNode) {
	if !n.engine.HasReady() {
		return
	}
	rd := n.engine.Ready()
	for _, m := range rd.Messages {
		s.send(m)
	}
	n.engine.Advance(rd)
}

// Run executes the script lines in order. file names the events file in
// errors. It does not drain; call Drain after the last script.
func (s *Sim) Run(events []Event, file string) error {
	s.file = file
	for _, ev := range events {
		if err := s.apply(ev); err != nil {
			return err
		}
	}
	return nil
}

func (s *Sim) node(line int, name string) (*simNode, error) {
	id, ok := s.ids[name]
	if !ok {
		return nil, s.scriptErr(line, "unknown node %q", name)
	}
	return s.nodes[id], nil
}

func (s *Sim) apply(ev Event) error {
	switch ev.Kind {
	case EventSend:
		src, err := s.node(ev.Line, ev.Src)
		if err != nil {
			return err
		}
		if _, err := s.node(ev.Line, ev.Dst); err != nil {
			return err
		}
		srcID, dstID := s.ids[ev.Src], s.ids[ev.Dst]
		if s.links[[2]checkpoint.NodeID{srcID, dstID}] == nil {
			return s.scriptErr(ev.Line, "send %s %s: no link %s->%s in the topology", ev.Src, ev.Dst, ev.Src, ev.Dst)
		}
		if src.balance < ev.Tokens {
			return s.scriptErr(ev.Line, "send %s %s %d: %s holds only %d tokens", ev.Src, ev.Dst, ev.Tokens, ev.Src, src.balance)
		}
		src.balance -= ev.Tokens
		s.send(checkpoint.EngineMessage{
			From: srcID, To: dstID, Kind: checkpoint.MessageApp,
			Payload: binary.BigEndian.AppendUint64(nil, uint64(ev.Tokens)),
		})
	case EventSnapshot:
		n, err := s.node(ev.Line, ev.Src)
		if err != nil {
			return err
		}
		id := checkpoint.SnapshotID(s.snapshots)
		if _, err := n.engine.StartSnapshot(id); err != nil {
			return s.scriptErr(ev.Line, "snapshot %s: %v", ev.Src, err)
		}
		s.snapshots++
		s.flush(n)
	case EventTick:
		for range ev.Ticks {
			if err := s.Tick(); err != nil {
				return fmt.Errorf("%s:%d: %w", s.file, ev.Line, err)
			}
		}
	default:
		return s.scriptErr(ev.Line, "unknown event kind %d", ev.Kind)
	}
	return nil
}

// Tick advances the clock by one and then lets each source node, in name
// order, deliver the head of its first outbound link (in destination name
// order) whose head is due.
func (s *Sim) Tick() error {
	s.clock++
	for _, n := range s.nodes {
		for _, l := range n.out {
			if len(l.queue) == 0 || l.queue[0].due > s.clock {
				continue
			}
			m := l.queue[0].msg
			l.queue = slices.Delete(l.queue, 0, 1)
			if err := s.deliver(m); err != nil {
				return err
			}
			break
		}
	}
	return nil
}

func (s *Sim) deliver(m checkpoint.EngineMessage) error {
	dst := s.nodes[m.To]
	if m.Kind == checkpoint.MessageApp {
		dst.balance += int64(binary.BigEndian.Uint64(m.Payload))
	}
	res, err := dst.engine.Step(m)
	if err != nil {
		return fmt.Errorf("node %s at t=%d: %w", dst.name, s.clock, err)
	}
	if len(res.Dropped) > 0 {
		return fmt.Errorf("node %s at t=%d: snapshots %v overflowed their recording bound", dst.name, s.clock, res.Dropped)
	}
	s.flush(dst)
	return nil
}

// complete reports whether every started snapshot is complete at every node.
func (s *Sim) complete() bool {
	for id := range s.snapshots {
		for _, n := range s.nodes {
			ls, ok := n.engine.Snapshot(checkpoint.SnapshotID(id))
			if !ok || !ls.Complete {
				return false
			}
		}
	}
	return true
}

// Drain ticks until every snapshot is complete at every node, then
// maxDelay+1 more ticks so in-flight tokens arrive, as the original harness.
func (s *Sim) Drain() error {
	for i := 0; !s.complete(); i++ {
		if i == maxDrainTicks {
			return fmt.Errorf("%w: snapshots still incomplete after %d drain ticks (is every node reachable from the initiators?)", ErrScript, maxDrainTicks)
		}
		if err := s.Tick(); err != nil {
			return err
		}
	}
	for range maxDelay + 1 {
		if err := s.Tick(); err != nil {
			return err
		}
	}
	return nil
}

// Snapshots collects every started snapshot, ascending by id: each node's
// recorded balance and every node's recorded messages, grouped by
// destination in name order and in arrival order within one destination.
func (s *Sim) Snapshots() ([]GlobalSnapshot, error) {
	out := make([]GlobalSnapshot, 0, s.snapshots)
	for id := range s.snapshots {
		g := GlobalSnapshot{ID: uint64(id)}
		for _, n := range s.nodes {
			ls, ok := n.engine.Snapshot(checkpoint.SnapshotID(id))
			if !ok || !ls.Complete {
				return nil, fmt.Errorf("%w: snapshot %d incomplete at node %s", ErrScript, id, n.name)
			}
			g.Balances = append(g.Balances, NodeTokens{Node: n.name, Tokens: int64(binary.BigEndian.Uint64(ls.State))})
			for _, m := range ls.Messages {
				g.Messages = append(g.Messages, SnapMessage{
					Src: s.names[m.From], Dst: n.name, Tokens: int64(binary.BigEndian.Uint64(m.Payload)),
				})
			}
		}
		out = append(out, g)
	}
	return out, nil
}

// CheckConservation checks README section 7.2: each snapshot's balances plus
// recorded tokens equal the sum of final balances, which must also equal the
// topology's initial total (no token left in flight).
func (s *Sim) CheckConservation(snaps []GlobalSnapshot) error {
	var final int64
	for _, n := range s.nodes {
		final += n.balance
	}
	if final != s.total {
		return fmt.Errorf("%w: final balances sum to %d, initial total %d (tokens still in flight after drain)", ErrConservation, final, s.total)
	}
	for _, g := range snaps {
		var sum int64
		for _, b := range g.Balances {
			sum += b.Tokens
		}
		for _, m := range g.Messages {
			sum += m.Tokens
		}
		if sum != final {
			return fmt.Errorf("%w: snapshot %d holds %d tokens, final balances sum to %d", ErrConservation, g.ID, sum, final)
		}
	}
	return nil
}

// SimulateFiles parses the topology and script files and runs one case:
// script, drain, conservation. It returns the snapshots ascending by id.
func SimulateFiles(topPath, eventsPath string, seed int64) ([]GlobalSnapshot, error) {
	top, err := parseFile(topPath, ParseTopology)
	if err != nil {
		return nil, err
	}
	events, err := parseFile(eventsPath, ParseEvents)
	if err != nil {
		return nil, err
	}
	return Simulate(top, events, eventsPath, seed)
}

// Simulate runs one case from parsed input; eventsFile names the script in
// errors.
func Simulate(top *Topology, events []Event, eventsFile string, seed int64) ([]GlobalSnapshot, error) {
	snapshotLines := 0
	for _, ev := range events {
		if ev.Kind == EventSnapshot {
			snapshotLines++
		}
	}
	sim, err := NewSim(top, seed, snapshotLines)
	if err != nil {
		return nil, err
	}
	if err := sim.Run(events, eventsFile); err != nil {
		return nil, err
	}
	if err := sim.Drain(); err != nil {
		return nil, fmt.Errorf("%s: %w", eventsFile, err)
	}
	snaps, err := sim.Snapshots()
	if err != nil {
		return nil, err
	}
	if err := sim.CheckConservation(snaps); err != nil {
		return nil, err
	}
	return snaps, nil
}

func parseFile[T any](path string, parse func(io.Reader, string) (T, error)) (T, error) {
	var zero T
	f, err := os.Open(path)
	if err != nil {
		return zero, err
	}
	defer f.Close()
	return parse(f, path)
}

// RunSnapshotSim runs one topology + event script and writes every snapshot in the
// suite's .snap format, concatenated in id order: the id line, then "<node> <tokens>"
// lines sorted by node name, then "<src> <dst> token(<k>)" lines grouped by destination
// in arrival order. Default seed 8053172852482175524.
func RunSnapshotSim(topPath, eventsPath string, seed int64, w io.Writer) error {
	snaps, err := SimulateFiles(topPath, eventsPath, seed)
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, g := range snaps {
		if err := WriteSnapshot(&b, g); err != nil {
			return err
		}
	}
	_, err = io.WriteString(w, b.String())
	return err
}
