//go:build unix

package ui

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A minimal Chrome DevTools Protocol client over --remote-debugging-pipe
// (requests on the browser's fd 3, responses and events on its fd 4, each
// message a JSON object followed by a NUL byte). The plain --dump-dom and
// --screenshot modes cannot be used: --virtual-time-budget never expires
// while a fetch is pending, and the page keeps its checkpoint stream
// (EventSource) open for as long as it lives.

// maxConsoleProblems bounds the console problems kept per browser.
const maxConsoleProblems = 100

type cdpMessage struct {
	ID        int64           `json:"id,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// cdpBrowser is one headless Chromium process with one attached page.
type cdpBrowser struct {
	cmd     *exec.Cmd
	toB     *os.File // our end of the browser's fd 3
	fromB   *os.File // our end of the browser's fd 4
	session string
	stderr  *strings.Builder

	writeMu           sync.Mutex
	calls[cdpMessage] // console: errors, exceptions and failed loads
	done              chan struct{}
}

// startBrowser starts bin headless and attaches to its first page. The
// process is killed and its reader goroutine ends in t.Cleanup.
func startBrowser(t *testing.T, bin string) *cdpBrowser {
	t.Helper()
	r3, w3, err := os.Pipe() // browser reads commands from fd 3
	if err != nil {
		t.Fatal(err)
	}
	r4, w4, err := os.Pipe() // browser writes to fd 4
	if err != nil {
		t.Fatal(err)
	}
	b := &cdpBrowser{toB: w3, fromB: r4, stderr: &strings.Builder{}, done: make(chan struct{})}
	b.cmd = exec.Command(bin,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--no-default-browser-check", "--disable-extensions",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(), "--window-size=1400,1000", "--hide-scrollbars",
		"--disable-breakpad", "--disable-crash-reporter", "--disable-features=OptimizationHints,MediaRouter",
		"--remote-debugging-pipe", "about:blank")
	b.cmd.ExtraFiles = []*os.File{r3, w4}
	// Its own process group, so that cleanup ends every helper process, and
	// a bounded wait for helpers that keep stderr open.
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	b.cmd.WaitDelay = 2 * time.Second
	b.cmd.Stderr = &lockedWriter{w: b.stderr}
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	r3.Close()
	w4.Close()
	go b.readLoop()
	t.Cleanup(func() {
		b.toB.Close()
		_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
		_ = b.cmd.Wait()
		b.fromB.Close()
		<-b.done
	})

	var targets struct {
		TargetInfos []struct {
			TargetID string `json:"targetId"`
			Type     string `json:"type"`
		} `json:"targetInfos"`
	}
	deadline := time.Now().Add(20 * time.Second)
	pageID := ""
	for pageID == "" {
		b.call(t, "", "Target.getTargets", nil, &targets)
		for _, ti := range targets.TargetInfos {
			if ti.Type == "page" {
				pageID = ti.TargetID
			}
		}
		if pageID == "" {
			if time.Now().After(deadline) {
				t.Fatalf("chromium opened no page; stderr:\n%s", tail(b.stderrText()))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	b.call(t, "", "Target.attachToTarget", map[string]any{"targetId": pageID, "flatten": true}, &attached)
	b.session = attached.SessionID
	for _, m := range []string{"Runtime.enable", "Log.enable", "Page.enable"} {
		b.call(t, b.session, m, nil, nil)
	}
	return b
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (b *cdpBrowser) stderrText() string {
	lw := b.cmd.Stderr.(*lockedWriter)
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return b.stderr.String()
}

// readLoop delivers responses to their callers and records console
// problems. It ends when the browser's pipe closes.
func (b *cdpBrowser) readLoop() {
	defer close(b.done)
	rd := bufio.NewReaderSize(b.fromB, 1<<20)
	for {
		raw, err := rd.ReadBytes(0)
		if err != nil {
			b.closeAll()
			return
		}
		var m cdpMessage
		if json.Unmarshal(raw[:len(raw)-1], &m) != nil {
			continue
		}
		if m.ID != 0 {
			b.answer(m.ID, m)
			continue
		}
		if p := consoleProblem(m); p != "" {
			b.problem(p)
		}
	}
}

// consoleProblem describes a console error, an uncaught exception or a
// browser log error (failed load, CSP violation); "" for anything else.
func consoleProblem(m cdpMessage) string {
	switch m.Method {
	case "Runtime.consoleAPICalled":
		var p struct {
			Type string `json:"type"`
			Args []struct {
				Value       any    `json:"value"`
				Description string `json:"description"`
			} `json:"args"`
		}
		if json.Unmarshal(m.Params, &p) != nil || (p.Type != "error" && p.Type != "warning" && p.Type != "assert") {
			return ""
		}
		var parts []string
		for _, a := range p.Args {
			parts = append(parts, fmt.Sprint(a.Value, a.Description))
		}
		return "console." + p.Type + ": " + strings.Join(parts, " ")
	case "Runtime.exceptionThrown":
		return "exception: " + string(m.Params)
	case "Log.entryAdded":
		var p struct {
			Entry struct {
				Level, Source, Text, URL string
			} `json:"entry"`
		}
		if json.Unmarshal(m.Params, &p) != nil || (p.Entry.Level != "error" && p.Entry.Level != "warning") {
			return ""
		}
		return fmt.Sprintf("log %s (%s): %s %s", p.Entry.Level, p.Entry.Source, p.Entry.Text, p.Entry.URL)
	}
	return ""
}

// call sends one command and decodes its result into out (if not nil).
func (b *cdpBrowser) call(t *testing.T, session, method string, params any, out any) {
	t.Helper()
	if err := b.callErr(session, method, params, out); err != nil {
		t.Fatalf("%v\nchromium stderr:\n%s", err, tail(b.stderrText()))
	}
}

func (b *cdpBrowser) callErr(session, method string, params any, out any) error {
	if params == nil {
		params = map[string]any{}
	}
	p, err := json.Marshal(params)
	if err != nil {
		return err
	}
	id, ch := b.open()
	req, err := json.Marshal(cdpMessage{ID: id, Method: method, Params: p, SessionID: session})
	if err != nil {
		return err
	}
	b.writeMu.Lock()
	_, err = b.toB.Write(append(req, 0))
	b.writeMu.Unlock()
	if err != nil {
		return fmt.Errorf("cdp %s: write: %w", method, err)
	}
	select {
	case m, ok := <-ch:
		if !ok {
			return fmt.Errorf("cdp %s: browser exited", method)
		}
		if m.Error != nil {
			return fmt.Errorf("cdp %s: %d %s", method, m.Error.Code, m.Error.Message)
		}
		if out != nil {
			return json.Unmarshal(m.Result, out)
		}
		return nil
	case <-time.After(30 * time.Second):
		b.forget(id)
		return fmt.Errorf("cdp %s: no answer in 30 s", method)
	}
}

// eval evaluates a JavaScript expression in the page (awaiting promises) and
// decodes its JSON-able value into out.
func (b *cdpBrowser) eval(t *testing.T, expr string, out any) {
	t.Helper()
	if err := b.evalErr(expr, out); err != nil {
		t.Fatal(err)
	}
}

func (b *cdpBrowser) evalErr(expr string, out any) error {
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	if err := b.callErr(b.session, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}, &res); err != nil {
		return err
	}
	if res.ExceptionDetails != nil {
		return fmt.Errorf("eval %q: %s %s", expr, res.ExceptionDetails.Text, res.ExceptionDetails.Exception.Description)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(res.Result.Value, out); err != nil {
		return fmt.Errorf("eval %q: value %s: %w", expr, res.Result.Value, err)
	}
	return nil
}

// navigate loads url and waits until the expression cond is true.
func (b *cdpBrowser) navigate(t *testing.T, url, cond string) {
	t.Helper()
	b.call(t, b.session, "Page.navigate", map[string]any{"url": url}, nil)
	b.waitFor(t, cond)
}

// reload reloads the page and waits until cond is true in the new
// document (Page.reload returns before the old one is gone, so the old one
// is marked first).
func (b *cdpBrowser) reload(t *testing.T, cond string) {
	t.Helper()
	b.eval(t, `window.ledgerdTestOldDocument = true`, nil)
	b.call(t, b.session, "Page.reload", nil, nil)
	b.waitFor(t, `!window.ledgerdTestOldDocument && (`+cond+`)`)
}

// waitFor polls cond (a JavaScript boolean expression) until it holds.
func (b *cdpBrowser) waitFor(t *testing.T, cond string) {
	t.Helper()
	waitForCond(t, b.evalErr, cond, b.consoleProblems, func() string { return "" })
}

// screenshot saves a PNG of the viewport to path.
func (b *cdpBrowser) screenshot(t *testing.T, path string) {
	t.Helper()
	var res struct {
		Data string `json:"data"`
	}
	b.call(t, b.session, "Page.captureScreenshot", map[string]any{"format": "png"}, &res)
	saveScreenshot(t, path, res.Data)
}
