//go:build unix

package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// A minimal WebDriver BiDi client for headless Firefox: the browser is
// started with --remote-debugging-port=0 (it picks a free port and prints
// "WebDriver BiDi listening on ws://HOST:PORT" on stderr), and the client
// speaks JSON commands, results and events over the WebSocket at /session.
// One session, one top-level browsing context.

// Viewport of the Firefox page: the one headless Chromium 156 has with
// startBrowser's --window-size=1400,1000 (innerWidth × innerHeight, the
// window less its frame; device pixel ratio 1), so that the screenshots of
// the two browsers compare.
const (
	firefoxViewportWidth  = 1400
	firefoxViewportHeight = 857
)

// bidiCallTimeout bounds one BiDi command, as for CDP.
const bidiCallTimeout = 30 * time.Second

// firefoxPrefs is the profile's user.js: no first-run or welcome pages, no
// updates, telemetry, studies or safe-browsing downloads (there is no
// network), WebDriver BiDi as the only remote protocol (ESRs before 129 also
// offered CDP on the same port), device pixel ratio 1 and overlay scrollbars
// (which take no room, as with Chromium's --hide-scrollbars). Firefox itself
// adds its recommended automation preferences when the remote agent is on.
const firefoxPrefs = `user_pref("remote.active-protocols", 1);
user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("browser.startup.page", 0);
user_pref("browser.startup.homepage_override.mstone", "ignore");
user_pref("startup.homepage_welcome_url", "about:blank");
user_pref("browser.aboutwelcome.enabled", false);
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("datareporting.healthreport.uploadEnabled", false);
user_pref("toolkit.telemetry.enabled", false);
user_pref("toolkit.telemetry.reportingpolicy.firstRun", false);
user_pref("app.update.disabledForTesting", true);
user_pref("app.update.auto", false);
user_pref("app.normandy.enabled", false);
user_pref("app.shield.optoutstudies.enabled", false);
user_pref("messaging-system.rsexperimentloader.enabled", false);
user_pref("extensions.update.enabled", false);
user_pref("browser.safebrowsing.malware.enabled", false);
user_pref("browser.safebrowsing.phishing.enabled", false);
user_pref("network.captive-portal-service.enabled", false);
user_pref("network.connectivity-service.enabled", false);
user_pref("layout.css.devPixelsPerPx", "1.0");
user_pref("ui.useOverlayScrollbars", 1);
`

type bidiMessage struct {
	Type    string          `json:"type"` // "success", "error" or "event"
	ID      *int64          `json:"id"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`
	Result  json.RawMessage `json:"result"`
	Error   string          `json:"error"`
	Message string          `json:"message"`
}

// bidiBrowser is one headless Firefox process with one browsing context.
type bidiBrowser struct {
	cmd     *exec.Cmd
	stderr  *lockedWriter // over a *strings.Builder
	exited  chan struct{} // closed when the process has been waited for
	conn    *websocket.Conn
	context string // the browsing context (tab) the page is loaded in

	writeMu            sync.Mutex
	calls[bidiMessage] // console: errors and warnings, exceptions, failed loads
	done               chan struct{}
}

var bidiListening = regexp.MustCompile(`WebDriver BiDi listening on (ws://\S+)`)

// startFirefox starts bin headless with a fresh profile, opens a BiDi
// session and subscribes to log and network events. The process group is
// killed, the process waited for, and the reader goroutine ended in
// t.Cleanup.
func startFirefox(t *testing.T, bin string) *bidiBrowser {
	t.Helper()
	profile := t.TempDir()
	if err := os.WriteFile(filepath.Join(profile, "user.js"), []byte(firefoxPrefs), 0o644); err != nil {
		t.Fatal(err)
	}
	b := &bidiBrowser{stderr: &lockedWriter{w: &strings.Builder{}}, exited: make(chan struct{}),
		done: make(chan struct{})}
	b.cmd = exec.Command(bin, "--headless", "--no-remote", "--remote-debugging-port=0", "--profile", profile, "about:blank")
	b.cmd.Env = append(os.Environ(), "MOZ_CRASHREPORTER_DISABLE=1", "MOZ_HEADLESS=1")
	// Its own process group, so that cleanup ends the content processes
	// too, and a bounded wait for helpers that keep stderr open.
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	b.cmd.WaitDelay = 2 * time.Second
	b.cmd.Stdout, b.cmd.Stderr = b.stderr, b.stderr
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() {
		defer close(b.exited)
		_ = b.cmd.Wait()
	}()
	readerStarted := false
	t.Cleanup(func() {
		_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-b.exited:
		case <-time.After(10 * time.Second):
			t.Errorf("firefox (pid %d) not reaped 10 s after SIGKILL", b.cmd.Process.Pid)
		}
		if b.conn != nil {
			b.conn.Close()
		}
		if readerStarted {
			select {
			case <-b.done:
			case <-time.After(10 * time.Second):
				t.Errorf("firefox's WebDriver BiDi reader still running 10 s after the connection closed")
			}
		}
	})

	// The WebSocket address, from stderr.
	var wsURL string
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := bidiListening.FindStringSubmatch(b.stderrText()); m != nil {
			wsURL = m[1]
			break
		}
		select {
		case <-b.exited:
			t.Fatalf("firefox exited before listening for WebDriver BiDi (%v); stderr:\n%s", b.cmd.ProcessState, tail(b.stderrText()))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("firefox did not listen for WebDriver BiDi within 30 s; stderr:\n%s", tail(b.stderrText()))
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	conn, _, err := (&websocket.Dialer{HandshakeTimeout: 20 * time.Second}).DialContext(ctx, wsURL+"/session", nil)
	if err != nil {
		t.Fatalf("connect to firefox's WebDriver BiDi at %s/session: %v; stderr:\n%s", wsURL, err, tail(b.stderrText()))
	}
	b.conn = conn
	readerStarted = true
	go b.readLoop()

	b.call(t, "session.new", map[string]any{"capabilities": map[string]any{}}, nil)
	b.call(t, "session.subscribe", map[string]any{"events": []string{"log.entryAdded", "network.responseCompleted", "network.fetchError"}}, nil)
	var tree struct {
		Contexts []struct {
			Context string `json:"context"`
		} `json:"contexts"`
	}
	b.call(t, "browsingContext.getTree", map[string]any{"maxDepth": 0}, &tree)
	if len(tree.Contexts) == 0 {
		t.Fatalf("firefox has no browsing context; stderr:\n%s", tail(b.stderrText()))
	}
	b.context = tree.Contexts[0].Context
	b.call(t, "browsingContext.setViewport", map[string]any{"context": b.context,
		"viewport": map[string]any{"width": firefoxViewportWidth, "height": firefoxViewportHeight}, "devicePixelRatio": 1}, nil)
	return b
}

func (b *bidiBrowser) stderrText() string {
	b.stderr.mu.Lock()
	defer b.stderr.mu.Unlock()
	return b.stderr.w.(*strings.Builder).String()
}

// readLoop delivers results to their callers and records console problems.
// It ends when the WebSocket closes.
func (b *bidiBrowser) readLoop() {
	defer close(b.done)
	for {
		_, raw, err := b.conn.ReadMessage()
		if err != nil {
			b.closeAll()
			return
		}
		var m bidiMessage
		if json.Unmarshal(raw, &m) != nil {
			continue
		}
		if m.Type != "event" {
			if m.ID == nil {
				continue
			}
			b.answer(*m.ID, m)
			continue
		}
		if p := bidiConsoleProblem(m); p != "" {
			b.problem(p)
		}
	}
}

// bidiConsoleProblem describes a console error or warning, an uncaught
// exception, a response with an HTTP error status or a failed load; "" for
// anything else. Chromium logs failed loads and error statuses in its
// console, Firefox does not: they come from the network events here, in
// the same shape ("… 404 … URL"). Loads the browser aborted itself (a
// navigation ending the page's checkpoint stream) are not problems; Chromium
// does not log them either.
func bidiConsoleProblem(m bidiMessage) string {
	switch m.Method {
	case "log.entryAdded":
		var p struct {
			Type       string `json:"type"`
			Level      string `json:"level"`
			Text       string `json:"text"`
			Method     string `json:"method"`
			StackTrace struct {
				CallFrames []struct {
					URL        string `json:"url"`
					LineNumber int    `json:"lineNumber"`
				} `json:"callFrames"`
			} `json:"stackTrace"`
		}
		if json.Unmarshal(m.Params, &p) != nil || (p.Level != "error" && p.Level != "warn") {
			return ""
		}
		where := ""
		if f := p.StackTrace.CallFrames; len(f) > 0 {
			where = fmt.Sprintf(" (%s:%d)", f[0].URL, f[0].LineNumber+1)
		}
		if p.Type == "console" {
			return "console." + p.Method + ": " + p.Text + where
		}
		// "javascript": uncaught exceptions and rejections, and the
		// browser's own errors and warnings about the page (CSP violations…).
		return fmt.Sprintf("%s %s: %s%s", p.Type, p.Level, p.Text, where)
	case "network.responseCompleted":
		var p struct {
			Request struct {
				Method string `json:"method"`
				URL    string `json:"url"`
			} `json:"request"`
			Response struct {
				Status     int    `json:"status"`
				StatusText string `json:"statusText"`
			} `json:"response"`
		}
		if json.Unmarshal(m.Params, &p) != nil || p.Response.Status < 400 {
			return ""
		}
		return fmt.Sprintf("network: %d %s: %s %s", p.Response.Status, p.Response.StatusText, p.Request.Method, p.Request.URL)
	case "network.fetchError":
		var p struct {
			ErrorText string `json:"errorText"`
			Request   struct {
				Method string `json:"method"`
				URL    string `json:"url"`
			} `json:"request"`
		}
		if json.Unmarshal(m.Params, &p) != nil || p.ErrorText == "NS_BINDING_ABORTED" {
			return ""
		}
		return fmt.Sprintf("network: failed (%s): %s %s", p.ErrorText, p.Request.Method, p.Request.URL)
	}
	return ""
}

// call sends one command and decodes its result into out (if not nil).
func (b *bidiBrowser) call(t *testing.T, method string, params any, out any) {
	t.Helper()
	if err := b.callErr(method, params, out); err != nil {
		t.Fatalf("%v\nfirefox stderr:\n%s", err, tail(b.stderrText()))
	}
}

func (b *bidiBrowser) callErr(method string, params any, out any) error {
	if params == nil {
		params = map[string]any{}
	}
	id, ch := b.open()
	req, err := json.Marshal(map[string]any{"id": id, "method": method, "params": params})
	if err != nil {
		return err
	}
	b.writeMu.Lock()
	_ = b.conn.SetWriteDeadline(time.Now().Add(bidiCallTimeout))
	err = b.conn.WriteMessage(websocket.TextMessage, req)
	b.writeMu.Unlock()
	if err != nil {
		b.forget(id)
		return fmt.Errorf("bidi %s: write: %w", method, err)
	}
	select {
	case m, ok := <-ch:
		if !ok {
			return fmt.Errorf("bidi %s: browser connection closed", method)
		}
		if m.Type == "error" {
			return fmt.Errorf("bidi %s: %s: %s", method, m.Error, m.Message)
		}
		if out != nil {
			return json.Unmarshal(m.Result, out)
		}
		return nil
	case <-time.After(bidiCallTimeout):
		b.forget(id)
		return fmt.Errorf("bidi %s: no answer in %s", method, bidiCallTimeout)
	}
}

// remoteToGo decodes one serialized RemoteValue into a Go value.
func remoteToGo(raw json.RawMessage) (any, error) {
	var v remoteValue
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	return v.toGo()
}

// remoteValue is WebDriver BiDi's serialization of a script value.
type remoteValue struct {
	Type  string          `json:"type"`
	Value json.RawMessage `json:"value"`
}

// toGo converts v to what JSON.stringify (and CDP's returnByValue) would
// give: strings, numbers, booleans and null, arrays (and sets) of them, and
// objects (and maps) keyed by string. NaN and ±Infinity become null,
// undefined becomes null. Other types (nodes, functions, …) are an error.
func (v remoteValue) toGo() (any, error) {
	switch v.Type {
	case "undefined", "null":
		return nil, nil
	case "string", "date":
		var s string
		err := json.Unmarshal(v.Value, &s)
		return s, err
	case "boolean":
		var x bool
		err := json.Unmarshal(v.Value, &x)
		return x, err
	case "number":
		var special string
		if json.Unmarshal(v.Value, &special) == nil { // "NaN", "-0", "Infinity", "-Infinity"
			if special == "-0" {
				return json.RawMessage("0"), nil
			}
			return nil, nil
		}
		return v.Value, nil
	case "bigint":
		var s string
		if err := json.Unmarshal(v.Value, &s); err != nil {
			return nil, err
		}
		return json.RawMessage(s), nil
	case "array", "set":
		var items []remoteValue
		if err := json.Unmarshal(v.Value, &items); err != nil {
			return nil, fmt.Errorf("%s: %w", v.Type, err)
		}
		out := make([]any, len(items))
		for i, it := range items {
			x, err := it.toGo()
			if err != nil {
				return nil, err
			}
			out[i] = x
		}
		return out, nil
	case "object", "map":
		var pairs [][2]json.RawMessage
		if err := json.Unmarshal(v.Value, &pairs); err != nil {
			return nil, fmt.Errorf("%s: %w", v.Type, err)
		}
		out := make(map[string]any, len(pairs))
		for _, kv := range pairs {
			var key string
			if json.Unmarshal(kv[0], &key) != nil {
				kx, err := remoteToGo(kv[0])
				if err != nil {
					return nil, err
				}
				key = fmt.Sprint(kx)
			}
			x, err := remoteToGo(kv[1])
			if err != nil {
				return nil, err
			}
			out[key] = x
		}
		return out, nil
	}
	return nil, fmt.Errorf("cannot convert a %s to a Go value", v.Type)
}

// eval evaluates a JavaScript expression in the page (awaiting promises) and
// decodes its JSON-able value into out.
func (b *bidiBrowser) eval(t *testing.T, expr string, out any) {
	t.Helper()
	if err := b.evalErr(expr, out); err != nil {
		t.Fatal(err)
	}
}

func (b *bidiBrowser) evalErr(expr string, out any) error {
	var res struct {
		Type             string      `json:"type"` // "success" or "exception"
		Result           remoteValue `json:"result"`
		ExceptionDetails *struct {
			Text      string      `json:"text"`
			Exception remoteValue `json:"exception"`
		} `json:"exceptionDetails"`
	}
	if err := b.callErr("script.evaluate", map[string]any{"expression": expr, "target": map[string]any{"context": b.context},
		"awaitPromise": true, "resultOwnership": "none"}, &res); err != nil {
		return err
	}
	if res.Type == "exception" {
		text := ""
		if res.ExceptionDetails != nil {
			text = res.ExceptionDetails.Text
		}
		return fmt.Errorf("eval %q: %s", expr, text)
	}
	if out == nil {
		return nil
	}
	v, err := res.Result.toGo()
	if err != nil {
		return fmt.Errorf("eval %q: %w", expr, err)
	}
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("eval %q: %w", expr, err)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("eval %q: value %s: %w", expr, data, err)
	}
	return nil
}

// navigate loads url, once the new document is interactive (or the
// fragment changed) waits until the expression cond is true.
func (b *bidiBrowser) navigate(t *testing.T, url, cond string) {
	t.Helper()
	b.call(t, "browsingContext.navigate", map[string]any{"context": b.context, "url": url, "wait": "interactive"}, nil)
	b.waitFor(t, cond)
}

// reload reloads the page and waits until cond is true in the new document.
func (b *bidiBrowser) reload(t *testing.T, cond string) {
	t.Helper()
	b.call(t, "browsingContext.reload", map[string]any{"context": b.context, "wait": "interactive"}, nil)
	b.waitFor(t, cond)
}

// waitFor polls cond (a JavaScript boolean expression) until it holds.
func (b *bidiBrowser) waitFor(t *testing.T, cond string) {
	t.Helper()
	waitForCond(t, b.evalErr, cond, b.consoleProblems, func() string { return "\nfirefox stderr:\n" + tail(b.stderrText()) })
}

// screenshot saves a PNG of the viewport to path.
func (b *bidiBrowser) screenshot(t *testing.T, path string) {
	t.Helper()
	var res struct {
		Data string `json:"data"`
	}
	b.call(t, "browsingContext.captureScreenshot", map[string]any{"context": b.context, "origin": "viewport",
		"format": map[string]any{"type": "image/png"}}, &res)
	saveScreenshot(t, path, res.Data)
}
