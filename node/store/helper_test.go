package store

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The test binary doubles as a helper process: with helperEnv set, TestMain
// runs the named helper instead of the tests, so that a test can kill a
// process that holds a store (crash atomicity, locking) or measure a
// store's memory in a clean process.
const (
	helperEnv    = "LEDGERD_STORE_HELPER"
	helperDirEnv = "LEDGERD_STORE_HELPER_DIR"
)

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "commit":
		helperCommit(os.Getenv(helperDirEnv))
	case "hold":
		helperHold(os.Getenv(helperDirEnv))
	case "mem":
		helperMem(os.Getenv(helperDirEnv))
	case "unflushed":
		helperUnflushed(os.Getenv(helperDirEnv))
	default:
		fmt.Fprintf(os.Stderr, "unknown helper %q\n", os.Getenv(helperEnv))
		os.Exit(2)
	}
}

func helperFail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "helper: "+format+"\n", args...)
	os.Exit(3)
}

// Content of the crash test's epochs.
const crashNodes, crashTxs = 1500, 300

// helperCommit opens the store and commits epochs head+1, head+2, ...
// until it is killed.
func helperCommit(dir string) {
	s, err := Open(dir, testOptions())
	if err != nil {
		helperFail("open: %v", err)
	}
	h, ok, err := s.Head()
	if err != nil {
		helperFail("head: %v", err)
	}
	next := uint64(1)
	if ok {
		next = h.Epoch + 1
	}
	fmt.Println("ready")
	for e := next; ; e++ {
		if err := s.CommitEpoch(testEpoch(e, crashNodes, crashTxs)); err != nil {
			helperFail("commit %d: %v", e, err)
		}
	}
}

// helperHold opens the store, says "ready", and closes it when stdin
// closes.
func helperHold(dir string) {
	s, err := Open(dir, testOptions())
	if err != nil {
		helperFail("open: %v", err)
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := s.Close(); err != nil {
		helperFail("close: %v", err)
	}
}

// Epochs helperUnflushed commits: more than a 1 MiB memtable's arena holds
// (the reopen overflowed it before the memtable floor) and less than its own
// 8 MiB memtable, which would flush.
const unflushedEpochs = 10

// helperUnflushed commits unflushedEpochs epochs with 8 MiB memtables, syncs,
// and exits without closing, so they stay in the memtable's log.
func helperUnflushed(dir string) {
	opts := testOptions()
	opts.MemTableSize = 8 << 20
	s, err := Open(dir, opts)
	if err != nil {
		helperFail("open: %v", err)
	}
	for e := uint64(1); e <= unflushedEpochs; e++ {
		if err := s.CommitEpoch(testEpoch(e, crashNodes, crashTxs)); err != nil {
			helperFail("commit %d: %v", e, err)
		}
	}
	if err := s.Sync(); err != nil {
		helperFail("sync: %v", err)
	}
	os.Exit(0)
}

// memReport is what helperMem prints: resident memory from
// /proc/self/status and Go heap figures, in bytes.
type memReport struct {
	WrittenBytes int64
	Epochs       int
	VmHWM        int64
	VmRSS        int64
	RssAnon      int64
	RssFile      int64
	HeapInuse    uint64
	LiveHeap     uint64 // HeapInuse right after a forced GC
	RSSAfterGC   int64  // VmRSS after debug.FreeOSMemory
	HeapSys      uint64
	GoSys        uint64
	GoMemLimit   int64
	Seconds      float64
	// Trims is how often the resident-page trimmer ran during the writes.
	Trims     uint64
	TrimNanos int64
	// RSSMedian and RSSP95 are VmRSS sampled every 100 ms while writing.
	RSSMedian, RSSP95 int64
}

// helperMem writes memTotalBytes through CommitEpoch with DefaultOptions
// and prints a memReport as JSON.
func helperMem(dir string) {
	total, err := strconv.ParseInt(os.Getenv("LEDGERD_STORE_MEM_BYTES"), 10, 64)
	if err != nil || total <= 0 {
		helperFail("bad LEDGERD_STORE_MEM_BYTES: %v", err)
	}
	s, err := Open(dir, DefaultOptions())
	if err != nil {
		helperFail("open: %v", err)
	}
	start := nowSeconds()
	var rep memReport
	stop, sampled := make(chan struct{}), make(chan []int64)
	go func() {
		var samples []int64
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				sampled <- samples
				return
			case <-t.C:
				samples = append(samples, readStatus()["VmRSS:"])
			}
		}
	}()
	// LEDGERD_STORE_MEM_EPOCHS_PER_S paces the commits like a validator's
	// epochs (each is ~5 MiB: 10,000 transfers and 25,000 new trie nodes);
	// unset, they go as fast as the store takes them.
	var pace time.Duration
	if v := os.Getenv("LEDGERD_STORE_MEM_EPOCHS_PER_S"); v != "" {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil || r <= 0 {
			helperFail("bad LEDGERD_STORE_MEM_EPOCHS_PER_S %q", v)
		}
		pace = time.Duration(float64(time.Second) / r)
	}
	next := time.Now()
	for e := uint64(1); rep.WrittenBytes < total; e++ {
		if pace > 0 {
			time.Sleep(time.Until(next))
			next = next.Add(pace)
		}
		c := benchEpoch(e)
		rep.WrittenBytes += commitBytes(&c)
		if err := s.CommitEpoch(c); err != nil {
			helperFail("commit %d: %v", e, err)
		}
		rep.Epochs++
	}
	if err := s.Sync(); err != nil {
		helperFail("sync: %v", err)
	}
	rep.Seconds = nowSeconds() - start
	close(stop)
	if samples := <-sampled; len(samples) > 0 {
		slices.Sort(samples)
		rep.RSSMedian, rep.RSSP95 = samples[len(samples)/2], samples[len(samples)*95/100]
	}
	rep.Trims, rep.TrimNanos = s.TrimStats().Runs, int64(s.TrimStats().Time)
	st := readStatus()
	rep.VmHWM, rep.VmRSS, rep.RssAnon, rep.RssFile = st["VmHWM:"], st["VmRSS:"], st["RssAnon:"], st["RssFile:"]
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rep.HeapInuse, rep.HeapSys, rep.GoSys = ms.HeapInuse, ms.HeapSys, ms.Sys
	rep.GoMemLimit = debug.SetMemoryLimit(-1)
	debug.FreeOSMemory()
	runtime.ReadMemStats(&ms)
	rep.LiveHeap = ms.HeapInuse
	rep.RSSAfterGC = readStatus()["VmRSS:"]
	if p := os.Getenv("LEDGERD_STORE_MEM_HEAPPROFILE"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			helperFail("heap profile: %v", err)
		}
		if err := pprof.WriteHeapProfile(f); err != nil {
			helperFail("heap profile: %v", err)
		}
		_ = f.Close()
	}
	if err := s.Close(); err != nil {
		helperFail("close: %v", err)
	}
	if err := json.NewEncoder(os.Stdout).Encode(rep); err != nil {
		helperFail("encode: %v", err)
	}
}

// readStatus returns the kB fields of /proc/self/status, in bytes.
func readStatus() map[string]int64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		helperFail("read status: %v", err)
	}
	out := map[string]int64{}
	sc := bufio.NewScanner(strings.NewReader(string(status)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 3 && f[2] == "kB" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			out[f[0]] = kb << 10
		}
	}
	return out
}

// helperCmd builds a command that runs the named helper on dir.
func helperCmd(t testing.TB, name, dir string, extraEnv ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+name, helperDirEnv+"="+dir)
	cmd.Env = append(cmd.Env, extraEnv...)
	return cmd
}

// testOptions is a profile for tests: a 1 MiB memtable (so an epoch's
// content spans several Badger transactions) and 1 MiB caches.
func testOptions() Options {
	o := DefaultOptions()
	o.MemTableSize = 1 << 20
	o.BlockCacheSize = 1 << 20
	o.IndexCacheSize = 1 << 20
	o.ValueLogFileSize = 4 << 20
	return o
}
