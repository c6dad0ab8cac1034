package checkpoint

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// This file holds the general Chandy–Lamport engine: one Engine per node, a
// pure state machine in etcd raft's Step/Ready/Advance shape. It knows nodes
// only as NodeIDs and links only as the directed FIFO links given at
// construction; the recorded local state and the application messages are
// opaque bytes. The ledger epoch machine embeds it; the conformance harness in
// checkpoint/checkpointtest drives it over a copy of the COS 418 network model.

// NodeID identifies a node of the engine's network. The ledger uses the
// validator index; the conformance harness numbers node names in
// lexicographic order, so id order equals name order.
type NodeID uint32

// SnapshotID identifies one global snapshot. The ledger uses the epoch number.
type SnapshotID uint64

// MessageKind says whether a message on a link is an engine-owned marker or
// an application message that is opaque to the engine.
type MessageKind uint8

const (
	// MessageApp is an application message; its Payload is opaque.
	MessageApp MessageKind = iota + 1
	// MessageMarker is the Chandy–Lamport marker of snapshot Snapshot.
	MessageMarker
)

// String returns "app" or "marker".
func (k MessageKind) String() string {
	switch k {
	case MessageApp:
		return "app"
	case MessageMarker:
		return "marker"
	default:
		return fmt.Sprintf("MessageKind(%d)", uint8(k))
	}
}

// EngineMessage is one message on the directed FIFO link From→To.
type EngineMessage struct {
	From, To NodeID
	Kind     MessageKind
	// Snapshot is the snapshot a marker belongs to; zero for app messages.
	Snapshot SnapshotID
	// Payload is an app message's body; nil for markers. The engine copies it
	// when it records the message, so the caller may reuse the buffer.
	Payload []byte
}

// Recorder captures the embedder's local state. The engine calls RecordState
// exactly once per snapshot, synchronously inside StartSnapshot or Step, at
// the instant the node records: after every message stepped before and
// before any stepped after, and before the snapshot's markers are queued
// (record-before-send). The returned bytes become LocalSnapshot.State; the
// engine keeps them without copying. RecordState must not call the Engine.
type Recorder interface {
	RecordState(id SnapshotID) []byte
}

// RecorderFunc adapts a function to Recorder.
type RecorderFunc func(id SnapshotID) []byte

// RecordState calls f(id).
func (f RecorderFunc) RecordState(id SnapshotID) []byte { return f(id) }

// EngineConfig configures one node's Engine. Every bound is explicit.
type EngineConfig struct {
	// Self is this node.
	Self NodeID
	// Inbound lists the sources of the FIFO links into Self. Order does not
	// matter; no duplicates, not Self.
	Inbound []NodeID
	// Outbound lists the destinations of the FIFO links out of Self. Markers
	// go out in ascending id order. No duplicates, not Self.
	Outbound []NodeID
	// MaxSnapshotsInFlight bounds the snapshots the engine holds at once:
	// recorded here and not yet Released (complete or not). Recording one
	// more fails with ErrTooManySnapshots. It also bounds how many released
	// ids above the release floor are remembered. At least 1.
	MaxSnapshotsInFlight int
	// MaxRecordedMessages bounds the app messages one snapshot records over
	// all inbound links. Messages past it are still delivered but not
	// recorded; the snapshot reports them in LocalSnapshot.DroppedMessages.
	MaxRecordedMessages int
	// MaxRecordedBytes bounds the payload bytes one snapshot records, with
	// the same overflow rule as MaxRecordedMessages.
	MaxRecordedBytes int
	// MaxPayloadBytes bounds one app message's payload; a larger one is
	// rejected with ErrPayloadTooLarge. At most MaxRecordedBytes.
	MaxPayloadBytes int
	// MaxStateBytes bounds the state a Recorder returns; a larger one makes
	// the recording step fail with ErrStateTooLarge and change nothing.
	MaxStateBytes int
	// Recorder captures the local state when the node records. Nil records
	// an empty state (the embedder then keeps its own, keyed by
	// StepResult.Recorded).
	Recorder Recorder
}

// DefaultEngineConfig returns a config for self with the given links and
// moderate bounds: 16 snapshots in flight, 1<<16 recorded messages and 16 MiB
// of recorded payload per snapshot, 1 MiB per payload and per state.
func DefaultEngineConfig(self NodeID, inbound, outbound []NodeID) EngineConfig {
	return EngineConfig{
		Self:                 self,
		Inbound:              inbound,
		Outbound:             outbound,
		MaxSnapshotsInFlight: 16,
		MaxRecordedMessages:  1 << 16,
		MaxRecordedBytes:     16 << 20,
		MaxPayloadBytes:      1 << 20,
		MaxStateBytes:        1 << 20,
	}
}

// Errors returned by the engine. Match them with errors.Is; the returned
// errors wrap them with the identifiers involved.
var (
	ErrInvalidEngineConfig = errors.New("checkpoint: invalid engine config")
	ErrWrongNode           = errors.New("checkpoint: message addressed to another node")
	ErrUnknownLink         = errors.New("checkpoint: no inbound link from sender")
	ErrUnknownMessageKind  = errors.New("checkpoint: unknown message kind")
	ErrSnapshotExists      = errors.New("checkpoint: snapshot already recorded at this node")
	ErrSnapshotReleased    = errors.New("checkpoint: snapshot already released at this node")
	ErrUnknownSnapshot     = errors.New("checkpoint: snapshot not held at this node")
	ErrTooManySnapshots    = errors.New("checkpoint: too many snapshots in flight")
	ErrDuplicateMarker     = errors.New("checkpoint: second marker for one snapshot on one link (FIFO violated)")
	ErrPayloadTooLarge     = errors.New("checkpoint: app message payload too large")
	ErrStateTooLarge       = errors.New("checkpoint: recorded state too large")
	ErrSnapshotIncomplete  = errors.New("checkpoint: snapshot not complete at this node")
	ErrReadyPending        = errors.New("checkpoint: snapshot still has effects in an unadvanced Ready")
)

// RecordedMessage is one app message recorded in a snapshot's channel state.
type RecordedMessage struct {
	From    NodeID
	Payload []byte
}

// LocalSnapshot is this node's part of one global snapshot: the state it
// recorded and the channel state of each inbound link. It is a copy; the
// payload and state bytes are shared with the engine and must not be mutated.
type LocalSnapshot struct {
	ID SnapshotID
	// Initiated is true iff the snapshot was started here by StartSnapshot.
	Initiated bool
	// TriggerFrom is the link whose first marker made this node record; it
	// is meaningful only when Initiated is false. That link's channel state
	// is empty by the first-marker rule.
	TriggerFrom NodeID
	// State is what the Recorder returned when the node recorded.
	State []byte
	// Messages are the recorded app messages of all inbound links in arrival
	// order. Those of one link are that link's channel state.
	Messages []RecordedMessage
	// Waiting lists, ascending, the inbound links whose marker has not
	// arrived: the links still being recorded.
	Waiting []NodeID
	// Complete is true iff a marker arrived on every inbound link.
	Complete bool
	// DroppedMessages counts app messages that belonged in the channel state
	// but exceeded MaxRecordedMessages or MaxRecordedBytes. Non-zero means
	// Messages is a prefix of the true channel states.
	DroppedMessages int
}

// Channel returns the channel state of link from→Self: the recorded app
// messages from that link in arrival order.
func (s LocalSnapshot) Channel(from NodeID) []RecordedMessage {
	var out []RecordedMessage
	for _, m := range s.Messages {
		if m.From == from {
			out = append(out, m)
		}
	}
	return out
}

// StepResult tells the embedder what one StartSnapshot or Step did, so it can
// react at that instant without waiting for Ready.
type StepResult struct {
	// Recorded is the snapshot this step made the node record, if
	// HasRecorded. The Recorder has already been called; the snapshot's
	// markers are queued in Ready.
	Recorded    SnapshotID
	HasRecorded bool
	// Completed lists the snapshots this step completed at this node (at
	// most one).
	Completed []SnapshotID
	// RecordedIn lists, ascending, the snapshots whose channel state recorded
	// the app message this step delivered.
	RecordedIn []SnapshotID
	// Dropped lists, ascending, the snapshots that should have recorded the
	// app message but were full (see LocalSnapshot.DroppedMessages).
	Dropped []SnapshotID
}

// EngineReady holds the effects accumulated since the last Advance.
type EngineReady struct {
	// Messages are the markers to send, in order: per recorded snapshot in
	// recording order, one marker per outbound link in ascending destination
	// id. The embedder must put them on their links before any app message
	// it sends after the step that queued them (record-before-send).
	Messages []EngineMessage
	// Recorded lists the snapshots recorded, in recording order.
	Recorded []SnapshotID
	// Completed lists the snapshots completed at this node, in order.
	Completed []SnapshotID
}

// snapshotState is the engine's record of one held snapshot.
type snapshotState struct {
	id          SnapshotID
	initiated   bool
	triggerFrom NodeID
	state       []byte
	// markerSeen[i] is true iff the marker arrived on link inbound[i];
	// link i is being recorded iff it is false.
	markerSeen []bool
	// markersLeft counts the false entries of markerSeen.
	markersLeft   int
	messages      []RecordedMessage
	recordedBytes int
	dropped       int
}

// Engine is one node's Chandy–Lamport state machine. It is not safe for
// concurrent use; one goroutine owns it. It never blocks, allocates only
// within its config bounds, and uses no clock, randomness or I/O.
type Engine struct {
	cfg      EngineConfig
	inbound  []NodeID // sorted, unique
	outbound []NodeID // sorted, unique
	// held are the recorded, unreleased snapshots, ascending by id;
	// len(held) <= cfg.MaxSnapshotsInFlight.
	held []*snapshotState
	// Every id < releasedFloor has been released (or is treated so); released
	// holds, ascending, the released ids > releasedFloor; its length is at
	// most cfg.MaxSnapshotsInFlight.
	releasedFloor SnapshotID
	released      []SnapshotID
	pending       EngineReady
}

// Validate checks the config's bounds and links.
func (c EngineConfig) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidEngineConfig, fmt.Sprintf(format, args...))
	}
	for _, l := range []struct {
		name  string
		nodes []NodeID
	}{{"inbound", c.Inbound}, {"outbound", c.Outbound}} {
		sorted := slices.Sorted(slices.Values(l.nodes))
		for i, n := range sorted {
			if n == c.Self {
				return bad("%s link from node %d to itself", l.name, n)
			}
			if i > 0 && sorted[i-1] == n {
				return bad("duplicate %s link with node %d", l.name, n)
			}
		}
	}
	switch {
	case c.MaxSnapshotsInFlight < 1:
		return bad("MaxSnapshotsInFlight=%d, want >= 1", c.MaxSnapshotsInFlight)
	case c.MaxRecordedMessages < 1:
		return bad("MaxRecordedMessages=%d, want >= 1", c.MaxRecordedMessages)
	case c.MaxPayloadBytes < 0:
		return bad("MaxPayloadBytes=%d, want >= 0", c.MaxPayloadBytes)
	case c.MaxRecordedBytes < c.MaxPayloadBytes:
		return bad("MaxRecordedBytes=%d < MaxPayloadBytes=%d", c.MaxRecordedBytes, c.MaxPayloadBytes)
	case c.MaxStateBytes < 0:
		return bad("MaxStateBytes=%d, want >= 0", c.MaxStateBytes)
	}
	return nil
}

// NewEngine returns the engine of node cfg.Self. It copies the link lists.
func NewEngine(cfg EngineConfig) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Engine{
		cfg:      cfg,
		inbound:  slices.Sorted(slices.Values(cfg.Inbound)),
		outbound: slices.Sorted(slices.Values(cfg.Outbound)),
	}
	e.cfg.Inbound = slices.Clone(e.inbound)
	e.cfg.Outbound = slices.Clone(e.outbound)
	return e, nil
}

// Self returns this node's id.
func (e *Engine) Self() NodeID { return e.cfg.Self }

// Inbound returns the sources of the inbound links, ascending.
func (e *Engine) Inbound() []NodeID { return slices.Clone(e.inbound) }

// Outbound returns the destinations of the outbound links, ascending.
func (e *Engine) Outbound() []NodeID { return slices.Clone(e.outbound) }

// StartSnapshot starts snapshot id at this node (the marker sending rule):
// it records the local state through the Recorder, queues a marker on every
// outbound link and starts recording every inbound link. A node without
// inbound links completes the snapshot at once. On error nothing changes.
func (e *Engine) StartSnapshot(id SnapshotID) (StepResult, error) {
	if e.find(id) != nil {
		return StepResult{}, fmt.Errorf("%w: node %d snapshot %d", ErrSnapshotExists, e.cfg.Self, id)
	}
	if e.isReleased(id) {
		return StepResult{}, fmt.Errorf("%w: node %d snapshot %d", ErrSnapshotReleased, e.cfg.Self, id)
	}
	s, err := e.record(id, true, 0)
	if err != nil {
		return StepResult{}, err
	}
	res := StepResult{Recorded: id, HasRecorded: true}
	if s.markersLeft == 0 {
		e.complete(s, &res)
	}
	return res, nil
}

// Step delivers the message at the head of link m.From→Self. A marker
// follows the marker receiving rule: the first one of a snapshot makes the
// node record (that link's channel state is empty) and queue its markers; a
// later one stops recording its link. An app message is appended to the
// channel state of every held snapshot still recording its link. On error
// nothing changes and the message is not consumed.
func (e *Engine) Step(m EngineMessage) (StepResult, error) {
	if m.To != e.cfg.Self {
		return StepResult{}, fmt.Errorf("%w: message to %d stepped at node %d", ErrWrongNode, m.To, e.cfg.Self)
	}
	link, ok := slices.BinarySearch(e.inbound, m.From)
	if !ok {
		return StepResult{}, fmt.Errorf("%w: link %d->%d", ErrUnknownLink, m.From, e.cfg.Self)
	}
	switch m.Kind {
	case MessageMarker:
		return e.stepMarker(link, m)
	case MessageApp:
		return e.stepApp(link, m)
	default:
		return StepResult{}, fmt.Errorf("%w: %v on link %d->%d", ErrUnknownMessageKind, m.Kind, m.From, e.cfg.Self)
	}
}

func (e *Engine) stepMarker(link int, m EngineMessage) (StepResult, error) {
	var res StepResult
	s := e.find(m.Snapshot)
	switch {
	case s != nil && s.markerSeen[link]:
		return StepResult{}, fmt.Errorf("%w: snapshot %d link %d->%d", ErrDuplicateMarker, m.Snapshot, m.From, e.cfg.Self)
	case s == nil && e.isReleased(m.Snapshot):
		return StepResult{}, fmt.Errorf("%w: marker of snapshot %d on link %d->%d", ErrSnapshotReleased, m.Snapshot, m.From, e.cfg.Self)
	case s == nil:
		var err error
		if s, err = e.record(m.Snapshot, false, m.From); err != nil {
			return StepResult{}, err
		}
		res.Recorded, res.HasRecorded = m.Snapshot, true
	}
	s.markerSeen[link] = true
	s.markersLeft--
	if s.markersLeft == 0 {
		e.complete(s, &res)
	}
	return res, nil
}

// CloseLink stops recording link from→Self for snapshot id without a
// marker: the embedder has agreed that the link's sender is out of this
// snapshot (a validator that stopped, see docs/protocol.md). The link's
// channel state is what it recorded so far; the snapshot completes when
// this was its last open link. A link closed already, by a marker or by
// CloseLink, is an error (ErrDuplicateMarker), as is a snapshot this node
// does not hold. On error nothing changes.
func (e *Engine) CloseLink(id SnapshotID, from NodeID) (StepResult, error) {
	link, ok := slices.BinarySearch(e.inbound, from)
	if !ok {
		return StepResult{}, fmt.Errorf("%w: link %d->%d", ErrUnknownLink, from, e.cfg.Self)
	}
	s := e.find(id)
	if s == nil {
		return StepResult{}, fmt.Errorf("%w: node %d snapshot %d", ErrUnknownSnapshot, e.cfg.Self, id)
	}
	if s.markerSeen[link] {
		return StepResult{}, fmt.Errorf("%w: snapshot %d link %d->%d closed already", ErrDuplicateMarker, id, from, e.cfg.Self)
	}
	var res StepResult
	s.markerSeen[link] = true
	s.markersLeft--
	if s.markersLeft == 0 {
		e.complete(s, &res)
	}
	return res, nil
}

// LinkOpen reports whether snapshot id, held here, still records link
// from→Self (no marker and no CloseLink yet).
func (e *Engine) LinkOpen(id SnapshotID, from NodeID) bool {
	link, ok := slices.BinarySearch(e.inbound, from)
	s := e.find(id)
	return ok && s != nil && !s.markerSeen[link]
}

func (e *Engine) stepApp(link int, m EngineMessage) (StepResult, error) {
	if len(m.Payload) > e.cfg.MaxPayloadBytes {
		return StepResult{}, fmt.Errorf("%w: %d bytes on link %d->%d (limit %d)",
			ErrPayloadTooLarge, len(m.Payload), m.From, e.cfg.Self, e.cfg.MaxPayloadBytes)
	}
	var res StepResult
	var payload []byte // one copy shared by every snapshot that records it
	for _, s := range e.held {
		if s.markerSeen[link] {
			continue
		}
		if len(s.messages) >= e.cfg.MaxRecordedMessages || s.recordedBytes+len(m.Payload) > e.cfg.MaxRecordedBytes {
			s.dropped++
			res.Dropped = append(res.Dropped, s.id)
			continue
		}
		if payload == nil {
			payload = slices.Clone(m.Payload)
			if payload == nil {
				payload = []byte{}
			}
		}
		s.messages = append(s.messages, RecordedMessage{From: m.From, Payload: payload})
		s.recordedBytes += len(payload)
		res.RecordedIn = append(res.RecordedIn, s.id)
	}
	return res, nil
}

// record makes this node record snapshot id: it checks the bound, captures
// the state, holds the snapshot and queues its markers. It changes nothing
// when it fails.
func (e *Engine) record(id SnapshotID, initiated bool, from NodeID) (*snapshotState, error) {
	if len(e.held) >= e.cfg.MaxSnapshotsInFlight {
		return nil, fmt.Errorf("%w: node %d cannot record snapshot %d: %d held (limit %d); release completed ones",
			ErrTooManySnapshots, e.cfg.Self, id, len(e.held), e.cfg.MaxSnapshotsInFlight)
	}
	var state []byte
	if e.cfg.Recorder != nil {
		state = e.cfg.Recorder.RecordState(id)
	}
	if len(state) > e.cfg.MaxStateBytes {
		return nil, fmt.Errorf("%w: node %d snapshot %d: %d bytes (limit %d)",
			ErrStateTooLarge, e.cfg.Self, id, len(state), e.cfg.MaxStateBytes)
	}
	s := &snapshotState{
		id:          id,
		initiated:   initiated,
		triggerFrom: from,
		state:       state,
		markerSeen:  make([]bool, len(e.inbound)),
		markersLeft: len(e.inbound),
	}
	i, found := slices.BinarySearchFunc(e.held, id, cmpSnapshot)
	engineAssert(!found, "snapshot %d recorded twice", id)
	e.held = slices.Insert(e.held, i, s)
	for _, to := range e.outbound {
		e.pending.Messages = append(e.pending.Messages, EngineMessage{
			From: e.cfg.Self, To: to, Kind: MessageMarker, Snapshot: id,
		})
	}
	e.pending.Recorded = append(e.pending.Recorded, id)
	return s, nil
}

func (e *Engine) complete(s *snapshotState, res *StepResult) {
	engineAssert(s.markersLeft == 0, "snapshot %d completed with %d markers missing", s.id, s.markersLeft)
	e.pending.Completed = append(e.pending.Completed, s.id)
	res.Completed = append(res.Completed, s.id)
}

func cmpSnapshot(s *snapshotState, id SnapshotID) int {
	switch {
	case s.id < id:
		return -1
	case s.id > id:
		return 1
	}
	return 0
}

func (e *Engine) find(id SnapshotID) *snapshotState {
	i, ok := slices.BinarySearchFunc(e.held, id, cmpSnapshot)
	if !ok {
		return nil
	}
	return e.held[i]
}

func (e *Engine) isReleased(id SnapshotID) bool {
	if id < e.releasedFloor {
		return true
	}
	_, ok := slices.BinarySearch(e.released, id)
	return ok
}

// HasReady reports whether Ready has effects to hand out.
func (e *Engine) HasReady() bool {
	return len(e.pending.Messages) > 0 || len(e.pending.Recorded) > 0 || len(e.pending.Completed) > 0
}

// Ready returns the effects accumulated since the last Advance (copies).
// The embedder sends rd.Messages in order and then calls Advance(rd).
func (e *Engine) Ready() EngineReady {
	return EngineReady{
		Messages:  slices.Clone(e.pending.Messages),
		Recorded:  slices.Clone(e.pending.Recorded),
		Completed: slices.Clone(e.pending.Completed),
	}
}

// Advance acknowledges that the effects of rd, a value returned by Ready,
// have been carried out. Effects queued after that Ready call stay pending.
func (e *Engine) Advance(rd EngineReady) {
	e.pending.Messages = dropFront(e.pending.Messages, len(rd.Messages))
	e.pending.Recorded = dropFront(e.pending.Recorded, len(rd.Recorded))
	e.pending.Completed = dropFront(e.pending.Completed, len(rd.Completed))
}

func dropFront[T any](s []T, n int) []T {
	n = min(n, len(s))
	if n == len(s) {
		return s[:0]
	}
	return slices.Delete(s, 0, n)
}

// Snapshots returns the ids of the held snapshots, ascending.
func (e *Engine) Snapshots() []SnapshotID {
	ids := make([]SnapshotID, len(e.held))
	for i, s := range e.held {
		ids[i] = s.id
	}
	return ids
}

// Snapshot returns this node's part of snapshot id, if the engine holds it.
func (e *Engine) Snapshot(id SnapshotID) (LocalSnapshot, bool) {
	s := e.find(id)
	if s == nil {
		return LocalSnapshot{}, false
	}
	ls := LocalSnapshot{
		ID:              s.id,
		Initiated:       s.initiated,
		TriggerFrom:     s.triggerFrom,
		State:           s.state,
		Messages:        slices.Clone(s.messages),
		Complete:        s.markersLeft == 0,
		DroppedMessages: s.dropped,
	}
	for i, seen := range s.markerSeen {
		if !seen {
			ls.Waiting = append(ls.Waiting, e.inbound[i])
		}
	}
	return ls, true
}

// Release drops a completed snapshot's memory. Its id is remembered as
// released, so a late or replayed marker for it is rejected with
// ErrSnapshotReleased instead of starting it again. Released ids are kept
// compactly: a floor below which every id counts as released, plus at most
// MaxSnapshotsInFlight ids above it; past that the floor rises to the lowest
// remembered id. Embedders that number snapshots densely (ledger epochs,
// conformance ids) lose no precision.
func (e *Engine) Release(id SnapshotID) error {
	i, ok := slices.BinarySearchFunc(e.held, id, cmpSnapshot)
	if !ok {
		if e.isReleased(id) {
			return fmt.Errorf("%w: node %d snapshot %d", ErrSnapshotReleased, e.cfg.Self, id)
		}
		return fmt.Errorf("%w: node %d snapshot %d", ErrUnknownSnapshot, e.cfg.Self, id)
	}
	s := e.held[i]
	if s.markersLeft > 0 {
		return fmt.Errorf("%w: node %d snapshot %d waits for %d markers", ErrSnapshotIncomplete, e.cfg.Self, id, s.markersLeft)
	}
	if e.pendingMentions(id) {
		return fmt.Errorf("%w: node %d snapshot %d", ErrReadyPending, e.cfg.Self, id)
	}
	e.held = slices.Delete(e.held, i, i+1)
	if id < e.releasedFloor {
		return nil // a held id below a raised floor is already counted released
	}
	j, found := slices.BinarySearch(e.released, id)
	engineAssert(!found, "held snapshot %d also released", id)
	e.released = slices.Insert(e.released, j, id)
	for len(e.released) > 0 && e.released[0] == e.releasedFloor && e.releasedFloor < math.MaxUint64 {
		e.releasedFloor++
		e.released = e.released[1:]
	}
	for len(e.released) > e.cfg.MaxSnapshotsInFlight {
		// Forget precision: count everything up to the lowest as released.
		if e.released[0] == math.MaxUint64 {
			break
		}
		e.releasedFloor = e.released[0] + 1
		e.released = e.released[1:]
	}
	e.released = slices.Clip(e.released)
	return nil
}

func (e *Engine) pendingMentions(id SnapshotID) bool {
	for _, m := range e.pending.Messages {
		if m.Snapshot == id {
			return true
		}
	}
	return slices.Contains(e.pending.Recorded, id) || slices.Contains(e.pending.Completed, id)
}

// engineAssert panics when an internal invariant is broken; external input never
// reaches it.
func engineAssert(cond bool, format string, args ...any) {
	if !cond {
		panic(fmt.Sprintf("checkpoint: invariant violated: "+format, args...))
	}
}
