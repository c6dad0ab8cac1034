//go:build unix

package ui

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ledgerd/ledgerd/node/api"
)

// chromiumBinary finds a Chromium to drive: $LEDGERD_CHROMIUM, else the
// usual names on PATH.
func chromiumBinary() (string, bool) {
	if p := os.Getenv("LEDGERD_CHROMIUM"); p != "" {
		return p, true
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, true
		}
	}
	return "", false
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

// TestBrowser loads the explorer in headless Chromium, served together with
// node/api over the fake backend, and checks what a reader sees: the chain
// newest first including the checkpoint that arrives on the live stream, a
// checkpoint's votes, the space-time picture with the fake's in-flight
// channels, their counts and hashes, search and the predecessor link, the
// account proof status and a transaction receipt — with no console errors.
// Screenshots go to $LEDGERD_UI_SCREENSHOTS, else the test's artifact
// directory (kept by go test -artifacts).
func TestBrowser(t *testing.T) {
	bin, ok := chromiumBinary()
	if !ok {
		t.Skip("browser test skipped: no chromium binary on PATH (apt-get install chromium, or set LEDGERD_CHROMIUM)")
	}
	outDir := os.Getenv("LEDGERD_UI_SCREENSHOTS")
	if outDir == "" {
		outDir = t.ArtifactDir()
	} else if err := os.MkdirAll(outDir, 0o755); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.NewServer(newFakeBackend(), api.Options{UI: Handler()}))
	// Cleanups run last-in first-out: the browser (and its open checkpoint
	// stream) goes first, then the server.
	t.Cleanup(srv.Close)
	b := startBrowser(t, bin)
	shot := func(name string) { b.screenshot(t, filepath.Join(outDir, name)) }
	evalJSON := func(expr string, out any) { t.Helper(); b.eval(t, expr, out) }

	// The snapshot of snapEpoch, reached by URL; the live epoch must arrive
	// over the stream (the first page fetch only has storedEpochs).
	b.navigate(t, fmt.Sprintf("%s/#/epoch/%d", srv.URL, snapEpoch),
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
	b.navigate(t, fmt.Sprintf("%s/#/epoch/%d", srv.URL, partialEpoch), fmt.Sprintf(`document.querySelector('#spacetime[data-epoch="%d"]')`, partialEpoch))
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
	b.navigate(t, srv.URL+"/#/epoch/x1", `document.querySelector('.problem') && document.querySelector('.problem').textContent.includes('not an epoch number')`)

	// Account with its proof status.
	b.navigate(t, srv.URL+"/#/account/"+fakeAcct.Hex(), `document.getElementById('proof-links')`)
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
	b.navigate(t, srv.URL+"/#/tx/"+finalTx.Hex(), `document.getElementById('receipt')`)
	var tx struct{ Status, Receipt string }
	evalJSON(`({Status: document.getElementById('tx-status').textContent, Receipt: document.getElementById('receipt').textContent})`, &tx)
	if tx.Status != "final" || !strings.Contains(tx.Receipt, "ok") || !strings.Contains(strings.ToLower(tx.Receipt), strings.ToLower(fakeAddr(7).Hex())) {
		t.Errorf("tx = %+v; want final with an ok receipt from %s", tx, fakeAddr(7).Hex())
	}
	shot("tx.png")

	// The front page follows the latest checkpoint (the live one).
	b.navigate(t, srv.URL+"/", fmt.Sprintf(`document.querySelector('section.checkpoint[data-epoch="%d"]') && document.querySelector('#spacetime')`, liveEpoch))
	shot("front.png")

	var pageErrors string
	evalJSON(`document.getElementById('errors').textContent`, &pageErrors)
	if pageErrors != "" {
		t.Errorf("page recorded errors: %s", pageErrors)
	}
	checkConsole(t, b, nil)
}

// checkConsole checks the console problems logged since the last check:
// exactly one failed load for each URL suffix in expected404, nothing else.
func checkConsole(t *testing.T, b *cdpBrowser, expected404 []string) {
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
