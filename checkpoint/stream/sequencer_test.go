package stream

import (
	"errors"
	"flag"
	"math/rand/v2"
	"testing"
)

func testSeqConfig(origins int) SequencerConfig {
	return SequencerConfig{ChainID: testChain, Origins: origins, WindowSeqs: 64, MaxHeldBytes: MaxBodyBytes,
		RecentDigests: 128, GapTimeout: 10, MaxEvidence: 16, MaxGapsPerOrigin: 8}
}

// mkEntry builds an unsigned entry; the Sequencer trusts its caller to have
// verified signatures, and the digest covers every other field.
func mkEntry(origin uint32, seq, epoch uint64, kind Kind) Entry {
	if kind == KindMarker {
		return Entry{Origin: origin, Seq: seq, Epoch: epoch, Kind: kind, Body: EncodeMarker(Marker{Epoch: epoch})}
	}
	return Entry{Origin: origin, Seq: seq, Epoch: epoch, Kind: kind, Body: []byte{byte(seq), byte(origin)}}
}

func seqs(es []Entry) []uint64 {
	var out []uint64
	for _, e := range es {
		out = append(out, e.Seq)
	}
	return out
}

func mustSequencer(t *testing.T, cfg SequencerConfig, start []OriginStart) *Sequencer {
	t.Helper()
	s, err := NewSequencer(cfg, start)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSequencerInOrderAndHoldBack(t *testing.T) {
	s := mustSequencer(t, testSeqConfig(2), nil)
	steps := []struct {
		e        Entry
		wantSt   Status
		released []uint64
	}{
		{mkEntry(0, 2, 1, KindBatch), StatusHeld, nil},
		{mkEntry(0, 3, 1, KindMarker), StatusHeld, nil},
		{mkEntry(0, 3, 1, KindMarker), StatusDuplicate, nil},
		{mkEntry(0, 1, 1, KindBatch), StatusDelivered, []uint64{1, 2, 3}},
		{mkEntry(0, 2, 1, KindBatch), StatusDuplicate, nil},
		{mkEntry(0, 4, 2, KindBatch), StatusDelivered, []uint64{4}},
		{mkEntry(1, 1, 1, KindBatch), StatusDelivered, []uint64{1}},
		{mkEntry(0, 5+64, 2, KindBatch), StatusTooFarAhead, nil},
	}
	for i, st := range steps {
		got, status, err := s.Add(st.e, int64(i))
		if err != nil {
			t.Fatalf("step %d: Add error %v", i, err)
		}
		if status != st.wantSt || !equalU64(seqs(got), st.released) {
			t.Fatalf("step %d: Add(%d/%d) = %v, %v; want %v, %v", i, st.e.Origin, st.e.Seq, seqs(got), status, st.released, st.wantSt)
		}
	}
	if p := s.Position(0); p.NextSeq != 5 || p.ClosedEpoch != 1 {
		t.Fatalf("Position(0) = %+v; want {5 1}", p)
	}
	if _, _, err := s.Add(mkEntry(2, 1, 1, KindBatch), 0); !errors.Is(err, ErrUnknownOrigin) {
		t.Fatalf("unknown origin: %v", err)
	}
}

func equalU64(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestSequencerEquivocation(t *testing.T) {
	s := mustSequencer(t, testSeqConfig(1), nil)
	a, b := mkEntry(0, 2, 1, KindBatch), mkEntry(0, 2, 1, KindBatch)
	b.Body = []byte("other")
	if _, st, _ := s.Add(a, 0); st != StatusHeld {
		t.Fatalf("first = %v", st)
	}
	if _, st, _ := s.Add(b, 0); st != StatusEquivocation {
		t.Fatalf("second held = %v; want equivocation", st)
	}
	got, _, _ := s.Add(mkEntry(0, 1, 1, KindBatch), 0)
	if len(got) != 2 || string(got[1].Body) != string(a.Body) {
		t.Fatalf("released %v; want seq 1 and the first seq 2", seqs(got))
	}
	// A conflicting copy of an already delivered entry is caught too.
	c := mkEntry(0, 1, 1, KindBatch)
	c.Body = []byte("late")
	if _, st, _ := s.Add(c, 0); st != StatusEquivocation {
		t.Fatalf("conflict with delivered = %v", st)
	}
	first := mkEntry(0, 1, 1, KindBatch)
	ev := s.TakeEvidence()
	if len(ev) != 2 || ev[0].Kind != EvidenceEquivocation || ev[0].Seq != 2 || string(ev[0].Second.Body) != "other" ||
		ev[0].FirstDigest != a.Digest(testChain) || ev[1].Seq != 1 || ev[1].FirstDigest != first.Digest(testChain) {
		t.Fatalf("evidence = %+v", ev)
	}
	if len(s.TakeEvidence()) != 0 {
		t.Fatal("TakeEvidence did not clear")
	}
}

func TestSequencerEpochRule(t *testing.T) {
	tests := []struct {
		name    string
		entries []Entry
		wantOK  int
	}{
		{"batch then marker then next epoch", []Entry{mkEntry(0, 1, 1, KindBatch), mkEntry(0, 2, 1, KindMarker), mkEntry(0, 3, 2, KindBatch), mkEntry(0, 4, 2, KindMarker)}, 4},
		{"batch below closed epoch", []Entry{mkEntry(0, 1, 1, KindMarker), mkEntry(0, 2, 1, KindBatch)}, 1},
		{"jump two epochs", []Entry{mkEntry(0, 1, 1, KindMarker), mkEntry(0, 2, 3, KindBatch)}, 1},
		{"marker skipping an epoch", []Entry{mkEntry(0, 1, 2, KindMarker)}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustSequencer(t, testSeqConfig(1), nil)
			delivered := 0
			var lastErr error
			for _, e := range tt.entries {
				got, _, err := s.Add(e, 0)
				delivered += len(got)
				if err != nil {
					lastErr = err
				}
			}
			if delivered != tt.wantOK {
				t.Fatalf("delivered %d; want %d", delivered, tt.wantOK)
			}
			broken := tt.wantOK < len(tt.entries)
			if broken != errors.Is(lastErr, ErrBrokenStream) || broken != s.Broken(0) {
				t.Fatalf("broken=%v err=%v", s.Broken(0), lastErr)
			}
			if broken {
				ev := s.TakeEvidence()
				if len(ev) != 1 || ev[0].Kind != EvidenceEpochRule {
					t.Fatalf("evidence = %+v", ev)
				}
				if _, st, err := s.Add(mkEntry(0, 9, 1, KindBatch), 0); st != StatusBroken || err == nil {
					t.Fatalf("after break: %v %v", st, err)
				}
			}
		})
	}
}

func TestSequencerRestartStart(t *testing.T) {
	s := mustSequencer(t, testSeqConfig(1), []OriginStart{{NextSeq: 5, ClosedEpoch: 2}})
	if _, st, _ := s.Add(mkEntry(0, 4, 3, KindBatch), 0); st != StatusStale {
		t.Fatalf("seq before start = %v; want stale", st)
	}
	got, st, err := s.Add(mkEntry(0, 5, 3, KindBatch), 0)
	if err != nil || st != StatusDelivered || len(got) != 1 {
		t.Fatalf("seq 5 = %v %v %v", seqs(got), st, err)
	}
	if _, err := NewSequencer(testSeqConfig(2), []OriginStart{{}}); !errors.Is(err, ErrBadStartVector) {
		t.Fatalf("short start vector: %v", err)
	}
}

func TestSequencerGaps(t *testing.T) {
	s := mustSequencer(t, testSeqConfig(2), nil)
	s.Add(mkEntry(0, 3, 1, KindBatch), 100)
	s.Add(mkEntry(0, 6, 1, KindBatch), 101)
	if g := s.Gaps(109); len(g) != 0 {
		t.Fatalf("gaps before timeout = %+v", g)
	}
	want := []Gap{{0, 1, 2}, {0, 4, 5}}
	if g := s.Gaps(110); len(g) != 2 || g[0] != want[0] || g[1] != want[1] {
		t.Fatalf("Gaps = %+v; want %+v", g, want)
	}
	if g := s.Gaps(115); len(g) != 0 {
		t.Fatalf("re-reported too soon: %+v", g)
	}
	if g := s.Gaps(120); len(g) != 2 {
		t.Fatalf("not re-reported after timeout: %+v", g)
	}
	// A known tail without any held entry is a gap as well.
	if err := s.NoteKnown(1, 3, 200); err != nil {
		t.Fatal(err)
	}
	if g := s.Gaps(210); len(g) != 3 || g[2] != (Gap{1, 1, 3}) {
		t.Fatalf("tail gap = %+v; want origin 0's two gaps and {1 1 3}", g)
	}
	s.Add(mkEntry(1, 1, 1, KindBatch), 211)
	s.Add(mkEntry(1, 2, 1, KindBatch), 211)
	s.Add(mkEntry(1, 3, 1, KindBatch), 211)
	for _, g := range s.Gaps(1000) {
		if g.Origin == 1 {
			t.Fatalf("origin 1 caught up but gap reported: %+v", g)
		}
	}
}

func TestSequencerBounds(t *testing.T) {
	cfg := testSeqConfig(1)
	cfg.MaxHeldBytes = MaxBodyBytes
	s := mustSequencer(t, cfg, nil)
	big := Entry{Origin: 0, Seq: 2, Epoch: 1, Kind: KindBatch, Body: make([]byte, MaxBodyBytes)}
	if _, st, _ := s.Add(big, 0); st != StatusHeld {
		t.Fatalf("big = %v", st)
	}
	if _, st, _ := s.Add(mkEntry(0, 3, 1, KindBatch), 0); st != StatusBufferFull {
		t.Fatalf("over budget = %v", st)
	}
	if n, b := s.Held(0); n != 1 || b != MaxBodyBytes {
		t.Fatalf("Held = %d, %d", n, b)
	}
	bad := cfg
	bad.WindowSeqs = 0
	if _, err := NewSequencer(bad, nil); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("bad config: %v", err)
	}
}

var propSeed = flag.Uint64("seq.seed", 0, "seed for TestSequencerProperty (0: several fixed seeds)")

// TestSequencerProperty checks exactly-once in-order delivery under random
// drops, duplicates and reordering. Each origin publishes a stream of
// batches with a marker every few entries; a lossy, duplicating network
// shuffles copies; repair answers every reported gap from the origins'
// outboxes (itself through the lossy network, so repair must repeat). At
// the end every origin's whole stream must have been delivered once, in
// order, with the epoch rule intact.
func TestSequencerProperty(t *testing.T) {
	seeds := []uint64{1, 2, 3, 4, 5, 6, 7, 8}
	if *propSeed != 0 {
		seeds = []uint64{*propSeed}
	}
	for _, seed := range seeds {
		runProperty(t, seed)
	}
}

func runProperty(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	const origins = 4
	n := 300
	if testing.Short() {
		n = 100
	}
	dropP := rng.Float64() * 0.5
	dupP := rng.Float64() * 0.3
	cfg := testSeqConfig(origins)
	cfg.WindowSeqs = uint64(8 + rng.IntN(64))
	cfg.GapTimeout = 40
	s := mustSequencer(t, cfg, nil)
	// Build outboxes with markers every 1..7 entries.
	outbox := make([][]Entry, origins)
	for o := range outbox {
		epoch := uint64(1)
		for seq := uint64(1); seq <= uint64(n); seq++ {
			kind := KindBatch
			if rng.IntN(7) == 0 {
				kind = KindMarker
			}
			outbox[o] = append(outbox[o], mkEntry(uint32(o), seq, epoch, kind))
			if kind == KindMarker {
				epoch++
			}
		}
	}
	var inflight []Entry
	send := func(e Entry) {
		if rng.Float64() < dropP || len(inflight) >= 4096 { // a bounded network queue drops too
			return
		}
		inflight = append(inflight, e)
		if rng.Float64() < dupP {
			inflight = append(inflight, e)
		}
	}
	for i := 0; i < n; i++ {
		for o := range outbox {
			send(outbox[o][i])
		}
	}
	delivered := make([][]Entry, origins)
	now := int64(0)
	for step := 0; step < 200000 && len(inflight)+countMissing(delivered, n) > 0; step++ {
		now++
		for burst := 0; burst < 4 && len(inflight) > 0; burst++ {
			k := rng.IntN(min(len(inflight), 16)) // bounded reordering
			e := inflight[k]
			inflight = append(inflight[:k], inflight[k+1:]...)
			got, _, err := s.Add(e, now)
			if err != nil {
				t.Fatalf("seed %d: Add error %v", seed, err)
			}
			for _, d := range got {
				delivered[d.Origin] = append(delivered[d.Origin], d)
			}
		}
		for _, g := range s.Gaps(now) {
			for seq := g.From; seq <= g.To; seq++ {
				send(outbox[g.Origin][seq-1])
			}
		}
		if len(inflight) == 0 && countMissing(delivered, n) > 0 {
			// Tail loss: a status exchange tells the receiver the heads.
			for o := range outbox {
				_ = s.NoteKnown(uint32(o), uint64(n), now)
			}
			now += cfg.GapTimeout
		}
	}
	for o := range delivered {
		if len(delivered[o]) != n {
			t.Fatalf("seed %d: origin %d delivered %d of %d (drop %.2f dup %.2f)", seed, o, len(delivered[o]), n, dropP, dupP)
		}
		for i, e := range delivered[o] {
			if e.Seq != uint64(i+1) || e.Epoch != outbox[o][i].Epoch || e.Kind != outbox[o][i].Kind {
				t.Fatalf("seed %d: origin %d position %d got seq %d epoch %d", seed, o, i, e.Seq, e.Epoch)
			}
		}
		if nh, _ := s.Held(uint32(o)); nh != 0 {
			t.Fatalf("seed %d: origin %d still holds %d", seed, o, nh)
		}
	}
	if ev := s.TakeEvidence(); len(ev) != 0 {
		t.Fatalf("seed %d: unexpected evidence %+v", seed, ev)
	}
}

func countMissing(delivered [][]Entry, n int) int {
	m := 0
	for _, d := range delivered {
		m += n - len(d)
	}
	return m
}
