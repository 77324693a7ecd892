// Package agentcli is the node agent's command line, `register` and `run`,
// shared by `postern agent ...` and the postern-agent binary that nodes
// install. It imports only the agent's side of Postern, so postern-agent
// links no server code (cmd/postern-agent's tests check that).
package agentcli

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/postern/postern/agent"
	"github.com/postern/postern/cli"
	"github.com/postern/postern/logger"
)

// registrationFlags are the flags of what registers a node (register, and
// install on Windows).
func registrationFlags(f *pflag.FlagSet, ro *agent.RegisterOptions, tags *[]string) {
	f.StringVar(&ro.Server, "server", "", "server URL, https://host:port")
	f.StringVar(&ro.Code, "code", "", "activation code")
	f.StringVar(&ro.ID, "id", "", "activation id")
	f.StringVar(&ro.Name, "name", "", "node name (default: the activation's default, else the hostname)")
	f.StringArrayVar(tags, "tag", nil, "tag key=value (repeatable)")
	f.StringVar(&ro.CAPin, "ca-pin", "", "trust the server CA with this fingerprint (sha256:...)")
}

// serviceFlag is run's flag on the Windows service's command line.
const serviceFlag = "windows-service"

// DefaultDir is where the agent keeps its identity: $POSTERN_AGENT_DIR, a
// system path when it runs as root (an administrator on Windows:
// %ProgramData%\Postern\agent), under the user's home otherwise.
func DefaultDir() string {
	if d := os.Getenv("POSTERN_AGENT_DIR"); d != "" {
		return d
	}
	if d, ok := systemDir(); ok {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".local", "share", "postern", "agent")
}

// New returns the agent's command named use, with its --dir flag and the
// register and run subcommands: "agent" under postern, or postern-agent's
// root.
func New(use, short string) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short}
	var dir string
	cmd.PersistentFlags().StringVar(&dir, "dir", DefaultDir(), "where the agent keeps its identity ($POSTERN_AGENT_DIR)")

	var ro agent.RegisterOptions
	var tags []string
	reg := &cobra.Command{
		Use:   "register --server URL --code CODE --id ID",
		Short: "Register this node with an activation",
		Args:  cli.ExactArgs(0, "no arguments"),
		RunE: func(c *cobra.Command, args []string) error {
			if ro.Server == "" || ro.Code == "" || ro.ID == "" {
				return cli.Usagef("%s needs --server, --code and --id (from `postern activations create`)", c.CommandPath())
			}
			t, err := cli.ParseTags(tags)
			if err != nil {
				return err
			}
			ro.Tags, ro.Dir = t, dir
			id, err := agent.Register(c.Context(), ro)
			if err != nil {
				return err
			}
			if id.Renamed != "" {
				fmt.Fprintf(c.ErrOrStderr(), "%s: note: %s\n", cmd.Root().Name(), cli.Printable(id.Renamed))
			}
			fmt.Fprintf(c.OutOrStdout(), "Registered this node as %s (name %s). Start the agent with: %s run --dir %s\n", id.NodeID, cli.Printable(id.Name), cmd.CommandPath(), dir)
			return nil
		},
	}
	f := reg.Flags()
	registrationFlags(f, &ro, &tags)
	f.StringVar(&ro.CAFile, "ca-file", "", "trust the server CA in this PEM file")

	var runAs, logFormat, server, shellProgram string
	var asWindowsService bool
	run := &cobra.Command{
		Use:   "run",
		Short: "Run the agent: connect out to the server and serve sessions",
		Args:  cli.ExactArgs(0, "no arguments"),
		RunE: func(c *cobra.Command, args []string) error {
			logf, err := logger.New(logFormat, os.Stderr)
			if err != nil {
				return cli.Usagef("--log-format: %v", err)
			}
			if server != "" {
				if u, err := url.Parse(server); err != nil || u.Scheme != "https" || u.Host == "" {
					return cli.Usagef("--server: %q is not an https://host:port URL", server)
				}
			}
			a, err := agent.New(agent.Config{Dir: dir, Logf: logf, DefaultRunAs: runAs, Server: server, Shell: shellProgram})
			if err != nil {
				return err
			}
			return asService(c.Context(), asWindowsService, a.Run)
		},
	}
	run.Flags().StringVar(&logFormat, "log-format", logger.FormatText, "log lines as text, or json (log/slog's JSON lines)")
	run.Flags().StringVar(&server, "server", "", "dial this server instead of the one the node registered with (servers moved behind a load balancer)")
	run.Flags().BoolVar(&asWindowsService, serviceFlag, false, "run under the Windows service manager (the service's command line)")
	run.Flags().MarkHidden(serviceFlag)
	run.Flags().StringVar(&shellProgram, "shell", "", "Windows: the program sessions without a command start (default: PowerShell, cmd.exe where there is none)")
	run.Flags().StringVar(&runAs, "run-as", "", "OS user for sessions that name none (default: ssm-user when root, else the agent's user)")
	cmd.AddCommand(reg, run)
	cmd.AddCommand(platformCommands(&dir)...)
	return cmd
}
