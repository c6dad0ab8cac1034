package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/ledgerd/ledgerd/node"
	"github.com/ledgerd/ledgerd/node/api"
)

// The state commands back up and restore a certified state
// (docs/statesync.md). Both stop on SIGINT or SIGTERM without leaving a
// partial file or store behind: export writes a temporary file in the
// output's directory and renames it only once complete; import verifies
// the whole file before it opens the store, and once it writes, it
// finishes.

func (c *cli) stateCmd() *cobra.Command {
	cmd := c.group(&cobra.Command{
		Use:     "state",
		Short:   "Back up a certified state, or bootstrap a new node from one",
		GroupID: groupNode,
	})
	cmd.AddCommand(c.stateExportCmd(), c.stateImportCmd())
	return cmd
}

// stateExportIdle bounds how long `state export --node` waits for the next
// bytes of the transfer before it gives up.
const stateExportIdle = 60 * time.Second

// stateReport is what `state export --json` and `state import --json` print.
type stateReport struct {
	Epoch uint64 `json:"epoch"`
	// File is the state file written or read.
	File  string `json:"file"`
	Bytes int64  `json:"bytes"`
	// Node is the API the file was downloaded from (export --node).
	Node string `json:"node,omitempty"`
	// Home is the home read from (export --home) or bootstrapped (import).
	Home string `json:"home,omitempty"`
	// Checkpoint, StateRoot and Accounts describe the state (not known to
	// export --node, which copies the node's file without reading it).
	Checkpoint string `json:"checkpoint,omitempty"`
	StateRoot  string `json:"state_root,omitempty"`
	Accounts   uint64 `json:"accounts,omitempty"`
}

func (c *cli) stateExportCmd() *cobra.Command {
	var home, nodeURL, epochArg, out string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "export (--node URL | --home DIR) --epoch N|latest --out FILE",
		Short: "Write a certified state file from a running node (--node) or a stopped one (--home)",
		Long: `Write the state file of a final epoch: its checkpoint chain with certificates
and every account. From a running node (--node, GET /v1/state/{epoch}) or from
the store of a stopped node (--home). The file appears at --out only once it
is complete; Ctrl-C leaves nothing behind. Progress goes to stderr when it is
a terminal.`,
		Args: noArgs,
	}
	cmd.RunE = c.action(func(ctx context.Context, _ []string) error {
		nodeGiven, homeGiven := cmd.Flags().Changed("node"), cmd.Flags().Changed("home")
		if !nodeGiven && !homeGiven {
			envNodeURL, envHomeDir := c.getenv(envNode), c.getenv(envHome)
			if envNodeURL != "" && envHomeDir != "" {
				return fmt.Errorf("%w: both LEDGERD_NODE and LEDGERD_HOME are set: give --node URL (a running node) or --home DIR (a stopped node)", errUsage)
			}
			nodeURL, home = envNodeURL, envHomeDir
		}
		switch {
		case home != "" && nodeURL != "":
			return fmt.Errorf("%w: give either --node URL (a running node) or --home DIR (a stopped node), not both", errUsage)
		case home == "" && nodeURL == "":
			return fmt.Errorf("%w: one of --node URL (a running node) or --home DIR (a stopped node) is required", errUsage)
		case epochArg == "" || out == "":
			return fmt.Errorf("%w: --epoch N (>= 1, or latest) and --out FILE are required", errUsage)
		}
		epoch, err := api.ParseStateEpoch(epochArg)
		if err != nil {
			return fmt.Errorf("%w: --epoch: %v", errUsage, err)
		}
		var cl *api.Client
		var cfg node.Config
		if nodeURL != "" {
			if cl, err = newClient(nodeURL); err != nil {
				return err
			}
		} else if cfg, err = loadConfig(home, c.getenv); err != nil {
			return err
		}
		tmp, err := os.CreateTemp(filepath.Dir(out), ".ledgerd-state-*")
		if err != nil {
			return err
		}
		defer os.Remove(tmp.Name())
		meter := startMeter(c.progress(), "exporting to "+out, 0)
		w := &countingWriter{w: tmp, n: &meter.n}
		var info node.StateInfo
		if cl != nil {
			info.Epoch, _, err = downloadState(ctx, cl, epoch, w)
		} else {
			info, err = node.ExportStateHome(cfg, epoch, ctxWriter{ctx: ctx, w: w})
		}
		meter.stop()
		if err == nil {
			err = tmp.Sync()
		}
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted: %s was not written", out)
		}
		if err != nil {
			return err
		}
		if err := os.Rename(tmp.Name(), out); err != nil {
			return err
		}
		rep := stateReport{Epoch: info.Epoch, File: out, Bytes: meter.n.Load()}
		if cl != nil {
			rep.Node = cl.BaseURL()
		} else {
			rep.Home, rep.Checkpoint, rep.StateRoot, rep.Accounts = cfg.Home, info.Hash.String(), info.StateRoot.String(), info.Accounts
		}
		if asJSON {
			return printJSON(c.stdout, rep)
		}
		if cl != nil {
			fmt.Fprintf(c.stdout, "exported epoch %d (%d bytes) from %s to %s; 'ledgerd state import --home DIR %s' verifies and installs it\n",
				rep.Epoch, rep.Bytes, rep.Node, out, out)
			return nil
		}
		fmt.Fprintf(c.stdout, "exported epoch %d (checkpoint %s, state root %s, %d accounts) to %s\n",
			info.Epoch, info.Hash, info.StateRoot, info.Accounts, out)
		return nil
	})
	f := cmd.Flags()
	f.StringVar(&home, "home", "", "home `DIR` of a STOPPED node whose store is read (env LEDGERD_HOME)")
	f.StringVar(&nodeURL, "node", "", "API `URL` of a RUNNING node to download the state file from (env LEDGERD_NODE)")
	f.StringVar(&epochArg, "epoch", "", "final epoch `N` to export (>= 1), or latest")
	f.StringVar(&out, "out", "", "output `FILE` (written atomically: a temporary file renamed at the end)")
	c.jsonFlag(cmd, &asJSON)
	_ = cmd.MarkFlagDirname("home")
	_ = cmd.MarkFlagFilename("out")
	cmd.Annotations = envAnnotation(envNode, envHome, envSettingsRef)
	return cmd
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

func (c *cli) stateImportCmd() *cobra.Command {
	var home string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "import --home DIR FILE",
		Short: "Verify a state file against the genesis and bootstrap an empty node from it",
		Long: `Verify a state file (every checkpoint and certificate from the genesis, and
the accounts against the state root) and install it in the empty data
directory of a home made with 'ledgerd init'. The file is verified completely
before the store is opened, so a refused file, or Ctrl-C while it is read,
leaves the data directory as it was; once the install has begun it runs to
the end. FILE may be - for stdin. Progress goes to stderr when it is a
terminal.`,
		Args: exactArgs(1, "the state FILE"),
	}
	cmd.RunE = c.action(func(ctx context.Context, args []string) error {
		home := c.home(cmd, home)
		cfg, err := loadConfig(home, c.getenv)
		if err != nil {
			return err
		}
		file := args[0]
		var in io.Reader = c.stdin
		var size int64
		if file != "-" {
			f, err := os.Open(file)
			if err != nil {
				return err
			}
			defer f.Close()
			if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
				size = st.Size()
			}
			in = f
		}
		meter := startMeter(c.progress(), "verifying "+file, size)
		r := newInterruptibleReader(ctx, in)
		info, err := node.ImportStateHome(cfg, &countingReader{r: r, n: &meter.n})
		meter.stop()
		if err != nil {
			if ctx.Err() != nil && !r.finished.Load() {
				return fmt.Errorf("interrupted while reading %s: nothing was written to %s", file, cfg.Path(cfg.DataDir))
			}
			return err
		}
		if ctx.Err() != nil {
			fmt.Fprintln(c.stderr, "interrupted after the file was verified: the install ran to the end")
		}
		rep := stateReport{Epoch: info.Epoch, File: file, Bytes: meter.n.Load(), Home: cfg.Home,
			Checkpoint: info.Hash.String(), StateRoot: info.StateRoot.String(), Accounts: info.Accounts}
		if asJSON {
			return printJSON(c.stdout, rep)
		}
		fmt.Fprintf(c.stdout, "imported epoch %d (checkpoint %s, state root %s, %d accounts): 'ledgerd run --home %s' follows the network from there\n",
			info.Epoch, info.Hash, info.StateRoot, info.Accounts, home)
		return nil
	})
	c.homeFlag(cmd, &home, "home `DIR` of the new node (its data directory must be empty)")
	c.jsonFlag(cmd, &asJSON)
	cmd.Annotations = envAnnotation(envHome, envSettingsRef)
	return cmd
}

// interruptibleReader reads r in its own goroutine, so that a read that
// blocks (a pipe, a terminal) gives way as soon as ctx is done: from then
// on Read returns ctx's error. finished is set once r has been read to
// its end.
type interruptibleReader struct {
	pr       *io.PipeReader
	finished atomic.Bool
}

func newInterruptibleReader(ctx context.Context, r io.Reader) *interruptibleReader {
	pr, pw := io.Pipe()
	ir := &interruptibleReader{pr: pr}
	go func() {
		_, err := io.Copy(pw, r)
		if err == nil {
			ir.finished.Store(true)
		}
		pw.CloseWithError(err) // nil: readers see io.EOF
	}()
	context.AfterFunc(ctx, func() { pw.CloseWithError(ctx.Err()) })
	return ir
}

func (ir *interruptibleReader) Read(p []byte) (int, error) { return ir.pr.Read(p) }

// ctxWriter fails every write once ctx is done.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (cw ctxWriter) Write(p []byte) (int, error) {
	if err := cw.ctx.Err(); err != nil {
		return 0, err
	}
	return cw.w.Write(p)
}

type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (cw *countingWriter) Write(p []byte) (int, error) {
	n, err := cw.w.Write(p)
	cw.n.Add(int64(n))
	return n, err
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (cr *countingReader) Read(p []byte) (int, error) {
	n, err := cr.r.Read(p)
	cr.n.Add(int64(n))
	return n, err
}

// meter shows a byte count (of a total, when known) on one terminal line,
// redrawn four times a second, until stop.
type meter struct {
	n     atomic.Int64
	done  chan struct{}
	ended chan struct{}
}

func startMeter(w io.Writer, label string, total int64) *meter {
	m := &meter{done: make(chan struct{}), ended: make(chan struct{})}
	if w == io.Discard {
		close(m.ended)
		return m
	}
	start := time.Now()
	draw := func() {
		n := m.n.Load()
		line := fmt.Sprintf("\r%s: %s", label, mib(n))
		if total > 0 {
			line += fmt.Sprintf(" of %s (%.0f%%)", mib(total), 100*float64(n)/float64(total))
		}
		if el := time.Since(start).Seconds(); el > 0 {
			line += fmt.Sprintf(", %s/s", mib(int64(float64(n)/el)))
		}
		fmt.Fprint(w, line+"   ")
	}
	go func() {
		defer close(m.ended)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-m.done:
				draw()
				fmt.Fprintln(w)
				return
			case <-t.C:
				draw()
			}
		}
	}()
	return m
}

func (m *meter) stop() {
	select {
	case <-m.ended:
		return
	default:
	}
	close(m.done)
	<-m.ended
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
