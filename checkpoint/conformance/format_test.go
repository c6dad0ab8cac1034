package conformance

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const goodTop = "2\nN1 5\nN2 0\nN1 N2\nN2 N1\n"

// TestRunSnapshotSimBadInput: bad topology or script files give an error
// naming the file and line (table test over small temp files).
func TestRunSnapshotSimBadInput(t *testing.T) {
	tests := []struct {
		name, top, events string
		wantFile          string // "top" or "events"
		wantLine          string // ":<line>:" in the message
		wantText          string
		wantErr           error
	}{
		{"count with CR", "2\r\nN1 5\nN2 0\n", "tick\n", "top", ":1:", "node count", ErrSyntax},
		{"count not a number", "two\n", "tick\n", "top", ":1:", "node count", ErrSyntax},
		{"missing node", "3\nN1 5\nN2 0\n", "tick\n", "top", ":", "ends after 2 of 3", ErrSyntax},
		{"bad tokens", "2\nN1 five\nN2 0\n", "tick\n", "top", ":2:", "token count", ErrSyntax},
		{"negative tokens", "2\nN1 -1\nN2 0\n", "tick\n", "top", ":2:", "token count", ErrSyntax},
		{"duplicate node", "2\nN1 5\nN1 0\n", "tick\n", "top", ":3:", "declared twice", ErrSyntax},
		{"undeclared link end", "# c\n2\nN1 5\nN2 0\nN1 N3\n", "tick\n", "top", ":5:", "N3 is not declared", ErrSyntax},
		{"link with 3 fields", goodTop + "N1 N2 N1\n", "tick\n", "top", ":6:", "want a link", ErrSyntax},
		{"duplicate link", goodTop + "N1 N2\n", "tick\n", "top", ":6:", "declared twice", ErrSyntax},
		{"empty top", "", "tick\n", "top", ":1:", "no node count", ErrSyntax},
		{"unknown command", goodTop, "tick\nsend N1 N2 1\nflush\n", "events", ":3:", "unknown command", ErrSyntax},
		{"send arity", goodTop, "send N1 N2\n", "events", ":1:", "send <src> <dst> <tokens>", ErrSyntax},
		{"send zero", goodTop, "\nsend N1 N2 0\n", "events", ":2:", "token count", ErrSyntax},
		{"tick count", goodTop, "tick x\n", "events", ":1:", "step count", ErrSyntax},
		{"tick too many", goodTop, "tick 1 2\n", "events", ":1:", "want \"tick\"", ErrSyntax},
		{"snapshot arity", goodTop, "snapshot\n", "events", ":1:", "snapshot <node>", ErrSyntax},
		{"unknown node", goodTop, "tick\nsnapshot N9\n", "events", ":2:", "unknown node \"N9\"", ErrScript},
		{"no link", "2\nN1 5\nN2 0\nN1 N2\n", "send N2 N1 1\n", "events", ":1:", "no link N2->N1", ErrScript},
		{"overdraft", goodTop, "send N1 N2 3\nsend N1 N2 3\n", "events", ":2:", "holds only 2", ErrScript},
		{"never completes", "3\nN1 5\nN2 0\nN3 0\nN1 N2\nN2 N1\nN3 N1\n", "snapshot N1\n", "events", "", "incomplete", ErrScript},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			top, events := filepath.Join(dir, "case.top"), filepath.Join(dir, "case.events")
			if err := os.WriteFile(top, []byte(tt.top), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(events, []byte(tt.events), 0o600); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			err := RunSnapshotSim(top, events, DefaultSeed, &out)
			if err == nil {
				t.Fatalf("RunSnapshotSim = nil; want an error (output %q)", out.String())
			}
			file := map[string]string{"top": top, "events": events}[tt.wantFile]
			if !strings.Contains(err.Error(), file+tt.wantLine) || !strings.Contains(err.Error(), tt.wantText) {
				t.Fatalf("err = %q; want it to name %s%s and say %q", err, file, tt.wantLine, tt.wantText)
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v; want errors.Is %v", err, tt.wantErr)
			}
			if out.Len() != 0 {
				t.Fatalf("output on error: %q", out.String())
			}
		})
	}
}

func TestRunSnapshotSimMissingFile(t *testing.T) {
	err := RunSnapshotSim(filepath.Join(t.TempDir(), "none.top"), "x.events", DefaultSeed, &bytes.Buffer{})
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v; want os.ErrNotExist", err)
	}
}

// TestRunSnapshotSimSmall runs a hand-checked case: N1 sends 2 of 5 tokens
// and N2 starts a snapshot in the same step, recording 0. The tokens reach N2
// after it recorded and before N1's marker (FIFO), so they are in flight on
// N1->N2; N1 records 3 when N2's marker arrives.
func TestRunSnapshotSimSmall(t *testing.T) {
	dir := t.TempDir()
	top, events := filepath.Join(dir, "a.top"), filepath.Join(dir, "a.events")
	os.WriteFile(top, []byte(goodTop), 0o600)
	os.WriteFile(events, []byte("# comment\nsend N1 N2 2\nsnapshot N2\ntick 3\n"), 0o600)
	var out bytes.Buffer
	if err := RunSnapshotSim(top, events, DefaultSeed, &out); err != nil {
		t.Fatal(err)
	}
	if want := "0\nN1 3\nN2 0\nN1 N2 token(2)\n"; out.String() != want {
		t.Fatalf("output = %q; want %q", out.String(), want)
	}
}

func TestParseSnapshotsErrors(t *testing.T) {
	tests := []struct{ name, in, line, text string }{
		{"balance before id", "N1 5\n", ":1:", "before the snapshot id"},
		{"bad id", "x\n", ":1:", "bad snapshot id"},
		{"bad token", "0\nN1 N2 coin(3)\n", ":2:", "bad message line"},
		{"token without digits", "0\nN1 N2 token()\n", ":2:", "bad message line"},
		{"four fields", "0\nN1 N2 token(1) x\n", ":2:", "4 fields"},
		{"repeated balance", "0\nN1 1\nN1 2\n", ":3:", "second balance"},
		{"empty", "\n# c\n", ":", "no snapshot id"},
	}
	for _, tt := range tests {
		_, err := ParseSnapshots(strings.NewReader(tt.in), "f.snap")
		if err == nil || !strings.Contains(err.Error(), "f.snap"+tt.line) || !strings.Contains(err.Error(), tt.text) || !errors.Is(err, ErrSyntax) {
			t.Errorf("%s: err = %v; want f.snap%s ... %q", tt.name, err, tt.line, tt.text)
		}
	}
}

// TestWriteParseRoundTrip: WriteSnapshot's output parses back to an equal
// snapshot, in the order the format fixes.
func TestWriteParseRoundTrip(t *testing.T) {
	g := GlobalSnapshot{
		ID:       7,
		Balances: []NodeTokens{{"N2", 1}, {"N10", 0}, {"N1", 4}},
		Messages: []SnapMessage{{"N2", "N3", 1}, {"N1", "N2", 5}, {"N3", "N2", 2}},
	}
	var b bytes.Buffer
	if err := WriteSnapshot(&b, g); err != nil {
		t.Fatal(err)
	}
	want := "7\nN1 4\nN10 0\nN2 1\nN1 N2 token(5)\nN3 N2 token(2)\nN2 N3 token(1)\n"
	if b.String() != want {
		t.Fatalf("WriteSnapshot = %q; want %q", b.String(), want)
	}
	got, err := ParseSnapshots(&b, "rt")
	if err != nil || len(got) != 1 {
		t.Fatalf("ParseSnapshots = %v, %v", got, err)
	}
	if err := CompareSnapshot(g, got[0]); err != nil {
		t.Fatal(err)
	}
	bad := got[0]
	bad.Messages = []SnapMessage{{"N3", "N2", 2}, {"N1", "N2", 5}, {"N2", "N3", 1}}
	if err := CompareSnapshot(g, bad); !errors.Is(err, ErrMismatch) {
		t.Fatalf("reordered messages of one destination: err = %v; want ErrMismatch", err)
	}
}

// The fuzz targets check that the parsers never panic and that what
// ParseSnapshots accepts survives a write/parse round trip.

func FuzzParseTopology(f *testing.F) {
	f.Add([]byte(goodTop))
	f.Add([]byte("8\nN1 10\n# x\nN2 0\nN1 N2\n"))
	f.Add([]byte("2\r\nN1 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		top, err := ParseTopology(bytes.NewReader(data), "fuzz.top")
		if err == nil && len(top.Nodes) == 0 {
			t.Fatal("accepted a topology without nodes")
		}
	})
}

func FuzzParseEvents(f *testing.F) {
	f.Add([]byte("send N1 N2 3\nsnapshot N2\ntick\ntick 4\n"))
	f.Add([]byte("#\n# x\n\ntick 0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		events, err := ParseEvents(bytes.NewReader(data), "fuzz.events")
		if err != nil {
			return
		}
		for _, ev := range events {
			if ev.Kind == EventTick && (ev.Ticks < 1 || ev.Ticks > MaxTickCount) {
				t.Fatalf("accepted tick count %d", ev.Ticks)
			}
		}
	})
}

func FuzzParseSnapshots(f *testing.F) {
	f.Add([]byte("0\nN1 5\nN2 1\nN1 N2 token(3)\n"))
	f.Add([]byte("1\n2\nN1 0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		snaps, err := ParseSnapshots(bytes.NewReader(data), "fuzz.snap")
		if err != nil {
			return
		}
		var b bytes.Buffer
		for _, g := range snaps {
			if err := WriteSnapshot(&b, g); err != nil {
				t.Fatal(err)
			}
		}
		again, err := ParseSnapshots(&b, "again")
		if err != nil || len(again) != len(snaps) {
			t.Fatalf("round trip: %v, %d snapshots; want %d", err, len(again), len(snaps))
		}
		for i := range snaps {
			if err := CompareSnapshot(snaps[i], again[i]); err != nil {
				t.Fatalf("round trip: %v", err)
			}
		}
	})
}
