// Command postern is Postern's single binary: the server, the agent, the
// all-in-one dev environment and the client commands. It only wires
// packages together; the behaviour lives in them.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/postern/postern/api"
	"github.com/postern/postern/client"
)

// exitCode makes the process exit with a code; the message, if any, has
// already been printed.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit %d", int(e)) }

// usageError is a mistake in the command line (exit 2).
type usageError struct{ error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	root := newRoot()
	err := root.ExecuteContext(ctx)
	stop()
	os.Exit(report(err))
}

func report(err error) int {
	if err == nil {
		return 0
	}
	var ec exitCode
	if errors.As(err, &ec) {
		return int(ec)
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(os.Stderr, "postern: %v\n", ue.error)
		return 2
	}
	fmt.Fprintf(os.Stderr, "postern: %v\n", err)
	return 1
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "postern",
		Short:         "Postern: shell access to your nodes without inbound ports, with every session recorded",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%v\nRun '%s --help' for usage.", err, c.CommandPath())}
	})
	root.AddCommand(
		newDevCmd(), newServerCmd(), newAgentCmd(),
		newLoginCmd(), newWhoAmICmd(), newNodesCmd(), newConnectCmd(), newExecCmd(), newForwardCmd(), newProxyCmd(),
		newSessionsCmd(), newTerminateCmd(), newLogsCmd(), newActivationsCmd(),
		newDocumentsCmd(), newPrefsCmd(), newUsersCmd(), newTokensCmd(), newPolicyCmd(), newKeysCmd(), newAuditCmd(),
		newVersionCmd(),
	)
	return root
}

// exactArgs is cobra.ExactArgs with a usage error.
func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s takes %s\nRun '%s --help' for usage.", cmd.CommandPath(), names, cmd.CommandPath())
		}
		return nil
	}
}

// apiClient loads the CLI configuration and returns a client.
func apiClient() (*client.Client, client.Config, error) {
	cfg, err := client.LoadConfig(client.Home())
	if err != nil {
		return nil, cfg, err
	}
	c, err := client.New(cfg)
	if err != nil {
		return nil, cfg, err
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

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  exactArgs(0, "no arguments"),
		Run:   func(cmd *cobra.Command, args []string) { fmt.Fprintln(cmd.OutOrStdout(), "postern", version) },
	}
}
