// Package buildinfo reports which ledgerd build is running: the module
// version, the VCS commit and the Go version, read from the build
// information the Go toolchain embeds in every binary
// (runtime/debug.ReadBuildInfo). The `ledgerd version` command, the
// ledgerd_build_info metric and the API's status can all read it.
//
// A build may also set the version and commit explicitly, which `make
// build` does from git (so that a build from a git worktree, or with
// GOFLAGS=-buildvcs=false, still names its commit):
//
//	go build -ldflags "-X github.com/ledgerd/ledgerd/node/buildinfo.version=v1.2.3 \
//		-X github.com/ledgerd/ledgerd/node/buildinfo.commit=$(git rev-parse HEAD)" ./cmd/ledgerd
package buildinfo

import (
	"runtime"
	"runtime/debug"
	"sync"
)

// version and commit, when set with -ldflags -X, replace the module
// version and the VCS revision from the build information.
var version, commit string

// Info describes one build.
type Info struct {
	// Version is the main module's version: a tag (v1.2.3), a
	// pseudo-version derived from the commit (v0.0.0-20261126…-568f3f7abcde,
	// "+dirty" with uncommitted changes), or "(devel)" when the toolchain
	// recorded none (go run, go test, a build outside a VCS checkout).
	Version string `json:"version"`
	// Commit is the VCS revision the binary was built from, "" if unknown.
	Commit string `json:"commit"`
	// CommitTime is the commit's time (RFC 3339), "" if unknown.
	CommitTime string `json:"commit_time,omitempty"`
	// Modified is true when the working tree had uncommitted changes.
	Modified bool `json:"modified"`
	// GoVersion is the Go toolchain that built the binary.
	GoVersion string `json:"go_version"`
	// Platform is GOOS/GOARCH.
	Platform string `json:"platform"`
}

// Get returns the running binary's build information.
var Get = sync.OnceValue(func() Info {
	info := Info{Version: "(devel)", GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if ok {
		if v := bi.Main.Version; v != "" {
			info.Version = v
		}
		if bi.GoVersion != "" {
			info.GoVersion = bi.GoVersion
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				info.Commit = s.Value
			case "vcs.time":
				info.CommitTime = s.Value
			case "vcs.modified":
				info.Modified = s.Value == "true"
			}
		}
	}
	if version != "" {
		info.Version = version
	}
	if commit != "" {
		info.Commit = commit
	}
	return info
})

// ShortCommit is the first 12 hex digits of the commit, "unknown" without one.
func (i Info) ShortCommit() string {
	switch {
	case i.Commit == "":
		return "unknown"
	case len(i.Commit) > 12:
		return i.Commit[:12]
	}
	return i.Commit
}
