package conformance

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// conformanceCases are the 7 cases of README section 1: topology, script,
// and the expected .snap files in id order.
var conformanceCases = []struct {
	name, top, events string
	snaps             []string
}{
	{"Test2NodesSimple", "2nodes.top", "2nodes-simple.events", []string{"2nodes-simple.snap"}},
	{"Test2NodesSingleMessage", "2nodes.top", "2nodes-message.events", []string{"2nodes-message.snap"}},
	{"Test3NodesMultipleMessages", "3nodes.top", "3nodes-simple.events", []string{"3nodes-simple.snap"}},
	{"Test3NodesMultipleBidirectionalMessages", "3nodes.top", "3nodes-bidirectional-messages.events", []string{"3nodes-bidirectional-messages.snap"}},
	{"Test8NodesSequentialSnapshots", "8nodes.top", "8nodes-sequential-snapshots.events", numbered("8nodes-sequential-snapshots", 2)},
	{"Test8NodesConcurrentSnapshots", "8nodes.top", "8nodes-concurrent-snapshots.events", numbered("8nodes-concurrent-snapshots", 5)},
	{"Test10NodesDirectedEdges", "10nodes.top", "10nodes.events", numbered("10nodes", 10)},
}

func numbered(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d.snap", prefix, i)
	}
	return out
}

// conformanceDir finds shared/conformance/chandy-lamport/data by walking up
// from the working directory: the shared folder is a sibling of the
// repository (../../../shared from this package). When it is absent the test
// is skipped, or fails when CI=true.
func conformanceDir(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		cand := filepath.Join(dir, "shared", "conformance", "chandy-lamport", "data")
		if st, err := os.Stat(cand); err == nil && st.IsDir() {
			return cand
		}
		if filepath.Dir(dir) == dir {
			break
		}
	}
	msg := "conformance suite not found: no shared/conformance/chandy-lamport/data above " + wd +
		" (expected at ../../../shared relative to checkpoint/conformance)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; required when CI=true")
	}
	t.Skip(msg)
	return ""
}

func readSnap(t *testing.T, path string) GlobalSnapshot {
	t.Helper()
	snaps, err := parseFile(path, ParseSnapshots)
	if err != nil {
		t.Fatal(err)
	}
	if len(snaps) != 1 {
		t.Fatalf("%s holds %d snapshots, want 1", path, len(snaps))
	}
	return snaps[0]
}

// TestConformance runs the 7 cases of the COS 418 suite through the harness
// with the original seed and compares all 21 snapshots under the README's
// rules (count, conservation, per-pair comparison).
func TestConformance(t *testing.T) {
	dir := conformanceDir(t)
	total := 0
	for _, tc := range conformanceCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SimulateFiles(filepath.Join(dir, tc.top), filepath.Join(dir, tc.events), DefaultSeed)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.snaps) {
				t.Fatalf("got %d snapshots, want %d", len(got), len(tc.snaps))
			}
			for i, name := range tc.snaps {
				want := readSnap(t, filepath.Join(dir, name))
				if err := CompareSnapshot(want, got[i]); err != nil {
					t.Errorf("%s: %v", name, err)
					continue
				}
				total++
			}
		})
	}
	if !t.Failed() && total != 21 {
		t.Fatalf("matched %d snapshots, want 21", total)
	}
}

// TestRunSnapshotSim checks the command's output: for each case it parses the
// concatenated output back and compares it with the expected files; it also
// checks the layout rules (ids ascending, balances sorted by name, messages
// grouped by destination) on the raw text.
func TestRunSnapshotSim(t *testing.T) {
	dir := conformanceDir(t)
	for _, tc := range conformanceCases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := RunSnapshotSim(filepath.Join(dir, tc.top), filepath.Join(dir, tc.events), DefaultSeed, &out); err != nil {
				t.Fatal(err)
			}
			got, err := ParseSnapshots(bytes.NewReader(out.Bytes()), "output")
			if err != nil {
				t.Fatalf("output does not parse: %v\n%s", err, out.String())
			}
			if len(got) != len(tc.snaps) {
				t.Fatalf("output holds %d snapshots, want %d", len(got), len(tc.snaps))
			}
			for i, name := range tc.snaps {
				if err := CompareSnapshot(readSnap(t, filepath.Join(dir, name)), got[i]); err != nil {
					t.Errorf("%s: %v", name, err)
				}
			}
			checkLayout(t, out.String())
		})
	}
}

// checkLayout checks the order rules of RunSnapshotSim's output text.
func checkLayout(t *testing.T, text string) {
	t.Helper()
	var lastID int64 = -1
	var lastNode, lastDst string
	phase := 0 // 0: after id, 1: balances, 2: messages
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		f := strings.Fields(line)
		switch len(f) {
		case 1:
			var id int64
			fmt.Sscan(f[0], &id)
			if id != lastID+1 {
				t.Fatalf("line %d: id %d after %d", i+1, id, lastID)
			}
			lastID, lastNode, lastDst, phase = id, "", "", 0
		case 2:
			if phase > 1 || f[0] <= lastNode {
				t.Fatalf("line %d: balance %q out of order", i+1, line)
			}
			lastNode, phase = f[0], 1
		case 3:
			if f[1] < lastDst {
				t.Fatalf("line %d: message %q not grouped by destination", i+1, line)
			}
			lastDst, phase = f[1], 2
		default:
			t.Fatalf("line %d: unexpected %q", i+1, line)
		}
	}
}

// TestConformanceOtherSeeds runs every case under other seeds. The cuts may
// differ from the golden ones, but the schedule-independent properties of
// README section 8 must hold: one snapshot per snapshot line, every node
// present, conservation (checked by Simulate), messages only on real links.
// The three schedule-independent cases must match the golden files exactly.
// Scripts that overdraw under a schedule are skipped, as the original
// harness aborts on them.
func TestConformanceOtherSeeds(t *testing.T) {
	dir := conformanceDir(t)
	seeds := 40
	if testing.Short() {
		seeds = 8
	}
	exact := map[string]bool{"Test2NodesSimple": true, "Test2NodesSingleMessage": true, "Test8NodesSequentialSnapshots": true}
	for _, tc := range conformanceCases {
		top, err := parseFile(filepath.Join(dir, tc.top), ParseTopology)
		if err != nil {
			t.Fatal(err)
		}
		links := map[LinkSpec]bool{}
		for _, l := range top.Links {
			links[l] = true
		}
		events, err := parseFile(filepath.Join(dir, tc.events), ParseEvents)
		if err != nil {
			t.Fatal(err)
		}
		for seed := int64(1); seed <= int64(seeds); seed++ {
			got, err := Simulate(top, events, tc.events, seed)
			if errors.Is(err, ErrScript) && strings.Contains(err.Error(), "holds only") {
				continue // overdraw under this schedule
			}
			if err != nil {
				t.Fatalf("%s seed=%d: %v", tc.name, seed, err)
			}
			if len(got) != len(tc.snaps) {
				t.Fatalf("%s seed=%d: %d snapshots, want %d", tc.name, seed, len(got), len(tc.snaps))
			}
			for i, g := range got {
				if len(g.Balances) != len(top.Nodes) {
					t.Fatalf("%s seed=%d snapshot %d: %d balances, want %d", tc.name, seed, i, len(g.Balances), len(top.Nodes))
				}
				for _, m := range g.Messages {
					if !links[LinkSpec{Src: m.Src, Dst: m.Dst}] {
						t.Fatalf("%s seed=%d snapshot %d: message on non-link %s->%s", tc.name, seed, i, m.Src, m.Dst)
					}
				}
				if exact[tc.name] {
					if err := CompareSnapshot(readSnap(t, filepath.Join(dir, tc.snaps[i])), g); err != nil {
						t.Fatalf("%s seed=%d: %v", tc.name, seed, err)
					}
				}
			}
		}
	}
}

// TestConformanceSeedMatters shows that the exact comparison is not vacuous:
// under another seed the schedule-dependent 10nodes case (README section 8:
// 0 of 20000 schedules match) produces cuts that CompareSnapshot rejects.
func TestConformanceSeedMatters(t *testing.T) {
	dir := conformanceDir(t)
	tc := conformanceCases[6]
	got, err := SimulateFiles(filepath.Join(dir, tc.top), filepath.Join(dir, tc.events), DefaultSeed+1)
	if err != nil {
		t.Fatal(err)
	}
	mismatches := 0
	for i, name := range tc.snaps {
		if err := CompareSnapshot(readSnap(t, filepath.Join(dir, name)), got[i]); errors.Is(err, ErrMismatch) {
			mismatches++
		}
	}
	if mismatches == 0 {
		t.Fatalf("seed %d reproduced all %d golden 10nodes snapshots; the comparison cannot tell schedules apart", DefaultSeed+1, len(tc.snaps))
	}
}
