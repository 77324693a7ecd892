package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/postern/postern/api"
)

// parseStackParams reads --param K=V flags.
func parseStackParams(flags []string) (map[string]string, error) {
	if len(flags) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, f := range flags {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k == "" {
			return nil, usagef("--param %q: want NAME=VALUE", f)
		}
		if _, dup := out[k]; dup {
			return nil, usagef("--param %s given twice", k)
		}
		out[k] = v
	}
	return out, nil
}

// readTemplate reads a template file, and the name its errors give it.
func readTemplate(path string) (text, name string, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", "", err
	}
	return string(b), filepath.Base(path), nil
}

func shortDigest(d string) string {
	if len(d) > 12 {
		return d[:12]
	}
	return orDash(d)
}

func fmtParams(m map[string]string) string {
	if len(m) == 0 {
		return "-"
	}
	return fmtTags(m)
}

func fmtCounts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, s := range []string{api.StackCurrent, api.StackOutdated, api.StackFailed, api.StackDrifted} {
		if m[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", m[s], s))
		}
	}
	return strings.Join(parts, ", ")
}

// fmtOutcomes counts an operation's accounts by outcome.
func fmtOutcomes(as []api.StackOperationAccount) string {
	n := map[string]int{}
	for _, a := range as {
		n[a.Status]++
	}
	var parts []string
	for _, s := range []string{api.StackOpSucceeded, api.StackOpFailed, api.StackOpCancelled} {
		if n[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[s], s))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func newOrgStackSetsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "stacksets",
		Short: "Roll templates of Postern resources out to the organization's accounts (as CloudFormation StackSets does)",
		Long: `Stack sets are templates of Postern resources (log groups, the preferences
document, keys and aliases, Cedar policies) in CloudFormation's shape, which
the management account deploys to organizational units and accounts: each
account it reaches gets an instance, and accounts created in, or moved into,
a target unit later get one too.

  postern org stacksets create Baseline --template baseline.yaml --param Retention=90
  postern org stacksets deploy Baseline --targets ou-ab12-aaaaaaaa --max-concurrent 2 --failure-tolerance 1
  postern org stacksets instances Baseline
  postern org stacksets detect-drift Baseline
  postern org stacksets operations Baseline`,
	}
	// outs are each command's -o, by command: a variable of each's own,
	// with its own default.
	outs := map[*cobra.Command]*string{}
	outFlag := func(c *cobra.Command, def, formats string) *cobra.Command {
		outs[c] = c.Flags().StringP("output", "o", def, formats)
		return c
	}
	var params []string
	paramFlag := func(c *cobra.Command) {
		c.Flags().StringArrayVar(&params, "param", nil, "a parameter's value, NAME=VALUE (repeat for each)")
	}
	var prefs api.OperationPreferences
	prefsFlags := func(c *cobra.Command) {
		c.Flags().IntVar(&prefs.MaxConcurrent, "max-concurrent", 1, "at most this many accounts at a time")
		c.Flags().IntVar(&prefs.FailureTolerance, "failure-tolerance", 0, "stop starting accounts once more than this many failed")
	}
	var targets []string
	targetsFlag := func(c *cobra.Command, what string) {
		c.Flags().StringSliceVar(&targets, "targets", nil, what)
		c.MarkFlagRequired("targets")
	}

	var template, description string
	create := outFlag(&cobra.Command{
		Use:   "create NAME --template FILE [--param NAME=VALUE ...] [--description TEXT]",
		Short: "Make a stack set from a template (nothing is deployed until deploy)",
		Args:  exactArgs(1, "the stack set's name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := *outs[cmd]
			text, name, err := readTemplate(template)
			if err != nil {
				return err
			}
			p, err := parseStackParams(params)
			if err != nil {
				return err
			}
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			ss, err := c.CreateStackSet(cmd.Context(), api.CreateStackSetRequest{Name: args[0], Description: description, Template: text, FileName: name, Parameters: p})
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			switch out {
			case "json":
				return table(w, "json", nil, nil, ss)
			case "", "text":
				var rs []string
				for _, r := range ss.Resources {
					rs = append(rs, r.LogicalID+" ("+r.Type+")")
				}
				fmt.Fprintf(w, "Created stack set %s from %s (%s): %s.\nDeploy it: postern org stacksets deploy %s --targets ou-...\n", ss.Name, ss.TemplateName, shortDigest(ss.TemplateDigest), strings.Join(rs, ", "), ss.Name)
				return nil
			}
			return usagef("-o %q: must be text or json", out)
		},
	}, "text", "text or json")
	create.Flags().StringVar(&template, "template", "", "the template, YAML or JSON")
	create.MarkFlagRequired("template")
	create.Flags().StringVar(&description, "description", "", "what the stack set is for")
	paramFlag(create)

	// operation prints what an operation did, account by account, and
	// fails if it failed anywhere.
	operation := func(w io.Writer, out string, op api.StackOperation) error {
		var rows [][]string
		failed := 0
		for _, a := range op.Accounts {
			rows = append(rows, []string{a.Account, a.Status, orDash(a.Reason)})
			if a.Status != api.StackOpSucceeded {
				failed++
			}
		}
		switch out {
		case "json":
			if err := table(w, "json", nil, nil, op); err != nil {
				return err
			}
		case "", "table", "csv":
			if err := table(w, out, []string{"ACCOUNT", "STATUS", "REASON"}, rows, op); err != nil {
				return err
			}
			if op.Stopped != "" && out != "csv" {
				fmt.Fprintf(w, "Stopped: %s.\n", op.Stopped)
			}
		default:
			return usagef("-o %q: must be table, json or csv", out)
		}
		if failed > 0 {
			return fmt.Errorf("stack set %s: %d of %d accounts did not succeed (postern org stacksets instances %s)", op.StackSet, failed, len(op.Accounts), op.StackSet)
		}
		return nil
	}

	var newDescription string
	update := outFlag(&cobra.Command{
		Use:   "update NAME [--template FILE] [--param NAME=VALUE ...]",
		Short: "Change a stack set's template or parameters, and roll the change out to its instances",
		Args:  exactArgs(1, "the stack set's name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := *outs[cmd]
			var req api.UpdateStackSetRequest
			if template != "" {
				text, name, err := readTemplate(template)
				if err != nil {
					return err
				}
				req.Template, req.FileName = text, name
			}
			p, err := parseStackParams(params)
			if err != nil {
				return err
			}
			req.Parameters, req.OperationPreferences = p, prefs
			if cmd.Flags().Changed("description") {
				req.Description = &newDescription
			}
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			op, err := c.UpdateStackSet(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			return operation(cmd.OutOrStdout(), out, op)
		},
	}, "table", "table, json or csv")
	update.Flags().StringVar(&template, "template", "", "a new template (default: keep it)")
	update.Flags().StringVar(&newDescription, "description", "", "a new description")
	paramFlag(update)
	prefsFlags(update)

	ls := outFlag(&cobra.Command{
		Use:   "ls",
		Short: "List the organization's stack sets",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := *outs[cmd]
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			sets, err := c.StackSets(cmd.Context())
			if err != nil {
				return err
			}
			var rows [][]string
			for _, ss := range sets {
				rows = append(rows, []string{ss.Name, ss.TemplateName, shortDigest(ss.TemplateDigest), fmtCounts(ss.Instances), orDash(strings.Join(ss.Targets, ",")), fmtTime(ss.UpdatedAt)})
			}
			return table(cmd.OutOrStdout(), out, []string{"NAME", "TEMPLATE", "DIGEST", "INSTANCES", "TARGETS", "UPDATED"}, rows, sets)
		},
	}, "table", "table, json or csv")

	describe := outFlag(&cobra.Command{
		Use:   "describe NAME",
		Short: "Describe a stack set: its template, parameters, targets and instances",
		Args:  exactArgs(1, "the stack set's name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := *outs[cmd]
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			ss, err := c.StackSet(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			switch out {
			case "json":
				return table(w, "json", nil, nil, ss)
			case "", "text":
				fmt.Fprintf(w, "Stack set:   %s\n", ss.Name)
				if ss.Description != "" {
					fmt.Fprintf(w, "Description: %s\n", ss.Description)
				}
				fmt.Fprintf(w, "Template:    %s (%s)\nParameters:  %s\nTargets:     %s\nInstances:   %s\nUpdated:     %s\n",
					ss.TemplateName, ss.TemplateDigest, fmtParams(ss.Parameters), orDash(strings.Join(ss.Targets, ", ")), fmtCounts(ss.Instances), fmtTime(ss.UpdatedAt))
				if ss.Operation != "" {
					fmt.Fprintf(w, "Running:     operation %s\n", ss.Operation)
				}
				fmt.Fprintln(w, "\nResources:")
				var rows [][]string
				for _, r := range ss.Resources {
					rows = append(rows, []string{r.LogicalID, r.Type, fmt.Sprint(r.Line)})
				}
				return table(w, "table", []string{"LOGICAL ID", "TYPE", "LINE"}, rows, ss)
			}
			return usagef("-o %q: must be text or json", out)
		},
	}, "text", "text or json")

	del := outFlag(&cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a stack set that has no instances left",
		Args:  exactArgs(1, "the stack set's name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := *outs[cmd]
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			if err := c.DeleteStackSet(cmd.Context(), args[0]); err != nil {
				return err
			}
			switch out {
			case "json":
				return table(cmd.OutOrStdout(), "json", nil, nil, map[string]any{"stackSetName": args[0], "deleted": true})
			case "", "text":
				fmt.Fprintf(cmd.OutOrStdout(), "Deleted stack set %s.\n", args[0])
				return nil
			}
			return usagef("-o %q: must be text or json", out)
		},
	}, "text", "text or json")

	deploy := outFlag(&cobra.Command{
		Use:   "deploy NAME --targets ou-...|ACCOUNT,... [--max-concurrent N] [--failure-tolerance N]",
		Short: "Deploy a stack set to units (and the units below them) and accounts",
		Long: `Deploy a stack set to organizational units and accounts. The template is
rendered for every target account first: if it fails for any, nothing is
deployed. Then each account's resources are made as rendered, at most
--max-concurrent accounts at a time; once more than --failure-tolerance
accounts have failed, no more are started. Accounts later created in, or
moved into, a target unit get the stack set too. Deploying to a unit
leaves out the management account; name it to deploy there.`,
		Args: exactArgs(1, "the stack set's name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := *outs[cmd]
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			op, err := c.DeployStackSet(cmd.Context(), args[0], api.StackTargetsRequest{Targets: targets, OperationPreferences: prefs})
			if err != nil {
				return err
			}
			return operation(cmd.OutOrStdout(), out, op)
		},
	}, "table", "table, json or csv")
	targetsFlag(deploy, "units (ou-..., r-... for all) and account ids, comma-separated")
	prefsFlags(deploy)

	remove := outFlag(&cobra.Command{
		Use:   "remove NAME --targets ou-...|ACCOUNT,...",
		Short: "Remove a stack set's instances from units and accounts (resources with DeletionPolicy Retain stay)",
		Args:  exactArgs(1, "the stack set's name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := *outs[cmd]
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			op, err := c.RemoveStackInstances(cmd.Context(), args[0], api.StackTargetsRequest{Targets: targets, OperationPreferences: prefs})
			if err != nil {
				return err
			}
			return operation(cmd.OutOrStdout(), out, op)
		},
	}, "table", "table, json or csv")
	targetsFlag(remove, "units and account ids, comma-separated; units named stop being targets")
	prefsFlags(remove)

	instances := outFlag(&cobra.Command{
		Use:   "instances NAME",
		Short: "List a stack set's instances: each account's status, template and parameters",
		Args:  exactArgs(1, "the stack set's name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := *outs[cmd]
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			ins, err := c.StackInstances(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			var rows [][]string
			for _, in := range ins {
				rows = append(rows, []string{in.Account, orDash(in.AccountName), in.Status, shortDigest(in.TemplateDigest), fmtParams(in.Parameters), fmtTime(in.LastOperation), orDash(in.Reason)})
			}
			return table(cmd.OutOrStdout(), out, []string{"ACCOUNT", "NAME", "STATUS", "TEMPLATE", "PARAMETERS", "LAST OPERATION", "REASON"}, rows, ins)
		},
	}, "table", "table, json or csv")

	detect := outFlag(&cobra.Command{
		Use:   "detect-drift NAME",
		Short: "Compare each instance's resources with what it deployed, field by field",
		Args:  exactArgs(1, "the stack set's name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := *outs[cmd]
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			d, err := c.DetectStackSetDrift(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			switch out {
			case "json":
				return table(w, "json", nil, nil, d)
			case "", "text":
				for _, in := range d.Instances {
					fmt.Fprintf(w, "%s: %s\n", in.Account, in.Status)
					for _, r := range in.Resources {
						if r.Status == api.DriftInSync {
							continue
						}
						fmt.Fprintf(w, "  %s (%s %s): %s", r.LogicalID, r.Type, r.PhysicalID, r.Status)
						if r.Reason != "" {
							fmt.Fprintf(w, ": %s", r.Reason)
						}
						fmt.Fprintln(w)
						for _, p := range r.Differences {
							fmt.Fprintf(w, "    %s: expected %s, actual %s\n", p.Path, jsonText(p.Expected), jsonText(p.Actual))
						}
					}
				}
				if !slices.ContainsFunc(d.Instances, func(in api.InstanceDrift) bool { return in.Status != api.DriftInSync }) {
					fmt.Fprintf(w, "No drift in %d instances.\n", len(d.Instances))
				}
				return nil
			}
			return usagef("-o %q: must be text or json", out)
		},
	}, "text", "text or json")

	operations := outFlag(&cobra.Command{
		Use:   "operations NAME",
		Short: "List a stack set's recent operations, newest first: what each did, by whom, account by account",
		Args:  exactArgs(1, "the stack set's name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := *outs[cmd]
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			ops, err := c.StackSetOperations(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			var rows [][]string
			for _, op := range ops {
				rows = append(rows, []string{fmtTime(op.StartedAt), op.Action, orDash(op.By), fmtOutcomes(op.Accounts), orDash(op.Stopped), op.ID})
			}
			return table(cmd.OutOrStdout(), out, []string{"STARTED", "ACTION", "BY", "ACCOUNTS", "STOPPED", "OPERATION"}, rows, ops)
		},
	}, "table", "table, json or csv")

	cmd.AddCommand(create, update, ls, describe, del, deploy, remove, instances, detect, operations)
	return cmd
}

// jsonText shows a value as JSON has it (absent: null).
func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
