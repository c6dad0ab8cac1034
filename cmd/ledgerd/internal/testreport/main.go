// Command testreport reads `go test -json` on stdin and prints what
// `go test` would (a line per package, the output of failed tests and of
// failed builds), followed by every skipped test with the reason it gave.
// `make test` pipes its test runs through it so that a skipped suite (no
// browser installed, no Docker) is named rather than silent. It exits 1
// when a test or a build failed.
//
// With -short it lists only the number of skipped tests per package: the
// race run uses -short, which skips the long tests by design.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action     string
	Package    string
	Test       string
	Elapsed    float64
	Output     string
	ImportPath string
}

type skip struct{ pkg, test, reason string }

func main() {
	short := flag.Bool("short", false, "count skipped tests per package instead of listing them")
	flag.Parse()
	os.Exit(report(os.Stdin, os.Stdout, *short))
}

func report(in io.Reader, out io.Writer, short bool) int {
	output := map[string][]string{} // package + "\x00" + test → output lines
	var skips []skip
	failed := false
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if err := json.Unmarshal(line, &e); err != nil || e.Action == "" {
			fmt.Fprintln(out, string(line)) // not an event: go test's own message
			continue
		}
		key := e.Package + "\x00" + e.Test
		switch e.Action {
		case "build-output":
			output["build\x00"+e.ImportPath] = append(output["build\x00"+e.ImportPath], e.Output)
		case "build-fail":
			failed = true
			fmt.Fprint(out, strings.Join(output["build\x00"+e.ImportPath], ""))
		case "output":
			output[key] = append(output[key], e.Output)
		case "skip":
			if e.Test == "" {
				fmt.Fprintf(out, "?   \t%s\t[no test files]\n", e.Package)
				continue
			}
			skips = append(skips, skip{e.Package, e.Test, skipReason(output[key])})
			delete(output, key)
		case "pass":
			delete(output, key)
			if e.Test == "" {
				fmt.Fprintf(out, "ok  \t%s\t%.3fs\n", e.Package, e.Elapsed)
			}
		case "fail":
			failed = true
			if e.Test != "" {
				fmt.Fprint(out, strings.Join(output[key], ""))
				delete(output, key)
				continue
			}
			fmt.Fprint(out, strings.Join(output[key], ""))
			fmt.Fprintf(out, "FAIL\t%s\t%.3fs\n", e.Package, e.Elapsed)
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(out, "testreport: %v\n", err)
		failed = true
	}
	printSkips(out, skips, short)
	if failed {
		return 1
	}
	return 0
}

// skipReason is the message a skipped test gave: its output without the
// === and --- lines go test adds.
func skipReason(lines []string) string {
	var msg []string
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- ") {
			continue
		}
		msg = append(msg, t)
	}
	if len(msg) == 0 {
		return "(no reason given)"
	}
	return strings.Join(msg, " ")
}

func printSkips(out io.Writer, skips []skip, short bool) {
	if len(skips) == 0 {
		return
	}
	slices.SortFunc(skips, func(a, b skip) int { return strings.Compare(a.pkg+" "+a.test, b.pkg+" "+b.test) })
	if short {
		counts := map[string]int{}
		var pkgs []string
		for _, s := range skips {
			if counts[s.pkg] == 0 {
				pkgs = append(pkgs, s.pkg)
			}
			counts[s.pkg]++
		}
		fmt.Fprintf(out, "skipped in this -short run: %d tests (", len(skips))
		for i, p := range pkgs {
			if i > 0 {
				fmt.Fprint(out, ", ")
			}
			fmt.Fprintf(out, "%s %d", strings.TrimPrefix(p, "github.com/ledgerd/ledgerd/"), counts[p])
		}
		fmt.Fprintln(out, "); the first run lists its skips with their reasons")
		return
	}
	fmt.Fprintf(out, "skipped: %d tests\n", len(skips))
	for _, s := range skips {
		fmt.Fprintf(out, "  %s %s: %s\n", strings.TrimPrefix(s.pkg, "github.com/ledgerd/ledgerd/"), s.test, s.reason)
	}
}
