package checkpoint

import (
	"errors"
	"slices"
	"testing"
)

// These tests follow the rules of Chandy and Lamport, "Distributed
// Snapshots: Determining Global States of Distributed Systems" (1985),
// section 3.2, in the style of raft_paper_test.go: each sets up one node's
// engine, steps it and checks the effects.

// testEngine builds node self with the given links; its recorder returns
// *state and counts calls.
type testEngine struct {
	*Engine
	state   []byte
	records []SnapshotID
	// readyAtRecord[i] is HasReady() when the i-th record happened.
	readyAtRecord []bool
}

func newTestEngine(t *testing.T, self NodeID, in, out []NodeID, tweak func(*EngineConfig)) *testEngine {
	t.Helper()
	te := &testEngine{state: []byte("s0")}
	cfg := DefaultEngineConfig(self, in, out)
	cfg.Recorder = RecorderFunc(func(id SnapshotID) []byte {
		te.records = append(te.records, id)
		te.readyAtRecord = append(te.readyAtRecord, te.Engine != nil && te.HasReady())
		return slices.Clone(te.state)
	})
	if tweak != nil {
		tweak(&cfg)
	}
	e, err := NewEngine(cfg)
	if err != nil {
		t.Fatalf("NewEngine: %v", err)
	}
	te.Engine = e
	return te
}

func marker(from, to NodeID, id SnapshotID) EngineMessage {
	return EngineMessage{From: from, To: to, Kind: MessageMarker, Snapshot: id}
}

func app(from, to NodeID, payload string) EngineMessage {
	return EngineMessage{From: from, To: to, Kind: MessageApp, Payload: []byte(payload)}
}

func mustStep(t *testing.T, e *testEngine, m EngineMessage) StepResult {
	t.Helper()
	res, err := e.Step(m)
	if err != nil {
		t.Fatalf("Step(%+v): %v", m, err)
	}
	return res
}

func mustSnapshot(t *testing.T, e *testEngine, id SnapshotID) LocalSnapshot {
	t.Helper()
	ls, ok := e.Snapshot(id)
	if !ok {
		t.Fatalf("Snapshot(%d) not held", id)
	}
	return ls
}

func payloads(ms []RecordedMessage) []string {
	var out []string
	for _, m := range ms {
		out = append(out, string(m.Payload))
	}
	return out
}

func markerDests(rd EngineReady) []NodeID {
	var out []NodeID
	for _, m := range rd.Messages {
		out = append(out, m.To)
	}
	return out
}

// TestMarkerSendingRule: "for each channel c, incident on, and directed away
// from p: p sends one marker along c after p records its state and before p
// sends further messages along c." StartSnapshot records first (no marker is
// queued when the Recorder runs), then queues one marker per outbound link in
// ascending destination order, and starts recording every inbound link.
func TestMarkerSendingRule(t *testing.T) {
	e := newTestEngine(t, 5, []NodeID{9, 1, 3}, []NodeID{7, 2, 4}, nil)
	res, err := e.StartSnapshot(11)
	if err != nil {
		t.Fatal(err)
	}
	if !res.HasRecorded || res.Recorded != 11 || len(res.Completed) != 0 {
		t.Fatalf("StartSnapshot result = %+v; want recorded 11, not complete", res)
	}
	if !slices.Equal(e.records, []SnapshotID{11}) || e.readyAtRecord[0] {
		t.Fatalf("records = %v, ready at record = %v; want one record before any marker", e.records, e.readyAtRecord)
	}
	rd := e.Ready()
	if got, want := markerDests(rd), []NodeID{2, 4, 7}; !slices.Equal(got, want) {
		t.Fatalf("marker destinations = %v; want %v", got, want)
	}
	for _, m := range rd.Messages {
		if m.Kind != MessageMarker || m.From != 5 || m.Snapshot != 11 || m.Payload != nil {
			t.Fatalf("marker = %+v; want a marker of snapshot 11 from 5", m)
		}
	}
	if !slices.Equal(rd.Recorded, []SnapshotID{11}) || len(rd.Completed) != 0 {
		t.Fatalf("Ready = %+v", rd)
	}
	ls := mustSnapshot(t, e, 11)
	if !ls.Initiated || string(ls.State) != "s0" || !slices.Equal(ls.Waiting, []NodeID{1, 3, 9}) || ls.Complete {
		t.Fatalf("snapshot = %+v; want initiated, state s0, waiting on 1,3,9", ls)
	}
	e.Advance(rd)
	if e.HasReady() {
		t.Fatalf("HasReady after Advance = true")
	}
}

// TestMarkerReceivingRule_FirstMarker: "on receiving a marker along a
// channel c: if q has not recorded its state then q records its state;
// q records the state of c as the empty sequence", and then follows the
// marker sending rule. Every other inbound link is recorded from then on.
func TestMarkerReceivingRule_FirstMarker(t *testing.T) {
	e := newTestEngine(t, 0, []NodeID{1, 2, 3}, []NodeID{3, 1}, nil)
	mustStep(t, e, app(2, 0, "before")) // no snapshot yet: not recorded anywhere
	e.state = []byte("after-before")
	res := mustStep(t, e, marker(2, 0, 4))
	if !res.HasRecorded || res.Recorded != 4 {
		t.Fatalf("first marker result = %+v; want recorded 4", res)
	}
	if !slices.Equal(e.records, []SnapshotID{4}) || e.readyAtRecord[0] {
		t.Fatalf("records = %v; want one, before markers", e.records)
	}
	if got := markerDests(e.Ready()); !slices.Equal(got, []NodeID{1, 3}) {
		t.Fatalf("marker destinations = %v; want [1 3]", got)
	}
	e.Advance(e.Ready())
	mustStep(t, e, app(2, 0, "on-c"))    // c already closed: not recorded
	r := mustStep(t, e, app(1, 0, "m1")) // link 1 is recorded
	if !slices.Equal(r.RecordedIn, []SnapshotID{4}) {
		t.Fatalf("RecordedIn = %v; want [4]", r.RecordedIn)
	}
	ls := mustSnapshot(t, e, 4)
	if ls.Initiated || ls.TriggerFrom != 2 || string(ls.State) != "after-before" {
		t.Fatalf("snapshot = %+v; want triggered by 2 with state after-before", ls)
	}
	if len(ls.Channel(2)) != 0 {
		t.Fatalf("channel 2->0 = %v; want empty", payloads(ls.Channel(2)))
	}
	if got := payloads(ls.Channel(1)); !slices.Equal(got, []string{"m1"}) {
		t.Fatalf("channel 1->0 = %v; want [m1]", got)
	}
	if !slices.Equal(ls.Waiting, []NodeID{1, 3}) {
		t.Fatalf("waiting = %v; want [1 3]", ls.Waiting)
	}
}

// TestMarkerReceivingRule_LaterMarker: "otherwise q records the state of c
// as the sequence of messages received along c after q's state was recorded
// and before q received the marker along c." A later marker records nothing,
// sends nothing and closes its link; a second marker on one link breaks FIFO
// and is rejected.
func TestMarkerReceivingRule_LaterMarker(t *testing.T) {
	e := newTestEngine(t, 0, []NodeID{1, 2}, []NodeID{1}, nil)
	mustStep(t, e, marker(1, 0, 0))
	e.Advance(e.Ready())
	mustStep(t, e, app(2, 0, "a"))
	mustStep(t, e, app(2, 0, "b"))
	res := mustStep(t, e, marker(2, 0, 0))
	if res.HasRecorded || !slices.Equal(res.Completed, []SnapshotID{0}) {
		t.Fatalf("later marker result = %+v; want no record, completed [0]", res)
	}
	rd := e.Ready()
	if len(rd.Messages) != 0 || !slices.Equal(rd.Completed, []SnapshotID{0}) {
		t.Fatalf("Ready after later marker = %+v; want no markers, completed [0]", rd)
	}
	if len(e.records) != 1 {
		t.Fatalf("recorder called %d times; want 1", len(e.records))
	}
	if r := mustStep(t, e, app(2, 0, "late")); len(r.RecordedIn) != 0 {
		t.Fatalf("message after the marker recorded in %v", r.RecordedIn)
	}
	ls := mustSnapshot(t, e, 0)
	if got := payloads(ls.Channel(2)); !slices.Equal(got, []string{"a", "b"}) || !ls.Complete {
		t.Fatalf("channel 2->0 = %v complete=%v; want [a b], complete", got, ls.Complete)
	}
	if _, err := e.Step(marker(2, 0, 0)); !errors.Is(err, ErrDuplicateMarker) {
		t.Fatalf("second marker on one link: err = %v; want ErrDuplicateMarker", err)
	}
}

// TestChannelRecording_ArrivalOrder: messages of all inbound links are kept
// in arrival order; Channel filters one link; payloads are copied.
func TestChannelRecording_ArrivalOrder(t *testing.T) {
	e := newTestEngine(t, 0, []NodeID{1, 2, 3}, nil, nil)
	if _, err := e.StartSnapshot(1); err != nil {
		t.Fatal(err)
	}
	buf := []byte("x1")
	mustStep(t, e, EngineMessage{From: 3, To: 0, Kind: MessageApp, Payload: buf})
	buf[1] = '9' // the caller reuses its buffer
	mustStep(t, e, app(1, 0, "y1"))
	mustStep(t, e, app(3, 0, "x2"))
	mustStep(t, e, app(2, 0, "z1"))
	ls := mustSnapshot(t, e, 1)
	if got, want := payloads(ls.Messages), []string{"x1", "y1", "x2", "z1"}; !slices.Equal(got, want) {
		t.Fatalf("messages = %v; want %v", got, want)
	}
	if got := payloads(ls.Channel(3)); !slices.Equal(got, []string{"x1", "x2"}) {
		t.Fatalf("channel 3->0 = %v; want [x1 x2]", got)
	}
}

// TestChannelRecording_BeforeRecord: a message delivered before the node
// records is part of its recorded state, not of any channel state.
func TestChannelRecording_BeforeRecord(t *testing.T) {
	e := newTestEngine(t, 0, []NodeID{1, 2}, nil, nil)
	if r := mustStep(t, e, app(1, 0, "early")); len(r.RecordedIn) != 0 {
		t.Fatalf("message before recording recorded in %v", r.RecordedIn)
	}
	mustStep(t, e, marker(2, 0, 0))
	if ls := mustSnapshot(t, e, 0); len(ls.Messages) != 0 {
		t.Fatalf("messages = %v; want none", payloads(ls.Messages))
	}
}

// TestChannelRecording_Bounds: past MaxRecordedMessages or MaxRecordedBytes a
// message is still delivered, but not recorded; the snapshot counts it.
func TestChannelRecording_Bounds(t *testing.T) {
	e := newTestEngine(t, 0, []NodeID{1}, nil, func(c *EngineConfig) {
		c.MaxRecordedMessages = 2
		c.MaxRecordedBytes = 5
		c.MaxPayloadBytes = 4
	})
	if _, err := e.StartSnapshot(0); err != nil {
		t.Fatal(err)
	}
	mustStep(t, e, app(1, 0, "abcd"))
	r := mustStep(t, e, app(1, 0, "ef")) // 6 bytes > 5
	if !slices.Equal(r.Dropped, []SnapshotID{0}) || len(r.RecordedIn) != 0 {
		t.Fatalf("over bytes: %+v; want dropped [0]", r)
	}
	mustStep(t, e, app(1, 0, "g"))
	r = mustStep(t, e, app(1, 0, "")) // 3 messages > 2
	if !slices.Equal(r.Dropped, []SnapshotID{0}) {
		t.Fatalf("over count: %+v; want dropped [0]", r)
	}
	ls := mustSnapshot(t, e, 0)
	if got := payloads(ls.Messages); !slices.Equal(got, []string{"abcd", "g"}) || ls.DroppedMessages != 2 {
		t.Fatalf("messages = %v dropped = %d; want [abcd g], 2", got, ls.DroppedMessages)
	}
	if _, err := e.Step(app(1, 0, "hijkl")); !errors.Is(err, ErrPayloadTooLarge) {
		t.Fatalf("5-byte payload: err = %v; want ErrPayloadTooLarge", err)
	}
}

// TestCompletion: a node finishes a snapshot once a marker arrived on every
// inbound link; a node without inbound links finishes it when it records.
func TestCompletion(t *testing.T) {
	e := newTestEngine(t, 0, []NodeID{1, 2, 3}, nil, nil)
	for i, from := range []NodeID{3, 1, 2} {
		res := mustStep(t, e, marker(from, 0, 7))
		done := i == 2
		if got := len(res.Completed) == 1; got != done {
			t.Fatalf("after marker %d from %d: completed=%v; want %v", i+1, from, got, done)
		}
	}
	if !mustSnapshot(t, e, 7).Complete {
		t.Fatal("snapshot 7 not complete after all markers")
	}
	src := newTestEngine(t, 0, nil, []NodeID{1}, nil)
	res, err := src.StartSnapshot(0)
	if err != nil || !slices.Equal(res.Completed, []SnapshotID{0}) {
		t.Fatalf("source-only node: %+v, %v; want completed at once", res, err)
	}
}

// TestConcurrentSnapshots: several snapshots run at once and are
// independent; a message is recorded in every snapshot that records its link.
func TestConcurrentSnapshots(t *testing.T) {
	e := newTestEngine(t, 0, []NodeID{1, 2}, []NodeID{1, 2}, nil)
	if _, err := e.StartSnapshot(3); err != nil {
		t.Fatal(err)
	}
	e.state = []byte("s1")
	mustStep(t, e, marker(1, 0, 1)) // snapshot 1 starts from link 1
	r := mustStep(t, e, app(2, 0, "m"))
	if !slices.Equal(r.RecordedIn, []SnapshotID{1, 3}) {
		t.Fatalf("RecordedIn = %v; want [1 3]", r.RecordedIn)
	}
	r = mustStep(t, e, app(1, 0, "n")) // link 1 closed for snapshot 1 only
	if !slices.Equal(r.RecordedIn, []SnapshotID{3}) {
		t.Fatalf("RecordedIn = %v; want [3]", r.RecordedIn)
	}
	rd := e.Ready()
	if !slices.Equal(rd.Recorded, []SnapshotID{3, 1}) || len(rd.Messages) != 4 || rd.Messages[0].Snapshot != 3 || rd.Messages[2].Snapshot != 1 {
		t.Fatalf("Ready = %+v; want snapshot 3's markers then snapshot 1's", rd)
	}
	if got := e.Snapshots(); !slices.Equal(got, []SnapshotID{1, 3}) {
		t.Fatalf("Snapshots() = %v; want [1 3]", got)
	}
	s1, s3 := mustSnapshot(t, e, 1), mustSnapshot(t, e, 3)
	if string(s1.State) != "s1" || string(s3.State) != "s0" {
		t.Fatalf("states = %q, %q; want s1, s0", s1.State, s3.State)
	}
	if !slices.Equal(payloads(s1.Messages), []string{"m"}) || !slices.Equal(payloads(s3.Messages), []string{"m", "n"}) {
		t.Fatalf("messages = %v, %v", payloads(s1.Messages), payloads(s3.Messages))
	}
}

// TestInFlightBound: recording past MaxSnapshotsInFlight fails with
// ErrTooManySnapshots and changes nothing; releasing frees a slot.
func TestInFlightBound(t *testing.T) {
	e := newTestEngine(t, 0, []NodeID{1}, []NodeID{1}, func(c *EngineConfig) { c.MaxSnapshotsInFlight = 2 })
	for id := range SnapshotID(2) {
		if _, err := e.StartSnapshot(id); err != nil {
			t.Fatal(err)
		}
	}
	rd := e.Ready()
	if _, err := e.StartSnapshot(2); !errors.Is(err, ErrTooManySnapshots) {
		t.Fatalf("third StartSnapshot: err = %v; want ErrTooManySnapshots", err)
	}
	if _, err := e.Step(marker(1, 0, 5)); !errors.Is(err, ErrTooManySnapshots) {
		t.Fatalf("first marker of a third snapshot: err = %v; want ErrTooManySnapshots", err)
	}
	if len(e.records) != 2 || len(e.Ready().Messages) != len(rd.Messages) || len(e.Snapshots()) != 2 {
		t.Fatalf("a rejected record changed the engine: records=%v", e.records)
	}
	mustStep(t, e, marker(1, 0, 0))
	if err := e.Release(0); !errors.Is(err, ErrReadyPending) {
		t.Fatalf("Release before Advance: err = %v; want ErrReadyPending", err)
	}
	e.Advance(e.Ready())
	if err := e.Release(0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.StartSnapshot(2); err != nil {
		t.Fatalf("StartSnapshot after Release: %v", err)
	}
}

// TestRelease: only complete snapshots are released; a released id is
// remembered, so a late marker cannot restart it.
func TestRelease(t *testing.T) {
	e := newTestEngine(t, 0, []NodeID{1, 2}, nil, nil)
	mustStep(t, e, marker(1, 0, 0))
	if err := e.Release(0); !errors.Is(err, ErrSnapshotIncomplete) {
		t.Fatalf("Release incomplete: err = %v; want ErrSnapshotIncomplete", err)
	}
	mustStep(t, e, marker(2, 0, 0))
	e.Advance(e.Ready())
	if err := e.Release(0); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.Snapshot(0); ok {
		t.Fatal("released snapshot still held")
	}
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"Release again", e.Release(0)},
		{"StartSnapshot", second(e.StartSnapshot(0))},
		{"replayed marker", second(e.Step(marker(1, 0, 0)))},
	} {
		if !errors.Is(tc.err, ErrSnapshotReleased) {
			t.Errorf("%s: err = %v; want ErrSnapshotReleased", tc.name, tc.err)
		}
	}
	if err := e.Release(9); !errors.Is(err, ErrUnknownSnapshot) {
		t.Fatalf("Release unknown: err = %v; want ErrUnknownSnapshot", err)
	}
}

func second[T any](_ T, err error) error { return err }

// TestReleaseMemoryBounded: released ids are kept as a floor plus at most
// MaxSnapshotsInFlight ids; dense ids released out of order compact exactly,
// and sparse ids raise the floor once the set is full.
func TestReleaseMemoryBounded(t *testing.T) {
	e := newTestEngine(t, 0, nil, nil, func(c *EngineConfig) { c.MaxSnapshotsInFlight = 3 })
	for _, id := range []SnapshotID{1, 2, 0, 4, 3, 5} {
		if _, err := e.StartSnapshot(id); err != nil {
			t.Fatalf("StartSnapshot(%d): %v", id, err)
		}
		e.Advance(e.Ready())
		if err := e.Release(id); err != nil {
			t.Fatal(err)
		}
	}
	if e.releasedFloor != 6 || len(e.released) != 0 {
		t.Fatalf("dense ids: floor=%d released=%v; want 6, []", e.releasedFloor, e.released)
	}
	for _, id := range []SnapshotID{10, 20, 30, 40} {
		if _, err := e.StartSnapshot(id); err != nil {
			t.Fatal(err)
		}
		e.Advance(e.Ready())
		if err := e.Release(id); err != nil {
			t.Fatal(err)
		}
	}
	if len(e.released) > 3 || e.releasedFloor != 11 {
		t.Fatalf("sparse ids: floor=%d released=%v; want floor 11, at most 3 ids", e.releasedFloor, e.released)
	}
	if _, err := e.StartSnapshot(7); !errors.Is(err, ErrSnapshotReleased) {
		t.Fatalf("id below the raised floor: err = %v; want ErrSnapshotReleased", err)
	}
	if _, err := e.StartSnapshot(25); err != nil {
		t.Fatalf("unreleased id above the floor: %v", err)
	}
}

// TestStepErrors: bad input gets a sentinel error and changes nothing.
func TestStepErrors(t *testing.T) {
	e := newTestEngine(t, 0, []NodeID{1}, []NodeID{1}, func(c *EngineConfig) { c.MaxStateBytes = 4 })
	tests := []struct {
		name string
		m    EngineMessage
		want error
	}{
		{"wrong node", marker(1, 2, 0), ErrWrongNode},
		{"unknown link", marker(3, 0, 0), ErrUnknownLink},
		{"unknown kind", EngineMessage{From: 1, To: 0, Kind: 9}, ErrUnknownMessageKind},
		{"zero kind", EngineMessage{From: 1, To: 0}, ErrUnknownMessageKind},
	}
	for _, tt := range tests {
		if _, err := e.Step(tt.m); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v; want %v", tt.name, err, tt.want)
		}
	}
	e.state = []byte("too large")
	if _, err := e.Step(marker(1, 0, 0)); !errors.Is(err, ErrStateTooLarge) {
		t.Errorf("large state: err = %v; want ErrStateTooLarge", err)
	}
	if len(e.Snapshots()) != 0 || e.HasReady() {
		t.Fatalf("failed steps changed the engine: snapshots=%v ready=%v", e.Snapshots(), e.HasReady())
	}
	if _, err := e.StartSnapshot(0); !errors.Is(err, ErrStateTooLarge) {
		t.Errorf("large state at start: err = %v; want ErrStateTooLarge", err)
	}
	e.state = []byte("ok")
	if _, err := e.StartSnapshot(0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.StartSnapshot(0); !errors.Is(err, ErrSnapshotExists) {
		t.Errorf("start twice: err = %v; want ErrSnapshotExists", err)
	}
}

func TestEngineConfigValidate(t *testing.T) {
	base := func() EngineConfig { return DefaultEngineConfig(0, []NodeID{1, 2}, []NodeID{1}) }
	tests := []struct {
		name  string
		tweak func(*EngineConfig)
	}{
		{"self inbound", func(c *EngineConfig) { c.Inbound = []NodeID{1, 0} }},
		{"self outbound", func(c *EngineConfig) { c.Outbound = []NodeID{0} }},
		{"duplicate inbound", func(c *EngineConfig) { c.Inbound = []NodeID{2, 1, 2} }},
		{"duplicate outbound", func(c *EngineConfig) { c.Outbound = []NodeID{1, 1} }},
		{"no snapshots", func(c *EngineConfig) { c.MaxSnapshotsInFlight = 0 }},
		{"no messages", func(c *EngineConfig) { c.MaxRecordedMessages = 0 }},
		{"negative payload", func(c *EngineConfig) { c.MaxPayloadBytes = -1 }},
		{"payload over recorded", func(c *EngineConfig) { c.MaxRecordedBytes = c.MaxPayloadBytes - 1 }},
		{"negative state", func(c *EngineConfig) { c.MaxStateBytes = -1 }},
	}
	if _, err := NewEngine(base()); err != nil {
		t.Fatalf("default config: %v", err)
	}
	for _, tt := range tests {
		cfg := base()
		tt.tweak(&cfg)
		if _, err := NewEngine(cfg); !errors.Is(err, ErrInvalidEngineConfig) {
			t.Errorf("%s: err = %v; want ErrInvalidEngineConfig", tt.name, err)
		}
	}
}

// TestReadyAdvance: Advance acknowledges only what the given Ready held;
// effects queued after it stay pending.
func TestReadyAdvance(t *testing.T) {
	e := newTestEngine(t, 0, []NodeID{1}, []NodeID{1, 2}, nil)
	if _, err := e.StartSnapshot(0); err != nil {
		t.Fatal(err)
	}
	rd := e.Ready()
	mustStep(t, e, marker(1, 0, 1))
	e.Advance(rd)
	got := e.Ready()
	if len(got.Messages) != 2 || got.Messages[0].Snapshot != 1 || !slices.Equal(got.Recorded, []SnapshotID{1}) {
		t.Fatalf("Ready after partial Advance = %+v; want snapshot 1's effects only", got)
	}
	e.Advance(got)
	if e.HasReady() {
		t.Fatal("HasReady after full Advance")
	}
}

// TestCloseLink: closing a link without a marker stops recording it and
// completes the snapshot when it was the last open link; closing twice, an
// unknown link or a snapshot not held is an error.
func TestCloseLink(t *testing.T) {
	e, err := NewEngine(DefaultEngineConfig(0, []NodeID{1, 2}, []NodeID{1, 2}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.CloseLink(7, 1); !errors.Is(err, ErrUnknownSnapshot) {
		t.Fatalf("close before recording: %v", err)
	}
	if _, err := e.StartSnapshot(7); err != nil {
		t.Fatal(err)
	}
	app := func(from NodeID, b byte) {
		if _, err := e.Step(EngineMessage{From: from, To: 0, Kind: MessageApp, Payload: []byte{b}}); err != nil {
			t.Fatal(err)
		}
	}
	app(1, 1)
	res, err := e.CloseLink(7, 1)
	if err != nil || len(res.Completed) != 0 {
		t.Fatalf("close link 1: %+v %v", res, err)
	}
	if e.LinkOpen(7, 1) || !e.LinkOpen(7, 2) {
		t.Fatal("LinkOpen after closing link 1")
	}
	app(1, 2) // after the close: not recorded
	if _, err := e.CloseLink(7, 1); !errors.Is(err, ErrDuplicateMarker) {
		t.Fatalf("second close: %v", err)
	}
	if _, err := e.CloseLink(7, 5); !errors.Is(err, ErrUnknownLink) {
		t.Fatalf("unknown link: %v", err)
	}
	res, err = e.Step(EngineMessage{From: 2, To: 0, Kind: MessageMarker, Snapshot: 7})
	if err != nil || len(res.Completed) != 1 {
		t.Fatalf("last marker: %+v %v", res, err)
	}
	ls, _ := e.Snapshot(7)
	if len(ls.Messages) != 1 || ls.Messages[0].Payload[0] != 1 {
		t.Fatalf("recorded %+v, want only the message before the close", ls.Messages)
	}
}
