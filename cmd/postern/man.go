package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/postern/postern/agent"
	"github.com/postern/postern/agentcli"
	"github.com/postern/postern/cli"
)

// newManCmd writes the manual pages of postern (into DIR/postern) and
// postern-agent (DIR/postern-agent), one per command, from the commands
// themselves, so they never disagree with --help: scripts/release ships
// them and each package installs its own. `postern agent ...` is left to
// postern-agent's pages (the same commands): their pages would have the
// same names, and two packages cannot install one file. Their date is
// SOURCE_DATE_EPOCH's when it is set, so a release's pages are the same
// for the same commit.
func newManCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "man DIR",
		Short:  "Write the manual pages of postern and postern-agent into DIR",
		Hidden: true,
		Args:   exactArgs(1, "the directory"),
		RunE: func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			if a, _, err := root.Find([]string{"agent"}); err == nil && a != root {
				a.Hidden = true
				defer func() { a.Hidden = false }()
			}
			agentRoot := cli.Root(agentcli.New("postern-agent", "Postern's node agent: register this node, then run the agent"), agent.Version, agent.BuildCommit())
			for _, r := range []*cobra.Command{root, agentRoot} {
				dir := filepath.Join(args[0], r.Name())
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return err
				}
				r.DisableAutoGenTag = true
				h := &doc.GenManHeader{Title: r.Name(), Section: "1", Source: "Postern " + version, Manual: "Postern"}
				if err := doc.GenManTree(r, h, dir); err != nil {
					return fmt.Errorf("man pages of %s: %w", r.Name(), err)
				}
			}
			return nil
		},
	}
}
