// Command postern is Postern's single binary: the server, the agent, the
// all-in-one dev environment and the client commands. It only wires
// packages together; the behaviour lives in them.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/postern/postern/agent"
	"github.com/postern/postern/agentcli"
	"github.com/postern/postern/api"
	"github.com/postern/postern/cli"
	"github.com/postern/postern/client"
	"github.com/postern/postern/shell"
)

// The command line conventions postern shares with postern-agent.
type exitCode = cli.ExitCode

func usagef(format string, args ...any) error { return cli.Usagef(format, args...) }

// exactArgs is cobra.ExactArgs with a usage error.
func exactArgs(n int, names string) cobra.PositionalArgs { return cli.ExactArgs(n, names) }

func main() {
	shell.ServeConsoleChild() // on Windows, a session's go-between (postern agent run)
	cli.Main(newRoot())
}

func newRoot() *cobra.Command {
	root := cli.Root(&cobra.Command{
		Use:   "postern",
		Short: "Postern: shell access to your nodes without inbound ports, with every session recorded",
	}, version, agent.BuildCommit())
	root.AddCommand(
		newDevCmd(), newServerCmd(), agentcli.New("agent", "Register and run the node agent (what postern-agent does)"),
		newLoginCmd(), newWhoAmICmd(), newNodesCmd(), newConnectCmd(), newExecCmd(), newRunCmd(), newForwardCmd(), newProxyCmd(), newDesktopCmd(),
		newSessionsCmd(), newTerminateCmd(), newLogsCmd(), newActivationsCmd(),
		newDocumentsCmd(), newPrefsCmd(), newUsersCmd(), newTokensCmd(), newAccessKeysCmd(), newPolicyCmd(), newKeysCmd(), newAuditCmd(), newOrgCmd(), newDeliveryStreamsCmd(), newEventsCmd(), newAdminCmd(), newManCmd(),
	)
	addCompletions(root)
	return root
}

// apiClient loads the CLI configuration and returns a client.
func apiClient() (*client.Client, client.Config, error) {
	cfg, fromEnv, err := client.EnvConfig(client.Home())
	if err != nil {
		return nil, cfg, err
	}
	c, err := client.New(cfg)
	if err != nil {
		return nil, cfg, err
	}
	if fromEnv {
		return c, cfg, nil // an API token: nothing to renew or save
	}
	// Tokens bought with the refresh token replace the expired one in
	// the configuration, for the next command.
	c.OnRefresh(func(res api.LoginResponse) {
		cfg.Token, cfg.RefreshToken = res.Token, res.RefreshToken
		if err := client.SaveConfig(client.Home(), cfg); err != nil {
			fmt.Fprintf(os.Stderr, "postern: keeping the renewed token: %v\n", err)
		}
	})
	return c, cfg, err
}
