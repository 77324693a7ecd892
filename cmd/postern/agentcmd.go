package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/postern/postern/agent"
	"github.com/postern/postern/logger"
)

// defaultAgentDir is where the agent keeps its identity: a system path when
// it runs as root, the CLI home otherwise.
func defaultAgentDir() string {
	if d := os.Getenv("POSTERN_AGENT_DIR"); d != "" {
		return d
	}
	if os.Geteuid() == 0 {
		return "/var/lib/postern-agent"
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".local", "share", "postern", "agent")
}

func newAgentCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "agent", Short: "Register and run the node agent"}
	var dir string
	cmd.PersistentFlags().StringVar(&dir, "dir", defaultAgentDir(), "where the agent keeps its identity ($POSTERN_AGENT_DIR)")

	var ro agent.RegisterOptions
	var tags []string
	reg := &cobra.Command{
		Use:   "register --server URL --code CODE --id ID",
		Short: "Register this node with an activation",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if ro.Server == "" || ro.Code == "" || ro.ID == "" {
				return usagef("agent register needs --server, --code and --id (from `postern activations create`)")
			}
			t, err := parseTags(tags)
			if err != nil {
				return err
			}
			ro.Tags, ro.Dir = t, dir
			id, err := agent.Register(cmd.Context(), ro)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Registered this node as %s. Start the agent with: postern agent run --dir %s\n", id.NodeID, dir)
			return nil
		},
	}
	f := reg.Flags()
	f.StringVar(&ro.Server, "server", "", "server URL, https://host:port")
	f.StringVar(&ro.Code, "code", "", "activation code")
	f.StringVar(&ro.ID, "id", "", "activation id")
	f.StringVar(&ro.Name, "name", "", "node name (default: the activation's default, else the hostname)")
	f.StringArrayVar(&tags, "tag", nil, "tag key=value (repeatable)")
	f.StringVar(&ro.CAPin, "ca-pin", "", "trust the server CA with this fingerprint (sha256:...)")
	f.StringVar(&ro.CAFile, "ca-file", "", "trust the server CA in this PEM file")

	var runAs string
	run := &cobra.Command{
		Use:   "run",
		Short: "Run the agent: connect out to the server and serve sessions",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := agent.New(agent.Config{Dir: dir, Logf: logger.Std, DefaultRunAs: runAs})
			if err != nil {
				return err
			}
			return a.Run(cmd.Context())
		},
	}
	run.Flags().StringVar(&runAs, "run-as", "", "OS user for sessions that name none (default: ssm-user when root, else the agent's user)")
	cmd.AddCommand(reg, run)
	return cmd
}
