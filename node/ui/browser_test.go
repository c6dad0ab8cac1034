//go:build unix

package ui

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd/node/api"
)

// browser is a headless browser with one page, driven by the page checks:
// Chromium over the Chrome DevTools Protocol (cdpBrowser, cdp_test.go) or
// Firefox over WebDriver BiDi (bidiBrowser, bidi_test.go).
type browser interface {
	// navigate loads url and waits until the JavaScript boolean
	// expression cond holds.
	navigate(t *testing.T, url, cond string)
	// reload reloads the page and waits until cond holds in the new document.
	reload(t *testing.T, cond string)
	// waitFor polls cond until it holds (bounded).
	waitFor(t *testing.T, cond string)
	// eval evaluates expr (awaiting a promise) and decodes its JSON-able
	// value into out (if not nil).
	eval(t *testing.T, expr string, out any)
	// screenshot saves a PNG of the viewport to path.
	screenshot(t *testing.T, path string)
	// consoleProblems returns the console errors and warnings, uncaught
	// exceptions and failed loads recorded so far (at most
	// maxConsoleProblems); takeConsoleProblems also forgets them.
	consoleProblems() []string
	takeConsoleProblems() []string
}

// browserKind is one browser the page checks run in.
type browserKind struct {
	name  string   // subtest name and screenshot prefix
	env   string   // the variable naming its binary, which then need not be on PATH
	bins  []string // names looked up on PATH
	pkg   string   // Debian package (the install hint; installed with CI=true)
	start func(t *testing.T, bin string) browser
}

// browserKinds are the browsers the explorer must work in.
var browserKinds = []browserKind{
	{name: "chromium", env: "LEDGERD_CHROMIUM", bins: []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}, pkg: "chromium",
		start: func(t *testing.T, bin string) browser { return startBrowser(t, bin) }},
	{name: "firefox", env: "LEDGERD_FIREFOX", bins: []string{"firefox-esr", "firefox"}, pkg: "firefox-esr",
		start: func(t *testing.T, bin string) browser { return startFirefox(t, bin) }},
}

// binary finds k's binary: $env, else the usual names on PATH.
func (k browserKind) binary() (string, bool) {
	if p := os.Getenv(k.env); p != "" {
		return p, true
	}
	for _, name := range k.bins {
		if p, err := exec.LookPath(name); err == nil {
			return p, true
		}
	}
	return "", false
}

// findBrowser returns k's binary, or "" and why the caller (what: "browser
// test", …) skips it. With CI=true a missing browser is installed instead,
// with apt-get (Debian's k.pkg), and failing to install it fails t.
func findBrowser(t *testing.T, k browserKind, what string) (bin, skip string) {
	t.Helper()
	if bin, ok := k.binary(); ok {
		return bin, ""
	}
	if os.Getenv("CI") != "true" {
		return "", fmt.Sprintf("%s skipped: no %s binary on PATH (apt-get install %s, or set %s; with CI=true the test installs it)", what, k.pkg, k.pkg, k.env)
	}
	var prefix []string
	if os.Geteuid() != 0 {
		prefix = []string{"sudo", "-n"}
	}
	for _, args := range [][]string{{"apt-get", "update"}, {"apt-get", "install", "-y", "--no-install-recommends", k.pkg}} {
		args = append(slices.Clone(prefix), args...)
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("CI=true and no %s found; installing it failed: %s: %v\n%s", k.pkg, strings.Join(args, " "), err, tail(string(out)))
		}
	}
	bin, ok := k.binary()
	if !ok {
		t.Fatalf("CI=true: apt-get install %s succeeded but no %s binary is on PATH", k.pkg, k.pkg)
	}
	t.Logf("installed %s", bin)
	return bin, ""
}

// waitForCond polls cond (a JavaScript boolean expression, evaluated with
// evalErr) until it holds, for at most 15 s. On timeout it fails t with the
// page text, the console problems and diag() (more of the browser's side).
func waitForCond(t *testing.T, evalErr func(expr string, out any) error, cond string, consoleProblems func() []string, diag func() string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	for {
		var ok bool
		err := evalErr("Boolean("+cond+")", &ok)
		if err == nil && ok {
			return
		}
		select {
		case <-ctx.Done():
			var html string
			_ = evalErr("document.body ? document.body.innerText.slice(0, 3000) : ''", &html)
			t.Fatalf("waiting for %s: %v (last eval error: %v)\npage text:\n%s\nconsole: %q%s", cond, ctx.Err(), err, html, consoleProblems(), diag())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// saveScreenshot writes the base64 PNG data of a screenshot to path.
func saveScreenshot(t *testing.T, path, data string) {
	t.Helper()
	png, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(png) < 10_000 || !strings.HasPrefix(string(png), "\x89PNG") {
		t.Fatalf("screenshot %s: %d bytes; want a PNG of the page", path, len(png))
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

func tail(s string) string {
	const maxLen = 4000
	if len(s) > maxLen {
		return "…" + s[len(s)-maxLen:]
	}
	return s
}

// js quotes s as a JavaScript string literal.
func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// flight is an in-flight arrow as the page draws it.
type flight struct {
	From, To, Count, Tx int
	Label               string
	// Crosses is true when the arrow starts left of the sender's recording
	// point and ends right of the receiver's, i.e. it crosses the cut.
	Crosses bool
}

// TestBrowser loads the explorer in headless Chromium and in headless
// Firefox (subtests "chromium" and "firefox"; a browser that is not
// installed is skipped), served together with node/api over the fake
// backend, and checks what a reader sees: the chain newest first including
// the checkpoint that arrives on the live stream, a checkpoint's votes, the
// space-time picture with the fake's in-flight channels, their counts and
// hashes, search and the predecessor link, the account proof status and a
// transaction receipt — with no console errors. Screenshots, prefixed with
// the browser's name, go to $LEDGERD_UI_SCREENSHOTS, else the test's
// artifact directory (kept by go test -artifacts).
func TestBrowser(t *testing.T) {
	outDir := screenshotDir(t)
	for _, k := range browserKinds {
		t.Run(k.name, func(t *testing.T) {
			bin, skip := findBrowser(t, k, "browser test")
			if bin == "" {
				t.Skip(skip)
			}
			srv := httptest.NewServer(api.NewServer(newFakeBackend(), api.Options{UI: Handler()}))
			// Cleanups run last-in first-out: the browser (and its open
			// checkpoint stream) goes first, then the server.
			t.Cleanup(srv.Close)
			b := k.start(t, bin)
			checkFakeExplorer(t, b, srv.URL, func(name string) { b.screenshot(t, filepath.Join(outDir, k.name+"-"+name)) })
		})
	}
}

// checkFakeExplorer runs TestBrowser's checks in b, against the explorer
// served at base over the fake backend; shot saves a screenshot by name.
func checkFakeExplorer(t *testing.T, b browser, base string, shot func(name string)) {
	evalJSON := func(expr string, out any) { t.Helper(); b.eval(t, expr, out) }

	// The snapshot of snapEpoch, reached by URL; the live epoch must arrive
	// over the stream (the first page fetch only has storedEpochs).
	b.navigate(t, fmt.Sprintf("%s/#/epoch/%d", base, snapEpoch),
		fmt.Sprintf(`document.querySelector('#spacetime[data-epoch="%d"]') && document.querySelector('#chain li[data-epoch="%d"]') && document.querySelectorAll('#validators tr').length === %d`,
			snapEpoch, liveEpoch, fakeValidators))

	var epochs []int
	evalJSON(`[...document.querySelectorAll('#chain li.cp')].map(li => +li.dataset.epoch)`, &epochs)
	if want := []int{7, 6, 5, 4, 3, 2, 1}; !reflect.DeepEqual(epochs, want) {
		t.Errorf("chain epochs = %v; want %v (newest first, live epoch %d included)", epochs, want, liveEpoch)
	}
	var live string
	evalJSON(`document.getElementById('live').textContent`, &live)
	if live != fmt.Sprintf("live: epoch %d", liveEpoch) {
		t.Errorf("live indicator = %q; want %q", live, fmt.Sprintf("live: epoch %d", liveEpoch))
	}
	var connected []string
	evalJSON(`[...document.querySelectorAll('#validators tr')].map(r => r.dataset.connected)`, &connected)
	if want := []string{"true", "true", "false", "true"}; !reflect.DeepEqual(connected, want) {
		t.Errorf("validators connected = %v; want %v", connected, want)
	}

	var votes []string
	var voteCount string
	evalJSON(`[...document.querySelectorAll('tr.vote')].map(r => r.dataset.signed)`, &votes)
	evalJSON(`document.getElementById('vote-count').textContent`, &voteCount)
	if want := []string{"true", "true", "true", "true"}; !reflect.DeepEqual(votes, want) || voteCount != "4 of 4 validators signed" {
		t.Errorf("epoch %d votes = %v, %q; want %v, \"4 of 4 validators signed\"", snapEpoch, votes, voteCount, want)
	}

	var flights []flight
	evalJSON(`[...document.querySelectorAll('g.inflight')].map(g => {
		const ln = g.querySelector('line.flight');
		const rec = (i) => +document.querySelector('circle.rec[data-validator="' + i + '"]').getAttribute('cx');
		const from = +g.dataset.from, to = +g.dataset.to;
		return {From: from, To: to, Count: +g.dataset.count, Tx: +g.dataset.txCount,
			Label: g.querySelector('text.flabel').textContent,
			Crosses: +ln.getAttribute('x1') < rec(from) && +ln.getAttribute('x2') > rec(to)};
	})`, &flights)
	wantFlights := []flight{
		{From: 2, To: 0, Count: 3, Tx: 7, Label: "3 entries · 7 tx", Crosses: true},
		{From: 1, To: 3, Count: 1, Tx: 2, Label: "1 entry · 2 tx", Crosses: true},
	}
	if !reflect.DeepEqual(flights, wantFlights) {
		t.Errorf("in-flight arrows = %+v; want %+v", flights, wantFlights)
	}
	var picture struct {
		Recs, Missing, Markers, CutPoints int
		Entries, Txs                      string
		Consistency                       string
	}
	evalJSON(`({Recs: document.querySelectorAll('circle.rec').length,
		Missing: document.querySelectorAll('circle.rec.missing').length,
		Markers: document.querySelectorAll('line.marker').length,
		CutPoints: document.getElementById('cut-line').getAttribute('points').trim().split(/\s+/).length,
		Entries: document.getElementById('snap-summary').dataset.entries,
		Txs: document.getElementById('snap-summary').dataset.txs,
		Consistency: document.getElementById('consistency').textContent})`, &picture)
	if picture.Recs != 4 || picture.Missing != 0 || picture.Markers != 12 || picture.CutPoints != 6 ||
		picture.Entries != "4" || picture.Txs != "9" || !strings.HasPrefix(picture.Consistency, "✓ consistent") {
		t.Errorf("picture = %+v; want 4 recording points, none missing, 12 markers, 6 cut points, 4 entries, 9 txs, consistent", picture)
	}

	// Clicking an arrow lists its transactions.
	var hashes []string
	evalJSON(`document.querySelector('g.inflight[data-from="2"][data-to="0"]').dispatchEvent(new MouseEvent('click', {bubbles: true})),
		[...document.querySelectorAll('#chandetail ol.hashes a')].map(a => a.textContent)`, &hashes)
	if len(hashes) != 7 || hashes[0] != fakeTxHash(snapEpoch, 0, 2, 0).Hex() || hashes[6] != fakeTxHash(snapEpoch, 0, 2, 6).Hex() {
		t.Errorf("channel 2→0 hashes = %v; want the 7 fake hashes", hashes)
	}
	// The detail box holds its heading, the range, the list and nothing
	// else (an untruncated list once rendered a stray "null" after it).
	var detailTags []string
	evalJSON(`[...document.getElementById('chandetail').childNodes].map(n => n.nodeName)`, &detailTags)
	if want := []string{"H4", "P", "OL"}; !reflect.DeepEqual(detailTags, want) {
		t.Errorf("channel detail children = %v; want %v", detailTags, want)
	}
	shot("snapshot-epoch-5.png")

	// An epoch one validator did not vote for.
	b.navigate(t, fmt.Sprintf("%s/#/epoch/%d", base, partialEpoch), fmt.Sprintf(`document.querySelector('#spacetime[data-epoch="%d"]')`, partialEpoch))
	evalJSON(`[...document.querySelectorAll('tr.vote')].map(r => r.dataset.signed)`, &votes)
	evalJSON(`document.getElementById('vote-count').textContent`, &voteCount)
	if want := []string{"true", "true", "true", "false"}; !reflect.DeepEqual(votes, want) || voteCount != "3 of 4 validators signed" {
		t.Errorf("epoch %d votes = %v, %q; want %v, \"3 of 4 validators signed\"", partialEpoch, votes, voteCount, want)
	}
	var missing []string
	evalJSON(`[...document.querySelectorAll('circle.rec.missing')].map(c => c.dataset.validator)`, &missing)
	if !reflect.DeepEqual(missing, []string{"3"}) {
		t.Errorf("missing recording points = %v; want [3]", missing)
	}
	// Validator 3 is absent: in the picture, the checkpoint's validator
	// table, its fields, and the header's validator list.
	var absent struct {
		Points, Votes, Validators []string
		Field, Sub                string
		Markers                   int
	}
	evalJSON(`({Points: [...document.querySelectorAll('circle.rec.absent')].map(c => c.dataset.validator),
		Votes: [...document.querySelectorAll('tr.vote.absent')].map(r => r.dataset.validator),
		Validators: [...document.querySelectorAll('#validators tr.absent')].map(r => r.dataset.index),
		Field: document.getElementById('absent').textContent,
		Sub: [...document.querySelectorAll('text.vsub.absent')].map(t => t.textContent).join(),
		Markers: document.querySelectorAll('line.marker[data-from="3"]').length})`, &absent)
	wantField := fmt.Sprintf("#3 delta (stream closed at seq %d)", fakeCut(partialEpoch - 1)[3])
	if !reflect.DeepEqual(absent.Points, []string{"3"}) || !reflect.DeepEqual(absent.Votes, []string{"3"}) ||
		!reflect.DeepEqual(absent.Validators, []string{"3"}) || absent.Field != wantField ||
		absent.Sub != fmt.Sprintf("absent · stream closed at seq %d", fakeCut(partialEpoch - 1)[3]) || absent.Markers != 0 {
		t.Errorf("epoch %d absent validator shown as %+v; want validator 3 everywhere, field %q, no marker from it", partialEpoch, absent, wantField)
	}
	shot("snapshot-epoch-6.png")

	// Search by checkpoint hash, then follow the predecessor link.
	cp3 := fakeHash("cp", 3).Hex()
	b.eval(t, `document.getElementById('q').value = `+js(cp3)+`, document.getElementById('search').requestSubmit(), true`, nil)
	b.waitFor(t, `document.querySelector('section.checkpoint[data-epoch="3"]') && document.querySelector('#spacetime[data-epoch="3"]')`)
	var prevHref string
	evalJSON(`document.getElementById('prev').getAttribute('href')`, &prevHref)
	if want := "#/cp/" + fakeHash("cp", 2).Hex(); prevHref != want {
		t.Errorf("predecessor link of epoch 3 = %q; want %q", prevHref, want)
	}
	b.eval(t, `document.getElementById('prev').click(), true`, nil)
	b.waitFor(t, `document.querySelector('section.checkpoint[data-epoch="2"]')`)
	// Search by epoch number.
	b.eval(t, `document.getElementById('q').value = '4', document.getElementById('search').requestSubmit(), true`, nil)
	b.waitFor(t, `document.querySelector('section.checkpoint[data-epoch="4"]')`)
	// Search by transaction hash.
	b.eval(t, `document.getElementById('q').value = `+js(finalTx.Hex())+`, document.getElementById('search').requestSubmit(), true`, nil)
	b.waitFor(t, `location.hash === `+js("#/tx/"+finalTx.Hex())+` && document.getElementById('receipt')`)
	checkConsole(t, b, nil)
	// A hash nobody knows: the page says so; the browser logs the API's 404
	// for the checkpoint lookup, and nothing else.
	nobody := fakeHash("nobody", 0).Hex()
	b.eval(t, `document.getElementById('q').value = `+js(nobody)+`, document.getElementById('search').requestSubmit(), true`, nil)
	b.waitFor(t, `document.querySelector('.problem') && document.querySelector('.problem').textContent.startsWith('No checkpoint or transaction')`)
	checkConsole(t, b, []string{"/v1/checkpoints/" + nobody})
	// A malformed epoch is refused before any request.
	b.navigate(t, base+"/#/epoch/x1", `document.querySelector('.problem') && document.querySelector('.problem').textContent.includes('not an epoch number')`)

	// Account with its proof status.
	b.navigate(t, base+"/#/account/"+fakeAcct.Hex(), `document.getElementById('proof-links')`)
	var acct struct {
		Balance string
		Checks  []string
	}
	evalJSON(`({Balance: document.getElementById('balance').textContent,
		Checks: ['proof-returned', 'root-match', 'proof-links'].map(id => document.getElementById(id).dataset.ok)})`, &acct)
	if acct.Balance != "123456789" || !reflect.DeepEqual(acct.Checks, []string{"true", "true", "true"}) {
		t.Errorf("account = %+v; want balance 123456789 and every proof check true", acct)
	}
	shot("account.png")

	// Transaction with its receipt.
	b.navigate(t, base+"/#/tx/"+finalTx.Hex(), `document.getElementById('receipt')`)
	var tx struct{ Status, Receipt string }
	evalJSON(`({Status: document.getElementById('tx-status').textContent, Receipt: document.getElementById('receipt').textContent})`, &tx)
	if tx.Status != "final" || !strings.Contains(tx.Receipt, "ok") || !strings.Contains(strings.ToLower(tx.Receipt), strings.ToLower(fakeAddr(7).Hex())) {
		t.Errorf("tx = %+v; want final with an ok receipt from %s", tx, fakeAddr(7).Hex())
	}
	shot("tx.png")

	// The front page follows the latest checkpoint (the live one).
	b.navigate(t, base+"/", fmt.Sprintf(`document.querySelector('section.checkpoint[data-epoch="%d"]') && document.querySelector('#spacetime')`, liveEpoch))
	shot("front.png")

	var pageErrors string
	evalJSON(`document.getElementById('errors').textContent`, &pageErrors)
	if pageErrors != "" {
		t.Errorf("page recorded errors: %s", pageErrors)
	}
	checkConsole(t, b, nil)
	checkConsoleRecords(t, b)
}

// checkConsoleRecords makes the page log a console error, throw an uncaught
// exception, break its Content-Security-Policy and load a missing file, and
// checks that b records each of them (a browser that recorded nothing would
// pass every checkConsole). It forgets them afterwards.
func checkConsoleRecords(t *testing.T, b browser) {
	t.Helper()
	b.eval(t, `console.error('probe: console error');
		setTimeout(() => { throw new Error('probe: uncaught'); });
		const img = document.body.appendChild(Object.assign(document.createElement('img'), {src: 'http://192.0.2.1/probe-csp.png'}));
		setTimeout(() => img.remove(), 100);
		fetch('/probe-missing.js').catch(() => {});
		true`, nil)
	want := map[string]func(string) bool{
		"console error":   func(p string) bool { return strings.Contains(p, "probe: console error") },
		"exception":       func(p string) bool { return strings.Contains(p, "probe: uncaught") },
		"CSP violation":   func(p string) bool { return strings.Contains(p, "192.0.2.1/probe-csp.png") },
		"404 of the file": func(p string) bool { return strings.Contains(p, "404") && strings.HasSuffix(p, "/probe-missing.js") },
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var missing []string
		problems := b.consoleProblems()
		for name, match := range want {
			if !slices.ContainsFunc(problems, match) {
				missing = append(missing, name)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			slices.Sort(missing)
			t.Errorf("the browser's console problems do not show the page's %s within 10 s; recorded:\n%s", strings.Join(missing, ", "), strings.Join(problems, "\n"))
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.takeConsoleProblems()
}

// checkConsole checks the console problems logged since the last check:
// exactly one failed load for each URL suffix in expected404, nothing else.
func checkConsole(t *testing.T, b browser, expected404 []string) {
	t.Helper()
	problems := b.takeConsoleProblems()
	var unexpected []string
	seen := map[string]bool{}
	for _, p := range problems {
		ok := false
		for _, u := range expected404 {
			if !seen[u] && strings.Contains(p, "404") && strings.HasSuffix(p, u) {
				seen[u], ok = true, true
				break
			}
		}
		if !ok {
			unexpected = append(unexpected, p)
		}
	}
	if len(unexpected) > 0 {
		t.Errorf("browser console problems:\n%s", strings.Join(unexpected, "\n"))
	}
	for _, u := range expected404 {
		if !seen[u] {
			t.Errorf("no failed load of %s logged; want one (got %q)", u, problems)
		}
	}
}

// calls is the bookkeeping both browser clients share: commands waiting
// for their answer, and the console problems the browser reported (at
// most maxConsoleProblems).
type calls[M any] struct {
	mu      sync.Mutex
	nextID  int64
	pending map[int64]chan M
	console []string
}

// open registers a command and returns its id and the channel its answer
// arrives on (closed if the connection ends first).
func (c *calls[M]) open() (int64, chan M) {
	ch := make(chan M, 1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending == nil {
		c.pending = make(map[int64]chan M)
	}
	c.nextID++
	c.pending[c.nextID] = ch
	return c.nextID, ch
}

// forget drops a command that will not be answered (write failed, timed out).
func (c *calls[M]) forget(id int64) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

// answer hands m to command id if it still waits.
func (c *calls[M]) answer(id int64, m M) {
	c.mu.Lock()
	ch := c.pending[id]
	delete(c.pending, id)
	c.mu.Unlock()
	if ch != nil {
		ch <- m
	}
}

// closeAll closes every waiting command's channel: the connection is gone.
func (c *calls[M]) closeAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, ch := range c.pending {
		close(ch)
		delete(c.pending, id)
	}
}

// problem records a console problem, dropping it beyond the bound.
func (c *calls[M]) problem(p string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.console) < maxConsoleProblems {
		c.console = append(c.console, p)
	}
}

// consoleProblems returns the problems recorded so far.
func (c *calls[M]) consoleProblems() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.console...)
}

// takeConsoleProblems returns the problems recorded so far and forgets them.
func (c *calls[M]) takeConsoleProblems() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.console
	c.console = nil
	return out
}
