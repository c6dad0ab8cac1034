package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/ledgerd/ledgerd/node/api"
)

// openPTY opens a pseudo-terminal and returns its master and slave ends.
func openPTY() (master, slave *os.File, err error) {
	master, err = os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		return nil, nil, err
	}
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		master.Close()
		return nil, nil, e
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		master.Close()
		return nil, nil, e
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		return nil, nil, err
	}
	return master, slave, nil
}

// TestProgressOnlyOnATerminal: `state export --node` draws its byte
// counter on stderr when stderr is a terminal, and writes nothing there
// when it is not; stdout carries only the result either way.
func TestProgressOnlyOnATerminal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds ledgerd; skipped with -short")
	}
	bin := ledgerdBinary(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(api.StateEpochHeader, "3")
		w.WriteHeader(http.StatusOK)
		for range 4 { // 1 MiB over ~0.6 s: the counter is redrawn a few times
			_, _ = w.Write(make([]byte, 256<<10))
			w.(http.Flusher).Flush()
			time.Sleep(150 * time.Millisecond)
		}
	}))
	defer srv.Close()
	dir := t.TempDir()
	export := func(stderr *os.File, out string) (string, error) {
		cmd := exec.Command(bin, "state", "export", "--node", srv.URL, "--epoch", "3", "--out", filepath.Join(dir, out), "--json")
		cmd.Stderr = stderr
		b, err := cmd.Output()
		return string(b), err
	}

	// Not a terminal: a pipe.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := export(w, "a.bin")
	w.Close()
	piped, _ := io.ReadAll(r)
	if err != nil || len(piped) != 0 {
		t.Fatalf("export with a pipe as stderr: %v; stderr %q", err, piped)
	}
	requireOneJSON(t, out)

	// A terminal.
	master, slave, err := openPTY()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer master.Close()
	var tty bytes.Buffer
	done := make(chan struct{})
	go func() { _, _ = io.Copy(&tty, master); close(done) }()
	out, err = export(slave, "b.bin")
	slave.Close()
	if err != nil {
		t.Fatalf("export with a terminal as stderr: %v", err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	master.Close()
	requireOneJSON(t, out)
	if got := tty.String(); !strings.Contains(got, "\rexporting to ") || !strings.Contains(got, "1.0 MiB") {
		t.Fatalf("terminal stderr has no progress: %q", got)
	}
}
