package buildinfo

import (
	"runtime"
	"testing"
)

// TestGet: a test binary has no module version or commit, but the Go
// version and platform are always known.
func TestGet(t *testing.T) {
	info := Get()
	if info.Version == "" || info.GoVersion == "" || info.Platform != runtime.GOOS+"/"+runtime.GOARCH {
		t.Fatalf("incomplete build info: %+v", info)
	}
	if got := (Info{Commit: "568f3f7abcdef0123456789"}).ShortCommit(); got != "568f3f7abcde" {
		t.Fatalf("ShortCommit = %q", got)
	}
	if got := (Info{}).ShortCommit(); got != "unknown" {
		t.Fatalf("ShortCommit of no commit = %q", got)
	}
}
