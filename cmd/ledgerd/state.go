package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/ledgerd/ledgerd/node"
)

// cmdState dispatches "state export" and "state import" (docs/statesync.md).
func cmdState(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return subcommand(ctx, "state", args, stdout, stderr, map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"export": cmdStateExport,
		"import": cmdStateImport,
	})
}

func cmdStateExport(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("state export", "state export --home DIR --epoch N --out FILE", stderr)
	home := fs.String("home", "", "home of a STOPPED node whose store is read")
	nodeURL := fs.String("node", "", "export through a running node's API (not supported yet; use --home)")
	epoch := fs.Uint64("epoch", 0, "final epoch to export (>= 1)")
	out := fs.String("out", "", "output file")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	if *nodeURL != "" {
		return fmt.Errorf("%w: --node is not supported yet: stop the node and use --home", errUsage)
	}
	if *epoch == 0 || *out == "" {
		return fmt.Errorf("%w: --epoch N (>= 1) and --out FILE are required", errUsage)
	}
	cfg, err := loadConfig(*home, os.Getenv)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(*out), ".ledgerd-state-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	info, err := node.ExportStateHome(cfg, *epoch, tmp)
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
	fmt.Fprintf(stdout, "exported epoch %d (checkpoint %s, state root %s, %d accounts) to %s\n",
		info.Epoch, info.Hash, info.StateRoot, info.Accounts, *out)
	return nil
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
