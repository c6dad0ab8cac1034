package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/ledgerd/ledgerd/node"
	"github.com/ledgerd/ledgerd/node/api"
)

// cmdState dispatches "state export" and "state import" (docs/statesync.md).
func cmdState(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return subcommand(ctx, "state", args, stdout, stderr, map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"export": cmdStateExport,
		"import": cmdStateImport,
	})
}

// stateExportIdle bounds how long `state export --node` waits for the next
// bytes of the transfer before it gives up.
const stateExportIdle = 60 * time.Second

func cmdStateExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("state export", "state export (--node URL | --home DIR) --epoch N|latest --out FILE", stderr)
	home := fs.String("home", "", "home of a STOPPED node whose store is read")
	nodeURL := fs.String("node", "", "API URL of a RUNNING node to download the state file from (GET /v1/state/{epoch})")
	epochArg := fs.String("epoch", "", "final epoch to export (>= 1), or latest")
	out := fs.String("out", "", "output file (written atomically: a temporary file renamed at the end)")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	switch {
	case *home != "" && *nodeURL != "":
		return fmt.Errorf("%w: give either --node URL (a running node) or --home DIR (a stopped node), not both", errUsage)
	case *home == "" && *nodeURL == "":
		return fmt.Errorf("%w: one of --node URL (a running node) or --home DIR (a stopped node) is required", errUsage)
	case *epochArg == "" || *out == "":
		return fmt.Errorf("%w: --epoch N (>= 1, or latest) and --out FILE are required", errUsage)
	}
	epoch, err := api.ParseStateEpoch(*epochArg)
	if err != nil {
		return fmt.Errorf("%w: --epoch: %v", errUsage, err)
	}
	var c *api.Client
	var cfg node.Config
	if *nodeURL != "" {
		if c, err = newClient(*nodeURL); err != nil {
			return err
		}
	} else if cfg, err = loadConfig(*home, os.Getenv); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(*out), ".ledgerd-state-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	var info node.StateInfo
	var size int64
	if c != nil {
		info.Epoch, size, err = downloadState(ctx, c, epoch, tmp)
	} else {
		info, err = node.ExportStateHome(cfg, epoch, tmp)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), *out); err != nil {
		return err
	}
	if c != nil {
		fmt.Fprintf(stdout, "exported epoch %d (%d bytes) from %s to %s; 'ledgerd state import --home DIR %s' verifies and installs it\n",
			info.Epoch, size, c.BaseURL(), *out, *out)
		return nil
	}
	fmt.Fprintf(stdout, "exported epoch %d (checkpoint %s, state root %s, %d accounts) to %s\n",
		info.Epoch, info.Hash, info.StateRoot, info.Accounts, *out)
	return nil
}

// downloadState copies the node's state file of epoch (0: latest) to w,
// giving up when no byte arrives for stateExportIdle.
func downloadState(ctx context.Context, c *api.Client, epoch uint64, w io.Writer) (uint64, int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	idle := time.AfterFunc(stateExportIdle, cancel)
	defer idle.Stop()
	got, n, err := c.StateFile(ctx, epoch, idleWriter{w: w, t: idle})
	if err != nil && ctx.Err() != nil && !idle.Stop() {
		return got, n, fmt.Errorf("%w (no data for %s)", err, stateExportIdle)
	}
	return got, n, err
}

// idleWriter re-arms an idle timer on every write.
type idleWriter struct {
	w io.Writer
	t *time.Timer
}

func (iw idleWriter) Write(p []byte) (int, error) {
	iw.t.Reset(stateExportIdle)
	return iw.w.Write(p)
}

func cmdStateImport(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("state import", "state import --home DIR FILE", stderr)
	home := fs.String("home", "", "home of the new node (its data directory must be empty)")
	if err := parseFlags(fs, args, 1); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: the state FILE is required", errUsage)
	}
	cfg, err := loadConfig(*home, os.Getenv)
	if err != nil {
		return err
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := node.ImportStateHome(cfg, f)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "imported epoch %d (checkpoint %s, state root %s, %d accounts): 'ledgerd run --home %s' follows the network from there\n",
		info.Epoch, info.Hash, info.StateRoot, info.Accounts, *home)
	return nil
}
