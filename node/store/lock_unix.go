//go:build unix

package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockDir flocks dir's marker file exclusively. flock is per open file, so
// a second Open in the same process is excluded too; the kernel releases it
// when the process dies, so a kill -9 leaves no stale lock.
func lockDir(dir string) (*os.File, error) {
	f, err := os.Open(filepath.Join(dir, markerFile))
	if err != nil {
		return nil, fmt.Errorf("open store lock %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, dir)
		}
		return nil, fmt.Errorf("lock store %s: %w", dir, err)
	}
	return f, nil
}
