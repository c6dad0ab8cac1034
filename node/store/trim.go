package store

import (
	"errors"
	"sync/atomic"
	"time"
)

// Badger v4 reads and writes its tables, value-log files and memtable logs
// through shared file mappings, and has no option to avoid them. Every page
// it ever wrote stays in the process's resident set until the file is
// closed (a table lives until compaction replaces it): the pages are clean
// page cache the kernel could reclaim, but they count in RSS and grow with
// the data written, while what the node reads again is a small hot set.
//
// The trimmer asks the kernel, every Options.TrimInterval, to reclaim the
// resident pages of this store's file mappings (madvise MADV_PAGEOUT,
// Linux 5.4+), after writing their dirty pages back (fdatasync), which
// PAGEOUT would skip. The hint never changes the content of memory: a page that
// is read again is faulted back in from the file, a dirty page is skipped
// until written back, and a range that was unmapped and reused meanwhile
// keeps its content (PAGEOUT only moves pages out; anonymous memory without
// swap stays where it is). docs/bench-store.md has the measured effect.

// ErrTrimUnsupported is returned by TrimResident where the kernel has no
// MADV_PAGEOUT (not Linux, or Linux before 5.4).
var ErrTrimUnsupported = errors.New("store: trimming resident pages is not supported on this system")

// TrimStats counts the trimmer's work since Open.
type TrimStats struct {
	// Runs is the number of completed trims.
	Runs uint64
	// MappedBytes is the size of the store's file mappings at the last trim.
	MappedBytes uint64
	// ResidentBytes is how much of them was resident just before the
	// last trim, as far as /proc reports it (0 when unknown).
	ResidentBytes uint64
	// Time is the total time spent trimming.
	Time time.Duration
}

type trimCounters struct {
	runs, mapped, resident, nanos atomic.Uint64
}

// TrimStats returns the trimmer's counters.
func (s *Store) TrimStats() TrimStats {
	return TrimStats{Runs: s.trim.runs.Load(), MappedBytes: s.trim.mapped.Load(), ResidentBytes: s.trim.resident.Load(),
		Time: time.Duration(s.trim.nanos.Load())}
}

// TrimResident asks the kernel to reclaim the resident pages of the
// store's file mappings now. Open runs it every Options.TrimInterval.
func (s *Store) TrimResident() error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	start := time.Now()
	mapped, resident, err := trimMappings(s.absDir)
	s.trim.nanos.Add(uint64(time.Since(start)))
	if err != nil {
		return err
	}
	s.trim.mapped.Store(mapped)
	s.trim.resident.Store(resident)
	s.trim.runs.Add(1)
	return nil
}

// startTrimmer runs TrimResident every interval until stop is closed; done
// is closed when it has returned. An unsupported system stops it quietly,
// any other error is logged once.
func (s *Store) startTrimmer(interval time.Duration) {
	s.trimStop, s.trimDone = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(s.trimDone)
		t := time.NewTicker(interval)
		defer t.Stop()
		logged := false
		for {
			select {
			case <-s.trimStop:
				return
			case <-t.C:
			}
			err := s.TrimResident()
			switch {
			case err == nil, errors.Is(err, ErrClosed):
			case errors.Is(err, ErrTrimUnsupported):
				s.log.Info("store: resident-page trimming unsupported here; RSS includes the store's mapped files", "err", err)
				return
			case !logged:
				s.log.Warn("store: trimming resident pages failed", "err", err)
				logged = true
			}
		}
	}()
}

// stopTrimmer stops the trimmer goroutine, if any, and waits for it
// (once, from Close).
func (s *Store) stopTrimmer() {
	if s.trimStop == nil {
		return
	}
	close(s.trimStop)
	<-s.trimDone
}
