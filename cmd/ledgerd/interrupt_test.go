package main

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd/node/api"
)

// interrupt sends SIGINT to a started command and waits for it to exit,
// failing the test if it takes longer than within. It returns the exit
// code.
func interrupt(t *testing.T, cmd *exec.Cmd, within time.Duration) int {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		switch {
		case err == nil:
			return 0
		case errors.As(err, &ee):
			return ee.ExitCode()
		default:
			t.Fatal(err)
		}
	case <-time.After(within):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("ledgerd %s did not stop within %s of SIGINT", strings.Join(cmd.Args[1:], " "), within)
	}
	return -1
}

// TestStateImportInterrupt: SIGINT stops `state import` while it reads
// the state file (here from a FIFO that has delivered half of a real
// file), within seconds, with exit code 1, and the new home's data
// directory is untouched: importing the whole file afterwards succeeds.
// The state file comes from a one-validator network run for a few epochs.
func TestStateImportInterrupt(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a validator process; skipped with -short")
	}
	p := startProcNet(t, 1, 200*time.Millisecond)
	if _, err := p.waitFinal(0, 3, 60*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, p.logTail(30))
	}
	p.stop(0, syscall.SIGTERM)
	dir := t.TempDir()
	file := filepath.Join(dir, "state.bin")
	if out, err := exec.Command(p.bin, "state", "export", "--home", p.nodes[0].Home, "--epoch", "latest", "--out", file).CombinedOutput(); err != nil {
		t.Fatalf("state export: %v\n%s", err, out)
	}
	state, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(dir, "new")
	if out, err := exec.Command(p.bin, "init", "--home", home, "--genesis", filepath.Join(p.nodes[0].Home, "genesis.json")).CombinedOutput(); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}

	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(p.bin, "state", "import", "--home", home, fifo)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w, err := os.OpenFile(fifo, os.O_WRONLY, 0) // blocks until ledgerd opens it
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Write(state[:len(state)/2]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // ledgerd reads that half and waits for more
	start := time.Now()
	if code := interrupt(t, cmd, 10*time.Second); code != 1 {
		t.Fatalf("exit code %d after SIGINT, want 1; stderr: %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "interrupted while reading") || strings.Contains(stderr.String(), "\r") {
		t.Fatalf("stderr: %q", stderr.String())
	}
	t.Logf("stopped %s after SIGINT: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(stderr.String()))
	data := filepath.Join(home, "data")
	if entries, err := os.ReadDir(data); err == nil && len(entries) > 0 {
		t.Fatalf("the interrupted import left %d entries in %s", len(entries), data)
	}
	// Nothing half-written: the whole file imports into the same home.
	out, err := exec.Command(p.bin, "state", "import", "--home", home, file, "--json").Output()
	if err != nil {
		t.Fatalf("import after the interrupted one: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte(`"epoch"`)) {
		t.Fatalf("import --json: %s", out)
	}
}

// TestStateExportInterrupt: SIGINT stops `state export --node` while the
// node is still sending, with exit code 1, and leaves neither the output
// file nor its temporary file behind.
func TestStateExportInterrupt(t *testing.T) {
	if testing.Short() {
		t.Skip("builds ledgerd; skipped with -short")
	}
	bin := ledgerdBinary(t)
	sent := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(api.StateEpochHeader, "5")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(make([]byte, 64<<10))
		w.(http.Flusher).Flush()
		close(sent)
		<-r.Context().Done() // a slow node: the rest never comes
	}))
	defer srv.Close()
	dir := t.TempDir()
	out := filepath.Join(dir, "state.bin")
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "state", "export", "--node", srv.URL, "--epoch", "5", "--out", out)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sent:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("ledgerd never asked for the state file; stderr: %s", stderr.String())
	}
	time.Sleep(200 * time.Millisecond)
	if code := interrupt(t, cmd, 10*time.Second); code != 1 {
		t.Fatalf("exit code %d after SIGINT, want 1; stderr: %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "interrupted") {
		t.Fatalf("stderr: %q", stderr.String())
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Fatalf("the interrupted export left %v in %s", entries, dir)
	}
}
