// Command ledgerd runs a ledgerd validator, a local devnet, and the client
// tools that talk to a node's HTTP API. It only parses flags, config files and
// environment variables and calls into package node.
//
// Conventions every command follows: help goes to stdout; flags may come
// before or after positional arguments; commands that read or report take
// --json and then print nothing but one JSON document on stdout; progress
// goes to stderr, and only when stderr is a terminal; the exit code is 0 on
// success, 1 on failure and 2 on a usage error.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/ledgerd/ledgerd/node/buildinfo"
)

// errUsage marks an error caused by bad flags or arguments (exit code 2).
var errUsage = errors.New("usage")

// Command groups of the top-level help.
const (
	groupNode    = "node"
	groupNetwork = "network"
	groupClient  = "client"
	groupOther   = "other"
)

// cli is one invocation's input, output and environment. Commands read
// the environment through getenv only, so tests can set it.
type cli struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	// argv0 is the name ledgerd was invoked as (os.Args[0]).
	argv0 string
	// intercept, when set, runs instead of every command's action: tests of
	// flag parsing use it to see what a command would have run with.
	intercept func(cmd *cobra.Command, args []string) error
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command line with the process's environment and
// returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := &cli{stdin: os.Stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv, argv0: os.Args[0]}
	return c.execute(ctx, args)
}

// actionError carries an error returned by a command's action, as opposed
// to one from parsing the command line.
type actionError struct{ err error }

func (e *actionError) Error() string { return e.err.Error() }
func (e *actionError) Unwrap() error { return e.err }

// execute runs args and returns the exit code: 0 on success, 2 for a
// usage error (a bad command, flag or argument), 1 for any other failure.
func (c *cli) execute(ctx context.Context, args []string) int {
	root := c.rootCmd()
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	name := strings.TrimPrefix(strings.TrimPrefix(cmd.CommandPath(), root.Name()), " ")
	prefix := root.Name()
	if name != "" {
		prefix += " " + name
	}
	var ae *actionError
	if errors.As(err, &ae) && !errors.Is(err, errUsage) {
		fmt.Fprintf(c.stderr, "%s: %v\n", prefix, err)
		return 1
	}
	fmt.Fprintf(c.stderr, "%s: %v\n", prefix, strings.TrimPrefix(err.Error(), errUsage.Error()+": "))
	fmt.Fprintf(c.stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
	return 2
}

// action wraps a command's work: it receives the command's context and
// positional arguments.
func (c *cli) action(f func(ctx context.Context, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if c.intercept != nil {
			return c.intercept(cmd, args)
		}
		if err := f(cmd.Context(), args); err != nil {
			return &actionError{err}
		}
		return nil
	}
}

func (c *cli) rootCmd() *cobra.Command {
	bi := buildinfo.Get()
	root := &cobra.Command{
		Use:   "ledgerd",
		Short: "A ledger node: validators, a local devnet and the client tools",
		Long: `ledgerd is a ledger node. Validators fixed in a genesis file run 'ledgerd run';
clients submit signed transfers to any node; at every epoch boundary the
validators take a Chandy–Lamport snapshot and sign a hash-chained checkpoint.

Start a local 4-validator network with 'ledgerd devnet', then talk to it with
the client commands. Every command takes --help.`,
		Version:       bi.Version + " (commit " + bi.ShortCommit() + ", " + bi.GoVersion + ")",
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetIn(c.stdin)
	root.SetOut(c.stdout)
	root.SetErr(c.stderr)
	root.SetUsageTemplate(usageTemplate)
	root.SetVersionTemplate("ledgerd {{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return fmt.Errorf("%w: %v", errUsage, err)
	})
	root.AddGroup(
		&cobra.Group{ID: groupNode, Title: "Run a validator:"},
		&cobra.Group{ID: groupNetwork, Title: "Local networks:"},
		&cobra.Group{ID: groupClient, Title: "Talk to a node (--node URL, or LEDGERD_NODE):"},
		&cobra.Group{ID: groupOther, Title: "Other commands:"},
	)
	root.SetHelpCommandGroupID(groupOther)
	root.SetCompletionCommandGroupID(groupOther)
	root.RunE = func(cmd *cobra.Command, args []string) error {
		cmd.SetOut(c.stderr)
		_ = cmd.Usage()
		return fmt.Errorf("%w: missing command", errUsage)
	}
	root.AddCommand(
		c.initCmd(), c.runCmd(), c.keysCmd(), c.configCmd(), c.stateCmd(),
		c.devnetCmd(), c.testnetCmd(), c.benchCmd(),
		c.txCmd(), c.checkpointCmd(), c.accountCmd(), c.snapshotCmd(), c.healthcheckCmd(),
		c.versionCmd(), c.snapshotSimCmd(),
	)
	root.InitDefaultCompletionCmd()
	for _, sub := range root.Commands() {
		if sub.Name() == "completion" {
			sub.Short = "Print a shell completion script (bash, zsh, fish, powershell)"
		}
	}
	return root
}

// usageTemplate is cobra's usage template with an Environment section
// (the variables a command reads, from its "env" annotation), and the
// usage line of a command group shown as "[command]" only.
const usageTemplate = `Usage:{{if and .Runnable (not .HasAvailableSubCommands)}}
  {{.UseLine}}{{end}}{{if .HasAvailableSubCommands}}
  {{.CommandPath}} [command]{{end}}{{if gt (len .Aliases) 0}}

Aliases:
  {{.NameAndAliases}}{{end}}{{if .HasExample}}

Examples:
{{.Example}}{{end}}{{if .HasAvailableSubCommands}}{{$cmds := .Commands}}{{if eq (len .Groups) 0}}

Available Commands:{{range $cmds}}{{if (or .IsAvailableCommand (eq .Name "help"))}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}{{else}}{{range $group := .Groups}}

{{.Title}}{{range $cmds}}{{if (and (eq .GroupID $group.ID) (or .IsAvailableCommand (eq .Name "help")))}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}{{end}}{{if not .AllChildCommandsHaveGroup}}

Additional Commands:{{range $cmds}}{{if (and (eq .GroupID "") (or .IsAvailableCommand (eq .Name "help")))}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}{{end}}{{end}}{{end}}{{if .HasAvailableLocalFlags}}

Flags:
{{.LocalFlags.FlagUsages | trimTrailingWhitespaces}}{{end}}{{if .HasAvailableInheritedFlags}}

Global Flags:
{{.InheritedFlags.FlagUsages | trimTrailingWhitespaces}}{{end}}{{with index .Annotations "env"}}

Environment:
{{.}}{{end}}{{if .HasHelpSubCommands}}

Additional help topics:{{range .Commands}}{{if .IsAdditionalHelpTopicCommand}}
  {{rpad .CommandPath .CommandPathPadding}} {{.Short}}{{end}}{{end}}{{end}}{{if .HasAvailableSubCommands}}

Use "{{.CommandPath}} [command] --help" for more information about a command.{{end}}
`

// group makes cmd a command that only holds subcommands: run without one,
// or with an unknown one, it prints its usage on stderr and exits 2.
func (c *cli) group(cmd *cobra.Command) *cobra.Command {
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return fmt.Errorf("%w: unknown command %q for %q", errUsage, args[0], cmd.CommandPath())
		}
		cmd.SetOut(c.stderr)
		_ = cmd.Usage()
		return fmt.Errorf("%w: missing subcommand", errUsage)
	}
	return cmd
}

// noArgs refuses positional arguments.
func noArgs(_ *cobra.Command, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("%w: unexpected arguments: %s", errUsage, strings.Join(args, " "))
	}
	return nil
}

// exactArgs requires exactly n positional arguments; what names them in
// the error.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		switch {
		case len(args) < n:
			return fmt.Errorf("%w: %s is required", errUsage, what)
		case len(args) > n:
			return fmt.Errorf("%w: unexpected arguments: %s", errUsage, strings.Join(args[n:], " "))
		}
		return nil
	}
}

// Environment variables read outside the node configuration.
const (
	envHome = "LEDGERD_HOME"
	envNode = "LEDGERD_NODE"
	// envSettings stands for every LEDGERD_* variable of a config key.
	envSettings = "settings"
	// envSettingsRef stands for a pointer to run's list of them.
	envSettingsRef = "settings-ref"
)

// envDocs describes the variables that commands list in their help.
var envDocs = map[string]string{
	envHome:      "default of --home",
	envNode:      "default of --node",
	"GOMEMLIMIT": "Go's soft memory limit; when set, memory_limit_mib is ignored",
	"GOMAXPROCS": "passed on to every validator; when unset each gets the CPUs divided among the validators",
}

// envAnnotation is the "env" annotation listing names (and, for
// envSettings, every configuration variable) in a command's help.
func envAnnotation(names ...string) map[string]string {
	type row struct{ name, doc string }
	var rows []row
	for _, n := range names {
		switch n {
		case envSettings:
			for _, s := range settings {
				rows = append(rows, row{s.envName(), s.key + ": " + s.short})
			}
		case envSettingsRef:
			rows = append(rows, row{"LEDGERD_*", "every config.toml key (listed by 'ledgerd run --help', docs/config.md)"})
		default:
			rows = append(rows, row{n, envDocs[n]})
		}
	}
	width := 0
	for _, r := range rows {
		width = max(width, len(r.name))
	}
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "  %-*s   %s\n", width, r.name, r.doc)
	}
	return map[string]string{"env": strings.TrimRight(b.String(), "\n")}
}

// homeFlag registers --home, whose default is LEDGERD_HOME.
func (c *cli) homeFlag(cmd *cobra.Command, dst *string, usage string) {
	cmd.Flags().StringVar(dst, "home", "", usage+" (env LEDGERD_HOME)")
	_ = cmd.MarkFlagDirname("home")
}

// home is --home, or LEDGERD_HOME when the flag is not given.
func (c *cli) home(cmd *cobra.Command, flagValue string) string {
	if cmd.Flags().Changed("home") {
		return flagValue
	}
	if v := c.getenv(envHome); v != "" {
		return v
	}
	return flagValue
}

// defaultNode is the API URL client commands use without --node or
// LEDGERD_NODE.
const defaultNode = "http://127.0.0.1:8600"

// nodeFlag registers --node, whose default is LEDGERD_NODE, then
// defaultNode.
func (c *cli) nodeFlag(cmd *cobra.Command, dst *string) {
	cmd.Flags().StringVar(dst, "node", defaultNode, "node API `URL` (env LEDGERD_NODE)")
}

// node is --node, or LEDGERD_NODE when the flag is not given.
func (c *cli) node(cmd *cobra.Command, flagValue string) string {
	if cmd.Flags().Changed("node") {
		return flagValue
	}
	if v := c.getenv(envNode); v != "" {
		return v
	}
	return flagValue
}

// jsonFlag registers --json.
func (c *cli) jsonFlag(cmd *cobra.Command, dst *bool) {
	cmd.Flags().BoolVar(dst, "json", false, "print one JSON document on stdout and nothing else")
}

// isTerminal reports whether w is a terminal.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progress is where a command's progress goes: stderr when it is a
// terminal, nowhere otherwise.
func (c *cli) progress() io.Writer {
	if isTerminal(c.stderr) {
		return c.stderr
	}
	return io.Discard
}

// invokedAs is how to spell this binary in a command to paste into the
// same shell: the path it was invoked by when that has a slash
// (bin/ledgerd), "ledgerd" when it was found on PATH.
func (c *cli) invokedAs() string {
	if strings.Contains(c.argv0, "/") {
		return c.argv0
	}
	return "ledgerd"
}
