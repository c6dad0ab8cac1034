package conformance

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// This file reads and writes the COS 418 conformance formats (.top, .events,
// .snap) described in shared/conformance/chandy-lamport/README.md. Every
// parse error names the file and line.

// Parse limits: inputs past them are rejected, so a bad file cannot make the
// harness allocate or loop without bound.
const (
	MaxNodes      = 1024       // nodes in a topology
	MaxTokens     = 1 << 40    // tokens of one node, one send or one message
	MaxLineBytes  = 64 << 10   // bytes in one line
	MaxTickCount  = 1_000_000  // ticks of one tick line
	MaxEventLines = 1_000_000  // lines of one events file
	maxNameBytes  = 256        // bytes in a node name
	maxFileBytes  = 64 << 20   // bytes read from one file
	maxSnapLines  = 10_000_000 // lines of one .snap input
)

// ErrSyntax is wrapped by every parse error; the message carries file:line.
var ErrSyntax = errors.New("conformance: syntax error")

// ParseError is a parse or script error at one line of one file.
type ParseError struct {
	File string
	Line int // 1-based
	Msg  string
}

func (e *ParseError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// Unwrap returns ErrSyntax.
func (e *ParseError) Unwrap() error { return ErrSyntax }

// NodeTokens is a node name with a token count: an initial balance in a
// topology or a recorded balance in a snapshot.
type NodeTokens struct {
	Node   string
	Tokens int64
}

// LinkSpec is a directed FIFO channel Src→Dst between named nodes.
type LinkSpec struct {
	Src, Dst string
}

// Topology is a parsed .top file.
type Topology struct {
	// Nodes in file order.
	Nodes []NodeTokens
	// Links in file order, without self-links and without duplicates.
	Links []LinkSpec
}

// EventKind is the command of one .events line.
type EventKind uint8

// The commands of an .events file.
const (
	EventSend EventKind = iota + 1
	EventSnapshot
	EventTick
)

// Event is one command of an .events file.
type Event struct {
	Line int // 1-based line in the file, for errors
	Kind EventKind
	// Src and Dst are the sender and receiver of EventSend; Src is the
	// initiator of EventSnapshot.
	Src, Dst string
	// Tokens is the amount of EventSend.
	Tokens int64
	// Ticks is the step count of EventTick (1 for a bare "tick").
	Ticks int
}

// SnapMessage is a token message recorded on channel Src→Dst.
type SnapMessage struct {
	Src, Dst string
	Tokens   int64
}

// GlobalSnapshot is one collected global snapshot in the .snap model.
type GlobalSnapshot struct {
	ID uint64
	// Balances holds one entry per node.
	Balances []NodeTokens
	// Messages are the recorded token messages; within one destination in
	// arrival order.
	Messages []SnapMessage
}

// lines returns the input's lines (split on '\n'), numbered from 1. It fails
// on an over-long line or file.
func lines(r io.Reader, file string, maxLines int) ([]string, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	if len(data) > maxFileBytes {
		return nil, &ParseError{File: file, Line: 1, Msg: fmt.Sprintf("file longer than %d bytes", maxFileBytes)}
	}
	out := strings.Split(string(data), "\n")
	if len(out) > maxLines {
		return nil, &ParseError{File: file, Line: maxLines + 1, Msg: fmt.Sprintf("more than %d lines", maxLines)}
	}
	for i, l := range out {
		if len(l) > MaxLineBytes {
			return nil, &ParseError{File: file, Line: i + 1, Msg: fmt.Sprintf("line longer than %d bytes", MaxLineBytes)}
		}
	}
	return out, nil
}

func parseCount(s string, limit int64) (int64, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > limit {
		return 0, false
	}
	return n, true
}

func validName(s string) bool {
	return s != "" && len(s) <= maxNameBytes && !strings.ContainsAny(s, " \t\r\n\v\f")
}

// ParseTopology reads a .top file. file names it in errors.
//
// Rules (README section 2): lines split on '\n'; empty lines and lines
// starting with '#' are skipped; the first line is the node count N with no
// other characters; N lines "<node> <tokens>"; then "<src> <dst>" links whose
// ends are declared nodes. Self-links are ignored. A repeated node or link is
// an error.
func ParseTopology(r io.Reader, file string) (*Topology, error) {
	ls, err := lines(r, file, MaxEventLines)
	if err != nil {
		return nil, err
	}
	top := &Topology{}
	declared := map[string]bool{}
	linked := map[LinkSpec]bool{}
	nodeCount := int64(-1)
	bad := func(i int, format string, args ...any) error {
		return &ParseError{File: file, Line: i + 1, Msg: fmt.Sprintf(format, args...)}
	}
	for i, line := range ls {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		switch {
		case nodeCount < 0:
			n, ok := parseCount(line, MaxNodes)
			if !ok || n == 0 {
				return nil, bad(i, "want the node count (an integer 1..%d alone on the line), got %q", MaxNodes, line)
			}
			nodeCount = n
		case int64(len(top.Nodes)) < nodeCount:
			if len(f) != 2 {
				return nil, bad(i, "want \"<node> <tokens>\" (node %d of %d), got %q", len(top.Nodes)+1, nodeCount, line)
			}
			if !validName(f[0]) {
				return nil, bad(i, "bad node name %q", f[0])
			}
			if declared[f[0]] {
				return nil, bad(i, "node %s declared twice", f[0])
			}
			tokens, ok := parseCount(f[1], MaxTokens)
			if !ok {
				return nil, bad(i, "node %s: bad token count %q (want an integer 0..%d)", f[0], f[1], int64(MaxTokens))
			}
			declared[f[0]] = true
			top.Nodes = append(top.Nodes, NodeTokens{Node: f[0], Tokens: tokens})
		default:
			if len(f) != 2 {
				return nil, bad(i, "want a link \"<src> <dst>\", got %q", line)
			}
			for _, n := range f {
				if !declared[n] {
					return nil, bad(i, "link %s %s: node %s is not declared", f[0], f[1], n)
				}
			}
			if f[0] == f[1] {
				continue // self-links are ignored, as in the original harness
			}
			l := LinkSpec{Src: f[0], Dst: f[1]}
			if linked[l] {
				return nil, bad(i, "link %s %s declared twice", l.Src, l.Dst)
			}
			linked[l] = true
			top.Links = append(top.Links, l)
		}
	}
	switch {
	case nodeCount < 0:
		return nil, bad(len(ls)-1, "no node count: the file has no content")
	case int64(len(top.Nodes)) < nodeCount:
		return nil, bad(len(ls)-1, "file ends after %d of %d nodes", len(top.Nodes), nodeCount)
	}
	return top, nil
}

// ParseEvents reads an .events file. file names it in errors. It checks
// syntax only; RunScript checks nodes, links and balances.
//
// Commands (README section 3): "send <src> <dst> <k>", "snapshot <node>",
// "tick" and "tick <k>". Empty lines are skipped. Unlike the original
// harness, every line starting with '#' is a comment (the original skips
// only a line that is exactly "#" and aborts on "# text"; no shipped file has
// either).
func ParseEvents(r io.Reader, file string) ([]Event, error) {
	ls, err := lines(r, file, MaxEventLines)
	if err != nil {
		return nil, err
	}
	var events []Event
	bad := func(i int, format string, args ...any) error {
		return &ParseError{File: file, Line: i + 1, Msg: fmt.Sprintf(format, args...)}
	}
	for i, line := range ls {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		ev := Event{Line: i + 1}
		switch f[0] {
		case "send":
			if len(f) != 4 {
				return nil, bad(i, "want \"send <src> <dst> <tokens>\", got %q", line)
			}
			k, ok := parseCount(f[3], MaxTokens)
			if !ok || k == 0 {
				return nil, bad(i, "send: bad token count %q (want an integer 1..%d)", f[3], int64(MaxTokens))
			}
			ev.Kind, ev.Src, ev.Dst, ev.Tokens = EventSend, f[1], f[2], k
		case "snapshot":
			if len(f) != 2 {
				return nil, bad(i, "want \"snapshot <node>\", got %q", line)
			}
			ev.Kind, ev.Src = EventSnapshot, f[1]
		case "tick":
			ev.Kind, ev.Ticks = EventTick, 1
			switch len(f) {
			case 1:
			case 2:
				k, ok := parseCount(f[1], MaxTickCount)
				if !ok || k == 0 {
					return nil, bad(i, "tick: bad step count %q (want an integer 1..%d)", f[1], MaxTickCount)
				}
				ev.Ticks = int(k)
			default:
				return nil, bad(i, "want \"tick\" or \"tick <steps>\", got %q", line)
			}
		default:
			return nil, bad(i, "unknown command %q (want send, snapshot or tick)", f[0])
		}
		events = append(events, ev)
	}
	return events, nil
}

// ParseSnapshots reads one .snap file, or several snapshots concatenated as
// RunSnapshotSim writes them: each id line starts a new snapshot. file names
// the input in errors.
//
// Lines are classified by field count (README section 6): 1 field is the id,
// 2 fields "<node> <tokens>", 3 fields "<src> <dst> token(<k>)". Empty lines
// and '#' comments are skipped. Stricter than the original harness, a line
// with another field count, a balance or message before any id line, a
// repeated balance or a third field that is not token(<k>) is an error.
func ParseSnapshots(r io.Reader, file string) ([]GlobalSnapshot, error) {
	ls, err := lines(r, file, maxSnapLines)
	if err != nil {
		return nil, err
	}
	var out []GlobalSnapshot
	var seen map[string]bool
	bad := func(i int, format string, args ...any) error {
		return &ParseError{File: file, Line: i + 1, Msg: fmt.Sprintf(format, args...)}
	}
	for i, line := range ls {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if len(f) != 1 && len(out) == 0 {
			return nil, bad(i, "%q before the snapshot id line", line)
		}
		switch len(f) {
		case 1:
			id, err := strconv.ParseUint(f[0], 10, 64)
			if err != nil {
				return nil, bad(i, "bad snapshot id %q (want a non-negative integer)", f[0])
			}
			out = append(out, GlobalSnapshot{ID: id})
			seen = map[string]bool{}
		case 2:
			k, ok := parseCount(f[1], MaxTokens)
			if !ok || !validName(f[0]) {
				return nil, bad(i, "bad balance line %q (want \"<node> <tokens>\")", line)
			}
			if seen[f[0]] {
				return nil, bad(i, "second balance for node %s", f[0])
			}
			seen[f[0]] = true
			s := &out[len(out)-1]
			s.Balances = append(s.Balances, NodeTokens{Node: f[0], Tokens: k})
		case 3:
			arg, ok := strings.CutPrefix(f[2], "token(")
			if ok {
				arg, ok = strings.CutSuffix(arg, ")")
			}
			k, okCount := parseCount(arg, MaxTokens)
			if !ok || !okCount || !validName(f[0]) || !validName(f[1]) {
				return nil, bad(i, "bad message line %q (want \"<src> <dst> token(<k>)\")", line)
			}
			s := &out[len(out)-1]
			s.Messages = append(s.Messages, SnapMessage{Src: f[0], Dst: f[1], Tokens: k})
		default:
			return nil, bad(i, "line has %d fields, want 1 (id), 2 (balance) or 3 (message): %q", len(f), line)
		}
	}
	if len(out) == 0 {
		return nil, bad(max(len(ls)-1, 0), "no snapshot id line")
	}
	return out, nil
}

// WriteSnapshot writes s in the .snap format: the id line, the balance lines
// sorted by node name, then the message lines grouped by destination in name
// order, in arrival order within one destination.
func WriteSnapshot(w io.Writer, s GlobalSnapshot) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "%d\n", s.ID)
	bal := slices.Clone(s.Balances)
	slices.SortStableFunc(bal, func(a, b NodeTokens) int { return strings.Compare(a.Node, b.Node) })
	for _, b := range bal {
		fmt.Fprintf(bw, "%s %d\n", b.Node, b.Tokens)
	}
	msgs := slices.Clone(s.Messages)
	slices.SortStableFunc(msgs, func(a, b SnapMessage) int { return strings.Compare(a.Dst, b.Dst) })
	for _, m := range msgs {
		fmt.Fprintf(bw, "%s %s token(%d)\n", m.Src, m.Dst, m.Tokens)
	}
	return bw.Flush()
}

// ErrMismatch is wrapped by CompareSnapshot's errors.
var ErrMismatch = errors.New("conformance: snapshot mismatch")

// CompareSnapshot applies the README's comparison rules (section 7.3): equal
// ids; equal balance count and every expected balance equal; equal message
// count; and per destination the same (src, dst, tokens) sequence. Order
// across destinations is not checked.
func CompareSnapshot(want, got GlobalSnapshot) error {
	mismatch := func(format string, args ...any) error {
		return fmt.Errorf("%w: snapshot %d: %s", ErrMismatch, want.ID, fmt.Sprintf(format, args...))
	}
	if want.ID != got.ID {
		return mismatch("got id %d", got.ID)
	}
	if len(want.Balances) != len(got.Balances) {
		return mismatch("got %d balances, want %d", len(got.Balances), len(want.Balances))
	}
	gotBal := map[string]int64{}
	for _, b := range got.Balances {
		gotBal[b.Node] = b.Tokens
	}
	for _, b := range want.Balances {
		g, ok := gotBal[b.Node]
		if !ok {
			return mismatch("no balance for node %s, want %d", b.Node, b.Tokens)
		}
		if g != b.Tokens {
			return mismatch("node %s balance = %d, want %d", b.Node, g, b.Tokens)
		}
	}
	if len(want.Messages) != len(got.Messages) {
		return mismatch("got %d messages, want %d", len(got.Messages), len(want.Messages))
	}
	byDst := func(ms []SnapMessage) map[string][]SnapMessage {
		out := map[string][]SnapMessage{}
		for _, m := range ms {
			out[m.Dst] = append(out[m.Dst], m)
		}
		return out
	}
	gotBy, wantBy := byDst(got.Messages), byDst(want.Messages)
	for _, dst := range sortedKeys(wantBy) {
		if !slices.Equal(gotBy[dst], wantBy[dst]) {
			return mismatch("messages to %s = %v, want %v", dst, gotBy[dst], wantBy[dst])
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
