package main

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/postern/postern/client"
)

// Shell completion (cobra's `postern completion bash|zsh|fish|powershell`)
// offers what the server has, not only command names: node names where a
// command takes a node, session ids where it takes a session, document
// and log group names. It asks the server with the CLI's login and a
// short deadline; when it cannot, it offers nothing rather than hang the
// shell.

// completeTimeout bounds what a completion may wait for the server.
const completeTimeout = 3 * time.Second

// completer lists candidates from the server.
type completer func(ctx context.Context, c *client.Client) ([]string, error)

func completeNodes(ctx context.Context, c *client.Client) ([]string, error) {
	ns, err := c.Nodes(ctx)
	var out []string
	for _, n := range ns {
		out = append(out, n.Name+"\t"+n.ID+" "+n.PingStatus)
	}
	return out, err
}

func completeSessions(ctx context.Context, c *client.Client) ([]string, error) {
	ss, err := c.Sessions(ctx, client.SessionFilter{Limit: 100})
	var out []string
	for _, s := range ss {
		out = append(out, s.ID+"\t"+s.Status+" on "+s.Target)
	}
	return out, err
}

func completeDocuments(ctx context.Context, c *client.Client) ([]string, error) {
	ds, err := c.Documents(ctx)
	var out []string
	for _, d := range ds {
		out = append(out, d.Name)
	}
	return out, err
}

func completeLogGroups(ctx context.Context, c *client.Client) ([]string, error) {
	gs, err := c.LogGroups(ctx)
	var out []string
	for _, g := range gs {
		out = append(out, g.Name)
	}
	return out, err
}

// completeWith turns a completer into cobra's function for a command's
// first argument.
func completeWith(list completer) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return fetchCompletions(cmd.Context(), list, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// completeFlagWith is completeWith for a flag's value.
func completeFlagWith(list completer) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return fetchCompletions(cmd.Context(), list, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

func fetchCompletions(ctx context.Context, list completer, prefix string) []cobra.Completion {
	if ctx == nil {
		ctx = context.Background()
	}
	c, _, err := apiClient()
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, completeTimeout)
	defer cancel()
	all, _ := list(ctx, c)
	var out []cobra.Completion
	for _, v := range all {
		if strings.HasPrefix(v, prefix) {
			out = append(out, v)
		}
	}
	return out
}

// addCompletions attaches the completers to the commands that take what
// they list, by the commands' paths under root.
func addCompletions(root *cobra.Command) {
	args := map[string]completer{
		"connect": completeNodes, "exec": completeNodes, "forward": completeNodes, "proxy": completeNodes,
		"sessions show": completeSessions, "sessions watch": completeSessions, "terminate": completeSessions,
		"logs get": completeSessions, "logs play": completeSessions, "logs delete": completeSessions,
		"documents show": completeDocuments, "documents delete": completeDocuments,
		"logs streams": completeLogGroups, "logs events": completeLogGroups, "logs groups delete": completeLogGroups,
	}
	flags := map[string]map[string]completer{
		"sessions":   {"target": completeNodes},
		"logs tail":  {"group": completeLogGroups, "session": completeSessions},
		"logs query": {"group": completeLogGroups},
		"connect":    {"document": completeDocuments},
	}
	var walk func(cmd *cobra.Command)
	walk = func(cmd *cobra.Command) {
		path := strings.TrimPrefix(strings.TrimPrefix(cmd.CommandPath(), root.Name()), " ")
		if list, ok := args[path]; ok && cmd.ValidArgsFunction == nil {
			cmd.ValidArgsFunction = completeWith(list)
		}
		for flag, list := range flags[path] {
			if cmd.Flags().Lookup(flag) != nil {
				cmd.RegisterFlagCompletionFunc(flag, completeFlagWith(list))
			}
		}
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	walk(root)
}
