// Command ledgerd runs a ledgerd validator, a local devnet, and the client
// tools that talk to a node's HTTP API. It only parses flags, config files and
// environment variables and calls into package node.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// command is one subcommand: its one-line summary and its entry point.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() map[string]command {
	return map[string]command{
		"init":         {"create a validator home (key, config) for an existing genesis", cmdInit},
		"keys":         {"keys new|show: create or show a secp256k1 key file", cmdKeys},
		"testnet":      {"generate homes, keys, genesis and docker-compose for N validators", cmdTestnet},
		"run":          {"run a validator from its home directory", cmdRun},
		"devnet":       {"generate (if needed) and run a local network of validators on loopback", cmdDevnet},
		"tx":           {"tx send: sign and submit a transfer", cmdTx},
		"checkpoint":   {"checkpoint get|list|verify: read and verify checkpoints", cmdCheckpoint},
		"account":      {"show an account, optionally with a verified proof", cmdAccount},
		"snapshot":     {"show an epoch's distributed snapshot", cmdSnapshot},
		"snapshot-sim": {"run the Chandy–Lamport conformance simulator on .top/.events files", cmdSnapshotSim},
		"healthcheck":  {"exit 0 if the node's API answers /healthz", cmdHealthcheck},
		"state":        {"state export|import: back up or bootstrap a node from a certified state file", cmdState},
		"bench":        {"load a network with signed transfers and report throughput and latency", cmdBench},
	}
}

// errUsage marks an error caused by bad flags or arguments (exit code 2).
var errUsage = errors.New("usage")

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: ledgerd <command> [flags]\n\ncommands:")
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-13s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'ledgerd <command> --help' for a command's flags.")
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands()[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "ledgerd: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
	err := cmd.run(ctx, args[1:], stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "ledgerd %s: %v\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(stderr, "ledgerd %s: %v\n", args[0], err)
		return 1
	}
}

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: ledgerd %s\n\nflags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args and wraps errors as usage errors; it rejects
// positional arguments beyond maxArgs.
func parseFlags(fs *flag.FlagSet, args []string, maxArgs int) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > maxArgs {
		return fmt.Errorf("%w: unexpected arguments: %s", errUsage, strings.Join(fs.Args()[maxArgs:], " "))
	}
	return nil
}

// subcommand dispatches "keys new" style commands.
func subcommand(ctx context.Context, name string, args []string, stdout, stderr io.Writer, subs map[string]func(context.Context, []string, io.Writer, io.Writer) error) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		names := make([]string, 0, len(subs))
		for n := range subs {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintf(stderr, "usage: ledgerd %s <%s> [flags]\n", name, strings.Join(names, "|"))
		if len(args) == 0 {
			return fmt.Errorf("%w: missing subcommand", errUsage)
		}
		return flag.ErrHelp
	}
	f, ok := subs[args[0]]
	if !ok {
		return fmt.Errorf("%w: unknown subcommand %q", errUsage, args[0])
	}
	return f(ctx, args[1:], stdout, stderr)
}

// flagSet reports whether the named flag was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			found = true
		}
	})
	return found
}
