package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestReport: package results and failures are printed as go test prints
// them, and every skipped test is listed with its reason.
func TestReport(t *testing.T) {
	in := strings.Join([]string{
		`{"Action":"start","Package":"p/a"}`,
		`{"Action":"run","Package":"p/a","Test":"TestBrowser"}`,
		`{"Action":"output","Package":"p/a","Test":"TestBrowser","Output":"=== RUN   TestBrowser\n"}`,
		`{"Action":"output","Package":"p/a","Test":"TestBrowser","Output":"    browser_test.go:12: no Chromium found (set LEDGERD_CHROMIUM)\n"}`,
		`{"Action":"output","Package":"p/a","Test":"TestBrowser","Output":"--- SKIP: TestBrowser (0.00s)\n"}`,
		`{"Action":"skip","Package":"p/a","Test":"TestBrowser","Elapsed":0}`,
		`{"Action":"output","Package":"p/a","Test":"TestOK","Output":"noise\n"}`,
		`{"Action":"pass","Package":"p/a","Test":"TestOK","Elapsed":0}`,
		`{"Action":"pass","Package":"p/a","Elapsed":1.5}`,
		`{"Action":"output","Package":"p/b","Test":"TestBad","Output":"    b_test.go:3: broken\n"}`,
		`{"Action":"fail","Package":"p/b","Test":"TestBad","Elapsed":0}`,
		`{"Action":"fail","Package":"p/b","Elapsed":0.2}`,
		`{"Action":"skip","Package":"p/c"}`,
	}, "\n")
	var out bytes.Buffer
	code := report(strings.NewReader(in), &out, false)
	got := out.String()
	for _, want := range []string{
		"ok  \tp/a\t1.500s",
		"b_test.go:3: broken",
		"FAIL\tp/b",
		"?   \tp/c\t[no test files]",
		"skipped: 1 tests\n  p/a TestBrowser: browser_test.go:12: no Chromium found (set LEDGERD_CHROMIUM)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "noise") {
		t.Errorf("output of a passing test printed:\n%s", got)
	}
	if code != 1 {
		t.Errorf("exit code %d with a failure, want 1", code)
	}
	out.Reset()
	if code := report(strings.NewReader(in), &out, true); !strings.Contains(out.String(), "skipped in this -short run: 1 tests (p/a 1)") || code != 1 {
		t.Errorf("-short report:\n%s", out.String())
	}
}
