//go:build !unix

package store

import (
	"fmt"
	"os"
	"path/filepath"
)

// lockDir opens dir's marker file; on platforms without flock, Badger's own
// directory lock (mapped to ErrLocked) excludes other processes.
func lockDir(dir string) (*os.File, error) {
	f, err := os.Open(filepath.Join(dir, markerFile))
	if err != nil {
		return nil, fmt.Errorf("open store lock %s: %w", dir, err)
	}
	return f, nil
}
