package checkpoint

import (
	"fmt"
	"testing"
)

// BenchmarkEngineStepApp measures delivering one app message on a link that
// snapshots are recording, with 0, 1 and 4 snapshots in flight. Snapshots
// are released and restarted when they reach the recording bound.
func BenchmarkEngineStepApp(b *testing.B) {
	for _, inFlight := range []int{0, 1, 4} {
		b.Run(fmt.Sprintf("snapshots=%d", inFlight), func(b *testing.B) {
			cfg := DefaultEngineConfig(0, []NodeID{1, 2, 3}, []NodeID{1, 2, 3})
			e, err := NewEngine(cfg)
			if err != nil {
				b.Fatal(err)
			}
			for id := range SnapshotID(inFlight) {
				if _, err := e.StartSnapshot(id); err != nil {
					b.Fatal(err)
				}
			}
			m := EngineMessage{From: 2, To: 0, Kind: MessageApp, Payload: make([]byte, 32)}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				res, err := e.Step(m)
				if err != nil || len(res.Dropped) > 0 {
					b.Fatalf("step %d: %v dropped=%v", i, err, res.Dropped)
				}
				if inFlight > 0 && (i+1)%(cfg.MaxRecordedMessages/2) == 0 {
					b.StopTimer()
					e, _ = NewEngine(cfg)
					for id := range SnapshotID(inFlight) {
						e.StartSnapshot(id)
					}
					b.StartTimer()
				}
			}
		})
	}
}

// BenchmarkEngineSnapshotRound measures one whole snapshot at a node with 9
// inbound and 9 outbound links: the first marker (record, 9 markers), 8
// later markers, Ready/Advance and Release.
func BenchmarkEngineSnapshotRound(b *testing.B) {
	var peers []NodeID
	for i := NodeID(1); i <= 9; i++ {
		peers = append(peers, i)
	}
	cfg := DefaultEngineConfig(0, peers, peers)
	cfg.Recorder = RecorderFunc(func(SnapshotID) []byte { return nil })
	e, err := NewEngine(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for id := SnapshotID(0); b.Loop(); id++ {
		for _, p := range peers {
			if _, err := e.Step(EngineMessage{From: p, To: 0, Kind: MessageMarker, Snapshot: id}); err != nil {
				b.Fatal(err)
			}
		}
		e.Advance(e.Ready())
		if err := e.Release(id); err != nil {
			b.Fatal(err)
		}
	}
}
