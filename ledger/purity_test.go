package ledger

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// pureDirs are the packages that must stay deterministic: no I/O, clock,
// randomness, network or storage. checkpoint/checkpointtest is test
// infrastructure (conformance harness, seeded simulator) and is not listed.
var pureDirs = []string{".", "internal/mpt", "sigbatch", "../checkpoint", "../checkpoint/stream"}

var forbiddenImports = []string{
	"os", "net", "net/http", "math/rand", "math/rand/v2", "crypto/rand",
	"log/slog", "github.com/dgraph-io/badger", "github.com/libp2p",
}

// TestPurity fails if a non-test file of a pure package imports an I/O,
// randomness or network package, or calls time.Now.
func TestPurity(t *testing.T) {
	for _, dir := range pureDirs {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		if len(files) == 0 {
			t.Fatalf("no Go files in %s", dir)
		}
		for _, path := range files {
			if strings.HasSuffix(path, "_test.go") {
				continue
			}
			checkPureFile(t, path)
		}
	}
}

// reporter is the part of testing.TB the checker uses, so its own test can
// count violations without failing.
type reporter interface {
	Helper()
	Errorf(format string, args ...any)
	Fatal(args ...any)
}

func checkPureFile(t reporter, path string) {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, src, parser.ImportsOnly|parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		for _, bad := range forbiddenImports {
			if p == bad || strings.HasPrefix(p, bad+"/") {
				t.Errorf("%s imports %q: pure packages must not", path, p)
			}
		}
	}
	full, err := parser.ParseFile(fset, path, src, 0)
	if err != nil {
		t.Fatal(err)
	}
	ast.Inspect(full, func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if x, ok := sel.X.(*ast.Ident); ok && x.Name == "time" && (sel.Sel.Name == "Now" || sel.Sel.Name == "Since" || sel.Sel.Name == "Until") {
			t.Errorf("%s: calls time.%s: pure packages take time as input", fset.Position(sel.Pos()), sel.Sel.Name)
		}
		return true
	})
}

// TestPurityCheckerCatches proves the checker flags a forbidden import and a
// clock read, so TestPurity cannot pass vacuously.
func TestPurityCheckerCatches(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.go")
	src := "package x\nimport (\n\t\"os\"\n\t\"time\"\n)\nvar _ = os.Getpid\nvar _ = time.Now()\n"
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	rec := &countingReporter{}
	checkPureFile(rec, path)
	if rec.errors != 2 {
		t.Fatalf("checker reported %d violations in a file with 2", rec.errors)
	}
}

type countingReporter struct{ errors int }

func (r *countingReporter) Helper()               {}
func (r *countingReporter) Errorf(string, ...any) { r.errors++ }
func (r *countingReporter) Fatal(args ...any)     { panic(args) }
