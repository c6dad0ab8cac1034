package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ledgerd/ledgerd/node/buildinfo"
)

func (c *cli) versionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "version",
		Short:   "Print the module version, VCS commit and Go version of this binary",
		GroupID: groupOther,
		Args:    noArgs,
	}
	cmd.RunE = c.action(func(context.Context, []string) error {
		bi := buildinfo.Get()
		if asJSON {
			return printJSON(c.stdout, bi)
		}
		commit := bi.Commit
		switch {
		case commit == "":
			commit = "unknown"
		case bi.Modified:
			commit += " (modified)"
		}
		fmt.Fprintf(c.stdout, "ledgerd %s\n", bi.Version)
		fmt.Fprintf(c.stdout, "commit:      %s\n", commit)
		if bi.CommitTime != "" {
			fmt.Fprintf(c.stdout, "commit time: %s\n", bi.CommitTime)
		}
		fmt.Fprintf(c.stdout, "go:          %s\n", bi.GoVersion)
		fmt.Fprintf(c.stdout, "platform:    %s\n", bi.Platform)
		return nil
	})
	c.jsonFlag(cmd, &asJSON)
	return cmd
}
