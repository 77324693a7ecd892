package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/postern/postern/api"
	"github.com/postern/postern/cli"
	"github.com/postern/postern/client"
	"github.com/postern/postern/document"
	"github.com/postern/postern/ids"
	"github.com/postern/postern/runcommand"
)

func newRunCmd() *cobra.Command {
	var (
		req                api.SendCommandRequest
		targets, params    []string
		nodes              []string
		noWait             bool
		out                string
		maxConc, maxErrors string
	)
	cmd := &cobra.Command{
		Use:   "run (--targets Key=tag:NAME,Values=V | --node-ids NODE,...) --parameters commands=CMD [flags]",
		Short: "Run commands on nodes (Run Command), each node's run a recorded session",
		Long: `Run a command document on nodes, as Systems Manager's Run Command does, and
wait for the results: each node's status, exit code and the first 24,000
characters of its standard output and error.

  postern run --targets Key=tag:env,Values=prod --parameters 'commands=["uptime","df -h /"]'
  postern run --node-ids web-1,web-2 --parameters commands='systemctl restart app' \
      --max-concurrency 1 --max-errors 0 --comment 'rolling restart'

The document is AWS-RunShellScript: parameters commands (one or more lines
of sh), workingDirectory and executionTimeout (seconds, default 3600). At
most --max-concurrency nodes run at once (a number, or a percentage of the
nodes; default 50); once more than --max-errors have failed (default 0), no
more nodes start, and those running finish. Each node's run is a session
of yours on it: authorized, recorded and listed as any session (postern
sessions), its whole output in its recording (postern logs get SESSION).

It exits 0 when the command's status is Success, 1 otherwise.`,
		Args: exactArgs(0, "no arguments (the nodes are --targets or --node-ids)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out != "text" && out != "json" {
				return usagef("-o %q: must be text or json", out)
			}
			var err error
			if len(targets) > 0 {
				if req.Targets, err = runcommand.ParseTargets(targets); err != nil {
					return usagef("%v", err)
				}
			}
			p, err := document.ParseParameters(params)
			if err != nil {
				return usagef("%v", err)
			}
			req.Parameters = commandParameters(p)
			req.MaxConcurrency, req.MaxErrors = maxConc, maxErrors
			if req.MaxConcurrency != "" {
				if _, err := runcommand.ParseMaxConcurrency(req.MaxConcurrency); err != nil {
					return usagef("--max-concurrency: %v", err)
				}
			}
			if req.MaxErrors != "" {
				if _, err := runcommand.ParseMaxErrors(req.MaxErrors); err != nil {
					return usagef("--max-errors: %v", err)
				}
			}
			if len(nodes) > 0 && len(targets) > 0 {
				return usagef("--node-ids and --targets: give one or the other")
			}
			if len(nodes) == 0 && len(targets) == 0 {
				return usagef("which nodes? --targets Key=tag:NAME,Values=VALUE or --node-ids NODE,...")
			}
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			if len(nodes) > 0 {
				if req.NodeIDs, err = nodeIDs(cmd.Context(), c, nodes); err != nil {
					return err
				}
			}
			sent, err := c.SendCommand(cmd.Context(), req)
			if err != nil {
				return err
			}
			if noWait {
				if out == "json" {
					return table(cmd.OutOrStdout(), "json", nil, nil, sent)
				}
				fmt.Fprintln(cmd.OutOrStdout(), sent.ID)
				return nil
			}
			fmt.Fprintf(os.Stderr, "postern: command %s sent to %d node(s); waiting for it (postern run show %s)\n", sent.ID, sent.TargetCount, sent.ID)
			final, err := waitCommand(cmd.Context(), c, sent.ID, os.Stderr)
			if err != nil {
				return err
			}
			if out == "json" {
				err = table(cmd.OutOrStdout(), "json", nil, nil, final)
			} else {
				printCommand(cmd.OutOrStdout(), final)
			}
			if err == nil && final.Status != runcommand.StatusSuccess {
				return exitCode(1)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&targets, "targets", nil, "nodes by tag: Key=tag:NAME,Values=V1[,V2], Key=tag-key,Values=NAME, or JSON [{\"Key\":...,\"Values\":[...]}] (nodes must match every --targets)")
	f.StringSliceVar(&nodes, "node-ids", nil, "nodes by id or name, comma-separated")
	f.StringVar(&req.DocumentName, "document", "AWS-RunShellScript", "command document")
	f.StringArrayVar(&params, "parameters", nil, `document parameters: commands=CMD, commands=["CMD1","CMD2"], workingDirectory=DIR, executionTimeout=SECONDS, or AWS CLI JSON {"commands":["..."]}`)
	f.StringVar(&maxConc, "max-concurrency", "", "nodes running at once: a number or a percentage (default 50)")
	f.StringVar(&maxErrors, "max-errors", "", "failures after which no more nodes start: a number or a percentage (default 0)")
	f.StringVar(&req.Comment, "comment", "", "what the command is for (recorded; up to 100 characters)")
	f.BoolVar(&noWait, "no-wait", false, "print the command's id and return at once")
	f.StringVarP(&out, "output", "o", "text", "text or json")
	cmd.AddCommand(newRunLsCmd(), newRunShowCmd(), newRunCancelCmd())
	return cmd
}

// commandParameters turns --parameters, as document.ParseParameters reads
// them (a list as JSON text), into lists of values, as the API takes them.
func commandParameters(p map[string]string) map[string][]string {
	if len(p) == 0 {
		return nil
	}
	out := make(map[string][]string, len(p))
	for k, v := range p {
		var list []string
		if strings.HasPrefix(v, "[") && json.Unmarshal([]byte(v), &list) == nil {
			out[k] = list
			continue
		}
		out[k] = []string{v}
	}
	return out
}

// nodeIDs resolves nodes named by id or name to ids.
func nodeIDs(ctx context.Context, c *client.Client, names []string) ([]string, error) {
	var byName map[string][]string
	var out []string
	for _, n := range names {
		if ids.ValidNode(n) {
			out = append(out, n)
			continue
		}
		if byName == nil {
			ns, err := c.Nodes(ctx)
			if err != nil {
				return nil, err
			}
			byName = map[string][]string{}
			for _, node := range ns {
				byName[node.Name] = append(byName[node.Name], node.ID)
			}
		}
		switch got := byName[n]; len(got) {
		case 0:
			return nil, fmt.Errorf("--node-ids: no node is called %q: see `postern nodes`", n)
		case 1:
			out = append(out, got[0])
		default:
			return nil, fmt.Errorf("--node-ids: %d nodes are called %q (%s): name one by its id", len(got), n, strings.Join(got, ", "))
		}
	}
	return out, nil
}

// waitCommand polls a command until it ends, telling progress of each node
// that ends on w.
func waitCommand(ctx context.Context, c *client.Client, id string, w io.Writer) (api.Command, error) {
	told := map[string]bool{}
	for {
		cmd, err := c.Command(ctx, id)
		if err != nil {
			return cmd, err
		}
		for _, in := range cmd.Invocations {
			if told[in.NodeID] || in.EndedAt == nil {
				continue
			}
			told[in.NodeID] = true
			fmt.Fprintf(w, "postern: %s: %s\n", cli.Printable(nodeLabel(in)), invocationSummary(in))
		}
		if cmd.EndedAt != nil {
			return cmd, nil
		}
		select {
		case <-ctx.Done():
			return cmd, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func nodeLabel(in api.CommandInvocation) string {
	if in.NodeName == "" {
		return in.NodeID
	}
	return in.NodeName + " (" + in.NodeID + ")"
}

func invocationSummary(in api.CommandInvocation) string {
	s := in.Status
	if in.StatusDetails != "" && in.StatusDetails != in.Status {
		s += " (" + in.StatusDetails + ")"
	}
	if in.ExitCode != nil {
		s += fmt.Sprintf(", exit code %d", *in.ExitCode)
	}
	return s
}

// printCommand shows a command, its nodes, and their output.
func printCommand(w io.Writer, c api.Command) {
	status := c.Status
	if c.StatusDetails != "" && c.StatusDetails != c.Status {
		status += " (" + c.StatusDetails + ")"
	}
	var ts []string
	for _, t := range c.Targets {
		ts = append(ts, t.Key+"="+strings.Join(t.Values, ","))
	}
	ended := "-"
	if c.EndedAt != nil {
		ended = fmtTime(*c.EndedAt)
	}
	lines := [][2]string{
		{"Command", c.ID}, {"Document", c.DocumentName}, {"Owner", c.Owner}, {"Status", status},
		{"Targets", strings.Join(ts, " and ")},
		{"Limits", fmt.Sprintf("max concurrency %s, max errors %s, execution timeout %ds", c.MaxConcurrency, c.MaxErrors, c.TimeoutSeconds)},
		{"Nodes", fmt.Sprintf("%d targeted, %d completed, %d with errors", c.TargetCount, c.CompletedCount, c.ErrorCount)},
		{"Requested", fmtTime(c.RequestedAt)}, {"Ended", ended},
	}
	if c.Comment != "" {
		lines = append(lines, [2]string{"Comment", c.Comment})
	}
	for _, l := range lines {
		fmt.Fprintf(w, "%-10s %s\n", l[0]+":", cli.Printable(l[1]))
	}
	if len(c.Invocations) == 0 {
		return
	}
	fmt.Fprintln(w)
	var rows [][]string
	for _, in := range c.Invocations {
		code := "-"
		if in.ExitCode != nil {
			code = fmt.Sprint(*in.ExitCode)
		}
		rows = append(rows, []string{in.NodeID, orDash(in.NodeName), in.Status, orDash(in.StatusDetails), code, orDash(in.SessionID)})
	}
	table(w, "table", []string{"NODE", "NAME", "STATUS", "DETAILS", "EXIT", "SESSION"}, rows, nil)
	for _, in := range c.Invocations {
		if in.StandardOutputContent == "" && in.StandardErrorContent == "" {
			continue
		}
		fmt.Fprintf(w, "\n--- %s: %s\n", cli.Printable(nodeLabel(in)), invocationSummary(in))
		io.WriteString(w, withNewline(in.StandardOutputContent))
		if in.StandardErrorContent != "" {
			fmt.Fprintln(w, "--- standard error:")
			io.WriteString(w, withNewline(in.StandardErrorContent))
		}
		if in.OutputTruncated {
			fmt.Fprintf(w, "[postern: the output was longer (%d bytes out, %d err); all of it: postern logs get %s]\n", in.StandardOutputBytes, in.StandardErrorBytes, in.SessionID)
		}
	}
}

func withNewline(s string) string {
	if s == "" || strings.HasSuffix(s, "\n") {
		return s
	}
	return s + "\n"
}

func newRunLsCmd() *cobra.Command {
	var state, out string
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List commands, newest first",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if state != "" && state != "active" && state != "history" {
				return usagef("--state %q: must be active or history", state)
			}
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			cs, err := c.Commands(cmd.Context(), state)
			if err != nil {
				return err
			}
			var rows [][]string
			for _, x := range cs {
				status := x.Status
				if x.StatusDetails != "" && x.StatusDetails != x.Status {
					status += " (" + x.StatusDetails + ")"
				}
				rows = append(rows, []string{x.ID, x.Owner, x.DocumentName, status,
					fmt.Sprintf("%d/%d", x.CompletedCount, x.TargetCount), fmt.Sprint(x.ErrorCount), fmtTime(x.RequestedAt), orDash(x.Comment)})
			}
			return table(cmd.OutOrStdout(), out, []string{"COMMAND", "OWNER", "DOCUMENT", "STATUS", "DONE", "ERRORS", "REQUESTED", "COMMENT"}, rows, cs)
		},
	}
	cmd.Flags().StringVar(&state, "state", "", "active or history (default: both)")
	cmd.Flags().StringVarP(&out, "output", "o", "table", "table, json or csv")
	return cmd
}

func newRunShowCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show a command: its nodes' status, exit codes and output",
		Args:  exactArgs(1, "one command id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			x, err := c.Command(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			switch out {
			case "json":
				return table(cmd.OutOrStdout(), "json", nil, nil, x)
			case "text":
				printCommand(cmd.OutOrStdout(), x)
				return nil
			}
			return usagef("-o %q: must be text or json", out)
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "text", "text or json")
	return cmd
}

func newRunCancelCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "cancel ID",
		Short: "Cancel a running command: no more nodes start, running ones are ended",
		Args:  exactArgs(1, "one command id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			x, err := c.CancelCommand(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if out == "json" {
				return table(cmd.OutOrStdout(), "json", nil, nil, x)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Command %s: %s\n", x.ID, x.Status)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "text", "text or json")
	return cmd
}
