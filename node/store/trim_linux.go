package store

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// madvPageout is MADV_PAGEOUT (Linux 5.4+), absent from package syscall.
const madvPageout = 21

// trimMappings reclaims the resident pages of every file mapping of this
// process whose file lies in dir (an absolute, clean path). It returns the
// total size of those mappings and how much of them was resident.
func trimMappings(dir string) (mapped, resident uint64, err error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %v", ErrTrimUnsupported, err)
	}
	defer f.Close()
	prefix := []byte(dir + string(os.PathSeparator))
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	// Collect first, then advise: smaps reports each mapping's Rss after
	// its header, and the figure wanted is the one before the trim.
	var ranges [][2]uint64
	files := make(map[string]bool)
	inDir := false
	for sc.Scan() {
		line := sc.Bytes()
		if isMappingHeader(line) {
			inDir = false
			fields := bytes.Fields(line)
			if len(fields) < 6 || !bytes.HasPrefix(fields[5], prefix) || !bytes.Contains(fields[1], []byte("s")) {
				continue
			}
			if start, end, ok := parseRange(string(fields[0])); ok {
				inDir = true
				mapped += end - start
				ranges = append(ranges, [2]uint64{start, end})
				files[string(fields[5])] = true
			}
			continue
		}
		if inDir && bytes.HasPrefix(line, []byte("Rss:")) {
			if kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(string(line[4:]), "kB")), 10, 64); err == nil {
				resident += kb << 10
			}
		}
	}
	if err := sc.Err(); err != nil {
		return mapped, resident, fmt.Errorf("read /proc/self/smaps: %w", err)
	}
	// MADV_PAGEOUT skips dirty pages, and Badger keeps writing tables and
	// logs through its mappings: start their write-back first (the kernel
	// would write them within ~30 s anyway).
	for path := range files {
		writeBack(path)
	}
	for _, r := range ranges {
		err := madvise(r[0], r[1]-r[0], madvPageout)
		switch {
		case err == nil, errors.Is(err, syscall.ENOMEM):
			// ENOMEM: Badger unmapped the range meanwhile; nothing to do.
		case errors.Is(err, syscall.EINVAL):
			return 0, 0, fmt.Errorf("%w: madvise(MADV_PAGEOUT): %v", ErrTrimUnsupported, err)
		default:
			return mapped, resident, fmt.Errorf("madvise(MADV_PAGEOUT) %x-%x: %w", r[0], r[1], err)
		}
	}
	return mapped, resident, nil
}

// isMappingHeader reports whether an smaps line starts a mapping
// ("start-end perms offset dev inode [path]") rather than being a
// "Key: value" line.
func isMappingHeader(line []byte) bool {
	i := bytes.IndexByte(line, ' ')
	return i > 0 && bytes.IndexByte(line[:i], '-') > 0 && line[i-1] != ':'
}

func parseRange(s string) (start, end uint64, ok bool) {
	a, b, found := strings.Cut(s, "-")
	if !found {
		return 0, 0, false
	}
	start, err1 := strconv.ParseUint(a, 16, 64)
	end, err2 := strconv.ParseUint(b, 16, 64)
	return start, end, err1 == nil && err2 == nil && end > start
}

// writeBack writes path's dirty pages to disk. A file Badger deleted
// meanwhile is skipped: its pages go with it.
func writeBack(path string) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	_ = syscall.Fdatasync(int(f.Fd()))
	_ = f.Close()
}

func madvise(addr, length uint64, advice int) error {
	_, _, e := syscall.Syscall(syscall.SYS_MADVISE, uintptr(addr), uintptr(length), uintptr(advice))
	if e != 0 {
		return e
	}
	return nil
}
